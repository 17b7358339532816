//! Proxy fences between ordinary writes of shared memory and `wgmma`.
//!
//! `wgmma` reads its shared tiles through the *async proxy*; ordinary
//! stores, atomics, `stmatrix` and `cp.async` write through the *generic
//! proxy*. A tile written the generic way becomes visible to `wgmma` only
//! after `fence.proxy.async.shared::cta` in the writing thread, before the
//! barrier that publishes the writes (or in the reading thread itself,
//! after its own writes). Tiles filled by the copy engine (TMA) need none:
//! they are written through the async proxy.
//!
//! [`FencePlan`] follows, per thread and in program order, whether a
//! generic write of a `wgmma` tile may be unfenced (*pending*; a boolean
//! data flow, loops to their fixed point), and places fences:
//!
//! - before a `barrier()` and before a `wgmma` multiply, when pending;
//! - at the end of an `if` arm that holds a loop and leaves it pending
//!   where the statement began clear: a TMA kernel's element-by-element
//!   fallback (`mid::tile`) then fences once, on its own rare path, and the
//!   hot loop around it stays free of fences. Smaller arms (`if inside {
//!   tile[i] = .. }` inside a copy loop) leave the fence to the barrier
//!   after the loop, once instead of once per element.
//!
//! `async_copy`'s copies land when the thread's `async_wait` returns, so
//! that statement counts as the write.

use std::collections::HashSet;

use crate::ir::{AsyncOp, BufRef, MatrixOp, Node};

use super::super::isa::{Inst, Mod, Opcode};
use super::Emitter;

/// Where one kernel needs proxy fences; statements are named by address in
/// the emitted program's body.
#[derive(Debug, Default)]
pub(super) struct FencePlan {
    /// Barriers and `wgmma` multiplies preceded by a fence.
    before: HashSet<*const Node>,
    /// `if` statements whose `then` arm ends with one.
    then_end: HashSet<*const Node>,
    /// `if` statements whose `else` arm ends with one.
    else_end: HashSet<*const Node>,
}

/// Where a fence goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum FenceAt {
    /// Before the statement.
    Before,
    /// At the end of an `if`'s `then` arm.
    ThenEnd,
    /// At the end of an `if`'s `else` arm.
    ElseEnd,
}

impl FencePlan {
    /// Whether a fence goes at `at` of `node`.
    pub(super) fn has(&self, node: &Node, at: FenceAt) -> bool {
        let key: *const Node = node;
        match at {
            FenceAt::Before => self.before.contains(&key),
            FenceAt::ThenEnd => self.then_end.contains(&key),
            FenceAt::ElseEnd => self.else_end.contains(&key),
        }
    }
}

/// The data flow behind a [`FencePlan`].
struct Planner<'e, 'a> {
    emitter: &'e Emitter<'a>,
    /// Per shared array: some `wgmma` of the kernel may read it.
    tiles: Vec<bool>,
    /// Some `async_copy` writes such an array.
    copies_into_tiles: bool,
    /// Per enclosing loop: pending at some `break`, at some `continue`.
    loops: Vec<(bool, bool)>,
    /// Record fences (false while a loop looks for its fixed point).
    record: bool,
    plan: FencePlan,
}

impl Planner<'_, '_> {
    fn tile(&self, buf: BufRef) -> bool {
        match buf {
            BufRef::Shared(s) => self.tiles.get(s as usize).copied().unwrap_or(false),
            BufRef::Param(_) | BufRef::Private(_) => false,
        }
    }

    /// Whether `node` itself (not the statements it holds) writes a tile
    /// through the generic proxy.
    fn writes_tile(&self, node: &Node) -> bool {
        match node {
            Node::Store { buf, .. } | Node::Atomic { buf, .. } => self.tile(*buf),
            Node::Matrix(MatrixOp::Store { buf, .. }) => self.tile(*buf),
            Node::Matrix(MatrixOp::RowReduce { dst, .. }) => self.tile(BufRef::Shared(*dst)),
            Node::Async(AsyncOp::Wait { .. }) => self.copies_into_tiles,
            _ => false,
        }
    }

