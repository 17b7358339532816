//! Tile copies on Hopper: TMA (`cp.async.bulk.tensor`) and the barrier
//! objects that track their groups.
//!
//! The middle layer ([`crate::mid::tile`]) leaves a tile copy as `if guard
//! { copy } else { loop }`; here the copy is issued by one invocation (the
//! *leader*, local id 0), one TMA copy per 128-byte column panel of the box,
//! from the tensor map the launcher passes after the kernel's parameters
//! (`vyre_tmap<i>`, see [`crate::mid::tile::tensor_maps`]).
//!
//! The language's groups (`async_commit` closes one, `async_wait(n)` waits
//! until at most `n` are pending) map onto a ring of [`SLOTS`] barrier
//! objects: group `g` completes on `full[g % SLOTS]`, which the leader arms
//! with each copy's bytes (`expect_tx`) and arrives on at the commit; the
//! copies' bytes complete it. Every invocation waits for a group on its
//! `full` barrier (phase parity `(g / SLOTS) % 2`) and then arrives on
//! `empty[g % SLOTS]` (count: the workgroup), and before the leader reuses a
//! slot for group `g + SLOTS` it waits on `empty` until every invocation has
//! seen group `g` complete, so no invocation can miss a phase. The commit
//! that opens group `g + SLOTS` first waits for group `g` in every
//! invocation (copies, commits and waits are collective in such a kernel,
//! so all of them get there): the ring never holds more than `SLOTS`
//! groups. Before the kernel returns, every invocation waits for all its
//! groups, so no copy lands in the shared memory of a finished workgroup.

use std::borrow::Cow;

use crate::ir::{AsyncOp, DataType, Program, SharedDecl, SharedLayout};
use crate::mid::tile::{TileMap, tensor_maps};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Label, Operand, Reg, Special, Symbol, int};
use super::Emitter;

/// Barrier objects per direction (`full` and `empty`): groups that may be
/// pending at once before a commit waits for the oldest.
pub(super) const SLOTS: u32 = 8;

/// The name of the barrier array [`with_tile_barriers`] adds.
const BARRIERS: &str = "__vyre_tile_barriers";

/// `program` with the shared array of barrier objects its tile copies need
/// (`2 * SLOTS` `u64`s: `full`, then `empty`), when it has any.
pub(in super::super) fn with_tile_barriers(program: &Program) -> Cow<'_, Program> {
    if !program.has_tile_copies() {
        return Cow::Borrowed(program);
    }
    let mut p = program.clone();
    p.shared.push(SharedDecl {
        name: BARRIERS.into(),
        elem: DataType::U64,
        len: 2 * SLOTS,
        layout: SharedLayout::Linear,
    });
    Cow::Owned(p)
}

/// Whether `program` has the barrier array of [`with_tile_barriers`].
pub(in super::super) fn has_barriers(program: &Program) -> bool {
    program.shared.iter().any(|s| s.name == BARRIERS)
}

/// The registers of a kernel with TMA tile copies.
pub(super) struct Tma {
    /// The group ring's registers.
    ring: Ring,
    /// The tensor maps, in parameter order, with their generic addresses.
    maps: Vec<(TileMap, Reg)>,
}

/// The registers that track the groups on the barrier ring.
#[derive(Clone, Copy)]
struct Ring {
    /// Groups committed (the same in every invocation).
    committed: Reg,
    /// Groups this invocation has waited for.
    waited: Reg,
    /// Whether this is the leader (local id 0).
    leader: Reg,
    /// Shared address of `full[0]` (`empty[0]` is `SLOTS` objects on).
    bars: Reg,
}

