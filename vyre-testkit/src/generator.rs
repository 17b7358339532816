//! The random program generator.
//!
//! [`generate`] turns a seed into a [`Case`]: a program that passes
//! [`Program::validate`], its inputs and a grid. Programs are built so that
//! their results do not depend on how invocations are scheduled, which is
//! what lets any two targets be compared:
//!
//! - every invocation computes its flat id `gid` (and `lid` within its
//!   workgroup) first, and writes the `out_*` buffers only at its own slots
//!   `out[gid * K + j]`, or at indices that are out of range for sure (so the
//!   write is dropped): `len + (e & 0xFFFF)`, `e | 0x8000_0000`, a negative
//!   `i32`. Own slots may be read back (they are only written by their
//!   owner); other indices of `out_*` are never read;
//! - read-only inputs are read at any index at all: data-derived, negative,
//!   huge, just past the end;
//! - the contended atomics (`acc`, the shared `sh_acc`) use one
//!   commutative operation per array (add, sub, min, max, and, or or xor:
//!   two different ones do not commute) and their old values are dropped; every operation, exchange and compare-exchange
//!   included, is used on own slots, where the old value is deterministic;
//! - shared memory runs in epochs separated by barriers at the top level (or
//!   in a `for` loop with constant bounds, whose body is itself
//!   write-epoch, barrier, read-epoch, barrier): in a write epoch an
//!   invocation touches only its own slots `sh[lid * Ks + j]`; in a read
//!   epoch anyone reads anything, nobody writes. Every slot is written
//!   before the first barrier, so nothing reads uninitialised memory;
//! - `return` appears only after the last barrier; `break`/`continue` never
//!   leave a loop holding a barrier;
//! - every loop terminates: `for` ranges span at most [`GenConfig::max_trip`]
//!   values (`s..s + (e & 3)` wraps to an empty range rather than a long one),
//!   `while`/`loop` carry a counter incremented first thing in the body;
//! - floats: see [`crate::compare`]: only exactly computed floats reach
//!   comparisons, casts and indices; each inexact operation is applied once,
//!   to clamped exact operands, and stored into an odd slot of `out_f32`
//!   whose tolerance is recorded in [`Case::checks`].

use vyre::ir::{
    Access, AtomicCall, AtomicOp, AtomicResult, Axis, BinOp, BufRef, BufferDecl, Builtin, DataType,
    Expr, Literal, LocalDecl, LocalId, MathFn, Node, Param, ParamId, Program, SharedDecl, SharedId,
    UnOp,
};

use crate::compare::{ApproxOp, Tolerance, op_tolerance};
use crate::source::{ReplaySource, RngSource, Source};

/// Knobs of the generator. [`GenConfig::default`] is what the differential
/// test uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Statements per block, at most.
    pub max_stmts: u32,
    /// Statements per program, at most (all blocks together).
    pub max_total_stmts: u32,
    /// Control-flow nesting depth, at most.
    pub max_depth: u32,
    /// Expression depth, at most.
    pub max_expr_depth: u32,
    /// Iterations of one loop, at most.
    pub max_trip: u32,
    /// Invocations per workgroup, at most (≤ 1024).
    pub max_workgroup_invocations: u32,
    /// Workgroups per dispatch, at most.
    pub max_workgroups: u32,
    /// Elements of an input buffer, at most.
    pub max_input_len: u32,
    /// Output slots per invocation and type (`K`), at most.
    pub max_slots: u32,
    /// Barrier-separated segments between the prologue and the final one.
    pub max_segments: u32,
    /// Use workgroup shared memory and barriers.
    pub shared: bool,
    /// Use atomics.
    pub atomics: bool,
    /// Use `f32` at all.
    pub floats: bool,
    /// Use the inexact float operations (division, transcendental math,
    /// `mul_add`, float `%`), compared within [`crate::compare::op_tolerance`].
    pub approx_math: bool,
    /// Use out-of-range and data-derived indices.
    pub wild_indices: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            max_stmts: 5,
            max_total_stmts: 40,
            max_depth: 3,
            max_expr_depth: 3,
            max_trip: 3,
            max_workgroup_invocations: 64,
            max_workgroups: 8,
            max_input_len: 48,
            max_slots: 4,
            max_segments: 2,
            shared: true,
            atomics: true,
            floats: true,
            approx_math: true,
            wild_indices: true,
        }
    }
}

/// The value passed for one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A buffer's initial contents, as raw bits of `elem`.
    Buffer {
        /// Element type.
        elem: DataType,
        /// Raw bits, one `u32` per element.
        data: Vec<u32>,
    },
    /// A scalar argument.
    Scalar(Literal),
}

/// How a buffer's final contents are compared: element `i` uses
/// `slots[i % slots.len()]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Tolerance per slot; the pattern repeats over the buffer.
    pub slots: Vec<Tolerance>,
}

impl Check {
    /// The tolerance of element `i`.
    #[must_use]
    pub fn tolerance(&self, i: usize) -> Tolerance {
        self.slots
            .get(i % self.slots.len().max(1))
            .copied()
            .unwrap_or(Tolerance::Bits)
    }
}

