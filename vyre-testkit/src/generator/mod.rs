//! The random program generator.
//!
//! [`generate`] turns a seed into a [`Case`]: a program that passes
//! [`Program::validate`], its inputs and a grid. Programs are built so that
//! their results do not depend on how invocations are scheduled, which is
//! what lets any two targets be compared:
//!
//! - every invocation computes its flat id `gid` (and `lid` within its
//!   workgroup) first, and writes the `out_*` buffers only at its own slots
//!   `out[gid * K + j]`, or at indices that are out of range for sure (so the
//!   write is dropped): `len + (e & 0xFFFF)`, `e | 0x8000_0000`, a negative
//!   `i32`. Own slots may be read back (they are only written by their
//!   owner); other indices of `out_*` are never read;
//! - read-only inputs are read at any index at all: data-derived, negative,
//!   huge, just past the end;
//! - the contended atomics (`acc`, the shared `sh_acc`) use one
//!   commutative operation per array (add, sub, min, max, and, or or xor:
//!   two different ones do not commute) and their old values are dropped; every operation, exchange and compare-exchange
//!   included, is used on own slots, where the old value is deterministic;
//!   `acc` may be an `f32` buffer summed by `atomic_add` of integers below
//!   256 ([`GenConfig::float_atomics`]), whose sum no order changes;
//! - shared memory runs in epochs separated by barriers at the top level (or
//!   in a `for` loop with constant bounds, whose body is itself
//!   write-epoch, barrier, read-epoch, barrier): in a write epoch an
//!   invocation touches only its own slots `sh[lid * Ks + j]`; in a read
//!   epoch anyone reads anything, nobody writes. Every slot is written
//!   before the first barrier, so nothing reads uninitialised memory;
//! - `return` appears only after the last barrier; `break`/`continue` never
//!   leave a loop holding a barrier;
//! - every loop terminates: `for` ranges span at most [`GenConfig::max_trip`]
//!   values (`s..s + (e & 3) * step` wraps to an empty range rather than a
//!   long one; `(u32::MAX - a..u32::MAX).step_by(b)` ends on overflow after
//!   at most `a / b` rounded up iterations), `while`/`loop` carry a counter
//!   incremented first thing in the body;
//! - `#[unroll]` loops have literal bounds and no `break`/`continue` of their
//!   own (nested loops inside them may have theirs);
//! - private arrays are per invocation, so any index is race-free; they are
//!   read and written at literal indices (what [`vyre::mid::prepare`] turns
//!   into registers), at affine functions of loop variables (constants once
//!   an `#[unroll]` loop is unrolled), at run-time indices and, with
//!   [`GenConfig::wild_indices`], out of range. An `f32` private array only
//!   ever holds clean values (it starts at `+0.0`, and only clean float
//!   expressions are stored into it), so its loads count as clean;
//! - floats: see [`crate::compare`]: only exactly computed floats reach
//!   comparisons, casts and indices; each inexact operation is applied once,
//!   to clamped exact operands, and stored into an odd slot of `out_f32`
//!   whose tolerance is recorded in [`Case::checks`];
//! - subgroup operations ([`GenConfig::subgroups`]): results depend only on
//!   the partition of a workgroup into subgroups, which the subgroup size
//!   fixes (the harness runs the reference at the target's size). The lane
//!   and the size go anywhere; collective operations only into statements
//!   in uniform control flow, where a barrier could be (the top level of
//!   the prologue, of segments, of the barrier loops and of the final
//!   block until a `return` nested in control flow), never into `while`
//!   conditions. Their results are values like any other: indices of
//!   outputs built from them are out of range for sure, and inputs and
//!   shared reads take any index. `f32` sums only add integers of
//!   magnitude at most 1024 (`floor(clamp(x, -1024, 1024))`), which every
//!   order of additions sums exactly; sums, minima and maxima count as not
//!   clean (their zero sign depends on the target: a sum of `-0.0` only,
//!   or `min(0.0, -0.0)`). Shuffles often name lanes out of range (at or
//!   past the size, `delta` sums past it, masks above it) and lanes
//!   missing from a partial last subgroup (workgroup sizes that are not
//!   multiples of 8 or 32).
//! - narrow types ([`GenConfig::narrow`]: `f16 bf16 u8 i8 u16 i16`) take
//!   every role a 32-bit type has but indices, loop variables and atomic
//!   elements (which stay `u32`/`i32`): input and own-slot output buffers,
//!   shared and private arrays, locals, scalar parameters, literals, casts
//!   from and to every type, arithmetic, math and subgroup operations. A
//!   narrow type is drawn for about a quarter of the places a type is, so
//!   the 32-bit constructs keep most of their frequency. `f16`/`bf16`
//!   follow the float rules above: only operations that every target
//!   computes in `f32` and rounds the same way (`+ - *`, negation,
//!   `abs floor ceil`, `min max clamp` outside clean contexts, selects,
//!   casts); their values are edge cases (infinities, NaNs, the largest
//!   finite values, `f16` subnormals, which are normal `f32`s), random
//!   mantissas at moderate magnitudes (so that results round) and the
//!   `f32` values above rounded to the type. `bf16` subnormals, and tiny
//!   `bf16` values, are left out: they are (or multiply into) `f32`
//!   subnormals, which targets may flush. Subgroup sums of narrow floats add
//!   integers, like `f32` ones (exact in `f32`, rounded once). Narrow float
//!   outputs compare as the `f32`s they equal ([`Tolerance::FloatExact`]).
//! - 64-bit types ([`GenConfig::wide_one_in`]: `u64 i64 f64`): about one
//!   program in six is a *wide* one (one draw at the start decides; the
//!   others draw what they drew before the 64-bit types existed). A wide
//!   program has at least one own-slot output of a 64-bit type
//!   (`out_u64`, `out_i64`, `out_f64`), and draws a 64-bit type for about a
//!   third of the places a type is drawn (arrays, scalar parameters,
//!   locals, cast sources, comparisons, a quarter of shift amounts). Indices,
//!   loop variables and atomics stay `u32`/`i32`, and no subgroup
//!   operation takes a 64-bit value (the validator's rules). Integers use
//!   every operator (shifts by amounts of any integer type, masked `& 63`),
//!   `abs min max clamp`, casts from and to every type; their values are
//!   edge cases (0, ±1, the extremes, values around 2^31, 2^32, 2^53 and
//!   2^63), sign-extended 32-bit edges and random 64-bit patterns.
//!   `f64` is computed exactly where IEEE 754 defines one correctly rounded
//!   result (`+ - *`, negation, `abs floor ceil sqrt mul_add`, `min max
//!   clamp` outside clean contexts, selects, conversions from and to every
//!   type), so those values go anywhere, compared as
//!   [`Tolerance::FloatExact`]; its values include NaNs (with payloads,
//!   signalling, negative), infinities, `-0.0`, subnormals, the extremes,
//!   values near 2^32, 2^53 and 2^63 and random mantissas. Division
//!   follows the `f32` rule: applied once, to exact operands (a divisor
//!   that is not 0), stored into an odd slot of `out_f64` within
//!   [`crate::compare::op_tolerance_f64`] (`%` is not defined on `f64`). An
//!   `f64` converted to `f32` or `bf16` is first flushed to a signed zero
//!   below 2^-24 in magnitude, so that no `f32` value of the generator
//!   lands near the subnormal range (which targets may flush).

