//! Driver layer: the backend-neutral AOT registries (`aot`), the emission
//! policy ([`DispatchConfig`]), the error type every backend reports
//! ([`BackendError`]) and the typed error of lowering and emission
//! ([`CompileError`]).

pub mod aot;
mod config;
mod error;
mod result;

pub use aot::*;
pub use config::{BoundsChecks, DispatchConfig};
pub use error::BackendError;
pub use result::{CompileError, CompileResult};
