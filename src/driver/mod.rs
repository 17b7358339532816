//! Driver layer: the backend-neutral AOT registries (`aot`), the emission
//! policy ([`DispatchConfig`]) and the error type every backend reports
//! ([`BackendError`]).

pub mod aot;
mod config;
mod error;

pub use aot::*;
pub use config::{BoundsChecks, DispatchConfig};
pub use error::BackendError;
