//! Conformance drivers for the kernel corpus (`tests/kernels/*.vyre`).
//!
//! Every kernel is launched through the typed launcher that `vyre-build`
//! generated for it (`kernels::<file>::<kernel>`), on whatever device the
//! caller passes. Inputs are deterministic and deliberately awkward: sizes
//! are not multiples of the workgroup size, so partial workgroups and bounds
//! checks are exercised. [`compare`] checks one device's outputs against the
//! reference device's (`Device::cpu()`).
//!
//! The `regress_*` files of the corpus are compiled (so their launchers are
//! type-checked) but not driven here: they are fuzzer reproducers whose
//! outputs depend on races between invocations.

use std::fmt;

use vyre::{Device, Grid};

/// The launchers generated from `../tests/kernels` by `build.rs`.
#[allow(missing_docs)]
pub mod kernels {
    vyre::include_kernels!();
}

/// The downloaded contents of one output buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `f32` elements.
    F32(Vec<f32>),
}

/// How an output must agree with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Bit-exact (integers; floats produced only by correctly rounded
    /// `+ - * /` in the same order, which `docs/language.md` requires to be
    /// IEEE round-to-nearest-even with no contraction).
    Exact,
    /// Floats within this many ULP (derived from the per-function bounds of
    /// `docs/language.md`; the driver's comment says how).
    Ulp(u64),
    /// The same elements in any order (for outputs whose order depends on
    /// scheduling, such as atomic return values).
    Multiset,
}

/// One named output buffer of a kernel run.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The kernel parameter it came from.
    pub name: &'static str,
    /// Its contents after the launch.
    pub data: Data,
    /// How it is compared with the reference.
    pub check: Check,
}

/// Every output buffer of one kernel run.
pub type Outputs = Vec<Output>;

/// A corpus driver: uploads inputs, launches, downloads outputs.
pub type Driver = fn(&Device) -> vyre::Result<Outputs>;

/// Every driven corpus kernel, by kernel name.
pub const KERNELS: &[(&str, Driver)] = &[
    ("histogram", run_histogram),
    ("histogram_shared", run_histogram_shared),
    ("matmul", run_matmul),
    ("reduce_sum", run_reduce_sum),
    ("saxpy", run_saxpy),
    ("scan_inclusive", run_scan_inclusive),
    ("softmax", run_softmax),
    ("stencil", run_stencil),
    ("wild", run_wild),
    ("ieee", run_ieee),
    ("sum4_partials", run_sum4_partials),
];

/// Why `kernel` is not held to the reference on `device`, for the few
/// kernels whose contract some drivers are known not to keep (the reason
/// is printed as a `skipped:` line; `docs/targets.md` has the details).
#[must_use]
pub fn known_deviation(kernel: &str, device: &Device) -> Option<&'static str> {
    let name = device.name();
    match kernel {
        // wgpu's device names end in "WGSL)" on the WGSL path.
        "ieee" if name.starts_with("wgpu") && name.contains("WGSL") => {
            Some("WGSL cannot ask the driver to keep infinities and NaN")
        }
        "ieee" if name.contains("llvmpipe") => {
            Some("llvmpipe folds `x * 0.0` to 0 even under SignedZeroInfNanPreserve")
        }
        // Exact float checks of `a * b + c`: SPIR-V marks the products
        // NoContraction, WGSL has no way to, and NVIDIA's compiler fuses.
        "saxpy" | "matmul"
            if name.starts_with("wgpu") && name.contains("WGSL") && name.contains("NVIDIA") =>
        {
            Some("WGSL cannot forbid fusing `a * b + c` into one FMA, which NVIDIA's driver does")
        }
        _ => None,
    }
}

/// A deterministic pseudo-random stream (xorshift32), so every device gets
/// the same inputs without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u32);

impl Rng {
    /// A stream from a non-zero-ized seed.
    #[must_use]
    pub fn new(seed: u32) -> Self {
        Self(seed | 1)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A float in `[lo, hi)` with 24 random mantissa bits.
    pub fn f32_in(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        lo + unit * (hi - lo)
    }

    /// `n` floats in `[lo, hi)`.
    pub fn f32s(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32_in(lo, hi)).collect()
    }

