//! Print size statistics of generated programs (and one program's IR).
use vyre::ir::walk_nodes;
use vyre_testkit::{GenConfig, generate};

fn main() {
    let cfg = GenConfig::default();
    let n = 2000u64;
    let (mut nodes, mut max_nodes, mut inv) = (0usize, 0usize, 0u64);
    for seed in 0..n {
        let c = generate(seed, &cfg);
        let mut k = 0;
        walk_nodes(&c.program.body, &mut |_| k += 1);
        nodes += k;
        max_nodes = max_nodes.max(k);
        inv += c.invocations();
    }
    println!(
        "{n} programs: {:.1} nodes avg, {max_nodes} max, {:.1} invocations avg",
        nodes as f64 / n as f64,
        inv as f64 / n as f64
    );
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    println!("{:#?}", generate(seed, &cfg).program.body);
}
