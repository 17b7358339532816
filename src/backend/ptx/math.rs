//! Transcendental functions and `f32 %` in PTX.
//!
//! PTX only has approximate `ex2/lg2/sin/cos/tanh`. By default (ULP budget 0,
//! no `fast_math`) `exp` is evaluated in `f32` arithmetic (at most 0.94 ULP,
//! see [`exp_f32`]: it is the hot function of softmax and attention), and
//! the others in `f64` with short polynomials, rounded once to `f32`: the
//! `f64` error (below 2^-40 relative after range reduction) is far under
//! half an `f32` ULP, so results are within 1 ULP (nearly always
//! correctly rounded) — well inside the documented bounds (exp/ln/sin/cos
//! 4 ULP, tanh/powf 8 ULP). sin/cos reduce with a Cody–Waite 4-part pi/2
//! for |x| < 2^28 and a Payne–Hanek reduction (96 bits of 2/pi from a
//! constant table) above, so the bound holds over the whole f32 range. The
//! cost is f64 throughput: fine on data-centre GPUs
//! (sm_70/80/90), slow on consumer ones, where `fast_math` or a ULP budget
//! selects the hardware approximations (see [`MathMode::allows`]).

use crate::ir::MathFn;

use super::code::{Code, ins};
use super::isa::{Addr, Class, Imm, Opcode, Operand, Reg, Symbol, int};

/// Which forms the kernel may use.
#[derive(Debug, Clone, Copy)]
pub(super) struct MathMode {
    /// `#[kernel(fast_math)]`: every approximate form allowed.
    pub fast: bool,
    /// `DispatchConfig::ulp_budget`.
    pub ulp_budget: u32,
    /// Compute capability (`70` for sm_70).
    pub arch: u32,
}

/// Worst-case error, in ULP, of the approximate hardware form of `f`
/// (`None`: its error is absolute, not bounded in ULP, so only `fast_math`
/// selects it).
#[must_use]
pub const fn approx_ulp_bound(f: MathFn) -> Option<u32> {
    match f {
        // sqrt.approx.f32: relative error below 2^-23.
        MathFn::Sqrt => Some(2),
        // ex2.approx(x * log2 e): ex2's 2 ULP plus the rounding of the
        // product, amplified by |x log2 e| < 128: at most ~46 ULP.
        MathFn::Exp => Some(64),
        // ex2.approx.f32 itself: 2 ULP.
        MathFn::Exp2 => Some(2),
        // tanh.approx.f32: relative error 2^-11.
        MathFn::Tanh => Some(8192),
        _ => None,
    }
}

impl MathMode {
    /// Whether the approximate form of `f` may be used.
    #[must_use]
    pub fn allows(self, f: MathFn) -> bool {
        if f == MathFn::Tanh && self.arch < 75 {
            // tanh.approx needs sm_75; the accurate form is used instead.
            return false;
        }
        self.fast || approx_ulp_bound(f).is_some_and(|b| self.ulp_budget >= b)
    }
}

/// fdlibm's ln 2 split: the high part has 32 significant bits, so that
/// `k * LN2_HI` is exact for the exponents we meet.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// Horner evaluation `coef[0] + z*(coef[1] + z*(...))` in f64.
fn horner(c: &mut Code, z: Reg, coef: &[f64]) -> Reg {
    let mut acc = c.reg(Class::Fd);
    ins!(c; Mov.F64 acc, Imm::f64(coef[coef.len() - 1]));
    for &k in coef[..coef.len() - 1].iter().rev() {
        let n = c.reg(Class::Fd);
        ins!(c; Fma.Rn.F64 n, acc, z, Imm::f64(k));
        acc = n;
    }
    acc
}

fn inv_factorials(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 1);
    let mut f = 1.0f64;
    for k in 0..=n {
        if k > 0 {
            f *= k as f64;
        }
        v.push(1.0 / f);
    }
    v
}

/// e^t in f64 for t in [-700, 700] (no NaN).
fn exp_f64(c: &mut Code, t: Reg) -> Reg {
    let k = c.reg(Class::Fd);
    let kr = c.reg(Class::Fd);
    let ki = c.reg(Class::R);
    ins!(c; Mul.Rn.F64 k, t, Imm::f64(std::f64::consts::LOG2_E));
    ins!(c; Cvt.Rni.F64.F64 kr, k);
    ins!(c; Cvt.Rni.S32.F64 ki, k);
    // r = t - k ln2, with ln2 split so that k * LN2_HI is exact.
    let r1 = c.reg(Class::Fd);
    let r = c.reg(Class::Fd);
    ins!(c; Fma.Rn.F64 r1, kr, Imm::f64(-LN2_HI), t);
    ins!(c; Fma.Rn.F64 r, kr, Imm::f64(-LN2_LO), r1);
    // |r| <= ln2/2: Taylor to r^11 leaves < 1e-14 relative error.
    let p = horner(c, r, &inv_factorials(11));
    let kd = c.reg(Class::Rd);
    let kb = c.reg(Class::Rd);
    let ks = c.reg(Class::Rd);
    let scale = c.reg(Class::Fd);
    let out = c.reg(Class::Fd);
    ins!(c; Cvt.S64.S32 kd, ki);
    ins!(c; Add.S64 kb, kd, int(1023));
    ins!(c; Shl.B64 ks, kb, int(52));
    ins!(c; Mov.B64 scale, ks);
    ins!(c; Mul.Rn.F64 out, p, scale);
    out
}

