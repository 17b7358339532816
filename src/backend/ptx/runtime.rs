//! The CUDA runtime backend, over cudarc's driver API bindings (loaded
//! dynamically: a binary built with the `cuda` feature runs, and reports
//! [`Error::NoDevice`], on machines without the NVIDIA driver).
//!
//! Memory is a raw `CUdeviceptr` per buffer, reference-counted so that a
//! CUDA graph keeps alive what it uses. A device's first handle launches on
//! the context's default (legacy) stream, [`DeviceBackend::new_stream`]
//! handles on blocking streams of their own; the synchronous copies in
//! `read`/`write` go through the legacy stream, so they are ordered after
//! earlier launches of every stream without extra events. Modules are
//! loaded once per device, shared by its streams, and cached by
//! [`KernelSpec::key`]; the launch path does one map lookup and fills a
//! small argument array on the stack (see the parameter layout in
//! [`super`]).

use crate::ir::DataType;
use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex, PoisonError};

use cudarc::driver::{CudaContext, DriverError, result, sys};

/// The cudarc version this backend is built on, for interop (raw device
/// pointers from [`CudaMemory::device_ptr`], the same primary context).
pub use cudarc;

use crate::runtime::{
    ArtifactWant, DeviceBackend, DeviceGraph, DeviceMark, DeviceMemory, Error, KernelArg,
    KernelSpec, ModuleCache, ParamSpec, Result, downcast_memory,
};

const BACKEND: &str = "cuda";

fn driver_err(what: &str, e: &DriverError) -> Error {
    let name = e
        .error_name()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", e.0));
    let text = e
        .error_string()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    Error::Backend {
        backend: BACKEND.to_string(),
        message: format!("{what}: {name} ({text})"),
    }
}

/// A loaded module and its kernel entry.
#[derive(Debug)]
struct Loaded {
    module: sys::CUmodule,
    function: sys::CUfunction,
    /// Dynamic shared memory of every launch, in bytes: the module's
    /// `vyre_dyn_shared_bytes` (a kernel above the static 48 KiB), else 0.
    shared_bytes: u32,
}

// SAFETY: CUDA module and function handles are context-wide, usable from
// any thread that binds the context (the backend binds before every call).
unsafe impl Send for Loaded {}
// SAFETY: as above; the handles are immutable once loaded.
unsafe impl Sync for Loaded {}

/// What every stream of one CUDA device shares: the context and the
/// modules loaded into it (unloaded when the last stream and graph go).
struct Shared {
    ctx: Arc<CudaContext>,
    arch: String,
    name: String,
    modules: ModuleCache<Loaded>,
    /// `VYRE_CUDA_FORCE_PTX` set: ignore embedded cubins and let the driver
    /// JIT the PTX (to compare start-up times, or to work around a bad cubin).
    force_ptx: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_err() {
            return;
        }
        // Queued launches may still use the modules: wait first.
        let _ = result::ctx::synchronize();
        for loaded in self.modules.drain() {
            // SAFETY: modules loaded by this device, unloaded once, after
            // every launch using them finished.
            let _ = unsafe { result::module::unload(loaded.module) };
        }
    }
}

/// A CUDA stream handle: null for the legacy default stream, else one this
/// backend created and destroys.
struct Stream {
    raw: sys::CUstream,
    ctx: Arc<CudaContext>,
}

// SAFETY: a stream handle is context-wide; every use binds the context.
unsafe impl Send for Stream {}
// SAFETY: as above; the handle is only passed to the driver.
unsafe impl Sync for Stream {}