    /// `n` raw `u32`s.
    pub fn u32s(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.next_u32()).collect()
    }
}

fn out(name: &'static str, data: Data, check: Check) -> Output {
    Output { name, data, check }
}

/// `histogram`: 1003 random values into 37 bins (global atomics). Final
/// bin counts do not depend on the order of the atomics.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_histogram(device: &Device) -> vyre::Result<Outputs> {
    let data = Rng::new(1).u32s(1003);
    let d = device.upload(&data)?;
    let mut bins = device.zeros::<u32>(37)?;
    kernels::histogram::histogram(device, Grid::threads(data.len()), &d, &mut bins)?;
    Ok(vec![out(
        "bins",
        Data::U32(device.download(&bins)?),
        Check::Exact,
    )])
}

/// `histogram_shared`: 777 random values into 256 bins through
/// workgroup-private counts (the last workgroup is partial).
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_histogram_shared(device: &Device) -> vyre::Result<Outputs> {
    let data = Rng::new(2).u32s(777);
    let d = device.upload(&data)?;
    let mut bins = device.zeros::<u32>(256)?;
    kernels::histogram::histogram_shared(device, Grid::threads(data.len()), &d, &mut bins)?;
    Ok(vec![out(
        "bins",
        Data::U32(device.download(&bins)?),
        Check::Exact,
    )])
}

/// `matmul`: 37 x 23 times 23 x 45 (no dimension a multiple of the 16 x 16
/// tile). Each product is rounded, then added in the same order on every
/// target, so the result is bit-exact unless a target contracts to FMA.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_matmul(device: &Device) -> vyre::Result<Outputs> {
    let (m, k, n) = (37u32, 23u32, 45u32);
    let mut rng = Rng::new(3);
    let a = rng.f32s((m * k) as usize, -2.0, 2.0);
    let b = rng.f32s((k * n) as usize, -2.0, 2.0);
    let ad = device.upload(&a)?;
    let bd = device.upload(&b)?;
    let mut cd = device.zeros::<f32>((m * n) as usize)?;
    kernels::matmul::matmul(device, Grid::threads_2d(n, m), &ad, &bd, &mut cd, m, k, n)?;
    Ok(vec![out(
        "c",
        Data::F32(device.download(&cd)?),
        Check::Exact,
    )])
}

/// `reduce_sum`: 1000 floats, 4 workgroups (the last one partial). The tree
/// order is fixed by the kernel, so the partial sums are bit-exact.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_reduce_sum(device: &Device) -> vyre::Result<Outputs> {
    let input = Rng::new(4).f32s(1000, -10.0, 10.0);
    let d = device.upload(&input)?;
    let mut partials = device.zeros::<f32>(input.len().div_ceil(256))?;
    kernels::reduce::reduce_sum(device, Grid::threads(input.len()), &d, &mut partials)?;
    Ok(vec![out(
        "partials",
        Data::F32(device.download(&partials)?),
        Check::Exact,
    )])
}

/// `saxpy`: 1000 elements, `a = 2.5`; one multiply and one add, each
/// correctly rounded, so bit-exact.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_saxpy(device: &Device) -> vyre::Result<Outputs> {
    let mut rng = Rng::new(5);
    let x = rng.f32s(1000, -4.0, 4.0);
    let y = rng.f32s(1000, -4.0, 4.0);
    let xd = device.upload(&x)?;
    let mut yd = device.upload(&y)?;
    kernels::saxpy::saxpy(device, Grid::threads(y.len()), 2.5, &xd, &mut yd)?;
    Ok(vec![out(
        "y",
        Data::F32(device.download(&yd)?),
        Check::Exact,
    )])
}

