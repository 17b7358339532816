//! Standalone launcher crates end to end: emitted by
//! `vyre_build::LauncherCrate` from `examples/launcher/kernels` (the
//! example's kernels), built with the real `cargo` (offline, path dependencies on this
//! workspace, the target directory shared with `tests/build_integration.rs`
//! so that dependencies are compiled once), and run as a user would: kernels
//! on `.npy` and raw files against plain Rust, every refused input as one
//! `error:` line and a non-zero exit, the training loop converging on one
//! rank and on two.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vyre::ir::DataType;
use vyre_build::{AllReduceEntry, Error, LauncherCrate, ReduceOp, TrainLoop};
use vyre_launcher::host::{HostArray, read_input, write_output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch_root() -> PathBuf {
    workspace().join("target").join("vyre-build-tests")
}

fn kernels() -> PathBuf {
    workspace().join("examples/launcher/kernels")
}

fn train_loop() -> TrainLoop {
    TrainLoop {
        step: vec!["forward".into(), "backward".into()],
        update: vec!["sgd".into()],
        eval: vec!["forward".into()],
        loss: "loss".into(),
        data: vec!["x".into(), "y".into()],
        allreduce: vec![AllReduceEntry {
            buffer: "grad".into(),
            op: ReduceOp::Avg,
        }],
    }
}

/// Emit `launcher` as crate `name` under the scratch root (fresh).
fn emit(launcher: &LauncherCrate, name: &str) -> PathBuf {
    let dir = scratch_root().join(name);
    let _ = fs::remove_dir_all(&dir);
    let out = launcher.emit(kernels(), &dir).unwrap();
    assert_eq!(out.dir, dir);
    // The workspace's dependency versions, resolvable offline.
    fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// `cargo build --offline` of the crate in `dir`; the binary's path.
fn build(dir: &Path, name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--color", "never"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch_root().join("target"))
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build of {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scratch_root().join("target/debug").join(name)
}

fn run(exe: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(cwd);
    for var in [
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "VYRE_BUNDLE",
    ] {
        cmd.env_remove(var);
    }
    // Mesa's loader complains on stderr without it.
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The run succeeded; its stdout.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// The run failed with exactly one `error:` line containing `want`.
fn one_line_error(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; expected `{want}`");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(want), "expected `{want}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn f32_array(shape: Vec<u64>, values: &[f32]) -> HostArray {
    HostArray {
        elem: DataType::F32,
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn i32_array(values: &[i32]) -> HostArray {
    HostArray {
        elem: DataType::I32,
        shape: vec![values.len() as u64],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Separable synthetic data: `rows` points of `d - 1` features in
/// [-1, 1] and a constant 1 (the bias), labelled by a fixed hyperplane.
fn synthetic(rows: usize, d: usize) -> (HostArray, HostArray) {
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let truth: Vec<f32> = (0..d)
        .map(|j| if j % 2 == 0 { 1.5 } else { -1.0 })
        .collect();
    let mut x = Vec::with_capacity(rows * d);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut z = 0.0;
        for (j, t) in truth.iter().enumerate() {
            let (v, weight) = if j == d - 1 {
                (1.0, 0.2)
            } else {
                (next(), 1.0)
            };
            z += v * t * weight;
            x.push(v);
        }
        y.push(if z > 0.0 { 1.0 } else { 0.0 });
    }
    (
        f32_array(vec![rows as u64, d as u64], &x),
        f32_array(vec![rows as u64], &y),
    )
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn unsupported_flags_and_targets_are_refused_by_name() {
    let dir = scratch_root().join("launcher-refused");
    let e = LauncherCrate::new("spirv", "x")
        .collectives(true)
        .emit(kernels(), &dir)
        .unwrap_err();
    match &e {
        Error::Launcher {
            target,
            source: vyre::BackendError::UnsupportedFeature { name, backend },
        } => {
            assert_eq!(target, "spirv");
            assert_eq!(backend, "spirv");
            assert!(name.starts_with("include_collectives"), "{name}");
        }
        other => panic!("{other}"),
    }
    let e = LauncherCrate::new("no-such-target", "x")
        .emit(kernels(), &dir)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Launcher {
                source: vyre::BackendError::UnsupportedFeature { .. },
                ..
            }
        ),
        "{e}"
    );
    let e = LauncherCrate::new("reference", "2bad")
        .emit(kernels(), &dir)
        .unwrap_err();
    assert!(e.to_string().contains("`2bad` is not a crate name"), "{e}");
    let mut bad = train_loop();
    bad.loss = "nope".into();
    let e = LauncherCrate::new("reference", "x")
        .training_loop(bad)
        .emit(kernels(), &dir)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the loss buffer `nope` is not a buffer parameter"),
        "{e}"
    );
    let mut bad = train_loop();
    bad.update = vec!["missing".into()];
    let e = LauncherCrate::new("reference", "x")
        .training_loop(bad)
        .emit(kernels(), &dir)
        .unwrap_err();
    assert!(e.to_string().contains("unknown kernel `missing`"), "{e}");
    assert!(!dir.exists(), "a refused emission wrote files");
}

/// The golden test's crate: ptx with collectives, the training loop and
/// sm_80 cubins, emitted into `dir`.
fn emit_golden(name: &str, dir: &Path) -> vyre_build::LauncherOutput {
    LauncherCrate::new("ptx", name)
        .collectives(true)
        .training_loop(train_loop())
        .runtime_path(workspace())
        .cuda_archs(["sm_80"])
        .emit(kernels(), dir)
        .unwrap()
}

#[test]
fn the_emitted_crate_has_the_expected_files_manifest_and_cargo_toml() {
    let name = "vyre-launcher-golden";
    let dir = scratch_root().join(name);
    let _ = fs::remove_dir_all(&dir);
    let out = emit_golden(name, &dir);
    let files: Vec<String> = out
        .files
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    let mut want = vec![
        "Cargo.toml",
        "README.md",
        "bundle/logistic.backward.ptx.ptx",
        "bundle/logistic.forward.ptx.ptx",
        "bundle/logistic.sgd.ptx.ptx",
        "bundle/manifest.json",
        "bundle/saxpy.saxpy.ptx.ptx",
        "bundle/saxpy.scale_first.ptx.ptx",
        "src/bundle.rs",
        "src/main.rs",
    ];
    // With ptxas, the sm_80 cubins ride along (the CUDA runtime prefers them).
    let with_cubins = files.iter().any(|f| f.ends_with(".cubin"));
    if with_cubins {
        want.extend([
            "bundle/logistic.backward.cubin.sm_80.cubin",
            "bundle/logistic.forward.cubin.sm_80.cubin",
            "bundle/logistic.sgd.cubin.sm_80.cubin",
            "bundle/saxpy.saxpy.cubin.sm_80.cubin",
            "bundle/saxpy.scale_first.cubin.sm_80.cubin",
        ]);
        want.sort_unstable();
    } else {
        assert!(!out.warnings.is_empty(), "cubins skipped without a note");
    }
    assert_eq!(files, want);

    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/launcher/expected");
    let bless = std::env::var("VYRE_BLESS").is_ok_and(|v| v == "1");
    let vyre = workspace().to_string_lossy().replace('\\', "/");
    let cargo = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    if bless {
        let template = cargo.replace(&vyre, "@VYRE@");
        fs::write(golden.join("Cargo.toml"), template).unwrap();
    }
    let expected = fs::read_to_string(golden.join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("{e}; run with VYRE_BLESS=1 to create it"))
        .replace("@VYRE@", &vyre);
    assert_eq!(cargo, expected);

    // The manifest, with the hashes checked against the files and then
    // blanked (they change with every emitter change).
    let text = fs::read_to_string(dir.join("bundle/manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    for kernel in manifest["kernels"].as_array_mut().unwrap() {
        let blobs = kernel["blobs"].as_array_mut().unwrap();
        blobs.retain(|b| b["target"] == "ptx");
        for blob in blobs {
            let bytes = fs::read(dir.join("bundle").join(blob["file"].as_str().unwrap())).unwrap();
            assert_eq!(blob["bytes"], bytes.len() as u64);
            assert_eq!(blob["sha256"], vyre_launcher::bundle::sha256_hex(&bytes));
            blob["bytes"] = 0.into();
            blob["sha256"] = "<sha256>".into();
        }
    }
    manifest["generator"] = "<generator>".into();
    if bless {
        let mut pretty = serde_json::to_string_pretty(&manifest).unwrap();
        pretty.push('\n');
        fs::write(golden.join("manifest.json"), pretty).unwrap();
    }
    let expected: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(golden.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest,
        expected,
        "{}",
        serde_json::to_string_pretty(&manifest).unwrap()
    );
    let bundle_rs = fs::read_to_string(dir.join("src/bundle.rs")).unwrap();
    assert!(bundle_rs.contains(&vyre_launcher::bundle::sha256_hex(text.as_bytes())));
    let main = fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(
        main.contains("backend: vyre_launcher::Backend::Cuda"),
        "{main}"
    );

    // Emitting again rewrites nothing; a removed kernel's blob goes away.
    let again = emit_golden(name, &dir);
    assert!(again.rewritten.is_empty(), "{:?}", again.rewritten);
    fs::write(dir.join("bundle/stale.ptx"), "x").unwrap();
    emit_golden(name, &dir);
    assert!(!dir.join("bundle/stale.ptx").exists());
}

#[test]
fn a_reference_launcher_runs_kernels_and_refuses_bad_input_in_one_line() {
    let name = "vyre-launcher-ref";
    let dir = emit(
        &LauncherCrate::new("reference", name)
            .collectives(true)
            .training_loop(train_loop())
            .runtime_path(workspace()),
        name,
    );
    let exe = build(&dir, name);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let p = |f: &str| w.join(f).to_string_lossy().into_owned();

    // saxpy on .npy in, .npy and raw out, against plain Rust (bit-exact:
    // the reference computes a * x + y in f32 like Rust does).
    let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.25 - 7.0).collect();
    let y: Vec<f32> = (0..1000).map(|i| (i % 13) as f32).collect();
    write_output(&w.join("x.npy"), &f32_array(vec![1000], &x)).unwrap();
    write_output(&w.join("y.npy"), &f32_array(vec![1000], &y)).unwrap();
    let text = ok(run(
        &exe,
        w,
        &[
            "run",
            "saxpy",
            "--in",
            "x=x.npy",
            "--in",
            "y=y.npy",
            "--scalar",
            "a=2.5",
            "--out",
            "y=out.npy",
        ],
        &[],
    ));
    assert!(text.starts_with("ran saxpy::saxpy on "), "{text}");
    let want: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5 * x + y).collect();
    let got = read_input(&w.join("out.npy"), DataType::F32, "y").unwrap();
    assert_eq!(got.to_f32().unwrap(), want);
    ok(run(
        &exe,
        w,
        &[
            "run",
            "saxpy::saxpy",
            "--in",
            "x=x.npy",
            "--in",
            "y=y.npy",
            "--scalar",
            "a=2.5",
            "--out",
            "y=out.bin",
        ],
        &[],
    ));
    assert_eq!(fs::read(w.join("out.bin")).unwrap(), got.bytes);

    // A grid rule and a zero-filled output as long as the longest input.
    write_output(&w.join("xi.npy"), &i32_array(&[1, -2, 3, 4, 5, 6, 7, 8])).unwrap();
    ok(run(
        &exe,
        w,
        &[
            "run",
            "scale_first",
            "--in",
            "x=xi.npy",
            "--scalar",
            "n=5",
            "--scalar",
            "k=-3",
            "--out",
            "out=o.npy",
        ],
        &[],
    ));
    let o = read_input(&w.join("o.npy"), DataType::I32, "out").unwrap();
    assert_eq!(o.bytes, i32_array(&[-3, 6, -9, -12, -15, 0, 0, 0]).bytes);

    let list = ok(run(&exe, w, &["list"], &[]));
    assert!(list.contains("saxpy::saxpy  workgroup 64x1x1\n  a: f32 (scalar)\n  x: f32 (buffer, read)\n  y: f32 (buffer, read-write)"), "{list}");
    assert!(ok(run(&exe, w, &["verify"], &[])).starts_with("ok: "));

    // Bad input: one line, a non-zero exit, no output file.
    fs::write(w.join("six.bin"), [0u8; 6]).unwrap();
    write_output(&w.join("ints.npy"), &i32_array(&[1, 2])).unwrap();
    let base = [
        "run",
        "saxpy",
        "--in",
        "x=x.npy",
        "--in",
        "y=y.npy",
        "--scalar",
        "a=1",
        "--out",
        "y=never.npy",
    ];
    let with = |extra: &[&'static str], drop: usize| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = base.to_vec();
        v.truncate(base.len() - drop);
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "nope"],
            "unknown kernel `nope`; the bundle has `logistic::forward`",
        ),
        (
            with(&["--in", "z=x.npy"], 0),
            "unknown parameter `z` of `saxpy::saxpy` (parameters: `a`, `x`, `y`)",
        ),
        (with(&["--scalar", "x=1"], 0), "`x` is a buffer parameter"),
        (
            vec![
                "run",
                "saxpy",
                "--in",
                "x=missing.npy",
                "--in",
                "y=y.npy",
                "--scalar",
                "a=1",
            ],
            "missing.npy: No such file",
        ),
        (
            vec![
                "run",
                "saxpy",
                "--in",
                "x=ints.npy",
                "--in",
                "y=y.npy",
                "--scalar",
                "a=1",
            ],
            "holds dtype `<i4`, `x` is `f32` (<f4)",
        ),
        (
            vec![
                "run",
                "saxpy",
                "--in",
                "x=six.bin",
                "--in",
                "y=y.npy",
                "--scalar",
                "a=1",
            ],
            "6 bytes are not a whole number of `f32` elements for `x`",
        ),
        (
            vec![
                "run", "saxpy", "--in", "x=x.npy", "--in", "y=y.npy", "--scalar", "a=abc",
            ],
            "bad number `abc` for scalar `a` (`f32`)",
        ),
        (
            vec!["run", "saxpy", "--in", "x=x.npy", "--in", "y=y.npy"],
            "`saxpy::saxpy` needs scalar `a`: --scalar a=VALUE",
        ),
        (
            vec!["run", "saxpy", "--in", "y=y.npy", "--scalar", "a=1"],
            "`saxpy::saxpy` reads buffer `x`: --in x=FILE",
        ),
        (with(&["--grid", "1,x"], 0), "bad number `x` for --grid"),
        (with(&["--in", "x"], 0), "--in `x`: expected NAME=VALUE"),
    ];
    for (args, want) in &cases {
        one_line_error(&run(&exe, w, args, &[]), want);
        assert!(!w.join("never.npy").exists(), "{args:?} wrote an output");
    }

    // A tampered, truncated or replaced bundle is refused before any run.
    let bundle = dir.join("bundle");
    let blob = bundle.join("saxpy.saxpy.reference.vyrebin");
    let original = fs::read(&blob).unwrap();
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    fs::write(&blob, &flipped).unwrap();
    one_line_error(
        &run(&exe, w, &base, &[]),
        "saxpy.saxpy.reference.vyrebin: SHA-256",
    );
    fs::write(&blob, &original[..original.len() - 3]).unwrap();
    one_line_error(&run(&exe, w, &["list"], &[]), "the manifest says");
    fs::write(&blob, &original).unwrap();
    let manifest = bundle.join("manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "\"workgroup_size\": [\n        64",
            "\"workgroup_size\": [\n        65",
        ),
    )
    .unwrap();
    one_line_error(
        &run(&exe, w, &["verify"], &[]),
        "does not match the manifest this launcher was built with",
    );
    fs::write(&manifest, &text).unwrap();
    one_line_error(
        &run(&exe, w, &["verify", "--bundle", &p("nowhere")], &[]),
        "manifest.json: cannot be read",
    );
    ok(run(&exe, w, &["verify"], &[]));

    // The training loop: logistic regression on separable data converges.
    let (xs, ys) = synthetic(512, 4);
    write_output(&w.join("tx.npy"), &xs).unwrap();
    write_output(&w.join("ty.npy"), &ys).unwrap();
    // `train` on the data, 2 chunks of 256 rows, weights written to `out`.
    let train_args = |out: &str, extra: &[&str]| -> Vec<String> {
        let base = "train --in x=tx.npy --in y=ty.npy --len w=4 --len grad=4 --len err=rows --len loss=rows --scalar lr=2.0 --chunk-rows 256";
        let mut args: Vec<String> = base.split(' ').map(str::to_string).collect();
        args.extend(["--out".to_string(), format!("w={out}")]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let train = |extra: &[&str], env: &[(&str, &str)], out: &str| {
        let args = train_args(out, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&exe, w, &args, env)
    };
    let single = ok(train(&["--steps", "150"], &[], "w1.npy"));
    let lines = json_lines(&single);
    let steps: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("step").is_some()).collect();
    assert_eq!(steps.len(), 300, "{single}");
    let first = steps[0]["loss"].as_f64().unwrap();
    let last = steps[299]["loss"].as_f64().unwrap();
    assert!(
        (first - std::f64::consts::LN_2).abs() < 1e-6,
        "w starts at 0: {first}"
    );
    assert!(last < 0.25 * first, "no convergence: {first} -> {last}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["summary"], true);
    assert_eq!(summary["steps"], 300);
    assert!(
        summary["eval_loss"].as_f64().unwrap() < 0.25 * first,
        "{summary}"
    );

    // --target-loss (here from the environment) stops a chunk early.
    // The metrics go to a file with --metrics.
    let early = ok(train(
        &["--steps", "150", "--metrics", "early.jsonl"],
        &[("VYRE_TTT_TARGET_LOSS", "0.4")],
        "w2.npy",
    ));
    assert_eq!(early, "", "the metrics went to the file");
    let early = fs::read_to_string(w.join("early.jsonl")).unwrap();
    let early_steps = json_lines(&early)
        .iter()
        .filter(|l| l.get("step").is_some())
        .count();
    assert!(early_steps < 300, "{early_steps}");
    let last = json_lines(&early).pop().unwrap();
    assert_eq!(last["summary"], true);

    // Two ranks over TCP split each chunk's rows and average the gradient:
    // the same weights as one rank (up to summation order).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let spawn = |rank: &str, out: &str| {
        let args = train_args(out, &["--steps", "150"]);
        let mut cmd = Command::new(&exe);
        cmd.args(&args)
            .current_dir(w)
            .env("RANK", rank)
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .env("VYRE_RENDEZVOUS_TIMEOUT", "60")
            .env_remove("LOCAL_RANK")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let r0 = spawn("0", "w_r0.npy");
    let r1 = spawn("1", "w_r1.npy");
    let (o0, o1) = (
        r0.wait_with_output().unwrap(),
        r1.wait_with_output().unwrap(),
    );
    let text0 = ok(o0);
    assert_eq!(ok(o1), "", "only rank 0 prints");
    let summary: serde_json::Value = serde_json::from_str(text0.lines().last().unwrap()).unwrap();
    assert_eq!(summary["ranks"], 2);
    assert!(!w.join("w_r1.npy").exists(), "only rank 0 writes outputs");
    let w1 = read_input(&w.join("w1.npy"), DataType::F32, "w")
        .unwrap()
        .to_f32()
        .unwrap();
    let w2 = read_input(&w.join("w_r0.npy"), DataType::F32, "w")
        .unwrap()
        .to_f32()
        .unwrap();
    for (a, b) in w1.iter().zip(&w2) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{w1:?} vs {w2:?}");
    }

    // `run` on two ranks: per-rank inputs (`{rank}` in the path), the
    // result all-reduced: the sum over ranks, as one rank on the summed
    // data.
    let x0: Vec<f32> = (0..500).map(|i| i as f32 * 0.5).collect();
    let x1: Vec<f32> = (0..500).map(|i| 3.0 - i as f32).collect();
    write_output(&w.join("part0.npy"), &f32_array(vec![500], &x0)).unwrap();
    write_output(&w.join("part1.npy"), &f32_array(vec![500], &x1)).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let ranks: Vec<_> = ["0", "1"]
        .iter()
        .map(|rank| {
            Command::new(&exe)
                .args(["run", "saxpy", "--in", "x=part{rank}.npy", "--len", "y=500"])
                .args([
                    "--scalar",
                    "a=1",
                    "--allreduce",
                    "y:sum",
                    "--out",
                    "y=sum.npy",
                ])
                .args(["--out", "y=mine{rank}.npy"])
                .current_dir(w)
                .env("RANK", rank)
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .env_remove("LOCAL_RANK")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for r in ranks {
        ok(r.wait_with_output().unwrap());
    }
    let summed: Vec<f32> = x0.iter().zip(&x1).map(|(a, b)| a + b).collect();
    write_output(&w.join("summed.npy"), &f32_array(vec![500], &summed)).unwrap();
    ok(run(
        &exe,
        w,
        &[
            "run",
            "saxpy",
            "--in",
            "x=summed.npy",
            "--len",
            "y=500",
            "--scalar",
            "a=1",
            "--out",
            "y=one.npy",
        ],
        &[],
    ));
    let one = read_input(&w.join("one.npy"), DataType::F32, "y").unwrap();
    assert_eq!(
        read_input(&w.join("sum.npy"), DataType::F32, "y").unwrap(),
        one
    );
    for rank in 0..2 {
        let mine = read_input(&w.join(format!("mine{rank}.npy")), DataType::F32, "y").unwrap();
        assert_eq!(mine, one, "rank {rank} ends with the reduced result");
    }

    // Environment problems are one line too.
    let env_cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("WORLD_SIZE", "2")],
            "environment: WORLD_SIZE is set but RANK is not",
        ),
        (
            vec![("WORLD_SIZE", "2"), ("RANK", "2")],
            "RANK=2 is out of range for WORLD_SIZE=2",
        ),
        (
            vec![("WORLD_SIZE", "2"), ("RANK", "0")],
            "needs a rendezvous: MASTER_ADDR and MASTER_PORT",
        ),
        (
            vec![
                ("WORLD_SIZE", "2"),
                ("RANK", "1"),
                ("MASTER_ADDR", "127.0.0.1"),
                ("MASTER_PORT", "1"),
                ("VYRE_RENDEZVOUS_TIMEOUT", "0.5"),
            ],
            "master 127.0.0.1:1 unreachable",
        ),
    ];
    for (env, want) in &env_cases {
        one_line_error(&train(&["--steps", "1"], env, "never.npy"), want);
    }
}

#[test]
fn a_wgpu_launcher_runs_on_vulkan_where_there_is_an_adapter() {
    let name = "vyre-launcher-spirv";
    let dir = emit(
        &LauncherCrate::new("spirv", name).runtime_path(workspace()),
        name,
    );
    let exe = build(&dir, name);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let x: Vec<f32> = (0..300).map(|i| i as f32 - 150.0).collect();
    write_output(&w.join("x.npy"), &f32_array(vec![300], &x)).unwrap();
    let out = run(
        &exe,
        w,
        &[
            "run", "saxpy", "--in", "x=x.npy", "--len", "y=300", "--scalar", "a=0.5", "--out",
            "y=y.npy",
        ],
        &[],
    );
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var_os("VYRE_REQUIRE_VULKAN").is_none(),
            "VYRE_REQUIRE_VULKAN=1 but the wgpu launcher failed: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        println!("skipped: no wgpu adapter ({err})");
        return;
    }
    let y = read_input(&w.join("y.npy"), DataType::F32, "y")
        .unwrap()
        .to_f32()
        .unwrap();
    assert_eq!(y, x.iter().map(|v| 0.5 * v).collect::<Vec<f32>>());
}

#[test]
fn a_cuda_launcher_builds_and_runs_where_there_is_a_gpu() {
    let name = "vyre-launcher-ptx";
    let dir = emit(
        &LauncherCrate::new("ptx", name)
            .collectives(true)
            .runtime_path(workspace()),
        name,
    );
    let exe = build(&dir, name);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // The bundle is checked without a GPU.
    assert!(ok(run(&exe, w, &["verify"], &[])).contains("target ptx"));
    let x: Vec<f32> = (0..300).map(|i| i as f32 * 0.75).collect();
    write_output(&w.join("x.npy"), &f32_array(vec![300], &x)).unwrap();
    let args = [
        "run", "saxpy", "--in", "x=x.npy", "--len", "y=300", "--scalar", "a=-2", "--out", "y=y.npy",
    ];
    let out = run(&exe, w, &args, &[]);
    if !out.status.success() {
        assert!(
            std::env::var_os("VYRE_REQUIRE_CUDA").is_none_or(|v| v != "1"),
            "VYRE_REQUIRE_CUDA=1 but: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        one_line_error(&out, "cuda");
        println!("skipped: no CUDA device");
        return;
    }
    let y = read_input(&w.join("y.npy"), DataType::F32, "y")
        .unwrap()
        .to_f32()
        .unwrap();
    assert_eq!(y, x.iter().map(|v| -2.0 * v).collect::<Vec<f32>>());
}
