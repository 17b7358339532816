//! Source text to IR: items, kernels, helpers and statements. Expressions
//! live in `expr.rs`, the typing pass that emits IR in `finish.rs`.
//!
//! Lowering happens in two passes. Pass 1 walks the `syn` tree, resolves
//! names, inlines helpers and folds constants, producing front-end trees
//! ([`FExpr`], [`FStmt`]) whose types may still be inference variables for
//! unsuffixed integer literals. Pass 2 (`finish.rs`) resolves every
//! variable, type-checks with source positions and emits `ir` nodes.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::diag::{Raw, Sp};
use crate::ir::{
    Access, AtomicOp, Axis, BinOp, BufRef, BufferDecl, Builtin, DataType, Literal, LocalId, MathFn,
    Param, ParamId, Program, SharedDecl, UnOp,
};

#[path = "expr.rs"]
mod expr;
#[path = "finish.rs"]
mod finish;

/// Workgroup size of a kernel whose attribute does not give one.
pub(crate) const DEFAULT_WORKGROUP_SIZE: u32 = 64;
/// Deepest nesting of expressions and blocks the lowering accepts.
pub(crate) const MAX_NESTING: u32 = 128;
/// Deepest nesting of brackets the tokenizer check accepts.
const MAX_GROUP_DEPTH: usize = 128;
/// Most tokens in one statement (between `;`/`,` at one bracket level).
const MAX_STATEMENT_TOKENS: usize = 20_000;
/// Most consecutive operator tokens (`- - - - x`).
const MAX_OPERATOR_RUN: usize = 128;
/// Most helper calls inlined into one kernel.
const MAX_INLINES: u32 = 10_000;
/// Most expression nodes duplicated by substituting helper arguments.
const MAX_SUBST_NODES: usize = 200_000;
/// Stack of the parsing thread: deep (but bounded) input stays safe.
const PARSE_STACK_BYTES: usize = 256 << 20;

/// Run [`parse_source`] on a thread with a large stack, turning any panic
/// (a bug) into an internal-error diagnostic.
pub(crate) fn parse_on_big_stack(source: &str) -> Result<Vec<Program>, Vec<Raw>> {
    let run = || std::panic::catch_unwind(AssertUnwindSafe(|| parse_source(source)));
    let res = std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("vyre-parse".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(s, run)
        {
            Ok(handle) => handle.join().ok(),
            Err(_) => Some(run()),
        }
    });
    match res {
        Some(Ok(r)) => r,
        _ => Err(vec![Raw {
            sp: Sp::default(),
            message: "internal error in the vyre parser; please report it with this input".into(),
            notes: Vec::new(),
        }]),
    }
}

fn raw(sp: Sp, message: impl Into<String>) -> Raw {
    Raw {
        sp,
        message: message.into(),
        notes: Vec::new(),
    }
}

/// Tokenize, check size limits, parse with `syn`, lower every kernel.
pub(crate) fn parse_source(source: &str) -> Result<Vec<Program>, Vec<Raw>> {
    // A byte-order mark is not a token; blank it without moving offsets.
    let blanked;
    let src = match source.strip_prefix('\u{feff}') {
        Some(rest) => {
            blanked = format!("   {rest}");
            blanked.as_str()
        }
        None => source,
    };
    let tokens: TokenStream = match src.parse() {
        Ok(t) => t,
        Err(e) => {
            let sp = Sp::of(e.span());
            return Err(vec![raw(sp, lex_error_message(src, sp.lo))]);
        }
    };
    if let Some(r) = check_token_limits(&tokens) {
        return Err(vec![r]);
    }
    let file: syn::File = match syn::parse2(tokens) {
        Ok(f) => f,
        Err(e) => {
            return Err(e
                .into_iter()
                .map(|e| {
                    let mut sp = Sp::of(e.span());
                    let msg = e.to_string();
                    // Top-level "end of input" errors carry no position:
                    // point at the end of the text instead of its start.
                    if sp == Sp::default() && msg.contains("end of input") {
                        let end = src.trim_end().len();
                        sp = Sp { lo: end, hi: end };
                    }
                    raw(sp, format!("syntax error: {msg}"))
                })
                .collect());
        }
    };
    let mut fx = FileCx::default();
    let kernels = fx.run(&file);
    if fx.errs.is_empty() {
        Ok(kernels)
    } else {
        Err(fx.errs)
    }
}

/// Say what the tokenizer most likely tripped over at byte `at`.
fn lex_error_message(src: &str, at: usize) -> String {
    let c = src.get(at..).and_then(|r| r.chars().next());
    let what = match c {
        None => {
            "unexpected end of file: a bracket, string or block comment is not closed".to_string()
        }
        Some(c @ (')' | ']' | '}')) => format!(
            "mismatched closing delimiter `{c}`: a bracket opened before it is not closed, or this one has no opening bracket"
        ),
        Some(c @ ('(' | '[' | '{')) => format!("this `{c}` is never closed"),
        Some('"') => {
            "unterminated string literal (strings are not supported in kernels anyway)".to_string()
        }
        Some('\'') => "malformed character literal or lifetime".to_string(),
        Some('/') => "unterminated block comment `/* ... */`".to_string(),
        Some(c) if c.is_control() => {
            format!("unexpected control character U+{:04X}", u32::from(c))
        }
        Some(c) if !c.is_ascii() => {
            format!("unexpected character `{c}` (U+{:04X})", u32::from(c))
        }
        Some(c) => format!("cannot tokenize the source at `{c}`"),
    };
    format!("{what}; the file is not valid Rust token syntax")
}

