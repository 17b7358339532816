//! Launching kernels: pipelines (one per device and kernel key), bind
//! groups and the parameter block, the batching of recorded commands into
//! submissions, and the folding of large grids.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError};

use super::binding::BindKey;
use super::graph::Recorded;
use super::{MAX_PENDING, WgpuBackend, WgpuMemory, backend_err, pop_scope};
use crate::backend::naga::layout::{BIND_GROUP, Layout, SlotKind};
use crate::ir::Access;
use crate::runtime::{
    ArtifactWant, DeviceBackend as _, Error, KernelArg, KernelSpec, ParamSpec, Result,
};

/// A compiled kernel on this device.
#[derive(Debug)]
pub(super) struct Pipeline {
    /// A serial number, for the bind-group cache.
    id: u64,
    pipeline: wgpu::ComputePipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    layout: Layout,
    kinds: Vec<SlotKind>,
}

/// One launch, ready to record: what [`WgpuBackend::dispatch`] needs, and
/// what a captured graph keeps (its buffers stay alive with it).
#[derive(Debug)]
pub(super) struct Dispatch<'a> {
    name: Cow<'a, str>,
    pipe: Arc<Pipeline>,
    buffers: Vec<(u32, wgpu::Buffer)>,
    uniform: Vec<u8>,
    physical: [u32; 3],
}

impl Dispatch<'_> {
    /// The same dispatch, owning its kernel's name (to outlive the launch).
    pub(super) fn into_owned(self) -> Dispatch<'static> {
        Dispatch {
            name: Cow::Owned(self.name.into_owned()),
            pipe: self.pipe,
            buffers: self.buffers,
            uniform: self.uniform,
            physical: self.physical,
        }
    }
}

/// Commands recorded since the last submission.
#[derive(Debug, Default)]
pub(super) struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// The compute pass consecutive launches share (one pass per launch
    /// cost more than the dispatch; wgpu still orders dependent dispatches
    /// of a pass). Ended before any other command and before submission.
    pass: Option<wgpu::ComputePass<'static>>,
    /// Commands in `encoder`.
    commands: u32,
    /// Whether anything was submitted since the device was last waited on:
    /// the first launch after a wait goes to the GPU at once, so a lone
    /// launch overlaps with the host's work as on CUDA.
    busy: bool,
}

impl WgpuBackend {
    /// Record a command into the pending command buffer; submit it when it
    /// is the first since the device was last waited on, or when
    /// [`MAX_PENDING`] commands have piled up.
    pub(super) fn record(
        &self,
        what: impl std::fmt::Display,
        f: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        // An open pass locks the encoder: end it.
        pending.pass = None;
        let encoder = pending.encoder.get_or_insert_with(|| self.new_encoder());
        f(encoder);
        self.count_command(&mut pending, what)
    }

