//! Narrow element types (`f16 bf16 u8 i8 u16 i16`) in the widened normal
//! form of `mid::widen`: values live in their 32-bit register type, and
//! narrow types remain only as memory element types.
//!
//! - Buffers of a narrow element type are bound as arrays of `u32` words
//!   (naga has no 8- or 16-bit integers, and one mechanism serves all six
//!   types: no `SHADER_F16`). Element `i` lives in word `i / (4 / size)`,
//!   at bit `(i % (4 / size)) * size * 8`, little endian like the host
//!   buffer. A load extracts and widens the element: zero- or
//!   sign-extension, `bf16` is the upper half of an `f32`, `f16` is
//!   rebiased with integer operations (exact, subnormals included). A
//!   read-write narrow buffer is an `array<atomic<u32>>`: a store clears
//!   the element's bits with `atomicAnd` and sets them with `atomicOr`, so
//!   that invocations storing the other elements of the same word never
//!   lose each other's data. Bounds checks stay per element, against the
//!   element length in the uniform block.
//! - Narrow shared and private arrays hold the widened 32-bit values (their
//!   layout is invisible), so their loads and stores are plain.
//! - Rounding (`Cast(R, Cast(N, x))` and the conversion of a store) is done
//!   with integer operations: round to nearest even, overflow to infinity,
//!   subnormal results kept, a NaN stays a NaN (quieted, like `half`'s
//!   conversions, which the host side uses). `quantizeToF16` is not used:
//!   its rounding and denormal behaviour are implementation-defined.

use naga::{
    AtomicFunction, BinaryOperator, Block, Expression, Handle, LocalVariable, MathFunction,
    ScalarKind, Span, Statement, TypeInner, UnaryOperator,
};

use super::{ArrayInfo, Lowerer, scalar_of};
use crate::driver::CompileResult;
use crate::ir::{BufRef, DataType, Expr, Literal, Node, ParamId};
use crate::mid::align::{Key, keyed, walk_loads};
use crate::mid::widen::narrow_round;

/// `log2` of the elements per `u32` word and `log2` of the element's bits.
fn geometry(n: DataType) -> (u32, u32) {
    if n.size_bytes() == 1 { (2, 3) } else { (1, 4) }
}

/// The mask of an element's bits, at bit 0.
fn mask(n: DataType) -> u32 {
    if n.size_bytes() == 1 { 0xff } else { 0xffff }
}

