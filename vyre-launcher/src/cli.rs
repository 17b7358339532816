//! The launcher binary's command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use vyre::Device;
use vyre::ir::{Access, DataType};
use vyre::runtime::Grid;

use crate::bundle::{Bundle, Expected};
use crate::error::{LauncherError, Result};
use crate::host::{self, HostArray};
use crate::manifest::{KernelEntry, ParamKind, ReduceOp};
use crate::ranks::{Communicator, Ranks};
use crate::run::Workspace;
use crate::train;

/// Which runtime the launcher binary drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// vyre's CPU reference interpreter.
    Cpu,
    /// CUDA (needs the crate's `cuda` feature).
    Cuda,
    /// wgpu: Vulkan, Metal, DX12 (needs the `wgpu` feature).
    Wgpu,
}

/// What an emitted launcher crate's `main` passes: fixed when the crate was
/// emitted.
#[derive(Debug, Clone, Copy)]
pub struct Launcher<'a> {
    /// The bundle's target (`reference`, `ptx`, `spirv`).
    pub target: &'a str,
    /// The runtime it runs on.
    pub backend: Backend,
    /// SHA-256 of the bundle's `manifest.json`.
    pub manifest_sha256: &'a str,
    /// Where the bundle was written (used when neither `--bundle`,
    /// `VYRE_BUNDLE` nor a `bundle/` beside the executable says otherwise).
    pub bundle_dir: &'a str,
}

/// Run the launcher with the process's arguments; prints one `error:`
/// line and returns a failure status on any error.
#[must_use]
pub fn main(launcher: &Launcher<'_>) -> ExitCode {
    if launcher.backend == Backend::Cuda && std::env::var_os("NCCL_NVLS_ENABLE").is_none() {
        // NVLink multicast stays off unless the user turns it on.
        // SAFETY: the first thing the launcher does, before it starts any
        // thread (no other thread can read the environment meanwhile).
        unsafe { std::env::set_var("NCCL_NVLS_ENABLE", "0") };
    }
    match run_args(launcher, std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Clap(e)) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 2 } else { 0 })
        }
        Err(Failure::Launcher(e)) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// `text` on one line: its lines trimmed and joined with `: ` (a driver's
/// error can span several, "Caused by" and all).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

enum Failure {
    Clap(clap::Error),
    Launcher(LauncherError),
}

impl From<LauncherError> for Failure {
    fn from(e: LauncherError) -> Self {
        Self::Launcher(e)
    }
}

fn pairs(id: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(value)
        .action(ArgAction::Append)
        .help(help)
}

fn command() -> Command {
    let inputs = [
        pairs(
            "in",
            "NAME=FILE",
            "Upload FILE (.npy, or raw little-endian) as buffer NAME",
        ),
        pairs("scalar", "NAME=VALUE", "Scalar parameter NAME"),
        pairs(
            "out",
            "NAME=FILE",
            "Write buffer NAME to FILE (.npy, or raw) afterwards",
        ),
        pairs(
            "len",
            "NAME=N",
            "Length of a buffer not given with --in (default: the longest input)",
        ),
    ];
    let device = Arg::new("device")
        .long("device")
        .value_name("N")
        .help("GPU ordinal (default: LOCAL_RANK, else 0)");
    Command::new("launcher")
        .about("Runs the kernels of a vyre bundle")
        .disable_version_flag(true)
        .subcommand_required(true)
        .arg(
            Arg::new("bundle")
                .long("bundle")
                .global(true)
                .value_name("DIR")
                .help("The bundle directory (default: VYRE_BUNDLE, a bundle/ beside the executable, or where it was emitted)"),
        )
        .subcommand(Command::new("list").about("List the kernels and their parameters"))
        .subcommand(Command::new("verify").about("Verify the bundle's manifest and blob hashes"))
        .subcommand(
            Command::new("run")
                .about("Run one kernel")
                .arg(Arg::new("kernel").required(true).help("`module::kernel`, or `kernel` when unique"))
                .args(inputs.clone())
                .arg(
                    Arg::new("grid")
                        .long("grid")
                        .value_name("X[,Y[,Z]]")
                        .help("Workgroups to launch (default: the kernel's grid rule, else one invocation per element of its longest buffer)"),
                )
                .arg(
                    Arg::new("threads")
                        .long("threads")
                        .value_name("X[,Y[,Z]]")
                        .conflicts_with("grid")
                        .help("Invocations to launch, rounded up to whole workgroups"),
                )
                .arg(allreduce_arg())
                .arg(device.clone()),
        )
        .subcommand(train::command(inputs, device.clone()))
        .subcommand(
            Command::new("bench-allreduce")
                .about("Time the all-reduce of an f32 buffer across the ranks (one JSON line)")
                .arg(
                    Arg::new("mib")
                        .long("mib")
                        .value_name("MIB")
                        .default_value("256")
                        .help("Buffer size in MiB"),
                )
                .arg(
                    Arg::new("iters")
                        .long("iters")
                        .value_name("N")
                        .default_value("20")
                        .help("Timed all-reduces (after 5 untimed ones)"),
                )
                .arg(device),
        )
}

