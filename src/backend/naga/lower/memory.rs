//! Memory: uniform fields, buffer, shared and private array loads, guarded
//! indices, array lengths and atomics.

use naga::{
    AtomicFunction, BinaryOperator, Block, Expression, Handle, PredeclaredType, ScalarKind, Span,
    Statement,
};

use super::{ArrayInfo, ArrayLen, Lowerer, scalar_of, slot_kinds};
use crate::backend::naga::layout::Layout;
use crate::driver::CompileResult;
use crate::ir::{AtomicOp, BufRef, DataType, Expr, Literal, LocalId};
use crate::mid::align::keyed;

/// Which element an access names, as lowered.
#[derive(Clone, Copy)]
pub(super) enum ElemIndex {
    /// A constant in range (an elided check into a private array).
    Const(u32),
    /// The `u32` index expression.
    Run(Handle<Expression>),
}

impl Lowerer<'_> {
    pub(super) fn load_uniform_field(
        &mut self,
        field: u32,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        if let Some(h) = self.uniform_vals.get(field as usize).copied().flatten() {
            return Ok(h);
        }
        let Some(base) = self.uniform else {
            return Err(self.internal("no uniform block for a parameter"));
        };
        let ptr = self.add(Expression::AccessIndex { base, index: field }, blk);
        Ok(self.add(Expression::Load { pointer: ptr }, blk))
    }

    /// Load every scalar parameter and buffer length once, at the top of
    /// the entry point (it dominates every use), instead of at each use:
    /// bounds checks in inner loops then cost a compare and a select only.
    pub(super) fn hoist_uniform_loads(&mut self, body: &mut Block) -> CompileResult<()> {
        let fields = Layout::new(&slot_kinds(self.p)).uniform_fields;
        let mut vals = Vec::with_capacity(fields as usize);
        for field in 0..fields {
            vals.push(Some(self.load_uniform_field(field, body)?));
        }
        self.uniform_vals = vals;
        Ok(())
    }

    pub(super) fn array(&self, buf: BufRef) -> CompileResult<ArrayInfo> {
        let info = match buf {
            BufRef::Param(id) => self.buffers.get(id as usize).copied().flatten(),
            BufRef::Shared(id) => self.shared.get(id as usize).copied(),
            BufRef::Private(id) => self.private.get(id as usize).copied(),
        };
        info.ok_or_else(|| self.internal(&format!("{buf:?} is not an array")))
    }

    pub(super) fn array_len(
        &mut self,
        info: ArrayInfo,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        match info.len {
            ArrayLen::Field(f) => self.load_uniform_field(f, blk),
            ArrayLen::Const(n) => Ok(self.u32_lit(n)),
        }
    }

    /// For a checked store or atomic: the `index < len` condition and the
    /// index to use under it. Shared and private arrays have a fixed size,
    /// and naga (or the WGSL front end, after constant folding) rejects a
    /// constant index past it even in code that never runs, so they get the
    /// clamped index.
    pub(super) fn guarded_index(
        &mut self,
        buf: BufRef,
        info: ArrayInfo,
        idx: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<(Handle<Expression>, Handle<Expression>)> {
        let len = self.array_len(info, blk)?;
        let in_range = self.bin(BinaryOperator::Less, idx, len, blk);
        // A literal index into a buffer is likewise rejected by naga's WGSL
        // front end when it is huge; other buffer indices stay as they are.
        let literal = matches!(self.func.expressions[idx], Expression::Literal(_));
        let index = if self.p.static_len(buf).is_some() || literal {
            let zero = self.u32_lit(0);
            self.select(in_range, idx, zero, blk)
        } else {
            idx
        };
        Ok((in_range, index))
    }

    /// The element of a private array that a literal index names, when it
    /// is in range: the access then goes through `AccessIndex`, which every
    /// writer turns into a plain constant subscript (no index expression,
    /// nothing for a driver to fold). `None` for any other access.
    pub(super) fn const_element(&self, buf: BufRef, index: &Expr) -> Option<u32> {
        let BufRef::Private(_) = buf else {
            return None;
        };
        let k = match index {
            Expr::Lit(Literal::U32(k)) => *k,
            // An `i32` index is reinterpreted as `u32`.
            Expr::Lit(Literal::I32(k)) => k.cast_unsigned(),
            _ => return None,
        };
        (k < self.p.static_len(buf)?).then_some(k)
    }

    /// The index of an access whose check is elided (`!checked`) or kept:
    /// a constant element (see [`Lowerer::const_element`]) when the check
    /// is elided and the index a literal in range, else the lowered index.
    pub(super) fn elem_index(
        &mut self,
        buf: BufRef,
        index: &Expr,
        checked: bool,
        blk: &mut Block,
    ) -> CompileResult<ElemIndex> {
        if !checked && let Some(k) = self.const_element(buf, index) {
            return Ok(ElemIndex::Const(k));
        }
        Ok(ElemIndex::Run(self.index(index, blk)?))
    }

    /// A pointer to element `index` of `info`: `AccessIndex` or `Access`.
    pub(super) fn element(
        &mut self,
        info: ArrayInfo,
        index: ElemIndex,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let base = info.global;
        match index {
            ElemIndex::Const(index) => self.add(Expression::AccessIndex { base, index }, blk),
            ElemIndex::Run(index) => self.add(Expression::Access { base, index }, blk),
        }
    }

    /// The `u32` index of an access (an `i32` index is reinterpreted).
    pub(super) fn index(
        &mut self,
        index: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let h = self.expr(index, blk)?;
        if self.analysis.type_of(index) == Some(DataType::I32) {
            Ok(self.bitcast(h, ScalarKind::Uint, blk))
        } else {
            Ok(h)
        }
    }

    pub(super) fn load(
        &mut self,
        buf: BufRef,
        index: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        if let BufRef::Param(p) = buf
            && let Some((key, d)) = keyed(index)
            && let Some(&(.., base, var)) = self
                .vec_cache
                .iter()
                .find(|(q, k, b, _)| *q == p && *k == key && (*b..*b + 4).contains(&d))
        {
            self.bounds.served_by_group(index);
            let component = self.add(
                Expression::AccessIndex {
                    base: var,
                    index: d - base,
                },
                blk,
            );
            return Ok(self.add(Expression::Load { pointer: component }, blk));
        }
        let info = self.array(buf)?;
        let checked = self.bounds.needs_check(index);
        let at = self.elem_index(buf, index, checked, blk)?;
        let idx = match at {
            ElemIndex::Run(idx) if checked => idx,
            ElemIndex::Run(idx) if info.packed => return Ok(self.packed_load(info, idx, blk)),
            _ => {
                let ptr = self.element(info, at, blk);
                return Ok(self.add(Expression::Load { pointer: ptr }, blk));
            }
        };
        // Read a clamped in-range index (index 0 of an empty buffer exists:
        // the runtime binds at least 4 bytes), then select 0 when out of range.
        let len = self.array_len(info, blk)?;
        let in_range = self.bin(BinaryOperator::Less, idx, len, blk);
        let zero_idx = self.u32_lit(0);
        let safe = self.select(in_range, idx, zero_idx, blk);
        let v = if info.packed {
            self.packed_load(info, safe, blk)
        } else {
            let ptr = self.add(
                Expression::Access {
                    base: info.global,
                    index: safe,
                },
                blk,
            );
            self.add(Expression::Load { pointer: ptr }, blk)
        };
        let zero = self.zero(info.elem);
        Ok(self.select(in_range, v, zero, blk))
    }

    /// An atomic read-modify-write, its old value stored into `target`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &mut self,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
        target: Option<LocalId>,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let info = self.array(buf)?;
        if info.elem.is_narrow() {
            return Err(self.unsupported(&format!(
                "`{}` on `{}` elements: atomics take `u32` or `i32` elements",
                op.name(),
                info.elem
            )));
        }
        let idx = self.index(index, blk)?;
        let val = self.expr(value, blk)?;
        let cmp = match expected {
            Some(x) => Some(self.expr(x, blk)?),
            None => None,
        };
        let fun = match op {
            AtomicOp::Add => AtomicFunction::Add,
            AtomicOp::Sub => AtomicFunction::Subtract,
            AtomicOp::Min => AtomicFunction::Min,
            AtomicOp::Max => AtomicFunction::Max,
            AtomicOp::And => AtomicFunction::And,
            AtomicOp::Or => AtomicFunction::InclusiveOr,
            AtomicOp::Xor => AtomicFunction::ExclusiveOr,
            AtomicOp::Exchange => AtomicFunction::Exchange { compare: None },
            AtomicOp::CompareExchange => {
                let Some(c) = cmp else {
                    return Err(self.internal("atomic_compare_exchange without an expected value"));
                };
                AtomicFunction::Exchange { compare: Some(c) }
            }
        };
        let scalar = scalar_of(info.elem);
        let is_cas = op == AtomicOp::CompareExchange;
        let result_ty = if is_cas {
            self.module
                .generate_predeclared_type(PredeclaredType::AtomicCompareExchangeWeakResult(scalar))
        } else {
            self.scalar_ty(info.elem)
        };
        let guard = if !self.bounds.needs_check(index) {
            None
        } else {
            Some(self.guarded_index(buf, info, idx, blk)?)
        };
        let mut inner = Block::new();
        {
            let body = if guard.is_some() {
                &mut inner
            } else {
                &mut *blk
            };
            let pointer = self.add(
                Expression::Access {
                    base: info.global,
                    index: guard.map_or(idx, |g| g.1),
                },
                body,
            );
            let result = self.func.expressions.append(
                Expression::AtomicResult {
                    ty: result_ty,
                    comparison: is_cas,
                },
                Span::UNDEFINED,
            );
            body.push(
                Statement::Atomic {
                    pointer,
                    fun,
                    value: val,
                    result: Some(result),
                },
                Span::UNDEFINED,
            );
            let old = if is_cas {
                self.add(
                    Expression::AccessIndex {
                        base: result,
                        index: 0,
                    },
                    body,
                )
            } else {
                result
            };
            if let Some(t) = target {
                self.store_local(t, old, body)?;
            }
        }
        if let Some((in_range, _)) = guard {
            let mut reject = Block::new();
            if let Some(t) = target {
                let zero = self.zero(info.elem);
                self.store_local(t, zero, &mut reject)?;
            }
            blk.push(
                Statement::If {
                    condition: in_range,
                    accept: inner,
                    reject,
                },
                Span::UNDEFINED,
            );
        }
        Ok(())
    }
}
