//! Fuzz properties, shared by the cargo-fuzz targets in `fuzz/` and by the
//! plain tests that replay `tests/fuzz_regressions/` and a deterministic
//! mutated corpus (`tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes. It returns `Err` when a stated
//! property is violated (a fuzz target turns that into a crash); a panic
//! inside vyre is a crash by itself. None of vyre's entry points may
//! panic, hang or allocate without bound on any input.

use std::sync::OnceLock;

use vyre::DispatchConfig;
use vyre::driver::{AotEmitter, UNAVAILABLE_PREFIX, emit_aot_target, registered_aot_emitters};
use vyre::ir::wire::{from_wire, to_wire};

use crate::generator::{Case, GenConfig};

/// Largest input the properties look at (longer inputs are cut): keeps
/// every execution fast, so a slow one means a real complexity problem.
pub const MAX_INPUT: usize = 64 * 1024;

/// `.vyre` source: `parse` never panics; every kernel it returns is valid,
/// prints to source that parses back to the same kernel, and emits for the
/// reference target.
///
/// # Errors
///
/// The violated property.
pub fn parse_property(data: &[u8]) -> Result<(), String> {
    let data = &data[..data.len().min(MAX_INPUT)];
    let Ok(source) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(module) = vyre::lang::parse("fuzz.vyre", source) else {
        return Ok(());
    };
    for k in &module.kernels {
        if let Err(e) = k.validate() {
            return Err(format!("parse returned an invalid kernel: {e:?}"));
        }
        let text = vyre::lang::print(k);
        match vyre::lang::parse("printed.vyre", &text) {
            Ok(m) if m.kernels.len() == 1 && &m.kernels[0] == k => {}
            Ok(_) => return Err(format!("parse(print(k)) != k for\n{text}")),
            Err(d) => {
                return Err(format!(
                    "printed kernel does not parse: {:?}\n{text}",
                    d.diagnostics
                ));
            }
        }
        if let Err(e) = emit_aot_target("reference", k, &DispatchConfig::default()) {
            return Err(format!("reference emitter rejected a parsed kernel: {e}"));
        }
    }
    Ok(())
}

/// Wire bytes: `from_wire` never panics; a decoded program re-encodes to
/// bytes that decode to the same program.
///
/// # Errors
///
/// The violated property.
pub fn wire_property(data: &[u8]) -> Result<(), String> {
    let data = &data[..data.len().min(MAX_INPUT)];
    let Ok(p) = from_wire(data) else {
        return Ok(());
    };
    let again = to_wire(&p);
    match from_wire(&again) {
        Ok(q) if q == p => Ok(()),
        Ok(_) => Err("from_wire(to_wire(p)) != p".to_string()),
        Err(e) => Err(format!("re-encoded program does not decode: {e}")),
    }
}

/// Targets the emit property skips: `cubin` runs an external assembler.
pub const SKIPPED_TARGETS: [&str; 1] = ["cubin"];

/// The emitters the emit property exercises: every linked one but
/// [`SKIPPED_TARGETS`], sorted by target id (so a saved input picks the
/// same emitter in every binary). Listed once: the fuzzer asks for every
/// execution.
#[must_use]
pub fn fuzzed_emitters() -> &'static [&'static AotEmitter] {
    static EMITTERS: OnceLock<Vec<&'static AotEmitter>> = OnceLock::new();
    EMITTERS.get_or_init(|| {
        registered_aot_emitters()
            .into_iter()
            .filter(|e| !SKIPPED_TARGETS.contains(&e.target))
            .collect()
    })
}

/// Bytes as generator draws (4 bytes each, little-endian), so the fuzzer
/// steers the program's shape.
#[must_use]
pub fn case_from_bytes(data: &[u8]) -> Case {
    let data = &data[..data.len().min(MAX_INPUT)];
    let draws: Vec<u32> = data
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    Case::from_draws(&draws, &GenConfig::default())
}

/// An emit-property input: the byte that picks the emitter (index
/// `pick % fuzzed_emitters().len()`), then the generator draws.
#[must_use]
pub fn emit_input(pick: u8, draws: &[u32]) -> Vec<u8> {
    std::iter::once(pick)
        .chain(draws.iter().flat_map(|d| d.to_le_bytes()))
        .collect()
}

