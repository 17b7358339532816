//! The wgpu runtime: Vulkan, Metal and DX12 (and lavapipe, Vulkan on the
//! CPU) behind [`Device::wgpu`](crate::Device::wgpu).
//!
//! Kernels run from their `spirv` artifact through SPIR-V passthrough when
//! the device is a Vulkan one that supports it (no shader translation at
//! run time), otherwise from their `wgsl` artifact. Buffers and the
//! parameter block follow [`super::layout`]. Pipelines are created once per
//! device and [`KernelSpec::key`] (in a [`ModuleCache`]). The first launch after a synchronisation
//! is submitted at once; later ones are recorded into one command buffer
//! that goes to the GPU at the next read, write, synchronisation or every
//! [`MAX_PENDING`] launches (one submission per launch cost ~25 µs on the
//! H100). Every wgpu error, including validation
//! errors reported asynchronously, comes back as a [`crate::runtime::Error`]; none
//! panics.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use wgpu::util::DeviceExt as _;

use super::layout::{BIND_GROUP, Layout, SlotKind};
use crate::ir::Access;
use crate::runtime::{
    ArtifactWant, DeviceBackend, DeviceMemory, Error, KernelArg, KernelSpec, ModuleCache,
    ParamSpec, Result, downcast_memory,
};

const BACKEND: &str = "wgpu";

/// Launches (and device copies) recorded before the command buffer holding
/// them is submitted anyway.
pub const MAX_PENDING: u32 = 64;

/// Environment variable choosing the adapter: a case-insensitive substring
/// of its name (as `wgpuinfo`/`vulkaninfo` show it), e.g. `llvmpipe`.
pub const ADAPTER_ENV: &str = "VYRE_WGPU_ADAPTER";

/// How [`Device::wgpu_with`](crate::Device::wgpu_with) picks its adapter.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WgpuOptions {
    /// A case-insensitive substring of the adapter's name; `None` picks the
    /// best adapter (discrete, then integrated, virtual, other, CPU).
    pub adapter: Option<String>,
    /// Never use SPIR-V passthrough, always the `wgsl` artifact (for
    /// testing the fallback path).
    pub force_wgsl: bool,
}

impl WgpuOptions {
    /// The default options, with the adapter taken from `VYRE_WGPU_ADAPTER`
    /// when set.
    #[must_use]
    pub fn from_env() -> Self {
        Self {
            adapter: std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty()),
            force_wgsl: false,
        }
    }

    /// Pick the adapter whose name contains `name` (case-insensitive).
    #[must_use]
    pub fn with_adapter(mut self, name: impl Into<String>) -> Self {
        self.adapter = Some(name.into());
        self
    }

    /// Use the `wgsl` artifacts even where SPIR-V passthrough is available.
    #[must_use]
    pub fn with_force_wgsl(mut self, force: bool) -> Self {
        self.force_wgsl = force;
        self
    }
}

fn no_device(reason: impl Into<String>) -> Error {
    Error::NoDevice {
        backend: BACKEND.to_string(),
        reason: reason.into(),
    }
}

fn backend_err(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: BACKEND.to_string(),
        message: message.into(),
    }
}

/// Higher is better.
fn adapter_rank(info: &wgpu::AdapterInfo) -> u32 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    }
}

/// A compiled kernel on this device.
#[derive(Debug)]
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    layout: Layout,
    kinds: Vec<SlotKind>,
}

/// The wgpu runtime backend (see the module docs).
#[derive(Debug)]
pub struct WgpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    passthrough: bool,
    pipelines: ModuleCache<Pipeline>,
    /// Errors wgpu reported outside an error scope, surfaced by the next
    /// `synchronize`/`read`.
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Work recorded but not yet submitted.
    pending: Mutex<Pending>,
}

