//! vyre's conformance machinery (tests only, not published):
//!
//! - [`generator`]: a seeded generator of random *valid* programs over the whole
//!   IR, with inputs and a grid, whose results do not depend on invocation
//!   scheduling, so that any two targets can be compared; also a
//!   `proptest` strategy ([`case_strategy`]) that shrinks.
//! - [`compare`]: ULP distance and the per-operation float tolerances.
//! - [`corpus`]: the `.vyre` corpus files and the `spirv-val` probe.
//! - [`device_contract`]: what every `Device` must do, whatever its backend.
//! - [`programs`]: small hand-built programs shared by test suites.
//! - [`harness`]: run a case on the reference interpreter and on devices,
//!   compare, shrink a mismatch, save it as a regression kernel.
//!
//! The design and the figures are in `docs/testing.md`.

//!
//! Only [`compare`] and [`programs`] are built without the default `full`
//! feature (which needs `vyre`'s `compiler` feature).

pub mod compare;
#[cfg(feature = "full")]
pub mod corpus;
#[cfg(feature = "full")]
pub mod device_contract;
#[cfg(feature = "full")]
pub mod fuzz;
#[cfg(feature = "full")]
pub mod generator;
#[cfg(feature = "full")]
pub mod harness;
pub mod programs;
#[cfg(feature = "full")]
pub mod source;

pub use compare::{Tolerance, ulp_distance, ulp_distance_f64};
#[cfg(feature = "full")]
pub use generator::{Case, Check, GenConfig, Value, case_strategy, generate};

#[cfg(feature = "full")]
pub use harness::{DeviceTarget, Outcome, run_case, run_reference, shrink};