impl Stream {
    /// A new stream of the bound context: `Default` ones synchronise with
    /// the legacy stream (the device's reads and writes), `NonBlocking`
    /// ones do not (graph capture).
    fn create(ctx: &Arc<CudaContext>, kind: result::stream::StreamKind) -> Result<Self> {
        let raw = result::stream::create(kind).map_err(|e| driver_err("creating a stream", &e))?;
        Ok(Self {
            raw,
            ctx: Arc::clone(ctx),
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.raw.is_null() && self.ctx.bind_to_thread().is_ok() {
            // SAFETY: created by `Stream::create`, destroyed once; the
            // driver finishes its queued work first.
            let _ = unsafe { result::stream::destroy(self.raw) };
        }
    }
}

/// A graph being recorded: the stream it is captured on and the memory
/// its launches use.
struct Capture {
    stream: Stream,
    keep: Vec<Arc<Allocation>>,
    nodes: usize,
}

/// A CUDA device (one primary context, its modules) and the stream this
/// handle launches on.
pub struct CudaBackend {
    shared: Arc<Shared>,
    stream: Stream,
    /// The graph [`DeviceBackend::begin_capture`] started, if any.
    capture: Mutex<Option<Capture>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("name", &self.shared.name)
            .field("arch", &self.shared.arch)
            .field("stream", &self.stream.raw)
            .finish_non_exhaustive()
    }
}

impl CudaBackend {
    /// Open device `ordinal`.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when there is no driver or no such device.
    pub fn new(ordinal: usize) -> Result<Self> {
        let no_device = |reason: String| Error::NoDevice {
            backend: BACKEND.to_string(),
            reason,
        };
        // SAFETY: only tries to dlopen the driver library.
        if !unsafe { sys::is_culib_present() } {
            return Err(no_device(
                "the CUDA driver library (libcuda.so / nvcuda.dll) was not found; install the NVIDIA driver or use another device".to_string(),
            ));
        }
        // cudarc panics when a driver symbol it expects is missing (a driver
        // older than the bindings); turn that into an error too.
        let opened = std::panic::catch_unwind(|| -> std::result::Result<_, String> {
            result::init().map_err(|e| format!("cuInit failed: {e:?}"))?;
            let count = result::device::get_count().map_err(|e| format!("{e:?}"))?;
            if count <= 0 {
                return Err("the CUDA driver reports no GPU".to_string());
            }
            if ordinal >= count as usize {
                return Err(format!(
                    "device ordinal {ordinal} requested but only {count} GPU(s) present"
                ));
            }
            CudaContext::new(ordinal).map_err(|e| format!("{e:?}"))
        });
        match opened {
            Ok(Ok(ctx)) => Self::from_context(ctx),
            Ok(Err(reason)) => Err(no_device(reason)),
            Err(_) => Err(no_device(
                "the CUDA driver is too old for vyre's bindings (a driver entry point is missing); update the NVIDIA driver".to_string(),
            )),
        }
    }

    /// Run on a cudarc context the application already has (interop: its
    /// `CudaSlice`s can be adopted with [`CudaMemory::from_cuda_slice`]).
    /// vyre launches on the context's legacy default stream: work the
    /// application queues on other streams is ordered with vyre's by
    /// synchronising (adoption and hand-back do), or by the legacy
    /// stream's implicit ordering for blocking streams.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when the device cannot be queried.
    pub fn from_context(ctx: Arc<CudaContext>) -> Result<Self> {
        let (major, minor) = ctx.compute_capability().map_err(|e| Error::NoDevice {
            backend: BACKEND.to_string(),
            reason: format!("{e:?}"),
        })?;
        let gpu = ctx.name().unwrap_or_else(|_| "unknown GPU".to_string());
        let arch = format!("sm_{major}{minor}");
        Ok(Self {
            stream: Stream {
                raw: std::ptr::null_mut(),
                ctx: Arc::clone(&ctx),
            },
            shared: Arc::new(Shared {
                name: format!("cuda:{} ({gpu}, {arch})", ctx.ordinal()),
                ctx,
                arch,
                modules: ModuleCache::new(),
                force_ptx: std::env::var_os("VYRE_CUDA_FORCE_PTX").is_some_and(|v| v != "0"),
            }),
            capture: Mutex::new(None),
        })
    }

    /// The cudarc context (interop).
    #[must_use]
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.shared.ctx
    }

    /// The raw stream this handle launches on (null: the legacy default
    /// stream), for interop with code that queues its own work.
    #[must_use]
    pub fn stream(&self) -> sys::CUstream {
        self.stream.raw
    }

    /// The device's architecture, `sm_XY`.
    #[must_use]
    pub fn arch(&self) -> &str {
        &self.shared.arch
    }

    fn bind(&self) -> Result<()> {
        self.shared
            .ctx
            .bind_to_thread()
            .map_err(|e| driver_err("binding the CUDA context", &e))
    }

    /// Bind the context, refusing `what` while a graph is being captured
    /// (it would run now, out of the graph's order, or break the capture).
    fn bind_outside_capture(&self, what: &str) -> Result<()> {
        if self.lock_capture().is_some() {
            return Err(Error::WhileCapturing {
                what: what.to_string(),
            });
        }
        self.bind()
    }

    fn lock_capture(&self) -> std::sync::MutexGuard<'_, Option<Capture>> {
        self.capture.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream the next launch or copy goes to (the capture stream
    /// while capturing), after keeping the memory it uses alive in the
    /// graph.
    fn queue_for<'m>(&self, uses: impl IntoIterator<Item = &'m CudaMemory>) -> sys::CUstream {
        let mut capture = self.lock_capture();
        match capture.as_mut() {
            Some(c) => {
                c.keep
                    .extend(uses.into_iter().map(|m| Arc::clone(&m.alloc)));
                c.nodes += 1;
                c.stream.raw
            }
            None => self.stream.raw,
        }
    }

    /// The loaded kernel of `spec`, loading it on first use: the cubin for
    /// this device's arch when embedded (an `sm_XYa` one before `sm_XY`),
    /// else the PTX (JIT by the driver).
    fn function(&self, spec: &KernelSpec<'_>) -> Result<Arc<Loaded>> {
        self.shared
            .modules
            .get_or_try_insert(spec, || self.load(spec))
    }

