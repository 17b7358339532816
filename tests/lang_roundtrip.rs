//! `parse(print(p)).kernels[0] == p`: on random valid programs built with
//! the IR API (every `Node` and `Expr` kind), and parse -> print -> parse on
//! hand-written kernels.
//! Run: `cargo test -p vyre --features compiler --test lang_roundtrip`.

use proptest::prelude::*;
use vyre::ir::validate::math_type;
use vyre::ir::{
    Access, AtomicCall, AtomicOp, AtomicResult, Axis, BinOp, BufRef, BufferDecl, Builtin, DataType,
    Expr, Literal, LocalDecl, MathFn, Node, Param, PrivateDecl, Program, Rhs, SharedDecl,
    SubgroupOp, UnOp,
};
use vyre::lang::{parse, print};

/// A small deterministic generator (xorshift), driven by a proptest seed.
struct Gen {
    state: u64,
    p: Program,
    /// Locals visible at this point, per lexical scope.
    scopes: Vec<Vec<u32>>,
    loop_depth: u32,
    returned: bool,
    budget: u32,
    /// Whether a collective subgroup operation may be generated here: in
    /// the expressions of a top-level statement before any `return`, where
    /// control flow is uniform (like `barrier()`), and not in a `while`
    /// condition.
    collective_ok: bool,
}

/// Every type: the 32-bit ones and `bool`, the 16- and 8-bit ones and the
/// 64-bit ones.
const TYPES: [DataType; 13] = DataType::ALL;
const NUMERIC: [DataType; 12] = [
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
];
const DOCS: [&str; 6] = [
    "",
    "doc",
    "two\nlines",
    " leading space",
    "tab\there",
    "cr\rinside",
];
/// Local names the printer must cope with: keywords, a name the parser
/// would give by renaming, parameter names, names that are not
/// identifiers at all, and a private array's name.
const NAMES: [&str; 10] = [
    "type", "match", "fn", "x_1", "s0", "out1", "odd name", "self", "1x", "acc0",
];

impl Gen {
    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn new_local(&mut self, ty: DataType, mutable: bool) -> u32 {
        let n = self.p.locals.len();
        let name = if self.chance(15) {
            let base = self.pick(&NAMES);
            if self.chance(50) {
                base.to_string()
            } else {
                format!("{base}_{n}")
            }
        } else {
            format!("v{n}")
        };
        let name = if self.p.locals.iter().any(|l| l.name == name) {
            format!("v{n}")
        } else {
            name
        };
        self.p.locals.push(LocalDecl { name, ty, mutable });
        (self.p.locals.len() - 1) as u32
    }

    fn visible(&self, ty: DataType, mutable: bool) -> Vec<u32> {
        self.scopes
            .iter()
            .flatten()
            .copied()
            .filter(|&id| {
                let l = &self.p.locals[id as usize];
                l.ty == ty && (!mutable || l.mutable)
            })
            .collect()
    }

    fn bufs(&self, elem: Option<DataType>, writable: bool) -> Vec<BufRef> {
        let mut out = Vec::new();
        for (i, q) in self.p.params.iter().enumerate() {
            if let Param::Buffer(b) = q
                && elem.is_none_or(|e| e == b.elem)
                && (!writable || b.access == Access::ReadWrite)
            {
                out.push(BufRef::Param(i as u32));
            }
        }
        for (i, s) in self.p.shared.iter().enumerate() {
            if elem.is_none_or(|e| e == s.elem) {
                out.push(BufRef::Shared(i as u32));
            }
        }
        for (i, s) in self.p.private.iter().enumerate() {
            if elem.is_none_or(|e| e == s.elem) {
                out.push(BufRef::Private(i as u32));
            }
        }
        out
    }

