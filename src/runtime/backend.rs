//! The [`DeviceBackend`] trait every runtime backend implements, and the
//! checked [`KernelArg`]s it receives.

use std::any::Any;
use std::fmt;

use super::{DeviceMemory, Error, KernelSpec, Result};

/// One launch argument, in parameter order.
#[derive(Debug)]
pub enum KernelArg<'a> {
    /// A read-only buffer.
    Buffer(&'a dyn DeviceMemory),
    /// A read-write buffer.
    BufferMut(&'a mut dyn DeviceMemory),
    /// A `u32` scalar.
    U32(u32),
    /// An `i32` scalar.
    I32(i32),
    /// An `f32` scalar.
    F32(f32),
    /// A `bool` scalar.
    Bool(bool),
    /// A `u64` scalar.
    U64(u64),
    /// An `i64` scalar.
    I64(i64),
    /// An `f64` scalar.
    F64(f64),
}

/// A runtime backend: allocates memory and runs kernels on one device.
/// (`Any`, so that [`crate::Device::backend_as`] can hand the concrete
/// backend to interop code.)
pub trait DeviceBackend: Any + Send + Sync + fmt::Debug {
    /// Human-readable device name, e.g. `cuda:0 (NVIDIA H100)`.
    fn name(&self) -> String;
    /// The architecture key tuning tables file this device's measurements under
    /// (`sm_90` on CUDA, `cpu` for the reference interpreter, `wgpu:<backend>:<adapter>` on wgpu).
    /// The default is the device's name.
    fn tune_arch(&self) -> String {
        self.name()
    }
    /// The subgroup size kernels see on this device (what
    /// `subgroup_size()` returns in them), or `None` when the backend does
    /// not say (the default).
    fn subgroup_size(&self) -> Option<u32> {
        None
    }
    /// A zero-filled allocation of `bytes` bytes.
    ///
    /// # Errors
    /// Allocation failure.
    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>>;
    /// An allocation holding a copy of `data`.
    ///
    /// # Errors
    /// Allocation or copy failure.
    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>>;
    /// Copy `data` into existing memory of the same size.
    ///
    /// # Errors
    /// Copy failure.
    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()>;
    /// Copy memory back to the host, after all launches before it finished.
    ///
    /// # Errors
    /// Copy failure.
    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()>;
    /// Run `kernel` over `workgroups` with `args` (already checked against
    /// `kernel.params` by [`Device::launch`](super::Device::launch)). May return before the kernel
    /// finishes; [`DeviceBackend::synchronize`] and [`DeviceBackend::read`]
    /// wait. `kernel` need not be `'static`: a backend caches what it loads
    /// by [`KernelSpec::key`] (see [`super::ModuleCache`]), never by the
    /// reference.
    ///
    /// # Errors
    /// No suitable artifact, load or launch failure.
    fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()>;
    /// Wait for every launch so far.
    ///
    /// # Errors
    /// An asynchronous launch failure.
    fn synchronize(&self) -> Result<()>;
    /// A mark in the device's queue of work, ordered after every earlier
    /// launch, for [`Device::time`](super::Device::time). `None` (the
    /// default): the device has no timer of its own, and `Device::time`
    /// measures on the host around a synchronisation.
    ///
    /// # Errors
    /// The mark cannot be recorded.
    fn mark(&self) -> Result<Option<Box<dyn DeviceMark>>> {
        Ok(None)
    }
    /// A backend for the same device and memory whose work goes into a new
    /// queue that runs independently of this one (a CUDA stream), for
    /// [`Device::new_stream`](super::Device::new_stream). `None` (the
    /// default): the device has one in-order queue, and a "stream" is that
    /// queue again.
    ///
    /// # Errors
    /// The queue cannot be created.
    fn new_stream(&self) -> Result<Option<std::sync::Arc<dyn DeviceBackend>>> {
        Ok(None)
    }
    /// Order the work queued after this call behind `mark` (a mark of a
    /// backend of the same device, possibly another stream's). The default
    /// does nothing: with one in-order queue, everything queued later
    /// already runs after it.
    ///
    /// # Errors
    /// A mark of another device, or the driver fails.
    fn wait_for(&self, mark: &dyn DeviceMark) -> Result<()> {
        let _ = mark;
        Ok(())
    }
    /// Start recording the launches (and device copies) that follow into
    /// a graph instead of running them, until [`DeviceBackend::end_capture`].
    /// The default: [`Error::Unsupported`].
    ///
    /// # Errors
    /// The backend has no graphs, or is already capturing.
    fn begin_capture(&self) -> Result<()> {
        Err(Error::Unsupported {
            backend: self.name(),
            what: "record graphs (they need CUDA or wgpu); launch the kernels one by one"
                .to_string(),
        })
    }
    /// Stop recording and return what was recorded, ready to replay.
    ///
    /// # Errors
    /// Nothing is being captured, or the driver rejects the graph.
    fn end_capture(&self) -> Result<Box<dyn DeviceGraph>> {
        Err(Error::Unsupported {
            backend: self.name(),
            what: "record graphs".to_string(),
        })
    }
    /// Run a graph this backend (or another stream of its device)
    /// recorded, queued like a launch.
    ///
    /// # Errors
    /// A graph of another backend, or the driver fails.
    fn replay(&self, graph: &dyn DeviceGraph) -> Result<()> {
        let _ = graph;
        Err(Error::Unsupported {
            backend: self.name(),
            what: "replay graphs".to_string(),
        })
    }
    /// Copy all of `src` into `dst` (same size, checked by [`Device::copy`](super::Device::copy))
    /// after every earlier launch, like a launch that may return early. The
    /// default goes through the host; backends with a device-side copy
    /// override it.
    ///
    /// # Errors
    /// Copy failure.
    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        let mut host = vec![0u8; src.len_bytes()];
        self.read(src, &mut host)?;
        self.write(dst, &host)
    }
}

/// A point in a device's queue of work, recorded by
/// [`DeviceBackend::mark`] (a CUDA event, a wgpu timestamp query).
pub trait DeviceMark: Any + Send + Sync + fmt::Debug {
    /// The device's time from `earlier` (a mark of the same device) to
    /// this one; waits until the work before this mark has finished.
    ///
    /// # Errors
    /// A mark of another device, or the device fails.
    fn since(&self, earlier: &dyn DeviceMark) -> Result<std::time::Duration>;
}

/// Recorded work, made by [`DeviceBackend::end_capture`] and run by
/// [`DeviceBackend::replay`]; it keeps alive the memory it uses.
pub trait DeviceGraph: Any + Send + Sync + fmt::Debug {
    /// How many launches and copies it holds.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
