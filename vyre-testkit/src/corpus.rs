//! The `.vyre` kernel corpus and the external tools the corpus tests use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `.vyre` files of the corpus under the workspace `root`, sorted:
/// `tests/kernels/`, `bench/kernels/` and every `examples/*/kernels/`
/// (not `tests/kernels/open/`, the unfixed regressions).
#[must_use]
pub fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.join("tests/kernels"), root.join("bench/kernels")];
    if let Ok(rd) = std::fs::read_dir(root.join("examples")) {
        dirs.extend(rd.filter_map(Result::ok).map(|e| e.path().join("kernels")));
    }
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.filter_map(Result::ok).map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "vyre"))
        .collect();
    files.sort();
    files
}

/// Whether `VYRE_REQUIRE_VULKAN=1` turns a missing Vulkan device or
/// `spirv-val` into a failure instead of a `skipped:` line.
#[must_use]
pub fn require_vulkan() -> bool {
    std::env::var("VYRE_REQUIRE_VULKAN").is_ok_and(|v| v == "1")
}

/// Write `spirv` to `path` and validate it with `val` (from [`spirv_val`])
/// for `target_env` (`vulkan1.0`, `vulkan1.1`, ...): `Err` holds the
/// validator's output.
///
/// # Errors
///
/// The validator's stdout and stderr when it rejects the module.
///
/// # Panics
///
/// When the file cannot be written or the validator cannot be run (a
/// broken test machine, not a finding).
pub fn validate_spirv(
    val: &Path,
    path: &Path,
    spirv: &[u8],
    target_env: &str,
) -> Result<(), String> {
    std::fs::write(path, spirv).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    let out = Command::new(val)
        .args(["--target-env", target_env])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", val.display()));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `spirv-val` (or the binary `VYRE_SPIRV_VAL` names), when it runs.
#[must_use]
pub fn spirv_val() -> Option<PathBuf> {
    let candidate = std::env::var_os("VYRE_SPIRV_VAL")
        .map_or_else(|| PathBuf::from("spirv-val"), PathBuf::from);
    Command::new(&candidate)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| candidate)
}
