//! `vyre explain FILE.vyre::KERNEL`: what one kernel is and what the
//! compiler makes of it.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::ArgMatches;
use vyre::DispatchConfig;
use vyre::ir::{Access, BufRef, Expr, Literal, Node, Param, Program, UnOp};
use vyre::lang::{GenericKernel, Module};
use vyre::mid::Analysis;

use crate::{EXIT_OK, Failure, Outcome, plain_name};

/// Split `FILE.vyre::KERNEL` (or take `FILE.vyre` and `KERNEL`).
fn target(m: &ArgMatches) -> Result<(PathBuf, String), Failure> {
    let first = m.get_one::<PathBuf>("kernel").cloned().unwrap_or_default();
    if let Some(name) = m.get_one::<String>("name") {
        return Ok((first, name.clone()));
    }
    let text = first.to_string_lossy().into_owned();
    match text.rsplit_once("::") {
        Some((file, kernel)) if !file.is_empty() && !kernel.is_empty() => {
            Ok((PathBuf::from(file), kernel.to_string()))
        }
        _ => Err(Failure::usage(format!(
            "name the kernel: `{text}::KERNEL` or `{text} KERNEL`"
        ))),
    }
}

/// The kernels of a module, for "no such kernel" messages.
fn kernel_list(module: &Module) -> String {
    let mut names: Vec<String> = module
        .kernels
        .iter()
        .map(|p| plain_name(p).to_string())
        .collect();
    for g in &module.generics {
        names.push(format!("{} (generic)", g.name));
    }
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Run `explain`.
pub(crate) fn run(m: &ArgMatches, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let (file, kernel) = target(m)?;
    let module = crate::load(&file, err)?;
    let display = crate::display_path(&file);
    let mut text = String::new();
    if let Some(p) = module.kernels.iter().find(|p| plain_name(p) == kernel) {
        explain(&mut text, &module, p, &display);
    } else if let Some(g) = module.generics.iter().find(|g| g.name == kernel) {
        let _ = writeln!(
            text,
            "generic kernel {}{} in {display}: {} instance(s); each follows",
            g.name,
            generic_params(g),
            g.instances.len()
        );
        for inst in &g.instances {
            if let Some(p) = module.kernels.iter().find(|p| p.name == inst.kernel) {
                text.push('\n');
                explain(&mut text, &module, p, &display);
            }
        }
    } else {
        return Err(Failure::usage(format!(
            "no kernel `{kernel}` in {display}; its kernels: {}",
            kernel_list(&module)
        )));
    }
    let _ = out.write_all(text.as_bytes());
    Ok(EXIT_OK)
}

/// `<T, const TILE>` of a generic kernel.
fn generic_params(g: &GenericKernel) -> String {
    let params: Vec<String> = g
        .type_params
        .iter()
        .cloned()
        .chain(g.const_params.iter().map(|c| format!("const {c}")))
        .collect();
    format!("<{}>", params.join(", "))
}

/// Everything about one kernel.
fn explain(s: &mut String, module: &Module, p: &Program, file: &str) {
    let _ = writeln!(s, "kernel {} ({file})", plain_name(p));
    for line in p.doc.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(s, "  /// {}", line.trim());
    }
    if p.unchecked {
        let _ = writeln!(
            s,
            "  #[kernel(unchecked)]: no bounds checks, unsafe launcher"
        );
    }
    if p.fast_math {
        let _ = writeln!(s, "  #[kernel(fast_math)]");
    }

    let _ = writeln!(s, "parameters:");
    if p.params.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for param in &p.params {
        let _ = match param {
            Param::Buffer(b) => {
                let (ty, access) = match b.access {
                    Access::Read => (format!("&[{}]", b.elem), "read"),
                    Access::ReadWrite => (format!("&mut [{}]", b.elem), "read-write"),
                };
                writeln!(s, "  {}: {ty}  (buffer, {access})", b.name)
            }
            Param::Scalar { name, ty } => writeln!(s, "  {name}: {ty}  (scalar)"),
        };
    }

    let [x, y, z] = p.workgroup_size;
    let _ = writeln!(
        s,
        "workgroup size: ({x}, {y}, {z}) = {} invocations",
        p.invocations_per_workgroup()
    );

    if p.shared.is_empty() {
        let _ = writeln!(s, "shared memory: none");
    } else {
        let _ = writeln!(s, "shared memory:");
        for sh in &p.shared {
            let bytes = u64::from(sh.len) * u64::from(sh.elem.size_bytes());
            let layout = match sh.layout {
                vyre::ir::SharedLayout::Linear => String::new(),
                vyre::ir::SharedLayout::Swizzled { cols } => format!(", swizzled, cols = {cols}"),
            };
            let _ = writeln!(
                s,
                "  {}: [{}; {}]  {bytes} bytes{layout}",
                sh.name, sh.elem, sh.len
            );
        }
        let _ = writeln!(s, "  total: {} bytes", p.shared_bytes());
    }
    if !p.private.is_empty() {
        let _ = writeln!(s, "private arrays (per invocation):");
        for pr in &p.private {
            let _ = writeln!(s, "  {}: [{}; {}]", pr.name, pr.elem, pr.len);
        }
    }

    match module.grids.get(&p.name) {
        Some(rule) => {
            let _ = writeln!(s, "grid = {rule}  (workgroups, computed by the launcher)");
        }
        None => {
            let _ = writeln!(s, "grid: none (the launcher takes the grid)");
        }
    }

    generic_section(s, module, p);
    bounds_section(s, p);
    ptxas_section(s, p);
}

