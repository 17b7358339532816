//! Structure of the emitted PTX, and `ptxas` accepting it.

mod ptx_support;

use ptx_support::*;
use vyre::DispatchConfig;

#[test]
fn saxpy_assembles() {
    let text = emit(&saxpy(), "sm_70");
    println!("{text}");
    assemble_all(&saxpy(), &DispatchConfig::default());
}

use vyre::ir::{DataType, MathFn};

fn check_valid(p: &vyre::ir::Program) {
    if let Err(e) = p.validate() {
        panic!("{} invalid: {e:?}", p.name);
    }
}

#[test]
fn every_binop_assembles() {
    for (op, ty) in all_binops() {
        let p = binop_program(op, ty);
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn every_math_fn_assembles_accurate_and_fast() {
    for f in MathFn::ALL {
        for ty in [DataType::F32, DataType::I32, DataType::U32] {
            if vyre::ir::validate::math_type(f, &vec![ty; f.arity()]).is_none() {
                continue;
            }
            for fast in [false, true] {
                let p = math_program(f, ty, fast);
                check_valid(&p);
                assemble_all(&p, &DispatchConfig::default());
            }
        }
    }
}

#[test]
fn every_cast_assembles() {
    let tys = [DataType::Bool, DataType::I32, DataType::U32, DataType::F32];
    for from in tys {
        for to in tys {
            if to == DataType::Bool && from != DataType::Bool {
                continue;
            }
            let p = cast_program(from, to);
            check_valid(&p);
            assemble_all(&p, &DispatchConfig::default());
        }
    }
}

#[test]
fn shared_atomics_control_flow_assemble() {
    for p in [
        reduce_sum_u32(),
        atomics_program(DataType::U32),
        atomics_program(DataType::I32),
        control_flow(),
    ] {
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
        let unchecked = {
            let mut q = p.clone();
            q.unchecked = true;
            q
        };
        assemble_all(&unchecked, &DispatchConfig::default());
    }
}
