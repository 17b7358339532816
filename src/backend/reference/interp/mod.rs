//! The reference interpreter: the executable definition of vyre's semantics.
//!
//! A [`Program`] is compiled once ([`Compiled::new`]) into flat register
//! bytecode: every value is a bit pattern in a 64-bit register of a
//! per-invocation register file (`bool` is 0 or 1, `f32` its bits
//! zero-extended, a `u64`/`i64`/`f64` the whole register; the 64-bit
//! operations are `crate::ir::wide`'s). Memory is 32-bit words: a 64-bit
//! element takes two, in the host's byte order. Builtins, scalar parameters,
//! buffer lengths and constants live in fixed registers set before an
//! invocation starts, so reading them costs no instruction; locals have one
//! register each and expression temporaries are allocated stack-wise per
//! statement. Operators are resolved by type at compile time (`AddF`,
//! `DivI`, ...), so executing an instruction is one `match` arm.
//!
//! # Execution model
//!
//! Workgroups run in parallel on a `rayon` pool; global buffers are viewed
//! as `&[AtomicU32]` and accessed with relaxed atomics, so racing kernels
//! are sound (the outcome of a race is unspecified, as on a GPU). Within a
//! workgroup, invocations run one after the other, each until it reaches a
//! barrier or finishes; when all have arrived at the same barrier they are
//! released together. If some invocations finished (or wait at a different
//! barrier) while others wait at a barrier, the launch fails with
//! [`RunError::BarrierDivergence`]: on a GPU that is undefined behaviour.
//!
//! Subgroups: invocation `l` (flat local index `x + y*wx + z*wx*wy`) is lane
//! `l % S` of subgroup `l / S`, `S` being [`RunOptions::subgroup_size`]; the
//! last subgroup is partial when `S` does not divide the workgroup size.
//! Validation puts collective subgroup operations in workgroup-uniform
//! control flow, so the interpreter runs them like a barrier: each
//! invocation stops at the operation, and when all of the workgroup have
//! arrived the values of each subgroup are combined and they go on.
//! Kernels without barriers or collectives run each invocation straight
//! through instead.
//! Shared arrays are zeroed at the start of each workgroup. Private arrays
//! are a block of registers of their own in each invocation's register
//! file, so they are zeroed with it when the invocation starts and cost no
//! allocation.
//!
//! # Semantics
//!
//! Integer arithmetic wraps; `x / 0 == 0` and `x % 0 == 0`; `i32::MIN / -1
//! == i32::MIN` and `i32::MIN % -1 == 0` (likewise `i64`); shift amounts
//! are masked `& 31` (`& 63` for the 64-bit types) and `>>` is arithmetic on
//! `i32` and `i64`; float to integer casts saturate with
//! NaN to 0; `bool` casts to 0/1; `f32` operations are Rust's (`mul_add`
//! fused, `min`/`max` NaN-ignoring, `clamp(lo, hi)` = `max(lo).min(hi)`,
//! `i32::abs` wrapping); an `i32` index is reinterpreted as `u32`. Locals
//! start at zero (a `let` skipped by a branch leaves its local 0), and so
//! do the elements of an invocation's private arrays. A `for` loop evaluates its bounds once, runs while
//! `var < end` (signed for `i32`), advances by its step (on `continue` too)
//! and ends when `var + step` would overflow the loop variable's type;
//! `#[unroll]` changes nothing here.
//!
//! Subgroup operations combine the participating lanes (those with an
//! invocation): `subgroup_add` wraps on integers and sums `f32` as the xor
//! butterfly (for `off` in `S/2, S/4, .., 1`: `v = v + v[lane ^ off]`, over
//! all `S` lanes, a lane without an invocation starting as `-0.0`; the
//! result is lane 0's); `subgroup_min`/`max` fold `min`/`max` in lane
//! order; a shuffle whose source lane is `>= S` or has no invocation
//! (`lane + delta` does not wrap) yields the invocation's own value;
//! `subgroup_broadcast_first` is lane 0's value; `subgroup_ballot` sets bit
//! `l` for lanes `l < 32` only.
//! Out-of-range loads yield 0, out-of-range stores are dropped and
//! out-of-range atomics do nothing and yield 0. In an `unchecked` kernel an
//! out-of-range access is undefined behaviour on a GPU; the interpreter stays
//! memory-safe and reports it as [`RunError::OutOfBounds`], naming the
//! buffer and the index, so the oracle flags the bug instead of hiding it.
//!
//! # Matrices and asynchronous copies
//!
//! A matrix statement ([`crate::ir::MatrixOp`]) is collective like a
//! subgroup operation: every invocation stops at it, and when the whole
//! workgroup has arrived the interpreter executes it once per subgroup.
//! The tiles are kept once per subgroup (not per invocation), as `f32`
//! values (`f16`/`bf16` elements widened exactly), all zero when the
//! workgroup starts. Before executing a statement for a subgroup the
//! interpreter checks the contract every target relies on: all live lanes
//! of the subgroup execute it, with the same offset and stride (or fill
//! value); otherwise the launch fails with
//! [`RunError::MatrixOperandsDiffer`]. So the result never depends on
//! [`RunOptions::subgroup_size`] unless that error does.
//!
//! A load reads element `(r, c)` from `offset + r * stride + c` (row-major)
//! or `offset + c * stride + r` (column-major), computed in `u64`; an
//! element out of range reads 0 and a stored one out of range is dropped
//! (in an `unchecked` kernel either is [`RunError::OutOfBounds`], the
//! index saturated to `u32::MAX` past `u32`). A store converts each `f32`
//! as `as` does (`f16`/`bf16`: round to nearest even). `d = a * b + c`
//! computes each element as `acc = c[i][j]`, then for `k` in order
//! `acc = acc + a[i][k] * b[k][j]` in `f32`, multiply and add rounded
//! separately; `d` may be `c`.
//!
//! A warpgroup matrix ([`crate::ir::MatrixScope::Warpgroup`]) is kept once
//! per warpgroup (invocations `128 w .. 128 (w + 1)`), and a statement on
//! warpgroup matrices (`Fill`, `Store`, `WarpgroupMultiplyAdd`, `Map`,
//! `RowReduce`) executes
//! once per warpgroup, after the same check over the warpgroup's
//! invocations ([`RunError::WarpgroupOperandsDiffer`]). A warpgroup
//! multiply reads `A[i][k]` from `offset + i * stride + k` of its shared
//! array and `B[k][j]` likewise, exactly as a row-major load does (out of
//! range reads 0, or is [`RunError::OutOfBounds`] when unchecked), and
//! sums like `d = a * b + c`; a column-major `B` reads `B[k][j]` from
//! `offset + j * stride + k`, and an `A` held in a warpgroup accumulator
//! is that accumulator's elements, each rounded to nearest even to `B`'s
//! element type (`(x as bf16) as f32`). Shared arrays' layouts
//! ([`crate::ir::SharedLayout`]) are ignored: element `i` is element `i`.
//!
//! `matrix_map`'s closure is compiled as a bytecode subroutine that the
//! statement's own flow jumps over; once per warpgroup, after checking
//! that the warpgroup's invocations hold equal values in every local the
//! closure reads besides its own three, the interpreter runs it per
//! element, row by row, on a copy of the warpgroup's first invocation's
//! registers with the row, column and value set: every operator, cast
//! and load (bounds included) is the bytecode's own. `matrix_row_max`
//! folds `f32::max` from `-inf` and `matrix_row_sum` adds left to right
//! from `0.0`; row `r`'s value goes to `offset + r` (in `u64`) of the
//! shared array, out of range dropped (an `OutOfBounds` error when
//! unchecked).
//!
//! `async_copy` copies at once, per invocation (source elements out of
//! range copy 0, destination elements out of range are dropped, indices
//! added in `u64`); `async_commit` and `async_wait` do nothing.
//!
//! # Narrow types
//!
//! `f16 bf16 u8 i8 u16 i16` are defined by [`crate::mid::widen()`]: every
//! operation is computed in the type's 32-bit register type and rounded (to
//! nearest even, through `half`) or wrapped back. [`Compiled::new`] compiles
//! the widened program, so the bytecode only sees the three shapes that
//! keep a narrow type: a load widened (`f16`/`bf16` to the equal `f32`,
//! `i8`/`i16` sign-extended, `u8`/`u16` as they are), a value rounded or
//! wrapped and widened back (one instruction), and a value converted for a
//! store. Narrow memory (buffers, shared and private arrays) holds one
//! 32-bit slot per element: the element's bits, zero-extended
//! ([`Literal::bits`]). A narrow scalar argument is its own literal
//! (`Literal::F16`), which the parameter's register holds widened.
//!
//! # Steps
//!
//! [`RunOptions::max_steps_per_invocation`] bounds the bytecode
//! instructions one invocation executes (roughly one per operator, load,
//! store and branch), which catches infinite loops; the exact count is an
//! implementation detail.

