//! A standalone launcher crate, end to end: emit it from `kernels/` with
//! `vyre_build::LauncherCrate` (logistic regression: `forward`, `backward`
//! and `sgd` kernels, and the training loop over them), build it with
//! cargo, write synthetic data as `.npy`, and train with the launcher's
//! `train` command; checks that the loss falls.
//!
//! ```sh
//! cargo run -p vyre-example-launcher                    # the CPU reference
//! cargo run -p vyre-example-launcher -- --target ptx    # CUDA (ptxas for cubins)
//! ```
//!
//! The crate lands in `target/vyre-example-launcher/<target>/`; its binary
//! (`target/release/logistic-<target>` there) runs on its own afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use vyre::ir::DataType;
use vyre_build::{AllReduceEntry, LauncherCrate, ReduceOp, TrainLoop};
use vyre_launcher::host::{HostArray, write_output};

/// Rows and features (the last one a constant 1, the bias) of the data.
const ROWS: usize = 4096;
const FEATURES: usize = 8;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Two clouds of points, one per label, around opposite corners: a
/// problem logistic regression separates.
fn data() -> (HostArray, HostArray) {
    let mut seed = 0x9e37_79b9_u32;
    let mut uniform = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for row in 0..ROWS {
        let label = (row % 2) as f32;
        let centre = if row % 2 == 0 { -0.5 } else { 0.5 };
        for f in 0..FEATURES {
            x.push(if f + 1 == FEATURES {
                1.0
            } else {
                centre + uniform() - 0.5
            });
        }
        y.push(label);
    }
    let array = |shape: Vec<u64>, v: &[f32]| HostArray {
        elem: DataType::F32,
        shape,
        bytes: v.iter().flat_map(|f| f.to_le_bytes()).collect(),
    };
    (
        array(vec![ROWS as u64, FEATURES as u64], &x),
        array(vec![ROWS as u64], &y),
    )
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = match args.as_slice() {
        [] => "reference".to_string(),
        [flag, t] if flag == "--target" => t.clone(),
        _ => return Err("usage: vyre-example-launcher [--target reference|ptx|spirv]".into()),
    };
    let name = format!("logistic-{target}");
    let dir = workspace()
        .join("target/vyre-example-launcher")
        .join(&target);

    // 1. Emit the crate (path dependencies on this checkout).
    let train = TrainLoop {
        step: vec!["forward".into(), "backward".into()],
        update: vec!["sgd".into()],
        eval: vec!["forward".into()],
        loss: "loss".into(),
        data: vec!["x".into(), "y".into()],
        allreduce: vec![AllReduceEntry {
            buffer: "grad".into(),
            op: ReduceOp::Avg,
        }],
    };
    let emitted = LauncherCrate::new(&target, &name)
        .training_loop(train)
        .collectives(target != "spirv")
        .runtime_path(workspace())
        .emit(Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels"), &dir)?;
    for w in &emitted.warnings {
        eprintln!("note: {w}");
    }
    println!("emitted {} ({} files)", dir.display(), emitted.files.len());
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock"))?;

    // 2. Build it, as its README says.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()?;
    if !status.success() {
        return Err(format!("cargo build in {} failed", dir.display()).into());
    }
    let exe = dir.join("target/release").join(&name);

    // 3. Data, then the training loop: 2 chunks of 2048 rows, 100 steps each.
    let (x, y) = data();
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    write_output(&data_dir.join("x.npy"), &x)?;
    write_output(&data_dir.join("y.npy"), &y)?;
    let out = Command::new(&exe)
        .current_dir(&data_dir)
        .args(["train", "--in", "x=x.npy", "--in", "y=y.npy"])
        .args([
            "--len",
            &format!("w={FEATURES}"),
            "--len",
            &format!("grad={FEATURES}"),
        ])
        .args([
            "--len",
            "err=rows",
            "--len",
            "loss=rows",
            "--scalar",
            "lr=1.0",
        ])
        .args(["--chunk-rows", "2048", "--steps", "100", "--out", "w=w.npy"])
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .to_string()
            .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let losses: Vec<f64> = lines.iter().filter_map(|l| l["loss"].as_f64()).collect();
    for (i, l) in losses.iter().enumerate().filter(|(i, _)| i % 20 == 0) {
        println!("step {i:3}: loss {l:.4}");
    }
    let summary = lines.last().ok_or("no output")?;
    println!("{summary}");
    let first = losses.first().copied().unwrap_or(f64::NAN);
    let eval = summary["eval_loss"].as_f64().unwrap_or(f64::NAN);
    if eval < 0.5 * first {
        println!("ok: the eval loss fell from {first:.4} to {eval:.4}");
        Ok(())
    } else {
        Err(format!("no convergence: {first} -> {eval}").into())
    }
}
