//! Classify emitter rejections of generated (valid) programs by target and
//! message (for bug reports against the emitters).
use std::collections::BTreeMap;

use vyre::DispatchConfig;
use vyre::driver::{UNAVAILABLE_PREFIX, registered_aot_emitters};
use vyre_testkit::fuzz::SKIPPED_TARGETS;
use vyre_testkit::{GenConfig, generate};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut classes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut ok = BTreeMap::<&str, u64>::new();
    for seed in 0..n {
        let p = generate(seed, &GenConfig::default()).program;
        for e in registered_aot_emitters() {
            if SKIPPED_TARGETS.contains(&e.target) {
                continue;
            }
            match (e.emit)(&p, &DispatchConfig::default()) {
                Ok(_) => *ok.entry(e.target).or_default() += 1,
                Err(m) if m.starts_with(UNAVAILABLE_PREFIX) => {}
                Err(m) => {
                    let m: String = m
                        .chars()
                        .filter(|c| !c.is_ascii_digit())
                        .take(160)
                        .collect();
                    classes
                        .entry(format!("{}: {m}", e.target))
                        .or_default()
                        .push(seed);
                }
            }
        }
    }
    println!("accepted per target: {ok:?}");
    for (k, v) in &classes {
        println!("{} seeds (e.g. {:?}): {k}", v.len(), &v[..v.len().min(3)]);
    }
}
