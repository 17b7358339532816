//! Narrow element types (`f16`, `bf16`, `u8`, `i8`, `u16`, `i16`).
//!
//! After `mid::widen` they exist only in memory: every value is computed in
//! its register type (`f32`, `u32`, `i32`), a load widens the element it
//! reads, a store converts the value it writes, and `Cast(R, Cast(N, x))`
//! rounds (floats) or wraps (integers) `x` to `N`. The emitter keeps narrow
//! values in 32-bit registers holding the widened value; only memory
//! accesses and conversions see the narrow bits:
//!
//! - integers: `ld.{u8,s8,u16,s16}` zero- or sign-extend into a `.b32`
//!   register, `st.{u8,u16}` store its low bits, wrapping is `and.b32`
//!   (unsigned) or `cvt.s32.{s8,s16}` (signed);
//! - `f16`: `ld.b16` into a `.b16` register then `cvt.f32.f16`;
//!   `cvt.rn.f16.f32` then `st.b16`; rounding is both conversions;
//! - `bf16`: the upper half of an `f32`, so widening is a shift left by 16
//!   (exact, one ALU operation on every architecture; `cvt.f32.bf16` is the
//!   same operation and needs sm_90); rounding is `cvt.rn.bf16.f32` /
//!   `cvt.rn.bf16x2.f32` from sm_80 and an exact integer round-to-nearest-
//!   even sequence before (NaN stays NaN).
//!
//! No conversion uses `.ftz`: subnormals are kept.
//!
//! Vector accesses of narrow elements move whole 32-bit words
//! (`ld.v4.b32` for 16 bytes) and unpack or pack the elements in registers.

use crate::ir::{DataType, Expr};
use crate::mid::widen::narrow_round;

use super::super::code::ins;
use super::super::isa::{Class, Imm, Mod, Reg, int};
use super::{Emitter, Val};

/// Architecture from which `cvt` converts to `bf16` and packs two halves
/// (`cvt.rn.{f16x2,bf16x2}.f32`).
const SM_80: u32 = 80;

/// The register class of an element's raw bits: `f16` bits live in `.b16`
/// registers (the type `cvt` takes for them), everything else in `.b32`.
pub(super) fn raw_class(ty: DataType) -> Class {
    if ty == DataType::F16 {
        Class::H
    } else {
        Class::R
    }
}

/// The type of a scalar `ld` of one narrow element into its raw register
/// (integers are widened by the load itself).
pub(super) fn load_mod(ty: DataType) -> Mod {
    match ty {
        DataType::U8 => Mod::U8,
        DataType::I8 => Mod::S8,
        DataType::I16 => Mod::S16,
        DataType::F16 => Mod::B16,
        _ => Mod::U16,
    }
}

/// The type of a scalar `st` of one narrow element from a register of
/// `class` holding its bits in the low bits.
pub(super) fn store_mod(ty: DataType, class: Class) -> Mod {
    match (ty.size_bytes(), class) {
        (1, _) => Mod::U8,
        (_, Class::H) => Mod::B16,
        _ => Mod::U16,
    }
}

