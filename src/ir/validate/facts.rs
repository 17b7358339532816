//! What validation establishes about a valid program and keeps for the
//! middle layer and the targets: [`Validated`] (uniformity) and
//! [`ExprTypes`] (the type of every expression).

use std::marker::PhantomData;

use crate::ir::addr::{AddrMap, addr_of};
use crate::ir::{DataType, Expr, Program};

/// What validation established about a valid program, kept for the middle
/// layer and the targets instead of being computed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// Per local: whether every invocation of a workgroup holds the same
    /// value in it (every definition is uniform and made in uniform control
    /// flow).
    pub uniform_locals: Vec<bool>,
}

impl Validated {
    /// Conservative: true only when `e` (an expression of the validated
    /// program) is the same for every invocation of a workgroup.
    #[must_use]
    pub fn is_uniform(&self, e: &Expr) -> bool {
        uniform(&self.uniform_locals, e)
    }
}

/// The type of every expression of a validated program, as validation
/// computed it: the middle layer and the targets look types up here
/// instead of deriving them again. Expressions are identified by address,
/// stable while the program is borrowed (this table holds that borrow).
#[derive(Debug)]
pub struct ExprTypes<'p> {
    by_addr: AddrMap<DataType>,
    _program: PhantomData<&'p Program>,
}

impl ExprTypes<'_> {
    /// The table the validator recorded.
    pub(super) fn from_map(by_addr: TypeMap) -> Self {
        Self {
            by_addr,
            _program: PhantomData,
        }
    }

    /// The type of `e`, an expression of the validated program (`None` for
    /// any other expression).
    #[must_use]
    pub fn get(&self, e: &Expr) -> Option<DataType> {
        self.by_addr.get(&addr_of(e)).copied()
    }

    /// Number of typed expressions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether no expression is typed (a program without expressions).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

/// Expression address -> type, as the validator records it.
pub(super) type TypeMap = AddrMap<DataType>;

/// Whether `e` is the same for every invocation of a workgroup, given which
/// locals are (conservative: loads never are).
pub(super) fn uniform(uniform_locals: &[bool], e: &Expr) -> bool {
    let u = |x: &Expr| uniform(uniform_locals, x);
    match e {
        Expr::Lit(_) | Expr::Param(_) | Expr::Len(_) => true,
        Expr::Builtin(b, _) => matches!(
            b,
            crate::ir::Builtin::WorkgroupId | crate::ir::Builtin::NumWorkgroups
        ),
        // Locals may be assigned divergent values; loads may read data.
        Expr::Local(id) => uniform_locals.get(*id as usize).copied().unwrap_or(false),
        Expr::Load { .. } => false,
        Expr::Unary(_, a) | Expr::Cast(_, a) => u(a),
        Expr::Binary(_, a, b) => u(a) && u(b),
        Expr::Math(_, args) => args.iter().all(u),
        // The size is the device's; a lane or a value combined over a
        // subgroup differs between the subgroups of a workgroup.
        Expr::Subgroup(op, _) => *op == crate::ir::SubgroupOp::Size,
        Expr::Select {
            cond,
            then,
            otherwise,
        } => u(cond) && u(then) && u(otherwise),
    }
}
