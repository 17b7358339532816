//! Tuning tables: which instance of a generic kernel to launch on which
//! device, for which problem size.
//!
//! A generic kernel has several instances (`instances(...)` in its
//! `#[kernel]` attribute: tile sizes, element types). A crate times them on
//! its own GPU with [`time_launch`], records the winners as [`TuneRecord`]s
//! in a [`TuneTable`] and commits the table's file, `vyre-tune.toml`
//! ([`TuneTable::save`]). `vyre-build` reads that file at build time
//! ([`TuneTable::load`]) and compiles the winning choices into the
//! generated launcher as a `static` slice of [`TuneChoice`]; at launch the
//! launcher calls [`pick`] with the device's [`Device::tune_arch`] and the
//! problem size.
//!
//! The file holds one `[[record]]` per measurement:
//!
//! ```toml
//! [[record]]
//! kernel = "gemm_wg::gemm_wg"
//! arch = "sm_90"
//! size = { m = 4096, n = 4096, k = 4096, a = 16777216, b = 16777216, c = 16777216 }
//! best = "bf16_n128"
//! times_us = { bf16 = 180.25, bf16_n128 = 170.5, bf16_s3 = 190.0 }
//! ```

use std::cmp::Ordering as CmpOrdering;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Device, Result};

/// One tuned choice compiled into a generated launcher: on devices whose `tune_arch()` is `arch`,
/// for problems near `size`, launch the group's instance number `instance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TuneChoice {
    /// The device architecture key ([`Device::tune_arch`]).
    pub arch: &'static str,
    /// The problem size measured (the values of [`TuneRecord::size`]).
    pub size: &'static [u64],
    /// The index of the instance to launch within the kernel's group.
    pub instance: usize,
}

/// The instance to launch: among `choices` whose `arch` equals `arch` and whose `size` has the
/// same length as `size`, the one nearest to `size`, distance = sum over i of
/// `|log2(max(size[i],1)) - log2(max(choice.size[i],1))|`; ties go to the earlier choice.
/// `None` when no choice matches (the launcher then uses its default instance).
#[must_use]
pub fn pick(arch: &str, choices: &[TuneChoice], size: &[u64]) -> Option<usize> {
    let log = |v: u64| (v.max(1) as f64).log2();
    let mut best: Option<(f64, usize)> = None;
    for choice in choices {
        if choice.arch != arch || choice.size.len() != size.len() {
            continue;
        }
        let distance: f64 = size
            .iter()
            .zip(choice.size)
            .map(|(&want, &have)| (log(want) - log(have)).abs())
            .sum();
        if best.is_none_or(|(nearest, _)| distance < nearest) {
            best = Some((distance, choice.instance));
        }
    }
    best.map(|(_, instance)| instance)
}

/// One measurement: for kernel `kernel` (`"gemm_wg::gemm_wg"`: module path `::` generic kernel name)
/// on `arch`, at problem `size` (named values: the kernel's integer scalar parameters, then its
/// buffers' lengths, in parameter order), the instance `best` (an instance name as written in
/// `instances(...)`, e.g. `bf16_n128`) was fastest; `times_us` holds every candidate's time per
/// launch in microseconds, in the order measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneRecord {
    /// The generic kernel: module path `::` kernel name.
    pub kernel: String,
    /// The device architecture key ([`Device::tune_arch`]).
    pub arch: String,
    /// The problem size: named values, in parameter order.
    pub size: Vec<(String, u64)>,
    /// The fastest instance's name.
    pub best: String,
    /// Each candidate instance's time per launch in microseconds, in the
    /// order measured.
    pub times_us: Vec<(String, f64)>,
    /// The 1-based line of the record in the file it was read from (0 when made in memory);
    /// vyre-build uses it to point at stale records.
    pub line: usize,
}

impl TuneRecord {
    /// A record whose `best` is the fastest of `times_us` (the first of
    /// equal ones; a NaN time never wins over a number); `line` 0.
    ///
    /// Never panics: an empty `times_us` gives `best` = `""`.
    #[must_use]
    pub fn from_times(
        kernel: &str,
        arch: &str,
        size: Vec<(String, u64)>,
        times_us: Vec<(String, f64)>,
    ) -> Self {
        let mut best: Option<&(String, f64)> = None;
        for entry in &times_us {
            let better = match best {
                None => true,
                Some((_, fastest)) => entry.1 < *fastest || (fastest.is_nan() && !entry.1.is_nan()),
            };
            if better {
                best = Some(entry);
            }
        }
        let best = best.map(|(name, _)| name.clone()).unwrap_or_default();
        Self {
            kernel: kernel.to_string(),
            arch: arch.to_string(),
            size,
            best,
            times_us,
            line: 0,
        }
    }

