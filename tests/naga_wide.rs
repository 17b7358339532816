//! The 64-bit types (`u64`, `i64`, `f64`) on the naga targets and the wgpu
//! runtime.
//!
//! - Emission: SPIR-V declares `Int64` (and `Float64` for `f64`) only where
//!   a kernel uses them and passes `spirv-val`; WGSL refuses every 64-bit
//!   type and MSL refuses `f64` with [`CompileError::Unsupported`] naming
//!   the type; HLSL (shader model 6.0) and MSL (2.3, integers) write them.
//! - Running (feature `wgpu`): every kernel runs on `Device::wgpu()` through
//!   SPIR-V passthrough (lavapipe in CI) and matches the reference
//!   interpreter (`Device::cpu()`) bit for bit (any NaN matches any NaN,
//!   the sign of a zero `min`/`max`/`clamp` is free, as Rust leaves it, and
//!   `mul_add` may be fused or not, as on `f32`): division by zero and
//!   `i64::MIN / -1`, shifts by 63, 64 and 70, wrapping, saturating float to
//!   integer casts with NaN, rounding casts, `f64` math with NaN, scalar
//!   parameters at odd positions, shared and private arrays, bounds checks.
//!   A device without the features, or the WGSL path, refuses such a kernel
//!   at launch with an error naming the kernel, the types and the feature.
//!
//! Without an adapter the running tests print `skipped:` and pass, unless
//! `VYRE_REQUIRE_VULKAN=1`.

use vyre::driver::{CompileError, emit_aot_target};
use vyre::ir::{DataType, Literal, Param, Program};
use vyre::runtime::{Artifact, KernelSpec, LaunchArg, ParamSpec};
use vyre::{Device, DispatchConfig, Grid};
use vyre_testkit::corpus::{require_vulkan, spirv_val, validate_spirv};

// ---------------------------------------------------------------------------
// Kernels.

/// 64-bit integer arithmetic, comparisons, shifts, `min`/`max`/`clamp`,
/// guarded and constant divisors, and casts between every integer and
/// float type.
const INT_SRC: &str = r"
const NI: u32 = 24;
const NU: u32 = 22;

#[kernel(workgroup_size = 64)]
pub fn int64_ops(a: &[i64], b: &[i64], c: &[i32], s: &[u32], oi: &mut [i64], ou: &mut [u64], of: &mut [f32], od: &mut [f64], o32: &mut [u32]) {
    let i = global_id().x;
    if i >= a.len() {
        return;
    }
    let x = a[i];
    let y = b[i];
    let ux = x as u64;
    let uy = y as u64;
    let k = c[i];
    let sh = s[i];
    let o = i * NI;
    oi[o] = x / y;
    oi[o + 1] = x % y;
    oi[o + 2] = x + y;
    oi[o + 3] = x - y;
    oi[o + 4] = x * y;
    oi[o + 5] = -x;
    oi[o + 6] = !x;
    oi[o + 7] = x.abs();
    oi[o + 8] = x.min(y);
    oi[o + 9] = x.max(y);
    oi[o + 10] = x.clamp(y, 1000);
    oi[o + 11] = x >> y;
    oi[o + 12] = x << sh;
    oi[o + 13] = x >> k;
    oi[o + 14] = (x & y) ^ (x | 0x0f0f_0f0f_0f0f_0f0f);
    oi[o + 15] = k as i64 + (sh as i64) * 3;
    oi[o + 16] = x / -1;
    oi[o + 17] = x % -1;
    oi[o + 18] = x / 0;
    oi[o + 19] = x % 0;
    oi[o + 20] = x / 7;
    oi[o + 21] = x % -7;
    oi[o + 22] = x >> 70;
    let mut cmp: i64 = 0;
    if x < y {
        cmp = cmp | 1;
    }
    if x <= y {
        cmp = cmp | 2;
    }
    if x == y {
        cmp = cmp | 4;
    }
    if x != y {
        cmp = cmp | 8;
    }
    if ux < uy {
        cmp = cmp | 16;
    }
    if ux >= uy {
        cmp = cmp | 32;
    }
    oi[o + 23] = cmp;

    let p = i * NU;
    ou[p] = ux / uy;
    ou[p + 1] = ux % uy;
    ou[p + 2] = ux + uy;
    ou[p + 3] = ux - uy;
    ou[p + 4] = ux * uy;
    ou[p + 5] = !ux;
    ou[p + 6] = ux.min(uy);
    ou[p + 7] = ux.max(uy);
    ou[p + 8] = ux.clamp(uy, 1099511627776);
    ou[p + 9] = ux >> uy;
    ou[p + 10] = ux << y;
    ou[p + 11] = ux >> sh;
    ou[p + 12] = k as u64;
    ou[p + 13] = (k as u32) as u64;
    ou[p + 14] = sh as u64;
    ou[p + 15] = ux / 0;
    ou[p + 16] = ux % 10;
    ou[p + 17] = ux / 18446744073709551615;
    ou[p + 18] = ux << 64;
    ou[p + 19] = (ux >> 63) | (ux << 63);
    ou[p + 20] = if ux > uy { ux } else { uy };
    ou[p + 21] = (sh as i64) as u64 + (k as i64) as u64;

    of[i * 2] = x as f32;
    of[i * 2 + 1] = ux as f32;
    od[i * 2] = x as f64;
    od[i * 2 + 1] = ux as f64;
    o32[i * 4] = x as u32;
    o32[i * 4 + 1] = (x as i32) as u32;
    o32[i * 4 + 2] = ux as u32;
    o32[i * 4 + 3] = (ux as i32) as u32;
}
";

