//! Building programs in Rust, without `.vyre` source.
//!
//! ```
//! use vyre::ir::{Access, DataType, Expr, ProgramBuilder, BufRef};
//! let mut b = ProgramBuilder::new("saxpy", [256, 1, 1]);
//! let a = b.scalar("a", DataType::F32);
//! let x = b.buffer("x", DataType::F32, Access::Read);
//! let y = b.buffer("y", DataType::F32, Access::ReadWrite);
//! let i = b.local("i", DataType::U32, false);
//! b.body(|blk| {
//!     blk.let_(i, Expr::global_id_x());
//!     blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
//!         let v = Expr::param(a)
//!             .mul(Expr::load(BufRef::Param(x), Expr::local(i)))
//!             .add(Expr::load(BufRef::Param(y), Expr::local(i)));
//!         then.store(BufRef::Param(y), Expr::local(i), v);
//!     });
//! });
//! let program = b.finish();
//! assert!(program.validate().is_ok());
//! ```

use super::{
    Access, AsyncOp, AtomicOp, AtomicResult, Axis, BinOp, BufRef, BufferDecl, Builtin, DataType,
    Expr, Literal, LocalDecl, LocalId, MathFn, MatrixDecl, MatrixId, MatrixOp, MatrixRole,
    MatrixScope, MatrixShape, Node, Param, ParamId, PrivateDecl, PrivateId, Program, SharedDecl,
    SharedId, SharedLayout, UnOp,
};

/// The operands of an atomic, not yet placed: [`Expr::atomic`] and
/// [`Expr::atomic_compare_exchange`] make one, and [`AtomicCall::into_node`]
/// (or [`Block::let_`], [`Block::assign`], [`Block::eval`]) turns it into a
/// [`Node::Atomic`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AtomicCall {
    /// Which operation.
    pub op: AtomicOp,
    /// The buffer (read-write) or shared array.
    pub buf: BufRef,
    /// Element index.
    pub index: Expr,
    /// Expected value, for [`AtomicOp::CompareExchange`] only.
    pub expected: Option<Expr>,
    /// Operand.
    pub value: Expr,
}

impl AtomicCall {
    /// The statement performing this atomic, sending its old value to
    /// `result`.
    #[must_use]
    pub fn into_node(self, result: AtomicResult) -> Node {
        Node::Atomic {
            op: self.op,
            buf: self.buf,
            index: self.index,
            expected: self.expected,
            value: self.value,
            result,
        }
    }
}

/// The right-hand side of a `let` or an assignment built with
/// [`Block::let_`] / [`Block::assign`]: a pure expression or an atomic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rhs {
    /// A pure expression: [`Node::Let`] / [`Node::Assign`].
    Expr(Expr),
    /// An atomic: [`Node::Atomic`] with [`AtomicResult::Let`] /
    /// [`AtomicResult::Assign`].
    Atomic(AtomicCall),
}

impl From<Expr> for Rhs {
    fn from(e: Expr) -> Self {
        Self::Expr(e)
    }
}

impl From<AtomicCall> for Rhs {
    fn from(a: AtomicCall) -> Self {
        Self::Atomic(a)
    }
}

/// Incrementally builds a [`Program`].
#[derive(Debug, Clone)]
pub struct ProgramBuilder {
    program: Program,
}

impl ProgramBuilder {
    /// Start a kernel called `name` with the given workgroup size.
    #[must_use]
    pub fn new(name: impl Into<String>, workgroup_size: [u32; 3]) -> Self {
        Self {
            program: Program::new(name, workgroup_size),
        }
    }

    /// Add a buffer parameter; returns its [`ParamId`].
    pub fn buffer(&mut self, name: impl Into<String>, elem: DataType, access: Access) -> ParamId {
        self.program.params.push(Param::Buffer(BufferDecl {
            name: name.into(),
            elem,
            access,
        }));
        (self.program.params.len() - 1) as ParamId
    }

    /// Add a scalar parameter; returns its [`ParamId`].
    pub fn scalar(&mut self, name: impl Into<String>, ty: DataType) -> ParamId {
        self.program.params.push(Param::Scalar {
            name: name.into(),
            ty,
        });
        (self.program.params.len() - 1) as ParamId
    }

    /// Declare a workgroup shared array; returns its [`SharedId`].
    pub fn shared(&mut self, name: impl Into<String>, elem: DataType, len: u32) -> SharedId {
        self.program.shared.push(SharedDecl {
            name: name.into(),
            elem,
            len,
            layout: SharedLayout::Linear,
        });
        (self.program.shared.len() - 1) as SharedId
    }

