fn main() {
    // The corpus lives outside this crate; vyre-build resolves the relative
    // path against CARGO_MANIFEST_DIR and prints rerun-if-changed lines for
    // every kernel file and for the directory (so a new kernel is noticed).
    if let Err(e) = vyre_build::Builder::new().compile("../tests/kernels") {
        vyre_build::exit_with(&e);
    }
}
