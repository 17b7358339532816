//! Statements: blocks, control flow, loops and atomics.

use vyre::ir::{AtomicCall, AtomicOp, AtomicResult, BufRef, DataType, Expr, Node};

use super::{Epoch, Gen, Var, lit_of};
use crate::compare::op_tolerance;
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
        let int_outs = self.outs.iter().any(|o| o.1.is_integer());
        let sh_int = self.sh.is_some_and(|s| s.1.is_integer());
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
        let d = self.cfg.max_expr_depth;
        match self.pick(&kinds) {
            K::Let => {
                let ty = self.any_ty();
                let clean = ty == DataType::F32 && self.src.chance(1, 2);
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
            K::Store => {
                let (buf, ty) = self.pick(&self.outs.clone());
                let index = self.out_index(buf);
                let value = self.expr(ty, d, false);
                out.push(Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                });
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
            K::If => {
                let cond = self.expr(DataType::Bool, d, false);
                let then = self.block(depth + 1);
                let otherwise = if self.src.chance(1, 2) {
                    self.block(depth + 1)
                } else {
                    Vec::new()
                };
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
                if kind_while {
                    let extra = self.expr(DataType::Bool, 2, false);
                    let mut body = vec![bump];
                    body.extend(self.block(depth + 1));
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
                    body.extend(self.block(depth + 1));
                    out.push(Node::Loop { body });
                }
                self.loops.pop();
                self.scopes.pop();
            }
            K::Jump => out.push(if self.src.chance(1, 2) {
                Node::Continue
            } else {
                Node::Break
            }),
            K::Return => out.push(Node::Return),
            K::AtomicOwn => self.atomic_own(out),
            K::AtomicShared => self.atomic_contended(out),
        }
    }

    pub(super) fn for_loop(&mut self, depth: u32, out: &mut Vec<Node>) {
        let ty = self.int_ty();
        let trip = self.src.below(self.cfg.max_trip + 1);
        let (start, end) = if self.src.chance(1, 2) {
            // Data-dependent start; the span `e & 3` is at most 3, and a
            // wrapping end gives an empty range.
            let s = self.declare("s", ty, false);
            let value = self.expr(ty, 2, false);
            out.push(Node::Let { local: s, value });
            let span = self.expr(ty, 1, false).bitand(lit_of(ty, 3));
            let span = span.bitand(lit_of(ty, self.cfg.max_trip.min(3)));
            (Expr::Local(s), Expr::Local(s).add(span))
        } else {
            let bits = self.pick(&[0u32, 0, 5, 0x7FFF_FFFD, 0xFFFF_FFFD, 0x8000_0000]);
            let start = lit_of(ty, bits);
            let end = lit_of(ty, bits.wrapping_add(trip));
            (start, end)
        };
        let var = self.declare("i", ty, false);
        self.scopes.push(vec![Var {
            id: var,
            ty,
            assignable: false,
            clean: true,
        }]);
        self.loops.push(true);
        let body = self.block(depth + 1);
        self.loops.pop();
        self.scopes.pop();
        out.push(Node::For {
            var,
            start,
            end,
            step: 1,
            unroll: false,
            body,
        });
    }

    /// Every atomic operation on an own slot (deterministic old value).
    pub(super) fn atomic_own(&mut self, out: &mut Vec<Node>) {
        let mut targets: Vec<(BufRef, DataType)> = self
            .outs
            .iter()
            .filter(|o| o.1.is_integer())
            .map(|&(id, t)| (BufRef::Param(id), t))
            .collect();
        if let Some((sid, t)) = self.sh
            && t.is_integer()
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
        let value = self.expr(elem, 2, false);
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
