//! Pass 1 for expressions: names, literals, operators, builtins, methods,
//! atomics, `if` expressions and helper inlining.

use std::collections::HashMap;

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::{Bind, Cx, FExpr, FK, FS, FStmt, HParam, Kx, Loc, MAX_INLINES, MAX_SUBST_NODES, Ty};
use crate::ir::{
    Access, AtomicOp, Axis, BinOp, BufRef, Builtin, DataType, Literal, MathFn, Param, UnOp,
};

const METHODS: &str = "supported methods: `len`, the math methods `sqrt exp ln sin cos tanh abs floor ceil min max powf clamp mul_add`, and on buffers/shared arrays the atomics `atomic_add atomic_sub atomic_min atomic_max atomic_and atomic_or atomic_xor atomic_exchange atomic_compare_exchange`";

const FUNCTIONS: &str = "available: the builtins `global_id()`, `local_id()`, `workgroup_id()`, `num_workgroups()` (read `.x`, `.y` or `.z`), `barrier()`, `f32::from_bits(bits)`, `f32::sqrt(x)`-style math calls, and the helper `fn`s of this file";

pub(crate) fn math_fn(name: &str) -> Option<MathFn> {
    MathFn::ALL.into_iter().find(|f| f.name() == name)
}

fn atomic_op(name: &str) -> Option<AtomicOp> {
    AtomicOp::ALL.into_iter().find(|f| f.name() == name)
}

