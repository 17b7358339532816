//! Pass 2: resolve inference variables, type-check with source positions,
//! emit `ir` nodes, then run [`Program::validate`] and map its findings back
//! to source positions.

use super::stmt::Kx;
use proc_macro2::Span;

use super::expr::{float_overflow, round_float, subgroup_form};
use super::file::{int_literal, int_range};
use super::tree::{FAsync, FExpr, FFor, FK, FMat, FOperand, FS, FStmt, FTile, Loc};
use crate::ir::validate::{binary_type, math_type, subgroup_type};
use crate::ir::{
    Access, AsyncOp, AtomicCall, AtomicOp, AtomicResult, BinOp, BufRef, DataType, Expr, Literal,
    LocalDecl, MathFn, MatrixClip, MatrixOp, Node, Param, PrivateDecl, Program, Rhs, SharedTile,
    SubgroupOp, UnOp, WarpgroupOperand,
};

/// Finish a kernel: `program` has its header; `body` is the pass-1 tree.
pub(super) fn kernel<'f>(
    kx: &mut Kx<'_, 'f>,
    mut program: Program,
    body: &[FStmt<'f>],
) -> Option<Program> {
    program.shared = kx.shared.clone();
    program.private = (0..kx.private.len())
        .map(|i| {
            let a = &kx.private[i];
            let (name, elem, len) = (a.name.clone(), a.elem, a.len);
            PrivateDecl {
                name,
                // An array nothing constrains (`[0; 4]`) is `i32`, like a
                // local initialised with an unsuffixed literal.
                elem: kx.vars.resolve(elem).unwrap_or(DataType::I32),
                len,
            }
        })
        .collect();
    let locals: Vec<LocalDecl> = (0..kx.locals.len())
        .map(|i| {
            let l = &kx.locals[i];
            let (name, ty, mutable) = (l.name.clone(), l.ty, l.mutable);
            LocalDecl {
                name,
                ty: kx.vars.resolve(ty).unwrap_or(DataType::I32),
                mutable,
            }
        })
        .collect();
    program.locals = locals;
    program.matrices = kx.matrices.iter().map(|m| m.decl.clone()).collect();
    let before = kx.fx.errs.len();
    for (ty, at, method, name) in std::mem::take(&mut kx.wide_vectors) {
        if let Some(t) = kx.vars.resolve(ty)
            && t.size_bytes() > 2
        {
            let four = method.replace('8', "4");
            kx.err(
                at,
                format!("`{method}` works on 16- and 8-bit elements (`f16 bf16 u16 i16 u8 i8`), but `{name}` holds `{t}`; use two `{four}`s"),
            );
        }
    }
    let mut fin = Fin { kx, p: &program };
    let nodes = fin.block(body);
    program.body = nodes;
    if kx.fx.errs.len() > before {
        return None;
    }
    match program.validate() {
        Ok(_) => Some(program),
        Err(errors) => {
            // Every statement was emitted (no errors above), so the
            // validator's paths follow the front-end tree one to one.
            let mut paths = Vec::new();
            collect_paths(body, "body", &mut paths);
            for e in errors {
                let loc = subgroup_call_at(&paths, &e.path, &e.message)
                    .unwrap_or_else(|| locate(kx, &program, &paths, &e.path));
                kx.err(loc, e.message);
            }
            None
        }
    }
}

/// `body[2].then[0]`-style paths of every statement, as the validator
/// writes them, with the statements.
fn collect_paths<'a, 'f>(
    body: &'a [FStmt<'f>],
    path: &str,
    out: &mut Vec<(String, &'a FStmt<'f>)>,
) {
    // A debug call of a non-debug build emits no node: it takes no index.
    let emitted = body
        .iter()
        .filter(|s| !matches!(&s.k, FS::Debug(d) if d.slot.is_none()));
    for (i, s) in emitted.enumerate() {
        let here = format!("{path}[{i}]");
        match &s.k {
            FS::If(_, t, o) => {
                collect_paths(t, &format!("{here}.then"), out);
                collect_paths(o, &format!("{here}.else"), out);
            }
            FS::For(l) => collect_paths(&l.body, &format!("{here}.body"), out),
            FS::While(_, b) | FS::Loop(b) => {
                collect_paths(b, &format!("{here}.body"), out);
            }
            FS::Unsafe(b) => collect_paths(b, &format!("{here}.unsafe"), out),
            _ => {}
        }
        out.push((here, s));
    }
}

