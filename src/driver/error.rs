//! Errors reported by emitters and backends.

/// An error from a backend: emission, loading or launching.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Nothing linked implements `name` for `backend`.
    #[error("{name} is not supported by {backend}{}", registry_hint(backend))]
    UnsupportedFeature {
        /// What was asked for, e.g. "aot target `spirv`".
        name: String,
        /// Who was asked.
        backend: String,
    },
    /// The concrete emitter rejected the program.
    #[error("{backend} could not compile the kernel: {compiler_message}")]
    KernelCompileFailed {
        /// Target that failed.
        backend: String,
        /// The emitter's explanation.
        compiler_message: String,
    },
    /// The kernel uses a construct the target cannot express (`f64` in
    /// WGSL, say). Build tools record it per kernel and target
    /// ([`crate::runtime::Artifact::unsupported_blob`]) instead of failing
    /// the build; launching the kernel there is then an error.
    #[error("kernel `{kernel}` cannot be compiled for {backend}: {construct}")]
    TargetLacks {
        /// Target that cannot express the kernel.
        backend: String,
        /// Kernel name.
        kernel: String,
        /// What the target lacks, as a sentence fragment.
        construct: String,
    },
    /// The target needs an external tool that is not installed on this
    /// machine; the program itself is fine. Optional targets are skipped.
    #[error("{backend} is not available here: {message}")]
    ToolUnavailable {
        /// Target that could not be produced.
        backend: String,
        /// The missing tool (empty when a string-typed emitter said
        /// [`UNAVAILABLE_PREFIX`](crate::driver::UNAVAILABLE_PREFIX) without naming one).
        tool: String,
        /// What is missing, how to provide it and what happens instead.
        message: String,
    },
    /// Two linked crates register the same target; the registry refuses to
    /// guess which one is meant.
    #[error(
        "{kind} `{target}` is registered more than once (by {first} and by {second}); remove one of the crates from the dependency graph"
    )]
    DuplicateRegistration {
        /// "aot target" or "aot launcher target".
        kind: &'static str,
        /// The contested target id.
        target: String,
        /// Where the first registration comes from (module path).
        first: String,
        /// Where the second registration comes from.
        second: String,
    },
}

/// What to do about an [`BackendError::UnsupportedFeature`]: for a target
/// nothing registers (`backend` is the registry, `vyre-driver`), link one;
/// a target refusing a request flag needs no hint beyond the flag's.
fn registry_hint(backend: &str) -> &'static str {
    if backend == "vyre-driver" {
        "; link a crate that registers it (see `vyre::driver::registered_aot_emitters`) or pick another target"
    } else {
        ""
    }
}