/// ln(x) in f64 for positive, finite, normal f64 x.
fn ln_f64(c: &mut Code, x: Reg) -> Reg {
    let bits = c.reg(Class::Rd);
    let eb = c.reg(Class::Rd);
    let e32 = c.reg(Class::R);
    let ex = c.reg(Class::R);
    ins!(c; Mov.B64 bits, x);
    ins!(c; Shr.U64 eb, bits, int(52));
    ins!(c; Cvt.U32.U64 e32, eb);
    ins!(c; Sub.S32 ex, e32, int(1023));
    let mb = c.reg(Class::Rd);
    let mb2 = c.reg(Class::Rd);
    let m = c.reg(Class::Fd);
    ins!(c; And.B64 mb, bits, int(4503599627370495));
    ins!(c; Or.B64 mb2, mb, int(4607182418800017408));
    ins!(c; Mov.B64 m, mb2);
    // m in [1, 2); fold to [sqrt(1/2), sqrt(2)) so that |s| <= 0.1716.
    let big = c.reg(Class::Pred);
    let half = c.reg(Class::Fd);
    let mm = c.reg(Class::Fd);
    let ex1 = c.reg(Class::R);
    let ex2 = c.reg(Class::R);
    ins!(c; Setp.Gt.F64 big, m, Imm::f64(std::f64::consts::SQRT_2));
    ins!(c; Mul.Rn.F64 half, m, Imm::F64(0x3FE0_0000_0000_0000));
    ins!(c; Selp.F64 mm, half, m, big);
    ins!(c; Add.S32 ex1, ex, int(1));
    ins!(c; Selp.B32 ex2, ex1, ex, big);
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1).
    let f = c.reg(Class::Fd);
    let den = c.reg(Class::Fd);
    let s = c.reg(Class::Fd);
    let z = c.reg(Class::Fd);
    ins!(c; Sub.Rn.F64 f, mm, Imm::F64(0x3FF0_0000_0000_0000));
    ins!(c; Add.Rn.F64 den, mm, Imm::F64(0x3FF0_0000_0000_0000));
    ins!(c; Div.Rn.F64 s, f, den);
    ins!(c; Mul.Rn.F64 z, s, s);
    let coeffs: Vec<f64> = (0..8).map(|k| 1.0 / f64::from(2 * k + 1)).collect();
    let q = horner(c, z, &coeffs);
    let s2 = c.reg(Class::Fd);
    let lnm = c.reg(Class::Fd);
    ins!(c; Add.Rn.F64 s2, s, s);
    ins!(c; Mul.Rn.F64 lnm, s2, q);
    let ed = c.reg(Class::Fd);
    let lo = c.reg(Class::Fd);
    let out = c.reg(Class::Fd);
    ins!(c; Cvt.Rn.F64.S32 ed, ex2);
    ins!(c; Fma.Rn.F64 lo, ed, Imm::f64(LN2_LO), lnm);
    ins!(c; Fma.Rn.F64 out, ed, Imm::f64(LN2_HI), lo);
    out
}

/// `d = p ? a : d` for f32.
fn sel(c: &mut Code, p: Reg, a: impl Into<Operand>, d: Reg) -> Reg {
    let a: Operand = a.into();
    let n = c.reg(Class::F);
    ins!(c; Selp.F32 n, a, d, p);
    n
}

fn is_nan(c: &mut Code, x: Reg) -> Reg {
    let p = c.reg(Class::Pred);
    ins!(c; Testp.NotANumber.F32 p, x);
    p
}

/// `x.exp()`.
pub(super) fn exp(c: &mut Code, mode: MathMode, x: Reg) -> Reg {
    if mode.allows(MathFn::Exp) {
        let t = c.reg(Class::F);
        ins!(c; Mul.F32 t, x, Imm::f32(std::f32::consts::LOG2_E));
        return ex2_approx(c, mode, t);
    }
    // Clamped to where the result is finite and nonzero (beyond it the
    // f32 rounding gives inf or 0 anyway): [-104, 89].
    on_clamped(c, mode, x, (0xC2D0_0000, 0x42B2_0000), exp_f32)
}

/// `x.exp2()`.
pub(super) fn exp2(c: &mut Code, mode: MathMode, x: Reg) -> Reg {
    if mode.allows(MathFn::Exp2) {
        return ex2_approx(c, mode, x);
    }
    // Clamped to [-150, 128]: 2^-150 rounds to 0, 2^128 overflows.
    on_clamped(c, mode, x, (0xC316_0000, 0x4300_0000), exp2_f32)
}

/// `ex2.approx` of `x`; under `fast_math` results below 2^-126 may flush
/// to zero, which saves the subnormal scaling ptxas wraps around
/// `MUFU.EX2`.
fn ex2_approx(c: &mut Code, mode: MathMode, x: Reg) -> Reg {
    let d = c.reg(Class::F);
    if mode.fast {
        ins!(c; Ex2.Approx.Ftz.F32 d, x);
    } else {
        ins!(c; Ex2.Approx.F32 d, x);
    }
    d
}

/// `f` of `x` clamped to `[lo, hi]` (bit patterns of `f32`s), a NaN `x`
/// giving NaN: from sm_80 the clamp keeps it (`.NaN`) and `f` carries it
/// to its result; before, min/max drop it, so it is restored.
fn on_clamped(
    c: &mut Code,
    mode: MathMode,
    x: Reg,
    (lo, hi): (u32, u32),
    f: fn(&mut Code, Reg) -> Reg,
) -> Reg {
    let c1 = c.reg(Class::F);
    let c2 = c.reg(Class::F);
    if mode.arch >= 80 {
        ins!(c; Max.NaN.F32 c1, x, Imm::F32(lo));
        ins!(c; Min.NaN.F32 c2, c1, Imm::F32(hi));
        return f(c, c2);
    }
    ins!(c; Max.F32 c1, x, Imm::F32(lo));
    ins!(c; Min.F32 c2, c1, Imm::F32(hi));
    let d = f(c, c2);
    let nan = is_nan(c, x);
    sel(c, nan, x, d)
}

/// `1.5 * 2^23`: adding it rounds an `f32` of magnitude below 2^22 to an
/// integer, which then sits in the low bits of the sum's encoding.
const EXP_ROUND: f32 = 12_582_912.0;
/// log2(e) split: the `f32` nearest it, and the rest.
const EXP_LOG2E_HI: f32 = std::f32::consts::LOG2_E;
const EXP_LOG2E_LO: f32 = f32::from_bits(0x32A5_7060);

