//! The vyre intermediate representation.
//!
//! A [`Program`] is one kernel: typed parameters, a workgroup size, workgroup
//! shared arrays, a table of local variables and a structured body of
//! [`Node`]s over pure [`Expr`]essions. Every target (the reference
//! interpreter, PTX, the naga-based shading languages) consumes exactly this
//! form, so its semantics are written down once, in `docs/language.md`, and
//! implemented once, by the reference interpreter.
//!
//! Design choices that keep backends simple:
//! - Locals are numbered ([`LocalId`]) in one flat table per program, with
//!   unique names; scoping and shadowing are resolved by the front end.
//! - Expressions are pure; the only read-modify-write, the atomic, is a
//!   statement ([`Node::Atomic`]) whose old value may define or assign a
//!   local ([`AtomicResult`]). So backends may evaluate operands in any order
//!   and need no short-circuiting for `&&`/`||`.
//! - Indices are `u32` or `i32`; an `i32` index is reinterpreted as `u32`, so
//!   a negative index is simply out of range.

pub mod addr;
mod builder;
pub(crate) mod consts;
mod debug;
mod grid;
mod matrix;
pub mod validate;
pub(crate) mod wide;
pub mod wire;

pub use builder::{AtomicCall, Block, ProgramBuilder, Rhs};
pub use debug::{
    DEBUG_FLOATS_PARAM, DEBUG_RECORD_HEADER, DEBUG_WORDS_PARAM, DebugKind, DebugSite, FormatPiece,
    format_pieces, in_float_ring, printable,
};
pub use grid::{GridRule, SizeExpr, SizeOp};
pub use matrix::{
    AsyncOp, MAX_PENDING_WARPGROUP_MULTIPLIES, MatrixClip, MatrixDecl, MatrixId, MatrixLayout,
    MatrixOp, MatrixRole, MatrixScope, MatrixShape, RowReduceOp, SharedTile, TileDim,
    WarpgroupOperand,
};
pub use validate::ValidationError;

use std::fmt;

/// A scalar type of the language.
///
/// The 16- and 8-bit types ([`DataType::is_narrow`]) are full types of
/// values, locals and memory, with one rule for all their operations: compute
/// in the [`DataType::register_type`] (`f32`, `u32` or `i32`), then round to
/// nearest even (floats) or wrap (integers) to the type. For `+ - * / sqrt`
/// on `f16`/`bf16` that is the correctly rounded result (`f32` has more than
/// twice their precision). `mid::widen` writes the rule down once for every
/// target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// `bool`. Not allowed as a buffer or shared-array element.
    Bool,
    /// `i32`, two's complement, wrapping arithmetic.
    I32,
    /// `u32`, wrapping arithmetic.
    U32,
    /// `f32`, IEEE 754 binary32.
    F32,
    /// `f16`, IEEE 754 binary16 (host type `half::f16`).
    F16,
    /// `bf16`, bfloat16: the upper half of an `f32` (host type `half::bf16`).
    BF16,
    /// `u8`, wrapping arithmetic.
    U8,
    /// `i8`, two's complement, wrapping arithmetic.
    I8,
    /// `u16`, wrapping arithmetic.
    U16,
    /// `i16`, two's complement, wrapping arithmetic.
    I16,
    /// `u64`, wrapping arithmetic (a target without 64-bit integers
    /// reports the kernel as unsupported).
    U64,
    /// `i64`, two's complement, wrapping arithmetic.
    I64,
    /// `f64`, IEEE 754 binary64 (a target without it, such as WGSL or
    /// Metal, reports the kernel as unsupported).
    F64,
}

impl DataType {
    /// Every type, for generators and tables.
    pub const ALL: [DataType; 13] = [
        Self::Bool,
        Self::I32,
        Self::U32,
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::U8,
        Self::I8,
        Self::U16,
        Self::I16,
        Self::U64,
        Self::I64,
        Self::F64,
    ];

    /// The spelling used in `.vyre` source.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::I32 => "i32",
            Self::U32 => "u32",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }

    /// The type spelled `name` in source.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether this is an integer type (`i32`, `u32`, the narrow ones,
    /// `u64`, `i64`).
    #[must_use]
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            Self::I32
                | Self::U32
                | Self::U8
                | Self::I8
                | Self::U16
                | Self::I16
                | Self::U64
                | Self::I64
        )
    }

    /// Whether this is `u32` or `i32`: the types of indices, `for` loop
    /// variables and atomic elements.
    #[must_use]
    pub const fn is_index(self) -> bool {
        matches!(self, Self::I32 | Self::U32)
    }

    /// Whether this is a floating-point type (`f32`, `f16`, `bf16`, `f64`).
    #[must_use]
    pub const fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16 | Self::F64)
    }

    /// Whether this is a signed integer type.
    #[must_use]
    pub const fn is_signed(self) -> bool {
        matches!(self, Self::I32 | Self::I8 | Self::I16 | Self::I64)
    }

    /// Whether this is one of the 64-bit types (`u64`, `i64`, `f64`):
    /// computed natively, never through a 32-bit register type.
    #[must_use]
    pub const fn is_wide(self) -> bool {
        matches!(self, Self::U64 | Self::I64 | Self::F64)
    }

    /// Whether values of this type may live in a buffer or a shared array.
    #[must_use]
    pub const fn is_storable(self) -> bool {
        !matches!(self, Self::Bool)
    }

    /// Whether this is one of the 16- or 8-bit types.
    #[must_use]
    pub const fn is_narrow(self) -> bool {
        self.size_bytes() < 4
    }

    /// Size in bytes when stored in a buffer.
    #[must_use]
    pub const fn size_bytes(self) -> u32 {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::F16 | Self::BF16 | Self::U16 | Self::I16 => 2,
            Self::Bool | Self::I32 | Self::U32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Width of the value in bits (`bool`: 32, as stored nowhere).
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.size_bytes() * 8
    }

    /// The type a value of this type is computed in: `f32` for
    /// `f16`/`bf16` (exact), `u32` for `u8`/`u16` (zero-extended), `i32` for
    /// `i8`/`i16` (sign-extended); every other type (the 32- and 64-bit
    /// ones) is its own.
    #[must_use]
    pub const fn register_type(self) -> Self {
        match self {
            Self::F16 | Self::BF16 => Self::F32,
            Self::U8 | Self::U16 => Self::U32,
            Self::I8 | Self::I16 => Self::I32,
            t => t,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a kernel may use a buffer parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `&[T]`: loads only.
    Read,
    /// `&mut [T]`: loads, stores and atomics.
    ReadWrite,
}

/// A buffer parameter: `x: &[f32]` or `y: &mut [f32]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BufferDecl {
    /// Parameter name.
    pub name: String,
    /// Element type (never [`DataType::Bool`]).
    pub elem: DataType,
    /// Read-only or read-write.
    pub access: Access,
}

