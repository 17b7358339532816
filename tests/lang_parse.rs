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
        let a = x.sqrt() + x.exp() + x.ln() + x.sin() + x.cos() + x.tanh() + x.abs() + x.floor() + x.ceil();
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
