//! Backend-neutral AOT emission and launcher registries.
//!
//! Backends register an [`AotEmitter`] (target-native bytes for a program)
//! and an [`AotLauncherEmitter`] (a standalone launcher crate) through
//! `inventory`. vyre extends the seed API with [`KernelLauncherCodegen`], the
//! per-target part of the launcher modules `vyre-build` generates, and with
//! duplicate detection: two linked registrations of one target are an error
//! naming both, never a silent pick.
//!
//! **The linking pitfall.** `inventory` collects registrations at link time;
//! a crate nobody references is not linked and its registrations vanish.
//! A crate that adds a target must therefore be referenced from the binary
//! that needs it (for a build script: `use my_target as _;` in `build.rs`,
//! or call one of its functions, such as a `register()` no-op).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{CompileError, CompileResult};
use crate::ir::Program;
use crate::{BackendError, DispatchConfig};

/// Stable AOT target identifier.
pub type AotTargetId = &'static str;

/// One backend-owned AOT emitter.
pub struct AotEmitter {
    /// Stable target identifier.
    pub target: AotTargetId,
    /// Emit target-native bytes for `program`.
    pub emit: fn(&Program, &DispatchConfig) -> Result<Vec<u8>, String>,
}

inventory::collect!(AotEmitter);

/// The typed form of one of vyre's own [`AotEmitter`]s: the same function
/// before its [`CompileError`] becomes the seed's `String`, so that
/// [`emit_aot_target`] reports variants (a missing tool is
/// [`BackendError::ToolUnavailable`]) instead of message text. Registered
/// with [`crate::register_typed_aot_emitter!`], which registers the
/// `AotEmitter` too.
pub struct TypedAotEmitter {
    /// Stable target identifier, matching an [`AotEmitter`].
    pub target: AotTargetId,
    /// Emit target-native bytes for `program`.
    pub emit: fn(&Program, &DispatchConfig) -> CompileResult<Vec<u8>>,
}

inventory::collect!(TypedAotEmitter);

/// One dependency entry required by a generated launcher crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LauncherDependency {
    /// Dependency name in the emitted `Cargo.toml`.
    pub name: &'static str,
    /// Inline dependency spec, for example `{ version = "1", features = ["derive"] }`.
    pub spec: &'static str,
}

/// Backend-neutral launcher emission request.
#[derive(Debug)]
pub struct AotLauncherRequest<'a> {
    /// Stable target id matching [`AotEmitter::target`].
    pub target: AotTargetId,
    /// Generated launcher crate name.
    pub crate_name: &'a str,
    /// Whether to include target-owned collective/multi-rank support.
    pub include_collectives: bool,
    /// Whether to include a built-in eval-time training loop.
    pub include_ttt_loop: bool,
}

/// Source files and manifest additions produced by a target-owned launcher emitter.
#[derive(Debug, Clone, Default)]
pub struct AotLauncherFiles {
    /// Additional dependencies required by target-specific launcher files.
    pub dependencies: Vec<LauncherDependency>,
    /// Source files keyed by launcher-crate-relative path.
    pub files: BTreeMap<PathBuf, String>,
}

/// One backend-owned launcher source emitter.
pub struct AotLauncherEmitter {
    /// Stable target identifier.
    pub target: AotTargetId,
    /// Emit target-owned launcher files for `request`.
    pub emit: fn(&AotLauncherRequest<'_>) -> Result<AotLauncherFiles, String>,
}

inventory::collect!(AotLauncherEmitter);

/// An emitter error message starting with this prefix means "this target
/// cannot be produced on this machine" (a missing external tool), not "the
/// program is wrong"; optional targets are then skipped with a note. The
/// seed's string protocol: [`emit_aot_target`] turns it into
/// [`BackendError::ToolUnavailable`], and typed emitters produce it from
/// [`CompileError::ToolUnavailable`].
pub const UNAVAILABLE_PREFIX: &str = "unavailable: ";

/// Where one emitted blob of a kernel lives, for [`KernelLauncherCodegen`].
#[derive(Debug, Clone, Copy)]
pub struct ArtifactFile<'a> {
    /// Target id.
    pub target: &'a str,
    /// Architecture the blob was emitted for, for per-arch targets.
    pub arch: Option<&'a str>,
    /// File name relative to the directory of the generated launcher module.
    pub file_name: &'a str,
}

