fn main() {
    vyre_build::compile_or_exit("kernels/");
}
