//! SHA-256 over length-prefixed fields: the hash behind kernel keys, cache
//! keys and blob checksums. Stable across platforms, Rust and `vyre-build`
//! versions (unlike `DefaultHasher`), which keeps every output
//! deterministic.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Digest([u8; 32]);

impl Digest {
    /// The first 64 bits, for short keys such as `KernelSpec::key`.
    pub(crate) fn short(&self) -> u64 {
        let mut head = [0; 8];
        head.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(head)
    }

    /// Parse the 64 lowercase hex digits [`Digest`]'s `Display` writes.
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A SHA-256 of a sequence of fields; each field is length-prefixed so
/// that `("ab", "c")` and `("a", "bc")` differ.
#[derive(Debug, Clone)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    /// A hasher whose first field is `domain` (a name and version of what
    /// is hashed, so keys of different kinds never coincide).
    pub(crate) fn new(domain: &str) -> Self {
        Self(Sha256::new()).field(domain)
    }

    /// Hash one field.
    pub(crate) fn field(mut self, data: impl AsRef<[u8]>) -> Self {
        let data = data.as_ref();
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }

    /// Hash an optional field (`None` and `Some("")` differ).
    pub(crate) fn opt_field(self, data: Option<impl AsRef<[u8]>>) -> Self {
        match data {
            Some(d) => self.field([1]).field(d),
            None => self.field([0]),
        }
    }

    /// The digest.
    pub(crate) fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

/// Plain SHA-256 of `data` (blob checksums, so that a truncated or altered
/// blob is never reused).
pub(crate) fn checksum(data: &[u8]) -> Digest {
    Digest(Sha256::digest(data).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_reference_vectors() {
        // FIPS 180-2 examples.
        assert_eq!(
            checksum(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            checksum(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(checksum(b"abc").short(), 0xba78_16bf_8f01_cfea);
    }

    #[test]
    fn fields_are_length_prefixed() {
        let a = Hasher::new("t").field("ab").field("c").finish();
        let b = Hasher::new("t").field("a").field("bc").finish();
        assert_ne!(a, b);
        let none = Hasher::new("t").opt_field(None::<&str>).finish();
        let empty = Hasher::new("t").opt_field(Some("")).finish();
        assert_ne!(none, empty);
        assert_ne!(Hasher::new("t").finish(), Hasher::new("u").finish());
    }

    #[test]
    fn hex_round_trips() {
        let d = checksum(b"vyre");
        assert_eq!(Digest::from_hex(&d.to_string()), Some(d));
        assert_eq!(Digest::from_hex("00"), None);
        assert_eq!(Digest::from_hex(&"zz".repeat(32)), None);
    }
}
