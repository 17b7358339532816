//! Small hand-built programs that several test suites and benches share.

use vyre::ir::{Access, Axis, BufRef, Builtin, DataType, Expr, Program, ProgramBuilder};

/// `y[i] = a * x[i] + y[i]` for `i < y.len()` (`i = global_id().x`), with
/// `workgroup` invocations per workgroup: parameters `a: f32`, `x: &[f32]`,
/// `y: &mut [f32]`.
#[must_use]
pub fn saxpy(workgroup: u32) -> Program {
    saxpy_with_doc(workgroup, None)
}

/// The doc comment of the `saxpy` kernel in the `.vyre` examples.
pub const SAXPY_DOC: &str = "y = a * x + y";

/// [`saxpy`] with the doc comment [`SAXPY_DOC`], as the front end builds
/// it from `/// y = a * x + y` above the kernel.
#[must_use]
pub fn documented_saxpy(workgroup: u32) -> Program {
    saxpy_with_doc(workgroup, Some(SAXPY_DOC))
}

fn saxpy_with_doc(workgroup: u32, doc: Option<&str>) -> Program {
    let mut b = ProgramBuilder::new("saxpy", [workgroup, 1, 1]);
    if let Some(doc) = doc {
        b.doc(doc);
    }
    let a = b.scalar("a", DataType::F32);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
            let v = Expr::param(a)
                .mul(Expr::load(BufRef::Param(x), Expr::local(i)))
                .add(Expr::load(BufRef::Param(y), Expr::local(i)));
            then.store(BufRef::Param(y), Expr::local(i), v);
        });
    });
    b.finish()
}

/// saxpy, four consecutive elements per invocation (16-byte accesses),
/// with a scalar tail loop: the bench kernel `saxpy4`. Parameters as
/// [`saxpy`], 256 invocations per workgroup.
pub fn saxpy4() -> Program {
    let mut b = ProgramBuilder::new("saxpy4", [256, 1, 1]);
    let a = b.scalar("a", DataType::F32);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let at = |e: Expr| e;
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x().mul(Expr::u32(4)));
        blk.if_else(
            Expr::local(i).add(Expr::u32(3)).lt(Expr::len(y)),
            |t| {
                for k in 0..4u32 {
                    let idx = || {
                        if k == 0 {
                            Expr::local(i)
                        } else {
                            Expr::local(i).add(Expr::u32(k))
                        }
                    };
                    let v = Expr::param(a)
                        .mul(Expr::load(BufRef::Param(x), at(idx())))
                        .add(Expr::load(BufRef::Param(y), idx()));
                    t.store(BufRef::Param(y), idx(), v);
                }
            },
            |e| {
                e.for_(j, Expr::local(i), Expr::len(y), |f| {
                    let v = Expr::param(a)
                        .mul(Expr::load(BufRef::Param(x), Expr::local(j)))
                        .add(Expr::load(BufRef::Param(y), Expr::local(j)));
                    f.store(BufRef::Param(y), Expr::local(j), v);
                });
            },
        );
    });
    b.finish()
}

/// Grid-stride sum with four accumulators and 16-byte loads, then a
/// shared-memory tree: `partials[workgroup]` (the bench kernel
/// `sum_partials`).
pub fn sum_partials() -> Program {
    let mut b = ProgramBuilder::new("sum_partials", [256, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let partials = b.buffer("partials", DataType::F32, Access::ReadWrite);
    let s = b.shared("s", DataType::F32, 256);
    let tid = b.local("tid", DataType::U32, false);
    let stride = b.local("stride", DataType::U32, false);
    let n = b.local("n", DataType::U32, false);
    let acc: Vec<_> = (0..4)
        .map(|k| b.local(format!("a{k}"), DataType::F32, true))
        .collect();
    let i = b.local("i", DataType::U32, true);
    let width = b.local("width", DataType::U32, true);
    let lid = Expr::Builtin(Builtin::LocalId, Axis::X);
    let wid = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
    let nwg = Expr::Builtin(Builtin::NumWorkgroups, Axis::X);
    b.body(|blk| {
        blk.let_(tid, lid);
        blk.let_(stride, nwg.mul(Expr::u32(1024)));
        blk.let_(n, Expr::len(x));
        for a in &acc {
            blk.let_(*a, Expr::f32(0.0));
        }
        blk.let_(
            i,
            wid.clone()
                .mul(Expr::u32(256))
                .add(Expr::local(tid))
                .mul(Expr::u32(4)),
        );
        blk.while_(Expr::local(i).add(Expr::u32(3)).lt(Expr::local(n)), |w| {
            for (k, a) in acc.iter().enumerate() {
                let idx = if k == 0 {
                    Expr::local(i)
                } else {
                    Expr::local(i).add(Expr::u32(k as u32))
                };
                w.assign(*a, Expr::local(*a).add(Expr::load(BufRef::Param(x), idx)));
            }
            w.assign(i, Expr::local(i).add(Expr::local(stride)));
        });
        blk.while_(Expr::local(i).lt(Expr::local(n)), |w| {
            w.assign(
                acc[0],
                Expr::local(acc[0]).add(Expr::load(BufRef::Param(x), Expr::local(i))),
            );
            w.assign(i, Expr::local(i).add(Expr::u32(1)));
        });
        let total = Expr::local(acc[0])
            .add(Expr::local(acc[1]))
            .add(Expr::local(acc[2]).add(Expr::local(acc[3])));
        blk.store(BufRef::Shared(s), Expr::local(tid), total);
        blk.barrier();
        blk.let_(width, Expr::u32(128));
        blk.while_(Expr::local(width).gt(Expr::u32(0)), |w| {
            w.if_(Expr::local(tid).lt(Expr::local(width)), |t| {
                let v = Expr::load(BufRef::Shared(s), Expr::local(tid)).add(Expr::load(
                    BufRef::Shared(s),
                    Expr::local(tid).add(Expr::local(width)),
                ));
                t.store(BufRef::Shared(s), Expr::local(tid), v);
            });
            w.barrier();
            w.assign(width, Expr::local(width).div(Expr::u32(2)));
        });
        blk.if_(Expr::local(tid).eq(Expr::u32(0)), |t| {
            t.store(
                BufRef::Param(partials),
                wid.clone(),
                Expr::load(BufRef::Shared(s), Expr::u32(0)),
            );
        });
    });
    b.finish()
}

/// `loop { barrier(); if local_id().x == 0 { break; } }` then
/// `out[0] = 1`, four invocations per workgroup (`out: &mut [u32]`). The
/// barrier comes before any branch, but on the second trip invocation 0
/// has left while the others wait: a divergent barrier, which validation
/// refuses (a loop body is only as uniform as its early exits) and a
/// walker that does not validate meets at run time.
#[must_use]
pub fn divergent_barrier() -> Program {
    let mut b = ProgramBuilder::new("diverge", [4, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.loop_(|body| {
            body.barrier();
            body.if_(
                Expr::Builtin(Builtin::LocalId, Axis::X).eq(Expr::u32(0)),
                |t| {
                    t.break_();
                },
            );
        });
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::u32(1));
    });
    b.finish()
}
