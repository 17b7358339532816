//! The wire format: round trips, hostile input, limits.

use proptest::prelude::*;
use vyre::ir::wire::{MAX_DEPTH, VERSION, WireError, from_wire, to_wire};
use vyre::ir::{
    Access, AtomicCall, AtomicOp, AtomicResult, Axis, BinOp, BufRef, Builtin, DataType, Expr,
    Literal, MathFn, Node, Program, ProgramBuilder, UnOp,
};

// Fixed declarations every generated program shares (see `build`).
const P_BOOL: u32 = 0;
const P_I32: u32 = 1;
const P_U32: u32 = 2;
const P_F32: u32 = 3;
const B_I32: u32 = 4;
const B_U32: u32 = 5;
const B_F32: u32 = 6;
const B_RO_F32: u32 = 7;
const S_I32: u32 = 0;
const S_U32: u32 = 1;
const S_F32: u32 = 2;
const L_BOOL: u32 = 0;
const L_I32: u32 = 1;
const L_U32: u32 = 2;
const L_F32: u32 = 3;
const L_FOR_I32: u32 = 4;
const L_FOR_U32: u32 = 5;
// The 64-bit declarations, after the 32-bit ones.
const P_U64: u32 = 8;
const P_I64: u32 = 9;
const P_F64: u32 = 10;
const B_U64: u32 = 11;
const B_I64: u32 = 12;
const B_F64: u32 = 13;
const S_I64: u32 = 3;
const S_F64: u32 = 4;
const L_U64: u32 = 6;
const L_I64: u32 = 7;
const L_F64: u32 = 8;

const TYPES: [DataType; 7] = [
    DataType::Bool,
    DataType::I32,
    DataType::U32,
    DataType::F32,
    DataType::U64,
    DataType::I64,
    DataType::F64,
];

fn local_of(t: DataType) -> u32 {
    match t {
        DataType::Bool => L_BOOL,
        DataType::I32 => L_I32,
        DataType::U32 => L_U32,
        DataType::F32 => L_F32,
        DataType::U64 => L_U64,
        DataType::I64 => L_I64,
        DataType::F64 => L_F64,
        narrow => unreachable!("no local of type `{narrow}` in this test"),
    }
}

fn lit(t: DataType) -> BoxedStrategy<Expr> {
    match t {
        DataType::Bool => any::<bool>()
            .prop_map(|b| Expr::Lit(Literal::Bool(b)))
            .boxed(),
        DataType::I32 => any::<i32>()
            .prop_map(|v| Expr::Lit(Literal::I32(v)))
            .boxed(),
        DataType::U32 => any::<u32>()
            .prop_map(|v| Expr::Lit(Literal::U32(v)))
            .boxed(),
        // Any bit pattern, NaN payloads included.
        DataType::F32 => any::<u32>()
            .prop_map(|v| Expr::Lit(Literal::F32(v)))
            .boxed(),
        // Any bits, and the edges: extremes, values around 2^32 and
        // 2^53, NaNs with payloads and signs, -0.0, infinities, subnormals.
        DataType::U64 | DataType::I64 | DataType::F64 => {
            let edges: Vec<u64> = match t {
                DataType::F64 => vec![
                    f64::NAN.to_bits(),
                    0x7ff0_0000_0000_0001,
                    0xfff8_dead_beef_0001,
                    f64::INFINITY.to_bits(),
                    f64::NEG_INFINITY.to_bits(),
                    (-0.0f64).to_bits(),
                    1,
                    0x800f_ffff_ffff_ffff,
                    f64::MAX.to_bits(),
                    2f64.powi(53).to_bits(),
                ],
                _ => vec![
                    0,
                    1,
                    u64::MAX,
                    i64::MIN.cast_unsigned(),
                    i64::MAX.cast_unsigned(),
                    1 << 32,
                    (1 << 32) - 1,
                    1 << 53,
                    (1 << 53) + 1,
                ],
            };
            prop_oneof![any::<u64>(), proptest::sample::select(edges)]
                .prop_map(move |v| Expr::Lit(Literal::from_bits64(t, v)))
                .boxed()
        }
        narrow => any::<u16>()
            .prop_map(move |v| Expr::Lit(Literal::from_bits(narrow, u32::from(v))))
            .boxed(),
    }
}

/// Shift amounts: any integer type.
fn shift_ty() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::I32),
        Just(DataType::U32),
        Just(DataType::U64),
        Just(DataType::I64)
    ]
}

fn axis() -> impl Strategy<Value = Axis> {
    prop_oneof![Just(Axis::X), Just(Axis::Y), Just(Axis::Z)]
}

fn int_ty() -> impl Strategy<Value = DataType> {
    prop_oneof![Just(DataType::I32), Just(DataType::U32)]
}

fn index_expr() -> BoxedStrategy<Expr> {
    prop_oneof![
        lit(DataType::U32),
        lit(DataType::I32),
        Just(Expr::Local(L_U32)),
        Just(Expr::Local(L_I32)),
        axis().prop_map(|a| Expr::Builtin(Builtin::GlobalId, a)),
    ]
    .boxed()
}

fn loadable(t: DataType) -> Vec<BufRef> {
    match t {
        DataType::I32 => vec![BufRef::Param(B_I32), BufRef::Shared(S_I32)],
        DataType::U32 => vec![BufRef::Param(B_U32), BufRef::Shared(S_U32)],
        DataType::F32 => vec![
            BufRef::Param(B_F32),
            BufRef::Param(B_RO_F32),
            BufRef::Shared(S_F32),
        ],
        DataType::U64 => vec![BufRef::Param(B_U64)],
        DataType::I64 => vec![BufRef::Param(B_I64), BufRef::Shared(S_I64)],
        DataType::F64 => vec![BufRef::Param(B_F64), BufRef::Shared(S_F64)],
        _ => vec![],
    }
}

