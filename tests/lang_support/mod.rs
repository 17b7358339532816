//! Helpers shared by the tests that compile `.vyre` source text.
#![allow(dead_code)]

use vyre::ir::Program;

/// The first kernel of `src` (parsed as `t.vyre`), panicking with the
/// rendered diagnostics when it does not compile.
pub fn kernel(src: &str) -> Program {
    vyre::lang::parse("t.vyre", src)
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .kernels
        .remove(0)
}

/// The rendered diagnostics of `src` (parsed as `t.vyre`), which must not
/// compile.
pub fn error(src: &str) -> String {
    match vyre::lang::parse("t.vyre", src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e.render(),
    }
}
