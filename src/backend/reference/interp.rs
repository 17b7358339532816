//! The reference interpreter: the executable definition of vyre's semantics.
//!
//! A [`Program`] is compiled once ([`Compiled::new`]) into flat register
//! bytecode: every value is a 32-bit pattern in a per-invocation register
//! file (`bool` is 0 or 1, `f32` its bits). Builtins, scalar parameters,
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
//! Shared arrays are zeroed at the start of each workgroup.
//!
//! # Semantics
//!
//! Integer arithmetic wraps; `x / 0 == 0` and `x % 0 == 0`; `i32::MIN / -1
//! == i32::MIN` and `i32::MIN % -1 == 0`; shift amounts are masked `& 31`
//! and `>>` is arithmetic on `i32`; float to integer casts saturate with
//! NaN to 0; `bool` casts to 0/1; `f32` operations are Rust's (`mul_add`
//! fused, `min`/`max` NaN-ignoring, `clamp(lo, hi)` = `max(lo).min(hi)`,
//! `i32::abs` wrapping); an `i32` index is reinterpreted as `u32`. Locals
//! start at zero (a `let` skipped by a branch leaves its local 0).
//! Out-of-range loads yield 0, out-of-range stores are dropped and
//! out-of-range atomics do nothing and yield 0. In an `unchecked` kernel an
//! out-of-range access is undefined behaviour on a GPU; the interpreter stays
//! memory-safe and reports it as [`RunError::OutOfBounds`], naming the
//! buffer and the index, so the oracle flags the bug instead of hiding it.
//!
//! # Steps
//!
//! [`RunOptions::max_steps_per_invocation`] bounds the bytecode
//! instructions one invocation executes (roughly one per operator, load,
//! store and branch), which catches infinite loops; the exact count is an
//! implementation detail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;

use crate::ir::{
    Access, AtomicOp, BinOp, BufRef, Builtin, DataType, Expr, Literal, MathFn, Node, Param,
    Program, UnOp, ValidationError,
};

/// One launch argument of [`run`], in parameter order.
#[derive(Debug)]
pub enum RefArg<'a> {
    /// A buffer parameter's elements as raw 32-bit patterns.
    Buffer(&'a mut [u32]),
    /// A scalar parameter; its type must be the parameter's.
    Scalar(Literal),
}

/// Knobs of [`run_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Fail with [`RunError::StepLimitExceeded`] when one invocation
    /// executes more instructions than this (`None`: no limit).
    pub max_steps_per_invocation: Option<u64>,
    /// Worker threads for workgroups (`None` or `Some(0)`: rayon's global
    /// pool, one thread per core; `Some(1)`: run on the calling thread;
    /// `Some(n)`: a pool of `n` threads, built on first use and reused).
    pub threads: Option<usize>,
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

// ---------------------------------------------------------------- bytecode

type Reg = u32;

/// Atomic read-modify-write kinds, with signedness resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtomicK {
    Add,
    Sub,
    MinU,
    MinI,
    MaxU,
    MaxI,
    And,
    Or,
    Xor,
    Xchg,
}

