//! Compiling a validated [`Program`] into bytecode: register allocation
//! (fixed registers for builtins, parameters, lengths and constants; one
//! per local; stack-wise temporaries per statement) and code generation.

use std::collections::HashMap;

use super::Compiled;
use super::bytecode::{
    AtomicK, BUILTIN_REGS, MapCode, MatStmt, MatrixSlot, Mem, Op, Reg, SubgroupK, WgA, Word,
    builtin_reg,
};
use super::literal_bits;
use crate::ir::wide::{Num, WideK, num, wide_binary, wide_math, wide_unary};
use crate::ir::{
    Access, AsyncOp, AtomicOp, AtomicResult, BinOp, BufRef, DataType, Expr, MathFn, MatrixLayout,
    MatrixOp, Node, Param, Program, SubgroupOp, UnOp,
};
use crate::mid::Analysis;

#[derive(Default)]
struct LoopCtx {
    breaks: Vec<usize>,
    continues: Vec<usize>,
}

pub(super) struct Codegen<'p, 'c> {
    p: &'p Program,
    code: Vec<Op>,
    consts: HashMap<Word, Reg>,
    local_base: u32,
    for_ends: Vec<Reg>,
    next_for_end: usize,
    temp_base: u32,
    next_temp: u32,
    max_reg: u32,
    loops: Vec<LoopCtx>,
    mem_of_param: Vec<Option<Mem>>,
    /// Per private array: its first register and its length.
    private: Vec<(Reg, u32)>,
    /// A barrier or collective subgroup operation was emitted: invocations
    /// must be interleaved.
    synchronised: bool,
    /// The registers of `subgroup_invocation_id()` and `subgroup_size()`,
    /// allocated only in kernels that read them: the register file of
    /// every other kernel stays as small (and as cheap to copy per
    /// invocation) as before.
    lane: Option<Reg>,
    subgroup_size: Option<Reg>,
    /// Per local: a fixed register it aliases (see `find_aliases`).
    alias: Vec<Option<Reg>>,
    /// The middle layer's analysis: bounds decisions (shared with every
    /// target) and expression types.
    analysis: &'c Analysis<'p>,
    /// Positions of the accesses whose check the analysis elides.
    proven: Vec<usize>,
    /// Code ranges compiled from `unsafe` blocks, and how deep the
    /// statement being compiled is in them.
    unsafe_ranges: Vec<(usize, usize)>,
    unsafe_depth: u32,
    /// The first construct found outside the widened normal form (an
    /// operation on a narrow type, a narrow scalar parameter): the program
    /// did not come from `mid::widen`, and compiling it fails.
    unsupported: Option<String>,
    /// The matrix statements `Op::Matrix` refers to, and how diagnostics
    /// name each.
    matrix_ops: Vec<MatStmt>,
    /// Per matrix statement: inside an `unsafe` block.
    matrix_in_unsafe: Vec<bool>,
    matrix_descs: Vec<String>,
    /// The compiled expressions of `matrix_map` statements.
    maps: Vec<MapCode>,
}

impl<'p, 'c> Codegen<'p, 'c> {
    /// Compile the analysed program, which must be in the widened normal
    /// form (`mid::widen`'s output); `Err` names what is not.
    pub(super) fn compile_with(analysis: &'c Analysis<'p>) -> Result<Compiled, String> {
        let p = analysis.program();
        let np = p.params.len() as u32;
        let param_base = BUILTIN_REGS;
        let len_base = param_base + np;
        let mut lits = Vec::new();
        let mut n_for = 0usize;
        let mut ids = false;
        collect(&p.body, &mut lits, &mut n_for, &mut ids);
        let const_base = len_base + np;
        let mut consts = HashMap::new();
        for bits in lits {
            let next = const_base + consts.len() as u32;
            consts.entry(bits).or_insert(next);
        }
        let ids_base = const_base + consts.len() as u32;
        let (lane, subgroup_size) = if ids {
            (Some(ids_base), Some(ids_base + 1))
        } else {
            (None, None)
        };
        let local_base = ids_base + 2 * u32::from(ids);
        let for_base = local_base + p.locals.len() as u32;
        // Private arrays: a block of registers each, zero in the launch's
        // template, so copying the template zeroes them per invocation.
        let private_base = for_base + n_for as u32;
        let mut private = Vec::new();
        let mut private_words = 0u32;
        for a in &p.private {
            private.push((private_base + private_words, a.len));
            private_words += a.len;
        }
        let temp_base = private_base + private_words;
        let (mut nro, mut nrw) = (0u32, 0u32);
        let mut ro_names = Vec::new();
        let mut rw_names = Vec::new();
        let mem_of_param = p
            .params
            .iter()
            .map(|prm| match prm {
                Param::Buffer(b) if b.access == Access::Read => {
                    nro += 1;
                    ro_names.push(b.name.clone());
                    Some(Mem::Ro(nro - 1))
                }
                Param::Buffer(b) => {
                    nrw += 1;
                    rw_names.push(b.name.clone());
                    Some(Mem::Rw(nrw - 1))
                }
                Param::Scalar { .. } => None,
            })
            .collect();
        let mut cg = Codegen {
            p,
            code: Vec::new(),
            consts,
            local_base,
            for_ends: (0..n_for as u32).map(|i| for_base + i).collect(),
            next_for_end: 0,
            temp_base,
            next_temp: temp_base,
            max_reg: temp_base,
            loops: Vec::new(),
            mem_of_param,
            private,
            synchronised: false,
            lane,
            subgroup_size,
            alias: Vec::new(),
            analysis,
            proven: Vec::new(),
            unsafe_ranges: Vec::new(),
            unsafe_depth: 0,
            unsupported: None,
            matrix_ops: Vec::new(),
            matrix_in_unsafe: Vec::new(),
            matrix_descs: Vec::new(),
            maps: Vec::new(),
        };
        cg.find_aliases();
        cg.block(&p.body);
        cg.code.push(Op::Halt);
        let mut shared = Vec::new();
        let mut off = 0usize;
        for s in &p.shared {
            // A 64-bit element takes two words (`Load64` and `Store64`
            // index words `2 i` and `2 i + 1`).
            let words = s.len as usize * if s.elem.is_wide() { 2 } else { 1 };
            shared.push((off, words));
            off += words;
        }
        // Matrices: one block of tiles per subgroup (warpgroup matrices:
        // per warpgroup), in declaration order.
        let mut matrices = Vec::new();
        let (mut matrix_words, mut warpgroup_words) = (0usize, 0usize);
        for m in &p.matrices {
            let (rows, cols) = m.dims();
            let warpgroup = m.scope == crate::ir::MatrixScope::Warpgroup;
            let words = if warpgroup {
                &mut warpgroup_words
            } else {
                &mut matrix_words
            };
            let slot = MatrixSlot {
                offset: *words,
                rows,
                cols,
                warpgroup,
            };
            *words += slot.len();
            matrices.push(slot);
        }
        let mut consts: Vec<(Reg, Word)> = cg.consts.iter().map(|(&v, &r)| (r, v)).collect();
        consts.sort_unstable();
        let mut proven = vec![false; cg.code.len()];
        for &pc in &cg.proven {
            proven[pc] = true;
        }
        let mut in_unsafe = vec![false; cg.code.len()];
        for &(start, end) in &cg.unsafe_ranges {
            in_unsafe[start..end].fill(true);
        }
        if let Some(what) = cg.unsupported {
            return Err(format!(
                "{what} is outside the widened normal form (operations on 8- and 16-bit types must go through `mid::widen`)"
            ));
        }
        Ok(Compiled {
            name: p.name.clone(),
            code: cg.code,
            nregs: cg.max_reg as usize,
            consts,
            params: p.params.clone(),
            param_base,
            len_base,
            ro_names,
            rw_names,
            shared,
            shared_names: p.shared.iter().map(|s| s.name.clone()).collect(),
            shared_words: off,
            private_names: p.private.iter().map(|a| a.name.clone()).collect(),
            synchronised: cg.synchronised,
            lane: cg.lane,
            subgroup_size: cg.subgroup_size,
            workgroup_size: p.workgroup_size,
            unchecked: p.unchecked,
            proven,
            in_unsafe,
            matrices,
            matrix_words,
            warpgroup_words,
            matrix_ops: cg.matrix_ops,
            matrix_in_unsafe: cg.matrix_in_unsafe,
            matrix_descs: cg.matrix_descs,
            maps: cg.maps,
        })
    }

