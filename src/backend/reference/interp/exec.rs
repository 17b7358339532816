//! Executing bytecode: workgroups, invocation scheduling around barriers,
//! and the single-`match` instruction loop (`Launch::exec`).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::bytecode::{AtomicK, MatStmt, Mem, Op, SubgroupK, WgA, Word};
use super::{Compiled, RunError};
use crate::ir::wide::{apply as wide, convert};

/// Invocations of a warpgroup.
const WARPGROUP: usize = crate::ir::MatrixScope::WARPGROUP as usize;
use crate::ir::DataType;

/// Per-worker scratch, reused across the workgroups a worker runs.
pub(super) struct Scratch {
    regs: Vec<Word>,
    arena: Vec<AtomicU32>,
    pcs: Vec<u32>,
    steps: Vec<u64>,
    done: Vec<bool>,
    /// Whether the invocation waits at the barrier, collective or matrix
    /// statement it stopped after (`pcs` is one past it).
    parked: Vec<bool>,
    /// The matrices of every subgroup of the workgroup: subgroup `g`'s
    /// block is `g * matrix_words ..`, one tile per matrix in it (one copy
    /// per subgroup: its invocations pass equal operands, which
    /// `Launch::matrix` checks, so every lane's copy would be the same).
    mats: Vec<f32>,
    /// The warpgroup matrices of every warpgroup of the workgroup:
    /// warpgroup `w`'s block is `w * warpgroup_words ..`.
    wmats: Vec<f32>,
    /// A multiply's accumulator while it is computed (so `d` may be `c`).
    acc: Vec<f32>,
    /// A warpgroup multiply's `A` and `B` tiles, read from shared memory.
    tiles: Vec<f32>,
    /// The registers a `matrix_map` expression runs on: a copy of the
    /// warpgroup's first invocation's.
    map_regs: Vec<Word>,
}

pub(super) struct Launch<'a> {
    pub(super) c: &'a Compiled,
    pub(super) ro: &'a [&'a [u32]],
    pub(super) rw: &'a [&'a [AtomicU32]],
    pub(super) template: &'a [Word],
    pub(super) workgroups: [u32; 3],
    pub(super) limit: u64,
    /// `RunOptions::subgroup_size`, validated: a power of two up to
    /// `MAX_SUBGROUP_SIZE`.
    pub(super) subgroup_size: u32,
}

/// Why an invocation stopped early.
enum Fault {
    Steps,
    Internal(&'static str),
    OutOfBounds {
        mem: Mem,
        index: u32,
        len: usize,
        /// The access is in an `unsafe` block: the kernel's author vouched
        /// for it.
        in_unsafe: bool,
    },
}

impl Fault {
    /// This fault, from an access inside an `unsafe` block when `yes`.
    fn in_unsafe(self, yes: bool) -> Self {
        match self {
            Fault::OutOfBounds {
                mem, index, len, ..
            } => Fault::OutOfBounds {
                mem,
                index,
                len,
                in_unsafe: yes,
            },
            other => other,
        }
    }
}

enum Stop {
    Done,
    Barrier,
}

impl Launch<'_> {
    pub(super) fn scratch(&self) -> Scratch {
        let n = if self.c.interleaved() {
            self.c.workgroup_size.iter().map(|&d| d as usize).product()
        } else {
            1
        };
        Scratch {
            regs: vec![0; self.c.nregs * n],
            arena: (0..self.c.shared_words)
                .map(|_| AtomicU32::new(0))
                .collect(),
            pcs: vec![0; n],
            steps: vec![0; n],
            done: vec![false; n],
            parked: vec![false; n],
            mats: vec![0.0; n.div_ceil(self.subgroup_size as usize) * self.c.matrix_words],
            wmats: vec![0.0; n.div_ceil(WARPGROUP) * self.c.warpgroup_words],
            acc: Vec::new(),
            tiles: Vec::new(),
            map_regs: Vec::new(),
        }
    }

    fn wg_id(&self, wg: usize) -> [u32; 3] {
        let [x, y, _] = self.workgroups.map(|d| d as usize);
        [
            (wg % x) as u32,
            ((wg / x) % y) as u32,
            (wg / (x * y)) as u32,
        ]
    }

    fn fault(&self, f: Fault, workgroup: [u32; 3], invocation: u32) -> RunError {
        let c = self.c;
        match f {
            Fault::Internal(reason) => RunError::Internal {
                kernel: c.name.clone(),
                reason: reason.to_string(),
            },
            Fault::Steps => RunError::StepLimitExceeded {
                kernel: c.name.clone(),
                limit: self.limit,
                workgroup,
                invocation,
            },
            Fault::OutOfBounds {
                mem,
                index,
                len,
                in_unsafe,
            } => {
                let buffer = match mem {
                    Mem::Ro(g) => c.ro_names[g as usize].clone(),
                    Mem::Rw(g) => c.rw_names[g as usize].clone(),
                    Mem::Shared(s) => c.shared_names[s as usize].clone(),
                    Mem::Private(a) => c.private_names[a as usize].clone(),
                };
                let kernel = c.name.clone();
                if in_unsafe {
                    RunError::OutOfBoundsInUnsafe {
                        kernel,
                        buffer,
                        index,
                        len,
                        workgroup,
                    }
                } else if c.unchecked {
                    RunError::OutOfBounds {
                        kernel,
                        buffer,
                        index,
                        len,
                        workgroup,
                    }
                } else {
                    RunError::UnsoundBoundsCheckElision {
                        kernel,
                        buffer,
                        index,
                        len,
                        workgroup,
                    }
                }
            }
        }
    }

