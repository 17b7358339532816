//! Each construct of the `.vyre` language parses into the expected IR.
//! Run: `cargo test -p vyre --features compiler --test lang_parse`.

use vyre::ir::{
    Access, AtomicOp, AtomicResult, Axis, BinOp, BufRef, Builtin, DataType, Expr, Literal,
    LocalDecl, MathFn, Node, Param, Program, SubgroupOp, UnOp,
};
use vyre::lang::parse;

fn file(src: &str) -> Vec<Program> {
    match parse("test.vyre", src) {
        Ok(m) => m.kernels,
        Err(d) => panic!("unexpected errors:\n{}", d.render()),
    }
}

fn kernel(params: &str, body: &str) -> Program {
    let src = format!("#[kernel]\npub fn k({params}) {{\n{body}\n}}\n");
    file(&src).remove(0)
}

fn local(p: &Program, name: &str) -> u32 {
    p.locals
        .iter()
        .position(|l| l.name == name)
        .unwrap_or_else(|| panic!("no local `{name}` in {:?}", p.locals)) as u32
}

fn ty_of(p: &Program, name: &str) -> DataType {
    p.locals[local(p, name) as usize].ty
}

fn lit(l: Literal) -> Expr {
    Expr::Lit(l)
}

/// The `let` value of local `name` (first definition).
fn init_of<'p>(p: &'p Program, name: &str) -> &'p Expr {
    let id = local(p, name);
    let mut found = None;
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Let { local, value } = n
            && *local == id
            && found.is_none()
        {
            found = Some(value);
        }
    });
    found.unwrap_or_else(|| panic!("no `let {name}`"))
}

/// The node that first defines `name` (a `let`, or an atomic whose old
/// value it binds).
fn def_of<'p>(p: &'p Program, name: &str) -> &'p Node {
    let id = local(p, name);
    let mut found = None;
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        let defines = match n {
            Node::Let { local, .. } => *local == id,
            Node::Atomic { result, .. } => *result == AtomicResult::Let(id),
            _ => false,
        };
        if defines && found.is_none() {
            found = Some(n);
        }
    });
    found.unwrap_or_else(|| panic!("no `let {name}`"))
}

#[test]
fn saxpy_matches_builder() {
    let src = r"
/// y = a * x + y
#[kernel(workgroup_size = 256)]
pub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}
";
    let parsed = file(src).remove(0);
    assert_eq!(parsed, vyre_testkit::programs::documented_saxpy(256));
}

#[test]
fn kernel_attributes_and_docs() {
    let ks = file(
        r"
/// First line.
///
///   indented
#[kernel(workgroup_size = (16, 16))]
pub fn a() {}
#[kernel(workgroup_size = (8, 8, 4), unchecked, fast_math)]
fn b() {}
#[kernel]
fn c() {}
const WG: u32 = 128;
#[kernel(workgroup_size = WG)]
fn d() {}
",
    );
    assert_eq!(ks.len(), 4);
    assert_eq!(ks[0].name, "a");
    assert_eq!(ks[0].doc, "First line.\n\n  indented");
    assert_eq!(ks[0].workgroup_size, [16, 16, 1]);
    assert!(!ks[0].unchecked && !ks[0].fast_math);
    assert_eq!(ks[1].workgroup_size, [8, 8, 4]);
    assert!(ks[1].unchecked && ks[1].fast_math);
    assert_eq!(ks[2].workgroup_size, [64, 1, 1], "documented default");
    assert_eq!(ks[3].workgroup_size, [128, 1, 1]);
}

#[test]
fn parameters() {
    let p = kernel(
        "x: &[f32], y: &mut [u32], a: f32, n: u32, flag: bool, k: i32, z: &[i32]",
        "",
    );
    use vyre::ir::BufferDecl;
    assert_eq!(
        p.params,
        vec![
            Param::Buffer(BufferDecl {
                name: "x".into(),
                elem: DataType::F32,
                access: Access::Read
            }),
            Param::Buffer(BufferDecl {
                name: "y".into(),
                elem: DataType::U32,
                access: Access::ReadWrite
            }),
            Param::Scalar {
                name: "a".into(),
                ty: DataType::F32
            },
            Param::Scalar {
                name: "n".into(),
                ty: DataType::U32
            },
            Param::Scalar {
                name: "flag".into(),
                ty: DataType::Bool
            },
            Param::Scalar {
                name: "k".into(),
                ty: DataType::I32
            },
            Param::Buffer(BufferDecl {
                name: "z".into(),
                elem: DataType::I32,
                access: Access::Read
            }),
        ]
    );
}

#[test]
fn lets_shadowing_and_unique_names() {
    let p = kernel(
        "a: f32",
        "let x = 1u32; let x = x + 2u32; let mut y: f32 = a; { let x = 3i32; } let x_1b = 0u32;",
    );
    let names: Vec<_> = p.locals.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["x", "x_1", "y", "x_2", "x_1b"]);
    assert_eq!(
        p.locals[2],
        LocalDecl {
            name: "y".into(),
            ty: DataType::F32,
            mutable: true
        }
    );
    assert_eq!(ty_of(&p, "x_2"), DataType::I32);
    // `let x = x + 2` reads the outer `x`.
    assert_eq!(
        p.body[1],
        Node::Let {
            local: 1,
            value: Expr::Local(0).add(Expr::u32(2))
        }
    );
    // A local never takes a parameter's name.
    let p = kernel("a: f32", "let a = a * 2.0;");
    assert_eq!(p.locals[0].name, "a_1");
    assert_eq!(
        p.body[0],
        Node::Let {
            local: 0,
            value: Expr::Param(0).mul(Expr::f32(2.0))
        }
    );
}

#[test]
fn compound_assignment_desugars() {
    let p = kernel(
        "y: &mut [f32]",
        "let mut x = 1i32; x += 2; x -= 1; x *= 3; x /= 2; x %= 5; x &= 7; x |= 8; x ^= 1; x <<= 2; x >>= 1; y[0] *= 2.0;",
    );
    let ops = [
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
    ];
    for (k, op) in ops.into_iter().enumerate() {
        match &p.body[k + 1] {
            Node::Assign {
                local: 0,
                value: Expr::Binary(o, a, _),
            } => {
                assert_eq!(*o, op);
                assert_eq!(**a, Expr::Local(0));
            }
            other => panic!("statement {k}: {other:?}"),
        }
    }
    let load = Expr::load(BufRef::Param(0), Expr::u32(0));
    assert_eq!(
        p.body[11],
        Node::Store {
            buf: BufRef::Param(0),
            index: Expr::u32(0),
            value: load.mul(Expr::f32(2.0))
        }
    );
}

