//! Reading a bundle: the manifest, then every blob, each checked against
//! its SHA-256 before anything reaches a device. A tampered, truncated or
//! foreign bundle is refused with one line naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{LauncherError, Result};
use crate::manifest::{FORMAT_VERSION, MANIFEST_FILE, Manifest};

/// SHA-256 of `bytes`, lowercase hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the launcher binary was built with: the manifest it expects and
/// where its bundle was written.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The target the binary runs (`reference`, `ptx`, `spirv`).
    pub target: &'a str,
    /// SHA-256 of the `manifest.json` the crate was emitted with: a
    /// manifest edited afterwards is refused like a tampered blob.
    pub manifest_sha256: &'a str,
}

/// A verified bundle: the manifest and every blob, in memory.
#[derive(Debug)]
pub struct Bundle {
    /// Its directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    blobs: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    /// Read and verify the bundle in `dir`: the manifest's hash, its
    /// format and target, then each blob's size and SHA-256.
    ///
    /// # Errors
    /// [`LauncherError::Bundle`] naming the file at fault.
    pub fn load(dir: &Path, expected: &Expected<'_>) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path)
            .map_err(|e| LauncherError::bundle(&path, format!("cannot be read: {e}")))?;
        let actual = sha256_hex(&text);
        if actual != expected.manifest_sha256 {
            return Err(LauncherError::bundle(
                &path,
                format!(
                    "does not match the manifest this launcher was built with (SHA-256 {actual}, expected {}); rebuild the launcher crate or restore the bundle",
                    expected.manifest_sha256
                ),
            ));
        }
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| LauncherError::bundle(&path, format!("is not a valid manifest: {e}")))?;
        if manifest.format != FORMAT_VERSION {
            return Err(LauncherError::bundle(
                &path,
                format!(
                    "has format {}, this launcher reads format {FORMAT_VERSION}",
                    manifest.format
                ),
            ));
        }
        if manifest.target != expected.target {
            return Err(LauncherError::bundle(
                &path,
                format!(
                    "holds `{}` blobs, this launcher runs `{}`",
                    manifest.target, expected.target
                ),
            ));
        }
        let mut blobs = BTreeMap::new();
        for blob in manifest.kernels.iter().flat_map(|k| &k.blobs) {
            let file = dir.join(&blob.file);
            if !is_plain_file_name(&blob.file) {
                return Err(LauncherError::bundle(
                    &path,
                    format!("blob name `{}` is not a plain file name", blob.file),
                ));
            }
            let bytes = std::fs::read(&file)
                .map_err(|e| LauncherError::bundle(&file, format!("cannot be read: {e}")))?;
            if bytes.len() as u64 != blob.bytes {
                return Err(LauncherError::bundle(
                    &file,
                    format!(
                        "has {} bytes, the manifest says {} (truncated or replaced)",
                        bytes.len(),
                        blob.bytes
                    ),
                ));
            }
            let sha = sha256_hex(&bytes);
            if sha != blob.sha256 {
                return Err(LauncherError::bundle(
                    &file,
                    format!(
                        "SHA-256 {sha} does not match the manifest's {} (tampered)",
                        blob.sha256
                    ),
                ));
            }
            blobs.insert(blob.file.clone(), bytes);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            blobs,
        })
    }

    /// The bytes of the blob named `file` in the manifest.
    #[must_use]
    pub fn blob(&self, file: &str) -> Option<&[u8]> {
        self.blobs.get(file).map(Vec::as_slice)
    }
}

/// A file name without directories, `..` or anything a path could escape
/// the bundle with.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("k.saxpy.reference.vyrebin"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "c:x", "/etc/passwd"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