/// Commands recorded since the last submission.
#[derive(Debug, Default)]
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// Commands in `encoder`.
    commands: u32,
    /// Whether anything was submitted since the device was last waited on:
    /// the first launch after a wait goes to the GPU at once, so a lone
    /// launch overlaps with the host's work as on CUDA.
    busy: bool,
}

/// A wgpu storage buffer. Its allocation is at least 4 bytes (wgpu cannot
/// bind an empty buffer); `len` is the logical size.
#[derive(Debug)]
pub struct WgpuMemory {
    buffer: wgpu::Buffer,
    len: usize,
}

impl WgpuMemory {
    /// The underlying wgpu buffer.
    #[must_use]
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

impl DeviceMemory for WgpuMemory {
    fn len_bytes(&self) -> usize {
        self.len
    }
}

/// Allocation size for `bytes` logical bytes: at least 4, a multiple of 4.
fn padded(bytes: usize) -> u64 {
    (bytes.max(4).div_ceil(4) * 4) as u64
}

/// `what` is formatted only when there is an error to report (launches
/// pass `format_args!`, which costs nothing otherwise).
fn pop_scope(scope: wgpu::ErrorScopeGuard, what: impl std::fmt::Display) -> Result<()> {
    match pollster::block_on(scope.pop()) {
        None => Ok(()),
        Some(e) => Err(backend_err(format!("{what}: {e}"))),
    }
}

impl WgpuBackend {
    /// Open the adapter `options` picks.
    ///
    /// # Errors
    ///
    /// See [`Device::wgpu`](crate::Device::wgpu).
    pub fn new(options: &WgpuOptions) -> Result<Self> {
        // `Instance::new` panics when no backend fits the platform (wasm).
        if wgpu::Instance::enabled_backend_features().is_empty() {
            return Err(no_device(
                "no wgpu backend (Vulkan, Metal, DX12) exists for this platform",
            ));
        }
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let names: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
            })
            .collect();
        let chosen = if let Some(want) = &options.adapter {
            let want_l = want.to_lowercase();
            adapters
                .into_iter()
                .filter(|a| a.get_info().name.to_lowercase().contains(&want_l))
                .max_by_key(|a| adapter_rank(&a.get_info()))
                .ok_or_else(|| {
                    no_device(format!(
                        "no adapter name contains `{want}` ({ADAPTER_ENV}); adapters found: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?
        } else {
            adapters
                .into_iter()
                .max_by_key(|a| adapter_rank(&a.get_info()))
                .ok_or_else(|| {
                    no_device(
                        "no adapter found; install a Vulkan driver (on Linux without a GPU, Mesa's lavapipe: `apt-get install mesa-vulkan-drivers`), or use Device::cpu()",
                    )
                })?
        };
        let info = chosen.get_info();
        let limits = chosen.limits();
        let passthrough = !options.force_wgsl
            && info.backend == wgpu::Backend::Vulkan
            && chosen
                .features()
                .contains(wgpu::Features::PASSTHROUGH_SHADERS);
        let required_features = if passthrough {
            wgpu::Features::PASSTHROUGH_SHADERS
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(chosen.request_device(&wgpu::DeviceDescriptor {
            label: Some("vyre"),
            required_features,
            // Everything the adapter offers: large buffers, big dispatches.
            required_limits: limits.clone(),
            ..wgpu::DeviceDescriptor::default()
        }))
        .map_err(|e| no_device(format!("opening {}: {e}", info.name)))?;
        let uncaptured: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(e.to_string());
        }));
        Ok(Self {
            device,
            queue,
            info,
            limits,
            passthrough,
            pipelines: ModuleCache::new(),
            uncaptured,
            pending: Mutex::default(),
        })
    }

    /// Whether kernels run from SPIR-V passthrough (else from WGSL).
    #[must_use]
    pub fn uses_spirv_passthrough(&self) -> bool {
        self.passthrough
    }

    /// The adapter's information.
    #[must_use]
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    fn take_uncaptured(&self) -> Result<()> {
        let mut errs = self
            .uncaptured
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if errs.is_empty() {
            Ok(())
        } else {
            let msg = errs.join("; ");
            errs.clear();
            Err(backend_err(msg))
        }
    }

    /// A buffer must fit one storage binding (and so one allocation).
    fn check_size(&self, bytes: usize) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if padded(bytes) > max {
            return Err(backend_err(format!(
                "a buffer of {bytes} bytes exceeds the largest storage buffer {} binds ({max} bytes)",
                self.info.name
            )));
        }
        Ok(())
    }