    /// Declare a workgroup shared array laid out as `layout`; returns its
    /// [`SharedId`].
    pub fn shared_with_layout(
        &mut self,
        name: impl Into<String>,
        elem: DataType,
        len: u32,
        layout: SharedLayout,
    ) -> SharedId {
        let id = self.shared(name, elem, len);
        self.program.shared[id as usize].layout = layout;
        id
    }

    /// Declare a matrix variable of `role` for a multiply of `shape`
    /// (all zeros when the kernel starts); returns its [`MatrixId`].
    pub fn matrix(
        &mut self,
        name: impl Into<String>,
        role: MatrixRole,
        elem: DataType,
        shape: MatrixShape,
    ) -> MatrixId {
        self.program.matrices.push(MatrixDecl {
            name: name.into(),
            role,
            elem,
            shape,
            scope: MatrixScope::Subgroup,
        });
        (self.program.matrices.len() - 1) as MatrixId
    }

    /// Declare an `f32` accumulator of shape `64 × n × k` that a warpgroup
    /// holds ([`MatrixScope::Warpgroup`]); returns its [`MatrixId`].
    pub fn warpgroup_accumulator(&mut self, name: impl Into<String>, n: u32, k: u32) -> MatrixId {
        let shape = MatrixShape {
            m: MatrixScope::WARPGROUP_M,
            n,
            k,
        };
        let id = self.matrix(name, MatrixRole::Accumulator, DataType::F32, shape);
        self.program.matrices[id as usize].scope = MatrixScope::Warpgroup;
        id
    }

    /// Declare a thread-private array (all zeros when an invocation
    /// starts); returns its [`PrivateId`].
    pub fn private(&mut self, name: impl Into<String>, elem: DataType, len: u32) -> PrivateId {
        self.program.private.push(PrivateDecl {
            name: name.into(),
            elem,
            len,
        });
        (self.program.private.len() - 1) as PrivateId
    }

    /// Declare a local; define it with [`Block::let_`] (or use it as a `for`
    /// variable).
    pub fn local(&mut self, name: impl Into<String>, ty: DataType, mutable: bool) -> LocalId {
        self.program.locals.push(LocalDecl {
            name: name.into(),
            ty,
            mutable,
        });
        (self.program.locals.len() - 1) as LocalId
    }

    /// Set the doc comment.
    pub fn doc(&mut self, doc: impl Into<String>) -> &mut Self {
        self.program.doc = doc.into();
        self
    }

    /// Mark the kernel `unchecked` (no bounds checks, `unsafe` launcher).
    pub fn unchecked(&mut self, unchecked: bool) -> &mut Self {
        self.program.unchecked = unchecked;
        self
    }

    /// Allow approximate intrinsics.
    pub fn fast_math(&mut self, fast_math: bool) -> &mut Self {
        self.program.fast_math = fast_math;
        self
    }

    /// Append statements to the body.
    pub fn body(&mut self, build: impl FnOnce(&mut Block)) -> &mut Self {
        let mut block = Block::default();
        build(&mut block);
        self.program.body.extend(block.nodes);
        self
    }

    /// The finished program (not validated: call [`Program::validate`]).
    #[must_use]
    pub fn finish(self) -> Program {
        self.program
    }
}

/// A list of statements under construction.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// The statements so far.
    pub nodes: Vec<Node>,
}

impl Block {
    fn nested(build: impl FnOnce(&mut Block)) -> Vec<Node> {
        let mut block = Block::default();
        build(&mut block);
        block.nodes
    }

    /// Append any node.
    pub fn push(&mut self, node: Node) -> &mut Self {
        self.nodes.push(node);
        self
    }

    /// `let local = value;` (a [`Node::Let`]), or, for an [`AtomicCall`],
    /// `let local = buf.atomic_*(..);` (a [`Node::Atomic`] with
    /// [`AtomicResult::Let`]).
    pub fn let_(&mut self, local: LocalId, value: impl Into<Rhs>) -> &mut Self {
        self.push(match value.into() {
            Rhs::Expr(value) => Node::Let { local, value },
            Rhs::Atomic(a) => a.into_node(AtomicResult::Let(local)),
        })
    }

