//! Typed PTX: registers, operands and instructions as values.
//!
//! The emitter and the math library build [`Inst`] values; text exists only
//! in the `Display` impls here, called when the module is written. Nothing
//! is ever parsed back: an immediate is an [`Imm`], a register a [`Reg`].

use std::fmt;

/// A virtual register class (`ptxas` allocates the real registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// `.pred`, `%p<n>`.
    Pred,
    /// `.b32` integers, `%r<n>`.
    R,
    /// `.f32`, `%f<n>`.
    F,
    /// `.b64`, `%rd<n>`.
    Rd,
    /// `.f64`, `%fd<n>`.
    Fd,
    /// `.b16`, `%h<n>`: `f16`/`bf16` bits for the conversions that take
    /// 16-bit registers.
    H,
}

impl Class {
    /// Every class, in the order the module declares them.
    pub(super) const ALL: [Class; 6] = [
        Class::Pred,
        Class::R,
        Class::F,
        Class::Rd,
        Class::Fd,
        Class::H,
    ];

    /// Register name prefix (`%p`, `%r`, ...).
    #[must_use]
    pub(super) const fn prefix(self) -> &'static str {
        match self {
            Class::Pred => "%p",
            Class::R => "%r",
            Class::F => "%f",
            Class::Rd => "%rd",
            Class::Fd => "%fd",
            Class::H => "%h",
        }
    }

    /// The `.reg` declaration type (`.pred`, `.b32`, ...).
    #[must_use]
    pub(super) const fn decl(self) -> &'static str {
        match self {
            Class::Pred => ".pred",
            Class::R => ".b32",
            Class::F => ".f32",
            Class::Rd => ".b64",
            Class::Fd => ".f64",
            Class::H => ".b16",
        }
    }

    /// Position in [`Class::ALL`].
    #[must_use]
    pub(super) const fn index(self) -> usize {
        self as usize
    }
}

/// A virtual register: `%r7` is `Reg { class: Class::R, n: 7 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reg {
    /// Its class.
    pub class: Class,
    /// Its number within the class.
    pub n: u32,
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.class.prefix(), self.n)
    }
}

/// An immediate operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Imm {
    /// An integer (of any width), written in decimal.
    Int(i64),
    /// An `f32` by its bits, written `0fXXXXXXXX`.
    F32(u32),
    /// An `f64` by its bits, written `0dXXXXXXXXXXXXXXXX`.
    F64(u64),
}

impl Imm {
    /// The immediate of an `f32` value.
    #[must_use]
    pub(super) fn f32(v: f32) -> Self {
        Imm::F32(v.to_bits())
    }

    /// The immediate of an `f64` value.
    #[must_use]
    pub(super) fn f64(v: f64) -> Self {
        Imm::F64(v.to_bits())
    }

    /// The integer value, if an integer immediate.
    #[must_use]
    pub(super) const fn as_int(self) -> Option<i64> {
        match self {
            Imm::Int(v) => Some(v),
            _ => None,
        }
    }
}

/// An integer immediate.
#[must_use]
pub(super) const fn int(v: i64) -> Imm {
    Imm::Int(v)
}

impl fmt::Display for Imm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Imm::Int(v) => write!(f, "{v}"),
            Imm::F32(bits) => write!(f, "0f{bits:08X}"),
            Imm::F64(bits) => write!(f, "0d{bits:016X}"),
        }
    }
}

/// A value operand: a register or an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Src {
    /// A register.
    Reg(Reg),
    /// An immediate.
    Imm(Imm),
}

/// A special (read-only) register of the thread's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    /// `%tid.<axis>`.
    Tid(u8),
    /// `%ctaid.<axis>`.
    Ctaid(u8),
    /// `%nctaid.<axis>`.
    Nctaid(u8),
    /// `%laneid`: the thread's lane in its warp.
    LaneId,
}

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, axis) = match *self {
            Special::LaneId => return f.write_str("%laneid"),
            Special::Tid(a) => ("tid", a),
            Special::Ctaid(a) => ("ctaid", a),
            Special::Nctaid(a) => ("nctaid", a),
        };
        let axis = ["x", "y", "z"]
            .get(usize::from(axis))
            .copied()
            .unwrap_or("x");
        write!(f, "%{name}.{axis}")
    }
}

