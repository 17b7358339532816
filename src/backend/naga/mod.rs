//! The `spirv`, `wgsl`, `msl` and `hlsl` targets through a `naga::Module`,
//! and (with the `wgpu` feature) the wgpu runtime.
