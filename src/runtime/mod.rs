//! Running compiled kernels: devices, typed buffers and launches.
//!
//! The generated launchers (see `vyre-build`) call [`Device::launch`] with a
//! static [`KernelSpec`] holding every compiled artifact of a kernel; the
//! device's [`DeviceBackend`] picks the artifact it can run
//! ([`KernelSpec::select_artifacts`]: the CPU reference interpreter takes
//! `reference`, CUDA takes a matching `cubin` or `ptx`, wgpu takes `spirv`
//! or `wgsl`) and caches what it loaded in a [`ModuleCache`].
//!
//! This module defines traits and types only and depends on no backend.
//! The backends live in `crate::backend::*`; the constructors that name
//! them ([`Device::cpu`], `Device::cuda`, `Device::wgpu`, [`Device::best`])
//! are in one place above both (`src/devices.rs`). A third-party crate can
//! add a backend by implementing [`DeviceBackend`] and wrapping it with
//! [`Device::from_backend`].

mod backend;
mod cache;
mod debug;
mod error;
mod memory;
#[cfg(feature = "nvtx")]
pub mod nvtx;
mod spec;
mod stream;
pub mod tune;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use backend::{DeviceBackend, DeviceGraph, DeviceMark, KernelArg};
pub use cache::ModuleCache;
pub use debug::{DEBUG_RING_WORDS, DebugRecord, DebugSink, DebugSiteSpec};
pub use error::{Error, Result};
pub use memory::{
    DeviceMemory, Element, as_bytes, as_bytes_mut, downcast_memory, downcast_memory_mut,
};
pub use spec::{Artifact, ArtifactWant, Grid, GridArith, KernelSpec, ParamSpec, TensorMapSpec};
pub use stream::{Event, Graph};

use crate::ir::{Access, DataType, Literal};

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

/// A handle to one device; cheap to clone. Compiled modules are loaded once
/// per device and cached inside its backend.
#[derive(Debug, Clone)]
pub struct Device {
    backend: Arc<dyn DeviceBackend>,
    id: u64,
    /// [`DeviceBackend::tune_arch`], asked once.
    tune_arch: Arc<str>,
    /// The debug rings and sink, shared by every handle of the device.
    debug: Arc<debug::DebugState>,
}

impl Device {
    /// Wrap any backend (for third-party runtimes).
    #[must_use]
    pub fn from_backend(backend: Arc<dyn DeviceBackend>) -> Self {
        Self {
            tune_arch: backend.tune_arch().into(),
            backend,
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
            debug: Arc::default(),
        }
    }

    /// The device's name.
    #[must_use]
    pub fn name(&self) -> String {
        self.backend.name()
    }

    /// This device's architecture key for tuning tables (see [`DeviceBackend::tune_arch`]).
    #[must_use]
    pub fn tune_arch(&self) -> &str {
        &self.tune_arch
    }

    /// The subgroup size kernels see on this device: what
    /// `subgroup_size()` returns and how invocations group into subgroups
    /// (32 on CUDA), or `None` when its backend does not report one.
    #[must_use]
    pub fn subgroup_size(&self) -> Option<u32> {
        self.backend.subgroup_size()
    }

