//! Pass 1 for thread-private arrays (`let mut acc = [0.0f32; 64];`), the
//! explicit vector accesses `load2`/`load4`/`load8`/`store2`/`store4`/
//! `store8` (the 8-wide ones on 16- and 8-bit elements), statement
//! attributes (`#[unroll]`) and `step_by` steps.
//!
//! A private array's `let` declares a [`crate::ir::PrivateDecl`] (all zeros
//! when an invocation starts) and turns its initial value into explicit
//! stores at the `let`'s position: `[v; N]` a loop over `0..N`, a list one
//! store per element, `x.load4(i)` one element load per lane.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::expr::strip_group;
use super::infer::Ty;
use super::stmt::{Kx, attr_name, vector_width};
use super::tree::{Bind, Cx, FExpr, FFor, FK, FPrivate, FS, FStmt, Loc};
use crate::ir::{BinOp, BufRef, DataType, Literal};

/// The context of a value stored into an array: effectful helpers may be
/// called (their statements run first), atomics may not stand there.
const STORED: Cx = Cx {
    atomic_ok: false,
    effect_ok: true,
    hoist: None,
};

/// How a private array's `let` initialises it.
enum Init<'f> {
    /// `let mut a: [T; N];`: nothing to store, it starts all zeros.
    Zeros,
    /// `[v; N]`.
    Repeat(FExpr<'f>),
    /// `[a, b, c]`.
    List(Vec<FExpr<'f>>),
}

impl<'f> Kx<'_, 'f> {
    /// Check the attributes of an expression statement; the span of
    /// `#[unroll]` when it stands on a `for` loop.
    pub(super) fn stmt_attrs(&mut self, e: &'f syn::Expr) -> Option<Span> {
        let mut unroll = None;
        // `#[a] x[i] = v;` attaches the attribute to the leftmost operand,
        // so look down the left spine too.
        let mut spine = vec![e];
        while let Some(next) = left_operand(spine[spine.len() - 1]) {
            spine.push(next);
        }
        for a in spine.into_iter().flat_map(expr_attrs) {
            let name = attr_name(a);
            if name != "unroll" {
                self.err(
                    a.span(),
                    format!(
                        "unknown attribute `#[{name}]` on a statement; the only statement attribute is `#[unroll]` on a `for` loop (and `#[shared]` on a `let`)"
                    ),
                );
            } else if !matches!(a.meta, syn::Meta::Path(_)) {
                self.err(
                    a.span(),
                    "`#[unroll]` takes no arguments: it repeats the body once per value of the range",
                );
            } else if !matches!(e, syn::Expr::ForLoop(_)) {
                self.err(
                    a.span(),
                    "`#[unroll]` applies to `for` loops over a range with constant bounds only",
                );
            } else {
                unroll = Some(a.span());
            }
        }
        unroll
    }

    /// The argument of `step_by`: lowered like any expression, checked to
    /// be a constant of at least 1 in pass 2.
    pub(super) fn step_expr(&mut self, s: &'f syn::Expr) -> FExpr<'f> {
        let mut pre = Vec::new();
        let v = self.expr(s, &mut pre, Cx::TOP.no_hoist("as a `step_by` step"));
        self.vars.prefer_u32(v.ty);
        if pre.is_empty() {
            v
        } else {
            self.err(
                s,
                "the step of `step_by` must be a constant (a literal or a `const`)",
            );
            FExpr::error(Loc::Expr(s))
        }
    }

    /// Report a store into a private array declared without `mut`.
    pub(super) fn private_writable(&mut self, buf: BufRef, at: &'f syn::Expr) {
        if let BufRef::Private(id) = buf
            && self.private.get(id as usize).is_some_and(|p| !p.mutable)
        {
            let n = self.private_name(id);
            self.err(
                at,
                format!("cannot assign to an element of `{n}`, which is not mutable; declare it `let mut {n}`"),
            );
        }
    }

    /// The length of an array type or repeat expression: a constant.
    fn const_len(&mut self, e: &'f syn::Expr) -> Option<u32> {
        if let Some(n) = self.runtime_name(e) {
            self.err(
                e,
                format!("the length of a private array must be a constant (a literal or a `const`), but `{n}` is a run-time value"),
            );
            return None;
        }
        // A bare integer length is a `u32`, as Rust reads it as a `usize`
        // (else a length past `i32::MAX` would be an `i32` out of range).
        let bare = matches!(e, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) if i.suffix().is_empty());
        match self.fx.eval_const_expr(e, bare.then_some(DataType::U32)) {
            Some(Literal::U32(v)) => Some(v),
            Some(Literal::I32(v)) if v >= 0 => Some(v.cast_unsigned()),
            Some(_) => {
                self.err(
                    e,
                    "the length of a private array must be a non-negative integer constant",
                );
                None
            }
            None => None,
        }
    }

    /// The first name in `e` that stands for a run-time value here (a local
    /// or a parameter), if any.
    pub(super) fn runtime_name(&mut self, e: &syn::Expr) -> Option<String> {
        struct V(Vec<String>);
        impl<'ast> syn::visit::Visit<'ast> for V {
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if let Some(id) = p.path.get_ident() {
                    self.0.push(id.unraw().to_string());
                }
            }
        }
        let mut v = V(Vec::new());
        syn::visit::Visit::visit_expr(&mut v, e);
        v.0.into_iter().find(|n| self.lookup(n).is_some())
    }

    /// The element type and length of an array annotation `[T; N]`.
    fn array_type(&mut self, name: &str, ty: &'f syn::Type) -> Option<(DataType, u32)> {
        let syn::Type::Array(arr) = ty else {
            self.err(
                ty.span(),
                format!("`{name}` is an array; write its type as `[T; N]` (or leave the type out)"),
            );
            return None;
        };
        let elem = match self.fx.scalar_ty(&arr.elem) {
            Ok(DataType::Bool) => {
                self.err(
                    arr.elem.span(),
                    "private arrays of `bool` are not supported; use `u32` (0 or 1)",
                );
                return None;
            }
            Ok(t) => t,
            Err(m) => {
                self.err(arr.elem.span(), m);
                return None;
            }
        };
        Some((elem, self.const_len(&arr.len)?))
    }

    /// `let [mut] name[: [T; N]] = [v; N] | [a, b, ..];` or
    /// `let mut name: [T; N];`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn private_decl(
        &mut self,
        l: &'f syn::Local,
        name: &str,
        mutable: bool,
        ann: Option<&'f syn::Type>,
        init: Option<&'f syn::Expr>,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let declared = match ann {
            Some(t) => match self.array_type(name, t) {
                Some(d) => Some(d),
                None => return,
            },
            None => None,
        };
        let (init, len) = match init {
            None => match declared {
                Some((_, n)) => (Init::Zeros, n),
                None => return,
            },
            Some(syn::Expr::Repeat(r)) => {
                let v = self.expr(&r.expr, out, STORED);
                let Some(n) = self.const_len(&r.len) else {
                    return;
                };
                if let Some((_, d)) = declared
                    && d != n
                {
                    self.err(
                        &*r.len,
                        format!("mismatched lengths: `{name}` is declared with {d} elements but this initializer has {n}"),
                    );
                    return;
                }
                (Init::Repeat(v), n)
            }
            Some(e @ syn::Expr::Array(a)) => {
                let n = a.elems.len() as u32;
                if let Some((_, d)) = declared
                    && d != n
                {
                    self.err(
                        e,
                        format!("mismatched lengths: `{name}` is declared with {d} elements but this list has {n}"),
                    );
                    return;
                }
                let vs = a.elems.iter().map(|x| self.expr(x, out, STORED)).collect();
                (Init::List(vs), n)
            }
            Some(other) => {
                self.err(
                    other,
                    format!("a private array starts as `[v; N]`, a list `[a, b, ..]` or `buf.load4(i)`, or is declared without a value (`let mut {name}: [T; N];`, all zeros)"),
                );
                return;
            }
        };
        if len == 0 {
            self.err(l.span(), "a private array needs at least one element");
            return;
        }
        let elem = match (&declared, &init) {
            (Some((t, _)), _) => Ty::K(*t),
            (None, Init::Repeat(v)) => v.ty,
            (None, Init::List(vs)) => vs.first().map_or(Ty::Err, |v| v.ty),
            (None, Init::Zeros) => Ty::Err,
        };
        if elem == Ty::K(DataType::Bool) {
            self.err(
                l.span(),
                "private arrays of `bool` are not supported; use `u32` (0 or 1)",
            );
            return;
        }
        let buf = self.declare_private(name, elem, len, mutable, l.span());
        match init {
            Init::Zeros => {}
            Init::Repeat(v) => {
                self.vars.unify(elem, v.ty);
                // Evaluate the value once, before the loop.
                let v = if matches!(v.k, FK::Int(_) | FK::Float(..) | FK::Lit(_) | FK::Error) {
                    v
                } else {
                    self.bind_value(&format!("{name}_init"), v, out)
                };
                let var = self.new_local(&format!("{name}_i"), Ty::K(DataType::U32), false, loc);
                let at = FExpr {
                    k: FK::Local(var),
                    loc,
                    ty: Ty::K(DataType::U32),
                };
                out.push(FStmt {
                    k: FS::For(Box::new(FFor {
                        var,
                        start: FExpr::lit(Literal::U32(0), loc),
                        end: FExpr::lit(Literal::U32(len), loc),
                        step: None,
                        // Unrolled (when allowed), so that the fill's
                        // indices become constants and an array whose
                        // other accesses are constant too becomes registers.
                        unroll: (u64::from(len) <= crate::ir::validate::MAX_UNROLL)
                            .then(|| l.span()),
                        body: vec![FStmt {
                            k: FS::Store(buf, at, v),
                            loc,
                        }],
                    })),
                    loc,
                });
            }
            Init::List(vs) => {
                for (k, v) in vs.into_iter().enumerate() {
                    self.vars.unify(elem, v.ty);
                    let vl = v.loc;
                    out.push(FStmt {
                        k: FS::Store(buf, FExpr::lit(Literal::U32(k as u32), vl), v),
                        loc: vl,
                    });
                }
            }
        }
        self.bind(name, Bind::Buf(buf));
    }

    /// Add private array `name` (bound by the caller once its initial
    /// value is lowered).
    fn declare_private(
        &mut self,
        name: &str,
        elem: Ty,
        len: u32,
        mutable: bool,
        span: Span,
    ) -> BufRef {
        let pname = self.array_name(name);
        self.private.push(FPrivate {
            name: pname,
            elem,
            len,
            mutable,
            span,
        });
        BufRef::Private((self.private.len() - 1) as u32)
    }

    /// `v` as a fresh immutable local defined before the current statement.
    fn bind_value(&mut self, base: &str, v: FExpr<'f>, out: &mut Vec<FStmt<'f>>) -> FExpr<'f> {
        let (vl, vt) = (v.loc, v.ty);
        let id = self.new_local(base, vt, false, vl);
        out.push(FStmt {
            k: FS::Let(id, v),
            loc: vl,
        });
        FExpr {
            k: FK::Local(id),
            loc: vl,
            ty: vt,
        }
    }

    /// The base index of a vector access: a local or literal as it is, else
    /// bound to a fresh local, so that the lanes index `base + k` (the form
    /// the alignment analysis groups into one vector access).
    fn vector_base(&mut self, index: FExpr<'f>, out: &mut Vec<FStmt<'f>>) -> FExpr<'f> {
        if matches!(
            index.k,
            FK::Local(_) | FK::Int(_) | FK::Float(..) | FK::Lit(_) | FK::Error
        ) {
            index
        } else {
            self.bind_value("base", index, out)
        }
    }

    /// `base + k` (`base` itself for lane 0).
    fn lane(&mut self, base: &FExpr<'f>, k: u32) -> FExpr<'f> {
        if k == 0 {
            return base.clone();
        }
        let off = FExpr {
            k: FK::Int(i128::from(k)),
            loc: base.loc,
            ty: base.ty,
        };
        self.binary_node(BinOp::Add, base.clone(), off, base.loc)
    }

    /// Record a `load8`/`store8` on `buf` for pass 2's element-width
    /// check (eight 32-bit elements are two `load4`s; the 8-wide form is
    /// for 16- and 8-bit elements, 16 bytes or fewer).
    fn check_vector_width(&mut self, n: u32, elem: Ty, at: Loc<'f>, method: &str, buf: BufRef) {
        if n == 8 {
            let name = match buf {
                BufRef::Param(id) => self
                    .params
                    .get(id as usize)
                    .map_or_else(String::new, |p| p.name().to_string()),
                BufRef::Shared(id) => self
                    .shared
                    .get(id as usize)
                    .map_or_else(String::new, |s| s.name.clone()),
                BufRef::Private(id) => self.private_name(id),
            };
            self.wide_vectors.push((elem, at, method.to_string(), name));
        }
    }

    /// `let [mut] v[: [T; N]] = x.loadN(i);`: a private array `v` of `N`
    /// elements and the stores `v[k] = x[i + k]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn vector_load(
        &mut self,
        l: &'f syn::Local,
        name: &str,
        mutable: bool,
        ann: Option<&'f syn::Type>,
        m: &'f syn::ExprMethodCall,
        n: u32,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let method = m.method.to_string();
        if m.args.len() != 1 || m.turbofish.is_some() {
            self.err(
                Loc::Span(m.span()),
                format!("`{method}` takes one index: `let v = buf.{method}(i);`"),
            );
            return;
        }
        let Some((src, elem)) = self.buffer_ref(&m.receiver) else {
            return;
        };
        self.check_vector_width(n, elem, Loc::Span(m.span()), &method, src);
        if let Some(t) = ann {
            let Some((t, len)) = self.array_type(name, t) else {
                return;
            };
            if len != n {
                self.err(
                    ann.map_or(loc, |t| Loc::Span(t.span())),
                    format!("`{method}` reads {n} elements, but `{name}` is declared with {len}"),
                );
                return;
            }
            if let Ty::K(e) = elem
                && e != t
            {
                self.err(
                    ann.map_or(loc, |t| Loc::Span(t.span())),
                    format!("mismatched types: `{method}` reads `{e}` elements, but `{name}` is declared `[{t}; {n}]`"),
                );
                return;
            }
        }
        let index = self.index_expr(&m.args[0], out, Cx::TOP.nested());
        let base = self.vector_base(index, out);
        let buf = self.declare_private(name, elem, n, mutable, l.span());
        let at = Loc::Span(m.span());
        for k in 0..n {
            let i = self.lane(&base, k);
            let value = FExpr {
                k: FK::Load(src, Box::new(i)),
                loc: at,
                ty: elem,
            };
            out.push(FStmt {
                k: FS::Store(buf, FExpr::lit(Literal::U32(k), at), value),
                loc,
            });
        }
        self.bind(name, Bind::Buf(buf));
    }

    /// `y.storeN(i, v);` with `v` a private array of `N` elements or a list
    /// of `N` values: the stores `y[i + k] = v[k]`.
    pub(super) fn vector_store(
        &mut self,
        m: &'f syn::ExprMethodCall,
        e: &'f syn::Expr,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let method = m.method.to_string();
        let n = vector_width(&m.method, "store").unwrap_or(4);
        if m.args.len() != 2 || m.turbofish.is_some() {
            self.err(
                e,
                format!("`{method}` takes an index and {n} values: `buf.{method}(i, v)` with `v: [T; {n}]` or a list of {n} values"),
            );
            return;
        }
        let Some((dst, elem)) = self.buffer_ref(&m.receiver) else {
            return;
        };
        self.check_vector_width(n, elem, loc, &method, dst);
        self.private_writable(dst, &m.receiver);
        let index = self.index_expr(&m.args[0], out, Cx::TOP.nested());
        let arg = &m.args[1];
        let values: Vec<FExpr<'f>> = match strip_group(arg) {
            syn::Expr::Array(a) => {
                if a.elems.len() != n as usize {
                    self.err(
                        arg,
                        format!(
                            "`{method}` stores {n} values, but this list has {}",
                            a.elems.len()
                        ),
                    );
                    return;
                }
                a.elems.iter().map(|x| self.expr(x, out, STORED)).collect()
            }
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let vname = p.path.get_ident().map(|i| i.unraw().to_string());
                let vname = vname.unwrap_or_default();
                match self.lookup(&vname) {
                    Some(Bind::Buf(b @ BufRef::Private(id))) => {
                        let len = self.private.get(id as usize).map_or(0, |s| s.len);
                        if len != n {
                            self.err(
                                arg,
                                format!("`{method}` stores {n} values, but the private array `{vname}` has {len} elements"),
                            );
                            return;
                        }
                        let vt = self.elem_of(b);
                        (0..n)
                            .map(|k| FExpr {
                                k: FK::Load(
                                    b,
                                    Box::new(FExpr::lit(Literal::U32(k), Loc::Expr(arg))),
                                ),
                                loc: Loc::Expr(arg),
                                ty: vt,
                            })
                            .collect()
                    }
                    None => {
                        self.unknown_name(&vname, arg);
                        return;
                    }
                    Some(_) => {
                        self.err(
                            arg,
                            format!("`{method}` stores a private array of {n} elements (`let v: [T; {n}] = ...`) or a list of {n} values, but `{vname}` is not a private array"),
                        );
                        return;
                    }
                }
            }
            _ => {
                self.err(
                    arg,
                    format!("`{method}` stores a private array of {n} elements or a list of {n} values `[a, b, ..]`"),
                );
                return;
            }
        };
        let base = self.vector_base(index, out);
        for (k, v) in values.into_iter().enumerate() {
            self.vars.unify(elem, v.ty);
            let i = self.lane(&base, k as u32);
            out.push(FStmt {
                k: FS::Store(dst, i, v),
                loc,
            });
        }
    }
}

