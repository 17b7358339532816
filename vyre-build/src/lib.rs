//! Compile `.vyre` GPU kernels from a `build.rs` into `OUT_DIR`, with typed,
//! safe launcher functions generated for every kernel.
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     vyre_build::compile_or_exit("kernels/");
//! }
//! ```
//! ```ignore
//! // src/main.rs
//! mod kernels { vyre::include_kernels!(); }
//! ```
//!
//! Each `kernels/**/*.vyre` file becomes a module (nested folders become
//! nested modules; `-` in names becomes `_`), each kernel a function
//! `fn name(device: &vyre::Device, grid: vyre::Grid, <params>) ->
//! vyre::Result<()>` (an `unsafe fn` for `#[kernel(unchecked)]`), plus a
//! `NAME_WORKGROUP_SIZE` const and a `NAME_SPEC` static. The compiled blobs
//! are written under `OUT_DIR/vyre/` and embedded with `include_bytes!`.
//! A kernel whose attribute gives `grid = (..)` computes its grid from its
//! arguments, and its launcher takes none; a generic kernel whose instances
//! do also gets a dispatching entry that picks the instance named by the
//! tuning table [`TUNE_TABLE`] in the kernels folder (see `docs/build.md`,
//! *Tuning tables*).
//!
//! Targets: by default every registered target whose `vyre` runtime feature
//! the package enables on its `vyre` dependency (`reference` always; `ptx`
//! and `cubin` with `cuda`; `spirv` and `wgsl` with `wgpu`; `msl`/`hlsl` only
//! when asked). [`Builder::targets`] or `[package.metadata.vyre] targets`
//! choose explicitly. See `docs/build.md` for every option and the build
//! behaviour (rerun lines, caching, stub mode, errors).
//!
//! **Third-party targets.** A crate that registers an emitter
//! (`vyre::register_aot_emitter!`) and a launcher codegen
//! (`vyre::register_launcher_codegen!`) adds a target without changing
//! `vyre-build`. `inventory` only sees crates that are linked, so the build
//! script must reference that crate: `use my_target as _;` in `build.rs`
//! (or call any function of it).

// The doc examples are build scripts: their `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

mod cache;
mod codegen;
mod dispatch;
mod emit;
mod error;
mod generic;
mod hash;
mod io;
mod launcher;
mod pipeline;
mod plan;

use std::path::{Path, PathBuf};

use vyre::DispatchConfig;
use vyre::ir::Program;

pub use codegen::GENERATED_HEADER;
pub use error::Error;
pub use launcher::{
    AllReduceEntry, BUNDLE_DIR, LauncherCrate, LauncherOutput, ReduceOp, TrainLoop,
};

/// The default name of the generated module file in `OUT_DIR`, the one
/// `vyre::include_kernels!()` includes.
pub const DEFAULT_MODULE_NAME: &str = "vyre_kernels.rs";

/// The tuning table a package commits beside its `Cargo.toml`: records of
/// which instance of a generic kernel was fastest where (written by the
/// generated `*_tune` functions through `vyre::runtime::tune::TuneTable`),
/// compiled into the dispatching launchers.
pub const TUNE_TABLE: &str = "vyre-tune.toml";

/// Kernels built in Rust, for [`Builder::compile_programs`].
#[derive(Debug, Clone)]
pub struct ProgramModule {
    /// Module path in the generated file, e.g. `["nn", "relu"]`.
    pub module_path: Vec<String>,
    /// The kernels (validated before emission).
    pub programs: Vec<Program>,
}

impl ProgramModule {
    /// A module at `path` (`"nn::relu"`) holding `programs`.
    #[must_use]
    pub fn new(path: &str, programs: Vec<Program>) -> Self {
        Self {
            module_path: path.split("::").map(str::to_string).collect(),
            programs,
        }
    }
}

