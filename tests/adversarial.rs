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
    Value::Buffer {
        elem,
        data: data.into_iter().map(u64::from).collect(),
    }
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

/// `f64` values for [`wide_wild`]: NaN, infinities, values past the
/// integer ranges (2^64, 2^63, 1e300), at their edges, and in range.
const DOUBLES: [f64; 8] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    18_446_744_073_709_551_616.0,
    -1.5,
    9_223_372_036_854_775_808.0,
    -9_223_372_036_854_777_856.0,
    1e300,
];

/// 64-bit elements (8 bytes each) at hostile indices: loads from a `u64`
/// and an `f64` buffer (`u32` and `i32` indices), stores into a `u64`
/// buffer (at hostile indices, at `len + i`, at negative `i32` indices),
/// a shared `i64` array written and read at hostile indices across
/// barriers, and `f64` to `i64`/`u32` casts of NaN, infinities and
/// out-of-range values. Expected contents, in order of the buffers
/// `out`, `fout`, `wout`, `shout`, `cast_i64`, `cast_u32`.
fn wide_wild() -> (Case, [Vec<u64>; 6]) {
    let n = 16u32;
    let len = 8u32;
    let mut b = ProgramBuilder::new("wide_wild", [16, 1, 1]);
    let data = b.buffer("data", DataType::U64, Access::Read);
    let fdata = b.buffer("fdata", DataType::F64, Access::Read);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U64, Access::ReadWrite);
    let fout = b.buffer("fout", DataType::F64, Access::ReadWrite);
    let wout = b.buffer("wout", DataType::U64, Access::ReadWrite);
    let shout = b.buffer("shout", DataType::I64, Access::ReadWrite);
    let ci = b.buffer("cast_i64", DataType::I64, Access::ReadWrite);
    let cu = b.buffer("cast_u32", DataType::U32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::I64, len);
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    let tag = |e: Expr| {
        e.cast(DataType::U64)
            .bitor(Expr::Lit(Literal::U64(0xABCD << 48)))
    };
    b.body(|blk| {
        blk.let_(i, gid());
        blk.let_(k, Expr::load(BufRef::Param(idx), Expr::local(i)));
        let ki = || Expr::local(k).cast(DataType::I32);
        blk.store(
            BufRef::Param(out),
            Expr::local(i),
            Expr::load(BufRef::Param(data), Expr::local(k)),
        );
        blk.store(
            BufRef::Param(fout),
            Expr::local(i),
            Expr::load(BufRef::Param(fdata), ki()),
        );
        blk.store(BufRef::Param(wout), Expr::local(k), tag(Expr::local(i)));
        blk.store(
            BufRef::Param(wout),
            Expr::len(wout).add(Expr::local(i)),
            Expr::Lit(Literal::U64(0xBAD)),
        );
        blk.store(
            BufRef::Param(wout),
            Expr::i32(-1).sub(Expr::local(i).cast(DataType::I32)),
            Expr::Lit(Literal::U64(0xBAD)),
        );
        let x = Expr::load(BufRef::Param(fdata), Expr::local(k));
        blk.store(
            BufRef::Param(ci),
            Expr::local(i),
            x.clone().cast(DataType::I64),
        );
        blk.store(BufRef::Param(cu), Expr::local(i), x.cast(DataType::U32));
        // Shared: every slot initialised, then written and read at hostile
        // indices (distinct in-range targets), epochs split by barriers.
        blk.if_(Expr::local(i).lt(Expr::u32(len)), |t| {
            t.store(
                BufRef::Shared(sh),
                Expr::local(i),
                Expr::Lit(Literal::I64(-1)).sub(Expr::local(i).cast(DataType::I64)),
            );
        });
        blk.barrier();
        blk.store(
            BufRef::Shared(sh),
            Expr::local(k),
            Expr::local(i).cast(DataType::I64).shl(Expr::u32(40)),
        );
        blk.barrier();
        blk.store(
            BufRef::Param(shout),
            Expr::local(i),
            Expr::load(BufRef::Shared(sh), ki()),
        );
    });
    let data_v: Vec<u64> = (0..u64::from(len)).map(|x| x << 36 | 0x1234_5678).collect();
    let fdata_v: Vec<u64> = DOUBLES.iter().map(|x| x.to_bits()).collect();
    let idx_v = hostile_indices(len);
    let at = |v: &[u64], k: u32| v.get(k as usize).copied().unwrap_or(0);
    let out_want: Vec<u64> = idx_v.iter().map(|&k| at(&data_v, k)).collect();
    let fout_want: Vec<u64> = idx_v.iter().map(|&k| at(&fdata_v, k)).collect();
    let mut wout_want = vec![5u64; len as usize];
    let mut sh_want: Vec<i64> = (0..i64::from(len)).map(|x| -1 - x).collect();
    for (i, &k) in idx_v.iter().enumerate() {
        if let Some(w) = wout_want.get_mut(k as usize) {
            *w = i as u64 | 0xABCD << 48;
        }
        if let Some(w) = sh_want.get_mut(k as usize) {
            *w = (i as i64) << 40;
        }
    }
    let shout_want: Vec<u64> = idx_v
        .iter()
        .map(|&k| sh_want.get(k as usize).map_or(0, |v| v.cast_unsigned()))
        .collect();
    // Rust `as`: NaN -> 0, saturating.
    let double = |k: u32| f64::from_bits(at(&fdata_v, k));
    let ci_want: Vec<u64> = idx_v
        .iter()
        .map(|&k| (double(k) as i64).cast_unsigned())
        .collect();
    let cu_want: Vec<u64> = idx_v.iter().map(|&k| u64::from(double(k) as u32)).collect();
    let wide = |elem, data: Vec<u64>| Value::Buffer { elem, data };
    let case = Case {
        program: b.finish(),
        inputs: vec![
            wide(DataType::U64, data_v),
            wide(DataType::F64, fdata_v),
            buffer(DataType::U32, idx_v),
            wide(DataType::U64, vec![7; n as usize]),
            wide(DataType::F64, vec![7; n as usize]),
            wide(DataType::U64, vec![5; len as usize]),
            wide(DataType::I64, vec![7; n as usize]),
            wide(DataType::I64, vec![7; n as usize]),
            buffer(DataType::U32, vec![7; n as usize]),
        ],
        grid: [1, 1, 1],
        checks: vec![
            bits(),
            bits(),
            bits(),
            bits(),
            Some(Check {
                slots: vec![Tolerance::FloatExact],
            }),
            bits(),
            bits(),
            bits(),
            bits(),
        ],
        draws: Vec::new(),
    };
    (
        case,
        [out_want, fout_want, wout_want, shout_want, ci_want, cu_want],
    )
}

