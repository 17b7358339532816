//! Running compiled kernels: devices, typed buffers and launches.
//!
//! The generated launchers (see `vyre-build`) call [`Device::launch`] with a
//! static [`KernelSpec`] holding every compiled artifact of a kernel; the
//! device's [`DeviceBackend`] picks the artifact it can run (the CPU
//! reference interpreter takes `reference`, CUDA takes a matching `cubin` or
//! `ptx`, wgpu takes `spirv` or `wgsl`). Backends live in
//! `crate::backend::*`; a third-party crate can add one by implementing
//! [`DeviceBackend`] and wrapping it with [`Device::from_backend`].

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ir::{Access, DataType};

/// What can go wrong when running kernels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable device of the asked kind (no driver, no adapter).
    #[error("no {backend} device available: {reason}")]
    NoDevice {
        /// "cuda", "wgpu", ...
        backend: String,
        /// Why, and how to fix it.
        reason: String,
    },
    /// The kernel was not compiled for any target this device runs.
    #[error(
        "kernel `{kernel}` has no artifact for {device} (compiled targets: {available}); add one of {wanted} to the build's targets and enable the matching `vyre` feature"
    )]
    TargetNotCompiled {
        /// Kernel name.
        kernel: String,
        /// The device.
        device: String,
        /// Targets the device could run.
        wanted: String,
        /// Targets present.
        available: String,
    },
    /// A buffer argument lives on another device.
    #[error(
        "argument `{param}` of `{kernel}` is a buffer of another device; upload it to this device first"
    )]
    WrongDevice {
        /// Kernel name.
        kernel: String,
        /// Parameter name.
        param: String,
    },
    /// The arguments do not match the kernel's signature (a launcher/kernel
    /// version skew; generated launchers are checked by rustc).
    #[error("bad arguments for `{kernel}`: {reason}")]
    BadArguments {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// The grid is empty or too large for the device.
    #[error("invalid grid for `{kernel}`: {reason}")]
    InvalidGrid {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// The two buffers of a device-to-device copy differ in length.
    #[error("copy between buffers of different lengths: source {src} elements, destination {dst}")]
    CopyLengthMismatch {
        /// Source elements.
        src: usize,
        /// Destination elements.
        dst: usize,
    },
    /// Host and device buffer lengths differ.
    #[error("length mismatch: buffer holds {buffer} elements, host slice {host}")]
    LengthMismatch {
        /// Device buffer elements.
        buffer: usize,
        /// Host slice elements.
        host: usize,
    },
    /// A backend (driver, loader, module) error.
    #[error("{backend}: {message}")]
    Backend {
        /// Backend name.
        backend: String,
        /// The driver's message.
        message: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A compiled blob of one kernel for one target, embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    /// Target id (`reference`, `ptx`, `cubin`, `spirv`, `wgsl`, ...).
    pub target: &'static str,
    /// Architecture, for per-arch targets (`sm_90`).
    pub arch: Option<&'static str>,
    /// The blob.
    pub bytes: &'static [u8],
}

/// A kernel parameter as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSpec {
    /// A buffer of `elem`, read-only or read-write.
    Buffer {
        /// Parameter name.
        name: &'static str,
        /// Element type.
        elem: DataType,
        /// Access mode.
        access: Access,
    },
    /// A scalar.
    Scalar {
        /// Parameter name.
        name: &'static str,
        /// Its type.
        ty: DataType,
    },
}

impl ParamSpec {
    /// The parameter's name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Buffer { name, .. } | Self::Scalar { name, .. } => name,
        }
    }
}

/// Everything the runtime knows about one compiled kernel; generated as a
/// `static` per kernel.
#[derive(Debug)]
pub struct KernelSpec {
    /// Kernel name.
    pub name: &'static str,
    /// Unique key within the binary (`module::path::kernel` plus a content
    /// hash), used to cache loaded modules per device.
    pub key: &'static str,
    /// Parameters in order.
    pub params: &'static [ParamSpec],
    /// Invocations per workgroup.
    pub workgroup_size: [u32; 3],
    /// Whether bounds checks were compiled out (`unchecked`).
    pub unchecked: bool,
    /// Every compiled artifact.
    pub artifacts: &'static [Artifact],
}

