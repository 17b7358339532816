//! The lowering context of one kernel (or one constant expression) and
//! pass 1 for statements.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::file::{FileCx, compound_op};
use super::infer::{Ty, Vars};
use super::tree::{Bind, Cx, FExpr, FFor, FK, FLocal, FMatrix, FPrivate, FS, FStmt, Loc};
use super::{MAX_NESTING, MAX_TUPLE};
use crate::ir::{BinOp, BufRef, DataType, Literal, LocalId, Param, SharedDecl};

/// Lowering state of one kernel (or one constant expression).
pub(crate) struct Kx<'a, 'f> {
    pub fx: &'a mut FileCx<'f>,
    pub const_mode: bool,
    pub params: Vec<Param>,
    pub param_loc: Vec<Span>,
    pub ws_span: Span,
    pub shared: Vec<SharedDecl>,
    pub shared_loc: Vec<Span>,
    /// Thread-private arrays, in declaration order.
    pub private: Vec<FPrivate>,
    /// Matrix variables, in declaration order.
    pub matrices: Vec<FMatrix>,
    pub locals: Vec<FLocal<'f>>,
    pub used: HashSet<String>,
    /// Next suffix to try per base name (see [`Kx::fresh_name`]).
    pub next_suffix: HashMap<String, u32>,
    pub scopes: Vec<HashMap<String, Bind<'f>>>,
    /// First scope visible from the current helper (helpers do not see the
    /// caller's names).
    pub base: usize,
    pub flat: Option<HashMap<String, LocalId>>,
    pub vars: Vars,
    pub loop_depth: u32,
    pub depth: u32,
    /// Helpers being inlined, innermost last.
    pub inlining: Vec<String>,
    pub inlines: u32,
    pub subst_nodes: usize,
    /// Whether statements are the kernel's top-level block (`#[shared]`).
    pub top_block: bool,
    /// The nesting-depth error was reported (report it once).
    pub deep_reported: bool,
    /// `load8`/`store8` accesses, whose element type (possibly still a
    /// variable) pass 2 checks to be 16 or 8 bits wide: the element type,
    /// the call, the method and the array's name.
    pub wide_vectors: Vec<(Ty, Loc<'f>, String, String)>,
    /// The debug call sites pass 2 emitted, by site number.
    pub debug_sites: Vec<crate::ir::DebugSite>,
}

impl<'a, 'f> Kx<'a, 'f> {
    pub(super) fn new(fx: &'a mut FileCx<'f>, const_mode: bool) -> Self {
        Self {
            fx,
            const_mode,
            params: Vec::new(),
            param_loc: Vec::new(),
            ws_span: Span::call_site(),
            shared: Vec::new(),
            shared_loc: Vec::new(),
            private: Vec::new(),
            matrices: Vec::new(),
            locals: Vec::new(),
            used: HashSet::new(),
            next_suffix: HashMap::new(),
            scopes: Vec::new(),
            base: 0,
            flat: None,
            vars: Vars::default(),
            loop_depth: 0,
            depth: 0,
            inlining: Vec::new(),
            inlines: 0,
            subst_nodes: 0,
            top_block: false,
            deep_reported: false,
            debug_sites: Vec::new(),
            wide_vectors: Vec::new(),
        }
    }

    pub(crate) fn err(&mut self, loc: impl Into<Loc<'f>>, msg: impl Into<String>) {
        self.fx.err(loc, msg);
    }

    pub(crate) fn bind(&mut self, name: &str, b: Bind<'f>) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string(), b);
        }
    }

    /// A unique local name based on `base`.
    pub(crate) fn fresh_name(&mut self, base: &str) -> String {
        if self.used.insert(base.to_string()) {
            return base.to_string();
        }
        // Resume from the last suffix used for `base`: inlining a helper
        // many times must not rescan `x_1, x_2, ...` at every call.
        let mut k = self.next_suffix.get(base).copied().unwrap_or(1);
        loop {
            let n = format!("{base}_{k}");
            k += 1;
            if self.used.insert(n.clone()) {
                self.next_suffix.insert(base.to_string(), k);
                return n;
            }
        }
    }

