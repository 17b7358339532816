//! Race diagnosis for a generated case: run the program once per workgroup
//! W (body wrapped in `if workgroup == W`) on the reference and report
//! elements written by two workgroups (the generator promises none, outside
//! the contended `acc`), then reduce the program to the statements that
//! keep such an overlap.
//!
//! `cargo run -p vyre-testkit --example write_sets -- <seed>`

use std::collections::HashMap;

use vyre::ir::{Axis, Builtin, Expr, Node};
use vyre_testkit::harness::reduce_statements;
use vyre_testkit::{Case, GenConfig, Value, generate, run_reference};

fn overlaps(c: &Case, verbose: bool) -> bool {
    let [gx, gy, gz] = c.grid;
    let b = |bi, ax| Expr::Builtin(bi, ax);
    let wg = b(Builtin::WorkgroupId, Axis::X)
        .add(b(Builtin::WorkgroupId, Axis::Y).mul(Expr::u32(gx)))
        .add(b(Builtin::WorkgroupId, Axis::Z).mul(Expr::u32(gx * gy)));
    let mut owner: HashMap<(usize, usize), u32> = HashMap::new();
    let mut found = false;
    for w in 0..gx * gy * gz {
        let mut one = c.clone();
        one.program.body = vec![Node::If {
            cond: wg.clone().eq(Expr::u32(w)),
            then: c.program.body.clone(),
            otherwise: vec![],
        }];
        if one.program.validate().is_err() {
            return false;
        }
        let Ok(out) = run_reference(&one) else {
            return false;
        };
        for (p, (o, v)) in out.iter().zip(&c.inputs).enumerate() {
            let (Some(o), Value::Buffer { data, .. }) = (o, v) else {
                continue;
            };
            let name = c.program.params[p].name();
            if name == "acc" {
                continue;
            }
            for (i, (x, y)) in o.iter().zip(data).enumerate() {
                if x != y
                    && let Some(prev) = owner.insert((p, i), w)
                {
                    found = true;
                    if verbose {
                        println!("{name}[{i}] written by workgroups {prev} and {w} ({y} -> {x})");
                    }
                }
            }
        }
    }
    found
}

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let c = generate(seed, &GenConfig::default());
    if !overlaps(&c, true) {
        println!("seed {seed}: no element is written by two workgroups");
        return;
    }
    let small = reduce_statements(&c, 5000, |x| overlaps(x, false));
    overlaps(&small, true);
    println!(
        "{:#?}\ngrid {:?}\ninputs {:?}",
        small.program, small.grid, small.inputs
    );
}
