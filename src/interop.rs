//! Zero-copy interop with the GPU crates an application already uses, both
//! ways: a vyre [`Device`] over an existing `wgpu::Device` and `Queue` or a
//! cudarc `CudaContext`, and vyre [`Buffer`]s over `wgpu::Buffer`s and
//! cudarc `CudaSlice`s, handed back afterwards. Like [`crate::devices`],
//! this sits above the runtime and the backends, and names them.
//!
//! Ownership and ordering:
//!
//! - **wgpu.** Buffers and devices are shared handles: the application
//!   keeps its own. vyre records launches and submits them in batches, so
//!   call [`Device::synchronize`] before the application's own submissions
//!   read what vyre wrote; the application's earlier submissions are
//!   ordered before vyre's by the queue.
//! - **CUDA.** A `CudaSlice` is moved into the buffer and moved out again
//!   ([`Buffer::into_cuda_slice`]), so it has one owner at a time; its
//!   stream is synchronised on the way in and the context on the way out,
//!   because vyre launches on the legacy default stream. Memory vyre
//!   allocated is lent as a raw pointer ([`Buffer::cuda_device_ptr`]), not
//!   handed over: cudarc would free it its own way.
//!
//! Using memory of one device with another is an error at launch
//! ([`crate::Error::WrongDevice`] or [`crate::Error::ForeignMemory`]), not
//! undefined behaviour.

#[cfg(any(feature = "cuda", feature = "wgpu"))]
use std::sync::Arc;

#[cfg(feature = "wgpu")]
use crate::backend::naga::runtime::{WgpuBackend, WgpuMemory};
#[cfg(feature = "cuda")]
use crate::backend::ptx::runtime::{CudaBackend, CudaMemory, cudarc};
#[cfg(any(feature = "cuda", feature = "wgpu"))]
use crate::runtime::{Buffer, Device, Element, Error, Result};

#[cfg(feature = "wgpu")]
impl Device {
    /// A device over the application's wgpu `device` and `queue` (see
    /// [`WgpuBackend::from_device`]).
    #[must_use]
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Device {
        Device::from_backend(Arc::new(WgpuBackend::from_device(device, queue)))
    }

    /// The wgpu device and queue of a wgpu device, `None` on other
    /// backends.
    #[must_use]
    pub fn wgpu_parts(&self) -> Option<(&wgpu::Device, &wgpu::Queue)> {
        self.backend_as::<WgpuBackend>()
            .map(|b| (b.device(), b.queue()))
    }

    /// The application's `buffer` (of this device) as a buffer of `len`
    /// elements of `T`, without a copy.
    ///
    /// # Errors
    /// Not a wgpu device ([`Error::ForeignMemory`]); a buffer without
    /// `STORAGE | COPY_SRC | COPY_DST` usage or too small
    /// ([`Error::Backend`]); `len` too large.
    pub fn buffer_from_wgpu<T: Element>(
        &self,
        buffer: wgpu::Buffer,
        len: usize,
    ) -> Result<Buffer<T>> {
        if self.backend_as::<WgpuBackend>().is_none() {
            return Err(Error::ForeignMemory {
                backend: self.name(),
                expected: "a wgpu device for a wgpu::Buffer".to_string(),
            });
        }
        let bytes = len
            .checked_mul(T::TYPE.size_bytes() as usize)
            .ok_or_else(|| Error::InvalidBuffer {
                reason: format!("{len} elements overflow the address space"),
            })?;
        let mem = WgpuMemory::from_buffer(buffer, bytes)?;
        Buffer::from_any(self.adopt(Box::new(mem), T::TYPE, len)?)
    }
}

#[cfg(feature = "wgpu")]
impl<T: Element> Buffer<T> {
    /// The wgpu buffer behind a buffer of a wgpu device.
    #[must_use]
    pub fn wgpu_buffer(&self) -> Option<&wgpu::Buffer> {
        (self.memory() as &dyn std::any::Any)
            .downcast_ref::<WgpuMemory>()
            .map(WgpuMemory::buffer)
    }

    /// The wgpu buffer, handed back; the buffer itself when it is not one.
    ///
    /// # Errors
    /// `self`, unchanged, for memory of another backend.
    pub fn into_wgpu_buffer(self) -> std::result::Result<wgpu::Buffer, Self> {
        self.try_into_memory(|m: WgpuMemory| Ok(m.into_buffer()))
    }
}

#[cfg(feature = "cuda")]
impl Device {
    /// A device over the application's cudarc context (see
    /// [`CudaBackend::from_context`]).
    ///
    /// # Errors
    /// [`Error::NoDevice`] when the device cannot be queried.
    pub fn from_cudarc(ctx: Arc<cudarc::driver::CudaContext>) -> Result<Device> {
        Ok(Device::from_backend(Arc::new(CudaBackend::from_context(
            ctx,
        )?)))
    }

    /// The cudarc context of a CUDA device, `None` on other backends.
    #[must_use]
    pub fn cudarc_context(&self) -> Option<&Arc<cudarc::driver::CudaContext>> {
        self.backend_as::<CudaBackend>().map(CudaBackend::context)
    }

    /// The application's `slice` as a buffer, without a copy: the slice
    /// moves in (see [`CudaMemory::from_cuda_slice`]) and comes back with
    /// [`Buffer::into_cuda_slice`].
    ///
    /// # Errors
    /// Not a CUDA device, or a slice of another context
    /// ([`Error::ForeignMemory`]); the stream synchronisation fails.
    pub fn buffer_from_cuda_slice<T: Element + cudarc::driver::DeviceRepr>(
        &self,
        slice: cudarc::driver::CudaSlice<T>,
    ) -> Result<Buffer<T>> {
        let same = self
            .cudarc_context()
            .is_some_and(|ctx| ctx.cu_ctx() == slice.context().cu_ctx());
        if !same {
            return Err(Error::ForeignMemory {
                backend: self.name(),
                expected: "a CudaSlice of this device's CUDA context".to_string(),
            });
        }
        let len = slice.len();
        let mem = CudaMemory::from_cuda_slice(slice)?;
        Buffer::from_any(self.adopt(Box::new(mem), T::TYPE, len)?)
    }
}

#[cfg(feature = "cuda")]
impl<T: Element> Buffer<T> {
    /// The device address of a buffer of a CUDA device (lent: vyre still
    /// owns the memory).
    #[must_use]
    pub fn cuda_device_ptr(&self) -> Option<cudarc::driver::sys::CUdeviceptr> {
        (self.memory() as &dyn std::any::Any)
            .downcast_ref::<CudaMemory>()
            .map(CudaMemory::device_ptr)
    }

    /// The `CudaSlice` this buffer was made from, back, once vyre's work on
    /// it has finished; the buffer itself when vyre allocated it (or it
    /// is not CUDA memory).
    ///
    /// # Errors
    /// `self`, unchanged.
    pub fn into_cuda_slice(self) -> std::result::Result<cudarc::driver::CudaSlice<T>, Self>
    where
        T: cudarc::driver::DeviceRepr,
    {
        self.try_into_memory(|m: CudaMemory| m.into_cuda_slice::<T>())
    }
}