/// A validator finding about a subgroup call (`` `subgroup_add` in control
/// flow that depends on ... ``) points at the call itself, not at its
/// whole statement: the first collective call of that name among the
/// expressions the statement evaluates itself, in the validator's order.
fn subgroup_call_at<'f>(
    paths: &[(String, &FStmt<'f>)],
    path: &str,
    message: &str,
) -> Option<Loc<'f>> {
    let name = message.strip_prefix('`')?.split('`').next()?;
    let op = SubgroupOp::ALL.into_iter().find(|o| o.name() == name)?;
    let (_, s) = paths.iter().find(|(p, _)| p == path)?;
    let own: Vec<&FExpr<'f>> = match &s.k {
        FS::Let(_, v) | FS::Assign(_, v) | FS::Eval(v) => vec![v],
        FS::Store(_, i, v) => vec![i, v],
        FS::If(c, ..) | FS::While(c, _) => vec![c],
        FS::For(l) => vec![&l.start, &l.end],
        FS::Matrix(op) => op.exprs(),
        FS::Async(op) => op.exprs(),
        FS::Debug(d) => d.exprs(),
        _ => vec![],
    };
    own.into_iter().find_map(|e| find_subgroup(e, op))
}

/// The first call of subgroup function `op` in `e` (outer calls first).
fn find_subgroup<'f>(e: &FExpr<'f>, op: SubgroupOp) -> Option<Loc<'f>> {
    let f = |x: &FExpr<'f>| find_subgroup(x, op);
    match &e.k {
        FK::Subgroup(o, _) if *o == op => Some(e.loc),
        FK::Subgroup(_, args) | FK::Math(_, args) => args.iter().find_map(f),
        FK::Load(_, a) | FK::Unary(_, a) | FK::Cast(_, a) => f(a),
        FK::Binary(_, a, b) => f(a).or_else(|| f(b)),
        FK::Select(c, a, b) => f(c).or_else(|| f(a)).or_else(|| f(b)),
        FK::Atomic {
            index,
            expected,
            value,
            ..
        } => f(index)
            .or_else(|| f(value))
            .or_else(|| expected.as_deref().and_then(f)),
        FK::Int(_)
        | FK::Float(..)
        | FK::Lit(_)
        | FK::Local(_)
        | FK::Param(_)
        | FK::Builtin(..)
        | FK::Len(_)
        | FK::Error => None,
    }
}

/// The source position of a validator path.
fn locate<'f>(kx: &Kx<'_, 'f>, p: &Program, paths: &[(String, &FStmt<'f>)], path: &str) -> Loc<'f> {
    if let Some((_, s)) = paths.iter().find(|(p, _)| p == path) {
        return s.loc;
    }
    let name_in = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('`'))
            .and_then(|r| r.strip_suffix('`'))
            .map(str::to_string)
    };
    if let Some(n) = name_in("param ")
        && let Some(i) = p.params.iter().position(|q| q.name() == n)
        && let Some(s) = kx.param_loc.get(i)
    {
        return Loc::Span(*s);
    }
    if let Some(n) = name_in("shared ")
        && let Some(i) = p.shared.iter().position(|q| q.name == n)
        && let Some(s) = kx.shared_loc.get(i)
    {
        return Loc::Span(*s);
    }
    if path == "shared"
        && let Some(s) = kx.shared_loc.last()
    {
        return Loc::Span(*s);
    }
    if let Some(n) = name_in("private ")
        && let Some(i) = p.private.iter().position(|q| q.name == n)
        && let Some(a) = kx.private.get(i)
    {
        return Loc::Span(a.span);
    }
    if path == "private"
        && let Some(a) = kx.private.last()
    {
        return Loc::Span(a.span);
    }
    if let Some(n) = name_in("matrix ")
        && let Some(m) = kx.matrices.iter().find(|m| m.decl.name == n)
    {
        return Loc::Span(m.span);
    }
    if let Some(n) = name_in("local ")
        && let Some(l) = kx.locals.iter().find(|l| l.name == n)
    {
        return l.loc;
    }
    Loc::Span(kx.ws_span)
}

/// Finish a constant expression.
pub(super) fn const_expr<'f>(
    kx: &mut Kx<'_, 'f>,
    program: &Program,
    e: &FExpr<'f>,
    ty: Option<DataType>,
) -> Option<Expr> {
    let mut fin = Fin { kx, p: program };
    let (x, t) = fin.expr(e)?;
    if let Some(want) = ty
        && want != t
    {
        let notes = fin.lit_hint(e, want);
        fin.kx.fx.err_notes(
            e.loc,
            format!("mismatched types: the constant is declared `{want}` but its value is `{t}`"),
            notes,
        );
        return None;
    }
    Some(x)
}