/// One kernel parameter, in declaration order (the launcher's order).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Param {
    /// A device buffer.
    Buffer(BufferDecl),
    /// A scalar passed by value, uniform across the dispatch.
    Scalar {
        /// Parameter name.
        name: String,
        /// Its type.
        ty: DataType,
    },
}

impl Param {
    /// The parameter's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Buffer(b) => &b.name,
            Self::Scalar { name, .. } => name,
        }
    }
}

/// Index of a parameter in [`Program::params`].
pub type ParamId = u32;
/// Index of a local in [`Program::locals`].
pub type LocalId = u32;
/// Index of a shared array in [`Program::shared`].
pub type SharedId = u32;
/// Index of a thread-private array in [`Program::private`].
pub type PrivateId = u32;

/// A workgroup-shared array: `#[shared] let mut tile: [f32; 256];`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedDecl {
    /// Name in source.
    pub name: String,
    /// Element type (never [`DataType::Bool`]).
    pub elem: DataType,
    /// Number of elements.
    pub len: u32,
    /// How the elements lie in memory (invisible to the program's meaning).
    pub layout: SharedLayout,
}

/// How a shared array's elements lie in memory. A layout never changes
/// what a program computes: element `i` is element `i` whatever its
/// address, so the reference and any target may ignore it. It exists for
/// hardware that reads shared memory in a fixed arrangement (Hopper's
/// `wgmma` reads its operands from *swizzled* tiles), and it lets a target
/// spread a tile's rows over the memory banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SharedLayout {
    /// Element `i` at byte `i * size` (the default).
    #[default]
    Linear,
    /// `#[shared(swizzled, cols = C)]`: the array is a row-major matrix of
    /// `C` columns, stored the way the tensor cores read it. It is cut into
    /// column *panels* 128 bytes wide (`P = 128 / size` columns), stored one
    /// after the other; inside a panel row `r` takes 128 bytes, and its
    /// eight 16-byte chunks are permuted by `chunk ^ (r % 8)` (PTX's
    /// "128-byte swizzle"). [`SharedLayout::physical_index`] is the map.
    /// `C` is a power of two of at least `P` columns and the row count a
    /// multiple of 8 (whole 1024-byte swizzle atoms; the array itself is
    /// 1024-byte aligned).
    Swizzled {
        /// Columns of the row-major matrix the array holds.
        cols: u32,
    },
}

impl SharedLayout {
    /// Bytes of one swizzled row inside a panel.
    pub const PANEL_BYTES: u32 = 128;
    /// Bytes a swizzle permutes as a unit.
    pub const CHUNK_BYTES: u32 = 16;
    /// Rows of one swizzle atom (the permutation repeats every 8 rows).
    pub const ATOM_ROWS: u32 = 8;

    /// Columns of one panel for elements of `size` bytes.
    #[must_use]
    pub const fn panel_cols(size: u32) -> u32 {
        Self::PANEL_BYTES / size
    }

    /// Where element `i` of an array of `len` elements of `size` bytes is
    /// stored, as an element index: `i` itself for [`SharedLayout::Linear`].
    /// A bijection of `0..len` that keeps every aligned 16-byte group of
    /// elements together and in order, so a 16-byte access, `cp.async` or
    /// `ldmatrix` row is still one contiguous access.
    #[must_use]
    pub const fn physical_index(self, size: u32, len: u32, i: u32) -> u32 {
        match self {
            Self::Linear => i,
            Self::Swizzled { cols } => {
                let panel_cols = Self::panel_cols(size);
                let chunk = Self::CHUNK_BYTES / size;
                let rows = len / cols;
                let (r, c) = (i / cols, i % cols);
                let (panel, pc) = (c / panel_cols, c % panel_cols);
                let swizzled = ((pc / chunk) ^ (r % Self::ATOM_ROWS)) * chunk + pc % chunk;
                panel * rows * panel_cols + r * panel_cols + swizzled
            }
        }
    }

    /// Why this layout cannot hold `len` elements of `size` bytes, if it
    /// cannot.
    #[must_use]
    pub fn problem(self, size: u32, len: u32) -> Option<String> {
        let Self::Swizzled { cols } = self else {
            return None;
        };
        let panel_cols = Self::panel_cols(size);
        if !matches!(size, 1 | 2 | 4) {
            return Some(format!(
                "a swizzled array holds 1-, 2- or 4-byte elements, not {size}-byte ones"
            ));
        }
        if !cols.is_power_of_two() || cols < panel_cols {
            return Some(format!(
                "`cols = {cols}`: a swizzled array's row is a power of two of at least {panel_cols} elements (128 bytes)"
            ));
        }
        if !len.is_multiple_of(cols) || !(len / cols).is_multiple_of(Self::ATOM_ROWS) {
            return Some(format!(
                "{len} elements are not whole groups of 8 rows of {cols} (a swizzled array is a multiple of {} elements)",
                cols * Self::ATOM_ROWS
            ));
        }
        None
    }
}

/// A thread-private array: `let mut acc = [0.0f32; 64];`. Every invocation
/// has its own copy, whose elements are all zero when the invocation starts
/// (the front end stores a `let`'s initial value explicitly). Indexed like a
/// shared array: a constant length, bounds-checked unless unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrivateDecl {
    /// Name in source (unique among parameters, shared and private arrays).
    pub name: String,
    /// Element type (never [`DataType::Bool`]).
    pub elem: DataType,
    /// Number of elements.
    pub len: u32,
}

