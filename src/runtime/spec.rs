//! What the runtime knows about a compiled kernel ([`KernelSpec`], its
//! [`ParamSpec`]s and embedded [`Artifact`]s), which artifact a backend
//! runs ([`KernelSpec::select_artifacts`]), and the launch [`Grid`].
//!
//! Generated launchers hold their specs in `static`s (`KernelSpec<'static>`);
//! tests and tools build them at run time from owned data, borrowed for as
//! long as the spec lives.

use super::Error;
use crate::ir::{Access, DataType, SizeOp};

/// A compiled blob of one kernel for one target, embedded in the binary
/// (or, for specs built at run time, borrowed from the builder).
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    /// Target id (`reference`, `ptx`, `cubin`, `spirv`, `wgsl`, ...).
    pub target: &'a str,
    /// Architecture, for per-arch targets (`sm_90`).
    pub arch: Option<&'a str>,
    /// The blob.
    pub bytes: &'a [u8],
}

impl Artifact<'_> {
    /// How the blob of a kernel that its target cannot express starts; the
    /// reason follows as UTF-8 (see [`Artifact::unsupported_blob`]).
    pub const UNSUPPORTED_MAGIC: &'static [u8] = b"vyre:unsupported\n";

    /// The blob a build records for a kernel that `target` cannot express
    /// (`reason` says what it lacks), so that launching the kernel on a
    /// device of that target fails with [`Error::TargetCannotExpress`]
    /// instead of the build failing for every device.
    #[must_use]
    pub fn unsupported_blob(reason: &str) -> Vec<u8> {
        [Self::UNSUPPORTED_MAGIC, reason.as_bytes()].concat()
    }

    /// The reason this artifact stands for a kernel its target cannot
    /// express, if it does.
    #[must_use]
    pub fn unsupported_reason(&self) -> Option<&str> {
        self.bytes
            .strip_prefix(Self::UNSUPPORTED_MAGIC)
            .map(|r| std::str::from_utf8(r).unwrap_or("(reason not UTF-8)"))
    }
}

/// A kernel parameter as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSpec<'a> {
    /// A buffer of `elem`, read-only or read-write.
    Buffer {
        /// Parameter name.
        name: &'a str,
        /// Element type.
        elem: DataType,
        /// Access mode.
        access: Access,
    },
    /// A scalar.
    Scalar {
        /// Parameter name.
        name: &'a str,
        /// Its type.
        ty: DataType,
    },
}

impl<'a> ParamSpec<'a> {
    /// The parameter's name.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        match self {
            Self::Buffer { name, .. } | Self::Scalar { name, .. } => name,
        }
    }
}

/// Everything the runtime knows about one compiled kernel; generated as a
/// `static` per kernel, or built at run time from borrowed data.
#[derive(Debug, Clone, Copy)]
pub struct KernelSpec<'a> {
    /// Kernel name.
    pub name: &'a str,
    /// Unique key within the binary (`module::path::kernel` plus a content
    /// hash), used to cache loaded modules per device: two specs with one
    /// key must describe the same kernel.
    pub key: &'a str,
    /// Parameters in order.
    pub params: &'a [ParamSpec<'a>],
    /// Invocations per workgroup.
    pub workgroup_size: [u32; 3],
    /// Whether bounds checks were compiled out (`unchecked`).
    pub unchecked: bool,
    /// Every compiled artifact.
    pub artifacts: &'a [Artifact<'a>],
    /// The `debug_print!`/`debug_assert!` call sites of a debug build, by
    /// the site number its records carry (empty otherwise).
    pub debug: &'a [super::DebugSiteSpec<'a>],
    /// The tensor maps of the kernel's tile copies (`async_copy_tile`), in
    /// order: a CUDA launch passes one after the kernel's parameters
    /// (empty for kernels without tile copies; other targets ignore them).
    pub tensor_maps: &'a [TensorMapSpec],
}

