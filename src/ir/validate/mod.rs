//! Well-formedness and typing of a [`Program`].
//!
//! [`Program::validate`] reports every problem it finds, each with a path to
//! the offending node (`body[2].then[0]`) and a message that says what is
//! allowed instead. Backends may assume a validated program.

use std::fmt;

use super::{
    Access, AsyncOp, AtomicOp, AtomicResult, BinOp, BufRef, DataType, Expr, LocalId, MathFn, Node,
    Param, Program, SubgroupOp, UnOp,
};

mod facts;
mod matrix;

pub use facts::{ExprTypes, Uniformity, Validated};
use facts::{TypeMap, UniformityRules};

/// Largest workgroup shared memory a program may declare: 227 KiB, the
/// largest any target offers (Hopper's per-block opt-in maximum); 48 KiB
/// ([`PORTABLE_SHARED_BYTES`]) is what every device has, more is checked
/// against the device at launch.
pub const MAX_SHARED_BYTES: u64 = 227 * 1024;

/// Workgroup shared memory every target offers: 48 KiB (CUDA's static
/// shared memory; within every Vulkan/Metal/DX12 desktop limit). A kernel
/// above it runs only where the device allows more (CUDA sm_80: 163 KiB,
/// sm_90: 227 KiB, opted in at load; Vulkan: the device's limit), and
/// otherwise its launch returns an error.
pub const PORTABLE_SHARED_BYTES: u64 = 48 * 1024;

/// Largest number of invocations per workgroup (CUDA and most Vulkan
/// drivers allow 1024).
pub const MAX_INVOCATIONS_PER_WORKGROUP: u64 = 1024;

/// Largest total size of an invocation's private arrays: 16 KiB. Arrays
/// that stay registers after unrolling cost nothing in memory, but one
/// indexed at run time lives in per-invocation (local) memory, and this
/// keeps that within what every target gives a thread.
pub const MAX_PRIVATE_BYTES: u64 = 16 * 1024;

/// The largest subgroup size of any target (AMD's wave64 is 64; Vulkan
/// allows up to 128): an x size that is a multiple of it keeps the rows of
/// a 2D/3D workgroup in subgroups of their own under every layout.
pub const MAX_SUBGROUP_SIZE: u32 = 128;

/// Most iterations an `#[unroll]` loop may have: unrolling copies the body
/// once per iteration, so a larger count is more likely a mistake than a
/// speed-up.
pub const MAX_UNROLL: u64 = 1024;

/// The values `for var in (start..end).step_by(step)` takes when `start` and
/// `end` are literals of the loop's type: `None` when they are not.
#[must_use]
pub fn unrolled_values(start: &Expr, end: &Expr, step: u32) -> Option<Vec<super::Literal>> {
    use super::Literal;
    let step = u64::from(step.max(1));
    let (lo, hi, signed) = match (start, end) {
        (Expr::Lit(Literal::U32(a)), Expr::Lit(Literal::U32(b))) => {
            (i64::from(*a), i64::from(*b), false)
        }
        (Expr::Lit(Literal::I32(a)), Expr::Lit(Literal::I32(b))) => {
            (i64::from(*a), i64::from(*b), true)
        }
        _ => return None,
    };
    let count = if hi > lo {
        (hi - lo).cast_unsigned().div_ceil(step)
    } else {
        0
    };
    // Bounded by the caller's check against MAX_UNROLL; the cap here only
    // keeps a huge literal range from allocating.
    let count = count.min(MAX_UNROLL + 1);
    Some(
        (0..count)
            .map(|k| {
                let v = lo + (k * step).cast_signed();
                if signed {
                    Literal::I32(v as i32)
                } else {
                    Literal::U32(v as u32)
                }
            })
            .collect(),
    )
}

/// One problem in a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where: `body[3].then[0]` style path, or a declaration name.
    pub path: String,
    /// What is wrong and what is allowed instead.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValidationError {}

impl Program {
    /// Check the program; `Err` holds every problem found, in body order.
    /// `Ok` holds the facts the check established ([`Validated`]).
    ///
    /// # Errors
    ///
    /// One [`ValidationError`] per problem.
    pub fn validate(&self) -> Result<Validated, Vec<ValidationError>> {
        self.check(false).map(|(v, _)| v)
    }

    /// As [`Program::validate`], also returning the type of every
    /// expression ([`ExprTypes`]).
    ///
    /// # Errors
    ///
    /// One [`ValidationError`] per problem.
    pub fn validate_typed(&self) -> Result<(Validated, ExprTypes<'_>), Vec<ValidationError>> {
        self.check(true)
            .map(|(v, types)| (v, ExprTypes::from_map(types.unwrap_or_default())))
    }

    /// Validate; the expression types too when `record_types`.
    fn check(
        &self,
        record_types: bool,
    ) -> Result<(Validated, Option<TypeMap>), Vec<ValidationError>> {
        let mut v = Validator {
            program: self,
            errors: Vec::new(),
            defined: vec![false; self.locals.len()],
            local_uniformity: vec![Uniformity::Workgroup; self.locals.len()],
            local_id_x: vec![true; self.locals.len()],
            returned: Uniformity::Workgroup,
            marked_return: Uniformity::Workgroup,
            marked_left_loop: Uniformity::Workgroup,
            loop_flow: std::collections::HashMap::new(),
            types: record_types.then(TypeMap::default),
        };
        v.infer_local_id_x();
        v.infer_local_uniformity();
        v.declarations();
        v.matrix_declarations();
        v.block(&self.body, "body", 0, Uniformity::Workgroup);
        if v.errors.is_empty() {
            Ok((
                Validated {
                    local_uniformity: v.local_uniformity,
                    local_id_x: v.local_id_x,
                    whole_warpgroup_rows: self.whole_warpgroup_rows(),
                },
                v.types,
            ))
        } else {
            Err(v.errors)
        }
    }
}

