//! Matrix statements and asynchronous copies, emulated per invocation.
//!
//! vyre's matrix statements act on the whole tile as if every invocation
//! of the subgroup held a copy of it, and every invocation executes them
//! with equal operands. The portable lowering takes that literally: each
//! invocation keeps its own copy of every matrix in a function-local
//! `array<f32, rows * cols>` (`f16`/`bf16` operands widened, exactly), zero
//! at entry, and every statement is a loop over the elements, not unrolled,
//! so that modules stay small:
//!
//! - `Load`/`Store` walk memory in its own order (rows of a row-major
//!   tile, columns of a column-major one) with the address of the current
//!   row or column kept in a variable and a sticky flag for when it passed
//!   `u32::MAX`: the element index `offset + r * stride + c` is defined in
//!   64 bits, and an index beyond 32 bits is out of range (reads 0, stores
//!   dropped) like any other, unless the kernel is unchecked. Narrow
//!   buffers go through the packed word accessors of `narrow` (stores:
//!   atomic clear-and-set, so the other invocations of the subgroup, which
//!   store the same values, and neighbours in a word never lose data);
//!   narrow shared arrays hold widened values, stored rounded.
//! - `MultiplyAdd`: for each `(i, j)`, `acc = c[i][j]`, then
//!   `acc = acc + a[i][k] * b[k][j]` for `k = 0, 1, ..` in `f32`, then
//!   `d[i][j] = acc`: exactly the reference's order. The products of
//!   `f16`/`bf16` values are exact in `f32`, so a driver that contracts
//!   into an fma gets the same sums. `d` may be `c`: element `(i, j)` of
//!   `c` is read only before `d[i][j]` is written.
//! - `WarpgroupMultiplyAdd` (a warpgroup accumulator, held like any other
//!   matrix: each invocation computes the whole tile): `d = c`, then for
//!   each row `i`, `k = 0, 1, ..` and column `j`, `d[i][j] = d[i][j] +
//!   A[i][k] * B[k][j]`, with `A` and `B` read straight from their shared
//!   arrays (out of range reads 0, as for `Load`): the same sums in the
//!   same order as `MultiplyAdd`. A column-major `B` is walked down its
//!   columns; an `A` held in an accumulator is read from its private copy,
//!   each element rounded to `B`'s type by the exact integer rounding of
//!   `narrow`. Shared arrays ignore their layout (`SharedLayout`):
//!   element `i` is element `i`.
//! - `Map`: a loop over the elements storing the row, column and value
//!   into the closure's locals and lowering the closure with the ordinary
//!   expression lowering (bounds checks included).
//! - `RowReduce`: every invocation reduces every row of its copy and
//!   stores all 64 values; the invocations of a warpgroup store identical
//!   values, so whichever store lands last leaves the same element, and
//!   an invocation's own later reads see its own store.
//! - `AsyncOp::Copy` copies at once, element by element; `Commit` and
//!   `Wait` are no-ops (a following `barrier()` makes the copies of other
//!   invocations visible, as vyre requires anyway).
//!
//! Cost: the private copies are `4 * rows * cols` bytes per matrix and
//! invocation, 16 KiB for a `64 x 64` accumulator; drivers spill that to
//! scratch memory. It is a correct fallback for every naga target, not a
//! fast path (a cooperative-matrix lowering would be one).

use naga::{
    BinaryOperator, Block, Expression, Handle, LocalVariable, Span, Statement, UnaryOperator,
};

use super::{ArrayInfo, Lowerer};
use crate::driver::CompileResult;
use crate::ir::{
    AsyncOp, BufRef, DataType, Expr, LocalId, MatrixClip, MatrixId, MatrixLayout, MatrixOp,
    RowReduceOp, SharedId, SharedTile, WarpgroupOperand,
};

/// The memory operand of a matrix load or store, lowered.
struct Tile {
    /// The buffer or shared array.
    buf: BufRef,
    /// Its declaration in the module.
    info: ArrayInfo,
    /// `u32` index of element `(0, 0)`.
    offset: Handle<Expression>,
    /// `u32` distance between rows (row-major) or columns.
    stride: Handle<Expression>,
    /// Row- or column-major.
    layout: MatrixLayout,
    /// The clip's `u32` row and column counts, if any: elements outside
    /// are not visited.
    clip: Option<(Handle<Expression>, Handle<Expression>)>,
}