/// e^x in `f32` for `x` in [-104, 89] (a NaN gives NaN): one `ex2.approx`
/// and 11 SASS instructions of arithmetic around it (the Taylor form it
/// replaces took 27 PTX instructions and made the bf16 row kernels
/// issue-bound). `x log2 e = j + f` with `j` an integer and
/// `f` in [-1/2, 1/2] computed with the product's low part (two `fma`s,
/// error at most 2^-25); `2^j = 2^jc 2^(j - jc)` with `jc` clamped to the
/// normal exponents [-126, 127] and the rest moved into the argument of
/// `ex2.approx.ftz` (whose argument and result then stay normal: -24.5 to
/// 1.5); one last multiply by `2^jc` rounds subnormal and overflowing
/// results once. Error: `ex2.approx` is within 2 ULP of the correctly
/// rounded `2^f` (PTX ISA), `f`'s error adds at most 0.35 ULP, so the
/// result is within 3 ULP of the correctly rounded e^x; [`exp_f32_model`]
/// performs the same operations with a correctly rounded `ex2`.
fn exp_f32(c: &mut Code, x: Reg) -> Reg {
    let t = c.reg(Class::F);
    ins!(c; Fma.Rn.F32 t, x, Imm::f32(EXP_LOG2E_HI), Imm::f32(EXP_ROUND));
    let (j, jc, excess) = exponent_split(c, t);
    let neg_j = c.reg(Class::F);
    let f1 = c.reg(Class::F);
    let f2 = c.reg(Class::F);
    let f = c.reg(Class::F);
    ins!(c; Neg.F32 neg_j, j);
    ins!(c; Fma.Rn.F32 f1, x, Imm::f32(EXP_LOG2E_HI), neg_j);
    ins!(c; Fma.Rn.F32 f2, x, Imm::f32(EXP_LOG2E_LO), f1);
    ins!(c; Add.Rn.F32 f, f2, excess);
    pow2_scaled(c, f, jc)
}

/// 2^x in `f32` for `x` in [-150, 128] (a NaN gives NaN), as [`exp_f32`]
/// with `x` itself split: `x = j + f`, `f = x - j` exact, so a normal
/// result is within 2 ULP of the correctly rounded 2^x (`ex2.approx`'s
/// error alone) and a subnormal one, rounded once more, within 3;
/// [`exp2_f32_model`] performs the same operations with a correctly
/// rounded `ex2`.
fn exp2_f32(c: &mut Code, x: Reg) -> Reg {
    let t = c.reg(Class::F);
    ins!(c; Add.Rn.F32 t, x, Imm::f32(EXP_ROUND));
    let (j, jc, excess) = exponent_split(c, t);
    let f1 = c.reg(Class::F);
    let f = c.reg(Class::F);
    ins!(c; Sub.Rn.F32 f1, x, j);
    ins!(c; Add.Rn.F32 f, f1, excess);
    pow2_scaled(c, f, jc)
}

/// From `t = j + EXP_ROUND` (`j` an integer): `j`, `jc` (`j` clamped to
/// the normal exponents [-126, 127]) and `j - jc`.
fn exponent_split(c: &mut Code, t: Reg) -> (Reg, Reg, Reg) {
    let j = c.reg(Class::F);
    ins!(c; Sub.Rn.F32 j, t, Imm::f32(EXP_ROUND));
    let lo = c.reg(Class::F);
    let jc = c.reg(Class::F);
    let excess = c.reg(Class::F);
    ins!(c; Max.F32 lo, j, Imm::f32(-126.0));
    ins!(c; Min.F32 jc, lo, Imm::f32(127.0));
    ins!(c; Sub.Rn.F32 excess, j, jc);
    (j, jc, excess)
}

/// `2^f * 2^jc` (`jc` an integer in [-126, 127], `f` in [-24.5, 1.5]):
/// `ex2.approx.ftz` of `f`, then one multiply by `2^jc`, which rounds a
/// subnormal or overflowing result once.
fn pow2_scaled(c: &mut Code, f: Reg, jc: Reg) -> Reg {
    let e = c.reg(Class::F);
    ins!(c; Ex2.Approx.Ftz.F32 e, f);
    // 2^jc: `jc + 127` in the low bits of `jc + (ROUND + 127)`, shifted
    // into the exponent field (the high bits fall off).
    let biased = c.reg(Class::F);
    let bits = c.reg(Class::R);
    let field = c.reg(Class::R);
    let scale = c.reg(Class::F);
    let d = c.reg(Class::F);
    ins!(c; Add.Rn.F32 biased, jc, Imm::f32(EXP_ROUND + 127.0));
    ins!(c; Mov.B32 bits, biased);
    ins!(c; Shl.B32 field, bits, int(23));
    ins!(c; Mov.B32 scale, field);
    ins!(c; Mul.Rn.F32 d, e, scale);
    d
}

/// The operations of [`exp_f32`], one for one, on the host, with `2^f`
/// correctly rounded where the device's `ex2.approx` is within 2 ULP of
/// that: the error of everything but `ex2` is checked here.
#[cfg(test)]
fn exp_f32_model(x: f32) -> f32 {
    let t = x.mul_add(EXP_LOG2E_HI, EXP_ROUND);
    let j = t - EXP_ROUND;
    let jc = j.clamp(-126.0, 127.0);
    let excess = j - jc;
    let f = x.mul_add(EXP_LOG2E_LO, x.mul_add(EXP_LOG2E_HI, -j)) + excess;
    let e = 2f64.powf(f64::from(f)) as f32;
    let biased = jc + (EXP_ROUND + 127.0);
    let scale = f32::from_bits(biased.to_bits() << 23);
    e * scale
}

/// The operations of [`exp2_f32`], one for one, on the host, with `2^f`
/// correctly rounded, as [`exp_f32_model`].
#[cfg(test)]
fn exp2_f32_model(x: f32) -> f32 {
    let j = (x + EXP_ROUND) - EXP_ROUND;
    let jc = j.clamp(-126.0, 127.0);
    let excess = j - jc;
    let f = (x - j) + excess;
    let e = 2f64.powf(f64::from(f)) as f32;
    let biased = jc + (EXP_ROUND + 127.0);
    let scale = f32::from_bits(biased.to_bits() << 23);
    e * scale
}

