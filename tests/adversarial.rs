//! Safety of the safe API: kernels with hostile indices (from data,
//! negative, huge, just past the end; in global and shared memory; loads,
//! stores and atomics) run on every available target with guard buffers
//! allocated just before and just after each buffer argument. The guards
//! must come back untouched, and every result must match the reference.
//! The expected values of the hand-written kernels are also stated here,
//! independently of the reference: out-of-range loads read 0, out-of-range
//! stores are dropped, out-of-range atomics do nothing and return 0.
//!
//! On the H100: `compute-sanitizer --tool memcheck cargo test --features
//! cuda --test adversarial` must report 0 errors.

mod differential_support;

use vyre::ir::{
    Access, AtomicOp, AtomicResult, Axis, BufRef, Builtin, DataType, Expr, Literal, Program,
    ProgramBuilder,
};
use vyre_testkit::harness::{DeviceRunOptions, check_target, run_reference};
use vyre_testkit::{Case, Check, GenConfig, Outcome, Tolerance, Value, generate};

/// Guard words before and after every buffer.
const GUARD: usize = 256;

fn bits() -> Option<Check> {
    Some(Check {
        slots: vec![Tolerance::Bits],
    })
}

fn buffer(elem: DataType, data: Vec<u32>) -> Value {
    Value::Buffer { elem, data }
}

/// Indices an attacker would pick, for a buffer of `len` elements: some in
/// range, the rest out of range in every way the index types allow.
fn hostile_indices(len: u32) -> Vec<u32> {
    vec![
        0,
        len - 1,
        len,
        len + 1,
        len * 2,
        u32::MAX,
        0x8000_0000,
        0x7FFF_FFFF,
        (-1i32).cast_unsigned(),
        (-64i32).cast_unsigned(),
        i32::MIN.cast_unsigned(),
        1,
        len + 1000,
        0xFFFF_0000,
        3,
        len - 2,
    ]
}

fn gid() -> Expr {
    Expr::Builtin(Builtin::GlobalId, Axis::X)
}

/// out[i] = data[idx[i]] (u32 index) and out2[i] = data[idx[i] as i32].
fn wild_loads() -> (Case, Vec<u32>) {
    let n = 16u32;
    let mut b = ProgramBuilder::new("wild_loads", [16, 1, 1]);
    let data = b.buffer("data", DataType::U32, Access::Read);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let out2 = b.buffer("out2", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, gid());
        let k = Expr::load(BufRef::Param(idx), Expr::local(i));
        blk.store(
            BufRef::Param(out),
            Expr::local(i),
            Expr::load(BufRef::Param(data), k.clone()),
        );
        blk.store(
            BufRef::Param(out2),
            Expr::local(i),
            Expr::load(BufRef::Param(data), k.cast(DataType::I32)),
        );
    });
    let data_len = 8u32;
    let data_v: Vec<u32> = (0..data_len).map(|x| 100 + x).collect();
    let idx_v = hostile_indices(data_len);
    let expected: Vec<u32> = idx_v
        .iter()
        .map(|&k| data_v.get(k as usize).copied().unwrap_or(0))
        .collect();
    let case = Case {
        program: b.finish(),
        inputs: vec![
            buffer(DataType::U32, data_v),
            buffer(DataType::U32, idx_v),
            buffer(DataType::U32, vec![7; n as usize]),
            buffer(DataType::U32, vec![7; n as usize]),
        ],
        grid: [1, 1, 1],
        checks: vec![bits(), bits(), bits(), bits()],
        draws: Vec::new(),
    };
    (case, expected)
}

