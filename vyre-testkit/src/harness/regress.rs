//! Regression files: a case header (grid, arguments, comparisons) as `//`
//! comment lines, then the program as `.vyre` source.

use std::path::{Path, PathBuf};

use vyre::ir::{DataType, Literal, Program};

use crate::compare::Tolerance;
use crate::generator::{Case, Check, Value};

/// First line of a regression kernel's case header.
pub const HEADER_MAGIC: &str = "// vyre-testkit case v1";

/// The case header: grid, every argument and every comparison, as `//`
/// comment lines that the `.vyre` parser ignores.
#[must_use]
pub fn case_header(case: &Case) -> String {
    let mut s = format!(
        "{HEADER_MAGIC}\n// grid {} {} {}\n",
        case.grid[0], case.grid[1], case.grid[2]
    );
    for (i, v) in case.inputs.iter().enumerate() {
        match v {
            Value::Buffer { elem, data } => {
                let words: Vec<String> = data.iter().map(|w| format!("{w:x}")).collect();
                s += &format!("// arg {i} buffer {elem} {}\n", words.join(" "));
            }
            Value::Scalar(l) => {
                let bits = l.bits64();
                s += &format!("// arg {i} scalar {} {bits:x}\n", l.ty());
            }
        }
    }
    for (i, c) in case.checks.iter().enumerate() {
        if let Some(c) = c {
            let slots: Vec<String> = c
                .slots
                .iter()
                .map(|t| match t {
                    Tolerance::Bits => "b".to_string(),
                    Tolerance::FloatExact => "e".to_string(),
                    Tolerance::Float { ulp, abs } => format!("f{ulp}/{:x}", abs.to_bits()),
                })
                .collect();
            s += &format!("// check {i} {}\n", slots.join(" "));
        }
    }
    s
}

fn parse_ty(s: &str) -> Option<DataType> {
    DataType::from_name(s)
}

/// Rebuild a case from a regression file's header and its parsed program.
///
/// # Errors
///
/// A header line that does not parse, or one that does not fit the
/// program.
pub fn case_from_header(source: &str, program: Program) -> Result<Case, String> {
    let mut lines = source.lines();
    if lines.next().map(str::trim) != Some(HEADER_MAGIC) {
        return Err(format!("missing `{HEADER_MAGIC}` first line"));
    }
    let n = program.params.len();
    let mut case = Case {
        program,
        inputs: vec![Value::Scalar(Literal::U32(0)); n],
        grid: [1, 1, 1],
        checks: vec![None; n],
        draws: Vec::new(),
    };
    let hex = |w: &str| u32::from_str_radix(w, 16).map_err(|e| format!("bad word `{w}`: {e}"));
    let hex64 = |w: &str| u64::from_str_radix(w, 16).map_err(|e| format!("bad word `{w}`: {e}"));
    for line in lines {
        let Some(rest) = line.strip_prefix("// ") else {
            break;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let idx = |s: Option<&&str>| -> Result<usize, String> {
            let i: usize = s
                .ok_or("missing index")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            if i < n {
                Ok(i)
            } else {
                Err(format!("argument {i} of {n}"))
            }
        };
        match f.first().copied() {
            Some("grid") if f.len() == 4 => {
                for k in 0..3 {
                    case.grid[k] = f[k + 1].parse().map_err(|e| format!("grid: {e}"))?;
                }
            }
            Some("arg") if f.len() >= 4 => {
                let i = idx(f.get(1))?;
                let ty = parse_ty(f[3]).ok_or_else(|| format!("bad type `{}`", f[3]))?;
                case.inputs[i] = if f[2] == "buffer" {
                    let data: Vec<u64> =
                        f[4..].iter().map(|w| hex64(w)).collect::<Result<_, _>>()?;
                    // A narrower element's bits, zero-extended.
                    let max = u64::MAX >> (64 - ty.bits());
                    if let Some(w) = data.iter().find(|&&w| w > max) {
                        return Err(format!("word `{w:x}` is no `{ty}` element"));
                    }
                    Value::Buffer { elem: ty, data }
                } else {
                    let bits = hex64(f.get(4).ok_or("missing scalar")?)?;
                    Value::Scalar(Literal::from_bits64(ty, bits))
                };
            }
            Some("check") => {
                let i = idx(f.get(1))?;
                let mut slots = Vec::new();
                for t in &f[2..] {
                    slots.push(match *t {
                        "b" => Tolerance::Bits,
                        "e" => Tolerance::FloatExact,
                        t => {
                            let (u, a) = t
                                .strip_prefix('f')
                                .and_then(|x| x.split_once('/'))
                                .ok_or_else(|| format!("bad tolerance `{t}`"))?;
                            Tolerance::Float {
                                ulp: u.parse().map_err(|e| format!("{e}"))?,
                                abs: f32::from_bits(hex(a)?),
                            }
                        }
                    });
                }
                case.checks[i] = Some(Check { slots });
            }
            // Free-form comment lines (what the case is about).
            _ => {}
        }
    }
    Ok(case)
}

/// A regression file's text: the case header, then the program printed as
/// `.vyre` source.
#[must_use]
pub fn regression_source(case: &Case) -> String {
    format!(
        "{}\n{}",
        case_header(case),
        vyre::lang::print(&case.program)
    )
}

/// Write `case` as `dir/regress_<hash>.vyre` (named by a hash of its text,
/// so saving twice is harmless) and return the path.
///
/// # Errors
///
/// The file system's error.
pub fn save_regression(case: &Case, dir: &Path) -> std::io::Result<PathBuf> {
    let text = regression_source(case);
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("regress_{h:016x}.vyre"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Load a regression file: parse its program and its case header.
///
/// # Errors
///
/// Unreadable file, parse diagnostics, or a bad header.
pub fn load_regression(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let module = vyre::lang::parse(&path.display().to_string(), &text)
        .map_err(|d| format!("{}: {:?}", path.display(), d.diagnostics))?;
    let program = module
        .kernels
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no kernel", path.display()))?;
    case_from_header(&text, program)
}
