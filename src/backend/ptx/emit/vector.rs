//! 16-byte vector accesses: four consecutive loads of a straight-line run
//! fetched by one `ld.v4` (buffers: hoisted to the start of the run;
//! shared and private arrays: just before the first node reading one of
//! them), four consecutive stores merged into one `st.v4`, with
//! per-element fallbacks at a partial tail of a buffer.

use crate::ir::{Access, BufRef, DataType, Expr, Literal, Node};
use crate::mid::align::{
    Alignment, Key, KeyedLoad, LoadGroup, MULT_CAP, first_def, keyed, keyed_loads, load_groups,
    walk_loads,
};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Reg, int};
use super::{Emitter, class_of, mov_ty, sfx, zero_of};

/// What a straight-line run vectorises, by position in the enclosing block.
#[derive(Debug, Clone, Default)]
pub(super) struct RunPlan {
    /// Store groups, at the position of their first store.
    pub(super) stores: Vec<(usize, Group)>,
    /// 16-byte loads from shared and private arrays, emitted just before
    /// the node at their position.
    pub(super) loads: Vec<(usize, ArrayLoad)>,
}

/// A 16-byte load `buf[key + base .. key + base + 3]` from a shared or
/// private array (`key + base` a multiple of 4, all four in range).
#[derive(Debug, Clone)]
pub(super) struct ArrayLoad {
    buf: BufRef,
    key: Key,
    base: u32,
}

/// `key + off` of an access to `buf`, the form the vector groups compare.
/// A constant index of a shared or private array is `0 + c`, so that
/// constant indices group too (buffers keep [`keyed`]'s form).
pub(super) fn group_key(buf: BufRef, index: &Expr) -> Option<(Key, u32)> {
    let (k, d) = keyed(index)?;
    match (buf, k) {
        (BufRef::Shared(_) | BufRef::Private(_), Key::Const(c)) => {
            let c = c.checked_add(d).filter(|c| *c < MULT_CAP)?;
            Some((Key::Const(0), c))
        }
        (_, k) => Some((k, d)),
    }
}

/// A load `arr[key + off]` of a shared or private array in a run.
struct ArrayRead<'r> {
    /// Position of the node reading it in the run.
    at: usize,
    buf: BufRef,
    key: Key,
    off: u32,
    index: &'r Expr,
}

/// A candidate 16-byte load from an array: all four elements read in the
/// run, between the nodes `first_use` and `last_use`; `last` is the index
/// expression of a read of the highest element.
struct ArrayGroup<'r> {
    load: ArrayLoad,
    first_use: usize,
    last_use: usize,
    last: &'r Expr,
}

/// Every complete group of four reads of a shared or private array in
/// `run`, once each.
fn array_groups(run: &[Node]) -> Vec<ArrayGroup<'_>> {
    let mut reads: Vec<ArrayRead<'_>> = Vec::new();
    for (at, n) in run.iter().enumerate() {
        let exprs: Vec<&Expr> = match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => vec![value],
            Node::Store { index, value, .. } => vec![index, value],
            _ => vec![],
        };
        for e in exprs {
            walk_loads(e, &mut |buf, index| {
                if !matches!(buf, BufRef::Param(_))
                    && let Some((key, off)) = group_key(buf, index)
                {
                    reads.push(ArrayRead {
                        at,
                        buf,
                        key,
                        off,
                        index,
                    });
                }
            });
        }
    }
    let mut groups: Vec<ArrayGroup<'_>> = Vec::new();
    for r in &reads {
        let base = r.off - r.off % 4;
        let same = |g: &ArrayLoad| g.buf == r.buf && g.key == r.key && g.base == base;
        if groups.iter().any(|g| same(&g.load)) {
            continue;
        }
        let members = || {
            reads.iter().filter(move |m| {
                m.buf == r.buf && m.key == r.key && (base..base + 4).contains(&m.off)
            })
        };
        if (0..4).all(|o| members().any(|m| m.off == base + o))
            && let Some(last) = members().find(|m| m.off == base + 3)
        {
            groups.push(ArrayGroup {
                load: ArrayLoad {
                    buf: r.buf,
                    key: r.key.clone(),
                    base,
                },
                first_use: members().map(|m| m.at).min().unwrap_or(0),
                last_use: members().map(|m| m.at).max().unwrap_or(0),
                last: last.index,
            });
        }
    }
    groups
}