    pub(super) fn workgroup(&self, s: &mut Scratch, wg: usize) -> Result<(), RunError> {
        let c = self.c;
        let wid = self.wg_id(wg);
        let size = c.workgroup_size;
        for a in &s.arena {
            a.store(0, Relaxed);
        }
        // Matrix elements are 0 when the kernel starts.
        s.mats.fill(0.0);
        s.wmats.fill(0.0);
        let nregs = c.nregs;
        let lane_mask = self.subgroup_size - 1;
        let set_builtins = |regs: &mut [Word], lid: [u32; 3]| {
            for k in 0..3 {
                regs[k] = Word::from(wid[k].wrapping_mul(size[k]).wrapping_add(lid[k]));
                regs[3 + k] = Word::from(lid[k]);
                regs[6 + k] = Word::from(wid[k]);
            }
        };
        if !c.interleaved() {
            let regs = &mut s.regs[..nregs];
            let mut inv = 0u32;
            for z in 0..size[2] {
                for y in 0..size[1] {
                    for x in 0..size[0] {
                        regs.copy_from_slice(self.template);
                        set_builtins(regs, [x, y, z]);
                        let mut pc = 0;
                        let mut steps = 0;
                        self.exec(regs, &s.arena, &mut pc, &mut steps)
                            .map_err(|f| self.fault(f, wid, inv))?;
                        inv += 1;
                    }
                }
            }
            return Ok(());
        }
        let n = s.pcs.len();
        for inv in 0..n {
            let regs = &mut s.regs[inv * nregs..(inv + 1) * nregs];
            regs.copy_from_slice(self.template);
            let x = inv as u32 % size[0];
            let y = (inv as u32 / size[0]) % size[1];
            let z = inv as u32 / (size[0] * size[1]);
            set_builtins(regs, [x, y, z]);
            if let Some(r) = c.lane {
                regs[r as usize] = Word::from(inv as u32 & lane_mask);
            }
            s.pcs[inv] = 0;
            s.steps[inv] = 0;
            s.done[inv] = false;
            s.parked[inv] = false;
        }
        loop {
            let mut waiting = 0usize;
            let mut finished = 0usize;
            for inv in 0..n {
                if s.done[inv] {
                    finished += 1;
                    continue;
                }
                if !s.parked[inv] {
                    let regs = &mut s.regs[inv * nregs..(inv + 1) * nregs];
                    match self
                        .exec(regs, &s.arena, &mut s.pcs[inv], &mut s.steps[inv])
                        .map_err(|f| self.fault(f, wid, inv as u32))?
                    {
                        Stop::Done => {
                            s.done[inv] = true;
                            finished += 1;
                            continue;
                        }
                        Stop::Barrier => s.parked[inv] = true,
                    }
                }
                waiting += 1;
            }
            if waiting == 0 {
                return Ok(());
            }
            // A matrix statement or a warpgroup barrier involves its
            // warpgroup or subgroup only: each group whose members all wait
            // at one goes ahead, wherever the others wait.
            let barriers = self.release_warpgroup_barriers(s);
            if self.release_matrix_groups(s, wid)? || barriers {
                continue;
            }
            // Otherwise everyone waits at the same barrier or subgroup
            // operation, which the whole workgroup takes part in.
            let first = (0..n).find(|&inv| !s.done[inv]);
            let split =
                (0..n).any(|inv| !s.done[inv] && first.map(|f| s.pcs[f]) != Some(s.pcs[inv]));
            if finished > 0 || split {
                // A matrix statement that some lanes of a subgroup skip is
                // a broken matrix contract first.
                if let Some(e) = self.matrix_participation(s, wid) {
                    return Err(e);
                }
                let detail = if split {
                    "invocations wait at different barriers or subgroup operations".to_string()
                } else {
                    format!(
                        "{finished} invocation(s) finished while {waiting} wait at a barrier or subgroup operation; every invocation must reach the same ones"
                    )
                };
                return Err(RunError::BarrierDivergence {
                    kernel: c.name.clone(),
                    workgroup: wid,
                    detail,
                });
            }
            // Every invocation stopped after the same instruction: when it
            // is a collective, combine each subgroup's values before
            // releasing them.
            if let Some(&Op::Subgroup { k, d, a, b }) = first.and_then(|f| self.waits_at(s, f)) {
                self.collective(&mut s.regs, n, k, [d, a, b]);
            }
            s.parked.fill(false);
        }
    }

    /// Execute the matrix statements whose group (warpgroup or subgroup,
    /// as the statement's matrices are held) waits at them whole, and let
    /// the group's invocations go on. Returns whether any did.
    fn release_matrix_groups(&self, s: &mut Scratch, wid: [u32; 3]) -> Result<bool, RunError> {
        let n = s.pcs.len();
        let mut released = false;
        for (size, warpgroup) in [(WARPGROUP, true), (self.subgroup_size as usize, false)] {
            for (g, first) in (0..n).step_by(size).enumerate() {
                let lanes = first..n.min(first + size);
                let Some((stmt, regs)) = self
                    .waits_at_matrix(s, first)
                    .filter(|&(m, _)| self.c.warpgroup_stmt(m) == warpgroup)
                else {
                    continue;
                };
                if lanes
                    .clone()
                    .all(|l| self.waits_at_matrix(s, l).is_some() && s.pcs[l] == s.pcs[first])
                {
                    self.matrix(s, stmt, regs, wid, g)?;
                    s.parked[lanes].fill(false);
                    released = true;
                }
            }
        }
        Ok(released)
    }

    /// Let every warpgroup whose invocations all wait at the same
    /// `warpgroup_barrier()` go on. Returns whether any did.
    fn release_warpgroup_barriers(&self, s: &mut Scratch) -> bool {
        let n = s.pcs.len();
        let at_barrier =
            |s: &Scratch, inv: usize| matches!(self.waits_at(s, inv), Some(Op::WarpgroupBarrier));
        let mut released = false;
        for first in (0..n).step_by(WARPGROUP) {
            let lanes = first..n.min(first + WARPGROUP);
            if lanes
                .clone()
                .all(|l| at_barrier(s, l) && s.pcs[l] == s.pcs[first])
            {
                s.parked[lanes].fill(false);
                released = true;
            }
        }
        released
    }

    /// The barrier, collective or matrix statement invocation `inv` waits
    /// at, if it waits (it stopped after it: `pcs` is one past it).
    fn waits_at(&self, s: &Scratch, inv: usize) -> Option<&Op> {
        if s.done[inv] || !s.parked[inv] {
            return None;
        }
        (s.pcs[inv] as usize)
            .checked_sub(1)
            .and_then(|at| self.c.code.get(at))
    }

    /// The matrix statement invocation `inv` waits at, if any, with its
    /// operand registers.
    fn waits_at_matrix(&self, s: &Scratch, inv: usize) -> Option<(u32, [u32; 2])> {
        match self.waits_at(s, inv) {
            Some(&Op::Matrix { s, a, b }) => Some((s, [a, b])),
            _ => None,
        }
    }

    /// When invocations stopped at different places: a warpgroup some of
    /// whose invocations wait at a statement on warpgroup matrices that
    /// others do not, as a [`RunError::WarpgroupOperandsDiffer`], or a
    /// subgroup some of whose lanes wait at a statement on subgroup
    /// matrices that others do not, as a [`RunError::MatrixOperandsDiffer`].
    fn matrix_participation(&self, s: &Scratch, wid: [u32; 3]) -> Option<RunError> {
        self.group_participation(s, wid, WARPGROUP, true)
            .or_else(|| self.group_participation(s, wid, self.subgroup_size as usize, false))
    }

    /// [`Launch::matrix_participation`] for groups of `size` consecutive
    /// invocations and statements on warpgroup matrices (`warpgroup`) or
    /// on subgroup ones.
    fn group_participation(
        &self,
        s: &Scratch,
        wid: [u32; 3],
        size: usize,
        warpgroup: bool,
    ) -> Option<RunError> {
        let n = s.pcs.len();
        for first in (0..n).step_by(size) {
            let lanes = first..n.min(first + size);
            let Some((at, stmt)) = lanes.clone().find_map(|l| {
                self.waits_at_matrix(s, l)
                    .filter(|&(m, _)| self.c.warpgroup_stmt(m) == warpgroup)
                    .map(|(m, _)| (l, m))
            }) else {
                continue;
            };
            let Some(other) = lanes.clone().find(|&l| s.done[l] || s.pcs[l] != s.pcs[at]) else {
                continue;
            };
            let what = if s.done[other] {
                "finished"
            } else {
                "waits at another barrier, subgroup operation or matrix statement"
            };
            let member = if warpgroup { "invocation" } else { "lane" };
            let detail = format!(
                "{member} {} executes it, {member} {} does not (it {what})",
                at - first,
                other - first
            );
            return Some(self.operands_differ(wid, warpgroup, first / size, stmt, detail));
        }
        None
    }

    /// The error of group `g` (a warpgroup's or a subgroup's) executing
    /// matrix statement `stmt` with different operands.
    fn operands_differ(
        &self,
        workgroup: [u32; 3],
        warpgroup: bool,
        g: usize,
        stmt: u32,
        detail: String,
    ) -> RunError {
        let (kernel, statement) = (
            self.c.name.clone(),
            self.c.matrix_descs[stmt as usize].clone(),
        );
        if warpgroup {
            RunError::WarpgroupOperandsDiffer {
                kernel,
                workgroup,
                warpgroup: g as u32,
                statement,
                detail,
            }
        } else {
            RunError::MatrixOperandsDiffer {
                kernel,
                workgroup,
                subgroup: g as u32,
                statement,
                detail,
            }
        }
    }