/// A tensor map a kernel's tile copies read through: buffer parameter
/// `buffer` viewed as a row-major `rows x cols` matrix (at most `len /
/// cols` rows count), read in boxes of `box_rows` rows and one 128-byte
/// panel of columns, swizzled the way `#[shared(swizzled, ..)]` tiles are
/// laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorMapSpec {
    /// Index of the buffer parameter.
    pub buffer: u32,
    /// The matrix's rows: a `u32` parameter's value, a constant, or every
    /// row the buffer holds.
    pub rows: crate::ir::TileDim,
    /// Its columns: a `u32` parameter's value or a constant.
    pub cols: crate::ir::TileDim,
    /// Rows of a box.
    pub box_rows: u32,
}

/// One kind of artifact a backend can run: a target and, for per-arch
/// targets, the architecture (`None` matches any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactWant<'w> {
    /// Target id.
    pub target: &'w str,
    /// Architecture, or `None` for any.
    pub arch: Option<&'w str>,
}

impl<'w> ArtifactWant<'w> {
    /// Any artifact of `target`.
    #[must_use]
    pub const fn target(target: &'w str) -> Self {
        Self { target, arch: None }
    }

    /// An artifact of `target` for `arch`.
    #[must_use]
    pub const fn arch(target: &'w str, arch: &'w str) -> Self {
        Self {
            target,
            arch: Some(arch),
        }
    }

    fn matches(&self, a: &Artifact<'_>) -> bool {
        a.target == self.target && (self.arch.is_none() || a.arch == self.arch)
    }
}

impl<'a> KernelSpec<'a> {
    /// The first artifact for `target` (and `arch`, when given).
    #[must_use]
    pub fn artifact(&self, target: &str, arch: Option<&str>) -> Option<&'a Artifact<'a>> {
        let want = ArtifactWant { target, arch };
        self.artifacts.iter().find(|a| want.matches(a))
    }

    /// The artifacts a backend can run, best first: for each of `wants` in
    /// order of preference, its first matching artifact. Backends try them
    /// in order (CUDA falls back from a cubin the driver rejects to PTX) or
    /// take the first.
    ///
    /// # Errors
    /// [`Error::TargetNotCompiled`] naming `device` when none matches;
    /// [`Error::TargetCannotExpress`] when the only matches stand for a
    /// kernel their target cannot express.
    pub fn select_artifacts(
        &self,
        device: &str,
        wants: &[ArtifactWant<'_>],
    ) -> Result<Vec<&'a Artifact<'a>>, Error> {
        let matched: Vec<&'a Artifact<'a>> = wants
            .iter()
            .filter_map(|w| self.artifacts.iter().find(|a| w.matches(a)))
            .collect();
        let found: Vec<&'a Artifact<'a>> = matched
            .iter()
            .copied()
            .filter(|a| a.unsupported_reason().is_none())
            .collect();
        if let (true, Some(lacking)) = (found.is_empty(), matched.first()) {
            return Err(Error::TargetCannotExpress {
                kernel: self.name.to_string(),
                device: device.to_string(),
                target: lacking.target.to_string(),
                reason: lacking.unsupported_reason().unwrap_or_default().to_string(),
            });
        }
        if found.is_empty() {
            let mut targets: Vec<&str> = wants.iter().map(|w| w.target).collect();
            targets.dedup();
            return Err(self.not_compiled(device, &targets));
        }
        Ok(found)
    }

    /// The error for "none of `wanted` was compiled".
    #[must_use]
    pub fn not_compiled(&self, device: &str, wanted: &[&str]) -> Error {
        let mut available: Vec<&str> = self.artifacts.iter().map(|a| a.target).collect();
        available.dedup();
        Error::TargetNotCompiled {
            kernel: self.name.to_string(),
            device: device.to_string(),
            wanted: wanted.join(" or "),
            available: if available.is_empty() {
                "none (stub build)".to_string()
            } else {
                available.join(", ")
            },
        }
    }
}

/// How many workgroups to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// At least this many invocations per dimension, rounded up to whole
    /// workgroups (the usual "one thread per element").
    Threads([u32; 3]),
    /// Exactly this many workgroups per dimension.
    Workgroups([u32; 3]),
}