/// `f64` arithmetic, math, comparisons (NaN included) and casts.
const FLOAT_SRC: &str = r"
const NF: u32 = 16;

#[kernel(workgroup_size = 64)]
pub fn float64_ops(a: &[f64], b: &[f64], c: &[f64], h: &[f32], od: &mut [f64], oi: &mut [i64], ou: &mut [u64], o32: &mut [i32], ou32: &mut [u32], of: &mut [f32], ob: &mut [u32]) {
    let i = global_id().x;
    if i >= a.len() {
        return;
    }
    let x = a[i];
    let y = b[i];
    let z = c[i];
    let o = i * NF;
    od[o] = x + y;
    od[o + 1] = x - y;
    od[o + 2] = x * y;
    od[o + 3] = x / y;
    od[o + 4] = x.sqrt();
    od[o + 5] = x.floor();
    od[o + 6] = x.ceil();
    od[o + 7] = x.abs();
    od[o + 8] = x.min(y);
    od[o + 9] = x.max(y);
    od[o + 10] = x.clamp(y, z);
    od[o + 11] = -x;
    od[o + 12] = h[i] as f64;
    od[o + 13] = if x < y { x } else { z };
    od[o + 14] = x.mul_add(y, z);
    od[o + 15] = (x as f32) as f64;
    oi[i] = x as i64;
    ou[i] = x as u64;
    o32[i] = x as i32;
    ou32[i] = x as u32;
    of[i] = x as f32;
    let mut m: u32 = 0;
    if x == y {
        m = m | 1;
    }
    if x != y {
        m = m | 2;
    }
    if x < y {
        m = m | 4;
    }
    if x <= y {
        m = m | 8;
    }
    if x > y {
        m = m | 16;
    }
    if x >= y {
        m = m | 32;
    }
    ob[i] = m;
}
";

/// Operations on literals only (which a WGSL-style front end would fold)
/// and non-finite `f64` constants.
const LITERAL_SRC: &str = r"
#[kernel(workgroup_size = 1)]
pub fn wide_literals(oi: &mut [i64], ou: &mut [u64], od: &mut [f64]) {
    oi[0] = i64::MIN / -1;
    oi[1] = i64::MIN % -1;
    oi[2] = 7i64 / 0;
    oi[3] = -7i64 % 0;
    oi[4] = 1i64 << 70;
    oi[5] = i64::MIN >> 63;
    oi[6] = (-1i64).abs();
    oi[7] = i64::MIN.abs();
    oi[8] = f64::NAN as i64;
    oi[9] = f64::INFINITY as i64;
    oi[10] = f64::NEG_INFINITY as i64;
    oi[11] = 1e300f64 as i64;
    ou[0] = u64::MAX + 1;
    ou[1] = 0u64 - 1;
    ou[2] = u64::MAX * u64::MAX;
    ou[3] = 5u64 / 0;
    ou[4] = 1u64 << 64;
    ou[5] = f64::NAN as u64;
    ou[6] = -1.0f64 as u64;
    ou[7] = 18446744073709551615.0f64 as u64;
    od[0] = f64::NAN;
    od[1] = f64::INFINITY;
    od[2] = f64::NEG_INFINITY;
    od[3] = (-1.0f64).sqrt();
    od[4] = 0.0f64 / 0.0;
    od[5] = f64::NAN.min(2.0);
    od[6] = 3.0f64.max(f64::NAN);
    od[7] = f64::MAX * 2.0;
    od[8] = 5.0f64.clamp(7.0, 6.0);
    od[9] = f64::NAN.clamp(1.0, 2.0);
    od[10] = 2.0f64.mul_add(3.0, 1.0);
    od[11] = u64::MAX as f64;
    od[12] = i64::MIN as f64;
    od[13] = 0.1f64;
}
";

/// Scalar parameters of every width at odd positions: a `u64` right after
/// a `u32` (4 bytes of padding before it), an `f64` after an `f32`, an
/// `i64` after a buffer, a `bool` and an `i32` between them.
const PARAMS_SRC: &str = r"
#[kernel(workgroup_size = 1)]
pub fn wide_params(a: u32, b: u64, c: f32, d: f64, ou: &mut [u64], e: i64, f: bool, g: i32, h: f64, od: &mut [f64], k: u64) {
    ou[0] = a as u64;
    ou[1] = b;
    ou[2] = e as u64;
    ou[3] = k;
    ou[4] = b * 3 + (a as u64);
    ou[5] = g as u64;
    ou[6] = if f { k } else { b };
    od[0] = c as f64;
    od[1] = d;
    od[2] = h;
    od[3] = d * h + (c as f64);
    od[4] = (e as f64) / d;
}
";

