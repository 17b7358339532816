//! The kernel corpus (`tests/kernels/*.vyre`) on the reference target,
//! checked against plain Rust computing the same thing.
//!
//! Tolerances: integer results are exact. Float results are compared
//! bit-exactly against a Rust model that performs the same `f32` operations
//! in the same order (the reference interpreter is IEEE with no fused or
//! reordered arithmetic, so this is the strongest check); where an
//! order-independent model also makes sense (f64 sums, softmax) it is
//! checked with a relative tolerance of 1e-5.
//!
//! Every run happens twice, on one thread and on all cores, and the two
//! results must be identical.

use std::collections::BTreeSet;
use std::path::Path;

use vyre::backend::reference::{RefArg, RunError, RunOptions, run_with};
use vyre::ir::{Literal, Program, wire};

fn kernels_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels")
}

fn parse_file(file: &str) -> Vec<Program> {
    let path = kernels_dir().join(file);
    let source = std::fs::read_to_string(&path).expect("read kernel file");
    match vyre::lang::parse(file, &source) {
        Ok(module) => module.kernels,
        Err(d) => panic!("{file} does not parse: {:#?}", d.diagnostics),
    }
}

fn kernel(file: &str, name: &str) -> Program {
    let p = parse_file(file)
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{file} has no kernel `{name}`"));
    p.validate().expect("parsed kernels validate");
    // The reference blob decodes back to the same program.
    assert_eq!(wire::from_wire(&wire::to_wire(&p)).as_ref(), Ok(&p));
    p
}

/// A launch argument owned by the test.
#[derive(Debug, Clone)]
enum A {
    B(Vec<u32>),
    S(Literal),
}

fn f32s(v: &[f32]) -> A {
    A::B(v.iter().map(|x| x.to_bits()).collect())
}

fn launch(
    p: &Program,
    workgroups: [u32; 3],
    args: &[A],
    threads: Option<usize>,
) -> Result<Vec<A>, RunError> {
    let mut owned = args.to_vec();
    let mut refs: Vec<RefArg<'_>> = owned
        .iter_mut()
        .map(|a| match a {
            A::B(v) => RefArg::Buffer(v),
            A::S(l) => RefArg::Scalar(*l),
        })
        .collect();
    let opts = RunOptions {
        max_steps_per_invocation: Some(50_000_000),
        threads,
        ..RunOptions::default()
    };
    run_with(p, workgroups, &mut refs, &opts)?;
    drop(refs);
    Ok(owned)
}

/// Run on one thread and on all cores; results must agree. Returns every
/// buffer argument's final contents, in parameter order (scalars skipped).
fn run(p: &Program, workgroups: [u32; 3], args: &[A]) -> Vec<Vec<u32>> {
    let bufs = |v: Vec<A>| -> Vec<Vec<u32>> {
        v.into_iter()
            .filter_map(|a| match a {
                A::B(b) => Some(b),
                A::S(_) => None,
            })
            .collect()
    };
    let one = bufs(launch(p, workgroups, args, Some(1)).expect("run (1 thread)"));
    let all = bufs(launch(p, workgroups, args, None).expect("run (all threads)"));
    assert_eq!(one, all, "`{}`: 1-thread and parallel runs differ", p.name);
    one
}

fn as_f32(v: &[u32]) -> Vec<f32> {
    v.iter().map(|b| f32::from_bits(*b)).collect()
}

/// Deterministic pseudo-random numbers (xorshift32).
struct Rng(u32);
impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 8) as f32 / (1u32 << 24) as f32
    }
}

fn groups(n: usize, wg: usize) -> u32 {
    n.div_ceil(wg) as u32
}

