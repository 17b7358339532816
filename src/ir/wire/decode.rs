//! Decoding: [`from_wire`] and its checked byte reader.

use crate::ir::{
    Access, AsyncOp, AtomicOp, AtomicResult, Axis, BufRef, BufferDecl, Builtin, DataType, Expr,
    Literal, LocalDecl, MathFn, MatrixClip, MatrixDecl, MatrixLayout, MatrixOp, MatrixRole,
    MatrixScope, MatrixShape, Node, Param, PrivateDecl, Program, RowReduceOp, SharedDecl,
    SharedLayout, SharedTile, SubgroupOp, TileDim, UnOp, WarpgroupOperand,
    builder::{AtomicCall, Rhs},
};

use super::{ATOMIC, BINOPS, MAGIC, MAX_DEPTH, VERSION, WireError};

/// Decode a program.
///
/// # Errors
///
/// [`WireError`] on any malformed input; never panics.
pub fn from_wire(bytes: &[u8]) -> Result<Program, WireError> {
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    let Some(version) = bytes.get(4..6) else {
        return Err(WireError::Malformed {
            offset: bytes.len(),
            reason: "input ends inside the version field".to_string(),
        });
    };
    let found = u16::from_le_bytes([version[0], version[1]]);
    if found != VERSION {
        return Err(WireError::UnsupportedVersion {
            found,
            supported: VERSION,
        });
    }
    let mut r = Reader {
        bytes,
        pos: 6,
        depth: 0,
    };
    let program = r.program()?;
    if r.pos != bytes.len() {
        return Err(r.err(format!(
            "{} trailing bytes after the program",
            bytes.len() - r.pos
        )));
    }
    program
        .validate()
        .map_err(|errors| WireError::InvalidProgram {
            name: program.name.clone(),
            errors,
        })?;
    Ok(program)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

type R<T> = Result<T, WireError>;

impl Reader<'_> {
    fn err(&self, reason: impl Into<String>) -> WireError {
        WireError::Malformed {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self) -> R<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn uint(&mut self) -> R<u32> {
        let start = self.pos;
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = self.u8()?;
            if i == 4 && b > 0x0f {
                self.pos = start;
                return Err(self.err("varint does not fit in 32 bits"));
            }
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        // Unreachable in practice: the fifth byte's check above rejects a
        // continuation bit, but report rather than assume.
        self.pos = start;
        Err(self.err("varint longer than 5 bytes"))
    }

    /// A tile copy's matrix dimension (see the module's `dim`).
    fn tile_dim(&mut self) -> R<TileDim> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(TileDim::Param(self.uint()?)),
            1 => Ok(TileDim::Const(self.uint()?)),
            2 => Ok(TileDim::Fill),
            k => {
                self.pos = at;
                Err(self.err(format!("unknown tile dimension kind {k}")))
            }
        }
    }

    /// A count of items that take at least one byte each: bounded by the
    /// remaining input before anything is allocated.
    fn count(&mut self, what: &str) -> R<usize> {
        let at = self.pos;
        let n = self.uint()? as usize;
        if n > self.remaining() {
            self.pos = at;
            return Err(self.err(format!(
                "{what} count {n} exceeds the {} remaining bytes",
                self.remaining()
            )));
        }
        Ok(n)
    }

    fn str(&mut self, what: &str) -> R<String> {
        let n = self.count(what)?;
        let raw = &self.bytes[self.pos..self.pos + n];
        let s = std::str::from_utf8(raw)
            .map_err(|_| self.err(format!("{what} is not valid UTF-8")))?
            .to_string();
        self.pos += n;
        Ok(s)
    }

    fn bool(&mut self, what: &str) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => {
                self.pos -= 1;
                Err(self.err(format!("{what}: expected 0 or 1, found {b}")))
            }
        }
    }

    fn tag<T: Copy>(&mut self, what: &str, table: &[T]) -> R<T> {
        let b = self.u8()?;
        if let Some(v) = table.get(b as usize) {
            Ok(*v)
        } else {
            self.pos -= 1;
            Err(self.err(format!("unknown {what} code {b}")))
        }
    }

    fn ty(&mut self) -> R<DataType> {
        self.tag(
            "type",
            &[
                DataType::Bool,
                DataType::I32,
                DataType::U32,
                DataType::F32,
                DataType::F16,
                DataType::BF16,
                DataType::U8,
                DataType::I8,
                DataType::U16,
                DataType::I16,
                DataType::U64,
                DataType::I64,
                DataType::F64,
            ],
        )
    }

    fn buf(&mut self) -> R<BufRef> {
        match self.u8()? {
            0 => Ok(BufRef::Param(self.uint()?)),
            1 => Ok(BufRef::Shared(self.uint()?)),
            2 => Ok(BufRef::Private(self.uint()?)),
            b => {
                self.pos -= 1;
                Err(self.err(format!("unknown buffer reference kind {b}")))
            }
        }
    }

    /// Statement codes 0 to 3 (`let`, assignment, store, atomic): like
    /// [`Reader::nested`], out of the recursive [`Reader::node`].
    #[inline(never)]
    fn effect(&mut self, code: u8) -> R<Node> {
        Ok(match code {
            0 => {
                let local = self.uint()?;
                match self.rhs()? {
                    Rhs::Expr(value) => Node::Let { local, value },
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Let(local)),
                }
            }
            1 => {
                let local = self.uint()?;
                match self.rhs()? {
                    Rhs::Expr(value) => Node::Assign { local, value },
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Assign(local)),
                }
            }
            2 => Node::Store {
                buf: self.buf()?,
                index: self.expr()?,
                value: self.expr()?,
            },
            _ => {
                let at = self.pos;
                match self.rhs()? {
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Discard),
                    Rhs::Expr(_) => {
                        return Err(WireError::Malformed {
                            offset: at,
                            reason: "an expression statement must be an atomic; other expressions have no effect".to_string(),
                        });
                    }
                }
            }
        })
    }

    /// Statement codes 4 to 7 and 24, the ones that nest blocks: a function of
    /// their own so that the frame repeated per nesting level is small.
    #[inline(never)]
    fn nested(&mut self, code: u8) -> R<Node> {
        Ok(match code {
            4 => Node::If {
                cond: self.expr()?,
                then: self.block()?,
                otherwise: self.block()?,
            },
            5 => Node::While {
                cond: self.expr()?,
                body: self.block()?,
            },
            6 => Node::For {
                var: self.uint()?,
                start: self.expr()?,
                end: self.expr()?,
                step: self.uint()?,
                unroll: self.bool("unroll flag")?,
                body: self.block()?,
            },
            7 => Node::Loop {
                body: self.block()?,
            },
            _ => Node::Unsafe {
                body: self.block()?,
            },
        })
    }

    /// Statement codes 12 to 23 and 25, kept out of [`Reader::node`] so that its
    /// frame, repeated once per nesting level, stays small.
    #[inline(never)]
    fn matrix_or_async(&mut self, code: u8) -> R<Node> {
        Ok(match code {
            12 => Node::Matrix(MatrixOp::Fill {
                matrix: self.uint()?,
                value: self.expr()?,
            }),
            13 => Node::Matrix(MatrixOp::Load {
                matrix: self.uint()?,
                buf: self.buf()?,
                offset: self.expr()?,
                stride: self.expr()?,
                layout: self.layout()?,
                clip: self.clip()?,
            }),
            14 => Node::Matrix(MatrixOp::Store {
                matrix: self.uint()?,
                buf: self.buf()?,
                offset: self.expr()?,
                stride: self.expr()?,
                layout: self.layout()?,
                clip: self.clip()?,
            }),
            15 => Node::Matrix(MatrixOp::MultiplyAdd {
                d: self.uint()?,
                a: self.uint()?,
                b: self.uint()?,
                c: self.uint()?,
            }),
            16 => Node::Async(AsyncOp::Copy {
                dst: self.uint()?,
                dst_index: self.expr()?,
                src: self.uint()?,
                src_index: self.expr()?,
                count: self.uint()?,
            }),
            17 => Node::Async(AsyncOp::Commit),
            25 => Node::Async(AsyncOp::Tile {
                dst: self.uint()?,
                dst_index: self.expr()?,
                src: self.uint()?,
                rows: self.tile_dim()?,
                cols: self.tile_dim()?,
                row: self.expr()?,
                col: self.expr()?,
                box_rows: self.uint()?,
                box_cols: self.uint()?,
            }),
            18 => Node::Async(AsyncOp::Wait {
                pending: self.uint()?,
            }),
            21 => Node::Matrix(MatrixOp::WarpgroupWait {
                pending: self.uint()?,
            }),
            22 => Node::Matrix(MatrixOp::Map {
                d: self.uint()?,
                src: self.uint()?,
                row: self.uint()?,
                col: self.uint()?,
                value: self.uint()?,
                expr: self.expr()?,
            }),
            23 => Node::Matrix(MatrixOp::RowReduce {
                op: self.tag("row reduction", &[RowReduceOp::Max, RowReduceOp::Add])?,
                src: self.uint()?,
                dst: self.uint()?,
                offset: self.expr()?,
            }),
            _ => Node::Matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: self.uint()?,
                a: self.warpgroup_operand()?,
                b: self.tile()?,
                c: self.uint()?,
                asynchronous: code == 20,
            }),
        })
    }

    /// A warpgroup multiply's `A`: 0 a tile, 1 an accumulator.
    fn warpgroup_operand(&mut self) -> R<WarpgroupOperand> {
        match self.u8()? {
            0 => Ok(WarpgroupOperand::Shared(self.tile()?)),
            1 => Ok(WarpgroupOperand::Accumulator(self.uint()?)),
            b => {
                self.pos -= 1;
                Err(self.err(format!("unknown warpgroup operand code {b}")))
            }
        }
    }

    /// An operand tile of a warpgroup multiply.
    fn tile(&mut self) -> R<SharedTile> {
        Ok(SharedTile {
            array: self.uint()?,
            offset: self.expr()?,
            stride: self.expr()?,
            layout: self.layout()?,
        })
    }

    /// A shared array's layout: 0 linear, 1 swizzled with its columns.
    fn shared_layout(&mut self) -> R<SharedLayout> {
        match self.u8()? {
            0 => Ok(SharedLayout::Linear),
            1 => Ok(SharedLayout::Swizzled { cols: self.uint()? }),
            b => {
                self.pos -= 1;
                Err(self.err(format!("unknown shared array layout code {b}")))
            }
        }
    }

    fn clip(&mut self) -> R<Option<MatrixClip>> {
        if !self.bool("matrix clip flag")? {
            return Ok(None);
        }
        Ok(Some(MatrixClip {
            rows: self.expr()?,
            cols: self.expr()?,
        }))
    }

    fn layout(&mut self) -> R<MatrixLayout> {
        self.tag(
            "matrix layout",
            &[MatrixLayout::RowMajor, MatrixLayout::ColMajor],
        )
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn program(&mut self) -> R<Program> {
        let name = self.str("kernel name")?;
        let doc = self.str("doc comment")?;
        let flags = self.u8()?;
        if flags & !0b11 != 0 {
            self.pos -= 1;
            return Err(self.err(format!("unknown flag bits {flags:#04x}")));
        }
        let workgroup_size = [self.uint()?, self.uint()?, self.uint()?];
        let n = self.count("parameter")?;
        let mut params = Vec::with_capacity(n);
        for _ in 0..n {
            params.push(match self.u8()? {
                0 => {
                    let name = self.str("parameter name")?;
                    let elem = self.ty()?;
                    let access = self.tag("access", &[Access::Read, Access::ReadWrite])?;
                    Param::Buffer(BufferDecl { name, elem, access })
                }
                1 => {
                    let name = self.str("parameter name")?;
                    let ty = self.ty()?;
                    Param::Scalar { name, ty }
                }
                b => {
                    self.pos -= 1;
                    return Err(self.err(format!("unknown parameter kind {b}")));
                }
            });
        }
        let n = self.count("shared array")?;
        let mut shared = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str("shared array name")?;
            let elem = self.ty()?;
            let len = self.uint()?;
            let layout = self.shared_layout()?;
            shared.push(SharedDecl {
                name,
                elem,
                len,
                layout,
            });
        }
        let n = self.count("private array")?;
        let mut private = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str("private array name")?;
            let elem = self.ty()?;
            let len = self.uint()?;
            private.push(PrivateDecl { name, elem, len });
        }
        let n = self.count("matrix")?;
        let mut matrices = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str("matrix name")?;
            let role = self.tag(
                "matrix role",
                &[MatrixRole::A, MatrixRole::B, MatrixRole::Accumulator],
            )?;
            let elem = self.ty()?;
            let shape = MatrixShape {
                m: self.uint()?,
                n: self.uint()?,
                k: self.uint()?,
            };
            let scope = self.tag(
                "matrix scope",
                &[MatrixScope::Subgroup, MatrixScope::Warpgroup],
            )?;
            matrices.push(MatrixDecl {
                name,
                role,
                elem,
                shape,
                scope,
            });
        }
        let n = self.count("local")?;
        let mut locals = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str("local name")?;
            let ty = self.ty()?;
            let mutable = self.bool("local mutability")?;
            locals.push(LocalDecl { name, ty, mutable });
        }
        let body = self.block()?;
        Ok(Program {
            name,
            doc,
            params,
            workgroup_size,
            shared,
            private,
            matrices,
            locals,
            body,
            unchecked: flags & 1 != 0,
            fast_math: flags & 2 != 0,
        })
    }

    fn block(&mut self) -> R<Vec<Node>> {
        self.enter()?;
        let n = self.count("statement")?;
        let mut body = Vec::with_capacity(n);
        for _ in 0..n {
            body.push(self.node()?);
        }
        self.depth -= 1;
        Ok(body)
    }

    fn node(&mut self) -> R<Node> {
        Ok(match self.u8()? {
            code @ 0..=3 => self.effect(code)?,
            code @ (4..=7 | 24) => self.nested(code)?,
            8 => Node::Break,
            9 => Node::Continue,
            10 => Node::Return,
            11 => Node::Barrier,
            26 => Node::WarpgroupBarrier,
            code @ (12..=23 | 25) => self.matrix_or_async(code)?,
            b => {
                self.pos -= 1;
                return Err(self.err(format!("unknown statement code {b}")));
            }
        })
    }

    /// The right-hand side of `let`, `assign` or `eval`: a plain expression
    /// or, only here, an atomic.
    fn rhs(&mut self) -> R<Rhs> {
        if self.bytes.get(self.pos) != Some(&ATOMIC) {
            return self.expr().map(Rhs::Expr);
        }
        // Nesting is counted as when the atomic was an expression.
        self.enter()?;
        self.pos += 1;
        let op = self.tag("atomic operation", &AtomicOp::ALL)?;
        let buf = self.buf()?;
        let index = self.expr()?;
        let expected = if self.bool("atomic expected flag")? {
            Some(self.expr()?)
        } else {
            None
        };
        let value = self.expr()?;
        self.depth -= 1;
        Ok(Rhs::Atomic(AtomicCall {
            op,
            buf,
            index,
            expected,
            value,
        }))
    }

    fn boxed(&mut self) -> R<Box<Expr>> {
        self.expr().map(Box::new)
    }

    fn expr(&mut self) -> R<Expr> {
        self.enter()?;
        let e = self.expr_inner()?;
        self.depth -= 1;
        Ok(e)
    }

    fn expr_inner(&mut self) -> R<Expr> {
        Ok(match self.u8()? {
            0 => Expr::Lit(match self.ty()? {
                DataType::Bool => Literal::Bool(self.bool("bool literal")?),
                DataType::I32 => Literal::I32(self.uint()? as i32),
                DataType::U32 => Literal::U32(self.uint()?),
                DataType::F32 => Literal::F32(self.uint()?),
                wide @ (DataType::U64 | DataType::I64 | DataType::F64) => {
                    let low = u64::from(self.uint()?);
                    let high = u64::from(self.uint()?);
                    Literal::from_bits64(wide, low | high << 32)
                }
                narrow => {
                    let bits = self.uint()?;
                    if u64::from(bits) >> narrow.bits() != 0 {
                        return Err(self.err(format!("`{narrow}` literal {bits:#x} out of range")));
                    }
                    Literal::from_bits(narrow, bits)
                }
            }),
            1 => Expr::Local(self.uint()?),
            2 => Expr::Param(self.uint()?),
            3 => Expr::Builtin(
                self.tag(
                    "builtin",
                    &[
                        Builtin::GlobalId,
                        Builtin::LocalId,
                        Builtin::WorkgroupId,
                        Builtin::NumWorkgroups,
                    ],
                )?,
                self.tag("axis", &[Axis::X, Axis::Y, Axis::Z])?,
            ),
            4 => Expr::Len(self.uint()?),
            5 => Expr::Load {
                buf: self.buf()?,
                index: self.boxed()?,
            },
            6 => {
                let op = self.tag("unary operator", &[UnOp::Neg, UnOp::Not])?;
                Expr::Unary(op, self.boxed()?)
            }
            7 => {
                let op = self.tag("binary operator", &BINOPS)?;
                Expr::Binary(op, self.boxed()?, self.boxed()?)
            }
            8 => {
                let t = self.ty()?;
                Expr::Cast(t, self.boxed()?)
            }
            9 => {
                let f = self.tag("math function", &MathFn::ALL)?;
                let n = self.count("math operand")?;
                let mut args = Vec::with_capacity(n);
                for _ in 0..n {
                    args.push(self.expr()?);
                }
                Expr::Math(f, args)
            }
            12 => {
                let op = self.tag("subgroup operation", &SubgroupOp::ALL)?;
                let n = self.count("subgroup operand")?;
                let mut args = Vec::with_capacity(n);
                for _ in 0..n {
                    args.push(self.expr()?);
                }
                Expr::Subgroup(op, args)
            }
            10 => Expr::Select {
                cond: self.boxed()?,
                then: self.boxed()?,
                otherwise: self.boxed()?,
            },
            ATOMIC => {
                self.pos -= 1;
                return Err(self.err(
                    "an atomic may only be the whole right-hand side of `let`, an assignment or an expression statement",
                ));
            }
            b => {
                self.pos -= 1;
                return Err(self.err(format!("unknown expression code {b}")));
            }
        })
    }
}
