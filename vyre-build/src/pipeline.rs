//! The steps of a build, in order: gather the inputs (`io`), decide what to
//! build (`plan`), emit what the cache cannot supply (`emit`), generate the
//! module (`codegen`) and write the outputs (`io`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use vyre::driver::ArtifactFile;

use crate::cache::{BuildInputs, CacheEntry, CacheManifest};
use crate::codegen::{self, GenFile, GenKernel};
use crate::dispatch::Table;
use crate::emit::{self, Emitted};
use crate::hash::Digest;
use crate::io::{self, Cargo, ModuleDir};
use crate::plan::{self, KernelFile, ParsedFile, Plan, PlanSettings, Targets};
use crate::{Builder, Error, Output, ProgramModule};
use vyre::runtime::tune::TuneTable;

/// The module proper, in `OUT_DIR/<module stem>/`.
const INNER_MODULE: &str = "kernels.rs";

/// `path` relative to `base`, `/`-separated, when it lies under it.
fn relative_display(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// The targets of `builder`, reading the package's settings.
fn targets(builder: &Builder, manifest_dir: &Path) -> Result<Targets, Error> {
    let settings = io::package_settings(manifest_dir, builder.read_metadata)?;
    plan::resolve_targets(
        builder.targets.clone(),
        builder.cuda_archs.clone(),
        settings,
    )
}

/// [`Builder::compile`].
pub(crate) fn compile_dir(builder: &Builder, dir: &Path) -> Result<Output, Error> {
    let cargo = Cargo {
        on: builder.emit_rerun_lines,
    };
    let manifest_dir = io::manifest_dir(builder.manifest_dir.as_deref())?;
    let dir_abs = manifest_dir.join(dir);
    let dir_display = relative_display(&dir_abs, &manifest_dir)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| dir.display().to_string().replace('\\', "/"));

    let mut out = Output::default();
    let discovered = io::discover::discover(&dir_abs, &dir_display)?;
    let out_dir = io::out_dir(builder.out_dir.as_deref())?;

    // Track inputs first, so that a failing build is rerun once the
    // kernel is fixed.
    let inputs = discovered
        .dirs
        .iter()
        .cloned()
        .chain(discovered.files.iter().map(|f| f.path.clone()))
        .collect();
    // The tuning table sits in the kernels directory, which is tracked:
    // creating it reruns the build (cargo cannot watch a missing file).
    let table_path = dir_abs.join(crate::TUNE_TABLE);
    let table_display = format!("{dir_display}/{}", crate::TUNE_TABLE);
    let table_text = match std::fs::read_to_string(&table_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", &table_path, e)),
    };
    let mut inputs: Vec<PathBuf> = inputs;
    if table_text.is_some() {
        inputs.push(table_path.clone());
    }
    // `[package.metadata.vyre]` chooses targets and architectures.
    let manifest = manifest_dir.join("Cargo.toml");
    if builder.read_metadata && manifest.is_file() {
        inputs.push(manifest);
    }
    out.tracked = io::trackable(inputs, &out_dir);
    out.tracked_env = vec![io::ENV_STUB.to_string(), io::ENV_DOCS_RS.to_string()];
    if builder.debug.is_none() {
        out.tracked_env.push(io::ENV_DEBUG.to_string());
    }
    let debug = builder.debug.unwrap_or_else(io::debug_from_env);
    cargo.rerun_if_changed(&out.tracked);

    let stub = builder.stub.unwrap_or_else(io::stub_from_env);
    out.stub = stub;

    let targets = targets(builder, &manifest_dir)?;
    out.warnings.extend(targets.warnings.iter().cloned());
    if !stub && targets.codegens.iter().any(|t| t.target == "cubin") {
        out.tracked_env.extend(io::ptxas_env().map(str::to_string));
    }
    cargo.rerun_if_env_changed(&out.tracked_env);
    out.targets = targets
        .codegens
        .iter()
        .map(|t| t.target.to_string())
        .collect();

    let sources = io::read_sources(&discovered.files)?;
    let generator = io::generator_fingerprint();
    let env = io::env_values(&out.tracked_env);
    let key = BuildInputs {
        generator: &generator,
        config: &builder.dispatch_config,
        abi_version: builder.abi_version,
        module_name: &builder.module_name,
        crate_name: &targets.crate_name,
        stub,
        debug,
        targets: &targets.codegens,
        archs: &targets.archs,
        env: &env,
        files: &discovered.files,
        sources: &sources,
        tune_table: table_text.as_deref(),
    }
    .key();
    if let Some(done) = up_to_date(&out_dir, &builder.module_name, key, &out) {
        cargo.warnings(&done.warnings);
        return Ok(done);
    }
    let parsed = plan::parse_files(discovered.files, &sources, debug)?;
    let table = match &table_text {
        Some(text) => TuneTable::parse(&table_display, text).map_err(|e| Error::TuneTable {
            at: format!("{}:{}:{}", e.file, e.line, e.column),
            message: e.message,
        })?,
        None => TuneTable::default(),
    };
    let table = Table {
        display: &table_display,
        records: &table.records,
    };
    finish(builder, parsed, &targets, &out_dir, out, Some(key), table)
}

