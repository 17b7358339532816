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

mod codegen;
mod discover;
mod error;
mod fsutil;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use vyre::DispatchConfig;
use vyre::driver::{
    ArtifactFile, BackendError, KernelLauncherCodegen, UNAVAILABLE_PREFIX, emit_aot_target,
    launcher_codegen, registered_aot_emitters, registered_launcher_codegens,
};
use vyre::ir::Program;

pub use codegen::GENERATED_HEADER;
pub use error::Error;

use codegen::{GenFile, GenKernel};
use discover::KernelFile;
use fsutil::Fnv;

/// The default name of the generated module file in `OUT_DIR`, the one
/// `vyre::include_kernels!()` includes.
pub const DEFAULT_MODULE_NAME: &str = "vyre_kernels.rs";

/// Targets never picked by default (no `vyre` runtime runs them; they are
/// for shipping shader sources to other engines): ask for them explicitly.
const OPT_IN_TARGETS: &[&str] = &["msl", "hlsl"];

/// Environment variables `vyre-build` reads (tracked with
/// `cargo::rerun-if-env-changed`).
const ENV_STUB: &str = "VYRE_BUILD_STUB";
const ENV_DOCS_RS: &str = "DOCS_RS";

/// Environment variables the `cubin` emitter reads to find `ptxas`,
/// except `PATH`: tracking it would rerun every build script whenever a
/// shell changes `PATH` (set `VYRE_PTXAS` to pin a `ptxas`).
fn ptxas_env() -> impl Iterator<Item = &'static str> {
    vyre::backend::ptx::ptxas_env_vars()
        .iter()
        .copied()
        .filter(|v| *v != "PATH")
}

/// The module proper, in `OUT_DIR/<module stem>/`.
const INNER_MODULE: &str = "kernels.rs";

/// First line of the cache manifest; bump when its format changes.
const CACHE_HEADER: &str = "vyre-build cache v1";

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
    eprintln!("{error}");
    println!("cargo::error={}", error.summary());
    std::process::exit(1)
}

fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `path` relative to `base`, `/`-separated, when it lies under it.
fn relative_display(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// A fingerprint of the running build script: the content-hash cache must
/// not reuse blobs from another emitter (for example after a `vyre`
/// upgrade, which rebuilds the build script but keeps `OUT_DIR`).
fn generator_fingerprint() -> String {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_deref().and_then(|p| fs::metadata(p).ok());
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}:{}:{modified}",
        env!("CARGO_PKG_VERSION"),
        meta.map_or(0, |m| m.len())
    )
}

/// One cache record: a blob, the hash of everything it was emitted from,
/// and its length and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheEntry {
    input: u64,
    len: u64,
    checksum: u64,
}

fn read_cache(path: &Path) -> BTreeMap<String, CacheEntry> {
    let mut map = BTreeMap::new();
    let Ok(text) = fs::read_to_string(path) else {
        return map;
    };
    let mut lines = text.lines();
    if lines.next() != Some(CACHE_HEADER) {
        return map;
    }
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [file, input, len, checksum] = fields[..]
            && let (Ok(input), Ok(len), Ok(checksum)) = (
                u64::from_str_radix(input, 16),
                len.parse(),
                u64::from_str_radix(checksum, 16),
            )
        {
            map.insert(
                file.to_string(),
                CacheEntry {
                    input,
                    len,
                    checksum,
                },
            );
        }
    }
    map
}

fn write_cache(path: &Path, entries: &BTreeMap<String, CacheEntry>) -> Result<(), Error> {
    let mut text = format!("{CACHE_HEADER}\n");
    for (file, e) in entries {
        text.push_str(&format!(
            "{file}\t{:016x}\t{}\t{:016x}\n",
            e.input, e.len, e.checksum
        ));
    }
    fsutil::write_if_changed(path, text.as_bytes()).map(|_| ())
}