    /// Record the bounds decision of the access just pushed (index `index`).
    fn access(&mut self, index: &Expr) {
        if !self.analysis.checks().needs_check(index) {
            self.proven.push(self.code.len() - 1);
        }
    }

    fn temp(&mut self) -> Reg {
        let r = self.next_temp;
        self.next_temp += 1;
        self.max_reg = self.max_reg.max(self.next_temp);
        r
    }

    fn here(&self) -> u32 {
        self.code.len() as u32
    }

    fn patch(&mut self, at: usize, target: u32) {
        match &mut self.code[at] {
            Op::Jump { t }
            | Op::JumpIfNot { t, .. }
            | Op::JumpIfNotLtU { t, .. }
            | Op::JumpIfNotLtI { t, .. } => *t = target,
            _ => unreachable!("patching a non-jump instruction"),
        }
    }

    fn mem(&self, buf: BufRef) -> Mem {
        match buf {
            // Validation guarantees a buffer parameter.
            BufRef::Param(id) => self.mem_of_param[id as usize].unwrap_or(Mem::Ro(0)),
            BufRef::Shared(id) => Mem::Shared(id),
            BufRef::Private(id) => Mem::Private(id),
        }
    }

    fn block(&mut self, body: &[Node]) {
        for n in body {
            self.next_temp = self.temp_base;
            self.node(n);
        }
        self.next_temp = self.temp_base;
    }

    /// Emit a jump taken when `cond` is false; returns its index to patch.
    fn branch_if_false(&mut self, cond: &Expr) -> usize {
        if let Expr::Binary(op @ (BinOp::Lt | BinOp::Gt), a, b) = cond {
            let ty = self.analysis.type_of(a);
            if matches!(ty, Some(DataType::U32 | DataType::I32)) {
                let (ra, _) = self.expr(a, None);
                let (rb, _) = self.expr(b, None);
                let (x, y) = if *op == BinOp::Lt { (ra, rb) } else { (rb, ra) };
                self.code.push(if ty == Some(DataType::U32) {
                    Op::JumpIfNotLtU { a: x, b: y, t: 0 }
                } else {
                    Op::JumpIfNotLtI { a: x, b: y, t: 0 }
                });
                return self.code.len() - 1;
            }
        }
        let (c, _) = self.expr(cond, None);
        self.code.push(Op::JumpIfNot { c, t: 0 });
        self.code.len() - 1
    }

    fn local(&self, id: u32) -> Reg {
        self.alias
            .get(id as usize)
            .copied()
            .flatten()
            .unwrap_or(self.local_base + id)
    }

    /// The fixed register holding `e`'s value for the whole invocation, for
    /// builtins, scalar parameters, lengths and constants.
    fn fixed_reg(&self, e: &Expr) -> Option<Reg> {
        match e {
            Expr::Lit(l) => self.consts.get(&literal_bits(*l)).copied(),
            Expr::Builtin(b, a) => Some(builtin_reg(*b, *a)),
            Expr::Param(id) => Some(BUILTIN_REGS + id),
            Expr::Len(id) => Some(BUILTIN_REGS + self.p.params.len() as u32 + id),
            Expr::Subgroup(SubgroupOp::InvocationId, _) => self.lane,
            Expr::Subgroup(SubgroupOp::Size, _) => self.subgroup_size,
            _ => None,
        }
    }

