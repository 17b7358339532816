//! What to build, decided without touching the file system: the targets
//! (from the [`Builder`](crate::Builder), `[package.metadata.vyre]` and the
//! package's `vyre` features), the parsed kernels, the key of every kernel
//! and the blobs to produce (kernels x targets x archs), each with its file
//! name and cache key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use vyre::DispatchConfig;
use vyre::driver::{
    BackendError, KernelLauncherCodegen, launcher_codegen, registered_aot_emitters,
    registered_launcher_codegens,
};
use vyre::ir::Program;

use crate::Error;
use crate::cache;
use crate::emit::run_parallel;
use crate::generic::{GenGeneric, generic_item_names};
use crate::hash::Digest;

/// Targets never picked by default (no `vyre` runtime runs them; they are
/// for shipping shader sources to other engines): ask for them explicitly.
const OPT_IN_TARGETS: &[&str] = &["msl", "hlsl"];

/// One kernel file found under the kernels directory (or one
/// [`ProgramModule`](crate::ProgramModule)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelFile {
    /// Absolute (or as given) path to read.
    pub path: PathBuf,
    /// How diagnostics and generated docs name it: relative to the package
    /// root, `/`-separated (e.g. `kernels/nn/relu.vyre`).
    pub display: String,
    /// Rust module path of the file (`["nn", "relu"]`).
    pub module_path: Vec<String>,
}

/// What the package's manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PackageSettings {
    /// `[package.metadata.vyre] targets`.
    pub targets: Option<Vec<String>>,
    /// `[package.metadata.vyre] cuda-archs`.
    pub cuda_archs: Option<Vec<String>>,
    /// Features of `vyre` the package turns on (directly, or through one of
    /// its own features that is enabled in this build).
    pub vyre_features: BTreeSet<String>,
    /// The name the package uses for `vyre` (a `package = "vyre"` rename).
    pub vyre_crate: Option<String>,
    /// Set when `cargo metadata` could not be used and the environment
    /// fallback was taken; the reason, for a `cargo::warning`.
    pub fallback: Option<String>,
}

/// The targets of a build and what goes with them.
#[derive(Clone)]
pub(crate) struct Targets {
    /// The targets, in order.
    pub codegens: Vec<&'static KernelLauncherCodegen>,
    /// The name generated code uses for the `vyre` crate.
    pub crate_name: String,
    /// Architectures of per-arch targets; empty when none were chosen (each
    /// kernel's then: see [`plan`]).
    pub archs: Vec<String>,
    /// Notes for the user.
    pub warnings: Vec<String>,
}

/// A parsed (or given) kernel file.
pub(crate) struct ParsedFile {
    /// Where it came from.
    pub file: KernelFile,
    /// Its kernels in source order.
    pub programs: Vec<Program>,
    /// Its generic kernels (their instances are among `programs`).
    pub generics: Vec<GenGeneric>,
    /// The kernels' `grid = (..)` rules, by kernel name.
    pub grids: BTreeMap<String, vyre::lang::GridRule>,
    /// The debug call sites of a debug build, by kernel name.
    pub debug: BTreeMap<String, Vec<vyre::ir::DebugSite>>,
}

/// One blob to produce.
pub(crate) struct Job {
    /// Index of the file in the parsed files.
    pub file: usize,
    /// Index of the kernel in its file.
    pub kernel: usize,
    /// The target.
    pub target: &'static KernelLauncherCodegen,
    /// The arch (for a per-arch target, the one this blob is for; else the
    /// dispatch config's).
    pub arch: Option<String>,
    /// File name of the blob, relative to the module directory.
    pub rel_path: String,
    /// Cache key: everything the blob is emitted from.
    pub input: Digest,
}

impl Job {
    /// `target` or `target/arch`, for messages.
    pub(crate) fn target_label(&self) -> String {
        match &self.arch {
            Some(a) if self.target.per_arch => format!("{}/{a}", self.target.target),
            _ => self.target.target.to_string(),
        }
    }

