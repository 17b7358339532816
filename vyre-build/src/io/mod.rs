//! Everything `vyre-build` does outside the process's memory, in one place
//! (in the manner of prost-build's `write_file_if_changed`): finding and
//! reading kernel files, reading the package's settings and the
//! environment, reading and writing the caches, writing outputs only when
//! their bytes change (atomically, so an interrupted build never leaves a
//! truncated file and an unchanged output keeps its mtime), deleting stale
//! blobs, and printing every `cargo::` line.

pub(crate) mod discover;
pub(crate) mod settings;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::cache::{self, BuildRecord, CacheEntry, CacheManifest, RecordedFile};
use crate::hash::Digest;
use crate::plan::{KernelFile, PackageSettings};

/// Environment variables `vyre-build` reads (tracked with
/// `cargo::rerun-if-env-changed`).
pub(crate) const ENV_STUB: &str = "VYRE_BUILD_STUB";
/// `VYRE_DEBUG=1`: compile `debug_print!`/`debug_assert!` in (unless
/// [`crate::Builder::debug`] decides).
pub(crate) const ENV_DEBUG: &str = "VYRE_DEBUG";
/// Set by docs.rs: build in stub mode.
pub(crate) const ENV_DOCS_RS: &str = "DOCS_RS";

/// Environment variables the `cubin` emitter reads to find `ptxas`,
/// except `PATH`: tracking it would rerun every build script whenever a
/// shell changes `PATH` (set `VYRE_PTXAS` to pin a `ptxas`).
pub(crate) fn ptxas_env() -> impl Iterator<Item = &'static str> {
    vyre::backend::ptx::ptxas_env_vars()
        .iter()
        .copied()
        .filter(|v| *v != "PATH")
}

fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Stub mode as the environment asks: `VYRE_BUILD_STUB` set (and not `0`)
/// or `DOCS_RS` present.
pub(crate) fn debug_from_env() -> bool {
    env_is_set(ENV_DEBUG)
}

pub(crate) fn stub_from_env() -> bool {
    env_is_set(ENV_STUB) || std::env::var_os(ENV_DOCS_RS).is_some()
}

/// Each variable with its value (empty when unset).
pub(crate) fn env_values(vars: &[String]) -> Vec<(String, Vec<u8>)> {
    vars.iter()
        .map(|v| {
            let value = std::env::var_os(v).unwrap_or_default();
            (v.clone(), value.as_encoded_bytes().to_vec())
        })
        .collect()
}

/// The package root: `dir`, else `CARGO_MANIFEST_DIR`, else the current
/// directory.
pub(crate) fn manifest_dir(dir: Option<&Path>) -> Result<PathBuf, Error> {
    dir.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from))
        .map_or_else(std::env::current_dir, Ok)
        .map_err(|e| Error::io("finding the current directory", ".", e))
}

/// The package root for [`Builder::compile_programs`](crate::Builder):
/// `dir`, else `CARGO_MANIFEST_DIR`, else `out_dir`.
pub(crate) fn manifest_dir_or(dir: Option<&Path>, out_dir: &Path) -> PathBuf {
    match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| out_dir.to_path_buf(), PathBuf::from),
    }
}

/// The output directory: `dir`, else `OUT_DIR`.
pub(crate) fn out_dir(dir: Option<&Path>) -> Result<PathBuf, Error> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
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

/// The package's settings, read with `cargo metadata` when `read_metadata`
/// is on and the package has a `Cargo.toml`.
pub(crate) fn package_settings(
    manifest_dir: &Path,
    read_metadata: bool,
) -> Result<PackageSettings, Error> {
    let manifest = manifest_dir.join("Cargo.toml");
    if read_metadata && manifest.is_file() {
        settings::read(&manifest)
    } else {
        Ok(PackageSettings::default())
    }
}

/// The inputs to track: `paths` that exist and do not lie under `out_dir`.
pub(crate) fn trackable(paths: Vec<PathBuf>, out_dir: &Path) -> Vec<PathBuf> {
    let mut paths = paths;
    paths.retain(|p| !p.starts_with(out_dir) && p.exists());
    paths
}

/// The source of every kernel file.
pub(crate) fn read_sources(files: &[KernelFile]) -> Result<Vec<String>, Error> {
    files
        .iter()
        .map(|file| {
            fs::read_to_string(&file.path)
                .map_err(|e| Error::io("reading kernel file", &file.path, e))
        })
        .collect()
}

/// A fingerprint of the running build script: the caches must not reuse
/// blobs from another emitter (for example after a `vyre` upgrade, which
/// rebuilds the build script but keeps `OUT_DIR`).
pub(crate) fn generator_fingerprint() -> String {
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

/// The `cargo::` lines of a build, printed only when `on` (in a build
/// script).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cargo {
    /// Whether to print.
    pub on: bool,
}

