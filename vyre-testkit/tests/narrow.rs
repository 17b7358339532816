//! The 8- and 16-bit types in the generator and the harness: generated
//! with [`GenConfig::narrow`], valid, covering every type in every role
//! and every cast, agreeing between the reference and the CPU device
//! (packed buffers, widened scalar arguments), and absent without the
//! option.

use std::collections::{BTreeMap, BTreeSet};

use vyre::ir::{DataType, Expr, Literal, Param, Program};
use vyre_testkit::harness::{
    DeviceRunOptions, DeviceTarget, case_from_header, case_header, check_target, compare,
    load_regression, run_reference, save_regression,
};
use vyre_testkit::{Case, Check, GenConfig, Outcome, Tolerance, Value, generate};

fn narrow() -> GenConfig {
    GenConfig {
        narrow: true,
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
fn narrow_cases_validate_and_run_on_the_reference() {
    let cfg = narrow();
    for seed in 0..seeds() {
        let case = generate(seed, &cfg);
        if let Err(errors) = case.program.validate() {
            panic!(
                "seed {seed}: invalid program: {errors:#?}\n{}",
                vyre::lang::print(&case.program)
            );
        }
        // Inputs hold each element's bits zero-extended.
        for (v, p) in case.inputs.iter().zip(&case.program.params) {
            if let (Value::Buffer { elem, data }, Param::Buffer(b)) = (v, p) {
                assert_eq!(*elem, b.elem, "seed {seed}");
                let max = u64::MAX >> (64 - elem.bits());
                assert!(data.iter().all(|&w| w <= max), "seed {seed}: {data:x?}");
            }
        }
        if let Err(e) = run_reference(&case) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn narrow_cases_are_deterministic_and_replayable() {
    let cfg = narrow();
    for seed in [0, 1, 42, 9999, u64::MAX] {
        let a = generate(seed, &cfg);
        assert_eq!(a, generate(seed, &cfg));
        let b = Case::from_draws(&a.draws, &cfg);
        assert_eq!(a.program, b.program, "seed {seed}");
        assert_eq!(a.inputs, b.inputs, "seed {seed}");
    }
}

/// Whether a narrow type occurs anywhere in `p`.
fn mentions_narrow(p: &Program) -> bool {
    p.locals.iter().any(|l| l.ty.is_narrow())
        || p.shared.iter().any(|s| s.elem.is_narrow())
        || p.private.iter().any(|s| s.elem.is_narrow())
        || p.params.iter().any(|prm| match prm {
            Param::Buffer(b) => b.elem.is_narrow(),
            Param::Scalar { ty, .. } => ty.is_narrow(),
        })
        || p.any_expr(&mut |e| p.type_of(e).is_some_and(DataType::is_narrow))
}

#[test]
fn without_the_option_no_narrow_type_appears() {
    let cfg = GenConfig {
        narrow: false,
        ..GenConfig::default()
    };
    for seed in 0..500u64 {
        let p = generate(seed, &cfg).program;
        assert!(!mentions_narrow(&p), "seed {seed}");
    }
}

/// What a program uses, as names: `buffer:f16`, `shared:u8`, `cast:i8>f16`,
/// `op:f16`, `math:i16`, `subgroup:bf16`, `lit:f16:nan`, ...
fn features(p: &Program) -> BTreeSet<String> {
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
    p.any_expr(&mut |e| {
        let ty = |a: &Expr| p.type_of(a).map_or("?".to_string(), |t| t.to_string());
        match e {
            Expr::Cast(to, a) => {
                seen.insert(format!("cast:{}>{to}", ty(a)));
            }
            Expr::Lit(l) => {
                seen.insert(format!("lit:{}", l.ty()));
                let class = match *l {
                    Literal::F16(b) => match (b & 0x7c00, b & 0x3ff) {
                        (0x7c00, 0) => "inf",
                        (0x7c00, _) => "nan",
                        (0, m) if m != 0 => "subnormal",
                        _ => "",
                    },
                    Literal::BF16(b) => match (b & 0x7f80, b & 0x7f) {
                        (0x7f80, 0) => "inf",
                        (0x7f80, _) => "nan",
                        _ => "",
                    },
                    _ => "",
                };
                if !class.is_empty() {
                    seen.insert(format!("lit:{}:{class}", l.ty()));
                }
            }
            Expr::Unary(_, a) | Expr::Binary(_, a, _) => {
                seen.insert(format!("op:{}", ty(a)));
            }
            Expr::Math(_, args) => {
                seen.insert(format!("math:{}", ty(&args[0])));
            }
            Expr::Subgroup(_, args) if !args.is_empty() => {
                seen.insert(format!("subgroup:{}", ty(&args[0])));
            }
            _ => {}
        }
        false
    });
    seen
}

#[test]
fn narrow_types_appear_in_every_role() {
    let cfg = narrow();
    let n = seeds();
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 0..n {
        for f in features(&generate(seed, &cfg).program) {
            *count.entry(f).or_default() += 1;
        }
    }
    let pct = |k: &str| count.get(k).copied().unwrap_or(0) * 100 / n.max(1);
    let narrow = [
        DataType::F16,
        DataType::BF16,
        DataType::U8,
        DataType::I8,
        DataType::U16,
        DataType::I16,
    ];
    let mut wants: Vec<(String, u64)> = Vec::new();
    let mut need = |k: String, min: u64| wants.push((k, min));
    for t in narrow {
        for (role, min) in [
            ("buffer", 10),
            ("local", 3),
            ("scalar", 2),
            ("private", 2),
            ("shared", 1),
            ("lit", 15),
            ("op", 10),
            ("math", 4),
            ("subgroup", 1),
        ] {
            need(format!("{role}:{t}"), min);
        }
    }
    for t in [DataType::F16, DataType::BF16] {
        need(format!("lit:{t}:nan"), 1);
        need(format!("lit:{t}:inf"), 1);
    }
    need("lit:f16:subnormal".to_string(), 1);
    // The 32-bit types keep their place.
    for (k, min) in [
        ("buffer:f32", 50),
        ("buffer:i32", 55),
        ("local:f32", 20),
        ("local:i32", 45),
        ("op:f32", 50),
        ("op:i32", 60),
        ("math:f32", 40),
        ("shared:i32", 18),
        ("private:f32", 15),
        ("subgroup:f32", 10),
    ] {
        need(k.to_string(), min);
    }
    let mut report = String::new();
    for (k, min) in wants {
        if pct(&k) < min {
            report += &format!("\n  {k}: {}% (want {min}%)", pct(&k));
        }
    }
    // Every cast between two different types (none to `bool`).
    for from in DataType::ALL {
        for to in DataType::ALL {
            let wanted = from != to && to != DataType::Bool && from.is_narrow() | to.is_narrow();
            if wanted && !count.contains_key(&format!("cast:{from}>{to}")) {
                report += &format!("\n  no cast from {from} to {to}");
            }
        }
    }
    assert!(report.is_empty(), "in {n} programs:{report}");
}

#[test]
fn cpu_device_agrees_with_the_reference_on_narrow_cases() {
    // The CPU device runs the `reference` artifact through the runtime:
    // packed narrow buffers, narrow scalars widened by the runtime.
    let cfg = narrow();
    let target = DeviceTarget::cpu();
    let opts = DeviceRunOptions { guard_elems: 16 };
    let mut with_narrow = 0;
    for seed in 0..300u64 {
        let case = generate(seed, &cfg);
        with_narrow += u32::from(mentions_narrow(&case.program));
        let outcome = check_target(&case, &target, opts);
        assert_eq!(outcome, Outcome::Match, "seed {seed}: {outcome}");
    }
    assert!(with_narrow > 200, "{with_narrow} of 300 use a narrow type");
}

/// A case of one `f16` output over hand-written `want`/`got` contents.
fn f16_case(tolerance: Tolerance) -> Case {
    let mut b = vyre::ir::ProgramBuilder::new("k", [1, 1, 1]);
    b.buffer("out", DataType::F16, vyre::ir::Access::ReadWrite);
    Case {
        program: b.finish(),
        inputs: vec![Value::Buffer {
            elem: DataType::F16,
            data: vec![0; 4],
        }],
        grid: [1, 1, 1],
        checks: vec![Some(Check {
            slots: vec![tolerance],
        })],
        draws: Vec::new(),
    }
}

#[test]
fn narrow_floats_compare_as_their_values() {
    let exact = f16_case(Tolerance::FloatExact);
    let want = vec![Some(vec![0x7e00, 0x8000, 0x3c00, 0x7c00])];
    // Another NaN, +0 for -0: accepted.
    let got = vec![Some(vec![0xfe01, 0x0000, 0x3c00, 0x7c00])];
    assert_eq!(compare(&exact, &want, &got), Vec::new());
    // One ulp off, or a NaN for infinity: rejected.
    let got = vec![Some(vec![0x7e00, 0x8000, 0x3c01, 0x7e00])];
    let m = compare(&exact, &want, &got);
    assert_eq!(m.iter().map(|m| m.index).collect::<Vec<_>>(), [2, 3]);
    assert!(m[0].to_string().contains("1.0"), "{}", m[0]);
    // Bit-exact elements stay bit-exact.
    let bits = f16_case(Tolerance::Bits);
    let got = vec![Some(vec![0x7e01, 0x8000, 0x3c00, 0x7c00])];
    assert_eq!(compare(&bits, &want, &got).len(), 1);
}

#[test]
fn regression_headers_keep_narrow_values() {
    let cfg = narrow();
    let mut seen = 0;
    for seed in 0..200u64 {
        let case = generate(seed, &cfg);
        if !mentions_narrow(&case.program) {
            continue;
        }
        seen += 1;
        let back = case_from_header(&case_header(&case), case.program.clone())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back.inputs, case.inputs, "seed {seed}");
        assert_eq!(back.checks, case.checks, "seed {seed}");
        assert_eq!(back.grid, case.grid, "seed {seed}");
    }
    assert!(seen > 100);
    // A word wider than its element is refused.
    let case = f16_case(Tolerance::FloatExact);
    let header = case_header(&case).replace("buffer f16 0 0 0 0", "buffer f16 0 10000 0 0");
    let e = case_from_header(&header, case.program.clone()).unwrap_err();
    assert!(e.contains("10000"), "{e}");
}

#[test]
fn narrow_regression_files_load_back() {
    // The whole file: header and `.vyre` source, printed and parsed.
    let dir = std::env::temp_dir().join(format!("vyre-testkit-narrow-{}", std::process::id()));
    let cfg = narrow();
    let mut saved = 0;
    for seed in 0..60u64 {
        let case = generate(seed, &cfg);
        if !mentions_narrow(&case.program) {
            continue;
        }
        let path = save_regression(&case, &dir).expect("save");
        let back = load_regression(&path).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back.program, case.program, "seed {seed}");
        assert_eq!(back.inputs, case.inputs, "seed {seed}");
        assert_eq!(back.checks, case.checks, "seed {seed}");
        assert_eq!(run_reference(&back), run_reference(&case), "seed {seed}");
        saved += 1;
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(saved > 30);
}
