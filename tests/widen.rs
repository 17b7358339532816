//! `vyre::mid::widen`: programs with 16- and 8-bit types become programs
//! whose values are all 32-bit, with narrow types left in exactly three
//! memory/rounding shapes (see the module docs). What the rule computes is
//! tested against hand-computed values in `reference_semantics.rs`; here,
//! the form targets rely on.

use std::borrow::Cow;

use vyre::ir::validate::type_of;
use vyre::ir::{
    Access, BinOp, BufRef, DataType, Expr, Literal, MathFn, Node, Param, Program, ProgramBuilder,
    walk_nodes,
};
use vyre::mid::widen::{narrow_load, narrow_round};
use vyre::mid::{prepare, widen};

/// Panics unless `p` validates and is in the widened normal form.
fn assert_normal_form(p: &Program) {
    if let Err(errors) = p.validate() {
        panic!("widened program does not validate: {errors:?}\n{p:#?}");
    }
    for l in &p.locals {
        assert!(!l.ty.is_narrow(), "local `{}` is `{}`", l.name, l.ty);
    }
    for param in &p.params {
        if let Param::Scalar { name, ty } = param {
            assert!(!ty.is_narrow(), "scalar `{name}` is `{ty}`");
        }
    }
    walk_nodes(&p.body, &mut |n| {
        let check = |e: &Expr| expr(p, e, false);
        match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => check(value),
            Node::Store { buf, index, value } => {
                check(index);
                let narrow = p.elem_type(*buf).unwrap().is_narrow();
                if narrow {
                    assert!(
                        matches!(value, Expr::Cast(n, _) if n.is_narrow()),
                        "store into narrow memory without a conversion: {value:?}"
                    );
                }
                expr(p, value, narrow);
            }
            Node::Atomic {
                index,
                expected,
                value,
                ..
            } => {
                check(index);
                check(value);
                expected.iter().for_each(check);
            }
            Node::If { cond, .. } | Node::While { cond, .. } => check(cond),
            Node::For { start, end, .. } => {
                check(start);
                check(end);
            }
            _ => {}
        }
    });
}

/// Checks `e`; `narrow_ok`: this position may hold a narrow-typed value.
fn expr(p: &Program, e: &Expr, narrow_ok: bool) {
    let ty = type_of(p, e).expect("typed");
    if ty.is_narrow() {
        assert!(
            narrow_ok,
            "narrow `{ty}` value outside the three shapes: {e:?}"
        );
        assert!(
            matches!(e, Expr::Load { .. } | Expr::Cast(..)),
            "narrow `{ty}` value is neither a load nor a conversion: {e:?}"
        );
    }
    if let Expr::Lit(l) = e {
        assert!(!l.ty().is_narrow(), "narrow literal {l:?}");
    }
    match e {
        Expr::Cast(r, inner) => {
            let shape = narrow_load(e, p).is_some() || narrow_round(e).is_some();
            // A conversion *to* a narrow type takes a register value.
            if r.is_narrow() {
                let from = type_of(p, inner).unwrap();
                assert_eq!(from, r.register_type(), "conversion to `{r}` from `{from}`");
            }
            expr(p, inner, shape);
        }
        Expr::Load { index, .. } => expr(p, index, false),
        Expr::Unary(_, a) => expr(p, a, false),
        Expr::Binary(_, a, b) => {
            expr(p, a, false);
            expr(p, b, false);
        }
        Expr::Math(_, args) | Expr::Subgroup(_, args) => {
            args.iter().for_each(|a| expr(p, a, false));
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => [cond, then, otherwise]
            .into_iter()
            .for_each(|a| expr(p, a, false)),
        Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
    }
}

const NARROW: [DataType; 6] = [
    DataType::F16,
    DataType::BF16,
    DataType::U8,
    DataType::I8,
    DataType::U16,
    DataType::I16,
];

/// For one narrow type `t`: a buffer in, a buffer out, a scalar, a shared
/// and a private array, locals, every operator class and casts to and from
/// every other type.
fn everything(t: DataType) -> Program {
    let mut b = ProgramBuilder::new(format!("all_{t}"), [64, 1, 1]);
    let x = b.buffer("x", t, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let s = b.scalar("s", t);
    let sh = b.shared("sh", t, 64);
    let pr = b.private("pr", t, 4);
    let i = b.local("i", DataType::U32, false);
    let v = b.local("v", t, true);
    let ld = |buf| Expr::load(buf, Expr::local(i));
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(v, ld(BufRef::Param(x)).add(Expr::param(s)));
        blk.assign(v, Expr::local(v).mul(ld(BufRef::Param(x))));
        if t.is_integer() {
            blk.assign(
                v,
                Expr::Binary(BinOp::Shl, Box::new(Expr::local(v)), Box::new(Expr::u32(9))),
            );
            blk.assign(v, Expr::local(v).bitxor(ld(BufRef::Param(x))));
        } else {
            blk.assign(v, Expr::local(v).math(MathFn::Sqrt, vec![]));
        }
        if t.is_signed() || t.is_float() {
            blk.assign(v, Expr::local(v).neg().math(MathFn::Abs, vec![]));
        }
        blk.store(BufRef::Shared(sh), Expr::local(i), Expr::local(v));
        blk.barrier();
        blk.store(
            BufRef::Private(pr),
            Expr::local(i).rem(Expr::u32(4)),
            ld(BufRef::Shared(sh)),
        );
        for other in DataType::ALL {
            if other == DataType::Bool {
                continue;
            }
            // `x[i] as other as t`, and `(x[i] as other) as f32` stored.
            let there = ld(BufRef::Param(x)).cast(other);
            blk.assign(
                v,
                Expr::select(
                    Expr::local(v).lt(there.clone().cast(t)),
                    Expr::local(v),
                    there.clone().cast(t),
                ),
            );
            blk.store(
                BufRef::Param(out),
                Expr::local(i),
                there.cast(DataType::F32),
            );
        }
        blk.store(
            BufRef::Param(y),
            Expr::local(i),
            Expr::load(BufRef::Private(pr), Expr::u32(1)).add(Expr::Lit(Literal::zero(t))),
        );
    });
    b.finish()
}

