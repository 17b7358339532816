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
//! Descriptors (PTX ISA, "Matrix Descriptor Format"): bits 0-13 the start
//! address >> 4, 16-29 the leading and 32-45 the stride byte offset >> 4,
//! 62-63 the swizzle (1: 128 bytes). `A` is K-major (a row of the tile is
//! contiguous): consecutive 8-row groups are 1024 bytes apart (stride
//! offset), the leading offset is unused. `B` is MN-major (row-major `k × n`
//! has `n` contiguous; the instruction's `imm-trans-b` is 1): 8 rows of `k`
//! are 1024 bytes apart (stride offset) and consecutive 64-column panels
//! `rows × 128` bytes apart (leading offset).

use crate::ir::{
    Axis, BufRef, Builtin, DataType, Expr, Literal, MatrixClip, MatrixDecl, MatrixId, MatrixLayout,
    MatrixOp, MatrixRole, MatrixScope, MatrixShape, Node, SharedLayout, SharedTile,
};

use super::super::code::ins;
use super::super::isa::{Class, Inst, Mod, Opcode, Operand, Reg, Symbol, int};
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
        if self.any_wgmma() {
            self.code.push(Inst::new(
                Opcode::Wgmma,
                &[Mod::WaitGroup, Mod::Sync, Mod::Aligned],
                &[int(0).into()],
            ));
        }
    }

    /// `d = warpgroup_mma(A tile, B tile, c)`; `asynchronous`: without
    /// waiting for the `wgmma` batch (until the next `warpgroup_wait()`).
    pub(super) fn warpgroup_mma(
        &mut self,
        d: MatrixId,
        a: &SharedTile,
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
        let at_a = self.row_col(&a.offset, pa.cols);
        let at_b = self.row_col(&b.offset, pb.cols);
        let ok = self.wgmma_fits(&decl.shape, (at_a, pa), (at_b, pb));
        let slow = self.code.label("wgslow");
        let end = self.code.label("wgend");
        ins!(self.code; @!ok; Bra slow);
        self.wgmma(&decl, (d, c), (at_a, pa), (at_b, pb));
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
                matches!(n, Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { d, a: crate::ir::WarpgroupOperand::Shared(a), b, .. })
                    if self.wgmma_operands(*d, a, b).is_some())
            })
    }

    /// The statically known facts `wgmma` needs, when they hold: sm_90a,
    /// both arrays swizzled with the strides (literals) as their row
    /// lengths, `A` at least 64 rows and `k` columns, `B` at least `k` rows
    /// and `n` columns, 16-bit elements, and `d`'s registers consecutive
    /// (one register vector).
    fn wgmma_operands(
        &self,
        d: MatrixId,
        a: &SharedTile,
        b: &SharedTile,
    ) -> Option<(Operand2d, Operand2d)> {
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
        let (pa, pb) = (operand(a)?, operand(b)?);
        let s = decl.shape;
        let fits = pa.rows >= s.m && pa.cols >= s.k && pb.rows >= s.k && pb.cols >= s.n;
        let regs = &self.matrices[d as usize];
        let consecutive = regs
            .iter()
            .enumerate()
            .all(|(i, r)| r.class == Class::F && r.n == regs[0].n + i as u32);
        (fits && consecutive).then_some((pa, pb))
    }

    /// The warpgroup-uniform test that the tiles start on whole swizzle
    /// rows and lie inside their arrays: `A` on a row multiple of 8 and a
    /// column multiple of 16, `B` on a row multiple of 8 and a column
    /// multiple of 64 (a panel), `A`'s 64 × k and `B`'s k × n inside.
    fn wgmma_fits(
        &mut self,
        s: &MatrixShape,
        ((ra, ca), pa): ((Reg, Reg), Operand2d),
        ((rb, cb), pb): ((Reg, Reg), Operand2d),
    ) -> Reg {
        let panel = SharedLayout::panel_cols(2);
        let mut bits = Vec::new();
        for (x, mask) in [
            (ca, 15),
            (ra, SharedLayout::ATOM_ROWS - 1),
            (cb, panel - 1),
            (rb, SharedLayout::ATOM_ROWS - 1),
        ] {
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
        for (x, max) in [
            (ra, pa.rows - s.m),
            (ca, pa.cols - s.k),
            (rb, pb.rows - s.k),
            (cb, pb.cols - s.n),
        ] {
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

    /// The `wgmma` path (the tiles fit, see [`Self::wgmma_fits`]): one
    /// committed batch, not waited for.
    fn wgmma(
        &mut self,
        decl: &MatrixDecl,
        (d, c): (MatrixId, MatrixId),
        ((ra, ca), pa): ((Reg, Reg), Operand2d),
        ((rb, cb), pb): ((Reg, Reg), Operand2d),
    ) {
        let s = decl.shape;
        let elem = self.program.shared[pa.array].elem;
        let ty = if elem == DataType::F16 {
            Mod::F16
        } else {
            Mod::Bf16
        };
        let dr = self.matrices[d as usize].clone();
        let cr = self.matrices[c as usize].clone();
        let base_a = self.code.reg(Class::R);
        let base_b = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 base_a, Symbol::Shared(pa.array));
        ins!(self.code; Mov.U32 base_b, Symbol::Shared(pb.array));
        let panel = SharedLayout::panel_cols(2);
        let row_bytes = int(i64::from(SharedLayout::PANEL_BYTES));
        // A: the row part of the address, base + ra * 128.
        let a_rows = self.code.reg(Class::R);
        ins!(self.code; Mad.Lo.U32 a_rows, ra, row_bytes, base_a);
        // B: base + panel(cb) * rows * 128 + rb * 128.
        let b_panel = self.code.reg(Class::R);
        let b_panel_at = self.code.reg(Class::R);
        let b_start = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 b_panel, cb, int(i64::from(panel.trailing_zeros())));
        ins!(self.code; Mad.Lo.U32 b_panel_at, b_panel, int(i64::from(pb.rows * SharedLayout::PANEL_BYTES)), base_b);
        ins!(self.code; Mad.Lo.U32 b_start, rb, row_bytes, b_panel_at);
        // High word: the stride byte offset (8 rows of 128 bytes) and the
        // 128-byte swizzle (bit 62).
        let hi = i64::from(ATOM_BYTES >> 4) | (1 << 30);
        let mut descs = Vec::new();
        let lbo = i64::from((pb.rows * SharedLayout::PANEL_BYTES) >> 4);
        for kk in 0..s.k / 16 {
            if kk > 0 && pa.cols == panel {
                // One panel of A (the test put the tile's k columns inside
                // it): 32 bytes further along its rows; B 16 rows of 128
                // bytes further. The address field (bits 0-13, bytes / 16)
                // does not overflow: shared memory is below 256 KiB.
                let (da0, db0) = descs[0];
                let da = self.code.reg(Class::Rd);
                let db = self.code.reg(Class::Rd);
                ins!(self.code; Add.S64 da, da0, int(i64::from(2 * kk)));
                ins!(self.code; Add.S64 db, db0, int(i64::from((16 * kk * SharedLayout::PANEL_BYTES) >> 4)));
                descs.push((da, db));
                continue;
            }
            // A at column ca + 16 kk: its panel and the byte in the row.
            let col = self.code.reg(Class::R);
            let pan = self.code.reg(Class::R);
            let pc = self.code.reg(Class::R);
            let t = self.code.reg(Class::R);
            let addr_a = self.code.reg(Class::R);
            ins!(self.code; Add.U32 col, ca, int(i64::from(16 * kk)));
            ins!(self.code; Shr.U32 pan, col, int(i64::from(panel.trailing_zeros())));
            ins!(self.code; And.B32 pc, col, int(i64::from(panel - 1)));
            ins!(self.code; Mad.Lo.U32 t, pan, int(i64::from(pa.rows * SharedLayout::PANEL_BYTES)), a_rows);
            ins!(self.code; Mad.Lo.U32 addr_a, pc, int(2), t);
            // K-major swizzled: the leading offset is unused ("assumed 1").
            let da = self.descriptor(addr_a, 1, hi);
            // B at row rb + 16 kk: 16 rows of 128 bytes further.
            let addr_b = self.code.reg(Class::R);
            ins!(self.code; Add.U32 addr_b, b_start, int(i64::from(16 * kk * SharedLayout::PANEL_BYTES)));
            let db = self.descriptor(addr_b, lbo, hi);
            descs.push((da, db));
        }
        let one = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Eq.U32 one, base_a, base_a);
        if d != c {
            for (x, y) in dr.iter().zip(&cr) {
                ins!(self.code; Mov.F32 *x, *y);
            }
        }
        // Writes of shared memory by ordinary stores and `cp.async` (the
        // generic proxy) become visible to `wgmma` (the async proxy) only
        // after a proxy fence.
        self.code.push(Inst::new(
            Opcode::Fence,
            &[Mod::Proxy, Mod::Async, Mod::SharedCta],
            &[],
        ));
        self.code.push(Inst::new(
            Opcode::Wgmma,
            &[Mod::FenceOp, Mod::Sync, Mod::Aligned],
            &[],
        ));
        let acc = Operand::Span(dr[0], u32::try_from(dr.len()).unwrap_or(0));
        for (da, db) in descs {
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
                &[
                    acc,
                    da.into(),
                    db.into(),
                    one.into(),
                    int(1).into(),
                    int(1).into(),
                    int(0).into(),
                    int(1).into(),
                ],
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
        a: &SharedTile,
        b: &SharedTile,
    ) {
        let s = decl.shape;
        let elem = self.program.shared[a.array as usize].elem;
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
            for n0 in (0..s.n).step_by(B_PIECE as usize) {
                let width = B_PIECE.min(s.n - n0);
                let b_decl = piece(MatrixRole::B, width);
                let b_regs = fragment_regs(&mut self.code, &b_decl);
                let b_off = b
                    .offset
                    .clone()
                    .add(Expr::u32(16 * kk).mul(b.stride.clone()))
                    .add(Expr::u32(n0));
                self.matrix_memory_of(
                    &b_decl,
                    &b_regs,
                    BufRef::Shared(b.array),
                    (&b_off, &b.stride, None),
                    MatrixLayout::RowMajor,
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
}
