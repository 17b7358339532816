//! The `.vyre` kernel language: source text to IR (`parse`), IR to source
//! text (`print`), and rustc-style diagnostics. The language is documented
//! in `docs/language.md`.

use crate::ir::Program;

/// A parsed `.vyre` file: its kernels, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Every `#[kernel]` function, helpers inlined and constants folded.
    pub kernels: Vec<Program>,
}

/// One problem in a source file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given to [`parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Byte range in the source.
    pub span: std::ops::Range<usize>,
    /// What is wrong and what is allowed instead.
    pub message: String,
    /// Optional extra notes.
    pub notes: Vec<String>,
}

/// Every diagnostic of a failed parse, with the source to render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The diagnostics, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The source text they point into.
    pub source: String,
}

/// Parse and validate one `.vyre` file. `file` names it in diagnostics.
///
/// # Errors
///
/// Every problem found, each pointing at its `file:line:col`.
pub fn parse(file: &str, source: &str) -> Result<Module, Diagnostics> {
    let _ = (file, source);
    todo!("parser")
}

/// Print a program as `.vyre` source that parses back to the same program.
#[must_use]
pub fn print(program: &Program) -> String {
    let _ = program;
    todo!("printer")
}