fn run_everywhere(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for t in differential_support::targets() {
        let outcome = check_target(case, &t, DeviceRunOptions { guard_elems: GUARD });
        // (Skipped: a target that cannot express the kernel's 64-bit types.)
        if outcome != Outcome::Match && !outcome.is_skipped() {
            failures.push(format!("{} on {}: {outcome}", case.program.name, t.label));
        }
    }
    failures
}

/// The reference's final buffers, one `u32` per element (every buffer of
/// the hand-written kernels has 32-bit elements: bits above them fail).
fn reference_outputs(case: &Case) -> Vec<Option<Vec<u32>>> {
    let outputs = match run_reference(case) {
        Ok(o) => o,
        Err(e) => panic!("{}: reference failed: {e}", case.program.name),
    };
    outputs
        .into_iter()
        .map(|b| {
            b.map(|b| {
                b.into_iter()
                    .map(|w| {
                        u32::try_from(w).unwrap_or_else(|_| {
                            panic!("{}: element {w:#x} above 32 bits", case.program.name)
                        })
                    })
                    .collect()
            })
        })
        .collect()
}

/// The hand-written 64-bit kernel: its expectations on the reference, bit
/// for bit, and every target with guards (targets that cannot express it
/// skip it).
#[test]
fn hand_written_wide_adversarial_kernel() {
    let (case, want) = wide_wild();
    check_valid(&case.program);
    let out = match run_reference(&case) {
        Ok(o) => o,
        Err(e) => panic!("wide_wild: reference failed: {e}"),
    };
    for (param, want) in [3, 4, 5, 6, 7, 8].into_iter().zip(&want) {
        assert_eq!(
            out[param].as_deref(),
            Some(&want[..]),
            "wide_wild `{}`",
            case.program.params[param].name()
        );
    }
    // The casts saturate both ways and take NaN to 0.
    let ci = &want[4];
    assert!(ci.contains(&i64::MAX.cast_unsigned()) && ci.contains(&i64::MIN.cast_unsigned()));
    assert!(ci.contains(&0) && want[5].contains(&u64::from(u32::MAX)));
    let failures = run_everywhere(&case);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
