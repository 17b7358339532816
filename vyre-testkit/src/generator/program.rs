//! The program skeleton: parameters, inputs, the grid, the prologue and
//! the barrier-separated epochs.

use vyre::ir::{
    Access, Axis, BufRef, BufferDecl, Builtin, DataType, Expr, Node, Param, PrivateDecl, PrivateId,
    SharedDecl, SharedId,
};

use super::{COMMUTATIVE, Check, Epoch, Gen, LoopVar, Value, Var, literal_range};
use crate::compare::Tolerance;
use crate::source::Source;

impl<S: Source> Gen<'_, S> {
    pub(super) fn program(&mut self) {
        let cfg = self.cfg;
        // One program in `wide_one_in` uses the 64-bit types (the last
        // option: the simplest program has none). No draw for 0 or 1.
        self.wide = match cfg.wide_one_in {
            0 => false,
            1 => true,
            n => self.src.below(n) == n - 1,
        };
        // Workgroup shape, including non-powers of two and 2-D/3-D shapes.
        let max_inv = cfg.max_workgroup_invocations.clamp(1, 1024);
        // With subgroups, more sizes above 8 that leave a partial last
        // subgroup of 8 or 32 lanes.
        let widths: &[u32] = if cfg.subgroups {
            &[1, 2, 4, 8, 16, 32, 64, 3, 5, 7, 12, 20, 33, 40, 48]
        } else {
            &[1, 2, 4, 8, 16, 32, 64, 3, 5, 7, 12]
        };
        let wx = self.pick(widths).min(max_inv);
        // Collective subgroup operations need a 1-D workgroup (validation's
        // shape rule), so with subgroups 1-D shapes are more frequent.
        let ys: &[u32] = if cfg.subgroups {
            &[1, 1, 1, 1, 2, 3]
        } else {
            &[1, 1, 2, 3]
        };
        let wy = self.pick(ys).min(max_inv / wx).max(1);
        let wz = self.pick(&[1u32, 1, 2]).min(max_inv / (wx * wy)).max(1);
        self.p.workgroup_size = [wx, wy, wz];
        self.invocations = wx * wy * wz;
        let max_wg = cfg.max_workgroups.max(1);
        let gx = 1 + self.src.below(max_wg.min(4));
        let gy = 1 + self.src.below((max_wg / gx).clamp(1, 2));
        let gz = 1 + self.src.below((max_wg / (gx * gy)).clamp(1, 2));
        self.grid = [gx, gy, gz];
        let total = self.invocations * gx * gy * gz;
        self.slots = 1 + self.src.below(cfg.max_slots.max(1));

        // Read-only inputs.
        for _ in 0..self.src.below(4) {
            let elem = self.elem_ty();
            let len = 1 + self.src.below(cfg.max_input_len.max(1));
            let data = (0..len).map(|_| self.input_word(elem, len)).collect();
            let name = format!("in{}", self.ins.len());
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name,
                    elem,
                    access: Access::Read,
                }),
                Value::Buffer { elem, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            self.ins.push((id, elem));
        }
        // Scalars.
        for i in 0..self.src.below(4) {
            let ty = self.any_ty();
            let Expr::Lit(l) = self.lit(ty) else {
                unreachable!("lit() returns a literal")
            };
            let id = self.add_param(
                Param::Scalar {
                    name: format!("arg{i}"),
                    ty,
                },
                Value::Scalar(l),
                None,
            );
            self.scalars.push((id, ty));
        }
        // Own-slot outputs: `out_u32` always, the others sometimes.
        let out_len = total * self.slots;
        for (ty, always) in [
            (DataType::U32, true),
            (DataType::I32, false),
            (DataType::F32, false),
        ] {
            if !always && (!self.src.chance(1, 2) || (ty == DataType::F32 && !cfg.floats)) {
                continue;
            }
            let data = (0..out_len)
                .map(|_| u64::from(self.raw_value(ty)))
                .collect();
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name: format!("out_{ty}"),
                    elem: ty,
                    access: Access::ReadWrite,
                }),
                Value::Buffer { elem: ty, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            if ty == DataType::F32 {
                self.out_f32 = Some(id);
                self.f_tol = vec![Tolerance::FloatExact; self.slots as usize];
            }
            self.outs.push((id, ty));
        }
        // Narrow own-slot outputs, with the narrow types.
        if cfg.narrow {
            for _ in 0..self.src.below(3) {
                let ty = self.narrow_ty();
                if self.outs.iter().any(|o| o.1 == ty) {
                    continue;
                }
                let data = (0..out_len)
                    .map(|_| u64::from(self.raw_value(ty)))
                    .collect();
                // Floats compare as the f32s they equal: any NaN equals any
                // NaN, and zeros of either sign (`min`/`max` of `0.0` and
                // `-0.0` may return either).
                let tol = if ty.is_float() {
                    Tolerance::FloatExact
                } else {
                    Tolerance::Bits
                };
                let id = self.add_param(
                    Param::Buffer(BufferDecl {
                        name: format!("out_{ty}"),
                        elem: ty,
                        access: Access::ReadWrite,
                    }),
                    Value::Buffer { elem: ty, data },
                    Some(Check { slots: vec![tol] }),
                );
                self.outs.push((id, ty));
            }
        }
        // 64-bit own-slot outputs in a wide program: at least one.
        if self.wide {
            let first = self.wide_ty();
            for ty in super::WIDE {
                if ty == DataType::F64 && !cfg.floats {
                    continue;
                }
                if ty != first && !self.src.chance(1, 3) {
                    continue;
                }
                let data = (0..out_len).map(|_| self.raw_bits(ty)).collect();
                let tol = if ty == DataType::F64 {
                    Tolerance::FloatExact
                } else {
                    Tolerance::Bits
                };
                let id = self.add_param(
                    Param::Buffer(BufferDecl {
                        name: format!("out_{ty}"),
                        elem: ty,
                        access: Access::ReadWrite,
                    }),
                    Value::Buffer { elem: ty, data },
                    Some(Check { slots: vec![tol] }),
                );
                if ty == DataType::F64 {
                    // Even slots exact, odd ones for division.
                    self.out_f64 = Some(id);
                    self.d_tol = vec![Tolerance::FloatExact; self.slots as usize];
                }
                self.outs.push((id, ty));
            }
        }
        // Contended atomic accumulator.
        if cfg.atomics && self.src.chance(1, 2) {
            let float = cfg.float_atomics && cfg.floats && self.src.chance(1, 4);
            let elem = if float { DataType::F32 } else { self.int_ty() };
            let len = 1 + self.src.below(8);
            let data = (0..len)
                .map(|_| {
                    if float {
                        // Small integers: the sums stay exact.
                        u64::from((self.src.below(64) as f32).to_bits())
                    } else {
                        u64::from(self.raw_int())
                    }
                })
                .collect();
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name: "acc".to_string(),
                    elem,
                    access: Access::ReadWrite,
                }),
                Value::Buffer { elem, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            self.acc = Some((id, elem));
            self.acc_op = if float {
                vyre::ir::AtomicOp::Add
            } else {
                self.pick(&COMMUTATIVE)
            };
        }
        // Shared memory.
        if cfg.shared && self.src.chance(1, 2) {
            let elem = self.elem_ty();
            self.sh_slots = 1 + self.src.below(3);
            self.p.shared.push(SharedDecl {
                name: "sh".to_string(),
                elem,
                len: self.invocations * self.sh_slots,
                layout: vyre::ir::SharedLayout::Linear,
            });
            self.sh = Some(((self.p.shared.len() - 1) as SharedId, elem));
        }
        if cfg.shared && cfg.atomics && self.src.chance(1, 3) {
            let elem = self.int_ty();
            let len = (1 + self.src.below(4)).min(self.invocations);
            self.p.shared.push(SharedDecl {
                name: "sh_acc".to_string(),
                elem,
                len,
                layout: vyre::ir::SharedLayout::Linear,
            });
            self.sh_acc = Some(((self.p.shared.len() - 1) as SharedId, elem));
            self.sh_acc_op = self.pick(&COMMUTATIVE);
        }

        // Private arrays: per invocation, zero at the start.
        if cfg.private_arrays {
            for i in 0..self.src.below(3) {
                let elem = self.elem_ty();
                let len = 1 + self.src.below(16);
                self.p.private.push(PrivateDecl {
                    name: format!("priv{i}"),
                    elem,
                    len,
                });
                let id = (self.p.private.len() - 1) as PrivateId;
                self.privs.push((id, elem, len));
            }
        }

        let mut body = self.prologue();
        for _ in 0..self.src.below(cfg.max_segments + 1) {
            self.segment(&mut body);
        }
        self.epoch = Epoch::Final;
        if let Some((sid, elem)) = self.sh_acc {
            // Flush: every contended shared atomic happened before the last
            // barrier; read the totals into an own slot.
            let len = self.p.shared[sid as usize].len;
            let lid = Expr::Local(self.lid);
            let v = Expr::Load {
                buf: BufRef::Shared(sid),
                index: Box::new(lid.rem(Expr::u32(len))),
            };
            let out = self.outs[0].0;
            body.push(Node::Store {
                buf: BufRef::Param(out),
                index: self.own_slot(0),
                value: if elem == DataType::U32 {
                    v
                } else {
                    v.cast(DataType::U32)
                },
            });
        }
        let fin = self.block(0);
        body.extend(fin);
        self.p.body = body;
    }

    /// One element of an input buffer of `len` elements, as its bits
    /// zero-extended.
    pub(super) fn input_word(&mut self, elem: DataType, len: u32) -> u64 {
        let bits = match (elem, self.src.below(3)) {
            // Small values make good data-derived indices.
            (t, 0) if t.is_integer() => u64::from(self.src.below(len + 3)),
            (t, 1) if t.is_signed() => (i64::from(self.src.below(9)) - 4).cast_unsigned(),
            _ => self.raw_bits(elem),
        };
        // A narrower element's bits, zero-extended.
        bits & super::mask64(elem)
    }

    pub(super) fn prologue(&mut self) -> Vec<Node> {
        let [wx, wy, _] = self.p.workgroup_size;
        let b = |bi, ax| Expr::Builtin(bi, ax);
        let lid_e = b(Builtin::LocalId, Axis::X)
            .add(b(Builtin::LocalId, Axis::Y).mul(Expr::u32(wx)))
            .add(b(Builtin::LocalId, Axis::Z).mul(Expr::u32(wx * wy)));
        let wg = b(Builtin::WorkgroupId, Axis::X)
            .add(b(Builtin::WorkgroupId, Axis::Y).mul(b(Builtin::NumWorkgroups, Axis::X)))
            .add(
                b(Builtin::WorkgroupId, Axis::Z)
                    .mul(b(Builtin::NumWorkgroups, Axis::X))
                    .mul(b(Builtin::NumWorkgroups, Axis::Y)),
            );
        self.lid = self.declare("lid", DataType::U32, false);
        self.gid = self.declare("gid", DataType::U32, false);
        let gid_e = wg
            .mul(Expr::u32(self.invocations))
            .add(Expr::Local(self.lid));
        let mut body = vec![
            Node::Let {
                local: self.lid,
                value: lid_e,
            },
            Node::Let {
                local: self.gid,
                value: gid_e,
            },
        ];
        for (id, ty) in [(self.lid, DataType::U32), (self.gid, DataType::U32)] {
            self.bind(Var {
                id,
                ty,
                assignable: false,
                clean: true,
            });
        }
        self.epoch = Epoch::Init;
        let mut any_shared = false;
        if let Some((sid, elem)) = self.sh {
            any_shared = true;
            for j in 0..self.sh_slots {
                let value = self.expr(elem, self.cfg.max_expr_depth, false);
                body.push(Node::Store {
                    buf: BufRef::Shared(sid),
                    index: Expr::Local(self.lid)
                        .mul(Expr::u32(self.sh_slots))
                        .add(Expr::u32(j)),
                    value,
                });
            }
        }
        if let Some((sid, elem)) = self.sh_acc {
            any_shared = true;
            let len = self.p.shared[sid as usize].len;
            // Stored under `lid < len`: no collective in it.
            let value = self.non_uniform(|g| g.expr(elem, 1, false));
            body.push(Node::If {
                cond: Expr::Local(self.lid).lt(Expr::u32(len)),
                then: vec![Node::Store {
                    buf: BufRef::Shared(sid),
                    index: Expr::Local(self.lid),
                    value,
                }],
                otherwise: Vec::new(),
            });
        }
        if any_shared {
            body.push(Node::Barrier);
        }
        body
    }

    /// A barrier-terminated segment: a plain block in a write or read
    /// epoch, or a uniform `for` loop of write epoch, barrier, read epoch,
    /// barrier.
    pub(super) fn segment(&mut self, body: &mut Vec<Node>) {
        if self.src.chance(1, 2) {
            let ty = self.int_ty();
            let trip = 1 + self.src.below(self.cfg.max_trip.max(1));
            let step = if self.cfg.strided_loops {
                self.pick(&[1u32, 1, 1, 2, 3])
            } else {
                1
            };
            // Constant bounds, so every invocation reaches the barriers the
            // same number of times: `trip` values, `step` apart.
            let span = (trip - 1) * step + 1;
            let var = self.declare("k", ty, false);
            let (start, end) = match ty {
                DataType::I32 => (Expr::i32(-1), Expr::i32(span.cast_signed() - 1)),
                _ => (Expr::u32(0), Expr::u32(span)),
            };
            // Unrolling repeats the barriers once per copy: still uniform.
            let unroll = self.cfg.unrolled_loops && self.src.chance(1, 3);
            self.scopes.push(vec![Var {
                id: var,
                ty,
                assignable: false,
                clean: true,
            }]);
            self.loops.push(false);
            self.loop_vars.push(LoopVar {
                id: var,
                ty,
                range: literal_range(&start, &end, step),
            });
            self.epoch = Epoch::Write;
            let mut lb = self.block(1);
            lb.push(Node::Barrier);
            self.epoch = Epoch::Read;
            lb.extend(self.block(1));
            lb.push(Node::Barrier);
            self.loop_vars.pop();
            self.loops.pop();
            self.scopes.pop();
            body.push(Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body: lb,
            });
        } else {
            self.epoch = if self.src.chance(1, 2) {
                Epoch::Read
            } else {
                Epoch::Write
            };
            body.extend(self.block(0));
            body.push(Node::Barrier);
        }
    }
}