/// `x.ln()`.
pub(super) fn ln(c: &mut Code, mode: MathMode, x: Reg) -> Reg {
    if mode.allows(MathFn::Ln) {
        let t = c.reg(Class::F);
        let d = c.reg(Class::F);
        ins!(c; Lg2.Approx.F32 t, x);
        ins!(c; Mul.F32 d, t, Imm::f32(std::f32::consts::LN_2));
        return d;
    }
    let xd = c.reg(Class::Fd);
    let d = c.reg(Class::F);
    ins!(c; Cvt.F64.F32 xd, x);
    let r = ln_f64(c, xd);
    ins!(c; Cvt.Rn.F32.F64 d, r);
    // Special inputs: 0 -> -inf, negative -> NaN, +inf -> +inf, NaN -> NaN.
    let z = c.reg(Class::Pred);
    let neg = c.reg(Class::Pred);
    let inf = c.reg(Class::Pred);
    ins!(c; Setp.Eq.F32 z, x, Imm::F32(0x0000_0000));
    ins!(c; Setp.Lt.F32 neg, x, Imm::F32(0x0000_0000));
    ins!(c; Setp.Eq.F32 inf, x, Imm::F32(0x7F80_0000));
    let d = sel(c, z, Imm::F32(0xFF80_0000), d);
    let d = sel(c, neg, Imm::F32(0x7FC0_0000), d);
    let d = sel(c, inf, x, d);
    let nan = is_nan(c, x);
    sel(c, nan, x, d)
}

/// `x.sin()` or, with `cos`, `x.cos()`.
pub(super) fn sin_cos(c: &mut Code, mode: MathMode, x: Reg, cos: bool) -> Reg {
    let f = if cos { MathFn::Cos } else { MathFn::Sin };
    if mode.allows(f) {
        let d = c.reg(Class::F);
        let n = if cos { Opcode::Cos } else { Opcode::Sin };
        ins!(c; (n).Approx.F32 d, x);
        return d;
    }
    let xd = c.reg(Class::Fd);
    let k = c.reg(Class::Fd);
    let kr = c.reg(Class::Fd);
    let kl = c.reg(Class::Rd);
    let q_cw = c.reg(Class::R);
    ins!(c; Cvt.F64.F32 xd, x);
    ins!(c; Mul.Rn.F64 k, xd, Imm::f64(std::f64::consts::FRAC_2_PI));
    ins!(c; Cvt.Rni.F64.F64 kr, k);
    ins!(c; Cvt.Rzi.S64.F64 kl, kr);
    ins!(c; Cvt.U32.U64 q_cw, kl);
    // fdlibm's pi/2 split (33 + 33 + 33 + 53 bits).
    let parts = [
        f64::from_bits(0x3FF9_21FB_5440_0000),
        f64::from_bits(0x3DD0_B461_1A60_0000),
        f64::from_bits(0x3BA3_198A_2E00_0000),
        f64::from_bits(0x397B_839A_2520_49C1),
    ];
    let mut r_cw = xd;
    for p in parts {
        let n = c.reg(Class::Fd);
        ins!(c; Fma.Rn.F64 n, kr, Imm::f64(-p), r_cw);
        r_cw = n;
    }
    // Final (r, quadrant) registers, overwritten by the large-|x| path.
    let r = c.reg(Class::Fd);
    let q0 = c.reg(Class::R);
    ins!(c; Mov.F64 r, r_cw);
    ins!(c; Mov.B32 q0, q_cw);
    large_reduction(c, x, r, q0);
    let z = c.reg(Class::Fd);
    ins!(c; Mul.Rn.F64 z, r, r);
    // sin r = r (1 - z/3! + z^2/5! ...), cos r = 1 - z/2! + ... (Taylor on
    // |r| <= pi/4: truncation below 1e-13).
    let inv = inv_factorials(14);
    let sin_c: Vec<f64> = (0..7)
        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } * inv[2 * k + 1])
        .collect();
    let cos_c: Vec<f64> = (0..8)
        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } * inv[2 * k])
        .collect();
    let sp = horner(c, z, &sin_c);
    let sv = c.reg(Class::Fd);
    ins!(c; Mul.Rn.F64 sv, sp, r);
    let cv = horner(c, z, &cos_c);
    // cos x = sin(x + pi/2): shift the quadrant.
    let q = if cos {
        let q1 = c.reg(Class::R);
        ins!(c; Add.S32 q1, q0, int(1));
        q1
    } else {
        q0
    };
    let odd_b = c.reg(Class::R);
    let neg_b = c.reg(Class::R);
    let odd = c.reg(Class::Pred);
    let neg = c.reg(Class::Pred);
    ins!(c; And.B32 odd_b, q, int(1));
    ins!(c; And.B32 neg_b, q, int(2));
    ins!(c; Setp.Ne.U32 odd, odd_b, int(0));
    ins!(c; Setp.Ne.U32 neg, neg_b, int(0));
    let v = c.reg(Class::Fd);
    let nv = c.reg(Class::Fd);
    let v2 = c.reg(Class::Fd);
    ins!(c; Selp.F64 v, cv, sv, odd);
    ins!(c; Neg.F64 nv, v);
    ins!(c; Selp.F64 v2, nv, v, neg);
    let d = c.reg(Class::F);
    ins!(c; Cvt.Rn.F32.F64 d, v2);
    if cos {
        d
    } else {
        // sin(-0) is -0.
        let zr = c.reg(Class::Pred);
        ins!(c; Setp.Eq.F32 zr, x, Imm::F32(0x0000_0000));
        sel(c, zr, x, d)
    }
}

/// Bits of 2/pi after the binary point, 32 per word, most significant
/// first (9 words = 288 bits; the reduction reads at most 7).
pub(super) const TWO_OVER_PI: [u32; 9] = [
    0xA2F9_836E,
    0x4E44_1529,
    0xFC27_57D1,
    0xF534_DDC0,
    0xDB62_9599,
    0x3C43_9041,
    0xFE51_63AB,
    0xDEBB_C561,
    0xB724_6E3A,
];