#[test]
fn control_flow() {
    let p = kernel(
        "n: u32, y: &mut [u32]",
        r"
        let i = global_id().x;
        if i < 1 { y[0] = 1; } else if i < 2 { y[0] = 2; } else { y[0] = 3; }
        let mut j = 0;
        while j < n { j += 1; if j == 5 { continue; } }
        for k in 0..n { if k == 3 { break; } }
        loop { break; }
        return;
        ",
    );
    let Node::If {
        then, otherwise, ..
    } = &p.body[1]
    else {
        panic!("{:?}", p.body[1])
    };
    assert_eq!(then.len(), 1);
    assert!(matches!(otherwise.as_slice(), [Node::If { otherwise: o, .. }] if o.len() == 1));
    assert_eq!(
        ty_of(&p, "j"),
        DataType::U32,
        "`let mut j = 0` takes `u32` from `j < n`"
    );
    assert!(
        matches!(&p.body[3], Node::While { body, .. } if matches!(body[1], Node::If { ref then, .. } if then == &[Node::Continue]))
    );
    let k = local(&p, "k");
    assert_eq!(
        p.locals[k as usize],
        LocalDecl {
            name: "k".into(),
            ty: DataType::U32,
            mutable: false
        }
    );
    match &p.body[4] {
        Node::For {
            var,
            start,
            end,
            step,
            unroll,
            body,
        } => {
            assert_eq!((*step, *unroll), (1, false));
            assert_eq!(*var, k);
            assert_eq!(*start, Expr::u32(0));
            assert_eq!(*end, Expr::Param(0));
            assert!(matches!(&body[0], Node::If { then, .. } if then == &[Node::Break]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.body[5],
        Node::Loop {
            body: vec![Node::Break]
        }
    );
    assert_eq!(p.body[6], Node::Return);
}

#[test]
fn operators_and_casts() {
    let p = kernel(
        "a: i32, b: i32, f: f32, c: bool",
        r"
        let r = (a + b) * (a - b) / a % b;
        let s = a & b | a ^ b;
        let t = a << 2u32 >> b;
        let u = a == b || a != b && a < b;
        let v = a <= b && a > b && a >= b;
        let w = !c && !(a == 0);
        let x = -f;
        let y = !a;
        let z = a as f32 + f as i32 as f32 + c as f32;
        ",
    );
    let (a, b) = (Expr::Param(0), Expr::Param(1));
    assert_eq!(
        *init_of(&p, "r"),
        a.clone()
            .add(b.clone())
            .mul(a.clone().sub(b.clone()))
            .div(a.clone())
            .rem(b.clone())
    );
    assert_eq!(
        *init_of(&p, "s"),
        a.clone()
            .bitand(b.clone())
            .bitor(a.clone().bitxor(b.clone()))
    );
    assert_eq!(
        *init_of(&p, "t"),
        a.clone().shl(Expr::u32(2)).shr(b.clone())
    );
    assert_eq!(
        *init_of(&p, "u"),
        a.clone()
            .eq(b.clone())
            .or(a.clone().ne(b.clone()).and(a.clone().lt(b.clone())))
    );
    assert_eq!(
        *init_of(&p, "v"),
        a.clone()
            .le(b.clone())
            .and(a.clone().gt(b.clone()))
            .and(a.clone().ge(b.clone()))
    );
    assert_eq!(
        *init_of(&p, "w"),
        Expr::Param(3).not().and(a.clone().eq(Expr::i32(0)).not())
    );
    assert_eq!(
        *init_of(&p, "x"),
        Expr::Unary(UnOp::Neg, Box::new(Expr::Param(2)))
    );
    assert_eq!(*init_of(&p, "y"), a.clone().not());
    assert_eq!(
        *init_of(&p, "z"),
        a.cast(DataType::F32)
            .add(Expr::Param(2).cast(DataType::I32).cast(DataType::F32))
            .add(Expr::Param(3).cast(DataType::F32))
    );
    assert_eq!(ty_of(&p, "z"), DataType::F32);
}

#[test]
fn if_expression_select_and_statement_form() {
    let p = kernel(
        "a: f32, y: &mut [f32]",
        r"
        let s = if a > 0.0 { a } else { -a };
        let t = if a > 1.0 { let q = a * 2.0; q + 1.0 } else { 0.0 };
        y[0] = s + t;
        ",
    );
    assert_eq!(
        *init_of(&p, "s"),
        Expr::select(
            Expr::Param(0).gt(Expr::f32(0.0)),
            Expr::Param(0),
            Expr::Param(0).neg()
        )
    );
    // Statement arms: a fresh mutable local and an `if`.
    let tmp = local(&p, "if_value");
    assert!(p.locals[tmp as usize].mutable);
    assert_eq!(
        p.body[1],
        Node::Let {
            local: tmp,
            value: Expr::f32(0.0)
        }
    );
    match &p.body[2] {
        Node::If {
            then, otherwise, ..
        } => {
            assert!(matches!(then.last(), Some(Node::Assign { local, .. }) if *local == tmp));
            assert_eq!(
                otherwise,
                &[Node::Assign {
                    local: tmp,
                    value: Expr::f32(0.0)
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*init_of(&p, "t"), Expr::Local(tmp));
}

#[test]
fn builtins_and_len() {
    let p = kernel(
        "x: &[f32]",
        "let a = global_id().x; let b = local_id().y; let c = workgroup_id().z; let d = num_workgroups().x; let e = x.len();",
    );
    assert_eq!(
        p.body[0],
        Node::Let {
            local: 0,
            value: Expr::Builtin(Builtin::GlobalId, Axis::X)
        }
    );
    assert_eq!(
        p.body[1],
        Node::Let {
            local: 1,
            value: Expr::Builtin(Builtin::LocalId, Axis::Y)
        }
    );
    assert_eq!(
        p.body[2],
        Node::Let {
            local: 2,
            value: Expr::Builtin(Builtin::WorkgroupId, Axis::Z)
        }
    );
    assert_eq!(
        p.body[3],
        Node::Let {
            local: 3,
            value: Expr::Builtin(Builtin::NumWorkgroups, Axis::X)
        }
    );
    assert_eq!(
        p.body[4],
        Node::Let {
            local: 4,
            value: Expr::Len(0)
        }
    );
    assert!(p.locals.iter().all(|l| l.ty == DataType::U32));
}

#[test]
fn math_methods() {
    let p = kernel(
        "x: f32, y: f32, z: f32, i: i32",
        r"
        let a = x.sqrt() + x.exp() + x.exp2() + x.ln() + x.sin() + x.cos() + x.tanh() + x.abs() + x.floor() + x.ceil();
        let b = x.min(y) + x.max(y) + x.powf(y) + x.clamp(y, z) + x.mul_add(y, z);
        let c = f32::sqrt(x) + f32::max(x, 1.0);
        let d = i.abs().min(3).max(-3).clamp(0, 2);
        ",
    );
    let mut seen = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        fn visit(e: &Expr, seen: &mut Vec<MathFn>) {
            match e {
                Expr::Math(f, args) => {
                    seen.push(*f);
                    assert_eq!(args.len(), f.arity());
                    args.iter().for_each(|a| visit(a, seen));
                }
                Expr::Binary(_, a, b) => {
                    visit(a, seen);
                    visit(b, seen);
                }
                _ => {}
            }
        }
        if let Node::Let { value, .. } = n {
            visit(value, &mut seen);
        }
    });
    for f in MathFn::ALL {
        assert!(seen.contains(&f), "{f:?} not produced");
    }
    assert_eq!(
        *init_of(&p, "c"),
        Expr::Math(MathFn::Sqrt, vec![Expr::Param(0)]).add(Expr::Math(
            MathFn::Max,
            vec![Expr::Param(0), Expr::f32(1.0)]
        ))
    );
    assert_eq!(ty_of(&p, "d"), DataType::I32);
}

#[test]
fn shared_arrays_and_barrier() {
    let p = file(
        r"
const N: u32 = 64;
#[kernel(workgroup_size = 64)]
pub fn k(y: &mut [f32]) {
    #[shared] let mut tile: [f32; N * 2];
    #[shared] let mut counts: [u32; 4];
    let l = local_id().x;
    tile[l] = 1.0;
    barrier();
    y[l] = tile[N - 1 - l] + counts.len() as f32;
}",
    )
    .remove(0);
    assert_eq!(p.shared.len(), 2);
    assert_eq!(
        (p.shared[0].name.as_str(), p.shared[0].elem, p.shared[0].len),
        ("tile", DataType::F32, 128)
    );
    assert_eq!(
        (p.shared[1].name.as_str(), p.shared[1].elem, p.shared[1].len),
        ("counts", DataType::U32, 4)
    );
    assert_eq!(
        p.body[1],
        Node::Store {
            buf: BufRef::Shared(0),
            index: Expr::Local(0),
            value: Expr::f32(1.0)
        }
    );
    assert_eq!(p.body[2], Node::Barrier);
    assert!(
        matches!(&p.body[3], Node::Store { value: Expr::Binary(BinOp::Add, a, b), .. }
        if matches!(**a, Expr::Load { buf: BufRef::Shared(0), .. }) && **b == Expr::u32(4).cast(DataType::F32))
    );
}

#[test]
fn atomics_in_every_allowed_position() {
    let p = kernel(
        "h: &mut [u32], s: &mut [i32]",
        r"
        h.atomic_add(0, 1);
        let a = h.atomic_sub(1, 2);
        let mut b = h.atomic_min(2, 3);
        b = h.atomic_max(3, 4);
        h.atomic_and(4, 5);
        h.atomic_or(5, 6);
        h.atomic_xor(6, 7);
        let c = h.atomic_exchange(7, a + b);
        let d = h.atomic_compare_exchange(8, c, 9);
        let e = s.atomic_add(0, -1);
        let _ = h.atomic_add(9, 1);
        ",
    );
    assert_eq!(
        p.body[0],
        Expr::atomic(AtomicOp::Add, BufRef::Param(0), Expr::u32(0), Expr::u32(1))
            .into_node(AtomicResult::Discard)
    );
    assert!(matches!(
        &p.body[3],
        Node::Atomic {
            op: AtomicOp::Max,
            result: AtomicResult::Assign(b),
            ..
        } if *b == local(&p, "b")
    ));
    let ops: Vec<AtomicOp> = p
        .body
        .iter()
        .filter_map(|n| match n {
            Node::Atomic { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    assert_eq!(&ops[..9], &AtomicOp::ALL);
    assert_eq!(
        *def_of(&p, "d"),
        Expr::atomic_compare_exchange(
            BufRef::Param(0),
            Expr::u32(8),
            Expr::Local(local(&p, "c")),
            Expr::u32(9)
        )
        .into_node(AtomicResult::Let(local(&p, "d")))
    );
    assert_eq!(ty_of(&p, "e"), DataType::I32);
    assert_eq!(
        p.body.last(),
        Some(
            &Expr::atomic(AtomicOp::Add, BufRef::Param(0), Expr::u32(9), Expr::u32(1))
                .into_node(AtomicResult::Discard)
        )
    );
    assert_eq!(
        *def_of(&p, "e"),
        Expr::atomic(AtomicOp::Add, BufRef::Param(1), Expr::u32(0), Expr::i32(-1))
            .into_node(AtomicResult::Let(local(&p, "e")))
    );
}

#[test]
fn literals() {
    let p = kernel(
        "",
        r"
        let a = 1; let b = 1u32; let c = 1i32; let d = 1.5; let e = 1.0f32; let f = 1e-3;
        let g = true; let h = 0xffu32; let i = -5; let j = -2147483648; let k = f32::from_bits(0x7fc00000);
        let l = -0.0; let m = 4294967295u32; let n = 2f32; let o = -(5i32); let p = u32::MAX; let q = f32::INFINITY;
        ",
    );
    let want = [
        ("a", Expr::i32(1)),
        ("b", Expr::u32(1)),
        ("c", Expr::i32(1)),
        ("d", Expr::f32(1.5)),
        ("e", Expr::f32(1.0)),
        ("f", Expr::f32(1e-3)),
        ("g", Expr::bool(true)),
        ("h", Expr::u32(255)),
        ("i", Expr::i32(-5)),
        ("j", Expr::i32(i32::MIN)),
        ("k", lit(Literal::F32(0x7fc0_0000))),
        ("l", lit(Literal::F32(0x8000_0000))),
        ("m", Expr::u32(u32::MAX)),
        ("n", Expr::f32(2.0)),
        ("o", Expr::i32(5).neg()),
        ("p", Expr::u32(u32::MAX)),
        ("q", Expr::f32(f32::INFINITY)),
    ];
    for (name, e) in want {
        assert_eq!(*init_of(&p, name), e, "`{name}`");
    }
}

#[test]
fn integer_literal_inference() {
    let p = kernel(
        "x: &[f32], n: u32, h: &mut [u32], out: &mut [f32]",
        r"
        let i = global_id().x;
        let mut acc = 0.0;
        acc += x[i];
        let mut j = 0;
        while j < n { j += 1; }
        for k in 0..n { acc += x[k]; }
        let idx = 0;
        out[idx] = acc;
        h[i] = 1;
        let z = 5;
        let w = z as f32;
        let s = 1 << 3u32;
        let e = 7;
        let v: u32 = e;
        ",
    );
    assert_eq!(ty_of(&p, "acc"), DataType::F32);
    assert_eq!(ty_of(&p, "j"), DataType::U32);
    assert_eq!(ty_of(&p, "k"), DataType::U32);
    assert_eq!(ty_of(&p, "idx"), DataType::U32, "an index prefers `u32`");
    assert_eq!(ty_of(&p, "z"), DataType::I32, "no context: `i32`");
    assert_eq!(ty_of(&p, "w"), DataType::F32);
    assert_eq!(ty_of(&p, "s"), DataType::I32);
    assert_eq!(
        ty_of(&p, "e"),
        DataType::U32,
        "later use decides, like Rust"
    );
    assert!(p.body.iter().any(|n| *n
        == Node::Store {
            buf: BufRef::Param(2),
            index: Expr::Local(0),
            value: Expr::u32(1)
        }));
    // A `for` over literals alone: `i32`.
    let p = kernel("", "for q in 0..10 { }");
    assert_eq!(ty_of(&p, "q"), DataType::I32);
}

#[test]
fn constants_fold() {
    let p = file(
        r"
const A: u32 = B * 2;
const B: u32 = 1 << 4;
const F: f32 = 0.5 * 3.0;
const NEG: i32 = -(A as i32);
const C: bool = A > B && F < 2.0;
#[kernel]
pub fn k(y: &mut [f32]) {
    let a = A; let f = F; let n = NEG; let c = C;
}",
    )
    .remove(0);
    assert_eq!(*init_of(&p, "a"), Expr::u32(32));
    assert_eq!(*init_of(&p, "f"), Expr::f32(1.5));
    assert_eq!(*init_of(&p, "n"), Expr::i32(-32));
    assert_eq!(*init_of(&p, "c"), Expr::bool(true));
}

#[test]
fn helpers_are_inlined() {
    let p = file(
        r"
fn sq(x: f32) -> f32 { x * x }
fn inc(v: u32) -> u32 { v + 1 }
fn sum3(v: &[f32], base: u32) -> f32 {
    let mut s = 0.0;
    for k in 0..3 { s += v[base + k]; }
    s
}
fn put(out: &mut [f32], i: u32, v: f32) { out[i] = sq(v); }
#[kernel]
pub fn k(x: &[f32], out: &mut [f32]) {
    let i = global_id().x;
    let a = sq(x[i]);
    let b = sq(2.0);
    let c = inc(1);
    let d = sum3(x, i) + 1.0;
    put(out, i, a + b + d);
}",
    )
    .remove(0);
    let i = Expr::Local(0);
    let xi = Expr::load(BufRef::Param(0), i.clone());
    // `sq(x[i])`: the argument is used twice, so it gets a fresh local.
    let sq_x = local(&p, "sq_x");
    assert_eq!(
        p.body[1],
        Node::Let {
            local: sq_x,
            value: xi
        }
    );
    assert_eq!(*init_of(&p, "a"), Expr::Local(sq_x).mul(Expr::Local(sq_x)));
    // Simple arguments are substituted.
    assert_eq!(*init_of(&p, "b"), Expr::f32(2.0).mul(Expr::f32(2.0)));
    assert_eq!(*init_of(&p, "c"), Expr::u32(1).add(Expr::u32(1)));
    // Statements of `sum3` are hoisted before `let d`; `base` is a fresh local.
    assert_eq!(ty_of(&p, "sum3_base"), DataType::U32);
    assert_eq!(ty_of(&p, "s"), DataType::F32);
    assert_eq!(
        *init_of(&p, "d"),
        Expr::Local(local(&p, "s")).add(Expr::f32(1.0))
    );
    // `put` stores through the caller's buffer.
    assert!(matches!(
        p.body.last(),
        Some(Node::Store {
            buf: BufRef::Param(1),
            ..
        })
    ));
}

#[test]
fn several_kernels_share_helpers() {
    let ks = file(
        r"
fn twice(x: f32) -> f32 { x + x }
#[kernel] pub fn a(y: &mut [f32]) { y[0] = twice(1.0); }
#[kernel] pub fn b(y: &mut [f32]) { y[1] = twice(2.0); }",
    );
    assert_eq!(
        ks.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(ks.iter().all(|k| k.validate().is_ok()));
}

#[test]
fn locals_attribute_fixes_the_table() {
    let p = file(
        r"
#[kernel]
#[locals(mut b: u32, a: u32, unused: f32)]
pub fn k() {
    let a: u32 = 1u32;
    let mut b: u32 = a;
    b = b + 1u32;
}",
    )
    .remove(0);
    let names: Vec<_> = p
        .locals
        .iter()
        .map(|l| (l.name.as_str(), l.mutable))
        .collect();
    assert_eq!(names, [("b", true), ("a", false), ("unused", false)]);
    assert_eq!(
        p.body[0],
        Node::Let {
            local: 1,
            value: Expr::u32(1)
        }
    );
}

fn priv_buf(p: &Program, name: &str) -> BufRef {
    BufRef::Private(
        p.private
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_else(|| panic!("no private `{name}` in {:?}", p.private)) as u32,
    )
}

#[test]
fn private_arrays_lower_to_decls_and_stores() {
    let p = kernel(
        "x: &[f32], y: &mut [f32]",
        "    let mut acc = [0.0f32; 4];\n    let mut idx: [u32; 2] = [7; 2];\n    let mut t: [f32; 3];\n    let w = [1.0, 2.0];\n    let s = x[0];\n    let mut b = [s; 2];\n    acc[1] += w[0] * b[1];\n    t[2] = acc[1];\n    y[0] = t[2] + idx[1] as f32;",
    );
    let decl = |n: &str, e: DataType, len: u32| vyre::ir::PrivateDecl {
        name: n.into(),
        elem: e,
        len,
    };
    assert_eq!(
        p.private,
        vec![
            decl("acc", DataType::F32, 4),
            decl("idx", DataType::U32, 2),
            decl("t", DataType::F32, 3),
            decl("w", DataType::F32, 2),
            decl("b", DataType::F32, 2),
        ]
    );
    let (acc, idx, w, b) = (
        priv_buf(&p, "acc"),
        priv_buf(&p, "idx"),
        priv_buf(&p, "w"),
        priv_buf(&p, "b"),
    );
    // `[0.0; 4]`: an unrolled loop over 0..4 storing the literal (so the
    // middle layer can keep the array in registers).
    let acc_i = local(&p, "acc_i");
    assert_eq!(
        p.body[0],
        Node::For {
            var: acc_i,
            start: Expr::u32(0),
            end: Expr::u32(4),
            step: 1,
            unroll: true,
            body: vec![Node::Store {
                buf: acc,
                index: Expr::Local(acc_i),
                value: lit(Literal::f32(0.0)),
            }],
        }
    );
    // The annotation types the literal.
    let Node::For { body, .. } = &p.body[1] else {
        panic!("{:?}", p.body[1])
    };
    assert_eq!(
        body[0],
        Node::Store {
            buf: idx,
            index: Expr::Local(local(&p, "idx_i")),
            value: Expr::u32(7),
        }
    );
    // No stores at all for `t`; one per element of the list.
    assert_eq!(
        p.body[2],
        Node::Store {
            buf: w,
            index: Expr::u32(0),
            value: lit(Literal::f32(1.0)),
        }
    );
    assert_eq!(
        p.body[3],
        Node::Store {
            buf: w,
            index: Expr::u32(1),
            value: lit(Literal::f32(2.0)),
        }
    );
    // A non-literal value is evaluated once, into a local, before the loop.
    let b_init = local(&p, "b_init");
    assert_eq!(
        p.body[5],
        Node::Let {
            local: b_init,
            value: Expr::Local(local(&p, "s")),
        }
    );
    let Node::For { body, .. } = &p.body[6] else {
        panic!("{:?}", p.body[6])
    };
    assert_eq!(
        body[0],
        Node::Store {
            buf: b,
            index: Expr::Local(local(&p, "b_i")),
            value: Expr::Local(b_init),
        }
    );
    // Compound assignment on an element.
    let load = |buf, i: u32| Expr::Load {
        buf,
        index: Box::new(Expr::u32(i)),
    };
    assert_eq!(
        p.body[7],
        Node::Store {
            buf: acc,
            index: Expr::u32(1),
            value: Expr::Binary(
                BinOp::Add,
                Box::new(load(acc, 1)),
                Box::new(Expr::Binary(
                    BinOp::Mul,
                    Box::new(load(w, 0)),
                    Box::new(load(b, 1))
                )),
            ),
        }
    );
    assert_eq!(p.body.len(), 10);
}

#[test]
fn private_array_names_are_unique() {
    let p = kernel(
        "y: &mut [f32]",
        "    let mut a = [1.0f32; 2];\n    if y[0] > 0.0 {\n        let mut a = [2u32; 3];\n        a[0] = 1;\n    }\n    y[0] = a[1];",
    );
    let names: Vec<&str> = p.private.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a", "a_1"]);
    assert_eq!(p.private[1].elem, DataType::U32);
    // The outer `a` is visible again after the block.
    assert_eq!(
        p.body.last(),
        Some(&Node::Store {
            buf: BufRef::Param(0),
            index: Expr::u32(0),
            value: Expr::Load {
                buf: BufRef::Private(0),
                index: Box::new(Expr::u32(1)),
            },
        })
    );
    // Never the name of a parameter.
    let p = kernel(
        "y: &mut [f32]",
        "    let mut y = [0.0f32; 2];\n    y[1] = 1.0;",
    );
    assert_eq!(p.private[0].name, "y_1");
}

#[test]
fn strided_and_unrolled_loops() {
    let p = file(
        "const N: u32 = 8;\n#[kernel]\npub fn k(y: &mut [f32], n: u32) {\n    #[unroll]\n    for i in 0..N / 2 {\n        y[i] = 1.0;\n    }\n    for j in (0..n).step_by(4) {\n        y[j] = 2.0;\n    }\n    #[unroll]\n    for k in (2..N * 2).step_by(N / 2) {\n        y[k] = 3.0;\n    }\n}\n",
    )
    .remove(0);
    let shape = |n: &Node| match n {
        Node::For {
            start,
            end,
            step,
            unroll,
            ..
        } => (start.clone(), end.clone(), *step, *unroll),
        other => panic!("{other:?}"),
    };
    // Constant bounds of `#[unroll]` loops fold to literals.
    assert_eq!(shape(&p.body[0]), (Expr::u32(0), Expr::u32(4), 1, true));
    assert_eq!(shape(&p.body[1]), (Expr::u32(0), Expr::Param(1), 4, false));
    assert_eq!(shape(&p.body[2]), (Expr::u32(2), Expr::u32(16), 4, true));
}

#[test]
fn vector_loads_and_stores() {
    let p = kernel(
        "x: &[f32], y: &mut [f32]",
        "    let i = global_id().x;\n    let v: [f32; 4] = x.load4(i * 4);\n    let w = x.load2(i);\n    y.store4(i * 4, v);\n    y.store2(8, [w[1], w[0]]);",
    );
    let v = priv_buf(&p, "v");
    let w = priv_buf(&p, "w");
    assert_eq!(p.private[0].len, 4);
    assert_eq!(p.private[1].len, 2);
    let add = |a: Expr, k: u32| {
        if k == 0 {
            a
        } else {
            Expr::Binary(BinOp::Add, Box::new(a), Box::new(Expr::u32(k)))
        }
    };
    let load = |buf, index| Expr::Load {
        buf,
        index: Box::new(index),
    };
    // A computed index goes into a fresh immutable local first.
    let base = local(&p, "base");
    assert!(!p.locals[base as usize].mutable);
    assert_eq!(
        p.body[1],
        Node::Let {
            local: base,
            value: Expr::Binary(
                BinOp::Mul,
                Box::new(Expr::Local(local(&p, "i"))),
                Box::new(Expr::u32(4))
            ),
        }
    );
    for k in 0..4 {
        assert_eq!(
            p.body[2 + k as usize],
            Node::Store {
                buf: v,
                index: Expr::u32(k),
                value: load(BufRef::Param(0), add(Expr::Local(base), k)),
            }
        );
    }
    // A local index is used as it is.
    let i = Expr::Local(local(&p, "i"));
    assert_eq!(
        p.body[7],
        Node::Store {
            buf: w,
            index: Expr::u32(1),
            value: load(BufRef::Param(0), add(i, 1)),
        }
    );
    let base_1 = local(&p, "base_1");
    for k in 0..4 {
        assert_eq!(
            p.body[9 + k as usize],
            Node::Store {
                buf: BufRef::Param(1),
                index: add(Expr::Local(base_1), k),
                value: load(v, Expr::u32(k)),
            }
        );
    }
    assert_eq!(
        p.body[13],
        Node::Store {
            buf: BufRef::Param(1),
            index: Expr::u32(8),
            value: load(w, Expr::u32(1)),
        }
    );
    assert_eq!(
        p.body[14],
        Node::Store {
            buf: BufRef::Param(1),
            index: add(Expr::u32(8), 1),
            value: load(w, Expr::u32(0)),
        }
    );
    assert_eq!(p.body.len(), 15);
}

#[test]
fn atomic_result_stored_directly() {
    let p = kernel(
        "counters: &mut [u32], res: &mut [u32]",
        "    let j = global_id().x;\n    res[j] = counters.atomic_add(j, 1);",
    );
    let old = local(&p, "old");
    let j = Expr::Local(local(&p, "j"));
    assert_eq!(
        p.body[1],
        Node::Atomic {
            op: AtomicOp::Add,
            buf: BufRef::Param(0),
            index: j.clone(),
            expected: None,
            value: Expr::u32(1),
            result: AtomicResult::Let(old),
        }
    );
    assert_eq!(
        p.body[2],
        Node::Store {
            buf: BufRef::Param(1),
            index: j,
            value: Expr::Local(old),
        }
    );
}

#[test]
fn subgroup_calls_lower_to_subgroup_exprs() {
    let p = kernel(
        "x: &[f32], h: &mut [u32], q: &mut [i32]",
        "    let i = global_id().x;
    let v = x[i];
    let lane = subgroup_invocation_id();
    let size = subgroup_size();
    let s = subgroup_add(v);
    let lo = subgroup_min(v);
    let hi = subgroup_max(h[i]);
    let a = subgroup_shuffle(v, 0);
    let b = subgroup_shuffle_xor(v, lane ^ 1);
    let c = subgroup_shuffle_down(q[i], 16);
    let f = subgroup_broadcast_first(v);
    let m = subgroup_ballot(v > 0.0);
    let all = subgroup_all(v > 0.0);
    let any = subgroup_any(i == 3);
    let wide = subgroup_add(1);
    h[i] = lane + size + m;",
    );
    let v = Expr::Local(local(&p, "v"));
    let lane = Expr::Local(local(&p, "lane"));
    let sg = |op, args: Vec<Expr>| Expr::Subgroup(op, args);
    assert_eq!(*init_of(&p, "lane"), sg(SubgroupOp::InvocationId, vec![]));
    assert_eq!(*init_of(&p, "size"), sg(SubgroupOp::Size, vec![]));
    assert_eq!(*init_of(&p, "s"), sg(SubgroupOp::Add, vec![v.clone()]));
    assert_eq!(*init_of(&p, "lo"), sg(SubgroupOp::Min, vec![v.clone()]));
    assert!(
        matches!(init_of(&p, "hi"), Expr::Subgroup(SubgroupOp::Max, a) if matches!(a[0], Expr::Load { .. }))
    );
    // An unsuffixed literal lane is `u32`.
    assert_eq!(
        *init_of(&p, "a"),
        sg(SubgroupOp::Shuffle, vec![v.clone(), Expr::u32(0)])
    );
    assert_eq!(
        *init_of(&p, "b"),
        sg(
            SubgroupOp::ShuffleXor,
            vec![
                v.clone(),
                Expr::Binary(BinOp::BitXor, Box::new(lane), Box::new(Expr::u32(1)))
            ]
        )
    );
    assert!(matches!(
        init_of(&p, "c"),
        Expr::Subgroup(SubgroupOp::ShuffleDown, a) if a[1] == Expr::u32(16)
    ));
    assert_eq!(
        *init_of(&p, "f"),
        sg(SubgroupOp::BroadcastFirst, vec![v.clone()])
    );
    let pos = Expr::Binary(BinOp::Gt, Box::new(v), Box::new(Expr::f32(0.0)));
    assert_eq!(*init_of(&p, "m"), sg(SubgroupOp::Ballot, vec![pos.clone()]));
    assert_eq!(*init_of(&p, "all"), sg(SubgroupOp::All, vec![pos]));
    assert!(matches!(
        init_of(&p, "any"),
        Expr::Subgroup(SubgroupOp::Any, _)
    ));
    // An unsuffixed literal value defaults to `i32`, like any other.
    assert_eq!(
        *init_of(&p, "wide"),
        sg(SubgroupOp::Add, vec![Expr::i32(1)])
    );
    for (name, ty) in [
        ("lane", DataType::U32),
        ("size", DataType::U32),
        ("s", DataType::F32),
        ("hi", DataType::U32),
        ("c", DataType::I32),
        ("m", DataType::U32),
        ("all", DataType::Bool),
        ("any", DataType::Bool),
        ("wide", DataType::I32),
    ] {
        assert_eq!(ty_of(&p, name), ty, "{name}");
    }
    assert!(p.uses_subgroups());
}

#[test]
fn subgroup_calls_in_helpers_and_nested_expressions() {
    let src = r"
fn warp_sum(v: f32) -> f32 {
    let mut s = v;
    s = s + subgroup_shuffle_down(s, 16);
    s
}
#[kernel(workgroup_size = 64)]
pub fn k(x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    let t = warp_sum(x[i]) + subgroup_add(x[i] * 2.0).max(0.0);
    if subgroup_invocation_id() == 0 {
        y[i / subgroup_size()] = t;
    }
}
";
    let p = file(src).remove(0);
    let mut ops = Vec::new();
    fn walk(e: &Expr, out: &mut Vec<SubgroupOp>) {
        match e {
            Expr::Subgroup(op, args) => {
                out.push(*op);
                args.iter().for_each(|a| walk(a, out));
            }
            Expr::Binary(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Math(_, args) => args.iter().for_each(|a| walk(a, out)),
            Expr::Load { index, .. } | Expr::Unary(_, index) | Expr::Cast(_, index) => {
                walk(index, out)
            }
            _ => {}
        }
    }
    vyre::ir::walk_nodes(&p.body, &mut |n| match n {
        Node::Let { value, .. } | Node::Assign { value, .. } => walk(value, &mut ops),
        Node::Store { index, value, .. } => {
            walk(index, &mut ops);
            walk(value, &mut ops);
        }
        Node::If { cond, .. } => walk(cond, &mut ops),
        _ => {}
    });
    assert_eq!(
        ops,
        [
            SubgroupOp::ShuffleDown,
            SubgroupOp::Add,
            SubgroupOp::InvocationId,
            SubgroupOp::Size
        ]
    );
}

#[test]
fn tuple_helpers_lower_to_one_local_per_element() {
    let src = r"
fn minmax(v: f32, lo: f32, hi: f32) -> (f32, f32) { (v.min(lo), v.max(hi)) }
fn split(v: u32) -> (u32, u32, bool) {
    let top = v >> 16;
    return (top, v & 0xffff, top == 0);
}
fn again(v: f32) -> (f32, f32) { minmax(v, 0.0, 1.0) }
#[kernel]
pub fn k(x: &[f32], h: &mut [u32]) {
    let i = global_id().x;
    let (a, b) = minmax(x[i], 0.0, 1.0);
    let (mut hi, lo, _) = split(h[i]);
    hi += 1;
    let (c, d): (f32, f32) = again(a + b);
    let (mut p, mut q) = (1u32, 2);
    (p, q) = (q, p);
    (p, _, _) = split(q);
    h[i] = hi + lo + p + q + (c + d) as u32;
}
";
    let p = file(src).remove(0);
    let x_i = Expr::Load {
        buf: BufRef::Param(0),
        index: Box::new(Expr::Local(local(&p, "i"))),
    };
    // `v` is used twice, so the load is bound once (`minmax_v`).
    assert_eq!(*init_of(&p, "minmax_v"), x_i);
    let v = Expr::Local(local(&p, "minmax_v"));
    assert_eq!(
        *init_of(&p, "a"),
        Expr::Math(MathFn::Min, vec![v.clone(), Expr::f32(0.0)])
    );
    assert_eq!(
        *init_of(&p, "b"),
        Expr::Math(MathFn::Max, vec![v, Expr::f32(1.0)])
    );
    // The helper's statements come first; each element is one local.
    let hi_local = local(&p, "hi");
    assert!(p.locals[hi_local as usize].mutable);
    assert!(matches!(
        init_of(&p, "lo"),
        Expr::Binary(BinOp::BitAnd, _, _)
    ));
    for (name, ty) in [
        ("a", DataType::F32),
        ("b", DataType::F32),
        ("hi", DataType::U32),
        ("lo", DataType::U32),
        ("c", DataType::F32),
        ("d", DataType::F32),
        ("p", DataType::U32),
        ("q", DataType::U32),
    ] {
        assert_eq!(ty_of(&p, name), ty, "{name}");
    }
    assert!(!p.locals[local(&p, "lo") as usize].mutable);
    // `_` binds nothing: no local for the third element of `split`.
    assert_eq!(
        p.locals.iter().filter(|l| l.ty == DataType::Bool).count(),
        0,
        "{:?}",
        p.locals
    );
    // `(p, q) = (q, p)` swaps through temporaries.
    let (pid, qid) = (local(&p, "p"), local(&p, "q"));
    let mut assigns = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Assign { local, value } = n
            && (*local == pid || *local == qid)
        {
            assigns.push((*local, value.clone()));
        }
    });
    assert_eq!(assigns.len(), 3, "{assigns:?}");
    let (t0, t1) = match (&assigns[0].1, &assigns[1].1) {
        (Expr::Local(a), Expr::Local(b)) => (*a, *b),
        other => panic!("swap without temporaries: {other:?}"),
    };
    assert_eq!(assigns[0].0, pid);
    assert_eq!(assigns[1].0, qid);
    assert_eq!(
        *init_of(&p, &p.locals[t0 as usize].name.clone()),
        Expr::Local(qid)
    );
    assert_eq!(
        *init_of(&p, &p.locals[t1 as usize].name.clone()),
        Expr::Local(pid)
    );
    // `(p, _, _) = split(q)` assigns `p` the shifted value.
    let Expr::Local(top) = assigns[2].1 else {
        panic!("{:?}", assigns[2]);
    };
    assert_eq!(assigns[2].0, pid);
    let top = p.locals[top as usize].name.clone();
    assert!(matches!(init_of(&p, &top), Expr::Binary(BinOp::Shr, _, _)));
}

#[test]
fn tuple_helper_as_a_statement_runs_its_body() {
    let src = r"
fn bump(h: &mut [u32]) -> (u32, u32) {
    let old = h.atomic_add(0, 1);
    (old, old + 1)
}
#[kernel]
pub fn k(h: &mut [u32]) {
    bump(h);
    let _ = bump(h);
}
";
    let p = file(src).remove(0);
    let mut atomics = 0;
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if matches!(n, Node::Atomic { .. }) {
            atomics += 1;
        }
    });
    assert_eq!(atomics, 2);
}

#[test]
fn subgroup_docs_examples_parse() {
    // The `warp_sum` of docs/language.md: a loop with uniform bounds keeps
    // control flow uniform; an `if` value evaluates both arms (a select).
    let src = r"
fn warp_sum(v: f32) -> f32 {
    let mut s = v;
    for k in 0..5u32 {
        s += subgroup_shuffle_xor(s, 16u32 >> k);
    }
    s
}
#[kernel]
pub fn k(x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    let v = x[i];
    let s = if v > 0.0 { subgroup_add(v) } else { 0.0 };
    y[i] = warp_sum(v) + s;
}
";
    let p = file(src).remove(0);
    assert!(matches!(
        init_of(&p, "s"),
        Expr::Select { then, .. } if matches!(**then, Expr::Subgroup(SubgroupOp::Add, _))
    ));
}

fn f16_bits(v: f32) -> u16 {
    half::f16::from_f32(v).to_bits()
}

fn bf16_bits(v: f32) -> u16 {
    half::bf16::from_f32(v).to_bits()
}

#[test]
fn narrow_types_in_parameters_locals_and_arrays() {
    let p = kernel(
        "a: f16, b: bf16, c: u8, d: i8, e: u16, f: i16, x: &[bf16], y: &mut [u8], z: &mut [i16], w: &mut [f16], v: &[u16], s: &[i8]",
        r"
        let i = global_id().x;
        let h: f16 = a;
        let g: bf16 = x[i];
        let k: u8 = y[i];
        #[shared]
        let mut tile: [f16; 128];
        #[shared]
        let mut bytes: [u8; 64];
        let mut acc = [0.0f16; 8];
        let t: [bf16; 4] = [0.0; 4];
        let mut q = [0u8; 2];
        let mut r: [i16; 3];
        tile[i] = h;
        bytes[i] = k;
        acc[1] = h;
        q[0] = k;
        r[2] = z[i];
        w[i] = tile[0] + acc[1];
        ",
    );
    let scalars: Vec<(&str, DataType)> = p
        .params
        .iter()
        .filter_map(|q| match q {
            Param::Scalar { name, ty } => Some((name.as_str(), *ty)),
            Param::Buffer(_) => None,
        })
        .collect();
    assert_eq!(
        scalars,
        [
            ("a", DataType::F16),
            ("b", DataType::BF16),
            ("c", DataType::U8),
            ("d", DataType::I8),
            ("e", DataType::U16),
            ("f", DataType::I16)
        ]
    );
    let bufs: Vec<(&str, DataType, Access)> = p
        .params
        .iter()
        .filter_map(|q| match q {
            Param::Buffer(b) => Some((b.name.as_str(), b.elem, b.access)),
            Param::Scalar { .. } => None,
        })
        .collect();
    assert_eq!(
        bufs,
        [
            ("x", DataType::BF16, Access::Read),
            ("y", DataType::U8, Access::ReadWrite),
            ("z", DataType::I16, Access::ReadWrite),
            ("w", DataType::F16, Access::ReadWrite),
            ("v", DataType::U16, Access::Read),
            ("s", DataType::I8, Access::Read),
        ]
    );
    assert_eq!(ty_of(&p, "h"), DataType::F16);
    assert_eq!(ty_of(&p, "g"), DataType::BF16);
    assert_eq!(ty_of(&p, "k"), DataType::U8);
    let shared: Vec<(&str, DataType, u32)> = p
        .shared
        .iter()
        .map(|s| (s.name.as_str(), s.elem, s.len))
        .collect();
    assert_eq!(
        shared,
        [("tile", DataType::F16, 128), ("bytes", DataType::U8, 64)]
    );
    assert_eq!(p.shared_bytes(), 128 * 2 + 64);
    let private: Vec<(&str, DataType, u32)> = p
        .private
        .iter()
        .map(|s| (s.name.as_str(), s.elem, s.len))
        .collect();
    assert_eq!(
        private,
        [
            ("acc", DataType::F16, 8),
            ("t", DataType::BF16, 4),
            ("q", DataType::U8, 2),
            ("r", DataType::I16, 3),
        ]
    );
    // `[0.0; 4]` for a `[bf16; 4]` stores `bf16` zeros.
    let t = priv_buf(&p, "t");
    let mut fills = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Store { buf, value, .. } = n
            && *buf == t
        {
            fills.push(value.clone());
        }
    });
    assert_eq!(fills, [lit(Literal::BF16(0))]);
    assert!(p.validate().is_ok());
}

#[test]
fn narrow_literals_suffixes_and_inference() {
    let p = kernel(
        "hf: f16, hb: bf16, y: &mut [u8], z: &mut [i16]",
        r"
        let a = 1u8; let b = 2i16; let c = 3u16; let d = 4i8; let e = 0.5f16; let f = 0.5bf16;
        let g = -5i8; let h = -128i8; let i = 255u8; let j = 65535u16; let k = -32768i16; let l = 1f16;
        let m: f16 = 0.1; let n: bf16 = 0.1; let o = -0.0f16; let p1 = 2bf16;
        let q: u8 = 7; let r = hf * 2.0; let s = 0.25 + hb; let t = 1.5;
        let u = a + 1; let v: i8 = -1; let w = 65504.0f16; let x1 = 6e-8f16;
        y[0] = 200; z[0] = -300;
        let big = u8::MAX; let small = i16::MIN; let bits = i8::BITS; let inf = f16::INFINITY;
        let nan = bf16::from_bits(0x7fc1); let one = f16::from_bits(0x3c00); let eps = bf16::EPSILON;
        ",
    );
    let want = [
        ("a", Literal::U8(1)),
        ("b", Literal::I16(2)),
        ("c", Literal::U16(3)),
        ("d", Literal::I8(4)),
        ("e", Literal::F16(0x3800)),
        ("f", Literal::BF16(0x3f00)),
        ("g", Literal::I8(-5)),
        ("h", Literal::I8(i8::MIN)),
        ("i", Literal::U8(255)),
        ("j", Literal::U16(u16::MAX)),
        ("k", Literal::I16(i16::MIN)),
        ("l", Literal::F16(0x3c00)),
        ("m", Literal::F16(f16_bits(0.1))),
        ("n", Literal::BF16(bf16_bits(0.1))),
        ("o", Literal::F16(0x8000)),
        ("p1", Literal::BF16(0x4000)),
        ("q", Literal::U8(7)),
        ("t", Literal::f32(1.5)),
        ("v", Literal::I8(-1)),
        ("w", Literal::F16(0x7bff)),
        ("x1", Literal::F16(1)),
        ("big", Literal::U8(255)),
        ("small", Literal::I16(i16::MIN)),
        ("bits", Literal::U32(8)),
        ("inf", Literal::F16(0x7c00)),
        ("nan", Literal::BF16(0x7fc1)),
        ("one", Literal::F16(0x3c00)),
        ("eps", Literal::BF16(half::bf16::EPSILON.to_bits())),
    ];
    for (name, l) in want {
        assert_eq!(*init_of(&p, name), lit(l), "`{name}`");
        assert_eq!(ty_of(&p, name), l.ty(), "`{name}`");
    }
    // The bits: `0.1` rounded to nearest even, through `f32`.
    assert_eq!(f16_bits(0.1), 0x2e66);
    assert_eq!(bf16_bits(0.1), 0x3dcd);
    // Unsuffixed literals take the type of the other operand.
    assert_eq!(
        *init_of(&p, "r"),
        Expr::Param(0).mul(lit(Literal::F16(0x4000)))
    );
    assert_eq!(ty_of(&p, "r"), DataType::F16);
    assert_eq!(
        *init_of(&p, "s"),
        lit(Literal::BF16(bf16_bits(0.25))).add(Expr::Param(1))
    );
    assert_eq!(
        *init_of(&p, "u"),
        Expr::Local(local(&p, "a")).add(lit(Literal::U8(1)))
    );
    assert_eq!(ty_of(&p, "t"), DataType::F32, "no context: `f32`");
    let stores: Vec<&Node> = p
        .body
        .iter()
        .filter(|n| matches!(n, Node::Store { .. }))
        .collect();
    assert_eq!(
        stores,
        [
            &Node::Store {
                buf: BufRef::Param(2),
                index: Expr::u32(0),
                value: lit(Literal::U8(200)),
            },
            &Node::Store {
                buf: BufRef::Param(3),
                index: Expr::u32(0),
                value: lit(Literal::I16(-300)),
            }
        ]
    );
}

#[test]
fn narrow_float_literals_round_through_f32() {
    // The decimal text is read as the nearest `f32`, which is then rounded
    // to nearest even: 1 + 2^-11 + 2^-30 is just above the midpoint of two
    // `f16`s, but its nearest `f32` is the midpoint itself, which rounds
    // to the even `1.0`.
    let p = kernel(
        "",
        "let a: f16 = 1.00048828218; let b: f16 = 1.0009765625; let c = 1.00048828218f16;",
    );
    assert_eq!(*init_of(&p, "a"), lit(Literal::F16(0x3c00)));
    assert_eq!(*init_of(&p, "b"), lit(Literal::F16(0x3c01)));
    assert_eq!(*init_of(&p, "c"), lit(Literal::F16(0x3c00)));
}

#[test]
fn narrow_operators_math_casts_and_subgroups() {
    let p = kernel(
        "a: f16, b: bf16, c: u8, d: i8, e: u16, f: i16, y: &mut [f32]",
        r"
        let s = a + a * a - a / a % a;
        let t = -b;
        let u = !c & c | c ^ c;
        let v = -d;
        let w = c << 3;
        let x = f >> 1u32;
        let cmp = a < a && b >= b && c != c && d == d && e > e && f <= f;
        let m1 = d.abs();
        let m2 = c.min(c).max(c).clamp(c, c);
        let m3 = b.sqrt().exp().ln().sin().cos().tanh().floor().ceil();
        let m4 = a.powf(a).mul_add(a, a);
        let m5 = f16::max(a, a);
        let c1 = a as f32;
        let c2 = y[0] as f16;
        let c3 = b as u8;
        let c4 = c as bf16;
        let c5 = d as i16;
        let c6 = true as u8;
        let g1 = subgroup_add(a);
        let g2 = subgroup_shuffle(c, 1);
        let g3 = subgroup_max(f);
        let sel = if cmp { a } else { 1.0 };
        ",
    );
    let want = [
        ("s", DataType::F16),
        ("t", DataType::BF16),
        ("u", DataType::U8),
        ("v", DataType::I8),
        ("w", DataType::U8),
        ("x", DataType::I16),
        ("cmp", DataType::Bool),
        ("m1", DataType::I8),
        ("m2", DataType::U8),
        ("m3", DataType::BF16),
        ("m4", DataType::F16),
        ("m5", DataType::F16),
        ("c1", DataType::F32),
        ("c2", DataType::F16),
        ("c3", DataType::U8),
        ("c4", DataType::BF16),
        ("c5", DataType::I16),
        ("c6", DataType::U8),
        ("g1", DataType::F16),
        ("g2", DataType::U8),
        ("g3", DataType::I16),
        ("sel", DataType::F16),
    ];
    for (name, t) in want {
        assert_eq!(ty_of(&p, name), t, "`{name}`");
    }
    assert_eq!(
        *init_of(&p, "w"),
        Expr::Param(2).shl(Expr::i32(3)),
        "a shift amount keeps its own type"
    );
    assert_eq!(
        *init_of(&p, "m5"),
        Expr::Math(MathFn::Max, vec![Expr::Param(0), Expr::Param(0)])
    );
    assert_eq!(
        *init_of(&p, "c2"),
        Expr::Cast(
            DataType::F16,
            Box::new(Expr::Load {
                buf: BufRef::Param(6),
                index: Box::new(Expr::u32(0))
            })
        )
    );
    assert_eq!(
        *init_of(&p, "g2"),
        Expr::Subgroup(SubgroupOp::Shuffle, vec![Expr::Param(2), Expr::u32(1)])
    );
    assert_eq!(
        *init_of(&p, "sel"),
        Expr::Select {
            cond: Box::new(Expr::Local(local(&p, "cmp"))),
            then: Box::new(Expr::Param(0)),
            otherwise: Box::new(lit(Literal::F16(0x3c00))),
        }
    );
    assert_eq!(
        *init_of(&p, "v"),
        Expr::Unary(UnOp::Neg, Box::new(Expr::Param(3)))
    );
}

#[test]
fn narrow_helpers_constants_and_locals_attribute() {
    let p = file(
        r"
const HALF: f16 = 0.5;
const MASK: u8 = 0xf0;
const TWO: bf16 = 1.0 + 1.0;
fn scale(v: f16, by: f16) -> f16 { v * by + HALF }
fn split(v: u16) -> (u8, u8) { ((v >> 8) as u8, v as u8) }
fn put(out: &mut [bf16], i: u32, v: bf16) { out[i] = v * TWO; }
#[kernel]
#[locals(i: u32, h: f16, hi: u8, lo: u8)]
pub fn k(x: &[f16], y: &mut [bf16], z: &mut [u8], w: &[u16]) {
    let i = global_id().x;
    let h = scale(x[i], 2.0);
    let (hi, lo) = split(w[i]);
    z[i] = (hi & MASK) | lo;
    put(y, i, h as bf16);
}",
    )
    .remove(0);
    assert_eq!(
        p.locals[..4],
        [
            LocalDecl {
                name: "i".into(),
                ty: DataType::U32,
                mutable: false
            },
            LocalDecl {
                name: "h".into(),
                ty: DataType::F16,
                mutable: false
            },
            LocalDecl {
                name: "hi".into(),
                ty: DataType::U8,
                mutable: false
            },
            LocalDecl {
                name: "lo".into(),
                ty: DataType::U8,
                mutable: false
            },
        ]
    );
    let x_i = Expr::Load {
        buf: BufRef::Param(0),
        index: Box::new(Expr::Local(0)),
    };
    assert_eq!(
        *init_of(&p, "h"),
        x_i.mul(lit(Literal::F16(0x4000)))
            .add(lit(Literal::F16(0x3800)))
    );
    assert_eq!(ty_of(&p, "split_v"), DataType::U16);
    assert_eq!(
        *init_of(&p, "put_v"),
        Expr::Cast(DataType::BF16, Box::new(Expr::Local(1)))
    );
    assert!(p.body.iter().any(|n| *n
        == Node::Store {
            buf: BufRef::Param(1),
            index: Expr::Local(local(&p, "put_i")),
            value: Expr::Local(local(&p, "put_v")).mul(lit(Literal::BF16(0x4000))),
        }));
    assert!(p.body.iter().any(|n| {
        *n == Node::Store {
            buf: BufRef::Param(2),
            index: Expr::Local(0),
            value: Expr::Local(2)
                .bitand(lit(Literal::U8(0xf0)))
                .bitor(Expr::Local(3)),
        }
    }));
}

#[test]
fn load8_and_store8_on_narrow_elements() {
    let p = kernel(
        "x: &[bf16], y: &mut [bf16], b: &[u8], c: &mut [i8], h: &[f16], g: &mut [f16]",
        r"
        let i = global_id().x * 8;
        let v = x.load8(i);
        y.store8(i, v);
        let bytes: [u8; 8] = b.load8(i);
        c.store8(i, [1, 2, 3, 4, 5, 6, 7, -8]);
        let q = h.load4(i);
        g.store4(i, q);
        let r = h.load2(i);
        g.store2(i, r);
        ",
    );
    let v = priv_buf(&p, "v");
    assert_eq!(p.private[v_index(&p, "v")].len, 8);
    assert_eq!(p.private[v_index(&p, "v")].elem, DataType::BF16);
    assert_eq!(p.private[v_index(&p, "bytes")].elem, DataType::U8);
    assert_eq!(p.private[v_index(&p, "q")].elem, DataType::F16);
    let i = Expr::Local(local(&p, "i"));
    let lane = |k: u32| {
        if k == 0 {
            i.clone()
        } else {
            i.clone().add(Expr::u32(k))
        }
    };
    let mut loads = Vec::new();
    let mut stores = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Store { buf, index, value } = n {
            if *buf == v {
                loads.push((index.clone(), value.clone()));
            }
            if *buf == BufRef::Param(1) {
                stores.push((index.clone(), value.clone()));
            }
        }
    });
    let want_loads: Vec<(Expr, Expr)> = (0..8)
        .map(|k| {
            (
                Expr::u32(k),
                Expr::Load {
                    buf: BufRef::Param(0),
                    index: Box::new(lane(k)),
                },
            )
        })
        .collect();
    assert_eq!(loads, want_loads);
    let want_stores: Vec<(Expr, Expr)> = (0..8)
        .map(|k| {
            (
                lane(k),
                Expr::Load {
                    buf: v,
                    index: Box::new(Expr::u32(k)),
                },
            )
        })
        .collect();
    assert_eq!(stores, want_stores);
    let mut list = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Store {
            buf: BufRef::Param(3),
            value,
            ..
        } = n
        {
            list.push(value.clone());
        }
    });
    let want: Vec<Expr> = [1, 2, 3, 4, 5, 6, 7, -8]
        .into_iter()
        .map(|v| lit(Literal::I8(v)))
        .collect();
    assert_eq!(list, want);
    assert!(p.validate().is_ok());
}