/// A local variable. Names are unique within a program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalDecl {
    /// Unique name.
    pub name: String,
    /// Its type.
    pub ty: DataType,
    /// Whether it may be assigned after its `let`.
    pub mutable: bool,
}

/// Something indexable: a buffer parameter, a shared or a private array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufRef {
    /// The buffer parameter with this index in [`Program::params`].
    Param(ParamId),
    /// The shared array with this index in [`Program::shared`].
    Shared(SharedId),
    /// The thread-private array with this index in [`Program::private`].
    Private(PrivateId),
}

/// A typed constant. Floats are kept as their bit patterns so that
/// `Eq`/`Hash` hold and NaN payloads survive round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// An `i32`.
    I32(i32),
    /// A `u32`.
    U32(u32),
    /// An `f32`, as `f32::to_bits`.
    F32(u32),
    /// An `f16`, as `half::f16::to_bits`.
    F16(u16),
    /// A `bf16`, as `half::bf16::to_bits`.
    BF16(u16),
    /// A `u8`.
    U8(u8),
    /// An `i8`.
    I8(i8),
    /// A `u16`.
    U16(u16),
    /// An `i16`.
    I16(i16),
    /// A `u64`.
    U64(u64),
    /// An `i64`.
    I64(i64),
    /// An `f64`, as `f64::to_bits`.
    F64(u64),
}

impl Literal {
    /// An `f32` literal.
    #[must_use]
    pub fn f32(v: f32) -> Self {
        Self::F32(v.to_bits())
    }

    /// An `f64` literal.
    #[must_use]
    pub fn f64(v: f64) -> Self {
        Self::F64(v.to_bits())
    }

    /// The literal's type.
    #[must_use]
    pub const fn ty(self) -> DataType {
        match self {
            Self::Bool(_) => DataType::Bool,
            Self::I32(_) => DataType::I32,
            Self::U32(_) => DataType::U32,
            Self::F32(_) => DataType::F32,
            Self::F16(_) => DataType::F16,
            Self::BF16(_) => DataType::BF16,
            Self::U8(_) => DataType::U8,
            Self::I8(_) => DataType::I8,
            Self::U16(_) => DataType::U16,
            Self::I16(_) => DataType::I16,
            Self::U64(_) => DataType::U64,
            Self::I64(_) => DataType::I64,
            Self::F64(_) => DataType::F64,
        }
    }

    /// The zero of `ty` (`false` for `bool`).
    #[must_use]
    pub const fn zero(ty: DataType) -> Self {
        match ty {
            DataType::Bool => Self::Bool(false),
            DataType::I32 => Self::I32(0),
            DataType::U32 => Self::U32(0),
            DataType::F32 => Self::F32(0),
            DataType::F16 => Self::F16(0),
            DataType::BF16 => Self::BF16(0),
            DataType::U8 => Self::U8(0),
            DataType::I8 => Self::I8(0),
            DataType::U16 => Self::U16(0),
            DataType::I16 => Self::I16(0),
            DataType::U64 => Self::U64(0),
            DataType::I64 => Self::I64(0),
            DataType::F64 => Self::F64(0),
        }
    }

    /// The raw bit pattern, zero-extended to 32 bits (`bool`: 0 or 1). This
    /// is how one element of a buffer of the literal's type is stored; a
    /// 64-bit literal gives its low 32 bits (see [`Literal::bits64`]).
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.bits64() as u32
    }

    /// The raw bit pattern, zero-extended to 64 bits (`bool`: 0 or 1).
    #[must_use]
    pub const fn bits64(self) -> u64 {
        match self {
            Self::Bool(b) => b as u64,
            Self::I32(v) => v as u32 as u64,
            Self::U32(v) | Self::F32(v) => v as u64,
            Self::F16(v) | Self::BF16(v) | Self::U16(v) => v as u64,
            Self::U8(v) => v as u64,
            Self::I8(v) => v as u8 as u64,
            Self::I16(v) => v as u16 as u64,
            Self::U64(v) | Self::F64(v) => v,
            Self::I64(v) => v as u64,
        }
    }

    /// The literal of type `ty` whose [`Literal::bits64`] are the low bits
    /// of `bits` (`bool`: any nonzero pattern is `true`).
    #[must_use]
    pub const fn from_bits64(ty: DataType, bits: u64) -> Self {
        match ty {
            DataType::U64 => Self::U64(bits),
            DataType::I64 => Self::I64(bits as i64),
            DataType::F64 => Self::F64(bits),
            DataType::Bool => Self::Bool(bits != 0),
            t => Self::from_bits(t, bits as u32),
        }
    }

    /// The literal of type `ty` whose [`Literal::bits`] are the low bits of
    /// `bits` (`bool`: any nonzero pattern is `true`; a 64-bit type gets
    /// `bits` zero-extended).
    #[must_use]
    pub const fn from_bits(ty: DataType, bits: u32) -> Self {
        match ty {
            DataType::U64 => Self::U64(bits as u64),
            DataType::I64 => Self::I64(bits as u64 as i64),
            DataType::F64 => Self::F64(bits as u64),
            DataType::Bool => Self::Bool(bits != 0),
            DataType::I32 => Self::I32(bits as i32),
            DataType::U32 => Self::U32(bits),
            DataType::F32 => Self::F32(bits),
            DataType::F16 => Self::F16(bits as u16),
            DataType::BF16 => Self::BF16(bits as u16),
            DataType::U8 => Self::U8(bits as u8),
            DataType::I8 => Self::I8(bits as u8 as i8),
            DataType::U16 => Self::U16(bits as u16),
            DataType::I16 => Self::I16(bits as u16 as i16),
        }
    }

    /// The value in its type's [`DataType::register_type`]: `f16`/`bf16`
    /// as the exactly equal `f32`, narrow integers zero- or sign-extended;
    /// other literals unchanged.
    #[must_use]
    pub fn widened(self) -> Self {
        match self {
            Self::F16(v) => Self::f32(half::f16::from_bits(v).to_f32()),
            Self::BF16(v) => Self::f32(half::bf16::from_bits(v).to_f32()),
            Self::U8(v) => Self::U32(u32::from(v)),
            Self::U16(v) => Self::U32(u32::from(v)),
            Self::I8(v) => Self::I32(i32::from(v)),
            Self::I16(v) => Self::I32(i32::from(v)),
            l => l,
        }
    }
}