/// A shared array of `f64` (a workgroup sum in a fixed order) and a
/// private array of `i64` (with out-of-range stores and loads).
const MEMORY_SRC: &str = r"
#[kernel(workgroup_size = 64)]
pub fn wide_memory(x: &[f64], n: &[i64], sums: &mut [f64], acc: &mut [i64]) {
    #[shared] let mut tile: [f64; 64];
    let l = local_id().x;
    let i = global_id().x;
    tile[l] = x[i];
    barrier();
    if l == 0 {
        let mut s: f64 = 0.0;
        for k in 0..64 {
            s = s + tile[k];
        }
        sums[workgroup_id().x] = s;
    }
    let mut p: [i64; 8] = [0; 8];
    let v = n[i];
    for k in 0..8 {
        p[k] = v * (k as i64) - (k as i64);
    }
    let mut t: i64 = 0;
    for k in 0..8u32 {
        t = t ^ (p[k] << k);
    }
    p[i % 11] = -1;
    acc[i] = t + p[i % 11] + p[(i + 3) % 11];
}
";

/// Unchecked-looking accesses of 64-bit buffers: loads past the end read
/// 0, stores past the end are dropped (the lengths differ from the grid).
const BOUNDS_SRC: &str = r"
#[kernel(workgroup_size = 64)]
pub fn wide_bounds(x: &[u64], y: &mut [u64], z: &mut [f64]) {
    let i = global_id().x;
    y[i] = x[i] + 1;
    z[i * 2] = x[i * 3] as f64 + 0.5;
}
";

fn program(file: &str, src: &str) -> Program {
    let mut module = vyre::lang::parse(file, src).unwrap_or_else(|d| panic!("{file}: {d}"));
    assert_eq!(module.kernels.len(), 1, "{file}");
    module.kernels.remove(0)
}

fn int_kernel() -> Program {
    program("int64.vyre", INT_SRC)
}
fn float_kernel() -> Program {
    program("float64.vyre", FLOAT_SRC)
}
fn literal_kernel() -> Program {
    program("literals.vyre", LITERAL_SRC)
}
fn params_kernel() -> Program {
    program("params.vyre", PARAMS_SRC)
}
fn memory_kernel() -> Program {
    program("memory.vyre", MEMORY_SRC)
}
fn bounds_kernel() -> Program {
    program("bounds.vyre", BOUNDS_SRC)
}

/// `u64` and `i64` without `f64`.
fn only_int_kernel() -> Program {
    program(
        "only_int.vyre",
        r"
#[kernel]
pub fn only_int(x: &mut [i64], y: &[u64], s: u32) {
    let i = global_id().x;
    x[i] = x[i] / (y[i] as i64) + (y[i] >> s) as i64 + (s as i64) * -3;
}
",
    )
}

fn all_kernels() -> Vec<Program> {
    vec![
        int_kernel(),
        float_kernel(),
        literal_kernel(),
        params_kernel(),
        memory_kernel(),
        bounds_kernel(),
    ]
}

// ---------------------------------------------------------------------------
// Emission.

fn emit(target: &str, p: &Program) -> Result<Vec<u8>, String> {
    emit_aot_target(target, p, &DispatchConfig::default()).map_err(|e| e.to_string())
}

fn lower_err(target: &str, p: &Program) -> CompileError {
    let result = match target {
        "wgsl" => vyre::backend::naga::emit::wgsl_source(p, &DispatchConfig::default()),
        "msl" => vyre::backend::naga::emit::msl_source(p, &DispatchConfig::default()),
        _ => unreachable!(),
    };
    result.expect_err(target)
}

/// The capabilities a SPIR-V module declares.
fn spirv_capabilities(bytes: &[u8]) -> Vec<u32> {
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let mut caps = Vec::new();
    let mut at = 5;
    while let Some(&w) = words.get(at) {
        let count = (w >> 16) as usize;
        if w & 0xffff == 17 {
            caps.push(words[at + 1]);
        }
        at += count.max(1);
    }
    caps
}

const CAP_FLOAT64: u32 = 10;
const CAP_INT64: u32 = 11;

