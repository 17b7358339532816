//! The eval-time training loop (`train`): the data is split into chunks of
//! rows; on each chunk the manifest's `step` kernels run, then the
//! gradients are all-reduced across ranks, then the `update` kernels, until
//! a step budget or a target loss; then the `eval` kernels run on the
//! chunk. One JSON line per step and per chunk, and a summary.
//!
//! Buffers persist across chunks and steps (parameters, optimizer state),
//! except the data buffers (replaced by each chunk's rows) and buffers
//! sized `--len NAME=rows` (one element per row of the chunk, reallocated
//! with it).

use std::path::Path;
use std::time::Instant;

use clap::{Arg, ArgMatches, Command};
use serde_json::json;

use crate::bundle::Bundle;
use crate::cli::{Bindings, Launcher, open_device, param_type, read_inputs};
use crate::error::{LauncherError, Result};
use crate::host::{self, HostArray};
use crate::manifest::{KernelEntry, ReduceOp};
use crate::run::Workspace;

/// The `train` subcommand.
pub(crate) fn command(inputs: [Arg; 4], device: Arg) -> Command {
    Command::new("train")
        .about("Run the eval-time training loop (crates emitted with it)")
        .args(inputs)
        .arg(
            Arg::new("chunk-rows")
                .long("chunk-rows")
                .value_name("N")
                .help("Rows of the data per chunk (default: all)"),
        )
        .arg(
            Arg::new("steps")
                .long("steps")
                .value_name("N")
                .help("Step budget per chunk (default: VYRE_TTT_STEPS, else 100)"),
        )
        .arg(
            Arg::new("metrics")
                .long("metrics")
                .value_name("FILE")
                .help("Write the JSON lines to FILE instead of stdout (a library's log, NCCL_DEBUG's say, stays out of them)"),
        )
        .arg(
            Arg::new("target-loss")
                .long("target-loss")
                .value_name("X")
                .help("Stop a chunk's steps once the loss is at most X (default: VYRE_TTT_TARGET_LOSS)"),
        )
        .arg(crate::cli::allreduce_arg())
        .arg(device)
}

/// The loop's settings from flags, else the environment.
#[derive(Debug, Clone, Copy)]
struct Budget {
    steps: u64,
    target_loss: Option<f64>,
}

fn budget(m: &ArgMatches) -> Result<Budget> {
    let from = |flag: &str, var: &str| -> Option<(String, String)> {
        m.get_one::<String>(flag)
            .map(|v| (format!("--{flag}"), v.clone()))
            .or_else(|| {
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (var.to_string(), v))
            })
    };
    let steps = match from("steps", "VYRE_TTT_STEPS") {
        Some((src, v)) => v
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| LauncherError::Usage(format!("bad number `{v}` for {src}")))?,
        None => 100,
    };
    let target_loss = match from("target-loss", "VYRE_TTT_TARGET_LOSS") {
        Some((src, v)) => Some(
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| LauncherError::Usage(format!("bad number `{v}` for {src}")))?,
        ),
        None => None,
    };
    Ok(Budget { steps, target_loss })
}

/// Where the JSON lines go: stdout, or a file (`--metrics`), a line at a
/// time so that a run cut short keeps what it measured.
enum Metrics {
    Stdout,
    File(std::path::PathBuf, std::fs::File),
}

impl Metrics {
    fn open(path: Option<&String>) -> Result<Self> {
        Ok(match path {
            None => Self::Stdout,
            Some(p) => {
                let path = std::path::PathBuf::from(p);
                let file = std::fs::File::create(&path).map_err(|e| LauncherError::File {
                    path: path.clone(),
                    reason: format!("cannot be written: {e}"),
                })?;
                Self::File(path, file)
            }
        })
    }

