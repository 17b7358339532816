fn main() {
    // Compiles kernels/*.vyre into OUT_DIR; on a broken kernel prints the
    // diagnostic and fails the build.
    vyre_build::compile_or_exit("kernels/");
}
