//! The `vyre` and `cargo-vyre` binaries on real files in a temporary folder.

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = "\
/// y = a * x + y
#[kernel(workgroup_size = 64)]
pub fn k(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[kernel(workgroup_size = 32)]
pub fn fill(y: &mut [u32]) {
    let i = global_id().x;
    if i < y.len() {
        y[i] = 7u32;
    }
}
";

const BROKEN: &str = "\
#[kernel(workgroup_size = 64)]
pub fn bad(x: &mut [f32]) {
    let i = global_id().x;
    x[i] = undefined_thing;
}
";

fn vyre(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vyre"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run vyre")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder `kernels/` holding `good.vyre` and `broken.vyre`.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    std::fs::write(kernels.join("good.vyre"), GOOD).unwrap();
    std::fs::write(kernels.join("broken.vyre"), BROKEN).unwrap();
    dir
}

#[test]
fn check_reports_errors_and_counts() {
    let dir = fixture();
    let out = vyre(dir.path(), &["check", "kernels"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("kernels/broken.vyre:4:12"), "{stderr}");
    assert!(stderr.contains("undefined_thing"), "{stderr}");
    assert_eq!(stdout.trim(), "checked 2 files, 2 kernels: 1 errors");
}

#[test]
fn check_defaults_to_kernels_folder() {
    let dir = fixture();
    let out = vyre(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("checked 2 files"));
}

#[test]
fn check_good_files_only_succeeds() {
    let dir = fixture();
    let out = vyre(dir.path(), &["check", "kernels/good.vyre"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "checked 1 files, 2 kernels: 0 errors"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn check_missing_path_is_a_usage_error() {
    let dir = fixture();
    let out = vyre(dir.path(), &["check", "kernels/good.vyre", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nowhere"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn emit_wgsl_writes_one_file_per_kernel() {
    let dir = fixture();
    let out = vyre(
        dir.path(),
        &[
            "emit",
            "--target",
            "wgsl",
            "kernels/good.vyre",
            "-o",
            "out/wgsl",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let folder = dir.path().join("out/wgsl");
    let k = std::fs::read_to_string(folder.join("good.k.wgsl")).expect("good.k.wgsl");
    assert!(k.contains("@compute"), "{k}");
    assert!(k.contains("fn k("), "{k}");
    let fill = std::fs::read_to_string(folder.join("good.fill.wgsl")).expect("good.fill.wgsl");
    assert!(fill.contains("fn fill("), "{fill}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("good.k.wgsl") && stdout.contains("good.fill.wgsl"));
    // Nothing but the two blobs: no temporary files left behind.
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 2);
}

#[test]
fn emit_reference_into_current_folder() {
    let dir = fixture();
    let out = vyre(
        dir.path(),
        &["emit", "-t", "reference", "kernels/good.vyre"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let blob = std::fs::read(dir.path().join("good.k.vyrebin")).expect("blob");
    assert!(!blob.is_empty());
}

#[test]
fn emit_unknown_target_lists_registered_ones() {
    let dir = fixture();
    let out = vyre(
        dir.path(),
        &["emit", "--target", "vhdl", "kernels/good.vyre"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for t in ["ptx", "cubin", "spirv", "wgsl", "msl", "hlsl", "reference"] {
        assert!(stderr.contains(t), "{t} missing: {stderr}");
    }
}

#[test]
fn emit_broken_file_shows_diagnostics_and_writes_nothing() {
    let dir = fixture();
    let out = vyre(
        dir.path(),
        &["emit", "-t", "wgsl", "kernels/broken.vyre", "-o", "out"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("kernels/broken.vyre:4:12"));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn explain_shows_parameters_workgroup_and_checks() {
    let dir = fixture();
    let out = vyre(dir.path(), &["explain", "kernels/good.vyre::k"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("x: &[f32]  (buffer, read)"), "{stdout}");
    assert!(
        stdout.contains("y: &mut [f32]  (buffer, read-write)"),
        "{stdout}"
    );
    assert!(stdout.contains("a: f32  (scalar)"), "{stdout}");
    assert!(stdout.contains("workgroup size: (64, 1, 1)"), "{stdout}");
    assert!(
        stdout.contains("bounds checks: 3 accesses, 1 checked, 2 proven"),
        "{stdout}"
    );
    assert!(stdout.contains("load x[i]: checked"), "{stdout}");
    // The two-argument form says the same.
    let again = vyre(dir.path(), &["explain", "kernels/good.vyre", "k"]);
    assert_eq!(text(&again.stdout), stdout);
}

#[test]
fn explain_names_the_accesses_of_unsafe_blocks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    std::fs::write(
        kernels.join("u.vyre"),
        "#[kernel(workgroup_size = 64)]
pub fn k(n: u32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < n && n <= x.len() && n <= y.len() {
        unsafe {
            y[i] = x[i];
        }
    }
    y[i + 1] = 0.0;
}
",
    )
    .unwrap();
    let out = vyre(dir.path(), &["explain", "kernels/u.vyre::k"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "bounds checks: 3 accesses, 1 checked, 0 proven in range, 2 in `unsafe` blocks"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("store y[i]: not checked: inside an `unsafe` block"),
        "{stdout}"
    );
    assert!(
        stdout.contains("load x[i]: not checked: inside an `unsafe` block"),
        "{stdout}"
    );
    assert!(stdout.contains("store y[i + 1]: checked"), "{stdout}");
}

#[test]
fn explain_unknown_kernel_lists_kernels() {
    let dir = fixture();
    let out = vyre(dir.path(), &["explain", "kernels/good.vyre::nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains("k, fill"),
        "{stderr}"
    );
}

#[test]
fn cargo_vyre_behaves_like_vyre() {
    let dir = fixture();
    let direct = vyre(dir.path(), &["check", "kernels"]);
    let cargo = Command::new(env!("CARGO_BIN_EXE_cargo-vyre"))
        .args(["vyre", "check", "kernels"])
        .current_dir(dir.path())
        .output()
        .expect("run cargo-vyre");
    assert_eq!(cargo.status.code(), direct.status.code());
    assert_eq!(cargo.stdout, direct.stdout);
    assert_eq!(cargo.stderr, direct.stderr);
}

#[test]
fn launcher_writes_a_crate_with_its_training_loop_and_refuses_what_it_cannot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    std::fs::write(kernels.join("good.vyre"), GOOD).unwrap();
    let out = vyre(
        dir.path(),
        &[
            "launcher",
            "--target",
            "reference",
            "--name",
            "demo",
            "kernels",
            "-o",
            "demo",
            "--train-step",
            "k",
            "--train-eval",
            "k",
            "--train-loss",
            "y",
            "--train-data",
            "x",
            "--allreduce",
            "y:avg",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("wrote demo (2 kernels, "),
        "{}",
        text(&out.stdout)
    );
    let manifest = std::fs::read_to_string(dir.path().join("demo/bundle/manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m["target"], "reference");
    assert_eq!(m["train"]["step"], serde_json::json!(["k"]));
    assert_eq!(m["train"]["allreduce"][0]["op"], "avg");
    assert!(dir.path().join("demo/src/main.rs").is_file());
    assert!(
        dir.path()
            .join("demo/bundle/good.k.reference.vyrebin")
            .is_file()
    );

    for (args, want) in [
        (
            vec![
                "launcher",
                "-t",
                "spirv",
                "--name",
                "d2",
                "--collectives",
                "kernels",
                "-o",
                "d2",
            ],
            "include_collectives (wgpu has no collective library",
        ),
        (
            "launcher -t reference --name d5 --vyre-path . kernels -o d5"
                .split(' ')
                .collect(),
            "has no `vyre-launcher/Cargo.toml`",
        ),
        (
            vec![
                "launcher",
                "-t",
                "reference",
                "--name",
                "d3",
                "--train-step",
                "k",
                "kernels",
                "-o",
                "d3",
            ],
            "a training loop needs --train-step and --train-loss",
        ),
        (
            vec![
                "launcher",
                "-t",
                "reference",
                "--name",
                "d4",
                "--train-step",
                "k",
                "--train-loss",
                "nope",
                "kernels",
                "-o",
                "d4",
            ],
            "the loss buffer `nope` is not a buffer parameter",
        ),
    ] {
        let out = vyre(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
