//! Pass 1 for expressions that expand into statements: `if` expressions,
//! block values and helper inlining (with local renumbering).

use std::collections::HashMap;

use syn::spanned::Spanned;

use super::expr::strip_ref;
use super::file::HParam;
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FExpr, FK, FS, FStmt, Loc};
use super::{MAX_INLINES, MAX_SUBST_NODES};
use crate::ir::{Access, BufRef, DataType, Literal};

impl<'f> Kx<'_, 'f> {
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
        FS::For(l) => {
            l.var = f(l.var);
            remap_expr(&mut l.start, f);
            remap_expr(&mut l.end, f);
            if let Some(s) = &mut l.step {
                remap_expr(s, f);
            }
            l.body.iter_mut().for_each(|s| remap_stmt(s, f));
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
