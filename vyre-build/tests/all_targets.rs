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

/// A kernel a target cannot express (`f64` in WGSL and MSL) does not fail
/// the build: that target gets a placeholder artifact and one warning per
/// kernel and target, and launching the kernel from it is an error that
/// names kernel, target and reason; the other targets build as usual.
#[test]
fn a_kernel_a_target_cannot_express_warns_and_fails_only_at_launch() {
    let dir = std::env::temp_dir().join(format!("vyre-build-lacks-{}", std::process::id()));
    let kernels = dir.join("kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    std::fs::write(
        kernels.join("wide.vyre"),
        "#[kernel(workgroup_size = 64)]\npub fn halve(x: &mut [f64]) {\n    let i = global_id().x;\n    if i < x.len() {\n        x[i] = x[i] * 0.5;\n    }\n}\n\n#[kernel(workgroup_size = 64)]\npub fn plain(x: &mut [f32]) {\n    let i = global_id().x;\n    if i < x.len() {\n        x[i] = x[i] * 0.5;\n    }\n}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let build = || {
        vyre_build::Builder::new()
            .targets(["reference", "spirv", "wgsl", "msl"])
            .manifest_dir(&dir)
            .out_dir(&out)
            .read_metadata(false)
            .emit_rerun_lines(false)
            .stub(false)
            .compile("kernels")
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let result = build();
    let lacks: Vec<&String> = result
        .warnings
        .iter()
        .filter(|w| w.contains("is not built for"))
        .collect();
    assert_eq!(lacks.len(), 2, "{:?}", result.warnings);
    for target in ["wgsl", "msl"] {
        assert!(
            lacks.iter().any(|w| w.contains("`halve`")
                && w.contains(&format!("`{target}`"))
                && w.contains("f64")),
            "{target}: {lacks:?}"
        );
    }
    // A second, cached build warns the same.
    let again = build();
    let mut warned: Vec<&String> = again
        .warnings
        .iter()
        .filter(|w| w.contains("is not built for"))
        .collect();
    warned.sort();
    let mut first = lacks.clone();
    first.sort();
    assert_eq!(warned, first, "{:?}", again.warnings);
    // Every kernel has a blob per target: the placeholders included.
    assert_eq!(result.emitted.len(), 2 * 4, "{:?}", result.emitted);
    let blob = std::fs::read(out.join("vyre_kernels/wide.halve.wgsl.wgsl")).unwrap();
    let placeholder = vyre::runtime::Artifact {
        target: "wgsl",
        arch: None,
        bytes: &blob,
    };
    assert!(
        placeholder
            .unsupported_reason()
            .is_some_and(|r| r.contains("f64")),
        "{}",
        String::from_utf8_lossy(&blob)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
