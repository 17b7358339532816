//! One bounds analysis for every target: which loads, stores and atomics
//! need a run-time check that their index is below the buffer's (or shared
//! array's) length.
//!
//! An access needs no check when the kernel is unchecked, or when a fact
//! proves the index in range at that point:
//!
//! - a dominating guard `key + off < bound` (an `if`/`while` condition, a
//!   `for` range, or an earlier `if !(..) { return / break / continue }` in
//!   the same block), where `bound` is the buffer's `len()` (or an
//!   immutable local holding it) or, for shared arrays, a constant not above
//!   the array's length; the fact proves every index `key + d` with
//!   `d <= off`, and holds while the key local is not redefined;
//! - for shared arrays, a static upper bound of the index below the length
//!   (`align::Ranges`: constants, `local_id()`, bounded immutable locals, `for`
//!   variables);
//! - the access is inside an `unsafe` block ([`Node::Unsafe`]): the kernel's
//!   author vouches for it (under [`BoundsChecks::Always`] it is checked
//!   like any other).
//!
//! The decisions are computed once, in [`IndexChecks::analyse`], and the
//! emitters ask [`IndexChecks::needs_check`] with the access's index
//! expression, so every target checks exactly the same accesses. Accesses
//! are identified by the address of their index expression, which is
//! stable while the analysed program is borrowed (the analysis holds that
//! borrow).

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::DispatchConfig;
use crate::driver::BoundsChecks;
use crate::ir::addr::{AddrMap, addr_of};
use crate::ir::{BinOp, BufRef, DataType, Expr, Literal, LocalId, MatrixOp, Node, Program, UnOp};

use super::align::{Alignment, Key, Ranges, keyed};

/// What a bounds fact compares an index against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    /// `len()` of a buffer parameter.
    Len(u32),
    /// A constant.
    Const(u32),
}

/// A dominating fact `key + off < bound`, where the sum cannot wrap (`off`
/// is 0 or below a power of two dividing `key`), so every index `key + d`
/// with `d <= off` is in range. `alive` turns false when the key local is
/// redefined.
#[derive(Debug, Clone)]
struct Fact {
    key: Key,
    off: u32,
    bound: Bound,
    alive: bool,
}

/// How an emitter used a decision, as recorded by [`IndexChecks::take_queries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// One element accessed on its own.
    Scalar,
    /// The highest element of a 16-byte group of four accesses
    /// `key + base .. key + base + 3`: the whole group shares its decision.
    GroupLast,
    /// An access served by a 16-byte group access (its own decision was
    /// not used: the group's was).
    InGroup,
}

/// The decision for one access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessDecision {
    /// Whether the access needs a bounds check.
    pub checked: bool,
    /// Whether the access can run: false after a `break`, `continue` or
    /// `return` in the same block (targets may drop such code).
    pub reachable: bool,
}

/// One question an emitter asked: the access (its position in program
/// order, see [`IndexChecks::decisions`]), how it was used and the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckQuery {
    /// Position of the access in program order.
    pub access: usize,
    /// Scalar access or vector group.
    pub kind: QueryKind,
    /// Whether the emitter was told to check it.
    pub checked: bool,
}

/// The bounds-check decision of every access of one program.
#[derive(Debug)]
pub struct IndexChecks<'p> {
    /// Index expression address -> (position in program order, checked).
    by_index: AddrMap<(usize, bool)>,
    /// Whether the kernel's accesses are checked at all.
    checks: bool,
    /// Operand address -> static upper bound, for the operands (offsets,
    /// strides, indices) of matrix and copy statements when checks may be
    /// elided.
    operand_max: AddrMap<u64>,
    /// The operands of the matrix and copy statements of `unsafe` blocks.
    trusted_operands: AddrMap<()>,
    /// Decisions in program order.
    in_order: Vec<AccessDecision>,
    /// What emitters asked, in order (for the cross-target test and tools
    /// that explain a kernel's checks).
    queries: RefCell<Vec<CheckQuery>>,
    _program: PhantomData<&'p Program>,
}