fn builtin(func: &syn::Expr) -> Option<Builtin> {
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

/// Named constants of the scalar types, `f32::MAX` and friends.
fn assoc_const(ty: &str, name: &str) -> Option<Literal> {
    Some(match (ty, name) {
        ("f32", "MAX") => Literal::f32(f32::MAX),
        ("f32", "MIN") => Literal::f32(f32::MIN),
        ("f32", "MIN_POSITIVE") => Literal::f32(f32::MIN_POSITIVE),
        ("f32", "EPSILON") => Literal::f32(f32::EPSILON),
        ("f32", "INFINITY") => Literal::f32(f32::INFINITY),
        ("f32", "NEG_INFINITY") => Literal::f32(f32::NEG_INFINITY),
        ("f32", "NAN") => Literal::f32(f32::NAN),
        ("u32", "MAX") => Literal::U32(u32::MAX),
        ("u32", "MIN") => Literal::U32(0),
        ("u32", "BITS") | ("i32", "BITS") => Literal::U32(32),
        ("i32", "MAX") => Literal::I32(i32::MAX),
        ("i32", "MIN") => Literal::I32(i32::MIN),
        ("consts", "PI") => Literal::f32(std::f32::consts::PI),
        ("consts", "TAU") => Literal::f32(std::f32::consts::TAU),
        ("consts", "E") => Literal::f32(std::f32::consts::E),
        ("consts", "LN_2") => Literal::f32(std::f32::consts::LN_2),
        ("consts", "LN_10") => Literal::f32(std::f32::consts::LN_10),
        ("consts", "SQRT_2") => Literal::f32(std::f32::consts::SQRT_2),
        ("consts", "FRAC_PI_2") => Literal::f32(std::f32::consts::FRAC_PI_2),
        ("consts", "FRAC_PI_4") => Literal::f32(std::f32::consts::FRAC_PI_4),
        ("consts", "FRAC_1_SQRT_2") => Literal::f32(std::f32::consts::FRAC_1_SQRT_2),
        _ => return None,
    })
}

fn strip_ref(e: &syn::Expr) -> &syn::Expr {
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
                return match super::scalar_type(&c.ty) {
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
                    ty: Ty::K(elem),
                };
            }
            syn::Expr::If(i) => return self.if_expr(i, e, pre, cx),
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
            syn::Expr::Tuple(_) => {
                not_supported("tuples are not supported; use separate `let`s (or separate buffers)")
            }
            syn::Expr::Array(_) | syn::Expr::Repeat(_) => not_supported(
                "array literals are not supported; use a `#[shared]` array or a buffer parameter",
            ),
            syn::Expr::Reference(_) => not_supported(
                "references (`&x`) are only allowed when passing a buffer to a helper: `f(&buf)`",
            ),
            syn::Expr::Try(_) => not_supported("the `?` operator is not supported"),
            syn::Expr::Macro(_) => {
                not_supported("macros are not supported in kernels (no `println!`, `assert!`, ...)")
            }
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
            syn::Expr::Unsafe(_) => not_supported(
                "`unsafe` blocks are not supported; mark the kernel `#[kernel(unchecked)]` to drop bounds checks",
            ),
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
                match i.suffix() {
                    "f32" => return self.float_literal(digits, neg, e),
                    "" | "i32" | "u32" => {}
                    "f64" => {
                        self.err(e, "`f64` is not supported; vyre computes in `f32`");
                        return FExpr::error(loc);
                    }
                    other => {
                        self.err(
                            e,
                            format!("`{other}` literals are not supported; use no suffix or the suffix `i32`, `u32` or `f32`"),
                        );
                        return FExpr::error(loc);
                    }
                }
                let Ok(v) = digits.parse::<u64>() else {
                    self.err(e, "integer literal is too large for any vyre type (the largest is `u32::MAX` = 4294967295)");
                    return FExpr::error(loc);
                };
                let v = if neg { -i128::from(v) } else { i128::from(v) };
                let ty = match i.suffix() {
                    "i32" => Ty::K(DataType::I32),
                    "u32" => Ty::K(DataType::U32),
                    _ => self.vars.fresh(),
                };
                FExpr {
                    k: FK::Int(v),
                    loc,
                    ty,
                }
            }
            syn::Lit::Float(f) => match f.suffix() {
                "" | "f32" => self.float_literal(f.base10_digits(), neg, e),
                "f64" => {
                    self.err(e, "`f64` is not supported; vyre computes in `f32`");
                    FExpr::error(loc)
                }
                other => {
                    self.err(
                        e,
                        format!("`{other}` is not a float suffix vyre knows; use `f32` or none"),
                    );
                    FExpr::error(loc)
                }
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
                    "string, character and byte literals are not supported; vyre has `bool`, `i32`, `u32` and `f32`",
                );
                FExpr::error(loc)
            }
        }
    }

    fn float_literal(&mut self, digits: &str, neg: bool, e: &'f syn::Expr) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        match digits.parse::<f32>() {
            Ok(v) if v.is_finite() => {
                let v = if neg { -v } else { v };
                FExpr::lit(Literal::f32(v), loc)
            }
            _ => {
                self.err(
                    e,
                    "float literal out of range for `f32`; write `f32::INFINITY` or `f32::from_bits(0x7f800000)` for infinity",
                );
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
                Some(Bind::Buf(_)) => {
                    self.err(
                        e,
                        format!("`{name}` is a buffer, not a value; index it (`{name}[i]`) or take its length (`{name}.len()`)"),
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
        let segs: Vec<String> = p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let n = segs.len();
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
                "cannot find `{}`; paths are limited to constants like `f32::MAX`, `u32::MAX`, `i32::MIN`, `f32::INFINITY`, `f32::NAN`, `f32::consts::PI`",
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
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.unraw().to_string())
                .collect();
            if segs.len() == 1 {
                let name = &segs[0];
                if name == "barrier" {
                    self.err(
                        e,
                        "`barrier()` is a statement; it cannot be used inside an expression",
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
            if segs.len() == 2 && segs[0] == "f32" && segs[1] == "from_bits" {
                if c.args.len() != 1 {
                    self.err(e, "`f32::from_bits` takes one `u32` argument");
                    return FExpr::error(loc);
                }
                return match self.fx.eval_const_expr(&c.args[0], Some(DataType::U32)) {
                    Some(Literal::U32(bits)) => FExpr::lit(Literal::F32(bits), loc),
                    Some(_) => {
                        self.err(&c.args[0], "`f32::from_bits` takes a `u32` constant");
                        FExpr::error(loc)
                    }
                    None => FExpr::error(loc),
                };
            }
            if segs.len() == 2
                && matches!(segs[0].as_str(), "f32" | "i32" | "u32")
                && let Some(f) = math_fn(&segs[1])
            {
                let ty = match segs[0].as_str() {
                    "f32" => DataType::F32,
                    "i32" => DataType::I32,
                    _ => DataType::U32,
                };
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

    fn method_expr(
        &mut self,
        m: &'f syn::ExprMethodCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        let name = m.method.to_string();
        if m.turbofish.is_some() {
            self.err(e, "generic arguments (`::<T>`) are not supported");
            return FExpr::error(loc);
        }
        if name == "len" {
            if !m.args.is_empty() {
                self.err(e, "`len()` takes no arguments");
            }
            return match self.buffer_ref(&m.receiver) {
                Some((BufRef::Param(id), _)) => FExpr {
                    k: FK::Len(id),
                    loc,
                    ty: Ty::K(DataType::U32),
                },
                Some((BufRef::Shared(id), _)) => FExpr::lit(
                    Literal::U32(self.shared.get(id as usize).map_or(0, |s| s.len)),
                    loc,
                ),
                None => FExpr::error(loc),
            };
        }
        if let Some(op) = atomic_op(&name) {
            if !cx.atomic_ok {
                self.err(
                    e,
                    format!(
                        "`{name}` may only be a whole statement (`buf.{name}(i, v);`), the whole initializer of a `let` (`let old = buf.{name}(i, v);`) or the whole right-hand side of `=`; it cannot be part of a larger expression"
                    ),
                );
                return FExpr::error(loc);
            }
            let Some((buf, elem)) = self.buffer_ref(&m.receiver) else {
                return FExpr::error(loc);
            };
            let want = if op == AtomicOp::CompareExchange {
                3
            } else {
                2
            };
            if m.args.len() != want {
                let form = if op == AtomicOp::CompareExchange {
                    "buf.atomic_compare_exchange(index, expected, new)"
                } else {
                    "buf.atomic_op(index, value)"
                };
                self.err(e, format!("`{name}` takes {want} arguments: `{form}`"));
                return FExpr::error(loc);
            }
            let index = self.index_expr(&m.args[0], pre, cx.nested());
            let expected = if op == AtomicOp::CompareExchange {
                let x = self.expr(&m.args[1], pre, cx.nested());
                self.vars.unify(x.ty, Ty::K(elem));
                Some(Box::new(x))
            } else {
                None
            };
            let value = self.expr(&m.args[want - 1], pre, cx.nested());
            self.vars.unify(value.ty, Ty::K(elem));
            return FExpr {
                k: FK::Atomic {
                    op,
                    buf,
                    index: Box::new(index),
                    expected,
                    value: Box::new(value),
                },
                loc,
                ty: Ty::K(elem),
            };
        }
        if let Some(f) = math_fn(&name) {
            if m.args.len() + 1 != f.arity() {
                let form = match f {
                    MathFn::Min | MathFn::Max | MathFn::Powf => format!("`a.{name}(b)`"),
                    MathFn::Clamp => "`x.clamp(lo, hi)`".to_string(),
                    MathFn::MulAdd => "`a.mul_add(b, c)`".to_string(),
                    _ => format!("`x.{name}()`"),
                };
                self.err(
                    e,
                    format!("`{name}` takes {} argument(s): {form}", f.arity() - 1),
                );
                return FExpr::error(loc);
            }
            let recv = self.expr(&m.receiver, pre, cx.nested());
            let ty = recv.ty;
            let mut args = vec![recv];
            for a in &m.args {
                let v = self.expr(a, pre, cx.nested());
                self.vars.unify(ty, v.ty);
                args.push(v);
            }
            return FExpr {
                k: FK::Math(f, args),
                loc,
                ty,
            };
        }
        let hint = match name.as_str() {
            "powi" => " (use `powf` with a float exponent)",
            "log" | "log2" | "log10" => " (use `ln()` and divide by a constant)",
            "exp2" => " (use `(x * f32::consts::LN_2).exp()`)",
            "wrapping_add" | "wrapping_sub" | "wrapping_mul" => {
                " (integer arithmetic already wraps: use the operator)"
            }
            _ => "",
        };
        self.fx.err_notes(
            Loc::Span(m.method.span()),
            format!("unknown method `{name}`{hint}"),
            vec![METHODS.to_string()],
        );
        FExpr::error(loc)
    }

    fn field_expr(&mut self, f: &'f syn::ExprField, e: &'f syn::Expr) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        if let syn::Expr::Call(c) = &*f.base
            && let Some(b) = builtin(&c.func)
        {
            if !c.args.is_empty() {
                self.err(&*f.base, format!("`{}()` takes no arguments", b.name()));
                return FExpr::error(loc);
            }
            let axis = match &f.member {
                syn::Member::Named(n) if n == "x" => Axis::X,
                syn::Member::Named(n) if n == "y" => Axis::Y,
                syn::Member::Named(n) if n == "z" => Axis::Z,
                _ => {
                    self.err(
                        Loc::Span(f.member.span()),
                        format!("`{}()` has the components `.x`, `.y` and `.z`", b.name()),
                    );
                    return FExpr::error(loc);
                }
            };
            if self.const_mode {
                self.err(
                    e,
                    "builtins are not constant; they cannot be used in a `const`",
                );
                return FExpr::error(loc);
            }
            return FExpr {
                k: FK::Builtin(b, axis),
                loc,
                ty: Ty::K(DataType::U32),
            };
        }
        if let syn::Expr::Call(c) = &*f.base
            && let syn::Expr::Path(p) = &*c.func
            && let Some(id) = p.path.get_ident()
            && self.helper_name(&c.func).is_none()
        {
            // Report an unknown function as such, not as a field access.
            self.fx.err_notes(
                &*c.func,
                format!("cannot find function `{id}`"),
                vec![FUNCTIONS.to_string()],
            );
            return FExpr::error(loc);
        }
        self.err(
            e,
            "field access is not supported; the only fields are `.x`, `.y`, `.z` of `global_id()`, `local_id()`, `workgroup_id()` and `num_workgroups()`",
        );
        FExpr::error(loc)
    }

    /// The buffer or shared array named by `e`, with its element type.
    pub(crate) fn buffer_ref(&mut self, e: &'f syn::Expr) -> Option<(BufRef, DataType)> {
        match e {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident()?.unraw().to_string();
                match self.lookup(&name) {
                    Some(Bind::Buf(b)) => Some((b, self.elem_of(b))),
                    Some(_) => {
                        self.err(
                            e,
                            format!("`{name}` is not a buffer; only buffer parameters (`&[T]`, `&mut [T]`) and `#[shared]` arrays can be indexed or have `.len()` and atomics"),
                        );
                        None
                    }
                    None => {
                        self.unknown_name(&name, e);
                        None
                    }
                }
            }
            syn::Expr::Paren(p) => self.buffer_ref(&p.expr),
            _ => {
                self.err(
                    e,
                    "only buffer parameters and shared arrays can be indexed, by name: `buf[i]`",
                );
                None
            }
        }
    }

    fn elem_of(&self, b: BufRef) -> DataType {
        match b {
            BufRef::Param(id) => match self.params.get(id as usize) {
                Some(Param::Buffer(d)) => d.elem,
                _ => DataType::U32,
            },
            BufRef::Shared(id) => self
                .shared
                .get(id as usize)
                .map_or(DataType::U32, |s| s.elem),
        }
    }

    pub(crate) fn writable(&self, b: BufRef) -> bool {
        match b {
            BufRef::Param(id) => matches!(
                self.params.get(id as usize),
                Some(Param::Buffer(d)) if d.access == Access::ReadWrite
            ),
            BufRef::Shared(_) => true,
        }
    }

    /// An index: `u32` or `i32`, `u32` when nothing else decides.
    pub(crate) fn index_expr(
        &mut self,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let v = self.expr(e, pre, cx);
        self.vars.prefer_u32(v.ty);
        v
    }

    pub(crate) fn binary_node(
        &mut self,
        op: BinOp,
        l: FExpr<'f>,
        r: FExpr<'f>,
        loc: Loc<'f>,
    ) -> FExpr<'f> {
        let ty = if l.ty == Ty::Err || r.ty == Ty::Err {
            Ty::Err
        } else if op.is_comparison() {
            self.vars.unify(l.ty, r.ty);
            Ty::K(DataType::Bool)
        } else {
            match op {
                BinOp::And | BinOp::Or => {
                    self.vars.unify(l.ty, Ty::K(DataType::Bool));
                    self.vars.unify(r.ty, Ty::K(DataType::Bool));
                    Ty::K(DataType::Bool)
                }
                BinOp::Shl | BinOp::Shr => l.ty,
                _ => {
                    self.vars.unify(l.ty, r.ty);
                    l.ty
                }
            }
        };
        FExpr {
            k: FK::Binary(op, Box::new(l), Box::new(r)),
            loc,
            ty,
        }
    }

    fn zero(&mut self, ty: Ty, loc: Loc<'f>) -> FExpr<'f> {
        match ty {
            Ty::K(DataType::Bool) => FExpr::lit(Literal::Bool(false), loc),
            Ty::K(DataType::F32) => FExpr::lit(Literal::F32(0), loc),
            Ty::Err => FExpr::error(loc),
            t => FExpr {
                k: FK::Int(0),
                loc,
                ty: t,
            },
        }
    }

    fn if_expr(
        &mut self,
        i: &'f syn::ExprIf,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        if let syn::Expr::Let(l) = &*i.cond {
            self.err(
                Loc::Span(l.span()),
                "`if let` is not supported; use `if cond { ... }`",
            );
            return FExpr::error(loc);
        }
        let cond = self.expr(&i.cond, pre, cx.nested());
        self.vars.unify(cond.ty, Ty::K(DataType::Bool));
        let Some((_, els)) = &i.else_branch else {
            self.err(e, "an `if` used as a value needs an `else` branch");
            return FExpr::error(loc);
        };
        let arm_cx = Cx {
            atomic_ok: cx.atomic_ok && cx.hoist.is_none(),
            effect_ok: cx.effect_ok,
            hoist: cx.hoist,
        };
        let mark = self.locals.len();
        let mut p1 = Vec::new();
        self.scopes.push(HashMap::new());
        let mut a = self.block_value(&i.then_branch, e, &mut p1, arm_cx);
        self.scopes.pop();
        let mut p2 = Vec::new();
        let mut b = match &**els {
            syn::Expr::If(_) => self.expr(els, &mut p2, arm_cx),
            syn::Expr::Block(bl) => {
                self.scopes.push(HashMap::new());
                let v = self.block_value(&bl.block, els, &mut p2, arm_cx);
                self.scopes.pop();
                v
            }
            other => {
                self.err(other, "expected a block or `if` after `else`");
                FExpr::error(loc)
            }
        };
        self.vars.unify(a.ty, b.ty);
        let is_atomic = |x: &FExpr<'_>| matches!(x.k, FK::Atomic { .. });
        if p1.is_empty() && p2.is_empty() && !is_atomic(&a) && !is_atomic(&b) {
            let ty = if a.ty == Ty::Err { b.ty } else { a.ty };
            return FExpr {
                k: FK::Select(Box::new(cond), Box::new(a), Box::new(b)),
                loc,
                ty,
            };
        }
        if let Some(why) = cx.hoist {
            self.err(
                e,
                format!("this `if` has statements in its branches, so it cannot be used {why}; compute it into a `let` first"),
            );
            return FExpr::error(loc);
        }
        let ty = if a.ty == Ty::Err { b.ty } else { a.ty };
        let mut tmp = self.new_local("if_value", ty, true, loc);
        // Its `let` comes before the arms' locals in the text, so give it
        // the table slot before theirs too: then printing needs no
        // `#[locals]` list to reproduce the table.
        if (tmp as usize) > mark {
            self.locals[mark..].rotate_right(1);
            let (m, t) = (mark as u32, tmp);
            let f = |id: u32| match id {
                id if id == t => m,
                id if id >= m && id < t => id + 1,
                id => id,
            };
            for s in p1.iter_mut().chain(p2.iter_mut()) {
                remap_stmt(s, &f);
            }
            remap_expr(&mut a, &f);
            remap_expr(&mut b, &f);
            tmp = m;
        }
        let zero = self.zero(ty, loc);
        pre.push(FStmt {
            k: FS::Let(tmp, zero),
            loc,
        });
        let (al, bl) = (a.loc, b.loc);
        p1.push(FStmt {
            k: FS::Assign(tmp, a),
            loc: al,
        });
        p2.push(FStmt {
            k: FS::Assign(tmp, b),
            loc: bl,
        });
        pre.push(FStmt {
            k: FS::If(cond, p1, p2),
            loc,
        });
        FExpr {
            k: FK::Local(tmp),
            loc,
            ty,
        }
    }

    /// The value of a block: its statements go to `pre`, its tail is the
    /// value.
    fn block_value(
        &mut self,
        b: &'f syn::Block,
        whole: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let top = std::mem::replace(&mut self.top_block, false);
        let (tail, stmts) = match b.stmts.split_last() {
            Some((syn::Stmt::Expr(t, None), rest)) => (Some(t), rest),
            _ => (None, &b.stmts[..]),
        };
        let mut out = FExpr::error(Loc::Expr(whole));
        let mut ok = true;
        if !stmts.is_empty() {
            if let Some(why) = cx.hoist {
                self.err(
                    whole,
                    format!("a block with statements cannot be used {why}; compute the value into a `let` first"),
                );
                ok = false;
            } else {
                self.stmts(stmts, pre, false);
            }
        }
        if ok {
            match tail {
                Some(t) => out = self.expr(t, pre, cx),
                None => self.err(
                    whole,
                    "this block has no value: end it with an expression without `;`",
                ),
            }
        }
        self.top_block = top;
        out
    }

    /// Inline a call to helper `name`. Returns `None` for helpers without a
    /// return value (callable only as statements).
    pub(crate) fn call_helper(
        &mut self,
        name: &str,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
        stmt: bool,
    ) -> Option<FExpr<'f>> {
        let loc = Loc::Expr(e);
        if self.const_mode {
            self.err(e, "helper functions cannot be called in a `const`");
            return Some(FExpr::error(loc));
        }
        if self.inlining.iter().any(|n| n == name) {
            // Recursion; reported once for the whole file.
            return Some(FExpr::error(loc));
        }
        self.inlines += 1;
        if self.inlines > MAX_INLINES {
            if self.inlines == MAX_INLINES + 1 {
                self.err(
                    e,
                    format!("more than {MAX_INLINES} helper calls are inlined into this kernel; call helpers in loops instead of repeating them"),
                );
            }
            return Some(FExpr::error(loc));
        }
        let h = &self.fx.helpers[name];
        let (f, params, ret, effectful, has_stmts) =
            (h.f, h.params.clone(), h.ret, h.effectful, h.has_stmts);
        if effectful && !cx.effect_ok {
            self.err(
                e,
                format!("helper `{name}` writes memory or calls `barrier()`, so it may only be called as a whole statement or as the whole value of a `let`, an assignment or a store"),
            );
            return Some(FExpr::error(loc));
        }
        if has_stmts && let Some(why) = cx.hoist {
            self.err(
                e,
                format!("helper `{name}` has statements, so it cannot be called {why}; call it in a `let` before and use the result"),
            );
            return Some(FExpr::error(loc));
        }
        if c.args.len() != params.len() {
            self.err(
                e,
                format!(
                    "helper `{name}` takes {} argument(s) but {} were given",
                    params.len(),
                    c.args.len()
                ),
            );
            return Some(FExpr::error(loc));
        }
        let mut binds = Vec::new();
        for (p, a) in params.iter().zip(&c.args) {
            match p {
                HParam::Buf {
                    name: pn,
                    elem,
                    access,
                } => {
                    let Some((buf, belem)) = self.buffer_ref(strip_ref(a)) else {
                        continue;
                    };
                    if belem != *elem {
                        self.err(
                            a,
                            format!("helper `{name}` expects `{pn}` with `{elem}` elements, but this buffer holds `{belem}`"),
                        );
                    }
                    if *access == Access::ReadWrite && !self.writable(buf) {
                        self.err(
                            a,
                            format!("helper `{name}` writes to `{pn}`; pass a `&mut [T]` buffer or a shared array, not a read-only buffer"),
                        );
                    }
                    binds.push((pn.clone(), Bind::Buf(buf)));
                }
                HParam::Scalar {
                    name: pn,
                    ty,
                    mutable,
                } => {
                    let v = self.expr(a, pre, cx.nested());
                    self.vars.unify(v.ty, Ty::K(*ty));
                    let uses = self.fx.helpers[name].uses.get(pn).copied().unwrap_or(0);
                    let multi = !v.is_simple() && uses > 1;
                    if *mutable || has_stmts || (multi && cx.hoist.is_none()) {
                        let id = self.new_local(
                            &format!("{name}_{pn}"),
                            Ty::K(*ty),
                            *mutable,
                            Loc::Expr(a),
                        );
                        pre.push(FStmt {
                            k: FS::Let(id, v),
                            loc: Loc::Expr(a),
                        });
                        binds.push((pn.clone(), Bind::Local(id)));
                    } else {
                        if multi {
                            self.subst_nodes += v.size() * uses;
                            if self.subst_nodes > MAX_SUBST_NODES {
                                self.err(
                                    a,
                                    format!("inlining helper `{name}` here makes the expression too large; bind this argument with `let` first"),
                                );
                                return Some(FExpr::error(loc));
                            }
                        }
                        binds.push((pn.clone(), Bind::Subst(Box::new(v))));
                    }
                }
            }
        }
        // Enter the helper: it sees only its parameters and constants.
        let saved = (self.base, self.loop_depth, self.top_block);
        self.scopes.push(HashMap::new());
        self.base = self.scopes.len() - 1;
        self.loop_depth = 0;
        self.top_block = false;
        for (n, b) in binds {
            self.bind(&n, b);
        }
        self.inlining.push(name.to_string());
        let stmts = &f.block.stmts;
        let (body, tail): (&'f [syn::Stmt], Option<&'f syn::Expr>) = match stmts.split_last() {
            Some((syn::Stmt::Expr(t, None), rest)) => (rest, Some(t)),
            Some((syn::Stmt::Expr(syn::Expr::Return(r), _), rest)) => (rest, r.expr.as_deref()),
            _ => (&stmts[..], None),
        };
        self.stmts(body, pre, false);
        let result = match (ret, tail) {
            (Some(rt), Some(t)) => {
                let tcx = Cx {
                    atomic_ok: cx.hoist.is_none(),
                    effect_ok: cx.effect_ok,
                    hoist: cx.hoist,
                };
                let v = self.expr(t, pre, tcx);
                self.vars.unify(v.ty, Ty::K(rt));
                if matches!(v.k, FK::Atomic { .. }) {
                    let id = self.new_local(&format!("{name}_result"), Ty::K(rt), false, loc);
                    let vl = v.loc;
                    pre.push(FStmt {
                        k: FS::Let(id, v),
                        loc: vl,
                    });
                    Some(FExpr {
                        k: FK::Local(id),
                        loc,
                        ty: Ty::K(rt),
                    })
                } else {
                    Some(v)
                }
            }
            (Some(rt), None) => {
                self.err(
                    Loc::Span(f.sig.ident.span()),
                    format!("helper `{name}` must end with a value of type `{rt}` (a last line without `;`, or `return value;`)"),
                );
                Some(FExpr::error(loc))
            }
            (None, Some(t)) => {
                let l = Loc::Expr(t);
                if self.enter(l) {
                    self.expr_stmt(t, l, pre);
                }
                self.depth -= 1;
                None
            }
            (None, None) => None,
        };
        self.inlining.pop();
        self.scopes.pop();
        (self.base, self.loop_depth, self.top_block) = saved;
        if !stmt && result.is_none() {
            self.err(
                e,
                format!("helper `{name}` returns nothing, so it cannot be used as a value"),
            );
            return Some(FExpr::error(loc));
        }
        result
    }
}

/// Renumber locals in a statement (see the `if`-expression lowering).
fn remap_stmt(s: &mut FStmt<'_>, f: &impl Fn(u32) -> u32) {
    match &mut s.k {
        FS::Let(id, e) | FS::Assign(id, e) => {
            *id = f(*id);
            remap_expr(e, f);
        }
        FS::Store(_, i, v) => {
            remap_expr(i, f);
            remap_expr(v, f);
        }
        FS::Eval(e) => remap_expr(e, f),
        FS::If(c, t, o) => {
            remap_expr(c, f);
            t.iter_mut()
                .chain(o.iter_mut())
                .for_each(|s| remap_stmt(s, f));
        }
        FS::While(c, b) => {
            remap_expr(c, f);
            b.iter_mut().for_each(|s| remap_stmt(s, f));
        }
        FS::For(var, st, en, b) => {
            *var = f(*var);
            remap_expr(st, f);
            remap_expr(en, f);
            b.iter_mut().for_each(|s| remap_stmt(s, f));
        }
        FS::Loop(b) => b.iter_mut().for_each(|s| remap_stmt(s, f)),
        FS::Break | FS::Continue | FS::Return | FS::Barrier => {}
    }
}

fn remap_expr(e: &mut FExpr<'_>, f: &impl Fn(u32) -> u32) {
    match &mut e.k {
        FK::Local(id) => *id = f(*id),
        FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => remap_expr(a, f),
        FK::Binary(_, a, b) => {
            remap_expr(a, f);
            remap_expr(b, f);
        }
        FK::Math(_, args) => args.iter_mut().for_each(|a| remap_expr(a, f)),
        FK::Select(c, a, b) => {
            remap_expr(c, f);
            remap_expr(a, f);
            remap_expr(b, f);
        }
        FK::Atomic {
            index,
            expected,
            value,
            ..
        } => {
            remap_expr(index, f);
            if let Some(x) = expected {
                remap_expr(x, f);
            }
            remap_expr(value, f);
        }
        FK::Int(_) | FK::Lit(_) | FK::Param(_) | FK::Builtin(..) | FK::Len(_) | FK::Error => {}
    }
}