/// The standard [`KernelLauncherCodegen::artifact_expr`]: a
/// `::vyre::runtime::Artifact` embedding `file` with `include_bytes!` (path
/// relative to the generated module, which lives in the same directory tree
/// as the blobs; `/` separators are fine on every host).
///
/// # Errors
/// Never; the `Result` matches the `artifact_expr` signature.
pub fn include_bytes_artifact(file: &ArtifactFile<'_>) -> Result<String, String> {
    let arch = file.arch.map_or_else(
        || "::core::option::Option::None".to_string(),
        |arch| format!("::core::option::Option::Some({arch:?})"),
    );
    Ok(format!(
        "::vyre::runtime::Artifact {{ target: {:?}, arch: {arch}, bytes: include_bytes!({:?}) }}",
        file.target, file.file_name
    ))
}

/// The per-target part of the launcher modules `vyre-build` generates: how a
/// target's blobs are emitted and embedded. Registered by the same backend
/// that registers the target's [`AotEmitter`], so a third-party crate adds a
/// target (emitter and launcher code both) without touching `vyre-build`.
pub struct KernelLauncherCodegen {
    /// Stable target identifier, matching an [`AotEmitter`].
    pub target: AotTargetId,
    /// The `vyre` cargo feature a downstream crate must enable to run this
    /// target (`None`: always available).
    pub runtime_feature: Option<&'static str>,
    /// File extension of the emitted blob.
    pub extension: &'static str,
    /// Emit once per architecture of the build's arch list
    /// (`DispatchConfig::target_arch` set to each).
    pub per_arch: bool,
    /// When emission fails with [`BackendError::ToolUnavailable`] (a tool
    /// it needs, such as `ptxas`, is not installed), skip the blob with a
    /// note instead of failing the build.
    pub optional: bool,
    /// A Rust expression of type `vyre::runtime::Artifact` embedding `file`.
    pub artifact_expr: fn(&ArtifactFile<'_>) -> Result<String, String>,
}

inventory::collect!(KernelLauncherCodegen);

/// Where a registration comes from, recorded by [`crate::register_aot_emitter!`]
/// so that duplicate registrations can be named.
pub struct RegistrationSite {
    /// "aot target", "aot launcher target" or "launcher codegen".
    pub kind: &'static str,
    /// The target id.
    pub target: AotTargetId,
    /// `module_path!()` of the registering code.
    pub module: &'static str,
}

inventory::collect!(RegistrationSite);

/// Register an [`AotEmitter`] and record its module for duplicate reports.
///
/// ```ignore
/// vyre::register_aot_emitter!("toy", emit_toy);
/// ```
#[macro_export]
macro_rules! register_aot_emitter {
    ($target:expr, $emit:expr) => {
        $crate::inventory::submit! {
            $crate::driver::AotEmitter { target: $target, emit: $emit }
        }
        $crate::inventory::submit! {
            $crate::driver::RegistrationSite { kind: "aot target", target: $target, module: module_path!() }
        }
    };
}

/// Register a typed emitter (`fn(&Program, &DispatchConfig) ->
/// CompileResult<Vec<u8>>`) as the seed's [`AotEmitter`] (its error as a
/// `String`) and as a [`TypedAotEmitter`], recording its module.
#[macro_export]
macro_rules! register_typed_aot_emitter {
    ($target:expr, $emit:expr) => {
        $crate::register_aot_emitter!($target, |program, config| {
            ($emit)(program, config).map_err(|e| e.to_string())
        });
        $crate::inventory::submit! {
            $crate::driver::TypedAotEmitter { target: $target, emit: $emit }
        }
    };
}

/// Register a [`KernelLauncherCodegen`] and record its module.
#[macro_export]
macro_rules! register_launcher_codegen {
    ($codegen:expr) => {
        $crate::inventory::submit! { $codegen }
    };
}

fn site_name(kind: &str, target: &str, nth: usize) -> String {
    inventory::iter::<RegistrationSite>
        .into_iter()
        .filter(|s| s.kind == kind && s.target == target)
        .nth(nth)
        .map_or_else(
            || "an unnamed `inventory::submit!` (register with `vyre::register_aot_emitter!` to be named)".to_string(),
            |s| format!("`{}`", s.module),
        )
}

/// Find the single registration whose target is `target`, or report
/// unsupported/duplicate.
fn find_unique<T: 'static>(
    items: impl IntoIterator<Item = &'static T>,
    target_of: impl Fn(&T) -> &str,
    target: &str,
    kind: &'static str,
) -> Result<&'static T, BackendError> {
    let mut found = items.into_iter().filter(|item| target_of(item) == target);
    let Some(first) = found.next() else {
        return Err(BackendError::UnsupportedFeature {
            name: format!("{kind} `{target}`"),
            backend: "vyre-driver".to_string(),
        });
    };
    if found.next().is_some() {
        return Err(BackendError::DuplicateRegistration {
            kind,
            target: target.to_string(),
            first: site_name(kind, target, 0),
            second: site_name(kind, target, 1),
        });
    }
    Ok(first)
}

