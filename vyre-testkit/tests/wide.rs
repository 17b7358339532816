//! The 64-bit types (`u64 i64 f64`) in generated programs: valid, run on
//! the reference and the CPU device, about one program in six by default
//! (the others unchanged), every role and operation covered, regression
//! files keep their values, and `f64` elements compare as `f64`s.

use std::collections::{BTreeMap, BTreeSet};

use vyre::ir::{BinOp, DataType, Expr, Literal, MathFn, Param};
use vyre_testkit::compare::{ApproxOp, op_tolerance_f64};
use vyre_testkit::harness::{
    DeviceRunOptions, DeviceTarget, case_from_header, case_header, check_target, compare,
    inexpressible, load_regression, run_reference, save_regression,
};
use vyre_testkit::{Case, Check, GenConfig, Outcome, Tolerance, Value, generate};

/// Every program uses the 64-bit types.
fn wide() -> GenConfig {
    GenConfig {
        wide_one_in: 1,
        ..GenConfig::default()
    }
}

fn seeds() -> u64 {
    std::env::var("VYRE_GEN_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn wide_cases_validate_and_run_on_the_reference() {
    let cfg = wide();
    for seed in 0..seeds() / 2 {
        let case = generate(seed, &cfg);
        if let Err(errors) = case.program.validate() {
            panic!(
                "seed {seed}: invalid program: {errors:#?}\n{}",
                vyre::lang::print(&case.program)
            );
        }
        assert!(
            !case.program.wide_types().is_empty(),
            "seed {seed}: no 64-bit type"
        );
        // Inputs hold each element's bits zero-extended; scalars have
        // their parameter's type.
        for (v, p) in case.inputs.iter().zip(&case.program.params) {
            match (v, p) {
                (Value::Buffer { elem, data }, Param::Buffer(b)) => {
                    assert_eq!(*elem, b.elem, "seed {seed}");
                    let max = u64::MAX >> (64 - elem.bits());
                    assert!(data.iter().all(|&w| w <= max), "seed {seed}: {data:x?}");
                }
                (Value::Scalar(l), Param::Scalar { ty, .. }) => assert_eq!(l.ty(), *ty),
                _ => panic!("seed {seed}: argument kinds differ"),
            }
        }
        if let Err(e) = run_reference(&case) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn wide_cases_are_deterministic_and_replayable() {
    let cfg = wide();
    for seed in [0, 1, 42, 9999, u64::MAX] {
        let a = generate(seed, &cfg);
        assert_eq!(a, generate(seed, &cfg));
        let b = Case::from_draws(&a.draws, &cfg);
        assert_eq!(a.program, b.program, "seed {seed}");
        assert_eq!(a.inputs, b.inputs, "seed {seed}");
        assert_eq!(a.checks, b.checks, "seed {seed}");
    }
}

/// By default about one program in six uses the 64-bit types; every other
/// program is, draw for draw, the one the generator made before they
/// existed (its first draw, the one that decides, left out).
#[test]
fn one_program_in_six_is_wide_and_the_others_are_unchanged() {
    let cfg = GenConfig::default();
    let before = GenConfig {
        wide_one_in: 0,
        ..GenConfig::default()
    };
    let n = seeds();
    let mut wide = 0;
    for seed in 0..n {
        let case = generate(seed, &cfg);
        if case.program.wide_types().is_empty() {
            let old = Case::from_draws(&case.draws[1..], &before);
            assert_eq!(old.program, case.program, "seed {seed}");
            assert_eq!(old.inputs, case.inputs, "seed {seed}");
            assert_eq!(old.checks, case.checks, "seed {seed}");
        } else {
            wide += 1;
        }
    }
    let pct = wide * 100 / n;
    assert!((12..=22).contains(&pct), "{wide} of {n} programs are wide");
}

#[test]
fn without_the_option_no_wide_type_appears() {
    let cfg = GenConfig {
        wide_one_in: 0,
        ..GenConfig::default()
    };
    let ints = GenConfig {
        floats: false,
        ..wide()
    };
    for seed in 0..500u64 {
        let p = generate(seed, &cfg).program;
        assert_eq!(p.wide_types(), [], "seed {seed}");
        // Without floats, no `f64` either.
        let p = generate(seed, &ints).program;
        assert!(!p.wide_types().contains(&DataType::F64), "seed {seed}");
        assert!(p.validate().is_ok(), "seed {seed}");
    }
}

/// The class of a 64-bit literal worth seeing: `i64::MIN`, `u64::MAX`,
/// around 2^32, NaN, infinity, -0, subnormal, above 2^53.
fn literal_class(l: Literal) -> Option<&'static str> {
    Some(match l {
        Literal::I64(i64::MIN) => "min",
        Literal::I64(-1) | Literal::U64(u64::MAX) => "all-ones",
        Literal::I64(v) if v.unsigned_abs() >> 32 == 1 => "2^32",
        Literal::U64(v) if v >> 32 == 1 || v == u64::from(u32::MAX) => "2^32",
        Literal::F64(b) => {
            let x = f64::from_bits(b);
            match x {
                _ if x.is_nan() => "nan",
                _ if x.is_infinite() => "inf",
                _ if b == 1 << 63 => "-0",
                _ if x.is_subnormal() => "subnormal",
                _ if x.abs() >= 9_007_199_254_740_992.0 && x.is_finite() => "2^53",
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// What a program uses, as names: `buffer:u64`, `local:f64`,
/// `cast:f64>u32`, `op:i64:Shr`, `shift-amount:u64`, `math:f64:sqrt`,
/// `lit:f64:nan`, `approx:f64`, ...
fn features(case: &Case) -> BTreeSet<String> {
    let p = &case.program;
    let mut seen = BTreeSet::new();
    for l in &p.locals {
        seen.insert(format!("local:{}", l.ty));
    }
    for prm in &p.params {
        seen.insert(match prm {
            Param::Buffer(b) => format!("buffer:{}", b.elem),
            Param::Scalar { ty, .. } => format!("scalar:{ty}"),
        });
    }
    for s in &p.shared {
        seen.insert(format!("shared:{}", s.elem));
    }
    for s in &p.private {
        seen.insert(format!("private:{}", s.elem));
    }
    for c in case.checks.iter().flatten() {
        if c.slots
            .iter()
            .any(|t| matches!(t, Tolerance::Float { abs, .. } if *abs == 0.0))
        {
            seen.insert("approx:f64".to_string());
        }
    }
    let ty = |e: &Expr| p.type_of(e).unwrap_or(DataType::Bool);
    p.any_expr(&mut |e| {
        match e {
            Expr::Cast(to, a) => {
                seen.insert(format!("cast:{}>{to}", ty(a)));
            }
            Expr::Lit(l) => {
                seen.insert(format!("lit:{}", l.ty()));
                if let Some(class) = literal_class(*l) {
                    seen.insert(format!("lit:{}:{class}", l.ty()));
                }
            }
            Expr::Unary(op, a) => {
                seen.insert(format!("op:{}:{op:?}", ty(a)));
            }
            Expr::Binary(op, a, b) => {
                seen.insert(format!("op:{}:{op:?}", ty(a)));
                if matches!(op, BinOp::Shl | BinOp::Shr) {
                    seen.insert(format!("shift:{}<<{}", ty(a), ty(b)));
                }
            }
            Expr::Math(f, args) => {
                seen.insert(format!("math:{}:{}", ty(&args[0]), f.name()));
            }
            Expr::Load { .. } => {
                seen.insert(format!("load:{}", ty(e)));
            }
            Expr::Select { then, .. } => {
                seen.insert(format!("select:{}", ty(then)));
            }
            _ => {}
        }
        false
    });
    seen
}

#[test]
fn wide_types_appear_in_every_role() {
    let cfg = wide();
    let n = seeds();
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 0..n {
        for f in features(&generate(seed, &cfg)) {
            *count.entry(f).or_default() += 1;
        }
    }
    let pct = |k: &str| count.get(k).copied().unwrap_or(0) * 100 / n.max(1);
    let mut report = String::new();
    let mut need = |k: String, min: u64| {
        if pct(&k) < min {
            report += &format!("\n  {k}: {}% (want {min}%)", pct(&k));
        }
    };
    for t in ["u64", "i64", "f64"] {
        for (role, min) in [
            ("buffer", 30),
            ("local", 10),
            ("scalar", 5),
            ("private", 5),
            ("shared", 1),
            ("lit", 30),
            ("load", 20),
            ("select", 5),
        ] {
            need(format!("{role}:{t}"), min);
        }
    }
    for (k, min) in [
        ("lit:i64:min", 1),
        ("lit:u64:all-ones", 1),
        ("lit:i64:all-ones", 1),
        ("lit:u64:2^32", 1),
        ("lit:i64:2^32", 1),
        ("lit:f64:nan", 2),
        ("lit:f64:inf", 2),
        ("lit:f64:-0", 1),
        ("lit:f64:subnormal", 1),
        ("lit:f64:2^53", 1),
        ("approx:f64", 5),
        ("shift:u64<<u32", 2),
        ("shift:i64<<i32", 2),
        ("shift:u64<<u64", 1),
        ("shift:u32<<i64", 1),
        ("op:i64:Neg", 2),
        ("op:u64:Not", 2),
        ("op:f64:Neg", 2),
        ("math:i64:abs", 2),
        ("math:u64:clamp", 2),
        ("math:f64:mul_add", 5),
        ("math:f64:sqrt", 5),
        ("math:f64:floor", 3),
        ("math:f64:min", 2),
    ] {
        need(k.to_string(), min);
    }
    for t in ["u64", "i64"] {
        for op in [
            "Add", "Sub", "Mul", "Div", "Rem", "BitAnd", "BitOr", "BitXor", "Shl", "Shr",
        ] {
            need(format!("op:{t}:{op}"), 3);
        }
        for op in ["Lt", "Le", "Gt", "Ge", "Eq", "Ne"] {
            need(format!("op:{t}:{op}"), 1);
        }
    }
    for op in [
        "Add", "Sub", "Mul", "Div", "Lt", "Le", "Gt", "Ge", "Eq", "Ne",
    ] {
        need(format!("op:f64:{op}"), 2);
    }
    // Every cast between a 64-bit type and any other type (none to
    // `bool`).
    for from in DataType::ALL {
        for to in DataType::ALL {
            let wanted = from != to && to != DataType::Bool && (from.is_wide() || to.is_wide());
            if wanted && !count.contains_key(&format!("cast:{from}>{to}")) {
                report += &format!("\n  no cast from {from} to {to}");
            }
        }
    }
    assert!(report.is_empty(), "in {n} programs:{report}");
    // Validation's rules hold: no `%`, `exp ln sin cos tanh powf` on `f64`.
    for k in count.keys() {
        assert!(k != "op:f64:Rem", "{k}");
        for f in [
            MathFn::Exp,
            MathFn::Ln,
            MathFn::Sin,
            MathFn::Cos,
            MathFn::Tanh,
            MathFn::Powf,
        ] {
            assert_ne!(*k, format!("math:f64:{}", f.name()));
        }
    }
}

#[test]
fn cpu_device_agrees_with_the_reference_on_wide_cases() {
    // The CPU device runs the `reference` artifact through the runtime:
    // 64-bit buffers uploaded as 8-byte elements, 64-bit scalars.
    let cfg = wide();
    let target = DeviceTarget::cpu();
    let opts = DeviceRunOptions { guard_elems: 16 };
    for seed in 0..200u64 {
        let case = generate(seed, &cfg);
        let outcome = check_target(&case, &target, opts);
        assert_eq!(outcome, Outcome::Match, "seed {seed}: {outcome}");
    }
}

/// A case of one `f64` output and one `i64` output over hand-written
/// contents.
fn wide_case(tolerance: Tolerance) -> Case {
    let mut b = vyre::ir::ProgramBuilder::new("k", [1, 1, 1]);
    b.buffer("out", DataType::F64, vyre::ir::Access::ReadWrite);
    b.buffer("ints", DataType::I64, vyre::ir::Access::ReadWrite);
    Case {
        program: b.finish(),
        inputs: vec![
            Value::Buffer {
                elem: DataType::F64,
                data: vec![0; 5],
            },
            Value::Buffer {
                elem: DataType::I64,
                data: vec![0; 2],
            },
        ],
        grid: [1, 1, 1],
        checks: vec![
            Some(Check {
                slots: vec![tolerance],
            }),
            Some(Check {
                slots: vec![Tolerance::Bits],
            }),
        ],
        draws: Vec::new(),
    }
}

#[test]
fn wide_elements_compare_as_their_values() {
    let one = 1.0f64.to_bits();
    let ints = vec![u64::MAX, 1 << 40];
    let exact = wide_case(Tolerance::FloatExact);
    let want = vec![
        Some(vec![f64::NAN.to_bits(), 1 << 63, one, 0x7ff0 << 48, 1]),
        Some(ints.clone()),
    ];
    // Another NaN, +0 for -0: accepted.
    let got = vec![
        Some(vec![0xfff8_0000_0000_0001, 0, one, 0x7ff0 << 48, 1]),
        Some(ints.clone()),
    ];
    assert_eq!(compare(&exact, &want, &got), Vec::new());
    // One ulp off, a NaN for infinity, a flushed subnormal, an `i64`
    // that differs in its high half only: rejected.
    let got = vec![
        Some(vec![
            f64::NAN.to_bits(),
            1 << 63,
            one + 1,
            f64::NAN.to_bits(),
            0,
        ]),
        Some(vec![u64::MAX, 1 << 41]),
    ];
    let m = compare(&exact, &want, &got);
    let at: Vec<(&str, usize)> = m.iter().map(|m| (m.param.as_str(), m.index)).collect();
    assert_eq!(at, [("out", 2), ("out", 3), ("out", 4), ("ints", 1)]);
    assert!(m[0].to_string().contains("1.0000000000000002"), "{}", m[0]);
    assert!(m[3].to_string().contains("1099511627776"), "{}", m[3]);
    // Division: within 3 `f64` ulps, not 4, and no absolute slack.
    let div = wide_case(op_tolerance_f64(ApproxOp::Div));
    let near = |d: u64| vec![Some(vec![0, 0, one + d, 0, 1]), Some(ints.clone())];
    assert_eq!(compare(&div, &near(0), &near(3)), Vec::new());
    assert_eq!(compare(&div, &near(0), &near(4)).len(), 1);
    let tiny = |x: f64| vec![Some(vec![0, 0, one, 0, x.to_bits()]), Some(ints.clone())];
    assert_eq!(compare(&div, &tiny(1e-300), &tiny(2e-300)).len(), 1);
}

#[test]
fn wide_regression_headers_and_files_keep_values() {
    let cfg = wide();
    for seed in 0..150u64 {
        let case = generate(seed, &cfg);
        let back = case_from_header(&case_header(&case), case.program.clone())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back.inputs, case.inputs, "seed {seed}");
        assert_eq!(back.checks, case.checks, "seed {seed}");
        assert_eq!(back.grid, case.grid, "seed {seed}");
    }
    // The whole file: header and `.vyre` source, printed and parsed.
    let dir = std::env::temp_dir().join(format!("vyre-testkit-wide-{}", std::process::id()));
    for seed in 0..40u64 {
        let case = generate(seed, &cfg);
        let path = save_regression(&case, &dir).expect("save");
        let back = load_regression(&path).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back.program, case.program, "seed {seed}");
        assert_eq!(back.inputs, case.inputs, "seed {seed}");
        assert_eq!(back.checks, case.checks, "seed {seed}");
        assert_eq!(run_reference(&back), run_reference(&case), "seed {seed}");
    }
    std::fs::remove_dir_all(&dir).ok();
    // A 64-bit word survives, one wider than a 32-bit element does not.
    let case = wide_case(Tolerance::FloatExact);
    let header = case_header(&case).replace("buffer i64 0 0", "buffer i64 0 8000000000000000");
    let back = case_from_header(&header, case.program.clone()).expect("a 64-bit word");
    assert_eq!(
        back.inputs[1],
        Value::Buffer {
            elem: DataType::I64,
            data: vec![0, 1 << 63]
        }
    );
}

/// WGSL cannot express any 64-bit type, Metal no `f64`, HLSL no `f64`
/// `sqrt floor ceil`: the harness skips such cases there instead of
/// failing them.
#[test]
fn inexpressible_targets_are_named() {
    let cfg = wide();
    let (mut f64_case, mut int_case) = (None, None);
    for seed in 0..200u64 {
        let case = generate(seed, &cfg);
        let tys = case.program.wide_types();
        if tys.contains(&DataType::F64) {
            f64_case.get_or_insert(case);
        } else {
            int_case.get_or_insert(case);
        }
    }
    let (f64_case, int_case) = (
        f64_case.expect("an f64 case"),
        int_case.expect("an int case"),
    );
    for target in ["spirv", "ptx", "reference"] {
        assert_eq!(inexpressible(&f64_case.program, target), None, "{target}");
    }
    // HLSL: only `f64` `sqrt`, `floor` and `ceil`, and `f32` atomics.
    let hlsl_refuses = |p: &vyre::ir::Program| {
        p.any_expr(&mut |e| {
            matches!(e, Expr::Math(MathFn::Sqrt | MathFn::Floor | MathFn::Ceil, a)
                if p.type_of(&a[0]) == Some(DataType::F64))
        }) || p.uses_float_atomics()
    };
    let (mut refused, mut accepted) = (0, 0);
    for seed in 0..100u64 {
        let p = generate(seed, &cfg).program;
        let why = inexpressible(&p, "hlsl");
        assert_eq!(why.is_some(), hlsl_refuses(&p), "seed {seed}: {why:?}");
        refused += u32::from(why.is_some());
        accepted += u32::from(why.is_none() && p.wide_types().contains(&DataType::F64));
    }
    assert!(refused > 5 && accepted > 5, "{refused} {accepted}");
    assert!(inexpressible(&f64_case.program, "wgsl").is_some());
    assert!(
        inexpressible(&f64_case.program, "msl")
            .is_some_and(|why| why.contains("`f64`") && !why.contains("`u64`"))
    );
    assert!(inexpressible(&int_case.program, "wgsl").is_some());
    assert_eq!(inexpressible(&int_case.program, "msl"), None);
    let narrow = generate(
        0,
        &GenConfig {
            wide_one_in: 0,
            ..GenConfig::default()
        },
    );
    assert_eq!(inexpressible(&narrow.program, "wgsl"), None);
    // A target listing `wgsl` skips the case rather than failing it.
    let wgsl_cpu = DeviceTarget {
        label: "cpu:wgsl".to_string(),
        artifacts: vec!["wgsl"],
        ..DeviceTarget::cpu()
    };
    let o = check_target(&int_case, &wgsl_cpu, DeviceRunOptions::default());
    assert!(o.is_skipped(), "{o}");
}

/// `f64` values turned into `f32` or `bf16` are flushed to zero below
/// 2^-24 first (an exact select), so no `f32` the generator computes is
/// near the subnormal range.
#[test]
fn f64_to_f32_conversions_are_guarded() {
    let cfg = wide();
    let mut guarded = 0;
    for seed in 0..400u64 {
        let p = generate(seed, &cfg).program;
        p.any_expr(&mut |e| {
            if let Expr::Cast(to @ (DataType::F32 | DataType::BF16), a) = e
                && p.type_of(a) == Some(DataType::F64)
            {
                assert!(
                    matches!(&**a, Expr::Select { .. }),
                    "seed {seed}: unguarded `f64 as {to}`"
                );
                guarded += 1;
            }
            false
        });
    }
    assert!(guarded > 50, "{guarded} conversions");
}

/// The 64-bit outputs are written: on the reference, most wide programs
/// change some element of a 64-bit own-slot output (so the differential
/// test compares computed 64-bit values, not the initial contents).
#[test]
fn wide_outputs_are_written() {
    let cfg = wide();
    let (mut changed, mut f64_changed, mut f64_programs) = (0, 0, 0);
    let n = 300u64;
    for seed in 0..n {
        let case = generate(seed, &cfg);
        let out = run_reference(&case).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut any = false;
        for ((v, p), o) in case.inputs.iter().zip(&case.program.params).zip(&out) {
            if let (Value::Buffer { elem, data }, Param::Buffer(b), Some(o)) = (v, p, o)
                && elem.is_wide()
                && b.name.starts_with("out_")
            {
                let differs = data != o;
                any |= differs;
                if *elem == DataType::F64 {
                    f64_programs += 1;
                    f64_changed += u32::from(differs);
                }
            }
        }
        changed += u32::from(any);
    }
    // (For comparison, in programs without them: `out_f32` changes in
    // about 57% of the programs that have one, `out_i32` in 41%.)
    assert!(changed * 100 >= n as u32 * 55, "{changed} of {n}");
    assert!(
        f64_changed * 100 >= f64_programs * 45,
        "{f64_changed} of {f64_programs}"
    );
}