/// A module-scope name: a kernel parameter or a variable.
/// The dynamic shared memory of a kernel whose shared arrays exceed the
/// static 48 KiB (`.extern .shared .align 16 .b8 vyre_dyn[];`).
pub(super) const DYN_SHARED: &str = "vyre_dyn";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Symbol {
    /// Scalar parameter `i`: `vyre_p<i>`.
    Param(usize),
    /// Buffer parameter `i`'s device address: `vyre_p<i>_ptr`.
    ParamPtr(usize),
    /// Buffer parameter `i`'s length: `vyre_p<i>_len`.
    ParamLen(usize),
    /// Shared array `i`: `vyre_s<i>`.
    Shared(usize),
    /// A byte offset into the dynamic shared memory of a kernel whose
    /// shared arrays exceed the static 48 KiB: `vyre_dyn+<off>` (see
    /// [`super::code::Code::place_shared_dynamically`]).
    Dyn(u32),
    /// Thread-private array `i` (a `.local` array of the kernel body):
    /// `vyre_l<i>`.
    Private(usize),
    /// The 2/pi table of the sin/cos reduction.
    TwoOverPi,
    /// Tensor map `i` of a kernel with TMA copies, a 128-byte parameter
    /// after the kernel's own: `vyre_tmap<i>`.
    TensorMap(usize),
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Symbol::Param(i) => write!(f, "vyre_p{i}"),
            Symbol::ParamPtr(i) => write!(f, "vyre_p{i}_ptr"),
            Symbol::ParamLen(i) => write!(f, "vyre_p{i}_len"),
            Symbol::Shared(i) => write!(f, "vyre_s{i}"),
            Symbol::Dyn(0) => f.write_str(DYN_SHARED),
            Symbol::Dyn(off) => write!(f, "{DYN_SHARED}+{off}"),
            Symbol::Private(i) => write!(f, "vyre_l{i}"),
            Symbol::TwoOverPi => f.write_str("vyre_two_over_pi"),
            Symbol::TensorMap(i) => write!(f, "vyre_tmap{i}"),
        }
    }
}

/// A memory operand: `[base]` or `[base+off]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Addr {
    /// The base: a register or a symbol.
    pub base: AddrBase,
    /// A byte offset, written even when 0.
    pub off: Option<u32>,
}

/// The base of an [`Addr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddrBase {
    /// An address register.
    Reg(Reg),
    /// A symbol's address.
    Sym(Symbol),
}

impl Addr {
    /// `[r]`.
    #[must_use]
    pub(super) const fn reg(r: Reg) -> Self {
        Addr {
            base: AddrBase::Reg(r),
            off: None,
        }
    }

    /// `[r+off]`.
    #[must_use]
    pub(super) const fn reg_off(r: Reg, off: u32) -> Self {
        Addr {
            base: AddrBase::Reg(r),
            off: Some(off),
        }
    }

    /// `[sym]`.
    #[must_use]
    pub(super) const fn sym(s: Symbol) -> Self {
        Addr {
            base: AddrBase::Sym(s),
            off: None,
        }
    }

    /// `[sym+off]`.
    #[must_use]
    pub(super) const fn sym_off(s: Symbol, off: u32) -> Self {
        Addr {
            base: AddrBase::Sym(s),
            off: Some(off),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.base {
            AddrBase::Reg(r) => write!(f, "[{r}")?,
            // `[vyre_dyn+a+b]` is not PTX: fold the offsets.
            AddrBase::Sym(Symbol::Dyn(base)) => {
                return match (base, self.off) {
                    (0, None) => write!(f, "[{DYN_SHARED}]"),
                    (b, o) => write!(f, "[{DYN_SHARED}+{}]", b + o.unwrap_or(0)),
                };
            }
            AddrBase::Sym(s) => write!(f, "[{s}")?,
        }
        match self.off {
            Some(o) => write!(f, "+{o}]"),
            None => f.write_str("]"),
        }
    }
}

/// A branch target: `$L_<what>_<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Label {
    /// What the label marks (`else`, `endfor`, ...).
    pub what: &'static str,
    /// Its number, unique in the kernel.
    pub n: u32,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$L_{}_{}", self.what, self.n)
    }
}

