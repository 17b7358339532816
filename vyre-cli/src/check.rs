//! `vyre check [PATH...]`: the diagnostics of every `.vyre` file, rendered
//! as `vyre-build` shows them, and a one-line summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Outcome, display_path};

/// Folders never searched when found inside a given folder (they are still
/// searched when named): build output and hidden folders such as `.git`.
fn skipped_folder(name: &str) -> bool {
    name == "target" || name.starts_with('.')
}

/// Every `.vyre` file under `dir`, recursively, into `files`.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("cannot read folder {}: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => problems.push(format!("cannot read folder {}: {e}", dir.display())),
        }
    }
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.is_dir() {
            if !name.as_deref().is_some_and(skipped_folder) {
                walk(&path, files, problems);
            }
        } else if path.extension().is_some_and(|e| e == "vyre") {
            files.push(path);
        }
    }
}

/// The files to check: each path that is a file, and the `.vyre` files
/// under each folder, sorted per folder; missing paths as problems.
fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let default;
    let paths = if paths.is_empty() {
        let kernels = PathBuf::from("kernels");
        default = [if kernels.is_dir() {
            kernels
        } else {
            PathBuf::from(".")
        }];
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            let start = files.len();
            walk(path, &mut files, &mut problems);
            // `./k.vyre` reads better as `k.vyre`.
            if path.as_os_str() == "." {
                for f in &mut files[start..] {
                    if let Ok(rel) = f.strip_prefix(".") {
                        *f = rel.to_path_buf();
                    }
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            problems.push(format!("no such file or folder: {}", path.display()));
        }
    }
    (files, problems)
}

/// Run `check` on `paths`.
pub(crate) fn run(paths: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let (files, mut problems) = collect(paths);
    let mut kernels = 0;
    let mut errors = 0;
    let mut checked = 0;
    for file in &files {
        let source = match crate::read_source(file) {
            Ok(s) => s,
            Err(f) => {
                problems.push(f.message);
                continue;
            }
        };
        checked += 1;
        match vyre::lang::parse(&display_path(file), &source) {
            Ok(module) => kernels += module.kernels.len(),
            Err(diags) => {
                errors += diags.diagnostics.len().max(1);
                let _ = err.write_all(diags.render().as_bytes());
            }
        }
    }
    for p in &problems {
        let _ = writeln!(err, "error: {p}");
    }
    let _ = writeln!(
        out,
        "checked {checked} files, {kernels} kernels: {errors} errors"
    );
    Ok(if !problems.is_empty() {
        EXIT_USAGE
    } else if errors > 0 {
        EXIT_ERRORS
    } else {
        EXIT_OK
    })
}