/// `scan_inclusive`: 1000 random `u32` (wrapping sums), 4 workgroups.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_scan_inclusive(device: &Device) -> vyre::Result<Outputs> {
    let data = Rng::new(6).u32s(1000);
    let d = device.upload(&data)?;
    let mut o = device.zeros::<u32>(data.len())?;
    kernels::scan::scan_inclusive(device, Grid::threads(data.len()), &d, &mut o)?;
    Ok(vec![out(
        "out",
        Data::U32(device.download(&o)?),
        Check::Exact,
    )])
}

/// ULP budget of `softmax`, derived from `docs/language.md` (`exp` within
/// 4 ULP on GPU targets, `+ - * /` correctly rounded): the numerator's
/// `exp` error of 4 ULP of `exp(d)` is up to 8 ULP of the quotient (a
/// relative error converts to at most twice as many ULP at another binade
/// position); the denominator is a fixed-order sum of positive terms each
/// within 4 ULP, so its relative error is that of one term plus the
/// rounding flips it causes, at most 8 ULP of the quotient as well. The
/// division adds one rounding. 16 is that sum, without the rounding slack.
pub const SOFTMAX_ULP: u64 = 16;

/// `softmax`: 5 rows of 300 columns (more than one pass of 256 threads,
/// not a multiple of it), inputs in `[-8, 8)` so no `exp` underflows into
/// the flush-to-zero range.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_softmax(device: &Device) -> vyre::Result<Outputs> {
    let (rows, cols) = (5u32, 300u32);
    let x = Rng::new(7).f32s((rows * cols) as usize, -8.0, 8.0);
    let xd = device.upload(&x)?;
    let mut yd = device.zeros::<f32>(x.len())?;
    kernels::softmax::softmax(device, Grid::workgroups(rows), &xd, &mut yd, cols)?;
    Ok(vec![out(
        "y",
        Data::F32(device.download(&yd)?),
        Check::Ulp(SOFTMAX_ULP),
    )])
}

/// `stencil`: a 37 x 29 grid (neither a multiple of 16): four adds and a
/// multiply in a fixed order, so bit-exact.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_stencil(device: &Device) -> vyre::Result<Outputs> {
    let (w, h) = (37u32, 29u32);
    let input = Rng::new(8).f32s((w * h) as usize, -100.0, 100.0);
    let d = device.upload(&input)?;
    let mut o = device.zeros::<f32>(input.len())?;
    kernels::stencil::stencil(device, Grid::threads_2d(w, h), &d, &mut o, w, h)?;
    Ok(vec![out(
        "out",
        Data::F32(device.download(&o)?),
        Check::Exact,
    )])
}

/// `wild`: 101 indices mixing in-range, negative, `i32::MIN`/`MAX`, just
/// past the end and random values, against 50-element buffers.
///
/// `hits` holds atomic-add counts (order-independent). `olds` ORs atomic
/// return values, but every atomic whose old value lands in `olds` targets
/// an out-of-range index (`-1`, `u32::MAX`, `k | 0x8000_0000`) and so
/// returns 0 by the bounds-check rule: the value is defined and compared
/// exactly. `marks`/`gathered` are plain stores of values that do not
/// depend on which invocation wins.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_wild(device: &Device) -> vyre::Result<Outputs> {
    let mut rng = Rng::new(9);
    let n_data = 50usize;
    let idx: Vec<i32> = (0..101)
        .map(|i| match i % 7 {
            0 => -1,
            1 => i32::MIN,
            2 => i32::MAX,
            3 => n_data as i32,
            4 => rng.next_u32() as i32,
            _ => (rng.next_u32() % n_data as u32) as i32,
        })
        .collect();
    let data: Vec<u32> = rng.u32s(n_data);
    let idx_d = device.upload(&idx)?;
    let data_d = device.upload(&data)?;
    let mut gathered = device.zeros::<u32>(idx.len())?;
    let mut hits = device.zeros::<u32>(n_data)?;
    let mut marks = device.zeros::<u32>(n_data)?;
    let mut olds = device.upload(&vec![0xDEAD_BEEFu32; idx.len()])?;
    kernels::wild::wild(
        device,
        Grid::threads(idx.len()),
        &idx_d,
        &data_d,
        &mut gathered,
        &mut hits,
        &mut marks,
        &mut olds,
    )?;
    Ok(vec![
        out(
            "gathered",
            Data::U32(device.download(&gathered)?),
            Check::Exact,
        ),
        out("hits", Data::U32(device.download(&hits)?), Check::Exact),
        out("marks", Data::U32(device.download(&marks)?), Check::Exact),
        out("olds", Data::U32(device.download(&olds)?), Check::Exact),
    ])
}

