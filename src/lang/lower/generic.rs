//! Generic kernels: type parameters (`fn k<T>`), const parameters
//! (`fn k<const TILE: u32>`) and the `instances(name = (T = f32), ..)`
//! option of `#[kernel(...)]`. Each instance is lowered as an ordinary
//! kernel named `{kernel}_{name}`, with the parameters standing for the
//! instance's arguments (see [`GenericArgs`]).

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::file::{FileCx, GenericArgs, TYPES_ALLOWED, int_literal, int_range, is_kernel_attr};
use super::{Raw, Sp};
use crate::ir::{DataType, Literal};
use crate::lang::{GenericKernel, KernelInstance};

/// One parameter of a generic kernel.
enum GParam {
    /// `T`.
    Type(String),
    /// `const TILE: u32`.
    Const(String, DataType),
}

impl GParam {
    fn name(&self) -> &str {
        match self {
            GParam::Type(n) | GParam::Const(n, _) => n,
        }
    }
}

/// One instance as written: `bf16 = (T = bf16, TILE = 16)`.
struct InstanceSpec {
    name: syn::Ident,
    args: Vec<(syn::Ident, syn::Expr)>,
}

impl syn::parse::Parse for InstanceSpec {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let name = syn::Ident::parse_any(input)?;
        input.parse::<syn::Token![=]>()?;
        let content;
        syn::parenthesized!(content in input);
        let mut args = Vec::new();
        while !content.is_empty() {
            let param = syn::Ident::parse_any(&content)?;
            content.parse::<syn::Token![=]>()?;
            let value: syn::Expr = content.parse()?;
            args.push((param, value));
            if content.is_empty() {
                break;
            }
            content.parse::<syn::Token![,]>()?;
        }
        Ok(Self { name, args })
    }
}

/// How a `#[kernel]` fn is lowered.
pub(super) enum Plan {
    /// Not generic: one kernel named like the fn.
    Plain,
    /// Generic: one kernel per instance, with the arguments it stands for
    /// and the position of the instance's name.
    Instances(GenericKernel, Vec<(GenericArgs, Span)>),
    /// Already reported; nothing to lower.
    Failed,
}

const INSTANCES_FORM: &str = "`#[kernel(instances(f32 = (T = f32), bf16 = (T = bf16)))]` or `instances(small = (TILE = 16), big = (TILE = 32))`";

