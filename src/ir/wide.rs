//! The semantics of the 64-bit types (`u64`, `i64`, `f64`), written once:
//! the reference interpreter executes them and the constant evaluator
//! folds with them, so a constant and the same expression at run time
//! agree. Values are their bits in a `u64`; integers wrap, `x / 0 == 0`
//! and `x % 0 == 0`, `i64::MIN / -1` wraps, shift amounts are masked
//! `& 63`, `f64` operations are Rust's (`min`/`max` NaN-ignoring,
//! `mul_add` fused, `clamp(lo, hi)` = `max(lo).min(hi)`) and conversions
//! are Rust's `as`.

use crate::ir::{BinOp, DataType, MathFn, UnOp};

/// A 64-bit operation, resolved by type: `u64`/`i64` wrap (`U`/`I`
/// variants differ in signedness), `f64` is IEEE 754 binary64 with the
/// semantics of the `f32` instruction of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WideK {
    Add,
    Sub,
    Mul,
    DivU,
    DivI,
    RemU,
    RemI,
    And,
    Or,
    Xor,
    Shl,
    ShrU,
    ShrI,
    Eq,
    Ne,
    LtU,
    LtI,
    LeU,
    LeI,
    Neg,
    Not,
    AbsI,
    MinU,
    MinI,
    MaxU,
    MaxI,
    ClampU,
    ClampI,
    AddF,
    SubF,
    MulF,
    DivF,
    RemF,
    EqF,
    NeF,
    LtF,
    LeF,
    NegF,
    SqrtF,
    FloorF,
    CeilF,
    AbsF,
    MinF,
    MaxF,
    ClampF,
    MulAddF,
}

/// The register types a conversion involving a 64-bit type goes between
/// (`bool` converts as `u32`: it is 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Num {
    U32,
    I32,
    F32,
    U64,
    I64,
    F64,
}

/// The register type of a conversion's side (`bool` is 0 or 1, as a `u32`;
/// narrow types never reach a conversion in the normal form).
pub(crate) fn num(t: DataType) -> Num {
    match t {
        DataType::I32 | DataType::I8 | DataType::I16 => Num::I32,
        DataType::F32 | DataType::F16 | DataType::BF16 => Num::F32,
        DataType::U64 => Num::U64,
        DataType::I64 => Num::I64,
        DataType::F64 => Num::F64,
        DataType::Bool | DataType::U32 | DataType::U8 | DataType::U16 => Num::U32,
    }
}

/// The 64-bit instruction of `op x` with `x` of type `t`, or `None` where
/// the operator is not defined on it (`-` on `u64`).
pub(crate) fn wide_unary(op: UnOp, t: DataType) -> Option<WideK> {
    match (op, t) {
        (UnOp::Neg, DataType::F64) => Some(WideK::NegF),
        (UnOp::Neg, DataType::I64) => Some(WideK::Neg),
        (UnOp::Not, DataType::I64 | DataType::U64) => Some(WideK::Not),
        _ => None,
    }
}

/// The 64-bit instruction of `a op b` with operands of type `t`, and
/// whether its operands are swapped (`a > b` is `b < a`).
pub(crate) fn wide_binary(op: BinOp, t: DataType) -> (WideK, bool) {
    let f = t == DataType::F64;
    let i = t == DataType::I64;
    let k = match op {
        BinOp::Add if f => WideK::AddF,
        BinOp::Add => WideK::Add,
        BinOp::Sub if f => WideK::SubF,
        BinOp::Sub => WideK::Sub,
        BinOp::Mul if f => WideK::MulF,
        BinOp::Mul => WideK::Mul,
        BinOp::Div if f => WideK::DivF,
        BinOp::Div if i => WideK::DivI,
        BinOp::Div => WideK::DivU,
        BinOp::Rem if f => WideK::RemF,
        BinOp::Rem if i => WideK::RemI,
        BinOp::Rem => WideK::RemU,
        BinOp::BitAnd | BinOp::And => WideK::And,
        BinOp::BitOr | BinOp::Or => WideK::Or,
        BinOp::BitXor => WideK::Xor,
        BinOp::Shl => WideK::Shl,
        BinOp::Shr if i => WideK::ShrI,
        BinOp::Shr => WideK::ShrU,
        BinOp::Eq if f => WideK::EqF,
        BinOp::Eq => WideK::Eq,
        BinOp::Ne if f => WideK::NeF,
        BinOp::Ne => WideK::Ne,
        BinOp::Lt | BinOp::Gt if f => WideK::LtF,
        BinOp::Lt | BinOp::Gt if i => WideK::LtI,
        BinOp::Lt | BinOp::Gt => WideK::LtU,
        BinOp::Le | BinOp::Ge if f => WideK::LeF,
        BinOp::Le | BinOp::Ge if i => WideK::LeI,
        BinOp::Le | BinOp::Ge => WideK::LeU,
    };
    (k, matches!(op, BinOp::Gt | BinOp::Ge))
}