/// A generated test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The kernel; passes [`Program::validate`].
    pub program: Program,
    /// One value per parameter, in order.
    pub inputs: Vec<Value>,
    /// Workgroups to launch, `[x, y, z]`.
    pub grid: [u32; 3],
    /// Per parameter: how its final contents are compared (`None` for
    /// scalars).
    pub checks: Vec<Option<Check>>,
    /// The raw draws that produced this case ([`Case::from_draws`] replays
    /// them; shrinking edits them).
    pub draws: Vec<u32>,
}

impl Case {
    /// Rebuild a case from raw draws (missing draws count as 0, the simplest
    /// choice), for replay and shrinking.
    #[must_use]
    pub fn from_draws(draws: &[u32], cfg: &GenConfig) -> Self {
        let mut src = ReplaySource::new(draws);
        let mut case = build(&mut src, cfg);
        let used = src.consumed().min(draws.len());
        case.draws = draws[..used].to_vec();
        case
    }

    /// Total invocations launched.
    #[must_use]
    pub fn invocations(&self) -> u64 {
        self.program.invocations_per_workgroup()
            * self.grid.iter().map(|&g| u64::from(g)).product::<u64>()
    }
}

/// Generate the case of `seed`.
#[must_use]
pub fn generate(seed: u64, cfg: &GenConfig) -> Case {
    let mut src = RngSource::new(seed);
    let mut case = build(&mut src, cfg);
    case.draws = src.log;
    case
}

/// A `proptest` strategy over cases: a list of raw draws mapped through
/// [`Case::from_draws`], so proptest's shrinking of the list (shorter,
/// smaller values) shrinks the program towards the simplest one.
pub fn case_strategy(cfg: GenConfig) -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    proptest::collection::vec(any::<u32>(), 0..4096)
        .prop_map(move |draws| Case::from_draws(&draws, &cfg))
}