fn run_args(
    launcher: &Launcher<'_>,
    args: impl IntoIterator<Item = OsString>,
) -> std::result::Result<(), Failure> {
    let matches = command()
        .try_get_matches_from(args)
        .map_err(Failure::Clap)?;
    let dir = bundle_dir(launcher, matches.get_one::<String>("bundle"));
    let bundle = Bundle::load(
        &dir,
        &Expected {
            target: launcher.target,
            manifest_sha256: launcher.manifest_sha256,
        },
    )?;
    match matches.subcommand() {
        Some(("list", _)) => {
            print!("{}", listing(&bundle));
            Ok(())
        }
        Some(("verify", _)) => {
            let blobs: usize = bundle.manifest.kernels.iter().map(|k| k.blobs.len()).sum();
            println!(
                "ok: {} ({} kernels, {blobs} blobs, target {})",
                dir.display(),
                bundle.manifest.kernels.len(),
                bundle.manifest.target
            );
            Ok(())
        }
        Some(("run", m)) => Ok(run_kernel(launcher, &bundle, m)?),
        Some(("train", m)) => Ok(train::run(launcher, &bundle, m)?),
        Some(("bench-allreduce", m)) => Ok(bench_allreduce(launcher, &bundle, m)?),
        _ => Ok(()),
    }
}

/// `--bundle`, else `VYRE_BUNDLE`, else `bundle/` beside the executable,
/// else where the crate was emitted.
fn bundle_dir(launcher: &Launcher<'_>, flag: Option<&String>) -> PathBuf {
    if let Some(dir) = flag {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("VYRE_BUNDLE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(beside) = exe.parent().map(|d| d.join("bundle"))
        && beside.join(crate::manifest::MANIFEST_FILE).is_file()
    {
        return beside;
    }
    PathBuf::from(launcher.bundle_dir)
}

/// `list`'s text: one line per kernel, one per parameter.
fn listing(bundle: &Bundle) -> String {
    let mut out = format!(
        "target {} ({} kernels)\n",
        bundle.manifest.target,
        bundle.manifest.kernels.len()
    );
    for k in &bundle.manifest.kernels {
        let [x, y, z] = k.workgroup_size;
        out.push_str(&format!("{}  workgroup {x}x{y}x{z}\n", k.name));
        for p in &k.params {
            let what = match (p.kind, p.access) {
                (ParamKind::Scalar, _) => "scalar".to_string(),
                (ParamKind::Buffer, Some(crate::manifest::AccessEntry::ReadWrite)) => {
                    "buffer, read-write".to_string()
                }
                (ParamKind::Buffer, _) => "buffer, read".to_string(),
            };
            out.push_str(&format!("  {}: {} ({what})\n", p.name, p.ty));
        }
    }
    out
}

/// The `NAME=VALUE` pairs of option `id`.
pub(crate) fn name_values(m: &ArgMatches, id: &str) -> Result<Vec<(String, String)>> {
    m.get_many::<String>(id)
        .into_iter()
        .flatten()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| {
                    LauncherError::Usage(format!("--{id} `{pair}`: expected NAME=VALUE"))
                })
        })
        .collect()
}

/// `--allreduce NAME[:sum|avg]`.
pub(crate) fn allreduce_arg() -> Arg {
    Arg::new("allreduce")
        .long("allreduce")
        .value_name("NAME[:sum|avg]")
        .action(ArgAction::Append)
        .help("All-reduce buffer NAME across ranks after each step (besides the manifest's)")
}

