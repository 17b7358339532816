//! The error type of `vyre-build`.

use std::fmt;
use std::path::PathBuf;

/// Why a build failed. `Display` gives the full, user-facing message (for
/// [`Error::Diagnostics`], the rendered rustc-style diagnostics with
/// `file:line:col`, snippet and caret).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// One or more kernel files failed to parse or validate.
    Diagnostics {
        /// The rendered diagnostics of every failing file (rustc style:
        /// message, `file:line:col`, source line, caret).
        rendered: String,
        /// `file:line:col: message` of the first diagnostic.
        first: String,
        /// How many diagnostics there are in all.
        count: usize,
    },
    /// A filesystem operation failed.
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A program given to `Builder::compile_programs` does not validate.
    Invalid {
        /// Kernel name.
        kernel: String,
        /// Every validation error.
        errors: Vec<String>,
    },
    /// A kernel file or folder name cannot become a Rust module name.
    InvalidName {
        /// The offending path, relative to the package when possible.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The kernels directory does not exist or is not a directory.
    MissingDir {
        /// The directory as resolved.
        path: String,
    },
    /// Two kernels or modules would generate the same Rust item.
    Collision {
        /// What collides, in words.
        message: String,
    },
    /// A target named in the configuration has no registered launcher
    /// codegen or emitter.
    UnknownTarget {
        /// The target id.
        target: String,
        /// Targets that are registered.
        registered: Vec<String>,
    },
    /// An emitter rejected a kernel.
    Emit {
        /// Kernel file, relative to the package.
        file: String,
        /// Kernel name.
        kernel: String,
        /// Target id (and arch).
        target: String,
        /// The emitter's message.
        message: String,
    },
    /// A target's launcher codegen produced an invalid artifact expression.
    Codegen {
        /// Target id.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The tuning table (`vyre-tune.toml`) cannot be read, or a record
    /// does not fit the kernels (an instance renamed or removed since it
    /// was measured).
    TuneTable {
        /// Where: `vyre-tune.toml:LINE` or `vyre-tune.toml:LINE:COLUMN`.
        at: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A launcher crate cannot be emitted for the target: none is
    /// registered, or the target cannot honour a flag of the request
    /// ([`vyre::BackendError::UnsupportedFeature`] naming it).
    Launcher {
        /// The target id.
        target: String,
        /// The driver's error.
        source: vyre::BackendError,
    },
    /// The build configuration is incomplete or inconsistent (for example
    /// `OUT_DIR` unset outside a build script, or a malformed
    /// `[package.metadata.vyre]`).
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Diagnostics { rendered, .. } => f.write_str(rendered.trim_end()),
            Self::Io {
                action,
                path,
                source,
            } => write!(
                f,
                "vyre-build: {action} `{}` failed: {source}",
                path.display()
            ),
            Self::Invalid { kernel, errors } => write!(
                f,
                "vyre-build: kernel `{kernel}` is invalid: {}",
                errors.join("; ")
            ),
            Self::InvalidName { path, reason } => write!(f, "vyre-build: {path}: {reason}"),
            Self::MissingDir { path } => write!(
                f,
                "vyre-build: kernels directory `{path}` does not exist or is not a directory (paths are relative to the package root)"
            ),
            Self::Collision { message } => write!(f, "vyre-build: {message}"),
            Self::UnknownTarget { target, registered } => write!(
                f,
                "vyre-build: unknown target `{target}`; registered targets: {} (a third-party target's crate must be linked into build.rs, e.g. `use my_target as _;`)",
                registered.join(", ")
            ),
            Self::Emit {
                file,
                kernel,
                target,
                message,
            } => write!(
                f,
                "vyre-build: {file}: kernel `{kernel}` could not be compiled for `{target}`: {message}"
            ),
            Self::Codegen { target, message } => write!(
                f,
                "vyre-build: the launcher codegen of target `{target}` produced invalid code: {message}"
            ),
            Self::TuneTable { at, message } => write!(f, "vyre-build: {at}: {message}"),
            Self::Launcher { target, source } => {
                write!(f, "vyre-build: launcher crate for `{target}`: {source}")
            }
            Self::Config(message) => write!(f, "vyre-build: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Launcher { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// The first line of the message, for `cargo::error=` (which takes one
    /// line).
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Self::Diagnostics { first, count, .. } if *count > 1 => {
                format!("{first} (and {} more error(s))", count - 1)
            }
            Self::Diagnostics { first, .. } => first.clone(),
            other => other
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
