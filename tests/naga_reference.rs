//! The hand-written expectations of the naga test programs agree with the
//! reference interpreter (vyre's semantic oracle), so the wgpu tests that
//! compare against both check the targets against the oracle.

mod naga_common;

#[test]
fn expectations_match_the_reference_interpreter() {
    let mut failures = Vec::new();
    for case in naga_common::all() {
        match naga_common::run_reference(&case) {
            Ok(got) => {
                for ((param, g), (_, want)) in got.iter().zip(&case.expected) {
                    // The interpreter computes transcendentals with Rust's
                    // libm, as the expectations do: exact everywhere.
                    if let Err(e) = naga_common::compare(
                        &case.program.name,
                        *param,
                        g,
                        want,
                        vyre_testkit::Tolerance::FloatExact,
                    ) {
                        failures.push(e);
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.program.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Regression test for a reference-interpreter bug these tests found: a
/// cast that needs no code (`i32 <-> u32`, `bool` to an integer) released
/// its operand's temporary register while returning it, so the next
/// temporary overwrote the cast's value: `(x < y) as i32 + (x == y) as i32`
/// with `x == y == 0` gave 2, and `out[(g + 0) as i32] = g + 1` stored
/// nowhere. The wgpu targets got both right.
#[test]
fn reference_no_code_casts_keep_their_register() {
    use vyre::backend::reference::{RefArg, run};
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("sibling_casts", [1, 1, 1]);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let x = b.local("x", DataType::I32, false);
    let y = b.local("y", DataType::I32, false);
    b.body(|blk| {
        blk.let_(x, Expr::i32(0));
        blk.let_(y, Expr::i32(0));
        let lt = Expr::local(x).lt(Expr::local(y)).cast(DataType::I32);
        let eq = Expr::local(x).eq(Expr::local(y)).cast(DataType::I32);
        blk.store(BufRef::Param(out), Expr::u32(0), lt.add(eq));
    });
    let mut data = vec![0u32];
    run(&b.finish(), [1, 1, 1], &mut [RefArg::Buffer(&mut data)]).unwrap();
    assert_eq!(data[0].cast_signed(), 1);

    let mut b = ProgramBuilder::new("cast_index", [4, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    b.body(|blk| {
        blk.let_(g, Expr::global_id_x());
        let index = Expr::local(g).add(Expr::u32(0)).cast(DataType::I32);
        blk.store(BufRef::Param(out), index, Expr::local(g).add(Expr::u32(1)));
    });
    let mut data = vec![0u32; 4];
    run(&b.finish(), [1, 1, 1], &mut [RefArg::Buffer(&mut data)]).unwrap();
    assert_eq!(data, vec![1, 2, 3, 4]);
}

/// The subgroup cases' hand-written expectations agree with the reference
/// interpreter at every subgroup size a device may have (lavapipe 8 here,
/// NVIDIA 32): an expectation written for one size alone once passed on
/// lavapipe and failed on the NVIDIA driver, which was right.
#[test]
fn subgroup_expectations_match_the_reference_at_every_size() {
    let mut failures = Vec::new();
    for s in [4, 8, 16, 32, 64] {
        for case in naga_common::subgroup_cases(s) {
            let got = vyre_testkit::harness::run_reference_at(&case.testkit_case(), s)
                .and_then(|outputs| case.pick(&outputs));
            match got {
                Ok(got) => {
                    for ((param, g), (_, want)) in got.iter().zip(&case.expected) {
                        if let Err(e) = naga_common::compare(
                            &format!("{} (subgroup size {s})", case.program.name),
                            *param,
                            g,
                            want,
                            vyre_testkit::Tolerance::FloatExact,
                        ) {
                            failures.push(e);
                        }
                    }
                }
                Err(e) => failures.push(format!("{} (subgroup size {s}): {e}", case.program.name)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
