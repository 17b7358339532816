//! Legalisation decisions: where the language's semantics differ from what
//! a target's instruction does, how to bridge them, decided once here and
//! read by every emitter (each still spells the result in its own
//! instructions).
//!
//! Integer division and remainder (`docs/language.md`): `x / 0 == 0`,
//! `x % 0 == 0`, and for `i32`, `i32::MIN / -1 == i32::MIN` (wrapping) and
//! `x % -1 == 0`, and likewise for `i64`, where hardware division is undefined or traps.
//!
//! `x.clamp(lo, hi)` is `x.max(lo).min(hi)`, so `hi` when `lo > hi`,
//! where the naga targets' clamps (SPIR-V `FClamp`/`SClamp`, WGSL `clamp`)
//! are undefined. The naga lowering first bounds the lower bound by the
//! upper, `lo > hi ? hi : lo` (a NaN `lo` stays: `max` ignores it), then
//! emits the `max` and the `min`, so every order of that pair gives the
//! same value; for a float `x` it also selects `lo.min(hi)` when `x` is
//! NaN, tested on its bits (the NVIDIA Vulkan driver reorders the pair for
//! a NaN `x` as well). PTX's `max` and `min` are exact for any operands and need no
//! guard; its signed ones have a ptxas workaround of their own
//! (`backend::ptx::emit`, `min_max`).

use crate::ir::DataType;

/// How an integer `/` or `%` must be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntDivision {
    /// The divisor is the constant 0: the result is 0.
    ByZero,
    /// The divisor is the constant `-1` of an `i32` division: `x / -1` is
    /// the wrapping negation of `x`, `x % -1` is 0.
    ByMinusOne,
    /// Any other constant divisor: a plain division, which no input makes
    /// undefined (and which drivers strength-reduce to shifts and
    /// multiplies).
    ByConstant,
    /// A divisor known only at run time: guard the division by 0 (result
    /// 0) and, when `overflow`, `i32::MIN / -1` (result `i32::MIN`, `%`
    /// result 0).
    Guarded {
        /// Whether the `i32::MIN / -1` case needs a guard (`i32` only).
        overflow: bool,
    },
}

impl IntDivision {
    /// The division of type `ty` (`u32`, `i32`, `u64` or `i64`) by a
    /// divisor whose constant value, if it has one, is `divisor` (a signed
    /// type's as its signed value, an unsigned type's as its bits).
    #[must_use]
    pub fn of(ty: DataType, divisor: Option<i64>) -> Self {
        match divisor {
            Some(0) => Self::ByZero,
            Some(-1) if Self::overflow_possible(ty) => Self::ByMinusOne,
            Some(_) => Self::ByConstant,
            None => Self::Guarded {
                overflow: Self::overflow_possible(ty),
            },
        }
    }

    /// Whether a division of type `ty` by a divisor that is not a plain
    /// constant must guard `MIN / -1` (signed types only).
    #[must_use]
    pub fn overflow_possible(ty: DataType) -> bool {
        matches!(ty, DataType::I32 | DataType::I64)
    }
}

#[cfg(test)]
mod tests {
    use super::IntDivision;
    use crate::ir::DataType::{I32, U32};

    #[test]
    fn constant_divisors_need_no_guard_unless_zero_or_minus_one() {
        assert_eq!(IntDivision::of(U32, Some(0)), IntDivision::ByZero);
        assert_eq!(IntDivision::of(I32, Some(0)), IntDivision::ByZero);
        assert_eq!(IntDivision::of(I32, Some(-1)), IntDivision::ByMinusOne);
        // 0xffff_ffff as a u32 divisor is a plain constant.
        assert_eq!(
            IntDivision::of(U32, Some(0xffff_ffff)),
            IntDivision::ByConstant
        );
        assert_eq!(IntDivision::of(I32, Some(7)), IntDivision::ByConstant);
        assert_eq!(
            IntDivision::of(I32, None),
            IntDivision::Guarded { overflow: true }
        );
        assert_eq!(
            IntDivision::of(U32, None),
            IntDivision::Guarded { overflow: false }
        );
    }
}