impl Emitter<'_> {
    /// Element size in bytes of a buffer, shared or private array.
    pub(super) fn elem_size(&self, buf: crate::ir::BufRef) -> u32 {
        self.program.elem_type(buf).map_or(4, DataType::size_bytes)
    }

    /// Whether `cvt` can round to `bf16` and pack pairs on this target.
    fn has_sm80(&self) -> bool {
        self.mode.arch >= SM_80
    }

    /// The widened value (a register of `ty`'s register type) of a raw
    /// element `raw` (see [`raw_class`]): integers are already widened.
    pub(super) fn widen_raw(&mut self, ty: DataType, raw: Reg) -> Reg {
        match ty {
            DataType::F16 => {
                let d = self.code.reg(Class::F);
                ins!(self.code; Cvt.F32.F16 d, raw);
                d
            }
            DataType::BF16 => {
                let t = self.code.reg(Class::R);
                let d = self.code.reg(Class::F);
                ins!(self.code; Shl.B32 t, raw, int(16));
                ins!(self.code; Mov.B32 d, t);
                d
            }
            _ => raw,
        }
    }

    /// Shape (b): `x` (of `n`'s register type) rounded (floats, to nearest
    /// even) or wrapped (integers) to `n`, widened back.
    pub(super) fn narrow_round(&mut self, n: DataType, x: Reg) -> Reg {
        match n {
            DataType::U8 | DataType::U16 => {
                let d = self.code.reg(Class::R);
                let mask = if n == DataType::U8 { 0xff } else { 0xffff };
                ins!(self.code; And.B32 d, x, int(mask));
                d
            }
            DataType::I8 | DataType::I16 => {
                let d = self.code.reg(Class::R);
                let from = if n == DataType::I8 { Mod::S8 } else { Mod::S16 };
                ins!(self.code; Cvt.S32.(from) d, x);
                d
            }
            DataType::F16 => {
                let h = self.code.reg(Class::H);
                let d = self.code.reg(Class::F);
                ins!(self.code; Cvt.Rn.F16.F32 h, x);
                ins!(self.code; Cvt.F32.F16 d, h);
                d
            }
            DataType::BF16 => {
                let bits = if self.has_sm80() {
                    // The rounded value in the upper half, zero below: the
                    // `f32` bits of the result.
                    let w = self.code.reg(Class::R);
                    ins!(self.code; Cvt.Rn.Bf16x2.F32 w, x, Imm::F32(0));
                    w
                } else {
                    self.bf16_rne_bits(x)
                };
                let d = self.code.reg(Class::F);
                ins!(self.code; Mov.B32 d, bits);
                d
            }
            _ => x,
        }
    }

    /// The `f32` bits of `x` rounded to `bf16` (to nearest even, overflow to
    /// infinity, subnormals kept), low half zero, in integer arithmetic: add
    /// `0x7fff` plus the lowest kept bit, then truncate. A NaN gets its
    /// quiet bit set instead, so that truncation cannot make it infinite.
    fn bf16_rne_bits(&mut self, x: Reg) -> Reg {
        let u = self.code.reg(Class::R);
        let nan = self.code.reg(Class::Pred);
        let lsb = self.code.reg(Class::R);
        let t = self.code.reg(Class::R);
        let r = self.code.reg(Class::R);
        let q = self.code.reg(Class::R);
        let s = self.code.reg(Class::R);
        let d = self.code.reg(Class::R);
        ins!(self.code; Mov.B32 u, x);
        ins!(self.code; Testp.NotANumber.F32 nan, x);
        ins!(self.code; Bfe.U32 lsb, u, int(16), int(1));
        ins!(self.code; Add.U32 t, u, int(0x7fff));
        ins!(self.code; Add.U32 r, t, lsb);
        ins!(self.code; Or.B32 q, u, int(0x0040_0000));
        ins!(self.code; Selp.B32 s, q, r, nan);
        ins!(self.code; And.B32 d, s, int(-65536));
        d
    }

    /// A register whose low bits are the element bits of `x` (of `n`'s
    /// register type) converted to `n`; store it with [`store_mod`] of
    /// its class.
    pub(super) fn narrow_bits(&mut self, n: DataType, x: Reg) -> Reg {
        match n {
            DataType::F16 => {
                let h = self.code.reg(Class::H);
                ins!(self.code; Cvt.Rn.F16.F32 h, x);
                h
            }
            DataType::BF16 if self.has_sm80() => {
                let h = self.code.reg(Class::H);
                ins!(self.code; Cvt.Rn.Bf16.F32 h, x);
                h
            }
            DataType::BF16 => {
                let hi = self.bf16_rne_bits(x);
                let d = self.code.reg(Class::R);
                ins!(self.code; Shr.U32 d, hi, int(16));
                d
            }
            // A narrow store keeps the low bits: wrapping.
            _ => x,
        }
    }

    /// The value a store into an element of narrow type `n` writes, in `n`'s
    /// register type: `x` of shape (c) `Cast(n, x)` (the store converts
    /// it), or any other expression converted to `n` first. A rounding of
    /// `x` to `n` itself (`Cast(n, Cast(R, Cast(n, y)))`, what widening
    /// makes of `y as T` stored into `T` memory) is left to the store's
    /// conversion: rounding twice to `n` is rounding once.
    pub(super) fn narrow_operand(&mut self, n: DataType, value: &Expr) -> Reg {
        let mut x = match value {
            Expr::Cast(t, x) if *t == n => &**x,
            _ => value,
        };
        while let Some((m, y)) = narrow_round(x)
            && m == n
        {
            x = y;
        }
        let v = self.expr(x);
        let v = if v.ty == n.register_type() {
            v
        } else {
            self.cast_val(n, v)
        };
        self.in_reg(&v)
    }

    /// Rust's `as` to a narrow type `n` of an evaluated value: to the
    /// register type first (floats to narrow integers saturate, NaN to 0),
    /// then rounded or wrapped.
    pub(super) fn cast_to_narrow(&mut self, n: DataType, v: Val) -> Val {
        let r = n.register_type();
        if v.ty == DataType::F32 && n.is_integer() {
            // Saturate to the 32-bit type (NaN -> 0), then clamp to `n`'s
            // range: the same as saturating to `n` directly.
            let src = self.in_reg(&v);
            let t = self.code.reg(Class::R);
            let lo = self.code.reg(Class::R);
            let d = self.code.reg(Class::R);
            let bits = n.bits();
            let (min, max) = if n.is_signed() {
                (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
            } else {
                (0, (1i64 << bits) - 1)
            };
            let s = if n.is_signed() { Mod::S32 } else { Mod::U32 };
            ins!(self.code; Cvt.Rzi.(s).F32 t, src);
            ins!(self.code; Max.(s) lo, t, int(min));
            ins!(self.code; Min.(s) d, lo, int(max));
            return Val::reg(d, r);
        }
        let v = if v.ty == r { v } else { self.cast_val(r, v) };
        let x = self.in_reg(&v);
        let d = self.narrow_round(n, x);
        Val::reg(d, r)
    }

    /// One 32-bit word holding the elements `xs` (values of `n`'s register
    /// type, lowest address first; `4 / size` of them) converted to `n`.
    pub(super) fn pack_word(&mut self, n: DataType, xs: &[Reg]) -> Reg {
        let w = self.code.reg(Class::R);
        match n {
            DataType::F16 | DataType::BF16 if self.has_sm80() => {
                // `cvt.rn.*x2.f32 d, a, b`: `a` in the upper half.
                let t = if n == DataType::F16 {
                    Mod::F16x2
                } else {
                    Mod::Bf16x2
                };
                ins!(self.code; Cvt.Rn.(t).F32 w, xs[1], xs[0]);
            }
            DataType::F16 => {
                let lo = self.narrow_bits(n, xs[0]);
                let hi = self.narrow_bits(n, xs[1]);
                ins!(self.code; Mov.B32 w, [lo, hi]);
            }
            DataType::BF16 => {
                let lo = self.bf16_rne_bits(xs[0]);
                let hi = self.bf16_rne_bits(xs[1]);
                // The upper halves of both.
                ins!(self.code; Prmt.B32 w, lo, hi, int(0x7632));
            }
            DataType::U16 | DataType::I16 => {
                ins!(self.code; Prmt.B32 w, xs[0], xs[1], int(0x5410));
            }
            _ => {
                let a = self.code.reg(Class::R);
                let b = self.code.reg(Class::R);
                ins!(self.code; Prmt.B32 a, xs[0], xs[1], int(0x3340));
                ins!(self.code; Prmt.B32 b, xs[2], xs[3], int(0x3340));
                ins!(self.code; Prmt.B32 w, a, b, int(0x5410));
            }
        }
        w
    }

    /// The widened elements (lowest address first) of the 32-bit word `w`
    /// of `n` elements.
    pub(super) fn unpack_word(&mut self, n: DataType, w: Reg) -> Vec<Reg> {
        match n {
            DataType::F16 => {
                let h = [self.code.reg(Class::H), self.code.reg(Class::H)];
                ins!(self.code; Mov.B32 h, w);
                h.iter().map(|&h| self.widen_raw(n, h)).collect()
            }
            DataType::BF16 => {
                let lo = self.code.reg(Class::R);
                let hi = self.code.reg(Class::R);
                let f = [self.code.reg(Class::F), self.code.reg(Class::F)];
                ins!(self.code; Shl.B32 lo, w, int(16));
                ins!(self.code; Mov.B32 f[0], lo);
                ins!(self.code; And.B32 hi, w, int(-65536));
                ins!(self.code; Mov.B32 f[1], hi);
                f.to_vec()
            }
            _ => {
                let bits = n.bits();
                let e = if n.is_signed() { Mod::S32 } else { Mod::U32 };
                (0..32 / bits)
                    .map(|k| {
                        let d = self.code.reg(Class::R);
                        ins!(self.code; Bfe.(e) d, w, int(i64::from(k * bits)), int(i64::from(bits)));
                        d
                    })
                    .collect()
            }
        }
    }
}