/// An instruction operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operand {
    /// A register.
    Reg(Reg),
    /// An immediate.
    Imm(Imm),
    /// A special register.
    Special(Special),
    /// A symbol's address (`mov.u32 %r1, vyre_s0;`).
    Sym(Symbol),
    /// A memory operand.
    Addr(Addr),
    /// A four-register vector `{a, b, c, d}`.
    Vec4([Reg; 4]),
    /// A two-register vector `{a, b}` (also the halves of a packed `mov`).
    Vec2([Reg; 2]),
    /// A branch target.
    Label(Label),
    /// A value destination with a predicate destination beside it, `d|p`
    /// (`shfl.sync` sets `p` when the source lane is in range).
    WithPred(Reg, Reg),
    /// `count` consecutive registers of one class from `first`, as a vector
    /// `{%f1, %f2, ..}` (a `wgmma` accumulator).
    Span(Reg, u32),
    /// A tensor map's generic address and a box's coordinates, innermost
    /// first: `[%rd1, {%r1, %r2}]` (a TMA copy's source).
    TensorCoords(Reg, [Reg; 2]),
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Self {
        Operand::Reg(r)
    }
}

impl From<&Reg> for Operand {
    fn from(r: &Reg) -> Self {
        Operand::Reg(*r)
    }
}

impl From<Imm> for Operand {
    fn from(i: Imm) -> Self {
        Operand::Imm(i)
    }
}

impl From<Src> for Operand {
    fn from(s: Src) -> Self {
        match s {
            Src::Reg(r) => Operand::Reg(r),
            Src::Imm(i) => Operand::Imm(i),
        }
    }
}

impl From<Special> for Operand {
    fn from(s: Special) -> Self {
        Operand::Special(s)
    }
}

impl From<Symbol> for Operand {
    fn from(s: Symbol) -> Self {
        Operand::Sym(s)
    }
}

impl From<Addr> for Operand {
    fn from(a: Addr) -> Self {
        Operand::Addr(a)
    }
}

impl From<[Reg; 4]> for Operand {
    fn from(v: [Reg; 4]) -> Self {
        Operand::Vec4(v)
    }
}

impl From<[Reg; 2]> for Operand {
    fn from(v: [Reg; 2]) -> Self {
        Operand::Vec2(v)
    }
}

impl From<Label> for Operand {
    fn from(l: Label) -> Self {
        Operand::Label(l)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Reg(r) => r.fmt(f),
            Operand::Imm(i) => i.fmt(f),
            Operand::Special(s) => s.fmt(f),
            Operand::Sym(s) => s.fmt(f),
            Operand::Addr(a) => a.fmt(f),
            Operand::Vec4([a, b, c, d]) => write!(f, "{{{a}, {b}, {c}, {d}}}"),
            Operand::Vec2([a, b]) => write!(f, "{{{a}, {b}}}"),
            Operand::Label(l) => l.fmt(f),
            Operand::WithPred(d, p) => write!(f, "{d}|{p}"),
            Operand::TensorCoords(map, [x, y]) => write!(f, "[{map}, {{{x}, {y}}}]"),
            Operand::Span(first, count) => {
                f.write_str("{")?;
                for i in 0..*count {
                    let r = Reg {
                        class: first.class,
                        n: first.n + i,
                    };
                    write!(f, "{}{r}", if i == 0 { "" } else { ", " })?;
                }
                f.write_str("}")
            }
        }
    }
}

/// An opcode (the mnemonic before the first `.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the PTX instruction of its name
pub(super) enum Opcode {
    Abs,
    Add,
    And,
    Atom,
    /// `bar.warp.sync`: a warp's lanes meet, their memory accesses ordered.
    Bar,
    Barrier,
    Bfe,
    Bfi,
    Bra,
    Clz,
    Copysign,
    Cos,
    /// `cp.async`: an asynchronous copy into shared memory (sm_80).
    Cp,
    Cvt,
    Cvta,
    Div,
    Ex2,
    /// `fence`: a memory or proxy fence.
    Fence,
    Fma,
    Ld,
    /// `ldmatrix`: a warp loads 8x8 tiles of 16-bit elements from shared
    /// memory into mma fragments (sm_75).
    Ldmatrix,
    Lg2,
    Mad,
    Max,
    /// `mbarrier`: a shared-memory barrier object that counts arrivals and
    /// the bytes of asynchronous copies (sm_90 for the forms used here).
    Mbarrier,
    Min,
    /// `mma.sync`: a warp-wide tensor-core multiply-add (m16n8k16: sm_80).
    Mma,
    Mov,
    Mul,
    Neg,
    Not,
    Or,
    Prmt,
    Red,
    Redux,
    Rem,
    Ret,
    Selp,
    Setp,
    Shfl,
    Shl,
    Shr,
    Sin,
    Sqrt,
    St,
    Sub,
    Tanh,
    Testp,
    Vote,
    /// `wgmma`: a warpgroup-wide asynchronous tensor-core multiply-add
    /// and its fence, commit and wait (sm_90a).
    Wgmma,
    Xor,
}

