//! Rewrites every device target wants before emission, done once here:
//!
//! 1. **Unrolling**: an `#[unroll]` loop (literal bounds, validated) becomes
//!    one copy of its body per value of the loop variable, with the
//!    variable replaced by that value. Locals the body defines get fresh
//!    locals in every copy but the last, so each copy defines its own
//!    (analyses keyed on a local then see one definition each), while a
//!    read after the loop still sees the last iteration's value.
//! 2. **Folding**: integer and `bool` arithmetic on literals (the index
//!    arithmetic unrolling leaves, `r * 8 + c`), `if`s and selects on a
//!    literal condition. Floating-point expressions are left alone: a
//!    target's own float rules (flush-to-zero, contraction) must decide them.
//! 3. **Scalarisation**: a private array whose every access has a literal
//!    index becomes one local per element, so it lives in registers on
//!    every target. Accesses past the end fold to what the language defines
//!    for them (a load gives 0, a store is dropped).
//!
//! The reference interpreter runs the program as written, so the
//! differential tests check these rewrites.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::ir::validate::unrolled_values;
use crate::ir::{BufRef, DataType, Expr, Literal, LocalDecl, LocalId, Node, PrivateId, Program};

/// `program` with the rewrites above applied (borrowed when none applies).
#[must_use]
pub fn prepare(program: &Program) -> Cow<'_, Program> {
    match super::widen(program) {
        Cow::Borrowed(p) => prepare_widened(p),
        Cow::Owned(p) => Cow::Owned(prepare_widened(&p).into_owned()),
    }
}

/// [`prepare`] of a program [`widen`](super::widen()) leaves unchanged.
fn prepare_widened(program: &Program) -> Cow<'_, Program> {
    let mut unrolls = false;
    crate::ir::walk_nodes(&program.body, &mut |n| {
        unrolls |= matches!(n, Node::For { unroll: true, .. });
    });
    if !unrolls && program.private.is_empty() {
        return Cow::Borrowed(program);
    }
    let mut p = program.clone();
    let mut unroller = Unroller {
        names: p.locals.iter().map(|l| l.name.clone()).collect(),
        locals: std::mem::take(&mut p.locals),
    };
    let body = std::mem::take(&mut p.body);
    p.body = unroller.block(body);
    p.locals = unroller.locals;
    scalarize(&mut p);
    Cow::Owned(p)
}

/// Unrolls and folds, creating the fresh locals the copies need.
struct Unroller {
    locals: Vec<LocalDecl>,
    names: HashSet<String>,
}