    fn mem<'m>(&self, mem: &'m dyn DeviceMemory) -> Result<&'m WgpuMemory> {
        downcast_memory(mem, BACKEND)
    }

    /// Record a command into the pending command buffer; submit it when it
    /// is the first since the device was last waited on, or when
    /// [`MAX_PENDING`] commands have piled up.
    fn record(
        &self,
        what: impl std::fmt::Display,
        f: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let encoder = pending.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("vyre"),
                })
        });
        f(encoder);
        pending.commands += 1;
        if !pending.busy || pending.commands >= MAX_PENDING {
            self.submit(&mut pending, what)?;
        }
        Ok(())
    }

    /// Submit what is pending (nothing when nothing is).
    fn flush(&self) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.submit(&mut pending, "the launches before it")
    }

    fn submit(&self, pending: &mut Pending, what: impl std::fmt::Display) -> Result<()> {
        let Some(encoder) = pending.encoder.take() else {
            return Ok(());
        };
        pending.commands = 0;
        pending.busy = true;
        // Errors recorded into the encoder (pass and copy validation) come
        // out of `finish`.
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.queue.submit([encoder.finish()]);
        pop_scope(scope, format_args!("submitting {what}"))
    }

    fn wait(&self) -> Result<()> {
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
                    has_dynamic_offset: false,
                    min_binding_size: None,
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
        let art = spec.select_artifacts(&self.name(), wants)?[0];
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
            scope,
            format_args!("creating the pipeline of kernel `{}`", spec.name),
        )?;
        debug_assert_eq!(BIND_GROUP, 0);
        Ok(Pipeline {
            pipeline,
            bind_group_layout,
            layout,
            kinds,
        })
    }
}