mod bytecode;
mod compile;
mod exec;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;

use crate::ir::{Access, DataType, Literal, Param, Program, ValidationError};
use crate::mid::{Analysis, widen};
use bytecode::{MapCode, MatStmt, MatrixSlot, Mem, Op, Reg, WgA, Word};
use compile::Codegen;
use exec::{Launch, Scratch};

/// One launch argument of [`run`], in parameter order.
#[derive(Debug)]
pub enum RefArg<'a> {
    /// A buffer parameter's elements, one `u32` slot each holding the
    /// element's bit pattern zero-extended ([`Literal::bits`]): an `f32`'s
    /// bits, an `i8` of `-1` as `0xff`, an `f16` as its 16 bits.
    Buffer(&'a mut [u32]),
    /// A scalar parameter; its type must be the parameter's (a narrow
    /// parameter takes its own literal, `Literal::F16` for an `f16`).
    Scalar(Literal),
}

/// Knobs of [`run_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Fail with [`RunError::StepLimitExceeded`] when one invocation
    /// executes more instructions than this (`None`: no limit).
    pub max_steps_per_invocation: Option<u64>,
    /// Worker threads for workgroups (`None` or `Some(0)`: rayon's global
    /// pool, one thread per core; `Some(1)`: run on the calling thread;
    /// `Some(n)`: a pool of `n` threads, built on first use and reused).
    pub threads: Option<usize>,
    /// The subgroup size `S` the kernel sees (`subgroup_size()`, and how
    /// invocations form subgroups): a power of two from 1 to
    /// [`MAX_SUBGROUP_SIZE`], otherwise the launch fails with
    /// [`RunError::InvalidSubgroupSize`]. Default 32, NVIDIA's warp.
    pub subgroup_size: u32,
}

/// The largest [`RunOptions::subgroup_size`].
pub const MAX_SUBGROUP_SIZE: u32 = 128;

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_steps_per_invocation: None,
            threads: None,
            subgroup_size: 32,
        }
    }
}

/// Why a launch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The program does not validate.
    #[error("kernel `{kernel}` is invalid: {}", join_errors(.errors))]
    InvalidProgram {
        /// Kernel name.
        kernel: String,
        /// Every validation problem.
        errors: Vec<ValidationError>,
    },
    /// Wrong number of arguments.
    #[error("kernel `{kernel}` takes {expected} arguments, got {got}")]
    ArgumentCount {
        /// Kernel name.
        kernel: String,
        /// Parameters of the kernel.
        expected: usize,
        /// Arguments passed.
        got: usize,
    },
    /// An argument does not fit its parameter.
    #[error("argument {index} (`{param}`) of kernel `{kernel}`: expected {expected}, got {got}")]
    ArgumentMismatch {
        /// Kernel name.
        kernel: String,
        /// Argument position.
        index: usize,
        /// Parameter name.
        param: String,
        /// What the parameter takes.
        expected: String,
        /// What was passed.
        got: String,
    },
    /// An invocation ran past [`RunOptions::max_steps_per_invocation`].
    #[error(
        "kernel `{kernel}`: invocation {invocation} of workgroup {workgroup:?} exceeded the limit of {limit} steps (an infinite loop?)"
    )]
    StepLimitExceeded {
        /// Kernel name.
        kernel: String,
        /// The limit.
        limit: u64,
        /// The workgroup.
        workgroup: [u32; 3],
        /// Linear local index of the invocation.
        invocation: u32,
    },
    /// Invocations of one workgroup did not all reach the same barrier.
    #[error("kernel `{kernel}`: barrier divergence in workgroup {workgroup:?}: {detail}")]
    BarrierDivergence {
        /// Kernel name.
        kernel: String,
        /// The workgroup.
        workgroup: [u32; 3],
        /// What happened.
        detail: String,
    },
    /// An `unchecked` kernel accessed out of range.
    #[error(
        "unchecked kernel `{kernel}` accessed `{buffer}[{index}]` out of range (length {len}) in workgroup {workgroup:?}"
    )]
    OutOfBounds {
        /// Kernel name.
        kernel: String,
        /// Buffer or shared array name.
        buffer: String,
        /// The index (an `i32` index reinterpreted as `u32`).
        index: u32,
        /// Its length in elements.
        len: usize,
        /// The workgroup.
        workgroup: [u32; 3],
    },
    /// An access inside an `unsafe` block went out of range: the kernel's
    /// author asserted it could not. Undefined behaviour on a GPU, where
    /// nothing checks it.
    #[error(
        "kernel `{kernel}` accessed `{buffer}[{index}]` out of range (length {len}) inside an `unsafe` block, in workgroup {workgroup:?}; on a GPU this is undefined behaviour"
    )]
    OutOfBoundsInUnsafe {
        /// Kernel name.
        kernel: String,
        /// Buffer or shared array name.
        buffer: String,
        /// The index (an `i32` index reinterpreted as `u32`; a matrix or
        /// copy element's, saturated past `u32::MAX`).
        index: u32,
        /// Its length in elements.
        len: usize,
        /// The workgroup.
        workgroup: [u32; 3],
    },
    /// A checked kernel went out of range at an access whose check the
    /// middle layer's bounds analysis ([`crate::mid::IndexChecks`]) proved
    /// redundant: the analysis is wrong, and every target that elides the
    /// check would read or write out of range. A vyre bug.
    #[error(
        "kernel `{kernel}`: `{buffer}[{index}]` is out of range (length {len}) in workgroup {workgroup:?}, but the bounds analysis elided its check (a vyre bug in src/mid/bounds.rs; please report it)"
    )]
    UnsoundBoundsCheckElision {
        /// Kernel name.
        kernel: String,
        /// Buffer or shared array name.
        buffer: String,
        /// The index (an `i32` index reinterpreted as `u32`).
        index: u32,
        /// Its length in elements.
        len: usize,
        /// The workgroup.
        workgroup: [u32; 3],
    },
    /// The grid has more workgroups than can be counted.
    #[error("kernel `{kernel}`: grid of {workgroups:?} workgroups is too large")]
    GridTooLarge {
        /// Kernel name.
        kernel: String,
        /// The grid.
        workgroups: [u32; 3],
    },
    /// An interpreter invariant failed (a bug in vyre; please report it).
    #[error("internal error of the reference interpreter on kernel `{kernel}`: {reason}")]
    Internal {
        /// Kernel name.
        kernel: String,
        /// What failed.
        reason: String,
    },
    /// [`RunOptions::subgroup_size`] is not a power of two from 1 to
    /// [`MAX_SUBGROUP_SIZE`].
    #[error(
        "subgroup size {size} is not supported: it must be a power of two from 1 to {MAX_SUBGROUP_SIZE}"
    )]
    InvalidSubgroupSize {
        /// The size asked for.
        size: u32,
    },
    /// The invocations of one subgroup executed a matrix statement with
    /// different operands (offset, stride or fill value), or not all of its
    /// invocations executed it. Every target relies on this contract (PTX
    /// `mma.sync` and `ldmatrix` spread one tile over the lanes of a warp;
    /// a cooperative matrix is a value of the whole subgroup), so the
    /// reference checks it on every run instead of picking one lane's
    /// operands.
    #[error(
        "kernel `{kernel}`: the invocations of subgroup {subgroup} of workgroup {workgroup:?} execute {statement} with different operands: {detail}; every invocation of a subgroup must execute a matrix statement together, with equal operands"
    )]
    MatrixOperandsDiffer {
        /// Kernel name.
        kernel: String,
        /// The workgroup.
        workgroup: [u32; 3],
        /// The subgroup within the workgroup (invocations `subgroup * S ..
        /// (subgroup + 1) * S` by flat local index).
        subgroup: u32,
        /// Which statement: its number in the kernel and what it does.
        statement: String,
        /// Which lanes disagree and how.
        detail: String,
    },
    /// The invocations of one warpgroup (128 consecutive invocations)
    /// executed a statement on warpgroup matrices with different operands
    /// (offsets, strides or fill value), or not all of them executed it:
    /// the warpgroup counterpart of [`RunError::MatrixOperandsDiffer`]
    /// (`wgmma` spreads one tile over the four warps of a warpgroup).
    #[error(
        "kernel `{kernel}`: the invocations of warpgroup {warpgroup} of workgroup {workgroup:?} execute {statement} with different operands: {detail}; every invocation of a warpgroup (128 consecutive invocations) must execute a statement on warpgroup matrices together, with equal operands"
    )]
    WarpgroupOperandsDiffer {
        /// Kernel name.
        kernel: String,
        /// The workgroup.
        workgroup: [u32; 3],
        /// The warpgroup within the workgroup (invocations `warpgroup *
        /// 128 .. (warpgroup + 1) * 128` by flat local index).
        warpgroup: u32,
        /// Which statement: its number in the kernel and what it does.
        statement: String,
        /// Which invocations disagree and how.
        detail: String,
    },
    /// The worker pool could not be built.
    #[error("could not start {threads} worker threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The pool's error.
        reason: String,
    },
}

