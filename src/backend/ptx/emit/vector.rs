//! Vector accesses: four consecutive loads of a straight-line run
//! fetched by one `ld.v4` (buffers: hoisted to the start of the run;
//! shared and private arrays: just before the first node reading one of
//! them), four consecutive stores merged into one `st.v4`, with
//! per-element fallbacks at a partial tail of a buffer, branched around
//! where the group is whole ([`TailCheck`]).
//!
//! Narrow elements group the same way by whole 32-bit words: 16, 8 or 4
//! bytes of consecutive elements (the widths of [`group_widths`], largest
//! first) move as `ld/st.v4.b32`, `.v2.b32` or `.b32`, unpacked into or
//! packed from the widened values in registers.

use crate::ir::{Access, BufRef, DataType, Expr, Literal, Node};
use crate::mid::align::{
    Alignment, Key, KeyedLoad, LoadGroup, MULT_CAP, first_def, group_widths, keyed, keyed_loads,
    load_groups_of, walk_loads,
};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Inst, Label, Mod, Opcode, Operand, Reg, int};
use super::{Emitter, class_of, mov_ty, sfx, zero_of};

/// What a straight-line run vectorises, by position in the enclosing block.
#[derive(Debug, Clone, Default)]
pub(super) struct RunPlan {
    /// Store groups, at the position of their first store.
    pub(super) stores: Vec<(usize, Group)>,
    /// Vector loads from shared and private arrays, emitted just before
    /// the node at their position.
    pub(super) loads: Vec<(usize, ArrayLoad)>,
}

/// A vector load `buf[key + base .. key + base + width]` from a shared or
/// private array (`key + base` a multiple of `width`, all in range).
#[derive(Debug, Clone)]
pub(super) struct ArrayLoad {
    buf: BufRef,
    key: Key,
    base: u32,
    width: u32,
}

/// The widths of the vector accesses to `buf`'s elements, largest first.
fn widths(program: &crate::ir::Program, buf: BufRef) -> &'static [u32] {
    group_widths(program.elem_type(buf).unwrap_or(DataType::U32))
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

/// A candidate vector load from an array: all its elements read in the
/// run, between the nodes `first_use` and `last_use`; `last` is the index
/// expression of a read of the highest element.
struct ArrayGroup<'r> {
    load: ArrayLoad,
    first_use: usize,
    last_use: usize,
    last: &'r Expr,
}

/// Every complete group of reads of a shared or private array in `run`,
/// once each, for every width of its elements: wider groups first (the
/// planner takes a narrower one where a wider one does not fit).
fn array_groups<'r>(program: &crate::ir::Program, run: &'r [Node]) -> Vec<ArrayGroup<'r>> {
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
    let mut all_widths: Vec<u32> = reads
        .iter()
        .flat_map(|r| widths(program, r.buf).iter().copied())
        .collect();
    all_widths.sort_unstable_by(|a, b| b.cmp(a));
    all_widths.dedup();
    for width in all_widths {
        for r in &reads {
            if !widths(program, r.buf).contains(&width) {
                continue;
            }
            let base = r.off - r.off % width;
            let same = |g: &ArrayLoad| {
                g.buf == r.buf && g.key == r.key && g.base == base && g.width == width
            };
            if groups.iter().any(|g| same(&g.load)) {
                continue;
            }
            let members = || {
                reads.iter().filter(move |m| {
                    m.buf == r.buf && m.key == r.key && (base..base + width).contains(&m.off)
                })
            };
            if (0..width).all(|o| members().any(|m| m.off == base + o))
                && let Some(last) = members().find(|m| m.off == base + width - 1)
            {
                groups.push(ArrayGroup {
                    load: ArrayLoad {
                        buf: r.buf,
                        key: r.key.clone(),
                        base,
                        width,
                    },
                    first_use: members().map(|m| m.at).min().unwrap_or(0),
                    last_use: members().map(|m| m.at).max().unwrap_or(0),
                    last: last.index,
                });
            }
        }
    }
    groups
}

/// Whether the element ranges of two loads of one array overlap.
fn overlaps(a: &ArrayLoad, b: &ArrayLoad) -> bool {
    a.buf == b.buf && a.key == b.key && a.base < b.base + b.width && b.base < a.base + a.width
}