impl<'p> IndexChecks<'p> {
    /// Analyse a validated `program` under `config`'s bounds-check policy.
    #[must_use]
    pub fn analyse(program: &'p Program, config: &DispatchConfig) -> Self {
        let wg = config.effective_workgroup_size(program);
        let mut walk = Walk {
            program,
            checks: config.checks_bounds(program),
            elide: config.bounds_checks == BoundsChecks::Auto,
            facts: Vec::new(),
            align: Alignment::new(program),
            ranges: Ranges::new(program, wg),
            len_local: vec![None; program.locals.len()],
            by_index: AddrMap::default(),
            operand_max: AddrMap::default(),
            trusted_operands: AddrMap::default(),
            in_order: Vec::new(),
            dead: false,
            unsafe_depth: 0,
        };
        walk.block(&program.body);
        Self {
            checks: walk.checks,
            operand_max: walk.operand_max,
            trusted_operands: walk.trusted_operands,
            by_index: walk.by_index,
            in_order: walk.in_order,
            queries: RefCell::new(Vec::new()),
            _program: PhantomData,
        }
    }

    /// Decisions that elide every check of `program`, sound or not: for
    /// testing that consumers notice an unsound analysis.
    #[cfg(test)]
    pub(crate) fn assume_in_range(program: &'p Program, config: &DispatchConfig) -> Self {
        let mut checks = Self::analyse(program, config);
        for (_, checked) in checks.by_index.values_mut() {
            *checked = false;
        }
        for d in &mut checks.in_order {
            d.checked = false;
        }
        checks.checks = false;
        checks
    }

    /// Whether the access whose index expression is `index` (a node of the
    /// analysed program) needs a check. An expression that is not the
    /// index of an access of the program is answered `true`.
    #[must_use]
    pub fn needs_check(&self, index: &Expr) -> bool {
        self.ask(index, QueryKind::Scalar)
    }

    /// Whether a 16-byte group of four accesses needs a check; `last` is
    /// the index expression of its highest element (`key + base + 3`),
    /// whose fact proves the three below it too.
    #[must_use]
    pub fn group_needs_check(&self, last: &Expr) -> bool {
        self.ask(last, QueryKind::GroupLast)
    }

    /// Record that the access whose index expression is `index` is served
    /// by a 16-byte group access (asked with [`Self::group_needs_check`]).
    pub fn served_by_group(&self, index: &Expr) {
        self.ask(index, QueryKind::InGroup);
    }

    fn ask(&self, index: &Expr, kind: QueryKind) -> bool {
        let Some(&(access, checked)) = self.by_index.get(&addr_of(index)) else {
            return true;
        };
        self.queries.borrow_mut().push(CheckQuery {
            access,
            kind,
            checked,
        });
        checked
    }

    /// Every access's decision, in program order (pre-order over
    /// statements; within a statement, an access before the accesses of
    /// its index and value).
    #[must_use]
    pub fn decisions(&self) -> &[AccessDecision] {
        &self.in_order
    }

    /// The questions asked since the last call, oldest first.
    pub fn take_queries(&self) -> Vec<CheckQuery> {
        std::mem::take(&mut *self.queries.borrow_mut())
    }

    /// Whether a span of elements a matrix or copy statement accesses needs
    /// a run-time check: the elements `offset + i * stride + j` for
    /// `i < majors`, `j < minors` (`stride` `None` for one row), of an array
    /// of `len` elements (`None`: a buffer, whose length is only known at
    /// run time). `offset` and `stride` are operands of a
    /// [`Node::Matrix`] or [`Node::Async`] statement of the analysed
    /// program. No check when the kernel is unchecked, when the statement is
    /// in an `unsafe` block, or when static upper bounds of the operands
    /// (`align::Ranges`, as for shared-array indices) put the last element
    /// below `len`. Such statements cover many
    /// elements, so targets check them as a whole (once per statement) and
    /// they take no part in [`IndexChecks::decisions`].
    #[must_use]
    pub fn span_needs_check(
        &self,
        offset: &Expr,
        stride: Option<&Expr>,
        majors: u32,
        minors: u32,
        len: Option<u32>,
    ) -> bool {
        if !self.checks || self.trusted_operands.contains_key(&addr_of(offset)) {
            return false;
        }
        let max = |e: &Expr| self.operand_max.get(&addr_of(e)).copied();
        let last = || {
            let rows = u64::from(majors.max(1) - 1);
            let along = match stride {
                Some(s) => max(s)?.checked_mul(rows)?,
                None => 0,
            };
            max(offset)?
                .checked_add(along)?
                .checked_add(u64::from(minors.max(1) - 1))
        };
        !matches!((len, last()), (Some(len), Some(last)) if last < u64::from(len))
    }
}

