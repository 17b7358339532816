use std::path::PathBuf;

fn main() {
    // The launchers every case uses.
    vyre_build::compile_or_exit("kernels/");

    // A module from a "generator of another launcher ABI", to exercise the
    // version assert of generated code. It cannot be part of this crate
    // (it must fail to compile), so a macro includes it into a case by
    // absolute path (test scaffolding only; generated code never holds
    // absolute paths).
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let skewed = vyre_build::Builder::new()
        .stub(true)
        .module_name("skewed_kernels.rs")
        .launcher_abi_version(999)
        .compile("kernels/");
    if let Err(e) = skewed {
        vyre_build::exit_with(&e);
    }
    let path = out_dir.join("skewed_kernels.rs");
    let mac = format!(
        "/// Includes a kernel module generated for launcher ABI 999.\n#[macro_export]\nmacro_rules! skewed_kernels {{\n    () => {{\n        include!({:?});\n    }};\n}}\n",
        path.display().to_string()
    );
    std::fs::write(out_dir.join("skew_macro.rs"), mac).expect("writing OUT_DIR/skew_macro.rs");
}