    /// Execute matrix statement `stmt` (operand registers `a`, `b`) for
    /// group `g` of the workgroup (its `g`-th subgroup, or warpgroup for a
    /// statement on warpgroup matrices), whose invocations all wait at it:
    /// first check that every member of the group passed the same
    /// operands, then act on the group's tiles.
    fn matrix(
        &self,
        s: &mut Scratch,
        stmt: u32,
        [ra, rb]: [u32; 2],
        wid: [u32; 3],
        g: usize,
    ) -> Result<(), RunError> {
        let c = self.c;
        let n = s.pcs.len();
        let nregs = c.nregs;
        let op = c.matrix_ops[stmt as usize];
        let warpgroup = c.warpgroup_stmt(stmt);
        let (size, words) = if warpgroup {
            (WARPGROUP, c.warpgroup_words)
        } else {
            (self.subgroup_size as usize, c.matrix_words)
        };
        let member = if warpgroup { "invocation" } else { "lane" };
        let first = g * size;
        let lanes = n.min(first + size) - first;
        // (offset or fill bits, stride, then a clip's rows and cols or
        // the offset and stride of a warpgroup multiply's `B`); an
        // unclipped statement has the clip `u32::MAX`, which no tile
        // reaches.
        let extra = op.extra();
        let operands = |l: usize| {
            let r = &s.regs[(first + l) * nregs..][..nregs];
            let (e0, e1) = extra.map_or((u32::MAX, u32::MAX), |[e0, e1]| {
                (r[e0 as usize] as u32, r[e1 as usize] as u32)
            });
            [r[ra as usize] as u32, r[rb as usize] as u32, e0, e1]
        };
        let ops = operands(0);
        if let MatStmt::Map { d, src, map } = op {
            return self
                .map(s, (g, first, lanes), [stmt, d, src, map], wid)
                .map_err(|e| e.unwrap_or_else(|(f, inv)| self.fault(f, wid, inv)));
        }
        if !matches!(op, MatStmt::MultiplyAdd { .. })
            && let Some(l) = (1..lanes).find(|&l| operands(l) != ops)
        {
            let [x, y, cr, cc] = ops;
            let [lx, ly, lr, lc] = operands(l);
            let (wgmma, shared_a) = match op {
                MatStmt::WarpgroupMultiplyAdd { a, .. } => (true, matches!(a, WgA::Shared(_))),
                _ => (false, false),
            };
            // An accumulator `A` passes `B`'s operands in its place.
            let (a, b) = match (wgmma, shared_a) {
                (true, true) => ("A ", "B "),
                (true, false) => ("B ", "B "),
                _ => ("", ""),
            };
            let detail = if let MatStmt::Fill { .. } = op {
                format!(
                    "{member} 0 fills with {:?} ({x:#010x}), {member} {l} with {:?} ({lx:#010x})",
                    f32::from_bits(x),
                    f32::from_bits(lx)
                )
            } else if lx != x {
                format!("{member} 0 passes {a}offset {x}, {member} {l} {a}offset {lx}")
            } else if ly != y {
                format!("{member} 0 passes {a}stride {y}, {member} {l} {a}stride {ly}")
            } else if wgmma && lr != cr {
                format!("{member} 0 passes {b}offset {cr}, {member} {l} {b}offset {lr}")
            } else if wgmma {
                format!("{member} 0 passes {b}stride {cc}, {member} {l} {b}stride {lc}")
            } else if lr != cr {
                format!("{member} 0 clips to {cr} rows, {member} {l} to {lr}")
            } else {
                format!("{member} 0 clips to {cc} columns, {member} {l} to {lc}")
            };
            return Err(self.operands_differ(wid, warpgroup, g, stmt, detail));
        }
        let mats = if warpgroup { &mut s.wmats } else { &mut s.mats };
        let block = &mut mats[g * words..][..words];
        let in_unsafe = c.matrix_in_unsafe[stmt as usize];
        self.matrix_op(
            op,
            block,
            (&mut s.acc, &mut s.tiles),
            &s.arena,
            ops,
            in_unsafe,
        )
        .map_err(|f| self.fault(f.in_unsafe(in_unsafe), wid, first as u32))?;
        Ok(())
    }

    /// `matrix_map` (`Compiled::maps[map]`) for warpgroup `g` (invocations
    /// `first .. first + lanes`): check that they hold equal values in the
    /// locals the expression reads, then run the expression's subroutine
    /// per element on a copy of invocation `first`'s registers with the
    /// row, column and value set. `Err(Ok(e))` is a broken contract,
    /// `Err(Err((fault, invocation)))` a fault of the expression.
    fn map(
        &self,
        s: &mut Scratch,
        (g, first, lanes): (usize, usize, usize),
        [stmt, d, src, map]: [u32; 4],
        wid: [u32; 3],
    ) -> Result<(), Result<RunError, (Fault, u32)>> {
        let c = self.c;
        let nregs = c.nregs;
        let Some(code) = c.maps.get(map as usize) else {
            return Err(Err((
                Fault::Internal("no such map expression"),
                first as u32,
            )));
        };
        let reg = |l: usize, r: u32| s.regs[(first + l) * nregs + r as usize];
        for (r, name) in &code.uniform {
            let x = reg(0, *r);
            if let Some(l) = (1..lanes).find(|&l| reg(l, *r) != x) {
                let y = reg(l, *r);
                let detail = format!(
                    "`matrix_map` reads `{name}`, which invocation 0 holds as {x:#010x} and invocation {l} as {y:#010x}; the locals a `matrix_map` reads must be equal across the warpgroup"
                );
                return Err(Ok(self.operands_differ(wid, true, g, stmt, detail)));
            }
        }
        let (sd, ss) = (c.matrices[d as usize], c.matrices[src as usize]);
        s.map_regs.clear();
        s.map_regs
            .extend_from_slice(&s.regs[first * nregs..][..nregs]);
        let block = &mut s.wmats[g * c.warpgroup_words..][..c.warpgroup_words];
        for r in 0..ss.rows {
            for col in 0..ss.cols {
                let e = (r * ss.cols + col) as usize;
                s.map_regs[code.row as usize] = Word::from(r);
                s.map_regs[code.col as usize] = Word::from(col);
                s.map_regs[code.value as usize] = Word::from(block[ss.offset + e].to_bits());
                let (mut pc, mut steps) = (code.entry, 0);
                match self.exec(&mut s.map_regs, &s.arena, &mut pc, &mut steps) {
                    Ok(Stop::Done) => {}
                    Ok(Stop::Barrier) => {
                        return Err(Err((
                            Fault::Internal("a collective in a `matrix_map` expression"),
                            first as u32,
                        )));
                    }
                    Err(f) => return Err(Err((f, first as u32))),
                }
                // Element `e` of `src` was read above: `d` may be `src`.
                block[sd.offset + e] = f32::from_bits(s.map_regs[code.result as usize] as u32);
            }
        }
        Ok(())
    }