fn leaf(t: DataType) -> BoxedStrategy<Expr> {
    let param = match t {
        DataType::Bool => P_BOOL,
        DataType::I32 => P_I32,
        DataType::U32 => P_U32,
        DataType::F32 => P_F32,
        DataType::U64 => P_U64,
        DataType::I64 => P_I64,
        DataType::F64 => P_F64,
        narrow => unreachable!("no parameter of type `{narrow}` in this test"),
    };
    let mut options = vec![
        lit(t),
        Just(Expr::Local(local_of(t))).boxed(),
        Just(Expr::Param(param)).boxed(),
    ];
    if t == DataType::U32 {
        let builtin = prop_oneof![
            Just(Builtin::GlobalId),
            Just(Builtin::LocalId),
            Just(Builtin::WorkgroupId),
            Just(Builtin::NumWorkgroups)
        ];
        options.push(
            (builtin, axis())
                .prop_map(|(b, a)| Expr::Builtin(b, a))
                .boxed(),
        );
        options.push(
            prop_oneof![B_I32..=B_RO_F32, B_U64..=B_F64]
                .prop_map(Expr::Len)
                .boxed(),
        );
    }
    let bufs = loadable(t);
    if !bufs.is_empty() {
        options.push(
            (proptest::sample::select(bufs), index_expr())
                .prop_map(|(buf, index)| Expr::load(buf, index))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

fn expr(t: DataType, depth: u32) -> BoxedStrategy<Expr> {
    if depth == 0 {
        return leaf(t);
    }
    let sub = move |t| expr(t, depth - 1);
    let mut options: Vec<BoxedStrategy<Expr>> = vec![leaf(t)];
    // Unary.
    if t.is_signed() || t.is_float() {
        options.push(
            sub(t)
                .prop_map(|e| Expr::Unary(UnOp::Neg, Box::new(e)))
                .boxed(),
        );
    }
    if !t.is_float() {
        options.push(
            sub(t)
                .prop_map(|e| Expr::Unary(UnOp::Not, Box::new(e)))
                .boxed(),
        );
    }
    // Binary producing `t` from `t` operands.
    let mut ops = Vec::new();
    if t != DataType::Bool {
        ops.extend([BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]);
    }
    // (`%` is not defined on `f64`.)
    if t != DataType::Bool && t != DataType::F64 {
        ops.push(BinOp::Rem);
    }
    if !t.is_float() {
        ops.extend([BinOp::BitAnd, BinOp::BitOr, BinOp::BitXor]);
    }
    if t == DataType::Bool {
        ops.extend([BinOp::And, BinOp::Or]);
    }
    options.push(
        (proptest::sample::select(ops), sub(t), sub(t))
            .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b)))
            .boxed(),
    );
    if t.is_integer() {
        let shift = prop_oneof![Just(BinOp::Shl), Just(BinOp::Shr)];
        let rhs = shift_ty().prop_flat_map(move |r| expr(r, depth - 1));
        options.push(
            (shift, sub(t), rhs)
                .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b)))
                .boxed(),
        );
    }
    if t == DataType::Bool {
        let cmp = (
            proptest::sample::select(TYPES.to_vec()),
            proptest::sample::select(vec![
                BinOp::Eq,
                BinOp::Ne,
                BinOp::Lt,
                BinOp::Le,
                BinOp::Gt,
                BinOp::Ge,
            ]),
        )
            .prop_flat_map(move |(ot, op)| {
                // Ordering comparisons need a non-bool operand type.
                let ot = if ot == DataType::Bool && !matches!(op, BinOp::Eq | BinOp::Ne) {
                    DataType::U32
                } else {
                    ot
                };
                (Just(op), expr(ot, depth - 1), expr(ot, depth - 1))
            })
            .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b)));
        options.push(cmp.boxed());
    }
    // Casts to `t`.
    let from: Vec<DataType> = if t == DataType::Bool {
        vec![DataType::Bool]
    } else {
        TYPES.to_vec()
    };
    options.push(
        proptest::sample::select(from)
            .prop_flat_map(move |f| expr(f, depth - 1))
            .prop_map(move |e| Expr::Cast(t, Box::new(e)))
            .boxed(),
    );
    // Math.
    let fns: Vec<MathFn> = MathFn::ALL
        .into_iter()
        .filter(|f| vyre::ir::validate::math_type(*f, &vec![t; f.arity()]).is_some())
        .collect();
    if !fns.is_empty() {
        options.push(
            proptest::sample::select(fns)
                .prop_flat_map(move |f| {
                    (
                        Just(f),
                        proptest::collection::vec(expr(t, depth - 1), f.arity()),
                    )
                })
                .prop_map(|(f, args)| Expr::Math(f, args))
                .boxed(),
        );
    }
    // Select.
    options.push(
        (sub(DataType::Bool), sub(t), sub(t))
            .prop_map(|(c, a, b)| Expr::select(c, a, b))
            .boxed(),
    );
    proptest::strategy::Union::new(options).boxed()
}

fn atomic() -> BoxedStrategy<(DataType, AtomicCall)> {
    (
        proptest::sample::select(AtomicOp::ALL.to_vec()),
        prop_oneof![
            Just((DataType::I32, BufRef::Param(B_I32))),
            Just((DataType::U32, BufRef::Param(B_U32))),
            Just((DataType::I32, BufRef::Shared(S_I32))),
            Just((DataType::U32, BufRef::Shared(S_U32))),
        ],
    )
        .prop_flat_map(|(op, (t, buf))| {
            (
                Just(op),
                Just(t),
                Just(buf),
                index_expr(),
                expr(t, 1),
                expr(t, 1),
            )
        })
        .prop_map(|(op, t, buf, index, x, v)| {
            let e = if op == AtomicOp::CompareExchange {
                Expr::atomic_compare_exchange(buf, index, x, v)
            } else {
                Expr::atomic(op, buf, index, v)
            };
            (t, e)
        })
        .boxed()
}