    /// The arch the generated `Artifact` names (per-arch targets only).
    pub(crate) fn artifact_arch(&self) -> Option<&str> {
        if self.target.per_arch {
            self.arch.as_deref()
        } else {
            None
        }
    }

    /// The dispatch config handed to the emitter.
    pub(crate) fn config(&self, base: &DispatchConfig) -> DispatchConfig {
        let mut config = base.clone();
        if self.target.per_arch {
            config.target_arch.clone_from(&self.arch);
        }
        config
    }
}

/// Everything to produce.
pub(crate) struct Plan {
    /// Per file, per kernel: the unique key of its `KernelSpec`.
    pub kernel_keys: Vec<Vec<String>>,
    /// Number of kernels.
    pub kernels: usize,
    /// The blobs, grouped by file and kernel in source order (none in stub
    /// mode).
    pub jobs: Vec<Job>,
}

/// Map a file or folder name to a Rust module name (`-` becomes `_`), or
/// explain why it cannot be one.
pub(crate) fn module_name(name: &str) -> Result<String, String> {
    let mapped = name.replace('-', "_");
    let valid_chars = mapped
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && mapped
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_chars || mapped == "_" {
        return Err(format!(
            "`{name}` is not a valid Rust module name (even after mapping `-` to `_`); use letters, digits, `_` and `-`, not starting with a digit"
        ));
    }
    if crate::codegen::is_keyword(&mapped) {
        return Err(format!(
            "`{name}` is a Rust keyword and cannot name a kernel module; rename it"
        ));
    }
    Ok(mapped)
}

/// Longest blob file name stem kept as is: file systems take 255 bytes a
/// name, and the target, arch and extension follow.
const MAX_STEM_BYTES: usize = 160;

/// The blob file name `{stem}.{tail}`; a stem longer than
/// [`MAX_STEM_BYTES`] (a very long kernel or module name) is cut at a
/// character boundary and followed by a hash of the whole stem, so that
/// names stay distinct and fit every file system.
pub(crate) fn blob_file_name(stem: &str, tail: &str) -> String {
    if stem.len() <= MAX_STEM_BYTES {
        return format!("{stem}.{tail}");
    }
    let mut cut = MAX_STEM_BYTES - 20;
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = crate::hash::Hasher::new("blob-stem")
        .field(stem)
        .finish()
        .short();
    format!("{}~{hash:016x}.{tail}", &stem[..cut])
}

/// The generated module's file name must be a plain `*.rs` name.
pub(crate) fn check_module_file_name(name: &str) -> Result<(), Error> {
    if name.contains(['/', '\\']) || !name.ends_with(".rs") {
        return Err(Error::Config(format!(
            "module name `{name}` must be a plain file name ending in `.rs`"
        )));
    }
    Ok(())
}

/// Pick the targets, the crate name used in generated paths and the arch
/// list, from the builder's choices (`targets`, `cuda_archs`), then
/// `[package.metadata.vyre]` and the package's `vyre` features (in that
/// order of precedence).
pub(crate) fn resolve_targets(
    targets: Option<Vec<String>>,
    cuda_archs: Option<Vec<String>>,
    settings: PackageSettings,
) -> Result<Targets, Error> {
    let mut warnings = Vec::new();
    if let Some(reason) = &settings.fallback {
        warnings.push(format!(
            "{reason}; assuming the package's own `cuda`/`wgpu` features forward to `vyre/cuda`/`vyre/wgpu` and reading no [package.metadata.vyre]"
        ));
    }
    let registered = registered_launcher_codegens();
    let names: Vec<String> = registered.iter().map(|c| c.target.to_string()).collect();
    let requested = targets.or(settings.targets);
    let mut codegens: Vec<&'static KernelLauncherCodegen> = Vec::new();
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
                codegens.push(cg);
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
                    codegens.push(
                        launcher_codegen(cg.target).map_err(|e| Error::Config(e.to_string()))?,
                    );
                }
            }
            codegens.dedup_by_key(|c| c.target);
        }
    }
    // Every target also needs an emitter.
    let emitters: BTreeSet<&str> = registered_aot_emitters().iter().map(|e| e.target).collect();
    if let Some(missing) = codegens.iter().find(|t| !emitters.contains(t.target)) {
        return Err(Error::UnknownTarget {
            target: missing.target.to_string(),
            registered: emitters.iter().map(|s| (*s).to_string()).collect(),
        });
    }
    let archs = cuda_archs.or(settings.cuda_archs).unwrap_or_default();
    let crate_name = settings.vyre_crate.unwrap_or_else(|| "vyre".to_string());
    Ok(Targets {
        codegens,
        crate_name,
        archs,
        warnings,
    })
}

