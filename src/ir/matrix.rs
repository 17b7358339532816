//! Matrix fragments (tensor-core operations) and asynchronous copies.
//!
//! A *matrix* ([`MatrixDecl`]) is a `rows × cols` tile of numbers that a
//! whole subgroup holds together, like a SPIR-V cooperative matrix: every
//! [`MatrixOp`] must be executed by all invocations of the subgroup together,
//! in uniform control flow, with equal operands (the same offset, stride and
//! layout). The meaning is then simple and independent of the subgroup
//! size: each operation acts on the whole tile, as if every invocation held
//! a copy of it. How a target spreads the tile over lanes (PTX `mma.sync`
//! fragments, cooperative-matrix registers, a private copy per invocation)
//! is its own business.
//!
//! A matrix's shape is the `(m, n, k)` of the multiply it takes part in:
//! an [`MatrixRole::A`] operand is `m × k`, a [`MatrixRole::B`] operand
//! `k × n` and an [`MatrixRole::Accumulator`] `m × n`. Shapes are multiples
//! of the hardware's `m16n8k16` ([`MatrixShape::is_supported`]); a target
//! splits a larger tile into hardware-sized pieces, so one source line can
//! describe a whole warp tile (`64 × 64 × 16`) without arrays of fragments.
//!
//! A *warpgroup* matrix ([`MatrixScope::Warpgroup`]) is an accumulator
//! that four subgroups of 32 (128 consecutive invocations, a Hopper
//! warpgroup) hold together, with the same "whole tile" meaning. Its
//! multiply ([`MatrixOp::WarpgroupMultiplyAdd`]) reads `A` and `B` straight
//! from shared arrays, as `wgmma.mma_async` does; targets without such an
//! instruction split it over the four subgroups (16 rows each).
//!
//! *Asynchronous copies* ([`AsyncOp`]) move a few elements from a buffer
//! into a shared array without holding the invocation up (PTX `cp.async`),
//! in groups that are committed and later waited for, so that a kernel can
//! load the next tiles while it multiplies the current ones.

use super::{BufRef, DataType, Expr, ParamId, SharedId};

/// Index of a matrix in [`super::Program::matrices`].
pub type MatrixId = u32;

/// What a matrix is for in `d = a × b + c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatrixRole {
    /// The left operand, `m × k`, of `f16` or `bf16`.
    A,
    /// The right operand, `k × n`, of the same type as `A`.
    B,
    /// The accumulator and result, `m × n`, of `f32`.
    Accumulator,
}

impl MatrixRole {
    /// The role with its article, for messages: "an A matrix", "a B
    /// matrix", "an accumulator".
    #[must_use]
    pub const fn described(self) -> &'static str {
        match self {
            Self::A => "an A matrix",
            Self::B => "a B matrix",
            Self::Accumulator => "an accumulator",
        }
    }
}

/// The `(m, n, k)` of a matrix multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatrixShape {
    /// Rows of `A` and of the accumulator.
    pub m: u32,
    /// Columns of `B` and of the accumulator.
    pub n: u32,
    /// Columns of `A`, rows of `B`: the reduction length.
    pub k: u32,
}

impl MatrixShape {
    /// The largest number of elements one matrix may have: 4096 (a
    /// `64 × 64` accumulator is 128 `f32` registers a lane on a 32-lane
    /// subgroup, about half of what a thread can have).
    pub const MAX_ELEMENTS: u32 = 4096;

    /// Whether every target can do this shape: `m` a multiple of 16, `n` of
    /// 8 and `k` of 16 (PTX `mma.sync.m16n8k16` tiles), none of the three
    /// matrices above [`MatrixShape::MAX_ELEMENTS`].
    #[must_use]
    pub const fn is_supported(self) -> bool {
        let (m, n, k) = (self.m as u64, self.n as u64, self.k as u64);
        let max = Self::MAX_ELEMENTS as u64;
        m > 0
            && n > 0
            && k > 0
            && m % 16 == 0
            && n % 8 == 0
            && k % 16 == 0
            && m * n <= max
            && m * k <= max
            && k * n <= max
    }

