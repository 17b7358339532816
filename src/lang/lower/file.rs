//! File level: constants, helper signatures, call-graph checks
//! (recursion, effects), kernel discovery, and the type syntax shared by
//! kernels and helpers.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::generic::Plan;
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Cx, Loc};
use super::{MAX_TUPLE, Raw, Sp, raw};
use crate::ir::{Access, BinOp, DataType, Literal, Program};
use crate::lang::GenericKernel;

enum ConstState {
    Pending,
    InProgress,
    Done(Option<Literal>),
}

struct ConstSlot<'f> {
    item: &'f syn::ItemConst,
    state: ConstState,
}

/// A helper's parameter.
#[derive(Clone, Debug)]
pub(crate) enum HParam {
    Scalar {
        name: String,
        ty: DataType,
        mutable: bool,
    },
    Buf {
        name: String,
        elem: DataType,
        access: Access,
    },
}

/// What a helper returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HRet {
    /// Nothing (`fn f(..)` or `-> ()`): callable only as a statement.
    Unit,
    /// One scalar.
    Scalar(DataType),
    /// A tuple of 2 to [`MAX_TUPLE`] scalars, destructured at the call
    /// (`let (a, b) = f(..);`) into one local per element.
    Tuple(Vec<DataType>),
}

impl HRet {
    /// `(f32, u32)` for diagnostics.
    pub(crate) fn tuple_text(tys: &[DataType]) -> String {
        let parts: Vec<String> = tys.iter().map(ToString::to_string).collect();
        format!("({})", parts.join(", "))
    }
}

/// A helper `fn`, analysed once and inlined at each call.
pub(crate) struct Helper<'f> {
    pub f: &'f syn::ItemFn,
    pub params: Vec<HParam>,
    pub ret: HRet,
    /// Stores, atomics or barriers, directly or through other helpers.
    pub effectful: bool,
    /// Body is more than a tail expression (its statements must be hoisted).
    pub has_stmts: bool,
    /// How often each parameter name appears in the body.
    pub uses: HashMap<String, usize>,
}

/// What the parameters of a generic kernel stand for while one of its
/// instances is lowered.
#[derive(Clone, Debug, Default)]
pub(crate) struct GenericArgs {
    /// The kernel's name (for diagnostics).
    pub kernel: String,
    /// Type parameters: `T` is `bf16`.
    pub types: HashMap<String, DataType>,
    /// Const parameters: `TILE` is `16u32`.
    pub consts: HashMap<String, Literal>,
}

#[derive(Default)]
pub(crate) struct FileCx<'f> {
    pub errs: Vec<Raw>,
    consts: HashMap<String, ConstSlot<'f>>,
    pub helpers: HashMap<String, Helper<'f>>,
    pub(super) kernel_names: HashSet<String>,
    /// The arguments of the kernel instance being lowered, if any.
    pub(super) generic: Option<GenericArgs>,
    /// How many helpers are being inlined: helpers do not see the
    /// kernel's generic parameters.
    pub(super) helper_depth: u32,
    /// The parsed arguments of the file's `#[shared(..)]` attributes.
    pub(super) shared_args: Option<&'f super::shared::SharedArgs>,
    /// The `grid = (..)` rules of the kernels lowered so far, by kernel.
    pub(super) grids: std::collections::BTreeMap<String, crate::lang::GridRule>,
    /// Whether `debug_print!`/`debug_assert!` are compiled in.
    pub(super) debug_on: bool,
    /// The parsed arguments of the file's debug macro calls.
    pub(super) debug_args: Option<&'f super::debug::DebugArgs>,
    /// The debug call sites of the kernels lowered so far, by kernel.
    pub(super) debug_sites: std::collections::BTreeMap<String, Vec<crate::ir::DebugSite>>,
}

pub(super) fn is_kernel_attr(a: &syn::Attribute) -> bool {
    a.path().is_ident("kernel")
}

