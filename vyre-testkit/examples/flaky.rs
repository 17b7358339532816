//! Find seeds whose reference results vary between runs (races).
use vyre_testkit::{GenConfig, generate, run_reference};

fn main() {
    let cfg = GenConfig::default();
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let (from, to) = (
        args.first().copied().unwrap_or(0),
        args.get(1).copied().unwrap_or(2000),
    );
    let tries = args.get(2).copied().unwrap_or(5);
    for seed in from..to {
        let c = generate(seed, &cfg);
        let a = run_reference(&c);
        for _ in 0..tries {
            let b = run_reference(&c);
            if a != b {
                match (&a, &b) {
                    (Ok(x), Ok(y)) => {
                        for (i, (p, q)) in x.iter().zip(y).enumerate() {
                            if p != q {
                                let (p, q) = (p.as_ref().unwrap(), q.as_ref().unwrap());
                                let k = p.iter().zip(q).position(|(u, v)| u != v).unwrap();
                                println!(
                                    "seed {seed}: {}[{k}] {} vs {}",
                                    c.program.params[i].name(),
                                    p[k],
                                    q[k]
                                );
                            }
                        }
                    }
                    _ => println!("seed {seed}: {a:?} vs {b:?}"),
                }
                break;
            }
        }
    }
}