    fn load(&self, spec: &KernelSpec<'_>) -> Result<Loaded> {
        let mut failures = Vec::new();
        // An `sm_XYa` cubin (architecture-specific features such as
        // sm_90a's `wgmma`) runs on exactly its architecture: first choice.
        let specific = format!("{}a", self.shared.arch);
        let cubin_specific = ArtifactWant::arch("cubin", &specific);
        let cubin = ArtifactWant::arch("cubin", &self.shared.arch);
        let ptx = ArtifactWant::target("ptx");
        let wants: &[ArtifactWant<'_>] = if self.shared.force_ptx {
            &[ptx]
        } else {
            &[cubin_specific, cubin, ptx]
        };
        let candidates: Vec<Vec<u8>> = spec
            .select_artifacts(&self.shared.name, wants)?
            .into_iter()
            .map(|a| {
                let mut image = a.bytes.to_vec();
                if a.target == "ptx" {
                    // cuModuleLoadData reads PTX as a NUL-terminated string.
                    image.push(0);
                }
                image
            })
            .collect();
        let entry = CString::new(spec.name).map_err(|_| Error::BadArguments {
            kernel: spec.name.to_string(),
            reason: "kernel name contains a NUL byte".to_string(),
        })?;
        for image in candidates {
            // SAFETY: `image` is a cubin or NUL-terminated PTX that outlives
            // the call (the driver copies it).
            let module = match unsafe { result::module::load_data(image.as_ptr().cast()) } {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{e:?}"));
                    continue;
                }
            };
            // SAFETY: `module` was just loaded in the bound context.
            match unsafe { result::module::get_function(module, entry.clone()) } {
                Ok(function) => {
                    return match self.opt_in_shared(module, function, spec.name, &image) {
                        Ok(shared_bytes) => Ok(Loaded {
                            module,
                            function,
                            shared_bytes,
                        }),
                        Err(e) => {
                            // SAFETY: unloading the module we own.
                            let _ = unsafe { result::module::unload(module) };
                            Err(e)
                        }
                    };
                }
                Err(e) => {
                    failures.push(format!("{e:?}"));
                    // SAFETY: unloading the module we own.
                    let _ = unsafe { result::module::unload(module) };
                }
            }
        }
        Err(Error::Backend {
            backend: BACKEND.to_string(),
            message: format!(
                "could not load kernel `{}` on {}: {}",
                spec.name,
                self.shared.name,
                failures.join("; ")
            ),
        })
    }

    /// The dynamic shared memory `function` of `module` needs: the module's
    /// `vyre_dyn_shared_bytes` global (absent: 0). Above 48 KiB the function
    /// is opted in (`CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`) after
    /// checking the device's per-block opt-in maximum. The driver is asked
    /// for the global only when `image` (the PTX text or the cubin, whose
    /// symbol table holds the name) mentions it: a failed lookup is an API
    /// error that `compute-sanitizer` counts against every other kernel.
    fn opt_in_shared(
        &self,
        module: sys::CUmodule,
        function: sys::CUfunction,
        kernel: &str,
        image: &[u8],
    ) -> Result<u32> {
        let name = super::DYN_SHARED_BYTES.as_bytes();
        if !image.windows(name.len()).any(|w| w == name) {
            return Ok(0);
        }
        let symbol = CString::new(super::DYN_SHARED_BYTES).unwrap_or_default();
        // SAFETY: `module` is loaded in the bound context.
        let Ok((ptr, size)) = (unsafe { result::module::get_global(module, symbol) }) else {
            return Ok(0);
        };
        if size < 4 {
            return Ok(0);
        }
        let mut value = [0u32; 1];
        // SAFETY: `ptr` is a live global of at least 4 bytes of this module.
        unsafe { result::memcpy_dtoh_sync(&mut value, ptr) }.map_err(|e| {
            driver_err(&format!("reading the shared memory size of `{kernel}`"), &e)
        })?;
        let bytes = value[0];
        if bytes == 0 {
            return Ok(0);
        }
        let limit = self
            .shared
            .ctx
            .attribute(
                sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )
            .map_err(|e| driver_err("querying the shared memory limit", &e))?;
        let limit = u32::try_from(limit).unwrap_or(0);
        if bytes > limit {
            return Err(Error::Backend {
                backend: BACKEND.to_string(),
                message: format!(
                    "kernel `{kernel}` needs {bytes} bytes of shared memory per workgroup; {} allows at most {limit}",
                    self.shared.name
                ),
            });
        }
        let value = i32::try_from(bytes).unwrap_or(i32::MAX);
        // SAFETY: `function` is a live function of the bound context.
        unsafe {
            result::function::set_function_attribute(
                function,
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                value,
            )
        }
        .map_err(|e| {
            driver_err(
                &format!("allowing `{kernel}` {bytes} bytes of shared memory"),
                &e,
            )
        })?;
        Ok(bytes)
    }

    fn alloc(&self, bytes: usize) -> Result<CudaMemory> {
        self.bind_outside_capture("allocating a buffer")?;
        // Zero-length buffers still get a real (4-byte) allocation so that
        // every kernel pointer argument is valid.
        let size = bytes.max(4);
        // SAFETY: plain allocation in the bound context.
        let ptr = unsafe { result::malloc_sync(size) }
            .map_err(|e| driver_err(&format!("allocating {bytes} bytes"), &e))?;
        Ok(CudaMemory {
            alloc: Arc::new(Allocation {
                ptr,
                bytes,
                ctx: Arc::clone(&self.shared.ctx),
                owner: Owner::Vyre,
            }),
        })
    }
}

