//! The bytecode interpreter against an independent, naive tree-walking
//! evaluator of the IR written from the semantics in `docs/architecture.md`,
//! on a thousand random programs from `vyre-testkit`'s generator (shared
//! memory, barriers, atomics, wild indices, floats). Both run workgroups and
//! invocations in the same sequential order, so every result must agree bit
//! for bit; this catches compilation bugs (register allocation, jump
//! patching, fused instructions) that comparing the interpreter with itself
//! through the CPU device cannot. A third generator ([`SubgroupGen`]) covers
//! the subgroup operations, for several subgroup sizes.

use std::sync::{Condvar, Mutex, MutexGuard};
use vyre::backend::reference::{RefArg, RunError, RunOptions, run_with};
use vyre::ir::validate::type_of;
use vyre::ir::{
    AsyncOp, AtomicOp, Axis, BinOp, BufRef, Builtin, DataType, Expr, Literal, MathFn, MatrixLayout,
    MatrixOp, Node, Param, Program, SubgroupOp, UnOp,
};

use vyre_testkit::harness::{from_words, to_words};
use vyre_testkit::{GenConfig, Value, generate};

enum Flow {
    Normal,
    Break,
    Continue,
    Return,
}

/// Everything invocations share, behind one lock: memory and the baton
/// that lets exactly one invocation run at a time.
struct World {
    /// Buffer contents, one value per element (`Value::Buffer`'s
    /// convention: a narrower element's bits zero-extended).
    bufs: Vec<Vec<u64>>,
    /// Buffer slot per parameter (None for scalars).
    slot: Vec<Option<usize>>,
    scalars: Vec<u64>,
    shared: Vec<Vec<u64>>,
    /// Index of the invocation allowed to run.
    turn: usize,
    /// Per invocation: 0 runnable this phase, 1 waiting at a barrier,
    /// 2 finished.
    state: Vec<u8>,
    /// Set when the workgroup must stop (divergence or a skip).
    abort: Option<&'static str>,
    fuel: u64,
    /// The subgroup size `S`.
    subgroup_size: usize,
    /// Per invocation: the collective it waits at (operation, operand type,
    /// value, lane operand), combined when the phase ends.
    requests: Vec<Option<(SubgroupOp, DataType, u32, u32)>>,
    /// Per invocation: the result of its last collective.
    results: Vec<u32>,
    /// Per invocation: the matrix statement it waits at (the statement's
    /// address, to tell statements apart, the statement, and its operands:
    /// offset, stride and a clip's rows and columns (`u32::MAX` unclipped),
    /// or the fill value's bits; a warpgroup multiply's A offset, A stride,
    /// B offset and B stride (0, 0, B offset and B stride with an
    /// accumulator A); a row reduction's offset; a `matrix_map`'s
    /// workgroup id, grid size and the values of the locals it reads, see
    /// [`map_operands`]).
    matrix_requests: Vec<Option<(usize, MatrixOp, Vec<u64>)>>,
    /// Per subgroup, per matrix: its elements, row-major, as `f32`.
    mats: Vec<Vec<Vec<f32>>>,
    /// Per warpgroup (128 invocations), per matrix: the same for warpgroup
    /// matrices.
    wmats: Vec<Vec<Vec<f32>>>,
    /// Each matrix's `(rows, cols)`.
    mat_dims: Vec<(usize, usize)>,
    /// Whether each matrix is held by a warpgroup.
    mat_warpgroup: Vec<bool>,
    /// Each matrix's `k` (the reduction length of its shape).
    mat_k: Vec<usize>,
    /// Element type per parameter (`U32` for scalars) and per shared
    /// array.
    param_elems: Vec<DataType>,
    shared_elems: Vec<DataType>,
    /// The program, for `matrix_map` expressions.
    program: Program,
}

/// The locals a `matrix_map` closure reads besides its own three, in
/// order of id: their values must agree across the warpgroup.
fn map_locals(op: &MatrixOp) -> Vec<u32> {
    let MatrixOp::Map {
        row,
        col,
        value,
        expr,
        ..
    } = op
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    expr.find_map(&mut |e| {
        if let Expr::Local(id) = e
            && ![*row, *col, *value].contains(id)
            && !ids.contains(id)
        {
            ids.push(*id);
        }
        None::<()>
    });
    ids.sort_unstable();
    ids
}

impl World {
    /// Hand the baton to the next runnable invocation after `me`, or end the
    /// phase: release everyone waiting at the barrier, or detect divergence.
    fn pass(&mut self, me: usize) {
        if let Some(next) = (me + 1..self.state.len()).find(|&j| self.state[j] == 0) {
            self.turn = next;
            return;
        }
        let waiting = self.state.iter().filter(|&&s| s == 1).count();
        let finished = self.state.iter().filter(|&&s| s == 2).count();
        if waiting == 0 {
            self.turn = usize::MAX;
        } else if finished > 0 {
            self.abort = Some("divergence");
        } else {
            self.combine();
            self.state.iter_mut().for_each(|s| *s = 0);
            self.turn = 0;
        }
    }

    /// Everyone arrived: answer the collectives they wait at, subgroup by
    /// subgroup (invocations `k*S .. (k+1)*S`, the last one maybe short).
    fn combine(&mut self) {
        let n = self.requests.len();
        let s = self.subgroup_size;
        for first in (0..n).step_by(s) {
            let members: Vec<_> = self.requests[first..n.min(first + s)]
                .iter_mut()
                .map(Option::take)
                .collect();
            if members.iter().all(Option::is_none) {
                continue;
            }
            let Some(reqs) = members.into_iter().collect::<Option<Vec<_>>>() else {
                self.abort = Some("divergence");
                return;
            };
            for (lane, r) in subgroup(&reqs, s).into_iter().enumerate() {
                self.results[first + lane] = r;
            }
        }
        // Matrix statements: every lane of a subgroup must wait at the
        // same one with the same operands; it then runs once for the
        // subgroup. A statement on warpgroup matrices: the same over the
        // 128 invocations of a warpgroup, once per warpgroup.
        let reqs: Vec<_> = self.matrix_requests.iter_mut().map(Option::take).collect();
        for warpgroup in [false, true] {
            let (size, why) = if warpgroup {
                (128, "warpgroup operands differ")
            } else {
                (s, "matrix operands differ")
            };
            for (g, first) in (0..n).step_by(size).enumerate() {
                let members = &reqs[first..n.min(first + size)];
                let ours = |m: &Option<(usize, MatrixOp, Vec<u64>)>| {
                    m.as_ref()
                        .is_some_and(|r| self.on_warpgroup_matrices(&r.1) == warpgroup)
                };
                if !members.iter().any(ours) {
                    continue;
                }
                let Some(Some(req)) = members.first().cloned() else {
                    self.abort = Some(why);
                    return;
                };
                let same = |m: &Option<(usize, MatrixOp, Vec<u64>)>| {
                    m.as_ref().is_some_and(|r| (r.0, &r.2) == (req.0, &req.2))
                };
                if !members.iter().all(same) {
                    self.abort = Some(why);
                    return;
                }
                self.matrix(g, &req.1, &req.2);
            }
        }
    }

    /// Whether `op` acts on warpgroup matrices (and so once per warpgroup).
    fn on_warpgroup_matrices(&self, op: &MatrixOp) -> bool {
        match op {
            MatrixOp::WarpgroupMultiplyAdd { .. }
            | MatrixOp::Map { .. }
            | MatrixOp::RowReduce { .. } => true,
            MatrixOp::Fill { matrix, .. }
            | MatrixOp::Load { matrix, .. }
            | MatrixOp::Store { matrix, .. } => self.mat_warpgroup[*matrix as usize],
            MatrixOp::MultiplyAdd { .. } | MatrixOp::WarpgroupWait { .. } => false,
        }
    }

    /// The words of buffer parameter or shared array `b`, and their
    /// element type.
    fn memory(&mut self, b: BufRef) -> (&mut Vec<u64>, DataType) {
        match b {
            BufRef::Param(id) => (
                &mut self.bufs[self.slot[id as usize].expect("buffer")],
                self.param_elems[id as usize],
            ),
            BufRef::Shared(id) => (
                &mut self.shared[id as usize],
                self.shared_elems[id as usize],
            ),
            BufRef::Private(_) => unreachable!("validation: no private matrix memory"),
        }
    }

    /// Matrix statement `op` for subgroup `g` (warpgroup `g` for a
    /// statement on warpgroup matrices), with operands `x`, `y` (and `bx`,
    /// `by`), straight from the written semantics.
    fn matrix(&mut self, g: usize, op: &MatrixOp, ops: &[u64]) {
        let warpgroup = self.on_warpgroup_matrices(op);
        let mut mats = std::mem::take(if warpgroup {
            &mut self.wmats[g]
        } else {
            &mut self.mats[g]
        });
        self.matrix_on(&mut mats, op, ops);
        if warpgroup {
            self.wmats[g] = mats;
        } else {
            self.mats[g] = mats;
        }
    }

    /// Matrix statement `op` on one group's matrices `mats`.
    fn matrix_on(&mut self, mats: &mut [Vec<f32>], op: &MatrixOp, ops: &[u64]) {
        // Offsets, strides and clips are `u32`.
        let at = |k: usize| ops.get(k).map_or(0, |&v| v as u32);
        let (x, y, bx, by) = (at(0), at(1), at(2), at(3));
        // Element (r, c)'s index, in u64: it never wraps.
        let index = |layout: MatrixLayout, r: usize, c: usize| -> u64 {
            let (r, c) = (r as u64, c as u64);
            u64::from(x)
                + match layout {
                    MatrixLayout::RowMajor => r * u64::from(y) + c,
                    MatrixLayout::ColMajor => c * u64::from(y) + r,
                }
        };
        // A clipped load or store touches `(r, c)` only when `r < bx` and
        // `c < by`.
        let clipped_in =
            |r: usize, c: usize| (r as u64) < u64::from(bx) && (c as u64) < u64::from(by);
        match op {
            // Multiplies complete at once here: nothing to wait for.
            MatrixOp::WarpgroupWait { .. } => {}
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => {
                // ops: workgroup id, grid, then the closure's other locals.
                let mut locals = vec![0u64; self.program.locals.len()];
                for (k, id) in map_locals(op).into_iter().enumerate() {
                    locals[id as usize] = ops.get(6 + k).copied().unwrap_or(0);
                }
                let ids = [[at(0), at(1), at(2)], [at(3), at(4), at(5)]];
                let (rows, cols) = self.mat_dims[*src as usize];
                let from = mats[*src as usize].clone();
                let mut out = vec![0.0; rows * cols];
                for r in 0..rows {
                    for c in 0..cols {
                        locals[*row as usize] = r as u64;
                        locals[*col as usize] = c as u64;
                        locals[*value as usize] = u64::from(from[r * cols + c].to_bits());
                        out[r * cols + c] = f(self.pure_eval(&locals, ids, expr));
                    }
                }
                mats[*d as usize] = out;
            }
            MatrixOp::RowReduce { op, src, dst, .. } => {
                let (rows, cols) = self.mat_dims[*src as usize];
                let t = &mats[*src as usize];
                for r in 0..rows {
                    let row = &t[r * cols..(r + 1) * cols];
                    let v = match op {
                        // The documented fold: `f32::max` (NaN never wins).
                        vyre::ir::RowReduceOp::Max => {
                            row.iter().fold(f32::NEG_INFINITY, |m, &e| m.max(e))
                        }
                        vyre::ir::RowReduceOp::Add => {
                            let mut acc = 0.0f32;
                            for &e in row {
                                acc += e;
                            }
                            acc
                        }
                    };
                    if let Some(w) = usize::try_from(u64::from(x) + r as u64)
                        .ok()
                        .and_then(|i| self.shared[*dst as usize].get_mut(i))
                    {
                        *w = u64::from(v.to_bits());
                    }
                }
            }
            MatrixOp::WarpgroupMultiplyAdd { d, a, b, c, .. } => {
                let (m, n) = self.mat_dims[*d as usize];
                let k = self.mat_k[*d as usize];
                // A[i][kk] = a.array[x + i * y + kk], B[kk][j] =
                // b.array[bx + kk * by + j] (row-major) or [bx + j * by +
                // kk] (column-major), in u64; out of range reads 0.
                let read = |mem: &Vec<u64>,
                            elem: DataType,
                            (off, stride, layout): (u32, u32, MatrixLayout),
                            r: usize,
                            col: usize| {
                    let (major, minor) = match layout {
                        MatrixLayout::RowMajor => (r, col),
                        MatrixLayout::ColMajor => (col, r),
                    };
                    let i = u64::from(off) + major as u64 * u64::from(stride) + minor as u64;
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| mem.get(i).copied())
                        .map_or(0.0, |w| f(widen(elem, w)))
                };
                let sb = b.array as usize;
                let eb = self.shared_elems[sb];
                // A from an accumulator: each element rounded to B's type.
                let a_of = |i: usize, kk: usize| match a {
                    vyre::ir::WarpgroupOperand::Shared(t) => read(
                        &self.shared[t.array as usize],
                        self.shared_elems[t.array as usize],
                        (x, y, MatrixLayout::RowMajor),
                        i,
                        kk,
                    ),
                    vyre::ir::WarpgroupOperand::Accumulator(p) => f(round(
                        eb,
                        u64::from(mats[*p as usize][i * k + kk].to_bits()),
                    )),
                };
                let tc = mats[*c as usize].clone();
                let mut out = vec![0.0; m * n];
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = tc[i * n + j];
                        for kk in 0..k {
                            let av = a_of(i, kk);
                            let bv = read(&self.shared[sb], eb, (bx, by, b.layout), kk, j);
                            acc += av * bv;
                        }
                        out[i * n + j] = acc;
                    }
                }
                mats[*d as usize] = out;
            }
            MatrixOp::Fill { matrix, .. } => {
                for v in &mut mats[*matrix as usize] {
                    *v = f(x);
                }
            }
            MatrixOp::Load {
                matrix,
                buf,
                layout,
                ..
            } => {
                let (rows, cols) = self.mat_dims[*matrix as usize];
                let (mem, elem) = self.memory(*buf);
                let mut tile = vec![0.0; rows * cols];
                for r in 0..rows {
                    for c in 0..cols {
                        if !clipped_in(r, c) {
                            continue;
                        }
                        let w = usize::try_from(index(*layout, r, c))
                            .ok()
                            .and_then(|i| mem.get(i).copied());
                        tile[r * cols + c] = w.map_or(0.0, |w| f(widen(elem, w)));
                    }
                }
                mats[*matrix as usize] = tile;
            }
            MatrixOp::Store {
                matrix,
                buf,
                layout,
                ..
            } => {
                let (rows, cols) = self.mat_dims[*matrix as usize];
                let tile = mats[*matrix as usize].clone();
                let (mem, elem) = self.memory(*buf);
                for r in 0..rows {
                    for c in 0..cols {
                        if !clipped_in(r, c) {
                            continue;
                        }
                        if let Some(w) = usize::try_from(index(*layout, r, c))
                            .ok()
                            .and_then(|i| mem.get_mut(i))
                        {
                            *w = element_bits(elem, u64::from(tile[r * cols + c].to_bits()));
                        }
                    }
                }
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => {
                let t = &*mats;
                let (ta, tb, tc) = (&t[*a as usize], &t[*b as usize], &t[*c as usize]);
                let (m, k) = self.mat_dims[*a as usize];
                let n = self.mat_dims[*b as usize].1;
                let mut out = vec![0.0; m * n];
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = tc[i * n + j];
                        for kk in 0..k {
                            let p = ta[i * k + kk] * tb[kk * n + j];
                            acc += p;
                        }
                        out[i * n + j] = acc;
                    }
                }
                mats[*d as usize] = out;
            }
        }
    }
}

