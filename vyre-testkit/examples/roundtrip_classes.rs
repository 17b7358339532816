//! Classify `parse(print(p))` failures over generated programs by their
//! first diagnostic (for bug reports against the printer/parser).
use std::collections::BTreeMap;

use vyre_testkit::{GenConfig, generate};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut classes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for seed in 0..n {
        let p = generate(seed, &GenConfig::default()).program;
        let text = vyre::lang::print(&p);
        let key = match vyre::lang::parse("g.vyre", &text) {
            Ok(m) if m.kernels.len() == 1 && m.kernels[0] == p => continue,
            Ok(_) => "parses to a different program".to_string(),
            Err(d) => d.diagnostics.first().map_or("?".into(), |x| {
                let line = text.lines().nth(x.line - 1).unwrap_or("");
                let lo = x.column.saturating_sub(40);
                format!(
                    "{} | ...{}",
                    x.message,
                    line.chars().skip(lo).take(80).collect::<String>()
                )
            }),
        };
        classes.entry(key).or_default().push(seed);
    }
    for (k, v) in &classes {
        println!("{} seeds (e.g. {:?}): {k}", v.len(), &v[..v.len().min(3)]);
    }
}