impl KernelSpec {
    /// The first artifact for `target` (and `arch`, when given).
    #[must_use]
    pub fn artifact(&self, target: &str, arch: Option<&str>) -> Option<&'static Artifact> {
        self.artifacts
            .iter()
            .find(|a| a.target == target && (arch.is_none() || a.arch == arch))
    }

    /// The error for "none of `wanted` was compiled".
    #[must_use]
    pub fn not_compiled(&self, device: &str, wanted: &[&str]) -> Error {
        let mut available: Vec<&str> = self.artifacts.iter().map(|a| a.target).collect();
        available.dedup();
        Error::TargetNotCompiled {
            kernel: self.name.to_string(),
            device: device.to_string(),
            wanted: wanted.join(" or "),
            available: if available.is_empty() {
                "none (stub build)".to_string()
            } else {
                available.join(", ")
            },
        }
    }
}

/// How many workgroups to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// At least this many invocations per dimension, rounded up to whole
    /// workgroups (the usual "one thread per element").
    Threads([u32; 3]),
    /// Exactly this many workgroups per dimension.
    Workgroups([u32; 3]),
}

impl Grid {
    /// One invocation per element of a 1-D problem of `n` elements.
    #[must_use]
    pub fn threads(n: usize) -> Self {
        Self::Threads([u32::try_from(n).unwrap_or(u32::MAX), 1, 1])
    }

    /// `[x, y]` invocations of a 2-D problem.
    #[must_use]
    pub fn threads_2d(x: u32, y: u32) -> Self {
        Self::Threads([x, y, 1])
    }

    /// Exactly `n` workgroups along x.
    #[must_use]
    pub fn workgroups(n: u32) -> Self {
        Self::Workgroups([n, 1, 1])
    }

    /// Workgroup counts for a kernel with `workgroup_size`.
    #[must_use]
    pub fn workgroup_count(self, workgroup_size: [u32; 3]) -> [u32; 3] {
        match self {
            Self::Workgroups(w) => w,
            Self::Threads(t) => std::array::from_fn(|i| t[i].div_ceil(workgroup_size[i].max(1))),
        }
    }
}

/// A buffer element type.
///
/// # Safety
///
/// Implementors must be plain 4-byte values valid for every bit pattern,
/// whose [`DataType`] is `TYPE`.
pub unsafe trait Element: Copy + Send + Sync + 'static + fmt::Debug {
    /// The element's IR type.
    const TYPE: DataType;
    /// Little-endian-independent bit pattern.
    fn to_bits(self) -> u32;
    /// From a bit pattern.
    fn from_bits(bits: u32) -> Self;
}

// SAFETY: 4-byte plain values, every bit pattern valid.
unsafe impl Element for f32 {
    const TYPE: DataType = DataType::F32;
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    fn from_bits(bits: u32) -> Self {
        f32::from_bits(bits)
    }
}
// SAFETY: as above.
unsafe impl Element for u32 {
    const TYPE: DataType = DataType::U32;
    fn to_bits(self) -> u32 {
        self
    }
    fn from_bits(bits: u32) -> Self {
        bits
    }
}
// SAFETY: as above.
unsafe impl Element for i32 {
    const TYPE: DataType = DataType::I32;
    fn to_bits(self) -> u32 {
        self.cast_unsigned()
    }
    fn from_bits(bits: u32) -> Self {
        bits.cast_signed()
    }
}

/// View a slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes<T: Element>(data: &[T]) -> &[u8] {
    // SAFETY: `Element` types are 4-byte plain values with no padding.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