/// Who frees an [`Allocation`].
enum Owner {
    /// vyre allocated it (`cuMemAlloc`) and frees it.
    Vyre,
    /// An adopted cudarc `CudaSlice<T>`, kept whole: cudarc frees it its
    /// own way (stream-ordered where it allocated so), or hands it back.
    Cudarc(Box<dyn std::any::Any + Send + Sync>),
    /// Handed back to cudarc; nothing to free.
    Gone,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Vyre => "Vyre",
            Self::Cudarc(_) => "Cudarc",
            Self::Gone => "Gone",
        })
    }
}

/// One device allocation, shared by its buffer and the graphs that use it.
#[derive(Debug)]
struct Allocation {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    ctx: Arc<CudaContext>,
    owner: Owner,
}

impl Drop for Allocation {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.owner, Owner::Gone) {
            Owner::Vyre => {
                if self.ctx.bind_to_thread().is_ok() {
                    // SAFETY: `ptr` came from `malloc_sync` in this context
                    // and is freed once, when no buffer or graph holds it
                    // (`cuMemFree` waits for the launches using it). A
                    // failure here cannot be reported from `drop`.
                    let _ = unsafe { result::free_sync(self.ptr) };
                }
            }
            // Launches on vyre's streams finish before cudarc's free
            // (stream-ordered on the slice's stream) can reuse the memory.
            Owner::Cudarc(slice) => {
                if self.ctx.bind_to_thread().is_ok() {
                    let _ = result::ctx::synchronize();
                }
                drop(slice);
            }
            Owner::Gone => {}
        }
    }
}

/// Device memory of the CUDA backend.
#[derive(Debug)]
pub struct CudaMemory {
    alloc: Arc<Allocation>,
}

impl CudaMemory {
    /// The raw device address (for interop and benchmarks).
    #[must_use]
    pub fn device_ptr(&self) -> sys::CUdeviceptr {
        self.alloc.ptr
    }

    fn bytes(&self) -> usize {
        self.alloc.bytes
    }

    /// Adopt a cudarc slice without a copy. Its stream is synchronised
    /// first, so that vyre's launches see what cudarc wrote; the slice is
    /// kept, and freed by cudarc when the buffer (and every graph using
    /// it) is dropped, or handed back by [`CudaMemory::into_cuda_slice`].
    ///
    /// # Errors
    /// The synchronisation fails.
    pub fn from_cuda_slice<T: cudarc::driver::DeviceRepr + 'static>(
        slice: cudarc::driver::CudaSlice<T>,
    ) -> Result<Self> {
        use cudarc::driver::DevicePtr;
        let stream = Arc::clone(slice.stream());
        let ctx = Arc::clone(slice.context());
        let bytes = slice.len() * std::mem::size_of::<T>();
        let (ptr, sync) = slice.device_ptr(&stream);
        drop(sync);
        stream
            .synchronize()
            .map_err(|e| driver_err("synchronising the adopted slice's stream", &e))?;
        Ok(Self {
            alloc: Arc::new(Allocation {
                ptr,
                bytes,
                ctx,
                owner: Owner::Cudarc(Box::new(slice)),
            }),
        })
    }

    /// The cudarc slice this memory was adopted from, back, after vyre's
    /// work on it has finished; `Err(self)` for memory vyre allocated, a
    /// slice of another element type, or memory a live [`crate::runtime::Graph`]
    /// still uses.
    ///
    /// # Errors
    /// `self`, unchanged, when there is no such slice.
    pub fn into_cuda_slice<T: cudarc::driver::DeviceRepr + 'static>(
        self,
    ) -> std::result::Result<cudarc::driver::CudaSlice<T>, Self> {
        let mut alloc = match Arc::try_unwrap(self.alloc) {
            Ok(alloc) => alloc,
            Err(shared) => return Err(Self { alloc: shared }),
        };
        let owner = std::mem::replace(&mut alloc.owner, Owner::Gone);
        match owner {
            Owner::Cudarc(any) => match any.downcast::<cudarc::driver::CudaSlice<T>>() {
                Ok(slice) => {
                    if alloc.ctx.bind_to_thread().is_ok() {
                        // vyre's launches ran on its own streams; the
                        // slice's stream must not overtake them.
                        let _ = result::ctx::synchronize();
                    }
                    Ok(*slice)
                }
                Err(any) => {
                    alloc.owner = Owner::Cudarc(any);
                    Err(Self {
                        alloc: Arc::new(alloc),
                    })
                }
            },
            other => {
                alloc.owner = other;
                Err(Self {
                    alloc: Arc::new(alloc),
                })
            }
        }
    }
}