/// A memory: a read-only or read-write buffer (index into the launch's
/// table of that kind) or a shared array (index into the shared layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mem {
    Ro(u32),
    Rw(u32),
    Shared(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Mov {
        d: Reg,
        a: Reg,
    },
    AddI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SubI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MulI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    DivU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    DivI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    RemU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    RemI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    AddF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SubF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MulF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    DivF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    RemF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    And {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Or {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Xor {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Shl {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    ShrU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    ShrI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    EqI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    NeI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    EqF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    NeF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LtU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LtI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LtF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LeU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LeI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LeF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    NegI {
        d: Reg,
        a: Reg,
    },
    NegF {
        d: Reg,
        a: Reg,
    },
    NotB {
        d: Reg,
        a: Reg,
    },
    NotI {
        d: Reg,
        a: Reg,
    },
    IToF {
        d: Reg,
        a: Reg,
    },
    UToF {
        d: Reg,
        a: Reg,
    },
    FToI {
        d: Reg,
        a: Reg,
    },
    FToU {
        d: Reg,
        a: Reg,
    },
    Sqrt {
        d: Reg,
        a: Reg,
    },
    Exp {
        d: Reg,
        a: Reg,
    },
    Ln {
        d: Reg,
        a: Reg,
    },
    Sin {
        d: Reg,
        a: Reg,
    },
    Cos {
        d: Reg,
        a: Reg,
    },
    Tanh {
        d: Reg,
        a: Reg,
    },
    Floor {
        d: Reg,
        a: Reg,
    },
    Ceil {
        d: Reg,
        a: Reg,
    },
    AbsF {
        d: Reg,
        a: Reg,
    },
    AbsI {
        d: Reg,
        a: Reg,
    },
    MinF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MinU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MinI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MaxF {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MaxU {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    MaxI {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Powf {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    ClampF {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    ClampU {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    ClampI {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    MulAdd {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    Select {
        d: Reg,
        c: Reg,
        a: Reg,
        b: Reg,
    },
    LoadR {
        d: Reg,
        m: u32,
        i: Reg,
    },
    /// A load whose index is `a * b + c` (wrapping): the common
    /// `tile[row * width + col]` in one dispatch.
    LoadMad {
        d: Reg,
        m: Mem,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    LoadG {
        d: Reg,
        m: u32,
        i: Reg,
    },
    LoadS {
        d: Reg,
        m: u32,
        i: Reg,
    },
    StoreG {
        m: u32,
        i: Reg,
        v: Reg,
    },
    StoreS {
        m: u32,
        i: Reg,
        v: Reg,
    },
    Atomic {
        k: AtomicK,
        d: Reg,
        m: Mem,
        i: Reg,
        v: Reg,
    },
    Cas {
        d: Reg,
        m: Mem,
        i: Reg,
        e: Reg,
        v: Reg,
    },
    Jump {
        t: u32,
    },
    JumpIfNot {
        c: Reg,
        t: u32,
    },
    /// `v += 1; if v < e goto t`, unsigned: the bottom of a `for` loop
    /// (`v < e` held before, so the increment cannot overflow).
    ForNextU {
        v: Reg,
        e: Reg,
        t: u32,
    },
    /// The same, signed.
    ForNextI {
        v: Reg,
        e: Reg,
        t: u32,
    },
    /// `d = a * b + c` on integers (wrapping; identical to the two
    /// operations, so fusing is unobservable).
    MadI {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// `if !(a < b) goto t`, unsigned; the hot loop/guard test.
    JumpIfNotLtU {
        a: Reg,
        b: Reg,
        t: u32,
    },
    /// `if !(a < b) goto t`, signed.
    JumpIfNotLtI {
        a: Reg,
        b: Reg,
        t: u32,
    },
    Barrier,
    Halt,
}

impl Op {
    /// Every register the instruction reads or writes, and its jump target.
    fn operands(&self) -> (Vec<Reg>, Option<u32>) {
        use Op::*;
        match *self {
            Mov { d, a }
            | NegI { d, a }
            | NegF { d, a }
            | NotB { d, a }
            | NotI { d, a }
            | IToF { d, a }
            | UToF { d, a }
            | FToI { d, a }
            | FToU { d, a }
            | Sqrt { d, a }
            | Exp { d, a }
            | Ln { d, a }
            | Sin { d, a }
            | Cos { d, a }
            | Tanh { d, a }
            | Floor { d, a }
            | Ceil { d, a }
            | AbsF { d, a }
            | AbsI { d, a } => (vec![d, a], None),
            AddI { d, a, b }
            | SubI { d, a, b }
            | MulI { d, a, b }
            | DivU { d, a, b }
            | DivI { d, a, b }
            | RemU { d, a, b }
            | RemI { d, a, b }
            | AddF { d, a, b }
            | SubF { d, a, b }
            | MulF { d, a, b }
            | DivF { d, a, b }
            | RemF { d, a, b }
            | And { d, a, b }
            | Or { d, a, b }
            | Xor { d, a, b }
            | Shl { d, a, b }
            | ShrU { d, a, b }
            | ShrI { d, a, b }
            | EqI { d, a, b }
            | NeI { d, a, b }
            | EqF { d, a, b }
            | NeF { d, a, b }
            | LtU { d, a, b }
            | LtI { d, a, b }
            | LtF { d, a, b }
            | LeU { d, a, b }
            | LeI { d, a, b }
            | LeF { d, a, b }
            | MinF { d, a, b }
            | MinU { d, a, b }
            | MinI { d, a, b }
            | MaxF { d, a, b }
            | MaxU { d, a, b }
            | MaxI { d, a, b }
            | Powf { d, a, b } => (vec![d, a, b], None),
            ClampF { d, a, b, c }
            | ClampU { d, a, b, c }
            | ClampI { d, a, b, c }
            | MulAdd { d, a, b, c }
            | MadI { d, a, b, c }
            | Select { d, c, a, b } => (vec![d, a, b, c], None),
            LoadR { d, i, .. } | LoadG { d, i, .. } | LoadS { d, i, .. } => (vec![d, i], None),
            LoadMad { d, a, b, c, .. } => (vec![d, a, b, c], None),
            StoreG { i, v, .. } | StoreS { i, v, .. } => (vec![i, v], None),
            Atomic { d, i, v, .. } => (vec![d, i, v], None),
            Cas { d, i, e, v, .. } => (vec![d, i, e, v], None),
            Jump { t } => (vec![], Some(t)),
            JumpIfNot { c, t } => (vec![c], Some(t)),
            JumpIfNotLtU { a, b, t } | JumpIfNotLtI { a, b, t } => (vec![a, b], Some(t)),
            ForNextU { v, e, t } | ForNextI { v, e, t } => (vec![v, e], Some(t)),
            Barrier | Halt => (vec![], None),
        }
    }
}

/// Fixed registers of the builtins: global id, local id, workgroup id and
/// grid size, three components each.
const BUILTIN_REGS: u32 = 12;

fn builtin_reg(b: Builtin, axis: crate::ir::Axis) -> Reg {
    let base = match b {
        Builtin::GlobalId => 0,
        Builtin::LocalId => 3,
        Builtin::WorkgroupId => 6,
        Builtin::NumWorkgroups => 9,
    };
    base + axis.index() as u32
}

/// A program compiled for the interpreter; compile once, run many times.
#[derive(Debug, Clone)]
pub struct Compiled {
    name: String,
    code: Vec<Op>,
    nregs: usize,
    /// Register values that do not depend on the launch (constants).
    consts: Vec<(Reg, u32)>,
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
    has_barrier: bool,
    workgroup_size: [u32; 3],
    unchecked: bool,
}

impl Compiled {
    /// Validate and compile `program`.
    ///
    /// # Errors
    ///
    /// [`RunError::InvalidProgram`] when it does not validate.
    pub fn new(program: &Program) -> Result<Self, RunError> {
        program
            .validate()
            .map_err(|errors| RunError::InvalidProgram {
                kernel: program.name.clone(),
                errors,
            })?;
        let compiled = Codegen::compile(program);
        compiled.verify().map_err(|reason| RunError::Internal {
            kernel: program.name.clone(),
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
        let n = self.nregs as u64;
        let len = self.code.len() as u64;
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
        }
        Ok(())
    }

    /// The kernel's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
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
        let (template, ro, rw) = self.bind(workgroups, args)?;
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
    ) -> Result<(Vec<u32>, Vec<&'a [u32]>, Vec<&'a [AtomicU32]>), RunError> {
        self.check_count(args.len())?;
        let mut regs = vec![0u32; self.nregs];
        regs[9..12].copy_from_slice(&workgroups);
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
                CoreArg::Scalar(_) => None,
            };
            if let Some(len) = len {
                let len = u32::try_from(len).map_err(|_| {
                    mismatch(
                        format!("a buffer of at most {} elements", u32::MAX),
                        format!("{len} elements"),
                    )
                })?;
                regs[(self.len_base + index as u32) as usize] = len;
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
                    regs[(self.param_base + index as u32) as usize] = literal_bits(*lit);
                }
                (Param::Buffer(b), CoreArg::Scalar(lit)) => {
                    return Err(mismatch(
                        format!("a buffer of `{}`", b.elem),
                        format!("a `{}` scalar", lit.ty()),
                    ));
                }
                (Param::Scalar { ty, .. }, CoreArg::Scalar(lit)) => {
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
    /// A scalar.
    Scalar(Literal),
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

fn literal_bits(l: Literal) -> u32 {
    match l {
        Literal::Bool(b) => u32::from(b),
        Literal::I32(v) => v as u32,
        Literal::U32(v) | Literal::F32(v) => v,
    }
}

/// View a uniquely borrowed word slice as atomics, so that workgroups on
/// several threads may share it.
pub(super) fn atomic_view(words: &mut [u32]) -> &[AtomicU32] {
    // SAFETY: `AtomicU32` has the same size, alignment and bit validity as
    // `u32`, and the `&mut` borrow guarantees no other access for the
    // returned lifetime.
    unsafe { &*(std::ptr::from_mut::<[u32]>(words) as *const [AtomicU32]) }
}

// ---------------------------------------------------------------- codegen

#[derive(Default)]
struct LoopCtx {
    breaks: Vec<usize>,
    continues: Vec<usize>,
}

struct Codegen<'p> {
    p: &'p Program,
    code: Vec<Op>,
    consts: HashMap<u32, Reg>,
    local_base: u32,
    for_ends: Vec<Reg>,
    next_for_end: usize,
    temp_base: u32,
    next_temp: u32,
    max_reg: u32,
    loops: Vec<LoopCtx>,
    mem_of_param: Vec<Option<Mem>>,
    has_barrier: bool,
    /// Per local: a fixed register it aliases (see `find_aliases`).
    alias: Vec<Option<Reg>>,
}

impl<'p> Codegen<'p> {
    fn compile(p: &'p Program) -> Compiled {
        let np = p.params.len() as u32;
        let param_base = BUILTIN_REGS;
        let len_base = param_base + np;
        let mut lits = Vec::new();
        let mut n_for = 0usize;
        collect(&p.body, &mut lits, &mut n_for);
        let const_base = len_base + np;
        let mut consts = HashMap::new();
        for bits in lits {
            let next = const_base + consts.len() as u32;
            consts.entry(bits).or_insert(next);
        }
        let local_base = const_base + consts.len() as u32;
        let for_base = local_base + p.locals.len() as u32;
        let temp_base = for_base + n_for as u32;
        let (mut nro, mut nrw) = (0u32, 0u32);
        let mut ro_names = Vec::new();
        let mut rw_names = Vec::new();
        let mem_of_param = p
            .params
            .iter()
            .map(|prm| match prm {
                Param::Buffer(b) if b.access == Access::Read => {
                    nro += 1;
                    ro_names.push(b.name.clone());
                    Some(Mem::Ro(nro - 1))
                }
                Param::Buffer(b) => {
                    nrw += 1;
                    rw_names.push(b.name.clone());
                    Some(Mem::Rw(nrw - 1))
                }
                Param::Scalar { .. } => None,
            })
            .collect();
        let mut cg = Codegen {
            p,
            code: Vec::new(),
            consts,
            local_base,
            for_ends: (0..n_for as u32).map(|i| for_base + i).collect(),
            next_for_end: 0,
            temp_base,
            next_temp: temp_base,
            max_reg: temp_base,
            loops: Vec::new(),
            mem_of_param,
            has_barrier: false,
            alias: Vec::new(),
        };
        cg.find_aliases();
        cg.block(&p.body);
        cg.code.push(Op::Halt);
        let mut shared = Vec::new();
        let mut off = 0usize;
        for s in &p.shared {
            shared.push((off, s.len as usize));
            off += s.len as usize;
        }
        let mut consts: Vec<(Reg, u32)> = cg.consts.iter().map(|(&v, &r)| (r, v)).collect();
        consts.sort_unstable();
        Compiled {
            name: p.name.clone(),
            code: cg.code,
            nregs: cg.max_reg as usize,
            consts,
            params: p.params.clone(),
            param_base,
            len_base,
            ro_names,
            rw_names,
            shared,
            shared_names: p.shared.iter().map(|s| s.name.clone()).collect(),
            shared_words: off,
            has_barrier: cg.has_barrier,
            workgroup_size: p.workgroup_size,
            unchecked: p.unchecked,
        }
    }

    fn temp(&mut self) -> Reg {
        let r = self.next_temp;
        self.next_temp += 1;
        self.max_reg = self.max_reg.max(self.next_temp);
        r
    }

    fn here(&self) -> u32 {
        self.code.len() as u32
    }

    fn patch(&mut self, at: usize, target: u32) {
        match &mut self.code[at] {
            Op::Jump { t }
            | Op::JumpIfNot { t, .. }
            | Op::JumpIfNotLtU { t, .. }
            | Op::JumpIfNotLtI { t, .. } => *t = target,
            _ => unreachable!("patching a non-jump instruction"),
        }
    }

    fn mem(&self, buf: BufRef) -> Mem {
        match buf {
            // Validation guarantees a buffer parameter.
            BufRef::Param(id) => self.mem_of_param[id as usize].unwrap_or(Mem::Ro(0)),
            BufRef::Shared(id) => Mem::Shared(id),
        }
    }

    fn block(&mut self, body: &[Node]) {
        for n in body {
            self.next_temp = self.temp_base;
            self.node(n);
        }
        self.next_temp = self.temp_base;
    }

    /// Emit a jump taken when `cond` is false; returns its index to patch.
    fn branch_if_false(&mut self, cond: &Expr) -> usize {
        if let Expr::Binary(op @ (BinOp::Lt | BinOp::Gt), a, b) = cond {
            let ty = self.p.type_of(a);
            if matches!(ty, Some(DataType::U32 | DataType::I32)) {
                let (ra, _) = self.expr(a, None);
                let (rb, _) = self.expr(b, None);
                let (x, y) = if *op == BinOp::Lt { (ra, rb) } else { (rb, ra) };
                self.code.push(if ty == Some(DataType::U32) {
                    Op::JumpIfNotLtU { a: x, b: y, t: 0 }
                } else {
                    Op::JumpIfNotLtI { a: x, b: y, t: 0 }
                });
                return self.code.len() - 1;
            }
        }
        let (c, _) = self.expr(cond, None);
        self.code.push(Op::JumpIfNot { c, t: 0 });
        self.code.len() - 1
    }

    fn local(&self, id: u32) -> Reg {
        self.alias
            .get(id as usize)
            .copied()
            .flatten()
            .unwrap_or(self.local_base + id)
    }

    /// The fixed register holding `e`'s value for the whole invocation, for
    /// builtins, scalar parameters, lengths and constants.
    fn fixed_reg(&self, e: &Expr) -> Option<Reg> {
        match e {
            Expr::Lit(l) => self.consts.get(&literal_bits(*l)).copied(),
            Expr::Builtin(b, a) => Some(builtin_reg(*b, *a)),
            Expr::Param(id) => Some(BUILTIN_REGS + id),
            Expr::Len(id) => Some(BUILTIN_REGS + self.p.params.len() as u32 + id),
            _ => None,
        }
    }

    /// Immutable locals defined once, at the top level, from a fixed
    /// register (`let i = global_id().x;`) read that register directly
    /// instead of a copy. Top level only: a `let` nested in a branch may not
    /// run, and then the local must read as its zero initial value.
    fn find_aliases(&mut self) {
        let p = self.p;
        let mut defs = vec![0u32; p.locals.len()];
        crate::ir::walk_nodes(&p.body, &mut |n| match n {
            Node::Let { local, .. } | Node::Assign { local, .. } | Node::For { var: local, .. } => {
                if let Some(d) = defs.get_mut(*local as usize) {
                    *d += 1;
                }
            }
            _ => {}
        });
        let mut alias = vec![None; p.locals.len()];
        for n in &p.body {
            if let Node::Let { local, value } = n
                && defs.get(*local as usize) == Some(&1)
                && p.locals.get(*local as usize).is_some_and(|l| !l.mutable)
            {
                alias[*local as usize] = self.fixed_reg(value);
            }
        }
        self.alias = alias;
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Let { local, .. }
                if self.alias.get(*local as usize).is_some_and(Option::is_some) => {}
            Node::Let { local, value } | Node::Assign { local, value } => {
                let d = self.local(*local);
                let (r, _) = self.expr(value, Some(d));
                if r != d {
                    self.code.push(Op::Mov { d, a: r });
                }
            }
            Node::Store { buf, index, value } => {
                let (i, _) = self.expr(index, None);
                let (v, _) = self.expr(value, None);
                match self.mem(*buf) {
                    Mem::Rw(m) => self.code.push(Op::StoreG { m, i, v }),
                    Mem::Shared(m) => self.code.push(Op::StoreS { m, i, v }),
                    // Validation rejects stores to read-only buffers.
                    Mem::Ro(_) => {}
                }
            }
            Node::Eval(e) => {
                self.expr(e, None);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let jf = self.branch_if_false(cond);
                self.block(then);
                if otherwise.is_empty() {
                    let end = self.here();
                    self.patch(jf, end);
                } else {
                    self.code.push(Op::Jump { t: 0 });
                    let jend = self.code.len() - 1;
                    let els = self.here();
                    self.patch(jf, els);
                    self.block(otherwise);
                    let end = self.here();
                    self.patch(jend, end);
                }
            }
            Node::While { cond, body } => {
                let head = self.here();
                let jf = self.branch_if_false(cond);
                self.next_temp = self.temp_base;
                self.loop_body(body, head, jf);
            }
            Node::Loop { body } => {
                let head = self.here();
                self.loops.push(LoopCtx::default());
                self.block(body);
                self.code.push(Op::Jump { t: head });
                let exit = self.here();
                let ctx = self.loops.pop().unwrap_or_default();
                for b in ctx.breaks {
                    self.patch(b, exit);
                }
                for c in ctx.continues {
                    self.patch(c, head);
                }
            }
            Node::For {
                var,
                start,
                end,
                body,
            } => {
                let v = self.local(*var);
                let e = self.for_ends[self.next_for_end];
                self.next_for_end += 1;
                let signed = self.p.locals.get(*var as usize).map(|l| l.ty) == Some(DataType::I32);
                // `end` first: it must not see the loop variable.
                let (re, _) = self.expr(end, Some(e));
                if re != e {
                    self.code.push(Op::Mov { d: e, a: re });
                }
                self.next_temp = self.temp_base;
                let (rs, _) = self.expr(start, Some(v));
                if rs != v {
                    self.code.push(Op::Mov { d: v, a: rs });
                }
                self.next_temp = self.temp_base;
                // Test once on entry, then at the bottom (one instruction
                // per iteration for the increment, test and back edge).
                self.code.push(if signed {
                    Op::JumpIfNotLtI { a: v, b: e, t: 0 }
                } else {
                    Op::JumpIfNotLtU { a: v, b: e, t: 0 }
                });
                let jf = self.code.len() - 1;
                let body_start = self.here();
                self.loops.push(LoopCtx::default());
                self.block(body);
                let step = self.here();
                self.code.push(if signed {
                    Op::ForNextI {
                        v,
                        e,
                        t: body_start,
                    }
                } else {
                    Op::ForNextU {
                        v,
                        e,
                        t: body_start,
                    }
                });
                let exit = self.here();
                self.patch(jf, exit);
                let ctx = self.loops.pop().unwrap_or_default();
                for b in ctx.breaks {
                    self.patch(b, exit);
                }
                for c in ctx.continues {
                    self.patch(c, step);
                }
            }
            Node::Break => {
                self.code.push(Op::Jump { t: 0 });
                let at = self.code.len() - 1;
                if let Some(l) = self.loops.last_mut() {
                    l.breaks.push(at);
                }
            }
            Node::Continue => {
                self.code.push(Op::Jump { t: 0 });
                let at = self.code.len() - 1;
                if let Some(l) = self.loops.last_mut() {
                    l.continues.push(at);
                }
            }
            Node::Return => self.code.push(Op::Halt),
            Node::Barrier => {
                self.has_barrier = true;
                self.code.push(Op::Barrier);
            }
        }
    }

    /// Body of a `while`: `continue` re-tests at `head`, the exit jump `jf`
    /// and `break`s land after the loop.
    fn loop_body(&mut self, body: &[Node], head: u32, jf: usize) {
        self.loops.push(LoopCtx::default());
        self.block(body);
        self.code.push(Op::Jump { t: head });
        let exit = self.here();
        self.patch(jf, exit);
        let ctx = self.loops.pop().unwrap_or_default();
        for b in ctx.breaks {
            self.patch(b, exit);
        }
        for c in ctx.continues {
            self.patch(c, head);
        }
    }

    /// Compile `e`; the result lands in `dst` when given and `e` computes
    /// something (a plain register read returns that register instead).
    fn expr(&mut self, e: &Expr, dst: Option<Reg>) -> (Reg, DataType) {
        let p = self.p;
        match e {
            Expr::Lit(l) => (self.consts[&literal_bits(*l)], l.ty()),
            Expr::Local(id) => (
                self.local(*id),
                p.locals.get(*id as usize).map_or(DataType::U32, |l| l.ty),
            ),
            Expr::Param(id) => {
                let ty = match p.params.get(*id as usize) {
                    Some(Param::Scalar { ty, .. }) => *ty,
                    _ => DataType::U32,
                };
                (BUILTIN_REGS + id, ty)
            }
            Expr::Builtin(b, a) => (builtin_reg(*b, *a), DataType::U32),
            Expr::Len(id) => (BUILTIN_REGS + p.params.len() as u32 + id, DataType::U32),
            Expr::Load { buf, index } => {
                if let Expr::Binary(BinOp::Add, l, r) = &**index
                    && let Some((x, y, other)) = mul_add_parts(l, r)
                {
                    let mark = self.next_temp;
                    let (a, _) = self.expr(x, None);
                    let (b, _) = self.expr(y, None);
                    let (c, _) = self.expr(other, None);
                    self.next_temp = mark;
                    let d = dst.unwrap_or_else(|| self.temp());
                    let m = self.mem(*buf);
                    self.code.push(Op::LoadMad { d, m, a, b, c });
                    return (d, p.elem_type(*buf).unwrap_or(DataType::U32));
                }
                let mark = self.next_temp;
                let (i, _) = self.expr(index, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(match self.mem(*buf) {
                    Mem::Ro(m) => Op::LoadR { d, m, i },
                    Mem::Rw(m) => Op::LoadG { d, m, i },
                    Mem::Shared(m) => Op::LoadS { d, m, i },
                });
                (d, p.elem_type(*buf).unwrap_or(DataType::U32))
            }
            Expr::Unary(op, a) => {
                let mark = self.next_temp;
                let (ra, t) = self.expr(a, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(match (op, t) {
                    (UnOp::Neg, DataType::F32) => Op::NegF { d, a: ra },
                    (UnOp::Neg, _) => Op::NegI { d, a: ra },
                    (UnOp::Not, DataType::Bool) => Op::NotB { d, a: ra },
                    (UnOp::Not, _) => Op::NotI { d, a: ra },
                });
                (d, t)
            }
            Expr::Binary(op, a, b) => {
                if *op == BinOp::Add
                    && matches!(p.type_of(a), Some(DataType::U32 | DataType::I32))
                    && let Some((x, y, other)) = mul_add_parts(a, b)
                {
                    let mark = self.next_temp;
                    let (rx, t) = self.expr(x, None);
                    let (ry, _) = self.expr(y, None);
                    let (rc, _) = self.expr(other, None);
                    self.next_temp = mark;
                    let d = dst.unwrap_or_else(|| self.temp());
                    self.code.push(Op::MadI {
                        d,
                        a: rx,
                        b: ry,
                        c: rc,
                    });
                    return (d, t);
                }
                let mark = self.next_temp;
                let (ra, t) = self.expr(a, None);
                let (rb, _) = self.expr(b, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let (x, y) = (ra, rb);
                use DataType::{F32, I32};
                let f = t == F32;
                let i = t == I32;
                let ins = match op {
                    BinOp::Add if f => Op::AddF { d, a: x, b: y },
                    BinOp::Add => Op::AddI { d, a: x, b: y },
                    BinOp::Sub if f => Op::SubF { d, a: x, b: y },
                    BinOp::Sub => Op::SubI { d, a: x, b: y },
                    BinOp::Mul if f => Op::MulF { d, a: x, b: y },
                    BinOp::Mul => Op::MulI { d, a: x, b: y },
                    BinOp::Div if f => Op::DivF { d, a: x, b: y },
                    BinOp::Div if i => Op::DivI { d, a: x, b: y },
                    BinOp::Div => Op::DivU { d, a: x, b: y },
                    BinOp::Rem if f => Op::RemF { d, a: x, b: y },
                    BinOp::Rem if i => Op::RemI { d, a: x, b: y },
                    BinOp::Rem => Op::RemU { d, a: x, b: y },
                    BinOp::BitAnd | BinOp::And => Op::And { d, a: x, b: y },
                    BinOp::BitOr | BinOp::Or => Op::Or { d, a: x, b: y },
                    BinOp::BitXor => Op::Xor { d, a: x, b: y },
                    BinOp::Shl => Op::Shl { d, a: x, b: y },
                    BinOp::Shr if i => Op::ShrI { d, a: x, b: y },
                    BinOp::Shr => Op::ShrU { d, a: x, b: y },
                    BinOp::Eq if f => Op::EqF { d, a: x, b: y },
                    BinOp::Eq => Op::EqI { d, a: x, b: y },
                    BinOp::Ne if f => Op::NeF { d, a: x, b: y },
                    BinOp::Ne => Op::NeI { d, a: x, b: y },
                    BinOp::Lt | BinOp::Gt => {
                        let (x, y) = if *op == BinOp::Lt { (x, y) } else { (y, x) };
                        match t {
                            F32 => Op::LtF { d, a: x, b: y },
                            I32 => Op::LtI { d, a: x, b: y },
                            _ => Op::LtU { d, a: x, b: y },
                        }
                    }
                    BinOp::Le | BinOp::Ge => {
                        let (x, y) = if *op == BinOp::Le { (x, y) } else { (y, x) };
                        match t {
                            F32 => Op::LeF { d, a: x, b: y },
                            I32 => Op::LeI { d, a: x, b: y },
                            _ => Op::LeU { d, a: x, b: y },
                        }
                    }
                };
                self.code.push(ins);
                let rt = if op.is_comparison() {
                    DataType::Bool
                } else {
                    t
                };
                (d, rt)
            }
            Expr::Cast(to, a) => {
                let mark = self.next_temp;
                let (ra, from) = self.expr(a, None);
                use DataType::{Bool, F32, I32, U32};
                // Same bits (i32 <-> u32, bool -> integer, identity): no
                // code, and the operand's temporary stays allocated since it
                // is the result.
                if !matches!((from, to), (I32 | U32 | Bool, F32) | (F32, I32 | U32)) {
                    return (ra, *to);
                }
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(match (from, to) {
                    (I32, F32) => Op::IToF { d, a: ra },
                    (F32, I32) => Op::FToI { d, a: ra },
                    (F32, U32) => Op::FToU { d, a: ra },
                    // u32, or a bool (0 or 1), to 0.0 or 1.0.
                    _ => Op::UToF { d, a: ra },
                });
                (d, *to)
            }
            Expr::Math(f, args) => {
                let mark = self.next_temp;
                let mut regs = [0; 3];
                let mut t = DataType::F32;
                for (k, a) in args.iter().enumerate().take(3) {
                    let (r, ty) = self.expr(a, None);
                    regs[k] = r;
                    t = ty;
                }
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let [a, b, c] = regs;
                use DataType::{F32, I32};
                let ins = match f {
                    MathFn::Sqrt => Op::Sqrt { d, a },
                    MathFn::Exp => Op::Exp { d, a },
                    MathFn::Ln => Op::Ln { d, a },
                    MathFn::Sin => Op::Sin { d, a },
                    MathFn::Cos => Op::Cos { d, a },
                    MathFn::Tanh => Op::Tanh { d, a },
                    MathFn::Floor => Op::Floor { d, a },
                    MathFn::Ceil => Op::Ceil { d, a },
                    MathFn::Abs if t == F32 => Op::AbsF { d, a },
                    MathFn::Abs => Op::AbsI { d, a },
                    MathFn::Min => match t {
                        F32 => Op::MinF { d, a, b },
                        I32 => Op::MinI { d, a, b },
                        _ => Op::MinU { d, a, b },
                    },
                    MathFn::Max => match t {
                        F32 => Op::MaxF { d, a, b },
                        I32 => Op::MaxI { d, a, b },
                        _ => Op::MaxU { d, a, b },
                    },
                    MathFn::Clamp => match t {
                        F32 => Op::ClampF { d, a, b, c },
                        I32 => Op::ClampI { d, a, b, c },
                        _ => Op::ClampU { d, a, b, c },
                    },
                    MathFn::Powf => Op::Powf { d, a, b },
                    MathFn::MulAdd => Op::MulAdd { d, a, b, c },
                };
                self.code.push(ins);
                (d, t)
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let mark = self.next_temp;
                let (c, _) = self.expr(cond, None);
                let (a, t) = self.expr(then, None);
                let (b, _) = self.expr(otherwise, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(Op::Select { d, c, a, b });
                (d, t)
            }
            Expr::Atomic {
                op,
                buf,
                index,
                expected,
                value,
            } => {
                let mark = self.next_temp;
                let (i, _) = self.expr(index, None);
                let e = expected.as_ref().map(|x| self.expr(x, None).0);
                let (v, _) = self.expr(value, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let m = self.mem(*buf);
                let t = p.elem_type(*buf).unwrap_or(DataType::U32);
                let signed = t == DataType::I32;
                let k = match op {
                    AtomicOp::Add => AtomicK::Add,
                    AtomicOp::Sub => AtomicK::Sub,
                    AtomicOp::Min if signed => AtomicK::MinI,
                    AtomicOp::Min => AtomicK::MinU,
                    AtomicOp::Max if signed => AtomicK::MaxI,
                    AtomicOp::Max => AtomicK::MaxU,
                    AtomicOp::And => AtomicK::And,
                    AtomicOp::Or => AtomicK::Or,
                    AtomicOp::Xor => AtomicK::Xor,
                    AtomicOp::Exchange => AtomicK::Xchg,
                    AtomicOp::CompareExchange => {
                        self.code.push(Op::Cas {
                            d,
                            m,
                            i,
                            e: e.unwrap_or(v),
                            v,
                        });
                        return (d, t);
                    }
                };
                self.code.push(Op::Atomic { k, d, m, i, v });
                (d, t)
            }
        }
    }
}

/// `x * y + other` or `other + x * y`: the operands of an integer
/// multiply-add.
fn mul_add_parts<'e>(a: &'e Expr, b: &'e Expr) -> Option<(&'e Expr, &'e Expr, &'e Expr)> {
    match (a, b) {
        (Expr::Binary(BinOp::Mul, x, y), other) | (other, Expr::Binary(BinOp::Mul, x, y)) => {
            Some((x, y, other))
        }
        _ => None,
    }
}

/// Every literal's bits (plus 1, the `for` increment) and the number of
/// `for` loops.
fn collect(body: &[Node], lits: &mut Vec<u32>, n_for: &mut usize) {
    fn expr(e: &Expr, lits: &mut Vec<u32>) {
        match e {
            Expr::Lit(l) => lits.push(literal_bits(*l)),
            Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
            Expr::Load { index, .. } => expr(index, lits),
            Expr::Unary(_, a) | Expr::Cast(_, a) => expr(a, lits),
            Expr::Binary(_, a, b) => {
                expr(a, lits);
                expr(b, lits);
            }
            Expr::Math(_, args) => args.iter().for_each(|a| expr(a, lits)),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, lits);
                expr(then, lits);
                expr(otherwise, lits);
            }
            Expr::Atomic {
                index,
                expected,
                value,
                ..
            } => {
                expr(index, lits);
                if let Some(x) = expected {
                    expr(x, lits);
                }
                expr(value, lits);
            }
        }
    }
    for n in body {
        match n {
            Node::Let { value, .. } | Node::Assign { value, .. } | Node::Eval(value) => {
                expr(value, lits);
            }
            Node::Store { index, value, .. } => {
                expr(index, lits);
                expr(value, lits);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, lits);
                collect(then, lits, n_for);
                collect(otherwise, lits, n_for);
            }
            Node::While { cond, body } => {
                expr(cond, lits);
                collect(body, lits, n_for);
            }
            Node::For {
                start, end, body, ..
            } => {
                *n_for += 1;
                lits.push(1);
                expr(start, lits);
                expr(end, lits);
                collect(body, lits, n_for);
            }
            Node::Loop { body } => collect(body, lits, n_for),
            Node::Break | Node::Continue | Node::Return | Node::Barrier => {}
        }
    }
}

// ---------------------------------------------------------------- execution

/// Per-worker scratch, reused across the workgroups a worker runs.
struct Scratch {
    regs: Vec<u32>,
    arena: Vec<AtomicU32>,
    pcs: Vec<u32>,
    steps: Vec<u64>,
    done: Vec<bool>,
}

struct Launch<'a> {
    c: &'a Compiled,
    ro: &'a [&'a [u32]],
    rw: &'a [&'a [AtomicU32]],
    template: &'a [u32],
    workgroups: [u32; 3],
    limit: u64,
}

/// Why an invocation stopped early.
enum Fault {
    Steps,
    Internal(&'static str),
    OutOfBounds { mem: Mem, index: u32, len: usize },
}

enum Stop {
    Done,
    Barrier,
}

impl Launch<'_> {
    fn scratch(&self) -> Scratch {
        let n = if self.c.has_barrier {
            self.c.workgroup_size.iter().map(|&d| d as usize).product()
        } else {
            1
        };
        Scratch {
            regs: vec![0; self.c.nregs * n],
            arena: (0..self.c.shared_words)
                .map(|_| AtomicU32::new(0))
                .collect(),
            pcs: vec![0; n],
            steps: vec![0; n],
            done: vec![false; n],
        }
    }

    fn wg_id(&self, wg: usize) -> [u32; 3] {
        let [x, y, _] = self.workgroups.map(|d| d as usize);
        [
            (wg % x) as u32,
            ((wg / x) % y) as u32,
            (wg / (x * y)) as u32,
        ]
    }

    fn fault(&self, f: Fault, workgroup: [u32; 3], invocation: u32) -> RunError {
        let c = self.c;
        match f {
            Fault::Internal(reason) => RunError::Internal {
                kernel: c.name.clone(),
                reason: reason.to_string(),
            },
            Fault::Steps => RunError::StepLimitExceeded {
                kernel: c.name.clone(),
                limit: self.limit,
                workgroup,
                invocation,
            },
            Fault::OutOfBounds { mem, index, len } => RunError::OutOfBounds {
                kernel: c.name.clone(),
                buffer: match mem {
                    Mem::Ro(g) => c.ro_names[g as usize].clone(),
                    Mem::Rw(g) => c.rw_names[g as usize].clone(),
                    Mem::Shared(s) => c.shared_names[s as usize].clone(),
                },
                index,
                len,
                workgroup,
            },
        }
    }

    fn workgroup(&self, s: &mut Scratch, wg: usize) -> Result<(), RunError> {
        let c = self.c;
        let wid = self.wg_id(wg);
        let size = c.workgroup_size;
        for a in &s.arena {
            a.store(0, Relaxed);
        }
        let nregs = c.nregs;
        let set_builtins = |regs: &mut [u32], lid: [u32; 3]| {
            for k in 0..3 {
                regs[k] = wid[k].wrapping_mul(size[k]).wrapping_add(lid[k]);
                regs[3 + k] = lid[k];
                regs[6 + k] = wid[k];
            }
        };
        if !c.has_barrier {
            let regs = &mut s.regs[..nregs];
            let mut inv = 0u32;
            for z in 0..size[2] {
                for y in 0..size[1] {
                    for x in 0..size[0] {
                        regs.copy_from_slice(self.template);
                        set_builtins(regs, [x, y, z]);
                        let mut pc = 0;
                        let mut steps = 0;
                        self.exec(regs, &s.arena, &mut pc, &mut steps)
                            .map_err(|f| self.fault(f, wid, inv))?;
                        inv += 1;
                    }
                }
            }
            return Ok(());
        }
        let n = s.pcs.len();
        for inv in 0..n {
            let regs = &mut s.regs[inv * nregs..(inv + 1) * nregs];
            regs.copy_from_slice(self.template);
            let x = inv as u32 % size[0];
            let y = (inv as u32 / size[0]) % size[1];
            let z = inv as u32 / (size[0] * size[1]);
            set_builtins(regs, [x, y, z]);
            s.pcs[inv] = 0;
            s.steps[inv] = 0;
            s.done[inv] = false;
        }
        loop {
            let mut waiting = 0usize;
            let mut finished = 0usize;
            let mut barrier_pc = None;
            let mut split = false;
            for inv in 0..n {
                if s.done[inv] {
                    finished += 1;
                    continue;
                }
                let regs = &mut s.regs[inv * nregs..(inv + 1) * nregs];
                match self
                    .exec(regs, &s.arena, &mut s.pcs[inv], &mut s.steps[inv])
                    .map_err(|f| self.fault(f, wid, inv as u32))?
                {
                    Stop::Done => {
                        s.done[inv] = true;
                        finished += 1;
                    }
                    Stop::Barrier => {
                        waiting += 1;
                        match barrier_pc {
                            None => barrier_pc = Some(s.pcs[inv]),
                            Some(pc) if pc != s.pcs[inv] => split = true,
                            Some(_) => {}
                        }
                    }
                }
            }
            if waiting == 0 {
                return Ok(());
            }
            if finished > 0 || split {
                let detail = if split {
                    "invocations wait at different barriers".to_string()
                } else {
                    format!(
                        "{finished} invocation(s) finished while {waiting} wait at a barrier; every invocation must reach the same barriers"
                    )
                };
                return Err(RunError::BarrierDivergence {
                    kernel: c.name.clone(),
                    workgroup: wid,
                    detail,
                });
            }
        }
    }

    /// Run one invocation from `pc` until it finishes or reaches a barrier.
    #[allow(clippy::too_many_lines)]
    fn exec(
        &self,
        r: &mut [u32],
        arena: &[AtomicU32],
        pc_io: &mut u32,
        steps_io: &mut u64,
    ) -> Result<Stop, Fault> {
        let code = &self.c.code[..];
        let ro = self.ro;
        let rw = self.rw;
        let shared = &self.c.shared[..];
        let unchecked = self.c.unchecked;
        let limit = self.limit;
        let mut pc = *pc_io as usize;
        let mut steps = *steps_io;
        let f = |x: u32| f32::from_bits(x);
        let i = |x: u32| x as i32;
        if r.len() != self.c.nregs {
            return Err(Fault::Internal("register file of the wrong size"));
        }
        let rp = r.as_mut_ptr();
        // SAFETY (for `rd!`, `wr!` and the `code` read below):
        // `Compiled::new` verified that every register operand is below
        // `nregs` (= `r.len()`, checked above), that every jump target lies
        // inside `code`, and that `code` ends with `Halt`; so `pc` always
        // indexes `code` and every register access is in bounds.
        macro_rules! rd {
            ($x:expr) => {{
                let at = $x as usize;
                unsafe { *rp.add(at) }
            }};
        }
        macro_rules! wr {
            ($x:expr, $v:expr) => {{
                let v = $v;
                let at = $x as usize;
                unsafe { *rp.add(at) = v }
            }};
        }
        macro_rules! bin {
            ($d:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $e:expr) => {{
                let $x = rd!($a);
                let $y = rd!($b);
                wr!($d, $e);
            }};
        }
        macro_rules! un {
            ($d:expr, $a:expr, |$x:ident| $e:expr) => {{
                let $x = rd!($a);
                wr!($d, $e);
            }};
        }
        loop {
            steps += 1;
            if steps > limit {
                *pc_io = pc as u32;
                *steps_io = steps;
                return Err(Fault::Steps);
            }
            let op = unsafe { *code.get_unchecked(pc) };
            pc += 1;
            match op {
                Op::Mov { d, a } => wr!(d, rd!(a)),
                Op::AddI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_add(y)),
                Op::SubI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_sub(y)),
                Op::MulI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_mul(y)),
                Op::DivU { d, a, b } => bin!(d, a, b, |x, y| x.checked_div(y).unwrap_or(0)),
                Op::DivI { d, a, b } => bin!(d, a, b, |x, y| if y == 0 {
                    0
                } else {
                    i(x).wrapping_div(i(y)) as u32
                }),
                Op::RemU { d, a, b } => bin!(d, a, b, |x, y| x.checked_rem(y).unwrap_or(0)),
                Op::RemI { d, a, b } => bin!(d, a, b, |x, y| if y == 0 {
                    0
                } else {
                    i(x).wrapping_rem(i(y)) as u32
                }),
                Op::AddF { d, a, b } => bin!(d, a, b, |x, y| (f(x) + f(y)).to_bits()),
                Op::SubF { d, a, b } => bin!(d, a, b, |x, y| (f(x) - f(y)).to_bits()),
                Op::MulF { d, a, b } => bin!(d, a, b, |x, y| (f(x) * f(y)).to_bits()),
                Op::DivF { d, a, b } => bin!(d, a, b, |x, y| (f(x) / f(y)).to_bits()),
                Op::RemF { d, a, b } => bin!(d, a, b, |x, y| (f(x) % f(y)).to_bits()),
                Op::And { d, a, b } => bin!(d, a, b, |x, y| x & y),
                Op::Or { d, a, b } => bin!(d, a, b, |x, y| x | y),
                Op::Xor { d, a, b } => bin!(d, a, b, |x, y| x ^ y),
                Op::Shl { d, a, b } => bin!(d, a, b, |x, y| x << (y & 31)),
                Op::ShrU { d, a, b } => bin!(d, a, b, |x, y| x >> (y & 31)),
                Op::ShrI { d, a, b } => bin!(d, a, b, |x, y| (i(x) >> (y & 31)) as u32),
                Op::EqI { d, a, b } => bin!(d, a, b, |x, y| u32::from(x == y)),
                Op::NeI { d, a, b } => bin!(d, a, b, |x, y| u32::from(x != y)),
                Op::EqF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) == f(y))),
                Op::NeF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) != f(y))),
                Op::LtU { d, a, b } => bin!(d, a, b, |x, y| u32::from(x < y)),
                Op::LtI { d, a, b } => bin!(d, a, b, |x, y| u32::from(i(x) < i(y))),
                Op::LtF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) < f(y))),
                Op::LeU { d, a, b } => bin!(d, a, b, |x, y| u32::from(x <= y)),
                Op::LeI { d, a, b } => bin!(d, a, b, |x, y| u32::from(i(x) <= i(y))),
                Op::LeF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) <= f(y))),
                Op::NegI { d, a } => un!(d, a, |x| x.wrapping_neg()),
                Op::NegF { d, a } => un!(d, a, |x| (-f(x)).to_bits()),
                Op::NotB { d, a } => un!(d, a, |x| x ^ 1),
                Op::NotI { d, a } => un!(d, a, |x| !x),
                Op::IToF { d, a } => un!(d, a, |x| (i(x) as f32).to_bits()),
                Op::UToF { d, a } => un!(d, a, |x| (x as f32).to_bits()),
                Op::FToI { d, a } => un!(d, a, |x| f(x) as i32 as u32),
                Op::FToU { d, a } => un!(d, a, |x| f(x) as u32),
                Op::Sqrt { d, a } => un!(d, a, |x| f(x).sqrt().to_bits()),
                Op::Exp { d, a } => un!(d, a, |x| f(x).exp().to_bits()),
                Op::Ln { d, a } => un!(d, a, |x| f(x).ln().to_bits()),
                Op::Sin { d, a } => un!(d, a, |x| f(x).sin().to_bits()),
                Op::Cos { d, a } => un!(d, a, |x| f(x).cos().to_bits()),
                Op::Tanh { d, a } => un!(d, a, |x| f(x).tanh().to_bits()),
                Op::Floor { d, a } => un!(d, a, |x| f(x).floor().to_bits()),
                Op::Ceil { d, a } => un!(d, a, |x| f(x).ceil().to_bits()),
                Op::AbsF { d, a } => un!(d, a, |x| f(x).abs().to_bits()),
                Op::AbsI { d, a } => un!(d, a, |x| i(x).wrapping_abs() as u32),
                Op::MinF { d, a, b } => bin!(d, a, b, |x, y| f(x).min(f(y)).to_bits()),
                Op::MinU { d, a, b } => bin!(d, a, b, |x, y| x.min(y)),
                Op::MinI { d, a, b } => bin!(d, a, b, |x, y| i(x).min(i(y)) as u32),
                Op::MaxF { d, a, b } => bin!(d, a, b, |x, y| f(x).max(f(y)).to_bits()),
                Op::MaxU { d, a, b } => bin!(d, a, b, |x, y| x.max(y)),
                Op::MaxI { d, a, b } => bin!(d, a, b, |x, y| i(x).max(i(y)) as u32),
                Op::Powf { d, a, b } => bin!(d, a, b, |x, y| f(x).powf(f(y)).to_bits()),
                Op::ClampF { d, a, b, c } => {
                    let v = f(rd!(a)).max(f(rd!(b))).min(f(rd!(c)));
                    wr!(d, v.to_bits());
                }
                Op::ClampU { d, a, b, c } => {
                    wr!(d, rd!(a).max(rd!(b)).min(rd!(c)));
                }
                Op::ClampI { d, a, b, c } => {
                    let v = i(rd!(a)).max(i(rd!(b))).min(i(rd!(c)));
                    wr!(d, v as u32);
                }
                Op::MulAdd { d, a, b, c } => {
                    let v = f(rd!(a)).mul_add(f(rd!(b)), f(rd!(c)));
                    wr!(d, v.to_bits());
                }
                Op::Select { d, c, a, b } => {
                    wr!(d, if rd!(c) != 0 { rd!(a) } else { rd!(b) });
                }
                Op::LoadMad { d, m, a, b, c } => {
                    let index = rd!(a).wrapping_mul(rd!(b)).wrapping_add(rd!(c));
                    let at = index as usize;
                    let (word, len) = match m {
                        Mem::Ro(g) => {
                            let buf = ro[g as usize];
                            (buf.get(at).copied(), buf.len())
                        }
                        Mem::Rw(g) => {
                            let buf = rw[g as usize];
                            (buf.get(at).map(|w| w.load(Relaxed)), buf.len())
                        }
                        Mem::Shared(s) => {
                            let (off, len) = shared[s as usize];
                            let w = (at < len).then(|| arena[off + at].load(Relaxed));
                            (w, len)
                        }
                    };
                    match word {
                        Some(w) => wr!(d, w),
                        None if unchecked => return Err(oob(m, index, len)),
                        None => wr!(d, 0),
                    }
                }
                Op::LoadR { d, m, i: ix } => {
                    let buf = ro[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        match buf.get(index as usize) {
                            Some(w) => *w,
                            None if unchecked => {
                                return Err(oob(Mem::Ro(m), index, buf.len()));
                            }
                            None => 0,
                        }
                    );
                }
                Op::LoadG { d, m, i: ix } => {
                    let buf = rw[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        match buf.get(index as usize) {
                            Some(w) => w.load(Relaxed),
                            None if unchecked => {
                                return Err(oob(Mem::Rw(m), index, buf.len()));
                            }
                            None => 0,
                        }
                    );
                }
                Op::LoadS { d, m, i: ix } => {
                    let (off, len) = shared[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        if (index as usize) < len {
                            arena[off + index as usize].load(Relaxed)
                        } else if unchecked {
                            return Err(oob(Mem::Shared(m), index, len));
                        } else {
                            0
                        }
                    );
                }
                Op::StoreG { m, i: ix, v } => {
                    let buf = rw[m as usize];
                    let index = rd!(ix);
                    match buf.get(index as usize) {
                        Some(w) => w.store(rd!(v), Relaxed),
                        None if unchecked => {
                            return Err(oob(Mem::Rw(m), index, buf.len()));
                        }
                        None => {}
                    }
                }
                Op::StoreS { m, i: ix, v } => {
                    let (off, len) = shared[m as usize];
                    let index = rd!(ix);
                    if (index as usize) < len {
                        arena[off + index as usize].store(rd!(v), Relaxed);
                    } else if unchecked {
                        return Err(oob(Mem::Shared(m), index, len));
                    }
                }
                Op::Atomic { k, d, m, i: ix, v } => {
                    let index = rd!(ix);
                    let val = rd!(v);
                    wr!(
                        d,
                        match cell(rw, arena, shared, m, index) {
                            Ok(w) => atomic_rmw(w, k, val),
                            Err(len) if unchecked => return Err(oob(m, index, len)),
                            Err(_) => 0,
                        }
                    );
                }
                Op::Cas { d, m, i: ix, e, v } => {
                    let index = rd!(ix);
                    let (exp, val) = (rd!(e), rd!(v));
                    wr!(
                        d,
                        match cell(rw, arena, shared, m, index) {
                            Ok(w) => match w.compare_exchange(exp, val, Relaxed, Relaxed) {
                                Ok(old) | Err(old) => old,
                            },
                            Err(len) if unchecked => return Err(oob(m, index, len)),
                            Err(_) => 0,
                        }
                    );
                }
                Op::Jump { t } => pc = t as usize,
                Op::ForNextU { v, e, t } => {
                    let next = rd!(v).wrapping_add(1);
                    wr!(v, next);
                    if next < rd!(e) {
                        pc = t as usize;
                    }
                }
                Op::ForNextI { v, e, t } => {
                    let next = rd!(v).wrapping_add(1);
                    wr!(v, next);
                    if i(next) < i(rd!(e)) {
                        pc = t as usize;
                    }
                }
                Op::MadI { d, a, b, c } => {
                    wr!(d, rd!(a).wrapping_mul(rd!(b)).wrapping_add(rd!(c)));
                }
                Op::JumpIfNot { c, t } => {
                    if rd!(c) == 0 {
                        pc = t as usize;
                    }
                }
                Op::JumpIfNotLtU { a, b, t } => {
                    if rd!(a) >= rd!(b) {
                        pc = t as usize;
                    }
                }
                Op::JumpIfNotLtI { a, b, t } => {
                    if i(rd!(a)) >= i(rd!(b)) {
                        pc = t as usize;
                    }
                }
                Op::Barrier => {
                    *pc_io = pc as u32;
                    *steps_io = steps;
                    return Ok(Stop::Barrier);
                }
                Op::Halt => {
                    *pc_io = pc as u32;
                    *steps_io = steps;
                    return Ok(Stop::Done);
                }
            }
        }
    }
}