    fn literal(&mut self, ty: DataType) -> Literal {
        match ty {
            DataType::Bool => Literal::Bool(self.chance(50)),
            DataType::I32 => Literal::I32(match self.below(6) {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => -1,
                3 => 0,
                _ => self.next() as i32 % 1000,
            }),
            DataType::U32 => Literal::U32(match self.below(5) {
                0 => u32::MAX,
                1 => 0,
                _ => self.next() as u32 % 1000,
            }),
            DataType::F32 => Literal::F32(match self.below(10) {
                0 => f32::NAN.to_bits(),
                1 => f32::INFINITY.to_bits(),
                2 => f32::NEG_INFINITY.to_bits(),
                3 => (-0.0f32).to_bits(),
                4 => 1,           // smallest subnormal
                5 => 0xffc0_0001, // negative NaN with payload
                6 => self.next() as u32,
                _ => ((self.next() % 20001) as f32 / 100.0 - 100.0).to_bits(),
            }),
            // `f16`/`bf16`: NaNs (with payloads and signs), infinities,
            // -0, the smallest subnormal, or any bits.
            DataType::F16 | DataType::BF16 => {
                let bits = match (self.below(8), ty) {
                    (0, DataType::F16) => 0x7e00,
                    (0, _) => 0x7fc0,
                    (1, DataType::F16) => 0x7c00,
                    (1, _) => 0x7f80,
                    (2, DataType::F16) => 0xfc00,
                    (2, _) => 0xff80,
                    (3, _) => 0x8000,
                    (4, _) => 1,
                    (5, DataType::F16) => 0xfe01,
                    (5, _) => 0xffc1,
                    _ => self.next() as u32,
                };
                Literal::from_bits(ty, bits)
            }
            DataType::U64 => Literal::U64(match self.below(8) {
                0 => u64::MAX,
                1 => 0,
                2 => 1 << 32,
                3 => u32::MAX.into(),
                4 => 1 << 53,
                5 => (1 << 53) + 1,
                6 => self.next(),
                _ => self.next() % 1000,
            }),
            DataType::I64 => Literal::I64(match self.below(9) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => -1,
                3 => 0,
                4 => i64::from(i32::MIN) - 1,
                5 => 1 << 32,
                6 => -(1 << 53) - 1,
                7 => self.next().cast_signed(),
                _ => self.next().cast_signed() % 1000,
            }),
            // NaNs (quiet, signalling, negative, with payloads),
            // infinities, -0, subnormals, the extremes, any bits, and
            // decimals that print with many digits.
            DataType::F64 => Literal::F64(match self.below(14) {
                0 => f64::NAN.to_bits(),
                1 => 0x7ff0_0000_0000_0001, // signalling NaN
                2 => 0xfff8_dead_beef_0001, // negative NaN with payload
                3 => f64::INFINITY.to_bits(),
                4 => f64::NEG_INFINITY.to_bits(),
                5 => (-0.0f64).to_bits(),
                6 => 1,                     // smallest subnormal
                7 => 0x800f_ffff_ffff_ffff, // largest negative subnormal
                8 => f64::MAX.to_bits(),
                9 => f64::MIN_POSITIVE.to_bits(),
                10 => self.next(),
                11 => 0.1f64.to_bits(),
                12 => (2f64.powi(53) + 2.0).to_bits(),
                _ => ((self.next() % 20001) as f64 / 100.0 - 100.0).to_bits(),
            }),
            // Narrow integers: all ones (the maximum, or -1), zero, the
            // sign bit alone (the minimum of a signed type), or any bits.
            narrow => Literal::from_bits(
                narrow,
                match self.below(5) {
                    0 => u32::MAX,
                    1 => 0,
                    2 => 1 << (narrow.bits() - 1),
                    _ => self.next() as u32,
                },
            ),
        }
    }

    /// An index into `buf`: for a private array often a constant (in or
    /// out of range), the form that later becomes a plain local.
    fn index_into(&mut self, buf: BufRef, depth: u32) -> Expr {
        if let BufRef::Private(id) = buf
            && self.chance(50)
        {
            let len = self.p.private[id as usize].len;
            return Expr::u32(self.below(u64::from(len) + 1) as u32);
        }
        self.index(depth)
    }

    fn index(&mut self, depth: u32) -> Expr {
        let t = if self.chance(70) {
            DataType::U32
        } else {
            DataType::I32
        };
        self.expr(t, depth + 1)
    }

    fn leaf(&mut self, ty: DataType) -> Expr {
        let mut options: Vec<Expr> = vec![Expr::Lit(self.literal(ty))];
        let locals = self.visible(ty, false);
        if !locals.is_empty() {
            let id = self.pick(&locals);
            options.push(Expr::Local(id));
            options.push(Expr::Local(id));
        }
        for (i, q) in self.p.params.iter().enumerate() {
            match q {
                Param::Scalar { ty: t, .. } if *t == ty => options.push(Expr::Param(i as u32)),
                Param::Buffer(_) if ty == DataType::U32 => options.push(Expr::Len(i as u32)),
                _ => {}
            }
        }
        if ty == DataType::U32 {
            let b = self.pick(&[
                Builtin::GlobalId,
                Builtin::LocalId,
                Builtin::WorkgroupId,
                Builtin::NumWorkgroups,
            ]);
            let a = self.pick(&[Axis::X, Axis::Y, Axis::Z]);
            options.push(Expr::Builtin(b, a));
        }
        let k = self.below(options.len() as u64) as usize;
        options.swap_remove(k)
    }

    fn expr(&mut self, ty: DataType, depth: u32) -> Expr {
        if depth > 4 || self.chance(30) {
            return self.leaf(ty);
        }
        let d = depth + 1;
        match self.below(9) {
            0 => {
                let bufs = if ty == DataType::Bool {
                    vec![]
                } else {
                    self.bufs(Some(ty), false)
                };
                if bufs.is_empty() {
                    return self.leaf(ty);
                }
                let buf = self.pick(&bufs);
                Expr::Load {
                    buf,
                    index: Box::new(self.index_into(buf, d)),
                }
            }
            1 => match ty {
                _ if ty == DataType::Bool || (ty.is_integer() && !ty.is_signed()) => {
                    Expr::Unary(UnOp::Not, Box::new(self.expr(ty, d)))
                }
                _ => {
                    let op = if ty.is_integer() && self.chance(50) {
                        UnOp::Not
                    } else {
                        UnOp::Neg
                    };
                    Expr::Unary(op, Box::new(self.expr(ty, d)))
                }
            },
            2 | 3 => self.binary(ty, d),
            4 => {
                let from = if ty == DataType::Bool {
                    DataType::Bool
                } else {
                    self.pick(&TYPES)
                };
                Expr::Cast(ty, Box::new(self.expr(from, d)))
            }
            5 => {
                // What validation allows on `ty` (on `f64` not `exp ln sin
                // cos tanh powf`).
                let fs: Vec<MathFn> = MathFn::ALL
                    .into_iter()
                    .filter(|f| math_type(*f, &vec![ty; f.arity()]).is_some())
                    .collect();
                if fs.is_empty() {
                    return self.binary(ty, d);
                }
                let f = self.pick(&fs);
                Expr::Math(f, (0..f.arity()).map(|_| self.expr(ty, d)).collect())
            }
            6 => Expr::Select {
                cond: Box::new(self.expr(DataType::Bool, d)),
                then: Box::new(self.expr(ty, d)),
                otherwise: Box::new(self.expr(ty, d)),
            },
            7 => self.subgroup(ty, d),
            _ => self.leaf(ty),
        }
    }

    /// A subgroup call of type `ty`; collective ones only where
    /// `collective_ok` says control flow is uniform.
    fn subgroup(&mut self, ty: DataType, d: u32) -> Expr {
        let ok = self.collective_ok;
        let ops: Vec<SubgroupOp> = SubgroupOp::ALL
            .into_iter()
            .filter(|op| {
                (ok || !op.is_collective())
                    && match op {
                        SubgroupOp::InvocationId | SubgroupOp::Size | SubgroupOp::Ballot => {
                            ty == DataType::U32
                        }
                        SubgroupOp::All | SubgroupOp::Any => ty == DataType::Bool,
                        // No collective on a 64-bit value.
                        _ => ty != DataType::Bool && !ty.is_wide(),
                    }
            })
            .collect();
        if ops.is_empty() {
            return self.leaf(ty);
        }
        let op = self.pick(&ops);
        let args = match op {
            SubgroupOp::InvocationId | SubgroupOp::Size => vec![],
            SubgroupOp::Ballot | SubgroupOp::All | SubgroupOp::Any => {
                vec![self.expr(DataType::Bool, d)]
            }
            _ if op.is_shuffle() => vec![self.expr(ty, d), self.expr(DataType::U32, d)],
            _ => vec![self.expr(ty, d)],
        };
        Expr::Subgroup(op, args)
    }

    fn binary(&mut self, ty: DataType, d: u32) -> Expr {
        let (op, lt, rt) = match ty {
            DataType::Bool => {
                let op = self.pick(&[
                    BinOp::Eq,
                    BinOp::Ne,
                    BinOp::Lt,
                    BinOp::Le,
                    BinOp::Gt,
                    BinOp::Ge,
                    BinOp::And,
                    BinOp::Or,
                    BinOp::BitAnd,
                    BinOp::BitOr,
                    BinOp::BitXor,
                ]);
                let t = match op {
                    BinOp::And | BinOp::Or | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => {
                        DataType::Bool
                    }
                    BinOp::Eq | BinOp::Ne => self.pick(&TYPES),
                    _ => self.pick(&NUMERIC),
                };
                (op, t, t)
            }
            // (`%` is not defined on `f64`.)
            DataType::F64 => {
                let op = self.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]);
                (op, ty, ty)
            }
            _ if ty.is_float() => {
                let op = self.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Rem]);
                (op, ty, ty)
            }
            _ => {
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
                let rt = if matches!(op, BinOp::Shl | BinOp::Shr) {
                    self.pick(&[
                        DataType::I32,
                        DataType::U32,
                        DataType::U8,
                        DataType::I16,
                        DataType::U64,
                        DataType::I64,
                    ])
                } else {
                    ty
                };
                (op, ty, rt)
            }
        };
        Expr::Binary(op, Box::new(self.expr(lt, d)), Box::new(self.expr(rt, d)))
    }

    fn atomic(&mut self) -> Option<(AtomicCall, DataType)> {
        let mut bufs = self.bufs(Some(DataType::U32), true);
        bufs.extend(self.bufs(Some(DataType::I32), true));
        // Private arrays have no atomics.
        bufs.retain(|b| !matches!(b, BufRef::Private(_)));
        if bufs.is_empty() {
            return None;
        }
        let buf = self.pick(&bufs);
        let et = self.p.elem_type(buf)?;
        let op = self.pick(&AtomicOp::ALL);
        let index = self.index(1);
        let expected = (op == AtomicOp::CompareExchange).then(|| self.expr(et, 1));
        let value = self.expr(et, 1);
        Some((
            AtomicCall {
                op,
                buf,
                index,
                expected,
                value,
            },
            et,
        ))
    }

    fn block(&mut self, depth: u32, len: u64) -> Vec<Node> {
        // What follows a nested block in its statement (an `else if`
        // condition) is not at the top level.
        self.collective_ok = false;
        self.scopes.push(Vec::new());
        let n = self.below(len + 1);
        let mut out = Vec::new();
        for _ in 0..n {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            if let Some(s) = self.stmt(depth) {
                out.push(s);
            }
        }
        self.scopes.pop();
        out
    }

    fn stmt(&mut self, depth: u32) -> Option<Node> {
        let nested = depth < 3;
        // Validation's shape rule: collectives need a 1-D workgroup (or x a
        // multiple of 128).
        let [wx, wy, wz] = self.p.workgroup_size;
        let shape_ok = (wy, wz) == (1, 1) || wx.is_multiple_of(128);
        self.collective_ok = depth == 0 && !self.returned && shape_ok;
        Some(match self.below(16) {
            0..=2 => {
                let ty = self.pick(&TYPES);
                let value = self.expr(ty, 0);
                let mutable = self.chance(50);
                let local = self.new_local(ty, mutable);
                self.scopes.last_mut()?.push(local);
                Node::Let { local, value }
            }
            3 => {
                let (atomic, ty) = self.atomic()?;
                let m = self.chance(30);
                let local = self.new_local(ty, m);
                self.scopes.last_mut()?.push(local);
                atomic.into_node(AtomicResult::Let(local))
            }
            4 | 5 => {
                let ty = self.pick(&TYPES);
                let targets = self.visible(ty, true);
                if targets.is_empty() {
                    return None;
                }
                let local = self.pick(&targets);
                let value = if ty.is_integer() && self.chance(20) {
                    match self.atomic() {
                        Some((a, t)) if t == ty => Rhs::Atomic(a),
                        _ => Rhs::Expr(self.expr(ty, 0)),
                    }
                } else {
                    Rhs::Expr(self.expr(ty, 0))
                };
                match value {
                    Rhs::Expr(value) => Node::Assign { local, value },
                    Rhs::Atomic(a) => a.into_node(AtomicResult::Assign(local)),
                }
            }
            6 => {
                let bufs = self.bufs(None, true);
                let buf = self.pick(&bufs);
                let et = self.p.elem_type(buf)?;
                Node::Store {
                    buf,
                    index: self.index_into(buf, 0),
                    value: self.expr(et, 0),
                }
            }
            7 => self.atomic()?.0.into_node(AtomicResult::Discard),
            8 if nested => {
                let cond = self.expr(DataType::Bool, 0);
                let then = self.block(depth + 1, 3);
                let otherwise = if self.chance(30) {
                    let c = self.expr(DataType::Bool, 0);
                    let t = self.block(depth + 1, 2);
                    vec![Node::If {
                        cond: c,
                        then: t,
                        otherwise: Vec::new(),
                    }]
                } else {
                    self.block(depth + 1, 2)
                };
                Node::If {
                    cond,
                    then,
                    otherwise,
                }
            }
            9 if nested => {
                self.collective_ok = false;
                let cond = self.expr(DataType::Bool, 0);
                self.loop_depth += 1;
                let body = self.block(depth + 1, 3);
                self.loop_depth -= 1;
                Node::While { cond, body }
            }
            10 if nested => {
                let ty = self.pick(&[DataType::U32, DataType::I32]);
                let unroll = self.chance(25);
                let (start, end) = if unroll {
                    // Literal bounds, at most a few dozen iterations.
                    let a = self.below(40) as i32 - 20;
                    let b = a + self.below(30) as i32 - 5;
                    match ty {
                        DataType::I32 => (Expr::i32(a), Expr::i32(b)),
                        _ => (Expr::u32(a.unsigned_abs()), Expr::u32(b.unsigned_abs())),
                    }
                } else {
                    (self.expr(ty, 1), self.expr(ty, 1))
                };
                let step = match self.below(6) {
                    0 | 1 => 1,
                    2 => 2,
                    3 => 4,
                    4 => 1 + self.below(100) as u32,
                    _ if unroll => 7,
                    _ if ty == DataType::I32 => i32::MAX as u32,
                    _ => u32::MAX,
                };
                let var = self.new_local(ty, false);
                self.scopes.push(vec![var]);
                // No `break`/`continue` of an unrolled loop (nested loops
                // may still have theirs).
                let outer = std::mem::replace(&mut self.loop_depth, if unroll { 0 } else { 1 });
                let body = self.block(depth + 1, 3);
                self.loop_depth = outer;
                self.scopes.pop();
                Node::For {
                    var,
                    start,
                    end,
                    step,
                    unroll,
                    body,
                }
            }
            11 if nested => {
                self.loop_depth += 1;
                let mut body = self.block(depth + 1, 2);
                self.loop_depth -= 1;
                body.push(Node::Break);
                Node::Loop { body }
            }
            12 if self.loop_depth > 0 => {
                if self.chance(50) {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            13 if self.chance(30) => {
                self.returned = true;
                Node::Return
            }
            14 if depth == 0 && !self.returned => Node::Barrier,
            15 if nested && self.chance(50) => Node::Unsafe {
                body: self.block(depth + 1, 2),
            },
            _ => {
                let ty = self.pick(&TYPES);
                let value = self.expr(ty, 0);
                let local = self.new_local(ty, true);
                self.scopes.last_mut()?.push(local);
                Node::Let { local, value }
            }
        })
    }
}

fn random_program(seed: u64) -> Program {
    let mut g = Gen {
        state: seed | 1,
        p: Program::new("kernel", [64, 1, 1]),
        scopes: vec![Vec::new()],
        loop_depth: 0,
        returned: false,
        budget: 40,
        collective_ok: false,
    };
    g.p.name = g
        .pick(&["k", "saxpy", "r#type_k", "kernel_2"])
        .replace("r#", "");
    g.p.doc = g.pick(&DOCS).to_string();
    g.p.workgroup_size = g.pick(&[[64, 1, 1], [256, 1, 1], [16, 16, 1], [8, 8, 4], [1, 1, 1]]);
    g.p.unchecked = g.chance(30);
    g.p.fast_math = g.chance(30);
    // Always one writable buffer of each element type, plus extras.
    for (i, elem) in [DataType::U32, DataType::I32, DataType::F32]
        .into_iter()
        .enumerate()
    {
        g.p.params.push(Param::Buffer(BufferDecl {
            name: format!("out{i}"),
            elem,
            access: Access::ReadWrite,
        }));
    }
    for i in 0..g.below(3) {
        let elem = g.pick(&NUMERIC);
        let access = if g.chance(50) {
            Access::Read
        } else {
            Access::ReadWrite
        };
        g.p.params.push(Param::Buffer(BufferDecl {
            name: format!("buf{i}"),
            elem,
            access,
        }));
    }
    for i in 0..g.below(4) {
        let ty = g.pick(&TYPES);
        g.p.params.push(Param::Scalar {
            name: format!("s{i}"),
            ty,
        });
    }
    for i in 0..g.below(3) {
        let elem = g.pick(&NUMERIC);
        let len = 1 + g.below(64) as u32;
        g.p.shared.push(SharedDecl {
            name: format!("tile{i}"),
            elem,
            len,
            layout: vyre::ir::SharedLayout::Linear,
        });
    }
    for i in 0..g.below(3) {
        let elem = g.pick(&NUMERIC);
        let len = 1 + g.below(16) as u32;
        g.p.private.push(PrivateDecl {
            name: format!("acc{i}"),
            elem,
            len,
        });
    }
    g.p.body = g.block(0, 12);
    let mut p = g.p;
    // Sometimes scramble the locals table (and add an unused local) so that
    // the printer must fall back to `#[locals(...)]`.
    if seed.is_multiple_of(5) && !p.locals.is_empty() {
        let n = p.locals.len() as u32;
        let perm: Vec<u32> = (0..n).map(|i| (i + 1) % n).collect();
        let mut locals = p.locals.clone();
        for (old, &new) in perm.iter().enumerate() {
            locals[new as usize] = p.locals[old].clone();
        }
        p.locals = locals;
        remap_body(&mut p.body, &perm);
        p.locals.push(LocalDecl {
            name: "unused".into(),
            ty: DataType::F32,
            mutable: true,
        });
    }
    p
}

fn remap_body(body: &mut [Node], perm: &[u32]) {
    for n in body {
        match n {
            Node::Let { local, value } | Node::Assign { local, value } => {
                *local = perm[*local as usize];
                remap_expr(value, perm);
            }
            Node::Store { index, value, .. } => {
                remap_expr(index, perm);
                remap_expr(value, perm);
            }
            Node::Atomic {
                index,
                expected,
                value,
                result,
                ..
            } => {
                if let AtomicResult::Let(local) | AtomicResult::Assign(local) = result {
                    *local = perm[*local as usize];
                }
                remap_expr(index, perm);
                if let Some(x) = expected {
                    remap_expr(x, perm);
                }
                remap_expr(value, perm);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                remap_expr(cond, perm);
                remap_body(then, perm);
                remap_body(otherwise, perm);
            }
            Node::While { cond, body } => {
                remap_expr(cond, perm);
                remap_body(body, perm);
            }
            Node::For {
                var,
                start,
                end,
                body,
                ..
            } => {
                *var = perm[*var as usize];
                remap_expr(start, perm);
                remap_expr(end, perm);
                remap_body(body, perm);
            }
            Node::Loop { body } | Node::Unsafe { body } => remap_body(body, perm),
            _ => {}
        }
    }
}

fn remap_expr(e: &mut Expr, perm: &[u32]) {
    match e {
        Expr::Local(id) => *id = perm[*id as usize],
        Expr::Load { index, .. } => remap_expr(index, perm),
        Expr::Unary(_, a) | Expr::Cast(_, a) => remap_expr(a, perm),
        Expr::Binary(_, a, b) => {
            remap_expr(a, perm);
            remap_expr(b, perm);
        }
        Expr::Math(_, args) | Expr::Subgroup(_, args) => {
            args.iter_mut().for_each(|a| remap_expr(a, perm));
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            remap_expr(cond, perm);
            remap_expr(then, perm);
            remap_expr(otherwise, perm);
        }
        _ => {}
    }
}

fn round_trip(p: &Program) -> Result<(), String> {
    let text = print(p);
    match parse("printed.vyre", &text) {
        Ok(m) if m.kernels.len() == 1 && m.kernels[0] == *p => Ok(()),
        Ok(m) => Err(format!(
            "printed text parses to a different program\n--- text ---\n{text}\n--- want ---\n{p:#?}\n--- got ---\n{:#?}",
            m.kernels
        )),
        Err(d) => Err(format!(
            "printed text does not parse\n--- text ---\n{text}\n{}",
            d.render()
        )),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(800))]

    #[test]
    fn random_programs_round_trip(seed in any::<u64>()) {
        let p = random_program(seed);
        prop_assert!(p.validate().is_ok(), "generator made an invalid program: {:?}\n{p:#?}", p.validate());
        if let Err(e) = round_trip(&p) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The generator does reach every kind of node, expression and literal
/// edge case, so the property above covers them.
#[test]
fn generator_covers_every_kind() {
    let mut nodes = std::collections::BTreeSet::new();
    let mut exprs = std::collections::BTreeSet::new();
    fn e(x: &Expr, out: &mut std::collections::BTreeSet<&'static str>) {
        let k = match x {
            Expr::Lit(_) => "lit",
            Expr::Local(_) => "local",
            Expr::Param(_) => "param",
            Expr::Builtin(..) => "builtin",
            Expr::Len(_) => "len",
            Expr::Load { index, .. } => {
                e(index, out);
                "load"
            }
            Expr::Unary(_, a) => {
                e(a, out);
                "unary"
            }
            Expr::Binary(_, a, b) => {
                e(a, out);
                e(b, out);
                "binary"
            }
            Expr::Cast(_, a) => {
                e(a, out);
                "cast"
            }
            Expr::Math(_, args) => {
                args.iter().for_each(|a| e(a, out));
                "math"
            }
            Expr::Subgroup(_, args) => {
                args.iter().for_each(|a| e(a, out));
                "subgroup"
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                e(cond, out);
                e(then, out);
                e(otherwise, out);
                "select"
            }
        };
        out.insert(k);
    }
    let (mut flat, mut aliased) = (0, 0);
    let mut subgroup_ops = std::collections::BTreeSet::new();
    for seed in 1..400u64 {
        let p = random_program(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let text = print(&p);
        for op in SubgroupOp::ALL {
            if text.contains(&format!("{}(", op.name())) {
                subgroup_ops.insert(op.name());
            }
        }
        if text.contains("#[locals(") {
            flat += 1;
        }
        if text.contains(" = \"") {
            aliased += 1;
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            let k = match n {
                Node::Let { value, .. } => {
                    e(value, &mut exprs);
                    "let"
                }
                Node::Assign { value, .. } => {
                    e(value, &mut exprs);
                    "assign"
                }
                Node::Atomic {
                    index,
                    expected,
                    value,
                    result,
                    ..
                } => {
                    e(index, &mut exprs);
                    if let Some(x) = expected {
                        e(x, &mut exprs);
                    }
                    e(value, &mut exprs);
                    match result {
                        AtomicResult::Let(_) => "atomic let",
                        AtomicResult::Assign(_) => "atomic assign",
                        AtomicResult::Discard => "atomic statement",
                    }
                }
                Node::Store { index, value, .. } => {
                    e(index, &mut exprs);
                    e(value, &mut exprs);
                    "store"
                }
                Node::If { cond, .. } => {
                    e(cond, &mut exprs);
                    "if"
                }
                Node::While { .. } => "while",
                Node::For { .. } => "for",
                Node::Loop { .. } => "loop",
                Node::Unsafe { .. } => "unsafe",
                Node::Break => "break",
                Node::Continue => "continue",
                Node::Return => "return",
                Node::Barrier => "barrier",
                // The generator writes no warpgroup barrier, matrix or copy
                // statements; their round trips are tested on their own.
                Node::WarpgroupBarrier => "warpgroup barrier",
                Node::Matrix(_) => "matrix",
                Node::Async(_) => "async",
            };
            nodes.insert(k);
        });
    }
    assert_eq!(nodes.len(), 15, "{nodes:?}");
    assert_eq!(exprs.len(), 12, "{exprs:?}");
    assert_eq!(subgroup_ops.len(), 12, "{subgroup_ops:?}");
    assert!(
        flat > 10,
        "the `#[locals]` fallback is exercised ({flat} times)"
    );
    assert!(aliased > 5, "local aliases are exercised ({aliased} times)");
}

const SAXPY: &str = r"
/// y = a * x + y
#[kernel(workgroup_size = 256)]
pub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}
";

const REDUCTION: &str = r"
const BLOCK: u32 = 256;

fn sq(v: f32) -> f32 { v * v }

/// Per-workgroup sums of squares; the host adds the partials.
#[kernel(workgroup_size = BLOCK)]
pub fn reduce_sum(x: &[f32], partial: &mut [f32]) {
    #[shared] let mut tile: [f32; BLOCK];
    let lid = local_id().x;
    let i = global_id().x;
    tile[lid] = if i < x.len() { sq(x[i]) } else { 0.0 };
    barrier();
    let mut stride = BLOCK / 2;
    while stride > 0 {
        if lid < stride {
            tile[lid] += tile[lid + stride];
        }
        barrier();
        stride >>= 1;
    }
    if lid == 0 {
        partial[workgroup_id().x] = tile[0];
    }
}
";

const HISTOGRAM: &str = r"
/// Counts of `data[i] % bins`, privatised per workgroup in shared memory.
#[kernel(workgroup_size = 256)]
pub fn histogram(data: &[u32], hist: &mut [u32], bins: u32) {
    #[shared] let mut local_hist: [u32; 256];
    let lid = local_id().x;
    local_hist[lid] = 0;
    barrier();
    let i = global_id().x;
    if i < data.len() {
        local_hist.atomic_add(data[i] % bins, 1);
    }
    barrier();
    if lid < bins {
        let c = local_hist[lid];
        if c > 0 {
            hist.atomic_add(lid, c);
        }
    }
}
";

const MATMUL: &str = r"
const TILE: u32 = 16;

fn idx(row: u32, col: u32, n: u32) -> u32 { row * n + col }

/// C = A * B for n x n matrices, n a multiple of 16.
#[kernel(workgroup_size = (16, 16))]
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], n: u32) {
    #[shared] let mut ta: [f32; TILE * TILE];
    #[shared] let mut tb: [f32; TILE * TILE];
    let row = global_id().y;
    let col = global_id().x;
    let ly = local_id().y;
    let lx = local_id().x;
    let mut acc = 0.0;
    for t in 0..n / TILE {
        ta[ly * TILE + lx] = a[idx(row, t * TILE + lx, n)];
        tb[ly * TILE + lx] = b[idx(t * TILE + ly, col, n)];
        barrier();
        for k in 0..TILE {
            acc = ta[ly * TILE + k].mul_add(tb[k * TILE + lx], acc);
        }
        barrier();
    }
    if row < n && col < n {
        c[idx(row, col, n)] = acc;
    }
}
";

