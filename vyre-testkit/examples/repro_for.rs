//! Reference reproducer (found by the differential test, seed 24309 on
//! wgpu): every invocation stores `0.0` at its own index inside a
//! one-iteration `for` loop; the reference leaves most elements unchanged.
//!
//! `cargo run -p vyre-testkit --example repro_for`
use vyre::backend::reference::{RefArg, RunOptions, run, run_with};
use vyre::ir::*;

fn main() {
    for (start, end) in [(0i32, 1i32), (2_147_483_645, 2_147_483_646)] {
        let mut b = ProgramBuilder::new("t", [7, 1, 1]);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let g = b.local("g", DataType::U32, false);
        let i = b.local("i", DataType::I32, false);
        let bi = |x, a| Expr::Builtin(x, a);
        b.body(|blk| {
            // g = (wg.x + wg.y * nwg.x) * 7 + lid.x
            blk.let_(
                g,
                bi(Builtin::WorkgroupId, Axis::X)
                    .add(bi(Builtin::WorkgroupId, Axis::Y).mul(bi(Builtin::NumWorkgroups, Axis::X)))
                    .mul(Expr::u32(7))
                    .add(bi(Builtin::LocalId, Axis::X)),
            );
            blk.for_(i, Expr::i32(start), Expr::i32(end), |l| {
                l.store(
                    BufRef::Param(out),
                    Expr::local(g).cast(DataType::I32),
                    Expr::f32(0.0),
                );
            });
        });
        let p = b.finish();
        p.validate().expect("valid");
        let mut data = vec![1.0f32.to_bits(); 28];
        run(&p, [2, 2, 1], &mut [RefArg::Buffer(&mut data)]).expect("run");
        let mut d2 = vec![1.0f32.to_bits(); 28];
        let o = RunOptions {
            max_steps_per_invocation: Some(2_000_000),
            threads: None,
            ..RunOptions::default()
        };
        run_with(&p, [2, 2, 1], &mut [RefArg::Buffer(&mut d2)], &o).expect("run");
        println!(
            "with a step limit: {} of 28 not written",
            d2.iter().filter(|b| f32::from_bits(**b) == 1.0).count()
        );
        let ones = data.iter().filter(|b| f32::from_bits(**b) == 1.0).count();
        println!("for i in {start}..{end}: {ones} of 28 elements not written (want 0)");
    }
}