impl DeviceMemory for CudaMemory {
    fn len_bytes(&self) -> usize {
        self.alloc.bytes
    }
}

fn cuda_mem(mem: &dyn DeviceMemory) -> Result<&CudaMemory> {
    downcast_memory(mem, BACKEND)
}

/// Inline capacity of the launch argument array (a buffer takes 2 slots).
const INLINE_SLOTS: usize = 32;

impl DeviceBackend for CudaBackend {
    fn name(&self) -> String {
        self.shared.name.clone()
    }

    /// The compute capability, `sm_90`.
    fn tune_arch(&self) -> String {
        self.shared.arch.clone()
    }

    /// A warp: the emitter builds every kernel for 32-thread warps (the
    /// warp size of every NVIDIA architecture), whatever is asked here.
    fn subgroup_size(&self) -> Option<u32> {
        Some(super::WARP_SIZE)
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        let mem = self.alloc(bytes)?;
        // SAFETY: writes within the allocation just made.
        unsafe { result::memset_d8_sync(mem.device_ptr(), 0, bytes.max(4)) }
            .map_err(|e| driver_err("zeroing device memory", &e))?;
        Ok(Box::new(mem))
    }

    fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        let mem = self.alloc(data.len())?;
        if !data.is_empty() {
            // SAFETY: the allocation holds at least `data.len()` bytes.
            unsafe { result::memcpy_htod_sync(mem.device_ptr(), data) }
                .map_err(|e| driver_err("copying to the device", &e))?;
        }
        Ok(Box::new(mem))
    }

    fn write(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        let m = cuda_mem(&*mem)?;
        if data.len() != m.bytes() {
            return Err(Error::LengthMismatch {
                buffer: m.bytes() / 4,
                host: data.len() / 4,
            });
        }
        self.bind_outside_capture("writing a buffer")?;
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: sizes checked equal above; the legacy-stream copy waits
        // for the launches of every blocking stream before it.
        unsafe { result::memcpy_htod_sync(m.device_ptr(), data) }
            .map_err(|e| driver_err("copying to the device", &e))
    }

    fn read(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let m = cuda_mem(mem)?;
        if out.len() != m.bytes() {
            return Err(Error::LengthMismatch {
                buffer: m.bytes() / 4,
                host: out.len() / 4,
            });
        }
        self.bind_outside_capture("downloading a buffer")?;
        if out.is_empty() {
            // Still surface asynchronous launch failures.
            return self.synchronize();
        }
        // SAFETY: sizes checked equal above; the legacy-stream copy waits
        // for earlier launches of every blocking stream.
        unsafe { result::memcpy_dtoh_sync(out, m.device_ptr()) }
            .map_err(|e| driver_err("copying from the device (or an earlier kernel failed)", &e))
    }

    fn copy(&self, src: &dyn DeviceMemory, dst: &mut dyn DeviceMemory) -> Result<()> {
        let s = cuda_mem(src)?;
        let d = cuda_mem(&*dst)?;
        self.bind()?;
        let stream = self.queue_for([s, d]);
        // SAFETY: both allocations hold `s.bytes()` bytes (Device::copy
        // checked the lengths); on this handle's stream, like its launches.
        unsafe { result::memcpy_dtod_async(d.device_ptr(), s.device_ptr(), s.bytes(), stream) }
            .map_err(|e| driver_err("copying between device buffers", &e))
    }

    fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        if workgroups[0] > i32::MAX as u32 || workgroups[1] > 65535 || workgroups[2] > 65535 {
            return Err(Error::InvalidGrid {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "{workgroups:?} workgroups exceed CUDA's grid limits [2^31-1, 65535, 65535]"
                ),
            });
        }
        self.bind()?;
        let loaded = self.function(kernel)?;
        // Each parameter value lives in a u64 slot; u32-sized parameters
        // occupy its low half (all CUDA hosts are little-endian).
        let slots_needed: usize = args
            .iter()
            .map(|a| match a {
                KernelArg::Buffer(_) | KernelArg::BufferMut(_) => 2,
                _ => 1,
            })
            .sum();
        let mut inline_vals = [0u64; INLINE_SLOTS];
        let mut heap_vals = Vec::new();
        let vals: &mut [u64] = if slots_needed <= INLINE_SLOTS {
            &mut inline_vals[..slots_needed]
        } else {
            heap_vals.resize(slots_needed, 0u64);
            &mut heap_vals
        };
        let mut n = 0;
        for (i, arg) in args.iter().enumerate() {
            let mem = match arg {
                KernelArg::Buffer(mem) => Some(cuda_mem(*mem)?),
                KernelArg::BufferMut(mem) => Some(cuda_mem(&**mem)?),
                KernelArg::U32(v) => {
                    vals[n] = u64::from(*v);
                    None
                }
                KernelArg::I32(v) => {
                    vals[n] = u64::from(v.cast_unsigned());
                    None
                }
                KernelArg::F32(v) => {
                    vals[n] = u64::from(v.to_bits());
                    None
                }
                KernelArg::Bool(v) => {
                    vals[n] = u64::from(*v);
                    None
                }
                // A `.u64`/`.s64`/`.f64` parameter: the whole slot.
                KernelArg::U64(v) => {
                    vals[n] = *v;
                    None
                }
                KernelArg::I64(v) => {
                    vals[n] = v.cast_unsigned();
                    None
                }
                KernelArg::F64(v) => {
                    vals[n] = v.to_bits();
                    None
                }
            };
            match mem {
                Some(m) => {
                    vals[n] = m.device_ptr();
                    vals[n + 1] = elem_len(m, kernel, i)?;
                    n += 2;
                }
                None => n += 1,
            }
        }
        // Tile copies' tensor maps go after the kernel's own parameters.
        let mut maps: Vec<sys::CUtensorMap> = kernel
            .tensor_maps
            .iter()
            .map(|m| tensor_map(kernel, args, m))
            .collect::<Result<_>>()?;
        let total = n + maps.len();
        let mut inline_ptrs = [std::ptr::null_mut::<c_void>(); INLINE_SLOTS];
        let mut heap_ptrs = Vec::new();
        let ptrs: &mut [*mut c_void] = if total <= INLINE_SLOTS {
            &mut inline_ptrs[..total]
        } else {
            heap_ptrs.resize(total, std::ptr::null_mut());
            &mut heap_ptrs
        };
        for (p, v) in ptrs.iter_mut().zip(vals.iter_mut()) {
            *p = std::ptr::from_mut(v).cast();
        }
        for (p, m) in ptrs[n..].iter_mut().zip(maps.iter_mut()) {
            *p = std::ptr::from_mut(m).cast();
        }
        let [bx, by, bz] = kernel.workgroup_size;
        // The buffers again (no list built per launch): a capture keeps them.
        let stream = self.queue_for(args.iter().filter_map(|a| match a {
            KernelArg::Buffer(m) => cuda_mem(*m).ok(),
            KernelArg::BufferMut(m) => cuda_mem(&**m).ok(),
            _ => None,
        }));
        // SAFETY: `ptrs` holds one pointer per kernel parameter, in the
        // emitter's layout, each to a live value of the parameter's size;
        // buffer pointers are live allocations of this context (kept alive
        // by a graph being captured) whose lengths the kernel checks
        // (unless unchecked, whose launcher is `unsafe`).
        unsafe {
            result::launch_kernel(
                loaded.function,
                (workgroups[0], workgroups[1], workgroups[2]),
                (bx, by, bz),
                loaded.shared_bytes,
                stream,
                ptrs,
            )
        }
        .map_err(|e| driver_err(&format!("launching `{}`", kernel.name), &e))
    }

    fn synchronize(&self) -> Result<()> {
        self.bind_outside_capture("synchronizing")?;
        result::ctx::synchronize().map_err(|e| driver_err("kernel execution", &e))
    }

    /// A CUDA event recorded on this handle's stream, where its launches
    /// go.
    fn mark(&self) -> Result<Option<Box<dyn DeviceMark>>> {
        self.bind_outside_capture("recording an event")?;
        let event = result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT)
            .map_err(|e| driver_err("creating an event", &e))?;
        let mark = CudaMark {
            event,
            ctx: Arc::clone(&self.shared.ctx),
        };
        // SAFETY: a live event and stream of this context.
        unsafe { result::event::record(mark.event, self.stream.raw) }
            .map_err(|e| driver_err("recording an event", &e))?;
        Ok(Some(Box::new(mark)))
    }

    /// A blocking stream of the same context: ordered with the legacy
    /// stream (the device's copies) but not with the device's other
    /// streams.
    fn new_stream(&self) -> Result<Option<Arc<dyn DeviceBackend>>> {
        self.bind_outside_capture("creating a stream")?;
        let stream = Stream::create(&self.shared.ctx, result::stream::StreamKind::Default)?;
        Ok(Some(Arc::new(Self {
            shared: Arc::clone(&self.shared),
            stream,
            capture: Mutex::new(None),
        })))
    }

    fn wait_for(&self, mark: &dyn DeviceMark) -> Result<()> {
        let mark = cuda_mark(mark)?;
        if !Arc::ptr_eq(&mark.ctx, &self.shared.ctx) {
            return Err(foreign_mark());
        }
        self.bind_outside_capture("waiting for an event")?;
        // SAFETY: a live event and stream of this context.
        unsafe {
            result::stream::wait_event(
                self.stream.raw,
                mark.event,
                sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
            )
        }
        .map_err(|e| driver_err("waiting for an event", &e))
    }

    /// Capture on a non-blocking stream of its own (the legacy stream
    /// cannot be captured), in relaxed mode: vyre itself refuses what
    /// cannot be captured ([`Error::WhileCapturing`]).
    fn begin_capture(&self) -> Result<()> {
        self.bind_outside_capture("starting another capture")?;
        let stream = Stream::create(&self.shared.ctx, result::stream::StreamKind::NonBlocking)?;
        // SAFETY: a live stream of the bound context.
        unsafe {
            result::stream::begin_capture(
                stream.raw,
                sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED,
            )
        }
        .map_err(|e| driver_err("starting a graph capture", &e))?;
        *self.lock_capture() = Some(Capture {
            stream,
            keep: Vec::new(),
            nodes: 0,
        });
        Ok(())
    }

    fn end_capture(&self) -> Result<Box<dyn DeviceGraph>> {
        let capture = self.lock_capture().take().ok_or_else(|| Error::Backend {
            backend: BACKEND.to_string(),
            message: "no graph is being captured".to_string(),
        })?;
        self.bind()?;
        // SAFETY: the stream is capturing (begun above, ended once).
        let graph = unsafe { result::stream::end_capture(capture.stream.raw) }
            .map_err(|e| driver_err("ending a graph capture", &e))?;
        let mut recorded = CudaGraph {
            graph,
            exec: std::ptr::null_mut(),
            nodes: capture.nodes,
            keep: capture.keep,
            shared: Arc::clone(&self.shared),
        };
        // SAFETY: a graph just captured in this context.
        recorded.exec =
            unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) }
                .map_err(|e| driver_err("instantiating the captured graph", &e))?;
        Ok(Box::new(recorded))
    }

    fn replay(&self, graph: &dyn DeviceGraph) -> Result<()> {
        let graph = (graph as &dyn std::any::Any)
            .downcast_ref::<CudaGraph>()
            .filter(|g| Arc::ptr_eq(&g.shared, &self.shared))
            .ok_or_else(|| Error::Backend {
                backend: BACKEND.to_string(),
                message: "replaying a graph captured on another device".to_string(),
            })?;
        self.bind_outside_capture("replaying a graph")?;
        // SAFETY: a live executable graph of this context, whose memory
        // and modules it keeps alive.
        unsafe { result::graph::launch(graph.exec, self.stream.raw) }
            .map_err(|e| driver_err("replaying a graph", &e))
    }
}

