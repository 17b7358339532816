//! Running a case: on the reference interpreter (the oracle) and on device
//! targets, with optional guard buffers around every buffer parameter.

use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre::half;
use vyre::ir::{DataType, Literal, Param};
use vyre::runtime::{Element, KernelSpec, LaunchArg, ParamSpec};
use vyre::{Buffer, Device, Grid};

use super::spec::owned_spec;
use crate::generator::{Case, Value};

/// Final contents of every buffer parameter (`None` for scalars), as raw
/// bits: one `u64` per element, a narrower element's bits zero-extended.
pub type Outputs = Vec<Option<Vec<u64>>>;

/// Instructions one invocation may execute on the reference interpreter
/// before the case counts as hanging (generated loops are bounded far
/// below this).
pub const REFERENCE_STEP_LIMIT: u64 = 2_000_000;

/// The reference interpreter's default subgroup size (`RunOptions`'s),
/// used by [`run_reference`] and for every case without subgroup
/// operations (whose results do not depend on it).
pub const DEFAULT_SUBGROUP_SIZE: u32 = 32;

/// Run `case` on the reference interpreter, with subgroups of
/// [`DEFAULT_SUBGROUP_SIZE`] invocations.
///
/// # Errors
///
/// The interpreter's error, rendered.
pub fn run_reference(case: &Case) -> Result<Outputs, String> {
    run_reference_at(case, DEFAULT_SUBGROUP_SIZE)
}

/// Run `case` on the reference interpreter with subgroups of
/// `subgroup_size` invocations (a target's, see
/// [`reference_subgroup_size`]).
///
/// # Errors
///
/// The interpreter's error, rendered (a size that is not a power of two
/// from 1 to 128 included).
pub fn run_reference_at(case: &Case, subgroup_size: u32) -> Result<Outputs, String> {
    // The interpreter's memory: one word per element, two (in the host's
    // byte order) for a 64-bit element.
    let mut bufs: Vec<Option<Vec<u32>>> = case
        .inputs
        .iter()
        .map(|v| match v {
            Value::Buffer { elem, data } => Some(to_words(*elem, data)),
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
        let opts = reference_options(subgroup_size);
        run_with(&case.program, case.grid, &mut args, &opts).map_err(|e| e.to_string())?;
    }
    Ok(bufs
        .into_iter()
        .zip(&case.inputs)
        .map(|(b, v)| match (b, v) {
            (Some(words), Value::Buffer { elem, .. }) => Some(from_words(*elem, &words)),
            _ => None,
        })
        .collect())
}

/// A buffer's elements as the reference interpreter's words: one per
/// element, two for a 64-bit element (its bytes in the host's order).
#[must_use]
pub fn to_words(elem: DataType, data: &[u64]) -> Vec<u32> {
    if elem.is_wide() {
        data.iter()
            .flat_map(|v| {
                let b = v.to_ne_bytes();
                [
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                ]
            })
            .collect()
    } else {
        data.iter().map(|&v| v as u32).collect()
    }
}

/// The inverse of [`to_words`].
#[must_use]
pub fn from_words(elem: DataType, words: &[u32]) -> Vec<u64> {
    if elem.is_wide() {
        words
            .chunks_exact(2)
            .map(|w| {
                let (l, h) = (w[0].to_ne_bytes(), w[1].to_ne_bytes());
                u64::from_ne_bytes([l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]])
            })
            .collect()
    } else {
        words.iter().map(|&w| u64::from(w)).collect()
    }
}

/// `RunOptions` for a harness run: the step limit, every core, and the
/// subgroup size.
fn reference_options(subgroup_size: u32) -> RunOptions {
    // Every core (`threads: None`, the default).
    RunOptions {
        max_steps_per_invocation: Some(REFERENCE_STEP_LIMIT),
        subgroup_size,
        ..RunOptions::default()
    }
}

