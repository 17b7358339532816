//! [`OwnedSpec`]: a `KernelSpec` built at run time, with its artifacts
//! emitted in-process.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use vyre::driver::emit_aot_target;
use vyre::ir::DebugKind;
use vyre::ir::{Param, Program};
use vyre::runtime::{Artifact, DebugSiteSpec, KernelSpec, LaunchArg, ParamSpec, TensorMapSpec};
use vyre::{Device, DispatchConfig, Grid};

static SPEC_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One artifact of an [`OwnedSpec`].
#[derive(Debug, Clone)]
pub struct OwnedArtifact {
    /// Target id.
    pub target: String,
    /// Architecture, for per-arch targets.
    pub arch: Option<String>,
    /// The blob.
    pub bytes: Vec<u8>,
}

/// A [`KernelSpec`] built at run time, owning what a generated launcher
/// embeds (name, key, parameters, artifacts); [`OwnedSpec::with`] lends it
/// as a `KernelSpec` for as long as a closure runs. Devices cache modules
/// by `key`, so two owned specs of different kernels need different keys.
#[derive(Debug, Clone)]
pub struct OwnedSpec {
    /// Kernel name.
    pub name: String,
    /// Cache key, unique per kernel.
    pub key: String,
    /// Parameters in order (as the program declares them).
    pub params: Vec<Param>,
    /// Invocations per workgroup.
    pub workgroup_size: [u32; 3],
    /// Whether bounds checks were compiled out.
    pub unchecked: bool,
    /// Every artifact.
    pub artifacts: Vec<OwnedArtifact>,
    /// The `debug_print!`/`debug_assert!` sites of a debug build (the
    /// `debug` map of [`vyre::lang::Module`] for this kernel).
    pub debug: Vec<vyre::ir::DebugSite>,
    /// The tensor maps of the kernel's tile copies.
    pub tensor_maps: Vec<TensorMapSpec>,
}

impl OwnedSpec {
    /// The spec of `program` (name, parameters, workgroup size,
    /// `unchecked`) under `key`, with no artifact yet.
    #[must_use]
    pub fn new(program: &Program, key: impl Into<String>) -> Self {
        Self {
            name: program.name.clone(),
            key: key.into(),
            params: program.params.clone(),
            workgroup_size: program.workgroup_size,
            unchecked: program.unchecked,
            artifacts: Vec::new(),
            debug: Vec::new(),
            tensor_maps: vyre::mid::tile::tensor_maps(program)
                .into_iter()
                .map(|m| TensorMapSpec {
                    buffer: m.src,
                    rows: m.rows,
                    cols: m.cols,
                    box_rows: m.box_rows,
                })
                .collect(),
        }
    }

    /// Add an artifact.
    pub fn push_artifact(&mut self, target: &str, arch: Option<&str>, bytes: Vec<u8>) {
        self.artifacts.push(OwnedArtifact {
            target: target.to_string(),
            arch: arch.map(str::to_string),
            bytes,
        });
    }

    /// The borrowed parameter and artifact lists a [`KernelSpec`] of this
    /// spec points to; pass them to [`OwnedSpec::spec`]:
    ///
    /// ```ignore
    /// let (params, artifacts) = owned.parts();
    /// let spec = owned.spec(&params, &artifacts);
    /// ```
    #[must_use]
    pub fn parts(&self) -> (Vec<ParamSpec<'_>>, Vec<Artifact<'_>>) {
        let params = self
            .params
            .iter()
            .map(|p| match p {
                Param::Buffer(b) => ParamSpec::Buffer {
                    name: &b.name,
                    elem: b.elem,
                    access: b.access,
                },
                Param::Scalar { name, ty } => ParamSpec::Scalar { name, ty: *ty },
            })
            .collect();
        let artifacts = self
            .artifacts
            .iter()
            .map(|a| Artifact {
                target: &a.target,
                arch: a.arch.as_deref(),
                bytes: &a.bytes,
            })
            .collect();
        (params, artifacts)
    }