    /// Immutable locals defined once, at the top level, from a fixed
    /// register (`let i = global_id().x;`) read that register directly
    /// instead of a copy. Top level only: a `let` nested in a branch may not
    /// run, and then the local must read as its zero initial value.
    fn find_aliases(&mut self) {
        let p = self.p;
        let mut defs = vec![0u32; p.locals.len()];
        crate::ir::walk_nodes(&p.body, &mut |n| match n {
            Node::Let { local, .. }
            | Node::Assign { local, .. }
            | Node::For { var: local, .. }
            | Node::Atomic {
                result: AtomicResult::Let(local) | AtomicResult::Assign(local),
                ..
            } => {
                if let Some(d) = defs.get_mut(*local as usize) {
                    *d += 1;
                }
            }
            _ => {}
        });
        let mut alias = vec![None; p.locals.len()];
        for n in &p.body {
            if let Node::Let { local, value } = n
                && defs.get(*local as usize) == Some(&1)
                && p.locals.get(*local as usize).is_some_and(|l| !l.mutable)
            {
                alias[*local as usize] = self.fixed_reg(value);
            }
        }
        self.alias = alias;
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Let { local, .. }
                if self.alias.get(*local as usize).is_some_and(Option::is_some) => {}
            Node::Let { local, value } | Node::Assign { local, value } => {
                let d = self.local(*local);
                let (r, _) = self.expr(value, Some(d));
                if r != d {
                    self.code.push(Op::Mov { d, a: r });
                }
            }
            Node::Store { buf, index, value } => {
                let (i, _) = self.expr(index, None);
                let (v, _) = self.expr(value, None);
                let wide = self.p.elem_type(*buf).is_some_and(DataType::is_wide);
                let op = match self.mem(*buf) {
                    m @ (Mem::Rw(_) | Mem::Shared(_)) if wide => Op::Store64 { m, i, v },
                    Mem::Rw(m) => Op::StoreG { m, i, v },
                    Mem::Shared(m) => Op::StoreS { m, i, v },
                    Mem::Private(m) => {
                        let (base, len) = self.private[m as usize];
                        Op::StoreP { m, i, v, base, len }
                    }
                    // Validation rejects stores to read-only buffers.
                    Mem::Ro(_) => return,
                };
                self.code.push(op);
                self.access(index);
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                // The old value is computed straight into the local.
                let d = result.local().map(|l| self.local(l));
                self.atomic(*op, *buf, index, expected.as_ref(), value, d);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let jf = self.branch_if_false(cond);
                self.block(then);
                if otherwise.is_empty() {
                    let end = self.here();
                    self.patch(jf, end);
                } else {
                    self.code.push(Op::Jump { t: 0 });
                    let jend = self.code.len() - 1;
                    let els = self.here();
                    self.patch(jf, els);
                    self.block(otherwise);
                    let end = self.here();
                    self.patch(jend, end);
                }
            }
            Node::While { cond, body } => {
                let head = self.here();
                let jf = self.branch_if_false(cond);
                self.next_temp = self.temp_base;
                self.loop_body(body, head, jf);
            }
            Node::Unsafe { body } => {
                let start = self.code.len();
                self.unsafe_depth += 1;
                self.block(body);
                self.unsafe_depth -= 1;
                self.unsafe_ranges.push((start, self.code.len()));
            }
            Node::Loop { body } => {
                let head = self.here();
                self.loops.push(LoopCtx::default());
                self.block(body);
                self.code.push(Op::Jump { t: head });
                let exit = self.here();
                let ctx = self.loops.pop().unwrap_or_default();
                for b in ctx.breaks {
                    self.patch(b, exit);
                }
                for c in ctx.continues {
                    self.patch(c, head);
                }
            }
            Node::For {
                var,
                start,
                end,
                step,
                body,
                // `unroll` changes no result; the interpreter loops either way.
                unroll: _,
            } => {
                let v = self.local(*var);
                let e = self.for_ends[self.next_for_end];
                self.next_for_end += 1;
                let signed = self.p.locals.get(*var as usize).map(|l| l.ty) == Some(DataType::I32);
                // `end` first: it must not see the loop variable.
                let (re, _) = self.expr(end, Some(e));
                if re != e {
                    self.code.push(Op::Mov { d: e, a: re });
                }
                self.next_temp = self.temp_base;
                let (rs, _) = self.expr(start, Some(v));
                if rs != v {
                    self.code.push(Op::Mov { d: v, a: rs });
                }
                self.next_temp = self.temp_base;
                // Test once on entry, then at the bottom (one instruction
                // per iteration for the increment, test and back edge).
                self.code.push(if signed {
                    Op::JumpIfNotLtI { a: v, b: e, t: 0 }
                } else {
                    Op::JumpIfNotLtU { a: v, b: e, t: 0 }
                });
                let jf = self.code.len() - 1;
                let body_start = self.here();
                self.loops.push(LoopCtx::default());
                self.block(body);
                let advance = self.here();
                let (step, t) = (*step, body_start);
                // Step 1 cannot overflow (`v < e` held), so it needs no
                // overflow test: the common loop keeps its cheaper form.
                self.code.push(match (signed, step) {
                    (true, 1) => Op::ForNextI { v, e, t },
                    (false, 1) => Op::ForNextU { v, e, t },
                    (true, _) => Op::ForStepI { v, e, step, t },
                    (false, _) => Op::ForStepU { v, e, step, t },
                });
                let exit = self.here();
                self.patch(jf, exit);
                let ctx = self.loops.pop().unwrap_or_default();
                for b in ctx.breaks {
                    self.patch(b, exit);
                }
                for c in ctx.continues {
                    self.patch(c, advance);
                }
            }
            Node::Break => {
                self.code.push(Op::Jump { t: 0 });
                let at = self.code.len() - 1;
                if let Some(l) = self.loops.last_mut() {
                    l.breaks.push(at);
                }
            }
            Node::Continue => {
                self.code.push(Op::Jump { t: 0 });
                let at = self.code.len() - 1;
                if let Some(l) = self.loops.last_mut() {
                    l.continues.push(at);
                }
            }
            Node::Return => self.code.push(Op::Halt),
            Node::Barrier => {
                self.synchronised = true;
                self.code.push(Op::Barrier);
            }
            Node::WarpgroupBarrier => {
                self.synchronised = true;
                self.code.push(Op::WarpgroupBarrier);
            }
            // The reference multiplies at once: nothing to wait for.
            Node::Matrix(MatrixOp::WarpgroupWait { .. }) => {}
            Node::Matrix(op) => self.matrix(op),
            Node::Async(AsyncOp::Copy {
                dst,
                dst_index,
                src,
                src_index,
                count,
            }) => {
                let (di, _) = self.expr(dst_index, None);
                let (si, _) = self.expr(src_index, None);
                let src = self.mem(BufRef::Param(*src));
                self.code.push(Op::AsyncCopy {
                    dst: *dst,
                    di,
                    src,
                    si,
                    count: *count,
                });
            }
            // `Compiled::new` runs the middle layer's loop instead.
            Node::Async(AsyncOp::Tile { .. }) => self.unsupported(
                "a tile copy not yet rewritten into its loop (`mid::lower_tile_copies`)".into(),
            ),
            // The reference copies at once: there is never a copy in
            // flight to close a group over or to wait for.
            Node::Async(AsyncOp::Commit | AsyncOp::Wait { .. }) => {}
        }
    }

    /// A matrix statement: its operands into registers, then one
    /// collective `Op::Matrix` (see `exec::Launch::matrix`).
    fn matrix(&mut self, op: &MatrixOp) {
        let p = self.p;
        let name = |m: u32| {
            p.matrices
                .get(m as usize)
                .map_or_else(|| format!("#{m}"), |d| d.name.clone())
        };
        let buf_name = |b: BufRef| p.buf_name(b).unwrap_or("?").to_string();
        let major = |l: MatrixLayout| match l {
            MatrixLayout::RowMajor => "",
            MatrixLayout::ColMajor => "_col_major",
        };
        let k = self.matrix_ops.len();
        let (stmt, desc, a, b) = match op {
            MatrixOp::WarpgroupWait { .. } => return,
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => {
                let stmt = MatStmt::Map {
                    d: *d,
                    src: *src,
                    map: self.maps.len() as u32,
                };
                let code = self.map_code([*row, *col, *value], expr);
                let local = |id: u32| p.locals.get(id as usize).map_or("?", |l| l.name.as_str());
                let desc = format!(
                    "`{} = matrix_map({}, |{}, {}, {}| ..)`",
                    name(*d),
                    name(*src),
                    local(*row),
                    local(*col),
                    local(*value)
                );
                // The operands are compared by `exec` from `MapCode`; the
                // instruction's registers are never read.
                let r = code.row;
                self.maps.push(code);
                (stmt, desc, r, r)
            }
            MatrixOp::RowReduce {
                op: rop,
                src,
                dst,
                offset,
            } => {
                let (r, _) = self.expr(offset, None);
                let array = p
                    .shared
                    .get(*dst as usize)
                    .map_or_else(|| format!("#{dst}"), |s| s.name.clone());
                let desc = format!("`{}(&{array}, .., {})`", rop.name(), name(*src));
                let stmt = MatStmt::RowReduce {
                    op: *rop,
                    src: *src,
                    dst: *dst,
                };
                (stmt, desc, r, r)
            }
            MatrixOp::WarpgroupMultiplyAdd { d, a, b, c, .. } => {
                // Into registers of their own, like a clip.
                let b_regs = [self.expr(&b.offset, None).0, self.expr(&b.stride, None).0];
                let array = |id: u32| {
                    p.shared
                        .get(id as usize)
                        .map_or_else(|| format!("#{id}"), |s| s.name.clone())
                };
                let t = if b.layout == MatrixLayout::ColMajor {
                    "_t"
                } else {
                    ""
                };
                // An accumulator `A` has no operands: `B`'s stand in for
                // them (compared twice, harmlessly).
                let (wa, a_desc, ra, rsa) = match a {
                    crate::ir::WarpgroupOperand::Shared(a) => {
                        let (ra, rsa) =
                            (self.expr(&a.offset, None).0, self.expr(&a.stride, None).0);
                        (
                            WgA::Shared(a.array),
                            format!("&{}, ..", array(a.array)),
                            ra,
                            rsa,
                        )
                    }
                    crate::ir::WarpgroupOperand::Accumulator(m) => {
                        (WgA::Acc(*m), name(*m), b_regs[0], b_regs[1])
                    }
                };
                let desc = format!(
                    "`{} = warpgroup_mma{t}({a_desc}, &{}, .., {})`",
                    name(*d),
                    array(b.array),
                    name(*c)
                );
                // Validation gives both accumulators one shape and both
                // arrays one element type (`B`'s is the rounding type of an
                // accumulator `A`).
                let shape = p
                    .matrices
                    .get(*d as usize)
                    .map_or(crate::ir::MatrixShape { m: 0, n: 0, k: 0 }, |m| m.shape);
                let elem = p
                    .shared
                    .get(b.array as usize)
                    .map_or(DataType::F16, |s| s.elem);
                let stmt = MatStmt::WarpgroupMultiplyAdd {
                    d: *d,
                    c: *c,
                    a: wa,
                    b: b.array,
                    elem,
                    b_regs,
                    b_layout: b.layout,
                    shape,
                };
                (stmt, desc, ra, rsa)
            }
            MatrixOp::Fill { matrix, value } => {
                let (r, _) = self.expr(value, None);
                let desc = format!("`matrix_fill` of `{}`", name(*matrix));
                (MatStmt::Fill { m: *matrix }, desc, r, r)
            }
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            }
            | MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let (ro, _) = self.expr(offset, None);
                let (rs, _) = self.expr(stride, None);
                // Evaluated after the offset and stride, into registers of
                // their own (temporaries only grow within a statement).
                let clip = clip.as_ref().map(|c| {
                    let (rr, _) = self.expr(&c.rows, None);
                    let (rc, _) = self.expr(&c.cols, None);
                    [rr, rc]
                });
                let (m, mem, layout) = (*matrix, self.mem(*buf), *layout);
                let elem = p.elem_type(*buf).unwrap_or(DataType::F32);
                if matches!(op, MatrixOp::Load { .. }) {
                    let desc = format!(
                        "`matrix_load{}` of `{}` from `{}`",
                        major(layout),
                        name(m),
                        buf_name(*buf)
                    );
                    let stmt = MatStmt::Load {
                        m,
                        mem,
                        elem,
                        layout,
                        clip,
                    };
                    (stmt, desc, ro, rs)
                } else {
                    let desc = format!(
                        "`matrix_store{}` of `{}` into `{}`",
                        major(layout),
                        name(m),
                        buf_name(*buf)
                    );
                    let stmt = MatStmt::Store {
                        m,
                        mem,
                        elem,
                        layout,
                        clip,
                    };
                    (stmt, desc, ro, rs)
                }
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => {
                let desc = format!(
                    "`{} = matrix_mma({}, {}, {})`",
                    name(*d),
                    name(*a),
                    name(*b),
                    name(*c)
                );
                // Validation gives the four one shape.
                let shape = p
                    .matrices
                    .get(*d as usize)
                    .map_or(crate::ir::MatrixShape { m: 0, n: 0, k: 0 }, |m| m.shape);
                let stmt = MatStmt::MultiplyAdd {
                    d: *d,
                    a: *a,
                    b: *b,
                    c: *c,
                    shape,
                };
                // No operands: any register will do.
                (stmt, desc, 0, 0)
            }
        };
        self.matrix_ops.push(stmt);
        self.matrix_in_unsafe.push(self.unsafe_depth > 0);
        self.matrix_descs
            .push(format!("matrix statement {k} ({desc})"));
        self.synchronised = true;
        self.code.push(Op::Matrix { s: k as u32, a, b });
    }

    /// A `matrix_map` expression as a subroutine that the statement's own
    /// flow jumps over: `exec` runs it once per element from `entry` on a
    /// copy of the warpgroup's first invocation's registers, so every
    /// operator, cast and load has exactly the bytecode's semantics.
    fn map_code(&mut self, [row, col, value]: [u32; 3], expr: &Expr) -> MapCode {
        let mut uniform: Vec<u32> = Vec::new();
        expr.find_map(&mut |e| {
            if let Expr::Local(id) = e
                && ![row, col, value].contains(id)
                && !uniform.contains(id)
            {
                uniform.push(*id);
            }
            None::<()>
        });
        uniform.sort_unstable();
        self.code.push(Op::Jump { t: 0 });
        let skip = self.code.len() - 1;
        let entry = self.here();
        let (result, _) = self.expr(expr, None);
        self.code.push(Op::Halt);
        let after = self.here();
        self.patch(skip, after);
        let p = self.p;
        MapCode {
            entry,
            result,
            row: self.local(row),
            col: self.local(col),
            value: self.local(value),
            uniform: uniform
                .into_iter()
                .map(|id| {
                    let name = p.locals.get(id as usize).map_or("?", |l| l.name.as_str());
                    (self.local(id), name.to_string())
                })
                .collect(),
        }
    }

    /// Body of a `while`: `continue` re-tests at `head`, the exit jump `jf`
    /// and `break`s land after the loop.
    fn loop_body(&mut self, body: &[Node], head: u32, jf: usize) {
        self.loops.push(LoopCtx::default());
        self.block(body);
        self.code.push(Op::Jump { t: head });
        let exit = self.here();
        self.patch(jf, exit);
        let ctx = self.loops.pop().unwrap_or_default();
        for b in ctx.breaks {
            self.patch(b, exit);
        }
        for c in ctx.continues {
            self.patch(c, head);
        }
    }

    /// Compile `e`; the result lands in `dst` when given and `e` computes
    /// something (a plain register read returns that register instead).
    fn expr(&mut self, e: &Expr, dst: Option<Reg>) -> (Reg, DataType) {
        let p = self.p;
        match e {
            Expr::Lit(l) => (self.consts[&literal_bits(*l)], l.ty()),
            // `collect` found them, so their registers exist.
            Expr::Subgroup(SubgroupOp::InvocationId | SubgroupOp::Size, _) => {
                (self.fixed_reg(e).unwrap_or(BUILTIN_REGS), DataType::U32)
            }
            Expr::Subgroup(op, args) => self.subgroup(*op, args, dst),
            Expr::Local(id) => (
                self.local(*id),
                p.locals.get(*id as usize).map_or(DataType::U32, |l| l.ty),
            ),
            Expr::Param(id) => {
                let ty = match p.params.get(*id as usize) {
                    Some(Param::Scalar { ty, .. }) => *ty,
                    _ => DataType::U32,
                };
                if ty.is_narrow() {
                    self.unsupported(format!("the `{ty}` scalar parameter"));
                }
                (BUILTIN_REGS + id, ty)
            }
            Expr::Builtin(b, a) => (builtin_reg(*b, *a), DataType::U32),
            Expr::Len(id) => (BUILTIN_REGS + p.params.len() as u32 + id, DataType::U32),
            Expr::Load { buf, index } => {
                // (`LoadMad` reads memories outside the register file only.)
                if !matches!(buf, BufRef::Private(_))
                    && !p.elem_type(*buf).is_some_and(DataType::is_wide)
                    && let Expr::Binary(BinOp::Add, l, r) = &**index
                    && let Some((x, y, other)) = mul_add_parts(l, r)
                {
                    let mark = self.next_temp;
                    let (a, _) = self.expr(x, None);
                    let (b, _) = self.expr(y, None);
                    let (c, _) = self.expr(other, None);
                    self.next_temp = mark;
                    let d = dst.unwrap_or_else(|| self.temp());
                    let m = self.mem(*buf);
                    self.code.push(Op::LoadMad { d, m, a, b, c });
                    self.access(index);
                    return (d, p.elem_type(*buf).unwrap_or(DataType::U32));
                }
                let mark = self.next_temp;
                let (i, _) = self.expr(index, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let wide = p.elem_type(*buf).is_some_and(DataType::is_wide);
                self.code.push(match self.mem(*buf) {
                    m @ (Mem::Ro(_) | Mem::Rw(_) | Mem::Shared(_)) if wide => {
                        Op::Load64 { d, m, i }
                    }
                    Mem::Ro(m) => Op::LoadR { d, m, i },
                    Mem::Rw(m) => Op::LoadG { d, m, i },
                    Mem::Shared(m) => Op::LoadS { d, m, i },
                    Mem::Private(m) => {
                        let (base, len) = self.private[m as usize];
                        Op::LoadP { d, m, i, base, len }
                    }
                });
                self.access(index);
                (d, p.elem_type(*buf).unwrap_or(DataType::U32))
            }
            Expr::Unary(op, a) => {
                let mark = self.next_temp;
                let (ra, t) = self.expr(a, None);
                self.narrow_operand(t);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                if t.is_wide() {
                    match wide_unary(*op, t) {
                        Some(k) => self.wide(k, d, [ra, ra, ra]),
                        None => self.unsupported(format!("`{op:?}` on `{t}`")),
                    }
                    return (d, t);
                }
                self.code.push(match (op, t) {
                    (UnOp::Neg, DataType::F32) => Op::NegF { d, a: ra },
                    (UnOp::Neg, _) => Op::NegI { d, a: ra },
                    (UnOp::Not, DataType::Bool) => Op::NotB { d, a: ra },
                    (UnOp::Not, _) => Op::NotI { d, a: ra },
                });
                (d, t)
            }
            Expr::Binary(op, a, b) => {
                if *op == BinOp::Add
                    && matches!(
                        self.analysis.type_of(a),
                        Some(DataType::U32 | DataType::I32)
                    )
                    && let Some((x, y, other)) = mul_add_parts(a, b)
                {
                    let mark = self.next_temp;
                    let (rx, t) = self.expr(x, None);
                    let (ry, _) = self.expr(y, None);
                    let (rc, _) = self.expr(other, None);
                    self.next_temp = mark;
                    let d = dst.unwrap_or_else(|| self.temp());
                    self.code.push(Op::MadI {
                        d,
                        a: rx,
                        b: ry,
                        c: rc,
                    });
                    return (d, t);
                }
                let mark = self.next_temp;
                let (ra, t) = self.expr(a, None);
                let (rb, _) = self.expr(b, None);
                self.narrow_operand(t);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let (x, y) = (ra, rb);
                let rt = if op.is_comparison() {
                    DataType::Bool
                } else {
                    t
                };
                if t.is_wide() {
                    let (k, swap) = wide_binary(*op, t);
                    self.wide(k, d, if swap { [y, x, x] } else { [x, y, y] });
                    return (d, rt);
                }
                use DataType::{F32, I32};
                let f = t == F32;
                let i = t == I32;
                let ins = match op {
                    BinOp::Add if f => Op::AddF { d, a: x, b: y },
                    BinOp::Add => Op::AddI { d, a: x, b: y },
                    BinOp::Sub if f => Op::SubF { d, a: x, b: y },
                    BinOp::Sub => Op::SubI { d, a: x, b: y },
                    BinOp::Mul if f => Op::MulF { d, a: x, b: y },
                    BinOp::Mul => Op::MulI { d, a: x, b: y },
                    BinOp::Div if f => Op::DivF { d, a: x, b: y },
                    BinOp::Div if i => Op::DivI { d, a: x, b: y },
                    BinOp::Div => Op::DivU { d, a: x, b: y },
                    BinOp::Rem if f => Op::RemF { d, a: x, b: y },
                    BinOp::Rem if i => Op::RemI { d, a: x, b: y },
                    BinOp::Rem => Op::RemU { d, a: x, b: y },
                    BinOp::BitAnd | BinOp::And => Op::And { d, a: x, b: y },
                    BinOp::BitOr | BinOp::Or => Op::Or { d, a: x, b: y },
                    BinOp::BitXor => Op::Xor { d, a: x, b: y },
                    BinOp::Shl => Op::Shl { d, a: x, b: y },
                    BinOp::Shr if i => Op::ShrI { d, a: x, b: y },
                    BinOp::Shr => Op::ShrU { d, a: x, b: y },
                    BinOp::Eq if f => Op::EqF { d, a: x, b: y },
                    BinOp::Eq => Op::EqI { d, a: x, b: y },
                    BinOp::Ne if f => Op::NeF { d, a: x, b: y },
                    BinOp::Ne => Op::NeI { d, a: x, b: y },
                    BinOp::Lt | BinOp::Gt => {
                        let (x, y) = if *op == BinOp::Lt { (x, y) } else { (y, x) };
                        match t {
                            F32 => Op::LtF { d, a: x, b: y },
                            I32 => Op::LtI { d, a: x, b: y },
                            _ => Op::LtU { d, a: x, b: y },
                        }
                    }
                    BinOp::Le | BinOp::Ge => {
                        let (x, y) = if *op == BinOp::Le { (x, y) } else { (y, x) };
                        match t {
                            F32 => Op::LeF { d, a: x, b: y },
                            I32 => Op::LeI { d, a: x, b: y },
                            _ => Op::LeU { d, a: x, b: y },
                        }
                    }
                };
                self.code.push(ins);
                (d, rt)
            }
            Expr::Cast(to, a) => {
                if let Some(r) = self.narrow_cast(*to, a, dst) {
                    return r;
                }
                let mark = self.next_temp;
                let (ra, from) = self.expr(a, None);
                if from.is_wide() || to.is_wide() {
                    // `u64` <-> `i64` and identities keep the bits.
                    let (f, t) = (num(from), num(*to));
                    if f == t || matches!((f, t), (Num::U64, Num::I64) | (Num::I64, Num::U64)) {
                        return (ra, *to);
                    }
                    self.next_temp = mark;
                    let d = dst.unwrap_or_else(|| self.temp());
                    self.code.push(Op::Conv {
                        d,
                        a: ra,
                        from: f,
                        to: t,
                    });
                    return (d, *to);
                }
                use DataType::{Bool, F32, I32, U32};
                // Same bits (i32 <-> u32, bool -> integer, identity): no
                // code, and the operand's temporary stays allocated since it
                // is the result.
                if !matches!((from, to), (I32 | U32 | Bool, F32) | (F32, I32 | U32)) {
                    return (ra, *to);
                }
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(match (from, to) {
                    (I32, F32) => Op::IToF { d, a: ra },
                    (F32, I32) => Op::FToI { d, a: ra },
                    (F32, U32) => Op::FToU { d, a: ra },
                    // u32, or a bool (0 or 1), to 0.0 or 1.0.
                    _ => Op::UToF { d, a: ra },
                });
                (d, *to)
            }
            Expr::Math(f, args) => {
                let mark = self.next_temp;
                let mut regs = [0; 3];
                let mut t = DataType::F32;
                for (k, a) in args.iter().enumerate().take(3) {
                    let (r, ty) = self.expr(a, None);
                    regs[k] = r;
                    t = ty;
                }
                self.narrow_operand(t);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                let [a, b, c] = regs;
                if t.is_wide() {
                    let k = wide_math(*f, t);
                    self.wide(k, d, [a, b, c]);
                    return (d, t);
                }
                use DataType::{F32, I32};
                let ins = match f {
                    MathFn::Sqrt => Op::Sqrt { d, a },
                    MathFn::Exp => Op::Exp { d, a },
                    MathFn::Exp2 => Op::Exp2 { d, a },
                    MathFn::Ln => Op::Ln { d, a },
                    MathFn::Sin => Op::Sin { d, a },
                    MathFn::Cos => Op::Cos { d, a },
                    MathFn::Tanh => Op::Tanh { d, a },
                    MathFn::Floor => Op::Floor { d, a },
                    MathFn::Ceil => Op::Ceil { d, a },
                    MathFn::Abs if t == F32 => Op::AbsF { d, a },
                    MathFn::Abs => Op::AbsI { d, a },
                    MathFn::Min => match t {
                        F32 => Op::MinF { d, a, b },
                        I32 => Op::MinI { d, a, b },
                        _ => Op::MinU { d, a, b },
                    },
                    MathFn::Max => match t {
                        F32 => Op::MaxF { d, a, b },
                        I32 => Op::MaxI { d, a, b },
                        _ => Op::MaxU { d, a, b },
                    },
                    MathFn::Clamp => match t {
                        F32 => Op::ClampF { d, a, b, c },
                        I32 => Op::ClampI { d, a, b, c },
                        _ => Op::ClampU { d, a, b, c },
                    },
                    MathFn::Powf => Op::Powf { d, a, b },
                    MathFn::MulAdd => Op::MulAdd { d, a, b, c },
                };
                self.code.push(ins);
                (d, t)
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let mark = self.next_temp;
                let (c, _) = self.expr(cond, None);
                let (a, t) = self.expr(then, None);
                let (b, _) = self.expr(otherwise, None);
                self.next_temp = mark;
                let d = dst.unwrap_or_else(|| self.temp());
                self.code.push(Op::Select { d, c, a, b });
                (d, t)
            }
        }
    }

    /// The casts of the widened normal form (`mid::widen`) that involve a
    /// narrow type `N` (register type `R`); `None` for every other cast.
    /// A value of type `N` lives in a register as its element bits,
    /// zero-extended (what memory holds):
    /// - `(x as N) as R` with `x: R` (rounding or wrapping to `N`): one
    ///   instruction;
    /// - `e as R` with `e: N` (a loaded element): widened;
    /// - `x as N` with `x: R` (the value of a store): converted to the
    ///   element's bits.
    ///
    /// Any other cast from or to a narrow type is outside the normal form
    /// and reported (see `Codegen::unsupported`).
    fn narrow_cast(&mut self, to: DataType, a: &Expr, dst: Option<Reg>) -> Option<(Reg, DataType)> {
        let from = self.analysis.type_of(a)?;
        if !to.is_narrow() && !from.is_narrow() {
            return None;
        }
        let mark = self.next_temp;
        // Shape (b): round or wrap to `N` and back, fused.
        if let Expr::Cast(n, x) = a
            && n.is_narrow()
            && n.register_type() == to
            && self.analysis.type_of(x) == Some(to)
        {
            let (rx, _) = self.expr(x, None);
            self.next_temp = mark;
            let d = dst.unwrap_or_else(|| self.temp());
            self.code.push(match n {
                DataType::F16 => Op::QuantF16 { d, a: rx },
                DataType::BF16 => Op::QuantBF16 { d, a: rx },
                DataType::I8 => Op::SExt8 { d, a: rx },
                DataType::I16 => Op::SExt16 { d, a: rx },
                DataType::U8 => Op::ZExt8 { d, a: rx },
                _ => Op::ZExt16 { d, a: rx },
            });
            return Some((d, to));
        }
        let (ra, _) = self.expr(a, None);
        let widen = from.is_narrow() && from.register_type() == to;
        let narrow = to.is_narrow() && to.register_type() == from;
        if !widen && !narrow {
            self.unsupported(format!("a cast from `{from}` to `{to}`"));
            return Some((ra, to));
        }
        // A zero-extended 8- or 16-bit element is already its `u32`.
        if widen && matches!(from, DataType::U8 | DataType::U16) {
            return Some((ra, to));
        }
        self.next_temp = mark;
        let d = dst.unwrap_or_else(|| self.temp());
        self.code.push(match (from, to) {
            (DataType::F16, _) => Op::WidenF16 { d, a: ra },
            (DataType::BF16, _) => Op::WidenBF16 { d, a: ra },
            (DataType::I8, _) => Op::SExt8 { d, a: ra },
            (DataType::I16, _) => Op::SExt16 { d, a: ra },
            (_, DataType::F16) => Op::ToF16 { d, a: ra },
            (_, DataType::BF16) => Op::ToBF16 { d, a: ra },
            (_, DataType::U8 | DataType::I8) => Op::ZExt8 { d, a: ra },
            _ => Op::ZExt16 { d, a: ra },
        });
        Some((d, to))
    }

    /// `d = k(a, b, c)` on 64-bit registers.
    fn wide(&mut self, k: WideK, d: Reg, [a, b, c]: [Reg; 3]) {
        self.code.push(Op::Wide { k, d, a, b, c });
    }

    /// An operator's operand type: never narrow in the normal form.
    fn narrow_operand(&mut self, t: DataType) {
        if t.is_narrow() {
            self.unsupported(format!("an operation on `{t}`"));
        }
    }

    /// Record a construct outside the widened normal form (the first one
    /// wins); compilation then fails.
    fn unsupported(&mut self, what: String) {
        if self.unsupported.is_none() {
            self.unsupported = Some(what);
        }
    }

    /// A collective subgroup operation into `dst` (a temporary when
    /// `None`). Validation guarantees its arity and operand types.
    fn subgroup(&mut self, op: SubgroupOp, args: &[Expr], dst: Option<Reg>) -> (Reg, DataType) {
        // Validation gives every collective at least one operand.
        let Some(v) = args.first() else {
            return (BUILTIN_REGS, DataType::U32);
        };
        let mark = self.next_temp;
        let (a, t) = self.expr(v, None);
        self.narrow_operand(t);
        let b = match args.get(1) {
            Some(lane) => self.expr(lane, None).0,
            None => a,
        };
        self.next_temp = mark;
        let d = dst.unwrap_or_else(|| self.temp());
        use DataType::{F32, I32};
        let (k, rt) = match op {
            SubgroupOp::Add if t == F32 => (SubgroupK::AddF, t),
            SubgroupOp::Add => (SubgroupK::AddI, t),
            SubgroupOp::Min => (
                match t {
                    F32 => SubgroupK::MinF,
                    I32 => SubgroupK::MinI,
                    _ => SubgroupK::MinU,
                },
                t,
            ),
            SubgroupOp::Max => (
                match t {
                    F32 => SubgroupK::MaxF,
                    I32 => SubgroupK::MaxI,
                    _ => SubgroupK::MaxU,
                },
                t,
            ),
            SubgroupOp::Shuffle => (SubgroupK::Shuffle, t),
            SubgroupOp::ShuffleXor => (SubgroupK::ShuffleXor, t),
            SubgroupOp::ShuffleDown => (SubgroupK::ShuffleDown, t),
            SubgroupOp::BroadcastFirst => (SubgroupK::BroadcastFirst, t),
            SubgroupOp::Ballot => (SubgroupK::Ballot, DataType::U32),
            SubgroupOp::All => (SubgroupK::All, DataType::Bool),
            SubgroupOp::Any => (SubgroupK::Any, DataType::Bool),
            // Not collective: read from fixed registers (see `expr`).
            SubgroupOp::InvocationId | SubgroupOp::Size => return (d, DataType::U32),
        };
        self.synchronised = true;
        self.code.push(Op::Subgroup { k, d, a, b });
        (d, rt)
    }

    /// An atomic, its old value in `dst` (a temporary when `None`).
    fn atomic(
        &mut self,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
        dst: Option<Reg>,
    ) {
        let mark = self.next_temp;
        let (i, _) = self.expr(index, None);
        let e = expected.map(|x| self.expr(x, None).0);
        let (v, _) = self.expr(value, None);
        self.next_temp = mark;
        let d = dst.unwrap_or_else(|| self.temp());
        let m = self.mem(buf);
        let signed = self.p.elem_type(buf) == Some(DataType::I32);
        let float = self.p.elem_type(buf) == Some(DataType::F32);
        let k = match op {
            AtomicOp::Add if float => AtomicK::AddF,
            AtomicOp::Add => AtomicK::Add,
            AtomicOp::Sub => AtomicK::Sub,
            AtomicOp::Min if signed => AtomicK::MinI,
            AtomicOp::Min => AtomicK::MinU,
            AtomicOp::Max if signed => AtomicK::MaxI,
            AtomicOp::Max => AtomicK::MaxU,
            AtomicOp::And => AtomicK::And,
            AtomicOp::Or => AtomicK::Or,
            AtomicOp::Xor => AtomicK::Xor,
            AtomicOp::Exchange => AtomicK::Xchg,
            AtomicOp::CompareExchange => {
                self.code.push(Op::Cas {
                    d,
                    m,
                    i,
                    e: e.unwrap_or(v),
                    v,
                });
                self.access(index);
                return;
            }
        };
        self.code.push(Op::Atomic { k, d, m, i, v });
        self.access(index);
    }
}