    /// One group's matrix statement `op` on its tiles `block`, with
    /// operands `[x, y, e0, e1]`: (offset, stride), or the fill value's
    /// bits; a load or store touches only elements `(r, c)` with `r < e0`
    /// and `c < e1`; a warpgroup multiply reads `A` at offset `x`, stride
    /// `y` and `B` at offset `e0`, stride `e1`.
    fn matrix_op(
        &self,
        op: MatStmt,
        block: &mut [f32],
        (acc, tiles): (&mut Vec<f32>, &mut Vec<f32>),
        arena: &[AtomicU32],
        [x, y, rows, cols]: [u32; 4],
        in_unsafe: bool,
    ) -> Result<(), Fault> {
        let slot = |m: u32| self.c.matrices[m as usize];
        // Out of range is an error, not the language's zero / dropped
        // store, where nothing checks the access on a GPU.
        let unchecked = self.c.unchecked || in_unsafe;
        match op {
            MatStmt::Fill { m } => {
                let m = slot(m);
                block[m.offset..][..m.len()].fill(f32::from_bits(x));
            }
            MatStmt::Load {
                m,
                mem,
                elem,
                layout,
                ..
            } => {
                let m = slot(m);
                let t = &mut block[m.offset..][..m.len()];
                for r in 0..m.rows {
                    for col in 0..m.cols {
                        if r >= rows || col >= cols {
                            // Clipped out: reads 0, touching no memory.
                            t[(r * m.cols + col) as usize] = 0.0;
                            continue;
                        }
                        let index = u64::from(x) + layout.index(r, col, y);
                        let bits = match self.word(arena, mem, index) {
                            Ok(w) => w,
                            Err(len) if unchecked => return Err(oob64(mem, index, len)),
                            Err(_) => 0,
                        };
                        t[(r * m.cols + col) as usize] = element_value(elem, bits);
                    }
                }
            }
            MatStmt::Store {
                m,
                mem,
                elem,
                layout,
                ..
            } => {
                let m = slot(m);
                let t = &block[m.offset..][..m.len()];
                // Clipped-out rows and columns are not written.
                for r in 0..m.rows.min(rows) {
                    for col in 0..m.cols.min(cols) {
                        let index = u64::from(x) + layout.index(r, col, y);
                        let bits = element_bits(elem, t[(r * m.cols + col) as usize]);
                        match self.cell(arena, mem, index) {
                            Ok(w) => w.store(bits, Relaxed),
                            Err(len) if unchecked => return Err(oob64(mem, index, len)),
                            Err(_) => {}
                        }
                    }
                }
            }
            MatStmt::MultiplyAdd { d, a, b, c, shape } => {
                let (mm, nn, kk) = (shape.m as usize, shape.n as usize, shape.k as usize);
                let (a, b) = (slot(a), slot(b));
                let (c, d) = (slot(c), slot(d));
                acc.clear();
                acc.extend_from_slice(&block[c.offset..][..c.len()]);
                let ta = &block[a.offset..][..a.len()];
                let tb = &block[b.offset..][..b.len()];
                // Element (i, j) adds its products in order of `k`, each
                // rounded once (the multiply of two `f16`/`bf16` values is
                // exact but for under- and overflow, and Rust does not
                // contract `+` and `*` into a fused multiply-add); looping
                // over `k` outside `j` keeps that order per element and
                // walks rows of B.
                for i in 0..mm {
                    let row = &mut acc[i * nn..][..nn];
                    for k in 0..kk {
                        let av = ta[i * kk + k];
                        let brow = &tb[k * nn..][..nn];
                        for (o, &bv) in row.iter_mut().zip(brow) {
                            *o += av * bv;
                        }
                    }
                }
                block[d.offset..][..d.len()].copy_from_slice(acc);
            }
            // Executed by `Launch::map`, which has the registers.
            MatStmt::Map { .. } => {
                return Err(Fault::Internal("`matrix_map` outside `Launch::map`"));
            }
            MatStmt::RowReduce { op, src, dst } => {
                let m = slot(src);
                let t = &block[m.offset..][..m.len()];
                let mem = Mem::Shared(dst);
                for r in 0..m.rows {
                    let row = &t[(r * m.cols) as usize..][..m.cols as usize];
                    let v = match op {
                        // `f32::max` ignores NaN elements.
                        crate::ir::RowReduceOp::Max => {
                            row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x))
                        }
                        crate::ir::RowReduceOp::Add => row.iter().fold(0.0, |a, &x| a + x),
                    };
                    let index = u64::from(x) + u64::from(r);
                    match self.cell(arena, mem, index) {
                        Ok(w) => w.store(v.to_bits(), Relaxed),
                        Err(len) if unchecked => return Err(oob64(mem, index, len)),
                        Err(_) => {}
                    }
                }
            }
            MatStmt::WarpgroupMultiplyAdd {
                d,
                c,
                a,
                b,
                elem,
                b_layout,
                shape,
                ..
            } => {
                let (mm, nn, kk) = (shape.m, shape.n, shape.k);
                // `A` (`m x k`) then `B` (`k x n`), read as loads do.
                tiles.clear();
                let read = |tiles: &mut Vec<f32>,
                            mem: Mem,
                            (off, stride, layout): (u32, u32, crate::ir::MatrixLayout),
                            (r, cc): (u32, u32)| {
                    for i in 0..r {
                        for j in 0..cc {
                            let index = u64::from(off) + layout.index(i, j, stride);
                            let bits = match self.word(arena, mem, index) {
                                Ok(w) => w,
                                Err(len) if unchecked => {
                                    return Err(oob64(mem, index, len));
                                }
                                Err(_) => 0,
                            };
                            tiles.push(element_value(elem, bits));
                        }
                    }
                    Ok(())
                };
                match a {
                    WgA::Shared(a) => read(
                        tiles,
                        Mem::Shared(a),
                        (x, y, crate::ir::MatrixLayout::RowMajor),
                        (mm, kk),
                    )?,
                    // Each element rounded to nearest even to `B`'s type
                    // (`(v as bf16) as f32`, like `Op::QuantBF16`).
                    WgA::Acc(p) => {
                        let p = slot(p);
                        tiles.extend(
                            block[p.offset..][..p.len()]
                                .iter()
                                .map(|&v| element_value(elem, element_bits(elem, v))),
                        );
                    }
                }
                read(tiles, Mem::Shared(b), (rows, cols, b_layout), (kk, nn))?;
                let (ta, tb) = tiles.split_at(mm as usize * kk as usize);
                let (mm, nn, kk) = (mm as usize, nn as usize, kk as usize);
                let (c, d) = (slot(c), slot(d));
                acc.clear();
                acc.extend_from_slice(&block[c.offset..][..c.len()]);
                // The order of `MultiplyAdd`.
                for i in 0..mm {
                    let row = &mut acc[i * nn..][..nn];
                    for k in 0..kk {
                        let av = ta[i * kk + k];
                        let brow = &tb[k * nn..][..nn];
                        for (o, &bv) in row.iter_mut().zip(brow) {
                            *o += av * bv;
                        }
                    }
                }
                block[d.offset..][..d.len()].copy_from_slice(acc);
            }
        }
        Ok(())
    }

    /// The word at `index` of buffer or shared array `mem`, or its length
    /// when out of range.
    fn word(&self, arena: &[AtomicU32], mem: Mem, index: u64) -> Result<u32, usize> {
        let at = usize::try_from(index).unwrap_or(usize::MAX);
        match mem {
            Mem::Ro(g) => {
                let buf = self.ro[g as usize];
                buf.get(at).copied().ok_or(buf.len())
            }
            _ => self.cell(arena, mem, index).map(|w| w.load(Relaxed)),
        }
    }

    /// The writable cell at `index` of read-write buffer or shared array
    /// `mem`, or its length when out of range (a read-only buffer, which
    /// validation never lets a statement write, has no cells).
    fn cell<'s>(
        &'s self,
        arena: &'s [AtomicU32],
        mem: Mem,
        index: u64,
    ) -> Result<&'s AtomicU32, usize> {
        let at = usize::try_from(index).unwrap_or(usize::MAX);
        match mem {
            Mem::Rw(g) => {
                let buf = self.rw[g as usize];
                buf.get(at).ok_or(buf.len())
            }
            Mem::Shared(a) => {
                let (off, len) = self.c.shared[a as usize];
                if at < len {
                    Ok(&arena[off + at])
                } else {
                    Err(len)
                }
            }
            Mem::Ro(_) | Mem::Private(_) => Err(0),
        }
    }

    /// Execute the collective `k` for every subgroup of the workgroup's `n`
    /// invocations (register files `regs`, `nregs` each): read operand `a`
    /// (and lane operand `b`) of every lane, then write result `d` of every
    /// lane (`d` may be `a` or `b`). The last subgroup is partial when `n`
    /// is not a multiple of the subgroup size.
    fn collective(&self, regs: &mut [Word], n: usize, k: SubgroupK, [d, a, b]: [u32; 3]) {
        let nregs = self.c.nregs;
        let size = self.subgroup_size as usize;
        let (d, a, b) = (d as usize, a as usize, b as usize);
        let mut vals = [0u32; super::MAX_SUBGROUP_SIZE as usize];
        let mut lanes = [0u32; super::MAX_SUBGROUP_SIZE as usize];
        let mut out = [0u32; super::MAX_SUBGROUP_SIZE as usize];
        for first in (0..n).step_by(size) {
            let count = size.min(n - first);
            for l in 0..count {
                let r = &regs[(first + l) * nregs..][..nregs];
                // Collectives take values of at most 32 bits.
                vals[l] = r[a] as u32;
                lanes[l] = r[b] as u32;
            }
            subgroup_combine(k, size, &vals[..count], &lanes[..count], &mut out[..count]);
            for l in 0..count {
                regs[(first + l) * nregs + d] = Word::from(out[l]);
            }
        }
    }

    /// Run one invocation (registers `r`, its private arrays included)
    /// from `pc` until it finishes or reaches a barrier.
    #[allow(clippy::too_many_lines)]
    fn exec(
        &self,
        r: &mut [Word],
        arena: &[AtomicU32],
        pc_io: &mut u32,
        steps_io: &mut u64,
    ) -> Result<Stop, Fault> {
        let code = &self.c.code[..];
        let ro = self.ro;
        let rw = self.rw;
        let shared = &self.c.shared[..];
        let unchecked = self.c.unchecked;
        // Accesses whose check the bounds analysis elides: out of range
        // there means the analysis is wrong (checked on the cold path only).
        let proven = &self.c.proven[..];
        // Instructions of `unsafe` blocks: an out-of-range access there is
        // the kernel author's error.
        let in_unsafe = &self.c.in_unsafe[..];
        let limit = self.limit;
        let mut pc = *pc_io as usize;
        let mut steps = *steps_io;
        let f = |x: u32| f32::from_bits(x);
        let i = |x: u32| x as i32;
        if r.len() != self.c.nregs {
            return Err(Fault::Internal("register file of the wrong size"));
        }

        let rp = r.as_mut_ptr();
        // SAFETY (for `rd!`, `wr!` and the `code` read below):
        // `Compiled::new` verified that every register operand is below
        // `nregs` (= `r.len()`, checked above), that every jump target lies
        // inside `code`, that `code` ends with `Halt` and that a private
        // array's registers `base..base + len` exist; so `pc` always indexes
        // `code` and every register access is in bounds.
        // `rd!`/`wr!` read and write a 32-bit value (the low half of the
        // register, written zero-extended); `rdw!`/`wrw!` the whole
        // register (64-bit values, and copies of a value of any type).
        macro_rules! rd {
            ($x:expr) => {{
                let at = $x as usize;
                unsafe { *rp.add(at) as u32 }
            }};
        }
        macro_rules! wr {
            ($x:expr, $v:expr) => {{
                let v: u32 = $v;
                let at = $x as usize;
                unsafe { *rp.add(at) = Word::from(v) }
            }};
        }
        macro_rules! rdw {
            ($x:expr) => {{
                let at = $x as usize;
                unsafe { *rp.add(at) }
            }};
        }
        // An out-of-range fault of the instruction being executed, marked
        // when that instruction comes from an `unsafe` block.
        macro_rules! here {
            ($fault:expr) => {
                $fault.in_unsafe(in_unsafe[pc - 1])
            };
        }
        macro_rules! wrw {
            ($x:expr, $v:expr) => {{
                let v: Word = $v;
                let at = $x as usize;
                unsafe { *rp.add(at) = v }
            }};
        }
        macro_rules! bin {
            ($d:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $e:expr) => {{
                let $x = rd!($a);
                let $y = rd!($b);
                wr!($d, $e);
            }};
        }
        macro_rules! un {
            ($d:expr, $a:expr, |$x:ident| $e:expr) => {{
                let $x = rd!($a);
                wr!($d, $e);
            }};
        }
        loop {
            steps += 1;
            if steps > limit {
                *pc_io = pc as u32;
                *steps_io = steps;
                return Err(Fault::Steps);
            }
            let op = unsafe { *code.get_unchecked(pc) };
            pc += 1;
            match op {
                Op::Mov { d, a } => wrw!(d, rdw!(a)),
                Op::AddI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_add(y)),
                Op::SubI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_sub(y)),
                Op::MulI { d, a, b } => bin!(d, a, b, |x, y| x.wrapping_mul(y)),
                Op::DivU { d, a, b } => bin!(d, a, b, |x, y| x.checked_div(y).unwrap_or(0)),
                Op::DivI { d, a, b } => bin!(d, a, b, |x, y| if y == 0 {
                    0
                } else {
                    i(x).wrapping_div(i(y)) as u32
                }),
                Op::RemU { d, a, b } => bin!(d, a, b, |x, y| x.checked_rem(y).unwrap_or(0)),
                Op::RemI { d, a, b } => bin!(d, a, b, |x, y| if y == 0 {
                    0
                } else {
                    i(x).wrapping_rem(i(y)) as u32
                }),
                Op::AddF { d, a, b } => bin!(d, a, b, |x, y| (f(x) + f(y)).to_bits()),
                Op::SubF { d, a, b } => bin!(d, a, b, |x, y| (f(x) - f(y)).to_bits()),
                Op::MulF { d, a, b } => bin!(d, a, b, |x, y| (f(x) * f(y)).to_bits()),
                Op::DivF { d, a, b } => bin!(d, a, b, |x, y| (f(x) / f(y)).to_bits()),
                Op::RemF { d, a, b } => bin!(d, a, b, |x, y| (f(x) % f(y)).to_bits()),
                Op::And { d, a, b } => bin!(d, a, b, |x, y| x & y),
                Op::Or { d, a, b } => bin!(d, a, b, |x, y| x | y),
                Op::Xor { d, a, b } => bin!(d, a, b, |x, y| x ^ y),
                Op::Shl { d, a, b } => bin!(d, a, b, |x, y| x << (y & 31)),
                Op::ShrU { d, a, b } => bin!(d, a, b, |x, y| x >> (y & 31)),
                Op::ShrI { d, a, b } => bin!(d, a, b, |x, y| (i(x) >> (y & 31)) as u32),
                Op::EqI { d, a, b } => bin!(d, a, b, |x, y| u32::from(x == y)),
                Op::NeI { d, a, b } => bin!(d, a, b, |x, y| u32::from(x != y)),
                Op::EqF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) == f(y))),
                Op::NeF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) != f(y))),
                Op::LtU { d, a, b } => bin!(d, a, b, |x, y| u32::from(x < y)),
                Op::LtI { d, a, b } => bin!(d, a, b, |x, y| u32::from(i(x) < i(y))),
                Op::LtF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) < f(y))),
                Op::LeU { d, a, b } => bin!(d, a, b, |x, y| u32::from(x <= y)),
                Op::LeI { d, a, b } => bin!(d, a, b, |x, y| u32::from(i(x) <= i(y))),
                Op::LeF { d, a, b } => bin!(d, a, b, |x, y| u32::from(f(x) <= f(y))),
                Op::NegI { d, a } => un!(d, a, |x| x.wrapping_neg()),
                Op::NegF { d, a } => un!(d, a, |x| (-f(x)).to_bits()),
                Op::NotB { d, a } => un!(d, a, |x| x ^ 1),
                Op::NotI { d, a } => un!(d, a, |x| !x),
                Op::IToF { d, a } => un!(d, a, |x| (i(x) as f32).to_bits()),
                Op::UToF { d, a } => un!(d, a, |x| (x as f32).to_bits()),
                Op::FToI { d, a } => un!(d, a, |x| f(x) as i32 as u32),
                Op::FToU { d, a } => un!(d, a, |x| f(x) as u32),
                Op::WidenF16 { d, a } => {
                    un!(d, a, |x| half::f16::from_bits(x as u16).to_f32().to_bits());
                }
                Op::WidenBF16 { d, a } => un!(d, a, |x| x << 16),
                Op::ToF16 { d, a } => {
                    un!(d, a, |x| u32::from(half::f16::from_f32(f(x)).to_bits()));
                }
                Op::ToBF16 { d, a } => {
                    un!(d, a, |x| u32::from(half::bf16::from_f32(f(x)).to_bits()));
                }
                Op::QuantF16 { d, a } => {
                    un!(d, a, |x| half::f16::from_f32(f(x)).to_f32().to_bits());
                }
                Op::QuantBF16 { d, a } => {
                    un!(d, a, |x| half::bf16::from_f32(f(x)).to_f32().to_bits());
                }
                Op::ZExt8 { d, a } => un!(d, a, |x| x & 0xFF),
                Op::ZExt16 { d, a } => un!(d, a, |x| x & 0xFFFF),
                Op::SExt8 { d, a } => un!(d, a, |x| i32::from(x as u8 as i8) as u32),
                Op::SExt16 { d, a } => un!(d, a, |x| i32::from(x as u16 as i16) as u32),
                Op::Sqrt { d, a } => un!(d, a, |x| f(x).sqrt().to_bits()),
                Op::Exp { d, a } => un!(d, a, |x| f(x).exp().to_bits()),
                Op::Exp2 { d, a } => un!(d, a, |x| f(x).exp2().to_bits()),
                Op::Ln { d, a } => un!(d, a, |x| f(x).ln().to_bits()),
                Op::Sin { d, a } => un!(d, a, |x| f(x).sin().to_bits()),
                Op::Cos { d, a } => un!(d, a, |x| f(x).cos().to_bits()),
                Op::Tanh { d, a } => un!(d, a, |x| f(x).tanh().to_bits()),
                Op::Floor { d, a } => un!(d, a, |x| f(x).floor().to_bits()),
                Op::Ceil { d, a } => un!(d, a, |x| f(x).ceil().to_bits()),
                Op::AbsF { d, a } => un!(d, a, |x| f(x).abs().to_bits()),
                Op::AbsI { d, a } => un!(d, a, |x| i(x).wrapping_abs() as u32),
                Op::MinF { d, a, b } => bin!(d, a, b, |x, y| f(x).min(f(y)).to_bits()),
                Op::MinU { d, a, b } => bin!(d, a, b, |x, y| x.min(y)),
                Op::MinI { d, a, b } => bin!(d, a, b, |x, y| i(x).min(i(y)) as u32),
                Op::MaxF { d, a, b } => bin!(d, a, b, |x, y| f(x).max(f(y)).to_bits()),
                Op::MaxU { d, a, b } => bin!(d, a, b, |x, y| x.max(y)),
                Op::MaxI { d, a, b } => bin!(d, a, b, |x, y| i(x).max(i(y)) as u32),
                Op::Powf { d, a, b } => bin!(d, a, b, |x, y| f(x).powf(f(y)).to_bits()),
                Op::ClampF { d, a, b, c } => {
                    let v = f(rd!(a)).max(f(rd!(b))).min(f(rd!(c)));
                    wr!(d, v.to_bits());
                }
                Op::ClampU { d, a, b, c } => {
                    wr!(d, rd!(a).max(rd!(b)).min(rd!(c)));
                }
                Op::ClampI { d, a, b, c } => {
                    let v = i(rd!(a)).max(i(rd!(b))).min(i(rd!(c)));
                    wr!(d, v as u32);
                }
                Op::MulAdd { d, a, b, c } => {
                    let v = f(rd!(a)).mul_add(f(rd!(b)), f(rd!(c)));
                    wr!(d, v.to_bits());
                }
                Op::Select { d, c, a, b } => {
                    wrw!(d, if rd!(c) != 0 { rdw!(a) } else { rdw!(b) });
                }
                Op::Wide { k, d, a, b, c } => wrw!(d, wide(k, rdw!(a), rdw!(b), rdw!(c))),
                Op::Conv { d, a, from, to } => wrw!(d, convert(rdw!(a), from, to)),
                Op::Load64 { d, m, i: ix } => {
                    let index = rd!(ix);
                    let at = u64::from(index) * 2;
                    match (self.word(arena, m, at), self.word(arena, m, at + 1)) {
                        (Ok(lo), Ok(hi)) => wrw!(d, join_words([lo, hi])),
                        (Err(len), _) | (_, Err(len)) if unchecked || proven[pc - 1] => {
                            return Err(here!(oob(m, index, len / 2)));
                        }
                        _ => wrw!(d, 0),
                    }
                }
                Op::Store64 { m, i: ix, v } => {
                    let index = rd!(ix);
                    let at = u64::from(index) * 2;
                    match (self.cell(arena, m, at), self.cell(arena, m, at + 1)) {
                        (Ok(lo), Ok(hi)) => {
                            let [l, h] = split_word(rdw!(v));
                            lo.store(l, Relaxed);
                            hi.store(h, Relaxed);
                        }
                        (Err(len), _) | (_, Err(len)) if unchecked || proven[pc - 1] => {
                            return Err(here!(oob(m, index, len / 2)));
                        }
                        _ => {}
                    }
                }
                Op::LoadMad { d, m, a, b, c } => {
                    let index = rd!(a).wrapping_mul(rd!(b)).wrapping_add(rd!(c));
                    let at = index as usize;
                    let (word, len) = match m {
                        Mem::Ro(g) => {
                            let buf = ro[g as usize];
                            (buf.get(at).copied(), buf.len())
                        }
                        Mem::Rw(g) => {
                            let buf = rw[g as usize];
                            (buf.get(at).map(|w| w.load(Relaxed)), buf.len())
                        }
                        Mem::Shared(s) => {
                            let (off, len) = shared[s as usize];
                            let w = (at < len).then(|| arena[off + at].load(Relaxed));
                            (w, len)
                        }
                        // Never emitted for private arrays (see `Codegen::expr`).
                        Mem::Private(_) => {
                            return Err(Fault::Internal("`LoadMad` of a private array"));
                        }
                    };
                    match word {
                        Some(w) => wr!(d, w),
                        None if unchecked || proven[pc - 1] => {
                            return Err(here!(oob(m, index, len)));
                        }
                        None => wr!(d, 0),
                    }
                }
                Op::LoadR { d, m, i: ix } => {
                    let buf = ro[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        match buf.get(index as usize) {
                            Some(w) => *w,
                            None if unchecked || proven[pc - 1] => {
                                return Err(here!(oob(Mem::Ro(m), index, buf.len())));
                            }
                            None => 0,
                        }
                    );
                }
                Op::LoadG { d, m, i: ix } => {
                    let buf = rw[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        match buf.get(index as usize) {
                            Some(w) => w.load(Relaxed),
                            None if unchecked || proven[pc - 1] => {
                                return Err(here!(oob(Mem::Rw(m), index, buf.len())));
                            }
                            None => 0,
                        }
                    );
                }
                Op::LoadS { d, m, i: ix } => {
                    let (off, len) = shared[m as usize];
                    let index = rd!(ix);
                    wr!(
                        d,
                        if (index as usize) < len {
                            arena[off + index as usize].load(Relaxed)
                        } else if unchecked || proven[pc - 1] {
                            return Err(here!(oob(Mem::Shared(m), index, len)));
                        } else {
                            0
                        }
                    );
                }
                // `index < len` puts `base + index` below `base + len`,
                // which `verify` checked is within the register file.
                Op::LoadP {
                    d,
                    m,
                    i: ix,
                    base,
                    len,
                } => {
                    let index = rd!(ix);
                    wrw!(
                        d,
                        if index < len {
                            rdw!(base + index)
                        } else if unchecked || proven[pc - 1] {
                            return Err(here!(oob(Mem::Private(m), index, len as usize)));
                        } else {
                            0
                        }
                    );
                }
                Op::StoreP {
                    m,
                    i: ix,
                    v,
                    base,
                    len,
                } => {
                    let index = rd!(ix);
                    if index < len {
                        wrw!(base + index, rdw!(v));
                    } else if unchecked || proven[pc - 1] {
                        return Err(here!(oob(Mem::Private(m), index, len as usize)));
                    }
                }
                Op::StoreG { m, i: ix, v } => {
                    let buf = rw[m as usize];
                    let index = rd!(ix);
                    match buf.get(index as usize) {
                        Some(w) => w.store(rd!(v), Relaxed),
                        None if unchecked || proven[pc - 1] => {
                            return Err(here!(oob(Mem::Rw(m), index, buf.len())));
                        }
                        None => {}
                    }
                }
                Op::StoreS { m, i: ix, v } => {
                    let (off, len) = shared[m as usize];
                    let index = rd!(ix);
                    if (index as usize) < len {
                        arena[off + index as usize].store(rd!(v), Relaxed);
                    } else if unchecked || proven[pc - 1] {
                        return Err(here!(oob(Mem::Shared(m), index, len)));
                    }
                }
                Op::Atomic { k, d, m, i: ix, v } => {
                    let index = rd!(ix);
                    let val = rd!(v);
                    wr!(
                        d,
                        match cell(rw, arena, shared, m, index) {
                            Ok(w) => atomic_rmw(w, k, val),
                            Err(len) if unchecked || proven[pc - 1] =>
                                return Err(here!(oob(m, index, len))),
                            Err(_) => 0,
                        }
                    );
                }
                Op::Cas { d, m, i: ix, e, v } => {
                    let index = rd!(ix);
                    let (exp, val) = (rd!(e), rd!(v));
                    wr!(
                        d,
                        match cell(rw, arena, shared, m, index) {
                            Ok(w) => match w.compare_exchange(exp, val, Relaxed, Relaxed) {
                                Ok(old) | Err(old) => old,
                            },
                            Err(len) if unchecked || proven[pc - 1] =>
                                return Err(here!(oob(m, index, len))),
                            Err(_) => 0,
                        }
                    );
                }
                Op::Jump { t } => pc = t as usize,
                Op::ForNextU { v, e, t } => {
                    let next = rd!(v).wrapping_add(1);
                    wr!(v, next);
                    if next < rd!(e) {
                        pc = t as usize;
                    }
                }
                Op::ForNextI { v, e, t } => {
                    let next = rd!(v).wrapping_add(1);
                    wr!(v, next);
                    if i(next) < i(rd!(e)) {
                        pc = t as usize;
                    }
                }
                // `v + step` overflowing the type ends the loop (falls
                // through to the exit): it must not wrap back below `e`.
                Op::ForStepU { v, e, step, t } => {
                    if let Some(next) = rd!(v).checked_add(step) {
                        wr!(v, next);
                        if next < rd!(e) {
                            pc = t as usize;
                        }
                    }
                }
                Op::ForStepI { v, e, step, t } => {
                    // Validation keeps an `i32` loop's step within `i32::MAX`.
                    if let Some(next) = i(rd!(v)).checked_add(i(step)) {
                        wr!(v, next as u32);
                        if next < i(rd!(e)) {
                            pc = t as usize;
                        }
                    }
                }
                Op::MadI { d, a, b, c } => {
                    wr!(d, rd!(a).wrapping_mul(rd!(b)).wrapping_add(rd!(c)));
                }
                Op::JumpIfNot { c, t } => {
                    if rd!(c) == 0 {
                        pc = t as usize;
                    }
                }
                Op::JumpIfNotLtU { a, b, t } => {
                    if rd!(a) >= rd!(b) {
                        pc = t as usize;
                    }
                }
                Op::JumpIfNotLtI { a, b, t } => {
                    if i(rd!(a)) >= i(rd!(b)) {
                        pc = t as usize;
                    }
                }
                Op::AsyncCopy {
                    dst,
                    di,
                    src,
                    si,
                    count,
                } => {
                    let (d0, s0) = (u64::from(rd!(di)), u64::from(rd!(si)));
                    for k in 0..u64::from(count) {
                        let v = match self.word(arena, src, s0 + k) {
                            Ok(w) => w,
                            Err(len) if unchecked || in_unsafe[pc - 1] => {
                                return Err(here!(oob64(src, s0 + k, len)));
                            }
                            Err(_) => 0,
                        };
                        match self.cell(arena, Mem::Shared(dst), d0 + k) {
                            Ok(w) => w.store(v, Relaxed),
                            Err(len) if unchecked || in_unsafe[pc - 1] => {
                                return Err(here!(oob64(Mem::Shared(dst), d0 + k, len)));
                            }
                            Err(_) => {}
                        }
                    }
                }
                // A collective stops the invocation like a barrier; the
                // scheduler combines the subgroup's values (`collective`)
                // or executes the matrix statement (`matrix`).
                Op::Barrier | Op::WarpgroupBarrier | Op::Subgroup { .. } | Op::Matrix { .. } => {
                    *pc_io = pc as u32;
                    *steps_io = steps;
                    return Ok(Stop::Barrier);
                }
                Op::Halt => {
                    *pc_io = pc as u32;
                    *steps_io = steps;
                    return Ok(Stop::Done);
                }
            }
        }
    }
}

