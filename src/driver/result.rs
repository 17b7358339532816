//! Errors of lowering and emission: one enum for every target, so that
//! callers decide on variants, never on message text. They become the
//! seed's `Result<Vec<u8>, String>` only at the
//! [`AotEmitter`](crate::driver::AotEmitter) boundary, and a
//! [`BackendError`](crate::BackendError) in [`crate::driver::emit_aot_target`]
//! (model: cranelift's `result.rs`).

/// Why a kernel could not be emitted for a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The kernel does not validate; each entry is one validation error.
    #[error("kernel `{kernel}` is invalid:\n  {}", errors.join("\n  "))]
    InvalidKernel {
        /// Kernel name.
        kernel: String,
        /// The validator's messages.
        errors: Vec<String>,
    },
    /// The kernel uses a construct the target cannot express.
    #[error("kernel `{kernel}`: {construct} (target `{target}`)")]
    Unsupported {
        /// Kernel name.
        kernel: String,
        /// What is not supported, as a sentence fragment.
        construct: String,
        /// Target id.
        target: String,
    },
    /// An external tool the target needs is not installed. Its text starts
    /// with [`UNAVAILABLE_PREFIX`](super::UNAVAILABLE_PREFIX), the
    /// seed's string protocol for "skip this optional target".
    #[error("unavailable: {message}")]
    ToolUnavailable {
        /// The tool, e.g. `ptxas`.
        tool: String,
        /// What is missing, how to provide it and what happens instead.
        message: String,
    },
    /// An external tool or library writer ran and failed.
    #[error("kernel `{kernel}`: {tool} failed (target `{target}`): {output}")]
    ToolFailed {
        /// Kernel name.
        kernel: String,
        /// The tool, e.g. `ptxas` or `naga's MSL writer`.
        tool: String,
        /// Target id.
        target: String,
        /// What it said.
        output: String,
    },
    /// A broken invariant of the compiler itself: a vyre bug.
    #[error("kernel `{kernel}`: internal error (target `{target}`): {what}")]
    Internal {
        /// Kernel name.
        kernel: String,
        /// Target id.
        target: String,
        /// The invariant that failed.
        what: String,
    },
}

impl CompileError {
    /// The same error reported for `target` (lowerings shared by several
    /// targets report a provisional target name).
    #[must_use]
    pub fn for_target(mut self, target: &str) -> Self {
        match &mut self {
            Self::Unsupported { target: t, .. }
            | Self::ToolFailed { target: t, .. }
            | Self::Internal { target: t, .. } => *t = target.to_string(),
            Self::InvalidKernel { .. } | Self::ToolUnavailable { .. } => {}
        }
        self
    }

    /// Whether this is [`CompileError::ToolUnavailable`]: the target
    /// cannot be produced on this machine, the program itself is fine.
    #[must_use]
    pub fn is_tool_unavailable(&self) -> bool {
        matches!(self, Self::ToolUnavailable { .. })
    }

    /// Validate `program`: the facts validation established, or its errors
    /// as an [`CompileError::InvalidKernel`].
    ///
    /// # Errors
    /// When `program` does not validate.
    pub fn check_valid(
        program: &crate::ir::Program,
    ) -> Result<crate::ir::validate::Validated, Self> {
        program
            .validate()
            .map_err(|errors| Self::invalid_kernel(program, &errors))
    }

    /// `program`'s validation `errors` as an [`CompileError::InvalidKernel`].
    #[must_use]
    pub fn invalid_kernel(
        program: &crate::ir::Program,
        errors: &[crate::ir::ValidationError],
    ) -> Self {
        Self::InvalidKernel {
            kernel: program.name.clone(),
            errors: errors.iter().map(ToString::to_string).collect(),
        }
    }
}

/// The result of lowering or emission.
pub type CompileResult<T> = Result<T, CompileError>;

#[cfg(test)]
mod tests {
    use super::CompileError;
    use crate::driver::UNAVAILABLE_PREFIX;

    #[test]
    fn tool_unavailable_text_keeps_the_seed_prefix() {
        let e = CompileError::ToolUnavailable {
            tool: "ptxas".into(),
            message: "ptxas not found".into(),
        };
        assert_eq!(
            e.to_string(),
            format!("{UNAVAILABLE_PREFIX}ptxas not found")
        );
        assert!(e.is_tool_unavailable());
    }

    #[test]
    fn for_target_names_the_target() {
        let e = CompileError::Internal {
            kernel: "k".into(),
            target: "naga".into(),
            what: "x".into(),
        }
        .for_target("msl");
        assert_eq!(
            e.to_string(),
            "kernel `k`: internal error (target `msl`): x"
        );
    }
}