    /// `(rows, cols)` of a matrix of `role` in this shape.
    #[must_use]
    pub const fn dims(self, role: MatrixRole) -> (u32, u32) {
        match role {
            MatrixRole::A => (self.m, self.k),
            MatrixRole::B => (self.k, self.n),
            MatrixRole::Accumulator => (self.m, self.n),
        }
    }
}

/// Who holds a matrix together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatrixScope {
    /// One subgroup (a warp): every statement but
    /// [`MatrixOp::WarpgroupMultiplyAdd`].
    #[default]
    Subgroup,
    /// [`MatrixScope::WARPGROUP`] consecutive invocations (four warps): an
    /// accumulator of shape `64 × n × k` used by
    /// [`MatrixOp::WarpgroupMultiplyAdd`], `Fill` and `Store` only.
    Warpgroup,
}

impl MatrixScope {
    /// Invocations of a warpgroup: `local_invocation_index / 128` numbers
    /// the warpgroups of a workgroup.
    pub const WARPGROUP: u32 = 128;
    /// Rows of a warpgroup accumulator (`wgmma`'s `m64`).
    pub const WARPGROUP_M: u32 = 64;
    /// Largest `n` of a warpgroup accumulator (`wgmma`'s `n256`).
    pub const WARPGROUP_MAX_N: u32 = 256;
    /// Largest `k` one warpgroup multiply covers.
    pub const WARPGROUP_MAX_K: u32 = 256;

    /// Whether a matrix of this scope can have `shape`: a subgroup's
    /// [`MatrixShape::is_supported`]; a warpgroup's `m = 64`, `n` a
    /// multiple of 8 up to 256, `k` a multiple of 16 up to 256.
    #[must_use]
    pub const fn supports(self, shape: MatrixShape) -> bool {
        match self {
            Self::Subgroup => shape.is_supported(),
            Self::Warpgroup => {
                shape.m == Self::WARPGROUP_M
                    && shape.n > 0
                    && shape.n <= Self::WARPGROUP_MAX_N
                    && shape.n.is_multiple_of(8)
                    && shape.k > 0
                    && shape.k <= Self::WARPGROUP_MAX_K
                    && shape.k.is_multiple_of(16)
            }
        }
    }
}

/// A matrix variable: `let a = matrix_load_a::<bf16, 16, 16, 16>(..)`.
/// Every element is zero when the kernel starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatrixDecl {
    /// Name in source (unique among locals, arrays and matrices).
    pub name: String,
    /// Operand or accumulator.
    pub role: MatrixRole,
    /// Element type: `f16`/`bf16` for `A` and `B`, `f32` for accumulators.
    pub elem: DataType,
    /// The multiply's shape; the matrix is [`MatrixShape::dims`] of it.
    pub shape: MatrixShape,
    /// Held by a subgroup or by a warpgroup (accumulators only).
    pub scope: MatrixScope,
}

impl MatrixDecl {
    /// `(rows, cols)`.
    #[must_use]
    pub const fn dims(&self) -> (u32, u32) {
        self.shape.dims(self.role)
    }
}

/// How a matrix lies in memory: element `(r, c)` is at
/// `offset + r * stride + c` ([`MatrixLayout::RowMajor`]) or
/// `offset + c * stride + r` ([`MatrixLayout::ColMajor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatrixLayout {
    /// Rows are contiguous.
    RowMajor,
    /// Columns are contiguous.
    ColMajor,
}

impl MatrixLayout {
    /// The element index of `(r, c)` relative to the offset.
    #[must_use]
    pub const fn index(self, r: u32, c: u32, stride: u32) -> u64 {
        match self {
            Self::RowMajor => r as u64 * stride as u64 + c as u64,
            Self::ColMajor => c as u64 * stride as u64 + r as u64,
        }
    }
}