/// Per-invocation and per-dispatch builtins; each is a `u32` vector read
/// one component at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `global_id()`: `workgroup_id() * workgroup_size + local_id()`.
    GlobalId,
    /// `local_id()`: the invocation's index within its workgroup.
    LocalId,
    /// `workgroup_id()`: the workgroup's index within the grid.
    WorkgroupId,
    /// `num_workgroups()`: the grid size in workgroups.
    NumWorkgroups,
}

impl Builtin {
    /// The spelling used in `.vyre` source.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::GlobalId => "global_id",
            Self::LocalId => "local_id",
            Self::WorkgroupId => "workgroup_id",
            Self::NumWorkgroups => "num_workgroups",
        }
    }
}

/// A vector component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    /// `.x`
    X,
    /// `.y`
    Y,
    /// `.z`
    Z,
}

impl Axis {
    /// 0, 1 or 2.
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::X => 0,
            Self::Y => 1,
            Self::Z => 2,
        }
    }
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-x` on `i32` (wrapping) or `f32`.
    Neg,
    /// `!x`: logical not on `bool`, bitwise not on integers.
    Not,
}

/// A binary operator. Both operands have the same type, except shifts, whose
/// right operand may be any integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+` (wrapping on integers).
    Add,
    /// `-` (wrapping on integers).
    Sub,
    /// `*` (wrapping on integers).
    Mul,
    /// `/`: integer division by zero yields 0; `i32::MIN / -1` wraps.
    Div,
    /// `%`: integer remainder by zero yields 0; `f32` uses `fmod` semantics.
    Rem,
    /// `&` on integers, non-short-circuit and on `bool`.
    BitAnd,
    /// `|` on integers, non-short-circuit or on `bool`.
    BitOr,
    /// `^` on integers and `bool`.
    BitXor,
    /// `<<`, shift amount masked to `& 31`.
    Shl,
    /// `>>`, arithmetic on `i32`, logical on `u32`; amount masked to `& 31`.
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` (operands are pure, so evaluating both is unobservable).
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// The operator's spelling in source.
    #[must_use]
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
            Self::BitAnd => "&",
            Self::BitOr => "|",
            Self::BitXor => "^",
            Self::Shl => "<<",
            Self::Shr => ">>",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::And => "&&",
            Self::Or => "||",
        }
    }

    /// Whether the result is `bool` regardless of operand type.
    #[must_use]
    pub const fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge
        )
    }
}

/// A math intrinsic, written as a method call in source (`x.sqrt()`,
/// `a.max(b)`, `x.clamp(lo, hi)`, `a.mul_add(b, c)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MathFn {
    /// `f32` square root (correctly rounded).
    Sqrt,
    /// `f32` e^x.
    Exp,
    /// `f32` natural logarithm.
    Ln,
    /// `f32` sine.
    Sin,
    /// `f32` cosine.
    Cos,
    /// `f32` hyperbolic tangent.
    Tanh,
    /// Absolute value of `f32` or `i32` (`i32::MIN.abs()` wraps to itself).
    Abs,
    /// Minimum of two `f32` (NaN-ignoring, like `f32::min`) or integers.
    Min,
    /// Maximum of two `f32` (NaN-ignoring, like `f32::max`) or integers.
    Max,
    /// `x.clamp(lo, hi)` = `x.max(lo).min(hi)`.
    Clamp,
    /// `f32` floor.
    Floor,
    /// `f32` ceiling.
    Ceil,
    /// `f32` x^y.
    Powf,
    /// `a.mul_add(b, c)` = `a * b + c` with a single rounding (fused).
    MulAdd,
    /// `f32` 2^x (`x.exp2()`): the hardware's native exponential, so
    /// `(x * (s * LOG2_E) - m).exp2()` is one fused multiply-add and one
    /// `ex2` where `(x * s - m).exp()` needs a multiply more.
    Exp2,
}

impl MathFn {
    /// Method name in source.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqrt => "sqrt",
            Self::Exp => "exp",
            Self::Ln => "ln",
            Self::Sin => "sin",
            Self::Cos => "cos",
            Self::Tanh => "tanh",
            Self::Abs => "abs",
            Self::Min => "min",
            Self::Max => "max",
            Self::Clamp => "clamp",
            Self::Floor => "floor",
            Self::Ceil => "ceil",
            Self::Powf => "powf",
            Self::MulAdd => "mul_add",
            Self::Exp2 => "exp2",
        }
    }

    /// Number of operands, the receiver included.
    #[must_use]
    pub const fn arity(self) -> usize {
        match self {
            Self::Min | Self::Max | Self::Powf => 2,
            Self::Clamp | Self::MulAdd => 3,
            _ => 1,
        }
    }

    /// Every intrinsic, for generators and tables.
    pub const ALL: [MathFn; 15] = [
        Self::Sqrt,
        Self::Exp,
        Self::Ln,
        Self::Sin,
        Self::Cos,
        Self::Tanh,
        Self::Abs,
        Self::Min,
        Self::Max,
        Self::Clamp,
        Self::Floor,
        Self::Ceil,
        Self::Powf,
        Self::MulAdd,
        Self::Exp2,
    ];
}

