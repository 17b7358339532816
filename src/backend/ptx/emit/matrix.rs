//! Matrix operations on the tensor cores: `mma.sync.aligned.m16n8k16`.
//!
//! A matrix of the IR is a whole tile held by a warp. Here it is the
//! thread's part of it, in the fragment layouts of
//! `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32` (PTX
//! ISA, "Matrix Fragments for mma.m16n8k16"), one set of virtual registers
//! per matrix for the whole kernel. A tile of shape `(m, n, k)` is
//! `(m/16) x (n/8) x (k/16)` hardware tiles; with `g = lane >> 2` (the
//! group) and `t = lane & 3` (the thread in the group):
//!
//! - `A` (16x16 per hardware tile, `f16`/`bf16`): four `.b32` registers,
//!   each a pair of elements `(row, col), (row, col + 1)`, the lower
//!   column in the low half: `a0 = (g, 2t)`, `a1 = (g + 8, 2t)`,
//!   `a2 = (g, 2t + 8)`, `a3 = (g + 8, 2t + 8)`;
//! - `B` (16x8): two `.b32` registers, pairs along the rows (`k`):
//!   `b0 = (2t, g), (2t + 1, g)`, `b1 = (2t + 8, g), (2t + 9, g)`;
//! - accumulator (16x8, `f32`): four `.f32` registers, `c0, c1 = (g, 2t),
//!   (g, 2t + 1)`, `c2, c3 = (g + 8, 2t), (g + 8, 2t + 1)`.
//!
//! Loads from a shared array use `ldmatrix` (one `.x4` per 16x16 piece)
//! when every row address is 16-byte aligned (offset and stride multiples
//! of 8 elements) and the whole tile is in range; the alignment analysis
//! and the operands' static bounds prove that when they can, else one
//! warp-uniform test chooses between `ldmatrix` and the element-wise path
//! (every operand is equal across the subgroup, so the branch never
//! diverges). Buffers are read and everything is stored element by element
//! (pairs as one access when aligned), with the same choice between an
//! unchecked path and one that checks each element.

use crate::ir::{
    BufRef, DataType, MatrixClip, MatrixDecl, MatrixId, MatrixLayout, MatrixOp, MatrixRole,
    MatrixScope, MatrixShape, Node, Program, SharedLayout, walk_nodes,
};

use super::super::code::{Code, ins};
use super::super::isa::{
    Addr, Class, Imm, Inst, Mod, Opcode, Operand, Reg, Special, Src, Symbol, int,
};
use super::narrow;
use super::{Emitter, Val};

/// The architecture from which the matrix operations and `cp.async` exist
/// (`mma.sync.m16n8k16` of `f16`/`bf16`: sm_80; `ldmatrix`: sm_75).
pub(super) const SM_80: u32 = 80;

/// Hardware tile: rows of `A` and of the accumulator.
const TILE_M: u32 = 16;
/// Hardware tile: columns of `B` and of the accumulator.
const TILE_N: u32 = 8;
/// Hardware tile: the reduction length.
const TILE_K: u32 = 16;

/// The first construct of `program` that needs sm_80, described for
/// [`crate::driver::CompileError::Unsupported`]: a multiply-add (named with
/// its element type and shape) before any other matrix statement, then an
/// asynchronous copy.
pub(super) fn sm80_construct(program: &Program) -> Option<String> {
    let mut mma = None;
    let mut other = None;
    let mut copy = false;
    walk_nodes(&program.body, &mut |n| match n {
        Node::Matrix(op) => {
            let (id, what) = match op {
                MatrixOp::WarpgroupMultiplyAdd { d, .. } => (*d, "warpgroup_mma"),
                MatrixOp::Map { src, .. } => (*src, "matrix_map"),
                MatrixOp::RowReduce { src, op, .. } => (*src, op.name()),
                MatrixOp::WarpgroupWait { .. } => return,
                MatrixOp::MultiplyAdd { a, .. } => (*a, "matrix_mma"),
                MatrixOp::Fill { matrix, .. } => (*matrix, "matrix_fill"),
                MatrixOp::Load { matrix, .. } => (*matrix, "matrix_load"),
                MatrixOp::Store { matrix, .. } => (*matrix, "matrix_store"),
            };
            let Some(m) = program.matrices.get(id as usize) else {
                return;
            };
            let s = m.shape;
            let text = format!(
                "{what} of {} {}x{}x{} needs sm_80 or later (mma.sync.m16n8k16)",
                m.elem, s.m, s.n, s.k
            );
            if what == "matrix_mma" {
                mma.get_or_insert(text);
            } else {
                other.get_or_insert(text);
            }
        }
        Node::Async(_) => copy = true,
        _ => {}
    });
    mma.or(other)
        .or_else(|| copy.then(|| "async_copy needs sm_80 or later (cp.async)".to_string()))
}

