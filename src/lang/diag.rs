//! Positions and rendering of diagnostics.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;

use super::{Diagnostic, Diagnostics};

/// A byte range in the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sp {
    pub lo: usize,
    pub hi: usize,
}

impl Sp {
    pub(crate) fn of(span: proc_macro2::Span) -> Self {
        let r = span.byte_range();
        Self {
            lo: r.start,
            hi: r.end.max(r.start),
        }
    }
}

/// A diagnostic before it is given a file and line/column.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub sp: Sp,
    pub message: String,
    pub notes: Vec<String>,
}

/// Turn raw diagnostics into positioned ones, sorted by position.
pub(crate) fn diagnostics(file: &str, source: &str, mut raw: Vec<Raw>) -> Diagnostics {
    raw.sort_by_key(|r| (r.sp.lo, r.sp.hi));
    raw.dedup_by(|a, b| a.sp == b.sp && a.message == b.message);
    let diagnostics = raw
        .into_iter()
        .map(|r| {
            let lo = floor_char_boundary(source, r.sp.lo);
            let hi = floor_char_boundary(source, r.sp.hi).max(lo);
            let (line, column) = line_col(source, lo);
            Diagnostic {
                file: file.to_string(),
                line,
                column,
                span: lo..hi,
                message: r.message,
                notes: r.notes,
            }
        })
        .collect();
    Diagnostics {
        diagnostics,
        source: source.to_string(),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of byte offset `lo`.
fn line_col(source: &str, lo: usize) -> (usize, usize) {
    let before = &source[..lo];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..lo].chars().count() + 1;
    (line, column)
}

pub(crate) fn render(d: &Diagnostics) -> String {
    let mut out = String::new();
    for diag in &d.diagnostics {
        let file = SimpleFile::new(diag.file.as_str(), d.source.as_str());
        let cs = CsDiagnostic::error()
            .with_message(diag.message.clone())
            .with_labels(vec![Label::primary((), diag.span.clone())])
            .with_notes(diag.notes.iter().map(|n| format!("note: {n}")).collect());
        // ASCII like rustc's `-->` and `|`, readable in any terminal or log.
        let config = term::Config {
            chars: term::Chars::ascii(),
            ..term::Config::default()
        };
        match term::emit_into_string(&config, &file, &cs) {
            Ok(s) => out.push_str(&s),
            // Only reachable with a span outside the source; keep the text.
            Err(_) => {
                out.push_str(&diag.to_string());
                out.push('\n');
            }
        }
    }
    out
}