/// `ieee`: NaN, infinities, signed zeros and ordinary values through
/// quotients, products and comparisons. Every operation is correctly
/// rounded and NaN-propagating, so the outputs are exact (any NaN payload).
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_ieee(device: &Device) -> vyre::Result<Outputs> {
    let mut x = vec![
        0.0,
        -0.0,
        1.0,
        -2.5,
        3.0e38,
        -3.0e38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        28.0,
    ];
    x.extend(Rng::new(10).f32s(89, -100.0, 100.0));
    let n = x.len();
    let xd = device.upload(&x)?;
    let mut quotients = device.zeros::<f32>(n)?;
    let mut products = device.zeros::<f32>(n)?;
    let mut flags = device.zeros::<u32>(n)?;
    kernels::ieee::ieee(
        device,
        Grid::threads(n),
        &xd,
        0.0,
        &mut quotients,
        &mut products,
        &mut flags,
    )?;
    Ok(vec![
        out(
            "quotients",
            Data::F32(device.download(&quotients)?),
            Check::Exact,
        ),
        out(
            "products",
            Data::F32(device.download(&products)?),
            Check::Exact,
        ),
        out("flags", Data::U32(device.download(&flags)?), Check::Exact),
    ])
}

/// `sum4_partials`: 100,003 random `u32` over 37 workgroups (16-byte loads
/// plus a tail), and 6 over 2 (tail and checked vector loads only);
/// wrapping sums, so exact.
///
/// # Errors
/// Any upload, launch or download error of the device.
pub fn run_sum4_partials(device: &Device) -> vyre::Result<Outputs> {
    let mut outputs = Vec::new();
    for (name, n, groups) in [("partials", 100_003, 37u32), ("partials_small", 6, 2)] {
        let x = device.upload(&Rng::new(11).u32s(n))?;
        let mut partials = device.zeros::<u32>(groups as usize)?;
        kernels::sum4::sum4_partials(device, Grid::workgroups(groups), &x, &mut partials)?;
        outputs.push(out(
            name,
            Data::U32(device.download(&partials)?),
            Check::Exact,
        ));
    }
    Ok(outputs)
}

pub use vyre_testkit::ulp_distance;

/// The first disagreement found by [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The output buffer.
    pub output: &'static str,
    /// The element index (`None` for a length or shape difference).
    pub index: Option<usize>,
    /// What the reference produced.
    pub expected: String,
    /// What the device produced.
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(
                f,
                "{}[{i}]: expected {}, got {}",
                self.output, self.expected, self.got
            ),
            None => write!(
                f,
                "{}: expected {}, got {}",
                self.output, self.expected, self.got
            ),
        }
    }
}

/// The result of comparing a device's outputs with the reference's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// Largest ULP distance over all float elements (0 when all are equal
    /// or there are none).
    pub max_ulp: u64,
    /// Number of elements that broke their check.
    pub mismatches: usize,
    /// The first elements that broke their check (at most 8).
    pub first: Vec<Mismatch>,
}

impl Comparison {
    /// Whether every element met its check.
    #[must_use]
    pub fn matched(&self) -> bool {
        self.mismatches == 0
    }

    fn record(&mut self, m: Mismatch) {
        self.mismatches += 1;
        if self.first.len() < 8 {
            self.first.push(m);
        }
    }
}

fn float_text(x: f32) -> String {
    format!("{x:e} (0x{:08x})", x.to_bits())
}