impl World {
    /// A `matrix_map` closure's value: `Walker::eval` without collectives
    /// (validation keeps them, `local_id`, `global_id` and private arrays
    /// out of the closure), with `locals` and the workgroup id and grid
    /// size `ids` given, memory read from the world.
    fn pure_eval(&self, locals: &[u64], ids: [[u32; 3]; 2], e: &Expr) -> u64 {
        let p = &self.program;
        let ty = |e: &Expr| type_of(p, e).expect("typed");
        let ev = |e: &Expr| self.pure_eval(locals, ids, e);
        match e {
            Expr::Lit(l) => widen(l.ty(), bits(*l)),
            Expr::Subgroup(..) => unreachable!("validation: no subgroup operation in a map"),
            Expr::Local(id) => locals[*id as usize],
            Expr::Param(id) => self.scalars[*id as usize],
            Expr::Builtin(b, a) => match b {
                Builtin::WorkgroupId => u64::from(ids[0][a.index()]),
                Builtin::NumWorkgroups => u64::from(ids[1][a.index()]),
                _ => unreachable!("validation: no per-invocation builtin in a map"),
            },
            Expr::Len(id) => self.bufs[self.slot[*id as usize].expect("buffer")].len() as u64,
            Expr::Load { buf, index } => {
                let i = ev(index) as usize;
                let elem = p.elem_type(*buf).expect("memory");
                let mem = match buf {
                    BufRef::Param(id) => &self.bufs[self.slot[*id as usize].expect("buffer")],
                    BufRef::Shared(id) => &self.shared[*id as usize],
                    BufRef::Private(_) => unreachable!("validation: no private array in a map"),
                };
                widen(elem, mem.get(i).copied().unwrap_or(0))
            }
            Expr::Unary(op, a) => {
                let t = ty(a);
                round(t, unary(*op, t.register_type(), ev(a)))
            }
            Expr::Binary(op, a, b) => {
                let t = ty(a);
                let x = ev(a);
                let mut y = ev(b);
                if matches!(op, BinOp::Shl | BinOp::Shr) && t.is_narrow() {
                    y &= u64::from(t.bits() - 1);
                }
                let r = binary(*op, t.register_type(), x, y);
                if ty(e) == t { round(t, r) } else { r }
            }
            Expr::Cast(to, a) => cast(ty(a), *to, ev(a)),
            Expr::Math(m, args) => {
                let t = ty(&args[0]);
                let v: Vec<u64> = args.iter().map(ev).collect();
                round(t, math(*m, t.register_type(), &v))
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let (c, a, b) = (ev(cond), ev(then), ev(otherwise));
                if c != 0 { a } else { b }
            }
        }
    }
}

/// The results of one subgroup's collective, lane by lane, straight from
/// the written semantics: `reqs[l]` is lane `l`'s (operation, type, value,
/// lane operand); lanes `reqs.len()..s` have no invocation.
fn subgroup(reqs: &[(SubgroupOp, DataType, u32, u32)], s: usize) -> Vec<u32> {
    let (op, t, _, _) = reqs[0];
    let v: Vec<u32> = reqs.iter().map(|r| r.2).collect();
    let n = v.len();
    let all = |x: u32| vec![x; n];
    // (Collectives take values of at most 32 bits.)
    let fold = |m: MathFn| {
        all(v[1..].iter().fold(v[0], |acc, &x| {
            math(m, t, &[u64::from(acc), u64::from(x)]) as u32
        }))
    };
    // Lane `src`'s value, or the reader's own when there is none.
    let pick = |l: usize, src: u64| {
        if src < n as u64 {
            v[src as usize]
        } else {
            v[l]
        }
    };
    match op {
        SubgroupOp::Add if t == DataType::F32 => {
            // Every lane's butterfly, missing lanes starting at -0.0.
            let mut lanes: Vec<f32> = (0..s).map(|l| v.get(l).map_or(-0.0, |&b| f(b))).collect();
            let mut off = s / 2;
            while off >= 1 {
                lanes = (0..s).map(|l| lanes[l] + lanes[l ^ off]).collect();
                off /= 2;
            }
            lanes[..n].iter().map(|x| x.to_bits()).collect()
        }
        SubgroupOp::Add => all(v.iter().fold(0u32, |a, &x| a.wrapping_add(x))),
        SubgroupOp::Min => fold(MathFn::Min),
        SubgroupOp::Max => fold(MathFn::Max),
        SubgroupOp::Shuffle => (0..n).map(|l| pick(l, u64::from(reqs[l].3))).collect(),
        SubgroupOp::ShuffleXor => (0..n)
            .map(|l| pick(l, u64::from(l as u32 ^ reqs[l].3)))
            .collect(),
        SubgroupOp::ShuffleDown => (0..n)
            .map(|l| pick(l, l as u64 + u64::from(reqs[l].3)))
            .collect(),
        SubgroupOp::BroadcastFirst => all(v[0]),
        SubgroupOp::Ballot => all((0..n.min(32)).filter(|&l| v[l] != 0).map(|l| 1 << l).sum()),
        SubgroupOp::All => all(u32::from(v.iter().all(|&x| x != 0))),
        SubgroupOp::Any => all(u32::from(v.iter().any(|&x| x != 0))),
        SubgroupOp::InvocationId | SubgroupOp::Size => unreachable!("not collective"),
    }
}

struct Walker<'p, 'g> {
    p: &'p Program,
    world: Option<MutexGuard<'g, World>>,
    /// One condition variable per invocation: only the next baton holder
    /// is woken.
    cvs: &'g [Condvar],
    me: usize,
    /// Set when a collective's wait was aborted (checked after each
    /// statement, since `eval` returns plain values).
    failed: Option<&'static str>,
}

struct Inv {
    /// Local values (a value of a type of at most 32 bits zero-extended).
    locals: Vec<u64>,
    /// This invocation's private arrays, all zeros when it starts.
    private: Vec<Vec<u64>>,
    ids: [[u32; 3]; 4],
}

fn bits(l: Literal) -> u64 {
    l.bits64()
}

/// The `f32` whose bits are `x` (a value of at most 32 bits).
fn f(x: impl Into<u64>) -> f32 {
    let x = x.into();
    debug_assert_eq!(x >> 32, 0, "an `f32` with bits above 32");
    f32::from_bits(x as u32)
}

/// The `f64` whose bits are `x`.
fn d(x: u64) -> f64 {
    f64::from_bits(x)
}

impl Walker<'_, '_> {
    fn w(&mut self) -> &mut World {
        self.world.as_mut().expect("holding the world")
    }

    /// The words of `b`: the world's buffers and shared arrays, or the
    /// invocation's own private arrays.
    fn mem<'a>(&'a mut self, inv: &'a mut Inv, b: BufRef) -> &'a mut Vec<u64> {
        let w = self.w();
        match b {
            BufRef::Param(id) => &mut w.bufs[w.slot[id as usize].expect("buffer")],
            BufRef::Shared(id) => &mut w.shared[id as usize],
            BufRef::Private(id) => &mut inv.private[id as usize],
        }
    }

    fn tick(&mut self) -> Result<(), &'static str> {
        let w = self.w();
        w.fuel = w.fuel.checked_sub(1).ok_or("out of fuel")?;
        Ok(())
    }

    /// Wait at a barrier: pass the baton, sleep until it comes back.
    fn barrier(&mut self) -> Result<(), &'static str> {
        let me = self.me;
        let mut g = self.world.take().expect("holding the world");
        g.state[me] = 1;
        g.pass(me);
        wake(self.cvs, &g);
        let g = self.cvs[me]
            .wait_while(g, |w| w.abort.is_none() && w.turn != me)
            .expect("lock");
        let abort = g.abort;
        self.world = Some(g);
        abort.map_or(Ok(()), Err)
    }

    fn eval(&mut self, inv: &mut Inv, e: &Expr) -> u64 {
        let p = self.p;
        let ty = |e: &Expr| type_of(p, e).expect("typed");
        match e {
            Expr::Lit(l) => widen(l.ty(), bits(*l)),
            Expr::Subgroup(SubgroupOp::InvocationId, _) => {
                let (me, s) = (self.me, self.w().subgroup_size);
                (me % s) as u64
            }
            Expr::Subgroup(SubgroupOp::Size, _) => self.w().subgroup_size as u64,
            Expr::Subgroup(op, args) => {
                let t = ty(&args[0]);
                let v = self.eval(inv, &args[0]);
                let lane = args.get(1).map_or(0, |a| self.eval(inv, a));
                let me = self.me;
                // Narrow values take part widened (no collective takes a
                // value of more than 32 bits).
                self.w().requests[me] = Some((*op, t.register_type(), v as u32, lane as u32));
                // Wait like at a barrier; the last to arrive combines.
                if let Err(why) = self.barrier() {
                    self.failed.get_or_insert(why);
                    return 0;
                }
                let r = u64::from(self.w().results[me]);
                if ty(e) == t { round(t, r) } else { r }
            }
            Expr::Local(id) => inv.locals[*id as usize],
            Expr::Param(id) => self.w().scalars[*id as usize],
            Expr::Builtin(b, a) => {
                let k = match b {
                    Builtin::GlobalId => 0,
                    Builtin::LocalId => 1,
                    Builtin::WorkgroupId => 2,
                    Builtin::NumWorkgroups => 3,
                };
                u64::from(inv.ids[k][a.index()])
            }
            Expr::Len(id) => self.mem(inv, BufRef::Param(*id)).len() as u64,
            Expr::Load { buf, index } => {
                let i = self.eval(inv, index) as usize;
                let elem = p.elem_type(*buf).expect("memory");
                let w = self.mem(inv, *buf).get(i).copied().unwrap_or(0);
                widen(elem, w)
            }
            // A narrow type's operations: computed in the register type,
            // then rounded or wrapped back (the language's rule, applied to
            // every operation, exact ones included).
            Expr::Unary(op, a) => {
                let t = ty(a);
                let x = self.eval(inv, a);
                round(t, unary(*op, t.register_type(), x))
            }
            Expr::Binary(op, a, b) => {
                let t = ty(a);
                let x = self.eval(inv, a);
                let mut y = self.eval(inv, b);
                if matches!(op, BinOp::Shl | BinOp::Shr) && t.is_narrow() {
                    y &= u64::from(t.bits() - 1);
                }
                let r = binary(*op, t.register_type(), x, y);
                if ty(e) == t { round(t, r) } else { r }
            }
            Expr::Cast(to, a) => {
                let from = ty(a);
                let x = self.eval(inv, a);
                cast(from, *to, x)
            }
            Expr::Math(m, args) => {
                let t = ty(&args[0]);
                let v: Vec<u64> = args.iter().map(|a| self.eval(inv, a)).collect();
                round(t, math(*m, t.register_type(), &v))
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.eval(inv, cond);
                let a = self.eval(inv, then);
                let b = self.eval(inv, otherwise);
                if c != 0 { a } else { b }
            }
        }
    }

    /// An atomic statement; returns the old value.
    fn atomic(
        &mut self,
        inv: &mut Inv,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
    ) -> u64 {
        // Atomics act on `u32` and `i32` elements, and `atomic_add` on
        // `f32` buffer elements too.
        let signed = self.p.elem_type(buf) == Some(DataType::I32);
        let float = self.p.elem_type(buf) == Some(DataType::F32);
        let i = self.eval(inv, index) as usize;
        let x = expected.map(|x| self.eval(inv, x) as u32);
        let v = self.eval(inv, value) as u32;
        let m = self.mem(inv, buf);
        let Some(old) = m.get(i).map(|&w| w as u32) else {
            return 0;
        };
        let new = match op {
            AtomicOp::Add if float => (f32::from_bits(old) + f32::from_bits(v)).to_bits(),
            AtomicOp::Add => old.wrapping_add(v),
            AtomicOp::Sub => old.wrapping_sub(v),
            AtomicOp::Min if signed => (old as i32).min(v as i32) as u32,
            AtomicOp::Min => old.min(v),
            AtomicOp::Max if signed => (old as i32).max(v as i32) as u32,
            AtomicOp::Max => old.max(v),
            AtomicOp::And => old & v,
            AtomicOp::Or => old | v,
            AtomicOp::Xor => old ^ v,
            AtomicOp::Exchange => v,
            AtomicOp::CompareExchange => {
                if Some(old) == x {
                    v
                } else {
                    old
                }
            }
        };
        m[i] = u64::from(new);
        u64::from(old)
    }

    fn block(&mut self, inv: &mut Inv, body: &[Node]) -> Result<Flow, &'static str> {
        for n in body {
            self.tick()?;
            if let Some(why) = self.failed {
                return Err(why);
            }
            match n {
                Node::Let { local, value } | Node::Assign { local, value } => {
                    let v = self.eval(inv, value);
                    inv.locals[*local as usize] = v;
                }
                Node::Store { buf, index, value } => {
                    let i = self.eval(inv, index) as usize;
                    let v = self.eval(inv, value);
                    let elem = self.p.elem_type(*buf).expect("memory");
                    if let Some(w) = self.mem(inv, *buf).get_mut(i) {
                        *w = element_bits(elem, v);
                    }
                }
                Node::Atomic {
                    op,
                    buf,
                    index,
                    expected,
                    value,
                    result,
                } => {
                    let old = self.atomic(inv, *op, *buf, index, expected.as_ref(), value);
                    if let Some(local) = result.local() {
                        inv.locals[local as usize] = old;
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = self.eval(inv, cond);
                    let flow = self.block(inv, if c != 0 { then } else { otherwise })?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::While { cond, body } => loop {
                    self.tick()?;
                    if self.eval(inv, cond) == 0 {
                        break;
                    }
                    match self.block(inv, body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Normal | Flow::Continue => {}
                    }
                },
                Node::For {
                    var,
                    start,
                    end,
                    step,
                    body,
                    unroll: _,
                } => {
                    let signed = self.p.locals[*var as usize].ty == DataType::I32;
                    // (Loop variables are `u32` or `i32`.)
                    let mut i = self.eval(inv, start) as u32;
                    let e = self.eval(inv, end) as u32;
                    let lt = |a: u32, b: u32| {
                        if signed {
                            (a as i32) < (b as i32)
                        } else {
                            a < b
                        }
                    };
                    while lt(i, e) {
                        self.tick()?;
                        inv.locals[*var as usize] = u64::from(i);
                        match self.block(inv, body)? {
                            Flow::Break => break,
                            Flow::Return => return Ok(Flow::Return),
                            Flow::Normal | Flow::Continue => {}
                        }
                        // The next value, unless it would overflow the
                        // variable's type: then the loop is over.
                        let next = if signed {
                            i32::try_from(*step)
                                .ok()
                                .and_then(|s| (i as i32).checked_add(s))
                                .map(|n| n as u32)
                        } else {
                            i.checked_add(*step)
                        };
                        match next {
                            Some(n) => i = n,
                            None => break,
                        }
                    }
                }
                Node::Loop { body } => loop {
                    self.tick()?;
                    match self.block(inv, body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Normal | Flow::Continue => {}
                    }
                },
                // In line; out of range inside is an error of the bytecode
                // interpreter, which in-range programs never reach.
                Node::Unsafe { body } => match self.block(inv, body)? {
                    Flow::Normal => {}
                    jump => return Ok(jump),
                },
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Return => return Ok(Flow::Return),
                Node::Barrier => self.barrier()?,
                // The generators make none; the bytecode interpreter lets
                // warpgroups run apart between them, an order this
                // evaluator does not model.
                Node::WarpgroupBarrier => return Err("a warpgroup barrier"),
                Node::Matrix(MatrixOp::WarpgroupWait { .. }) => {}
                Node::Matrix(op) => {
                    let ops = match op {
                        MatrixOp::Fill { value, .. } => vec![self.eval(inv, value)],
                        MatrixOp::Load {
                            offset,
                            stride,
                            clip,
                            ..
                        }
                        | MatrixOp::Store {
                            offset,
                            stride,
                            clip,
                            ..
                        } => {
                            let (o, st) = (self.eval(inv, offset), self.eval(inv, stride));
                            // No clip: every row and column exists.
                            let unclipped = u64::from(u32::MAX);
                            let (r, c) = clip.as_ref().map_or((unclipped, unclipped), |c| {
                                (self.eval(inv, &c.rows), self.eval(inv, &c.cols))
                            });
                            vec![o, st, r, c]
                        }
                        MatrixOp::MultiplyAdd { .. } | MatrixOp::WarpgroupWait { .. } => vec![],
                        MatrixOp::Map { .. } => {
                            let mut v: Vec<u64> = inv.ids[2]
                                .iter()
                                .chain(&inv.ids[3])
                                .map(|&x| u64::from(x))
                                .collect();
                            v.extend(map_locals(op).iter().map(|&l| inv.locals[l as usize]));
                            v
                        }
                        MatrixOp::RowReduce { offset, .. } => vec![self.eval(inv, offset)],
                        MatrixOp::WarpgroupMultiplyAdd { a, b, .. } => {
                            let (ao, ast) = match a {
                                vyre::ir::WarpgroupOperand::Shared(a) => {
                                    (self.eval(inv, &a.offset), self.eval(inv, &a.stride))
                                }
                                vyre::ir::WarpgroupOperand::Accumulator(_) => (0, 0),
                            };
                            vec![
                                ao,
                                ast,
                                self.eval(inv, &b.offset),
                                self.eval(inv, &b.stride),
                            ]
                        }
                    };
                    let me = self.me;
                    let id = std::ptr::from_ref(op) as usize;
                    self.w().matrix_requests[me] = Some((id, op.clone(), ops));
                    self.barrier()?;
                }
                Node::Async(AsyncOp::Copy {
                    dst,
                    dst_index,
                    src,
                    src_index,
                    count,
                }) => {
                    let d0 = self.eval(inv, dst_index);
                    let s0 = self.eval(inv, src_index);
                    for i in 0..u64::from(*count) {
                        let v = usize::try_from(s0 + i)
                            .ok()
                            .and_then(|at| self.mem(inv, BufRef::Param(*src)).get(at).copied())
                            .unwrap_or(0);
                        if let Some(w) = usize::try_from(d0 + i)
                            .ok()
                            .and_then(|at| self.mem(inv, BufRef::Shared(*dst)).get_mut(at))
                        {
                            *w = v;
                        }
                    }
                }
                // Every invocation copies the whole box (the statement is
                // collective with equal operands, so the copies agree).
                Node::Async(AsyncOp::Tile {
                    dst,
                    dst_index,
                    src,
                    rows,
                    cols,
                    row,
                    col,
                    box_rows,
                    box_cols,
                }) => {
                    let (d0, r0, c0) = (
                        self.eval(inv, dst_index),
                        self.eval(inv, row),
                        self.eval(inv, col),
                    );
                    let len = self.eval(inv, &Expr::Len(*src));
                    let mut dim = |d: vyre::ir::TileDim, ncols: u64| match d {
                        vyre::ir::TileDim::Param(p) => self.eval(inv, &Expr::Param(p)),
                        vyre::ir::TileDim::Const(v) => u64::from(v),
                        vyre::ir::TileDim::Fill => len.checked_div(ncols).unwrap_or(0),
                    };
                    let ncols = dim(*cols, 0);
                    let nrows = dim(*rows, ncols).min(len.checked_div(ncols).unwrap_or(0));
                    let vyre::ir::SharedLayout::Swizzled { cols: tile_cols } =
                        self.p.shared[*dst as usize].layout
                    else {
                        return Err("a tile copy into a linear array");
                    };
                    for r in 0..u64::from(*box_rows) {
                        for c in 0..u64::from(*box_cols) {
                            let (sr, sc) = (r0 + r, c0 + c);
                            let v = if sr < nrows && sc < ncols {
                                usize::try_from(sr * ncols + sc)
                                    .ok()
                                    .and_then(|at| {
                                        self.mem(inv, BufRef::Param(*src)).get(at).copied()
                                    })
                                    .unwrap_or(0)
                            } else {
                                0
                            };
                            let at = d0 + r * u64::from(tile_cols) + c;
                            if let Some(w) = usize::try_from(at)
                                .ok()
                                .and_then(|at| self.mem(inv, BufRef::Shared(*dst)).get_mut(at))
                            {
                                *w = v;
                            }
                        }
                    }
                }
                // Copies happen at once: nothing is ever in flight.
                Node::Async(AsyncOp::Commit | AsyncOp::Wait { .. }) => {}
            }
            if let Some(why) = self.failed {
                return Err(why);
            }
        }
        Ok(Flow::Normal)
    }
}

