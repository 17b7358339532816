//! Print a generated case's shape.
use vyre_testkit::{GenConfig, generate};
fn main() {
    for s in std::env::args().skip(1) {
        let seed: u64 = s.parse().unwrap_or(0);
        let c = generate(seed, &GenConfig::default());
        if std::env::var("FULL").is_ok() {
            println!("{:?}", c.program.body);
        }
        println!(
            "seed {seed}: shared {:?} wg {:?} grid {:?} params {:?}",
            c.program
                .shared
                .iter()
                .map(|s| (&s.name, s.len))
                .collect::<Vec<_>>(),
            c.program.workgroup_size,
            c.grid,
            c.program
                .params
                .iter()
                .map(|p| p.name().to_string())
                .collect::<Vec<_>>()
        );
    }
}
