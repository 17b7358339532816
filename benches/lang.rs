//! Front-end speed: parse + validate a generated ~1,000-line `.vyre` file,
//! encode the result with the wire format, and print it back.
//! Run: `cargo bench -p vyre --features compiler --bench lang`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;

/// A file with helpers, constants and one large kernel of `blocks` blocks
/// (13 lines each) that use every statement kind.
fn generated_source(blocks: usize) -> String {
    let mut s = String::from(
        "const N: u32 = 256;\n\
         fn sq(x: f32) -> f32 { x * x }\n\
         fn norm(v: &[f32], base: u32) -> f32 {\n    let mut s = 0.0;\n    for k in 0..4 { s += sq(v[base + k]); }\n    s.sqrt()\n}\n\
         /// Generated benchmark kernel.\n\
         #[kernel(workgroup_size = N)]\n\
         pub fn big(x: &[f32], y: &mut [f32], h: &mut [u32], n: u32) {\n\
         \x20   #[shared] let mut tile: [f32; N];\n\
         \x20   let i = global_id().x;\n\
         \x20   let lid = local_id().x;\n",
    );
    for k in 0..blocks {
        let _ = write!(
            s,
            "    let a{k} = x[(i + {k}) % x.len()] * {k}.5;
    let mut acc{k} = 0.0;
    for j{k} in 0..n {{
        acc{k} += a{k} * x[(i + j{k}) % x.len()];
        if acc{k} > 100.0 {{
            acc{k} = acc{k}.sqrt().min(norm(x, {k}));
        }} else if acc{k} < -1.0 {{
            acc{k} = sq(acc{k}) + (lid as f32).mul_add(2.0, 1.0);
        }}
    }}
    let old{k} = h.atomic_add((i + {k}) % 16, 1);
    tile[lid] = if old{k} > 3 {{ acc{k} }} else {{ -acc{k} }};
    y[i] += tile[lid];
"
        );
    }
    s.push_str("}\n");
    s
}

/// CPU time (user + system, all threads) of this process, from
/// `/proc/self/stat`, when available: wall-clock figures on a loaded
/// machine overstate the cost.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn bench(c: &mut Criterion) {
    let src = generated_source(76);
    let lines = src.lines().count();
    let module = vyre::lang::parse("big.vyre", &src).unwrap_or_else(|d| panic!("{}", d.render()));
    let program = &module.kernels[0];
    println!(
        "generated file: {lines} lines, {} bytes; kernel: {} locals, {} top-level statements",
        src.len(),
        program.locals.len(),
        program.body.len()
    );
    if let Some(t0) = cpu_seconds() {
        let n = 50;
        let w = std::time::Instant::now();
        for _ in 0..n {
            let _ = black_box(vyre::lang::parse("big.vyre", black_box(&src)));
        }
        let wall = w.elapsed().as_secs_f64() / f64::from(n);
        if let Some(t1) = cpu_seconds() {
            println!(
                "parse+validate {lines} lines: {:.2} ms CPU time per call ({:.2} ms wall), mean of {n}",
                (t1 - t0) * 1e3 / f64::from(n),
                wall * 1e3
            );
        }
    }
    let mut g = c.benchmark_group("lang");
    g.bench_function(format!("parse+validate {lines} lines"), |b| {
        b.iter(|| vyre::lang::parse("big.vyre", black_box(&src)).map(|m| m.kernels.len()))
    });
    g.bench_function("validate only", |b| {
        b.iter(|| black_box(program).validate().is_ok())
    });
    g.bench_function("to_wire", |b| {
        b.iter(|| vyre::ir::wire::to_wire(black_box(program)).len())
    });
    g.bench_function("print", |b| {
        b.iter(|| vyre::lang::print(black_box(program)).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
