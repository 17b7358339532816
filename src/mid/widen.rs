//! The narrow-type rule, written once: every value of a 16- or 8-bit type
//! (`f16 bf16 u8 i8 u16 i16`) is computed in its
//! [`DataType::register_type`] and rounded (floats, to nearest even) or
//! wrapped (integers) back to the type after each operation that can leave
//! it. [`widen`] rewrites a program so that only memory keeps narrow
//! element types; every target then needs just three narrow shapes:
//!
//! - (a) `Cast(R, Load { buf, index })`, `buf` of narrow element type `N`,
//!   `R = N.register_type()`: load one element and widen it exactly
//!   ([`narrow_load`]);
//! - (b) `Cast(R, Cast(N, x))`, `x: R`: round or wrap `x` to `N`, keeping
//!   it in `R` ([`narrow_round`]);
//! - (c) `Store { buf, index, value: Cast(N, x) }` into narrow memory, `x`
//!   already representable in `N`: convert and store.
//!
//! No local, scalar parameter or literal of a widened program has a narrow
//! type; the program is still ordinary, valid IR. The reference interpreter
//! runs the widened program too, so this pass *is* the definition: it is
//! tested against hand-computed values in `tests/reference_semantics.rs`.

use std::borrow::Cow;

use crate::ir::validate::{binary_type, math_type, subgroup_type};
use crate::ir::{
    BinOp, BufRef, DataType, Expr, Literal, MathFn, Node, Param, Program, SubgroupOp, UnOp,
};

/// `program` in the widened normal form described in the module docs;
/// borrowed when it has nothing narrow. `program` must validate.
#[must_use]
pub fn widen(program: &Program) -> Cow<'_, Program> {
    if !mentions_narrow(program) {
        return Cow::Borrowed(program);
    }
    let mut p = program.clone();
    for l in &mut p.locals {
        l.ty = l.ty.register_type();
    }
    for param in &mut p.params {
        if let Param::Scalar { ty, .. } = param {
            *ty = ty.register_type();
        }
    }
    let w = Widener { src: program };
    p.body = w.block(std::mem::take(&mut p.body));
    Cow::Owned(p)
}

