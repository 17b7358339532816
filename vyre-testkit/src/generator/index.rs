//! Indices: own slots, out-of-range writes, wild reads.

use vyre::ir::{BufRef, DataType, Expr, ParamId, SharedId};

use super::{Gen, lit_of};
use crate::source::Source;

impl<S: Source> Gen<'_, S> {
    pub(super) fn own_slot(&self, j: u32) -> Expr {
        Expr::Local(self.gid)
            .mul(Expr::u32(self.slots))
            .add(Expr::u32(j))
    }

    /// An own slot of an `out_*` buffer, or an index surely out of range.
    pub(super) fn out_index(&mut self, buf: ParamId) -> Expr {
        self.out_slot(buf).0
    }

    /// [`Self::out_index`], and whether it is the own slot (in range).
    pub(super) fn out_slot(&mut self, buf: ParamId) -> (Expr, bool) {
        let j = self.src.below(self.slots);
        let own = self.own_slot(j);
        let index = self.own_or_oob(own.clone(), Expr::Len(buf));
        let own_slot = index == own;
        (index, own_slot)
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
                // Indices are `u32` or `i32`.
                if matches!(elem, DataType::U32 | DataType::I32) {
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

impl<S: Source> Gen<'_, S> {
    /// An index into a private array of `len` elements: a literal in range
    /// (option 0, the simplest, and the most common: the middle layer turns
    /// such arrays into registers), an affine function of a loop variable
    /// (a constant once its `#[unroll]` loop is unrolled), a run-time index
    /// and, with [`GenConfig::wild_indices`](super::GenConfig), one out of
    /// range or data-derived.
    pub(super) fn priv_index(&mut self, len: u32, depth: u32) -> Expr {
        let wild = self.cfg.wild_indices;
        let options = if wild { 10 } else { 8 };
        match self.src.below(options) {
            0..=2 => {
                let k = self.src.below(len);
                if self.src.chance(1, 4) {
                    Expr::i32(k.cast_signed())
                } else {
                    Expr::u32(k)
                }
            }
            3..=5 if !self.loop_vars.is_empty() => self.loop_index(len),
            6 => {
                // A run-time index from any integer variable in scope.
                let ty = self.int_ty();
                let vars = self.vars(ty);
                let e = if vars.is_empty() {
                    self.expr(ty, depth.min(1), false)
                } else {
                    Expr::Local(self.pick(&vars).id)
                };
                self.in_range(e, ty, len)
            }
            7 => {
                let ty = self.int_ty();
                let e = self.expr(ty, depth.min(1), false);
                self.in_range(e, ty, len)
            }
            8 => match self.src.below(5) {
                0 => Expr::u32(len),
                1 => Expr::u32(len + 1 + self.src.below(4)),
                2 => Expr::i32(-1 - self.src.below(3).cast_signed()),
                3 => Expr::i32(i32::MIN),
                _ => Expr::u32(u32::MAX),
            },
            _ => self.wild_index(depth),
        }
    }

    /// A literal index in range, or one built from a loop variable: no
    /// expression is generated, so leaves may use it.
    pub(super) fn simple_priv_index(&mut self, len: u32) -> Expr {
        if !self.loop_vars.is_empty() && self.src.chance(1, 2) {
            self.loop_index(len)
        } else {
            Expr::u32(self.src.below(len))
        }
    }

    /// `e % len` as a `u32` (an `i32` is reinterpreted first, so negative
    /// values land in range too); left as is now and then with wild
    /// indices.
    fn in_range(&mut self, e: Expr, ty: DataType, len: u32) -> Expr {
        if self.cfg.wild_indices && self.src.chance(1, 4) {
            return e;
        }
        let e = if ty == DataType::U32 {
            e
        } else {
            e.cast(DataType::U32)
        };
        e.rem(Expr::u32(len))
    }

    /// `(k - first) * a + b` for a loop variable `k`: in range for every
    /// iteration when the loop's bounds are literals (out of range for some
    /// now and then with wild indices), `k % len` otherwise.
    fn loop_index(&mut self, len: u32) -> Expr {
        // Innermost loops are the likeliest to be unrolled, prefer them.
        let n = self.loop_vars.len() as u32;
        let pick = if self.src.chance(1, 2) {
            n - 1
        } else {
            self.src.below(n)
        };
        let v = self.loop_vars[pick as usize];
        let k = Expr::Local(v.id);
        let Some((first, count)) = v.range else {
            return self.in_range(k, v.ty, len);
        };
        let span = count.saturating_sub(1);
        let muls: Vec<u32> = (1..=4u32).filter(|a| span * a < len).collect();
        let a = if muls.is_empty() { 0 } else { self.pick(&muls) };
        let room = len - span * a;
        let b = if self.cfg.wild_indices && self.src.chance(1, 6) {
            self.src.below(len + 3)
        } else {
            self.src.below(room)
        };
        let base = if first == 0 {
            k
        } else {
            k.sub(lit_of(v.ty, first))
        };
        let scaled = match a {
            0 => lit_of(v.ty, 0),
            1 => base,
            _ => base.mul(lit_of(v.ty, a)),
        };
        if b == 0 && a != 0 {
            scaled
        } else {
            scaled.add(lit_of(v.ty, b))
        }
    }
}
