//! 16-byte vector accesses: four consecutive loads of a straight-line run
//! hoisted into one `ld.v4`, four consecutive stores merged into one
//! `st.v4`, with per-element fallbacks at a partial tail.

use crate::ir::{Access, BinOp, BufRef, DataType, Expr, Literal, Node};
use crate::mid::align::{
    Key, KeyedLoad, LoadGroup, first_def, keyed, keyed_loads, load_groups, walk_loads,
};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Reg, int};
use super::{Emitter, class_of, mov_ty, sfx, zero_of};

impl Emitter<'_> {
    /// Analyse a straight-line run (starting at `first` in its block):
    /// emit the 16-byte vector loads it allows and return its store groups.
    pub(super) fn start_run(&mut self, run: &[Node], first: usize) -> Vec<(usize, Group)> {
        let mut groups = Vec::new();
        // (position in the run, buffer) of every store to a buffer.
        let mut stores: Vec<(usize, u32)> = Vec::new();
        for (t, n) in run.iter().enumerate() {
            if let Node::Store {
                buf: BufRef::Param(p),
                ..
            } = n
            {
                stores.push((t, *p));
            }
        }
        // The hoisted accesses must all come before the key's first
        // (re)definition in the run.
        let def_at = |k: &Key| first_def(run, k);
        // Store groups: four consecutive stores to buf[key + b .. key + b + 3].
        let mut t = 0;
        while t + 4 <= run.len() {
            if let Some(g) = self.store_group_at(&run[t..t + 4])
                && def_at(&g.key) >= t + 4
            {
                groups.push((first + t, g));
                t += 4;
            } else {
                t += 1;
            }
        }
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
                let mine: Vec<_> = stores.iter().filter(|(_, q)| *q == p).collect();
                let Some((at, g)) = groups
                    .iter()
                    .find(|(_, g)| g.buf == p && g.key == k && g.base == base)
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
                let _ = g;
            }
            self.vector_load(p, &k, base, last);
        }
        groups
    }

    /// The store group of `nodes` (four stores), if they form one.
    fn store_group_at(&self, nodes: &[Node]) -> Option<Group> {
        let mut found: Option<(u32, Key, u32)> = None;
        for (o, n) in nodes.iter().enumerate() {
            let Node::Store {
                buf: BufRef::Param(p),
                index,
                value,
            } = n
            else {
                return None;
            };
            let (k, d) = keyed(index)?;
            match &found {
                None => {
                    if d % 4 != 0 || d + 4 > self.align.key(&k) {
                        return None;
                    }
                    found = Some((*p, k, d));
                }
                Some((q, kk, b)) => {
                    if q != p || *kk != k || d != b + o as u32 {
                        return None;
                    }
                }
            }
            // A value may not read an element the group already wrote, nor
            // an element of the buffer it cannot name.
            let (q, kk, b) = found.clone()?;
            let mut bad = false;
            walk_loads(value, &mut |buf, idx| {
                if buf == BufRef::Param(q) {
                    match keyed(idx) {
                        Some((k2, d2)) if k2 == kk && d2 >= b + o as u32 => {}
                        Some((k2, _)) if k2 != kk => bad = true,
                        _ => bad = true,
                    }
                }
            });
            if bad {
                return None;
            }
        }
        let (buf, key, base) = found?;
        Some(Group { buf, key, base })
    }

    /// The expression of `key + off`.
    fn key_expr(key: &Key, off: u32) -> Expr {
        let k = match key {
            Key::Local(id) => Expr::Local(*id),
            Key::Builtin(b, a) => Expr::Builtin(*b, *a),
            Key::Const(c) => Expr::Lit(Literal::U32(*c)),
        };
        if off == 0 {
            k
        } else {
            Expr::Binary(
                BinOp::Add,
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
            self.vec_cache.push((p, key.clone(), base + o, r));
        }
    }

    pub(super) fn store_group(&mut self, g: &Group, nodes: &[Node]) {
        let ty = self.program.buffer(g.buf).map_or(DataType::U32, |b| b.elem);
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
        let (addr, check) = self.vec_address(g.buf, &g.key, g.base, last);
        let s = sfx(ty);
        let list = [vals[0], vals[1], vals[2], vals[3]];
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
/// 16-byte store (`key` a multiple of 4, `base + 4` at most that).
#[derive(Debug, Clone)]
pub(super) struct Group {
    buf: u32,
    key: Key,
    base: u32,
}
