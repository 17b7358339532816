//! Front-end trees: what pass 1 produces and pass 2 consumes, with the
//! source location of every node.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::Sp;
use super::infer::Ty;
use crate::ir::{
    AtomicOp, Axis, BinOp, BufRef, Builtin, DataType, Literal, LocalId, MathFn, MatrixDecl,
    MatrixId, MatrixLayout, ParamId, RowReduceOp, SharedId, SubgroupOp, UnOp,
};

/// Where a front-end node came from; its byte range is computed only when a
/// diagnostic needs it (computing spans of large `syn` trees is not free).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc<'f> {
    Expr(&'f syn::Expr),
    Stmt(&'f syn::Stmt),
    Span(Span),
}

impl Loc<'_> {
    pub(crate) fn sp(self) -> Sp {
        match self {
            Loc::Expr(e) => Sp::of(e.span()),
            Loc::Stmt(s) => Sp::of(s.span()),
            Loc::Span(s) => Sp::of(s),
        }
    }
}

impl<'f> From<&'f syn::Expr> for Loc<'f> {
    fn from(e: &'f syn::Expr) -> Self {
        Loc::Expr(e)
    }
}

impl From<Span> for Loc<'_> {
    fn from(s: Span) -> Self {
        Loc::Span(s)
    }
}

/// A front-end expression.
#[derive(Clone, Debug)]
pub(crate) struct FExpr<'f> {
    pub k: FK<'f>,
    pub loc: Loc<'f>,
    pub ty: Ty,
}