/// The analysis walk, in execution order.
struct Walk<'p> {
    program: &'p Program,
    /// The kernel is checked at all.
    checks: bool,
    /// Facts may elide checks (`BoundsChecks::Auto`).
    elide: bool,
    facts: Vec<Fact>,
    align: Alignment<'p>,
    ranges: Ranges<'p>,
    /// Immutable locals defined as `buf.len()`.
    len_local: Vec<Option<u32>>,
    by_index: AddrMap<(usize, bool)>,
    /// Static upper bounds of matrix and copy operands.
    operand_max: AddrMap<u64>,
    /// Operands of matrix and copy statements in `unsafe` blocks.
    trusted_operands: AddrMap<()>,
    in_order: Vec<AccessDecision>,
    /// After a jump in the current block: nothing here runs.
    dead: bool,
    /// How many `unsafe` blocks enclose the statement being walked.
    unsafe_depth: u32,
}

impl Walk<'_> {
    fn block(&mut self, body: &[Node]) {
        let mark = self.facts.len();
        let dead = self.dead;
        for node in body {
            self.node(node);
            if matches!(node, Node::Break | Node::Continue | Node::Return) {
                self.dead = true;
            }
            // `if i >= n { return; }` (or `break`/`continue`) guards the
            // rest of the block.
            if let Node::If {
                cond,
                then,
                otherwise,
            } = node
                && otherwise.is_empty()
                && matches!(
                    then.last(),
                    Some(Node::Return | Node::Break | Node::Continue)
                )
            {
                let facts = self.neg_facts(cond);
                self.add_facts(facts);
            }
        }
        self.facts.truncate(mark);
        self.dead = dead;
    }

    fn add_facts(&mut self, facts: Vec<Fact>) {
        if self.elide {
            self.facts.extend(facts);
        }
    }

    fn guarded_block(&mut self, facts: Vec<Fact>, body: &[Node]) {
        let mark = self.facts.len();
        self.add_facts(facts);
        self.block(body);
        self.facts.truncate(mark);
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Let { local, value } | Node::Assign { local, value } => {
                // The value's own accesses see the facts from before.
                self.expr(value);
                self.kill(*local);
                self.align.assign(*local, value);
                if !self.program.locals[*local as usize].mutable {
                    self.ranges.define(*local, value);
                    self.len_local[*local as usize] = match value {
                        Expr::Len(p) => Some(*p),
                        _ => None,
                    };
                }
            }
            Node::Store { buf, index, value } => {
                self.access(*buf, index);
                self.expr(index);
                self.expr(value);
            }
            Node::Atomic {
                buf,
                index,
                expected,
                value,
                result,
                ..
            } => {
                // Decided like a store; the operands' own accesses see the
                // facts from before the result is defined.
                self.access(*buf, index);
                self.expr(index);
                if let Some(x) = expected {
                    self.expr(x);
                }
                self.expr(value);
                if let Some(local) = result.local() {
                    self.kill(local);
                    self.align.set(local, 1);
                    self.ranges.define_unknown(local);
                    self.len_local[local as usize] = None;
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                let f = self.facts(cond);
                let before = self.align.clone();
                self.guarded_block(f, then);
                let after_then = std::mem::replace(&mut self.align, before);
                if !otherwise.is_empty() {
                    let f = self.neg_facts(cond);
                    self.guarded_block(f, otherwise);
                }
                // Alignment after the `if`: what both paths guarantee.
                self.align.join(&after_then);
            }
            Node::While { cond, body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                // The condition runs again after every iteration: facts
                // about locals the body redefines do not hold for it.
                self.kill_assigned_in(body);
                self.expr(cond);
                let f = self.facts(cond);
                self.guarded_block(f, body);
                self.align = at_head;
            }
            Node::For {
                var,
                start,
                end,
                step,
                body,
                ..
            } => {
                // `start` and `end` are evaluated once, before the loop.
                self.expr(start);
                self.expr(end);
                let ty = self.program.locals[*var as usize].ty;
                self.align.set_for_var(*var, start, *step);
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                self.ranges.define_for(*var, ty, start, end);
                self.kill(*var);
                self.kill_assigned_in(body);
                let f = self.for_facts(*var, ty, start, end);
                self.guarded_block(f, body);
                self.align = at_head;
            }
            Node::Loop { body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                self.kill_assigned_in(body);
                self.block(body);
                self.align = at_head;
            }
            // In line: the facts from before hold inside, and the block's
            // own facts end with it.
            Node::Unsafe { body } => {
                self.unsafe_depth += 1;
                self.block(body);
                self.unsafe_depth -= 1;
            }
            // Matrix and copy accesses cover many elements; targets check
            // them as a whole (the analysis decides single elements only),
            // from the static bounds of their operands
            // ([`IndexChecks::span_needs_check`]).
            Node::Matrix(_) | Node::Async(_) => {
                if let Node::Matrix(MatrixOp::Map {
                    d, row, col, value, ..
                }) = node
                {
                    // The closure's locals: a row and a column of `d`, and
                    // an element's value.
                    let (rows, cols) = self
                        .program
                        .matrices
                        .get(*d as usize)
                        .map_or((0, 0), crate::ir::MatrixDecl::dims);
                    for (local, n) in [(*row, rows), (*col, cols), (*value, 0)] {
                        self.kill(local);
                        self.align.set(local, 1);
                        self.len_local[local as usize] = None;
                        match n.checked_sub(1) {
                            Some(max) => self.ranges.define_max(local, u64::from(max)),
                            None => self.ranges.define_unknown(local),
                        }
                    }
                }
                for e in node.exprs() {
                    self.expr(e);
                    if self.checks && self.elide && self.unsafe_depth > 0 {
                        self.trusted_operands.insert(addr_of(e), ());
                    }
                    if self.checks
                        && self.elide
                        && let Some(m) = self.ranges.max_value(e)
                    {
                        self.operand_max.insert(addr_of(e), m);
                    }
                }
            }
            Node::Break
            | Node::Continue
            | Node::Return
            | Node::Barrier
            | Node::WarpgroupBarrier => {}
        }
    }

    /// Visit the accesses of `e`, each before those of its operands.
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Load { buf, index } => {
                self.access(*buf, index);
                self.expr(index);
            }
            Expr::Unary(_, a) | Expr::Cast(_, a) => self.expr(a),
            Expr::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            Expr::Math(_, args) | Expr::Subgroup(_, args) => args.iter().for_each(|a| self.expr(a)),
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
            }
            Expr::Lit(_) | Expr::Local(_) | Expr::Param(_) | Expr::Builtin(..) | Expr::Len(_) => {}
        }
    }

    /// Decide and record the access `buf[index]`.
    fn access(&mut self, buf: BufRef, index: &Expr) {
        let checked = self.decide(buf, index);
        self.by_index
            .insert(addr_of(index), (self.in_order.len(), checked));
        self.in_order.push(AccessDecision {
            checked,
            reachable: !self.dead,
        });
    }

    fn decide(&self, buf: BufRef, index: &Expr) -> bool {
        if !self.checks {
            return false;
        }
        if !self.elide {
            return true;
        }
        if self.unsafe_depth > 0 {
            return false;
        }
        let shared_len = self.program.static_len(buf);
        if let Some(len) = shared_len
            && self
                .ranges
                .max_value(index)
                .is_some_and(|m| m < u64::from(len))
        {
            return false;
        }
        let Some((key, d)) = keyed(index) else {
            return true;
        };
        !self.facts.iter().any(|f| {
            f.alive
                && f.key == key
                && f.off >= d
                && match (buf, &f.bound) {
                    (BufRef::Param(p), Bound::Len(q)) => p == *q,
                    (BufRef::Shared(_) | BufRef::Private(_), Bound::Const(n)) => {
                        shared_len.is_some_and(|len| *n <= len)
                    }
                    _ => false,
                }
        })
    }

    /// Facts inside `for var in start..end`.
    fn for_facts(&self, var: LocalId, ty: DataType, start: &Expr, end: &Expr) -> Vec<Fact> {
        let fact = |bound| Fact {
            key: Key::Local(var),
            off: 0,
            bound,
            alive: true,
        };
        let mut f = Vec::new();
        if ty == DataType::U32 {
            match end {
                Expr::Len(b) => f.push(fact(Bound::Len(*b))),
                Expr::Local(l) => {
                    if let Some(b) = self.len_local[*l as usize] {
                        f.push(fact(Bound::Len(b)));
                    }
                }
                Expr::Lit(Literal::U32(n)) => f.push(fact(Bound::Const(*n))),
                _ => {}
            }
        } else if let (Expr::Lit(Literal::I32(n)), Expr::Lit(Literal::I32(st))) = (end, start)
            && *st >= 0
        {
            // Non-negative constant range: the i32 index is < n.
            f.push(fact(Bound::Const(n.cast_unsigned())));
        }
        f
    }

    /// `a < b` (`a <= b` with `or_equal`) as a fact.
    fn lt_fact(&self, a: &Expr, b: &Expr, or_equal: bool) -> Option<Fact> {
        // `Len` and `u32` literals make the comparison unsigned (validation
        // requires equal operand types), so a negative `i32` cannot slip by.
        let (key, off) = keyed(a)?;
        if off != 0 && off >= self.align.key(&key) {
            // `key + off` might wrap around: proves nothing.
            return None;
        }
        let bound = match b {
            Expr::Len(p) if !or_equal => Bound::Len(*p),
            Expr::Local(l) if !or_equal => Bound::Len(self.len_local[*l as usize]?),
            Expr::Lit(Literal::U32(n)) => {
                Bound::Const(if or_equal { n.checked_add(1)? } else { *n })
            }
            _ => return None,
        };
        Some(Fact {
            key,
            off,
            bound,
            alive: true,
        })
    }

    /// Facts that hold where `cond` is true.
    fn facts(&self, cond: &Expr) -> Vec<Fact> {
        let mut out = Vec::new();
        match cond {
            Expr::Binary(BinOp::Lt, a, b) => out.extend(self.lt_fact(a, b, false)),
            Expr::Binary(BinOp::Le, a, b) => out.extend(self.lt_fact(a, b, true)),
            Expr::Binary(BinOp::Gt, a, b) => out.extend(self.lt_fact(b, a, false)),
            Expr::Binary(BinOp::Ge, a, b) => out.extend(self.lt_fact(b, a, true)),
            Expr::Binary(BinOp::And | BinOp::BitAnd, a, b) => {
                out.extend(self.facts(a));
                out.extend(self.facts(b));
            }
            Expr::Unary(UnOp::Not, a) => out.extend(self.neg_facts(a)),
            _ => {}
        }
        out
    }

    /// Facts that hold where `cond` is false.
    fn neg_facts(&self, cond: &Expr) -> Vec<Fact> {
        let mut out = Vec::new();
        match cond {
            // !(a >= b) == a < b
            Expr::Binary(BinOp::Ge, a, b) => out.extend(self.lt_fact(a, b, false)),
            Expr::Binary(BinOp::Gt, a, b) => out.extend(self.lt_fact(a, b, true)),
            Expr::Binary(BinOp::Le, a, b) => out.extend(self.lt_fact(b, a, false)),
            Expr::Binary(BinOp::Lt, a, b) => out.extend(self.lt_fact(b, a, true)),
            Expr::Binary(BinOp::Or | BinOp::BitOr, a, b) => {
                out.extend(self.neg_facts(a));
                out.extend(self.neg_facts(b));
            }
            Expr::Unary(UnOp::Not, a) => out.extend(self.facts(a)),
            _ => {}
        }
        out
    }

    /// The local was (re)defined: facts about it no longer hold.
    fn kill(&mut self, local: LocalId) {
        for f in &mut self.facts {
            if f.key == Key::Local(local) {
                f.alive = false;
            }
        }
    }

    /// Before a loop: facts about locals the body redefines do not hold on
    /// later iterations, even before the redefinition.
    fn kill_assigned_in(&mut self, body: &[Node]) {
        let mut ids = Vec::new();
        crate::ir::walk_nodes(body, &mut |n| match n {
            Node::For { var, .. } => ids.push(*var),
            _ => ids.extend(n.defined_local()),
        });
        for id in ids {
            self.kill(id);
        }
    }
}
