//! The `#[shared]` attribute of a `let`: `#[shared]` (a linear array) or
//! `#[shared(swizzled, cols = C)]` ([`SharedLayout::Swizzled`], `C` a
//! constant expression: a literal, a `const`, a const parameter of the
//! kernel or `{ expression }` of them).
//!
//! The arguments of an attribute are tokens that `syn` re-parses into
//! owned trees, but a constant is evaluated on trees of the file (its
//! diagnostics point into them). So every `#[shared(..)]` of a file is
//! parsed once, before lowering, into [`SharedArgs`], which lives as long
//! as the file's tree; `cols` is then evaluated like an array length.

use std::collections::HashMap;

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

use super::stmt::Kx;
use crate::ir::{DataType, Literal, SharedLayout};

/// The parsed arguments of one `#[shared(..)]`.
type Args = syn::Result<Punctuated<syn::Meta, syn::Token![,]>>;

/// The parsed arguments of every `#[shared(..)]` on a `let` of a file, by
/// the address of the attribute in the file's tree.
#[derive(Default)]
pub(crate) struct SharedArgs(HashMap<usize, Args>);

impl SharedArgs {
    /// Parse the arguments of every `#[shared(..)]` of `file`.
    pub(crate) fn collect(file: &syn::File) -> Self {
        struct V(HashMap<usize, Args>);
        impl<'ast> syn::visit::Visit<'ast> for V {
            fn visit_local(&mut self, l: &'ast syn::Local) {
                for a in &l.attrs {
                    if a.path().is_ident("shared") && matches!(a.meta, syn::Meta::List(_)) {
                        self.0
                            .insert(key(a), a.parse_args_with(Punctuated::parse_terminated));
                    }
                }
                syn::visit::visit_local(self, l);
            }
        }
        let mut v = V(HashMap::new());
        syn::visit::visit_file(&mut v, file);
        Self(v.0)
    }
}

/// The key of an attribute in [`SharedArgs`].
fn key(a: &syn::Attribute) -> usize {
    std::ptr::from_ref(a) as usize
}

/// The two forms, for diagnostics.
const FORMS: &str = "`#[shared]` (a plain array) or `#[shared(swizzled, cols = C)]` (a row-major matrix of `C` columns, stored as the tensor cores read it)";

impl<'f> Kx<'_, 'f> {
    /// The layout a `#[shared]` or `#[shared(..)]` attribute gives (`None`
    /// after a diagnostic).
    pub(super) fn shared_layout(&mut self, a: &'f syn::Attribute) -> Option<SharedLayout> {
        if matches!(a.meta, syn::Meta::Path(_)) {
            return Some(SharedLayout::Linear);
        }
        let all: Option<&'f SharedArgs> = self.fx.shared_args;
        let Some(parsed) = all.and_then(|all| all.0.get(&key(a))) else {
            // Every `#[shared(..)]` of the file was parsed before lowering.
            self.err(
                a.span(),
                format!(
                    "internal error: the arguments of this attribute were not parsed; write {FORMS}"
                ),
            );
            return None;
        };
        let args = match parsed {
            Ok(args) => args,
            Err(e) => {
                self.err(
                    e.span(),
                    format!("malformed `#[shared(..)]`: {e}; write {FORMS}"),
                );
                return None;
            }
        };
        let mut swizzled = None;
        let mut cols: Option<&'f syn::MetaNameValue> = None;
        let mut ok = true;
        for meta in args {
            match meta {
                syn::Meta::Path(p) if p.is_ident("swizzled") => {
                    if swizzled.replace(p).is_some() {
                        self.err(p.span(), "`swizzled` is given twice");
                        ok = false;
                    }
                }
                syn::Meta::NameValue(nv) if nv.path.is_ident("cols") => {
                    if cols.replace(nv).is_some() {
                        self.err(nv.span(), "`cols` is given twice");
                        ok = false;
                    }
                }
                other => {
                    let what = other
                        .path()
                        .get_ident()
                        .map(|w| format!(" `{w}`"))
                        .unwrap_or_default();
                    self.err(
                        other.span(),
                        format!(
                            "unknown `#[shared]` argument{what}; the arguments are `swizzled` and `cols = C`: {FORMS}"
                        ),
                    );
                    ok = false;
                }
            }
        }
        match (swizzled, cols) {
            (None, None) if ok => Some(SharedLayout::Linear),
            (None, Some(nv)) => {
                self.err(
                    nv.span(),
                    "`cols` is the row length of a swizzled array: write `#[shared(swizzled, cols = C)]`",
                );
                None
            }
            (Some(_), None) => {
                self.err(
                    a.span(),
                    "a swizzled array needs its row length: `#[shared(swizzled, cols = C)]`",
                );
                None
            }
            (Some(_), Some(nv)) if ok => {
                let cols = self.shared_cols(&nv.value)?;
                Some(SharedLayout::Swizzled { cols })
            }
            _ => None,
        }
    }

    /// The `C` of `cols = C`: a positive integer constant.
    fn shared_cols(&mut self, e: &'f syn::Expr) -> Option<u32> {
        if let Some(n) = self.runtime_name(e) {
            self.err(
                e,
                format!("`cols` must be a constant (a literal, a `const` or a const parameter of the kernel), but `{n}` is a run-time value"),
            );
            return None;
        }
        match self.fx.eval_const_expr(e, None)? {
            Literal::U32(v) if v > 0 => Some(v),
            Literal::I32(v) if v > 0 => Some(v.cast_unsigned()),
            l => {
                self.err(
                    e,
                    format!(
                        "`cols` must be a positive integer constant, but this is {}",
                        match l {
                            Literal::U32(_) | Literal::I32(_) => "not positive".to_string(),
                            l => format!("`{}`", l.ty()),
                        }
                    ),
                );
                None
            }
        }
    }

    /// Report why `layout` cannot hold `len` elements of `elem` (at the
    /// attribute `a`); whether it can.
    pub(super) fn check_shared_layout(
        &mut self,
        a: &'f syn::Attribute,
        layout: SharedLayout,
        elem: DataType,
        len: u32,
    ) -> bool {
        match layout.problem(elem.size_bytes(), len) {
            None => true,
            Some(problem) => {
                self.err(a.span(), problem);
                false
            }
        }
    }
}