fn node(depth: u32, in_loop: bool) -> BoxedStrategy<Node> {
    let ety = proptest::sample::select(TYPES.to_vec());
    let mut options: Vec<BoxedStrategy<Node>> = vec![
        ety.clone()
            .prop_flat_map(|t| {
                expr(t, 2).prop_map(move |e| Node::Assign {
                    local: local_of(t),
                    value: e,
                })
            })
            .boxed(),
        ety.prop_flat_map(|t| {
            expr(t, 2).prop_map(move |e| Node::Let {
                local: local_of(t),
                value: e,
            })
        })
        .boxed(),
        atomic()
            .prop_map(|(t, a)| a.into_node(AtomicResult::Assign(local_of(t))))
            .boxed(),
        atomic()
            .prop_map(|(t, a)| a.into_node(AtomicResult::Let(local_of(t))))
            .boxed(),
        atomic()
            .prop_map(|(_, a)| a.into_node(AtomicResult::Discard))
            .boxed(),
        prop_oneof![
            Just((DataType::I32, BufRef::Param(B_I32))),
            Just((DataType::U32, BufRef::Param(B_U32))),
            Just((DataType::F32, BufRef::Param(B_F32))),
            Just((DataType::I32, BufRef::Shared(S_I32))),
            Just((DataType::F32, BufRef::Shared(S_F32))),
            Just((DataType::U64, BufRef::Param(B_U64))),
            Just((DataType::I64, BufRef::Param(B_I64))),
            Just((DataType::F64, BufRef::Param(B_F64))),
            Just((DataType::I64, BufRef::Shared(S_I64))),
            Just((DataType::F64, BufRef::Shared(S_F64))),
        ]
        .prop_flat_map(|(t, buf)| (Just(buf), index_expr(), expr(t, 2)))
        .prop_map(|(buf, index, value)| Node::Store { buf, index, value })
        .boxed(),
        Just(Node::Return).boxed(),
        Just(Node::Barrier).boxed(),
        Just(Node::WarpgroupBarrier).boxed(),
    ];
    if in_loop {
        options.push(Just(Node::Break).boxed());
        options.push(Just(Node::Continue).boxed());
    }
    if depth > 0 {
        let blk = move |l| proptest::collection::vec(node(depth - 1, l), 0..4);
        options.push(
            (expr(DataType::Bool, 2), blk(in_loop), blk(in_loop))
                .prop_map(|(cond, then, otherwise)| Node::If {
                    cond,
                    then,
                    otherwise,
                })
                .boxed(),
        );
        options.push(
            (expr(DataType::Bool, 1), blk(true))
                .prop_map(|(cond, body)| Node::While { cond, body })
                .boxed(),
        );
        options.push(blk(true).prop_map(|body| Node::Loop { body }).boxed());
        options.push(blk(in_loop).prop_map(|body| Node::Unsafe { body }).boxed());
        options.push(
            int_ty()
                .prop_flat_map(move |t| {
                    let var = if t == DataType::I32 {
                        L_FOR_I32
                    } else {
                        L_FOR_U32
                    };
                    (Just(var), expr(t, 1), expr(t, 1), 1u32..=4, blk(true))
                })
                .prop_map(|(var, start, end, step, body)| Node::For {
                    var,
                    start,
                    end,
                    step,
                    unroll: false,
                    body,
                })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

fn build(body: Vec<Node>, wg: [u32; 3], unchecked: bool, fast_math: bool, doc: String) -> Program {
    let mut b = ProgramBuilder::new("gen", wg);
    b.doc(doc).unchecked(unchecked).fast_math(fast_math);
    b.scalar("p_bool", DataType::Bool);
    b.scalar("p_i32", DataType::I32);
    b.scalar("p_u32", DataType::U32);
    b.scalar("p_f32", DataType::F32);
    b.buffer("b_i32", DataType::I32, Access::ReadWrite);
    b.buffer("b_u32", DataType::U32, Access::ReadWrite);
    b.buffer("b_f32", DataType::F32, Access::ReadWrite);
    b.buffer("b_ro_f32", DataType::F32, Access::Read);
    b.shared("s_i32", DataType::I32, 8);
    b.shared("s_u32", DataType::U32, 16);
    b.shared("s_f32", DataType::F32, 4);
    b.scalar("p_u64", DataType::U64);
    b.scalar("p_i64", DataType::I64);
    b.scalar("p_f64", DataType::F64);
    b.buffer("b_u64", DataType::U64, Access::ReadWrite);
    b.buffer("b_i64", DataType::I64, Access::ReadWrite);
    b.buffer("b_f64", DataType::F64, Access::ReadWrite);
    b.shared("s_i64", DataType::I64, 4);
    b.shared("s_f64", DataType::F64, 2);
    let ls = [
        b.local("l_bool", DataType::Bool, true),
        b.local("l_i32", DataType::I32, true),
        b.local("l_u32", DataType::U32, true),
        b.local("l_f32", DataType::F32, true),
    ];
    b.local("for_i32", DataType::I32, false);
    b.local("for_u32", DataType::U32, false);
    let wide = [
        b.local("l_u64", DataType::U64, true),
        b.local("l_i64", DataType::I64, true),
        b.local("l_f64", DataType::F64, true),
    ];
    b.body(|blk| {
        blk.let_(ls[0], Expr::bool(false));
        blk.let_(ls[1], Expr::i32(0));
        blk.let_(ls[2], Expr::u32(0));
        blk.let_(ls[3], Expr::f32(0.0));
        blk.let_(wide[0], Expr::Lit(Literal::U64(0)));
        blk.let_(wide[1], Expr::Lit(Literal::I64(0)));
        blk.let_(wide[2], Expr::Lit(Literal::f64(0.0)));
        for n in body {
            blk.push(n);
        }
    });
    let mut p = b.finish();
    if p.validate().is_err() {
        // Barriers in divergent control flow (and warpgroup barriers in a
        // workgroup of no whole warpgroup) are the only thing the strategy
        // can get wrong; drop them.
        strip_barriers(&mut p.body);
    }
    p
}

fn strip_barriers(body: &mut Vec<Node>) {
    body.retain(|n| !matches!(n, Node::Barrier | Node::WarpgroupBarrier));
    for n in body {
        match n {
            Node::If {
                then, otherwise, ..
            } => {
                strip_barriers(then);
                strip_barriers(otherwise);
            }
            Node::While { body, .. }
            | Node::For { body, .. }
            | Node::Loop { body }
            | Node::Unsafe { body } => {
                strip_barriers(body);
            }
            _ => {}
        }
    }
}

fn program() -> impl Strategy<Value = Program> {
    (
        proptest::collection::vec(node(2, false), 0..6),
        // Sometimes one warpgroup, where warpgroup barriers are valid.
        prop_oneof![
            4 => (1u32..=16, 1u32..=4, 1u32..=4),
            1 => (Just(128u32), Just(1u32), Just(1u32)),
        ],
        any::<bool>(),
        any::<bool>(),
        "[a-z é∑]{0,12}",
    )
        .prop_map(|(body, (x, y, z), unchecked, fast_math, doc)| {
            build(body, [x, y, z], unchecked, fast_math, doc)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn round_trip_is_identity(p in program()) {
        prop_assert!(p.validate().is_ok(), "{:?}", p.validate());
        let bytes = to_wire(&p);
        let back = from_wire(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&p));
        // Deterministic bytes.
        prop_assert_eq!(to_wire(&p), bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = from_wire(&bytes);
        let mut framed = b"VYRE".to_vec();
        framed.extend_from_slice(&VERSION.to_le_bytes());
        framed.extend_from_slice(&bytes);
        if let Ok(p) = from_wire(&framed) {
            prop_assert!(p.validate().is_ok());
        }
    }

    #[test]
    fn mutated_encodings_never_panic_and_decode_valid(
        p in program(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = to_wire(&p);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if let Ok(q) = from_wire(&bytes) {
            prop_assert!(q.validate().is_ok());
        }
    }
}

fn rich_program() -> Program {
    let mut b = ProgramBuilder::new("rich", [8, 2, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let a = b.scalar("a", DataType::F32);
    let s = b.shared("s", DataType::U32, 16);
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    let o = b.local("o", DataType::U32, false);
    b.doc("a doc");
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.store(
            BufRef::Shared(s),
            Expr::local(i).rem(Expr::u32(16)),
            Expr::u32(1),
        );
        blk.barrier();
        blk.for_(k, Expr::u32(0), Expr::len(x), |body| {
            body.if_(Expr::local(k).gt(Expr::u32(3)), |t| {
                t.break_();
            });
        });
        blk.let_(
            o,
            Expr::atomic_compare_exchange(
                BufRef::Param(y),
                Expr::local(i),
                Expr::u32(0),
                Expr::u32(5),
            ),
        );
        blk.store(
            BufRef::Param(y),
            Expr::local(i),
            Expr::param(a)
                .math(
                    MathFn::MulAdd,
                    vec![Expr::load(BufRef::Param(x), Expr::local(i)), Expr::f32(1.5)],
                )
                .cast(DataType::U32),
        );
    });
    let p = b.finish();
    p.validate().unwrap();
    p
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = to_wire(&rich_program());
    assert!(from_wire(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(
            from_wire(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
    // And one byte too many.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        from_wire(&longer),
        Err(WireError::Malformed { .. })
    ));
}

/// 64-bit literals (two words on the wire) of every edge value round-trip
/// bit for bit (NaN payloads included), and every truncation of their
/// encoding is an error.
#[test]
fn wide_literals_round_trip_and_every_truncation_is_an_error() {
    let mut b = ProgramBuilder::new("wide", [4, 1, 1]);
    let yu = b.buffer("yu", DataType::U64, Access::ReadWrite);
    let yi = b.buffer("yi", DataType::I64, Access::ReadWrite);
    let yf = b.buffer("yf", DataType::F64, Access::ReadWrite);
    let s = b.scalar("s", DataType::F64);
    let lits = [
        (yu, Literal::U64(u64::MAX)),
        (yu, Literal::U64(1 << 32)),
        (yu, Literal::U64((1 << 53) + 1)),
        (yi, Literal::I64(i64::MIN)),
        (yi, Literal::I64(-1)),
        (yi, Literal::I64(i64::from(i32::MIN) - 1)),
        (yf, Literal::F64(0xfff8_dead_beef_0001)),
        (yf, Literal::F64(0x7ff0_0000_0000_0001)),
        (yf, Literal::f64(-0.0)),
        (yf, Literal::f64(f64::NEG_INFINITY)),
        (yf, Literal::F64(1)),
    ];
    b.body(|blk| {
        for (k, (buf, l)) in lits.iter().enumerate() {
            let v = if *buf == yf {
                Expr::Lit(*l).add(Expr::param(s))
            } else {
                Expr::Lit(*l)
            };
            blk.store(BufRef::Param(*buf), Expr::u32(k as u32), v);
        }
        blk.store(
            BufRef::Param(yu),
            Expr::u32(99),
            Expr::param(s).cast(DataType::U64),
        );
    });
    let p = b.finish();
    p.validate().unwrap();
    let bytes = to_wire(&p);
    assert_eq!(from_wire(&bytes), Ok(p));
    for n in 0..bytes.len() {
        assert!(
            from_wire(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
}

#[test]
fn header_errors() {
    assert_eq!(from_wire(b""), Err(WireError::BadMagic));
    assert_eq!(from_wire(b"VYR"), Err(WireError::BadMagic));
    assert_eq!(from_wire(b"ELF\x7f\x01\x00"), Err(WireError::BadMagic));
    assert!(matches!(
        from_wire(b"VYRE\x01"),
        Err(WireError::Malformed { .. })
    ));
    let mut bytes = to_wire(&rich_program());
    bytes[4] = 99;
    assert_eq!(
        from_wire(&bytes),
        Err(WireError::UnsupportedVersion {
            found: 99,
            supported: VERSION
        })
    );
    assert!(
        from_wire(&bytes)
            .unwrap_err()
            .to_string()
            .contains("rebuild")
    );
}

#[test]
fn hostile_lengths_fail_fast() {
    let header = |rest: &[u8]| {
        let mut v = b"VYRE".to_vec();
        v.extend_from_slice(&VERSION.to_le_bytes());
        v.extend_from_slice(rest);
        v
    };
    let start = std::time::Instant::now();
    // Name length u32::MAX.
    let e = from_wire(&header(&[0xff, 0xff, 0xff, 0xff, 0x0f, b'a'])).unwrap_err();
    assert!(matches!(e, WireError::Malformed { offset: 6, .. }), "{e:?}");
    // A varint that overflows 32 bits.
    assert!(from_wire(&header(&[0xff, 0xff, 0xff, 0xff, 0x7f])).is_err());
    // Parameter count u32::MAX after an empty name and doc.
    let e = from_wire(&header(&[0, 0, 0, 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f])).unwrap_err();
    assert!(e.to_string().contains("count"), "{e}");
    // A huge shared array passes decoding but fails validation.
    let mut p = Program::new("big", [1, 1, 1]);
    p.shared.push(vyre::ir::SharedDecl {
        name: "s".into(),
        elem: DataType::U32,
        len: u32::MAX,
        layout: vyre::ir::SharedLayout::Linear,
    });
    assert!(matches!(
        from_wire(&to_wire(&p)),
        Err(WireError::InvalidProgram { .. })
    ));
    assert!(start.elapsed().as_secs() < 2);
}

#[test]
fn nesting_is_limited() {
    let nested = |depth: usize| {
        let mut e = Expr::i32(1);
        for _ in 0..depth {
            e = e.neg();
        }
        let mut b = ProgramBuilder::new("deep", [1, 1, 1]);
        let out = b.buffer("out", DataType::I32, Access::ReadWrite);
        b.body(|blk| {
            blk.store(BufRef::Param(out), Expr::u32(0), e);
        });
        b.finish()
    };
    let ok = nested(200);
    assert_eq!(from_wire(&to_wire(&ok)), Ok(ok));
    let e = from_wire(&to_wire(&nested(MAX_DEPTH as usize + 10))).unwrap_err();
    assert!(e.to_string().contains("nesting"), "{e}");
    // Deep statement nesting too, and a hand-made 100k-deep encoding
    // fails without exhausting the stack.
    let mut body = vec![Node::Return];
    for _ in 0..300 {
        body = vec![Node::Loop { body }];
    }
    let mut p = Program::new("loops", [1, 1, 1]);
    p.body = body;
    assert!(from_wire(&to_wire(&p)).is_err());
    let mut v = b"VYRE".to_vec();
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1]);
    for _ in 0..100_000 {
        v.extend_from_slice(&[7, 1]);
    }
    assert!(from_wire(&v).is_err());
}

/// `Node::Atomic` is encoded as version 1 always encoded an atomic: the
/// whole right-hand side of `let` (0), `assign` (1) or `eval` (3), with
/// expression code 11; an atomic anywhere else, and an `eval` of anything
/// else, are decode errors.
#[test]
fn atomics_are_let_assign_or_eval_on_the_wire() {
    let mut b = ProgramBuilder::new("atomics", [1, 1, 1]);
    let h = b.buffer("h", DataType::U32, Access::ReadWrite);
    let s = b.shared("s", DataType::U32, 4);
    let old = b.local("old", DataType::U32, true);
    let header = to_wire(&b.clone().finish());
    b.body(|blk| {
        blk.let_(
            old,
            Expr::atomic(AtomicOp::Add, BufRef::Param(h), Expr::u32(0), Expr::u32(1)),
        );
        blk.assign(
            old,
            Expr::atomic(
                AtomicOp::Exchange,
                BufRef::Param(h),
                Expr::u32(1),
                Expr::u32(5),
            ),
        );
        blk.eval(Expr::atomic_compare_exchange(
            BufRef::Shared(s),
            Expr::u32(2),
            Expr::u32(3),
            Expr::u32(4),
        ));
    });
    let p = b.finish();
    assert_eq!(
        p.body[0],
        Node::Atomic {
            op: AtomicOp::Add,
            buf: BufRef::Param(h),
            index: Expr::u32(0),
            expected: None,
            value: Expr::u32(1),
            result: AtomicResult::Let(old),
        }
    );
    // The empty program ends with its statement count, 0.
    let (prefix, empty) = header.split_at(header.len() - 1);
    assert_eq!(empty, [0]);
    let u32_lit = |v: u8| [0, 2, v];
    let mut body = vec![3];
    // let old = h.atomic_add(0u32, 1u32);
    body.extend([0, 0, 11, 0, 0, 0]);
    body.extend(u32_lit(0));
    body.push(0);
    body.extend(u32_lit(1));
    // old = h.atomic_exchange(1u32, 5u32);
    body.extend([1, 0, 11, 7, 0, 0]);
    body.extend(u32_lit(1));
    body.push(0);
    body.extend(u32_lit(5));
    // s.atomic_compare_exchange(2u32, 3u32, 4u32);
    body.extend([3, 11, 8, 1, 0]);
    body.extend(u32_lit(2));
    body.push(1);
    body.extend(u32_lit(3));
    body.extend(u32_lit(4));
    let bytes = to_wire(&p);
    assert_eq!(bytes, [prefix, &body[..]].concat());
    assert_eq!(from_wire(&bytes), Ok(p));

    let decode = |body: &[u8]| from_wire(&[prefix, body].concat());
    let atomic_add = [11, 0, 0, 0, 0, 2, 0, 0, 0, 2, 1];
    // An atomic as a stored value, an index, an operand: decode errors.
    let mut store = vec![1, 2, 0, 0, 0, 2, 0];
    store.extend(atomic_add);
    let mut index = vec![1, 2, 0, 0];
    index.extend(atomic_add);
    index.extend(u32_lit(1));
    let mut operand = vec![1, 0, 0, 7, 0];
    operand.extend(atomic_add);
    operand.extend(u32_lit(1));
    for bad in [store, index, operand] {
        let e = decode(&bad).unwrap_err();
        assert!(
            matches!(&e, WireError::Malformed { reason, .. } if reason.contains("atomic may only be")),
            "{bad:?}: {e:?}"
        );
    }
    // `eval` of a pure expression.
    let e = decode(&[1, 3, 0, 2, 1]).unwrap_err();
    assert!(
        matches!(&e, WireError::Malformed { offset, reason } if reason.contains("expression statement") && *offset == prefix.len() + 2),
        "{e:?}"
    );
}

#[test]
fn invalid_programs_are_rejected_after_decoding() {
    let mut b = ProgramBuilder::new("bad", [1, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    b.body(|blk| {
        blk.store(BufRef::Param(x), Expr::u32(0), Expr::f32(1.0));
    });
    let e = from_wire(&to_wire(&b.finish())).unwrap_err();
    assert!(
        matches!(&e, WireError::InvalidProgram { name, .. } if name == "bad"),
        "{e:?}"
    );
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[test]
fn reference_emitter_and_codegen() {
    let p = rich_program();
    let cfg = vyre::DispatchConfig::default();
    let bytes = vyre::driver::emit_aot_target("reference", &p, &cfg).unwrap();
    assert_eq!(from_wire(&bytes), Ok(p.clone()));
    let cfg = cfg.with_workgroup_size([32, 1, 1]);
    let q = from_wire(&vyre::driver::emit_aot_target("reference", &p, &cfg).unwrap()).unwrap();
    assert_eq!(q.workgroup_size, [32, 1, 1]);
    assert_eq!(q.body, p.body);
    // Bounds-check policy `Always` turns an unchecked kernel into a checked one.
    let mut unchecked = p.clone();
    unchecked.unchecked = true;
    let auto = vyre::DispatchConfig::default();
    assert!(
        from_wire(&vyre::driver::emit_aot_target("reference", &unchecked, &auto).unwrap())
            .unwrap()
            .unchecked
    );
    let always = auto.with_bounds_checks(vyre::driver::BoundsChecks::Always);
    assert!(
        !from_wire(&vyre::driver::emit_aot_target("reference", &unchecked, &always).unwrap())
            .unwrap()
            .unchecked
    );
    // An override that makes the program invalid is an emitter error.
    let cfg = vyre::DispatchConfig::default().with_workgroup_size([2048, 1, 1]);
    assert!(vyre::driver::emit_aot_target("reference", &p, &cfg).is_err());

    let cg = vyre::driver::launcher_codegen("reference").unwrap();
    assert_eq!(
        (cg.extension, cg.per_arch, cg.optional, cg.runtime_feature),
        ("vyrebin", false, false, None)
    );
    let expr = (cg.artifact_expr)(&vyre::driver::ArtifactFile {
        target: "reference",
        arch: None,
        file_name: "k\"x\\y.vyrebin",
    })
    .unwrap();
    assert_eq!(
        expr,
        r#"::vyre::runtime::Artifact { target: "reference", arch: ::core::option::Option::None, bytes: include_bytes!("k\"x\\y.vyrebin") }"#
    );
    assert!(syn_like_balanced(&expr));
}

/// Cheap sanity check that the generated expression's brackets balance.
fn syn_like_balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    for c in s.chars() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            _ => {}
        }
    }
    depth == 0 && !in_str
}

fn count_kinds(body: &[Node], seen: &mut std::collections::BTreeSet<String>) {
    fn expr(e: &Expr, seen: &mut std::collections::BTreeSet<String>) {
        let name = format!("{e:?}");
        seen.insert(format!(
            "expr:{}",
            name.split(['(', ' ', '{']).next().unwrap_or("")
        ));
        match e {
            Expr::Load { index, .. } => expr(index, seen),
            Expr::Unary(_, a) | Expr::Cast(_, a) => expr(a, seen),
            Expr::Binary(_, a, b) => {
                expr(a, seen);
                expr(b, seen);
            }
            Expr::Math(_, args) => args.iter().for_each(|a| expr(a, seen)),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, seen);
                expr(then, seen);
                expr(otherwise, seen);
            }
            _ => {}
        }
    }
    for n in body {
        let name = format!("{n:?}");
        seen.insert(format!(
            "node:{}",
            name.split(['(', ' ', '{']).next().unwrap_or("")
        ));
        match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => expr(value, seen),
            Node::Atomic {
                index,
                expected,
                value,
                result,
                ..
            } => {
                let r = format!("{result:?}");
                let r = r.split('(').next().unwrap_or("");
                seen.insert(format!("node:Atomic:{r}"));
                expr(index, seen);
                if let Some(x) = expected {
                    expr(x, seen);
                }
                expr(value, seen);
            }
            Node::Store { index, value, .. } => {
                expr(index, seen);
                expr(value, seen);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, seen);
                count_kinds(then, seen);
                count_kinds(otherwise, seen);
            }
            Node::While { cond, body } => {
                expr(cond, seen);
                count_kinds(body, seen);
            }
            Node::For {
                start, end, body, ..
            } => {
                expr(start, seen);
                expr(end, seen);
                count_kinds(body, seen);
            }
            Node::Loop { body } | Node::Unsafe { body } => count_kinds(body, seen),
            _ => {}
        }
    }
}

/// The strategy really produces every statement and expression kind (in
/// valid programs, barriers included).
#[test]
fn strategy_covers_every_kind() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = program();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        assert!(p.validate().is_ok());
        count_kinds(&p.body, &mut seen);
    }
    let want = [
        "node:Let",
        "node:Assign",
        "node:Store",
        "node:Atomic:Let",
        "node:Atomic:Assign",
        "node:Atomic:Discard",
        "node:If",
        "node:While",
        "node:For",
        "node:Loop",
        "node:Unsafe",
        "node:Break",
        "node:Continue",
        "node:Return",
        "node:Barrier",
        "node:WarpgroupBarrier",
        "expr:Lit",
        "expr:Local",
        "expr:Param",
        "expr:Builtin",
        "expr:Len",
        "expr:Load",
        "expr:Unary",
        "expr:Binary",
        "expr:Cast",
        "expr:Math",
        "expr:Select",
    ];
    for w in want {
        assert!(seen.contains(w), "{w} never generated; saw {seen:?}");
    }
}

/// The interpreter, fed the same random programs, returns `Ok` or a typed
/// error and never panics.
#[test]
fn interpreter_never_panics_on_generated_programs() {
    use proptest::strategy::ValueTree;
    use vyre::backend::reference::{RefArg, RunOptions, run_with};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = program();
    let opts = RunOptions {
        max_steps_per_invocation: Some(500),
        threads: Some(1),
        ..RunOptions::default()
    };
    for _ in 0..150 {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        let mut bi = [1u32, 2, 3];
        let mut bu = [4u32, 5];
        let mut bf = [1.5f32.to_bits(); 4];
        let mut ro = [2.5f32.to_bits(); 3];
        // 64-bit elements: two words each.
        let mut bu64 = vyre_testkit::harness::to_words(DataType::U64, &[u64::MAX, 1 << 32]);
        let mut bi64 = vyre_testkit::harness::to_words(DataType::I64, &[i64::MIN.cast_unsigned()]);
        let mut bf64 = vyre_testkit::harness::to_words(DataType::F64, &[(-0.0f64).to_bits(), 1, 7]);
        let mut args = [
            RefArg::Scalar(Literal::Bool(true)),
            RefArg::Scalar(Literal::I32(-3)),
            RefArg::Scalar(Literal::U32(7)),
            RefArg::Scalar(Literal::f32(0.25)),
            RefArg::Buffer(&mut bi),
            RefArg::Buffer(&mut bu),
            RefArg::Buffer(&mut bf),
            RefArg::Buffer(&mut ro),
            RefArg::Scalar(Literal::U64(u64::MAX - 3)),
            RefArg::Scalar(Literal::I64(i64::MIN + 1)),
            RefArg::Scalar(Literal::f64(-2.5e300)),
            RefArg::Buffer(&mut bu64),
            RefArg::Buffer(&mut bi64),
            RefArg::Buffer(&mut bf64),
        ];
        let _ = run_with(&p, [2, 1, 1], &mut args, &opts);
        assert_eq!(ro, [2.5f32.to_bits(); 3], "a read-only buffer was written");
    }
}

/// A program with matrices of every role and every matrix and copy
/// statement (both layouts), in a loop and a branch.
fn matrix_program(role_b: vyre::ir::MatrixRole, load_layout: vyre::ir::MatrixLayout) -> Program {
    use vyre::ir::{MatrixLayout, MatrixOp, MatrixRole, MatrixShape};
    let shape = MatrixShape {
        m: 32,
        n: 16,
        k: 16,
    };
    let mut b = ProgramBuilder::new("mma", [64, 2, 1]);
    let x = b.buffer("x", DataType::BF16, Access::Read);
    let w = b.buffer("w", DataType::BF16, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let h = b.buffer("h", DataType::BF16, Access::ReadWrite);
    let s = b.scalar("s", DataType::F32);
    let n = b.scalar("n", DataType::U32);
    let t = b.shared("t", DataType::BF16, 1024);
    let i = b.local("i", DataType::U32, false);
    let ma = b.matrix("a", MatrixRole::A, DataType::BF16, shape);
    let mb = b.matrix("b", role_b, DataType::BF16, shape);
    let mc = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    let md = b.matrix("d", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: mc,
            value: Expr::param(s).mul(Expr::f32(0.5)),
        });
        blk.for_(i, Expr::u32(0), Expr::param(n), |body| {
            body.async_copy(
                t,
                Expr::Builtin(Builtin::LocalId, Axis::X).mul(Expr::u32(8)),
                x,
                Expr::local(i).mul(Expr::u32(512)),
                8,
            );
            body.async_commit();
            body.async_wait(0);
            body.barrier();
            body.matrix(MatrixOp::Load {
                matrix: ma,
                buf: BufRef::Shared(t),
                offset: Expr::u32(0),
                stride: Expr::u32(16),
                layout: load_layout,
                clip: None,
            });
            body.matrix(MatrixOp::Load {
                matrix: mb,
                buf: BufRef::Param(w),
                offset: Expr::local(i).mul(Expr::u32(256)),
                stride: Expr::u32(16),
                layout: MatrixLayout::ColMajor,
                clip: None,
            });
            body.if_(Expr::param(s).gt(Expr::f32(0.0)), |then| {
                then.matrix(MatrixOp::MultiplyAdd {
                    d: mc,
                    a: ma,
                    b: mb,
                    c: mc,
                });
            });
            body.barrier();
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: md,
            a: ma,
            b: mb,
            c: mc,
        });
        blk.matrix(MatrixOp::Load {
            matrix: mc,
            buf: BufRef::Param(y),
            offset: Expr::u32(4),
            stride: Expr::u32(16),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(y),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: md,
            buf: BufRef::Param(h),
            offset: Expr::u32(512),
            stride: Expr::u32(32),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
        blk.async_wait(u32::MAX);
    });
    b.finish()
}

#[test]
fn matrix_statements_round_trip() {
    use vyre::ir::{MatrixLayout, MatrixRole};
    let p = matrix_program(MatrixRole::B, MatrixLayout::RowMajor);
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let mut kinds = std::collections::BTreeSet::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Matrix(op) = n {
            kinds.insert(
                format!("{op:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        if let Node::Async(op) = n {
            kinds.insert(
                format!("{op:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
    });
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "Commit",
            "Copy",
            "Fill",
            "Load",
            "MultiplyAdd",
            "Store",
            "Wait"
        ]
    );
    let bytes = to_wire(&p);
    assert_eq!(from_wire(&bytes), Ok(p.clone()));
    assert_eq!(to_wire(&p), bytes, "deterministic");
    // Every prefix is an error, never a panic.
    for n in 0..bytes.len() {
        assert!(
            from_wire(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
}

/// The byte where the encodings of `a` and `b` (of equal length) differ.
fn differing_byte(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(diff.len(), 1, "{diff:?}");
    diff[0]
}

#[test]
fn corrupt_matrix_role_and_layout_codes_are_decode_errors() {
    use vyre::ir::{MatrixLayout, MatrixRole};
    let base = to_wire(&matrix_program(MatrixRole::B, MatrixLayout::RowMajor));
    // The role of matrix `b`: 1 (B); 0 (A) is another valid program.
    let other_role = to_wire(&matrix_program(MatrixRole::A, MatrixLayout::RowMajor));
    let at = differing_byte(&base, &other_role);
    assert_eq!((base[at], other_role[at]), (1, 0));
    for code in [3u8, 4, 0x7f, 0xff] {
        let mut bytes = base.clone();
        bytes[at] = code;
        match from_wire(&bytes) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, at);
                assert_eq!(reason, format!("unknown matrix role code {code}"));
            }
            other => panic!("role code {code}: {other:?}"),
        }
    }
    // A valid role that breaks the program's rules decodes, then fails
    // validation (an A matrix as the B operand of the multiply).
    assert!(matches!(
        from_wire(&other_role),
        Err(WireError::InvalidProgram { .. })
    ));
    // The layout of the first load: 0 (row-major); 1 is column-major.
    let other_layout = to_wire(&matrix_program(MatrixRole::B, MatrixLayout::ColMajor));
    let at = differing_byte(&base, &other_layout);
    assert_eq!((base[at], other_layout[at]), (0, 1));
    assert!(from_wire(&other_layout).is_ok());
    for code in [2u8, 9, 0xff] {
        let mut bytes = base.clone();
        bytes[at] = code;
        match from_wire(&bytes) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, at);
                assert_eq!(reason, format!("unknown matrix layout code {code}"));
            }
            other => panic!("layout code {code}: {other:?}"),
        }
    }
}

/// A clip is a flag byte and two expressions; loads and stores with and
/// without one survive the encoding.
#[test]
fn matrix_clips_round_trip() {
    use vyre::ir::{MatrixClip, MatrixLayout, MatrixOp, MatrixRole};
    let mut p = matrix_program(MatrixRole::B, MatrixLayout::RowMajor);
    let mut n = 0;
    p.body = std::mem::take(&mut p.body)
        .into_iter()
        .map(|node| match node {
            Node::Matrix(MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                ..
            }) => {
                n += 1;
                Node::Matrix(MatrixOp::Store {
                    matrix,
                    buf,
                    offset,
                    stride,
                    layout,
                    clip: Some(MatrixClip {
                        rows: Expr::u32(3),
                        cols: Expr::u32(5).add(Expr::u32(1)),
                    }),
                })
            }
            other => other,
        })
        .collect();
    assert!(n > 0, "the program stores a matrix at top level");
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let bytes = to_wire(&p);
    assert_eq!(from_wire(&bytes).expect("decodes"), p);
}

