//! Warpgroup matrices: `wgmma.mma_async` on sm_90a, else four warps'
//! `mma.sync`.
//!
//! A warpgroup accumulator (`64 × n`) is held by four consecutive warps;
//! warp `w = (invocation / 32) % 4` holds rows `16w .. 16w + 15` in the
//! registers of a `16 × n` subgroup accumulator ([`super::matrix::warp_part`]),
//! which is exactly `wgmma`'s accumulator layout. `Fill` is per register;
//! `Store` is the warp's 16 rows, stored as a subgroup matrix.
//!
//! A multiply uses `wgmma.mma_async` (one `m64nNk16` per 16 of `k`,
//! operands read by the tensor cores from shared memory through matrix
//! descriptors) when the kernel is built for sm_90a, both arrays are
//! swizzled with the statement's strides as their row lengths, and one
//! warpgroup-uniform test finds the tiles on whole swizzle rows and inside
//! the arrays. Otherwise each warp multiplies its 16 rows with `mma.sync`,
//! its operands loaded as subgroup matrices (16 × 16 of `A`, 16 × 64
//! pieces of `B`), which gives the same result on any architecture.
//!
//! `A` may also be a warpgroup accumulator (attention's `P`): its
//! registers already hold `wgmma`'s (and `mma.sync`'s) `A` fragment of the
//! same rows and columns, so each 16 of `k` is four `cvt.rn.bf16x2.f32`
//! (or `f16x2`) and the register form of `wgmma`. A column-major `B`
//! (`warpgroup_mma_t`) is read K-major, with the descriptors of `A`.
//! `matrix_map` evaluates its closure on the thread's own elements (the
//! parts that depend only on the row once per row), and the row reductions
//! fold the thread's two rows, combine the four threads of a row by
//! butterfly shuffles and store from the first, then meet at
//! `bar.warp.sync` (a warp owns its 16 rows, so later statements of the
//! warpgroup see the values).
//!
//! Descriptors (PTX ISA, "Matrix Descriptor Format"): bits 0-13 the start
//! address >> 4, 16-29 the leading and 32-45 the stride byte offset >> 4,
//! 62-63 the swizzle (1: 128 bytes). `A` is K-major (a row of the tile is
//! contiguous): consecutive 8-row groups are 1024 bytes apart (stride
//! offset), the leading offset is unused. `B` is MN-major (row-major `k × n`
//! has `n` contiguous; the instruction's `imm-trans-b` is 1): 8 rows of `k`
//! are 1024 bytes apart (stride offset) and consecutive 64-column panels
//! `rows × 128` bytes apart (leading offset).

use crate::ir::{
    Axis, BufRef, Builtin, DataType, Expr, Literal, LocalId, MatrixClip, MatrixDecl, MatrixId,
    MatrixLayout, MatrixOp, MatrixRole, MatrixScope, MatrixShape, Node, RowReduceOp, SharedId,
    SharedLayout, SharedTile, WarpgroupOperand,
};

use super::super::code::ins;
use super::super::isa::{Class, Imm, Inst, Mod, Opcode, Operand, Reg, Symbol, int};
use super::Emitter;
use super::matrix::{fragment_regs, tiles, warp_part};

/// Bytes of one swizzle atom (8 rows of 128 bytes).
const ATOM_BYTES: u32 = SharedLayout::PANEL_BYTES * SharedLayout::ATOM_ROWS;

/// Columns of `B` loaded at once by the `mma.sync` path.
const B_PIECE: u32 = 64;

/// What `wgmma` needs to know of one operand array, checked statically.
#[derive(Debug, Clone, Copy)]
struct Operand2d {
    /// The shared array.
    array: usize,
    /// Its row length (a power of two).
    cols: u32,
    /// Its rows.
    rows: u32,
}