/// The subgroup size the reference must use to be compared with `target`
/// on `case`: the target's when the case uses subgroup operations (`None`
/// when the target does not know it: the case cannot be compared), else
/// [`DEFAULT_SUBGROUP_SIZE`] (the results do not depend on it).
#[must_use]
pub fn reference_subgroup_size(case: &Case, target: &DeviceTarget) -> Option<u32> {
    if case.program.uses_subgroups() {
        target.subgroup_size()
    } else {
        Some(DEFAULT_SUBGROUP_SIZE)
    }
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

    /// The device's subgroup size (`None`: unknown, so cases with
    /// subgroup operations are skipped on it).
    #[must_use]
    pub fn subgroup_size(&self) -> Option<u32> {
        self.device.subgroup_size()
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

/// A typed device buffer of any element type (narrow ones packed, as the
/// host lays them out).
#[derive(Debug)]
enum DevBuf {
    U(Buffer<u32>),
    I(Buffer<i32>),
    F(Buffer<f32>),
    F16(Buffer<half::f16>),
    BF16(Buffer<half::bf16>),
    U8(Buffer<u8>),
    I8(Buffer<i8>),
    U16(Buffer<u16>),
    I16(Buffer<i16>),
    U64(Buffer<u64>),
    I64(Buffer<i64>),
    F64(Buffer<f64>),
}

/// `$f!(b)` for the buffer `b` of any variant of a [`DevBuf`].
macro_rules! each_buf {
    ($self:expr, |$b:ident| $e:expr) => {
        match $self {
            DevBuf::U($b) => $e,
            DevBuf::I($b) => $e,
            DevBuf::F($b) => $e,
            DevBuf::F16($b) => $e,
            DevBuf::BF16($b) => $e,
            DevBuf::U8($b) => $e,
            DevBuf::I8($b) => $e,
            DevBuf::U16($b) => $e,
            DevBuf::I16($b) => $e,
            DevBuf::U64($b) => $e,
            DevBuf::I64($b) => $e,
            DevBuf::F64($b) => $e,
        }
    };
}

fn upload_as<T: Element>(device: &Device, bits: &[u64]) -> vyre::Result<Buffer<T>> {
    let v: Vec<T> = bits.iter().map(|&b| T::from_bits(b)).collect();
    device.upload(&v)
}

impl DevBuf {
    /// Upload `bits` (one element each, [`Value::Buffer`]'s convention) as
    /// a buffer of `elem`.
    fn upload(device: &Device, elem: DataType, bits: &[u64]) -> vyre::Result<Self> {
        Ok(match elem {
            DataType::I32 => Self::I(upload_as(device, bits)?),
            DataType::F32 => Self::F(upload_as(device, bits)?),
            DataType::F16 => Self::F16(upload_as(device, bits)?),
            DataType::BF16 => Self::BF16(upload_as(device, bits)?),
            DataType::U8 => Self::U8(upload_as(device, bits)?),
            DataType::I8 => Self::I8(upload_as(device, bits)?),
            DataType::U16 => Self::U16(upload_as(device, bits)?),
            DataType::I16 => Self::I16(upload_as(device, bits)?),
            DataType::U64 => Self::U64(upload_as(device, bits)?),
            DataType::I64 => Self::I64(upload_as(device, bits)?),
            DataType::F64 => Self::F64(upload_as(device, bits)?),
            DataType::U32 | DataType::Bool => Self::U(upload_as(device, bits)?),
        })
    }

    /// The elements' bits, zero-extended (as uploaded).
    fn download(&self, device: &Device) -> vyre::Result<Vec<u64>> {
        each_buf!(self, |b| Ok(device
            .download(b)?
            .into_iter()
            .map(Element::to_bits)
            .collect()))
    }

    fn arg(&mut self, write: bool) -> LaunchArg<'_> {
        each_buf!(self, |b| if write { b.arg_mut() } else { b.arg() })
    }
}

/// The launch argument of a scalar value (a narrow one as
/// [`LaunchArg::Scalar`], which the runtime widens).
fn scalar_arg(l: Literal) -> LaunchArg<'static> {
    match l {
        Literal::Bool(x) => LaunchArg::Bool(x),
        Literal::I32(x) => LaunchArg::I32(x),
        Literal::U32(x) => LaunchArg::U32(x),
        Literal::F32(x) => LaunchArg::F32(f32::from_bits(x)),
        narrow => LaunchArg::Scalar(narrow),
    }
}

/// Upload `inputs` (one per parameter of `spec`, buffers typed by their
/// `elem`), launch `spec` on `device` over `grid`, wait, and download every
/// buffer: the final contents as raw bits, `None` for scalars. Buffers are
/// passed writable where `spec` declares them `ReadWrite`. For specs a
/// test builds itself (with [`OwnedSpec`](super::OwnedSpec) or by hand);
/// [`run_on_device`] runs a generated [`Case`].
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
        super::spec::launch_any(device, spec, grid, &mut args)?;
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