/// Return every linked AOT emitter, sorted by target id.
#[must_use]
pub fn registered_aot_emitters() -> Vec<&'static AotEmitter> {
    let mut v: Vec<_> = inventory::iter::<AotEmitter>.into_iter().collect();
    v.sort_by(|a, b| a.target.cmp(b.target));
    v
}

/// Return every linked launcher emitter, sorted by target id.
#[must_use]
pub fn registered_aot_launcher_emitters() -> Vec<&'static AotLauncherEmitter> {
    let mut v: Vec<_> = inventory::iter::<AotLauncherEmitter>.into_iter().collect();
    v.sort_by(|a, b| a.target.cmp(b.target));
    v
}

/// Return every linked launcher codegen, sorted by target id.
#[must_use]
pub fn registered_launcher_codegens() -> Vec<&'static KernelLauncherCodegen> {
    let mut v: Vec<_> = inventory::iter::<KernelLauncherCodegen>
        .into_iter()
        .collect();
    v.sort_by(|a, b| a.target.cmp(b.target));
    v
}

/// The launcher codegen of `target`.
///
/// # Errors
///
/// [`BackendError::UnsupportedFeature`] when none is linked,
/// [`BackendError::DuplicateRegistration`] when several are.
pub fn launcher_codegen(target: &str) -> Result<&'static KernelLauncherCodegen, BackendError> {
    find_unique(
        inventory::iter::<KernelLauncherCodegen>,
        |c| c.target,
        target,
        "launcher codegen",
    )
}

/// Emit target-native bytes through the linked emitter matching `target`.
///
/// # Errors
///
/// Returns [`BackendError::UnsupportedFeature`] when no linked backend owns
/// `target`, [`BackendError::DuplicateRegistration`] when several do,
/// [`BackendError::ToolUnavailable`] when the target needs a tool this
/// machine lacks, or [`BackendError::KernelCompileFailed`] when the
/// concrete emitter rejects the program.
pub fn emit_aot_target(
    target: &str,
    program: &Program,
    config: &DispatchConfig,
) -> Result<Vec<u8>, BackendError> {
    let emitter = find_unique(
        inventory::iter::<AotEmitter>,
        |e| e.target,
        target,
        "aot target",
    )?;
    if let Some(typed) = inventory::iter::<TypedAotEmitter>
        .into_iter()
        .find(|t| t.target == target)
    {
        return (typed.emit)(program, config).map_err(|e| compile_failure(target, e));
    }
    (emitter.emit)(program, config).map_err(|message| {
        match message.strip_prefix(UNAVAILABLE_PREFIX) {
            // The seed's string protocol, for emitters registered untyped.
            Some(rest) => BackendError::ToolUnavailable {
                backend: target.to_string(),
                tool: String::new(),
                message: rest.to_string(),
            },
            None => BackendError::KernelCompileFailed {
                backend: target.to_string(),
                compiler_message: message,
            },
        }
    })
}

/// The [`BackendError`] of a typed emitter's failure for `target`.
fn compile_failure(target: &str, error: CompileError) -> BackendError {
    match error {
        CompileError::ToolUnavailable { tool, message } => BackendError::ToolUnavailable {
            backend: target.to_string(),
            tool,
            message,
        },
        other => BackendError::KernelCompileFailed {
            backend: target.to_string(),
            compiler_message: other.to_string(),
        },
    }
}

/// Emit target-owned launcher files through the linked emitter matching `target`.
///
/// # Errors
///
/// Returns [`BackendError::UnsupportedFeature`] when no linked backend owns
/// launcher generation for `target`, [`BackendError::DuplicateRegistration`]
/// when several do, or [`BackendError::KernelCompileFailed`] when the
/// concrete launcher emitter rejects the request.
pub fn emit_aot_launcher_target(
    target: &str,
    request: &AotLauncherRequest<'_>,
) -> Result<AotLauncherFiles, BackendError> {
    let emitter = find_unique(
        inventory::iter::<AotLauncherEmitter>,
        |e| e.target,
        target,
        "aot launcher target",
    )?;
    (emitter.emit)(request).map_err(|compiler_message| BackendError::KernelCompileFailed {
        backend: target.to_string(),
        compiler_message,
    })
}