    /// The candidate names, sorted and without repeats: the candidate set.
    fn candidates(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.times_us.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether `other` measured the same thing: same kernel, arch, size
    /// and candidate set (a newer measurement replaces it).
    fn same_key(&self, other: &Self) -> bool {
        self.covers(other) && other.covers(self)
    }

    /// Whether `self` measured all that `other` did: same kernel, arch
    /// and size, and every candidate of `other` among its own.
    fn covers(&self, other: &Self) -> bool {
        let mine = self.candidates();
        self.kernel == other.kernel
            && self.arch == other.arch
            && self.size == other.size
            && other.candidates().iter().all(|c| mine.contains(c))
    }

    /// The order of [`TuneTable::to_toml`]: kernel, arch, candidate names,
    /// size values (then size names, best and times, for determinism).
    fn file_order(&self, other: &Self) -> CmpOrdering {
        let values = |r: &Self| r.size.iter().map(|(_, v)| *v).collect::<Vec<_>>();
        let names = |r: &Self| r.size.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        self.kernel
            .cmp(&other.kernel)
            .then_with(|| self.arch.cmp(&other.arch))
            .then_with(|| self.candidates().cmp(&other.candidates()))
            .then_with(|| values(self).cmp(&values(other)))
            .then_with(|| names(self).cmp(&names(other)))
            .then_with(|| self.best.cmp(&other.best))
            .then_with(|| {
                let times = |r: &Self| {
                    r.times_us
                        .iter()
                        .map(|(n, t)| (n.clone(), t.to_bits()))
                        .collect::<Vec<_>>()
                };
                times(self).cmp(&times(other))
            })
    }
}

/// A tuning table: the contents of a `vyre-tune.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TuneTable {
    /// The measurements, in file order.
    pub records: Vec<TuneRecord>,
}

/// The keys of a record, in file order.
const RECORD_KEYS: [&str; 5] = ["kernel", "arch", "size", "best", "times_us"];

/// The first lines of every table file.
const HEADER: &str = "\
# vyre-tune.toml: the tuning table of this crate's generic vyre kernels.
# Each [[record]] says which instance of a kernel was fastest on one device
# architecture (`arch`) at one problem size, with every candidate's time per
# launch in microseconds. vyre-build reads this file at build time and
# compiles the choices into the generated launchers; commit it with the
# kernels. Written by `vyre::runtime::tune::TuneTable::save`: re-run the
# tuning to update it rather than editing it by hand.
";

impl TuneTable {
    /// Parse the text of a table; `file` names it in errors.
    ///
    /// # Errors
    /// A TOML syntax error, a record with a missing, unknown or mistyped
    /// key, a `best` that is not among `times_us`, an unknown top-level key
    /// or two records of the same kernel, arch, size and candidate set; the
    /// error gives the line and column.
    pub fn parse(file: &str, text: &str) -> std::result::Result<Self, TuneError> {
        let at = |offset: usize, message: String| TuneError::at(file, text, offset, message);
        let root = DeTable::parse(text).map_err(|e| match e.span() {
            Some(span) => at(span.start, e.message().to_string()),
            None => TuneError::new(file, e.message()),
        })?;
        let mut records: Vec<TuneRecord> = Vec::new();
        for (key, value) in root.get_ref().iter() {
            if key.get_ref() != "record" {
                return Err(at(
                    key.span().start,
                    format!(
                        "unknown top-level key `{}`: a tuning table holds only `[[record]]` entries",
                        toml_key(key.get_ref())
                    ),
                ));
            }
            let DeValue::Array(array) = value.get_ref() else {
                return Err(at(
                    value.span().start,
                    "`record` must be an array of tables: write each record under `[[record]]`"
                        .to_string(),
                ));
            };
            for item in array.iter() {
                let number = records.len() + 1;
                let record = parse_record(item, number, &at)?;
                let record = TuneRecord {
                    line: TuneError::at(file, text, item.span().start, String::new()).line,
                    ..record
                };
                if let Some((earlier, old)) = records
                    .iter()
                    .enumerate()
                    .find(|(_, old)| old.same_key(&record))
                {
                    return Err(at(
                        item.span().start,
                        format!(
                            "record {number} repeats record {} (line {}): same kernel, arch, size and candidates; keep one",
                            earlier + 1,
                            old.line
                        ),
                    ));
                }
                records.push(record);
            }
        }
        Ok(Self { records })
    }