fn join_errors(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Run `program` over `workgroups` with default options.
///
/// # Errors
///
/// See [`RunError`].
pub fn run(
    program: &Program,
    workgroups: [u32; 3],
    args: &mut [RefArg<'_>],
) -> Result<(), RunError> {
    run_with(program, workgroups, args, &RunOptions::default())
}

/// Run `program` over `workgroups` with `opts`.
///
/// # Errors
///
/// See [`RunError`].
pub fn run_with(
    program: &Program,
    workgroups: [u32; 3],
    args: &mut [RefArg<'_>],
    opts: &RunOptions,
) -> Result<(), RunError> {
    Compiled::new(program)?.run(workgroups, args, opts)
}

/// A program compiled for the interpreter; compile once, run many times.
#[derive(Debug, Clone)]
pub struct Compiled {
    name: String,
    code: Vec<Op>,
    nregs: usize,
    /// Register values that do not depend on the launch (constants).
    consts: Vec<(Reg, Word)>,
    /// Per parameter: its scalar register (scalars) and its length
    /// register (buffers).
    params: Vec<Param>,
    param_base: u32,
    len_base: u32,
    ro_names: Vec<String>,
    rw_names: Vec<String>,
    /// Shared arrays: offset in the per-workgroup arena, length.
    shared: Vec<(usize, usize)>,
    shared_names: Vec<String>,
    shared_words: usize,
    /// Names of the private arrays (their words are registers).
    private_names: Vec<String>,
    /// Invocations must be interleaved: the kernel has a barrier or a
    /// collective subgroup operation (`Op::Subgroup`).
    synchronised: bool,
    /// The registers of `subgroup_invocation_id()` (set per invocation)
    /// and `subgroup_size()` (set per launch), in kernels that read them.
    lane: Option<Reg>,
    subgroup_size: Option<Reg>,
    workgroup_size: [u32; 3],
    unchecked: bool,
    /// Per instruction: an access whose bounds check the middle layer's
    /// analysis elides on every target (out of range there is an error).
    proven: Vec<bool>,
    /// Per instruction: compiled from an `unsafe` block (out of range there
    /// is [`RunError::OutOfBoundsInUnsafe`]).
    in_unsafe: Vec<bool>,
    /// Per matrix of the kernel: where its tile lies in a subgroup's block
    /// of `matrix_words` elements (a warpgroup matrix: in a warpgroup's
    /// block of `warpgroup_words`).
    matrices: Vec<MatrixSlot>,
    matrix_words: usize,
    /// Elements of a warpgroup's block of warpgroup matrices.
    warpgroup_words: usize,
    /// The statements of `Op::Matrix`, and how diagnostics name them.
    matrix_ops: Vec<MatStmt>,
    /// Per matrix statement: inside an `unsafe` block.
    matrix_in_unsafe: Vec<bool>,
    matrix_descs: Vec<String>,
    /// The expressions of `matrix_map` statements (`MatStmt::Map`).
    maps: Vec<MapCode>,
}

impl Compiled {
    /// Validate `program`, widen it (`mid::widen`: every operation on an 8-
    /// or 16-bit type becomes one on its register type, rounded or wrapped
    /// back) and compile it.
    ///
    /// # Errors
    ///
    /// [`RunError::InvalidProgram`] when it does not validate.
    pub fn new(program: &Program) -> Result<Self, RunError> {
        let config = crate::DispatchConfig::default();
        let analysis =
            Analysis::try_new(program, &config).map_err(|errors| RunError::InvalidProgram {
                kernel: program.name.clone(),
                errors,
            })?;
        // Tile copies run as the middle layer's loops of element copies.
        let tiled = crate::mid::lower_tile_copies(program, program.workgroup_size, false);
        let wide = widen(&tiled);
        if matches!((&tiled, &wide), (Cow::Borrowed(_), Cow::Borrowed(_))) {
            return Self::analysed(&analysis);
        }
        let analysis = Analysis::try_new(&wide, &config).map_err(|errors| RunError::Internal {
            kernel: program.name.clone(),
            reason: format!(
                "the widened kernel does not validate: {}",
                join_errors(&errors)
            ),
        })?;
        let mut compiled = Self::analysed(&analysis)?;
        // Arguments are checked against the kernel as written: a narrow
        // scalar takes its own literal (passed widened).
        compiled.params.clone_from(&program.params);
        Ok(compiled)
    }

    /// Compile a kernel the middle layer analysed (validation included;
    /// the reference target uses the default configuration): the
    /// interpreter asks its bounds decisions for every access, like every
    /// other target. The kernel must be in the widened normal form (see
    /// [`Compiled::new`]); a kernel without 8- and 16-bit types is.
    ///
    /// # Errors
    ///
    /// [`RunError::Internal`] when the bytecode breaks an invariant, or the
    /// kernel is not in the widened normal form.
    pub fn analysed(analysis: &Analysis<'_>) -> Result<Self, RunError> {
        let compiled = Codegen::compile_with(analysis).map_err(|reason| RunError::Internal {
            kernel: analysis.program().name.clone(),
            reason,
        })?;
        compiled.verify().map_err(|reason| RunError::Internal {
            kernel: analysis.program().name.clone(),
            reason,
        })?;
        Ok(compiled)
    }

    /// Check the invariants `exec` relies on for its unchecked register
    /// and code accesses.
    fn verify(&self) -> Result<(), String> {
        if self.code.last() != Some(&Op::Halt) {
            return Err("bytecode does not end with `Halt`".to_string());
        }
        if self.proven.len() != self.code.len()
            || self.in_unsafe.len() != self.code.len()
            || self.matrix_in_unsafe.len() != self.matrix_ops.len()
        {
            return Err("bounds decisions do not cover the code".to_string());
        }
        let n = self.nregs as u64;
        let len = self.code.len() as u64;
        if let Some(bad) = [self.lane, self.subgroup_size]
            .into_iter()
            .flatten()
            .find(|&r| u64::from(r) >= n)
        {
            return Err(format!("subgroup register {bad} of {n}"));
        }
        for (pc, op) in self.code.iter().enumerate() {
            let (regs, target) = op.operands();
            if let Some(bad) = regs.iter().find(|&&r| u64::from(r) >= n) {
                return Err(format!(
                    "instruction {pc} ({op:?}) uses register {bad} of {n}"
                ));
            }
            if target.is_some_and(|t| u64::from(t) >= len) {
                return Err(format!("instruction {pc} ({op:?}) jumps outside the code"));
            }
            if let Op::Matrix { s, .. } = *op
                && s as usize >= self.matrix_ops.len()
            {
                return Err(format!(
                    "instruction {pc} ({op:?}) names no matrix statement"
                ));
            }
            if let Op::Matrix { s, .. } = *op
                && let Some(bad) = self.matrix_ops[s as usize]
                    .extra()
                    .into_iter()
                    .flatten()
                    .find(|&r| u64::from(r) >= n)
            {
                return Err(format!(
                    "instruction {pc} ({op:?}) has an operand in register {bad} of {n}"
                ));
            }
            if let Op::Matrix { s, .. } = *op
                && let MatStmt::Map { map, .. } = self.matrix_ops[s as usize]
            {
                let Some(code) = self.maps.get(map as usize) else {
                    return Err(format!("instruction {pc} ({op:?}) names no map expression"));
                };
                if u64::from(code.entry) >= len {
                    return Err(format!(
                        "instruction {pc} ({op:?}): its map expression starts outside the code"
                    ));
                }
                if let Some(bad) = code.regs().into_iter().find(|&r| u64::from(r) >= n) {
                    return Err(format!(
                        "instruction {pc} ({op:?}): its map expression uses register {bad} of {n}"
                    ));
                }
            }
            if let Op::AsyncCopy { dst, src, .. } = *op {
                self.memory_exists(Mem::Shared(dst))
                    .and_then(|()| self.memory_exists(src))
                    .map_err(|e| format!("instruction {pc} ({op:?}): {e}"))?;
            }
            // A private access reads `base + index` for any `index < len`
            // without a further check.
            if let Op::LoadP { base, len, .. } | Op::StoreP { base, len, .. } = *op
                && u64::from(base) + u64::from(len) > n
            {
                return Err(format!(
                    "instruction {pc} ({op:?}) reaches past register {n}"
                ));
            }
        }
        self.verify_matrices()
    }

    /// The matrix statements name existing matrices and memories, every
    /// tile lies inside a subgroup's (or warpgroup's) block, a statement's
    /// matrices are all held by subgroups or all by warpgroups (a
    /// multiply's and a load's by subgroups, a warpgroup multiply's by
    /// warpgroups), and a multiply's matrices have the shape's dimensions
    /// (`exec` indexes tiles by them).
    fn verify_matrices(&self) -> Result<(), String> {
        for (k, slot) in self.matrices.iter().enumerate() {
            let words = if slot.warpgroup {
                self.warpgroup_words
            } else {
                self.matrix_words
            };
            if slot.offset + slot.len() > words {
                return Err(format!("matrix {k} lies outside the tile storage"));
            }
        }
        let slot = |m: u32| {
            self.matrices
                .get(m as usize)
                .copied()
                .ok_or_else(|| format!("no matrix {m}"))
        };
        for (k, stmt) in self.matrix_ops.iter().enumerate() {
            let at = |e: String| format!("matrix statement {k}: {e}");
            let warpgroup = match *stmt {
                MatStmt::WarpgroupMultiplyAdd { .. }
                | MatStmt::Map { .. }
                | MatStmt::RowReduce { .. } => true,
                MatStmt::Fill { m } | MatStmt::Store { m, .. } => slot(m).map_err(at)?.warpgroup,
                MatStmt::Load { .. } | MatStmt::MultiplyAdd { .. } => false,
            };
            for m in stmt.matrices() {
                if slot(m).map_err(at)?.warpgroup != warpgroup {
                    let by = if warpgroup { "warpgroup" } else { "subgroup" };
                    return Err(at(format!("matrix {m} is not held by a {by}")));
                }
            }
            for mem in stmt.mems() {
                self.memory_exists(mem).map_err(at)?;
            }
            if let MatStmt::WarpgroupMultiplyAdd { d, c, a, shape, .. } = *stmt {
                let mut want = vec![(d, (shape.m, shape.n)), (c, (shape.m, shape.n))];
                if let WgA::Acc(p) = a {
                    want.push((p, (shape.m, shape.k)));
                }
                for (m, (rows, cols)) in want {
                    let s = slot(m).map_err(at)?;
                    if (s.rows, s.cols) != (rows, cols) {
                        return Err(at(format!("matrix {m} is not {rows} x {cols}")));
                    }
                }
            }
            // A map writes `d` element by element from `src`'s.
            if let MatStmt::Map { d, src, .. } = *stmt {
                let (sd, ss) = (slot(d).map_err(at)?, slot(src).map_err(at)?);
                if (sd.rows, sd.cols) != (ss.rows, ss.cols) {
                    return Err(at(format!("matrices {d} and {src} differ in size")));
                }
            }
            if let MatStmt::MultiplyAdd { d, a, b, c, shape } = *stmt {
                let dims = |m: u32| slot(m).map(|s| (s.rows, s.cols));
                let want = [
                    (shape.m, shape.n),
                    (shape.m, shape.k),
                    (shape.k, shape.n),
                    (shape.m, shape.n),
                ];
                for (m, w) in [d, a, b, c].into_iter().zip(want) {
                    if dims(m).map_err(at)? != w {
                        return Err(at(format!("matrix {m} is not {} x {}", w.0, w.1)));
                    }
                }
            }
        }
        Ok(())
    }

    /// `mem` is a buffer parameter or shared array of the kernel (private
    /// arrays are no memory of matrix statements or copies).
    fn memory_exists(&self, mem: Mem) -> Result<(), String> {
        let ok = match mem {
            Mem::Ro(g) => (g as usize) < self.ro_names.len(),
            Mem::Rw(g) => (g as usize) < self.rw_names.len(),
            Mem::Shared(a) => (a as usize) < self.shared.len(),
            Mem::Private(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{mem:?} is no buffer or shared array"))
        }
    }

    /// Whether matrix statement `stmt` acts on warpgroup matrices (and so
    /// executes once per warpgroup).
    fn warpgroup_stmt(&self, stmt: u32) -> bool {
        self.matrix_ops.get(stmt as usize).is_some_and(|op| {
            op.matrices()
                .first()
                .and_then(|&m| self.matrices.get(m as usize))
                .is_some_and(|slot| slot.warpgroup)
        })
    }

    /// Whether a workgroup keeps every invocation's register file: with
    /// barriers or collectives (invocations stop and resume), and in
    /// kernels that read the lane, which is set there so that the
    /// straight-through path of every other kernel stays as it was.
    fn interleaved(&self) -> bool {
        self.synchronised || self.lane.is_some()
    }

    /// The kernel's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel's parameters, as written (before widening: a narrow
    /// scalar parameter keeps its type).
    #[must_use]
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Per parameter: whether it is a read-only buffer.
    #[must_use]
    pub fn read_only_params(&self) -> Vec<bool> {
        self.params
            .iter()
            .map(|p| matches!(p, Param::Buffer(b) if b.access == Access::Read))
            .collect()
    }

    /// Number of bytecode instructions (for diagnostics and tests).
    #[must_use]
    pub fn code_len(&self) -> usize {
        self.code.len()
    }

    /// Run over `workgroups` with `opts`.
    ///
    /// # Errors
    ///
    /// See [`RunError`].
    pub fn run(
        &self,
        workgroups: [u32; 3],
        args: &mut [RefArg<'_>],
        opts: &RunOptions,
    ) -> Result<(), RunError> {
        self.check_count(args.len())?;
        let core: Vec<CoreArg<'_>> = args
            .iter_mut()
            .zip(&self.params)
            .map(|(arg, param)| match arg {
                RefArg::Buffer(b) => match param {
                    Param::Buffer(d) if d.access == Access::Read => CoreArg::Ro(b),
                    _ => CoreArg::Rw(atomic_view(b)),
                },
                RefArg::Scalar(l) => CoreArg::Scalar(*l),
            })
            .collect();
        self.run_core(workgroups, &core, opts)
    }

    fn check_count(&self, got: usize) -> Result<(), RunError> {
        if got == self.params.len() {
            Ok(())
        } else {
            Err(RunError::ArgumentCount {
                kernel: self.name.clone(),
                expected: self.params.len(),
                got,
            })
        }
    }

    /// Run with buffers given as read-only words (read-only parameters) or
    /// atomic words (read-write parameters).
    pub(super) fn run_core(
        &self,
        workgroups: [u32; 3],
        args: &[CoreArg<'_>],
        opts: &RunOptions,
    ) -> Result<(), RunError> {
        let subgroup_size = opts.subgroup_size;
        if !subgroup_size.is_power_of_two() || subgroup_size > MAX_SUBGROUP_SIZE {
            return Err(RunError::InvalidSubgroupSize {
                size: subgroup_size,
            });
        }
        let (mut template, ro, rw) = self.bind(workgroups, args)?;
        if let Some(r) = self.subgroup_size {
            template[r as usize] = Word::from(subgroup_size);
        }
        let total = u64::from(workgroups[0])
            .checked_mul(u64::from(workgroups[1]))
            .and_then(|n| n.checked_mul(u64::from(workgroups[2])))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| RunError::GridTooLarge {
                kernel: self.name.clone(),
                workgroups,
            })?;
        if total == 0 {
            return Ok(());
        }
        let launch = Launch {
            c: self,
            ro: &ro,
            rw: &rw,
            template: &template,
            workgroups,
            limit: opts.max_steps_per_invocation.unwrap_or(u64::MAX),
            subgroup_size,
        };
        let one = |scratch: &mut Scratch, wg: usize| launch.workgroup(scratch, wg);
        match opts.threads {
            Some(1) => {
                let mut scratch = launch.scratch();
                (0..total).try_for_each(|wg| one(&mut scratch, wg))
            }
            _ if total == 1 => one(&mut launch.scratch(), 0),
            Some(n) if n > 1 => {
                let pool = pool(n)?;
                pool.install(|| {
                    (0..total)
                        .into_par_iter()
                        .try_for_each_init(|| launch.scratch(), one)
                })
            }
            _ => (0..total)
                .into_par_iter()
                .try_for_each_init(|| launch.scratch(), one),
        }
    }

    /// Check the arguments, build the initial register file and the buffer
    /// tables.
    #[allow(clippy::type_complexity)]
    fn bind<'a>(
        &self,
        workgroups: [u32; 3],
        args: &[CoreArg<'a>],
    ) -> Result<(Vec<Word>, Vec<&'a [u32]>, Vec<&'a [AtomicU32]>), RunError> {
        self.check_count(args.len())?;
        let mut regs = vec![0; self.nregs];
        for (r, n) in regs[9..12].iter_mut().zip(workgroups) {
            *r = Word::from(n);
        }
        for &(r, v) in &self.consts {
            regs[r as usize] = v;
        }
        let mut ro = Vec::new();
        let mut rw = Vec::new();
        for (index, (param, arg)) in self.params.iter().zip(args).enumerate() {
            let mismatch = |expected: String, got: String| RunError::ArgumentMismatch {
                kernel: self.name.clone(),
                index,
                param: param.name().to_string(),
                expected,
                got,
            };
            let len = match arg {
                CoreArg::Ro(b) => Some(b.len()),
                CoreArg::Rw(b) => Some(b.len()),
                CoreArg::Scalar(_) | CoreArg::Widened(_) => None,
            };
            if let Some(words) = len {
                // A 64-bit element is two words (in the host's byte order).
                let wide = matches!(param, Param::Buffer(b) if b.elem.is_wide());
                if wide && words % 2 != 0 {
                    return Err(mismatch(
                        format!("a buffer of `{}`, two words per element", param_elem(param)),
                        format!("{words} words"),
                    ));
                }
                let len = if wide { words / 2 } else { words };
                let len = u32::try_from(len).map_err(|_| {
                    mismatch(
                        format!("a buffer of at most {} elements", u32::MAX),
                        format!("{len} elements"),
                    )
                })?;
                regs[(self.len_base + index as u32) as usize] = Word::from(len);
            }
            // A narrow element's slot holds its bits zero-extended.
            if let Param::Buffer(b) = param
                && b.elem.is_narrow()
            {
                let max = u32::MAX >> (32 - b.elem.bits());
                let bad = match arg {
                    CoreArg::Ro(words) => words.iter().position(|&w| w > max),
                    CoreArg::Rw(words) => words.iter().position(|w| w.load(Relaxed) > max),
                    CoreArg::Scalar(_) | CoreArg::Widened(_) => None,
                };
                if let Some(k) = bad {
                    return Err(mismatch(
                        format!(
                            "a buffer of `{}`, one slot per element holding its bits zero-extended",
                            b.elem
                        ),
                        format!("slot {k} outside `0..={max:#x}`"),
                    ));
                }
            }
            match (param, arg) {
                (Param::Buffer(b), CoreArg::Ro(words)) if b.access == Access::Read => {
                    ro.push(*words);
                }
                (Param::Buffer(b), CoreArg::Rw(words)) if b.access == Access::ReadWrite => {
                    rw.push(*words);
                }
                (Param::Buffer(b), CoreArg::Ro(_)) => {
                    return Err(mismatch(
                        format!("a read-write buffer of `{}`", b.elem),
                        "a read-only buffer".to_string(),
                    ));
                }
                (Param::Buffer(b), CoreArg::Rw(_)) => {
                    return Err(mismatch(
                        format!("a read-only buffer of `{}`", b.elem),
                        "a read-write buffer".to_string(),
                    ));
                }
                (Param::Scalar { ty, .. }, CoreArg::Scalar(lit)) if lit.ty() == *ty => {
                    // A narrow scalar's register holds its widened value.
                    regs[(self.param_base + index as u32) as usize] = literal_bits(lit.widened());
                }
                (Param::Scalar { ty, .. }, CoreArg::Widened(lit))
                    if ty.is_narrow() && lit.ty() == ty.register_type() =>
                {
                    if !represents(*ty, *lit) {
                        return Err(mismatch(
                            format!("a `{ty}` scalar (widened to `{}`)", lit.ty()),
                            format!("{lit:?}, which is no `{ty}` value"),
                        ));
                    }
                    regs[(self.param_base + index as u32) as usize] = literal_bits(*lit);
                }
                (Param::Scalar { ty, .. }, CoreArg::Widened(lit)) if lit.ty() == *ty => {
                    regs[(self.param_base + index as u32) as usize] = literal_bits(*lit);
                }
                (Param::Buffer(b), CoreArg::Scalar(lit) | CoreArg::Widened(lit)) => {
                    return Err(mismatch(
                        format!("a buffer of `{}`", b.elem),
                        format!("a `{}` scalar", lit.ty()),
                    ));
                }
                (Param::Scalar { ty, .. }, CoreArg::Scalar(lit) | CoreArg::Widened(lit)) => {
                    return Err(mismatch(
                        format!("a `{ty}` scalar"),
                        format!("a `{}` scalar", lit.ty()),
                    ));
                }
                (Param::Scalar { ty, .. }, _) => {
                    return Err(mismatch(format!("a `{ty}` scalar"), "a buffer".to_string()));
                }
            }
        }
        Ok((regs, ro, rw))
    }
}

/// A launch argument of [`Compiled::run_core`].
#[derive(Debug)]
pub(super) enum CoreArg<'a> {
    /// A read-only buffer parameter's words.
    Ro(&'a [u32]),
    /// A read-write buffer parameter's words.
    Rw(&'a [AtomicU32]),
    /// A scalar of the parameter's type.
    Scalar(Literal),
    /// A scalar as the runtime passes it: a narrow parameter's value
    /// already widened to its register type (`f32`, `u32`, `i32`); any
    /// other parameter's value as is.
    Widened(Literal),
}

/// Whether `lit` (of `ty`'s register type) is the widened value of a `ty`
/// (any NaN for a NaN).
fn represents(ty: DataType, lit: Literal) -> bool {
    let bits = lit.bits();
    match ty {
        DataType::F16 => {
            let x = f32::from_bits(bits);
            x.is_nan() || half::f16::from_f32(x).to_f32().to_bits() == bits
        }
        DataType::BF16 => f32::from_bits(bits).is_nan() || bits & 0xFFFF == 0,
        DataType::U8 => bits <= 0xFF,
        DataType::U16 => bits <= 0xFFFF,
        DataType::I8 => i8::try_from(bits.cast_signed()).is_ok(),
        DataType::I16 => i16::try_from(bits.cast_signed()).is_ok(),
        _ => true,
    }
}

/// A worker pool of `n` threads, built once per size and kept for later
/// launches (building one spawns `n` OS threads).
fn pool(n: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, RunError> {
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = pools.get(&n) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| RunError::ThreadPool {
            threads: n,
            reason: e.to_string(),
        })?;
    let p = Arc::new(p);
    pools.insert(n, Arc::clone(&p));
    Ok(p)
}

/// A buffer parameter's element type (`u32` for a scalar, never asked).
fn param_elem(param: &Param) -> DataType {
    match param {
        Param::Buffer(b) => b.elem,
        Param::Scalar { .. } => DataType::U32,
    }
}

fn literal_bits(l: Literal) -> Word {
    l.bits64()
}

/// View a uniquely borrowed word slice as atomics, so that workgroups on
/// several threads may share it.
pub(super) fn atomic_view(words: &mut [u32]) -> &[AtomicU32] {
    // SAFETY: `AtomicU32` has the same size, alignment and bit validity as
    // `u32`, and the `&mut` borrow guarantees no other access for the
    // returned lifetime.
    unsafe { &*(std::ptr::from_mut::<[u32]>(words) as *const [AtomicU32]) }
}

#[cfg(test)]
mod tests {
    use super::compile::Codegen;
    use super::{Compiled, RefArg, RunError, RunOptions};
    use crate::DispatchConfig;
    use crate::ir::{Access, Axis, BufRef, Builtin, DataType, Expr, ProgramBuilder};
    use crate::mid::Analysis;

    /// `y[global_id().x] = 7` with no guard: out of range past `y.len()`.
    fn unguarded_store() -> crate::ir::Program {
        let mut b = ProgramBuilder::new("unguarded", [4, 1, 1]);
        let y = b.buffer("y", DataType::U32, Access::ReadWrite);
        b.body(|blk| {
            blk.store(
                BufRef::Param(y),
                Expr::Builtin(Builtin::GlobalId, Axis::X),
                Expr::u32(7),
            );
        });
        b.finish()
    }

    #[test]
    fn checked_accesses_drop_out_of_range_stores() {
        let p = unguarded_store();
        let mut y = [0u32; 6];
        Compiled::new(&p)
            .expect("valid")
            .run(
                [2, 1, 1],
                &mut [RefArg::Buffer(&mut y)],
                &RunOptions::default(),
            )
            .expect("out-of-range stores of a checked kernel are dropped");
        assert_eq!(y, [7; 6]);
    }

    #[test]
    fn an_unsound_elision_is_reported_not_hidden() {
        // Bounds decisions that (wrongly) elide every check: the interpreter
        // must report the access that goes out of range.
        let p = unguarded_store();
        let wrong = Analysis::assume_in_range(&p, &DispatchConfig::default());
        let compiled = Codegen::compile_with(&wrong).expect("compiles");
        let mut y = [0u32; 6];
        let e = compiled
            .run(
                [2, 1, 1],
                &mut [RefArg::Buffer(&mut y)],
                &RunOptions::default(),
            )
            .unwrap_err();
        assert!(
            matches!(
                &e,
                RunError::UnsoundBoundsCheckElision { buffer, len: 6, .. } if buffer == "y"
            ),
            "{e:?}"
        );
    }

    /// `acc[n] = 1; out[0] = acc[n]` with a run-time `n` into a private
    /// array of 4.
    fn private_by_scalar() -> crate::ir::Program {
        let mut b = ProgramBuilder::new("private", [1, 1, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        let n = b.scalar("n", DataType::U32);
        let acc = b.private("acc", DataType::U32, 4);
        b.body(|blk| {
            blk.store(BufRef::Private(acc), Expr::param(n), Expr::u32(1));
            blk.store(
                BufRef::Param(out),
                Expr::u32(0),
                Expr::load(BufRef::Private(acc), Expr::param(n)),
            );
        });
        b.finish()
    }

    #[test]
    fn private_arrays_use_the_shared_bounds_decisions() {
        let p = private_by_scalar();
        let run = |c: &Compiled, n: u32| {
            let mut out = [9u32];
            c.run(
                [1, 1, 1],
                &mut [
                    RefArg::Buffer(&mut out),
                    RefArg::Scalar(crate::ir::Literal::U32(n)),
                ],
                &RunOptions::default(),
            )
            .map(|()| out[0])
        };
        // The real analysis keeps both checks: out of range is dropped / 0.
        let checked = Compiled::new(&p).expect("valid");
        assert_eq!(run(&checked, 3), Ok(1));
        assert_eq!(run(&checked, 4), Ok(0));
        // Decisions that (wrongly) elide them: reported, naming the array.
        let wrong = Analysis::assume_in_range(&p, &DispatchConfig::default());
        let compiled = Codegen::compile_with(&wrong).expect("compiles");
        assert_eq!(run(&compiled, 3), Ok(1));
        let e = run(&compiled, 4).unwrap_err();
        assert!(
            matches!(
                &e,
                RunError::UnsoundBoundsCheckElision { buffer, index: 4, len: 4, .. }
                    if buffer == "acc"
            ),
            "{e:?}"
        );
    }

    /// `if workgroup_id().x == 0 { matrix_fill(mc, 1.0) }`: uniform, so
    /// valid; `lanes_skip` rewrites the branch to test `local_id().x`
    /// instead, which no valid kernel can do, to reach the check that
    /// every lane of a subgroup takes part.
    fn guarded_fill(lanes_skip: bool) -> Compiled {
        use crate::ir::{MatrixOp, MatrixRole, MatrixShape};
        let mut b = ProgramBuilder::new("guarded", [32, 1, 1]);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let shape = MatrixShape { m: 16, n: 8, k: 16 };
        let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, shape);
        b.body(|blk| {
            let wg = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
            blk.if_(wg.eq(Expr::u32(0)), |then| {
                then.matrix(MatrixOp::Fill {
                    matrix: mc,
                    value: Expr::f32(1.0),
                });
            });
            blk.matrix(MatrixOp::Store {
                matrix: mc,
                buf: BufRef::Param(out),
                offset: Expr::u32(0),
                stride: Expr::u32(8),
                layout: crate::ir::MatrixLayout::RowMajor,
                clip: None,
            });
        });
        let mut c = Compiled::new(&b.finish()).expect("valid");
        if lanes_skip {
            let lid = super::bytecode::builtin_reg(Builtin::LocalId, Axis::X);
            let jumps = c
                .code
                .iter_mut()
                .filter_map(|op| match op {
                    super::Op::JumpIfNot { c, .. } => Some(c),
                    _ => None,
                })
                .map(|r| *r = lid)
                .count();
            assert_eq!(jumps, 1);
        }
        c
    }

    #[test]
    fn every_lane_of_a_subgroup_must_take_part_in_a_matrix_statement() {
        let mut out = [0u32; 128];
        let run = |c: &Compiled, out: &mut [u32]| {
            c.run(
                [1, 1, 1],
                &mut [RefArg::Buffer(out)],
                &RunOptions::default(),
            )
        };
        run(&guarded_fill(false), &mut out).expect("uniform");
        assert_eq!(out, [1f32.to_bits(); 128]);
        // Lane 0 (`local_id().x == 0`) skips the fill and waits at the
        // store, the others wait at the fill.
        let e = run(&guarded_fill(true), &mut out).unwrap_err();
        let RunError::MatrixOperandsDiffer {
            subgroup: 0,
            statement,
            detail,
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(
            statement,
            "matrix statement 1 (`matrix_store` of `mc` into `out`)"
        );
        assert_eq!(
            detail,
            "lane 0 executes it, lane 1 does not (it waits at another barrier, subgroup operation or matrix statement)"
        );
    }

    #[test]
    fn matrix_statements_are_verified() {
        let mut c = guarded_fill(false);
        assert_eq!(c.verify(), Ok(()));
        for op in &mut c.code {
            if let super::Op::Matrix { s, .. } = op {
                *s = 7;
            }
        }
        assert!(
            c.verify()
                .unwrap_err()
                .contains("names no matrix statement")
        );
        let mut c = guarded_fill(false);
        c.matrices[0].rows = 32;
        assert!(c.verify().unwrap_err().contains("outside the tile storage"));
    }

    /// Programs in the widened normal form (`mid::widen`'s output), built
    /// by hand: the interpreter's side of the narrow types.
    mod widened {
        use super::super::{Compiled, RefArg, RunError, RunOptions};
        use crate::DispatchConfig;
        use crate::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
        use crate::mid::Analysis;

        fn run(p: &crate::ir::Program, args: &mut [RefArg<'_>]) {
            Compiled::new(p)
                .expect("valid")
                .run([1, 1, 1], args, &RunOptions::default())
                .expect("runs");
        }

        /// `(x as N) as R`: shape (b).
        fn round(x: Expr, n: DataType) -> Expr {
            x.cast(n).cast(n.register_type())
        }

        #[test]
        fn loads_widen_and_stores_convert() {
            let mut b = ProgramBuilder::new("w", [1, 1, 1]);
            let h = b.buffer("h", DataType::F16, Access::Read);
            let bf = b.buffer("bf", DataType::BF16, Access::ReadWrite);
            let i8b = b.buffer("i8b", DataType::I8, Access::Read);
            let u16b = b.buffer("u16b", DataType::U16, Access::ReadWrite);
            let out = b.buffer("out", DataType::U32, Access::ReadWrite);
            let outf = b.buffer("outf", DataType::F32, Access::ReadWrite);
            b.body(|blk| {
                let f = |e: Expr| e.cast(DataType::F32).cast(DataType::U32);
                // 1.5 (f16 0x3e00) as an f32, then as u32: 1.
                blk.store(
                    BufRef::Param(out),
                    Expr::u32(0),
                    f(Expr::load(BufRef::Param(h), Expr::u32(0))),
                );
                // f16 bits back out through an f32: `h[1] as f32` bits.
                blk.store(
                    BufRef::Param(outf),
                    Expr::u32(0),
                    Expr::load(BufRef::Param(h), Expr::u32(1)).cast(DataType::F32),
                );
                // i8 0xff sign-extends to -1.
                blk.store(
                    BufRef::Param(out),
                    Expr::u32(2),
                    Expr::load(BufRef::Param(i8b), Expr::u32(0))
                        .cast(DataType::I32)
                        .cast(DataType::U32),
                );
                // bf[2] = (bf[0] as f32 + bf[1] as f32) as bf16.
                let sum = Expr::load(BufRef::Param(bf), Expr::u32(0))
                    .cast(DataType::F32)
                    .add(Expr::load(BufRef::Param(bf), Expr::u32(1)).cast(DataType::F32));
                blk.store(BufRef::Param(bf), Expr::u32(2), sum.cast(DataType::BF16));
                // u16b[0] = ((u16b[0] as u32 + 0xffff) as u16): wraps.
                let w = Expr::load(BufRef::Param(u16b), Expr::u32(0))
                    .cast(DataType::U32)
                    .add(Expr::u32(0xFFFF));
                blk.store(BufRef::Param(u16b), Expr::u32(0), w.cast(DataType::U16));
                // Out of range: reads 0, the store is dropped.
                blk.store(
                    BufRef::Param(outf),
                    Expr::u32(1),
                    Expr::load(BufRef::Param(h), Expr::u32(9)).cast(DataType::F32),
                );
                blk.store(
                    BufRef::Param(u16b),
                    Expr::u32(7),
                    Expr::u32(5).cast(DataType::U16),
                );
            });
            let p = b.finish();
            let mut hs = [0x3e00u32, 0xfc00];
            // bf16 1.0 and 2^-8: 1 + 2^-8 is the tie between 1.0 and the
            // next bf16 (1 + 2^-7) and rounds to even, 1.0.
            let mut bfs = [0x3f80u32, 0x3b80, 0xffff];
            let mut i8s = [0xffu32];
            let mut u16s = [3u32];
            let mut out = [0u32; 3];
            let mut outf = [7u32; 2];
            run(
                &p,
                &mut [
                    RefArg::Buffer(&mut hs),
                    RefArg::Buffer(&mut bfs),
                    RefArg::Buffer(&mut i8s),
                    RefArg::Buffer(&mut u16s),
                    RefArg::Buffer(&mut out),
                    RefArg::Buffer(&mut outf),
                ],
            );
            assert_eq!(out, [1, 0, u32::MAX]);
            assert_eq!(outf, [f32::NEG_INFINITY.to_bits(), 0]);
            assert_eq!(bfs, [0x3f80, 0x3b80, 0x3f80]);
            assert_eq!(u16s, [2]);
        }

        #[test]
        fn rounding_and_wrapping() {
            let cases: Vec<(Expr, u32)> = vec![
                // f16: 1 + 2^-11 is a tie, to even (1.0); 1 + 3 * 2^-12
                // rounds up to 1 + 2^-10; 65520 overflows to infinity;
                // 2^-24, the smallest subnormal, is kept.
                (
                    round(Expr::f32(1.0 + 2f32.powi(-11)), DataType::F16),
                    1f32.to_bits(),
                ),
                (
                    round(Expr::f32(1.0 + 3.0 * 2f32.powi(-12)), DataType::F16),
                    (1.0 + 2f32.powi(-10)).to_bits(),
                ),
                (
                    round(Expr::f32(65520.0), DataType::F16),
                    f32::INFINITY.to_bits(),
                ),
                (round(Expr::f32(65519.0), DataType::F16), 65504f32.to_bits()),
                (
                    round(Expr::f32(2f32.powi(-24)), DataType::F16),
                    2f32.powi(-24).to_bits(),
                ),
                (round(Expr::f32(2f32.powi(-26)), DataType::F16), 0),
                // bf16: 1 + 2^-8 ties to 1.0, 1 + 3 * 2^-9 rounds up.
                (
                    round(Expr::f32(1.0 + 2f32.powi(-8)), DataType::BF16),
                    1f32.to_bits(),
                ),
                (
                    round(Expr::f32(1.0 + 3.0 * 2f32.powi(-9)), DataType::BF16),
                    (1.0 + 2f32.powi(-7)).to_bits(),
                ),
                // Integers wrap, then zero- or sign-extend.
                (round(Expr::u32(300), DataType::U8), 44),
                (
                    round(Expr::i32(200), DataType::I8),
                    (-56i32).cast_unsigned(),
                ),
                (round(Expr::u32(0x1_2345), DataType::U16), 0x2345),
                (
                    round(Expr::i32(0x8000), DataType::I16),
                    (-32768i32).cast_unsigned(),
                ),
            ];
            for (k, (e, want)) in cases.into_iter().enumerate() {
                let mut b = ProgramBuilder::new("r", [1, 1, 1]);
                let ty = b.clone().finish().type_of(&e).expect("typed");
                let out = b.buffer("out", ty, Access::ReadWrite);
                b.body(|blk| {
                    blk.store(BufRef::Param(out), Expr::u32(0), e);
                });
                let p = b.finish();
                let mut o = [0xdead_beefu32];
                run(&p, &mut [RefArg::Buffer(&mut o)]);
                assert_eq!(o[0], want, "case {k}");
            }
        }

        #[test]
        fn narrow_shared_and_private_arrays_hold_element_bits() {
            let mut b = ProgramBuilder::new("sp", [2, 1, 1]);
            let out = b.buffer("out", DataType::I32, Access::ReadWrite);
            let sh = b.shared("sh", DataType::I8, 2);
            let pr = b.private("pr", DataType::F16, 3);
            let lid = Expr::Builtin(crate::ir::Builtin::LocalId, crate::ir::Axis::X);
            b.body(|blk| {
                // sh[lid] = -(lid as i32) - 127 as i8: -127 and -128.
                let v = lid.clone().cast(DataType::I32).neg().sub(Expr::i32(127));
                blk.store(BufRef::Shared(sh), lid.clone(), v.cast(DataType::I8));
                blk.barrier();
                // pr[2] = 0.1 as f16; out[lid] = sh[1 - lid] as i32 +
                // (pr[2] as f32 * 1e4) as i32.
                blk.store(
                    BufRef::Private(pr),
                    Expr::u32(2),
                    Expr::f32(0.1).cast(DataType::F16),
                );
                let other = Expr::load(BufRef::Shared(sh), Expr::u32(1).sub(lid.clone()))
                    .cast(DataType::I32);
                let p = Expr::load(BufRef::Private(pr), Expr::u32(2))
                    .cast(DataType::F32)
                    .mul(Expr::f32(1.0e4))
                    .cast(DataType::I32);
                blk.store(BufRef::Param(out), lid, other.add(p));
            });
            let p = b.finish();
            let mut out = [0u32; 2];
            run(&p, &mut [RefArg::Buffer(&mut out)]);
            // 0.1 as f16 is 0.0999755859375 (0x2e66): * 1e4 = 999.75.. -> 999.
            assert_eq!(half::f16::from_f32(0.1).to_bits(), 0x2e66);
            assert_eq!(out.map(u32::cast_signed), [-128 + 999, -127 + 999]);
        }

        #[test]
        fn operations_on_narrow_values_are_outside_the_normal_form() {
            let mut b = ProgramBuilder::new("bad", [1, 1, 1]);
            let h = b.buffer("h", DataType::F16, Access::ReadWrite);
            b.body(|blk| {
                let x = Expr::load(BufRef::Param(h), Expr::u32(0));
                blk.store(BufRef::Param(h), Expr::u32(0), x.clone().add(x));
            });
            let p = b.finish();
            let a = Analysis::try_new(&p, &DispatchConfig::default()).expect("valid");
            let e = Compiled::analysed(&a).unwrap_err();
            assert!(
                matches!(&e, RunError::Internal { reason, .. } if reason.contains("normal form")),
                "{e:?}"
            );
        }
    }
}
