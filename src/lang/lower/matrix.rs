//! Pass 1 for matrix (tensor-core) operations and asynchronous copies.
//!
//! A matrix is a variable of its own kind ([`Bind::Matrix`]): declared by a
//! `let` whose value is a matrix operation or whose type is
//! `MatrixA<T, M, N, K>` / `MatrixB<..>` / `MatrixAcc<f32, ..>` /
//! `WarpgroupAcc<f32, 64, N, K>`, assigned from matrix operations, and read
//! only by `matrix_mma`, `warpgroup_mma`, `matrix_map`, `matrix_row_max`,
//! `matrix_row_sum` and `matrix_store`. A warpgroup accumulator
//! ([`MatrixScope::Warpgroup`]) is made by `warpgroup_zero`,
//! `warpgroup_fill`, `warpgroup_mma` (`_t`, `_async`) and `matrix_map`
//! only, and a subgroup matrix never by them. A `matrix_map` closure's
//! parameters are fresh immutable locals that only its body sees. Its role, element type and shape are constants of the
//! source, so they are checked here, with the positions of the generic
//! arguments and operands; pass 2 checks the types of the offsets, strides,
//! indices and fill values. Each `let` declares one [`MatrixDecl`] (named
//! like a private array: unique, shadowing like locals), whose statement is
//! the operation that gives it its value.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::expr::{strip_group, strip_ref};
use super::infer::Ty;
use super::stmt::Kx;
use super::tree::{Bind, Cx, FAsync, FExpr, FK, FMat, FMatrix, FOperand, FS, FStmt, FTile, Loc};
use crate::ir::{
    AsyncOp, BinOp, BufRef, Builtin, DataType, Literal, LocalId, MatrixDecl, MatrixId,
    MatrixLayout, MatrixRole, MatrixScope, MatrixShape, Param, ParamId, RowReduceOp, SharedId,
    TileDim,
};

/// A builtin function of matrices and asynchronous copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatFn {
    /// `matrix_load_a` (`_b`, `_acc`, each also `_col_major`).
    Load(MatrixRole, MatrixLayout),
    /// `matrix_zero::<f32, M, N, K>()`.
    Zero,
    /// `matrix_fill::<f32, M, N, K>(v)`.
    Fill,
    /// `matrix_mma(a, b, c)`.
    Mma,
    /// `matrix_store` (`_col_major`).
    Store(MatrixLayout),
    /// `async_copy(&mut tile, i, &src, j, COUNT)`.
    Copy,
    /// `async_copy_tile(&mut tile, i, &src, rows, cols, row, col, BOX_ROWS,
    /// BOX_COLS)`.
    Tile,
    /// `async_commit()`.
    Commit,
    /// `async_wait(N)`.
    Wait,
    /// `warpgroup_zero::<f32, 64, N, K>()`.
    WgZero,
    /// `warpgroup_fill::<f32, 64, N, K>(v)`.
    WgFill,
    /// `warpgroup_mma(&ta, a_offset, a_stride, &tb, b_offset, b_stride, c)`
    /// or `warpgroup_mma(p, &tb, b_offset, b_stride, c)`: B's layout
    /// (column-major for `warpgroup_mma_t`) and whether it is
    /// `_async` (`true`).
    WgMma(MatrixLayout, bool),
    /// `warpgroup_wait()`.
    WgWait,
    /// `matrix_map(src, |row, col, value| expr)`.
    Map,
    /// `matrix_row_max(&mut dst, offset, src)` or `matrix_row_sum(..)`.
    RowReduce(RowReduceOp),
}

use MatrixLayout::{ColMajor, RowMajor};
use MatrixRole::{A, Accumulator, B};

/// Every matrix and copy function, by name.
const MATRIX_FNS: [(&str, MatFn); 25] = [
    ("matrix_load_a", MatFn::Load(A, RowMajor)),
    ("matrix_load_a_col_major", MatFn::Load(A, ColMajor)),
    ("matrix_load_b", MatFn::Load(B, RowMajor)),
    ("matrix_load_b_col_major", MatFn::Load(B, ColMajor)),
    ("matrix_load_acc", MatFn::Load(Accumulator, RowMajor)),
    (
        "matrix_load_acc_col_major",
        MatFn::Load(Accumulator, ColMajor),
    ),
    ("matrix_zero", MatFn::Zero),
    ("matrix_fill", MatFn::Fill),
    ("matrix_mma", MatFn::Mma),
    ("matrix_store", MatFn::Store(RowMajor)),
    ("matrix_store_col_major", MatFn::Store(ColMajor)),
    ("async_copy", MatFn::Copy),
    ("async_copy_tile", MatFn::Tile),
    ("async_commit", MatFn::Commit),
    ("async_wait", MatFn::Wait),
    ("warpgroup_zero", MatFn::WgZero),
    ("warpgroup_fill", MatFn::WgFill),
    ("warpgroup_mma", MatFn::WgMma(RowMajor, false)),
    ("warpgroup_mma_async", MatFn::WgMma(RowMajor, true)),
    ("warpgroup_mma_t", MatFn::WgMma(ColMajor, false)),
    ("warpgroup_mma_t_async", MatFn::WgMma(ColMajor, true)),
    ("warpgroup_wait", MatFn::WgWait),
    ("matrix_map", MatFn::Map),
    ("matrix_row_max", MatFn::RowReduce(RowReduceOp::Max)),
    ("matrix_row_sum", MatFn::RowReduce(RowReduceOp::Add)),
];

/// The operations that give a matrix its value, for diagnostics.
const PRODUCERS: &str = "`matrix_load_a`, `matrix_load_b`, `matrix_load_acc` (each also `_col_major`), `matrix_zero`, `matrix_fill` or `matrix_mma` (for a warpgroup accumulator: `warpgroup_zero`, `warpgroup_fill`, `warpgroup_mma` or `matrix_map`)";

impl MatFn {
    /// The function called `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        MATRIX_FNS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The function's name in source.
    pub(crate) fn name(self) -> &'static str {
        MATRIX_FNS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("matrix_mma", |(n, _)| n)
    }

    /// Whether it makes a matrix (the value of a `let` or an assignment)
    /// rather than being a statement.
    fn produces(self) -> bool {
        matches!(
            self,
            Self::Load(..)
                | Self::Zero
                | Self::Fill
                | Self::Mma
                | Self::WgZero
                | Self::WgFill
                | Self::WgMma(..)
                | Self::Map
        )
    }

    /// Who holds the matrix it makes.
    fn scope(self) -> MatrixScope {
        match self {
            Self::WgZero | Self::WgFill | Self::WgMma(..) | Self::Map => MatrixScope::Warpgroup,
            _ => MatrixScope::Subgroup,
        }
    }

    /// The role of the matrix it makes.
    fn role(self) -> MatrixRole {
        match self {
            Self::Load(r, _) => r,
            _ => Accumulator,
        }
    }

    /// How it is called.
    fn form(self) -> String {
        let n = self.name();
        match self {
            Self::Load(A, _) => format!("`let a = {n}::<bf16, M, N, K>(&buf, offset, stride);`"),
            Self::Load(B, _) => format!("`let b = {n}::<bf16, M, N, K>(&buf, offset, stride);`"),
            Self::Load(Accumulator, _) => {
                format!("`let mut c = {n}::<f32, M, N, K>(&buf, offset, stride);`")
            }
            Self::Zero => "`let mut c = matrix_zero::<f32, M, N, K>();`".into(),
            Self::Fill => "`let mut c = matrix_fill::<f32, M, N, K>(value);`".into(),
            Self::Mma => "`c = matrix_mma(a, b, c);` or `let d = matrix_mma(a, b, c);`".into(),
            Self::Store(_) => format!("`{n}(&mut buf, offset, stride, c);`"),
            Self::Copy => "`async_copy(&mut tile, tile_index, &src, src_index, COUNT);`".into(),
            Self::Tile => "`async_copy_tile(&mut tile, tile_index, &src, rows, cols, row, col, BOX_ROWS, BOX_COLS);` (`rows`, `cols`: `u32` parameters giving `src`'s shape)".into(),
            Self::Commit => "`async_commit();`".into(),
            Self::Wait => "`async_wait(N);`".into(),
            Self::WgZero => "`let mut c = warpgroup_zero::<f32, 64, N, K>();`".into(),
            Self::WgFill => "`let mut c = warpgroup_fill::<f32, 64, N, K>(value);`".into(),
            Self::WgMma(RowMajor, _) => format!(
                "`c = {n}(&ta, a_offset, a_stride, &tb, b_offset, b_stride, c);` (`ta`, `tb`: `#[shared]` arrays of `f16` or `bf16`) or `c = {n}(p, &tb, b_offset, b_stride, c);` (A from the warpgroup accumulator `p`, 64 x k)"
            ),
            Self::WgMma(ColMajor, _) => format!(
                "`c = {n}(&ta, a_offset, a_stride, &tb, b_offset, b_stride, c);` or `c = {n}(p, &tb, b_offset, b_stride, c);`, B being the transpose of the row-major n x k tile at `b_offset` (`ta`, `tb`: `#[shared]` arrays of `f16` or `bf16`; `p`: a warpgroup accumulator, 64 x k)"
            ),
            Self::WgWait => "`warpgroup_wait();` or `warpgroup_wait(N);`".into(),
            Self::Map => "`d = matrix_map(src, |row, col, value| expr);` or `let d = matrix_map(src, |row, col, value| expr);` (`src`: a warpgroup accumulator; `row`, `col`: `u32`, `value`: `f32`; `expr`: the new `f32` element)".into(),
            Self::RowReduce(_) => format!(
                "`{n}(&mut dst, offset, acc);` (`dst`: a `#[shared]` array of `f32`; `acc`: a warpgroup accumulator)"
            ),
        }
    }

    /// Whether `n` (value) arguments are a form it has: its
    /// [`MatFn::arity`], or for loads and stores also two more, the
    /// `rows, cols` of a clip.
    fn takes(self, n: usize) -> bool {
        n == self.arity()
            || (matches!(self, Self::Load(..) | Self::Store(_)) && n == self.arity() + 2)
            || (matches!(self, Self::WgWait) && n == 1)
            || (matches!(self, Self::WgMma(..)) && n == 5)
    }

    /// The argument counts it takes, for diagnostics: `3 or 5`.
    fn counts(self) -> String {
        match self {
            Self::Load(..) | Self::Store(_) => {
                format!(
                    "{} (or {} with a clip's `rows, cols`)",
                    self.arity(),
                    self.arity() + 2
                )
            }
            Self::WgMma(..) => "7 (or 5 with A from a warpgroup accumulator)".into(),
            Self::WgWait => "0 or 1".into(),
            _ => self.arity().to_string(),
        }
    }

    /// Its number of (value) arguments (without a clip).
    fn arity(self) -> usize {
        match self {
            Self::Zero | Self::Commit | Self::WgZero | Self::WgWait => 0,
            Self::Fill | Self::Wait | Self::WgFill => 1,
            Self::Map => 2,
            Self::Load(..) | Self::Mma | Self::RowReduce(_) => 3,
            Self::Store(_) => 4,
            Self::Copy => 5,
            Self::Tile => 9,
            Self::WgMma(..) => 7,
        }
    }
}