/// [`Builder::compile_programs`].
pub(crate) fn compile_programs(
    builder: &Builder,
    modules: Vec<ProgramModule>,
) -> Result<Output, Error> {
    let out_dir = io::out_dir(builder.out_dir.as_deref())?;
    let manifest_dir = io::manifest_dir_or(builder.manifest_dir.as_deref(), &out_dir);
    let parsed = program_files(modules)?;
    let targets = targets(builder, &manifest_dir)?;
    let out = Output {
        stub: builder.stub.unwrap_or_else(io::stub_from_env),
        targets: targets
            .codegens
            .iter()
            .map(|t| t.target.to_string())
            .collect(),
        warnings: targets.warnings.clone(),
        ..Output::default()
    };
    let table = Table {
        display: crate::TUNE_TABLE,
        records: &[],
    };
    finish(builder, parsed, &targets, &out_dir, out, None, table)
}

/// Check and sort the modules of [`Builder::compile_programs`].
fn program_files(modules: Vec<ProgramModule>) -> Result<Vec<ParsedFile>, Error> {
    let mut parsed = Vec::new();
    let mut names = BTreeSet::new();
    for m in modules {
        if m.module_path.is_empty() {
            return Err(Error::Config(
                "a ProgramModule needs a module path".to_string(),
            ));
        }
        for part in &m.module_path {
            plan::module_name(part).map_err(|reason| Error::InvalidName {
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
            generics: Vec::new(),
            grids: std::collections::BTreeMap::new(),
            debug: std::collections::BTreeMap::new(),
        });
    }
    // Module paths must be sorted (and a module cannot also be a folder of
    // others) for the nested-module generation.
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
    Ok(parsed)
}

/// The module directory of `module_name` (`OUT_DIR/<stem>/`). The module
/// proper and its blobs live there, with flat file names: target codegens
/// may require a plain file name next to the module (the naga targets do).
/// `OUT_DIR/<stem>.rs` only includes it. One directory per module name also
/// keeps two builds into one `OUT_DIR` (two kernel dirs) apart.
fn module_dir(out_dir: &Path, module_name: &str) -> ModuleDir {
    ModuleDir {
        path: out_dir.join(module_name.trim_end_matches(".rs")),
    }
}

/// The previous build's output, when `key` matches its record and every
/// output file it lists is intact.
fn up_to_date(out_dir: &Path, module_name: &str, key: Digest, base: &Output) -> Option<Output> {
    let record = module_dir(out_dir, module_name).read_record()?;
    if record.key != key {
        return None;
    }
    let mut generated = Vec::new();
    for f in &record.files {
        let path = out_dir.join(&f.rel_path);
        if !io::file_matches(&path, &f.entry) {
            return None;
        }
        generated.push(path);
    }
    Some(Output {
        module: out_dir.join(module_name),
        kernels: record.kernels,
        up_to_date: true,
        // The record holds every warning of that build.
        warnings: record.warnings,
        generated,
        ..base.clone()
    })
}

/// Plan, emit the blobs (through the cache), generate and write the module.
fn finish(
    builder: &Builder,
    parsed: Vec<ParsedFile>,
    targets: &Targets,
    out_dir: &Path,
    mut out: Output,
    build_key: Option<Digest>,
    table: Table<'_>,
) -> Result<Output, Error> {
    plan::check_module_file_name(&builder.module_name)?;
    let gen_dir = module_dir(out_dir, &builder.module_name);
    let old_cache = if out.stub {
        CacheManifest::new()
    } else {
        gen_dir.read_cache()
    };
    let generator = io::generator_fingerprint();
    let plan = plan::plan(
        &parsed,
        &PlanSettings {
            targets: &targets.codegens,
            archs: &targets.archs,
            config: &builder.dispatch_config,
            generator: &generator,
            stub: out.stub,
        },
    )?;
    out.kernels = plan.kernels;
    let (new_cache, present) = emit_blobs(builder, &parsed, &plan, &gen_dir, &old_cache, &mut out)?;

    // Generate the module.
    let gen_files = gen_files(builder, &parsed, &plan, &present)?;
    for (job, _) in plan.jobs.iter().zip(&present).filter(|(_, p)| **p) {
        out.generated.push(gen_dir.path.join(&job.rel_path));
    }
    let text = codegen::generate(&gen_files, &targets.crate_name, builder.abi_version, table)?;
    let stem = builder.module_name.trim_end_matches(".rs");
    let outer = codegen::outer_file(&format!("{stem}/{INNER_MODULE}"))?;

    // Write it, then the caches.
    let inner = gen_dir.path.join(INNER_MODULE);
    if io::write_if_changed(&inner, text.as_bytes())? {
        out.rewritten.push(inner.clone());
    }
    let module = out_dir.join(&builder.module_name);
    if io::write_if_changed(&module, outer.as_bytes())? {
        out.rewritten.push(module.clone());
    }
    out.generated.insert(0, inner);
    out.generated.insert(0, module.clone());
    out.module = module;
    if !out.stub {
        // Drop blobs of kernels that no longer exist.
        gen_dir.remove_blobs(old_cache.keys().filter(|k| !new_cache.contains_key(*k)));
        gen_dir.write_cache(&new_cache)?;
    }
    match build_key {
        Some(key) => {
            gen_dir.write_record(key, out.kernels, out_dir, &out.generated, &out.warnings)?;
        }
        None => gen_dir.remove_record(),
    }
    Cargo {
        on: builder.emit_rerun_lines,
    }
    .warnings(&out.warnings);
    Ok(out)
}

/// Produce every planned blob: reuse what the cache supplies, emit the rest
/// in parallel and write each new blob (recording it in `out`). Returns the
/// new cache manifest and, per job, whether its blob is present (an
/// optional target whose tool is missing is skipped with a warning).
fn emit_blobs(
    builder: &Builder,
    parsed: &[ParsedFile],
    plan: &Plan,
    gen_dir: &ModuleDir,
    old_cache: &CacheManifest,
    out: &mut Output,
) -> Result<(CacheManifest, Vec<bool>), Error> {
    let jobs = &plan.jobs;
    let cached: Vec<bool> = jobs
        .iter()
        .map(|job| {
            old_cache
                .get(&job.rel_path)
                .is_some_and(|e| e.input == job.input && gen_dir.blob_intact(&job.rel_path, e))
        })
        .collect();
    let pending: Vec<usize> = (0..jobs.len()).filter(|&j| !cached[j]).collect();
    let results = emit::emit_jobs(parsed, jobs, &pending, &builder.dispatch_config);

    let mut new_cache = CacheManifest::new();
    let mut skipped_targets: BTreeMap<&str, String> = BTreeMap::new();
    let mut present = vec![true; jobs.len()];
    for (&j, result) in pending.iter().zip(results) {
        let job = &jobs[j];
        let (bytes, lacks) = match emit::classify(parsed, job, result)? {
            Emitted::Blob(bytes) => (bytes, None),
            Emitted::Lacks(bytes, warning) => (bytes, Some(warning)),
            Emitted::Unavailable(note) => {
                present[j] = false;
                skipped_targets.entry(job.target.target).or_insert(note);
                continue;
            }
        };
        out.warnings.extend(lacks);
        let path = gen_dir.path.join(&job.rel_path);
        if io::write_if_changed(&path, &bytes)? {
            out.rewritten.push(path);
        }
        let pf = &parsed[job.file];
        out.emitted.push(format!(
            "{}::{} ({})",
            pf.file.module_path.join("::"),
            pf.programs[job.kernel].name,
            job.target_label()
        ));
        new_cache.insert(job.rel_path.clone(), CacheEntry::new(job.input, &bytes));
    }
    for (job, _) in jobs.iter().zip(&cached).filter(|(_, c)| **c) {
        if let Some(e) = old_cache.get(&job.rel_path) {
            new_cache.insert(job.rel_path.clone(), e.clone());
        }
        // A kernel its target cannot express warns on every build, cached
        // or not.
        if let Some(reason) =
            emit::placeholder_reason(&gen_dir.path.join(&job.rel_path), job.target.target)
        {
            out.warnings.push(emit::lacks_warning(parsed, job, &reason));
        }
    }
    for (target, note) in skipped_targets {
        out.warnings
            .push(format!("target `{target}` skipped: {note}"));
    }
    Ok((new_cache, present))
}

/// The launcher description of every kernel: its key, workgroup size and
/// the artifacts of its blobs that are present.
fn gen_files<'a>(
    builder: &Builder,
    parsed: &'a [ParsedFile],
    plan: &Plan,
    present: &[bool],
) -> Result<Vec<GenFile<'a>>, Error> {
    let mut files = Vec::new();
    let mut job_iter = plan.jobs.iter().enumerate().peekable();
    for (fi, pf) in parsed.iter().enumerate() {
        let mut kernels = Vec::new();
        for (ki, p) in pf.programs.iter().enumerate() {
            let mut artifacts = Vec::new();
            while let Some(&(j, job)) = job_iter.peek() {
                if job.file != fi || job.kernel != ki {
                    break;
                }
                if present[j] {
                    let file = ArtifactFile {
                        target: job.target.target,
                        arch: job.artifact_arch(),
                        file_name: &job.rel_path,
                    };
                    artifacts.push(codegen::artifact_expr(job.target, &file)?);
                }
                job_iter.next();
            }
            kernels.push(GenKernel {
                program: p,
                workgroup_size: builder.dispatch_config.effective_workgroup_size(p),
                key: plan.kernel_keys[fi][ki].clone(),
                artifacts,
                grid: pf.grids.get(plan::plain_name(p)),
                debug: pf.debug.get(&p.name).map_or(&[], Vec::as_slice),
            });
        }
        files.push(GenFile {
            display: pf.file.display.clone(),
            module_path: pf.file.module_path.clone(),
            kernels,
            generics: &pf.generics,
        });
    }
    Ok(files)
}
