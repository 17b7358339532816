//! Evaluation of constant expressions of the IR with the language's run-time
//! semantics: the front end folds `const` items, shared-array lengths and
//! `workgroup_size` with it, the middle layer the index arithmetic that
//! unrolling leaves.

use crate::ir::wide::{self, Num};
use crate::ir::{BinOp, DataType, Expr, Literal, MathFn, UnOp};

/// Evaluate a constant expression; `Err` says what is not constant.
pub(crate) fn eval(e: &Expr) -> Result<Literal, String> {
    use Literal::{Bool, F32, I32, U32};
    Ok(match e {
        Expr::Lit(l) => *l,
        Expr::Unary(op, a) if eval(a)?.ty().is_wide() => {
            let a = eval(a)?;
            let Some(k) = wide::wide_unary(*op, a.ty()) else {
                return Err("this unary operation does not type-check".into());
            };
            Literal::from_bits64(a.ty(), wide::apply(k, a.bits64(), 0, 0))
        }
        Expr::Unary(op, a) if eval(a)?.ty().is_narrow() => {
            let a = eval(a)?;
            let r = eval(&Expr::Unary(*op, Box::new(Expr::Lit(a.widened()))))?;
            cast(a.ty(), r)?
        }
        Expr::Unary(op, a) => match (op, eval(a)?) {
            (UnOp::Neg, I32(v)) => I32(v.wrapping_neg()),
            (UnOp::Neg, F32(v)) => F32(v ^ 0x8000_0000),
            (UnOp::Not, Bool(v)) => Bool(!v),
            (UnOp::Not, I32(v)) => I32(!v),
            (UnOp::Not, U32(v)) => U32(!v),
            _ => return Err("this unary operation does not type-check".into()),
        },
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a)?, eval(b)?);
            if a.ty().is_wide() || b.ty().is_wide() {
                wide_binary(*op, a, b)?
            } else if a.ty().is_narrow() || b.ty().is_narrow() {
                narrow_binary(*op, a, b)?
            } else {
                binary(*op, a, b)?
            }
        }
        Expr::Cast(ty, a) => cast(*ty, eval(a)?)?,
        Expr::Select {
            cond,
            then,
            otherwise,
        } => match eval(cond)? {
            Bool(true) => eval(then)?,
            Bool(false) => eval(otherwise)?,
            _ => return Err("`if` condition is not `bool`".into()),
        },
        Expr::Math(f, args) => {
            let vals = args.iter().map(eval).collect::<Result<Vec<_>, _>>()?;
            match vals.first().map(|v| v.ty()) {
                Some(t) if t.is_wide() => {
                    if vals.iter().any(|v| v.ty() != t)
                        || crate::ir::validate::math_type(*f, &vec![t; vals.len()]).is_none()
                    {
                        return Err(format!(
                            "`{}` is not defined on `{t}` in a constant",
                            f.name()
                        ));
                    }
                    let bits: Vec<u64> = vals.iter().map(|v| v.bits64()).collect();
                    let at = |i: usize| bits.get(i).copied().unwrap_or(0);
                    let r = wide::apply(wide::wide_math(*f, t), at(0), at(1), at(2));
                    Literal::from_bits64(t, r)
                }
                Some(t) if t.is_narrow() => {
                    let wide: Vec<_> = vals.iter().map(|v| v.widened()).collect();
                    cast(t, math(*f, &wide)?)?
                }
                _ => math(*f, &vals)?,
            }
        }
        _ => {
            return Err(
                "only literals, other constants, operators, casts, `if` and the math methods `abs min max clamp floor ceil sqrt mul_add` are allowed in a constant"
                    .into(),
            );
        }
    })
}

/// [`eval`], except that integer arithmetic that overflows (`+ - *` and
/// negation of the 32- and 64-bit integers) is an error, as in Rust's constant evaluation:
/// the front end folds `const` items, array lengths and sizes with it, so
/// that `N * N` cannot silently wrap to a small length.
#[cfg(feature = "compiler")]
pub(crate) fn eval_checked(e: &Expr) -> Result<Literal, String> {
    check_overflow(e)?;
    eval(e)
}

