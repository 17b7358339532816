//! Statements: blocks, assignments, stores and control flow.

use naga::{Barrier, BinaryOperator, Block, Expression, Handle, LocalVariable, Span, Statement};

use super::memory::ElemIndex;
use super::{ArrayInfo, Lowerer};
use crate::driver::CompileResult;
use crate::ir::{BufRef, DataType, Expr, LocalId, Node};
use crate::mid::align::run_len;

impl Lowerer<'_> {
    pub(super) fn block(&mut self, nodes: &[Node], out: &mut Block) -> CompileResult<()> {
        let mut run_end = 0;
        let mut i = 0;
        while let Some(node) = nodes.get(i) {
            if i >= run_end {
                let len = run_len(&nodes[i..]);
                self.vector_loads(&nodes[i..i + len], out)?;
                run_end = i + len.max(1);
            }
            let grouped = self.word_stores(&nodes[i..run_end], out)?;
            if grouped > 0 {
                i += grouped;
                continue;
            }
            self.node(node, out)?;
            // Nothing after a jump runs; naga rejects such code.
            if matches!(node, Node::Break | Node::Continue | Node::Return) {
                break;
            }
            i += 1;
        }
        self.vec_cache.clear();
        Ok(())
    }

    pub(super) fn store_local(
        &mut self,
        local: LocalId,
        value: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let pointer = *self
            .locals
            .get(local as usize)
            .ok_or_else(|| self.internal(&format!("unknown local {local}")))?;
        blk.push(Statement::Store { pointer, value }, Span::UNDEFINED);
        Ok(())
    }

    /// A store into a packed narrow buffer (see `narrow`), inside its
    /// bounds check when `checked`.
    fn store_packed_checked(
        &mut self,
        buf: BufRef,
        info: ArrayInfo,
        at: ElemIndex,
        checked: bool,
        value: &Expr,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let ElemIndex::Run(idx) = at else {
            return Err(self.internal("a constant element of a buffer"));
        };
        let bits = self.store_bits(info.elem, value, blk)?;
        if !checked {
            self.packed_store(info, idx, bits, blk);
            return Ok(());
        }
        let (in_range, index) = self.guarded_index(buf, info, idx, blk)?;
        let mut accept = Block::new();
        self.packed_store(info, index, bits, &mut accept);
        blk.push(
            Statement::If {
                condition: in_range,
                accept,
                reject: Block::new(),
            },
            Span::UNDEFINED,
        );
        Ok(())
    }

    pub(super) fn node(&mut self, node: &Node, blk: &mut Block) -> CompileResult<()> {
        match node {
            Node::Let { local, value } | Node::Assign { local, value } => {
                self.align.assign(*local, value);
                let v = self.expr(value, blk)?;
                self.store_local(*local, v, blk)?;
            }
            Node::Store { buf, index, value } => {
                let info = self.array(*buf)?;
                let checked = self.bounds.needs_check(index);
                let at = self.elem_index(*buf, index, checked, blk)?;
                if info.packed {
                    return self.store_packed_checked(*buf, info, at, checked, value, blk);
                }
                let v = self.expr(value, blk)?;
                if let (ElemIndex::Run(idx), true) = (at, checked) {
                    let (in_range, index) = self.guarded_index(*buf, info, idx, blk)?;
                    let mut accept = Block::new();
                    let ptr = self.add(
                        Expression::Access {
                            base: info.global,
                            index,
                        },
                        &mut accept,
                    );
                    accept.push(
                        Statement::Store {
                            pointer: ptr,
                            value: v,
                        },
                        Span::UNDEFINED,
                    );
                    blk.push(
                        Statement::If {
                            condition: in_range,
                            accept,
                            reject: Block::new(),
                        },
                        Span::UNDEFINED,
                    );
                } else {
                    let ptr = self.element(info, at, blk);
                    blk.push(
                        Statement::Store {
                            pointer: ptr,
                            value: v,
                        },
                        Span::UNDEFINED,
                    );
                }
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                let target = result.local();
                if let Some(local) = target {
                    // The old value is unknown data.
                    self.align.set(local, 1);
                }
                return self.atomic(*op, *buf, index, expected.as_ref(), value, target, blk);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, blk)?;
                let mut accept = Block::new();
                let mut reject = Block::new();
                let before = self.align.clone();
                self.block(then, &mut accept)?;
                let after_then = std::mem::replace(&mut self.align, before);
                self.block(otherwise, &mut reject)?;
                self.align.join(&after_then);
                blk.push(
                    Statement::If {
                        condition: c,
                        accept,
                        reject,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::While { cond, body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                let mut lbody = Block::new();
                let c = self.expr(cond, &mut lbody)?;
                let mut brk = Block::new();
                brk.push(Statement::Break, Span::UNDEFINED);
                lbody.push(
                    Statement::If {
                        condition: c,
                        accept: Block::new(),
                        reject: brk,
                    },
                    Span::UNDEFINED,
                );
                self.block(body, &mut lbody)?;
                self.align = at_head;
                blk.push(
                    Statement::Loop {
                        body: lbody,
                        continuing: Block::new(),
                        break_if: None,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::For {
                var,
                start,
                end,
                step,
                body,
                // A hint only: drivers unroll what pays.
                unroll: _,
            } => {
                let ty = self
                    .p
                    .locals
                    .get(*var as usize)
                    .map(|d| d.ty)
                    .ok_or_else(|| self.internal("unknown loop variable"))?;
                let s = self.expr(start, blk)?;
                self.store_local(*var, s, blk)?;
                // The bound is evaluated once, into a hidden local.
                let e = self.expr(end, blk)?;
                let end_var = self.func.local_variables.append(
                    LocalVariable {
                        name: Some(format!("{}_end", self.p.locals[*var as usize].name)),
                        ty: self.scalar_ty(ty),
                        init: None,
                    },
                    Span::UNDEFINED,
                );
                let end_ptr = self
                    .func
                    .expressions
                    .append(Expression::LocalVariable(end_var), Span::UNDEFINED);
                blk.push(
                    Statement::Store {
                        pointer: end_ptr,
                        value: e,
                    },
                    Span::UNDEFINED,
                );
                let var_ptr = self.locals[*var as usize];
                self.align.set_for_var(*var, start, *step);
                self.align.enter_loop(body);
                let at_head = self.align.clone();

                let mut lbody = Block::new();
                let cur = self.add(Expression::Load { pointer: var_ptr }, &mut lbody);
                let endv = self.add(Expression::Load { pointer: end_ptr }, &mut lbody);
                let go = self.bin(BinaryOperator::Less, cur, endv, &mut lbody);
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
                self.block(body, &mut lbody)?;
                self.align = at_head;

                let mut continuing = Block::new();
                let cur = self.add(Expression::Load { pointer: var_ptr }, &mut continuing);
                let step_lit = if ty == DataType::I32 {
                    // Validation keeps an `i32` loop's step at most `i32::MAX`.
                    let Ok(step) = i32::try_from(*step) else {
                        return Err(self.internal("`i32` loop step past `i32::MAX`"));
                    };
                    naga::Literal::I32(step)
                } else {
                    naga::Literal::U32(*step)
                };
                let step_h = self.lit(step_lit);
                // Integer addition wraps on every naga target (the MSL
                // writer spells signed addition through `uint` for this).
                let mut next = self.bin(BinaryOperator::Add, cur, step_h, &mut continuing);
                // With a step of 1 the next value cannot overflow: `var <
                // end` held, so `var + 1 <= end`. A larger step leaves the
                // loop when `var + step` wraps past the type's maximum, which
                // (the step being positive and below the type's range) is
                // exactly when the wrapped sum compares below `var`: an
                // unsigned compare for `u32`, a signed one for `i32`. The
                // variable then takes `end`, so the test at the head ends
                // the loop (the variable is not visible after it). No
                // `break if`: the NVIDIA Vulkan driver ran a body that
                // `break`s only once with one.
                if *step > 1 {
                    let wrapped = self.bin(BinaryOperator::Less, next, cur, &mut continuing);
                    let endv = self.add(Expression::Load { pointer: end_ptr }, &mut continuing);
                    next = self.select(wrapped, endv, next, &mut continuing);
                }
                continuing.push(
                    Statement::Store {
                        pointer: var_ptr,
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
            }
            // The bounds analysis already left the block's accesses
            // unchecked. A nested naga block, so that a jump inside leaves
            // the statements after it valid (unreachable) code.
            Node::Unsafe { body } => {
                let mut inner = Block::new();
                self.block(body, &mut inner)?;
                blk.push(Statement::Block(inner), Span::UNDEFINED);
            }
            Node::Loop { body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                let mut lbody = Block::new();
                self.block(body, &mut lbody)?;
                self.align = at_head;
                blk.push(
                    Statement::Loop {
                        body: lbody,
                        continuing: Block::new(),
                        break_if: None,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::Break => blk.push(Statement::Break, Span::UNDEFINED),
            Node::Continue => blk.push(Statement::Continue, Span::UNDEFINED),
            Node::Return => blk.push(Statement::Return { value: None }, Span::UNDEFINED),
            // A warpgroup barrier stands where a workgroup barrier could
            // (uniform control flow), so the workgroup's, which orders
            // more, takes its place: naga's targets have none narrower.
            Node::Barrier | Node::WarpgroupBarrier => blk.push(
                Statement::ControlBarrier(Barrier::STORAGE | Barrier::WORK_GROUP),
                Span::UNDEFINED,
            ),
            Node::Matrix(op) => return self.matrix(op, blk),
            Node::Async(op) => return self.async_op(op, blk),
        }
        Ok(())
    }
}