/// The part of `m` one warp holds: `m` itself, or for a warpgroup
/// accumulator the warp's 16 rows (`16 × n`, in `mma.sync` accumulator
/// fragments, which is also `wgmma`'s accumulator layout).
pub(super) fn warp_part(m: &MatrixDecl) -> MatrixDecl {
    match m.scope {
        MatrixScope::Subgroup => m.clone(),
        MatrixScope::Warpgroup => MatrixDecl {
            shape: MatrixShape {
                m: TILE_M,
                ..m.shape
            },
            scope: MatrixScope::Subgroup,
            ..m.clone()
        },
    }
}

/// Hardware tiles along `m`, `n` and `k`.
pub(super) fn tiles(m: &MatrixDecl) -> (u32, u32, u32) {
    let s = m.shape;
    (s.m / TILE_M, s.n / TILE_N, s.k / TILE_K)
}

/// The fragment registers of `m`: per hardware tile, in row-major order of
/// the tiles, four `.b32` (`A`), two `.b32` (`B`) or four `.f32`
/// (accumulator).
pub(super) fn fragment_regs(code: &mut Code, m: &MatrixDecl) -> Vec<Reg> {
    let (mt, nt, kt) = tiles(m);
    let (count, class) = match m.role {
        MatrixRole::A => (4 * mt * kt, Class::R),
        MatrixRole::B => (2 * kt * nt, Class::R),
        MatrixRole::Accumulator => (4 * mt * nt, Class::F),
    };
    (0..count).map(|_| code.reg(class)).collect()
}

/// The registers of a pair of adjacent elements of a fragment.
#[derive(Debug, Clone, Copy)]
enum Pair {
    /// Two 16-bit elements in one `.b32` register, the first in the low
    /// half.
    Packed(Reg),
    /// Two `f32` elements.
    Split([Reg; 2]),
}

/// Two elements of the thread's fragment: the first at `(row, col)` plus
/// the thread's own offsets (see [`lane_parts`]), the second one further
/// along the columns (`A`, accumulator) or the rows (`B`).
#[derive(Debug, Clone, Copy)]
struct Unit {
    regs: Pair,
    row: u32,
    col: u32,
}