/// What a successful [`Builder::compile`] produced.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Output {
    /// The file to include (`OUT_DIR/vyre_kernels.rs`); it includes the
    /// module proper, `OUT_DIR/vyre_kernels/kernels.rs`, next to which the
    /// blobs lie.
    pub module: PathBuf,
    /// Every output file of this build: the two module files and each blob.
    pub generated: Vec<PathBuf>,
    /// The subset of [`Output::generated`] whose bytes changed and were
    /// written in this run (unchanged files keep their mtime).
    pub rewritten: Vec<PathBuf>,
    /// `module::path::kernel (target[/arch])` of every blob compiled in this
    /// run (the rest came from the content-hash cache).
    pub emitted: Vec<String>,
    /// Every path tracked with `cargo::rerun-if-changed`: each kernel file
    /// and each directory under the kernels directory.
    pub tracked: Vec<PathBuf>,
    /// Every environment variable tracked with
    /// `cargo::rerun-if-env-changed`.
    pub tracked_env: Vec<String>,
    /// The targets built, in order.
    pub targets: Vec<String>,
    /// Notes for the user (also printed as `cargo::warning=` when cargo
    /// output is on), e.g. an optional target skipped for a missing tool.
    pub warnings: Vec<String>,
    /// Whether this was a stub build (typed API only, no blobs).
    pub stub: bool,
    /// Number of kernels.
    pub kernels: usize,
    /// Whether the kernel sources, settings and generator were exactly
    /// those of the previous build into this directory and every output
    /// was intact, so nothing was parsed, emitted or written.
    pub up_to_date: bool,
}

/// Configure a kernel build (in the style of `prost_build::Config`).
///
/// ```no_run
/// // build.rs
/// fn main() {
///     let result = vyre_build::Builder::new()
///         .targets(["reference", "ptx"])
///         .cuda_archs(["sm_80", "sm_90"])
///         .compile("kernels/");
///     if let Err(e) = result {
///         vyre_build::exit_with(&e);
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    targets: Option<Vec<String>>,
    cuda_archs: Option<Vec<String>>,
    out_dir: Option<PathBuf>,
    manifest_dir: Option<PathBuf>,
    module_name: String,
    stub: Option<bool>,
    debug: Option<bool>,
    emit_rerun_lines: bool,
    read_metadata: bool,
    dispatch_config: DispatchConfig,
    abi_version: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// Compile every `*.vyre` file under `dir` (relative to the package root)
/// with the default settings; see [`Builder`].
///
/// # Errors
///
/// See [`Builder::compile`].
pub fn compile(dir: impl AsRef<Path>) -> Result<Output, Error> {
    Builder::new().compile(dir)
}

/// [`compile`] for `build.rs`: on error, print the rendered diagnostics to
/// stderr, a one-line `cargo::error=` and exit with status 1 (no panic, no
/// backtrace).
pub fn compile_or_exit(dir: impl AsRef<Path>) -> Output {
    match compile(dir) {
        Ok(output) => output,
        Err(e) => exit_with(&e),
    }
}

/// Report `error` the way a build script should and exit with status 1:
/// the full message (rendered diagnostics) on stderr, one
/// `cargo::error=` line on stdout.
pub fn exit_with(error: &Error) -> ! {
    io::report_error(error);
    std::process::exit(1)
}

impl Builder {
    /// Default settings: targets from the package (see the crate docs),
    /// `OUT_DIR` from the environment, module `vyre_kernels.rs`, stub mode
    /// from `DOCS_RS`/`VYRE_BUILD_STUB`, rerun lines on.
    #[must_use]
    pub fn new() -> Self {
        Self {
            targets: None,
            cuda_archs: None,
            out_dir: None,
            manifest_dir: None,
            module_name: DEFAULT_MODULE_NAME.to_string(),
            stub: None,
            debug: None,
            emit_rerun_lines: true,
            read_metadata: true,
            dispatch_config: DispatchConfig::default(),
            abi_version: vyre::LAUNCHER_ABI_VERSION,
        }
    }

