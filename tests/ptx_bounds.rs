//! Bounds checks in the emitted PTX: present by default, elided exactly
//! where a dominating guard proves the index in range.

mod ptx_support;

use ptx_support::*;
use vyre::DispatchConfig;
use vyre::driver::BoundsChecks;
use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
use vyre_testkit::programs::{saxpy4, sum_partials};

/// Memory instructions (`ld`/`st`/`atom`/`red` on global or shared), split
/// into (predicated, unpredicated).
/// The unpredicated accesses that follow a branch to a vector group's
/// per-element tail (`@!%p bra $L_vtail_N`): whole groups, checked by
/// that branch.
fn branch_guarded(ptx: &str) -> Vec<String> {
    let lines: Vec<&str> = ptx.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("@!%p") && w[0].contains("bra $L_vtail_"))
        .map(|w| w[1].to_string())
        .collect()
}

fn accesses(ptx: &str) -> (Vec<String>, Vec<String>) {
    let mut guarded = Vec::new();
    let mut plain = Vec::new();
    for line in ptx.lines().map(str::trim) {
        let (pred, rest) = match line.strip_prefix('@') {
            Some(r) => (true, r.split_once(' ').map_or("", |(_, b)| b)),
            None => (false, line),
        };
        let is_mem = [
            "ld.global",
            "st.global",
            "ld.shared",
            "st.shared",
            "atom.",
            "red.",
        ]
        .iter()
        .any(|p| rest.starts_with(p));
        if is_mem {
            if pred {
                guarded.push(rest.to_string());
            } else {
                plain.push(rest.to_string());
            }
        }
    }
    (guarded, plain)
}

#[test]
fn saxpy_guard_proves_only_the_guarded_buffer() {
    let ptx = emit(&saxpy(), "sm_80");
    let (guarded, plain) = accesses(&ptx);
    // x[i] is not proven by `i < y.len()`: checked, via the read-only path.
    assert_eq!(guarded.len(), 1, "{ptx}");
    assert!(guarded[0].starts_with("ld.global.nc.f32"), "{ptx}");
    // y[i] load and store are proven.
    assert_eq!(plain.len(), 2, "{ptx}");
    assert!(
        plain.iter().any(|l| l.starts_with("ld.global.f32")),
        "{ptx}"
    );
    assert!(
        plain.iter().any(|l| l.starts_with("st.global.f32")),
        "{ptx}"
    );
    // The x check compares against x's length parameter.
    assert!(ptx.contains("ld.param.u32 %r1, [vyre_p1_len]"), "{ptx}");
    assert!(ptx.contains("setp.lt.u32 %p1, %r0, %r1;"), "{ptx}");
}