/// A captured CUDA graph, instantiated, with what its kernels use.
struct CudaGraph {
    graph: sys::CUgraph,
    exec: sys::CUgraphExec,
    nodes: usize,
    /// The memory its launches read and write.
    keep: Vec<Arc<Allocation>>,
    /// The modules of its kernels.
    shared: Arc<Shared>,
}

// SAFETY: graph handles are context-wide; every use binds the context.
unsafe impl Send for CudaGraph {}
// SAFETY: as above; launching an executable graph does not mutate it.
unsafe impl Sync for CudaGraph {}

impl std::fmt::Debug for CudaGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaGraph")
            .field("nodes", &self.nodes)
            .field("buffers", &self.keep.len())
            .finish_non_exhaustive()
    }
}

impl DeviceGraph for CudaGraph {
    fn len(&self) -> usize {
        self.nodes
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        if self.shared.ctx.bind_to_thread().is_err() {
            return;
        }
        // Replays still queued use the graph and its memory.
        let _ = result::ctx::synchronize();
        // SAFETY: created once at capture, destroyed once.
        unsafe {
            if !self.exec.is_null() {
                let _ = result::graph::exec_destroy(self.exec);
            }
            let _ = result::graph::destroy(self.graph);
        }
    }
}

fn foreign_mark() -> Error {
    Error::Backend {
        backend: BACKEND.to_string(),
        message: "an event or mark of another device".to_string(),
    }
}

