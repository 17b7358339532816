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
use crate::driver::{
    AotLauncherFiles, AotLauncherRequest, CompileError, CompileResult, KernelLauncherCodegen,
};
use crate::ir::{Literal, Param, Program, wire};
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

/// The standalone launcher crate of the `reference` target: the CPU
/// interpreter, multi-rank through `vyre-launcher`'s TCP all-reduce.
fn launcher(request: &AotLauncherRequest<'_>) -> Result<AotLauncherFiles, String> {
    const DEPENDENCY: &str = concat!("{ version = \"", env!("CARGO_PKG_VERSION"), "\" }");
    Ok(crate::driver::standard_launcher_files(
        request, DEPENDENCY, "Cpu",
    ))
}

crate::register_aot_launcher_emitter!(TARGET, launcher);

crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: TARGET,
    runtime_feature: None,
    extension: "vyrebin",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});

/// Memory of the CPU device: bytes, packed as the host lays out its
/// elements (`size_bytes()` each, 8- and 16-bit elements too), held in
/// 32-bit words (native byte order) so that `u32`, `i32` and `f32` buffers
/// run in place; narrow buffers are unpacked to the interpreter's one slot
/// per element for a launch and packed back after it.
#[derive(Debug, Clone, Default)]
pub struct CpuMemory {
    /// The bytes, in native-endian words; a last partial word is zero
    /// padded.
    words: Vec<u32>,
    /// Length in bytes.
    len: usize,
}

impl CpuMemory {
    /// `bytes` zero bytes.
    fn zeroed(bytes: usize) -> Self {
        Self {
            words: vec![0; bytes.div_ceil(4)],
            len: bytes,
        }
    }

    /// `bytes` zero bytes, or an error when the host cannot hold them (a
    /// failed allocation would abort the process).
    fn try_zeroed(bytes: usize) -> Result<Self> {
        let words = bytes.div_ceil(4);
        let mut v: Vec<u32> = Vec::new();
        v.try_reserve_exact(words)
            .map_err(|e| crate::runtime::Error::Backend {
                backend: NAME.to_string(),
                message: format!("cannot allocate {bytes} bytes of host memory: {e}"),
            })?;
        v.resize(words, 0);
        Ok(Self {
            words: v,
            len: bytes,
        })
    }

    /// A copy of `data`.
    fn from_bytes(data: &[u8]) -> Self {
        let mut m = Self::zeroed(data.len());
        m.write_bytes(data);
        m
    }

    /// Overwrite the first `data.len()` bytes (at most [`Self::len_bytes`]).
    fn write_bytes(&mut self, data: &[u8]) {
        for (w, c) in self.words.iter_mut().zip(data.chunks(4)) {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            *w = u32::from_ne_bytes(b);
        }
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.truncate(self.len);
        out
    }

    /// The interpreter's slots of a buffer of `size`-byte elements
    /// (little-endian, zero-extended).
    fn slots(&self, size: usize) -> Vec<u32> {
        let bytes = self.bytes();
        match size {
            1 => bytes.iter().map(|&b| u32::from(b)).collect(),
            _ => bytes
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        }
    }

    /// Store the interpreter's `slots` back as `size`-byte elements.
    fn store_slots(&mut self, size: usize, slots: &[u32]) {
        let bytes: Vec<u8> = match size {
            1 => slots.iter().map(|&s| s as u8).collect(),
            _ => slots
                .iter()
                .flat_map(|&s| (s as u16).to_le_bytes())
                .collect(),
        };
        self.write_bytes(&bytes);
    }
}

impl DeviceMemory for CpuMemory {
    fn len_bytes(&self) -> usize {
        self.len
    }
}

/// The CPU runtime backend, running the reference interpreter. Decoded and
/// compiled kernels are cached per [`KernelSpec::key`].
#[derive(Debug)]
pub struct CpuBackend {
    cache: ModuleCache<Compiled>,
    options: RunOptions,
}

/// The step limit of [`CpuBackend::new`] (and so of `Device::cpu()`): an
/// invocation that runs more interpreter instructions than this fails with
/// [`RunError::StepLimitExceeded`] instead of hanging the caller forever
/// (an infinite loop). Real kernels stay far below it; 2^28 steps take
/// seconds. [`CpuBackend::with_options`] sets another limit, or none.
pub const DEFAULT_MAX_STEPS_PER_INVOCATION: u64 = 1 << 28;