/// Reject token streams whose shape could make the recursive-descent parser
/// or the tree's destructor recurse too deeply: bracket depth, statement
/// length and runs of operators, in one iterative pass.
fn check_token_limits(tokens: &TokenStream) -> Option<Raw> {
    // (tokens of one bracket level, depth, tokens since the last `;`/`,`)
    let mut stack = vec![(tokens.clone().into_iter(), 0usize, 0usize)];
    let mut run = 0usize;
    while let Some((iter, depth, count)) = stack.last_mut() {
        let depth = *depth;
        let Some(tt) = iter.next() else {
            stack.pop();
            run = 0;
            continue;
        };
        *count += 1;
        if *count > MAX_STATEMENT_TOKENS {
            return Some(raw(
                Sp::of(tt.span()),
                format!(
                    "this statement is longer than {MAX_STATEMENT_TOKENS} tokens; split it into several `let`s"
                ),
            ));
        }
        let prefixish = match &tt {
            TokenTree::Punct(p) => {
                if matches!(p.as_char(), ';' | ',') {
                    *count = 0;
                }
                true
            }
            TokenTree::Ident(i) => {
                i == "return" || i == "break" || i == "box" || i == "move" || i == "yield"
            }
            _ => false,
        };
        if prefixish {
            run += 1;
            if run > MAX_OPERATOR_RUN {
                return Some(raw(
                    Sp::of(tt.span()),
                    format!(
                        "more than {MAX_OPERATOR_RUN} operators in a row; simplify the expression"
                    ),
                ));
            }
        } else {
            run = 0;
        }
        if let TokenTree::Group(g) = tt {
            if depth + 1 > MAX_GROUP_DEPTH {
                return Some(raw(
                    Sp::of(g.span_open()),
                    format!(
                        "brackets are nested more than {MAX_GROUP_DEPTH} levels deep; simplify the code with `let`s or helper functions"
                    ),
                ));
            }
            stack.push((g.stream().into_iter(), depth + 1, 0));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Front-end trees.

/// Where a front-end node came from; its byte range is computed only when a
/// diagnostic needs it (computing spans of large `syn` trees is not free).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc<'f> {
    Expr(&'f syn::Expr),
    Stmt(&'f syn::Stmt),
    Span(Span),
}

impl Loc<'_> {
    pub(crate) fn sp(self) -> Sp {
        match self {
            Loc::Expr(e) => Sp::of(e.span()),
            Loc::Stmt(s) => Sp::of(s.span()),
            Loc::Span(s) => Sp::of(s),
        }
    }
}

impl<'f> From<&'f syn::Expr> for Loc<'f> {
    fn from(e: &'f syn::Expr) -> Self {
        Loc::Expr(e)
    }
}

impl From<Span> for Loc<'_> {
    fn from(s: Span) -> Self {
        Loc::Span(s)
    }
}

/// A type during inference: known, an integer-literal variable, or the
/// type of an expression that already produced an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    K(DataType),
    V(u32),
    Err,
}

/// Union-find over integer-literal type variables.
#[derive(Default, Debug)]
pub(crate) struct Vars {
    parent: Vec<u32>,
    bound: Vec<Option<DataType>>,
    prefer_u32: Vec<bool>,
}

impl Vars {
    pub(crate) fn fresh(&mut self) -> Ty {
        let id = self.parent.len() as u32;
        self.parent.push(id);
        self.bound.push(None);
        self.prefer_u32.push(false);
        Ty::V(id)
    }

    fn find(&mut self, mut v: u32) -> u32 {
        let mut root = v;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        while self.parent[v as usize] != root {
            let next = self.parent[v as usize];
            self.parent[v as usize] = root;
            v = next;
        }
        root
    }

    /// Record that `a` and `b` must be equal. Conflicts between known types
    /// are left for pass 2, which reports them with positions.
    pub(crate) fn unify(&mut self, a: Ty, b: Ty) {
        match (a, b) {
            (Ty::V(x), Ty::V(y)) => {
                let (x, y) = (self.find(x), self.find(y));
                if x != y {
                    self.parent[x as usize] = y;
                    if self.bound[y as usize].is_none() {
                        self.bound[y as usize] = self.bound[x as usize];
                    }
                    self.prefer_u32[y as usize] |= self.prefer_u32[x as usize];
                }
            }
            (Ty::V(x), Ty::K(t)) | (Ty::K(t), Ty::V(x)) => {
                let x = self.find(x);
                if t.is_integer() && self.bound[x as usize].is_none() {
                    self.bound[x as usize] = Some(t);
                }
            }
            _ => {}
        }
    }

    /// An index prefers `u32` when nothing else decides.
    pub(crate) fn prefer_u32(&mut self, t: Ty) {
        if let Ty::V(x) = t {
            let x = self.find(x);
            self.prefer_u32[x as usize] = true;
        }
    }

    /// The type `t` stands for once inference is complete.
    pub(crate) fn resolve(&mut self, t: Ty) -> Option<DataType> {
        match t {
            Ty::K(t) => Some(t),
            Ty::Err => None,
            Ty::V(x) => {
                let x = self.find(x);
                Some(
                    self.bound[x as usize].unwrap_or(if self.prefer_u32[x as usize] {
                        DataType::U32
                    } else {
                        DataType::I32
                    }),
                )
            }
        }
    }
}

/// A front-end expression.
#[derive(Clone, Debug)]
pub(crate) struct FExpr<'f> {
    pub k: FK<'f>,
    pub loc: Loc<'f>,
    pub ty: Ty,
}