/// The matrix or copy function `func` names, with its generic arguments
/// (`matrix_load_a::<bf16, 16, 8, 16>`).
pub(crate) fn matrix_fn(
    func: &syn::Expr,
) -> Option<(MatFn, Option<&syn::AngleBracketedGenericArguments>)> {
    let syn::Expr::Path(p) = strip_group(func) else {
        return None;
    };
    if p.qself.is_some() || p.path.leading_colon.is_some() || p.path.segments.len() != 1 {
        return None;
    }
    let seg = &p.path.segments[0];
    let f = MatFn::from_name(&seg.ident.unraw().to_string())?;
    match &seg.arguments {
        syn::PathArguments::None => Some((f, None)),
        syn::PathArguments::AngleBracketed(a) => Some((f, Some(a))),
        syn::PathArguments::Parenthesized(_) => None,
    }
}

/// The role and scope a matrix type names (`MatrixA<..>`,
/// `WarpgroupAcc<..>`), with its generic arguments (`None`: written without
/// them).
pub(crate) fn matrix_type(
    t: &syn::Type,
) -> Option<(
    MatrixRole,
    MatrixScope,
    Option<&syn::AngleBracketedGenericArguments>,
)> {
    let syn::Type::Path(p) = super::file::strip_type_paren(t) else {
        return None;
    };
    if p.qself.is_some() || p.path.segments.len() != 1 {
        return None;
    }
    let seg = &p.path.segments[0];
    let (role, scope) = match seg.ident.to_string().as_str() {
        "MatrixA" => (A, MatrixScope::Subgroup),
        "MatrixB" => (B, MatrixScope::Subgroup),
        "MatrixAcc" => (Accumulator, MatrixScope::Subgroup),
        "WarpgroupAcc" => (Accumulator, MatrixScope::Warpgroup),
        _ => return None,
    };
    match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => Some((role, scope, Some(a))),
        _ => Some((role, scope, None)),
    }
}

/// The type of a matrix as written in source: `MatrixA<bf16, 64, 64, 16>`,
/// `WarpgroupAcc<f32, 64, 128, 64>`.
pub(crate) fn type_text(m: &MatrixDecl) -> String {
    let s = m.shape;
    format!(
        "{}<{}, {}, {}, {}>",
        matrix_kind(m.role, m.scope),
        m.elem,
        s.m,
        s.n,
        s.k
    )
}

/// `an A matrix`, `a B matrix`, `an accumulator`.
fn role_text(role: MatrixRole) -> &'static str {
    match role {
        A => "an A matrix",
        B => "a B matrix",
        Accumulator => "an accumulator",
    }
}

/// The message for a matrix variable used as a value.
pub(crate) fn not_a_value(name: &str) -> String {
    format!(
        "`{name}` is a matrix; matrices are used only by `matrix_mma` and `matrix_store` (warpgroup accumulators by `warpgroup_mma`, `matrix_map`, `matrix_row_max`, `matrix_row_sum` and `matrix_store`), and assigned from {PRODUCERS}"
    )
}

/// The message for a matrix function called inside an expression.
pub(crate) fn call_in_expr(f: MatFn) -> String {
    if f.produces() {
        format!(
            "`{}` makes a matrix, which is not a value: it may only be the whole value of a `let` or of an assignment to a matrix, e.g. {}",
            f.name(),
            f.form()
        )
    } else {
        format!(
            "`{}` is a statement; it cannot be used inside an expression: {}",
            f.name(),
            f.form()
        )
    }
}

/// What a matrix operation produces, before it is given its matrix.
struct Produced<'f> {
    f: MatFn,
    /// Element type and shape from the generic arguments (or, for
    /// `matrix_mma`, the accumulator operand), when known.
    spec: Option<(DataType, MatrixShape)>,
    op: Pending<'f>,
    /// The call.
    at: Loc<'f>,
}

/// The operation of a [`Produced`].
enum Pending<'f> {
    Fill(FExpr<'f>),
    Load {
        buf: BufRef,
        elem: Ty,
        buf_at: &'f syn::Expr,
        offset: FExpr<'f>,
        stride: FExpr<'f>,
        layout: MatrixLayout,
        /// Boxed: the clip would make this variant much the largest.
        clip: Option<Box<(FExpr<'f>, FExpr<'f>)>>,
    },
    Mma {
        a: MatrixId,
        b: MatrixId,
        c: MatrixId,
    },
    WgMma {
        a: FOperand<'f>,
        /// A's argument, where an error about it points.
        a_at: &'f syn::Expr,
        b: FTile<'f>,
        c: MatrixId,
        asynchronous: bool,
    },
    Map {
        src: MatrixId,
        row: LocalId,
        col: LocalId,
        value: LocalId,
        expr: FExpr<'f>,
    },
}