/// The 64-bit instruction of math function `f` on type `t` (validation
/// admits only these on `u64`, `i64` and `f64`).
pub(crate) fn wide_math(f: MathFn, t: DataType) -> WideK {
    let (fl, i) = (t == DataType::F64, t == DataType::I64);
    match f {
        MathFn::Abs if fl => WideK::AbsF,
        MathFn::Abs => WideK::AbsI,
        MathFn::Min if fl => WideK::MinF,
        MathFn::Min if i => WideK::MinI,
        MathFn::Min => WideK::MinU,
        MathFn::Max if fl => WideK::MaxF,
        MathFn::Max if i => WideK::MaxI,
        MathFn::Max => WideK::MaxU,
        MathFn::Clamp if fl => WideK::ClampF,
        MathFn::Clamp if i => WideK::ClampI,
        MathFn::Clamp => WideK::ClampU,
        MathFn::Floor => WideK::FloorF,
        MathFn::Ceil => WideK::CeilF,
        MathFn::MulAdd => WideK::MulAddF,
        // Sqrt; exp, ln, sin, cos, tanh and powf are `f32`-only.
        _ => WideK::SqrtF,
    }
}

/// `k(x, y, z)` on the bits of 64-bit values (unused operands are
/// ignored); a comparison gives 0 or 1.
pub(crate) fn apply(k: WideK, x: u64, y: u64, z: u64) -> u64 {
    let i = |v: u64| v as i64;
    let f = f64::from_bits;
    let b = u64::from;
    match k {
        WideK::Add => x.wrapping_add(y),
        WideK::Sub => x.wrapping_sub(y),
        WideK::Mul => x.wrapping_mul(y),
        WideK::DivU => x.checked_div(y).unwrap_or(0),
        WideK::DivI => i(x).checked_div(i(y)).map_or_else(
            // `i64::MIN / -1` wraps; `x / 0` is 0.
            || if y == 0 { 0 } else { x },
            |q| q as u64,
        ),
        WideK::RemU => x.checked_rem(y).unwrap_or(0),
        WideK::RemI => i(x).checked_rem(i(y)).map_or(0, |r| r as u64),
        WideK::And => x & y,
        WideK::Or => x | y,
        WideK::Xor => x ^ y,
        WideK::Shl => x << (y & 63),
        WideK::ShrU => x >> (y & 63),
        WideK::ShrI => (i(x) >> (y & 63)) as u64,
        WideK::Eq => b(x == y),
        WideK::Ne => b(x != y),
        WideK::LtU => b(x < y),
        WideK::LtI => b(i(x) < i(y)),
        WideK::LeU => b(x <= y),
        WideK::LeI => b(i(x) <= i(y)),
        WideK::Neg => x.wrapping_neg(),
        WideK::Not => !x,
        WideK::AbsI => i(x).wrapping_abs() as u64,
        WideK::MinU => x.min(y),
        WideK::MinI => i(x).min(i(y)) as u64,
        WideK::MaxU => x.max(y),
        WideK::MaxI => i(x).max(i(y)) as u64,
        WideK::ClampU => x.max(y).min(z),
        WideK::ClampI => i(x).max(i(y)).min(i(z)) as u64,
        WideK::AddF => (f(x) + f(y)).to_bits(),
        WideK::SubF => (f(x) - f(y)).to_bits(),
        WideK::MulF => (f(x) * f(y)).to_bits(),
        WideK::DivF => (f(x) / f(y)).to_bits(),
        WideK::RemF => (f(x) % f(y)).to_bits(),
        WideK::EqF => b(f(x) == f(y)),
        WideK::NeF => b(f(x) != f(y)),
        WideK::LtF => b(f(x) < f(y)),
        WideK::LeF => b(f(x) <= f(y)),
        WideK::NegF => (-f(x)).to_bits(),
        WideK::SqrtF => f(x).sqrt().to_bits(),
        WideK::FloorF => f(x).floor().to_bits(),
        WideK::CeilF => f(x).ceil().to_bits(),
        WideK::AbsF => f(x).abs().to_bits(),
        WideK::MinF => f(x).min(f(y)).to_bits(),
        WideK::MaxF => f(x).max(f(y)).to_bits(),
        WideK::ClampF => f(x).max(f(y)).min(f(z)).to_bits(),
        WideK::MulAddF => f(x).mul_add(f(y), f(z)).to_bits(),
    }
}

/// `v as to` for a register value `v` of type `from`: Rust's `as`
/// (integers wrap or extend, integers to floats round to nearest even,
/// floats to integers saturate with NaN to 0, `f64` to `f32` rounds to
/// nearest even).
pub(crate) fn convert(v: u64, from: Num, to: Num) -> u64 {
    macro_rules! to {
        ($x:expr) => {{
            let x = $x;
            match to {
                Num::U32 => u64::from(x as u32),
                Num::I32 => u64::from(x as i32 as u32),
                Num::F32 => u64::from((x as f32).to_bits()),
                Num::U64 => x as u64,
                Num::I64 => x as i64 as u64,
                Num::F64 => (x as f64).to_bits(),
            }
        }};
    }
    match from {
        Num::U32 => to!(v as u32),
        Num::I32 => to!(v as u32 as i32),
        Num::F32 => to!(f32::from_bits(v as u32)),
        Num::U64 => to!(v),
        Num::I64 => to!(v as i64),
        Num::F64 => to!(f64::from_bits(v)),
    }
}