/// The part of a tile a clipped [`MatrixOp::Load`] or [`MatrixOp::Store`]
/// touches: element `(r, c)` takes part only when `r < rows && c < cols`
/// (`u32` comparisons). A clipped-out element reads 0 (load) or is not
/// written (store). This is in addition to the buffer-length bounds, which
/// stay (`unchecked` removes only those): it lets a GEMM tile at the right
/// or bottom edge of `C` cover columns past `n` without its store wrapping
/// into the next row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatrixClip {
    /// `u32` number of rows that exist (rows `>= rows` are clipped out).
    pub rows: Expr,
    /// `u32` number of columns that exist (columns `>= cols` are clipped
    /// out).
    pub cols: Expr,
}

impl MatrixClip {
    /// The same clip with both expressions replaced by `f` of them (rows
    /// first).
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Self {
        let rows = f(self.rows);
        let cols = f(self.cols);
        Self { rows, cols }
    }
}

/// An operand tile of [`MatrixOp::WarpgroupMultiplyAdd`] in a shared
/// array: element `(r, c)` is `array[offset + layout.index(r, c, stride)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedTile {
    /// The shared array (`f16` or `bf16`).
    pub array: SharedId,
    /// `u32` index of element `(0, 0)`.
    pub offset: Expr,
    /// `u32` distance between rows (row-major) or columns (column-major).
    pub stride: Expr,
    /// Row-major, or column-major (`B` only: `warpgroup_mma_t` multiplies
    /// by the transpose of a row-major `n × k` tile, as attention's
    /// `Q · Kᵀ` does).
    pub layout: MatrixLayout,
}

/// Where [`MatrixOp::WarpgroupMultiplyAdd`] reads its `64 × k` left
/// operand `A` from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WarpgroupOperand {
    /// A row-major tile of a shared array.
    Shared(SharedTile),
    /// A warpgroup accumulator of `64 × k` (its shape's `n` is the
    /// multiply's `k`), every element rounded to nearest even to `B`'s
    /// element type first: attention's `P · V` with `P` still in
    /// registers. It must be neither `d` nor `c`.
    Accumulator(MatrixId),
}

impl WarpgroupOperand {
    /// The same operand with every expression replaced by `f` of it.
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Self {
        match self {
            Self::Shared(t) => Self::Shared(t.map_exprs(f)),
            op @ Self::Accumulator(_) => op,
        }
    }

    /// The expressions the operand evaluates (a tile's offset and stride).
    #[must_use]
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Self::Shared(t) => vec![&t.offset, &t.stride],
            Self::Accumulator(_) => vec![],
        }
    }
}

/// How [`MatrixOp::RowReduce`] combines a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowReduceOp {
    /// The largest element: `f32::max` folded from `-inf`, so NaN
    /// elements are skipped.
    Max,
    /// The sum, from `0.0`.
    Add,
}

impl RowReduceOp {
    /// The language's name: `matrix_row_max` or `matrix_row_sum`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Max => "matrix_row_max",
            Self::Add => "matrix_row_sum",
        }
    }
}

/// The most asynchronous warpgroup multiplies a `warpgroup_wait(n)` may
/// leave running (`wgmma.wait_group` takes 0 to 7).
pub const MAX_PENDING_WARPGROUP_MULTIPLIES: u32 = 7;

