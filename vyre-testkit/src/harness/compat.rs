//! TEMP(subgroups-merge): stand-ins for two APIs being added on other
//! branches, so this branch builds on its own. When `ref2` and `ptx2` are
//! merged, delete this module and its `mod` line, and in `run.rs` set
//! `subgroup_size` directly in `RunOptions` and call
//! `self.device.subgroup_size()` (see the two `compat::` calls there).

use vyre::Device;
use vyre::backend::reference::RunOptions;

/// `RunOptions { subgroup_size, .. }` (branch `ref2`); the stand-in drops
/// the size (the reference of `main` rejects subgroup operations anyway).
pub(super) fn with_subgroup_size(opts: RunOptions, subgroup_size: u32) -> RunOptions {
    let _ = subgroup_size;
    opts
}

/// `Device::subgroup_size()` (branch `ptx2`); the stand-in knows only the
/// CPU device, whose reference interpreter runs with its default size.
pub(super) fn device_subgroup_size(device: &Device) -> Option<u32> {
    (device.name() == Device::cpu().name()).then_some(super::run::DEFAULT_SUBGROUP_SIZE)
}