impl<'f> FileCx<'f> {
    pub(crate) fn err(&mut self, loc: impl Into<Loc<'f>>, msg: impl Into<String>) {
        self.errs.push(raw(loc.into().sp(), msg));
    }

    pub(crate) fn err_notes(
        &mut self,
        loc: impl Into<Loc<'f>>,
        msg: impl Into<String>,
        notes: Vec<String>,
    ) {
        let mut r = raw(loc.into().sp(), msg);
        r.notes = notes;
        self.errs.push(r);
    }

    /// Lower the file: its kernels (one per instance of a generic kernel),
    /// and the generic kernels with their instances.
    pub(super) fn run(&mut self, file: &'f syn::File) -> (Vec<Program>, Vec<GenericKernel>) {
        for attr in &file.attrs {
            self.err(
                attr.span(),
                "inner attributes (`#![...]`) are not supported in a .vyre file",
            );
        }
        let mut kernels = Vec::new();
        let mut fn_names: HashMap<String, Span> = HashMap::new();
        for item in &file.items {
            match item {
                syn::Item::Const(c) => {
                    for a in &c.attrs {
                        if !(a.path().is_ident("doc") || a.path().is_ident("allow")) {
                            self.err(
                                a.span(),
                                format!(
                                    "unknown attribute `#[{}]` on a `const`; only doc comments and `#[allow]` are accepted",
                                    super::stmt::attr_name(a)
                                ),
                            );
                        }
                    }
                    let name = c.ident.unraw().to_string();
                    if self.consts.contains_key(&name) {
                        self.err(
                            c.ident.span(),
                            format!("the constant `{name}` is defined twice; rename one of them"),
                        );
                        continue;
                    }
                    self.consts.insert(
                        name,
                        ConstSlot {
                            item: c,
                            state: ConstState::Pending,
                        },
                    );
                }
                syn::Item::Fn(f) => {
                    let name = f.sig.ident.unraw().to_string();
                    if fn_names.insert(name.clone(), f.sig.ident.span()).is_some() {
                        self.err(
                            f.sig.ident.span(),
                            format!("the function `{name}` is defined twice; rename one of them"),
                        );
                        continue;
                    }
                    if f.attrs.iter().any(is_kernel_attr) {
                        self.kernel_names.insert(name);
                        kernels.push(f);
                    }
                }
                other => {
                    let what = match other {
                        syn::Item::Struct(_) => "`struct` items are not supported",
                        syn::Item::Enum(_) => "`enum` items are not supported",
                        syn::Item::Union(_) => "`union` items are not supported",
                        syn::Item::Use(_) => {
                            "`use` is not needed: builtins and math methods are always in scope"
                        }
                        syn::Item::Static(_) => {
                            "`static` items are not supported; use `const` or a buffer parameter"
                        }
                        syn::Item::Impl(_) | syn::Item::Trait(_) => {
                            "traits and `impl` blocks are not supported"
                        }
                        syn::Item::Mod(_) => "modules are not supported; use one file per module",
                        syn::Item::Macro(_) => "macros are not supported",
                        syn::Item::Type(_) => "type aliases are not supported",
                        _ => "this item is not supported",
                    };
                    self.err(
                        other.span(),
                        format!(
                            "{what}; a .vyre file holds only `const` items, helper `fn`s and `#[kernel]` fns"
                        ),
                    );
                }
            }
        }
        // Helpers: signatures, recursion, effects.
        for item in &file.items {
            if let syn::Item::Fn(f) = item
                && !f.attrs.iter().any(is_kernel_attr)
            {
                let name = f.sig.ident.unraw().to_string();
                if self.helpers.contains_key(&name) {
                    continue;
                }
                if super::expr::is_builtin_fn(&name) {
                    // The builtin would win at every call, silently.
                    self.err(
                        f.sig.ident.span(),
                        format!("`{name}` is a builtin function; a helper cannot have its name (rename the helper)"),
                    );
                    continue;
                }
                if let Some(h) = self.helper_sig(f) {
                    self.helpers.insert(name, h);
                }
            }
        }
        self.check_recursion();
        self.compute_effects();
        // Every constant, so that unused ones are checked too.
        let mut names: Vec<_> = self.consts.keys().cloned().collect();
        names.sort();
        for n in names {
            self.const_value(&n);
        }
        let plans: Vec<_> = kernels.into_iter().map(|f| (f, self.plan(f))).collect();
        self.check_instance_names(&plans, &fn_names);
        let mut programs = Vec::new();
        let mut generics = Vec::new();
        for (f, plan) in plans {
            match plan {
                Plan::Plain => programs.extend(self.kernel(f, None)),
                Plan::Failed => {}
                Plan::Instances(gk, args) => {
                    for (inst, (a, _)) in gk.instances.iter().zip(args) {
                        let before = self.errs.len();
                        self.generic = Some(a);
                        let p = self.kernel(f, Some(inst.kernel.clone()));
                        self.generic = None;
                        self.note_instance(before, inst);
                        programs.extend(p);
                    }
                    generics.push(gk);
                }
            }
        }
        (programs, generics)
    }