/// A subgroup operation, written as a function call in source
/// (`subgroup_add(v)`). The subgroup is the device's SIMD group (a warp of
/// 32 on NVIDIA): the invocations of a workgroup with flat local index
/// `k * size .. (k + 1) * size` form subgroup `k` (the last one partial when
/// the workgroup size is not a multiple of the subgroup size; a lane
/// without an invocation takes no part). Every operation but
/// `subgroup_invocation_id()` and `subgroup_size()` is *collective*: it
/// combines the values of the subgroup's invocations, so it must run in
/// uniform control flow (where a `barrier()` may be), and its result is
/// not workgroup-uniform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubgroupOp {
    /// `subgroup_invocation_id()`: the invocation's lane, `0..size`, `u32`.
    InvocationId,
    /// `subgroup_size()`: the device's subgroup size, `u32`.
    Size,
    /// `subgroup_add(v)`: the sum over the subgroup (`i32`/`u32` wrap; `f32`
    /// in an order the target chooses, see `docs/language.md`).
    Add,
    /// `subgroup_min(v)`: the minimum over the subgroup (`f32` ignores NaN
    /// like `f32::min`).
    Min,
    /// `subgroup_max(v)`: the maximum over the subgroup.
    Max,
    /// `subgroup_shuffle(v, src)`: `v` of lane `src`.
    Shuffle,
    /// `subgroup_shuffle_xor(v, mask)`: `v` of lane `lane ^ mask`.
    ShuffleXor,
    /// `subgroup_shuffle_down(v, delta)`: `v` of lane `lane + delta`.
    ShuffleDown,
    /// `subgroup_broadcast_first(v)`: `v` of the lowest lane.
    BroadcastFirst,
    /// `subgroup_ballot(pred)`: bit `l` set when lane `l` (< 32) has `pred`.
    Ballot,
    /// `subgroup_all(pred)`: whether every lane has `pred`.
    All,
    /// `subgroup_any(pred)`: whether some lane has `pred`.
    Any,
}

impl SubgroupOp {
    /// Function name in source.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvocationId => "subgroup_invocation_id",
            Self::Size => "subgroup_size",
            Self::Add => "subgroup_add",
            Self::Min => "subgroup_min",
            Self::Max => "subgroup_max",
            Self::Shuffle => "subgroup_shuffle",
            Self::ShuffleXor => "subgroup_shuffle_xor",
            Self::ShuffleDown => "subgroup_shuffle_down",
            Self::BroadcastFirst => "subgroup_broadcast_first",
            Self::Ballot => "subgroup_ballot",
            Self::All => "subgroup_all",
            Self::Any => "subgroup_any",
        }
    }

    /// Number of operands.
    #[must_use]
    pub const fn arity(self) -> usize {
        match self {
            Self::InvocationId | Self::Size => 0,
            Self::Shuffle | Self::ShuffleXor | Self::ShuffleDown => 2,
            _ => 1,
        }
    }

    /// Whether it combines values of other invocations (everything but the
    /// lane and the size).
    #[must_use]
    pub const fn is_collective(self) -> bool {
        !matches!(self, Self::InvocationId | Self::Size)
    }

    /// A shuffle whose source lane may be outside the subgroup (then the
    /// invocation's own value is the result, on every target).
    #[must_use]
    pub const fn is_shuffle(self) -> bool {
        matches!(self, Self::Shuffle | Self::ShuffleXor | Self::ShuffleDown)
    }

    /// Every subgroup operation.
    pub const ALL: [SubgroupOp; 12] = [
        Self::InvocationId,
        Self::Size,
        Self::Add,
        Self::Min,
        Self::Max,
        Self::Shuffle,
        Self::ShuffleXor,
        Self::ShuffleDown,
        Self::BroadcastFirst,
        Self::Ballot,
        Self::All,
        Self::Any,
    ];
}

/// An atomic read-modify-write; every form returns the element's old value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `buf.atomic_add(i, v)` (wrapping).
    Add,
    /// `buf.atomic_sub(i, v)` (wrapping).
    Sub,
    /// `buf.atomic_min(i, v)`.
    Min,
    /// `buf.atomic_max(i, v)`.
    Max,
    /// `buf.atomic_and(i, v)`.
    And,
    /// `buf.atomic_or(i, v)`.
    Or,
    /// `buf.atomic_xor(i, v)`.
    Xor,
    /// `buf.atomic_exchange(i, v)`.
    Exchange,
    /// `buf.atomic_compare_exchange(i, expected, v)`: stores `v` only if the
    /// element equals `expected`.
    CompareExchange,
}

impl AtomicOp {
    /// Method name in source.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Add => "atomic_add",
            Self::Sub => "atomic_sub",
            Self::Min => "atomic_min",
            Self::Max => "atomic_max",
            Self::And => "atomic_and",
            Self::Or => "atomic_or",
            Self::Xor => "atomic_xor",
            Self::Exchange => "atomic_exchange",
            Self::CompareExchange => "atomic_compare_exchange",
        }
    }

    /// Every atomic operation.
    pub const ALL: [AtomicOp; 9] = [
        Self::Add,
        Self::Sub,
        Self::Min,
        Self::Max,
        Self::And,
        Self::Or,
        Self::Xor,
        Self::Exchange,
        Self::CompareExchange,
    ];
}

/// An expression. Always pure: atomics are statements ([`Node::Atomic`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A constant.
    Lit(Literal),
    /// A local's current value.
    Local(LocalId),
    /// A scalar parameter's value.
    Param(ParamId),
    /// One component of a builtin vector, type `u32`.
    Builtin(Builtin, Axis),
    /// `buf.len()` of a buffer parameter, in elements, type `u32`.
    Len(ParamId),
    /// `buf[index]`: out-of-range (unless the program is unchecked) yields 0.
    Load {
        /// The buffer or shared array.
        buf: BufRef,
        /// `u32` or `i32` index.
        index: Box<Expr>,
    },
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `value as ty`, with Rust's semantics (float to int saturates, NaN to 0;
    /// `bool as` integer/float gives 0 or 1; casts *to* `bool` are rejected).
    Cast(DataType, Box<Expr>),
    /// A math intrinsic applied to [`MathFn::arity`] operands.
    Math(MathFn, Vec<Expr>),
    /// A subgroup operation applied to [`SubgroupOp::arity`] operands.
    Subgroup(SubgroupOp, Vec<Expr>),
    /// `if cond { a } else { b }` with pure arms: both are evaluated.
    Select {
        /// `bool` condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Box<Expr>,
    },
}