    /// Record a dispatch into the open compute pass of the pending command
    /// buffer (opening one when there is none), like [`Self::record`].
    pub(super) fn record_dispatch(
        &self,
        what: impl std::fmt::Display,
        f: impl FnOnce(&mut wgpu::ComputePass<'static>),
    ) -> Result<()> {
        let mut guard = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = &mut *guard;
        let pass = match &mut pending.pass {
            Some(pass) => pass,
            open @ None => {
                let encoder = pending.encoder.get_or_insert_with(|| self.new_encoder());
                open.insert(
                    encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("vyre launches"),
                            timestamp_writes: None,
                        })
                        .forget_lifetime(),
                )
            }
        };
        f(pass);
        self.count_command(pending, what)
    }

    fn new_encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vyre"),
            })
    }

    /// One more command is pending: submit when it is the first since the
    /// device was last waited on, or when [`MAX_PENDING`] have piled up.
    fn count_command(&self, pending: &mut Pending, what: impl std::fmt::Display) -> Result<()> {
        pending.commands += 1;
        if !pending.busy || pending.commands >= MAX_PENDING {
            self.submit(pending, what)?;
        }
        Ok(())
    }

    /// Submit what is pending (nothing when nothing is).
    pub(super) fn flush(&self) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.submit(&mut pending, "the launches before it")
    }

    fn submit(&self, pending: &mut Pending, what: impl std::fmt::Display) -> Result<()> {
        pending.pass = None;
        let Some(encoder) = pending.encoder.take() else {
            return Ok(());
        };
        pending.commands = 0;
        pending.busy = true;
        // Errors recorded into the encoder (pass and copy validation) come
        // out of `finish`.
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        // The launches' uniforms, written before the commands that read
        // them.
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_staged(&self.queue);
        self.queue.submit([encoder.finish()]);
        pop_scope(scope, format_args!("submitting {what}"))
    }

    pub(super) fn wait(&self) -> Result<()> {
        self.flush()?;
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| backend_err(format!("waiting for the device: {e}")))?;
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .busy = false;
        Ok(())
    }

    fn pipeline(&self, spec: &KernelSpec<'_>) -> Result<Arc<Pipeline>> {
        self.pipelines
            .get_or_try_insert(spec, || self.build_pipeline(spec))
    }

    fn build_pipeline(&self, spec: &KernelSpec<'_>) -> Result<Pipeline> {
        let [wx, wy, wz] = spec.workgroup_size;
        let l = &self.limits;
        let invocations = u64::from(wx) * u64::from(wy) * u64::from(wz);
        if wx > l.max_compute_workgroup_size_x
            || wy > l.max_compute_workgroup_size_y
            || wz > l.max_compute_workgroup_size_z
            || invocations > u64::from(l.max_compute_invocations_per_workgroup)
        {
            return Err(backend_err(format!(
                "kernel `{}` has workgroup size {:?}; {} allows at most [{}, {}, {}] and {} invocations",
                spec.name,
                spec.workgroup_size,
                self.info.name,
                l.max_compute_workgroup_size_x,
                l.max_compute_workgroup_size_y,
                l.max_compute_workgroup_size_z,
                l.max_compute_invocations_per_workgroup
            )));
        }
        let kinds: Vec<SlotKind> = spec
            .params
            .iter()
            .map(|p| match p {
                ParamSpec::Buffer { .. } => SlotKind::Buffer,
                ParamSpec::Scalar { ty, .. } => SlotKind::Scalar(*ty),
            })
            .collect();
        let layout = Layout::new(&kinds);
        let mut entries = Vec::new();
        for (i, p) in spec.params.iter().enumerate() {
            if let (ParamSpec::Buffer { access, .. }, Some(binding)) = (p, layout.buffer_binding[i])
            {
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: *access == Access::Read,
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
            }
        }
        if let Some(binding) = layout.uniform_binding() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(u64::from(layout.uniform_size())),
                },
                count: None,
            });
        }

        let spirv = ArtifactWant::target("spirv");
        let wgsl = ArtifactWant::target("wgsl");
        let wants: &[ArtifactWant<'_>] = if self.passthrough {
            &[spirv, wgsl]
        } else {
            &[wgsl]
        };
        let art = match spec.select_artifacts(&self.name(), wants) {
            Ok(arts) => arts[0],
            Err(e) => {
                // A 64-bit kernel has no `wgsl` artifact (WGSL cannot
                // express it): say so rather than ask for one.
                let spirv_art = spec.artifacts.iter().find(|a| a.target == spirv.target);
                return Err(match spirv_art.map(|a| wide_needs(a.bytes)) {
                    Some(needs) if !self.passthrough && needs.int64 => Error::Unsupported {
                        backend: super::BACKEND.to_string(),
                        what: format!(
                            "run kernel `{}` on {}: it uses {}, which WGSL cannot express, so it \
                             runs only from its `spirv` artifact through SPIR-V passthrough \
                             (Vulkan with wgpu feature `PASSTHROUGH_SHADERS`{})",
                            spec.name,
                            self.name(),
                            needs.types(),
                            if self.info.backend == wgpu::Backend::Vulkan {
                                ", not forced off by `WgpuOptions::with_force_wgsl`"
                            } else {
                                ""
                            }
                        ),
                    },
                    _ => e,
                });
            }
        };
        if art.target == spirv.target {
            self.check_wide(spec.name, art.bytes)?;
        }
        if !self.float_atomics && uses_float_atomics(art.target == spirv.target, art.bytes) {
            return Err(Error::Unsupported {
                backend: super::BACKEND.to_string(),
                what: format!(
                    "run kernel `{}` on {}: it has an `atomic_add` on `f32` elements, which needs \
                     wgpu feature `SHADER_FLOAT32_ATOMIC` (Vulkan `shaderBufferFloat32AtomicAdd`); \
                     the adapter lacks it",
                    spec.name,
                    self.name(),
                ),
            });
        }
        if !self.subgroups && uses_subgroups(art.target == spirv.target, art.bytes) {
            return Err(backend_err(format!(
                "kernel `{}` uses subgroup operations, which {} does not support \
                 (wgpu feature `SUBGROUP`{})",
                spec.name,
                self.name(),
                if self.info.backend == wgpu::Backend::Vulkan {
                    "; Vulkan 1.1 subgroup operations"
                } else {
                    ""
                }
            )));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let (module, entry_point) = if art.target == spirv.target {
            if !art.bytes.len().is_multiple_of(4) {
                return Err(backend_err(format!(
                    "kernel `{}`: the spirv artifact is {} bytes, not whole words",
                    spec.name,
                    art.bytes.len()
                )));
            }
            // Copy into u32 words: the embedded bytes need not be aligned.
            let words: Vec<u32> = art
                .bytes
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let desc = wgpu::ShaderModuleDescriptorPassthrough {
                label: Some(spec.name),
                entry_points: Cow::Owned(vec![wgpu::PassthroughShaderEntryPoint {
                    name: Cow::Borrowed(spec.name),
                    workgroup_size: (wx, wy, wz),
                }]),
                spirv: Some(Cow::Owned(words)),
                ..wgpu::ShaderModuleDescriptorPassthrough::default()
            };
            // SAFETY: the words are a SPIR-V module vyre's emitter wrote
            // from a naga module that passed naga's validator, with vyre's
            // own bounds checks (or an `unchecked` kernel, whose launcher is
            // `unsafe` and puts that burden on its caller).
            let module = unsafe { self.device.create_shader_module_passthrough(desc) };
            (module, Some(spec.name))
        } else {
            let text = std::str::from_utf8(art.bytes).map_err(|e| {
                backend_err(format!(
                    "kernel `{}`: the wgsl artifact is not UTF-8: {e}",
                    spec.name
                ))
            })?;
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(spec.name),
                    source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(text)),
                });
            // The only entry point; its WGSL name may differ from the
            // kernel's when that is a WGSL keyword.
            (module, None)
        };
        let bind_group_layout =
            self.device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(spec.name),
                    entries: &entries,
                });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(spec.name),
                bind_group_layouts: &[Some(&bind_group_layout)],
                immediate_size: 0,
            });
        // A driver that cannot build the pipeline (too much private
        // memory, say) reports an internal error, not a validation one.
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(spec.name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point,
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
        pop_scope(
            internal,
            format_args!("building the pipeline of kernel `{}`", spec.name),
        )?;
        pop_scope(
            scope,
            format_args!("creating the pipeline of kernel `{}`", spec.name),
        )?;
        debug_assert_eq!(BIND_GROUP, 0);
        static NEXT_PIPELINE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Pipeline {
            id: NEXT_PIPELINE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            pipeline,
            bind_group_layout,
            layout,
            kinds,
        })
    }

    pub(super) fn launch_kernel(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let dispatch = self.prepare(kernel, workgroups, args)?;
        if self.is_capturing() {
            self.keep(Recorded::Dispatch(dispatch.into_owned()));
            return Ok(());
        }
        self.dispatch(&dispatch)
    }

    /// What a launch binds and dispatches, from its checked arguments.
    fn prepare<'a>(
        &self,
        kernel: &'a KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<Dispatch<'a>> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        let Some((physical, fold)) = fold_grid(workgroups, max) else {
            return Err(Error::InvalidGrid {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "{workgroups:?} workgroups; {} allows at most {max} per dimension, \
                     and x can only be folded into y while ceil(x / {max}) * y <= {max}",
                    self.info.name
                ),
            });
        };
        let pipe = self.pipeline(kernel)?;
        if args.len() != pipe.kinds.len() {
            return Err(Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "{} arguments for {} parameters",
                    args.len(),
                    pipe.kinds.len()
                ),
            });
        }
        let layout = &pipe.layout;
        let mut uniform = vec![0u8; layout.uniform_size() as usize];
        // Field `field` takes `bytes` (little endian) when their size is
        // the field's (a 64-bit scalar's field is 8 bytes, every other 4).
        let mut put = |field: u32, bytes: &[u8]| {
            let at = layout.field_offset(field) as usize;
            let size = layout.field_size(field) as usize;
            (bytes.len() == size).then(|| uniform[at..at + size].copy_from_slice(bytes))
        };
        let mut buffers: Vec<(u32, wgpu::Buffer)> = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            let bad = || Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "argument {i} does not match parameter `{}`",
                    kernel.params[i].name()
                ),
            };
            let put_ok = match (arg, layout.buffer_binding[i], layout.scalar_field[i]) {
                (KernelArg::Buffer(mem), Some(b), _) => {
                    let m = self.mem(*mem)?;
                    buffers.push((b, m.buffer.clone()));
                    let n = elements(m, &kernel.params[i]);
                    put(layout.len_field[i].ok_or_else(bad)?, &n.to_le_bytes())
                }
                (KernelArg::BufferMut(mem), Some(b), _) => {
                    let m = self.mem(&**mem)?;
                    buffers.push((b, m.buffer.clone()));
                    let n = elements(m, &kernel.params[i]);
                    put(layout.len_field[i].ok_or_else(bad)?, &n.to_le_bytes())
                }
                (arg, _, Some(f)) => match scalar_bytes(arg) {
                    Some((bytes, len)) => put(f, &bytes[..len]),
                    None => None,
                },
                _ => None,
            };
            if put_ok.is_none() {
                return Err(bad());
            }
        }
        let gf = layout.grid_field;
        for (k, v) in workgroups.into_iter().chain([fold]).enumerate() {
            put(gf + k as u32, &v.to_le_bytes());
        }
        Ok(Dispatch {
            name: Cow::Borrowed(kernel.name),
            pipe,
            buffers,
            uniform,
            physical,
        })
    }

    /// Record one prepared dispatch: its uniforms into the next slot of
    /// the ring, its (cached) bind group, a compute pass.
    pub(super) fn dispatch(&self, d: &Dispatch<'_>) -> Result<()> {
        let Dispatch {
            name,
            pipe,
            buffers,
            uniform,
            physical,
        } = d;
        let name: &str = name;
        // The uniforms go into the next slot of the ring; the bind group
        // (buffers, and the ring at a dynamic offset) is cached.
        let mut key = BindKey {
            pipeline: pipe.id,
            buffers: buffers.clone(),
        };
        let uniform_offset = match pipe.layout.uniform_binding() {
            Some(binding) => {
                let lock = || self.ring.lock().unwrap_or_else(PoisonError::into_inner);
                let mut staged = lock().stage(&self.device, uniform);
                if staged.is_none() {
                    // The ring wraps: submit the slots staged so far.
                    self.flush()?;
                    staged = lock().stage(&self.device, uniform);
                }
                let (offset, ring) = staged.ok_or_else(|| {
                    backend_err(format!(
                        "kernel `{}`: no uniform slot for {} bytes",
                        name,
                        uniform.len()
                    ))
                })?;
                key.buffers.push((binding, ring));
                Some(offset)
            }
            None => None,
        };
        let uniform_size = wgpu::BufferSize::new(uniform.len() as u64);
        let bind_group = self.bind_groups.get_or_make(key, |key| {
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let entries: Vec<wgpu::BindGroupEntry<'_>> = key
                .buffers
                .iter()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: if Some(*binding) == pipe.layout.uniform_binding() {
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset: 0,
                            size: uniform_size,
                        })
                    } else {
                        buffer.as_entire_binding()
                    },
                })
                .collect();
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(name),
                layout: &pipe.bind_group_layout,
                entries: &entries,
            });
            pop_scope(scope, format_args!("launching kernel `{}`", name))?;
            Ok::<_, Error>(group)
        })?;
        self.record_dispatch(format_args!("kernel `{}`", name), |pass| {
            pass.set_pipeline(&pipe.pipeline);
            let offsets: &[u32] = match &uniform_offset {
                Some(o) => std::slice::from_ref(o),
                None => &[],
            };
            pass.set_bind_group(BIND_GROUP, &bind_group, offsets);
            pass.dispatch_workgroups(physical[0], physical[1], physical[2]);
        })
    }
}

