//! The reference interpreter's throughput: saxpy over 2^22 elements and a
//! 512 x 512 tiled matmul (16 x 16 shared-memory tiles), on one thread and
//! on all cores.
//!
//! `cargo bench -p vyre --bench reference`; with `VYRE_BENCH_QUICK=N` it
//! skips criterion and prints wall and CPU seconds per run instead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use vyre::backend::reference::{Compiled, RefArg, RunOptions};
use vyre::ir::{Access, Axis, BufRef, Builtin, DataType, Expr, Literal, Program, ProgramBuilder};

fn saxpy() -> Program {
    vyre_testkit::programs::saxpy(256)
}

/// The same kernel as `tests/kernels/matmul.vyre`, square.
fn matmul() -> Program {
    const T: u32 = 16;
    let mut b = ProgramBuilder::new("matmul", [T, T, 1]);
    let a = b.buffer("a", DataType::F32, Access::Read);
    let bb = b.buffer("b", DataType::F32, Access::Read);
    let c = b.buffer("c", DataType::F32, Access::ReadWrite);
    let n = b.scalar("n", DataType::U32);
    let ta = b.shared("ta", DataType::F32, T * T);
    let tb = b.shared("tb", DataType::F32, T * T);
    let col = b.local("col", DataType::U32, false);
    let row = b.local("row", DataType::U32, false);
    let lx = b.local("lx", DataType::U32, false);
    let ly = b.local("ly", DataType::U32, false);
    let acc = b.local("acc", DataType::F32, true);
    let t = b.local("t", DataType::U32, false);
    let ac = b.local("ac", DataType::U32, false);
    let br = b.local("br", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let l = Expr::local;
    let u = Expr::u32;
    b.body(|blk| {
        blk.let_(col, Expr::Builtin(Builtin::GlobalId, Axis::X));
        blk.let_(row, Expr::Builtin(Builtin::GlobalId, Axis::Y));
        blk.let_(lx, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.let_(ly, Expr::Builtin(Builtin::LocalId, Axis::Y));
        blk.let_(acc, Expr::f32(0.0));
        let tiles = Expr::param(n).add(u(T - 1)).div(u(T));
        blk.for_(t, u(0), tiles, |body| {
            body.let_(ac, l(t).mul(u(T)).add(l(lx)));
            body.let_(br, l(t).mul(u(T)).add(l(ly)));
            let slot = l(ly).mul(u(T)).add(l(lx));
            body.store(
                BufRef::Shared(ta),
                slot.clone(),
                Expr::select(
                    l(row).lt(Expr::param(n)).and(l(ac).lt(Expr::param(n))),
                    Expr::load(BufRef::Param(a), l(row).mul(Expr::param(n)).add(l(ac))),
                    Expr::f32(0.0),
                ),
            );
            body.store(
                BufRef::Shared(tb),
                slot,
                Expr::select(
                    l(br).lt(Expr::param(n)).and(l(col).lt(Expr::param(n))),
                    Expr::load(BufRef::Param(bb), l(br).mul(Expr::param(n)).add(l(col))),
                    Expr::f32(0.0),
                ),
            );
            body.barrier();
            body.for_(j, u(0), u(T), |inner| {
                let prod = Expr::load(BufRef::Shared(ta), l(ly).mul(u(T)).add(l(j)))
                    .mul(Expr::load(BufRef::Shared(tb), l(j).mul(u(T)).add(l(lx))));
                inner.assign(acc, l(acc).add(prod));
            });
            body.barrier();
        });
        blk.if_(
            l(row).lt(Expr::param(n)).and(l(col).lt(Expr::param(n))),
            |then| {
                then.store(
                    BufRef::Param(c),
                    l(row).mul(Expr::param(n)).add(l(col)),
                    l(acc),
                );
            },
        );
    });
    b.finish()
}

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let configs = [("1 thread", Some(1)), ("all threads", None)];

    let saxpy = Compiled::new(&saxpy()).expect("saxpy compiles");
    let n = 1usize << 22;
    let x: Vec<u32> = (0..n).map(|i| (i as f32 * 0.001).to_bits()).collect();
    let mut xs = x.clone();
    let mut ys = vec![1f32.to_bits(); n];
    let mut group = c.benchmark_group(format!("saxpy 2^22 ({cores} cores)"));
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(n as u64));
    for (label, threads) in configs {
        let opts = RunOptions {
            threads,
            ..RunOptions::default()
        };
        group.bench_function(label, |bch| {
            bch.iter(|| {
                saxpy
                    .run(
                        [(n / 256) as u32, 1, 1],
                        &mut [
                            RefArg::Scalar(Literal::f32(2.0)),
                            RefArg::Buffer(&mut xs),
                            RefArg::Buffer(&mut ys),
                        ],
                        &opts,
                    )
                    .expect("saxpy runs");
                black_box(&ys);
            });
        });
    }
    group.finish();

    let matmul = Compiled::new(&matmul()).expect("matmul compiles");
    let m = 512usize;
    let mut a: Vec<u32> = (0..m * m).map(|i| ((i % 7) as f32).to_bits()).collect();
    let mut b: Vec<u32> = (0..m * m)
        .map(|i| ((i % 5) as f32 * 0.5).to_bits())
        .collect();
    let mut cm = vec![0u32; m * m];
    let mut group = c.benchmark_group(format!("matmul 512x512 tiled ({cores} cores)"));
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements((2 * m * m * m) as u64));
    for (label, threads) in configs {
        let opts = RunOptions {
            threads,
            ..RunOptions::default()
        };
        group.bench_function(label, |bch| {
            bch.iter(|| {
                matmul
                    .run(
                        [(m / 16) as u32, (m / 16) as u32, 1],
                        &mut [
                            RefArg::Buffer(&mut a),
                            RefArg::Buffer(&mut b),
                            RefArg::Buffer(&mut cm),
                            RefArg::Scalar(Literal::U32(m as u32)),
                        ],
                        &opts,
                    )
                    .expect("matmul runs");
                black_box(&cm);
            });
        });
    }
    group.finish();
    // Spot-check the result so the benchmark measures a correct kernel.
    let get = |v: &[u32], i: usize| f32::from_bits(v[i]);
    for (r, col) in [(0usize, 0usize), (511, 3), (100, 200)] {
        let mut acc = 0f32;
        for k in 0..m {
            acc += get(&a, r * m + k) * get(&b, k * m + col);
        }
        assert_eq!(get(&cm, r * m + col), acc, "matmul result at ({r},{col})");
    }
    let _ = &mut xs;
}