/// A kernel with warpgroup accumulators, a `WarpgroupMultiplyAdd` (in a
/// loop, `d` equal to `c` and not) and swizzled shared arrays: version 5's
/// additions. `swizzled_cols` is the row length of array `ta`.
fn warpgroup_program(swizzled_cols: u32) -> Program {
    use vyre::ir::{MatrixLayout, MatrixOp, SharedLayout, SharedTile, WarpgroupOperand};
    let mut b = ProgramBuilder::new("wgmma", [256, 1, 1]);
    let x = b.buffer("x", DataType::BF16, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let n = b.scalar("n", DataType::U32);
    let ta = b.shared_with_layout(
        "ta",
        DataType::BF16,
        128 * 64,
        SharedLayout::Swizzled {
            cols: swizzled_cols,
        },
    );
    let tb = b.shared_with_layout(
        "tb",
        DataType::BF16,
        64 * 128,
        SharedLayout::Swizzled { cols: 128 },
    );
    let lin = b.shared("lin", DataType::F32, 64);
    let i = b.local("i", DataType::U32, false);
    let acc = b.warpgroup_accumulator("acc", 128, 64);
    let out = b.warpgroup_accumulator("out", 128, 64);
    let wg = Expr::Builtin(Builtin::LocalId, Axis::X).div(Expr::u32(128));
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: acc,
            value: Expr::f32(0.0),
        });
        blk.for_(i, Expr::u32(0), Expr::param(n), |body| {
            body.async_copy(
                ta,
                Expr::Builtin(Builtin::LocalId, Axis::X).mul(Expr::u32(8)),
                x,
                Expr::local(i).mul(Expr::u32(2048)),
                8,
            );
            body.async_commit();
            body.async_wait(0);
            body.barrier();
            body.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: acc,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: ta,
                    offset: wg.clone().mul(Expr::u32(64 * 64)),
                    stride: Expr::u32(64),
                    layout: MatrixLayout::RowMajor,
                }),
                b: SharedTile {
                    array: tb,
                    offset: Expr::u32(0),
                    stride: Expr::u32(128),
                    layout: MatrixLayout::RowMajor,
                },
                c: acc,
                asynchronous: false,
            });
            body.barrier();
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: out,
            a: WarpgroupOperand::Shared(SharedTile {
                array: ta,
                offset: Expr::u32(16),
                stride: Expr::u32(64),
                layout: MatrixLayout::RowMajor,
            }),
            b: SharedTile {
                array: tb,
                offset: Expr::param(n).mul(Expr::u32(8)),
                stride: Expr::u32(128),
                layout: MatrixLayout::RowMajor,
            },
            c: acc,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::Store {
            matrix: out,
            buf: BufRef::Param(y),
            offset: wg.mul(Expr::u32(64 * 128)),
            stride: Expr::u32(128),
            layout: MatrixLayout::RowMajor,
            clip: Some(vyre::ir::MatrixClip {
                rows: Expr::u32(64),
                cols: Expr::param(n),
            }),
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Shared(lin),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
    });
    b.finish()
}

