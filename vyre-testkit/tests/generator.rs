//! The generator's contract: valid programs, deterministic per seed,
//! replayable from draws, and covering the whole IR.

use std::collections::BTreeSet;

use vyre::ir::{AtomicResult, BufRef, Expr, LocalId, Node, SubgroupOp, walk_nodes};
use vyre_testkit::harness::run_reference;
use vyre_testkit::{Case, GenConfig, Value, generate};

fn seeds() -> u64 {
    std::env::var("VYRE_GEN_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn thousands_of_seeds_validate() {
    let cfg = GenConfig::default();
    for seed in 0..seeds() {
        let case = generate(seed, &cfg);
        if let Err(errors) = case.program.validate() {
            panic!(
                "seed {seed}: invalid program: {errors:#?}\n{:#?}",
                case.program
            );
        }
        assert_eq!(case.inputs.len(), case.program.params.len(), "seed {seed}");
        assert_eq!(case.checks.len(), case.program.params.len(), "seed {seed}");
        assert!(case.grid.iter().all(|&g| g >= 1), "seed {seed}");
    }
}

#[test]
fn deterministic_and_replayable() {
    let cfg = GenConfig::default();
    for seed in [0, 1, 42, 9999, u64::MAX] {
        let a = generate(seed, &cfg);
        assert_eq!(a, generate(seed, &cfg));
        let b = Case::from_draws(&a.draws, &cfg);
        assert_eq!(a.program, b.program, "seed {seed}");
        assert_eq!(a.inputs, b.inputs, "seed {seed}");
    }
}

#[test]
fn truncated_and_edited_draws_stay_valid() {
    let cfg = GenConfig::default();
    for seed in 0..300u64 {
        let a = generate(seed, &cfg);
        for cut in [0, 1, a.draws.len() / 3, a.draws.len() / 2] {
            let mut d = a.draws[..cut].to_vec();
            for (i, x) in d.iter_mut().enumerate() {
                if i % 3 == 0 {
                    *x /= 2;
                }
            }
            let c = Case::from_draws(&d, &cfg);
            assert!(c.program.validate().is_ok(), "seed {seed} cut {cut}");
        }
    }
    // No draws at all: the simplest program.
    let empty = Case::from_draws(&[], &cfg);
    assert!(empty.program.validate().is_ok());
    assert!(empty.program.body.len() <= 2, "{:#?}", empty.program.body);
}

fn expr_kinds(e: &Expr, out: &mut BTreeSet<String>) {
    let name = match e {
        Expr::Lit(_) => "lit".to_string(),
        Expr::Local(_) => "local".to_string(),
        Expr::Param(_) => "param".to_string(),
        Expr::Builtin(b, a) => format!("builtin:{}.{a:?}", b.name()),
        Expr::Len(_) => "len".to_string(),
        Expr::Subgroup(op, args) => {
            args.iter().for_each(|a| expr_kinds(a, out));
            format!("subgroup:{}", op.name())
        }
        Expr::Load { buf, index } => {
            expr_kinds(index, out);
            format!("load:{buf:?}")
                .split('(')
                .next()
                .unwrap_or("")
                .to_string()
        }
        Expr::Unary(op, a) => {
            expr_kinds(a, out);
            format!("unary:{op:?}")
        }
        Expr::Binary(op, a, b) => {
            expr_kinds(a, out);
            expr_kinds(b, out);
            format!("binary:{op:?}")
        }
        Expr::Cast(t, a) => {
            expr_kinds(a, out);
            format!("cast:{t}")
        }
        Expr::Math(f, args) => {
            args.iter().for_each(|a| expr_kinds(a, out));
            format!("math:{}", f.name())
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            expr_kinds(cond, out);
            expr_kinds(then, out);
            expr_kinds(otherwise, out);
            "select".to_string()
        }
    };
    out.insert(name);
}

#[test]
fn covers_the_whole_ir() {
    let cfg = GenConfig::default();
    let mut seen = BTreeSet::new();
    for seed in 0..2000u64 {
        let case = generate(seed, &cfg);
        let p = &case.program;
        if !p.shared.is_empty() {
            seen.insert("decl:shared".to_string());
        }
        if !p.private.is_empty() {
            seen.insert("decl:private".to_string());
        }
        if p.workgroup_size[1] > 1 || p.workgroup_size[2] > 1 {
            seen.insert("decl:2d-workgroup".to_string());
        }
        if case.grid[1] > 1 || case.grid[2] > 1 {
            seen.insert("decl:2d-grid".to_string());
        }
        for v in &case.inputs {
            if let Value::Scalar(l) = v {
                seen.insert(format!("scalar:{}", l.ty()));
            }
        }
        walk_nodes(&p.body, &mut |n| {
            let kind = match n {
                Node::Atomic {
                    op,
                    buf,
                    index,
                    expected,
                    value,
                    result,
                } => {
                    expr_kinds(index, &mut seen);
                    expr_kinds(value, &mut seen);
                    if let Some(x) = expected {
                        expr_kinds(x, &mut seen);
                    }
                    let place = if matches!(buf, vyre::ir::BufRef::Shared(_)) {
                        "shared"
                    } else {
                        "global"
                    };
                    seen.insert(format!("atomic:{}:{place}", op.name()));
                    if let Some(t) = p.elem_type(*buf) {
                        seen.insert(format!("atomic-elem:{}:{t}", op.name()));
                    }
                    let result = match result {
                        AtomicResult::Discard => "Discard",
                        AtomicResult::Let(_) => "Let",
                        AtomicResult::Assign(_) => "Assign",
                    };
                    format!("Atomic:{result}")
                }
                Node::Let { value, .. } | Node::Assign { value, .. } => {
                    expr_kinds(value, &mut seen);
                    format!("{n:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("")
                        .to_string()
                }
                Node::Store { index, value, .. } => {
                    expr_kinds(index, &mut seen);
                    expr_kinds(value, &mut seen);
                    "Store".to_string()
                }
                Node::If { cond, .. } | Node::While { cond, .. } => {
                    expr_kinds(cond, &mut seen);
                    format!("{n:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("")
                        .to_string()
                }
                Node::For { start, end, .. } => {
                    expr_kinds(start, &mut seen);
                    expr_kinds(end, &mut seen);
                    "For".to_string()
                }
                other => format!("{other:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            seen.insert(format!("node:{kind}"));
        });
    }
    let mut want: Vec<String> = [
        "node:Let",
        "node:Assign",
        "node:Store",
        "node:Atomic:Discard",
        "node:Atomic:Let",
        "node:Atomic:Assign",
        "node:If",
        "node:While",
        "node:For",
        "node:Loop",
        "node:Unsafe",
        "node:Break",
        "node:Continue",
        "node:Return",
        "node:Barrier",
        "select",
        "len",
        "param",
        "local",
        "lit",
        "decl:shared",
        "decl:private",
        "load:Param",
        "load:Shared",
        "load:Private",
        "decl:2d-workgroup",
        "decl:2d-grid",
        "scalar:bool",
        "scalar:f32",
        "scalar:i32",
        "scalar:u32",
        "cast:f32",
        "cast:i32",
        "cast:u32",
        "cast:bool",
        "unary:Neg",
        "unary:Not",
        "atomic-elem:atomic_add:f32",
        "atomic-elem:atomic_add:u32",
        "atomic-elem:atomic_add:i32",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    for op in vyre::ir::AtomicOp::ALL {
        want.push(format!("atomic:{}:global", op.name()));
        want.push(format!("atomic:{}:shared", op.name()));
    }
    for f in vyre::ir::MathFn::ALL {
        want.push(format!("math:{}", f.name()));
    }
    for op in vyre::ir::SubgroupOp::ALL {
        want.push(format!("subgroup:{}", op.name()));
    }
    for op in [
        "Add", "Sub", "Mul", "Div", "Rem", "BitAnd", "BitOr", "BitXor", "Shl", "Shr", "Eq", "Ne",
        "Lt", "Le", "Gt", "Ge", "And", "Or",
    ] {
        want.push(format!("binary:{op}"));
    }
    for b in ["global_id", "local_id", "workgroup_id", "num_workgroups"] {
        for a in ["X", "Y", "Z"] {
            want.push(format!("builtin:{b}.{a}"));
        }
    }
    let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "never generated: {missing:?}\nseen: {seen:?}"
    );
}

/// Whether `e` is a constant once the loops whose variables are `consts`
/// are unrolled: literals and those variables only.
fn constant_after_unrolling(e: &Expr, consts: &[LocalId]) -> bool {
    match e {
        Expr::Lit(_) => true,
        Expr::Local(l) => consts.contains(l),
        Expr::Unary(_, a) | Expr::Cast(_, a) => constant_after_unrolling(a, consts),
        Expr::Binary(_, a, b) => {
            constant_after_unrolling(a, consts) && constant_after_unrolling(b, consts)
        }
        _ => false,
    }
}

/// The private-array accesses (loads and stores) of `e`, as their indices.
fn private_loads<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Load { buf, index } => {
            if matches!(buf, BufRef::Private(_)) {
                out.push(index);
            }
            private_loads(index, out);
        }
        Expr::Unary(_, a) | Expr::Cast(_, a) => private_loads(a, out),
        Expr::Binary(_, a, b) => {
            private_loads(a, out);
            private_loads(b, out);
        }
        Expr::Math(_, args) => args.iter().for_each(|a| private_loads(a, out)),
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            private_loads(cond, out);
            private_loads(then, out);
            private_loads(otherwise, out);
        }
        _ => {}
    }
}

/// Private accesses inside `#[unroll]` loops whose index is constant once
/// unrolled, counted over `body` (`consts`: variables of the enclosing
/// unrolled loops).
fn constant_private_in_unrolled(body: &[Node], consts: &mut Vec<LocalId>) -> usize {
    let mut n = 0;
    for node in body {
        let mut idx: Vec<&Expr> = Vec::new();
        let mut exprs: Vec<&Expr> = Vec::new();
        match node {
            Node::Let { value, .. } | Node::Assign { value, .. } => exprs.push(value),
            Node::Store { buf, index, value } => {
                if matches!(buf, BufRef::Private(_)) {
                    idx.push(index);
                }
                exprs.extend([index, value]);
            }
            Node::Atomic {
                index,
                expected,
                value,
                ..
            } => {
                exprs.extend([index, value]);
                exprs.extend(expected);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                exprs.push(cond);
                n += constant_private_in_unrolled(then, consts);
                n += constant_private_in_unrolled(otherwise, consts);
            }
            Node::While { cond, body } => {
                exprs.push(cond);
                n += constant_private_in_unrolled(body, consts);
            }
            Node::Loop { body } => n += constant_private_in_unrolled(body, consts),
            Node::For {
                var,
                start,
                end,
                unroll,
                body,
                ..
            } => {
                exprs.extend([start, end]);
                if *unroll {
                    consts.push(*var);
                    n += constant_private_in_unrolled(body, consts);
                    consts.pop();
                } else {
                    n += constant_private_in_unrolled(body, consts);
                }
            }
            _ => {}
        }
        for e in exprs {
            private_loads(e, &mut idx);
        }
        if !consts.is_empty() {
            n += idx
                .iter()
                .filter(|i| constant_after_unrolling(i, consts))
                .count();
        }
    }
    n
}

#[test]
fn new_constructs_appear_often() {
    let cfg = GenConfig::default();
    let seeds = seeds();
    let (mut private, mut strided, mut unrolled, mut unrolled_barrier) = (0u64, 0u64, 0u64, 0u64);
    let (mut const_in_unrolled, mut overflow_end, mut scalarised, mut runtime_kept) =
        (0u64, 0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let p = generate(seed, &cfg).program;
        private += u64::from(!p.private.is_empty());
        let (mut st, mut un, mut ub, mut ov) = (false, false, false, false);
        walk_nodes(&p.body, &mut |n| {
            if let Node::For {
                end,
                step,
                unroll,
                body,
                ..
            } = n
            {
                st |= *step > 1;
                un |= *unroll;
                ub |= *unroll && body.iter().any(|b| matches!(b, Node::Barrier));
                ov |= matches!(
                    end,
                    Expr::Lit(
                        vyre::ir::Literal::U32(0xFFFF_FFFF | 0xFFFF_FFFE)
                            | vyre::ir::Literal::I32(0x7FFF_FFFF | 0x7FFF_FFFE)
                    )
                );
            }
        });
        strided += u64::from(st);
        unrolled += u64::from(un);
        unrolled_barrier += u64::from(ub);
        overflow_end += u64::from(ov);
        const_in_unrolled += u64::from(constant_private_in_unrolled(&p.body, &mut Vec::new()) > 0);
        let prepared = vyre::mid::prepare(&p);
        scalarised += u64::from(prepared.private.len() < p.private.len());
        runtime_kept += u64::from(!prepared.private.is_empty());
    }
    let pct = |n: u64| n * 100 / seeds.max(1);
    println!(
        "of {seeds} programs: private arrays {}%, step > 1 {}%, unroll {}%, unrolled barrier loop \
         {}%, constant private index in an unrolled loop {}%, overflow-ending loop {}%, \
         an array scalarised by prepare {}%, an array kept (run-time index) {}%",
        pct(private),
        pct(strided),
        pct(unrolled),
        pct(unrolled_barrier),
        pct(const_in_unrolled),
        pct(overflow_end),
        pct(scalarised),
        pct(runtime_kept),
    );
    assert!(pct(private) >= 40, "private arrays: {}%", pct(private));
    assert!(pct(strided) >= 15, "step > 1: {}%", pct(strided));
    assert!(pct(unrolled) >= 15, "unroll: {}%", pct(unrolled));
    assert!(
        pct(unrolled_barrier) >= 3,
        "unrolled barrier loops: {}%",
        pct(unrolled_barrier)
    );
    assert!(
        pct(const_in_unrolled) >= 5,
        "constant private index in an unrolled loop: {}%",
        pct(const_in_unrolled)
    );
    assert!(
        pct(overflow_end) >= 3,
        "overflow-ending loops: {}%",
        pct(overflow_end)
    );
    assert!(pct(scalarised) >= 5, "scalarised: {}%", pct(scalarised));
    assert!(
        pct(runtime_kept) >= 10,
        "kept arrays: {}%",
        pct(runtime_kept)
    );
}

#[test]
fn knobs_off_leave_the_new_constructs_out() {
    let cfg = GenConfig {
        private_arrays: false,
        strided_loops: false,
        unrolled_loops: false,
        ..GenConfig::default()
    };
    for seed in 0..500u64 {
        let p = generate(seed, &cfg).program;
        assert!(p.validate().is_ok(), "seed {seed}");
        assert!(p.private.is_empty(), "seed {seed}");
        walk_nodes(&p.body, &mut |n| {
            if let Node::For { step, unroll, .. } = n {
                assert_eq!((*step, *unroll), (1, false), "seed {seed}");
            }
        });
    }
}

/// `vyre::mid::prepare` (unrolling, folding, scalarising private arrays)
/// changes no result: on the reference interpreter, which runs programs as
/// written, the prepared program gives bit-identical buffers.
#[test]
fn prepare_gives_identical_results_on_the_reference() {
    let seeds = std::env::var("VYRE_PREPARE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500u64);
    // The default, and longer loops nested deeper (more copies, more
    // indices folded per unrolled loop), on a third of the seeds.
    let long = GenConfig {
        max_trip: 6,
        max_depth: 4,
        max_total_stmts: 60,
        ..GenConfig::default()
    };
    let default = GenConfig::default();
    // And the narrow types (which `prepare` widens first), on a third as
    // many seeds again.
    let narrow = GenConfig {
        narrow: true,
        ..GenConfig::default()
    };
    let mut rewritten = 0u64;
    let runs = (0..seeds)
        .map(|seed| (seed, if seed % 3 == 2 { &long } else { &default }))
        .chain((0..seeds / 3).map(|seed| (seed, &narrow)));
    for (seed, cfg) in runs {
        let case = generate(seed, cfg);
        let prepared = vyre::mid::prepare(&case.program);
        let std::borrow::Cow::Owned(prepared) = prepared else {
            continue;
        };
        rewritten += 1;
        if let Err(errors) = prepared.validate() {
            panic!("seed {seed}: prepare gave an invalid program: {errors:#?}\n{prepared:#?}");
        }
        let want = run_reference(&case)
            .unwrap_or_else(|e| panic!("seed {seed}: reference run failed: {e}"));
        // A widened program takes a narrow scalar's widened value.
        let inputs = case
            .inputs
            .iter()
            .zip(&prepared.params)
            .map(|(v, p)| match (v, p) {
                (Value::Scalar(l), vyre::ir::Param::Scalar { ty, .. }) if l.ty() != *ty => {
                    Value::Scalar(l.widened())
                }
                _ => v.clone(),
            })
            .collect();
        let got = run_reference(&Case {
            program: prepared,
            inputs,
            ..case.clone()
        })
        .unwrap_or_else(|e| panic!("seed {seed}: prepared program failed: {e}"));
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(
                w, g,
                "seed {seed} (narrow: {}): parameter {i} differs after prepare\n{:#?}",
                cfg.narrow, case.program
            );
        }
    }
    assert!(
        rewritten * 2 >= seeds + seeds / 3,
        "prepare rewrote only {rewritten} of {} programs",
        seeds + seeds / 3
    );
}

/// Calls `f` on every subgroup operation in `e`.
fn subgroup_ops(e: &Expr, f: &mut impl FnMut(SubgroupOp, &[Expr])) {
    match e {
        Expr::Subgroup(op, args) => {
            f(*op, args);
            args.iter().for_each(|a| subgroup_ops(a, f));
        }
        Expr::Load { index, .. } => subgroup_ops(index, f),
        Expr::Unary(_, a) | Expr::Cast(_, a) => subgroup_ops(a, f),
        Expr::Binary(_, a, b) => {
            subgroup_ops(a, f);
            subgroup_ops(b, f);
        }
        Expr::Math(_, args) => args.iter().for_each(|a| subgroup_ops(a, f)),
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            subgroup_ops(cond, f);
            subgroup_ops(then, f);
            subgroup_ops(otherwise, f);
        }
        Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
    }
}

/// Per operation, the share of programs using it; and the shares of
/// programs with a shuffle naming a literal lane at or past 32, with a
/// collective in a workgroup whose size leaves a partial subgroup of 8 and
/// of 32 lanes, and with an `f32` sum.
#[test]
fn subgroup_operations_appear_often() {
    let cfg = GenConfig::default();
    let n = 2000u64;
    let mut per_op = vec![0u64; SubgroupOp::ALL.len()];
    let (mut any, mut far_lane, mut partial8, mut partial32, mut float_sum) = (0, 0, 0, 0, 0);
    for seed in 0..n {
        let case = generate(seed, &cfg);
        let p = &case.program;
        let mut ops = BTreeSet::new();
        let mut far = false;
        let mut fsum = false;
        walk_nodes(&p.body, &mut |node| {
            for e in node.exprs() {
                subgroup_ops(e, &mut |op, args| {
                    ops.insert(SubgroupOp::ALL.iter().position(|o| *o == op).unwrap());
                    if op.is_shuffle()
                        && let Some(Expr::Lit(vyre::ir::Literal::U32(l))) = args.get(1)
                        && *l >= 32
                    {
                        far = true;
                    }
                    if op == SubgroupOp::Add
                        && matches!(
                            args.first(),
                            Some(Expr::Math(
                                vyre::ir::MathFn::Floor | vyre::ir::MathFn::Ceil,
                                _
                            ))
                        )
                    {
                        fsum = true;
                    }
                });
            }
        });
        assert_eq!(!ops.is_empty(), p.uses_subgroups(), "seed {seed}");
        for &k in &ops {
            per_op[k] += 1;
        }
        let collective = ops.iter().any(|&k| SubgroupOp::ALL[k].is_collective());
        let inv = p.invocations_per_workgroup();
        any += u64::from(!ops.is_empty());
        far_lane += u64::from(far);
        partial8 += u64::from(collective && !inv.is_multiple_of(8));
        partial32 += u64::from(collective && !inv.is_multiple_of(32) && inv > 32);
        float_sum += u64::from(fsum);
    }
    let pct = |x: u64| x * 100 / n;
    println!(
        "subgroups: {}% of programs; far lanes {}%, partial of 8 {}%, partial of 32 (above 32) {}%, f32 sums {}%",
        pct(any),
        pct(far_lane),
        pct(partial8),
        pct(partial32),
        pct(float_sum)
    );
    for (op, &c) in SubgroupOp::ALL.iter().zip(&per_op) {
        println!("  {}: {}%", op.name(), pct(c));
        assert!(pct(c) >= 5, "{}: in {}% of programs", op.name(), pct(c));
    }
    assert!(pct(any) >= 50, "subgroup operations in {}%", pct(any));
    assert!(pct(far_lane) >= 10, "far shuffle lanes: {}%", pct(far_lane));
    assert!(
        pct(partial8) >= 10,
        "partial subgroups of 8: {}%",
        pct(partial8)
    );
    assert!(
        pct(partial32) >= 3,
        "partial subgroups of 32: {}%",
        pct(partial32)
    );
    assert!(pct(float_sum) >= 3, "f32 sums: {}%", pct(float_sum));
}

/// Collective operations only where the validator allows them: this is
/// what `thousands_of_seeds_validate` checks too, here on more seeds
/// with deeper nesting and with `return` in the final block (the
/// generator must stop after a divergent one).
#[test]
fn collectives_validate_with_deep_nesting() {
    let cfg = GenConfig {
        max_depth: 4,
        max_total_stmts: 60,
        max_segments: 3,
        ..GenConfig::default()
    };
    let mut with = 0u64;
    for seed in 0..1500u64 {
        let p = generate(seed, &cfg).program;
        if let Err(errors) = p.validate() {
            panic!("seed {seed}: invalid program: {errors:#?}\n{p:#?}");
        }
        with += u64::from(p.uses_subgroups());
    }
    assert!(with >= 750, "{with} programs of 1500 with subgroups");
}

#[test]
fn subgroups_off_leaves_them_out() {
    let cfg = GenConfig {
        subgroups: false,
        ..GenConfig::default()
    };
    for seed in 0..1000u64 {
        let p = generate(seed, &cfg).program;
        assert!(p.validate().is_ok(), "seed {seed}");
        assert!(!p.uses_subgroups(), "seed {seed}");
    }
}