mod expr;
mod index;
mod program;
mod stmt;

use vyre::ir::{
    AtomicOp, DataType, Expr, Literal, LocalDecl, LocalId, Param, ParamId, PrivateId, Program,
    SharedId,
};

use vyre::half;

use crate::compare::Tolerance;
use crate::source::{ReplaySource, RngSource, Source};

/// Knobs of the generator. [`GenConfig::default`] is what the differential
/// test uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Statements per block, at most.
    pub max_stmts: u32,
    /// Statements per program, at most (all blocks together).
    pub max_total_stmts: u32,
    /// Control-flow nesting depth, at most.
    pub max_depth: u32,
    /// Expression depth, at most.
    pub max_expr_depth: u32,
    /// Iterations of one loop, at most.
    pub max_trip: u32,
    /// Invocations per workgroup, at most (≤ 1024).
    pub max_workgroup_invocations: u32,
    /// Workgroups per dispatch, at most.
    pub max_workgroups: u32,
    /// Elements of an input buffer, at most.
    pub max_input_len: u32,
    /// Output slots per invocation and type (`K`), at most.
    pub max_slots: u32,
    /// Barrier-separated segments between the prologue and the final one.
    pub max_segments: u32,
    /// Use workgroup shared memory and barriers.
    pub shared: bool,
    /// Use atomics.
    pub atomics: bool,
    /// Use `f32` at all.
    pub floats: bool,
    /// Use the inexact float operations (division, transcendental math,
    /// `mul_add`, float `%`), compared within [`crate::compare::op_tolerance`].
    pub approx_math: bool,
    /// Use out-of-range and data-derived indices.
    pub wild_indices: bool,
    /// Declare thread-private arrays (0–2 per program) and read and write
    /// them.
    pub private_arrays: bool,
    /// Use `for` loops with a step above 1, and loops that end on overflow
    /// of their variable (`(u32::MAX - a..u32::MAX).step_by(b)`).
    pub strided_loops: bool,
    /// Mark some `for` loops with literal bounds `#[unroll]`.
    pub unrolled_loops: bool,
    /// Use subgroup operations: the lane and the size anywhere, every
    /// collective operation in uniform control flow (see the module
    /// documentation), and workgroup sizes that leave a partial last
    /// subgroup.
    pub subgroups: bool,
    /// Use the 8- and 16-bit types (`f16 bf16 u8 i8 u16 i16`; the float
    /// ones only with [`GenConfig::floats`]): inputs, outputs, shared and
    /// private arrays, locals, scalar parameters, literals, casts between
    /// every pair of types, arithmetic, math and subgroup operations on
    /// them (see the module documentation). Off, the generator draws
    /// exactly as it did before the narrow types existed, so every seed
    /// gives the program it gave then.
    pub narrow: bool,
    /// Use the 64-bit types (`u64 i64 f64`; `f64` only with
    /// [`GenConfig::floats`]) in about one program in `wide_one_in` (6 by
    /// default; 1: every program; 0: none): inputs, own-slot outputs,
    /// shared and private arrays, locals, scalar parameters, literals,
    /// casts between them and every other type, their arithmetic and math
    /// (see the module documentation). With 0 (and with 1, for the
    /// programs' other parts) the generator draws exactly as it did before
    /// the 64-bit types existed.
    pub wide_one_in: u32,
    /// Make the contended accumulator an `f32` buffer summed by
    /// `atomic_add` in about one program in four (with
    /// [`GenConfig::atomics`] and [`GenConfig::floats`]); the added values
    /// are integers below 256, so every order of the additions gives the
    /// same exact sum. Off, the generator draws as it did before.
    pub float_atomics: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            max_stmts: 5,
            max_total_stmts: 40,
            max_depth: 3,
            max_expr_depth: 3,
            max_trip: 3,
            max_workgroup_invocations: 64,
            max_workgroups: 8,
            max_input_len: 48,
            max_slots: 4,
            max_segments: 2,
            shared: true,
            atomics: true,
            floats: true,
            approx_math: true,
            wild_indices: true,
            private_arrays: true,
            strided_loops: true,
            unrolled_loops: true,
            subgroups: true,
            narrow: true,
            wide_one_in: 6,
            float_atomics: true,
        }
    }
}