fn compare_elems<T: PartialEq + Ord + Copy + fmt::Debug>(
    c: &mut Comparison,
    name: &'static str,
    want: &[T],
    got: &[T],
    check: Check,
) {
    if check == Check::Multiset {
        let (mut w, mut g) = (want.to_vec(), got.to_vec());
        w.sort_unstable();
        g.sort_unstable();
        if w != g {
            c.record(Mismatch {
                output: name,
                index: None,
                expected: format!("multiset {w:?}"),
                got: format!("multiset {g:?}"),
            });
        }
        return;
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g {
            c.record(Mismatch {
                output: name,
                index: Some(i),
                expected: format!("{w:?}"),
                got: format!("{g:?}"),
            });
        }
    }
}

/// Compare `got` (one device) with `want` (the reference), output by
/// output, each with its [`Check`].
#[must_use]
pub fn compare(want: &Outputs, got: &Outputs) -> Comparison {
    let mut c = Comparison::default();
    if want.len() != got.len() {
        c.record(Mismatch {
            output: "<outputs>",
            index: None,
            expected: format!("{} outputs", want.len()),
            got: format!("{} outputs", got.len()),
        });
        return c;
    }
    for (w, g) in want.iter().zip(got) {
        let lens = |d: &Data| match d {
            Data::U32(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::F32(v) => v.len(),
        };
        if w.name != g.name || lens(&w.data) != lens(&g.data) {
            c.record(Mismatch {
                output: w.name,
                index: None,
                expected: format!("{} of {} elements", w.name, lens(&w.data)),
                got: format!("{} of {} elements", g.name, lens(&g.data)),
            });
            continue;
        }
        match (&w.data, &g.data) {
            (Data::U32(a), Data::U32(b)) => compare_elems(&mut c, w.name, a, b, w.check),
            (Data::I32(a), Data::I32(b)) => compare_elems(&mut c, w.name, a, b, w.check),
            (Data::F32(a), Data::F32(b)) => {
                if w.check == Check::Multiset {
                    // Order-independent float outputs compare as bit patterns.
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    compare_elems(&mut c, w.name, &bits(a), &bits(b), Check::Multiset);
                    continue;
                }
                let bound = match w.check {
                    Check::Ulp(u) => u,
                    _ => 0,
                };
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let d = ulp_distance(*x, *y);
                    // Exact means the same bits (so -0.0 vs 0.0 differs).
                    let ok = if bound == 0 {
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                    } else {
                        d <= bound
                    };
                    if d != u64::MAX {
                        c.max_ulp = c.max_ulp.max(d);
                    }
                    if !ok {
                        c.record(Mismatch {
                            output: w.name,
                            index: Some(i),
                            expected: float_text(*x),
                            got: float_text(*y),
                        });
                    }
                }
            }
            _ => c.record(Mismatch {
                output: w.name,
                index: None,
                expected: "another element type".into(),
                got: "a different one".into(),
            }),
        }
    }
    c
}

/// The devices this build can try, by the name used on the command line.
#[must_use]
pub fn device_names() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
        v.push("wgpu-wgsl");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// Open a device by name: `cpu`, `wgpu` (SPIR-V passthrough where the
/// adapter allows it), `wgpu-wgsl` (the WGSL artifacts forced, to test the
/// fallback path), `cuda` (ordinal 0).
///
/// # Errors
/// `Error::NoDevice` when the device is absent, or its feature was not
/// built in.
pub fn open_device(name: &str) -> vyre::Result<Device> {
    match name {
        "cpu" => Ok(Device::cpu()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(),
        #[cfg(feature = "wgpu")]
        "wgpu-wgsl" => Device::wgpu_with(
            &vyre::backend::naga::runtime::WgpuOptions::from_env().with_force_wgsl(true),
        ),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        other => Err(vyre::Error::NoDevice {
            backend: other.to_string(),
            reason: format!(
                "device `{other}` is not built into this binary (built: {})",
                device_names().join(", ")
            ),
        }),
    }
}