/// The left operand of an expression whose text starts with it.
fn left_operand(e: &syn::Expr) -> Option<&syn::Expr> {
    use syn::Expr as E;
    Some(match e {
        E::Assign(x) => &x.left,
        E::Binary(x) => &x.left,
        E::Index(x) => &x.expr,
        E::MethodCall(x) => &x.receiver,
        E::Field(x) => &x.base,
        E::Cast(x) => &x.expr,
        E::Call(x) => &x.func,
        E::Try(x) => &x.expr,
        E::Await(x) => &x.base,
        E::Range(x) => x.start.as_deref()?,
        _ => return None,
    })
}

/// The outer attributes of an expression statement.
fn expr_attrs(e: &syn::Expr) -> &[syn::Attribute] {
    use syn::Expr as E;
    match e {
        E::Array(x) => &x.attrs,
        E::Assign(x) => &x.attrs,
        E::Async(x) => &x.attrs,
        E::Await(x) => &x.attrs,
        E::Binary(x) => &x.attrs,
        E::Block(x) => &x.attrs,
        E::Break(x) => &x.attrs,
        E::Call(x) => &x.attrs,
        E::Cast(x) => &x.attrs,
        E::Closure(x) => &x.attrs,
        E::Const(x) => &x.attrs,
        E::Continue(x) => &x.attrs,
        E::Field(x) => &x.attrs,
        E::ForLoop(x) => &x.attrs,
        E::Group(x) => &x.attrs,
        E::If(x) => &x.attrs,
        E::Index(x) => &x.attrs,
        E::Infer(x) => &x.attrs,
        E::Let(x) => &x.attrs,
        E::Lit(x) => &x.attrs,
        E::Loop(x) => &x.attrs,
        E::Macro(x) => &x.attrs,
        E::Match(x) => &x.attrs,
        E::MethodCall(x) => &x.attrs,
        E::Paren(x) => &x.attrs,
        E::Path(x) => &x.attrs,
        E::Range(x) => &x.attrs,
        E::RawAddr(x) => &x.attrs,
        E::Reference(x) => &x.attrs,
        E::Repeat(x) => &x.attrs,
        E::Return(x) => &x.attrs,
        E::Struct(x) => &x.attrs,
        E::Try(x) => &x.attrs,
        E::TryBlock(x) => &x.attrs,
        E::Tuple(x) => &x.attrs,
        E::Unary(x) => &x.attrs,
        E::Unsafe(x) => &x.attrs,
        E::While(x) => &x.attrs,
        E::Yield(x) => &x.attrs,
        _ => &[],
    }
}