impl<'f> FileCx<'f> {
    /// Read the generic parameters and the `instances(...)` option of
    /// kernel `f`, reporting every inconsistency between them.
    pub(super) fn plan(&mut self, f: &'f syn::ItemFn) -> Plan {
        let kernel = f.sig.ident.unraw().to_string();
        let params = self.generic_params(f);
        let instances = self.instances_option(f);
        let tune = self.tune_option(f);
        let (params, instances, tune) = match (params, instances, tune) {
            (Some(p), Some(i), Some(t)) => (p, i, t),
            _ => return Plan::Failed,
        };
        if params.is_empty() {
            if let Some((span, _)) = tune {
                self.err(
                    span,
                    format!("`tune(...)` names const parameters of a generic kernel, but `{kernel}` has no generic parameters"),
                );
            }
            if let Some((span, _)) = instances {
                self.err(
                    span,
                    format!("`instances(...)` is for generic kernels (`pub fn {kernel}<T>(..)` or `pub fn {kernel}<const N: u32>(..)`), but `{kernel}` has no generic parameters"),
                );
            }
            return Plan::Plain;
        }
        let Some((_, specs)) = instances else {
            let names: Vec<&str> = params.iter().map(GParam::name).collect();
            self.err_notes(
                f.sig.generics.span(),
                format!(
                    "the generic kernel `{kernel}` needs the instances to build: add `instances(...)` to its `#[kernel(...)]` attribute, giving each of {} a value per instance",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                vec![format!("for example {INSTANCES_FORM}")],
            );
            return Plan::Failed;
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut gk = GenericKernel {
            name: kernel.clone(),
            type_params: Vec::new(),
            const_params: Vec::new(),
            instances: Vec::new(),
            tune: Vec::new(),
        };
        let mut ok = true;
        if let Some((_, names)) = &tune {
            for name in names {
                let n = name.unraw().to_string();
                if !params
                    .iter()
                    .any(|p| matches!(p, GParam::Const(c, _) if *c == n))
                {
                    self.err(
                        name.span(),
                        format!("`{n}` is not a const parameter of `{kernel}`; `tune(...)` names the const parameters (tile sizes, stages) whose instances solve the same problem"),
                    );
                    ok = false;
                } else if gk.tune.contains(&n) {
                    self.err(name.span(), format!("`{n}` is named twice in `tune(...)`"));
                    ok = false;
                } else {
                    gk.tune.push(n);
                }
            }
        }
        for p in &params {
            match p {
                GParam::Type(n) => gk.type_params.push(n.clone()),
                GParam::Const(n, _) => gk.const_params.push(n.clone()),
            }
        }
        let mut args_of = Vec::new();
        for spec in &specs {
            let suffix = spec.name.unraw().to_string();
            if !seen.insert(suffix.clone()) {
                self.err(
                    spec.name.span(),
                    format!("the instance `{suffix}` of `{kernel}` is listed twice; give each instance its own name"),
                );
                ok = false;
                continue;
            }
            let Some((types, consts)) = self.instance_args(&kernel, &params, spec) else {
                ok = false;
                continue;
            };
            args_of.push((
                GenericArgs {
                    kernel: kernel.clone(),
                    types: types.iter().cloned().collect(),
                    consts: consts.iter().cloned().collect(),
                },
                spec.name.span(),
            ));
            gk.instances.push(KernelInstance {
                kernel: format!("{kernel}_{suffix}"),
                suffix,
                types,
                consts,
            });
        }
        if ok {
            Plan::Instances(gk, args_of)
        } else {
            Plan::Failed
        }
    }

    /// The arguments of one instance, in parameter order: every parameter
    /// once, each with an argument of its kind.
    #[allow(clippy::type_complexity)]
    fn instance_args(
        &mut self,
        kernel: &str,
        params: &[GParam],
        spec: &InstanceSpec,
    ) -> Option<(Vec<(String, DataType)>, Vec<(String, Literal)>)> {
        let suffix = spec.name.unraw().to_string();
        let mut given: HashMap<String, &syn::Expr> = HashMap::new();
        let mut ok = true;
        for (param, value) in &spec.args {
            let pname = param.unraw().to_string();
            if !params.iter().any(|p| p.name() == pname) {
                let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name())).collect();
                self.err(
                    param.span(),
                    format!(
                        "`{pname}` is not a parameter of the generic kernel `{kernel}`, whose parameters are {}",
                        names.join(", ")
                    ),
                );
                ok = false;
            } else if given.insert(pname.clone(), value).is_some() {
                self.err(
                    param.span(),
                    format!("the instance `{suffix}` gives `{pname}` twice"),
                );
                ok = false;
            }
        }
        let mut types = Vec::new();
        let mut consts = Vec::new();
        for p in params {
            let Some(value) = given.get(p.name()) else {
                self.err(
                    spec.name.span(),
                    format!(
                        "the instance `{suffix}` of `{kernel}` gives no value for `{}`; write `{suffix} = ({} = ..)`",
                        p.name(),
                        p.name()
                    ),
                );
                ok = false;
                continue;
            };
            match p {
                GParam::Type(n) => match self.type_arg(n, value) {
                    Some(t) => types.push((n.clone(), t)),
                    None => ok = false,
                },
                GParam::Const(n, t) => match self.const_arg(n, *t, value) {
                    Some(v) => consts.push((n.clone(), v)),
                    None => ok = false,
                },
            }
        }
        ok.then_some((types, consts))
    }

    /// The type an instance gives type parameter `name`.
    fn type_arg(&mut self, name: &str, value: &syn::Expr) -> Option<DataType> {
        if let syn::Expr::Path(p) = value
            && p.qself.is_none()
            && let Some(id) = p.path.get_ident()
        {
            let text = id.unraw().to_string();
            if let Some(t) = DataType::from_name(&text) {
                return Some(t);
            }
            self.err(
                value.span(),
                format!(
                    "`{name}` is a type parameter, but `{text}` is not a type; {TYPES_ALLOWED}"
                ),
            );
            return None;
        }
        self.err(
            value.span(),
            format!(
                "`{name}` is a type parameter: give it a scalar type (`{name} = f32`), not a value"
            ),
        );
        None
    }