/// The value passed for one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A buffer's initial contents, as raw bits of `elem`.
    Buffer {
        /// Element type.
        elem: DataType,
        /// Raw bits, one `u64` per element (a narrower element's bits
        /// zero-extended, [`Literal::bits64`]).
        data: Vec<u64>,
    },
    /// A scalar argument.
    Scalar(Literal),
}

/// How a buffer's final contents are compared: element `i` uses
/// `slots[i % slots.len()]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Tolerance per slot; the pattern repeats over the buffer.
    pub slots: Vec<Tolerance>,
}

impl Check {
    /// The tolerance of element `i`.
    #[must_use]
    pub fn tolerance(&self, i: usize) -> Tolerance {
        self.slots
            .get(i % self.slots.len().max(1))
            .copied()
            .unwrap_or(Tolerance::Bits)
    }
}

/// A generated test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The kernel; passes [`Program::validate`].
    pub program: Program,
    /// One value per parameter, in order.
    pub inputs: Vec<Value>,
    /// Workgroups to launch, `[x, y, z]`.
    pub grid: [u32; 3],
    /// Per parameter: how its final contents are compared (`None` for
    /// scalars).
    pub checks: Vec<Option<Check>>,
    /// The raw draws that produced this case ([`Case::from_draws`] replays
    /// them; shrinking edits them).
    pub draws: Vec<u32>,
}

impl Case {
    /// Rebuild a case from raw draws (missing draws count as 0, the simplest
    /// choice), for replay and shrinking.
    #[must_use]
    pub fn from_draws(draws: &[u32], cfg: &GenConfig) -> Self {
        let mut src = ReplaySource::new(draws);
        let mut case = build(&mut src, cfg);
        let used = src.consumed().min(draws.len());
        case.draws = draws[..used].to_vec();
        case
    }

    /// Total invocations launched.
    #[must_use]
    pub fn invocations(&self) -> u64 {
        self.program.invocations_per_workgroup()
            * self.grid.iter().map(|&g| u64::from(g)).product::<u64>()
    }
}

/// Generate the case of `seed`.
#[must_use]
pub fn generate(seed: u64, cfg: &GenConfig) -> Case {
    let mut src = RngSource::new(seed);
    let mut case = build(&mut src, cfg);
    case.draws = src.log;
    case
}

/// A `proptest` strategy over cases: a list of raw draws mapped through
/// [`Case::from_draws`], so proptest's shrinking of the list (shorter,
/// smaller values) shrinks the program towards the simplest one.
pub fn case_strategy(cfg: GenConfig) -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    proptest::collection::vec(any::<u32>(), 0..4096)
        .prop_map(move |draws| Case::from_draws(&draws, &cfg))
}