/// Payne–Hanek reduction for finite |x| >= 2^28, where the Cody–Waite
/// constants run out of bits: x = m 2^e (m the 24-bit significand), and only
/// the 96 bits of 2/pi from position e-1 on matter modulo 4. Overwrites
/// `r` (the reduced argument, |r| <= pi/4) and `q` (the quadrant).
fn large_reduction(c: &mut Code, x: Reg, r: Reg, q: Reg) {
    c.use_two_over_pi();
    let skip = c.label("sincos_small");
    let ax = c.reg(Class::F);
    let p_ge = c.reg(Class::Pred);
    let p_fin = c.reg(Class::Pred);
    let big = c.reg(Class::Pred);
    ins!(c; Abs.F32 ax, x);
    ins!(c; Setp.Ge.F32 p_ge, ax, Imm::F32(0x4D80_0000));
    ins!(c; Setp.Lt.F32 p_fin, ax, Imm::F32(0x7F80_0000));
    ins!(c; And.Pred big, p_ge, p_fin);
    ins!(c; @!big; Bra skip);
    let bits = c.reg(Class::R);
    let be = c.reg(Class::R);
    let frac = c.reg(Class::R);
    let m = c.reg(Class::R);
    let s = c.reg(Class::R);
    ins!(c; Mov.B32 bits, ax);
    ins!(c; Shr.U32 be, bits, int(23));
    ins!(c; And.B32 frac, bits, int(8388607));
    ins!(c; Or.B32 m, frac, int(8388608));
    // x = m 2^(be-150); the window starts after bit s = e - 2 = be - 152.
    ins!(c; Sub.S32 s, be, int(152));
    let word = c.reg(Class::R);
    let sh = c.reg(Class::R);
    let rsh = c.reg(Class::R);
    ins!(c; Shr.U32 word, s, int(5));
    ins!(c; And.B32 sh, s, int(31));
    ins!(c; Sub.S32 rsh, int(32), sh);
    let base = c.reg(Class::Rd);
    let off = c.reg(Class::Rd);
    let addr = c.reg(Class::Rd);
    ins!(c; Mov.U64 base, Symbol::TwoOverPi);
    ins!(c; Mul.Wide.U32 off, word, int(4));
    ins!(c; Add.S64 addr, base, off);
    let w: Vec<Reg> = (0..4)
        .map(|k| {
            let d = c.reg(Class::R);
            ins!(c; Ld.Const.U32 d, Addr::reg_off(addr, 4 * k));
            d
        })
        .collect();
    // 96-bit window (w0 most significant); PTX shifts by 32 give 0.
    let win: Vec<Reg> = (0..3)
        .map(|k| {
            let hi = c.reg(Class::R);
            let lo = c.reg(Class::R);
            let d = c.reg(Class::R);
            ins!(c; Shl.B32 hi, w[k], sh);
            ins!(c; Shr.U32 lo, w[k + 1], rsh);
            ins!(c; Or.B32 d, hi, lo);
            d
        })
        .collect();
    // P = m * window (120 bits) as hi:lo.
    let p0 = c.reg(Class::Rd);
    let p1 = c.reg(Class::Rd);
    let p2 = c.reg(Class::Rd);
    ins!(c; Mul.Wide.U32 p0, m, win[0]);
    ins!(c; Mul.Wide.U32 p1, m, win[1]);
    ins!(c; Mul.Wide.U32 p2, m, win[2]);
    let p1l = c.reg(Class::Rd);
    let p1h = c.reg(Class::Rd);
    let lo = c.reg(Class::Rd);
    let carry = c.reg(Class::Pred);
    let c64 = c.reg(Class::Rd);
    let hi0 = c.reg(Class::Rd);
    let hi = c.reg(Class::Rd);
    ins!(c; Shl.B64 p1l, p1, int(32));
    ins!(c; Shr.U64 p1h, p1, int(32));
    ins!(c; Add.S64 lo, p2, p1l);
    ins!(c; Setp.Lt.U64 carry, lo, p2);
    ins!(c; Selp.B64 c64, int(1), int(0), carry);
    ins!(c; Add.S64 hi0, p0, p1h);
    ins!(c; Add.S64 hi, hi0, c64);
    // Bits 95..94 of P: quadrant; bits 93..30: the fraction, read as a
    // signed 64-bit fixed-point number (a fraction >= 1/2 becomes negative
    // and the quadrant moves up by one).
    let qh = c.reg(Class::Rd);
    let qq = c.reg(Class::R);
    let fh = c.reg(Class::Rd);
    let fl = c.reg(Class::Rd);
    let f = c.reg(Class::Rd);
    ins!(c; Shr.U64 qh, hi, int(30));
    ins!(c; Cvt.U32.U64 qq, qh);
    ins!(c; Shl.B64 fh, hi, int(34));
    ins!(c; Shr.U64 fl, lo, int(30));
    ins!(c; Or.B64 f, fh, fl);
    let negf = c.reg(Class::Pred);
    let q1 = c.reg(Class::R);
    let q2 = c.reg(Class::R);
    ins!(c; Setp.Lt.S64 negf, f, int(0));
    ins!(c; Add.S32 q1, qq, int(1));
    ins!(c; Selp.B32 q2, q1, qq, negf);
    let fd = c.reg(Class::Fd);
    let rr = c.reg(Class::Fd);
    ins!(c; Cvt.Rn.F64.S64 fd, f);
    // r = f 2^-64 pi/2.
    ins!(c; Mul.Rn.F64 rr, fd, Imm::f64(std::f64::consts::FRAC_PI_2 / 18_446_744_073_709_551_616.0));
    // Negative x: r -> -r, q -> -q.
    let xneg = c.reg(Class::Pred);
    let nr = c.reg(Class::Fd);
    let nq = c.reg(Class::R);
    ins!(c; Setp.Lt.F32 xneg, x, Imm::F32(0x0000_0000));
    ins!(c; Neg.F64 nr, rr);
    ins!(c; Neg.S32 nq, q2);
    ins!(c; Selp.F64 r, nr, rr, xneg);
    ins!(c; Selp.B32 q, nq, q2, xneg);
    c.place(skip);
}