impl Cargo {
    /// `cargo::rerun-if-changed` for each path.
    pub(crate) fn rerun_if_changed(self, paths: &[PathBuf]) {
        if self.on {
            for p in paths {
                println!("cargo::rerun-if-changed={}", p.display());
            }
        }
    }

    /// `cargo::rerun-if-env-changed` for each variable.
    pub(crate) fn rerun_if_env_changed(self, vars: &[String]) {
        if self.on {
            for var in vars {
                println!("cargo::rerun-if-env-changed={var}");
            }
        }
    }

    /// `cargo::warning` for each note (one line each).
    pub(crate) fn warnings(self, notes: &[String]) {
        if self.on {
            for w in notes {
                println!("cargo::warning={}", w.replace('\n', " "));
            }
        }
    }
}

/// Report a failed build the way a build script should: the full message
/// (rendered diagnostics) on stderr, one `cargo::error=` line on stdout.
pub(crate) fn report_error(error: &Error) {
    eprintln!("{error}");
    println!("cargo::error={}", error.summary());
}

/// Whether the file at `path` holds the bytes `entry` describes.
pub(crate) fn file_matches(path: &Path, entry: &CacheEntry) -> bool {
    fs::read(path).is_ok_and(|bytes| entry.describes(&bytes))
}

/// The directory of one generated module, `OUT_DIR/<stem>/`: the module
/// proper, its blobs, the cache manifest and the build record.
#[derive(Debug, Clone)]
pub(crate) struct ModuleDir {
    /// The directory.
    pub path: PathBuf,
}

/// File name of the cache manifest in a module directory.
const CACHE_FILE: &str = "cache";
/// File name of the build record in a module directory.
const RECORD_FILE: &str = "build";

impl ModuleDir {
    /// The cache manifest; empty when missing or unreadable.
    pub(crate) fn read_cache(&self) -> CacheManifest {
        fs::read_to_string(self.path.join(CACHE_FILE))
            .map(|text| cache::parse_manifest(&text))
            .unwrap_or_default()
    }

    /// Write the cache manifest (if changed).
    pub(crate) fn write_cache(&self, entries: &CacheManifest) -> Result<(), Error> {
        let text = cache::manifest_text(entries);
        write_if_changed(&self.path.join(CACHE_FILE), text.as_bytes()).map(|_| ())
    }

    /// Whether the blob `rel_path` is the one `entry` describes.
    pub(crate) fn blob_intact(&self, rel_path: &str, entry: &CacheEntry) -> bool {
        file_matches(&self.path.join(rel_path), entry)
    }

    /// Delete the blobs `rel_paths` (missing ones are fine).
    pub(crate) fn remove_blobs<'a>(&self, rel_paths: impl IntoIterator<Item = &'a String>) {
        for rel in rel_paths {
            let _ = fs::remove_file(self.path.join(rel));
        }
    }

    /// The last build's record, if there is a readable one.
    pub(crate) fn read_record(&self) -> Option<BuildRecord> {
        let text = fs::read_to_string(self.path.join(RECORD_FILE)).ok()?;
        BuildRecord::parse(&text)
    }

    /// Record a build: its key, kernel count, every output (read back for
    /// its checksum; paths relative to `out_dir`) and its warnings.
    pub(crate) fn write_record(
        &self,
        key: Digest,
        kernels: usize,
        out_dir: &Path,
        generated: &[PathBuf],
        warnings: &[String],
    ) -> Result<(), Error> {
        let mut files = Vec::new();
        for file in generated {
            let bytes = fs::read(file).map_err(|e| Error::io("reading", file, e))?;
            let rel = file.strip_prefix(out_dir).unwrap_or(file);
            files.push(RecordedFile {
                rel_path: rel.display().to_string(),
                entry: CacheEntry::new(key, &bytes),
            });
        }
        let record = BuildRecord {
            key,
            kernels,
            files,
            warnings: warnings.to_vec(),
        };
        write_if_changed(&self.path.join(RECORD_FILE), record.text().as_bytes()).map(|_| ())
    }

    /// Delete the build record (a build that has no fast path).
    pub(crate) fn remove_record(&self) {
        let _ = fs::remove_file(self.path.join(RECORD_FILE));
    }
}

/// Write `bytes` to `path` unless it already holds exactly them. Returns
/// whether the file was (re)written.
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, Error> {
    if let Ok(existing) = fs::read(path)
        && existing == bytes
    {
        return Ok(false);
    }
    write_atomic(path, bytes)?;
    Ok(true)
}

/// Write through a temporary file in the same directory and rename it into
/// place (atomic on every platform cargo supports), creating the directory
/// first.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("writing", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_if_changed_keeps_identical_files() {
        let dir = std::env::temp_dir().join(format!("vyre-build-fsutil-{}", std::process::id()));
        let path = dir.join("x/y.bin");
        assert!(write_if_changed(&path, b"one").unwrap());
        assert!(!write_if_changed(&path, b"one").unwrap());
        assert!(write_if_changed(&path, b"two").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("y.bin")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
