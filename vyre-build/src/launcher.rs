//! Standalone launcher crates: the seed's [`AotLauncherRequest`] end to
//! end. [`LauncherCrate::emit`] compiles a kernels folder for one target
//! and writes a Cargo crate whose binary runs those kernels from the
//! command line (on `.npy` or raw files), multi-rank with collectives, and
//! with the eval-time training loop.
//!
//! What is target-specific (the runtime dependency and `src/main.rs`)
//! comes from the target's registered `AotLauncherEmitter`; everything
//! else is written here: `Cargo.toml`, `src/bundle.rs` (the manifest's
//! SHA-256), `README.md`, and the bundle (`bundle/manifest.json` and the
//! blobs). Files are written only when their bytes change, each through a
//! temporary file.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use vyre::DispatchConfig;
use vyre::driver::{
    AotLauncherRequest, BackendError, KernelLauncherCodegen, emit_aot_launcher_target,
    launcher_codegen, registered_launcher_codegens,
};
use vyre::ir::{Param, Program};
use vyre_launcher::bundle::sha256_hex;
use vyre_launcher::manifest::{
    BlobEntry, FORMAT_VERSION, KernelEntry, MANIFEST_FILE, Manifest, ParamEntry, ParamKind,
    TensorMapEntry, grid_terms,
};

pub use vyre_launcher::manifest::{AllReduceEntry, ReduceOp, TrainEntry as TrainLoop};

use crate::Error;
use crate::emit::{self, Emitted};
use crate::io;
use crate::plan::{self, ParsedFile, PlanSettings};

/// The bundle's directory inside the crate.
pub const BUNDLE_DIR: &str = "bundle";

/// A launcher crate to emit (in the style of [`crate::Builder`]).
///
/// ```no_run
/// vyre_build::LauncherCrate::new("ptx", "saxpy-launcher")
///     .emit("kernels/", "target/saxpy-launcher")
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct LauncherCrate {
    target: String,
    crate_name: String,
    include_collectives: bool,
    train: Option<TrainLoop>,
    runtime_path: Option<PathBuf>,
    cuda_archs: Vec<String>,
    dispatch_config: DispatchConfig,
}

/// What [`LauncherCrate::emit`] wrote.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LauncherOutput {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Every file of the crate, relative to [`LauncherOutput::dir`],
    /// sorted.
    pub files: Vec<PathBuf>,
    /// The subset whose bytes changed and were written.
    pub rewritten: Vec<PathBuf>,
    /// The bundle's manifest.
    pub manifest: Option<Manifest>,
    /// Notes (an optional blob skipped for a missing tool).
    pub warnings: Vec<String>,
}