/// out[idx[i]] = i + 1 for hostile idx (distinct in-range targets, so no
/// race), plus stores at `out.len() + i` and at negative `i32` indices.
fn wild_stores() -> (Case, Vec<u32>) {
    let mut b = ProgramBuilder::new("wild_stores", [16, 1, 1]);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, gid());
        let k = Expr::load(BufRef::Param(idx), Expr::local(i));
        blk.store(BufRef::Param(out), k, Expr::local(i).add(Expr::u32(1)));
        blk.store(
            BufRef::Param(out),
            Expr::len(out).add(Expr::local(i)),
            Expr::u32(0xBAD),
        );
        blk.store(
            BufRef::Param(out),
            Expr::i32(-1).sub(Expr::local(i).cast(DataType::I32)),
            Expr::u32(0xBAD),
        );
    });
    let len = 8u32;
    let idx_v = hostile_indices(len);
    // In-range targets of hostile_indices(8): 0, 7, 1, 3, 6 (distinct).
    let mut expected = vec![5u32; len as usize];
    for (i, &k) in idx_v.iter().enumerate() {
        if let Some(e) = expected.get_mut(k as usize) {
            *e = i as u32 + 1;
        }
    }
    let case = Case {
        program: b.finish(),
        inputs: vec![
            buffer(DataType::U32, idx_v),
            buffer(DataType::U32, vec![5; len as usize]),
        ],
        grid: [1, 1, 1],
        checks: vec![bits(), bits()],
        draws: Vec::new(),
    };
    (case, expected)
}

/// Atomics at hostile indices, global and shared; the old value of each
/// is stored (0 when out of range), and the shared array is copied out.
fn wild_atomics() -> (Case, Vec<u32>, Vec<u32>) {
    let mut b = ProgramBuilder::new("wild_atomics", [16, 1, 1]);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let acc = b.buffer("acc", DataType::U32, Access::ReadWrite);
    let olds = b.buffer("olds", DataType::U32, Access::ReadWrite);
    let sh_out = b.buffer("sh_out", DataType::U32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U32, 8);
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    let old = b.local("old", DataType::U32, false);
    let old_sh = b.local("old_sh", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.if_(Expr::local(i).lt(Expr::u32(8)), |t| {
            t.store(BufRef::Shared(sh), Expr::local(i), Expr::u32(1000));
        });
        blk.barrier();
        blk.let_(k, Expr::load(BufRef::Param(idx), Expr::local(i)));
        // Exchange at distinct in-range targets: the old value is the
        // initial contents; out of range: 0.
        blk.let_(
            old,
            Expr::atomic(
                AtomicOp::Exchange,
                BufRef::Param(acc),
                Expr::local(k),
                Expr::u32(1),
            ),
        );
        blk.let_(
            old_sh,
            Expr::atomic(
                AtomicOp::Exchange,
                BufRef::Shared(sh),
                Expr::local(k).cast(DataType::I32),
                Expr::local(i),
            ),
        );
        blk.store(
            BufRef::Param(olds),
            Expr::local(i).mul(Expr::u32(2)),
            Expr::local(old),
        );
        blk.store(
            BufRef::Param(olds),
            Expr::local(i).mul(Expr::u32(2)).add(Expr::u32(1)),
            Expr::local(old_sh),
        );
        blk.push(
            Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(acc),
                // `len + (k & 0xFFFF)` never wraps into range.
                Expr::len(acc).add(Expr::local(k).bitand(Expr::u32(0xFFFF))),
                Expr::u32(1),
            )
            .into_node(AtomicResult::Discard),
        );
        blk.push(
            Expr::atomic_compare_exchange(
                BufRef::Shared(sh),
                Expr::u32(8).add(Expr::local(i)),
                Expr::u32(0),
                Expr::u32(7),
            )
            .into_node(AtomicResult::Discard),
        );
        blk.barrier();
        blk.if_(Expr::local(i).lt(Expr::u32(8)), |t| {
            t.store(
                BufRef::Param(sh_out),
                Expr::local(i),
                Expr::load(BufRef::Shared(sh), Expr::local(i)),
            );
        });
    });
    let len = 8u32;
    let idx_v = hostile_indices(len);
    let acc0: Vec<u32> = (0..len).map(|x| 50 + x).collect();
    let mut olds = vec![0u32; 32];
    let mut sh_final = vec![1000u32; 8];
    for (i, &k) in idx_v.iter().enumerate() {
        olds[2 * i] = acc0.get(k as usize).copied().unwrap_or(0);
        olds[2 * i + 1] = if (k as usize) < 8 { 1000 } else { 0 };
        if let Some(s) = sh_final.get_mut(k as usize) {
            *s = i as u32;
        }
    }
    let case = Case {
        program: b.finish(),
        inputs: vec![
            buffer(DataType::U32, idx_v),
            buffer(DataType::U32, acc0),
            buffer(DataType::U32, vec![9; 32]),
            buffer(DataType::U32, vec![9; 8]),
        ],
        grid: [1, 1, 1],
        checks: vec![bits(), bits(), bits(), bits()],
        draws: Vec::new(),
    };
    (case, olds, sh_final)
}

