//! The `spirv`, `wgsl`, `msl` and `hlsl` targets through a `naga::Module`,
//! and (with the `wgpu` feature) the wgpu runtime.
//!
//! With `compiler`, [`lower`] turns a [`crate::ir::Program`] into a
//! `naga::Module` directly, [`emit`] validates it with naga's validator and
//! writes each target; the four emitters and their launcher codegen are
//! registered in the driver's registries. [`layout`] is the binding layout
//! both the shaders and the runtime follow. See `docs/targets.md`.

pub mod layout;

#[cfg(feature = "compiler")]
pub mod emit;
#[cfg(feature = "compiler")]
pub mod lower;

#[cfg(feature = "wgpu")]
pub mod runtime;
