//! The `vyre` command: check, emit and explain `.vyre` kernel files from
//! the shell, with the same front end and emitters `vyre-build` uses.
//!
//! - `vyre check [PATH...]`: diagnostics of every `.vyre` file.
//! - `vyre emit --target T FILE.vyre [-o DIR] [--arch ARCH]`: one file per
//!   kernel through the registered AOT emitters.
//! - `vyre explain FILE.vyre::KERNEL`: parameters, workgroup, shared memory,
//!   grid rule, generic instances, bounds checks and (with `ptxas`)
//!   registers and spills.
//! - `vyre launcher --target T --name NAME KERNELS_DIR -o DIR`: a standalone
//!   launcher crate (see `vyre_build::LauncherCrate`).
//!
//! The `vyre` and `cargo-vyre` binaries are thin wrappers around [`run`]
//! and [`run_cargo`]; [`run_with`] writes to any pair of writers. Exit
//! codes: [`EXIT_OK`], [`EXIT_ERRORS`] (a kernel has errors),
//! [`EXIT_USAGE`] (bad arguments, missing files, I/O errors). See
//! `docs/cli.md`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

mod check;
mod emit;
mod explain;
mod launcher;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a kernel file has errors (diagnostics, an emitter failure, a
/// missing tool the target needs).
pub const EXIT_ERRORS: u8 = 1;
/// Exit code: usage or I/O error (bad arguments, a missing path, an unknown
/// target or kernel, a file that cannot be read or written).
pub const EXIT_USAGE: u8 = 2;

/// Run the `vyre` command with `args` (the program name first, as
/// [`std::env::args_os`] gives them), writing to stdout and stderr.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    ExitCode::from(run_with(
        args,
        "vyre",
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ))
}

/// Run as the cargo subcommand `cargo vyre`: cargo calls `cargo-vyre vyre
/// ARGS...`; the leading `vyre` is dropped (when present) and `ARGS` are
/// those of [`run`].
pub fn run_cargo(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "vyre") {
        args.remove(1);
    }
    ExitCode::from(run_with(
        args,
        "cargo vyre",
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ))
}

/// Run the command with `args` (program name first), naming itself
/// `bin_name` in help and usage, writing results to `out` and diagnostics
/// and errors to `err`; returns the exit code.
pub fn run_with(
    args: Vec<OsString>,
    bin_name: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let matches = match command(bin_name).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let mut text = e.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            let sink: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = sink.write_all(text.as_bytes());
            return u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE);
        }
    };
    let result = match matches.subcommand() {
        Some(("check", m)) => check::run(&paths_arg(m), out, err),
        Some(("emit", m)) => emit::run(&emit::Request::from_matches(m), out, err),
        Some(("explain", m)) => explain::run(m, out, err),
        Some(("launcher", m)) => launcher::run(m, out, err),
        _ => Err(Failure::usage("no command given; try `--help`")),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            let _ = writeln!(err, "error: {}", f.message);
            f.code
        }
    }
}

/// The command line interface.
fn command(bin_name: &str) -> Command {
    let targets = registered_targets().join(", ");
    Command::new("vyre")
        .bin_name(bin_name.to_string())
        .version(env!("CARGO_PKG_VERSION"))
        .about("Check, emit and explain .vyre GPU kernels")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("check")
                .about("Report the diagnostics of every .vyre file under each PATH")
                .arg(
                    Arg::new("paths")
                        .value_name("PATH")
                        .num_args(0..)
                        .action(ArgAction::Append)
                        .value_parser(value_parser!(PathBuf))
                        .help("Files or folders (searched recursively); default: kernels/ if it exists, else ."),
                ),
        )
        .subcommand(
            Command::new("emit")
                .about("Emit every kernel of a file for a target, one file per kernel")
                .arg(
                    Arg::new("target")
                        .long("target")
                        .short('t')
                        .value_name("TARGET")
                        .required(true)
                        .help(format!("Target: {targets}")),
                )
                .arg(
                    Arg::new("file")
                        .value_name("FILE.vyre")
                        .required(true)
                        .value_parser(value_parser!(PathBuf)),
                )
                .arg(
                    Arg::new("out")
                        .short('o')
                        .long("out-dir")
                        .value_name("DIR")
                        .value_parser(value_parser!(PathBuf))
                        .help("Folder to write into (created if missing); default: ."),
                )
                .arg(
                    Arg::new("arch")
                        .long("arch")
                        .value_name("ARCH")
                        .help("CUDA architecture for ptx/cubin (sm_90, sm_90a, ...); default: each kernel's"),
                ),
        )
        .subcommand(
            Command::new("explain")
                .about("Explain one kernel: parameters, workgroup, shared memory, grid, instances, bounds checks, registers")
                .arg(
                    Arg::new("kernel")
                        .value_name("FILE.vyre::KERNEL")
                        .required(true)
                        .value_parser(value_parser!(PathBuf))
                        .help("The file and kernel, or the file alone followed by KERNEL"),
                )
                .arg(Arg::new("name").value_name("KERNEL")),
        )
        .subcommand(launcher::command())
}

/// `check`'s paths.
fn paths_arg(m: &ArgMatches) -> Vec<PathBuf> {
    m.get_many::<PathBuf>("paths")
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// The targets of the linked AOT emitters, sorted.
pub(crate) fn registered_targets() -> Vec<&'static str> {
    vyre::driver::registered_aot_emitters()
        .iter()
        .map(|e| e.target)
        .collect()
}

/// A command that stops with a message and an exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The message (printed after `error: `).
    pub message: String,
    /// The exit code.
    pub code: u8,
}

impl Failure {
    /// A usage or I/O error ([`EXIT_USAGE`]).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    /// A failure of the kernels themselves ([`EXIT_ERRORS`]).
    pub(crate) fn errors(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_ERRORS,
        }
    }
}

/// The outcome of a command: its exit code, or a failure to report.
pub(crate) type Outcome = Result<u8, Failure>;

/// How diagnostics name `path`: as given, `/`-separated.
pub(crate) fn display_path(path: &Path) -> String {
    let s = path.display().to_string();
    if cfg!(windows) {
        s.replace('\\', "/")
    } else {
        s
    }
}

/// Read and parse one file. Diagnostics are rendered to `err` and give
/// [`EXIT_ERRORS`]; a file that cannot be read gives [`EXIT_USAGE`].
pub(crate) fn load(path: &Path, err: &mut dyn Write) -> Result<vyre::lang::Module, Failure> {
    let display = display_path(path);
    let source = read_source(path)?;
    vyre::lang::parse(&display, &source).map_err(|diags| {
        let _ = err.write_all(diags.render().as_bytes());
        let n = diags.diagnostics.len().max(1);
        Failure::errors(format!(
            "{display}: {n} error{}",
            if n == 1 { "" } else { "s" }
        ))
    })
}

/// Read a kernel file, with a clear message when it is missing.
pub(crate) fn read_source(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::usage(format!("no such file: {}", path.display()))
        } else {
            Failure::usage(format!("cannot read {}: {e}", path.display()))
        }
    })
}

/// A program's name without a raw-identifier prefix.
pub(crate) fn plain_name(p: &vyre::ir::Program) -> &str {
    p.name.strip_prefix("r#").unwrap_or(&p.name)
}
