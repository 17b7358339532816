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
    /// CPU.
    ///
    /// `VYRE_DEVICE` forces one (see [`Device::from_env`]); when what it
    /// names cannot be had, `best` says so on stderr (`vyre: VYRE_DEVICE=...`)
    /// and returns the CPU, so that an example still runs. Use
    /// [`Device::from_env`] to get that as an error instead.
    #[must_use]
    pub fn best() -> Self {
        match Self::from_env() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("vyre: {e}; using the CPU instead");
                Self::cpu()
            }
        }
    }

    /// The device `VYRE_DEVICE` names: `cpu`, `cuda` (the first GPU),
    /// `cuda:N` (GPU `N`) or `wgpu`; unset or empty, the best available (as
    /// [`Device::best`] without the variable).
    ///
    /// # Errors
    ///
    /// [`crate::Error::DeviceRequest`] naming what was asked and why it is
    /// not available: a value that is none of the above, a backend whose
    /// feature this build of `vyre` lacks, or the backend's own reason (no
    /// driver, no adapter, no such ordinal).
    pub fn from_env() -> crate::runtime::Result<Self> {
        let value = std::env::var("VYRE_DEVICE").unwrap_or_default();
        Self::named(value.trim())
    }

    /// [`Device::from_env`] for the value `name`.
    fn named(name: &str) -> crate::runtime::Result<Self> {
        let asked = |reason: String| crate::Error::DeviceRequest {
            asked: name.to_string(),
            reason,
        };
        match name {
            "" => Ok(Self::first_available()),
            "cpu" => Ok(Self::cpu()),
            "wgpu" => {
                #[cfg(feature = "wgpu")]
                return Self::wgpu().map_err(|e| asked(e.to_string()));
                #[cfg(not(feature = "wgpu"))]
                return Err(asked(
                    "this build of vyre has no wgpu runtime; enable the `wgpu` feature of the `vyre` dependency".to_string(),
                ));
            }
            _ if name == "cuda" || name.starts_with("cuda:") => {
                let ordinal = match name.strip_prefix("cuda:") {
                    None => Some(0),
                    Some(n) => n.parse::<usize>().ok(),
                };
                let Some(ordinal) = ordinal else {
                    return Err(asked(
                        "a CUDA device is `cuda` or `cuda:N` with N the GPU's ordinal".to_string(),
                    ));
                };
                #[cfg(feature = "cuda")]
                return Self::cuda(ordinal).map_err(|e| asked(e.to_string()));
                #[cfg(not(feature = "cuda"))]
                {
                    let _ = ordinal;
                    Err(asked(
                        "this build of vyre has no CUDA runtime; enable the `cuda` feature of the `vyre` dependency".to_string(),
                    ))
                }
            }
            _ => Err(asked(
                "unknown device; VYRE_DEVICE takes `cpu`, `cuda`, `cuda:N` or `wgpu`".to_string(),
            )),
        }
    }

    /// CUDA, then wgpu, then the CPU: the first that opens.
    fn first_available() -> Self {
        #[cfg(feature = "cuda")]
        if let Ok(d) = Self::cuda(0) {
            return d;
        }
        #[cfg(feature = "wgpu")]
        if let Ok(d) = Self::wgpu() {
            return d;
        }
        Self::cpu()
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    fn message(name: &str) -> String {
        match Device::named(name) {
            Ok(d) => panic!("`{name}` gave {}", d.name()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn vyre_device_forces_what_it_names_or_says_why_not() {
        assert_eq!(Device::named("cpu").unwrap().tune_arch(), "cpu");
        let bogus = message("bogus");
        assert!(bogus.contains("VYRE_DEVICE=bogus"), "{bogus}");
        assert!(
            bogus.contains("takes `cpu`, `cuda`, `cuda:N` or `wgpu`"),
            "{bogus}"
        );
        let bad_ordinal = message("cuda:x");
        assert!(bad_ordinal.contains("`cuda` or `cuda:N`"), "{bad_ordinal}");
        #[cfg(not(feature = "cuda"))]
        assert!(message("cuda").contains("enable the `cuda` feature"));
        #[cfg(not(feature = "wgpu"))]
        assert!(message("wgpu").contains("enable the `wgpu` feature"));
        // With the feature, no GPU here is the backend's own reason.
        #[cfg(feature = "cuda")]
        if Device::cuda(0).is_err() {
            let m = message("cuda:0");
            assert!(m.contains("VYRE_DEVICE=cuda:0"), "{m}");
        }
        #[cfg(feature = "cuda")]
        assert!(message("cuda:999").contains("VYRE_DEVICE=cuda:999"));
    }
}
