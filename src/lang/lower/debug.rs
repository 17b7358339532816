//! `debug_print!(format, args..)` and `debug_assert!(cond[, format,
//! args..])`: parsed once before lowering ([`DebugArgs`], like
//! `#[shared(..)]`), lowered in pass 1 to an [`FDebug`] statement, and in
//! pass 2 type-checked and, in a debug build, emitted as the ring writes
//! that [`crate::ir::DEBUG_WORDS_PARAM`] describes. Without debugging the
//! calls are checked and emit no node.

use std::collections::HashMap;

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

use super::finish::Fin;
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Cx, FDebug, FS, FStmt, Loc};
use crate::ir::{
    Access, AtomicOp, AtomicResult, Axis, BinOp, BufRef, BufferDecl, Builtin, DEBUG_FLOATS_PARAM,
    DEBUG_RECORD_HEADER, DEBUG_WORDS_PARAM, DataType, DebugKind, DebugSite, Expr, FormatPiece,
    Literal, Node, Param, UnOp, format_pieces, in_float_ring, printable,
};

/// The parsed arguments of one debug macro call.
type Args = syn::Result<Punctuated<syn::Expr, syn::Token![,]>>;

/// The parsed arguments of every `debug_print!`/`debug_assert!` of a
/// file, by the address of the macro in the file's tree.
#[derive(Default)]
pub(crate) struct DebugArgs(HashMap<usize, Args>);

/// The two macros.
const MACROS: [&str; 2] = ["debug_print", "debug_assert"];

impl DebugArgs {
    /// Parse the arguments of every debug macro call of `file`.
    pub(crate) fn collect(file: &syn::File) -> Self {
        struct V(HashMap<usize, Args>);
        impl<'ast> syn::visit::Visit<'ast> for V {
            fn visit_macro(&mut self, m: &'ast syn::Macro) {
                if MACROS.iter().any(|n| m.path.is_ident(n)) {
                    self.0
                        .insert(key(m), m.parse_body_with(Punctuated::parse_terminated));
                }
            }
        }
        let mut v = V(HashMap::new());
        syn::visit::visit_file(&mut v, file);
        Self(v.0)
    }
}

fn key(m: &syn::Macro) -> usize {
    std::ptr::from_ref(m) as usize
}

/// Whether `m` is one of the debug macros.
pub(super) fn is_debug_macro(m: &syn::Macro) -> bool {
    MACROS.iter().any(|n| m.path.is_ident(n))
}

impl<'f> Kx<'_, 'f> {
    /// Pass 1 of a `debug_print!`/`debug_assert!` statement.
    pub(super) fn debug_macro(&mut self, m: &'f syn::Macro, out: &mut Vec<FStmt<'f>>) {
        let assert = m.path.is_ident("debug_assert");
        let name = if assert {
            "debug_assert!"
        } else {
            "debug_print!"
        };
        let all: Option<&'f DebugArgs> = self.fx.debug_args;
        let Some(parsed) = all.and_then(|all| all.0.get(&key(m))) else {
            self.err(
                m.span(),
                format!("internal error: the arguments of `{name}` were not parsed"),
            );
            return;
        };
        let args: Vec<&'f syn::Expr> = match parsed {
            Ok(args) => args.iter().collect(),
            Err(e) => {
                self.err(e.span(), format!("malformed `{name}`: {e}"));
                return;
            }
        };
        let mut rest = args.as_slice();
        let mut pre = Vec::new();
        let cond = if assert {
            let Some((c, tail)) = rest.split_first() else {
                self.err(
                    m.span(),
                    "`debug_assert!` needs a condition: `debug_assert!(i < n)` or `debug_assert!(i < n, \"i = {}\", i)`",
                );
                return;
            };
            rest = tail;
            let text = c
                .span()
                .source_text()
                .unwrap_or_else(|| "the condition".to_string());
            Some((self.expr(c, &mut pre, Cx::TOP.nested()), text))
        } else {
            None
        };
        let format = match rest.split_first() {
            Some((
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }),
                tail,
            )) => {
                rest = tail;
                Some((s.value(), s.span()))
            }
            Some((other, _)) => {
                self.err(
                    *other,
                    format!("the message of `{name}` must be a string literal with a `{{}}` per argument"),
                );
                return;
            }
            None if assert => None,
            None => {
                self.err(
                    m.span(),
                    "`debug_print!` needs a format string: `debug_print!(\"i = {} v = {}\", i, v)`",
                );
                return;
            }
        };
        if let Some((f, span)) = &format {
            match format_pieces(f) {
                Ok(pieces) => {
                    let holes = pieces.iter().filter(|p| **p == FormatPiece::Arg).count();
                    if holes != rest.len() {
                        self.err(
                            *span,
                            format!(
                                "the format string has {holes} `{{}}` but {} argument{} follow{}",
                                rest.len(),
                                if rest.len() == 1 { "" } else { "s" },
                                if rest.len() == 1 { "s" } else { "" }
                            ),
                        );
                        return;
                    }
                }
                Err((_, why)) => {
                    self.err(*span, why);
                    return;
                }
            }
        }
        let values: Vec<_> = rest
            .iter()
            .map(|e| self.expr(e, &mut pre, Cx::TOP.nested()))
            .collect();
        let slot = if self.fx.debug_on {
            if self.debug_rings(m).is_none() {
                return;
            }
            Some(self.new_local(
                "debug_slot",
                Ty::K(DataType::U32),
                false,
                Loc::Span(m.span()),
            ))
        } else {
            None
        };
        let start = m.path.span().start();
        out.extend(pre);
        out.push(FStmt {
            k: FS::Debug(Box::new(FDebug {
                assert: cond,
                format: format.map(|(f, _)| f).unwrap_or_default(),
                args: values,
                line: u32::try_from(start.line).unwrap_or(u32::MAX),
                column: u32::try_from(start.column + 1).unwrap_or(u32::MAX),
                slot,
            })),
            loc: Loc::Span(m.span()),
        });
    }

    /// Add the two hidden ring parameters, once per kernel (they come
    /// after every declared parameter: the body is lowered after them).
    fn debug_rings(&mut self, m: &'f syn::Macro) -> Option<()> {
        if self.params.iter().any(Param::is_debug_ring) {
            return Some(());
        }
        for (name, elem) in [
            (DEBUG_WORDS_PARAM, DataType::U32),
            (DEBUG_FLOATS_PARAM, DataType::F32),
        ] {
            if self.params.iter().any(|p| p.name() == name) {
                self.err(
                    m.span(),
                    format!("a kernel with a parameter named `{name}` cannot use `debug_print!`/`debug_assert!` (the name is reserved)"),
                );
                return None;
            }
            self.params.push(Param::Buffer(BufferDecl {
                name: name.to_string(),
                elem,
                access: Access::ReadWrite,
            }));
            self.param_loc.push(m.span());
        }
        Some(())
    }
}

