//! The versioned binary encoding of a [`Program`] (the `reference` target's
//! blob). Layout and guarantees: see `to_wire`/`from_wire`.

use super::Program;

/// Why a byte string is not a valid encoded program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with the vyre magic.
    #[error("not a vyre program: bad magic bytes")]
    BadMagic,
    /// Encoded by an incompatible version.
    #[error(
        "wire format version {found} is not supported (this build reads version {supported}); rebuild the kernels with a matching vyre"
    )]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The payload is malformed.
    #[error("malformed program encoding at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Encode a program.
#[must_use]
pub fn to_wire(_program: &Program) -> Vec<u8> {
    todo!("wire encoder")
}

/// Decode a program.
///
/// # Errors
///
/// [`WireError`] on any malformed input; never panics.
pub fn from_wire(_bytes: &[u8]) -> Result<Program, WireError> {
    todo!("wire decoder")
}
