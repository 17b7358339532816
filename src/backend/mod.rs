//! Targets, one folder each, owning their emitter, launcher codegen and
//! runtime glue.

pub mod reference;

#[cfg(any(feature = "compiler", feature = "cuda"))]
pub mod ptx;

#[cfg(any(feature = "compiler", feature = "wgpu"))]
pub mod naga;