impl LauncherCrate {
    /// A launcher crate named `crate_name` for `target` (`reference`,
    /// `ptx`, `cubin`, `spirv`, or any target whose crate registers an
    /// `AotLauncherEmitter`).
    #[must_use]
    pub fn new(target: impl Into<String>, crate_name: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            crate_name: crate_name.into(),
            include_collectives: false,
            train: None,
            runtime_path: None,
            cuda_archs: Vec::new(),
            dispatch_config: DispatchConfig::default(),
        }
    }

    /// Multi-rank runs (`RANK`/`WORLD_SIZE`, buffers all-reduced between
    /// steps): NCCL on CUDA, TCP on the CPU; refused where the target
    /// has no collectives.
    #[must_use]
    pub fn collectives(mut self, on: bool) -> Self {
        self.include_collectives = on;
        self
    }

    /// The eval-time training loop (the launcher's `train` command) with
    /// these kernels and buffers.
    #[must_use]
    pub fn training_loop(mut self, train: TrainLoop) -> Self {
        self.train = Some(train);
        self
    }

    /// Depend on the `vyre` workspace checked out at `dir` (path
    /// dependencies: builds offline, and with unpublished versions)
    /// instead of crates.io.
    #[must_use]
    pub fn runtime_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_path = Some(dir.into());
        self
    }

    /// CUDA architectures of the cubins (default: each kernel's PTX
    /// architecture).
    #[must_use]
    pub fn cuda_archs<I, S>(mut self, archs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cuda_archs = archs.into_iter().map(Into::into).collect();
        self
    }

    /// Emission policy (bounds checks, workgroup size override, ...).
    #[must_use]
    pub fn dispatch_config(mut self, config: DispatchConfig) -> Self {
        self.dispatch_config = config;
        self
    }

    /// Compile every `*.vyre` file under `kernels_dir` and write the
    /// launcher crate into `out_dir` (created if needed; files of an
    /// earlier emission that are no longer part of the bundle are removed
    /// from `bundle/`).
    ///
    /// # Errors
    /// [`Error::Launcher`] when the target has no launcher or cannot honour
    /// a flag ([`BackendError::UnsupportedFeature`]); the errors of
    /// [`crate::Builder::compile`] for the kernels; [`Error::Config`] for a
    /// bad crate name or a training loop that names unknown kernels or
    /// buffers; [`Error::Io`].
    pub fn emit(
        &self,
        kernels_dir: impl AsRef<Path>,
        out_dir: impl AsRef<Path>,
    ) -> Result<LauncherOutput, Error> {
        check_crate_name(&self.crate_name)?;
        let request = AotLauncherRequest {
            target: static_target(&self.target).ok_or_else(|| Error::Launcher {
                target: self.target.clone(),
                source: BackendError::UnsupportedFeature {
                    name: format!("aot launcher target `{}`", self.target),
                    backend: "vyre-driver".to_string(),
                },
            })?,
            crate_name: &self.crate_name,
            include_collectives: self.include_collectives,
            include_ttt_loop: self.train.is_some(),
        };
        let files =
            emit_aot_launcher_target(&self.target, &request).map_err(|e| Error::Launcher {
                target: self.target.clone(),
                source: e,
            })?;
        let codegens = bundle_codegens(&self.target).map_err(|e| Error::Launcher {
            target: self.target.clone(),
            source: e,
        })?;

        let kernels_dir = kernels_dir.as_ref();
        let display = kernels_dir.display().to_string().replace('\\', "/");
        let discovered = io::discover::discover(kernels_dir, &display)?;
        let sources = io::read_sources(&discovered.files)?;
        // A bundle's kernels are built without debug calls: its runtime
        // does not read debug rings.
        let parsed = plan::parse_files(discovered.files, &sources, false)?;
        let generator = io::generator_fingerprint();
        let plan = plan::plan(
            &parsed,
            &PlanSettings {
                targets: &codegens,
                archs: &self.cuda_archs,
                config: &self.dispatch_config,
                generator: &generator,
                stub: false,
            },
        )?;
        let all: Vec<usize> = (0..plan.jobs.len()).collect();
        let results = emit::emit_jobs(&parsed, &plan.jobs, &all, &self.dispatch_config);
        let mut out = LauncherOutput {
            dir: out_dir.as_ref().to_path_buf(),
            ..LauncherOutput::default()
        };
        let mut blobs: Vec<Option<Vec<u8>>> = Vec::with_capacity(plan.jobs.len());
        for (job, result) in plan.jobs.iter().zip(results) {
            match emit::classify(&parsed, job, result)? {
                Emitted::Blob(bytes) => blobs.push(Some(bytes)),
                Emitted::Lacks(bytes, warning) => {
                    out.warnings.push(warning);
                    blobs.push(Some(bytes));
                }
                Emitted::Unavailable(note) => {
                    out.warnings.push(format!(
                        "{} skipped for `{}`: {note}",
                        job.target_label(),
                        parsed[job.file].programs[job.kernel].name
                    ));
                    blobs.push(None);
                }
            }
        }

        // The manifest, kernel by kernel in source order.
        let mut kernels = Vec::new();
        for (fi, pf) in parsed.iter().enumerate() {
            for (ki, p) in pf.programs.iter().enumerate() {
                let mut entry = kernel_entry(pf, p, &self.dispatch_config);
                for (job, bytes) in plan.jobs.iter().zip(&blobs) {
                    if job.file != fi || job.kernel != ki {
                        continue;
                    }
                    if let Some(bytes) = bytes {
                        entry.blobs.push(BlobEntry {
                            target: job.target.target.to_string(),
                            arch: job.artifact_arch().map(str::to_string),
                            file: job.rel_path.clone(),
                            bytes: bytes.len() as u64,
                            sha256: sha256_hex(bytes),
                        });
                    }
                }
                kernels.push(entry);
            }
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            generator: format!("vyre-build {}", env!("CARGO_PKG_VERSION")),
            target: self.target.clone(),
            crate_name: self.crate_name.clone(),
            archs: self.cuda_archs.clone(),
            collectives: self.include_collectives,
            kernels,
            train: self.train.clone(),
        };
        if let Some(train) = &manifest.train {
            check_train(&manifest, train)?;
        }
        let manifest_json = manifest.to_json();

        // The crate's files.
        let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        written.push((
            PathBuf::from("Cargo.toml"),
            cargo_toml(
                &self.crate_name,
                &files.dependencies,
                self.runtime_path.as_deref(),
            )?
            .into_bytes(),
        ));
        for (path, text) in &files.files {
            check_relative(path, &self.target)?;
            written.push((path.clone(), text.clone().into_bytes()));
        }
        written.push((
            PathBuf::from("src/bundle.rs"),
            bundle_rs(&sha256_hex(manifest_json.as_bytes())).into_bytes(),
        ));
        written.push((PathBuf::from("README.md"), readme(&manifest).into_bytes()));
        written.push((
            Path::new(BUNDLE_DIR).join(MANIFEST_FILE),
            manifest_json.into_bytes(),
        ));
        for (job, bytes) in plan.jobs.iter().zip(blobs) {
            if let Some(bytes) = bytes {
                written.push((Path::new(BUNDLE_DIR).join(&job.rel_path), bytes));
            }
        }
        let mut seen = BTreeSet::new();
        for (rel, bytes) in &written {
            if !seen.insert(rel.clone()) {
                return Err(Error::Config(format!(
                    "the launcher crate would hold `{}` twice (a target file collides with vyre-build's)",
                    rel.display()
                )));
            }
            if io::write_if_changed(&out.dir.join(rel), bytes)? {
                out.rewritten.push(rel.clone());
            }
        }
        remove_stale_bundle_files(&out.dir.join(BUNDLE_DIR), &seen)?;
        out.files = seen.into_iter().collect();
        out.manifest = Some(manifest);
        Ok(out)
    }
}