impl<'f> Kx<'_, 'f> {
    /// The declaration of matrix `id`.
    fn matrix(&self, id: MatrixId) -> Option<&MatrixDecl> {
        self.matrices.get(id as usize).map(|m| &m.decl)
    }

    /// `MatrixA<bf16, 64, 64, 16>` of matrix `id`.
    fn matrix_type_of(&self, id: MatrixId) -> String {
        self.matrix(id).map_or_else(String::new, type_text)
    }

    /// Declare matrix `name` and bind it in the current scope.
    fn declare_matrix(
        &mut self,
        name: &str,
        (role, scope): (MatrixRole, MatrixScope),
        (elem, shape): (DataType, MatrixShape),
        mutable: bool,
        span: Span,
    ) -> MatrixId {
        let mname = self.array_name(name);
        self.matrices.push(FMatrix {
            decl: MatrixDecl {
                name: mname,
                role,
                elem,
                shape,
                scope,
            },
            mutable,
            span,
        });
        let id = (self.matrices.len() - 1) as MatrixId;
        self.bind(name, Bind::Matrix(id));
        id
    }

    /// The `<T, M, N, K>` of a matrix type or call making a matrix of
    /// `role` held by `scope`: the element type and the multiply's shape,
    /// checked.
    fn matrix_args(
        &mut self,
        what: &str,
        (role, scope): (MatrixRole, MatrixScope),
        args: &'f syn::AngleBracketedGenericArguments,
    ) -> Option<(DataType, MatrixShape)> {
        let t = if role == Accumulator { "f32" } else { "bf16" };
        let m = if scope == MatrixScope::Warpgroup {
            "64"
        } else {
            "M"
        };
        let n = args.args.len();
        if n != 4 {
            self.err(
                Loc::Span(angle_span(args)),
                format!(
                    "`{what}` takes 4 generic arguments, the element type and the shape (m, n, k) of the multiply: `<{t}, {m}, N, K>`, but {n} {} given",
                    if n == 1 { "was" } else { "were" }
                ),
            );
            return None;
        }
        let elem = self.matrix_elem(role, &args.args[0]);
        let mut dims = [0u32; 3];
        let mut ok = elem.is_some();
        for (i, d) in dims.iter_mut().enumerate() {
            match self.matrix_dim(&args.args[i + 1], ["M", "N", "K"][i]) {
                Some(v) => *d = v,
                None => ok = false,
            }
        }
        let shape = MatrixShape {
            m: dims[0],
            n: dims[1],
            k: dims[2],
        };
        if ok && scope == MatrixScope::Warpgroup && !scope.supports(shape) {
            self.err(
                Loc::Span(angle_span(args)),
                format!(
                    "the warpgroup accumulator shape m = {}, n = {}, k = {} is not supported: m must be {}, n a multiple of 8 up to {} and k a multiple of 16 up to {} (Hopper's `wgmma.m64nNk16`)",
                    shape.m,
                    shape.n,
                    shape.k,
                    MatrixScope::WARPGROUP_M,
                    MatrixScope::WARPGROUP_MAX_N,
                    MatrixScope::WARPGROUP_MAX_K
                ),
            );
            return None;
        }
        if ok && scope == MatrixScope::Subgroup && !shape.is_supported() {
            self.err(
                Loc::Span(angle_span(args)),
                format!(
                    "the matrix shape m = {}, n = {}, k = {} is not supported: m must be a multiple of 16, n of 8 and k of 16 (tiles of the hardware's m16n8k16), with at most {} elements in each of A (m x k), B (k x n) and the accumulator (m x n)",
                    shape.m,
                    shape.n,
                    shape.k,
                    MatrixShape::MAX_ELEMENTS
                ),
            );
            return None;
        }
        Some((elem?, shape)).filter(|_| ok)
    }

    /// The element type argument of a matrix of `role`.
    fn matrix_elem(&mut self, role: MatrixRole, arg: &'f syn::GenericArgument) -> Option<DataType> {
        let allowed = if role == Accumulator {
            "`f32`"
        } else {
            "`f16` or `bf16`"
        };
        let syn::GenericArgument::Type(ty) = arg else {
            self.err(
                Loc::Span(arg.span()),
                format!(
                    "the first generic argument of a matrix is its element type: {allowed} for {}",
                    role_text(role)
                ),
            );
            return None;
        };
        let t = match self.fx.scalar_ty(ty) {
            Ok(t) => t,
            Err(m) => {
                self.err(Loc::Span(ty.span()), m);
                return None;
            }
        };
        let ok = match role {
            A | B => matches!(t, DataType::F16 | DataType::BF16),
            Accumulator => t == DataType::F32,
        };
        if !ok {
            self.err(
                Loc::Span(ty.span()),
                format!(
                    "{} holds {allowed} elements, not `{t}` (the operands A and B are `f16` or `bf16`, accumulators `f32`)",
                    role_text(role)
                ),
            );
            return None;
        }
        Some(t)
    }

    /// A shape argument: an integer constant (a literal, a `const`, a const
    /// parameter of the kernel, or `{ expression }` of them).
    fn matrix_dim(&mut self, arg: &'f syn::GenericArgument, letter: &str) -> Option<u32> {
        let at = Loc::Span(arg.span());
        let value = match arg {
            // A bare name parses as a type: `M`, `TILE`.
            syn::GenericArgument::Type(syn::Type::Path(p))
                if p.qself.is_none() && p.path.get_ident().is_some() =>
            {
                let name = p.path.get_ident()?.unraw().to_string();
                match self.fx.const_value(&name) {
                    Some(v) => v?,
                    None if self.lookup(&name).is_some() => {
                        self.err(
                            at,
                            format!("the matrix dimension {letter} must be a constant (an integer literal, a `const` or a const parameter of the kernel), but `{name}` is a run-time value"),
                        );
                        return None;
                    }
                    None if DataType::from_name(&name).is_some() => {
                        self.err(
                            at,
                            format!("the matrix dimension {letter} must be an integer constant, not the type `{name}`"),
                        );
                        return None;
                    }
                    None => {
                        self.err(
                            at,
                            format!(
                                "cannot find the constant `{name}` (the matrix dimension {letter})"
                            ),
                        );
                        return None;
                    }
                }
            }
            syn::GenericArgument::Const(e) => {
                let e = match e {
                    syn::Expr::Block(b) => match b.block.stmts.as_slice() {
                        [syn::Stmt::Expr(inner, None)] => inner,
                        _ => e,
                    },
                    e => e,
                };
                if let Some(n) = self.runtime_name(e) {
                    self.err(
                        at,
                        format!("the matrix dimension {letter} must be a constant (an integer literal, a `const` or a const parameter of the kernel), but `{n}` is a run-time value"),
                    );
                    return None;
                }
                self.fx.eval_const_expr(e, None)?
            }
            _ => {
                self.err(
                    at,
                    format!("the matrix dimension {letter} must be an integer constant (a literal, a `const` or a const parameter of the kernel)"),
                );
                return None;
            }
        };
        match value {
            Literal::U32(v) => Some(v),
            Literal::I32(v) if v >= 0 => Some(v.cast_unsigned()),
            _ => {
                self.err(
                    at,
                    format!("the matrix dimension {letter} must be a non-negative integer constant, but this is `{}`", value.ty()),
                );
                None
            }
        }
    }

    /// A constant argument (`async_copy`'s count, `async_wait`'s groups).
    fn const_u32(&mut self, e: &'f syn::Expr, what: &str) -> Option<u32> {
        if let Some(n) = self.runtime_name(e) {
            self.err(
                e,
                format!("{what} must be a constant (a literal or a `const`), but `{n}` is a run-time value"),
            );
            return None;
        }
        match self.fx.eval_const_expr(e, None)? {
            Literal::U32(v) => Some(v),
            Literal::I32(v) if v >= 0 => Some(v.cast_unsigned()),
            l => {
                self.err(
                    e,
                    format!(
                        "{what} must be a non-negative integer constant, but this is `{}`",
                        l.ty()
                    ),
                );
                None
            }
        }
    }

    /// The buffer parameter or shared array operand of `what` (`&buf`,
    /// `&mut buf` or `buf`).
    fn memory_arg(&mut self, what: &str, e: &'f syn::Expr) -> Option<(BufRef, Ty)> {
        let (buf, elem) = self.buffer_ref(strip_ref(e))?;
        if let BufRef::Private(id) = buf {
            let n = self.private_name(id);
            self.err(
                e,
                format!("`{what}` works on buffer parameters and `#[shared]` arrays, but `{n}` is a private array"),
            );
            return None;
        }
        Some((buf, elem))
    }

    /// A `u32` operand (offset, stride, index).
    fn u32_operand(&mut self, e: &'f syn::Expr, out: &mut Vec<FStmt<'f>>) -> FExpr<'f> {
        let v = self.expr(e, out, Cx::TOP.nested());
        self.vars.unify(v.ty, Ty::K(DataType::U32));
        v
    }

    /// The optional trailing `rows, cols` of a clipped load or store, at
    /// arguments `at` and `at + 1` (the count was checked).
    fn clip_operands(
        &mut self,
        c: &'f syn::ExprCall,
        at: usize,
        out: &mut Vec<FStmt<'f>>,
    ) -> Option<(FExpr<'f>, FExpr<'f>)> {
        if c.args.len() < at + 2 {
            return None;
        }
        let rows = self.u32_operand(&c.args[at], out);
        let cols = self.u32_operand(&c.args[at + 1], out);
        Some((rows, cols))
    }

    /// A matrix operand given by name, of `role`.
    fn matrix_operand(
        &mut self,
        f: MatFn,
        which: &str,
        role: MatrixRole,
        e: &'f syn::Expr,
    ) -> Option<MatrixId> {
        let name = match strip_group(e) {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                p.path.get_ident()?.unraw().to_string()
            }
            _ => {
                self.err(
                    e,
                    format!("`{}` takes matrices by name: {}", f.name(), f.form()),
                );
                return None;
            }
        };
        let id = match self.lookup(&name) {
            Some(Bind::Matrix(id)) => id,
            None => {
                self.unknown_name(&name, e);
                return None;
            }
            Some(_) => {
                self.err(
                    e,
                    format!(
                        "the {which} operand of `{}` is {}, but `{name}` is not a matrix",
                        f.name(),
                        role_text(role)
                    ),
                );
                return None;
            }
        };
        let (has, scope) = self.matrix(id).map(|m| (m.role, m.scope))?;
        if has != role {
            let t = self.matrix_type_of(id);
            self.err(
                e,
                format!(
                    "the {which} operand of `{}` is {}, but `{name}` is {} (`{t}`)",
                    f.name(),
                    role_text(role),
                    role_text(has)
                ),
            );
            return None;
        }
        let t = self.matrix_type_of(id);
        match (f, scope) {
            (MatFn::Mma, MatrixScope::Warpgroup) => {
                self.err(
                    e,
                    format!(
                        "`matrix_mma` works on subgroup matrices, but `{name}` is a warpgroup accumulator (`{t}`); multiply into it with `{name} = warpgroup_mma(&ta, a_offset, a_stride, &tb, b_offset, b_stride, {name});`"
                    ),
                );
                None
            }
            (MatFn::WgMma(..), MatrixScope::Subgroup) if which == "first" => {
                self.err(
                    e,
                    format!(
                        "`{}` reads A from a `#[shared]` array or a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `{name}` is held by a subgroup (`{t}`)",
                        f.name()
                    ),
                );
                None
            }
            (MatFn::WgMma(..), MatrixScope::Subgroup) => {
                self.err(
                    e,
                    format!(
                        "`{}` accumulates into a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `{name}` is held by a subgroup (`{t}`)",
                        f.name()
                    ),
                );
                None
            }
            (MatFn::Map | MatFn::RowReduce(_), MatrixScope::Subgroup) => {
                self.err(
                    e,
                    format!(
                        "`{}` works on warpgroup accumulators (`WarpgroupAcc<f32, 64, N, K>`), but `{name}` is held by a subgroup (`{t}`)",
                        f.name()
                    ),
                );
                None
            }
            _ => Some(id),
        }
    }

    /// An operand tile of `warpgroup_mma`: the `#[shared]` array (`f16` or
    /// `bf16`) at argument `at`, with its offset and stride after it;
    /// returns it with its element type.
    fn shared_tile_operand(
        &mut self,
        (f, c): (MatFn, &'f syn::ExprCall),
        at: usize,
        (which, layout): (&str, MatrixLayout),
        out: &mut Vec<FStmt<'f>>,
    ) -> Option<(FTile<'f>, DataType)> {
        let fname = f.name();
        let mem = self.memory_arg(fname, &c.args[at]);
        let offset = self.u32_operand(&c.args[at + 1], out);
        let stride = self.u32_operand(&c.args[at + 2], out);
        let (buf, elem) = mem?;
        let BufRef::Shared(array) = buf else {
            let bn = self.buf_text(buf);
            self.err(
                &c.args[at],
                format!("`{fname}` reads {which} from a `#[shared]` array, but `{bn}` is a buffer parameter; copy the tile into a shared array first (`async_copy`)"),
            );
            return None;
        };
        let elem = self.vars.resolve(elem)?;
        if !matches!(elem, DataType::F16 | DataType::BF16) {
            let bn = self.buf_text(buf);
            self.err(
                &c.args[at],
                format!("`{fname}` reads {which} from `f16` or `bf16` elements, but `{bn}` holds `{elem}`"),
            );
            return None;
        }
        Some((
            FTile {
                array,
                offset,
                stride,
                layout,
            },
            elem,
        ))
    }

    /// The `A` of a five-argument `warpgroup_mma(p, &tb, ..)`: warpgroup
    /// accumulator `p` of 64 x k for the multiply of accumulator `c`, and
    /// not `c` itself (`d` is checked when it is known).
    fn accumulator_a(
        &mut self,
        f: MatFn,
        e: &'f syn::Expr,
        c: Option<MatrixId>,
    ) -> Option<MatrixId> {
        let fname = f.name();
        if !matches!(strip_group(e), syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some())
        {
            self.err(
                e,
                format!("with 5 arguments, `{fname}` reads A from a warpgroup accumulator, given by name: `c = {fname}(p, &tb, b_offset, b_stride, c);` (A from a `#[shared]` array takes 7 arguments: `&ta, a_offset, a_stride, &tb, ..`)"),
            );
            return None;
        }
        let p = self.matrix_operand(f, "first", Accumulator, e)?;
        let (pm, cm) = (self.matrix(p)?.clone(), self.matrix(c?)?.clone());
        if Some(p) == c {
            self.err(
                e,
                format!("`{fname}` reads A from `{}` and accumulates into it too; A must be another accumulator (copy it first: `let p = matrix_map({}, |r, c, v| v);`)", pm.name, pm.name),
            );
            return None;
        }
        if pm.shape.n != cm.shape.k {
            self.err(
                e,
                format!(
                    "A of `{fname}` is 64 x k for the multiply's k = {} (`{}` is `{}`), but `{}` is 64 x {} (`{}`)",
                    cm.shape.k,
                    cm.name,
                    type_text(&cm),
                    pm.name,
                    pm.shape.n,
                    type_text(&pm)
                ),
            );
            return None;
        }
        Some(p)
    }

    /// The closure of `matrix_map`: its three parameters become fresh
    /// immutable locals (`#[locals]` mode: the declared ones), seen only by
    /// its body, which is one pure `f32` expression.
    fn map_closure(&mut self, e: &'f syn::Expr) -> Option<(LocalId, LocalId, LocalId, FExpr<'f>)> {
        let form = "`|row, col, value| expr` (`row`, `col`: `u32`; `value`: `f32`)";
        let syn::Expr::Closure(cl) = strip_group(e) else {
            self.err(
                e,
                format!("the second argument of `matrix_map` is a closure of the element's row, column and value: {form}"),
            );
            return None;
        };
        let mut ok = true;
        let modifiers: [(Option<Span>, &str); 5] = [
            (cl.lifetimes.as_ref().map(Spanned::span), "`for<..>`"),
            (cl.constness.map(|t| t.span), "`const`"),
            (cl.movability.map(|t| t.span), "`static`"),
            (cl.asyncness.map(|t| t.span), "`async`"),
            (cl.capture.map(|t| t.span), "`move`"),
        ];
        for (sp, what) in modifiers {
            if let Some(sp) = sp {
                self.err(
                    Loc::Span(sp),
                    format!("{what} is not supported on a `matrix_map` closure: write {form}"),
                );
                ok = false;
            }
        }
        if let Some(a) = cl.attrs.first() {
            self.err(a.span(), "a `matrix_map` closure takes no attributes");
            ok = false;
        }
        let bars = cl
            .or1_token
            .span
            .join(cl.or2_token.span)
            .unwrap_or(cl.or1_token.span);
        let n = cl.inputs.len();
        if n != 3 {
            self.err(
                Loc::Span(bars),
                format!("`matrix_map`'s closure takes 3 parameters, the element's row, column and value: {form}, but this one takes {n}"),
            );
            return None;
        }
        if let syn::ReturnType::Type(_, t) = &cl.output {
            match self.fx.scalar_ty(t) {
                Ok(DataType::F32) => {}
                Ok(t2) => {
                    self.err(
                        Loc::Span(t.span()),
                        format!("mismatched types: `matrix_map`'s closure returns the new `f32` element, not `{t2}`"),
                    );
                    ok = false;
                }
                Err(m) => {
                    self.err(Loc::Span(t.span()), m);
                    ok = false;
                }
            }
        }
        let flat = self.base == 0 && self.flat.is_some();
        const ROLES: [(&str, DataType); 3] = [
            ("row", DataType::U32),
            ("column", DataType::U32),
            ("value", DataType::F32),
        ];
        // Each parameter: its name (`None` for `_`) and position.
        let mut params: Vec<(Option<String>, Span)> = Vec::with_capacity(3);
        for (pat, (role, want)) in cl.inputs.iter().zip(ROLES) {
            let (pat, ann) = match pat {
                syn::Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
                p => (p, None),
            };
            let name = match pat {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    if let Some(m) = pi.mutability {
                        self.err(
                            Loc::Span(m.span),
                            "`matrix_map`'s closure parameters are immutable; remove `mut` (copy one into a `let mut` in a helper if needed)",
                        );
                        ok = false;
                    }
                    let name = pi.ident.unraw().to_string();
                    if !flat
                        && params
                            .iter()
                            .any(|(n, _)| n.as_deref() == Some(name.as_str()))
                    {
                        self.err(
                            pi.ident.span(),
                            format!(
                                "`{name}` is bound more than once in this closure's parameters"
                            ),
                        );
                        ok = false;
                    }
                    Some(name)
                }
                syn::Pat::Wild(_) if !flat => None,
                syn::Pat::Wild(_) => {
                    self.err(
                        pat.span(),
                        "in a kernel with `#[locals(...)]`, name every `matrix_map` closure parameter (a declared local)",
                    );
                    ok = false;
                    None
                }
                _ => {
                    self.err(
                        pat.span(),
                        format!("a `matrix_map` closure parameter is a name (or `_`), here the element's {role}"),
                    );
                    ok = false;
                    None
                }
            };
            if let Some(t) = ann {
                match self.fx.scalar_ty(t) {
                    Ok(got) if got == want => {}
                    Ok(got) => {
                        self.err(
                            Loc::Span(t.span()),
                            format!(
                                "mismatched types: `matrix_map`'s {} parameter{} is the element's {role} (`{want}`), not `{got}`",
                                ["first", "second", "third"][params.len()],
                                name.as_ref().map_or_else(String::new, |n| format!(" `{n}`"))
                            ),
                        );
                        ok = false;
                    }
                    Err(m) => {
                        self.err(Loc::Span(t.span()), m);
                        ok = false;
                    }
                }
            }
            params.push((name, pat.span()));
        }
        if !ok {
            return None;
        }
        self.scopes.push(std::collections::HashMap::new());
        let mut ids = [0 as LocalId; 3];
        for (i, ((name, sp), (role, want))) in params.iter().zip(ROLES).enumerate() {
            let loc = Loc::Span(*sp);
            let id = match name {
                // An unnamed parameter still needs its local.
                None => Some(self.new_local(["row", "col", "value"][i], Ty::K(want), false, loc)),
                Some(n) => self.define_local(n, Ty::K(want), false, loc),
            };
            let Some(id) = id else {
                ok = false;
                continue;
            };
            // `#[locals]` mode names declared locals: they must fit.
            let l = &self.locals[id as usize];
            let (lt, mutable, lname) = (self.vars.resolve(l.ty), l.mutable, l.name.clone());
            if lt != Some(want) || mutable {
                self.err(
                    loc,
                    format!(
                        "`{lname}` is `matrix_map`'s {role} parameter, so it is declared `{lname}: {want}` (immutable) in `#[locals(...)]`"
                    ),
                );
                ok = false;
            }
            ids[i] = id;
        }
        let mut pre = Vec::new();
        let body = self.expr(
            &cl.body,
            &mut pre,
            Cx::TOP.no_hoist("in a `matrix_map` closure, which is evaluated once per element"),
        );
        self.scopes.pop();
        self.vars.unify(body.ty, Ty::K(DataType::F32));
        if !pre.is_empty() {
            self.err(
                &*cl.body,
                "a `matrix_map` closure is one expression; compute what needs statements into a `let` before the `matrix_map`",
            );
            ok = false;
        }
        let mut bad = Vec::new();
        map_forbidden(&body, &mut bad);
        for (loc, what) in bad {
            self.err(
                loc,
                format!("{what} in a `matrix_map` closure: it is evaluated where each element lives, not by one invocation, so it may use the row, column and value, locals equal across the warpgroup, parameters, loads and `workgroup_id`"),
            );
            ok = false;
        }
        ok.then_some((ids[0], ids[1], ids[2], body))
    }

    /// Lower a call of a matrix-making function up to the matrix it
    /// writes.
    fn produce(
        &mut self,
        f: MatFn,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        generics: Option<&'f syn::AngleBracketedGenericArguments>,
        out: &mut Vec<FStmt<'f>>,
    ) -> Option<Produced<'f>> {
        let at = Loc::Expr(e);
        let name = f.name();
        if !f.takes(c.args.len()) {
            self.err(
                e,
                format!(
                    "`{name}` takes {} argument(s) but {} {} given: {}",
                    f.counts(),
                    c.args.len(),
                    if c.args.len() == 1 { "was" } else { "were" },
                    f.form()
                ),
            );
            return None;
        }
        let spec = match (f, generics) {
            (MatFn::Mma | MatFn::WgMma(..) | MatFn::Map, Some(g)) => {
                let of = if f == MatFn::Map {
                    "the matrix it maps"
                } else {
                    "its accumulator operand"
                };
                self.err(
                    Loc::Span(angle_span(g)),
                    format!("`{name}` takes no generic arguments: its result has the type of {of}"),
                );
                return None;
            }
            (_, Some(g)) => Some(self.matrix_args(name, (f.role(), f.scope()), g)),
            (_, None) => None,
        };
        let op = match f {
            MatFn::Load(_, layout) => {
                let mem = self.memory_arg(name, &c.args[0]);
                let offset = self.u32_operand(&c.args[1], out);
                let stride = self.u32_operand(&c.args[2], out);
                let clip = self.clip_operands(c, 3, out).map(Box::new);
                let (buf, elem) = mem?;
                Pending::Load {
                    buf,
                    elem,
                    buf_at: &c.args[0],
                    offset,
                    stride,
                    layout,
                    clip,
                }
            }
            MatFn::Zero | MatFn::WgZero => Pending::Fill(FExpr::lit(Literal::f32(0.0), at)),
            MatFn::Fill | MatFn::WgFill => {
                let v = self.expr(&c.args[0], out, Cx::TOP.nested());
                self.vars.unify(v.ty, Ty::K(DataType::F32));
                Pending::Fill(v)
            }
            MatFn::Mma => {
                let ops = [("first", A), ("second", B), ("third", Accumulator)];
                let ids: Vec<Option<MatrixId>> = ops
                    .iter()
                    .zip(&c.args)
                    .map(|((which, role), arg)| self.matrix_operand(f, which, *role, arg))
                    .collect();
                let [Some(a), Some(b), Some(cc)] = ids[..] else {
                    return None;
                };
                let (ma, mb, mc) = (
                    self.matrix(a)?.clone(),
                    self.matrix(b)?.clone(),
                    self.matrix(cc)?.clone(),
                );
                if ma.elem != mb.elem {
                    self.err(
                        e,
                        format!(
                            "mismatched types in `matrix_mma`: `{}` holds `{}` and `{}` holds `{}`; A and B must have one element type",
                            ma.name, ma.elem, mb.name, mb.elem
                        ),
                    );
                    return None;
                }
                if ma.shape != mc.shape || mb.shape != mc.shape {
                    self.err(
                        e,
                        format!(
                            "mismatched shapes in `matrix_mma`: `{}` is `{}`, `{}` is `{}` and `{}` is `{}`; the three take part in one multiply (m, n, k)",
                            ma.name,
                            type_text(&ma),
                            mb.name,
                            type_text(&mb),
                            mc.name,
                            type_text(&mc),
                        ),
                    );
                    return None;
                }
                return Some(Produced {
                    f,
                    spec: Some((mc.elem, mc.shape)),
                    op: Pending::Mma { a, b, c: cc },
                    at,
                });
            }
            MatFn::WgMma(layout, asynchronous) if c.args.len() == 5 => {
                let cc = self.matrix_operand(f, "fifth", Accumulator, &c.args[4]);
                let p = self.accumulator_a(f, &c.args[0], cc);
                let tb = self.shared_tile_operand((f, c), 1, ("B", layout), out);
                let (p, (tb, _), cc) = (p?, tb?, cc?);
                let mc = self.matrix(cc)?.clone();
                return Some(Produced {
                    f,
                    spec: Some((mc.elem, mc.shape)),
                    op: Pending::WgMma {
                        a: FOperand::Accumulator(p),
                        a_at: &c.args[0],
                        b: tb,
                        c: cc,
                        asynchronous,
                    },
                    at,
                });
            }
            MatFn::WgMma(layout, asynchronous) => {
                if let syn::Expr::Path(p) = strip_group(&c.args[0])
                    && let Some(id) = p.path.get_ident()
                    && let Some(Bind::Matrix(_)) = self.lookup(&id.unraw().to_string())
                {
                    self.err(
                        e,
                        format!("with A from the accumulator `{}`, `{name}` takes 5 arguments: `c = {name}({}, &tb, b_offset, b_stride, c);`", id.unraw(), id.unraw()),
                    );
                    return None;
                }
                let ta = self.shared_tile_operand((f, c), 0, ("A", RowMajor), out);
                let tb = self.shared_tile_operand((f, c), 3, ("B", layout), out);
                let cc = self.matrix_operand(f, "seventh", Accumulator, &c.args[6]);
                let ((ta, ea), (tb, eb), cc) = (ta?, tb?, cc?);
                if ea != eb {
                    let (an, bn) = (
                        self.buf_text(BufRef::Shared(ta.array)),
                        self.buf_text(BufRef::Shared(tb.array)),
                    );
                    self.err(
                        e,
                        format!(
                            "mismatched types in `{name}`: `{an}` holds `{ea}` and `{bn}` holds `{eb}`; A and B must have one element type"
                        ),
                    );
                    return None;
                }
                let mc = self.matrix(cc)?.clone();
                return Some(Produced {
                    f,
                    spec: Some((mc.elem, mc.shape)),
                    op: Pending::WgMma {
                        a: FOperand::Shared(ta),
                        a_at: &c.args[0],
                        b: tb,
                        c: cc,
                        asynchronous,
                    },
                    at,
                });
            }
            MatFn::Map => {
                let src = self.matrix_operand(f, "first", Accumulator, &c.args[0]);
                let closure = self.map_closure(&c.args[1]);
                let (src, (row, col, value, expr)) = (src?, closure?);
                let ms = self.matrix(src)?.clone();
                return Some(Produced {
                    f,
                    spec: Some((ms.elem, ms.shape)),
                    op: Pending::Map {
                        src,
                        row,
                        col,
                        value,
                        expr,
                    },
                    at,
                });
            }
            _ => return None,
        };
        let spec = match spec {
            Some(s) => Some(s?),
            None => None,
        };
        Some(Produced { f, spec, op, at })
    }

    /// Give matrix `target` the value `p` made: its statement, after
    /// checking that `p`'s role, element type and shape are the matrix's.
    fn write_matrix(
        &mut self,
        p: Produced<'f>,
        target: MatrixId,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let Some(m) = self.matrix(target).cloned() else {
            return;
        };
        let name = p.f.name();
        let role = p.f.role();
        if role != m.role {
            self.err(
                p.at,
                format!(
                    "`{name}` makes {}, but `{}` is {} (`{}`)",
                    role_text(role),
                    m.name,
                    role_text(m.role),
                    type_text(&m)
                ),
            );
            return;
        }
        if p.f.scope() != m.scope {
            let msg = if m.scope == MatrixScope::Warpgroup {
                format!(
                    "`{name}` works on subgroup matrices, but `{}` is a warpgroup accumulator (`{}`); a warpgroup accumulator gets its value from `warpgroup_zero`, `warpgroup_fill`, `warpgroup_mma` or `matrix_map`",
                    m.name,
                    type_text(&m)
                )
            } else {
                format!(
                    "`{name}` makes a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `{}` is held by a subgroup (`{}`)",
                    m.name,
                    type_text(&m)
                )
            };
            self.err(p.at, msg);
            return;
        }
        if let (MatFn::Map, Some((_, shape))) = (p.f, p.spec) {
            // A map keeps the size; `k` (the multiply the matrix takes
            // part in) may differ, as for attention's `P` of `S`.
            if (shape.m, shape.n) != (m.shape.m, m.shape.n) {
                self.err(
                    p.at,
                    format!(
                        "mismatched matrix sizes: `{}` is {} x {} (`{}`), but this `matrix_map` makes {} x {}; `matrix_map` keeps the size of the matrix it maps",
                        m.name,
                        m.shape.m,
                        m.shape.n,
                        type_text(&m),
                        shape.m,
                        shape.n
                    ),
                );
                return;
            }
        } else if let Some((elem, shape)) = p.spec
            && (elem, shape) != (m.elem, m.shape)
        {
            let made = MatrixDecl {
                elem,
                shape,
                ..m.clone()
            };
            self.err(
                p.at,
                format!(
                    "mismatched matrix types: `{}` is `{}`, but this `{name}` makes `{}`",
                    m.name,
                    type_text(&m),
                    type_text(&made)
                ),
            );
            return;
        }
        let op = match p.op {
            Pending::Fill(value) => FMat::Fill {
                matrix: target,
                value,
            },
            Pending::Load {
                buf,
                elem,
                buf_at,
                offset,
                stride,
                layout,
                clip,
            } => {
                if let Some(t) = self.vars.resolve(elem)
                    && t != m.elem
                {
                    let bn = self.buf_text(buf);
                    self.err(
                        buf_at,
                        format!(
                            "mismatched types: `{bn}` holds `{t}`, but `{}` is a matrix of `{}` (`{}`); a load reads elements of the matrix's type",
                            m.name,
                            m.elem,
                            type_text(&m)
                        ),
                    );
                    return;
                }
                FMat::Load {
                    matrix: target,
                    buf,
                    offset,
                    stride,
                    layout,
                    clip: clip.map(|c| *c),
                }
            }
            Pending::Mma { a, b, c } => FMat::MultiplyAdd { d: target, a, b, c },
            Pending::WgMma {
                a,
                a_at,
                b,
                c,
                asynchronous,
            } => {
                if let FOperand::Accumulator(a) = a
                    && a == target
                {
                    self.err(
                        a_at,
                        format!(
                            "`{name}` writes `{}`, which is also its A; A must be another accumulator",
                            m.name
                        ),
                    );
                    return;
                }
                FMat::WarpgroupMultiplyAdd {
                    d: target,
                    a,
                    b,
                    c,
                    asynchronous,
                }
            }
            Pending::Map {
                src,
                row,
                col,
                value,
                expr,
            } => FMat::Map {
                d: target,
                src,
                row,
                col,
                value,
                expr,
            },
        };
        out.push(FStmt {
            k: FS::Matrix(op),
            loc,
        });
    }

    /// The source name of a buffer or array.
    fn buf_text(&self, b: BufRef) -> String {
        match b {
            BufRef::Param(id) => self
                .params
                .get(id as usize)
                .map_or_else(String::new, |p| p.name().to_string()),
            BufRef::Shared(id) => self
                .shared
                .get(id as usize)
                .map_or_else(String::new, |s| s.name.clone()),
            BufRef::Private(id) => self.private_name(id),
        }
    }

    /// `let [mut] name[: MatrixX<..>] [= op];`: declare a matrix and give
    /// it its value.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matrix_let(
        &mut self,
        l: &'f syn::Local,
        name: &str,
        mutable: bool,
        ann: Option<&'f syn::Type>,
        init: Option<&'f syn::Expr>,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        if let Some((_, d)) = l.init.as_ref().and_then(|i| i.diverge.as_ref()) {
            self.err(&**d, "`let ... else` is not supported");
        }
        // The declared type, when annotated: `Err(())` after a diagnostic.
        let declared = match ann {
            None => Ok(None),
            Some(t) => {
                match matrix_type(t) {
                    Some((role, scope, Some(args))) => self
                        .matrix_args(matrix_kind(role, scope), (role, scope), args)
                        .map(|s| Some(((role, scope), s)))
                        .ok_or(()),
                    Some((role, scope, None)) => {
                        let (e, m) = match (role, scope) {
                            (Accumulator, MatrixScope::Warpgroup) => ("f32", "64"),
                            (Accumulator, _) => ("f32", "M"),
                            _ => ("bf16", "M"),
                        };
                        self.err(
                        Loc::Span(t.span()),
                        format!("a matrix type needs its element type and shape: `{}<{e}, {m}, N, K>`", matrix_kind(role, scope)),
                    );
                        Err(())
                    }
                    None => {
                        self.err(
                        Loc::Span(t.span()),
                        format!("`{name}` is a matrix; its type is `MatrixA<T, M, N, K>`, `MatrixB<T, M, N, K>` (`T` is `f16` or `bf16`), `MatrixAcc<f32, M, N, K>` or `WarpgroupAcc<f32, 64, N, K>`"),
                    );
                        Err(())
                    }
                }
            }
        };
        let Some(init) = init else {
            if let Ok(Some((kind, spec))) = declared {
                self.declare_matrix(name, kind, spec, mutable, l.span());
            }
            return;
        };
        let call = match strip_group(init) {
            syn::Expr::Call(c) => matrix_fn(&c.func)
                .filter(|(f, _)| f.produces())
                .map(|(f, g)| (c, f, g)),
            _ => None,
        };
        let Some((c, f, generics)) = call else {
            self.err(
                init,
                format!("a matrix gets its value from {PRODUCERS}, or is declared without a value (`let mut {name}: MatrixAcc<f32, M, N, K>;`, all zeros)"),
            );
            return;
        };
        let Some(p) = self.produce(f, c, init, generics, out) else {
            return;
        };
        let Ok(declared) = declared else {
            return;
        };
        let (kind, spec) = match (declared, p.spec) {
            (Some(d), _) => d,
            (None, Some(s)) => ((f.role(), f.scope()), s),
            (None, None) => {
                let t = if f.role() == Accumulator {
                    "f32"
                } else {
                    "bf16"
                };
                let m = if f.scope() == MatrixScope::Warpgroup {
                    "64"
                } else {
                    "M"
                };
                self.err(
                    init,
                    format!(
                        "`{}` needs the element type and shape of the matrix it makes here: `{}::<{t}, {m}, N, K>(..)`, or annotate the `let`: `let {name}: {}<{t}, {m}, N, K> = ..` (they may be left out when assigning to a declared matrix)",
                        f.name(),
                        f.name(),
                        matrix_kind(f.role(), f.scope())
                    ),
                );
                return;
            }
        };
        let id = self.declare_matrix(name, kind, spec, mutable, l.span());
        self.write_matrix(p, id, loc, out);
    }

    /// `name = op;` to matrix `id` (`op` a compound operator: an error).
    pub(super) fn matrix_assign(
        &mut self,
        id: MatrixId,
        name: &str,
        rhs: &'f syn::Expr,
        op: Option<BinOp>,
        whole: &'f syn::Expr,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let loc = Loc::Expr(whole);
        if op.is_some() {
            self.err(
                whole,
                format!("`{name}` is a matrix: compound assignment is not supported; accumulate with `{name} = matrix_mma(a, b, {name});`"),
            );
            return;
        }
        let call = match strip_group(rhs) {
            syn::Expr::Call(c) => matrix_fn(&c.func)
                .filter(|(f, _)| f.produces())
                .map(|(f, g)| (c, f, g)),
            _ => None,
        };
        let Some((c, f, generics)) = call else {
            self.err(
                rhs,
                format!("`{name}` is a matrix; assign it the result of {PRODUCERS}"),
            );
            return;
        };
        let mutable = self.matrices.get(id as usize).is_some_and(|m| m.mutable);
        let p = self.produce(f, c, rhs, generics, out);
        if !mutable {
            self.err(
                whole,
                format!("cannot assign twice to the immutable matrix `{name}`; declare it with `let mut {name}`"),
            );
            return;
        }
        if let Some(p) = p {
            self.write_matrix(p, id, loc, out);
        }
    }

    /// A matrix or copy function called as a statement.
    pub(super) fn matrix_stmt(
        &mut self,
        f: MatFn,
        c: &'f syn::ExprCall,
        e: &'f syn::Expr,
        generics: Option<&'f syn::AngleBracketedGenericArguments>,
        loc: Loc<'f>,
        out: &mut Vec<FStmt<'f>>,
    ) {
        let name = f.name();
        if f.produces() {
            self.err(
                e,
                format!(
                    "the matrix `{name}` makes would be dropped; give it to a matrix: {}",
                    f.form()
                ),
            );
            return;
        }
        if let Some(g) = generics {
            self.err(
                Loc::Span(angle_span(g)),
                format!("`{name}` takes no generic arguments: {}", f.form()),
            );
            return;
        }
        if !f.takes(c.args.len()) {
            self.err(
                e,
                format!(
                    "`{name}` takes {} argument(s) but {} {} given: {}",
                    f.counts(),
                    c.args.len(),
                    if c.args.len() == 1 { "was" } else { "were" },
                    f.form()
                ),
            );
            return;
        }
        if let Some(k) = self.statement_kind(f, c, out) {
            out.push(FStmt { k, loc });
        }
    }

    /// `async_copy_tile(&mut tile, tile_index, &src, rows, cols, row, col,
    /// BOX_ROWS, BOX_COLS)` (nine arguments, counted by the caller).
    fn tile_copy(&mut self, c: &'f syn::ExprCall, out: &mut Vec<FStmt<'f>>) -> Option<FS<'f>> {
        const NAME: &str = "async_copy_tile";
        let dst = self.memory_arg(NAME, &c.args[0]);
        let dst_index = self.u32_operand(&c.args[1], out);
        let src = self.memory_arg(NAME, &c.args[2]);
        let cols = self.tile_dim(&c.args[4], "cols");
        let rows = self.tile_rows(&c.args[3], &c.args[2], cols);
        let row = self.u32_operand(&c.args[5], out);
        let col = self.u32_operand(&c.args[6], out);
        let box_rows = self.const_u32(&c.args[7], "the box rows of `async_copy_tile`");
        let box_cols = self.const_u32(&c.args[8], "the box columns of `async_copy_tile`");
        let (dst, src, _) = self.copy_operands(NAME, c, dst?, src?)?;
        Some(FS::Async(FAsync::Tile {
            dst,
            dst_index,
            src,
            rows: rows?,
            cols: cols?,
            row,
            col,
            box_rows: box_rows?,
            box_cols: box_cols?,
        }))
    }

    /// The destination (a `#[shared]` array, argument 0) and source (a
    /// buffer parameter, argument 2) of copy `what`, and their common
    /// element type.
    fn copy_operands(
        &mut self,
        what: &str,
        c: &'f syn::ExprCall,
        (dst, de): (BufRef, Ty),
        (src, se): (BufRef, Ty),
    ) -> Option<(SharedId, ParamId, DataType)> {
        let BufRef::Shared(dst) = dst else {
            let bn = self.buf_text(dst);
            self.err(
                &c.args[0],
                format!(
                    "`{what}` copies into a `#[shared]` array, but `{bn}` is a buffer parameter"
                ),
            );
            return None;
        };
        let BufRef::Param(src) = src else {
            let bn = self.buf_text(src);
            self.err(
                &c.args[2],
                format!(
                    "`{what}` copies from a buffer parameter, but `{bn}` is a `#[shared]` array"
                ),
            );
            return None;
        };
        let (de, se) = (self.vars.resolve(de)?, self.vars.resolve(se)?);
        if de != se {
            let (dn, sn) = (
                self.buf_text(BufRef::Shared(dst)),
                self.buf_text(BufRef::Param(src)),
            );
            self.err(
                &c.args[2],
                format!("mismatched types: `{what}` from `{sn}` (`{se}` elements) into `{dn}` (`{de}` elements); the element types must be the same"),
            );
            return None;
        }
        Some((dst, src, de))
    }

    /// The `what` (rows or cols) of a tile copy's source matrix: a `u32`
    /// scalar parameter or a constant, values the launcher knows before
    /// the kernel runs (it builds the copy's tensor map from them).
    fn tile_dim(&mut self, e: &'f syn::Expr, what: &str) -> Option<TileDim> {
        if let syn::Expr::Path(p) = strip_group(e)
            && p.qself.is_none()
            && let Some(id) = p.path.get_ident()
        {
            let name = id.unraw().to_string();
            if let Some(i) = self.params.iter().position(|p| p.name() == name) {
                return match &self.params[i] {
                    Param::Scalar {
                        ty: DataType::U32, ..
                    } => Some(TileDim::Param(i as ParamId)),
                    _ => {
                        self.err(
                            e,
                            format!("the `{what}` of `async_copy_tile` must be a `u32` parameter of the kernel or a constant, but `{name}` is not a `u32` scalar: the launcher builds the copy's tensor map from the source buffer and its shape"),
                        );
                        None
                    }
                };
            }
        }
        if let Some(n) = self.runtime_name(e) {
            self.err(
                e,
                format!("the `{what}` of `async_copy_tile` must be a `u32` parameter of the kernel or a constant{}, but this expression reads `{n}`: the launcher builds the copy's tensor map from the source buffer and its shape before the kernel runs", if what == "rows" { ", or `src.len() / cols`" } else { "" }),
            );
            return None;
        }
        self.const_u32(e, &format!("the `{what}` of `async_copy_tile`"))
            .map(TileDim::Const)
    }

    /// The rows of a tile copy's source matrix: as [`Self::tile_dim`], or
    /// `src.len() / cols` (every row the buffer holds) with `src` the
    /// copy's source (`src_arg`) and `cols` its columns (`cols`, already
    /// read).
    fn tile_rows(
        &mut self,
        e: &'f syn::Expr,
        src_arg: &'f syn::Expr,
        cols: Option<TileDim>,
    ) -> Option<TileDim> {
        let syn::Expr::Binary(b) = strip_group(e) else {
            return self.tile_dim(e, "rows");
        };
        let syn::Expr::MethodCall(m) = strip_group(&b.left) else {
            return self.tile_dim(e, "rows");
        };
        if !matches!(b.op, syn::BinOp::Div(_)) || m.method != "len" || !m.args.is_empty() {
            return self.tile_dim(e, "rows");
        }
        let name = |x: &syn::Expr| match strip_group(strip_ref(x)) {
            syn::Expr::Path(p) => p.path.get_ident().map(|id| id.unraw().to_string()),
            _ => None,
        };
        if name(&m.receiver).is_none() || name(&m.receiver) != name(src_arg) {
            self.err(
                e,
                "the rows of `async_copy_tile` may be `src.len() / cols` only for the copy's own source buffer `src`",
            );
            return None;
        }
        let divisor = self.tile_dim(&b.right, "cols")?;
        if cols.is_some_and(|c| c != divisor) {
            self.err(
                &*b.right,
                "the rows `src.len() / cols` of `async_copy_tile` must divide by the copy's own cols (the same parameter or constant)",
            );
            return None;
        }
        Some(TileDim::Fill)
    }

    /// The statement of a call of `matrix_store`, `async_copy`,
    /// `async_commit` or `async_wait` with the right number of arguments.
    fn statement_kind(
        &mut self,
        f: MatFn,
        c: &'f syn::ExprCall,
        out: &mut Vec<FStmt<'f>>,
    ) -> Option<FS<'f>> {
        let name = f.name();
        Some(match f {
            MatFn::Store(layout) => {
                let mem = self.memory_arg(name, &c.args[0]);
                let offset = self.u32_operand(&c.args[1], out);
                let stride = self.u32_operand(&c.args[2], out);
                let m = self.matrix_operand(f, "fourth", Accumulator, &c.args[3]);
                let clip = self.clip_operands(c, 4, out);
                let ((buf, elem), matrix) = (mem?, m?);
                if !self.writable(buf) {
                    let bn = self.buf_text(buf);
                    let t = self.vars.resolve(elem).unwrap_or(DataType::F32);
                    self.err(
                        &c.args[0],
                        format!("cannot write to `{bn}`: it is a read-only buffer (`&[{t}]`); declare the parameter as `&mut [{t}]` to write to it"),
                    );
                    return None;
                }
                if let Some(t) = self.vars.resolve(elem)
                    && !matches!(t, DataType::F32 | DataType::F16 | DataType::BF16)
                {
                    let bn = self.buf_text(buf);
                    self.err(
                        &c.args[0],
                        format!("`{name}` converts the accumulator's `f32` elements to `f32`, `f16` or `bf16` (as by `as`), but `{bn}` holds `{t}`"),
                    );
                    return None;
                }
                FS::Matrix(FMat::Store {
                    matrix,
                    buf,
                    offset,
                    stride,
                    layout,
                    clip,
                })
            }
            MatFn::Copy => {
                let dst = self.memory_arg(name, &c.args[0]);
                let dst_index = self.u32_operand(&c.args[1], out);
                let src = self.memory_arg(name, &c.args[2]);
                let src_index = self.u32_operand(&c.args[3], out);
                let count = self.const_u32(&c.args[4], "the element count of `async_copy`");
                let (dst, src, count) = (dst?, src?, count?);
                let (dst, src, de) = self.copy_operands(name, c, dst, src)?;
                if !AsyncOp::is_copy_size(de, count) {
                    let fits: Vec<String> = [1u32, 2, 4, 8, 16]
                        .into_iter()
                        .filter(|n| AsyncOp::is_copy_size(de, *n))
                        .map(|n| n.to_string())
                        .collect();
                    self.err(
                        &c.args[4],
                        format!(
                            "`async_copy` of {count} `{de}` elements: one copy moves 4, 8 or 16 bytes, so the count of `{de}` elements is {}",
                            join_or(&fits)
                        ),
                    );
                    return None;
                }
                FS::Async(FAsync::Copy {
                    dst,
                    dst_index,
                    src,
                    src_index,
                    count,
                })
            }
            MatFn::Tile => self.tile_copy(c, out)?,
            MatFn::Commit => FS::Async(FAsync::Commit),
            MatFn::WgWait => {
                let pending = match c.args.first() {
                    Some(arg) => self.const_u32(
                        arg,
                        "the argument of `warpgroup_wait` (how many of the latest asynchronous multiplies may still run)",
                    )?,
                    None => 0,
                };
                if pending > crate::ir::MAX_PENDING_WARPGROUP_MULTIPLIES {
                    self.err(
                        &c.args[0],
                        format!(
                            "`warpgroup_wait({pending})`: at most {} multiplies may be left running",
                            crate::ir::MAX_PENDING_WARPGROUP_MULTIPLIES
                        ),
                    );
                    return None;
                }
                FS::Matrix(FMat::WarpgroupWait(pending))
            }
            MatFn::RowReduce(op) => {
                let mem = self.memory_arg(name, &c.args[0]);
                let offset = self.u32_operand(&c.args[1], out);
                let src = self.matrix_operand(f, "third", Accumulator, &c.args[2]);
                let ((buf, elem), src) = (mem?, src?);
                let bn = self.buf_text(buf);
                let BufRef::Shared(dst) = buf else {
                    self.err(
                        &c.args[0],
                        format!("`{name}` writes the row values to a `#[shared]` array of `f32`, but `{bn}` is a buffer parameter"),
                    );
                    return None;
                };
                if let Some(t) = self.vars.resolve(elem)
                    && t != DataType::F32
                {
                    self.err(
                        &c.args[0],
                        format!("`{name}` writes `f32` row values, but `{bn}` holds `{t}`"),
                    );
                    return None;
                }
                FS::Matrix(FMat::RowReduce {
                    op,
                    src,
                    dst,
                    offset,
                })
            }
            MatFn::Wait => {
                let n = self.const_u32(
                    &c.args[0],
                    "the argument of `async_wait` (how many committed groups may still be in flight)",
                )?;
                FS::Async(FAsync::Wait(n))
            }
            MatFn::Load(..)
            | MatFn::Zero
            | MatFn::Fill
            | MatFn::Mma
            | MatFn::WgZero
            | MatFn::WgFill
            | MatFn::WgMma(..)
            | MatFn::Map => return None,
        })
    }
}