/// Shared memory read and written at data-derived indices, including
/// negative ones, across a barrier.
fn wild_shared() -> Case {
    let mut b = ProgramBuilder::new("wild_shared", [32, 1, 1]);
    let idx = b.buffer("idx", DataType::I32, Access::Read);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let sh = b.shared("tile", DataType::I32, 32);
    let l = b.local("l", DataType::U32, false);
    b.body(|blk| {
        blk.let_(l, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.store(
            BufRef::Shared(sh),
            Expr::local(l),
            Expr::local(l).cast(DataType::I32).mul(Expr::i32(3)),
        );
        // A write at a hostile index: in range only where idx[l] == l.
        let k = Expr::load(BufRef::Param(idx), Expr::local(l));
        blk.store(
            BufRef::Shared(sh),
            Expr::Select {
                cond: Box::new(k.clone().eq(Expr::local(l).cast(DataType::I32))),
                then: Box::new(k.clone()),
                otherwise: Box::new(k.clone().bitor(Expr::i32(i32::MIN))),
            },
            Expr::i32(-7),
        );
        blk.barrier();
        blk.store(
            BufRef::Param(out),
            Expr::Builtin(Builtin::GlobalId, Axis::X),
            Expr::load(BufRef::Shared(sh), k),
        );
    });
    let idx_v: Vec<u32> = (0..64i32)
        .map(|i| match i % 8 {
            0 => i % 32,
            1 => -1,
            2 => 32,
            3 => i32::MIN,
            4 => 1000,
            5 => (i * 5) % 32,
            6 => i32::MAX,
            _ => -(i * 3),
        })
        .map(i32::cast_unsigned)
        .collect();
    Case {
        program: b.finish(),
        inputs: vec![
            buffer(DataType::I32, idx_v),
            buffer(DataType::I32, vec![1; 64]),
        ],
        grid: [2, 1, 1],
        checks: vec![bits(), bits()],
        draws: Vec::new(),
    }
}

/// Inputs of `wild_floats`: the float→int cast edge cases.
const FLOATS: [f32; 8] = [
    f32::NAN,
    3.0e9,
    f32::NEG_INFINITY,
    -3.0e9,
    2_147_483_520.0,
    -0.0,
    f32::INFINITY,
    1.5,
];

/// A float load at a hostile index feeding a float→int cast (NaN, inf and
/// out-of-range values saturate) and a float store at `len`.
fn wild_floats() -> Case {
    let mut b = ProgramBuilder::new("wild_floats", [16, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let yi = b.buffer("yi", DataType::I32, Access::ReadWrite);
    let yf = b.buffer("yf", DataType::F32, Access::ReadWrite);
    let s = b.scalar("s", DataType::F32);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, gid());
        let v = Expr::load(
            BufRef::Param(x),
            Expr::load(BufRef::Param(idx), Expr::local(i)),
        );
        blk.store(
            BufRef::Param(yi),
            Expr::local(i),
            v.clone().mul(Expr::param(s)).cast(DataType::I32),
        );
        blk.store(BufRef::Param(yf), Expr::local(i), v.clone());
        blk.store(BufRef::Param(yf), Expr::len(yf), v);
    });
    Case {
        program: b.finish(),
        inputs: vec![
            buffer(DataType::F32, FLOATS.iter().map(|f| f.to_bits()).collect()),
            buffer(DataType::U32, hostile_indices(8)),
            buffer(DataType::I32, vec![3; 16]),
            buffer(DataType::F32, vec![0; 16]),
            Value::Scalar(Literal::f32(1.0)),
        ],
        grid: [1, 1, 1],
        checks: vec![
            bits(),
            bits(),
            bits(),
            Some(Check {
                slots: vec![Tolerance::FloatExact],
            }),
            None,
        ],
        draws: Vec::new(),
    }
}