/// The type of `expr`, or `None` when it is ill-typed or refers to something
/// that does not exist.
#[must_use]
pub fn type_of(program: &Program, expr: &Expr) -> Option<DataType> {
    match expr {
        Expr::Lit(l) => Some(l.ty()),
        Expr::Local(id) => program.locals.get(*id as usize).map(|l| l.ty),
        Expr::Param(id) => match program.params.get(*id as usize)? {
            Param::Scalar { ty, .. } => Some(*ty),
            Param::Buffer(_) => None,
        },
        Expr::Builtin(..) | Expr::Len(_) => Some(DataType::U32),
        Expr::Load { buf, .. } => program.elem_type(*buf),
        Expr::Unary(op, e) => {
            let t = type_of(program, e)?;
            match (op, t) {
                (UnOp::Neg, t) if t.is_signed() || t.is_float() => Some(t),
                (UnOp::Not, t) if t == DataType::Bool || t.is_integer() => Some(t),
                _ => None,
            }
        }
        Expr::Binary(op, a, b) => binary_type(*op, type_of(program, a)?, type_of(program, b)?),
        Expr::Cast(ty, e) => {
            let from = type_of(program, e)?;
            (*ty != DataType::Bool || from == DataType::Bool).then_some(*ty)
        }
        Expr::Math(f, args) => {
            let tys: Option<Vec<_>> = args.iter().map(|a| type_of(program, a)).collect();
            math_type(*f, &tys?)
        }
        Expr::Subgroup(op, args) => {
            let tys: Option<Vec<_>> = args.iter().map(|a| type_of(program, a)).collect();
            subgroup_type(*op, &tys?)
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            let (c, t, o) = (
                type_of(program, cond)?,
                type_of(program, then)?,
                type_of(program, otherwise)?,
            );
            (c == DataType::Bool && t == o).then_some(t)
        }
    }
}

/// Result type of `a op b`, or `None` when the operands do not fit `op`.
#[must_use]
pub fn binary_type(op: BinOp, a: DataType, b: DataType) -> Option<DataType> {
    use DataType::Bool;
    match op {
        BinOp::Shl | BinOp::Shr => (a.is_integer() && b.is_integer()).then_some(a),
        _ if a != b => None,
        // `f64 % f64` (an exact `fmod`) has no instruction on any target.
        BinOp::Rem if a == DataType::F64 => None,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => (a != Bool).then_some(a),
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => (!a.is_float()).then_some(a),
        BinOp::Eq | BinOp::Ne => Some(Bool),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => (a != Bool).then_some(Bool),
        BinOp::And | BinOp::Or => (a == Bool).then_some(Bool),
    }
}

/// Result type of a subgroup operation over `args`, or `None` when they do
/// not fit it (reductions and shuffles take a numeric type of at most 32
/// bits, a shuffle's lane operand is `u32`, ballot/all/any take `bool`).
#[must_use]
pub fn subgroup_type(op: SubgroupOp, args: &[DataType]) -> Option<DataType> {
    use DataType::{Bool, U32};
    if args.len() != op.arity() {
        return None;
    }
    match op {
        SubgroupOp::InvocationId | SubgroupOp::Size => Some(U32),
        SubgroupOp::Add | SubgroupOp::Min | SubgroupOp::Max | SubgroupOp::BroadcastFirst => {
            (args[0] != Bool && !args[0].is_wide()).then_some(args[0])
        }
        SubgroupOp::Shuffle | SubgroupOp::ShuffleXor | SubgroupOp::ShuffleDown => {
            (args[0] != Bool && !args[0].is_wide() && args[1] == U32).then_some(args[0])
        }
        SubgroupOp::Ballot => (args[0] == Bool).then_some(U32),
        SubgroupOp::All | SubgroupOp::Any => (args[0] == Bool).then_some(Bool),
    }
}

/// Result type of a math intrinsic over `args`, or `None` when they do not
/// fit it. On `f64` only the correctly rounded or exact functions exist
/// (`sqrt abs min max clamp floor ceil mul_add`): no target has `f64`
/// `exp ln sin cos tanh powf` instructions (PTX has none, and SPIR-V's
/// GLSL.std.450 defines them for 16- and 32-bit floats only).
#[must_use]
pub fn math_type(f: MathFn, args: &[DataType]) -> Option<DataType> {
    if args.len() != f.arity() || args.iter().any(|t| *t != args[0]) {
        return None;
    }
    let t = args[0];
    let ok = match f {
        MathFn::Abs => t.is_float() || t.is_signed(),
        MathFn::Min | MathFn::Max | MathFn::Clamp => t != DataType::Bool,
        MathFn::Sqrt | MathFn::Floor | MathFn::Ceil | MathFn::MulAdd => t.is_float(),
        _ => t.is_float() && t != DataType::F64,
    };
    ok.then_some(t)
}

