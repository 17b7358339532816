//! Statements: blocks, control flow, loops and atomics.

use vyre::ir::{AtomicCall, AtomicOp, AtomicResult, BufRef, DataType, Expr, Node};

use super::{Epoch, Gen, LoopVar, Var, lit_of};
use crate::compare::{op_tolerance, op_tolerance_f64};
use crate::source::Source;

impl<S: Source> Gen<'_, S> {
    pub(super) fn block(&mut self, depth: u32) -> Vec<Node> {
        self.scopes.push(Vec::new());
        let n = self.src.below(self.cfg.max_stmts + 1);
        let mut out = Vec::new();
        for _ in 0..n {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            self.stmt(depth, &mut out);
        }
        self.scopes.pop();
        out
    }

    pub(super) fn stmt(&mut self, depth: u32, out: &mut Vec<Node>) {
        #[derive(Clone, Copy)]
        enum K {
            Let,
            Store,
            Assign,
            If,
            For,
            While,
            Loop,
            Jump,
            AtomicOwn,
            AtomicShared,
            SharedStore,
            Return,
            Approx,
            ApproxWide,
            WideStore,
            PrivateStore,
            Subgroup,
        }
        let mut kinds = vec![K::Let, K::Store, K::Store];
        let assignable = self.scopes.iter().flatten().any(|v| v.assignable);
        if assignable {
            kinds.push(K::Assign);
        }
        if depth < self.cfg.max_depth {
            kinds.extend([K::If, K::If, K::For, K::While, K::Loop]);
        }
        if self.loops.last() == Some(&true) {
            kinds.push(K::Jump);
        }
        // Atomics on `u32` and `i32` elements only.
        let int_outs = self.outs.iter().any(|o| is_atomic_elem(o.1));
        let sh_int = self.sh.is_some_and(|s| is_atomic_elem(s.1));
        if self.cfg.atomics && (int_outs || (sh_int && self.epoch == Epoch::Write)) {
            kinds.extend([K::AtomicOwn, K::AtomicOwn]);
        }
        let contended_shared =
            self.sh_acc.is_some() && matches!(self.epoch, Epoch::Write | Epoch::Read);
        if self.cfg.atomics && (self.acc.is_some() || contended_shared) {
            kinds.push(K::AtomicShared);
        }
        if self.sh.is_some() && self.epoch == Epoch::Write {
            kinds.extend([K::SharedStore, K::SharedStore]);
        }
        if self.epoch == Epoch::Final {
            kinds.push(K::Return);
        }
        if self.cfg.approx_math && self.out_f32.is_some() && self.slots >= 2 {
            kinds.extend([K::Approx, K::Approx]);
        }
        if self.cfg.approx_math && self.out_f64.is_some() && self.slots >= 2 {
            kinds.push(K::ApproxWide);
        }
        // A wide program's 64-bit outputs get stores of their own (in
        // other programs the list, and so every draw, is unchanged).
        if self.outs.iter().any(|o| o.1.is_wide()) {
            kinds.extend([K::WideStore, K::WideStore]);
        }
        if !self.privs.is_empty() {
            kinds.extend([K::PrivateStore, K::PrivateStore]);
            // In a loop with literal bounds, indices built from its variable
            // are constants once unrolled: the middle layer's favourite case.
            if self.loop_vars.last().is_some_and(|v| v.range.is_some()) {
                kinds.extend([K::PrivateStore, K::PrivateStore]);
            }
        }
        if self.collectives_ok() {
            // A `let` of a collective: the common reduction idiom, and
            // frequent enough that every operation shows up often.
            kinds.extend([K::Subgroup, K::Subgroup]);
        }
        let d = self.cfg.max_expr_depth;
        let kind = self.pick(&kinds);
        match kind {
            K::Let => {
                let ty = self.any_ty();
                let clean = ty.is_float() && self.src.chance(1, 2);
                let value = self.expr(ty, d, clean);
                let mutable = self.src.chance(1, 2);
                let id = self.declare("v", ty, mutable);
                out.push(Node::Let { local: id, value });
                self.bind(Var {
                    id,
                    ty,
                    assignable: mutable,
                    clean,
                });
            }
            K::Subgroup => {
                let ty = self.any_ty();
                let value = self
                    .subgroup_expr(ty, d.saturating_sub(1), false)
                    .unwrap_or_else(|| self.expr(ty, d, false));
                let id = self.declare("sg", ty, false);
                out.push(Node::Let { local: id, value });
                // Sums, minima and maxima of floats are not clean (see
                // `subgroup_expr`); nothing here claims otherwise.
                self.bind(Var {
                    id,
                    ty,
                    assignable: false,
                    clean: false,
                });
            }
            K::Assign => {
                let vars: Vec<Var> = self
                    .scopes
                    .iter()
                    .flatten()
                    .filter(|v| v.assignable)
                    .copied()
                    .collect();
                let v = self.pick(&vars);
                let value = self.expr(v.ty, d, v.clean);
                out.push(Node::Assign { local: v.id, value });
            }
            K::Store | K::WideStore => {
                let outs: Vec<_> = self
                    .outs
                    .iter()
                    .filter(|o| matches!(kind, K::Store) || o.1.is_wide())
                    .copied()
                    .collect();
                let (buf, ty) = self.pick(&outs);
                let (index, own_slot) = self.out_slot(buf);
                let value = self.expr(ty, d, false);
                // A store to the invocation's own slot whose value loads
                // nothing is in range: sometimes it is vouched for with an
                // `unsafe` block, which every target must then run unchecked
                // to the same result.
                let vouchable = own_slot
                    && value
                        .find_map(&mut |e| matches!(e, Expr::Load { .. }).then_some(()))
                        .is_none();
                let store = Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                };
                if vouchable && self.src.chance(1, 3) {
                    out.push(Node::Unsafe { body: vec![store] });
                } else {
                    out.push(store);
                }
            }
            K::SharedStore => {
                let Some((sid, elem)) = self.sh else {
                    return;
                };
                let index = self.sh_index(sid);
                let value = self.expr(elem, d, false);
                out.push(Node::Store {
                    buf: BufRef::Shared(sid),
                    index,
                    value,
                });
            }
            K::PrivateStore => {
                let (id, elem, len) = self.pick(&self.privs.clone());
                let index = self.priv_index(len, d.saturating_sub(1));
                // Only clean floats: loads of the array count as clean.
                let value = self.expr(elem, d, elem.is_float());
                out.push(Node::Store {
                    buf: BufRef::Private(id),
                    index,
                    value,
                });
            }
            K::Approx => {
                let Some(buf) = self.out_f32 else { return };
                // Odd slots are the inexact ones (never read back).
                let j = 1 + 2 * self.src.below(self.slots / 2);
                let (value, op) = self.approx();
                let t = &mut self.f_tol[j as usize];
                *t = t.join(op_tolerance(op));
                let index = self.own_slot(j);
                out.push(Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                });
            }
            K::ApproxWide => {
                let Some(buf) = self.out_f64 else { return };
                // Odd slots are the inexact ones (never read back).
                let j = 1 + 2 * self.src.below(self.slots / 2);
                let (value, op) = self.approx_f64();
                let t = &mut self.d_tol[j as usize];
                *t = t.join(op_tolerance_f64(op));
                let index = self.own_slot(j);
                out.push(Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                });
            }
            K::If => {
                // The condition runs where the `if` is; the branches may
                // diverge.
                let cond = self.expr(DataType::Bool, d, false);
                let (then, otherwise) = self.non_uniform(|g| {
                    let then = g.block(depth + 1);
                    let otherwise = if g.src.chance(1, 2) {
                        g.block(depth + 1)
                    } else {
                        Vec::new()
                    };
                    (then, otherwise)
                });
                out.push(Node::If {
                    cond,
                    then,
                    otherwise,
                });
            }
            K::For => self.for_loop(depth, out),
            K::While | K::Loop => {
                let kind_while = matches!(self.pick(&[0, 1]), 0);
                let counter = self.declare("c", DataType::U32, true);
                out.push(Node::Let {
                    local: counter,
                    value: Expr::u32(0),
                });
                let trip = Expr::u32(1 + self.src.below(self.cfg.max_trip.max(1)));
                let bump = Node::Assign {
                    local: counter,
                    value: Expr::Local(counter).add(Expr::u32(1)),
                };
                self.scopes.push(vec![Var {
                    id: counter,
                    ty: DataType::U32,
                    assignable: false,
                    clean: true,
                }]);
                self.loops.push(true);
                self.loop_vars.push(LoopVar {
                    id: counter,
                    ty: DataType::U32,
                    range: None,
                });
                // A `while` condition is evaluated again after some
                // invocations left: never a collective there, nor in the
                // body (the loop's trip count may differ per invocation).
                if kind_while {
                    let extra = self.non_uniform(|g| g.expr(DataType::Bool, 2, false));
                    let mut body = vec![bump];
                    body.extend(self.non_uniform(|g| g.block(depth + 1)));
                    out.push(Node::While {
                        cond: Expr::Local(counter).lt(trip).and(extra),
                        body,
                    });
                } else {
                    let mut body = vec![
                        Node::If {
                            cond: Expr::Local(counter).ge(trip),
                            then: vec![Node::Break],
                            otherwise: Vec::new(),
                        },
                        bump,
                    ];
                    body.extend(self.non_uniform(|g| g.block(depth + 1)));
                    out.push(Node::Loop { body });
                }
                self.loop_vars.pop();
                self.loops.pop();
                self.scopes.pop();
            }
            K::Jump => out.push(if self.src.chance(1, 2) {
                Node::Continue
            } else {
                Node::Break
            }),
            K::Return => {
                // Invocations that took another path run on without the
                // returned ones: no collective after this point.
                if !self.uniform {
                    self.returned_divergently = true;
                }
                out.push(Node::Return);
            }
            K::AtomicOwn => self.atomic_own(out),
            K::AtomicShared => self.atomic_contended(out),
        }
    }

    pub(super) fn for_loop(&mut self, depth: u32, out: &mut Vec<Node>) {
        let ty = self.int_ty();
        let strided = self.cfg.strided_loops;
        let step = if strided {
            self.pick(&[1u32, 1, 1, 1, 2, 3, 4])
        } else {
            1
        };
        let (start, end) = match self.src.below(if strided { 5 } else { 4 }) {
            0 | 1 => self.literal_bounds(ty, step),
            2 | 3 => self.data_bounds(ty, step, out),
            _ => self.overflow_bounds(ty, step, out),
        };
        let range = super::literal_range(&start, &end, step);
        // `#[unroll]` needs literal bounds (the trip count is at most
        // `max_trip`, far below the validator's limit).
        let unroll = range.is_some() && self.cfg.unrolled_loops && self.src.chance(1, 2);
        let var = self.declare("i", ty, false);
        self.scopes.push(vec![Var {
            id: var,
            ty,
            assignable: false,
            clean: true,
        }]);
        // No `break`/`continue` of an unrolled loop (loops nested in it may
        // have theirs).
        self.loops.push(!unroll);
        self.loop_vars.push(LoopVar { id: var, ty, range });
        // Conservatively non-uniform: bounds may be data-derived, and a
        // `break` under a divergent branch would leave the rest divergent.
        let body = self.non_uniform(|g| g.block(depth + 1));
        self.loop_vars.pop();
        self.loops.pop();
        self.scopes.pop();
        out.push(Node::For {
            var,
            start,
            end,
            step,
            unroll,
            body,
        });
    }

    /// Literal bounds spanning at most `max_trip` values of `step`; a start
    /// near the top of the type makes the end wrap (an empty range) or the
    /// variable overflow (the loop ends).
    fn literal_bounds(&mut self, ty: DataType, step: u32) -> (Expr, Expr) {
        let trip = self.src.below(self.cfg.max_trip + 1);
        let bits = self.pick(&[0u32, 0, 5, 0x7FFF_FFFD, 0xFFFF_FFFD, 0x8000_0000]);
        // `trip` iterations: the last value is `start + (trip - 1) * step`,
        // the end anywhere after it up to one step further.
        let span = match trip {
            0 => 0,
            t => (t - 1) * step + 1 + self.src.below(step),
        };
        (lit_of(ty, bits), lit_of(ty, bits.wrapping_add(span)))
    }

    /// A data-dependent start `s` and `s + (e & m) * step (+ r)`: at most
    /// `max_trip` iterations, and a wrapping end gives an empty range.
    fn data_bounds(&mut self, ty: DataType, step: u32, out: &mut Vec<Node>) -> (Expr, Expr) {
        let s = self.declare("s", ty, false);
        let value = self.expr(ty, 2, false);
        out.push(Node::Let { local: s, value });
        let m = self.cfg.max_trip.min(3);
        let span = if m == 0 {
            lit_of(ty, 0)
        } else if step == 1 {
            let e = self.expr(ty, 1, false);
            e.bitand(lit_of(ty, 3)).bitand(lit_of(ty, m))
        } else {
            // `(e & (m - 1)) * step + (f & (step - 1))`: at most `m - 1`
            // whole steps plus one partial one.
            let whole = self.expr(ty, 1, false).bitand(lit_of(ty, m - 1));
            let part = self.expr(ty, 1, false).bitand(lit_of(ty, step - 1));
            whole.mul(lit_of(ty, step)).add(part)
        };
        (Expr::Local(s), Expr::Local(s).add(span))
    }

    /// A range ending at (or just below) the type's maximum, such as
    /// `(u32::MAX - a..u32::MAX).step_by(step)`: the variable would overflow
    /// past the last value, so the loop ends there after at most `max_trip`
    /// iterations.
    fn overflow_bounds(&mut self, ty: DataType, step: u32, out: &mut Vec<Node>) -> (Expr, Expr) {
        let max = if ty == DataType::I32 {
            i32::MAX.cast_unsigned()
        } else {
            u32::MAX
        };
        let end = max - self.src.below(2);
        let most = self.cfg.max_trip * step;
        if self.src.chance(1, 2) {
            // `end - (e & m)`: at most `m` values, stepped.
            let m = self.cfg.max_trip.min(3);
            let s = self.declare("s", ty, false);
            let e = self.expr(ty, 1, false).bitand(lit_of(ty, m));
            out.push(Node::Let {
                local: s,
                value: lit_of(ty, end).sub(e),
            });
            (Expr::Local(s), lit_of(ty, end))
        } else {
            let a = self.src.below(most + 1);
            (lit_of(ty, end - a), lit_of(ty, end))
        }
    }

    /// Every atomic operation on an own slot (deterministic old value).
    pub(super) fn atomic_own(&mut self, out: &mut Vec<Node>) {
        let mut targets: Vec<(BufRef, DataType)> = self
            .outs
            .iter()
            .filter(|o| is_atomic_elem(o.1))
            .map(|&(id, t)| (BufRef::Param(id), t))
            .collect();
        if let Some((sid, t)) = self.sh
            && is_atomic_elem(t)
            && self.epoch == Epoch::Write
        {
            targets.push((BufRef::Shared(sid), t));
        }
        if targets.is_empty() {
            return;
        }
        let (buf, elem) = self.pick(&targets);
        let op = self.pick(&AtomicOp::ALL);
        let index = match buf {
            BufRef::Param(id) => self.out_index(id),
            BufRef::Shared(sid) => self.sh_index(sid),
            // Atomics are never generated on private arrays (invalid).
            BufRef::Private(_) => return,
        };
        let d = self.cfg.max_expr_depth.min(2);
        let expected = (op == AtomicOp::CompareExchange).then(|| self.expr(elem, d, false));
        let value = self.expr(elem, d, false);
        let atomic = AtomicCall {
            op,
            buf,
            index,
            expected,
            value,
        };
        self.bind_atomic(atomic, elem, true, out);
    }

    /// Commutative atomics on contended elements; old values are dropped.
    pub(super) fn atomic_contended(&mut self, out: &mut Vec<Node>) {
        let mut targets: Vec<(BufRef, DataType, AtomicOp)> = Vec::new();
        if let Some((id, t)) = self.acc {
            targets.push((BufRef::Param(id), t, self.acc_op));
        }
        if let Some((sid, t)) = self.sh_acc
            && matches!(self.epoch, Epoch::Write | Epoch::Read)
        {
            targets.push((BufRef::Shared(sid), t, self.sh_acc_op));
        }
        if targets.is_empty() {
            return;
        }
        let (buf, elem, op) = self.pick(&targets);
        let index = self.wild_index(2);
        let value = if elem == DataType::F32 {
            // An integer below 256: any order of the additions is exact.
            let bits = self.expr(DataType::U32, 2, false);
            Expr::Cast(
                DataType::F32,
                Box::new(Expr::Binary(
                    vyre::ir::BinOp::BitAnd,
                    Box::new(bits),
                    Box::new(Expr::Lit(vyre::ir::Literal::U32(255))),
                )),
            )
        } else {
            self.expr(elem, 2, false)
        };
        let atomic = AtomicCall {
            op,
            buf,
            index,
            expected: None,
            value,
        };
        self.bind_atomic(atomic, elem, false, out);
    }

    /// Use an atomic as a statement, a `let` or an assignment; its old
    /// value is only made readable when `readable`.
    pub(super) fn bind_atomic(
        &mut self,
        atomic: AtomicCall,
        elem: DataType,
        readable: bool,
        out: &mut Vec<Node>,
    ) {
        match self.src.below(3) {
            0 => out.push(atomic.into_node(AtomicResult::Discard)),
            1 => {
                let id = self.declare("old", elem, false);
                out.push(atomic.into_node(AtomicResult::Let(id)));
                if readable {
                    self.bind(Var {
                        id,
                        ty: elem,
                        assignable: false,
                        clean: true,
                    });
                }
            }
            _ => {
                let vars: Vec<Var> = self
                    .vars(elem)
                    .into_iter()
                    .filter(|v| v.assignable)
                    .collect();
                if readable && !vars.is_empty() {
                    let v = self.pick(&vars);
                    out.push(atomic.into_node(AtomicResult::Assign(v.id)));
                } else {
                    out.push(atomic.into_node(AtomicResult::Discard));
                }
            }
        }
    }
}

/// Whether atomics may use elements of `t` (`u32` and `i32` only).
fn is_atomic_elem(t: DataType) -> bool {
    matches!(t, DataType::U32 | DataType::I32)
}