    /// Build exactly these targets (ids such as `reference`, `ptx`, `cubin`,
    /// `spirv`, `wgsl`, `msl`, `hlsl`, or a third-party target's id).
    /// Overrides `[package.metadata.vyre] targets`.
    #[must_use]
    pub fn targets<I, S>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.targets = Some(targets.into_iter().map(Into::into).collect());
        self
    }

    /// Architectures for per-arch targets such as `cubin` (`sm_80`, ...).
    /// Overrides `[package.metadata.vyre] cuda-archs`.
    #[must_use]
    pub fn cuda_archs<I, S>(mut self, archs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cuda_archs = Some(archs.into_iter().map(Into::into).collect());
        self
    }

    /// Write outputs here instead of `OUT_DIR`.
    #[must_use]
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The package root: relative kernel directories are resolved and
    /// `Cargo.toml` is read from here (default: `CARGO_MANIFEST_DIR`).
    #[must_use]
    pub fn manifest_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.manifest_dir = Some(dir.into());
        self
    }

    /// File name of the generated module (default `vyre_kernels.rs`; include
    /// it with `vyre::include_kernels!("name.rs")`).
    #[must_use]
    pub fn module_name(mut self, name: impl Into<String>) -> Self {
        self.module_name = name.into();
        self
    }

    /// Force stub mode on or off. Stub mode generates the full typed API
    /// with no artifacts (launches return `Error::TargetNotCompiled`) and
    /// emits no blobs. Default: on when `DOCS_RS` is set or
    /// `VYRE_BUILD_STUB=1`.
    #[must_use]
    pub fn stub(mut self, stub: bool) -> Self {
        self.stub = Some(stub);
        self
    }

    /// Compile `debug_print!`/`debug_assert!` in (`true`) or check and
    /// remove them (`false`). Unset, `VYRE_DEBUG=1` in the build's
    /// environment turns them on (tracked with `rerun-if-env-changed`, so
    /// `VYRE_DEBUG=1 cargo run` rebuilds the kernels and a plain `cargo
    /// run` rebuilds them without). A kernel with debug calls then waits
    /// for itself at each launch and prints what it recorded (see
    /// `vyre::runtime::DebugRecord`).
    #[must_use]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// Whether to print `cargo::rerun-if-changed`/`rerun-if-env-changed`
    /// and `cargo::warning` lines (default on; turn off when calling from
    /// something other than a build script).
    #[must_use]
    pub fn emit_rerun_lines(mut self, on: bool) -> Self {
        self.emit_rerun_lines = on;
        self
    }

    /// Whether to read `[package.metadata.vyre]` and the package's `vyre`
    /// features with `cargo metadata` (default on).
    #[must_use]
    pub fn read_metadata(mut self, on: bool) -> Self {
        self.read_metadata = on;
        self
    }

    /// The emission policy handed to every emitter (bounds checks, ULP
    /// budget, workgroup-size override, arch for non-per-arch targets).
    #[must_use]
    pub fn dispatch_config(mut self, config: DispatchConfig) -> Self {
        self.dispatch_config = config;
        self
    }

    /// Pretend to be a generator of another launcher ABI version (only for
    /// testing the version assert of generated modules).
    #[doc(hidden)]
    #[must_use]
    pub fn launcher_abi_version(mut self, version: u32) -> Self {
        self.abi_version = version;
        self
    }

    /// Compile every `*.vyre` file under `dir` (relative paths are relative
    /// to the package root).
    ///
    /// # Errors
    ///
    /// [`Error::Diagnostics`] with the rendered diagnostics when a kernel is
    /// invalid; [`Error::InvalidName`]/[`Error::Collision`] for file names
    /// that cannot become modules; [`Error::UnknownTarget`] for a target
    /// nothing registers; [`Error::Emit`] when an emitter fails;
    /// [`Error::Io`] and [`Error::Config`] otherwise.
    pub fn compile(&self, dir: impl AsRef<Path>) -> Result<Output, Error> {
        pipeline::compile_dir(self, dir.as_ref())
    }

    /// Generate launchers for kernels built in Rust (with
    /// `vyre::ir::ProgramBuilder`) instead of `.vyre` files: each
    /// [`ProgramModule`] becomes a module of the generated file. Same
    /// targets, caching, stub mode and output as [`Builder::compile`]; no
    /// `rerun-if-changed` lines (the inputs are the build script itself).
    ///
    /// # Errors
    ///
    /// An invalid program ([`Error::Invalid`]), and the errors of
    /// [`Builder::compile`] after parsing.
    pub fn compile_programs(&self, modules: Vec<ProgramModule>) -> Result<Output, Error> {
        pipeline::compile_programs(self, modules)
    }
}

#[cfg(test)]
mod tests;