/// Every pair of the thread's fragment of `m` (registers `regs`).
fn units(m: &MatrixDecl, regs: &[Reg]) -> Vec<Unit> {
    let (mt, nt, kt) = tiles(m);
    let mut out = Vec::new();
    match m.role {
        MatrixRole::A => {
            for mi in 0..mt {
                for ki in 0..kt {
                    for j in 0..4 {
                        out.push(Unit {
                            regs: Pair::Packed(regs[((mi * kt + ki) * 4 + j) as usize]),
                            row: mi * TILE_M + 8 * (j & 1),
                            col: ki * TILE_K + 8 * (j >> 1),
                        });
                    }
                }
            }
        }
        MatrixRole::B => {
            for ki in 0..kt {
                for ni in 0..nt {
                    for j in 0..2 {
                        out.push(Unit {
                            regs: Pair::Packed(regs[((ki * nt + ni) * 2 + j) as usize]),
                            row: ki * TILE_K + 8 * j,
                            col: ni * TILE_N,
                        });
                    }
                }
            }
        }
        MatrixRole::Accumulator => {
            for mi in 0..mt {
                for ni in 0..nt {
                    for j in 0..2 {
                        let at = ((mi * nt + ni) * 4 + 2 * j) as usize;
                        out.push(Unit {
                            regs: Pair::Split([regs[at], regs[at + 1]]),
                            row: mi * TILE_M + 8 * j,
                            col: ni * TILE_N,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Whether the second element of a pair is in the next row (`B`) rather
/// than the next column.
fn pairs_along_rows(role: MatrixRole) -> bool {
    role == MatrixRole::B
}

/// `(major, minor)` of `(row, col)` under `layout`: the index is
/// `offset + major * stride + minor`.
fn major_minor(layout: MatrixLayout, row: u32, col: u32) -> (u32, u32) {
    match layout {
        MatrixLayout::RowMajor => (row, col),
        MatrixLayout::ColMajor => (col, row),
    }
}

/// Whether the two elements of a pair are adjacent in memory.
fn pairs_contiguous(role: MatrixRole, layout: MatrixLayout) -> bool {
    pairs_along_rows(role) == (layout == MatrixLayout::ColMajor)
}

/// A matrix load or store's memory operand, evaluated.
#[derive(Debug, Clone, Copy)]
struct Mem {
    buf: BufRef,
    /// The offset (`u32` register).
    off: Reg,
    /// The stride.
    stride: Src,
    layout: MatrixLayout,
    /// Element size in bytes.
    size: u32,
    /// A clip's `(major, minor)` counts (`u32` registers), where it may
    /// cut the tile: elements at or past them are not accessed.
    clip: Option<(Reg, Reg)>,
}

/// A row's address: a register and a byte offset to add.
#[derive(Debug, Clone, Copy)]
struct RowBase {
    addr: Reg,
    imm: u64,
    /// The row's first element index (`u64`), on the checked path.
    idx: Option<Reg>,
}

/// The largest immediate address offset used (PTX offsets are signed
/// 32-bit; this leaves room for the offset of an element in its row).
const MAX_IMM_OFFSET: u64 = 1 << 30;

impl Emitter<'_> {
    /// Read `%laneid` and zero every matrix (matrices start at 0): at entry.
    pub(super) fn matrix_setup(&mut self) {
        let lane = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 lane, Special::LaneId);
        self.lane = Some(lane);
        for regs in &self.matrices {
            for r in regs {
                match r.class {
                    Class::F => ins!(self.code; Mov.F32 *r, Imm::F32(0)),
                    _ => ins!(self.code; Mov.B32 *r, int(0)),
                }
            }
        }
    }

    pub(super) fn lane_reg(&mut self) -> Reg {
        match self.lane {
            Some(l) => l,
            None => {
                let l = self.code.reg(Class::R);
                ins!(self.code; Mov.U32 l, Special::LaneId);
                self.lane = Some(l);
                l
            }
        }
    }

    /// A matrix statement.
    pub(super) fn matrix_op(&mut self, op: &MatrixOp) {
        match op {
            MatrixOp::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous,
            } => self.warpgroup_mma(*d, a, b, *c, *asynchronous),
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => self.warpgroup_map((*d, *src), [*row, *col, *value], expr),
            MatrixOp::RowReduce {
                op,
                src,
                dst,
                offset,
            } => self.warpgroup_row_reduce(*op, *src, *dst, offset),
            MatrixOp::WarpgroupWait { pending } => self.warpgroup_wait_pending(*pending),
            MatrixOp::Fill { matrix, value } => {
                let v = self.expr(value);
                let regs = self.matrices[*matrix as usize].clone();
                for r in regs {
                    ins!(self.code; Mov.F32 r, v);
                }
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => self.mma(*d, *a, *b, *c),
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => self.matrix_memory(
                *matrix,
                *buf,
                (offset, stride, clip.as_ref()),
                *layout,
                false,
            ),
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } if self.program.matrices[*matrix as usize].scope == MatrixScope::Warpgroup => {
                self.warpgroup_store(*matrix, *buf, (offset, stride, clip.as_ref()), *layout);
            }
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => self.matrix_memory(
                *matrix,
                *buf,
                (offset, stride, clip.as_ref()),
                *layout,
                true,
            ),
        }
    }

    /// `d = a * b + c`: one `mma.sync` per hardware tile `(mi, ni, ki)`,
    /// accumulating into `d`'s tile `(mi, ni)`; the first step along `k`
    /// reads `c` (`d` may be `c`: each instruction reads its accumulator
    /// before writing, and `a`, `b` are other matrices).
    fn mma(&mut self, d: MatrixId, a: MatrixId, b: MatrixId, c: MatrixId) {
        let p = self.program;
        let (Some(ma), Some(_)) = (p.matrices.get(a as usize), p.matrices.get(d as usize)) else {
            return;
        };
        let (mt, nt, kt) = tiles(ma);
        let ty = if ma.elem == DataType::F16 {
            Mod::F16
        } else {
            Mod::Bf16
        };
        let [dr, ar, br, cr] = [d, a, b, c].map(|m| self.matrices[m as usize].clone());
        self.mma_tiles(ty, (mt, nt, kt), [&dr, &ar, &br, &cr]);
    }

    /// `mma.sync` over fragments: `d = a * b + c` for `(mt, nt, kt)`
    /// hardware tiles of `ty` operands, registers in `fragment_regs` order.
    pub(super) fn mma_tiles(
        &mut self,
        ty: Mod,
        (mt, nt, kt): (u32, u32, u32),
        [dr, ar, br, cr]: [&[Reg]; 4],
    ) {
        let quad = |regs: &[Reg], at: u32| -> [Reg; 4] {
            let at = at as usize * 4;
            [regs[at], regs[at + 1], regs[at + 2], regs[at + 3]]
        };
        // `k` outermost: the accumulator chains of neighbouring tiles
        // interleave, hiding the tensor cores' latency.
        for ki in 0..kt {
            for mi in 0..mt {
                for ni in 0..nt {
                    let acc = mi * nt + ni;
                    let dq = quad(dr, acc);
                    let cq = if ki == 0 { quad(cr, acc) } else { dq };
                    let aq = quad(ar, mi * kt + ki);
                    let bi = ((ki * nt + ni) * 2) as usize;
                    let bp = [br[bi], br[bi + 1]];
                    ins!(self.code; Mma.Sync.Aligned.M16n8k16.Row.Col.F32.(ty).(ty).F32 dq, aq, bp, cq);
                }
            }
        }
    }

    /// A matrix load (`store` false) or store: the fast path (`ldmatrix`
    /// from shared arrays, else element-wise with pairs as one access,
    /// unchecked) when alignment and range are proven, else a warp-uniform
    /// test choosing between it and the element-wise path that checks
    /// every element. A clip that does not provably cover the whole tile
    /// adds `rows >= tile rows && cols >= tile cols` to that test, and the
    /// element-wise path then also tests `r < rows && c < cols` per
    /// element; an unclipped statement gets no instruction more.
    fn matrix_memory(
        &mut self,
        matrix: MatrixId,
        buf: BufRef,
        (offset, stride, clip): (&crate::ir::Expr, &crate::ir::Expr, Option<&MatrixClip>),
        layout: MatrixLayout,
        store: bool,
    ) {
        let Some(decl) = self.program.matrices.get(matrix as usize).cloned() else {
            return;
        };
        let regs = self.matrices[matrix as usize].clone();
        self.matrix_memory_of(&decl, &regs, buf, (offset, stride, clip), layout, store);
    }

    /// [`Self::matrix_memory`] of a matrix `decl` held in `regs` (an IR
    /// matrix or a piece of a warpgroup statement). A swizzled shared array
    /// is always accessed element by element, each address through the
    /// layout.
    pub(super) fn matrix_memory_of(
        &mut self,
        decl: &MatrixDecl,
        regs: &[Reg],
        buf: BufRef,
        (offset, stride, clip): (&crate::ir::Expr, &crate::ir::Expr, Option<&MatrixClip>),
        layout: MatrixLayout,
        store: bool,
    ) {
        let (decl, regs) = (decl.clone(), regs.to_vec());
        let (rows, cols) = decl.dims();
        let (majors, minors) = major_minor(layout, rows, cols);
        let len = self.program.static_len(buf);
        let check = self
            .bounds
            .span_needs_check(offset, Some(stride), majors, minors, len);
        let off_v = self.expr(offset);
        let off = self.in_reg(&off_v);
        let stride_v = self.expr(stride);
        // The clip as `(major, minor)` counts, unless it provably covers
        // the tile (both literals at least the tile's dimensions).
        let clip = clip.and_then(|c| {
            let rows_v = self.expr(&c.rows);
            let cols_v = self.expr(&c.cols);
            let covers = |v: &Val, dim: u32| match v.src {
                Src::Imm(i) => i.as_int().is_some_and(|i| i >= i64::from(dim)),
                Src::Reg(_) => false,
            };
            if covers(&rows_v, rows) && covers(&cols_v, cols) {
                return None;
            }
            let r = self.in_reg(&rows_v);
            let c = self.in_reg(&cols_v);
            Some(major_minor_regs(layout, r, c))
        });
        let mem = Mem {
            buf,
            off,
            stride: stride_v.src,
            layout,
            size: self.elem_size(buf),
            clip,
        };
        let ldmatrix = !store
            && matches!(buf, BufRef::Shared(_))
            && matches!(decl.role, MatrixRole::A | MatrixRole::B);
        if self.swizzled(buf) && !ldmatrix {
            self.matrix_elements(&decl, &regs, &mem, store, false, true);
            return;
        }
        let paired = pairs_contiguous(decl.role, layout);
        // Elements the offset and the stride must be multiples of.
        let need: u32 = if ldmatrix {
            8
        } else if paired {
            2
        } else {
            1
        };
        let aligned = self.align.of(offset) >= need && self.align.of(stride) >= need;
        if aligned && !check && clip.is_none() {
            self.matrix_fast(&decl, &regs, &mem, store, ldmatrix, paired);
            return;
        }
        let mut conds = Vec::new();
        if let Some((cmaj, cmin)) = clip {
            // Warp-uniform (the clip is equal across the subgroup): the
            // whole tile is inside the clip.
            let a = self.code.reg(Class::Pred);
            let b = self.code.reg(Class::Pred);
            ins!(self.code; Setp.Ge.U32 a, cmaj, int(i64::from(majors)));
            ins!(self.code; Setp.Ge.U32 b, cmin, int(i64::from(minors)));
            conds.push(a);
            conds.push(b);
        }
        if !aligned {
            conds.push(self.aligned_pred(&mem, need));
        }
        if check {
            conds.push(self.tile_in_range(&mem, majors, minors));
        }
        let fast = self.all_of(&conds);
        let slow = self.code.label("mslow");
        let end = self.code.label("mend");
        ins!(self.code; @!fast; Bra slow);
        self.matrix_fast(&decl, &regs, &mem, store, ldmatrix, paired);
        ins!(self.code; Bra end);
        self.code.place(slow);
        self.matrix_elements(&decl, &regs, &mem, store, false, check);
        self.code.place(end);
    }

    /// The path for an aligned tile in range.
    fn matrix_fast(
        &mut self,
        decl: &MatrixDecl,
        regs: &[Reg],
        mem: &Mem,
        store: bool,
        ldmatrix: bool,
        paired: bool,
    ) {
        // The fast path runs only where the tile is wholly inside any clip.
        let mem = &Mem { clip: None, ..*mem };
        if ldmatrix {
            self.ldmatrix(decl, regs, mem);
        } else {
            self.matrix_elements(decl, regs, mem, store, paired, false);
        }
    }

    /// A predicate that holds where every one of `preds` does.
    pub(super) fn all_of(&mut self, preds: &[Reg]) -> Reg {
        let mut acc = preds[0];
        for p in &preds[1..] {
            let r = self.code.reg(Class::Pred);
            ins!(self.code; And.Pred r, acc, *p);
            acc = r;
        }
        acc
    }

    /// Whether the offset and the stride are multiples of `need` elements.
    fn aligned_pred(&mut self, mem: &Mem, need: u32) -> Reg {
        let mask = int(i64::from(need - 1));
        let bits = match mem.stride {
            Src::Imm(s) if s.as_int().is_some_and(|s| s % i64::from(need) == 0) => mem.off,
            _ => {
                let o = self.code.reg(Class::R);
                ins!(self.code; Or.B32 o, mem.off, mem.stride);
                o
            }
        };
        let low = self.code.reg(Class::R);
        let p = self.code.reg(Class::Pred);
        ins!(self.code; And.B32 low, bits, mask);
        ins!(self.code; Setp.Eq.U32 p, low, int(0));
        p
    }

    /// The memory's length as a `u64` operand.
    fn len64(&mut self, buf: BufRef) -> Src {
        match (self.program.static_len(buf), buf) {
            (Some(n), _) => Src::Imm(int(i64::from(n))),
            (None, BufRef::Param(p)) => {
                let len = self.params[p as usize]
                    .1
                    .unwrap_or(self.params[p as usize].0);
                let l = self.code.reg(Class::Rd);
                ins!(self.code; Cvt.U64.U32 l, len);
                Src::Reg(l)
            }
            (None, _) => Src::Imm(int(0)),
        }
    }

    /// `x + k * stride` in `u64` (`x` a `.b64` register).
    fn add_stride64(&mut self, x: Reg, stride: Src, k: u32) -> Reg {
        if k == 0 {
            return x;
        }
        let d = self.code.reg(Class::Rd);
        match stride {
            Src::Imm(s) => {
                let v = s.as_int().unwrap_or(0) * i64::from(k);
                ins!(self.code; Add.S64 d, x, int(v));
            }
            Src::Reg(s) => {
                let t = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Wide.U32 t, s, int(i64::from(k)));
                ins!(self.code; Add.S64 d, x, t);
            }
        }
        d
    }

    /// Whether the whole tile is in range: its last element,
    /// `offset + (majors - 1) * stride + minors - 1` computed in `u64`, is
    /// below the length.
    fn tile_in_range(&mut self, mem: &Mem, majors: u32, minors: u32) -> Reg {
        let o = self.code.reg(Class::Rd);
        ins!(self.code; Cvt.U64.U32 o, mem.off);
        let row = self.add_stride64(o, mem.stride, majors - 1);
        let last = self.code.reg(Class::Rd);
        ins!(self.code; Add.S64 last, row, int(i64::from(minors - 1)));
        let len = self.len64(mem.buf);
        let p = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Lt.U64 p, last, len);
        p
    }

    /// The thread's offsets `(major, minor)` in a fragment of `role`: its
    /// row `g` (`2t` for `B`) and column `2t` (`g` for `B`), in `layout`'s
    /// order.
    fn lane_parts(&mut self, role: MatrixRole, layout: MatrixLayout) -> (Reg, Reg) {
        let lane = self.lane_reg();
        let g = self.code.reg(Class::R);
        let t = self.code.reg(Class::R);
        let t2 = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 g, lane, int(2));
        ins!(self.code; And.B32 t, lane, int(3));
        ins!(self.code; Shl.B32 t2, t, int(1));
        let (r, c) = if pairs_along_rows(role) {
            (t2, g)
        } else {
            (g, t2)
        };
        major_minor_regs(layout, r, c)
    }

    /// The `.b32` shared address or `.b64` global address of element
    /// `off + major * stride + minor` computed in 32 bits (the unchecked
    /// path: every index of the tile is in range, so below 2^32).
    fn lane_addr(&mut self, mem: &Mem, major: Reg, minor: Reg) -> Reg {
        let i = self.code.reg(Class::R);
        let idx = self.code.reg(Class::R);
        ins!(self.code; Mad.Lo.U32 i, major, mem.stride, mem.off);
        ins!(self.code; Add.U32 idx, i, minor);
        match mem.buf {
            BufRef::Param(p) => {
                let base = self.params[p as usize].0;
                let off = self.code.reg(Class::Rd);
                let a = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Wide.U32 off, idx, int(i64::from(mem.size)));
                ins!(self.code; Add.S64 a, base, off);
                a
            }
            _ => {
                let sym = Self::array_sym(mem.buf).unwrap_or(Symbol::Shared(0));
                self.array_addr(sym, idx, mem.size)
            }
        }
    }

    /// The address of row `major` (`major` rows of `stride` elements past
    /// `lane`, the unchecked path's lane address): an immediate offset
    /// when the stride is one, else a register.
    fn row_base(&mut self, mem: &Mem, lane: Reg, major: u32) -> RowBase {
        let bytes = u64::from(major) * u64::from(mem.size);
        if let Src::Imm(s) = mem.stride {
            let off = u64::try_from(s.as_int().unwrap_or(0)).unwrap_or(0) * bytes;
            if off <= MAX_IMM_OFFSET {
                return RowBase {
                    addr: lane,
                    imm: off,
                    idx: None,
                };
            }
        }
        if major == 0 {
            return RowBase {
                addr: lane,
                imm: 0,
                idx: None,
            };
        }
        let stride = match mem.stride {
            Src::Reg(r) => r,
            Src::Imm(_) => self.in_reg(&Val {
                src: mem.stride,
                ty: DataType::U32,
            }),
        };
        let scale = int(i64::try_from(bytes).unwrap_or(i64::MAX));
        let addr = match lane.class {
            Class::Rd => {
                let t = self.code.reg(Class::Rd);
                let a = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Wide.U32 t, stride, scale);
                ins!(self.code; Add.S64 a, lane, t);
                a
            }
            _ => {
                let a = self.code.reg(Class::R);
                ins!(self.code; Mad.Lo.U32 a, stride, scale, lane);
                a
            }
        };
        RowBase {
            addr,
            imm: 0,
            idx: None,
        }
    }

    /// The checked path's row `major`: its first element's `u64` index
    /// (`lane_idx` plus `major` strides) and address.
    fn checked_row(&mut self, mem: &Mem, lane_idx: Reg, major: u32) -> RowBase {
        let idx = self.add_stride64(lane_idx, mem.stride, major);
        let addr = match mem.buf {
            BufRef::Param(p) => {
                let base = self.params[p as usize].0;
                let off = self.code.reg(Class::Rd);
                let a = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Lo.U64 off, idx, int(i64::from(mem.size)));
                ins!(self.code; Add.S64 a, base, off);
                a
            }
            _ => {
                // Only used where the element is in range, so below 2^32.
                let lo = self.code.reg(Class::R);
                ins!(self.code; Cvt.U32.U64 lo, idx);
                let sym = Self::array_sym(mem.buf).unwrap_or(Symbol::Shared(0));
                self.array_addr(sym, lo, mem.size)
            }
        };
        RowBase {
            addr,
            imm: 0,
            idx: Some(idx),
        }
    }

    /// Element-wise load or store of the thread's fragment: pairs adjacent
    /// in memory as one access when `paired`; every element checked
    /// against the length when `checked` (an element out of range reads 0
    /// or is not stored).
    fn matrix_elements(
        &mut self,
        decl: &MatrixDecl,
        regs: &[Reg],
        mem: &Mem,
        store: bool,
        paired: bool,
        checked: bool,
    ) {
        let (lm, ln) = self.lane_parts(decl.role, mem.layout);
        // The lane's first element: its address (unchecked) or its `u64`
        // index (checked).
        let lane = if checked {
            let o = self.code.reg(Class::Rd);
            let t = self.code.reg(Class::Rd);
            let s = self.code.reg(Class::Rd);
            let n = self.code.reg(Class::Rd);
            let i = self.code.reg(Class::Rd);
            ins!(self.code; Cvt.U64.U32 o, mem.off);
            ins!(self.code; Mul.Wide.U32 t, lm, mem.stride);
            ins!(self.code; Add.S64 s, o, t);
            ins!(self.code; Cvt.U64.U32 n, ln);
            ins!(self.code; Add.S64 i, s, n);
            i
        } else {
            self.lane_addr(mem, lm, ln)
        };
        let len = if checked {
            Some(self.len64(mem.buf))
        } else {
            None
        };
        let elem = self.program.elem_type(mem.buf).unwrap_or(decl.elem);
        let space = self.space(mem.buf, !store);
        let along_rows = pairs_along_rows(decl.role);
        let mut rows: Vec<(u32, RowBase)> = Vec::new();
        // Clip predicates of the lane's majors and minors, by offset.
        let mut clip_preds: [Vec<(u32, Reg)>; 2] = [Vec::new(), Vec::new()];
        for u in units(decl, regs) {
            let second = if along_rows {
                (u.row + 1, u.col)
            } else {
                (u.row, u.col + 1)
            };
            let elems = [
                major_minor(mem.layout, u.row, u.col),
                major_minor(mem.layout, second.0, second.1),
            ];
            let mut at = |e: &mut Self, major: u32| -> RowBase {
                if let Some((_, r)) = rows.iter().find(|(m, _)| *m == major) {
                    return *r;
                }
                let r = if checked {
                    e.checked_row(mem, lane, major)
                } else {
                    e.row_base(mem, lane, major)
                };
                rows.push((major, r));
                r
            };
            if paired && mem.clip.is_none() {
                let (major, minor) = elems[0];
                let row = at(self, major);
                let addr = element_addr(row, minor, mem.size);
                self.pair_access(u.regs, elem, space, addr, store);
                continue;
            }
            let halves = match u.regs {
                Pair::Packed(_) => [self.code.reg(Class::H), self.code.reg(Class::H)],
                Pair::Split(r) => r,
            };
            for (k, (major, minor)) in elems.into_iter().enumerate() {
                let row = at(self, major);
                let addr = self.element_address(mem, row, minor);
                let mut pred = match (len, row.idx) {
                    (Some(len), Some(idx)) => {
                        let i = self.code.reg(Class::Rd);
                        let p = self.code.reg(Class::Pred);
                        ins!(self.code; Add.S64 i, idx, int(i64::from(minor)));
                        ins!(self.code; Setp.Lt.U64 p, i, len);
                        Some(p)
                    }
                    _ => None,
                };
                if let Some((cmaj, cmin)) = mem.clip {
                    let pm = self.clip_pred(&mut clip_preds[0], lm, major, cmaj);
                    let pn = self.clip_pred(&mut clip_preds[1], ln, minor, cmin);
                    let both = self.code.reg(Class::Pred);
                    ins!(self.code; And.Pred both, pm, pn);
                    pred = Some(match pred {
                        Some(p) => {
                            let all = self.code.reg(Class::Pred);
                            ins!(self.code; And.Pred all, p, both);
                            all
                        }
                        None => both,
                    });
                }
                self.scalar_access(halves[k], elem, space, addr, store, pred);
            }
            if let Pair::Packed(r) = u.regs
                && !store
            {
                ins!(self.code; Mov.B32 r, halves);
            }
        }
    }

    /// Whether `buf` is a swizzled shared array.
    pub(super) fn swizzled(&self, buf: BufRef) -> bool {
        matches!(buf, BufRef::Shared(i) if self.program.shared.get(i as usize)
            .is_some_and(|a| a.layout != SharedLayout::Linear))
    }

    /// The address of element `minor` of `row`: an offset from the row's
    /// address, or for a swizzled shared array (always on the checked
    /// path, which knows the row's index) the element's own address
    /// through the layout.
    fn element_address(&mut self, mem: &Mem, row: RowBase, minor: u32) -> Addr {
        let (BufRef::Shared(i), Some(idx)) = (mem.buf, row.idx) else {
            return element_addr(row, minor, mem.size);
        };
        if !self.swizzled(mem.buf) {
            return element_addr(row, minor, mem.size);
        }
        // Out-of-range elements are not accessed (their predicate fails),
        // so the low 32 bits serve.
        let wide = self.code.reg(Class::Rd);
        let lo = self.code.reg(Class::R);
        ins!(self.code; Add.S64 wide, idx, int(i64::from(minor)));
        ins!(self.code; Cvt.U32.U64 lo, wide);
        Addr::reg(self.array_addr(Symbol::Shared(i as usize), lo, mem.size))
    }

    /// Whether the lane's `lane + at` (a major or a minor) is below the
    /// clip's `limit`, computed once per `at` (cached in `cache`). Tile
    /// coordinates are small, so `lane + at` does not wrap.
    fn clip_pred(&mut self, cache: &mut Vec<(u32, Reg)>, lane: Reg, at: u32, limit: Reg) -> Reg {
        if let Some((_, p)) = cache.iter().find(|(a, _)| *a == at) {
            return *p;
        }
        let p = self.code.reg(Class::Pred);
        if at == 0 {
            ins!(self.code; Setp.Lt.U32 p, lane, limit);
        } else {
            let x = self.code.reg(Class::R);
            ins!(self.code; Add.U32 x, lane, int(i64::from(at)));
            ins!(self.code; Setp.Lt.U32 p, x, limit);
        }
        cache.push((at, p));
        p
    }

    /// One access of a pair of adjacent elements at `addr`: a `.b32` of
    /// two 16-bit elements, `.v2.f32`, or a store of an accumulator pair
    /// converted to `elem`.
    fn pair_access(&mut self, regs: Pair, elem: DataType, space: Mod, addr: Addr, store: bool) {
        match (regs, store) {
            (Pair::Packed(r), false) => ins!(self.code; Ld.(space).B32 r, addr),
            (Pair::Split(r), false) => ins!(self.code; Ld.(space).V2.F32 r, addr),
            (Pair::Split(r), true) if elem == DataType::F32 => {
                ins!(self.code; St.(space).V2.F32 addr, r);
            }
            (Pair::Split(r), true) => {
                let w = self.pack_word(elem, &r);
                ins!(self.code; St.(space).B32 addr, w);
            }
            // Only accumulators are stored.
            (Pair::Packed(_), true) => {}
        }
    }

    /// One element: a load into `r` (a `.b16` half or an `f32`), 0 where
    /// `pred` fails, or a store of the `f32` `r` converted to `elem`,
    /// dropped where `pred` fails.
    fn scalar_access(
        &mut self,
        r: Reg,
        elem: DataType,
        space: Mod,
        addr: Addr,
        store: bool,
        pred: Option<Reg>,
    ) {
        if store {
            let (bits, ty) = if elem == DataType::F32 {
                (r, Mod::F32)
            } else {
                let b = self.narrow_bits(elem, r);
                (b, narrow::store_mod(elem, b.class))
            };
            self.code.push(
                Inst::new(Opcode::St, &[space, ty], &[addr.into(), bits.into()]).when_some(pred),
            );
            return;
        }
        let (ty, zero) = if r.class == Class::F {
            (Mod::F32, Operand::Imm(Imm::F32(0)))
        } else {
            (Mod::B16, Operand::Imm(int(0)))
        };
        if let Some(p) = pred {
            self.code
                .push(Inst::new(Opcode::Mov, &[ty], &[r.into(), zero]));
            ins!(self.code; @p; Ld.(space).(ty) r, addr);
        } else {
            ins!(self.code; Ld.(space).(ty) r, addr);
        }
    }

    /// `ldmatrix` loads of an `A` or `B` fragment from the shared array
    /// `sym` (aligned and in range): one `.x4` per 16x16 piece (for `B`,
    /// two neighbouring 16x8 tiles; an `.x2` for a last odd one). Lanes
    /// `8j .. 8j + 7` address the rows of the `j`-th 8x8 tile, which lands
    /// in the `j`-th destination register; `.trans` where the memory's rows
    /// are the fragment's pair direction (`A` column-major, `B`
    /// row-major).
    fn ldmatrix(&mut self, decl: &MatrixDecl, regs: &[Reg], mem: &Mem) {
        let lane = self.lane_reg();
        let trans = (decl.role == MatrixRole::A) == (mem.layout == MatrixLayout::ColMajor);
        // Tile j = lane / 8 is (rows 8 * (j & 1), cols 8 * (j >> 1)) of the
        // 16x16 piece in fragment terms; in memory terms (major, minor):
        // row-major: major = lane % 16, minor = 8 * (lane / 16);
        // column-major: major = 8 * (lane / 16) + lane % 8, minor = 8 * ((lane / 8) % 2).
        let hi = self.code.reg(Class::R);
        let hi8 = self.code.reg(Class::R);
        ins!(self.code; And.B32 hi, lane, int(16));
        ins!(self.code; Shr.U32 hi8, hi, int(1));
        let (major, minor) = if mem.layout == MatrixLayout::RowMajor {
            let m = self.code.reg(Class::R);
            ins!(self.code; And.B32 m, lane, int(15));
            (m, hi8)
        } else {
            let lo = self.code.reg(Class::R);
            let m = self.code.reg(Class::R);
            let n = self.code.reg(Class::R);
            ins!(self.code; And.B32 lo, lane, int(7));
            ins!(self.code; Or.B32 m, hi8, lo);
            ins!(self.code; And.B32 n, lane, int(8));
            (m, n)
        };
        let base = if self.swizzled(mem.buf) {
            major
        } else {
            self.lane_addr(mem, major, minor)
        };
        let (mt, nt, kt) = tiles(decl);
        // (major, minor) of each piece's first element and its registers.
        let mut pieces: Vec<(u32, u32, Vec<Reg>)> = Vec::new();
        match decl.role {
            MatrixRole::A => {
                for mi in 0..mt {
                    for ki in 0..kt {
                        let (r, c) = (mi * TILE_M, ki * TILE_K);
                        let at = ((mi * kt + ki) * 4) as usize;
                        let (ma, mi_) = major_minor(mem.layout, r, c);
                        pieces.push((ma, mi_, regs[at..at + 4].to_vec()));
                    }
                }
            }
            _ => {
                for ki in 0..kt {
                    for ni in (0..nt).step_by(2) {
                        let (r, c) = (ki * TILE_K, ni * TILE_N);
                        let at = ((ki * nt + ni) * 2) as usize;
                        let count = if ni + 1 < nt { 4 } else { 2 };
                        let (ma, mi_) = major_minor(mem.layout, r, c);
                        pieces.push((ma, mi_, regs[at..at + count].to_vec()));
                    }
                }
            }
        }
        let mut rows: Vec<(u32, RowBase)> = Vec::new();
        let swizzled = self.swizzled(mem.buf);
        for (piece_major, piece_minor, dst) in pieces {
            let addr = if swizzled {
                // Each lane's 16-byte row of the piece through the layout
                // (rows of a swizzled tile are not a stride apart).
                let ma = self.code.reg(Class::R);
                let mi = self.code.reg(Class::R);
                ins!(self.code; Add.U32 ma, major, int(i64::from(piece_major)));
                ins!(self.code; Add.U32 mi, minor, int(i64::from(piece_minor)));
                Addr::reg(self.lane_addr(mem, ma, mi))
            } else {
                let row = match rows.iter().find(|(m, _)| *m == piece_major) {
                    Some((_, r)) => *r,
                    None => {
                        let r = self.row_base(mem, base, piece_major);
                        rows.push((piece_major, r));
                        r
                    }
                };
                element_addr(row, piece_minor, mem.size)
            };
            let mut mods = vec![Mod::Sync, Mod::Aligned, Mod::M8n8];
            mods.push(if dst.len() == 4 { Mod::X4 } else { Mod::X2 });
            if trans {
                mods.push(Mod::Trans);
            }
            mods.extend([Mod::Shared, Mod::B16]);
            let d: Operand = match dst[..] {
                [a, b, c, d] => [a, b, c, d].into(),
                [a, b] => [a, b].into(),
                _ => continue,
            };
            self.code
                .push(Inst::new(Opcode::Ldmatrix, &mods, &[d, addr.into()]));
        }
    }
}

/// `(major, minor)` registers of `(row, col)` ones under `layout`.
fn major_minor_regs(layout: MatrixLayout, row: Reg, col: Reg) -> (Reg, Reg) {
    match layout {
        MatrixLayout::RowMajor => (row, col),
        MatrixLayout::ColMajor => (col, row),
    }
}

/// The address of element `minor` of `row`.
fn element_addr(row: RowBase, minor: u32, size: u32) -> Addr {
    let off = row.imm + u64::from(minor) * u64::from(size);
    Addr::reg_off(row.addr, u32::try_from(off).unwrap_or(u32::MAX))
}
