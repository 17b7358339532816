//! The `ptx` and `cubin` targets: our own PTX emitter, `ptxas` for cubins,
//! and (with the `cuda` feature) the CUDA runtime over cudarc.