/// A matrix statement (all collective over the matrix's scope, see the
/// module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MatrixOp {
    /// `let mut c = matrix_zero::<f32, M, N, K>()` (value `0.0`) or
    /// `matrix_fill`: every element of an accumulator becomes `value`
    /// (`f32`).
    Fill {
        /// The accumulator.
        matrix: MatrixId,
        /// The `f32` value.
        value: Expr,
    },
    /// `matrix_load_a/b[_col_major]::<T, M, N, K>(&buf, offset, stride[,
    /// rows, cols])`:
    /// every element `(r, c)` from `buf[offset + layout.index(r, c,
    /// stride)]`, of the matrix's element type; an element out of range
    /// (unless unchecked) reads 0. `buf` is a buffer parameter or a shared
    /// array.
    Load {
        /// The matrix written.
        matrix: MatrixId,
        /// Where from.
        buf: BufRef,
        /// `u32` index of element `(0, 0)`.
        offset: Expr,
        /// `u32` distance between rows (row-major) or columns.
        stride: Expr,
        /// Row- or column-major.
        layout: MatrixLayout,
        /// Only the first `rows × cols` elements are loaded; the others
        /// read 0 (`None`: the whole tile).
        clip: Option<MatrixClip>,
    },
    /// `matrix_store[_col_major](&mut buf, offset, stride, c[, rows,
    /// cols])`: every
    /// element `(r, c)` to `buf[offset + layout.index(r, c, stride)]`,
    /// converted to the buffer's element type (`f32`, `f16` or `bf16`) as by
    /// `as`; an element out of range (unless unchecked) is dropped. `buf`
    /// is a read-write buffer parameter or a shared array.
    Store {
        /// The matrix read.
        matrix: MatrixId,
        /// Where to.
        buf: BufRef,
        /// `u32` index of element `(0, 0)`.
        offset: Expr,
        /// `u32` distance between rows (row-major) or columns.
        stride: Expr,
        /// Row- or column-major.
        layout: MatrixLayout,
        /// Only the first `rows × cols` elements are stored; the others
        /// leave memory untouched (`None`: the whole tile).
        clip: Option<MatrixClip>,
    },
    /// `d = matrix_mma(a, b, c)`: `d[i][j] = c[i][j] + Σₖ a[i][k] · b[k][j]`
    /// in `f32`. The reference adds the exact products to `c[i][j]` in
    /// order of `k`, rounding each sum to nearest even; targets may sum in
    /// another order and with other intermediate rounding (tensor cores
    /// do), which `docs/language.md` bounds. `d` may be `c`.
    MultiplyAdd {
        /// The accumulator written.
        d: MatrixId,
        /// The `A` operand.
        a: MatrixId,
        /// The `B` operand.
        b: MatrixId,
        /// The accumulator read.
        c: MatrixId,
    },
    /// `d = warpgroup_mma(&ta, a_offset, a_stride, &tb, b_offset, b_stride,
    /// c)`: `d[i][j] = c[i][j] + Σₖ A[i][k] · B[k][j]` like
    /// [`MatrixOp::MultiplyAdd`] (same reference order and rounding), for
    /// warpgroup accumulators `d` and `c` of shape `64 × n × k`, with the
    /// `64 × k` tile `A` and the `k × n` tile `B` read from shared arrays
    /// of one element type (`f16` or `bf16`) when the statement runs. An
    /// element out of its array (unless unchecked) reads 0. Targets read
    /// the tiles with `wgmma.mma_async` when both arrays are
    /// [`super::SharedLayout::Swizzled`] with `stride` their row length and
    /// the tiles start on whole swizzle rows (`A` on a column multiple of
    /// 16, `B` of 64, both on a row multiple of 8), else piece by piece.
    ///
    /// `warpgroup_mma_async(..)` is the same multiply, `asynchronous`: it
    /// may still be running until the next [`MatrixOp::WarpgroupWait`] of
    /// the warpgroup, so that the invocations can issue other work (the
    /// next copies) meanwhile. Until then, reading or writing `d` or `c`,
    /// or writing an element of either tile, is a data race, exactly as
    /// for an asynchronous copy's destination. The reference multiplies at
    /// once.
    ///
    /// `A` may instead be a warpgroup accumulator
    /// ([`WarpgroupOperand::Accumulator`], `warpgroup_mma(p, &tb, ..)`), and
    /// `B` column-major (`warpgroup_mma_t`: the transpose of a row-major
    /// `n × k` tile).
    WarpgroupMultiplyAdd {
        /// The accumulator written.
        d: MatrixId,
        /// The `64 × k` left operand.
        a: WarpgroupOperand,
        /// The `k × n` right operand.
        b: SharedTile,
        /// The accumulator read.
        c: MatrixId,
        /// May complete as late as the next [`MatrixOp::WarpgroupWait`].
        asynchronous: bool,
    },
    /// `warpgroup_wait()`: every asynchronous warpgroup multiply this
    /// warpgroup issued has completed (collective over the warpgroup; a
    /// no-op where none is running). `warpgroup_wait(n)`: all but the `n`
    /// most recently issued ones have, so that the next multiply can start
    /// while the last `n` run (their `d`, `c` and tiles stay off limits;
    /// a later multiply into the same accumulator is ordered after them).
    /// The reference multiplies at once, so for it every wait is a no-op.
    WarpgroupWait {
        /// How many of the most recent asynchronous multiplies may still
        /// be running, `0..=MAX_PENDING_WARPGROUP_MULTIPLIES`.
        pending: u32,
    },
    /// `d = matrix_map(src, |row, col, value| expr)`: every element
    /// `d[r][c]` of a warpgroup accumulator becomes `expr` (`f32`)
    /// evaluated with the locals `row = r`, `col = c` (`u32`) and
    /// `value = src[r][c]` (`f32`), which the statement defines. `d` and
    /// `src` have one shape (`d` may be `src`).
    ///
    /// `expr` is pure: literals, parameters, buffer lengths, the
    /// `workgroup_id`/`num_workgroups` builtins, loads from buffers and
    /// shared arrays, operators, casts, math and `if`; it may name other
    /// locals, which must hold one value across the warpgroup (like a
    /// tile's offset; the reference checks). Targets evaluate it where
    /// the element lives, so it is how attention scales, masks and
    /// exponentiates a score tile without leaving registers.
    Map {
        /// The accumulator written.
        d: MatrixId,
        /// The accumulator read.
        src: MatrixId,
        /// `u32` local: the element's row.
        row: super::LocalId,
        /// `u32` local: the element's column.
        col: super::LocalId,
        /// `f32` local: the element's value in `src`.
        value: super::LocalId,
        /// The new value.
        expr: Expr,
    },
    /// `matrix_row_max(&mut dst, offset, src)` / `matrix_row_sum(..)`:
    /// `dst[offset + r]` becomes the maximum (from `-inf`, by `f32::max`)
    /// or the sum (from `0.0`, left to right in `c`, each sum rounded) of
    /// row `r` of warpgroup accumulator `src`, for every `r < 64`; an
    /// element out of the array (unless unchecked) is dropped. Targets
    /// may sum in another order. `dst` is an `f32` shared array; the
    /// values are visible to the warpgroup's later matrix statements
    /// (a `matrix_map` reading them), and to other reads after a
    /// `barrier()`.
    RowReduce {
        /// Maximum or sum.
        op: RowReduceOp,
        /// The accumulator read.
        src: MatrixId,
        /// The `f32` shared array written.
        dst: SharedId,
        /// `u32` index of row 0's value.
        offset: Expr,
    },
}