/// The first overflowing integer operation in `e`, as an error.
#[cfg(feature = "compiler")]
fn check_overflow(e: &Expr) -> Result<(), String> {
    use Literal::{I32, I64, U32, U64};
    match e {
        Expr::Binary(op, a, b) => {
            check_overflow(a)?;
            check_overflow(b)?;
            // Exact in i128, then against the type's range.
            let (x, y, range, ty) = match (eval(a)?, eval(b)?) {
                (U32(x), U32(y)) => (
                    i128::from(x),
                    i128::from(y),
                    (0, i128::from(u32::MAX)),
                    "u32",
                ),
                (I32(x), I32(y)) => (
                    i128::from(x),
                    i128::from(y),
                    (i128::from(i32::MIN), i128::from(i32::MAX)),
                    "i32",
                ),
                (U64(x), U64(y)) => (
                    i128::from(x),
                    i128::from(y),
                    (0, i128::from(u64::MAX)),
                    "u64",
                ),
                (I64(x), I64(y)) => (
                    i128::from(x),
                    i128::from(y),
                    (i128::from(i64::MIN), i128::from(i64::MAX)),
                    "i64",
                ),
                _ => return Ok(()),
            };
            let exact = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                _ => return Ok(()),
            };
            if exact < range.0 || exact > range.1 {
                return Err(format!(
                    "`{x} {} {y}` overflows `{ty}` in a constant",
                    op.symbol()
                ));
            }
            Ok(())
        }
        Expr::Unary(op, a) => {
            check_overflow(a)?;
            if *op == UnOp::Neg && eval(a)? == I32(i32::MIN) {
                return Err("`-(-2147483648)` overflows `i32` in a constant".into());
            }
            if *op == UnOp::Neg && eval(a)? == I64(i64::MIN) {
                return Err("`-(-9223372036854775808)` overflows `i64` in a constant".into());
            }
            Ok(())
        }
        Expr::Cast(_, a) => check_overflow(a),
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            check_overflow(cond)?;
            check_overflow(then)?;
            check_overflow(otherwise)
        }
        Expr::Math(_, args) => args.iter().try_for_each(check_overflow),
        _ => Ok(()),
    }
}

fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

fn binary(op: BinOp, a: Literal, b: Literal) -> Result<Literal, String> {
    use Literal::{Bool, F32, I32, U32};
    let r = match (a, b) {
        (I32(x), I32(y)) => match op {
            BinOp::Add => I32(x.wrapping_add(y)),
            BinOp::Sub => I32(x.wrapping_sub(y)),
            BinOp::Mul => I32(x.wrapping_mul(y)),
            BinOp::Div => I32(if y == 0 { 0 } else { x.wrapping_div(y) }),
            BinOp::Rem => I32(if y == 0 { 0 } else { x.wrapping_rem(y) }),
            BinOp::BitAnd => I32(x & y),
            BinOp::BitOr => I32(x | y),
            BinOp::BitXor => I32(x ^ y),
            _ => return cmp_or_shift(op, a, b),
        },
        (U32(x), U32(y)) => match op {
            BinOp::Add => U32(x.wrapping_add(y)),
            BinOp::Sub => U32(x.wrapping_sub(y)),
            BinOp::Mul => U32(x.wrapping_mul(y)),
            BinOp::Div => U32(x.checked_div(y).unwrap_or(0)),
            BinOp::Rem => U32(x.checked_rem(y).unwrap_or(0)),
            BinOp::BitAnd => U32(x & y),
            BinOp::BitOr => U32(x | y),
            BinOp::BitXor => U32(x ^ y),
            _ => return cmp_or_shift(op, a, b),
        },
        (F32(x), F32(y)) => match op {
            BinOp::Add => Literal::f32(f(x) + f(y)),
            BinOp::Sub => Literal::f32(f(x) - f(y)),
            BinOp::Mul => Literal::f32(f(x) * f(y)),
            BinOp::Div => Literal::f32(f(x) / f(y)),
            BinOp::Rem => Literal::f32(f(x) % f(y)),
            _ => return cmp_or_shift(op, a, b),
        },
        (Bool(x), Bool(y)) => match op {
            BinOp::BitAnd | BinOp::And => Bool(x & y),
            BinOp::BitOr | BinOp::Or => Bool(x | y),
            BinOp::BitXor => Bool(x ^ y),
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            _ => return Err(format!("`{}` is not defined for `bool`", op.symbol())),
        },
        _ => return cmp_or_shift(op, a, b),
    };
    Ok(r)
}

