//! Subgroup operations: a subgroup is a warp.
//!
//! CUDA forms warps from consecutive flat thread indices (`x` fastest), so
//! subgroup `l / 32` and lane `l % 32` of the language are warp and
//! `%laneid` here. Validation only admits the collective operations in
//! workgroup-uniform control flow, where every thread of the block is
//! present; so a warp's members are known when the kernel is emitted: all 32
//! lanes, except in the last warp of a block whose size is not a multiple of
//! 32, which holds the first `size % 32`. That mask is computed once at
//! entry ([`Warp`]) rather than read with `activemask`: under independent
//! thread scheduling (sm_70+) `activemask` reports only the threads that
//! happen to run together, which after a divergent branch may be a part of
//! the warp, while a `*.sync` instruction given the full member mask waits
//! for all of them. The members always being a prefix of the lanes also
//! makes the shuffle clamp operand (`n - 1` for `n` members) turn
//! `shfl.sync`'s predicate into "the source lane holds an invocation".

use crate::ir::{DataType, Expr, SubgroupOp};

use super::super::WARP_SIZE;
use super::super::code::ins;
use super::super::isa::{Class, Imm, Inst, Mod, Opcode, Operand, Reg, Special, Src, int};
use super::{Emitter, Val, class_of, mov_ty, sfx};

/// The thread's place in its warp, as the subgroup operations need it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Warp {
    /// `%laneid`.
    lane: Reg,
    /// The member mask of every `*.sync` instruction: the lanes that hold
    /// an invocation.
    mask: Src,
    /// The `shfl.sync` clamp operand: the highest member lane (the members
    /// are lanes `0..=clamp`), so the predicate output tells whether the
    /// source lane is a member.
    clamp: Src,
}

impl Warp {
    /// Whether every warp of the block is full (mask and clamp immediates).
    fn full(&self) -> bool {
        matches!(self.clamp, Src::Imm(_))
    }
}

/// Every lane of a warp.
const ALL_LANES: i64 = 0xffff_ffff;

/// Where a shuffle's source lane is known to hold an invocation.
enum Known {
    /// Always (no check needed).
    Always,
    /// Where the predicate holds.
    Where(Reg),
}