#[test]
fn saxpy() {
    let p = kernel("saxpy.vyre", "saxpy");
    assert_eq!(p.workgroup_size, [256, 1, 1]);
    let mut rng = Rng(1);
    for n in [1usize, 255, 257, 1000, 4099] {
        let x: Vec<f32> = (0..n).map(|_| rng.f32(-10.0, 10.0)).collect();
        let y: Vec<f32> = (0..n).map(|_| rng.f32(-10.0, 10.0)).collect();
        let a = 1.75f32;
        let out = run(
            &p,
            [groups(n, 256), 1, 1],
            &[A::S(Literal::f32(a)), f32s(&x), f32s(&y)],
        );
        let want: Vec<f32> = (0..n).map(|i| a * x[i] + y[i]).collect();
        assert_eq!(as_f32(&out[1]), want, "n = {n}");
        assert_eq!(as_f32(&out[0]), x, "x is read-only");
    }
}

/// The workgroup tree reduction, in the kernel's order.
fn tree_sum(chunk: &[f32]) -> f32 {
    let mut tile = [0f32; 256];
    tile[..chunk.len()].copy_from_slice(chunk);
    let mut stride = 128;
    while stride > 0 {
        for l in 0..stride {
            tile[l] += tile[l + stride];
        }
        stride /= 2;
    }
    tile[0]
}

#[test]
fn reduce_sum() {
    let p = kernel("reduce.vyre", "reduce_sum");
    let mut rng = Rng(2);
    for n in [1usize, 300, 1000, 70_001] {
        let input: Vec<f32> = (0..n).map(|_| rng.f32(-1.0, 1.0)).collect();
        let g = groups(n, 256) as usize;
        let sentinel = f32::from_bits(0x7fc0_dead);
        let out = run(
            &p,
            [g as u32, 1, 1],
            &[f32s(&input), f32s(&vec![sentinel; g + 3])],
        );
        let partials = as_f32(&out[1]);
        for (w, chunk) in input.chunks(256).enumerate() {
            assert_eq!(
                partials[w].to_bits(),
                tree_sum(chunk).to_bits(),
                "n = {n}, group {w}"
            );
            let exact: f64 = chunk.iter().map(|&v| f64::from(v)).sum();
            assert!((f64::from(partials[w]) - exact).abs() <= 1e-5 * chunk.len() as f64);
        }
        // Past the last workgroup: untouched.
        assert!(out[1][g..].iter().all(|&b| b == 0x7fc0_dead));
    }
}

#[test]
fn histogram_global() {
    let p = kernel("histogram.vyre", "histogram");
    let mut rng = Rng(3);
    for (n, nbins) in [(10_007usize, 37usize), (1, 1), (4096, 256)] {
        let data: Vec<u32> = (0..n).map(|_| rng.next()).collect();
        let out = run(
            &p,
            [groups(n, 256), 1, 1],
            &[A::B(data.clone()), A::B(vec![0; nbins])],
        );
        let mut want = vec![0u32; nbins];
        for d in &data {
            want[(d % nbins as u32) as usize] += 1;
        }
        assert_eq!(out[1], want, "n = {n}, bins = {nbins}");
    }
}

#[test]
fn histogram_privatized() {
    let p = kernel("histogram.vyre", "histogram_shared");
    let mut rng = Rng(4);
    for n in [5000usize, 255, 257] {
        // Skewed data so that some bins are hot and some empty.
        let data: Vec<u32> = (0..n).map(|_| rng.next() % 97 * (rng.next() % 3)).collect();
        let init: Vec<u32> = (0..256).map(|b| b * 1000).collect();
        let out = run(
            &p,
            [groups(n, 256), 1, 1],
            &[A::B(data.clone()), A::B(init.clone())],
        );
        let mut want = init;
        for d in &data {
            want[(d & 255) as usize] += 1;
        }
        assert_eq!(out[1], want, "n = {n}");
    }
}

#[test]
fn scan_inclusive() {
    let p = kernel("scan.vyre", "scan_inclusive");
    let mut rng = Rng(5);
    for n in [1usize, 256, 1000, 3001] {
        let data: Vec<u32> = (0..n).map(|_| rng.next() >> (rng.next() % 32)).collect();
        let out = run(
            &p,
            [groups(n, 256), 1, 1],
            &[A::B(data.clone()), A::B(vec![7; n])],
        );
        let mut want = Vec::with_capacity(n);
        for chunk in data.chunks(256) {
            let mut acc = 0u32;
            for v in chunk {
                acc = acc.wrapping_add(*v);
                want.push(acc);
            }
        }
        assert_eq!(out[1], want, "n = {n}");
    }
}