/// One subgroup's collective `k`: `vals[l]` (and lane operand `lanes[l]`)
/// of its participating lanes `0..vals.len()` (all of them but in a partial
/// last subgroup) into `out[l]`; `size` is the subgroup size `S`.
///
/// This is the definition the targets follow (see the module docs).
pub(super) fn subgroup_combine(
    k: SubgroupK,
    size: usize,
    vals: &[u32],
    lanes: &[u32],
    out: &mut [u32],
) {
    let count = vals.len();
    let fold = |op: fn(u32, u32) -> u32| vals.iter().copied().reduce(op).unwrap_or(0);
    // The value of source lane `src` when it has an invocation, else the
    // reader's own value (CUDA's rule for an out-of-range shuffle).
    let from = |l: usize, src: u64| {
        usize::try_from(src)
            .ok()
            .filter(|&s| s < count)
            .map_or(vals[l], |s| vals[s])
    };
    let all = match k {
        SubgroupK::AddI => fold(u32::wrapping_add),
        SubgroupK::AddF => butterfly_sum(size, vals),
        SubgroupK::MinU => fold(u32::min),
        SubgroupK::MinI => fold(|x, y| x.cast_signed().min(y.cast_signed()).cast_unsigned()),
        SubgroupK::MinF => fold(|x, y| f32::from_bits(x).min(f32::from_bits(y)).to_bits()),
        SubgroupK::MaxU => fold(u32::max),
        SubgroupK::MaxI => fold(|x, y| x.cast_signed().max(y.cast_signed()).cast_unsigned()),
        SubgroupK::MaxF => fold(|x, y| f32::from_bits(x).max(f32::from_bits(y)).to_bits()),
        SubgroupK::BroadcastFirst => vals.first().copied().unwrap_or(0),
        SubgroupK::Ballot => vals
            .iter()
            .take(32)
            .enumerate()
            .fold(0, |m, (l, &p)| m | (u32::from(p != 0) << l)),
        SubgroupK::All => u32::from(vals.iter().all(|&p| p != 0)),
        SubgroupK::Any => u32::from(vals.iter().any(|&p| p != 0)),
        SubgroupK::Shuffle | SubgroupK::ShuffleXor | SubgroupK::ShuffleDown => {
            for (l, o) in out.iter_mut().enumerate() {
                let src = match k {
                    SubgroupK::Shuffle => u64::from(lanes[l]),
                    SubgroupK::ShuffleXor => u64::from(l as u32 ^ lanes[l]),
                    // `lane + delta` without wrapping: past the subgroup
                    // (not back to a low lane) when it exceeds `u32`.
                    _ => l as u64 + u64::from(lanes[l]),
                };
                *o = from(l, src);
            }
            return;
        }
    };
    out.fill(all);
}