impl WgpuBackend {
    /// Refuse a SPIR-V kernel that declares a 64-bit capability this device
    /// was not opened with: an error naming the kernel, the types, the
    /// target and the missing wgpu features (rather than a driver's
    /// undefined behaviour).
    fn check_wide(&self, kernel: &str, spirv: &[u8]) -> Result<()> {
        let needs = wide_needs(spirv);
        let mut missing = Vec::new();
        if needs.int64 && !self.int64 {
            missing.push("`SHADER_INT64` (Vulkan `shaderInt64`)");
        }
        if needs.float64 && !self.f64 {
            missing.push("`SHADER_F64` (Vulkan `shaderFloat64`)");
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Unsupported {
            backend: super::BACKEND.to_string(),
            what: format!(
                "run kernel `{kernel}` (target `spirv`) on {}: it uses {}, which needs wgpu feature {}; \
                 the device was opened without (the adapter lacks it, or `WgpuOptions` turned it off)",
                self.name(),
                needs.types(),
                missing.join(" and "),
            ),
        })
    }
}

/// The 64-bit capabilities a SPIR-V artifact declares.
#[derive(Debug, Default, Clone, Copy)]
struct WideNeeds {
    /// `OpCapability Int64`: every kernel with a 64-bit type (`f64` NaN
    /// tests and casts use `u64` bits).
    int64: bool,
    /// `OpCapability Float64`: kernels with `f64`.
    float64: bool,
}

