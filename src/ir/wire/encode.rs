//! Encoding: [`to_wire`] and its byte writer.

use crate::ir::{
    Access, AsyncOp, AtomicResult, BufRef, DataType, Expr, Literal, MatrixLayout, MatrixOp,
    MatrixRole, MatrixScope, Node, Param, Program, RowReduceOp, SharedLayout, SharedTile, TileDim,
    WarpgroupOperand,
};

use super::{MAGIC, VERSION};

/// Encode a program.
#[must_use]
pub fn to_wire(program: &Program) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.0.extend_from_slice(&MAGIC);
    w.0.extend_from_slice(&VERSION.to_le_bytes());
    w.str(&program.name);
    w.str(&program.doc);
    w.u8(u8::from(program.unchecked) | (u8::from(program.fast_math) << 1));
    for d in program.workgroup_size {
        w.uint(d);
    }
    w.len(program.params.len());
    for p in &program.params {
        match p {
            Param::Buffer(b) => {
                w.u8(0);
                w.str(&b.name);
                w.ty(b.elem);
                w.u8(match b.access {
                    Access::Read => 0,
                    Access::ReadWrite => 1,
                });
            }
            Param::Scalar { name, ty } => {
                w.u8(1);
                w.str(name);
                w.ty(*ty);
            }
        }
    }
    w.len(program.shared.len());
    for s in &program.shared {
        w.str(&s.name);
        w.ty(s.elem);
        w.uint(s.len);
        match s.layout {
            SharedLayout::Linear => w.u8(0),
            SharedLayout::Swizzled { cols } => {
                w.u8(1);
                w.uint(cols);
            }
        }
    }
    w.len(program.private.len());
    for s in &program.private {
        w.str(&s.name);
        w.ty(s.elem);
        w.uint(s.len);
    }
    w.len(program.matrices.len());
    for m in &program.matrices {
        w.str(&m.name);
        w.u8(match m.role {
            MatrixRole::A => 0,
            MatrixRole::B => 1,
            MatrixRole::Accumulator => 2,
        });
        w.ty(m.elem);
        w.uint(m.shape.m);
        w.uint(m.shape.n);
        w.uint(m.shape.k);
        w.u8(match m.scope {
            MatrixScope::Subgroup => 0,
            MatrixScope::Warpgroup => 1,
        });
    }
    w.len(program.locals.len());
    for l in &program.locals {
        w.str(&l.name);
        w.ty(l.ty);
        w.u8(u8::from(l.mutable));
    }
    w.block(&program.body);
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }

    fn uint(&mut self, mut v: u32) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    /// A tile copy's matrix dimension: `0 param:uN | 1 const:uN | 2` (fill).
    fn tile_dim(&mut self, d: TileDim) {
        match d {
            TileDim::Param(p) => {
                self.u8(0);
                self.uint(p);
            }
            TileDim::Const(v) => {
                self.u8(1);
                self.uint(v);
            }
            TileDim::Fill => self.u8(2),
        }
    }

    fn len(&mut self, n: usize) {
        // Programs with more than u32::MAX items cannot be built in memory
        // that a 32-bit id can address; saturate rather than panic.
        self.uint(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn ty(&mut self, t: DataType) {
        self.u8(match t {
            DataType::Bool => 0,
            DataType::I32 => 1,
            DataType::U32 => 2,
            DataType::F32 => 3,
            DataType::F16 => 4,
            DataType::BF16 => 5,
            DataType::U8 => 6,
            DataType::I8 => 7,
            DataType::U16 => 8,
            DataType::I16 => 9,
            DataType::U64 => 10,
            DataType::I64 => 11,
            DataType::F64 => 12,
        });
    }

    fn buf(&mut self, b: BufRef) {
        match b {
            BufRef::Param(id) => {
                self.u8(0);
                self.uint(id);
            }
            BufRef::Shared(id) => {
                self.u8(1);
                self.uint(id);
            }
            BufRef::Private(id) => {
                self.u8(2);
                self.uint(id);
            }
        }
    }

    fn block(&mut self, body: &[Node]) {
        self.len(body.len());
        for n in body {
            self.node(n);
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Let { local, value } => {
                self.u8(0);
                self.uint(*local);
                self.expr(value);
            }
            Node::Assign { local, value } => {
                self.u8(1);
                self.uint(*local);
                self.expr(value);
            }
            Node::Store { buf, index, value } => {
                self.u8(2);
                self.buf(*buf);
                self.expr(index);
                self.expr(value);
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                match *result {
                    AtomicResult::Let(local) => {
                        self.u8(0);
                        self.uint(local);
                    }
                    AtomicResult::Assign(local) => {
                        self.u8(1);
                        self.uint(local);
                    }
                    AtomicResult::Discard => self.u8(3),
                }
                self.u8(11);
                self.u8(*op as u8);
                self.buf(*buf);
                self.expr(index);
                match expected {
                    Some(x) => {
                        self.u8(1);
                        self.expr(x);
                    }
                    None => self.u8(0),
                }
                self.expr(value);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                self.u8(4);
                self.expr(cond);
                self.block(then);
                self.block(otherwise);
            }
            Node::While { cond, body } => {
                self.u8(5);
                self.expr(cond);
                self.block(body);
            }
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => {
                self.u8(6);
                self.uint(*var);
                self.expr(start);
                self.expr(end);
                self.uint(*step);
                self.u8(u8::from(*unroll));
                self.block(body);
            }
            Node::Loop { body } => {
                self.u8(7);
                self.block(body);
            }
            Node::Unsafe { body } => {
                self.u8(24);
                self.block(body);
            }
            Node::Break => self.u8(8),
            Node::Continue => self.u8(9),
            Node::Return => self.u8(10),
            Node::Barrier => self.u8(11),
            Node::WarpgroupBarrier => self.u8(26),
            Node::Matrix(op) => self.matrix(op),
            Node::Async(AsyncOp::Copy {
                dst,
                dst_index,
                src,
                src_index,
                count,
            }) => {
                self.u8(16);
                self.uint(*dst);
                self.expr(dst_index);
                self.uint(*src);
                self.expr(src_index);
                self.uint(*count);
            }
            Node::Async(AsyncOp::Tile {
                dst,
                dst_index,
                src,
                rows,
                cols,
                row,
                col,
                box_rows,
                box_cols,
            }) => {
                self.u8(25);
                self.uint(*dst);
                self.expr(dst_index);
                self.uint(*src);
                self.tile_dim(*rows);
                self.tile_dim(*cols);
                self.expr(row);
                self.expr(col);
                self.uint(*box_rows);
                self.uint(*box_cols);
            }
            Node::Async(AsyncOp::Commit) => self.u8(17),
            Node::Async(AsyncOp::Wait { pending }) => {
                self.u8(18);
                self.uint(*pending);
            }
        }
    }

    fn matrix(&mut self, op: &MatrixOp) {
        match op {
            MatrixOp::Fill { matrix, value } => {
                self.u8(12);
                self.uint(*matrix);
                self.expr(value);
            }
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            }
            | MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                self.u8(if matches!(op, MatrixOp::Load { .. }) {
                    13
                } else {
                    14
                });
                self.uint(*matrix);
                self.buf(*buf);
                self.expr(offset);
                self.expr(stride);
                self.layout(*layout);
                match clip {
                    None => self.u8(0),
                    Some(clip) => {
                        self.u8(1);
                        self.expr(&clip.rows);
                        self.expr(&clip.cols);
                    }
                }
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => {
                self.u8(15);
                for id in [d, a, b, c] {
                    self.uint(*id);
                }
            }
            MatrixOp::WarpgroupWait { pending } => {
                self.u8(21);
                self.uint(*pending);
            }
            MatrixOp::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous,
            } => {
                self.u8(if *asynchronous { 20 } else { 19 });
                self.uint(*d);
                match a {
                    WarpgroupOperand::Shared(t) => {
                        self.u8(0);
                        self.tile(t);
                    }
                    WarpgroupOperand::Accumulator(m) => {
                        self.u8(1);
                        self.uint(*m);
                    }
                }
                self.tile(b);
                self.uint(*c);
            }
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => {
                self.u8(22);
                for id in [d, src, row, col, value] {
                    self.uint(*id);
                }
                self.expr(expr);
            }
            MatrixOp::RowReduce {
                op,
                src,
                dst,
                offset,
            } => {
                self.u8(23);
                self.u8(match op {
                    RowReduceOp::Max => 0,
                    RowReduceOp::Add => 1,
                });
                self.uint(*src);
                self.uint(*dst);
                self.expr(offset);
            }
        }
    }

    fn layout(&mut self, layout: MatrixLayout) {
        self.u8(match layout {
            MatrixLayout::RowMajor => 0,
            MatrixLayout::ColMajor => 1,
        });
    }

    fn tile(&mut self, t: &SharedTile) {
        self.uint(t.array);
        self.expr(&t.offset);
        self.expr(&t.stride);
        self.layout(t.layout);
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Lit(l) => {
                self.u8(0);
                self.ty(l.ty());
                match *l {
                    Literal::Bool(b) => self.u8(u8::from(b)),
                    Literal::I32(v) => self.uint(v as u32),
                    Literal::U32(v) | Literal::F32(v) => self.uint(v),
                    // Low word, then high word.
                    wide @ (Literal::U64(_) | Literal::I64(_) | Literal::F64(_)) => {
                        let bits = wide.bits64();
                        self.uint(bits as u32);
                        self.uint((bits >> 32) as u32);
                    }
                    narrow => self.uint(narrow.bits()),
                }
            }
            Expr::Local(id) => {
                self.u8(1);
                self.uint(*id);
            }
            Expr::Param(id) => {
                self.u8(2);
                self.uint(*id);
            }
            Expr::Builtin(b, a) => {
                self.u8(3);
                self.u8(*b as u8);
                self.u8(*a as u8);
            }
            Expr::Len(id) => {
                self.u8(4);
                self.uint(*id);
            }
            Expr::Load { buf, index } => {
                self.u8(5);
                self.buf(*buf);
                self.expr(index);
            }
            Expr::Unary(op, a) => {
                self.u8(6);
                self.u8(*op as u8);
                self.expr(a);
            }
            Expr::Binary(op, a, b) => {
                self.u8(7);
                self.u8(*op as u8);
                self.expr(a);
                self.expr(b);
            }
            Expr::Cast(t, a) => {
                self.u8(8);
                self.ty(*t);
                self.expr(a);
            }
            Expr::Math(f, args) => {
                self.u8(9);
                self.u8(*f as u8);
                self.len(args.len());
                for a in args {
                    self.expr(a);
                }
            }
            Expr::Subgroup(op, args) => {
                self.u8(12);
                self.u8(*op as u8);
                self.len(args.len());
                for a in args {
                    self.expr(a);
                }
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                self.u8(10);
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
            }
        }
    }
}
