//! The wgpu runtime: Vulkan, Metal and DX12 (and lavapipe, Vulkan on the
//! CPU) behind [`Device::wgpu`](crate::Device::wgpu).
//!
//! Kernels run from their `spirv` artifact through SPIR-V passthrough when
//! the device is a Vulkan one that supports it (no shader translation at
//! run time), otherwise from their `wgsl` artifact. Kernels with 64-bit
//! types (`u64 i64 f64`) have no `wgsl` artifact and run from SPIR-V only,
//! on a device opened with `SHADER_INT64` (and `SHADER_F64` for `f64`),
//! which [`WgpuBackend`] requests where the adapter has them; elsewhere
//! their launch is an [`Error::Unsupported`] saying why. Buffers and the
//! parameter block follow [`super::layout`]. Pipelines are created once per
//! device and [`KernelSpec::key`] (in a [`ModuleCache`]). The first launch after a synchronisation
//! is submitted at once; later ones are recorded into one command buffer
//! that goes to the GPU at the next read, write, synchronisation or every
//! [`MAX_PENDING`] launches (one submission per launch cost ~25 µs on the
//! H100). Every wgpu error, including validation
//! errors reported asynchronously, comes back as a [`crate::runtime::Error`]; none
//! panics.
//!
//! Split by concern: `device` (the adapter and device, [`WgpuOptions`]),
//! `launch` (pipelines, bind groups, the batching of commands, large
//! grids) and `memory` (buffers, copies, readback).

mod binding;
mod device;
mod graph;
mod launch;
mod memory;
mod timer;

pub use device::WgpuOptions;
pub use launch::fold_grid;
pub use memory::WgpuMemory;

/// The wgpu version this backend is built on, for interop
/// ([`crate::Device::from_wgpu`], [`crate::Device::buffer_from_wgpu`]):
/// devices and buffers must come from this very crate.
pub use wgpu;

use std::sync::{Arc, Mutex};

use crate::runtime::{
    DeviceBackend, DeviceGraph, DeviceMark, DeviceMemory, Error, KernelArg, KernelSpec,
    ModuleCache, Result,
};
use launch::{Pending, Pipeline};

const BACKEND: &str = "wgpu";

/// Launches (and device copies) recorded before the command buffer holding
/// them is submitted anyway.
pub const MAX_PENDING: u32 = 64;

/// Environment variable choosing the adapter: a case-insensitive substring
/// of its name (as `wgpuinfo`/`vulkaninfo` show it), e.g. `llvmpipe`.
pub const ADAPTER_ENV: &str = "VYRE_WGPU_ADAPTER";

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

/// The wgpu runtime backend (see the module docs).
#[derive(Debug)]
pub struct WgpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    passthrough: bool,
    /// Whether `wgpu::Features::SUBGROUP` is enabled.
    subgroups: bool,
    /// Whether `wgpu::Features::SHADER_INT64` is enabled.
    int64: bool,
    /// Whether `wgpu::Features::SHADER_F64` is enabled.
    f64: bool,
    /// Whether `wgpu::Features::SHADER_FLOAT32_ATOMIC` is enabled.
    float_atomics: bool,
    /// Whether timestamps can be written between launches
    /// (`TIMESTAMP_QUERY` and `TIMESTAMP_QUERY_INSIDE_ENCODERS`).
    timestamps: bool,
    pipelines: ModuleCache<Pipeline>,
    /// Errors wgpu reported outside an error scope, surfaced by the next
    /// `synchronize`/`read`.
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Work recorded but not yet submitted.
    pending: Mutex<Pending>,
    /// The launches' uniform slots.
    ring: Mutex<binding::UniformRing>,
    /// Bind groups by pipeline and buffers.
    bind_groups: binding::SharedBindGroups,
    /// The launches and copies of the graph being captured, if any.
    capture: Mutex<Option<Vec<graph::Recorded>>>,
}

/// `what` is formatted only when there is an error to report (launches
/// pass `format_args!`, which costs nothing otherwise).
fn pop_scope(scope: wgpu::ErrorScopeGuard, what: impl std::fmt::Display) -> Result<()> {
    match pollster::block_on(scope.pop()) {
        None => Ok(()),
        Some(e) => Err(backend_err(format!("{what}: {e}"))),
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

    /// `wgpu:<backend>:<adapter>`, lower case (`wgpu:vulkan:nvidia h100 80gb hbm3`).
    fn tune_arch(&self) -> String {
        format!("wgpu:{:?}:{}", self.info.backend, self.info.name).to_lowercase()
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        self.refuse_while_capturing("allocating a buffer")?;
        self.alloc_zeroed_buffer(bytes)
    }

    fn subgroup_size(&self) -> Option<u32> {
        WgpuBackend::subgroup_size(self)
    }

    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        self.refuse_while_capturing("uploading a buffer")?;
        self.upload_buffer(data)
    }

    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        self.refuse_while_capturing("writing a buffer")?;
        self.write_buffer(mem, data)
    }

    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        self.refuse_while_capturing("downloading a buffer")?;
        self.read_buffer(mem, out)
    }

    fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        self.launch_kernel(kernel, workgroups, args)
    }

    fn synchronize(&self) -> Result<()> {
        self.refuse_while_capturing("synchronizing")?;
        self.wait()?;
        self.take_uncaptured()
    }

    fn mark(&self) -> Result<Option<Box<dyn DeviceMark>>> {
        self.refuse_while_capturing("recording an event")?;
        self.timestamp_mark()
    }

    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        self.copy_buffer(src, dst)
    }

    fn begin_capture(&self) -> Result<()> {
        self.begin_graph()
    }

    fn end_capture(&self) -> Result<Box<dyn DeviceGraph>> {
        self.end_graph()
    }

    fn replay(&self, graph: &dyn DeviceGraph) -> Result<()> {
        self.replay_graph(graph)
    }
}