fn v_index(p: &Program, name: &str) -> usize {
    p.private
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("no private array `{name}`"))
}

const SCALE: &str = r"
fn twice(v: f32) -> f32 { v + v }
/// y = a * x
#[kernel(workgroup_size = 256, instances(f32 = (T = f32), bf16 = (T = bf16), h = (T = f16)))]
pub fn scale<T>(a: f32, x: &[T], y: &mut [T]) {
    let i = global_id().x;
    if i < y.len() {
        let v: T = (twice(a) * x[i] as f32) as T;
        y[i] = v;
        y[0] = 0.0 as T;
        let top = T::MAX;
    }
}
";

#[test]
fn generic_kernel_instances_are_ordinary_kernels() {
    let m = parse("scale.vyre", SCALE).unwrap_or_else(|d| panic!("{}", d.render()));
    let names: Vec<&str> = m.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["scale_f32", "scale_bf16", "scale_h"]);
    // Each instance is the kernel written out with `T` replaced.
    for (k, t) in m.kernels.iter().zip(["f32", "bf16", "f16"]) {
        let src = SCALE
            .replace(
                "#[kernel(workgroup_size = 256, instances(f32 = (T = f32), bf16 = (T = bf16), h = (T = f16)))]",
                "#[kernel(workgroup_size = 256)]",
            )
            .replace("scale<T>", &k.name)
            .replace("T", t);
        let plain = parse("plain.vyre", &src).unwrap_or_else(|d| panic!("{}", d.render()));
        assert_eq!(plain.kernels[0], *k, "{t}");
        assert_eq!(k.doc, "y = a * x");
        assert!(plain.generics.is_empty());
    }
    let p = &m.kernels[1];
    assert_eq!(
        p.params[1],
        Param::Buffer(vyre::ir::BufferDecl {
            name: "x".into(),
            elem: DataType::BF16,
            access: Access::Read
        })
    );
    assert_eq!(ty_of(p, "v"), DataType::BF16);
    assert_eq!(
        *init_of(p, "top"),
        lit(Literal::BF16(half::bf16::MAX.to_bits()))
    );
    assert_eq!(
        m.generics,
        [vyre::lang::GenericKernel {
            name: "scale".into(),
            type_params: vec!["T".into()],
            const_params: vec![],
            instances: vec![
                vyre::lang::KernelInstance {
                    kernel: "scale_f32".into(),
                    suffix: "f32".into(),
                    types: vec![("T".into(), DataType::F32)],
                    consts: vec![],
                },
                vyre::lang::KernelInstance {
                    kernel: "scale_bf16".into(),
                    suffix: "bf16".into(),
                    types: vec![("T".into(), DataType::BF16)],
                    consts: vec![],
                },
                vyre::lang::KernelInstance {
                    kernel: "scale_h".into(),
                    suffix: "h".into(),
                    types: vec![("T".into(), DataType::F16)],
                    consts: vec![],
                },
            ],
            tune: vec![],
        }]
    );
}