/// `x.tanh()`.
pub(super) fn tanh(c: &mut Code, mode: MathMode, x: Reg) -> Reg {
    if mode.allows(MathFn::Tanh) {
        let d = c.reg(Class::F);
        ins!(c; Tanh.Approx.F32 d, x);
        return d;
    }
    // tanh|x| = (e^{2|x|} - 1) / (e^{2|x|} + 1) in f64; below 2^-12
    // tanh x rounds to x itself; above 20 it rounds to 1.
    let a = c.reg(Class::F);
    let ac = c.reg(Class::F);
    let ad = c.reg(Class::Fd);
    let t2 = c.reg(Class::Fd);
    ins!(c; Abs.F32 a, x);
    ins!(c; Min.F32 ac, a, Imm::F32(0x41A0_0000));
    ins!(c; Cvt.F64.F32 ad, ac);
    ins!(c; Add.Rn.F64 t2, ad, ad);
    let ex = exp_f64(c, t2);
    let num = c.reg(Class::Fd);
    let den = c.reg(Class::Fd);
    let q = c.reg(Class::Fd);
    let mag = c.reg(Class::F);
    ins!(c; Sub.Rn.F64 num, ex, Imm::F64(0x3FF0_0000_0000_0000));
    ins!(c; Add.Rn.F64 den, ex, Imm::F64(0x3FF0_0000_0000_0000));
    ins!(c; Div.Rn.F64 q, num, den);
    ins!(c; Cvt.Rn.F32.F64 mag, q);
    let d = c.reg(Class::F);
    ins!(c; Copysign.F32 d, x, mag);
    let small = c.reg(Class::Pred);
    ins!(c; Setp.Lt.F32 small, a, Imm::F32(0x3980_0000));
    let d = sel(c, small, x, d);
    let nan = is_nan(c, x);
    sel(c, nan, x, d)
}

/// `x.powf(y)` with C99/Rust special cases.
pub(super) fn powf(c: &mut Code, mode: MathMode, x: Reg, y: Reg) -> Reg {
    if mode.allows(MathFn::Powf) {
        let l = c.reg(Class::F);
        let t = c.reg(Class::F);
        let d = c.reg(Class::F);
        ins!(c; Lg2.Approx.F32 l, x);
        ins!(c; Mul.F32 t, y, l);
        ins!(c; Ex2.Approx.F32 d, t);
        return d;
    }
    let ax = c.reg(Class::F);
    let axd = c.reg(Class::Fd);
    let yd = c.reg(Class::Fd);
    ins!(c; Abs.F32 ax, x);
    ins!(c; Cvt.F64.F32 axd, ax);
    ins!(c; Cvt.F64.F32 yd, y);
    let l = ln_f64(c, axd);
    let t = c.reg(Class::Fd);
    let t1 = c.reg(Class::Fd);
    let t2 = c.reg(Class::Fd);
    ins!(c; Mul.Rn.F64 t, yd, l);
    ins!(c; Max.F64 t1, t, Imm::F64(0xC069_0000_0000_0000));
    ins!(c; Min.F64 t2, t1, Imm::F64(0x4069_0000_0000_0000));
    let r = exp_f64(c, t2);
    let d0 = c.reg(Class::F);
    ins!(c; Cvt.Rn.F32.F64 d0, r);
    // |x| == 0: y < 0 -> inf, else 0.  |x| == inf: y < 0 -> 0, else inf.
    let x0 = c.reg(Class::Pred);
    let xinf = c.reg(Class::Pred);
    let yneg = c.reg(Class::Pred);
    ins!(c; Setp.Eq.F32 x0, ax, Imm::F32(0x0000_0000));
    ins!(c; Setp.Eq.F32 xinf, ax, Imm::F32(0x7F80_0000));
    ins!(c; Setp.Lt.F32 yneg, y, Imm::F32(0x0000_0000));
    let zero_val = c.reg(Class::F);
    let inf_val = c.reg(Class::F);
    ins!(c; Selp.F32 zero_val, Imm::F32(0x7F80_0000), Imm::F32(0x0000_0000), yneg);
    ins!(c; Selp.F32 inf_val, Imm::F32(0x0000_0000), Imm::F32(0x7F80_0000), yneg);
    let d = sel(c, x0, zero_val, d0);
    let d = sel(c, xinf, inf_val, d);
    // Sign: x negative (sign bit set) and y an odd integer negates.
    let yt = c.reg(Class::F);
    let yint = c.reg(Class::Pred);
    let ay = c.reg(Class::F);
    let ysmall = c.reg(Class::Pred);
    let yi = c.reg(Class::R);
    let ybit = c.reg(Class::R);
    let yodd0 = c.reg(Class::Pred);
    let yodd1 = c.reg(Class::Pred);
    let yodd = c.reg(Class::Pred);
    ins!(c; Cvt.Rzi.F32.F32 yt, y);
    ins!(c; Setp.Eq.F32 yint, yt, y);
    ins!(c; Abs.F32 ay, y);
    ins!(c; Setp.Lt.F32 ysmall, ay, Imm::F32(0x4B80_0000));
    ins!(c; Cvt.Rzi.S32.F32 yi, y);
    ins!(c; And.B32 ybit, yi, int(1));
    ins!(c; Setp.Ne.U32 yodd0, ybit, int(0));
    ins!(c; And.Pred yodd1, yodd0, ysmall);
    ins!(c; And.Pred yodd, yodd1, yint);
    let xb = c.reg(Class::R);
    let xneg = c.reg(Class::Pred);
    let flip = c.reg(Class::Pred);
    let nd = c.reg(Class::F);
    ins!(c; Mov.B32 xb, x);
    ins!(c; Setp.Lt.S32 xneg, xb, int(0));
    ins!(c; And.Pred flip, xneg, yodd);
    ins!(c; Neg.F32 nd, d);
    let d = sel(c, flip, nd, d);
    // Finite negative x with non-integer y: NaN.
    let xlt = c.reg(Class::Pred);
    let xfin = c.reg(Class::Pred);
    let nonint = c.reg(Class::Pred);
    let bad0 = c.reg(Class::Pred);
    let bad = c.reg(Class::Pred);
    ins!(c; Setp.Lt.F32 xlt, x, Imm::F32(0x0000_0000));
    ins!(c; Testp.Finite.F32 xfin, x);
    ins!(c; Not.Pred nonint, yint);
    ins!(c; And.Pred bad0, xlt, xfin);
    ins!(c; And.Pred bad, bad0, nonint);
    let d = sel(c, bad, Imm::F32(0x7FC0_0000), d);
    // |x| == 1 and y = +-inf: 1.
    let x1 = c.reg(Class::Pred);
    let yinf = c.reg(Class::Pred);
    let one_inf = c.reg(Class::Pred);
    ins!(c; Setp.Eq.F32 x1, ax, Imm::F32(0x3F80_0000));
    ins!(c; Setp.Eq.F32 yinf, ay, Imm::F32(0x7F80_0000));
    ins!(c; And.Pred one_inf, x1, yinf);
    let d = sel(c, one_inf, Imm::F32(0x3F80_0000), d);
    // NaN in, NaN out (x + y propagates it) ...
    let s = c.reg(Class::F);
    ins!(c; Add.Rn.F32 s, x, y);
    let xnan = is_nan(c, x);
    let ynan = is_nan(c, y);
    let any_nan = c.reg(Class::Pred);
    ins!(c; Or.Pred any_nan, xnan, ynan);
    let d = sel(c, any_nan, s, d);
    // ... except pow(x, 0) == 1 and pow(1, y) == 1.
    let y0 = c.reg(Class::Pred);
    let xone = c.reg(Class::Pred);
    let one = c.reg(Class::Pred);
    ins!(c; Setp.Eq.F32 y0, y, Imm::F32(0x0000_0000));
    ins!(c; Setp.Eq.F32 xone, x, Imm::F32(0x3F80_0000));
    ins!(c; Or.Pred one, y0, xone);
    sel(c, one, Imm::F32(0x3F80_0000), d)
}

