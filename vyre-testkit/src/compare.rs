//! Comparing results across targets: bit-exact integers, floats within a
//! stated tolerance.
//!
//! The generator only lets *exactly computed* floats (`+ - *`, negation,
//! `abs floor ceil min max clamp`, selects, casts from integers, loads and
//! literals: every target must round these correctly) reach comparisons,
//! casts, indices and control flow. Each inexact operation (division,
//! `sqrt exp ln sin cos tanh powf mul_add`, float `%`) is applied once, to
//! exact operands clamped into the range where the Vulkan and PTX precision
//! tables give a bound, and its result is stored straight into an output
//! slot whose tolerance is the op's [`op_tolerance`]. So errors never
//! compose, and the bound per slot is the bound of one operation.

use vyre::ir::{BinOp, MathFn};

/// How one stored element is compared with the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Bit-exact (integers).
    Bits,
    /// `f32` computed exactly: equal bits, or both NaN (any payload), or both
    /// zero (either sign: `min`/`max` of `0.0` and `-0.0` may return either).
    FloatExact,
    /// `f32` from one inexact operation: as [`Tolerance::FloatExact`], or
    /// within `ulp` units in the last place, or within `abs` absolutely.
    Float {
        /// Largest allowed ULP distance.
        ulp: u32,
        /// Largest allowed absolute difference (covers absolute-error
        /// specifications such as Vulkan's `sin` on `[-pi, pi]` and
        /// flushed subnormal results).
        abs: f32,
    },
}

impl Tolerance {
    /// The looser of two tolerances (for a slot written by several ops).
    #[must_use]
    pub fn join(self, other: Self) -> Self {
        match (self, other) {
            (Self::Bits, t) | (t, Self::Bits) => t,
            (Self::FloatExact, t) | (t, Self::FloatExact) => t,
            (Self::Float { ulp: u1, abs: a1 }, Self::Float { ulp: u2, abs: a2 }) => Self::Float {
                ulp: u1.max(u2),
                abs: a1.max(a2),
            },
        }
    }

    /// Whether `got` is acceptable when the reference computed `want`
    /// (both as raw bits).
    #[must_use]
    pub fn accepts(self, want: u32, got: u32) -> bool {
        if want == got {
            return true;
        }
        let (w, g) = (f32::from_bits(want), f32::from_bits(got));
        match self {
            Self::Bits => false,
            Self::FloatExact => (w.is_nan() && g.is_nan()) || (w == 0.0 && g == 0.0),
            Self::Float { ulp, abs } => {
                (w.is_nan() && g.is_nan())
                    || ulp_distance(w, g) <= u64::from(ulp)
                    || (w.is_finite() && g.is_finite() && (w - g).abs() <= abs)
            }
        }
    }
}

impl Tolerance {
    /// [`Tolerance::accepts`] for `f64` elements: the ULP distance counts
    /// `f64` values, the absolute bound is the same number.
    #[must_use]
    pub fn accepts_f64(self, want: u64, got: u64) -> bool {
        if want == got {
            return true;
        }
        let (w, g) = (f64::from_bits(want), f64::from_bits(got));
        match self {
            Self::Bits => false,
            Self::FloatExact => (w.is_nan() && g.is_nan()) || (w == 0.0 && g == 0.0),
            Self::Float { ulp, abs } => {
                (w.is_nan() && g.is_nan())
                    || ulp_distance_f64(w, g) <= u64::from(ulp)
                    || (w.is_finite() && g.is_finite() && (w - g).abs() <= f64::from(abs))
            }
        }
    }
}

/// [`ulp_distance`] between two `f64`s.
#[must_use]
pub fn ulp_distance_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |x: f64| -> i128 {
        let bits = i128::from(x.to_bits() & 0x7FFF_FFFF_FFFF_FFFF);
        if x.is_sign_negative() { -bits } else { bits }
    };
    u64::try_from(key(a).abs_diff(key(b))).unwrap_or(u64::MAX)
}

