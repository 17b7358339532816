//! Cold-build benchmark: `compile()` of N generated kernels (default 100)
//! for each available target, plus the cached (no-op) rerun.
//!
//! ```sh
//! cargo run --release -p vyre-build --example bench_compile -- [N]
//! ```

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// A small but non-trivial kernel: a loop, a branch, math and a store.
fn kernel_source(i: usize) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "/// Generated kernel {i}.\n#[kernel(workgroup_size = 128)]\npub fn k{i}(a: f32, n: u32, x: &[f32], y: &mut [f32]) {{\n    let g = global_id().x;\n    if g < y.len() {{\n        let mut acc = 0.0;\n        for j in 0..n {{\n            acc = acc + x[(g + j) % x.len()] * a;\n        }}\n        y[g] = acc.max({i}.0) + y[g].sqrt();\n    }}\n}}\n"
    );
    s
}

fn run(dir: &Path, out: &Path, targets: &[&str]) -> Result<(f64, f64, usize), vyre_build::Error> {
    let builder = vyre_build::Builder::new()
        .targets(targets.iter().copied())
        .out_dir(out)
        .manifest_dir(dir)
        .read_metadata(false)
        .emit_rerun_lines(false)
        .stub(false);
    let t = Instant::now();
    let first = builder.compile("kernels")?;
    let cold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = builder.compile("kernels")?;
    let warm = t.elapsed().as_secs_f64();
    assert!(again.emitted.is_empty());
    Ok((cold, warm, first.emitted.len()))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let root = std::env::temp_dir().join(format!("vyre-bench-compile-{}", std::process::id()));
    let kernels = root.join("kernels");
    std::fs::create_dir_all(&kernels).expect("temp dir");
    for i in 0..n {
        std::fs::write(kernels.join(format!("k{i:03}.vyre")), kernel_source(i))
            .expect("write kernel");
    }
    let t = Instant::now();
    for i in 0..n {
        let src = kernel_source(i);
        vyre::lang::parse("k.vyre", &src).expect("generated kernels parse");
    }
    println!(
        "parse only: {:.1} ms ({:.2} ms per kernel)",
        t.elapsed().as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let registered: Vec<&str> = vyre::driver::registered_launcher_codegens()
        .iter()
        .map(|c| c.target)
        .collect();
    println!("{n} kernels; registered targets: {registered:?}");
    println!("| targets | blobs | cold compile() | per kernel-target | cached rerun |");
    println!("|---|---|---|---|---|");
    let mut sets: Vec<Vec<&str>> = registered.iter().map(|t| vec![*t]).collect();
    sets.push(registered.clone());
    for set in sets {
        let out = root.join(format!("out-{}", set.join("-")));
        match run(&root, &out, &set) {
            Ok((cold, warm, blobs)) => println!(
                "| {} | {blobs} | {:.1} ms | {:.2} ms | {:.1} ms |",
                set.join(", "),
                cold * 1e3,
                cold * 1e3 / blobs.max(1) as f64,
                warm * 1e3
            ),
            Err(e) => println!("| {} | - | error: {} | | |", set.join(", "), e.summary()),
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