impl Grid {
    /// One invocation per element of a 1-D problem of `n` elements.
    #[must_use]
    pub fn threads(n: usize) -> Self {
        Self::Threads([u32::try_from(n).unwrap_or(u32::MAX), 1, 1])
    }

    /// `[x, y]` invocations of a 2-D problem.
    #[must_use]
    pub fn threads_2d(x: u32, y: u32) -> Self {
        Self::Threads([x, y, 1])
    }

    /// Exactly `n` workgroups along x.
    #[must_use]
    pub fn workgroups(n: u32) -> Self {
        Self::Workgroups([n, 1, 1])
    }

    /// Workgroup counts for a kernel with `workgroup_size`.
    #[must_use]
    pub fn workgroup_count(self, workgroup_size: [u32; 3]) -> [u32; 3] {
        match self {
            Self::Workgroups(w) => w,
            Self::Threads(t) => std::array::from_fn(|i| t[i].div_ceil(workgroup_size[i].max(1))),
        }
    }
}

/// Evaluates a kernel's `grid = (..)` rule inside a generated launcher:
/// checked `u64` arithmetic that remembers the first failure (overflow, a
/// negative value, a division by zero) instead of wrapping or panicking,
/// reported by [`GridArith::finish`].
#[derive(Debug)]
pub struct GridArith {
    kernel: &'static str,
    rule: &'static str,
    error: std::cell::RefCell<Option<String>>,
}

impl GridArith {
    /// For kernel `kernel`, whose rule reads `rule` (for messages).
    #[must_use]
    pub const fn new(kernel: &'static str, rule: &'static str) -> Self {
        Self {
            kernel,
            rule,
            error: std::cell::RefCell::new(None),
        }
    }