    /// This spec as a [`KernelSpec`], over the lists of
    /// [`OwnedSpec::parts`], without debug sites ([`OwnedSpec::with`] has
    /// them).
    #[must_use]
    pub fn spec<'a>(
        &'a self,
        params: &'a [ParamSpec<'a>],
        artifacts: &'a [Artifact<'a>],
    ) -> KernelSpec<'a> {
        KernelSpec {
            name: &self.name,
            key: &self.key,
            params,
            workgroup_size: self.workgroup_size,
            unchecked: self.unchecked,
            artifacts,
            debug: &[],
            tensor_maps: &self.tensor_maps,
        }
    }

    /// Run `f` with this spec as a [`KernelSpec`] borrowing it.
    pub fn with<R>(&self, f: impl FnOnce(&KernelSpec<'_>) -> R) -> R {
        let (params, artifacts) = self.parts();
        let debug: Vec<DebugSiteSpec<'_>> = self
            .debug
            .iter()
            .map(|d| DebugSiteSpec {
                assert: match &d.kind {
                    DebugKind::Print => None,
                    DebugKind::Assert { condition } => Some(condition),
                },
                file: &d.file,
                line: d.line,
                column: d.column,
                format: &d.format,
                args: &d.args,
            })
            .collect();
        f(&KernelSpec {
            debug: &debug,
            ..self.spec(&params, &artifacts)
        })
    }

    /// [`Device::launch`] of this spec.
    ///
    /// # Errors
    ///
    /// The launch's error.
    pub fn launch(
        &self,
        device: &Device,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> vyre::Result<()> {
        self.with(|spec| launch_any(device, spec, grid, args))
    }

    /// Whether an artifact of `target` (and `arch`, when given) is present.
    #[must_use]
    pub fn has_artifact(&self, target: &str, arch: Option<&str>) -> bool {
        self.with(|spec| spec.artifact(target, arch).is_some())
    }
}

/// Launch `spec` on `device`, through [`Device::launch_unchecked`] when it
/// is a `#[kernel(unchecked)]` one.
///
/// # Errors
///
/// The launch's error.
pub(crate) fn launch_any(
    device: &Device,
    spec: &KernelSpec<'_>,
    grid: Grid,
    args: &mut [LaunchArg<'_>],
) -> vyre::Result<()> {
    if spec.unchecked {
        // SAFETY: the harness runs the tests' own programs. The random
        // generator makes no unchecked program, and the hand-written
        // unchecked ones (such as the unchecked GEMM of the matrix tests)
        // keep every index in range by construction.
        unsafe { device.launch_unchecked(spec, grid, args) }
    } else {
        device.launch(spec, grid, args)
    }
}

/// Emit `program` for `artifacts` into an [`OwnedSpec`] with a unique key
/// (the backends cache modules by key). PTX is emitted for the default
/// architecture, or for `VYRE_TESTKIT_ARCH` (e.g. `sm_90`) when set.
///
/// # Errors
///
/// The emitter's error, rendered.
pub fn owned_spec(program: &Program, artifacts: &[&str]) -> Result<OwnedSpec, String> {
    // `VYRE_TESTKIT_ARCH=sm_90` emits PTX for that architecture instead of
    // the default (for failures that depend on it).
    let config = match std::env::var("VYRE_TESTKIT_ARCH") {
        Ok(arch) if !arch.is_empty() => DispatchConfig::default().with_target_arch(arch),
        _ => DispatchConfig::default(),
    };
    let mut h = DefaultHasher::new();
    program.hash(&mut h);
    let n = SPEC_COUNTER.fetch_add(1, Ordering::Relaxed);
    let key = format!("vyre_testkit::{}#{n}:{:016x}", program.name, h.finish());
    let mut spec = OwnedSpec::new(program, key);
    for target in artifacts {
        let bytes =
            emit_aot_target(target, program, &config).map_err(|e| format!("emit {target}: {e}"))?;
        spec.push_artifact(target, None, bytes);
    }
    Ok(spec)
}