#[test]
fn warpgroup_statements_and_swizzled_arrays_round_trip() {
    use vyre::ir::{MatrixScope, SharedLayout};
    let p = warpgroup_program(64);
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    assert_eq!(p.shared[0].layout, SharedLayout::Swizzled { cols: 64 });
    assert_eq!(p.shared[2].layout, SharedLayout::Linear);
    assert_eq!(p.matrices[0].scope, MatrixScope::Warpgroup);
    let bytes = to_wire(&p);
    assert_eq!(bytes[4..6], VERSION.to_le_bytes());
    assert_eq!(from_wire(&bytes), Ok(p.clone()));
    assert_eq!(to_wire(&p), bytes, "deterministic");
    for n in 0..bytes.len() {
        assert!(
            from_wire(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
    // Subgroup matrices and linear arrays keep their scope and layout too.
    let q = matrix_program(vyre::ir::MatrixRole::B, vyre::ir::MatrixLayout::RowMajor);
    assert!(q.matrices.iter().all(|m| m.scope == MatrixScope::Subgroup));
    assert_eq!(from_wire(&to_wire(&q)), Ok(q));
}

/// The layout tag, the swizzle's columns, the scope tag and the statement
/// code are checked: unknown codes are decode errors at their byte, valid
/// codes that break the rules fail validation.
#[test]
fn corrupt_layout_scope_and_statement_codes_are_decode_errors() {
    let base = to_wire(&warpgroup_program(64));
    assert!(from_wire(&to_wire(&warpgroup_program(128))).is_ok());
    // Array `ta`: its name, `bf16` (5), 8192 elements, swizzled (1), 64
    // columns.
    let decl = base
        .windows(8)
        .position(|w| w == b"\x02ta\x05\x80\x40\x01\x40")
        .expect("the declaration of `ta`");
    let at = decl + 7;
    assert_eq!(base[at], 64);
    // 32 columns of `bf16` are narrower than a 128-byte panel.
    let mut bytes = base.clone();
    bytes[at] = 32;
    assert!(
        matches!(&from_wire(&bytes), Err(WireError::InvalidProgram { errors, .. })
            if errors.iter().any(|e| e.to_string().contains("`cols = 32`"))),
        "{:?}",
        from_wire(&bytes)
    );
    // The layout tag of `ta` is the byte before its columns: 1 (swizzled).
    let tag = at - 1;
    assert_eq!(base[tag], 1);
    for code in [2u8, 7, 0xff] {
        let mut bytes = base.clone();
        bytes[tag] = code;
        match from_wire(&bytes) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, tag);
                assert_eq!(reason, format!("unknown shared array layout code {code}"));
            }
            other => panic!("layout code {code}: {other:?}"),
        }
    }
    // The scope of matrix `acc` (warpgroup, 1) is the last byte of its
    // declaration, just before the next matrix's name `out`.
    let out_name = base
        .windows(4)
        .position(|w| w == b"\x03out")
        .expect("the name of matrix `out`");
    let scope = out_name - 1;
    assert_eq!(base[scope], 1);
    for code in [2u8, 0x80] {
        let mut bytes = base.clone();
        bytes[scope] = code;
        match from_wire(&bytes) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, scope);
                assert_eq!(reason, format!("unknown matrix scope code {code}"));
            }
            other => panic!("scope code {code}: {other:?}"),
        }
    }
    // Scope 0 (subgroup) decodes, but a subgroup accumulator of m = 64,
    // n = 128 in a warpgroup multiply breaks the rules.
    let mut bytes = base.clone();
    bytes[scope] = 0;
    assert!(matches!(
        from_wire(&bytes),
        Err(WireError::InvalidProgram { .. })
    ));
    // An unknown statement code after the last one (25, a tile copy).
    let mut p = Program::new("k", [1, 1, 1]);
    p.body = vec![Node::Barrier];
    let mut bytes = to_wire(&p);
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], 11, "barrier");
    for code in [27u8, 0x7f] {
        bytes[last] = code;
        match from_wire(&bytes) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, last);
                assert_eq!(reason, format!("unknown statement code {code}"));
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Version 4 encodings (no layouts, scopes or warpgroup multiplies),
/// version 5 ones (tiles without a layout, no operand tag), version 6
/// ones (a warpgroup wait without its pending count), versions 7 to 9
/// (no 64-bit types, no `unsafe` blocks, no tile copies) and version 10
/// (a tile copy's rows and columns as bare parameter indices) and version
/// 11 (no warpgroup barriers) are refused with the version error, not
/// misread.
#[test]
fn versions_4_to_11_are_refused() {
    assert_eq!(VERSION, 12);
    for old in [4u16, 5, 6, 7, 8, 9, 10, 11] {
        let mut bytes = to_wire(&warpgroup_program(64));
        bytes[4..6].copy_from_slice(&old.to_le_bytes());
        assert_eq!(
            from_wire(&bytes),
            Err(WireError::UnsupportedVersion {
                found: old,
                supported: VERSION
            })
        );
    }
}

