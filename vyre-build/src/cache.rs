//! The keys and text formats of the two caches, with no file system access
//! (`io` reads and writes them):
//!
//! - the per-blob cache manifest (`OUT_DIR/<module>/cache`): for each blob,
//!   the key of everything it was emitted from (the kernel's wire encoding,
//!   target, arch, dispatch config and generator) and its length and
//!   checksum;
//! - the build record (`OUT_DIR/<module>/build`), for the fast path: the key
//!   of every input of a `compile()` and the outputs it produced.
//!
//! Every key is a SHA-256 (see [`crate::hash`]); kernels are hashed by
//! their wire encoding (`vyre::ir::wire::to_wire`), which holds everything
//! a program is (name, doc, flags, workgroup size, params, shared arrays,
//! locals, body; `f32` literals by bit pattern).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use vyre::DispatchConfig;
use vyre::driver::{BoundsChecks, KernelLauncherCodegen};
use vyre::ir::Program;

use crate::hash::{Digest, Hasher, checksum};
use crate::plan::KernelFile;

/// First line of the cache manifest; bump when its format or keys change.
const CACHE_HEADER: &str = "vyre-build cache v2";

/// First line of the build record; bump when its format or key change.
const RECORD_HEADER: &str = "vyre-build record v2";

/// Content hash of a kernel: SHA-256 of its wire encoding.
pub(crate) fn kernel_digest(program: &Program) -> Digest {
    Hasher::new("vyre-build kernel v1")
        .field(vyre::ir::wire::to_wire(program))
        .finish()
}

/// Hash every field of the dispatch config.
fn config_fields(h: Hasher, config: &DispatchConfig) -> Hasher {
    let bounds = match config.bounds_checks {
        BoundsChecks::Auto => "auto".to_string(),
        BoundsChecks::Always => "always".to_string(),
        // A policy added to `vyre` later: its name.
        other => format!("{other:?}"),
    };
    let h = match config.workgroup_size {
        Some([x, y, z]) => h
            .field([1])
            .field(x.to_le_bytes())
            .field(y.to_le_bytes())
            .field(z.to_le_bytes()),
        None => h.field([0]),
    };
    h.field(config.ulp_budget.to_le_bytes())
        .field(bounds)
        .opt_field(config.target_arch.as_deref())
        .opt_field(config.label.as_deref())
}

/// Cache key of one blob: everything it is emitted from.
pub(crate) fn blob_key(
    kernel: &Digest,
    target: &str,
    arch: Option<&str>,
    config: &DispatchConfig,
    generator: &str,
) -> Digest {
    let h = Hasher::new("vyre-build blob v1")
        .field(kernel.to_string())
        .field(target)
        .opt_field(arch);
    config_fields(h, config).field(generator).finish()
}

/// One cache record: the key of everything a blob was emitted from, and
/// its length and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    /// The blob's cache key.
    pub input: Digest,
    /// Length in bytes.
    pub len: u64,
    /// SHA-256 of the bytes.
    pub checksum: Digest,
}

impl CacheEntry {
    /// The entry for `bytes` emitted from `input`.
    pub(crate) fn new(input: Digest, bytes: &[u8]) -> Self {
        Self {
            input,
            len: bytes.len() as u64,
            checksum: checksum(bytes),
        }
    }

    /// Whether `bytes` are the blob this entry describes (same length, same
    /// checksum: a truncated or edited blob is never reused).
    pub(crate) fn describes(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.len && checksum(bytes) == self.checksum
    }
}

/// The cache manifest: blob file name (relative to the module directory)
/// to its entry.
pub(crate) type CacheManifest = BTreeMap<String, CacheEntry>;

/// Parse a cache manifest; anything unreadable is an empty cache.
pub(crate) fn parse_manifest(text: &str) -> CacheManifest {
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    if lines.next() != Some(CACHE_HEADER) {
        return map;
    }
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [file, input, len, sum] = fields[..]
            && let (Some(input), Ok(len), Some(checksum)) =
                (Digest::from_hex(input), len.parse(), Digest::from_hex(sum))
        {
            map.insert(
                file.to_string(),
                CacheEntry {
                    input,
                    len,
                    checksum,
                },
            );
        }
    }
    map
}

/// The text of a cache manifest.
pub(crate) fn manifest_text(entries: &CacheManifest) -> String {
    let mut text = format!("{CACHE_HEADER}\n");
    for (file, e) in entries {
        let _ = writeln!(text, "{file}\t{}\t{}\t{}", e.input, e.len, e.checksum);
    }
    text
}

/// Everything the output of a `compile()` depends on, for the fast path.
#[derive(Clone, Copy)]
pub(crate) struct BuildInputs<'a> {
    /// Fingerprint of the running generator.
    pub generator: &'a str,
    /// The dispatch config.
    pub config: &'a DispatchConfig,
    /// Launcher ABI version.
    pub abi_version: u32,
    /// File name of the generated module.
    pub module_name: &'a str,
    /// Name of the `vyre` crate in generated code.
    pub crate_name: &'a str,
    /// Stub mode.
    pub stub: bool,
    /// Debug calls compiled in.
    pub debug: bool,
    /// The targets.
    pub targets: &'a [&'static KernelLauncherCodegen],
    /// Archs of per-arch targets.
    pub archs: &'a [String],
    /// The tracked environment variables and their values (the tool paths
    /// an emitter reads, e.g. `VYRE_PTXAS`: a new ptxas must not be hidden
    /// by the fast path).
    pub env: &'a [(String, Vec<u8>)],
    /// The kernel files.
    pub files: &'a [KernelFile],
    /// Their sources.
    pub sources: &'a [String],
    /// The tuning table's text, if there is one.
    pub tune_table: Option<&'a str>,
}

