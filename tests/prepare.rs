//! The middle layer's pre-emission rewrites (`vyre::mid::prepare`):
//! unrolling, folding and private arrays to locals. Each rewritten program
//! must validate and compute exactly what the original computes on the
//! reference interpreter (which runs programs as written).

use vyre::backend::reference::{RefArg, run};
use vyre::ir::{Access, BufRef, DataType, Expr, Node, Program, ProgramBuilder, walk_nodes};
use vyre::mid::prepare;

/// Runs `p` on the reference with `x` (read-only, f32 bits) and an output of
/// `out_len` words; returns the output.
fn outputs(p: &Program, x: &[u32], out_len: usize, threads: u32) -> Vec<u32> {
    let mut x = x.to_vec();
    let mut out = vec![0xdead_beef_u32; out_len];
    run(
        p,
        [threads.div_ceil(p.workgroup_size[0]), 1, 1],
        &mut [RefArg::Buffer(&mut x), RefArg::Buffer(&mut out)],
    )
    .expect("run");
    out
}

fn count(p: &Program, f: impl Fn(&Node) -> bool) -> usize {
    let mut n = 0;
    walk_nodes(&p.body, &mut |node| n += usize::from(f(node)));
    n
}

fn f32s(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

/// A 4x4 register block: `acc[r * 4 + c] += x[i * 4 + r] * x[c]` under two
/// nested `#[unroll]` loops, then the block is stored.
fn register_block() -> Program {
    let mut b = ProgramBuilder::new("block", [4, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let acc = b.private("acc", DataType::F32, 16);
    let i = b.local("i", DataType::U32, false);
    let r = b.local("r", DataType::U32, false);
    let c = b.local("c", DataType::U32, false);
    let a = b.local("a", DataType::F32, false);
    let r2 = b.local("r2", DataType::U32, false);
    let acc_b = BufRef::Private(acc);
    let at = |r, c| Expr::local(r).mul(Expr::u32(4)).add(Expr::local(c));
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.for_step(r, Expr::u32(0), Expr::u32(4), 1, true, |blk| {
            // `a` is defined in the unrolled body: one definition per copy.
            blk.let_(
                a,
                Expr::load(
                    BufRef::Param(x),
                    Expr::local(i).mul(Expr::u32(4)).add(Expr::local(r)),
                ),
            );
            blk.for_step(c, Expr::u32(0), Expr::u32(4), 1, true, |blk| {
                blk.store(
                    acc_b,
                    at(r, c),
                    Expr::load(acc_b, at(r, c))
                        .add(Expr::local(a).mul(Expr::load(BufRef::Param(x), Expr::local(c)))),
                );
            });
        });
        blk.for_step(r2, Expr::u32(0), Expr::u32(16), 1, true, |blk| {
            blk.store(
                BufRef::Param(out),
                Expr::local(i).mul(Expr::u32(16)).add(Expr::local(r2)),
                Expr::load(acc_b, Expr::local(r2)),
            );
        });
    });
    b.finish()
}

#[test]
fn an_unrolled_register_block_becomes_locals_and_computes_the_same() {
    let p = register_block();
    let q = prepare(&p).into_owned();
    q.validate().expect("the prepared program validates");
    assert!(
        q.private.is_empty(),
        "every index is constant: no array left"
    );
    assert_eq!(count(&q, |n| matches!(n, Node::For { .. })), 0);
    // Four definitions of `a`, each of its own local.
    let lets_of_a: Vec<_> = q
        .body
        .iter()
        .filter_map(|n| match n {
            Node::Let { local, .. }
                if q.locals[*local as usize].name == "a"
                    || q.locals[*local as usize].name.starts_with("a_u") =>
            {
                Some(*local)
            }
            _ => None,
        })
        .collect();
    assert_eq!(lets_of_a.len(), 4);
    let mut distinct = lets_of_a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);

    let x = f32s(&(0..16).map(|v| v as f32 * 0.5 - 3.0).collect::<Vec<_>>());
    let want = outputs(&p, &x, 64, 4);
    assert_eq!(outputs(&q, &x, 64, 4), want);
    // And the value is what the algebra says (block of invocation 1, r=2, c=3).
    let xf: Vec<f32> = x.iter().map(|b| f32::from_bits(*b)).collect();
    assert_eq!(f32::from_bits(want[16 + 2 * 4 + 3]), xf[4 + 2] * xf[3]);
}

#[test]
fn literal_indices_past_the_end_fold_to_the_languages_rule() {
    let mut b = ProgramBuilder::new("past", [1, 1, 1]);
    let x = b.buffer("x", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let t = b.private("t", DataType::U32, 2);
    let tb = BufRef::Private(t);
    b.body(|blk| {
        blk.store(tb, Expr::u32(0), Expr::load(BufRef::Param(x), Expr::u32(0)));
        // Dropped: past the end.
        blk.store(tb, Expr::u32(2), Expr::u32(7));
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::load(tb, Expr::u32(0)),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(1),
            Expr::load(tb, Expr::u32(1)),
        );
        // Reads 0: past the end (an `i32` index reinterpreted as `u32`).
        blk.store(
            BufRef::Param(out),
            Expr::u32(2),
            Expr::load(tb, Expr::i32(-1)),
        );
    });
    let p = b.finish();
    let q = prepare(&p).into_owned();
    q.validate().expect("valid");
    assert!(q.private.is_empty());
    assert_eq!(outputs(&q, &[41], 3, 1), vec![41, 0, 0]);
    assert_eq!(outputs(&p, &[41], 3, 1), vec![41, 0, 0]);
}