fn build<S: Source>(src: &mut S, cfg: &GenConfig) -> Case {
    let mut g = Gen::new(src, cfg);
    g.program();
    let Gen {
        p,
        values,
        checks,
        grid,
        f_tol,
        out_f32,
        d_tol,
        out_f64,
        ..
    } = g;
    let mut checks = checks;
    if let Some(id) = out_f32 {
        checks[id as usize] = Some(Check { slots: f_tol });
    }
    if let Some(id) = out_f64 {
        checks[id as usize] = Some(Check { slots: d_tol });
    }
    Case {
        program: p,
        inputs: values,
        grid,
        checks,
        draws: Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Epoch {
    /// Prologue: shared memory not initialised yet; no shared loads.
    Init,
    /// Own shared slots only; contended shared atomics allowed.
    Write,
    /// Shared loads anywhere; no shared writes.
    Read,
    /// After the last barrier: like `Read`, and `return` is allowed, no
    /// contended shared atomics (they were flushed).
    Final,
}

#[derive(Debug, Clone, Copy)]
struct Var {
    id: LocalId,
    ty: DataType,
    /// May be assigned by random statements.
    assignable: bool,
    /// An `f32` that never held a `min`/`max` result, so its zero sign is
    /// exact (needed for divisors).
    clean: bool,
}

/// A loop variable (or `while`/`loop` counter) in scope, for private-array
/// indices built from it.
#[derive(Debug, Clone, Copy)]
struct LoopVar {
    id: LocalId,
    ty: DataType,
    /// With literal bounds: the first value (as bits of `ty`) and the
    /// number of iterations; `None` when the values are only known at run
    /// time.
    range: Option<(u32, u32)>,
}

/// Atomic operations whose final value does not depend on the order in
/// which invocations apply them (as long as one element sees only one of
/// them).
const COMMUTATIVE: [AtomicOp; 7] = [
    AtomicOp::Add,
    AtomicOp::Sub,
    AtomicOp::Min,
    AtomicOp::Max,
    AtomicOp::And,
    AtomicOp::Or,
    AtomicOp::Xor,
];

const INT_EDGES: [u32; 16] = [
    0,
    1,
    2,
    3,
    31,
    32,
    33,
    0xFFFF_FFFF,
    0xFFFF_FFFE,
    0x8000_0000,
    0x7FFF_FFFF,
    0xFFFF,
    0x1_0000,
    7,
    16,
    255,
];

/// Floats that keep exact arithmetic away from subnormals (smallest
/// non-zero magnitude 0.25) and cover the cast and IEEE edge cases.
const FLOAT_EDGES: [f32; 24] = [
    0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    -0.0,
    3.0,
    -2.5,
    0.25,
    10.0,
    100.0,
    -7.0,
    1.0e10,
    -1.0e10,
    3.0e38,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    16_777_216.0,
    2_147_483_648.0,
    2_147_483_520.0,
    -2_147_483_904.0,
    4_294_967_296.0,
    1.5,
];

/// Edge values of the 64-bit integer types: small ones, the extremes
/// (`u64::MAX` is `-1i64`), around 2^31, 2^32, 2^53 and 2^63 (both
/// signs), shift amounts around 64.
const INT64_EDGES: [u64; 24] = [
    0,
    1,
    2,
    63,
    64,
    65,
    u64::MAX,
    u64::MAX - 1,
    1 << 63,
    (1 << 63) - 1,
    (1 << 63) + 1,
    1 << 32,
    (1 << 32) - 1,
    (1 << 32) + 1,
    0xFFFF_FFFF_0000_0000,
    0x8000_0000,
    0x7FFF_FFFF,
    0xFFFF_FFFF_8000_0000,
    0xFFFF_FFFF_7FFF_FFFF,
    1 << 53,
    (1 << 53) + 1,
    (1 << 53) - 1,
    0xFFE0_0000_0000_0000,
    0x0123_4567_89AB_CDEF,
];

/// `f64` edge cases (as bits): zeros, ±1, the extremes, the smallest
/// normal, subnormals (of both signs, the smallest and the largest),
/// infinities, NaNs (quiet, signalling, negative, with a payload), values
/// at and around 2^31, 2^32, 2^53, 2^63 and 2^64 (the cast edges), `f32`
/// extremes, values that round when converted to `f32`, and tiny and huge
/// normals.
const F64_EDGES: [u64; 40] = [
    0x0000_0000_0000_0000, // 0.0
    0x8000_0000_0000_0000, // -0.0
    0x3FF0_0000_0000_0000, // 1.0
    0xBFF0_0000_0000_0000, // -1.0
    0x3FE0_0000_0000_0000, // 0.5
    0x3FF8_0000_0000_0000, // 1.5
    0x7FEF_FFFF_FFFF_FFFF, // f64::MAX
    0xFFEF_FFFF_FFFF_FFFF, // f64::MIN
    0x0010_0000_0000_0000, // f64::MIN_POSITIVE
    0x0000_0000_0000_0001, // smallest subnormal
    0x800F_FFFF_FFFF_FFFF, // largest subnormal, negative
    0x0008_0000_0000_0000, // a subnormal
    0x7FF0_0000_0000_0000, // inf
    0xFFF0_0000_0000_0000, // -inf
    0x7FF8_0000_0000_0000, // NaN
    0xFFF8_0000_0000_0000, // -NaN
    0x7FF0_0000_0000_0001, // signalling NaN
    0x7FF8_DEAD_BEEF_0001, // NaN with a payload
    0x41E0_0000_0000_0000, // 2^31
    0xC1E0_0000_0000_0000, // -2^31
    0xC1E0_0000_0020_0000, // -2^31 - 1
    0x41DF_FFFF_FFC0_0000, // 2^31 - 1
    0x41F0_0000_0000_0000, // 2^32
    0x41EF_FFFF_FFE0_0000, // 2^32 - 1
    0x41EF_FFFF_FFF0_0000, // 2^32 - 0.5
    0x41F0_0000_0008_0000, // 2^32 + 0.5
    0x4340_0000_0000_0000, // 2^53
    0x433F_FFFF_FFFF_FFFF, // 2^53 - 1
    0x4340_0000_0000_0001, // 2^53 + 2
    0x43E0_0000_0000_0000, // 2^63
    0xC3E0_0000_0000_0000, // -2^63
    0x43DF_FFFF_FFFF_FFFF, // just below 2^63
    0x43F0_0000_0000_0000, // 2^64
    0x47EF_FFFF_E000_0000, // f32::MAX
    0x47EF_FFFF_F000_0000, // f32::MAX + half an f32 ulp (rounds to inf)
    0x3FB9_9999_9999_999A, // 0.1 (rounds as an f32)
    0x3FF0_0000_1000_0000, // 1 + 2^-24 (an f32 tie)
    0x7E37_E43C_8800_759C, // 1e300
    0x01A5_6E1F_C2F8_F359, // 1e-300
    0xC059_0000_0000_0000, // -100.0
];

/// The 64-bit types.
const WIDE: [DataType; 3] = [DataType::U64, DataType::I64, DataType::F64];

/// The 8- and 16-bit types, floats first.
const NARROW: [DataType; 6] = [
    DataType::F16,
    DataType::BF16,
    DataType::U8,
    DataType::I8,
    DataType::U16,
    DataType::I16,
];

/// Edge values of the narrow integer types (taken modulo the type).
const NARROW_INT_EDGES: [u32; 8] = [0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x81, 0xfe];

/// `f16` edge cases: infinities, NaNs (quiet, signalling, negative), the
/// largest finite values, the smallest normal, subnormals, `-0.0`, values
/// one ulp away from 1 and 1/3. Subnormal `f16`s are normal `f32`s, so no
/// target flushes them.
const F16_EDGES: [u16; 16] = [
    0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00, 0x7bff, 0xfbff, 0x0400, 0x8400, 0x0001, 0x8001, 0x03ff,
    0x8000, 0x3c01, 0x3bff, 0x3555,
];

/// `bf16` edge cases: infinities, NaNs, the largest finite values, `-0.0`,
/// values one ulp away from 1, large integers (no subnormals, see
/// [`Gen::raw_bf16`]).
const BF16_EDGES: [u16; 12] = [
    0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc0, 0x7f7f, 0xff7f, 0x8000, 0x3f81, 0x3f7f, 0x4b80, 0xcf00,
];

struct Gen<'s, S: Source> {
    src: &'s mut S,
    cfg: &'s GenConfig,
    p: Program,
    values: Vec<Value>,
    checks: Vec<Option<Check>>,
    grid: [u32; 3],
    ins: Vec<(ParamId, DataType)>,
    scalars: Vec<(ParamId, DataType)>,
    outs: Vec<(ParamId, DataType)>,
    out_f32: Option<ParamId>,
    /// `out_f64`, whose odd slots hold the inexact `f64` results.
    out_f64: Option<ParamId>,
    acc: Option<(ParamId, DataType)>,
    sh: Option<(SharedId, DataType)>,
    sh_acc: Option<(SharedId, DataType)>,
    /// Private arrays: id, element type and length.
    privs: Vec<(PrivateId, DataType, u32)>,
    /// Enclosing loops' variables, innermost last.
    loop_vars: Vec<LoopVar>,
    /// The one operation used on `acc` / `sh_acc`: two different
    /// operations on one element do not commute (`(x + a) & b`).
    acc_op: AtomicOp,
    sh_acc_op: AtomicOp,
    slots: u32,
    sh_slots: u32,
    invocations: u32,
    lid: LocalId,
    gid: LocalId,
    scopes: Vec<Vec<Var>>,
    /// Innermost last: whether `break`/`continue` may target the loop.
    loops: Vec<bool>,
    epoch: Epoch,
    /// The statement being generated runs in uniform control flow (where
    /// a barrier could be): its expressions may hold collective subgroup
    /// operations. Cleared in nested blocks and `while` conditions.
    uniform: bool,
    /// A `return` was generated in non-uniform control flow: every later
    /// statement is non-uniform for the validator.
    returned_divergently: bool,
    budget: u32,
    f_tol: Vec<Tolerance>,
    /// Tolerance per slot of `out_f64`.
    d_tol: Vec<Tolerance>,
    /// This program uses the 64-bit types ([`GenConfig::wide_one_in`]).
    wide: bool,
    names: u32,
}

impl<'s, S: Source> Gen<'s, S> {
    fn new(src: &'s mut S, cfg: &'s GenConfig) -> Self {
        Self {
            src,
            cfg,
            p: Program::new("generated", [1, 1, 1]),
            values: Vec::new(),
            checks: Vec::new(),
            grid: [1, 1, 1],
            ins: Vec::new(),
            scalars: Vec::new(),
            outs: Vec::new(),
            out_f32: None,
            out_f64: None,
            acc: None,
            sh: None,
            sh_acc: None,
            privs: Vec::new(),
            loop_vars: Vec::new(),
            acc_op: AtomicOp::Add,
            sh_acc_op: AtomicOp::Add,
            slots: 1,
            sh_slots: 1,
            invocations: 1,
            lid: 0,
            gid: 0,
            scopes: vec![Vec::new()],
            loops: Vec::new(),
            epoch: Epoch::Init,
            uniform: true,
            returned_divergently: false,
            budget: cfg.max_total_stmts,
            f_tol: Vec::new(),
            d_tol: Vec::new(),
            wide: false,
            names: 0,
        }
    }

    // ---- small helpers -------------------------------------------------

    /// Whether expressions generated now may hold collective subgroup
    /// operations.
    fn collectives_ok(&self) -> bool {
        let [wx, wy, wz] = self.p.workgroup_size;
        // Validation's layout rule: 1-D, or rows of whole subgroups.
        let layout = (wy, wz) == (1, 1) || wx.is_multiple_of(vyre::ir::validate::MAX_SUBGROUP_SIZE);
        self.cfg.subgroups && layout && self.uniform && !self.returned_divergently
    }

    /// Run `f` with [`Gen::uniform`] cleared (nested blocks, `while`
    /// conditions), restoring it afterwards.
    fn non_uniform<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.uniform, false);
        let r = f(self);
        self.uniform = saved;
        r
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.src.below(items.len() as u32) as usize]
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names - 1)
    }

    fn declare(&mut self, prefix: &str, ty: DataType, mutable: bool) -> LocalId {
        let name = self.fresh(prefix);
        self.p.locals.push(LocalDecl { name, ty, mutable });
        (self.p.locals.len() - 1) as LocalId
    }

    fn bind(&mut self, var: Var) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(var);
        }
    }

    fn vars(&self, ty: DataType) -> Vec<Var> {
        self.scopes
            .iter()
            .flatten()
            .filter(|v| v.ty == ty)
            .copied()
            .collect()
    }

    fn add_param(&mut self, param: Param, value: Value, check: Option<Check>) -> ParamId {
        self.p.params.push(param);
        self.values.push(value);
        self.checks.push(check);
        (self.p.params.len() - 1) as ParamId
    }

    fn int_ty(&mut self) -> DataType {
        self.pick(&[DataType::U32, DataType::I32])
    }

    /// One of the 8- and 16-bit types (integers only without
    /// [`GenConfig::floats`]).
    fn narrow_ty(&mut self) -> DataType {
        if self.cfg.floats {
            self.pick(&NARROW)
        } else {
            self.pick(&NARROW[2..])
        }
    }

    /// With [`GenConfig::narrow`], a narrow type one time in `den`; `None`
    /// otherwise (and no draw at all without the option).
    fn maybe_narrow(&mut self, den: u32) -> Option<DataType> {
        (self.cfg.narrow && self.src.chance(1, den)).then(|| self.narrow_ty())
    }

    /// One of the 64-bit types (integers only without
    /// [`GenConfig::floats`]).
    fn wide_ty(&mut self) -> DataType {
        if self.cfg.floats {
            self.pick(&WIDE)
        } else {
            self.pick(&WIDE[..2])
        }
    }

    /// In a wide program ([`Gen::wide`]), a 64-bit type one time in `den`;
    /// `None` otherwise (and no draw at all in other programs).
    fn maybe_wide(&mut self, den: u32) -> Option<DataType> {
        (self.wide && self.src.chance(1, den)).then(|| self.wide_ty())
    }

    /// [`Gen::maybe_wide`] for integer types only (`u64`, `i64`).
    fn maybe_wide_int(&mut self, den: u32) -> Option<DataType> {
        (self.wide && self.src.chance(1, den)).then(|| self.pick(&WIDE[..2]))
    }

    fn elem_ty(&mut self) -> DataType {
        if let Some(t) = self.maybe_narrow(3) {
            return t;
        }
        if let Some(t) = self.maybe_wide(3) {
            return t;
        }
        if self.cfg.floats {
            self.pick(&[DataType::U32, DataType::I32, DataType::F32])
        } else {
            self.int_ty()
        }
    }

    fn any_ty(&mut self) -> DataType {
        if let Some(t) = self.maybe_narrow(4) {
            return t;
        }
        if let Some(t) = self.maybe_wide(3) {
            return t;
        }
        if self.cfg.floats {
            self.pick(&[DataType::U32, DataType::I32, DataType::Bool, DataType::F32])
        } else {
            self.pick(&[DataType::U32, DataType::I32, DataType::Bool])
        }
    }

    fn raw_int(&mut self) -> u32 {
        match self.src.below(3) {
            0 => self.src.below(8),
            1 => self.pick(&INT_EDGES),
            _ => self.src.raw(),
        }
    }

    fn raw_float(&mut self) -> u32 {
        match self.src.below(3) {
            0 => self.pick(&FLOAT_EDGES).to_bits(),
            1 => (self.src.below(129) as f32 - 64.0).to_bits(),
            _ => ((self.src.below(257) as f32 - 128.0) * 0.25).to_bits(),
        }
    }

    /// An `f16`: an edge case (infinities, NaNs, the largest finite value,
    /// subnormals), a random mantissa (so that products and sums round) at
    /// a magnitude from 2^-6 to 2^15, or one of [`Gen::raw_float`]'s values
    /// rounded to `f16`.
    fn raw_f16(&mut self) -> u32 {
        match self.src.below(4) {
            0 => u32::from(self.pick(&F16_EDGES)),
            1 | 2 => {
                let (sign, exp, man) = (self.src.below(2), 9 + self.src.below(22), self.src.raw());
                sign << 15 | exp << 10 | man & 0x3ff
            }
            _ => {
                let x = f32::from_bits(self.raw_float());
                u32::from(half::f16::from_f32(x).to_bits())
            }
        }
    }

    /// A `bf16`, like [`Gen::raw_f16`], random mantissas at magnitudes from
    /// 2^-4 to 2^20 (no subnormals, nor tiny values whose products become
    /// `f32` subnormals, which targets may flush).
    fn raw_bf16(&mut self) -> u32 {
        match self.src.below(4) {
            0 => u32::from(self.pick(&BF16_EDGES)),
            1 | 2 => {
                let (sign, exp, man) =
                    (self.src.below(2), 123 + self.src.below(25), self.src.raw());
                sign << 15 | exp << 7 | man & 0x7f
            }
            _ => {
                let x = f32::from_bits(self.raw_float());
                u32::from(half::bf16::from_f32(x).to_bits())
            }
        }
    }

    /// The bits of a value of `ty` (zero-extended for a narrow type).
    fn raw_value(&mut self, ty: DataType) -> u32 {
        match ty {
            DataType::F32 => self.raw_float(),
            DataType::Bool => self.src.below(2),
            DataType::F16 => self.raw_f16(),
            DataType::BF16 => self.raw_bf16(),
            DataType::U32 | DataType::I32 => self.raw_int(),
            _ => {
                let bits = if self.src.chance(1, 4) {
                    self.pick(&NARROW_INT_EDGES)
                } else {
                    self.raw_int()
                };
                bits & mask(ty)
            }
        }
    }

    /// A 64-bit integer: small, an edge case ([`INT64_EDGES`]), a 32-bit
    /// value sign- (`i64`) or zero-extended (`u64`), or any bits.
    fn raw_int64(&mut self, ty: DataType) -> u64 {
        match self.src.below(4) {
            0 => u64::from(self.src.below(8)),
            1 => self.pick(&INT64_EDGES),
            2 => {
                let w = self.raw_int();
                if ty == DataType::I64 {
                    i64::from(w.cast_signed()).cast_unsigned()
                } else {
                    u64::from(w)
                }
            }
            _ => u64::from(self.src.raw()) << 32 | u64::from(self.src.raw()),
        }
    }

    /// An `f64` (as bits): an edge case ([`F64_EDGES`]), a small integer or
    /// quarter, one of [`Gen::raw_float`]'s values, or a random mantissa
    /// at a magnitude from 2^-20 to 2^64 (so that sums, products and
    /// conversions to `f32` round).
    fn raw_f64(&mut self) -> u64 {
        match self.src.below(5) {
            0 | 1 => self.pick(&F64_EDGES),
            2 => ((f64::from(self.src.below(257)) - 128.0) * 0.25).to_bits(),
            3 => f64::from(f32::from_bits(self.raw_float())).to_bits(),
            _ => {
                let sign = u64::from(self.src.below(2));
                let exp = u64::from(1023 - 20 + self.src.below(85));
                let man = u64::from(self.src.raw()) << 20 | u64::from(self.src.raw() >> 12);
                sign << 63 | exp << 52 | man
            }
        }
    }

    /// The bits of a value of `ty`, zero-extended to 64 bits.
    fn raw_bits(&mut self, ty: DataType) -> u64 {
        match ty {
            DataType::U64 | DataType::I64 => self.raw_int64(ty),
            DataType::F64 => self.raw_f64(),
            _ => u64::from(self.raw_value(ty)),
        }
    }

    fn lit(&mut self, ty: DataType) -> Expr {
        let bits = self.raw_bits(ty);
        Expr::Lit(Literal::from_bits64(ty, bits))
    }
}