    /// `local = value;` (a [`Node::Assign`]), or, for an [`AtomicCall`],
    /// `local = buf.atomic_*(..);` (a [`Node::Atomic`] with
    /// [`AtomicResult::Assign`]).
    pub fn assign(&mut self, local: LocalId, value: impl Into<Rhs>) -> &mut Self {
        self.push(match value.into() {
            Rhs::Expr(value) => Node::Assign { local, value },
            Rhs::Atomic(a) => a.into_node(AtomicResult::Assign(local)),
        })
    }

    /// `buf[index] = value;`
    pub fn store(&mut self, buf: BufRef, index: Expr, value: Expr) -> &mut Self {
        self.push(Node::Store { buf, index, value })
    }

    /// `buf.atomic_*(..);`: an atomic whose old value is unused
    /// ([`AtomicResult::Discard`]).
    pub fn eval(&mut self, atomic: AtomicCall) -> &mut Self {
        self.push(atomic.into_node(AtomicResult::Discard))
    }

    /// `if cond { .. }`
    pub fn if_(&mut self, cond: Expr, then: impl FnOnce(&mut Block)) -> &mut Self {
        let then = Self::nested(then);
        self.push(Node::If {
            cond,
            then,
            otherwise: Vec::new(),
        })
    }

    /// `if cond { .. } else { .. }`
    pub fn if_else(
        &mut self,
        cond: Expr,
        then: impl FnOnce(&mut Block),
        otherwise: impl FnOnce(&mut Block),
    ) -> &mut Self {
        let then = Self::nested(then);
        let otherwise = Self::nested(otherwise);
        self.push(Node::If {
            cond,
            then,
            otherwise,
        })
    }

    /// `while cond { .. }`
    pub fn while_(&mut self, cond: Expr, body: impl FnOnce(&mut Block)) -> &mut Self {
        let body = Self::nested(body);
        self.push(Node::While { cond, body })
    }

    /// `for var in start..end { .. }`
    pub fn for_(
        &mut self,
        var: LocalId,
        start: Expr,
        end: Expr,
        body: impl FnOnce(&mut Block),
    ) -> &mut Self {
        self.for_step(var, start, end, 1, false, body)
    }

    /// `[#[unroll]] for var in (start..end).step_by(step) { .. }`
    pub fn for_step(
        &mut self,
        var: LocalId,
        start: Expr,
        end: Expr,
        step: u32,
        unroll: bool,
        body: impl FnOnce(&mut Block),
    ) -> &mut Self {
        let body = Self::nested(body);
        self.push(Node::For {
            var,
            start,
            end,
            step,
            unroll,
            body,
        })
    }

    /// `loop { .. }`
    pub fn loop_(&mut self, body: impl FnOnce(&mut Block)) -> &mut Self {
        let body = Self::nested(body);
        self.push(Node::Loop { body })
    }

    /// `break;`
    pub fn break_(&mut self) -> &mut Self {
        self.push(Node::Break)
    }

    /// `continue;`
    pub fn continue_(&mut self) -> &mut Self {
        self.push(Node::Continue)
    }

    /// `return;`
    pub fn return_(&mut self) -> &mut Self {
        self.push(Node::Return)
    }

    /// `barrier();`
    pub fn barrier(&mut self) -> &mut Self {
        self.push(Node::Barrier)
    }

    /// `warpgroup_barrier();`
    pub fn warpgroup_barrier(&mut self) -> &mut Self {
        self.push(Node::WarpgroupBarrier)
    }

    /// A matrix statement.
    pub fn matrix(&mut self, op: MatrixOp) -> &mut Self {
        self.push(Node::Matrix(op))
    }

    /// `async_copy(&mut dst, dst_index, &src, src_index, count);`
    pub fn async_copy(
        &mut self,
        dst: SharedId,
        dst_index: Expr,
        src: ParamId,
        src_index: Expr,
        count: u32,
    ) -> &mut Self {
        self.push(Node::Async(AsyncOp::Copy {
            dst,
            dst_index,
            src,
            src_index,
            count,
        }))
    }

    /// `async_commit();`
    pub fn async_commit(&mut self) -> &mut Self {
        self.push(Node::Async(AsyncOp::Commit))
    }

    /// `async_wait(pending);`
    pub fn async_wait(&mut self, pending: u32) -> &mut Self {
        self.push(Node::Async(AsyncOp::Wait { pending }))
    }
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $method:ident => $op:ident),* $(,)?) => {
        $( $(#[$doc])* #[must_use] pub fn $method(self, rhs: Expr) -> Expr {
            Expr::Binary(BinOp::$op, Box::new(self), Box::new(rhs))
        } )*
    };
}

