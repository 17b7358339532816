//! The built-in devices: the one place that names the backends.
//!
//! [`crate::runtime`] defines [`Device`] and the [`DeviceBackend`] trait and
//! depends on no backend; the backends (`crate::backend::*`) implement the
//! trait. The constructors below sit above both: [`Device::cpu`] (the
//! reference interpreter, always there), `Device::cuda` (feature `cuda`),
//! `Device::wgpu` / `Device::wgpu_with` (feature `wgpu`) and
//! [`Device::best`], which picks among them.
//!
//! [`DeviceBackend`]: crate::runtime::DeviceBackend

use std::sync::Arc;

#[cfg(feature = "wgpu")]
use crate::backend::naga::runtime::{WgpuBackend, WgpuOptions};
#[cfg(feature = "cuda")]
use crate::backend::ptx::runtime::CudaBackend;
use crate::backend::reference::CpuBackend;
use crate::runtime::Device;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
use crate::runtime::Result;

impl Device {
    /// The CPU reference interpreter: always available, no feature needed.
    #[must_use]
    pub fn cpu() -> Self {
        Self::from_backend(Arc::new(CpuBackend::new()))
    }

    /// The CUDA device with this ordinal (0 is the first GPU).
    ///
    /// # Errors
    /// [`crate::Error::NoDevice`] when the driver library is missing, no GPU
    /// is visible or `ordinal` is out of range.
    #[cfg(feature = "cuda")]
    pub fn cuda(ordinal: usize) -> Result<Device> {
        Ok(Device::from_backend(Arc::new(CudaBackend::new(ordinal)?)))
    }

    /// The best wgpu adapter (override with `VYRE_WGPU_ADAPTER=<name
    /// substring>`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoDevice`] when no adapter is found (or none matches
    /// the override), or the device cannot be opened.
    #[cfg(feature = "wgpu")]
    pub fn wgpu() -> Result<Device> {
        Self::wgpu_with(&WgpuOptions::from_env())
    }

    /// A wgpu device picked by `options`.
    ///
    /// # Errors
    ///
    /// As [`Device::wgpu`].
    #[cfg(feature = "wgpu")]
    pub fn wgpu_with(options: &WgpuOptions) -> Result<Device> {
        Ok(Device::from_backend(Arc::new(WgpuBackend::new(options)?)))
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
}