impl Emitter<'_> {
    /// At kernel entry: the registers, the tensor maps' addresses, and the
    /// barrier objects initialised by the leader before anyone uses them.
    pub(super) fn tma_setup(&mut self) {
        let Some(bars_id) = self.program.shared.iter().position(|s| s.name == BARRIERS) else {
            return;
        };
        let or_xy = self.code.reg(Class::R);
        let or_xyz = self.code.reg(Class::R);
        let (tx, ty, tz) = (
            self.code.reg(Class::R),
            self.code.reg(Class::R),
            self.code.reg(Class::R),
        );
        ins!(self.code; Mov.U32 tx, Special::Tid(0));
        ins!(self.code; Mov.U32 ty, Special::Tid(1));
        ins!(self.code; Mov.U32 tz, Special::Tid(2));
        ins!(self.code; Or.B32 or_xy, tx, ty);
        ins!(self.code; Or.B32 or_xyz, or_xy, tz);
        let leader = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Eq.U32 leader, or_xyz, int(0));
        let committed = self.code.reg(Class::R);
        let waited = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 committed, int(0));
        ins!(self.code; Mov.U32 waited, int(0));
        let bars = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 bars, Symbol::Shared(bars_id));
        let maps = tensor_maps(self.program)
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let param = self.code.reg(Class::Rd);
                let generic = self.code.reg(Class::Rd);
                ins!(self.code; Mov.U64 param, Symbol::TensorMap(i));
                ins!(self.code; Cvta.Param.U64 generic, param);
                (m, generic)
            })
            .collect();
        let [x, y, z] = self.wg;
        let threads = i64::from(x * y * z);
        let skip = self.code.label("tmainit");
        ins!(self.code; @!leader; Bra skip);
        for s in 0..SLOTS {
            ins!(self.code; Mbarrier.Init.SharedCta.B64 Addr::reg_off(bars, 8 * s), int(1));
            ins!(self.code; Mbarrier.Init.SharedCta.B64 Addr::reg_off(bars, 8 * (SLOTS + s)), int(threads));
        }
        ins!(self.code; Fence.MbarrierInit.Release.Cluster);
        self.code.place(skip);
        ins!(self.code; Barrier.Sync int(0));
        self.tma = Some(Tma {
            ring: Ring {
                committed,
                waited,
                leader,
                bars,
            },
            maps,
        });
    }

    /// A tile copy kept for the copy engine: the leader arms the current
    /// group's barrier with the box's bytes and issues one TMA copy per
    /// panel.
    pub(super) fn tile_copy(&mut self, op: &AsyncOp) {
        let AsyncOp::Tile {
            dst,
            dst_index,
            row,
            col,
            box_rows,
            box_cols,
            ..
        } = op
        else {
            return;
        };
        let Some(map) = TileMap::of(op) else {
            return;
        };
        let Some(tma) = &self.tma else {
            return;
        };
        let ring = tma.ring;
        let Some(&(_, map_addr)) = tma.maps.iter().find(|(m, _)| *m == map) else {
            return;
        };
        let elem = self.program.shared[*dst as usize].elem;
        let size = elem.size_bytes();
        let panel = SharedLayout::panel_cols(size);
        let di = self.expr(dst_index);
        let di = self.in_reg(&di);
        let r = self.expr(row);
        let r = self.in_reg(&r);
        let c = self.expr(col);
        let c = self.in_reg(&c);
        let skip = self.code.label("tmacopy");
        ins!(self.code; @!ring.leader; Bra skip);
        let bar = self.slot_addr(ring, ring.committed, 0);
        // Earlier accesses of the tile through the generic proxy (this
        // workgroup's, ordered before by its barriers) come before the copy
        // engine's writes.
        ins!(self.code; Fence.Proxy.Async.SharedCta);
        let bytes = box_rows * box_cols * size;
        ins!(self.code; Mbarrier.ExpectTx.Relaxed.Cta.SharedCta.B64 Addr::reg(bar), int(i64::from(bytes)));
        for p in 0..box_cols / panel {
            let (idx, x) = if p == 0 {
                (di, c)
            } else {
                let idx = self.code.reg(Class::R);
                let x = self.code.reg(Class::R);
                ins!(self.code; Add.U32 idx, di, int(i64::from(p * panel)));
                ins!(self.code; Add.U32 x, c, int(i64::from(p * panel)));
                (idx, x)
            };
            let to = self.array_addr(Symbol::Shared(*dst as usize), idx, size);
            ins!(self.code; Cp.Async.Bulk.Tensor.Dim2.SharedCluster.Global.TileMode.CompleteTxBytes
                Addr::reg(to), Operand::TensorCoords(map_addr, [x, r]), Addr::reg(bar));
        }
        self.code.place(skip);
    }

    /// `async_commit()` in a kernel with TMA copies: the leader's arrival
    /// closes the group; the ring's next slot is then made free.
    pub(super) fn tile_commit(&mut self) {
        let Some(ring) = self.ring() else {
            return;
        };
        let (leader, committed) = (ring.leader, ring.committed);
        let bar = self.slot_addr(ring, committed, 0);
        let sink = self.code.reg(Class::Rd);
        ins!(self.code; @leader; Mbarrier.Arrive.SharedCta.B64 sink, Addr::reg(bar));
        ins!(self.code; Add.U32 committed, committed, int(1));
        // Opening group `g` reuses the slot of group `g - SLOTS`: every
        // invocation has waited for that one, and the leader waits until
        // all have (their arrivals on its `empty`).
        let done = self.code.label("tmaopen");
        let early = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Lt.U32 early, committed, int(i64::from(SLOTS)));
        ins!(self.code; @early; Bra done);
        let oldest = self.code.reg(Class::R);
        ins!(self.code; Sub.U32 oldest, committed, int(i64::from(SLOTS)));
        self.wait_through(ring, oldest);
        ins!(self.code; @!leader; Bra done);
        let empty = self.slot_addr(ring, committed, SLOTS);
        let parity = self.parity(oldest);
        self.spin(empty, parity);
        self.code.place(done);
    }

    /// `async_wait(pending)` in a kernel with TMA copies: wait for every
    /// group but the latest `pending`.
    pub(super) fn tile_wait(&mut self, pending: u32) {
        let Some(ring) = self.ring() else {
            return;
        };
        let committed = ring.committed;
        let done = self.code.label("tmawait");
        let none = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Le.U32 none, committed, int(i64::from(pending)));
        ins!(self.code; @none; Bra done);
        let last = self.code.reg(Class::R);
        ins!(self.code; Sub.U32 last, committed, int(i64::from(pending) + 1));
        self.wait_through(ring, last);
        self.code.place(done);
    }

    /// Before the kernel returns: wait for every committed group.
    pub(super) fn tile_drain(&mut self) {
        if self.tma.is_some() {
            self.tile_wait(0);
        }
    }

    /// The ring's registers, in a kernel with TMA tile copies.
    fn ring(&self) -> Option<Ring> {
        self.tma.as_ref().map(|t| t.ring)
    }

    /// Wait for groups `waited ..= last` in turn, arriving on each one's
    /// `empty` barrier.
    fn wait_through(&mut self, ring: Ring, last: Reg) {
        let waited = ring.waited;
        let top = self.code.label("tmaloop");
        let done = self.code.label("tmadone");
        self.code.place(top);
        let past = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Gt.U32 past, waited, last);
        ins!(self.code; @past; Bra done);
        let full = self.slot_addr(ring, waited, 0);
        let parity = self.parity(waited);
        self.spin(full, parity);
        let empty = self.slot_addr(ring, waited, SLOTS);
        let sink = self.code.reg(Class::Rd);
        ins!(self.code; Mbarrier.Arrive.SharedCta.B64 sink, Addr::reg(empty));
        ins!(self.code; Add.U32 waited, waited, int(1));
        ins!(self.code; Bra top);
        self.code.place(done);
    }

    /// The shared address of the barrier object of group `g`'s slot, `base`
    /// objects on (`0`: `full`, `SLOTS`: `empty`).
    fn slot_addr(&mut self, ring: Ring, g: Reg, base: u32) -> Reg {
        let bars = ring.bars;
        let slot = self.code.reg(Class::R);
        let addr = self.code.reg(Class::R);
        ins!(self.code; And.B32 slot, g, int(i64::from(SLOTS - 1)));
        if base != 0 {
            let s = self.code.reg(Class::R);
            ins!(self.code; Add.U32 s, slot, int(i64::from(base)));
            ins!(self.code; Mad.Lo.U32 addr, s, int(8), bars);
        } else {
            ins!(self.code; Mad.Lo.U32 addr, slot, int(8), bars);
        }
        addr
    }

    /// The phase parity of group `g` on its slot: `(g / SLOTS) % 2`.
    fn parity(&mut self, g: Reg) -> Reg {
        let p = self.code.reg(Class::R);
        let b = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 p, g, int(i64::from(SLOTS.trailing_zeros())));
        ins!(self.code; And.B32 b, p, int(1));
        b
    }

    /// Wait until the phase of parity `parity` of the barrier object at
    /// `addr` has completed.
    fn spin(&mut self, addr: Reg, parity: Reg) {
        let again: Label = self.code.label("tmaspin");
        self.code.place(again);
        let ready = self.code.reg(Class::Pred);
        ins!(self.code; Mbarrier.TryWait.Parity.SharedCta.B64 ready, Addr::reg(addr), parity);
        ins!(self.code; @!ready; Bra again);
    }
}
