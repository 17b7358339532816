//! Alignment and value-range analyses shared by the bounds analysis
//! ([`super::bounds`]) and the emitters that use 16-byte vector accesses
//! (PTX, SPIR-V): which power of two divides each integer local at a point
//! of the program, static upper bounds of indices, and the `key + offset`
//! form of an index.
//!
//! Four loads `buf[k]`, `buf[k + 1]`, `buf[k + 2]`, `buf[k + 3]` can be one
//! 16-byte access when `k` is a multiple of 4: the element index is then
//! 16-byte aligned, and `k + 3` cannot wrap around. In general `w`
//! consecutive elements starting at a multiple of `w` form one access of
//! `w` elements ([`group_widths`] lists the widths per element type: 16
//! bytes for 32-bit elements; 16, 8 and 4 bytes for narrow ones).

use crate::ir::{AtomicResult, BufRef, DataType, Expr, Literal, LocalId, Node, ParamId, Program};

/// Largest power of two tracked by the alignment analysis.
pub(crate) const MULT_CAP: u32 = 1 << 16;

/// The group widths (in elements, largest first) of vector accesses to
/// elements of `elem`: four 32-bit elements (16 bytes); 16, 8 and 4 bytes
/// of narrow elements (eight, four or two 16-bit ones; sixteen, eight or
/// four bytes); none for 64-bit elements (each is one access already; a
/// pair would be a `.v2.b64`, left for when a kernel needs it).
pub(crate) fn group_widths(elem: DataType) -> &'static [u32] {
    match elem.size_bytes() {
        1 => &[16, 8, 4],
        2 => &[8, 4, 2],
        8 => &[],
        _ => &[4],
    }
}

/// An index that cannot change inside a region: a local not assigned in it,
/// a builtin component or a constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Local(LocalId),
    Builtin(crate::ir::Builtin, crate::ir::Axis),
    Const(u32),
}

/// The key of an index expression that names a fixed value.
pub(crate) fn index_key(e: &Expr) -> Option<Key> {
    match e {
        Expr::Local(id) => Some(Key::Local(*id)),
        Expr::Builtin(b, a) => Some(Key::Builtin(*b, *a)),
        Expr::Lit(Literal::U32(v)) => Some(Key::Const(*v)),
        Expr::Lit(Literal::I32(v)) => Some(Key::Const(v.cast_unsigned())),
        // Integer-to-integer casts reinterpret the bits: same index.
        Expr::Cast(DataType::U32 | DataType::I32, inner) => match &**inner {
            Expr::Local(_) | Expr::Builtin(..) | Expr::Cast(..) => index_key(inner),
            _ => None,
        },
        _ => None,
    }
}