/// `x * y + other` or `other + x * y`: the operands of an integer
/// multiply-add.
fn mul_add_parts<'e>(a: &'e Expr, b: &'e Expr) -> Option<(&'e Expr, &'e Expr, &'e Expr)> {
    match (a, b) {
        (Expr::Binary(BinOp::Mul, x, y), other) | (other, Expr::Binary(BinOp::Mul, x, y)) => {
            Some((x, y, other))
        }
        _ => None,
    }
}

/// Every literal's bits (plus 1, the `for` increment), the number of `for`
/// loops, and whether `subgroup_invocation_id()` or `subgroup_size()` is
/// read (`ids`).
fn collect(body: &[Node], lits: &mut Vec<Word>, n_for: &mut usize, ids: &mut bool) {
    fn expr(e: &Expr, lits: &mut Vec<Word>, ids: &mut bool) {
        match e {
            Expr::Lit(l) => lits.push(literal_bits(*l)),
            Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
            Expr::Load { index, .. } => expr(index, lits, ids),
            Expr::Subgroup(op, args) => {
                *ids |= !op.is_collective();
                args.iter().for_each(|a| expr(a, lits, ids));
            }
            Expr::Unary(_, a) | Expr::Cast(_, a) => expr(a, lits, ids),
            Expr::Binary(_, a, b) => {
                expr(a, lits, ids);
                expr(b, lits, ids);
            }
            Expr::Math(_, args) => args.iter().for_each(|a| expr(a, lits, ids)),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, lits, ids);
                expr(then, lits, ids);
                expr(otherwise, lits, ids);
            }
        }
    }
    for n in body {
        match n {
            Node::Let { value, .. } | Node::Assign { value, .. } => expr(value, lits, ids),
            Node::Atomic {
                index,
                expected,
                value,
                ..
            } => {
                expr(index, lits, ids);
                if let Some(x) = expected {
                    expr(x, lits, ids);
                }
                expr(value, lits, ids);
            }
            Node::Store { index, value, .. } => {
                expr(index, lits, ids);
                expr(value, lits, ids);
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, lits, ids);
                collect(then, lits, n_for, ids);
                collect(otherwise, lits, n_for, ids);
            }
            Node::While { cond, body } => {
                expr(cond, lits, ids);
                collect(body, lits, n_for, ids);
            }
            Node::For {
                start, end, body, ..
            } => {
                *n_for += 1;
                lits.push(1);
                expr(start, lits, ids);
                expr(end, lits, ids);
                collect(body, lits, n_for, ids);
            }
            Node::Loop { body } | Node::Unsafe { body } => collect(body, lits, n_for, ids),
            Node::Break
            | Node::Continue
            | Node::Return
            | Node::Barrier
            | Node::WarpgroupBarrier => {}
            Node::Matrix(_) | Node::Async(_) => {
                for e in n.exprs() {
                    expr(e, lits, ids);
                }
            }
        }
    }
}