/// The registered launcher target spelled `target` (the seed's request
/// holds a `&'static str`).
fn static_target(target: &str) -> Option<&'static str> {
    vyre::driver::registered_aot_launcher_emitters()
        .into_iter()
        .map(|e| e.target)
        .find(|t| *t == target)
}

/// The codegens whose blobs go into a bundle for `target`: its own, plus
/// the optional ones of the same runtime (the CUDA runtime prefers a
/// matching cubin over the PTX, when `ptxas` could build one).
fn bundle_codegens(target: &str) -> Result<Vec<&'static KernelLauncherCodegen>, BackendError> {
    let own = launcher_codegen(target)?;
    let mut out = vec![own];
    if own.runtime_feature.is_some() {
        for cg in registered_launcher_codegens() {
            if cg.target != own.target && cg.optional && cg.runtime_feature == own.runtime_feature {
                out.push(cg);
            }
        }
    }
    Ok(out)
}

/// A Cargo package name: ASCII letters, digits, `-` and `_`, starting with
/// a letter.
fn check_crate_name(name: &str) -> Result<(), Error> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "`{name}` is not a crate name (ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 bytes)"
        )))
    }
}

/// A launcher emitter's file path must stay inside the crate.
fn check_relative(path: &Path, target: &str) -> Result<(), Error> {
    let inside = !path.as_os_str().is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the launcher emitter of `{target}` returned the file path `{}`, which is not inside the crate",
            path.display()
        )))
    }
}