#[test]
fn matmul_tiled() {
    let p = kernel("matmul.vyre", "matmul");
    assert_eq!(p.workgroup_size, [16, 16, 1]);
    let mut rng = Rng(6);
    for (m, k, n) in [
        (37usize, 50usize, 29usize),
        (16, 16, 16),
        (1, 33, 17),
        (20, 1, 3),
    ] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.f32(-2.0, 2.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.f32(-2.0, 2.0)).collect();
        let c0 = vec![-99.0f32; m * n];
        let out = run(
            &p,
            [groups(n, 16), groups(m, 16), 1],
            &[
                f32s(&a),
                f32s(&b),
                f32s(&c0),
                A::S(Literal::U32(m as u32)),
                A::S(Literal::U32(k as u32)),
                A::S(Literal::U32(n as u32)),
            ],
        );
        let c = as_f32(&out[2]);
        for r in 0..m {
            for col in 0..n {
                // Same order as the kernel; the zero padding of the last tile
                // adds +0.0, which leaves the sum unchanged.
                let mut acc = 0f32;
                let mut exact = 0f64;
                for j in 0..k {
                    acc += a[r * k + j] * b[j * n + col];
                    exact += f64::from(a[r * k + j]) * f64::from(b[j * n + col]);
                }
                let got = c[r * n + col];
                assert_eq!(got.to_bits(), acc.to_bits(), "({m},{k},{n}) at ({r},{col})");
                assert!((f64::from(got) - exact).abs() <= 1e-5 * (k as f64) * 4.0);
            }
        }
    }
}

/// The kernel's softmax for one row, in its order of operations.
fn softmax_model(row: &[f32]) -> Vec<f32> {
    let cols = row.len();
    let mut red = [0f32; 256];
    for (lid, r) in red.iter_mut().enumerate() {
        let mut m = row[0];
        let mut j = lid;
        while j < cols {
            m = m.max(row[j]);
            j += 256;
        }
        *r = m;
    }
    let mut stride = 128;
    while stride > 0 {
        for l in 0..stride {
            red[l] = red[l].max(red[l + stride]);
        }
        stride /= 2;
    }
    let row_max = red[0];
    for (lid, r) in red.iter_mut().enumerate() {
        let mut s = 0f32;
        let mut j = lid;
        while j < cols {
            s += (row[j] - row_max).exp();
            j += 256;
        }
        *r = s;
    }
    let mut stride = 128;
    while stride > 0 {
        for l in 0..stride {
            red[l] += red[l + stride];
        }
        stride /= 2;
    }
    let total = red[0];
    row.iter().map(|&v| (v - row_max).exp() / total).collect()
}

#[test]
fn softmax_rows() {
    let p = kernel("softmax.vyre", "softmax");
    let mut rng = Rng(7);
    for (rows, cols) in [(5usize, 1000usize), (3, 1), (4, 300), (2, 77)] {
        // Large magnitudes: a naive exp would overflow to inf and give NaN.
        let x: Vec<f32> = (0..rows * cols).map(|_| rng.f32(-1000.0, 1000.0)).collect();
        let out = run(
            &p,
            [rows as u32, 1, 1],
            &[
                f32s(&x),
                f32s(&vec![0.0; rows * cols]),
                A::S(Literal::U32(cols as u32)),
            ],
        );
        let y = as_f32(&out[1]);
        for r in 0..rows {
            let row = &x[r * cols..(r + 1) * cols];
            let got = &y[r * cols..(r + 1) * cols];
            let want = softmax_model(row);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "rows {rows} cols {cols} row {r}"
            );
            // And it is a softmax: finite, sums to 1, matches f64.
            let mx = row
                .iter()
                .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
            let denom: f64 = row.iter().map(|&v| (f64::from(v) - mx).exp()).sum();
            let sum: f64 = got.iter().map(|&v| f64::from(v)).sum();
            assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
            for (g, &v) in got.iter().zip(row) {
                let exact = (f64::from(v) - mx).exp() / denom;
                assert!(g.is_finite());
                assert!((f64::from(*g) - exact).abs() <= 1e-5 * exact.max(1e-30) + 1e-38);
            }
        }
    }
}

