//! Tokenizing and parsing: the big-stack parsing thread, token limits
//! checked before `syn` sees deep or huge input, `syn` errors as
//! diagnostics, then file-level lowering.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use proc_macro2::{TokenStream, TokenTree};

use super::file::FileCx;
use super::{
    MAX_GROUP_DEPTH, MAX_OPERATOR_RUN, MAX_STATEMENT_TOKENS, PARSE_STACK_BYTES, Raw, Sp, raw,
};
use crate::ir::{DebugSite, Program};
use crate::lang::{GenericKernel, GridRule};

/// What a successful parse produces.
pub(crate) struct Parsed {
    /// The kernels (one per instance of a generic kernel).
    pub kernels: Vec<Program>,
    /// The generic kernels.
    pub generics: Vec<GenericKernel>,
    /// The kernels' grid rules.
    pub grids: BTreeMap<String, GridRule>,
    /// The debug call sites of a debug build, by kernel (no file names yet).
    pub debug: BTreeMap<String, Vec<DebugSite>>,
}

/// Run [`parse_source`] on a thread with a large stack, turning any panic
/// (a bug) into an internal-error diagnostic.
pub(crate) fn parse_on_big_stack(source: &str, debug: bool) -> Result<Parsed, Vec<Raw>> {
    let run = || std::panic::catch_unwind(AssertUnwindSafe(|| parse_source(source, debug)));
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

/// Tokenize, check size limits, parse with `syn`, lower every kernel
/// (with `debug_print!`/`debug_assert!` compiled in when `debug`).
pub(crate) fn parse_source(source: &str, debug: bool) -> Result<Parsed, Vec<Raw>> {
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
    if !src.is_ascii() {
        let errs = identifiers_not_in_nfc(&tokens);
        if !errs.is_empty() {
            return Err(errs);
        }
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
    let shared_args = super::shared::SharedArgs::collect(&file);
    let debug_args = super::debug::DebugArgs::collect(&file);
    let mut fx = FileCx::default();
    fx.shared_args = Some(&shared_args);
    fx.debug_args = Some(&debug_args);
    fx.debug_on = debug;
    let (kernels, generics) = fx.run(&file);
    if fx.errs.is_empty() {
        Ok(Parsed {
            kernels,
            generics,
            grids: std::mem::take(&mut fx.grids),
            debug: std::mem::take(&mut fx.debug_sites),
        })
    } else {
        Err(fx.errs)
    }
}

/// Identifiers not written in Unicode NFC. rustc compares identifiers after
/// NFC normalisation, so `café` spelled with a combining accent and with a
/// precomposed `é` would be two kernels here and one item in the generated
/// Rust (a duplicate definition); asking for NFC keeps the two views equal.
fn identifiers_not_in_nfc(tokens: &TokenStream) -> Vec<Raw> {
    let mut errs = Vec::new();
    let mut stack = vec![tokens.clone().into_iter()];
    while let Some(iter) = stack.last_mut() {
        let Some(tt) = iter.next() else {
            stack.pop();
            continue;
        };
        match tt {
            TokenTree::Group(g) => stack.push(g.stream().into_iter()),
            TokenTree::Ident(i) => {
                let name = i.to_string();
                if !unicode_normalization::is_nfc(&name) {
                    let nfc: String =
                        unicode_normalization::UnicodeNormalization::nfc(name.as_str()).collect();
                    errs.push(raw(
                        Sp::of(i.span()),
                        format!(
                            "identifier `{name}` is not in Unicode NFC; Rust compares identifiers in NFC, so write it as `{nfc}` (precomposed characters)"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    errs
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
            // At file level a `{ .. }` ends an item (a kernel, a helper):
            // the next item is a new statement, however many came before.
            if depth == 0 && g.delimiter() == proc_macro2::Delimiter::Brace {
                *count = 0;
            }
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
