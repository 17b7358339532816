//! The dispatching entry of a generic kernel whose instances compute their
//! own grid (`grid = (..)`), and its tuning function.
//!
//! For `attention<T, const D: u32, const CAUSAL: u32, const BKV: u32>`
//! with `tune(BKV)`, instances that agree on `T`, `D` and `CAUSAL` solve
//! the same problem and differ only in how (a group). The module gets
//!
//! ```ignore
//! pub fn attention<T: AttentionElem, const D: u32, const CAUSAL: u32>(
//!     device: &vyre::Device, seq: u32, scale: f32, q: &vyre::Buffer<T>, ..) -> vyre::Result<()>;
//! pub fn attention_tune<T: AttentionElem, const D: u32, const CAUSAL: u32>(
//!     device: &vyre::Device, seq: u32, ..) -> vyre::Result<vyre::runtime::tune::TuneRecord>;
//! ```
//!
//! The entry finds the group of `(T, D, CAUSAL)` and launches the
//! instance the tuning table (`vyre-tune.toml`, compiled in as
//! `TuneChoice`s) names for the device's architecture and the nearest
//! problem size, or the group's first instance. `attention_tune` times
//! every instance of the group on the given arguments and returns the
//! record to put in the table.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use vyre::ir::{DataType, Literal, Param, Program};
use vyre::lang::{GridRule, SizeExpr};
use vyre::runtime::tune::TuneRecord;

use crate::Error;
use crate::codegen::{GenKernel, UNCHECKED_SAFETY_DOC, arg_ident, doc_attrs, host_type, ident};
use crate::generic::{GenGeneric, unify, upper_camel, value_type};

/// The tuning table the generated module compiles in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table<'a> {
    /// The file, as messages name it (`kernels/vyre-tune.toml`).
    pub display: &'a str,
    /// Its records.
    pub records: &'a [TuneRecord],
}

/// The items a dispatching entry adds to its module (for collision
/// checks): entry, tuning function, element trait, private module.
pub(crate) fn dispatch_item_names(g: &GenGeneric) -> [String; 4] {
    let name = g.name.strip_prefix("r#").unwrap_or(&g.name);
    [
        name.to_string(),
        format!("{name}_tune"),
        format!("{}Elem", upper_camel(name)),
        format!("__{name}_elem"),
    ]
}