impl BuildInputs<'_> {
    /// The key of the build.
    pub(crate) fn key(&self) -> Digest {
        let mut h = Hasher::new(RECORD_HEADER).field(self.generator);
        h = config_fields(h, self.config)
            .field(self.abi_version.to_le_bytes())
            .field(self.module_name)
            .field(self.crate_name)
            .field([u8::from(self.stub)])
            .field([u8::from(self.debug)]);
        for t in self.targets {
            h = h.field(t.target);
        }
        h = h.field("archs");
        for a in self.archs {
            h = h.field(a);
        }
        h = h.field("env");
        for (var, value) in self.env {
            h = h.field(var).field(value);
        }
        h = h.field("files");
        for (f, src) in self.files.iter().zip(self.sources) {
            h = h
                .field(&f.display)
                .field(f.module_path.join("::"))
                .field(src);
        }
        h = h.field("tune");
        if let Some(text) = self.tune_table {
            h = h.field(text);
        }
        h.finish()
    }
}

/// One output file of a recorded build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedFile {
    /// Path relative to the output directory, `/`- or
    /// platform-separated as written.
    pub rel_path: String,
    /// Length and checksum of its bytes.
    pub entry: CacheEntry,
}

/// The record of the last build into a module directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildRecord {
    /// The build's key.
    pub key: Digest,
    /// Number of kernels.
    pub kernels: usize,
    /// Every output file.
    pub files: Vec<RecordedFile>,
    /// Every warning of that build (one line each).
    pub warnings: Vec<String>,
}

impl BuildRecord {
    /// Parse a record; `None` when it is not one.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != RECORD_HEADER {
            return None;
        }
        let key = Digest::from_hex(lines.next()?.strip_prefix("key ")?)?;
        let kernels = lines.next()?.strip_prefix("kernels ")?.parse().ok()?;
        let mut record = Self {
            key,
            kernels,
            files: Vec::new(),
            warnings: Vec::new(),
        };
        for line in lines {
            if let Some(w) = line.strip_prefix("warning ") {
                record.warnings.push(w.to_string());
                continue;
            }
            let mut parts = line.strip_prefix("file ")?.splitn(3, ' ');
            let len = parts.next()?.parse().ok()?;
            let checksum = Digest::from_hex(parts.next()?)?;
            record.files.push(RecordedFile {
                rel_path: parts.next()?.to_string(),
                entry: CacheEntry {
                    // Not used for recorded files.
                    input: checksum,
                    len,
                    checksum,
                },
            });
        }
        Some(record)
    }

    /// The text of the record.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "{RECORD_HEADER}\nkey {}\nkernels {}\n",
            self.key, self.kernels
        );
        for f in &self.files {
            let _ = writeln!(
                text,
                "file {} {} {}",
                f.entry.len, f.entry.checksum, f.rel_path
            );
        }
        for w in &self.warnings {
            let _ = writeln!(text, "warning {}", w.replace('\n', " "));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_other_versions() {
        let mut m = CacheManifest::new();
        m.insert(
            "a.k.reference.vyrebin".to_string(),
            CacheEntry::new(checksum(b"in"), b"blob"),
        );
        let text = manifest_text(&m);
        assert_eq!(parse_manifest(&text), m);
        assert!(parse_manifest(&text.replace("v2", "v1")).is_empty());
        assert!(m["a.k.reference.vyrebin"].describes(b"blob"));
        assert!(!m["a.k.reference.vyrebin"].describes(b"blo"));
        assert!(!m["a.k.reference.vyrebin"].describes(b"blub"));
    }

    #[test]
    fn record_round_trips() {
        let record = BuildRecord {
            key: checksum(b"key"),
            kernels: 2,
            files: vec![RecordedFile {
                rel_path: "vyre_kernels/a b.rs".to_string(),
                entry: CacheEntry::new(checksum(b"x"), b"text"),
            }],
            warnings: vec!["one".to_string()],
        };
        let parsed = BuildRecord::parse(&record.text()).unwrap();
        assert_eq!(parsed.key, record.key);
        assert_eq!(parsed.kernels, 2);
        assert_eq!(parsed.files[0].rel_path, "vyre_kernels/a b.rs");
        assert!(parsed.files[0].entry.describes(b"text"));
        assert_eq!(parsed.warnings, ["one"]);
        assert_eq!(BuildRecord::parse("vyre-build record v1\n"), None);
    }

    #[test]
    fn blob_keys_follow_every_input() {
        let k = checksum(b"kernel");
        let c = DispatchConfig::default();
        let base = blob_key(&k, "ptx", Some("sm_80"), &c, "g");
        assert_eq!(base, blob_key(&k, "ptx", Some("sm_80"), &c, "g"));
        assert_ne!(
            base,
            blob_key(&checksum(b"other"), "ptx", Some("sm_80"), &c, "g")
        );
        assert_ne!(base, blob_key(&k, "cubin", Some("sm_80"), &c, "g"));
        assert_ne!(base, blob_key(&k, "ptx", None, &c, "g"));
        assert_ne!(base, blob_key(&k, "ptx", Some("sm_80"), &c, "h"));
        let mut c2 = c.clone();
        c2.ulp_budget = 1;
        assert_ne!(base, blob_key(&k, "ptx", Some("sm_80"), &c2, "g"));
        let mut c3 = c.clone();
        c3.bounds_checks = BoundsChecks::Always;
        assert_ne!(base, blob_key(&k, "ptx", Some("sm_80"), &c3, "g"));
        let mut c4 = c;
        c4.workgroup_size = Some([64, 1, 1]);
        assert_ne!(base, blob_key(&k, "ptx", Some("sm_80"), &c4, "g"));
    }
}