impl WideNeeds {
    /// The types, for messages.
    fn types(self) -> &'static str {
        if self.float64 {
            "`f64`"
        } else {
            "64-bit integers (`u64`, `i64`)"
        }
    }
}

/// The 64-bit capabilities `spirv` declares.
fn wide_needs(spirv: &[u8]) -> WideNeeds {
    const CAP_FLOAT64: u32 = 10;
    const CAP_INT64: u32 = 11;
    let caps = spirv_capabilities(spirv);
    WideNeeds {
        int64: caps.contains(&CAP_INT64),
        float64: caps.contains(&CAP_FLOAT64),
    }
}

/// The capabilities a SPIR-V module declares (its leading `OpCapability`
/// instructions).
fn spirv_capabilities(bytes: &[u8]) -> Vec<u32> {
    const OP_CAPABILITY: u32 = 17;
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    // Capabilities come first, right after the five-word header.
    let mut caps = Vec::new();
    let mut at = 5;
    while let Some(&word) = words.get(at) {
        let count = (word >> 16) as usize;
        if word & 0xffff != OP_CAPABILITY || count == 0 {
            break;
        }
        if let Some(&cap) = words.get(at + 1) {
            caps.push(cap);
        }
        at += count;
    }
    caps
}

/// Whether an artifact vyre emitted has `f32` atomics: a SPIR-V module
/// declaring `OpCapability AtomicFloat32AddEXT`, or WGSL with `atomic<f32>`.
fn uses_float_atomics(spirv: bool, bytes: &[u8]) -> bool {
    const CAP_ATOMIC_FLOAT32_ADD: u32 = 6033;
    declares(spirv, bytes, CAP_ATOMIC_FLOAT32_ADD, b"atomic<f32>")
}

