//! Reduce a seed whose reference results vary between runs.
use vyre_testkit::harness::reduce_statements;
use vyre_testkit::{Case, GenConfig, generate, run_reference};

fn flaky(c: &Case, tries: usize) -> bool {
    let Ok(a) = run_reference(c) else {
        return false;
    };
    (0..tries).any(|_| run_reference(c).ok().as_ref() != Some(&a))
}

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1663);
    let c = generate(seed, &GenConfig::default());
    let small = reduce_statements(&c, 2000, |x| flaky(x, 100));
    println!(
        "{:?}\n{:?}\ngrid {:?}",
        small.program, small.inputs, small.grid
    );
}
