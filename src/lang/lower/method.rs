//! Pass 1 for methods (`len`, math, atomics) and builtin fields, plus the
//! node builders shared with statements: buffer references, indices and
//! binary operators.

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::expr::{FUNCTIONS, METHODS, atomic_op, builtin, math_fn, subgroup_form, subgroup_op};
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FExpr, FK, FStmt, Loc};
use crate::ir::{Access, AtomicOp, Axis, BinOp, BufRef, DataType, Literal, MathFn, Param};

impl<'f> Kx<'_, 'f> {
    pub(super) fn method_expr(
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
                Some((BufRef::Private(id), _)) => FExpr::lit(
                    Literal::U32(self.private.get(id as usize).map_or(0, |s| s.len)),
                    loc,
                ),
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
            if let BufRef::Private(id) = buf {
                let n = self.private_name(id);
                self.err(
                    e,
                    format!("`{n}` is a private array: atomics work on buffers and `#[shared]` arrays only (a private element is this invocation's own; update it with `{n}[i] += v`)"),
                );
                return FExpr::error(loc);
            }
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
                self.vars.unify(x.ty, elem);
                Some(Box::new(x))
            } else {
                None
            };
            let value = self.expr(&m.args[want - 1], pre, cx.nested());
            self.vars.unify(value.ty, elem);
            return FExpr {
                k: FK::Atomic {
                    op,
                    buf,
                    index: Box::new(index),
                    expected,
                    value: Box::new(value),
                },
                loc,
                ty: elem,
            };
        }
        if matches!(
            name.as_str(),
            "load2" | "load4" | "load8" | "store2" | "store4" | "store8"
        ) {
            let form = if name.starts_with("load") {
                format!("`let v = buf.{name}(i);`")
            } else {
                format!("`buf.{name}(i, v);`")
            };
            self.err(
                e,
                format!(
                    "`{name}` may only be used as {form} (a whole `let` initializer or statement)"
                ),
            );
            return FExpr::error(loc);
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

    pub(super) fn field_expr(&mut self, f: &'f syn::ExprField, e: &'f syn::Expr) -> FExpr<'f> {
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
            && let Some(op) = subgroup_op(&id.unraw().to_string())
        {
            self.err(
                e,
                format!(
                    "`{}` is a scalar and has no fields; use its value directly",
                    subgroup_form(op)
                ),
            );
            return FExpr::error(loc);
        }
        if let syn::Member::Unnamed(_) = f.member {
            self.err(
                e,
                "tuple fields (`.0`) are not supported: a tuple is not a value in vyre; destructure it where it is made: `let (a, b) = helper(..);`",
            );
            return FExpr::error(loc);
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

    /// The buffer, shared or private array named by `e`, with its element
    /// type.
    pub(crate) fn buffer_ref(&mut self, e: &'f syn::Expr) -> Option<(BufRef, Ty)> {
        match e {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident()?.unraw().to_string();
                match self.lookup(&name) {
                    Some(Bind::Buf(b)) => Some((b, self.elem_of(b))),
                    Some(Bind::Matrix(_)) => {
                        self.err(e, super::matrix::not_a_value(&name));
                        None
                    }
                    Some(_) => {
                        self.err(
                            e,
                            format!("`{name}` is not a buffer or an array; only buffer parameters (`&[T]`, `&mut [T]`), `#[shared]` arrays and private arrays (`let mut a = [0.0f32; 8];`) can be indexed or have `.len()`, `load4`/`store4` and (buffers and shared arrays) atomics"),
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
                    "only buffer parameters, shared and private arrays can be indexed, by name: `buf[i]`",
                );
                None
            }
        }
    }

    /// Element type of `b`; a private array's may still be a variable.
    pub(crate) fn elem_of(&self, b: BufRef) -> Ty {
        match b {
            BufRef::Param(id) => Ty::K(match self.params.get(id as usize) {
                Some(Param::Buffer(d)) => d.elem,
                _ => DataType::U32,
            }),
            BufRef::Shared(id) => Ty::K(
                self.shared
                    .get(id as usize)
                    .map_or(DataType::U32, |s| s.elem),
            ),
            BufRef::Private(id) => self.private.get(id as usize).map_or(Ty::Err, |s| s.elem),
        }
    }

    /// The source name of private array `id`.
    pub(crate) fn private_name(&self, id: u32) -> String {
        self.private
            .get(id as usize)
            .map_or_else(String::new, |s| s.name.clone())
    }

    pub(crate) fn writable(&self, b: BufRef) -> bool {
        match b {
            BufRef::Param(id) => matches!(
                self.params.get(id as usize),
                Some(Param::Buffer(d)) if d.access == Access::ReadWrite
            ),
            BufRef::Shared(_) | BufRef::Private(_) => true,
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
}
