//! `vyre-build` as a downstream crate uses it: scratch packages copied from
//! `tests/fixtures/` are built with the real `cargo` (offline, sharing one
//! target directory under `target/vyre-build-tests` so dependencies are
//! compiled once), and the build behaviour is checked from the outside:
//! what is emitted, what is rewritten (mtimes), whether the build script
//! reruns, and how errors look.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch_root() -> PathBuf {
    workspace().join("target").join("vyre-build-tests")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Copy fixture `fixture` to a fresh scratch package named `name` (its
/// `Cargo.toml.in` becomes `Cargo.toml`).
fn setup(fixture: &str, name: &str) -> PathBuf {
    let dir = scratch_root().join(name);
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&workspace().join("tests/fixtures").join(fixture), &dir);
    let vyre = workspace().to_string_lossy().replace('\\', "/");
    let template = dir.join("Cargo.toml.in");
    let text = fs::read_to_string(&template)
        .unwrap()
        .replace("@NAME@", name)
        .replace("@VYRE@", &vyre);
    fs::write(dir.join("Cargo.toml"), text).unwrap();
    fs::remove_file(template).unwrap();
    // Same dependency versions as the workspace, resolvable offline.
    fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

struct Run {
    ok: bool,
    output: String,
}

/// `cargo build -v --offline` in `pkg` with the shared target directory.
fn cargo_build(pkg: &Path, env: &[(&str, &str)]) -> Run {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-v", "--offline", "--color", "never"])
        .current_dir(pkg)
        .env("CARGO_TARGET_DIR", scratch_root().join("target"))
        // No debug info: these throwaway builds only need to run.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env_remove("VYRE_BUILD_STUB")
        .env_remove("DOCS_RS")
        .env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Whether cargo ran the build script of package `name` in that build.
fn ran_build_script(run: &Run, name: &str) -> bool {
    run.output.lines().any(|l| {
        l.contains("Running")
            && l.contains(&format!("build/{name}-"))
            && l.contains("build-script-build")
    })
}

/// The OUT_DIR of package `name` (the one holding the generated module).
/// The scratch target outlives test runs, and a run under other settings
/// (a profile, a toolchain) leaves its own OUT_DIR: the newest module wins.
fn out_dir(name: &str) -> PathBuf {
    let build = scratch_root().join("target/debug/build");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&build)
        .unwrap()
        .map(|e| e.unwrap().path().join("out"))
        .filter(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{name}-")))
                && p.join("vyre_kernels.rs").exists()
        })
        .collect();
    assert!(
        !dirs.is_empty(),
        "no OUT_DIR with a generated module for {name}"
    );
    dirs.sort_by_key(|d| {
        fs::metadata(d.join("vyre_kernels.rs"))
            .and_then(|m| m.modified())
            .ok()
    });
    dirs.pop().unwrap()
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut map = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                map.insert(entry.path(), meta.modified().unwrap());
            }
        }
    }
    map
}