    /// Whether `node` reads tiles by `wgmma` or publishes writes.
    fn needs_clear(&self, node: &Node) -> bool {
        match node {
            Node::Barrier | Node::WarpgroupBarrier => true,
            Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { d, a, b, .. }) => {
                self.emitter.wgmma_tile_arrays(*d, a, b).is_some()
            }
            _ => false,
        }
    }

    fn mark(&mut self, node: &Node, at: FenceAt) {
        if self.record {
            let key: *const Node = node;
            let set = match at {
                FenceAt::Before => &mut self.plan.before,
                FenceAt::ThenEnd => &mut self.plan.then_end,
                FenceAt::ElseEnd => &mut self.plan.else_end,
            };
            set.insert(key);
        }
    }

    /// The state after `body`, entered with `pending`.
    fn block(&mut self, body: &[Node], mut pending: bool) -> bool {
        for node in body {
            pending = self.node(node, pending);
        }
        pending
    }

    fn node(&mut self, node: &Node, pending: bool) -> bool {
        if self.needs_clear(node) {
            if pending {
                self.mark(node, FenceAt::Before);
            }
            return false;
        }
        if self.writes_tile(node) {
            return true;
        }
        match node {
            Node::If {
                then, otherwise, ..
            } => {
                let arm = |p: &mut Self, body: &[Node], at: FenceAt| {
                    let end = p.block(body, pending);
                    if end && !pending && holds_loop(body) {
                        p.mark(node, at);
                        false
                    } else {
                        end
                    }
                };
                let then_end = arm(self, then, FenceAt::ThenEnd);
                let else_end = arm(self, otherwise, FenceAt::ElseEnd);
                then_end || else_end
            }
            Node::While { body, .. } | Node::For { body, .. } | Node::Loop { body } => {
                self.loop_body(body, pending)
            }
            Node::Unsafe { body } => self.block(body, pending),
            // Nothing runs after a jump: the state there is clear.
            Node::Break => {
                if let Some(l) = self.loops.last_mut() {
                    l.0 |= pending;
                }
                false
            }
            Node::Continue => {
                if let Some(l) = self.loops.last_mut() {
                    l.1 |= pending;
                }
                false
            }
            Node::Return => false,
            _ => pending,
        }
    }

    /// A loop entered with `pending`: the state at its head is the fixed
    /// point over the back edges; it leaves from the head or a `break`.
    fn loop_body(&mut self, body: &[Node], pending: bool) -> bool {
        let record = self.record;
        self.record = false;
        let mut head = pending;
        loop {
            self.loops.push((false, false));
            let end = self.block(body, head);
            let (_, cont) = self.loops.pop().unwrap_or_default();
            let next = head || end || cont;
            if next == head {
                break;
            }
            head = next;
        }
        self.record = record;
        self.loops.push((false, false));
        self.block(body, head);
        let (brk, _) = self.loops.pop().unwrap_or_default();
        head || brk
    }
}

/// Whether `body` holds a loop (at any depth).
fn holds_loop(body: &[Node]) -> bool {
    let mut found = false;
    crate::ir::walk_nodes(body, &mut |n| {
        found |= matches!(n, Node::While { .. } | Node::For { .. } | Node::Loop { .. });
    });
    found
}

impl Emitter<'_> {
    /// The fences of this kernel (none before sm_90a, where no `wgmma`
    /// reads a tile).
    pub(super) fn plan_proxy_fences(&self) -> FencePlan {
        let mut tiles = vec![false; self.program.shared.len()];
        if self.wgmma {
            crate::ir::walk_nodes(&self.program.body, &mut |n| {
                if let Node::Matrix(MatrixOp::WarpgroupMultiplyAdd { d, a, b, .. }) = n
                    && let Some((ta, tb)) = self.wgmma_tile_arrays(*d, a, b)
                {
                    for t in ta.into_iter().chain([tb]) {
                        if let Some(t) = tiles.get_mut(t) {
                            *t = true;
                        }
                    }
                }
            });
        }
        if !tiles.contains(&true) {
            return FencePlan::default();
        }
        let copies_into_tiles = self.program.any_node(&mut |n| {
            matches!(n, Node::Async(AsyncOp::Copy { dst, .. })
                if tiles.get(*dst as usize).copied().unwrap_or(false))
        });
        let mut planner = Planner {
            emitter: self,
            tiles,
            copies_into_tiles,
            loops: Vec::new(),
            record: true,
            plan: FencePlan::default(),
        };
        planner.block(&self.program.body, false);
        planner.plan
    }

    /// `fence.proxy.async.shared::cta` where the plan puts one at `at` of
    /// `node`.
    pub(super) fn proxy_fence(&mut self, node: &Node, at: FenceAt) {
        if self.proxy.has(node, at) {
            self.code.push(Inst::new(
                Opcode::Fence,
                &[Mod::Proxy, Mod::Async, Mod::SharedCta],
                &[],
            ));
        }
    }
}