struct Validator<'a> {
    program: &'a Program,
    errors: Vec<ValidationError>,
    defined: Vec<bool>,
    /// Per local, how widely its value is shared: the least uniformity of
    /// its definitions' values and of the control flow they are made in
    /// (fixpoint of [`Validator::infer_local_uniformity`]).
    local_uniformity: Vec<Uniformity>,
    /// Per local, whether it always holds `local_id().x` (fixpoint of
    /// [`Validator::infer_local_id_x`]).
    local_id_x: Vec<bool>,
    /// The least uniformity of the control flow of any `return` so far: once
    /// some invocations may have returned while others go on, later points
    /// are reached only that uniformly (`Workgroup`: no such return).
    returned: Uniformity,
    /// [`Validator::returned`] for [`Validator::mark_locals`], which walks
    /// the body again at each step of the fixpoint.
    marked_return: Uniformity,
    /// The least uniformity of the control flow of any `break` or `return`
    /// in the loop body [`Validator::mark_locals`] walks: invocations that
    /// left take no part in later iterations, so the whole body is reached
    /// only that uniformly.
    marked_left_loop: Uniformity,
    /// Per loop (by the address of its node): how uniformly its body is
    /// reached once invocations that leave it early are gone, lowered by
    /// [`Validator::infer_local_uniformity`] until stable and then used by
    /// the check (one pass per body, however deep the nesting).
    loop_flow: std::collections::HashMap<*const Node, Uniformity>,
    /// The type of every expression checked, when asked for.
    types: Option<TypeMap>,
}