    /// The value an instance gives const parameter `name` of type `ty`: an
    /// integer or `bool` literal, or the name of a `const` of that type.
    fn const_arg(&mut self, name: &str, ty: DataType, value: &syn::Expr) -> Option<Literal> {
        let wrong_kind = |this: &mut Self, what: &str| {
            this.err(
                value.span(),
                format!("`{name}` is a const parameter of type `{ty}`: give it a value (`{name} = 16`, or a `const`), not {what}"),
            );
            None
        };
        let (neg, inner) = match value {
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => (true, &*u.expr),
            e => (false, e),
        };
        let lit = match inner {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => {
                if !ty.is_integer() {
                    self.err(
                        value.span(),
                        format!("`{name}` is a `{ty}`, but this is an integer"),
                    );
                    return None;
                }
                let suffix = i.suffix();
                if !suffix.is_empty() && suffix != ty.name() {
                    self.err(
                        value.span(),
                        format!("`{name}` is a `{ty}`, but this literal is a `{suffix}`"),
                    );
                    return None;
                }
                let v = i
                    .base10_parse::<u64>()
                    .ok()
                    .map(|v| if neg { -i128::from(v) } else { i128::from(v) });
                match v.and_then(|v| int_literal(v, ty)) {
                    Some(l) => l,
                    None => {
                        self.err(
                            value.span(),
                            format!(
                                "the value of `{name}` is out of range for `{ty}` (whose range is {})",
                                int_range(ty)
                            ),
                        );
                        return None;
                    }
                }
            }
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Bool(b),
                ..
            }) if !neg => Literal::Bool(b.value),
            syn::Expr::Path(p) if !neg && p.qself.is_none() && p.path.get_ident().is_some() => {
                let text = p.path.get_ident()?.unraw().to_string();
                if DataType::from_name(&text).is_some() {
                    return wrong_kind(self, &format!("the type `{text}`"));
                }
                match self.const_value(&text) {
                    Some(Some(l)) => l,
                    Some(None) => return None,
                    None => {
                        self.err(
                            value.span(),
                            format!("cannot find the constant `{text}` (the value of `{name}`)"),
                        );
                        return None;
                    }
                }
            }
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Float(_),
                ..
            }) => {
                self.err(
                    value.span(),
                    format!("`{name}` is a `{ty}`, but this is a float"),
                );
                return None;
            }
            _ => {
                return wrong_kind(
                    self,
                    "this expression (only literals and `const` names are allowed)",
                );
            }
        };
        if lit.ty() != ty {
            self.err(
                value.span(),
                format!("`{name}` is a `{ty}`, but this value is `{}`", lit.ty()),
            );
            return None;
        }
        Some(lit)
    }

    /// The generic parameters of kernel `f`, checked (`None`: reported).
    fn generic_params(&mut self, f: &'f syn::ItemFn) -> Option<Vec<GParam>> {
        let g = &f.sig.generics;
        let mut ok = true;
        if let Some(w) = &g.where_clause {
            self.err(
                w.span(),
                "`where` clauses are not supported; a kernel's type parameters take no bounds",
            );
            ok = false;
        }
        let mut out: Vec<GParam> = Vec::new();
        for p in &g.params {
            let param = match p {
                syn::GenericParam::Lifetime(l) => {
                    self.err(
                        l.span(),
                        "lifetime parameters are not supported; a kernel is generic over types (`<T>`) and constants (`<const N: u32>`) only",
                    );
                    ok = false;
                    continue;
                }
                syn::GenericParam::Type(t) => {
                    if !t.bounds.is_empty() || t.default.is_some() || !t.attrs.is_empty() {
                        self.err(
                            t.span(),
                            "a kernel's type parameters take no bounds, defaults or attributes: write `<T>`; each instance gives the type",
                        );
                        ok = false;
                        continue;
                    }
                    let name = t.ident.unraw().to_string();
                    if DataType::from_name(&name).is_some() {
                        self.err(
                            t.ident.span(),
                            format!("a type parameter cannot be named `{name}`, like a scalar type; use a name like `T`"),
                        );
                        ok = false;
                        continue;
                    }
                    GParam::Type(name)
                }
                syn::GenericParam::Const(c) => {
                    if c.default.is_some() || !c.attrs.is_empty() {
                        self.err(
                            c.span(),
                            "a kernel's const parameters take no defaults or attributes: write `<const N: u32>`; each instance gives the value",
                        );
                        ok = false;
                        continue;
                    }
                    let ty = match super::file::scalar_type(&c.ty) {
                        Ok(t) if t.is_integer() || t == DataType::Bool => t,
                        Ok(t) => {
                            self.err(
                                c.ty.span(),
                                format!("a const parameter is an integer or `bool`, not `{t}`"),
                            );
                            ok = false;
                            continue;
                        }
                        Err(m) => {
                            self.err(c.ty.span(), m);
                            ok = false;
                            continue;
                        }
                    };
                    GParam::Const(c.ident.unraw().to_string(), ty)
                }
            };
            if out.iter().any(|q| q.name() == param.name()) {
                self.err(
                    p.span(),
                    format!("the generic parameter `{}` is declared twice", param.name()),
                );
                ok = false;
                continue;
            }
            out.push(param);
        }
        ok.then_some(out)
    }

    /// The `tune(...)` option of kernel `f`'s attribute: the names it
    /// lists, `Some(None)` when there is none, `None` when malformed. It
    /// needs `grid = ..`: the launcher that picks an instance must also
    /// compute that instance's grid.
    #[allow(clippy::option_option)]
    fn tune_option(&mut self, f: &'f syn::ItemFn) -> Option<Option<(Span, Vec<syn::Ident>)>> {
        let mut found = None;
        let mut has_grid = false;
        let mut ok = true;
        for attr in f.attrs.iter().filter(|a| is_kernel_attr(a)) {
            // A malformed attribute is reported by `instances_option`.
            let Ok(options) = (match &attr.meta {
                syn::Meta::List(_) => attr.parse_args_with(
                    syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
                ),
                _ => Ok(syn::punctuated::Punctuated::new()),
            }) else {
                continue;
            };
            for meta in options {
                has_grid |= matches!(&meta, syn::Meta::NameValue(nv) if nv.path.is_ident("grid"));
                if !meta.path().is_ident("tune") {
                    continue;
                }
                let syn::Meta::List(l) = &meta else {
                    self.err(
                        meta.span(),
                        "write `tune(BN, STAGES)`: the const parameters the launcher may choose",
                    );
                    ok = false;
                    continue;
                };
                if found.is_some() {
                    self.err(
                        l.path.span(),
                        "`tune(...)` is given twice; name every parameter in one",
                    );
                    ok = false;
                    continue;
                }
                match l.parse_args_with(
                    syn::punctuated::Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated,
                ) {
                    Ok(names) if names.is_empty() => {
                        self.err(
                            l.span(),
                            "`tune(...)` names no parameter; write `tune(BN, STAGES)`",
                        );
                        ok = false;
                    }
                    Ok(names) => {
                        found = Some((l.path.span(), names.into_iter().collect::<Vec<_>>()))
                    }
                    Err(e) => {
                        self.err(
                            e.span(),
                            format!("malformed `tune(...)`: {e}; write `tune(BN, STAGES)`"),
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some((span, _)) = &found
            && !has_grid
        {
            self.err(
                *span,
                "`tune(...)` lets the generated launcher choose the instance, so it must also compute the instance's grid: add `grid = (..)` to `#[kernel(...)]`",
            );
            ok = false;
        }
        ok.then_some(found)
    }

    /// The `instances(...)` option of kernel `f`'s attribute: `Some(None)`
    /// when there is none, `None` when it (or the attribute) is malformed.
    #[allow(clippy::option_option)]
    fn instances_option(
        &mut self,
        f: &'f syn::ItemFn,
    ) -> Option<Option<(Span, Vec<InstanceSpec>)>> {
        let mut found = None;
        let mut ok = true;
        for attr in f.attrs.iter().filter(|a| is_kernel_attr(a)) {
            let Some(options) = self.kernel_options(attr) else {
                ok = false;
                continue;
            };
            for meta in options {
                let syn::Meta::List(l) = &meta else {
                    if meta.path().is_ident("instances") {
                        self.err(
                            meta.span(),
                            format!("write the instances as a list: {INSTANCES_FORM}"),
                        );
                        ok = false;
                    }
                    continue;
                };
                if !l.path.is_ident("instances") {
                    continue;
                }
                if found.is_some() {
                    self.err(
                        l.path.span(),
                        "`instances(...)` is given twice; list every instance in one",
                    );
                    ok = false;
                    continue;
                }
                let specs = l.parse_args_with(
                    syn::punctuated::Punctuated::<InstanceSpec, syn::Token![,]>::parse_terminated,
                );
                match specs {
                    Ok(specs) if specs.is_empty() => {
                        self.err(
                            l.span(),
                            format!(
                                "`instances(...)` lists no instance; for example {INSTANCES_FORM}"
                            ),
                        );
                        ok = false;
                    }
                    Ok(specs) => found = Some((l.path.span(), specs.into_iter().collect())),
                    Err(e) => {
                        self.errs.push(Raw {
                            sp: Sp::of(e.span()),
                            message: format!("malformed `instances(...)`: {e}"),
                            notes: vec![format!("write {INSTANCES_FORM}")],
                        });
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(found)
    }
}