impl Emitter<'_> {
    /// Analyse a straight-line run (starting at `first` in its block):
    /// emit the vector buffer loads it allows now and return its store
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
        let arrays = array_groups(self.program, run);
        let mut al = self.align.clone();
        let mut t = 0;
        while t < run.len() {
            let group = match &run[t] {
                Node::Store { buf, .. } => widths(self.program, *buf)
                    .iter()
                    .filter(|w| t + **w as usize <= run.len())
                    .find_map(|w| self.store_group_at(&run[t..t + *w as usize], &al, *w)),
                _ => None,
            };
            // A store group evaluates all its values before storing: the
            // array loads its values need come before it.
            let width = group.as_ref().map_or(1, |g| g.width as usize);
            for g in arrays
                .iter()
                .filter(|g| (t..t + width).contains(&g.first_use))
            {
                if !plan.loads.iter().any(|(_, l)| overlaps(l, &g.load))
                    && self.array_load_ok(g, run, t, &stores, &al)
                {
                    plan.loads.push((first + t, g.load.clone()));
                }
            }
            if let Some(g) = group {
                plan.stores.push((first + t, g));
                t += width;
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

    /// Whether the array group `g` may be one vector load emitted before
    /// the node at `at` (where the alignment is `al`): `key + base` a
    /// multiple of its width there, the key unchanged until its last reader, no
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
        if l.base + l.width > al.key(&l.key) || stores.iter().any(|(_, b)| *b == l.buf) {
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

    /// The vector loads of buffers, hoisted to the start of the run: for
    /// each width (largest first), the groups of buffers whose elements
    /// take it and none of whose elements a wider group already loaded.
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
        // Loads: every (buffer, key, base) with all offsets present.
        let loads = keyed_loads(run);
        let mut all_widths: Vec<u32> = loads
            .iter()
            .flat_map(|l| widths(self.program, BufRef::Param(l.buf)).iter().copied())
            .collect();
        all_widths.sort_unstable_by(|a, b| b.cmp(a));
        all_widths.dedup();
        for width in all_widths {
            for g in load_groups_of(&loads, width) {
                let def = def_at(&g.key);
                self.buffer_load(g, &loads, stores, groups, first, def);
            }
        }
    }

    /// Emit the buffer load group `g` of the run if it may be one vector
    /// load (`def_at`: the first definition of its key in the run).
    fn buffer_load(
        &mut self,
        g: LoadGroup<'_>,
        loads: &[KeyedLoad<'_>],
        stores: &[(usize, BufRef)],
        groups: &[(usize, Group)],
        first: usize,
        def_at: usize,
    ) {
        let LoadGroup {
            buf: p,
            key: k,
            base,
            width,
            last_use,
            last,
        } = g;
        if !widths(self.program, BufRef::Param(p)).contains(&width)
            || base + width > self.align.key(&k)
            || def_at <= last_use
        {
            return;
        }
        // Elements a wider group already loaded.
        if self.vec_cache.iter().any(|(q, kk, o, _)| {
            *q == BufRef::Param(p) && *kk == k && (base..base + width).contains(o)
        }) {
            return;
        }
        let Some(decl) = self.program.buffer(p) else {
            return;
        };
        if decl.access == Access::ReadWrite {
            // Hoisting reads of a written buffer is only sound when the
            // run's only stores to it are one group on the same elements
            // and every read comes no later than the store it reads.
            let mine: Vec<_> = stores
                .iter()
                .filter(|(_, q)| *q == BufRef::Param(p))
                .collect();
            let Some((at, _)) = groups.iter().find(|(_, g)| {
                g.buf == BufRef::Param(p) && g.key == k && g.base == base && g.width == width
            }) else {
                return;
            };
            let g_start = at - first;
            let w = width as usize;
            if mine.len() != w
                || mine
                    .iter()
                    .any(|(tt, ..)| *tt < g_start || *tt >= g_start + w)
            {
                return;
            }
            let late = loads.iter().any(|l: &KeyedLoad<'_>| {
                l.buf == p
                    && (l.key != k
                        || l.off < base
                        || l.off >= base + width
                        || l.at > g_start + (l.off - base) as usize)
            });
            if late {
                return;
            }
        }
        self.vector_load(p, &k, base, width, last);
    }

    /// Emit the planned vector load `l` from a shared or private array.
    pub(super) fn array_vector_load(&mut self, l: &ArrayLoad) {
        let Some(sym) = Self::array_sym(l.buf) else {
            return;
        };
        let ty = self.program.elem_type(l.buf).unwrap_or(DataType::U32);
        let idx = self.expr(&Self::key_expr(&l.key, l.base));
        let idx = self.in_reg(&idx);
        let addr = self.array_addr(sym, idx, ty.size_bytes());
        let space = self.space(l.buf, true);
        let regs: Vec<Reg> = if ty.is_narrow() {
            let words = self.words(l.width * ty.size_bytes() / 4);
            self.code
                .push(word_access(Opcode::Ld, space, &words, Addr::reg(addr)));
            self.unpack_words(ty, &words)
        } else {
            let regs: [Reg; 4] = std::array::from_fn(|_| self.code.reg(class_of(ty)));
            ins!(self.code; Ld.(space).V4.(sfx(ty)) regs, Addr::reg(addr));
            regs.to_vec()
        };
        for (o, r) in (0..).zip(regs) {
            self.vec_cache.push((l.buf, l.key.clone(), l.base + o, r));
        }
    }

    /// `n` fresh `.b32` registers.
    fn words(&mut self, n: u32) -> Vec<Reg> {
        (0..n).map(|_| self.code.reg(Class::R)).collect()
    }

    /// The widened elements of the words `words` of `ty` elements, lowest
    /// address first.
    fn unpack_words(&mut self, ty: DataType, words: &[Reg]) -> Vec<Reg> {
        words
            .iter()
            .flat_map(|&w| self.unpack_word(ty, w))
            .collect()
    }

    /// The store group of `nodes` (`width` stores), if they form one where
    /// the alignment is `al`. A group to a shared or private array also
    /// needs its highest element proven in range (else the stores keep
    /// their own checks).
    fn store_group_at(&self, nodes: &[Node], al: &Alignment<'_>, width: u32) -> Option<Group> {
        let mut found: Option<(BufRef, Key, u32)> = None;
        for (o, n) in (0u32..).zip(nodes) {
            let Node::Store { buf, index, value } = n else {
                return None;
            };
            let (k, d) = group_key(*buf, index)?;
            match &found {
                None => {
                    if d % width != 0 || d + width > al.key(&k) {
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
            (nodes.last(), Self::array_sym(buf))
            && self.bounds.group_needs_check(last)
        {
            return None;
        }
        Some(Group {
            buf,
            key,
            base,
            width,
        })
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
    /// "all `width` elements in range" plus one per element below the
    /// last; `last` is the index expression of the group's element
    /// `key + base + width - 1`.
    fn vec_address(
        &mut self,
        p: u32,
        key: &Key,
        base: u32,
        width: u32,
        last: &Expr,
    ) -> (Reg, Option<TailCheck>) {
        let check = self.bounds.group_needs_check(last);
        let first = Self::key_expr(key, base);
        let idx = self.expr(&first);
        let idx_r = self.in_reg(&idx);
        let (ptr, len) = self.params[p as usize];
        let len = len.unwrap_or(ptr);
        let size = self.elem_size(BufRef::Param(p));
        let off = self.code.reg(Class::Rd);
        let addr = self.code.reg(Class::Rd);
        ins!(self.code; Mul.Wide.U32 off, idx_r, int(i64::from(size)));
        ins!(self.code; Add.S64 addr, ptr, off);
        if !check {
            return (addr, None);
        }
        // key is a multiple of width and base + width <= that: no
        // wrap-around, so the last element in range means all are.
        let last_i = self.code.reg(Class::R);
        let all = self.code.reg(Class::Pred);
        ins!(self.code; Add.S32 last_i, idx_r, int(i64::from(width) - 1));
        ins!(self.code; Setp.Lt.U32 all, last_i, len);
        let check = TailCheck {
            all,
            idx: idx_r,
            len,
            tail: self.code.label("vtail"),
            join: self.code.label("vjoin"),
        };
        (addr, Some(check))
    }

    /// `whole` (the vector access) where the group is in range, else
    /// `tail` (the elements in range one by one; the last is out of range
    /// there): a branch to the tail, and both paths meeting after it.
    fn whole_or_tail(
        &mut self,
        c: &TailCheck,
        whole: impl FnOnce(&mut Self),
        tail: impl FnOnce(&mut Self),
    ) {
        let all = c.all;
        ins!(self.code; @!all; Bra c.tail);
        whole(self);
        ins!(self.code; Bra c.join);
        self.code.place(c.tail);
        tail(self);
        self.code.place(c.join);
    }

    /// `idx + o < len`, on the tail path.
    fn in_range(&mut self, c: &TailCheck, o: u32) -> Reg {
        let i = self.code.reg(Class::R);
        let q = self.code.reg(Class::Pred);
        ins!(self.code; Add.S32 i, c.idx, int(i64::from(o)));
        ins!(self.code; Setp.Lt.U32 q, i, c.len);
        q
    }

    fn vector_load(&mut self, p: u32, key: &Key, base: u32, width: u32, last: &Expr) {
        let ty = self.program.buffer(p).map_or(DataType::U32, |b| b.elem);
        let space = self.space(BufRef::Param(p), true);
        let s = sfx(ty);
        let (addr, check) = self.vec_address(p, key, base, width, last);
        if ty.is_narrow() {
            let regs = self.narrow_vector_load(ty, width, space, addr, check);
            for (o, r) in (0..).zip(regs) {
                self.vec_cache
                    .push((BufRef::Param(p), key.clone(), base + o, r));
            }
            return;
        }
        let regs: [Reg; 4] = std::array::from_fn(|_| self.code.reg(class_of(ty)));
        match check {
            None => ins!(self.code; Ld.(space).V4.(s) regs, Addr::reg(addr)),
            Some(c) => self.whole_or_tail(
                &c,
                |e| ins!(e.code; Ld.(space).V4.(s) regs, Addr::reg(addr)),
                |e| {
                    for r in regs {
                        ins!(e.code; Mov.(mov_ty(ty)) r, zero_of(ty));
                    }
                    for (o, r) in (0..width - 1).zip(regs) {
                        let q = e.in_range(&c, o);
                        ins!(e.code; @q; Ld.(space).(s) r, Addr::reg_off(addr, o * 4));
                    }
                },
            ),
        }
        for (o, r) in (0..).zip(regs) {
            self.vec_cache
                .push((BufRef::Param(p), key.clone(), base + o, r));
        }
    }

    /// The widened elements of a vector load of `width` narrow `ty`
    /// elements at `addr` (with the checks of [`Self::vec_address`]): whole
    /// words, then at a partial tail the in-range elements one by one,
    /// inserted into the (zeroed) words.
    fn narrow_vector_load(
        &mut self,
        ty: DataType,
        width: u32,
        space: Mod,
        addr: Reg,
        check: Option<TailCheck>,
    ) -> Vec<Reg> {
        let size = ty.size_bytes();
        let words = self.words(width * size / 4);
        let vector = word_access(Opcode::Ld, space, &words, Addr::reg(addr));
        match check {
            None => self.code.push(vector),
            Some(c) => self.whole_or_tail(
                &c,
                |e| e.code.push(vector),
                |e| {
                    for &w in &words {
                        ins!(e.code; Mov.B32 w, int(0));
                    }
                    let elem = if size == 1 { Mod::U8 } else { Mod::U16 };
                    for o in 0..width - 1 {
                        let q = e.in_range(&c, o);
                        let byte = o * size;
                        let w = words[(byte / 4) as usize];
                        let pos = i64::from(byte % 4 * 8);
                        let t = e.code.reg(Class::R);
                        ins!(e.code; @q; Ld.(space).(elem) t, Addr::reg_off(addr, byte));
                        ins!(e.code; @q; Bfi.B32 w, t, w, int(pos), int(i64::from(size * 8)));
                    }
                },
            ),
        }
        self.unpack_words(ty, &words)
    }

    /// Store group of narrow `ty` elements: the values packed into words,
    /// stored as one vector; at a partial tail of a buffer, the in-range
    /// elements one by one (shifted out of their words).
    fn narrow_store_group(&mut self, g: &Group, nodes: &[Node], ty: DataType) {
        let vals: Vec<Reg> = nodes
            .iter()
            .map(|n| match n {
                Node::Store { value, .. } => self.narrow_operand(ty, value),
                _ => unreachable!("store groups hold stores only"),
            })
            .collect();
        let size = ty.size_bytes();
        let per_word = (4 / size) as usize;
        let words: Vec<Reg> = vals
            .chunks(per_word)
            .map(|xs| self.pack_word(ty, xs))
            .collect();
        for n in &nodes[..nodes.len() - 1] {
            if let Node::Store { index, .. } = n {
                self.bounds.served_by_group(index);
            }
        }
        let Some(Node::Store { index: last, .. }) = nodes.last() else {
            unreachable!("store groups hold stores");
        };
        let space = self.space(g.buf, false);
        let p = match g.buf {
            BufRef::Param(p) => p,
            BufRef::Shared(_) | BufRef::Private(_) => {
                // Proven in range when the group was formed.
                let Some(sym) = Self::array_sym(g.buf) else {
                    return;
                };
                let idx = self.expr(&Self::key_expr(&g.key, g.base));
                let idx = self.in_reg(&idx);
                let addr = self.array_addr(sym, idx, size);
                self.code
                    .push(word_access(Opcode::St, space, &words, Addr::reg(addr)));
                return;
            }
        };
        let (addr, check) = self.vec_address(p, &g.key, g.base, g.width, last);
        let vector = word_access(Opcode::St, space, &words, Addr::reg(addr));
        match check {
            None => self.code.push(vector),
            Some(c) => self.whole_or_tail(
                &c,
                |e| e.code.push(vector),
                |e| {
                    let elem = if size == 1 { Mod::U8 } else { Mod::U16 };
                    for o in 0..g.width - 1 {
                        let q = e.in_range(&c, o);
                        let byte = o * size;
                        let w = words[(byte / 4) as usize];
                        let bits = if byte.is_multiple_of(4) {
                            w
                        } else {
                            let t = e.code.reg(Class::R);
                            ins!(e.code; Shr.U32 t, w, int(i64::from(byte % 4 * 8)));
                            t
                        };
                        ins!(e.code; @q; St.(space).(elem) Addr::reg_off(addr, byte), bits);
                    }
                },
            ),
        }
    }

    pub(super) fn store_group(&mut self, g: &Group, nodes: &[Node]) {
        let ty = self.program.elem_type(g.buf).unwrap_or(DataType::U32);
        if ty.is_narrow() {
            self.narrow_store_group(g, nodes, ty);
            return;
        }
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
                let addr = self.array_addr(sym, idx, 4);
                let space = self.space(g.buf, false);
                ins!(self.code; St.(space).V4.(s) Addr::reg(addr), list);
                return;
            }
        };
        let (addr, check) = self.vec_address(p, &g.key, g.base, g.width, last);
        match check {
            None => ins!(self.code; St.Global.V4.(s) Addr::reg(addr), list),
            Some(c) => self.whole_or_tail(
                &c,
                |e| ins!(e.code; St.Global.V4.(s) Addr::reg(addr), list),
                |e| {
                    for (o, v) in (0..g.width - 1).zip(vals) {
                        let q = e.in_range(&c, o);
                        ins!(e.code; @q; St.Global.(s) Addr::reg_off(addr, o * 4), v);
                    }
                },
            ),
        }
    }
}

/// The bounds check of a vector access to a buffer: `all` holds when the
/// whole group is in range (the vector access runs); otherwise the code at
/// `tail` accesses the elements in range one by one, and both paths meet
/// at `join`. A branch rather than predicates: the per-element fallbacks
/// then cost nothing where the group is whole, which is everywhere but at
/// a buffer's partial end.
#[derive(Debug, Clone, Copy)]
pub(super) struct TailCheck {
    all: Reg,
    idx: Reg,
    len: Reg,
    tail: Label,
    join: Label,
}

/// `width` consecutive stores to `buf[key + base + 0..width]`, emitted as
/// one vector store (`key` a multiple of `width`, `base + width` at most
/// that; for a shared or private array, all proven in range).
#[derive(Debug, Clone)]
pub(super) struct Group {
    buf: BufRef,
    key: Key,
    base: u32,
    /// Elements in the group.
    pub(super) width: u32,
}

/// `ld` or `st` of the 32-bit words `words` (one, two or four) at `addr`
/// in `space`: `.b32`, `.v2.b32` or `.v4.b32`.
fn word_access(op: Opcode, space: Mod, words: &[Reg], addr: Addr) -> Inst {
    let (v, regs): (Option<Mod>, Operand) = match *words {
        [a, b, c, d] => (Some(Mod::V4), [a, b, c, d].into()),
        [a, b] => (Some(Mod::V2), [a, b].into()),
        [a] => (None, a.into()),
        _ => unreachable!("vector accesses move 1, 2 or 4 words"),
    };
    let mods: Vec<Mod> = [Some(space), v, Some(Mod::B32)]
        .into_iter()
        .flatten()
        .collect();
    let args = if op == Opcode::St {
        [addr.into(), regs]
    } else {
        [regs, addr.into()]
    };
    Inst::new(op, &mods, &args)
}
