//! Asynchronous copies from a buffer into a shared array: `cp.async`.
//!
//! A copy of 16 bytes is `cp.async.cg` (L2 only: the tile goes to shared
//! memory, not to L1 as well), of 4 or 8 bytes `cp.async.ca`. In a checked
//! kernel the source-size operand carries the language's rule for elements
//! past the buffer's end: the bytes of the elements in range are copied and
//! the rest of the destination is zero-filled, so an edge tile needs no
//! other code. `cp.async` needs both addresses aligned to the copy's size
//! and the whole destination in the shared array; when the middle layer
//! cannot prove that (indices multiples of `count`, destination in range),
//! a run-time test picks the copy or a fallback of plain loads and stores
//! with the same meaning (per element: 0 past the source's end, dropped
//! past the destination's end).

use crate::ir::{AsyncOp, BufRef, DataType, Expr, ParamId, SharedId};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Mod, Reg, Symbol, int};
use super::Emitter;

impl Emitter<'_> {
    /// An asynchronous copy statement.
    pub(super) fn async_op(&mut self, op: &AsyncOp) {
        match op {
            AsyncOp::Copy {
                dst,
                dst_index,
                src,
                src_index,
                count,
            } => self.async_copy(*dst, dst_index, *src, src_index, *count),
            AsyncOp::Tile { .. } => self.tile_copy(op),
            AsyncOp::Commit => {
                ins!(self.code; Cp.Async.CommitGroup);
                self.tile_commit();
            }
            AsyncOp::Wait { pending } => {
                ins!(self.code; Cp.Async.WaitGroup int(i64::from(*pending)));
                self.tile_wait(*pending);
            }
        }
    }

    fn async_copy(
        &mut self,
        dst: SharedId,
        dst_index: &Expr,
        src: ParamId,
        src_index: &Expr,
        count: u32,
    ) {
        let dst_buf = BufRef::Shared(dst);
        let elem = self.program.elem_type(dst_buf).unwrap_or(DataType::U32);
        let size = elem.size_bytes();
        let dst_len = self.program.static_len(dst_buf).unwrap_or(0);
        let dst_check = self
            .bounds
            .span_needs_check(dst_index, None, 1, count, Some(dst_len));
        let src_check = self
            .bounds
            .span_needs_check(src_index, None, 1, count, None);
        let (di, dst_addr) = match self.swizzled_address(dst as usize, dst_index) {
            Some(split) => split,
            None => {
                let di = self.expr(dst_index);
                let di = self.in_reg(&di);
                let sym = Symbol::Shared(dst as usize);
                (di, self.array_addr(sym, di, size))
            }
        };
        let si = self.expr(src_index);
        let si = self.in_reg(&si);
        let (base, len) = self.params[src as usize];
        let len = len.unwrap_or(base);
        let src_addr = {
            let off = self.code.reg(Class::Rd);
            let a = self.code.reg(Class::Rd);
            ins!(self.code; Mul.Wide.U32 off, si, int(i64::from(size)));
            ins!(self.code; Add.S64 a, base, off);
            a
        };
        // Elements of the source in range from `si` on (`min(len - si,
        // count)`, 0 when `si >= len`): both paths need it when checked.
        let avail = src_check.then(|| {
            let inside = self.code.reg(Class::Pred);
            let rest = self.code.reg(Class::R);
            let cut = self.code.reg(Class::R);
            let n = self.code.reg(Class::R);
            ins!(self.code; Setp.Lt.U32 inside, si, len);
            ins!(self.code; Sub.U32 rest, len, si);
            ins!(self.code; Min.U32 cut, rest, int(i64::from(count)));
            ins!(self.code; Selp.B32 n, cut, int(0), inside);
            n
        });
        if dst_len < count {
            // No copy fits the array: element by element.
            self.copy_elements(elem, count, (dst_addr, di, dst_len), src_addr, avail);
            return;
        }
        // Which indices are not proven multiples of `count`.
        let unproven: Vec<Reg> = [(dst_index, di), (src_index, si)]
            .into_iter()
            .filter(|(e, _)| count > 1 && self.align.of(e) < count)
            .map(|(_, r)| r)
            .collect();
        let mut conds = Vec::new();
        if let Some(&first) = unproven.first() {
            let bits = match unproven.get(1) {
                Some(&second) => {
                    let both = self.code.reg(Class::R);
                    ins!(self.code; Or.B32 both, first, second);
                    both
                }
                None => first,
            };
            let low = self.code.reg(Class::R);
            let p = self.code.reg(Class::Pred);
            ins!(self.code; And.B32 low, bits, int(i64::from(count - 1)));
            ins!(self.code; Setp.Eq.U32 p, low, int(0));
            conds.push(p);
        }
        if dst_check {
            let p = self.code.reg(Class::Pred);
            ins!(self.code; Setp.Le.U32 p, di, int(i64::from(dst_len - count)));
            conds.push(p);
        }
        let bytes = int(i64::from(count * size));
        let cache = if count * size == 16 { Mod::Cg } else { Mod::Ca };
        let copy = |e: &mut Self| match avail {
            Some(n) => {
                let nb = e.code.reg(Class::R);
                ins!(e.code; Mul.Lo.U32 nb, n, int(i64::from(size)));
                ins!(e.code; Cp.Async.(cache).Shared.Global Addr::reg(dst_addr), Addr::reg(src_addr), bytes, nb);
            }
            None => {
                ins!(e.code; Cp.Async.(cache).Shared.Global Addr::reg(dst_addr), Addr::reg(src_addr), bytes);
            }
        };
        if conds.is_empty() {
            copy(self);
            return;
        }
        let mut fast = conds[0];
        if let Some(&p) = conds.get(1) {
            let r = self.code.reg(Class::Pred);
            ins!(self.code; And.Pred r, fast, p);
            fast = r;
        }
        let slow = self.code.label("cpslow");
        let end = self.code.label("cpend");
        ins!(self.code; @!fast; Bra slow);
        copy(self);
        ins!(self.code; Bra end);
        self.code.place(slow);
        let dst_bound = if dst_check { dst_len } else { u32::MAX };
        self.copy_elements(elem, count, (dst_addr, di, dst_bound), src_addr, avail);
        self.code.place(end);
    }

    /// The fallback: `count` plain loads and stores. `dst` is (address,
    /// index, length: `u32::MAX` when unchecked); `avail` the number of
    /// source elements in range (`None`: unchecked).
    fn copy_elements(
        &mut self,
        elem: DataType,
        count: u32,
        dst: (Reg, Reg, u32),
        src_addr: Reg,
        avail: Option<Reg>,
    ) {
        let size = elem.size_bytes();
        let (class, ty) = match size {
            1 => (Class::R, Mod::U8),
            2 => (Class::H, Mod::B16),
            _ => (Class::R, Mod::B32),
        };
        let zero_ty = if class == Class::H {
            Mod::B16
        } else {
            Mod::B32
        };
        let (dst_addr, di, dst_len) = dst;
        for i in 0..count {
            let v = self.code.reg(class);
            let at = i * size;
            match avail {
                Some(n) => {
                    let p = self.code.reg(Class::Pred);
                    ins!(self.code; Setp.Gt.U32 p, n, int(i64::from(i)));
                    ins!(self.code; Mov.(zero_ty) v, int(0));
                    ins!(self.code; @p; Ld.Global.(ty) v, Addr::reg_off(src_addr, at));
                }
                None => ins!(self.code; Ld.Global.(ty) v, Addr::reg_off(src_addr, at)),
            }
            if dst_len == u32::MAX {
                ins!(self.code; St.Shared.(ty) Addr::reg_off(dst_addr, at), v);
            } else if i < dst_len {
                // `di + i < len` without wrapping: `di < len - i`.
                let p = self.code.reg(Class::Pred);
                ins!(self.code; Setp.Lt.U32 p, di, int(i64::from(dst_len - i)));
                ins!(self.code; @p; St.Shared.(ty) Addr::reg_off(dst_addr, at), v);
            }
        }
    }
}
