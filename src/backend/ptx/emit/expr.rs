//! Expressions: literals, builtins, arithmetic, comparisons, casts and
//! math functions.

use crate::ir::{Axis, BinOp, Builtin, DataType, Expr, Literal, MathFn, Param, UnOp};

use super::super::code::ins;
use super::super::isa::{Class, Imm, Inst, Mod, Opcode, Reg, Special, Src, int};
use super::super::math;
use super::{Emitter, Val, bits_ty, class_of, mov_ty, sfx};
use crate::mid::legal::IntDivision;

impl Emitter<'_> {
    fn lit(l: Literal) -> Val {
        let (imm, ty) = match l.widened() {
            Literal::Bool(b) => (int(i64::from(b)), DataType::Bool),
            Literal::I32(v) => (int(i64::from(v)), DataType::I32),
            Literal::U32(v) => (int(i64::from(v)), DataType::U32),
            Literal::F32(bits) => (Imm::F32(bits), DataType::F32),
            // (A `u64` above `i64::MAX` is written as the negative number
            // of the same bits, which PTX reads as those 64 bits.)
            Literal::U64(v) => (int(v.cast_signed()), DataType::U64),
            Literal::I64(v) => (int(v), DataType::I64),
            Literal::F64(bits) => (Imm::F64(bits), DataType::F64),
            narrow => unreachable!("`{}` literal survived widening", narrow.ty()),
        };
        Val {
            src: Src::Imm(imm),
            ty,
        }
    }

    /// Evaluate `e`; immediates stay immediates (bools become predicates).
    pub(super) fn expr(&mut self, e: &Expr) -> Val {
        if let Some((_, v)) = self.hoisted.iter().find(|(p, _)| std::ptr::eq(*p, e)) {
            return *v;
        }
        match e {
            Expr::Lit(l) => {
                let v = Self::lit(*l);
                if v.ty == DataType::Bool {
                    let r = self.in_reg(&v);
                    Val::reg(r, DataType::Bool)
                } else {
                    v
                }
            }
            Expr::Local(id) => {
                // Values live in their register type (a narrow local, which
                // widening removes, holds its widened value).
                let ty = self.program.locals[*id as usize].ty.register_type();
                Val::reg(self.locals[*id as usize], ty)
            }
            Expr::Subgroup(op, args) => self.subgroup(*op, args),
            Expr::Param(id) => {
                let ty = match &self.program.params[*id as usize] {
                    Param::Scalar { ty, .. } => ty.register_type(),
                    Param::Buffer(_) => DataType::U32,
                };
                Val::reg(self.params[*id as usize].0, ty)
            }
            Expr::Builtin(b, axis) => self.builtin(*b, *axis),
            Expr::Len(id) => {
                // Validation only allows the length of a buffer.
                let (value, len) = self.params[*id as usize];
                Val::reg(len.unwrap_or(value), DataType::U32)
            }
            Expr::Load { buf, index } => self.load(*buf, index),
            Expr::Unary(op, a) => self.unary(*op, a),
            Expr::Binary(op, a, b) => self.binary(*op, a, b),
            Expr::Cast(ty, a) => self.cast(*ty, a),
            Expr::Math(f, args) => self.math(*f, args),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond);
                let t = self.expr(then);
                let o = self.expr(otherwise);
                if t.ty == DataType::Bool {
                    let a = self.code.reg(Class::Pred);
                    let nc = self.code.reg(Class::Pred);
                    let b = self.code.reg(Class::Pred);
                    let d = self.code.reg(Class::Pred);
                    ins!(self.code; And.Pred a, c, t);
                    ins!(self.code; Not.Pred nc, c);
                    ins!(self.code; And.Pred b, nc, o);
                    ins!(self.code; Or.Pred d, a, b);
                    Val::reg(d, DataType::Bool)
                } else {
                    let d = self.code.reg(class_of(t.ty));
                    ins!(self.code; Selp.(mov_ty(t.ty)) d, t, o, c);
                    Val::reg(d, t.ty)
                }
            }
        }
    }

    fn builtin(&mut self, b: Builtin, axis: Axis) -> Val {
        let a = u8::try_from(axis.index()).unwrap_or(0);
        let r = self.code.reg(Class::R);
        match b {
            Builtin::LocalId => ins!(self.code; Mov.U32 r, Special::Tid(a)),
            Builtin::WorkgroupId => ins!(self.code; Mov.U32 r, Special::Ctaid(a)),
            Builtin::NumWorkgroups => ins!(self.code; Mov.U32 r, Special::Nctaid(a)),
            Builtin::GlobalId => {
                let t = self.code.reg(Class::R);
                let c = self.code.reg(Class::R);
                ins!(self.code; Mov.U32 t, Special::Tid(a));
                ins!(self.code; Mov.U32 c, Special::Ctaid(a));
                let size = self.wg[axis.index()];
                ins!(self.code; Mad.Lo.U32 r, c, int(i64::from(size)), t);
            }
        }
        Val::reg(r, DataType::U32)
    }

    fn unary(&mut self, op: UnOp, a: &Expr) -> Val {
        let v = self.expr(a);
        let v_reg = self.in_reg(&v);
        let d = self.code.reg(class_of(v.ty));
        match (op, v.ty) {
            (UnOp::Neg, DataType::F32) => ins!(self.code; Neg.F32 d, v_reg),
            (UnOp::Neg, DataType::F64) => ins!(self.code; Neg.F64 d, v_reg),
            (UnOp::Neg, DataType::I64) => ins!(self.code; Neg.S64 d, v_reg),
            (UnOp::Neg, _) => ins!(self.code; Neg.S32 d, v_reg),
            (UnOp::Not, DataType::Bool) => ins!(self.code; Not.Pred d, v_reg),
            (UnOp::Not, t) => ins!(self.code; Not.(bits_ty(t)) d, v_reg),
        }
        Val::reg(d, v.ty)
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> Val {
        let x = self.expr(a);
        let y = self.expr(b);
        let ty = x.ty;
        match op {
            BinOp::Add | BinOp::Sub if ty == DataType::F32 && !self.fast => {
                // `a + b` as `fma.rn(a, 1, b)` and `a - b` as
                // `fma.rn(b, -1, a)`: the same single rounding, but ptxas
                // (12.9, and the driver's JIT) folds an `add`/`sub` whose
                // operands it knows into a wrongly rounded constant when an
                // effective subtraction ties (16777199 - 1.5 gives 16777197,
                // not 16777198), and it does not fold the `fma`
                // (docs/targets.md, "Constant folding of ties").
                let d = self.code.reg(Class::F);
                if op == BinOp::Add {
                    ins!(self.code; Fma.Rn.F32 d, x, Imm::F32(0x3F80_0000), y);
                } else {
                    ins!(self.code; Fma.Rn.F32 d, y, Imm::F32(0xBF80_0000), x);
                }
                Val::reg(d, ty)
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul if matches!(ty, DataType::F32 | DataType::F64) => {
                let d = self.code.reg(class_of(ty));
                let name = match op {
                    BinOp::Add => Opcode::Add,
                    BinOp::Sub => Opcode::Sub,
                    _ => Opcode::Mul,
                };
                // `.rn` forbids ptxas from contracting a*b+c into an FMA,
                // which would change results versus the reference.
                let mods: &[Mod] = if self.fast {
                    &[sfx(ty)]
                } else {
                    &[Mod::Rn, sfx(ty)]
                };
                self.code
                    .push(Inst::new(name, mods, &[d.into(), x.into(), y.into()]));
                Val::reg(d, ty)
            }
            BinOp::Add | BinOp::Sub => {
                let d = self.code.reg(class_of(ty));
                let name = if op == BinOp::Add {
                    Opcode::Add
                } else {
                    Opcode::Sub
                };
                ins!(self.code; (name).(sfx(ty)) d, x, y);
                Val::reg(d, ty)
            }
            BinOp::Mul => {
                let d = self.code.reg(class_of(ty));
                ins!(self.code; Mul.Lo.(sfx(ty)) d, x, y);
                Val::reg(d, ty)
            }
            // IEEE division; PTX has no approximate `f64` division.
            BinOp::Div if ty == DataType::F64 => {
                let d = self.code.reg(Class::Fd);
                ins!(self.code; Div.Rn.F64 d, x, y);
                Val::reg(d, ty)
            }
            BinOp::Div if ty == DataType::F32 => {
                let d = self.code.reg(Class::F);
                let m = if self.fast { Mod::Approx } else { Mod::Rn };
                ins!(self.code; Div.(m).F32 d, x, y);
                Val::reg(d, ty)
            }
            BinOp::Rem if ty == DataType::F32 => {
                let xr = self.in_reg(&x);
                let yr = self.in_reg(&y);
                let d = math::fmod(&mut self.code, xr, yr);
                Val::reg(d, ty)
            }
            BinOp::Div | BinOp::Rem => self.int_divrem(op, &x, &y),
            BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => {
                let name = match op {
                    BinOp::BitAnd => Opcode::And,
                    BinOp::BitOr => Opcode::Or,
                    _ => Opcode::Xor,
                };
                if ty == DataType::Bool {
                    let d = self.code.reg(Class::Pred);
                    ins!(self.code; (name).Pred d, x, y);
                    Val::reg(d, ty)
                } else {
                    let d = self.code.reg(class_of(ty));
                    ins!(self.code; (name).(bits_ty(ty)) d, x, y);
                    Val::reg(d, ty)
                }
            }
            BinOp::Shl | BinOp::Shr => {
                // PTX shifts clamp amounts >= the width instead of masking
                // them; the amount operand is a `.u32` for every width.
                let mask = i64::from(ty.bits() - 1);
                let amount = if let Some(imm) = y.imm() {
                    // Reinterpreted as unsigned, then masked.
                    let n = imm.as_int().map_or(0, |n| n & mask);
                    Src::Imm(int(n))
                } else if y.ty.is_wide() {
                    let m = self.code.reg(Class::Rd);
                    let m32 = self.code.reg(Class::R);
                    ins!(self.code; And.B64 m, y, int(mask));
                    ins!(self.code; Cvt.U32.U64 m32, m);
                    Src::Reg(m32)
                } else {
                    let m = self.code.reg(Class::R);
                    ins!(self.code; And.B32 m, y, int(mask));
                    Src::Reg(m)
                };
                let xr = self.in_reg(&x);
                let d = self.code.reg(class_of(ty));
                let (name, t) = match (op, ty) {
                    (BinOp::Shl, t) => (Opcode::Shl, bits_ty(t)),
                    (_, DataType::I32 | DataType::I64) => (Opcode::Shr, sfx(ty)),
                    (_, t) if t.is_wide() => (Opcode::Shr, Mod::U64),
                    _ => (Opcode::Shr, Mod::U32),
                };
                ins!(self.code; (name).(t) d, xr, amount);
                Val::reg(d, ty)
            }
            BinOp::Eq | BinOp::Ne if ty == DataType::Bool => {
                let d = self.code.reg(Class::Pred);
                ins!(self.code; Xor.Pred d, x, y);
                if op == BinOp::Eq {
                    let n = self.code.reg(Class::Pred);
                    ins!(self.code; Not.Pred n, d);
                    return Val::reg(n, DataType::Bool);
                }
                Val::reg(d, DataType::Bool)
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let cmp = match op {
                    BinOp::Eq => Mod::Eq,
                    // Rust's `!=` is true when either side is NaN: the
                    // unordered form.
                    BinOp::Ne if ty.is_float() => Mod::Neu,
                    BinOp::Ne => Mod::Ne,
                    BinOp::Lt => Mod::Lt,
                    BinOp::Le => Mod::Le,
                    BinOp::Gt => Mod::Gt,
                    _ => Mod::Ge,
                };
                let xr = self.in_reg(&x);
                let d = self.code.reg(Class::Pred);
                ins!(self.code; Setp.(cmp).(sfx(ty)) d, xr, y);
                Val::reg(d, DataType::Bool)
            }
            BinOp::And | BinOp::Or => {
                let d = self.code.reg(Class::Pred);
                let name = if op == BinOp::And {
                    Opcode::And
                } else {
                    Opcode::Or
                };
                ins!(self.code; (name).Pred d, x, y);
                Val::reg(d, DataType::Bool)
            }
        }
    }

    /// Integer `/` and `%` with the language's total semantics: by zero
    /// yields 0, `i32::MIN / -1` wraps and `i32::MIN % -1` is 0. PTX leaves
    /// both undefined, so the divisor is replaced by 1 where it is 0 (or -1
    /// for signed) and the result fixed up with `selp`.
    fn int_divrem(&mut self, op: BinOp, x: &Val, y: &Val) -> Val {
        let ty = x.ty;
        let name = if op == BinOp::Div {
            Opcode::Div
        } else {
            Opcode::Rem
        };
        let s = sfx(ty);
        let (class, b) = (class_of(ty), bits_ty(ty));
        let neg = if ty.is_wide() { Mod::S64 } else { Mod::S32 };
        let d = self.code.reg(class);
        let divisor = y.imm().map(|imm| imm.as_int().unwrap_or(0));
        let overflow = match IntDivision::of(ty, divisor) {
            IntDivision::ByZero => {
                ins!(self.code; Mov.(b) d, int(0));
                return Val::reg(d, ty);
            }
            IntDivision::ByMinusOne => {
                if op == BinOp::Div {
                    ins!(self.code; Neg.(neg) d, x);
                } else {
                    ins!(self.code; Mov.(b) d, int(0));
                }
                return Val::reg(d, ty);
            }
            IntDivision::ByConstant => {
                let xr = self.in_reg(x);
                // `ptxas` leaves a `u32` division by a constant power of two
                // as a reciprocal sequence (seen in the SASS of the GEMM's
                // copy loops): a shift or a mask instead.
                match divisor {
                    Some(p) if ty == DataType::U32 && p > 0 && (p as u64).is_power_of_two() => {
                        let k = i64::from((p as u64).trailing_zeros());
                        if op == BinOp::Div {
                            ins!(self.code; Shr.U32 d, xr, int(k));
                        } else {
                            ins!(self.code; And.B32 d, xr, int(p - 1));
                        }
                    }
                    _ => ins!(self.code; (name).(s) d, xr, y),
                }
                return Val::reg(d, ty);
            }
            IntDivision::Guarded { overflow } => overflow,
        };
        let xr = self.in_reg(x);
        let zero = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Eq.(s) zero, y, int(0));
        let bad = if overflow {
            let m1 = self.code.reg(Class::Pred);
            let bad = self.code.reg(Class::Pred);
            ins!(self.code; Setp.Eq.(neg) m1, y, int(-1));
            ins!(self.code; Or.Pred bad, zero, m1);
            Some((m1, bad))
        } else {
            None
        };
        let safe = self.code.reg(class);
        let guard = bad.map_or(zero, |(_, b)| b);
        ins!(self.code; Selp.(b) safe, int(1), y, guard);
        let q = self.code.reg(class);
        ins!(self.code; (name).(s) q, xr, safe);
        if let Some((m1, _)) = bad {
            // x / -1 == -x (wrapping); x % -1 == 0.
            let alt = self.code.reg(class);
            if op == BinOp::Div {
                ins!(self.code; Neg.(neg) alt, xr);
            } else {
                ins!(self.code; Mov.(b) alt, int(0));
            }
            let q2 = self.code.reg(class);
            ins!(self.code; Selp.(b) q2, alt, q, m1);
            ins!(self.code; Selp.(b) d, int(0), q2, zero);
        } else {
            ins!(self.code; Selp.(b) d, int(0), q, zero);
        }
        Val::reg(d, ty)
    }

    fn cast(&mut self, to: DataType, a: &Expr) -> Val {
        let v = self.expr(a);
        self.cast_val(to, v)
    }

    /// `v as to`. Values are always in their register type; a cast to a
    /// narrow type is a value of its register type, rounded or wrapped (so
    /// that the widening `Cast(R, ..)` around it is the identity).
    pub(super) fn cast_val(&mut self, to: DataType, v: Val) -> Val {
        if to.is_narrow() {
            return self.cast_to_narrow(to, v);
        }
        let from = v.ty;
        if from == to {
            return v;
        }
        if from.is_integer() && to.is_integer() && from.is_wide() == to.is_wide() {
            // i32 <-> u32 and i64 <-> u64 reinterpret the bits.
            return Val { ty: to, ..v };
        }
        let src = self.in_reg(&v);
        let d = self.code.reg(class_of(to));
        match (from, to) {
            (DataType::Bool, DataType::F32) => {
                ins!(self.code; Selp.F32 d, Imm::f32(1.0), Imm::F32(0), src);
            }
            (DataType::Bool, DataType::F64) => {
                ins!(self.code; Selp.F64 d, Imm::f64(1.0), Imm::F64(0), src);
            }
            (DataType::Bool, t) => ins!(self.code; Selp.(bits_ty(t)) d, int(1), int(0), src),
            // Integer width changes: extended by the source's signedness
            // (Rust's `as`), or truncated. The destination is named with
            // the source's signedness too (the bits are the same): ptxas
            // (12.9 and 13.5) sign-extends a `cvt.s64.u32` that feeds a
            // `shl.b64` (seed 0x318662; docs/bench/ptxas_zext_shl.ptx).
            (f, t) if f.is_integer() && t.is_integer() && t.is_wide() => {
                if f.is_signed() {
                    ins!(self.code; Cvt.S64.S32 d, src);
                } else {
                    ins!(self.code; Cvt.U64.U32 d, src);
                }
            }
            (f, t) if f.is_integer() && t.is_integer() => {
                ins!(self.code; Cvt.U32.U64 d, src);
            }
            (f, DataType::F32 | DataType::F64) if f.is_integer() => {
                ins!(self.code; Cvt.Rn.(sfx(to)).(sfx(from)) d, src);
            }
            // Exact.
            (DataType::F32, DataType::F64) => ins!(self.code; Cvt.F64.F32 d, src),
            (DataType::F64, DataType::F32) => ins!(self.code; Cvt.Rn.F32.F64 d, src),
            // Saturating: Rust's `as` (PTX ISA, cvt: float-to-integer
            // conversions saturate). NaN gives 0 from `f32` to a 32-bit
            // integer, but the hardware's `f64` and 64-bit conversions give
            // the integer "indefinite" (`0x8000_0000`, `1 << 63`; seen on
            // the H100, differential seeds 0x200010, 0x20018d): those get
            // an explicit NaN test. It is written as "a number keeps the
            // conversion" (`testp.number`, then `selp d, 0`): ptxas 12.9
            // miscompiles the form "NaN gives 0" (`testp.notanumber`, then
            // `selp 0, d`) of a known saturated value read only by a loop's
            // `u >= 0`, and drops the loop (seed 0x31b084;
            // docs/bench/ptxas129_selp_loop.ptx).
            (DataType::F32 | DataType::F64, _) => {
                ins!(self.code; Cvt.Rzi.(sfx(to)).(sfx(from)) d, src);
                if from == DataType::F64 || to.is_wide() {
                    let number = self.code.reg(Class::Pred);
                    let r = self.code.reg(class_of(to));
                    ins!(self.code; Testp.Number.(sfx(from)) number, src);
                    ins!(self.code; Selp.(bits_ty(to)) r, d, int(0), number);
                    return Val::reg(r, to);
                }
            }
            _ => unreachable!("casts to bool are rejected by validation"),
        }
        Val::reg(d, to)
    }

    /// `min` or `max` (`op`) of two values of `ty`.
    ///
    /// A signed integer pair goes through the unsigned instruction with
    /// both operands' sign bits flipped (`x ^ 0x8000_0000` orders as `u32`
    /// the way `x` orders as `i32`), and the result flipped back. The
    /// signed instruction would be shorter, but ptxas (CUDA 12.9, and the
    /// driver's JIT seen on the H100) folds an `i32` negation into the
    /// middle operand of a three-operand signed min/max (`VIMNMX3`) and the
    /// negation is lost: `min(min(a, -b), c)` gave `min(min(a, b), c)`
    /// (differential seed 0x60a2; the minimal PTX is in `docs/targets.md`).
    /// With unsigned operations ptxas keeps the negation as its own
    /// instruction.
    pub(super) fn min_max(&mut self, op: Opcode, ty: DataType, a: Reg, b: Reg) -> Reg {
        let class = class_of(ty);
        let d = self.code.reg(class);
        if sfx(ty) != Mod::S32 {
            self.code
                .push(Inst::new(op, &[sfx(ty)], &[d.into(), a.into(), b.into()]));
            return d;
        }
        let sign = int(i64::from(i32::MIN));
        let (fa, fb, t) = (
            self.code.reg(class),
            self.code.reg(class),
            self.code.reg(class),
        );
        ins!(self.code; Xor.B32 fa, a, sign);
        ins!(self.code; Xor.B32 fb, b, sign);
        self.code.push(Inst::new(
            op,
            &[Mod::U32],
            &[t.into(), fa.into(), fb.into()],
        ));
        ins!(self.code; Xor.B32 d, t, sign);
        d
    }

    fn math(&mut self, f: MathFn, args: &[Expr]) -> Val {
        let vals: Vec<Val> = args.iter().map(|a| self.expr(a)).collect();
        let ty = vals[0].ty;
        let regs: Vec<_> = vals.iter().map(|v| self.in_reg(v)).collect();
        let mode = self.mode;
        let d = match f {
            MathFn::Abs => {
                let d = self.code.reg(class_of(ty));
                ins!(self.code; Abs.(sfx(ty)) d, regs[0]);
                d
            }
            MathFn::Min => self.min_max(Opcode::Min, ty, regs[0], regs[1]),
            MathFn::Max => self.min_max(Opcode::Max, ty, regs[0], regs[1]),
            MathFn::Clamp => {
                // `x.max(lo).min(hi)`: PTX's `max` and `min` are exact for
                // any operands, `lo > hi` included (`mid::legal`).
                let t = self.min_max(Opcode::Max, ty, regs[0], regs[1]);
                self.min_max(Opcode::Min, ty, t, regs[2])
            }
            MathFn::Floor | MathFn::Ceil => {
                let d = self.code.reg(class_of(ty));
                let m = if f == MathFn::Floor {
                    Mod::Rmi
                } else {
                    Mod::Rpi
                };
                ins!(self.code; Cvt.(m).(sfx(ty)).(sfx(ty)) d, regs[0]);
                d
            }
            MathFn::MulAdd => {
                let d = self.code.reg(class_of(ty));
                ins!(self.code; Fma.Rn.(sfx(ty)) d, regs[0], regs[1], regs[2]);
                d
            }
            // Correctly rounded (PTX has no approximate `f64` square root).
            MathFn::Sqrt if ty == DataType::F64 => {
                let d = self.code.reg(Class::Fd);
                ins!(self.code; Sqrt.Rn.F64 d, regs[0]);
                d
            }
            MathFn::Sqrt => {
                let d = self.code.reg(Class::F);
                if mode.allows(MathFn::Sqrt) {
                    ins!(self.code; Sqrt.Approx.F32 d, regs[0]);
                } else {
                    ins!(self.code; Sqrt.Rn.F32 d, regs[0]);
                }
                d
            }
            MathFn::Exp => math::exp(&mut self.code, mode, regs[0]),
            MathFn::Exp2 => math::exp2(&mut self.code, mode, regs[0]),
            MathFn::Ln => math::ln(&mut self.code, mode, regs[0]),
            MathFn::Sin => math::sin_cos(&mut self.code, mode, regs[0], false),
            MathFn::Cos => math::sin_cos(&mut self.code, mode, regs[0], true),
            MathFn::Tanh => math::tanh(&mut self.code, mode, regs[0]),
            MathFn::Powf => math::powf(&mut self.code, mode, regs[0], regs[1]),
        };
        Val::reg(d, ty)
    }
}