impl Opcode {
    /// The PTX mnemonic.
    #[must_use]
    pub(super) const fn name(self) -> &'static str {
        match self {
            Opcode::Abs => "abs",
            Opcode::Add => "add",
            Opcode::And => "and",
            Opcode::Atom => "atom",
            Opcode::Bar => "bar",
            Opcode::Barrier => "barrier",
            Opcode::Bfe => "bfe",
            Opcode::Bfi => "bfi",
            Opcode::Bra => "bra",
            Opcode::Clz => "clz",
            Opcode::Copysign => "copysign",
            Opcode::Cos => "cos",
            Opcode::Cp => "cp",
            Opcode::Cvt => "cvt",
            Opcode::Cvta => "cvta",
            Opcode::Div => "div",
            Opcode::Ex2 => "ex2",
            Opcode::Fence => "fence",
            Opcode::Fma => "fma",
            Opcode::Ld => "ld",
            Opcode::Ldmatrix => "ldmatrix",
            Opcode::Lg2 => "lg2",
            Opcode::Mad => "mad",
            Opcode::Max => "max",
            Opcode::Mbarrier => "mbarrier",
            Opcode::Min => "min",
            Opcode::Mma => "mma",
            Opcode::Mov => "mov",
            Opcode::Mul => "mul",
            Opcode::Neg => "neg",
            Opcode::Not => "not",
            Opcode::Or => "or",
            Opcode::Prmt => "prmt",
            Opcode::Red => "red",
            Opcode::Redux => "redux",
            Opcode::Rem => "rem",
            Opcode::Ret => "ret",
            Opcode::Selp => "selp",
            Opcode::Setp => "setp",
            Opcode::Shfl => "shfl",
            Opcode::Shl => "shl",
            Opcode::Shr => "shr",
            Opcode::Sin => "sin",
            Opcode::Sqrt => "sqrt",
            Opcode::St => "st",
            Opcode::Sub => "sub",
            Opcode::Tanh => "tanh",
            Opcode::Testp => "testp",
            Opcode::Vote => "vote",
            Opcode::Wgmma => "wgmma",
            Opcode::Xor => "xor",
        }
    }
}

/// An instruction modifier (one `.xxx` after the opcode): a type, a
/// rounding mode, a comparison, a state space, an atomic operation, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the PTX modifier of its name
pub(super) enum Mod {
    // Types.
    Pred,
    U8,
    S8,
    B16,
    U16,
    S16,
    F16,
    Bf16,
    F16x2,
    Bf16x2,
    B32,
    U32,
    S32,
    F32,
    B64,
    U64,
    S64,
    F64,
    // Rounding.
    Rn,
    Rni,
    Rzi,
    Rmi,
    Rpi,
    // Comparisons (`setp`).
    Eq,
    Ne,
    Neu,
    Lt,
    Le,
    Gt,
    Ge,
    // State spaces.
    Param,
    Global,
    /// `.global.nc`: the non-coherent read-only path.
    GlobalNc,
    Shared,
    /// `.local`: per-thread memory (private arrays).
    Local,
    Const,
    // Atomic operations (`atom`, `red`).
    Add,
    Min,
    Max,
    And,
    Or,
    Xor,
    Exch,
    Cas,
    // Shuffle modes (`shfl.sync`).
    Idx,
    Bfly,
    Down,
    // Vote modes (`vote.sync`).
    Ballot,
    All,
    Any,
    // Other.
    Lo,
    Wide,
    Approx,
    /// `.ftz`: subnormal inputs and results flushed to zero.
    Ftz,
    V2,
    V4,
    To,
    Sync,
    /// `.warp`: `bar.warp.sync`.
    Warp,
    NotANumber,
    /// `testp.number`: not NaN.
    Number,
    /// `.NaN`: `min`/`max` return NaN when an operand is NaN (sm_80+).
    NaN,
    Finite,
    // Matrix fragments (`ldmatrix`, `mma`).
    /// `.aligned`: every thread of the warp executes the instruction.
    Aligned,
    /// `.m8n8`: `ldmatrix` tiles of 8x8 16-bit elements.
    M8n8,
    /// `.m16n8k16`: the `mma` shape.
    M16n8k16,
    /// `.x2`: two `ldmatrix` tiles.
    X2,
    /// `.x4`: four `ldmatrix` tiles.
    X4,
    /// `.trans`: `ldmatrix` transposes each tile.
    Trans,
    /// `.row`: `mma`'s A operand is row-major.
    Row,
    /// `.col`: `mma`'s B operand is column-major.
    Col,
    // Asynchronous copies (`cp.async`).
    Async,
    /// `.ca`: cache at all levels (4, 8 or 16 bytes).
    Ca,
    /// `.cg`: cache in L2 only (16 bytes).
    Cg,
    /// `.commit_group`.
    CommitGroup,
    /// `.wait_group`.
    WaitGroup,
    // Warpgroup matrices (`wgmma`, sm_90a).
    /// `.mma_async`.
    MmaAsync,
    /// `.fence` (`wgmma.fence`).
    FenceOp,
    /// `.proxy` (`fence.proxy.async`).
    Proxy,
    /// `.shared::cta`.
    SharedCta,
    /// `.m64nNk16` for `N = 8 * (i + 1)`: the `wgmma` shape.
    M64k16(u8),
    // Barrier objects and TMA copies (sm_90).
    /// `.init`.
    Init,
    /// `.arrive`.
    Arrive,
    /// `.expect_tx`.
    ExpectTx,
    /// `.try_wait`.
    TryWait,
    /// `.parity`.
    Parity,
    /// `.relaxed`.
    Relaxed,
    /// `.release`.
    Release,
    /// `.cta`.
    Cta,
    /// `.cluster`.
    Cluster,
    /// `.mbarrier_init` (`fence.mbarrier_init`).
    MbarrierInit,
    /// `.bulk`.
    Bulk,
    /// `.tensor`.
    Tensor,
    /// `.2d`.
    Dim2,
    /// `.shared::cluster`.
    SharedCluster,
    /// `.tile` (a TMA copy's mode).
    TileMode,
    /// `.mbarrier::complete_tx::bytes`: the copy's bytes complete on a
    /// barrier object.
    CompleteTxBytes,
}

