//! The differential harness: run a [`Case`] on the reference interpreter
//! (the oracle) and on devices, compare, shrink a mismatch and save it as a
//! regression kernel.
//!
//! A device target is a [`vyre::Device`] plus the artifact targets to emit
//! for it (`spirv` for wgpu, `ptx` for CUDA, `reference` for the CPU
//! device). Artifacts are emitted in-process with
//! [`vyre::driver::emit_aot_target`] and held in an [`OwnedSpec`], lent
//! to launches as the `KernelSpec` `vyre-build`'s generated launchers
//! embed, so no build step is involved.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre::driver::emit_aot_target;
use vyre::ir::{DataType, Literal, Param, Program};
use vyre::runtime::{Artifact, KernelSpec, LaunchArg, ParamSpec};
use vyre::{Buffer, Device, DispatchConfig, Grid};

use crate::compare::Tolerance;
use crate::generator::{Case, Check, GenConfig, Value};

/// Final contents of every buffer parameter (`None` for scalars), as raw
/// bits.
pub type Outputs = Vec<Option<Vec<u32>>>;

/// Instructions one invocation may execute on the reference interpreter
/// before the case counts as hanging (generated loops are bounded far
/// below this).
pub const REFERENCE_STEP_LIMIT: u64 = 2_000_000;

/// Run `case` on the reference interpreter.
///
/// # Errors
///
/// The interpreter's error, rendered.
pub fn run_reference(case: &Case) -> Result<Outputs, String> {
    let mut bufs: Vec<Option<Vec<u32>>> = case
        .inputs
        .iter()
        .map(|v| match v {
            Value::Buffer { data, .. } => Some(data.clone()),
            Value::Scalar(_) => None,
        })
        .collect();
    {
        let mut args: Vec<RefArg<'_>> = Vec::with_capacity(bufs.len());
        for (b, v) in bufs.iter_mut().zip(&case.inputs) {
            match (b, v) {
                (Some(data), _) => args.push(RefArg::Buffer(data)),
                (None, Value::Scalar(l)) => args.push(RefArg::Scalar(*l)),
                (None, Value::Buffer { .. }) => return Err("internal: buffer lost".into()),
            }
        }
        let opts = RunOptions {
            max_steps_per_invocation: Some(REFERENCE_STEP_LIMIT),
            threads: None,
        };
        run_with(&case.program, case.grid, &mut args, &opts).map_err(|e| e.to_string())?;
    }
    Ok(bufs)
}

/// A device to compare against the reference.
#[derive(Debug, Clone)]
pub struct DeviceTarget {
    /// Label in reports, e.g. `wgpu:spirv`.
    pub label: String,
    /// The device.
    pub device: Device,
    /// Artifact targets to emit for it (`spirv`, `ptx`, `reference`, ...).
    pub artifacts: Vec<&'static str>,
}

impl DeviceTarget {
    /// The CPU device running the `reference` artifact through the runtime
    /// (wire encoding, `CpuBackend`, argument checking): always available.
    #[must_use]
    pub fn cpu() -> Self {
        Self {
            label: "cpu:reference".to_string(),
            device: Device::cpu(),
            artifacts: vec!["reference"],
        }
    }
}

/// Options of [`run_on_device`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceRunOptions {
    /// Elements of a guard buffer allocated just before and just after
    /// every buffer parameter (0: none). Guards are filled with a pattern
    /// and must come back untouched.
    pub guard_elems: usize,
}

/// Guard pattern word `i`.
#[must_use]
pub fn guard_word(i: usize) -> u32 {
    0xDEAD_BEEF ^ (i as u32).wrapping_mul(0x9E37_79B9)
}

static SPEC_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One artifact of an [`OwnedSpec`].
#[derive(Debug, Clone)]
pub struct OwnedArtifact {
    /// Target id.
    pub target: String,
    /// Architecture, for per-arch targets.
    pub arch: Option<String>,
    /// The blob.
    pub bytes: Vec<u8>,
}