    /// The backend behind this handle.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn DeviceBackend> {
        &self.backend
    }

    /// The backend as its concrete type `B` (for interop: the wgpu device
    /// of a wgpu backend, the CUDA context of a CUDA one), or `None` when
    /// it is another backend.
    #[must_use]
    pub fn backend_as<B: DeviceBackend>(&self) -> Option<&B> {
        let any: &dyn std::any::Any = &*self.backend;
        any.downcast_ref::<B>()
    }

    /// Adopt `mem`, memory of this device's backend made elsewhere (a
    /// `wgpu::Buffer`, a cudarc allocation), as a buffer of `len` elements
    /// of `elem`, without a copy. Whether `mem` belongs to this backend is
    /// checked at each use ([`Error::ForeignMemory`]).
    ///
    /// # Errors
    /// [`Error::InvalidBuffer`] when `elem` cannot be a buffer element or
    /// `len` elements do not fit in `mem`.
    pub fn adopt(
        &self,
        mem: Box<dyn DeviceMemory>,
        elem: DataType,
        len: usize,
    ) -> Result<AnyBuffer> {
        Self::element_count(elem, 0)?;
        let need = len.checked_mul(elem.size_bytes() as usize);
        if need.is_none_or(|n| n > mem.len_bytes()) {
            return Err(Error::InvalidBuffer {
                reason: format!(
                    "{len} `{}` elements do not fit in {} bytes of memory",
                    elem.name(),
                    mem.len_bytes()
                ),
            });
        }
        Ok(AnyBuffer {
            mem,
            device: self.id,
            len,
            elem,
        })
    }

    /// Upload `data` into a new buffer.
    ///
    /// # Errors
    /// Allocation or copy failure.
    pub fn upload<T: Element>(&self, data: &[T]) -> Result<Buffer<T>> {
        Ok(Buffer::typed(self.upload_bytes(T::TYPE, as_bytes(data))?))
    }

    /// A new zero-filled buffer of `len` elements (`len *
    /// T::TYPE.size_bytes()` bytes).
    ///
    /// # Errors
    /// Allocation failure, or a size in bytes that does not fit a `usize`.
    pub fn zeros<T: Element>(&self, len: usize) -> Result<Buffer<T>> {
        Ok(Buffer::typed(self.zeros_any(T::TYPE, len)?))
    }

    /// Copy a buffer back into a new `Vec`.
    ///
    /// # Errors
    /// Copy failure, or a buffer of another device.
    pub fn download<T: Element>(&self, buffer: &Buffer<T>) -> Result<Vec<T>> {
        let mut out = vec![T::from_bits(0); buffer.len()];
        self.download_into(buffer, &mut out)?;
        Ok(out)
    }

    /// Copy a buffer back into `out` (same length).
    ///
    /// # Errors
    /// Copy failure, length mismatch, or a buffer of another device.
    pub fn download_into<T: Element>(&self, buffer: &Buffer<T>, out: &mut [T]) -> Result<()> {
        if out.len() != buffer.len() {
            return Err(Error::LengthMismatch {
                buffer: buffer.len(),
                host: out.len(),
            });
        }
        self.read_bytes(&buffer.raw, as_bytes_mut(out))
    }

    /// Overwrite a buffer with `data` (same length).
    ///
    /// # Errors
    /// Copy failure, length mismatch, or a buffer of another device.
    pub fn write<T: Element>(&self, buffer: &mut Buffer<T>, data: &[T]) -> Result<()> {
        self.write_bytes(&mut buffer.raw, as_bytes(data))
    }

    /// Copy `src` into `dst` (same length) on the device, ordered after
    /// earlier launches; like a launch, it may return before it finished.
    ///
    /// # Errors
    /// Copy failure, different lengths, or a buffer of another device.
    pub fn copy<T: Element>(&self, src: &Buffer<T>, dst: &mut Buffer<T>) -> Result<()> {
        let (src, dst) = (&src.raw, &mut dst.raw);
        self.check_own(src.device, "copy")?;
        self.check_own(dst.device, "copy")?;
        if src.len != dst.len {
            return Err(Error::CopyLengthMismatch {
                src: src.len,
                dst: dst.len,
            });
        }
        if src.len == 0 {
            return Ok(());
        }
        self.backend.copy(&*src.mem, &mut *dst.mem)
    }

    /// Run `work` and measure how long the device spent on what it queued:
    /// with the device's own timer where it has one (CUDA events, wgpu
    /// timestamp queries), else on the host from a synchronisation before
    /// `work` to one after it. Waits for `work`'s launches to finish.
    ///
    /// ```
    /// let device = vyre::Device::cpu();
    /// let (sum, took) = device.time(|d| {
    ///     let x = d.upload(&[1u32, 2, 3])?;
    ///     Ok(d.download(&x)?.iter().sum::<u32>())
    /// })?;
    /// assert_eq!(sum, 6);
    /// assert!(took.as_secs() < 60);
    /// # Ok::<(), vyre::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `work` returns, or the device fails.
    pub fn time<R>(
        &self,
        work: impl FnOnce(&Device) -> Result<R>,
    ) -> Result<(R, std::time::Duration)> {
        match self.backend.mark()? {
            Some(start) => {
                let out = work(self)?;
                let end = self.backend.mark()?.ok_or_else(|| Error::Backend {
                    backend: self.backend.name(),
                    message: "the device stopped recording marks".to_string(),
                })?;
                Ok((out, end.since(&*start)?))
            }
            None => {
                self.synchronize()?;
                let start = std::time::Instant::now();
                let out = work(self)?;
                self.synchronize()?;
                Ok((out, start.elapsed()))
            }
        }
    }

    /// Wait until every launch so far has finished.
    ///
    /// # Errors
    /// An asynchronous launch failure.
    pub fn synchronize(&self) -> Result<()> {
        self.backend.synchronize()
    }

    /// Upload `bytes`, little-endian elements of `elem`, into a new
    /// [`AnyBuffer`].
    ///
    /// # Errors
    /// A byte count that is not a whole number of elements (or an `elem`
    /// that cannot be stored, `bool`), allocation or copy failure.
    pub fn upload_bytes(&self, elem: DataType, bytes: &[u8]) -> Result<AnyBuffer> {
        let len = Self::element_count(elem, bytes.len())?;
        Ok(AnyBuffer {
            mem: self.backend.upload(bytes)?,
            device: self.id,
            len,
            elem,
        })
    }

    /// A new zero-filled [`AnyBuffer`] of `len` elements of `elem`.
    ///
    /// # Errors
    /// An `elem` that cannot be stored, a size that overflows, allocation
    /// failure.
    pub fn zeros_any(&self, elem: DataType, len: usize) -> Result<AnyBuffer> {
        let size = elem.size_bytes() as usize;
        Self::element_count(elem, 0)?;
        let bytes = len.checked_mul(size).ok_or_else(|| Error::Backend {
            backend: self.backend.name(),
            message: format!("{len} elements of {size} bytes overflow the address space"),
        })?;
        Ok(AnyBuffer {
            mem: self.backend.alloc_zeroed(bytes)?,
            device: self.id,
            len,
            elem,
        })
    }

    /// Copy an [`AnyBuffer`] back as little-endian bytes.
    ///
    /// # Errors
    /// Copy failure, or a buffer of another device.
    pub fn download_bytes(&self, buffer: &AnyBuffer) -> Result<Vec<u8>> {
        let mut out = vec![0u8; buffer.len * buffer.elem.size_bytes() as usize];
        self.read_bytes(buffer, &mut out)?;
        Ok(out)
    }

    /// Overwrite an [`AnyBuffer`] with `bytes` (the same number of bytes).
    ///
    /// # Errors
    /// Copy failure, a length mismatch, or a buffer of another device.
    pub fn write_bytes(&self, buffer: &mut AnyBuffer, bytes: &[u8]) -> Result<()> {
        self.check_own(buffer.device, "write")?;
        let len = Self::element_count(buffer.elem, bytes.len())?;
        if len != buffer.len {
            return Err(Error::LengthMismatch {
                buffer: buffer.len,
                host: len,
            });
        }
        self.backend.write(&mut *buffer.mem, bytes)
    }

    /// Copy all of `buffer` into `out` (its size in bytes).
    fn read_bytes(&self, buffer: &AnyBuffer, out: &mut [u8]) -> Result<()> {
        self.check_own(buffer.device, "download")?;
        self.backend.read(&*buffer.mem, out)
    }

    /// How many `elem`s `bytes` bytes hold, when it is a whole number.
    fn element_count(elem: DataType, bytes: usize) -> Result<usize> {
        let size = elem.size_bytes() as usize;
        if !elem.is_storable() || size == 0 {
            return Err(Error::InvalidBuffer {
                reason: format!("`{}` cannot be a buffer element", elem.name()),
            });
        }
        if !bytes.is_multiple_of(size) {
            return Err(Error::InvalidBuffer {
                reason: format!(
                    "{bytes} bytes are not a whole number of `{}` elements ({size} bytes each)",
                    elem.name()
                ),
            });
        }
        Ok(bytes / size)
    }

    fn check_own(&self, device: u64, what: &str) -> Result<()> {
        if device == self.id {
            Ok(())
        } else {
            Err(Error::WrongDevice {
                kernel: what.to_string(),
                param: "buffer".to_string(),
            })
        }
    }

    /// Launch `kernel`; the generated typed launchers call this (with their
    /// `static` spec; any spec works, the backend caches by
    /// [`KernelSpec::key`]). Checks the arguments against the kernel's
    /// parameters and that every buffer belongs to this device.
    ///
    /// # Errors
    /// Bad arguments, an empty grid, no suitable artifact, or a backend
    /// failure; a kernel built `#[kernel(unchecked)]` (its accesses are not
    /// bounds-checked, so a launch can be undefined behaviour) is
    /// [`Error::BadArguments`]: it needs [`Device::launch_unchecked`].
    pub fn launch(
        &self,
        kernel: &KernelSpec<'_>,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> Result<()> {
        if kernel.unchecked {
            return Err(Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: "the kernel is `#[kernel(unchecked)]`: launch it with the `unsafe` `Device::launch_unchecked` (its generated launcher is an `unsafe fn` that does)".to_string(),
            });
        }
        self.launch_checked_args(kernel, grid, args)
    }

    /// [`Device::launch`] for any kernel, `#[kernel(unchecked)]` ones
    /// included.
    ///
    /// # Safety
    ///
    /// When `kernel.unchecked`, its buffer and shared-array accesses are not
    /// bounds-checked: the caller must make sure that, for this grid and
    /// these buffers, every index the kernel computes is in range.
    ///
    /// # Errors
    /// As [`Device::launch`], but for the unchecked kernel.
    pub unsafe fn launch_unchecked(
        &self,
        kernel: &KernelSpec<'_>,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> Result<()> {
        self.launch_checked_args(kernel, grid, args)
    }

    /// The launch behind both entries: arguments checked against the
    /// parameters, the grid against emptiness.
    fn launch_checked_args(
        &self,
        kernel: &KernelSpec<'_>,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> Result<()> {
        // A kernel built with `debug_print!`/`debug_assert!` has two hidden
        // ring parameters last, which the runtime passes.
        let rings = debug::has_rings(kernel);
        let user_params = kernel.params.len() - if rings { 2 } else { 0 };
        if args.len() != user_params {
            return Err(Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: format!("{} arguments for {user_params} parameters", args.len()),
            });
        }
        let workgroups = grid.workgroup_count(kernel.workgroup_size);
        if workgroups.contains(&0) {
            return Err(Error::InvalidGrid {
                kernel: kernel.name.to_string(),
                reason: format!("{grid:?} launches no workgroup"),
            });
        }
        let mut raw: Vec<KernelArg<'_>> = Vec::with_capacity(args.len());
        for (arg, param) in args.iter_mut().zip(kernel.params) {
            raw.push(arg.check(self.id, kernel, param)?);
        }
        #[cfg(feature = "nvtx")]
        let _range = nvtx::Range::push(kernel.name);
        if rings {
            return self.launch_with_rings(kernel, workgroups, raw);
        }
        self.backend.launch(kernel, workgroups, &mut raw)
    }
}