#[test]
fn spirv_declares_64_bit_capabilities_only_where_used_and_validates() {
    let val = spirv_val();
    if val.is_none() {
        assert!(
            !require_vulkan(),
            "VYRE_REQUIRE_VULKAN=1 but spirv-val was not found (apt-get install spirv-tools)"
        );
        println!("skipped: spirv-val not found (the capabilities are still checked)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for p in all_kernels().into_iter().chain([only_int_kernel()]) {
        let bytes = emit("spirv", &p).unwrap_or_else(|e| panic!("{e}"));
        let caps = spirv_capabilities(&bytes);
        assert!(caps.contains(&CAP_INT64), "{}: {caps:?}", p.name);
        let has_f64 = p.wide_types().contains(&DataType::F64);
        assert_eq!(caps.contains(&CAP_FLOAT64), has_f64, "{}: {caps:?}", p.name);
        if let Some(val) = &val {
            let path = dir.path().join(format!("{}.spv", p.name));
            if let Err(e) = validate_spirv(val, &path, &bytes, "vulkan1.0") {
                failures.push(format!("{}: {e}", p.name));
            }
        }
    }
    assert!(failures.is_empty(), "spirv-val:\n{}", failures.join("\n"));
    // A kernel with 64-bit integers only declares no `Float64`; a 32-bit
    // kernel declares neither.
    let caps = spirv_capabilities(&emit("spirv", &only_int_kernel()).unwrap());
    assert!(
        caps.contains(&CAP_INT64) && !caps.contains(&CAP_FLOAT64),
        "{caps:?}"
    );
    let saxpy = vyre_testkit::programs::documented_saxpy(64);
    let caps = spirv_capabilities(&emit("spirv", &saxpy).unwrap());
    assert!(
        !caps.contains(&CAP_INT64) && !caps.contains(&CAP_FLOAT64),
        "{caps:?}"
    );
}

#[test]
fn wgsl_refuses_every_64_bit_type() {
    for (p, types) in [
        (float_kernel(), "`u64`, `i64` and `f64`"),
        (int_kernel(), "`u64`, `i64` and `f64`"),
        (bounds_kernel(), "`u64` and `f64`"),
    ] {
        let e = lower_err("wgsl", &p);
        let msg = e.to_string();
        assert!(
            matches!(&e, CompileError::Unsupported { target, construct, .. }
                if target == "wgsl" && construct.contains(types)),
            "{msg}"
        );
        assert!(msg.contains(&format!("kernel `{}`", p.name)), "{msg}");
        // Through the registry too.
        let via = emit("wgsl", &p).unwrap_err();
        assert!(via.contains("wgsl") && via.contains(types), "{via}");
    }
    let msg = lower_err("wgsl", &only_int_kernel()).to_string();
    assert!(
        msg.contains("`u64` and `i64`") && !msg.contains("`f64`"),
        "{msg}"
    );
}

#[test]
fn msl_refuses_f64_and_writes_64_bit_integers() {
    let e = lower_err("msl", &float_kernel());
    assert!(
        matches!(&e, CompileError::Unsupported { target, construct, .. }
            if target == "msl" && construct.starts_with("the kernel uses `f64`,")),
        "{e}"
    );
    assert!(e.to_string().contains("float64_ops"), "{e}");
    let e = lower_err("msl", &int_kernel());
    assert!(e.to_string().contains("`f64`"), "{e}");
    let text = String::from_utf8(emit("msl", &only_int_kernel()).unwrap_or_else(|e| panic!("{e}")))
        .unwrap();
    assert!(text.contains("long") && text.contains("ulong"), "{text}");
    assert!(!text.contains("double"), "{text}");
}

#[test]
fn hlsl_writes_64_bit_types_but_not_f64_sqrt_floor_ceil() {
    let mut refused = Vec::new();
    for p in all_kernels().into_iter().chain([only_int_kernel()]) {
        let text = match emit("hlsl", &p) {
            Ok(bytes) => String::from_utf8(bytes).unwrap(),
            Err(e) => {
                refused.push(p.name.clone());
                assert!(
                    e.contains("hlsl") && e.contains("`f64` `sqrt`") && e.contains(&p.name),
                    "{e}"
                );
                continue;
            }
        };
        let types = p.wide_types();
        if types.contains(&DataType::F64) {
            assert!(text.contains("double"), "{}:\n{text}", p.name);
        }
        if types.contains(&DataType::I64) {
            assert!(text.contains("int64_t"), "{}:\n{text}", p.name);
        }
    }
    // `float64_ops` and `wide_literals` take square roots; the others use
    // `f64` arithmetic, `min`, `max`, `clamp`, `mul_add` and casts, which
    // HLSL has.
    assert_eq!(refused, ["float64_ops", "wide_literals"]);
    for (f, name) in [("x.floor()", "floor"), ("x.ceil()", "ceil")] {
        let src = format!("#[kernel]\npub fn k(x: f64, y: &mut [f64]) {{ y[0] = {f}; }}\n");
        let e = emit("hlsl", &program("f.vyre", &src)).unwrap_err();
        assert!(e.contains(&format!("`f64` `{name}`")), "{e}");
    }
}

#[test]
fn capabilities_follow_the_types() {
    use naga::valid::Capabilities as C;
    use vyre::backend::naga::emit::capabilities;
    assert_eq!(capabilities(&int_kernel()), C::SHADER_INT64 | C::FLOAT64);
    assert_eq!(capabilities(&only_int_kernel()), C::SHADER_INT64);
    assert_eq!(
        capabilities(&vyre_testkit::programs::documented_saxpy(64)),
        C::empty()
    );
}

// ---------------------------------------------------------------------------
// Running: a small harness over `Device::launch` with any element type.

/// One launch argument.
#[derive(Debug, Clone)]
enum Arg {
    /// A buffer of `ty` with these elements (as `Literal::bits64`).
    Buf(DataType, Vec<u64>),
    /// A scalar.
    Scalar(Literal),
}

fn buf<T: vyre::Element>(data: &[T]) -> Arg {
    Arg::Buf(T::TYPE, data.iter().map(|v| v.to_bits()).collect())
}

fn to_bytes(ty: DataType, bits: &[u64]) -> Vec<u8> {
    let size = ty.size_bytes() as usize;
    bits.iter()
        .flat_map(|b| b.to_le_bytes().into_iter().take(size))
        .collect()
}

fn from_bytes(ty: DataType, bytes: &[u8]) -> Vec<u64> {
    let size = ty.size_bytes() as usize;
    bytes
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

/// The spec of `p` with the artifacts of `targets`.
struct OwnedSpec {
    program: Program,
    key: String,
    artifacts: Vec<(String, Vec<u8>)>,
}

impl OwnedSpec {
    fn new(p: &Program, targets: &[&str]) -> Self {
        let artifacts = targets
            .iter()
            .map(|t| {
                let bytes = emit(t, p).unwrap_or_else(|e| panic!("{e}"));
                ((*t).to_string(), bytes)
            })
            .collect();
        Self {
            program: p.clone(),
            key: format!("tests::naga_wide::{}::{}", p.name, targets.join("+")),
            artifacts,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&KernelSpec<'_>) -> R) -> R {
        let params: Vec<ParamSpec<'_>> = self
            .program
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
        let artifacts: Vec<Artifact<'_>> = self
            .artifacts
            .iter()
            .map(|(t, bytes)| Artifact {
                target: t,
                arch: None,
                bytes,
            })
            .collect();
        f(&KernelSpec {
            name: &self.program.name,
            key: &self.key,
            params: &params,
            workgroup_size: self.program.workgroup_size,
            unchecked: self.program.unchecked,
            artifacts: &artifacts,
            debug: &[],
            tensor_maps: &[],
        })
    }
}

/// Run `spec` on `dev` over `workgroups` with `args`; the final elements
/// of every buffer (`None` for scalars).
fn run(
    dev: &Device,
    spec: &OwnedSpec,
    workgroups: [u32; 3],
    args: &[Arg],
) -> Result<Vec<Option<Vec<u64>>>, vyre::Error> {
    let mut bufs = Vec::new();
    for a in args {
        bufs.push(match a {
            Arg::Buf(ty, bits) => Some(dev.upload_bytes(*ty, &to_bytes(*ty, bits))?),
            Arg::Scalar(_) => None,
        });
    }
    {
        let mut launch_args: Vec<LaunchArg<'_>> = Vec::new();
        for ((b, a), p) in bufs.iter_mut().zip(args).zip(&spec.program.params) {
            let read_only =
                matches!(p, Param::Buffer(decl) if decl.access == vyre::ir::Access::Read);
            launch_args.push(match (b, a) {
                (Some(b), _) => {
                    if read_only {
                        b.arg()
                    } else {
                        b.arg_mut()
                    }
                }
                (None, Arg::Scalar(l)) => LaunchArg::Scalar(*l),
                (None, Arg::Buf(..)) => unreachable!(),
            });
        }
        spec.with(|k| dev.launch(k, Grid::Workgroups(workgroups), &mut launch_args))?;
    }
    bufs.iter()
        .map(|b| match b {
            Some(b) => Ok(Some(from_bytes(b.elem(), &dev.download_bytes(b)?))),
            None => Ok(None),
        })
        .collect()
}

fn is_nan(ty: DataType, bits: u64) -> bool {
    match ty {
        DataType::F64 => f64::from_bits(bits).is_nan(),
        DataType::F32 => f32::from_bits(bits as u32).is_nan(),
        _ => false,
    }
}

/// Where a result may differ from the reference: an element index set by
/// a predicate, and what is accepted there.
#[derive(Clone, Copy)]
enum Loose {
    /// `+0.0` and `-0.0` match (`min`, `max`, `clamp` of equal zeros: Rust
    /// leaves the sign unspecified).
    ZeroSign,
    /// `mul_add`: the device's result may be `a * b + c` rounded twice.
    Fma,
}

/// Parameter, element predicate, rule.
type LooseSpan = (usize, fn(usize) -> bool, Loose);

/// A program with its inputs and where its results may differ.
struct Case {
    program: Program,
    args: Vec<Arg>,
    workgroups: [u32; 3],
    /// Where results may differ from the reference.
    loose: Vec<LooseSpan>,
}

fn compare(case: &Case, got: &[Option<Vec<u64>>], want: &[Option<Vec<u64>>]) -> Vec<String> {
    let mut bad = Vec::new();
    for (k, ((g, w), param)) in got.iter().zip(want).zip(&case.program.params).enumerate() {
        let (Some(g), Some(w), Param::Buffer(decl)) = (g, w, param) else {
            continue;
        };
        if decl.access == vyre::ir::Access::Read {
            continue;
        }
        let ty = decl.elem;
        assert_eq!(g.len(), w.len());
        for (e, (&gb, &wb)) in g.iter().zip(w).enumerate() {
            if gb == wb || (is_nan(ty, gb) && is_nan(ty, wb)) {
                continue;
            }
            let rule = case
                .loose
                .iter()
                .find(|(p, pred, _)| *p == k && pred(e))
                .map(|l| l.2);
            let ok = match rule {
                Some(Loose::ZeroSign) => {
                    ty == DataType::F64 && f64::from_bits(gb) == 0.0 && f64::from_bits(wb) == 0.0
                }
                Some(Loose::Fma) => fma_ok(case, e, gb),
                None => false,
            };
            if !ok {
                bad.push(format!(
                    "{} `{}`[{e}] ({ty}): device {} ({gb:#x}), reference {} ({wb:#x})",
                    case.program.name,
                    decl.name,
                    show(ty, gb),
                    show(ty, wb)
                ));
            }
        }
    }
    bad
}

fn show(ty: DataType, bits: u64) -> String {
    match ty {
        DataType::F64 => format!("{:e}", f64::from_bits(bits)),
        DataType::F32 => format!("{:e}", f32::from_bits(bits as u32)),
        DataType::I64 => format!("{}", bits as i64),
        DataType::I32 => format!("{}", bits as u32 as i32),
        _ => format!("{bits}"),
    }
}

/// Whether `got` at element `e` of `float64_ops`'s `od` is `a * b + c`
/// rounded twice (the fused result matched already).
fn fma_ok(case: &Case, e: usize, got: u64) -> bool {
    let i = e / FLOAT_SLOTS;
    let f = |k: usize| match &case.args[k] {
        Arg::Buf(_, v) => f64::from_bits(v[i]),
        Arg::Scalar(_) => unreachable!(),
    };
    let twice = f(0) * f(1) + f(2);
    got == twice.to_bits() || (twice.is_nan() && f64::from_bits(got).is_nan())
}

const INT_SLOTS_I: usize = 24;
const INT_SLOTS_U: usize = 22;
const FLOAT_SLOTS: usize = 16;

fn int_values() -> Vec<i64> {
    vec![
        0,
        1,
        -1,
        2,
        -2,
        7,
        -7,
        63,
        64,
        70,
        -64,
        i64::MIN,
        i64::MAX,
        i64::MIN + 1,
        1 << 32,
        -(1 << 32),
        0x1234_5678_9abc_def0,
        -98_765_432_109,
        4_294_967_295,
        (1 << 53) + 1,
        (1 << 62) + (1 << 38) + 1,
        -(1 << 60) - 12345,
    ]
}

fn int_case() -> Case {
    let vals = int_values();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &vals {
        for &y in &vals {
            a.push(x);
            b.push(y);
        }
    }
    let n = a.len();
    let c: Vec<i32> = (0..n)
        .map(|k| [0, 1, -1, 31, 32, 63, 64, 70, i32::MIN, i32::MAX, -70][k % 11])
        .collect();
    let s: Vec<u32> = (0..n)
        .map(|k| [0, 1, 31, 32, 63, 64, 70, 127, u32::MAX][k % 9])
        .collect();
    Case {
        program: int_kernel(),
        args: vec![
            buf(&a),
            buf(&b),
            buf(&c),
            buf(&s),
            buf(&vec![0i64; n * INT_SLOTS_I]),
            buf(&vec![0u64; n * INT_SLOTS_U]),
            buf(&vec![0f32; n * 2]),
            buf(&vec![0f64; n * 2]),
            buf(&vec![0u32; n * 4]),
        ],
        workgroups: [n.div_ceil(64) as u32, 1, 1],
        loose: vec![],
    }
}

fn float_values() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        -2.5,
        3.0,
        0.1,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        9_223_372_036_854_775_808.0,
        9_223_372_036_854_774_784.0,
        -9_223_372_036_854_775_808.0,
        -9_223_372_036_854_777_856.0,
        18_446_744_073_709_551_616.0,
        18_446_744_073_709_549_568.0,
        4_294_967_295.5,
        4_294_967_296.0,
        2_147_483_647.5,
        -2_147_483_648.5,
        -2_147_483_649.0,
        1e300,
        -1e300,
        3.000_000_000_1,
        1.0 + f64::from(f32::EPSILON) / 2.0,
        1.0 + f64::from(f32::EPSILON) / 2.0 + f64::EPSILON,
        3.4028235677973366e38,
        123_456_789.123_456_78,
    ]
}

fn float_case() -> Case {
    let vals = float_values();
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for (ix, &x) in vals.iter().enumerate() {
        for (iy, &y) in vals.iter().enumerate() {
            a.push(x);
            b.push(y);
            c.push(vals[(ix * 7 + iy * 3 + 1) % vals.len()]);
        }
    }
    let n = a.len();
    let h: Vec<f32> = (0..n)
        .map(|k| {
            [
                0.0,
                -0.0,
                1.5,
                f32::NAN,
                f32::INFINITY,
                f32::MAX,
                f32::MIN_POSITIVE,
                -3.1,
                16_777_217.0,
            ][k % 9]
        })
        .collect();
    Case {
        program: float_kernel(),
        args: vec![
            buf(&a),
            buf(&b),
            buf(&c),
            buf(&h),
            buf(&vec![0f64; n * FLOAT_SLOTS]),
            buf(&vec![0i64; n]),
            buf(&vec![0u64; n]),
            buf(&vec![0i32; n]),
            buf(&vec![0u32; n]),
            buf(&vec![0f32; n]),
            buf(&vec![0u32; n]),
        ],
        workgroups: [n.div_ceil(64) as u32, 1, 1],
        loose: vec![
            (4, |e| matches!(e % FLOAT_SLOTS, 8..=10), Loose::ZeroSign),
            (4, |e| e % FLOAT_SLOTS == 14, Loose::Fma),
        ],
    }
}

fn literal_case() -> Case {
    Case {
        program: literal_kernel(),
        args: vec![buf(&[0i64; 12]), buf(&[0u64; 8]), buf(&[0f64; 14])],
        workgroups: [1, 1, 1],
        loose: vec![],
    }
}

fn params_case() -> Case {
    Case {
        program: params_kernel(),
        args: vec![
            Arg::Scalar(Literal::U32(0xdead_beef)),
            Arg::Scalar(Literal::U64(0x0123_4567_89ab_cdef)),
            Arg::Scalar(Literal::f32(-1.25)),
            Arg::Scalar(Literal::f64(std::f64::consts::PI)),
            buf(&[0u64; 7]),
            Arg::Scalar(Literal::I64(i64::MIN + 5)),
            Arg::Scalar(Literal::Bool(true)),
            Arg::Scalar(Literal::I32(-3)),
            Arg::Scalar(Literal::f64(-1e-300)),
            buf(&[0f64; 5]),
            Arg::Scalar(Literal::U64(u64::MAX - 1)),
        ],
        workgroups: [1, 1, 1],
        loose: vec![],
    }
}

fn memory_case() -> Case {
    let n = 64 * 3 - 5;
    let x: Vec<f64> = (0..n).map(|k| (k as f64).sqrt() * 1e-3 - 0.1).collect();
    let v: Vec<i64> = (0..n as i64)
        .map(|k| k * 0x1234_5678_9abc + i64::MIN / (k + 2))
        .collect();
    Case {
        program: memory_kernel(),
        args: vec![buf(&x), buf(&v), buf(&[0f64; 3]), buf(&vec![0i64; 64 * 3])],
        workgroups: [3, 1, 1],
        loose: vec![],
    }
}

fn bounds_case(x_len: usize) -> Case {
    let x: Vec<u64> = (0..x_len as u64).map(|k| k * 0x1_0000_0001 + 3).collect();
    Case {
        program: bounds_kernel(),
        args: vec![buf(&x), buf(&vec![7u64; 90]), buf(&vec![0.25f64; 100])],
        workgroups: [2, 1, 1],
        loose: vec![],
    }
}

fn only_int_case() -> Case {
    let vals = int_values();
    let x: Vec<i64> = (0..100).map(|k| vals[k % vals.len()]).collect();
    let y: Vec<u64> = (0..100)
        .map(|k| vals[(k * 5 + 3) % vals.len()] as u64)
        .collect();
    Case {
        program: only_int_kernel(),
        args: vec![buf(&x), buf(&y), Arg::Scalar(Literal::U32(35))],
        workgroups: [2, 1, 1],
        loose: vec![],
    }
}

fn cases() -> Vec<Case> {
    vec![
        only_int_case(),
        int_case(),
        float_case(),
        literal_case(),
        params_case(),
        memory_case(),
        bounds_case(70),
        bounds_case(0),
    ]
}

/// The reference's results for `case`.
fn reference(case: &Case) -> Vec<Option<Vec<u64>>> {
    let spec = OwnedSpec::new(&case.program, &["reference"]);
    run(&Device::cpu(), &spec, case.workgroups, &case.args)
        .unwrap_or_else(|e| panic!("{} on the reference: {e}", case.program.name))
}

/// The reference agrees with a few hand-computed values (so that the
/// comparisons below compare with the right thing).
#[test]
fn reference_spot_checks() {
    let lit = reference(&literal_case());
    let oi: Vec<i64> = lit[0].as_ref().unwrap().iter().map(|&b| b as i64).collect();
    assert_eq!(
        oi,
        vec![
            i64::MIN,
            0,
            0,
            0,
            1 << 6,
            -1,
            1,
            i64::MIN,
            0,
            i64::MAX,
            i64::MIN,
            i64::MAX
        ]
    );
    assert_eq!(
        lit[1].as_ref().unwrap(),
        &vec![0, u64::MAX, 1, 0, 1, 0, 0, u64::MAX]
    );
    let params = reference(&params_case());
    assert_eq!(
        params[4].as_ref().unwrap(),
        &vec![
            0xdead_beef,
            0x0123_4567_89ab_cdef,
            (i64::MIN + 5) as u64,
            u64::MAX - 1,
            0x0123_4567_89ab_cdef_u64.wrapping_mul(3) + 0xdead_beef,
            -3i64 as u64,
            u64::MAX - 1,
        ]
    );
}

#[cfg(feature = "wgpu")]
mod wgpu_runs {
    use super::*;
    use vyre::backend::naga::runtime::{WgpuBackend, WgpuOptions};

    fn device(options: &WgpuOptions) -> Option<Device> {
        match Device::wgpu_with(options) {
            Ok(d) => Some(d),
            Err(e) => {
                assert!(
                    !require_vulkan(),
                    "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
                );
                println!("skipped: no wgpu adapter ({e})");
                None
            }
        }
    }

    fn backend(dev: &Device) -> &WgpuBackend {
        dev.backend_as::<WgpuBackend>().expect("a wgpu device")
    }

    /// A device that runs 64-bit kernels from SPIR-V, or `None` (with a
    /// `skipped:` line) when there is none.
    fn wide_device() -> Option<Device> {
        let dev = device(&WgpuOptions::from_env())?;
        let b = backend(&dev);
        if !(b.uses_spirv_passthrough() && b.supports_int64() && b.supports_f64()) {
            assert!(
                !require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but {} has no SPIR-V passthrough, shaderInt64 or shaderFloat64",
                dev.name()
            );
            println!(
                "skipped: {} does not run 64-bit kernels (passthrough {}, int64 {}, f64 {})",
                dev.name(),
                b.uses_spirv_passthrough(),
                b.supports_int64(),
                b.supports_f64()
            );
            return None;
        }
        Some(dev)
    }

    #[test]
    fn wide_kernels_match_the_reference_bit_for_bit() {
        let Some(dev) = wide_device() else { return };
        println!("device: {}", dev.name());
        let mut failures = Vec::new();
        for case in cases() {
            let want = reference(&case);
            let spec = OwnedSpec::new(&case.program, &["spirv"]);
            match run(&dev, &spec, case.workgroups, &case.args) {
                Ok(got) => failures.extend(compare(&case, &got, &want)),
                Err(e) => failures.push(format!("{}: {e}", case.program.name)),
            }
        }
        let n = failures.len();
        failures.truncate(60);
        assert!(
            failures.is_empty(),
            "{n} mismatches on {}:\n{}",
            dev.name(),
            failures.join("\n")
        );
    }

    /// Checks that do not rely on the reference: hand-computed results on
    /// the device.
    #[test]
    fn wide_literals_on_the_device() {
        let Some(dev) = wide_device() else { return };
        let case = literal_case();
        let spec = OwnedSpec::new(&case.program, &["spirv"]);
        let got = run(&dev, &spec, case.workgroups, &case.args).unwrap();
        let od: Vec<f64> = got[2]
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| f64::from_bits(b))
            .collect();
        assert!(od[0].is_nan() && od[3].is_nan() && od[4].is_nan(), "{od:?}");
        assert_eq!(&od[1..3], &[f64::INFINITY, f64::NEG_INFINITY], "{od:?}");
        assert_eq!(od[5], 2.0);
        assert_eq!(od[6], 3.0);
        assert_eq!(od[7], f64::INFINITY);
        assert_eq!(od[8], 6.0);
        // `clamp` is `max(lo).min(hi)`, which ignores a NaN `x`.
        assert_eq!(od[9], 1.0);
        assert_eq!(od[10], 7.0);
        assert_eq!(od[11], 18_446_744_073_709_551_616.0);
        assert_eq!(od[12], -9_223_372_036_854_775_808.0);
        assert_eq!(od[13], 0.1);
    }

    /// The WGSL path cannot run a 64-bit kernel: the launch says why,
    /// naming the kernel and the types; the device keeps working.
    #[test]
    fn the_wgsl_path_refuses_a_64_bit_kernel() {
        let Some(dev) = device(&WgpuOptions::from_env().with_force_wgsl(true)) else {
            return;
        };
        let case = float_case();
        let spec = OwnedSpec::new(&case.program, &["spirv"]);
        let err = run(&dev, &spec, case.workgroups, &case.args).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, vyre::Error::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("float64_ops")
                && msg.contains("`f64`")
                && msg.contains("WGSL")
                && msg.contains("spirv"),
            "{msg}"
        );
        let saxpy = vyre_testkit::programs::documented_saxpy(64);
        let spec = OwnedSpec::new(&saxpy, &["spirv", "wgsl"]);
        run(
            &dev,
            &spec,
            [1, 1, 1],
            &[
                Arg::Scalar(Literal::f32(2.0)),
                buf(&[1.0f32; 10]),
                buf(&[1.0f32; 10]),
            ],
        )
        .unwrap();
    }

    /// A device opened without `SHADER_F64` (or `SHADER_INT64`) refuses the
    /// kernels that need it at launch, naming the kernel, the types, the
    /// target and the feature, and runs the others.
    #[test]
    fn a_device_without_the_features_refuses_at_launch() {
        let Some(full) = wide_device() else { return };
        drop(full);
        let Some(dev) = device(&WgpuOptions::from_env().with_no_f64(true)) else {
            return;
        };
        assert!(!backend(&dev).supports_f64());
        let case = float_case();
        let spec = OwnedSpec::new(&case.program, &["spirv"]);
        let err = run(&dev, &spec, case.workgroups, &case.args).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, vyre::Error::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("float64_ops")
                && msg.contains("`f64`")
                && msg.contains("SHADER_F64")
                && !msg.contains("SHADER_INT64")
                && msg.contains("`spirv`"),
            "{msg}"
        );
        // Kernels with 64-bit integers only still run.
        let case = only_int_case();
        let want = reference(&case);
        let spec = OwnedSpec::new(&case.program, &["spirv"]);
        let got = run(&dev, &spec, case.workgroups, &case.args).unwrap();
        assert_eq!(compare(&case, &got, &want), Vec::<String>::new());

        let Some(dev) = device(&WgpuOptions::from_env().with_no_int64(true)) else {
            return;
        };
        let spec = OwnedSpec::new(&case.program, &["spirv"]);
        let msg = run(&dev, &spec, case.workgroups, &case.args)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("only_int") && msg.contains("SHADER_INT64") && msg.contains("`u64`"),
            "{msg}"
        );
        // 32-bit kernels still run.
        let saxpy = vyre_testkit::programs::documented_saxpy(64);
        let spec = OwnedSpec::new(&saxpy, &["spirv", "wgsl"]);
        run(
            &dev,
            &spec,
            [1, 1, 1],
            &[
                Arg::Scalar(Literal::f32(2.0)),
                buf(&[1.0f32; 10]),
                buf(&[1.0f32; 10]),
            ],
        )
        .unwrap();
    }
}