/// A statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// `let [mut] name = value;` — first definition of a local.
    Let {
        /// The local being defined.
        local: LocalId,
        /// Initial value.
        value: Expr,
    },
    /// `name = value;` (compound assignments are desugared: `x += e` is
    /// `x = x + e`).
    Assign {
        /// A mutable local.
        local: LocalId,
        /// New value.
        value: Expr,
    },
    /// `buf[index] = value;` on a read-write buffer or shared array.
    /// Out-of-range (unless unchecked): dropped.
    Store {
        /// Destination.
        buf: BufRef,
        /// `u32` or `i32` index.
        index: Expr,
        /// Stored value.
        value: Expr,
    },
    /// `buf.atomic_*(index, [expected,] value)` on a `u32`/`i32` element of a
    /// read-write buffer or shared array: reads the old value, writes the
    /// new one, atomically. Out-of-range (unless unchecked): no effect and
    /// the old value is 0. `result` says where the old value goes.
    Atomic {
        /// Which operation.
        op: AtomicOp,
        /// The buffer (read-write) or shared array.
        buf: BufRef,
        /// `u32` or `i32` element index.
        index: Expr,
        /// Expected value, for [`AtomicOp::CompareExchange`] only.
        expected: Option<Expr>,
        /// Operand, of the element type.
        value: Expr,
        /// What happens to the old value.
        result: AtomicResult,
    },
    /// `if cond { then } else { otherwise }`.
    If {
        /// `bool` condition.
        cond: Expr,
        /// Taken when true.
        then: Vec<Node>,
        /// Taken when false (may be empty).
        otherwise: Vec<Node>,
    },
    /// `while cond { body }`.
    While {
        /// Re-evaluated before each iteration.
        cond: Expr,
        /// Loop body.
        body: Vec<Node>,
    },
    /// `for var in (start..end).step_by(step) { body }`: `start` and `end`
    /// are evaluated once, `var` (a fresh immutable local of the same integer
    /// type) counts up by `step` while `var < end`, and the loop ends when
    /// the next value would overflow the type; `continue` moves to the next
    /// value. `#[unroll]` (`unroll`) asks targets to repeat the body once
    /// per value; it needs literal bounds and changes no result.
    For {
        /// The loop variable.
        var: LocalId,
        /// First value.
        start: Expr,
        /// Exclusive bound.
        end: Expr,
        /// The increment, at least 1 (at most `i32::MAX` for an `i32` loop).
        step: u32,
        /// `#[unroll]`: literal bounds, no `break`/`continue` of this loop.
        unroll: bool,
        /// Loop body.
        body: Vec<Node>,
    },
    /// `loop { body }`.
    Loop {
        /// Loop body; leave it with `break` or `return`.
        body: Vec<Node>,
    },
    /// `unsafe { body }`: the kernel's author asserts that every access of
    /// `body` (loads, stores, atomics, matrix and copy statements) is in
    /// range, typically after testing the buffers' lengths, as with Rust's
    /// `get_unchecked`. No target checks them; an access out of range is
    /// undefined behaviour on a GPU, and the reference interpreter reports
    /// it as `RunError::OutOfBoundsInUnsafe`. The block runs in line: it
    /// opens no scope of its own for `break`, `continue` or `return`, and
    /// unlike `#[kernel(unchecked)]` it leaves the launcher safe.
    Unsafe {
        /// The statements whose accesses are not checked.
        body: Vec<Node>,
    },
    /// `break` out of the innermost loop.
    Break,
    /// `continue` the innermost loop.
    Continue,
    /// `return`: this invocation is done.
    Return,
    /// `barrier()`: workgroup execution and shared/global memory barrier.
    /// Must be reached by every invocation of the workgroup (uniform control
    /// flow).
    Barrier,
    /// `warpgroup_barrier()`: the same for the invocations of one warpgroup
    /// ([`MatrixScope::WARPGROUP`] consecutive invocations): each waits for
    /// the others of its warpgroup only, and their memory writes become
    /// visible to each other. Stands where a `barrier()` could (uniform
    /// control flow), in a workgroup of whole warpgroups.
    WarpgroupBarrier,
    /// A matrix (tensor-core) operation, collective over the subgroup.
    Matrix(MatrixOp),
    /// An asynchronous copy, commit or wait.
    Async(AsyncOp),
}

/// Where the old value of a [`Node::Atomic`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicResult {
    /// `buf.atomic_add(i, v);` or `let _ = buf.atomic_add(i, v);`: dropped.
    Discard,
    /// `let [mut] old = buf.atomic_add(i, v);`: first definition of the
    /// local, like [`Node::Let`].
    Let(LocalId),
    /// `old = buf.atomic_add(i, v);`: a mutable local, like [`Node::Assign`].
    Assign(LocalId),
}

impl Node {
    /// The local this statement (re)defines: a `let`, an assignment, or an
    /// atomic that keeps the old value. (A `for` defines its variable too,
    /// but for its body only.)
    #[must_use]
    pub fn defined_local(&self) -> Option<LocalId> {
        match self {
            Node::Let { local, .. } | Node::Assign { local, .. } => Some(*local),
            Node::Atomic { result, .. } => result.local(),
            _ => None,
        }
    }
}

impl Expr {
    /// The direct sub-expressions, in order.
    #[must_use]
    pub fn operands(&self) -> Vec<&Expr> {
        match self {
            Expr::Load { index, .. } => vec![index],
            Expr::Unary(_, a) | Expr::Cast(_, a) => vec![a],
            Expr::Binary(_, a, b) => vec![a, b],
            Expr::Math(_, args) | Expr::Subgroup(_, args) => args.iter().collect(),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => vec![cond, then, otherwise],
            Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {
                vec![]
            }
        }
    }

    /// Whether `pred` holds for this expression or any sub-expression
    /// (visited parents first, stopping at the first hit).
    pub fn any(&self, pred: &mut dyn FnMut(&Expr) -> bool) -> bool {
        self.find_map(&mut |e| pred(e).then_some(())).is_some()
    }