/// The generic kernel `p` is an instance of, if any.
fn generic_section(s: &mut String, module: &Module, p: &Program) {
    for g in &module.generics {
        let Some(inst) = g.instances.iter().find(|i| i.kernel == p.name) else {
            continue;
        };
        let args: Vec<String> = inst
            .types
            .iter()
            .map(|(n, t)| format!("{n} = {t}"))
            .chain(
                inst.consts
                    .iter()
                    .map(|(n, l)| format!("{n} = {}", literal(*l))),
            )
            .collect();
        let _ = writeln!(
            s,
            "generic: instance `{}` of {}{} ({})",
            inst.suffix,
            g.name,
            generic_params(g),
            args.join(", ")
        );
        let names: Vec<&str> = g.instances.iter().map(|i| i.kernel.as_str()).collect();
        let _ = writeln!(s, "  instances: {}", names.join(", "));
        if g.tune.is_empty() {
            let _ = writeln!(s, "  tune(..): none");
        } else {
            let _ = writeln!(
                s,
                "  tune({}): the launcher picks among instances differing in these (tuning table)",
                g.tune.join(", ")
            );
        }
    }
}

/// One buffer access of a program, in the analysis' order.
struct AccessSite<'p> {
    kind: &'static str,
    buf: BufRef,
    index: &'p Expr,
    /// Inside an `unsafe` block.
    in_unsafe: bool,
}