/// A [`KernelSpec`] built at run time, owning what a generated launcher
/// embeds (name, key, parameters, artifacts); [`OwnedSpec::with`] lends it
/// as a `KernelSpec` for as long as a closure runs. Devices cache modules
/// by `key`, so two owned specs of different kernels need different keys.
#[derive(Debug, Clone)]
pub struct OwnedSpec {
    /// Kernel name.
    pub name: String,
    /// Cache key, unique per kernel.
    pub key: String,
    /// Parameters in order (as the program declares them).
    pub params: Vec<Param>,
    /// Invocations per workgroup.
    pub workgroup_size: [u32; 3],
    /// Whether bounds checks were compiled out.
    pub unchecked: bool,
    /// Every artifact.
    pub artifacts: Vec<OwnedArtifact>,
}

impl OwnedSpec {
    /// The spec of `program` (name, parameters, workgroup size,
    /// `unchecked`) under `key`, with no artifact yet.
    #[must_use]
    pub fn new(program: &Program, key: impl Into<String>) -> Self {
        Self {
            name: program.name.clone(),
            key: key.into(),
            params: program.params.clone(),
            workgroup_size: program.workgroup_size,
            unchecked: program.unchecked,
            artifacts: Vec::new(),
        }
    }

    /// Add an artifact.
    pub fn push_artifact(&mut self, target: &str, arch: Option<&str>, bytes: Vec<u8>) {
        self.artifacts.push(OwnedArtifact {
            target: target.to_string(),
            arch: arch.map(str::to_string),
            bytes,
        });
    }

    /// The borrowed parameter and artifact lists a [`KernelSpec`] of this
    /// spec points to; pass them to [`OwnedSpec::spec`]:
    ///
    /// ```ignore
    /// let (params, artifacts) = owned.parts();
    /// let spec = owned.spec(&params, &artifacts);
    /// ```
    #[must_use]
    pub fn parts(&self) -> (Vec<ParamSpec<'_>>, Vec<Artifact<'_>>) {
        let params = self
            .params
            .iter()
            .map(|p| match p {
                Param::Buffer(b) => ParamSpec::Buffer {
                    name: &b.name,
                    elem: b.elem,
                    access: b.access,
                },
                Param::Scalar { name, ty } => ParamSpec::Scalar { name, ty: *ty },
            })
            .collect();
        let artifacts = self
            .artifacts
            .iter()
            .map(|a| Artifact {
                target: &a.target,
                arch: a.arch.as_deref(),
                bytes: &a.bytes,
            })
            .collect();
        (params, artifacts)
    }