    fn check(&self, value: std::result::Result<u64, String>) -> u64 {
        value.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            0
        })
    }

    /// The value of the integer argument `name`; a negative one is a
    /// failure.
    pub fn arg(&self, name: &str, value: i64) -> u64 {
        self.check(u64::try_from(value).map_err(|_| format!("`{name}` is {value}")))
    }

    /// `a op b` ([`SizeOp::apply`]: the arithmetic the front end folds
    /// constants with).
    pub fn op(&self, op: SizeOp, a: u64, b: u64) -> u64 {
        self.check(op.apply(a, b))
    }

    /// The grid of workgroup counts `dims`, `None` when one of them is 0
    /// (an empty problem: the launcher launches nothing).
    ///
    /// # Errors
    /// [`Error::InvalidGrid`] for the first failure of the arithmetic, or
    /// a count above `u32::MAX`.
    pub fn finish(self, dims: [u64; 3]) -> Result<Option<Grid>, Error> {
        let fail = |reason: String| Error::InvalidGrid {
            kernel: self.kernel.to_string(),
            reason: format!("its grid rule `{}` has no value: {reason}", self.rule),
        };
        if let Some(e) = self.error.take() {
            return Err(fail(e));
        }
        let mut out = [0u32; 3];
        for (o, d) in out.iter_mut().zip(dims) {
            *o = u32::try_from(d)
                .map_err(|_| fail(format!("{d} workgroups is more than a launch takes")))?;
        }
        Ok((!out.contains(&0)).then_some(Grid::Workgroups(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Artifact, ArtifactWant, Grid, GridArith, KernelSpec};
    use crate::ir::SizeOp;
    use crate::runtime::Error;

    const ARTIFACTS: &[Artifact<'static>] = &[
        Artifact {
            target: "ptx",
            arch: None,
            bytes: b"p",
        },
        Artifact {
            target: "cubin",
            arch: Some("sm_80"),
            bytes: b"c80",
        },
        Artifact {
            target: "cubin",
            arch: Some("sm_90"),
            bytes: b"c90",
        },
    ];

    fn spec() -> KernelSpec<'static> {
        KernelSpec {
            name: "k",
            key: "k#1",
            params: &[],
            workgroup_size: [1, 1, 1],
            unchecked: false,
            artifacts: ARTIFACTS,
            debug: &[],
            tensor_maps: &[],
        }
    }

    #[test]
    fn select_artifacts_follows_the_preferences() {
        let s = spec();
        let wants = [
            ArtifactWant::arch("cubin", "sm_90"),
            ArtifactWant::target("ptx"),
        ];
        let got: Vec<&[u8]> = s
            .select_artifacts("dev", &wants)
            .unwrap()
            .iter()
            .map(|a| a.bytes)
            .collect();
        assert_eq!(got, [&b"c90"[..], b"p"]);
        let got = s
            .select_artifacts("dev", &[ArtifactWant::arch("cubin", "sm_70"), wants[1]])
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bytes, b"p");
        let e = s
            .select_artifacts(
                "dev",
                &[ArtifactWant::target("spirv"), ArtifactWant::target("wgsl")],
            )
            .unwrap_err();
        match e {
            Error::TargetNotCompiled {
                device,
                wanted,
                available,
                ..
            } => {
                assert_eq!(device, "dev");
                assert_eq!(wanted, "spirv or wgsl");
                assert_eq!(available, "ptx, cubin");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A target that cannot express the kernel is an error naming kernel,
    /// target and reason, unless another wanted artifact can run.
    #[test]
    fn an_unsupported_placeholder_is_an_error_unless_another_target_runs() {
        let lacks = Artifact::unsupported_blob("`f64` has no WGSL type");
        let arts = [
            Artifact {
                target: "wgsl",
                arch: None,
                bytes: &lacks,
            },
            Artifact {
                target: "spirv",
                arch: None,
                bytes: b"spv",
            },
        ];
        let s = KernelSpec {
            artifacts: &arts,
            ..spec()
        };
        assert_eq!(arts[0].unsupported_reason(), Some("`f64` has no WGSL type"));
        assert_eq!(arts[1].unsupported_reason(), None);
        let e = s
            .select_artifacts("wgpu:gl", &[ArtifactWant::target("wgsl")])
            .unwrap_err();
        assert!(
            matches!(&e, Error::TargetCannotExpress { kernel, target, reason, .. }
                if kernel == "k" && target == "wgsl" && reason == "`f64` has no WGSL type"),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("`k`") && text.contains("`f64` has no WGSL type"),
            "{text}"
        );
        let got = s
            .select_artifacts(
                "wgpu:vulkan",
                &[ArtifactWant::target("wgsl"), ArtifactWant::target("spirv")],
            )
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bytes, b"spv");
    }

    #[test]
    fn grid_arithmetic_reports_its_first_failure_and_never_wraps() {
        let g = GridArith::new("k", "n.div_ceil(256)");
        let n = g.arg("n", 1000);
        let x = g.op(SizeOp::DivCeil, n, 256);
        assert_eq!(g.finish([x, 1, 1]), Ok(Some(Grid::Workgroups([4, 1, 1]))));

        let g = GridArith::new("k", "(n - 8, m)");
        let n = g.arg("n", 4);
        let x = g.op(SizeOp::Sub, n, 8);
        let m = g.arg("m", -1);
        let err = g.finish([x, m, 1]).unwrap_err().to_string();
        assert!(
            err.contains("`k`") && err.contains("`4 - 8` is negative"),
            "{err}"
        );
        assert!(!err.contains("-1"), "only the first failure: {err}");

        let g = GridArith::new("k", "m");
        let m = g.arg("m", -1);
        let err = g.finish([m, 1, 1]).unwrap_err().to_string();
        assert!(err.contains("`m` is -1"), "{err}");

        let g = GridArith::new("k", "a.len() / 0");
        let x = g.op(SizeOp::Div, 7, 0);
        assert!(
            g.finish([x, 1, 1])
                .unwrap_err()
                .to_string()
                .contains("divides by zero")
        );

        let g = GridArith::new("k", "big");
        let x = g.op(SizeOp::Mul, u64::from(u32::MAX), 2);
        assert!(
            g.finish([x, 1, 1])
                .unwrap_err()
                .to_string()
                .contains("more than a launch takes")
        );

        let g = GridArith::new("k", "n");
        assert_eq!(
            g.finish([0, 1, 1]),
            Ok(None),
            "an empty problem launches nothing"
        );
    }
}