#[test]
fn const_generic_instances() {
    let m = parse(
        "tiled.vyre",
        r"
const BASE: u32 = 4;
#[kernel(workgroup_size = 64)]
pub fn before(y: &mut [f32]) { y[0] = 1.0; }
#[kernel(workgroup_size = TILE, instances(small = (TILE = 16, NEG = -1, ON = true), big = (TILE = 32u32, NEG = -2i32, ON = false), base = (TILE = BASE, NEG = 0, ON = true)))]
pub fn tiled<const TILE: u32, const NEG: i32, const ON: bool>(x: &[f32], y: &mut [f32]) {
    #[shared]
    let mut tile: [f32; TILE];
    let mut acc = [0.0; TILE * 2];
    let l = local_id().x;
    tile[l] = x[global_id().x];
    barrier();
    #[unroll]
    for k in 0..TILE {
        acc[k] = tile[k] * (NEG as f32);
    }
    for k in (0..TILE).step_by(2) {
        acc[k + 1] = 1.0;
    }
    if ON {
        y[workgroup_id().x] = acc[TILE - 1] + (TILE as f32);
    }
}
#[kernel(workgroup_size = 64)]
pub fn after(y: &mut [f32]) { y[0] = 2.0; }
",
    )
    .unwrap_or_else(|d| panic!("{}", d.render()));
    let names: Vec<&str> = m.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["before", "tiled_small", "tiled_big", "tiled_base", "after"]
    );
    for (k, (tile, neg)) in m.kernels[1..4].iter().zip([(16, -1), (32, -2), (4, 0)]) {
        assert_eq!(k.workgroup_size, [tile, 1, 1]);
        assert_eq!(k.shared[0].len, tile);
        assert_eq!(k.private[0].len, tile * 2);
        let unrolled = k
            .body
            .iter()
            .any(|n| matches!(n, Node::For { end, unroll: true, .. } if *end == Expr::u32(tile)));
        assert!(unrolled, "{}", k.name);
        let stepped = k.body.iter().any(|n| {
            matches!(n, Node::For { end, step: 2, unroll: false, .. } if *end == Expr::u32(tile))
        });
        assert!(stepped, "{}", k.name);
        let text = vyre::lang::print(k);
        assert!(text.contains(&format!("({neg}i32 as f32)")), "{text}");
    }
    // `if ON` with `ON = false` keeps the branch (constant conditions are
    // the middle layer's business).
    assert!(matches!(
        m.kernels[2].body.last(),
        Some(Node::If { cond, .. }) if *cond == Expr::bool(false)
    ));
    let g = &m.generics[0];
    assert_eq!(g.name, "tiled");
    assert!(g.type_params.is_empty());
    assert_eq!(g.const_params, ["TILE", "NEG", "ON"]);
    assert_eq!(
        g.instances[2].consts,
        [
            ("TILE".to_string(), Literal::U32(4)),
            ("NEG".to_string(), Literal::I32(0)),
            ("ON".to_string(), Literal::Bool(true)),
        ]
    );
    assert_eq!(g.instances[1].kernel, "tiled_big");
    assert_eq!(g.instances[1].suffix, "big");
}

#[test]
fn type_and_const_parameters_together() {
    let m = parse(
        "mixed.vyre",
        r"
#[kernel(instances(h4 = (T = f16, N = 4), b8 = (N = 8, T = bf16), u2 = (T = u8, N = 2)))]
pub fn pack<T, const N: u32>(x: &[T], y: &mut [T]) {
    let i = global_id().x * N;
    let mut v: [T; N];
    for k in 0..N { v[k] = x[i + k]; }
    let mut s: T = v[0];
    for k in 1..N { s = s.max(v[k]); }
    y[i] = s;
}",
    )
    .unwrap_or_else(|d| panic!("{}", d.render()));
    let got: Vec<(&str, DataType, u32)> = m
        .kernels
        .iter()
        .map(|k| (k.name.as_str(), k.private[0].elem, k.private[0].len))
        .collect();
    assert_eq!(
        got,
        [
            ("pack_h4", DataType::F16, 4),
            ("pack_b8", DataType::BF16, 8),
            ("pack_u2", DataType::U8, 2)
        ]
    );
    assert_eq!(
        m.generics[0].instances[1].types,
        [("T".to_string(), DataType::BF16)]
    );
    assert_eq!(
        m.generics[0].instances[1].consts,
        [("N".to_string(), Literal::U32(8))]
    );
    for k in &m.kernels {
        assert!(k.validate().is_ok(), "{}", k.name);
    }
}

#[test]
fn narrow_if_values_start_at_the_types_zero() {
    let p = kernel(
        "h: f16, c: u8, y: &mut [f16]",
        r"
        let v = if c > 1 { let t = h * 2.0; t } else { h };
        let w: bf16 = if c > 2 { let t = 1.0; t } else { 0.5 };
        let b = if c > 3 { let t = c; t } else { 7 };
        y[0] = v;
        ",
    );
    let zeros: Vec<(DataType, Expr)> = ["if_value", "if_value_1", "if_value_2"]
        .iter()
        .map(|n| (ty_of(&p, n), init_of(&p, n).clone()))
        .collect();
    assert_eq!(
        zeros,
        [
            (DataType::F16, lit(Literal::F16(0))),
            (DataType::BF16, lit(Literal::BF16(0))),
            (DataType::U8, lit(Literal::U8(0))),
        ]
    );
    assert_eq!(ty_of(&p, "w"), DataType::BF16);
    assert_eq!(ty_of(&p, "b"), DataType::U8);
    assert!(p.validate().is_ok());
}

// ---------------------------------------------------------------------------
// Matrix operations and asynchronous copies.

use vyre::ir::{AsyncOp, MatrixDecl, MatrixLayout, MatrixOp, MatrixRole, MatrixShape};

const S16_8_16: MatrixShape = MatrixShape { m: 16, n: 8, k: 16 };

fn mdecl(name: &str, role: MatrixRole, elem: DataType, shape: MatrixShape) -> MatrixDecl {
    MatrixDecl {
        name: name.into(),
        role,
        elem,
        shape,
        scope: vyre::ir::MatrixScope::Subgroup,
    }
}