/// The manifest entry of kernel `p` (without blobs).
fn kernel_entry(pf: &ParsedFile, p: &Program, config: &DispatchConfig) -> KernelEntry {
    let name = plan::plain_name(p);
    let params = p
        .params
        .iter()
        .map(|param| match param {
            Param::Buffer(b) => ParamEntry {
                name: b.name.clone(),
                kind: ParamKind::Buffer,
                ty: b.elem.name().to_string(),
                access: Some(b.access.into()),
            },
            Param::Scalar { name, ty } => ParamEntry {
                name: name.clone(),
                kind: ParamKind::Scalar,
                ty: ty.name().to_string(),
                access: None,
            },
        })
        .collect();
    KernelEntry {
        name: format!("{}::{name}", pf.file.module_path.join("::")),
        entry: name.to_string(),
        workgroup_size: config.effective_workgroup_size(p),
        unchecked: !config.checks_bounds(p),
        params,
        grid: pf.grids.get(name).map(grid_terms),
        blobs: Vec::new(),
        tensor_maps: vyre::mid::tile::tensor_maps(p)
            .into_iter()
            .map(|m| TensorMapEntry {
                buffer: m.src,
                rows: m.rows.into(),
                cols: m.cols.into(),
                box_rows: m.box_rows,
            })
            .collect(),
    }
}