impl Emitter<'_> {
    /// Compute the lane and the warp's members (at kernel entry).
    pub(super) fn warp_setup(&mut self) -> Warp {
        let lane = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 lane, Special::LaneId);
        let [wx, wy, wz] = self.wg.map(u64::from);
        let size = wx * wy * wz;
        let width = u64::from(WARP_SIZE);
        let partial = size % width;
        if partial == 0 {
            return Warp {
                lane,
                mask: Src::Imm(int(ALL_LANES)),
                clamp: Src::Imm(int(i64::from(WARP_SIZE) - 1)),
            };
        }
        // Whether this is the last warp.
        let flat = self.flat_thread_index();
        let warp = self.code.reg(Class::R);
        let last = self.code.reg(Class::Pred);
        let mask = self.code.reg(Class::R);
        let clamp = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 warp, flat, int(i64::from(WARP_SIZE.trailing_zeros())));
        ins!(self.code; Setp.Eq.U32 last, warp, to_imm(size / width));
        ins!(self.code; Selp.B32 mask, to_imm((1 << partial) - 1), int(ALL_LANES), last);
        ins!(self.code; Selp.B32 clamp, to_imm(partial - 1), int(i64::from(WARP_SIZE) - 1), last);
        Warp {
            lane,
            mask: Src::Reg(mask),
            clamp: Src::Reg(clamp),
        }
    }

    /// The flat thread index `x + y * wx + z * wx * wy`, by which CUDA
    /// forms warps (and vyre warpgroups).
    pub(super) fn flat_thread_index(&mut self) -> Reg {
        let [wx, wy, _] = self.wg.map(u64::from);
        let mut flat = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 flat, Special::Tid(0));
        for (axis, stride) in [(1u8, wx), (2, wx * wy)] {
            if self.wg[usize::from(axis)] > 1 {
                let t = self.code.reg(Class::R);
                let sum = self.code.reg(Class::R);
                ins!(self.code; Mov.U32 t, Special::Tid(axis));
                ins!(self.code; Mad.Lo.U32 sum, t, to_imm(stride), flat);
                flat = sum;
            }
        }
        flat
    }

    /// The warp facts (computed at entry for a kernel with subgroup
    /// operations; computed here only if the entry somehow did not, which
    /// is correct wherever control flow is uniform, as validation demands).
    fn warp(&mut self) -> Warp {
        if let Some(w) = self.warp {
            return w;
        }
        let w = self.warp_setup();
        self.warp = Some(w);
        w
    }

    /// A subgroup operation (operands typed by validation).
    pub(super) fn subgroup(&mut self, op: SubgroupOp, args: &[Expr]) -> Val {
        let vals: Vec<Val> = args.iter().map(|a| self.expr(a)).collect();
        let w = self.warp();
        match op {
            SubgroupOp::InvocationId => Val::reg(w.lane, DataType::U32),
            SubgroupOp::Size => Val {
                src: Src::Imm(int(i64::from(WARP_SIZE))),
                ty: DataType::U32,
            },
            SubgroupOp::Add | SubgroupOp::Min | SubgroupOp::Max => self.reduce(op, &vals[0], w),
            SubgroupOp::Shuffle | SubgroupOp::ShuffleXor | SubgroupOp::ShuffleDown => {
                self.shuffle(op, &vals[0], &vals[1], w)
            }
            SubgroupOp::BroadcastFirst => {
                // The members are a prefix of the lanes: lane 0 is the first.
                let v = self.in_reg(&vals[0]);
                let (d, _) = self.shfl(Mod::Idx, v, Src::Imm(int(0)), w, false);
                Val::reg(d, vals[0].ty)
            }
            SubgroupOp::Ballot => {
                let p = self.vote_operand(&vals[0]);
                let d = self.code.reg(Class::R);
                ins!(self.code; Vote.Sync.Ballot.B32 d, p, w.mask);
                Val::reg(d, DataType::U32)
            }
            SubgroupOp::All | SubgroupOp::Any => {
                let p = self.vote_operand(&vals[0]);
                let d = self.code.reg(Class::Pred);
                let m = if op == SubgroupOp::All {
                    Mod::All
                } else {
                    Mod::Any
                };
                ins!(self.code; Vote.Sync.(m).Pred d, p, w.mask);
                Val::reg(d, DataType::Bool)
            }
        }
    }

    /// The predicate a `vote` reads, rebuilt from a 0/1 register.
    ///
    /// ptxas (12.9 and 13.5) may compute a comparison as its negation and
    /// flip its readers; it flips `selp` but not `vote`, so a `vote` of
    /// `0 > x` became one of `x >= 0` (`docs/bench/ptxas_vote_negation.ptx`).
    /// Through `selp` and `setp.ne` the flip reaches the `vote` as a negated
    /// operand (`VOTE.ANY P0, !P0`), at no cost in SASS.
    fn vote_operand(&mut self, v: &Val) -> Reg {
        let p = self.in_reg(v);
        let bit = self.code.reg(Class::R);
        ins!(self.code; Selp.B32 bit, int(1), int(0), p);
        let q = self.code.reg(Class::Pred);
        ins!(self.code; Setp.Ne.U32 q, bit, int(0));
        q
    }

    /// `shfl.sync.<mode>.b32` of `v` with lane operand `b`; with the
    /// predicate output when `pred` (it holds where the source lane is a
    /// member, for a lane operand below 32).
    fn shfl(&mut self, mode: Mod, v: Reg, b: Src, w: Warp, pred: bool) -> (Reg, Option<Reg>) {
        let d = self.code.reg(v.class);
        let p = pred.then(|| self.code.reg(Class::Pred));
        let dst = match p {
            Some(p) => Operand::WithPred(d, p),
            None => Operand::Reg(d),
        };
        ins!(self.code; Shfl.Sync.(mode).B32 dst, v, b, w.clamp, w.mask);
        (d, p)
    }

    /// `subgroup_add/min/max`: `redux.sync` for integers on sm_80+, else
    /// the xor butterfly over offsets 16, 8, 4, 2, 1 (the reference's order
    /// for `f32`), where a partner lane without an invocation contributes
    /// the identity (`-0.0` or 0 for add, the own value for min/max).
    ///
    /// With a partial warp in the block the butterfly would be wrong: a
    /// missing lane cannot carry the partial result the reference's
    /// butterfly gives it for later steps. There the reduction is the same
    /// tree read downwards (lane `l` adds lane `l + off`, which is exactly
    /// what the butterfly's lane 0 adds at each step) and lane 0's result is
    /// broadcast: the reference's bits on every lane.
    fn reduce(&mut self, op: SubgroupOp, v: &Val, w: Warp) -> Val {
        let ty = v.ty;
        let vr = self.in_reg(v);
        let (opcode, redux) = match op {
            SubgroupOp::Min => (Opcode::Min, Mod::Min),
            SubgroupOp::Max => (Opcode::Max, Mod::Max),
            _ => (Opcode::Add, Mod::Add),
        };
        if ty != DataType::F32 && self.mode.arch >= 80 {
            let d = self.code.reg(Class::R);
            ins!(self.code; Redux.Sync.(redux).(sfx(ty)) d, vr, w.mask);
            return Val::reg(d, ty);
        }
        let class = class_of(ty);
        let mut acc = vr;
        let mut off = WARP_SIZE / 2;
        let mode = if w.full() { Mod::Bfly } else { Mod::Down };
        while off > 0 {
            let (t, p) = self.shfl(mode, acc, Src::Imm(int(off.into())), w, !w.full());
            let partner = match p {
                None => t,
                Some(p) => {
                    let fallback: Operand = match (op, ty) {
                        (SubgroupOp::Add, DataType::F32) => Imm::f32(-0.0).into(),
                        (SubgroupOp::Add, _) => int(0).into(),
                        _ => acc.into(),
                    };
                    let s = self.code.reg(class);
                    ins!(self.code; Selp.(mov_ty(ty)) s, t, fallback, p);
                    s
                }
            };
            if op == SubgroupOp::Add {
                // `.rn` keeps ptxas from fusing anything into the additions.
                let round: &[Mod] = if ty == DataType::F32 { &[Mod::Rn] } else { &[] };
                let d = self.code.reg(class);
                let mods: Vec<Mod> = round.iter().copied().chain([sfx(ty)]).collect();
                self.code.push(Inst::new(
                    opcode,
                    &mods,
                    &[d.into(), acc.into(), partner.into()],
                ));
                acc = d;
            } else {
                acc = self.min_max(opcode, ty, acc, partner);
            }
            off /= 2;
        }
        if !w.full() {
            // Lane 0 is always a member.
            acc = self.shfl(Mod::Idx, acc, Src::Imm(int(0)), w, false).0;
        }
        Val::reg(acc, ty)
    }

    /// `subgroup_shuffle/_xor/_down`: the own value where the source lane
    /// is out of range or holds no invocation.
    fn shuffle(&mut self, op: SubgroupOp, v: &Val, lane: &Val, w: Warp) -> Val {
        let ty = v.ty;
        let vr = self.in_reg(v);
        let mode = match op {
            SubgroupOp::Shuffle => Mod::Idx,
            SubgroupOp::ShuffleXor => Mod::Bfly,
            _ => Mod::Down,
        };
        // `shfl.sync` reads only the low 5 bits of the lane operand, so an
        // operand of 32 or more (a source `src`, `lane ^ mask` or
        // `lane + delta` of 32 or more, unwrapped) is checked here; below
        // 32, the predicate output (with the clamp at the last member)
        // tells whether the source lane is a member.
        let small = match lane.imm().and_then(Imm::as_int) {
            Some(n) if n >= i64::from(WARP_SIZE) => return Val::reg(vr, ty),
            Some(_) => Known::Always,
            None => {
                let q = self.code.reg(Class::Pred);
                ins!(self.code; Setp.Lt.U32 q, lane, int(i64::from(WARP_SIZE)));
                Known::Where(q)
            }
        };
        // With 32 members, `idx` and `bfly` of an operand below 32 always
        // name a member; `down` may run past lane 31.
        let pred = mode == Mod::Down || !w.full();
        let (t, p) = self.shfl(mode, vr, lane.src, w, pred);
        let ok = match (p, small) {
            (None, Known::Always) => return Val::reg(t, ty),
            (Some(p), Known::Always) => p,
            (None, Known::Where(q)) => q,
            (Some(p), Known::Where(q)) => {
                let both = self.code.reg(Class::Pred);
                ins!(self.code; And.Pred both, p, q);
                both
            }
        };
        let d = self.code.reg(class_of(ty));
        ins!(self.code; Selp.(mov_ty(ty)) d, t, vr, ok);
        Val::reg(d, ty)
    }
}

/// An integer immediate of a (small, non-negative) workgroup quantity.
fn to_imm(v: u64) -> Imm {
    int(i64::try_from(v).unwrap_or(i64::MAX))
}