// Builder methods are named after the source operators they build (`add`
// builds `a + b`), deliberately shadowing the `std::ops` names: they make IR
// nodes, not arithmetic.
#[allow(clippy::should_implement_trait)]
impl Expr {
    /// A `u32` constant.
    #[must_use]
    pub fn u32(v: u32) -> Self {
        Self::Lit(Literal::U32(v))
    }
    /// An `i32` constant.
    #[must_use]
    pub fn i32(v: i32) -> Self {
        Self::Lit(Literal::I32(v))
    }
    /// An `f32` constant.
    #[must_use]
    pub fn f32(v: f32) -> Self {
        Self::Lit(Literal::f32(v))
    }
    /// A `bool` constant.
    #[must_use]
    pub fn bool(v: bool) -> Self {
        Self::Lit(Literal::Bool(v))
    }
    /// A local's value.
    #[must_use]
    pub fn local(id: LocalId) -> Self {
        Self::Local(id)
    }
    /// A scalar parameter's value.
    #[must_use]
    pub fn param(id: ParamId) -> Self {
        Self::Param(id)
    }
    /// `global_id().x`
    #[must_use]
    pub fn global_id_x() -> Self {
        Self::Builtin(Builtin::GlobalId, Axis::X)
    }
    /// `buf.len()`
    #[must_use]
    pub fn len(buf: ParamId) -> Self {
        Self::Len(buf)
    }
    /// `buf[index]`
    #[must_use]
    pub fn load(buf: BufRef, index: Expr) -> Self {
        Self::Load {
            buf,
            index: Box::new(index),
        }
    }
    /// `self as ty`
    #[must_use]
    pub fn cast(self, ty: DataType) -> Self {
        Self::Cast(ty, Box::new(self))
    }
    /// `-self`
    #[must_use]
    pub fn neg(self) -> Self {
        Self::Unary(UnOp::Neg, Box::new(self))
    }
    /// `!self`
    #[must_use]
    pub fn not(self) -> Self {
        Self::Unary(UnOp::Not, Box::new(self))
    }
    /// A math intrinsic with `self` as receiver.
    #[must_use]
    pub fn math(self, f: MathFn, rest: Vec<Expr>) -> Self {
        let mut args = vec![self];
        args.extend(rest);
        Self::Math(f, args)
    }
    /// `if cond { then } else { otherwise }` with pure arms.
    #[must_use]
    pub fn select(cond: Expr, then: Expr, otherwise: Expr) -> Self {
        Self::Select {
            cond: Box::new(cond),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        }
    }
    /// `buf.atomic_*(index, value)`: an [`AtomicCall`] for
    /// [`Block::let_`], [`Block::assign`] or [`Block::eval`].
    #[must_use]
    pub fn atomic(op: AtomicOp, buf: BufRef, index: Expr, value: Expr) -> AtomicCall {
        AtomicCall {
            op,
            buf,
            index,
            expected: None,
            value,
        }
    }
    /// `buf.atomic_compare_exchange(index, expected, value)`: an
    /// [`AtomicCall`] for [`Block::let_`], [`Block::assign`] or
    /// [`Block::eval`].
    #[must_use]
    pub fn atomic_compare_exchange(
        buf: BufRef,
        index: Expr,
        expected: Expr,
        value: Expr,
    ) -> AtomicCall {
        AtomicCall {
            op: AtomicOp::CompareExchange,
            buf,
            index,
            expected: Some(expected),
            value,
        }
    }

    binary_methods! {
        /// `self + rhs`
        add => Add,
        /// `self - rhs`
        sub => Sub,
        /// `self * rhs`
        mul => Mul,
        /// `self / rhs`
        div => Div,
        /// `self % rhs`
        rem => Rem,
        /// `self & rhs`
        bitand => BitAnd,
        /// `self | rhs`
        bitor => BitOr,
        /// `self ^ rhs`
        bitxor => BitXor,
        /// `self << rhs`
        shl => Shl,
        /// `self >> rhs`
        shr => Shr,
        /// `self == rhs`
        eq => Eq,
        /// `self != rhs`
        ne => Ne,
        /// `self < rhs`
        lt => Lt,
        /// `self <= rhs`
        le => Le,
        /// `self > rhs`
        gt => Gt,
        /// `self >= rhs`
        ge => Ge,
        /// `self && rhs`
        and => And,
        /// `self || rhs`
        or => Or,
    }
}
