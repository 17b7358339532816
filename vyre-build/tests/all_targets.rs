//! Every kernel of the examples and ui-tests compiles for every registered
//! target through `compile()` (as with `--all-features`), and the generated
//! module embeds one artifact per emitted blob.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("vyre-build sits in the workspace")
        .to_path_buf()
}

#[test]
fn example_kernels_compile_for_every_registered_target() {
    let targets: Vec<&str> = vyre::driver::registered_launcher_codegens()
        .iter()
        .map(|c| c.target)
        .collect();
    assert!(targets.contains(&"reference"), "{targets:?}");
    let root = workspace();
    let dirs = [
        "examples/saxpy",
        "examples/reduce",
        "examples/histogram",
        "examples/matmul",
        "ui-tests",
    ];
    for dir in dirs {
        let out = std::env::temp_dir().join(format!(
            "vyre-build-all-targets-{}-{}",
            dir.replace('/', "-"),
            std::process::id()
        ));
        let result = vyre_build::Builder::new()
            .targets(targets.iter().copied())
            .cuda_archs(["sm_80", "sm_90"])
            .manifest_dir(root.join(dir))
            .out_dir(&out)
            .read_metadata(false)
            .emit_rerun_lines(false)
            .stub(false)
            .compile("kernels")
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        // Every target but an optional one skipped for a missing tool
        // produced one blob per kernel (per arch).
        let skipped: Vec<&String> = result.warnings.iter().collect();
        let per_kernel: usize = targets
            .iter()
            .map(|t| match *t {
                "cubin" if skipped.iter().any(|w| w.contains("`cubin` skipped")) => 0,
                "cubin" => 2,
                _ => 1,
            })
            .sum();
        assert_eq!(
            result.emitted.len(),
            result.kernels * per_kernel,
            "{dir}: {:?} {:?}",
            result.emitted,
            result.warnings
        );
        let module = std::fs::read_to_string(out.join("vyre_kernels/kernels.rs")).unwrap();
        assert_eq!(
            module.matches("include_bytes!(").count() + module.matches("include_str!(").count(),
            result.emitted.len(),
            "{dir}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}