/// Every matrix and copy statement, compared with the program built by
/// hand with the IR builder.
#[test]
fn matrix_statements_match_builder() {
    let src = r"
#[kernel(workgroup_size = 32)]
pub fn mm(x: &[bf16], w: &[bf16], y: &mut [f32], h: &mut [bf16], s: f32) {
    #[shared] let mut t: [bf16; 256];
    let l = local_id().x;
    async_copy(&mut t, l * 8, &x, l * 8 + 64, 8);
    async_commit();
    async_wait(0);
    barrier();
    let a = matrix_load_a::<bf16, 16, 8, 16>(&t, 0, 16);
    let b = matrix_load_b_col_major::<bf16, 16, 8, 16>(&w, 32, 16);
    let mut c = matrix_zero::<f32, 16, 8, 16>();
    c = matrix_mma(a, b, c);
    let d = matrix_mma(a, b, c);
    let mut e = matrix_fill::<f32, 16, 8, 16>(s * 2.0);
    e = matrix_load_acc_col_major(&y, 8, 16);
    matrix_store(&mut y, 0, 8, d);
    matrix_store_col_major(&mut h, 128, 16, e);
}
";
    let got = file(src).remove(0);
    let mut p = vyre::ir::ProgramBuilder::new("mm", [32, 1, 1]);
    let x = p.buffer("x", DataType::BF16, Access::Read);
    let w = p.buffer("w", DataType::BF16, Access::Read);
    let y = p.buffer("y", DataType::F32, Access::ReadWrite);
    let h = p.buffer("h", DataType::BF16, Access::ReadWrite);
    let s = p.scalar("s", DataType::F32);
    let t = p.shared("t", DataType::BF16, 256);
    let l = p.local("l", DataType::U32, false);
    use MatrixRole::{A, Accumulator, B};
    let a = p.matrix("a", A, DataType::BF16, S16_8_16);
    let b = p.matrix("b", B, DataType::BF16, S16_8_16);
    let c = p.matrix("c", Accumulator, DataType::F32, S16_8_16);
    let d = p.matrix("d", Accumulator, DataType::F32, S16_8_16);
    let e = p.matrix("e", Accumulator, DataType::F32, S16_8_16);
    p.body(|blk| {
        blk.let_(l, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.async_copy(
            t,
            Expr::local(l).mul(Expr::u32(8)),
            x,
            Expr::local(l).mul(Expr::u32(8)).add(Expr::u32(64)),
            8,
        );
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
        blk.matrix(MatrixOp::Load {
            matrix: a,
            buf: BufRef::Shared(t),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: b,
            buf: BufRef::Param(w),
            offset: Expr::u32(32),
            stride: Expr::u32(16),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Fill {
            matrix: c,
            value: Expr::f32(0.0),
        });
        blk.matrix(MatrixOp::MultiplyAdd { d: c, a, b, c });
        blk.matrix(MatrixOp::MultiplyAdd { d, a, b, c });
        blk.matrix(MatrixOp::Fill {
            matrix: e,
            value: Expr::param(s).mul(Expr::f32(2.0)),
        });
        blk.matrix(MatrixOp::Load {
            matrix: e,
            buf: BufRef::Param(y),
            offset: Expr::u32(8),
            stride: Expr::u32(16),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: d,
            buf: BufRef::Param(y),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: e,
            buf: BufRef::Param(h),
            offset: Expr::u32(128),
            stride: Expr::u32(16),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
    });
    let want = p.finish();
    assert!(want.validate().is_ok(), "{:?}", want.validate());
    assert_eq!(got, want);
    assert!(got.uses_matrices());
}

/// Shapes come from literals, `const`s, expressions of them in braces and
/// the const parameters of a kernel instance; the element type from a type
/// parameter. A declaration without a value makes no statement, and an
/// assignment may leave the generic arguments out (or repeat them).
#[test]
fn matrix_shapes_types_and_declarations() {
    let src = r"
const BM: u32 = 32;
const KT: u32 = 16;
#[kernel(workgroup_size = 64, instances(h = (T = f16, BN = 8), b = (T = bf16, BN = 16)))]
pub fn g<T, const BN: u32>(x: &[T], y: &mut [f32]) {
    let mut a: MatrixA<T, BM, BN, KT>;
    let mut c: MatrixAcc<f32, { BM / 2 * 2 }, BN, 16>;
    a = matrix_load_a(&x, 0, KT);
    a = matrix_load_a_col_major::<T, 32, BN, 16>(&x, 64, BM);
    let b: MatrixB<T, BM, BN, KT> = matrix_load_b(&x, 512, BN);
    c = matrix_mma(a, b, c);
    matrix_store(&mut y, 0, BN, c);
}
";
    let ks = file(src);
    assert_eq!(ks.len(), 2);
    for (k, elem, n) in [(&ks[0], DataType::F16, 8), (&ks[1], DataType::BF16, 16)] {
        let shape = MatrixShape { m: 32, n, k: 16 };
        assert_eq!(
            k.matrices,
            [
                mdecl("a", MatrixRole::A, elem, shape),
                mdecl("c", MatrixRole::Accumulator, DataType::F32, shape),
                mdecl("b", MatrixRole::B, elem, shape),
            ],
            "{}",
            k.name
        );
        // The two declarations without a value make no statement.
        assert_eq!(k.body.len(), 5, "{:#?}", k.body);
        assert_eq!(
            k.body[0],
            Node::Matrix(MatrixOp::Load {
                matrix: 0,
                buf: BufRef::Param(0),
                offset: Expr::u32(0),
                stride: Expr::u32(16),
                layout: MatrixLayout::RowMajor,
                clip: None,
            })
        );
        assert_eq!(
            k.body[1],
            Node::Matrix(MatrixOp::Load {
                matrix: 0,
                buf: BufRef::Param(0),
                offset: Expr::u32(64),
                stride: Expr::u32(32),
                layout: MatrixLayout::ColMajor,
                clip: None,
            })
        );
        assert_eq!(
            k.body[3],
            Node::Matrix(MatrixOp::MultiplyAdd {
                d: 1,
                a: 0,
                b: 2,
                c: 1
            })
        );
        assert_eq!(
            k.body[4],
            Node::Matrix(MatrixOp::Store {
                matrix: 1,
                buf: BufRef::Param(1),
                offset: Expr::u32(0),
                stride: Expr::u32(n),
                layout: MatrixLayout::RowMajor,
                clip: None,
            })
        );
    }
}

/// Matrices shadow like locals and get unique names (never a local's,
/// parameter's or array's); in loops, `#[unroll]` loops and helpers their
/// statements are ordinary statements.
#[test]
fn matrix_scopes_loops_and_helpers() {
    let src = r"
const COUNT: u32 = 4;
fn stage(t: &mut [f32], src: &[f32], i: u32) {
    async_copy(&mut t, i * COUNT, &src, i * COUNT, COUNT);
    async_commit();
}
fn tile_sum(t: &[bf16], out: &mut [f32], at: u32) {
    let a = matrix_load_a::<bf16, 16, 8, 16>(&t, at, 16);
    let b = matrix_load_b::<bf16, 16, 8, 16>(&t, at, 8);
    let mut c = matrix_zero::<f32, 16, 8, 16>();
    c = matrix_mma(a, b, c);
    matrix_store(&mut out, at, 8, c);
}
#[kernel(workgroup_size = 32)]
pub fn k(x: &[f32], t: &[bf16], out: &mut [f32], n: u32) {
    #[shared] let mut s: [f32; 128];
    let mut c = matrix_zero::<f32, 16, 8, 16>();
    for i in 0..n {
        stage(s, x, i);
        async_wait(1);
        #[unroll]
        for j in 0..2 {
            let a = matrix_load_a::<bf16, 16, 8, 16>(&t, j * 256, 16);
            let a = matrix_load_a::<bf16, 16, 8, 16>(&t, j * 256 + 16, 16);
            let b = matrix_load_b::<bf16, 16, 8, 16>(&t, 512, 8);
            c = matrix_mma(a, b, c);
        }
    }
    let c = 1u32;
    tile_sum(t, out, c);
}
";
    let k = file(src).remove(0);
    let names: Vec<(&str, MatrixRole)> = k
        .matrices
        .iter()
        .map(|m| (m.name.as_str(), m.role))
        .collect();
    use MatrixRole::{A, Accumulator, B};
    assert_eq!(
        names,
        [
            ("c", Accumulator),
            ("a", A),
            ("a_1", A),
            ("b", B),
            ("a_2", A),
            ("b_1", B),
            ("c_2", Accumulator),
        ]
    );
    // The local `c` comes after the matrix `c`: it takes the next name.
    assert_eq!(k.locals[local(&k, "c_1") as usize].ty, DataType::U32);
    let Node::For { body, .. } = &k.body[1] else {
        panic!("{:#?}", k.body);
    };
    // The helper's copy and commit, the wait, the unrolled loop.
    assert!(
        matches!(
            body[1],
            Node::Async(AsyncOp::Copy {
                dst: 0,
                src: 0,
                count: 4,
                ..
            })
        ),
        "{body:#?}"
    );
    assert_eq!(body[2], Node::Async(AsyncOp::Commit));
    assert_eq!(body[3], Node::Async(AsyncOp::Wait { pending: 1 }));
    let Node::For {
        unroll: true,
        body: inner,
        ..
    } = &body[4]
    else {
        panic!("{body:#?}");
    };
    assert_eq!(
        inner[3],
        Node::Matrix(MatrixOp::MultiplyAdd {
            d: 0,
            a: 2,
            b: 3,
            c: 0
        })
    );
    // The helper's matrices are its own.
    let last = k.body.last().unwrap();
    assert_eq!(
        *last,
        Node::Matrix(MatrixOp::Store {
            matrix: 6,
            buf: BufRef::Param(2),
            offset: Expr::local(local(&k, "tile_sum_at")),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        })
    );
    assert!(k.validate().is_ok());
}

// Diagnostics of matrix and copy misuse: message and `line:col`.

/// A kernel with an A matrix `a`, a B matrix `b` and an accumulator `c`
/// (16 x 8 x 16), whose `body` starts on line 8.
fn mk(body: &str) -> String {
    format!(
        "fn f(v: f32) -> f32 {{ v }}
#[kernel(workgroup_size = 64)]
pub fn k(x: &[bf16], y: &mut [f32], r: &[f32], u: &mut [u32], n: u32) {{
    #[shared] let mut t: [bf16; 1024];
    let mut a = matrix_load_a::<bf16, 16, 8, 16>(&t, 0, 16);
    let mut b = matrix_load_b::<bf16, 16, 8, 16>(&x, 0, 8);
    let mut c = matrix_zero::<f32, 16, 8, 16>();
{body}
}}
"
    )
}

/// The 1-based line and column of the first `needle` in `src`.
fn pos(src: &str, needle: &str) -> (usize, usize) {
    let at = src
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the source"));
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Assert that parsing `src` reports a diagnostic containing `message`
/// at the start of `at`.
#[track_caller]
fn diag(src: &str, at: &str, message: &str) {
    let ds = match parse("m.vyre", src) {
        Ok(_) => panic!("expected an error containing {message:?}"),
        Err(d) => d.diagnostics,
    };
    let (line, column) = pos(src, at);
    assert!(
        ds.iter()
            .any(|d| d.line == line && d.column == column && d.message.contains(message)),
        "no diagnostic at {line}:{column} containing {message:?}; got:\n{}",
        ds.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_misuse_kernel_is_valid() {
    let k = file(&mk(
        "    c = matrix_mma(a, b, c);\n    matrix_store(&mut y, 0, 8, c);",
    ))
    .remove(0);
    assert_eq!(k.matrices.len(), 3);
}

#[test]
fn matrices_are_not_values() {
    let used = "is a matrix; matrices are used only by `matrix_mma` and `matrix_store`";
    for (body, at) in [
        ("    let v = a + 1.0;", "a + 1.0"),
        ("    let v = c[0];", "c[0]"),
        ("    let v = c.len();", "c.len()"),
        ("    let v = f(b);", "b);"),
        ("    if a == b { return; }", "a == b"),
        ("    y[0] = c;", "c;\n}"),
        ("    let e = c;", "c;\n}"),
        ("    let (p, q) = (c, 1.0);", "c, 1.0"),
        ("    (n2, c) = (1.0, 2.0);", "c) ="),
    ] {
        let src = mk(body);
        diag(&src, at, used);
        let message = format!("`{}` {used}", &at[..1]);
        diag(&src, at, &message);
    }
    // Inside a helper too (a helper's own matrix).
    let src = "fn h(t: &[bf16]) -> f32 {
    let a = matrix_load_a::<bf16, 16, 8, 16>(&t, 0, 16);
    a
}
#[kernel(workgroup_size = 32)]
pub fn k(t: &[bf16], y: &mut [f32]) { y[0] = h(t); }
";
    diag(src, "a\n}", "`a` is a matrix");
    // Nor can a helper take one.
    let src = "fn h(a: MatrixA<bf16, 16, 8, 16>) {}
#[kernel(workgroup_size = 32)]
pub fn k(y: &mut [f32]) { }
";
    diag(
        src,
        "MatrixA",
        "matrices cannot be passed to or returned from helpers",
    );
}

#[test]
fn matrix_assignments() {
    diag(
        &mk("    c += matrix_mma(a, b, c);"),
        "c += ",
        "compound assignment is not supported; accumulate with `c = matrix_mma(a, b, c);`",
    );
    diag(
        &mk("    c = 1.0;"),
        "1.0;",
        "`c` is a matrix; assign it the result of `matrix_load_a`",
    );
    diag(
        &mk("    let d = matrix_zero::<f32, 16, 8, 16>();\n    d = matrix_mma(a, b, d);"),
        "d = matrix_mma",
        "cannot assign twice to the immutable matrix `d`; declare it with `let mut d`",
    );
    diag(
        &mk("    a = matrix_load_b(&t, 0, 8);"),
        "matrix_load_b(",
        "`matrix_load_b` makes a B matrix, but `a` is an A matrix (`MatrixA<bf16, 16, 8, 16>`)",
    );
    diag(
        &mk("    a = matrix_load_a::<bf16, 32, 8, 16>(&t, 0, 16);"),
        "matrix_load_a::<bf16, 32",
        "mismatched matrix types: `a` is `MatrixA<bf16, 16, 8, 16>`, but this `matrix_load_a` makes `MatrixA<bf16, 32, 8, 16>`",
    );
    diag(
        &mk("    let e = matrix_load_a(&t, 0, 16);"),
        "matrix_load_a(&t",
        "`matrix_load_a` needs the element type and shape of the matrix it makes here: `matrix_load_a::<bf16, M, N, K>(..)`",
    );
    diag(
        &mk("    let e: MatrixB<bf16, 16, 8, 16> = matrix_load_a(&t, 0, 16);"),
        "matrix_load_a(&t",
        "`matrix_load_a` makes an A matrix, but `e` is a B matrix",
    );
    diag(
        &mk("    let e: f32 = matrix_zero::<f32, 16, 8, 16>();"),
        "f32 = matrix",
        "`e` is a matrix; its type is `MatrixA<T, M, N, K>`",
    );
    diag(
        &mk("    let mut e: MatrixAcc<f32, 16, 8, 16> = 0.0;"),
        "0.0;",
        "a matrix gets its value from",
    );
    diag(
        &mk("    let v = 1.0 + matrix_zero::<f32, 16, 8, 16>();"),
        "matrix_zero::<f32, 16, 8, 16>();\n}",
        "`matrix_zero` makes a matrix, which is not a value",
    );
    diag(
        &mk("    matrix_zero::<f32, 16, 8, 16>();"),
        "matrix_zero::<f32, 16, 8, 16>();\n}",
        "the matrix `matrix_zero` makes would be dropped",
    );
    diag(
        &mk("    let v = matrix_store(&mut y, 0, 8, c);"),
        "matrix_store(",
        "`matrix_store` is a statement; it cannot be used inside an expression",
    );
}

#[test]
fn matrix_generic_arguments() {
    diag(
        &mk("    let e = matrix_load_a::<bf16, 16, 8>(&t, 0, 16);"),
        "<bf16, 16, 8>",
        "`matrix_load_a` takes 4 generic arguments, the element type and the shape (m, n, k) of the multiply: `<bf16, M, N, K>`, but 3 were given",
    );
    diag(
        &mk("    let mut e: MatrixAcc<f32, 16>;"),
        "<f32, 16>",
        "`MatrixAcc` takes 4 generic arguments",
    );
    diag(
        &mk("    let e = matrix_load_a::<f32, 16, 8, 16>(&r, 0, 16);"),
        "f32, 16, 8, 16>(&r",
        "an A matrix holds `f16` or `bf16` elements, not `f32`",
    );
    diag(
        &mk("    let mut e = matrix_zero::<bf16, 16, 8, 16>();"),
        "bf16, 16, 8, 16>()",
        "an accumulator holds `f32` elements, not `bf16`",
    );
    diag(
        &mk("    let e = matrix_load_a::<16, bf16, 8, 16>(&t, 0, 16);"),
        "16, bf16",
        "the first generic argument of a matrix is its element type",
    );
    diag(
        &mk("    let e = matrix_load_a::<bf16, n, 8, 16>(&t, 0, 16);"),
        "n, 8, 16>",
        "the matrix dimension M must be a constant (an integer literal, a `const` or a const parameter of the kernel), but `n` is a run-time value",
    );
    diag(
        &mk("    let e = matrix_load_a::<bf16, 16, { n * 2 }, 16>(&t, 0, 16);"),
        "{ n * 2 }",
        "the matrix dimension N must be a constant",
    );
    diag(
        &mk("    let e = matrix_load_a::<bf16, 16, 8, NOPE>(&t, 0, 16);"),
        "NOPE",
        "cannot find the constant `NOPE` (the matrix dimension K)",
    );
    diag(
        &mk("    let mut e = matrix_zero::<f32, 8, 8, 16>();"),
        "<f32, 8, 8, 16>",
        "the matrix shape m = 8, n = 8, k = 16 is not supported: m must be a multiple of 16, n of 8 and k of 16",
    );
    diag(
        &mk("    let mut e = matrix_zero::<f32, 128, 64, 16>();"),
        "<f32, 128, 64, 16>",
        "with at most 4096 elements",
    );
    diag(
        &mk("    let e = matrix_mma::<f32, 16, 8, 16>(a, b, c);"),
        "<f32, 16, 8, 16>(a",
        "`matrix_mma` takes no generic arguments",
    );
    diag(
        &mk("    matrix_store::<f32>(&mut y, 0, 8, c);"),
        "<f32>(&mut",
        "`matrix_store` takes no generic arguments",
    );
}

#[test]
fn matrix_operands() {
    diag(
        &mk("    c = matrix_mma(b, a, c);"),
        "b, a, c",
        "the first operand of `matrix_mma` is an A matrix, but `b` is a B matrix (`MatrixB<bf16, 16, 8, 16>`)",
    );
    diag(
        &mk("    c = matrix_mma(a, b, a);"),
        "a);",
        "the third operand of `matrix_mma` is an accumulator, but `a` is an A matrix",
    );
    diag(
        &mk("    c = matrix_mma(a, b, n);"),
        "n);",
        "the third operand of `matrix_mma` is an accumulator, but `n` is not a matrix",
    );
    diag(
        &mk(
            "    let e = matrix_load_b::<bf16, 16, 16, 16>(&t, 0, 16);\n    c = matrix_mma(a, e, c);",
        ),
        "matrix_mma(a, e",
        "mismatched shapes in `matrix_mma`: `a` is `MatrixA<bf16, 16, 8, 16>`, `e` is `MatrixB<bf16, 16, 16, 16>` and `c` is `MatrixAcc<f32, 16, 8, 16>`",
    );
    diag(
        &mk(
            "    let e = matrix_load_b::<f16, 16, 8, 16>(&t, 0, 16);\n    c = matrix_mma(a, e, c);",
        ),
        "&t, 0, 16);\n    c",
        "mismatched types: `t` holds `bf16`, but `e` is a matrix of `f16`",
    );
    diag(
        &mk(
            "    let e = matrix_load_b::<f16, 16, 8, 16>(&t, 0, 16);\n    c = matrix_mma(a, e, c);",
        ),
        "matrix_mma(a, e",
        "mismatched types in `matrix_mma`: `a` holds `bf16` and `e` holds `f16`",
    );
    diag(
        &mk("    let e = matrix_mma(a, b, c, c);"),
        "matrix_mma(a, b, c, c)",
        "`matrix_mma` takes 3 argument(s) but 4 were given",
    );
    diag(
        &mk("    let mut p = [0.0f32; 8];\n    matrix_store(&mut p, 0, 8, c);"),
        "&mut p, 0",
        "`matrix_store` works on buffer parameters and `#[shared]` arrays, but `p` is a private array",
    );
    diag(
        &mk("    matrix_store(&r, 0, 8, c);"),
        "&r, 0",
        "cannot write to `r`: it is a read-only buffer (`&[f32]`)",
    );
    diag(
        &mk("    matrix_store(&mut u, 0, 8, c);"),
        "&mut u",
        "`matrix_store` converts the accumulator's `f32` elements to `f32`, `f16` or `bf16` (as by `as`), but `u` holds `u32`",
    );
    diag(
        &mk("    matrix_store(&mut y, 0, 8, a);"),
        "a);",
        "the fourth operand of `matrix_store` is an accumulator, but `a` is an A matrix",
    );
    diag(
        &mk("    matrix_store(&mut y, 1i32, 8, c);"),
        "1i32",
        "a matrix offset must be `u32`, but this is `i32`; convert it with `as u32`",
    );
    diag(
        &mk("    a = matrix_load_a(&t, 0, n as i32);"),
        "n as i32",
        "a matrix stride must be `u32`, but this is `i32`",
    );
    diag(
        &mk("    c = matrix_fill(1);"),
        "1);",
        "an accumulator is filled with an `f32`, but this is `i32`",
    );
}

#[test]
fn async_copy_diagnostics() {
    diag(
        &mk("    async_copy(&mut t, 0, &x, 0, n);"),
        "n);",
        "the element count of `async_copy` must be a constant (a literal or a `const`), but `n` is a run-time value",
    );
    diag(
        &mk("    async_copy(&mut t, 0, &x, 0, 3);"),
        "3);",
        "`async_copy` of 3 `bf16` elements: one copy moves 4, 8 or 16 bytes, so the count of `bf16` elements is 2, 4 or 8",
    );
    diag(
        &mk("    async_copy(&mut y, 0, &r, 0, 4);"),
        "&mut y",
        "`async_copy` copies into a `#[shared]` array, but `y` is a buffer parameter",
    );
    diag(
        &mk("    async_copy(&mut t, 0, &t, 0, 4);"),
        "&t, 0, 4",
        "`async_copy` copies from a buffer parameter, but `t` is a `#[shared]` array",
    );
    diag(
        &mk("    async_copy(&mut t, 0, &r, 0, 4);"),
        "&r, 0, 4",
        "mismatched types: `async_copy` from `r` (`f32` elements) into `t` (`bf16` elements)",
    );
    diag(
        &mk("    async_copy(&mut t, 0i32, &x, 0, 4);"),
        "0i32",
        "the destination index of `async_copy` must be `u32`, but this is `i32`",
    );
    diag(
        &mk("    async_copy(&mut t, 0, &x);"),
        "async_copy(",
        "`async_copy` takes 5 argument(s) but 3 were given",
    );
    diag(
        &mk("    async_wait(n);"),
        "n);",
        "the argument of `async_wait` (how many committed groups may still be in flight) must be a constant",
    );
    diag(
        &mk("    async_commit(1);"),
        "async_commit(1)",
        "`async_commit` takes 0 argument(s) but 1 was given",
    );
    diag(
        &mk("    let v = async_commit();"),
        "async_commit()",
        "`async_commit` is a statement",
    );
    // A helper may not take a builtin's name.
    diag(
        "fn async_wait(n: u32) {}\n#[kernel]\npub fn k() {}\n",
        "async_wait",
        "`async_wait` is a builtin function",
    );
}

/// Rules of the whole program, found by `Program::validate` after
/// lowering, point at the statement or the kernel attribute.
#[test]
fn matrix_validation_errors_have_positions() {
    // A matrix operation where only some invocations of a subgroup are.
    let src = mk("    if local_id().x < 16 {\n        c = matrix_mma(a, b, c);\n    }");
    diag(
        &src,
        "c = matrix_mma",
        "a matrix operation in control flow that depends on the invocation",
    );
    // Whole subgroups: a workgroup of a multiple of 32 invocations.
    let src = mk("").replace("workgroup_size = 64", "workgroup_size = 48");
    diag(
        &src,
        "#[kernel",
        "a kernel with matrix operations needs a workgroup of a multiple of 32 invocations",
    );
}

/// Loads and stores take two optional trailing arguments, the `rows,
/// cols` of a clip, evaluated after the offset and the stride.
#[test]
fn clipped_matrix_loads_and_stores_match_builder() {
    let src = r"
#[kernel(workgroup_size = 32)]
pub fn mm(x: &[bf16], y: &mut [f32], m: u32, n: u32) {
    #[shared] let mut t: [bf16; 256];
    let a = matrix_load_a::<bf16, 16, 8, 16>(&t, 0, 16, m, 16);
    let b = matrix_load_b_col_major::<bf16, 16, 8, 16>(&x, 32, 16, 16, n - 1);
    let mut c = matrix_load_acc::<f32, 16, 8, 16>(&y, 0, n, m, n);
    c = matrix_mma(a, b, c);
    matrix_store(&mut y, 8, n, c, m - m.min(3), n);
    matrix_store_col_major(&mut y, 0, 16, c, 4, 2);
    matrix_store(&mut y, 0, 8, c);
}
";
    let got = file(src).remove(0);
    let mut p = vyre::ir::ProgramBuilder::new("mm", [32, 1, 1]);
    let x = p.buffer("x", DataType::BF16, Access::Read);
    let y = p.buffer("y", DataType::F32, Access::ReadWrite);
    let pm = p.scalar("m", DataType::U32);
    let pn = p.scalar("n", DataType::U32);
    let t = p.shared("t", DataType::BF16, 256);
    use MatrixRole::{A, Accumulator, B};
    let a = p.matrix("a", A, DataType::BF16, S16_8_16);
    let b = p.matrix("b", B, DataType::BF16, S16_8_16);
    let c = p.matrix("c", Accumulator, DataType::F32, S16_8_16);
    let clip = |rows: Expr, cols: Expr| Some(vyre::ir::MatrixClip { rows, cols });
    p.body(|blk| {
        blk.matrix(MatrixOp::Load {
            matrix: a,
            buf: BufRef::Shared(t),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: MatrixLayout::RowMajor,
            clip: clip(Expr::param(pm), Expr::u32(16)),
        });
        blk.matrix(MatrixOp::Load {
            matrix: b,
            buf: BufRef::Param(x),
            offset: Expr::u32(32),
            stride: Expr::u32(16),
            layout: MatrixLayout::ColMajor,
            clip: clip(Expr::u32(16), Expr::param(pn).sub(Expr::u32(1))),
        });
        blk.matrix(MatrixOp::Load {
            matrix: c,
            buf: BufRef::Param(y),
            offset: Expr::u32(0),
            stride: Expr::param(pn),
            layout: MatrixLayout::RowMajor,
            clip: clip(Expr::param(pm), Expr::param(pn)),
        });
        blk.matrix(MatrixOp::MultiplyAdd { d: c, a, b, c });
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(y),
            offset: Expr::u32(8),
            stride: Expr::param(pn),
            layout: MatrixLayout::RowMajor,
            clip: clip(
                Expr::param(pm)
                    .sub(Expr::param(pm).math(vyre::ir::MathFn::Min, vec![Expr::u32(3)])),
                Expr::param(pn),
            ),
        });
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(y),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: MatrixLayout::ColMajor,
            clip: clip(Expr::u32(4), Expr::u32(2)),
        });
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(y),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    let want = p.finish();
    assert!(want.validate().is_ok(), "{:?}", want.validate());
    assert_eq!(got, want);
}

#[test]
fn clip_argument_counts_and_types() {
    diag(
        &mk("    a = matrix_load_a(&t, 0, 16, 4);"),
        "matrix_load_a(&t, 0, 16, 4)",
        "`matrix_load_a` takes 3 (or 5 with a clip's `rows, cols`) argument(s) but 4 were given",
    );
    diag(
        &mk("    matrix_store(&mut y, 0, 8, c, 1);"),
        "matrix_store(&mut y, 0, 8, c, 1)",
        "`matrix_store` takes 4 (or 6 with a clip's `rows, cols`) argument(s) but 5 were given",
    );
    diag(
        &mk("    matrix_store(&mut y, 0, 8, c, 1, 2, 3);"),
        "matrix_store(&mut y, 0, 8, c, 1, 2, 3)",
        "but 7 were given",
    );
    diag(
        &mk("    let q = 2i32;\n    matrix_store(&mut y, 0, 8, c, 4, q);"),
        "q);",
        "a matrix clip's column count must be `u32`, but this is `i32`",
    );
    diag(
        &mk("    let q = 2.0f32;\n    a = matrix_load_a(&t, 0, 16, q, 16);"),
        "q, 16)",
        "a matrix clip's row count must be `u32`, but this is `f32`",
    );
}

// ---------------------------------------------------------------------------
// Warpgroup accumulators and swizzled shared arrays.

/// Every warpgroup form, and `#[shared(swizzled, cols = C)]` with `C` a
/// literal, a const parameter of the instance and `{ expression }`,
/// compared with the program built by hand.
#[test]
fn warpgroup_statements_match_builder() {
    let src = r"
const S: u32 = 2;
#[kernel(workgroup_size = 256, instances(n64 = (BN = 64, BK = 64)))]
pub fn wg<const BN: u32, const BK: u32>(c: &mut [f32], h: &mut [bf16], off: u32, m: u32) {
    #[shared(swizzled, cols = BK)]
    let mut ta: [bf16; { S * 64 * BK }];
    #[shared(swizzled, cols = { BN / 2 * 2 })]
    let mut tb: [bf16; { S * BK * BN }];
    #[shared(swizzled, cols = 128)]
    let mut tc: [f16; 1024];
    #[shared()]
    let mut lin: [f32; 64];
    let mut acc = warpgroup_zero::<f32, 64, BN, BK>();
    let mut acc2 = warpgroup_fill::<f32, 64, BN, BK>(1.5);
    let mut acc3: WarpgroupAcc<f32, 64, BN, BK>;
    acc = warpgroup_mma(&ta, off, BK, &tb, off * 2, BN, acc);
    acc3 = warpgroup_mma(&ta, 0, BK, &tb, 0, BN, acc2);
    let d = warpgroup_mma(&ta, 0, BK, &tb, 0, BN, acc3);
    acc2 = warpgroup_zero();
    acc2 = warpgroup_fill(m as f32);
    matrix_store(&mut c, 0, BN, acc);
    matrix_store(&mut c, off, BN, acc3, m, BN);
    matrix_store_col_major(&mut h, 0, 64, d);
    matrix_store(&mut lin, 0, 8, acc2, 1, 8);
}
";
    let got = file(src).remove(0);
    let mut p = vyre::ir::ProgramBuilder::new("wg_n64", [256, 1, 1]);
    let c = p.buffer("c", DataType::F32, Access::ReadWrite);
    let h = p.buffer("h", DataType::BF16, Access::ReadWrite);
    let off = p.scalar("off", DataType::U32);
    let pm = p.scalar("m", DataType::U32);
    use vyre::ir::{SharedLayout, SharedTile};
    let ta = p.shared_with_layout(
        "ta",
        DataType::BF16,
        2 * 64 * 64,
        SharedLayout::Swizzled { cols: 64 },
    );
    let tb = p.shared_with_layout(
        "tb",
        DataType::BF16,
        2 * 64 * 64,
        SharedLayout::Swizzled { cols: 64 },
    );
    p.shared_with_layout(
        "tc",
        DataType::F16,
        1024,
        SharedLayout::Swizzled { cols: 128 },
    );
    let lin = p.shared("lin", DataType::F32, 64);
    let acc = p.warpgroup_accumulator("acc", 64, 64);
    let acc2 = p.warpgroup_accumulator("acc2", 64, 64);
    let acc3 = p.warpgroup_accumulator("acc3", 64, 64);
    let d = p.warpgroup_accumulator("d", 64, 64);
    let tile = |array, offset: Expr, stride: u32| SharedTile {
        array,
        offset,
        stride: Expr::u32(stride),
        layout: vyre::ir::MatrixLayout::RowMajor,
    };
    p.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: acc,
            value: Expr::f32(0.0),
        });
        blk.matrix(MatrixOp::Fill {
            matrix: acc2,
            value: Expr::f32(1.5),
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: acc,
            a: vyre::ir::WarpgroupOperand::Shared(tile(ta, Expr::param(off), 64)),
            b: tile(tb, Expr::param(off).mul(Expr::u32(2)), 64),
            c: acc,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: acc3,
            a: vyre::ir::WarpgroupOperand::Shared(tile(ta, Expr::u32(0), 64)),
            b: tile(tb, Expr::u32(0), 64),
            c: acc2,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d,
            a: vyre::ir::WarpgroupOperand::Shared(tile(ta, Expr::u32(0), 64)),
            b: tile(tb, Expr::u32(0), 64),
            c: acc3,
            asynchronous: false,
        });
        blk.matrix(MatrixOp::Fill {
            matrix: acc2,
            value: Expr::f32(0.0),
        });
        blk.matrix(MatrixOp::Fill {
            matrix: acc2,
            value: Expr::param(pm).cast(DataType::F32),
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(c),
            offset: Expr::u32(0),
            stride: Expr::u32(64),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc3,
            buf: BufRef::Param(c),
            offset: Expr::param(off),
            stride: Expr::u32(64),
            layout: MatrixLayout::RowMajor,
            clip: Some(vyre::ir::MatrixClip {
                rows: Expr::param(pm),
                cols: Expr::u32(64),
            }),
        });
        blk.matrix(MatrixOp::Store {
            matrix: d,
            buf: BufRef::Param(h),
            offset: Expr::u32(0),
            stride: Expr::u32(64),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc2,
            buf: BufRef::Shared(lin),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: Some(vyre::ir::MatrixClip {
                rows: Expr::u32(1),
                cols: Expr::u32(8),
            }),
        });
    });
    let want = p.finish();
    assert!(want.validate().is_ok(), "{:?}", want.validate());
    assert_eq!(got, want);
    assert!(got.uses_warpgroup_matrices());
}

