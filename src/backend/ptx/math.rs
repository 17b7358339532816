//! Transcendental functions and `f32 %` in PTX.
//!
//! PTX only has approximate `ex2/lg2/sin/cos/tanh`. By default (ULP budget 0,
//! no `fast_math`) we evaluate in `f64` with short polynomials and round once
//! to `f32`: the `f64` error (below 2^-40 relative after range reduction) is
//! far under half an `f32` ULP, so results are within 1 ULP (nearly always
//! correctly rounded) — well inside the documented bounds (exp/ln/sin/cos
//! 4 ULP, tanh/powf 8 ULP). sin/cos reduce with a Cody–Waite 4-part pi/2
//! for |x| < 2^28 and a Payne–Hanek reduction (96 bits of 2/pi from a
//! constant table) above, so the bound holds over the whole f32 range. The
//! cost is f64 throughput: fine on data-centre GPUs
//! (sm_70/80/90), slow on consumer ones, where `fast_math` or a ULP budget
//! selects the hardware approximations (see [`MathMode::allows`]).

use crate::ir::MathFn;

use super::emit::{Class, Emitter};

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

fn f64c(v: f64) -> String {
    format!("0d{:016X}", v.to_bits())
}

fn f32c(v: f32) -> String {
    format!("0f{:08X}", v.to_bits())
}