/// A typed device buffer of `T`: an [`AnyBuffer`] of `T::TYPE` whose
/// element type the compiler knows.
#[derive(Debug)]
pub struct Buffer<T: Element> {
    raw: AnyBuffer,
    _elem: PhantomData<T>,
}

impl<T: Element> Buffer<T> {
    /// `raw` as a `Buffer<T>`; its element type must be `T::TYPE`.
    fn typed(raw: AnyBuffer) -> Self {
        debug_assert_eq!(raw.elem, T::TYPE);
        Self {
            raw,
            _elem: PhantomData,
        }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the buffer holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The backend memory (for backend code and benchmarks).
    #[must_use]
    pub fn memory(&self) -> &dyn DeviceMemory {
        self.raw.memory()
    }

    /// A read-only launch argument.
    #[must_use]
    pub fn arg(&self) -> LaunchArg<'_> {
        self.raw.arg()
    }

    /// A read-write launch argument.
    #[must_use]
    pub fn arg_mut(&mut self) -> LaunchArg<'_> {
        self.raw.arg_mut()
    }

    /// The buffer without its static element type.
    #[must_use]
    pub fn into_any(self) -> AnyBuffer {
        self.raw
    }

    /// [`AnyBuffer::try_into_memory`] of this buffer.
    ///
    /// # Errors
    /// `self`, unchanged.
    pub fn try_into_memory<M: DeviceMemory, R>(
        self,
        convert: impl FnOnce(M) -> std::result::Result<R, M>,
    ) -> std::result::Result<R, Self> {
        self.raw.try_into_memory(convert).map_err(Self::typed)
    }

    /// `raw` as a buffer of `T`.
    ///
    /// # Errors
    /// [`Error::InvalidBuffer`] when `raw` holds another element type.
    pub fn from_any(raw: AnyBuffer) -> Result<Self> {
        if raw.elem != T::TYPE {
            return Err(Error::InvalidBuffer {
                reason: format!(
                    "a buffer of `{}` is not a `Buffer<{}>`",
                    raw.elem.name(),
                    T::TYPE.name()
                ),
            });
        }
        Ok(Self::typed(raw))
    }
}