/// `marked` (the manifest's all-reduced buffers) plus `--allreduce
/// NAME[:op]` (the op defaults to `sum`; a flag overrides a mark).
pub(crate) fn reductions(
    mut marked: Vec<(String, ReduceOp)>,
    m: &ArgMatches,
) -> Result<Vec<(String, ReduceOp)>> {
    for spec in m.get_many::<String>("allreduce").into_iter().flatten() {
        let (name, op) = match spec.split_once(':') {
            Some((n, o)) => (
                n,
                ReduceOp::from_name(o).ok_or_else(|| {
                    LauncherError::Usage(format!("--allreduce {spec}: the op is `sum` or `avg`"))
                })?,
            ),
            None => (spec.as_str(), ReduceOp::Sum),
        };
        marked.retain(|(n, _)| n != name);
        marked.push((name.to_string(), op));
    }
    Ok(marked)
}

/// The device the launcher runs on.
pub(crate) fn open_device(launcher: &Launcher<'_>, m: &ArgMatches) -> Result<Device> {
    let ordinal = match m.get_one::<String>("device") {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| LauncherError::Usage(format!("bad number `{n}` for --device")))?,
        None => match std::env::var("LOCAL_RANK") {
            Ok(v) if !v.is_empty() => v.parse::<usize>().map_err(|_| {
                LauncherError::Environment(format!("LOCAL_RANK=`{v}` is not a number"))
            })?,
            _ => 0,
        },
    };
    match launcher.backend {
        Backend::Cpu => Ok(Device::cpu()),
        #[cfg(feature = "cuda")]
        Backend::Cuda => Ok(Device::cuda(ordinal)?),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => {
            let _ = ordinal;
            Ok(Device::wgpu()?)
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = ordinal;
            Err(LauncherError::Usage(format!(
                "this launcher was built without the runtime for {other:?}; enable the crate's feature"
            )))
        }
    }
}

/// `X[,Y[,Z]]`.
fn dims(text: &str, what: &str) -> Result<[u32; 3]> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(LauncherError::Usage(format!(
            "--{what} `{text}`: expected X[,Y[,Z]]"
        )));
    }
    let mut out = [1u32; 3];
    for (o, p) in out.iter_mut().zip(&parts) {
        *o = p
            .trim()
            .parse::<u32>()
            .map_err(|_| LauncherError::Usage(format!("bad number `{p}` for --{what}")))?;
    }
    Ok(out)
}