    /// This spec as a [`KernelSpec`], over the lists of
    /// [`OwnedSpec::parts`].
    #[must_use]
    pub fn spec<'a>(
        &'a self,
        params: &'a [ParamSpec<'a>],
        artifacts: &'a [Artifact<'a>],
    ) -> KernelSpec<'a> {
        KernelSpec {
            name: &self.name,
            key: &self.key,
            params,
            workgroup_size: self.workgroup_size,
            unchecked: self.unchecked,
            artifacts,
        }
    }

    /// Run `f` with this spec as a [`KernelSpec`] borrowing it.
    pub fn with<R>(&self, f: impl FnOnce(&KernelSpec<'_>) -> R) -> R {
        let (params, artifacts) = self.parts();
        f(&self.spec(&params, &artifacts))
    }

    /// [`Device::launch`] of this spec.
    ///
    /// # Errors
    ///
    /// The launch's error.
    pub fn launch(
        &self,
        device: &Device,
        grid: Grid,
        args: &mut [LaunchArg<'_>],
    ) -> vyre::Result<()> {
        self.with(|spec| device.launch(spec, grid, args))
    }

    /// Whether an artifact of `target` (and `arch`, when given) is present.
    #[must_use]
    pub fn has_artifact(&self, target: &str, arch: Option<&str>) -> bool {
        self.with(|spec| spec.artifact(target, arch).is_some())
    }
}

/// Emit `program` for `artifacts` into an [`OwnedSpec`] with a unique key
/// (the backends cache modules by key). PTX is emitted for the default
/// architecture, or for `VYRE_TESTKIT_ARCH` (e.g. `sm_90`) when set.
///
/// # Errors
///
/// The emitter's error, rendered.
pub fn owned_spec(program: &Program, artifacts: &[&str]) -> Result<OwnedSpec, String> {
    // `VYRE_TESTKIT_ARCH=sm_90` emits PTX for that architecture instead of
    // the default (for failures that depend on it).
    let config = match std::env::var("VYRE_TESTKIT_ARCH") {
        Ok(arch) if !arch.is_empty() => DispatchConfig::default().with_target_arch(arch),
        _ => DispatchConfig::default(),
    };
    let mut h = DefaultHasher::new();
    program.hash(&mut h);
    let n = SPEC_COUNTER.fetch_add(1, Ordering::Relaxed);
    let key = format!("vyre_testkit::{}#{n}:{:016x}", program.name, h.finish());
    let mut spec = OwnedSpec::new(program, key);
    for target in artifacts {
        let bytes =
            emit_aot_target(target, program, &config).map_err(|e| format!("emit {target}: {e}"))?;
        spec.push_artifact(target, None, bytes);
    }
    Ok(spec)
}

/// A typed device buffer of any element type.
#[derive(Debug)]
enum DevBuf {
    U(Buffer<u32>),
    I(Buffer<i32>),
    F(Buffer<f32>),
}

impl DevBuf {
    fn upload(device: &Device, elem: DataType, bits: &[u32]) -> vyre::Result<Self> {
        Ok(match elem {
            DataType::I32 => {
                let v: Vec<i32> = bits.iter().map(|b| b.cast_signed()).collect();
                Self::I(device.upload(&v)?)
            }
            DataType::F32 => {
                let v: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
                Self::F(device.upload(&v)?)
            }
            _ => Self::U(device.upload(bits)?),
        })
    }

    fn download(&self, device: &Device) -> vyre::Result<Vec<u32>> {
        Ok(match self {
            Self::U(b) => device.download(b)?,
            Self::I(b) => device
                .download(b)?
                .into_iter()
                .map(i32::cast_unsigned)
                .collect(),
            Self::F(b) => device.download(b)?.into_iter().map(f32::to_bits).collect(),
        })
    }

    fn arg(&mut self, write: bool) -> LaunchArg<'_> {
        match (self, write) {
            (Self::U(b), false) => b.arg(),
            (Self::U(b), true) => b.arg_mut(),
            (Self::I(b), false) => b.arg(),
            (Self::I(b), true) => b.arg_mut(),
            (Self::F(b), false) => b.arg(),
            (Self::F(b), true) => b.arg_mut(),
        }
    }
}

/// The launch argument of a scalar value.
fn scalar_arg(l: Literal) -> LaunchArg<'static> {
    match l {
        Literal::Bool(x) => LaunchArg::Bool(x),
        Literal::I32(x) => LaunchArg::I32(x),
        Literal::U32(x) => LaunchArg::U32(x),
        Literal::F32(x) => LaunchArg::F32(f32::from_bits(x)),
    }
}

/// Upload `inputs` (one per parameter of `spec`, buffers typed by their
/// `elem`), launch `spec` on `device` over `grid`, wait, and download every
/// buffer: the final contents as raw bits, `None` for scalars. Buffers are
/// passed writable where `spec` declares them `ReadWrite`. For specs a
/// test builds itself (with [`OwnedSpec`] or by hand); [`run_on_device`]
/// runs a generated [`Case`].
///
/// # Errors
///
/// The first upload, launch or download error.
pub fn launch_values(
    device: &Device,
    spec: &KernelSpec<'_>,
    grid: Grid,
    inputs: &[Value],
) -> vyre::Result<Outputs> {
    let mut bufs: Vec<Option<DevBuf>> = Vec::with_capacity(inputs.len());
    for v in inputs {
        bufs.push(match v {
            Value::Buffer { elem, data } => Some(DevBuf::upload(device, *elem, data)?),
            Value::Scalar(_) => None,
        });
    }
    {
        let mut args: Vec<LaunchArg<'_>> = Vec::with_capacity(bufs.len());
        for ((b, v), p) in bufs.iter_mut().zip(inputs).zip(spec.params) {
            args.push(match (b, v) {
                (Some(buf), _) => {
                    let write = matches!(
                        p,
                        ParamSpec::Buffer {
                            access: vyre::ir::Access::ReadWrite,
                            ..
                        }
                    );
                    buf.arg(write)
                }
                (None, Value::Scalar(l)) => scalar_arg(*l),
                (None, Value::Buffer { .. }) => unreachable!("every buffer value was uploaded"),
            });
        }
        device.launch(spec, grid, &mut args)?;
    }
    device.synchronize()?;
    bufs.iter()
        .map(|b| b.as_ref().map(|b| b.download(device)).transpose())
        .collect()
}

