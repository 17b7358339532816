//! Small hand-built programs that several test suites and benches share.

use vyre::ir::{Access, BufRef, DataType, Expr, Program, ProgramBuilder};

/// `y[i] = a * x[i] + y[i]` for `i < y.len()` (`i = global_id().x`), with
/// `workgroup` invocations per workgroup: parameters `a: f32`, `x: &[f32]`,
/// `y: &mut [f32]`.
#[must_use]
pub fn saxpy(workgroup: u32) -> Program {
    let mut b = ProgramBuilder::new("saxpy", [workgroup, 1, 1]);
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