fn oob(mem: Mem, index: u32, len: usize) -> Fault {
    Fault::OutOfBounds { mem, index, len }
}

/// The atomic cell at `index` of `m`, or the memory's length when out of
/// range.
#[inline]
fn cell<'a>(
    rw: &[&'a [AtomicU32]],
    arena: &'a [AtomicU32],
    shared: &[(usize, usize)],
    m: Mem,
    index: u32,
) -> Result<&'a AtomicU32, usize> {
    match m {
        Mem::Rw(g) => {
            let buf = rw[g as usize];
            buf.get(index as usize).ok_or(buf.len())
        }
        // Validation rejects atomics on read-only buffers.
        Mem::Ro(_) => Err(0),
        Mem::Shared(s) => {
            let (off, len) = shared[s as usize];
            if (index as usize) < len {
                Ok(&arena[off + index as usize])
            } else {
                Err(len)
            }
        }
    }
}

fn atomic_rmw(w: &AtomicU32, k: AtomicK, v: u32) -> u32 {
    let signed = |op: fn(i32, i32) -> i32| match w
        .fetch_update(Relaxed, Relaxed, |x| Some(op(x as i32, v as i32) as u32))
    {
        Ok(old) | Err(old) => old,
    };
    match k {
        AtomicK::Add => w.fetch_add(v, Relaxed),
        AtomicK::Sub => w.fetch_sub(v, Relaxed),
        AtomicK::MinU => w.fetch_min(v, Relaxed),
        AtomicK::MaxU => w.fetch_max(v, Relaxed),
        AtomicK::MinI => signed(i32::min),
        AtomicK::MaxI => signed(i32::max),
        AtomicK::And => w.fetch_and(v, Relaxed),
        AtomicK::Or => w.fetch_or(v, Relaxed),
        AtomicK::Xor => w.fetch_xor(v, Relaxed),
        AtomicK::Xchg => w.swap(v, Relaxed),
    }
}
