//! [`Error`] and [`Result`] of the runtime.

use super::tune;

/// What can go wrong when running kernels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable device of the asked kind (no driver, no adapter).
    #[error("no {backend} device available: {reason}")]
    NoDevice {
        /// "cuda", "wgpu", ...
        backend: String,
        /// Why, and how to fix it.
        reason: String,
    },
    /// `VYRE_DEVICE` names a device that cannot be had.
    #[error("VYRE_DEVICE={asked}: {reason}")]
    DeviceRequest {
        /// The variable's value.
        asked: String,
        /// Why it cannot be had, and how to fix it.
        reason: String,
    },
    /// The kernel was not compiled for any target this device runs.
    #[error(
        "kernel `{kernel}` has no artifact for {device} (compiled targets: {available}); add one of {wanted} to the build's targets and enable the matching `vyre` feature"
    )]
    TargetNotCompiled {
        /// Kernel name.
        kernel: String,
        /// The device.
        device: String,
        /// Targets the device could run.
        wanted: String,
        /// Targets present.
        available: String,
    },
    /// The kernel uses a construct the target this device runs cannot
    /// express (`f64` on WGSL, say); the build recorded why.
    #[error(
        "kernel `{kernel}` cannot run on {device}: its `{target}` target cannot express it ({reason}); run it on a device whose target can"
    )]
    TargetCannotExpress {
        /// Kernel name.
        kernel: String,
        /// The device.
        device: String,
        /// The target the device runs.
        target: String,
        /// What the target lacks.
        reason: String,
    },
    /// A buffer argument lives on another device.
    #[error(
        "argument `{param}` of `{kernel}` is a buffer of another device; upload it to this device first"
    )]
    WrongDevice {
        /// Kernel name.
        kernel: String,
        /// Parameter name.
        param: String,
    },
    /// The arguments do not match the kernel's signature (a launcher/kernel
    /// version skew; generated launchers are checked by rustc).
    #[error("bad arguments for `{kernel}`: {reason}")]
    BadArguments {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// The grid is empty or too large for the device.
    #[error("invalid grid for `{kernel}`: {reason}")]
    InvalidGrid {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// The two buffers of a device-to-device copy differ in length.
    #[error("copy between buffers of different lengths: source {src} elements, destination {dst}")]
    CopyLengthMismatch {
        /// Source elements.
        src: usize,
        /// Destination elements.
        dst: usize,
    },
    /// Host and device buffer lengths differ.
    #[error("length mismatch: buffer holds {buffer} elements, host slice {host}")]
    LengthMismatch {
        /// Device buffer elements.
        buffer: usize,
        /// Host slice elements.
        host: usize,
    },
    /// Memory of one backend was handed to another (through [`Device`],
    /// a buffer of another device is [`Error::WrongDevice`] instead; this
    /// is what a backend called directly reports).
    ///
    /// [`Device`]: super::Device
    #[error(
        "{backend}: the buffer is not memory of this backend (expected {expected}); upload it to this device first"
    )]
    ForeignMemory {
        /// The backend that got the memory.
        backend: String,
        /// The memory type it expected.
        expected: String,
    },
    /// Bytes that cannot be a buffer of the asked element type (not a
    /// whole number of elements, or a type that cannot be stored).
    #[error("invalid buffer: {reason}")]
    InvalidBuffer {
        /// What is wrong.
        reason: String,
    },
    /// A backend (driver, loader, module) error.
    #[error("{backend}: {message}")]
    Backend {
        /// Backend name.
        backend: String,
        /// The driver's message.
        message: String,
    },
    /// The device cannot do what was asked (a CUDA graph on a backend
    /// without graphs, say).
    #[error("{backend} cannot {what}")]
    Unsupported {
        /// Backend name.
        backend: String,
        /// What it cannot do, and what to do instead.
        what: String,
    },
    /// An operation that cannot be recorded into a graph was called while
    /// [`Device::capture`](super::Device::capture) records one (only
    /// launches and device-to-device copies can be).
    #[error(
        "{what} while capturing a graph: only launches and device copies can be captured; do it before or after `Device::capture`"
    )]
    WhileCapturing {
        /// The operation.
        what: String,
    },
    /// A `debug_assert!` failed in a kernel (built with debugging on).
    #[error("kernel `{kernel}`: assertion failed at {site} in invocation ({}, {}, {}): {condition}{}{}", invocation[0], invocation[1], invocation[2], if message.is_empty() { String::new() } else { format!(": {message}") }, if *more > 0 { format!(" (and {more} more failures)") } else { String::new() })]
    KernelAssert {
        /// Kernel name.
        kernel: String,
        /// `file:line:column` of the first failed assert (in invocation
        /// order).
        site: String,
        /// Its invocation's `global_id()`.
        invocation: [u32; 3],
        /// The condition as written.
        condition: String,
        /// Its formatted message, if it has one.
        message: String,
        /// How many other records of failed asserts the launch wrote.
        more: usize,
    },
    /// A tuning table (`vyre-tune.toml`) that cannot be read or written.
    #[error(transparent)]
    Tune(#[from] tune::TuneError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