/// The bits a value of `ty` occupies (`u32::MAX` for the 32-bit types).
fn mask(ty: DataType) -> u32 {
    u32::MAX >> (32 - ty.bits().min(32))
}

/// The bits a value of `ty` occupies, for every type (`u64::MAX` for the
/// 64-bit ones).
fn mask64(ty: DataType) -> u64 {
    u64::MAX >> (64 - ty.bits())
}

/// A literal of the float type `ty` (`f32`, `f16` or `bf16`) equal to `v`
/// (rounded to the type).
fn float_lit(ty: DataType, v: f32) -> Expr {
    Expr::Lit(match ty {
        DataType::F16 => Literal::F16(half::f16::from_f32(v).to_bits()),
        DataType::BF16 => Literal::BF16(half::bf16::from_f32(v).to_bits()),
        DataType::F64 => Literal::f64(f64::from(v)),
        _ => Literal::f32(v),
    })
}

/// The magnitude below which an `f64` converted to `f32` or `bf16` is
/// flushed to a signed zero first (see [`convert`]): 2^-24, the smallest
/// `f16` subnormal, which the narrow types already bring into `f32`.
const F32_FROM_F64_MIN: f64 = 5.960_464_477_539_063e-8;

/// `e as to`, `e` of type `from` (a cast even when `from == to`). An
/// `f64` becoming an `f32` or `bf16` is flushed to a zero of its sign first
/// when its magnitude is below [`F32_FROM_F64_MIN`] but not 0 (zeros and
/// NaN pass), so no `f32` value the generator computes comes near the
/// subnormal range, which targets may flush. The flush is exact
/// (comparisons and selects of literals), so the result stays exactly
/// computed, and clean when `e` is.
fn convert(e: Expr, from: DataType, to: DataType) -> Expr {
    if from == DataType::F64 && matches!(to, DataType::F32 | DataType::BF16) {
        let f64_lit = |v: f64| Expr::Lit(Literal::f64(v));
        let tiny = Expr::Math(vyre::ir::MathFn::Abs, vec![e.clone()])
            .lt(f64_lit(F32_FROM_F64_MIN))
            .and(e.clone().ne(f64_lit(0.0)));
        let zero = Expr::select(e.clone().lt(f64_lit(0.0)), f64_lit(-0.0), f64_lit(0.0));
        return Expr::select(tiny, zero, e).cast(to);
    }
    e.cast(to)
}

fn lit_of(ty: DataType, bits: u32) -> Expr {
    match ty {
        DataType::I32 => Expr::i32(bits.cast_signed()),
        _ => Expr::u32(bits),
    }
}

/// The first value (as bits) and the iteration count of a `for` loop with
/// literal bounds; `None` when a bound is not a literal.
fn literal_range(start: &Expr, end: &Expr, step: u32) -> Option<(u32, u32)> {
    let values = vyre::ir::validate::unrolled_values(start, end, step)?;
    let first = match values.first() {
        Some(Literal::I32(x)) => x.cast_unsigned(),
        Some(Literal::U32(x)) => *x,
        _ => 0,
    };
    Some((first, values.len() as u32))
}