#[test]
fn hand_written_kernels_round_trip() {
    for (name, src) in [
        ("saxpy", SAXPY),
        ("reduce_sum", REDUCTION),
        ("histogram", HISTOGRAM),
        ("matmul", MATMUL),
    ] {
        let m = parse(&format!("{name}.vyre"), src).unwrap_or_else(|d| panic!("{}", d.render()));
        assert_eq!(m.kernels.len(), 1);
        let k = &m.kernels[0];
        assert_eq!(k.name, name);
        assert!(k.validate().is_ok());
        let text = print(k);
        // Plain kernels print without the `#[locals]` fallback.
        assert!(!text.contains("#[locals("), "{text}");
        round_trip(k).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Printing is a fixed point after one round.
        let again = parse("again.vyre", &text).unwrap();
        assert_eq!(print(&again.kernels[0]), text);
    }
}

#[test]
fn printed_saxpy_text() {
    let k = parse("saxpy.vyre", SAXPY).unwrap().kernels.remove(0);
    assert_eq!(
        print(&k),
        "/// y = a * x + y
#[kernel(workgroup_size = 256)]
pub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i: u32 = global_id().x;
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}
"
    );
}

#[test]
fn special_floats_print_bit_exactly() {
    for bits in [
        f32::NAN.to_bits(),
        0xffc0_0001,
        0x7f80_0001,
        f32::INFINITY.to_bits(),
        f32::NEG_INFINITY.to_bits(),
        (-0.0f32).to_bits(),
        0,
        1,
        0x8000_0001,
        f32::MAX.to_bits(),
        f32::MIN_POSITIVE.to_bits(),
        0.1f32.to_bits(),
        (-1.5e-7f32).to_bits(),
    ] {
        let mut p = Program::new("k", [64, 1, 1]);
        p.params.push(Param::Buffer(BufferDecl {
            name: "y".into(),
            elem: DataType::F32,
            access: Access::ReadWrite,
        }));
        p.body.push(Node::Store {
            buf: BufRef::Param(0),
            index: Expr::u32(0),
            value: Expr::Lit(Literal::F32(bits)).add(Expr::Unary(
                UnOp::Neg,
                Box::new(Expr::Lit(Literal::F32(bits))),
            )),
        });
        round_trip(&p).unwrap_or_else(|e| panic!("{bits:#x}: {e}"));
    }
}

/// The differential-testing generator's programs (another team's code, a
/// different shape of program) round-trip too.
#[test]
fn testkit_programs_round_trip() {
    let cfg = vyre_testkit::GenConfig::default();
    for seed in 0..300u64 {
        let case = vyre_testkit::generate(seed, &cfg);
        assert!(case.program.validate().is_ok());
        round_trip(&case.program).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Every kernel of the shared corpus (`tests/kernels/*.vyre`) round-trips.
#[test]
fn corpus_kernels_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no {}", dir.display());
        return;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "vyre") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let m =
            parse(&path.display().to_string(), &text).unwrap_or_else(|d| panic!("{}", d.render()));
        for k in &m.kernels {
            round_trip(k).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            n += 1;
        }
    }
    println!("{n} corpus kernels round-trip");
}