fn run_everywhere(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for t in differential_support::targets() {
        let outcome = check_target(case, &t, DeviceRunOptions { guard_elems: GUARD });
        if outcome != Outcome::Match {
            failures.push(format!("{} on {}: {outcome}", case.program.name, t.label));
        }
    }
    failures
}

fn reference_outputs(case: &Case) -> Vec<Option<Vec<u32>>> {
    match run_reference(case) {
        Ok(o) => o,
        Err(e) => panic!("{}: reference failed: {e}", case.program.name),
    }
}

fn check_valid(p: &Program) {
    if let Err(e) = p.validate() {
        panic!("{}: {e:?}", p.name);
    }
}

#[test]
fn hand_written_adversarial_kernels() {
    let mut failures = Vec::new();

    let (loads, expected) = wild_loads();
    check_valid(&loads.program);
    let out = reference_outputs(&loads);
    assert_eq!(
        out[2].as_deref(),
        Some(&expected[..]),
        "wild_loads u32 index"
    );
    // As `i32`, an index >= 2^31 is negative: also out of range, so the
    // same expectation holds.
    assert_eq!(
        out[3].as_deref(),
        Some(&expected[..]),
        "wild_loads i32 index"
    );
    failures.extend(run_everywhere(&loads));

    let (stores, expected) = wild_stores();
    check_valid(&stores.program);
    let out = reference_outputs(&stores);
    assert_eq!(out[1].as_deref(), Some(&expected[..]), "wild_stores");
    failures.extend(run_everywhere(&stores));

    let (atomics, olds, sh_final) = wild_atomics();
    check_valid(&atomics.program);
    let out = reference_outputs(&atomics);
    assert_eq!(
        out[2].as_deref(),
        Some(&olds[..]),
        "wild_atomics old values"
    );
    assert_eq!(
        out[3].as_deref(),
        Some(&sh_final[..]),
        "wild_atomics shared"
    );
    failures.extend(run_everywhere(&atomics));

    let shared = wild_shared();
    check_valid(&shared.program);
    failures.extend(run_everywhere(&shared));

    let floats = wild_floats();
    check_valid(&floats.program);
    let out = reference_outputs(&floats);
    // Rust `as` semantics: NaN -> 0, +-inf and out-of-range saturate.
    let yi: Vec<i32> = out[2]
        .as_ref()
        .map(|v| v.iter().map(|b| b.cast_signed()).collect())
        .unwrap_or_default();
    let want: Vec<i32> = hostile_indices(8)
        .iter()
        .map(|&k| FLOATS.get(k as usize).copied().unwrap_or(0.0) as i32)
        .collect();
    assert_eq!(yi, want, "wild_floats casts");
    assert!(want.contains(&i32::MAX) && want.contains(&0));
    failures.extend(run_everywhere(&floats));

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generated programs are full of hostile indices (see the generator's
/// docs); run a fixed set of them with guards on every target.
#[test]
fn generated_wild_index_programs_with_guards() {
    let cfg = GenConfig {
        wild_indices: true,
        ..GenConfig::default()
    };
    let n: u64 = std::env::var("VYRE_ADVERSARIAL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let targets = differential_support::targets();
    let mut failures = Vec::new();
    for seed in 0..n {
        let case = generate(0xAD00 + seed, &cfg);
        for t in &targets {
            let o = check_target(&case, t, DeviceRunOptions { guard_elems: GUARD });
            if let Outcome::GuardDamaged(_) | Outcome::TargetError(_) = o {
                failures.push(format!("seed {:#x} on {}: {o}", 0xAD00 + seed, t.label));
            }
        }
    }
    println!(
        "{n} generated programs with guards on {} targets",
        targets.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
