//! The `reference` target: the IR's wire encoding as the blob, and a CPU
//! interpreter ([`interp`]) that defines the language's semantics.
//!
//! - Emitter `reference`: [`crate::ir::wire::to_wire`] of the program (with
//!   [`DispatchConfig::workgroup_size`] applied).
//! - Launcher codegen `reference`: embeds the `.vyrebin` blob; needs no
//!   runtime feature, so every generated launcher has a CPU path.
//! - [`CpuBackend`]: the runtime device behind [`crate::Device::cpu`].

pub mod interp;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

pub use interp::{Compiled, MAX_SUBGROUP_SIZE, RefArg, RunError, RunOptions, run, run_with};

use crate::DispatchConfig;
use crate::driver::{CompileError, CompileResult, KernelLauncherCodegen};
use crate::ir::{Literal, Program, wire};
use crate::runtime::{
    ArtifactWant, DeviceBackend, DeviceMemory, Error, KernelArg, KernelSpec, ModuleCache, Result,
    downcast_memory, downcast_memory_mut,
};
use interp::CoreArg;

/// The target id.
pub const TARGET: &str = "reference";

/// The `reference` emitter: the program's wire encoding, with the
/// config's workgroup-size override applied. `BoundsChecks::Always` clears
/// `unchecked`, so out-of-range accesses get the checked semantics instead
/// of an error. The ULP budget does not apply: the interpreter is exact.
///
/// # Errors
///
/// When the program (after the workgroup-size override) does not validate.
pub fn emit(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    let mut program = program.clone();
    program.workgroup_size = config.effective_workgroup_size(&program);
    program.unchecked = !config.checks_bounds(&program);
    CompileError::check_valid(&program)?;
    Ok(wire::to_wire(&program))
}

crate::register_typed_aot_emitter!(TARGET, emit);

crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: TARGET,
    runtime_feature: None,
    extension: "vyrebin",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});

/// Memory of the CPU device: the elements' 32-bit patterns.
#[derive(Debug, Clone, Default)]
pub struct CpuMemory {
    /// The words.
    pub words: Vec<u32>,
}

impl DeviceMemory for CpuMemory {
    fn len_bytes(&self) -> usize {
        self.words.len() * 4
    }
}

/// The CPU runtime backend, running the reference interpreter. Decoded and
/// compiled kernels are cached per [`KernelSpec::key`].
#[derive(Debug, Default)]
pub struct CpuBackend {
    cache: ModuleCache<Compiled>,
    options: RunOptions,
}

const NAME: &str = "cpu (vyre reference interpreter)";

/// The backend name in errors.
const BACKEND: &str = "cpu";

fn backend_err(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: BACKEND.to_string(),
        message: message.into(),
    }
}

fn words_of(bytes: &[u8]) -> Result<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(backend_err(format!(
            "{} bytes is not a whole number of 4-byte elements",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn cpu_mem(mem: &dyn DeviceMemory) -> Result<&CpuMemory> {
    downcast_memory(mem, BACKEND)
}

fn cpu_mem_mut(mem: &mut dyn DeviceMemory) -> Result<&mut CpuMemory> {
    downcast_memory_mut(mem, BACKEND)
}

impl CpuBackend {
    /// A new CPU backend.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A CPU backend running launches with `options` (step limit, threads).
    #[must_use]
    pub fn with_options(options: RunOptions) -> Self {
        Self {
            cache: ModuleCache::new(),
            options,
        }
    }

    /// The decoded and compiled kernel of `spec`, from its `reference`
    /// artifact on first use.
    fn compiled(&self, spec: &KernelSpec<'_>) -> Result<Arc<Compiled>> {
        self.cache.get_or_try_insert(spec, || {
            let artifact = spec.select_artifacts(NAME, &[ArtifactWant::target(TARGET)])?[0];
            let program = wire::from_wire(artifact.bytes)
                .map_err(|e| backend_err(format!("kernel `{}`: {e}", spec.name)))?;
            Compiled::new(&program).map_err(|e| backend_err(e.to_string()))
        })
    }
}

impl DeviceBackend for CpuBackend {
    fn name(&self) -> String {
        NAME.to_string()
    }

    /// The size the interpreter runs subgroups at (its options').
    fn subgroup_size(&self) -> Option<u32> {
        Some(self.options.subgroup_size)
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        if !bytes.is_multiple_of(4) {
            return Err(backend_err(format!(
                "{bytes} bytes is not a whole number of 4-byte elements"
            )));
        }
        Ok(Box::new(CpuMemory {
            words: vec![0; bytes / 4],
        }))
    }

    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        Ok(Box::new(CpuMemory {
            words: words_of(data)?,
        }))
    }

    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        let mem = cpu_mem_mut(mem)?;
        if data.len() != mem.len_bytes() {
            return Err(Error::LengthMismatch {
                buffer: mem.words.len(),
                host: data.len() / 4,
            });
        }
        mem.words = words_of(data)?;
        Ok(())
    }

    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        let words = cpu_mem(src)?.words.clone();
        cpu_mem_mut(dst)?.words = words;
        Ok(())
    }

    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let mem = cpu_mem(mem)?;
        if out.len() != mem.len_bytes() {
            return Err(Error::LengthMismatch {
                buffer: mem.words.len(),
                host: out.len() / 4,
            });
        }
        for (chunk, w) in out.chunks_exact_mut(4).zip(&mem.words) {
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
        Ok(())
    }

    fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let compiled = self.compiled(kernel)?;
        let read_only = compiled.read_only_params();
        let mut core = Vec::with_capacity(args.len());
        for (i, arg) in args.iter_mut().enumerate() {
            let ro = read_only.get(i).copied().unwrap_or(false);
            core.push(match arg {
                KernelArg::Buffer(mem) => CoreArg::Ro(&cpu_mem(*mem)?.words),
                KernelArg::BufferMut(mem) => {
                    let words = &mut cpu_mem_mut(&mut **mem)?.words;
                    if ro {
                        CoreArg::Ro(words)
                    } else {
                        CoreArg::Rw(atomic_words(words))
                    }
                }
                KernelArg::U32(v) => CoreArg::Scalar(Literal::U32(*v)),
                KernelArg::I32(v) => CoreArg::Scalar(Literal::I32(*v)),
                KernelArg::F32(v) => CoreArg::Scalar(Literal::f32(*v)),
                KernelArg::Bool(v) => CoreArg::Scalar(Literal::Bool(*v)),
            });
        }
        compiled
            .run_core(workgroups, &core, &self.options)
            .map_err(|e| match e {
                RunError::ArgumentCount { .. } | RunError::ArgumentMismatch { .. } => {
                    Error::BadArguments {
                        kernel: kernel.name.to_string(),
                        reason: e.to_string(),
                    }
                }
                RunError::GridTooLarge { .. } => Error::InvalidGrid {
                    kernel: kernel.name.to_string(),
                    reason: e.to_string(),
                },
                other => backend_err(other.to_string()),
            })
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}

fn atomic_words(words: &mut [u32]) -> &[AtomicU32] {
    interp::atomic_view(words)
}
