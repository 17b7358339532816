//! Subgroup operations: naga's subgroup statements, with vyre's semantics
//! where SPIR-V, WGSL, MSL and HLSL leave cases undefined.
//!
//! - Shuffles: every target leaves a shuffle from a lane `>= size` or from a
//!   lane without an invocation undefined, where vyre gives the invocation's
//!   own value. The lowering computes the source lane, checks it against the
//!   subgroup and the workgroup, and asks the target's shuffle for the own
//!   lane instead when the source is missing; the target is thus only ever
//!   asked for an existing lane and the result needs no select.
//!   `subgroup_shuffle_xor` and `subgroup_shuffle_down` are lowered to a
//!   general `Shuffle` of the computed lane too: the source (own lane for
//!   missing ones) differs between lanes, and WGSL requires the mask/delta
//!   of `subgroupShuffleXor`/`Down` to be subgroup-uniform (HLSL has only
//!   `WaveReadLaneAt` anyway).
//! - `f32` min/max: SPIR-V's `GroupNonUniformFMin`/`FMax` leave NaN
//!   operands undefined, where vyre ignores NaN like `f32::min`. NaN inputs
//!   are replaced by the identity (`+inf` for min, `-inf` for max), which
//!   changes no result that has a non-NaN lane; when every lane is NaN (a
//!   `subgroupAll`), the result is the invocation's own value, a NaN.
//! - `subgroup_ballot`: the low 32 lanes, component `x` of the target's
//!   `vec4<u32>`.
//!
//! vyre defines the subgroup of an invocation as its flat local index
//! divided by the subgroup size. Drivers lay out one-dimensional
//! workgroups that way, but not necessarily 2D and 3D ones: lavapipe
//! starts a new subgroup with every row of x (a 12 x 3 workgroup makes
//! subgroups of 8 and 4 per row), and naga refuses the lane builtin
//! outside 1D workgroups for that reason. Collective operations are
//! therefore lowered only in 1D workgroups and in those whose x size is a
//! multiple of 128 (rows of whole subgroups, so both layouts agree); the
//! others are rejected with a message saying so. Lane and size lower
//! anywhere (the lane of a 2D/3D workgroup is computed from the flat
//! index).

use naga::{
    BinaryOperator, Block, CollectiveOperation, Expression, GatherMode, Handle, MathFunction, Span,
    Statement, SubgroupOperation,
};

use super::{Lowerer, builtin_index};
use crate::driver::CompileResult;
use crate::ir::{Builtin, DataType, Expr, SubgroupOp};

/// Workgroups whose invocation count is a multiple of this have no partial
/// subgroup on any device (subgroup sizes are powers of two up to 128).
const MAX_SUBGROUP_SIZE: u64 = 128;

