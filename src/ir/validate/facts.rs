//! What validation establishes about a valid program and keeps for the
//! middle layer and the targets: [`Validated`] (uniformity) and
//! [`ExprTypes`] (the type of every expression).

use std::marker::PhantomData;

use crate::ir::addr::{AddrMap, addr_of};
use crate::ir::{Axis, BinOp, Builtin, DataType, Expr, Literal, MatrixScope, Program, SubgroupOp};

/// How widely a value, or the reaching of a point of the program, is known
/// to be shared, from least to most: ordered, so that the uniformity of a
/// combination is the `min` of its parts'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Uniformity {
    /// May differ between any two invocations.
    Varying,
    /// The same for the invocations of each warpgroup
    /// ([`MatrixScope::WARPGROUP`] consecutive invocations), possibly
    /// different between warpgroups: `local_id().x / 128`, `local_id().x <
    /// 128` and what is computed from them and from uniform values, in a
    /// workgroup whose x size is a multiple of 128 (so that each warpgroup
    /// lies in one row of it).
    Warpgroup,
    /// The same for every invocation of a workgroup.
    Workgroup,
}

/// What validation established about a valid program, kept for the middle
/// layer and the targets instead of being computed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// Per local: how widely its value is shared (every definition's value
    /// and the control flow it is made in, at least that uniform).
    pub local_uniformity: Vec<Uniformity>,
    /// Per local: whether it always holds `local_id().x` (every definition
    /// is that value).
    pub local_id_x: Vec<bool>,
    /// Whether the workgroup's x size is a multiple of a warpgroup, which
    /// [`Uniformity::Warpgroup`] values need.
    pub whole_warpgroup_rows: bool,
}

impl Validated {
    /// Conservative: how widely `e` (an expression of the validated
    /// program) is shared.
    #[must_use]
    pub fn uniformity(&self, e: &Expr) -> Uniformity {
        self.rules().of(e)
    }

    /// Conservative: true only when `e` (an expression of the validated
    /// program) is the same for every invocation of a workgroup.
    #[must_use]
    pub fn is_uniform(&self, e: &Expr) -> bool {
        self.uniformity(e) == Uniformity::Workgroup
    }

    fn rules(&self) -> UniformityRules<'_> {
        UniformityRules {
            locals: &self.local_uniformity,
            local_id_x: &self.local_id_x,
            whole_warpgroup_rows: self.whole_warpgroup_rows,
        }
    }
}

/// The rules that give an expression its [`Uniformity`], from what is known
/// of the locals.
#[derive(Clone, Copy)]
pub(super) struct UniformityRules<'a> {
    /// Per local, as [`Validated::local_uniformity`].
    pub(super) locals: &'a [Uniformity],
    /// Per local, as [`Validated::local_id_x`].
    pub(super) local_id_x: &'a [bool],
    /// As [`Validated::whole_warpgroup_rows`].
    pub(super) whole_warpgroup_rows: bool,
}

impl UniformityRules<'_> {
    /// How widely `e` is shared (conservative: loads never are).
    pub(super) fn of(self, e: &Expr) -> Uniformity {
        use Uniformity::{Varying, Warpgroup, Workgroup};
        let of = |x: &Expr| self.of(x);
        match e {
            Expr::Lit(_) | Expr::Param(_) | Expr::Len(_) => Workgroup,
            Expr::Builtin(Builtin::WorkgroupId | Builtin::NumWorkgroups, _) => Workgroup,
            // With whole warpgroups in each row, a warpgroup lies in one
            // row and one layer of the workgroup.
            Expr::Builtin(Builtin::LocalId, Axis::Y | Axis::Z) if self.whole_warpgroup_rows => {
                Warpgroup
            }
            Expr::Builtin(..) => Varying,
            // Locals may be assigned divergent values; loads may read data.
            Expr::Local(id) => self.locals.get(*id as usize).copied().unwrap_or(Varying),
            Expr::Load { .. } => Varying,
            Expr::Unary(_, a) | Expr::Cast(_, a) => of(a),
            Expr::Binary(op, a, b) => {
                if self.warpgroup_of_local_id_x(*op, a, b) {
                    Warpgroup
                } else {
                    of(a).min(of(b))
                }
            }
            Expr::Math(_, args) => args.iter().map(of).min().unwrap_or(Workgroup),
            // The size is the device's; a lane or a value combined over a
            // subgroup differs between the subgroups of a workgroup.
            Expr::Subgroup(op, _) if *op == SubgroupOp::Size => Workgroup,
            Expr::Subgroup(..) => Varying,
            Expr::Select {
                cond,
                then,
                otherwise,
            } => of(cond).min(of(then)).min(of(otherwise)),
        }
    }

    /// Whether `a op b` is `local_id().x` divided, shifted or compared so
    /// that it is the same across each warpgroup: `/ 128k`, `>> s` with
    /// `s >= 7`, `< 128k`, `>= 128k`, `<= 128k - 1`, `> 128k - 1` (either
    /// way round).
    fn warpgroup_of_local_id_x(self, op: BinOp, a: &Expr, b: &Expr) -> bool {
        const W: u32 = MatrixScope::WARPGROUP;
        if !self.whole_warpgroup_rows {
            return false;
        }
        let constant = |e: &Expr| match e {
            Expr::Lit(Literal::U32(c)) => Some(*c),
            _ => None,
        };
        let (op, c) = match (
            self.is_local_id_x(a),
            constant(b),
            constant(a),
            self.is_local_id_x(b),
        ) {
            (true, Some(c), _, _) => (op, c),
            // `c op x` as `x op' c`.
            (_, _, Some(c), true) => match op {
                BinOp::Lt => (BinOp::Gt, c),
                BinOp::Le => (BinOp::Ge, c),
                BinOp::Gt => (BinOp::Lt, c),
                BinOp::Ge => (BinOp::Le, c),
                _ => return false,
            },
            _ => return false,
        };
        match op {
            BinOp::Div => c != 0 && c.is_multiple_of(W),
            BinOp::Shr => c & 31 >= W.trailing_zeros(),
            BinOp::Lt | BinOp::Ge => c.is_multiple_of(W),
            BinOp::Le | BinOp::Gt => c % W == W - 1,
            _ => false,
        }
    }

    /// Whether `e` is `local_id().x` itself.
    pub(super) fn is_local_id_x(self, e: &Expr) -> bool {
        match e {
            Expr::Builtin(Builtin::LocalId, Axis::X) => true,
            Expr::Local(id) => self.local_id_x.get(*id as usize).copied().unwrap_or(false),
            _ => false,
        }
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
