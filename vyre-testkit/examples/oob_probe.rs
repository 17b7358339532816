//! Minimal reproducer: a no-op store `out[g*3+1] = out[g*3+1]` inside two
//! nested data-dependent `for` loops changes other elements.
use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre::ir::*;

fn main() {
    let mut b = ProgramBuilder::new("t", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    let s = b.local("s", DataType::U32, false);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let st = b.local("st", DataType::U32, false);
    let z = b.local("z", DataType::U32, false);
    let own = |k: u32| Expr::local(g).mul(Expr::u32(3)).add(Expr::u32(k));
    let ld = |e: Expr| Expr::load(BufRef::Param(out), e);
    b.body(|blk| {
        blk.let_(g, Expr::Builtin(Builtin::WorkgroupId, Axis::X));
        blk.if_else(
            Expr::bool(true),
            |t| {
                t.let_(st, Expr::u32(1));
                t.for_(
                    i,
                    Expr::local(st),
                    Expr::local(st).add(ld(own(0)).bitand(Expr::u32(3))),
                    |l| {
                        l.let_(s, ld(own(0)));
                        l.for_(
                            j,
                            Expr::local(s),
                            Expr::local(s).add(ld(own(1)).bitand(Expr::u32(3))),
                            |m| {
                                m.store(BufRef::Param(out), own(1).cast(DataType::I32), ld(own(1)));
                            },
                        );
                    },
                );
            },
            |e| {
                e.let_(z, Expr::u32(0));
            },
        );
    });
    let p = b.finish();
    p.validate().expect("valid");
    let init: Vec<u32> = vec![
        3,
        0xFFFF_FFFF,
        7,
        0xFFFF_FFFE,
        3,
        2,
        1,
        0,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        20,
        21,
    ];
    let mut data = init.clone();
    run_with(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut data)],
        &RunOptions {
            max_steps_per_invocation: Some(10000),
            threads: Some(1),
        },
    )
    .expect("run");
    let changed: Vec<usize> = (0..data.len()).filter(|&k| data[k] != init[k]).collect();
    println!("changed elements: {changed:?}\nbefore {init:?}\nafter  {data:?}");
}