#[test]
fn stencil_5_point() {
    let p = kernel("stencil.vyre", "stencil");
    assert_eq!(p.workgroup_size, [16, 16, 1]);
    let mut rng = Rng(8);
    for (w, h) in [(37usize, 23usize), (1, 1), (2, 40), (16, 16)] {
        let input: Vec<f32> = (0..w * h).map(|_| rng.f32(0.0, 100.0)).collect();
        let sentinel = vec![f32::from_bits(0x7f80_0001); w * h];
        let out = run(
            &p,
            [groups(w, 16), groups(h, 16), 1],
            &[
                f32s(&input),
                f32s(&sentinel),
                A::S(Literal::U32(w as u32)),
                A::S(Literal::U32(h as u32)),
            ],
        );
        let got = as_f32(&out[1]);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let want = if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                    input[i]
                } else {
                    (input[i] + input[i - 1] + input[i + 1] + input[i - w] + input[i + w]) * 0.2
                };
                assert_eq!(got[i].to_bits(), want.to_bits(), "{w}x{h} at ({x},{y})");
            }
        }
    }
}

fn wild_inputs(n: usize) -> (Vec<i32>, Vec<u32>) {
    let mut rng = Rng(9);
    let specials = [
        -1,
        i32::MIN,
        i32::MAX,
        100,
        50,
        60,
        59,
        49,
        99,
        -100,
        1 << 30,
        0,
    ];
    let idx: Vec<i32> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                specials[(i / 3) % specials.len()]
            } else {
                (rng.next() % 120) as i32 - 10
            }
        })
        .collect();
    let data: Vec<u32> = (0..100).map(|i| 0x1000 + i).collect();
    (idx, data)
}

#[test]
fn wild_indices_touch_only_what_they_may() {
    let p = kernel("wild.vyre", "wild");
    for n in [1000usize, 1, 63, 65] {
        let (idx, data) = wild_inputs(n);
        let idx_bits: Vec<u32> = idx.iter().map(|&v| v as u32).collect();
        let gathered0 = vec![0xdead_0001u32; n];
        let hits0: Vec<u32> = (0..50).map(|j| j * 3).collect();
        let marks0 = vec![0xdead_0002u32; 60];
        let olds0 = vec![0xdead_0003u32; n];
        let out = run(
            &p,
            [groups(n, 64), 1, 1],
            &[
                A::B(idx_bits.clone()),
                A::B(data.clone()),
                A::B(gathered0),
                A::B(hits0.clone()),
                A::B(marks0.clone()),
                A::B(olds0),
            ],
        );
        // The model: only these writes happen; everything else keeps its
        // initial value.
        let in_range = |k: i32, len: usize| (k as u32 as usize) < len;
        let gathered: Vec<u32> = idx
            .iter()
            .map(|&k| {
                if in_range(k, data.len()) {
                    data[k as usize]
                } else {
                    0
                }
            })
            .collect();
        let mut hits = hits0;
        let mut marks = marks0;
        for &k in &idx {
            if in_range(k, hits.len()) {
                hits[k as usize] += 1;
            }
            if in_range(k, marks.len()) {
                marks[k as usize] = 1;
            }
        }
        assert_eq!(out[0], idx_bits, "idx is read-only");
        assert_eq!(out[1], data, "data is read-only");
        assert_eq!(out[2], gathered, "gathered, n = {n}");
        assert_eq!(out[3], hits, "hits, n = {n}");
        assert_eq!(out[4], marks, "marks, n = {n}");
        assert_eq!(out[5], vec![0; n], "out-of-range reads and atomics yield 0");
    }
}

