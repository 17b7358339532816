//! Targets, one folder each, owning their emitter, launcher codegen and
//! runtime glue.

pub mod reference;

#[cfg(feature = "compiler")]
pub mod ptx;

#[cfg(any(feature = "compiler", feature = "wgpu"))]
pub mod naga;