/// A narrow element's bits (zero-extended) as the value of its register
/// type: `f16` as the equal `f32` (through `half`), `bf16` as the upper half
/// of an `f32`, `i8`/`i16` sign-extended (to 32 bits), `u8`/`u16`
/// zero-extended. Other types' bits are their values (a 32-bit value
/// zero-extended to 64 bits, a 64-bit value whole).
fn widen(t: DataType, bits: u64) -> u64 {
    let b = bits as u32;
    u64::from(match t {
        DataType::F16 => vyre::half::f16::from_bits(b as u16).to_f32().to_bits(),
        DataType::BF16 => b << 16,
        DataType::I8 => i32::from(b as u8 as i8) as u32,
        DataType::I16 => i32::from(b as u16 as i16) as u32,
        _ => return bits,
    })
}

/// The element bits of `x`, a value of `t`'s register type that `t`
/// represents (floats rounded to nearest even through `half`, integers
/// keep their low bits).
fn element_bits(t: DataType, x: u64) -> u64 {
    match t {
        DataType::F16 => u64::from(vyre::half::f16::from_f32(f(x)).to_bits()),
        DataType::BF16 => u64::from(vyre::half::bf16::from_f32(f(x)).to_bits()),
        DataType::U8 | DataType::I8 => x & 0xff,
        DataType::U16 | DataType::I16 => x & 0xffff,
        _ => x,
    }
}

/// `x` (of `t`'s register type) rounded or wrapped to `t`, as a register
/// value again; the identity for the 32- and 64-bit types.
fn round(t: DataType, x: u64) -> u64 {
    widen(t, element_bits(t, x))
}

/// `x as to`, `x` a (register) value of `from`: Rust's `as` (integers
/// wrap or extend, integers to floats and `f64` to `f32` round to nearest
/// even, floats to integers saturate with NaN to 0), with the narrow
/// types' rule: to `f16`/`bf16` through `f32`, a narrow integer result
/// held in its register type.
fn cast(from: DataType, to: DataType, x: u64) -> u64 {
    use DataType::{BF16, Bool, F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64};
    let from = from.register_type();
    if from == to {
        return x;
    }
    if matches!(to, F16 | BF16) {
        return round(to, cast(from, F32, x));
    }
    macro_rules! to {
        ($v:expr) => {{
            let v = $v;
            match to {
                U32 => u64::from(v as u32),
                I32 => u64::from((v as i32).cast_unsigned()),
                F32 => u64::from((v as f32).to_bits()),
                U64 => v as u64,
                I64 => (v as i64).cast_unsigned(),
                F64 => (v as f64).to_bits(),
                U8 => u64::from(v as u8),
                I8 => u64::from(i32::from(v as i8).cast_unsigned()),
                U16 => u64::from(v as u16),
                I16 => u64::from(i32::from(v as i16).cast_unsigned()),
                Bool | F16 | BF16 => unreachable!("handled above"),
            }
        }};
    }
    match from {
        Bool | U32 => to!(x as u32),
        I32 => to!((x as u32).cast_signed()),
        F32 => to!(f(x)),
        U64 => to!(x),
        I64 => to!(x.cast_signed()),
        F64 => to!(d(x)),
        t => unreachable!("`{t}` is no register type"),
    }
}

/// `op x` on a value of register type `t`.
fn unary(op: UnOp, t: DataType, x: u64) -> u64 {
    match (op, t) {
        (UnOp::Neg, DataType::F32) => u64::from((-f(x)).to_bits()),
        (UnOp::Neg, DataType::F64) => (-d(x)).to_bits(),
        (UnOp::Neg, DataType::I64) => x.cast_signed().wrapping_neg().cast_unsigned(),
        (UnOp::Neg, _) => u64::from((x as i32).wrapping_neg() as u32),
        (UnOp::Not, DataType::Bool) => u64::from(x == 0),
        (UnOp::Not, DataType::U64 | DataType::I64) => !x,
        (UnOp::Not, _) => u64::from(!(x as u32)),
    }
}

/// `x op y`, `x` of register type `t` (`y` too, but for a shift amount,
/// which may have any integer type).
fn binary(op: BinOp, t: DataType, x: u64, y: u64) -> u64 {
    match t {
        DataType::U64 | DataType::I64 => binary64(op, t == DataType::I64, x, y),
        DataType::F64 => binary_f64(op, d(x), d(y)),
        _ => u64::from(binary32(op, t, x as u32, y as u32)),
    }
}

