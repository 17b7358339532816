//! Pass 1 for expressions: names, literals, operators, builtins and calls.
//! Methods and fields are in `method`, `if` expressions, block values and
//! helper inlining in `inline`.

use std::collections::HashMap;

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::file::int_literal;
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FExpr, FK, FStmt, Loc};
use crate::ir::{AtomicOp, BinOp, Builtin, DataType, Literal, MathFn, Param, SubgroupOp, UnOp};

/// The error for a float literal that rounds to infinity in `t`.
pub(crate) fn float_overflow(t: DataType) -> String {
    let inf = match t {
        DataType::F16 => u64::from(half::f16::INFINITY.to_bits()),
        DataType::BF16 => u64::from(half::bf16::INFINITY.to_bits()),
        DataType::F64 => f64::INFINITY.to_bits(),
        _ => u64::from(f32::INFINITY.to_bits()),
    };
    format!(
        "float literal out of range for `{t}`; write `{t}::INFINITY` or `{t}::from_bits({inf:#x})` for infinity"
    )
}

pub(super) const METHODS: &str = "supported methods: `len`, the math methods `sqrt exp ln sin cos tanh abs floor ceil min max powf clamp mul_add`, on buffers, shared and private arrays `load2 load4 store2 store4` (and on 16- and 8-bit elements `load8 store8`), and on buffers/shared arrays the atomics `atomic_add atomic_sub atomic_min atomic_max atomic_and atomic_or atomic_xor atomic_exchange atomic_compare_exchange`";

pub(super) const FUNCTIONS: &str = "available: the builtins `global_id()`, `local_id()`, `workgroup_id()`, `num_workgroups()` (read `.x`, `.y` or `.z`), `barrier()`, the subgroup functions `subgroup_invocation_id() subgroup_size() subgroup_add subgroup_min subgroup_max subgroup_shuffle subgroup_shuffle_xor subgroup_shuffle_down subgroup_broadcast_first subgroup_ballot subgroup_all subgroup_any`, `f32::from_bits(bits)` (`f16::from_bits`, `bf16::from_bits` take a `u16`), `f32::sqrt(x)`-style math calls (on any numeric type: `f16::max(a, b)`), the matrix statements `matrix_load_a matrix_load_b matrix_load_acc` (also `_col_major`) `matrix_zero matrix_fill matrix_mma matrix_store matrix_store_col_major`, the warpgroup statements `warpgroup_zero warpgroup_fill warpgroup_mma warpgroup_mma_async warpgroup_wait`, the copies `async_copy async_copy_tile async_commit async_wait`, and the helper `fn`s of this file";

/// The subgroup function called `name` (`subgroup_add`), if any.
pub(crate) fn subgroup_op(name: &str) -> Option<SubgroupOp> {
    SubgroupOp::ALL.into_iter().find(|f| f.name() == name)
}

/// How a subgroup function is called, for diagnostics.
pub(super) fn subgroup_form(op: SubgroupOp) -> &'static str {
    match op {
        SubgroupOp::InvocationId => "subgroup_invocation_id()",
        SubgroupOp::Size => "subgroup_size()",
        SubgroupOp::Add => "subgroup_add(v)",
        SubgroupOp::Min => "subgroup_min(v)",
        SubgroupOp::Max => "subgroup_max(v)",
        SubgroupOp::Shuffle => "subgroup_shuffle(v, src_lane)",
        SubgroupOp::ShuffleXor => "subgroup_shuffle_xor(v, mask)",
        SubgroupOp::ShuffleDown => "subgroup_shuffle_down(v, delta)",
        SubgroupOp::BroadcastFirst => "subgroup_broadcast_first(v)",
        SubgroupOp::Ballot => "subgroup_ballot(pred)",
        SubgroupOp::All => "subgroup_all(pred)",
        SubgroupOp::Any => "subgroup_any(pred)",
    }
}

/// Whether `name` is a builtin function (a helper may not take its name:
/// calls would be ambiguous, and the builtin wins).
pub(crate) fn is_builtin_fn(name: &str) -> bool {
    name == "barrier"
        || name == "warpgroup_barrier"
        || subgroup_op(name).is_some()
        || super::matrix::MatFn::from_name(name).is_some()
        || [
            Builtin::GlobalId,
            Builtin::LocalId,
            Builtin::WorkgroupId,
            Builtin::NumWorkgroups,
        ]
        .iter()
        .any(|b| b.name() == name)
}