/// `key + d` form of an index (`d` a constant).
pub(crate) fn keyed(e: &Expr) -> Option<(Key, u32)> {
    if let Some(k) = index_key(e) {
        return Some((k, 0));
    }
    match e {
        Expr::Binary(crate::ir::BinOp::Add, a, b) => match (index_key(a), &**b, index_key(b), &**a)
        {
            // Small offsets only: larger ones never fit below a key's
            // alignment, and keeping them small keeps the offset arithmetic
            // of the vectorisers far from overflow.
            (Some(k), Expr::Lit(Literal::U32(d)), _, _)
            | (_, _, Some(k), Expr::Lit(Literal::U32(d)))
                if *d < MULT_CAP =>
            {
                Some((k, *d))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Length of the straight-line run at the start of `nodes`: `let`s,
/// assignments and stores (an atomic ends a run).
///
/// A run also ends right after the definition of a local that a later
/// access of the straight-line code uses as its index key: a group's key
/// must hold one value from the start of its run (loads are hoisted there),
/// so `let i = ..; a = x[i]; b = x[i + 1]; ..` (what `load4` and unrolled
/// bodies produce) groups in the run that starts after the `let`.
pub(crate) fn run_len(nodes: &[Node]) -> usize {
    let straight = nodes
        .iter()
        .take_while(|n| {
            matches!(
                n,
                Node::Let { .. } | Node::Assign { .. } | Node::Store { .. }
            )
        })
        .count();
    let run = &nodes[..straight];
    (0..straight)
        .find(|&t| {
            run[t]
                .defined_local()
                .is_some_and(|l| run[t + 1..].iter().any(|n| uses_as_key(n, l)))
        })
        .map_or(straight, |t| t + 1)
}

/// Whether an access of the straight-line node `n` has an index of the form
/// `local + offset`.
fn uses_as_key(n: &Node, local: LocalId) -> bool {
    let key = Key::Local(local);
    let mut found = false;
    let mut check = |_: BufRef, index: &Expr| {
        found |= keyed(index).is_some_and(|(k, _)| k == key);
    };
    match n {
        Node::Let { value, .. } | Node::Assign { value, .. } => walk_loads(value, &mut check),
        Node::Store { index, value, .. } => {
            check(BufRef::Param(0), index);
            walk_loads(index, &mut check);
            walk_loads(value, &mut check);
        }
        _ => {}
    }
    found
}

/// A load `param[key + offset]` of a straight-line run.
#[derive(Debug, Clone)]
pub(crate) struct KeyedLoad<'r> {
    /// Position of the node reading it in the run.
    pub(crate) at: usize,
    pub(crate) buf: ParamId,
    pub(crate) key: Key,
    pub(crate) off: u32,
    /// The load's index expression (its identity for [`crate::mid::IndexChecks`]).
    pub(crate) index: &'r Expr,
}

/// Every load `param[key + offset]` in the straight-line run `run`.
pub(crate) fn keyed_loads(run: &[Node]) -> Vec<KeyedLoad<'_>> {
    let mut loads = Vec::new();
    for (at, n) in run.iter().enumerate() {
        let exprs: Vec<&Expr> = match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => vec![value],
            Node::Store { index, value, .. } => vec![index, value],
            _ => vec![],
        };
        for e in exprs {
            walk_loads(e, &mut |buf, index| {
                if let BufRef::Param(p) = buf
                    && let Some((key, off)) = keyed(index)
                {
                    loads.push(KeyedLoad {
                        at,
                        buf: p,
                        key,
                        off,
                        index,
                    });
                }
            });
        }
    }
    loads
}

/// A candidate vector load: `buf[key + base + 0..width]` (`base` a
/// multiple of `width`) all read somewhere in a run; `last_use` is the
/// position of the last node reading one of them, `last` the index
/// expression of a load of `key + base + width - 1` (whose bounds decision
/// covers the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadGroup<'r> {
    pub(crate) buf: ParamId,
    pub(crate) key: Key,
    pub(crate) base: u32,
    /// Elements in the group (4 for [`load_groups`]).
    pub(crate) width: u32,
    pub(crate) last_use: usize,
    pub(crate) last: &'r Expr,
}

/// The complete groups of four among `loads` (from [`keyed_loads`]), once
/// each, in order of first appearance. Whether one may become a vector
/// load (alignment, redefinitions, writes) is each emitter's to decide.
pub(crate) fn load_groups<'r>(loads: &[KeyedLoad<'r>]) -> Vec<LoadGroup<'r>> {
    load_groups_of(loads, 4)
}

/// The complete groups of `width` elements among `loads`, as
/// [`load_groups`] (which is `width` 4).
pub(crate) fn load_groups_of<'r>(loads: &[KeyedLoad<'r>], width: u32) -> Vec<LoadGroup<'r>> {
    let mut groups: Vec<LoadGroup<'r>> = Vec::new();
    for l in loads {
        let base = l.off - l.off % width;
        if groups
            .iter()
            .any(|g| g.buf == l.buf && g.key == l.key && g.base == base)
        {
            continue;
        }
        let members = || {
            loads.iter().filter(move |m| {
                m.buf == l.buf && m.key == l.key && (base..base + width).contains(&m.off)
            })
        };
        if (0..width).all(|o| members().any(|m| m.off == base + o))
            && let Some(last) = members().find(|m| m.off == base + width - 1)
        {
            groups.push(LoadGroup {
                buf: l.buf,
                key: l.key.clone(),
                base,
                width,
                last_use: members().map(|m| m.at).max().unwrap_or(0),
                last: last.index,
            });
        }
    }
    groups
}