/// Collect the accesses of `body` in the order of
/// [`vyre::mid::IndexChecks::decisions`]: statements in pre-order; within a
/// statement, an access before the accesses of its index and value.
fn accesses<'p>(body: &'p [Node], out: &mut Vec<AccessSite<'p>>) {
    for node in body {
        let first = out.len();
        if let Node::Unsafe { body } = node {
            accesses(body, out);
            for site in &mut out[first..] {
                site.in_unsafe = true;
            }
            continue;
        }
        match node {
            Node::Let { value, .. } | Node::Assign { value, .. } => expr_accesses(value, out),
            Node::Store { buf, index, value } => {
                out.push(AccessSite {
                    kind: "store",
                    buf: *buf,
                    index,
                    in_unsafe: false,
                });
                expr_accesses(index, out);
                expr_accesses(value, out);
            }
            Node::Atomic {
                buf,
                index,
                expected,
                value,
                ..
            } => {
                out.push(AccessSite {
                    kind: "atomic",
                    buf: *buf,
                    index,
                    in_unsafe: false,
                });
                expr_accesses(index, out);
                if let Some(x) = expected {
                    expr_accesses(x, out);
                }
                expr_accesses(value, out);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                expr_accesses(cond, out);
                accesses(then, out);
                accesses(otherwise, out);
            }
            Node::While { cond, body } => {
                expr_accesses(cond, out);
                accesses(body, out);
            }
            Node::For {
                start, end, body, ..
            } => {
                expr_accesses(start, out);
                expr_accesses(end, out);
                accesses(body, out);
            }
            Node::Loop { body } | Node::Unsafe { body } => accesses(body, out),
            Node::Matrix(_) | Node::Async(_) => {
                for e in node.exprs() {
                    expr_accesses(e, out);
                }
            }
            Node::Break
            | Node::Continue
            | Node::Return
            | Node::Barrier
            | Node::WarpgroupBarrier => {}
        }
    }
}

fn expr_accesses<'p>(e: &'p Expr, out: &mut Vec<AccessSite<'p>>) {
    if let Expr::Load { buf, index } = e {
        out.push(AccessSite {
            kind: "load",
            buf: *buf,
            index,
            in_unsafe: false,
        });
    }
    for o in e.operands() {
        expr_accesses(o, out);
    }
}

/// Which accesses keep a bounds check, and why: per access of the kernel
/// as written, then the totals of the program device targets emit (after
/// `vyre::mid::prepare`: narrow types widened, `#[unroll]` loops unrolled,
/// constants folded), whose decisions are the checks actually emitted.
fn bounds_section(s: &mut String, p: &Program) {
    let config = DispatchConfig::default();
    let analysis = match Analysis::new(p, &config) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(s, "bounds checks: analysis failed: {e}");
            return;
        }
    };
    let checks = analysis.checks();
    let decisions = checks.decisions();
    let mut sites = Vec::new();
    accesses(&p.body, &mut sites);
    let checked = decisions.iter().filter(|d| d.checked).count();
    let vouched = if p.unchecked {
        0
    } else {
        sites.iter().filter(|site| site.in_unsafe).count()
    };
    let _ = writeln!(
        s,
        "bounds checks: {} accesses, {checked} checked, {} proven in range{}{}",
        decisions.len(),
        (decisions.len() - checked).saturating_sub(vouched),
        if vouched > 0 {
            format!(", {vouched} in `unsafe` blocks")
        } else {
            String::new()
        },
        if p.unchecked {
            " (unchecked kernel: none checked)"
        } else {
            ""
        }
    );
    let in_order = sites.len() == decisions.len();
    for (i, site) in sites.iter().enumerate() {
        let is_checked = checks.needs_check(site.index);
        let reachable = !in_order || decisions[i].reachable;
        let name = p.buf_name(site.buf).unwrap_or("?");
        let index = expr(p, site.index, false);
        let bound = match site.buf {
            BufRef::Param(_) => format!("{name}.len()"),
            BufRef::Shared(_) | BufRef::Private(_) => p
                .static_len(site.buf)
                .map_or_else(|| "its length".to_string(), |n| n.to_string()),
        };
        let why = if p.unchecked {
            "not checked: #[kernel(unchecked)]".to_string()
        } else if site.in_unsafe {
            "not checked: inside an `unsafe` block (the kernel's author vouches for it)".to_string()
        } else if is_checked {
            match site.buf {
                BufRef::Param(_) => format!(
                    "checked: no dominating guard `{index} < {bound}` (if/while condition, for range, or early return) proves it"
                ),
                _ => format!(
                    "checked: neither a dominating guard nor a static upper bound puts `{index}` below {bound}"
                ),
            }
        } else {
            format!("proven: `{index}` < {bound} by a dominating guard or a static bound")
        };
        let _ = writeln!(
            s,
            "  {} {name}[{index}]: {why}{}",
            site.kind,
            if reachable { "" } else { " (unreachable)" }
        );
    }
    if p.uses_matrices() || p.uses_async_copies() {
        let _ = writeln!(
            s,
            "  matrix and asynchronous-copy statements are checked as a whole, where static bounds of their operands do not prove them"
        );
    }
    let prepared = vyre::mid::prepare(p);
    if *prepared != *p
        && let Ok(a) = Analysis::new(&prepared, &config)
    {
        let d = a.checks().decisions();
        let checked = d.iter().filter(|d| d.checked).count();
        let _ = writeln!(
            s,
            "  as emitted (after widening, unrolling and folding): {} accesses, {checked} checked, {} proven",
            d.len(),
            d.len() - checked
        );
    }
}