    /// Read `path`; a missing file is an empty table.
    ///
    /// # Errors
    /// The file cannot be read, is not UTF-8 or does not parse
    /// ([`TuneTable::parse`]).
    pub fn load(path: impl AsRef<Path>) -> std::result::Result<Self, TuneError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(&file, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(TuneError::new(
                &file,
                format!("cannot read the tuning table: {e}"),
            )),
        }
    }

    /// Add `record`, replacing every record it covers: one of the same kernel, arch and size
    /// whose candidate set (the names in `times_us`, as a set) is part of `record`'s. A kernel's
    /// instances for other types (other candidate sets) keep their records, and a tuning run
    /// with new instances leaves no stale record behind to compete with its own.
    pub fn insert(&mut self, record: TuneRecord) {
        self.records.retain(|old| !record.covers(old));
        self.records.push(record);
    }

    /// The file text (deterministic: records sorted by kernel, arch, candidate names, size values;
    /// a header comment saying what the file is, that vyre-build reads it and that it should be committed).
    #[must_use]
    pub fn to_toml(&self) -> String {
        let mut records: Vec<&TuneRecord> = self.records.iter().collect();
        records.sort_by(|a, b| a.file_order(b));
        let mut out = String::from(HEADER);
        for r in records {
            let size: Vec<String> = r
                .size
                .iter()
                .map(|(name, v)| format!("{} = {v}", toml_key(name)))
                .collect();
            let times: Vec<String> = r
                .times_us
                .iter()
                .map(|(name, t)| format!("{} = {}", toml_key(name), toml_float(*t)))
                .collect();
            // Writing to a `String` cannot fail.
            let _ = write!(
                out,
                "\n[[record]]\nkernel = {}\narch = {}\nsize = {}\nbest = {}\ntimes_us = {}\n",
                toml_string(&r.kernel),
                toml_string(&r.arch),
                inline_table(&size),
                toml_string(&r.best),
                inline_table(&times),
            );
        }
        out
    }

    /// Write `to_toml()` to `path` unless the file already holds exactly that text (then leave it,
    /// mtime untouched); write through a temporary file in the same directory and rename, so that
    /// a failure never leaves a truncated table.
    ///
    /// # Errors
    /// The temporary file cannot be written or renamed (e.g. the directory
    /// does not exist); no temporary file is left behind.
    pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), TuneError> {
        static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = self.to_toml();
        if fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        let Some(name) = path.file_name() else {
            return Err(TuneError::new(&file, "not a file path"));
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = dir.join(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&temp, path));
        written.map_err(|e| {
            // Best effort: the temporary file may not even exist.
            let _ = fs::remove_file(&temp);
            TuneError::new(&file, format!("cannot write the tuning table: {e}"))
        })
    }
}

/// Record number `number` (1-based) from its TOML value.
fn parse_record<'v, 'i>(
    item: &'v Spanned<DeValue<'i>>,
    number: usize,
    at: &dyn Fn(usize, String) -> TuneError,
) -> std::result::Result<TuneRecord, TuneError> {
    let DeValue::Table(table) = item.get_ref() else {
        return Err(at(
            item.span().start,
            format!("record {number} must be a table (`[[record]]`)"),
        ));
    };
    let string = |value: &Spanned<DeValue<'_>>, key: &str| match value.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        _ => Err(at(value.span().start, format!("`{key}` must be a string"))),
    };
    // The entries of an inline table, or an error naming `what` it holds.
    let entries = |value: &'v Spanned<DeValue<'i>>, key: &str, what: &str| match value.get_ref() {
        DeValue::Table(t) => Ok(t
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), v))
            .collect::<Vec<_>>()),
        _ => Err(at(
            value.span().start,
            format!("`{key}` must be an inline table of {what}, e.g. `{key} = {{ n = 4096 }}`"),
        )),
    };
    let mut kernel = None;
    let mut arch = None;
    let mut size = None;
    let mut best: Option<(String, Range<usize>)> = None;
    let mut times_us = None;
    for (key, value) in table.iter() {
        match &**key.get_ref() {
            "kernel" => kernel = Some(string(value, "kernel")?),
            "arch" => arch = Some(string(value, "arch")?),
            "best" => best = Some((string(value, "best")?, value.span())),
            "size" => {
                let mut values = Vec::new();
                for (name, v) in entries(value, "size", "named non-negative integers")? {
                    let n = match v.get_ref() {
                        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
                        _ => None,
                    };
                    let Some(n) = n else {
                        return Err(at(
                            v.span().start,
                            format!(
                                "`size.{}` must be a non-negative integer (at most {})",
                                toml_key(&name),
                                u64::MAX
                            ),
                        ));
                    };
                    values.push((name, n));
                }
                size = Some(values);
            }
            "times_us" => {
                let mut times = Vec::new();
                for (name, v) in entries(value, "times_us", "named times in microseconds")? {
                    let t = match v.get_ref() {
                        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                            .ok()
                            .map(|i| i as f64),
                        _ => None,
                    };
                    let Some(t) = t else {
                        return Err(at(
                            v.span().start,
                            format!(
                                "`times_us.{}` must be a number (microseconds per launch)",
                                toml_key(&name)
                            ),
                        ));
                    };
                    times.push((name, t));
                }
                times_us = Some(times);
            }
            other => {
                return Err(at(
                    key.span().start,
                    format!(
                        "unknown key `{}` in record {number}; a record has only {}",
                        toml_key(other),
                        RECORD_KEYS.map(|k| format!("`{k}`")).join(", ")
                    ),
                ));
            }
        }
    }
    let missing = |key: &str| at(item.span().start, format!("record {number} has no `{key}`"));
    let kernel = kernel.ok_or_else(|| missing("kernel"))?;
    let arch = arch.ok_or_else(|| missing("arch"))?;
    let size = size.ok_or_else(|| missing("size"))?;
    let (best, best_span) = best.ok_or_else(|| missing("best"))?;
    let times_us: Vec<(String, f64)> = times_us.ok_or_else(|| missing("times_us"))?;
    if !times_us.is_empty() && !times_us.iter().any(|(name, _)| *name == best) {
        let names: Vec<String> = times_us
            .iter()
            .map(|(name, _)| format!("`{}`", toml_key(name)))
            .collect();
        return Err(at(
            best_span.start,
            format!(
                "`best` = {} is not one of the candidates timed in `times_us` ({})",
                toml_string(&best),
                names.join(", ")
            ),
        ));
    }
    Ok(TuneRecord {
        kernel,
        arch,
        size,
        best,
        times_us,
        line: 0,
    })
}