/// The training loop must name kernels of the bundle, and buffers that
/// those kernels have.
fn check_train(manifest: &Manifest, train: &TrainLoop) -> Result<(), Error> {
    let bad = |m: String| Error::Config(format!("training loop: {m}"));
    if train.step.is_empty() {
        return Err(bad("it needs at least one `step` kernel".to_string()));
    }
    let mut kernels = Vec::new();
    for name in train.step.iter().chain(&train.update).chain(&train.eval) {
        kernels.push(manifest.kernel(name).map_err(bad)?);
    }
    let buffers: BTreeSet<&str> = kernels
        .iter()
        .flat_map(|k| &k.params)
        .filter(|p| p.kind == ParamKind::Buffer)
        .map(|p| p.name.as_str())
        .collect();
    let named = std::iter::once((&train.loss, "loss"))
        .chain(train.data.iter().map(|d| (d, "data")))
        .chain(train.allreduce.iter().map(|a| (&a.buffer, "allreduce")));
    for (buffer, role) in named {
        if !buffers.contains(buffer.as_str()) {
            return Err(bad(format!(
                "the {role} buffer `{buffer}` is not a buffer parameter of its kernels ({})",
                buffers.iter().copied().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// `Cargo.toml` of the launcher crate.
fn cargo_toml(
    crate_name: &str,
    dependencies: &[vyre::driver::LauncherDependency],
    runtime_path: Option<&Path>,
) -> Result<String, Error> {
    // Relative to the emitted crate, a relative checkout path would point
    // elsewhere: make it absolute.
    let root = match runtime_path {
        Some(p) => Some(std::path::absolute(p).map_err(|e| Error::io("resolving", p, e))?),
        None => None,
    };
    let mut deps = String::new();
    for dep in dependencies {
        let local = root.as_deref().and_then(|root| local_crate(root, dep.name));
        if let (Some(root), None, "vyre-launcher") = (&root, &local, dep.name) {
            return Err(Error::Config(format!(
                "the vyre checkout `{}` has no `vyre-launcher/Cargo.toml`",
                root.display()
            )));
        }
        let spec = match local {
            Some(path) => with_path(dep.spec, &path),
            None => dep.spec.to_string(),
        };
        deps.push_str(&format!("{} = {spec}\n", dep.name));
    }
    Ok(format!(
        r#"# @generated by vyre-build {version}: a standalone launcher of vyre kernels.
# Build with `cargo build --release`; see README.md.

[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
{deps}
# A small binary: optimise for size, one codegen unit, link-time
# optimisation, no symbols. (Unwinding stays: the CUDA runtime turns a
# driver too old for its bindings into an error by catching the panic.)
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true

# Its own workspace, wherever it is emitted.
[workspace]
"#,
        version = env!("CARGO_PKG_VERSION"),
    ))
}

/// The directory of crate `name` in the vyre checkout `root` (`vyre` is
/// the root itself), when it exists.
fn local_crate(root: &Path, name: &str) -> Option<String> {
    let dir = if name == "vyre" {
        root.to_path_buf()
    } else {
        root.join(name)
    };
    dir.join("Cargo.toml")
        .is_file()
        .then(|| dir.to_string_lossy().replace('\\', "/"))
}

/// `spec` (an inline table or a version string) with `path = "dir"`.
fn with_path(spec: &str, dir: &str) -> String {
    // A JSON string is a valid TOML basic string (same escapes).
    let path = serde_json::to_string(dir).unwrap_or_default();
    match spec.trim().strip_prefix('{') {
        Some(rest) => format!("{{ path = {path}, {}", rest.trim_start()),
        None => format!("{{ path = {path}, version = {spec} }}"),
    }
}

/// `src/bundle.rs`.
fn bundle_rs(sha: &str) -> String {
    format!(
        "// @generated by vyre-build. Do not edit.\n\n/// SHA-256 of `bundle/{MANIFEST_FILE}` as emitted: the launcher refuses\n/// any other manifest.\npub const MANIFEST_SHA256: &str = \"{sha}\";\n"
    )
}

/// `README.md`: how to build and run the crate, and its kernels.
fn readme(m: &Manifest) -> String {
    let name = &m.crate_name;
    let mut kernels = String::new();
    for k in &m.kernels {
        let params: Vec<String> = k
            .params
            .iter()
            .map(|p| match (p.kind, p.access) {
                (ParamKind::Scalar, _) => format!("`{}: {}`", p.name, p.ty),
                (_, Some(vyre_launcher::manifest::AccessEntry::ReadWrite)) => {
                    format!("`{}: &mut [{}]`", p.name, p.ty)
                }
                _ => format!("`{}: &[{}]`", p.name, p.ty),
            })
            .collect();
        kernels.push_str(&format!("- `{}`: {}\n", k.name, params.join(", ")));
    }
    let train = if m.train.is_some() {
        format!(
            "\nTraining loop (`{name} train --help`): `--in` the data and initial parameters, `--steps N` or `--target-loss X` (or `VYRE_TTT_STEPS` / `VYRE_TTT_TARGET_LOSS`); one JSON line per step.\n"
        )
    } else {
        String::new()
    };
    let ranks = if m.collectives {
        "\nMulti-rank: set `RANK`, `WORLD_SIZE`, `LOCAL_RANK` and `MASTER_ADDR`/`MASTER_PORT` (or `VYRE_RENDEZVOUS_FILE`), as torchrun does.\n"
    } else {
        ""
    };
    format!(
        r#"# {name}

A standalone launcher of vyre kernels for target `{target}`, generated by
vyre-build {version}. The binary verifies `bundle/` (the SHA-256 of
`manifest.json` and of every blob) before it touches a device.

```sh
cargo build --release
./target/release/{name} list
./target/release/{name} run <kernel> --in x=x.npy --scalar a=2.5 --out y=y.npy
```

Inputs and outputs are `.npy` files (bf16 as `uint16` bit patterns) or raw
little-endian elements (any other extension). A buffer without `--in` is
zero-filled, as long as `--len NAME=N` (default: the longest input). The
grid is the kernel's `grid = (..)` rule, or one invocation per element of
its longest buffer, or `--grid X[,Y,Z]` workgroups.
{train}{ranks}
## Kernels

{kernels}"#,
        target = m.target,
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// Remove files of `dir` that an earlier emission wrote and this one did
/// not (renamed or removed kernels).
fn remove_stale_bundle_files(dir: &Path, keep: &BTreeSet<PathBuf>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    for entry in entries.flatten() {
        let rel = Path::new(BUNDLE_DIR).join(entry.file_name());
        if entry.path().is_file() && !keep.contains(&rel) {
            std::fs::remove_file(entry.path())
                .map_err(|e| Error::io("removing", entry.path(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names() {
        for ok in ["a", "saxpy-launcher", "k_2"] {
            check_crate_name(ok).unwrap();
        }
        for bad in ["", "2a", "-a", "a b", "a/b", "é"] {
            assert!(check_crate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_dependencies() {
        assert_eq!(
            with_path(
                "{ version = \"0.1.0\", features = [\"cuda\"] }",
                "/w/vyre-launcher"
            ),
            "{ path = \"/w/vyre-launcher\", version = \"0.1.0\", features = [\"cuda\"] }"
        );
        assert_eq!(
            with_path("\"1\"", "/a\"b"),
            "{ path = \"/a\\\"b\", version = \"1\" }"
        );
    }

    #[test]
    fn emitter_paths_stay_inside() {
        check_relative(Path::new("src/main.rs"), "t").unwrap();
        for bad in ["", "/etc/x", "../x", "src/../../x"] {
            assert!(check_relative(Path::new(bad), "t").is_err(), "{bad}");
        }
    }
}