/// An index expression in source-like form.
fn expr(p: &Program, e: &Expr, nested: bool) -> String {
    let text = match e {
        Expr::Lit(l) => return literal(*l),
        Expr::Local(id) => {
            return p
                .locals
                .get(*id as usize)
                .map_or_else(|| format!("local{id}"), |l| l.name.clone());
        }
        Expr::Param(id) => {
            return p
                .params
                .get(*id as usize)
                .map_or_else(|| format!("param{id}"), |x| x.name().to_string());
        }
        Expr::Builtin(b, axis) => {
            let axis = ["x", "y", "z"][axis.index()];
            return format!("{}().{axis}", b.name());
        }
        Expr::Len(id) => {
            let name = p.params.get(*id as usize).map_or("?", Param::name);
            return format!("{name}.len()");
        }
        Expr::Load { buf, index } => {
            return format!(
                "{}[{}]",
                p.buf_name(*buf).unwrap_or("?"),
                expr(p, index, false)
            );
        }
        Expr::Unary(op, a) => {
            let sym = match op {
                UnOp::Neg => "-",
                UnOp::Not => "!",
            };
            return format!("{sym}{}", expr(p, a, true));
        }
        Expr::Binary(op, a, b) => {
            format!("{} {} {}", expr(p, a, true), op.symbol(), expr(p, b, true))
        }
        Expr::Cast(ty, a) => format!("{} as {ty}", expr(p, a, true)),
        Expr::Math(f, args) => {
            let args: Vec<String> = args.iter().map(|a| expr(p, a, false)).collect();
            return format!("{}({})", f.name(), args.join(", "));
        }
        Expr::Subgroup(f, args) => {
            let args: Vec<String> = args.iter().map(|a| expr(p, a, false)).collect();
            return format!("{}({})", f.name(), args.join(", "));
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            return format!(
                "if {} {{ {} }} else {{ {} }}",
                expr(p, cond, false),
                expr(p, then, false),
                expr(p, otherwise, false)
            );
        }
    };
    if nested { format!("({text})") } else { text }
}

/// A literal without its type suffix.
fn literal(l: Literal) -> String {
    match l {
        Literal::Bool(b) => b.to_string(),
        Literal::I32(v) => v.to_string(),
        Literal::U32(v) => v.to_string(),
        Literal::F32(bits) => format!("{:?}", f32::from_bits(bits)),
        Literal::F16(bits) => format!("{:?}", vyre::half::f16::from_bits(bits)),
        Literal::BF16(bits) => format!("{:?}", vyre::half::bf16::from_bits(bits)),
        Literal::U8(v) => v.to_string(),
        Literal::I8(v) => v.to_string(),
        Literal::U16(v) => v.to_string(),
        Literal::I16(v) => v.to_string(),
        Literal::U64(v) => v.to_string(),
        Literal::I64(v) => v.to_string(),
        Literal::F64(bits) => format!("{:?}", f64::from_bits(bits)),
    }
}