/// Distance between two floats in units in the last place: the number of
/// representable `f32` values between them (`0.0` and `-0.0` are one
/// value; infinities are one step past `f32::MAX`). Two NaNs are at
/// distance 0; a NaN and a number at `u64::MAX`.
#[must_use]
pub fn ulp_distance(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    // Map to a monotone integer line where +0 and -0 coincide.
    let key = |x: f32| -> i64 {
        let bits = i64::from(x.to_bits() & 0x7FFF_FFFF);
        if x.is_sign_negative() { -bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

/// Smallest positive normal `f32`: results below it may be flushed to zero
/// by GPU targets, so every inexact comparison allows that much absolute
/// error.
pub const FLUSH: f32 = f32::MIN_POSITIVE;

/// The tolerance for one inexact operation applied to exactly computed
/// operands that the generator clamped into the ranges documented in
/// `docs/testing.md` (taken from the Vulkan precision table, which is the
/// loosest of our targets, with margin):
///
/// | op | operand range | bound |
/// |---|---|---|
/// | `/` | any / any | 3 ulp (Vulkan: 2.5) |
/// | `%` | `[-16,16] % [0.5,2]` | 2 ulp or 2^-18 abs |
/// | `sqrt` | any | 8 ulp (Vulkan: inherited from `1/inversesqrt`) |
/// | `exp` | `[-20, 20]` | 64 ulp (Vulkan: 3 + 2·|x|) |
/// | `ln` | `[2^-10, 2^20]` | 8 ulp or 2^-20 abs (Vulkan: 3 ulp, 2^-21 abs near 1) |
/// | `sin`, `cos` | `[-3, 3]` | 2^-10 abs (Vulkan: 2^-11) |
/// | `tanh` | `[-10, 10]` | 64 ulp or 2^-10 abs (Vulkan: inherited from `exp`) |
/// | `powf` | `[1/16, 16] ^ [-8, 8]` | 256 ulp (Vulkan: inherited from `exp2(y·log2 x)`) |
/// | `mul_add` | `[-16, 16]` each | 2^-14 abs (a target may round `a·b` once more) |
#[must_use]
pub fn op_tolerance(op: ApproxOp) -> Tolerance {
    let (ulp, abs): (u32, f32) = match op {
        ApproxOp::Div => (3, 0.0),
        ApproxOp::Rem => (2, 1.0 / 262_144.0),
        ApproxOp::Math(MathFn::Sqrt) => (8, 0.0),
        // Vulkan: 3 + 2|x| ULP for both.
        ApproxOp::Math(MathFn::Exp | MathFn::Exp2) => (64, 0.0),
        ApproxOp::Math(MathFn::Ln) => (8, 1.0 / 1_048_576.0),
        ApproxOp::Math(MathFn::Sin | MathFn::Cos) => (4, 1.0 / 1024.0),
        ApproxOp::Math(MathFn::Tanh) => (64, 1.0 / 1024.0),
        ApproxOp::Math(MathFn::Powf) => (256, 0.0),
        ApproxOp::Math(MathFn::MulAdd) => (2, 1.0 / 16384.0),
        ApproxOp::Math(_) => (0, 0.0),
    };
    Tolerance::Float {
        ulp,
        abs: abs.max(FLUSH),
    }
}

/// The tolerance of one inexact `f64` operation on the generator's
/// operands, in `f64` units, without the allowance for flushed subnormals
/// (targets keep `f64` subnormals): division within the 3 ULPs of the
/// `f32` one ([`op_tolerance`]); `mul_add` of operands in `[-16, 16]`
/// fused or not (2 ULPs, or `2^-40` absolutely where the sum cancels).
/// `%` is not defined on `f64` and `sqrt` is correctly rounded, so any
/// other operation gets 0 ULPs.
#[must_use]
pub fn op_tolerance_f64(op: ApproxOp) -> Tolerance {
    match op {
        ApproxOp::Div => Tolerance::Float { ulp: 3, abs: 0.0 },
        ApproxOp::Math(MathFn::MulAdd) => Tolerance::Float {
            ulp: 2,
            abs: 1.0 / 1_099_511_627_776.0,
        },
        ApproxOp::Rem | ApproxOp::Math(_) => Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

/// An inexact float operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproxOp {
    /// Float division.
    Div,
    /// Float remainder.
    Rem,
    /// A math intrinsic.
    Math(MathFn),
}

impl ApproxOp {
    /// The binary operator, for `Div`/`Rem`.
    #[must_use]
    pub fn bin_op(self) -> Option<BinOp> {
        match self {
            Self::Div => Some(BinOp::Div),
            Self::Rem => Some(BinOp::Rem),
            Self::Math(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_distance_basics() {
        assert_eq!(ulp_distance(1.0, 1.0), 0);
        assert_eq!(ulp_distance(0.0, -0.0), 0);
        assert_eq!(ulp_distance(1.0, f32::from_bits(1.0f32.to_bits() + 3)), 3);
        assert_eq!(ulp_distance(f32::MAX, f32::INFINITY), 1);
        assert_eq!(ulp_distance(f32::from_bits(1), -f32::from_bits(1)), 2);
        assert_eq!(ulp_distance(f32::NAN, f32::NAN), 0);
        assert_eq!(ulp_distance(f32::NAN, 1.0), u64::MAX);
        assert_eq!(ulp_distance(-1.0, 1.0), 2 * u64::from(1.0f32.to_bits()));
    }

    #[test]
    fn tolerances() {
        let nan2 = f32::from_bits(0x7FC0_0001).to_bits();
        assert!(Tolerance::FloatExact.accepts(f32::NAN.to_bits(), nan2));
        assert!(Tolerance::FloatExact.accepts(0.0f32.to_bits(), (-0.0f32).to_bits()));
        assert!(!Tolerance::FloatExact.accepts(1.0f32.to_bits(), 1.000_000_1f32.to_bits()));
        assert!(!Tolerance::Bits.accepts(0, 0x8000_0000));
        let t = op_tolerance(ApproxOp::Div);
        let one = 1.0f32.to_bits();
        assert!(t.accepts(one, one + 3));
        assert!(!t.accepts(one, one + 4));
        let s = op_tolerance(ApproxOp::Math(MathFn::Sin));
        assert!(s.accepts(0.0f32.to_bits(), 0.0009f32.to_bits()));
        assert!(!s.accepts(0.0f32.to_bits(), 0.002f32.to_bits()));
        assert!(!s.accepts(f32::INFINITY.to_bits(), f32::NAN.to_bits()));
        assert_eq!(
            Tolerance::Bits.join(Tolerance::FloatExact),
            Tolerance::FloatExact
        );
    }
}