impl Default for CpuBackend {
    fn default() -> Self {
        Self::with_options(RunOptions {
            max_steps_per_invocation: Some(DEFAULT_MAX_STEPS_PER_INVOCATION),
            ..RunOptions::default()
        })
    }
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

fn byte_mismatch(buffer: usize, host: usize) -> Error {
    backend_err(format!(
        "length mismatch: buffer holds {buffer} bytes, host slice {host}"
    ))
}

fn cpu_mem(mem: &dyn DeviceMemory) -> Result<&CpuMemory> {
    downcast_memory(mem, BACKEND)
}

fn cpu_mem_mut(mem: &mut dyn DeviceMemory) -> Result<&mut CpuMemory> {
    downcast_memory_mut(mem, BACKEND)
}

impl CpuBackend {
    /// A new CPU backend, with the step limit
    /// [`DEFAULT_MAX_STEPS_PER_INVOCATION`].
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

    /// `cpu`: one interpreter, whatever the host.
    fn tune_arch(&self) -> String {
        "cpu".to_string()
    }

    /// The size the interpreter runs subgroups at (its options').
    fn subgroup_size(&self) -> Option<u32> {
        Some(self.options.subgroup_size)
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        Ok(Box::new(CpuMemory::try_zeroed(bytes)?))
    }

    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        Ok(Box::new(CpuMemory::from_bytes(data)))
    }

    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        let mem = cpu_mem_mut(mem)?;
        if data.len() != mem.len_bytes() {
            return Err(byte_mismatch(mem.len_bytes(), data.len()));
        }
        mem.write_bytes(data);
        Ok(())
    }

    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        let src = cpu_mem(src)?.clone();
        *cpu_mem_mut(dst)? = src;
        Ok(())
    }

    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let mem = cpu_mem(mem)?;
        if out.len() != mem.len_bytes() {
            return Err(byte_mismatch(mem.len_bytes(), out.len()));
        }
        out.copy_from_slice(&mem.bytes());
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
        // Per argument: the element size of a buffer parameter, and the
        // slots of a narrow buffer (unpacked for the launch).
        let sizes: Vec<usize> = (0..args.len())
            .map(|i| match compiled.params().get(i) {
                Some(Param::Buffer(b)) => b.elem.size_bytes() as usize,
                _ => 4,
            })
            .collect();
        let mut slots: Vec<Option<Vec<u32>>> = Vec::with_capacity(args.len());
        for (arg, &size) in args.iter().zip(&sizes) {
            slots.push(match arg {
                KernelArg::Buffer(mem) => unpack(cpu_mem(*mem)?, size)?,
                KernelArg::BufferMut(mem) => unpack(cpu_mem(&**mem)?, size)?,
                _ => None,
            });
        }
        let result = {
            let mut core = Vec::with_capacity(args.len());
            for (i, (arg, slots)) in args.iter_mut().zip(slots.iter_mut()).enumerate() {
                let ro = read_only.get(i).copied().unwrap_or(false);
                core.push(match (arg, slots) {
                    (KernelArg::Buffer(_), Some(slots)) => CoreArg::Ro(slots),
                    (KernelArg::BufferMut(_), Some(slots)) => {
                        if ro {
                            CoreArg::Ro(slots)
                        } else {
                            CoreArg::Rw(atomic_words(slots))
                        }
                    }
                    (KernelArg::Buffer(mem), None) => CoreArg::Ro(&cpu_mem(*mem)?.words),
                    (KernelArg::BufferMut(mem), None) => {
                        let words = &mut cpu_mem_mut(&mut **mem)?.words;
                        if ro {
                            CoreArg::Ro(words)
                        } else {
                            CoreArg::Rw(atomic_words(words))
                        }
                    }
                    // The runtime passes a narrow scalar widened.
                    (KernelArg::U32(v), _) => CoreArg::Widened(Literal::U32(*v)),
                    (KernelArg::I32(v), _) => CoreArg::Widened(Literal::I32(*v)),
                    (KernelArg::F32(v), _) => CoreArg::Widened(Literal::f32(*v)),
                    (KernelArg::Bool(v), _) => CoreArg::Widened(Literal::Bool(*v)),
                    (KernelArg::U64(v), _) => CoreArg::Widened(Literal::U64(*v)),
                    (KernelArg::I64(v), _) => CoreArg::Widened(Literal::I64(*v)),
                    (KernelArg::F64(v), _) => CoreArg::Widened(Literal::f64(*v)),
                });
            }
            compiled.run_core(workgroups, &core, &self.options)
        };
        // Narrow read-write buffers: the slots back into the memory.
        for (i, ((arg, slots), &size)) in args.iter_mut().zip(&slots).zip(&sizes).enumerate() {
            if let (KernelArg::BufferMut(mem), Some(slots)) = (arg, slots)
                && !read_only.get(i).copied().unwrap_or(false)
            {
                cpu_mem_mut(&mut **mem)?.store_slots(size, slots);
            }
        }
        result.map_err(|e| match e {
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

/// The slots of a buffer of `size`-byte elements when they are narrow
/// (`None`: 32-bit elements, run in place).
fn unpack(mem: &CpuMemory, size: usize) -> Result<Option<Vec<u32>>> {
    if !mem.len.is_multiple_of(size) {
        return Err(backend_err(format!(
            "{} bytes is not a whole number of {size}-byte elements",
            mem.len
        )));
    }
    Ok((size < 4).then(|| mem.slots(size)))
}

fn atomic_words(words: &mut [u32]) -> &[AtomicU32] {
    interp::atomic_view(words)
}

#[cfg(test)]
mod tests {
    use super::{CpuBackend, CpuMemory};
    use crate::ir::{Access, BufRef, DataType, Expr, ProgramBuilder, wire};
    use crate::runtime::{Artifact, DeviceBackend, KernelArg, KernelSpec, ParamSpec};

    #[test]
    fn memory_keeps_any_byte_length() {
        let m = CpuMemory::from_bytes(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(m.bytes(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(m.slots(2), [0x0201, 0x0403, 0x0605]);
        assert_eq!(m.slots(1), [1, 2, 3, 4, 5, 6]);
        let mut m = CpuMemory::zeroed(3);
        m.store_slots(1, &[7, 8, 9]);
        assert_eq!(m.bytes(), [7, 8, 9]);
    }

    /// `y[i] = (x[i] as f32 * 2) as bf16` over a packed `bf16` buffer of
    /// three elements, and `c[i] = c[i] + 1` on `u8`s (wrapping).
    #[test]
    fn narrow_buffers_are_packed_on_the_host() {
        let mut b = ProgramBuilder::new("k", [4, 1, 1]);
        let x = b.buffer("x", DataType::BF16, Access::Read);
        let y = b.buffer("y", DataType::BF16, Access::ReadWrite);
        let c = b.buffer("c", DataType::U8, Access::ReadWrite);
        b.body(|blk| {
            let i = Expr::global_id_x();
            let v = Expr::load(BufRef::Param(x), i.clone())
                .cast(DataType::F32)
                .mul(Expr::f32(2.0));
            blk.store(BufRef::Param(y), i.clone(), v.cast(DataType::BF16));
            let w = Expr::load(BufRef::Param(c), i.clone())
                .cast(DataType::U32)
                .add(Expr::u32(1));
            blk.store(BufRef::Param(c), i, w.cast(DataType::U8));
        });
        let p = b.finish();
        let bytes = wire::to_wire(&p);
        let artifacts = [Artifact {
            target: super::TARGET,
            arch: None,
            bytes: &bytes,
        }];
        let params = [
            ParamSpec::Buffer {
                name: "x",
                elem: DataType::BF16,
                access: Access::Read,
            },
            ParamSpec::Buffer {
                name: "y",
                elem: DataType::BF16,
                access: Access::ReadWrite,
            },
            ParamSpec::Buffer {
                name: "c",
                elem: DataType::U8,
                access: Access::ReadWrite,
            },
        ];
        let spec = KernelSpec {
            name: "k",
            key: "reference::tests::k",
            params: &params,
            workgroup_size: p.workgroup_size,
            unchecked: false,
            artifacts: &artifacts,
            debug: &[],
            tensor_maps: &[],
        };
        let dev = CpuBackend::new();
        let le = |v: &[u16]| -> Vec<u8> { v.iter().flat_map(|h| h.to_le_bytes()).collect() };
        // 1.5, -3.0, 2^127 (doubles to infinity).
        let xs = dev.upload(&le(&[0x3fc0, 0xc040, 0x7f00])).unwrap();
        let mut ys = dev.upload(&le(&[1, 2, 3])).unwrap();
        let mut cs = dev.alloc_zeroed(3).unwrap();
        dev.write(&mut *cs, &[0, 254, 255]).unwrap();
        dev.launch(
            &spec,
            [1, 1, 1],
            &mut [
                KernelArg::Buffer(&*xs),
                KernelArg::BufferMut(&mut *ys),
                KernelArg::BufferMut(&mut *cs),
            ],
        )
        .unwrap();
        let mut out = vec![0u8; 6];
        dev.read(&*ys, &mut out).unwrap();
        assert_eq!(out, le(&[0x4040, 0xc0c0, 0x7f80]));
        let mut out = vec![0u8; 3];
        dev.read(&*cs, &mut out).unwrap();
        assert_eq!(out, [1, 255, 0]);
        // A `bf16` buffer of an odd number of bytes is refused.
        let odd = dev.upload(&[0; 5]).unwrap();
        let e = dev
            .launch(
                &spec,
                [1, 1, 1],
                &mut [
                    KernelArg::Buffer(&*odd),
                    KernelArg::BufferMut(&mut *ys),
                    KernelArg::BufferMut(&mut *cs),
                ],
            )
            .unwrap_err();
        assert!(e.to_string().contains("2-byte"), "{e}");
    }

    /// A narrow scalar comes widened from the runtime (`KernelArg::F32`
    /// for an `f16`), and must be a value of the parameter's type.
    #[test]
    fn narrow_scalars_come_widened() {
        let mut b = ProgramBuilder::new("s", [1, 1, 1]);
        let out = b.buffer("out", DataType::F16, Access::ReadWrite);
        let a = b.scalar("a", DataType::F16);
        let c = b.scalar("c", DataType::I8);
        b.body(|blk| {
            let v = Expr::param(a).add(Expr::param(c).cast(DataType::F16));
            blk.store(BufRef::Param(out), Expr::u32(0), v);
        });
        let p = b.finish();
        let bytes = wire::to_wire(&p);
        let artifacts = [Artifact {
            target: super::TARGET,
            arch: None,
            bytes: &bytes,
        }];
        let params = [
            ParamSpec::Buffer {
                name: "out",
                elem: DataType::F16,
                access: Access::ReadWrite,
            },
            ParamSpec::Scalar {
                name: "a",
                ty: DataType::F16,
            },
            ParamSpec::Scalar {
                name: "c",
                ty: DataType::I8,
            },
        ];
        let spec = KernelSpec {
            name: "s",
            key: "reference::tests::s",
            params: &params,
            workgroup_size: p.workgroup_size,
            unchecked: false,
            artifacts: &artifacts,
            debug: &[],
            tensor_maps: &[],
        };
        let dev = CpuBackend::new();
        let mut out = dev.alloc_zeroed(2).unwrap();
        // 0.5 + -3 = -2.5 (0xc100).
        dev.launch(
            &spec,
            [1, 1, 1],
            &mut [
                KernelArg::BufferMut(&mut *out),
                KernelArg::F32(0.5),
                KernelArg::I32(-3),
            ],
        )
        .unwrap();
        let mut got = [0u8; 2];
        dev.read(&*out, &mut got).unwrap();
        assert_eq!(u16::from_le_bytes(got), 0xc100);
        // 0.1 is no f16, 200 no i8.
        for (x, y) in [(0.1, 1), (1.0, 200)] {
            let e = dev
                .launch(
                    &spec,
                    [1, 1, 1],
                    &mut [
                        KernelArg::BufferMut(&mut *out),
                        KernelArg::F32(x),
                        KernelArg::I32(y),
                    ],
                )
                .unwrap_err();
            assert!(
                matches!(e, crate::runtime::Error::BadArguments { .. }),
                "{e:?}"
            );
        }
    }
}