/// The architectures `explain` asks ptxas about.
fn ptxas_archs(p: &Program) -> [&'static str; 2] {
    if p.uses_warpgroup_matrices() {
        ["sm_80", vyre::backend::ptx::WGMMA_ARCH]
    } else {
        ["sm_80", "sm_90"]
    }
}

/// Registers, shared memory and spills per arch, from `ptxas -v`.
fn ptxas_section(s: &mut String, p: &Program) {
    let Some(ptxas) = vyre::backend::ptx::find_ptxas() else {
        let _ = writeln!(
            s,
            "ptxas: not found (VYRE_PTXAS, CUDA_HOME/bin, CUDA_PATH/bin or PATH); registers and spills not shown"
        );
        return;
    };
    let _ = writeln!(s, "ptxas ({}):", ptxas.display());
    for arch in ptxas_archs(p) {
        let line = match ptxas_report(&ptxas, p, arch) {
            Ok(stats) => stats.to_string(),
            Err(e) => format!("failed: {}", e.trim_end()),
        };
        let _ = writeln!(s, "  {arch}: {line}");
    }
}

/// What `ptxas -v` says about one kernel.
#[derive(Debug, Default, PartialEq, Eq)]
struct PtxasStats {
    registers: u64,
    shared: u64,
    stack: u64,
    spill_stores: u64,
    spill_loads: u64,
}

impl std::fmt::Display for PtxasStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} registers, {} bytes static shared, {} bytes stack, {} bytes spill stores, {} bytes spill loads",
            self.registers, self.shared, self.stack, self.spill_stores, self.spill_loads
        )
    }
}

/// The number right before `suffix` in `text` (`Used 12 registers`).
fn number_before(text: &str, suffix: &str) -> Option<u64> {
    let at = text.find(suffix)?;
    let head = text[..at].trim_end();
    let start = head
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// Parse the `-v` output of ptxas (one kernel).
fn parse_ptxas(text: &str) -> Option<PtxasStats> {
    Some(PtxasStats {
        registers: number_before(text, " registers")?,
        shared: number_before(text, " bytes smem").unwrap_or(0),
        stack: number_before(text, " bytes stack frame").unwrap_or(0),
        spill_stores: number_before(text, " bytes spill stores").unwrap_or(0),
        spill_loads: number_before(text, " bytes spill loads").unwrap_or(0),
    })
}

/// Emit PTX for `arch` and run `ptxas -arch=<arch> -v` on it.
fn ptxas_report(ptxas: &Path, p: &Program, arch: &str) -> Result<PtxasStats, String> {
    let mut config = DispatchConfig::default();
    config.target_arch = Some(arch.to_string());
    let ptx = vyre::driver::emit_aot_target("ptx", p, &config).map_err(|e| e.to_string())?;
    let dir = tempfile::Builder::new()
        .prefix("vyre-explain-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let input = dir.path().join("kernel.ptx");
    std::fs::write(&input, &ptx).map_err(|e| format!("cannot write {}: {e}", input.display()))?;
    let output = Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .arg("-v")
        .arg("-o")
        .arg(dir.path().join("kernel.cubin"))
        .arg(&input)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    if !output.status.success() {
        return Err(text);
    }
    parse_ptxas(&text).ok_or_else(|| format!("no register count in ptxas output:\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ptxas_verbose_output() {
        let text = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'k' for 'sm_80'\n\
ptxas info    : Function properties for k\n\
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n\
ptxas info    : Used 40 registers, 4096 bytes smem, 380 bytes cmem[0]\n";
        assert_eq!(
            parse_ptxas(text),
            Some(PtxasStats {
                registers: 40,
                shared: 4096,
                stack: 16,
                spill_stores: 8,
                spill_loads: 4,
            })
        );
        assert_eq!(parse_ptxas("nothing"), None);
    }
}