#[test]
fn a_local_of_the_unrolled_body_keeps_the_last_iterations_value_after_the_loop() {
    let mut b = ProgramBuilder::new("last", [1, 1, 1]);
    let _x = b.buffer("x", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let k = b.local("k", DataType::U32, false);
    let sq = b.local("sq", DataType::U32, false);
    let sum = b.local("sum", DataType::U32, true);
    b.body(|blk| {
        blk.let_(sum, Expr::u32(0));
        blk.let_(sq, Expr::u32(100));
        blk.for_step(k, Expr::u32(1), Expr::u32(10), 3, true, |blk| {
            blk.let_(sq, Expr::local(k).mul(Expr::local(k)));
            blk.assign(sum, Expr::local(sum).add(Expr::local(sq)));
            // A literal condition once `k` is known: folded away.
            blk.if_(Expr::local(k).gt(Expr::u32(5)), |blk| {
                blk.assign(sum, Expr::local(sum).add(Expr::u32(1000)));
            });
        });
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::local(sum));
        blk.store(BufRef::Param(out), Expr::u32(1), Expr::local(sq));
    });
    let p = b.finish();
    let q = prepare(&p).into_owned();
    q.validate().expect("valid");
    assert_eq!(count(&q, |n| matches!(n, Node::If { .. })), 0);
    // k = 1, 4, 7: 1 + 16 + 49 + 1000 (k = 7 > 5); sq is 49 after the loop.
    assert_eq!(outputs(&p, &[0], 2, 1), vec![1066, 49]);
    assert_eq!(outputs(&q, &[0], 2, 1), vec![1066, 49]);
}

#[test]
fn an_array_indexed_at_run_time_stays_an_array_and_the_rest_are_renumbered() {
    let mut b = ProgramBuilder::new("mixed", [1, 1, 1]);
    let _x = b.buffer("x", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let fixed = b.private("fixed", DataType::U32, 2);
    let dynamic = b.private("dynamic", DataType::U32, 4);
    let k = b.local("k", DataType::U32, false);
    b.body(|blk| {
        blk.store(BufRef::Private(fixed), Expr::u32(1), Expr::u32(5));
        blk.for_(k, Expr::u32(0), Expr::u32(4), |blk| {
            blk.store(BufRef::Private(dynamic), Expr::local(k), Expr::local(k));
        });
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::load(BufRef::Private(fixed), Expr::u32(1)),
        );
    });
    let p = b.finish();
    let q = prepare(&p).into_owned();
    q.validate().expect("valid");
    assert_eq!(q.private.len(), 1);
    assert_eq!(q.private[0].name, "dynamic");
    let mut refs = Vec::new();
    walk_nodes(&q.body, &mut |n| {
        if let Node::Store {
            buf: BufRef::Private(id),
            ..
        } = n
        {
            refs.push(*id);
        }
    });
    assert_eq!(refs, vec![0], "`dynamic` is now private array 0");
}

#[test]
fn a_program_without_unrolling_or_private_arrays_is_borrowed() {
    let mut b = ProgramBuilder::new("plain", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::u32(1).add(Expr::u32(2)),
        );
    });
    let p = b.finish();
    assert!(matches!(prepare(&p), std::borrow::Cow::Borrowed(_)));
}

/// Folding keeps the widened normal form: a narrow store of a constant
/// (`out[0] = 300 as u8`, widened to `Cast(u8, 300u32)`) stays a cast
/// instead of becoming a `u8` literal, also into a private array that
/// becomes `u32` locals (which once failed validation: "assigning a `u16`
/// to `p_0: u32`").
#[test]
fn folding_keeps_narrow_stores_in_the_widened_form() {
    let mut b = ProgramBuilder::new("narrow", [1, 1, 1]);
    let x = b.buffer("x", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U8, Access::ReadWrite);
    let p = b.private("p", DataType::U16, 2);
    let k = b.local("k", DataType::I32, false);
    let lit = |l| Expr::Lit(l);
    b.body(|blk| {
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::u32(300).cast(DataType::U8),
        );
        blk.for_(
            k,
            Expr::i32(0),
            Expr::load(BufRef::Param(x), Expr::u32(0)).cast(DataType::I32),
            |blk| {
                blk.store(
                    BufRef::Private(p),
                    Expr::u32(3).rem(Expr::u32(2)),
                    lit(vyre::ir::Literal::U16(0xfffe)),
                );
            },
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(1),
            Expr::load(BufRef::Private(p), Expr::u32(1)).cast(DataType::U8),
        );
    });
    let program = b.finish();
    let prepared = prepare(&program);
    assert!(prepared.private.is_empty(), "scalarised");
    if let Err(e) = prepared.validate() {
        panic!("{e:?}\n{}", vyre::lang::print(&prepared));
    }
    // Shape (c) stays: every store into `out` is a cast to `u8`.
    walk_nodes(&prepared.body, &mut |n| {
        if let Node::Store { value, .. } = n {
            assert!(matches!(value, Expr::Cast(DataType::U8, _)), "{value:?}");
        }
    });
    let mut x = [1u32];
    let mut o = [0u32; 2];
    let mut po = [0u32; 2];
    run(
        &program,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut x), RefArg::Buffer(&mut o)],
    )
    .expect("run");
    run(
        &prepared,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut x), RefArg::Buffer(&mut po)],
    )
    .expect("run prepared");
    assert_eq!(o, [44, 0xfe]);
    assert_eq!(po, o);
}
