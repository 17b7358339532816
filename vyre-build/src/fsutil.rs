//! Hashing and careful file writing: write only when the bytes change, and
//! atomically (temporary file in the same directory, then rename), so an
//! interrupted build never leaves a truncated output behind and an
//! unchanged output keeps its mtime.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// 64-bit FNV-1a. Stable across platforms and Rust versions (unlike
/// `DefaultHasher`), which keeps kernel keys and the cache deterministic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(mut self, data: &[u8]) -> Self {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Hash a field followed by a separator, so that ("ab","c") and
    /// ("a","bc") differ.
    pub(crate) fn field(self, data: impl AsRef<[u8]>) -> Self {
        let data = data.as_ref();
        self.bytes(&(data.len() as u64).to_le_bytes()).bytes(data)
    }

    pub(crate) const fn finish(self) -> u64 {
        self.0
    }
}

/// Checksum of a blob, stored in the cache manifest so that a truncated or
/// altered blob is never reused.
pub(crate) fn checksum(data: &[u8]) -> u64 {
    Fnv::new().field(data).finish()
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
/// place (atomic on every platform cargo supports).
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
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(Fnv::new().finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv::new().bytes(b"a").finish(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv::new().bytes(b"foobar").finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fields_are_length_prefixed() {
        let a = Fnv::new().field("ab").field("c").finish();
        let b = Fnv::new().field("a").field("bc").finish();
        assert_ne!(a, b);
    }

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
