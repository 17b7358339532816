//! Typed entry points of generic kernels.
//!
//! A generic kernel (`fn scale<T>(a: f32, x: &[T], y: &mut [T])` with
//! `instances(f32 = (T = f32), bf16 = (T = bf16))`) becomes one ordinary
//! kernel per instance (`scale_f32`, `scale_bf16`), each with its own
//! launcher. When it has exactly one type parameter, no const parameter and
//! instances of distinct types, this module adds a generic entry over the
//! element type:
//!
//! ```ignore
//! pub trait ScaleElem: __scale_elem::Sealed {}          // f32, vyre::half::bf16
//! pub fn scale<T: ScaleElem>(device: &vyre::Device, grid: vyre::Grid, a: f32,
//!     x: &vyre::Buffer<T>, y: &mut vyre::Buffer<T>) -> vyre::Result<()>;
//! ```
//!
//! `scale::<vyre::half::bf16>(...)` calls `scale_bf16(...)`. The trait is
//! sealed: its launch method lives on a supertrait in a private module, so
//! only the instances' element types implement it.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::quote;
use vyre::ir::{DataType, Literal, Param, Program};

use crate::Error;
use crate::codegen::{
    GenKernel, UNCHECKED_SAFETY_DOC, arg_ident, doc_attrs, host_type, ident, param_type,
};

/// A generic kernel as the launcher module needs it: the shape of
/// `vyre::lang::GenericKernel`, without the const arguments' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenGeneric {
    /// The generic kernel's name (`scale`).
    pub name: String,
    /// Its type parameters (`["T"]`).
    pub type_params: Vec<String>,
    /// Its const parameters.
    pub const_params: Vec<String>,
    /// Its instances, in source order.
    pub instances: Vec<GenInstance>,
    /// The const parameters the dispatching entry chooses (`tune(..)`).
    pub tune: Vec<String>,
}

/// One instance of a [`GenGeneric`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenInstance {
    /// The instance's kernel (`scale_bf16`), one of the file's kernels.
    pub kernel: String,
    /// The instance's name in `instances(...)` (`bf16`).
    pub suffix: String,
    /// The type arguments (`[("T", BF16)]`).
    pub types: Vec<(String, DataType)>,
    /// The const arguments (`[("BN", U32(128))]`).
    pub consts: Vec<(String, Literal)>,
}

impl From<&vyre::lang::GenericKernel> for GenGeneric {
    fn from(g: &vyre::lang::GenericKernel) -> Self {
        Self {
            name: g.name.clone(),
            type_params: g.type_params.clone(),
            const_params: g.const_params.clone(),
            instances: g
                .instances
                .iter()
                .map(|i| GenInstance {
                    kernel: i.kernel.clone(),
                    suffix: i.suffix.clone(),
                    types: i.types.clone(),
                    consts: i.consts.clone(),
                })
                .collect(),
            tune: g.tune.clone(),
        }
    }
}