fn build<S: Source>(src: &mut S, cfg: &GenConfig) -> Case {
    let mut g = Gen::new(src, cfg);
    g.program();
    let Gen {
        p,
        values,
        checks,
        grid,
        f_tol,
        out_f32,
        ..
    } = g;
    let mut checks = checks;
    if let Some(id) = out_f32 {
        checks[id as usize] = Some(Check { slots: f_tol });
    }
    Case {
        program: p,
        inputs: values,
        grid,
        checks,
        draws: Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Epoch {
    /// Prologue: shared memory not initialised yet; no shared loads.
    Init,
    /// Own shared slots only; contended shared atomics allowed.
    Write,
    /// Shared loads anywhere; no shared writes.
    Read,
    /// After the last barrier: like `Read`, and `return` is allowed, no
    /// contended shared atomics (they were flushed).
    Final,
}

#[derive(Debug, Clone, Copy)]
struct Var {
    id: LocalId,
    ty: DataType,
    /// May be assigned by random statements.
    assignable: bool,
    /// An `f32` that never held a `min`/`max` result, so its zero sign is
    /// exact (needed for divisors).
    clean: bool,
}

/// Atomic operations whose final value does not depend on the order in
/// which invocations apply them (as long as one element sees only one of
/// them).
const COMMUTATIVE: [AtomicOp; 7] = [
    AtomicOp::Add,
    AtomicOp::Sub,
    AtomicOp::Min,
    AtomicOp::Max,
    AtomicOp::And,
    AtomicOp::Or,
    AtomicOp::Xor,
];

const INT_EDGES: [u32; 16] = [
    0,
    1,
    2,
    3,
    31,
    32,
    33,
    0xFFFF_FFFF,
    0xFFFF_FFFE,
    0x8000_0000,
    0x7FFF_FFFF,
    0xFFFF,
    0x1_0000,
    7,
    16,
    255,
];

/// Floats that keep exact arithmetic away from subnormals (smallest
/// non-zero magnitude 0.25) and cover the cast and IEEE edge cases.
const FLOAT_EDGES: [f32; 24] = [
    0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    -0.0,
    3.0,
    -2.5,
    0.25,
    10.0,
    100.0,
    -7.0,
    1.0e10,
    -1.0e10,
    3.0e38,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    16_777_216.0,
    2_147_483_648.0,
    2_147_483_520.0,
    -2_147_483_904.0,
    4_294_967_296.0,
    1.5,
];

struct Gen<'s, S: Source> {
    src: &'s mut S,
    cfg: &'s GenConfig,
    p: Program,
    values: Vec<Value>,
    checks: Vec<Option<Check>>,
    grid: [u32; 3],
    ins: Vec<(ParamId, DataType)>,
    scalars: Vec<(ParamId, DataType)>,
    outs: Vec<(ParamId, DataType)>,
    out_f32: Option<ParamId>,
    acc: Option<(ParamId, DataType)>,
    sh: Option<(SharedId, DataType)>,
    sh_acc: Option<(SharedId, DataType)>,
    /// The one operation used on `acc` / `sh_acc`: two different
    /// operations on one element do not commute (`(x + a) & b`).
    acc_op: AtomicOp,
    sh_acc_op: AtomicOp,
    slots: u32,
    sh_slots: u32,
    invocations: u32,
    lid: LocalId,
    gid: LocalId,
    scopes: Vec<Vec<Var>>,
    /// Innermost last: whether `break`/`continue` may target the loop.
    loops: Vec<bool>,
    epoch: Epoch,
    budget: u32,
    f_tol: Vec<Tolerance>,
    names: u32,
}

impl<'s, S: Source> Gen<'s, S> {
    fn new(src: &'s mut S, cfg: &'s GenConfig) -> Self {
        Self {
            src,
            cfg,
            p: Program::new("generated", [1, 1, 1]),
            values: Vec::new(),
            checks: Vec::new(),
            grid: [1, 1, 1],
            ins: Vec::new(),
            scalars: Vec::new(),
            outs: Vec::new(),
            out_f32: None,
            acc: None,
            sh: None,
            sh_acc: None,
            acc_op: AtomicOp::Add,
            sh_acc_op: AtomicOp::Add,
            slots: 1,
            sh_slots: 1,
            invocations: 1,
            lid: 0,
            gid: 0,
            scopes: vec![Vec::new()],
            loops: Vec::new(),
            epoch: Epoch::Init,
            budget: cfg.max_total_stmts,
            f_tol: Vec::new(),
            names: 0,
        }
    }

    // ---- small helpers -------------------------------------------------

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.src.below(items.len() as u32) as usize]
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names - 1)
    }

    fn declare(&mut self, prefix: &str, ty: DataType, mutable: bool) -> LocalId {
        let name = self.fresh(prefix);
        self.p.locals.push(LocalDecl { name, ty, mutable });
        (self.p.locals.len() - 1) as LocalId
    }

    fn bind(&mut self, var: Var) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(var);
        }
    }

    fn vars(&self, ty: DataType) -> Vec<Var> {
        self.scopes
            .iter()
            .flatten()
            .filter(|v| v.ty == ty)
            .copied()
            .collect()
    }

    fn add_param(&mut self, param: Param, value: Value, check: Option<Check>) -> ParamId {
        self.p.params.push(param);
        self.values.push(value);
        self.checks.push(check);
        (self.p.params.len() - 1) as ParamId
    }

    fn int_ty(&mut self) -> DataType {
        self.pick(&[DataType::U32, DataType::I32])
    }

    fn elem_ty(&mut self) -> DataType {
        if self.cfg.floats {
            self.pick(&[DataType::U32, DataType::I32, DataType::F32])
        } else {
            self.int_ty()
        }
    }

    fn any_ty(&mut self) -> DataType {
        if self.cfg.floats {
            self.pick(&[DataType::U32, DataType::I32, DataType::Bool, DataType::F32])
        } else {
            self.pick(&[DataType::U32, DataType::I32, DataType::Bool])
        }
    }

    fn raw_int(&mut self) -> u32 {
        match self.src.below(3) {
            0 => self.src.below(8),
            1 => self.pick(&INT_EDGES),
            _ => self.src.raw(),
        }
    }

    fn raw_float(&mut self) -> u32 {
        match self.src.below(3) {
            0 => self.pick(&FLOAT_EDGES).to_bits(),
            1 => (self.src.below(129) as f32 - 64.0).to_bits(),
            _ => ((self.src.below(257) as f32 - 128.0) * 0.25).to_bits(),
        }
    }

    fn raw_value(&mut self, ty: DataType) -> u32 {
        match ty {
            DataType::F32 => self.raw_float(),
            DataType::Bool => self.src.below(2),
            _ => self.raw_int(),
        }
    }

    fn lit(&mut self, ty: DataType) -> Expr {
        let bits = self.raw_value(ty);
        Expr::Lit(match ty {
            DataType::Bool => Literal::Bool(bits != 0),
            DataType::I32 => Literal::I32(bits.cast_signed()),
            DataType::U32 => Literal::U32(bits),
            DataType::F32 => Literal::F32(bits),
        })
    }

    // ---- program -------------------------------------------------------

    fn program(&mut self) {
        let cfg = self.cfg;
        // Workgroup shape, including non-powers of two and 2-D/3-D shapes.
        let max_inv = cfg.max_workgroup_invocations.clamp(1, 1024);
        let wx = self
            .pick(&[1u32, 2, 4, 8, 16, 32, 64, 3, 5, 7, 12])
            .min(max_inv);
        let wy = self.pick(&[1u32, 1, 2, 3]).min(max_inv / wx).max(1);
        let wz = self.pick(&[1u32, 1, 2]).min(max_inv / (wx * wy)).max(1);
        self.p.workgroup_size = [wx, wy, wz];
        self.invocations = wx * wy * wz;
        let max_wg = cfg.max_workgroups.max(1);
        let gx = 1 + self.src.below(max_wg.min(4));
        let gy = 1 + self.src.below((max_wg / gx).clamp(1, 2));
        let gz = 1 + self.src.below((max_wg / (gx * gy)).clamp(1, 2));
        self.grid = [gx, gy, gz];
        let total = self.invocations * gx * gy * gz;
        self.slots = 1 + self.src.below(cfg.max_slots.max(1));

        // Read-only inputs.
        for _ in 0..self.src.below(4) {
            let elem = self.elem_ty();
            let len = 1 + self.src.below(cfg.max_input_len.max(1));
            let data = (0..len).map(|_| self.input_word(elem, len)).collect();
            let name = format!("in{}", self.ins.len());
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name,
                    elem,
                    access: Access::Read,
                }),
                Value::Buffer { elem, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            self.ins.push((id, elem));
        }
        // Scalars.
        for i in 0..self.src.below(4) {
            let ty = self.any_ty();
            let Expr::Lit(l) = self.lit(ty) else {
                unreachable!("lit() returns a literal")
            };
            let id = self.add_param(
                Param::Scalar {
                    name: format!("arg{i}"),
                    ty,
                },
                Value::Scalar(l),
                None,
            );
            self.scalars.push((id, ty));
        }
        // Own-slot outputs: `out_u32` always, the others sometimes.
        let out_len = total * self.slots;
        for (ty, always) in [
            (DataType::U32, true),
            (DataType::I32, false),
            (DataType::F32, false),
        ] {
            if !always && (!self.src.chance(1, 2) || (ty == DataType::F32 && !cfg.floats)) {
                continue;
            }
            let data = (0..out_len).map(|_| self.raw_value(ty)).collect();
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name: format!("out_{ty}"),
                    elem: ty,
                    access: Access::ReadWrite,
                }),
                Value::Buffer { elem: ty, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            if ty == DataType::F32 {
                self.out_f32 = Some(id);
                self.f_tol = vec![Tolerance::FloatExact; self.slots as usize];
            }
            self.outs.push((id, ty));
        }
        // Contended atomic accumulator.
        if cfg.atomics && self.src.chance(1, 2) {
            let elem = self.int_ty();
            let len = 1 + self.src.below(8);
            let data = (0..len).map(|_| self.raw_int()).collect();
            let id = self.add_param(
                Param::Buffer(BufferDecl {
                    name: "acc".to_string(),
                    elem,
                    access: Access::ReadWrite,
                }),
                Value::Buffer { elem, data },
                Some(Check {
                    slots: vec![Tolerance::Bits],
                }),
            );
            self.acc = Some((id, elem));
            self.acc_op = self.pick(&COMMUTATIVE);
        }
        // Shared memory.
        if cfg.shared && self.src.chance(1, 2) {
            let elem = self.elem_ty();
            self.sh_slots = 1 + self.src.below(3);
            self.p.shared.push(SharedDecl {
                name: "sh".to_string(),
                elem,
                len: self.invocations * self.sh_slots,
            });
            self.sh = Some(((self.p.shared.len() - 1) as SharedId, elem));
        }
        if cfg.shared && cfg.atomics && self.src.chance(1, 3) {
            let elem = self.int_ty();
            let len = (1 + self.src.below(4)).min(self.invocations);
            self.p.shared.push(SharedDecl {
                name: "sh_acc".to_string(),
                elem,
                len,
            });
            self.sh_acc = Some(((self.p.shared.len() - 1) as SharedId, elem));
            self.sh_acc_op = self.pick(&COMMUTATIVE);
        }

        let mut body = self.prologue();
        for _ in 0..self.src.below(cfg.max_segments + 1) {
            self.segment(&mut body);
        }
        self.epoch = Epoch::Final;
        if let Some((sid, elem)) = self.sh_acc {
            // Flush: every contended shared atomic happened before the last
            // barrier; read the totals into an own slot.
            let len = self.p.shared[sid as usize].len;
            let lid = Expr::Local(self.lid);
            let v = Expr::Load {
                buf: BufRef::Shared(sid),
                index: Box::new(lid.rem(Expr::u32(len))),
            };
            let out = self.outs[0].0;
            body.push(Node::Store {
                buf: BufRef::Param(out),
                index: self.own_slot(0),
                value: if elem == DataType::U32 {
                    v
                } else {
                    v.cast(DataType::U32)
                },
            });
        }
        let fin = self.block(0);
        body.extend(fin);
        self.p.body = body;
    }

    fn input_word(&mut self, elem: DataType, len: u32) -> u32 {
        match (elem, self.src.below(3)) {
            // Small values make good data-derived indices.
            (DataType::U32 | DataType::I32, 0) => self.src.below(len + 3),
            (DataType::I32, 1) => (self.src.below(9) as i32 - 4).cast_unsigned(),
            _ => self.raw_value(elem),
        }
    }

    fn prologue(&mut self) -> Vec<Node> {
        let [wx, wy, _] = self.p.workgroup_size;
        let b = |bi, ax| Expr::Builtin(bi, ax);
        let lid_e = b(Builtin::LocalId, Axis::X)
            .add(b(Builtin::LocalId, Axis::Y).mul(Expr::u32(wx)))
            .add(b(Builtin::LocalId, Axis::Z).mul(Expr::u32(wx * wy)));
        let wg = b(Builtin::WorkgroupId, Axis::X)
            .add(b(Builtin::WorkgroupId, Axis::Y).mul(b(Builtin::NumWorkgroups, Axis::X)))
            .add(
                b(Builtin::WorkgroupId, Axis::Z)
                    .mul(b(Builtin::NumWorkgroups, Axis::X))
                    .mul(b(Builtin::NumWorkgroups, Axis::Y)),
            );
        self.lid = self.declare("lid", DataType::U32, false);
        self.gid = self.declare("gid", DataType::U32, false);
        let gid_e = wg
            .mul(Expr::u32(self.invocations))
            .add(Expr::Local(self.lid));
        let mut body = vec![
            Node::Let {
                local: self.lid,
                value: lid_e,
            },
            Node::Let {
                local: self.gid,
                value: gid_e,
            },
        ];
        for (id, ty) in [(self.lid, DataType::U32), (self.gid, DataType::U32)] {
            self.bind(Var {
                id,
                ty,
                assignable: false,
                clean: true,
            });
        }
        self.epoch = Epoch::Init;
        let mut any_shared = false;
        if let Some((sid, elem)) = self.sh {
            any_shared = true;
            for j in 0..self.sh_slots {
                let value = self.expr(elem, self.cfg.max_expr_depth, false);
                body.push(Node::Store {
                    buf: BufRef::Shared(sid),
                    index: Expr::Local(self.lid)
                        .mul(Expr::u32(self.sh_slots))
                        .add(Expr::u32(j)),
                    value,
                });
            }
        }
        if let Some((sid, elem)) = self.sh_acc {
            any_shared = true;
            let len = self.p.shared[sid as usize].len;
            let value = self.expr(elem, 1, false);
            body.push(Node::If {
                cond: Expr::Local(self.lid).lt(Expr::u32(len)),
                then: vec![Node::Store {
                    buf: BufRef::Shared(sid),
                    index: Expr::Local(self.lid),
                    value,
                }],
                otherwise: Vec::new(),
            });
        }
        if any_shared {
            body.push(Node::Barrier);
        }
        body
    }

    /// A barrier-terminated segment: a plain block in a write or read
    /// epoch, or a uniform `for` loop of write epoch, barrier, read epoch,
    /// barrier.
    fn segment(&mut self, body: &mut Vec<Node>) {
        if self.src.chance(1, 2) {
            let ty = self.int_ty();
            let trip = 1 + self.src.below(self.cfg.max_trip.max(1));
            let var = self.declare("k", ty, false);
            let (start, end) = match ty {
                DataType::I32 => (Expr::i32(-1), Expr::i32(trip as i32 - 1)),
                _ => (Expr::u32(0), Expr::u32(trip)),
            };
            self.scopes.push(vec![Var {
                id: var,
                ty,
                assignable: false,
                clean: true,
            }]);
            self.loops.push(false);
            self.epoch = Epoch::Write;
            let mut lb = self.block(1);
            lb.push(Node::Barrier);
            self.epoch = Epoch::Read;
            lb.extend(self.block(1));
            lb.push(Node::Barrier);
            self.loops.pop();
            self.scopes.pop();
            body.push(Node::For {
                var,
                start,
                end,
                body: lb,
            });
        } else {
            self.epoch = if self.src.chance(1, 2) {
                Epoch::Read
            } else {
                Epoch::Write
            };
            body.extend(self.block(0));
            body.push(Node::Barrier);
        }
    }

    // ---- statements ----------------------------------------------------

    fn block(&mut self, depth: u32) -> Vec<Node> {
        self.scopes.push(Vec::new());
        let n = self.src.below(self.cfg.max_stmts + 1);
        let mut out = Vec::new();
        for _ in 0..n {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            self.stmt(depth, &mut out);
        }
        self.scopes.pop();
        out
    }

    fn stmt(&mut self, depth: u32, out: &mut Vec<Node>) {
        #[derive(Clone, Copy)]
        enum K {
            Let,
            Store,
            Assign,
            If,
            For,
            While,
            Loop,
            Jump,
            AtomicOwn,
            AtomicShared,
            SharedStore,
            Return,
            Approx,
        }
        let mut kinds = vec![K::Let, K::Store, K::Store];
        let assignable = self.scopes.iter().flatten().any(|v| v.assignable);
        if assignable {
            kinds.push(K::Assign);
        }
        if depth < self.cfg.max_depth {
            kinds.extend([K::If, K::If, K::For, K::While, K::Loop]);
        }
        if self.loops.last() == Some(&true) {
            kinds.push(K::Jump);
        }
        let int_outs = self.outs.iter().any(|o| o.1.is_integer());
        let sh_int = self.sh.is_some_and(|s| s.1.is_integer());
        if self.cfg.atomics && (int_outs || (sh_int && self.epoch == Epoch::Write)) {
            kinds.extend([K::AtomicOwn, K::AtomicOwn]);
        }
        let contended_shared =
            self.sh_acc.is_some() && matches!(self.epoch, Epoch::Write | Epoch::Read);
        if self.cfg.atomics && (self.acc.is_some() || contended_shared) {
            kinds.push(K::AtomicShared);
        }
        if self.sh.is_some() && self.epoch == Epoch::Write {
            kinds.extend([K::SharedStore, K::SharedStore]);
        }
        if self.epoch == Epoch::Final {
            kinds.push(K::Return);
        }
        if self.cfg.approx_math && self.out_f32.is_some() && self.slots >= 2 {
            kinds.extend([K::Approx, K::Approx]);
        }
        let d = self.cfg.max_expr_depth;
        match self.pick(&kinds) {
            K::Let => {
                let ty = self.any_ty();
                let clean = ty == DataType::F32 && self.src.chance(1, 2);
                let value = self.expr(ty, d, clean);
                let mutable = self.src.chance(1, 2);
                let id = self.declare("v", ty, mutable);
                out.push(Node::Let { local: id, value });
                self.bind(Var {
                    id,
                    ty,
                    assignable: mutable,
                    clean,
                });
            }
            K::Assign => {
                let vars: Vec<Var> = self
                    .scopes
                    .iter()
                    .flatten()
                    .filter(|v| v.assignable)
                    .copied()
                    .collect();
                let v = self.pick(&vars);
                let value = self.expr(v.ty, d, v.clean);
                out.push(Node::Assign { local: v.id, value });
            }
            K::Store => {
                let (buf, ty) = self.pick(&self.outs.clone());
                let index = self.out_index(buf);
                let value = self.expr(ty, d, false);
                out.push(Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                });
            }
            K::SharedStore => {
                let Some((sid, elem)) = self.sh else {
                    return;
                };
                let index = self.sh_index(sid);
                let value = self.expr(elem, d, false);
                out.push(Node::Store {
                    buf: BufRef::Shared(sid),
                    index,
                    value,
                });
            }
            K::Approx => {
                let Some(buf) = self.out_f32 else { return };
                // Odd slots are the inexact ones (never read back).
                let j = 1 + 2 * self.src.below(self.slots / 2);
                let (value, op) = self.approx();
                let t = &mut self.f_tol[j as usize];
                *t = t.join(op_tolerance(op));
                let index = self.own_slot(j);
                out.push(Node::Store {
                    buf: BufRef::Param(buf),
                    index,
                    value,
                });
            }
            K::If => {
                let cond = self.expr(DataType::Bool, d, false);
                let then = self.block(depth + 1);
                let otherwise = if self.src.chance(1, 2) {
                    self.block(depth + 1)
                } else {
                    Vec::new()
                };
                out.push(Node::If {
                    cond,
                    then,
                    otherwise,
                });
            }
            K::For => self.for_loop(depth, out),
            K::While | K::Loop => {
                let kind_while = matches!(self.pick(&[0, 1]), 0);
                let counter = self.declare("c", DataType::U32, true);
                out.push(Node::Let {
                    local: counter,
                    value: Expr::u32(0),
                });
                let trip = Expr::u32(1 + self.src.below(self.cfg.max_trip.max(1)));
                let bump = Node::Assign {
                    local: counter,
                    value: Expr::Local(counter).add(Expr::u32(1)),
                };
                self.scopes.push(vec![Var {
                    id: counter,
                    ty: DataType::U32,
                    assignable: false,
                    clean: true,
                }]);
                self.loops.push(true);
                if kind_while {
                    let extra = self.expr(DataType::Bool, 2, false);
                    let mut body = vec![bump];
                    body.extend(self.block(depth + 1));
                    out.push(Node::While {
                        cond: Expr::Local(counter).lt(trip).and(extra),
                        body,
                    });
                } else {
                    let mut body = vec![
                        Node::If {
                            cond: Expr::Local(counter).ge(trip),
                            then: vec![Node::Break],
                            otherwise: Vec::new(),
                        },
                        bump,
                    ];
                    body.extend(self.block(depth + 1));
                    out.push(Node::Loop { body });
                }
                self.loops.pop();
                self.scopes.pop();
            }
            K::Jump => out.push(if self.src.chance(1, 2) {
                Node::Continue
            } else {
                Node::Break
            }),
            K::Return => out.push(Node::Return),
            K::AtomicOwn => self.atomic_own(out),
            K::AtomicShared => self.atomic_contended(out),
        }
    }

    fn for_loop(&mut self, depth: u32, out: &mut Vec<Node>) {
        let ty = self.int_ty();
        let trip = self.src.below(self.cfg.max_trip + 1);
        let (start, end) = if self.src.chance(1, 2) {
            // Data-dependent start; the span `e & 3` is at most 3, and a
            // wrapping end gives an empty range.
            let s = self.declare("s", ty, false);
            let value = self.expr(ty, 2, false);
            out.push(Node::Let { local: s, value });
            let span = self.expr(ty, 1, false).bitand(lit_of(ty, 3));
            let span = span.bitand(lit_of(ty, self.cfg.max_trip.min(3)));
            (Expr::Local(s), Expr::Local(s).add(span))
        } else {
            let bits = self.pick(&[0u32, 0, 5, 0x7FFF_FFFD, 0xFFFF_FFFD, 0x8000_0000]);
            let start = lit_of(ty, bits);
            let end = lit_of(ty, bits.wrapping_add(trip));
            (start, end)
        };
        let var = self.declare("i", ty, false);
        self.scopes.push(vec![Var {
            id: var,
            ty,
            assignable: false,
            clean: true,
        }]);
        self.loops.push(true);
        let body = self.block(depth + 1);
        self.loops.pop();
        self.scopes.pop();
        out.push(Node::For {
            var,
            start,
            end,
            body,
        });
    }

    /// Every atomic operation on an own slot (deterministic old value).
    fn atomic_own(&mut self, out: &mut Vec<Node>) {
        let mut targets: Vec<(BufRef, DataType)> = self
            .outs
            .iter()
            .filter(|o| o.1.is_integer())
            .map(|&(id, t)| (BufRef::Param(id), t))
            .collect();
        if let Some((sid, t)) = self.sh
            && t.is_integer()
            && self.epoch == Epoch::Write
        {
            targets.push((BufRef::Shared(sid), t));
        }
        if targets.is_empty() {
            return;
        }
        let (buf, elem) = self.pick(&targets);
        let op = self.pick(&AtomicOp::ALL);
        let index = match buf {
            BufRef::Param(id) => self.out_index(id),
            BufRef::Shared(sid) => self.sh_index(sid),
        };
        let d = self.cfg.max_expr_depth.min(2);
        let expected = (op == AtomicOp::CompareExchange).then(|| self.expr(elem, d, false));
        let value = self.expr(elem, d, false);
        let atomic = AtomicCall {
            op,
            buf,
            index,
            expected,
            value,
        };
        self.bind_atomic(atomic, elem, true, out);
    }

    /// Commutative atomics on contended elements; old values are dropped.
    fn atomic_contended(&mut self, out: &mut Vec<Node>) {
        let mut targets: Vec<(BufRef, DataType, AtomicOp)> = Vec::new();
        if let Some((id, t)) = self.acc {
            targets.push((BufRef::Param(id), t, self.acc_op));
        }
        if let Some((sid, t)) = self.sh_acc
            && matches!(self.epoch, Epoch::Write | Epoch::Read)
        {
            targets.push((BufRef::Shared(sid), t, self.sh_acc_op));
        }
        if targets.is_empty() {
            return;
        }
        let (buf, elem, op) = self.pick(&targets);
        let index = self.wild_index(2);
        let value = self.expr(elem, 2, false);
        let atomic = AtomicCall {
            op,
            buf,
            index,
            expected: None,
            value,
        };
        self.bind_atomic(atomic, elem, false, out);
    }

    /// Use an atomic as a statement, a `let` or an assignment; its old
    /// value is only made readable when `readable`.
    fn bind_atomic(
        &mut self,
        atomic: AtomicCall,
        elem: DataType,
        readable: bool,
        out: &mut Vec<Node>,
    ) {
        match self.src.below(3) {
            0 => out.push(atomic.into_node(AtomicResult::Discard)),
            1 => {
                let id = self.declare("old", elem, false);
                out.push(atomic.into_node(AtomicResult::Let(id)));
                if readable {
                    self.bind(Var {
                        id,
                        ty: elem,
                        assignable: false,
                        clean: true,
                    });
                }
            }
            _ => {
                let vars: Vec<Var> = self
                    .vars(elem)
                    .into_iter()
                    .filter(|v| v.assignable)
                    .collect();
                if readable && !vars.is_empty() {
                    let v = self.pick(&vars);
                    out.push(atomic.into_node(AtomicResult::Assign(v.id)));
                } else {
                    out.push(atomic.into_node(AtomicResult::Discard));
                }
            }
        }
    }

    // ---- indices -------------------------------------------------------

    fn own_slot(&self, j: u32) -> Expr {
        Expr::Local(self.gid)
            .mul(Expr::u32(self.slots))
            .add(Expr::u32(j))
    }

    /// An own slot of an `out_*` buffer, or an index surely out of range.
    fn out_index(&mut self, buf: ParamId) -> Expr {
        let j = self.src.below(self.slots);
        let own = self.own_slot(j);
        self.own_or_oob(own, Expr::Len(buf))
    }

    fn sh_index(&mut self, sid: SharedId) -> Expr {
        let j = self.src.below(self.sh_slots);
        let own = Expr::Local(self.lid)
            .mul(Expr::u32(self.sh_slots))
            .add(Expr::u32(j));
        let len = self.p.shared[sid as usize].len;
        self.own_or_oob(own, Expr::u32(len))
    }

    fn own_or_oob(&mut self, own: Expr, len: Expr) -> Expr {
        if !self.cfg.wild_indices {
            return own;
        }
        match self.src.below(10) {
            0..=5 => own,
            6 => own.cast(DataType::I32),
            7 => len.add(self.expr(DataType::U32, 1, false).bitand(Expr::u32(0xFFFF))),
            8 => self
                .expr(DataType::U32, 1, false)
                .bitor(Expr::u32(0x8000_0000)),
            _ => self
                .expr(DataType::I32, 1, false)
                .bitor(Expr::i32(i32::MIN)),
        }
    }

    /// Any index at all, for loads from inputs and shared reads.
    fn wild_index(&mut self, depth: u32) -> Expr {
        if !self.cfg.wild_indices {
            return Expr::Local(self.gid);
        }
        match self.src.below(6) {
            0 => Expr::Local(self.gid),
            1 => match self.src.below(7) {
                0 => Expr::i32(-1),
                1 => Expr::i32(i32::MIN),
                2 => Expr::u32(u32::MAX),
                3 => Expr::u32(0x8000_0000),
                4 => Expr::u32(0x7FFF_FFFF),
                5 => Expr::u32(self.cfg.max_input_len),
                _ => Expr::u32(self.cfg.max_input_len + 1),
            },
            2 if !self.ins.is_empty() => {
                let (id, elem) = self.pick(&self.ins.clone());
                let inner = self.expr(DataType::U32, depth.saturating_sub(1), false);
                let l = Expr::Load {
                    buf: BufRef::Param(id),
                    index: Box::new(inner),
                };
                if elem.is_integer() {
                    l
                } else {
                    l.cast(DataType::U32)
                }
            }
            3 => Expr::Local(self.lid).add(self.lit(DataType::U32)),
            _ => {
                let ty = self.int_ty();
                self.expr(ty, depth, false)
            }
        }
    }

    // ---- expressions ---------------------------------------------------

    fn expr(&mut self, ty: DataType, depth: u32, clean: bool) -> Expr {
        match ty {
            DataType::Bool => self.bool_expr(depth),
            DataType::F32 => self.float_expr(depth, clean),
            _ => self.int_expr(ty, depth),
        }
    }

    fn leaf(&mut self, ty: DataType, clean: bool) -> Expr {
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
        match self.src.below(4) {
            1 if !vars.is_empty() => Expr::Local(self.pick(&vars).id),
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
    fn load(&mut self, ty: DataType, depth: u32, clean: bool) -> Option<Expr> {
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
                if elem == DataType::F32 {
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
        Some(if elem == ty { e } else { e.cast(ty) })
    }

    fn int_expr(&mut self, ty: DataType, depth: u32) -> Expr {
        if depth == 0 {
            return self.leaf(ty, false);
        }
        let d = depth - 1;
        match self.src.below(9) {
            0 => self.leaf(ty, false),
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
                    self.int_ty()
                } else {
                    ty
                };
                let b = self.int_expr(rty, d);
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            3 => {
                let op = if ty == DataType::I32 && self.src.chance(1, 2) {
                    UnOp::Neg
                } else {
                    UnOp::Not
                };
                Expr::Unary(op, Box::new(self.int_expr(ty, d)))
            }
            4 => {
                let from = self.any_ty();
                self.expr(from, d, false).cast(ty)
            }
            5 => {
                let f = if ty == DataType::I32 {
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

    fn bool_expr(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return self.leaf(DataType::Bool, false);
        }
        let d = depth - 1;
        match self.src.below(7) {
            0 => self.leaf(DataType::Bool, false),
            1 | 2 => {
                let ty = if self.cfg.floats {
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
    fn float_expr(&mut self, depth: u32, clean: bool) -> Expr {
        if depth == 0 {
            return self.leaf(DataType::F32, clean);
        }
        let d = depth - 1;
        match self.src.below(9) {
            0 => self.leaf(DataType::F32, clean),
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
                let from = self.pick(&[DataType::U32, DataType::I32, DataType::Bool]);
                self.expr(from, d, false).cast(DataType::F32)
            }
            _ => self
                .load(DataType::F32, d, clean)
                .unwrap_or_else(|| self.leaf(DataType::F32, clean)),
        }
    }

    fn clamped(&mut self, lo: f32, hi: f32) -> Expr {
        let e = self.float_expr(self.cfg.max_expr_depth.min(2), false);
        Expr::Math(MathFn::Clamp, vec![e, Expr::f32(lo), Expr::f32(hi)])
    }

    /// One inexact operation on clamped, exactly computed operands.
    fn approx(&mut self) -> (Expr, ApproxOp) {
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
        ]);
        let d = self.cfg.max_expr_depth.min(2);
        let e = match op {
            ApproxOp::Div => {
                let a = self.float_expr(d, false);
                let b = self.float_expr(d, true);
                a.div(b)
            }
            ApproxOp::Rem => {
                let a = self.clamped(-16.0, 16.0);
                let b = self.clamped(0.5, 2.0);
                a.rem(b)
            }
            ApproxOp::Math(f) => {
                let args = match f {
                    MathFn::Sqrt => vec![self.float_expr(d, false)],
                    MathFn::Exp => vec![self.clamped(-20.0, 20.0)],
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

fn lit_of(ty: DataType, bits: u32) -> Expr {
    match ty {
        DataType::I32 => Expr::i32(bits.cast_signed()),
        _ => Expr::u32(bits),
    }
}