    /// Instance names must not collide with another function or instance.
    fn check_instance_names(
        &mut self,
        plans: &[(&'f syn::ItemFn, Plan)],
        fn_names: &HashMap<String, Span>,
    ) {
        let mut taken: HashSet<String> = fn_names.keys().cloned().collect();
        for (_, plan) in plans {
            let Plan::Instances(gk, args) = plan else {
                continue;
            };
            for (inst, (_, span)) in gk.instances.iter().zip(args) {
                let what = if fn_names.contains_key(&inst.kernel) {
                    Some("a function of this file has that name")
                } else if !taken.insert(inst.kernel.clone()) {
                    Some("an instance of another generic kernel has that name")
                } else {
                    None
                };
                if let Some(what) = what {
                    self.err(
                        *span,
                        format!(
                            "the instance `{}` of `{}` is the kernel `{}`, but {what}; rename the instance",
                            inst.suffix, gk.name, inst.kernel
                        ),
                    );
                }
            }
        }
    }

    /// Say which instance the diagnostics from `before` on come from;
    /// drop those an earlier instance already reported.
    fn note_instance(&mut self, before: usize, inst: &crate::lang::KernelInstance) {
        let args: Vec<String> = inst
            .types
            .iter()
            .map(|(n, t)| format!("{n} = {t}"))
            .chain(
                inst.consts
                    .iter()
                    .map(|(n, v)| format!("{n} = {}", super::super::print::literal(*v).0)),
            )
            .collect();
        let note = format!("in the instance `{}` ({})", inst.kernel, args.join(", "));
        let (old, new) = self.errs.split_at(before);
        let fresh: Vec<Raw> = new
            .iter()
            .filter(|r| !old.iter().any(|o| o.sp == r.sp && o.message == r.message))
            .cloned()
            .map(|mut r| {
                r.notes.push(note.clone());
                r
            })
            .collect();
        self.errs.truncate(before);
        self.errs.extend(fresh);
    }

    /// The value of constant `name`, evaluated on first use.
    pub(crate) fn const_value(&mut self, name: &str) -> Option<Option<Literal>> {
        if self.helper_depth == 0
            && let Some(v) = self.generic.as_ref().and_then(|g| g.consts.get(name))
        {
            return Some(Some(*v));
        }
        let slot = self.consts.get_mut(name)?;
        match slot.state {
            ConstState::Done(v) => return Some(v),
            ConstState::InProgress => {
                let span = slot.item.ident.span();
                slot.state = ConstState::Done(None);
                self.err(
                    span,
                    format!("the constant `{name}` is defined in terms of itself"),
                );
                return Some(None);
            }
            ConstState::Pending => slot.state = ConstState::InProgress,
        }
        let item = slot.item;
        let v = self.eval_const_item(item);
        if let Some(slot) = self.consts.get_mut(name)
            && matches!(slot.state, ConstState::InProgress)
        {
            slot.state = ConstState::Done(v);
        }
        Some(v)
    }

    fn eval_const_item(&mut self, item: &'f syn::ItemConst) -> Option<Literal> {
        if !item.generics.params.is_empty() {
            self.err(item.generics.span(), "generic constants are not supported");
        }
        let ty = match scalar_type(&item.ty) {
            Ok(t) => t,
            Err(m) => {
                self.err(item.ty.span(), m);
                return None;
            }
        };
        self.eval_const_expr(&item.expr, Some(ty))
    }

    /// Evaluate a constant expression of the given (or inferred) type.
    pub(crate) fn eval_const_expr(
        &mut self,
        e: &'f syn::Expr,
        ty: Option<DataType>,
    ) -> Option<Literal> {
        let before = self.errs.len();
        let mut kx = Kx::new(self, true);
        let mut pre = Vec::new();
        let fe = kx.expr(e, &mut pre, Cx::TOP.nested());
        if let Some(t) = ty {
            kx.vars.unify(fe.ty, Ty::K(t));
        }
        let program = Program::new("const", [1, 1, 1]);
        let lowered = super::finish::const_expr(&mut kx, &program, &fe, ty);
        if kx.fx.errs.len() > before {
            return None;
        }
        let lowered = lowered?;
        match crate::ir::consts::eval_checked(&lowered) {
            Ok(v) => Some(v),
            Err(m) => {
                self.err(e, m);
                None
            }
        }
    }

    fn helper_sig(&mut self, f: &'f syn::ItemFn) -> Option<Helper<'f>> {
        let mut ok = self.check_signature_shape(f, false);
        for attr in &f.attrs {
            if !(attr.path().is_ident("doc")
                || attr.path().is_ident("inline")
                || attr.path().is_ident("allow"))
            {
                self.err(
                    attr.span(),
                    format!(
                        "unknown attribute `#[{}]` on a helper; only doc comments, `#[inline]` and `#[allow]` are accepted (kernels are marked `#[kernel(...)]`)",
                        super::stmt::attr_name(attr)
                    ),
                );
            }
        }
        let mut params = Vec::new();
        for arg in &f.sig.inputs {
            let syn::FnArg::Typed(pt) = arg else {
                self.err(arg.span(), "helpers cannot take `self`");
                ok = false;
                continue;
            };
            for a in &pt.attrs {
                self.err(
                    a.span(),
                    format!(
                        "unknown attribute `#[{}]` on a parameter; parameters take no attributes",
                        super::stmt::attr_name(a)
                    ),
                );
            }
            let Some((pname, mutable)) = self.pat_ident(&pt.pat) else {
                ok = false;
                continue;
            };
            match param_type(&pt.ty) {
                Ok(PType::Scalar(ty)) => params.push(HParam::Scalar {
                    name: pname,
                    ty,
                    mutable,
                }),
                Ok(PType::Buf(elem, access)) => params.push(HParam::Buf {
                    name: pname,
                    elem,
                    access,
                }),
                Err(m) => {
                    self.err(pt.ty.span(), m);
                    ok = false;
                }
            }
        }
        let ret = match &f.sig.output {
            syn::ReturnType::Default => HRet::Unit,
            syn::ReturnType::Type(_, t) => match strip_type_paren(t) {
                syn::Type::Tuple(tt) if tt.elems.is_empty() => HRet::Unit,
                syn::Type::Tuple(tt) => match self.tuple_type(tt) {
                    Some(tys) => HRet::Tuple(tys),
                    None => {
                        ok = false;
                        HRet::Unit
                    }
                },
                t => match scalar_type(t) {
                    Ok(t) => HRet::Scalar(t),
                    Err(m) => {
                        self.err(t.span(), format!("{m} (as a helper's return type)"));
                        ok = false;
                        HRet::Unit
                    }
                },
            },
        };
        // Anything but a lone tail expression (or an empty body).
        let has_stmts = !matches!(f.block.stmts.as_slice(), [] | [syn::Stmt::Expr(_, None)]);
        let mut uses = HashMap::new();
        count_idents(&f.block, &mut uses);
        ok.then_some(Helper {
            f,
            params,
            ret,
            effectful: false,
            has_stmts,
            uses,
        })
    }

    /// The element types of a helper's tuple return type `(T, U, ..)`.
    fn tuple_type(&mut self, tt: &'f syn::TypeTuple) -> Option<Vec<DataType>> {
        let n = tt.elems.len();
        if n == 1 {
            self.err(
                tt.span(),
                "a one-element tuple is not supported; return the scalar itself",
            );
            return None;
        }
        if n > MAX_TUPLE {
            self.err(
                tt.span(),
                format!("a helper returns at most {MAX_TUPLE} values, but this tuple has {n}"),
            );
            return None;
        }
        let mut tys = Vec::with_capacity(n);
        for el in &tt.elems {
            if let syn::Type::Tuple(_) = strip_type_paren(el) {
                self.err(
                    el.span(),
                    "nested tuples are not supported; return a flat tuple `(a, b, c)`",
                );
                return None;
            }
            match scalar_type(el) {
                Ok(t) => tys.push(t),
                Err(m) => {
                    self.err(el.span(), format!("{m} (as a helper's return type)"));
                    return None;
                }
            }
        }
        Some(tys)
    }

    /// Reject `const`, `async`, `unsafe`, `extern` and variadic functions,
    /// and generic ones unless `kernel` (whose generics are checked with
    /// their instances).
    pub(super) fn check_signature_shape(&mut self, f: &'f syn::ItemFn, kernel: bool) -> bool {
        let s = &f.sig;
        let mut ok = true;
        let mut bad = |this: &mut Self, span: Span, what: &str| {
            this.err(
                span,
                format!("{what} functions are not supported in .vyre files"),
            );
            ok = false;
        };
        if let Some(t) = &s.constness {
            bad(self, t.span, "`const`");
        }
        if let Some(t) = &s.asyncness {
            bad(self, t.span, "`async`");
        }
        if let Some(t) = &s.unsafety {
            bad(self, t.span, "`unsafe`");
        }
        if let Some(a) = &s.abi {
            bad(self, a.span(), "`extern`");
        }
        if let Some(v) = &s.variadic {
            bad(self, v.span(), "variadic");
        }
        if !kernel && (!s.generics.params.is_empty() || s.generics.where_clause.is_some()) {
            self.err(
                s.generics.span(),
                "generic helper functions are not supported; only kernels may be generic (`#[kernel(instances(..))] pub fn k<T>(..)`), and helpers take concrete types",
            );
            ok = false;
        }
        ok
    }

    /// `name` or `mut name`.
    pub(super) fn pat_ident(&mut self, pat: &'f syn::Pat) -> Option<(String, bool)> {
        match pat {
            syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                Some((pi.ident.unraw().to_string(), pi.mutability.is_some()))
            }
            _ => {
                self.err(
                    pat.span(),
                    "only plain names (`x` or `mut x`) are supported here, not patterns",
                );
                None
            }
        }
    }

    fn check_recursion(&mut self) {
        let names: Vec<String> = {
            let mut v: Vec<_> = self.helpers.keys().cloned().collect();
            v.sort();
            v
        };
        let mut graph: HashMap<String, Vec<(String, Span)>> = HashMap::new();
        for n in &names {
            let mut calls = Vec::new();
            collect_calls(&self.helpers[n].f.block, &mut calls);
            calls.retain(|(c, _)| self.helpers.contains_key(c));
            graph.insert(n.clone(), calls);
        }
        // Iterative DFS with colours; report each cycle once.
        let mut colour: HashMap<&str, u8> = HashMap::new();
        let mut reported: HashSet<Vec<String>> = HashSet::new();
        for start in &names {
            if colour.get(start.as_str()).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            colour.insert(start.as_str(), 1);
            while let Some((node, next)) = path.last().copied() {
                let edges = &graph[node];
                if next >= edges.len() {
                    colour.insert(node, 2);
                    path.pop();
                    continue;
                }
                if let Some(last) = path.last_mut() {
                    last.1 += 1;
                }
                let (callee, span) = &edges[next];
                match colour.get(callee.as_str()).copied().unwrap_or(0) {
                    0 => {
                        colour.insert(callee.as_str(), 1);
                        path.push((callee.as_str(), 0));
                    }
                    1 => {
                        let pos = path.iter().position(|(n, _)| *n == callee).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[pos..].iter().map(|(n, _)| (*n).to_string()).collect();
                        let mut key = cycle.clone();
                        key.sort();
                        cycle.push(callee.clone());
                        if reported.insert(key) {
                            let chain = cycle
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(" -> ");
                            self.errs.push(Raw {
                                sp: Sp::of(*span),
                                message: format!(
                                    "recursion is not supported (helpers are inlined): {chain}"
                                ),
                                notes: vec![
                                    "rewrite the recursion as a `while` or `for` loop".into(),
                                ],
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn compute_effects(&mut self) {
        let names: Vec<String> = self.helpers.keys().cloned().collect();
        let mut direct: HashMap<String, (bool, Vec<String>)> = HashMap::new();
        for n in &names {
            let mut calls = Vec::new();
            collect_calls(&self.helpers[n].f.block, &mut calls);
            let eff = has_direct_effect(&self.helpers[n].f.block);
            direct.insert(n.clone(), (eff, calls.into_iter().map(|c| c.0).collect()));
        }
        let mut eff: HashMap<String, bool> =
            names.iter().map(|n| (n.clone(), direct[n].0)).collect();
        loop {
            let mut changed = false;
            for n in &names {
                if !eff[n]
                    && direct[n]
                        .1
                        .iter()
                        .any(|c| eff.get(c).copied().unwrap_or(false))
                {
                    eff.insert(n.clone(), true);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for (n, h) in &mut self.helpers {
            h.effectful = eff[n];
        }
    }
}

/// Names called as plain functions inside `block`, with call positions.
fn collect_calls(block: &syn::Block, out: &mut Vec<(String, Span)>) {
    struct V<'a>(&'a mut Vec<(String, Span)>);
    impl<'ast> syn::visit::Visit<'ast> for V<'_> {
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if let syn::Expr::Path(p) = &*c.func
                && let Some(id) = p.path.get_ident()
            {
                self.0.push((id.unraw().to_string(), id.span()));
            }
            syn::visit::visit_expr_call(self, c);
        }
    }
    syn::visit::Visit::visit_block(&mut V(out), block);
}

/// Count identifier uses (for deciding whether to substitute arguments).
fn count_idents(block: &syn::Block, out: &mut HashMap<String, usize>) {
    struct V<'a>(&'a mut HashMap<String, usize>);
    impl<'ast> syn::visit::Visit<'ast> for V<'_> {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if let Some(id) = p.path.get_ident() {
                *self.0.entry(id.unraw().to_string()).or_default() += 1;
            }
        }
    }
    syn::visit::Visit::visit_block(&mut V(out), block);
}

/// Whether `block` itself stores, runs an atomic or a barrier, stores a
/// matrix or its row maxima or sums, or runs an asynchronous copy, commit
/// or wait.
fn has_direct_effect(block: &syn::Block) -> bool {
    struct V(bool);
    impl<'ast> syn::visit::Visit<'ast> for V {
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            if m.method.to_string().starts_with("atomic_") {
                self.0 = true;
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if let syn::Expr::Path(p) = &*c.func
                && (p.path.is_ident("barrier") || p.path.is_ident("warpgroup_barrier"))
            {
                self.0 = true;
            }
            // Matrix stores, row reductions and asynchronous copies write
            // memory (and a commit or wait orders copies), so their place
            // matters.
            if let Some((
                super::matrix::MatFn::Store(_)
                | super::matrix::MatFn::RowReduce(_)
                | super::matrix::MatFn::Copy
                | super::matrix::MatFn::Tile
                | super::matrix::MatFn::Commit
                | super::matrix::MatFn::Wait,
                _,
            )) = super::matrix::matrix_fn(&c.func)
            {
                self.0 = true;
            }
            syn::visit::visit_expr_call(self, c);
        }
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            if matches!(&*a.left, syn::Expr::Index(_)) {
                self.0 = true;
            }
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            if matches!(&*b.left, syn::Expr::Index(_)) && compound_op(&b.op).is_some() {
                self.0 = true;
            }
            syn::visit::visit_expr_binary(self, b);
        }
    }
    let mut v = V(false);
    syn::visit::Visit::visit_block(&mut v, block);
    v.0
}

/// The operator of a compound assignment (`+=` gives `+`).
pub(crate) fn compound_op(op: &syn::BinOp) -> Option<BinOp> {
    use syn::BinOp as S;
    Some(match op {
        S::AddAssign(_) => BinOp::Add,
        S::SubAssign(_) => BinOp::Sub,
        S::MulAssign(_) => BinOp::Mul,
        S::DivAssign(_) => BinOp::Div,
        S::RemAssign(_) => BinOp::Rem,
        S::BitAndAssign(_) => BinOp::BitAnd,
        S::BitOrAssign(_) => BinOp::BitOr,
        S::BitXorAssign(_) => BinOp::BitXor,
        S::ShlAssign(_) => BinOp::Shl,
        S::ShrAssign(_) => BinOp::Shr,
        _ => return None,
    })
}

/// `T` without parentheses: `((f32, u32))` is `(f32, u32)`.
pub(crate) fn strip_type_paren(t: &syn::Type) -> &syn::Type {
    match t {
        syn::Type::Paren(p) => strip_type_paren(&p.elem),
        syn::Type::Group(g) => strip_type_paren(&g.elem),
        other => other,
    }
}

pub(crate) const TYPES_ALLOWED: &str = "vyre has the scalar types `bool`, `i32`, `u32`, `f32`, `f16`, `bf16`, `u8`, `i8`, `u16`, `i16`, `u64`, `i64` and `f64`";

impl FileCx<'_> {
    /// A scalar type, where the type parameters of the kernel instance
    /// being lowered stand for their arguments (not inside helpers).
    pub(crate) fn scalar_ty(&self, ty: &syn::Type) -> Result<DataType, String> {
        if let syn::Type::Path(p) = strip_type_paren(ty)
            && p.qself.is_none()
            && let Some(id) = p.path.get_ident()
            && let Some(g) = &self.generic
            && let Some(t) = g.types.get(&id.unraw().to_string())
        {
            if self.helper_depth > 0 {
                return Err(format!(
                    "`{id}` is a type parameter of the kernel `{}`; helpers are not generic and cannot use it (give the helper concrete types)",
                    g.kernel
                ));
            }
            return Ok(*t);
        }
        scalar_type(ty)
    }

    /// What type parameter `name` of the kernel instance being lowered
    /// stands for (not inside helpers).
    pub(crate) fn type_param(&self, name: &str) -> Option<DataType> {
        if self.helper_depth > 0 {
            return None;
        }
        self.generic.as_ref()?.types.get(name).copied()
    }

    /// A parameter type ([`param_type`]) with the instance's type
    /// arguments substituted.
    pub(crate) fn param_ty(&self, ty: &syn::Type) -> Result<PType, String> {
        param_type_with(ty, &|t| self.scalar_ty(t))
    }
}

/// The literal of integer type `t` with value `v`, if it fits.
pub(crate) fn int_literal(v: i128, t: DataType) -> Option<Literal> {
    Some(match t {
        DataType::I32 => Literal::I32(i32::try_from(v).ok()?),
        DataType::U32 => Literal::U32(u32::try_from(v).ok()?),
        DataType::I16 => Literal::I16(i16::try_from(v).ok()?),
        DataType::U16 => Literal::U16(u16::try_from(v).ok()?),
        DataType::I8 => Literal::I8(i8::try_from(v).ok()?),
        DataType::U8 => Literal::U8(u8::try_from(v).ok()?),
        DataType::U64 => Literal::U64(u64::try_from(v).ok()?),
        DataType::I64 => Literal::I64(i64::try_from(v).ok()?),
        _ => return None,
    })
}

/// The range of integer type `t`, as text (`0..=255`).
pub(crate) fn int_range(t: DataType) -> String {
    match t {
        DataType::I32 => format!("{}..={}", i32::MIN, i32::MAX),
        DataType::U32 => format!("0..={}", u32::MAX),
        DataType::I16 => format!("{}..={}", i16::MIN, i16::MAX),
        DataType::U16 => format!("0..={}", u16::MAX),
        DataType::I8 => format!("{}..={}", i8::MIN, i8::MAX),
        DataType::U8 => format!("0..={}", u8::MAX),
        DataType::U64 => format!("0..={}", u64::MAX),
        DataType::I64 => format!("{}..={}", i64::MIN, i64::MAX),
        _ => "integers".to_string(),
    }
}

/// A scalar type: `bool`, `i32`, `u32`, `f32`, `f16`, `bf16`, `u8`, `i8`,
/// `u16`, `i16`, `u64`, `i64` or `f64`.
pub(crate) fn scalar_type(ty: &syn::Type) -> Result<DataType, String> {
    if super::matrix::matrix_type(ty).is_some() {
        return Err("a matrix type is only allowed on a `let` (`let mut c: MatrixAcc<f32, 16, 8, 16>;`); matrices cannot be passed to or returned from helpers, and are used only by `matrix_mma` and `matrix_store`".into());
    }
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => match p.path.get_ident() {
            Some(id) => match DataType::from_name(&id.to_string()) {
                Some(t) => Ok(t),
                None => Err(format!("type `{id}` is not supported; {TYPES_ALLOWED}")),
            },
            None => Err(match p.path.segments.last() {
                Some(seg) => format!("type `{}` is not supported; {TYPES_ALLOWED}", seg.ident),
                None => format!("this type is not supported; {TYPES_ALLOWED}"),
            }),
        },
        syn::Type::Paren(p) => scalar_type(&p.elem),
        syn::Type::Tuple(_) => Err(format!(
            "a tuple type is only allowed as a helper's return type (`fn f(..) -> (f32, u32)`, destructured with `let (a, b) = f(..);`); {TYPES_ALLOWED}"
        )),
        syn::Type::Array(_) => Err(format!(
            "an array type is only allowed on a `let` (`let mut a: [f32; 4];`, a private array, or `#[shared]`); private arrays cannot be passed to or returned from functions, and {TYPES_ALLOWED}"
        )),
        _ => Err(format!("expected a scalar type; {TYPES_ALLOWED}")),
    }
}

pub(crate) enum PType {
    Scalar(DataType),
    Buf(DataType, Access),
}

/// A parameter type: a scalar, `&[T]` or `&mut [T]`.
pub(crate) fn param_type(ty: &syn::Type) -> Result<PType, String> {
    param_type_with(ty, &scalar_type)
}

/// [`param_type`] with `scalar` reading the scalar types.
fn param_type_with(
    ty: &syn::Type,
    scalar: &dyn Fn(&syn::Type) -> Result<DataType, String>,
) -> Result<PType, String> {
    if let syn::Type::Reference(r) = ty {
        let access = if r.mutability.is_some() {
            Access::ReadWrite
        } else {
            Access::Read
        };
        let syn::Type::Slice(s) = &*r.elem else {
            return Err(
                "references are only supported to slices: `&[T]` (read-only buffer) or `&mut [T]` (read-write buffer)"
                    .into(),
            );
        };
        let elem = scalar(&s.elem)?;
        if elem == DataType::Bool {
            return Err("buffers of `bool` are not supported; use `u32` (0 or 1) instead".into());
        }
        return Ok(PType::Buf(elem, access));
    }
    scalar(ty).map(PType::Scalar).map_err(|m| {
        format!("{m}; buffer parameters are written `&[T]` (read-only) or `&mut [T]` (read-write)")
    })
}