/// A device buffer whose element type is known only at run time: what a
/// program that reads kernel signatures from data (a standalone launcher,
/// a REPL) uses where [`Buffer<T>`] needs the type at compile time. Its
/// launch arguments are checked against the parameters exactly like a
/// typed buffer's.
#[derive(Debug)]
pub struct AnyBuffer {
    mem: Box<dyn DeviceMemory>,
    device: u64,
    len: usize,
    elem: DataType,
}

impl AnyBuffer {
    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element type.
    #[must_use]
    pub fn elem(&self) -> DataType {
        self.elem
    }

    /// The backend memory (for interop: a collective library, another
    /// runtime).
    #[must_use]
    pub fn memory(&self) -> &dyn DeviceMemory {
        &*self.mem
    }

    /// The backend memory, handed back (to give it to another runtime).
    #[must_use]
    pub fn into_memory(self) -> Box<dyn DeviceMemory> {
        self.mem
    }

    /// Hand the memory, when it is an `M`, to `convert` (interop: turn a
    /// backend's memory back into the application's type); the buffer
    /// again when it is not an `M` or `convert` gives the memory back.
    ///
    /// # Errors
    /// `self`, unchanged.
    pub fn try_into_memory<M: DeviceMemory, R>(
        self,
        convert: impl FnOnce(M) -> std::result::Result<R, M>,
    ) -> std::result::Result<R, Self> {
        let Self {
            mem,
            device,
            len,
            elem,
        } = self;
        let is_m = (&*mem as &dyn std::any::Any).is::<M>();
        if !is_m {
            return Err(Self {
                mem,
                device,
                len,
                elem,
            });
        }
        let any: Box<dyn std::any::Any> = mem;
        let m = *any
            .downcast::<M>()
            .unwrap_or_else(|_| unreachable!("checked above"));
        convert(m).map_err(|m| Self {
            mem: Box::new(m),
            device,
            len,
            elem,
        })
    }