/// The attention forms: `warpgroup_mma_t` (B column-major), A from an
/// accumulator (plain, `_async`, `_t_async`), `matrix_map` (into another
/// accumulator, into its source, bound by `let`, into a matrix of another
/// `k`; annotated, `_` and `-> f32` closures; a helper call and `if`) and
/// `matrix_row_max`/`matrix_row_sum`, compared with the program built by
/// hand.
#[test]
fn attention_statements_match_builder() {
    let src = r"
fn scaled(x: f32, k: f32) -> f32 { x * k }
#[kernel(workgroup_size = 128)]
pub fn attn(o: &mut [f32], scale: f32, n: u32) {
    #[shared(swizzled, cols = 64)] let mut tq: [bf16; 4096];
    #[shared(swizzled, cols = 64)] let mut tk: [bf16; 4096];
    #[shared] let mut tv: [bf16; 4096];
    #[shared] let mut m: [f32; 64];
    #[shared] let mut l: [f32; 128];
    let base = workgroup_id().x * 64;
    let mut s = warpgroup_zero::<f32, 64, 64, 64>();
    s = warpgroup_mma_t(&tq, base, 64, &tk, 0, 64, s);
    matrix_row_max(&mut m, 0, s);
    let p = matrix_map(s, |r, c, v| (scaled(v, scale) - m[r]).exp());
    matrix_row_sum(&mut l, n + 64, p);
    let mut acc: WarpgroupAcc<f32, 64, 64, 64>;
    acc = warpgroup_mma(p, &tv, 0, 64, acc);
    acc = warpgroup_mma_async(p, &tv, base, 64, acc);
    warpgroup_wait();
    let mut t = warpgroup_mma_t_async(p, &tk, 64, 64, acc);
    t = matrix_map(t, |_, c: u32, v: f32| if c < n { v / l[c] } else { 0.0 });
    s = matrix_map(s, |r, c, v| -> f32 { v });
    let mut q: WarpgroupAcc<f32, 64, 64, 16>;
    q = matrix_map(t, |r, c, v| v + (r * 64 + c) as f32);
    matrix_store(&mut o, base, 64, q);
}
";
    let got = file(src).remove(0);
    use vyre::ir::{MatrixLayout, RowReduceOp, SharedLayout, SharedTile, WarpgroupOperand};
    let mut b = vyre::ir::ProgramBuilder::new("attn", [128, 1, 1]);
    let o = b.buffer("o", DataType::F32, Access::ReadWrite);
    let scale = b.scalar("scale", DataType::F32);
    let n = b.scalar("n", DataType::U32);
    let sw = SharedLayout::Swizzled { cols: 64 };
    let tq = b.shared_with_layout("tq", DataType::BF16, 4096, sw);
    let tk = b.shared_with_layout("tk", DataType::BF16, 4096, sw);
    let tv = b.shared("tv", DataType::BF16, 4096);
    let m = b.shared("m", DataType::F32, 64);
    let l = b.shared("l", DataType::F32, 128);
    let base = b.local("base", DataType::U32, false);
    let s = b.warpgroup_accumulator("s", 64, 64);
    // The closures' parameters, in the order the text gives them.
    let (r0, c0, v0) = (
        b.local("r", DataType::U32, false),
        b.local("c", DataType::U32, false),
        b.local("v", DataType::F32, false),
    );
    let p = b.warpgroup_accumulator("p", 64, 64);
    let acc = b.warpgroup_accumulator("acc", 64, 64);
    let t = b.warpgroup_accumulator("t", 64, 64);
    let (r1, c1, v1) = (
        b.local("row", DataType::U32, false),
        b.local("c_1", DataType::U32, false),
        b.local("v_1", DataType::F32, false),
    );
    let (r2, c2, v2) = (
        b.local("r_1", DataType::U32, false),
        b.local("c_2", DataType::U32, false),
        b.local("v_2", DataType::F32, false),
    );
    let q = b.warpgroup_accumulator("q", 64, 16);
    let (r3, c3, v3) = (
        b.local("r_2", DataType::U32, false),
        b.local("c_3", DataType::U32, false),
        b.local("v_3", DataType::F32, false),
    );
    let tile = |array, offset: Expr, layout| SharedTile {
        array,
        offset,
        stride: Expr::u32(64),
        layout,
    };
    let wg = |d, a, b, c, asynchronous| {
        Node::Matrix(MatrixOp::WarpgroupMultiplyAdd {
            d,
            a,
            b,
            c,
            asynchronous,
        })
    };
    let map = |d, src, (row, col, value), expr| {
        Node::Matrix(MatrixOp::Map {
            d,
            src,
            row,
            col,
            value,
            expr,
        })
    };
    let reduce = |op, src, dst, offset| {
        Node::Matrix(MatrixOp::RowReduce {
            op,
            src,
            dst,
            offset,
        })
    };
    let (row, col) = (MatrixLayout::RowMajor, MatrixLayout::ColMajor);
    b.body(|blk| {
        blk.let_(
            base,
            Expr::Builtin(Builtin::WorkgroupId, Axis::X).mul(Expr::u32(64)),
        );
        blk.matrix(MatrixOp::Fill {
            matrix: s,
            value: Expr::f32(0.0),
        });
        blk.push(wg(
            s,
            WarpgroupOperand::Shared(tile(tq, Expr::local(base), row)),
            tile(tk, Expr::u32(0), col),
            s,
            false,
        ));
        blk.push(reduce(RowReduceOp::Max, s, m, Expr::u32(0)));
        blk.push(map(
            p,
            s,
            (r0, c0, v0),
            Expr::local(v0)
                .mul(Expr::param(scale))
                .sub(Expr::load(BufRef::Shared(m), Expr::local(r0)))
                .math(MathFn::Exp, vec![]),
        ));
        blk.push(reduce(
            RowReduceOp::Add,
            p,
            l,
            Expr::param(n).add(Expr::u32(64)),
        ));
        let pa = WarpgroupOperand::Accumulator(p);
        blk.push(wg(acc, pa.clone(), tile(tv, Expr::u32(0), row), acc, false));
        blk.push(wg(
            acc,
            pa.clone(),
            tile(tv, Expr::local(base), row),
            acc,
            true,
        ));
        blk.matrix(MatrixOp::WarpgroupWait { pending: 0 });
        blk.push(wg(t, pa, tile(tk, Expr::u32(64), col), acc, true));
        blk.push(map(
            t,
            t,
            (r1, c1, v1),
            Expr::select(
                Expr::local(c1).lt(Expr::param(n)),
                Expr::local(v1).div(Expr::load(BufRef::Shared(l), Expr::local(c1))),
                Expr::f32(0.0),
            ),
        ));
        blk.push(map(s, s, (r2, c2, v2), Expr::local(v2)));
        blk.push(map(
            q,
            t,
            (r3, c3, v3),
            Expr::local(v3).add(
                Expr::local(r3)
                    .mul(Expr::u32(64))
                    .add(Expr::local(c3))
                    .cast(DataType::F32),
            ),
        ));
        blk.matrix(MatrixOp::Store {
            matrix: q,
            buf: BufRef::Param(o),
            offset: Expr::local(base),
            stride: Expr::u32(64),
            layout: row,
            clip: None,
        });
    });
    let want = b.finish();
    assert!(want.validate().is_ok(), "{:?}", want.validate());
    assert_eq!(got, want);
}

