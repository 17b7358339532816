//! The versioned binary encoding of a [`Program`] (the `reference` target's
//! blob).
//!
//! # Layout (version 1)
//!
//! ```text
//! magic    b"VYRE"
//! version  u16, little endian
//! payload  program
//! ```
//!
//! Inside the payload every integer is an unsigned LEB128 varint of at most
//! five bytes (`uN`), tags are single bytes, and a string is `len: uN`
//! followed by that many UTF-8 bytes. `i32` values and `f32` bit patterns are
//! encoded as the varint of their `u32` bit pattern.
//!
//! ```text
//! program  = name:str doc:str flags:u8 (bit 0 unchecked, bit 1 fast_math)
//!            wg_x:uN wg_y:uN wg_z:uN
//!            n:uN param*n  n:uN shared*n  n:uN local*n  block
//! param    = 0 name:str elem:type access:u8 (0 read, 1 read-write)
//!          | 1 name:str ty:type
//! shared   = name:str elem:type len:uN
//! local    = name:str ty:type mutable:u8
//! type     = u8: 0 bool, 1 i32, 2 u32, 3 f32
//! block    = n:uN node*n
//! node     = 0 let local:uN rhs       | 1 assign local:uN rhs
//!          | 2 store buf expr expr    | 3 eval atomic
//!          | 4 if expr block block    | 5 while expr block
//!          | 6 for var:uN expr expr block | 7 loop block
//!          | 8 break | 9 continue | 10 return | 11 barrier
//! buf      = 0 param:uN | 1 shared:uN
//! expr     = 0 lit   (type, value: u8 for bool, uN bits otherwise)
//!          | 1 local:uN | 2 param:uN | 3 builtin:u8 axis:u8 | 4 len param:uN
//!          | 5 load buf expr | 6 unary op:u8 expr | 7 binary op:u8 expr expr
//!          | 8 cast type expr | 9 math fn:u8 n:uN expr*n
//!          | 10 select expr expr expr
//! rhs      = expr | atomic
//! atomic   = 11 op:u8 buf index:expr has_expected:u8 [expected:expr] value:expr
//! ```
//!
//! A [`Node::Atomic`] is encoded by its [`AtomicResult`]: `Let(x)` as
//! `let x atomic`, `Assign(x)` as `assign x atomic`, `Discard` as
//! `eval atomic`. An atomic anywhere else (inside an expression, as an
//! index or a condition) and an `eval` of anything but an atomic are decode
//! errors.
//!
//! Operator, builtin, axis, math and atomic codes are the variants'
//! declaration order in [`super`] (starting at 0).
//!
//! # Guarantees of [`from_wire`]
//!
//! Any byte string yields `Ok` or a [`WireError`], never a panic. Every
//! length is checked against the remaining input before anything is
//! allocated (each element takes at least one byte), nesting of blocks and
//! expressions is limited to [`MAX_DEPTH`], trailing bytes are rejected, and
//! the decoded program is validated: a decoded program is always valid.

use super::{
    Access, AtomicOp, AtomicResult, Axis, BinOp, BufRef, BufferDecl, Builtin, DataType, Expr,
    Literal, LocalDecl, MathFn, Node, Param, Program, SharedDecl, UnOp, ValidationError,
    builder::{AtomicCall, Rhs},
};

/// The magic bytes every encoding starts with.
pub const MAGIC: [u8; 4] = *b"VYRE";

/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Deepest nesting of blocks and expressions the decoder accepts.
pub const MAX_DEPTH: u32 = 256;

/// Why a byte string is not a valid encoded program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with the vyre magic.
    #[error("not a vyre program: bad magic bytes")]
    BadMagic,
    /// Encoded by an incompatible version.
    #[error(
        "wire format version {found} is not supported (this build reads version {supported}); rebuild the kernels with a matching vyre"
    )]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The payload is malformed.
    #[error("malformed program encoding at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The payload decodes, but the program it holds fails validation.
    #[error("encoded program `{name}` is invalid: {}", first_error(.errors))]
    InvalidProgram {
        /// The kernel's name.
        name: String,
        /// Every validation problem.
        errors: Vec<ValidationError>,
    },
}

fn first_error(errors: &[ValidationError]) -> String {
    match errors {
        [] => "no details".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

// ---------------------------------------------------------------- encoding

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
                body,
            } => {
                self.u8(6);
                self.uint(*var);
                self.expr(start);
                self.expr(end);
                self.block(body);
            }
            Node::Loop { body } => {
                self.u8(7);
                self.block(body);
            }
            Node::Break => self.u8(8),
            Node::Continue => self.u8(9),
            Node::Return => self.u8(10),
            Node::Barrier => self.u8(11),
        }
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

// ---------------------------------------------------------------- decoding

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
            &[DataType::Bool, DataType::I32, DataType::U32, DataType::F32],
        )
    }

    fn buf(&mut self) -> R<BufRef> {
        match self.u8()? {
            0 => Ok(BufRef::Param(self.uint()?)),
            1 => Ok(BufRef::Shared(self.uint()?)),
            b => {
                self.pos -= 1;
                Err(self.err(format!("unknown buffer reference kind {b}")))
            }
        }
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
            shared.push(SharedDecl { name, elem, len });
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
            3 => {
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
                body: self.block()?,
            },
            7 => Node::Loop {
                body: self.block()?,
            },
            8 => Node::Break,
            9 => Node::Continue,
            10 => Node::Return,
            11 => Node::Barrier,
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

/// The code of an atomic, which may only start the right-hand side of
/// `let`, `assign` or `eval`.
const ATOMIC: u8 = 11;

/// Binary operators in declaration order (their wire codes).
const BINOPS: [BinOp; 18] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::Rem,
    BinOp::BitAnd,
    BinOp::BitOr,
    BinOp::BitXor,
    BinOp::Shl,
    BinOp::Shr,
    BinOp::Eq,
    BinOp::Ne,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::And,
    BinOp::Or,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_declaration_order() {
        for (i, op) in BINOPS.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        for (i, f) in MathFn::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        for (i, op) in AtomicOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
    }
}