/// The `wgmma` shapes `.m64nNk16`, `N = 8, 16, .., 256`.
const WGMMA_SHAPES: [&str; 32] = [
    "m64n8k16",
    "m64n16k16",
    "m64n24k16",
    "m64n32k16",
    "m64n40k16",
    "m64n48k16",
    "m64n56k16",
    "m64n64k16",
    "m64n72k16",
    "m64n80k16",
    "m64n88k16",
    "m64n96k16",
    "m64n104k16",
    "m64n112k16",
    "m64n120k16",
    "m64n128k16",
    "m64n136k16",
    "m64n144k16",
    "m64n152k16",
    "m64n160k16",
    "m64n168k16",
    "m64n176k16",
    "m64n184k16",
    "m64n192k16",
    "m64n200k16",
    "m64n208k16",
    "m64n216k16",
    "m64n224k16",
    "m64n232k16",
    "m64n240k16",
    "m64n248k16",
    "m64n256k16",
];

impl Mod {
    /// The `wgmma` shape `.m64nNk16` (`n` a multiple of 8 up to 256).
    #[must_use]
    pub(super) fn wgmma_shape(n: u32) -> Self {
        debug_assert!(n.is_multiple_of(8) && (8..=256).contains(&n));
        Mod::M64k16(u8::try_from(n / 8 - 1).unwrap_or(0))
    }
}