impl MatrixOp {
    /// The expressions the statement evaluates, in order.
    #[must_use]
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Self::Fill { value, .. } => vec![value],
            Self::Load {
                offset,
                stride,
                clip,
                ..
            }
            | Self::Store {
                offset,
                stride,
                clip,
                ..
            } => {
                let mut v = vec![offset, stride];
                if let Some(clip) = clip {
                    v.push(&clip.rows);
                    v.push(&clip.cols);
                }
                v
            }
            Self::MultiplyAdd { .. } => vec![],
            Self::WarpgroupMultiplyAdd { a, b, .. } => {
                let mut v = a.exprs();
                v.extend([&b.offset, &b.stride]);
                v
            }
            Self::WarpgroupWait { .. } => vec![],
            Self::Map { expr, .. } => vec![expr],
            Self::RowReduce { offset, .. } => vec![offset],
        }
    }

    /// The same statement with every expression replaced by `f` of it.
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Self {
        match self {
            Self::Fill { matrix, value } => Self::Fill {
                matrix,
                value: f(value),
            },
            Self::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let offset = f(offset);
                let stride = f(stride);
                Self::Load {
                    matrix,
                    buf,
                    offset,
                    stride,
                    layout,
                    clip: clip.map(|c| c.map_exprs(f)),
                }
            }
            Self::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let offset = f(offset);
                let stride = f(stride);
                Self::Store {
                    matrix,
                    buf,
                    offset,
                    stride,
                    layout,
                    clip: clip.map(|c| c.map_exprs(f)),
                }
            }
            op @ Self::MultiplyAdd { .. } => op,
            Self::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous,
            } => {
                let a = a.map_exprs(f);
                let b = b.map_exprs(f);
                Self::WarpgroupMultiplyAdd {
                    d,
                    a,
                    b,
                    c,
                    asynchronous,
                }
            }
            op @ Self::WarpgroupWait { .. } => op,
            Self::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => Self::Map {
                d,
                src,
                row,
                col,
                value,
                expr: f(expr),
            },
            Self::RowReduce {
                op,
                src,
                dst,
                offset,
            } => Self::RowReduce {
                op,
                src,
                dst,
                offset: f(offset),
            },
        }
    }
}

