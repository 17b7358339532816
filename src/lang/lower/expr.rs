//! Pass 1 for expressions: names, literals, operators, builtins and calls.
//! Methods and fields are in `method`, `if` expressions, block values and
//! helper inlining in `inline`.

use std::collections::HashMap;

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FExpr, FK, FStmt, Loc};
use crate::ir::{AtomicOp, BinOp, Builtin, DataType, Literal, MathFn, Param, SubgroupOp, UnOp};

pub(super) const METHODS: &str = "supported methods: `len`, the math methods `sqrt exp ln sin cos tanh abs floor ceil min max powf clamp mul_add`, on buffers, shared and private arrays `load2 load4 store2 store4`, and on buffers/shared arrays the atomics `atomic_add atomic_sub atomic_min atomic_max atomic_and atomic_or atomic_xor atomic_exchange atomic_compare_exchange`";

pub(super) const FUNCTIONS: &str = "available: the builtins `global_id()`, `local_id()`, `workgroup_id()`, `num_workgroups()` (read `.x`, `.y` or `.z`), `barrier()`, the subgroup functions `subgroup_invocation_id() subgroup_size() subgroup_add subgroup_min subgroup_max subgroup_shuffle subgroup_shuffle_xor subgroup_shuffle_down subgroup_broadcast_first subgroup_ballot subgroup_all subgroup_any`, `f32::from_bits(bits)`, `f32::sqrt(x)`-style math calls, and the helper `fn`s of this file";

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
        || subgroup_op(name).is_some()
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
                return match super::file::scalar_type(&c.ty) {
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
                if let Some(op) = subgroup_op(name) {
                    return self.subgroup_call(op, c, e, pre, cx);
                }
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