impl Unroller {
    fn block(&mut self, nodes: Vec<Node>) -> Vec<Node> {
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            self.node(node, &mut out);
        }
        out
    }

    fn node(&mut self, node: Node, out: &mut Vec<Node>) {
        match node {
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => {
                let (start, end) = (fold(start), fold(end));
                let values = if unroll {
                    unrolled_values(&start, &end, step)
                } else {
                    None
                };
                let Some(values) = values else {
                    out.push(Node::For {
                        var,
                        start,
                        end,
                        step,
                        unroll,
                        body: self.block(body),
                    });
                    return;
                };
                let defined = defined_locals(&body);
                for (k, value) in values.iter().enumerate() {
                    let mut map: HashMap<LocalId, Expr> = HashMap::new();
                    map.insert(var, Expr::Lit(*value));
                    let mut renames: HashMap<LocalId, LocalId> = HashMap::new();
                    if k + 1 < values.len() {
                        for &l in &defined {
                            let fresh = self.fresh(l);
                            renames.insert(l, fresh);
                            map.insert(l, Expr::Local(fresh));
                        }
                    }
                    let copy = body
                        .iter()
                        .cloned()
                        .map(|n| substitute_node(n, &map, &renames))
                        .collect();
                    for n in self.block(copy) {
                        out.push(n);
                    }
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => match fold(cond) {
                Expr::Lit(Literal::Bool(taken)) => {
                    let arm = if taken { then } else { otherwise };
                    out.extend(self.block(arm));
                }
                cond => out.push(Node::If {
                    cond,
                    then: self.block(then),
                    otherwise: self.block(otherwise),
                }),
            },
            other => out.push(
                other
                    .map_exprs(&mut fold)
                    .map_blocks(&mut |b| self.block(b)),
            ),
        }
    }

    /// A new local like `of`, with a unique name.
    fn fresh(&mut self, of: LocalId) -> LocalId {
        let decl = self.locals[of as usize].clone();
        let name = self.unique(&decl.name);
        self.locals.push(LocalDecl { name, ..decl });
        (self.locals.len() - 1) as LocalId
    }

    fn unique(&mut self, base: &str) -> String {
        let mut n = self.names.len();
        loop {
            let name = format!("{base}_u{n}");
            if self.names.insert(name.clone()) {
                return name;
            }
            n += 1;
        }
    }
}

/// Every local a statement of `body` (at any depth) defines.
fn defined_locals(body: &[Node]) -> Vec<LocalId> {
    let mut out = Vec::new();
    crate::ir::walk_nodes(body, &mut |n| {
        let l = match n {
            Node::For { var, .. } => Some(*var),
            _ => n.defined_local(),
        };
        // Only first definitions move: an assignment of an outer local
        // (an accumulator) must keep updating that local.
        let defines = matches!(
            n,
            Node::Let { .. }
                | Node::For { .. }
                | Node::Atomic {
                    result: crate::ir::AtomicResult::Let(_),
                    ..
                }
        );
        if let Some(l) = l
            && defines
            && !out.contains(&l)
        {
            out.push(l);
        }
    });
    out
}

/// `n` with the locals of `map` replaced (reads) and `renames` applied to
/// every statement that defines or assigns a local.
fn substitute_node(
    n: Node,
    map: &HashMap<LocalId, Expr>,
    renames: &HashMap<LocalId, LocalId>,
) -> Node {
    let l = |x: LocalId| *renames.get(&x).unwrap_or(&x);
    let n = match n {
        Node::Let { local, value } => Node::Let {
            local: l(local),
            value,
        },
        Node::Assign { local, value } => Node::Assign {
            local: l(local),
            value,
        },
        Node::Atomic {
            op,
            buf,
            index,
            expected,
            value,
            result,
        } => Node::Atomic {
            op,
            buf,
            index,
            expected,
            value,
            result: match result {
                crate::ir::AtomicResult::Discard => crate::ir::AtomicResult::Discard,
                crate::ir::AtomicResult::Let(x) => crate::ir::AtomicResult::Let(l(x)),
                crate::ir::AtomicResult::Assign(x) => crate::ir::AtomicResult::Assign(l(x)),
            },
        },
        Node::For {
            var,
            start,
            end,
            step,
            unroll,
            body,
        } => Node::For {
            var: l(var),
            start,
            end,
            step,
            unroll,
            body,
        },
        other => other,
    };
    n.map_exprs(&mut |x| substitute(&x, map))
        .map_blocks(&mut |body| {
            body.into_iter()
                .map(|n| substitute_node(n, map, renames))
                .collect()
        })
}

/// `e` with every local of `map` replaced.
fn substitute(e: &Expr, map: &HashMap<LocalId, Expr>) -> Expr {
    let s = |x: &Expr| Box::new(substitute(x, map));
    match e {
        Expr::Local(l) => map.get(l).cloned().unwrap_or_else(|| e.clone()),
        Expr::Lit(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => e.clone(),
        Expr::Load { buf, index } => Expr::Load {
            buf: *buf,
            index: s(index),
        },
        Expr::Unary(op, a) => Expr::Unary(*op, s(a)),
        Expr::Binary(op, a, b) => Expr::Binary(*op, s(a), s(b)),
        Expr::Cast(t, a) => Expr::Cast(*t, s(a)),
        Expr::Math(f, args) => Expr::Math(*f, args.iter().map(|a| substitute(a, map)).collect()),
        Expr::Subgroup(op, args) => {
            Expr::Subgroup(*op, args.iter().map(|a| substitute(a, map)).collect())
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => Expr::Select {
            cond: s(cond),
            then: s(then),
            otherwise: s(otherwise),
        },
    }
}

/// `e` with its integer and `bool` subexpressions over literals evaluated.
fn fold(e: Expr) -> Expr {
    let f = |x: Box<Expr>| Box::new(fold(*x));
    let e = match e {
        Expr::Load { buf, index } => Expr::Load {
            buf,
            index: f(index),
        },
        Expr::Unary(op, a) => Expr::Unary(op, f(a)),
        Expr::Binary(op, a, b) => Expr::Binary(op, f(a), f(b)),
        Expr::Cast(t, a) => Expr::Cast(t, f(a)),
        Expr::Math(m, args) => Expr::Math(m, args.into_iter().map(fold).collect()),
        Expr::Subgroup(op, args) => Expr::Subgroup(op, args.into_iter().map(fold).collect()),
        Expr::Select {
            cond,
            then,
            otherwise,
        } => match fold(*cond) {
            Expr::Lit(Literal::Bool(c)) => return fold(if c { *then } else { *otherwise }),
            cond => Expr::Select {
                cond: Box::new(cond),
                then: f(then),
                otherwise: f(otherwise),
            },
        },
        other => other,
    };
    let foldable = match &e {
        Expr::Unary(_, a) | Expr::Cast(_, a) => is_exact_lit(a),
        Expr::Binary(_, a, b) => is_exact_lit(a) && is_exact_lit(b),
        _ => false,
    };
    // Never to a narrow literal: `x as u8` is a widened program's store
    // value (shape (c) of `mid::widen`), which must stay a cast.
    if foldable
        && let Ok(l) = crate::ir::consts::eval(&e)
        && !matches!(l, Literal::F32(_))
        && !l.ty().is_narrow()
    {
        return Expr::Lit(l);
    }
    e
}

/// A literal whose arithmetic every target computes exactly (not `f32`).
fn is_exact_lit(e: &Expr) -> bool {
    matches!(e, Expr::Lit(l) if !matches!(l, Literal::F32(_)))
}

/// Turns every private array whose accesses all have literal indices into
/// one local per element (declared zero at the start of the kernel, as the
/// array is), and renumbers the arrays that stay.
fn scalarize(p: &mut Program) {
    let mut constant = vec![true; p.private.len()];
    let mut note = |buf: &BufRef, index: &Expr| {
        if let BufRef::Private(id) = buf
            && !matches!(index, Expr::Lit(Literal::U32(_) | Literal::I32(_)))
        {
            constant[*id as usize] = false;
        }
    };
    crate::ir::walk_nodes(&p.body, &mut |n| {
        visit_accesses(n, &mut note);
    });
    if !constant.iter().any(|c| *c) {
        return;
    }
    // Element locals of every scalarised array, and the new ids of the rest.
    let mut elems: HashMap<PrivateId, Vec<LocalId>> = HashMap::new();
    let mut renumber: HashMap<PrivateId, PrivateId> = HashMap::new();
    let mut kept = Vec::new();
    let mut names: HashSet<String> = p.locals.iter().map(|l| l.name.clone()).collect();
    let mut zero_lets = Vec::new();
    for (id, decl) in p.private.iter().enumerate() {
        let id = id as PrivateId;
        if constant[id as usize] {
            let mut ids = Vec::with_capacity(decl.len as usize);
            for k in 0..decl.len {
                let mut name = format!("{}_{k}", decl.name);
                while !names.insert(name.clone()) {
                    name.push('_');
                }
                // Widened programs hold narrow values in their register
                // type (`mid::widen`).
                let ty = decl.elem.register_type();
                p.locals.push(LocalDecl {
                    name,
                    ty,
                    mutable: true,
                });
                let l = (p.locals.len() - 1) as LocalId;
                zero_lets.push(Node::Let {
                    local: l,
                    value: Expr::Lit(zero(ty)),
                });
                ids.push(l);
            }
            elems.insert(id, ids);
        } else {
            renumber.insert(id, kept.len() as PrivateId);
            kept.push(decl.clone());
        }
    }
    p.private = kept;
    let body = std::mem::take(&mut p.body);
    let r = Rewriter {
        elems: &elems,
        renumber: &renumber,
        types: &p.locals,
    };
    zero_lets.extend(r.block(body));
    p.body = zero_lets;
}

/// Calls `f` with the target and index of every access `n` makes itself
/// (its expressions included, its nested blocks not).
fn visit_accesses(n: &Node, f: &mut impl FnMut(&BufRef, &Expr)) {
    if let Node::Store { buf, index, .. } | Node::Atomic { buf, index, .. } = n {
        f(buf, index);
    }
    for e in n.exprs() {
        e.any(&mut |e| {
            if let Expr::Load { buf, index } = e {
                f(buf, index);
            }
            false
        });
    }
}

fn zero(t: DataType) -> Literal {
    Literal::zero(t)
}

/// The literal index of an access, as the element number it names.
fn literal_index(index: &Expr) -> Option<u32> {
    match index {
        Expr::Lit(Literal::U32(v)) => Some(*v),
        Expr::Lit(Literal::I32(v)) => Some(v.cast_unsigned()),
        _ => None,
    }
}

/// Rewrites accesses to scalarised arrays into their element locals.
struct Rewriter<'a> {
    elems: &'a HashMap<PrivateId, Vec<LocalId>>,
    renumber: &'a HashMap<PrivateId, PrivateId>,
    types: &'a [LocalDecl],
}

impl Rewriter<'_> {
    fn block(&self, nodes: Vec<Node>) -> Vec<Node> {
        nodes.into_iter().filter_map(|n| self.node(n)).collect()
    }

    fn buf(&self, buf: BufRef) -> BufRef {
        match buf {
            BufRef::Private(id) => BufRef::Private(self.renumber.get(&id).copied().unwrap_or(id)),
            other => other,
        }
    }

    fn node(&self, n: Node) -> Option<Node> {
        let n = match n {
            Node::Store {
                buf: BufRef::Private(id),
                index,
                value,
            } if self.elems.contains_key(&id) => {
                let elems = &self.elems[&id];
                // Past the end: dropped (the value is pure).
                let local = *literal_index(&index).and_then(|k| elems.get(k as usize))?;
                // A narrow element's value is stored as `Cast(N, x)` with
                // `x` already representable: the register local takes `x`.
                let value = match value {
                    Expr::Cast(n, x) if n.is_narrow() => *x,
                    v => v,
                };
                return Some(Node::Assign {
                    local,
                    value: self.expr(value),
                });
            }
            Node::Store { buf, index, value } => Node::Store {
                buf: self.buf(buf),
                index,
                value,
            },
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => Node::Atomic {
                op,
                buf: self.buf(buf),
                index,
                expected,
                value,
                result,
            },
            // Matrices load and store buffers and shared arrays only (the
            // validator rejects private ones), so no array is renumbered.
            other => other,
        };
        Some(
            n.map_exprs(&mut |x| self.expr(x))
                .map_blocks(&mut |b| self.block(b)),
        )
    }

    fn expr(&self, e: Expr) -> Expr {
        let f = |x: Box<Expr>| Box::new(self.expr(*x));
        match e {
            Expr::Load {
                buf: BufRef::Private(id),
                index,
            } if self.elems.contains_key(&id) => {
                let elems = &self.elems[&id];
                match literal_index(&index).and_then(|k| elems.get(k as usize)) {
                    Some(l) => Expr::Local(*l),
                    // Past the end: 0 of the element type.
                    None => Expr::Lit(zero(self.types[elems[0] as usize].ty)),
                }
            }
            Expr::Load { buf, index } => Expr::Load {
                buf: self.buf(buf),
                index: f(index),
            },
            Expr::Unary(op, a) => Expr::Unary(op, f(a)),
            Expr::Binary(op, a, b) => Expr::Binary(op, f(a), f(b)),
            Expr::Cast(t, a) => Expr::Cast(t, f(a)),
            Expr::Math(m, args) => Expr::Math(m, args.into_iter().map(|a| self.expr(a)).collect()),
            Expr::Subgroup(op, args) => {
                Expr::Subgroup(op, args.into_iter().map(|a| self.expr(a)).collect())
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => Expr::Select {
                cond: f(cond),
                then: f(then),
                otherwise: f(otherwise),
            },
            other => other,
        }
    }
}