impl Mod {
    /// The modifier's text, without the leading `.`.
    #[must_use]
    pub(super) const fn name(self) -> &'static str {
        match self {
            Mod::Pred => "pred",
            Mod::U8 => "u8",
            Mod::S8 => "s8",
            Mod::B16 => "b16",
            Mod::U16 => "u16",
            Mod::S16 => "s16",
            Mod::F16 => "f16",
            Mod::Bf16 => "bf16",
            Mod::F16x2 => "f16x2",
            Mod::Bf16x2 => "bf16x2",
            Mod::B32 => "b32",
            Mod::U32 => "u32",
            Mod::S32 => "s32",
            Mod::F32 => "f32",
            Mod::B64 => "b64",
            Mod::U64 => "u64",
            Mod::S64 => "s64",
            Mod::F64 => "f64",
            Mod::Rn => "rn",
            Mod::Rni => "rni",
            Mod::Rzi => "rzi",
            Mod::Rmi => "rmi",
            Mod::Rpi => "rpi",
            Mod::Eq => "eq",
            Mod::Ne => "ne",
            Mod::Neu => "neu",
            Mod::Lt => "lt",
            Mod::Le => "le",
            Mod::Gt => "gt",
            Mod::Ge => "ge",
            Mod::Param => "param",
            Mod::Global => "global",
            Mod::GlobalNc => "global.nc",
            Mod::Shared => "shared",
            Mod::Local => "local",
            Mod::Const => "const",
            Mod::Add => "add",
            Mod::Min => "min",
            Mod::Max => "max",
            Mod::And => "and",
            Mod::Or => "or",
            Mod::Xor => "xor",
            Mod::Exch => "exch",
            Mod::Cas => "cas",
            Mod::Idx => "idx",
            Mod::Bfly => "bfly",
            Mod::Down => "down",
            Mod::Ballot => "ballot",
            Mod::All => "all",
            Mod::Any => "any",
            Mod::Lo => "lo",
            Mod::Wide => "wide",
            Mod::Approx => "approx",
            Mod::Ftz => "ftz",
            Mod::V2 => "v2",
            Mod::V4 => "v4",
            Mod::To => "to",
            Mod::Sync => "sync",
            Mod::Warp => "warp",
            Mod::NotANumber => "notanumber",
            Mod::Number => "number",
            Mod::NaN => "NaN",
            Mod::Finite => "finite",
            Mod::Aligned => "aligned",
            Mod::M8n8 => "m8n8",
            Mod::M16n8k16 => "m16n8k16",
            Mod::X2 => "x2",
            Mod::X4 => "x4",
            Mod::Trans => "trans",
            Mod::Row => "row",
            Mod::Col => "col",
            Mod::Async => "async",
            Mod::Ca => "ca",
            Mod::Cg => "cg",
            Mod::CommitGroup => "commit_group",
            Mod::WaitGroup => "wait_group",
            Mod::MmaAsync => "mma_async",
            Mod::FenceOp => "fence",
            Mod::Proxy => "proxy",
            Mod::SharedCta => "shared::cta",
            Mod::M64k16(i) => WGMMA_SHAPES[i as usize % WGMMA_SHAPES.len()],
            Mod::Init => "init",
            Mod::Arrive => "arrive",
            Mod::ExpectTx => "expect_tx",
            Mod::TryWait => "try_wait",
            Mod::Parity => "parity",
            Mod::Relaxed => "relaxed",
            Mod::Release => "release",
            Mod::Cta => "cta",
            Mod::Cluster => "cluster",
            Mod::MbarrierInit => "mbarrier_init",
            Mod::Bulk => "bulk",
            Mod::Tensor => "tensor",
            Mod::Dim2 => "2d",
            Mod::SharedCluster => "shared::cluster",
            Mod::TileMode => "tile",
            Mod::CompleteTxBytes => "mbarrier::complete_tx::bytes",
        }
    }
}

/// A guard predicate: `@%p` or `@!%p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Guard {
    /// The predicate register.
    pub pred: Reg,
    /// Whether the instruction runs where the predicate is false.
    pub negated: bool,
}

/// One instruction: `[@guard] opcode.mods operands;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inst {
    /// Optional guard predicate.
    pub guard: Option<Guard>,
    /// The opcode.
    pub op: Opcode,
    /// Its modifiers, in order.
    pub mods: Vec<Mod>,
    /// Its operands, destination(s) first.
    pub args: Vec<Operand>,
}

impl Inst {
    /// An unguarded instruction.
    #[must_use]
    pub(super) fn new(op: Opcode, mods: &[Mod], args: &[Operand]) -> Self {
        Inst {
            guard: None,
            op,
            mods: mods.to_vec(),
            args: args.to_vec(),
        }
    }

    /// Guarded by `p`: runs where `p` holds.
    #[must_use]
    pub(super) fn when(mut self, p: Reg) -> Self {
        self.guard = Some(Guard {
            pred: p,
            negated: false,
        });
        self
    }

    /// Guarded by `!p`: runs where `p` does not hold.
    #[must_use]
    pub(super) fn unless(mut self, p: Reg) -> Self {
        self.guard = Some(Guard {
            pred: p,
            negated: true,
        });
        self
    }

    /// Guarded by `p` when there is one.
    #[must_use]
    pub(super) fn when_some(self, p: Option<Reg>) -> Self {
        match p {
            Some(p) => self.when(p),
            None => self,
        }
    }
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(g) = self.guard {
            let bang = if g.negated { "!" } else { "" };
            write!(f, "@{bang}{} ", g.pred)?;
        }
        f.write_str(self.op.name())?;
        for m in &self.mods {
            write!(f, ".{}", m.name())?;
        }
        for (i, a) in self.args.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            a.fmt(f)?;
        }
        f.write_str(";")
    }
}