/// Whether the blob at `path` is the one `entry` describes (exists, same
/// length, same checksum: a truncated or edited blob is never reused).
fn blob_intact(path: &Path, entry: &CacheEntry) -> bool {
    match fs::read(path) {
        Ok(bytes) => bytes.len() as u64 == entry.len && fsutil::checksum(&bytes) == entry.checksum,
        Err(_) => false,
    }
}

/// The record of the last build into a module directory, for the fast
/// path: when the inputs hash the same and every output is intact, nothing
/// is parsed, emitted or written.
const BUILD_RECORD: &str = "build";
const BUILD_RECORD_HEADER: &str = "vyre-build record v1";

/// Hash of everything a `compile()` output depends on.
#[allow(clippy::too_many_arguments)]
fn build_key(
    builder: &Builder,
    targets: &[&'static KernelLauncherCodegen],
    archs: &[String],
    crate_name: &str,
    stub: bool,
    tracked_env: &[String],
    files: &[KernelFile],
    sources: &[String],
) -> u64 {
    let mut h = Fnv::new()
        .field(BUILD_RECORD_HEADER)
        .field(generator_fingerprint())
        .field(format!("{:?}", builder.dispatch_config))
        .field(builder.abi_version.to_le_bytes())
        .field(&builder.module_name)
        .field(crate_name)
        .field([u8::from(stub)]);
    for t in targets {
        h = h.field(t.target);
    }
    h = h.field("archs");
    for a in archs {
        h = h.field(a);
    }
    // The tool paths an emitter reads (e.g. VYRE_PTXAS): a new ptxas must
    // not be hidden by the fast path.
    for var in tracked_env {
        h = h
            .field(var)
            .field(std::env::var_os(var).unwrap_or_default().as_encoded_bytes());
    }
    for (f, src) in files.iter().zip(sources) {
        h = h
            .field(&f.display)
            .field(f.module_path.join("::"))
            .field(src);
    }
    h.finish()
}

fn write_build_record(path: &Path, key: u64, out_dir: &Path, out: &Output) -> Result<(), Error> {
    let mut text = format!(
        "{BUILD_RECORD_HEADER}\nkey {key:016x}\nkernels {}\n",
        out.kernels
    );
    for file in &out.generated {
        let bytes = fs::read(file).map_err(|e| Error::io("reading", file, e))?;
        let rel = file.strip_prefix(out_dir).unwrap_or(file);
        text.push_str(&format!(
            "file {} {:016x} {}\n",
            bytes.len(),
            fsutil::checksum(&bytes),
            rel.display()
        ));
    }
    for w in &out.warnings {
        text.push_str(&format!("warning {}\n", w.replace('\n', " ")));
    }
    fsutil::write_if_changed(path, text.as_bytes()).map(|_| ())
}

/// The previous build's output, when `key` matches its record and every
/// output file it lists is intact.
fn up_to_date(out_dir: &Path, module_name: &str, key: u64, base: &Output) -> Option<Output> {
    let stem = module_name.trim_end_matches(".rs");
    let text = fs::read_to_string(out_dir.join(stem).join(BUILD_RECORD)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != BUILD_RECORD_HEADER {
        return None;
    }
    if lines.next()? != format!("key {key:016x}") {
        return None;
    }
    let kernels = lines.next()?.strip_prefix("kernels ")?.parse().ok()?;
    let mut out = Output {
        module: out_dir.join(module_name),
        kernels,
        up_to_date: true,
        // The record holds every warning of that build.
        warnings: Vec::new(),
        ..base.clone()
    };
    for line in lines {
        if let Some(w) = line.strip_prefix("warning ") {
            out.warnings.push(w.to_string());
            continue;
        }
        let mut parts = line.strip_prefix("file ")?.splitn(3, ' ');
        let len: u64 = parts.next()?.parse().ok()?;
        let checksum = u64::from_str_radix(parts.next()?, 16).ok()?;
        let path = out_dir.join(parts.next()?);
        let entry = CacheEntry {
            input: 0,
            len,
            checksum,
        };
        if !blob_intact(&path, &entry) {
            return None;
        }
        out.generated.push(path);
    }
    Some(out)
}

/// A parsed kernel file.
struct ParsedFile {
    file: KernelFile,
    programs: Vec<Program>,
}

/// One blob to produce.
struct Job {
    file: usize,
    kernel: usize,
    target: &'static KernelLauncherCodegen,
    arch: Option<String>,
    rel_path: String,
    input: u64,
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
            emit_rerun_lines: true,
            read_metadata: true,
            dispatch_config: DispatchConfig::default(),
            abi_version: 1,
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
        let manifest_dir = self
            .manifest_dir
            .clone()
            .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from))
            .map_or_else(std::env::current_dir, Ok)
            .map_err(|e| Error::io("finding the current directory", ".", e))?;
        let dir = dir.as_ref();
        let dir_abs = manifest_dir.join(dir);
        let dir_display = relative_display(&dir_abs, &manifest_dir)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| dir.display().to_string().replace('\\', "/"));

        let mut out = Output::default();
        let discovered = discover::discover(&dir_abs, &dir_display)?;
        let out_dir = self.resolve_out_dir()?;

        // Track inputs first, so that a failing build is rerun once the
        // kernel is fixed.
        for d in &discovered.dirs {
            out.tracked.push(d.clone());
        }
        for f in &discovered.files {
            out.tracked.push(f.path.clone());
        }
        out.tracked
            .retain(|p| !p.starts_with(&out_dir) && p.exists());
        out.tracked_env = vec![ENV_STUB.to_string(), ENV_DOCS_RS.to_string()];
        if self.emit_rerun_lines {
            for p in &out.tracked {
                println!("cargo::rerun-if-changed={}", p.display());
            }
        }

        let stub = self
            .stub
            .unwrap_or_else(|| env_is_set(ENV_STUB) || std::env::var_os(ENV_DOCS_RS).is_some());
        out.stub = stub;

        let (targets, crate_name, archs, warnings) = self.resolve_targets(&manifest_dir)?;
        out.warnings.extend(warnings);
        if !stub && targets.iter().any(|t| t.target == "cubin") {
            out.tracked_env.extend(ptxas_env().map(str::to_string));
        }
        if self.emit_rerun_lines {
            for var in &out.tracked_env {
                println!("cargo::rerun-if-env-changed={var}");
            }
        }
        out.targets = targets.iter().map(|t| t.target.to_string()).collect();

        // Parse every file, reporting the diagnostics of all of them.
        let mut sources = Vec::new();
        for file in &discovered.files {
            sources.push(
                fs::read_to_string(&file.path)
                    .map_err(|e| Error::io("reading kernel file", &file.path, e))?,
            );
        }
        let key = build_key(
            self,
            &targets,
            &archs,
            &crate_name,
            stub,
            &out.tracked_env,
            &discovered.files,
            &sources,
        );
        if let Some(done) = up_to_date(&out_dir, &self.module_name, key, &out) {
            if self.emit_rerun_lines {
                for w in &done.warnings {
                    println!("cargo::warning={}", w.replace('\n', " "));
                }
            }
            return Ok(done);
        }
        // Files are independent: parse them in parallel, keep file order.
        let indices: Vec<usize> = (0..sources.len()).collect();
        let results = run_parallel(&indices, |&i| {
            vyre::lang::parse(&discovered.files[i].display, &sources[i])
        });
        let mut parsed = Vec::new();
        let mut rendered = String::new();
        let mut first = None;
        let mut count = 0;
        for (file, result) in discovered.files.into_iter().zip(results) {
            match result {
                Ok(module) => parsed.push(ParsedFile {
                    file,
                    programs: module.kernels,
                }),
                Err(diags) => {
                    if first.is_none()
                        && let Some(d) = diags.diagnostics.first()
                    {
                        first = Some(format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message));
                    }
                    count += diags.diagnostics.len().max(1);
                    rendered.push_str(&diags.render());
                }
            }
        }
        if count > 0 {
            return Err(Error::Diagnostics {
                rendered,
                first: first.unwrap_or_else(|| "invalid kernel".to_string()),
                count,
            });
        }

        self.finish(
            parsed,
            &targets,
            &archs,
            &crate_name,
            &out_dir,
            out,
            Some(key),
        )
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
        let out_dir = self.resolve_out_dir()?;
        let manifest_dir = match &self.manifest_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("CARGO_MANIFEST_DIR")
                .map_or_else(|| out_dir.clone(), PathBuf::from),
        };
        let mut parsed = Vec::new();
        let mut names = BTreeSet::new();
        for m in modules {
            if m.module_path.is_empty() {
                return Err(Error::Config(
                    "a ProgramModule needs a module path".to_string(),
                ));
            }
            for part in &m.module_path {
                discover::module_name(part).map_err(|reason| Error::InvalidName {
                    path: m.module_path.join("::"),
                    reason,
                })?;
            }
            if !names.insert(m.module_path.clone()) {
                return Err(Error::Collision {
                    message: format!("module `{}` is given twice", m.module_path.join("::")),
                });
            }
            for p in &m.programs {
                if let Err(errors) = p.validate() {
                    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    return Err(Error::Invalid {
                        kernel: p.name.clone(),
                        errors: list,
                    });
                }
            }
            let display = m.module_path.join("::");
            parsed.push(ParsedFile {
                file: KernelFile {
                    path: PathBuf::from(&display),
                    display,
                    module_path: m.module_path,
                },
                programs: m.programs,
            });
        }
        // Module paths must be sorted (and a module cannot also be a
        // folder of others) for the nested-module generation.
        parsed.sort_by(|a, b| a.file.module_path.cmp(&b.file.module_path));
        for w in parsed.windows(2) {
            if w[1].file.module_path.starts_with(&w[0].file.module_path) {
                return Err(Error::Collision {
                    message: format!(
                        "module `{}` would both hold kernels and contain `{}`",
                        w[0].file.module_path.join("::"),
                        w[1].file.module_path.join("::")
                    ),
                });
            }
        }
        let (targets, crate_name, archs, warnings) = self.resolve_targets(&manifest_dir)?;
        let out = Output {
            stub: self
                .stub
                .unwrap_or_else(|| env_is_set(ENV_STUB) || std::env::var_os(ENV_DOCS_RS).is_some()),
            targets: targets.iter().map(|t| t.target.to_string()).collect(),
            warnings,
            ..Output::default()
        };
        self.finish(parsed, &targets, &archs, &crate_name, &out_dir, out, None)
    }

    fn resolve_out_dir(&self) -> Result<PathBuf, Error> {
        match &self.out_dir {
            Some(d) => Ok(d.clone()),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::Config(
                    "OUT_DIR is not set: call vyre-build from build.rs, or set Builder::out_dir"
                        .to_string(),
                )
                }),
        }
    }

    /// Pick the targets, the crate name used in generated paths and the
    /// arch list, from the Builder, `[package.metadata.vyre]` and the
    /// package's `vyre` features (in that order of precedence).
    #[allow(clippy::type_complexity)]
    fn resolve_targets(
        &self,
        manifest_dir: &Path,
    ) -> Result<
        (
            Vec<&'static KernelLauncherCodegen>,
            String,
            Vec<String>,
            Vec<String>,
        ),
        Error,
    > {
        let mut warnings = Vec::new();
        let manifest = manifest_dir.join("Cargo.toml");
        let settings = if self.read_metadata && manifest.is_file() {
            settings::read(&manifest)?
        } else {
            settings::PackageSettings::default()
        };
        if let Some(reason) = &settings.fallback {
            warnings.push(format!(
                "{reason}; assuming the package's own `cuda`/`wgpu` features forward to `vyre/cuda`/`vyre/wgpu` and reading no [package.metadata.vyre]"
            ));
        }
        let registered = registered_launcher_codegens();
        let names: Vec<String> = registered.iter().map(|c| c.target.to_string()).collect();
        let requested = self.targets.clone().or(settings.targets.clone());
        let mut targets: Vec<&'static KernelLauncherCodegen> = Vec::new();
        match requested {
            Some(list) => {
                let mut seen = BTreeSet::new();
                for t in list {
                    if !seen.insert(t.clone()) {
                        continue;
                    }
                    let cg = launcher_codegen(&t).map_err(|e| match e {
                        BackendError::DuplicateRegistration { .. } => Error::Config(e.to_string()),
                        _ => Error::UnknownTarget {
                            target: t.clone(),
                            registered: names.clone(),
                        },
                    })?;
                    targets.push(cg);
                }
            }
            None => {
                for cg in &registered {
                    let wanted = !OPT_IN_TARGETS.contains(&cg.target)
                        && cg
                            .runtime_feature
                            .is_none_or(|f| settings.vyre_features.contains(f));
                    if wanted {
                        // A duplicate registration is an error, not a pick.
                        targets.push(
                            launcher_codegen(cg.target)
                                .map_err(|e| Error::Config(e.to_string()))?,
                        );
                    }
                }
                targets.dedup_by_key(|c| c.target);
            }
        }
        // Every target also needs an emitter.
        let emitters: BTreeSet<&str> = registered_aot_emitters().iter().map(|e| e.target).collect();
        if let Some(missing) = targets.iter().find(|t| !emitters.contains(t.target)) {
            return Err(Error::UnknownTarget {
                target: missing.target.to_string(),
                registered: emitters.iter().map(|s| (*s).to_string()).collect(),
            });
        }
        let archs = self
            .cuda_archs
            .clone()
            .or(settings.cuda_archs)
            .unwrap_or_else(|| vec![vyre::backend::ptx::DEFAULT_ARCH.to_string()]);
        let crate_name = settings.vyre_crate.unwrap_or_else(|| "vyre".to_string());
        Ok((targets, crate_name, archs, warnings))
    }

    /// Emit the blobs (through the cache) and write the module.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        parsed: Vec<ParsedFile>,
        targets: &[&'static KernelLauncherCodegen],
        archs: &[String],
        crate_name: &str,
        out_dir: &Path,
        mut out: Output,
        build_key: Option<u64>,
    ) -> Result<Output, Error> {
        if self.module_name.contains(['/', '\\']) || !self.module_name.ends_with(".rs") {
            return Err(Error::Config(format!(
                "module name `{}` must be a plain file name ending in `.rs`",
                self.module_name
            )));
        }
        // The module proper and its blobs live in `OUT_DIR/<stem>/`, with
        // flat file names: target codegens may require a plain file name
        // next to the module (the naga targets do). `OUT_DIR/<stem>.rs`
        // only includes it. One directory per module name also keeps two
        // builds into one OUT_DIR (two kernel dirs) apart.
        let stem = self.module_name.trim_end_matches(".rs");
        let gen_dir = out_dir.join(stem);
        let cache_path = gen_dir.join("cache");
        let old_cache = if out.stub {
            BTreeMap::new()
        } else {
            read_cache(&cache_path)
        };
        let fingerprint = generator_fingerprint();
        let config_debug = format!("{:?}", self.dispatch_config);

        // Content hash per kernel, and the unique key.
        let mut hashes = Vec::new();
        let mut seen_items: BTreeMap<String, String> = BTreeMap::new();
        for pf in &parsed {
            let mut per_file = Vec::new();
            for p in &pf.programs {
                let name = p.name.strip_prefix("r#").unwrap_or(&p.name);
                let item = format!(
                    "{}::{}",
                    pf.file.module_path.join("::"),
                    name.to_uppercase()
                );
                if let Some(other) = seen_items.insert(item.clone(), p.name.clone()) {
                    return Err(Error::Collision {
                        message: format!(
                            "{}: kernels `{other}` and `{}` both generate `{item}_SPEC`; rename one",
                            pf.file.display, p.name
                        ),
                    });
                }
                per_file.push(Fnv::new().field(format!("{p:?}")).finish());
            }
            hashes.push(per_file);
        }
        out.kernels = hashes.iter().map(Vec::len).sum();

        // The blobs to produce.
        let mut jobs = Vec::new();
        if !out.stub {
            for (fi, pf) in parsed.iter().enumerate() {
                for (ki, p) in pf.programs.iter().enumerate() {
                    let name = p.name.strip_prefix("r#").unwrap_or(&p.name);
                    for &cg in targets {
                        let arch_list: Vec<Option<String>> = if cg.per_arch && !archs.is_empty() {
                            archs.iter().cloned().map(Some).collect()
                        } else {
                            vec![self.dispatch_config.target_arch.clone()]
                        };
                        for arch in arch_list {
                            let ext = cg.extension.trim_start_matches('.');
                            let arch_part = match (&arch, cg.per_arch) {
                                (Some(a), true) => format!(".{a}"),
                                _ => String::new(),
                            };
                            // Module names are identifiers, so `.` separates
                            // the parts unambiguously.
                            let rel_path = format!(
                                "{}.{name}.{}{arch_part}.{ext}",
                                pf.file.module_path.join("."),
                                cg.target
                            );
                            let input = Fnv::new()
                                .field(format!("{p:?}"))
                                .field(cg.target)
                                .field(arch.as_deref().unwrap_or(""))
                                .field(&config_debug)
                                .field(&fingerprint)
                                .finish();
                            jobs.push(Job {
                                file: fi,
                                kernel: ki,
                                target: cg,
                                arch,
                                rel_path,
                                input,
                            });
                        }
                    }
                }
            }
        }

        // Emit what the cache cannot supply, in parallel.
        let mut is_pending = vec![false; jobs.len()];
        let pending: Vec<usize> = (0..jobs.len())
            .filter(|&j| {
                let job = &jobs[j];
                !old_cache.get(&job.rel_path).is_some_and(|e| {
                    e.input == job.input && blob_intact(&gen_dir.join(&job.rel_path), e)
                })
            })
            .collect();
        for &j in &pending {
            is_pending[j] = true;
        }
        let results = run_parallel(&pending, |&j| {
            let job = &jobs[j];
            let program = &parsed[job.file].programs[job.kernel];
            let mut config = self.dispatch_config.clone();
            if job.target.per_arch {
                config.target_arch.clone_from(&job.arch);
            }
            emit_aot_target(job.target.target, program, &config)
        });

        let mut new_cache = BTreeMap::new();
        let mut skipped_targets: BTreeMap<&str, String> = BTreeMap::new();
        let mut present = vec![true; jobs.len()];
        for (&j, result) in pending.iter().zip(results) {
            let job = &jobs[j];
            let pf = &parsed[job.file];
            let program = &pf.programs[job.kernel];
            let target_label = match &job.arch {
                Some(a) if job.target.per_arch => format!("{}/{a}", job.target.target),
                _ => job.target.target.to_string(),
            };
            match result {
                Ok(bytes) => {
                    let path = gen_dir.join(&job.rel_path);
                    if fsutil::write_if_changed(&path, &bytes)? {
                        out.rewritten.push(path);
                    }
                    out.emitted.push(format!(
                        "{}::{} ({target_label})",
                        pf.file.module_path.join("::"),
                        program.name
                    ));
                    new_cache.insert(
                        job.rel_path.clone(),
                        CacheEntry {
                            input: job.input,
                            len: bytes.len() as u64,
                            checksum: fsutil::checksum(&bytes),
                        },
                    );
                }
                Err(BackendError::KernelCompileFailed {
                    compiler_message, ..
                }) if job.target.optional && compiler_message.starts_with(UNAVAILABLE_PREFIX) => {
                    present[j] = false;
                    skipped_targets
                        .entry(job.target.target)
                        .or_insert(compiler_message);
                }
                Err(e) => {
                    let message = match e {
                        BackendError::KernelCompileFailed {
                            compiler_message, ..
                        } => compiler_message,
                        other => other.to_string(),
                    };
                    return Err(Error::Emit {
                        file: pf.file.display.clone(),
                        kernel: program.name.clone(),
                        target: target_label,
                        message,
                    });
                }
            }
        }
        for (j, job) in jobs.iter().enumerate() {
            if !is_pending[j]
                && let Some(e) = old_cache.get(&job.rel_path)
            {
                new_cache.insert(job.rel_path.clone(), e.clone());
            }
        }
        for (target, message) in skipped_targets {
            out.warnings.push(format!(
                "target `{target}` skipped: {}",
                message.trim_start_matches(UNAVAILABLE_PREFIX)
            ));
        }

        // Generate the module.
        let mut gen_files = Vec::new();
        let mut job_iter = jobs.iter().enumerate().peekable();
        for (fi, pf) in parsed.iter().enumerate() {
            let mut kernels = Vec::new();
            for (ki, p) in pf.programs.iter().enumerate() {
                let mut artifacts = Vec::new();
                while let Some((j, job)) = job_iter.peek() {
                    if job.file != fi || job.kernel != ki {
                        break;
                    }
                    if present[*j] {
                        let file = ArtifactFile {
                            target: job.target.target,
                            arch: if job.target.per_arch {
                                job.arch.as_deref()
                            } else {
                                None
                            },
                            file_name: &job.rel_path,
                        };
                        let text = (job.target.artifact_expr)(&file).map_err(|message| {
                            Error::Codegen {
                                target: job.target.target.to_string(),
                                message,
                            }
                        })?;
                        let expr =
                            syn::parse_str::<syn::Expr>(&text).map_err(|e| Error::Codegen {
                                target: job.target.target.to_string(),
                                message: format!("`{text}` is not an expression: {e}"),
                            })?;
                        artifacts.push(expr);
                        out.generated.push(gen_dir.join(&job.rel_path));
                    }
                    job_iter.next();
                }
                let name = p.name.strip_prefix("r#").unwrap_or(&p.name);
                kernels.push(GenKernel {
                    program: p,
                    workgroup_size: self.dispatch_config.effective_workgroup_size(p),
                    key: format!(
                        "{}::{name}#{:016x}",
                        pf.file.module_path.join("::"),
                        hashes[fi][ki]
                    ),
                    artifacts,
                });
            }
            gen_files.push(GenFile {
                display: pf.file.display.clone(),
                module_path: pf.file.module_path.clone(),
                kernels,
            });
        }
        let text = codegen::generate(&gen_files, crate_name, self.abi_version)?;
        let inner = gen_dir.join(INNER_MODULE);
        if fsutil::write_if_changed(&inner, text.as_bytes())? {
            out.rewritten.push(inner.clone());
        }
        let module = out_dir.join(&self.module_name);
        let outer = codegen::outer_file(&format!("{stem}/{INNER_MODULE}"));
        if fsutil::write_if_changed(&module, outer.as_bytes())? {
            out.rewritten.push(module.clone());
        }
        out.generated.insert(0, inner);
        out.generated.insert(0, module.clone());
        out.module = module;

        if !out.stub {
            // Drop blobs of kernels that no longer exist.
            for stale in old_cache.keys().filter(|k| !new_cache.contains_key(*k)) {
                let _ = fs::remove_file(gen_dir.join(stale));
            }
            write_cache(&cache_path, &new_cache)?;
        }
        let record = gen_dir.join(BUILD_RECORD);
        match build_key {
            Some(key) => write_build_record(&record, key, out_dir, &out)?,
            None => {
                let _ = fs::remove_file(&record);
            }
        }
        if self.emit_rerun_lines {
            for w in &out.warnings {
                println!("cargo::warning={}", w.replace('\n', " "));
            }
        }
        Ok(out)
    }
}

/// Map `f` over `items` on up to `available_parallelism` threads, keeping
/// the order of the results.
fn run_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = Vec::with_capacity(items.len());
    slots.resize_with(items.len(), || None);
    let chunks: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() {
                            break;
                        }
                        done.push((i, f(&items[i])));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, r) in chunks.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests;