/// Check that every name in `pairs` is a parameter of `kernel` of `kind`.
pub(crate) fn check_names(
    kernels: &[&KernelEntry],
    pairs: &[(String, String)],
    flag: &str,
    kind: ParamKind,
) -> Result<()> {
    for (name, _) in pairs {
        let found = kernels
            .iter()
            .flat_map(|k| &k.params)
            .find(|p| &p.name == name);
        match found {
            Some(p) if p.kind == kind => {}
            Some(_) => {
                return Err(LauncherError::Usage(format!(
                    "--{flag} {name}: `{name}` is a {} parameter",
                    if kind == ParamKind::Buffer {
                        "scalar"
                    } else {
                        "buffer"
                    }
                )));
            }
            None => {
                let names: Vec<String> = kernels
                    .iter()
                    .flat_map(|k| &k.params)
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                let kernels: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
                return Err(LauncherError::Usage(format!(
                    "--{flag} {name}: unknown parameter `{name}` of `{}` (parameters: {})",
                    kernels.join("`, `"),
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The type of buffer or scalar `name` among `kernels`' parameters.
pub(crate) fn param_type(kernels: &[&KernelEntry], name: &str) -> Result<DataType> {
    kernels
        .iter()
        .flat_map(|k| &k.params)
        .find(|p| p.name == name)
        .ok_or_else(|| LauncherError::Usage(format!("unknown parameter `{name}`")))?
        .data_type()
        .map_err(LauncherError::Usage)
}

/// Read every `--in` file (before anything touches the device).
pub(crate) fn read_inputs(
    kernels: &[&KernelEntry],
    inputs: &[(String, String)],
    ranks: &Ranks,
) -> Result<Vec<(String, HostArray)>> {
    inputs
        .iter()
        .map(|(name, file)| {
            let elem = param_type(kernels, name)?;
            let path = ranks.path(file);
            Ok((
                name.clone(),
                host::read_input(Path::new(&path), elem, name)?,
            ))
        })
        .collect()
}

/// The buffer, scalar and reduction flags `run` and `train` share, checked
/// against the parameters of their kernels.
pub(crate) struct Bindings {
    /// `--in NAME=FILE`.
    pub inputs: Vec<(String, String)>,
    /// `--scalar NAME=VALUE`, parsed as the parameter's type.
    pub scalars: Vec<(String, vyre::ir::Literal)>,
    /// `--out NAME=FILE`.
    pub outputs: Vec<(String, String)>,
    /// `--len NAME=N` (or `rows`, for `train`), as given.
    pub lens: Vec<(String, String)>,
    /// The manifest's marks plus `--allreduce`.
    pub reduce: Vec<(String, ReduceOp)>,
}

impl Bindings {
    /// The flags of `m` for `kernels`, `marked` the buffers the manifest
    /// all-reduces.
    pub(crate) fn parse(
        m: &ArgMatches,
        kernels: &[&KernelEntry],
        marked: Vec<(String, ReduceOp)>,
    ) -> Result<Self> {
        let inputs = name_values(m, "in")?;
        let scalars = name_values(m, "scalar")?;
        let outputs = name_values(m, "out")?;
        let lens = name_values(m, "len")?;
        check_names(kernels, &inputs, "in", ParamKind::Buffer)?;
        check_names(kernels, &outputs, "out", ParamKind::Buffer)?;
        check_names(kernels, &lens, "len", ParamKind::Buffer)?;
        check_names(kernels, &scalars, "scalar", ParamKind::Scalar)?;
        let reduce = reductions(marked, m)?;
        let names: Vec<(String, String)> = reduce
            .iter()
            .map(|(n, _)| (n.clone(), String::new()))
            .collect();
        check_names(kernels, &names, "allreduce", ParamKind::Buffer)?;
        let scalars = scalars
            .iter()
            .map(|(n, v)| {
                Ok((
                    n.clone(),
                    host::parse_scalar(v, param_type(kernels, n)?, n)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            inputs,
            scalars,
            outputs,
            lens,
            reduce,
        })
    }
}

/// `--len NAME=N` values.
pub(crate) fn lengths(pairs: &[(String, String)]) -> Result<Vec<(String, u64)>> {
    pairs
        .iter()
        .map(|(n, v)| {
            v.parse::<u64>()
                .map(|len| (n.clone(), len))
                .map_err(|_| LauncherError::Usage(format!("bad number `{v}` for --len {n}")))
        })
        .collect()
}

fn run_kernel(launcher: &Launcher<'_>, bundle: &Bundle, m: &ArgMatches) -> Result<()> {
    let name = m.get_one::<String>("kernel").map_or("", String::as_str);
    let kernel = bundle.manifest.kernel(name).map_err(LauncherError::Usage)?;
    let kernels = [kernel];
    let b = Bindings::parse(m, &kernels, Vec::new())?;
    let lens = lengths(&b.lens)?;
    let grid = match (m.get_one::<String>("grid"), m.get_one::<String>("threads")) {
        (Some(g), _) => Some(Grid::Workgroups(dims(g, "grid")?)),
        (None, Some(t)) => Some(Grid::Threads(dims(t, "threads")?)),
        (None, None) => None,
    };
    for p in kernel.params.iter().filter(|p| p.kind == ParamKind::Scalar) {
        if !b.scalars.iter().any(|(n, _)| n == &p.name) {
            return Err(LauncherError::Usage(format!(
                "`{}` needs scalar `{}`: --scalar {}=VALUE",
                kernel.name, p.name, p.name
            )));
        }
    }
    let world = Ranks::for_bundle(bundle)?;
    let reduce = b.reduce;
    let arrays = read_inputs(&kernels, &b.inputs, &world)?;
    let longest = arrays.iter().map(|(_, a)| a.len() as u64).max();
    let device = open_device(launcher, m)?;
    // Only a run that reduces needs the other ranks (and NCCL's start-up).
    let comm = if reduce.is_empty() {
        Communicator::Single
    } else {
        Communicator::open(
            &world,
            launcher.backend,
            bundle.manifest.collectives,
            &device,
        )?
    };
    let mut ws = Workspace::new(device, bundle);
    for (n, a) in &arrays {
        ws.put(n, a)?;
    }
    for (n, v) in b.scalars {
        ws.set_scalar(&n, v);
    }
    for p in kernel.params.iter().filter(|p| p.kind == ParamKind::Buffer) {
        if ws.has_buffer(&p.name) {
            continue;
        }
        let elem = p.data_type().map_err(LauncherError::Usage)?;
        let given = lens.iter().find(|(n, _)| n == &p.name).map(|(_, l)| *l);
        let read_only = p.access.map_or(Access::Read, Access::from) == Access::Read;
        let len = match (given, longest) {
            (Some(l), _) => l,
            (None, _) if read_only => {
                return Err(LauncherError::Usage(format!(
                    "`{}` reads buffer `{}`: --in {}=FILE",
                    kernel.name, p.name, p.name
                )));
            }
            (None, Some(l)) => l,
            (None, None) => {
                return Err(LauncherError::Usage(format!(
                    "no length for buffer `{}`: --len {}=N or --in {}=FILE",
                    p.name, p.name, p.name
                )));
            }
        };
        ws.zeros(&p.name, elem, vec![len])?;
    }
    let launched = ws.launch(kernel, grid)?;
    for (name, op) in &reduce {
        comm.all_reduce(&mut ws, name, *op)?;
    }
    // Every rank writes a per-rank path (`{rank}`); a shared one, rank 0.
    for (n, file) in &b.outputs {
        if world.rank == 0 || file.contains("{rank}") {
            host::write_output(Path::new(&world.path(file)), &ws.get(n)?)?;
        }
    }
    let [x, y, z] = launched.workgroups;
    if world.rank > 0 {
        return Ok(());
    }
    println!(
        "ran {} on {}: {x}x{y}x{z} workgroups in {:.3} ms",
        kernel.name,
        ws.device.name(),
        launched.ms
    );
    Ok(())
}

/// `bench-allreduce`: the all-reduce (sum) of `--mib` MiB of `f32`, timed
/// over `--iters` runs after 5 untimed ones, as NCCL's tests report it:
/// algorithm bandwidth (bytes / time) and bus bandwidth (that times
/// `2 (n - 1) / n`, what each link carries in a ring).
fn bench_allreduce(launcher: &Launcher<'_>, bundle: &Bundle, m: &ArgMatches) -> Result<()> {
    let number = |id: &str| -> Result<u64> {
        let v = m.get_one::<String>(id).map_or("", String::as_str);
        v.parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| LauncherError::Usage(format!("bad number `{v}` for --{id}")))
    };
    let (mib, iters) = (number("mib")?, number("iters")?);
    let world = Ranks::for_bundle(bundle)?;
    let device = open_device(launcher, m)?;
    let comm = Communicator::open(
        &world,
        launcher.backend,
        bundle.manifest.collectives,
        &device,
    )?;
    let mut ws = Workspace::new(device, bundle);
    let bytes = mib * (1 << 20);
    let elements = bytes / 4;
    ws.zeros("allreduce", DataType::F32, vec![elements])?;
    for _ in 0..5 {
        comm.all_reduce(&mut ws, "allreduce", ReduceOp::Sum)?;
    }
    let start = std::time::Instant::now();
    for _ in 0..iters {
        comm.all_reduce(&mut ws, "allreduce", ReduceOp::Sum)?;
    }
    let seconds = start.elapsed().as_secs_f64() / iters as f64;
    let algbw = bytes as f64 / seconds / 1e9;
    let n = f64::from(world.size);
    if world.rank == 0 {
        println!(
            "{}",
            serde_json::json!({
                "bench": "allreduce",
                "bytes": bytes,
                "ranks": world.size,
                "ms": seconds * 1e3,
                "algbw_gbs": algbw,
                "busbw_gbs": algbw * 2.0 * (n - 1.0) / n,
                "device": ws.device.name(),
            })
        );
    }
    Ok(())
}
