//! The generator's contract: valid programs, deterministic per seed,
//! replayable from draws, and covering the whole IR.

use std::collections::BTreeSet;

use vyre::ir::{AtomicResult, Expr, Node, walk_nodes};
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