#[test]
fn scalar_guard_proves_nothing() {
    let mut b = ProgramBuilder::new("scalar_guard", [64, 1, 1]);
    let n = b.scalar("n", DataType::U32);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::param(n)), |t| {
            t.store(BufRef::Param(y), Expr::local(i), Expr::f32(1.0));
        });
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_70");
    let (guarded, plain) = accesses(&ptx);
    assert_eq!((guarded.len(), plain.len()), (1, 0), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn early_return_guard_covers_the_rest_of_the_block() {
    let mut b = ProgramBuilder::new("early_return", [64, 1, 1]);
    let x = b.buffer("x", DataType::U32, Access::Read);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(
            Expr::local(i)
                .ge(Expr::len(y))
                .or(Expr::len(x).le(Expr::local(i))),
            |t| {
                t.return_();
            },
        );
        let v = Expr::load(BufRef::Param(x), Expr::local(i));
        blk.store(BufRef::Param(y), Expr::local(i), v);
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_70");
    let (guarded, plain) = accesses(&ptx);
    assert!(guarded.is_empty(), "{ptx}");
    assert_eq!(plain.len(), 2, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn reassigned_index_is_not_proven() {
    let mut b = ProgramBuilder::new("reassigned", [64, 1, 1]);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |t| {
            t.assign(i, Expr::local(i).add(Expr::u32(1)));
            t.store(BufRef::Param(y), Expr::local(i), Expr::u32(5));
        });
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_70");
    let (guarded, plain) = accesses(&ptx);
    assert_eq!((guarded.len(), plain.len()), (1, 0), "{ptx}");
}

#[test]
fn signed_comparison_proves_nothing() {
    // `j < 8` on i32 holds for negative j, which index out of range.
    let mut b = ProgramBuilder::new("signed_guard", [64, 1, 1]);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::U32, 8);
    let j = b.local("j", DataType::I32, false);
    b.body(|blk| {
        blk.let_(j, Expr::global_id_x().cast(DataType::I32).sub(Expr::i32(4)));
        blk.if_(Expr::local(j).lt(Expr::i32(8)), |t| {
            t.store(BufRef::Shared(tile), Expr::local(j), Expr::u32(1));
        });
        blk.barrier();
        blk.store(
            BufRef::Param(y),
            Expr::u32(0),
            Expr::load(BufRef::Shared(tile), Expr::u32(3)),
        );
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_70");
    let (guarded, _) = accesses(&ptx);
    assert!(guarded.iter().any(|l| l.starts_with("st.shared")), "{ptx}");
    // tile[3] with a constant index in range needs no check; y[0] does.
    assert!(guarded.iter().all(|l| !l.starts_with("ld.shared")), "{ptx}");
    assert!(guarded.iter().any(|l| l.starts_with("st.global")), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn for_range_over_shared_length_is_proven() {
    let mut b = ProgramBuilder::new("for_shared", [64, 1, 1]);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::F32, 128);
    let small = b.shared("small", DataType::F32, 64);
    let k = b.local("k", DataType::U32, false);
    let acc = b.local("acc", DataType::F32, true);
    b.body(|blk| {
        blk.let_(acc, Expr::f32(0.0));
        blk.for_(k, Expr::u32(0), Expr::u32(128), |f| {
            let v = Expr::load(BufRef::Shared(tile), Expr::local(k))
                .add(Expr::load(BufRef::Shared(small), Expr::local(k)));
            f.assign(acc, Expr::local(acc).add(v));
        });
        blk.for_(k, Expr::u32(0), Expr::len(y), |f| {
            f.store(BufRef::Param(y), Expr::local(k), Expr::local(acc));
        });
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_70");
    let (guarded, plain) = accesses(&ptx);
    // tile[k] (len 128) proven, small[k] (len 64) not, y[k] proven.
    assert_eq!(guarded.len(), 1, "{ptx}");
    assert!(guarded[0].starts_with("ld.shared"), "{ptx}");
    assert_eq!(plain.len(), 2, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn unchecked_and_always_policies() {
    let mut p = saxpy();
    let always = DispatchConfig::default().with_bounds_checks(BoundsChecks::Always);
    let ptx = vyre::backend::ptx::emit_ptx(&p, &always).unwrap();
    let (guarded, plain) = accesses(&ptx);
    assert_eq!((guarded.len(), plain.len()), (3, 0), "{ptx}");

    p.unchecked = true;
    let ptx = emit(&p, "sm_70");
    let (guarded, plain) = accesses(&ptx);
    assert_eq!((guarded.len(), plain.len()), (0, 3), "{ptx}");
    // `Always` checks even unchecked kernels.
    let ptx = vyre::backend::ptx::emit_ptx(&p, &always).unwrap();
    assert_eq!(accesses(&ptx).0.len(), 3, "{ptx}");
}

#[test]
fn index_math_stays_32_bit() {
    let ptx = emit(&saxpy(), "sm_90");
    // Only address formation touches 64-bit registers.
    for line in ptx.lines().map(str::trim) {
        if line.contains("%rd") {
            let ok = [
                "ld.param.u64",
                "cvta.to.global.u64",
                "mul.wide.u32",
                "add.s64",
                ".reg",
            ]
            .iter()
            .any(|p| line.starts_with(p))
                || line.contains("[%rd");
            assert!(ok, "unexpected 64-bit instruction: {line}\n{ptx}");
        }
    }
    assert!(ptx.contains(".version 7.8") && ptx.contains(".target sm_90"));
}

#[test]
fn static_ranges_prove_shared_indices() {
    // Tiled access: tile[ly * 16 + lx] with a 16x16 workgroup and a
    // 256-element tile needs no check; tile[lx + 250] does.
    let mut b = ProgramBuilder::new("tiles", [16, 16, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::F32, 256);
    let lx = b.local("lx", DataType::U32, false);
    let ly = b.local("ly", DataType::U32, false);
    let k = b.local("k", DataType::I32, false);
    let acc = b.local("acc", DataType::F32, true);
    let lid = |a| Expr::Builtin(vyre::ir::Builtin::LocalId, a);
    b.body(|blk| {
        blk.let_(lx, lid(vyre::ir::Axis::X));
        blk.let_(ly, lid(vyre::ir::Axis::Y));
        blk.store(
            BufRef::Shared(tile),
            Expr::local(ly).mul(Expr::u32(16)).add(Expr::local(lx)),
            Expr::f32(1.0),
        );
        blk.barrier();
        blk.let_(acc, Expr::f32(0.0));
        blk.for_(k, Expr::i32(0), Expr::i32(16), |f| {
            let idx = Expr::local(k)
                .cast(DataType::U32)
                .mul(Expr::u32(16))
                .add(Expr::local(lx));
            f.assign(
                acc,
                Expr::local(acc).add(Expr::load(BufRef::Shared(tile), idx)),
            );
        });
        let far = Expr::load(BufRef::Shared(tile), Expr::local(lx).add(Expr::u32(250)));
        blk.store(
            BufRef::Param(out),
            Expr::local(lx),
            Expr::local(acc).add(far),
        );
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_80");
    let (guarded, plain) = accesses(&ptx);
    let guarded_shared: Vec<_> = guarded.iter().filter(|l| l.contains(".shared")).collect();
    assert_eq!(
        guarded_shared.len(),
        1,
        "only tile[lx + 250] is checked:\n{ptx}"
    );
    assert_eq!(
        plain.iter().filter(|l| l.contains(".shared")).count(),
        2,
        "{ptx}"
    );
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn aligned_offsets_and_len_locals() {
    // let i = gid * 4; if i + 3 < y.len() { y[i], y[i+1], y[i+3] } : proven
    // (i is a multiple of 4, so i + 3 cannot wrap); x[i] is not.
    // let n = y.len(); let j = gid; if j + 1 < n { y[j + 1] } : j is not
    // aligned, so `j + 1 < n` proves nothing (j + 1 may wrap to 0).
    let mut b = ProgramBuilder::new("aligned", [64, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let n = b.local("n", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let k = b.local("k", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x().mul(Expr::u32(4)));
        blk.let_(n, Expr::len(y));
        blk.if_(Expr::local(i).add(Expr::u32(3)).lt(Expr::local(n)), |t| {
            t.store(
                BufRef::Param(y),
                Expr::local(i),
                Expr::load(BufRef::Param(x), Expr::local(i)),
            );
            t.store(
                BufRef::Param(y),
                Expr::local(i).add(Expr::u32(1)),
                Expr::f32(1.0),
            );
            t.store(
                BufRef::Param(y),
                Expr::local(i).add(Expr::u32(3)),
                Expr::f32(3.0),
            );
        });
        blk.let_(j, Expr::global_id_x());
        blk.if_(Expr::local(j).add(Expr::u32(1)).lt(Expr::local(n)), |t| {
            t.store(
                BufRef::Param(y),
                Expr::local(j).add(Expr::u32(1)),
                Expr::f32(2.0),
            );
        });
        // A grid-stride loop: k is reassigned in the body, but the guard
        // holds at the top of each iteration until the reassignment.
        blk.let_(k, Expr::global_id_x().mul(Expr::u32(4)));
        blk.while_(Expr::local(k).add(Expr::u32(3)).lt(Expr::local(n)), |w| {
            w.store(
                BufRef::Param(y),
                Expr::local(k).add(Expr::u32(2)),
                Expr::f32(4.0),
            );
            w.assign(k, Expr::local(k).add(Expr::u32(1024)));
            w.store(BufRef::Param(y), Expr::local(k), Expr::f32(5.0));
        });
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_80");
    let (guarded, plain) = accesses(&ptx);
    // Checked: x[i], y[j + 1], y[k] after the reassignment.
    assert_eq!(guarded.len(), 3, "{ptx}");
    assert!(
        guarded.iter().any(|l| l.starts_with("ld.global.nc")),
        "{ptx}"
    );
    // Proven: y[i], y[i+1], y[i+3], y[k+2].
    assert_eq!(plain.len(), 4, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn saxpy4_uses_16_byte_accesses() {
    let p = saxpy4();
    let ptx = emit(&p, "sm_90");
    // y is proven by `i + 3 < y.len()` (i = gid * 4 cannot wrap): plain
    // vector load and store. x is not: a vector load after a branch that
    // takes the per-element tail unless all four are in range.
    assert!(ptx.contains("ld.global.v4.f32 {"), "{ptx}");
    assert!(
        ptx.lines()
            .any(|l| l.trim().starts_with("st.global.v4.f32 [")),
        "{ptx}"
    );
    let xv: Vec<&str> = ptx
        .lines()
        .filter(|l| l.contains("ld.global.nc.v4.f32"))
        .collect();
    assert_eq!(xv.len(), 1, "{ptx}");
    let checked = branch_guarded(&ptx);
    assert_eq!(checked.len(), 1, "{ptx}");
    assert!(checked[0].starts_with("ld.global.nc.v4.f32"), "{ptx}");
    // The tail: the first three elements, each under its own predicate.
    let (guarded, _) = accesses(&ptx);
    for off in ["+0]", "+4]", "+8]"] {
        assert_eq!(
            guarded
                .iter()
                .filter(|l| l.starts_with("ld.global.nc.f32") && l.ends_with(&format!("{off};")))
                .count(),
            1,
            "{off}\n{ptx}"
        );
    }
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn grid_stride_sum_uses_16_byte_loads() {
    let p = sum_partials();
    let ptx = emit(&p, "sm_90");
    // `while i + 3 < n` with n = x.len() and i a multiple of 4 proves the
    // four loads: one unpredicated vector load.
    let v: Vec<&str> = ptx.lines().filter(|l| l.contains(".v4.")).collect();
    assert_eq!(v.len(), 1, "{ptx}");
    assert!(v[0].trim().starts_with("ld.global.nc.v4.f32"), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn store_group_reading_written_elements_is_not_vectorized() {
    // y[i] = 1; y[i+1] = y[i] + 1; ... reads what the group already wrote:
    // deferring the stores would change the result.
    let mut b = ProgramBuilder::new("chain", [64, 1, 1]);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x().mul(Expr::u32(4)));
        blk.store(BufRef::Param(y), Expr::local(i), Expr::f32(1.0));
        for k in 1..4u32 {
            let prev = if k == 1 {
                Expr::local(i)
            } else {
                Expr::local(i).add(Expr::u32(k - 1))
            };
            let v = Expr::load(BufRef::Param(y), prev).add(Expr::f32(1.0));
            blk.store(BufRef::Param(y), Expr::local(i).add(Expr::u32(k)), v);
        }
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_80");
    assert!(!ptx.contains(".v4."), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

/// `acc[idx] = 1.0; out[i] = acc[idx2]` with `acc` a private array of 8.
fn private_access(idx: Expr, idx2: Expr) -> vyre::ir::Program {
    let mut b = ProgramBuilder::new("private_access", [64, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    // Param 1: a run-time index.
    b.scalar("n", DataType::U32);
    let acc = b.private("acc", DataType::F32, 8);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.store(BufRef::Private(acc), idx, Expr::f32(1.0));
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            t.store(
                BufRef::Param(out),
                Expr::local(i),
                Expr::load(BufRef::Private(acc), idx2),
            );
        });
    });
    b.finish()
}

/// Loads and stores of `f32` elements on the local space, counted as
/// (predicated, unpredicated).
fn local_accesses(ptx: &str) -> (usize, usize) {
    let mut guarded = 0;
    let mut plain = 0;
    for line in ptx.lines().map(str::trim) {
        // The zeroing stores at the start use `.b32` and are not accesses.
        if !(line.contains("ld.local.f32") || line.contains("st.local.f32")) {
            continue;
        }
        if line.starts_with('@') {
            guarded += 1;
        } else {
            plain += 1;
        }
    }
    (guarded, plain)
}

#[test]
fn private_constant_index_in_range_is_not_checked() {
    let p = private_access(Expr::u32(3), Expr::u32(7));
    // Through the middle layer, constant indices make the array registers.
    let prepared = emit(&p, "sm_80");
    assert!(!prepared.contains(".local"), "{prepared}");
    let ptx = emit_unprepared(&p, "sm_80");
    assert_eq!(local_accesses(&ptx), (0, 2), "{ptx}");
    assert!(
        !ptx.contains(", 8;"),
        "no compare against the length: {ptx}"
    );
    // Only the `i < out.len()` guard compares.
    assert_eq!(ptx.matches("setp.").count(), 1, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn private_run_time_index_is_checked() {
    let idx = Expr::param(1);
    let p = private_access(idx.clone(), idx);
    let ptx = emit(&p, "sm_80");
    assert_eq!(local_accesses(&ptx), (2, 0), "{ptx}");
    assert_eq!(
        ptx.lines()
            .filter(|l| l.contains("setp.lt.u32") && l.trim_end().ends_with(", 8;"))
            .count(),
        2,
        "{ptx}"
    );
    assemble_all(&p, &DispatchConfig::default());
    // An out-of-range constant keeps its check (the store is dropped, the
    // load yields 0).
    let p = private_access(Expr::u32(8), Expr::u32(9));
    let ptx = emit_unprepared(&p, "sm_80");
    assert_eq!(local_accesses(&ptx), (2, 0), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // Unchecked kernels check nothing.
    let mut p = private_access(Expr::param(1), Expr::param(1));
    p.unchecked = true;
    let ptx = emit(&p, "sm_80");
    assert_eq!(local_accesses(&ptx), (0, 2), "{ptx}");
}

#[test]
fn narrow_checks_compare_elements() {
    // x: &[u16] read at i: checked against x.len() (elements, as the
    // launcher passes it), addressed at 2 * i; y: &mut [u8] proven by the
    // guard, addressed at i; sh: [i8; 100] indexed by local_id() < 128:
    // checked against 100.
    let mut b = ProgramBuilder::new("narrow_checks", [128, 1, 1]);
    let x = b.buffer("x", DataType::U16, Access::Read);
    let y = b.buffer("y", DataType::U8, Access::ReadWrite);
    let sh = b.shared("sh", DataType::I8, 100);
    let i = b.local("i", DataType::U32, false);
    let l = Expr::Builtin(vyre::ir::Builtin::LocalId, vyre::ir::Axis::X);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.store(
            BufRef::Shared(sh),
            l.clone(),
            Expr::i32(-3).cast(DataType::I8),
        );
        blk.barrier();
        blk.if_(Expr::local(i).lt(Expr::len(y)), |t| {
            let v = Expr::load(BufRef::Param(x), Expr::local(i))
                .cast(DataType::U32)
                .add(Expr::load(BufRef::Shared(sh), l.clone()).cast(DataType::U32));
            t.store(BufRef::Param(y), Expr::local(i), v.cast(DataType::U8));
        });
    });
    let p = b.finish();
    let ptx = emit(&p, "sm_80");
    let (guarded, plain) = accesses(&ptx);
    assert_eq!(guarded.len(), 3, "{ptx}");
    assert!(guarded[0].starts_with("st.shared.u8"), "{ptx}");
    assert!(guarded[1].starts_with("ld.global.nc.u16"), "{ptx}");
    assert!(guarded[2].starts_with("ld.shared.s8"), "{ptx}");
    assert_eq!(plain.len(), 1, "{ptx}");
    assert!(plain[0].starts_with("st.global.u8"), "{ptx}");
    assert!(ptx.contains("ld.param.u32 %r1, [vyre_p0_len]"), "{ptx}");
    assert!(ptx.contains("setp.lt.u32 %p2, %r0, %r1;"), "{ptx}");
    assert!(ptx.contains("mul.wide.u32 %rd4, %r0, 2;"), "{ptx}");
    assert!(ptx.contains("mul.wide.u32 %rd6, %r0, 1;"), "{ptx}");
    let shared_checks: Vec<&str> = ptx
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("setp.lt.u32") && l.ends_with(", 100;"))
        .collect();
    assert_eq!(shared_checks.len(), 2, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn narrow_vector_groups_check_every_element_index() {
    // Eight bf16 at a multiple of 8, guarded only by i < y.len(): the x
    // group compares i + 0..7 against x.len() (elements), the y group
    // against y.len().
    let p = narrow_vector_program(DataType::BF16, 8, 8, false);
    let ptx = emit(&p, "sm_90");
    let x_len = ptx
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("setp.lt.u32") && l.ends_with(", %r1;"))
        .count();
    assert!(ptx.contains("ld.param.u32 %r1, [vyre_p0_len]"), "{ptx}");
    assert_eq!(x_len, 8, "{ptx}");
    for k in 1..8 {
        assert!(
            ptx.lines()
                .any(|l| l.trim().starts_with("add.s32") && l.trim().ends_with(&format!(", {k};"))),
            "{ptx}"
        );
    }
    let (guarded, plain) = accesses(&ptx);
    // The vector load and store behind the branch to their tails (which
    // compares the last element, i + 7), and 7 + 7 predicated accesses
    // there (elements 0 to 6: the last is out of range on that path).
    assert_eq!((guarded.len(), plain.len()), (14, 2), "{ptx}");
    assert_eq!(branch_guarded(&ptx).len(), 2, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}