impl SharedTile {
    /// The same tile with both expressions replaced by `f` of them (offset
    /// first).
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Self {
        let offset = f(self.offset);
        let stride = f(self.stride);
        Self {
            array: self.array,
            offset,
            stride,
            layout: self.layout,
        }
    }
}

/// A dimension of a tile copy's source matrix ([`AsyncOp::Tile`]): fixed
/// for a launch, so that the launcher can build the copy's tensor map from
/// it before the kernel runs, and the kernel can read it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileDim {
    /// The value of a `u32` scalar parameter.
    Param(ParamId),
    /// A constant.
    Const(u32),
    /// Rows only: every row the source buffer holds, `src.len() / cols`
    /// (written so in the language).
    Fill,
}

impl TileDim {
    /// The dimension as an expression of the kernel, for source buffer
    /// `src` whose matrix has `cols` columns (what [`TileDim::Fill`]
    /// divides by).
    #[must_use]
    pub fn expr(self, src: ParamId, cols: &Expr) -> Expr {
        match self {
            Self::Param(p) => Expr::param(p),
            Self::Const(v) => Expr::u32(v),
            Self::Fill => Expr::Binary(
                crate::ir::BinOp::Div,
                Box::new(Expr::Len(src)),
                Box::new(cols.clone()),
            ),
        }
    }

    /// The dimension's value for a launch: `param(i)` is the value of
    /// parameter `i`, `len` the source buffer's length in elements and
    /// `cols` the matrix's columns (for [`TileDim::Fill`]; `x / 0` is 0, as
    /// in the kernel). `None` when `param` has no such value.
    #[must_use]
    pub fn value(self, param: &dyn Fn(ParamId) -> Option<u32>, len: u64, cols: u64) -> Option<u64> {
        match self {
            Self::Param(p) => param(p).map(u64::from),
            Self::Const(v) => Some(u64::from(v)),
            Self::Fill => Some(len.checked_div(cols).unwrap_or(0)),
        }
    }
}

