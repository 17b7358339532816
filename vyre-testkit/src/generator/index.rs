//! Indices: own slots, out-of-range writes, wild reads.

use vyre::ir::{BufRef, DataType, Expr, ParamId, SharedId};

use super::Gen;
use crate::source::Source;

impl<S: Source> Gen<'_, S> {
    pub(super) fn own_slot(&self, j: u32) -> Expr {
        Expr::Local(self.gid)
            .mul(Expr::u32(self.slots))
            .add(Expr::u32(j))
    }

    /// An own slot of an `out_*` buffer, or an index surely out of range.
    pub(super) fn out_index(&mut self, buf: ParamId) -> Expr {
        let j = self.src.below(self.slots);
        let own = self.own_slot(j);
        self.own_or_oob(own, Expr::Len(buf))
    }

    pub(super) fn sh_index(&mut self, sid: SharedId) -> Expr {
        let j = self.src.below(self.sh_slots);
        let own = Expr::Local(self.lid)
            .mul(Expr::u32(self.sh_slots))
            .add(Expr::u32(j));
        let len = self.p.shared[sid as usize].len;
        self.own_or_oob(own, Expr::u32(len))
    }

    pub(super) fn own_or_oob(&mut self, own: Expr, len: Expr) -> Expr {
        if !self.cfg.wild_indices {
            return own;
        }
        match self.src.below(10) {
            0..=5 => own,
            6 => own.cast(DataType::I32),
            7 => len.add(self.expr(DataType::U32, 1, false).bitand(Expr::u32(0xFFFF))),
            8 => self
                .expr(DataType::U32, 1, false)
                .bitor(Expr::u32(0x8000_0000)),
            _ => self
                .expr(DataType::I32, 1, false)
                .bitor(Expr::i32(i32::MIN)),
        }
    }

    /// Any index at all, for loads from inputs and shared reads.
    pub(super) fn wild_index(&mut self, depth: u32) -> Expr {
        if !self.cfg.wild_indices {
            return Expr::Local(self.gid);
        }
        match self.src.below(6) {
            0 => Expr::Local(self.gid),
            1 => match self.src.below(7) {
                0 => Expr::i32(-1),
                1 => Expr::i32(i32::MIN),
                2 => Expr::u32(u32::MAX),
                3 => Expr::u32(0x8000_0000),
                4 => Expr::u32(0x7FFF_FFFF),
                5 => Expr::u32(self.cfg.max_input_len),
                _ => Expr::u32(self.cfg.max_input_len + 1),
            },
            2 if !self.ins.is_empty() => {
                let (id, elem) = self.pick(&self.ins.clone());
                let inner = self.expr(DataType::U32, depth.saturating_sub(1), false);
                let l = Expr::Load {
                    buf: BufRef::Param(id),
                    index: Box::new(inner),
                };
                if elem.is_integer() {
                    l
                } else {
                    l.cast(DataType::U32)
                }
            }
            3 => Expr::Local(self.lid).add(self.lit(DataType::U32)),
            _ => {
                let ty = self.int_ty();
                self.expr(ty, depth, false)
            }
        }
    }
}