/// `a op b` where an operand is a 16- or 8-bit type: computed in the
/// register type, then rounded or wrapped back (the language's rule; shift
/// amounts are masked to the type's width first).
/// `a op b` where an operand is 64-bit (a shift's amount may have any
/// integer type; every other operator takes two operands of one type).
fn wide_binary(op: BinOp, a: Literal, b: Literal) -> Result<Literal, String> {
    let t = a.ty();
    if crate::ir::validate::binary_type(op, t, b.ty()).is_none() {
        return Err(format!(
            "`{t} {} {}` is not defined in a constant",
            op.symbol(),
            b.ty()
        ));
    }
    if !t.is_wide() {
        // A 32-bit (or narrower) value shifted by a 64-bit amount: the
        // amount's low bits are all the mask keeps.
        let amount = Literal::U32(b.bits());
        return if t.is_narrow() {
            narrow_binary(op, a, amount)
        } else {
            binary(op, a, amount)
        };
    }
    let (k, swap) = wide::wide_binary(op, t);
    let (x, y) = (a.bits64(), b.widened().bits64());
    let r = if swap {
        wide::apply(k, y, x, x)
    } else {
        wide::apply(k, x, y, y)
    };
    Ok(if op.is_comparison() {
        Literal::Bool(r != 0)
    } else {
        Literal::from_bits64(t, r)
    })
}

fn narrow_binary(op: BinOp, a: Literal, b: Literal) -> Result<Literal, String> {
    let t = a.ty();
    let mut wb = b.widened();
    if matches!(op, BinOp::Shl | BinOp::Shr) {
        let mask = t.bits() - 1;
        wb = match wb {
            Literal::I32(v) => Literal::I32(v & mask.cast_signed()),
            Literal::U32(v) => Literal::U32(v & mask),
            _ => return Err("shift amount must be an integer".into()),
        };
    } else if a.ty() != b.ty() {
        return Err(format!(
            "`{}` needs operands of the same type, got `{}` and `{}`",
            op.symbol(),
            a.ty(),
            b.ty()
        ));
    }
    let r = binary(op, a.widened(), wb)?;
    if r.ty() == DataType::Bool {
        Ok(r)
    } else {
        cast(t, r)
    }
}