fn cuda_mark(mark: &dyn DeviceMark) -> Result<&CudaMark> {
    (mark as &dyn std::any::Any)
        .downcast_ref::<CudaMark>()
        .ok_or_else(foreign_mark)
}

/// A CUDA event: [`DeviceBackend::mark`] of the CUDA backend.
#[derive(Debug)]
struct CudaMark {
    event: sys::CUevent,
    ctx: Arc<CudaContext>,
}

// SAFETY: an event handle is context-wide; every use binds the context.
unsafe impl Send for CudaMark {}
// SAFETY: as above; the handle is only read.
unsafe impl Sync for CudaMark {}

impl DeviceMark for CudaMark {
    fn since(&self, earlier: &dyn DeviceMark) -> Result<std::time::Duration> {
        let earlier = cuda_mark(earlier)?;
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_err("binding the context", &e))?;
        // SAFETY: both events are live and recorded, this one after
        // `earlier`.
        let ms = unsafe {
            result::event::synchronize(self.event)
                .and_then(|()| result::event::elapsed(earlier.event, self.event))
        }
        .map_err(|e| driver_err("timing between events", &e))?;
        Ok(std::time::Duration::from_secs_f64(
            f64::from(ms.max(0.0)) / 1e3,
        ))
    }
}

impl Drop for CudaMark {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: created once, destroyed once (the driver releases it
            // after the work it waits on).
            let _ = unsafe { result::event::destroy(self.event) };
        }
    }
}

