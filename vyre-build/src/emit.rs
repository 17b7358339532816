//! Running the emitters of planned blobs (in parallel) and sorting their
//! results into blobs, skipped optional targets and build errors. No file
//! system access here (an emitter may run an external tool, such as
//! `ptxas`, which is its own business).

use std::sync::atomic::{AtomicUsize, Ordering};

use vyre::DispatchConfig;
use vyre::driver::{BackendError, emit_aot_target};

use crate::Error;
use crate::plan::{Job, ParsedFile};

/// What became of one job.
pub(crate) enum Emitted {
    /// The blob.
    Blob(Vec<u8>),
    /// An optional target's tool is missing: the note for the user.
    Unavailable(String),
    /// The target cannot express the kernel: the placeholder blob
    /// ([`vyre::runtime::Artifact::unsupported_blob`]) and the warning.
    Lacks(Vec<u8>, String),
}

/// Whether `error` says that a tool the target needs (such as `ptxas`) is
/// not installed; then the note for the user. The driver reports this as
/// [`BackendError::ToolUnavailable`], for typed emitters and for the
/// seed's string protocol alike.
pub(crate) fn tool_unavailable(error: &BackendError) -> Option<&str> {
    match error {
        BackendError::ToolUnavailable { message, .. } => Some(message),
        _ => None,
    }
}

/// The message of an emitter's failure, for [`Error::Emit`].
fn failure_message(error: BackendError) -> String {
    match error {
        BackendError::KernelCompileFailed {
            compiler_message, ..
        } => compiler_message,
        other => other.to_string(),
    }
}

/// Emit the jobs `pending` (indices into `jobs`), in parallel; results in
/// the order of `pending`.
pub(crate) fn emit_jobs(
    parsed: &[ParsedFile],
    jobs: &[Job],
    pending: &[usize],
    config: &DispatchConfig,
) -> Vec<Result<Vec<u8>, BackendError>> {
    run_parallel(pending, |&j| {
        let job = &jobs[j];
        let program = &parsed[job.file].programs[job.kernel];
        emit_aot_target(job.target.target, program, &job.config(config))
    })
}

/// Sort one emitter result: a blob, a skip (optional target whose tool is
/// missing) or the build's error.
pub(crate) fn classify(
    parsed: &[ParsedFile],
    job: &Job,
    result: Result<Vec<u8>, BackendError>,
) -> Result<Emitted, Error> {
    let error = match result {
        Ok(bytes) => return Ok(Emitted::Blob(bytes)),
        Err(e) => e,
    };
    if job.target.optional
        && let Some(note) = tool_unavailable(&error)
    {
        return Ok(Emitted::Unavailable(note.to_string()));
    }
    let pf = &parsed[job.file];
    if let BackendError::TargetLacks { construct, .. } = &error {
        return Ok(Emitted::Lacks(
            vyre::runtime::Artifact::unsupported_blob(construct),
            lacks_warning(parsed, job, construct),
        ));
    }
    Err(Error::Emit {
        file: pf.file.display.clone(),
        kernel: pf.programs[job.kernel].name.clone(),
        target: job.target_label(),
        message: failure_message(error),
    })
}

/// The warning for `job`'s kernel, which its target cannot express because
/// of `reason`.
pub(crate) fn lacks_warning(parsed: &[ParsedFile], job: &Job, reason: &str) -> String {
    let pf = &parsed[job.file];
    format!(
        "{}: kernel `{}` is not built for `{}`: {reason}; launching it on a device of that target is an error",
        pf.file.display,
        pf.programs[job.kernel].name,
        job.target_label()
    )
}

/// The reason recorded in the placeholder blob at `path`, when it is one
/// ([`vyre::runtime::Artifact::unsupported_blob`]), decoded by the
/// runtime's [`vyre::runtime::Artifact::unsupported_reason`]; only the
/// magic's bytes are read from any other blob.
pub(crate) fn placeholder_reason(path: &std::path::Path, target: &str) -> Option<String> {
    use std::io::Read;
    let magic = vyre::runtime::Artifact::UNSUPPORTED_MAGIC;
    let mut file = std::fs::File::open(path).ok()?;
    let mut bytes = vec![0; magic.len()];
    file.read_exact(&mut bytes).ok()?;
    if bytes != magic {
        return None;
    }
    file.read_to_end(&mut bytes).ok()?;
    let artifact = vyre::runtime::Artifact {
        target,
        arch: None,
        bytes: &bytes,
    };
    artifact.unsupported_reason().map(str::to_owned)
}

/// Map `f` over `items` on up to `available_parallelism` threads, keeping
/// the order of the results.
pub(crate) fn run_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = Vec::with_capacity(items.len());
    slots.resize_with(items.len(), || None);
    let chunks: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() {
                            break;
                        }
                        done.push((i, f(&items[i])));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, r) in chunks.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_unavailable_is_recognised_by_the_variant_only() {
        let missing = BackendError::ToolUnavailable {
            backend: "toy".to_string(),
            tool: "toolc".to_string(),
            message: "toolc not found".to_string(),
        };
        assert_eq!(tool_unavailable(&missing), Some("toolc not found"));
        // A compile failure whose text happens to look like the seed's
        // prefix is a failure: the driver classifies, not this crate.
        let failed = BackendError::KernelCompileFailed {
            backend: "toy".to_string(),
            compiler_message: format!("{}toolc not found", vyre::driver::UNAVAILABLE_PREFIX),
        };
        assert_eq!(tool_unavailable(&failed), None);
    }

    #[test]
    fn run_parallel_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            run_parallel(&items, |x| x * 2),
            (0..100).map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