    /// The first `Some` that `f` gives for this expression or a
    /// sub-expression, parents first, operands in order.
    pub fn find_map<T>(&self, f: &mut dyn FnMut(&Expr) -> Option<T>) -> Option<T> {
        f(self).or_else(|| self.operands().into_iter().find_map(|e| e.find_map(f)))
    }
}

impl Node {
    /// The expressions this statement evaluates itself, in order (not
    /// those of nested blocks).
    #[must_use]
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Node::Let { value, .. } | Node::Assign { value, .. } => vec![value],
            Node::Store { index, value, .. } => vec![index, value],
            Node::Atomic {
                index,
                expected,
                value,
                ..
            } => [index, value]
                .into_iter()
                .chain(expected.as_ref())
                .collect(),
            Node::If { cond, .. } | Node::While { cond, .. } => vec![cond],
            Node::For { start, end, .. } => vec![start, end],
            Node::Matrix(op) => op.exprs(),
            Node::Async(op) => op.exprs(),
            Node::Loop { .. }
            | Node::Unsafe { .. }
            | Node::Break
            | Node::Continue
            | Node::Return
            | Node::Barrier
            | Node::WarpgroupBarrier => vec![],
        }
    }

    /// This statement with `f` applied to each of its own expressions (those
    /// of [`Node::exprs`], in that order), nested blocks untouched: with
    /// [`Node::map_blocks`], the one place a rewriting pass spells out the
    /// shape of every statement.
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Node {
        match self {
            Node::Let { local, value } => Node::Let {
                local,
                value: f(value),
            },
            Node::Assign { local, value } => Node::Assign {
                local,
                value: f(value),
            },
            Node::Store { buf, index, value } => {
                let index = f(index);
                Node::Store {
                    buf,
                    index,
                    value: f(value),
                }
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                let index = f(index);
                let value = f(value);
                Node::Atomic {
                    op,
                    buf,
                    index,
                    expected: expected.map(&mut *f),
                    value,
                    result,
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => Node::If {
                cond: f(cond),
                then,
                otherwise,
            },
            Node::While { cond, body } => Node::While {
                cond: f(cond),
                body,
            },
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => {
                let start = f(start);
                Node::For {
                    var,
                    start,
                    end: f(end),
                    step,
                    unroll,
                    body,
                }
            }
            Node::Matrix(op) => Node::Matrix(op.map_exprs(f)),
            Node::Async(op) => Node::Async(op.map_exprs(f)),
            other @ (Node::Loop { .. }
            | Node::Unsafe { .. }
            | Node::Break
            | Node::Continue
            | Node::Return
            | Node::Barrier
            | Node::WarpgroupBarrier) => other,
        }
    }

    /// This statement with `f` applied to each block nested directly in it
    /// (an `if`'s two arms in order, a loop's body), its own expressions
    /// untouched; see [`Node::map_exprs`].
    #[must_use]
    pub fn map_blocks(self, f: &mut dyn FnMut(Vec<Node>) -> Vec<Node>) -> Node {
        match self {
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let then = f(then);
                Node::If {
                    cond,
                    then,
                    otherwise: f(otherwise),
                }
            }
            Node::While { cond, body } => Node::While {
                cond,
                body: f(body),
            },
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body: f(body),
            },
            Node::Loop { body } => Node::Loop { body: f(body) },
            Node::Unsafe { body } => Node::Unsafe { body: f(body) },
            other => other,
        }
    }
}

impl AtomicResult {
    /// The local receiving the old value, if any.
    #[must_use]
    pub const fn local(self) -> Option<LocalId> {
        match self {
            Self::Discard => None,
            Self::Let(l) | Self::Assign(l) => Some(l),
        }
    }
}

/// A kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Program {
    /// Kernel name (a Rust identifier).
    pub name: String,
    /// Doc comment carried from source, without `///` markers.
    pub doc: String,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// Invocations per workgroup, `[x, y, z]`.
    pub workgroup_size: [u32; 3],
    /// Workgroup shared arrays.
    pub shared: Vec<SharedDecl>,
    /// Thread-private arrays.
    pub private: Vec<PrivateDecl>,
    /// Matrix variables of the tensor-core operations ([`Node::Matrix`]).
    pub matrices: Vec<MatrixDecl>,
    /// Every local of the body, indexed by [`LocalId`].
    pub locals: Vec<LocalDecl>,
    /// The body.
    pub body: Vec<Node>,
    /// `#[kernel(unchecked)]`: no bounds checks; the launcher is `unsafe`.
    pub unchecked: bool,
    /// `#[kernel(fast_math)]`: approximate intrinsics allowed regardless of
    /// the dispatch ULP budget.
    pub fast_math: bool,
}

impl Program {
    /// A new empty program with a 1-D workgroup of `workgroup_size_x`.
    #[must_use]
    pub fn new(name: impl Into<String>, workgroup_size: [u32; 3]) -> Self {
        Self {
            name: name.into(),
            doc: String::new(),
            params: Vec::new(),
            workgroup_size,
            shared: Vec::new(),
            private: Vec::new(),
            matrices: Vec::new(),
            locals: Vec::new(),
            body: Vec::new(),
            unchecked: false,
            fast_math: false,
        }
    }

    /// The buffer declaration behind `buf`, when it names a buffer parameter.
    #[must_use]
    pub fn buffer(&self, id: ParamId) -> Option<&BufferDecl> {
        match self.params.get(id as usize) {
            Some(Param::Buffer(b)) => Some(b),
            _ => None,
        }
    }

    /// Element type of a buffer or shared array, if `buf` is valid.
    #[must_use]
    pub fn elem_type(&self, buf: BufRef) -> Option<DataType> {
        match buf {
            BufRef::Param(id) => self.buffer(id).map(|b| b.elem),
            BufRef::Shared(id) => self.shared.get(id as usize).map(|s| s.elem),
            BufRef::Private(id) => self.private.get(id as usize).map(|s| s.elem),
        }
    }

    /// Name of a buffer or shared array, if `buf` is valid.
    #[must_use]
    pub fn buf_name(&self, buf: BufRef) -> Option<&str> {
        match buf {
            BufRef::Param(id) => self.buffer(id).map(|b| b.name.as_str()),
            BufRef::Shared(id) => self.shared.get(id as usize).map(|s| s.name.as_str()),
            BufRef::Private(id) => self.private.get(id as usize).map(|s| s.name.as_str()),
        }
    }

