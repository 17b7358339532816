//! Expressions: leaves, loads, integer, boolean and float expressions.

use vyre::ir::{
    Axis, BinOp, BufRef, Builtin, DataType, Expr, MathFn, Param, ParamId, SubgroupOp, UnOp,
};

use super::{Epoch, Gen, Var, convert, float_lit};
use crate::compare::ApproxOp;
use crate::source::Source;

impl<S: Source> Gen<'_, S> {
    pub(super) fn expr(&mut self, ty: DataType, depth: u32, clean: bool) -> Expr {
        match ty {
            DataType::Bool => self.bool_expr(depth),
            DataType::F32 => self.float_expr(depth, clean),
            DataType::F16 | DataType::BF16 => self.narrow_float_expr(ty, depth, clean),
            DataType::F64 => self.double_expr(depth, clean),
            _ => self.int_expr(ty, depth),
        }
    }

    pub(super) fn leaf(&mut self, ty: DataType, clean: bool) -> Expr {
        let vars: Vec<Var> = self
            .vars(ty)
            .into_iter()
            .filter(|v| !clean || v.clean)
            .collect();
        let params: Vec<ParamId> = self
            .scalars
            .iter()
            .filter(|s| s.1 == ty)
            .map(|s| s.0)
            .collect();
        let options = if self.privs.is_empty() { 4 } else { 5 };
        match self.src.below(options) {
            1 if !vars.is_empty() => Expr::Local(self.pick(&vars).id),
            4 if ty != DataType::Bool => self.private_load(ty, None),
            2 if !params.is_empty() => Expr::Param(self.pick(&params)),
            3 if ty == DataType::U32 => {
                let bufs: Vec<ParamId> = self
                    .p
                    .params
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches!(p, Param::Buffer(_)))
                    .map(|(i, _)| i as ParamId)
                    .collect();
                if !bufs.is_empty() && self.src.chance(1, 3) {
                    Expr::Len(self.pick(&bufs))
                } else if self.cfg.subgroups && self.src.chance(1, 3) {
                    // Not collective: allowed anywhere.
                    let op = self.pick(&[SubgroupOp::InvocationId, SubgroupOp::Size]);
                    Expr::Subgroup(op, Vec::new())
                } else {
                    let b = self.pick(&[
                        Builtin::GlobalId,
                        Builtin::LocalId,
                        Builtin::WorkgroupId,
                        Builtin::NumWorkgroups,
                    ]);
                    let a = self.pick(&[Axis::X, Axis::Y, Axis::Z]);
                    Expr::Builtin(b, a)
                }
            }
            _ => self.lit(ty),
        }
    }

    /// A load of any buffer/shared array the epoch allows, cast to `ty`
    /// (`f32` sources are exactly computed, so the cast is deterministic).
    pub(super) fn load(&mut self, ty: DataType, depth: u32, clean: bool) -> Option<Expr> {
        let mut options: Vec<u32> = Vec::new();
        if !self.ins.is_empty() {
            options.extend([0, 0]);
        }
        if !self.outs.is_empty() && !clean {
            options.push(1);
        }
        if self.sh.is_some() && self.epoch != Epoch::Init && !clean {
            options.push(2);
        }
        // Private arrays hold only clean floats, so they suit clean
        // contexts too.
        if !self.privs.is_empty() {
            options.extend([3, 3]);
        }
        if options.is_empty() {
            return None;
        }
        let (e, elem) = match self.pick(&options) {
            0 => {
                let (id, elem) = self.pick(&self.ins.clone());
                let index = self.wild_index(depth.saturating_sub(1));
                (
                    Expr::Load {
                        buf: BufRef::Param(id),
                        index: Box::new(index),
                    },
                    elem,
                )
            }
            1 => {
                let (id, elem) = self.pick(&self.outs.clone());
                // Even slots only for `out_f32`: odd ones hold inexact values.
                let mut j = self.src.below(self.slots);
                if matches!(elem, DataType::F32 | DataType::F64) {
                    j &= !1;
                }
                (
                    Expr::Load {
                        buf: BufRef::Param(id),
                        index: Box::new(self.own_slot(j)),
                    },
                    elem,
                )
            }
            3 => return Some(self.private_load(ty, Some(depth.saturating_sub(1)))),
            _ => {
                let (sid, elem) = self.sh?;
                let index = if self.epoch == Epoch::Write {
                    let j = self.src.below(self.sh_slots);
                    Expr::Local(self.lid)
                        .mul(Expr::u32(self.sh_slots))
                        .add(Expr::u32(j))
                } else {
                    self.wild_index(depth.saturating_sub(1))
                };
                (
                    Expr::Load {
                        buf: BufRef::Shared(sid),
                        index: Box::new(index),
                    },
                    elem,
                )
            }
        };
        Some(if elem == ty { e } else { convert(e, elem, ty) })
    }

    /// A load of a private array, cast to `ty`. `depth`: how deep its index
    /// may be; `None` for a leaf, whose index is a literal or built from a
    /// loop variable (no recursion).
    pub(super) fn private_load(&mut self, ty: DataType, depth: Option<u32>) -> Expr {
        let (id, elem, len) = self.pick(&self.privs.clone());
        let index = match depth {
            Some(d) => self.priv_index(len, d),
            None => self.simple_priv_index(len),
        };
        let e = Expr::Load {
            buf: BufRef::Private(id),
            index: Box::new(index),
        };
        if elem == ty { e } else { convert(e, elem, ty) }
    }

    pub(super) fn int_expr(&mut self, ty: DataType, depth: u32) -> Expr {
        if depth == 0 {
            return self.leaf(ty, false);
        }
        let d = depth - 1;
        let options = if self.cfg.subgroups { 10 } else { 9 };
        match self.src.below(options) {
            0 => self.leaf(ty, false),
            9 => self
                .subgroup_expr(ty, d, false)
                .unwrap_or_else(|| self.leaf(ty, false)),
            1 | 2 => {
                let op = self.pick(&[
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
                ]);
                let a = self.int_expr(ty, d);
                let rty = if matches!(op, BinOp::Shl | BinOp::Shr) {
                    // Any integer type shifts; amounts on a narrow left
                    // operand are masked to its width (on a 64-bit one
                    // `& 63`).
                    match self.maybe_narrow(4) {
                        Some(t) if t.is_integer() => t,
                        _ => self.maybe_wide_int(4).unwrap_or_else(|| self.int_ty()),
                    }
                } else {
                    ty
                };
                let b = self.int_expr(rty, d);
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                let op = if ty.is_signed() && self.src.chance(1, 2) {
                    UnOp::Neg
                } else {
                    UnOp::Not
                };
                Expr::Unary(op, Box::new(self.int_expr(ty, d)))
            }
            4 => {
                let from = self.any_ty();
                convert(self.expr(from, d, false), from, ty)
            }
            5 => {
                let f = if ty.is_signed() {
                    self.pick(&[MathFn::Abs, MathFn::Min, MathFn::Max, MathFn::Clamp])
                } else {
                    self.pick(&[MathFn::Min, MathFn::Max, MathFn::Clamp])
                };
                let args = (0..f.arity()).map(|_| self.int_expr(ty, d)).collect();
                Expr::Math(f, args)
            }
            6 => {
                let c = self.bool_expr(d);
                let (a, b) = (self.int_expr(ty, d), self.int_expr(ty, d));
                Expr::Select {
                    cond: Box::new(c),
                    then: Box::new(a),
                    otherwise: Box::new(b),
                }
            }
            _ => self
                .load(ty, d, false)
                .unwrap_or_else(|| self.leaf(ty, false)),
        }
    }

    pub(super) fn bool_expr(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return self.leaf(DataType::Bool, false);
        }
        let d = depth - 1;
        let options = if self.cfg.subgroups { 8 } else { 7 };
        match self.src.below(options) {
            0 => self.leaf(DataType::Bool, false),
            7 => self
                .subgroup_expr(DataType::Bool, d, false)
                .unwrap_or_else(|| self.leaf(DataType::Bool, false)),
            1 | 2 => {
                let ty = if let Some(t) = self.maybe_narrow(4) {
                    t
                } else if let Some(t) = self.maybe_wide(3) {
                    t
                } else if self.cfg.floats {
                    self.pick(&[DataType::U32, DataType::I32, DataType::F32])
                } else {
                    self.int_ty()
                };
                let op = self.pick(&[
                    BinOp::Eq,
                    BinOp::Ne,
                    BinOp::Lt,
                    BinOp::Le,
                    BinOp::Gt,
                    BinOp::Ge,
                ]);
                let (a, b) = (self.expr(ty, d, false), self.expr(ty, d, false));
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                let op = self.pick(&[
                    BinOp::And,
                    BinOp::Or,
                    BinOp::BitAnd,
                    BinOp::BitOr,
                    BinOp::BitXor,
                    BinOp::Eq,
                    BinOp::Ne,
                ]);
                let (a, b) = (self.bool_expr(d), self.bool_expr(d));
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            4 => Expr::Unary(UnOp::Not, Box::new(self.bool_expr(d))),
            5 => {
                let (c, a, b) = (self.bool_expr(d), self.bool_expr(d), self.bool_expr(d));
                Expr::Select {
                    cond: Box::new(c),
                    then: Box::new(a),
                    otherwise: Box::new(b),
                }
            }
            _ => self.bool_expr(d).cast(DataType::Bool),
        }
    }

    /// An exactly computed `f32` (see [`crate::compare`]). `clean`: no
    /// `min`/`max`, so the sign of a zero result is exact too.
    pub(super) fn float_expr(&mut self, depth: u32, clean: bool) -> Expr {
        if depth == 0 {
            return self.leaf(DataType::F32, clean);
        }
        let d = depth - 1;
        let options = if self.cfg.subgroups { 10 } else { 9 };
        match self.src.below(options) {
            0 => self.leaf(DataType::F32, clean),
            9 => self
                .subgroup_expr(DataType::F32, d, clean)
                .unwrap_or_else(|| self.leaf(DataType::F32, clean)),
            1 | 2 => {
                let op = self.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul]);
                let (a, b) = (self.float_expr(d, clean), self.float_expr(d, clean));
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                let f = self.pick(&[MathFn::Abs, MathFn::Floor, MathFn::Ceil]);
                if self.src.chance(1, 3) {
                    Expr::Unary(UnOp::Neg, Box::new(self.float_expr(d, clean)))
                } else {
                    Expr::Math(f, vec![self.float_expr(d, clean)])
                }
            }
            4 if !clean => {
                let f = self.pick(&[MathFn::Min, MathFn::Max, MathFn::Clamp]);
                let args = (0..f.arity()).map(|_| self.float_expr(d, false)).collect();
                Expr::Math(f, args)
            }
            5 => {
                let c = self.bool_expr(d);
                let (a, b) = (self.float_expr(d, clean), self.float_expr(d, clean));
                Expr::Select {
                    cond: Box::new(c),
                    then: Box::new(a),
                    otherwise: Box::new(b),
                }
            }
            6 => {
                let from = match self.maybe_narrow(3) {
                    Some(t) => t,
                    None => match self.maybe_wide(3) {
                        Some(t) => t,
                        None => self.pick(&[DataType::U32, DataType::I32, DataType::Bool]),
                    },
                };
                // (`clean` matters for a narrow float or `f64` source
                // only.)
                convert(self.expr(from, d, clean), from, DataType::F32)
            }
            _ => self
                .load(DataType::F32, d, clean)
                .unwrap_or_else(|| self.leaf(DataType::F32, clean)),
        }
    }

    /// An exactly computed `f16` or `bf16` (`ty`): the operations that
    /// round once from exact `f32` operands (`+ - *`) or are exact
    /// (negation, `abs floor ceil`, and without `clean`, `min max clamp`),
    /// selects, casts from every other type, loads, literals and subgroup
    /// operations. Every target computes them in `f32` and rounds the same
    /// way, so they compare bit-exactly (up to NaN payloads and, unless
    /// `clean`, the sign of zero).
    pub(super) fn narrow_float_expr(&mut self, ty: DataType, depth: u32, clean: bool) -> Expr {
        if depth == 0 {
            return self.leaf(ty, clean);
        }
        let d = depth - 1;
        let options = if self.cfg.subgroups { 10 } else { 9 };
        match self.src.below(options) {
            0 => self.leaf(ty, clean),
            9 => self
                .subgroup_expr(ty, d, clean)
                .unwrap_or_else(|| self.leaf(ty, clean)),
            1 | 2 => {
                let op = self.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul]);
                let a = self.narrow_float_expr(ty, d, clean);
                let b = self.narrow_float_expr(ty, d, clean);
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                if self.src.chance(1, 3) {
                    Expr::Unary(UnOp::Neg, Box::new(self.narrow_float_expr(ty, d, clean)))
                } else {
                    let f = self.pick(&[MathFn::Abs, MathFn::Floor, MathFn::Ceil]);
                    Expr::Math(f, vec![self.narrow_float_expr(ty, d, clean)])
                }
            }
            4 if !clean => {
                let f = self.pick(&[MathFn::Min, MathFn::Max, MathFn::Clamp]);
                let args = (0..f.arity())
                    .map(|_| self.narrow_float_expr(ty, d, false))
                    .collect();
                Expr::Math(f, args)
            }
            5 => {
                let c = self.bool_expr(d);
                let a = self.narrow_float_expr(ty, d, clean);
                let b = self.narrow_float_expr(ty, d, clean);
                Expr::Select {
                    cond: Box::new(c),
                    then: Box::new(a),
                    otherwise: Box::new(b),
                }
            }
            6 | 7 => {
                // From any other type: integers and `bool` through `f32`,
                // `f32` and the other narrow float rounded.
                let mut from = self.any_ty();
                if from == ty {
                    from = DataType::F32;
                }
                convert(self.expr(from, d, clean), from, ty)
            }
            _ => self
                .load(ty, d, clean)
                .unwrap_or_else(|| self.leaf(ty, clean)),
        }
    }

    /// An exactly computed `f64`: the operations IEEE 754 defines one
    /// correctly rounded result for (`+ - *`, `sqrt`; `mul_add` is in
    /// [`Gen::approx_f64`], since SPIR-V's may be unfused) or that
    /// are exact (negation, `abs floor ceil`, and without `clean`, `min max
    /// clamp`), selects, casts from every other type, loads, literals.
    /// `clean`: no `min`/`max`, so the sign of a zero result is exact too.
    pub(super) fn double_expr(&mut self, depth: u32, clean: bool) -> Expr {
        const F64: DataType = DataType::F64;
        if depth == 0 {
            return self.leaf(F64, clean);
        }
        let d = depth - 1;
        match self.src.below(10) {
            0 => self.leaf(F64, clean),
            1 | 2 => {
                let op = self.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul]);
                let (a, b) = (self.double_expr(d, clean), self.double_expr(d, clean));
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                if self.src.chance(1, 4) {
                    Expr::Unary(UnOp::Neg, Box::new(self.double_expr(d, clean)))
                } else {
                    let f = self.pick(&[MathFn::Abs, MathFn::Floor, MathFn::Ceil, MathFn::Sqrt]);
                    Expr::Math(f, vec![self.double_expr(d, clean)])
                }
            }
            4 if !clean => {
                let f = self.pick(&[MathFn::Min, MathFn::Max, MathFn::Clamp]);
                let args = (0..f.arity()).map(|_| self.double_expr(d, false)).collect();
                Expr::Math(f, args)
            }
            5 => {
                let c = self.bool_expr(d);
                let (a, b) = (self.double_expr(d, clean), self.double_expr(d, clean));
                Expr::Select {
                    cond: Box::new(c),
                    then: Box::new(a),
                    otherwise: Box::new(b),
                }
            }
            6 | 7 => {
                // From any other type (`f32` for `f64` itself).
                let mut from = self.any_ty();
                if from == F64 {
                    from = DataType::F32;
                }
                convert(self.expr(from, d, clean), from, F64)
            }
            _ => self
                .load(F64, d, clean)
                .unwrap_or_else(|| self.leaf(F64, clean)),
        }
    }

    /// One of the inexact `f64` operations on exactly computed operands,
    /// as in [`Gen::approx`]: division (the divisor never 0; `%` is not
    /// defined on `f64`), or `mul_add` on operands clamped to `[-16, 16]`
    /// (fused on PTX and the reference, but SPIR-V's `Fma` may round the
    /// product first, as lavapipe's does).
    pub(super) fn approx_f64(&mut self) -> (Expr, ApproxOp) {
        let d = self.cfg.max_expr_depth.min(2);
        if self.src.chance(1, 3) {
            let args = (0..3)
                .map(|_| {
                    let e = self.double_expr(d, false);
                    Expr::Math(
                        MathFn::Clamp,
                        vec![
                            e,
                            float_lit(DataType::F64, -16.0),
                            float_lit(DataType::F64, 16.0),
                        ],
                    )
                })
                .collect();
            return (
                Expr::Math(MathFn::MulAdd, args),
                ApproxOp::Math(MathFn::MulAdd),
            );
        }
        // Operands of magnitude 0 or within [2^-500, 2^500], so that the
        // quotient neither overflows nor underflows: Vulkan bounds the
        // error of `f64` division only in range (NVIDIA's driver gave NaN
        // for an overflowing quotient the reference has as -inf). The
        // divisor is never 0 (Vulkan leaves `x / 0` undefined) nor NaN
        // (`f64 sqrt` makes NaN of negative operands, and lavapipe folds
        // `0.0 / x` to 0 even then: docs/targets.md).
        let lit = |v: f64| Expr::Lit(vyre::ir::Literal::f64(v));
        let (big, small) = (2f64.powi(500), 2f64.powi(-500));
        let a = Expr::Math(
            MathFn::Clamp,
            vec![self.double_expr(d, false), lit(-big), lit(big)],
        );
        let a_tiny = Expr::Math(MathFn::Abs, vec![a.clone()]).lt(lit(small));
        let a = Expr::select(a_tiny, lit(0.0), a);
        let b = self.double_expr(d, true);
        let mag = Expr::Math(MathFn::Abs, vec![b.clone()]);
        let usable = Expr::Binary(
            BinOp::And,
            Box::new(mag.clone().ge(lit(small))),
            Box::new(mag.le(lit(big))),
        );
        (a.div(Expr::select(usable, b, lit(1.0))), ApproxOp::Div)
    }

    pub(super) fn clamped(&mut self, lo: f32, hi: f32) -> Expr {
        let e = self.float_expr(self.cfg.max_expr_depth.min(2), false);
        Expr::Math(MathFn::Clamp, vec![e, Expr::f32(lo), Expr::f32(hi)])
    }

    /// One inexact operation on clamped, exactly computed operands.
    pub(super) fn approx(&mut self) -> (Expr, ApproxOp) {
        let op = self.pick(&[
            ApproxOp::Div,
            ApproxOp::Rem,
            ApproxOp::Math(MathFn::Sqrt),
            ApproxOp::Math(MathFn::Exp),
            ApproxOp::Math(MathFn::Ln),
            ApproxOp::Math(MathFn::Sin),
            ApproxOp::Math(MathFn::Cos),
            ApproxOp::Math(MathFn::Tanh),
            ApproxOp::Math(MathFn::Powf),
            ApproxOp::Math(MathFn::MulAdd),
            ApproxOp::Math(MathFn::Exp2),
        ]);
        let d = self.cfg.max_expr_depth.min(2);
        let e = match op {
            ApproxOp::Div => {
                let a = self.float_expr(d, false);
                // Never 0: Vulkan leaves `x / 0` undefined and lavapipe
                // folds `0.0 / 0.0` to 0 (docs/targets.md, "Infinities and
                // NaN"); zero-filled private arrays made such divisors
                // common. Division by zero is pinned by tests/kernels/ieee.vyre.
                let b = self.float_expr(d, true);
                let nonzero = Expr::select(b.clone().ne(Expr::f32(0.0)), b, Expr::f32(1.0));
                a.div(nonzero)
            }
            ApproxOp::Rem => {
                let a = self.clamped(-16.0, 16.0);
                let b = self.clamped(0.5, 2.0);
                a.rem(b)
            }
            ApproxOp::Math(f) => {
                let args = match f {
                    MathFn::Sqrt => vec![self.float_expr(d, false)],
                    MathFn::Exp | MathFn::Exp2 => vec![self.clamped(-20.0, 20.0)],
                    MathFn::Ln => vec![self.clamped(1.0 / 1024.0, 1_048_576.0)],
                    MathFn::Sin | MathFn::Cos => vec![self.clamped(-3.0, 3.0)],
                    MathFn::Tanh => vec![self.clamped(-10.0, 10.0)],
                    MathFn::Powf => vec![self.clamped(0.0625, 16.0), self.clamped(-8.0, 8.0)],
                    _ => (0..3).map(|_| self.clamped(-16.0, 16.0)).collect(),
                };
                Expr::Math(f, args)
            }
        };
        (e, op)
    }
}