/// fdlibm's ln 2 split: the high part has 32 significant bits, so that
/// `k * LN2_HI` is exact for the exponents we meet.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// Horner evaluation `c[0] + z*(c[1] + z*(...))` in f64.
fn horner(e: &mut Emitter<'_>, z: &str, c: &[f64]) -> String {
    let mut acc = e.reg_raw(Class::Fd);
    e.ins(format!("mov.f64 {acc}, {};", f64c(c[c.len() - 1])));
    for &k in c[..c.len() - 1].iter().rev() {
        let n = e.reg_raw(Class::Fd);
        e.ins(format!("fma.rn.f64 {n}, {acc}, {z}, {};", f64c(k)));
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
fn exp_f64(e: &mut Emitter<'_>, t: &str) -> String {
    let k = e.reg_raw(Class::Fd);
    let kr = e.reg_raw(Class::Fd);
    let ki = e.reg_raw(Class::R);
    e.ins(format!(
        "mul.rn.f64 {k}, {t}, {};",
        f64c(std::f64::consts::LOG2_E)
    ));
    e.ins(format!("cvt.rni.f64.f64 {kr}, {k};"));
    e.ins(format!("cvt.rni.s32.f64 {ki}, {k};"));
    // r = t - k ln2, with ln2 split so that k * LN2_HI is exact.
    let r1 = e.reg_raw(Class::Fd);
    let r = e.reg_raw(Class::Fd);
    e.ins(format!("fma.rn.f64 {r1}, {kr}, {}, {t};", f64c(-LN2_HI)));
    e.ins(format!("fma.rn.f64 {r}, {kr}, {}, {r1};", f64c(-LN2_LO)));
    // |r| <= ln2/2: Taylor to r^11 leaves < 1e-14 relative error.
    let p = horner(e, &r, &inv_factorials(11));
    let kd = e.reg_raw(Class::Rd);
    let kb = e.reg_raw(Class::Rd);
    let ks = e.reg_raw(Class::Rd);
    let scale = e.reg_raw(Class::Fd);
    let out = e.reg_raw(Class::Fd);
    e.ins(format!("cvt.s64.s32 {kd}, {ki};"));
    e.ins(format!("add.s64 {kb}, {kd}, 1023;"));
    e.ins(format!("shl.b64 {ks}, {kb}, 52;"));
    e.ins(format!("mov.b64 {scale}, {ks};"));
    e.ins(format!("mul.rn.f64 {out}, {p}, {scale};"));
    out
}

/// ln(x) in f64 for positive, finite, normal f64 x.
fn ln_f64(e: &mut Emitter<'_>, x: &str) -> String {
    let bits = e.reg_raw(Class::Rd);
    let eb = e.reg_raw(Class::Rd);
    let e32 = e.reg_raw(Class::R);
    let ex = e.reg_raw(Class::R);
    e.ins(format!("mov.b64 {bits}, {x};"));
    e.ins(format!("shr.u64 {eb}, {bits}, 52;"));
    e.ins(format!("cvt.u32.u64 {e32}, {eb};"));
    e.ins(format!("sub.s32 {ex}, {e32}, 1023;"));
    let mb = e.reg_raw(Class::Rd);
    let mb2 = e.reg_raw(Class::Rd);
    let m = e.reg_raw(Class::Fd);
    e.ins(format!("and.b64 {mb}, {bits}, 4503599627370495;"));
    e.ins(format!("or.b64 {mb2}, {mb}, 4607182418800017408;"));
    e.ins(format!("mov.b64 {m}, {mb2};"));
    // m in [1, 2); fold to [sqrt(1/2), sqrt(2)) so that |s| <= 0.1716.
    let big = e.reg_raw(Class::Pred);
    let half = e.reg_raw(Class::Fd);
    let mm = e.reg_raw(Class::Fd);
    let ex1 = e.reg_raw(Class::R);
    let ex2 = e.reg_raw(Class::R);
    e.ins(format!(
        "setp.gt.f64 {big}, {m}, {};",
        f64c(std::f64::consts::SQRT_2)
    ));
    e.ins(format!("mul.rn.f64 {half}, {m}, 0d3FE0000000000000;"));
    e.ins(format!("selp.f64 {mm}, {half}, {m}, {big};"));
    e.ins(format!("add.s32 {ex1}, {ex}, 1;"));
    e.ins(format!("selp.b32 {ex2}, {ex1}, {ex}, {big};"));
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1).
    let f = e.reg_raw(Class::Fd);
    let den = e.reg_raw(Class::Fd);
    let s = e.reg_raw(Class::Fd);
    let z = e.reg_raw(Class::Fd);
    e.ins(format!("sub.rn.f64 {f}, {mm}, 0d3FF0000000000000;"));
    e.ins(format!("add.rn.f64 {den}, {mm}, 0d3FF0000000000000;"));
    e.ins(format!("div.rn.f64 {s}, {f}, {den};"));
    e.ins(format!("mul.rn.f64 {z}, {s}, {s};"));
    let coeffs: Vec<f64> = (0..8).map(|k| 1.0 / f64::from(2 * k + 1)).collect();
    let q = horner(e, &z, &coeffs);
    let s2 = e.reg_raw(Class::Fd);
    let lnm = e.reg_raw(Class::Fd);
    e.ins(format!("add.rn.f64 {s2}, {s}, {s};"));
    e.ins(format!("mul.rn.f64 {lnm}, {s2}, {q};"));
    let ed = e.reg_raw(Class::Fd);
    let lo = e.reg_raw(Class::Fd);
    let out = e.reg_raw(Class::Fd);
    e.ins(format!("cvt.rn.f64.s32 {ed}, {ex2};"));
    e.ins(format!("fma.rn.f64 {lo}, {ed}, {}, {lnm};", f64c(LN2_LO)));
    e.ins(format!("fma.rn.f64 {out}, {ed}, {}, {lo};", f64c(LN2_HI)));
    out
}

/// `d = p ? a : d` for f32.
fn sel(e: &mut Emitter<'_>, p: &str, a: &str, d: &str) -> String {
    let n = e.reg_raw(Class::F);
    e.ins(format!("selp.f32 {n}, {a}, {d}, {p};"));
    n
}

fn is_nan(e: &mut Emitter<'_>, x: &str) -> String {
    let p = e.reg_raw(Class::Pred);
    e.ins(format!("testp.notanumber.f32 {p}, {x};"));
    p
}

/// `x.exp()`.
pub(super) fn exp(e: &mut Emitter<'_>, x: &str) -> String {
    if e.math_mode().allows(MathFn::Exp) {
        let t = e.reg_raw(Class::F);
        let d = e.reg_raw(Class::F);
        e.ins(format!(
            "mul.f32 {t}, {x}, {};",
            f32c(std::f32::consts::LOG2_E)
        ));
        e.ins(format!("ex2.approx.f32 {d}, {t};"));
        return d;
    }
    // Clamp to where the result is finite and nonzero (beyond it the f32
    // rounding gives inf or 0 anyway); min/max drop NaN, so restore it.
    let c1 = e.reg_raw(Class::F);
    let c2 = e.reg_raw(Class::F);
    let t = e.reg_raw(Class::Fd);
    let d = e.reg_raw(Class::F);
    e.ins(format!("max.f32 {c1}, {x}, 0fC2D00000;"));
    e.ins(format!("min.f32 {c2}, {c1}, 0f42B20000;"));
    e.ins(format!("cvt.f64.f32 {t}, {c2};"));
    let r = exp_f64(e, &t);
    e.ins(format!("cvt.rn.f32.f64 {d}, {r};"));
    let nan = is_nan(e, x);
    sel(e, &nan, x, &d)
}

/// `x.ln()`.
pub(super) fn ln(e: &mut Emitter<'_>, x: &str) -> String {
    if e.math_mode().allows(MathFn::Ln) {
        let t = e.reg_raw(Class::F);
        let d = e.reg_raw(Class::F);
        e.ins(format!("lg2.approx.f32 {t}, {x};"));
        e.ins(format!(
            "mul.f32 {d}, {t}, {};",
            f32c(std::f32::consts::LN_2)
        ));
        return d;
    }
    let xd = e.reg_raw(Class::Fd);
    let d = e.reg_raw(Class::F);
    e.ins(format!("cvt.f64.f32 {xd}, {x};"));
    let r = ln_f64(e, &xd);
    e.ins(format!("cvt.rn.f32.f64 {d}, {r};"));
    // Special inputs: 0 -> -inf, negative -> NaN, +inf -> +inf, NaN -> NaN.
    let z = e.reg_raw(Class::Pred);
    let neg = e.reg_raw(Class::Pred);
    let inf = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.f32 {z}, {x}, 0f00000000;"));
    e.ins(format!("setp.lt.f32 {neg}, {x}, 0f00000000;"));
    e.ins(format!("setp.eq.f32 {inf}, {x}, 0f7F800000;"));
    let d = sel(e, &z, "0fFF800000", &d);
    let d = sel(e, &neg, "0f7FC00000", &d);
    let d = sel(e, &inf, x, &d);
    let nan = is_nan(e, x);
    sel(e, &nan, x, &d)
}

/// `x.sin()` or, with `cos`, `x.cos()`.
pub(super) fn sin_cos(e: &mut Emitter<'_>, x: &str, cos: bool) -> String {
    let f = if cos { MathFn::Cos } else { MathFn::Sin };
    if e.math_mode().allows(f) {
        let d = e.reg_raw(Class::F);
        let n = if cos { "cos" } else { "sin" };
        e.ins(format!("{n}.approx.f32 {d}, {x};"));
        return d;
    }
    let xd = e.reg_raw(Class::Fd);
    let k = e.reg_raw(Class::Fd);
    let kr = e.reg_raw(Class::Fd);
    let kl = e.reg_raw(Class::Rd);
    let q_cw = e.reg_raw(Class::R);
    e.ins(format!("cvt.f64.f32 {xd}, {x};"));
    e.ins(format!(
        "mul.rn.f64 {k}, {xd}, {};",
        f64c(std::f64::consts::FRAC_2_PI)
    ));
    e.ins(format!("cvt.rni.f64.f64 {kr}, {k};"));
    e.ins(format!("cvt.rzi.s64.f64 {kl}, {kr};"));
    e.ins(format!("cvt.u32.u64 {q_cw}, {kl};"));
    // fdlibm's pi/2 split (33 + 33 + 33 + 53 bits).
    let parts = [
        f64::from_bits(0x3FF9_21FB_5440_0000),
        f64::from_bits(0x3DD0_B461_1A60_0000),
        f64::from_bits(0x3BA3_198A_2E00_0000),
        f64::from_bits(0x397B_839A_2520_49C1),
    ];
    let mut r_cw = xd.clone();
    for p in parts {
        let n = e.reg_raw(Class::Fd);
        e.ins(format!("fma.rn.f64 {n}, {kr}, {}, {r_cw};", f64c(-p)));
        r_cw = n;
    }
    // Final (r, quadrant) registers, overwritten by the large-|x| path.
    let r = e.reg_raw(Class::Fd);
    let q0 = e.reg_raw(Class::R);
    e.ins(format!("mov.f64 {r}, {r_cw};"));
    e.ins(format!("mov.b32 {q0}, {q_cw};"));
    large_reduction(e, x, &r, &q0);
    let z = e.reg_raw(Class::Fd);
    e.ins(format!("mul.rn.f64 {z}, {r}, {r};"));
    // sin r = r (1 - z/3! + z^2/5! ...), cos r = 1 - z/2! + ... (Taylor on
    // |r| <= pi/4: truncation below 1e-13).
    let inv = inv_factorials(14);
    let sin_c: Vec<f64> = (0..7)
        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } * inv[2 * k + 1])
        .collect();
    let cos_c: Vec<f64> = (0..8)
        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } * inv[2 * k])
        .collect();
    let sp = horner(e, &z, &sin_c);
    let sv = e.reg_raw(Class::Fd);
    e.ins(format!("mul.rn.f64 {sv}, {sp}, {r};"));
    let cv = horner(e, &z, &cos_c);
    // cos x = sin(x + pi/2): shift the quadrant.
    let q = if cos {
        let q1 = e.reg_raw(Class::R);
        e.ins(format!("add.s32 {q1}, {q0}, 1;"));
        q1
    } else {
        q0
    };
    let odd_b = e.reg_raw(Class::R);
    let neg_b = e.reg_raw(Class::R);
    let odd = e.reg_raw(Class::Pred);
    let neg = e.reg_raw(Class::Pred);
    e.ins(format!("and.b32 {odd_b}, {q}, 1;"));
    e.ins(format!("and.b32 {neg_b}, {q}, 2;"));
    e.ins(format!("setp.ne.u32 {odd}, {odd_b}, 0;"));
    e.ins(format!("setp.ne.u32 {neg}, {neg_b}, 0;"));
    let v = e.reg_raw(Class::Fd);
    let nv = e.reg_raw(Class::Fd);
    let v2 = e.reg_raw(Class::Fd);
    e.ins(format!("selp.f64 {v}, {cv}, {sv}, {odd};"));
    e.ins(format!("neg.f64 {nv}, {v};"));
    e.ins(format!("selp.f64 {v2}, {nv}, {v}, {neg};"));
    let d = e.reg_raw(Class::F);
    e.ins(format!("cvt.rn.f32.f64 {d}, {v2};"));
    if cos {
        d
    } else {
        // sin(-0) is -0.
        let zr = e.reg_raw(Class::Pred);
        e.ins(format!("setp.eq.f32 {zr}, {x}, 0f00000000;"));
        sel(e, &zr, x, &d)
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
fn large_reduction(e: &mut Emitter<'_>, x: &str, r: &str, q: &str) {
    e.use_two_over_pi();
    let skip = e.fresh_label("sincos_small");
    let ax = e.reg_raw(Class::F);
    let p_ge = e.reg_raw(Class::Pred);
    let p_fin = e.reg_raw(Class::Pred);
    let big = e.reg_raw(Class::Pred);
    e.ins(format!("abs.f32 {ax}, {x};"));
    e.ins(format!("setp.ge.f32 {p_ge}, {ax}, 0f4D800000;"));
    e.ins(format!("setp.lt.f32 {p_fin}, {ax}, 0f7F800000;"));
    e.ins(format!("and.pred {big}, {p_ge}, {p_fin};"));
    e.ins(format!("@!{big} bra {skip};"));
    let bits = e.reg_raw(Class::R);
    let be = e.reg_raw(Class::R);
    let frac = e.reg_raw(Class::R);
    let m = e.reg_raw(Class::R);
    let s = e.reg_raw(Class::R);
    e.ins(format!("mov.b32 {bits}, {ax};"));
    e.ins(format!("shr.u32 {be}, {bits}, 23;"));
    e.ins(format!("and.b32 {frac}, {bits}, 8388607;"));
    e.ins(format!("or.b32 {m}, {frac}, 8388608;"));
    // x = m 2^(be-150); the window starts after bit s = e - 2 = be - 152.
    e.ins(format!("sub.s32 {s}, {be}, 152;"));
    let word = e.reg_raw(Class::R);
    let sh = e.reg_raw(Class::R);
    let rsh = e.reg_raw(Class::R);
    e.ins(format!("shr.u32 {word}, {s}, 5;"));
    e.ins(format!("and.b32 {sh}, {s}, 31;"));
    e.ins(format!("sub.s32 {rsh}, 32, {sh};"));
    let base = e.reg_raw(Class::Rd);
    let off = e.reg_raw(Class::Rd);
    let addr = e.reg_raw(Class::Rd);
    e.ins(format!("mov.u64 {base}, vyre_two_over_pi;"));
    e.ins(format!("mul.wide.u32 {off}, {word}, 4;"));
    e.ins(format!("add.s64 {addr}, {base}, {off};"));
    let w: Vec<String> = (0..4)
        .map(|k| {
            let d = e.reg_raw(Class::R);
            e.ins(format!("ld.const.u32 {d}, [{addr}+{}];", 4 * k));
            d
        })
        .collect();
    // 96-bit window (w0 most significant); PTX shifts by 32 give 0.
    let win: Vec<String> = (0..3)
        .map(|k| {
            let hi = e.reg_raw(Class::R);
            let lo = e.reg_raw(Class::R);
            let d = e.reg_raw(Class::R);
            e.ins(format!("shl.b32 {hi}, {}, {sh};", w[k]));
            e.ins(format!("shr.u32 {lo}, {}, {rsh};", w[k + 1]));
            e.ins(format!("or.b32 {d}, {hi}, {lo};"));
            d
        })
        .collect();
    // P = m * window (120 bits) as hi:lo.
    let p0 = e.reg_raw(Class::Rd);
    let p1 = e.reg_raw(Class::Rd);
    let p2 = e.reg_raw(Class::Rd);
    e.ins(format!("mul.wide.u32 {p0}, {m}, {};", win[0]));
    e.ins(format!("mul.wide.u32 {p1}, {m}, {};", win[1]));
    e.ins(format!("mul.wide.u32 {p2}, {m}, {};", win[2]));
    let p1l = e.reg_raw(Class::Rd);
    let p1h = e.reg_raw(Class::Rd);
    let lo = e.reg_raw(Class::Rd);
    let carry = e.reg_raw(Class::Pred);
    let c64 = e.reg_raw(Class::Rd);
    let hi0 = e.reg_raw(Class::Rd);
    let hi = e.reg_raw(Class::Rd);
    e.ins(format!("shl.b64 {p1l}, {p1}, 32;"));
    e.ins(format!("shr.u64 {p1h}, {p1}, 32;"));
    e.ins(format!("add.s64 {lo}, {p2}, {p1l};"));
    e.ins(format!("setp.lt.u64 {carry}, {lo}, {p2};"));
    e.ins(format!("selp.b64 {c64}, 1, 0, {carry};"));
    e.ins(format!("add.s64 {hi0}, {p0}, {p1h};"));
    e.ins(format!("add.s64 {hi}, {hi0}, {c64};"));
    // Bits 95..94 of P: quadrant; bits 93..30: the fraction, read as a
    // signed 64-bit fixed-point number (a fraction >= 1/2 becomes negative
    // and the quadrant moves up by one).
    let qh = e.reg_raw(Class::Rd);
    let qq = e.reg_raw(Class::R);
    let fh = e.reg_raw(Class::Rd);
    let fl = e.reg_raw(Class::Rd);
    let f = e.reg_raw(Class::Rd);
    e.ins(format!("shr.u64 {qh}, {hi}, 30;"));
    e.ins(format!("cvt.u32.u64 {qq}, {qh};"));
    e.ins(format!("shl.b64 {fh}, {hi}, 34;"));
    e.ins(format!("shr.u64 {fl}, {lo}, 30;"));
    e.ins(format!("or.b64 {f}, {fh}, {fl};"));
    let negf = e.reg_raw(Class::Pred);
    let q1 = e.reg_raw(Class::R);
    let q2 = e.reg_raw(Class::R);
    e.ins(format!("setp.lt.s64 {negf}, {f}, 0;"));
    e.ins(format!("add.s32 {q1}, {qq}, 1;"));
    e.ins(format!("selp.b32 {q2}, {q1}, {qq}, {negf};"));
    let fd = e.reg_raw(Class::Fd);
    let rr = e.reg_raw(Class::Fd);
    e.ins(format!("cvt.rn.f64.s64 {fd}, {f};"));
    // r = f 2^-64 pi/2.
    e.ins(format!(
        "mul.rn.f64 {rr}, {fd}, {};",
        f64c(std::f64::consts::FRAC_PI_2 / 18_446_744_073_709_551_616.0)
    ));
    // Negative x: r -> -r, q -> -q.
    let xneg = e.reg_raw(Class::Pred);
    let nr = e.reg_raw(Class::Fd);
    let nq = e.reg_raw(Class::R);
    e.ins(format!("setp.lt.f32 {xneg}, {x}, 0f00000000;"));
    e.ins(format!("neg.f64 {nr}, {rr};"));
    e.ins(format!("neg.s32 {nq}, {q2};"));
    e.ins(format!("selp.f64 {r}, {nr}, {rr}, {xneg};"));
    e.ins(format!("selp.b32 {q}, {nq}, {q2}, {xneg};"));
    e.put_label(&skip);
}

/// `x.tanh()`.
pub(super) fn tanh(e: &mut Emitter<'_>, x: &str) -> String {
    if e.math_mode().allows(MathFn::Tanh) {
        let d = e.reg_raw(Class::F);
        e.ins(format!("tanh.approx.f32 {d}, {x};"));
        return d;
    }
    // tanh|x| = (e^{2|x|} - 1) / (e^{2|x|} + 1) in f64; below 2^-12
    // tanh x rounds to x itself; above 20 it rounds to 1.
    let a = e.reg_raw(Class::F);
    let ac = e.reg_raw(Class::F);
    let ad = e.reg_raw(Class::Fd);
    let t2 = e.reg_raw(Class::Fd);
    e.ins(format!("abs.f32 {a}, {x};"));
    e.ins(format!("min.f32 {ac}, {a}, 0f41A00000;"));
    e.ins(format!("cvt.f64.f32 {ad}, {ac};"));
    e.ins(format!("add.rn.f64 {t2}, {ad}, {ad};"));
    let ex = exp_f64(e, &t2);
    let num = e.reg_raw(Class::Fd);
    let den = e.reg_raw(Class::Fd);
    let q = e.reg_raw(Class::Fd);
    let mag = e.reg_raw(Class::F);
    e.ins(format!("sub.rn.f64 {num}, {ex}, 0d3FF0000000000000;"));
    e.ins(format!("add.rn.f64 {den}, {ex}, 0d3FF0000000000000;"));
    e.ins(format!("div.rn.f64 {q}, {num}, {den};"));
    e.ins(format!("cvt.rn.f32.f64 {mag}, {q};"));
    let d = e.reg_raw(Class::F);
    e.ins(format!("copysign.f32 {d}, {x}, {mag};"));
    let small = e.reg_raw(Class::Pred);
    e.ins(format!("setp.lt.f32 {small}, {a}, 0f39800000;"));
    let d = sel(e, &small, x, &d);
    let nan = is_nan(e, x);
    sel(e, &nan, x, &d)
}

/// `x.powf(y)` with C99/Rust special cases.
pub(super) fn powf(e: &mut Emitter<'_>, x: &str, y: &str) -> String {
    if e.math_mode().allows(MathFn::Powf) {
        let l = e.reg_raw(Class::F);
        let t = e.reg_raw(Class::F);
        let d = e.reg_raw(Class::F);
        e.ins(format!("lg2.approx.f32 {l}, {x};"));
        e.ins(format!("mul.f32 {t}, {y}, {l};"));
        e.ins(format!("ex2.approx.f32 {d}, {t};"));
        return d;
    }
    let ax = e.reg_raw(Class::F);
    let axd = e.reg_raw(Class::Fd);
    let yd = e.reg_raw(Class::Fd);
    e.ins(format!("abs.f32 {ax}, {x};"));
    e.ins(format!("cvt.f64.f32 {axd}, {ax};"));
    e.ins(format!("cvt.f64.f32 {yd}, {y};"));
    let l = ln_f64(e, &axd);
    let t = e.reg_raw(Class::Fd);
    let t1 = e.reg_raw(Class::Fd);
    let t2 = e.reg_raw(Class::Fd);
    e.ins(format!("mul.rn.f64 {t}, {yd}, {l};"));
    e.ins(format!("max.f64 {t1}, {t}, 0dC069000000000000;"));
    e.ins(format!("min.f64 {t2}, {t1}, 0d4069000000000000;"));
    let r = exp_f64(e, &t2);
    let d0 = e.reg_raw(Class::F);
    e.ins(format!("cvt.rn.f32.f64 {d0}, {r};"));
    // |x| == 0: y < 0 -> inf, else 0.  |x| == inf: y < 0 -> 0, else inf.
    let x0 = e.reg_raw(Class::Pred);
    let xinf = e.reg_raw(Class::Pred);
    let yneg = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.f32 {x0}, {ax}, 0f00000000;"));
    e.ins(format!("setp.eq.f32 {xinf}, {ax}, 0f7F800000;"));
    e.ins(format!("setp.lt.f32 {yneg}, {y}, 0f00000000;"));
    let zero_val = e.reg_raw(Class::F);
    let inf_val = e.reg_raw(Class::F);
    e.ins(format!(
        "selp.f32 {zero_val}, 0f7F800000, 0f00000000, {yneg};"
    ));
    e.ins(format!(
        "selp.f32 {inf_val}, 0f00000000, 0f7F800000, {yneg};"
    ));
    let d = sel(e, &x0, &zero_val, &d0);
    let d = sel(e, &xinf, &inf_val, &d);
    // Sign: x negative (sign bit set) and y an odd integer negates.
    let yt = e.reg_raw(Class::F);
    let yint = e.reg_raw(Class::Pred);
    let ay = e.reg_raw(Class::F);
    let ysmall = e.reg_raw(Class::Pred);
    let yi = e.reg_raw(Class::R);
    let ybit = e.reg_raw(Class::R);
    let yodd0 = e.reg_raw(Class::Pred);
    let yodd1 = e.reg_raw(Class::Pred);
    let yodd = e.reg_raw(Class::Pred);
    e.ins(format!("cvt.rzi.f32.f32 {yt}, {y};"));
    e.ins(format!("setp.eq.f32 {yint}, {yt}, {y};"));
    e.ins(format!("abs.f32 {ay}, {y};"));
    e.ins(format!("setp.lt.f32 {ysmall}, {ay}, 0f4B800000;"));
    e.ins(format!("cvt.rzi.s32.f32 {yi}, {y};"));
    e.ins(format!("and.b32 {ybit}, {yi}, 1;"));
    e.ins(format!("setp.ne.u32 {yodd0}, {ybit}, 0;"));
    e.ins(format!("and.pred {yodd1}, {yodd0}, {ysmall};"));
    e.ins(format!("and.pred {yodd}, {yodd1}, {yint};"));
    let xb = e.reg_raw(Class::R);
    let xneg = e.reg_raw(Class::Pred);
    let flip = e.reg_raw(Class::Pred);
    let nd = e.reg_raw(Class::F);
    e.ins(format!("mov.b32 {xb}, {x};"));
    e.ins(format!("setp.lt.s32 {xneg}, {xb}, 0;"));
    e.ins(format!("and.pred {flip}, {xneg}, {yodd};"));
    e.ins(format!("neg.f32 {nd}, {d};"));
    let d = sel(e, &flip, &nd, &d);
    // Finite negative x with non-integer y: NaN.
    let xlt = e.reg_raw(Class::Pred);
    let xfin = e.reg_raw(Class::Pred);
    let nonint = e.reg_raw(Class::Pred);
    let bad0 = e.reg_raw(Class::Pred);
    let bad = e.reg_raw(Class::Pred);
    e.ins(format!("setp.lt.f32 {xlt}, {x}, 0f00000000;"));
    e.ins(format!("testp.finite.f32 {xfin}, {x};"));
    e.ins(format!("not.pred {nonint}, {yint};"));
    e.ins(format!("and.pred {bad0}, {xlt}, {xfin};"));
    e.ins(format!("and.pred {bad}, {bad0}, {nonint};"));
    let d = sel(e, &bad, "0f7FC00000", &d);
    // |x| == 1 and y = +-inf: 1.
    let x1 = e.reg_raw(Class::Pred);
    let yinf = e.reg_raw(Class::Pred);
    let one_inf = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.f32 {x1}, {ax}, 0f3F800000;"));
    e.ins(format!("setp.eq.f32 {yinf}, {ay}, 0f7F800000;"));
    e.ins(format!("and.pred {one_inf}, {x1}, {yinf};"));
    let d = sel(e, &one_inf, "0f3F800000", &d);
    // NaN in, NaN out (x + y propagates it) ...
    let s = e.reg_raw(Class::F);
    e.ins(format!("add.rn.f32 {s}, {x}, {y};"));
    let xnan = is_nan(e, x);
    let ynan = is_nan(e, y);
    let any_nan = e.reg_raw(Class::Pred);
    e.ins(format!("or.pred {any_nan}, {xnan}, {ynan};"));
    let d = sel(e, &any_nan, &s, &d);
    // ... except pow(x, 0) == 1 and pow(1, y) == 1.
    let y0 = e.reg_raw(Class::Pred);
    let xone = e.reg_raw(Class::Pred);
    let one = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.f32 {y0}, {y}, 0f00000000;"));
    e.ins(format!("setp.eq.f32 {xone}, {x}, 0f3F800000;"));
    e.ins(format!("or.pred {one}, {y0}, {xone};"));
    sel(e, &one, "0f3F800000", &d)
}

/// `x % y` on f32 (C `fmodf`, exact): musl's integer long division on the
/// significands, one bit per exponent step.
pub(super) fn fmod(e: &mut Emitter<'_>, x: &str, y: &str) -> String {
    let ux = e.reg_raw(Class::R);
    let uy = e.reg_raw(Class::R);
    let sx = e.reg_raw(Class::R);
    let ax = e.reg_raw(Class::R);
    let ay = e.reg_raw(Class::R);
    e.ins(format!("mov.b32 {ux}, {x};"));
    e.ins(format!("mov.b32 {uy}, {y};"));
    e.ins(format!("and.b32 {sx}, {ux}, -2147483648;"));
    e.ins(format!("and.b32 {ax}, {ux}, 2147483647;"));
    e.ins(format!("and.b32 {ay}, {uy}, 2147483647;"));
    let p1 = e.reg_raw(Class::Pred);
    let p2 = e.reg_raw(Class::Pred);
    let p3 = e.reg_raw(Class::Pred);
    let pn0 = e.reg_raw(Class::Pred);
    let pnan = e.reg_raw(Class::Pred);
    let psmall = e.reg_raw(Class::Pred);
    let pspec = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.u32 {p1}, {ay}, 0;"));
    e.ins(format!("setp.ge.u32 {p2}, {ax}, 2139095040;"));
    e.ins(format!("setp.gt.u32 {p3}, {ay}, 2139095040;"));
    e.ins(format!("or.pred {pn0}, {p1}, {p2};"));
    e.ins(format!("or.pred {pnan}, {pn0}, {p3};"));
    e.ins(format!("setp.lt.u32 {psmall}, {ax}, {ay};"));
    e.ins(format!("or.pred {pspec}, {pnan}, {psmall};"));
    // Result register, preset for the special cases.
    let d = e.reg_raw(Class::F);
    e.ins(format!("selp.f32 {d}, {x}, 0f7FC00000, {psmall};"));
    e.ins(format!("selp.f32 {d}, 0f7FC00000, {d}, {pnan};"));
    let done = e.fresh_label("fmod_done");
    let lp = e.fresh_label("fmod_loop");
    let after = e.fresh_label("fmod_after");
    e.ins(format!("@{pspec} bra {done};"));
    // Exponents and significands (subnormals normalised with clz).
    let (mx, ex) = unpack(e, &ax);
    let (my, ey) = unpack(e, &ay);
    e.put_label(&lp);
    let pl = e.reg_raw(Class::Pred);
    let i = e.reg_raw(Class::R);
    let pge = e.reg_raw(Class::Pred);
    e.ins(format!("setp.le.s32 {pl}, {ex}, {ey};"));
    e.ins(format!("@{pl} bra {after};"));
    e.ins(format!("sub.s32 {i}, {mx}, {my};"));
    e.ins(format!("setp.ge.s32 {pge}, {i}, 0;"));
    e.ins(format!("@{pge} mov.b32 {mx}, {i};"));
    e.ins(format!("shl.b32 {mx}, {mx}, 1;"));
    e.ins(format!("sub.s32 {ex}, {ex}, 1;"));
    e.ins(format!("bra {lp};"));
    e.put_label(&after);
    let i2 = e.reg_raw(Class::R);
    let pge2 = e.reg_raw(Class::Pred);
    e.ins(format!("sub.s32 {i2}, {mx}, {my};"));
    e.ins(format!("setp.ge.s32 {pge2}, {i2}, 0;"));
    e.ins(format!("@{pge2} mov.b32 {mx}, {i2};"));
    let pz = e.reg_raw(Class::Pred);
    e.ins(format!("setp.eq.u32 {pz}, {mx}, 0;"));
    let c = e.reg_raw(Class::R);
    let sh = e.reg_raw(Class::R);
    let mn = e.reg_raw(Class::R);
    let en = e.reg_raw(Class::R);
    e.ins(format!("clz.b32 {c}, {mx};"));
    e.ins(format!("sub.s32 {sh}, {c}, 8;"));
    e.ins(format!("shl.b32 {mn}, {mx}, {sh};"));
    e.ins(format!("sub.s32 {en}, {ex}, {sh};"));
    // Normal: replace the implicit bit by the exponent; subnormal: shift.
    let norm0 = e.reg_raw(Class::R);
    let eb = e.reg_raw(Class::R);
    let norm = e.reg_raw(Class::R);
    let rs = e.reg_raw(Class::R);
    let sub = e.reg_raw(Class::R);
    let pnorm = e.reg_raw(Class::Pred);
    let bits0 = e.reg_raw(Class::R);
    let bits1 = e.reg_raw(Class::R);
    let bits = e.reg_raw(Class::R);
    e.ins(format!("sub.s32 {norm0}, {mn}, 8388608;"));
    e.ins(format!("shl.b32 {eb}, {en}, 23;"));
    e.ins(format!("or.b32 {norm}, {norm0}, {eb};"));
    e.ins(format!("sub.s32 {rs}, 1, {en};"));
    e.ins(format!("shr.u32 {sub}, {mn}, {rs};"));
    e.ins(format!("setp.gt.s32 {pnorm}, {en}, 0;"));
    e.ins(format!("selp.b32 {bits0}, {norm}, {sub}, {pnorm};"));
    e.ins(format!("selp.b32 {bits1}, 0, {bits0}, {pz};"));
    e.ins(format!("or.b32 {bits}, {bits1}, {sx};"));
    e.ins(format!("mov.b32 {d}, {bits};"));
    e.put_label(&done);
    d
}

/// Significand (with the implicit bit, or normalised when subnormal) and
/// unbiased-plus-127 exponent of a positive finite nonzero f32 bit pattern.
fn unpack(e: &mut Emitter<'_>, a: &str) -> (String, String) {
    let ex0 = e.reg_raw(Class::R);
    let pz = e.reg_raw(Class::Pred);
    let frac = e.reg_raw(Class::R);
    let mnorm = e.reg_raw(Class::R);
    let c = e.reg_raw(Class::R);
    let sh = e.reg_raw(Class::R);
    let msub = e.reg_raw(Class::R);
    let esub = e.reg_raw(Class::R);
    let m = e.reg_raw(Class::R);
    let ex = e.reg_raw(Class::R);
    e.ins(format!("shr.u32 {ex0}, {a}, 23;"));
    e.ins(format!("setp.eq.u32 {pz}, {ex0}, 0;"));
    e.ins(format!("and.b32 {frac}, {a}, 8388607;"));
    e.ins(format!("or.b32 {mnorm}, {frac}, 8388608;"));
    e.ins(format!("clz.b32 {c}, {a};"));
    e.ins(format!("sub.s32 {sh}, {c}, 8;"));
    e.ins(format!("shl.b32 {msub}, {a}, {sh};"));
    e.ins(format!("sub.s32 {esub}, 1, {sh};"));
    e.ins(format!("selp.b32 {m}, {msub}, {mnorm}, {pz};"));
    e.ins(format!("selp.b32 {ex}, {esub}, {ex0}, {pz};"));
    (m, ex)
}
