//! Shrinking a failing case: over its draws, then statement by statement.

use crate::generator::{Case, GenConfig};

/// Shrink a failing case: edit its draws (delete spans, lower values;
/// Hypothesis-style) while `fails` still holds, within `budget` trials.
/// Every candidate is a valid program by construction.
pub fn shrink(
    case: &Case,
    cfg: &GenConfig,
    budget: usize,
    mut fails: impl FnMut(&Case) -> bool,
) -> Case {
    let mut best = case.clone();
    let mut trials = 0usize;
    let mut attempt = |draws: Vec<u32>, best: &mut Case, trials: &mut usize| -> bool {
        if *trials >= budget {
            return false;
        }
        *trials += 1;
        let c = Case::from_draws(&draws, cfg);
        let changed = c.program != best.program || c.inputs != best.inputs || c.grid != best.grid;
        if changed && fails(&c) {
            *best = c;
            return true;
        }
        false
    };
    loop {
        let mut improved = false;
        for size in [64usize, 16, 4, 1] {
            let mut i = 0;
            while i < best.draws.len() && trials < budget {
                let mut d = best.draws.clone();
                d.drain(i..(i + size).min(d.len()));
                if attempt(d, &mut best, &mut trials) {
                    improved = true;
                } else {
                    i += size;
                }
            }
        }
        let mut i = 0;
        while i < best.draws.len() && trials < budget {
            let v = best.draws[i];
            for smaller in [0, v / 2, v.saturating_sub(1)] {
                if smaller < v {
                    let mut d = best.draws.clone();
                    d[i] = smaller;
                    if attempt(d, &mut best, &mut trials) {
                        improved = true;
                        break;
                    }
                }
            }
            i += 1;
        }
        if !improved || trials >= budget {
            return best;
        }
    }
}

/// Number of statements of a body, nested ones included.
#[must_use]
pub fn count_nodes(body: &[vyre::ir::Node]) -> usize {
    let mut n = 0;
    vyre::ir::walk_nodes(body, &mut |_| n += 1);
    n
}

/// The body without its `k`-th statement (depth-first order, as in
/// [`vyre::ir::walk_nodes`]).
fn without_node(body: &[vyre::ir::Node], k: &mut usize) -> Vec<vyre::ir::Node> {
    use vyre::ir::Node;
    let mut out = Vec::new();
    for node in body {
        if *k == 0 {
            *k = usize::MAX;
            continue;
        }
        if *k != usize::MAX {
            *k -= 1;
        }
        out.push(match node {
            Node::If {
                cond,
                then,
                otherwise,
            } => Node::If {
                cond: cond.clone(),
                then: without_node(then, k),
                otherwise: without_node(otherwise, k),
            },
            Node::While { cond, body } => Node::While {
                cond: cond.clone(),
                body: without_node(body, k),
            },
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => Node::For {
                var: *var,
                start: start.clone(),
                end: end.clone(),
                step: *step,
                unroll: *unroll,
                body: without_node(body, k),
            },
            Node::Loop { body } => Node::Loop {
                body: without_node(body, k),
            },
            Node::Unsafe { body } => Node::Unsafe {
                body: without_node(body, k),
            },
            other => other.clone(),
        });
    }
    out
}

/// Structural shrinking after [`shrink`]: delete statements one at a time
/// (keeping only deletions that leave a valid program that still `fails`),
/// until no single deletion works or `budget` trials are spent. Barriers
/// and the prologue are kept, so shared memory stays initialised and
/// race-free. Loops keep terminating: deleting a counter's increment is
/// rejected by the step limit of the reference (the predicate sees a
/// reference error, a different outcome).
pub fn reduce_statements(case: &Case, budget: usize, mut fails: impl FnMut(&Case) -> bool) -> Case {
    let mut best = case.clone();
    let mut trials = 0;
    // Keep the generator's determinism invariants: the prologue (the
    // statements before the first top-level barrier: ids and shared-memory
    // initialisation) and every barrier stay.
    let prologue = best
        .program
        .body
        .iter()
        .position(|n| matches!(n, vyre::ir::Node::Barrier))
        .unwrap_or(2)
        .min(best.program.body.len());
    let mut k = count_nodes(&best.program.body[..prologue]);
    while k < count_nodes(&best.program.body) && trials < budget {
        let mut probe = 0;
        let mut target = None;
        vyre::ir::walk_nodes(&best.program.body, &mut |n| {
            if probe == k {
                target = Some(matches!(n, vyre::ir::Node::Barrier));
            }
            probe += 1;
        });
        if target == Some(true) {
            k += 1;
            continue;
        }
        let mut idx = k;
        let mut c = best.clone();
        c.program.body = without_node(&best.program.body, &mut idx);
        trials += 1;
        if c.program.validate().is_ok() && fails(&c) {
            best = c;
        } else {
            k += 1;
        }
    }
    best
}