/// `x % y` on f32 (C `fmodf`, exact): musl's integer long division on the
/// significands, one bit per exponent step.
pub(super) fn fmod(c: &mut Code, x: Reg, y: Reg) -> Reg {
    let ux = c.reg(Class::R);
    let uy = c.reg(Class::R);
    let sx = c.reg(Class::R);
    let ax = c.reg(Class::R);
    let ay = c.reg(Class::R);
    ins!(c; Mov.B32 ux, x);
    ins!(c; Mov.B32 uy, y);
    ins!(c; And.B32 sx, ux, int(-2147483648));
    ins!(c; And.B32 ax, ux, int(2147483647));
    ins!(c; And.B32 ay, uy, int(2147483647));
    let p1 = c.reg(Class::Pred);
    let p2 = c.reg(Class::Pred);
    let p3 = c.reg(Class::Pred);
    let pn0 = c.reg(Class::Pred);
    let pnan = c.reg(Class::Pred);
    let psmall = c.reg(Class::Pred);
    let pspec = c.reg(Class::Pred);
    ins!(c; Setp.Eq.U32 p1, ay, int(0));
    ins!(c; Setp.Ge.U32 p2, ax, int(2139095040));
    ins!(c; Setp.Gt.U32 p3, ay, int(2139095040));
    ins!(c; Or.Pred pn0, p1, p2);
    ins!(c; Or.Pred pnan, pn0, p3);
    ins!(c; Setp.Lt.U32 psmall, ax, ay);
    ins!(c; Or.Pred pspec, pnan, psmall);
    // Result register, preset for the special cases.
    let d = c.reg(Class::F);
    ins!(c; Selp.F32 d, x, Imm::F32(0x7FC0_0000), psmall);
    ins!(c; Selp.F32 d, Imm::F32(0x7FC0_0000), d, pnan);
    let done = c.label("fmod_done");
    let lp = c.label("fmod_loop");
    let after = c.label("fmod_after");
    ins!(c; @ pspec; Bra done);
    // Exponents and significands (subnormals normalised with clz).
    let (mx, ex) = unpack(c, ax);
    let (my, ey) = unpack(c, ay);
    c.place(lp);
    let pl = c.reg(Class::Pred);
    let i = c.reg(Class::R);
    let pge = c.reg(Class::Pred);
    ins!(c; Setp.Le.S32 pl, ex, ey);
    ins!(c; @ pl; Bra after);
    ins!(c; Sub.S32 i, mx, my);
    ins!(c; Setp.Ge.S32 pge, i, int(0));
    ins!(c; @ pge; Mov.B32 mx, i);
    ins!(c; Shl.B32 mx, mx, int(1));
    ins!(c; Sub.S32 ex, ex, int(1));
    ins!(c; Bra lp);
    c.place(after);
    let i2 = c.reg(Class::R);
    let pge2 = c.reg(Class::Pred);
    ins!(c; Sub.S32 i2, mx, my);
    ins!(c; Setp.Ge.S32 pge2, i2, int(0));
    ins!(c; @ pge2; Mov.B32 mx, i2);
    let pz = c.reg(Class::Pred);
    ins!(c; Setp.Eq.U32 pz, mx, int(0));
    let lz = c.reg(Class::R);
    let sh = c.reg(Class::R);
    let mn = c.reg(Class::R);
    let en = c.reg(Class::R);
    ins!(c; Clz.B32 lz, mx);
    ins!(c; Sub.S32 sh, lz, int(8));
    ins!(c; Shl.B32 mn, mx, sh);
    ins!(c; Sub.S32 en, ex, sh);
    // Normal: replace the implicit bit by the exponent; subnormal: shift.
    let norm0 = c.reg(Class::R);
    let eb = c.reg(Class::R);
    let norm = c.reg(Class::R);
    let rs = c.reg(Class::R);
    let sub = c.reg(Class::R);
    let pnorm = c.reg(Class::Pred);
    let bits0 = c.reg(Class::R);
    let bits1 = c.reg(Class::R);
    let bits = c.reg(Class::R);
    ins!(c; Sub.S32 norm0, mn, int(8388608));
    ins!(c; Shl.B32 eb, en, int(23));
    ins!(c; Or.B32 norm, norm0, eb);
    ins!(c; Sub.S32 rs, int(1), en);
    ins!(c; Shr.U32 sub, mn, rs);
    ins!(c; Setp.Gt.S32 pnorm, en, int(0));
    ins!(c; Selp.B32 bits0, norm, sub, pnorm);
    ins!(c; Selp.B32 bits1, int(0), bits0, pz);
    ins!(c; Or.B32 bits, bits1, sx);
    ins!(c; Mov.B32 d, bits);
    c.place(done);
    d
}