/// A kernel with warpgroup accumulators, for the diagnostics below.
fn mkw(body: &str) -> String {
    format!(
        "#[kernel(workgroup_size = 128)]
pub fn k(x: &[bf16], y: &mut [f32], n: u32) {{
    #[shared(swizzled, cols = 64)] let mut ta: [bf16; 4096];
    #[shared(swizzled, cols = 64)] let mut tb: [bf16; 1024];
    #[shared] let mut th: [f16; 1024];
    #[shared] let mut tf: [f32; 1024];
    let mut w = warpgroup_zero::<f32, 64, 64, 16>();
    let mut a = matrix_load_a::<bf16, 16, 8, 16>(&ta, 0, 16);
    let mut b = matrix_load_b::<bf16, 16, 8, 16>(&x, 0, 8);
    let mut c = matrix_zero::<f32, 16, 8, 16>();
{body}
}}
"
    )
}

#[test]
fn the_warpgroup_misuse_kernel_is_valid() {
    let k = file(&mkw(
        "    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);\n    matrix_store(&mut y, 0, 64, w);",
    ))
    .remove(0);
    assert_eq!(k.matrices.len(), 4);
    assert_eq!(k.matrices[0].scope, vyre::ir::MatrixScope::Warpgroup);
    assert_eq!(k.matrices[3].scope, vyre::ir::MatrixScope::Subgroup);
}

#[test]
fn shared_attribute_diagnostics() {
    diag(
        &mkw("    #[shared(swizzle, cols = 64)] let mut s: [bf16; 512];"),
        "swizzle,",
        "unknown `#[shared]` argument `swizzle`; the arguments are `swizzled` and `cols = C`",
    );
    diag(
        &mkw("    #[shared(swizzled, rows = 8)] let mut s: [bf16; 512];"),
        "rows = 8",
        "unknown `#[shared]` argument `rows`",
    );
    diag(
        &mkw("    #[shared(swizzled)] let mut s: [bf16; 512];"),
        "#[shared(swizzled)]",
        "a swizzled array needs its row length: `#[shared(swizzled, cols = C)]`",
    );
    diag(
        &mkw("    #[shared(cols = 64)] let mut s: [bf16; 512];"),
        "cols = 64)] let mut s",
        "`cols` is the row length of a swizzled array",
    );
    diag(
        &mkw("    #[shared(swizzled, swizzled, cols = 64)] let mut s: [bf16; 512];"),
        "swizzled, cols = 64)] let mut s",
        "`swizzled` is given twice",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = 64, cols = 64)] let mut s: [bf16; 512];"),
        "cols = 64)] let mut s",
        "`cols` is given twice",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = n)] let mut s: [bf16; 512];"),
        "n)]",
        "`cols` must be a constant (a literal, a `const` or a const parameter of the kernel), but `n` is a run-time value",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = 0)] let mut s: [bf16; 512];"),
        "0)]",
        "`cols` must be a positive integer constant, but this is not positive",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = 1.5)] let mut s: [bf16; 512];"),
        "1.5)]",
        "`cols` must be a positive integer constant, but this is `f32`",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = NOPE)] let mut s: [bf16; 512];"),
        "NOPE",
        "NOPE",
    );
    diag(
        &mkw("    #[shared(swizzled cols = 64)] let mut s: [bf16; 512];"),
        "cols = 64)] let mut s",
        "malformed `#[shared(..)]`",
    );
    // The layout's own rules, at the attribute.
    diag(
        &mkw("    #[shared(swizzled, cols = 32)] let mut s: [bf16; 512];"),
        "#[shared(swizzled, cols = 32)]",
        "`cols = 32`: a swizzled array's row is a power of two of at least 64 elements (128 bytes)",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = 96)] let mut s: [bf16; 768];"),
        "#[shared(swizzled, cols = 96)]",
        "a swizzled array's row is a power of two",
    );
    diag(
        &mkw("    #[shared(swizzled, cols = 64)] let mut s: [bf16; 320];"),
        "#[shared(swizzled, cols = 64)] let mut s",
        "320 elements are not whole groups of 8 rows of 64 (a swizzled array is a multiple of 512 elements)",
    );
    diag(
        &mkw("    #[shared = 1] let mut s: [bf16; 512];"),
        "#[shared = 1]",
        "unknown attribute `#[shared]` on `let`",
    );
    diag(
        &mkw("    #[shared] #[shared] let mut s: [bf16; 512];"),
        "#[shared] let mut s",
        "`#[shared]` is given twice",
    );
}

#[test]
fn warpgroup_declarations_and_assignments() {
    diag(
        &mkw("    let mut e = warpgroup_zero::<f32, 32, 64, 16>();"),
        "<f32, 32, 64, 16>",
        "the warpgroup accumulator shape m = 32, n = 64, k = 16 is not supported: m must be 64, n a multiple of 8 up to 256 and k a multiple of 16 up to 256",
    );
    diag(
        &mkw("    let mut e: WarpgroupAcc<f32, 64, 512, 16>;"),
        "<f32, 64, 512, 16>",
        "the warpgroup accumulator shape m = 64, n = 512, k = 16 is not supported",
    );
    diag(
        &mkw("    let mut e = warpgroup_fill::<bf16, 64, 64, 16>(1.0);"),
        "bf16, 64, 64, 16>(1.0)",
        "an accumulator holds `f32` elements, not `bf16`",
    );
    diag(
        &mkw("    let mut e = warpgroup_zero::<f32, 64, 64>();"),
        "<f32, 64, 64>",
        "`warpgroup_zero` takes 4 generic arguments, the element type and the shape (m, n, k) of the multiply: `<f32, 64, N, K>`, but 3 were given",
    );
    diag(
        &mkw("    let mut e: WarpgroupAcc;"),
        "WarpgroupAcc;",
        "a matrix type needs its element type and shape: `WarpgroupAcc<f32, 64, N, K>`",
    );
    diag(
        &mkw("    let mut e = warpgroup_zero();"),
        "warpgroup_zero()",
        "`warpgroup_zero` needs the element type and shape of the matrix it makes here: `warpgroup_zero::<f32, 64, N, K>(..)`, or annotate the `let`: `let e: WarpgroupAcc<f32, 64, N, K> = ..`",
    );
    diag(
        &mkw("    w = matrix_zero();"),
        "matrix_zero()",
        "`matrix_zero` works on subgroup matrices, but `w` is a warpgroup accumulator (`WarpgroupAcc<f32, 64, 64, 16>`); a warpgroup accumulator gets its value from `warpgroup_zero`, `warpgroup_fill`, `warpgroup_mma` or `matrix_map`",
    );
    diag(
        &mkw("    w = matrix_fill(2.0);"),
        "matrix_fill(2.0)",
        "`matrix_fill` works on subgroup matrices, but `w` is a warpgroup accumulator",
    );
    diag(
        &mkw("    w = matrix_load_acc(&tf, 0, 64);"),
        "matrix_load_acc(",
        "`matrix_load_acc` works on subgroup matrices, but `w` is a warpgroup accumulator",
    );
    diag(
        &mkw("    let mut e: WarpgroupAcc<f32, 64, 64, 16> = matrix_load_acc(&tf, 0, 64);"),
        "matrix_load_acc(",
        "`matrix_load_acc` works on subgroup matrices, but `e` is a warpgroup accumulator",
    );
    diag(
        &mkw("    c = warpgroup_zero();"),
        "warpgroup_zero()",
        "`warpgroup_zero` makes a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup (`MatrixAcc<f32, 16, 8, 16>`)",
    );
    diag(
        &mkw("    let mut e: MatrixAcc<f32, 64, 64, 16> = warpgroup_zero::<f32, 64, 64, 16>();"),
        "warpgroup_zero::<f32, 64, 64, 16>();\n}",
        "`warpgroup_zero` makes a warpgroup accumulator",
    );
    diag(
        &mkw("    w = warpgroup_zero::<f32, 64, 128, 16>();"),
        "warpgroup_zero::<f32, 64, 128",
        "mismatched matrix types: `w` is `WarpgroupAcc<f32, 64, 64, 16>`, but this `warpgroup_zero` makes `WarpgroupAcc<f32, 64, 128, 16>`",
    );
    diag(
        &mkw("    w += warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);"),
        "w += ",
        "compound assignment is not supported",
    );
    diag(
        &mkw("    let v = 1.0 + warpgroup_zero::<f32, 64, 64, 16>();"),
        "warpgroup_zero::<f32, 64, 64, 16>();\n}",
        "`warpgroup_zero` makes a matrix, which is not a value",
    );
    diag(
        &mkw("    warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);"),
        "warpgroup_mma(",
        "the matrix `warpgroup_mma` makes would be dropped",
    );
    diag(
        &mkw("    let v = w;"),
        "w;",
        "`w` is a matrix; matrices are used only by `matrix_mma` and `matrix_store` (warpgroup accumulators by `warpgroup_mma`, `matrix_map`, `matrix_row_max`, `matrix_row_sum` and `matrix_store`)",
    );
    diag(
        &mkw("    let w2 = warpgroup_zero::<f32, 64, 64, 16>();\n    w2 = warpgroup_zero();"),
        "w2 = warpgroup_zero();",
        "cannot assign twice to the immutable matrix `w2`",
    );
}

#[test]
fn warpgroup_mma_operands() {
    diag(
        &mkw("    w = warpgroup_mma(&x, 0, 64, &tb, 0, 64, w);"),
        "&x, 0, 64, &tb",
        "`warpgroup_mma` reads A from a `#[shared]` array, but `x` is a buffer parameter",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &y, 0, 64, w);"),
        "&y, 0",
        "`warpgroup_mma` reads B from a `#[shared]` array, but `y` is a buffer parameter",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tf, 0, 64, w);"),
        "&tf, 0",
        "`warpgroup_mma` reads B from `f16` or `bf16` elements, but `tf` holds `f32`",
    );
    diag(
        &mkw("    let mut p = [0.0f32; 8];\n    w = warpgroup_mma(&p, 0, 64, &tb, 0, 64, w);"),
        "&p, 0",
        "`warpgroup_mma` works on buffer parameters and `#[shared]` arrays, but `p` is a private array",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &th, 0, 64, w);"),
        "warpgroup_mma(&ta, 0, 64, &th",
        "mismatched types in `warpgroup_mma`: `ta` holds `bf16` and `th` holds `f16`; A and B must have one element type",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, c);"),
        "c);",
        "`warpgroup_mma` accumulates into a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup (`MatrixAcc<f32, 16, 8, 16>`)",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, a);"),
        "a);",
        "the seventh operand of `warpgroup_mma` is an accumulator, but `a` is an A matrix",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, n);"),
        "n);",
        "the seventh operand of `warpgroup_mma` is an accumulator, but `n` is not a matrix",
    );
    diag(
        &mkw("    c = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);"),
        "warpgroup_mma(",
        "`warpgroup_mma` makes a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup",
    );
    diag(
        &mkw(
            "    let mut v = warpgroup_zero::<f32, 64, 128, 16>();\n    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, v);",
        ),
        "warpgroup_mma(&ta, 0, 64, &tb, 0, 64, v)",
        "mismatched matrix types: `w` is `WarpgroupAcc<f32, 64, 64, 16>`, but this `warpgroup_mma` makes `WarpgroupAcc<f32, 64, 128, 16>`",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tb, 0, w);"),
        "warpgroup_mma(&ta, 0, 64, &tb, 0, w)",
        "`warpgroup_mma` takes 7 (or 5 with A from a warpgroup accumulator) argument(s) but 6 were given",
    );
    diag(
        &mkw("    w = warpgroup_mma::<f32, 64, 64, 16>(&ta, 0, 64, &tb, 0, 64, w);"),
        "<f32, 64, 64, 16>(&ta",
        "`warpgroup_mma` takes no generic arguments",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0i32, 64, &tb, 0, 64, w);"),
        "0i32",
        "the offset of `warpgroup_mma`'s A must be `u32`, but this is `i32`",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64.0, w);"),
        "64.0",
        "the stride of `warpgroup_mma`'s B must be `u32`, but this is `f32`",
    );
    diag(
        &mkw("    w = warpgroup_fill(1);"),
        "1);",
        "an accumulator is filled with an `f32`, but this is `i32`",
    );
    // Subgroup statements on a warpgroup accumulator.
    diag(
        &mkw("    c = matrix_mma(a, b, w);"),
        "w);",
        "`matrix_mma` works on subgroup matrices, but `w` is a warpgroup accumulator (`WarpgroupAcc<f32, 64, 64, 16>`); multiply into it with `w = warpgroup_mma(&ta, a_offset, a_stride, &tb, b_offset, b_stride, w);`",
    );
    diag(
        &mkw("    w = matrix_mma(a, b, c);"),
        "matrix_mma(a, b, c)",
        "`matrix_mma` works on subgroup matrices, but `w` is a warpgroup accumulator",
    );
    diag(
        &mkw("    matrix_store(&mut x, 0, 64, w);"),
        "&mut x",
        "cannot write to `x`: it is a read-only buffer",
    );
    // A helper may not take a builtin's name.
    diag(
        "fn warpgroup_mma(n: u32) {}\n#[kernel]\npub fn k() {}\n",
        "warpgroup_mma",
        "`warpgroup_mma` is a builtin function",
    );
}

/// Rules of the whole program, found by `Program::validate` after
/// lowering: whole warpgroups.
#[test]
fn warpgroup_validation_errors_have_positions() {
    let src = mkw("").replace("workgroup_size = 128", "workgroup_size = 64");
    diag(
        &src,
        "#[kernel",
        "a kernel with warpgroup matrices needs a workgroup of a multiple of 128 invocations",
    );
    let src = mkw(
        "    if local_id().x < 16 {\n        w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);\n    }",
    );
    diag(
        &src,
        "w = warpgroup_mma",
        "a matrix operation in control flow that depends on the invocation",
    );
}