impl Lowerer<'_> {
    /// `a op k` for a `u32` constant `k`.
    fn op_k(
        &mut self,
        op: BinaryOperator,
        a: Handle<Expression>,
        k: u32,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let k = self.u32_lit(k);
        self.bin(op, a, k, blk)
    }

    /// `min(a, k)` for `u32` values.
    fn umin_k(&mut self, a: Handle<Expression>, k: u32, blk: &mut Block) -> Handle<Expression> {
        let k = self.u32_lit(k);
        self.add(
            Expression::Math {
                fun: MathFunction::Min,
                arg: a,
                arg1: Some(k),
                arg2: None,
                arg3: None,
            },
            blk,
        )
    }

    /// The word holding element `idx` of a packed buffer of `n`, and the
    /// element's bit offset in it.
    fn word_of(
        &mut self,
        n: DataType,
        idx: Handle<Expression>,
        blk: &mut Block,
    ) -> (Handle<Expression>, Handle<Expression>) {
        let (per_word, bits) = geometry(n);
        let word = self.op_k(BinaryOperator::ShiftRight, idx, per_word, blk);
        let lane = self.op_k(BinaryOperator::And, idx, (1 << per_word) - 1, blk);
        let shift = self.op_k(BinaryOperator::ShiftLeft, lane, bits, blk);
        (word, shift)
    }

    /// Element `idx` (in range, or clamped into range) of the packed buffer
    /// `info`, widened to its register type.
    pub(super) fn packed_load(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let (word, shift) = self.word_of(info.elem, idx, blk);
        let pointer = self.add(
            Expression::Access {
                base: info.global,
                index: word,
            },
            blk,
        );
        // An atomic word is read with `atomicLoad`, which naga spells as a
        // plain load through the atomic pointer.
        let w = self.add(Expression::Load { pointer }, blk);
        self.unpack(w, shift, info.elem, blk)
    }

    /// The element of `n` at bit `shift` of word `w`, widened.
    fn unpack(
        &mut self,
        w: Handle<Expression>,
        shift: Handle<Expression>,
        n: DataType,
        blk: &mut Block,
    ) -> Handle<Expression> {
        use BinaryOperator as B;
        match n {
            DataType::U8 | DataType::U16 => {
                let v = self.bin(B::ShiftRight, w, shift, blk);
                self.op_k(B::And, v, mask(n), blk)
            }
            DataType::I8 | DataType::I16 => {
                // Move the element to the top, then shift it back down
                // arithmetically: sign extension.
                let top = 32 - n.bits();
                let top_l = self.u32_lit(top);
                let up = self.bin(B::Subtract, top_l, shift, blk);
                let v = self.bin(B::ShiftLeft, w, up, blk);
                let s = self.bitcast(v, ScalarKind::Sint, blk);
                self.op_k(B::ShiftRight, s, top, blk)
            }
            DataType::BF16 => {
                let v = self.bin(B::ShiftRight, w, shift, blk);
                let hi = self.op_k(B::ShiftLeft, v, 16, blk);
                self.bf16_hi_to_f32(hi, blk)
            }
            DataType::F16 => {
                let v = self.bin(B::ShiftRight, w, shift, blk);
                let h = self.op_k(B::And, v, 0xffff, blk);
                self.f16_to_f32(h, blk)
            }
            t => unreachable!("`{t}` is not packed"),
        }
    }

    /// The `f32` whose upper half is the `bf16` in the upper half of `hi`
    /// (lower half zero): exact; a NaN is quieted like `half::bf16::to_f32`.
    fn bf16_hi_to_f32(&mut self, hi: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        use BinaryOperator as B;
        let abs = self.op_k(B::And, hi, 0x7fff_ffff, blk);
        let nan = self.op_k(B::Greater, abs, 0x7f80_0000, blk);
        let quiet = self.op_k(B::InclusiveOr, hi, 0x0040_0000, blk);
        let bits = self.select(nan, quiet, hi, blk);
        self.bitcast(bits, ScalarKind::Float, blk)
    }

    /// The `f32` equal to the `f16` whose bits are `h` (a `u32` below
    /// 2^16), exactly, with integer operations; a NaN keeps its payload and
    /// is quieted like `half::f16::to_f32`.
    fn f16_to_f32(&mut self, h: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        use BinaryOperator as B;
        let a = self.op_k(B::And, h, 0x7fff, blk);
        let sign_h = self.op_k(B::And, h, 0x8000, blk);
        let sign = self.op_k(B::ShiftLeft, sign_h, 16, blk);
        let shifted = self.op_k(B::ShiftLeft, a, 13, blk);
        // Normal: rebias the exponent by 127 - 15.
        let normal = self.op_k(B::Add, shifted, 112 << 23, blk);
        // Infinity and NaN: all exponent bits set, NaN quieted.
        let inf_nan = self.op_k(B::InclusiveOr, shifted, 0x7f80_0000, blk);
        let is_nan = self.op_k(B::Greater, a, 0x7c00, blk);
        let quiet = self.op_k(B::InclusiveOr, inf_nan, 0x0040_0000, blk);
        let inf_nan = self.select(is_nan, quiet, inf_nan, blk);
        // Subnormal: `a * 2^-24`. `a as f32` is exact (a < 2^10); taking
        // 24 off its exponent is the exact product (a normal f32).
        let fa = self.convert(a, ScalarKind::Float, blk);
        let fa_bits = self.bitcast(fa, ScalarKind::Uint, blk);
        let sub = self.op_k(B::Subtract, fa_bits, 24 << 23, blk);
        let is_zero = self.op_k(B::Equal, a, 0, blk);
        let zero = self.u32_lit(0);
        let sub = self.select(is_zero, zero, sub, blk);
        let big = self.op_k(B::GreaterEqual, a, 0x7c00, blk);
        let abs = self.select(big, inf_nan, normal, blk);
        let tiny = self.op_k(B::Less, a, 0x0400, blk);
        let abs = self.select(tiny, sub, abs, blk);
        let bits = self.bin(B::InclusiveOr, abs, sign, blk);
        self.bitcast(bits, ScalarKind::Float, blk)
    }

    /// The bits of the `bf16` nearest `v` (an `f32`), in the upper half of
    /// a `u32` whose lower half is zero: round to nearest even (overflow to
    /// infinity), a NaN quieted like `half::bf16::from_f32`.
    fn f32_to_bf16_hi(&mut self, v: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        use BinaryOperator as B;
        let x = self.bitcast(v, ScalarKind::Uint, blk);
        let kept = self.op_k(B::ShiftRight, x, 16, blk);
        let lsb = self.op_k(B::And, kept, 1, blk);
        let biased = self.op_k(B::Add, x, 0x7fff, blk);
        let sum = self.bin(B::Add, biased, lsb, blk);
        let rounded = self.op_k(B::And, sum, 0xffff_0000, blk);
        let abs = self.op_k(B::And, x, 0x7fff_ffff, blk);
        let nan = self.op_k(B::Greater, abs, 0x7f80_0000, blk);
        let quiet = self.op_k(B::InclusiveOr, x, 0x0040_0000, blk);
        let quiet = self.op_k(B::And, quiet, 0xffff_0000, blk);
        self.select(nan, quiet, rounded, blk)
    }

    /// The bits (in a `u32`, below 2^16) of the `f16` nearest `v` (an
    /// `f32`), with integer operations: round to nearest even, overflow to
    /// infinity, subnormal results kept, a NaN quieted like
    /// `half::f16::from_f32`.
    fn f32_to_f16_bits(&mut self, v: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        use BinaryOperator as B;
        let x = self.bitcast(v, ScalarKind::Uint, blk);
        let hi = self.op_k(B::ShiftRight, x, 16, blk);
        let sign = self.op_k(B::And, hi, 0x8000, blk);
        let a = self.op_k(B::And, x, 0x7fff_ffff, blk);
        // Normal result (|v| >= 2^-14): rebias the exponent by 15 - 127 and
        // round the 13 dropped bits to nearest even; a carry out of the
        // mantissa bumps the exponent, up to infinity.
        let kept = self.op_k(B::ShiftRight, a, 13, blk);
        let lsb = self.op_k(B::And, kept, 1, blk);
        let biased = self.op_k(B::Add, a, 0xfff_u32.wrapping_sub(112 << 23), blk);
        let sum = self.bin(B::Add, biased, lsb, blk);
        let normal = self.op_k(B::ShiftRight, sum, 13, blk);
        // Subnormal result: the 24-bit significand `m` (hidden bit set),
        // worth `m * 2^(e - 150)`, in units of 2^-24 is `m >> (126 - e)`,
        // rounded to nearest even. The exponent is clamped so that the
        // shift stays in 14..=31 (lanes that use another result included):
        // from 25 on the result is 0, as it must be below 2^-25.
        let e = self.op_k(B::ShiftRight, a, 23, blk);
        let e = self.umin_k(e, 112, blk);
        let k126 = self.u32_lit(126);
        let s = self.bin(B::Subtract, k126, e, blk);
        let s = self.umin_k(s, 31, blk);
        let man = self.op_k(B::And, a, 0x007f_ffff, blk);
        let m = self.op_k(B::InclusiveOr, man, 0x0080_0000, blk);
        let s1 = self.op_k(B::Subtract, s, 1, blk);
        let one = self.u32_lit(1);
        let half_unit = self.bin(B::ShiftLeft, one, s1, blk);
        let below_half = self.op_k(B::Subtract, half_unit, 1, blk);
        let q = self.bin(B::ShiftRight, m, s, blk);
        let q_lsb = self.op_k(B::And, q, 1, blk);
        let biased = self.bin(B::Add, m, below_half, blk);
        let sum = self.bin(B::Add, biased, q_lsb, blk);
        let sub = self.bin(B::ShiftRight, sum, s, blk);
        let is_normal = self.op_k(B::GreaterEqual, a, 0x3880_0000, blk);
        let r = self.select(is_normal, normal, sub, blk);
        // 65520 and above round to infinity (and infinity stays).
        let overflow = self.op_k(B::GreaterEqual, a, 0x477f_f000, blk);
        let inf = self.u32_lit(0x7c00);
        let r = self.select(overflow, inf, r, blk);
        let nan_man = self.op_k(B::And, kept, 0x03ff, blk);
        let nan_bits = self.op_k(B::InclusiveOr, nan_man, 0x7e00, blk);
        let nan = self.op_k(B::Greater, a, 0x7f80_0000, blk);
        let r = self.select(nan, nan_bits, r, blk);
        self.bin(B::InclusiveOr, r, sign, blk)
    }

    /// The bit pattern (zero-extended to a `u32`) of `v`, a value of
    /// `n.register_type()`, rounded or wrapped to `n`.
    pub(super) fn narrow_bits(
        &mut self,
        v: Handle<Expression>,
        n: DataType,
        blk: &mut Block,
    ) -> Handle<Expression> {
        match n {
            DataType::U8 | DataType::U16 => self.op_k(BinaryOperator::And, v, mask(n), blk),
            DataType::I8 | DataType::I16 => {
                let u = self.bitcast(v, ScalarKind::Uint, blk);
                self.op_k(BinaryOperator::And, u, mask(n), blk)
            }
            DataType::BF16 => {
                let hi = self.f32_to_bf16_hi(v, blk);
                self.op_k(BinaryOperator::ShiftRight, hi, 16, blk)
            }
            DataType::F16 => self.f32_to_f16_bits(v, blk),
            t => unreachable!("`{t}` is not narrow"),
        }
    }

    /// `v`, a value of `n.register_type()`, rounded or wrapped to `n` and
    /// widened back: shape (b) of `mid::widen`.
    pub(super) fn round_to(
        &mut self,
        v: Handle<Expression>,
        n: DataType,
        blk: &mut Block,
    ) -> Handle<Expression> {
        match n {
            DataType::U8 | DataType::U16 => self.op_k(BinaryOperator::And, v, mask(n), blk),
            DataType::I8 | DataType::I16 => {
                // Up as `u32` (a signed left shift that overflows is
                // undefined in MSL), back down arithmetically.
                let top = 32 - n.bits();
                let u = self.bitcast(v, ScalarKind::Uint, blk);
                let up = self.op_k(BinaryOperator::ShiftLeft, u, top, blk);
                let s = self.bitcast(up, ScalarKind::Sint, blk);
                self.op_k(BinaryOperator::ShiftRight, s, top, blk)
            }
            DataType::BF16 => {
                let hi = self.f32_to_bf16_hi(v, blk);
                self.bitcast(hi, ScalarKind::Float, blk)
            }
            DataType::F16 => {
                let h = self.f32_to_f16_bits(v, blk);
                self.f16_to_f32(h, blk)
            }
            t => unreachable!("`{t}` is not narrow"),
        }
    }

    /// The bits to store for `value` into memory of narrow type `n`: shape
    /// (c), `Cast(n, x)` with `x` of `n`'s register type, rounded once
    /// (when `x` is itself shape (b) of `n`, its operand is rounded
    /// directly).
    pub(super) fn store_bits(
        &mut self,
        n: DataType,
        value: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let r = n.register_type();
        let x = match value {
            Expr::Cast(t, x) if *t == n && self.analysis.type_of(x) == Some(r) => &**x,
            // Any other value of type `n` is lowered widened.
            v => v,
        };
        let x = match narrow_round(x) {
            Some((m, y)) if m == n => y,
            _ => x,
        };
        let v = self.expr(x, blk)?;
        Ok(self.narrow_bits(v, n, blk))
    }

    /// Store `bits` (an element's bit pattern) as element `idx` (in range)
    /// of the packed read-write buffer `info`: clear its bits, then set
    /// them, each atomically, leaving the rest of the word to concurrent
    /// stores of the neighbouring elements.
    pub(super) fn packed_store(
        &mut self,
        info: ArrayInfo,
        idx: Handle<Expression>,
        bits: Handle<Expression>,
        blk: &mut Block,
    ) {
        let (word, shift) = self.word_of(info.elem, idx, blk);
        let pointer = self.add(
            Expression::Access {
                base: info.global,
                index: word,
            },
            blk,
        );
        let m = self.u32_lit(mask(info.elem));
        let m = self.bin(BinaryOperator::ShiftLeft, m, shift, blk);
        let keep = self.add(
            Expression::Unary {
                op: UnaryOperator::BitwiseNot,
                expr: m,
            },
            blk,
        );
        let put = self.bin(BinaryOperator::ShiftLeft, bits, shift, blk);
        for (fun, value) in [
            (AtomicFunction::And, keep),
            (AtomicFunction::InclusiveOr, put),
        ] {
            blk.push(
                Statement::Atomic {
                    pointer,
                    fun,
                    value,
                    result: None,
                },
                Span::UNDEFINED,
            );
        }
    }

    /// Stores into a packed buffer that fill whole words, done as one
    /// atomic whole-word store per word (no clear-and-set): at the start of
    /// the straight-line `run`, the longest sequence of stores `buf[key +
    /// d + j]` (`j = 0, 1, ..`) into one packed buffer whose values read
    /// nothing of it, `key` and `d` multiples of the elements per word
    /// (`store2` of `bf16` at an even index, `store4` of `u8` at a
    /// multiple of 4, unrolled loops). Each word holds exactly the group's
    /// elements, so one invocation writes all of it. A word at the end of
    /// the buffer (some elements past the length) falls back to the
    /// per-element stores. Returns the number of stores done (0: none
    /// apply, `run[0]` is lowered as usual).
    pub(super) fn word_stores(&mut self, run: &[Node], blk: &mut Block) -> CompileResult<usize> {
        let Some(Node::Store {
            buf: BufRef::Param(p),
            index,
            ..
        }) = run.first()
        else {
            return Ok(0);
        };
        let p = *p;
        let info = self.array(BufRef::Param(p))?;
        let Some((key, d0)) = keyed(index) else {
            return Ok(0);
        };
        if !info.packed {
            return Ok(0);
        }
        let (per_log2, bits_log2) = geometry(info.elem);
        let per = 1u32 << per_log2;
        if !d0.is_multiple_of(per) || !self.align.key(&key).is_multiple_of(per) {
            return Ok(0);
        }
        let mut count = 0u32;
        for n in run {
            let Node::Store {
                buf: BufRef::Param(q),
                index,
                value,
            } = n
            else {
                break;
            };
            let mut reads = false;
            walk_loads(value, &mut |b, _| reads |= b == BufRef::Param(p));
            if *q != p || reads || keyed(index) != Some((key.clone(), d0 + count)) {
                break;
            }
            count += 1;
        }
        let words = count / per;
        if words == 0 {
            return Ok(0);
        }
        let stores = &run[..(words * per) as usize];
        let mut bits = Vec::with_capacity(stores.len());
        for n in stores {
            let Node::Store { value, .. } = n else {
                unreachable!("only stores were grouped");
            };
            bits.push(self.store_bits(info.elem, value, blk)?);
        }
        for (word_stores, word_bits) in stores.chunks(per as usize).zip(bits.chunks(per as usize)) {
            let indices: Vec<&Expr> = word_stores
                .iter()
                .map(|n| match n {
                    Node::Store { index, .. } => index,
                    _ => unreachable!("only stores were grouped"),
                })
                .collect();
            // Every element's decision is asked; one check covers the word.
            let checked = indices
                .iter()
                .fold(false, |any, index| self.bounds.needs_check(index) | any);
            let first = self.index(indices[0], blk)?;
            let mut combined = word_bits[0];
            for (j, &b) in word_bits.iter().enumerate().skip(1) {
                let shifted = self.op_k(BinaryOperator::ShiftLeft, b, (j as u32) << bits_log2, blk);
                combined = self.bin(BinaryOperator::InclusiveOr, combined, shifted, blk);
            }
            let mut fast = Block::new();
            let word = self.op_k(BinaryOperator::ShiftRight, first, per_log2, &mut fast);
            let pointer = self.add(
                Expression::Access {
                    base: info.global,
                    index: word,
                },
                &mut fast,
            );
            // An `atomicStore`: the word is the group's alone.
            fast.push(
                Statement::Store {
                    pointer,
                    value: combined,
                },
                Span::UNDEFINED,
            );
            if !checked {
                blk.push(Statement::Block(fast), Span::UNDEFINED);
                continue;
            }
            // `first` is a multiple of `per`: `first + per - 1` cannot wrap.
            let len = self.array_len(info, blk)?;
            let last = self.op_k(BinaryOperator::Add, first, per - 1, blk);
            let all_in = self.bin(BinaryOperator::Less, last, len, blk);
            let mut slow = Block::new();
            for (j, &b) in word_bits.iter().enumerate() {
                let idx = self.op_k(BinaryOperator::Add, first, j as u32, &mut slow);
                let in_range = self.bin(BinaryOperator::Less, idx, len, &mut slow);
                let mut store = Block::new();
                self.packed_store(info, idx, b, &mut store);
                slow.push(
                    Statement::If {
                        condition: in_range,
                        accept: store,
                        reject: Block::new(),
                    },
                    Span::UNDEFINED,
                );
            }
            blk.push(
                Statement::If {
                    condition: all_in,
                    accept: fast,
                    reject: slow,
                },
                Span::UNDEFINED,
            );
        }
        Ok(stores.len())
    }

    /// Load `param[key + base + 0..4]` of a packed read-only buffer (`key`
    /// a multiple of 4, so the four are the whole word or two words)
    /// widened into a new `vec4` variable: the words once when all four
    /// are in range, else four checked element loads; `last` is the index
    /// expression of a load of `key + base + 3`. See
    /// [`Lowerer::vector_loads`].
    pub(super) fn packed_vector_load(
        &mut self,
        p: ParamId,
        key: &Key,
        base: u32,
        last: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let info = self.array(BufRef::Param(p))?;
        let reg = info.elem.register_type();
        let vec_ty = self.add_type(TypeInner::Vector {
            size: naga::VectorSize::Quad,
            scalar: scalar_of(reg),
        });
        let var = self.func.local_variables.append(
            LocalVariable {
                name: Some(format!("w4_{}", self.vec_cache.len())),
                ty: vec_ty,
                init: None,
            },
            Span::UNDEFINED,
        );
        let var = self
            .func
            .expressions
            .append(Expression::LocalVariable(var), Span::UNDEFINED);
        let key_value = match key {
            Key::Local(id) => Expr::Local(*id),
            Key::Builtin(b, axis) => Expr::Builtin(*b, *axis),
            Key::Const(c) => Expr::Lit(Literal::U32(*c)),
        };
        let mut first = self.index(&key_value, blk)?;
        if base != 0 {
            first = self.op_k(BinaryOperator::Add, first, base, blk);
        }
        let (per_log2, bits_log2) = geometry(info.elem);
        let per = 1u32 << per_log2;
        let mut fast = Block::new();
        let word0 = self.op_k(BinaryOperator::ShiftRight, first, per_log2, &mut fast);
        let mut components = Vec::with_capacity(4);
        for w in 0..4 / per {
            let index = if w == 0 {
                word0
            } else {
                self.op_k(BinaryOperator::Add, word0, w, &mut fast)
            };
            let pointer = self.add(
                Expression::Access {
                    base: info.global,
                    index,
                },
                &mut fast,
            );
            let word = self.add(Expression::Load { pointer }, &mut fast);
            for j in 0..per {
                let shift = self.u32_lit(j << bits_log2);
                components.push(self.unpack(word, shift, info.elem, &mut fast));
            }
        }
        let composed = self.add(
            Expression::Compose {
                ty: vec_ty,
                components,
            },
            &mut fast,
        );
        fast.push(
            Statement::Store {
                pointer: var,
                value: composed,
            },
            Span::UNDEFINED,
        );
        if !self.bounds.group_needs_check(last) {
            blk.push(Statement::Block(fast), Span::UNDEFINED);
            return Ok(var);
        }
        // `first` is a multiple of 4: `first + 3` cannot wrap.
        let len = self.array_len(info, blk)?;
        let last = self.op_k(BinaryOperator::Add, first, 3, blk);
        let all_in = self.bin(BinaryOperator::Less, last, len, blk);
        let mut slow = Block::new();
        let mut components = Vec::with_capacity(4);
        for j in 0..4 {
            let idx = self.op_k(BinaryOperator::Add, first, j, &mut slow);
            let in_range = self.bin(BinaryOperator::Less, idx, len, &mut slow);
            let zero_idx = self.u32_lit(0);
            let safe = self.select(in_range, idx, zero_idx, &mut slow);
            let v = self.packed_load(info, safe, &mut slow);
            let zero = self.zero(reg);
            components.push(self.select(in_range, v, zero, &mut slow));
        }
        let composed = self.add(
            Expression::Compose {
                ty: vec_ty,
                components,
            },
            &mut slow,
        );
        slow.push(
            Statement::Store {
                pointer: var,
                value: composed,
            },
            Span::UNDEFINED,
        );
        blk.push(
            Statement::If {
                condition: all_in,
                accept: fast,
                reject: slow,
            },
            Span::UNDEFINED,
        );
        Ok(var)
    }
}