/// The `f32` subgroup sum: the xor butterfly over all `size` lanes, lanes
/// without an invocation holding `-0.0` (the identity of `+` that keeps a
/// `-0.0` sum). After each step every lane of a pair holds the same bits
/// (`+` is commutative), so every lane ends with lane 0's result.
fn butterfly_sum(size: usize, vals: &[u32]) -> u32 {
    let mut v = [-0.0f32; super::MAX_SUBGROUP_SIZE as usize];
    for (x, &bits) in v.iter_mut().zip(vals) {
        *x = f32::from_bits(bits);
    }
    let v = &mut v[..size.max(1)];
    let mut off = size / 2;
    while off > 0 {
        for l in 0..size {
            // Pairs are updated once each, from the old values.
            if l & off == 0 {
                let s = v[l] + v[l ^ off];
                v[l] = s;
                v[l ^ off] = s;
            }
        }
        off /= 2;
    }
    v[0].to_bits()
}

fn oob(mem: Mem, index: u32, len: usize) -> Fault {
    Fault::OutOfBounds {
        mem,
        index,
        len,
        in_unsafe: false,
    }
}

/// An out-of-range element of a matrix statement or a copy, whose index is
/// computed in `u64`: reported saturated to `u32::MAX` past `u32`.
fn oob64(mem: Mem, index: u64, len: usize) -> Fault {
    oob(mem, u32::try_from(index).unwrap_or(u32::MAX), len)
}