pub(super) struct Fin<'k, 'a, 'f> {
    pub(super) kx: &'k mut Kx<'a, 'f>,
    pub(super) p: &'k Program,
}

impl<'f> Fin<'_, '_, 'f> {
    pub(super) fn err(&mut self, loc: Loc<'f>, msg: impl Into<String>) {
        self.kx.err(loc, msg);
    }

    fn lit_hint(&self, e: &FExpr<'f>, want: DataType) -> Vec<String> {
        match e.k {
            FK::Int(v) if want.is_float() && matches!(e.ty, super::infer::Ty::V(_)) => {
                vec![format!(
                    "an integer literal is never an `{want}`; write `{v}.0`"
                )]
            }
            _ => Vec::new(),
        }
    }

    fn buf_name(&self, b: BufRef) -> String {
        self.p.buf_name(b).unwrap_or("?").to_string()
    }

    fn elem(&self, b: BufRef) -> DataType {
        self.p.elem_type(b).unwrap_or(DataType::U32)
    }

    fn block(&mut self, body: &[FStmt<'f>]) -> Vec<Node> {
        let mut out = Vec::with_capacity(body.len());
        for s in body {
            if let Some(n) = self.stmt(s) {
                out.push(n);
            }
        }
        out
    }

    pub(super) fn cond(&mut self, c: &FExpr<'f>) -> Option<Expr> {
        let (x, t) = self.expr(c)?;
        if t != DataType::Bool {
            self.err(
                c.loc,
                format!("mismatched types: this condition is `{t}`, but it must be `bool` (compare instead, e.g. `x != 0`)"),
            );
            return None;
        }
        Some(x)
    }

    fn index(&mut self, i: &FExpr<'f>) -> Option<Expr> {
        let (x, t) = self.expr(i)?;
        if !matches!(t, DataType::U32 | DataType::I32) {
            self.err(
                i.loc,
                format!(
                    "an index must be `u32` or `i32`, but this is `{t}`; convert it with `as u32`"
                ),
            );
            return None;
        }
        Some(x)
    }

    fn writable_check(&mut self, b: BufRef, loc: Loc<'f>) -> bool {
        if let BufRef::Param(id) = b
            && let Some(Param::Buffer(d)) = self.p.params.get(id as usize)
            && d.access == Access::Read
        {
            let (n, t) = (d.name.clone(), d.elem);
            self.err(
                loc,
                format!("cannot write to `{n}`: it is a read-only buffer (`&[{t}]`); declare the parameter as `&mut [{t}]` to write to it"),
            );
            return false;
        }
        true
    }

    fn stmt(&mut self, s: &FStmt<'f>) -> Option<Node> {
        Some(match &s.k {
            FS::Let(id, v) => {
                let (x, t) = self.rhs(v)?;
                let decl = self.p.locals.get(*id as usize)?;
                if t != decl.ty {
                    let msg = format!(
                        "mismatched types: `{}` is `{}` but this value is `{t}`",
                        decl.name, decl.ty
                    );
                    let notes = self.lit_hint(v, decl.ty);
                    self.kx.fx.err_notes(v.loc, msg, notes);
                    return None;
                }
                match x {
                    Rhs::Expr(value) => Node::Let { local: *id, value },
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Let(*id)),
                }
            }
            FS::Assign(id, v) => {
                let r = self.rhs(v);
                let decl = self.p.locals.get(*id as usize)?;
                if !decl.mutable {
                    let n = decl.name.clone();
                    self.err(
                        s.loc,
                        format!("cannot assign twice to immutable variable `{n}`; declare it with `let mut {n}`"),
                    );
                    return None;
                }
                let (x, t) = r?;
                if t != decl.ty {
                    let msg = format!(
                        "mismatched types: `{}` is `{}` but this value is `{t}`",
                        decl.name, decl.ty
                    );
                    let notes = self.lit_hint(v, decl.ty);
                    self.kx.fx.err_notes(v.loc, msg, notes);
                    return None;
                }
                match x {
                    Rhs::Expr(value) => Node::Assign { local: *id, value },
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Assign(*id)),
                }
            }
            FS::Store(b, i, v) => {
                let ok = self.writable_check(*b, s.loc);
                let index = self.index(i);
                let value = self.expr(v);
                let (index, (x, t)) = (index?, value?);
                let et = self.elem(*b);
                if t != et {
                    let msg = format!(
                        "mismatched types: `{}` holds `{et}` but this value is `{t}`",
                        self.buf_name(*b)
                    );
                    let notes = self.lit_hint(v, et);
                    self.kx.fx.err_notes(v.loc, msg, notes);
                    return None;
                }
                if !ok {
                    return None;
                }
                Node::Store {
                    buf: *b,
                    index,
                    value: x,
                }
            }
            FS::Eval(v) => match self.rhs(v)?.0 {
                Rhs::Atomic(a) => a.into_node(AtomicResult::Discard),
                Rhs::Expr(_) => {
                    self.err(v.loc, "this expression statement has no effect");
                    return None;
                }
            },
            FS::If(c, t, o) => {
                let cond = self.cond(c);
                let then = self.block(t);
                let otherwise = self.block(o);
                Node::If {
                    cond: cond?,
                    then,
                    otherwise,
                }
            }
            FS::While(c, b) => {
                let cond = self.cond(c);
                let body = self.block(b);
                Node::While { cond: cond?, body }
            }
            FS::For(l) => {
                let FFor {
                    var,
                    start: st,
                    end: en,
                    ..
                } = &**l;
                let start = self.expr(st);
                let end = self.expr(en);
                let body = self.block(&l.body);
                let ((start, ts), (end, te)) = (start?, end?);
                let vt = self.p.locals.get(*var as usize)?.ty;
                for (t, e) in [(ts, st), (te, en)] {
                    if !matches!(t, DataType::U32 | DataType::I32) {
                        self.err(
                            e.loc,
                            format!(
                                "a `for` range must be over `u32` or `i32`, but this bound is `{t}`"
                            ),
                        );
                        return None;
                    }
                    if t != vt {
                        self.err(
                            e.loc,
                            format!("mismatched types: this range bound is `{t}` but the loop variable is `{vt}`"),
                        );
                        return None;
                    }
                }
                let step = match &l.step {
                    Some(e) => self.step(e, vt)?,
                    None => 1,
                };
                let (start, end) = match l.unroll {
                    Some(attr) => self.unroll_bounds(start, end, attr)?,
                    None => (start, end),
                };
                Node::For {
                    var: *var,
                    start,
                    end,
                    step,
                    unroll: l.unroll.is_some(),
                    body,
                }
            }
            FS::Loop(b) => Node::Loop {
                body: self.block(b),
            },
            FS::Unsafe(b) => Node::Unsafe {
                body: self.block(b),
            },
            FS::Break => Node::Break,
            FS::Continue => Node::Continue,
            FS::Return => Node::Return,
            FS::Barrier => Node::Barrier,
            FS::WarpgroupBarrier => Node::WarpgroupBarrier,
            FS::Matrix(op) => Node::Matrix(self.matrix_op(op)?),
            FS::Async(op) => Node::Async(self.async_op(op)?),
            FS::Debug(d) => self.debug_stmt(d)?,
        })
    }

    /// A `u32` operand of a matrix or copy statement (`what`: its role).
    fn u32_operand(&mut self, e: &FExpr<'f>, what: &str) -> Option<Expr> {
        let (x, t) = self.expr(e)?;
        if t != DataType::U32 {
            self.err(
                e.loc,
                format!("{what} must be `u32`, but this is `{t}`; convert it with `as u32`"),
            );
            return None;
        }
        Some(x)
    }

    /// The `rows, cols` of a clipped matrix load or store, both `u32`
    /// (`Some(None)`: not clipped; `None`: an error was reported).
    fn matrix_clip(&mut self, clip: Option<&(FExpr<'f>, FExpr<'f>)>) -> Option<Option<MatrixClip>> {
        let Some((rows, cols)) = clip else {
            return Some(None);
        };
        let r = self.u32_operand(rows, "a matrix clip's row count");
        let c = self.u32_operand(cols, "a matrix clip's column count");
        Some(Some(MatrixClip { rows: r?, cols: c? }))
    }

    /// A matrix statement; roles, shapes and element types were checked in
    /// pass 1.
    fn matrix_op(&mut self, op: &FMat<'f>) -> Option<MatrixOp> {
        Some(match op {
            FMat::Fill { matrix, value } => {
                let (x, t) = self.expr(value)?;
                if t != DataType::F32 {
                    let notes = self.lit_hint(value, DataType::F32);
                    self.kx.fx.err_notes(
                        value.loc,
                        format!("an accumulator is filled with an `f32`, but this is `{t}`"),
                        notes,
                    );
                    return None;
                }
                MatrixOp::Fill {
                    matrix: *matrix,
                    value: x,
                }
            }
            FMat::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let o = self.u32_operand(offset, "a matrix offset");
                let s = self.u32_operand(stride, "a matrix stride");
                let clip = self.matrix_clip(clip.as_ref());
                MatrixOp::Load {
                    matrix: *matrix,
                    buf: *buf,
                    offset: o?,
                    stride: s?,
                    layout: *layout,
                    clip: clip?,
                }
            }
            FMat::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let o = self.u32_operand(offset, "a matrix offset");
                let s = self.u32_operand(stride, "a matrix stride");
                let clip = self.matrix_clip(clip.as_ref());
                MatrixOp::Store {
                    matrix: *matrix,
                    buf: *buf,
                    offset: o?,
                    stride: s?,
                    layout: *layout,
                    clip: clip?,
                }
            }
            FMat::MultiplyAdd { d, a, b, c } => MatrixOp::MultiplyAdd {
                d: *d,
                a: *a,
                b: *b,
                c: *c,
            },
            FMat::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous,
            } => {
                let a = match a {
                    FOperand::Shared(t) => self.shared_tile(t, "A").map(WarpgroupOperand::Shared),
                    FOperand::Accumulator(p) => Some(WarpgroupOperand::Accumulator(*p)),
                };
                let b = self.shared_tile(b, "B");
                MatrixOp::WarpgroupMultiplyAdd {
                    d: *d,
                    a: a?,
                    b: b?,
                    c: *c,
                    asynchronous: *asynchronous,
                }
            }
            FMat::WarpgroupWait(pending) => MatrixOp::WarpgroupWait { pending: *pending },
            FMat::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => {
                let (x, t) = self.expr(expr)?;
                if t != DataType::F32 {
                    let notes = self.lit_hint(expr, DataType::F32);
                    self.kx.fx.err_notes(
                        expr.loc,
                        format!("`matrix_map`'s closure returns an `f32` (the new element), but this is `{t}`"),
                        notes,
                    );
                    return None;
                }
                MatrixOp::Map {
                    d: *d,
                    src: *src,
                    row: *row,
                    col: *col,
                    value: *value,
                    expr: x,
                }
            }
            FMat::RowReduce {
                op,
                src,
                dst,
                offset,
            } => {
                let what = format!("the offset of `{}`", op.name());
                MatrixOp::RowReduce {
                    op: *op,
                    src: *src,
                    dst: *dst,
                    offset: self.u32_operand(offset, &what)?,
                }
            }
        })
    }

    /// An operand tile of `warpgroup_mma`: its offset and stride are `u32`.
    fn shared_tile(&mut self, t: &FTile<'f>, which: &str) -> Option<SharedTile> {
        let o = self.u32_operand(
            &t.offset,
            &format!("the offset of `warpgroup_mma`'s {which}"),
        );
        let s = self.u32_operand(
            &t.stride,
            &format!("the stride of `warpgroup_mma`'s {which}"),
        );
        Some(SharedTile {
            array: t.array,
            offset: o?,
            stride: s?,
            layout: t.layout,
        })
    }

    /// An asynchronous copy statement.
    fn async_op(&mut self, op: &FAsync<'f>) -> Option<AsyncOp> {
        Some(match op {
            FAsync::Copy {
                dst,
                dst_index,
                src,
                src_index,
                count,
            } => {
                let d = self.u32_operand(dst_index, "the destination index of `async_copy`");
                let s = self.u32_operand(src_index, "the source index of `async_copy`");
                AsyncOp::Copy {
                    dst: *dst,
                    dst_index: d?,
                    src: *src,
                    src_index: s?,
                    count: *count,
                }
            }
            FAsync::Tile {
                dst,
                dst_index,
                src,
                rows,
                cols,
                row,
                col,
                box_rows,
                box_cols,
            } => {
                let d = self.u32_operand(dst_index, "the destination index of `async_copy_tile`");
                let r = self.u32_operand(row, "the row of `async_copy_tile`");
                let c = self.u32_operand(col, "the column of `async_copy_tile`");
                AsyncOp::Tile {
                    dst: *dst,
                    dst_index: d?,
                    src: *src,
                    rows: *rows,
                    cols: *cols,
                    row: r?,
                    col: c?,
                    box_rows: *box_rows,
                    box_cols: *box_cols,
                }
            }
            FAsync::Commit => AsyncOp::Commit,
            FAsync::Wait(pending) => AsyncOp::Wait { pending: *pending },
        })
    }

    /// The constant of `step_by(c)` on a loop over `vt`: at least 1, and
    /// at most `i32::MAX` for an `i32` loop.
    fn step(&mut self, e: &FExpr<'f>, vt: DataType) -> Option<u32> {
        let (x, _) = self.expr(e)?;
        let v = match crate::ir::consts::eval(&x) {
            Ok(Literal::U32(v)) => i64::from(v),
            Ok(Literal::I32(v)) => i64::from(v),
            Ok(l) => {
                self.err(
                    e.loc,
                    format!(
                        "the step of `step_by` must be an integer, but this is `{}`",
                        l.ty()
                    ),
                );
                return None;
            }
            Err(_) => {
                self.err(
                    e.loc,
                    "the step of `step_by` must be a constant (a literal or a `const`), not a run-time value",
                );
                return None;
            }
        };
        let max = if vt == DataType::I32 {
            i64::from(i32::MAX)
        } else {
            i64::from(u32::MAX)
        };
        if v < 1 {
            self.err(
                e.loc,
                format!("`step_by({v})`: a loop's step must be at least 1"),
            );
            return None;
        }
        if v > max {
            self.err(
                e.loc,
                format!("`step_by({v})` does not fit the `{vt}` loop variable (at most {max})"),
            );
            return None;
        }
        u32::try_from(v).ok()
    }

    /// The bounds of an `#[unroll]` loop, folded to literals; an error at
    /// the attribute when they are not constant.
    fn unroll_bounds(&mut self, start: Expr, end: Expr, attr: Span) -> Option<(Expr, Expr)> {
        let fold = |e: &Expr| crate::ir::consts::eval(e).ok().map(Expr::Lit);
        match (fold(&start), fold(&end)) {
            (Some(s), Some(e)) => Some((s, e)),
            _ => {
                self.err(
                    Loc::Span(attr),
                    "`#[unroll]` needs a range with constant bounds (literals or `const`s); this loop's bounds are run-time values",
                );
                None
            }
        }
    }

    /// The right-hand side of a `let`, an assignment or an expression
    /// statement: the only place an atomic may stand.
    fn rhs(&mut self, e: &FExpr<'f>) -> Option<(Rhs, DataType)> {
        let FK::Atomic {
            op,
            buf,
            index,
            expected,
            value,
        } = &e.k
        else {
            return self.expr(e).map(|(x, t)| (Rhs::Expr(x), t));
        };
        let loc = e.loc;
        let et = self.elem(*buf);
        let w = self.writable_check(*buf, loc);
        let float_add = *op == AtomicOp::Add && et == DataType::F32;
        if float_add && !matches!(buf, BufRef::Param(_)) {
            let n = self.buf_name(*buf);
            self.err(
                loc,
                format!("`atomic_add` of `f32` works on buffer elements only, and `{n}` is a shared array (add into a `u32`/`i32` array, or reduce with `subgroup_add` and a barrier)"),
            );
            return None;
        }
        if !matches!(et, DataType::U32 | DataType::I32) && !float_add {
            let n = self.buf_name(*buf);
            let needs = if *op == AtomicOp::Add {
                "`u32`, `i32` or (buffers) `f32`"
            } else {
                "`u32` or `i32`"
            };
            self.err(
                loc,
                format!(
                    "`{}` needs {needs} elements, but `{n}` holds `{et}`",
                    op.name()
                ),
            );
            return None;
        }
        let i = self.index(index);
        let x = expected.as_ref().map(|x| self.operand(x, et));
        let v = self.operand(value, et);
        let i = i?;
        let x = match x {
            Some(x) => Some(x?),
            None => None,
        };
        let v = v?;
        if !w {
            return None;
        }
        let call = AtomicCall {
            op: *op,
            buf: *buf,
            index: i,
            expected: x,
            value: v,
        };
        Some((Rhs::Atomic(call), et))
    }

    pub(super) fn expr(&mut self, e: &FExpr<'f>) -> Option<(Expr, DataType)> {
        let loc = e.loc;
        Some(match &e.k {
            FK::Error => return None,
            FK::Int(v) => {
                let t = self.kx.vars.resolve(e.ty)?;
                match int_literal(*v, t) {
                    Some(l) => (Expr::Lit(l), t),
                    None => {
                        self.err(
                            loc,
                            format!(
                                "literal `{v}` out of range for `{t}` (whose range is {})",
                                int_range(t)
                            ),
                        );
                        return None;
                    }
                }
            }
            FK::Float(bits, bits64) => {
                let t = self.kx.vars.resolve(e.ty)?;
                match round_float(f32::from_bits(*bits), f64::from_bits(*bits64), t) {
                    Some(l) => (Expr::Lit(l), l.ty()),
                    None => {
                        self.err(loc, float_overflow(t));
                        return None;
                    }
                }
            }
            FK::Lit(l) => (Expr::Lit(*l), l.ty()),
            FK::Local(id) => (Expr::Local(*id), self.p.locals.get(*id as usize)?.ty),
            FK::Param(id) => match self.p.params.get(*id as usize)? {
                Param::Scalar { ty, .. } => (Expr::Param(*id), *ty),
                Param::Buffer(_) => return None,
            },
            FK::Builtin(b, a) => (Expr::Builtin(*b, *a), DataType::U32),
            FK::Len(id) => (Expr::Len(*id), DataType::U32),
            FK::Load(b, i) => {
                let index = self.index(i)?;
                (
                    Expr::Load {
                        buf: *b,
                        index: Box::new(index),
                    },
                    self.elem(*b),
                )
            }
            FK::Unary(op, a) => {
                let (x, t) = self.expr(a)?;
                let ok = match op {
                    UnOp::Neg => t.is_signed() || t.is_float(),
                    UnOp::Not => !t.is_float(),
                };
                if !ok {
                    let msg = match op {
                        UnOp::Neg if t.is_integer() => format!(
                            "cannot negate a `{t}`; unary `-` works on `i32` and `f32` (and the other signed and float types; for wrapping negation write `0{t} - x`)"
                        ),
                        UnOp::Neg => format!(
                            "cannot negate a `{t}`; unary `-` works on `i32` and `f32` (and the other signed and float types)"
                        ),
                        UnOp::Not => format!("`!` works on `bool` and integers, not `{t}`"),
                    };
                    self.err(loc, msg);
                    return None;
                }
                (Expr::Unary(*op, Box::new(x)), t)
            }
            FK::Binary(op, a, b) => {
                let l = self.expr(a);
                let r = self.expr(b);
                let ((xa, ta), (xb, tb)) = (l?, r?);
                let Some(t) = binary_type(*op, ta, tb) else {
                    self.binary_error(*op, a, b, ta, tb, loc);
                    return None;
                };
                (Expr::Binary(*op, Box::new(xa), Box::new(xb)), t)
            }
            FK::Cast(t, a) => {
                let (x, from) = self.expr(a)?;
                if *t == DataType::Bool && from != DataType::Bool {
                    self.err(
                        loc,
                        format!("cannot cast `{from}` to `bool`; compare instead: `x != 0`"),
                    );
                    return None;
                }
                (Expr::Cast(*t, Box::new(x)), *t)
            }
            FK::Math(f, args) => {
                let mut xs = Vec::with_capacity(args.len());
                let mut ts = Vec::with_capacity(args.len());
                let mut bad = false;
                for a in args {
                    match self.expr(a) {
                        Some((x, t)) => {
                            xs.push(x);
                            ts.push(t);
                        }
                        None => bad = true,
                    }
                }
                if bad {
                    return None;
                }
                let Some(t) = math_type(*f, &ts) else {
                    let msg = if ts.iter().any(|t| *t != ts[0]) {
                        format!(
                            "mismatched types: `{}` needs all operands of the same type, got {}",
                            f.name(),
                            ts.iter()
                                .map(|t| format!("`{t}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        let allowed = match f {
                            MathFn::Abs => "`f32` or `i32` (any float or signed integer type)",
                            MathFn::Min | MathFn::Max | MathFn::Clamp => {
                                "`f32`, `i32` or `u32` (any numeric type)"
                            }
                            _ => "`f32` (or `f16`, `bf16`; convert with `as f32`)",
                        };
                        format!("`{}` works on {allowed}, not `{}`", f.name(), ts[0])
                    };
                    self.err(loc, msg);
                    return None;
                };
                (Expr::Math(*f, xs), t)
            }
            FK::Subgroup(op, args) => {
                let mut xs = Vec::with_capacity(args.len());
                let mut ts = Vec::with_capacity(args.len());
                let mut bad = false;
                for a in args {
                    match self.expr(a) {
                        Some((x, t)) => {
                            xs.push(x);
                            ts.push(t);
                        }
                        None => bad = true,
                    }
                }
                if bad {
                    return None;
                }
                let Some(t) = subgroup_type(*op, &ts) else {
                    self.subgroup_error(*op, args, &ts, loc);
                    return None;
                };
                (Expr::Subgroup(*op, xs), t)
            }
            FK::Select(c, a, b) => {
                let cond = self.cond(c);
                let l = self.expr(a);
                let r = self.expr(b);
                let (cond, (xa, ta), (xb, tb)) = (cond?, l?, r?);
                if ta != tb {
                    self.err(
                        loc,
                        format!("mismatched types: the branches of this `if` are `{ta}` and `{tb}`; they must have the same type"),
                    );
                    return None;
                }
                (
                    Expr::Select {
                        cond: Box::new(cond),
                        then: Box::new(xa),
                        otherwise: Box::new(xb),
                    },
                    ta,
                )
            }
            FK::Atomic { op, .. } => {
                // Pass 1 only lets atomics stand where `rhs` takes them.
                self.err(
                    loc,
                    format!(
                        "`{}` may only be a whole statement, the whole initializer of a `let` or the whole right-hand side of `=`",
                        op.name()
                    ),
                );
                return None;
            }
        })
    }

    /// Which operand of a subgroup call has the wrong type, and why.
    fn subgroup_error(
        &mut self,
        op: SubgroupOp,
        args: &[FExpr<'f>],
        ts: &[DataType],
        loc: Loc<'f>,
    ) {
        let name = op.name();
        let at = |i: usize| args.get(i).map_or(loc, |a| a.loc);
        let (l, msg) = match op {
            SubgroupOp::Ballot | SubgroupOp::All | SubgroupOp::Any => (
                at(0),
                format!(
                    "`{name}` takes a `bool` condition, but this is `{}` (compare instead, e.g. `x != 0`)",
                    ts.first().copied().unwrap_or(DataType::Bool)
                ),
            ),
            _ if ts.first() == Some(&DataType::Bool) => (
                at(0),
                format!(
                    "`{name}` works on `i32`, `u32` or `f32`, not `bool` (combine conditions with `subgroup_all`, `subgroup_any` or `subgroup_ballot`)"
                ),
            ),
            _ if ts.first().is_some_and(|t| t.is_wide()) => (
                at(0),
                format!(
                    "`{name}` works on numeric values of at most 32 bits, not `{}` (split a 64-bit value into two `u32` halves)",
                    ts.first().copied().unwrap_or(DataType::U64)
                ),
            ),
            _ if op.is_shuffle() => (
                at(1),
                format!(
                    "the lane operand of `{name}` must be `u32`, but this is `{}`; convert it with `as u32`",
                    ts.get(1).copied().unwrap_or(DataType::U32)
                ),
            ),
            // Arity is checked in pass 1; nothing else can be wrong.
            _ => (
                loc,
                format!("`{}` does not take these operands", subgroup_form(op)),
            ),
        };
        self.err(l, msg);
    }

    /// An operand that must have type `want`.
    fn operand(&mut self, e: &FExpr<'f>, want: DataType) -> Option<Expr> {
        let (x, t) = self.expr(e)?;
        if t != want {
            let notes = self.lit_hint(e, want);
            self.kx.fx.err_notes(
                e.loc,
                format!("mismatched types: expected `{want}`, found `{t}`"),
                notes,
            );
            return None;
        }
        Some(x)
    }

    fn binary_error(
        &mut self,
        op: BinOp,
        a: &FExpr<'f>,
        b: &FExpr<'f>,
        ta: DataType,
        tb: DataType,
        loc: Loc<'f>,
    ) {
        let sym = op.symbol();
        let mut notes = Vec::new();
        let msg = match op {
            BinOp::Shl | BinOp::Shr => {
                format!("`{sym}` shifts integers, but the operands are `{ta}` and `{tb}`")
            }
            BinOp::And | BinOp::Or => {
                format!("`{sym}` needs `bool` operands, but they are `{ta}` and `{tb}`")
            }
            _ if ta != tb => {
                notes.extend(self.lit_hint(a, tb));
                notes.extend(self.lit_hint(b, ta));
                format!(
                    "mismatched types: `{ta} {sym} {tb}`; both operands of `{sym}` must have the same type (convert one with `as`)"
                )
            }
            BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => format!(
                "`{sym}` is not defined for `{ta}`; bitwise operators work on integers and `bool`"
            ),
            BinOp::Rem if ta == DataType::F64 => "`f64 % f64` is not supported (no target has an exact `f64` remainder); compute it in `f32`, or as `x - (x / y).floor() * y` where rounding is acceptable".to_string(),
            _ => format!("`{sym}` is not defined for `{ta}`"),
        };
        self.kx.fx.err_notes(loc, msg, notes);
    }
}