/// The tensor map of `spec` for this launch: the buffer as a row-major
/// `min(rows, len / cols) x cols` matrix, boxes of `box_rows` rows and one
/// 128-byte panel, swizzled by 128 bytes, zero outside. A matrix the copy
/// engine cannot take (no rows or columns, a row not a multiple of 16
/// bytes) gets an all-zero map: the kernel tests the same conditions
/// (`mid::tile::tma_guard`) and copies element by element instead.
fn tensor_map(
    kernel: &KernelSpec<'_>,
    args: &[KernelArg<'_>],
    spec: &crate::runtime::TensorMapSpec,
) -> Result<sys::CUtensorMap> {
    use sys::{
        CUtensorMapDataType as T, CUtensorMapFloatOOBfill as Fill,
        CUtensorMapInterleave as Interleave, CUtensorMapL2promotion as L2,
        CUtensorMapSwizzle as Swizzle,
    };
    let bad = |reason: String| Error::BadArguments {
        kernel: kernel.name.to_string(),
        reason,
    };
    let mem = match args.get(spec.buffer as usize) {
        Some(KernelArg::Buffer(m)) => cuda_mem(*m)?,
        Some(KernelArg::BufferMut(m)) => cuda_mem(&**m)?,
        _ => {
            return Err(bad(format!(
                "parameter {}, a tile copy's source, is not a buffer",
                spec.buffer
            )));
        }
    };
    let elem = match kernel.params.get(spec.buffer as usize) {
        Some(ParamSpec::Buffer { elem, .. }) => *elem,
        _ => return Err(bad("a tile copy's source is not a buffer parameter".into())),
    };
    let size = elem.size_bytes();
    let len = elem_len(mem, kernel, spec.buffer as usize)?;
    let param = |i: u32| match args.get(i as usize) {
        Some(KernelArg::U32(v)) => Some(*v),
        _ => None,
    };
    let dim = |d: crate::ir::TileDim, cols: u64| {
        d.value(&param, len, cols).ok_or_else(|| {
            bad(format!(
                "the shape of a tile copy's source is not known: {d:?} names no `u32` parameter"
            ))
        })
    };
    let cols = dim(spec.cols, 0)?;
    let rows = dim(spec.rows, cols)?;
    let zero = sys::CUtensorMap { opaque: [0; 16] };
    let have_rows = rows.min(len.checked_div(cols).unwrap_or(0));
    if cols == 0 || have_rows == 0 || (cols * u64::from(size)) % 16 != 0 {
        return Ok(zero);
    }
    let ty = match elem {
        DataType::U8 | DataType::I8 => T::CU_TENSOR_MAP_DATA_TYPE_UINT8,
        DataType::U16 | DataType::I16 => T::CU_TENSOR_MAP_DATA_TYPE_UINT16,
        DataType::F16 => T::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
        DataType::BF16 => T::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        DataType::F32 => T::CU_TENSOR_MAP_DATA_TYPE_FLOAT32,
        DataType::I32 => T::CU_TENSOR_MAP_DATA_TYPE_INT32,
        _ => T::CU_TENSOR_MAP_DATA_TYPE_UINT32,
    };
    let dims = [cols, have_rows];
    let strides = [cols * u64::from(size)];
    let boxes = [128 / size, spec.box_rows];
    let steps = [1u32, 1];
    let mut map = zero;
    // SAFETY: every array has the rank's (2) entries (strides: rank - 1);
    // the address is a live allocation of this context, 256-byte aligned;
    // the call only writes `map`.
    let r = unsafe {
        sys::cuTensorMapEncodeTiled(
            &raw mut map,
            ty,
            2,
            mem.device_ptr() as *mut c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxes.as_ptr(),
            steps.as_ptr(),
            Interleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            Swizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            L2::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            Fill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    if r != sys::CUresult::CUDA_SUCCESS {
        return Err(bad(format!(
            "cuTensorMapEncodeTiled failed ({r:?}) for a {have_rows} x {cols} matrix of `{elem}`"
        )));
    }
    Ok(map)
}

/// The length in elements of the buffer `m` passed as parameter `param`
/// of `kernel` (narrow elements are packed: 1 or 2 bytes each).
fn elem_len(m: &CudaMemory, kernel: &KernelSpec<'_>, param: usize) -> Result<u64> {
    let size = match kernel.params.get(param) {
        Some(ParamSpec::Buffer { elem, .. }) => elem.size_bytes() as usize,
        _ => 4,
    };
    let elems = m.bytes() / size;
    u32::try_from(elems)
        .map(u64::from)
        .map_err(|_| Error::BadArguments {
            kernel: kernel.name.to_string(),
            reason: format!(
                "a buffer of {elems} elements exceeds the 2^32-1 elements a kernel can index"
            ),
        })
}
