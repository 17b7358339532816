//! The runtime of standalone vyre launcher crates.
//!
//! `vyre-build` emits a launcher crate (see `vyre_build::LauncherCrate`):
//! a `Cargo.toml`, a `src/main.rs` from the target's registered
//! `vyre::driver::AotLauncherEmitter`, and a **bundle**: `manifest.json`
//! ([`manifest::Manifest`]: kernels, parameters, workgroup sizes, grid
//! rules, the SHA-256 of every blob) beside the blobs. Its binary calls
//! [`main`], which
//!
//! 1. verifies the bundle ([`bundle::Bundle::load`]): the manifest must be
//!    the one the crate was emitted with, every blob must have its size and
//!    SHA-256; nothing is allocated on a device before that;
//! 2. runs what the command line asks:
//!    - `list`: the kernels and their parameters;
//!    - `verify`: the check alone;
//!    - `run <kernel> --in x=x.npy --scalar a=2.5 --out y=y.npy`: one
//!      launch, inputs and outputs as `.npy` or raw little-endian files
//!      ([`host`]);
//!    - `train` (crates emitted with the training loop): the eval-time
//!      training loop ([`train`]).
//!
//! Every failure is one line on stderr (`error: ...`) and a non-zero exit
//! status; nothing panics on bad input.

pub mod bundle;
pub mod error;
pub mod manifest;

#[cfg(feature = "run")]
mod cli;
#[cfg(feature = "run")]
pub mod host;
#[cfg(feature = "nccl")]
mod nccl;
#[cfg(feature = "run")]
pub mod ranks;
#[cfg(feature = "run")]
pub mod run;
#[cfg(feature = "run")]
pub(crate) mod train;

pub use error::{LauncherError, Result};

#[cfg(feature = "run")]
pub use cli::{Backend, Launcher, main};
