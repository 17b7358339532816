//! The launcher's one error type: every failure is one line naming what
//! was wrong and where, and a non-zero exit.

use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    /// The bundle is missing, tampered with or inconsistent.
    #[error("bundle {}: {reason}", path.display())]
    Bundle {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The command line asks for something the bundle cannot do.
    #[error("{0}")]
    Usage(String),
    /// An input or output file cannot be read, written or used.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The environment (ranks, rendezvous) is missing or inconsistent.
    #[error("environment: {0}")]
    Environment(String),
    /// The device or a launch failed.
    #[error(transparent)]
    Runtime(#[from] vyre::Error),
}

impl LauncherError {
    /// A [`LauncherError::Bundle`] error.
    pub(crate) fn bundle(path: &Path, reason: impl Into<String>) -> Self {
        Self::Bundle {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A [`LauncherError::File`] error.
    #[cfg(feature = "run")]
    pub(crate) fn file(path: &Path, reason: impl Into<String>) -> Self {
        Self::File {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The exit code: 2 for a command line the launcher cannot use, 1 for
    /// everything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// `Result` with [`LauncherError`].
pub type Result<T, E = LauncherError> = std::result::Result<T, E>;