impl Drop for WgpuBackend {
    /// Work recorded but not yet submitted still runs.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl DeviceBackend for WgpuBackend {
    fn name(&self) -> String {
        format!(
            "wgpu:{:?} ({}{})",
            self.info.backend,
            self.info.name,
            if self.passthrough {
                ", SPIR-V"
            } else {
                ", WGSL"
            }
        )
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        self.check_size(bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: padded(bytes),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            // wgpu zero-initializes new buffers.
            mapped_at_creation: false,
        });
        pop_scope(scope, format_args!("allocating {bytes} bytes"))?;
        Ok(Box::new(WgpuMemory { buffer, len: bytes }))
    }

    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        if !data.len().is_multiple_of(4) {
            return Err(backend_err(format!(
                "upload of {} bytes: buffers hold 4-byte elements",
                data.len()
            )));
        }
        self.check_size(data.len())?;
        let mut contents = data.to_vec();
        contents.resize(padded(data.len()) as usize, 0);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: &contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            });
        pop_scope(scope, format_args!("allocating {} bytes", data.len()))?;
        Ok(Box::new(WgpuMemory {
            buffer,
            len: data.len(),
        }))
    }

    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        let m = self.mem(mem)?;
        if data.len() != m.len || !data.len().is_multiple_of(4) {
            return Err(backend_err(format!(
                "write of {} bytes into a buffer of {} bytes",
                data.len(),
                m.len
            )));
        }
        if !data.is_empty() {
            // `write_buffer` lands before the next submission: the launches
            // recorded so far must be submitted first, to see the old data.
            self.flush()?;
            self.queue.write_buffer(&m.buffer, 0, data);
        }
        Ok(())
    }

    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let m = self.mem(mem)?;
        if out.len() != m.len {
            return Err(backend_err(format!(
                "read of {} bytes from a buffer of {} bytes",
                out.len(),
                m.len
            )));
        }
        if out.is_empty() {
            return self.synchronize();
        }
        let size = padded(m.len);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vyre readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.record("reading a buffer back", |enc| {
            enc.copy_buffer_to_buffer(&m.buffer, 0, &staging, 0, size);
        })?;
        self.flush()?;
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        pop_scope(scope, "reading a buffer back")?;
        self.wait()?;
        self.take_uncaptured()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(backend_err(format!("mapping the readback buffer: {e}"))),
            Err(_) => return Err(backend_err("the readback mapping never completed")),
        }
        {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| backend_err(format!("reading the mapped buffer: {e}")))?;
            out.copy_from_slice(&view[..out.len()]);
        }
        staging.unmap();
        Ok(())
    }

    fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
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
        let mut uniform = vec![0u8; pipe.layout.uniform_size() as usize];
        let mut put = |field: u32, v: u32| {
            let at = field as usize * 4;
            uniform[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        let mut buffers: Vec<(u32, &wgpu::Buffer)> = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            let bad = || Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "argument {i} does not match parameter `{}`",
                    kernel.params[i].name()
                ),
            };
            match (
                arg,
                pipe.layout.buffer_binding[i],
                pipe.layout.scalar_field[i],
            ) {
                (KernelArg::Buffer(mem), Some(b), _) => {
                    let m = self.mem(*mem)?;
                    buffers.push((b, &m.buffer));
                    put(
                        pipe.layout.len_field[i].ok_or_else(bad)?,
                        (m.len / 4) as u32,
                    );
                }
                (KernelArg::BufferMut(mem), Some(b), _) => {
                    let m = self.mem(&**mem)?;
                    buffers.push((b, &m.buffer));
                    put(
                        pipe.layout.len_field[i].ok_or_else(bad)?,
                        (m.len / 4) as u32,
                    );
                }
                (KernelArg::U32(v), _, Some(f)) => put(f, *v),
                (KernelArg::I32(v), _, Some(f)) => put(f, v.cast_unsigned()),
                (KernelArg::F32(v), _, Some(f)) => put(f, v.to_bits()),
                (KernelArg::Bool(v), _, Some(f)) => put(f, u32::from(*v)),
                _ => return Err(bad()),
            }
        }
        let gf = pipe.layout.grid_field;
        for (k, v) in workgroups.into_iter().chain([fold]).enumerate() {
            put(gf + k as u32, v);
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let uniform_buf = pipe.layout.uniform_binding().map(|binding| {
            (
                binding,
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("vyre params"),
                        contents: &uniform,
                        usage: wgpu::BufferUsages::UNIFORM,
                    }),
            )
        });
        let mut entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        if let Some((binding, buf)) = &uniform_buf {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: buf.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &pipe.bind_group_layout,
            entries: &entries,
        });
        pop_scope(scope, format_args!("launching kernel `{}`", kernel.name))?;
        self.record(format_args!("kernel `{}`", kernel.name), |enc| {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipe.pipeline);
            pass.set_bind_group(BIND_GROUP, &bind_group, &[]);
            pass.dispatch_workgroups(physical[0], physical[1], physical[2]);
        })
    }

    fn synchronize(&self) -> Result<()> {
        self.wait()?;
        self.take_uncaptured()
    }

    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        let s = self.mem(src)?;
        let d = self.mem(&*dst)?;
        // Both buffers are padded alike (same length), so the padded size
        // is in range of each and a multiple of 4 as wgpu requires.
        self.record("a buffer copy", |enc| {
            enc.copy_buffer_to_buffer(&s.buffer, 0, &d.buffer, 0, padded(s.len));
        })
    }
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
