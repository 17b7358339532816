//! The `ptx` and `cubin` targets: our own PTX emitter, `ptxas` for cubins,
//! and (with the `cuda` feature) the CUDA runtime over cudarc.
//!
//! The emitter is layered one way: `emit` (IR walk; `emit/` holds its
//! expression, memory, statement, subgroup, vector, matrix and asynchronous
//! copy parts) -> `math` (transcendental
//! functions and `f32 %`) -> `code` (the code sink: register and label
//! allocation, the instruction list) -> `isa` (typed registers, operands and
//! instructions). PTX text is produced only when the module is written.
//!
//! # Kernel parameter layout
//!
//! The emitter and the runtime agree on this ABI (it is the only contract
//! between them). For each IR parameter, in declaration order:
//!
//! - a buffer `name: &[T]` / `&mut [T]` becomes two kernel parameters,
//!   `.param .u64 vyre_p<i>_ptr` (the device address) then
//!   `.param .u32 vyre_p<i>_len` (its length in elements; narrow
//!   elements are packed, 1 or 2 bytes each);
//! - a scalar becomes one `.param` of its type (`.u32`, `.s32`, `.f32`);
//!   a `bool` scalar is passed as a `.u32` holding 0 or 1.
//!
//! The entry point is named after the kernel (`Program::name`), and its
//! block size is pinned with `.reqntid` to the emitted workgroup size, so a
//! launch with another block shape fails loudly instead of misbehaving.

#[cfg(feature = "compiler")]
mod code;
#[cfg(feature = "compiler")]
mod cubin;
#[cfg(feature = "compiler")]
mod emit;
#[cfg(feature = "compiler")]
mod isa;
#[cfg(feature = "compiler")]
mod math;
#[cfg(feature = "cuda")]
pub mod runtime;

#[cfg(feature = "compiler")]
pub use cubin::{
    assemble, emit_cubin, emit_cubin_with, find_ptxas, find_ptxas_with, ptxas_env_vars,
};
#[cfg(feature = "compiler")]
pub use emit::{emit_ptx, emit_ptx_analysed};

/// The subgroup size of every kernel this target emits: a subgroup is a
/// warp, 32 threads on every NVIDIA architecture (PTX's `WARP_SZ`).
pub const WARP_SIZE: u32 = 32;

/// The module-scope `.global .u32` a kernel whose shared arrays exceed the
/// static 48 KiB declares, holding its dynamic shared memory size in bytes;
/// the CUDA runtime reads it after loading the module (absent: 0).
pub const DYN_SHARED_BYTES: &str = "vyre_dyn_shared_bytes";

/// Architecture used when `DispatchConfig::target_arch` is `None` (for a
/// kernel without matrix operations or asynchronous copies; see
/// [`default_arch`]).
pub const DEFAULT_ARCH: &str = "sm_70";

/// The oldest architecture with what matrix operations and asynchronous
/// copies are made of: `mma.sync.m16n8k16` of `f16`/`bf16` and `cp.async`.
pub const MATRIX_ARCH: &str = "sm_80";

/// The architecture `program` is emitted for when none is chosen
/// (`DispatchConfig::target_arch` is `None`): [`DEFAULT_ARCH`], or
/// [`MATRIX_ARCH`] for a kernel with matrix operations or asynchronous
/// copies, which the default cannot run. A chosen architecture is never
/// changed: below [`MATRIX_ARCH`] such a kernel is
/// `CompileError::Unsupported`.
#[must_use]
pub fn default_arch(program: &crate::ir::Program) -> &'static str {
    if program.uses_matrices() || program.uses_async_copies() {
        MATRIX_ARCH
    } else {
        DEFAULT_ARCH
    }
}

/// Supported architectures and the lowest PTX ISA version that can target
/// each (PTX ISA release notes: sm_70 arrived in PTX 6.0, sm_75 in 6.3,
/// sm_80 in 7.0, sm_86 in 7.1, sm_89 and sm_90 in 7.8, sm_100 and sm_120 in
/// 8.6/8.7). Emitting the lowest version keeps the PTX loadable by the
/// oldest driver that knows the architecture.
pub const ARCHES: &[(&str, &str)] = &[
    ("sm_70", "6.0"),
    ("sm_72", "6.1"),
    ("sm_75", "6.3"),
    ("sm_80", "7.0"),
    ("sm_86", "7.1"),
    ("sm_87", "7.4"),
    ("sm_89", "7.8"),
    ("sm_90", "7.8"),
    ("sm_90a", "8.0"),
    ("sm_100", "8.6"),
    ("sm_120", "8.7"),
];

/// The PTX ISA version for `arch`, or an error listing the supported ones.
///
/// # Errors
/// `arch` is not in [`ARCHES`].
pub fn isa_version(arch: &str) -> Result<&'static str, String> {
    ARCHES
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let known: Vec<&str> = ARCHES.iter().map(|(a, _)| *a).collect();
            format!(
                "unsupported CUDA architecture `{arch}`; supported: {}",
                known.join(", ")
            )
        })
}

/// Compute capability number of an `sm_XY` or `sm_XYa` name (`sm_86` ->
/// 86, `sm_90a` -> 90).
#[must_use]
pub fn arch_number(arch: &str) -> Option<u32> {
    let n = arch.strip_prefix("sm_")?;
    n.strip_suffix('a').unwrap_or(n).parse().ok()
}

/// The architecture whose `wgmma.mma_async` warpgroup multiplies read
/// their operands from swizzled shared memory (Hopper's "accelerated"
/// features; no later family has `wgmma`).
pub const WGMMA_ARCH: &str = "sm_90a";

/// Whether kernels built for `arch` multiply warpgroup matrices with
/// `wgmma.mma_async` (else with `mma.sync`, a subgroup at a time).
#[must_use]
pub fn has_wgmma(arch: &str) -> bool {
    arch == WGMMA_ARCH
}
