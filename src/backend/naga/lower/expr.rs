//! Expressions: naga expression builders, literals and constants,
//! operators, casts and math functions.

use naga::{
    BinaryOperator, Block, Expression, Handle, LocalVariable, MathFunction, Range, ScalarKind,
    Span, Statement, UnaryOperator,
};

use super::{Lowerer, builtin_index};
use crate::driver::CompileResult;
use crate::ir::{BinOp, BufRef, DataType, Expr, Literal, MathFn, Param, UnOp};
use crate::mid::legal::IntDivision;

impl Lowerer<'_> {
    /// Append an expression, emitting it into `blk` when naga requires.
    pub(super) fn add(&mut self, mut e: Expression, blk: &mut Block) -> Handle<Expression> {
        let pre = e.needs_pre_emit();
        if !pre {
            self.break_constness(&mut e, blk);
        }
        let h = self.func.expressions.append(e, Span::UNDEFINED);
        if !pre {
            blk.push(
                Statement::Emit(Range::new_from_bounds(h, h)),
                Span::UNDEFINED,
            );
        }
        h
    }

    /// An operation on literals only is a constant expression to the WGSL
    /// front end, which folds it and rejects what vyre defines at run time
    /// (`sqrt(-1.0)`, `i32::MAX + 1`, a constant index past a shared
    /// array, ...). Such an operation reads its first operand from a
    /// variable instead, which drivers fold back.
    pub(super) fn break_constness(&mut self, e: &mut Expression, blk: &mut Block) {
        let ops: Vec<&mut Handle<Expression>> = match e {
            Expression::Binary { left, right, .. } => vec![left, right],
            Expression::Unary { expr, .. } | Expression::As { expr, .. } => vec![expr],
            Expression::Select {
                condition,
                accept,
                reject,
            } => vec![condition, accept, reject],
            Expression::Math {
                arg,
                arg1,
                arg2,
                arg3,
                ..
            } => std::iter::once(arg)
                .chain(arg1.as_mut())
                .chain(arg2.as_mut())
                .chain(arg3.as_mut())
                .collect(),
            _ => return,
        };
        let exprs = &self.func.expressions;
        if !ops
            .iter()
            .all(|h| matches!(exprs[**h], Expression::Literal(_)))
        {
            return;
        }
        let mut ops = ops;
        let first = &mut *ops[0];
        *first = self.opaque(*first, blk);
    }

    /// The value of literal `lit`, loaded from a variable initialized to it.
    pub(super) fn opaque(
        &mut self,
        lit: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let (key, ty) = match self.func.expressions[lit] {
            Expression::Literal(naga::Literal::U32(v)) => ((0u8, u64::from(v)), self.ty.u32_),
            Expression::Literal(naga::Literal::I32(v)) => {
                ((1, u64::from(v.cast_unsigned())), self.ty.i32_)
            }
            Expression::Literal(naga::Literal::F32(v)) => {
                ((2, u64::from(v.to_bits())), self.ty.f32_)
            }
            Expression::Literal(naga::Literal::Bool(v)) => ((3, u64::from(v)), self.ty.bool_),
            Expression::Literal(naga::Literal::U64(v)) => ((4, v), self.scalar_ty(DataType::U64)),
            Expression::Literal(naga::Literal::I64(v)) => {
                ((5, v.cast_unsigned()), self.scalar_ty(DataType::I64))
            }
            Expression::Literal(naga::Literal::F64(v)) => {
                ((6, v.to_bits()), self.scalar_ty(DataType::F64))
            }
            _ => return lit,
        };
        let pointer = if let Some((_, h)) = self.opaque_vars.iter().find(|(k, _)| *k == key) {
            *h
        } else {
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(format!("k{}_{:x}", key.0, key.1)),
                    ty,
                    init: Some(lit),
                },
                Span::UNDEFINED,
            );
            let h = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.opaque_vars.push((key, h));
            h
        };
        self.add(Expression::Load { pointer }, blk)
    }

    pub(super) fn lit(&mut self, l: naga::Literal) -> Handle<Expression> {
        self.func
            .expressions
            .append(Expression::Literal(l), Span::UNDEFINED)
    }

    pub(super) fn u32_lit(&mut self, v: u32) -> Handle<Expression> {
        self.lit(naga::Literal::U32(v))
    }

    pub(super) fn zero(&mut self, ty: DataType) -> Handle<Expression> {
        self.int_lit(ty, 0)
    }

    /// The literal `v` of `ty`'s register type (`bool`: `v != 0`; a float
    /// type: `v` converted, exact for the small values this is used with).
    pub(super) fn int_lit(&mut self, ty: DataType, v: i64) -> Handle<Expression> {
        self.lit(match ty.register_type() {
            DataType::Bool => naga::Literal::Bool(v != 0),
            DataType::I32 => naga::Literal::I32(v as i32),
            DataType::U32 => naga::Literal::U32(v as u32),
            DataType::F32 => naga::Literal::F32(v as f32),
            DataType::I64 => naga::Literal::I64(v),
            DataType::U64 => naga::Literal::U64(v.cast_unsigned()),
            DataType::F64 => naga::Literal::F64(v as f64),
            narrow => unreachable!("`{narrow}` has no register of its own"),
        })
    }

    pub(super) fn bin(
        &mut self,
        op: BinaryOperator,
        left: Handle<Expression>,
        right: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(Expression::Binary { op, left, right }, blk)
    }

    pub(super) fn select(
        &mut self,
        condition: Handle<Expression>,
        accept: Handle<Expression>,
        reject: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Select {
                condition,
                accept,
                reject,
            },
            blk,
        )
    }

    pub(super) fn math1(
        &mut self,
        fun: MathFunction,
        arg: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Math {
                fun,
                arg,
                arg1: None,
                arg2: None,
                arg3: None,
            },
            blk,
        )
    }

    pub(super) fn bitcast(
        &mut self,
        e: Handle<Expression>,
        kind: ScalarKind,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::As {
                expr: e,
                kind,
                convert: None,
            },
            blk,
        )
    }

    pub(super) fn convert(
        &mut self,
        e: Handle<Expression>,
        kind: ScalarKind,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.convert_to(e, kind, 4, blk)
    }

    /// A value conversion to the scalar of `kind` and `width` bytes.
    pub(super) fn convert_to(
        &mut self,
        e: Handle<Expression>,
        kind: ScalarKind,
        width: u8,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::As {
                expr: e,
                kind,
                convert: Some(width),
            },
            blk,
        )
    }

    /// `x`, an `f32`, is NaN, tested on the bit pattern.
    pub(super) fn is_nan(&mut self, x: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        self.is_nan_of(DataType::F32, x, blk)
    }

    /// `x`, of float type `ty` (`f32` or `f64`), is NaN, tested on the bit
    /// pattern (an `f64`'s as a `u64`).
    pub(super) fn is_nan_of(
        &mut self,
        ty: DataType,
        x: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let bits = self.bitcast(x, ScalarKind::Uint, blk);
        let (mask, inf) = if ty == DataType::F64 {
            (
                self.lit(naga::Literal::U64(0x7fff_ffff_ffff_ffff)),
                self.lit(naga::Literal::U64(0x7ff0_0000_0000_0000)),
            )
        } else {
            (self.u32_lit(0x7fff_ffff), self.u32_lit(0x7f80_0000))
        };
        let abs = self.bin(BinaryOperator::And, bits, mask, blk);
        self.bin(BinaryOperator::Greater, abs, inf, blk)
    }

    /// The literal `x` of float type `ty` (`f64`, else `f32`, rounded).
    fn float_lit_of(&mut self, ty: DataType, x: f64) -> Handle<Expression> {
        self.lit(if ty == DataType::F64 {
            naga::Literal::F64(x)
        } else {
            naga::Literal::F32(x as f32)
        })
    }

    pub(super) fn f32_lit(&mut self, v: f32) -> Handle<Expression> {
        self.lit(naga::Literal::F32(v))
    }

    /// An `f32` constant. naga and WGSL reject non-finite literals (and WGSL
    /// constant-folds `bitcast`), so those are read from a `u32` variable.
    pub(super) fn f32_const(&mut self, v: f32, blk: &mut Block) -> Handle<Expression> {
        if v.is_finite() {
            return self.f32_lit(v);
        }
        self.nonfinite_const(4, u64::from(v.to_bits()), blk)
    }

    /// An `f64` constant; a non-finite one is read from a `u64` variable
    /// (naga rejects non-finite literals).
    pub(super) fn f64_const(&mut self, v: f64, blk: &mut Block) -> Handle<Expression> {
        if v.is_finite() {
            return self.lit(naga::Literal::F64(v));
        }
        self.nonfinite_const(8, v.to_bits(), blk)
    }

    /// The float of `width` bytes whose bits are `bits`, read from a
    /// variable of the same-width unsigned type holding them.
    fn nonfinite_const(&mut self, width: u32, bits: u64, blk: &mut Block) -> Handle<Expression> {
        let key = (width, bits);
        let pointer = if let Some((_, h)) = self.nonfinite.iter().find(|(k, _)| *k == key) {
            *h
        } else {
            let (init, ty, name) = if width == 8 {
                (
                    self.lit(naga::Literal::U64(bits)),
                    self.scalar_ty(DataType::U64),
                    format!("f64_bits_{bits:016x}"),
                )
            } else {
                (
                    self.u32_lit(bits as u32),
                    self.ty.u32_,
                    format!("f32_bits_{bits:08x}"),
                )
            };
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(name),
                    ty,
                    init: Some(init),
                },
                Span::UNDEFINED,
            );
            let h = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.nonfinite.push((key, h));
            h
        };
        let loaded = self.add(Expression::Load { pointer }, blk);
        self.bitcast(loaded, ScalarKind::Float, blk)
    }

    pub(super) fn expr(&mut self, e: &Expr, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        Ok(match e {
            Expr::Subgroup(op, args) => self.subgroup(*op, args, blk)?,
            Expr::Lit(l) => self.lit(match l.widened() {
                Literal::Bool(b) => naga::Literal::Bool(b),
                Literal::I32(v) => naga::Literal::I32(v),
                Literal::U32(v) => naga::Literal::U32(v),
                Literal::F32(bits) => return Ok(self.f32_const(f32::from_bits(bits), blk)),
                Literal::U64(v) => naga::Literal::U64(v),
                Literal::I64(v) => naga::Literal::I64(v),
                Literal::F64(bits) => return Ok(self.f64_const(f64::from_bits(bits), blk)),
                narrow => unreachable!("`{}` literal survived widening", narrow.ty()),
            }),
            Expr::Local(id) => {
                let pointer = *self
                    .locals
                    .get(*id as usize)
                    .ok_or_else(|| self.internal(&format!("unknown local {id}")))?;
                self.add(Expression::Load { pointer }, blk)
            }
            Expr::Param(id) => {
                let field = self
                    .scalar_field
                    .get(*id as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| self.internal(&format!("parameter {id} is not a scalar")))?;
                let v = self.load_uniform_field(field, blk)?;
                if matches!(
                    self.p.params.get(*id as usize),
                    Some(Param::Scalar {
                        ty: DataType::Bool,
                        ..
                    })
                ) {
                    let zero = self.u32_lit(0);
                    self.bin(BinaryOperator::NotEqual, v, zero, blk)
                } else {
                    v
                }
            }
            Expr::Builtin(b, axis) => {
                let base = self.builtins[builtin_index(*b)]
                    .ok_or_else(|| self.internal("builtin not declared"))?;
                self.add(
                    Expression::AccessIndex {
                        base,
                        index: axis.index() as u32,
                    },
                    blk,
                )
            }
            Expr::Len(id) => {
                let info = self.array(BufRef::Param(*id))?;
                self.array_len(info, blk)?
            }
            Expr::Load { buf, index } => self.load(*buf, index, blk)?,
            Expr::Unary(op, a) => {
                let ty = self.analysis.type_of(a);
                let v = self.expr(a, blk)?;
                let op = match (op, ty) {
                    (UnOp::Neg, _) => UnaryOperator::Negate,
                    (UnOp::Not, Some(DataType::Bool)) => UnaryOperator::LogicalNot,
                    (UnOp::Not, _) => UnaryOperator::BitwiseNot,
                };
                self.add(Expression::Unary { op, expr: v }, blk)
            }
            Expr::Binary(op, a, b) => self.binary(*op, a, b, blk)?,
            Expr::Cast(to, a) => {
                let from = self
                    .analysis
                    .type_of(a)
                    .ok_or_else(|| self.internal("untyped cast operand"))?;
                let v = self.expr(a, blk)?;
                self.cast(v, from, *to, blk)?
            }
            Expr::Math(f, args) => self.math(*f, args, blk)?,
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, blk)?;
                let t = self.expr(then, blk)?;
                let o = self.expr(otherwise, blk)?;
                self.select(c, t, o, blk)
            }
        })
    }

    /// `x / y` in `f32`. Vulkan bounds the error of a division only for
    /// divisors in [2^-126, 2^126]; above, the NVIDIA driver's reciprocal
    /// is subnormal and flushed, so `x / 3e38` gives 0 (and `inf / 3e38`
    /// NaN; differential seeds 0x300127, 0x30538b and six more). Such a
    /// divisor is divided by 4 first and the quotient by 4 after: both
    /// exact, since `|x / (y / 4)|` is at most 16, unless the quotient is
    /// subnormal (rounded twice then).
    fn f32_div(
        &mut self,
        x: Handle<Expression>,
        y: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let ay = self.math1(MathFunction::Abs, y, blk);
        let limit = self.f32_lit(f32::from_bits(0x7E80_0000)); // 2^126
        let big = self.bin(BinaryOperator::Greater, ay, limit, blk);
        let one = self.f32_lit(1.0);
        let quarter = self.f32_lit(0.25);
        let scale = self.select(big, quarter, one, blk);
        let ys = self.bin(BinaryOperator::Multiply, y, scale, blk);
        let q = self.bin(BinaryOperator::Divide, x, ys, blk);
        self.bin(BinaryOperator::Multiply, q, scale, blk)
    }

    /// `a + b` as `fma(a, 1, b)` and `a - b` as `fma(b, -1, a)`: the same
    /// single rounding for every input, fused or not (the product is
    /// exact). NVIDIA's Vulkan compiler, like ptxas, folds an `f32` add or
    /// subtract of known operands whose exact result is a tie toward zero
    /// (`-7 * 2^24 + 100`; differential seeds 0x319a34, 0x31cc3c; the PTX
    /// emitter does the same, docs/targets.md). `fast_math` keeps the plain
    /// instruction, whose contract allows any rounding.
    fn f32_add_as_fma(
        &mut self,
        sub: bool,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let (x, y, z) = if sub {
            (b, self.f32_lit(-1.0), a)
        } else {
            (a, self.f32_lit(1.0), b)
        };
        self.fma(x, y, z, blk)
    }

    /// `x * y + z` by naga's `Fma` (which a target may compute unfused).
    fn fma(
        &mut self,
        x: Handle<Expression>,
        y: Handle<Expression>,
        z: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Math {
                fun: MathFunction::Fma,
                arg: x,
                arg1: Some(y),
                arg2: Some(z),
                arg3: None,
            },
            blk,
        )
    }

    pub(super) fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let ty = self
            .analysis
            .type_of(a)
            .ok_or_else(|| self.internal("untyped operand"))?;
        let l = self.expr(a, blk)?;
        let mut r = self.expr(b, blk)?;
        let is_bool = ty == DataType::Bool;
        let naga_op = match op {
            BinOp::Add | BinOp::Sub
                if ty == DataType::F32 && !self.analysis.program().fast_math =>
            {
                return Ok(self.f32_add_as_fma(op == BinOp::Sub, l, r, blk));
            }
            BinOp::Add => BinaryOperator::Add,
            BinOp::Sub => BinaryOperator::Subtract,
            BinOp::Mul => BinaryOperator::Multiply,
            // A literal divisor other than 0 (and -1, for i32) needs none of
            // the guards, and a plain division by it lets the driver use
            // shifts and multiplies. (0 and -1 take the guarded path.)
            BinOp::Div | BinOp::Rem
                if ty.is_integer()
                    && IntDivision::of(ty, literal_value(b)) == IntDivision::ByConstant =>
            {
                if op == BinOp::Div {
                    BinaryOperator::Divide
                } else {
                    BinaryOperator::Modulo
                }
            }
            BinOp::Div | BinOp::Rem if ty.is_integer() => {
                return Ok(self.int_div(op == BinOp::Div, ty, l, r, blk));
            }
            BinOp::Div if ty == DataType::F32 => return Ok(self.f32_div(l, r, blk)),
            BinOp::Div => BinaryOperator::Divide,
            BinOp::Rem => BinaryOperator::Modulo,
            BinOp::BitAnd | BinOp::And if is_bool => BinaryOperator::LogicalAnd,
            BinOp::BitOr | BinOp::Or if is_bool => BinaryOperator::LogicalOr,
            BinOp::BitXor if is_bool => BinaryOperator::NotEqual,
            BinOp::BitAnd | BinOp::And => BinaryOperator::And,
            BinOp::BitOr | BinOp::Or => BinaryOperator::InclusiveOr,
            BinOp::BitXor => BinaryOperator::ExclusiveOr,
            BinOp::Shl | BinOp::Shr => {
                // Any integer amount, reinterpreted as u32 (a 64-bit one
                // truncated: the mask keeps low bits only) and masked to
                // the left operand's width.
                match self.analysis.type_of(b) {
                    Some(DataType::I32) => r = self.bitcast(r, ScalarKind::Uint, blk),
                    Some(DataType::I64) => {
                        let u = self.bitcast(r, ScalarKind::Uint, blk);
                        r = self.convert(u, ScalarKind::Uint, blk);
                    }
                    Some(DataType::U64) => r = self.convert(r, ScalarKind::Uint, blk),
                    _ => {}
                }
                let mask = self.u32_lit(if ty.is_wide() { 63 } else { 31 });
                r = self.bin(BinaryOperator::And, r, mask, blk);
                if op == BinOp::Shl {
                    BinaryOperator::ShiftLeft
                } else {
                    BinaryOperator::ShiftRight
                }
            }
            BinOp::Eq => BinaryOperator::Equal,
            // naga writes a float `!=` as SPIR-V's ordered `FOrdNotEqual`,
            // false when either side is NaN; IEEE (and Rust) say true.
            // `!(a == b)` is right everywhere.
            BinOp::Ne if matches!(ty, DataType::F32 | DataType::F64) => {
                let eq = self.bin(BinaryOperator::Equal, l, r, blk);
                return Ok(self.add(
                    Expression::Unary {
                        op: UnaryOperator::LogicalNot,
                        expr: eq,
                    },
                    blk,
                ));
            }
            BinOp::Ne => BinaryOperator::NotEqual,
            BinOp::Lt => BinaryOperator::Less,
            BinOp::Le => BinaryOperator::LessEqual,
            BinOp::Gt => BinaryOperator::Greater,
            BinOp::Ge => BinaryOperator::GreaterEqual,
        };
        Ok(self.bin(naga_op, l, r, blk))
    }

    /// Integer `/` or `%` with vyre's semantics: by zero gives 0,
    /// `i32::MIN / -1` wraps to `i32::MIN` and `i32::MIN % -1` is 0 (and
    /// likewise for `i64`). The divisor is replaced by 1 in those cases, so
    /// no target ever sees them.
    pub(super) fn int_div(
        &mut self,
        div: bool,
        ty: DataType,
        l: Handle<Expression>,
        r: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let zero = self.zero(ty);
        let one = self.int_lit(ty, 1);
        let by_zero = self.bin(BinaryOperator::Equal, r, zero, blk);
        let mut replace = by_zero;
        if IntDivision::overflow_possible(ty) {
            let min = self.lit(if ty == DataType::I64 {
                naga::Literal::I64(i64::MIN)
            } else {
                naga::Literal::I32(i32::MIN)
            });
            let minus_one = self.int_lit(ty, -1);
            let l_min = self.bin(BinaryOperator::Equal, l, min, blk);
            let r_m1 = self.bin(BinaryOperator::Equal, r, minus_one, blk);
            let overflow = self.bin(BinaryOperator::LogicalAnd, l_min, r_m1, blk);
            replace = self.bin(BinaryOperator::LogicalOr, by_zero, overflow, blk);
        }
        let safe = self.select(replace, one, r, blk);
        let op = if div {
            BinaryOperator::Divide
        } else {
            BinaryOperator::Modulo
        };
        let q = self.bin(op, l, safe, blk);
        self.select(by_zero, zero, q, blk)
    }

    pub(super) fn cast(
        &mut self,
        v: Handle<Expression>,
        from: DataType,
        to: DataType,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        use DataType as T;
        Ok(match (from, to) {
            (a, b) if a == b => v,
            // A narrow value is held widened already (a load of narrow
            // memory, or a rounded value).
            (n, r) if n.is_narrow() && r == n.register_type() => v,
            (r, n) if n.is_narrow() && r == n.register_type() => self.round_to(v, n, blk),
            (a, b) if a.is_narrow() || b.is_narrow() => {
                return Err(
                    self.internal(&format!("cast {a} as {b} survived widening (`mid::widen`)"))
                );
            }
            (T::Bool, t) => {
                let one = self.int_lit(t, 1);
                let zero = self.int_lit(t, 0);
                self.select(v, one, zero, blk)
            }
            (_, T::Bool) => {
                return Err(self.unsupported("casts to `bool` are not part of the language"));
            }
            (T::I32, T::U32) => self.bitcast(v, ScalarKind::Uint, blk),
            (T::U32, T::I32) => self.bitcast(v, ScalarKind::Sint, blk),
            (T::I32 | T::U32, T::F32) => self.convert(v, ScalarKind::Float, blk),
            (a, b) if a.is_integer() && b.is_integer() => self.int_cast(v, a, b, blk),
            // Integer to float: rounded to nearest, ties to even (every
            // target's conversion); float to float: exact or rounded to
            // nearest.
            (a, b) if (a.is_integer() || a.is_float()) && b.is_float() => {
                self.convert_to(v, ScalarKind::Float, width(b), blk)
            }
            (a, b) if a.is_float() && b.is_integer() => self.float_to_int(v, a, b, blk),
            (a, b) => {
                return Err(self.internal(&format!("unsupported cast {a} as {b}")));
            }
        })
    }

    /// A cast between integer types of which one is 64-bit, like Rust
    /// `as`: sign- or zero-extended by the source's signedness, truncated to
    /// the low bits, reinterpreted between signed and unsigned. Truncation
    /// goes through the unsigned types, where every target defines it.
    fn int_cast(
        &mut self,
        v: Handle<Expression>,
        from: DataType,
        to: DataType,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let kind_of = |t: DataType| {
            if t.is_signed() {
                ScalarKind::Sint
            } else {
                ScalarKind::Uint
            }
        };
        let (wf, wt) = (width(from), width(to));
        let v = if wf < wt && from.is_signed() {
            // Sign-extended as a zero extension shifted up, then shifted
            // back arithmetically: Mesa's lavapipe treats an `OpSConvert`
            // result as non-negative in later comparisons, shifts and
            // `abs` (`(-5i32 as i64) < 0` was false; tests/wide_types.rs,
            // `sign_extended_values_keep_their_sign`).
            let u = self.bitcast(v, ScalarKind::Uint, blk);
            let z = self.convert_to(u, ScalarKind::Uint, wt, blk);
            let k = self.u32_lit(32);
            let up = self.bin(BinaryOperator::ShiftLeft, z, k, blk);
            let s = self.bitcast(up, ScalarKind::Sint, blk);
            self.bin(BinaryOperator::ShiftRight, s, k, blk)
        } else if wf < wt {
            // Zero-extended.
            self.convert_to(v, kind_of(from), wt, blk)
        } else if wf > wt {
            let u = if from.is_signed() {
                self.bitcast(v, ScalarKind::Uint, blk)
            } else {
                v
            };
            self.convert_to(u, ScalarKind::Uint, wt, blk)
        } else {
            v
        };
        // `v` now has `to`'s width; its signedness is `from`'s when it was
        // extended or reinterpreted, unsigned when it was truncated.
        let now_signed = from.is_signed() && wf <= wt;
        if now_signed == to.is_signed() {
            v
        } else {
            self.bitcast(v, kind_of(to), blk)
        }
    }

    /// A float → integer cast that saturates like Rust `as`: the value is
    /// clamped into the representable range (the top bound is the largest
    /// float of the source type below `2^N` or `2^(N-1)`), converted, then
    /// `select`s give the maximum at or above the top and 0 for NaN.
    fn float_to_int(
        &mut self,
        v: Handle<Expression>,
        from: DataType,
        to: DataType,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let bits = to.size_bytes() * 8;
        let signed = to.is_signed();
        // 2^bits (unsigned) or 2^(bits - 1) (signed): the first value out
        // of range at the top, exact in both float types.
        let top_exp = if signed { bits - 1 } else { bits };
        let top = 2f64.powi(top_exp as i32);
        let lo = if signed { -top } else { 0.0 };
        // The largest float of the source type below `top`.
        let hi = if from == DataType::F64 {
            f64::from_bits(top.to_bits() - 1)
        } else {
            f64::from(f32::from_bits((top as f32).to_bits() - 1))
        };
        let kind = if signed {
            ScalarKind::Sint
        } else {
            ScalarKind::Uint
        };
        let max = match to {
            DataType::U32 => naga::Literal::U32(u32::MAX),
            DataType::I32 => naga::Literal::I32(i32::MAX),
            DataType::U64 => naga::Literal::U64(u64::MAX),
            _ => naga::Literal::I64(i64::MAX),
        };
        let lo_l = self.float_lit_of(from, lo);
        let hi_l = self.float_lit_of(from, hi);
        let below = self.bin(BinaryOperator::Less, v, lo_l, blk);
        let c = self.select(below, lo_l, v, blk);
        let above = self.bin(BinaryOperator::Greater, c, hi_l, blk);
        let c = self.select(above, hi_l, c, blk);
        let nan = self.is_nan_of(from, v, blk);
        // A NaN would reach the conversion; feed it 0 instead.
        let zero_f = self.float_lit_of(from, 0.0);
        let c = self.select(nan, zero_f, c, blk);
        let converted = if width(to) == 8 {
            self.float_to_64_in_halves(c, from, signed, blk)
        } else {
            self.convert_to(c, kind, 4, blk)
        };
        let top_l = self.float_lit_of(from, top);
        let at_top = self.bin(BinaryOperator::GreaterEqual, v, top_l, blk);
        let max_l = self.lit(max);
        let r = self.select(at_top, max_l, converted, blk);
        let zero_l = self.zero(to);
        self.select(nan, zero_l, r, blk)
    }

    /// `c` (a float of type `from`, in range and not NaN) converted to a
    /// 64-bit integer, toward zero, as two 32-bit conversions: the high
    /// word `floor(|c| / 2^32)` and the low `|c| - high * 2^32` (both
    /// exact), joined and negated for a negative `c` (`signed`). NVIDIA's
    /// Vulkan compiler folds a 64-bit conversion followed by a truncation
    /// to 32 bits into one saturating 32-bit conversion: `1e10 as u64 as
    /// u32` gave `u32::MAX`, not 1410065408 (seeds 0x313f5a, 0x317fde).
    fn float_to_64_in_halves(
        &mut self,
        c: Handle<Expression>,
        from: DataType,
        signed: bool,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let whole = self.math1(MathFunction::Trunc, c, blk);
        let a = self.math1(MathFunction::Abs, whole, blk);
        let down = self.float_lit_of(from, 2f64.powi(-32));
        let up = self.float_lit_of(from, 2f64.powi(32));
        let scaled = self.bin(BinaryOperator::Multiply, a, down, blk);
        let high_f = self.math1(MathFunction::Floor, scaled, blk);
        let high_part = self.bin(BinaryOperator::Multiply, high_f, up, blk);
        let low_f = self.bin(BinaryOperator::Subtract, a, high_part, blk);
        let high = self.convert_to(high_f, ScalarKind::Uint, 4, blk);
        let low = self.convert_to(low_f, ScalarKind::Uint, 4, blk);
        let high = self.convert_to(high, ScalarKind::Uint, 8, blk);
        let low = self.convert_to(low, ScalarKind::Uint, 8, blk);
        let k = self.u32_lit(32);
        let high = self.bin(BinaryOperator::ShiftLeft, high, k, blk);
        let joined = self.bin(BinaryOperator::InclusiveOr, high, low, blk);
        if !signed {
            return joined;
        }
        let s = self.bitcast(joined, ScalarKind::Sint, blk);
        let negated = self.add(
            Expression::Unary {
                op: UnaryOperator::Negate,
                expr: s,
            },
            blk,
        );
        let zero_f = self.float_lit_of(from, 0.0);
        let negative = self.bin(BinaryOperator::Less, whole, zero_f, blk);
        self.select(negative, negated, s, blk)
    }

    /// Float (`f32` or `f64`, `ty`) min/max ignoring a NaN operand, like
    /// Rust.
    pub(super) fn fminmax(
        &mut self,
        max: bool,
        ty: DataType,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let op = if max {
            BinaryOperator::Greater
        } else {
            BinaryOperator::Less
        };
        // a < b ? a : b — yields b when a is NaN; then b NaN -> a.
        let pick_a = self.bin(op, a, b, blk);
        let m = self.select(pick_a, a, b, blk);
        let b_nan = self.is_nan_of(ty, b, blk);
        self.select(b_nan, a, m, blk)
    }

    pub(super) fn minmax(
        &mut self,
        max: bool,
        ty: DataType,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        if matches!(ty, DataType::F32 | DataType::F64) {
            return self.fminmax(max, ty, a, b, blk);
        }
        let fun = if max {
            MathFunction::Max
        } else {
            MathFunction::Min
        };
        let math = |s: &mut Self, x, y, blk: &mut Block| {
            s.add(
                Expression::Math {
                    fun,
                    arg: x,
                    arg1: Some(y),
                    arg2: None,
                    arg3: None,
                },
                blk,
            )
        };
        if ty != DataType::I32 {
            return math(self, a, b, blk);
        }
        // An `i32` pair as `u32`s with the sign bit flipped (which orders
        // them as `u32` the way they order as `i32`), and the result flipped
        // back: NVIDIA's Vulkan compiler, like ptxas (`backend::ptx::emit`,
        // `min_max`), folds an `i32` negation into a three-operand signed
        // min/max and loses it (`regress_ptx_signed_min3_negation.vyre`
        // gave 7 for 10 on the H100 through SPIR-V and WGSL alike).
        let sign = self.u32_lit(0x8000_0000);
        let flip = |s: &mut Self, x, blk: &mut Block| {
            let u = s.bitcast(x, ScalarKind::Uint, blk);
            s.bin(BinaryOperator::ExclusiveOr, u, sign, blk)
        };
        let (fa, fb) = (flip(self, a, blk), flip(self, b, blk));
        let m = math(self, fa, fb, blk);
        let back = self.bin(BinaryOperator::ExclusiveOr, m, sign, blk);
        self.bitcast(back, ScalarKind::Sint, blk)
    }

    pub(super) fn math(
        &mut self,
        f: MathFn,
        args: &[Expr],
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let ty = args
            .first()
            .and_then(|a| self.analysis.type_of(a))
            .ok_or_else(|| self.internal("untyped math operand"))?;
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.expr(a, blk)?);
        }
        let arg = |i: usize| vals.get(i).copied();
        let need = |i: usize| -> CompileResult<Handle<Expression>> {
            arg(i).ok_or_else(|| {
                self.internal(&format!("`{}` needs {} operands", f.name(), f.arity()))
            })
        };
        let x = need(0)?;
        Ok(match f {
            MathFn::Sqrt => self.math1(MathFunction::Sqrt, x, blk),
            MathFn::Exp => self.math1(MathFunction::Exp, x, blk),
            MathFn::Exp2 => self.math1(MathFunction::Exp2, x, blk),
            MathFn::Ln => self.math1(MathFunction::Log, x, blk),
            MathFn::Sin => self.math1(MathFunction::Sin, x, blk),
            MathFn::Cos => self.math1(MathFunction::Cos, x, blk),
            MathFn::Tanh => {
                // Some drivers compute tanh through exp and overflow to NaN
                // for large |x|; tanh(±10) already rounds to ±1 in f32.
                let hi = self.f32_lit(10.0);
                let lo = self.f32_lit(-10.0);
                let above = self.bin(BinaryOperator::Greater, x, hi, blk);
                let c = self.select(above, hi, x, blk);
                let below = self.bin(BinaryOperator::Less, c, lo, blk);
                let c = self.select(below, lo, c, blk);
                self.math1(MathFunction::Tanh, c, blk)
            }
            MathFn::Floor => self.math1(MathFunction::Floor, x, blk),
            MathFn::Ceil => self.math1(MathFunction::Ceil, x, blk),
            MathFn::Abs => match ty {
                DataType::F32 | DataType::F64 => self.math1(MathFunction::Abs, x, blk),
                DataType::I32 | DataType::I64 => {
                    // Wrapping: i32::MIN.abs() is i32::MIN (and i64's).
                    let zero = self.zero(ty);
                    let neg = self.bin(BinaryOperator::Less, x, zero, blk);
                    let minus = self.add(
                        Expression::Unary {
                            op: UnaryOperator::Negate,
                            expr: x,
                        },
                        blk,
                    );
                    self.select(neg, minus, x, blk)
                }
                _ => x,
            },
            MathFn::Min => {
                let y = need(1)?;
                self.minmax(false, ty, x, y, blk)
            }
            MathFn::Max => {
                let y = need(1)?;
                self.minmax(true, ty, x, y, blk)
            }
            MathFn::Clamp => {
                // `lo > hi ? hi : lo`, then max and min: see `mid::legal`.
                let lo = need(1)?;
                let hi = need(2)?;
                let above = self.bin(BinaryOperator::Greater, lo, hi, blk);
                let lo = self.select(above, hi, lo, blk);
                let m = self.minmax(true, ty, x, lo, blk);
                let clamped = self.minmax(false, ty, m, hi, blk);
                if !matches!(ty, DataType::F32 | DataType::F64) {
                    return Ok(clamped);
                }
                // A NaN `x` gives `lo.min(hi)`, selected on its bits: the
                // NVIDIA driver swaps the max/min pair for a NaN `x` too
                // (giving `hi`; differential seeds 0x301a6e, 0x304661).
                let nan = self.is_nan_of(ty, x, blk);
                let bound = self.minmax(false, ty, lo, hi, blk);
                self.select(nan, bound, clamped, blk)
            }
            MathFn::MulAdd => {
                let y = need(1)?;
                let z = need(2)?;
                self.fma(x, y, z, blk)
            }
            MathFn::Powf => {
                let y = need(1)?;
                self.powf(x, y, blk)
            }
        })
    }

    /// `x.powf(y)` with C `pow`'s special cases that GPU `pow` (defined only
    /// for x > 0) leaves undefined: a negative base with an integer exponent
    /// takes the sign from the exponent's parity, with a non-integer one it
    /// is NaN; `y == 0` and `x == 1` give 1.
    pub(super) fn powf(
        &mut self,
        x: Handle<Expression>,
        y: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let ax = self.math1(MathFunction::Abs, x, blk);
        let mag = self.add(
            Expression::Math {
                fun: MathFunction::Pow,
                arg: ax,
                arg1: Some(y),
                arg2: None,
                arg3: None,
            },
            blk,
        );
        let zero = self.f32_lit(0.0);
        let one = self.f32_lit(1.0);
        let half = self.f32_lit(0.5);
        let neg = self.bin(BinaryOperator::Less, x, zero, blk);
        let fy = self.math1(MathFunction::Floor, y, blk);
        let y_int = self.bin(BinaryOperator::Equal, fy, y, blk);
        let hy = self.bin(BinaryOperator::Multiply, y, half, blk);
        let fhy = self.math1(MathFunction::Floor, hy, blk);
        let even = self.bin(BinaryOperator::Equal, fhy, hy, blk);
        let odd = self.add(
            Expression::Unary {
                op: UnaryOperator::LogicalNot,
                expr: even,
            },
            blk,
        );
        let odd_int = self.bin(BinaryOperator::LogicalAnd, y_int, odd, blk);
        let negated = self.add(
            Expression::Unary {
                op: UnaryOperator::Negate,
                expr: mag,
            },
            blk,
        );
        let signed = self.select(odd_int, negated, mag, blk);
        let nan = self.f32_const(f32::NAN, blk);
        let neg_val = self.select(y_int, signed, nan, blk);
        let r = self.select(neg, neg_val, mag, blk);
        let y0 = self.bin(BinaryOperator::Equal, y, zero, blk);
        let x1 = self.bin(BinaryOperator::Equal, x, one, blk);
        let trivial = self.bin(BinaryOperator::LogicalOr, y0, x1, blk);
        self.select(trivial, one, r, blk)
    }
}

/// The constant value of an integer literal (for [`IntDivision::of`]: a
/// signed type's as its value, an unsigned type's as its bits).
fn literal_value(e: &Expr) -> Option<i64> {
    match e {
        Expr::Lit(Literal::U32(v)) => Some(i64::from(*v)),
        Expr::Lit(Literal::I32(v)) => Some(i64::from(*v)),
        Expr::Lit(Literal::U64(v)) => Some(v.cast_signed()),
        Expr::Lit(Literal::I64(v)) => Some(*v),
        _ => None,
    }
}

/// The width in bytes of a 32- or 64-bit register type, as naga spells it.
fn width(ty: DataType) -> u8 {
    if ty.is_wide() { 8 } else { 4 }
}