impl Lowerer<'_> {
    /// The subgroup size (the builtin argument).
    fn subgroup_size(&self) -> CompileResult<Handle<Expression>> {
        self.subgroup
            .map(|(_, size)| size)
            .ok_or_else(|| self.internal("subgroup builtins not declared"))
    }

    /// The flat local index `x + wx * (y + wy * z)`.
    fn flat_local_index(&mut self, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        let [wx, wy, _] = self.workgroup_size;
        let local = self.builtins[builtin_index(Builtin::LocalId)]
            .ok_or_else(|| self.internal("builtin not declared"))?;
        let comp = |cx: &mut Self, index, blk: &mut Block| {
            cx.add(Expression::AccessIndex { base: local, index }, blk)
        };
        let x = comp(self, 0, blk);
        if self.workgroup_size[1..] == [1, 1] {
            return Ok(x);
        }
        let (y, z) = (comp(self, 1, blk), comp(self, 2, blk));
        let wy_l = self.u32_lit(wy);
        let zy = self.bin(BinaryOperator::Multiply, z, wy_l, blk);
        let yz = self.bin(BinaryOperator::Add, y, zy, blk);
        let wx_l = self.u32_lit(wx);
        let row = self.bin(BinaryOperator::Multiply, yz, wx_l, blk);
        Ok(self.bin(BinaryOperator::Add, row, x, blk))
    }

    /// The invocation's lane: the builtin in 1D workgroups, else the flat
    /// local index modulo the size (a power of two).
    fn subgroup_lane(&mut self, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        let size = self.subgroup_size()?;
        if let Some((Some(lane), _)) = self.subgroup {
            return Ok(lane);
        }
        let flat = self.flat_local_index(blk)?;
        let one = self.u32_lit(1);
        let mask = self.bin(BinaryOperator::Subtract, size, one, blk);
        Ok(self.bin(BinaryOperator::And, flat, mask, blk))
    }

    /// A statement-produced result: appended without an `Emit` (the
    /// statement defines it), after `make`'s statement is pushed.
    fn subgroup_result(
        &mut self,
        result: Expression,
        blk: &mut Block,
        make: impl FnOnce(Handle<Expression>) -> Statement,
    ) -> Handle<Expression> {
        let h = self.func.expressions.append(result, Span::UNDEFINED);
        blk.push(make(h), Span::UNDEFINED);
        h
    }

    fn collective(
        &mut self,
        op: SubgroupOperation,
        ty: DataType,
        argument: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let ty = self.scalar_ty(ty);
        self.subgroup_result(Expression::SubgroupOperationResult { ty }, blk, |result| {
            Statement::SubgroupCollectiveOperation {
                op,
                collective_op: CollectiveOperation::Reduce,
                argument,
                result,
            }
        })
    }

    fn gather(
        &mut self,
        mode: GatherMode,
        ty: DataType,
        argument: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let ty = self.scalar_ty(ty);
        self.subgroup_result(Expression::SubgroupOperationResult { ty }, blk, |result| {
            Statement::SubgroupGather {
                mode,
                argument,
                result,
            }
        })
    }

    /// One past the highest lane of the invocation's subgroup that has an
    /// invocation: `min(size, invocations - (local_index - lane))`, or just
    /// `size` when the workgroup has no partial subgroup on any device.
    fn lane_limit(
        &mut self,
        lane: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let size = self.subgroup_size()?;
        let [wx, wy, wz] = self.workgroup_size;
        let invocations = u64::from(wx) * u64::from(wy) * u64::from(wz);
        if invocations.is_multiple_of(MAX_SUBGROUP_SIZE) {
            return Ok(size);
        }
        // Validation bounds the workgroup far below 2^32 invocations.
        let invocations = u32::try_from(invocations)
            .map_err(|_| self.internal("workgroup of 2^32 invocations or more"))?;
        let flat = self.flat_local_index(blk)?;
        // The subgroup's first invocation; `invocations - base >= 1`.
        let base = self.bin(BinaryOperator::Subtract, flat, lane, blk);
        let n = self.u32_lit(invocations);
        let present = self.bin(BinaryOperator::Subtract, n, base, blk);
        Ok(self.add(
            Expression::Math {
                fun: MathFunction::Min,
                arg: size,
                arg1: Some(present),
                arg2: None,
                arg3: None,
            },
            blk,
        ))
    }

    /// `v` of the lane the shuffle `op` names with operand `k` (a lane, a
    /// mask or a delta), or the own `v` when that lane has no invocation.
    fn shuffle(
        &mut self,
        op: SubgroupOp,
        ty: DataType,
        v: Handle<Expression>,
        k: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let lane = self.subgroup_lane(blk)?;
        let limit = self.lane_limit(lane, blk)?;
        let (src, valid) = match op {
            SubgroupOp::Shuffle => (k, self.bin(BinaryOperator::Less, k, limit, blk)),
            SubgroupOp::ShuffleXor => {
                let src = self.bin(BinaryOperator::ExclusiveOr, lane, k, blk);
                (src, self.bin(BinaryOperator::Less, src, limit, blk))
            }
            SubgroupOp::ShuffleDown => {
                // `lane + delta` without wrapping: valid when
                // `delta < limit - lane` (`limit > lane` always).
                let src = self.bin(BinaryOperator::Add, lane, k, blk);
                let room = self.bin(BinaryOperator::Subtract, limit, lane, blk);
                (src, self.bin(BinaryOperator::Less, k, room, blk))
            }
            _ => return Err(self.internal("not a shuffle")),
        };
        let safe = self.select(valid, src, lane, blk);
        Ok(self.gather(GatherMode::Shuffle(safe), ty, v, blk))
    }

    /// `subgroup_min`/`subgroup_max` of `f32`, ignoring NaN (see the module
    /// docs).
    fn float_minmax(
        &mut self,
        max: bool,
        v: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let nan = self.is_nan(v, blk);
        let identity = self.f32_const(
            if max {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            },
            blk,
        );
        let clean = self.select(nan, identity, v, blk);
        let op = if max {
            SubgroupOperation::Max
        } else {
            SubgroupOperation::Min
        };
        let m = self.collective(op, DataType::F32, clean, blk);
        let all_nan = self.collective(SubgroupOperation::All, DataType::Bool, nan, blk);
        self.select(all_nan, v, m, blk)
    }

    /// Lower `op` applied to `args`.
    pub(super) fn subgroup(
        &mut self,
        op: SubgroupOp,
        args: &[Expr],
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let [wx, wy, wz] = self.workgroup_size;
        if op.is_collective()
            && (wy, wz) != (1, 1)
            && !u64::from(wx).is_multiple_of(MAX_SUBGROUP_SIZE)
        {
            return Err(self.unsupported(&format!(
                "`{}` in a {wx} x {wy} x {wz} workgroup: drivers lay out 2D and 3D workgroups \
                 in subgroups of their own, so the naga targets need a one-dimensional workgroup \
                 or an x size that is a multiple of 128 for collective subgroup operations",
                op.name()
            )));
        }
        if args.len() != op.arity() {
            return Err(self.internal(&format!("`{}` needs {} operands", op.name(), op.arity())));
        }
        let ty = args
            .first()
            .map(|a| {
                self.analysis
                    .type_of(a)
                    .ok_or_else(|| self.internal("untyped subgroup operand"))
            })
            .transpose()?;
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.expr(a, blk)?);
        }
        let (Some(ty), Some(&v)) = (ty, vals.first()) else {
            return Ok(match op {
                SubgroupOp::InvocationId => self.subgroup_lane(blk)?,
                SubgroupOp::Size => self.subgroup_size()?,
                _ => return Err(self.internal("subgroup operation without operand")),
            });
        };
        Ok(match op {
            SubgroupOp::InvocationId | SubgroupOp::Size => {
                return Err(self.internal("subgroup builtin with operands"));
            }
            SubgroupOp::Add => self.collective(SubgroupOperation::Add, ty, v, blk),
            SubgroupOp::Min | SubgroupOp::Max if ty == DataType::F32 => {
                self.float_minmax(op == SubgroupOp::Max, v, blk)
            }
            SubgroupOp::Min => self.collective(SubgroupOperation::Min, ty, v, blk),
            SubgroupOp::Max => self.collective(SubgroupOperation::Max, ty, v, blk),
            SubgroupOp::Shuffle | SubgroupOp::ShuffleXor | SubgroupOp::ShuffleDown => {
                let k = *vals
                    .get(1)
                    .ok_or_else(|| self.internal("shuffle without a lane"))?;
                self.shuffle(op, ty, v, k, blk)?
            }
            SubgroupOp::BroadcastFirst if ty == DataType::F32 => {
                // The first active lane's number, then its value: the same
                // result, but lavapipe's LLVM aborts ("Cannot select
                // X86ISD::VBROADCAST") on a float broadcast of a converted
                // value (`subgroup_broadcast_first(x as f32)`), and the
                // NVIDIA Vulkan driver crashed on such a program.
                let lane = self.subgroup_lane(blk)?;
                let first = self.gather(GatherMode::BroadcastFirst, DataType::U32, lane, blk);
                self.gather(GatherMode::Shuffle(first), ty, v, blk)
            }
            SubgroupOp::BroadcastFirst => self.gather(GatherMode::BroadcastFirst, ty, v, blk),
            SubgroupOp::Ballot => {
                let mask = self.subgroup_result(Expression::SubgroupBallotResult, blk, |result| {
                    Statement::SubgroupBallot {
                        result,
                        predicate: Some(v),
                    }
                });
                self.add(
                    Expression::AccessIndex {
                        base: mask,
                        index: 0,
                    },
                    blk,
                )
            }
            SubgroupOp::All => self.collective(SubgroupOperation::All, DataType::Bool, v, blk),
            SubgroupOp::Any => self.collective(SubgroupOperation::Any, DataType::Bool, v, blk),
        })
    }
}