/// Whether an artifact vyre emitted uses subgroup operations: a SPIR-V
/// module declaring `OpCapability GroupNonUniform` (which the subgroup
/// builtins every such kernel declares require), or WGSL with the
/// `subgroup_size` builtin argument (declared by every such kernel).
fn uses_subgroups(spirv: bool, bytes: &[u8]) -> bool {
    const CAP_GROUP_NON_UNIFORM: u32 = 61;
    declares(
        spirv,
        bytes,
        CAP_GROUP_NON_UNIFORM,
        b"@builtin(subgroup_size)",
    )
}

/// Whether a SPIR-V artifact declares `capability`, or WGSL text holds
/// `wgsl_marker`.
fn declares(spirv: bool, bytes: &[u8], capability: u32, wgsl_marker: &[u8]) -> bool {
    if spirv {
        spirv_capabilities(bytes).contains(&capability)
    } else {
        bytes.windows(wgsl_marker.len()).any(|w| w == wgsl_marker)
    }
}

/// A scalar argument's bytes in the parameter block, little endian, and
/// how many of the 8 there are (4, or 8 for a 64-bit scalar); `None` for a
/// buffer.
fn scalar_bytes(arg: &KernelArg<'_>) -> Option<([u8; 8], usize)> {
    let four = |v: u32| {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&v.to_le_bytes());
        (b, 4)
    };
    Some(match arg {
        KernelArg::U32(v) => four(*v),
        KernelArg::I32(v) => four(v.cast_unsigned()),
        KernelArg::F32(v) => four(v.to_bits()),
        KernelArg::Bool(v) => four(u32::from(*v)),
        KernelArg::U64(v) => (v.to_le_bytes(), 8),
        KernelArg::I64(v) => (v.to_le_bytes(), 8),
        KernelArg::F64(v) => (v.to_bits().to_le_bytes(), 8),
        KernelArg::Buffer(_) | KernelArg::BufferMut(_) => return None,
    })
}