/// Position in `run` of the first (re)definition of the key's local
/// (`usize::MAX` when none, or when the key is not a local): an access
/// hoisted to the start of the run must not be used at or after it.
pub(crate) fn first_def(run: &[Node], key: &Key) -> usize {
    match key {
        Key::Local(id) => run
            .iter()
            .position(|n| n.defined_local() == Some(*id))
            .unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

/// Visit every load in `e`.
pub(crate) fn walk_loads<'e>(e: &'e Expr, f: &mut dyn FnMut(BufRef, &'e Expr)) {
    match e {
        Expr::Load { buf, index } => {
            f(*buf, index);
            walk_loads(index, f);
        }
        Expr::Unary(_, a) | Expr::Cast(_, a) => walk_loads(a, f),
        Expr::Binary(_, a, b) => {
            walk_loads(a, f);
            walk_loads(b, f);
        }
        Expr::Math(_, args) | Expr::Subgroup(_, args) => {
            args.iter().for_each(|a| walk_loads(a, f));
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            walk_loads(cond, f);
            walk_loads(then, f);
            walk_loads(otherwise, f);
        }
        Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
    }
}

/// The largest tracked power of two dividing each integer local at the
/// current point of a walk over the program in execution order: callers
/// [`Alignment::assign`] at each definition, [`Alignment::join`] the two
/// arms of an `if`, and call [`Alignment::enter_loop`] before a loop body
/// (restoring the state at the head after it).
#[derive(Debug, Clone)]
pub(crate) struct Alignment<'a> {
    program: &'a Program,
    mult: Vec<u32>,
}

impl<'a> Alignment<'a> {
    /// Start of the program: nothing is defined yet.
    pub(crate) fn new(program: &'a Program) -> Self {
        let mult = program
            .locals
            .iter()
            .map(|l| if l.ty.is_integer() { MULT_CAP } else { 1 })
            .collect();
        Self { program, mult }
    }

    /// Set the alignment of `local` (e.g. 1 for a loop variable).
    pub(crate) fn set(&mut self, local: LocalId, mult: u32) {
        self.mult[local as usize] = mult;
    }

    /// The variable of `for var in (start..end).step_by(step)`, set before
    /// [`Alignment::enter_loop`]: every value is `start + k * step`, so a
    /// power of two dividing both divides each (the loop ends before the
    /// addition could wrap).
    pub(crate) fn set_for_var(&mut self, var: LocalId, start: &Expr, step: u32) {
        self.mult[var as usize] = self.of(start).min(lit_mult(step));
    }

    /// `local` takes the value of `value`.
    pub(crate) fn assign(&mut self, local: LocalId, value: &Expr) {
        self.mult[local as usize] = self.of(value);
    }

    /// After an `if`: what both paths guarantee.
    pub(crate) fn join(&mut self, other: &Self) {
        for (m, t) in self.mult.iter_mut().zip(&other.mult) {
            *m = (*m).min(*t);
        }
    }

    /// Largest tracked power of two dividing the key's value.
    pub(crate) fn key(&self, k: &Key) -> u32 {
        match k {
            Key::Local(id) => self.mult[*id as usize],
            Key::Const(c) => lit_mult(*c),
            Key::Builtin(..) => 1,
        }
    }

    /// Largest tracked power of two dividing `e` (wrapping `u32`/`i32`
    /// arithmetic preserves divisibility by powers of two).
    pub(crate) fn of(&self, e: &Expr) -> u32 {
        let shifted = |sh: u32| {
            if sh >= MULT_CAP.trailing_zeros() {
                MULT_CAP
            } else {
                1 << sh
            }
        };
        match e {
            Expr::Lit(Literal::U32(v)) => lit_mult(*v),
            Expr::Lit(Literal::I32(v)) => lit_mult(v.cast_unsigned()),
            Expr::Local(id) => self.mult[*id as usize],
            Expr::Cast(DataType::U32 | DataType::I32, inner)
                if self
                    .program
                    .type_of(inner)
                    .is_some_and(DataType::is_integer) =>
            {
                self.of(inner)
            }
            Expr::Binary(op, a, b) => {
                let (ma, mb) = (self.of(a), self.of(b));
                match op {
                    crate::ir::BinOp::Mul => shifted(ma.trailing_zeros() + mb.trailing_zeros()),
                    crate::ir::BinOp::Shl => match &**b {
                        Expr::Lit(Literal::U32(s)) => shifted(ma.trailing_zeros() + (s & 31)),
                        _ => ma,
                    },
                    crate::ir::BinOp::Add | crate::ir::BinOp::Sub => ma.min(mb),
                    crate::ir::BinOp::BitAnd => ma.max(mb),
                    _ => 1,
                }
            }
            Expr::Select {
                then, otherwise, ..
            } => self.of(then).min(self.of(otherwise)),
            _ => 1,
        }
    }

    /// Entering a loop: the alignment of each local at the loop head is the
    /// greatest fixpoint over the definitions in the body, starting from
    /// the values on entry (an inductive invariant of every iteration).
    pub(crate) fn enter_loop(&mut self, body: &[Node]) {
        loop {
            let mut defs: Vec<(LocalId, u32)> = Vec::new();
            crate::ir::walk_nodes(body, &mut |n| match n {
                Node::Let { local, value } | Node::Assign { local, value } => {
                    defs.push((*local, self.of(value)));
                }
                // An atomic's old value is unknown.
                Node::Atomic {
                    result: AtomicResult::Let(local) | AtomicResult::Assign(local),
                    ..
                } => defs.push((*local, 1)),
                // The loop variable steps by 1.
                Node::For { var, .. } => defs.push((*var, 1)),
                _ => {}
            });
            let mut changed = false;
            for (l, m) in defs {
                let cur = &mut self.mult[l as usize];
                if m < *cur {
                    *cur = m;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// Largest tracked power of two dividing the constant `v`.
fn lit_mult(v: u32) -> u32 {
    if v == 0 {
        MULT_CAP
    } else {
        (1u32 << v.trailing_zeros()).min(MULT_CAP)
    }
}

/// Static upper bounds for range-based check elision: each immutable
/// local's from its `let` (an immutable local is defined once per
/// execution of its `let`, from values whose own bounds are static), and a
/// `for` variable's from its bound. Callers [`Ranges::define`] at each
/// `let` and [`Ranges::define_for`] at each `for`, in program order.
#[derive(Debug, Clone)]
pub(crate) struct Ranges<'a> {
    program: &'a Program,
    wg: [u32; 3],
    local_max: Vec<Option<u64>>,
}

impl<'a> Ranges<'a> {
    /// No bounds known yet; `wg` is the workgroup size (bounds `local_id()`).
    pub(crate) fn new(program: &'a Program, wg: [u32; 3]) -> Self {
        Self {
            program,
            wg,
            local_max: vec![None; program.locals.len()],
        }
    }

    /// `local` is defined with a value of unknown bound (an atomic's old
    /// value).
    pub(crate) fn define_unknown(&mut self, local: LocalId) {
        self.local_max[local as usize] = None;
    }

    /// `local` is defined with a value of at most `max` (a matrix map's row
    /// or column).
    pub(crate) fn define_max(&mut self, local: LocalId, max: u64) {
        self.local_max[local as usize] = Some(max);
    }

    /// An immutable `local` is defined as `value` (mutable locals have no
    /// static bound).
    pub(crate) fn define(&mut self, local: LocalId, value: &Expr) {
        let bound = if self.program.locals[local as usize].mutable {
            None
        } else {
            self.max_value(value)
        };
        self.local_max[local as usize] = bound;
    }

    /// `for var in start..end` (of type `ty`): below `end` while `start`
    /// is not negative.
    pub(crate) fn define_for(&mut self, var: LocalId, ty: DataType, start: &Expr, end: &Expr) {
        let start_ok = ty == DataType::U32 || self.max_value(start).is_some();
        self.local_max[var as usize] = if start_ok {
            self.max_value(end).and_then(|m| m.checked_sub(1))
        } else {
            None
        };
    }

    /// A static upper bound of `e`, when it is provably non-negative and
    /// bounded: built from constants, `local_id()` (below the workgroup
    /// size), bounded immutable locals and monotone operators, without
    /// overflow.
    pub(crate) fn max_value(&self, e: &Expr) -> Option<u64> {
        let ty = self.program.type_of(e)?;
        let limit = match ty {
            DataType::U32 => u64::from(u32::MAX),
            DataType::I32 => i32::MAX as u64,
            _ => return None,
        };
        let lit = |x: &Expr| match x {
            Expr::Lit(Literal::U32(v)) => Some(u64::from(*v)),
            Expr::Lit(Literal::I32(v)) => u64::try_from(*v).ok(),
            _ => None,
        };
        let m = match e {
            Expr::Lit(_) => lit(e)?,
            Expr::Builtin(crate::ir::Builtin::LocalId, a) => {
                u64::from(self.wg[a.index()].max(1) - 1)
            }
            Expr::Local(id) => self.local_max.get(*id as usize).copied().flatten()?,
            Expr::Cast(DataType::U32 | DataType::I32, inner) => {
                let t = self.program.type_of(inner)?;
                if !t.is_integer() {
                    return None;
                }
                self.max_value(inner)?
            }
            Expr::Binary(op, a, b) => {
                let ma = self.max_value(a);
                match op {
                    crate::ir::BinOp::Add => ma? + self.max_value(b)?,
                    crate::ir::BinOp::Mul => ma?.checked_mul(self.max_value(b)?)?,
                    crate::ir::BinOp::Div => ma? / lit(b).filter(|c| *c > 0)?,
                    // An unknown `i32` dividend may be negative: then so is
                    // the remainder.
                    crate::ir::BinOp::Rem => match (lit(b).filter(|c| *c > 0), ma) {
                        (Some(c), Some(m)) => m.min(c - 1),
                        (Some(c), None) if ty == DataType::U32 => c - 1,
                        _ => return None,
                    },
                    crate::ir::BinOp::Shl => {
                        ma?.checked_shl(u32::try_from(lit(b)?).ok().filter(|s| *s < 32)?)?
                    }
                    // The language masks shift amounts to their low 5 bits.
                    crate::ir::BinOp::Shr => ma? >> (lit(b)? & 31),
                    crate::ir::BinOp::BitAnd => match (ma, self.max_value(b)) {
                        (Some(x), Some(y)) => x.min(y),
                        (Some(x), None) | (None, Some(x)) if ty == DataType::U32 => x,
                        _ => return None,
                    },
                    _ => return None,
                }
            }
            Expr::Math(crate::ir::MathFn::Min, args) => {
                let a = self.max_value(&args[0]);
                let b = self.max_value(&args[1]);
                match (a, b) {
                    (Some(x), Some(y)) => x.min(y),
                    (Some(x), None) | (None, Some(x)) if ty == DataType::U32 => x,
                    _ => return None,
                }
            }
            _ => return None,
        };
        (m <= limit).then_some(m)
    }
}