impl Emitter<'_> {
    /// Analyse a straight-line run (starting at `first` in its block):
    /// emit the 16-byte buffer loads it allows now and return its store
    /// groups and array loads.
    pub(super) fn start_run(&mut self, run: &[Node], first: usize) -> RunPlan {
        let mut plan = RunPlan::default();
        // (position in the run, target) of every store.
        let stores: Vec<(usize, BufRef)> = run
            .iter()
            .enumerate()
            .filter_map(|(t, n)| match n {
                Node::Store { buf, .. } => Some((t, *buf)),
                _ => None,
            })
            .collect();
        // Store groups and array loads, with the alignment at each position
        // of the run (the run's lets and assignments update it).
        let arrays = array_groups(run);
        let mut al = self.align.clone();
        let mut t = 0;
        while t < run.len() {
            let group = if t + 4 <= run.len() {
                self.store_group_at(&run[t..t + 4], &al)
            } else {
                None
            };
            // A store group evaluates its four values before storing: the
            // array loads its values need come before it.
            let width = if group.is_some() { 4 } else { 1 };
            for g in arrays
                .iter()
                .filter(|g| (t..t + width).contains(&g.first_use))
            {
                if self.array_load_ok(g, run, t, &stores, &al) {
                    plan.loads.push((first + t, g.load.clone()));
                }
            }
            if let Some(g) = group {
                plan.stores.push((first + t, g));
                t += 4;
                continue;
            }
            if let Node::Let { local, value } | Node::Assign { local, value } = &run[t] {
                al.assign(*local, value);
            }
            t += 1;
        }
        self.buffer_loads(run, &stores, &plan.stores, first);
        plan
    }

    /// Whether the array group `g` may be one 16-byte load emitted before
    /// the node at `at` (where the alignment is `al`): `key + base` a
    /// multiple of 4 there, the key unchanged until its last reader, no
    /// store to the array in the run (conservative: the run's reads then
    /// all see the values at its start; barriers end runs) and the highest
    /// element proven in range (else the elements keep their own checks).
    fn array_load_ok(
        &self,
        g: &ArrayGroup<'_>,
        run: &[Node],
        at: usize,
        stores: &[(usize, BufRef)],
        al: &Alignment<'_>,
    ) -> bool {
        let l = &g.load;
        if l.base + 4 > al.key(&l.key) || stores.iter().any(|(_, b)| *b == l.buf) {
            return false;
        }
        if let Key::Local(id) = l.key
            && run[at..=g.last_use]
                .iter()
                .any(|n| n.defined_local() == Some(id))
        {
            return false;
        }
        !self.bounds.group_needs_check(g.last)
    }

    /// The 16-byte loads of buffers, hoisted to the start of the run.
    fn buffer_loads(
        &mut self,
        run: &[Node],
        stores: &[(usize, BufRef)],
        groups: &[(usize, Group)],
        first: usize,
    ) {
        // The hoisted accesses must all come before the key's first
        // (re)definition in the run.
        let def_at = |k: &Key| first_def(run, k);
        // Loads: every (buffer, key, base) with all four offsets present.
        let loads = keyed_loads(run);
        for LoadGroup {
            buf: p,
            key: k,
            base,
            last_use,
            last,
        } in load_groups(&loads)
        {
            if base + 4 > self.align.key(&k) || def_at(&k) <= last_use {
                continue;
            }
            let Some(decl) = self.program.buffer(p) else {
                continue;
            };
            if decl.access == Access::ReadWrite {
                // Hoisting reads of a written buffer is only sound when the
                // run's only stores to it are one group on the same elements
                // and every read comes no later than the store it reads.
                let mine: Vec<_> = stores
                    .iter()
                    .filter(|(_, q)| *q == BufRef::Param(p))
                    .collect();
                let Some((at, _)) = groups
                    .iter()
                    .find(|(_, g)| g.buf == BufRef::Param(p) && g.key == k && g.base == base)
                else {
                    continue;
                };
                let g_start = at - first;
                if mine.len() != 4
                    || mine
                        .iter()
                        .any(|(tt, ..)| *tt < g_start || *tt >= g_start + 4)
                {
                    continue;
                }
                let late = loads.iter().any(|l: &KeyedLoad<'_>| {
                    l.buf == p
                        && (l.key != k
                            || l.off < base
                            || l.off >= base + 4
                            || l.at > g_start + (l.off - base) as usize)
                });
                if late {
                    continue;
                }
            }
            self.vector_load(p, &k, base, last);
        }
    }

    /// Emit the planned 16-byte load `l` from a shared or private array.
    pub(super) fn array_vector_load(&mut self, l: &ArrayLoad) {
        let Some(sym) = Self::array_sym(l.buf) else {
            return;
        };
        let ty = self.program.elem_type(l.buf).unwrap_or(DataType::U32);
        let idx = self.expr(&Self::key_expr(&l.key, l.base));
        let idx = self.in_reg(&idx);
        let addr = self.array_addr(sym, idx);
        let space = self.space(l.buf, true);
        let regs: [Reg; 4] = std::array::from_fn(|_| self.code.reg(class_of(ty)));
        ins!(self.code; Ld.(space).V4.(sfx(ty)) regs, Addr::reg(addr));
        for (o, r) in (0..).zip(regs) {
            self.vec_cache.push((l.buf, l.key.clone(), l.base + o, r));
        }
    }

    /// The store group of `nodes` (four stores), if they form one where the
    /// alignment is `al`. A group to a shared or private array also needs
    /// its highest element proven in range (else the stores keep their own
    /// checks).
    fn store_group_at(&self, nodes: &[Node], al: &Alignment<'_>) -> Option<Group> {
        let mut found: Option<(BufRef, Key, u32)> = None;
        for (o, n) in (0u32..).zip(nodes) {
            let Node::Store { buf, index, value } = n else {
                return None;
            };
            let (k, d) = group_key(*buf, index)?;
            match &found {
                None => {
                    if d % 4 != 0 || d + 4 > al.key(&k) {
                        return None;
                    }
                    found = Some((*buf, k, d));
                }
                Some((q, kk, b)) => {
                    if q != buf || *kk != k || d != b + o {
                        return None;
                    }
                }
            }
            // A value may not read an element the group already wrote, nor
            // an element of the buffer it cannot name.
            let (q, kk, b) = found.clone()?;
            let mut bad = false;
            walk_loads(value, &mut |buf, idx| {
                if buf == q {
                    match group_key(buf, idx) {
                        Some((k2, d2)) if k2 == kk && d2 >= b + o => {}
                        _ => bad = true,
                    }
                }
            });
            if bad {
                return None;
            }
        }
        let (buf, key, base) = found?;
        if let (Some(Node::Store { index: last, .. }), Some(_)) =
            (nodes.get(3), Self::array_sym(buf))
            && self.bounds.group_needs_check(last)
        {
            return None;
        }
        Some(Group { buf, key, base })
    }

    /// The expression of `key + off`.
    fn key_expr(key: &Key, off: u32) -> Expr {
        let k = match key {
            Key::Local(id) => Expr::Local(*id),
            Key::Builtin(b, a) => Expr::Builtin(*b, *a),
            Key::Const(c) => return Expr::Lit(Literal::U32(c.wrapping_add(off))),
        };
        if off == 0 {
            k
        } else {
            Expr::Binary(
                crate::ir::BinOp::Add,
                Box::new(k),
                Box::new(Expr::Lit(Literal::U32(off))),
            )
        }
    }

    /// Address of `buf[key + base]` and, when not proven, the predicate
    /// "all four elements in range" plus one per element; `last` is the
    /// index expression of the group's element `key + base + 3`.
    fn vec_address(
        &mut self,
        p: u32,
        key: &Key,
        base: u32,
        last: &Expr,
    ) -> (Reg, Option<(Reg, Vec<Reg>)>) {
        let check = self.bounds.group_needs_check(last);
        let first = Self::key_expr(key, base);
        let idx = self.expr(&first);
        let idx_r = self.in_reg(&idx);
        let (ptr, len) = self.params[p as usize];
        let len = len.unwrap_or(ptr);
        let off = self.code.reg(Class::Rd);
        let addr = self.code.reg(Class::Rd);
        ins!(self.code; Mul.Wide.U32 off, idx_r, int(4));
        ins!(self.code; Add.S64 addr, ptr, off);
        if !check {
            return (addr, None);
        }
        // key is a multiple of 4 and base + 4 <= that: no wrap-around.
        let preds: Vec<Reg> = (0..4)
            .map(|o| {
                let i = self.code.reg(Class::R);
                let pr = self.code.reg(Class::Pred);
                ins!(self.code; Add.S32 i, idx_r, int(o));
                ins!(self.code; Setp.Lt.U32 pr, i, len);
                pr
            })
            .collect();
        let all = preds[3];
        let not_all = self.code.reg(Class::Pred);
        ins!(self.code; Not.Pred not_all, all);
        let part: Vec<Reg> = preds[..3]
            .iter()
            .map(|&pr| {
                let q = self.code.reg(Class::Pred);
                ins!(self.code; And.Pred q, pr, not_all);
                q
            })
            .collect();
        (addr, Some((all, part)))
    }

    fn vector_load(&mut self, p: u32, key: &Key, base: u32, last: &Expr) {
        let ty = self.program.buffer(p).map_or(DataType::U32, |b| b.elem);
        let space = self.space(BufRef::Param(p), true);
        let s = sfx(ty);
        let (addr, check) = self.vec_address(p, key, base, last);
        let regs: [Reg; 4] = std::array::from_fn(|_| self.code.reg(class_of(ty)));
        match check {
            None => ins!(self.code; Ld.(space).V4.(s) regs, Addr::reg(addr)),
            Some((all, part)) => {
                for r in regs {
                    ins!(self.code; Mov.(mov_ty(ty)) r, zero_of(ty));
                }
                ins!(self.code; @all; Ld.(space).V4.(s) regs, Addr::reg(addr));
                // Partial tail: the elements that are in range, one by one.
                for ((q, r), off) in part.into_iter().zip(regs).zip((0..).step_by(4)) {
                    ins!(self.code; @q; Ld.(space).(s) r, Addr::reg_off(addr, off));
                }
            }
        }
        for (o, r) in (0..).zip(regs) {
            self.vec_cache
                .push((BufRef::Param(p), key.clone(), base + o, r));
        }
    }

    pub(super) fn store_group(&mut self, g: &Group, nodes: &[Node]) {
        let ty = self.program.elem_type(g.buf).unwrap_or(DataType::U32);
        let vals: Vec<Reg> = nodes
            .iter()
            .map(|n| match n {
                Node::Store { value, .. } => {
                    let v = self.expr(value);
                    self.in_reg(&v)
                }
                _ => unreachable!("store groups hold stores only"),
            })
            .collect();
        for n in &nodes[..3] {
            if let Node::Store { index, .. } = n {
                self.bounds.served_by_group(index);
            }
        }
        let Some(Node::Store { index: last, .. }) = nodes.get(3) else {
            unreachable!("store groups hold four stores");
        };
        let s = sfx(ty);
        let list = [vals[0], vals[1], vals[2], vals[3]];
        let p = match g.buf {
            BufRef::Param(p) => p,
            BufRef::Shared(_) | BufRef::Private(_) => {
                // Proven in range when the group was formed (which asked
                // the highest element's decision as the group's).
                let Some(sym) = Self::array_sym(g.buf) else {
                    return;
                };
                let idx = self.expr(&Self::key_expr(&g.key, g.base));
                let idx = self.in_reg(&idx);
                let addr = self.array_addr(sym, idx);
                let space = self.space(g.buf, false);
                ins!(self.code; St.(space).V4.(s) Addr::reg(addr), list);
                return;
            }
        };
        let (addr, check) = self.vec_address(p, &g.key, g.base, last);
        match check {
            None => ins!(self.code; St.Global.V4.(s) Addr::reg(addr), list),
            Some((all, part)) => {
                ins!(self.code; @all; St.Global.V4.(s) Addr::reg(addr), list);
                for ((q, v), off) in part.into_iter().zip(vals).zip((0..).step_by(4)) {
                    ins!(self.code; @q; St.Global.(s) Addr::reg_off(addr, off), v);
                }
            }
        }
    }
}

/// Four consecutive stores to `buf[key + base + 0..4]`, emitted as one
/// 16-byte store (`key` a multiple of 4, `base + 4` at most that; for a
/// shared or private array, all four proven in range).
#[derive(Debug, Clone)]
pub(super) struct Group {
    buf: BufRef,
    key: Key,
    base: u32,
}