/// View a mutable slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes_mut<T: Element>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`, and every bit pattern is a valid `T`.
    unsafe {
        std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(data))
    }
}

/// Device memory owned by a backend; backends downcast it to their own type.
pub trait DeviceMemory: Any + Send + Sync + fmt::Debug {
    /// Size in bytes.
    fn len_bytes(&self) -> usize;
    /// As `Any`, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// As mutable `Any`, for downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

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
}

/// A runtime backend: allocates memory and runs kernels on one device.
pub trait DeviceBackend: Send + Sync + fmt::Debug {
    /// Human-readable device name, e.g. `cuda:0 (NVIDIA H100)`.
    fn name(&self) -> String;
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
    /// `kernel.params` by [`Device::launch`]). May return before the kernel
    /// finishes; [`DeviceBackend::synchronize`] and [`DeviceBackend::read`]
    /// wait.
    ///
    /// # Errors
    /// No suitable artifact, load or launch failure.
    fn launch(
        &self,
        kernel: &'static KernelSpec,
        workgroups: [u32; 3],
        args: &mut [KernelArg<'_>],
    ) -> Result<()>;
    /// Wait for every launch so far.
    ///
    /// # Errors
    /// An asynchronous launch failure.
    fn synchronize(&self) -> Result<()>;
    /// Copy all of `src` into `dst` (same size, checked by [`Device::copy`])
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

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

/// A handle to one device; cheap to clone. Compiled modules are loaded once
/// per device and cached inside its backend.
#[derive(Debug, Clone)]
pub struct Device {
    backend: Arc<dyn DeviceBackend>,
    id: u64,
}

impl Device {
    /// Wrap any backend (for third-party runtimes).
    #[must_use]
    pub fn from_backend(backend: Arc<dyn DeviceBackend>) -> Self {
        Self {
            backend,
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The CPU reference interpreter: always available, no feature needed.
    #[must_use]
    pub fn cpu() -> Self {
        Self::from_backend(Arc::new(crate::backend::reference::CpuBackend::new()))
    }

    /// The best device available: CUDA (with the `cuda` feature and a
    /// driver), then wgpu (with the `wgpu` feature and an adapter), else the
    /// CPU. `VYRE_DEVICE=cpu|cuda|wgpu` forces one.
    #[must_use]
    pub fn best() -> Self {
        let forced = std::env::var("VYRE_DEVICE").ok();
        let want = |name: &str| forced.as_deref().is_none_or(|f| f == name);
        #[cfg(feature = "cuda")]
        if want("cuda")
            && let Ok(d) = Self::cuda(0)
        {
            return d;
        }
        #[cfg(feature = "wgpu")]
        if want("wgpu")
            && let Ok(d) = Self::wgpu()
        {
            return d;
        }
        let _ = want;
        Self::cpu()
    }

    /// The device's name.
    #[must_use]
    pub fn name(&self) -> String {
        self.backend.name()
    }

    /// The backend behind this handle.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn DeviceBackend> {
        &self.backend
    }

    /// Upload `data` into a new buffer.
    ///
    /// # Errors
    /// Allocation or copy failure.
    pub fn upload<T: Element>(&self, data: &[T]) -> Result<Buffer<T>> {
        Ok(Buffer {
            mem: self.backend.upload(as_bytes(data))?,
            device: self.id,
            len: data.len(),
            _elem: PhantomData,
        })
    }

    /// A new zero-filled buffer of `len` elements.
    ///
    /// # Errors
    /// Allocation failure.
    pub fn zeros<T: Element>(&self, len: usize) -> Result<Buffer<T>> {
        Ok(Buffer {
            mem: self.backend.alloc_zeroed(len * 4)?,
            device: self.id,
            len,
            _elem: PhantomData,
        })
    }

    /// Copy a buffer back into a new `Vec`.
    ///
    /// # Errors
    /// Copy failure, or a buffer of another device.
    pub fn download<T: Element>(&self, buffer: &Buffer<T>) -> Result<Vec<T>> {
        let mut out = vec![T::from_bits(0); buffer.len];
        self.download_into(buffer, &mut out)?;
        Ok(out)
    }

    /// Copy a buffer back into `out` (same length).
    ///
    /// # Errors
    /// Copy failure, length mismatch, or a buffer of another device.
    pub fn download_into<T: Element>(&self, buffer: &Buffer<T>, out: &mut [T]) -> Result<()> {
        self.check_own(buffer.device, "download")?;
        if out.len() != buffer.len {
            return Err(Error::LengthMismatch {
                buffer: buffer.len,
                host: out.len(),
            });
        }
        self.backend.read(&*buffer.mem, as_bytes_mut(out))
    }

    /// Overwrite a buffer with `data` (same length).
    ///
    /// # Errors
    /// Copy failure, length mismatch, or a buffer of another device.
    pub fn write<T: Element>(&self, buffer: &mut Buffer<T>, data: &[T]) -> Result<()> {
        self.check_own(buffer.device, "write")?;
        if data.len() != buffer.len {
            return Err(Error::LengthMismatch {
                buffer: buffer.len,
                host: data.len(),
            });
        }
        self.backend.write(&mut *buffer.mem, as_bytes(data))
    }

    /// Copy `src` into `dst` (same length) on the device, ordered after
    /// earlier launches; like a launch, it may return before it finished.
    ///
    /// # Errors
    /// Copy failure, different lengths, or a buffer of another device.
    pub fn copy<T: Element>(&self, src: &Buffer<T>, dst: &mut Buffer<T>) -> Result<()> {
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

    /// Wait until every launch so far has finished.
    ///
    /// # Errors
    /// An asynchronous launch failure.
    pub fn synchronize(&self) -> Result<()> {
        self.backend.synchronize()
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

    /// Launch `kernel`; the generated typed launchers call this. Checks the
    /// arguments against the kernel's parameters and that every buffer
    /// belongs to this device.
    ///
    /// # Errors
    /// Bad arguments, an empty grid, no suitable artifact, or a backend
    /// failure.
    pub fn launch(
        &self,
        kernel: &'static KernelSpec,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> Result<()> {
        if args.len() != kernel.params.len() {
            return Err(Error::BadArguments {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "{} arguments for {} parameters",
                    args.len(),
                    kernel.params.len()
                ),
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
        self.backend.launch(kernel, workgroups, &mut raw)
    }
}

/// A typed device buffer of `T`.
#[derive(Debug)]
pub struct Buffer<T: Element> {
    mem: Box<dyn DeviceMemory>,
    device: u64,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: Element> Buffer<T> {
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

    /// The backend memory (for backend code and benchmarks).
    #[must_use]
    pub fn memory(&self) -> &dyn DeviceMemory {
        &*self.mem
    }

    /// A read-only launch argument.
    #[must_use]
    pub fn arg(&self) -> LaunchArg<'_> {
        LaunchArg::Buffer {
            mem: &*self.mem,
            device: self.device,
            elem: T::TYPE,
        }
    }

    /// A read-write launch argument.
    #[must_use]
    pub fn arg_mut(&mut self) -> LaunchArg<'_> {
        LaunchArg::BufferMut {
            mem: &mut *self.mem,
            device: self.device,
            elem: T::TYPE,
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
}

impl LaunchArg<'_> {
    fn check<'s>(
        &'s mut self,
        device_id: u64,
        kernel: &KernelSpec,
        param: &ParamSpec,
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
            (_, param) => Err(bad(format!(
                "argument for `{}` ({param:?}) does not match: got {kind}",
                param.name()
            ))),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Self::Buffer { .. } => "a read-only buffer",
            Self::BufferMut { .. } => "a read-write buffer",
            Self::U32(_) => "a u32",
            Self::I32(_) => "an i32",
            Self::F32(_) => "an f32",
            Self::Bool(_) => "a bool",
        }
    }
}