pub(crate) fn math_fn(name: &str) -> Option<MathFn> {
    MathFn::ALL.into_iter().find(|f| f.name() == name)
}

pub(super) fn atomic_op(name: &str) -> Option<AtomicOp> {
    AtomicOp::ALL.into_iter().find(|f| f.name() == name)
}

pub(super) fn builtin(func: &syn::Expr) -> Option<Builtin> {
    let syn::Expr::Path(p) = func else {
        return None;
    };
    let id = p.path.get_ident()?;
    [
        Builtin::GlobalId,
        Builtin::LocalId,
        Builtin::WorkgroupId,
        Builtin::NumWorkgroups,
    ]
    .into_iter()
    .find(|b| id == b.name())
}

fn binop(op: &syn::BinOp) -> Option<BinOp> {
    use syn::BinOp as S;
    Some(match op {
        S::Add(_) => BinOp::Add,
        S::Sub(_) => BinOp::Sub,
        S::Mul(_) => BinOp::Mul,
        S::Div(_) => BinOp::Div,
        S::Rem(_) => BinOp::Rem,
        S::And(_) => BinOp::And,
        S::Or(_) => BinOp::Or,
        S::BitXor(_) => BinOp::BitXor,
        S::BitAnd(_) => BinOp::BitAnd,
        S::BitOr(_) => BinOp::BitOr,
        S::Shl(_) => BinOp::Shl,
        S::Shr(_) => BinOp::Shr,
        S::Eq(_) => BinOp::Eq,
        S::Lt(_) => BinOp::Lt,
        S::Le(_) => BinOp::Le,
        S::Ne(_) => BinOp::Ne,
        S::Ge(_) => BinOp::Ge,
        S::Gt(_) => BinOp::Gt,
        _ => return None,
    })
}

/// Named constants of the scalar types, `f32::MAX`, `u8::MAX`,
/// `bf16::INFINITY` and friends.
fn assoc_const(ty: &str, name: &str) -> Option<Literal> {
    if ty == "consts" {
        return Some(match name {
            "PI" => Literal::f32(std::f32::consts::PI),
            "TAU" => Literal::f32(std::f32::consts::TAU),
            "E" => Literal::f32(std::f32::consts::E),
            "LN_2" => Literal::f32(std::f32::consts::LN_2),
            "LN_10" => Literal::f32(std::f32::consts::LN_10),
            "SQRT_2" => Literal::f32(std::f32::consts::SQRT_2),
            "FRAC_PI_2" => Literal::f32(std::f32::consts::FRAC_PI_2),
            "FRAC_PI_4" => Literal::f32(std::f32::consts::FRAC_PI_4),
            "FRAC_1_SQRT_2" => Literal::f32(std::f32::consts::FRAC_1_SQRT_2),
            _ => return None,
        });
    }
    let t = DataType::from_name(ty)?;
    if t.is_integer() {
        let bits = t.bits();
        let (min, max) = if t.is_signed() {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        return match name {
            "MAX" => int_literal(max, t),
            "MIN" => int_literal(min, t),
            "BITS" => Some(Literal::U32(bits)),
            _ => None,
        };
    }
    match t {
        DataType::F32 => Some(Literal::f32(match name {
            "MAX" => f32::MAX,
            "MIN" => f32::MIN,
            "MIN_POSITIVE" => f32::MIN_POSITIVE,
            "EPSILON" => f32::EPSILON,
            "INFINITY" => f32::INFINITY,
            "NEG_INFINITY" => f32::NEG_INFINITY,
            "NAN" => f32::NAN,
            _ => return None,
        })),
        DataType::F16 => Some(Literal::F16(
            match name {
                "MAX" => half::f16::MAX,
                "MIN" => half::f16::MIN,
                "MIN_POSITIVE" => half::f16::MIN_POSITIVE,
                "EPSILON" => half::f16::EPSILON,
                "INFINITY" => half::f16::INFINITY,
                "NEG_INFINITY" => half::f16::NEG_INFINITY,
                "NAN" => half::f16::NAN,
                _ => return None,
            }
            .to_bits(),
        )),
        DataType::F64 => Some(Literal::f64(match name {
            "MAX" => f64::MAX,
            "MIN" => f64::MIN,
            "MIN_POSITIVE" => f64::MIN_POSITIVE,
            "EPSILON" => f64::EPSILON,
            "INFINITY" => f64::INFINITY,
            "NEG_INFINITY" => f64::NEG_INFINITY,
            "NAN" => f64::NAN,
            _ => return None,
        })),
        DataType::BF16 => Some(Literal::BF16(
            match name {
                "MAX" => half::bf16::MAX,
                "MIN" => half::bf16::MIN,
                "MIN_POSITIVE" => half::bf16::MIN_POSITIVE,
                "EPSILON" => half::bf16::EPSILON,
                "INFINITY" => half::bf16::INFINITY,
                "NEG_INFINITY" => half::bf16::NEG_INFINITY,
                "NAN" => half::bf16::NAN,
                _ => return None,
            }
            .to_bits(),
        )),
        _ => None,
    }
}

/// A float literal of type `t` from its value read as an `f32` (`v`) and
/// as an `f64` (`v64`): `v64` for `f64`, otherwise `v` rounded to `t` (to
/// nearest even). `None` when the result is infinite: a literal out of the
/// type's range.
pub(crate) fn round_float(v: f32, v64: f64, t: DataType) -> Option<Literal> {
    let l = match t {
        DataType::F16 => Literal::F16(half::f16::from_f32(v).to_bits()),
        DataType::BF16 => Literal::BF16(half::bf16::from_f32(v).to_bits()),
        DataType::F64 => return v64.is_finite().then_some(Literal::f64(v64)),
        _ => Literal::f32(v),
    };
    f32::from_bits(l.widened().bits()).is_finite().then_some(l)
}

/// `e` without `( )` and invisible groups.
pub(super) fn strip_group(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip_group(&p.expr),
        syn::Expr::Group(g) => strip_group(&g.expr),
        other => other,
    }
}

