//! `vyre launcher --target T --name NAME KERNELS_DIR -o DIR`: a standalone
//! launcher crate (`vyre_build::LauncherCrate`) from the shell.

use std::io::Write;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use vyre_build::{AllReduceEntry, LauncherCrate, ReduceOp, TrainLoop};

use crate::{EXIT_OK, Failure, Outcome};

/// The `launcher` subcommand.
pub(crate) fn command() -> Command {
    let list = |id: &'static str, value: &'static str, help: &'static str| {
        Arg::new(id)
            .long(id)
            .value_name(value)
            .value_delimiter(',')
            .action(ArgAction::Append)
            .help(help)
    };
    Command::new("launcher")
        .about("Write a standalone launcher crate: a binary that runs the kernels of a folder on .npy files")
        .arg(
            Arg::new("target")
                .long("target")
                .short('t')
                .value_name("TARGET")
                .required(true)
                .help("reference, ptx, cubin or spirv"),
        )
        .arg(
            Arg::new("name")
                .long("name")
                .value_name("CRATE")
                .required(true)
                .help("The crate's (and binary's) name"),
        )
        .arg(
            Arg::new("kernels")
                .value_name("KERNELS_DIR")
                .required(true)
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("out")
                .short('o')
                .long("out-dir")
                .value_name("DIR")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The crate's folder (created if missing)"),
        )
        .arg(
            Arg::new("collectives")
                .long("collectives")
                .action(ArgAction::SetTrue)
                .help("Multi-rank runs (NCCL on CUDA, TCP on the CPU)"),
        )
        .arg(list("train-step", "KERNEL,..", "Training loop: the kernels of one step"))
        .arg(list("train-update", "KERNEL,..", "Training loop: the kernels after the all-reduce"))
        .arg(list("train-eval", "KERNEL,..", "Training loop: the kernels run on each chunk after its steps"))
        .arg(list("train-data", "BUFFER,..", "Training loop: the buffers split into chunks of rows"))
        .arg(
            Arg::new("train-loss")
                .long("train-loss")
                .value_name("BUFFER")
                .help("Training loop: the f32 buffer whose mean is the loss"),
        )
        .arg(list("allreduce", "BUFFER[:sum|avg],..", "Training loop: buffers all-reduced across ranks"))
        .arg(
            Arg::new("arch")
                .long("arch")
                .value_name("ARCH")
                .action(ArgAction::Append)
                .help("CUDA architectures of the cubins (sm_90, ...)"),
        )
        .arg(
            Arg::new("vyre-path")
                .long("vyre-path")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Depend on this vyre checkout (path dependencies) instead of crates.io"),
        )
}

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect()
}

/// The training loop the flags describe, if any.
fn train_loop(m: &ArgMatches) -> Result<Option<TrainLoop>, Failure> {
    let step = strings(m, "train-step");
    let loss = m.get_one::<String>("train-loss").cloned();
    let rest = ["train-update", "train-eval", "train-data", "allreduce"]
        .iter()
        .any(|id| !strings(m, id).is_empty());
    match (step.is_empty(), &loss) {
        (true, None) if !rest => return Ok(None),
        (false, Some(_)) => {}
        _ => {
            return Err(Failure::usage(
                "a training loop needs --train-step and --train-loss",
            ));
        }
    }
    let mut allreduce = Vec::new();
    for spec in strings(m, "allreduce") {
        let (buffer, op) = match spec.split_once(':') {
            Some((b, o)) => (
                b.to_string(),
                ReduceOp::from_name(o).ok_or_else(|| {
                    Failure::usage(format!("--allreduce {spec}: the op is `sum` or `avg`"))
                })?,
            ),
            None => (spec, ReduceOp::Sum),
        };
        allreduce.push(AllReduceEntry { buffer, op });
    }
    Ok(Some(TrainLoop {
        step,
        update: strings(m, "train-update"),
        eval: strings(m, "train-eval"),
        loss: loss.unwrap_or_default(),
        data: strings(m, "train-data"),
        allreduce,
    }))
}

/// `vyre launcher`.
pub(crate) fn run(m: &ArgMatches, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let target = m.get_one::<String>("target").cloned().unwrap_or_default();
    let name = m.get_one::<String>("name").cloned().unwrap_or_default();
    let kernels = m.get_one::<PathBuf>("kernels").cloned().unwrap_or_default();
    let dir = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
    let mut launcher = LauncherCrate::new(&target, &name)
        .collectives(m.get_flag("collectives"))
        .cuda_archs(strings(m, "arch"));
    if let Some(train) = train_loop(m)? {
        launcher = launcher.training_loop(train);
    }
    if let Some(path) = m.get_one::<PathBuf>("vyre-path") {
        launcher = launcher.runtime_path(path);
    }
    let written = launcher.emit(&kernels, &dir).map_err(|e| match e {
        vyre_build::Error::Diagnostics {
            rendered, first, ..
        } => {
            let _ = writeln!(err, "{rendered}");
            Failure::errors(first)
        }
        other => Failure::usage(
            other
                .to_string()
                .trim_start_matches("vyre-build: ")
                .to_string(),
        ),
    })?;
    for w in &written.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let kernels = written.manifest.as_ref().map_or(0, |m| m.kernels.len());
    let _ = writeln!(
        out,
        "wrote {} ({kernels} kernels, {} files, {} changed); build it with `cargo build --release` there",
        dir.display(),
        written.files.len(),
        written.rewritten.len()
    );
    Ok(EXIT_OK)
}