/// Shape (a): when `e` is `Cast(R, Load { buf, index })` of a narrow
/// element, the memory and the index.
#[must_use]
pub fn narrow_load<'e>(e: &'e Expr, program: &Program) -> Option<(BufRef, &'e Expr)> {
    match e {
        Expr::Cast(r, inner) => match &**inner {
            Expr::Load { buf, index } => {
                let elem = program.elem_type(*buf)?;
                (elem.is_narrow() && elem.register_type() == *r).then_some((*buf, &**index))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Shape (b): when `e` is `Cast(R, Cast(N, x))` with `N` narrow, `N` and
/// `x` (of type `R`).
#[must_use]
pub fn narrow_round(e: &Expr) -> Option<(DataType, &Expr)> {
    match e {
        Expr::Cast(r, inner) => match &**inner {
            Expr::Cast(n, x) if n.is_narrow() && n.register_type() == *r => Some((*n, &**x)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether anything in `p` has a narrow type.
fn mentions_narrow(p: &Program) -> bool {
    let decls = p.locals.iter().any(|l| l.ty.is_narrow())
        || p.shared.iter().any(|s| s.elem.is_narrow())
        || p.private.iter().any(|s| s.elem.is_narrow())
        || p.params.iter().any(|param| match param {
            Param::Buffer(b) => b.elem.is_narrow(),
            Param::Scalar { ty, .. } => ty.is_narrow(),
        });
    if decls {
        return true;
    }
    p.any_expr(&mut |e| match e {
        Expr::Lit(l) => l.ty().is_narrow(),
        Expr::Cast(t, _) => t.is_narrow(),
        _ => false,
    })
}

/// Shape (b): `x` (of `n`'s register type) rounded or wrapped to `n`.
fn round(n: DataType, x: Expr) -> Expr {
    Expr::Cast(n.register_type(), Box::new(Expr::Cast(n, Box::new(x))))
}

/// `x` as `ty`, leaving it alone when it already has that type.
fn cast_to(ty: DataType, x: Expr, from: DataType) -> Expr {
    if from == ty {
        x
    } else {
        Expr::Cast(ty, Box::new(x))
    }
}

/// The range of a narrow integer type, as literals of its register type.
fn int_range(n: DataType) -> (Literal, Literal) {
    match n {
        DataType::U8 => (Literal::U32(0), Literal::U32(0xff)),
        DataType::U16 => (Literal::U32(0), Literal::U32(0xffff)),
        DataType::I8 => (Literal::I32(-0x80), Literal::I32(0x7f)),
        DataType::I16 => (Literal::I32(-0x8000), Literal::I32(0x7fff)),
        t => unreachable!("`{t}` is not a narrow integer type"),
    }
}

struct Widener<'p> {
    /// The program being widened: the source of every type.
    src: &'p Program,
}

impl Widener<'_> {
    fn block(&self, body: Vec<Node>) -> Vec<Node> {
        body.into_iter().map(|n| self.node(n)).collect()
    }

    fn value(&self, e: &Expr) -> Expr {
        self.expr(e).0
    }

    fn node(&self, n: Node) -> Node {
        let n = match n {
            // A narrow element is stored as `Cast(N, x)`: memory's type.
            Node::Store { buf, index, value } => {
                let elem = self.src.elem_type(buf).unwrap_or(DataType::U32);
                let value = self.value(&value);
                return Node::Store {
                    buf,
                    index: self.value(&index),
                    value: if elem.is_narrow() {
                        Expr::Cast(elem, Box::new(value))
                    } else {
                        value
                    },
                };
            }
            other => other,
        };
        // Matrix elements and copied elements stay in memory's types; only
        // the `u32`/`f32` operands are widened (a no-op for them).
        n.map_exprs(&mut |e| self.value(&e))
            .map_blocks(&mut |b| self.block(b))
    }

    /// The widened expression and the *source* type of `e`.
    fn expr(&self, e: &Expr) -> (Expr, DataType) {
        let p = self.src;
        match e {
            Expr::Lit(l) => (Expr::Lit(l.widened()), l.ty()),
            Expr::Local(id) => (e.clone(), p.locals[*id as usize].ty),
            Expr::Param(id) => {
                let ty = match &p.params[*id as usize] {
                    Param::Scalar { ty, .. } => *ty,
                    Param::Buffer(_) => unreachable!("validated: a buffer is not a value"),
                };
                (e.clone(), ty)
            }
            Expr::Builtin(..) | Expr::Len(_) => (e.clone(), DataType::U32),
            Expr::Load { buf, index } => {
                let elem = p.elem_type(*buf).unwrap_or(DataType::U32);
                let load = Expr::Load {
                    buf: *buf,
                    index: Box::new(self.value(index)),
                };
                if elem.is_narrow() {
                    (Expr::Cast(elem.register_type(), Box::new(load)), elem)
                } else {
                    (load, elem)
                }
            }
            Expr::Unary(op, a) => {
                let (a, t) = self.expr(a);
                let e = Expr::Unary(*op, Box::new(a));
                // `-x` and `!x` of a sign-extended value stay sign-extended,
                // except `-(-128i8)`; negating a float is exact.
                let wraps = t.is_narrow() && t.is_integer() && !(*op == UnOp::Not && t.is_signed());
                (if wraps { round(t, e) } else { e }, t)
            }
            Expr::Binary(op, a, b) => {
                let (a, ta) = self.expr(a);
                let (mut b, tb) = self.expr(b);
                let ty = binary_type(*op, ta, tb).unwrap_or(ta);
                if matches!(op, BinOp::Shl | BinOp::Shr) && ta.is_narrow() {
                    let mask = Literal::from_bits(tb.register_type(), ta.bits() - 1);
                    b = Expr::Binary(BinOp::BitAnd, Box::new(b), Box::new(Expr::Lit(mask)));
                }
                let e = Expr::Binary(*op, Box::new(a), Box::new(b));
                // Bitwise operations of zero- or sign-extended values and
                // right shifts stay in range; comparisons are `bool`.
                let exact = matches!(
                    op,
                    BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shr
                );
                (
                    if ty.is_narrow() && !exact {
                        round(ty, e)
                    } else {
                        e
                    },
                    ty,
                )
            }
            Expr::Cast(ty, a) => {
                let (a, from) = self.expr(a);
                (self.cast(*ty, a, from), *ty)
            }
            Expr::Math(f, args) => {
                let (args, tys): (Vec<_>, Vec<_>) = args.iter().map(|a| self.expr(a)).unzip();
                let ty = math_type(*f, &tys).unwrap_or(DataType::F32);
                let e = Expr::Math(*f, args);
                let exact = if ty.is_float() {
                    matches!(
                        f,
                        MathFn::Abs
                            | MathFn::Min
                            | MathFn::Max
                            | MathFn::Clamp
                            | MathFn::Floor
                            | MathFn::Ceil
                    )
                } else {
                    // Only `abs(i8::MIN)` leaves the range.
                    *f != MathFn::Abs
                };
                (
                    if ty.is_narrow() && !exact {
                        round(ty, e)
                    } else {
                        e
                    },
                    ty,
                )
            }
            Expr::Subgroup(op, args) => {
                let (args, tys): (Vec<_>, Vec<_>) = args.iter().map(|a| self.expr(a)).unzip();
                let ty = subgroup_type(*op, &tys).unwrap_or(DataType::U32);
                let e = Expr::Subgroup(*op, args);
                // A sum is computed in the register type along the same tree
                // as for 32-bit values and rounded once; the other
                // collectives move or pick values.
                let rounds = ty.is_narrow() && *op == SubgroupOp::Add;
                (if rounds { round(ty, e) } else { e }, ty)
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let (then, ty) = self.expr(then);
                (
                    Expr::Select {
                        cond: Box::new(self.value(cond)),
                        then: Box::new(then),
                        otherwise: Box::new(self.value(otherwise)),
                    },
                    ty,
                )
            }
        }
    }

    /// `a as ty`, `a` widened from source type `from`, as a widened
    /// expression of `ty.register_type()`.
    fn cast(&self, ty: DataType, a: Expr, from: DataType) -> Expr {
        let r = ty.register_type();
        if ty == from {
            return a;
        }
        if !ty.is_narrow() {
            return cast_to(ty, a, from.register_type());
        }
        if ty.is_float() {
            // Through `f32` (exact from `f16`/`bf16`, round to nearest even
            // from integers), then rounded once more to the type.
            return round(ty, cast_to(DataType::F32, a, from.register_type()));
        }
        if from.is_float() {
            // Rust's saturating float-to-integer cast: saturate to the
            // 32-bit register type (NaN to 0), then clamp to the range.
            let (lo, hi) = int_range(ty);
            return Expr::Math(
                MathFn::Clamp,
                vec![
                    cast_to(r, a, from.register_type()),
                    Expr::Lit(lo),
                    Expr::Lit(hi),
                ],
            );
        }
        // From an integer or `bool`: keep the low bits.
        round(ty, cast_to(r, a, from.register_type()))
    }
}