/// The physical grid and fold factor for a logical grid of `logical`
/// workgroups on a device allowing `max` per dimension, or `None` when even
/// folding cannot express it.
///
/// Within the limit the grid is dispatched as is (fold 1). Otherwise x is
/// folded into y: `fold = ceil(x / max)` rows of `px = ceil(x / fold)`
/// workgroups, physical `[px, fold * y, z]`; the shader maps physical
/// `(wx, wy, wz)` back to logical `(wy % fold * px + wx, wy / fold, wz)` and
/// skips the padding workgroups whose logical x is `>= x`: fewer than
/// `fold` per logical row, because x is spread evenly over the rows (rows
/// of `max` would leave up to `max - 1`, which cost as much as real work:
/// 65,534 empty workgroups at x = 65,536). See docs/targets.md, "Large
/// grids".
#[must_use]
pub fn fold_grid(logical: [u32; 3], max: u32) -> Option<([u32; 3], u32)> {
    let [x, y, z] = logical;
    if y > max || z > max || max == 0 {
        return None;
    }
    if x <= max {
        return Some((logical, 1));
    }
    let fold = x.div_ceil(max);
    let py = fold.checked_mul(y).filter(|&py| py <= max)?;
    Some(([x.div_ceil(fold), py, z], fold))
}

/// The element count of buffer `m` bound to parameter `param` (narrow
/// elements are packed, so a buffer's bytes need not be whole words).
fn elements(m: &WgpuMemory, param: &ParamSpec<'_>) -> u32 {
    let size = match param {
        ParamSpec::Buffer { elem, .. } => elem.size_bytes() as usize,
        ParamSpec::Scalar { .. } => 4,
    };
    (m.len / size) as u32
}

#[cfg(test)]
mod tests {
    use super::fold_grid;

    #[test]
    fn fold_grid_cases() {
        assert_eq!(fold_grid([65_535, 7, 3], 65_535), Some(([65_535, 7, 3], 1)));
        // 2^20 workgroups: 17 rows (16 of 65,535 would not cover it) of
        // 61,681, one padding workgroup.
        assert_eq!(
            fold_grid([1 << 20, 1, 1], 65_535),
            Some(([61_681, 17, 1], 17))
        );
        // Just past the limit: two rows of half, no padding.
        assert_eq!(fold_grid([65_536, 1, 1], 65_535), Some(([32_768, 2, 1], 2)));
        assert_eq!(fold_grid([70_000, 3, 2], 65_535), Some(([35_000, 6, 2], 2)));
        assert_eq!(fold_grid([70_000, 40_000, 1], 65_535), None);
        assert_eq!(fold_grid([1, 65_536, 1], 65_535), None);
        assert_eq!(fold_grid([1, 1, 65_536], 65_535), None);
        // ceil((2^32 - 1) / 65,535) = 65,537 rows: more than the limit.
        assert_eq!(fold_grid([u32::MAX, 1, 1], 65_535), None);
    }

    #[test]
    fn folded_grids_cover_x_with_less_padding_than_rows() {
        for max in [1u32, 2, 7, 65_535] {
            let xs = (max + 1..max.saturating_mul(3).max(max + 50)).chain([
                max.saturating_mul(max),
                u32::MAX / 2,
                u32::MAX,
            ]);
            for x in xs {
                let Some(([px, py, _], fold)) = fold_grid([x, 1, 1], max) else {
                    assert!(x.div_ceil(max) > max, "x = {x}, max = {max}");
                    continue;
                };
                assert!(px <= max && py <= max && py == fold, "x = {x}, max = {max}");
                let covered = u64::from(px) * u64::from(fold);
                assert!(covered >= u64::from(x), "x = {x}, max = {max}");
                assert!(
                    covered - u64::from(x) < u64::from(fold),
                    "x = {x}, max = {max}"
                );
            }
        }
    }
}