/// The span of `<...>` (without a turbofish's `::`).
fn angle_span(a: &syn::AngleBracketedGenericArguments) -> Span {
    a.lt_token
        .span
        .join(a.gt_token.span)
        .unwrap_or_else(|| a.span())
}

/// Whether `e` is a call of a function that makes a matrix.
pub(crate) fn is_matrix_value(e: &syn::Expr) -> bool {
    matches!(strip_group(e), syn::Expr::Call(c) if matrix_fn(&c.func).is_some_and(|(f, _)| f.produces()))
}

/// `MatrixA`, `MatrixB`, `MatrixAcc` or `WarpgroupAcc`.
pub(crate) fn matrix_kind(role: MatrixRole, scope: MatrixScope) -> &'static str {
    match (role, scope) {
        (Accumulator, MatrixScope::Warpgroup) => "WarpgroupAcc",
        (A, _) => "MatrixA",
        (B, _) => "MatrixB",
        (Accumulator, MatrixScope::Subgroup) => "MatrixAcc",
    }
}

/// What a `matrix_map` closure body may not use, with where: subgroup
/// operations, the builtins that differ between invocations and private
/// arrays (the validator's rules, found here to point at the use).
fn map_forbidden<'f>(e: &FExpr<'f>, out: &mut Vec<(Loc<'f>, String)>) {
    let what = match &e.k {
        FK::Subgroup(op, _) => Some(format!("`{}`", op.name())),
        FK::Builtin(b @ (Builtin::GlobalId | Builtin::LocalId), _) => {
            Some(format!("`{}`", b.name()))
        }
        FK::Load(BufRef::Private(_), _) => Some("a private array".to_string()),
        _ => None,
    };
    if let Some(w) = what {
        out.push((e.loc, w));
        return;
    }
    match &e.k {
        FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => map_forbidden(a, out),
        FK::Binary(_, a, b) => {
            map_forbidden(a, out);
            map_forbidden(b, out);
        }
        FK::Math(_, args) | FK::Subgroup(_, args) => {
            args.iter().for_each(|a| map_forbidden(a, out));
        }
        FK::Select(c, a, b) => {
            map_forbidden(c, out);
            map_forbidden(a, out);
            map_forbidden(b, out);
        }
        FK::Atomic {
            index,
            expected,
            value,
            ..
        } => {
            map_forbidden(index, out);
            if let Some(x) = expected {
                map_forbidden(x, out);
            }
            map_forbidden(value, out);
        }
        FK::Int(_)
        | FK::Float(..)
        | FK::Lit(_)
        | FK::Local(_)
        | FK::Param(_)
        | FK::Builtin(..)
        | FK::Len(_)
        | FK::Error => {}
    }
}

/// `1, 2 or 4`.
fn join_or(xs: &[String]) -> String {
    match xs {
        [] => "none".into(),
        [x] => x.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