/// An asynchronous copy statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsyncOp {
    /// `async_copy(&mut tile, dst_index, &src, src_index, count)`: copy
    /// `src[src_index + i]` to `tile[dst_index + i]` for `i < count`,
    /// without waiting for it. `count` elements are 4, 8 or 16 bytes and
    /// both indices are multiples of `count` (proven or checked, like
    /// `load4`); an element out of `src`'s range (unless unchecked) copies
    /// 0 and one out of the tile's range is dropped. The copy belongs to the
    /// group the next [`AsyncOp::Commit`] closes; reading or writing the
    /// destination before that group is waited for is a data race. The
    /// reference copies at once.
    Copy {
        /// A shared array.
        dst: SharedId,
        /// `u32` index of the first element written.
        dst_index: Expr,
        /// A buffer parameter of the same element type.
        src: ParamId,
        /// `u32` index of the first element read.
        src_index: Expr,
        /// Elements copied: 1, 2, 4, 8 or 16, for 4, 8 or 16 bytes.
        count: u32,
    },
    /// `async_copy_tile(&mut tile, dst_index, &src, rows, cols, row, col,
    /// BOX_ROWS, BOX_COLS)`: copy a `BOX_ROWS x BOX_COLS` box of `src`,
    /// viewed as a row-major matrix of `cols` columns and `min(rows,
    /// src.len() / cols)` rows (none when `cols` is 0), from its element
    /// `(row, col)` on, into the tile: element `(r, c)` of the box goes to
    /// `tile[dst_index + r * C + c]`, `C` being the tile's `cols`. Box
    /// elements outside the matrix copy 0, and those whose destination is
    /// past the tile's end are dropped (all arithmetic exact, without
    /// wrapping). The tile is a [`super::SharedLayout::Swizzled`] array of
    /// `src`'s element type.
    ///
    /// The statement is *collective*: the whole workgroup executes it, in
    /// uniform control flow and with the same operands, and it belongs to
    /// the group the next [`AsyncOp::Commit`] closes, like
    /// [`AsyncOp::Copy`]. On Hopper (`sm_90`) one invocation issues it as
    /// TMA copies (`cp.async.bulk.tensor`, one per 128-byte column panel of
    /// the box) on a tensor map the launcher builds from `src`, `rows` and
    /// `cols`; elsewhere [`crate::mid::tile`] rewrites it into a loop of
    /// element copies shared by the workgroup's invocations.
    Tile {
        /// A swizzled shared array.
        dst: SharedId,
        /// `u32` index of the box's first element in the tile.
        dst_index: Expr,
        /// A buffer parameter of the tile's element type.
        src: ParamId,
        /// Rows of the source matrix (at most `src.len() / cols` count).
        rows: TileDim,
        /// Columns (and row length) of the source matrix; never
        /// [`TileDim::Fill`].
        cols: TileDim,
        /// `u32` row of the box's first element in the source matrix.
        row: Expr,
        /// `u32` column of the box's first element in the source matrix.
        col: Expr,
        /// Rows of the box: a multiple of 8, at most 256.
        box_rows: u32,
        /// Columns of the box: a multiple of the tile's 128-byte panel
        /// width, at most the tile's `cols`.
        box_cols: u32,
    },
    /// `async_commit()`: close the group of this invocation's copies issued
    /// since the previous commit.
    Commit,
    /// `async_wait(pending)`: wait until at most `pending` of this
    /// invocation's committed groups are still in flight. Other invocations'
    /// copies become visible after a `barrier()` that follows their wait.
    Wait {
        /// Groups that may still be in flight.
        pending: u32,
    },
}

impl AsyncOp {
    /// The expressions the statement evaluates, in order.
    #[must_use]
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Self::Copy {
                dst_index,
                src_index,
                ..
            } => vec![dst_index, src_index],
            Self::Tile {
                dst_index,
                row,
                col,
                ..
            } => vec![dst_index, row, col],
            Self::Commit | Self::Wait { .. } => vec![],
        }
    }

    /// The same statement with every expression replaced by `f` of it.
    #[must_use]
    pub fn map_exprs(self, f: &mut dyn FnMut(Expr) -> Expr) -> Self {
        match self {
            Self::Copy {
                dst,
                dst_index,
                src,
                src_index,
                count,
            } => Self::Copy {
                dst,
                dst_index: f(dst_index),
                src,
                src_index: f(src_index),
                count,
            },
            Self::Tile {
                dst,
                dst_index,
                src,
                rows,
                cols,
                row,
                col,
                box_rows,
                box_cols,
            } => Self::Tile {
                dst,
                dst_index: f(dst_index),
                src,
                rows,
                cols,
                row: f(row),
                col: f(col),
                box_rows,
                box_cols,
            },
            op => op,
        }
    }

    /// Whether `count` elements of `elem` are a size one copy can move (4,
    /// 8 or 16 bytes).
    #[must_use]
    pub const fn is_copy_size(elem: DataType, count: u32) -> bool {
        matches!(elem.size_bytes() * count, 4 | 8 | 16) && count.is_power_of_two()
    }

    /// Most rows of a tile copy's box (the TMA box limit).
    pub const MAX_TILE_ROWS: u32 = 256;
}