/// The value of an element's bits (zero-extended in their slot): `f16` and
/// `bf16` as the equal `f32`, an `f32` as itself.
fn element_value(elem: DataType, bits: u32) -> f32 {
    match elem {
        DataType::F16 => half::f16::from_bits(bits as u16).to_f32(),
        DataType::BF16 => f32::from_bits(bits << 16),
        _ => f32::from_bits(bits),
    }
}

/// The element bits (zero-extended) that store `x` as `elem`: `x as f16`
/// and `x as bf16` round to nearest even (through `half`, as the store of
/// a converted value does), an `f32` is itself.
fn element_bits(elem: DataType, x: f32) -> u32 {
    match elem {
        DataType::F16 => u32::from(half::f16::from_f32(x).to_bits()),
        DataType::BF16 => u32::from(half::bf16::from_f32(x).to_bits()),
        _ => x.to_bits(),
    }
}

/// The atomic cell at `index` of `m`, or the memory's length when out of
/// range.
#[inline]
fn cell<'a>(
    rw: &[&'a [AtomicU32]],
    arena: &'a [AtomicU32],
    shared: &[(usize, usize)],
    m: Mem,
    index: u32,
) -> Result<&'a AtomicU32, usize> {
    match m {
        Mem::Rw(g) => {
            let buf = rw[g as usize];
            buf.get(index as usize).ok_or(buf.len())
        }
        // Validation rejects atomics on read-only buffers and private arrays.
        Mem::Ro(_) | Mem::Private(_) => Err(0),
        Mem::Shared(s) => {
            let (off, len) = shared[s as usize];
            if (index as usize) < len {
                Ok(&arena[off + index as usize])
            } else {
                Err(len)
            }
        }
    }
}