#[test]
fn wild_indices_in_an_unchecked_kernel_are_reported() {
    let mut p = kernel("wild.vyre", "wild");
    p.unchecked = true;
    let (idx, data) = wild_inputs(100);
    let args = [
        A::B(idx.iter().map(|&v| v as u32).collect()),
        A::B(data),
        A::B(vec![0; 100]),
        A::B(vec![0; 50]),
        A::B(vec![0; 60]),
        A::B(vec![0; 100]),
    ];
    let e = launch(&p, [2, 1, 1], &args, Some(1)).unwrap_err();
    assert!(matches!(e, RunError::OutOfBounds { .. }), "{e:?}");
}

/// The inputs of `ieee`: every special value, then a few ordinary ones.
fn ieee_inputs() -> Vec<f32> {
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
        f32::from_bits(0xffc0_0001),
        f32::MIN_POSITIVE,
        28.0,
    ];
    x.extend((0..60).map(|k| (k as f32 - 30.0) * 0.75));
    x
}

#[test]
fn ieee_specials_follow_ieee() {
    let p = kernel("ieee.vyre", "ieee");
    let x = ieee_inputs();
    let n = x.len();
    let out = run(
        &p,
        [groups(n, 64), 1, 1],
        &[
            f32s(&x),
            A::S(Literal::f32(0.0)),
            A::B(vec![0; n]),
            A::B(vec![0; n]),
            A::B(vec![0; n]),
        ],
    );
    let zero = 0.0f32;
    // Same bits, or both NaN (the payload of a made NaN is not specified).
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let (q, m, flags) = (as_f32(&out[1]), as_f32(&out[2]), &out[3]);
    for (k, &v) in x.iter().enumerate() {
        let want_q = v / (v * 0.0);
        let want_m = v * 3e38 * zero;
        // `v != NaN` and `28.0 != NaN` hold always, `v == v` unless NaN.
        let want_f = 1
            | u32::from(!v.is_nan()) << 1
            | 1 << 2
            | u32::from(v < f32::INFINITY) << 3
            | u32::from(v / zero > 1e38) << 4
            | u32::from((v * 0.0).is_nan()) << 5;
        assert!(same(q[k], want_q), "quotients[{k}] for {v:?}: {:?}", q[k]);
        assert!(same(m[k], want_m), "products[{k}] for {v:?}: {:?}", m[k]);
        assert_eq!(flags[k], want_f, "flags[{k}] for {v:?}");
    }
    // The cases the kernel is about really occur.
    assert!(q.iter().any(|v| v.is_nan()) && q.iter().any(|v| v.is_infinite()));
    assert!(m.iter().any(|v| v.is_nan()) && flags.contains(&(1 | 4 | 32)));
}

#[test]
fn sum4_partials_cover_every_element_once() {
    let p = kernel("sum4.vyre", "sum4_partials");
    let mut rng = Rng(11);
    for (n, groups) in [(0usize, 1u32), (3, 1), (6, 2), (257, 3), (100_003, 37)] {
        let x: Vec<u32> = (0..n).map(|_| rng.next()).collect();
        let out = run(
            &p,
            [groups, 1, 1],
            &[A::B(x.clone()), A::B(vec![0; groups as usize])],
        );
        let mut want = vec![0u32; groups as usize];
        for (j, v) in x.iter().enumerate() {
            let w = (j / 4) % (64 * groups as usize) / 64;
            want[w] = want[w].wrapping_add(*v);
        }
        assert_eq!(out[1], want, "n = {n}, {groups} workgroups");
    }
}

/// Every kernel of the corpus is exercised by a test above.
#[test]
fn every_corpus_kernel_is_tested() {
    let tested: BTreeSet<&str> = [
        "saxpy",
        "reduce_sum",
        "histogram",
        "histogram_shared",
        "scan_inclusive",
        "matmul",
        "softmax",
        "stencil",
        "wild",
        "ieee",
        "sum4_partials",
    ]
    .into();
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(kernels_dir()).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        // `regress_*.vyre` are shrunk differential-test failures, run by
        // `tests/differential_regressions.rs`.
        if path.extension().is_some_and(|e| e == "vyre") && !file.starts_with("regress_") {
            for p in parse_file(&file) {
                found.insert(p.name);
            }
        }
    }
    let found: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, tested);
}