    /// A name for a shared or private array or a matrix: unique among
    /// parameters, arrays and matrices. Outside `#[locals]` mode it also
    /// avoids every local name (like [`Kx::fresh_name`]); in that mode local
    /// names are given explicitly and may coincide with an array's.
    pub(crate) fn array_name(&mut self, base: &str) -> String {
        if self.flat.is_none() {
            return self.fresh_name(base);
        }
        let taken = |kx: &Self, n: &str| {
            kx.params.iter().any(|p| p.name() == n)
                || kx.shared.iter().any(|s| s.name == n)
                || kx.private.iter().any(|s| s.name == n)
                || kx.matrices.iter().any(|m| m.decl.name == n)
        };
        let mut name = base.to_string();
        let mut k = 1;
        while taken(self, &name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    pub(crate) fn new_local(&mut self, base: &str, ty: Ty, mutable: bool, loc: Loc<'f>) -> LocalId {
        let name = self.fresh_name(base);
        self.locals.push(FLocal {
            name,
            ty,
            mutable,
            loc,
        });
        (self.locals.len() - 1) as LocalId
    }

    /// Define a source-level local: in `#[locals]` mode the declared one,
    /// else a fresh local bound in the current scope.
    pub(super) fn define_local(
        &mut self,
        name: &str,
        ty: Ty,
        mutable: bool,
        loc: Loc<'f>,
    ) -> Option<LocalId> {
        if self.base == 0
            && let Some(flat) = &self.flat
        {
            return match flat.get(name).copied() {
                Some(id) => {
                    let lt = self.locals[id as usize].ty;
                    self.vars.unify(lt, ty);
                    Some(id)
                }
                None => {
                    self.err(
                        loc,
                        format!("`{name}` is not declared in the kernel's `#[locals(...)]` list"),
                    );
                    None
                }
            };
        }
        let id = self.new_local(name, ty, mutable, loc);
        self.bind(name, Bind::Local(id));
        Some(id)
    }

    /// Resolve a name: scopes visible from here, `#[locals]`, constants.
    pub(crate) fn lookup(&mut self, name: &str) -> Option<Bind<'f>> {
        if self.base == 0
            && let Some(id) = self.flat.as_ref().and_then(|f| f.get(name).copied())
        {
            return Some(Bind::Local(id));
        }
        for s in self.scopes[self.base.min(self.scopes.len())..].iter().rev() {
            if let Some(b) = s.get(name) {
                return Some(b.clone());
            }
        }
        None
    }

    pub(super) fn enter(&mut self, loc: Loc<'f>) -> bool {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            if std::mem::replace(&mut self.deep_reported, true) {
                return false;
            }
            self.err(
                loc,
                format!(
                    "code is nested more than {MAX_NESTING} levels deep; split it with `let`s or helper functions"
                ),
            );
            return false;
        }
        true
    }

    // -----------------------------------------------------------------------
    // Statements.

    /// Lower a block's statements in a new scope.
    pub(crate) fn block(&mut self, b: &'f syn::Block, out: &mut Vec<FStmt<'f>>) {
        let top = std::mem::replace(&mut self.top_block, false);
        self.scopes.push(HashMap::new());
        self.stmts(&b.stmts, out, false);
        self.scopes.pop();
        self.top_block = top;
    }

    /// Lower statements into `out`. With `helper_tail`, the caller handles
    /// the final tail expression (helpers), so it is skipped here.
    pub(crate) fn stmts(
        &mut self,
        stmts: &'f [syn::Stmt],
        out: &mut Vec<FStmt<'f>>,
        helper_tail: bool,
    ) {
        let n = stmts.len();
        for (i, s) in stmts.iter().enumerate() {
            if helper_tail && i + 1 == n {
                break;
            }
            self.stmt(s, out);
        }
    }

    fn stmt(&mut self, s: &'f syn::Stmt, out: &mut Vec<FStmt<'f>>) {
        let loc = Loc::Stmt(s);
        match s {
            syn::Stmt::Local(l) => self.let_stmt(l, s, out),
            syn::Stmt::Item(item) => self.err(
                item.span(),
                "items inside functions are not supported; move `const` and `fn` items to the top level of the file",
            ),
            syn::Stmt::Macro(m) if super::debug::is_debug_macro(&m.mac) => {
                if self.enter(loc) {
                    self.debug_macro(&m.mac, out);
                }
                self.depth -= 1;
            }
            syn::Stmt::Macro(m) => self.err(
                m.span(),
                "macros other than `debug_print!` and `debug_assert!` are not supported in kernels (no `println!`, `assert!`, ...)",
            ),
            syn::Stmt::Expr(e, _) => {
                if self.enter(loc) {
                    let unroll = self.stmt_attrs(e);
                    match e {
                        syn::Expr::ForLoop(f) => self.for_stmt(f, unroll, loc, out),
                        _ => self.expr_stmt(e, loc, out),
                    }
                }
                self.depth -= 1;
            }
        }
    }

    fn let_stmt(&mut self, l: &'f syn::Local, s: &'f syn::Stmt, out: &mut Vec<FStmt<'f>>) {
        let loc = Loc::Stmt(s);
        let mut shared_attr = None;
        for a in &l.attrs {
            if a.path().is_ident("shared") && !matches!(a.meta, syn::Meta::NameValue(_)) {
                if shared_attr.replace(a).is_some() {
                    self.err(a.span(), "`#[shared]` is given twice");
                }
            } else {
                self.err(
                    a.span(),
                    format!(
                        "unknown attribute `#[{}]` on `let`; the only attribute of a `let` is `#[shared]` or `#[shared(swizzled, cols = C)]` (a workgroup shared array)",
                        attr_name(a)
                    ),
                );
            }
        }
        let (pat, ann) = match &l.pat {
            syn::Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
            p => (p, None),
        };
        if let syn::Pat::Tuple(pt) = pat {
            self.let_tuple(l, pt, ann, shared_attr.is_some(), loc, out);
            return;
        }
        if let (syn::Pat::Wild(_), Some(init), None) = (pat, &l.init, shared_attr) {
            if is_tuple_valued(&init.expr, self) {
                // `let _ = f(..);` of a tuple-returning helper: its body
                // runs, its values are dropped.
                let _ = self.tuple_value(&init.expr, out, Cx::TOP);
                return;
            }
            // `let _ = e;`: evaluated for its effect (an atomic or a helper
            // call); a pure value is simply dropped.
            let value = self.expr(&init.expr, out, Cx::TOP);
            if matches!(value.k, FK::Atomic { .. }) {
                out.push(FStmt {
                    k: FS::Eval(value),
                    loc,
                });
            }
            return;
        }
        let Some((name, mutable)) = self.fx.pat_ident(pat) else {
            return;
        };
        if let Some(a) = shared_attr {
            self.shared_decl(l, &name, mutable, ann, a);
            return;
        }
        let init_expr = l.init.as_ref().map(|i| super::expr::strip_group(&i.expr));
        if ann.is_some_and(|t| super::matrix::matrix_type(t).is_some())
            || init_expr.is_some_and(super::matrix::is_matrix_value)
        {
            self.matrix_let(l, &name, mutable, ann, init_expr, loc, out);
            return;
        }
        if let Some(syn::Expr::MethodCall(m)) = init_expr
            && let Some(n) = vector_width(&m.method, "load")
        {
            if let Some((_, d)) = l.init.as_ref().and_then(|i| i.diverge.as_ref()) {
                self.err(&**d, "`let ... else` is not supported");
            }
            self.vector_load(l, &name, mutable, ann, m, n, loc, out);
            return;
        }
        if matches!(ann, Some(syn::Type::Array(_)))
            || matches!(init_expr, Some(syn::Expr::Array(_) | syn::Expr::Repeat(_)))
        {
            if let Some((_, d)) = l.init.as_ref().and_then(|i| i.diverge.as_ref()) {
                self.err(&**d, "`let ... else` is not supported");
            }
            self.private_decl(l, &name, mutable, ann, init_expr, loc, out);
            return;
        }
        let ann_ty = match ann.map(|t| self.fx.scalar_ty(t)) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(m)) => {
                self.err(ann.map_or(loc, |t| Loc::Span(t.span())), m);
                return;
            }
        };
        let Some(init) = &l.init else {
            self.err(
                l.span(),
                format!("`let {name}` needs an initial value: `let {name} = ...;` (declare-then-assign is not supported)"),
            );
            return;
        };
        if let Some((_, d)) = &init.diverge {
            self.err(&**d, "`let ... else` is not supported");
        }
        let value = self.expr(&init.expr, out, Cx::TOP);
        let ty = match ann_ty {
            Some(t) => {
                self.vars.unify(value.ty, Ty::K(t));
                Ty::K(t)
            }
            None => value.ty,
        };
        if let Some(id) = self.define_local(&name, ty, mutable, loc) {
            out.push(FStmt {
                k: FS::Let(id, value),
                loc,
            });
        }
    }

    /// `let (a, mut b, _) = f(..);` (or `= (x, y, z)`): one local per
    /// named element, in order.
    fn let_tuple(
        &mut self,
        l: &'f syn::Local,
        pt: &'f syn::PatTuple,
        ann: Option<&'f syn::Type>,
        shared_attr: bool,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        if shared_attr {
            self.err(
                pt.span(),
                "a `#[shared]` array is declared with one name: `#[shared] let mut t: [f32; 256];`",
            );
            return;
        }
        let Some(init) = &l.init else {
            self.err(
                l.span(),
                "`let (..)` needs an initial value: `let (a, b) = f(..);`",
            );
            return;
        };
        if let Some((_, d)) = &init.diverge {
            self.err(&**d, "`let ... else` is not supported");
        }
        let n = pt.elems.len();
        if !(2..=MAX_TUPLE).contains(&n) {
            self.err(
                pt.span(),
                format!("a tuple pattern has 2 to {MAX_TUPLE} elements, but this one has {n}"),
            );
            return;
        }
        // Each element: `Some((name, mutable, span))`, `None` for `_`.
        let mut names: Vec<Option<(String, bool, Span)>> = Vec::with_capacity(n);
        let mut ok = true;
        for el in &pt.elems {
            match el {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    let name = pi.ident.unraw().to_string();
                    if names.iter().flatten().any(|(m, _, _)| *m == name) {
                        self.err(
                            pi.ident.span(),
                            format!("`{name}` is bound more than once in this pattern"),
                        );
                        ok = false;
                    }
                    names.push(Some((name, pi.mutability.is_some(), pi.ident.span())));
                }
                syn::Pat::Wild(_) => names.push(None),
                syn::Pat::Tuple(_) | syn::Pat::Paren(_) => {
                    self.err(
                        el.span(),
                        "nested tuple patterns are not supported; destructure one flat tuple",
                    );
                    ok = false;
                }
                _ => {
                    self.err(
                        el.span(),
                        "a tuple pattern holds names (`a`, `mut a`) and `_` only",
                    );
                    ok = false;
                }
            }
        }
        let ann_tys = match ann.map(super::file::strip_type_paren) {
            None => None,
            Some(syn::Type::Tuple(tt)) if tt.elems.len() == n => {
                let tys: Result<Vec<DataType>, String> =
                    tt.elems.iter().map(|t| self.fx.scalar_ty(t)).collect();
                match tys {
                    Ok(t) => Some(t),
                    Err(m) => {
                        self.err(tt.span(), m);
                        return;
                    }
                }
            }
            Some(t) => {
                self.err(
                    t.span(),
                    format!("this pattern has {n} elements, so its type is a tuple of {n} types: `(f32, u32)`"),
                );
                return;
            }
        };
        let Some(values) = self.tuple_value(&init.expr, out, Cx::TOP) else {
            return;
        };
        if !ok {
            return;
        }
        if values.len() != n {
            self.err(
                pt.span(),
                format!(
                    "mismatched types: this pattern has {n} elements, but the value is a tuple of {}",
                    values.len()
                ),
            );
            return;
        }
        for (i, (name, value)) in names.into_iter().zip(values).enumerate() {
            let Some((name, mutable, span)) = name else {
                continue;
            };
            let ty = match &ann_tys {
                Some(tys) => {
                    self.vars.unify(value.ty, Ty::K(tys[i]));
                    Ty::K(tys[i])
                }
                None => value.ty,
            };
            if let Some(id) = self.define_local(&name, ty, mutable, Loc::Span(span)) {
                out.push(FStmt {
                    k: FS::Let(id, value),
                    loc,
                });
            }
        }
    }

    /// `(a, b) = f(..);`: assigns existing mutable locals (or drops `_`).
    fn assign_tuple(
        &mut self,
        lhs: &'f syn::ExprTuple,
        rhs: &'f syn::Expr,
        whole: &'f syn::Expr,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let mut targets: Vec<Option<(LocalId, &'f syn::Expr)>> = Vec::new();
        let mut ok = true;
        for el in &lhs.elems {
            match super::expr::strip_group(el) {
                syn::Expr::Infer(_) => targets.push(None),
                syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                    let name = p
                        .path
                        .get_ident()
                        .map(|i| i.unraw().to_string())
                        .unwrap_or_default();
                    match self.lookup(&name) {
                        Some(Bind::Local(id)) => targets.push(Some((id, el))),
                        Some(Bind::Param(_) | Bind::Subst(_)) => {
                            self.err(
                                el,
                                format!("cannot assign to parameter `{name}`; copy it first: `let mut {name}_v = {name};`"),
                            );
                            ok = false;
                        }
                        Some(Bind::Buf(_)) => {
                            self.err(el, format!("cannot assign to the buffer `{name}` itself"));
                            ok = false;
                        }
                        Some(Bind::Matrix(_)) => {
                            self.err(el, super::matrix::not_a_value(&name));
                            ok = false;
                        }
                        None => {
                            self.unknown_name(&name, el);
                            ok = false;
                        }
                    }
                }
                _ => {
                    self.err(
                        el,
                        "only local variables and `_` can be assigned from a tuple: `(a, b) = f(..);` (store buffer elements afterwards)",
                    );
                    ok = false;
                }
            }
        }
        let n = lhs.elems.len();
        if ok && !(2..=MAX_TUPLE).contains(&n) {
            self.err(
                whole,
                format!("a tuple has 2 to {MAX_TUPLE} elements, but this one has {n}"),
            );
            ok = false;
        }
        let Some(values) = self.tuple_value(rhs, out, Cx::TOP) else {
            return;
        };
        if !ok {
            return;
        }
        if values.len() != n {
            self.err(
                Loc::Span(lhs.span()),
                format!(
                    "mismatched types: {n} places are assigned, but the value is a tuple of {}",
                    values.len()
                ),
            );
            return;
        }
        // `(a, b) = (b, a)`: a value that reads a local assigned before it
        // must see the old value, so then every value goes through a
        // temporary first.
        let assigned: Vec<LocalId> = targets.iter().flatten().map(|(id, _)| *id).collect();
        let swap = values.iter().enumerate().any(|(j, v)| {
            targets[..j]
                .iter()
                .flatten()
                .any(|(id, _)| super::inline::reads_local(v, *id))
        });
        let mut pending = Vec::new();
        for (target, value) in targets.into_iter().zip(values) {
            let Some((id, el)) = target else {
                continue;
            };
            let value = if swap
                && assigned
                    .iter()
                    .any(|&a| super::inline::reads_local(&value, a))
            {
                let (vl, vt) = (value.loc, value.ty);
                let tmp = self.new_local("tuple", vt, false, vl);
                out.push(FStmt {
                    k: FS::Let(tmp, value),
                    loc: vl,
                });
                FExpr {
                    k: FK::Local(tmp),
                    loc: vl,
                    ty: vt,
                }
            } else {
                value
            };
            let lty = self.locals[id as usize].ty;
            self.vars.unify(lty, value.ty);
            pending.push(FStmt {
                k: FS::Assign(id, value),
                loc: Loc::Expr(el),
            });
        }
        out.extend(pending);
    }

    fn shared_decl(
        &mut self,
        l: &'f syn::Local,
        name: &str,
        mutable: bool,
        ann: Option<&'f syn::Type>,
        attr: &'f syn::Attribute,
    ) {
        if !self.top_block {
            self.err(
                l.span(),
                "`#[shared]` arrays may only be declared in the kernel's top-level block (not in helpers, loops or branches)",
            );
            return;
        }
        if !mutable {
            self.err(
                l.pat.span(),
                format!("write `#[shared] let mut {name}: [T; N];`"),
            );
        }
        if let Some(init) = &l.init {
            self.err(
                &*init.expr,
                "shared arrays cannot be initialised; they start undefined, so write every element before reading it (and call `barrier()`)",
            );
        }
        let Some(syn::Type::Array(arr)) = ann else {
            self.err(
                l.span(),
                format!(
                    "a shared array needs an array type: `#[shared] let mut {name}: [f32; 256];`"
                ),
            );
            return;
        };
        let elem = match self.fx.scalar_ty(&arr.elem) {
            Ok(DataType::Bool) => {
                self.err(
                    arr.elem.span(),
                    "shared arrays of `bool` are not supported; use `u32`",
                );
                return;
            }
            Ok(t) => t,
            Err(m) => {
                self.err(arr.elem.span(), m);
                return;
            }
        };
        let len = match self.fx.eval_const_expr(&arr.len, None) {
            Some(Literal::U32(v)) => v,
            Some(Literal::I32(v)) if v >= 0 => v as u32,
            Some(_) => {
                self.err(
                    &arr.len,
                    "the length of a shared array must be a non-negative integer constant",
                );
                return;
            }
            None => return,
        };
        if len == 0 {
            self.err(&arr.len, "a shared array needs at least one element");
            return;
        }
        let Some(layout) = self.shared_layout(attr) else {
            return;
        };
        if !self.check_shared_layout(attr, layout, elem, len) {
            return;
        }
        let bytes: u64 = self
            .shared
            .iter()
            .map(|s| u64::from(s.len) * u64::from(s.elem.size_bytes()))
            .sum::<u64>()
            + u64::from(len) * u64::from(elem.size_bytes());
        if bytes > crate::ir::validate::MAX_SHARED_BYTES {
            self.fx.err_notes(
                l.span(),
                format!(
                    "shared arrays of this kernel take {bytes} bytes with `{name}`; at most {} bytes per workgroup are allowed",
                    crate::ir::validate::MAX_SHARED_BYTES
                ),
                vec!["use smaller tiles, or keep the data in a buffer parameter".into()],
            );
            return;
        }
        let sname = self.array_name(name);
        let id = self.shared.len() as u32;
        self.shared.push(SharedDecl {
            name: sname,
            elem,
            len,
            layout,
        });
        self.shared_loc.push(l.span());
        self.bind(name, Bind::Buf(BufRef::Shared(id)));
    }

    pub(super) fn expr_stmt(&mut self, e: &'f syn::Expr, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        match e {
            syn::Expr::Assign(a) => self.assign(&a.left, &a.right, None, e, out),
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => {
                self.assign(&b.left, &b.right, compound_op(&b.op), e, out);
            }
            syn::Expr::If(i) => self.if_stmt(i, loc, out),
            syn::Expr::While(w) => {
                if let Some(l) = &w.label {
                    self.err(l.span(), "loop labels are not supported");
                }
                if let syn::Expr::Let(l) = &*w.cond {
                    self.err(
                        l.span(),
                        "`while let` is not supported; use `while cond { ... }`",
                    );
                    return;
                }
                let cond = self.expr(
                    &w.cond,
                    out,
                    Cx::TOP.no_hoist(
                        "in a `while` condition, which is evaluated before every iteration",
                    ),
                );
                self.vars.unify(cond.ty, Ty::K(DataType::Bool));
                let body = self.loop_body(&w.body);
                out.push(FStmt {
                    k: FS::While(cond, body),
                    loc,
                });
            }
            syn::Expr::ForLoop(f) => self.for_stmt(f, None, loc, out),
            syn::Expr::Loop(l) => {
                if let Some(l) = &l.label {
                    self.err(l.span(), "loop labels are not supported");
                }
                let body = self.loop_body(&l.body);
                out.push(FStmt {
                    k: FS::Loop(body),
                    loc,
                });
            }
            syn::Expr::Break(b) => {
                if b.label.is_some() || b.expr.is_some() {
                    self.err(
                        e,
                        "`break` takes no label or value in vyre; write plain `break;`",
                    );
                }
                self.loop_exit(FS::Break, "break", loc, out);
            }
            syn::Expr::Continue(c) => {
                if c.label.is_some() {
                    self.err(e, "loop labels are not supported; write plain `continue;`");
                }
                self.loop_exit(FS::Continue, "continue", loc, out);
            }
            syn::Expr::Return(r) => {
                if !self.inlining.is_empty() {
                    self.err(
                        e,
                        "`return` in a helper is only allowed as its last statement; restructure with `if`/`else`",
                    );
                } else if let Some(v) = &r.expr {
                    self.err(&**v, "kernels return nothing; write `return;` and store results in a `&mut [T]` buffer");
                } else {
                    out.push(FStmt { k: FS::Return, loc });
                }
            }
            syn::Expr::Block(b) => {
                if let Some(l) = &b.label {
                    self.err(l.span(), "block labels are not supported");
                }
                self.block(&b.block, out);
            }
            syn::Expr::Unsafe(u) => {
                let mut body = Vec::new();
                self.block(&u.block, &mut body);
                out.push(FStmt {
                    k: FS::Unsafe(body),
                    loc,
                });
            }
            syn::Expr::Call(c)
                if path_is(&c.func, "barrier") || path_is(&c.func, "warpgroup_barrier") =>
            {
                let (name, k) = if path_is(&c.func, "barrier") {
                    ("barrier", FS::Barrier)
                } else {
                    ("warpgroup_barrier", FS::WarpgroupBarrier)
                };
                if !c.args.is_empty() {
                    self.err(e, format!("`{name}()` takes no arguments"));
                }
                out.push(FStmt { k, loc });
            }
            syn::Expr::Call(c) if super::matrix::matrix_fn(&c.func).is_some() => {
                if let Some((f, generics)) = super::matrix::matrix_fn(&c.func) {
                    self.matrix_stmt(f, c, e, generics, loc, out);
                }
            }
            syn::Expr::Call(c) if self.helper_name(&c.func).is_some() => {
                let name = self.helper_name(&c.func).unwrap_or_default();
                self.call_helper(&name, c, e, out, Cx::TOP, true);
            }
            syn::Expr::MethodCall(m) if vector_width(&m.method, "store").is_some() => {
                self.vector_store(m, e, loc, out);
            }
            syn::Expr::MethodCall(m) if m.method.to_string().starts_with("atomic_") => {
                let v = self.expr(e, out, Cx::TOP);
                out.push(FStmt {
                    k: FS::Eval(v),
                    loc,
                });
            }
            syn::Expr::Paren(p) => self.expr_stmt(&p.expr, loc, out),
            _ => {
                // Lower it anyway for its diagnostics, then reject it.
                let before = self.fx.errs.len();
                let _ = self.expr(e, out, Cx::TOP);
                if self.fx.errs.len() == before {
                    self.err(
                        e,
                        "this expression statement has no effect; statements are `let`, assignments, stores `buf[i] = v`, atomics, `barrier()`, helper calls, `if`, loops, `break`, `continue` and `return`",
                    );
                }
            }
        }
    }

    fn loop_exit(&mut self, k: FS<'f>, what: &str, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        if self.loop_depth == 0 {
            self.err(loc, format!("`{what}` outside of a loop"));
        } else {
            out.push(FStmt { k, loc });
        }
    }

    fn loop_body(&mut self, b: &'f syn::Block) -> Vec<FStmt<'f>> {
        let mut body = Vec::new();
        self.loop_depth += 1;
        self.block(b, &mut body);
        self.loop_depth -= 1;
        body
    }

    pub(crate) fn helper_name(&self, func: &syn::Expr) -> Option<String> {
        if let syn::Expr::Path(p) = func
            && p.qself.is_none()
            && let Some(id) = p.path.get_ident()
        {
            let n = id.unraw().to_string();
            if self.fx.helpers.contains_key(&n) {
                return Some(n);
            }
        }
        None
    }

    /// `lhs = rhs` or `lhs op= rhs`.
    fn assign(
        &mut self,
        lhs: &'f syn::Expr,
        rhs: &'f syn::Expr,
        op: Option<BinOp>,
        whole: &'f syn::Expr,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let loc = Loc::Expr(whole);
        match lhs {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident().map(|i| i.unraw().to_string()).unwrap_or_default();
                let target = match self.lookup(&name) {
                    Some(Bind::Local(id)) => id,
                    Some(Bind::Matrix(id)) => {
                        self.matrix_assign(id, &name, rhs, op, whole, out);
                        return;
                    }
                    Some(Bind::Param(_) | Bind::Subst(_)) => {
                        self.err(
                            lhs,
                            format!("cannot assign to parameter `{name}`; copy it first: `let mut {name}_v = {name};`"),
                        );
                        return;
                    }
                    Some(Bind::Buf(_)) => {
                        self.err(lhs, format!("cannot assign to the buffer `{name}` itself; store one element: `{name}[i] = ...`"));
                        return;
                    }
                    None => {
                        self.unknown_name(&name, lhs);
                        return;
                    }
                };
                let lty = self.locals[target as usize].ty;
                let value = match op {
                    None => self.expr(rhs, out, Cx::TOP),
                    Some(op) => {
                        let r = self.expr(rhs, out, Cx::TOP.nested());
                        let cur = FExpr {
                            k: FK::Local(target),
                            loc: Loc::Expr(lhs),
                            ty: lty,
                        };
                        self.binary_node(op, cur, r, loc)
                    }
                };
                self.vars.unify(lty, value.ty);
                out.push(FStmt {
                    k: FS::Assign(target, value),
                    loc,
                });
            }
            syn::Expr::Index(ix) => {
                let Some((buf, elem)) = self.buffer_ref(&ix.expr) else {
                    return;
                };
                self.private_writable(buf, lhs);
                let index = self.index_expr(&ix.index, out, Cx::TOP.nested());
                let value = match op {
                    None => {
                        let v = self.expr(rhs, out, Cx::TOP);
                        if matches!(v.k, FK::Atomic { .. }) {
                            // `buf[i] = other.atomic_add(j, v);`: the atomic
                            // is a statement of its own, its old value goes
                            // through a local (the index is pure, so running
                            // the atomic first changes nothing).
                            let (vl, vt) = (v.loc, v.ty);
                            let id = self.new_local("old", vt, false, vl);
                            out.push(FStmt {
                                k: FS::Let(id, v),
                                loc: vl,
                            });
                            FExpr {
                                k: FK::Local(id),
                                loc: vl,
                                ty: vt,
                            }
                        } else {
                            v
                        }
                    }
                    Some(op) => {
                        let r = self.expr(rhs, out, Cx::TOP.nested());
                        let cur = FExpr {
                            k: FK::Load(buf, Box::new(index.clone())),
                            loc: Loc::Expr(lhs),
                            ty: elem,
                        };
                        self.binary_node(op, cur, r, loc)
                    }
                };
                self.vars.unify(elem, value.ty);
                out.push(FStmt {
                    k: FS::Store(buf, index, value),
                    loc,
                });
            }
            syn::Expr::Paren(p) => self.assign(&p.expr, rhs, op, whole, out),
            syn::Expr::Tuple(t) if op.is_none() => self.assign_tuple(t, rhs, whole, out),
            syn::Expr::Tuple(_) => self.err(
                whole,
                "compound assignment to a tuple is not supported; assign each local",
            ),
            _ => self.err(
                lhs,
                "only a local variable (`x = ...`) or a buffer element (`buf[i] = ...`) can be assigned",
            ),
        }
    }

    fn if_stmt(&mut self, i: &'f syn::ExprIf, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        if let syn::Expr::Let(l) = &*i.cond {
            self.err(l.span(), "`if let` is not supported; use `if cond { ... }`");
            return;
        }
        let cond = self.expr(&i.cond, out, Cx::TOP.nested());
        self.vars.unify(cond.ty, Ty::K(DataType::Bool));
        let mut then = Vec::new();
        self.block(&i.then_branch, &mut then);
        let mut otherwise = Vec::new();
        if let Some((_, e)) = &i.else_branch {
            match &**e {
                syn::Expr::If(inner) => {
                    if self.enter(Loc::Expr(e)) {
                        self.if_stmt(inner, Loc::Expr(e), &mut otherwise);
                    }
                    self.depth -= 1;
                }
                syn::Expr::Block(b) => self.block(&b.block, &mut otherwise),
                other => self.err(other, "expected a block or `if` after `else`"),
            }
        }
        out.push(FStmt {
            k: FS::If(cond, then, otherwise),
            loc,
        });
    }

    fn for_stmt(
        &mut self,
        f: &'f syn::ExprForLoop,
        unroll: Option<Span>,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        if let Some(l) = &f.label {
            self.err(l.span(), "loop labels are not supported");
        }
        let Some((name, mutable)) = self.fx.pat_ident(&f.pat) else {
            return;
        };
        if mutable {
            self.err(
                f.pat.span(),
                "a `for` loop variable cannot be `mut`; copy it into a `let mut`",
            );
        }
        let (range_expr, step) = match super::expr::strip_group(&f.expr) {
            syn::Expr::MethodCall(m) if m.method == "step_by" => {
                if m.args.len() != 1 || m.turbofish.is_some() {
                    self.err(
                        &*f.expr,
                        "`step_by` takes one constant argument: `(start..end).step_by(4)`",
                    );
                    return;
                }
                (super::expr::strip_group(&m.receiver), Some(&m.args[0]))
            }
            other => (other, None),
        };
        let range = match range_expr {
            syn::Expr::Range(r) => r,
            syn::Expr::Paren(p) if matches!(&*p.expr, syn::Expr::Range(_)) => match &*p.expr {
                syn::Expr::Range(r) => r,
                _ => return,
            },
            other => {
                self.err(
                    other,
                    "`for` loops iterate over a range `start..end` (or `(start..end).step_by(c)`) only",
                );
                return;
            }
        };
        if let syn::RangeLimits::Closed(t) = range.limits {
            self.err(
                t.span(),
                "inclusive ranges `a..=b` are not supported; write `a..(b + 1)` (and mind overflow at the type's maximum)",
            );
            return;
        }
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            self.err(&*f.expr, "a `for` range needs both bounds: `start..end`");
            return;
        };
        let start = self.expr(start, out, Cx::TOP.nested());
        let end = self.expr(end, out, Cx::TOP.nested());
        self.vars.unify(start.ty, end.ty);
        let step = step.map(|s| self.step_expr(s));
        let ty = start.ty;
        self.scopes.push(HashMap::new());
        let var = self.define_local(&name, ty, false, Loc::Span(f.pat.span()));
        let body = self.loop_body(&f.body);
        self.scopes.pop();
        if let Some(var) = var {
            out.push(FStmt {
                k: FS::For(Box::new(FFor {
                    var,
                    start,
                    end,
                    step,
                    unroll,
                    body,
                })),
                loc,
            });
        }
    }

    pub(crate) fn unknown_name(&mut self, name: &str, loc: impl Into<Loc<'f>>) {
        let mut notes = Vec::new();
        if self.fx.helpers.contains_key(name) || self.fx.kernel_names.contains(name) {
            notes.push(format!("`{name}` is a function; call it: `{name}(...)`"));
        } else if !self.inlining.is_empty() {
            notes.push(
                "helpers only see their own parameters, their locals and `const` items".into(),
            );
        }
        self.fx.err_notes(
            loc,
            format!("cannot find value `{name}` in this scope"),
            notes,
        );
    }
}

/// An attribute's path as written (`unroll`, `kernel`, `a::b`).
pub(crate) fn attr_name(a: &syn::Attribute) -> String {
    let segs: Vec<String> = a
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segs.join("::")
}

/// `2`, `4` or `8` for `{prefix}2` / `{prefix}4` / `{prefix}8` (`load4`,
/// `store2`, `load8`).
pub(crate) fn vector_width(method: &syn::Ident, prefix: &str) -> Option<u32> {
    match method.to_string().strip_prefix(prefix)? {
        "2" => Some(2),
        "4" => Some(4),
        "8" => Some(8),
        _ => None,
    }
}

fn path_is(e: &syn::Expr, name: &str) -> bool {
    matches!(e, syn::Expr::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

/// Whether `e` is a tuple value (`(a, b)` or a call of a tuple-returning
/// helper).
fn is_tuple_valued(e: &syn::Expr, kx: &Kx<'_, '_>) -> bool {
    match super::expr::strip_group(e) {
        syn::Expr::Tuple(_) => true,
        syn::Expr::Call(c) => kx
            .helper_name(&c.func)
            .is_some_and(|n| matches!(kx.fx.helpers[&n].ret, super::file::HRet::Tuple(_))),
        _ => false,
    }
}