    fn line(&mut self, value: &serde_json::Value) -> Result<()> {
        match self {
            Self::Stdout => {
                println!("{value}");
                Ok(())
            }
            Self::File(path, file) => {
                use std::io::Write as _;
                writeln!(file, "{value}").map_err(|e| LauncherError::File {
                    path: path.clone(),
                    reason: format!("cannot be written: {e}"),
                })
            }
        }
    }
}

/// The kernels named in `names`.
fn kernels<'m>(bundle: &'m Bundle, names: &[String]) -> Result<Vec<&'m KernelEntry>> {
    names
        .iter()
        .map(|n| bundle.manifest.kernel(n).map_err(LauncherError::Usage))
        .collect()
}

/// Rows `[from, to)` of `array` (first axis).
fn rows(array: &HostArray, from: u64, to: u64) -> HostArray {
    let row_elems: u64 = array.shape.iter().skip(1).product();
    let size = u64::from(array.elem.size_bytes());
    let (a, b) = (
        (from * row_elems * size) as usize,
        (to * row_elems * size) as usize,
    );
    let mut shape = array.shape.clone();
    shape[0] = to - from;
    HostArray {
        elem: array.elem,
        shape,
        bytes: array.bytes[a..b].to_vec(),
    }
}

/// The mean of `f32` buffer `name`.
fn mean_loss(ws: &Workspace<'_>, name: &str) -> Result<f64> {
    let values = ws
        .get(name)?
        .to_f32()
        .ok_or_else(|| LauncherError::Usage(format!("the loss buffer `{name}` must be `f32`")))?;
    if values.is_empty() {
        return Err(LauncherError::Usage(format!(
            "the loss buffer `{name}` is empty"
        )));
    }
    Ok(values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64)
}