/// Version 6's additions: a warpgroup multiply with `A` from an
/// accumulator (plain and asynchronous), `B` column-major (with `A` a tile
/// and an accumulator), `matrix_map` (into another accumulator and in
/// place, its closure reading the row, column, value, a parameter, a
/// shared array and a buffer) and both row reductions.
fn attention_program() -> Program {
    use vyre::ir::{
        MatrixLayout, MatrixOp, RowReduceOp, SharedLayout, SharedTile, WarpgroupOperand,
    };
    let mut b = ProgramBuilder::new("attn", [128, 1, 1]);
    let o = b.buffer("o", DataType::F32, Access::ReadWrite);
    let bias = b.buffer("bias", DataType::F32, Access::Read);
    let scale = b.scalar("scale", DataType::F32);
    let n = b.scalar("n", DataType::U32);
    let sw = SharedLayout::Swizzled { cols: 64 };
    let tq = b.shared_with_layout("tq", DataType::F16, 64 * 64, sw);
    let tk = b.shared_with_layout("tk", DataType::F16, 64 * 64, sw);
    let tv = b.shared("tv", DataType::F16, 64 * 64);
    let m = b.shared("m", DataType::F32, 64);
    let l = b.shared("l", DataType::F32, 64);
    let s = b.warpgroup_accumulator("s", 64, 64);
    let p = b.warpgroup_accumulator("p", 64, 64);
    let acc = b.warpgroup_accumulator("acc", 64, 64);
    let (r, c, v) = (
        b.local("r", DataType::U32, false),
        b.local("c", DataType::U32, false),
        b.local("v", DataType::F32, false),
    );
    let (r2, c2, v2) = (
        b.local("r2", DataType::U32, false),
        b.local("c2", DataType::U32, false),
        b.local("v2", DataType::F32, false),
    );
    let tile = |array, offset, layout| SharedTile {
        array,
        offset: Expr::u32(offset),
        stride: Expr::u32(64),
        layout,
    };
    let (row, col) = (MatrixLayout::RowMajor, MatrixLayout::ColMajor);
    b.body(|blk| {
        for x in [s, acc] {
            blk.matrix(MatrixOp::Fill {
                matrix: x,
                value: Expr::f32(0.0),
            });
        }
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: s,
            a: WarpgroupOperand::Shared(tile(tq, 0, row)),
            b: tile(tk, 0, col),
            c: s,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::RowReduce {
            op: RowReduceOp::Max,
            src: s,
            dst: m,
            offset: Expr::u32(0),
        });
        blk.matrix(MatrixOp::Map {
            d: p,
            src: s,
            row: r,
            col: c,
            value: v,
            expr: Expr::local(v)
                .mul(Expr::param(scale))
                .sub(Expr::load(BufRef::Shared(m), Expr::local(r)))
                .add(Expr::load(BufRef::Param(bias), Expr::local(c)))
                .math(MathFn::Exp, vec![]),
        });
        blk.matrix(MatrixOp::RowReduce {
            op: RowReduceOp::Add,
            src: p,
            dst: l,
            offset: Expr::param(n),
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: acc,
            a: WarpgroupOperand::Accumulator(p),
            b: tile(tv, 0, row),
            c: acc,
            asynchronous: true,
        });
        blk.matrix(MatrixOp::WarpgroupWait { pending: 0 });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: acc,
            a: WarpgroupOperand::Accumulator(p),
            b: tile(tk, 64, col),
            c: acc,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::Map {
            d: acc,
            src: acc,
            row: r2,
            col: c2,
            value: v2,
            expr: Expr::select(
                Expr::local(c2).lt(Expr::param(n)),
                Expr::local(v2).div(Expr::load(BufRef::Shared(l), Expr::local(r2))),
                Expr::f32(0.0),
            ),
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(o),
            offset: Expr::u32(0),
            stride: Expr::u32(64),
            layout: row,
            clip: None,
        });
    });
    b.finish()
}

