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
mod error;
mod memory;
mod spec;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use backend::{DeviceBackend, KernelArg};
pub use cache::ModuleCache;
pub use error::{Error, Result};
pub use memory::{
    DeviceMemory, Element, as_bytes, as_bytes_mut, downcast_memory, downcast_memory_mut,
};
pub use spec::{Artifact, ArtifactWant, Grid, KernelSpec, ParamSpec};

use crate::ir::{Access, DataType};

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

    /// The device's name.
    #[must_use]
    pub fn name(&self) -> String {
        self.backend.name()
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

    /// Launch `kernel`; the generated typed launchers call this (with their
    /// `static` spec; any spec works, the backend caches by
    /// [`KernelSpec::key`]). Checks the arguments against the kernel's
    /// parameters and that every buffer belongs to this device.
    ///
    /// # Errors
    /// Bad arguments, an empty grid, no suitable artifact, or a backend
    /// failure.
    pub fn launch(
        &self,
        kernel: &KernelSpec<'_>,
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

#[cfg(test)]
mod tests {
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
