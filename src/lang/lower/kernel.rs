//! Kernels: signature, `#[kernel(...)]` and `#[locals(...)]` attributes,
//! and the body's lowering into a [`Program`].

use std::collections::HashMap;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::DEFAULT_WORKGROUP_SIZE;
use super::file::{FileCx, PType, is_kernel_attr};
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, FLocal, Loc};
use crate::ir::{BufRef, BufferDecl, DataType, Literal, LocalId, Param, ParamId, Program};

impl<'f> FileCx<'f> {
    /// Lower kernel `f`, named `name` (an instance's name) or as in the
    /// source.
    pub(super) fn kernel(&mut self, f: &'f syn::ItemFn, name: Option<String>) -> Option<Program> {
        let before = self.errs.len();
        self.check_signature_shape(f, true);
        let name = name.unwrap_or_else(|| f.sig.ident.unraw().to_string());
        let mut program = Program::new(name, [DEFAULT_WORKGROUP_SIZE, 1, 1]);
        let mut doc_lines = Vec::new();
        let mut flat: Option<Vec<FlatLocal>> = None;
        let mut ws_span = f.sig.ident.span();
        let mut grid = None;
        let mut kernel_attrs = 0;
        for attr in &f.attrs {
            if attr.path().is_ident("doc") {
                match &attr.meta {
                    syn::Meta::NameValue(nv) => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => {
                            let v = s.value();
                            doc_lines.push(v.strip_prefix(' ').unwrap_or(&v).to_string());
                        }
                        other => self.err(other, "a doc attribute must be a string literal"),
                    },
                    _ => self.err(attr.span(), "malformed doc attribute"),
                }
            } else if is_kernel_attr(attr) {
                if kernel_attrs > 0 {
                    self.err(
                        attr.span(),
                        "`#[kernel]` is given twice; put every option in one `#[kernel(...)]`",
                    );
                    continue;
                }
                kernel_attrs += 1;
                ws_span = attr.span();
                grid = grid.or(self.kernel_attr(attr, &mut program));
            } else if attr.path().is_ident("locals") {
                flat = self.locals_attr(attr);
            } else if attr.path().is_ident("allow") || attr.path().is_ident("inline") {
            } else {
                self.err(
                    attr.span(),
                    format!(
                        "unknown attribute `#[{}]` on a kernel; use `#[kernel(workgroup_size = N, unchecked, fast_math)]`, `#[locals(..)]`, `#[inline]`, `#[allow(..)]` and doc comments",
                        super::stmt::attr_name(attr)
                    ),
                );
            }
        }
        program.doc = doc_lines.join("\n");
        if let syn::ReturnType::Type(_, t) = &f.sig.output
            && !matches!(&**t, syn::Type::Tuple(tt) if tt.elems.is_empty())
        {
            self.err(
                t.span(),
                "kernels return nothing; write results into a `&mut [T]` buffer parameter",
            );
        }
        let mut kx = Kx::new(self, false);
        kx.ws_span = ws_span;
        kx.scopes.push(HashMap::new());
        for arg in &f.sig.inputs {
            let syn::FnArg::Typed(pt) = arg else {
                kx.fx.err(arg.span(), "kernels cannot take `self`");
                continue;
            };
            for a in &pt.attrs {
                kx.fx.err(
                    a.span(),
                    format!(
                        "unknown attribute `#[{}]` on a parameter; parameters take no attributes",
                        super::stmt::attr_name(a)
                    ),
                );
            }
            let Some((pname, mutable)) = kx.fx.pat_ident(&pt.pat) else {
                continue;
            };
            if mutable {
                kx.fx.err(
                    pt.pat.span(),
                    "kernel parameters cannot be `mut`; copy the value into a `let mut` local",
                );
            }
            let id = kx.params.len() as ParamId;
            let param = match kx.fx.param_ty(&pt.ty) {
                Ok(PType::Scalar(ty)) => {
                    kx.bind(&pname, Bind::Param(id));
                    Param::Scalar {
                        name: pname.clone(),
                        ty,
                    }
                }
                Ok(PType::Buf(elem, access)) => {
                    kx.bind(&pname, Bind::Buf(BufRef::Param(id)));
                    Param::Buffer(BufferDecl {
                        name: pname.clone(),
                        elem,
                        access,
                    })
                }
                Err(m) => {
                    kx.fx.err(pt.ty.span(), m);
                    continue;
                }
            };
            if !kx.used.insert(pname.clone()) {
                kx.fx.err(
                    pt.pat.span(),
                    format!("the parameter `{pname}` is declared twice"),
                );
            }
            kx.params.push(param);
            kx.param_loc.push(pt.span());
        }
        if let Some(list) = flat {
            let mut map = HashMap::new();
            for l in list {
                if map.contains_key(&l.src) || kx.used.contains(&l.src) {
                    kx.fx.err(l.span, format!("`{}` is declared twice", l.src));
                    continue;
                }
                map.insert(l.src.clone(), kx.locals.len() as LocalId);
                kx.used.insert(l.src);
                kx.used.insert(l.name.clone());
                kx.locals.push(FLocal {
                    name: l.name,
                    ty: Ty::K(l.ty),
                    mutable: l.mutable,
                    loc: Loc::Span(l.span),
                });
            }
            kx.flat = Some(map);
        }
        let mut body = Vec::new();
        kx.top_block = true;
        kx.scopes.push(HashMap::new());
        kx.stmts(&f.block.stmts, &mut body, false);
        kx.scopes.pop();
        program.params = std::mem::take(&mut kx.params);
        if let Some(value) = grid
            && let Some(rule) = kx.fx.grid_rule(&value, &program.params)
        {
            kx.fx.grids.insert(program.name.clone(), rule);
        }
        let out = super::finish::kernel(&mut kx, program, &body);
        if kx.fx.errs.len() > before {
            return None;
        }
        if let Some(p) = &out
            && !kx.debug_sites.is_empty()
        {
            let sites = std::mem::take(&mut kx.debug_sites);
            kx.fx.debug_sites.insert(p.name.clone(), sites);
        }
        out
    }

    /// The options of a `#[kernel(...)]` attribute (reported and `None`
    /// when malformed; empty for a plain `#[kernel]`).
    pub(super) fn kernel_options(
        &mut self,
        attr: &syn::Attribute,
    ) -> Option<syn::punctuated::Punctuated<syn::Meta, syn::Token![,]>> {
        let list = match &attr.meta {
            syn::Meta::Path(_) => return Some(syn::punctuated::Punctuated::new()),
            syn::Meta::List(_) => attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
            ),
            syn::Meta::NameValue(nv) => {
                self.err(nv.span(), "write `#[kernel(workgroup_size = 256)]`");
                return None;
            }
        };
        match list {
            Ok(l) => Some(l),
            Err(e) => {
                self.err(
                    e.span(),
                    format!("malformed `#[kernel(...)]`: {e}; expected e.g. `#[kernel(workgroup_size = 256, unchecked)]`"),
                );
                None
            }
        }
    }

    /// Apply the options of `#[kernel(...)]` to `program`; returns the
    /// value of `grid = ..`, lowered once the parameters are known.
    fn kernel_attr(
        &mut self,
        attr: &'f syn::Attribute,
        program: &mut Program,
    ) -> Option<syn::Expr> {
        let list = self.kernel_options(attr)?;
        let mut grid = None;
        let mut workgroup_size_given = false;
        // The attribute's tokens are re-parsed into owned trees, so only
        // literals and constant names are accepted as dimensions.
        for meta in list {
            match &meta {
                syn::Meta::Path(p) if p.is_ident("unchecked") => program.unchecked = true,
                syn::Meta::Path(p) if p.is_ident("fast_math") => program.fast_math = true,
                // Read (and checked) before the kernel is lowered.
                syn::Meta::List(l) if l.path.is_ident("instances") || l.path.is_ident("tune") => {}
                syn::Meta::NameValue(nv) if nv.path.is_ident("grid") => {
                    if grid.is_some() {
                        self.err(nv.path.span(), "`grid` is given twice");
                    }
                    grid = Some(nv.value.clone());
                }
                syn::Meta::NameValue(nv) if nv.path.is_ident("workgroup_size") => {
                    if workgroup_size_given {
                        self.err(nv.path.span(), "`workgroup_size` is given twice");
                        continue;
                    }
                    workgroup_size_given = true;
                    let span = nv.value.span();
                    let dims: Vec<&syn::Expr> = match &nv.value {
                        syn::Expr::Tuple(t) => t.elems.iter().collect(),
                        syn::Expr::Paren(p) => vec![&*p.expr],
                        e => vec![e],
                    };
                    if dims.is_empty() || dims.len() > 3 {
                        self.err(
                            span,
                            "`workgroup_size` takes 1 to 3 dimensions: `256`, `(16, 16)` or `(8, 8, 4)`",
                        );
                        continue;
                    }
                    let mut ws = [1u32; 3];
                    for (i, d) in dims.iter().enumerate() {
                        match self.eval_owned_const(d) {
                            Some(Literal::U32(v)) => ws[i] = v,
                            Some(Literal::I32(v)) if v >= 0 => ws[i] = v as u32,
                            Some(_) => self.err(
                                d.span(),
                                "a workgroup size dimension must be a non-negative integer constant",
                            ),
                            None => {}
                        }
                    }
                    program.workgroup_size = ws;
                }
                other => {
                    let what = other.path().get_ident().map(ToString::to_string);
                    self.err(
                        other.span(),
                        format!(
                            "unknown kernel option{}; allowed: `workgroup_size = N | (X, Y) | (X, Y, Z)`, `grid = N | (X, Y) | (X, Y, Z)` (workgroups, from the arguments), `unchecked`, `fast_math`, `instances(name = (T = f32, N = 4), ..)` and `tune(N, ..)` (generic kernels)",
                            what.map(|w| format!(" `{w}`")).unwrap_or_default()
                        ),
                    );
                }
            }
        }
        grid
    }

    /// Evaluate a constant expression that is not part of the file's tree
    /// (re-parsed attribute arguments): integers and constant names only.
    fn eval_owned_const(&mut self, e: &syn::Expr) -> Option<Literal> {
        match e {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => match (i.base10_parse::<u32>(), i.suffix()) {
                (Ok(v), "" | "u32") => Some(Literal::U32(v)),
                _ => {
                    self.err(i.span(), "expected a `u32` integer");
                    None
                }
            },
            syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                let name = p.path.get_ident()?.unraw().to_string();
                match self.const_value(&name) {
                    Some(v) => v,
                    None => {
                        self.err(p.span(), format!("cannot find constant `{name}`"));
                        None
                    }
                }
            }
            other => {
                self.err(
                    other.span(),
                    "expected an integer literal or the name of a `const`",
                );
                None
            }
        }
    }

    /// `#[locals(i: u32, mut acc: f32, l7 = "odd name": u32)]`: each entry
    /// is the identifier used in the body, optionally the local's IR name
    /// (when it is not a usable identifier or clashes with a parameter),
    /// and its type.
    fn locals_attr(&mut self, attr: &syn::Attribute) -> Option<Vec<FlatLocal>> {
        struct Spec(
            Option<syn::Token![mut]>,
            syn::Ident,
            Option<syn::LitStr>,
            syn::Type,
        );
        impl syn::parse::Parse for Spec {
            fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
                let m = input.parse()?;
                let id = syn::Ident::parse_any(input)?;
                let name = if input.peek(syn::Token![=]) {
                    input.parse::<syn::Token![=]>()?;
                    Some(input.parse()?)
                } else {
                    None
                };
                input.parse::<syn::Token![:]>()?;
                Ok(Spec(m, id, name, input.parse()?))
            }
        }
        let list = attr
            .parse_args_with(syn::punctuated::Punctuated::<Spec, syn::Token![,]>::parse_terminated);
        match list {
            Err(e) => {
                self.err(
                    e.span(),
                    format!("malformed `#[locals(...)]`: {e}; expected `#[locals(i: u32, mut acc: f32)]`"),
                );
                None
            }
            Ok(list) => {
                let mut out = Vec::new();
                for Spec(m, id, name, ty) in list {
                    match self.scalar_ty(&ty) {
                        Ok(t) => {
                            let src = id.unraw().to_string();
                            out.push(FlatLocal {
                                name: name.map_or_else(|| src.clone(), |n| n.value()),
                                src,
                                ty: t,
                                mutable: m.is_some(),
                                span: id.span(),
                            });
                        }
                        Err(msg) => self.err(ty.span(), msg),
                    }
                }
                Some(out)
            }
        }
    }
}

/// One entry of `#[locals(...)]`.
struct FlatLocal {
    /// The identifier the body uses.
    src: String,
    /// The local's name in the IR.
    name: String,
    ty: DataType,
    mutable: bool,
    span: Span,
}
