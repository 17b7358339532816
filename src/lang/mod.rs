//! The `.vyre` kernel language: source text to IR (`parse`), IR to source
//! text (`print`), and rustc-style diagnostics. The language is documented
//! in `docs/language.md`.
//!
//! ```
//! let src = r#"
//! /// y = a * x + y
//! #[kernel(workgroup_size = 256)]
//! pub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
//!     let i = global_id().x;
//!     if i < y.len() {
//!         y[i] = a * x[i] + y[i];
//!     }
//! }
//! "#;
//! let module = vyre::lang::parse("saxpy.vyre", src).unwrap();
//! let saxpy = &module.kernels[0];
//! assert_eq!(saxpy.doc, "y = a * x + y");
//! let text = vyre::lang::print(saxpy);
//! assert_eq!(vyre::lang::parse("again.vyre", &text).unwrap().kernels[0], *saxpy);
//! ```

mod diag;
mod lower;
mod print;

use std::collections::BTreeMap;
use std::fmt;

use crate::ir::{DataType, Literal, Program};

pub use crate::ir::{GridRule, SizeExpr, SizeOp};
pub use print::print;

/// A parsed `.vyre` file: its kernels, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Every `#[kernel]` function, helpers inlined and constants folded; a
    /// generic kernel contributes one program per instance (named
    /// `{kernel}_{instance}`), in the order of its `instances(...)`.
    pub kernels: Vec<Program>,
    /// The generic kernels, in source order, with their instances.
    pub generics: Vec<GenericKernel>,
    /// The launch grids of the kernels whose `#[kernel(...)]` gives
    /// `grid = (..)`, by kernel name (an instance's rule has its const
    /// arguments folded in).
    pub grids: BTreeMap<String, GridRule>,
    /// The `debug_print!`/`debug_assert!` call sites of a debug build
    /// ([`ParseOptions::debug`]), by kernel name, in site-number order (a
    /// record's first word); empty otherwise.
    pub debug: BTreeMap<String, Vec<crate::ir::DebugSite>>,
}

/// A generic kernel and its build-time instances.
///
/// ```
/// let src = r#"
/// #[kernel(workgroup_size = 64, instances(f32 = (T = f32), bf16 = (T = bf16)))]
/// pub fn scale<T>(a: f32, x: &[T], y: &mut [T]) {
///     let i = global_id().x;
///     if i < y.len() {
///         y[i] = (a * x[i] as f32) as T;
///     }
/// }
/// "#;
/// let module = vyre::lang::parse("scale.vyre", src).unwrap();
/// assert_eq!(module.kernels[1].name, "scale_bf16");
/// let g = &module.generics[0];
/// assert_eq!(g.type_params, ["T"]);
/// assert_eq!(g.instances[1].kernel, "scale_bf16");
/// assert_eq!(g.instances[1].types, [("T".to_string(), vyre::ir::DataType::BF16)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericKernel {
    /// The kernel's name in the source (`scale`).
    pub name: String,
    /// Its type parameters, in declaration order (`["T"]`).
    pub type_params: Vec<String>,
    /// Its const parameters, in declaration order (`["TILE"]`).
    pub const_params: Vec<String>,
    /// Its instances, in the order of `instances(...)`.
    pub instances: Vec<KernelInstance>,
    /// The const parameters of `tune(...)`: those a generated launcher
    /// chooses among (by the tuning table), where instances agreeing on
    /// every other argument are alternatives for one problem.
    pub tune: Vec<String>,
}

/// One instance of a [`GenericKernel`]: the [`Program`] named `kernel` in
/// [`Module::kernels`], and the arguments it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInstance {
    /// The instance's program name, `{kernel}_{suffix}` (`scale_f32`).
    pub kernel: String,
    /// The instance's name in `instances(...)` (`f32`).
    pub suffix: String,
    /// The type arguments, in the order of [`GenericKernel::type_params`].
    pub types: Vec<(String, DataType)>,
    /// The const arguments, in the order of [`GenericKernel::const_params`].
    pub consts: Vec<(String, Literal)>,
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

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: message`, one line (notes follow, indented).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        for note in &self.notes {
            write!(f, "\n  = note: {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Every diagnostic of a failed parse, with the source to render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The diagnostics, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The source text they point into.
    pub source: String,
}

impl Diagnostics {
    /// Render every diagnostic like rustc does (message, `--> file:line:col`,
    /// the source line and a caret under the span), without colour.
    #[must_use]
    pub fn render(&self) -> String {
        diag::render(self)
    }

    /// The first diagnostic (there is always at least one in an `Err`).
    #[must_use]
    pub fn first(&self) -> Option<&Diagnostic> {
        self.diagnostics.first()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

/// Parse and validate one `.vyre` file. `file` names it in diagnostics.
///
/// Parsing runs on a helper thread with a large stack, so that deeply
/// nested input is reported as an error rather than overflowing the
/// caller's stack; the span bookkeeping of `proc-macro2` dies with that
/// thread, so repeated calls do not accumulate memory.
///
/// # Errors
///
/// Every problem found, each pointing at its `file:line:col`.
pub fn parse(file: &str, source: &str) -> Result<Module, Diagnostics> {
    parse_with(file, source, &ParseOptions::default())
}

/// How to parse a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Compile `debug_print!` and `debug_assert!` in (a debug build:
    /// kernels that use them get the two hidden ring parameters of
    /// [`crate::ir::DEBUG_WORDS_PARAM`], and [`Module::debug`] lists their
    /// call sites). Off: the calls are checked, then removed.
    pub debug: bool,
}

impl ParseOptions {
    /// Options with debugging on or off.
    #[must_use]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }
}

/// [`parse`] with `options`.
///
/// ```
/// use vyre::lang::{parse_with, ParseOptions};
/// let src = r#"
/// #[kernel(workgroup_size = 64)]
/// pub fn k(x: &mut [f32]) {
///     let i = global_id().x;
///     debug_print!("i = {} x = {}", i, x[i]);
///     debug_assert!(i < x.len(), "i = {}", i);
/// }
/// "#;
/// let plain = parse_with("k.vyre", src, &ParseOptions::default()).unwrap();
/// assert_eq!(plain.kernels[0].params.len(), 1);
/// assert!(plain.debug.is_empty());
/// let debug = parse_with("k.vyre", src, &ParseOptions::default().debug(true)).unwrap();
/// assert_eq!(debug.kernels[0].params.len(), 3); // + the two rings
/// let sites = &debug.debug["k"];
/// assert_eq!((sites[0].file.as_str(), sites[0].line, sites[0].column), ("k.vyre", 5, 5));
/// assert_eq!(sites[1].args, [vyre::ir::DataType::U32]);
/// ```
///
/// # Errors
///
/// As [`parse`].
pub fn parse_with(file: &str, source: &str, options: &ParseOptions) -> Result<Module, Diagnostics> {
    match lower::parse_on_big_stack(source, options.debug) {
        Ok(parsed) => {
            let mut debug = parsed.debug;
            for site in debug.values_mut().flatten() {
                site.file = file.to_string();
            }
            Ok(Module {
                kernels: parsed.kernels,
                generics: parsed.generics,
                grids: parsed.grids,
                debug,
            })
        }
        Err(raw) => Err(diag::diagnostics(file, source, raw)),
    }
}
