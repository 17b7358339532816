//! vyre: GPU kernels written in a Rust subset, compiled at `cargo build` time
//! (by `vyre-build`) for CUDA, Vulkan/Metal/DX12 and the CPU, and launched as
//! typed, safe Rust functions.
//!
//! Layers point one way: [`lang`] → [`ir`]; [`backend`] → [`mid`] →
//! [`ir`], [`backend`] → [`driver`]; [`runtime`] runs what the backends emitted.

pub mod backend;
mod devices;
pub mod driver;
mod interop;
pub mod ir;
#[cfg(feature = "compiler")]
pub mod lang;
pub mod mid;
pub mod runtime;

/// Options of [`Device::wgpu_with`] (adapter, WGSL instead of SPIR-V).
#[cfg(feature = "wgpu")]
pub use backend::naga::runtime::WgpuOptions;
pub use driver::{BackendError, DispatchConfig};
pub use runtime::{Buffer, Device, Element, Error, Grid, Result};

#[doc(hidden)]
pub use inventory;

/// The `half` crate, whose `f16` and `bf16` are the host types of the
/// kernels' `f16` and `bf16` (buffer elements and scalar arguments);
/// generated launchers name them `vyre::half::bf16`.
pub use half;

/// The generator/runtime protocol version. Generated launcher modules assert
/// it at compile time so a `vyre-build`/`vyre` version skew is one clear
/// error instead of confusing type errors.
// Version 3: `KernelSpec::debug` (the `debug_print!`/`debug_assert!` sites).
pub const LAUNCHER_ABI_VERSION: u32 = 3;

/// Include the launcher module `vyre-build` generated into `OUT_DIR`
/// (`vyre_kernels.rs` by default, or the given file name), with the lint
/// allows generated code needs.
///
/// ```ignore
/// mod kernels { vyre::include_kernels!(); }
/// ```
#[macro_export]
macro_rules! include_kernels {
    () => {
        $crate::include_kernels!("vyre_kernels.rs");
    };
    ($file:literal) => {
        #[allow(
            clippy::all,
            clippy::pedantic,
            dead_code,
            unused_imports,
            unsafe_op_in_unsafe_fn,
            missing_docs
        )]
        mod __vyre_generated {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
        #[allow(unused_imports)]
        pub use __vyre_generated::*;
    };
}

/// The user guide (`docs/guide.md`): its snippets are compiled and run as
/// doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct UserGuide;