impl<S: Source> Gen<'_, S> {
    /// A subgroup operation of result type `ty` whose operands are at most
    /// `depth` deep, or `None` when none fits: collective ones only where
    /// [`Gen::collectives_ok`]; with `clean`, no `f32` sum, minimum or
    /// maximum (their zero sign is the target's: a sum of `-0.0` lanes
    /// only, `min(0.0, -0.0)`).
    pub(super) fn subgroup_expr(&mut self, ty: DataType, depth: u32, clean: bool) -> Option<Expr> {
        use SubgroupOp as O;
        // No subgroup operation takes or gives a 64-bit value.
        if !self.cfg.subgroups || ty.is_wide() {
            return None;
        }
        let coll = self.collectives_ok();
        let mut ops: Vec<SubgroupOp> = Vec::new();
        if ty == DataType::U32 {
            ops.extend([O::InvocationId, O::Size]);
        }
        if coll {
            match ty {
                DataType::Bool => ops.extend([O::All, O::Any]),
                t if t.is_float() && clean => {}
                // Float sums twice: their exactness rule (integer operands)
                // is the part most worth exercising.
                t if t.is_float() => ops.extend([O::Add, O::Add, O::Min, O::Max]),
                _ => ops.extend([O::Add, O::Min, O::Max]),
            }
            if ty != DataType::Bool {
                // Shuffles twice as likely: lane operands are where the
                // edge cases are.
                ops.extend([O::Shuffle, O::ShuffleXor, O::ShuffleDown]);
                ops.extend([O::Shuffle, O::ShuffleXor, O::ShuffleDown]);
                ops.push(O::BroadcastFirst);
            }
            if ty == DataType::U32 {
                // Four times: only `u32` slots can take a ballot, while the
                // other operations are drawn for every type.
                ops.extend([O::Ballot; 4]);
            }
        }
        if ops.is_empty() {
            return None;
        }
        let op = self.pick(&ops);
        let args = match op {
            O::InvocationId | O::Size => Vec::new(),
            O::Ballot | O::All | O::Any => vec![self.bool_expr(depth)],
            // Integers only: every order of additions gives the same bits
            // (a narrow float's sum is exact in `f32`, then rounded once).
            O::Add if ty.is_float() => {
                let e = self.expr(ty, depth, false);
                let f = self.pick(&[MathFn::Floor, MathFn::Ceil]);
                let c = Expr::Math(
                    MathFn::Clamp,
                    vec![e, float_lit(ty, -1024.0), float_lit(ty, 1024.0)],
                );
                vec![Expr::Math(f, vec![c])]
            }
            O::Add | O::Min | O::Max => vec![self.expr(ty, depth, false)],
            O::BroadcastFirst => vec![self.expr(ty, depth, clean)],
            _ => {
                let v = self.expr(ty, depth, clean);
                vec![v, self.lane_operand(op, depth)]
            }
        };
        Some(Expr::Subgroup(op, args))
    }

    /// The lane operand of a shuffle: in range, at or past the subgroup
    /// size (the invocation keeps its own value), past the end of a
    /// partial subgroup, relative to the own lane, or data-derived.
    fn lane_operand(&mut self, op: SubgroupOp, depth: u32) -> Expr {
        let lane = || Expr::Subgroup(SubgroupOp::InvocationId, Vec::new());
        let size = || Expr::Subgroup(SubgroupOp::Size, Vec::new());
        let lits: &[u32] = match op {
            SubgroupOp::ShuffleXor => &[1, 2, 4, 8, 16, 3, 31, 7, 32, 33, 64, 128, u32::MAX],
            SubgroupOp::ShuffleDown => &[0, 1, 2, 4, 8, 16, 31, 32, 33, 128, u32::MAX, 0xFFFF_FFF0],
            _ => &[
                0,
                1,
                3,
                7,
                8,
                15,
                31,
                32,
                33,
                63,
                64,
                127,
                128,
                u32::MAX,
                0x8000_0000,
            ],
        };
        match self.src.below(7) {
            0..=2 => Expr::u32(self.pick(lits)),
            3 => match (op, self.src.below(3)) {
                // Relative to the own lane: the last lanes reach past the
                // end (of the subgroup, or of a partial one).
                (SubgroupOp::Shuffle, 0) => lane().add(Expr::u32(self.pick(&[1u32, 2, 8]))),
                (SubgroupOp::Shuffle, 1) => size().sub(Expr::u32(1)).sub(lane()),
                (SubgroupOp::ShuffleDown, 0) => size().sub(lane()),
                (SubgroupOp::ShuffleDown, 1) => size().sub(Expr::u32(1)).sub(lane()),
                (SubgroupOp::ShuffleXor, 0) => size().sub(Expr::u32(1)),
                (SubgroupOp::ShuffleXor, 1) => size().shr(Expr::u32(1)),
                _ => size().add(Expr::u32(self.src.below(3))),
            },
            4 => {
                // Mostly in range for subgroups of 8 or 32.
                let m = self.pick(&[7u32, 31]);
                self.int_expr(DataType::U32, depth).bitand(Expr::u32(m))
            }
            _ => self.int_expr(DataType::U32, depth),
        }
    }
}