#[test]
fn programs_without_narrow_types_are_borrowed() {
    let mut b = ProgramBuilder::new("plain", [64, 1, 1]);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(y), Expr::global_id_x(), Expr::f32(1.0));
    });
    let p = b.finish();
    assert!(matches!(widen(&p), Cow::Borrowed(_)));
}

#[test]
fn every_narrow_type_widens_to_the_normal_form() {
    for t in NARROW {
        let p = everything(t);
        p.validate()
            .unwrap_or_else(|e| panic!("{t}: source invalid: {e:?}"));
        let w = widen(&p);
        assert!(matches!(w, Cow::Owned(_)), "{t}");
        assert_normal_form(&w);
        // Memory keeps its narrow element types.
        assert_eq!(w.elem_type(BufRef::Param(0)), Some(t));
        assert_eq!(w.shared[0].elem, t);
        assert_eq!(w.private[0].elem, t);
        // And everything `prepare` adds on top stays in the form.
        assert_normal_form(&prepare(&p));
    }
}

/// The rewrite of one expression, as the `let` of a local `r` in a
/// one-statement program over a `u8`/`f16` buffer `x` and locals `a`, `b`
/// of type `t`.
fn widened_value(t: DataType, rty: DataType, value: impl Fn(Expr, Expr) -> Expr) -> Expr {
    let mut b = ProgramBuilder::new("one", [1, 1, 1]);
    let a = b.local("a", t, false);
    let bb = b.local("b", t, false);
    let r = b.local("r", rty, false);
    b.body(|blk| {
        blk.let_(a, Expr::Lit(Literal::zero(t)));
        blk.let_(bb, Expr::Lit(Literal::zero(t)));
        blk.let_(r, value(Expr::local(a), Expr::local(bb)));
    });
    let p = b.finish();
    p.validate().unwrap();
    let w = widen(&p).into_owned();
    assert_normal_form(&w);
    match &w.body[2] {
        Node::Let { value, .. } => value.clone(),
        n => panic!("{n:?}"),
    }
}

fn round(n: DataType, x: Expr) -> Expr {
    x.cast(n).cast(n.register_type())
}

