//! The `grid = (..)` kernel option: an integer expression per dimension
//! over the kernel's integer scalar parameters, its buffers' lengths and
//! constants, lowered to a [`GridRule`] with the constants folded.

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::file::FileCx;
use crate::ir::{DataType, Literal, Param};
use crate::lang::{GridRule, SizeExpr, SizeOp};

/// What a grid dimension may be made of, for diagnostics.
const GRID_FORM: &str = "a grid dimension is an integer expression of the kernel's `u32`/`i32` parameters, buffer lengths (`x.len()`), constants and integers, with `+ - * / %`, `.div_ceil(..)`, `.min(..)` and `.max(..)`";

impl FileCx<'_> {
    /// Lower `grid = value` for a kernel with `params`; `None` (reported)
    /// when malformed.
    pub(super) fn grid_rule(&mut self, value: &syn::Expr, params: &[Param]) -> Option<GridRule> {
        let dims: Vec<&syn::Expr> = match value {
            syn::Expr::Tuple(t) => t.elems.iter().collect(),
            syn::Expr::Paren(p) => vec![&*p.expr],
            e => vec![e],
        };
        if dims.is_empty() || dims.len() > 3 {
            self.err(
                value.span(),
                "`grid` takes 1 to 3 dimensions: `n.div_ceil(256)`, `(x, y)` or `(x, y, z)` workgroups",
            );
            return None;
        }
        let mut out = [SizeExpr::Const(1), SizeExpr::Const(1), SizeExpr::Const(1)];
        let mut ok = true;
        for (slot, d) in out.iter_mut().zip(dims) {
            match self.size_expr(d, params) {
                Some(e) => *slot = e,
                None => ok = false,
            }
        }
        ok.then_some(GridRule { dims: out })
    }

    fn size_expr(&mut self, e: &syn::Expr, params: &[Param]) -> Option<SizeExpr> {
        match e {
            syn::Expr::Paren(p) => self.size_expr(&p.expr, params),
            syn::Expr::Group(g) => self.size_expr(&g.expr, params),
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => match (i.base10_parse::<u64>(), i.suffix()) {
                (Ok(v), "" | "u32" | "u64" | "usize") => Some(SizeExpr::Const(v)),
                _ => {
                    self.err(i.span(), "expected a non-negative integer");
                    None
                }
            },
            syn::Expr::Path(p) if p.path.get_ident().is_some() && p.qself.is_none() => {
                let name = p.path.get_ident()?.unraw().to_string();
                if let Some(param) = params.iter().find(|q| q.name() == name) {
                    return match param {
                        Param::Scalar {
                            ty: DataType::U32 | DataType::I32,
                            ..
                        } => Some(SizeExpr::Scalar(name)),
                        Param::Scalar { ty, .. } => {
                            self.err(
                                p.span(),
                                format!("`{name}` is a `{ty}` parameter; a grid uses integer (`u32`, `i32`) parameters"),
                            );
                            None
                        }
                        Param::Buffer(_) => {
                            self.err(
                                p.span(),
                                format!(
                                    "`{name}` is a buffer; a grid uses its length, `{name}.len()`"
                                ),
                            );
                            None
                        }
                    };
                }
                match self.const_value(&name) {
                    Some(Some(Literal::U32(v))) => Some(SizeExpr::Const(u64::from(v))),
                    Some(Some(Literal::I32(v))) if v >= 0 => Some(SizeExpr::Const(v as u64)),
                    Some(Some(other)) => {
                        self.err(
                            p.span(),
                            format!("the constant `{name}` is {other:?}; a grid needs non-negative integers"),
                        );
                        None
                    }
                    // Reported where the constant is defined.
                    Some(None) => None,
                    None => {
                        self.err(
                            p.span(),
                            format!(
                                "cannot find `{name}`: not a parameter of the kernel or a constant"
                            ),
                        );
                        None
                    }
                }
            }
            syn::Expr::Binary(b) => {
                let op = match b.op {
                    syn::BinOp::Add(_) => SizeOp::Add,
                    syn::BinOp::Sub(_) => SizeOp::Sub,
                    syn::BinOp::Mul(_) => SizeOp::Mul,
                    syn::BinOp::Div(_) => SizeOp::Div,
                    syn::BinOp::Rem(_) => SizeOp::Rem,
                    _ => {
                        self.err(b.op.span(), GRID_FORM);
                        return None;
                    }
                };
                let l = self.size_expr(&b.left, params);
                let r = self.size_expr(&b.right, params);
                self.fold(op, l?, r?, e)
            }
            syn::Expr::MethodCall(m) if m.turbofish.is_none() => {
                let method = m.method.to_string();
                if method == "len" {
                    if !m.args.is_empty() {
                        self.err(m.args.span(), "`len()` takes no arguments");
                        return None;
                    }
                    let buf = match &*m.receiver {
                        syn::Expr::Path(p) => p.path.get_ident().map(|i| i.unraw().to_string()),
                        _ => None,
                    };
                    return match buf {
                        Some(n)
                            if params
                                .iter()
                                .any(|q| q.name() == n && matches!(q, Param::Buffer(_))) =>
                        {
                            Some(SizeExpr::Len(n))
                        }
                        _ => {
                            self.err(
                                m.receiver.span(),
                                "`.len()` is the length of a buffer parameter: `x.len()`",
                            );
                            None
                        }
                    };
                }
                let op = match method.as_str() {
                    "div_ceil" => SizeOp::DivCeil,
                    "min" => SizeOp::Min,
                    "max" => SizeOp::Max,
                    _ => {
                        self.err(
                            m.method.span(),
                            format!("`{method}` is not a grid method; {GRID_FORM}"),
                        );
                        return None;
                    }
                };
                if m.args.len() != 1 {
                    self.err(
                        m.method.span(),
                        format!("`.{method}(..)` takes one argument"),
                    );
                    return None;
                }
                let l = self.size_expr(&m.receiver, params);
                let r = self.size_expr(&m.args[0], params);
                self.fold(op, l?, r?, e)
            }
            other => {
                self.err(other.span(), GRID_FORM);
                None
            }
        }
    }

    /// `l op r`, computed now when both are constants (an error such as a
    /// division by zero is reported at `at`).
    fn fold(&mut self, op: SizeOp, l: SizeExpr, r: SizeExpr, at: &syn::Expr) -> Option<SizeExpr> {
        if let (SizeExpr::Const(a), SizeExpr::Const(b)) = (&l, &r) {
            return match op.apply(*a, *b) {
                Ok(v) => Some(SizeExpr::Const(v)),
                Err(m) => {
                    self.err(at.span(), format!("this grid dimension has no value: {m}"));
                    None
                }
            };
        }
        if r == SizeExpr::Const(0) && matches!(op, SizeOp::Div | SizeOp::Rem | SizeOp::DivCeil) {
            self.err(at.span(), "this grid dimension divides by zero");
            return None;
        }
        Some(SizeExpr::Binary(op, Box::new(l), Box::new(r)))
    }
}
