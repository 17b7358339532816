//! The middle layer: analyses of a validated [`Program`](crate::ir::Program)
//! that every target needs, written once and consumed by every emitter
//! (PTX, naga's SPIR-V/WGSL/MSL/HLSL, the reference interpreter).
//!
//! - [`bounds`]: for every load, store and atomic, whether its index needs
//!   a run-time bounds check ([`IndexChecks`]); one decision per access,
//!   the same on every target.
//! - `align`: the alignment and value-range facts and the `key + offset`
//!   index forms behind bounds-check elision and 16-byte vector accesses.
//!
//! - [`legal`]: how semantics that targets lack (integer division by 0,
//!   `i32::MIN / -1`) are bridged, decided once for every emitter.
//! - [`widen()`]: the narrow-type rule (`f16 bf16 u8 i8 u16 i16` computed
//!   in 32 bits, rounded or wrapped back), leaving narrow types in memory
//!   accesses only; every target, the reference included, runs its output.
//! - [`prepare()`]: the rewrites every device target wants before emission
//!   ([`widen()`], `#[unroll]`, folding, private arrays with constant indices
//!   to locals).
//! - [`tile`]: tile copies as loops of element copies, for targets without
//!   a copy engine (and for Hopper's run-time fallback).
//! - [`Analysis`]: the above plus the facts validation established
//!   (uniformity), computed once per kernel.
//!
//! Layers: `mid -> ir`, `mid -> driver` (configuration and errors),
//! `backend -> mid`. Nothing here knows a target.

// The vector-access helpers serve the emitters only (feature `compiler`).
#[cfg_attr(not(feature = "compiler"), allow(dead_code))]
pub(crate) mod align;
mod analysis;
pub mod bounds;
pub mod legal;
mod prepare;
pub mod tile;
pub mod widen;

pub use analysis::Analysis;
pub use bounds::{AccessDecision, CheckQuery, IndexChecks, QueryKind};
pub use prepare::prepare;
pub use tile::lower_tile_copies;
pub use widen::widen;
