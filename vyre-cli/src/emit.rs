//! `vyre emit --target T FILE.vyre [-o DIR] [--arch ARCH]`: every kernel of
//! the file through the registered AOT emitter of `T`, one file per kernel
//! (per architecture, for per-arch targets such as `cubin`), each written
//! to a temporary file and renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use vyre::DispatchConfig;
use vyre::driver::{BackendError, emit_aot_target, launcher_codegen};
use vyre::ir::Program;

use crate::{EXIT_OK, Failure, Outcome, plain_name, registered_targets};

/// The arguments of `emit`.
pub(crate) struct Request {
    /// Target id.
    pub target: String,
    /// The kernel file.
    pub file: PathBuf,
    /// Output folder.
    pub out_dir: PathBuf,
    /// `--arch`.
    pub arch: Option<String>,
}

impl Request {
    /// From the parsed arguments of `emit`.
    pub(crate) fn from_matches(m: &ArgMatches) -> Self {
        Self {
            target: m.get_one::<String>("target").cloned().unwrap_or_default(),
            file: m.get_one::<PathBuf>("file").cloned().unwrap_or_default(),
            out_dir: m
                .get_one::<PathBuf>("out")
                .cloned()
                .unwrap_or_else(|| PathBuf::from(".")),
            arch: m.get_one::<String>("arch").cloned(),
        }
    }
}

/// How the target's blobs are named and whether it is emitted per arch.
struct TargetInfo {
    extension: String,
    per_arch: bool,
}

fn target_info(target: &str) -> TargetInfo {
    match launcher_codegen(target) {
        Ok(cg) => TargetInfo {
            extension: cg.extension.trim_start_matches('.').to_string(),
            per_arch: cg.per_arch,
        },
        // A target without launcher codegen: name its files after it.
        Err(_) => TargetInfo {
            extension: target.to_string(),
            per_arch: false,
        },
    }
}

/// The architectures a per-arch target emits `program` for, as
/// `vyre-build` chooses them: `--arch`, else the kernel's PTX architecture
/// and `sm_90a` beside it for warpgroup matrices.
fn archs_for(program: &Program, arch: Option<&str>) -> Vec<String> {
    if let Some(a) = arch {
        return vec![a.to_string()];
    }
    let default = vyre::backend::ptx::default_arch(program).to_string();
    let wgmma = vyre::backend::ptx::WGMMA_ARCH;
    let mut archs = vec![default.clone()];
    if program.uses_warpgroup_matrices() && default != wgmma {
        archs.push(wgmma.to_string());
    }
    archs
}

/// The message of an emitter failure.
fn failure_message(error: BackendError) -> String {
    match error {
        BackendError::ToolUnavailable { message, .. } => message,
        BackendError::KernelCompileFailed {
            compiler_message, ..
        } => compiler_message,
        other => other.to_string(),
    }
}

/// Write `bytes` to `path` through a temporary file in the same folder,
/// renamed into place, so that a failure leaves no truncated file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut tmp = tempfile::Builder::new()
        .prefix(".vyre-emit-")
        .tempfile_in(dir.unwrap_or_else(|| Path::new(".")))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Run `emit`.
pub(crate) fn run(req: &Request, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let targets = registered_targets();
    if !targets.contains(&req.target.as_str()) {
        return Err(Failure::usage(format!(
            "unknown target `{}`; registered targets: {}",
            req.target,
            targets.join(", ")
        )));
    }
    let module = crate::load(&req.file, err)?;
    let stem = req
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let info = target_info(&req.target);

    // Emit everything first: an emitter failure writes nothing.
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for program in &module.kernels {
        let name = plain_name(program);
        let archs: Vec<Option<String>> = if info.per_arch {
            archs_for(program, req.arch.as_deref())
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![req.arch.clone()]
        };
        for arch in archs {
            let mut config = DispatchConfig::default();
            config.target_arch.clone_from(&arch);
            let bytes = emit_aot_target(&req.target, program, &config).map_err(|e| {
                Failure::errors(format!(
                    "{}: kernel `{name}` for {}{}: {}",
                    crate::display_path(&req.file),
                    req.target,
                    arch.as_deref()
                        .filter(|_| info.per_arch)
                        .map(|a| format!("/{a}"))
                        .unwrap_or_default(),
                    failure_message(e)
                ))
            })?;
            let arch_part = match (&arch, info.per_arch) {
                (Some(a), true) => format!(".{a}"),
                _ => String::new(),
            };
            blobs.push((
                format!("{stem}.{name}{arch_part}.{}", info.extension),
                bytes,
            ));
        }
    }

    std::fs::create_dir_all(&req.out_dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", req.out_dir.display())))?;
    for (file_name, bytes) in &blobs {
        let path = req.out_dir.join(file_name);
        write_atomically(&path, bytes)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(out, "{}", path.display());
    }
    Ok(EXIT_OK)
}