/// Parse every file (in parallel, keeping file order), reporting the
/// diagnostics of all of them.
pub(crate) fn parse_files(
    files: Vec<KernelFile>,
    sources: &[String],
    debug: bool,
) -> Result<Vec<ParsedFile>, Error> {
    let indices: Vec<usize> = (0..sources.len()).collect();
    let options = vyre::lang::ParseOptions::default().debug(debug);
    let results = run_parallel(&indices, |&i| {
        vyre::lang::parse_with(&files[i].display, &sources[i], &options)
    });
    let mut parsed = Vec::new();
    let mut rendered = String::new();
    let mut first = None;
    let mut count = 0;
    for (file, result) in files.into_iter().zip(results) {
        match result {
            Ok(module) => parsed.push(ParsedFile {
                file,
                programs: module.kernels,
                generics: module.generics.iter().map(GenGeneric::from).collect(),
                grids: module.grids,
                debug: module.debug,
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
    Ok(parsed)
}

/// A program's name without a raw-identifier prefix.
pub(crate) fn plain_name(p: &Program) -> &str {
    p.name.strip_prefix("r#").unwrap_or(&p.name)
}

/// The settings every blob of a build depends on.
#[derive(Clone, Copy)]
pub(crate) struct PlanSettings<'a> {
    /// The targets.
    pub targets: &'a [&'static KernelLauncherCodegen],
    /// Archs of per-arch targets (empty: each kernel's PTX architecture).
    pub archs: &'a [String],
    /// The dispatch config.
    pub config: &'a DispatchConfig,
    /// Fingerprint of the running generator (emitters included).
    pub generator: &'a str,
    /// Stub mode: no blobs.
    pub stub: bool,
}

/// Decide every kernel key and every blob to produce.
///
/// # Errors
///
/// [`Error::Collision`] when two kernels of one module generate the same
/// items.
pub(crate) fn plan(parsed: &[ParsedFile], settings: &PlanSettings<'_>) -> Result<Plan, Error> {
    // Content hash per kernel, and the unique key.
    let mut kernel_keys = Vec::new();
    let mut digests = Vec::new();
    for pf in parsed {
        let module = pf.file.module_path.join("::");
        let mut keys = Vec::new();
        let mut per_file = Vec::new();
        // Every item the module will hold, with what generates it (a
        // description and a number, so that two generators of one name
        // are told apart): two of one name (rustc's E0428) are refused
        // here, naming both.
        let mut items: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut claim = |item: String, owner: &str, id: usize| -> Result<(), Error> {
            match items.get(&item) {
                Some((other, other_id)) if *other_id != id => Err(Error::Collision {
                    message: format!(
                        "{}: {other} and {owner} both generate `{module}::{item}`; rename one",
                        pf.file.display
                    ),
                }),
                _ => {
                    items.insert(item, (owner.to_string(), id));
                    Ok(())
                }
            }
        };
        for (id, p) in pf.programs.iter().enumerate() {
            let name = plain_name(p);
            let upper = name.to_uppercase();
            let owner = format!("kernel `{name}`");
            for item in [
                name.to_string(),
                format!("{upper}_SPEC"),
                format!("{upper}_WORKGROUP_SIZE"),
            ] {
                claim(item, &owner, id)?;
            }
            let digest = cache::kernel_digest(p);
            keys.push(format!("{module}::{name}#{:016x}", digest.short()));
            per_file.push(digest);
        }
        // A generic kernel's entry function, trait and private module.
        for (i, g) in pf.generics.iter().enumerate() {
            let mut generated = generic_item_names(g).to_vec();
            if g.instances.iter().all(|i| pf.grids.contains_key(&i.kernel)) {
                generated.extend(crate::dispatch::dispatch_item_names(g));
            }
            let owner = format!("generic kernel `{}`", g.name);
            for item in generated {
                claim(item, &owner, pf.programs.len() + i)?;
            }
        }
        kernel_keys.push(keys);
        digests.push(per_file);
    }
    let kernels = kernel_keys.iter().map(Vec::len).sum();

    // The blobs to produce.
    let mut jobs = Vec::new();
    if !settings.stub {
        for (fi, pf) in parsed.iter().enumerate() {
            for (ki, p) in pf.programs.iter().enumerate() {
                let name = plain_name(p);
                for &cg in settings.targets {
                    let arch_list: Vec<Option<String>> = match (cg.per_arch, settings.archs) {
                        (true, []) => {
                            // None chosen: the architecture the kernel's PTX
                            // is emitted for (sm_80 for matrix operations),
                            // so that the cubin is named for what it runs on,
                            // and sm_90a beside it for warpgroup matrices
                            // (`wgmma`, which only sm_90a cubins have).
                            let arch =
                                settings.config.target_arch.clone().unwrap_or_else(|| {
                                    vyre::backend::ptx::default_arch(p).to_string()
                                });
                            let wgmma = vyre::backend::ptx::WGMMA_ARCH;
                            let mut archs = vec![Some(arch.clone())];
                            if p.uses_warpgroup_matrices() && arch != wgmma {
                                archs.push(Some(wgmma.to_string()));
                            }
                            archs
                        }
                        (true, archs) => archs.iter().cloned().map(Some).collect(),
                        (false, _) => vec![settings.config.target_arch.clone()],
                    };
                    for arch in arch_list {
                        let ext = cg.extension.trim_start_matches('.');
                        let arch_part = match (&arch, cg.per_arch) {
                            (Some(a), true) => format!(".{a}"),
                            _ => String::new(),
                        };
                        // Module names are identifiers, so `.` separates
                        // the parts unambiguously.
                        let rel_path = blob_file_name(
                            &format!("{}.{name}", pf.file.module_path.join(".")),
                            &format!("{}{arch_part}.{ext}", cg.target),
                        );
                        let input = cache::blob_key(
                            &digests[fi][ki],
                            cg.target,
                            arch.as_deref(),
                            settings.config,
                            settings.generator,
                        );
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
    Ok(Plan {
        kernel_keys,
        kernels,
        jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(module_name("saxpy").unwrap(), "saxpy");
        assert_eq!(module_name("my-kernels").unwrap(), "my_kernels");
        assert!(
            module_name("3d")
                .unwrap_err()
                .contains("not a valid Rust module name")
        );
        assert!(module_name("a.b").is_err());
        assert!(module_name("_").is_err());
        assert!(module_name("type").unwrap_err().contains("keyword"));
        // Reserved from edition 2024 on, which `syn` accepts as a name.
        assert!(module_name("gen").unwrap_err().contains("keyword"));
    }

    #[test]
    fn long_kernel_names_get_short_distinct_blob_names() {
        assert_eq!(blob_file_name("m.k", "ptx.ptx"), "m.k.ptx.ptx");
        let long_a = format!("m.{}", "é".repeat(120));
        let long_b = format!("m.{}x", "é".repeat(120));
        let a = blob_file_name(&long_a, "cubin.sm_90.cubin");
        let b = blob_file_name(&long_b, "cubin.sm_90.cubin");
        assert_ne!(a, b);
        assert!(a.len() <= 200, "{} bytes", a.len());
        assert!(a.ends_with(".cubin.sm_90.cubin") && a.contains('~'), "{a}");
    }
}
