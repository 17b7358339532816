//! Minimal reproducer hunt for reference nondeterminism.
use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre_testkit::Value;
use vyre_testkit::{GenConfig, generate, run_reference};

fn run_t(c: &vyre_testkit::Case, threads: usize) -> Vec<Option<Vec<u32>>> {
    let mut bufs: Vec<Option<Vec<u32>>> = c
        .inputs
        .iter()
        .map(|v| match v {
            Value::Buffer { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect();
    let mut args: Vec<RefArg<'_>> = bufs
        .iter_mut()
        .zip(&c.inputs)
        .map(|(b, v)| match (b, v) {
            (Some(d), _) => RefArg::Buffer(d),
            (None, Value::Scalar(l)) => RefArg::Scalar(*l),
            _ => unreachable!(),
        })
        .collect();
    run_with(
        &c.program,
        c.grid,
        &mut args,
        &RunOptions {
            max_steps_per_invocation: None,
            threads: Some(threads),
        },
    )
    .expect("run");
    drop(args);
    bufs
}

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1663);
    let c = generate(seed, &GenConfig::default());
    let single = run_t(&c, 1);
    let mut diff1 = 0;
    for _ in 0..300 {
        if run_t(&c, 1) != single {
            diff1 += 1;
        }
    }
    let mut diffm = 0;
    for _ in 0..300 {
        if run_reference(&c).expect("r") != single {
            diffm += 1;
        }
    }
    let mut diff2 = 0;
    for _ in 0..300 {
        if run_t(&c, 2) != single {
            diff2 += 1;
        }
    }
    println!(
        "single-thread runs differing from first: {diff1}/300; default pool: {diffm}/300; 2 threads: {diff2}/300"
    );
}
