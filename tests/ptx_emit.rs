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