impl Emitter<'_> {
    /// `((invocation / 32) % 4) * 16`: the first row of this warp's part of
    /// a warpgroup accumulator, as an expression.
    fn warp_row_expr(&self) -> Expr {
        let [x, y, _] = self.wg;
        let id = |a| Expr::Builtin(Builtin::LocalId, a);
        let linear = id(Axis::X)
            .add(id(Axis::Y).mul(Expr::u32(x)))
            .add(id(Axis::Z).mul(Expr::u32(x.saturating_mul(y))));
        linear
            .div(Expr::u32(crate::backend::ptx::WARP_SIZE))
            .rem(Expr::u32(
                MatrixScope::WARPGROUP / crate::backend::ptx::WARP_SIZE,
            ))
            .mul(Expr::u32(16))
    }

    /// `matrix_store` of a warpgroup accumulator: each warp stores its 16
    /// rows (clip rows counted from them).
    pub(super) fn warpgroup_store(
        &mut self,
        matrix: MatrixId,
        buf: BufRef,
        (offset, stride, clip): (&Expr, &Expr, Option<&MatrixClip>),
        layout: MatrixLayout,
    ) {
        let decl = warp_part(&self.program.matrices[matrix as usize]);
        let regs = self.matrices[matrix as usize].clone();
        let w = self.warp_row_expr();
        let off = match layout {
            MatrixLayout::RowMajor => offset.clone().add(w.clone().mul(stride.clone())),
            MatrixLayout::ColMajor => offset.clone().add(w.clone()),
        };
        let clip = clip.map(|c| MatrixClip {
            rows: Expr::select(
                c.rows.clone().lt(w.clone()),
                Expr::u32(0),
                c.rows.clone().sub(w.clone()),
            ),
            cols: c.cols.clone(),
        });
        self.matrix_memory_of(
            &decl,
            &regs,
            buf,
            (&off, stride, clip.as_ref()),
            layout,
            true,
        );
    }

    /// `warpgroup_wait()`: every `wgmma` batch of this warpgroup has
    /// completed (nothing to do where none was issued: the `mma.sync` path
    /// is synchronous).
    pub(super) fn warpgroup_wait(&mut self) {
        self.warpgroup_wait_pending(0);
    }

    /// `warpgroup_wait(pending)`: all but the `pending` latest `wgmma`
    /// batches of this warpgroup have completed (`wgmma.wait_group`; each
    /// statement's batch is one committed group).
    pub(super) fn warpgroup_wait_pending(&mut self, pending: u32) {
        if self.any_wgmma() {
            self.code.push(Inst::new(
                Opcode::Wgmma,
                &[Mod::WaitGroup, Mod::Sync, Mod::Aligned],
                &[int(i64::from(pending)).into()],
            ));
        }
    }

    /// `d = warpgroup_mma(A, B tile, c)`; `asynchronous`: without waiting
    /// for the `wgmma` batch (until the next `warpgroup_wait()`).
    pub(super) fn warpgroup_mma(
        &mut self,
        d: MatrixId,
        a: &WarpgroupOperand,
        b: &SharedTile,
        c: MatrixId,
        asynchronous: bool,
    ) {
        let decl = self.program.matrices[d as usize].clone();
        let plan = self.wgmma_operands(d, a, b);
        let Some((pa, pb)) = plan else {
            // An earlier asynchronous batch may still write these registers.
            self.warpgroup_wait();
            self.warpgroup_mma_by_warps(&decl, (d, c), a, b);
            return;
        };
        let a_src = match (a, pa) {
            (WarpgroupOperand::Shared(t), Some(pa)) => {
                WgmmaA::Tile((self.row_col(&t.offset, pa.cols), pa))
            }
            // `wgmma_operands` plans every tile it accepts.
            (WarpgroupOperand::Shared(_), None) | (WarpgroupOperand::Accumulator(_), Some(_)) => {
                self.warpgroup_wait();
                self.warpgroup_mma_by_warps(&decl, (d, c), a, b);
                return;
            }
            (WarpgroupOperand::Accumulator(p), None) => WgmmaA::Registers(*p),
        };
        let at_a = match a_src {
            WgmmaA::Tile(at) => Some(at),
            WgmmaA::Registers(_) => None,
        };
        let at_b = (self.row_col(&b.offset, pb.cols), pb);
        let ok = self.wgmma_fits(&decl.shape, at_a, at_b, b.layout);
        let slow = self.code.label("wgslow");
        let end = self.code.label("wgend");
        ins!(self.code; @!ok; Bra slow);
        self.wgmma(&decl, (d, c), a_src, at_b, b.layout);
        if !asynchronous {
            self.warpgroup_wait();
        }
        ins!(self.code; Bra end);
        self.code.place(slow);
        // An earlier asynchronous batch may still write these registers.
        self.warpgroup_wait();
        self.warpgroup_mma_by_warps(&decl, (d, c), a, b);
        self.code.place(end);
    }

    /// Whether some warpgroup multiply of the kernel may take the `wgmma`
    /// path (else there is never a batch to wait for).
    fn any_wgmma(&self) -> bool {
        self.wgmma
            && self.program.any_node(&mut |n| {
                matches!(n, Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { d, a, b, .. })
                    if self.wgmma_operands(*d, a, b).is_some())
            })
    }

    /// The shared arrays a `wgmma` of this multiply would read (`A`'s when
    /// a tile, and `B`'s), when the multiply may take that path.
    pub(super) fn wgmma_tile_arrays(
        &self,
        d: MatrixId,
        a: &WarpgroupOperand,
        b: &SharedTile,
    ) -> Option<(Option<usize>, usize)> {
        let (pa, pb) = self.wgmma_operands(d, a, b)?;
        Some((pa.map(|p| p.array), pb.array))
    }

    /// The statically known facts `wgmma` needs, when they hold: sm_90a,
    /// the tile arrays swizzled with the strides (literals) as their row
    /// lengths, large enough for `A`'s 64 × k and `B`'s k × n (n × k
    /// column-major), 16-bit elements, and `d`'s registers consecutive
    /// (one register vector). `A` in registers needs no plan (`None`).
    fn wgmma_operands(
        &self,
        d: MatrixId,
        a: &WarpgroupOperand,
        b: &SharedTile,
    ) -> Option<(Option<Operand2d>, Operand2d)> {
        if !self.wgmma {
            return None;
        }
        let decl = self.program.matrices.get(d as usize)?;
        let operand = |t: &SharedTile| -> Option<Operand2d> {
            let arr = self.program.shared.get(t.array as usize)?;
            let SharedLayout::Swizzled { cols } = arr.layout else {
                return None;
            };
            if arr.elem.size_bytes() != 2 || t.stride != Expr::Lit(Literal::U32(cols)) {
                return None;
            }
            Some(Operand2d {
                array: t.array as usize,
                cols,
                rows: arr.len / cols,
            })
        };
        let s = decl.shape;
        let pa = match a {
            WarpgroupOperand::Shared(t) => {
                let pa = operand(t)?;
                if pa.rows < s.m || pa.cols < s.k {
                    return None;
                }
                Some(pa)
            }
            WarpgroupOperand::Accumulator(_) => None,
        };
        let pb = operand(b)?;
        let (b_rows, b_cols) = match b.layout {
            MatrixLayout::RowMajor => (s.k, s.n),
            MatrixLayout::ColMajor => (s.n, s.k),
        };
        let fits = pb.rows >= b_rows && pb.cols >= b_cols;
        let regs = &self.matrices[d as usize];
        let consecutive = regs
            .iter()
            .enumerate()
            .all(|(i, r)| r.class == Class::F && r.n == regs[0].n + i as u32);
        (fits && consecutive).then_some((pa, pb))
    }

    /// The warpgroup-uniform test that the tiles start on whole swizzle
    /// rows and lie inside their arrays: a K-major tile (`A`, or a
    /// column-major `B` stored `n × k`) on a row multiple of 8 and a column
    /// multiple of 16; a row-major `B` on a row multiple of 8 and a column
    /// multiple of 64 (a panel); each tile's extent inside its array.
    fn wgmma_fits(
        &mut self,
        s: &MatrixShape,
        a: Option<((Reg, Reg), Operand2d)>,
        ((rb, cb), pb): ((Reg, Reg), Operand2d),
        b_layout: MatrixLayout,
    ) -> Reg {
        let panel = SharedLayout::panel_cols(2);
        let atom = SharedLayout::ATOM_ROWS - 1;
        let (b_col_mask, b_rows, b_cols) = match b_layout {
            MatrixLayout::RowMajor => (panel - 1, s.k, s.n),
            MatrixLayout::ColMajor => (15, s.n, s.k),
        };
        let mut masks = vec![(cb, b_col_mask), (rb, atom)];
        let mut ranges = vec![(rb, pb.rows - b_rows), (cb, pb.cols - b_cols)];
        if let Some(((ra, ca), pa)) = a {
            masks.extend([(ca, 15), (ra, atom)]);
            ranges.extend([(ra, pa.rows - s.m), (ca, pa.cols - s.k)]);
        }
        let mut bits = Vec::new();
        for (x, mask) in masks {
            let t = self.code.reg(Class::R);
            ins!(self.code; And.B32 t, x, int(i64::from(mask)));
            bits.push(t);
        }
        let mut any = bits[0];
        for t in &bits[1..] {
            let o = self.code.reg(Class::R);
            ins!(self.code; Or.B32 o, any, *t);
            any = o;
        }
        let mut preds = Vec::new();
        let aligned = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Eq.U32 aligned, any, int(0));
        preds.push(aligned);
        for (x, max) in ranges {
            let p = self.code.reg(Class::Pred);
            ins!(self.code; Setp.Le.U32 p, x, int(i64::from(max)));
            preds.push(p);
        }
        self.all_of(&preds)
    }

    /// `(offset / cols, offset % cols)` of a tile's offset (`cols` a power
    /// of two).
    fn row_col(&mut self, offset: &Expr, cols: u32) -> (Reg, Reg) {
        let v = self.expr(offset);
        let off = self.in_reg(&v);
        let r = self.code.reg(Class::R);
        let c = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 r, off, int(i64::from(cols.trailing_zeros())));
        ins!(self.code; And.B32 c, off, int(i64::from(cols - 1)));
        (r, c)
    }

    /// The descriptors of a K-major tile (a row of the array holds `k`)
    /// at `(r, c)`, one per 16 of `k`: the row part of the address once,
    /// then per step its panel and the byte within the swizzled row.
    fn kmajor_descriptors(
        &mut self,
        ((r, c), p): ((Reg, Reg), Operand2d),
        steps: u32,
        hi: i64,
    ) -> Vec<Reg> {
        let panel = SharedLayout::panel_cols(2);
        let base = self.code.reg(Class::R);
        let rows_at = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 base, Symbol::Shared(p.array));
        ins!(self.code; Mad.Lo.U32 rows_at, r, int(i64::from(SharedLayout::PANEL_BYTES)), base);
        let mut descs: Vec<Reg> = Vec::new();
        for kk in 0..steps {
            if kk > 0 && p.cols == panel {
                // One panel (the test put the tile's k columns inside it):
                // 32 bytes further along its rows. The address field (bits
                // 0-13, bytes / 16) does not overflow: shared memory is
                // below 256 KiB.
                let dk = self.code.reg(Class::Rd);
                ins!(self.code; Add.S64 dk, descs[0], int(i64::from(2 * kk)));
                descs.push(dk);
                continue;
            }
            let col = self.code.reg(Class::R);
            let pan = self.code.reg(Class::R);
            let pc = self.code.reg(Class::R);
            let t = self.code.reg(Class::R);
            let addr = self.code.reg(Class::R);
            ins!(self.code; Add.U32 col, c, int(i64::from(16 * kk)));
            ins!(self.code; Shr.U32 pan, col, int(i64::from(panel.trailing_zeros())));
            ins!(self.code; And.B32 pc, col, int(i64::from(panel - 1)));
            ins!(self.code; Mad.Lo.U32 t, pan, int(i64::from(p.rows * SharedLayout::PANEL_BYTES)), rows_at);
            ins!(self.code; Mad.Lo.U32 addr, pc, int(2), t);
            // K-major swizzled: the leading offset is unused ("assumed 1").
            descs.push(self.descriptor(addr, 1, hi));
        }
        descs
    }

    /// The descriptors of a row-major (MN-major) `B` at `(r, c)`, one per
    /// 16 of `k`: 16 rows of 128 bytes apart.
    fn mn_major_descriptors(
        &mut self,
        ((rb, cb), pb): ((Reg, Reg), Operand2d),
        steps: u32,
        hi: i64,
    ) -> Vec<Reg> {
        let panel = SharedLayout::panel_cols(2);
        let row_bytes = int(i64::from(SharedLayout::PANEL_BYTES));
        let base_b = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 base_b, Symbol::Shared(pb.array));
        // base + panel(cb) * rows * 128 + rb * 128.
        let b_panel = self.code.reg(Class::R);
        let b_panel_at = self.code.reg(Class::R);
        let b_start = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 b_panel, cb, int(i64::from(panel.trailing_zeros())));
        ins!(self.code; Mad.Lo.U32 b_panel_at, b_panel, int(i64::from(pb.rows * SharedLayout::PANEL_BYTES)), base_b);
        ins!(self.code; Mad.Lo.U32 b_start, rb, row_bytes, b_panel_at);
        // Consecutive 64-column panels are `rows × 128` bytes apart.
        let lbo = i64::from((pb.rows * SharedLayout::PANEL_BYTES) >> 4);
        let first = self.descriptor(b_start, lbo, hi);
        let mut descs = vec![first];
        for kk in 1..steps {
            let db = self.code.reg(Class::Rd);
            ins!(self.code; Add.S64 db, first, int(i64::from((16 * kk * SharedLayout::PANEL_BYTES) >> 4)));
            descs.push(db);
        }
        descs
    }

    /// The `A` fragment of `k` step `kk` from accumulator `p`'s registers,
    /// rounded to `ty` (`bf16x2`/`f16x2` pairs): `wgmma`'s (and
    /// `mma.sync`'s) `A` registers hold the same rows and columns as the
    /// accumulator's pairs, so this is four conversions, no shuffles.
    fn packed_a(&mut self, p: MatrixId, kk: u32, ty: Mod) -> [Reg; 4] {
        let regs = self.matrices[p as usize].clone();
        let pack = if ty == Mod::F16 {
            Mod::F16x2
        } else {
            Mod::Bf16x2
        };
        let at = |ni: u32, half: u32| (4 * ni + 2 * half) as usize;
        let mut out = [Reg {
            class: Class::R,
            n: 0,
        }; 4];
        // a0: rows g, cols 16kk + 2t; a1: rows g + 8; a2/a3: 8 columns on.
        for (q, (ni, half)) in [(2 * kk, 0), (2 * kk, 1), (2 * kk + 1, 0), (2 * kk + 1, 1)]
            .into_iter()
            .enumerate()
        {
            let (lo, hi) = (regs[at(ni, half)], regs[at(ni, half) + 1]);
            let r = self.code.reg(Class::R);
            // The first source goes to the upper half.
            self.code.push(Inst::new(
                Opcode::Cvt,
                &[Mod::Rn, pack, Mod::F32],
                &[r.into(), hi.into(), lo.into()],
            ));
            out[q] = r;
        }
        out
    }

    /// The `wgmma` path (the tiles fit, see [`Self::wgmma_fits`]): one
    /// committed batch, not waited for.
    fn wgmma(
        &mut self,
        decl: &MatrixDecl,
        (d, c): (MatrixId, MatrixId),
        a: WgmmaA,
        at_b: ((Reg, Reg), Operand2d),
        b_layout: MatrixLayout,
    ) {
        let s = decl.shape;
        let elem = self.program.shared[at_b.1.array].elem;
        let ty = if elem == DataType::F16 {
            Mod::F16
        } else {
            Mod::Bf16
        };
        let dr = self.matrices[d as usize].clone();
        let cr = self.matrices[c as usize].clone();
        // High word: the stride byte offset (8 rows of 128 bytes) and the
        // 128-byte swizzle (bit 62).
        let hi = i64::from(ATOM_BYTES >> 4) | (1 << 30);
        let steps = s.k / 16;
        let b_descs = match b_layout {
            MatrixLayout::RowMajor => self.mn_major_descriptors(at_b, steps, hi),
            MatrixLayout::ColMajor => self.kmajor_descriptors(at_b, steps, hi),
        };
        let a_ops: Vec<Operand> = match a {
            WgmmaA::Tile(at_a) => self
                .kmajor_descriptors(at_a, steps, hi)
                .into_iter()
                .map(Operand::from)
                .collect(),
            WgmmaA::Registers(p) => (0..steps)
                .map(|kk| Operand::Vec4(self.packed_a(p, kk, ty)))
                .collect(),
        };
        let one = self.code.reg(Class::Pred);
        let sym = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 sym, Symbol::Shared(at_b.1.array));
        ins!(self.code; Setp.Eq.U32 one, sym, sym);
        if d != c {
            for (x, y) in dr.iter().zip(&cr) {
                ins!(self.code; Mov.F32 *x, *y);
            }
        }
        self.code.push(Inst::new(
            Opcode::Wgmma,
            &[Mod::FenceOp, Mod::Sync, Mod::Aligned],
            &[],
        ));
        let acc = Operand::Span(dr[0], u32::try_from(dr.len()).unwrap_or(0));
        // `imm-trans-b`: 1 for a row-major (MN-major) `B`.
        let trans_b = i64::from(b_layout == MatrixLayout::RowMajor);
        let from_registers = matches!(a, WgmmaA::Registers(_));
        for (da, db) in a_ops.into_iter().zip(b_descs) {
            let mut ops = vec![acc, da, db.into(), one.into(), int(1).into(), int(1).into()];
            if !from_registers {
                // `imm-trans-a`: A is K-major.
                ops.push(int(0).into());
            }
            ops.push(int(trans_b).into());
            self.code.push(Inst::new(
                Opcode::Wgmma,
                &[
                    Mod::MmaAsync,
                    Mod::Sync,
                    Mod::Aligned,
                    Mod::wgmma_shape(s.n),
                    Mod::F32,
                    ty,
                    ty,
                ],
                &ops,
            ));
        }
        self.code.push(Inst::new(
            Opcode::Wgmma,
            &[Mod::CommitGroup, Mod::Sync, Mod::Aligned],
            &[],
        ));
    }

    /// A 64-bit matrix descriptor: start address `addr` (shared window),
    /// leading byte offset field `lbo` (already >> 4), high word `hi`.
    fn descriptor(&mut self, addr: Reg, lbo: i64, hi: i64) -> Reg {
        let a4 = self.code.reg(Class::R);
        let lo_a = self.code.reg(Class::R);
        let lo = self.code.reg(Class::R);
        let hi_r = self.code.reg(Class::R);
        let desc = self.code.reg(Class::Rd);
        ins!(self.code; Shr.U32 a4, addr, int(4));
        ins!(self.code; And.B32 lo_a, a4, int(0x3fff));
        ins!(self.code; Or.B32 lo, lo_a, int(lbo << 16));
        ins!(self.code; Mov.U32 hi_r, int(hi));
        ins!(self.code; Mov.B64 desc, [lo, hi_r]);
        desc
    }

    /// The `mma.sync` path: warp `w` multiplies rows `16w ..` of `A` by
    /// `B`, 16 of `k` at a time, `B` in pieces of 64 columns.
    fn warpgroup_mma_by_warps(
        &mut self,
        decl: &MatrixDecl,
        (d, c): (MatrixId, MatrixId),
        a: &WarpgroupOperand,
        b: &SharedTile,
    ) {
        let s = decl.shape;
        let elem = self.program.shared[b.array as usize].elem;
        let ty = if elem == DataType::F16 {
            Mod::F16
        } else {
            Mod::Bf16
        };
        let dr = self.matrices[d as usize].clone();
        let cr = self.matrices[c as usize].clone();
        let w = self.warp_row_expr();
        let piece = |role, n: u32| MatrixDecl {
            name: String::new(),
            role,
            elem,
            shape: MatrixShape { m: 16, n, k: 16 },
            scope: MatrixScope::Subgroup,
        };
        for kk in 0..s.k / 16 {
            let a_regs = match a {
                WarpgroupOperand::Shared(a) => {
                    let a_decl = piece(MatrixRole::A, 8);
                    let a_regs = fragment_regs(&mut self.code, &a_decl);
                    let a_off = a
                        .offset
                        .clone()
                        .add(w.clone().mul(a.stride.clone()))
                        .add(Expr::u32(16 * kk));
                    self.matrix_memory_of(
                        &a_decl,
                        &a_regs,
                        BufRef::Shared(a.array),
                        (&a_off, &a.stride, None),
                        MatrixLayout::RowMajor,
                        false,
                    );
                    a_regs
                }
                WarpgroupOperand::Accumulator(p) => self.packed_a(*p, kk, ty).to_vec(),
            };
            for n0 in (0..s.n).step_by(B_PIECE as usize) {
                let width = B_PIECE.min(s.n - n0);
                let b_decl = piece(MatrixRole::B, width);
                let b_regs = fragment_regs(&mut self.code, &b_decl);
                // Row `16 kk`, column `n0` of `B` under its layout.
                let (major, minor) = match b.layout {
                    MatrixLayout::RowMajor => (16 * kk, n0),
                    MatrixLayout::ColMajor => (n0, 16 * kk),
                };
                let b_off = b
                    .offset
                    .clone()
                    .add(Expr::u32(major).mul(b.stride.clone()))
                    .add(Expr::u32(minor));
                self.matrix_memory_of(
                    &b_decl,
                    &b_regs,
                    BufRef::Shared(b.array),
                    (&b_off, &b.stride, None),
                    b.layout,
                    false,
                );
                // This piece's accumulator tiles: n8 tiles n0/8 ...
                let (_, nt, _) = tiles(&b_decl);
                let at = (n0 / 8 * 4) as usize;
                let len = (nt * 4) as usize;
                let dq = &dr[at..at + len];
                let cq = if kk == 0 { &cr[at..at + len] } else { dq };
                let (dq, cq) = (dq.to_vec(), cq.to_vec());
                self.mma_tiles(ty, (1, nt, 1), [&dq, &a_regs, &b_regs, &cq]);
            }
        }
    }

    /// The thread's first row (`16 w + lane / 4`) and column
    /// (`2 (lane % 4)`) of a warpgroup accumulator: its pair `i` of n8
    /// tile `t` is at rows `+ 8 (i % 2)`, columns `+ 8 t` and `+ 8 t + 1`
    /// (registers `4 t + 2 (i % 2)` and the next).
    fn element_origin(&mut self) -> (Reg, Reg) {
        let w = self.warp_row_expr();
        let wv = self.expr(&w);
        let w = self.in_reg(&wv);
        let lane = self.lane_reg();
        let g = self.code.reg(Class::R);
        let t = self.code.reg(Class::R);
        let row = self.code.reg(Class::R);
        let col = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 g, lane, int(2));
        ins!(self.code; And.B32 t, lane, int(3));
        ins!(self.code; Add.U32 row, w, g);
        ins!(self.code; Shl.B32 col, t, int(1));
        (row, col)
    }

    /// `d = matrix_map(src, |row, col, value| expr)`: the expression once
    /// per element the thread holds, with the three locals set to it.
    pub(super) fn warpgroup_map(
        &mut self,
        (d, src): (MatrixId, MatrixId),
        [row, col, value]: [LocalId; 3],
        expr: &Expr,
    ) {
        let (row0, col0) = self.element_origin();
        let sr = self.matrices[src as usize].clone();
        let dr = self.matrices[d as usize].clone();
        let [lr, lc, lv] = [row, col, value].map(|l| self.locals[l as usize]);
        let per_row = row_invariant_parts(expr, [col, value]);
        // The thread's elements lie in two rows (`half` 0 and 1, 8 apart):
        // what depends on neither the column nor the value (a row
        // statistic's load, its exponential) is evaluated once per row.
        for half in 0..2u32 {
            ins!(self.code; Add.U32 lr, row0, int(i64::from(8 * half)));
            // Cached vector loads were keyed by the locals' old values.
            self.vec_cache.clear();
            self.hoisted.clear();
            for part in &per_row {
                let v = self.expr(part);
                self.hoisted.push((std::ptr::from_ref(*part), v));
            }
            for (i, (s, x)) in sr.iter().zip(&dr).enumerate() {
                let i = i as u32;
                let (tile, second) = (i / 4, i % 2);
                if (i / 2) % 2 != half {
                    continue;
                }
                ins!(self.code; Add.U32 lc, col0, int(i64::from(8 * tile + second)));
                ins!(self.code; Mov.F32 lv, *s);
                self.vec_cache.clear();
                let v = self.expr(expr);
                ins!(self.code; Mov.F32 *x, v);
            }
        }
        self.hoisted.clear();
        self.vec_cache.clear();
    }

    /// `matrix_row_max/sum(&mut dst, offset, src)`: each thread folds its
    /// two rows, the four threads of a row combine by butterfly shuffles,
    /// and the first of them stores the row's value; the warp then meets
    /// so that its later statements read the values.
    pub(super) fn warpgroup_row_reduce(
        &mut self,
        op: RowReduceOp,
        src: MatrixId,
        dst: SharedId,
        offset: &Expr,
    ) {
        let regs = self.matrices[src as usize].clone();
        let (row0, _) = self.element_origin();
        let ov = self.expr(offset);
        let off = self.in_reg(&ov);
        let lane = self.lane_reg();
        let quad = self.code.reg(Class::R);
        let first = self.code.reg(Class::Pred);
        ins!(self.code; And.B32 quad, lane, int(3));
        ins!(self.code; Setp.Eq.U32 first, quad, int(0));
        let len = self.program.shared[dst as usize].len;
        let fold = |code: &mut super::super::code::Code, acc: Reg, x: Reg| {
            let out = code.reg(Class::F);
            match op {
                RowReduceOp::Max => ins!(code; Max.F32 out, acc, x),
                RowReduceOp::Add => ins!(code; Add.Rn.F32 out, acc, x),
            }
            out
        };
        for half in 0..2u32 {
            let mut acc = self.code.reg(Class::F);
            let start = match op {
                RowReduceOp::Max => Imm::F32(f32::NEG_INFINITY.to_bits()),
                RowReduceOp::Add => Imm::F32(0),
            };
            ins!(self.code; Mov.F32 acc, start);
            for tile in 0..regs.len() as u32 / 4 {
                for second in 0..2 {
                    acc = fold(
                        &mut self.code,
                        acc,
                        regs[(4 * tile + 2 * half + second) as usize],
                    );
                }
            }
            for mask in [1, 2] {
                let other = self.code.reg(Class::F);
                ins!(self.code; Shfl.Sync.Bfly.B32 other, acc, int(mask), int(0x1f), int(0xffff_ffff));
                acc = fold(&mut self.code, acc, other);
            }
            let r = self.code.reg(Class::R);
            let idx = self.code.reg(Class::R);
            ins!(self.code; Add.U32 r, row0, int(i64::from(8 * half)));
            ins!(self.code; Add.U32 idx, off, r);
            let pred = if self.program.unchecked {
                first
            } else {
                let inside = self.code.reg(Class::Pred);
                let both = self.code.reg(Class::Pred);
                ins!(self.code; Setp.Lt.U32 inside, idx, int(i64::from(len)));
                ins!(self.code; And.Pred both, first, inside);
                both
            };
            let addr = self.array_addr(Symbol::Shared(dst as usize), idx, 4);
            ins!(self.code; @pred; St.Shared.F32 super::super::isa::Addr::reg(addr), acc);
        }
        ins!(self.code; Bar.Warp.Sync int(0xffff_ffff));
    }
}

/// The largest sub-expressions of a closure that name none of `varying`
/// (the column and value locals) and compute something (a load, an
/// operator, a call): evaluated once per row rather than per element.
fn row_invariant_parts(expr: &Expr, varying: [LocalId; 2]) -> Vec<&Expr> {
    let varies = |e: &Expr| e.any(&mut |x| matches!(x, Expr::Local(l) if varying.contains(l)));
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        if !varies(e) {
            if !matches!(
                e,
                Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_)
            ) {
                out.push(e);
            }
            continue;
        }
        stack.extend(e.operands());
    }
    out
}

/// Where a `wgmma` reads `A`: a swizzled tile (its row and column, and
/// the array), or a warpgroup accumulator's registers.
#[derive(Debug, Clone, Copy)]
enum WgmmaA {
    Tile(((Reg, Reg), Operand2d)),
    Registers(MatrixId),
}
