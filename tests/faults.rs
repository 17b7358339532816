//! Build faults, with real cargo: scratch downstream crates (a `build.rs`
//! calling `vyre_build`, kernels, a `main` that runs them on the CPU
//! device) are built and run in `CARGO_TARGET_TMPDIR`, all sharing one
//! target directory so the dependencies compile once. Each fault must give
//! a correct build or a clear error: nothing lost, nothing corrupted, no
//! panic backtrace.
//!
//! Cases: an interrupted build (killed at several points) and truncated or
//! half-written artifacts; two crates sharing one target dir; paths with
//! spaces and non-ASCII names; a read-only source tree; a kernel file that
//! is not UTF-8; an empty kernels folder; a very large kernel file.
//! `VYRE_SKIP_FAULTS=1` skips them (they take minutes on a cold cache).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use vyre_testkit::{GenConfig, generate};

/// Nested builds share one target dir; run them one at a time.
static LOCK: Mutex<()> = Mutex::new(());

const SCALE_KERNEL: &str = "/// y = a * x + y
#[kernel(workgroup_size = 64)]
pub fn scale(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}
";

const SCALE_MAIN: &str = "mod kernels {
    vyre::include_kernels!();
}

fn main() {
    let d = vyre::Device::cpu();
    let x = d.upload(&[1.0f32, 2.0, 3.0, 4.0]).expect(\"upload\");
    let mut y = d.upload(&[1.0f32; 4]).expect(\"upload\");
    kernels::k::scale(&d, vyre::Grid::threads(4), 2.0, &x, &mut y).expect(\"launch\");
    println!(\"result {:?}\", d.download(&y).expect(\"download\"));
}
";

const SCALE_OUTPUT: &str = "result [3.0, 5.0, 7.0, 9.0]";

/// The fault tests run one at a time (they share a target dir and cargo
/// locks): the lock, or `None` when they are skipped.
fn serialized() -> Option<std::sync::MutexGuard<'static, ()>> {
    if skip() {
        return None;
    }
    Some(
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

fn skip() -> bool {
    if std::env::var("VYRE_SKIP_FAULTS").is_ok_and(|v| v == "1") {
        println!("skipped: VYRE_SKIP_FAULTS=1");
        return true;
    }
    false
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults")
}

/// A scratch downstream crate.
struct Scratch {
    dir: PathBuf,
    name: String,
}

impl Scratch {
    /// A fresh crate `name` in `tmp()/<dir_name>`, with kernels under
    /// `kernels_dir` (relative), the given kernel files and `main.rs`.
    /// A scratch crate running the `scale` kernel from `kernels_dir`.
    fn scale(dir: &str, name: &str, kernels_dir: &str) -> Self {
        Self::new(
            dir,
            name,
            kernels_dir,
            &[("k.vyre", SCALE_KERNEL.as_bytes())],
            SCALE_MAIN,
        )
    }

    fn new(
        dir_name: &str,
        name: &str,
        kernels_dir: &str,
        files: &[(&str, &[u8])],
        main: &str,
    ) -> Self {
        let dir = tmp().join(dir_name);
        if dir.exists() {
            make_writable(&dir);
            std::fs::remove_dir_all(&dir).expect("remove old scratch crate");
        }
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.join(kernels_dir)).expect("mkdir kernels");
        let repo = repo();
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nvyre = {{ path = {:?} }}\n\n[build-dependencies]\nvyre-build = {{ path = {:?} }}\n\n\
             [workspace]\n",
            repo.display().to_string(),
            repo.join("vyre-build").display().to_string()
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("write manifest");
        // The workspace's lock file pins the same versions, so `--offline`
        // finds everything already downloaded.
        std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy lock");
        std::fs::write(
            dir.join("build.rs"),
            format!("fn main() {{\n    vyre_build::compile_or_exit({kernels_dir:?});\n}}\n"),
        )
        .expect("write build.rs");
        std::fs::write(dir.join("src/main.rs"), main).expect("write main");
        for (file, bytes) in files {
            std::fs::write(dir.join(kernels_dir).join(file), bytes).expect("write kernel");
        }
        Self {
            dir,
            name: name.to_string(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO"));
        c.args(args)
            .arg("--offline")
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", tmp().join("target"))
            // No debug info: these throwaway builds only need to run.
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .env_remove("VYRE_BUILD_STUB")
            .env_remove("RUSTFLAGS");
        c
    }

    fn cargo(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("cargo runs")
    }

    /// `cargo run`: (success, stdout, stderr).
    fn run(&self) -> (bool, String, String) {
        let o = self.cargo(&["run", "--quiet"]);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// The `OUT_DIR`s of this package's build script runs.
    /// The OUT_DIR of the last build. The scratch target outlives test
    /// runs, and runs under other settings leave OUT_DIRs of their own: the
    /// one holding the most recently written file is the current one.
    fn out_dir(&self) -> Option<PathBuf> {
        let build = tmp().join("target/debug/build");
        let rd = std::fs::read_dir(&build).ok()?;
        let newest_file = |dir: &Path| {
            let mut files = Vec::new();
            files_under(dir, &mut files);
            files
                .iter()
                .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
                .max()
        };
        rd.filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{}-", self.name)))
            })
            .map(|p| p.join("out"))
            .filter(|p| p.is_dir())
            .max_by_key(|p| newest_file(p))
    }
}

fn make_writable(dir: &Path) {
    let _ = Command::new("chmod").args(["-R", "u+w"]).arg(dir).status();
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn assert_no_panic(what: &str, stderr: &str) {
    assert!(
        !stderr.contains("panicked at") && !stderr.contains("RUST_BACKTRACE"),
        "{what}: a panic instead of a clear error:\n{stderr}"
    );
}

fn assert_ok(what: &str, (ok, out, err): (bool, String, String), want: &str) {
    assert!(ok, "{what}: build or run failed:\n{err}");
    assert!(
        out.contains(want),
        "{what}: wrong output {out:?}, want {want:?}\n{err}"
    );
}

#[test]
fn interrupted_builds_and_truncated_artifacts() {
    let Some(_g) = serialized() else { return };
    let s = Scratch::scale("interrupt", "vyre_fault_interrupt", "kernels");
    assert_ok("first build", s.run(), SCALE_OUTPUT);

    // Kill whole builds (cargo, rustc, the build script) at several points
    // after a kernel change, then build again: the result must be the new
    // kernel's, never a mix or a truncated blob.
    let kernel = s.dir.join("kernels/k.vyre");
    for (round, delay_ms) in [300u64, 1000, 2500, 5000].into_iter().enumerate() {
        let factor = round + 3;
        let text = SCALE_KERNEL.replace("a * x[i]", &format!("a * x[i] * {factor}.0"));
        std::fs::write(&kernel, text).expect("edit kernel");
        let mut cmd = s.command(&["build", "--quiet"]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("spawn cargo");
        std::thread::sleep(Duration::from_millis(delay_ms));
        // `--` first: procps-ng reads `kill -9 -<pgid>` as options and
        // sends SIGKILL to every process (`kill(-1, 9)`).
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        let want: Vec<f32> = (1..=4)
            .map(|x| 2.0 * x as f32 * factor as f32 + 1.0)
            .collect();
        assert_ok(
            &format!("rebuild after a kill at {delay_ms} ms"),
            s.run(),
            &format!("result {want:?}"),
        );
    }
    std::fs::write(&kernel, SCALE_KERNEL).expect("restore kernel");
    assert_ok("restored kernel", s.run(), SCALE_OUTPUT);

    // A truncated blob and a half-written temp file (what a writer killed
    // mid-write would leave without the atomic rename), then the build
    // script reruns (kernel touched): the blob must be re-emitted whole.
    let out = s.out_dir().expect("no OUT_DIR found");
    let mut blobs = Vec::new();
    files_under(&out.join("vyre_kernels"), &mut blobs);
    let blob = blobs
        .iter()
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.contains("scale") && !n.starts_with('.')
        })
        .cloned()
        .unwrap_or_else(|| panic!("no blob for `scale` among {blobs:?}"));
    let whole = std::fs::read(&blob).expect("read blob");
    std::fs::write(&blob, &whole[..whole.len() / 2]).expect("truncate blob");
    let tmp_file = blob.with_file_name(format!(
        ".{}.99999.tmp",
        blob.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    std::fs::write(&tmp_file, b"half").expect("write temp");
    let f = std::fs::File::options()
        .append(true)
        .open(&kernel)
        .expect("open kernel");
    f.set_modified(SystemTime::now() + Duration::from_secs(2))
        .expect("touch kernel");
    drop(f);
    assert_ok("rebuild after truncation", s.run(), SCALE_OUTPUT);
    assert_eq!(
        std::fs::read(&blob).expect("read blob"),
        whole,
        "the truncated blob was not re-emitted"
    );
}

#[test]
fn two_crates_share_one_target_dir() {
    let Some(_g) = serialized() else { return };
    // Same file and kernel names, different bodies.
    let other = SCALE_KERNEL.replace("a * x[i] + y[i]", "a + x[i]");
    let a = Scratch::scale("share_a", "vyre_fault_share_a", "kernels");
    let b = Scratch::new(
        "share_b",
        "vyre_fault_share_b",
        "kernels",
        &[("k.vyre", other.as_bytes())],
        SCALE_MAIN,
    );
    assert_ok("crate a", a.run(), SCALE_OUTPUT);
    assert_ok("crate b", b.run(), "result [3.0, 4.0, 5.0, 6.0]");
    assert_ok("crate a again", a.run(), SCALE_OUTPUT);
    // Both at once.
    let (ca, cb) = (
        a.command(&["build", "--quiet"]).spawn(),
        b.command(&["build", "--quiet"]).spawn(),
    );
    let (sa, sb) = (
        ca.expect("spawn").wait().expect("wait"),
        cb.expect("spawn").wait().expect("wait"),
    );
    assert!(sa.success() && sb.success(), "concurrent builds failed");
    assert_ok("crate a after concurrent build", a.run(), SCALE_OUTPUT);
    assert_ok(
        "crate b after concurrent build",
        b.run(),
        "result [3.0, 4.0, 5.0, 6.0]",
    );
}

#[test]
fn paths_with_spaces_and_non_ascii() {
    let Some(_g) = serialized() else { return };
    let s = Scratch::scale("dir with spaces ü", "vyre_fault_paths", "kernels ñ dir");
    assert_ok("spaces and non-ASCII folders", s.run(), SCALE_OUTPUT);

    // A non-ASCII file name: a module of that name, or a clear error naming
    // the file.
    std::fs::write(s.dir.join("kernels ñ dir/naïve.vyre"), SCALE_KERNEL).expect("write");
    let (ok, out, err) = s.run();
    assert_no_panic("non-ASCII kernel file name", &err);
    assert!(
        (ok && out.contains(SCALE_OUTPUT)) || err.contains("naïve"),
        "non-ASCII file name: neither a build nor a clear error:\n{err}"
    );
}

#[test]
fn read_only_source_tree() {
    let Some(_g) = serialized() else { return };
    let s = Scratch::scale("readonly", "vyre_fault_readonly", "kernels");
    // Cargo itself writes Cargo.lock on the first build; do it first.
    assert!(s.cargo(&["generate-lockfile"]).status.success());
    let snapshot = || {
        let mut files = Vec::new();
        files_under(&s.dir, &mut files);
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).ok();
                (
                    p,
                    m.as_ref().map(|m| m.len()),
                    m.and_then(|m| m.modified().ok()),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = snapshot();
    let status = Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(&s.dir)
        .status()
        .expect("chmod");
    assert!(status.success());
    let result = s.run();
    make_writable(&s.dir);
    assert_ok("read-only source tree", result, SCALE_OUTPUT);
    // Root ignores the permission bits, so also check that nothing was
    // written into the tree.
    assert_eq!(before, snapshot(), "the build wrote into the source tree");
}

#[test]
fn kernel_file_not_utf8() {
    let Some(_g) = serialized() else { return };
    let s = Scratch::new(
        "not_utf8",
        "vyre_fault_not_utf8",
        "kernels",
        &[
            ("k.vyre", SCALE_KERNEL.as_bytes()),
            ("bad.vyre", b"pub fn x() { let a = \"\xff\xfe\"; }\n"),
        ],
        SCALE_MAIN,
    );
    let (ok, _, err) = s.run();
    assert!(!ok, "a non-UTF-8 kernel file built");
    assert_no_panic("non-UTF-8 kernel", &err);
    let lower = err.to_lowercase();
    assert!(
        err.contains("bad.vyre") && lower.contains("utf-8"),
        "the error does not name the file and the encoding problem:\n{err}"
    );
}

#[test]
fn empty_kernels_folder() {
    let Some(_g) = serialized() else { return };
    let main = "mod kernels {\n    vyre::include_kernels!();\n}\n\nfn main() {\n    println!(\"empty ok\");\n}\n";
    let s = Scratch::new("empty", "vyre_fault_empty", "kernels", &[], main);
    let (ok, out, err) = s.run();
    assert_no_panic("empty kernels folder", &err);
    if ok {
        assert!(out.contains("empty ok"), "{out}");
        println!("empty kernels folder: builds (an empty module)");
    } else {
        // A failure must come from the build script with a message about
        // the folder, not from rustc on a broken generated module.
        assert!(
            err.contains("custom build command") && err.contains("kernels"),
            "empty kernels folder: unclear failure:\n{err}"
        );
        println!("empty kernels folder: clear build-script error");
    }
}

#[test]
fn very_large_kernel_file() {
    let Some(_g) = serialized() else { return };
    // One kernel with 20,000 statements, plus 60 generated kernels.
    let mut text = String::from(
        "#[kernel(workgroup_size = 64)]\npub fn big(y: &mut [u32]) {\n    let i = global_id().x;\n    if i < y.len() {\n",
    );
    for _ in 0..20_000 {
        text += "        y[i] = y[i] + 1u32;\n";
    }
    text += "    }\n}\n\n";
    let cfg = GenConfig::default();
    let mut added = 0;
    let mut seed = 0;
    while added < 60 {
        let mut p = generate(seed, &cfg).program;
        seed += 1;
        p.name = format!("generated_{added}");
        let printed = vyre::lang::print(&p);
        // Keep only kernels whose text round-trips (see the differential
        // round-trip test for the printer's known problems).
        if vyre::lang::parse("g.vyre", &printed).is_ok_and(|m| m.kernels == [p]) {
            text += &printed;
            text += "\n";
            added += 1;
        }
    }
    println!("large kernel file: {} bytes", text.len());
    let main = "mod kernels {\n    vyre::include_kernels!();\n}\n\nfn main() {\n    let d = vyre::Device::cpu();\n    let mut y = d.upload(&[5u32; 100]).expect(\"upload\");\n    kernels::big::big(&d, vyre::Grid::threads(100), &mut y).expect(\"launch\");\n    let y = d.download(&y).expect(\"download\");\n    println!(\"big {} {}\", y[0], y[99]);\n}\n";
    let s = Scratch::new(
        "large",
        "vyre_fault_large",
        "kernels",
        &[("big.vyre", text.as_bytes())],
        main,
    );
    let start = Instant::now();
    let result = s.run();
    println!("large kernel file: built and ran in {:?}", start.elapsed());
    assert_ok("very large kernel file", result, "big 20005 20005");
}