#[test]
fn operations_round_or_wrap_only_where_they_can_leave_the_type() {
    let (a, b) = (Expr::local(0), Expr::local(1));
    // Arithmetic wraps ...
    assert_eq!(
        widened_value(DataType::U8, DataType::U8, |a, b| a.add(b)),
        round(DataType::U8, a.clone().add(b.clone()))
    );
    // ... bitwise operations and comparisons do not ...
    assert_eq!(
        widened_value(DataType::I8, DataType::I8, |a, b| a.bitand(b)),
        a.clone().bitand(b.clone())
    );
    assert_eq!(
        widened_value(DataType::F16, DataType::Bool, |a, b| a.lt(b)),
        a.clone().lt(b.clone())
    );
    // ... shifts mask their amount to the type's width ...
    assert_eq!(
        widened_value(DataType::U16, DataType::U16, |a, _| Expr::Binary(
            BinOp::Shl,
            Box::new(a),
            Box::new(Expr::u32(17))
        )),
        round(
            DataType::U16,
            Expr::Binary(
                BinOp::Shl,
                Box::new(a.clone()),
                Box::new(Expr::u32(17).bitand(Expr::u32(15)))
            )
        )
    );
    // ... float-to-narrow-integer casts saturate ...
    assert_eq!(
        widened_value(DataType::F16, DataType::I8, |a, _| a.cast(DataType::I8)),
        a.clone()
            .cast(DataType::I32)
            .math(MathFn::Clamp, vec![Expr::i32(-128), Expr::i32(127)])
    );
    // ... and casts to `bf16` go through `f32`.
    assert_eq!(
        widened_value(DataType::I16, DataType::BF16, |a, _| a.cast(DataType::BF16)),
        round(DataType::BF16, a.clone().cast(DataType::F32))
    );
    // A literal takes its register type.
    assert_eq!(
        widened_value(DataType::F16, DataType::F16, |_, _| Expr::Lit(
            Literal::F16(0x3c00)
        )),
        Expr::f32(1.0)
    );
}

#[test]
fn scalarised_narrow_private_arrays_become_register_locals() {
    let mut b = ProgramBuilder::new("regs", [1, 1, 1]);
    let y = b.buffer("y", DataType::BF16, Access::ReadWrite);
    let pr = b.private("pr", DataType::BF16, 2);
    b.body(|blk| {
        blk.store(
            BufRef::Private(pr),
            Expr::u32(1),
            Expr::Lit(Literal::BF16(0x3f80)),
        );
        blk.store(
            BufRef::Param(y),
            Expr::u32(0),
            Expr::load(BufRef::Private(pr), Expr::u32(1)),
        );
    });
    let p = b.finish();
    p.validate().unwrap();
    let w = prepare(&p);
    assert!(w.private.is_empty(), "the array became locals");
    assert_normal_form(&w);
    assert!(w.locals.iter().all(|l| l.ty == DataType::F32));
}

#[test]
fn indices_loop_variables_and_atomics_stay_32_bit() {
    use vyre::ir::AtomicOp;
    for t in NARROW.into_iter().filter(|t| t.is_integer()) {
        // A narrow index.
        let mut b = ProgramBuilder::new("index", [1, 1, 1]);
        let y = b.buffer("y", DataType::U32, Access::ReadWrite);
        b.body(|blk| {
            blk.store(BufRef::Param(y), Expr::Lit(Literal::zero(t)), Expr::u32(1));
        });
        let errors = b.finish().validate().unwrap_err();
        assert!(
            errors[0].message.contains("must be `u32` or `i32`"),
            "{errors:?}"
        );
        // A narrow loop variable.
        let mut b = ProgramBuilder::new("loop", [1, 1, 1]);
        let k = b.local("k", t, false);
        b.body(|blk| {
            blk.for_(
                k,
                Expr::Lit(Literal::zero(t)),
                Expr::Lit(Literal::zero(t)),
                |_| {},
            );
        });
        let errors = b.finish().validate().unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("must be `u32` or `i32`")),
            "{errors:?}"
        );
        // An atomic on narrow elements.
        let mut b = ProgramBuilder::new("atomic", [1, 1, 1]);
        let y = b.buffer("y", t, Access::ReadWrite);
        b.body(|blk| {
            blk.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(y),
                Expr::u32(0),
                Expr::Lit(Literal::zero(t)),
            ));
        });
        let errors = b.finish().validate().unwrap_err();
        assert!(
            errors.iter().any(|e| e
                .message
                .contains("needs `u32`, `i32` or `f32` (buffer) elements")),
            "{errors:?}"
        );
    }
}