impl Lowerer<'_> {
    /// A new function-local variable of type `ty`, named `name` and a
    /// number, as a pointer expression (assigned before every use).
    fn temp(&mut self, name: &str, ty: naga::Handle<naga::Type>) -> Handle<Expression> {
        let n = self.func.local_variables.len();
        let var = self.func.local_variables.append(
            LocalVariable {
                name: Some(format!("{name}{n}")),
                ty,
                init: None,
            },
            Span::UNDEFINED,
        );
        self.func
            .expressions
            .append(Expression::LocalVariable(var), Span::UNDEFINED)
    }

    /// `for v in 0..count { body(v) }` with a `u32` counter, as a naga
    /// `Loop` (not unrolled).
    fn counted_loop<F>(
        &mut self,
        count: Handle<Expression>,
        blk: &mut Block,
        mut body: F,
    ) -> CompileResult<()>
    where
        F: FnMut(&mut Self, Handle<Expression>, &mut Block) -> CompileResult<()>,
    {
        let zero = self.u32_lit(0);
        let u32_ = self.ty.u32_;
        let var = self.temp("mi", u32_);
        blk.push(
            Statement::Store {
                pointer: var,
                value: zero,
            },
            Span::UNDEFINED,
        );
        let mut lbody = Block::new();
        let cur = self.add(Expression::Load { pointer: var }, &mut lbody);
        let go = self.bin(BinaryOperator::Less, cur, count, &mut lbody);
        let mut brk = Block::new();
        brk.push(Statement::Break, Span::UNDEFINED);
        lbody.push(
            Statement::If {
                condition: go,
                accept: Block::new(),
                reject: brk,
            },
            Span::UNDEFINED,
        );
        body(self, cur, &mut lbody)?;
        let mut continuing = Block::new();
        let cur = self.add(Expression::Load { pointer: var }, &mut continuing);
        let one = self.u32_lit(1);
        let next = self.bin(BinaryOperator::Add, cur, one, &mut continuing);
        continuing.push(
            Statement::Store {
                pointer: var,
                value: next,
            },
            Span::UNDEFINED,
        );
        blk.push(
            Statement::Loop {
                body: lbody,
                continuing,
                break_if: None,
            },
            Span::UNDEFINED,
        );
        Ok(())
    }

    /// The private array of matrix `id` and its `(rows, cols)`.
    fn matrix_var(&self, id: MatrixId) -> CompileResult<(Handle<Expression>, u32, u32)> {
        let (Some(&ptr), Some(decl)) = (
            self.matrices.get(id as usize),
            self.p.matrices.get(id as usize),
        ) else {
            return Err(self.internal(&format!("unknown matrix #{id}")));
        };
        let (rows, cols) = decl.dims();
        Ok((ptr, rows, cols))
    }

    /// A pointer to element `index` (a `u32`) of a matrix's private array.
    fn matrix_elem(
        &mut self,
        ptr: Handle<Expression>,
        index: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(Expression::Access { base: ptr, index }, blk)
    }

    /// Element `e` of the matrix variable `ptr` becomes `value(e)`, for
    /// every `e < count`.
    fn set_each<F>(
        &mut self,
        ptr: Handle<Expression>,
        count: u32,
        blk: &mut Block,
        mut value: F,
    ) -> CompileResult<()>
    where
        F: FnMut(&mut Self, Handle<Expression>, &mut Block) -> Handle<Expression>,
    {
        let n = self.u32_lit(count);
        self.counted_loop(n, blk, |cx, e, b| {
            let v = value(cx, e, b);
            let p = cx.matrix_elem(ptr, e, b);
            b.push(
                Statement::Store {
                    pointer: p,
                    value: v,
                },
                Span::UNDEFINED,
            );
            Ok(())
        })
    }

    /// `a * k + b` for `u32` values and a constant `k`.
    fn mul_add_k(
        &mut self,
        a: Handle<Expression>,
        k: u32,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let k = self.u32_lit(k);
        let p = self.bin(BinaryOperator::Multiply, a, k, blk);
        self.bin(BinaryOperator::Add, p, b, blk)
    }

    /// Element `idx` (in range, or unchecked) of `info`, in its register
    /// type: packed buffers unpack and widen, the rest load plainly
    /// (narrow shared arrays hold widened values).
    fn raw_load(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        if info.packed {
            return self.packed_load(info, idx, blk);
        }
        let pointer = self.add(
            Expression::Access {
                base: info.global,
                index: idx,
            },
            blk,
        );
        self.add(Expression::Load { pointer }, blk)
    }

    /// Store `v` (a value of the element's register type) as element `idx`
    /// (in range, or unchecked) of `info`: a packed buffer gets the bits of
    /// `v` rounded to its type, anything else `v` itself (a narrow shared
    /// array's value must already be rounded, see [`Lowerer::matrix`]).
    fn raw_store(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        v: Handle<Expression>,
        blk: &mut Block,
    ) {
        if info.packed {
            let bits = self.narrow_bits(v, info.elem, blk);
            self.packed_store(info, idx, bits, blk);
            return;
        }
        let pointer = self.add(
            Expression::Access {
                base: info.global,
                index: idx,
            },
            blk,
        );
        blk.push(Statement::Store { pointer, value: v }, Span::UNDEFINED);
    }

    /// `idx < len` of `info`, and `!wrapped` when given (an index whose
    /// 64-bit value passed `u32::MAX`).
    fn in_range(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        wrapped: Option<Handle<Expression>>,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let len = self.array_len(info, blk)?;
        let below = self.bin(BinaryOperator::Less, idx, len, blk);
        Ok(match wrapped {
            None => below,
            Some(w) => {
                let ok = self.add(
                    Expression::Unary {
                        op: UnaryOperator::LogicalNot,
                        expr: w,
                    },
                    blk,
                );
                self.bin(BinaryOperator::LogicalAnd, ok, below, blk)
            }
        })
    }

    /// A checked load of element `idx` of `info` (0 when `in_range` is
    /// false): the index clamped to 0 (index 0 always exists, see
    /// [`Lowerer::load`]) and the value selected.
    fn checked_load(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        in_range: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let zero_idx = self.u32_lit(0);
        let safe = self.select(in_range, idx, zero_idx, blk);
        let v = self.raw_load(info, safe, blk);
        let zero = self.zero(info.elem);
        self.select(in_range, v, zero, blk)
    }

    /// A checked store of `v` as element `idx` of `info`, dropped when
    /// `in_range` is false; the index is clamped too for fixed-size arrays
    /// (see [`Lowerer::guarded_index`]).
    fn checked_store(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        in_range: Handle<Expression>,
        v: Handle<Expression>,
        blk: &mut Block,
    ) {
        let mut accept = Block::new();
        let idx = if matches!(info.len, super::ArrayLen::Const(_)) {
            let zero = self.u32_lit(0);
            self.select(in_range, idx, zero, &mut accept)
        } else {
            idx
        };
        self.raw_store(info, idx, v, &mut accept);
        blk.push(
            Statement::If {
                condition: in_range,
                accept,
                reject: Block::new(),
            },
            Span::UNDEFINED,
        );
    }

    /// Lower the memory operand of a `Load` or `Store`.
    fn tile(
        &mut self,
        buf: BufRef,
        offset: &Expr,
        stride: &Expr,
        layout: MatrixLayout,
        clip: Option<&MatrixClip>,
        blk: &mut Block,
    ) -> CompileResult<Tile> {
        let info = self.array(buf)?;
        let offset = self.expr(offset, blk)?;
        let stride = self.expr(stride, blk)?;
        let clip = match clip {
            Some(c) => Some((self.expr(&c.rows, blk)?, self.expr(&c.cols, blk)?)),
            None => None,
        };
        Ok(Tile {
            buf,
            info,
            offset,
            stride,
            layout,
            clip,
        })
    }

    /// Visit every element of a `rows x cols` matrix laid out as `tile`
    /// (only those inside its clip): `f(matrix index, memory index, in
    /// range)`, in memory order (rows of a row-major tile, columns of a
    /// column-major one). `in range` is `None` when the kernel is
    /// unchecked.
    fn tile_elements<F>(
        &mut self,
        tile: &Tile,
        (rows, cols): (u32, u32),
        blk: &mut Block,
        mut f: F,
    ) -> CompileResult<()>
    where
        F: FnMut(
            &mut Self,
            Handle<Expression>,
            Handle<Expression>,
            Option<Handle<Expression>>,
            &mut Block,
        ) -> CompileResult<()>,
    {
        let (outer, inner) = match tile.layout {
            MatrixLayout::RowMajor => (rows, cols),
            MatrixLayout::ColMajor => (cols, rows),
        };
        let checked = self.checks_bounds;
        let u32_ = self.ty.u32_;
        let bool_ = self.ty.bool_;
        // The memory index of the first element of the current row (or
        // column), and whether its 64-bit value passed `u32::MAX`.
        let base_var = self.temp("mbase", u32_);
        blk.push(
            Statement::Store {
                pointer: base_var,
                value: tile.offset,
            },
            Span::UNDEFINED,
        );
        let wrapped_var = if checked {
            let no = self.lit(naga::Literal::Bool(false));
            let v = self.temp("mwrap", bool_);
            blk.push(
                Statement::Store {
                    pointer: v,
                    value: no,
                },
                Span::UNDEFINED,
            );
            Some(v)
        } else {
            None
        };
        let (mut outer_n, mut inner_n) = (self.u32_lit(outer), self.u32_lit(inner));
        if let Some((clip_rows, clip_cols)) = tile.clip {
            // A clip only shortens the walk: `min(tile side, clip)`.
            let (co, ci) = match tile.layout {
                MatrixLayout::RowMajor => (clip_rows, clip_cols),
                MatrixLayout::ColMajor => (clip_cols, clip_rows),
            };
            outer_n = self.min_u32(outer_n, co, blk);
            inner_n = self.min_u32(inner_n, ci, blk);
        }
        let (stride, layout) = (tile.stride, tile.layout);
        self.counted_loop(outer_n, blk, |cx, o, ob| {
            let base = cx.add(Expression::Load { pointer: base_var }, ob);
            let wrapped = wrapped_var.map(|p| cx.add(Expression::Load { pointer: p }, ob));
            cx.counted_loop(inner_n, ob, |cx, i, ib| {
                let mem = cx.bin(BinaryOperator::Add, base, i, ib);
                let elem = match layout {
                    MatrixLayout::RowMajor => cx.mul_add_k(o, cols, i, ib),
                    MatrixLayout::ColMajor => cx.mul_add_k(i, cols, o, ib),
                };
                let ok = match wrapped {
                    // `i` is below 2^12: `base + i` wrapped iff it is
                    // below `base`.
                    Some(w) => {
                        let wrap_here = cx.bin(BinaryOperator::Less, mem, base, ib);
                        Some(cx.bin(BinaryOperator::LogicalOr, w, wrap_here, ib))
                    }
                    None => None,
                };
                f(cx, elem, mem, ok, ib)
            })?;
            let next = cx.bin(BinaryOperator::Add, base, stride, ob);
            ob.push(
                Statement::Store {
                    pointer: base_var,
                    value: next,
                },
                Span::UNDEFINED,
            );
            if let (Some(p), Some(w)) = (wrapped_var, wrapped) {
                let wrap_now = cx.bin(BinaryOperator::Less, next, base, ob);
                let w = cx.bin(BinaryOperator::LogicalOr, w, wrap_now, ob);
                ob.push(
                    Statement::Store {
                        pointer: p,
                        value: w,
                    },
                    Span::UNDEFINED,
                );
            }
            Ok(())
        })
    }

    /// A matrix statement.
    pub(super) fn matrix(&mut self, op: &MatrixOp, blk: &mut Block) -> CompileResult<()> {
        match op {
            // The emulation multiplies at once: nothing to wait for.
            MatrixOp::WarpgroupWait { .. } => Ok(()),
            MatrixOp::WarpgroupMultiplyAdd { d, a, b, c, .. } => {
                self.warpgroup_multiply_add(*d, a, b, *c, blk)
            }
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => self.map(*d, *src, [*row, *col, *value], expr, blk),
            MatrixOp::RowReduce {
                op,
                src,
                dst,
                offset,
            } => self.row_reduce(*op, *src, *dst, offset, blk),
            MatrixOp::Fill { matrix, value } => {
                let (ptr, rows, cols) = self.matrix_var(*matrix)?;
                let v = self.expr(value, blk)?;
                self.set_each(ptr, rows * cols, blk, |_, _, _| v)
            }
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let (ptr, rows, cols) = self.matrix_var(*matrix)?;
                let tile = self.tile(*buf, offset, stride, *layout, clip.as_ref(), blk)?;
                if tile.clip.is_some() {
                    // Clipped-out elements read 0: clear the tile first.
                    let zero = self.lit(naga::Literal::F32(0.0));
                    self.set_each(ptr, rows * cols, blk, |_, _, _| zero)?;
                }
                let info = tile.info;
                self.tile_elements(&tile, (rows, cols), blk, |cx, elem, mem, wrapped, b| {
                    let v = if cx.checks_bounds {
                        let ok = cx.in_range(info, mem, wrapped, b)?;
                        cx.checked_load(info, mem, ok, b)
                    } else {
                        cx.raw_load(info, mem, b)
                    };
                    let p = cx.matrix_elem(ptr, elem, b);
                    b.push(
                        Statement::Store {
                            pointer: p,
                            value: v,
                        },
                        Span::UNDEFINED,
                    );
                    Ok(())
                })
            }
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let (ptr, rows, cols) = self.matrix_var(*matrix)?;
                let tile = self.tile(*buf, offset, stride, *layout, clip.as_ref(), blk)?;
                if tile.info.elem.register_type() != DataType::F32 {
                    return Err(self.internal(&format!(
                        "matrix store into {:?} of `{}`",
                        tile.buf, tile.info.elem
                    )));
                }
                let info = tile.info;
                self.tile_elements(&tile, (rows, cols), blk, |cx, elem, mem, wrapped, b| {
                    let p = cx.matrix_elem(ptr, elem, b);
                    let mut v = cx.add(Expression::Load { pointer: p }, b);
                    // A narrow shared array holds the rounded value, widened
                    // (a packed buffer rounds in `raw_store`).
                    if !info.packed && info.elem.is_narrow() {
                        v = cx.round_to(v, info.elem, b);
                    }
                    if cx.checks_bounds {
                        let ok = cx.in_range(info, mem, wrapped, b)?;
                        cx.checked_store(info, mem, ok, v, b);
                    } else {
                        cx.raw_store(info, mem, v, b);
                    }
                    Ok(())
                })
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => self.multiply_add(*d, *a, *b, *c, blk),
        }
    }

    /// `min(a, b)` of two `u32`s.
    fn min_u32(
        &mut self,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Math {
                fun: naga::MathFunction::Min,
                arg: a,
                arg1: Some(b),
                arg2: None,
                arg3: None,
            },
            blk,
        )
    }

    /// `d = a * b + c`, element by element in the reference's order.
    fn multiply_add(
        &mut self,
        d: MatrixId,
        a: MatrixId,
        b: MatrixId,
        c: MatrixId,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let (dp, m, n) = self.matrix_var(d)?;
        let (ap, _, k) = self.matrix_var(a)?;
        let (bp, ..) = self.matrix_var(b)?;
        let (cp, ..) = self.matrix_var(c)?;
        let f32_ = self.ty.f32_;
        let acc = self.temp("macc", f32_);
        let (m_n, n_n, k_n) = (self.u32_lit(m), self.u32_lit(n), self.u32_lit(k));
        self.counted_loop(m_n, blk, |cx, i, ib| {
            cx.counted_loop(n_n, ib, |cx, j, jb| {
                let ij = cx.mul_add_k(i, n, j, jb);
                let cij = cx.matrix_elem(cp, ij, jb);
                let c0 = cx.add(Expression::Load { pointer: cij }, jb);
                jb.push(
                    Statement::Store {
                        pointer: acc,
                        value: c0,
                    },
                    Span::UNDEFINED,
                );
                cx.counted_loop(k_n, jb, |cx, kk, kb| {
                    let ik = cx.mul_add_k(i, k, kk, kb);
                    let kj = cx.mul_add_k(kk, n, j, kb);
                    let ap = cx.matrix_elem(ap, ik, kb);
                    let av = cx.add(Expression::Load { pointer: ap }, kb);
                    let bp = cx.matrix_elem(bp, kj, kb);
                    let bv = cx.add(Expression::Load { pointer: bp }, kb);
                    // Exact for `f16`/`bf16` operands: one rounding, in the
                    // add, whether or not a driver fuses the two.
                    let prod = cx.bin(BinaryOperator::Multiply, av, bv, kb);
                    let cur = cx.add(Expression::Load { pointer: acc }, kb);
                    let sum = cx.bin(BinaryOperator::Add, cur, prod, kb);
                    kb.push(
                        Statement::Store {
                            pointer: acc,
                            value: sum,
                        },
                        Span::UNDEFINED,
                    );
                    Ok(())
                })?;
                let total = cx.add(Expression::Load { pointer: acc }, jb);
                let dij = cx.matrix_elem(dp, ij, jb);
                jb.push(
                    Statement::Store {
                        pointer: dij,
                        value: total,
                    },
                    Span::UNDEFINED,
                );
                Ok(())
            })
        })
    }

    /// A `u32` variable holding `init`, and with it (when the kernel checks
    /// bounds) a sticky flag, initially false, for "its 64-bit value passed
    /// `u32::MAX`"; see [`Lowerer::advance_row`].
    fn row_base(
        &mut self,
        init: Handle<Expression>,
        blk: &mut Block,
    ) -> (Handle<Expression>, Option<Handle<Expression>>) {
        let (u32_, bool_) = (self.ty.u32_, self.ty.bool_);
        let var = self.temp("mbase", u32_);
        blk.push(
            Statement::Store {
                pointer: var,
                value: init,
            },
            Span::UNDEFINED,
        );
        let wrapped = self.checks_bounds.then(|| {
            let no = self.lit(naga::Literal::Bool(false));
            let w = self.temp("mwrap", bool_);
            blk.push(
                Statement::Store {
                    pointer: w,
                    value: no,
                },
                Span::UNDEFINED,
            );
            w
        });
        (var, wrapped)
    }

    /// `base += stride` for a [`Lowerer::row_base`] pair, setting the flag
    /// when the sum wraps.
    fn advance_row(
        &mut self,
        (var, wrapped): (Handle<Expression>, Option<Handle<Expression>>),
        stride: Handle<Expression>,
        blk: &mut Block,
    ) {
        let base = self.add(Expression::Load { pointer: var }, blk);
        let next = self.bin(BinaryOperator::Add, base, stride, blk);
        blk.push(
            Statement::Store {
                pointer: var,
                value: next,
            },
            Span::UNDEFINED,
        );
        if let Some(w) = wrapped {
            let was = self.add(Expression::Load { pointer: w }, blk);
            let now = self.bin(BinaryOperator::Less, next, base, blk);
            let w_new = self.bin(BinaryOperator::LogicalOr, was, now, blk);
            blk.push(
                Statement::Store {
                    pointer: w,
                    value: w_new,
                },
                Span::UNDEFINED,
            );
        }
    }

    /// Element `col` of the row that starts at a [`Lowerer::row_base`]
    /// pair, of shared array `info`, as an `f32` (0 when out of range in a
    /// checked kernel: past the array or past `u32::MAX`).
    fn row_element(
        &mut self,
        info: ArrayInfo,
        (var, wrapped): (Handle<Expression>, Option<Handle<Expression>>),
        col: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let base = self.add(Expression::Load { pointer: var }, blk);
        let idx = self.bin(BinaryOperator::Add, base, col, blk);
        let Some(w) = wrapped else {
            return Ok(self.raw_load(info, idx, blk));
        };
        // `col` is below 2^8: `base + col` wrapped iff it is below `base`.
        let was = self.add(Expression::Load { pointer: w }, blk);
        let now = self.bin(BinaryOperator::Less, idx, base, blk);
        let w = self.bin(BinaryOperator::LogicalOr, was, now, blk);
        let ok = self.in_range(info, idx, Some(w), blk)?;
        Ok(self.checked_load(info, idx, ok, blk))
    }

    /// Warpgroup `d = A * B + c`, per invocation like
    /// [`Lowerer::multiply_add`], with `B` read from its shared array (the
    /// layout of the arrays is ignored: element `i` is element `i`) and `A`
    /// from a shared array or from a warpgroup accumulator, each element
    /// rounded to `B`'s element type (`round_to`, the exact integer
    /// rounding every narrow value gets). `d` starts as a copy of `c`
    /// (unless it is `c`); then for each row `i`, for `k = 0, 1, ..`, for
    /// each column `j`: `d[i][j] = d[i][j] + A[i][k] * B[k][j]`, so each
    /// element adds its products in order of `k`, exactly the reference's
    /// sums. The start of `A`'s row `i` and of `B`'s row `k` (column `j`
    /// of a column-major `B`) are kept in variables, advanced by the
    /// strides, with a sticky flag for an index past `u32::MAX` (out of
    /// range, as for `Load`).
    fn warpgroup_multiply_add(
        &mut self,
        d: MatrixId,
        a: &WarpgroupOperand,
        b: &SharedTile,
        c: MatrixId,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let (dp, m, n) = self.matrix_var(d)?;
        let (cp, ..) = self.matrix_var(c)?;
        let k = self
            .p
            .matrices
            .get(d as usize)
            .map_or(0, |decl| decl.shape.k);
        let bi = self.array(BufRef::Shared(b.array))?;
        /// Where `A` comes from, lowered.
        enum A {
            Shared(ArrayInfo, Handle<Expression>, Handle<Expression>),
            Acc(Handle<Expression>),
        }
        let a = match a {
            WarpgroupOperand::Shared(t) => {
                let ai = self.array(BufRef::Shared(t.array))?;
                let off = self.expr(&t.offset, blk)?;
                let stride = self.expr(&t.stride, blk)?;
                A::Shared(ai, off, stride)
            }
            WarpgroupOperand::Accumulator(p) => A::Acc(self.matrix_var(*p)?.0),
        };
        let b_off = self.expr(&b.offset, blk)?;
        let b_stride = self.expr(&b.stride, blk)?;
        let col_major = b.layout == MatrixLayout::ColMajor;
        if d != c {
            self.set_each(dp, m * n, blk, |cx, e, eb| {
                let from = cx.matrix_elem(cp, e, eb);
                cx.add(Expression::Load { pointer: from }, eb)
            })?;
        }
        let a_row = match a {
            A::Shared(_, off, _) => Some(self.row_base(off, blk)),
            A::Acc(_) => None,
        };
        let (m_n, n_n, k_n) = (self.u32_lit(m), self.u32_lit(n), self.u32_lit(k));
        let zero = self.u32_lit(0);
        self.counted_loop(m_n, blk, |cx, i, ib| {
            let b_row = (!col_major).then(|| cx.row_base(b_off, ib));
            cx.counted_loop(k_n, ib, |cx, kk, kb| {
                let av = match (&a, a_row) {
                    (A::Shared(ai, ..), Some(row)) => cx.row_element(*ai, row, kk, kb)?,
                    (A::Acc(pp), _) => {
                        let ik = cx.mul_add_k(i, k, kk, kb);
                        let ptr = cx.matrix_elem(*pp, ik, kb);
                        let v = cx.add(Expression::Load { pointer: ptr }, kb);
                        cx.round_to(v, bi.elem, kb)
                    }
                    (A::Shared(..), None) => return Err(cx.internal("A's row base")),
                };
                // Column-major: column `j` of `B` starts at `b_off + j *
                // stride`, and `B[k][j]` is `k` further; the walk starts
                // at `b_off + k` (past `u32::MAX` when that wraps).
                let b_col = if col_major {
                    let start = cx.bin(BinaryOperator::Add, b_off, kk, kb);
                    let col = cx.row_base(start, kb);
                    if let Some(w) = col.1 {
                        let wrapped = cx.bin(BinaryOperator::Less, start, b_off, kb);
                        kb.push(
                            Statement::Store {
                                pointer: w,
                                value: wrapped,
                            },
                            Span::UNDEFINED,
                        );
                    }
                    Some(col)
                } else {
                    None
                };
                cx.counted_loop(n_n, kb, |cx, j, jb| {
                    let bv = match (b_row, b_col) {
                        (Some(row), _) => cx.row_element(bi, row, j, jb)?,
                        (None, Some(col)) => {
                            let v = cx.row_element(bi, col, zero, jb)?;
                            cx.advance_row(col, b_stride, jb);
                            v
                        }
                        (None, None) => return Err(cx.internal("B's row base")),
                    };
                    let ij = cx.mul_add_k(i, n, j, jb);
                    let dij = cx.matrix_elem(dp, ij, jb);
                    let cur = cx.add(Expression::Load { pointer: dij }, jb);
                    // Exact for `f16`/`bf16` operands: one rounding, in the
                    // add, whether or not a driver fuses the two.
                    let prod = cx.bin(BinaryOperator::Multiply, av, bv, jb);
                    let sum = cx.bin(BinaryOperator::Add, cur, prod, jb);
                    jb.push(
                        Statement::Store {
                            pointer: dij,
                            value: sum,
                        },
                        Span::UNDEFINED,
                    );
                    Ok(())
                })?;
                if let Some(row) = b_row {
                    cx.advance_row(row, b_stride, kb);
                }
                Ok(())
            })?;
            if let (Some(row), A::Shared(_, _, stride)) = (a_row, &a) {
                cx.advance_row(row, *stride, ib);
            }
            Ok(())
        })
    }

    /// `d = matrix_map(src, |row, col, value| expr)`: a loop over the
    /// elements that stores the element's row, column and value into the
    /// closure's locals (naga local variables like any other) and lowers
    /// `expr` with the ordinary expression lowering, so its operators,
    /// casts, loads and bounds checks are those of any statement. Each
    /// invocation computes the whole tile (its private copy); the locals
    /// the closure reads hold one value across the warpgroup, so every
    /// copy is the same. `d` may be `src`: element `e` is read before it
    /// is written, and no other element reads it.
    fn map(
        &mut self,
        d: MatrixId,
        src: MatrixId,
        [row, col, value]: [LocalId; 3],
        expr: &Expr,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let (dp, rows, cols) = self.matrix_var(d)?;
        let (sp, ..) = self.matrix_var(src)?;
        let local = |cx: &Self, id: LocalId| {
            cx.locals
                .get(id as usize)
                .copied()
                .ok_or_else(|| cx.internal(&format!("unknown local {id}")))
        };
        let (rv, cv, vv) = (local(self, row)?, local(self, col)?, local(self, value)?);
        // The row and column take every value: no alignment is known (a
        // never-assigned local counts as 0, a multiple of everything).
        self.align.set(row, 1);
        self.align.set(col, 1);
        // Loads grouped at the start of the enclosing run never serve the
        // closure's loads (their keys may be the closure's own locals).
        let cache = std::mem::take(&mut self.vec_cache);
        let (rows_n, cols_n) = (self.u32_lit(rows), self.u32_lit(cols));
        let result = self.counted_loop(rows_n, blk, |cx, r, rb| {
            cx.counted_loop(cols_n, rb, |cx, c, cb| {
                let e = cx.mul_add_k(r, cols, c, cb);
                let from = cx.matrix_elem(sp, e, cb);
                let v = cx.add(Expression::Load { pointer: from }, cb);
                for (pointer, value) in [(rv, r), (cv, c), (vv, v)] {
                    cb.push(Statement::Store { pointer, value }, Span::UNDEFINED);
                }
                let x = cx.expr(expr, cb)?;
                let to = cx.matrix_elem(dp, e, cb);
                cb.push(
                    Statement::Store {
                        pointer: to,
                        value: x,
                    },
                    Span::UNDEFINED,
                );
                Ok(())
            })
        });
        self.vec_cache = cache;
        result
    }

    /// `matrix_row_max/sum(&mut dst, offset, src)`: every invocation folds
    /// every row of its copy of `src` (max from `-inf`, NaN-ignoring like
    /// `f32::max`; or the sum from `0.0` left to right) and stores row
    /// `r`'s value at `dst[offset + r]` (out of range, or past `u32::MAX`,
    /// dropped unless unchecked). All the invocations of the warpgroup
    /// write the same values to the same elements, so the result is the
    /// one value whichever write lands last, and each invocation's own
    /// later reads (a `matrix_map` reading the row values, before any
    /// barrier) see its own write: no invocation depends on another's.
    fn row_reduce(
        &mut self,
        op: RowReduceOp,
        src: MatrixId,
        dst: SharedId,
        offset: &Expr,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let (sp, rows, cols) = self.matrix_var(src)?;
        let info = self.array(BufRef::Shared(dst))?;
        let offset = self.expr(offset, blk)?;
        let f32_ = self.ty.f32_;
        let acc = self.temp("mred", f32_);
        let init = match op {
            RowReduceOp::Max => self.f32_const(f32::NEG_INFINITY, blk),
            RowReduceOp::Add => self.lit(naga::Literal::F32(0.0)),
        };
        let (rows_n, cols_n) = (self.u32_lit(rows), self.u32_lit(cols));
        self.counted_loop(rows_n, blk, |cx, r, rb| {
            rb.push(
                Statement::Store {
                    pointer: acc,
                    value: init,
                },
                Span::UNDEFINED,
            );
            cx.counted_loop(cols_n, rb, |cx, c, cb| {
                let e = cx.mul_add_k(r, cols, c, cb);
                let from = cx.matrix_elem(sp, e, cb);
                let v = cx.add(Expression::Load { pointer: from }, cb);
                let cur = cx.add(Expression::Load { pointer: acc }, cb);
                let next = match op {
                    RowReduceOp::Max => cx.minmax(true, DataType::F32, cur, v, cb),
                    RowReduceOp::Add => cx.bin(BinaryOperator::Add, cur, v, cb),
                };
                cb.push(
                    Statement::Store {
                        pointer: acc,
                        value: next,
                    },
                    Span::UNDEFINED,
                );
                Ok(())
            })?;
            let v = cx.add(Expression::Load { pointer: acc }, rb);
            let idx = cx.bin(BinaryOperator::Add, offset, r, rb);
            if cx.checks_bounds {
                // `r` is below 2^6: `offset + r` wrapped iff it is below
                // `offset`.
                let wrapped = cx.bin(BinaryOperator::Less, idx, offset, rb);
                let ok = cx.in_range(info, idx, Some(wrapped), rb)?;
                cx.checked_store(info, idx, ok, v, rb);
            } else {
                cx.raw_store(info, idx, v, rb);
            }
            Ok(())
        })
    }

    /// An asynchronous copy statement: the copy happens at once, so
    /// `Commit` and `Wait` have nothing to do.
    pub(super) fn async_op(&mut self, op: &AsyncOp, blk: &mut Block) -> CompileResult<()> {
        if let AsyncOp::Tile { .. } = op {
            // `lower` runs the middle layer's loop instead (`mid::tile`).
            return Err(self.internal("a tile copy not rewritten into its loop"));
        }
        let AsyncOp::Copy {
            dst,
            dst_index,
            src,
            src_index,
            count,
        } = op
        else {
            return Ok(());
        };
        let d = self.array(BufRef::Shared(*dst))?;
        let s = self.array(BufRef::Param(*src))?;
        let di = self.expr(dst_index, blk)?;
        let si = self.expr(src_index, blk)?;
        let n = self.u32_lit(*count);
        let checked = self.checks_bounds;
        self.counted_loop(n, blk, |cx, e, b| {
            let from = cx.bin(BinaryOperator::Add, si, e, b);
            let to = cx.bin(BinaryOperator::Add, di, e, b);
            if !checked {
                let v = cx.raw_load(s, from, b);
                cx.raw_store(d, to, v, b);
                return Ok(());
            }
            // An index past `u32::MAX` (the sum wrapped below its start)
            // is out of range.
            let from_wrapped = cx.bin(BinaryOperator::Less, from, si, b);
            let to_wrapped = cx.bin(BinaryOperator::Less, to, di, b);
            let ok_s = cx.in_range(s, from, Some(from_wrapped), b)?;
            let v = cx.checked_load(s, from, ok_s, b);
            let ok_d = cx.in_range(d, to, Some(to_wrapped), b)?;
            cx.checked_store(d, to, ok_d, v, b);
            Ok(())
        })
    }

    /// Declare every matrix as a function-local `array<f32, rows * cols>`,
    /// zero-initialised (matrices start at 0, see `declare_private` for why
    /// the initialiser is explicit).
    pub(super) fn declare_matrices(&mut self) -> CompileResult<()> {
        for decl in &self.p.matrices {
            let (rows, cols) = decl.dims();
            let Some(len) = rows.checked_mul(cols).and_then(std::num::NonZeroU32::new) else {
                return Err(self.unsupported(&format!(
                    "matrix `{}` of shape {:?} has no elements",
                    decl.name, decl.shape
                )));
            };
            let array_ty = self.add_type(naga::TypeInner::Array {
                base: self.ty.f32_,
                size: naga::ArraySize::Constant(len),
                stride: 4,
            });
            let zero = self
                .func
                .expressions
                .append(Expression::ZeroValue(array_ty), Span::UNDEFINED);
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(decl.name.clone()),
                    ty: array_ty,
                    init: Some(zero),
                },
                Span::UNDEFINED,
            );
            let expr = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.matrices.push(expr);
        }
        Ok(())
    }
}