fn atomic_rmw(w: &AtomicU32, k: AtomicK, v: u32) -> u32 {
    let update = |op: &dyn Fn(u32) -> u32| match w.fetch_update(Relaxed, Relaxed, |x| Some(op(x))) {
        Ok(old) | Err(old) => old,
    };
    let signed = |op: fn(i32, i32) -> i32| update(&|x| op(x as i32, v as i32) as u32);
    match k {
        AtomicK::Add => w.fetch_add(v, Relaxed),
        AtomicK::AddF => update(&|x| (f32::from_bits(x) + f32::from_bits(v)).to_bits()),
        AtomicK::Sub => w.fetch_sub(v, Relaxed),
        AtomicK::MinU => w.fetch_min(v, Relaxed),
        AtomicK::MaxU => w.fetch_max(v, Relaxed),
        AtomicK::MinI => signed(i32::min),
        AtomicK::MaxI => signed(i32::max),
        AtomicK::And => w.fetch_and(v, Relaxed),
        AtomicK::Or => w.fetch_or(v, Relaxed),
        AtomicK::Xor => w.fetch_xor(v, Relaxed),
        AtomicK::Xchg => w.swap(v, Relaxed),
    }
}

/// The two words of memory that hold a 64-bit element, in address order
/// (the host's byte order, as `CpuMemory` lays out every element).
pub(super) fn split_word(v: Word) -> [u32; 2] {
    let b = v.to_ne_bytes();
    [
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    ]
}

/// The 64-bit element held by two words of memory (see [`split_word`]).
pub(super) fn join_words([lo, hi]: [u32; 2]) -> Word {
    let (l, h) = (lo.to_ne_bytes(), hi.to_ne_bytes());
    Word::from_ne_bytes([l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]])
}