/// The generator reaches private arrays (constant and run-time indices,
/// loads and stores), stepped loops and `#[unroll]` loops.
#[test]
fn generator_covers_private_arrays_and_loop_forms() {
    fn private_load(x: &Expr, constant: &mut bool, dynamic: &mut bool) {
        match x {
            Expr::Load {
                buf: BufRef::Private(_),
                index,
            } => {
                if matches!(**index, Expr::Lit(_)) {
                    *constant = true;
                } else {
                    *dynamic = true;
                }
                private_load(index, constant, dynamic);
            }
            Expr::Load { index: a, .. } | Expr::Unary(_, a) | Expr::Cast(_, a) => {
                private_load(a, constant, dynamic);
            }
            Expr::Binary(_, a, b) => {
                private_load(a, constant, dynamic);
                private_load(b, constant, dynamic);
            }
            Expr::Math(_, args) => args.iter().for_each(|a| private_load(a, constant, dynamic)),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                private_load(cond, constant, dynamic);
                private_load(then, constant, dynamic);
                private_load(otherwise, constant, dynamic);
            }
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..400u64 {
        let p = random_program(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if !p.private.is_empty() && print(&p).contains("let mut acc0: [") {
            seen.insert("private decl");
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            let (mut c, mut d) = (false, false);
            match n {
                Node::Store {
                    buf: BufRef::Private(_),
                    index,
                    value,
                } => {
                    seen.insert(if matches!(index, Expr::Lit(_)) {
                        "private store constant"
                    } else {
                        "private store dynamic"
                    });
                    private_load(value, &mut c, &mut d);
                }
                Node::Let { value, .. } | Node::Assign { value, .. } => {
                    private_load(value, &mut c, &mut d);
                }
                Node::For { step, unroll, .. } => {
                    if *step != 1 {
                        seen.insert("stepped for");
                    }
                    if *unroll {
                        seen.insert("unrolled for");
                    }
                    if *unroll && *step != 1 {
                        seen.insert("unrolled stepped for");
                    }
                }
                _ => {}
            }
            if c {
                seen.insert("private load constant");
            }
            if d {
                seen.insert("private load dynamic");
            }
        });
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
}

#[test]
fn new_forms_round_trip_through_text() {
    let src = r#"
const N: u32 = 8;
#[kernel(workgroup_size = 64)]
pub fn k(x: &[f32], y: &mut [f32], counters: &mut [u32], res: &mut [u32], n: u32) {
    let i = global_id().x;
    let mut acc = [0.0f32; 64];
    let mut idx: [u32; 8] = [0; 8];
    let mut t: [f32; 4];
    let w = [1.0, 2.0, 3.0, 4.0];
    let mut b = [x[i] * 2.0; N];
    #[unroll]
    for r in 0..N / 2 {
        for c in (0..8).step_by(2) {
            acc[r * 8 + c] += w[r % 4] * b[c];
        }
    }
    #[unroll]
    for k in (0..16).step_by(4) {
        idx[k / 4] = k;
    }
    for k in (0..n).step_by(4) {
        t[k % 4] += 1.0;
    }
    let v: [f32; 4] = x.load4(i * 4);
    y.store4(i * 4, v);
    y.store2(i, [t[1], acc[i % 64]]);
    res[idx[1]] = counters.atomic_add(i, 1);
}
"#;
    let p = parse("new.vyre", src).unwrap().kernels.remove(0);
    let text = print(&p);
    assert!(text.contains("    let mut acc: [f32; 64];\n"), "{text}");
    assert!(text.contains("    let mut t: [f32; 4];\n"), "{text}");
    assert!(
        text.contains("#[unroll]\n    for r in 0u32..4u32 {"),
        "{text}"
    );
    assert!(
        text.contains("for c in (0u32..8u32).step_by(2) {"),
        "{text}"
    );
    assert!(text.contains("for k_1 in (0u32..n).step_by(4) {"), "{text}");
    assert!(!text.contains("#[locals("), "{text}");
    assert_eq!(parse("again.vyre", &text).unwrap().kernels[0], p);
    round_trip(&p).unwrap();
}

#[test]
fn subgroup_calls_and_tuple_helpers_round_trip_through_text() {
    let src = r#"
fn minmax(v: f32, lo: f32, hi: f32) -> (f32, f32) { (v.min(lo), v.max(hi)) }
fn warp_reduce(v: f32) -> f32 {
    let mut s = v;
    s = s + subgroup_shuffle_xor(s, 16);
    s = s + subgroup_shuffle_xor(s, 8);
    s
}
#[kernel(workgroup_size = 64)]
pub fn k(x: &[f32], y: &mut [f32], votes: &mut [u32]) {
    let i = global_id().x;
    let (lo, hi) = minmax(x[i], 0.0, 1.0);
    let s = warp_reduce(lo + hi);
    let first = subgroup_broadcast_first(s) + subgroup_shuffle(s, 0).abs();
    let down = subgroup_shuffle_down(-s, subgroup_size() / 2);
    let ballot = subgroup_ballot(x[i] > 0.5) | subgroup_ballot(!subgroup_all(hi < 1.0));
    let m = subgroup_min(i as i32) + subgroup_max(i as i32);
    if subgroup_any(x[i] > 2.0) && subgroup_invocation_id() == 0 {
        votes[i / subgroup_size()] = ballot + m as u32;
    }
    y[i] = first + down + subgroup_add(1.0f32);
}
"#;
    let p = parse("sg.vyre", src).unwrap().kernels.remove(0);
    assert!(p.uses_subgroups());
    let text = print(&p);
    for call in [
        "subgroup_shuffle_xor(s, 16u32)",
        "subgroup_shuffle(s_1, 0u32)",
        "subgroup_shuffle_down(-s_1, subgroup_size() / 2u32)",
        "subgroup_ballot(!subgroup_all(hi < 1.0f32))",
        "subgroup_invocation_id() == 0u32",
        "subgroup_add(1.0f32)",
        "subgroup_min(i as i32)",
    ] {
        assert!(text.contains(call), "{call} in\n{text}");
    }
    assert_eq!(parse("again.vyre", &text).unwrap().kernels[0], p);
    round_trip(&p).unwrap();
}

/// The generator reaches every narrow type as a local, a scalar
/// parameter, a buffer, shared and private element and a literal, and
/// the special `f16`/`bf16` values, so the property above covers them.
#[test]
fn generator_covers_narrow_types() {
    fn lits(x: &Expr, out: &mut std::collections::BTreeSet<String>) {
        match x {
            Expr::Lit(l) => {
                out.insert(format!("lit {}", l.ty()));
            }
            Expr::Cast(t, a) => {
                out.insert(format!("cast {t}"));
                lits(a, out);
            }
            Expr::Load { index: a, .. } | Expr::Unary(_, a) => lits(a, out),
            Expr::Binary(_, a, b) => {
                lits(a, out);
                lits(b, out);
            }
            Expr::Math(_, args) | Expr::Subgroup(_, args) => {
                args.iter().for_each(|a| lits(a, out));
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                lits(cond, out);
                lits(then, out);
                lits(otherwise, out);
            }
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..400u64 {
        let p = random_program(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for l in &p.locals {
            seen.insert(format!("local {}", l.ty));
        }
        for q in &p.params {
            match q {
                Param::Scalar { ty, .. } => seen.insert(format!("param {ty}")),
                Param::Buffer(b) => seen.insert(format!("buffer {}", b.elem)),
            };
        }
        for s in &p.shared {
            seen.insert(format!("shared {}", s.elem));
        }
        for s in &p.private {
            seen.insert(format!("private {}", s.elem));
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => lits(value, &mut seen),
            Node::Store { index, value, .. } => {
                lits(index, &mut seen);
                lits(value, &mut seen);
            }
            Node::If { cond, .. } | Node::While { cond, .. } => lits(cond, &mut seen),
            _ => {}
        });
        let text = print(&p);
        for special in [
            "f16::from_bits(0x7e00)",
            "bf16::from_bits(0x7fc0)",
            "f16::from_bits(0xfc00)",
            "bf16::from_bits(0xffc1)",
            "-0.0f16",
            "-0.0bf16",
            "5.9604645e-8f16",
            "-128i8",
            "65535u16",
            "-9223372036854775808i64",
            "18446744073709551615u64",
            "f64::from_bits(0x7ff8000000000000)",
            "f64::from_bits(0xfff8deadbeef0001)",
            "f64::from_bits(0xfff0000000000000)",
            "-0.0f64",
            "5e-324f64",
        ] {
            if text.contains(special) {
                seen.insert(special.to_string());
            }
        }
    }
    let mut missing = Vec::new();
    for t in DataType::ALL {
        for what in ["local", "param", "lit", "cast"] {
            missing.push(format!("{what} {t}"));
        }
        if t != DataType::Bool {
            for what in ["buffer", "shared", "private"] {
                missing.push(format!("{what} {t}"));
            }
        }
    }
    missing.extend(
        [
            "f16::from_bits(0x7e00)",
            "bf16::from_bits(0x7fc0)",
            "f16::from_bits(0xfc00)",
            "bf16::from_bits(0xffc1)",
            "-0.0f16",
            "-0.0bf16",
            "5.9604645e-8f16",
            "-128i8",
            "65535u16",
            "-9223372036854775808i64",
            "18446744073709551615u64",
            "f64::from_bits(0x7ff8000000000000)",
            "f64::from_bits(0xfff8deadbeef0001)",
            "f64::from_bits(0xfff0000000000000)",
            "-0.0f64",
            "5e-324f64",
        ]
        .map(String::from),
    );
    missing.retain(|m| !seen.contains(m));
    assert!(missing.is_empty(), "not generated: {missing:?}");
}

#[test]
fn special_narrow_literals_print_bit_exactly() {
    let mut lits: Vec<Literal> = Vec::new();
    for bits in [
        0x7e00u16, 0xfe01, 0x7c01, 0x7c00, 0xfc00, 0x8000, 0, 1, 0x8001, 0x3ff, 0x7bff, 0xfbff,
        0x3c00, 0x2e66, 0x3555,
    ] {
        lits.push(Literal::F16(bits));
    }
    for bits in [
        0x7fc0u16, 0xffc1, 0x7f81, 0x7f80, 0xff80, 0x8000, 0, 1, 0x8001, 0x7f7f, 0xff7f, 0x3f80,
        0x3dcd, 0x0080,
    ] {
        lits.push(Literal::BF16(bits));
    }
    lits.extend([
        Literal::U8(0),
        Literal::U8(255),
        Literal::I8(i8::MIN),
        Literal::I8(-1),
        Literal::I8(i8::MAX),
        Literal::U16(u16::MAX),
        Literal::I16(i16::MIN),
        Literal::I16(i16::MAX),
    ]);
    for l in lits {
        let ty = l.ty();
        let mut p = Program::new("k", [64, 1, 1]);
        p.params.push(Param::Buffer(BufferDecl {
            name: "y".into(),
            elem: ty,
            access: Access::ReadWrite,
        }));
        p.locals.push(LocalDecl {
            name: "v".into(),
            ty,
            mutable: false,
        });
        let neg = if ty.is_float() || ty.is_signed() {
            Expr::Unary(UnOp::Neg, Box::new(Expr::Lit(l)))
        } else {
            Expr::Unary(UnOp::Not, Box::new(Expr::Lit(l)))
        };
        p.body.push(Node::Let {
            local: 0,
            value: Expr::Lit(l),
        });
        p.body.push(Node::Store {
            buf: BufRef::Param(0),
            index: Expr::u32(0),
            value: Expr::Binary(BinOp::Add, Box::new(Expr::Local(0)), Box::new(neg)),
        });
        assert!(p.validate().is_ok());
        round_trip(&p).unwrap_or_else(|e| panic!("{l:?}: {e}"));
    }
}

/// Every 64-bit edge value prints to text that parses back to the same
/// bits, alone and negated (or complemented).
#[test]
fn special_wide_literals_print_bit_exactly() {
    let mut lits: Vec<Literal> = [
        0u64,
        1,
        u64::MAX,
        u64::MAX - 1,
        1 << 32,
        (1 << 32) - 1,
        (1 << 32) + 1,
        1 << 53,
        (1 << 53) + 1,
        1 << 63,
    ]
    .into_iter()
    .map(Literal::U64)
    .collect();
    lits.extend(
        [
            0i64,
            1,
            -1,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            i64::from(i32::MIN) - 1,
            i64::from(u32::MAX) + 1,
            -(1 << 53) - 1,
        ]
        .map(Literal::I64),
    );
    lits.extend(
        [
            f64::NAN.to_bits(),
            0x7ff0_0000_0000_0001,
            0xfff8_dead_beef_0001,
            0x7ff4_0000_0000_0000,
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            0,
            (-0.0f64).to_bits(),
            1,
            0x8000_0000_0000_0001,
            0x000f_ffff_ffff_ffff,
            f64::MAX.to_bits(),
            f64::MIN.to_bits(),
            f64::MIN_POSITIVE.to_bits(),
            f64::EPSILON.to_bits(),
            0.1f64.to_bits(),
            (-1.5e-300f64).to_bits(),
            1e300f64.to_bits(),
            (2f64.powi(53) + 2.0).to_bits(),
            f64::from(f32::MAX).to_bits(),
            f64::from(f32::from_bits(1)).to_bits(),
            std::f64::consts::PI.to_bits(),
        ]
        .map(Literal::F64),
    );
    for l in lits {
        let ty = l.ty();
        let mut p = Program::new("k", [64, 1, 1]);
        p.params.push(Param::Buffer(BufferDecl {
            name: "y".into(),
            elem: ty,
            access: Access::ReadWrite,
        }));
        p.locals.push(LocalDecl {
            name: "v".into(),
            ty,
            mutable: false,
        });
        let neg = if ty.is_float() || ty.is_signed() {
            Expr::Unary(UnOp::Neg, Box::new(Expr::Lit(l)))
        } else {
            Expr::Unary(UnOp::Not, Box::new(Expr::Lit(l)))
        };
        p.body.push(Node::Let {
            local: 0,
            value: Expr::Lit(l),
        });
        p.body.push(Node::Store {
            buf: BufRef::Param(0),
            index: Expr::u32(0),
            value: Expr::Binary(BinOp::Add, Box::new(Expr::Local(0)), Box::new(neg)),
        });
        assert!(p.validate().is_ok(), "{l:?}: {:?}", p.validate());
        round_trip(&p).unwrap_or_else(|e| panic!("{l:?}: {e}"));
    }
}

#[test]
fn narrow_and_generic_kernels_round_trip_through_text() {
    let src = r#"
const HALF: f16 = 0.5;
fn mix(a: bf16, b: bf16) -> bf16 { a * 0.25 + b }
#[kernel(workgroup_size = 128, instances(f32 = (T = f32, N = 4), bf16 = (T = bf16, N = 8), h = (T = f16, N = 8)))]
pub fn k<T, const N: u32>(x: &[T], y: &mut [T], b: &mut [u8], s: &[i16], w: &mut [bf16], h: f16, c: u8) {
    #[shared]
    let mut tile: [T; 128];
    let mut acc: [f32; N];
    let i = global_id().x;
    tile[local_id().x] = x[i];
    barrier();
    #[unroll]
    for k in 0..N {
        acc[k] = tile[k] as f32 * (HALF as f32);
    }
    let q = -(s[i] >> 2) as i8;
    b[i] = !c & (q as u8) | 0x80;
    let m = h.max(-0.0).clamp(f16::MIN, f16::MAX);
    w[i] = mix(w[i], m as bf16).sqrt();
    y[i] = (acc[N - 1] + subgroup_add(m as f32)) as T;
}
"#;
    let m = parse("narrow.vyre", src).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(m.kernels.len(), 3);
    for p in &m.kernels {
        round_trip(p).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let text = print(p);
        assert_eq!(parse("again.vyre", &text).unwrap().kernels[0], *p);
    }
    let text = print(&m.kernels[1]);
    for part in [
        "pub fn k_bf16(x: &[bf16], y: &mut [bf16], b: &mut [u8], s: &[i16], w: &mut [bf16], h: f16, c: u8) {",
        "let mut tile: [bf16; 128];",
        "let mut acc: [f32; 8];",
        "(0.5f16 as f32)",
        "| 128u8;",
        "let q: i8 = -(s[i] >> 2i32) as i8;",
        "h.max(-0.0f16).clamp(-65504.0f16, 65504.0f16)",
        "(w[i] * 0.25bf16 + (m as bf16)).sqrt()",
    ] {
        assert!(text.contains(part), "{part} in\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Matrix operations and asynchronous copies.

use vyre::ir::{
    AsyncOp, MatrixDecl, MatrixLayout, MatrixOp, MatrixRole, MatrixScope, MatrixShape, RowReduceOp,
    SharedLayout, SharedTile, WarpgroupOperand,
};

/// A tensor-core GEMM as a kernel author writes it: shared tiles filled by
/// asynchronous copies in a loop over `k`, warp tiles loaded in an
/// `#[unroll]` loop, one accumulator per warp stored at the end.
const GEMM: &str = r"
const BM: u32 = 64;
const BN: u32 = 64;
const BK: u32 = 32;
const WM: u32 = 32;
const WN: u32 = 32;

/// C = A * B: A is m x k, B is k x n (row-major bf16), C is m x n (f32);
/// m and n multiples of 64, k a multiple of 32. Four warps of a 2 x 2
/// grid, each a 32 x 32 tile.
#[kernel(workgroup_size = 128)]
pub fn gemm_bf16(a: &[bf16], b: &[bf16], c: &mut [f32], n: u32, k: u32) {
    #[shared] let mut ta: [bf16; BM * BK];
    #[shared] let mut tb: [bf16; BK * BN];
    let t = local_id().x;
    let warp = t / 32;
    let wr = warp / 2 * WM;
    let wc = warp % 2 * WN;
    let row0 = workgroup_id().y * BM;
    let col0 = workgroup_id().x * BN;
    let mut acc = matrix_zero::<f32, WM, WN, 16>();
    for kk in (0..k).step_by(BK) {
        // 2048 elements a tile, 8 a copy: two copies per invocation each.
        #[unroll]
        for p in 0..2 {
            let e = (t + p * 128) * 8;
            async_copy(&mut ta, e, &a, (row0 + e / BK) * k + kk + e % BK, 8);
            async_copy(&mut tb, e, &b, (kk + e / BN) * n + col0 + e % BN, 8);
        }
        async_commit();
        async_wait(0);
        barrier();
        #[unroll]
        for ks in 0..BK / 16 {
            let x = matrix_load_a::<bf16, WM, WN, 16>(&ta, wr * BK + ks * 16, BK);
            let y = matrix_load_b::<bf16, WM, WN, 16>(&tb, ks * 16 * BN + wc, BN);
            acc = matrix_mma(x, y, acc);
        }
        barrier();
    }
    matrix_store(&mut c, (row0 + wr) * n + col0 + wc, n, acc);
}
";

/// The other forms: declarations without a value, column-major loads and
/// stores, fills, `let d = matrix_mma(..)`, copies of `f32` and a wait
/// that leaves groups in flight, a generic element type.
const GEMM_FORMS: &str = r"
const STAGES: u32 = 2;
#[kernel(workgroup_size = 64, instances(h = (T = f16), b = (T = bf16)))]
pub fn forms<T>(w: &[T], x: &[T], bias: &[f32], out: &mut [f32], half: &mut [T], s: f32, n: u32) {
    #[shared] let mut tile: [T; 512];
    #[shared] let mut tf: [f32; 256];
    let mut wt: MatrixB<T, 16, 16, 32>;
    let mut c: MatrixAcc<f32, 16, 16, 32>;
    let mut at: MatrixA<T, 16, 16, 32>;
    c = matrix_fill(s * 0.5);
    for i in 0..n {
        async_copy(&mut tile, local_id().x * 8, &x, i * 512 + local_id().x * 8, 8);
        async_copy(&mut tf, local_id().x * 4, &bias, local_id().x * 4, 4);
        async_commit();
        async_wait(STAGES - 1);
        barrier();
        let a = matrix_load_a::<T, 16, 16, 32>(&tile, 0, 32);
        at = matrix_load_a(&tile, 256, 32);
        wt = matrix_load_b_col_major(&w, i * 512, 32);
        if s > 0.0 {
            c = matrix_mma(a, wt, c);
        }
        barrier();
    }
    let mut b = matrix_load_acc::<f32, 16, 16, 32>(&tf, 0, 16);
    let d = matrix_mma(at, wt, b);
    matrix_store_col_major(&mut half, 0, 16, d);
    matrix_store(&mut out, 256, 16, c);
}
";

#[test]
fn matrix_kernels_round_trip_through_text() {
    let m = parse("gemm.vyre", GEMM).unwrap_or_else(|d| panic!("{}", d.render()));
    let p = &m.kernels[0];
    assert!(p.validate().is_ok());
    assert_eq!(
        p.matrices,
        [
            MatrixDecl {
                name: "acc".into(),
                role: MatrixRole::Accumulator,
                elem: DataType::F32,
                shape: MatrixShape {
                    m: 32,
                    n: 32,
                    k: 16
                },
                scope: vyre::ir::MatrixScope::Subgroup,
            },
            MatrixDecl {
                name: "x".into(),
                role: MatrixRole::A,
                elem: DataType::BF16,
                shape: MatrixShape {
                    m: 32,
                    n: 32,
                    k: 16
                },
                scope: vyre::ir::MatrixScope::Subgroup,
            },
            MatrixDecl {
                name: "y".into(),
                role: MatrixRole::B,
                elem: DataType::BF16,
                shape: MatrixShape {
                    m: 32,
                    n: 32,
                    k: 16
                },
                scope: vyre::ir::MatrixScope::Subgroup,
            },
        ]
    );
    let text = print(p);
    for part in [
        "    let mut acc: MatrixAcc<f32, 32, 32, 16>;\n    let mut x: MatrixA<bf16, 32, 32, 16>;\n    let mut y: MatrixB<bf16, 32, 32, 16>;\n",
        "    acc = matrix_zero();\n",
        "async_copy(&mut ta, e, &a, (row0 + e / 32u32) * k + kk + e % 32u32, 8);",
        "        async_commit();\n        async_wait(0);\n        barrier();\n",
        "            x = matrix_load_a(&ta, wr * 32u32 + ks * 16u32, 32u32);\n",
        "            acc = matrix_mma(x, y, acc);\n",
        "    matrix_store(&mut c, (row0 + wr) * n + col0 + wc, n, acc);\n",
    ] {
        assert!(text.contains(part), "{part}\nnot in\n{text}");
    }
    assert!(!text.contains("#[locals("), "{text}");
    round_trip(p).unwrap_or_else(|e| panic!("{e}"));
    // Printing is a fixed point after one round.
    let again = parse("again.vyre", &text).unwrap();
    assert_eq!(print(&again.kernels[0]), text);

    let m = parse("forms.vyre", GEMM_FORMS).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(m.kernels.len(), 2);
    for p in &m.kernels {
        assert!(p.validate().is_ok());
        round_trip(p).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    let text = print(&m.kernels[1]);
    for part in [
        "let mut wt: MatrixB<bf16, 16, 16, 32>;",
        "c = matrix_fill(s * 0.5f32);",
        "async_copy(&mut tf, local_id().x * 4u32, &bias, local_id().x * 4u32, 4);",
        "async_wait(1);",
        "wt = matrix_load_b_col_major(&w, i * 512u32, 32u32);",
        "b = matrix_load_acc(&tf, 0u32, 16u32);",
        "d = matrix_mma(at, wt, b);",
        "matrix_store_col_major(&mut half, 0u32, 16u32, d);",
    ] {
        assert!(text.contains(part), "{part}\nnot in\n{text}");
    }
}

/// Random valid programs with matrices and copies (uniform control flow,
/// workgroups of whole subgroups), names that clash with locals and
/// keywords: `parse(print(p)) == p`.
fn random_matrix_program(seed: u64) -> Program {
    let mut g = Gen {
        state: seed | 1,
        p: Program::new("mk", [64, 1, 1]),
        scopes: vec![Vec::new()],
        loop_depth: 0,
        returned: false,
        budget: 0,
        collective_ok: false,
    };
    // Warpgroup accumulators need whole warpgroups (128 invocations).
    let warpgroups = g.chance(50);
    g.p.workgroup_size = if warpgroups {
        g.pick(&[[128, 1, 1], [256, 1, 1], [64, 2, 1], [8, 8, 2]])
    } else {
        g.pick(&[[32, 1, 1], [64, 1, 1], [256, 1, 1], [32, 2, 1], [8, 8, 2]])
    };
    g.p.unchecked = g.chance(20);
    for (name, elem, access) in [
        ("x", DataType::BF16, Access::Read),
        ("w", DataType::F16, Access::Read),
        ("y", DataType::F32, Access::ReadWrite),
        ("h", DataType::BF16, Access::ReadWrite),
        ("g", DataType::F16, Access::ReadWrite),
        ("r", DataType::F32, Access::Read),
    ] {
        g.p.params.push(Param::Buffer(BufferDecl {
            name: name.into(),
            elem,
            access,
        }));
    }
    g.p.params.push(Param::Scalar {
        name: "s".into(),
        ty: DataType::F32,
    });
    g.p.params.push(Param::Scalar {
        name: "n".into(),
        ty: DataType::U32,
    });
    // Any array may be swizzled (512 elements are 8 rows of 64 or 16 of
    // 32); the swizzled `sa`, `sb` and `sh` hold warpgroup tiles.
    for (name, elem, len, cols) in [
        ("tb", DataType::BF16, 512, 64),
        ("th", DataType::F16, 512, 64),
        ("tf", DataType::F32, 512, 32),
        ("sa", DataType::BF16, 64 * 64, 64),
        ("sb", DataType::BF16, 64 * 128, 128),
        ("sh", DataType::F16, 64 * 64, 64),
    ] {
        let layout = if name.starts_with('s') || g.chance(30) {
            SharedLayout::Swizzled { cols }
        } else {
            SharedLayout::Linear
        };
        g.p.shared.push(SharedDecl {
            name: name.into(),
            elem,
            len,
            layout,
        });
    }
    let shapes = [
        MatrixShape { m: 16, n: 8, k: 16 },
        MatrixShape {
            m: 32,
            n: 32,
            k: 16,
        },
        MatrixShape {
            m: 16,
            n: 16,
            k: 32,
        },
    ];
    let names = [
        "a", "b", "c", "acc", "type", "match", "frag", "v", "i", "x_1", "dd",
    ];
    let count = 1 + g.below(8) as usize;
    for name in names.iter().take(count) {
        let role = g.pick(&[MatrixRole::A, MatrixRole::B, MatrixRole::Accumulator]);
        let elem = match role {
            MatrixRole::Accumulator => DataType::F32,
            _ => g.pick(&[DataType::BF16, DataType::F16]),
        };
        let shape = g.pick(&shapes);
        g.p.matrices.push(MatrixDecl {
            name: (*name).into(),
            role,
            elem,
            shape,
            scope: vyre::ir::MatrixScope::Subgroup,
        });
    }
    if warpgroups {
        // Warpgroup accumulators of one or two shapes, some names shared
        // with the subgroup generator's (`acc` may be taken). Each shape's
        // `k` is another's `n`, so that an accumulator can be the `A` of a
        // multiply (64 x k).
        let wshapes = [
            MatrixShape { m: 64, n: 8, k: 16 },
            MatrixShape {
                m: 64,
                n: 64,
                k: 64,
            },
            MatrixShape {
                m: 64,
                n: 256,
                k: 32,
            },
            MatrixShape {
                m: 64,
                n: 16,
                k: 16,
            },
            MatrixShape {
                m: 64,
                n: 32,
                k: 64,
            },
        ];
        let first = g.pick(&wshapes);
        for name in ["wacc", "loop", "wd", "acc2", "wp", "fn"]
            .iter()
            .take(1 + g.below(6) as usize)
        {
            let shape = if g.chance(70) {
                first
            } else {
                g.pick(&wshapes)
            };
            g.p.matrices.push(MatrixDecl {
                name: (*name).into(),
                role: MatrixRole::Accumulator,
                elem: DataType::F32,
                shape,
                scope: MatrixScope::Warpgroup,
            });
        }
    }
    // Always one multiply that fits.
    let shape = g.pick(&shapes);
    let elem = g.pick(&[DataType::BF16, DataType::F16]);
    for (name, role, e) in [
        ("ma", MatrixRole::A, elem),
        ("mb", MatrixRole::B, elem),
        ("mc", MatrixRole::Accumulator, DataType::F32),
    ] {
        g.p.matrices.push(MatrixDecl {
            name: name.into(),
            role,
            elem: e,
            shape,
            scope: MatrixScope::Subgroup,
        });
    }
    g.p.body = matrix_block(&mut g, 0, 10);
    g.p
}

/// A `u32` offset or index: a literal, or a visible `u32` local times a
/// literal, plus a literal.
fn matrix_index(g: &mut Gen) -> Expr {
    let base = Expr::u32(g.below(64) as u32 * 8);
    let locals = g.visible(DataType::U32, false);
    if locals.is_empty() || g.chance(40) {
        return base;
    }
    let l = g.pick(&locals);
    Expr::local(l).mul(Expr::u32(8)).add(base)
}

/// A `matrix_map` body of type `ty` (`f32` or `u32`, or `bool` for a
/// condition) over the element's row, column and value, visible `u32`
/// locals, the parameters `s` and `n`, `workgroup_id`, loads from `f32`
/// buffers and the `f32` shared array, operators, casts, math and `if`:
/// everything a closure may use.
fn map_expr(g: &mut Gen, (row, col, value): (u32, u32, u32), ty: DataType, depth: u32) -> Expr {
    let rcv = (row, col, value);
    let leafy = depth > 3 || g.chance(30);
    match ty {
        DataType::Bool => {
            let op = g.pick(&[BinOp::Lt, BinOp::Ge, BinOp::Eq]);
            Expr::Binary(
                op,
                Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
                Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
            )
        }
        DataType::U32 if leafy => {
            let mut options = vec![
                Expr::Local(row),
                Expr::Local(col),
                Expr::param(7),
                Expr::u32(g.below(100) as u32),
                Expr::Builtin(Builtin::WorkgroupId, g.pick(&[Axis::X, Axis::Y])),
            ];
            options.extend(g.visible(DataType::U32, false).into_iter().map(Expr::Local));
            let k = g.below(options.len() as u64) as usize;
            options.swap_remove(k)
        }
        DataType::U32 => {
            let op = g.pick(&[BinOp::Add, BinOp::Mul, BinOp::Sub]);
            Expr::Binary(
                op,
                Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
                Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
            )
        }
        _ if leafy => match g.below(4) {
            0 => Expr::Lit(g.literal(DataType::F32)),
            1 => Expr::param(6),
            _ => Expr::Local(value),
        },
        _ => match g.below(6) {
            0 => Expr::Load {
                // `y`, `r` or the shared `tf`.
                buf: g.pick(&[BufRef::Param(2), BufRef::Param(5), BufRef::Shared(2)]),
                index: Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
            },
            1 => Expr::Cast(
                DataType::F32,
                Box::new(map_expr(g, rcv, DataType::U32, depth + 1)),
            ),
            2 => {
                let f = g.pick(&[MathFn::Exp, MathFn::Max, MathFn::Abs]);
                Expr::Math(
                    f,
                    (0..f.arity())
                        .map(|_| map_expr(g, rcv, DataType::F32, depth + 1))
                        .collect(),
                )
            }
            3 => Expr::Select {
                cond: Box::new(map_expr(g, rcv, DataType::Bool, depth + 1)),
                then: Box::new(map_expr(g, rcv, DataType::F32, depth + 1)),
                otherwise: Box::new(map_expr(g, rcv, DataType::F32, depth + 1)),
            },
            _ => {
                let op = g.pick(&[BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]);
                Expr::Binary(
                    op,
                    Box::new(map_expr(g, rcv, DataType::F32, depth + 1)),
                    Box::new(map_expr(g, rcv, DataType::F32, depth + 1)),
                )
            }
        },
    }
}

fn matrix_block(g: &mut Gen, depth: u32, n: u32) -> Vec<Node> {
    g.scopes.push(Vec::new());
    let mut out = Vec::new();
    for _ in 0..1 + g.below(u64::from(n)) {
        if let Some(node) = matrix_node(g, depth) {
            out.push(node);
        }
    }
    g.scopes.pop();
    out
}

fn matrix_node(g: &mut Gen, depth: u32) -> Option<Node> {
    let ms = g.p.matrices.clone();
    let of = |role: MatrixRole| -> Vec<u32> {
        (0..ms.len() as u32)
            .filter(|&i| ms[i as usize].role == role)
            .collect()
    };
    let (accs, as_, bs) = (
        of(MatrixRole::Accumulator),
        of(MatrixRole::A),
        of(MatrixRole::B),
    );
    let warpgroup = |i: &u32| ms[*i as usize].scope == MatrixScope::Warpgroup;
    let waccs: Vec<u32> = accs.iter().copied().filter(warpgroup).collect();
    let subgroup: Vec<u32> = (0..ms.len() as u32).filter(|i| !warpgroup(i)).collect();
    let layout = g.pick(&[MatrixLayout::RowMajor, MatrixLayout::ColMajor]);
    Some(match g.below(17) {
        0 if !accs.is_empty() => {
            let matrix = g.pick(&accs);
            let value = match g.below(3) {
                0 => Expr::f32(0.0),
                1 => Expr::Lit(g.literal(DataType::F32)),
                _ => Expr::param(6).mul(Expr::f32(2.0)),
            };
            Node::Matrix(MatrixOp::Fill { matrix, value })
        }
        1 | 2 => {
            let matrix = g.pick(&subgroup);
            let elem = ms[matrix as usize].elem;
            let bufs: Vec<BufRef> = g
                .bufs(Some(elem), false)
                .into_iter()
                .filter(|b| !matches!(b, BufRef::Private(_)))
                .collect();
            Node::Matrix(MatrixOp::Load {
                matrix,
                buf: g.pick(&bufs),
                offset: matrix_index(g),
                stride: Expr::u32(8 * (1 + g.below(8) as u32)),
                layout,
                clip: None,
            })
        }
        3 if !accs.is_empty() => {
            let bufs: Vec<BufRef> = g
                .bufs(None, true)
                .into_iter()
                .filter(|b| {
                    !matches!(b, BufRef::Private(_))
                        && matches!(
                            g.p.elem_type(*b),
                            Some(DataType::F32 | DataType::F16 | DataType::BF16)
                        )
                })
                .collect();
            Node::Matrix(MatrixOp::Store {
                matrix: g.pick(&accs),
                buf: g.pick(&bufs),
                offset: matrix_index(g),
                stride: Expr::u32(64),
                layout,
                clip: None,
            })
        }
        4 | 5 => {
            // Any fitting combination, `d` and `c` often the same.
            let sub_accs: Vec<u32> = accs.iter().copied().filter(|i| !warpgroup(i)).collect();
            let mut combos = Vec::new();
            for &d in &sub_accs {
                for &c in &sub_accs {
                    for &a in &as_ {
                        for &b in &bs {
                            let sh = ms[d as usize].shape;
                            if [c, a, b].iter().all(|&m| ms[m as usize].shape == sh)
                                && ms[a as usize].elem == ms[b as usize].elem
                            {
                                combos.push((d, a, b, c));
                            }
                        }
                    }
                }
            }
            let same: Vec<_> = combos.iter().copied().filter(|(d, .., c)| d == c).collect();
            let pool = if !same.is_empty() && g.chance(60) {
                same
            } else {
                combos
            };
            let (d, a, b, c) = g.pick(&pool);
            Node::Matrix(MatrixOp::MultiplyAdd { d, a, b, c })
        }
        6 => {
            let (dst, src, elem) = g.pick(&[
                (0u32, 0u32, DataType::BF16),
                (1, 1, DataType::F16),
                (2, 2, DataType::F32),
                (2, 5, DataType::F32),
                (0, 3, DataType::BF16),
            ]);
            let counts: Vec<u32> = [1u32, 2, 4, 8, 16]
                .into_iter()
                .filter(|&c| AsyncOp::is_copy_size(elem, c))
                .collect();
            Node::Async(AsyncOp::Copy {
                dst,
                dst_index: matrix_index(g),
                src,
                src_index: matrix_index(g),
                count: g.pick(&counts),
            })
        }
        11 | 12 if !waccs.is_empty() => {
            let pairs: Vec<(u32, u32)> = waccs
                .iter()
                .flat_map(|&d| waccs.iter().map(move |&c| (d, c)))
                .filter(|&(d, c)| ms[d as usize].shape == ms[c as usize].shape)
                .collect();
            let same: Vec<_> = pairs.iter().copied().filter(|(d, c)| d == c).collect();
            let pool = if g.chance(60) { same } else { pairs };
            let (d, c) = g.pick(&pool);
            // A and B of one element type, from any array of it (swizzled
            // or not); B row- or column-major.
            let (a, b) = g.pick(&[(3u32, 4u32), (4, 3), (0, 4), (3, 3), (5, 1), (1, 5), (5, 5)]);
            let tile = |g: &mut Gen, array: u32, layout| SharedTile {
                array,
                offset: matrix_index(g),
                stride: Expr::u32(8 * (1 + g.below(16) as u32)),
                layout,
            };
            let b_layout = g.pick(&[MatrixLayout::RowMajor, MatrixLayout::ColMajor]);
            let (a, b) = (
                WarpgroupOperand::Shared(tile(g, a, MatrixLayout::RowMajor)),
                tile(g, b, b_layout),
            );
            // Or A from another accumulator of 64 x k.
            let ps: Vec<u32> = waccs
                .iter()
                .copied()
                .filter(|&p| p != d && p != c && ms[p as usize].shape.n == ms[d as usize].shape.k)
                .collect();
            let a = if !ps.is_empty() && g.chance(40) {
                WarpgroupOperand::Accumulator(g.pick(&ps))
            } else {
                a
            };
            if g.chance(15) {
                return Some(Node::Matrix(MatrixOp::WarpgroupWait {
                    pending: g.below(u64::from(vyre::ir::MAX_PENDING_WARPGROUP_MULTIPLIES) + 1)
                        as u32,
                }));
            }
            Node::Matrix(MatrixOp::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous: g.chance(50),
            })
        }
        13 if !waccs.is_empty() => {
            // Into an accumulator of the same size, often itself.
            let src = g.pick(&waccs);
            let size = |m: u32| (ms[m as usize].shape.m, ms[m as usize].shape.n);
            let ds: Vec<u32> = waccs
                .iter()
                .copied()
                .filter(|&d| size(d) == size(src))
                .collect();
            let d = if g.chance(50) { src } else { g.pick(&ds) };
            let row = g.new_local(DataType::U32, false);
            let col = g.new_local(DataType::U32, false);
            let value = g.new_local(DataType::F32, false);
            let expr = map_expr(g, (row, col, value), DataType::F32, 0);
            Node::Matrix(MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            })
        }
        14 if !waccs.is_empty() => Node::Matrix(MatrixOp::RowReduce {
            op: g.pick(&[RowReduceOp::Max, RowReduceOp::Add]),
            src: g.pick(&waccs),
            // `tf`, the `f32` array.
            dst: 2,
            offset: matrix_index(g),
        }),
        7 => Node::Async(AsyncOp::Commit),
        8 => Node::Async(AsyncOp::Wait {
            pending: g.pick(&[0, 1, 3, i32::MAX as u32, u32::MAX]),
        }),
        9 if depth < 2 => {
            let var = g.new_local(DataType::U32, false);
            let unroll = g.chance(40);
            let end = if unroll {
                Expr::u32(1 + g.below(3) as u32)
            } else {
                Expr::param(7)
            };
            g.scopes.push(vec![var]);
            let body = matrix_block(g, depth + 1, 4);
            g.scopes.pop();
            Node::For {
                var,
                start: Expr::u32(0),
                end,
                step: 1,
                unroll,
                body,
            }
        }
        10 if depth < 2 => Node::If {
            cond: Expr::param(6).gt(Expr::f32(0.5)),
            then: matrix_block(g, depth + 1, 3),
            otherwise: if g.chance(50) {
                matrix_block(g, depth + 1, 2)
            } else {
                Vec::new()
            },
        },
        _ => {
            let mutable = g.chance(50);
            let local = g.new_local(DataType::U32, mutable);
            let value = matrix_index(g);
            g.scopes.last_mut()?.push(local);
            Node::Let { local, value }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_matrix_programs_round_trip(seed in any::<u64>()) {
        let p = random_matrix_program(seed);
        prop_assert!(p.validate().is_ok(), "generator made an invalid program: {:?}\n{p:#?}", p.validate());
        if let Err(e) = round_trip(&p) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The matrix generator reaches every statement, both layouts, unrolled
/// loops, and the `#[locals]` fallback (a local named like a matrix).
#[test]
fn matrix_generator_covers_every_statement() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..300u64 {
        let p = random_matrix_program(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let text = print(&p);
        if text.contains("#[locals(") {
            seen.insert("locals attribute");
        }
        if text.contains("r#type") || text.contains("r#match") {
            seen.insert("keyword name");
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            let k = match n {
                Node::Matrix(MatrixOp::Fill { .. }) => "fill",
                Node::Matrix(MatrixOp::Load {
                    layout: MatrixLayout::RowMajor,
                    ..
                }) => "load",
                Node::Matrix(MatrixOp::Load { .. }) => "load col",
                Node::Matrix(MatrixOp::Store {
                    layout: MatrixLayout::RowMajor,
                    ..
                }) => "store",
                Node::Matrix(MatrixOp::Store { .. }) => "store col",
                Node::Matrix(MatrixOp::MultiplyAdd { d, c, .. }) if d == c => "mma",
                Node::Matrix(MatrixOp::MultiplyAdd { .. }) => "mma into another",
                Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { d, c, .. }) if d == c => {
                    "warpgroup mma"
                }
                Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { .. }) => "warpgroup mma into another",
                Node::Async(AsyncOp::Copy { .. }) => "copy",
                Node::Async(AsyncOp::Commit) => "commit",
                Node::Async(AsyncOp::Wait { .. }) => "wait",
                Node::For { unroll: true, .. } => "unrolled for",
                _ => return,
            };
            seen.insert(k);
        });
        let wg = |m: &u32| p.matrices[*m as usize].scope == MatrixScope::Warpgroup;
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            let k = match n {
                Node::Matrix(MatrixOp::WarpgroupMultiplyAdd {
                    a: WarpgroupOperand::Accumulator(_),
                    ..
                }) => "accumulator A",
                Node::Matrix(MatrixOp::Map { d, src, .. }) if d == src => "map in place",
                Node::Matrix(MatrixOp::Map { .. }) => "map",
                Node::Matrix(MatrixOp::RowReduce {
                    op: RowReduceOp::Max,
                    ..
                }) => "row max",
                Node::Matrix(MatrixOp::RowReduce { .. }) => "row sum",
                _ => return,
            };
            seen.insert(k);
        });
        if text.contains("= warpgroup_mma_t(") {
            seen.insert("column-major B");
        }
        if text.contains("= warpgroup_mma_t_async(") {
            seen.insert("column-major B async");
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| match n {
            Node::Matrix(MatrixOp::Fill { matrix, .. }) if wg(matrix) => {
                seen.insert("warpgroup fill");
            }
            Node::Matrix(MatrixOp::Store { matrix, .. }) if wg(matrix) => {
                seen.insert("warpgroup store");
            }
            _ => {}
        });
        if text.contains("#[shared(swizzled, cols = 32)]") {
            seen.insert("swizzled f32");
        }
        if text.contains("let mut r#loop: WarpgroupAcc<f32, 64,") {
            seen.insert("warpgroup keyword name");
        }
    }
    assert_eq!(seen.len(), 26, "{seen:?}");
}

/// A GEMM whose edge tiles are clipped: one warp per 32x32 tile of `c`
/// (`m x n`, no padding), operands loaded clipped from the buffers.
const GEMM_CLIPPED: &str = r"
#[kernel(workgroup_size = 32)]
pub fn gemm_edge(a: &[bf16], b: &[bf16], c: &mut [f32], m: u32, n: u32, k: u32) {
    let row0 = workgroup_id().y * 32;
    let col0 = workgroup_id().x * 32;
    let mut acc = matrix_zero::<f32, 32, 32, 16>();
    for kk in (0..k).step_by(16) {
        let x = matrix_load_a::<bf16, 32, 32, 16>(&a, row0 * k + kk, k, m - m.min(row0), k - kk);
        let y = matrix_load_b_col_major::<bf16, 32, 32, 16>(&b, col0 * k + kk, k, k - kk, n - n.min(col0));
        acc = matrix_mma(x, y, acc);
    }
    matrix_store(&mut c, row0 * n + col0, n, acc, m - m.min(row0), n - n.min(col0));
    matrix_store_col_major(&mut c, 0, m, acc, 3, 5);
}
";

#[test]
fn clipped_matrix_statements_round_trip_through_text() {
    let m = parse("edge.vyre", GEMM_CLIPPED).unwrap_or_else(|d| panic!("{}", d.render()));
    let p = &m.kernels[0];
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let text = print(p);
    for part in [
        "x = matrix_load_a(&a, row0 * k + kk, k, m - m.min(row0), k - kk);",
        "y = matrix_load_b_col_major(&b, col0 * k + kk, k, k - kk, n - n.min(col0));",
        "matrix_store(&mut c, row0 * n + col0, n, acc, m - m.min(row0), n - n.min(col0));",
        "matrix_store_col_major(&mut c, 0u32, m, acc, 3u32, 5u32);",
    ] {
        assert!(text.contains(part), "{part}\nnot in\n{text}");
    }
    round_trip(p).unwrap_or_else(|e| panic!("{e}"));
    let again = parse("again.vyre", &text).unwrap();
    assert_eq!(print(&again.kernels[0]), text);
}

/// A Hopper-style GEMM: one warpgroup per 64-row slice of a 128x128 tile,
/// operands staged into swizzled shared arrays, accumulated by
/// `warpgroup_mma`.
const GEMM_WARPGROUP: &str = r"
const BM: u32 = 128;
#[kernel(workgroup_size = 256, instances(n128 = (BN = 128, BK = 64)))]
pub fn wg_gemm<const BN: u32, const BK: u32>(a: &[bf16], b: &[bf16], c: &mut [f32], m: u32, n: u32, k: u32) {
    #[shared(swizzled, cols = BK)]
    let mut ta: [bf16; { BM * BK }];
    #[shared(swizzled, cols = { BN })]
    let mut tb: [bf16; { BK * BN }];
    let wg = local_id().x / 128;
    let row0 = workgroup_id().y * BM;
    let col0 = workgroup_id().x * BN;
    let mut acc = warpgroup_zero::<f32, 64, BN, BK>();
    let mut bias: WarpgroupAcc<f32, 64, BN, BK>;
    bias = warpgroup_fill(0.5);
    for kk in (0..k).step_by(64) {
        for e in (local_id().x * 8..BM * BK).step_by(2048) {
            async_copy(&mut ta, e, &a, (row0 + e / BK) * k + kk + e % BK, 8);
        }
        for e in (local_id().x * 8..BK * BN).step_by(2048) {
            async_copy(&mut tb, e, &b, (kk + e / BN) * n + col0 + e % BN, 8);
        }
        async_commit();
        async_wait(0);
        barrier();
        acc = warpgroup_mma(&ta, wg * 64 * BK, BK, &tb, 0, BN, acc);
        barrier();
    }
    let d = warpgroup_mma(&ta, 0, BK, &tb, 0, BN, bias);
    matrix_store(&mut c, (row0 + wg * 64) * n + col0, n, acc, m - m.min(row0 + wg * 64), n - n.min(col0));
    matrix_store_col_major(&mut c, 0, 64, d);
}
";

#[test]
fn warpgroup_kernels_round_trip_through_text() {
    let m = parse("wg.vyre", GEMM_WARPGROUP).unwrap_or_else(|d| panic!("{}", d.render()));
    let p = &m.kernels[0];
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    assert_eq!(p.shared[0].layout, SharedLayout::Swizzled { cols: 64 });
    assert_eq!(p.shared[1].layout, SharedLayout::Swizzled { cols: 128 });
    assert!(p.matrices.iter().all(|m| m.scope == MatrixScope::Warpgroup));
    let text = print(p);
    for part in [
        "    #[shared(swizzled, cols = 64)]\n    let mut ta: [bf16; 8192];\n",
        "    #[shared(swizzled, cols = 128)]\n    let mut tb: [bf16; 8192];\n",
        "    let mut acc: WarpgroupAcc<f32, 64, 128, 64>;\n    let mut bias: WarpgroupAcc<f32, 64, 128, 64>;\n    let mut d: WarpgroupAcc<f32, 64, 128, 64>;\n",
        "    acc = warpgroup_zero();\n",
        "    bias = warpgroup_fill(0.5f32);\n",
        "        acc = warpgroup_mma(&ta, wg * 64u32 * 64u32, 64u32, &tb, 0u32, 128u32, acc);\n",
        "    d = warpgroup_mma(&ta, 0u32, 64u32, &tb, 0u32, 128u32, bias);\n",
        "    matrix_store(&mut c, (row0 + wg * 64u32) * n + col0, n, acc, m - m.min(row0 + wg * 64u32), n - n.min(col0));\n",
        "    matrix_store_col_major(&mut c, 0u32, 64u32, d);\n",
    ] {
        assert!(text.contains(part), "{part}\nnot in\n{text}");
    }
    round_trip(p).unwrap_or_else(|e| panic!("{e}"));
    let again = parse("again.vyre", &text).unwrap();
    assert_eq!(print(&again.kernels[0]), text);
}

#[test]
fn asynchronous_warpgroup_multiplies_round_trip() {
    // The bench's warpgroup GEMMs: `warpgroup_mma_async` in the loop,
    // `warpgroup_wait()` (or `(1)`) before the barrier and before the store
    // (the persistent `gemm_wgp`: before each tile's store and each zero
    // tile's store (k = 0) in the loop too).
    let src = include_str!("../bench/kernels/gemm_wg.vyre");
    let m = parse("gemm_wg.vyre", src).unwrap_or_else(|d| panic!("{}", d.render()));
    for p in &m.kernels {
        let stores = if p.name.starts_with("gemm_wgp") { 3 } else { 1 };
        assert!(p.validate().is_ok(), "{:?}", p.validate());
        let mut asynchronous = 0;
        let mut waits = 0;
        vyre::ir::walk_nodes(&p.body, &mut |n| match n {
            Node::Matrix(MatrixOp::WarpgroupMultiplyAdd {
                asynchronous: true, ..
            }) => {
                asynchronous += 1;
            }
            Node::Matrix(MatrixOp::WarpgroupWait { .. }) => waits += 1,
            _ => {}
        });
        assert_eq!((asynchronous, waits), (1, 1 + stores), "{}", p.name);
        let text = print(p);
        assert!(text.contains(" = warpgroup_mma_async(&ta, "), "{text}");
        // W = 1 instances leave the last multiply running at the barrier.
        let in_loop = if p.name.contains("_w1") {
            "warpgroup_wait(1);"
        } else {
            "warpgroup_wait();"
        };
        assert_eq!(
            text.matches(in_loop).count(),
            1 + usize::from(in_loop == "warpgroup_wait();") * stores,
            "{text}"
        );
        assert_eq!(text.matches("warpgroup_wait").count(), 1 + stores, "{text}");
        round_trip(p).unwrap_or_else(|e| panic!("{e}"));
        let again = parse("again.vyre", &text).unwrap();
        assert_eq!(&again.kernels[0], p);
        let wire = vyre::ir::wire::to_wire(p);
        assert_eq!(&vyre::ir::wire::from_wire(&wire).unwrap(), p);
    }
}

/// One attention step as a kernel author writes it: `S = Q · Kᵀ` by
/// `warpgroup_mma_t`, the row maxima, `P = exp(S · scale - max)` by
/// `matrix_map` (a helper inlined into the closure), the row sums, and
/// `O += P · V` with `P` still in registers.
const ATTENTION: &str = r"
fn scaled(x: f32, k: f32) -> f32 { x * k }
#[kernel(workgroup_size = 128)]
pub fn attn(o: &mut [f32], scale: f32, n: u32) {
    #[shared(swizzled, cols = 64)] let mut tq: [bf16; 4096];
    #[shared(swizzled, cols = 64)] let mut tk: [bf16; 4096];
    #[shared(swizzled, cols = 64)] let mut tv: [bf16; 4096];
    #[shared] let mut m: [f32; 64];
    #[shared] let mut l: [f32; 64];
    let mut s = warpgroup_zero::<f32, 64, 64, 64>();
    s = warpgroup_mma_t(&tq, 0, 64, &tk, 0, 64, s);
    matrix_row_max(&mut m, 0, s);
    let p = matrix_map(s, |r, c, v| (scaled(v, scale) - m[r]).exp());
    matrix_row_sum(&mut l, 0, p);
    let mut acc = warpgroup_zero::<f32, 64, 64, 64>();
    acc = warpgroup_mma_async(p, &tv, 0, 64, acc);
    warpgroup_wait();
    acc = warpgroup_mma_t_async(p, &tk, 0, 64, acc);
    warpgroup_wait();
    acc = matrix_map(acc, |_, c: u32, v: f32| -> f32 { if c < n { v / l[c] } else { 0.0 } });
    matrix_store(&mut o, 0, 64, acc);
}
";

#[test]
fn attention_kernel_round_trips_through_text() {
    let m = parse("attn.vyre", ATTENTION).unwrap_or_else(|d| panic!("{}", d.render()));
    let p = &m.kernels[0];
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let text = print(p);
    for part in [
        "    s = warpgroup_mma_t(&tq, 0u32, 64u32, &tk, 0u32, 64u32, s);\n",
        "    matrix_row_max(&mut m, 0u32, s);\n",
        "    p = matrix_map(s, |r, c, v| (v * scale - m[r]).exp());\n",
        "    matrix_row_sum(&mut l, 0u32, p);\n",
        "    acc = warpgroup_mma_async(p, &tv, 0u32, 64u32, acc);\n",
        "    acc = warpgroup_mma_t_async(p, &tk, 0u32, 64u32, acc);\n",
        // `_` got a local named `row`.
        "    acc = matrix_map(acc, |row, c_1, v_1| if c_1 < n { v_1 / l[c_1] } else { 0.0f32 });\n",
    ] {
        assert!(text.contains(part), "{part}\nnot in\n{text}");
    }
    assert!(!text.contains("#[locals("), "{text}");
    round_trip(p).unwrap_or_else(|e| panic!("{e}"));
    let again = parse("again.vyre", &text).unwrap();
    assert_eq!(print(&again.kernels[0]), text);
}

/// A map whose locals are not identifiers or are also used outside the
/// closure prints with `#[locals(...)]`, where the closure names the
/// declared locals; one whose row and column are one local is rejected.
#[test]
fn map_locals_the_text_cannot_scope_use_the_locals_attribute() {
    let m = parse("attn.vyre", ATTENTION).unwrap_or_else(|d| panic!("{}", d.render()));
    let base = m.kernels[0].clone();
    let maps = |p: &mut Program, f: &mut dyn FnMut(&mut u32, &mut u32, &mut u32)| {
        for n in &mut p.body {
            if let Node::Matrix(MatrixOp::Map {
                row, col, value, ..
            }) = n
            {
                f(row, col, value);
            }
        }
    };
    // Row and column one local: not a program (one local cannot hold
    // both).
    let mut p = base.clone();
    let mut first = true;
    maps(&mut p, &mut |row, col, _| {
        if std::mem::take(&mut first) {
            *col = *row;
        }
    });
    let errors = p.validate().expect_err("row = col is rejected");
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("three different locals")),
        "{errors:?}"
    );
    // Names that are not identifiers, and a keyword.
    let mut p = base.clone();
    p.locals[0].name = "odd name".into();
    p.locals[2].name = "type".into();
    let text = print(&p);
    assert!(
        text.contains("matrix_map(s, |__local0, c, r#type| (r#type * scale - m[__local0]).exp())"),
        "{text}"
    );
    round_trip(&p).unwrap_or_else(|e| panic!("{e}"));
    // The second map reuses the first one's locals.
    let mut p = base;
    maps(&mut p, &mut |row, col, value| {
        (*row, *col, *value) = (0, 1, 2);
    });
    for n in &mut p.body {
        if let Node::Matrix(MatrixOp::Map { expr, .. }) = n {
            remap_expr(expr, &[0, 1, 2, 0, 1, 2]);
        }
    }
    p.locals.truncate(3);
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let text = print(&p);
    assert!(text.contains("#[locals("), "{text}");
    round_trip(&p).unwrap_or_else(|e| panic!("{e}"));
}