#[test]
fn attention_statements_round_trip() {
    use vyre::ir::{MatrixLayout, MatrixOp, RowReduceOp, WarpgroupOperand};
    let p = attention_program();
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let bytes = to_wire(&p);
    assert_eq!(bytes[4..6], VERSION.to_le_bytes());
    assert_eq!(from_wire(&bytes), Ok(p.clone()));
    assert_eq!(to_wire(&p), bytes, "deterministic");
    for n in 0..bytes.len() {
        assert!(
            from_wire(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
    // Every addition is there to round-trip.
    let mut seen = std::collections::BTreeSet::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Matrix(op) = n {
            seen.insert(match op {
                MatrixOp::WarpgroupMultiplyAdd {
                    a: WarpgroupOperand::Accumulator(_),
                    b,
                    ..
                } if b.layout == MatrixLayout::ColMajor => "accumulator A, B col-major",
                MatrixOp::WarpgroupMultiplyAdd {
                    a: WarpgroupOperand::Accumulator(_),
                    ..
                } => "accumulator A",
                MatrixOp::WarpgroupMultiplyAdd { b, .. } if b.layout == MatrixLayout::ColMajor => {
                    "B col-major"
                }
                MatrixOp::Map { d, src, .. } if d == src => "map in place",
                MatrixOp::Map { .. } => "map",
                MatrixOp::RowReduce {
                    op: RowReduceOp::Max,
                    ..
                } => "row max",
                MatrixOp::RowReduce { .. } => "row sum",
                _ => return,
            });
        }
    });
    assert_eq!(seen.len(), 7, "{seen:?}");
}

/// The new tags are checked: a warpgroup operand code other than 0 (tile)
/// or 1 (accumulator), a tile layout other than 0 or 1, a row reduction
/// other than 0 (max) or 1 (sum).
#[test]
fn corrupt_operand_layout_and_reduction_codes_are_decode_errors() {
    use vyre::ir::{MatrixOp, RowReduceOp, SharedTile, WarpgroupOperand};
    // One statement, the whole body, which ends the encoding: its bytes
    // start where those of the empty body end (both counts are one byte).
    let last_statement = |op: MatrixOp| {
        let mut p = attention_program();
        p.body = vec![];
        let start = to_wire(&p).len();
        p.body = vec![Node::Matrix(op)];
        (to_wire(&p), start)
    };
    let tile = SharedTile {
        array: 1,
        offset: Expr::u32(0),
        stride: Expr::u32(64),
        layout: vyre::ir::MatrixLayout::ColMajor,
    };
    // `19 d operand(1 p) tile(array offset stride layout) c`.
    let (bytes, start) = last_statement(MatrixOp::WarpgroupMultiplyAdd {
        d: 2,
        a: WarpgroupOperand::Accumulator(1),
        b: tile.clone(),
        c: 2,
        asynchronous: false,
    });
    let (op_tag, layout) = (start + 2, bytes.len() - 2);
    assert_eq!(bytes[start], 19, "warpgroup_mma");
    assert_eq!(bytes[op_tag], 1, "accumulator operand");
    assert_eq!(bytes[layout], 1, "column-major");
    for (at, what) in [
        (op_tag, "unknown warpgroup operand code"),
        (layout, "unknown matrix layout code"),
    ] {
        let mut b = bytes.clone();
        b[at] = 2;
        match from_wire(&b) {
            Err(WireError::Malformed { offset, reason }) => {
                assert_eq!(offset, at, "{reason}");
                assert!(reason.starts_with(what), "{reason}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // `23 op src shared offset`.
    let (bytes, start) = last_statement(MatrixOp::RowReduce {
        op: RowReduceOp::Add,
        src: 0,
        dst: 3,
        offset: Expr::u32(0),
    });
    let op_at = start + 1;
    assert_eq!(bytes[start], 23, "row reduction");
    assert_eq!(bytes[op_at], 1, "sum");
    let mut b = bytes.clone();
    b[op_at] = 2;
    match from_wire(&b) {
        Err(WireError::Malformed { offset, reason }) => {
            assert_eq!(offset, op_at);
            assert!(reason.contains("row reduction"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// A kernel with one tile copy of a `rows x cols` source matrix.
fn tile_copy_program(rows: vyre::ir::TileDim, cols: vyre::ir::TileDim) -> Program {
    use vyre::ir::{AsyncOp, SharedLayout};
    let mut b = ProgramBuilder::new("tile", [64, 1, 1]);
    let src = b.buffer("src", DataType::U16, Access::Read);
    b.scalar("rows", DataType::U32);
    b.scalar("cols", DataType::U32);
    let t = b.shared_with_layout(
        "t",
        DataType::U16,
        16 * 64,
        SharedLayout::Swizzled { cols: 64 },
    );
    let mut p = b.finish();
    p.body = vec![
        Node::Async(AsyncOp::Tile {
            dst: t,
            dst_index: Expr::u32(0),
            src,
            rows,
            cols,
            row: Expr::u32(8),
            col: Expr::u32(0),
            box_rows: 8,
            box_cols: 64,
        }),
        Node::Async(AsyncOp::Commit),
        Node::Async(AsyncOp::Wait { pending: 0 }),
    ];
    p
}

/// Version 11: a tile copy's dimensions are a parameter, a constant or
/// (rows) every row of the buffer, each tagged; another tag is a decode
/// error at its byte.
#[test]
fn tile_copy_dimensions_round_trip_and_unknown_kinds_are_refused() {
    use vyre::ir::TileDim;
    let forms = [
        (TileDim::Param(1), TileDim::Param(2)),
        (TileDim::Const(4000), TileDim::Const(192)),
        (TileDim::Fill, TileDim::Param(2)),
        (TileDim::Fill, TileDim::Const(64)),
    ];
    for (rows, cols) in forms {
        let p = tile_copy_program(rows, cols);
        assert!(p.validate().is_ok(), "{:?}", p.validate());
        let bytes = to_wire(&p);
        assert_eq!(from_wire(&bytes), Ok(p), "{rows:?} x {cols:?}");
        for n in 0..bytes.len() {
            assert!(
                from_wire(&bytes[..n]).is_err(),
                "prefix of {n} bytes decoded"
            );
        }
    }
    // The rows' tag is the first byte where a parameter's and the fill's
    // encodings differ.
    let param = to_wire(&tile_copy_program(TileDim::Param(1), TileDim::Param(2)));
    let fill = to_wire(&tile_copy_program(TileDim::Fill, TileDim::Param(2)));
    let at = param
        .iter()
        .zip(&fill)
        .position(|(a, b)| a != b)
        .expect("the encodings differ");
    let mut bad = fill.clone();
    bad[at] = 3;
    match from_wire(&bad) {
        Err(WireError::Malformed { offset, reason }) => {
            assert_eq!(offset, at);
            assert_eq!(reason, "unknown tile dimension kind 3");
        }
        other => panic!("{other:?}"),
    }
    // Columns that are every row of the buffer are no matrix.
    let p = tile_copy_program(TileDim::Param(1), TileDim::Fill);
    assert!(
        p.validate()
            .is_err_and(|e| format!("{e:?}").contains("the cols of `async_copy_tile`")),
        "{:?}",
        p.validate()
    );
}
