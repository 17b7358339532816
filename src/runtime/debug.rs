//! The runtime half of `debug_print!` / `debug_assert!` (see
//! [`crate::ir::DEBUG_WORDS_PARAM`] for how the front end lowers them):
//! a kernel built with them has two hidden ring parameters, which
//! [`Device::launch`] passes itself. Such a launch waits for the kernel,
//! reads the rings, hands each record to the device's debug sink (stderr
//! unless [`Device::on_debug_output`] set another) in invocation order,
//! and returns [`Error::KernelAssert`] when an assert failed.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::{AnyBuffer, Device, Error, KernelArg, KernelSpec, ParamSpec, Result};
use crate::ir::{DEBUG_RECORD_HEADER, DataType, FormatPiece, format_pieces, in_float_ring};

/// Words in each ring (256 KiB each): records past it are counted, not
/// kept.
pub const DEBUG_RING_WORDS: usize = 1 << 16;

/// One `debug_print!` or `debug_assert!` call site, as a kernel's
/// [`KernelSpec::debug`] lists it (generated from
/// [`crate::ir::DebugSite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugSiteSpec<'a> {
    /// `Some(condition)` for a `debug_assert!`, `None` for a print.
    pub assert: Option<&'a str>,
    /// Source file.
    pub file: &'a str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The `{}` format string (empty: an assert without a message).
    pub format: &'a str,
    /// The argument types.
    pub args: &'a [DataType],
}

/// One record a kernel wrote: which call, which invocation, and the
/// formatted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugRecord {
    /// The kernel.
    pub kernel: String,
    /// `file:line:column` of the call.
    pub site: String,
    /// The invocation's `global_id()`.
    pub invocation: [u32; 3],
    /// The formatted message (empty for an assert without one).
    pub message: String,
    /// `Some(condition)` when this is a failed `debug_assert!`.
    pub failed_assert: Option<String>,
}

impl fmt::Display for DebugRecord {
    /// `kernel file:line:col (x, y, z): message`, or for an assert
    /// `... assertion failed: cond: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [x, y, z] = self.invocation;
        write!(f, "[{} {} ({x}, {y}, {z})]", self.kernel, self.site)?;
        if let Some(cond) = &self.failed_assert {
            write!(f, " assertion failed: {cond}")?;
            if !self.message.is_empty() {
                f.write_str(":")?;
            }
        }
        if !self.message.is_empty() {
            write!(f, " {}", self.message)?;
        }
        Ok(())
    }
}

/// Where a device's debug records go.
pub type DebugSink = Arc<dyn Fn(&DebugRecord) + Send + Sync>;

/// What the handles (and streams) of one device share for debugging: the
/// rings, made at the first debug launch, and the sink.
#[derive(Default)]
pub(super) struct DebugState {
    rings: Mutex<Option<(AnyBuffer, AnyBuffer)>>,
    sink: RwLock<Option<DebugSink>>,
}

impl fmt::Debug for DebugState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DebugState").finish_non_exhaustive()
    }
}

/// Whether `kernel` was built with debug calls: its last two parameters
/// are the rings.
pub(super) fn has_rings(kernel: &KernelSpec<'_>) -> bool {
    let n = kernel.params.len();
    n >= 2
        && matches!(
            (&kernel.params[n - 2], &kernel.params[n - 1]),
            (ParamSpec::Buffer { name: w, .. }, ParamSpec::Buffer { name: f, .. })
                if *w == crate::ir::DEBUG_WORDS_PARAM && *f == crate::ir::DEBUG_FLOATS_PARAM
        )
}

