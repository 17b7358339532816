//! The `ptx` and `cubin` AOT targets: registration, and `ptxas` for cubins.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::DispatchConfig;
use crate::driver::{
    AotLauncherFiles, AotLauncherRequest, CompileError, CompileResult, KernelLauncherCodegen,
};
use crate::ir::Program;

/// Environment variables consulted to find `ptxas`, in order of priority.
/// The build crate emits `cargo::rerun-if-env-changed` for each.
#[must_use]
pub fn ptxas_env_vars() -> &'static [&'static str] {
    &["VYRE_PTXAS", "CUDA_HOME", "CUDA_PATH", "PATH"]
}

/// Locate `ptxas`: `$VYRE_PTXAS`, then `$CUDA_HOME/bin/ptxas`,
/// `$CUDA_PATH/bin/ptxas`, then `ptxas` on `PATH`.
#[must_use]
pub fn find_ptxas() -> Option<PathBuf> {
    find_ptxas_with(&|var| std::env::var_os(var))
}

/// [`find_ptxas`] over an arbitrary environment lookup (for tests and for
/// build tools that track the variables themselves).
#[must_use]
pub fn find_ptxas_with(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let exe = if cfg!(windows) { "ptxas.exe" } else { "ptxas" };
    if let Some(p) = env("VYRE_PTXAS").filter(|p| !p.is_empty()) {
        // An explicit choice is final: a wrong path is not silently
        // replaced by another ptxas.
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(root) = env(var).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(root).join("bin").join(exe);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let path = env("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(exe))
        .find(|p| p.is_file())
}

/// Emit PTX for the config's architecture and assemble it with
/// `ptxas -arch=<arch> -O3`.
///
/// # Errors
/// The PTX emitter's errors; [`CompileError::ToolUnavailable`] when
/// `ptxas` is not found; [`CompileError::ToolFailed`] with `ptxas`'s
/// diagnostics when it rejects the PTX (an emitter bug).
pub fn emit_cubin(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    emit_cubin_with(program, config, find_ptxas().as_deref())
}

/// [`emit_cubin`] with an explicit `ptxas` (`None`: not available).
///
/// # Errors
/// As [`emit_cubin`].
pub fn emit_cubin_with(
    program: &Program,
    config: &DispatchConfig,
    ptxas: Option<&Path>,
) -> CompileResult<Vec<u8>> {
    let arch = config
        .target_arch
        .clone()
        .unwrap_or_else(|| super::default_arch(program).to_string());
    let ptx = super::emit_ptx(program, config)?;
    let Some(ptxas) = ptxas else {
        return Err(CompileError::ToolUnavailable {
            tool: "ptxas".into(),
            message: format!(
                "ptxas not found (set VYRE_PTXAS, CUDA_HOME or CUDA_PATH, or put it on PATH; `pip install nvidia-cuda-nvcc-cu12` ships one); cubin for {arch} skipped, the PTX is JIT-compiled by the driver instead"
            ),
        });
    };
    assemble(ptxas, &ptx, &arch).map_err(|output| CompileError::ToolFailed {
        kernel: program.name.clone(),
        tool: "ptxas".into(),
        target: "cubin".into(),
        output,
    })
}

/// Run `ptxas` on `ptx` for `arch` in a private temporary directory.
///
/// # Errors
/// I/O failure or `ptxas` rejecting the input (its stderr is returned).
pub fn assemble(ptxas: &Path, ptx: &str, arch: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::Builder::new()
        .prefix("vyre-ptxas-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory for ptxas: {e}"))?;
    let input = dir.path().join("kernel.ptx");
    let output = dir.path().join("kernel.cubin");
    std::fs::write(&input, ptx).map_err(|e| format!("cannot write {}: {e}", input.display()))?;
    let out = Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .arg("-O3")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
    if !out.status.success() {
        return Err(format!(
            "ptxas ({}) rejected the generated PTX for {arch} (a vyre bug; please report it):\n{}{}",
            ptxas.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    std::fs::read(&output).map_err(|e| format!("cannot read {}: {e}", output.display()))
}

fn emit_ptx_bytes(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    super::emit_ptx(program, config).map(String::into_bytes)
}

crate::register_typed_aot_emitter!("ptx", emit_ptx_bytes);
crate::register_typed_aot_emitter!("cubin", emit_cubin);

/// The standalone launcher crate of the CUDA targets (`ptx`, `cubin`):
/// CUDA through cudarc, and with collectives NCCL (both loaded at run time).
fn launcher(request: &AotLauncherRequest<'_>) -> Result<AotLauncherFiles, String> {
    const CUDA: &str = concat!(
        "{ version = \"",
        env!("CARGO_PKG_VERSION"),
        "\", features = [\"cuda\"] }"
    );
    const NCCL: &str = concat!(
        "{ version = \"",
        env!("CARGO_PKG_VERSION"),
        "\", features = [\"cuda\", \"nccl\"] }"
    );
    let dependency = if request.include_collectives {
        NCCL
    } else {
        CUDA
    };
    Ok(crate::driver::standard_launcher_files(
        request, dependency, "Cuda",
    ))
}

crate::register_aot_launcher_emitter!("ptx", launcher);
crate::register_aot_launcher_emitter!("cubin", launcher);

crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "ptx",
    runtime_feature: Some("cuda"),
    extension: "ptx",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});

crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "cubin",
    runtime_feature: Some("cuda"),
    extension: "cubin",
    per_arch: true,
    optional: true,
    artifact_expr: crate::driver::include_bytes_artifact,
});