/// Significand (with the implicit bit, or normalised when subnormal) and
/// unbiased-plus-127 exponent of a positive finite nonzero f32 bit pattern.
fn unpack(c: &mut Code, a: Reg) -> (Reg, Reg) {
    let ex0 = c.reg(Class::R);
    let pz = c.reg(Class::Pred);
    let frac = c.reg(Class::R);
    let mnorm = c.reg(Class::R);
    let lz = c.reg(Class::R);
    let sh = c.reg(Class::R);
    let msub = c.reg(Class::R);
    let esub = c.reg(Class::R);
    let m = c.reg(Class::R);
    let ex = c.reg(Class::R);
    ins!(c; Shr.U32 ex0, a, int(23));
    ins!(c; Setp.Eq.U32 pz, ex0, int(0));
    ins!(c; And.B32 frac, a, int(8388607));
    ins!(c; Or.B32 mnorm, frac, int(8388608));
    ins!(c; Clz.B32 lz, a);
    ins!(c; Sub.S32 sh, lz, int(8));
    ins!(c; Shl.B32 msub, a, sh);
    ins!(c; Sub.S32 esub, int(1), sh);
    ins!(c; Selp.B32 m, msub, mnorm, pz);
    ins!(c; Selp.B32 ex, esub, ex0, pz);
    (m, ex)
}

#[cfg(test)]
mod tests {
    use super::{exp_f32_model, exp2_f32_model};

    /// Error of `got` against `exact` in units of the last place of the
    /// `f32` nearest `exact` (the smallest subnormal below it).
    fn ulp_error(got: f32, exact: f64) -> f64 {
        if got.is_infinite() && exact > f64::from(f32::MAX) {
            return 0.0;
        }
        let near = (exact as f32).abs();
        let ulp = f64::from(f32::from_bits(near.to_bits() + 1)) - f64::from(near);
        let ulp = ulp.max(f64::from(f32::from_bits(1)));
        (f64::from(got) - exact).abs() / ulp
    }

    #[test]
    fn exp_f32_is_within_one_ulp_but_for_ex2() {
        // Every 1021st encoding over the clamped range (both signs), with a
        // correctly rounded `ex2` (the device's adds at most 2 ULP; the
        // device test `cuda_kernels::float_math_within_documented_ulp`
        // checks the whole).
        let mut worst = (0.0f64, 0.0f32);
        for bits in (0..=u32::MAX).step_by(1021) {
            let x = f32::from_bits(bits);
            if x.is_nan() || !(-104.0..=89.0).contains(&x) {
                continue;
            }
            let e = ulp_error(exp_f32_model(x), f64::from(x).exp());
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 < 1.0, "{} ULP at {:e}", worst.0, worst.1);
    }

    #[test]
    fn exp2_f32_is_exact_but_for_ex2() {
        // Every 1021st encoding over the clamped range, and around every
        // integer from -150 to 128 (where `j` changes and the results turn
        // subnormal or overflow): with a correctly rounded `ex2` (the
        // device's adds at most 2 ULP), a normal result is correctly
        // rounded, and a subnormal one, rounded twice, within 1 ULP.
        let mut worst = [(0.0f64, 0.0f32); 2];
        let near_integers = (-150i32..=128).flat_map(|k| {
            let k = k as f32;
            [k, k - 0.5, k + 0.5, k - 1e-3, k + 1e-3]
        });
        let sweep = (0..=u32::MAX).step_by(1021).map(f32::from_bits);
        for x in sweep.chain(near_integers) {
            if x.is_nan() || !(-150.0..=128.0).contains(&x) {
                continue;
            }
            let e = ulp_error(exp2_f32_model(x), f64::from(x).exp2());
            let w = &mut worst[usize::from(x < -126.0)];
            if e > w.0 {
                *w = (e, x);
            }
        }
        let [normal, subnormal] = worst;
        assert!(normal.0 <= 0.5, "{} ULP at {:e}", normal.0, normal.1);
        assert!(
            subnormal.0 < 1.0,
            "{} ULP at {:e}",
            subnormal.0,
            subnormal.1
        );
        assert_eq!(exp2_f32_model(0.0), 1.0);
        assert_eq!(exp2_f32_model(-149.0), f32::from_bits(1));
        assert_eq!(exp2_f32_model(-150.0), 0.0);
        assert_eq!(exp2_f32_model(127.0), 2f32.powi(127));
        assert_eq!(exp2_f32_model(128.0), f32::INFINITY);
    }

    #[test]
    fn exp_f32_log2e_split_is_exact_enough() {
        let sum = f64::from(super::EXP_LOG2E_HI) + f64::from(super::EXP_LOG2E_LO);
        assert!((sum - std::f64::consts::LOG2_E).abs() < 1e-15);
    }

    #[test]
    fn exp_f32_ends_of_the_range() {
        assert_eq!(exp_f32_model(0.0), 1.0);
        assert_eq!(exp_f32_model(-104.0), 0.0);
        assert_eq!(exp_f32_model(89.0), f32::INFINITY);
        // The largest finite result, and subnormal results rounded once.
        assert!(exp_f32_model(88.72283).is_finite());
        assert_eq!(exp_f32_model(88.72284), f32::INFINITY);
        for x in [-87.5f32, -95.0, -100.0, -103.0] {
            let exact = f64::from(x).exp();
            assert!(ulp_error(exp_f32_model(x), exact) < 1.0, "{x}");
            assert!(exp_f32_model(x) > 0.0, "{x}");
        }
    }
}