fn changed(
    before: &BTreeMap<PathBuf, SystemTime>,
    after: &BTreeMap<PathBuf, SystemTime>,
) -> Vec<String> {
    let mut names: Vec<String> = after
        .iter()
        .filter(|(p, t)| before.get(*p) != Some(*t))
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Let the clock move on so that cargo's mtime comparisons see an edit.
fn tick() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn run_binary(name: &str) -> String {
    run_binary_with(name, &[])
}

fn run_binary_with(name: &str, args: &[&str]) -> String {
    let exe = scratch_root().join("target/debug").join(name);
    let out = Command::new(&exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn incremental_builds_rerun_and_rewrite_only_what_changed() {
    let name = "vyre-build-fixture-incr";
    let pkg = setup("build-downstream", name);

    // 1. First build emits every kernel and the binary runs them.
    let first = cargo_build(&pkg, &[]);
    assert!(first.ok, "{}", first.output);
    assert!(ran_build_script(&first, name), "{}", first.output);
    let out = out_dir(name);
    assert!(
        out.join("vyre_kernels/alpha.alpha.reference.vyrebin")
            .is_file()
    );
    assert!(
        out.join("vyre_kernels/beta.beta.reference.vyrebin")
            .is_file()
    );
    let module = fs::read_to_string(out.join("vyre_kernels/kernels.rs")).unwrap();
    assert!(module.starts_with("// @generated by vyre-build. Do not edit."));
    assert!(
        !module.contains(&*pkg.to_string_lossy()),
        "absolute path in {module}"
    );
    assert_eq!(run_binary(name), "alpha [2, 3, 4]\nbeta [2, 4, 6]\n");

    // 2. No change: the build script does not run, no file is rewritten.
    let before = mtimes(&out);
    let second = cargo_build(&pkg, &[]);
    assert!(second.ok, "{}", second.output);
    assert!(!ran_build_script(&second, name), "{}", second.output);
    assert!(changed(&before, &mtimes(&out)).is_empty());

    // 3. Edit one kernel: only its blob (and the module, whose kernel key
    //    changed) are rewritten.
    tick();
    let alpha = pkg.join("kernels/alpha.vyre");
    let source = fs::read_to_string(&alpha).unwrap();
    fs::write(&alpha, source.replace("x[i] + 1", "x[i] + 10")).unwrap();
    let before = mtimes(&out);
    let third = cargo_build(&pkg, &[]);
    assert!(third.ok, "{}", third.output);
    assert!(ran_build_script(&third, name), "{}", third.output);
    assert_eq!(
        changed(&before, &mtimes(&out)),
        [
            "alpha.alpha.reference.vyrebin",
            "build",
            "cache",
            "kernels.rs"
        ]
    );
    assert_eq!(run_binary(name), "alpha [11, 12, 13]\nbeta [2, 4, 6]\n");

    // 4. Touch without a change: the script reruns, nothing is rewritten.
    tick();
    let source = fs::read_to_string(&alpha).unwrap();
    fs::write(&alpha, source).unwrap();
    let before = mtimes(&out);
    let fourth = cargo_build(&pkg, &[]);
    assert!(fourth.ok, "{}", fourth.output);
    assert!(ran_build_script(&fourth, name), "{}", fourth.output);
    assert!(changed(&before, &mtimes(&out)).is_empty());

    // 5. A new kernel file is noticed.
    tick();
    fs::create_dir_all(pkg.join("kernels/more")).unwrap();
    fs::write(
        pkg.join("kernels/more/gamma-ray.vyre"),
        "/// Zeroes `out`.\n#[kernel(workgroup_size = 32)]\npub fn gamma(out: &mut [u32]) {\n    out[global_id().x] = 0;\n}\n",
    )
    .unwrap();
    let fifth = cargo_build(&pkg, &[]);
    assert!(fifth.ok, "{}", fifth.output);
    assert!(
        out.join("vyre_kernels/more.gamma_ray.gamma.reference.vyrebin")
            .is_file()
    );
    let module = fs::read_to_string(out.join("vyre_kernels/kernels.rs")).unwrap();
    assert!(
        module.contains("pub mod more {") && module.contains("pub mod gamma_ray {"),
        "{module}"
    );

    // 6. A syntax error fails the build with file:line:col, no backtrace.
    tick();
    fs::write(
        pkg.join("kernels/broken.vyre"),
        "#[kernel(workgroup_size = 64)]\npub fn broken(out: &mut [u32]) {\n    let = 3;\n}\n",
    )
    .unwrap();
    let sixth = cargo_build(&pkg, &[]);
    assert!(!sixth.ok, "{}", sixth.output);
    assert!(
        sixth.output.contains("kernels/broken.vyre:3:"),
        "{}",
        sixth.output
    );
    assert!(!sixth.output.contains("panicked"), "{}", sixth.output);
    assert!(!sixth.output.contains("backtrace"), "{}", sixth.output);

    // ... and fixing it recovers.
    fs::remove_file(pkg.join("kernels/broken.vyre")).unwrap();
    let seventh = cargo_build(&pkg, &[]);
    assert!(seventh.ok, "{}", seventh.output);

    // 7. `[package.metadata.vyre]` in Cargo.toml chooses the targets: an
    //    edit there reruns the build script.
    tick();
    let manifest = pkg.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        format!(
            "{text}
[package.metadata.vyre]
targets = [\"reference\"]
"
        ),
    )
    .unwrap();
    let eighth = cargo_build(&pkg, &[]);
    assert!(eighth.ok, "{}", eighth.output);
    assert!(ran_build_script(&eighth, name), "{}", eighth.output);
}

#[test]
fn stub_mode_builds_the_typed_api_without_blobs() {
    let name = "vyre-build-fixture-stub";
    let pkg = setup("build-downstream", name);
    let run = cargo_build(&pkg, &[("VYRE_BUILD_STUB", "1")]);
    assert!(run.ok, "{}", run.output);
    let out = out_dir(name);
    let mut files: Vec<_> = fs::read_dir(out.join("vyre_kernels"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(files, ["build", "kernels.rs"], "stub build emitted blobs");
    let module = fs::read_to_string(out.join("vyre_kernels/kernels.rs")).unwrap();
    assert!(module.contains("artifacts: &[]"), "{module}");
    assert!(module.contains("pub fn alpha("), "{module}");
    // Launching a stub kernel is an error value, not a crash.
    let exe = scratch_root().join("target/debug").join(name);
    let result = Command::new(&exe).output().unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("TargetNotCompiled"), "{stderr}");
}

#[test]
fn third_party_target_is_picked_up_from_a_linked_crate() {
    let name = "vyre-build-fixture-thirdparty";
    setup("toy-target", "toy-target");
    let pkg = setup("build-thirdparty", name);
    let run = cargo_build(&pkg, &[]);
    assert!(run.ok, "{}", run.output);
    let out = out_dir(name);
    assert_eq!(
        fs::read_to_string(out.join("vyre_kernels/alpha.alpha.toy.txt")).unwrap(),
        "toy alpha 2"
    );
    assert_eq!(
        run_binary(name),
        "targets [\"reference\", \"toy\"] toy Some(\"toy alpha 2\")\n"
    );
}

#[test]
fn a_tuning_table_in_the_kernels_folder_chooses_the_instance_at_launch() {
    let name = "vyre-build-fixture-tuned";
    let pkg = setup("build-tuned", name);
    let table = pkg.join("kernels/vyre-tune.toml");

    // 1. No table: the dispatching launcher runs the first instance, with
    //    the grid of its rule (the output is checked by the binary).
    let first = cargo_build(&pkg, &[]);
    assert!(first.ok, "{}", first.output);
    assert_eq!(run_binary_with(name, &["run", "1000"]), "n=1000 tile=64\n");
    assert_eq!(
        run_binary_with(name, &["run", "0"]),
        "n=0 tile=0\n",
        "an empty problem launches nothing"
    );
    // Parameters named `device`, `device_`, `grid`, `None` and like a
    // static of the module: the launcher compiles and passes each through.
    assert_eq!(run_binary_with(name, &["names", "1"]), "names 31\n");

    // 2. The generated tuning function times both f32 instances and writes
    //    a record the table reads back.
    run_binary_with(name, &["tune", "5000", table.to_str().unwrap()]);
    let measured = vyre::runtime::tune::TuneTable::load(&table).unwrap();
    let [record] = measured.records.as_slice() else {
        panic!("{measured:?}");
    };
    assert_eq!(record.kernel, "tiles::scale");
    assert_eq!(record.arch, "cpu");
    let names: Vec<&str> = record.times_us.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["f32_t64", "f32_t256"],
        "the u32 instance solves another problem"
    );
    assert!(
        record
            .times_us
            .iter()
            .all(|(_, t)| *t > 0.0 && t.is_finite())
    );
    let sizes: Vec<&str> = record.size.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(sizes, ["n", "x", "y", "which"]);

    // 3. A table written by hand: 256 near n = 100000, 64 near n = 1000.
    //    Creating the file reruns the build script (the kernels folder is
    //    watched), and the launcher follows the table.
    let record = |n: u64, best: &str| {
        format!(
            "[[record]]\nkernel = \"tiles::scale\"\narch = \"cpu\"\nsize = {{ n = {n}, x = {n}, y = {n}, which = 1 }}\nbest = \"{best}\"\ntimes_us = {{ {best} = 1.0 }}\n"
        )
    };
    fs::remove_file(&table).unwrap();
    let second = cargo_build(&pkg, &[]);
    assert!(second.ok, "{}", second.output);
    tick();
    fs::write(
        &table,
        format!("{}{}", record(1000, "f32_t64"), record(100_000, "f32_t256")),
    )
    .unwrap();
    let third = cargo_build(&pkg, &[]);
    assert!(third.ok, "{}", third.output);
    assert!(ran_build_script(&third, name), "{}", third.output);
    assert_eq!(run_binary_with(name, &["run", "2000"]), "n=2000 tile=64\n");
    assert_eq!(
        run_binary_with(name, &["run", "50000"]),
        "n=50000 tile=256\n"
    );

    // 4. A record naming an instance the kernel no longer has fails the
    //    build at its line.
    tick();
    fs::write(
        &table,
        format!("{}{}", record(1000, "f32_t64"), record(9, "f32_t128")),
    )
    .unwrap();
    let stale = cargo_build(&pkg, &[]);
    assert!(!stale.ok);
    assert!(
        stale
            .output
            .contains("kernels/vyre-tune.toml:7: `tiles::scale` has no instance `f32_t128`"),
        "{}",
        stale.output
    );
}
