//! The interpreter's bytecode: register-machine instructions ([`Op`]) with
//! operators resolved by type, and the fixed register layout of builtins.

use crate::ir::wide::{Num, WideK};
use crate::ir::{Builtin, DataType, MatrixLayout, MatrixShape, RowReduceOp};

pub(super) type Reg = u32;

/// A register's value: 64 bits, so that a `u64`, `i64` or `f64` fits one
/// register. Every other value is a 32-bit pattern zero-extended (the
/// 32-bit instructions read the low half and write it zero-extended).
pub(super) type Word = u64;

/// Atomic read-modify-write kinds, with signedness resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AtomicK {
    Add,
    /// `f32` add on the element's bits (rounded to nearest even).
    AddF,
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
/// table of that kind), a shared array (index into the shared layout) or a
/// thread-private array (index into the private layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mem {
    Ro(u32),
    Rw(u32),
    Shared(u32),
    Private(u32),
}

/// Collective subgroup operations, with the operand type resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubgroupK {
    AddI,
    AddF,
    MinU,
    MinI,
    MinF,
    MaxU,
    MaxI,
    MaxF,
    Shuffle,
    ShuffleXor,
    ShuffleDown,
    BroadcastFirst,
    Ballot,
    All,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
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
    /// `f16` bits (zero-extended) to the equal `f32`: widening a loaded
    /// `f16` element.
    WidenF16 {
        d: Reg,
        a: Reg,
    },
    /// `bf16` bits (zero-extended) to the equal `f32`: `a << 16`.
    WidenBF16 {
        d: Reg,
        a: Reg,
    },
    /// `f32` to `f16` bits (round to nearest even, zero-extended): the
    /// element a store of `x as f16` writes.
    ToF16 {
        d: Reg,
        a: Reg,
    },
    /// `f32` to `bf16` bits (round to nearest even, zero-extended).
    ToBF16 {
        d: Reg,
        a: Reg,
    },
    /// `f32` rounded to the nearest `f16`, as an `f32`:
    /// `(x as f16) as f32`.
    QuantF16 {
        d: Reg,
        a: Reg,
    },
    /// `f32` rounded to the nearest `bf16`, as an `f32`.
    QuantBF16 {
        d: Reg,
        a: Reg,
    },
    /// The low 8 bits, zero-extended: wrapping to `u8`, and the bits of
    /// an 8-bit element.
    ZExt8 {
        d: Reg,
        a: Reg,
    },
    /// The low 16 bits, zero-extended.
    ZExt16 {
        d: Reg,
        a: Reg,
    },
    /// The low 8 bits, sign-extended: wrapping to `i8`, and widening a
    /// loaded `i8` element.
    SExt8 {
        d: Reg,
        a: Reg,
    },
    /// The low 16 bits, sign-extended.
    SExt16 {
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
    Exp2 {
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
    /// A load from the invocation's private array `m`, whose `len` words
    /// are the registers from `base` on (zeroed with the register file
    /// when an invocation starts; `Compiled::verify` checks they exist).
    LoadP {
        d: Reg,
        m: u32,
        i: Reg,
        base: Reg,
        len: u32,
    },
    /// A store to the invocation's private array `m` (as in `LoadP`).
    StoreP {
        m: u32,
        i: Reg,
        v: Reg,
        base: Reg,
        len: u32,
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
    /// The bottom of an unsigned `for` loop with a step above 1: when
    /// `v + step` overflows `u32` the loop ends (and `v` keeps its value);
    /// otherwise `v += step; if v < e goto t`.
    ForStepU {
        v: Reg,
        e: Reg,
        step: u32,
        t: u32,
    },
    /// The same, signed: the loop ends when `v + step` passes `i32::MAX`.
    ForStepI {
        v: Reg,
        e: Reg,
        step: u32,
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
    /// `warpgroup_barrier()`: the invocation stops here until every
    /// invocation of its warpgroup has (`exec.rs` releases each warpgroup
    /// on its own).
    WarpgroupBarrier,
    /// A collective subgroup operation: `d` of every invocation of a
    /// subgroup from the `a` (and, for shuffles, lane operand `b`; `a`
    /// again otherwise) of all of them. The invocation stops here like at
    /// a barrier; the workgroup scheduler combines the values and resumes
    /// it after the instruction.
    Subgroup {
        k: SubgroupK,
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// A matrix statement, `Compiled::matrix_ops[s]`, with its operands in
    /// registers `a` (offset, or a fill's value) and `b` (stride). It is
    /// collective like `Subgroup`: the invocation stops here and the
    /// workgroup scheduler executes the statement once per subgroup (per
    /// warpgroup for a statement on warpgroup matrices) on the group's
    /// tiles, after checking that every member passed the same operands.
    Matrix {
        s: u32,
        a: Reg,
        b: Reg,
    },
    /// `async_copy`: `count` elements from buffer `src` at `si` to shared
    /// array `dst` at `di`, copied at once (indices added in `u64`, so
    /// they never wrap: an element past the end is out of range).
    AsyncCopy {
        dst: u32,
        di: Reg,
        src: Mem,
        si: Reg,
        count: u32,
    },
    Halt,
    /// `d = k(a, b, c)` on 64-bit operands (unused operands are `a`);
    /// comparisons write a `bool`.
    Wide {
        k: WideK,
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// `d = a as to`, with `a` of type `from`; one side is 64-bit.
    Conv {
        d: Reg,
        a: Reg,
        from: Num,
        to: Num,
    },
    /// `d = m[i]` of a memory of 64-bit elements (two words each; private
    /// arrays hold one element per register and use `LoadP`).
    Load64 {
        d: Reg,
        m: Mem,
        i: Reg,
    },
    /// `m[i] = v` of a memory of 64-bit elements.
    Store64 {
        m: Mem,
        i: Reg,
        v: Reg,
    },
}

/// A matrix of the kernel in the per-subgroup tile storage (per-warpgroup
/// for a warpgroup matrix): its first element there, rows and columns
/// (row-major, `f32` values: `f16` and `bf16` elements are held as the
/// equal `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MatrixSlot {
    pub(super) offset: usize,
    pub(super) rows: u32,
    pub(super) cols: u32,
    /// Held by a warpgroup: the tile lies in a warpgroup's block.
    pub(super) warpgroup: bool,
}

impl MatrixSlot {
    /// Elements of the tile.
    pub(super) const fn len(self) -> usize {
        self.rows as usize * self.cols as usize
    }
}

/// A matrix statement with its memory and types resolved (the operands
/// are registers of `Op::Matrix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatStmt {
    /// Every element of matrix `m` = the `f32` in operand `a`.
    Fill { m: u32 },
    /// Matrix `m` from `mem` (elements of `elem`, the matrix's type) at
    /// offset `a`, stride `b`, only the first `rows × cols` elements when
    /// `clip` holds the registers of `[rows, cols]`.
    Load {
        m: u32,
        mem: Mem,
        elem: DataType,
        layout: MatrixLayout,
        clip: Option<[Reg; 2]>,
    },
    /// Matrix `m` into `mem` (elements of `elem`: `f32`, `f16` or
    /// `bf16`) at offset `a`, stride `b`, only the first `rows × cols`
    /// elements when `clip` holds the registers of `[rows, cols]`.
    Store {
        m: u32,
        mem: Mem,
        elem: DataType,
        layout: MatrixLayout,
        clip: Option<[Reg; 2]>,
    },
    /// `d = a * b + c` of `shape`.
    MultiplyAdd {
        d: u32,
        a: u32,
        b: u32,
        c: u32,
        shape: MatrixShape,
    },
    /// Warpgroup accumulator `d = A * B + c` of `shape`: `A` (`m x k`) from
    /// a shared array at offset `Op::Matrix`'s `a`, stride its `b`, or
    /// from a warpgroup accumulator rounded to `elem` ([`WgA`]); `B`
    /// (`k x n`) from shared array `b` in `b_layout` at offset and stride
    /// in registers `b_regs`; the arrays of `elem`.
    WarpgroupMultiplyAdd {
        d: u32,
        c: u32,
        a: WgA,
        b: u32,
        elem: DataType,
        b_regs: [Reg; 2],
        b_layout: MatrixLayout,
        shape: MatrixShape,
    },
    /// Warpgroup accumulator `d[r][c] = expr(r, c, src[r][c])`, the
    /// expression being `Compiled::maps[map]` (its operands, the locals it
    /// names, are compared across the warpgroup there).
    Map { d: u32, src: u32, map: u32 },
    /// `dst[offset + r] = op` over row `r` of warpgroup accumulator `src`,
    /// offset in `Op::Matrix`'s `a`; `dst` an `f32` shared array.
    RowReduce { op: RowReduceOp, src: u32, dst: u32 },
}

/// Where a warpgroup multiply reads `A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WgA {
    /// A row-major tile of this shared array.
    Shared(u32),
    /// This warpgroup accumulator, each element rounded to the multiply's
    /// element type.
    Acc(u32),
}

/// The expression of a `matrix_map`, compiled as a subroutine: the code
/// from `entry` (skipped by the statement's own flow) computes it into
/// `result` and halts, reading the element's row, column and value from
/// registers `row`, `col` and `value`; `uniform` are the registers (and
/// names) of the other locals it reads, which every invocation of the
/// warpgroup must hold equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MapCode {
    pub(super) entry: u32,
    pub(super) result: Reg,
    pub(super) row: Reg,
    pub(super) col: Reg,
    pub(super) value: Reg,
    pub(super) uniform: Vec<(Reg, String)>,
}

impl MapCode {
    /// Every register the subroutine's frame names.
    pub(super) fn regs(&self) -> Vec<Reg> {
        let mut v = vec![self.result, self.row, self.col, self.value];
        v.extend(self.uniform.iter().map(|u| u.0));
        v
    }
}

impl MatStmt {
    /// The matrices the statement names.
    pub(super) fn matrices(self) -> Vec<u32> {
        match self {
            Self::Fill { m } | Self::Load { m, .. } | Self::Store { m, .. } => vec![m],
            Self::MultiplyAdd { d, a, b, c, .. } => vec![d, a, b, c],
            Self::WarpgroupMultiplyAdd { d, c, a, .. } => match a {
                WgA::Acc(p) => vec![d, c, p],
                WgA::Shared(_) => vec![d, c],
            },
            Self::Map { d, src, .. } => vec![d, src],
            Self::RowReduce { src, .. } => vec![src],
        }
    }

    /// The memories the statement reads or writes.
    pub(super) fn mems(self) -> Vec<Mem> {
        match self {
            Self::Load { mem, .. } | Self::Store { mem, .. } => vec![mem],
            Self::WarpgroupMultiplyAdd { a, b, .. } => match a {
                WgA::Shared(a) => vec![Mem::Shared(a), Mem::Shared(b)],
                WgA::Acc(_) => vec![Mem::Shared(b)],
            },
            Self::RowReduce { dst, .. } => vec![Mem::Shared(dst)],
            Self::Fill { .. } | Self::MultiplyAdd { .. } | Self::Map { .. } => vec![],
        }
    }

    /// The registers of the statement's third and fourth operands, if any:
    /// a clip's `[rows, cols]` of a clipped load or store, or the offset
    /// and stride of a warpgroup multiply's `B`.
    pub(super) const fn extra(self) -> Option<[Reg; 2]> {
        match self {
            Self::Load { clip, .. } | Self::Store { clip, .. } => clip,
            Self::WarpgroupMultiplyAdd { b_regs, .. } => Some(b_regs),
            Self::Fill { .. }
            | Self::MultiplyAdd { .. }
            | Self::Map { .. }
            | Self::RowReduce { .. } => None,
        }
    }
}

impl Op {
    /// Every register the instruction reads or writes, and its jump target.
    pub(super) fn operands(&self) -> (Vec<Reg>, Option<u32>) {
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
            | WidenF16 { d, a }
            | WidenBF16 { d, a }
            | ToF16 { d, a }
            | ToBF16 { d, a }
            | QuantF16 { d, a }
            | QuantBF16 { d, a }
            | ZExt8 { d, a }
            | ZExt16 { d, a }
            | SExt8 { d, a }
            | SExt16 { d, a }
            | Sqrt { d, a }
            | Exp { d, a }
            | Exp2 { d, a }
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
            | Powf { d, a, b }
            | Subgroup { d, a, b, .. } => (vec![d, a, b], None),
            Wide { d, a, b, c, .. } => (vec![d, a, b, c], None),
            Conv { d, a, .. } | Load64 { d, i: a, .. } => (vec![d, a], None),
            Store64 { i, v, .. } => (vec![i, v], None),
            ClampF { d, a, b, c }
            | ClampU { d, a, b, c }
            | ClampI { d, a, b, c }
            | MulAdd { d, a, b, c }
            | MadI { d, a, b, c }
            | Select { d, c, a, b } => (vec![d, a, b, c], None),
            LoadR { d, i, .. } | LoadG { d, i, .. } | LoadS { d, i, .. } | LoadP { d, i, .. } => {
                (vec![d, i], None)
            }
            LoadMad { d, a, b, c, .. } => (vec![d, a, b, c], None),
            StoreG { i, v, .. } | StoreS { i, v, .. } | StoreP { i, v, .. } => (vec![i, v], None),
            Atomic { d, i, v, .. } => (vec![d, i, v], None),
            Matrix { a, b, .. } => (vec![a, b], None),
            AsyncCopy { di, si, .. } => (vec![di, si], None),
            Cas { d, i, e, v, .. } => (vec![d, i, e, v], None),
            Jump { t } => (vec![], Some(t)),
            JumpIfNot { c, t } => (vec![c], Some(t)),
            JumpIfNotLtU { a, b, t } | JumpIfNotLtI { a, b, t } => (vec![a, b], Some(t)),
            ForNextU { v, e, t }
            | ForNextI { v, e, t }
            | ForStepU { v, e, t, .. }
            | ForStepI { v, e, t, .. } => (vec![v, e], Some(t)),
            Barrier | WarpgroupBarrier | Halt => (vec![], None),
        }
    }
}

/// Fixed registers of the builtins: global id, local id, workgroup id and
/// grid size, three components each.
pub(super) const BUILTIN_REGS: u32 = 12;

pub(super) fn builtin_reg(b: Builtin, axis: crate::ir::Axis) -> Reg {
    let base = match b {
        Builtin::GlobalId => 0,
        Builtin::LocalId => 3,
        Builtin::WorkgroupId => 6,
        Builtin::NumWorkgroups => 9,
    };
    base + axis.index() as u32
}