/// A kernel name without a raw-identifier prefix.
fn plain(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// `scale_rows` -> `ScaleRows`.
pub(crate) fn upper_camel(name: &str) -> String {
    plain(name)
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}

/// The items a generic kernel adds to its module: the entry function, the
/// trait and the private module (for collision checks).
pub(crate) fn generic_item_names(g: &GenGeneric) -> [String; 3] {
    [
        plain(&g.name).to_string(),
        format!("{}Elem", upper_camel(&g.name)),
        format!("__{}_elem", plain(&g.name)),
    ]
}

/// The instances' (kernel, element type) when `g` gets a typed entry: one
/// type parameter, no const parameter, at least one instance, distinct
/// types and none of them `bool` (not a buffer element).
fn typed_instances(g: &GenGeneric) -> Option<Vec<(&str, DataType)>> {
    let [param] = g.type_params.as_slice() else {
        return None;
    };
    if !g.const_params.is_empty() || g.instances.is_empty() {
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for inst in &g.instances {
        let [(name, ty)] = inst.types.as_slice() else {
            return None;
        };
        if name != param || *ty == DataType::Bool || !seen.insert(*ty) {
            return None;
        }
        out.push((inst.kernel.as_str(), *ty));
    }
    Some(out)
}

/// A parameter of the typed entry: the instances' parameter at this
/// position, of type `T` or of one fixed type.
pub(crate) struct EntryParam<'p> {
    /// The parameter in the first instance.
    pub param: &'p Param,
    /// Whether its type (value or element) is `T`.
    pub generic: bool,
}

/// The value (scalar) or element (buffer) type of `p`.
pub(crate) fn value_type(p: &Param) -> DataType {
    match p {
        Param::Buffer(b) => b.elem,
        Param::Scalar { ty, .. } => *ty,
    }
}

/// Whether `a` and `b` are the same parameter but for the value type.
fn same_shape(a: &Param, b: &Param) -> bool {
    a.name() == b.name()
        && match (a, b) {
            (Param::Buffer(x), Param::Buffer(y)) => x.access == y.access,
            (Param::Scalar { .. }, Param::Scalar { .. }) => true,
            _ => false,
        }
}

/// The typed entry's parameters, when the instances' signatures are one
/// signature with `T` substituted: a position is `T` when every instance
/// has its own type argument there (with a single instance, or instances
/// of one type, every position of the argument's type is taken as `T`),
/// else it must have one type in all instances. An instance's argument is
/// `None` for a kernel without a type parameter (no position is `T`).
pub(crate) fn unify<'p>(
    instances: &[(&'p Program, Option<DataType>)],
) -> Option<Vec<EntryParam<'p>>> {
    let (first, _) = instances[0];
    // The rings of a debug build come last and are not the caller's.
    let shown = |p: &Program| p.params.iter().filter(|q| !q.is_debug_ring()).count();
    if instances.iter().any(|(p, _)| shown(p) != shown(first)) {
        return None;
    }
    let mut out = Vec::new();
    for (j, param) in first.params.iter().enumerate().take(shown(first)) {
        let mut generic = true;
        let mut fixed = true;
        for (p, ty) in instances {
            if !same_shape(&p.params[j], param) {
                return None;
            }
            let vt = value_type(&p.params[j]);
            generic &= Some(vt) == *ty;
            fixed &= vt == value_type(param);
        }
        if !generic && !fixed {
            return None;
        }
        out.push(EntryParam { param, generic });
    }
    Some(out)
}

/// The generic entry of `g` (nothing when it does not get one, see
/// [`typed_instances`], or when its instances' signatures differ by more
/// than the type argument).
///
/// # Errors
///
/// [`Error::Codegen`] when an instance names no kernel of the file.
pub(crate) fn generic_tokens(
    krate: &TokenStream,
    g: &GenGeneric,
    kernels: &[GenKernel<'_>],
) -> Result<TokenStream, Error> {
    let Some(typed) = typed_instances(g) else {
        return Ok(TokenStream::new());
    };
    let mut instances: Vec<(&Program, DataType)> = Vec::new();
    for (kernel, ty) in typed {
        // Instances that compute their grid get the dispatching entry
        // (`crate::dispatch`) instead.
        if kernels
            .iter()
            .any(|k| k.grid.is_some() && plain(&k.program.name) == plain(kernel))
        {
            return Ok(TokenStream::new());
        }
        let program = kernels
            .iter()
            .map(|k| k.program)
            .find(|p| plain(&p.name) == plain(kernel))
            .ok_or_else(|| Error::Codegen {
                target: "(all)".to_string(),
                message: format!(
                    "instance `{kernel}` of generic kernel `{}` is not a kernel of its file",
                    g.name
                ),
            })?;
        instances.push((program, ty));
    }
    let with_types: Vec<(&Program, Option<DataType>)> =
        instances.iter().map(|(p, t)| (*p, Some(*t))).collect();
    let Some(params) = unify(&with_types) else {
        return Ok(TokenStream::new());
    };
    let first = instances[0].0;
    if instances
        .iter()
        .any(|(p, _)| p.unchecked != first.unchecked)
    {
        return Ok(TokenStream::new());
    }

    let [fn_name, trait_name, sealed] = generic_item_names(g).map(|n| ident(&n));
    let t = ident(&g.type_params[0]);
    let t_tokens = quote!(#t);
    let self_tokens = quote!(Self);
    let sig = |elem: &TokenStream| -> Vec<TokenStream> {
        params
            .iter()
            .map(|ep| {
                let name = arg_ident(&first.params, ep.param.name());
                let host = if ep.generic {
                    elem.clone()
                } else {
                    host_type(krate, value_type(ep.param))
                };
                let ty = param_type(krate, ep.param, &host);
                quote!(#name: #ty)
            })
            .collect()
    };
    let args: Vec<_> = params
        .iter()
        .map(|ep| arg_ident(&first.params, ep.param.name()))
        .collect();
    let entry_sig = sig(&t_tokens);
    let launch_sig = sig(&self_tokens);
    let (unsafety, call_wrap): (TokenStream, fn(TokenStream) -> TokenStream) = if first.unchecked {
        (quote!(unsafe), |call| quote!(unsafe { #call }))
    } else {
        (quote!(), |call| call)
    };

    let mut impls = TokenStream::new();
    let mut public_impls = TokenStream::new();
    let mut listing = Vec::new();
    for (program, ty) in &instances {
        let host = host_type(krate, *ty);
        let name = plain(&program.name);
        let launcher = ident(name);
        let call = call_wrap(quote!(super::#launcher(device, grid, #(#args),*)));
        let doc = format!(" Launches [`super::{name}`].");
        impls.extend(quote! {
            impl Sealed for #host {
                #[doc = #doc]
                #unsafety fn launch(
                    device: &#krate::Device,
                    grid: #krate::Grid,
                    #(#launch_sig),*
                ) -> #krate::Result<()> {
                    #call
                }
            }
        });
        public_impls.extend(quote!(impl #trait_name for #host {}));
        listing.push(format!("`{ty}` ([`{name}`])"));
    }

    let entry_call = call_wrap(quote!(<#t as #sealed::Sealed>::launch(device, grid, #(#args),*)));
    let gname = plain(&g.name);
    let type_list = listing.join(", ");
    let mut docs = doc_attrs(&first.doc);
    if !docs.is_empty() {
        docs.push(quote!(#[doc = ""]));
    }
    docs.extend(doc_attrs(&format!(
        "Generic over the element type `{t}`, one of {type_list}: calls the\nlauncher of `{t}`'s instance."
    )));
    if first.unchecked {
        docs.push(quote!(#[doc = ""]));
        docs.extend(doc_attrs(UNCHECKED_SAFETY_DOC));
    }
    let trait_doc = format!(" The element types `{t}` of [`{gname}`] (sealed): {type_list}.");
    let sealed_doc =
        format!(" The sealed supertrait of `{trait_name}`, which launches its instance.");
    Ok(quote! {
        #[doc = #trait_doc]
        pub trait #trait_name: #sealed::Sealed {}

        #public_impls

        #[doc = #sealed_doc]
        mod #sealed {
            /// Implemented for each instance's element type.
            pub trait Sealed: #krate::Element {
                /// Launch the instance for `Self`.
                #unsafety fn launch(
                    device: &#krate::Device,
                    grid: #krate::Grid,
                    #(#launch_sig),*
                ) -> #krate::Result<()>;
            }

            #impls
        }

        #(#docs)*
        pub #unsafety fn #fn_name<#t: #trait_name>(
            device: &#krate::Device,
            grid: #krate::Grid,
            #(#entry_sig),*
        ) -> #krate::Result<()> {
            #entry_call
        }
    })
}