fn cmp_or_shift(op: BinOp, a: Literal, b: Literal) -> Result<Literal, String> {
    use Literal::{Bool, F32, I32, U32};
    if matches!(op, BinOp::Shl | BinOp::Shr) {
        let amount = match b {
            I32(v) => v as u32 & 31,
            U32(v) => v & 31,
            _ => return Err("shift amount must be an integer".into()),
        };
        return Ok(match (op, a) {
            (BinOp::Shl, I32(v)) => I32(v << amount),
            (BinOp::Shl, U32(v)) => U32(v << amount),
            (BinOp::Shr, I32(v)) => I32(v >> amount),
            (BinOp::Shr, U32(v)) => U32(v >> amount),
            _ => return Err("only integers can be shifted".into()),
        });
    }
    let ord = match (a, b) {
        (I32(x), I32(y)) => x.partial_cmp(&y),
        (U32(x), U32(y)) => x.partial_cmp(&y),
        (F32(x), F32(y)) => f(x).partial_cmp(&f(y)),
        _ => {
            return Err(format!(
                "`{}` needs operands of the same type, got `{}` and `{}`",
                op.symbol(),
                a.ty(),
                b.ty()
            ));
        }
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let v = match op {
        BinOp::Eq => ord == Some(Equal),
        BinOp::Ne => ord != Some(Equal),
        BinOp::Lt => ord == Some(Less),
        BinOp::Le => matches!(ord, Some(Less | Equal)),
        BinOp::Gt => ord == Some(Greater),
        BinOp::Ge => matches!(ord, Some(Greater | Equal)),
        _ => {
            return Err(format!("`{}` is not defined for `{}`", op.symbol(), a.ty()));
        }
    };
    Ok(Bool(v))
}

/// Rust `as` semantics (float to int saturates, NaN to 0).
pub(crate) fn cast(ty: DataType, v: Literal) -> Result<Literal, String> {
    use Literal::{Bool, F32, I32, U32};
    let v = v.widened();
    if v.ty().is_wide() || ty.is_wide() {
        let from = v.ty();
        if ty == DataType::Bool {
            return Err("cannot cast to `bool`; compare instead".into());
        }
        if ty.is_narrow() && from == DataType::F64 && ty.is_integer() {
            // Saturating, as `mid::widen`'s clamp of the saturated
            // register-type value.
            let x = f64::from_bits(v.bits64());
            return Ok(match ty {
                DataType::U8 => Literal::U8(x as u8),
                DataType::I8 => Literal::I8(x as i8),
                DataType::U16 => Literal::U16(x as u16),
                _ => Literal::I16(x as i16),
            });
        }
        if ty.is_narrow() {
            // Through the register type, as `mid::widen` does: an integer
            // truncated, a float rounded to `f32` first.
            let r = if ty.is_float() {
                DataType::F32
            } else {
                ty.register_type()
            };
            return cast(ty, cast(r, v)?);
        }
        let bits = wide::convert(v.bits64(), wide::num(from), wide::num(ty));
        return Ok(match wide::num(ty) {
            Num::U32 | Num::I32 | Num::F32 => Literal::from_bits(ty, bits as u32),
            _ => Literal::from_bits64(ty, bits),
        });
    }
    Ok(match (ty, v) {
        (DataType::F16, _) => {
            Literal::F16(half::f16::from_f32(f(cast(DataType::F32, v)?.bits())).to_bits())
        }
        (DataType::BF16, _) => {
            Literal::BF16(half::bf16::from_f32(f(cast(DataType::F32, v)?.bits())).to_bits())
        }
        (DataType::U8, F32(x)) => Literal::U8(f(x) as u8),
        (DataType::I8, F32(x)) => Literal::I8(f(x) as i8),
        (DataType::U16, F32(x)) => Literal::U16(f(x) as u16),
        (DataType::I16, F32(x)) => Literal::I16(f(x) as i16),
        (DataType::U8 | DataType::I8 | DataType::U16 | DataType::I16, _) => {
            Literal::from_bits(ty, v.bits())
        }
        (DataType::Bool, Bool(b)) => Bool(b),
        (DataType::Bool, _) => return Err("cannot cast to `bool`; compare instead".into()),
        (DataType::I32, Bool(b)) => I32(i32::from(b)),
        (DataType::I32, I32(x)) => I32(x),
        (DataType::I32, U32(x)) => I32(x as i32),
        (DataType::I32, F32(x)) => I32(f(x) as i32),
        (DataType::U32, Bool(b)) => U32(u32::from(b)),
        (DataType::U32, I32(x)) => U32(x as u32),
        (DataType::U32, U32(x)) => U32(x),
        (DataType::U32, F32(x)) => U32(f(x) as u32),
        (DataType::F32, Bool(b)) => Literal::f32(if b { 1.0 } else { 0.0 }),
        (DataType::F32, I32(x)) => Literal::f32(x as f32),
        (DataType::F32, U32(x)) => Literal::f32(x as f32),
        (DataType::F32, F32(x)) => F32(x),
        (_, l) => return Err(format!("cannot cast a `{}` constant", l.ty())),
    })
}

fn math(fun: MathFn, v: &[Literal]) -> Result<Literal, String> {
    use Literal::{F32, I32, U32};
    let r = match (fun, v) {
        (MathFn::Abs, [I32(x)]) => I32(x.wrapping_abs()),
        (MathFn::Abs, [F32(x)]) => F32(x & 0x7fff_ffff),
        (MathFn::Min, [I32(x), I32(y)]) => I32(*x.min(y)),
        (MathFn::Min, [U32(x), U32(y)]) => U32(*x.min(y)),
        (MathFn::Min, [F32(x), F32(y)]) => Literal::f32(f(*x).min(f(*y))),
        (MathFn::Max, [I32(x), I32(y)]) => I32(*x.max(y)),
        (MathFn::Max, [U32(x), U32(y)]) => U32(*x.max(y)),
        (MathFn::Max, [F32(x), F32(y)]) => Literal::f32(f(*x).max(f(*y))),
        (MathFn::Clamp, [x, lo, hi]) => {
            let m = math(MathFn::Max, &[*x, *lo])?;
            math(MathFn::Min, &[m, *hi])?
        }
        (MathFn::Floor, [F32(x)]) => Literal::f32(f(*x).floor()),
        (MathFn::Ceil, [F32(x)]) => Literal::f32(f(*x).ceil()),
        (MathFn::Sqrt, [F32(x)]) => Literal::f32(f(*x).sqrt()),
        (MathFn::MulAdd, [F32(a), F32(b), F32(c)]) => Literal::f32(f(*a).mul_add(f(*b), f(*c))),
        _ => {
            return Err(format!(
                "`{}` cannot be evaluated in a constant (only `abs min max clamp floor ceil sqrt mul_add` on matching types)",
                fun.name()
            ));
        }
    };
    Ok(r)
}
