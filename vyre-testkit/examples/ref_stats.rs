//! How much generated programs actually do on the reference: fraction of
//! cases whose outputs change, elements changed, and run time.
use vyre_testkit::{GenConfig, Value, generate, run_reference};

fn main() {
    let cfg = GenConfig::default();
    let n = 1000u64;
    let (mut changed_cases, mut changed_elems, mut total_elems) = (0, 0usize, 0usize);
    let t = std::time::Instant::now();
    for seed in 0..n {
        let c = generate(seed, &cfg);
        let out = run_reference(&c).expect("reference");
        let mut any = false;
        for (o, v) in out.iter().zip(&c.inputs) {
            if let (Some(o), Value::Buffer { data, .. }) = (o, v) {
                let d = o.iter().zip(data).filter(|(a, b)| a != b).count();
                changed_elems += d;
                total_elems += o.len();
                any |= d > 0;
            }
        }
        changed_cases += usize::from(any);
    }
    println!(
        "{n} cases in {:?}: {changed_cases} change some output; {changed_elems}/{total_elems} elements changed",
        t.elapsed()
    );
}
