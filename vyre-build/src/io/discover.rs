//! Finding `*.vyre` files: sorted, deterministic, nested folders become
//! nested modules.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::plan::{KernelFile, module_name};

/// Everything discovered.
#[derive(Debug, Default)]
pub(crate) struct Discovered {
    /// Kernel files, sorted by module path.
    pub files: Vec<KernelFile>,
    /// The kernels directory and every directory below it, for
    /// `rerun-if-changed` (so a new file is noticed).
    pub dirs: Vec<PathBuf>,
}

/// Walk `root` (displayed as `root_display`).
pub(crate) fn discover(root: &Path, root_display: &str) -> Result<Discovered, Error> {
    if !root.is_dir() {
        return Err(Error::MissingDir {
            path: root_display.to_string(),
        });
    }
    let mut out = Discovered::default();
    walk(root, root_display.trim_end_matches('/'), &[], &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, display: &str, module: &[String], out: &mut Discovered) -> Result<(), Error> {
    out.dirs.push(dir.to_path_buf());
    let mut entries: Vec<(String, PathBuf, bool)> = Vec::new();
    let read = fs::read_dir(dir).map_err(|e| Error::io("reading directory", dir, e))?;
    for entry in read {
        let entry = entry.map_err(|e| Error::io("reading directory", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // editor swap files, .git, ...
        }
        // Follow symlinks: a linked kernel file or folder is used as is.
        let meta = fs::metadata(&path).map_err(|e| Error::io("reading metadata of", &path, e))?;
        if meta.is_dir() {
            entries.push((name, path, true));
        } else if meta.is_file() && name.ends_with(".vyre") {
            entries.push((name, path, false));
        }
    }
    // Sort by name so the output never depends on the filesystem's order.
    entries.sort();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, path, is_dir) in entries {
        let stem = if is_dir {
            name.as_str()
        } else {
            name.trim_end_matches(".vyre")
        };
        let entry_display = format!("{display}/{name}");
        let module_name = module_name(stem).map_err(|reason| Error::InvalidName {
            path: entry_display.clone(),
            reason,
        })?;
        if let Some((_, other)) = seen.iter().find(|(m, _)| *m == module_name) {
            return Err(Error::Collision {
                message: format!(
                    "`{other}` and `{entry_display}` both become the module `{module_name}`; rename one"
                ),
            });
        }
        seen.push((module_name.clone(), entry_display.clone()));
        let mut sub = module.to_vec();
        sub.push(module_name);
        if is_dir {
            walk(&path, &entry_display, &sub, out)?;
        } else {
            out.files.push(KernelFile {
                path,
                display: entry_display,
                module_path: sub,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vyre-build-discover-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn nested_sorted_and_filtered() {
        let dir = scratch("nested");
        for f in [
            "b.vyre",
            "a-x.vyre",
            "notes.md",
            ".hidden.vyre",
            "nn/relu.vyre",
            "nn/deep/z.vyre",
        ] {
            let p = dir.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "").unwrap();
        }
        let found = discover(&dir, "kernels/").unwrap();
        let displays: Vec<_> = found.files.iter().map(|f| f.display.as_str()).collect();
        assert_eq!(
            displays,
            [
                "kernels/a-x.vyre",
                "kernels/b.vyre",
                "kernels/nn/deep/z.vyre",
                "kernels/nn/relu.vyre"
            ]
        );
        assert_eq!(found.files[0].module_path, ["a_x"]);
        assert_eq!(found.files[2].module_path, ["nn", "deep", "z"]);
        assert_eq!(
            found.dirs,
            [dir.clone(), dir.join("nn"), dir.join("nn/deep")]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_names_and_collisions_are_errors() {
        let dir = scratch("bad");
        fs::write(dir.join("3d.vyre"), "").unwrap();
        let err = discover(&dir, "kernels").unwrap_err().to_string();
        assert!(err.contains("kernels/3d.vyre"), "{err}");
        fs::remove_file(dir.join("3d.vyre")).unwrap();
        fs::write(dir.join("a-b.vyre"), "").unwrap();
        fs::write(dir.join("a_b.vyre"), "").unwrap();
        let err = discover(&dir, "kernels").unwrap_err().to_string();
        assert!(err.contains("both become the module `a_b`"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
        let err = discover(&dir, "kernels").unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
