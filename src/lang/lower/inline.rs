//! Pass 1 for expressions that expand into statements: `if` expressions,
//! block values and helper inlining (with local renumbering).

use std::collections::HashMap;

use syn::spanned::Spanned;

use super::expr::{strip_group, strip_ref};
use super::file::{HParam, HRet};
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FExpr, FK, FS, FStmt, Loc};
use super::{MAX_INLINES, MAX_SUBST_NODES, MAX_TUPLE};
use crate::ir::{Access, BufRef, DataType, Literal, LocalId};

/// What inlining a helper produced.
pub(crate) enum Inlined<'f> {
    /// A diagnostic was reported.
    Failed,
    /// The helper returns nothing.
    Nothing,
    /// Its scalar value.
    Value(FExpr<'f>),
    /// Its tuple, one value per element.
    Tuple(Vec<FExpr<'f>>),
}

impl<'f> Kx<'_, 'f> {
    fn zero(&mut self, ty: Ty, loc: Loc<'f>) -> FExpr<'f> {
        match ty {
            Ty::K(t) => FExpr::lit(Literal::zero(t), loc),
            Ty::Err => FExpr::error(loc),
            t => FExpr {
                k: if self.vars.is_float_var(t) {
                    FK::Float(0, 0)
                } else {
                    FK::Int(0)
                },
                loc,
                ty: t,
            },
        }
    }

    pub(super) fn if_expr(
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
        let tmp = self.value_local(
            "if_value",
            ty,
            mark,
            [&mut p1, &mut p2],
            [&mut a, &mut b],
            loc,
        );
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

    /// A fresh mutable local receiving the value of an `if` or `unsafe`
    /// used as a value. Its `let` comes before the locals defined in
    /// `stmts` and `values` (table slots from `mark` on) in the text, so it
    /// takes the table slot before theirs too: then printing needs no
    /// `#[locals]` list to reproduce the table.
    fn value_local<const N: usize>(
        &mut self,
        base: &str,
        ty: Ty,
        mark: usize,
        stmts: [&mut Vec<FStmt<'f>>; N],
        values: [&mut FExpr<'f>; N],
        loc: Loc<'f>,
    ) -> LocalId {
        let tmp = self.new_local(base, ty, true, loc);
        if (tmp as usize) <= mark {
            return tmp;
        }
        self.locals[mark..].rotate_right(1);
        let (m, t) = (mark as u32, tmp);
        let f = |id: u32| match id {
            id if id == t => m,
            id if id >= m && id < t => id + 1,
            id => id,
        };
        for s in stmts.into_iter().flat_map(|b| b.iter_mut()) {
            remap_stmt(s, &f);
        }
        for v in values {
            remap_expr(v, &f);
        }
        m
    }

    /// `unsafe { ..; tail }` used as a value: `let mut unsafe_value = 0;
    /// unsafe { ..; unsafe_value = tail; }` goes before the statement, so
    /// that the tail's own accesses are inside the block too.
    pub(super) fn unsafe_value(
        &mut self,
        u: &'f syn::ExprUnsafe,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> FExpr<'f> {
        let loc = Loc::Expr(e);
        if let Some(why) = cx.hoist {
            self.err(
                e,
                format!(
                    "an `unsafe` block cannot be used {why}; compute its value into a `let` first"
                ),
            );
            return FExpr::error(loc);
        }
        let mark = self.locals.len();
        let mut body = Vec::new();
        self.scopes.push(HashMap::new());
        let mut value = self.block_value(&u.block, e, &mut body, cx);
        self.scopes.pop();
        if value.ty == Ty::Err {
            return value;
        }
        let ty = value.ty;
        let tmp = self.value_local("unsafe_value", ty, mark, [&mut body], [&mut value], loc);
        let zero = self.zero(ty, loc);
        pre.push(FStmt {
            k: FS::Let(tmp, zero),
            loc,
        });
        let at = value.loc;
        body.push(FStmt {
            k: FS::Assign(tmp, value),
            loc: at,
        });
        pre.push(FStmt {
            k: FS::Unsafe(body),
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
    pub(super) fn block_value(
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

    /// Inline a call to helper `name` used as a value (`stmt` false) or as
    /// a statement. Returns `None` for helpers without a value, called as
    /// statements (a tuple-returning helper's values are dropped there).
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
        if !stmt && let HRet::Tuple(tys) = &self.fx.helpers[name].ret {
            let n = tys.len();
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            self.err(
                e,
                format!(
                    "helper `{name}` returns a tuple `{}`, which is not a value; destructure it in a `let`: `let ({}) = {name}(..);`",
                    HRet::tuple_text(tys),
                    names.join(", ")
                ),
            );
            return Some(FExpr::error(loc));
        }
        match self.inline_helper(name, c, e, pre, cx) {
            Inlined::Failed => Some(FExpr::error(loc)),
            Inlined::Value(v) => Some(v),
            Inlined::Tuple(_) | Inlined::Nothing if stmt => None,
            Inlined::Tuple(_) => Some(FExpr::error(loc)),
            Inlined::Nothing => {
                self.err(
                    e,
                    format!("helper `{name}` returns nothing, so it cannot be used as a value"),
                );
                Some(FExpr::error(loc))
            }
        }
    }

    /// Inline a call to helper `name` whose tuple is destructured: one
    /// value per element, or `None` after a diagnostic.
    pub(crate) fn call_helper_tuple(
        &mut self,
        name: &str,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> Option<Vec<FExpr<'f>>> {
        let what = match &self.fx.helpers[name].ret {
            HRet::Tuple(_) => None,
            HRet::Scalar(t) => Some(format!("`{t}`")),
            HRet::Unit => Some("nothing".to_string()),
        };
        if let Some(what) = what {
            self.err(
                e,
                format!(
                    "helper `{name}` returns {what}, not a tuple, so it cannot be destructured"
                ),
            );
            return None;
        }
        match self.inline_helper(name, c, e, pre, cx) {
            Inlined::Tuple(vs) => Some(vs),
            _ => None,
        }
    }

    /// A value that must be a tuple: `(a, b, ..)` or a call of a helper
    /// returning one; its elements, or `None` after a diagnostic. Tuples
    /// exist only here: they are destructured where they are made.
    pub(crate) fn tuple_value(
        &mut self,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> Option<Vec<FExpr<'f>>> {
        let e = strip_group(e);
        match e {
            syn::Expr::Tuple(t) => {
                let n = t.elems.len();
                if !(2..=MAX_TUPLE).contains(&n) {
                    self.err(
                        e,
                        format!("a tuple has 2 to {MAX_TUPLE} elements, but this one has {n}"),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(n);
                let mut ok = true;
                for el in &t.elems {
                    if let syn::Expr::Tuple(_) = strip_group(el) {
                        self.err(
                            el,
                            "nested tuples are not supported; use one flat tuple `(a, b, c)`",
                        );
                        ok = false;
                        continue;
                    }
                    out.push(self.expr(el, pre, cx.nested()));
                }
                ok.then_some(out)
            }
            syn::Expr::Call(c) if self.helper_name(&c.func).is_some() => {
                let name = self.helper_name(&c.func).unwrap_or_default();
                self.call_helper_tuple(&name, c, e, pre, cx)
            }
            _ => {
                self.err(
                    e,
                    "expected a tuple: `(a, b)` or a call of a helper that returns one (`fn f(..) -> (f32, f32)`)",
                );
                None
            }
        }
    }

    /// Check that helper `name` returns a `want` value `v` (the caller
    /// sees the declared type, so a mismatch is reported here, at `v`).
    fn returns(&mut self, name: &str, v: &FExpr<'f>, want: DataType) -> bool {
        self.vars.unify(v.ty, Ty::K(want));
        match self.vars.resolve(v.ty) {
            Some(t) if t != want => {
                self.err(
                    v.loc,
                    format!("mismatched types: helper `{name}` returns `{want}`, but this value is `{t}`"),
                );
                false
            }
            _ => true,
        }
    }

    /// Inline the body of helper `name` at call `c`.
    fn inline_helper(
        &mut self,
        name: &str,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        pre: &mut Vec<FStmt<'f>>,
        cx: Cx,
    ) -> Inlined<'f> {
        let loc = Loc::Expr(e);
        if self.const_mode {
            self.err(e, "helper functions cannot be called in a `const`");
            return Inlined::Failed;
        }
        if self.inlining.iter().any(|n| n == name) {
            // Recursion; reported once for the whole file.
            return Inlined::Failed;
        }
        self.inlines += 1;
        if self.inlines > MAX_INLINES {
            if self.inlines == MAX_INLINES + 1 {
                self.err(
                    e,
                    format!("more than {MAX_INLINES} helper calls are inlined into this kernel; call helpers in loops instead of repeating them"),
                );
            }
            return Inlined::Failed;
        }
        let h = &self.fx.helpers[name];
        let (f, params, ret, effectful, has_stmts) = (
            h.f,
            h.params.clone(),
            h.ret.clone(),
            h.effectful,
            h.has_stmts,
        );
        if effectful && !cx.effect_ok {
            self.err(
                e,
                format!("helper `{name}` writes memory or calls `barrier()`, so it may only be called as a whole statement or as the whole value of a `let`, an assignment or a store"),
            );
            return Inlined::Failed;
        }
        if has_stmts && let Some(why) = cx.hoist {
            self.err(
                e,
                format!("helper `{name}` has statements, so it cannot be called {why}; call it in a `let` before and use the result"),
            );
            return Inlined::Failed;
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
            return Inlined::Failed;
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
                    if let BufRef::Private(id) = buf {
                        let n = self.private_name(id);
                        self.err(
                            a,
                            format!("the private array `{n}` cannot be passed to helper `{name}`; private arrays stay in the kernel that declares them (pass its elements as scalars, or use a `#[shared]` array)"),
                        );
                        continue;
                    }
                    let belem = self.vars.resolve(belem).unwrap_or(*elem);
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
                                return Inlined::Failed;
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
        self.fx.helper_depth += 1;
        let stmts = &f.block.stmts;
        let (body, tail): (&'f [syn::Stmt], Option<&'f syn::Expr>) = match stmts.split_last() {
            Some((syn::Stmt::Expr(t, None), rest)) => (rest, Some(t)),
            Some((syn::Stmt::Expr(syn::Expr::Return(r), _), rest)) => (rest, r.expr.as_deref()),
            _ => (&stmts[..], None),
        };
        self.stmts(body, pre, false);
        let result = match (ret, tail) {
            (HRet::Scalar(rt), Some(t)) => {
                let tcx = Cx {
                    atomic_ok: cx.hoist.is_none(),
                    effect_ok: cx.effect_ok,
                    hoist: cx.hoist,
                };
                let v = self.expr(t, pre, tcx);
                if !self.returns(name, &v, rt) {
                    Inlined::Failed
                } else if matches!(v.k, FK::Atomic { .. }) {
                    let id = self.new_local(&format!("{name}_result"), Ty::K(rt), false, loc);
                    let vl = v.loc;
                    pre.push(FStmt {
                        k: FS::Let(id, v),
                        loc: vl,
                    });
                    Inlined::Value(FExpr {
                        k: FK::Local(id),
                        loc,
                        ty: Ty::K(rt),
                    })
                } else {
                    Inlined::Value(v)
                }
            }
            (HRet::Scalar(rt), None) => {
                self.err(
                    Loc::Span(f.sig.ident.span()),
                    format!("helper `{name}` must end with a value of type `{rt}` (a last line without `;`, or `return value;`)"),
                );
                Inlined::Failed
            }
            (HRet::Tuple(tys), Some(t)) => match self.tuple_value(t, pre, cx) {
                Some(vs) if vs.len() == tys.len() => {
                    let mut ok = true;
                    for (v, t) in vs.iter().zip(&tys) {
                        ok &= self.returns(name, v, *t);
                    }
                    if ok {
                        Inlined::Tuple(vs)
                    } else {
                        Inlined::Failed
                    }
                }
                Some(vs) => {
                    self.err(
                        t,
                        format!(
                            "helper `{name}` returns `{}` ({} values), but this tuple has {}",
                            HRet::tuple_text(&tys),
                            tys.len(),
                            vs.len()
                        ),
                    );
                    Inlined::Failed
                }
                None => Inlined::Failed,
            },
            (HRet::Tuple(tys), None) => {
                self.err(
                    Loc::Span(f.sig.ident.span()),
                    format!(
                        "helper `{name}` must end with a tuple of type `{}` (a last line `(a, b)` without `;`, or `return (a, b);`)",
                        HRet::tuple_text(&tys)
                    ),
                );
                Inlined::Failed
            }
            (HRet::Unit, Some(t)) => {
                let l = Loc::Expr(t);
                if self.enter(l) {
                    self.expr_stmt(t, l, pre);
                }
                self.depth -= 1;
                Inlined::Nothing
            }
            (HRet::Unit, None) => Inlined::Nothing,
        };
        self.inlining.pop();
        self.fx.helper_depth -= 1;
        self.scopes.pop();
        (self.base, self.loop_depth, self.top_block) = saved;
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
        FS::For(l) => {
            l.var = f(l.var);
            remap_expr(&mut l.start, f);
            remap_expr(&mut l.end, f);
            if let Some(s) = &mut l.step {
                remap_expr(s, f);
            }
            l.body.iter_mut().for_each(|s| remap_stmt(s, f));
        }
        FS::Loop(b) | FS::Unsafe(b) => b.iter_mut().for_each(|s| remap_stmt(s, f)),
        FS::Matrix(op) => {
            op.locals_mut().into_iter().for_each(|id| *id = f(*id));
            op.exprs_mut().into_iter().for_each(|e| remap_expr(e, f));
        }
        FS::Async(op) => op.exprs_mut().into_iter().for_each(|e| remap_expr(e, f)),
        FS::Debug(d) => {
            if let Some(slot) = &mut d.slot {
                *slot = f(*slot);
            }
            d.exprs_mut().into_iter().for_each(|e| remap_expr(e, f));
        }
        FS::Break | FS::Continue | FS::Return | FS::Barrier | FS::WarpgroupBarrier => {}
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
        FK::Math(_, args) | FK::Subgroup(_, args) => {
            args.iter_mut().for_each(|a| remap_expr(a, f));
        }
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
        FK::Int(_)
        | FK::Float(..)
        | FK::Lit(_)
        | FK::Param(_)
        | FK::Builtin(..)
        | FK::Len(_)
        | FK::Error => {}
    }
}

/// Whether `e` reads local `id`.
pub(crate) fn reads_local(e: &FExpr<'_>, id: u32) -> bool {
    match &e.k {
        FK::Local(l) => *l == id,
        FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => reads_local(a, id),
        FK::Binary(_, a, b) => reads_local(a, id) || reads_local(b, id),
        FK::Math(_, args) | FK::Subgroup(_, args) => args.iter().any(|a| reads_local(a, id)),
        FK::Select(c, a, b) => reads_local(c, id) || reads_local(a, id) || reads_local(b, id),
        FK::Atomic {
            index,
            expected,
            value,
            ..
        } => {
            reads_local(index, id)
                || reads_local(value, id)
                || expected.as_ref().is_some_and(|x| reads_local(x, id))
        }
        FK::Int(_)
        | FK::Float(..)
        | FK::Lit(_)
        | FK::Param(_)
        | FK::Builtin(..)
        | FK::Len(_)
        | FK::Error => false,
    }
}