/// The tokens computing `e` with the `GridArith` named `__g`.
fn size_tokens(krate: &TokenStream, e: &SizeExpr, params: &[Param]) -> TokenStream {
    match e {
        SizeExpr::Const(v) => {
            let v = proc_macro2::Literal::u64_suffixed(*v);
            quote!(#v)
        }
        SizeExpr::Scalar(name) => {
            let arg = arg_ident(params, name);
            quote!(__g.arg(#name, i64::from(#arg)))
        }
        SizeExpr::Len(name) => {
            let arg = arg_ident(params, name);
            quote!(u64::try_from(#arg.len()).unwrap_or(u64::MAX))
        }
        SizeExpr::Binary(op, a, b) => {
            let a = size_tokens(krate, a, params);
            let b = size_tokens(krate, b, params);
            let op = format_ident!("{op:?}");
            quote!(__g.op(#krate::ir::SizeOp::#op, #a, #b))
        }
    }
}

/// The statements that bind `grid` for kernel `name` from its rule, or
/// return `Ok(())` for an empty problem.
pub(crate) fn grid_tokens(
    krate: &TokenStream,
    name: &str,
    rule: &GridRule,
    params: &[Param],
) -> TokenStream {
    let text = rule.to_string();
    let [x, y, z] = &rule.dims;
    let [x, y, z] = [x, y, z].map(|d| size_tokens(krate, d, params));
    quote! {
        let __g = #krate::runtime::GridArith::new(#name, #text);
        let __dims = [#x, #y, #z];
        let Some(grid) = __g.finish(__dims)? else {
            return Ok(());
        };
    }
}

/// The size key of a kernel's problem: its integer scalar parameters, then
/// its buffers' lengths, in parameter order.
fn size_key(params: &[Param]) -> Vec<(&str, TokenStream)> {
    let mut out = Vec::new();
    for p in params {
        if let Param::Scalar { name, ty } = p
            && matches!(ty, DataType::U32 | DataType::I32)
        {
            let arg = arg_ident(params, name);
            out.push((name.as_str(), quote!(u64::try_from(#arg).unwrap_or(0))));
        }
    }
    for p in params {
        if let Param::Buffer(b) = p {
            let arg = arg_ident(params, &b.name);
            out.push((
                b.name.as_str(),
                quote!(u64::try_from(#arg.len()).unwrap_or(u64::MAX)),
            ));
        }
    }
    out
}

/// Rust tokens of a const argument, and its Rust type; `None` for a type
/// Rust const generics do not take (floats).
fn literal_tokens(l: Literal) -> Option<(TokenStream, TokenStream)> {
    Some(match l {
        Literal::Bool(b) => (quote!(#b), quote!(bool)),
        Literal::U32(v) => {
            let v = proc_macro2::Literal::u32_unsuffixed(v);
            (quote!(#v), quote!(u32))
        }
        Literal::I32(v) => (quote!(#v), quote!(i32)),
        Literal::U8(v) => (quote!(#v), quote!(u8)),
        Literal::I8(v) => (quote!(#v), quote!(i8)),
        Literal::U16(v) => (quote!(#v), quote!(u16)),
        Literal::I16(v) => (quote!(#v), quote!(i16)),
        _ => return None,
    })
}

/// One instance as the entry needs it.
struct Inst<'a> {
    suffix: &'a str,
    program: &'a Program,
}

/// A set of instances that solve one problem: same type argument, same
/// values of the const parameters not in `tune(..)`.
struct Group<'a> {
    ty: Option<DataType>,
    key: Vec<Literal>,
    members: Vec<Inst<'a>>,
}

/// The table's choices for `group`, as `TuneChoice` expressions: the
/// records of `kernel_path` whose best instance is in the group.
fn choices_tokens(
    krate: &TokenStream,
    group: &Group<'_>,
    records: &[&TuneRecord],
    key_names: &[&str],
    display: &str,
) -> Result<Vec<TokenStream>, Error> {
    let mut out = Vec::new();
    for r in records {
        let Some(index) = group.members.iter().position(|m| m.suffix == r.best) else {
            continue;
        };
        let names: Vec<&str> = r.size.iter().map(|(n, _)| n.as_str()).collect();
        if names != key_names {
            return Err(Error::TuneTable {
                at: format!("{display}:{}", r.line),
                message: format!(
                    "the record of `{}` gives the size as {}, but the kernel's size key is {} (its integer parameters, then its buffers' lengths); measure it again",
                    r.kernel,
                    names.join(", "),
                    key_names.join(", ")
                ),
            });
        }
        let arch = &r.arch;
        let size = r
            .size
            .iter()
            .map(|(_, v)| proc_macro2::Literal::u64_suffixed(*v));
        out.push(quote! {
            #krate::runtime::tune::TuneChoice { arch: #arch, size: &[#(#size),*], instance: #index }
        });
    }
    Ok(out)
}

/// The dispatching entry and tuning function of `g` in module
/// `module_path`, or nothing when `g` does not get one: some instance has
/// no grid rule, it has more than one type parameter, a non-tuned const
/// parameter of a type Rust const generics do not take, or instances
/// whose signatures differ by more than the type argument.
///
/// # Errors
/// A table record that names an instance `g` does not have, or a size of
/// another shape.
pub(crate) fn dispatch_tokens(
    krate: &TokenStream,
    g: &GenGeneric,
    kernels: &[GenKernel<'_>],
    module_path: &[String],
    table: Table<'_>,
) -> Result<TokenStream, Error> {
    let gname = g.name.strip_prefix("r#").unwrap_or(&g.name);
    let kernel_path = format!("{}::{gname}", module_path.join("::"));
    let records: Vec<&TuneRecord> = table
        .records
        .iter()
        .filter(|r| r.kernel == kernel_path)
        .collect();
    for r in &records {
        if !g.instances.iter().any(|i| i.suffix == r.best) {
            let names: Vec<String> = g
                .instances
                .iter()
                .map(|i| format!("`{}`", i.suffix))
                .collect();
            return Err(Error::TuneTable {
                at: format!("{}:{}", table.display, r.line),
                message: format!(
                    "`{}` has no instance `{}` (its instances are {}); measure it again",
                    kernel_path,
                    r.best,
                    names.join(", ")
                ),
            });
        }
    }
    if g.type_params.len() > 1 || g.instances.is_empty() {
        return Ok(TokenStream::new());
    }
    // The instances, grouped.
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut const_decls: Vec<(String, TokenStream)> = Vec::new();
    for inst in &g.instances {
        let Some(k) = kernels
            .iter()
            .find(|k| k.program.name.strip_prefix("r#").unwrap_or(&k.program.name) == inst.kernel)
        else {
            return Ok(TokenStream::new());
        };
        if k.grid.is_none() {
            return Ok(TokenStream::new());
        }
        let ty = inst.types.first().map(|(_, t)| *t);
        if ty == Some(DataType::Bool) {
            return Ok(TokenStream::new());
        }
        let mut key = Vec::new();
        for (name, value) in &inst.consts {
            if g.tune.contains(name) {
                continue;
            }
            let Some((_, rty)) = literal_tokens(*value) else {
                return Ok(TokenStream::new());
            };
            if groups.is_empty() && key.len() == const_decls.len() {
                const_decls.push((name.clone(), rty));
            }
            key.push(*value);
        }
        let member = Inst {
            suffix: &inst.suffix,
            program: k.program,
        };
        match groups.iter_mut().find(|gr| gr.ty == ty && gr.key == key) {
            Some(gr) => gr.members.push(member),
            None => groups.push(Group {
                ty,
                key,
                members: vec![member],
            }),
        }
    }
    let all: Vec<(&Program, Option<DataType>)> = groups
        .iter()
        .flat_map(|gr| gr.members.iter().map(move |m| (m.program, gr.ty)))
        .collect();
    let Some(entry) = unify(&all) else {
        return Ok(TokenStream::new());
    };
    let first = all[0].0;
    if all.iter().any(|(p, _)| p.unchecked != first.unchecked) {
        return Ok(TokenStream::new());
    }
    // The rings of a debug build are the runtime's to pass.
    let shown: Vec<Param> = first
        .params
        .iter()
        .filter(|p| !p.is_debug_ring())
        .cloned()
        .collect();
    let params = &shown;
    let key = size_key(params);
    let key_names: Vec<&str> = key.iter().map(|(n, _)| *n).collect();

    let [fn_name, tune_name, trait_name, sealed] = dispatch_item_names(g).map(|n| ident(&n));
    let t = g.type_params.first().map(|n| ident(n));
    let sig = |elem: &TokenStream| -> Vec<TokenStream> {
        entry
            .iter()
            .map(|ep| {
                let p = ep.param;
                let name = arg_ident(params, p.name());
                let host = if ep.generic {
                    elem.clone()
                } else {
                    host_type(krate, value_type(p))
                };
                let ty = crate::codegen::param_type(krate, p, &host);
                quote!(#name: #ty)
            })
            .collect()
    };
    let args: Vec<TokenStream> = params
        .iter()
        .map(|p| {
            let a = arg_ident(params, p.name());
            match p {
                Param::Buffer(b) if b.access == vyre::ir::Access::ReadWrite => quote!(&mut *#a),
                _ => quote!(#a),
            }
        })
        .collect();
    let plain_args: Vec<_> = params.iter().map(|p| arg_ident(params, p.name())).collect();
    let unchecked = first.unchecked;
    let (unsafety, wrap): (TokenStream, fn(TokenStream) -> TokenStream) = if unchecked {
        (quote!(unsafe), |c| quote!(unsafe { #c }))
    } else {
        (quote!(), |c| c)
    };
    let const_idents: Vec<_> = const_decls.iter().map(|(n, _)| ident(n)).collect();
    let const_generics: Vec<TokenStream> = const_decls
        .iter()
        .map(|(n, ty)| {
            let n = ident(n);
            quote!(const #n: #ty)
        })
        .collect();
    let size_values: Vec<&TokenStream> = key.iter().map(|(_, v)| v).collect();
    let size_named: Vec<TokenStream> = key
        .iter()
        .map(|(n, v)| quote!((#n.to_string(), #v)))
        .collect();

    // The body for the groups of one type (`None`: the kernel has no type
    // parameter): match the const arguments, then pick.
    let bodies = |ty: Option<DataType>,
                  up: TokenStream|
     -> Result<(TokenStream, TokenStream), Error> {
        let mut launch_arms = Vec::new();
        let mut tune_arms = Vec::new();
        for gr in groups.iter().filter(|gr| gr.ty == ty) {
            let pattern: Vec<TokenStream> = gr
                .key
                .iter()
                .map(|l| literal_tokens(*l).map(|(v, _)| v).unwrap_or_default())
                .collect();
            let choices = choices_tokens(krate, gr, &records, &key_names, table.display)?;
            let mut launch = Vec::new();
            let mut timed = Vec::new();
            for (i, m) in gr.members.iter().enumerate() {
                let launcher = ident(m.program.name.strip_prefix("r#").unwrap_or(&m.program.name));
                let call = wrap(quote!(#up::#launcher(device, #(#args),*)));
                // The first instance is the default: the last arm.
                if i > 0 {
                    launch.push(quote!(#i => #call,));
                }
                let suffix = m.suffix;
                timed.push(quote! {
                    (#suffix.to_string(), #krate::runtime::tune::time_launch(device, || #call)? * 1e6),
                });
            }
            let launcher = &gr.members[0].program.name;
            let launcher = ident(launcher.strip_prefix("r#").unwrap_or(launcher));
            let call = wrap(quote!(#up::#launcher(device, #(#args),*)));
            launch.push(quote!(_ => #call,));
            let pick = if gr.members.len() == 1 {
                quote!(#call)
            } else {
                quote! {
                    const CHOICES: &[#krate::runtime::tune::TuneChoice] = &[#(#choices),*];
                    match #krate::runtime::tune::pick(device.tune_arch(), CHOICES, &__size).unwrap_or(0) {
                        #(#launch)*
                    }
                }
            };
            launch_arms.push((quote!((#(#pattern,)*)), pick));
            tune_arms.push((quote!((#(#pattern,)*)), quote!(vec![#(#timed)*])));
        }
        let args_fmt: Vec<String> = ty
            .map(|t| format!("{} = {t}", g.type_params[0]))
            .into_iter()
            .chain(const_decls.iter().map(|(n, _)| format!("{n} = {{{n}}}")))
            .collect();
        let listing: Vec<String> = g
            .instances
            .iter()
            .map(|i| format!("`{}`", i.kernel))
            .collect();
        let missing = format!(
            "`{gname}` has no instance for {}; its instances are {}",
            args_fmt.join(", "),
            listing.join(", ")
        );
        let fail = quote! {
            #krate::runtime::Error::BadArguments {
                kernel: #gname.to_string(),
                reason: format!(#missing),
            }
        };
        let size = quote!(let __size = [#(#size_values),*];);
        // Without const arguments to match, the type has one group.
        let (launch, times) = if const_decls.is_empty() {
            let (_, launch) = &launch_arms[0];
            let (_, times) = &tune_arms[0];
            (
                quote!(#size #launch),
                quote!(let times: Vec<(String, f64)> = #times;),
            )
        } else {
            let (lp, lb): (Vec<_>, Vec<_>) = launch_arms.into_iter().unzip();
            let (tp, tb): (Vec<_>, Vec<_>) = tune_arms.into_iter().unzip();
            (
                quote! {
                    #size
                    #[allow(unreachable_patterns)]
                    match (#(#const_idents,)*) {
                        #(#lp => { #lb })*
                        _ => Err(#fail),
                    }
                },
                quote! {
                    #[allow(unreachable_patterns)]
                    let times: Vec<(String, f64)> = match (#(#const_idents,)*) {
                        #(#tp => #tb,)*
                        _ => return Err(#fail),
                    };
                },
            )
        };
        let tune = quote! {
            #times
            Ok(#krate::runtime::tune::TuneRecord::from_times(
                #kernel_path,
                device.tune_arch(),
                vec![#(#size_named),*],
                times,
            ))
        };
        Ok((launch, tune))
    };

    let mut docs = doc_attrs(&first.doc);
    if !docs.is_empty() {
        docs.push(quote!(#[doc = ""]));
    }
    let instance_list: Vec<String> = g
        .instances
        .iter()
        .map(|i| format!("[`{}`]", i.kernel))
        .collect();
    docs.extend(doc_attrs(&format!(
        "Launches the instance of `{gname}` for these arguments ({}): the one\nthe crate's tuning table (`vyre-tune.toml`) names for this device's\narchitecture and the nearest problem size, else the first. The grid\ncomes from the kernel's `grid = ..` rule; an empty problem launches\nnothing.",
        instance_list.join(", ")
    )));
    let mut tune_docs = doc_attrs(&format!(
        "Times every instance of [`{gname}`] that could run these arguments and\nreturns the record for the tuning table: add it with\n`vyre::runtime::tune::TuneTable::insert`, save the table as the crate's\n`vyre-tune.toml`, and rebuild. The buffers are written as by a launch."
    ));
    if unchecked {
        docs.push(quote!(#[doc = ""]));
        docs.extend(doc_attrs(UNCHECKED_SAFETY_DOC));
        tune_docs.push(quote!(#[doc = ""]));
        tune_docs.extend(doc_attrs(UNCHECKED_SAFETY_DOC));
    }
    let record = quote!(#krate::runtime::tune::TuneRecord);

    let Some(t) = t else {
        let (launch, tune) = bodies(None, quote!(self))?;
        let entry_sig = sig(&quote!(()));
        return Ok(quote! {
            #(#docs)*
            pub #unsafety fn #fn_name<#(#const_generics),*>(
                device: &#krate::Device,
                #(#entry_sig),*
            ) -> #krate::Result<()> {
                #launch
            }

            #(#tune_docs)*
            pub #unsafety fn #tune_name<#(#const_generics),*>(
                device: &#krate::Device,
                #(#entry_sig),*
            ) -> #krate::Result<#record> {
                #tune
            }
        });
    };

    let mut types: Vec<DataType> = Vec::new();
    for gr in &groups {
        if let Some(ty) = gr.ty
            && !types.contains(&ty)
        {
            types.push(ty);
        }
    }
    let launch_sig = sig(&quote!(Self));
    let entry_sig = sig(&quote!(#t));
    let mut impls = TokenStream::new();
    let mut public_impls = TokenStream::new();
    let mut type_names = Vec::new();
    for ty in &types {
        let host = host_type(krate, *ty);
        let (launch, tune) = bodies(Some(*ty), quote!(super))?;
        impls.extend(quote! {
            impl Sealed for #host {
                #unsafety fn launch<#(#const_generics),*>(
                    device: &#krate::Device,
                    #(#launch_sig),*
                ) -> #krate::Result<()> {
                    #launch
                }

                #unsafety fn tune<#(#const_generics),*>(
                    device: &#krate::Device,
                    #(#launch_sig),*
                ) -> #krate::Result<#record> {
                    #tune
                }
            }
        });
        public_impls.extend(quote!(impl #trait_name for #host {}));
        type_names.push(format!("`{ty}`"));
    }
    let trait_doc = format!(
        " The element types `{t}` of [`{gname}`] (sealed): {}.",
        type_names.join(", ")
    );
    let sealed_doc = format!(" The sealed supertrait of `{trait_name}`: the per-type dispatch.");
    let launch_call = wrap(
        quote!(<#t as #sealed::Sealed>::launch::<#(#const_idents),*>(device, #(#plain_args),*)),
    );
    let tune_call =
        wrap(quote!(<#t as #sealed::Sealed>::tune::<#(#const_idents),*>(device, #(#plain_args),*)));
    Ok(quote! {
        #[doc = #trait_doc]
        pub trait #trait_name: #sealed::Sealed {}

        #public_impls

        #[doc = #sealed_doc]
        mod #sealed {
            /// Implemented for each instance's element type.
            pub trait Sealed: #krate::Element {
                /// Launch the chosen instance for `Self`.
                #unsafety fn launch<#(#const_generics),*>(
                    device: &#krate::Device,
                    #(#launch_sig),*
                ) -> #krate::Result<()>;
                /// Time the instances for `Self`.
                #unsafety fn tune<#(#const_generics),*>(
                    device: &#krate::Device,
                    #(#launch_sig),*
                ) -> #krate::Result<#record>;
            }

            #impls
        }

        #(#docs)*
        pub #unsafety fn #fn_name<#t: #trait_name, #(#const_generics),*>(
            device: &#krate::Device,
            #(#entry_sig),*
        ) -> #krate::Result<()> {
            #launch_call
        }

        #(#tune_docs)*
        pub #unsafety fn #tune_name<#t: #trait_name, #(#const_generics),*>(
            device: &#krate::Device,
            #(#entry_sig),*
        ) -> #krate::Result<#record> {
            #tune_call
        }
    })
}