/// [`binary`] on `u64` or (`signed`) `i64` values: wrapping, `x / 0 ==
/// x % 0 == 0`, `MIN / -1 == MIN`, `MIN % -1 == 0`, shift amounts `& 63`.
fn binary64(op: BinOp, signed: bool, x: u64, y: u64) -> u64 {
    let (xi, yi) = (x.cast_signed(), y.cast_signed());
    let b = u64::from;
    match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div | BinOp::Rem if y == 0 => 0,
        BinOp::Div if signed => xi.wrapping_div(yi).cast_unsigned(),
        BinOp::Rem if signed => xi.wrapping_rem(yi).cast_unsigned(),
        BinOp::Div => x / y,
        BinOp::Rem => x % y,
        BinOp::BitAnd | BinOp::And => x & y,
        BinOp::BitOr | BinOp::Or => x | y,
        BinOp::BitXor => x ^ y,
        BinOp::Shl => x << (y & 63),
        BinOp::Shr if signed => (xi >> (y & 63)).cast_unsigned(),
        BinOp::Shr => x >> (y & 63),
        BinOp::Eq => b(x == y),
        BinOp::Ne => b(x != y),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let o = if signed { xi.cmp(&yi) } else { x.cmp(&y) };
            b(match op {
                BinOp::Lt => o.is_lt(),
                BinOp::Le => o.is_le(),
                BinOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

/// [`binary`] on `f64` values (IEEE; comparisons with a NaN are false but
/// `!=`).
fn binary_f64(op: BinOp, x: f64, y: f64) -> u64 {
    let b = u64::from;
    match op {
        BinOp::Add => (x + y).to_bits(),
        BinOp::Sub => (x - y).to_bits(),
        BinOp::Mul => (x * y).to_bits(),
        BinOp::Div => (x / y).to_bits(),
        BinOp::Eq => b(x == y),
        BinOp::Ne => b(x != y),
        BinOp::Lt => b(x < y),
        BinOp::Le => b(x <= y),
        BinOp::Gt => b(x > y),
        BinOp::Ge => b(x >= y),
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr => {
            unreachable!("validation: no bitwise operation on `f64`")
        }
        BinOp::And | BinOp::Or => unreachable!("validation: `&&` and `||` take `bool`"),
        BinOp::Rem => unreachable!("validation: no `%` on `f64`"),
    }
}

fn binary32(op: BinOp, t: DataType, x: u32, y: u32) -> u32 {
    use DataType::{F32, I32};
    let b = u32::from;
    let (xi, yi) = (x as i32, y as i32);
    match op {
        BinOp::Add if t == F32 => (f(x) + f(y)).to_bits(),
        BinOp::Sub if t == F32 => (f(x) - f(y)).to_bits(),
        BinOp::Mul if t == F32 => (f(x) * f(y)).to_bits(),
        BinOp::Div if t == F32 => (f(x) / f(y)).to_bits(),
        BinOp::Rem if t == F32 => (f(x) % f(y)).to_bits(),
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div if y == 0 => 0,
        BinOp::Rem if y == 0 => 0,
        BinOp::Div if t == I32 => xi.wrapping_div(yi) as u32,
        BinOp::Rem if t == I32 => xi.wrapping_rem(yi) as u32,
        BinOp::Div => x / y,
        BinOp::Rem => x % y,
        BinOp::BitAnd | BinOp::And => x & y,
        BinOp::BitOr | BinOp::Or => x | y,
        BinOp::BitXor => x ^ y,
        BinOp::Shl => x << (y & 31),
        BinOp::Shr if t == I32 => (xi >> (y & 31)) as u32,
        BinOp::Shr => x >> (y & 31),
        BinOp::Eq if t == F32 => b(f(x) == f(y)),
        BinOp::Ne if t == F32 => b(f(x) != f(y)),
        BinOp::Eq => b(x == y),
        BinOp::Ne => b(x != y),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ord = match t {
                F32 => f(x).partial_cmp(&f(y)),
                I32 => Some(xi.cmp(&yi)),
                _ => Some(x.cmp(&y)),
            };
            let Some(o) = ord else { return 0 };
            b(match op {
                BinOp::Lt => o.is_lt(),
                BinOp::Le => o.is_le(),
                BinOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

/// Math function `m` on values of register type `t`.
fn math(m: MathFn, t: DataType, v: &[u64]) -> u64 {
    match t {
        DataType::F64 => math_f64(m, &v.iter().map(|&x| d(x)).collect::<Vec<_>>()).to_bits(),
        DataType::U64 | DataType::I64 => math64(m, t == DataType::I64, v),
        _ => {
            let v: Vec<u32> = v.iter().map(|&x| x as u32).collect();
            u64::from(math32(m, t, &v))
        }
    }
}

/// [`math`] on `f64` (the functions validation allows on it).
fn math_f64(m: MathFn, v: &[f64]) -> f64 {
    match m {
        MathFn::Sqrt => v[0].sqrt(),
        MathFn::Floor => v[0].floor(),
        MathFn::Ceil => v[0].ceil(),
        MathFn::Abs => v[0].abs(),
        MathFn::MulAdd => v[0].mul_add(v[1], v[2]),
        MathFn::Min => v[0].min(v[1]),
        MathFn::Max => v[0].max(v[1]),
        MathFn::Clamp => v[0].max(v[1]).min(v[2]),
        MathFn::Exp
        | MathFn::Exp2
        | MathFn::Ln
        | MathFn::Sin
        | MathFn::Cos
        | MathFn::Tanh
        | MathFn::Powf => {
            unreachable!("validation: no `{m:?}` on `f64`")
        }
    }
}

/// [`math`] on `u64` or (`signed`) `i64`.
fn math64(m: MathFn, signed: bool, v: &[u64]) -> u64 {
    let i = |k: usize| v[k].cast_signed();
    match (m, signed) {
        (MathFn::Abs, true) => i(0).wrapping_abs().cast_unsigned(),
        (MathFn::Min, true) => i(0).min(i(1)).cast_unsigned(),
        (MathFn::Max, true) => i(0).max(i(1)).cast_unsigned(),
        (MathFn::Clamp, true) => i(0).max(i(1)).min(i(2)).cast_unsigned(),
        (MathFn::Min, false) => v[0].min(v[1]),
        (MathFn::Max, false) => v[0].max(v[1]),
        (MathFn::Clamp, false) => v[0].max(v[1]).min(v[2]),
        _ => unreachable!("validation: no `{m:?}` on a 64-bit integer"),
    }
}

fn math32(m: MathFn, t: DataType, v: &[u32]) -> u32 {
    use DataType::{F32, I32};
    let fl = |g: fn(f32) -> f32| g(f(v[0])).to_bits();
    match (m, t) {
        (MathFn::Sqrt, _) => fl(f32::sqrt),
        (MathFn::Exp, _) => fl(f32::exp),
        (MathFn::Exp2, _) => fl(f32::exp2),
        (MathFn::Ln, _) => fl(f32::ln),
        (MathFn::Sin, _) => fl(f32::sin),
        (MathFn::Cos, _) => fl(f32::cos),
        (MathFn::Tanh, _) => fl(f32::tanh),
        (MathFn::Floor, _) => fl(f32::floor),
        (MathFn::Ceil, _) => fl(f32::ceil),
        (MathFn::Abs, F32) => fl(f32::abs),
        (MathFn::Abs, _) => (v[0] as i32).wrapping_abs() as u32,
        (MathFn::Powf, _) => f(v[0]).powf(f(v[1])).to_bits(),
        (MathFn::MulAdd, _) => f(v[0]).mul_add(f(v[1]), f(v[2])).to_bits(),
        (MathFn::Min, F32) => f(v[0]).min(f(v[1])).to_bits(),
        (MathFn::Max, F32) => f(v[0]).max(f(v[1])).to_bits(),
        (MathFn::Min, I32) => (v[0] as i32).min(v[1] as i32) as u32,
        (MathFn::Max, I32) => (v[0] as i32).max(v[1] as i32) as u32,
        (MathFn::Min, _) => v[0].min(v[1]),
        (MathFn::Max, _) => v[0].max(v[1]),
        (MathFn::Clamp, F32) => f(v[0]).max(f(v[1])).min(f(v[2])).to_bits(),
        (MathFn::Clamp, I32) => (v[0] as i32).max(v[1] as i32).min(v[2] as i32) as u32,
        (MathFn::Clamp, _) => v[0].max(v[1]).min(v[2]),
    }
}

/// Wake whoever may run now: the baton holder, or everyone on abort.
fn wake(cvs: &[Condvar], w: &World) {
    if w.abort.is_some() {
        cvs.iter().for_each(Condvar::notify_all);
    } else if let Some(cv) = cvs.get(w.turn) {
        cv.notify_all();
    }
}

/// What the walker concluded.
enum Walked {
    /// Every buffer's final elements (`Value::Buffer`'s convention).
    Done(Vec<Vec<u64>>),
    Divergence,
    /// The lanes of a subgroup disagreed at a matrix statement.
    MatrixOperandsDiffer,
    /// The invocations of a warpgroup disagreed at a statement on
    /// warpgroup matrices.
    WarpgroupOperandsDiffer,
    Skipped(&'static str),
}

/// Run like the reference: workgroups in order; within one, invocations in
/// order, each until it finishes or reaches a barrier (one OS thread per
/// invocation, but only the holder of the baton runs).
fn walk(p: &Program, inputs: &[Value], grid: [u32; 3], subgroup_size: u32) -> Walked {
    let mut world = World {
        bufs: Vec::new(),
        slot: Vec::new(),
        scalars: Vec::new(),
        shared: Vec::new(),
        turn: 0,
        state: Vec::new(),
        abort: None,
        fuel: 5_000_000,
        subgroup_size: subgroup_size as usize,
        requests: Vec::new(),
        results: Vec::new(),
        matrix_requests: Vec::new(),
        mats: Vec::new(),
        wmats: Vec::new(),
        mat_warpgroup: p
            .matrices
            .iter()
            .map(|m| m.scope == vyre::ir::MatrixScope::Warpgroup)
            .collect(),
        mat_k: p.matrices.iter().map(|m| m.shape.k as usize).collect(),
        mat_dims: p
            .matrices
            .iter()
            .map(|m| {
                let (r, c) = m.dims();
                (r as usize, c as usize)
            })
            .collect(),
        param_elems: p
            .params
            .iter()
            .map(|prm| match prm {
                Param::Buffer(b) => b.elem,
                Param::Scalar { .. } => DataType::U32,
            })
            .collect(),
        shared_elems: p.shared.iter().map(|a| a.elem).collect(),
        program: p.clone(),
    };
    for v in inputs {
        match v {
            Value::Buffer { data, .. } => {
                world.slot.push(Some(world.bufs.len()));
                world.bufs.push(data.clone());
                world.scalars.push(0);
            }
            Value::Scalar(l) => {
                world.slot.push(None);
                world.scalars.push(widen(l.ty(), bits(*l)));
            }
        }
    }
    // Collectives and matrix statements wait like barriers.
    let has_barrier =
        p.uses_subgroups() || p.uses_matrices() || p.any_node(&mut |n| matches!(n, Node::Barrier));
    let ws = p.workgroup_size;
    let n = ws.iter().product::<u32>() as usize;
    let world = Mutex::new(world);
    let cvs: Vec<Condvar> = (0..n).map(|_| Condvar::new()).collect();
    for wz in 0..grid[2] {
        for wy in 0..grid[1] {
            for wx in 0..grid[0] {
                let wid = [wx, wy, wz];
                {
                    let mut w = world.lock().expect("lock");
                    w.shared = p.shared.iter().map(|s| vec![0; s.len as usize]).collect();
                    w.state = vec![0; n];
                    w.requests = vec![None; n];
                    w.results = vec![0; n];
                    w.matrix_requests = vec![None; n];
                    // Every subgroup's matrices start at zero.
                    let tiles: Vec<Vec<f32>> =
                        w.mat_dims.iter().map(|&(r, c)| vec![0.0; r * c]).collect();
                    w.mats = vec![tiles.clone(); n.div_ceil(w.subgroup_size)];
                    w.wmats = vec![tiles; n.div_ceil(128)];
                    w.turn = 0;
                }
                let inv = |k: usize| {
                    let k = k as u32;
                    let lid = [k % ws[0], (k / ws[0]) % ws[1], k / (ws[0] * ws[1])];
                    let gid = std::array::from_fn(|a| wid[a] * ws[a] + lid[a]);
                    Inv {
                        locals: vec![0; p.locals.len()],
                        private: p.private.iter().map(|a| vec![0; a.len as usize]).collect(),
                        ids: [gid, lid, wid, grid],
                    }
                };
                let run_one = |me: usize| {
                    let g = cvs[me]
                        .wait_while(world.lock().expect("lock"), |w| {
                            w.abort.is_none() && w.turn != me
                        })
                        .expect("lock");
                    if g.abort.is_some() {
                        return;
                    }
                    let mut walker = Walker {
                        p,
                        world: Some(g),
                        cvs: &cvs,
                        me,
                        failed: None,
                    };
                    let mut state = inv(me);
                    let result = walker.block(&mut state, &p.body);
                    let mut g = walker.world.take().expect("holding the world");
                    match result {
                        Ok(_) => {
                            g.state[me] = 2;
                            g.pass(me);
                        }
                        Err(why) => {
                            if g.abort.is_none() {
                                g.abort = Some(why);
                            }
                        }
                    }
                    wake(&cvs, &g);
                    drop(g);
                };
                if has_barrier {
                    std::thread::scope(|scope| {
                        for me in 0..n {
                            scope.spawn(move || run_one(me));
                        }
                    });
                } else {
                    (0..n).for_each(run_one);
                }
                let w = world.lock().expect("lock");
                match w.abort {
                    Some("divergence") => return Walked::Divergence,
                    Some("matrix operands differ") => return Walked::MatrixOperandsDiffer,
                    Some("warpgroup operands differ") => return Walked::WarpgroupOperandsDiffer,
                    Some(why) => return Walked::Skipped(why),
                    None => {}
                }
            }
        }
    }
    Walked::Done(world.into_inner().expect("lock").bufs)
}

/// The bytecode interpreter's final buffers, one value per element (its
/// memory holds a 64-bit element as two words: converted back here).
fn bytecode(
    p: &Program,
    inputs: &[Value],
    grid: [u32; 3],
    subgroup_size: u32,
) -> Result<Vec<Vec<u64>>, RunError> {
    let elems: Vec<DataType> = inputs
        .iter()
        .filter_map(|v| match v {
            Value::Buffer { elem, .. } => Some(*elem),
            Value::Scalar(_) => None,
        })
        .collect();
    let mut bufs: Vec<Vec<u32>> = inputs
        .iter()
        .filter_map(|v| match v {
            Value::Buffer { elem, data } => Some(to_words(*elem, data)),
            Value::Scalar(_) => None,
        })
        .collect();
    {
        let mut it = bufs.iter_mut();
        let mut args: Vec<RefArg<'_>> = inputs
            .iter()
            .map(|v| match v {
                Value::Buffer { .. } => RefArg::Buffer(it.next().expect("buffer")),
                Value::Scalar(l) => RefArg::Scalar(*l),
            })
            .collect();
        let opts = RunOptions {
            max_steps_per_invocation: Some(50_000_000),
            threads: Some(1),
            subgroup_size,
        };
        run_with(p, grid, &mut args, &opts)?;
    }
    Ok(bufs
        .iter()
        .zip(elems)
        .map(|(words, elem)| from_words(elem, words))
        .collect())
}

/// splitmix64: a tiny deterministic source for [`PrivGen`].
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }

    /// True with probability `k / n`.
    fn chance(&mut self, k: u32, n: u32) -> bool {
        self.below(n) < k
    }
}

/// Random programs centred on what `vyre-testkit`'s generator does not
/// produce: thread-private arrays (of every element type, indexed in range,
/// out of range, by `i32` loop variables and by wild values) and `for`
/// loops with steps 1 to 4, sometimes `#[unroll]`ed and sometimes ending
/// just below `u32::MAX` / `i32::MAX`, where `var + step` overflows. Each
/// invocation finally dumps its private arrays and locals to `y`, so every
/// private word is compared.
struct PrivGen {
    rng: Rng,
    p: Program,
    x: u32,
    y: u32,
    /// Mutable `u32` locals, defined at the top of the body.
    locals: Vec<u32>,
    /// Loop variables in scope.
    vars: Vec<(u32, DataType)>,
    /// Words of `y` per invocation.
    stride: u32,
    budget: u32,
}

impl PrivGen {
    fn case(seed: u64, barrier: bool) -> (Program, Vec<Value>, [u32; 3]) {
        let mut rng = Rng(seed);
        let wg = 1 + rng.below(4);
        let grid = [1 + rng.below(2), 1, 1];
        let mut p = Program::new(format!("private_{seed}"), [wg, 1, 1]);
        p.params.push(Param::Buffer(vyre::ir::BufferDecl {
            name: "x".into(),
            elem: DataType::U32,
            access: vyre::ir::Access::Read,
        }));
        p.params.push(Param::Buffer(vyre::ir::BufferDecl {
            name: "y".into(),
            elem: DataType::U32,
            access: vyre::ir::Access::ReadWrite,
        }));
        for k in 0..1 + rng.below(3) {
            let elem = [DataType::U32, DataType::I32, DataType::F32][rng.below(3) as usize];
            p.private.push(vyre::ir::PrivateDecl {
                name: format!("a{k}"),
                elem,
                len: 1 + rng.below(8),
            });
        }
        let nlocals = 1 + rng.below(3);
        let locals = (0..nlocals)
            .map(|k| {
                p.locals.push(vyre::ir::LocalDecl {
                    name: format!("l{k}"),
                    ty: DataType::U32,
                    mutable: true,
                });
                (p.locals.len() - 1) as u32
            })
            .collect();
        let stride = p.private.iter().map(|a| a.len).sum::<u32>() + nlocals;
        let mut g = PrivGen {
            rng,
            p,
            x: 0,
            y: 1,
            locals,
            vars: Vec::new(),
            stride,
            budget: 30,
        };
        let mut body: Vec<Node> = g
            .locals
            .clone()
            .into_iter()
            .map(|l| Node::Let {
                local: l,
                value: Expr::u32(l * 7 + 1),
            })
            .collect();
        body.extend(g.block(0, false));
        if barrier {
            body.push(Node::Barrier);
            body.extend(g.block(0, false));
        }
        body.extend(g.dump());
        g.p.body = body;
        let xs = (0..1 + g.rng.below(16))
            .map(|_| g.rng.next() % 64)
            .collect();
        let total = wg * grid[0];
        let inputs = vec![
            Value::Buffer {
                elem: DataType::U32,
                data: xs,
            },
            Value::Buffer {
                elem: DataType::U32,
                data: vec![0; (total * g.stride) as usize],
            },
        ];
        (g.p, inputs, grid)
    }

    /// `y[global_id().x * stride + slot] = value`.
    fn out(&self, slot: Expr, value: Expr) -> Node {
        Node::Store {
            buf: BufRef::Param(self.y),
            index: Expr::global_id_x().mul(Expr::u32(self.stride)).add(slot),
            value,
        }
    }

    /// Every private word and local, to the invocation's slots of `y`.
    fn dump(&self) -> Vec<Node> {
        let mut out = Vec::new();
        let mut slot = 0;
        for (id, a) in self.p.private.iter().enumerate() {
            for k in 0..a.len {
                let v = Expr::load(BufRef::Private(id as u32), Expr::u32(k));
                out.push(self.out(Expr::u32(slot), as_u32(v, a.elem)));
                slot += 1;
            }
        }
        for &l in &self.locals {
            out.push(self.out(Expr::u32(slot), Expr::local(l)));
            slot += 1;
        }
        out
    }

    fn block(&mut self, depth: u32, in_loop: bool) -> Vec<Node> {
        let n = 1 + self.rng.below(4);
        let mut out = Vec::new();
        for _ in 0..n {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            out.push(self.stmt(depth, in_loop));
        }
        out
    }

    fn stmt(&mut self, depth: u32, in_loop: bool) -> Node {
        match self.rng.below(10) {
            0..=2 => {
                let id = self.rng.below(self.p.private.len() as u32);
                let elem = self.p.private[id as usize].elem;
                let index = self.index(id, 2);
                let value = from_u32(self.uexpr(2), elem);
                Node::Store {
                    buf: BufRef::Private(id),
                    index,
                    value,
                }
            }
            3 | 4 => {
                let local = self.locals[self.rng.below(self.locals.len() as u32) as usize];
                Node::Assign {
                    local,
                    value: self.uexpr(2),
                }
            }
            5 => {
                let slot = self.uexpr(1).rem(Expr::u32(self.stride + 1));
                let value = self.uexpr(2);
                self.out(slot, value)
            }
            6 | 7 if depth < 2 => self.for_loop(depth),
            8 if in_loop && self.rng.chance(1, 2) => Node::If {
                cond: self.cond(),
                then: vec![if self.rng.chance(1, 2) {
                    Node::Break
                } else {
                    Node::Continue
                }],
                otherwise: Vec::new(),
            },
            _ if depth < 3 => Node::If {
                cond: self.cond(),
                then: self.block(depth + 1, in_loop),
                otherwise: self.block(depth + 1, in_loop),
            },
            _ => Node::Assign {
                local: self.locals[0],
                value: self.uexpr(1),
            },
        }
    }

    fn for_loop(&mut self, depth: u32) -> Node {
        let signed = self.rng.chance(1, 3);
        let ty = if signed { DataType::I32 } else { DataType::U32 };
        self.p.locals.push(vyre::ir::LocalDecl {
            name: format!("v{}", self.p.locals.len()),
            ty,
            mutable: false,
        });
        let var = (self.p.locals.len() - 1) as u32;
        let step = 1 + self.rng.below(4);
        let (start, end) = match (self.rng.below(8), signed) {
            // Near the top of the type: `var + step` overflows at the end.
            (0, false) => (
                Expr::u32(u32::MAX - self.rng.below(12)),
                Expr::u32(u32::MAX - self.rng.below(3)),
            ),
            (0, true) => (
                Expr::i32(i32::MAX - self.rng.below(12) as i32),
                Expr::i32(i32::MAX - self.rng.below(3) as i32),
            ),
            // Bounds read at run time (evaluated once, before the loop).
            (1, false) => (
                self.uexpr(1).rem(Expr::u32(5)),
                Expr::u32(self.rng.below(13)),
            ),
            (1, true) => (
                self.uexpr(1)
                    .rem(Expr::u32(5))
                    .cast(DataType::I32)
                    .sub(Expr::i32(2)),
                self.uexpr(1).rem(Expr::u32(9)).cast(DataType::I32),
            ),
            (_, false) => {
                let s = self.rng.below(4);
                (Expr::u32(s), Expr::u32(s + self.rng.below(13)))
            }
            (_, true) => {
                let s = self.rng.below(7) as i32 - 3;
                (Expr::i32(s), Expr::i32(s + self.rng.below(13) as i32))
            }
        };
        self.vars.push((var, ty));
        let body = self.block(depth + 1, true);
        self.vars.pop();
        let literal = matches!((&start, &end), (Expr::Lit(_), Expr::Lit(_)));
        let mut exits = false;
        vyre::ir::walk_nodes(&body, &mut |n| {
            exits |= matches!(n, Node::Break | Node::Continue);
        });
        Node::For {
            var,
            start,
            end,
            step,
            unroll: literal && !exits && self.rng.chance(1, 3),
            body,
        }
    }

    fn cond(&mut self) -> Expr {
        let a = self.uexpr(1);
        let b = self.uexpr(1);
        match self.rng.below(3) {
            0 => a.lt(b),
            1 => a.rem(Expr::u32(3)).eq(Expr::u32(0)),
            _ => a.ge(b),
        }
    }

    /// An index into private array `id`: in range, just or far out of
    /// range, a loop variable (an `i32` one may be negative) or a value.
    fn index(&mut self, id: u32, depth: u32) -> Expr {
        let len = self.p.private[id as usize].len;
        match self.rng.below(8) {
            0 | 1 => Expr::u32(self.rng.below(len)),
            2 => Expr::u32(len + self.rng.below(3)),
            3 => Expr::u32(u32::MAX - self.rng.below(2)),
            4 | 5 if !self.vars.is_empty() => {
                let (v, _) = self.vars[self.rng.below(self.vars.len() as u32) as usize];
                Expr::local(v)
            }
            6 => self.uexpr(depth).rem(Expr::u32(len + 1)),
            _ => self.uexpr(depth),
        }
    }

    /// A `u32` expression.
    fn uexpr(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(1, 3) {
            return match self.rng.below(7) {
                0 => Expr::u32(match self.rng.below(4) {
                    0 => u32::MAX,
                    1 => 0x8000_0000,
                    _ => self.rng.below(20),
                }),
                1 | 2 => {
                    Expr::local(self.locals[self.rng.below(self.locals.len() as u32) as usize])
                }
                3 if !self.vars.is_empty() => {
                    let (v, ty) = self.vars[self.rng.below(self.vars.len() as u32) as usize];
                    as_u32(Expr::local(v), ty)
                }
                4 => Expr::global_id_x(),
                5 => self.private_load(0),
                _ => Expr::load(BufRef::Param(self.x), Expr::u32(self.rng.below(20))),
            };
        }
        let d = depth - 1;
        match self.rng.below(5) {
            0 | 1 => {
                let a = self.uexpr(d);
                let b = self.uexpr(d);
                match self.rng.below(6) {
                    0 => a.add(b),
                    1 => a.sub(b),
                    2 => a.mul(b),
                    3 => a.bitxor(b),
                    4 => a.shr(b),
                    _ => a.rem(b),
                }
            }
            2 | 3 => self.private_load(d),
            _ => {
                let i = self.uexpr(d);
                Expr::load(BufRef::Param(self.x), i)
            }
        }
    }

    /// A private array's element, as `u32`.
    fn private_load(&mut self, depth: u32) -> Expr {
        let id = self.rng.below(self.p.private.len() as u32);
        let index = self.index(id, depth);
        as_u32(
            Expr::load(BufRef::Private(id), index),
            self.p.private[id as usize].elem,
        )
    }
}

fn as_u32(e: Expr, from: DataType) -> Expr {
    if from == DataType::U32 {
        e
    } else {
        e.cast(DataType::U32)
    }
}

fn from_u32(e: Expr, to: DataType) -> Expr {
    if to == DataType::U32 { e } else { e.cast(to) }
}

/// The walker and the bytecode on programs full of private arrays and
/// stepped loops (with and without barriers, so the interpreter keeps
/// several invocations' private blocks at once).
#[test]
fn private_arrays_and_stepped_loops_agree() {
    let mut compared = 0;
    let mut unrolled = 0;
    for seed in 0..400u64 {
        let (p, inputs, grid) = PrivGen::case(seed, seed % 3 == 0);
        if let Err(errors) = p.validate() {
            panic!(
                "seed {seed}: the generator built an invalid program: {errors:?}\n{}",
                vyre::lang::print(&p)
            );
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            unrolled += usize::from(matches!(n, Node::For { unroll: true, .. }));
        });
        let want = match walk(&p, &inputs, grid, 32) {
            Walked::Done(w) => w,
            Walked::Divergence => panic!("seed {seed}: barriers are uniform here"),
            Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer => {
                panic!("seed {seed}: no matrices here")
            }
            Walked::Skipped(why) => panic!("seed {seed}: walker gave up: {why}"),
        };
        let got = bytecode(&p, &inputs, grid, 32)
            .unwrap_or_else(|e| panic!("seed {seed}: bytecode failed: {e}"));
        assert_eq!(
            want,
            got,
            "seed {seed}: results differ for\n{}",
            vyre::lang::print(&p)
        );
        compared += 1;
    }
    assert_eq!(compared, 400);
    assert!(unrolled > 20, "only {unrolled} unrolled loops generated");
}

#[test]
fn bytecode_agrees_with_a_tree_walker() {
    let configs = [
        GenConfig::default(),
        GenConfig {
            shared: false,
            max_expr_depth: 5,
            ..GenConfig::default()
        },
        GenConfig {
            max_depth: 5,
            max_stmts: 8,
            max_total_stmts: 80,
            ..GenConfig::default()
        },
    ];
    let (mut checked, mut skipped, mut diverged) = (0, 0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    for (c, cfg) in configs.iter().enumerate() {
        for seed in 0..350u64 {
            let case = generate(seed * 7 + c as u64, cfg);
            let want = walk(&case.program, &case.inputs, case.grid, 32);
            let got = bytecode(&case.program, &case.inputs, case.grid, 32);
            match (want, got) {
                (Walked::Skipped(why), _) => {
                    skipped += 1;
                    *reasons.entry((c, why)).or_insert(0) += 1;
                }
                (Walked::Divergence, Err(RunError::BarrierDivergence { .. })) => diverged += 1,
                (Walked::Done(w), Ok(g)) => {
                    // Bit for bit; with narrow types NaN payloads may
                    // differ (see `agree`).
                    if has_narrow(&case.program) {
                        assert!(
                            agree(&case.program, &w, &g),
                            "seed {seed}, config {c}: results differ {:x?} for\n{}",
                            differences(&w, &g),
                            vyre::lang::print(&case.program)
                        );
                    } else {
                        assert_eq!(
                            w,
                            g,
                            "seed {seed}, config {c}: results differ for\n{}",
                            vyre::lang::print(&case.program)
                        );
                    }
                    checked += 1;
                }
                (Walked::Divergence, other) => panic!(
                    "seed {seed}, config {c}: walker saw barrier divergence, bytecode {other:?}"
                ),
                (Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer, _) => {
                    panic!("seed {seed}, config {c}: the generator makes no matrices")
                }
                (Walked::Done(_), Err(e)) => {
                    panic!("seed {seed}, config {c}: bytecode failed: {e}")
                }
            }
        }
    }
    println!("checked {checked}, divergent {diverged}, skipped {skipped}: {reasons:?}");
    assert!(
        checked + diverged >= 1000,
        "only {checked} cases compared ({skipped} skipped)"
    );
}

/// Whether `p` mentions an 8- or 16-bit type.
fn has_narrow(p: &Program) -> bool {
    p.params.iter().any(|prm| match prm {
        Param::Buffer(b) => b.elem.is_narrow(),
        Param::Scalar { ty, .. } => ty.is_narrow(),
    }) || p.locals.iter().any(|l| l.ty.is_narrow())
        || p.shared.iter().any(|a| a.elem.is_narrow())
        || p.private.iter().any(|a| a.elem.is_narrow())
        || p.any_expr(&mut |e| type_of(p, e).is_some_and(DataType::is_narrow))
}

/// Whether two final buffer contents agree: bit for bit, except that a
/// NaN equals any NaN in `f32`, `f16`, `bf16` and `f64` buffers (the
/// walker widens a `bf16` literal NaN by its bits, the widened program
/// through `Literal::widened`; the payload of a NaN is unspecified).
fn agree(p: &Program, want: &[Vec<u64>], got: &[Vec<u64>]) -> bool {
    let elems = p.params.iter().filter_map(|prm| match prm {
        Param::Buffer(b) => Some(b.elem),
        Param::Scalar { .. } => None,
    });
    want.len() == got.len()
        && want.iter().zip(got).zip(elems).all(|((w, g), elem)| {
            let nan = |x: u64| {
                if elem == DataType::F64 {
                    d(x).is_nan()
                } else {
                    x >> 32 == 0 && f(widen(elem, x)).is_nan()
                }
            };
            w.len() == g.len()
                && w.iter()
                    .zip(g)
                    .all(|(&a, &b)| a == b || (elem.is_float() && nan(a) && nan(b)))
        })
}

/// The first differing elements: (buffer, index, walker, bytecode).
fn differences(want: &[Vec<u64>], got: &[Vec<u64>]) -> Vec<(usize, usize, u64, u64)> {
    let mut out = Vec::new();
    for (b, (w, g)) in want.iter().zip(got).enumerate() {
        for (i, (&x, &y)) in w.iter().zip(g).enumerate() {
            if x != y && out.len() < 8 {
                out.push((b, i, x, y));
            }
        }
    }
    out
}

/// The narrow types: the tree walker applies the language's rule to every
/// operation directly (compute in the register type, round or wrap back),
/// the bytecode runs `mid::widen`'s program.
#[test]
fn narrow_bytecode_agrees_with_a_tree_walker() {
    let cfg = GenConfig {
        narrow: true,
        ..GenConfig::default()
    };
    let (mut checked, mut skipped, mut diverged) = (0, 0, 0);
    for seed in 0..500u64 {
        let case = generate(seed, &cfg);
        let want = walk(&case.program, &case.inputs, case.grid, 32);
        let got = bytecode(&case.program, &case.inputs, case.grid, 32);
        match (want, got) {
            (Walked::Skipped(_), _) => skipped += 1,
            (Walked::Divergence, Err(RunError::BarrierDivergence { .. })) => diverged += 1,
            (Walked::Done(w), Ok(g)) => {
                assert!(
                    agree(&case.program, &w, &g),
                    "seed {seed}: results differ (buffer, element, walker, bytecode): {:x?}\nfor\n{}",
                    differences(&w, &g),
                    vyre::lang::print(&case.program)
                );
                checked += 1;
            }
            (Walked::Divergence, other) => {
                panic!("seed {seed}: walker saw barrier divergence, bytecode {other:?}")
            }
            (Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer, _) => {
                panic!("seed {seed}: the generator makes no matrices")
            }
            (Walked::Done(_), Err(e)) => panic!("seed {seed}: bytecode failed: {e}"),
        }
    }
    println!("checked {checked}, divergent {diverged}, skipped {skipped}");
    assert!(checked + diverged >= 450, "only {checked} cases compared");
}

/// The 64-bit types: the walker computes `u64`/`i64` with Rust's wrapping
/// 64-bit operations and `f64` with Rust's `f64` (its own conversions,
/// comparisons, division and shift rules, independent of the
/// interpreter's), on programs that all use them; bit for bit (`f64` NaNs
/// included: both sides use the host's operations), with narrow types
/// also, up to NaN payloads (see `agree`).
#[test]
fn wide_bytecode_agrees_with_a_tree_walker() {
    let cfg = GenConfig {
        wide_one_in: 1,
        ..GenConfig::default()
    };
    let seeds: u64 = std::env::var("VYRE_CROSSCHECK_WIDE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let (mut checked, mut skipped, mut diverged) = (0, 0, 0);
    for seed in 0..seeds {
        let case = generate(seed, &cfg);
        assert!(!case.program.wide_types().is_empty(), "seed {seed}");
        let want = walk(&case.program, &case.inputs, case.grid, 32);
        let got = bytecode(&case.program, &case.inputs, case.grid, 32);
        match (want, got) {
            (Walked::Skipped(_), _) => skipped += 1,
            (Walked::Divergence, Err(RunError::BarrierDivergence { .. })) => diverged += 1,
            (Walked::Done(w), Ok(g)) => {
                let same = if has_narrow(&case.program) {
                    agree(&case.program, &w, &g)
                } else {
                    w == g
                };
                assert!(
                    same,
                    "seed {seed}: results differ (buffer, element, walker, bytecode): {:x?}\nfor\n{}",
                    differences(&w, &g),
                    vyre::lang::print(&case.program)
                );
                checked += 1;
            }
            (Walked::Divergence, other) => {
                panic!("seed {seed}: walker saw barrier divergence, bytecode {other:?}")
            }
            (Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer, _) => {
                panic!("seed {seed}: the generator makes no matrices")
            }
            (Walked::Done(_), Err(e)) => panic!("seed {seed}: bytecode failed: {e}"),
        }
    }
    println!("checked {checked}, divergent {diverged}, skipped {skipped}");
    assert!(
        checked + diverged >= seeds * 9 / 10,
        "only {checked} cases compared"
    );
}

/// Parameters are where the walker expects them.
#[test]
fn walker_handles_all_param_kinds() {
    let case = generate(1, &GenConfig::default());
    assert!(
        case.program
            .params
            .iter()
            .any(|p| matches!(p, Param::Buffer(_)))
    );
    assert!(matches!(
        walk(&case.program, &case.inputs, case.grid, 32),
        Walked::Done(_) | Walked::Divergence
    ));
}

/// The barrier divergence the walker meets at run time (it does not
/// validate), the bytecode interpreter's validation refuses beforehand.
#[test]
fn both_refuse_a_barrier_in_a_loop_left_divergently() {
    let p = vyre_testkit::programs::divergent_barrier();
    let inputs = [Value::Buffer {
        elem: DataType::U32,
        data: vec![0],
    }];
    assert!(matches!(
        walk(&p, &inputs, [2, 1, 1], 32),
        Walked::Divergence
    ));
    assert!(matches!(
        bytecode(&p, &inputs, [2, 1, 1], 32),
        Err(RunError::InvalidProgram { .. })
    ));
}

/// Random programs full of subgroup operations: all twelve, on `i32`, `u32`
/// and `f32` values (with `-0.0`, infinities and NaN among them), with
/// shuffle sources in range, just and far out of range and past a partial
/// last subgroup, in uniform control flow (top level, `if`s on a scalar or
/// the workgroup id, literal `for` loops, around barriers), and subgroup
/// sizes 4, 8 and 32 with 1-D and 2-D workgroups that are and are not
/// multiples of them. Each invocation finally dumps its locals to one
/// output buffer per type, so every lane's every result is compared.
struct SubgroupGen {
    rng: Rng,
    p: Program,
    size: u32,
    /// Parameters: `x` (u32, read), `k` (u32 scalar), then one output
    /// buffer per type.
    x: u32,
    k: u32,
    /// Mutable locals by type: u32, i32, f32, bool.
    locals: [Vec<u32>; 4],
    budget: u32,
}

const TYPES: [DataType; 4] = [DataType::U32, DataType::I32, DataType::F32, DataType::Bool];

impl SubgroupGen {
    fn case(seed: u64) -> (Program, Vec<Value>, [u32; 3], u32) {
        let mut rng = Rng(seed);
        let size = [4, 8, 32][rng.below(3) as usize];
        let ws = match rng.below(4) {
            // A multiple of the subgroup size.
            0 => [size * (1 + rng.below(3)), 1, 1],
            1 => [1 + rng.below(70), 1, 1],
            // Validation allows collectives in 2-D workgroups only with x a
            // multiple of 128 (rows are then whole subgroups everywhere).
            2 => [128, 2, 1],
            _ => [2 + rng.below(150), 1, 1],
        };
        let grid = [1 + rng.below(2), 1, 1];
        let mut p = Program::new(format!("subgroups_{seed}"), ws);
        let buffer = |name: &str, elem, access| {
            Param::Buffer(vyre::ir::BufferDecl {
                name: name.into(),
                elem,
                access,
            })
        };
        p.params
            .push(buffer("x", DataType::U32, vyre::ir::Access::Read));
        p.params.push(Param::Scalar {
            name: "k".into(),
            ty: DataType::U32,
        });
        for (t, name) in TYPES.iter().zip(["yu", "yi", "yf", "yb"]) {
            // Bools are dumped as u32.
            let elem = if *t == DataType::Bool {
                DataType::U32
            } else {
                *t
            };
            p.params
                .push(buffer(name, elem, vyre::ir::Access::ReadWrite));
        }
        let mut locals: [Vec<u32>; 4] = Default::default();
        for (ti, t) in TYPES.iter().enumerate() {
            for _ in 0..1 + rng.below(3) {
                p.locals.push(vyre::ir::LocalDecl {
                    name: format!("v{}", p.locals.len()),
                    ty: *t,
                    mutable: true,
                });
                locals[ti].push((p.locals.len() - 1) as u32);
            }
        }
        let mut g = SubgroupGen {
            rng,
            p,
            size,
            x: 0,
            k: 1,
            locals,
            budget: 24,
        };
        // Every local starts from a lane-dependent value.
        let mut body = Vec::new();
        for (ti, t) in TYPES.iter().enumerate() {
            for l in g.locals[ti].clone() {
                let value = g.init(*t);
                body.push(Node::Let { local: l, value });
            }
        }
        body.extend(g.block(0, true));
        body.extend(g.dump());
        g.p.body = body;
        let n = ws.iter().product::<u32>() * grid[0];
        let xs = (0..1 + g.rng.below(40))
            .map(|_| u64::from(g.rng.next() as u32))
            .collect();
        let mut inputs = vec![
            Value::Buffer {
                elem: DataType::U32,
                data: xs,
            },
            Value::Scalar(Literal::U32(g.rng.below(6))),
        ];
        for (ti, t) in TYPES.iter().enumerate() {
            inputs.push(Value::Buffer {
                elem: if *t == DataType::Bool {
                    DataType::U32
                } else {
                    *t
                },
                data: vec![0; (n * g.locals[ti].len() as u32) as usize],
            });
        }
        (g.p, inputs, grid, size)
    }

    /// The invocation's flat index in the grid (x-only grids).
    fn flat(&self) -> Expr {
        let ws = self.p.workgroup_size;
        let local = Expr::Builtin(Builtin::LocalId, Axis::X)
            .add(Expr::Builtin(Builtin::LocalId, Axis::Y).mul(Expr::u32(ws[0])));
        Expr::Builtin(Builtin::WorkgroupId, Axis::X)
            .mul(Expr::u32(ws[0] * ws[1]))
            .add(local)
    }

    fn dump(&self) -> Vec<Node> {
        let mut out = Vec::new();
        for (ti, locals) in self.locals.iter().enumerate() {
            let stride = locals.len() as u32;
            for (slot, &l) in locals.iter().enumerate() {
                let v = Expr::local(l);
                out.push(Node::Store {
                    buf: BufRef::Param(2 + ti as u32),
                    index: self
                        .flat()
                        .mul(Expr::u32(stride))
                        .add(Expr::u32(slot as u32)),
                    value: if TYPES[ti] == DataType::Bool {
                        v.cast(DataType::U32)
                    } else {
                        v
                    },
                });
            }
        }
        out
    }

    /// Statements; collectives only when `uniform`.
    fn block(&mut self, depth: u32, uniform: bool) -> Vec<Node> {
        let mut out = Vec::new();
        for _ in 0..1 + self.rng.below(5) {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            out.push(self.stmt(depth, uniform));
        }
        out
    }

    fn stmt(&mut self, depth: u32, uniform: bool) -> Node {
        let ti = self.rng.below(4) as usize;
        let local = self.locals[ti][self.rng.below(self.locals[ti].len() as u32) as usize];
        match self.rng.below(12) {
            0..=5 if uniform => Node::Assign {
                local,
                value: self.collective(TYPES[ti]),
            },
            6 if uniform => Node::Barrier,
            7 if depth < 2 && uniform => {
                // A uniform condition: on the scalar or the workgroup.
                let cond = if self.rng.chance(1, 2) {
                    Expr::param(self.k).rem(Expr::u32(3)).ne(Expr::u32(0))
                } else {
                    Expr::Builtin(Builtin::WorkgroupId, Axis::X).eq(Expr::u32(0))
                };
                Node::If {
                    cond,
                    then: self.block(depth + 1, true),
                    otherwise: self.block(depth + 1, true),
                }
            }
            8 if depth < 2 && uniform => {
                self.p.locals.push(vyre::ir::LocalDecl {
                    name: format!("i{}", self.p.locals.len()),
                    ty: DataType::U32,
                    mutable: false,
                });
                let var = (self.p.locals.len() - 1) as u32;
                Node::For {
                    var,
                    start: Expr::u32(0),
                    end: Expr::u32(1 + self.rng.below(3)),
                    step: 1,
                    unroll: false,
                    body: self.block(depth + 1, true),
                }
            }
            9 if depth < 2 => Node::If {
                // Depends on the lane: no collectives inside.
                cond: self.value(DataType::Bool, 1),
                then: self.block(depth + 1, false),
                otherwise: self.block(depth + 1, false),
            },
            _ => Node::Assign {
                local,
                value: self.value(TYPES[ti], 2),
            },
        }
    }

    /// A collective of result type `t`.
    fn collective(&mut self, t: DataType) -> Expr {
        let sg = |op, args| Expr::Subgroup(op, args);
        if t == DataType::Bool {
            let op = [SubgroupOp::All, SubgroupOp::Any][self.rng.below(2) as usize];
            return sg(op, vec![self.value(DataType::Bool, 2)]);
        }
        if t == DataType::U32 && self.rng.chance(1, 5) {
            return sg(SubgroupOp::Ballot, vec![self.value(DataType::Bool, 2)]);
        }
        let v = self.value(t, 2);
        match self.rng.below(7) {
            0 => sg(SubgroupOp::Add, vec![v]),
            1 => sg(SubgroupOp::Min, vec![v]),
            2 => sg(SubgroupOp::Max, vec![v]),
            3 => sg(SubgroupOp::BroadcastFirst, vec![v]),
            4 => {
                let src = self.lane_operand();
                sg(SubgroupOp::Shuffle, vec![v, src])
            }
            5 => {
                let mask = self.lane_operand();
                sg(SubgroupOp::ShuffleXor, vec![v, mask])
            }
            _ => {
                let delta = self.lane_operand();
                sg(SubgroupOp::ShuffleDown, vec![v, delta])
            }
        }
    }

    /// A shuffle's lane operand: in range, past the subgroup, huge (where
    /// `lane + delta` must not wrap) or lane-dependent.
    fn lane_operand(&mut self) -> Expr {
        let s = self.size;
        match self.rng.below(6) {
            0 => Expr::u32(self.rng.below(s)),
            1 => Expr::u32(s + self.rng.below(3)),
            2 => Expr::u32(u32::MAX - self.rng.below(2)),
            3 => lane().bitxor(Expr::u32(self.rng.below(s))),
            4 => Expr::u32(1 << self.rng.below(s.trailing_zeros() + 1)),
            _ => self.value(DataType::U32, 1).rem(Expr::u32(s + 4)),
        }
    }

    /// A lane-dependent first value of type `t`, reading no local.
    fn init(&mut self, t: DataType) -> Expr {
        let c = self.rng.below(7);
        let x = Expr::load(BufRef::Param(self.x), self.flat().add(Expr::u32(c)));
        match t {
            DataType::U32 => x.bitxor(lane()),
            DataType::I32 => lane().cast(DataType::I32).sub(Expr::i32(c as i32)),
            DataType::F32 => lane()
                .cast(DataType::F32)
                .mul(Expr::f32(0.75))
                .sub(Expr::f32(c as f32)),
            _ => x.rem(Expr::u32(c + 2)).eq(Expr::u32(0)),
        }
    }

    /// A lane-dependent value of type `t`.
    fn value(&mut self, t: DataType, depth: u32) -> Expr {
        let pick = |g: &mut Self, ti: usize| {
            Expr::local(g.locals[ti][g.rng.below(g.locals[ti].len() as u32) as usize])
        };
        match t {
            DataType::U32 => match self.rng.below(if depth == 0 { 4 } else { 8 }) {
                0 => lane(),
                1 => pick(self, 0),
                2 => Expr::u32(match self.rng.below(3) {
                    0 => u32::MAX,
                    _ => self.rng.below(10),
                }),
                3 => Expr::Subgroup(SubgroupOp::Size, vec![]),
                4 => {
                    let i = self.value(DataType::U32, depth - 1);
                    Expr::load(BufRef::Param(self.x), i)
                }
                5 => Expr::load(BufRef::Param(self.x), self.flat()),
                6 => self
                    .value(DataType::U32, depth - 1)
                    .mul(Expr::u32(3))
                    .add(self.value(DataType::U32, depth - 1)),
                _ => self
                    .value(DataType::U32, depth - 1)
                    .bitxor(Expr::Builtin(Builtin::LocalId, Axis::Y)),
            },
            DataType::I32 => match self.rng.below(if depth == 0 { 2 } else { 4 }) {
                0 => pick(self, 1),
                1 => Expr::i32([i32::MIN, i32::MAX, -3, 5][self.rng.below(4) as usize]),
                2 => self
                    .value(DataType::U32, depth - 1)
                    .cast(DataType::I32)
                    .sub(Expr::i32(40)),
                _ => self
                    .value(DataType::I32, depth - 1)
                    .add(self.value(DataType::I32, depth - 1)),
            },
            DataType::F32 => match self.rng.below(if depth == 0 { 2 } else { 5 }) {
                0 => pick(self, 2),
                1 => Expr::f32(
                    [
                        -0.0,
                        0.0,
                        1.5,
                        -2.25,
                        f32::INFINITY,
                        f32::NEG_INFINITY,
                        1e30,
                    ][self.rng.below(7) as usize],
                ),
                // Small integers and fractions: sums of them may round.
                2 => self
                    .value(DataType::I32, depth - 1)
                    .rem(Expr::i32(1000))
                    .cast(DataType::F32)
                    .mul(Expr::f32(0.1)),
                3 => lane().cast(DataType::F32).mul(Expr::f32(1e7)),
                _ => self
                    .value(DataType::F32, depth - 1)
                    .add(self.value(DataType::F32, depth - 1)),
            },
            _ => match self.rng.below(if depth == 0 { 2 } else { 4 }) {
                0 => pick(self, 3),
                1 => lane().lt(Expr::u32(self.rng.below(self.size + 1))),
                2 => self
                    .value(DataType::U32, depth - 1)
                    .rem(Expr::u32(3))
                    .eq(Expr::u32(0)),
                _ => self
                    .value(DataType::F32, depth - 1)
                    .lt(self.value(DataType::F32, depth - 1)),
            },
        }
    }
}

fn lane() -> Expr {
    Expr::Subgroup(SubgroupOp::InvocationId, vec![])
}

/// The walker and the bytecode on programs full of subgroup operations.
#[test]
fn subgroup_operations_agree() {
    let mut seen = std::collections::HashSet::new();
    let (mut partial, mut sensitive) = (0, 0);
    for seed in 0..300u64 {
        let (p, inputs, grid, size) = SubgroupGen::case(seed);
        if let Err(errors) = p.validate() {
            panic!(
                "seed {seed}: the generator built an invalid program: {errors:?}\n{}",
                vyre::lang::print(&p)
            );
        }
        vyre::ir::walk_nodes(&p.body, &mut |n| {
            if let Node::Assign { value, .. } | Node::Let { value, .. } = n {
                collect_subgroup_ops(value, &mut seen);
            }
        });
        partial += usize::from(p.workgroup_size.iter().product::<u32>() % size != 0);
        let want = match walk(&p, &inputs, grid, size) {
            Walked::Done(w) => w,
            Walked::Divergence => panic!("seed {seed}: collectives are uniform here"),
            Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer => {
                panic!("seed {seed}: no matrices here")
            }
            Walked::Skipped(why) => panic!("seed {seed}: walker gave up: {why}"),
        };
        let got = bytecode(&p, &inputs, grid, size)
            .unwrap_or_else(|e| panic!("seed {seed}: bytecode failed: {e}"));
        assert_eq!(
            want,
            got,
            "seed {seed} (subgroup size {size}): results differ for\n{}",
            vyre::lang::print(&p)
        );
        // The comparison has teeth: another subgroup size changes results.
        let other = bytecode(&p, &inputs, grid, if size == 8 { 4 } else { 8 })
            .unwrap_or_else(|e| panic!("seed {seed}: bytecode failed: {e}"));
        sensitive += usize::from(other != got);
    }
    assert!(sensitive > 200, "only {sensitive} cases depend on the size");
    assert_eq!(seen.len(), 12, "operations generated: {seen:?}");
    assert!(partial > 50, "only {partial} partial-subgroup cases");
}

fn collect_subgroup_ops(e: &Expr, seen: &mut std::collections::HashSet<SubgroupOp>) {
    match e {
        Expr::Subgroup(op, args) => {
            seen.insert(*op);
            args.iter().for_each(|a| collect_subgroup_ops(a, seen));
        }
        Expr::Load { index, .. } => collect_subgroup_ops(index, seen),
        Expr::Unary(_, a) | Expr::Cast(_, a) => collect_subgroup_ops(a, seen),
        Expr::Binary(_, a, b) => {
            collect_subgroup_ops(a, seen);
            collect_subgroup_ops(b, seen);
        }
        Expr::Math(_, args) => args.iter().for_each(|a| collect_subgroup_ops(a, seen)),
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            collect_subgroup_ops(cond, seen);
            collect_subgroup_ops(then, seen);
            collect_subgroup_ops(otherwise, seen);
        }
        _ => {}
    }
}

/// Random programs of matrix statements and asynchronous copies: shapes
/// from 16 x 8 x 16 to 32 x 16 x 32, `f16` and `bf16` operands, loads of
/// both layouts from buffers and from a shared tile filled by `async_copy`
/// (with sources and destinations partly out of range), strides below,
/// at and above the minor dimension, offsets reaching past the end (and
/// near `u32::MAX`), fills, multiply-adds into either accumulator (`d ==
/// c` or not), stores of both layouts into `f32`/`f16`/`bf16` buffers
/// partly out of range, inside `for` loops over the loop variable. Some
/// offsets depend on the local id divided by 4 to 64, so with some
/// subgroup sizes the lanes of a subgroup disagree (both must report it)
/// and with others each subgroup works on its own tile.
struct MatrixGen {
    rng: Rng,
    rows: [(u32, u32); 4],
    /// Parameters `a`, `b`, `c`, `out` and their lengths.
    bufs: [u32; 4],
    lens: [u32; 4],
    /// The shared tile and its length.
    tile: u32,
    tile_len: u32,
    /// Matrices A, B and two accumulators.
    mats: [u32; 4],
    /// The `for` variable in scope, if any.
    var: Option<u32>,
    loop_var: u32,
    budget: u32,
}

impl MatrixGen {
    fn case(seed: u64) -> (Program, Vec<Value>, [u32; 3], u32) {
        use vyre::ir::{Access, MatrixRole, MatrixShape, ProgramBuilder};
        let mut rng = Rng(seed);
        let pick = |rng: &mut Rng, xs: &[u32]| xs[rng.below(xs.len() as u32) as usize];
        let (m, n, k) = (
            pick(&mut rng, &[16, 32]),
            pick(&mut rng, &[8, 16]),
            pick(&mut rng, &[16, 32]),
        );
        let shape = MatrixShape { m, n, k };
        let elem = if rng.chance(1, 2) {
            DataType::F16
        } else {
            DataType::BF16
        };
        let store = [DataType::F32, DataType::F16, DataType::BF16][rng.below(3) as usize];
        let ws = [pick(&mut rng, &[32, 64]), 1, 1];
        let size = pick(&mut rng, &[4, 8, 16, 32, 64]);
        let grid = [1 + rng.below(2), 1, 1];
        let mut b = ProgramBuilder::new(format!("matrices_{seed}"), ws);
        let types = [elem, elem, DataType::F32, store];
        let rows = [(m, k), (k, n), (m, n), (m, n)];
        let mut lens = [0; 4];
        let mut bufs = [0; 4];
        for (q, name) in ["a", "b", "c", "out"].into_iter().enumerate() {
            let access = if q == 3 {
                Access::ReadWrite
            } else {
                Access::Read
            };
            bufs[q] = b.buffer(name, types[q], access);
            let (r, c) = rows[q];
            // From half a matrix to two and a half.
            lens[q] = r * c / 2 + rng.below(2 * r * c);
        }
        let tile_len = m * k / 2 + rng.below(m * k);
        let tile = b.shared("tile", elem, tile_len);
        let mats = [
            b.matrix("ma", MatrixRole::A, elem, shape),
            b.matrix("mb", MatrixRole::B, elem, shape),
            b.matrix("mc", MatrixRole::Accumulator, DataType::F32, shape),
            b.matrix("md", MatrixRole::Accumulator, DataType::F32, shape),
        ];
        let loop_var = b.local("i", DataType::U32, false);
        let mut g = MatrixGen {
            rng,
            rows,
            bufs,
            lens,
            tile,
            tile_len,
            mats,
            var: None,
            loop_var,
            budget: 10,
        };
        b.body(|blk| {
            while g.budget > 0 {
                g.stmt(blk, true);
            }
            // Both accumulators end up in `out`.
            for acc in [g.mats[2], g.mats[3]] {
                let op = g.store(acc);
                blk.matrix(op);
            }
        });
        let p = b.finish();
        let mut inputs = Vec::new();
        for q in 0..4 {
            let data = (0..lens[q]).map(|_| g.value(types[q])).collect();
            inputs.push(Value::Buffer {
                elem: types[q],
                data,
            });
        }
        (p, inputs, grid, size)
    }

    /// Bits of a random value of `t`: a few significant bits over a range
    /// of exponents, and now and then a signed zero.
    fn value(&mut self, t: DataType) -> u64 {
        let x = if self.rng.chance(1, 16) {
            if self.rng.chance(1, 2) { 0.0 } else { -0.0 }
        } else {
            (self.rng.below(2001) as f32 - 1000.0) * 2f32.powi(self.rng.below(9) as i32 - 12)
        };
        element_bits(t, u64::from(x.to_bits()))
    }

    /// A `u32` offset: mostly inside the memory, sometimes past its end or
    /// near `u32::MAX`, sometimes over the workgroup id, the loop variable
    /// or (rarely) the local id over 4 to 64.
    fn offset(&mut self, len: u32) -> Expr {
        let base = match self.rng.below(10) {
            0 => u32::MAX - self.rng.below(40),
            1 => len + self.rng.below(8),
            _ => self.rng.below(len / 2 + 1),
        };
        let mut e = Expr::u32(base);
        if self.rng.chance(1, 4) {
            let wg = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
            e = e.add(wg.mul(Expr::u32(1 + self.rng.below(32))));
        }
        if let Some(v) = self.var
            && self.rng.chance(1, 2)
        {
            e = e.add(Expr::local(v).mul(Expr::u32(self.rng.below(24))));
        }
        if self.rng.chance(1, 40) {
            let d = [4, 8, 16, 32, 64][self.rng.below(5) as usize];
            let lid = Expr::Builtin(Builtin::LocalId, Axis::X);
            e = e.add(lid.div(Expr::u32(d)).mul(Expr::u32(1 + self.rng.below(16))));
        }
        e
    }

    /// A stride: usually the minor dimension or a little more, sometimes
    /// less (rows overlap) or 0.
    fn stride(&mut self, minor: u32) -> Expr {
        Expr::u32(match self.rng.below(8) {
            0 => 0,
            1 => minor / 2,
            _ => minor + self.rng.below(4),
        })
    }

    fn layout(&mut self) -> MatrixLayout {
        if self.rng.chance(1, 2) {
            MatrixLayout::RowMajor
        } else {
            MatrixLayout::ColMajor
        }
    }

    /// A load or store of matrix `matrix` (dims `(r, c)`) at `buf`.
    fn access(
        &mut self,
        matrix: u32,
        buf: BufRef,
        len: u32,
        (r, c): (u32, u32),
        load: bool,
    ) -> MatrixOp {
        let layout = self.layout();
        let minor = match layout {
            MatrixLayout::RowMajor => c,
            MatrixLayout::ColMajor => r,
        };
        let (offset, stride) = (self.offset(len), self.stride(minor));
        if load {
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip: None,
            }
        } else {
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip: None,
            }
        }
    }

    fn store(&mut self, acc: u32) -> MatrixOp {
        self.access(
            acc,
            BufRef::Param(self.bufs[3]),
            self.lens[3],
            self.rows[3],
            false,
        )
    }

    fn acc(&mut self) -> u32 {
        self.mats[2 + self.rng.below(2) as usize]
    }

    fn stmt(&mut self, blk: &mut vyre::ir::Block, top: bool) {
        self.budget = self.budget.saturating_sub(1);
        match self
            .rng
            .below(if top && self.var.is_none() { 9 } else { 8 })
        {
            0 => {
                let op = self.access(
                    self.mats[0],
                    BufRef::Param(self.bufs[0]),
                    self.lens[0],
                    self.rows[0],
                    true,
                );
                blk.matrix(op);
            }
            1 => {
                // A from the shared tile, filled by copies first.
                self.copies(blk);
                let op = self.access(
                    self.mats[0],
                    BufRef::Shared(self.tile),
                    self.tile_len,
                    self.rows[0],
                    true,
                );
                blk.matrix(op);
            }
            2 => {
                let op = self.access(
                    self.mats[1],
                    BufRef::Param(self.bufs[1]),
                    self.lens[1],
                    self.rows[1],
                    true,
                );
                blk.matrix(op);
            }
            3 => {
                let acc = self.acc();
                let op = self.access(
                    acc,
                    BufRef::Param(self.bufs[2]),
                    self.lens[2],
                    self.rows[2],
                    true,
                );
                blk.matrix(op);
            }
            4 => {
                let matrix = self.acc();
                let v = self.value(DataType::F32);
                blk.matrix(MatrixOp::Fill {
                    matrix,
                    value: Expr::f32(f(v)),
                });
            }
            5 | 6 => {
                let (d, c) = (self.acc(), self.acc());
                blk.matrix(MatrixOp::MultiplyAdd {
                    d,
                    a: self.mats[0],
                    b: self.mats[1],
                    c,
                });
            }
            7 => {
                let acc = self.acc();
                let op = self.store(acc);
                blk.matrix(op);
            }
            _ => {
                let v = self.loop_var;
                let trips = 1 + self.rng.below(3);
                self.var = Some(v);
                blk.for_(v, Expr::u32(0), Expr::u32(trips), |body| {
                    for _ in 0..2 + self.rng.below(3) {
                        self.stmt(body, false);
                    }
                });
                self.var = None;
            }
        }
    }

    /// Every invocation copies 2, 4 or 8 elements of `a` to the tile at
    /// `local_id * count` (past the tile's end for some), from a base
    /// offset plus the same; then commit, wait and a barrier.
    fn copies(&mut self, blk: &mut vyre::ir::Block) {
        let count = [2, 4, 8][self.rng.below(3) as usize];
        let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
        let base = self.offset(self.lens[0]);
        let dst = lid().mul(Expr::u32(count));
        blk.async_copy(self.tile, dst.clone(), self.bufs[0], base.add(dst), count);
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
    }
}

/// The walker and the bytecode on random matrix programs: equal results,
/// or both report lanes of a subgroup that disagree.
#[test]
fn matrix_programs_agree() {
    let (mut done, mut differ) = (0, 0);
    for seed in 0..160u64 {
        let (p, inputs, grid, size) = MatrixGen::case(seed);
        if let Err(errors) = p.validate() {
            panic!("seed {seed}: the generator built an invalid program: {errors:?}");
        }
        let want = walk(&p, &inputs, grid, size);
        let got = bytecode(&p, &inputs, grid, size);
        match (want, got) {
            (Walked::Done(w), Ok(g)) => {
                assert!(
                    agree(&p, &w, &g),
                    "seed {seed} (subgroup size {size}): results differ (buffer, element, walker, bytecode): {:x?}\nfor {p:#?}",
                    differences(&w, &g)
                );
                done += 1;
            }
            (Walked::MatrixOperandsDiffer, Err(RunError::MatrixOperandsDiffer { .. })) => {
                differ += 1;
            }
            (Walked::Done(_), Err(e)) => panic!("seed {seed}: bytecode failed: {e}"),
            (Walked::WarpgroupOperandsDiffer, _) => {
                panic!("seed {seed}: the generator makes no warpgroup matrices")
            }
            (Walked::MatrixOperandsDiffer, other) => panic!(
                "seed {seed}: the walker saw lanes disagree, the bytecode gave {:?}",
                other.map(|_| ())
            ),
            (Walked::Divergence, _) => panic!("seed {seed}: matrix statements are uniform"),
            (Walked::Skipped(why), _) => panic!("seed {seed}: walker gave up: {why}"),
        }
    }
    println!("agreed on {done}, both reported disagreeing lanes in {differ}");
    assert!(done >= 130, "only {done} programs ran");
    assert!(differ >= 4, "only {differ} programs had disagreeing lanes");
}

/// Random programs of warpgroup accumulators: workgroups of one or two
/// warpgroups, `64 x n x k` accumulators (`n` 8 or 16, `k` 16 or 32) of
/// `f16` or `bf16` operands in two shared arrays (linear or swizzled, the
/// layout changing nothing), filled by `async_copy` from a buffer and by
/// stores of the accumulators themselves; fills, warpgroup multiplies into
/// either accumulator (`d == c` or not) with offsets inside, past the end
/// and near `u32::MAX`, per-warpgroup offsets (`local_id / 128`) and, now
/// and then, offsets that differ inside a warpgroup (both must report it);
/// stores (some clipped) into an `f32`/`f16`/`bf16` buffer, and a subgroup
/// accumulator alongside, inside `for` loops too.
struct WarpgroupGen {
    rng: Rng,
    n: u32,
    k: u32,
    /// Parameters `src` and `out` and their lengths.
    src: u32,
    src_len: u32,
    out: u32,
    out_len: u32,
    /// The shared arrays of A and B and their lengths.
    ta: u32,
    ta_len: u32,
    tb: u32,
    tb_len: u32,
    /// The warpgroup accumulators and the subgroup one.
    accs: [u32; 2],
    sub: u32,
    /// A `64 x k` warpgroup accumulator, the `A` of accumulator-`A`
    /// multiplies.
    pa: u32,
    /// The `f32` shared array of row reductions, and its length.
    red: u32,
    red_len: u32,
    /// A local the `matrix_map` closures read (equal across a warpgroup,
    /// unless `lid / 64` is mixed in now and then), and the closure's own
    /// three locals.
    u: u32,
    cl: [u32; 3],
    var: Option<u32>,
    loop_var: u32,
    budget: u32,
}

impl WarpgroupGen {
    fn case(seed: u64) -> (Program, Vec<Value>, [u32; 3], u32) {
        use vyre::ir::{Access, MatrixRole, MatrixShape, ProgramBuilder, SharedLayout};
        let mut rng = Rng(seed ^ 0x5747_4d4d);
        let pick = |rng: &mut Rng, xs: &[u32]| xs[rng.below(xs.len() as u32) as usize];
        let (n, k) = (pick(&mut rng, &[8, 16]), pick(&mut rng, &[16, 32]));
        let elem = if rng.chance(1, 2) {
            DataType::F16
        } else {
            DataType::BF16
        };
        let store = [DataType::F32, DataType::F16, DataType::BF16][rng.below(3) as usize];
        let ws = [pick(&mut rng, &[128, 256]), 1, 1];
        let size = pick(&mut rng, &[8, 32, 64, 128]);
        let grid = [1 + rng.below(2), 1, 1];
        let mut b = ProgramBuilder::new(format!("warpgroup_{seed}"), ws);
        let src_len = 64 * k + rng.below(64 * k);
        let src = b.buffer("src", elem, Access::Read);
        let out_len = 64 * n / 2 + rng.below(3 * 64 * n);
        let out = b.buffer("out", store, Access::ReadWrite);
        // A swizzled array is whole 8-row groups of 64 columns (128 bytes).
        let mut array = |b: &mut ProgramBuilder, name: &str, elems: u32| {
            if rng.chance(1, 3) {
                let len = 512 * (1 + rng.below(elems.div_ceil(512) * 2));
                let id = b.shared_with_layout(name, elem, len, SharedLayout::Swizzled { cols: 64 });
                (id, len)
            } else {
                let len = elems / 2 + rng.below(2 * elems);
                (b.shared(name, elem, len), len)
            }
        };
        let (ta, ta_len) = array(&mut b, "ta", 64 * k);
        let (tb, tb_len) = array(&mut b, "tb", k * n);
        let accs = [
            b.warpgroup_accumulator("wa", n, k),
            b.warpgroup_accumulator("wb", n, k),
        ];
        let sub = b.matrix(
            "sc",
            MatrixRole::Accumulator,
            DataType::F32,
            MatrixShape { m: 16, n: 8, k: 16 },
        );
        let loop_var = b.local("i", DataType::U32, false);
        let pa = b.warpgroup_accumulator("pa", k, 16);
        let red_len = 40 + rng.below(60);
        let red = b.shared("red", DataType::F32, red_len);
        let u = b.local("u", DataType::U32, false);
        let cl = [
            b.local("r", DataType::U32, false),
            b.local("c", DataType::U32, false),
            b.local("v", DataType::F32, false),
        ];
        let u_value = {
            let lid = Expr::Builtin(Builtin::LocalId, Axis::X);
            let wg = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
            let d = if rng.chance(1, 12) { 64 } else { 128 };
            wg.mul(Expr::u32(3)).add(lid.div(Expr::u32(d)))
        };
        let mut g = WarpgroupGen {
            rng,
            n,
            k,
            src,
            src_len,
            out,
            out_len,
            ta,
            ta_len,
            tb,
            tb_len,
            accs,
            sub,
            pa,
            red,
            red_len,
            u,
            cl,
            var: None,
            loop_var,
            budget: 9,
        };
        b.body(|blk| {
            blk.let_(u, u_value);
            g.copies(blk, true);
            g.copies(blk, false);
            while g.budget > 0 {
                g.stmt(blk, true);
            }
            for acc in g.accs {
                let op = g.store(acc);
                blk.matrix(op);
            }
        });
        let p = b.finish();
        let mut value = |t: DataType| {
            let x = if g.rng.chance(1, 16) {
                0.0
            } else {
                (g.rng.below(2001) as f32 - 1000.0) * 2f32.powi(g.rng.below(9) as i32 - 12)
            };
            element_bits(t, u64::from(x.to_bits()))
        };
        let data = (0..src_len).map(|_| value(elem)).collect();
        let out_data = (0..out_len).map(|_| value(store)).collect();
        let inputs = vec![
            Value::Buffer { elem, data },
            Value::Buffer {
                elem: store,
                data: out_data,
            },
        ];
        (p, inputs, grid, size)
    }

    /// A `u32` offset into `len` elements: mostly inside, sometimes past
    /// the end or near `u32::MAX`, sometimes per warpgroup or over the loop
    /// variable, rarely per 32 or 64 invocations (a warpgroup disagrees).
    fn offset(&mut self, len: u32) -> Expr {
        let base = match self.rng.below(10) {
            0 => u32::MAX - self.rng.below(40),
            1 => len + self.rng.below(8),
            _ => self.rng.below(len / 2 + 1),
        };
        let mut e = Expr::u32(base);
        let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
        if self.rng.chance(1, 4) {
            e = e.add(
                lid()
                    .div(Expr::u32(128))
                    .mul(Expr::u32(1 + self.rng.below(64))),
            );
        }
        if self.rng.chance(1, 5) {
            let wg = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
            e = e.add(wg.mul(Expr::u32(1 + self.rng.below(32))));
        }
        if let Some(v) = self.var
            && self.rng.chance(1, 2)
        {
            e = e.add(Expr::local(v).mul(Expr::u32(self.rng.below(24))));
        }
        if self.rng.chance(1, 90) {
            let d = [32, 64][self.rng.below(2) as usize];
            e = e.add(
                lid()
                    .div(Expr::u32(d))
                    .mul(Expr::u32(1 + self.rng.below(8))),
            );
        }
        e
    }

    /// A row stride: usually the row length or a little more, sometimes
    /// less (rows overlap) or 0.
    fn stride(&mut self, row: u32) -> Expr {
        Expr::u32(match self.rng.below(8) {
            0 => 0,
            1 => row / 2,
            _ => row + self.rng.below(4),
        })
    }

    fn acc(&mut self) -> u32 {
        self.accs[self.rng.below(2) as usize]
    }

    /// A store of warpgroup accumulator `acc` into `out`, some clipped.
    fn store(&mut self, acc: u32) -> MatrixOp {
        let clip = self.rng.chance(1, 4).then(|| vyre::ir::MatrixClip {
            rows: Expr::u32(self.rng.below(70)),
            cols: Expr::u32(self.rng.below(self.n + 4)),
        });
        MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(self.out),
            offset: self.offset(self.out_len),
            stride: self.stride(self.n),
            layout: MatrixLayout::RowMajor,
            clip,
        }
    }

    /// An `f32` closure body: the element's value, row and column, the
    /// uniform local, `workgroup_id`, literals, loads from the row-value
    /// array and from the operand arrays (narrow, widened; indices out of
    /// range too), arithmetic, `min`/`max`/`exp`, and masks by row and
    /// column.
    fn map_expr(&mut self, depth: u32) -> Expr {
        let [r, c, v] = self.cl.map(Expr::local);
        let u = Expr::local(self.u);
        let f = |e: Expr| e.cast(DataType::F32);
        if depth == 0 || self.rng.chance(1, 4) {
            return match self.rng.below(9) {
                0 | 1 => v,
                2 => f(r),
                3 => f(c),
                4 => f(u),
                5 => Expr::f32((self.rng.below(41) as f32 - 20.0) / 4.0),
                6 => Expr::load(
                    BufRef::Shared(self.red),
                    r.add(u.rem(Expr::u32(1 + self.rng.below(48)))),
                ),
                7 => {
                    let (array, len) = if self.rng.chance(1, 2) {
                        (self.ta, self.ta_len)
                    } else {
                        (self.tb, self.tb_len)
                    };
                    let idx = r
                        .mul(Expr::u32(1 + self.rng.below(40)))
                        .add(c)
                        .add(Expr::u32(self.rng.below(len)));
                    f(Expr::load(BufRef::Shared(array), idx))
                }
                _ => f(Expr::Builtin(Builtin::WorkgroupId, Axis::X)),
            };
        }
        let a = self.map_expr(depth - 1);
        match self.rng.below(9) {
            0 => a.add(self.map_expr(depth - 1)),
            1 => a.sub(self.map_expr(depth - 1)),
            2 => a.mul(self.map_expr(depth - 1)),
            3 => a.div(self.map_expr(depth - 1)),
            4 => a.math(MathFn::Max, vec![self.map_expr(depth - 1)]),
            5 => a.math(MathFn::Min, vec![self.map_expr(depth - 1)]),
            6 => a.mul(Expr::f32(0.125)).math(MathFn::Exp, vec![]),
            7 => Expr::select(
                c.gt(r.add(Expr::u32(self.rng.below(8)))),
                Expr::f32(f32::NEG_INFINITY),
                a,
            ),
            _ => Expr::select(
                r.rem(Expr::u32(3)).eq(Expr::u32(0)),
                a,
                self.map_expr(depth - 1),
            ),
        }
    }

    /// Every invocation copies 2, 4 or 8 elements of `src` into `ta` (or
    /// `tb`) at `local_id * count`, from a base offset plus the same; then
    /// commit, wait and a barrier.
    fn copies(&mut self, blk: &mut vyre::ir::Block, a: bool) {
        let count = [2, 4, 8][self.rng.below(3) as usize];
        let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
        let base = Expr::u32(self.rng.below(self.src_len / 2 + 1));
        let dst = lid().mul(Expr::u32(count));
        let tile = if a { self.ta } else { self.tb };
        blk.async_copy(tile, dst.clone(), self.src, base.add(dst), count);
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
    }

    fn stmt(&mut self, blk: &mut vyre::ir::Block, top: bool) {
        self.budget = self.budget.saturating_sub(1);
        match self
            .rng
            .below(if top && self.var.is_none() { 14 } else { 13 })
        {
            0 => {
                let a = self.rng.chance(1, 2);
                self.copies(blk, a);
            }
            1 => {
                let matrix = self.acc();
                let x = (self.rng.below(2001) as f32 - 1000.0) / 64.0;
                blk.matrix(MatrixOp::Fill {
                    matrix,
                    value: Expr::f32(x),
                });
            }
            2..=4 => {
                let (d, c) = (self.acc(), self.acc());
                let (k, n) = (self.k, self.n);
                let a = vyre::ir::SharedTile {
                    array: self.ta,
                    offset: self.offset(self.ta_len),
                    stride: self.stride(k),
                    layout: vyre::ir::MatrixLayout::RowMajor,
                };
                // Column-major `B` now and then: `k x n` from columns of
                // `k` elements.
                let col = self.rng.chance(1, 3);
                let b = vyre::ir::SharedTile {
                    array: self.tb,
                    offset: self.offset(self.tb_len),
                    stride: self.stride(if col { k } else { n }),
                    layout: if col {
                        MatrixLayout::ColMajor
                    } else {
                        MatrixLayout::RowMajor
                    },
                };
                blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                    d,
                    a: vyre::ir::WarpgroupOperand::Shared(a),
                    b,
                    c,
                    asynchronous: false,
                });
            }
            5 => {
                let acc = self.acc();
                let op = self.store(acc);
                blk.matrix(op);
            }
            6 => {
                // An accumulator into A's or B's array: the next multiply
                // reads its rounded values.
                let acc = self.acc();
                let (array, len) = if self.rng.chance(1, 2) {
                    (self.ta, self.ta_len)
                } else {
                    (self.tb, self.tb_len)
                };
                blk.barrier();
                blk.matrix(MatrixOp::Store {
                    matrix: acc,
                    buf: BufRef::Shared(array),
                    offset: Expr::u32(self.rng.below(len / 2 + 1)),
                    stride: self.stride(self.n),
                    layout: MatrixLayout::RowMajor,
                    clip: None,
                });
                blk.barrier();
            }
            7 => {
                // The subgroup accumulator: filled per subgroup, stored.
                let lid = Expr::Builtin(Builtin::LocalId, Axis::X);
                let size = Expr::Subgroup(SubgroupOp::Size, vec![]);
                let x = (self.rng.below(200) as f32 - 100.0) / 8.0;
                blk.matrix(MatrixOp::Fill {
                    matrix: self.sub,
                    value: Expr::f32(x).add(lid.div(size).cast(DataType::F32)),
                });
                blk.matrix(MatrixOp::Store {
                    matrix: self.sub,
                    buf: BufRef::Param(self.out),
                    offset: self.offset(self.out_len),
                    stride: self.stride(8),
                    layout: MatrixLayout::RowMajor,
                    clip: None,
                });
            }
            8 => {
                let (d, c) = (self.acc(), self.acc());
                let (k, n) = (self.k, self.n);
                // Both tiles from one array, in range.
                let a = vyre::ir::SharedTile {
                    array: self.ta,
                    offset: Expr::u32(0),
                    stride: Expr::u32(k),
                    layout: vyre::ir::MatrixLayout::RowMajor,
                };
                let b = vyre::ir::SharedTile {
                    array: self.ta,
                    offset: Expr::u32(self.rng.below(self.ta_len / 2 + 1)),
                    stride: Expr::u32(n),
                    layout: vyre::ir::MatrixLayout::RowMajor,
                };
                blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                    d,
                    a: vyre::ir::WarpgroupOperand::Shared(a),
                    b,
                    c,
                    asynchronous: false,
                });
            }
            9 | 10 => {
                // A map into an accumulator (or `pa`) of itself or of the
                // other accumulator.
                let (d, src) = if self.rng.chance(1, 3) {
                    (self.pa, self.pa)
                } else {
                    (self.acc(), self.acc())
                };
                let [row, col, value] = self.cl;
                let expr = self.map_expr(3);
                blk.matrix(MatrixOp::Map {
                    d,
                    src,
                    row,
                    col,
                    value,
                    expr,
                });
            }
            11 => {
                let op = if self.rng.chance(1, 2) {
                    vyre::ir::RowReduceOp::Max
                } else {
                    vyre::ir::RowReduceOp::Add
                };
                let src = if self.rng.chance(1, 4) {
                    self.pa
                } else {
                    self.acc()
                };
                let offset = self.offset(self.red_len);
                blk.matrix(MatrixOp::RowReduce {
                    op,
                    src,
                    dst: self.red,
                    offset,
                });
            }
            12 => {
                // `A` from `pa` (rounded to the operand type), `B` either
                // way.
                let (d, c) = (self.acc(), self.acc());
                let (k, n) = (self.k, self.n);
                let col = self.rng.chance(1, 2);
                let b = vyre::ir::SharedTile {
                    array: self.tb,
                    offset: self.offset(self.tb_len),
                    stride: self.stride(if col { k } else { n }),
                    layout: if col {
                        MatrixLayout::ColMajor
                    } else {
                        MatrixLayout::RowMajor
                    },
                };
                blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                    d,
                    a: vyre::ir::WarpgroupOperand::Accumulator(self.pa),
                    b,
                    c,
                    asynchronous: self.rng.chance(1, 2),
                });
                blk.matrix(MatrixOp::WarpgroupWait { pending: 0 });
            }
            _ => {
                let v = self.loop_var;
                let trips = 1 + self.rng.below(3);
                self.var = Some(v);
                blk.for_(v, Expr::u32(0), Expr::u32(trips), |body| {
                    for _ in 0..2 + self.rng.below(3) {
                        self.stmt(body, false);
                    }
                });
                self.var = None;
            }
        }
    }
}