/// `train`.
pub(crate) fn run(launcher: &Launcher<'_>, bundle: &Bundle, m: &ArgMatches) -> Result<()> {
    let t = bundle.manifest.train.as_ref().ok_or_else(|| {
        LauncherError::Usage("this launcher was emitted without the training loop".to_string())
    })?;
    let step = kernels(bundle, &t.step)?;
    let update = kernels(bundle, &t.update)?;
    let eval = kernels(bundle, &t.eval)?;
    let all: Vec<&KernelEntry> = step.iter().chain(&update).chain(&eval).copied().collect();
    let marked: Vec<(String, ReduceOp)> = t
        .allreduce
        .iter()
        .map(|a| (a.buffer.clone(), a.op))
        .collect();
    let bindings = Bindings::parse(m, &all, marked)?;
    let budget = budget(m)?;
    let world = crate::ranks::Ranks::for_bundle(bundle)?;
    let arrays = read_inputs(&all, &bindings.inputs, &world)?;
    let data: Vec<&(String, HostArray)> =
        arrays.iter().filter(|(n, _)| t.data.contains(n)).collect();
    let missing: Vec<&String> = t
        .data
        .iter()
        .filter(|d| !arrays.iter().any(|(n, _)| n == *d))
        .collect();
    if let Some(d) = missing.first() {
        return Err(LauncherError::Usage(format!(
            "the training data `{d}` is missing: --in {d}=FILE"
        )));
    }
    let total_rows = data
        .first()
        .map_or(0, |(_, a)| a.shape.first().copied().unwrap_or(0));
    if let Some((n, a)) = data
        .iter()
        .find(|(_, a)| a.shape.first().copied().unwrap_or(0) != total_rows)
    {
        return Err(LauncherError::Usage(format!(
            "the data buffers differ in rows: `{}` has {total_rows}, `{n}` has {}",
            data[0].0,
            a.shape.first().copied().unwrap_or(0)
        )));
    }
    if total_rows == 0 {
        return Err(LauncherError::Usage(
            "the training data has no rows".to_string(),
        ));
    }
    let chunk_rows =
        match m.get_one::<String>("chunk-rows") {
            Some(v) => v.parse::<u64>().ok().filter(|&r| r > 0).ok_or_else(|| {
                LauncherError::Usage(format!("bad number `{v}` for --chunk-rows"))
            })?,
            None => total_rows,
        };
    // `--len NAME=rows` buffers follow the chunk; others are fixed.
    let mut per_row = Vec::new();
    let mut fixed = Vec::new();
    for (n, v) in &bindings.lens {
        if v == "rows" {
            per_row.push(n.clone());
        } else {
            let len = v.parse::<u64>().map_err(|_| {
                LauncherError::Usage(format!("bad number `{v}` for --len {n} (N or `rows`)"))
            })?;
            fixed.push((n.clone(), len));
        }
    }

    let device = open_device(launcher, m)?;
    let comm = crate::ranks::Communicator::open(
        &world,
        launcher.backend,
        bundle.manifest.collectives,
        &device,
    )?;
    let mut ws = Workspace::new(device, bundle);
    for (n, a) in arrays.iter().filter(|(n, _)| !t.data.contains(n)) {
        ws.put(n, a)?;
    }
    for (n, len) in &fixed {
        ws.zeros(n, param_type(&all, n)?, vec![*len])?;
    }
    for (n, v) in bindings.scalars {
        ws.set_scalar(&n, v);
    }

    let mut metrics = Metrics::open(m.get_one::<String>("metrics").filter(|_| world.rank == 0))?;
    let mut total_steps = 0u64;
    let mut last_loss = f64::NAN;
    let mut eval_losses = Vec::new();
    let chunks = total_rows.div_ceil(chunk_rows);
    for chunk in 0..chunks {
        let from = chunk * chunk_rows;
        let to = (from + chunk_rows).min(total_rows);
        // Data-parallel: each rank takes its share of the chunk's rows.
        let (my_from, my_to) = world.share(from, to);
        for (n, a) in &data {
            ws.put(n, &rows(a, my_from, my_to))?;
        }
        for n in &per_row {
            ws.zeros(n, param_type(&all, n)?, vec![my_to - my_from])?;
        }
        for s in 0..budget.steps {
            let start = Instant::now();
            for k in &step {
                ws.launch(k, None)?;
            }
            for (name, op) in &bindings.reduce {
                comm.all_reduce(&mut ws, name, *op)?;
            }
            for k in &update {
                ws.launch(k, None)?;
            }
            let loss = comm.mean_across_ranks(mean_loss(&ws, &t.loss)?)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            total_steps += 1;
            last_loss = loss;
            if world.rank == 0 {
                metrics.line(&json!({"chunk": chunk, "step": s, "loss": loss, "ms": ms}))?;
            }
            if budget.target_loss.is_some_and(|target| loss <= target) {
                break;
            }
        }
        for k in &eval {
            ws.launch(k, None)?;
        }
        let eval_loss = comm.mean_across_ranks(mean_loss(&ws, &t.loss)?)?;
        eval_losses.push(eval_loss);
        if world.rank == 0 {
            metrics.line(&json!({"chunk": chunk, "eval_loss": eval_loss, "rows": to - from}))?;
        }
    }
    if world.rank == 0 {
        let mean_eval = eval_losses.iter().sum::<f64>() / eval_losses.len().max(1) as f64;
        metrics.line(&json!({
            "summary": true,
            "chunks": chunks,
            "steps": total_steps,
            "final_loss": last_loss,
            "eval_loss": mean_eval,
            "ranks": world.size,
            "device": ws.device.name(),
        }))?;
        for (n, file) in &bindings.outputs {
            host::write_output(Path::new(file), &ws.get(n)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vyre::ir::DataType;

    #[test]
    fn rows_slice_the_first_axis() {
        let a = HostArray {
            elem: DataType::U8,
            shape: vec![3, 2],
            bytes: vec![1, 2, 3, 4, 5, 6],
        };
        let r = rows(&a, 1, 3);
        assert_eq!(r.shape, vec![2, 2]);
        assert_eq!(r.bytes, vec![3, 4, 5, 6]);
    }
}