impl Validator<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn declarations(&mut self) {
        let p = self.program;
        let ws = p.workgroup_size;
        if ws.contains(&0) {
            self.err(
                "workgroup_size",
                format!(
                    "workgroup size {ws:?} has a zero dimension; every dimension must be at least 1"
                ),
            );
        }
        if p.invocations_per_workgroup() > MAX_INVOCATIONS_PER_WORKGROUP {
            self.err(
                "workgroup_size",
                format!(
                    "workgroup size {ws:?} has {} invocations; at most {MAX_INVOCATIONS_PER_WORKGROUP} are portable",
                    p.invocations_per_workgroup()
                ),
            );
        }
        let mut names = std::collections::HashSet::new();
        for param in &p.params {
            if !names.insert(param.name().to_string()) {
                self.err(
                    format!("param `{}`", param.name()),
                    "duplicate parameter name; rename one of them",
                );
            }
            if let Param::Buffer(b) = param
                && !b.elem.is_storable()
            {
                self.err(
                    format!("param `{}`", b.name),
                    "buffers of `bool` are not supported; use `u32` (0 or 1) instead",
                );
            }
        }
        for s in &p.shared {
            if !s.elem.is_storable() {
                self.err(
                    format!("shared `{}`", s.name),
                    "shared arrays of `bool` are not supported; use `u32` instead",
                );
            }
            if s.len == 0 {
                self.err(
                    format!("shared `{}`", s.name),
                    "shared array length must be at least 1",
                );
            }
        }
        if p.shared_bytes() > MAX_SHARED_BYTES {
            self.err(
                "shared",
                format!(
                    "shared arrays take {} bytes; at most {MAX_SHARED_BYTES} bytes per workgroup are allowed",
                    p.shared_bytes()
                ),
            );
        }
        for s in &p.private {
            if !s.elem.is_storable() {
                self.err(
                    format!("private `{}`", s.name),
                    "private arrays of `bool` are not supported; use `u32` instead",
                );
            }
            if s.len == 0 {
                self.err(
                    format!("private `{}`", s.name),
                    "private array length must be at least 1",
                );
            }
        }
        let private_bytes: u64 = p
            .private
            .iter()
            .map(|s| u64::from(s.len) * u64::from(s.elem.size_bytes()))
            .sum();
        if private_bytes > MAX_PRIVATE_BYTES {
            self.err(
                "private",
                format!(
                    "private arrays take {private_bytes} bytes; at most {MAX_PRIVATE_BYTES} bytes per invocation are allowed"
                ),
            );
        }
        // Locals may take any name (the printer aliases them), but
        // parameters, shared and private arrays are named in the source as
        // they are.
        for s in &p.shared {
            if !names.insert(s.name.clone()) {
                self.err(
                    format!("shared `{}`", s.name),
                    "a parameter or another shared array has this name; rename one of them",
                );
            }
        }
        for s in &p.private {
            if !names.insert(s.name.clone()) {
                self.err(
                    format!("private `{}`", s.name),
                    "a parameter, shared or another private array has this name; rename one of them",
                );
            }
        }
        for m in &p.matrices {
            if !names.insert(m.name.clone()) {
                self.err(
                    format!("matrix `{}`", m.name),
                    "a parameter, array or another matrix has this name; rename one of them",
                );
            }
        }
        let mut local_names = std::collections::HashSet::new();
        for l in &p.locals {
            if !local_names.insert(l.name.as_str()) {
                self.err(
                    format!("local `{}`", l.name),
                    "duplicate local name; the front end must give every local a unique name",
                );
            }
        }
    }

    /// `flow`: how uniformly control flow reaches this point (barriers
    /// need the workgroup, matrix statements their warpgroup).
    ///
    /// Returns how uniformly invocations stay in the innermost loop
    /// iteration: less than `Workgroup` after a `break`/`continue` under a
    /// branch that is less uniform, which makes the rest of that loop body
    /// that much less uniform.
    fn block(
        &mut self,
        body: &[Node],
        path: &str,
        loop_depth: u32,
        flow: Uniformity,
    ) -> Uniformity {
        let mut stayed = Uniformity::Workgroup;
        for (i, node) in body.iter().enumerate() {
            let here = format!("{path}[{i}]");
            let u = flow.min(stayed).min(self.returned);
            stayed = stayed.min(self.node(node, &here, loop_depth, u));
        }
        stayed
    }

    /// The uniformity rules, with what is known of the locals so far.
    fn rules(&self) -> UniformityRules<'_> {
        UniformityRules {
            locals: &self.local_uniformity,
            local_id_x: &self.local_id_x,
            whole_warpgroup_rows: self.program.whole_warpgroup_rows(),
        }
    }

    /// Conservative: how widely `e` is shared.
    fn uniformity(&self, e: &Expr) -> Uniformity {
        self.rules().of(e)
    }

    /// Fixpoint: a local holds `local_id().x` when every definition of it
    /// stores that value (where in the control flow does not matter).
    fn infer_local_id_x(&mut self) {
        loop {
            let before = self.local_id_x.clone();
            let mut not = Vec::new();
            visit_definitions(&self.program.body, &mut |local, value| {
                if !value.is_some_and(|v| self.rules().is_local_id_x(v)) {
                    not.push(local);
                }
            });
            for local in not {
                if let Some(x) = self.local_id_x.get_mut(local as usize) {
                    *x = false;
                }
            }
            if before == self.local_id_x {
                break;
            }
        }
    }

    /// Fixpoint: a local is as uniform as the least uniform of its
    /// definitions' values and of the control flow they are made in, and a
    /// loop body is reached as uniformly as its entry and its early exits
    /// allow ([`Validator::loop_flow`]); both only ever go down.
    fn infer_local_uniformity(&mut self) {
        loop {
            let before = (self.local_uniformity.clone(), self.loop_flow.clone());
            let body = &self.program.body;
            self.marked_return = Uniformity::Workgroup;
            self.marked_left_loop = Uniformity::Workgroup;
            self.mark_locals(body, Uniformity::Workgroup);
            if before == (self.local_uniformity.clone(), self.loop_flow.clone()) {
                break;
            }
        }
    }

    /// How uniformly the body of `lp` is reached when it is entered as
    /// uniformly as `flow` (see [`Validator::loop_flow`]).
    fn loop_entry(&self, lp: &Node, flow: Uniformity) -> Uniformity {
        let key: *const Node = lp;
        flow.min(
            self.loop_flow
                .get(&key)
                .copied()
                .unwrap_or(Uniformity::Workgroup),
        )
    }

    /// Lower `local`'s uniformity to at most `u`.
    fn lower_local(&mut self, local: LocalId, u: Uniformity) {
        if let Some(l) = self.local_uniformity.get_mut(local as usize) {
            *l = (*l).min(u);
        }
    }

    /// Lower the locals `body` defines to the uniformity of their values
    /// and of the flow they are defined in (`flow`, lowered as
    /// [`Validator::block`] lowers it); returns how uniformly invocations
    /// stay in the innermost loop iteration, as `block` does.
    fn mark_locals(&mut self, body: &[Node], flow: Uniformity) -> Uniformity {
        let mut stayed = Uniformity::Workgroup;
        for node in body {
            let flow = flow.min(stayed).min(self.marked_return);
            match node {
                Node::Let { local, value } | Node::Assign { local, value } => {
                    let u = flow.min(self.uniformity(value));
                    self.lower_local(*local, u);
                }
                // The old value is loaded data: never uniform.
                Node::Atomic { result, .. } => {
                    if let Some(local) = result.local() {
                        self.lower_local(local, Uniformity::Varying);
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let u = flow.min(self.uniformity(cond));
                    let s1 = self.mark_locals(then, u);
                    let s2 = self.mark_locals(otherwise, u);
                    stayed = stayed.min(s1).min(s2);
                }
                Node::While { cond, body } => {
                    let u = flow.min(self.uniformity(cond));
                    self.mark_loop_locals(node, body, u);
                }
                Node::For {
                    var,
                    start,
                    end,
                    body,
                    ..
                } => {
                    let u = flow.min(self.uniformity(start)).min(self.uniformity(end));
                    let u = self.mark_loop_locals(node, body, u);
                    self.lower_local(*var, u);
                }
                Node::Loop { body } => {
                    self.mark_loop_locals(node, body, flow);
                }
                Node::Unsafe { body } => stayed = stayed.min(self.mark_locals(body, flow)),
                Node::Break => {
                    self.marked_left_loop = self.marked_left_loop.min(flow);
                    stayed = stayed.min(flow);
                }
                Node::Continue => stayed = stayed.min(flow),
                Node::Return => {
                    self.marked_return = self.marked_return.min(flow);
                    self.marked_left_loop = self.marked_left_loop.min(flow);
                    stayed = stayed.min(flow);
                }
                // A map's row, column and value differ between elements.
                Node::Matrix(crate::ir::MatrixOp::Map {
                    row, col, value, ..
                }) => {
                    for id in [row, col, value] {
                        self.lower_local(*id, Uniformity::Varying);
                    }
                }
                _ => {}
            }
        }
        stayed
    }

    /// [`Validator::mark_locals`] for the body of loop `lp` entered as
    /// uniformly as `flow`, at the uniformity [`Validator::loop_flow`]
    /// holds for it, which this lowers when an early exit is less uniform;
    /// returns the uniformity the body was walked at.
    fn mark_loop_locals(&mut self, lp: &Node, body: &[Node], flow: Uniformity) -> Uniformity {
        let outer = self.marked_left_loop;
        let u = self.loop_entry(lp, flow);
        self.marked_left_loop = Uniformity::Workgroup;
        self.mark_locals(body, u);
        let left = self.marked_left_loop;
        if left < u {
            let key: *const Node = lp;
            self.loop_flow.insert(key, left);
        }
        // Of its exits, only the `return`s leave an enclosing loop too.
        self.marked_left_loop = outer.min(self.marked_return);
        u
    }

    /// Check `node`, reached as uniformly as `flow`; returns how uniformly
    /// invocations stay in the innermost loop iteration (see
    /// [`Validator::block`]).
    fn node(&mut self, node: &Node, path: &str, loop_depth: u32, flow: Uniformity) -> Uniformity {
        let uniform = flow == Uniformity::Workgroup;
        self.collectives_in_uniform_flow(node, path, uniform);
        match node {
            Node::Let { local, value } => {
                let ty = self.expr(value, path);
                self.define(*local, ty, path);
            }
            Node::Assign { local, value } => {
                let ty = self.expr(value, path);
                self.assign(*local, ty, path);
            }
            Node::Store { buf, index, value } => {
                self.index(*buf, index, path);
                let vt = self.expr(value, path);
                self.writable(*buf, path);
                if let (Some(et), Some(vt)) = (self.program.elem_type(*buf), vt)
                    && et != vt
                {
                    self.err(
                        path,
                        format!(
                            "storing a `{vt}` into `{}`, whose elements are `{et}`",
                            self.program.buf_name(*buf).unwrap_or("?")
                        ),
                    );
                }
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                let ty = self.atomic(*op, *buf, index, expected.as_ref(), value, path);
                match *result {
                    AtomicResult::Discard => {}
                    AtomicResult::Let(local) => self.define(local, ty, path),
                    AtomicResult::Assign(local) => self.assign(local, ty, path),
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                self.cond(cond, path);
                let u = flow.min(self.uniformity(cond));
                let d1 = self.block(then, &format!("{path}.then"), loop_depth, u);
                let d2 = self.block(otherwise, &format!("{path}.else"), loop_depth, u);
                return d1.min(d2);
            }
            Node::While { cond, body } => {
                self.cond(cond, path);
                let u = flow.min(self.uniformity(cond));
                self.loop_body(node, body, &format!("{path}.body"), loop_depth, u);
            }
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => {
                self.for_range(*var, start, end, *step, *unroll, body, path);
                let st = self.expr(start, path);
                let et = self.expr(end, path);
                match self.program.locals.get(*var as usize) {
                    None => self.err(path, format!("unknown loop variable #{var}")),
                    Some(decl) => {
                        if !decl.ty.is_index() {
                            self.err(
                                path,
                                format!("loop variable `{}` must be `u32` or `i32`", decl.name),
                            );
                        }
                        for t in [st, et].into_iter().flatten() {
                            if t != decl.ty {
                                self.err(
                                    path,
                                    format!(
                                        "range bound of type `{t}` for loop variable `{}: {}`",
                                        decl.name, decl.ty
                                    ),
                                );
                            }
                        }
                        self.defined[*var as usize] = true;
                    }
                }
                let u = flow.min(self.uniformity(start)).min(self.uniformity(end));
                self.loop_body(node, body, &format!("{path}.body"), loop_depth, u);
            }
            // In line: a divergent exit inside diverges what follows.
            Node::Unsafe { body } => {
                return self.block(body, &format!("{path}.unsafe"), loop_depth, flow);
            }
            Node::Loop { body } => {
                self.loop_body(node, body, &format!("{path}.body"), loop_depth, flow);
            }
            Node::Break | Node::Continue => {
                if loop_depth == 0 {
                    self.err(path, "`break`/`continue` outside of a loop");
                }
                // The rest of this iteration is reached only as uniformly.
                return flow;
            }
            Node::Return => {
                self.returned = self.returned.min(flow);
                return flow;
            }
            Node::Matrix(op) => {
                self.matrix_op(op, path);
                if flow < Uniformity::Warpgroup {
                    let how = if self.program.whole_warpgroup_rows() {
                        "branch on values that are the same across each warpgroup (`local_id().x / 128`, `local_id().x < 128`, uniform values) or move it where a `barrier()` could be"
                    } else {
                        "move it where a `barrier()` could be (branches on `local_id().x / 128` need a workgroup whose x size is a multiple of 128)"
                    };
                    self.err(
                        path,
                        format!(
                            "a matrix operation in control flow that depends on the invocation (local_id, global_id, loaded data); every invocation of its subgroup or warpgroup must take part, so {how}"
                        ),
                    );
                }
            }
            Node::Async(op) => {
                self.async_op(op, path);
                self.async_in_uniform_flow(op, path, uniform);
            }
            Node::Barrier => {
                if !uniform {
                    self.err(
                        path,
                        "`barrier()` in control flow that depends on the invocation (local_id, global_id, loaded data); every invocation of a workgroup must reach the same barriers, so move it out of the branch or loop",
                    );
                }
            }
            Node::WarpgroupBarrier => {
                if !uniform {
                    self.err(
                        path,
                        "`warpgroup_barrier()` in control flow that depends on the invocation (local_id, global_id, loaded data); it stands where a `barrier()` could (every invocation reaches the same warpgroup barriers in the same order, which lets targets without one use a workgroup barrier), so move it out of the branch or loop",
                    );
                }
                let warpgroup = u64::from(crate::ir::MatrixScope::WARPGROUP);
                let n = self.program.invocations_per_workgroup();
                if !n.is_multiple_of(warpgroup) {
                    self.err(
                        path,
                        format!(
                            "`warpgroup_barrier()` needs a workgroup of whole warpgroups (a multiple of {warpgroup} invocations); {:?} has {n}",
                            self.program.workgroup_size
                        ),
                    );
                }
            }
        }
        Uniformity::Workgroup
    }

    /// Check the body of loop `lp`, entered as uniformly as `flow`:
    /// invocations that leave it by a `break` or `return` take no part in
    /// later iterations, so it is checked at the uniformity
    /// [`Validator::loop_flow`] settled on for it.
    fn loop_body(
        &mut self,
        lp: &Node,
        body: &[Node],
        path: &str,
        loop_depth: u32,
        flow: Uniformity,
    ) {
        let u = self.loop_entry(lp, flow);
        self.block(body, path, loop_depth + 1, u);
    }

    /// A tile copy is collective: the whole workgroup executes it with the
    /// same operands (one invocation issues it on Hopper). In a kernel with
    /// tile copies, `async_commit` and `async_wait` are collective too:
    /// every invocation counts the same groups, so that the targets can
    /// track each group's completion on one barrier the workgroup shares.
    fn async_in_uniform_flow(&mut self, op: &AsyncOp, path: &str, uniform: bool) {
        let what = match op {
            AsyncOp::Tile {
                dst_index,
                row,
                col,
                ..
            } => {
                if uniform
                    && [dst_index, row, col]
                        .iter()
                        .any(|e| self.uniformity(e) != Uniformity::Workgroup)
                {
                    self.err(
                        path,
                        "`async_copy_tile` with an operand that depends on the invocation (local_id, global_id, loaded data): the workgroup copies one box together, so its destination index, row and column must be the same in every invocation",
                    );
                }
                "async_copy_tile"
            }
            AsyncOp::Commit if self.program.has_tile_copies() => "async_commit",
            AsyncOp::Wait { .. } if self.program.has_tile_copies() => "async_wait",
            _ => return,
        };
        if !uniform {
            self.err(
                path,
                format!(
                    "`{what}` in control flow that depends on the invocation (local_id, global_id, loaded data); in a kernel with `async_copy_tile` the whole workgroup copies, commits and waits together, so move it where a `barrier()` could be"
                ),
            );
        }
    }

    /// The rules of a `for` loop's step and `#[unroll]`.
    #[allow(clippy::too_many_arguments)]
    fn for_range(
        &mut self,
        var: LocalId,
        start: &Expr,
        end: &Expr,
        step: u32,
        unroll: bool,
        body: &[Node],
        path: &str,
    ) {
        let ty = self.program.locals.get(var as usize).map(|d| d.ty);
        if step == 0 {
            self.err(path, "`step_by(0)`: a loop's step must be at least 1");
        } else if ty == Some(DataType::I32) && step > i32::MAX.cast_unsigned() {
            self.err(
                path,
                format!("`step_by({step})` does not fit the `i32` loop variable"),
            );
        }
        if !unroll {
            return;
        }
        match unrolled_values(start, end, step) {
            None => self.err(
                path,
                "`#[unroll]` needs a range with constant bounds (literals or `const`s)",
            ),
            Some(values) if values.len() as u64 > MAX_UNROLL => self.err(
                path,
                format!(
                    "`#[unroll]` of more than {MAX_UNROLL} iterations; unroll an inner loop instead"
                ),
            ),
            Some(_) => {}
        }
        if has_loop_exit(body) {
            self.err(
                path,
                "`#[unroll]` loop with `break` or `continue`; unrolled iterations cannot leave early",
            );
        }
    }

    /// A collective subgroup operation must be reached by every invocation
    /// of its subgroup: the expressions `node` evaluates itself may hold one
    /// only in uniform control flow (a `while` condition never: it is
    /// evaluated again after invocations may have left the loop).
    fn collectives_in_uniform_flow(&mut self, node: &Node, path: &str, uniform: bool) {
        let (now, repeated): (Vec<&Expr>, Option<&Expr>) = match node {
            Node::Let { value, .. } | Node::Assign { value, .. } => (vec![value], None),
            Node::Store { index, value, .. } => (vec![index, value], None),
            Node::Atomic {
                index,
                expected,
                value,
                ..
            } => (
                [index, value]
                    .into_iter()
                    .chain(expected.as_ref())
                    .collect(),
                None,
            ),
            Node::If { cond, .. } => (vec![cond], None),
            Node::While { cond, .. } => (vec![], Some(cond)),
            Node::For { start, end, .. } => (vec![start, end], None),
            _ => (vec![], None),
        };
        let first = |es: &[&Expr]| es.iter().find_map(|e| first_collective(e));
        let [wx, wy, wz] = self.program.workgroup_size;
        if (wy, wz) != (1, 1)
            && !wx.is_multiple_of(MAX_SUBGROUP_SIZE)
            && let Some(op) = first(&now).or_else(|| repeated.and_then(first_collective))
        {
            self.err(
                path,
                format!(
                    "`{}` in a {wx} x {wy} x {wz} workgroup: drivers split 2D and 3D workgroups into subgroups row by row (lavapipe) or by flat index (NVIDIA), so collective subgroup operations need a one-dimensional workgroup, or an x size that is a multiple of {MAX_SUBGROUP_SIZE} (where both agree)",
                    op.name()
                ),
            );
        }
        if let Some(op) = repeated.and_then(first_collective) {
            self.err(
                path,
                format!(
                    "`{}` in a `while` condition: invocations that left the loop would not take part when it is evaluated again; compute it in the body",
                    op.name()
                ),
            );
        } else if !uniform && let Some(op) = first(&now) {
            self.err(
                path,
                format!(
                    "`{}` in control flow that depends on the invocation (local_id, global_id, loaded data); every invocation of a subgroup must take part, so compute it where a `barrier()` could be and select the value afterwards",
                    op.name()
                ),
            );
        }
    }

    fn cond(&mut self, cond: &Expr, path: &str) {
        if let Some(t) = self.expr(cond, path)
            && t != DataType::Bool
        {
            self.err(
                path,
                format!("condition has type `{t}`; it must be `bool` (compare with `!= 0`)"),
            );
        }
    }

    fn writable(&mut self, buf: BufRef, path: &str) {
        if let BufRef::Param(id) = buf
            && let Some(b) = self.program.buffer(id)
            && b.access == Access::Read
        {
            let name = b.name.clone();
            self.err(
                path,
                format!(
                    "`{name}` is a read-only buffer (`&[T]`); declare it `&mut [T]` to write to it"
                ),
            );
        }
    }

    fn index(&mut self, buf: BufRef, index: &Expr, path: &str) {
        let ok = match buf {
            BufRef::Param(id) => self.program.buffer(id).is_some(),
            BufRef::Shared(id) => (id as usize) < self.program.shared.len(),
            BufRef::Private(id) => (id as usize) < self.program.private.len(),
        };
        if !ok {
            self.err(
                path,
                format!("{buf:?} does not name a buffer, shared or private array"),
            );
        }
        if let Some(t) = self.expr(index, path)
            && !t.is_index()
        {
            self.err(
                path,
                format!("index has type `{t}`; it must be `u32` or `i32`"),
            );
        }
    }

    /// The first definition of `local` with a value of type `ty` (`None`:
    /// already reported).
    fn define(&mut self, local: LocalId, ty: Option<DataType>, path: &str) {
        match self.program.locals.get(local as usize) {
            None => self.err(path, format!("unknown local #{local}")),
            Some(decl) => {
                if let Some(ty) = ty
                    && ty != decl.ty
                {
                    self.err(
                        path,
                        format!(
                            "`let {}: {}` is initialised with a `{ty}`; add `as {}` or change the type",
                            decl.name, decl.ty, decl.ty
                        ),
                    );
                }
                self.defined[local as usize] = true;
            }
        }
    }

    /// An assignment to `local` of a value of type `ty` (`None`: already
    /// reported).
    fn assign(&mut self, local: LocalId, ty: Option<DataType>, path: &str) {
        match self.program.locals.get(local as usize) {
            None => self.err(path, format!("unknown local #{local}")),
            Some(decl) => {
                if !decl.mutable {
                    self.err(
                        path,
                        format!(
                            "cannot assign twice to immutable variable `{}`; declare it with `let mut`",
                            decl.name
                        ),
                    );
                }
                if let Some(ty) = ty
                    && ty != decl.ty
                {
                    self.err(
                        path,
                        format!("assigning a `{ty}` to `{}: {}`", decl.name, decl.ty),
                    );
                }
            }
        }
    }

    /// An atomic's operands; returns the type of its old value.
    fn atomic(
        &mut self,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
        path: &str,
    ) -> Option<DataType> {
        self.index(buf, index, path);
        self.writable(buf, path);
        if let BufRef::Private(_) = buf {
            self.err(
                path,
                format!(
                    "`{}` is a private array: only buffers and shared arrays have atomics (a private element needs none; use `+=`)",
                    self.program.buf_name(buf).unwrap_or("?")
                ),
            );
        }
        let et = self.program.elem_type(buf);
        // `atomic_add` on `f32` buffer elements: PTX `atom.add.f32`, SPIR-V
        // `OpAtomicFAddEXT` (wgpu's `SHADER_FLOAT32_ATOMIC`, storage buffers
        // only).
        let float_add =
            op == AtomicOp::Add && et == Some(DataType::F32) && matches!(buf, BufRef::Param(_));
        if let Some(et) = et
            && !et.is_index()
            && !float_add
        {
            let what = if op == AtomicOp::Add && et == DataType::F32 {
                "`atomic_add` of `f32` works on buffer elements only, not on a shared array"
                    .to_string()
            } else if op == AtomicOp::Add {
                format!("`atomic_add` needs `u32`, `i32` or `f32` (buffer) elements, not `{et}`")
            } else {
                format!("`{}` needs `u32` or `i32` elements, not `{et}`", op.name())
            };
            self.err(path, what);
        }
        let vt = self.expr(value, path);
        let xt = expected.and_then(|x| self.expr(x, path));
        if (op == AtomicOp::CompareExchange) != expected.is_some() {
            self.err(
                path,
                "only `atomic_compare_exchange` takes an expected value",
            );
        }
        for t in [vt, xt].into_iter().flatten() {
            if Some(t) != et {
                self.err(
                    path,
                    format!(
                        "atomic operand of type `{t}` on elements of type `{}`",
                        et.map_or("?", DataType::name)
                    ),
                );
            }
        }
        et.filter(|t| t.is_index() || float_add)
    }

    /// Check `e`; its type, recorded when types are asked for.
    fn expr(&mut self, e: &Expr, path: &str) -> Option<DataType> {
        let ty = self.expr_unrecorded(e, path);
        if let (Some(types), Some(t)) = (self.types.as_mut(), ty) {
            types.insert(super::addr::addr_of(e), t);
        }
        ty
    }

    fn expr_unrecorded(&mut self, e: &Expr, path: &str) -> Option<DataType> {
        let p = self.program;
        match e {
            Expr::Local(id) => match p.locals.get(*id as usize) {
                None => {
                    self.err(path, format!("unknown local #{id}"));
                    None
                }
                Some(decl) => {
                    if !self.defined[*id as usize] {
                        let name = decl.name.clone();
                        self.err(path, format!("`{name}` is used before its `let`"));
                    }
                    Some(decl.ty)
                }
            },
            Expr::Param(id) => {
                match p.params.get(*id as usize) {
                    Some(Param::Scalar { ty, .. }) => Some(*ty),
                    Some(Param::Buffer(b)) => {
                        let name = b.name.clone();
                        self.err(path, format!("`{name}` is a buffer; index it (`{name}[i]`) or take `{name}.len()`"));
                        None
                    }
                    None => {
                        self.err(path, format!("unknown parameter #{id}"));
                        None
                    }
                }
            }
            Expr::Len(id) => {
                if p.buffer(*id).is_none() {
                    self.err(path, "`.len()` only applies to buffer parameters");
                }
                Some(DataType::U32)
            }
            Expr::Load { buf, index } => {
                self.index(*buf, index, path);
                p.elem_type(*buf)
            }
            Expr::Lit(_) | Expr::Builtin(..) => type_of(p, e),
            Expr::Unary(op, a) => {
                let t = self.expr(a, path)?;
                let r = type_of(p, &Expr::Unary(*op, Box::new(Expr::Lit(zero(t)))));
                if r.is_none() {
                    let what = match op {
                        UnOp::Neg => "negation needs `i32` or `f32`",
                        UnOp::Not => "`!` needs `bool` or an integer",
                    };
                    self.err(path, format!("{what}, not `{t}`"));
                }
                r
            }
            Expr::Binary(op, a, b) => {
                let (ta, tb) = (self.expr(a, path), self.expr(b, path));
                let (ta, tb) = (ta?, tb?);
                let r = binary_type(*op, ta, tb);
                if r.is_none() && *op == BinOp::Rem && ta == DataType::F64 && tb == ta {
                    self.err(
                        path,
                        "`f64 % f64` is not supported (no target has an exact `f64` remainder); compute it in `f32`, or as `x - (x / y).floor() * y` where rounding is acceptable",
                    );
                } else if r.is_none() {
                    self.err(
                        path,
                        format!(
                            "`{ta} {} {tb}` is not defined; operands must have the same type (add an `as` cast) and suit the operator",
                            op.symbol()
                        ),
                    );
                }
                r
            }
            Expr::Cast(ty, a) => {
                let t = self.expr(a, path)?;
                if *ty == DataType::Bool && t != DataType::Bool {
                    self.err(
                        path,
                        format!("cannot cast `{t}` to `bool`; compare instead (`x != 0`)"),
                    );
                    return None;
                }
                Some(*ty)
            }
            Expr::Math(f, args) => {
                let tys: Vec<_> = args.iter().map(|a| self.expr(a, path)).collect();
                let tys: Option<Vec<_>> = tys.into_iter().collect();
                let tys = tys?;
                let r = math_type(*f, &tys);
                if r.is_none() {
                    let allowed = match f {
                        MathFn::Abs => "`f32` or `i32`",
                        MathFn::Min | MathFn::Max | MathFn::Clamp => {
                            "a numeric type (all operands the same type)"
                        }
                        MathFn::Sqrt | MathFn::Floor | MathFn::Ceil | MathFn::MulAdd => {
                            "a float type (all operands the same type)"
                        }
                        _ => "`f32`, `f16` or `bf16` (not `f64`: no target has it)",
                    };
                    self.err(
                        path,
                        format!(
                            "`{}` takes {} operand(s) of {allowed}; got {tys:?}",
                            f.name(),
                            f.arity()
                        ),
                    );
                }
                r
            }
            Expr::Subgroup(op, args) => {
                let tys: Vec<_> = args.iter().map(|a| self.expr(a, path)).collect();
                let tys: Option<Vec<_>> = tys.into_iter().collect();
                let tys = tys?;
                let r = subgroup_type(*op, &tys);
                if r.is_none() {
                    let wants = match op {
                        SubgroupOp::InvocationId | SubgroupOp::Size => "no operands",
                        SubgroupOp::Shuffle | SubgroupOp::ShuffleXor | SubgroupOp::ShuffleDown => {
                            "a numeric value of at most 32 bits and a `u32` lane"
                        }
                        SubgroupOp::Ballot | SubgroupOp::All | SubgroupOp::Any => "one `bool`",
                        _ => "one numeric value of at most 32 bits (not `u64`, `i64`, `f64`)",
                    };
                    self.err(path, format!("`{}` takes {wants}; got {tys:?}", op.name()));
                }
                r
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                self.cond(cond, path);
                let (t, o) = (self.expr(then, path), self.expr(otherwise, path));
                let (t, o) = (t?, o?);
                if t != o {
                    self.err(
                        path,
                        format!("`if` arms have different types `{t}` and `{o}`"),
                    );
                    return None;
                }
                Some(t)
            }
        }
    }
}

/// Call `f` with every local `body` defines, and the value when the
/// definition is a `let` or an assignment (`None`: an atomic's old value, a
/// loop variable, a map's row, column or value).
fn visit_definitions(body: &[Node], f: &mut impl FnMut(LocalId, Option<&Expr>)) {
    for node in body {
        match node {
            Node::Let { local, value } | Node::Assign { local, value } => f(*local, Some(value)),
            Node::Atomic { result, .. } => {
                if let Some(local) = result.local() {
                    f(local, None);
                }
            }
            Node::If {
                then, otherwise, ..
            } => {
                visit_definitions(then, f);
                visit_definitions(otherwise, f);
            }
            Node::For { var, body, .. } => {
                f(*var, None);
                visit_definitions(body, f);
            }
            Node::While { body, .. } | Node::Loop { body } | Node::Unsafe { body } => {
                visit_definitions(body, f);
            }
            Node::Matrix(crate::ir::MatrixOp::Map {
                row, col, value, ..
            }) => {
                for id in [row, col, value] {
                    f(*id, None);
                }
            }
            _ => {}
        }
    }
}

/// The first collective subgroup operation in `e`, if any.
fn first_collective(e: &Expr) -> Option<SubgroupOp> {
    e.find_map(&mut |e| match e {
        Expr::Subgroup(op, _) if op.is_collective() => Some(*op),
        _ => None,
    })
}

/// Whether `body` has a `break` or `continue` of its own loop (one not
/// nested in an inner loop).
fn has_loop_exit(body: &[Node]) -> bool {
    body.iter().any(|n| match n {
        Node::Break | Node::Continue => true,
        Node::If {
            then, otherwise, ..
        } => has_loop_exit(then) || has_loop_exit(otherwise),
        Node::Unsafe { body } => has_loop_exit(body),
        _ => false,
    })
}

fn zero(t: DataType) -> super::Literal {
    super::Literal::zero(t)
}