impl Device {
    /// Send the `debug_print!` / `debug_assert!` records of this device's
    /// launches (every handle and stream of it) to `sink` instead of
    /// stderr.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let device = vyre::Device::cpu();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let keep = Arc::clone(&seen);
    /// device.on_debug_output(move |r| keep.lock().unwrap().push(r.to_string()));
    /// ```
    pub fn on_debug_output(&self, sink: impl Fn(&DebugRecord) + Send + Sync + 'static) {
        *self
            .debug
            .sink
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sink));
    }

    /// Launch a kernel with debug rings: `raw` holds the checked user
    /// arguments; the rings are added, the launch waited for, the records
    /// delivered.
    pub(super) fn launch_with_rings(
        &self,
        kernel: &KernelSpec<'_>,
        workgroups: [u32; 3],
        raw: Vec<KernelArg<'_>>,
    ) -> Result<()> {
        let mut rings = self
            .debug
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if rings.is_none() {
            *rings = Some((
                self.zeros_any(DataType::U32, DEBUG_RING_WORDS)?,
                self.zeros_any(DataType::F32, DEBUG_RING_WORDS)?,
            ));
        }
        let Some((words, floats)) = rings.as_mut() else {
            unreachable!("made above");
        };
        // Only the counter needs resetting: records are read up to it.
        self.write_bytes(words, &vec![0u8; DEBUG_RING_WORDS * 4])?;
        {
            let n = kernel.params.len();
            let mut ring_args = [words.arg_mut(), floats.arg_mut()];
            // The user's arguments, for as long as the rings are borrowed.
            let mut all: Vec<KernelArg<'_>> = raw;
            for (arg, param) in ring_args.iter_mut().zip(&kernel.params[n - 2..]) {
                all.push(arg.check(self.id, kernel, param)?);
            }
            self.backend.launch(kernel, workgroups, &mut all)?;
        }
        let word_bytes = self.download_bytes(words)?;
        let float_bytes = self.download_bytes(floats)?;
        let (records, lost) = decode(kernel, &word_bytes, &float_bytes)?;
        let sink = self
            .debug
            .sink
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let deliver = |r: &DebugRecord| match &sink {
            Some(sink) => sink(r),
            None => eprintln!("{r}"),
        };
        records.iter().for_each(deliver);
        if lost > 0 {
            let note = DebugRecord {
                kernel: kernel.name.to_string(),
                site: "(debug ring)".to_string(),
                invocation: [0; 3],
                message: format!(
                    "{lost} words of records did not fit in the {DEBUG_RING_WORDS}-word ring and were dropped"
                ),
                failed_assert: None,
            };
            deliver(&note);
        }
        let failed: Vec<&DebugRecord> = records
            .iter()
            .filter(|r| r.failed_assert.is_some())
            .collect();
        match failed.first() {
            Some(first) => Err(Error::KernelAssert {
                kernel: kernel.name.to_string(),
                site: first.site.clone(),
                invocation: first.invocation,
                condition: first.failed_assert.clone().unwrap_or_default(),
                message: first.message.clone(),
                more: failed.len() - 1,
            }),
            None => Ok(()),
        }
    }
}

/// The records in the rings, in invocation order (x fastest, then y, z;
/// one invocation's in the order it wrote them), and how many reserved
/// words did not fit.
fn decode(kernel: &KernelSpec<'_>, words: &[u8], floats: &[u8]) -> Result<(Vec<DebugRecord>, u64)> {
    let word = |i: usize| -> u32 {
        words
            .get(i * 4..i * 4 + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let float = |i: usize| -> f32 {
        floats
            .get(i * 4..i * 4 + 4)
            .map_or(0.0, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let capacity = words.len() / 4;
    let reserved = word(0) as usize;
    let corrupt = |what: String| Error::Backend {
        backend: "debug".to_string(),
        message: format!("kernel `{}`: unreadable debug ring: {what}", kernel.name),
    };
    let mut records = Vec::new();
    let mut at = 1;
    while at < 1 + reserved {
        let site_id = word(at) as usize;
        let site = kernel
            .debug
            .get(site_id)
            .ok_or_else(|| corrupt(format!("site {site_id} at word {at}")))?;
        let len = DEBUG_RECORD_HEADER as usize + site.args.len();
        if at + len > capacity {
            break;
        }
        let values: Vec<String> = site
            .args
            .iter()
            .enumerate()
            .map(|(k, ty)| {
                let i = at + DEBUG_RECORD_HEADER as usize + k;
                if in_float_ring(*ty) {
                    float(i).to_string()
                } else {
                    match ty {
                        DataType::I32 => (word(i).cast_signed()).to_string(),
                        DataType::Bool => (word(i) != 0).to_string(),
                        _ => word(i).to_string(),
                    }
                }
            })
            .collect();
        records.push(DebugRecord {
            kernel: kernel.name.to_string(),
            site: format!("{}:{}:{}", site.file, site.line, site.column),
            invocation: [word(at + 1), word(at + 2), word(at + 3)],
            message: render(site.format, &values),
            failed_assert: site.assert.map(str::to_string),
        });
        at += len;
    }
    let lost = (1 + reserved).saturating_sub(at) as u64;
    records.sort_by_key(|r| {
        let [x, y, z] = r.invocation;
        (z, y, x)
    });
    Ok((records, lost))
}

/// `format` with each `{}` replaced by the next of `values`.
fn render(format: &str, values: &[String]) -> String {
    let Ok(pieces) = format_pieces(format) else {
        // The front end checked it; print it raw rather than fail.
        return format!("{format} {values:?}");
    };
    let mut out = String::new();
    let mut next = values.iter();
    for p in pieces {
        match p {
            FormatPiece::Text(t) => out.push_str(t),
            FormatPiece::Brace(c) => out.push(c),
            FormatPiece::Arg => out.push_str(next.next().map_or("?", String::as_str)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn render_fills_placeholders_and_unescapes_braces() {
        let v = ["1".to_string(), "-2.5".to_string()];
        assert_eq!(render("i = {} v = {} {{}}", &v), "i = 1 v = -2.5 {}");
        assert_eq!(render("", &[]), "");
    }
}