/// Process CPU time (user + system) from `/proc/self/stat`, in seconds;
/// `None` where that file does not exist.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// `VYRE_BENCH_QUICK=N`: run each configuration N times and print wall and
/// CPU seconds per run, a figure that stays meaningful on a loaded machine
/// (CPU time is what the interpreter itself costs).
fn quick(reps: u32) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("{cores} cores; wall and process CPU seconds per run (mean of {reps})");
    let saxpy = Compiled::new(&saxpy()).expect("saxpy compiles");
    let matmul = Compiled::new(&matmul()).expect("matmul compiles");
    let n = 1usize << 22;
    let mut x: Vec<u32> = (0..n).map(|i| (i as f32 * 0.001).to_bits()).collect();
    let mut y = vec![1f32.to_bits(); n];
    let m = 512usize;
    let mut a: Vec<u32> = (0..m * m).map(|i| ((i % 7) as f32).to_bits()).collect();
    let mut b: Vec<u32> = (0..m * m)
        .map(|i| ((i % 5) as f32 * 0.5).to_bits())
        .collect();
    let mut c = vec![0u32; m * m];
    for (label, threads) in [("1 thread", Some(1)), ("all threads", None)] {
        let opts = RunOptions {
            threads,
            ..RunOptions::default()
        };
        let time = |name: &str, f: &mut dyn FnMut()| {
            f();
            let (w0, c0) = (std::time::Instant::now(), cpu_seconds());
            for _ in 0..reps {
                f();
            }
            let wall = w0.elapsed().as_secs_f64() / f64::from(reps);
            let cpu = cpu_seconds()
                .zip(c0)
                .map(|(c1, c0)| (c1 - c0) / f64::from(reps));
            println!("{name} [{label}]: wall {wall:.3} s, cpu {cpu:.3?} s");
        };
        time("saxpy 2^22", &mut || {
            saxpy
                .run(
                    [(n / 256) as u32, 1, 1],
                    &mut [
                        RefArg::Scalar(Literal::f32(2.0)),
                        RefArg::Buffer(&mut x),
                        RefArg::Buffer(&mut y),
                    ],
                    &opts,
                )
                .expect("saxpy runs");
        });
        time("matmul 512", &mut || {
            matmul
                .run(
                    [(m / 16) as u32, (m / 16) as u32, 1],
                    &mut [
                        RefArg::Buffer(&mut a),
                        RefArg::Buffer(&mut b),
                        RefArg::Buffer(&mut c),
                        RefArg::Scalar(Literal::U32(m as u32)),
                    ],
                    &opts,
                )
                .expect("matmul runs");
        });
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Some(reps) = std::env::var("VYRE_BENCH_QUICK")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        quick(reps);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