/// A matrix statement in a branch each warpgroup takes whole is valid; a
/// `warpgroup_barrier()` parses, prints back, and has the rules of a
/// barrier (no arguments, a statement, uniform control flow) plus whole
/// warpgroups.
#[test]
fn warpgroup_branches_and_barriers() {
    let k = file(&mkw("    let g = local_id().x / 128;
    if g == 0 {
        w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);
    }
    warpgroup_barrier();
    for i in 0..g {
        c = matrix_mma(a, b, c);
    }"))
    .remove(0);
    assert!(k.validate().is_ok(), "{:?}", k.validate());
    assert!(k.body.contains(&Node::WarpgroupBarrier));
    let text = vyre::lang::print(&k);
    assert!(text.contains("    warpgroup_barrier();\n"), "{text}");
    let again = file(&text).remove(0);
    assert_eq!(again.body, k.body);
    diag(
        &mkw("    warpgroup_barrier(1);"),
        "warpgroup_barrier(1)",
        "`warpgroup_barrier()` takes no arguments",
    );
    diag(
        &mkw("    let v = warpgroup_barrier();"),
        "warpgroup_barrier()",
        "`warpgroup_barrier()` is a statement",
    );
    diag(
        &mkw("    if local_id().x < 128 {\n        warpgroup_barrier();\n    }"),
        "warpgroup_barrier();",
        "`warpgroup_barrier()` in control flow that depends on the invocation",
    );
    diag(
        &mk("    warpgroup_barrier();"),
        "warpgroup_barrier();",
        "`warpgroup_barrier()` needs a workgroup of whole warpgroups",
    );
    // A branch on half a warpgroup is not one a warpgroup takes whole.
    diag(
        &mkw(
            "    if local_id().x / 64 == 0 {\n        w = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, w);\n    }",
        ),
        "w = warpgroup_mma",
        "every invocation of its subgroup or warpgroup must take part",
    );
}

/// `mkw` with the attention forms used correctly: `p` is 64 x 16, the `A`
/// of a multiply into `w` (k = 16).
#[test]
fn the_attention_misuse_kernel_is_valid() {
    let k = file(&mkw("    let mut p = warpgroup_zero::<f32, 64, 16, 16>();
    w = warpgroup_mma(p, &tb, 0, 64, w);
    w = warpgroup_mma_t_async(p, &tb, 0, 16, w);
    w = warpgroup_mma_t(&ta, 0, 64, &tb, 0, 16, w);
    let e: WarpgroupAcc<f32, 64, 64, 64> = matrix_map(w, |r, c, v| v);
    matrix_row_max(&mut tf, 0, e);
    matrix_row_sum(&mut tf, 64, w);"))
    .remove(0);
    assert!(k.validate().is_ok(), "{:?}", k.validate());
    assert_eq!(k.matrices[5].name, "e");
    assert_eq!(
        k.matrices[5].shape,
        vyre::ir::MatrixShape {
            m: 64,
            n: 64,
            k: 64
        }
    );
}

#[test]
fn warpgroup_mma_accumulator_a_and_transposed_b_diagnostics() {
    let p = "    let mut p = warpgroup_zero::<f32, 64, 16, 16>();\n";
    diag(
        &mkw("    w = warpgroup_mma(w, &tb, 0, 64, w);"),
        "w, &tb",
        "`warpgroup_mma` reads A from `w` and accumulates into it too; A must be another accumulator (copy it first: `let p = matrix_map(w, |r, c, v| v);`)",
    );
    diag(
        &mkw(
            "    let mut q = warpgroup_zero::<f32, 64, 64, 16>();\n    w = warpgroup_mma(q, &tb, 0, 64, w);",
        ),
        "q, &tb",
        "A of `warpgroup_mma` is 64 x k for the multiply's k = 16 (`w` is `WarpgroupAcc<f32, 64, 64, 16>`), but `q` is 64 x 64 (`WarpgroupAcc<f32, 64, 64, 16>`)",
    );
    diag(
        &mkw(
            "    let mut e = warpgroup_zero::<f32, 64, 16, 16>();\n    let mut f = warpgroup_zero::<f32, 64, 16, 16>();\n    e = warpgroup_mma_async(e, &tb, 0, 16, f);",
        ),
        "e, &tb",
        "`warpgroup_mma_async` writes `e`, which is also its A; A must be another accumulator",
    );
    diag(
        &mkw("    w = warpgroup_mma(c, &tb, 0, 64, w);"),
        "c, &tb",
        "`warpgroup_mma` reads A from a `#[shared]` array or a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup (`MatrixAcc<f32, 16, 8, 16>`)",
    );
    diag(
        &mkw("    w = warpgroup_mma_t(a, &tb, 0, 64, w);"),
        "a, &tb",
        "the first operand of `warpgroup_mma_t` is an accumulator, but `a` is an A matrix (`MatrixA<bf16, 16, 8, 16>`)",
    );
    diag(
        &mkw("    w = warpgroup_mma(&ta, 0, &tb, 0, w);"),
        "&ta, 0, &tb",
        "with 5 arguments, `warpgroup_mma` reads A from a warpgroup accumulator, given by name: `c = warpgroup_mma(p, &tb, b_offset, b_stride, c);`",
    );
    diag(
        &mkw(&format!(
            "{p}    w = warpgroup_mma_async(p, 0, 64, &tb, 0, 64, w);"
        )),
        "warpgroup_mma_async(p, 0",
        "with A from the accumulator `p`, `warpgroup_mma_async` takes 5 arguments: `c = warpgroup_mma_async(p, &tb, b_offset, b_stride, c);`",
    );
    diag(
        &mkw("    w = warpgroup_mma_t(&ta, 0, 64, &y, 0, 64, w);"),
        "&y, 0",
        "`warpgroup_mma_t` reads B from a `#[shared]` array, but `y` is a buffer parameter",
    );
    diag(
        &mkw(&format!(
            "{p}    w = warpgroup_mma_t_async(p, &tf, 0, 64, w);"
        )),
        "&tf, 0",
        "`warpgroup_mma_t_async` reads B from `f16` or `bf16` elements, but `tf` holds `f32`",
    );
    diag(
        &mkw("    w = warpgroup_mma_t(&ta, 0, 64, &th, 0, 64, w);"),
        "warpgroup_mma_t(&ta",
        "mismatched types in `warpgroup_mma_t`: `ta` holds `bf16` and `th` holds `f16`",
    );
    diag(
        &mkw("    w = warpgroup_mma_t(&ta, 0, 64, &tb, 0, 64, c);"),
        "c);",
        "`warpgroup_mma_t` accumulates into a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup",
    );
    diag(
        &mkw(&format!("{p}    w = warpgroup_mma(p, &tb, 0, 64, c);")),
        "c);",
        "`warpgroup_mma` accumulates into a warpgroup accumulator",
    );
    diag(
        &mkw("    w = warpgroup_mma_t(&ta, 0, 64, &tb, 0, 64);"),
        "warpgroup_mma_t(&ta",
        "`warpgroup_mma_t` takes 7 (or 5 with A from a warpgroup accumulator) argument(s) but 6 were given",
    );
    diag(
        &mkw(&format!("{p}    w = warpgroup_mma(p, &tb, 0i32, 64, w);")),
        "0i32",
        "the offset of `warpgroup_mma`'s B must be `u32`, but this is `i32`",
    );
}

#[test]
fn matrix_map_diagnostics() {
    diag(
        &mkw("    w = matrix_map(w, |r, c| 1.0);"),
        "|r, c|",
        "`matrix_map`'s closure takes 3 parameters, the element's row, column and value: `|row, col, value| expr` (`row`, `col`: `u32`; `value`: `f32`), but this one takes 2",
    );
    diag(
        &mkw("    w = matrix_map(w, || 1.0);"),
        "||",
        "but this one takes 0",
    );
    diag(
        &mkw("    w = matrix_map(w);"),
        "matrix_map(w)",
        "`matrix_map` takes 2 argument(s) but 1 was given",
    );
    diag(
        &mkw("    w = matrix_map(w, 1.0);"),
        "1.0);",
        "the second argument of `matrix_map` is a closure of the element's row, column and value",
    );
    diag(
        &mkw("    w = matrix_map(w, |r: f32, c, v| v);"),
        "f32, c",
        "mismatched types: `matrix_map`'s first parameter `r` is the element's row (`u32`), not `f32`",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, _: f16| 1.0);"),
        "f16|",
        "mismatched types: `matrix_map`'s third parameter is the element's value (`f32`), not `f16`",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| -> u32 { r });"),
        "u32 {",
        "mismatched types: `matrix_map`'s closure returns the new `f32` element, not `u32`",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| r);"),
        "r);",
        "`matrix_map`'s closure returns an `f32` (the new element), but this is `u32`",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| 1);"),
        "1);",
        "`matrix_map`'s closure returns an `f32` (the new element), but this is `i32`",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, r, v| v);"),
        "r, v|",
        "`r` is bound more than once in this closure's parameters",
    );
    diag(
        &mkw("    w = matrix_map(w, |mut r, c, v| v);"),
        "mut r",
        "`matrix_map`'s closure parameters are immutable; remove `mut`",
    );
    diag(
        &mkw("    w = matrix_map(w, |(r, c), c, v| v);"),
        "(r, c), c",
        "a `matrix_map` closure parameter is a name (or `_`), here the element's row",
    );
    diag(
        &mkw("    w = matrix_map(w, move |r, c, v| v);"),
        "move",
        "`move` is not supported on a `matrix_map` closure",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| v + subgroup_add(v));"),
        "subgroup_add(v)",
        "`subgroup_add` in a `matrix_map` closure: it is evaluated where each element lives, not by one invocation",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| v + local_id().x as f32);"),
        "local_id().x",
        "`local_id` in a `matrix_map` closure",
    );
    diag(
        &mkw("    let mut pa = [0.0f32; 4];\n    w = matrix_map(w, |r, c, v| v + pa[r]);"),
        "pa[r]",
        "a private array in a `matrix_map` closure",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| { let z = v; z });"),
        "{ let z",
        "a block with statements cannot be used in a `matrix_map` closure, which is evaluated once per element",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| v * w);"),
        "w);",
        "`w` is a matrix",
    );
    diag(
        &mkw("    w = matrix_map(w, |r, c, v| v);\n    let z = r;"),
        "r;",
        "cannot find",
    );
    diag(
        &mkw("    w = matrix_map(c, |r, col, v| v);"),
        "c, |",
        "`matrix_map` works on warpgroup accumulators (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup (`MatrixAcc<f32, 16, 8, 16>`)",
    );
    diag(
        &mkw("    w = matrix_map(a, |r, col, v| v);"),
        "a, |",
        "the first operand of `matrix_map` is an accumulator, but `a` is an A matrix",
    );
    diag(
        &mkw("    c = matrix_map(w, |r, col, v| v);"),
        "matrix_map(w",
        "`matrix_map` makes a warpgroup accumulator (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup",
    );
    diag(
        &mkw(
            "    let mut e = warpgroup_zero::<f32, 64, 128, 16>();\n    w = matrix_map(e, |r, c, v| v);",
        ),
        "matrix_map(e",
        "mismatched matrix sizes: `w` is 64 x 64 (`WarpgroupAcc<f32, 64, 64, 16>`), but this `matrix_map` makes 64 x 128; `matrix_map` keeps the size of the matrix it maps",
    );
    diag(
        &mkw("    w = matrix_map::<f32, 64, 64, 16>(w, |r, c, v| v);"),
        "<f32, 64, 64, 16>(w",
        "`matrix_map` takes no generic arguments: its result has the type of the matrix it maps",
    );
    diag(
        &mkw("    matrix_map(w, |r, c, v| v);"),
        "matrix_map(",
        "the matrix `matrix_map` makes would be dropped",
    );
    diag(
        &mkw("    let z = 1.0 + matrix_map(w, |r, c, v| v);"),
        "matrix_map(",
        "`matrix_map` makes a matrix, which is not a value",
    );
    diag(
        &mkw(
            "    let e = warpgroup_zero::<f32, 64, 64, 16>();\n    e = matrix_map(w, |r, c, v| v);",
        ),
        "e = matrix_map",
        "cannot assign twice to the immutable matrix `e`",
    );
    // A helper with statements cannot run once per element.
    diag(
        &format!(
            "fn twice(x: f32) -> f32 {{ let y = x * 2.0; y }}\n{}",
            mkw("    w = matrix_map(w, |r, c, v| twice(v));")
        ),
        "twice(v)",
        "helper `twice` has statements, so it cannot be called in a `matrix_map` closure, which is evaluated once per element",
    );
    // The validator's rules, at the statement.
    diag(
        &mkw("    if local_id().x < 16 {\n        w = matrix_map(w, |r, c, v| v);\n    }"),
        "w = matrix_map",
        "a matrix operation in control flow that depends on the invocation",
    );
}

#[test]
fn matrix_row_reduction_diagnostics() {
    diag(
        &mkw("    matrix_row_max(&mut y, 0, w);"),
        "&mut y",
        "`matrix_row_max` writes the row values to a `#[shared]` array of `f32`, but `y` is a buffer parameter",
    );
    diag(
        &mkw("    matrix_row_sum(&mut th, 0, w);"),
        "&mut th",
        "`matrix_row_sum` writes `f32` row values, but `th` holds `f16`",
    );
    diag(
        &mkw("    let mut pa = [0.0f32; 64];\n    matrix_row_max(&mut pa, 0, w);"),
        "&mut pa",
        "`matrix_row_max` works on buffer parameters and `#[shared]` arrays, but `pa` is a private array",
    );
    diag(
        &mkw("    matrix_row_max(&mut tf, 0, c);"),
        "c);",
        "`matrix_row_max` works on warpgroup accumulators (`WarpgroupAcc<f32, 64, N, K>`), but `c` is held by a subgroup",
    );
    diag(
        &mkw("    matrix_row_sum(&mut tf, 0, b);"),
        "b);",
        "the third operand of `matrix_row_sum` is an accumulator, but `b` is a B matrix",
    );
    diag(
        &mkw("    matrix_row_max(&mut tf, 0);"),
        "matrix_row_max(",
        "`matrix_row_max` takes 3 argument(s) but 2 were given: `matrix_row_max(&mut dst, offset, acc);`",
    );
    diag(
        &mkw("    matrix_row_sum(&mut tf, 1.0, w);"),
        "1.0, w",
        "the offset of `matrix_row_sum` must be `u32`, but this is `f32`",
    );
    diag(
        &mkw("    matrix_row_max::<f32>(&mut tf, 0, w);"),
        "<f32>",
        "`matrix_row_max` takes no generic arguments",
    );
    diag(
        &mkw("    let z = matrix_row_max(&mut tf, 0, w);"),
        "matrix_row_max(",
        "`matrix_row_max` is a statement; it cannot be used inside an expression",
    );
    diag(
        "fn matrix_row_sum(n: u32) {}\n#[kernel]\npub fn k() {}\n",
        "matrix_row_sum",
        "`matrix_row_sum` is a builtin function",
    );
}

/// The attention step of docs/language.md (*Attention: accumulators as
/// operands, maps and row reductions*), in a kernel, parses and validates.
#[test]
fn attention_docs_example_parses() {
    let doc = include_str!("../docs/language.md");
    let section = doc
        .split("#### Attention: accumulators as operands")
        .nth(1)
        .expect("the section");
    let body = section
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its example");
    let src = format!(
        "#[kernel(workgroup_size = 128)]\npub fn attn(out: &mut [f32], scale: f32, row0: u32) {{\n{body}}}\n"
    );
    let p = file(&src).remove(0);
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let mut kinds = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Matrix(op) = n {
            kinds.push(match op {
                MatrixOp::WarpgroupMultiplyAdd {
                    a: vyre::ir::WarpgroupOperand::Accumulator(_),
                    ..
                } => "mma p",
                MatrixOp::WarpgroupMultiplyAdd { .. } => "mma t",
                MatrixOp::Map { .. } => "map",
                MatrixOp::RowReduce { .. } => "reduce",
                _ => "other",
            });
        }
    });
    assert_eq!(
        kinds,
        [
            "other", "mma t", "reduce", "map", "reduce", "other", "mma p", "map", "other"
        ]
    );
}

#[test]
fn grid_rules_fold_constants_per_instance_and_evaluate_checked() {
    use vyre::lang::{SizeExpr, SizeOp};
    let src = r#"
const ROWS: u32 = 128;
#[kernel(
    workgroup_size = 256,
    grid = (n.div_ceil(BN), m.div_ceil(ROWS), y.len() / (n * 2).max(1)),
    tune(BN),
    instances(wide = (BN = 256), narrow = (BN = ROWS))
)]
pub fn k<const BN: u32>(m: u32, n: i32, y: &mut [f32]) {}

#[kernel]
pub fn plain(x: &mut [f32]) {}
"#;
    let m = vyre::lang::parse("g.vyre", src).unwrap();
    assert_eq!(m.generics[0].tune, ["BN"]);
    assert!(!m.grids.contains_key("plain"), "no rule, no entry");
    let wide = &m.grids["k_wide"];
    assert_eq!(
        wide.dims[0],
        SizeExpr::Binary(
            SizeOp::DivCeil,
            Box::new(SizeExpr::Scalar("n".into())),
            Box::new(SizeExpr::Const(256))
        )
    );
    assert_eq!(
        m.grids["k_narrow"].to_string(),
        "(n.div_ceil(128), m.div_ceil(128), (y.len() / (n * 2).max(1)))"
    );
    let scalar = |name: &str| match name {
        "m" => Some(1000),
        "n" => Some(300),
        _ => None,
    };
    let len = |name: &str| (name == "y").then_some(6000);
    assert_eq!(wide.eval(&scalar, &len), Ok([2, 8, 10]));
    let no_n = |name: &str| (name == "m").then_some(1);
    assert!(wide.eval(&no_n, &len).unwrap_err().contains("`n`"));
}