    /// The static length of a shared or private array (`None` for a buffer
    /// parameter, whose length is known at run time only).
    #[must_use]
    pub fn static_len(&self, buf: BufRef) -> Option<u32> {
        match buf {
            BufRef::Param(_) => None,
            BufRef::Shared(id) => self.shared.get(id as usize).map(|s| s.len),
            BufRef::Private(id) => self.private.get(id as usize).map(|s| s.len),
        }
    }

    /// Total invocations per workgroup.
    #[must_use]
    pub fn invocations_per_workgroup(&self) -> u64 {
        self.workgroup_size.iter().map(|&d| u64::from(d)).product()
    }

    /// Whether the workgroup's x size is a whole number of warpgroups
    /// ([`MatrixScope::WARPGROUP`] invocations), so that each warpgroup lies
    /// in one row of the workgroup and `local_id().x / 128` names it within
    /// that row.
    #[must_use]
    pub fn whole_warpgroup_rows(&self) -> bool {
        self.workgroup_size[0] > 0 && self.workgroup_size[0].is_multiple_of(MatrixScope::WARPGROUP)
    }

    /// Bytes of workgroup shared memory the program declares.
    #[must_use]
    pub fn shared_bytes(&self) -> u64 {
        self.shared
            .iter()
            .map(|s| u64::from(s.len) * u64::from(s.elem.size_bytes()))
            .sum()
    }

    /// Whether the kernel uses a subgroup operation (targets then need their
    /// subgroup capability: `SUBGROUP` on wgpu, `shfl`/`vote` on PTX).
    #[must_use]
    pub fn uses_subgroups(&self) -> bool {
        self.any_expr(&mut |e| matches!(e, Expr::Subgroup(..)))
    }

    /// Whether the kernel has an `atomic_add` on `f32` elements (targets
    /// then need float atomics: `SHADER_FLOAT32_ATOMIC` on wgpu; HLSL has
    /// none).
    #[must_use]
    pub fn uses_float_atomics(&self) -> bool {
        self.any_node(&mut |n| {
            matches!(n, Node::Atomic { buf, .. } if self.elem_type(*buf) == Some(DataType::F32))
        })
    }

    /// The 64-bit types (`u64`, `i64`, `f64`) the kernel uses anywhere: as
    /// a parameter, array element, local, literal or cast target type
    /// (every 64-bit value comes from one of these), in [`DataType::ALL`]
    /// order. Targets without them refuse such a kernel.
    #[must_use]
    pub fn wide_types(&self) -> Vec<DataType> {
        let mut used = [false; DataType::ALL.len()];
        let mut note = |t: DataType| {
            if let Some(k) = DataType::ALL.iter().position(|&u| u == t) {
                used[k] |= t.is_wide();
            }
        };
        for p in &self.params {
            match p {
                Param::Buffer(b) => note(b.elem),
                Param::Scalar { ty, .. } => note(*ty),
            }
        }
        self.shared.iter().for_each(|d| note(d.elem));
        self.private.iter().for_each(|d| note(d.elem));
        self.locals.iter().for_each(|d| note(d.ty));
        self.any_expr(&mut |e| {
            match e {
                Expr::Lit(l) => note(l.ty()),
                Expr::Cast(t, _) => note(*t),
                _ => {}
            }
            false
        });
        DataType::ALL
            .into_iter()
            .zip(used)
            .filter_map(|(t, u)| u.then_some(t))
            .collect()
    }

    /// Whether the kernel uses a matrix operation (PTX then needs sm_80 for
    /// `bf16` operands, naga a path for them).
    #[must_use]
    pub fn uses_matrices(&self) -> bool {
        self.any_node(&mut |n| matches!(n, Node::Matrix(_)))
    }

    /// Whether the kernel uses an asynchronous copy.
    #[must_use]
    pub fn uses_async_copies(&self) -> bool {
        self.any_node(&mut |n| matches!(n, Node::Async(_)))
    }

    /// Whether the body has a tile copy ([`AsyncOp::Tile`]).
    #[must_use]
    pub fn has_tile_copies(&self) -> bool {
        self.any_node(&mut |n| matches!(n, Node::Async(AsyncOp::Tile { .. })))
    }

    /// Whether a matrix is held by a warpgroup ([`MatrixScope::Warpgroup`]).
    #[must_use]
    pub fn uses_warpgroup_matrices(&self) -> bool {
        self.matrices
            .iter()
            .any(|m| m.scope == matrix::MatrixScope::Warpgroup)
    }

    /// Whether `pred` holds for any statement of the body, nested ones
    /// included.
    pub fn any_node(&self, pred: &mut dyn FnMut(&Node) -> bool) -> bool {
        let mut found = false;
        walk_nodes(&self.body, &mut |n| found = found || pred(n));
        found
    }

    /// Whether `pred` holds for any expression or sub-expression of the
    /// body.
    pub fn any_expr(&self, pred: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut found = false;
        walk_nodes(&self.body, &mut |n| {
            found = found || n.exprs().into_iter().any(|e| e.any(pred));
        });
        found
    }

    /// The type of `expr` in this program, or `None` if it is ill-formed
    /// (use [`Program::validate`] for the reason).
    #[must_use]
    pub fn type_of(&self, expr: &Expr) -> Option<DataType> {
        validate::type_of(self, expr)
    }
}

/// Visit every node of a body, depth first, parents before children.
pub fn walk_nodes<'a>(body: &'a [Node], f: &mut dyn FnMut(&'a Node)) {
    for node in body {
        f(node);
        match node {
            Node::If {
                then, otherwise, ..
            } => {
                walk_nodes(then, f);
                walk_nodes(otherwise, f);
            }
            Node::While { body, .. }
            | Node::For { body, .. }
            | Node::Loop { body }
            | Node::Unsafe { body } => {
                walk_nodes(body, f);
            }
            _ => {}
        }
    }
}