    /// The backend memory, mutably (for work that writes it in place).
    #[must_use]
    pub fn memory_mut(&mut self) -> &mut dyn DeviceMemory {
        &mut *self.mem
    }

    /// A read-only launch argument.
    #[must_use]
    pub fn arg(&self) -> LaunchArg<'_> {
        LaunchArg::Buffer {
            mem: &*self.mem,
            device: self.device,
            elem: self.elem,
        }
    }

    /// A read-write launch argument.
    #[must_use]
    pub fn arg_mut(&mut self) -> LaunchArg<'_> {
        LaunchArg::BufferMut {
            mem: &mut *self.mem,
            device: self.device,
            elem: self.elem,
        }
    }
}

/// One typed launch argument, as the generated launchers build them.
#[derive(Debug)]
pub enum LaunchArg<'a> {
    /// From [`Buffer::arg`].
    Buffer {
        /// The memory.
        mem: &'a dyn DeviceMemory,
        /// Owning device id.
        device: u64,
        /// Element type.
        elem: DataType,
    },
    /// From [`Buffer::arg_mut`].
    BufferMut {
        /// The memory.
        mem: &'a mut dyn DeviceMemory,
        /// Owning device id.
        device: u64,
        /// Element type.
        elem: DataType,
    },
    /// A `u32` scalar.
    U32(u32),
    /// An `i32` scalar.
    I32(i32),
    /// An `f32` scalar.
    F32(f32),
    /// A `bool` scalar.
    Bool(bool),
    /// A scalar of any type, as a literal of its exact type: how the
    /// generated launchers pass the 16- and 8-bit scalars (`half::f16`,
    /// `u8`, ...; see [`LaunchArg::scalar`]). It must match the parameter's
    /// type exactly; [`Device::launch`] widens it to the parameter's
    /// register type (`f16`/`bf16` to the equal `f32`, `u8`/`u16`
    /// zero-extended to `u32`, `i8`/`i16` sign-extended to `i32`) before the
    /// backend sees it.
    Scalar(Literal),
}

impl LaunchArg<'_> {
    /// A scalar argument of any [`Element`] type (a [`LaunchArg::Scalar`]).
    #[must_use]
    pub fn scalar<T: Element>(value: T) -> Self {
        Self::Scalar(value.to_literal())
    }

    fn check<'s>(
        &'s mut self,
        device_id: u64,
        kernel: &KernelSpec<'_>,
        param: &ParamSpec<'_>,
    ) -> Result<KernelArg<'s>> {
        let bad = |reason: String| Error::BadArguments {
            kernel: kernel.name.to_string(),
            reason,
        };
        let wrong_device = || Error::WrongDevice {
            kernel: kernel.name.to_string(),
            param: param.name().to_string(),
        };
        let kind = self.kind_name();
        match (self, param) {
            (
                LaunchArg::Buffer { mem, device, elem },
                ParamSpec::Buffer {
                    elem: want,
                    access: Access::Read,
                    ..
                },
            ) if elem == want => {
                if *device != device_id {
                    return Err(wrong_device());
                }
                Ok(KernelArg::Buffer(*mem))
            }
            (LaunchArg::BufferMut { mem, device, elem }, ParamSpec::Buffer { elem: want, .. })
                if elem == want =>
            {
                if *device != device_id {
                    return Err(wrong_device());
                }
                Ok(KernelArg::BufferMut(&mut **mem))
            }
            (
                LaunchArg::U32(v),
                ParamSpec::Scalar {
                    ty: DataType::U32, ..
                },
            ) => Ok(KernelArg::U32(*v)),
            (
                LaunchArg::I32(v),
                ParamSpec::Scalar {
                    ty: DataType::I32, ..
                },
            ) => Ok(KernelArg::I32(*v)),
            (
                LaunchArg::F32(v),
                ParamSpec::Scalar {
                    ty: DataType::F32, ..
                },
            ) => Ok(KernelArg::F32(*v)),
            (
                LaunchArg::Bool(v),
                ParamSpec::Scalar {
                    ty: DataType::Bool, ..
                },
            ) => Ok(KernelArg::Bool(*v)),
            (LaunchArg::Scalar(lit), ParamSpec::Scalar { ty, .. }) if lit.ty() == *ty => {
                Ok(widened_scalar(*lit))
            }
            (_, param) => Err(bad(format!(
                "argument for `{}` ({param:?}) does not match: got {kind}",
                param.name()
            ))),
        }
    }

    fn kind_name(&self) -> String {
        let ty = match self {
            Self::Buffer { elem, .. } => return format!("a read-only buffer of {elem}"),
            Self::BufferMut { elem, .. } => return format!("a read-write buffer of {elem}"),
            Self::U32(_) => DataType::U32,
            Self::I32(_) => DataType::I32,
            Self::F32(_) => DataType::F32,
            Self::Bool(_) => DataType::Bool,
            Self::Scalar(lit) => lit.ty(),
        };
        let article = if ty.name().starts_with(['i', 'f']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {ty}")
    }
}

