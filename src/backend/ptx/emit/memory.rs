//! Loads, stores and atomics on buffers and shared arrays, with their
//! bounds checks.

use crate::ir::{Access, AtomicOp, BufRef, DataType, Expr};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Inst, Mod, Opcode, Reg, Symbol, int};
use super::{Emitter, Val, class_of, mov_ty, sfx, zero_of};
use crate::mid::align::keyed;

impl Emitter<'_> {
    /// Address of `buf[index]` and the in-range predicate (None: proven or
    /// unchecked). Global addresses are `.b64`, shared ones `.b32`.
    fn address(&mut self, buf: BufRef, index: &Expr) -> (Reg, Option<Reg>) {
        let check = self.bounds.needs_check(index);
        let idx = self.expr(index);
        let idx_r = self.in_reg(&idx);
        match buf {
            BufRef::Param(p) => {
                let (base, len) = self.params[p as usize];
                let len = len.unwrap_or(base);
                let pred = check.then(|| {
                    let pr = self.code.reg(Class::Pred);
                    ins!(self.code; Setp.Lt.U32 pr, idx_r, len);
                    pr
                });
                let off = self.code.reg(Class::Rd);
                let addr = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Wide.U32 off, idx_r, int(4));
                ins!(self.code; Add.S64 addr, base, off);
                (addr, pred)
            }
            BufRef::Shared(s) => {
                let len = self.program.shared[s as usize].len;
                let pred = check.then(|| {
                    let pr = self.code.reg(Class::Pred);
                    ins!(self.code; Setp.Lt.U32 pr, idx_r, int(i64::from(len)));
                    pr
                });
                let base = self.code.reg(Class::R);
                let addr = self.code.reg(Class::R);
                ins!(self.code; Mov.U32 base, Symbol::Shared(s as usize));
                ins!(self.code; Mad.Lo.U32 addr, idx_r, int(4), base);
                (addr, pred)
            }
            // TEMP(private arrays): rejected up front until the target implements them.
            BufRef::Private(_) => (self.code.reg(Class::R), None),
        }
    }

    /// The state space of an access to `buf`.
    pub(super) fn space(&self, buf: BufRef, load: bool) -> Mod {
        match buf {
            BufRef::Shared(_) | BufRef::Private(_) => Mod::Shared,
            BufRef::Param(p) => {
                // `&[T]` cannot alias a `&mut` argument (the launcher's
                // borrows forbid it), so the non-coherent read-only path is
                // safe for the whole launch.
                let ro = self
                    .program
                    .buffer(p)
                    .is_some_and(|b| b.access == Access::Read);
                if load && ro {
                    Mod::GlobalNc
                } else {
                    Mod::Global
                }
            }
        }
    }

    pub(super) fn load(&mut self, buf: BufRef, index: &Expr) -> Val {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        if let BufRef::Param(p) = buf
            && !self.vec_cache.is_empty()
            && let Some((key, off)) = keyed(index)
            && let Some((.., r)) = self
                .vec_cache
                .iter()
                .find(|(q, k, o, _)| *q == p && *k == key && *o == off)
        {
            self.bounds.served_by_group(index);
            return Val::reg(*r, ty);
        }
        let (addr, pred) = self.address(buf, index);
        let d = self.code.reg(class_of(ty));
        let space = self.space(buf, true);
        let s = sfx(ty);
        match pred {
            Some(p) => {
                ins!(self.code; Mov.(mov_ty(ty)) d, zero_of(ty));
                ins!(self.code; @p; Ld.(space).(s) d, Addr::reg(addr));
            }
            None => ins!(self.code; Ld.(space).(s) d, Addr::reg(addr)),
        }
        Val::reg(d, ty)
    }

    pub(super) fn store(&mut self, buf: BufRef, index: &Expr, value: &Expr) {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        let v = self.expr(value);
        let vr = self.in_reg(&v);
        let (addr, pred) = self.address(buf, index);
        let space = self.space(buf, false);
        self.code.push(
            Inst::new(
                Opcode::St,
                &[space, sfx(ty)],
                &[Addr::reg(addr).into(), vr.into()],
            )
            .when_some(pred),
        );
    }

    /// An atomic; `used`: whether the old value is needed (else a `red`).
    pub(super) fn atomic(
        &mut self,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
        used: bool,
    ) -> Val {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        let exp = expected.map(|x| {
            let v = self.expr(x);
            self.in_reg(&v)
        });
        let v = self.expr(value);
        let mut vr = self.in_reg(&v);
        let (addr, pred) = self.address(buf, index);
        let space = self.space(buf, false);
        let (name, t) = match op {
            AtomicOp::Add => (
                Mod::Add,
                if ty == DataType::I32 {
                    Mod::S32
                } else {
                    Mod::U32
                },
            ),
            AtomicOp::Sub => {
                let n = self.code.reg(Class::R);
                ins!(self.code; Neg.S32 n, vr);
                vr = n;
                (Mod::Add, Mod::U32)
            }
            AtomicOp::Min => (Mod::Min, sfx(ty)),
            AtomicOp::Max => (Mod::Max, sfx(ty)),
            AtomicOp::And => (Mod::And, Mod::B32),
            AtomicOp::Or => (Mod::Or, Mod::B32),
            AtomicOp::Xor => (Mod::Xor, Mod::B32),
            AtomicOp::Exchange => (Mod::Exch, Mod::B32),
            AtomicOp::CompareExchange => (Mod::Cas, Mod::B32),
        };
        let mods = [space, name, t];
        let d = self.code.reg(Class::R);
        let can_red = !matches!(op, AtomicOp::Exchange | AtomicOp::CompareExchange);
        if !used && can_red {
            self.code.push(
                Inst::new(Opcode::Red, &mods, &[Addr::reg(addr).into(), vr.into()]).when_some(pred),
            );
            return Val::reg(d, ty);
        }
        if pred.is_some() {
            ins!(self.code; Mov.B32 d, int(0));
        }
        let inst = match exp {
            Some(x) => Inst::new(
                Opcode::Atom,
                &mods,
                &[d.into(), Addr::reg(addr).into(), x.into(), vr.into()],
            ),
            None => Inst::new(
                Opcode::Atom,
                &mods,
                &[d.into(), Addr::reg(addr).into(), vr.into()],
            ),
        };
        self.code.push(inst.when_some(pred));
        Val::reg(d, ty)
    }
}