/// Generated program, one emitter per input: the first byte picks the
/// emitter (see [`emit_input`]), the rest are generator draws. The program
/// must validate, and the emitter must return bytes (or an `unavailable: `
/// error for a missing external tool), never panic or reject it; a
/// program the target cannot express (64-bit types in WGSL, see
/// [`inexpressible`](crate::harness::inexpressible)) it must refuse.
///
/// One emitter per execution, not all six: an execution then costs one
/// lowering and one naga validation instead of four, and coverage guidance
/// still reaches every emitter (each sees the inputs whose first byte
/// picks it). [`emit_program`] checks one program on every emitter.
///
/// # Errors
///
/// The violated property; the message starts with the target's id.
pub fn emit_property(data: &[u8]) -> Result<(), String> {
    let (pick, draws) = data.split_first().map_or((0, data), |(p, d)| (*p, d));
    let program = case_from_bytes(draws).program;
    check_valid(&program)?;
    let emitters = fuzzed_emitters();
    match emitters.get(usize::from(pick) % emitters.len().max(1)) {
        Some(emitter) => emit_with(emitter, &program),
        None => Ok(()),
    }
}

/// The emit property for one program on every emitter: it validates, and
/// every linked emitter (but [`SKIPPED_TARGETS`]) accepts it (or refuses
/// it, where the target cannot express it).
///
/// # Errors
///
/// The violated property; the message starts with the target's id.
pub fn emit_program(program: &vyre::ir::Program) -> Result<(), String> {
    check_valid(program)?;
    fuzzed_emitters()
        .iter()
        .try_for_each(|emitter| emit_with(emitter, program))
}

/// The generator's programs must validate: a generator bug otherwise.
fn check_valid(program: &vyre::ir::Program) -> Result<(), String> {
    match program.validate() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("invalid program: {e:?}")),
    }
}

/// One emitter on one valid program: bytes, or an `unavailable: ` error;
/// for a program the target cannot express
/// ([`inexpressible`](crate::harness::inexpressible): 64-bit types in
/// WGSL, `f64` in Metal, `f64` `sqrt floor ceil` in HLSL), an error saying
/// so, never bytes.
fn emit_with(emitter: &AotEmitter, program: &vyre::ir::Program) -> Result<(), String> {
    let target = emitter.target;
    let refused = crate::harness::inexpressible(program, target);
    match ((emitter.emit)(program, &DispatchConfig::default()), refused) {
        (Err(m), _) if m.starts_with(UNAVAILABLE_PREFIX) => Ok(()),
        (Ok(_), Some(why)) => Err(format!(
            "{target} emitted a kernel it cannot express ({why})"
        )),
        (Err(m), Some(_)) if m.contains("cannot express") => Ok(()),
        (Ok(bytes), None) if bytes.is_empty() => Err(format!("{target} emitted no bytes")),
        (Ok(_), None) => Ok(()),
        (Err(m), _) => Err(format!("{target} rejected a valid program: {m}")),
    }
}

/// A small deterministic byte mutator (xorshift-driven: flip, insert,
/// delete, splice, overwrite with an interesting value), for running the
/// properties as plain tests without cargo-fuzz.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A mutator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    /// Apply 1 to 8 random edits to `input`, splicing from `other`.
    pub fn mutate(&mut self, input: &mut Vec<u8>, other: &[u8]) {
        const INTERESTING: [&[u8]; 12] = [
            b"\0",
            b"\xff",
            b"\xff\xff\xff\xff",
            b"\x7f\xff\xff\xff",
            b"\x80\0\0\0",
            b"{",
            b"}",
            b"(",
            b";",
            b"fn",
            b"#[kernel(workgroup_size = 64)]",
            b"\xe2\x82",
        ];
        for _ in 0..1 + self.below(8) {
            let len = input.len();
            match self.below(6) {
                0 if len > 0 => {
                    let i = self.below(len);
                    input[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(len + 1);
                    let b = self.next() as u8;
                    input.insert(i, b);
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(16));
                    input.drain(i..i + n);
                }
                3 if !other.is_empty() => {
                    let i = self.below(len + 1);
                    let a = self.below(other.len());
                    let n = 1 + self.below((other.len() - a).min(64));
                    let chunk: Vec<u8> = other[a..a + n].to_vec();
                    input.splice(i..i, chunk);
                }
                4 => {
                    let i = self.below(len + 1);
                    let v = INTERESTING[self.below(INTERESTING.len())];
                    input.splice(i..i, v.iter().copied());
                }
                _ if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(8));
                    let d = self.next().to_le_bytes();
                    for (k, b) in input[i..i + n].iter_mut().enumerate() {
                        *b = d[k % 8];
                    }
                }
                _ => input.push(self.next() as u8),
            }
        }
        input.truncate(MAX_INPUT);
    }
}
