//! The emission policy handed to every emitter.

/// How bounds checks are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BoundsChecks {
    /// Follow the kernel: checked unless `#[kernel(unchecked)]`; checks that
    /// a dominating guard proves redundant are elided.
    #[default]
    Auto,
    /// Check every access, even ones proven safe and in unchecked kernels
    /// (for debugging emitters).
    Always,
}

/// Emission policy: what an emitter may assume and must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchConfig {
    /// Replace the kernel's declared workgroup size.
    pub workgroup_size: Option<[u32; 3]>,
    /// Error budget, in ULP, that approximate intrinsics may use (`0` means
    /// exact lowering only; kernels marked `fast_math` ignore it).
    pub ulp_budget: u32,
    /// Bounds-check policy.
    pub bounds_checks: BoundsChecks,
    /// Target architecture, e.g. `sm_90` for PTX/cubin; `None` picks the
    /// target's default.
    pub target_arch: Option<String>,
    /// A label for diagnostics and debug names.
    pub label: Option<String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            workgroup_size: None,
            ulp_budget: 0,
            bounds_checks: BoundsChecks::Auto,
            target_arch: None,
            label: None,
        }
    }
}

impl DispatchConfig {
    /// Set the workgroup-size override.
    #[must_use]
    pub fn with_workgroup_size(mut self, size: [u32; 3]) -> Self {
        self.workgroup_size = Some(size);
        self
    }

    /// Set the ULP budget for approximate intrinsics.
    #[must_use]
    pub fn with_ulp_budget(mut self, ulp: u32) -> Self {
        self.ulp_budget = ulp;
        self
    }

    /// Set the bounds-check policy.
    #[must_use]
    pub fn with_bounds_checks(mut self, policy: BoundsChecks) -> Self {
        self.bounds_checks = policy;
        self
    }

    /// Set the target architecture (e.g. `sm_80`).
    #[must_use]
    pub fn with_target_arch(mut self, arch: impl Into<String>) -> Self {
        self.target_arch = Some(arch.into());
        self
    }

    /// Set the label.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Whether bounds checks must be emitted for `program`.
    #[must_use]
    pub fn checks_bounds(&self, program: &crate::ir::Program) -> bool {
        self.bounds_checks == BoundsChecks::Always || !program.unchecked
    }

    /// The workgroup size to emit for `program`.
    #[must_use]
    pub fn effective_workgroup_size(&self, program: &crate::ir::Program) -> [u32; 3] {
        self.workgroup_size.unwrap_or(program.workgroup_size)
    }
}