/// Front-end expression kinds, mirroring [`crate::ir::Expr`].
#[derive(Clone, Debug)]
pub(crate) enum FK<'f> {
    /// An integer literal whose type is `ty` (possibly a variable).
    Int(i128),
    Lit(Literal),
    Local(LocalId),
    Param(ParamId),
    Builtin(Builtin, Axis),
    Len(ParamId),
    Load(BufRef, Box<FExpr<'f>>),
    Unary(UnOp, Box<FExpr<'f>>),
    Binary(BinOp, Box<FExpr<'f>>, Box<FExpr<'f>>),
    Cast(DataType, Box<FExpr<'f>>),
    Math(MathFn, Vec<FExpr<'f>>),
    Select(Box<FExpr<'f>>, Box<FExpr<'f>>, Box<FExpr<'f>>),
    Atomic {
        op: AtomicOp,
        buf: BufRef,
        index: Box<FExpr<'f>>,
        expected: Option<Box<FExpr<'f>>>,
        value: Box<FExpr<'f>>,
    },
    /// An expression that already produced a diagnostic.
    Error,
}

impl<'f> FExpr<'f> {
    pub(crate) fn error(loc: Loc<'f>) -> Self {
        Self {
            k: FK::Error,
            loc,
            ty: Ty::Err,
        }
    }

    fn lit(l: Literal, loc: Loc<'f>) -> Self {
        Self {
            k: FK::Lit(l),
            loc,
            ty: Ty::K(l.ty()),
        }
    }

    /// Number of nodes, for the substitution budget.
    fn size(&self) -> usize {
        1 + match &self.k {
            FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => a.size(),
            FK::Binary(_, a, b) => a.size() + b.size(),
            FK::Math(_, args) => args.iter().map(FExpr::size).sum(),
            FK::Select(a, b, c) => a.size() + b.size() + c.size(),
            FK::Atomic {
                index,
                expected,
                value,
                ..
            } => index.size() + value.size() + expected.as_ref().map_or(0, |e| e.size()),
            _ => 0,
        }
    }

    /// Leaves that are free to duplicate.
    fn is_simple(&self) -> bool {
        matches!(
            self.k,
            FK::Int(_)
                | FK::Lit(_)
                | FK::Local(_)
                | FK::Param(_)
                | FK::Builtin(..)
                | FK::Len(_)
                | FK::Error
        )
    }
}

/// A front-end statement.
#[derive(Clone, Debug)]
pub(crate) struct FStmt<'f> {
    pub k: FS<'f>,
    pub loc: Loc<'f>,
}

/// Front-end statement kinds, mirroring [`crate::ir::Node`].
#[derive(Clone, Debug)]
pub(crate) enum FS<'f> {
    Let(LocalId, FExpr<'f>),
    Assign(LocalId, FExpr<'f>),
    Store(BufRef, FExpr<'f>, FExpr<'f>),
    Eval(FExpr<'f>),
    If(FExpr<'f>, Vec<FStmt<'f>>, Vec<FStmt<'f>>),
    While(FExpr<'f>, Vec<FStmt<'f>>),
    For(LocalId, FExpr<'f>, FExpr<'f>, Vec<FStmt<'f>>),
    Loop(Vec<FStmt<'f>>),
    Break,
    Continue,
    Return,
    Barrier,
}

/// A local during lowering.
#[derive(Clone, Debug)]
pub(crate) struct FLocal<'f> {
    pub name: String,
    pub ty: Ty,
    pub mutable: bool,
    pub loc: Loc<'f>,
}

/// What a name in scope stands for.
#[derive(Clone, Debug)]
pub(crate) enum Bind<'f> {
    Local(LocalId),
    Param(ParamId),
    Buf(BufRef),
    /// A helper's scalar parameter replaced by its (pure) argument.
    Subst(Box<FExpr<'f>>),
}

/// Expression context: what the position of an expression allows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cx {
    /// An atomic may stand here (whole `let` initializer, `=` rhs, statement).
    pub atomic_ok: bool,
    /// A helper that writes memory may be called here.
    pub effect_ok: bool,
    /// `None` if statements may be hoisted before the current statement,
    /// else why not.
    pub hoist: Option<&'static str>,
}

impl Cx {
    pub(crate) const TOP: Cx = Cx {
        atomic_ok: true,
        effect_ok: true,
        hoist: None,
    };

    pub(crate) fn nested(self) -> Cx {
        Cx {
            atomic_ok: false,
            effect_ok: false,
            hoist: self.hoist,
        }
    }

    pub(crate) fn no_hoist(self, why: &'static str) -> Cx {
        Cx {
            atomic_ok: false,
            effect_ok: false,
            hoist: Some(self.hoist.unwrap_or(why)),
        }
    }
}

// ---------------------------------------------------------------------------
// File level.

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

/// A helper `fn`, analysed once and inlined at each call.
pub(crate) struct Helper<'f> {
    pub f: &'f syn::ItemFn,
    pub params: Vec<HParam>,
    pub ret: Option<DataType>,
    /// Stores, atomics or barriers, directly or through other helpers.
    pub effectful: bool,
    /// Body is more than a tail expression (its statements must be hoisted).
    pub has_stmts: bool,
    /// How often each parameter name appears in the body.
    pub uses: HashMap<String, usize>,
}

#[derive(Default)]
pub(crate) struct FileCx<'f> {
    pub errs: Vec<Raw>,
    consts: HashMap<String, ConstSlot<'f>>,
    pub helpers: HashMap<String, Helper<'f>>,
    kernel_names: HashSet<String>,
}

fn is_kernel_attr(a: &syn::Attribute) -> bool {
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

    fn run(&mut self, file: &'f syn::File) -> Vec<Program> {
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
        let mut programs = Vec::new();
        for f in kernels {
            if let Some(p) = self.kernel(f) {
                programs.push(p);
            }
        }
        programs
    }

    /// The value of constant `name`, evaluated on first use.
    pub(crate) fn const_value(&mut self, name: &str) -> Option<Option<Literal>> {
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
        let lowered = finish::const_expr(&mut kx, &program, &fe, ty);
        if kx.fx.errs.len() > before {
            return None;
        }
        let lowered = lowered?;
        match super::consts::eval(&lowered) {
            Ok(v) => Some(v),
            Err(m) => {
                self.err(e, m);
                None
            }
        }
    }

    fn helper_sig(&mut self, f: &'f syn::ItemFn) -> Option<Helper<'f>> {
        let mut ok = self.check_signature_shape(f);
        for attr in &f.attrs {
            if !(attr.path().is_ident("doc")
                || attr.path().is_ident("inline")
                || attr.path().is_ident("allow"))
            {
                self.err(
                    attr.span(),
                    "unsupported attribute on a helper; only doc comments, `#[inline]` and `#[allow]` are accepted (kernels are marked `#[kernel(...)]`)",
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
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, t) => {
                if matches!(&**t, syn::Type::Tuple(tt) if tt.elems.is_empty()) {
                    None
                } else {
                    match scalar_type(t) {
                        Ok(t) => Some(t),
                        Err(m) => {
                            self.err(t.span(), format!("{m} (as a helper's return type)"));
                            ok = false;
                            None
                        }
                    }
                }
            }
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

    fn check_signature_shape(&mut self, f: &'f syn::ItemFn) -> bool {
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
        if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
            bad(self, s.generics.span(), "generic");
        }
        if let Some(v) = &s.variadic {
            bad(self, v.span(), "variadic");
        }
        ok
    }

    /// `name` or `mut name`.
    fn pat_ident(&mut self, pat: &'f syn::Pat) -> Option<(String, bool)> {
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

    fn kernel(&mut self, f: &'f syn::ItemFn) -> Option<Program> {
        let before = self.errs.len();
        self.check_signature_shape(f);
        let name = f.sig.ident.unraw().to_string();
        let mut program = Program::new(name, [DEFAULT_WORKGROUP_SIZE, 1, 1]);
        let mut doc_lines = Vec::new();
        let mut flat: Option<Vec<FlatLocal>> = None;
        let mut ws_span = f.sig.ident.span();
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
                ws_span = attr.span();
                self.kernel_attr(attr, &mut program);
            } else if attr.path().is_ident("locals") {
                flat = self.locals_attr(attr);
            } else if attr.path().is_ident("allow") || attr.path().is_ident("inline") {
            } else {
                self.err(
                    attr.span(),
                    "unsupported attribute on a kernel; use `#[kernel(workgroup_size = N, unchecked, fast_math)]` and doc comments",
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
            let param = match param_type(&pt.ty) {
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
        let out = finish::kernel(&mut kx, program, &body);
        if kx.fx.errs.len() > before {
            return None;
        }
        out
    }

    fn kernel_attr(&mut self, attr: &'f syn::Attribute, program: &mut Program) {
        let list = match &attr.meta {
            syn::Meta::Path(_) => return,
            syn::Meta::List(_) => attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
            ),
            syn::Meta::NameValue(nv) => {
                self.err(nv.span(), "write `#[kernel(workgroup_size = 256)]`");
                return;
            }
        };
        let list = match list {
            Ok(l) => l,
            Err(e) => {
                self.err(
                    e.span(),
                    format!("malformed `#[kernel(...)]`: {e}; expected e.g. `#[kernel(workgroup_size = 256, unchecked)]`"),
                );
                return;
            }
        };
        // The attribute's tokens are re-parsed into owned trees, so only
        // literals and constant names are accepted as dimensions.
        for meta in list {
            match &meta {
                syn::Meta::Path(p) if p.is_ident("unchecked") => program.unchecked = true,
                syn::Meta::Path(p) if p.is_ident("fast_math") => program.fast_math = true,
                syn::Meta::NameValue(nv) if nv.path.is_ident("workgroup_size") => {
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
                            "unknown kernel option{}; allowed: `workgroup_size = N | (X, Y) | (X, Y, Z)`, `unchecked`, `fast_math`",
                            what.map(|w| format!(" `{w}`")).unwrap_or_default()
                        ),
                    );
                }
            }
        }
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
                    match scalar_type(&ty) {
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

/// Whether `block` itself stores, runs an atomic or a barrier.
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
                && p.path.is_ident("barrier")
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

const TYPES_ALLOWED: &str = "vyre has the scalar types `bool`, `i32`, `u32` and `f32`";

/// `bool`, `i32`, `u32` or `f32`.
pub(crate) fn scalar_type(ty: &syn::Type) -> Result<DataType, String> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => match p.path.get_ident() {
            Some(id) => match id.to_string().as_str() {
                "bool" => Ok(DataType::Bool),
                "i32" => Ok(DataType::I32),
                "u32" => Ok(DataType::U32),
                "f32" => Ok(DataType::F32),
                other => Err(format!("type `{other}` is not supported; {TYPES_ALLOWED}")),
            },
            None => Err(match p.path.segments.last() {
                Some(seg) => format!("type `{}` is not supported; {TYPES_ALLOWED}", seg.ident),
                None => format!("this type is not supported; {TYPES_ALLOWED}"),
            }),
        },
        syn::Type::Paren(p) => scalar_type(&p.elem),
        _ => Err(format!("expected a scalar type; {TYPES_ALLOWED}")),
    }
}

pub(crate) enum PType {
    Scalar(DataType),
    Buf(DataType, Access),
}

/// A parameter type: a scalar, `&[T]` or `&mut [T]`.
pub(crate) fn param_type(ty: &syn::Type) -> Result<PType, String> {
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
        let elem = scalar_type(&s.elem)?;
        if elem == DataType::Bool {
            return Err("buffers of `bool` are not supported; use `u32` (0 or 1) instead".into());
        }
        return Ok(PType::Buf(elem, access));
    }
    scalar_type(ty).map(PType::Scalar).map_err(|m| {
        format!("{m}; buffer parameters are written `&[T]` (read-only) or `&mut [T]` (read-write)")
    })
}

// ---------------------------------------------------------------------------
// Kernel (and constant) lowering context.

/// Lowering state of one kernel (or one constant expression).
pub(crate) struct Kx<'a, 'f> {
    pub fx: &'a mut FileCx<'f>,
    pub const_mode: bool,
    pub params: Vec<Param>,
    pub param_loc: Vec<Span>,
    pub ws_span: Span,
    pub shared: Vec<SharedDecl>,
    pub shared_loc: Vec<Span>,
    pub locals: Vec<FLocal<'f>>,
    pub used: HashSet<String>,
    /// Next suffix to try per base name (see [`Kx::fresh_name`]).
    pub next_suffix: HashMap<String, u32>,
    pub scopes: Vec<HashMap<String, Bind<'f>>>,
    /// First scope visible from the current helper (helpers do not see the
    /// caller's names).
    pub base: usize,
    pub flat: Option<HashMap<String, LocalId>>,
    pub vars: Vars,
    pub loop_depth: u32,
    pub depth: u32,
    /// Helpers being inlined, innermost last.
    pub inlining: Vec<String>,
    pub inlines: u32,
    pub subst_nodes: usize,
    /// Whether statements are the kernel's top-level block (`#[shared]`).
    pub top_block: bool,
    /// The nesting-depth error was reported (report it once).
    pub deep_reported: bool,
}

impl<'a, 'f> Kx<'a, 'f> {
    fn new(fx: &'a mut FileCx<'f>, const_mode: bool) -> Self {
        Self {
            fx,
            const_mode,
            params: Vec::new(),
            param_loc: Vec::new(),
            ws_span: Span::call_site(),
            shared: Vec::new(),
            shared_loc: Vec::new(),
            locals: Vec::new(),
            used: HashSet::new(),
            next_suffix: HashMap::new(),
            scopes: Vec::new(),
            base: 0,
            flat: None,
            vars: Vars::default(),
            loop_depth: 0,
            depth: 0,
            inlining: Vec::new(),
            inlines: 0,
            subst_nodes: 0,
            top_block: false,
            deep_reported: false,
        }
    }

    pub(crate) fn err(&mut self, loc: impl Into<Loc<'f>>, msg: impl Into<String>) {
        self.fx.err(loc, msg);
    }

    pub(crate) fn bind(&mut self, name: &str, b: Bind<'f>) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string(), b);
        }
    }

    /// A unique local name based on `base`.
    pub(crate) fn fresh_name(&mut self, base: &str) -> String {
        if self.used.insert(base.to_string()) {
            return base.to_string();
        }
        // Resume from the last suffix used for `base`: inlining a helper
        // many times must not rescan `x_1, x_2, ...` at every call.
        let mut k = self.next_suffix.get(base).copied().unwrap_or(1);
        loop {
            let n = format!("{base}_{k}");
            k += 1;
            if self.used.insert(n.clone()) {
                self.next_suffix.insert(base.to_string(), k);
                return n;
            }
        }
    }

    pub(crate) fn new_local(&mut self, base: &str, ty: Ty, mutable: bool, loc: Loc<'f>) -> LocalId {
        let name = self.fresh_name(base);
        self.locals.push(FLocal {
            name,
            ty,
            mutable,
            loc,
        });
        (self.locals.len() - 1) as LocalId
    }

    /// Define a source-level local: in `#[locals]` mode the declared one,
    /// else a fresh local bound in the current scope.
    fn define_local(&mut self, name: &str, ty: Ty, mutable: bool, loc: Loc<'f>) -> Option<LocalId> {
        if self.base == 0
            && let Some(flat) = &self.flat
        {
            return match flat.get(name).copied() {
                Some(id) => {
                    let lt = self.locals[id as usize].ty;
                    self.vars.unify(lt, ty);
                    Some(id)
                }
                None => {
                    self.err(
                        loc,
                        format!("`{name}` is not declared in the kernel's `#[locals(...)]` list"),
                    );
                    None
                }
            };
        }
        let id = self.new_local(name, ty, mutable, loc);
        self.bind(name, Bind::Local(id));
        Some(id)
    }

    /// Resolve a name: scopes visible from here, `#[locals]`, constants.
    pub(crate) fn lookup(&mut self, name: &str) -> Option<Bind<'f>> {
        if self.base == 0
            && let Some(id) = self.flat.as_ref().and_then(|f| f.get(name).copied())
        {
            return Some(Bind::Local(id));
        }
        for s in self.scopes[self.base.min(self.scopes.len())..].iter().rev() {
            if let Some(b) = s.get(name) {
                return Some(b.clone());
            }
        }
        None
    }

    fn enter(&mut self, loc: Loc<'f>) -> bool {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            if std::mem::replace(&mut self.deep_reported, true) {
                return false;
            }
            self.err(
                loc,
                format!(
                    "code is nested more than {MAX_NESTING} levels deep; split it with `let`s or helper functions"
                ),
            );
            return false;
        }
        true
    }

    // -----------------------------------------------------------------------
    // Statements.

    /// Lower a block's statements in a new scope.
    pub(crate) fn block(&mut self, b: &'f syn::Block, out: &mut Vec<FStmt<'f>>) {
        let top = std::mem::replace(&mut self.top_block, false);
        self.scopes.push(HashMap::new());
        self.stmts(&b.stmts, out, false);
        self.scopes.pop();
        self.top_block = top;
    }

    /// Lower statements into `out`. With `helper_tail`, the caller handles
    /// the final tail expression (helpers), so it is skipped here.
    pub(crate) fn stmts(
        &mut self,
        stmts: &'f [syn::Stmt],
        out: &mut Vec<FStmt<'f>>,
        helper_tail: bool,
    ) {
        let n = stmts.len();
        for (i, s) in stmts.iter().enumerate() {
            if helper_tail && i + 1 == n {
                break;
            }
            self.stmt(s, out);
        }
    }

    fn stmt(&mut self, s: &'f syn::Stmt, out: &mut Vec<FStmt<'f>>) {
        let loc = Loc::Stmt(s);
        match s {
            syn::Stmt::Local(l) => self.let_stmt(l, s, out),
            syn::Stmt::Item(item) => self.err(
                item.span(),
                "items inside functions are not supported; move `const` and `fn` items to the top level of the file",
            ),
            syn::Stmt::Macro(m) => self.err(
                m.span(),
                "macros are not supported in kernels (no `println!`, `assert!`, ...)",
            ),
            syn::Stmt::Expr(e, _) => {
                if self.enter(loc) {
                    self.expr_stmt(e, loc, out);
                }
                self.depth -= 1;
            }
        }
    }

    fn let_stmt(&mut self, l: &'f syn::Local, s: &'f syn::Stmt, out: &mut Vec<FStmt<'f>>) {
        let loc = Loc::Stmt(s);
        let mut shared_attr = false;
        for a in &l.attrs {
            if a.path().is_ident("shared") && matches!(a.meta, syn::Meta::Path(_)) {
                shared_attr = true;
            } else {
                self.err(
                    a.span(),
                    "unsupported attribute on `let`; only `#[shared]` (workgroup shared arrays) is accepted",
                );
            }
        }
        let (pat, ann) = match &l.pat {
            syn::Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
            p => (p, None),
        };
        if let (syn::Pat::Wild(_), Some(init), false) = (pat, &l.init, shared_attr) {
            // `let _ = e;`: evaluated for its effect (an atomic or a helper
            // call); a pure value is simply dropped.
            let value = self.expr(&init.expr, out, Cx::TOP);
            if matches!(value.k, FK::Atomic { .. }) {
                out.push(FStmt {
                    k: FS::Eval(value),
                    loc,
                });
            }
            return;
        }
        let Some((name, mutable)) = self.fx.pat_ident(pat) else {
            return;
        };
        if shared_attr {
            self.shared_decl(l, &name, mutable, ann);
            return;
        }
        if let Some(syn::Type::Array(_)) = ann {
            self.err(
                l.span(),
                "local arrays are not supported; declare a workgroup array with `#[shared] let mut name: [T; N];` at the top of the kernel",
            );
            return;
        }
        let ann_ty = match ann.map(scalar_type) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(m)) => {
                self.err(ann.map_or(loc, |t| Loc::Span(t.span())), m);
                return;
            }
        };
        let Some(init) = &l.init else {
            self.err(
                l.span(),
                format!("`let {name}` needs an initial value: `let {name} = ...;` (declare-then-assign is not supported)"),
            );
            return;
        };
        if let Some((_, d)) = &init.diverge {
            self.err(&**d, "`let ... else` is not supported");
        }
        let value = self.expr(&init.expr, out, Cx::TOP);
        let ty = match ann_ty {
            Some(t) => {
                self.vars.unify(value.ty, Ty::K(t));
                Ty::K(t)
            }
            None => value.ty,
        };
        if let Some(id) = self.define_local(&name, ty, mutable, loc) {
            out.push(FStmt {
                k: FS::Let(id, value),
                loc,
            });
        }
    }

    fn shared_decl(
        &mut self,
        l: &'f syn::Local,
        name: &str,
        mutable: bool,
        ann: Option<&'f syn::Type>,
    ) {
        if !self.top_block {
            self.err(
                l.span(),
                "`#[shared]` arrays may only be declared in the kernel's top-level block (not in helpers, loops or branches)",
            );
            return;
        }
        if !mutable {
            self.err(
                l.pat.span(),
                format!("write `#[shared] let mut {name}: [T; N];`"),
            );
        }
        if let Some(init) = &l.init {
            self.err(
                &*init.expr,
                "shared arrays cannot be initialised; they start undefined, so write every element before reading it (and call `barrier()`)",
            );
        }
        let Some(syn::Type::Array(arr)) = ann else {
            self.err(
                l.span(),
                format!(
                    "a shared array needs an array type: `#[shared] let mut {name}: [f32; 256];`"
                ),
            );
            return;
        };
        let elem = match scalar_type(&arr.elem) {
            Ok(DataType::Bool) => {
                self.err(
                    arr.elem.span(),
                    "shared arrays of `bool` are not supported; use `u32`",
                );
                return;
            }
            Ok(t) => t,
            Err(m) => {
                self.err(arr.elem.span(), m);
                return;
            }
        };
        let len = match self.fx.eval_const_expr(&arr.len, None) {
            Some(Literal::U32(v)) => v,
            Some(Literal::I32(v)) if v >= 0 => v as u32,
            Some(_) => {
                self.err(
                    &arr.len,
                    "the length of a shared array must be a non-negative integer constant",
                );
                return;
            }
            None => return,
        };
        if len == 0 {
            self.err(&arr.len, "a shared array needs at least one element");
            return;
        }
        let bytes: u64 = self
            .shared
            .iter()
            .map(|s| u64::from(s.len) * 4)
            .sum::<u64>()
            + u64::from(len) * 4;
        if bytes > crate::ir::validate::MAX_SHARED_BYTES {
            self.fx.err_notes(
                l.span(),
                format!(
                    "shared arrays of this kernel take {bytes} bytes with `{name}`; at most {} bytes per workgroup are allowed",
                    crate::ir::validate::MAX_SHARED_BYTES
                ),
                vec!["use smaller tiles, or keep the data in a buffer parameter".into()],
            );
            return;
        }
        let sname = self.fresh_name(name);
        let id = self.shared.len() as u32;
        self.shared.push(SharedDecl {
            name: sname,
            elem,
            len,
        });
        self.shared_loc.push(l.span());
        self.bind(name, Bind::Buf(BufRef::Shared(id)));
    }

    fn expr_stmt(&mut self, e: &'f syn::Expr, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        match e {
            syn::Expr::Assign(a) => self.assign(&a.left, &a.right, None, e, out),
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => {
                self.assign(&b.left, &b.right, compound_op(&b.op), e, out);
            }
            syn::Expr::If(i) => self.if_stmt(i, loc, out),
            syn::Expr::While(w) => {
                if let Some(l) = &w.label {
                    self.err(l.span(), "loop labels are not supported");
                }
                if let syn::Expr::Let(l) = &*w.cond {
                    self.err(l.span(), "`while let` is not supported; use `while cond { ... }`");
                    return;
                }
                let cond = self.expr(
                    &w.cond,
                    out,
                    Cx::TOP.no_hoist("in a `while` condition, which is evaluated before every iteration"),
                );
                self.vars.unify(cond.ty, Ty::K(DataType::Bool));
                let body = self.loop_body(&w.body);
                out.push(FStmt {
                    k: FS::While(cond, body),
                    loc,
                });
            }
            syn::Expr::ForLoop(f) => self.for_stmt(f, loc, out),
            syn::Expr::Loop(l) => {
                if let Some(l) = &l.label {
                    self.err(l.span(), "loop labels are not supported");
                }
                let body = self.loop_body(&l.body);
                out.push(FStmt {
                    k: FS::Loop(body),
                    loc,
                });
            }
            syn::Expr::Break(b) => {
                if b.label.is_some() || b.expr.is_some() {
                    self.err(e, "`break` takes no label or value in vyre; write plain `break;`");
                }
                self.loop_exit(FS::Break, "break", loc, out);
            }
            syn::Expr::Continue(c) => {
                if c.label.is_some() {
                    self.err(e, "loop labels are not supported; write plain `continue;`");
                }
                self.loop_exit(FS::Continue, "continue", loc, out);
            }
            syn::Expr::Return(r) => {
                if !self.inlining.is_empty() {
                    self.err(
                        e,
                        "`return` in a helper is only allowed as its last statement; restructure with `if`/`else`",
                    );
                } else if let Some(v) = &r.expr {
                    self.err(&**v, "kernels return nothing; write `return;` and store results in a `&mut [T]` buffer");
                } else {
                    out.push(FStmt { k: FS::Return, loc });
                }
            }
            syn::Expr::Block(b) => {
                if let Some(l) = &b.label {
                    self.err(l.span(), "block labels are not supported");
                }
                self.block(&b.block, out);
            }
            syn::Expr::Unsafe(u) => self.err(
                u.unsafe_token.span,
                "`unsafe` blocks are not supported; mark the kernel `#[kernel(unchecked)]` to drop bounds checks",
            ),
            syn::Expr::Call(c) if path_is(&c.func, "barrier") => {
                if !c.args.is_empty() {
                    self.err(e, "`barrier()` takes no arguments");
                }
                out.push(FStmt {
                    k: FS::Barrier,
                    loc,
                });
            }
            syn::Expr::Call(c) if self.helper_name(&c.func).is_some() => {
                let name = self.helper_name(&c.func).unwrap_or_default();
                self.call_helper(&name, c, e, out, Cx::TOP, true);
            }
            syn::Expr::MethodCall(m) if m.method.to_string().starts_with("atomic_") => {
                let v = self.expr(e, out, Cx::TOP);
                out.push(FStmt {
                    k: FS::Eval(v),
                    loc,
                });
            }
            syn::Expr::Paren(p) => self.expr_stmt(&p.expr, loc, out),
            _ => {
                // Lower it anyway for its diagnostics, then reject it.
                let before = self.fx.errs.len();
                let _ = self.expr(e, out, Cx::TOP);
                if self.fx.errs.len() == before {
                    self.err(
                        e,
                        "this expression statement has no effect; statements are `let`, assignments, stores `buf[i] = v`, atomics, `barrier()`, helper calls, `if`, loops, `break`, `continue` and `return`",
                    );
                }
            }
        }
    }

    fn loop_exit(&mut self, k: FS<'f>, what: &str, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        if self.loop_depth == 0 {
            self.err(loc, format!("`{what}` outside of a loop"));
        } else {
            out.push(FStmt { k, loc });
        }
    }

    fn loop_body(&mut self, b: &'f syn::Block) -> Vec<FStmt<'f>> {
        let mut body = Vec::new();
        self.loop_depth += 1;
        self.block(b, &mut body);
        self.loop_depth -= 1;
        body
    }

    pub(crate) fn helper_name(&self, func: &syn::Expr) -> Option<String> {
        if let syn::Expr::Path(p) = func
            && p.qself.is_none()
            && let Some(id) = p.path.get_ident()
        {
            let n = id.unraw().to_string();
            if self.fx.helpers.contains_key(&n) {
                return Some(n);
            }
        }
        None
    }

    /// `lhs = rhs` or `lhs op= rhs`.
    fn assign(
        &mut self,
        lhs: &'f syn::Expr,
        rhs: &'f syn::Expr,
        op: Option<BinOp>,
        whole: &'f syn::Expr,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let loc = Loc::Expr(whole);
        match lhs {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident().map(|i| i.unraw().to_string()).unwrap_or_default();
                let target = match self.lookup(&name) {
                    Some(Bind::Local(id)) => id,
                    Some(Bind::Param(_) | Bind::Subst(_)) => {
                        self.err(
                            lhs,
                            format!("cannot assign to parameter `{name}`; copy it first: `let mut {name}_v = {name};`"),
                        );
                        return;
                    }
                    Some(Bind::Buf(_)) => {
                        self.err(lhs, format!("cannot assign to the buffer `{name}` itself; store one element: `{name}[i] = ...`"));
                        return;
                    }
                    None => {
                        self.unknown_name(&name, lhs);
                        return;
                    }
                };
                let lty = self.locals[target as usize].ty;
                let value = match op {
                    None => self.expr(rhs, out, Cx::TOP),
                    Some(op) => {
                        let r = self.expr(rhs, out, Cx::TOP.nested());
                        let cur = FExpr {
                            k: FK::Local(target),
                            loc: Loc::Expr(lhs),
                            ty: lty,
                        };
                        self.binary_node(op, cur, r, loc)
                    }
                };
                self.vars.unify(lty, value.ty);
                out.push(FStmt {
                    k: FS::Assign(target, value),
                    loc,
                });
            }
            syn::Expr::Index(ix) => {
                let Some((buf, elem)) = self.buffer_ref(&ix.expr) else {
                    return;
                };
                let index = self.index_expr(&ix.index, out, Cx::TOP.nested());
                let value = match op {
                    None => self.expr(
                        rhs,
                        out,
                        Cx {
                            atomic_ok: false,
                            effect_ok: true,
                            hoist: None,
                        },
                    ),
                    Some(op) => {
                        let r = self.expr(rhs, out, Cx::TOP.nested());
                        let cur = FExpr {
                            k: FK::Load(buf, Box::new(index.clone())),
                            loc: Loc::Expr(lhs),
                            ty: Ty::K(elem),
                        };
                        self.binary_node(op, cur, r, loc)
                    }
                };
                self.vars.unify(Ty::K(elem), value.ty);
                out.push(FStmt {
                    k: FS::Store(buf, index, value),
                    loc,
                });
            }
            syn::Expr::Paren(p) => self.assign(&p.expr, rhs, op, whole, out),
            _ => self.err(
                lhs,
                "only a local variable (`x = ...`) or a buffer element (`buf[i] = ...`) can be assigned",
            ),
        }
    }

    fn if_stmt(&mut self, i: &'f syn::ExprIf, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        if let syn::Expr::Let(l) = &*i.cond {
            self.err(l.span(), "`if let` is not supported; use `if cond { ... }`");
            return;
        }
        let cond = self.expr(&i.cond, out, Cx::TOP.nested());
        self.vars.unify(cond.ty, Ty::K(DataType::Bool));
        let mut then = Vec::new();
        self.block(&i.then_branch, &mut then);
        let mut otherwise = Vec::new();
        if let Some((_, e)) = &i.else_branch {
            match &**e {
                syn::Expr::If(inner) => {
                    if self.enter(Loc::Expr(e)) {
                        self.if_stmt(inner, Loc::Expr(e), &mut otherwise);
                    }
                    self.depth -= 1;
                }
                syn::Expr::Block(b) => self.block(&b.block, &mut otherwise),
                other => self.err(other, "expected a block or `if` after `else`"),
            }
        }
        out.push(FStmt {
            k: FS::If(cond, then, otherwise),
            loc,
        });
    }

    fn for_stmt(&mut self, f: &'f syn::ExprForLoop, loc: Loc<'f>, out: &mut Vec<FStmt<'f>>) {
        if let Some(l) = &f.label {
            self.err(l.span(), "loop labels are not supported");
        }
        let Some((name, mutable)) = self.fx.pat_ident(&f.pat) else {
            return;
        };
        if mutable {
            self.err(
                f.pat.span(),
                "a `for` loop variable cannot be `mut`; copy it into a `let mut`",
            );
        }
        let range = match &*f.expr {
            syn::Expr::Range(r) => r,
            syn::Expr::Paren(p) if matches!(&*p.expr, syn::Expr::Range(_)) => match &*p.expr {
                syn::Expr::Range(r) => r,
                _ => return,
            },
            other => {
                self.err(other, "`for` loops iterate over a range `start..end` only");
                return;
            }
        };
        if let syn::RangeLimits::Closed(t) = range.limits {
            self.err(
                t.span(),
                "inclusive ranges `a..=b` are not supported; write `a..(b + 1)` (and mind overflow at the type's maximum)",
            );
            return;
        }
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            self.err(&*f.expr, "a `for` range needs both bounds: `start..end`");
            return;
        };
        let start = self.expr(start, out, Cx::TOP.nested());
        let end = self.expr(end, out, Cx::TOP.nested());
        self.vars.unify(start.ty, end.ty);
        let ty = start.ty;
        self.scopes.push(HashMap::new());
        let var = self.define_local(&name, ty, false, Loc::Span(f.pat.span()));
        let body = self.loop_body(&f.body);
        self.scopes.pop();
        if let Some(var) = var {
            out.push(FStmt {
                k: FS::For(var, start, end, body),
                loc,
            });
        }
    }

    pub(crate) fn unknown_name(&mut self, name: &str, loc: impl Into<Loc<'f>>) {
        let mut notes = Vec::new();
        if self.fx.helpers.contains_key(name) || self.fx.kernel_names.contains(name) {
            notes.push(format!("`{name}` is a function; call it: `{name}(...)`"));
        } else if !self.inlining.is_empty() {
            notes.push(
                "helpers only see their own parameters, their locals and `const` items".into(),
            );
        }
        self.fx.err_notes(
            loc,
            format!("cannot find value `{name}` in this scope"),
            notes,
        );
    }
}

fn path_is(e: &syn::Expr, name: &str) -> bool {
    matches!(e, syn::Expr::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}