impl<'f> Fin<'_, '_, 'f> {
    /// Pass 2 of a debug call: check it, and in a debug build emit its
    /// record (under `if !cond` for an assert).
    pub(super) fn debug_stmt(&mut self, d: &FDebug<'f>) -> Option<Node> {
        let cond = d.assert.as_ref().map(|(c, _)| self.cond(c));
        let mut values = Vec::new();
        let mut ok = true;
        for a in &d.args {
            match self.expr(a) {
                Some((x, t)) if printable(t) => values.push((x, t)),
                Some((_, t)) => {
                    self.err(
                        a.loc,
                        format!("`{t}` values cannot be printed; convert with `as u32`, `as i32` or `as f32`"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        let cond = match cond {
            Some(Some(c)) => Some(c),
            Some(None) => return None,
            None => None,
        };
        if !ok {
            return None;
        }
        // A non-debug build: checked, and nothing emitted.
        let slot = d.slot?;
        let ring = |name: &str| {
            self.p
                .params
                .iter()
                .position(|p| p.name() == name && p.is_debug_ring())
                .map(|i| BufRef::Param(i as u32))
        };
        let (words, floats) = (ring(DEBUG_WORDS_PARAM)?, ring(DEBUG_FLOATS_PARAM)?);
        let site = self.kx.debug_sites.len() as u32;
        self.kx.debug_sites.push(DebugSite {
            kind: match &d.assert {
                Some((_, text)) => DebugKind::Assert {
                    condition: text.clone(),
                },
                None => DebugKind::Print,
            },
            file: String::new(),
            line: d.line,
            column: d.column,
            format: d.format.clone(),
            args: values.iter().map(|(_, t)| *t).collect(),
        });
        let u32_lit = |v: u32| Expr::Lit(Literal::U32(v));
        let at = |k: u32| {
            Expr::Binary(
                BinOp::Add,
                Box::new(Expr::Local(slot)),
                Box::new(u32_lit(1 + k)),
            )
        };
        let words_len = DEBUG_RECORD_HEADER + values.len() as u32;
        let reserve = Node::Atomic {
            op: AtomicOp::Add,
            buf: words,
            index: u32_lit(0),
            expected: None,
            value: u32_lit(words_len),
            result: AtomicResult::Let(slot),
        };
        let mut record = Vec::new();
        let header = [
            u32_lit(site),
            Expr::Builtin(Builtin::GlobalId, Axis::X),
            Expr::Builtin(Builtin::GlobalId, Axis::Y),
            Expr::Builtin(Builtin::GlobalId, Axis::Z),
        ];
        for (k, value) in header.into_iter().enumerate() {
            record.push(Node::Store {
                buf: words,
                index: at(k as u32),
                value,
            });
        }
        for (k, (x, t)) in values.into_iter().enumerate() {
            let index = at(DEBUG_RECORD_HEADER + k as u32);
            let (buf, value) = if in_float_ring(t) {
                let v = if t == DataType::F32 {
                    x
                } else {
                    Expr::Cast(DataType::F32, Box::new(x))
                };
                (floats, v)
            } else {
                let v = match t {
                    DataType::Bool => Expr::Select {
                        cond: Box::new(x),
                        then: Box::new(u32_lit(1)),
                        otherwise: Box::new(u32_lit(0)),
                    },
                    DataType::U32 => x,
                    _ => Expr::Cast(DataType::U32, Box::new(x)),
                };
                (words, v)
            };
            record.push(Node::Store { buf, index, value });
        }
        // Stores only when the whole record fits: the bounds checks would
        // drop the rest anyway, but an `unchecked` kernel has none.
        let BufRef::Param(words_param) = words else {
            return None;
        };
        let fits = Expr::Binary(
            BinOp::Le,
            Box::new(at(words_len)),
            Box::new(Expr::Len(words_param)),
        );
        Some(Node::If {
            cond: match cond {
                Some(c) => Expr::Unary(UnOp::Not, Box::new(c)),
                None => Expr::Lit(Literal::Bool(true)),
            },
            then: vec![
                reserve,
                Node::If {
                    cond: fits,
                    then: record,
                    otherwise: Vec::new(),
                },
            ],
            otherwise: Vec::new(),
        })
    }
}