/// A device buffer with its optional guard buffers before and after.
type Guarded = (DevBuf, Option<Buffer<u32>>, Option<Buffer<u32>>);

/// What [`run_on_device`] observed.
#[derive(Debug, Clone)]
pub struct DeviceRun {
    /// Final buffer contents.
    pub outputs: Outputs,
    /// Guard words that changed: `(param index, before/after, element,
    /// value)`.
    pub guard_damage: Vec<(usize, &'static str, usize, u32)>,
}

/// Run `case` on one device target.
///
/// # Errors
///
/// Emission, upload, launch or download failure, rendered.
pub fn run_on_device(
    case: &Case,
    target: &DeviceTarget,
    opts: DeviceRunOptions,
) -> Result<DeviceRun, String> {
    let spec = owned_spec(&case.program, &target.artifacts)?;
    let dev = &target.device;
    let e = |what: &str, err: vyre::Error| format!("{what}: {err}");
    let guard: Vec<u32> = (0..opts.guard_elems).map(guard_word).collect();
    let mut bufs: Vec<Option<Guarded>> = Vec::new();
    for v in &case.inputs {
        bufs.push(match v {
            Value::Buffer { elem, data } => {
                let before = if guard.is_empty() {
                    None
                } else {
                    Some(dev.upload(&guard).map_err(|x| e("guard", x))?)
                };
                let b = DevBuf::upload(dev, *elem, data).map_err(|x| e("upload", x))?;
                let after = if guard.is_empty() {
                    None
                } else {
                    Some(dev.upload(&guard).map_err(|x| e("guard", x))?)
                };
                Some((b, before, after))
            }
            Value::Scalar(_) => None,
        });
    }
    {
        let mut args: Vec<LaunchArg<'_>> = Vec::new();
        for ((b, v), p) in bufs.iter_mut().zip(&case.inputs).zip(&case.program.params) {
            match (b, v) {
                (Some((buf, _, _)), _) => {
                    let write =
                        matches!(p, Param::Buffer(d) if d.access == vyre::ir::Access::ReadWrite);
                    args.push(buf.arg(write));
                }
                (None, Value::Scalar(l)) => args.push(scalar_arg(*l)),
                (None, Value::Buffer { .. }) => return Err("internal: buffer lost".into()),
            }
        }
        spec.launch(dev, Grid::Workgroups(case.grid), &mut args)
            .map_err(|x| e("launch", x))?;
    }
    dev.synchronize().map_err(|x| e("synchronize", x))?;
    let mut outputs = Vec::new();
    let mut guard_damage = Vec::new();
    for (i, b) in bufs.iter().enumerate() {
        match b {
            None => outputs.push(None),
            Some((buf, before, after)) => {
                outputs.push(Some(buf.download(dev).map_err(|x| e("download", x))?));
                for (side, g) in [("before", before), ("after", after)] {
                    if let Some(g) = g {
                        let got = dev.download(g).map_err(|x| e("download guard", x))?;
                        for (k, (&w, &want)) in got.iter().zip(&guard).enumerate() {
                            if w != want {
                                guard_damage.push((i, side, k, w));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(DeviceRun {
        outputs,
        guard_damage,
    })
}

/// One element that differs beyond its tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Parameter name.
    pub param: String,
    /// Element index.
    pub index: usize,
    /// Reference bits.
    pub want: u32,
    /// Target bits.
    pub got: u32,
    /// The tolerance that rejected it.
    pub tolerance: Tolerance,
    /// Element type.
    pub elem: DataType,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |b: u32| match self.elem {
            DataType::F32 => format!("{:?} ({b:#010x})", f32::from_bits(b)),
            DataType::I32 => format!("{} ({b:#010x})", b.cast_signed()),
            _ => format!("{b} ({b:#010x})"),
        };
        write!(
            f,
            "{}[{}]: reference {}, target {} (tolerance {:?})",
            self.param,
            self.index,
            show(self.want),
            show(self.got),
            self.tolerance
        )
    }
}

/// Compare a target's outputs with the reference's; every differing
/// element, in order (at most 16).
#[must_use]
pub fn compare(case: &Case, want: &Outputs, got: &Outputs) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (i, ((w, g), check)) in want.iter().zip(got).zip(&case.checks).enumerate() {
        let (Some(w), Some(g), Some(check)) = (w, g, check) else {
            continue;
        };
        let elem = match &case.program.params[i] {
            Param::Buffer(b) => b.elem,
            Param::Scalar { ty, .. } => *ty,
        };
        if w.len() != g.len() {
            out.push(Mismatch {
                param: case.program.params[i].name().to_string(),
                index: w.len().min(g.len()),
                want: w.len() as u32,
                got: g.len() as u32,
                tolerance: Tolerance::Bits,
                elem: DataType::U32,
            });
            continue;
        }
        for (k, (&a, &b)) in w.iter().zip(g).enumerate() {
            let t = check.tolerance(k);
            if !t.accepts(a, b) && out.len() < 16 {
                out.push(Mismatch {
                    param: case.program.params[i].name().to_string(),
                    index: k,
                    want: a,
                    got: b,
                    tolerance: t,
                    elem,
                });
            }
        }
    }
    out
}

/// The result of one case on one target.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every element within tolerance (and guards intact).
    Match,
    /// Elements differ.
    Mismatch(Vec<Mismatch>),
    /// A guard buffer around a parameter was written.
    GuardDamaged(String),
    /// The target could not emit, load or run the case.
    TargetError(String),
    /// The reference interpreter failed (a generator or interpreter bug).
    ReferenceError(String),
}

impl Outcome {
    /// Same kind of outcome (for shrinking: keep the failure's kind).
    #[must_use]
    pub fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// Whether the case passed.
    #[must_use]
    pub fn is_match(&self) -> bool {
        matches!(self, Self::Match)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Match => f.write_str("match"),
            Self::Mismatch(m) => {
                write!(f, "{} mismatching element(s)", m.len())?;
                for x in m.iter().take(4) {
                    write!(f, "\n    {x}")?;
                }
                Ok(())
            }
            Self::GuardDamaged(s) => write!(f, "guard damaged: {s}"),
            Self::TargetError(s) => write!(f, "target error: {s}"),
            Self::ReferenceError(s) => write!(f, "reference error: {s}"),
        }
    }
}

/// Run `case` on the reference and on one target, and compare.
#[must_use]
pub fn check_target(case: &Case, target: &DeviceTarget, opts: DeviceRunOptions) -> Outcome {
    let want = match run_reference(case) {
        Ok(w) => w,
        Err(e) => return Outcome::ReferenceError(e),
    };
    check_against(case, &want, target, opts)
}

/// Run `case` on one target and compare with the reference outputs
/// `want` (from [`run_reference`]).
#[must_use]
pub fn check_against(
    case: &Case,
    want: &Outputs,
    target: &DeviceTarget,
    opts: DeviceRunOptions,
) -> Outcome {
    match run_on_device(case, target, opts) {
        Err(e) => Outcome::TargetError(e),
        Ok(run) => {
            if let Some((i, side, k, w)) = run.guard_damage.first() {
                return Outcome::GuardDamaged(format!(
                    "guard {side} `{}` word {k} became {w:#010x} ({} damaged words)",
                    case.program.params[*i].name(),
                    run.guard_damage.len()
                ));
            }
            let m = compare(case, want, &run.outputs);
            if m.is_empty() {
                Outcome::Match
            } else {
                Outcome::Mismatch(m)
            }
        }
    }
}

/// Run `case` on the reference once and on every target; one outcome per
/// target, in order.
#[must_use]
pub fn run_case(case: &Case, targets: &[DeviceTarget]) -> Vec<(String, Outcome)> {
    let want = match run_reference(case) {
        Ok(w) => w,
        Err(e) => {
            return targets
                .iter()
                .map(|t| (t.label.clone(), Outcome::ReferenceError(e.clone())))
                .collect();
        }
    };
    targets
        .iter()
        .map(|t| {
            (
                t.label.clone(),
                check_against(case, &want, t, DeviceRunOptions::default()),
            )
        })
        .collect()
}

/// Shrink a failing case: edit its draws (delete spans, lower values;
/// Hypothesis-style) while `fails` still holds, within `budget` trials.
/// Every candidate is a valid program by construction.
pub fn shrink(
    case: &Case,
    cfg: &GenConfig,
    budget: usize,
    mut fails: impl FnMut(&Case) -> bool,
) -> Case {
    let mut best = case.clone();
    let mut trials = 0usize;
    let mut attempt = |draws: Vec<u32>, best: &mut Case, trials: &mut usize| -> bool {
        if *trials >= budget {
            return false;
        }
        *trials += 1;
        let c = Case::from_draws(&draws, cfg);
        let changed = c.program != best.program || c.inputs != best.inputs || c.grid != best.grid;
        if changed && fails(&c) {
            *best = c;
            return true;
        }
        false
    };
    loop {
        let mut improved = false;
        for size in [64usize, 16, 4, 1] {
            let mut i = 0;
            while i < best.draws.len() && trials < budget {
                let mut d = best.draws.clone();
                d.drain(i..(i + size).min(d.len()));
                if attempt(d, &mut best, &mut trials) {
                    improved = true;
                } else {
                    i += size;
                }
            }
        }
        let mut i = 0;
        while i < best.draws.len() && trials < budget {
            let v = best.draws[i];
            for smaller in [0, v / 2, v.saturating_sub(1)] {
                if smaller < v {
                    let mut d = best.draws.clone();
                    d[i] = smaller;
                    if attempt(d, &mut best, &mut trials) {
                        improved = true;
                        break;
                    }
                }
            }
            i += 1;
        }
        if !improved || trials >= budget {
            return best;
        }
    }
}

// ---- regression files ---------------------------------------------------

/// First line of a regression kernel's case header.
pub const HEADER_MAGIC: &str = "// vyre-testkit case v1";

/// The case header: grid, every argument and every comparison, as `//`
/// comment lines that the `.vyre` parser ignores.
#[must_use]
pub fn case_header(case: &Case) -> String {
    let mut s = format!(
        "{HEADER_MAGIC}\n// grid {} {} {}\n",
        case.grid[0], case.grid[1], case.grid[2]
    );
    for (i, v) in case.inputs.iter().enumerate() {
        match v {
            Value::Buffer { elem, data } => {
                let words: Vec<String> = data.iter().map(|w| format!("{w:x}")).collect();
                s += &format!("// arg {i} buffer {elem} {}\n", words.join(" "));
            }
            Value::Scalar(l) => {
                let bits = match *l {
                    Literal::Bool(b) => u32::from(b),
                    Literal::I32(x) => x.cast_unsigned(),
                    Literal::U32(x) | Literal::F32(x) => x,
                };
                s += &format!("// arg {i} scalar {} {bits:x}\n", l.ty());
            }
        }
    }
    for (i, c) in case.checks.iter().enumerate() {
        if let Some(c) = c {
            let slots: Vec<String> = c
                .slots
                .iter()
                .map(|t| match t {
                    Tolerance::Bits => "b".to_string(),
                    Tolerance::FloatExact => "e".to_string(),
                    Tolerance::Float { ulp, abs } => format!("f{ulp}/{:x}", abs.to_bits()),
                })
                .collect();
            s += &format!("// check {i} {}\n", slots.join(" "));
        }
    }
    s
}

fn parse_ty(s: &str) -> Option<DataType> {
    Some(match s {
        "bool" => DataType::Bool,
        "i32" => DataType::I32,
        "u32" => DataType::U32,
        "f32" => DataType::F32,
        _ => return None,
    })
}

/// Rebuild a case from a regression file's header and its parsed program.
///
/// # Errors
///
/// A header line that does not parse, or one that does not fit the
/// program.
pub fn case_from_header(source: &str, program: Program) -> Result<Case, String> {
    let mut lines = source.lines();
    if lines.next().map(str::trim) != Some(HEADER_MAGIC) {
        return Err(format!("missing `{HEADER_MAGIC}` first line"));
    }
    let n = program.params.len();
    let mut case = Case {
        program,
        inputs: vec![Value::Scalar(Literal::U32(0)); n],
        grid: [1, 1, 1],
        checks: vec![None; n],
        draws: Vec::new(),
    };
    let hex = |w: &str| u32::from_str_radix(w, 16).map_err(|e| format!("bad word `{w}`: {e}"));
    for line in lines {
        let Some(rest) = line.strip_prefix("// ") else {
            break;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let idx = |s: Option<&&str>| -> Result<usize, String> {
            let i: usize = s
                .ok_or("missing index")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            if i < n {
                Ok(i)
            } else {
                Err(format!("argument {i} of {n}"))
            }
        };
        match f.first().copied() {
            Some("grid") if f.len() == 4 => {
                for k in 0..3 {
                    case.grid[k] = f[k + 1].parse().map_err(|e| format!("grid: {e}"))?;
                }
            }
            Some("arg") if f.len() >= 4 => {
                let i = idx(f.get(1))?;
                let ty = parse_ty(f[3]).ok_or_else(|| format!("bad type `{}`", f[3]))?;
                case.inputs[i] = if f[2] == "buffer" {
                    Value::Buffer {
                        elem: ty,
                        data: f[4..].iter().map(|w| hex(w)).collect::<Result<_, _>>()?,
                    }
                } else {
                    let bits = hex(f.get(4).ok_or("missing scalar")?)?;
                    Value::Scalar(match ty {
                        DataType::Bool => Literal::Bool(bits != 0),
                        DataType::I32 => Literal::I32(bits.cast_signed()),
                        DataType::U32 => Literal::U32(bits),
                        DataType::F32 => Literal::F32(bits),
                    })
                };
            }
            Some("check") => {
                let i = idx(f.get(1))?;
                let mut slots = Vec::new();
                for t in &f[2..] {
                    slots.push(match *t {
                        "b" => Tolerance::Bits,
                        "e" => Tolerance::FloatExact,
                        t => {
                            let (u, a) = t
                                .strip_prefix('f')
                                .and_then(|x| x.split_once('/'))
                                .ok_or_else(|| format!("bad tolerance `{t}`"))?;
                            Tolerance::Float {
                                ulp: u.parse().map_err(|e| format!("{e}"))?,
                                abs: f32::from_bits(hex(a)?),
                            }
                        }
                    });
                }
                case.checks[i] = Some(Check { slots });
            }
            // Free-form comment lines (what the case is about).
            _ => {}
        }
    }
    Ok(case)
}

/// A regression file's text: the case header, then the program printed as
/// `.vyre` source.
#[must_use]
pub fn regression_source(case: &Case) -> String {
    format!(
        "{}\n{}",
        case_header(case),
        vyre::lang::print(&case.program)
    )
}

/// Write `case` as `dir/regress_<hash>.vyre` (named by a hash of its text,
/// so saving twice is harmless) and return the path.
///
/// # Errors
///
/// The file system's error.
pub fn save_regression(case: &Case, dir: &Path) -> std::io::Result<PathBuf> {
    let text = regression_source(case);
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("regress_{h:016x}.vyre"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Load a regression file: parse its program and its case header.
///
/// # Errors
///
/// Unreadable file, parse diagnostics, or a bad header.
pub fn load_regression(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let module = vyre::lang::parse(&path.display().to_string(), &text)
        .map_err(|d| format!("{}: {:?}", path.display(), d.diagnostics))?;
    let program = module
        .kernels
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no kernel", path.display()))?;
    case_from_header(&text, program)
}

/// Environment knobs shared by the differential tests: `VYRE_DIFF_CASES`
/// (count) and `VYRE_DIFF_SEED` (first seed).
#[must_use]
pub fn env_cases(default_cases: u64, default_seed: u64) -> (u64, u64) {
    let get = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(d)
    };
    (
        get("VYRE_DIFF_CASES", default_cases),
        get("VYRE_DIFF_SEED", default_seed),
    )
}

/// Number of statements of a body, nested ones included.
#[must_use]
pub fn count_nodes(body: &[vyre::ir::Node]) -> usize {
    let mut n = 0;
    vyre::ir::walk_nodes(body, &mut |_| n += 1);
    n
}

/// The body without its `k`-th statement (depth-first order, as in
/// [`vyre::ir::walk_nodes`]).
fn without_node(body: &[vyre::ir::Node], k: &mut usize) -> Vec<vyre::ir::Node> {
    use vyre::ir::Node;
    let mut out = Vec::new();
    for node in body {
        if *k == 0 {
            *k = usize::MAX;
            continue;
        }
        if *k != usize::MAX {
            *k -= 1;
        }
        out.push(match node {
            Node::If {
                cond,
                then,
                otherwise,
            } => Node::If {
                cond: cond.clone(),
                then: without_node(then, k),
                otherwise: without_node(otherwise, k),
            },
            Node::While { cond, body } => Node::While {
                cond: cond.clone(),
                body: without_node(body, k),
            },
            Node::For {
                var,
                start,
                end,
                body,
            } => Node::For {
                var: *var,
                start: start.clone(),
                end: end.clone(),
                body: without_node(body, k),
            },
            Node::Loop { body } => Node::Loop {
                body: without_node(body, k),
            },
            other => other.clone(),
        });
    }
    out
}

/// Structural shrinking after [`shrink`]: delete statements one at a time
/// (keeping only deletions that leave a valid program that still `fails`),
/// until no single deletion works or `budget` trials are spent. Barriers
/// and the prologue are kept, so shared memory stays initialised and
/// race-free. Loops keep terminating: deleting a counter's increment is
/// rejected by the step limit of the reference (the predicate sees a
/// reference error, a different outcome).
pub fn reduce_statements(case: &Case, budget: usize, mut fails: impl FnMut(&Case) -> bool) -> Case {
    let mut best = case.clone();
    let mut trials = 0;
    // Keep the generator's determinism invariants: the prologue (the
    // statements before the first top-level barrier: ids and shared-memory
    // initialisation) and every barrier stay.
    let prologue = best
        .program
        .body
        .iter()
        .position(|n| matches!(n, vyre::ir::Node::Barrier))
        .unwrap_or(2)
        .min(best.program.body.len());
    let mut k = count_nodes(&best.program.body[..prologue]);
    while k < count_nodes(&best.program.body) && trials < budget {
        let mut probe = 0;
        let mut target = None;
        vyre::ir::walk_nodes(&best.program.body, &mut |n| {
            if probe == k {
                target = Some(matches!(n, vyre::ir::Node::Barrier));
            }
            probe += 1;
        });
        if target == Some(true) {
            k += 1;
            continue;
        }
        let mut idx = k;
        let mut c = best.clone();
        c.program.body = without_node(&best.program.body, &mut idx);
        trials += 1;
        if c.program.validate().is_ok() && fails(&c) {
            best = c;
        } else {
            k += 1;
        }
    }
    best
}