pub(super) fn strip_ref(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Reference(r) => strip_ref(&r.expr),
        syn::Expr::Paren(p) => strip_ref(&p.expr),
        other => other,
    }
}

impl<'f> Kx<'_, 'f> {
    /// Lower an expression; statements it needs (helper bodies, `if`s with
    /// statements) are appended to `pre`, which runs before it.
    pub(crate) fn expr(&mut self, e: &'f syn::Expr, pre: &mut Vec<FStmt<'f>>, cx: Cx) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        let r = if self.enter(loc) {
            self.expr_inner(e, pre, cx)
        } else {
            FExpr::error(loc)
        };
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, e: &'f syn::Expr, pre: &mut Vec<FStmt<'f>>, cx: Cx) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        let not_supported = |what: &str| what.to_string();
        let msg = match e {
            syn::Expr::Lit(l) => return self.literal(&l.lit, e, false),
            syn::Expr::Paren(p) => return self.expr(&p.expr, pre, cx),
            syn::Expr::Group(g) => return self.expr(&g.expr, pre, cx),
            syn::Expr::Unary(u) => {
                let op = match u.op {
                    syn::UnOp::Neg(_) => {
                        if let syn::Expr::Lit(l) = &*u.expr {
                            return self.literal(&l.lit, e, true);
                        }
                        UnOp::Neg
                    }
                    syn::UnOp::Not(_) => UnOp::Not,
                    _ => {
                        self.err(
                            e,
                            "dereferencing (`*x`) is not supported; index buffers directly: `buf[i]`",
                        );
                        return FExpr::error(loc);
                    }
                };
                let a = self.expr(&u.expr, pre, cx.nested());
                return FExpr {
                    ty: a.ty,
                    k: FK::Unary(op, Box::new(a)),
                    loc,
                };
            }
            syn::Expr::Binary(b) => {
                let Some(op) = binop(&b.op) else {
                    self.err(
                        e,
                        "compound assignment (`+=`, ...) is a statement; it cannot be used inside an expression",
                    );
                    return FExpr::error(loc);
                };
                let l = self.expr(&b.left, pre, cx.nested());
                let rcx = match op {
                    BinOp::And => cx
                        .no_hoist("on the right of `&&` (it only runs when the left side is true)"),
                    BinOp::Or => cx.no_hoist(
                        "on the right of `||` (it only runs when the left side is false)",
                    ),
                    _ => cx.nested(),
                };
                let r = self.expr(&b.right, pre, rcx);
                return self.binary_node(op, l, r, loc);
            }
            syn::Expr::Cast(c) => {
                let a = self.expr(&c.expr, pre, cx.nested());
                return match self.fx.scalar_ty(&c.ty) {
                    Ok(t) => FExpr {
                        k: FK::Cast(t, Box::new(a)),
                        loc,
                        ty: Ty::K(t),
                    },
                    Err(m) => {
                        self.err(Loc::Span(c.ty.span()), m);
                        FExpr::error(loc)
                    }
                };
            }
            syn::Expr::Path(p) => return self.path_expr(p, e),
            syn::Expr::Call(c) => return self.call_expr(c, e, pre, cx),
            syn::Expr::MethodCall(m) => return self.method_expr(m, e, pre, cx),
            syn::Expr::Field(f) => return self.field_expr(f, e),
            syn::Expr::Index(ix) => {
                let Some((buf, elem)) = self.buffer_ref(&ix.expr) else {
                    return FExpr::error(loc);
                };
                let index = self.index_expr(&ix.index, pre, cx.nested());
                return FExpr {
                    k: FK::Load(buf, Box::new(index)),
                    loc,
                    ty: elem,
                };
            }
            syn::Expr::If(i) => return self.if_expr(i, e, pre, cx),
            syn::Expr::Unsafe(u) => return self.unsafe_value(u, e, pre, cx),
            syn::Expr::Block(b) => {
                if b.label.is_some() {
                    self.err(e, "block labels are not supported");
                }
                self.scopes.push(HashMap::new());
                let v = self.block_value(&b.block, e, pre, cx);
                self.scopes.pop();
                return v;
            }
            syn::Expr::Closure(_) => not_supported(
                "closures are not supported; write a helper `fn` at the top level of the file instead",
            ),
            syn::Expr::Match(_) => {
                not_supported("`match` is not supported; use `if` / `else if` chains")
            }
            syn::Expr::Struct(_) => not_supported(
                "struct literals are not supported; kernels work on scalars, buffers and shared arrays",
            ),
            syn::Expr::Tuple(_) => not_supported(
                "a tuple is not a value in vyre; destructure it where it is made: `let (a, b) = (x, y);` or `let (a, b) = helper(..);`",
            ),
            syn::Expr::Array(_) | syn::Expr::Repeat(_) => not_supported(
                "array literals may only initialise a private array (`let mut a = [0.0f32; 8];`) or be stored with `buf.store4(i, [a, b, c, d])`",
            ),
            syn::Expr::Reference(_) => not_supported(
                "references (`&x`) are only allowed when passing a buffer to a helper: `f(&buf)`",
            ),
            syn::Expr::Try(_) => not_supported("the `?` operator is not supported"),
            syn::Expr::Macro(m) if super::debug::is_debug_macro(&m.mac) => not_supported(
                "`debug_print!` and `debug_assert!` are statements; they have no value",
            ),
            syn::Expr::Macro(_) => not_supported(
                "macros other than `debug_print!` and `debug_assert!` are not supported in kernels (no `println!`, `assert!`, ...)",
            ),
            syn::Expr::Range(_) => not_supported("ranges are only allowed in `for` loops"),
            syn::Expr::Assign(_) => {
                not_supported("assignment is a statement; it cannot be used as a value")
            }
            syn::Expr::Return(_)
            | syn::Expr::Break(_)
            | syn::Expr::Continue(_)
            | syn::Expr::While(_)
            | syn::Expr::Loop(_)
            | syn::Expr::ForLoop(_) => not_supported(
                "this is a statement and has no value here; loops, `break`, `continue` and `return` must stand on their own",
            ),
            syn::Expr::Let(_) => {
                not_supported("`let` in an expression (`if let`, let-chains) is not supported")
            }

            syn::Expr::Async(_) | syn::Expr::Await(_) => {
                not_supported("`async`/`.await` are not supported in kernels")
            }
            _ => not_supported("this kind of expression is not supported in vyre kernels"),
        };
        self.err(e, msg);
        FExpr::error(loc)
    }

    /// An integer, float or bool literal; `neg` folds a leading `-`.
    fn literal(&mut self, lit: &'f syn::Lit, e: &'f syn::Expr, neg: bool) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        match lit {
            syn::Lit::Int(i) => {
                let digits = i.base10_digits();
                let ty = match i.suffix() {
                    "" => None,
                    s => match DataType::from_name(s) {
                        Some(t) if t.is_float() => {
                            return self.float_literal(digits, neg, e, Some(t));
                        }
                        Some(t) if t.is_integer() => Some(t),
                        _ => return self.bad_suffix(i.suffix(), e),
                    },
                };
                let Ok(v) = digits.parse::<u64>() else {
                    self.err(e, "integer literal is too large for any vyre type (the largest is `u64::MAX` = 18446744073709551615)");
                    return FExpr::error(loc);
                };
                let v = if neg { -i128::from(v) } else { i128::from(v) };
                FExpr {
                    k: FK::Int(v),
                    loc,
                    ty: ty.map_or_else(|| self.vars.fresh(), Ty::K),
                }
            }
            syn::Lit::Float(f) => match f.suffix() {
                "" => self.float_literal(f.base10_digits(), neg, e, None),
                s => match DataType::from_name(s) {
                    Some(t) if t.is_float() => {
                        self.float_literal(f.base10_digits(), neg, e, Some(t))
                    }
                    _ => self.bad_suffix(s, e),
                },
            },
            syn::Lit::Bool(b) => {
                if neg {
                    self.err(e, "cannot negate a `bool` with `-`; use `!`");
                    return FExpr::error(loc);
                }
                FExpr::lit(Literal::Bool(b.value), loc)
            }
            _ => {
                self.err(
                    e,
                    "string, character and byte literals are not supported; vyre has `bool` and the numeric types `i32 u32 f32 f16 bf16 u8 i8 u16 i16 u64 i64 f64`",
                );
                FExpr::error(loc)
            }
        }
    }

    /// A literal suffix that names no vyre type (or a float suffix on an
    /// integer type's literal).
    fn bad_suffix(&mut self, suffix: &str, e: &'f syn::Expr) -> FExpr<'f> {
        let msg = match suffix {
            s if DataType::from_name(s).is_some_and(DataType::is_integer) => format!(
                "a number with a fractional part or an exponent cannot be a `{s}`; write an integer literal"
            ),
            s => format!(
                "`{s}` literals are not supported; use no suffix or one of the suffixes `i32 u32 f32 f16 bf16 u8 i8 u16 i16 u64 i64 f64`"
            ),
        };
        self.err(e, msg);
        FExpr::error(Loc::Expr(e))
    }

    /// A float literal: of type `ty`, or (unsuffixed) of the type the
    /// context gives it. The decimal text is read as an `f32` (then rounded
    /// to `f16`/`bf16` when that is the type) and, for `f64`, as an `f64`.
    fn float_literal(
        &mut self,
        digits: &str,
        neg: bool,
        e: &'f syn::Expr,
        ty: Option<DataType>,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        // Out of range: infinite (an unsuffixed literal is reported in
        // pass 2, once its type is known).
        let v = digits.parse::<f32>().unwrap_or(f32::INFINITY);
        let v = if neg { -v } else { v };
        let v64 = digits.parse::<f64>().unwrap_or(f64::INFINITY);
        let v64 = if neg { -v64 } else { v64 };
        let Some(t) = ty else {
            return FExpr {
                k: FK::Float(v.to_bits(), v64.to_bits()),
                loc,
                ty: self.vars.fresh_float(),
            };
        };
        match round_float(v, v64, t) {
            Some(l) => FExpr::lit(l, loc),
            None => {
                self.err(e, float_overflow(t));
                FExpr::error(loc)
            }
        }
    }

    fn path_expr(&mut self, p: &'f syn::ExprPath, e: &'f syn::Expr) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        if p.qself.is_some() {
            self.err(e, "qualified paths are not supported");
            return FExpr::error(loc);
        }
        if let Some(id) = p.path.get_ident() {
            let name = id.unraw().to_string();
            match self.lookup(&name) {
                Some(Bind::Local(l)) => {
                    return FExpr {
                        k: FK::Local(l),
                        loc,
                        ty: self.locals[l as usize].ty,
                    };
                }
                Some(Bind::Param(pid)) => {
                    let ty = match &self.params[pid as usize] {
                        Param::Scalar { ty, .. } => Ty::K(*ty),
                        Param::Buffer(_) => Ty::Err,
                    };
                    return FExpr {
                        k: FK::Param(pid),
                        loc,
                        ty,
                    };
                }
                Some(Bind::Subst(v)) => return *v,
                Some(Bind::Matrix(_)) => {
                    self.err(e, super::matrix::not_a_value(&name));
                    return FExpr::error(loc);
                }
                Some(Bind::Buf(b)) => {
                    let what = match b {
                        crate::ir::BufRef::Private(_) => "a private array",
                        _ => "a buffer",
                    };
                    self.err(
                        e,
                        format!("`{name}` is {what}, not a value; index it (`{name}[i]`) or take its length (`{name}.len()`)"),
                    );
                    return FExpr::error(loc);
                }
                None => {}
            }
            return match self.fx.const_value(&name) {
                Some(Some(l)) => FExpr::lit(l, loc),
                Some(None) => FExpr::error(loc),
                None => {
                    self.unknown_name(&name, e);
                    FExpr::error(loc)
                }
            };
        }
        let mut segs: Vec<String> = p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let n = segs.len();
        // `T::MAX` in a generic kernel's instance.
        if n == 2
            && let Some(t) = self.fx.type_param(&segs[0])
        {
            segs[0] = t.name().to_string();
        }
        if n >= 2
            && p.path.segments.iter().all(|s| s.arguments.is_none())
            && let Some(l) = assoc_const(&segs[n - 2], &segs[n - 1])
            && (segs[n - 2] != "consts" || (n >= 3 && segs[n - 3] == "f32"))
        {
            return FExpr::lit(l, loc);
        }
        self.err(
            e,
            format!(
                "cannot find `{}`; paths are limited to constants like `f32::MAX`, `u32::MAX`, `i32::MIN`, `u8::MAX`, `f32::INFINITY`, `f16::NAN`, `f32::consts::PI`",
                segs.join("::")
            ),
        );
        FExpr::error(loc)
    }

    fn call_expr(
        &mut self,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        if let Some((f, _)) = super::matrix::matrix_fn(&c.func) {
            self.err(e, super::matrix::call_in_expr(f));
            return FExpr::error(loc);
        }
        if let Some(b) = builtin(&c.func) {
            self.err(
                e,
                format!(
                    "`{}()` is a vector of three `u32`; read one component: `{}().x`, `.y` or `.z`",
                    b.name(),
                    b.name()
                ),
            );
            return FExpr::error(loc);
        }
        if let syn::Expr::Path(p) = &*c.func
            && p.qself.is_none()
        {
            let mut segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.unraw().to_string())
                .collect();
            if segs.len() == 1 {
                let name = &segs[0];
                if let Some(op) = subgroup_op(name) {
                    return self.subgroup_call(op, c, e, pre, cx);
                }
                if name == "barrier" || name == "warpgroup_barrier" {
                    self.err(
                        e,
                        format!(
                            "`{name}()` is a statement; it cannot be used inside an expression"
                        ),
                    );
                    return FExpr::error(loc);
                }
                if self.fx.helpers.contains_key(name) {
                    let name = name.clone();
                    return self
                        .call_helper(&name, c, e, pre, cx, false)
                        .unwrap_or_else(|| FExpr::error(loc));
                }
                if self.fx.kernel_names.contains(name) {
                    self.err(
                        e,
                        format!("kernels cannot be called; move the shared code of `{name}` into a helper `fn`"),
                    );
                    return FExpr::error(loc);
                }
                self.fx.err_notes(
                    e,
                    format!("cannot find function `{name}`"),
                    vec![FUNCTIONS.to_string()],
                );
                return FExpr::error(loc);
            }
            if segs.len() == 2
                && let Some(t) = self.fx.type_param(&segs[0])
            {
                segs[0] = t.name().to_string();
            }
            let float_ty = DataType::from_name(&segs[0]).filter(|t| t.is_float());
            if segs.len() == 2
                && segs[1] == "from_bits"
                && let Some(t) = float_ty
            {
                let bits_ty = match t {
                    DataType::F32 => DataType::U32,
                    DataType::F64 => DataType::U64,
                    _ => DataType::U16,
                };
                if c.args.len() != 1 {
                    self.err(
                        e,
                        format!("`{t}::from_bits` takes one `{bits_ty}` argument"),
                    );
                    return FExpr::error(loc);
                }
                return match self.fx.eval_const_expr(&c.args[0], Some(bits_ty)) {
                    Some(l) if l.ty() == bits_ty => {
                        FExpr::lit(Literal::from_bits64(t, l.bits64()), loc)
                    }
                    Some(_) => {
                        self.err(
                            &c.args[0],
                            format!("`{t}::from_bits` takes a `{bits_ty}` constant"),
                        );
                        FExpr::error(loc)
                    }
                    None => FExpr::error(loc),
                };
            }
            if segs.len() == 2
                && let Some(ty) = DataType::from_name(&segs[0]).filter(|t| *t != DataType::Bool)
                && let Some(f) = math_fn(&segs[1])
            {
                if c.args.len() != f.arity() {
                    self.err(
                        e,
                        format!("`{}::{}` takes {} argument(s)", segs[0], segs[1], f.arity()),
                    );
                    return FExpr::error(loc);
                }
                let args: Vec<_> = c
                    .args
                    .iter()
                    .map(|a| {
                        let v = self.expr(a, pre, cx.nested());
                        self.vars.unify(v.ty, Ty::K(ty));
                        v
                    })
                    .collect();
                return FExpr {
                    k: FK::Math(f, args),
                    loc,
                    ty: Ty::K(ty),
                };
            }
            self.fx.err_notes(
                e,
                format!("cannot find function `{}`", segs.join("::")),
                vec![FUNCTIONS.to_string()],
            );
            return FExpr::error(loc);
        }
        self.err(e, "only named functions can be called");
        FExpr::error(loc)
    }

    /// `subgroup_add(v)` and friends: arity here, operand types in pass 2.
    /// A lane operand is `u32`, so an unsuffixed literal lane is `u32`.
    fn subgroup_call(
        &mut self,
        op: SubgroupOp,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        let name = op.name();
        if self.const_mode {
            self.err(
                e,
                format!("`{name}()` depends on the invocation; subgroup functions cannot be used in a `const`"),
            );
            return FExpr::error(loc);
        }
        if c.args.len() != op.arity() {
            let (n, want) = (c.args.len(), op.arity());
            let takes = match want {
                0 => "takes no arguments".to_string(),
                1 => "takes 1 argument".to_string(),
                w => format!("takes {w} arguments"),
            };
            let given = if n == 1 { "was" } else { "were" };
            self.err(
                e,
                format!(
                    "`{name}` {takes} but {n} {given} given: `{}`",
                    subgroup_form(op)
                ),
            );
            return FExpr::error(loc);
        }
        let mut args = Vec::with_capacity(c.args.len());
        for (i, a) in c.args.iter().enumerate() {
            let v = self.expr(a, pre, cx.nested());
            match op {
                _ if op.is_shuffle() && i == 1 => self.vars.unify(v.ty, Ty::K(DataType::U32)),
                SubgroupOp::Ballot | SubgroupOp::All | SubgroupOp::Any => {
                    self.vars.unify(v.ty, Ty::K(DataType::Bool));
                }
                _ => {}
            }
            args.push(v);
        }
        let ty = match op {
            SubgroupOp::InvocationId | SubgroupOp::Size | SubgroupOp::Ballot => {
                Ty::K(DataType::U32)
            }
            SubgroupOp::All | SubgroupOp::Any => Ty::K(DataType::Bool),
            _ => args.first().map_or(Ty::Err, |a| a.ty),
        };
        FExpr {
            k: FK::Subgroup(op, args),
            loc,
            ty,
        }
    }
}