/// Whether `p` has a `matrix_map`, a row reduction, a warpgroup multiply
/// with `A` from an accumulator, one with `B` column-major.
fn attention_features(p: &Program) -> [bool; 4] {
    let mut f = [false; 4];
    p.any_node(&mut |n| {
        if let Node::Matrix(op) = n {
            match op {
                MatrixOp::Map { .. } => f[0] = true,
                MatrixOp::RowReduce { .. } => f[1] = true,
                MatrixOp::WarpgroupMultiplyAdd { a, b, .. } => {
                    f[2] |= matches!(a, vyre::ir::WarpgroupOperand::Accumulator(_));
                    f[3] |= b.layout == MatrixLayout::ColMajor;
                }
                _ => {}
            }
        }
        false
    });
    f
}

/// The walker and the bytecode on random warpgroup programs: equal
/// results, or both report invocations of a warpgroup (or lanes of a
/// subgroup) that disagree.
#[test]
fn warpgroup_programs_agree() {
    let (mut done, mut differ, mut wg_differ, mut map_differ) = (0, 0, 0, 0);
    let mut features = [0usize; 4];
    for seed in 0..120u64 {
        let (p, inputs, grid, size) = WarpgroupGen::case(seed);
        if let Err(errors) = p.validate() {
            panic!("seed {seed}: the generator built an invalid program: {errors:?}");
        }
        let want = walk(&p, &inputs, grid, size);
        let got = bytecode(&p, &inputs, grid, size);
        match (want, got) {
            (Walked::Done(w), Ok(g)) => {
                assert!(
                    agree(&p, &w, &g),
                    "seed {seed} (subgroup size {size}): results differ (buffer, element, walker, bytecode): {:x?}\nfor {p:#?}",
                    differences(&w, &g)
                );
                done += 1;
                for (k, n) in attention_features(&p).into_iter().enumerate() {
                    features[k] += usize::from(n);
                }
            }
            (
                Walked::WarpgroupOperandsDiffer,
                Err(RunError::WarpgroupOperandsDiffer { statement, .. }),
            ) => {
                wg_differ += 1;
                map_differ += usize::from(statement.contains("matrix_map"));
            }
            (Walked::MatrixOperandsDiffer, Err(RunError::MatrixOperandsDiffer { .. })) => {
                differ += 1;
            }
            (Walked::Done(_), Err(e)) => panic!("seed {seed}: bytecode failed: {e}"),
            (Walked::MatrixOperandsDiffer | Walked::WarpgroupOperandsDiffer, other) => panic!(
                "seed {seed}: the walker saw invocations disagree, the bytecode gave {:?}",
                other.map(|_| ())
            ),
            (Walked::Divergence, _) => panic!("seed {seed}: matrix statements are uniform"),
            (Walked::Skipped(why), _) => panic!("seed {seed}: walker gave up: {why}"),
        }
    }
    println!(
        "agreed on {done}, both reported disagreeing invocations of a warpgroup in {wg_differ} ({map_differ} at a `matrix_map`) and lanes of a subgroup in {differ}; programs that ran with a map, a row reduction, an accumulator A, a column-major B: {features:?}"
    );
    assert!(done >= 90, "only {done} programs ran");
    assert!(
        features.iter().all(|&n| n >= 20),
        "too few programs that ran used each attention building block: {features:?}"
    );
    assert!(map_differ >= 1, "no `matrix_map` read a disagreeing local");
    assert!(
        wg_differ >= 2,
        "only {wg_differ} programs had disagreeing warpgroups"
    );
}