/// `{ a, b }` (or `{}`).
fn inline_table(entries: &[String]) -> String {
    if entries.is_empty() {
        "{}".to_string()
    } else {
        format!("{{ {} }}", entries.join(", "))
    }
}

/// `name` as a TOML key: bare when it can be, else a quoted string.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        toml_string(name)
    }
}

/// `s` as a TOML basic string, escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `t` as a TOML float that reads back to the same value: always with a
/// fraction or exponent (`190.0`, not `190`), `nan`/`inf` spelt as TOML
/// spells them.
fn toml_float(t: f64) -> String {
    if t.is_nan() {
        "nan".to_string()
    } else {
        // `{:?}` is the shortest text that parses back to `t`, and always
        // has a `.` or an exponent (`190.0`, `1e300`, `inf`, `-inf`).
        format!("{t:?}")
    }
}

/// A table that cannot be read or written: `file:line:column: message` (line/column 1-based,
/// 0 when not about a position, e.g. an I/O error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct TuneError {
    /// The table's file (or the name given to [`TuneTable::parse`]).
    pub file: String,
    /// 1-based line, 0 when not about a position.
    pub line: usize,
    /// 1-based column in characters, 0 when not about a position.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl TuneError {
    /// An error about the whole file (line and column 0).
    fn new(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }

    /// An error at byte `offset` of `text` (clamped to its length; the
    /// column counts characters).
    fn at(file: &str, text: &str, offset: usize, message: String) -> Self {
        let before = &text.as_bytes()[..offset.min(text.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Characters, not bytes: count the bytes that start one.
        let column = 1 + before[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        Self {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// Seconds per launch of `launch`: synchronise, run it once (warm-up: module load, caches),
/// then time batches of back-to-back launches, each batch synchronised, doubling the batch size
/// until one batch takes at least 20 ms (or the batch holds 1024 launches); then time 5 batches
/// of that size and return the median per-launch time. Errors from `launch` or synchronising
/// are returned.
///
/// # Errors
/// The first error of `launch` or of [`Device::synchronize`].
pub fn time_launch(device: &Device, mut launch: impl FnMut() -> Result<()>) -> Result<f64> {
    const LONG_ENOUGH: Duration = Duration::from_millis(20);
    const MAX_BATCH: u32 = 1024;
    const BATCHES: usize = 5;
    let mut batch = |n: u32| -> Result<Duration> {
        let start = Instant::now();
        for _ in 0..n {
            launch()?;
        }
        device.synchronize()?;
        Ok(start.elapsed())
    };
    device.synchronize()?;
    batch(1)?;
    let mut n = 1;
    while batch(n)? < LONG_ENOUGH && n < MAX_BATCH {
        n *= 2;
    }
    let mut per_launch = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        per_launch.push(batch(n)?.as_secs_f64() / f64::from(n));
    }
    per_launch.sort_by(f64::total_cmp);
    Ok(per_launch[BATCHES / 2])
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::{TuneChoice, TuneError, TuneRecord, TuneTable, pick, time_launch};
    use crate::ir::{Access, BufRef, DataType, Expr, ProgramBuilder, wire};
    use crate::runtime::{Artifact, Device, Error, Grid, KernelSpec, LaunchArg, ParamSpec};

    const GOOD: &str = r#"# a table
[[record]]
kernel = "gemm_wg::gemm_wg"
arch = "sm_90"
size = { m = 4096, n = 4096, k = 4096, a = 16777216, b = 16777216, c = 16777216 }
best = "bf16_n128"
times_us = { bf16 = 180.25, bf16_n128 = 170.5, bf16_s3 = 190.0 }

[[record]]
kernel = "gemm_wg::gemm_wg"
arch = "sm_90"
size = { m = 128, n = 128, k = 64, a = 8192, b = 8192, c = 16384 }
best = "bf16"
times_us = { bf16 = 4, bf16_n128 = 5.5 }

[[record]]
kernel = "attn::attention"
arch = "wgpu:vulkan:nvidia h100"
size = { seq = 1024 }
best = "n 128/\"odd\""
times_us = { "n 128/\"odd\"" = 12.0, plain = 1e300, "ü" = 0.1 }
"#;

    fn parse(text: &str) -> Result<TuneTable, TuneError> {
        TuneTable::parse("t.toml", text)
    }

    fn without_lines(mut t: TuneTable) -> Vec<TuneRecord> {
        for r in &mut t.records {
            r.line = 0;
        }
        t.records.sort_by(|a, b| a.file_order(b));
        t.records
    }

    fn record(kernel: &str, size: &[(&str, u64)], times: &[(&str, f64)]) -> TuneRecord {
        TuneRecord::from_times(
            kernel,
            "sm_90",
            size.iter().map(|(n, v)| ((*n).to_string(), *v)).collect(),
            times.iter().map(|(n, t)| ((*n).to_string(), *t)).collect(),
        )
    }

    #[test]
    fn parses_records_in_file_order() {
        let t = parse(GOOD).unwrap();
        assert_eq!(t.records.len(), 3);
        let r = &t.records[0];
        assert_eq!(
            (r.kernel.as_str(), r.arch.as_str()),
            ("gemm_wg::gemm_wg", "sm_90")
        );
        let names: Vec<&str> = r.size.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["m", "n", "k", "a", "b", "c"]);
        assert_eq!(r.size[3].1, 16_777_216);
        assert_eq!(r.best, "bf16_n128");
        assert_eq!(
            r.times_us,
            [
                ("bf16".to_string(), 180.25),
                ("bf16_n128".to_string(), 170.5),
                ("bf16_s3".to_string(), 190.0)
            ]
        );
        assert_eq!(r.line, 2);
        assert_eq!(t.records[1].line, 9);
        assert_eq!(t.records[1].times_us[0].1, 4.0);
        assert_eq!(t.records[2].line, 16);
        assert_eq!(t.records[2].best, "n 128/\"odd\"");
        assert_eq!(t.records[2].times_us[2].0, "ü");
        // TOML's other spellings of numbers.
        let t2 = parse(
            "[[record]]\nkernel = 'k'\narch = \"\"\"a\"\"\"\nsize = { n = 0x10, m = 1_000 }\nbest = \"b\"\ntimes_us = { a = 1_000.5, b = 2e-3, c = inf }\n",
        )
        .unwrap();
        assert_eq!(
            t2.records[0].size,
            [("n".to_string(), 16), ("m".to_string(), 1000)]
        );
        let times: Vec<f64> = t2.records[0].times_us.iter().map(|(_, t)| *t).collect();
        assert_eq!(times, [1000.5, 0.002, f64::INFINITY]);
        assert_eq!(parse("").unwrap(), TuneTable::default());
        assert_eq!(parse("# nothing yet\n").unwrap(), TuneTable::default());
    }

    #[test]
    fn round_trips_through_the_file_text() {
        let t = parse(GOOD).unwrap();
        let text = t.to_toml();
        assert!(text.starts_with("# vyre-tune.toml"), "{text}");
        assert!(
            text.contains("vyre-build") && text.contains("commit"),
            "{text}"
        );
        assert!(text.contains("bf16_s3 = 190.0"), "{text}");
        assert!(text.contains("bf16 = 4.0,"), "{text}");
        assert!(text.contains(r#""n 128/\"odd\"" = 12.0"#), "{text}");
        assert!(text.contains(r#"best = "n 128/\"odd\"""#), "{text}");
        let again = parse(&text).unwrap();
        assert_eq!(without_lines(again.clone()), without_lines(t));
        assert_eq!(again.to_toml(), text);
        // Sorted: kernel, then arch, candidates, size values.
        let kernels: Vec<&str> = again.records.iter().map(|r| r.kernel.as_str()).collect();
        assert_eq!(
            kernels,
            ["attn::attention", "gemm_wg::gemm_wg", "gemm_wg::gemm_wg"]
        );
        // (candidates {bf16, bf16_n128} before {bf16, bf16_n128, bf16_s3})
        assert_eq!(again.records[1].size[0].1, 128);
        assert_eq!(again.records[2].size[0].1, 4096);
        // In-memory records of any names and times.
        let mut t = TuneTable::default();
        t.insert(record(
            "k::k",
            &[("n", 1 << 20), ("x", 0)],
            &[("a", 190.0), ("b", 1e-9)],
        ));
        t.insert(record(
            "k::k",
            &[],
            &[("", 0.5), ("tab\tand\u{1}", -0.0), ("big", 1e22)],
        ));
        t.insert(record("k::k", &[("n", 1)], &[]));
        t.insert(record(
            "odd\"kernel\\",
            &[("with space", u64::MAX)],
            &[("a", 2.0)],
        ));
        let text = t.to_toml();
        assert_eq!(
            without_lines(parse(&text).unwrap()),
            without_lines(t.clone()),
            "{text}"
        );
        assert!(text.contains("a = 190.0,"), "{text}");
        assert!(text.contains("times_us = {}"), "{text}");
    }

    #[test]
    fn from_times_picks_the_first_fastest() {
        let r = record(
            "k::k",
            &[("n", 4)],
            &[("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", f64::NAN)],
        );
        assert_eq!((r.best.as_str(), r.line), ("b", 0));
        assert_eq!(
            record("k::k", &[], &[("a", f64::NAN), ("b", 9.0)]).best,
            "b"
        );
        assert_eq!(record("k::k", &[], &[]).best, "");
    }

    /// `(text, line, column, phrase)`: each must fail there, saying that.
    #[test]
    fn errors_say_where_and_what() {
        let head = "[[record]]\nkernel = \"k::k\"\narch = \"sm_90\"\n";
        let full = |rest: &str| format!("{head}{rest}");
        let cases: Vec<(String, usize, usize, &str)> = vec![
            // TOML syntax.
            ("[[record]]\nkernel = \n".to_string(), 2, 10, "expected"),
            (full("size = { m = 1 \n"), 4, 15, "unclosed inline table"),
            // Missing key (record 2 at line 8).
            (
                full(
                    "size = {}\nbest = \"a\"\ntimes_us = { a = 1.0 }\n[[record]]\nkernel = \"k\"\narch = \"a\"\nsize = {}\ntimes_us = {}\n",
                ),
                7,
                1,
                "record 2 has no `best`",
            ),
            (
                full("size = {}\nbest = \"\"\n"),
                1,
                1,
                "record 1 has no `times_us`",
            ),
            // Wrong types.
            (
                full("size = { m = -1 }\n"),
                4,
                14,
                "`size.m` must be a non-negative integer",
            ),
            (
                full("size = { m = 1.5 }\n"),
                4,
                14,
                "`size.m` must be a non-negative integer",
            ),
            (
                full("size = { n = 1, \"a b\" = \"2\" }\n"),
                4,
                25,
                "`size.\"a b\"` must be a non-negative integer",
            ),
            (
                full("size = { m = 18446744073709551616 }\n"),
                4,
                14,
                "non-negative integer",
            ),
            (full("size = 4\n"), 4, 8, "`size` must be an inline table"),
            (
                full("times_us = { a = \"fast\" }\n"),
                4,
                18,
                "`times_us.a` must be a number",
            ),
            (
                full("times_us = [1.0]\n"),
                4,
                12,
                "`times_us` must be an inline table",
            ),
            (
                "[[record]]\nkernel = 1\n".to_string(),
                2,
                10,
                "`kernel` must be a string",
            ),
            (full("best = true\n"), 4, 8, "`best` must be a string"),
            (
                "[[record]]\narch = [\"sm_90\"]\n".to_string(),
                2,
                8,
                "`arch` must be a string",
            ),
            // Unknown keys.
            (
                full("colour = \"red\"\n"),
                4,
                1,
                "unknown key `colour` in record 1; a record has only `kernel`, `arch`, `size`, `best`, `times_us`",
            ),
            (
                format!("version = 1\n{head}"),
                1,
                1,
                "unknown top-level key `version`",
            ),
            (
                "[record]\nkernel = \"k\"\n".to_string(),
                1,
                1,
                "`record` must be an array of tables",
            ),
            (
                "record = [1]\n".to_string(),
                1,
                11,
                "record 1 must be a table",
            ),
            // `best` among the candidates.
            (
                full("size = {}\nbest = \"c\"\ntimes_us = { a = 1.0, b = 2.0 }\n"),
                5,
                8,
                "`best` = \"c\" is not one of the candidates timed in `times_us` (`a`, `b`)",
            ),
            // Duplicates: same kernel, arch, size and candidate set (in any order).
            (
                format!(
                    "{}\n{}",
                    full("size = { n = 1 }\nbest = \"a\"\ntimes_us = { a = 1.0, b = 2.0 }\n"),
                    full("size = { n = 1 }\nbest = \"b\"\ntimes_us = { b = 1.0, a = 2.0 }\n"),
                ),
                8,
                1,
                "record 2 repeats record 1 (line 1)",
            ),
        ];
        for (text, line, column, phrase) in cases {
            let e = parse(&text).expect_err(&text);
            assert_eq!(e.file, "t.toml");
            assert!(e.message.contains(phrase), "{text}\n{e}");
            assert_eq!((e.line, e.column), (line, column), "{text}\n{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("t.toml:{line}:{column}: ")),
                "{e}"
            );
        }
        // Not duplicates: another size, arch or candidate set.
        let one = |size: u64, arch: &str, names: &str| {
            format!(
                "[[record]]\nkernel = \"k\"\narch = \"{arch}\"\nsize = {{ n = {size} }}\nbest = \"a\"\ntimes_us = {{ {names} }}\n"
            )
        };
        let text = [
            one(1, "x", "a = 1.0"),
            one(2, "x", "a = 1.0"),
            one(1, "y", "a = 1.0"),
            one(1, "x", "a = 1.0, b = 2.0"),
        ]
        .concat();
        assert_eq!(parse(&text).unwrap().records.len(), 4);
        // Empty `times_us` with any `best`.
        assert_eq!(
            parse(&one(1, "x", "").replace("times_us = {  }", "times_us = {}"))
                .unwrap()
                .records[0]
                .best,
            "a"
        );
        // The column counts characters.
        let e = parse("[[record]]\nkernel = \"ü\"\narch = \"ü\"\nsize = { \"ü\" = \"x\" }\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (4, 16), "{e}");
    }

    #[test]
    fn pick_takes_the_nearest_in_log_space() {
        let choices = [
            TuneChoice {
                arch: "sm_90",
                size: &[1024],
                instance: 1,
            },
            TuneChoice {
                arch: "sm_90",
                size: &[8192],
                instance: 2,
            },
            TuneChoice {
                arch: "sm_80",
                size: &[2048],
                instance: 3,
            },
            TuneChoice {
                arch: "sm_90",
                size: &[2048, 2048],
                instance: 4,
            },
        ];
        assert_eq!(pick("sm_90", &choices, &[2048]), Some(1));
        assert_eq!(pick("sm_90", &choices, &[6000]), Some(2));
        assert_eq!(pick("sm_90", &choices, &[1 << 40]), Some(2));
        assert_eq!(pick("sm_90", &choices, &[0]), Some(1));
        // Other arch ignored, length mismatch ignored.
        assert_eq!(pick("sm_80", &choices, &[1 << 20]), Some(3));
        assert_eq!(pick("sm_90", &choices, &[2048, 2048]), Some(4));
        assert_eq!(pick("sm_90", &choices, &[2048, 2048, 1]), None);
        assert_eq!(pick("sm_70", &choices, &[2048]), None);
        assert_eq!(pick("sm_90", &[], &[2048]), None);
        // Ties go to the earlier choice: 2048 is one octave from both.
        let tie = [
            TuneChoice {
                arch: "a",
                size: &[1024, 64],
                instance: 7,
            },
            TuneChoice {
                arch: "a",
                size: &[4096, 64],
                instance: 8,
            },
            TuneChoice {
                arch: "a",
                size: &[2048, 32],
                instance: 9,
            },
        ];
        assert_eq!(pick("a", &tie, &[2048, 64]), Some(7));
        assert_eq!(pick("a", &tie[1..], &[2048, 64]), Some(8));
        // Every dimension counts.
        assert_eq!(pick("a", &tie, &[2048, 33]), Some(9));
    }

    #[test]
    fn insert_replaces_the_same_measurement() {
        let mut t = TuneTable::default();
        t.insert(record("k", &[("n", 1)], &[("a", 1.0), ("b", 2.0)]));
        t.insert(record("k", &[("n", 1)], &[("b", 0.5), ("a", 1.0)]));
        assert_eq!(t.records.len(), 1);
        assert_eq!(t.records[0].best, "b");
        // Fewer candidates, another size, arch or kernel is another record.
        t.insert(record("k", &[("n", 1)], &[("a", 1.0)]));
        t.insert(record("k", &[("n", 2)], &[("a", 1.0)]));
        t.insert(record("j", &[("n", 2)], &[("a", 1.0)]));
        let mut other_arch = record("k", &[("n", 2)], &[("a", 1.0)]);
        other_arch.arch = "cpu".to_string();
        t.insert(other_arch);
        // Another type's instances (a disjoint set) too.
        t.insert(record("k", &[("n", 1)], &[("x", 3.0), ("y", 2.0)]));
        assert_eq!(t.records.len(), 6);
        assert_eq!(t.records[0].best, "b");
        assert_eq!(t.records[1].times_us.len(), 1);
        // A run with a new instance covers both earlier sets of `a` and `b`
        // at n = 1: one record is left there for them, beside `x`/`y`'s.
        t.insert(record(
            "k",
            &[("n", 1)],
            &[("a", 1.0), ("b", 0.9), ("c", 0.4)],
        ));
        assert_eq!(t.records.len(), 5);
        let at_one: Vec<&str> = t
            .records
            .iter()
            .filter(|r| r.kernel == "k" && r.arch == "sm_90" && r.size == [("n".to_string(), 1)])
            .map(|r| r.best.as_str())
            .collect();
        assert_eq!(at_one, ["y", "c"]);
    }

    #[test]
    fn save_writes_only_changes_and_never_half_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vyre-tune.toml");
        assert_eq!(TuneTable::load(&path).unwrap(), TuneTable::default());
        let mut t = TuneTable::default();
        t.insert(record("k::k", &[("n", 1024)], &[("a", 1.0), ("b", 2.0)]));
        t.save(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), t.to_toml());
        let loaded = TuneTable::load(&path).unwrap();
        assert_eq!(without_lines(loaded.clone()), without_lines(t.clone()));
        assert_eq!(
            loaded.records[0].line,
            t.to_toml().lines().position(|l| l == "[[record]]").unwrap() + 1
        );
        // The same table again: the file is left alone.
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        loaded.save(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old);
        // A change is written.
        t.insert(record("k::k", &[("n", 4096)], &[("a", 3.0), ("b", 2.0)]));
        t.save(&path).unwrap();
        assert_ne!(fs::metadata(&path).unwrap().modified().unwrap(), old);
        assert_eq!(TuneTable::load(&path).unwrap().records.len(), 2);
        let names = |d: &std::path::Path| {
            let mut v: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(dir.path()), ["vyre-tune.toml"]);
        // Into a missing directory: an error, and nothing left behind.
        let missing = dir.path().join("missing").join("vyre-tune.toml");
        let e = t.save(&missing).unwrap_err();
        assert_eq!((e.line, e.column), (0, 0));
        assert!(e.file.ends_with("vyre-tune.toml"), "{e}");
        assert!(e.message.contains("cannot write"), "{e}");
        assert_eq!(names(dir.path()), ["vyre-tune.toml"]);
        // A bad file is a positioned load error; a directory an I/O one.
        fs::write(&path, "[[record]]\nkernel = 3\n").unwrap();
        let e = TuneTable::load(&path).unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e}");
        assert_eq!(e.file, path.display().to_string());
        let e = TuneTable::load(dir.path()).unwrap_err();
        assert_eq!((e.line, e.column), (0, 0), "{e}");
        // `?` into the runtime's error.
        let as_runtime = || -> crate::runtime::Result<TuneTable> { Ok(TuneTable::load(&path)?) };
        assert!(matches!(as_runtime(), Err(Error::Tune(_))));
    }

    /// `y[i] = a * x[i] + y[i]`, as a `reference` artifact.
    fn saxpy_bytes() -> Vec<u8> {
        let mut b = ProgramBuilder::new("saxpy", [64, 1, 1]);
        let a = b.scalar("a", DataType::F32);
        let x = b.buffer("x", DataType::F32, Access::Read);
        let y = b.buffer("y", DataType::F32, Access::ReadWrite);
        let i = b.local("i", DataType::U32, false);
        b.body(|blk| {
            blk.let_(i, Expr::global_id_x());
            blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
                let v = Expr::param(a)
                    .mul(Expr::load(BufRef::Param(x), Expr::local(i)))
                    .add(Expr::load(BufRef::Param(y), Expr::local(i)));
                then.store(BufRef::Param(y), Expr::local(i), v);
            });
        });
        wire::to_wire(&b.finish())
    }

    #[test]
    fn time_launch_times_the_cpu_device() {
        let device = Device::cpu();
        assert_eq!(device.tune_arch(), "cpu");
        assert_eq!(device.clone().tune_arch(), "cpu");
        let bytes = saxpy_bytes();
        let artifacts = [Artifact {
            target: "reference",
            arch: None,
            bytes: &bytes,
        }];
        let params = [
            ParamSpec::Scalar {
                name: "a",
                ty: DataType::F32,
            },
            ParamSpec::Buffer {
                name: "x",
                elem: DataType::F32,
                access: Access::Read,
            },
            ParamSpec::Buffer {
                name: "y",
                elem: DataType::F32,
                access: Access::ReadWrite,
            },
        ];
        let spec = KernelSpec {
            name: "saxpy",
            key: "runtime::tune::tests::saxpy",
            params: &params,
            workgroup_size: [64, 1, 1],
            unchecked: false,
            artifacts: &artifacts,
            debug: &[],
            tensor_maps: &[],
        };
        let x = device.upload(&[1.0f32; 256]).unwrap();
        let mut y = device.zeros::<f32>(256).unwrap();
        let mut launches = 0u32;
        let seconds = time_launch(&device, || {
            launches += 1;
            device.launch(
                &spec,
                Grid::threads(256),
                &mut [LaunchArg::F32(0.5), x.arg(), y.arg_mut()],
            )
        })
        .unwrap();
        assert!(seconds.is_finite() && seconds > 0.0, "{seconds}");
        assert!(launches >= 1 + 1 + 5, "{launches}");
        assert!(launches <= 1 + 2047 + 5 * 1024, "{launches}");
        assert_eq!(device.download(&y).unwrap()[0], 0.5 * launches as f32);
        // A failing launch stops the timing with its error.
        let mut calls = 0;
        let e = time_launch(&device, || {
            calls += 1;
            if calls == 3 {
                device.launch(
                    &spec,
                    Grid::threads(256),
                    &mut [LaunchArg::U32(1), x.arg(), y.arg_mut()],
                )
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(matches!(e, Error::BadArguments { .. }), "{e}");
        assert_eq!(calls, 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text, or a valid table with bytes cut out or spliced in,
        /// parses or fails with a position inside the text; never panics.
        #[test]
        fn parse_never_panics(
            noise in ".{0,64}",
            cut in 0usize..700,
            len in 0usize..8,
            insert in "[\\[\\]{}=\",.a-z0-9 \n#'-]{0,6}",
        ) {
            let lines = GOOD.lines().count();
            for text in [noise.clone(), splice(GOOD, cut, len, &insert), splice(GOOD, cut, 0, &noise)] {
                match TuneTable::parse("p", &text) {
                    Ok(t) => { let _ = TuneTable::parse("q", &t.to_toml()).unwrap(); }
                    Err(e) => prop_assert!(e.line <= text.lines().count().max(lines) + 1, "{e}"),
                }
            }
        }
    }

    /// `text` with `len` bytes at `at` replaced by `with` (on char
    /// boundaries: positions are moved back to one).
    fn splice(text: &str, at: usize, len: usize, with: &str) -> String {
        let floor = |mut i: usize| {
            i = i.min(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = floor(at);
        let end = floor(start + len);
        format!("{}{with}{}", &text[..start], &text[end..])
    }
}