/// The backend's argument for a scalar: its value in its type's register
/// type, exactly (`f16`/`bf16` as the equal `f32`, narrow integers zero- or
/// sign-extended; the 64-bit types as themselves).
fn widened_scalar(lit: Literal) -> KernelArg<'static> {
    match lit.widened() {
        Literal::Bool(b) => KernelArg::Bool(b),
        Literal::I32(v) => KernelArg::I32(v),
        Literal::U32(v) => KernelArg::U32(v),
        Literal::F32(bits) => KernelArg::F32(f32::from_bits(bits)),
        Literal::U64(v) => KernelArg::U64(v),
        Literal::I64(v) => KernelArg::I64(v),
        Literal::F64(bits) => KernelArg::F64(f64::from_bits(bits)),
        narrow => unreachable!("`Literal::widened` left a `{}`", narrow.ty()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use half::{bf16, f16};

    use super::{
        Device, DeviceBackend, DeviceMemory, Error, Grid, KernelArg, KernelSpec, LaunchArg,
        ParamSpec, Result,
    };
    use crate::ir::{Access, DataType, Literal};

    #[derive(Debug)]
    struct HostMem(Vec<u8>);
    impl DeviceMemory for HostMem {
        fn len_bytes(&self) -> usize {
            self.0.len()
        }
    }

    /// A backend that keeps memory on the host and records the scalar
    /// arguments of each launch, as the backend sees them.
    #[derive(Debug, Default)]
    struct Recorder {
        scalars: Mutex<Vec<String>>,
    }

    fn mem(m: &dyn DeviceMemory) -> &HostMem {
        super::downcast_memory(m, "recorder").unwrap()
    }

    impl DeviceBackend for Recorder {
        fn name(&self) -> String {
            "recorder".to_string()
        }
        fn alloc_zeroed(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
            Ok(Box::new(HostMem(vec![0; bytes])))
        }
        fn upload(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
            Ok(Box::new(HostMem(data.to_vec())))
        }
        fn write(&self, m: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
            super::downcast_memory_mut::<HostMem>(m, "recorder")?
                .0
                .copy_from_slice(data);
            Ok(())
        }
        fn read(&self, m: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
            out.copy_from_slice(&mem(m).0);
            Ok(())
        }
        fn launch(
            &self,
            _: &KernelSpec<'_>,
            _: [u32; 3],
            args: &mut [KernelArg<'_>],
        ) -> Result<()> {
            let mut log = self.scalars.lock().unwrap();
            for a in args {
                match a {
                    KernelArg::Buffer(m) => log.push(format!("buffer of {} bytes", m.len_bytes())),
                    KernelArg::BufferMut(m) => {
                        log.push(format!("mut buffer of {} bytes", m.len_bytes()));
                    }
                    KernelArg::U32(v) => log.push(format!("u32 {v}")),
                    KernelArg::I32(v) => log.push(format!("i32 {v}")),
                    KernelArg::F32(v) => log.push(format!("f32 {v:?}")),
                    KernelArg::Bool(v) => log.push(format!("bool {v}")),
                    KernelArg::U64(v) => log.push(format!("u64 {v}")),
                    KernelArg::I64(v) => log.push(format!("i64 {v}")),
                    KernelArg::F64(v) => log.push(format!("f64 {v:?}")),
                }
            }
            Ok(())
        }
        fn synchronize(&self) -> Result<()> {
            Ok(())
        }
    }

    fn recorder() -> (Device, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        (Device::from_backend(rec.clone()), rec)
    }

    const NARROW_PARAMS: &[ParamSpec<'static>] = &[
        ParamSpec::Scalar {
            name: "h",
            ty: DataType::F16,
        },
        ParamSpec::Scalar {
            name: "b",
            ty: DataType::BF16,
        },
        ParamSpec::Scalar {
            name: "u8_",
            ty: DataType::U8,
        },
        ParamSpec::Scalar {
            name: "i8_",
            ty: DataType::I8,
        },
        ParamSpec::Scalar {
            name: "u16_",
            ty: DataType::U16,
        },
        ParamSpec::Scalar {
            name: "i16_",
            ty: DataType::I16,
        },
        ParamSpec::Scalar {
            name: "f",
            ty: DataType::F32,
        },
        ParamSpec::Buffer {
            name: "x",
            elem: DataType::BF16,
            access: Access::Read,
        },
        ParamSpec::Buffer {
            name: "y",
            elem: DataType::I8,
            access: Access::ReadWrite,
        },
    ];

    fn narrow_spec() -> KernelSpec<'static> {
        KernelSpec {
            name: "narrow",
            key: "narrow#1",
            params: NARROW_PARAMS,
            workgroup_size: [1, 1, 1],
            unchecked: false,
            artifacts: &[],
            debug: &[],
            tensor_maps: &[],
        }
    }

    /// Narrow buffers are packed; `len` counts elements.
    #[test]
    fn narrow_buffers_hold_packed_elements() {
        let (dev, _) = recorder();
        let data = [bf16::ONE, bf16::from_f32(-0.5), bf16::NAN];
        let buf = dev.upload(&data).unwrap();
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.memory().len_bytes(), 6);
        let back = dev.download(&buf).unwrap();
        assert_eq!(back[..2], data[..2]);
        assert!(back[2].is_nan());
        let mut z = dev.zeros::<u8>(5).unwrap();
        assert_eq!((z.len(), z.memory().len_bytes()), (5, 5));
        dev.write(&mut z, &[1, 2, 3, 4, 255]).unwrap();
        assert_eq!(dev.download(&z).unwrap(), [1, 2, 3, 4, 255]);
        let z16 = dev.zeros::<i16>(3).unwrap();
        assert_eq!(z16.memory().len_bytes(), 6);
        let mut c = dev.zeros::<i16>(3).unwrap();
        let src = dev.upload(&[-1i16, 2, -3]).unwrap();
        dev.copy(&src, &mut c).unwrap();
        assert_eq!(dev.download(&c).unwrap(), [-1, 2, -3]);
        assert_eq!(dev.download(&z16).unwrap(), [0, 0, 0]);
        assert_eq!(dev.zeros::<f16>(7).unwrap().memory().len_bytes(), 14);
    }

    /// Narrow scalars reach the backend widened exactly; buffers keep their
    /// element check.
    #[test]
    fn narrow_scalars_are_widened_for_the_backend() {
        let (dev, rec) = recorder();
        let x = dev.upload(&[bf16::ONE; 4]).unwrap();
        let mut y = dev.zeros::<i8>(4).unwrap();
        let spec = narrow_spec();
        dev.launch(
            &spec,
            Grid::threads(1),
            &mut [
                LaunchArg::scalar(f16::from_f32(65504.0)),
                LaunchArg::scalar(bf16::from_bits(0x0001)),
                LaunchArg::scalar(255u8),
                LaunchArg::scalar(-128i8),
                LaunchArg::scalar(0xffffu16),
                LaunchArg::scalar(-2i16),
                LaunchArg::scalar(0.25f32),
                x.arg(),
                y.arg_mut(),
            ],
        )
        .unwrap();
        let tiny = f32::from_bits(0x0001_0000);
        assert_eq!(
            *rec.scalars.lock().unwrap(),
            [
                "f32 65504.0".to_string(),
                format!("f32 {tiny:?}"),
                "u32 255".to_string(),
                "i32 -128".to_string(),
                "u32 65535".to_string(),
                "i32 -2".to_string(),
                "f32 0.25".to_string(),
                "buffer of 8 bytes".to_string(),
                "mut buffer of 4 bytes".to_string(),
            ]
        );
        // `LaunchArg::Scalar` also works for the 32-bit types and bool.
        let mut other = [LaunchArg::Scalar(Literal::Bool(true))];
        let bool_spec = KernelSpec {
            params: &[ParamSpec::Scalar {
                name: "on",
                ty: DataType::Bool,
            }],
            ..narrow_spec()
        };
        dev.launch(&bool_spec, Grid::threads(1), &mut other)
            .unwrap();
        assert_eq!(rec.scalars.lock().unwrap().last().unwrap(), "bool true");
        // The 64-bit types go as themselves, and only to their own type.
        let wide_spec = KernelSpec {
            params: &[
                ParamSpec::Scalar {
                    name: "a",
                    ty: DataType::U64,
                },
                ParamSpec::Scalar {
                    name: "b",
                    ty: DataType::I64,
                },
                ParamSpec::Scalar {
                    name: "c",
                    ty: DataType::F64,
                },
            ],
            ..narrow_spec()
        };
        rec.scalars.lock().unwrap().clear();
        dev.launch(
            &wide_spec,
            Grid::threads(1),
            &mut [
                LaunchArg::scalar(u64::MAX),
                LaunchArg::scalar(i64::MIN),
                LaunchArg::scalar(-0.5f64),
            ],
        )
        .unwrap();
        assert_eq!(
            *rec.scalars.lock().unwrap(),
            [
                format!("u64 {}", u64::MAX),
                format!("i64 {}", i64::MIN),
                "f64 -0.5".to_string()
            ]
        );
        let e = dev
            .launch(
                &wide_spec,
                Grid::threads(1),
                &mut [
                    LaunchArg::U32(1),
                    LaunchArg::scalar(0i64),
                    LaunchArg::scalar(0.0f64),
                ],
            )
            .unwrap_err();
        assert!(e.to_string().contains("a u32"), "{e}");
    }

    /// The parameter spec keeps the source type: an argument of another
    /// type, even one that widens to the same register type, is an error.
    #[test]
    fn narrow_arguments_of_the_wrong_type_are_rejected() {
        let (dev, rec) = recorder();
        let x = dev.upload(&[bf16::ONE; 4]).unwrap();
        let x16 = dev.upload(&[f16::ONE; 4]).unwrap();
        let mut y = dev.zeros::<i8>(4).unwrap();
        let mut y8 = dev.zeros::<u8>(4).unwrap();
        let spec = narrow_spec();
        let good = || {
            vec![
                LaunchArg::scalar(f16::ONE),
                LaunchArg::scalar(bf16::ONE),
                LaunchArg::scalar(1u8),
                LaunchArg::scalar(1i8),
                LaunchArg::scalar(1u16),
                LaunchArg::scalar(1i16),
                LaunchArg::F32(1.0),
            ]
        };
        let cases: Vec<(usize, LaunchArg<'_>, &str)> = vec![
            (0, LaunchArg::F32(1.0), "got an f32"),
            (0, LaunchArg::scalar(bf16::ONE), "got a bf16"),
            (1, LaunchArg::scalar(f16::ONE), "got an f16"),
            (2, LaunchArg::U32(1), "got a u32"),
            (2, LaunchArg::scalar(1i8), "got an i8"),
            (3, LaunchArg::I32(1), "got an i32"),
            (4, LaunchArg::scalar(1u8), "got a u8"),
            (5, LaunchArg::scalar(1u16), "got a u16"),
            (6, LaunchArg::scalar(f16::ONE), "got an f16"),
        ];
        for (i, arg, want) in cases {
            let mut args = good();
            args[i] = arg;
            args.push(x.arg());
            args.push(y.arg_mut());
            let e = dev.launch(&spec, Grid::threads(1), &mut args).unwrap_err();
            let name = NARROW_PARAMS[i].name();
            assert!(
                matches!(&e, Error::BadArguments { reason, .. }
                    if reason.contains(&format!("`{name}`")) && reason.ends_with(want)),
                "{i}: {e}"
            );
        }
        let mut args = good();
        args.push(x16.arg());
        args.push(y.arg_mut());
        let e = dev.launch(&spec, Grid::threads(1), &mut args).unwrap_err();
        assert!(
            e.to_string().ends_with("got a read-only buffer of f16"),
            "{e}"
        );
        let mut args = good();
        args.push(x.arg());
        args.push(y8.arg_mut());
        let e = dev.launch(&spec, Grid::threads(1), &mut args).unwrap_err();
        assert!(
            e.to_string().ends_with("got a read-write buffer of u8"),
            "{e}"
        );
        assert!(rec.scalars.lock().unwrap().is_empty());
    }

    /// The runtime defines traits and types only: no file of it imports a
    /// backend (the constructors that do are in `src/devices.rs`).
    #[test]
    fn runtime_imports_no_backend() {
        for (file, text) in [
            ("mod.rs", include_str!("mod.rs")),
            ("backend.rs", include_str!("backend.rs")),
            ("cache.rs", include_str!("cache.rs")),
            ("error.rs", include_str!("error.rs")),
            ("memory.rs", include_str!("memory.rs")),
            ("spec.rs", include_str!("spec.rs")),
            ("tune.rs", include_str!("tune.rs")),
        ] {
            for line in text.lines() {
                let code = line.trim_start();
                assert!(
                    code.starts_with("//") || !code.contains(concat!("crate::", "backend")),
                    "src/runtime/{file} names a backend: {line}"
                );
            }
        }
    }
}
