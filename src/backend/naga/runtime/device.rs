//! Opening the adapter and the device: [`WgpuOptions`].

use std::sync::{Arc, Mutex, PoisonError};

use super::{ADAPTER_ENV, WgpuBackend, backend_err, no_device};
use crate::runtime::{ModuleCache, Result};

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
    /// Leave subgroup operations off even where the adapter has them (for
    /// testing the error of kernels that need them).
    pub no_subgroups: bool,
    /// Leave 64-bit integers (`wgpu::Features::SHADER_INT64`, which every
    /// kernel with a 64-bit type needs) off even where the adapter has
    /// them (for testing the error of kernels that need them).
    pub no_int64: bool,
    /// Leave `f64` (`wgpu::Features::SHADER_F64`) off even where the
    /// adapter has it (for testing the error of kernels that need it).
    pub no_f64: bool,
    /// Leave timestamp queries off even where the adapter has them:
    /// `Device::time` then measures host time between synchronisations.
    pub no_timestamps: bool,
}

impl WgpuOptions {
    /// The default options, with the adapter taken from `VYRE_WGPU_ADAPTER`
    /// when set.
    #[must_use]
    pub fn from_env() -> Self {
        Self {
            adapter: std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty()),
            force_wgsl: false,
            no_subgroups: false,
            no_int64: false,
            no_f64: false,
            no_timestamps: false,
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

    /// Open the device without subgroup operations even where the adapter
    /// has them: kernels using them then fail their launch.
    #[must_use]
    pub fn with_no_subgroups(mut self, off: bool) -> Self {
        self.no_subgroups = off;
        self
    }

    /// Open the device without 64-bit integers even where the adapter has
    /// them: kernels using any 64-bit type then fail their launch.
    #[must_use]
    pub fn with_no_int64(mut self, off: bool) -> Self {
        self.no_int64 = off;
        self
    }

    /// Open the device without `f64` even where the adapter has it:
    /// kernels using `f64` then fail their launch.
    #[must_use]
    pub fn with_no_f64(mut self, off: bool) -> Self {
        self.no_f64 = off;
        self
    }

    /// Open the device without timestamp queries even where the adapter
    /// has them (to compare launches with and without them).
    #[must_use]
    pub fn with_no_timestamps(mut self, off: bool) -> Self {
        self.no_timestamps = off;
        self
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
        let mut required_features = if passthrough {
            wgpu::Features::PASSTHROUGH_SHADERS
        } else {
            wgpu::Features::empty()
        };
        // Kernels with subgroup operations need it (checked at their
        // launch); the others run without.
        let subgroups =
            !options.no_subgroups && chosen.features().contains(wgpu::Features::SUBGROUP);
        if subgroups {
            required_features |= wgpu::Features::SUBGROUP;
        }
        // Likewise kernels with 64-bit types (`u64 i64 f64`: every one
        // declares `Int64`, `f64` ones `Float64` too).
        // And kernels with `f32` atomics.
        for (feature, off) in [
            (wgpu::Features::SHADER_INT64, options.no_int64),
            (wgpu::Features::SHADER_F64, options.no_f64),
            (wgpu::Features::SHADER_FLOAT32_ATOMIC, false),
        ] {
            if !off && chosen.features().contains(feature) {
                required_features |= feature;
            }
        }
        // `Device::time` writes timestamps between launches where it can.
        let timestamps =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        if !options.no_timestamps && chosen.features().contains(timestamps) {
            required_features |= timestamps;
        }
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
        Ok(Self::with_parts(device, queue, uncaptured))
    }

    /// Run on a device and queue the application already has (zero-copy
    /// interop: buffers of that device can be adopted with
    /// [`WgpuMemory::from_buffer`](super::WgpuMemory::from_buffer)).
    /// Kernels use SPIR-V passthrough when the device was opened with
    /// `wgpu::Features::PASSTHROUGH_SHADERS` on Vulkan, WGSL otherwise,
    /// subgroup operations when it has `wgpu::Features::SUBGROUP`, and
    /// 64-bit types when it has `wgpu::Features::SHADER_INT64` (and
    /// `SHADER_F64` for `f64`), `f32` atomics when it has
    /// `SHADER_FLOAT32_ATOMIC`. The device's uncaptured-error handler stays
    /// the application's: vyre reports its own errors through error scopes.
    #[must_use]
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Self {
        Self::with_parts(device, queue, Arc::default())
    }

    fn with_parts(
        device: wgpu::Device,
        queue: wgpu::Queue,
        uncaptured: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        let info = device.adapter_info();
        let features = device.features();
        let ring = super::binding::UniformRing::new(
            &device,
            device.limits().min_uniform_buffer_offset_alignment,
        );
        Self {
            passthrough: info.backend == wgpu::Backend::Vulkan
                && features.contains(wgpu::Features::PASSTHROUGH_SHADERS),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            int64: features.contains(wgpu::Features::SHADER_INT64),
            f64: features.contains(wgpu::Features::SHADER_F64),
            float_atomics: features.contains(wgpu::Features::SHADER_FLOAT32_ATOMIC),
            timestamps: features.contains(
                wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
            ),
            limits: device.limits(),
            info,
            device,
            queue,
            pipelines: ModuleCache::new(),
            uncaptured,
            pending: Mutex::default(),
            ring: Mutex::new(ring),
            bind_groups: Arc::default(),
            capture: Mutex::default(),
        }
    }

    /// The wgpu device (for interop: the application's own work on it).
    #[must_use]
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue vyre submits to. Call [`crate::Device::synchronize`]
    /// before the application submits work that reads what vyre wrote:
    /// vyre records launches and submits them in batches.
    #[must_use]
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Whether kernels run from SPIR-V passthrough (else from WGSL).
    #[must_use]
    pub fn uses_spirv_passthrough(&self) -> bool {
        self.passthrough
    }

    /// Whether kernels with subgroup operations run on this device (the
    /// adapter has `wgpu::Features::SUBGROUP` and it was requested).
    #[must_use]
    pub fn supports_subgroups(&self) -> bool {
        self.subgroups
    }

    /// Whether kernels with 64-bit integer types run on this device (the
    /// adapter has `wgpu::Features::SHADER_INT64` and it was requested).
    /// Every kernel with a 64-bit type needs it, `f64` ones included.
    #[must_use]
    pub fn supports_int64(&self) -> bool {
        self.int64
    }

    /// Whether kernels with `f64` run on this device (the adapter has
    /// `wgpu::Features::SHADER_F64` and `SHADER_INT64`, and they were
    /// requested). They run from SPIR-V only (WGSL has no `f64`).
    #[must_use]
    pub fn supports_f64(&self) -> bool {
        self.f64 && self.int64
    }

    /// The subgroup size every kernel sees on this device: `Some` when the
    /// device runs subgroup operations and the adapter reports a single
    /// size (its minimum equals its maximum; lavapipe's is 8 with AVX2),
    /// `None` when the size may vary between pipelines (Intel, AMD) or
    /// subgroups are off.
    #[must_use]
    pub fn subgroup_size(&self) -> Option<u32> {
        let (min, max) = (self.info.subgroup_min_size, self.info.subgroup_max_size);
        (self.subgroups && min == max).then_some(min)
    }

    /// Whether [`crate::Device::time`] uses timestamp queries here (the
    /// device writes timestamps between passes), rather than host time.
    #[must_use]
    pub fn timestamps_between_launches(&self) -> bool {
        self.timestamps
    }

    /// The adapter's information.
    #[must_use]
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    pub(super) fn take_uncaptured(&self) -> Result<()> {
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
}
