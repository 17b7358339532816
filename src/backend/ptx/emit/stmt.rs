//! Statements: assignments, blocks and structured control flow (labels and
//! predicated branches).

use crate::ir::{DataType, Expr, LocalId, MatrixScope, Node};
use crate::mid::align::run_len;

use super::super::code::ins;
use super::super::isa::{Class, Mod, int};
use super::proxy::FenceAt;
use super::vector::RunPlan;
use super::{Emitter, Val, mov_ty, sfx};

impl Emitter<'_> {
    fn assign_local(&mut self, local: LocalId, value: &Expr) {
        let v = self.expr(value);
        self.align.assign(local, value);
        self.set_local(local, &v);
    }

    /// Move `v` into the register of `local`.
    fn set_local(&mut self, local: LocalId, v: &Val) {
        let dst = self.locals[local as usize];
        let t = match v.ty {
            DataType::Bool => Mod::Pred,
            t => mov_ty(t),
        };
        if v.ty == DataType::Bool && v.imm().is_some() {
            let r = self.in_reg(v);
            ins!(self.code; Mov.Pred dst, r);
        } else {
            ins!(self.code; Mov.(t) dst, v);
        }
    }

    pub(super) fn block(&mut self, body: &[Node]) {
        let mut i = 0;
        let mut run_end = 0;
        let mut plan = RunPlan::default();
        while i < body.len() {
            let node = &body[i];
            if i >= run_end {
                self.vec_cache.clear();
                run_end = i + run_len(&body[i..]);
                plan = if run_end > i {
                    self.start_run(&body[i..run_end], i)
                } else {
                    RunPlan::default()
                };
            }
            for (_, l) in plan.loads.iter().filter(|(at, _)| *at == i) {
                self.array_vector_load(l);
            }
            if let Some((_, g)) = plan.stores.iter().find(|(at, _)| *at == i) {
                let g = g.clone();
                let w = g.width as usize;
                self.store_group(&g, &body[i..i + w]);
                i += w;
                continue;
            }
            i += 1;
            self.node(node);
        }
        self.vec_cache.clear();
    }

    fn node(&mut self, node: &Node) {
        // Generic writes of `wgmma` tiles published by a barrier or read
        // by `wgmma` (`emit/proxy.rs`).
        self.proxy_fence(node, FenceAt::Before);
        match node {
            Node::Let { local, value } | Node::Assign { local, value } => {
                self.assign_local(*local, value);
            }
            Node::Store { buf, index, value } => self.store(*buf, index, value),
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                let used = result.local().is_some();
                let v = self.atomic(*op, *buf, index, expected.as_ref(), value, used);
                if let Some(local) = result.local() {
                    // The old value is unknown data.
                    self.align.set(local, 1);
                    self.set_local(local, &v);
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond);
                let c = self.in_reg(&c);
                let else_l = self.code.label("else");
                let end_l = self.code.label("endif");
                ins!(self.code; @!c; Bra else_l);
                let before = self.align.clone();
                self.block(then);
                self.proxy_fence(node, FenceAt::ThenEnd);
                let after_then = std::mem::replace(&mut self.align, before);
                if otherwise.is_empty() {
                    self.code.place(else_l);
                } else {
                    ins!(self.code; Bra end_l);
                    self.code.place(else_l);
                    self.block(otherwise);
                    self.proxy_fence(node, FenceAt::ElseEnd);
                }
                // Alignment after the `if`: what both paths guarantee.
                self.align.join(&after_then);
                self.code.place(end_l);
            }
            Node::While { cond, body } => {
                let head = self.code.label("while");
                let exit = self.code.label("endwhile");
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                self.code.place(head);
                let c = self.expr(cond);
                let c = self.in_reg(&c);
                ins!(self.code; @!c; Bra exit);
                self.loops.push((head, exit));
                self.block(body);
                self.align = at_head;
                self.loops.pop();
                ins!(self.code; Bra head);
                self.code.place(exit);
            }
            Node::For {
                var,
                start,
                end,
                step,
                body,
                ..
            } => {
                let ty = self.program.locals[*var as usize].ty;
                let s = self.expr(start);
                let e = self.expr(end);
                let v = self.locals[*var as usize];
                ins!(self.code; Mov.B32 v, s);
                // `end` is evaluated once; keep it in its own register.
                let end_r = self.code.reg(Class::R);
                ins!(self.code; Mov.B32 end_r, e);
                self.align.set_for_var(*var, start, *step);
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                let head = self.code.label("for");
                let cont = self.code.label("forcont");
                let exit = self.code.label("endfor");
                self.code.place(head);
                let p = self.code.reg(Class::Pred);
                ins!(self.code; Setp.Lt.(sfx(ty)) p, v, end_r);
                ins!(self.code; @!p; Bra exit);
                self.loops.push((cont, exit));
                self.block(body);
                self.align = at_head;
                self.loops.pop();
                self.code.place(cont);
                if *step != 1 {
                    // The loop ends when `var + step` would overflow the
                    // variable's type: `var > MAX - step` (validation keeps
                    // `step` within the type). With a step of 1 it cannot:
                    // `var < end <= MAX`.
                    let max = if ty == DataType::I32 {
                        i64::from(i32::MAX)
                    } else {
                        i64::from(u32::MAX)
                    };
                    let last = self.code.reg(Class::Pred);
                    ins!(self.code; Setp.Gt.(sfx(ty)) last, v, int(max - i64::from(*step)));
                    ins!(self.code; @last; Bra exit);
                    // A `u32` step may not fit an `.s32` immediate.
                    ins!(self.code; Add.(sfx(ty)) v, v, int(i64::from(*step)));
                } else {
                    ins!(self.code; Add.S32 v, v, int(1));
                }
                ins!(self.code; Bra head);
                self.code.place(exit);
            }
            // The bounds analysis already left the block's accesses
            // unchecked; the statements run in line.
            Node::Unsafe { body } => self.block(body),
            Node::Loop { body } => {
                let head = self.code.label("loop");
                let exit = self.code.label("endloop");
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                self.code.place(head);
                self.loops.push((head, exit));
                self.block(body);
                self.align = at_head;
                self.loops.pop();
                ins!(self.code; Bra head);
                self.code.place(exit);
            }
            Node::Break => {
                if let Some(&(_, exit)) = self.loops.last() {
                    ins!(self.code; Bra exit);
                }
            }
            Node::Continue => {
                if let Some(&(cont, _)) = self.loops.last() {
                    ins!(self.code; Bra cont);
                }
            }
            Node::Return => {
                self.tile_drain();
                ins!(self.code; Ret);
            }
            // Not `bar.sync` (= `barrier.sync.aligned`): after a divergent
            // `break`/`continue` the threads of a warp may reach the barrier
            // unconverged, which the `.aligned` form does not allow.
            Node::Barrier => ins!(self.code; Barrier.Sync int(0)),
            // Barrier 0 is the workgroup's; warpgroup `w` (flat thread
            // index / 128) has barrier `1 + w`, for its 128 threads.
            Node::WarpgroupBarrier => {
                let warpgroup = MatrixScope::WARPGROUP;
                let flat = self.flat_thread_index();
                let id = self.code.reg(Class::R);
                let w = self.code.reg(Class::R);
                ins!(self.code; Shr.U32 w, flat, int(i64::from(warpgroup.trailing_zeros())));
                ins!(self.code; Add.U32 id, w, int(1));
                ins!(self.code; Barrier.Sync id, int(i64::from(warpgroup)));
            }
            Node::Matrix(op) => self.matrix_op(op),
            Node::Async(op) => self.async_op(op),
        }
    }
}