/// Front-end expression kinds, mirroring [`crate::ir::Expr`].
#[derive(Clone, Debug)]
pub(crate) enum FK<'f> {
    /// An integer literal whose type is `ty` (possibly a variable).
    Int(i128),
    /// An unsuffixed float literal, as the bits of its value read as an
    /// `f32` and as an `f64`, whose type is `ty` (a float variable: `f32`
    /// unless the context makes it `f64`, or `f16` or `bf16`, then the
    /// `f32` rounded to nearest even).
    Float(u32, u64),
    Lit(Literal),
    Local(LocalId),
    Param(ParamId),
    Builtin(Builtin, Axis),
    Len(ParamId),
    Load(BufRef, Box<FExpr<'f>>),
    Unary(UnOp, Box<FExpr<'f>>),
    Binary(BinOp, Box<FExpr<'f>>, Box<FExpr<'f>>),
    Cast(DataType, Box<FExpr<'f>>),
    Math(MathFn, Vec<FExpr<'f>>),
    /// A subgroup function call (`subgroup_add(v)`), operands checked in
    /// pass 2.
    Subgroup(SubgroupOp, Vec<FExpr<'f>>),
    Select(Box<FExpr<'f>>, Box<FExpr<'f>>, Box<FExpr<'f>>),
    Atomic {
        op: AtomicOp,
        buf: BufRef,
        index: Box<FExpr<'f>>,
        expected: Option<Box<FExpr<'f>>>,
        value: Box<FExpr<'f>>,
    },
    /// An expression that already produced a diagnostic.
    Error,
}

impl<'f> FExpr<'f> {
    pub(crate) fn error(loc: Loc<'f>) -> Self {
        Self {
            k: FK::Error,
            loc,
            ty: Ty::Err,
        }
    }

    pub(super) fn lit(l: Literal, loc: Loc<'f>) -> Self {
        Self {
            k: FK::Lit(l),
            loc,
            ty: Ty::K(l.ty()),
        }
    }

    /// Number of nodes, for the substitution budget.
    pub(super) fn size(&self) -> usize {
        1 + match &self.k {
            FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => a.size(),
            FK::Binary(_, a, b) => a.size() + b.size(),
            FK::Math(_, args) | FK::Subgroup(_, args) => args.iter().map(FExpr::size).sum(),
            FK::Select(a, b, c) => a.size() + b.size() + c.size(),
            FK::Atomic {
                index,
                expected,
                value,
                ..
            } => index.size() + value.size() + expected.as_ref().map_or(0, |e| e.size()),
            _ => 0,
        }
    }

    /// Leaves that are free to duplicate.
    pub(super) fn is_simple(&self) -> bool {
        matches!(
            self.k,
            FK::Int(_)
                | FK::Float(..)
                | FK::Lit(_)
                | FK::Local(_)
                | FK::Param(_)
                | FK::Builtin(..)
                | FK::Len(_)
                | FK::Error
        )
    }
}

/// A front-end statement.
#[derive(Clone, Debug)]
pub(crate) struct FStmt<'f> {
    pub k: FS<'f>,
    pub loc: Loc<'f>,
}

/// Front-end statement kinds, mirroring [`crate::ir::Node`].
#[derive(Clone, Debug)]
pub(crate) enum FS<'f> {
    Let(LocalId, FExpr<'f>),
    Assign(LocalId, FExpr<'f>),
    Store(BufRef, FExpr<'f>, FExpr<'f>),
    Eval(FExpr<'f>),
    If(FExpr<'f>, Vec<FStmt<'f>>, Vec<FStmt<'f>>),
    While(FExpr<'f>, Vec<FStmt<'f>>),
    For(Box<FFor<'f>>),
    Loop(Vec<FStmt<'f>>),
    /// `unsafe { .. }`: accesses the kernel's author vouches for.
    Unsafe(Vec<FStmt<'f>>),
    Break,
    Continue,
    Return,
    Barrier,
    /// `warpgroup_barrier()`.
    WarpgroupBarrier,
    /// A matrix statement (`matrix_load_a`, `matrix_mma`, ...).
    Matrix(FMat<'f>),
    /// An asynchronous copy, commit or wait.
    Async(FAsync<'f>),
    /// A `debug_print!` or `debug_assert!`.
    Debug(Box<FDebug<'f>>),
}

/// A `debug_print!`/`debug_assert!` call (see `super::debug`).
#[derive(Clone, Debug)]
pub(crate) struct FDebug<'f> {
    /// An assert's condition and its source text.
    pub assert: Option<(FExpr<'f>, String)>,
    /// The format string (empty: none).
    pub format: String,
    /// The values, one per `{}`.
    pub args: Vec<FExpr<'f>>,
    /// 1-based line and column of the call.
    pub line: u32,
    pub column: u32,
    /// The local holding the record's first word, in a debug build.
    pub slot: Option<LocalId>,
}

impl<'f> FDebug<'f> {
    /// Every expression, condition first.
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut FExpr<'f>> {
        self.assert
            .iter_mut()
            .map(|(c, _)| c)
            .chain(self.args.iter_mut())
            .collect()
    }

    /// Every expression, condition first.
    pub(crate) fn exprs(&self) -> Vec<&FExpr<'f>> {
        self.assert
            .iter()
            .map(|(c, _)| c)
            .chain(self.args.iter())
            .collect()
    }
}

/// A matrix statement, mirroring [`crate::ir::MatrixOp`]; roles, shapes and
/// element types are checked in pass 1, expression types in pass 2.
#[derive(Clone, Debug)]
pub(crate) enum FMat<'f> {
    Fill {
        matrix: MatrixId,
        value: FExpr<'f>,
    },
    Load {
        matrix: MatrixId,
        buf: BufRef,
        offset: FExpr<'f>,
        stride: FExpr<'f>,
        layout: MatrixLayout,
        /// `(rows, cols)` of a clipped load.
        clip: Option<(FExpr<'f>, FExpr<'f>)>,
    },
    Store {
        matrix: MatrixId,
        buf: BufRef,
        offset: FExpr<'f>,
        stride: FExpr<'f>,
        layout: MatrixLayout,
        /// `(rows, cols)` of a clipped store.
        clip: Option<(FExpr<'f>, FExpr<'f>)>,
    },
    MultiplyAdd {
        d: MatrixId,
        a: MatrixId,
        b: MatrixId,
        c: MatrixId,
    },
    WarpgroupMultiplyAdd {
        d: MatrixId,
        a: FOperand<'f>,
        b: FTile<'f>,
        c: MatrixId,
        asynchronous: bool,
    },
    WarpgroupWait(u32),
    /// `d = matrix_map(src, |row, col, value| expr)`.
    Map {
        d: MatrixId,
        src: MatrixId,
        row: LocalId,
        col: LocalId,
        value: LocalId,
        expr: FExpr<'f>,
    },
    /// `matrix_row_max/sum(&mut dst, offset, src)`.
    RowReduce {
        op: RowReduceOp,
        src: MatrixId,
        dst: SharedId,
        offset: FExpr<'f>,
    },
}

/// An operand tile of `warpgroup_mma`, mirroring [`crate::ir::SharedTile`].
#[derive(Clone, Debug)]
pub(crate) struct FTile<'f> {
    pub array: SharedId,
    pub offset: FExpr<'f>,
    pub stride: FExpr<'f>,
    pub layout: MatrixLayout,
}

/// The `A` of `warpgroup_mma`, mirroring [`crate::ir::WarpgroupOperand`].
#[derive(Clone, Debug)]
pub(crate) enum FOperand<'f> {
    Shared(FTile<'f>),
    Accumulator(MatrixId),
}

impl<'f> FMat<'f> {
    /// The expressions the statement evaluates, in order.
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut FExpr<'f>> {
        match self {
            FMat::Fill { value, .. } => vec![value],
            FMat::Load {
                offset,
                stride,
                clip,
                ..
            }
            | FMat::Store {
                offset,
                stride,
                clip,
                ..
            } => {
                let mut v = vec![offset, stride];
                if let Some((rows, cols)) = clip {
                    v.push(rows);
                    v.push(cols);
                }
                v
            }
            FMat::MultiplyAdd { .. } | FMat::WarpgroupWait(_) => vec![],
            FMat::WarpgroupMultiplyAdd { a, b, .. } => {
                let mut v = match a {
                    FOperand::Shared(t) => vec![&mut t.offset, &mut t.stride],
                    FOperand::Accumulator(_) => vec![],
                };
                v.extend([&mut b.offset, &mut b.stride]);
                v
            }
            FMat::Map { expr, .. } => vec![expr],
            FMat::RowReduce { offset, .. } => vec![offset],
        }
    }

    /// The locals the statement defines (a map's row, column and value),
    /// for renumbering.
    pub(crate) fn locals_mut(&mut self) -> Vec<&mut LocalId> {
        match self {
            FMat::Map {
                row, col, value, ..
            } => vec![row, col, value],
            _ => vec![],
        }
    }

    /// The expressions the statement evaluates, in order.
    pub(crate) fn exprs(&self) -> Vec<&FExpr<'f>> {
        match self {
            FMat::Fill { value, .. } => vec![value],
            FMat::Load {
                offset,
                stride,
                clip,
                ..
            }
            | FMat::Store {
                offset,
                stride,
                clip,
                ..
            } => {
                let mut v = vec![offset, stride];
                if let Some((rows, cols)) = clip {
                    v.push(rows);
                    v.push(cols);
                }
                v
            }
            FMat::MultiplyAdd { .. } | FMat::WarpgroupWait(_) => vec![],
            FMat::WarpgroupMultiplyAdd { a, b, .. } => {
                let mut v = match a {
                    FOperand::Shared(t) => vec![&t.offset, &t.stride],
                    FOperand::Accumulator(_) => vec![],
                };
                v.extend([&b.offset, &b.stride]);
                v
            }
            FMat::Map { expr, .. } => vec![expr],
            FMat::RowReduce { offset, .. } => vec![offset],
        }
    }
}

/// An asynchronous copy statement, mirroring [`crate::ir::AsyncOp`].
#[derive(Clone, Debug)]
pub(crate) enum FAsync<'f> {
    Copy {
        dst: SharedId,
        dst_index: FExpr<'f>,
        src: ParamId,
        src_index: FExpr<'f>,
        count: u32,
    },
    Tile {
        dst: SharedId,
        dst_index: FExpr<'f>,
        src: ParamId,
        rows: crate::ir::TileDim,
        cols: crate::ir::TileDim,
        row: FExpr<'f>,
        col: FExpr<'f>,
        box_rows: u32,
        box_cols: u32,
    },
    Commit,
    Wait(u32),
}

impl<'f> FAsync<'f> {
    /// The expressions the statement evaluates, in order.
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut FExpr<'f>> {
        match self {
            FAsync::Copy {
                dst_index,
                src_index,
                ..
            } => vec![dst_index, src_index],
            FAsync::Tile {
                dst_index,
                row,
                col,
                ..
            } => vec![dst_index, row, col],
            FAsync::Commit | FAsync::Wait(_) => vec![],
        }
    }

    /// The expressions the statement evaluates, in order.
    pub(crate) fn exprs(&self) -> Vec<&FExpr<'f>> {
        match self {
            FAsync::Copy {
                dst_index,
                src_index,
                ..
            } => vec![dst_index, src_index],
            FAsync::Tile {
                dst_index,
                row,
                col,
                ..
            } => vec![dst_index, row, col],
            FAsync::Commit | FAsync::Wait(_) => vec![],
        }
    }
}

/// A matrix variable during lowering: its declaration (final: the role,
/// element type and shape are constants of the source) and whether it may
/// be assigned.
#[derive(Clone, Debug)]
pub(crate) struct FMatrix {
    pub decl: MatrixDecl,
    /// Declared `let mut` (assignments allowed).
    pub mutable: bool,
    pub span: Span,
}

/// A `for` loop: `[#[unroll]] for var in (start..end)[.step_by(step)]`.
#[derive(Clone, Debug)]
pub(crate) struct FFor<'f> {
    pub var: LocalId,
    pub start: FExpr<'f>,
    pub end: FExpr<'f>,
    /// The `step_by` argument (a constant, checked in pass 2); `None`: 1.
    pub step: Option<FExpr<'f>>,
    /// The `#[unroll]` attribute, whose position errors point at.
    pub unroll: Option<Span>,
    pub body: Vec<FStmt<'f>>,
}

/// A thread-private array during lowering; its element type may still be
/// an integer-literal variable (`let mut a = [0; 8];`).
#[derive(Clone, Debug)]
pub(crate) struct FPrivate {
    pub name: String,
    pub elem: Ty,
    pub len: u32,
    /// Declared `let mut` (stores allowed).
    pub mutable: bool,
    pub span: Span,
}

/// A local during lowering.
#[derive(Clone, Debug)]
pub(crate) struct FLocal<'f> {
    pub name: String,
    pub ty: Ty,
    pub mutable: bool,
    pub loc: Loc<'f>,
}

/// What a name in scope stands for.
#[derive(Clone, Debug)]
pub(crate) enum Bind<'f> {
    Local(LocalId),
    Param(ParamId),
    Buf(BufRef),
    /// A matrix variable (`let a = matrix_load_a::<..>(..)`).
    Matrix(MatrixId),
    /// A helper's scalar parameter replaced by its (pure) argument.
    Subst(Box<FExpr<'f>>),
}

/// Expression context: what the position of an expression allows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cx {
    /// An atomic may stand here (whole `let` initializer, `=` rhs, statement).
    pub atomic_ok: bool,
    /// A helper that writes memory may be called here.
    pub effect_ok: bool,
    /// `None` if statements may be hoisted before the current statement,
    /// else why not.
    pub hoist: Option<&'static str>,
}

impl Cx {
    pub(crate) const TOP: Cx = Cx {
        atomic_ok: true,
        effect_ok: true,
        hoist: None,
    };

    pub(crate) fn nested(self) -> Cx {
        Cx {
            atomic_ok: false,
            effect_ok: false,
            hoist: self.hoist,
        }
    }

    pub(crate) fn no_hoist(self, why: &'static str) -> Cx {
        Cx {
            atomic_ok: false,
            effect_ok: false,
            hoist: Some(self.hoist.unwrap_or(why)),
        }
    }
}
