//! Loads, stores and atomics on buffers, shared and private arrays, with their
//! bounds checks.

use crate::ir::{Access, AtomicOp, BufRef, DataType, Expr, SharedLayout};

use super::super::code::ins;
use super::super::isa::{Addr, Class, Inst, Mod, Opcode, Reg, Symbol, int};
use super::vector::group_key;
use super::{Emitter, Val, class_of, mov_ty, narrow, sfx, zero_of};

impl Emitter<'_> {
    /// Address of `buf[index]` (`index` elements of the buffer's size past
    /// its start) and the in-range predicate (None: proven or unchecked).
    /// Global addresses are `.b64`, shared and local ones `.b32`.
    fn address(&mut self, buf: BufRef, index: &Expr) -> (Reg, Option<Reg>) {
        let check = self.bounds.needs_check(index);
        let size = self.elem_size(buf);
        if let BufRef::Shared(i) = buf
            && let Some((idx, addr)) = self.swizzled_address(i as usize, index)
        {
            let len = self.program.static_len(buf).unwrap_or(0);
            let pred = check.then(|| {
                let pr = self.code.reg(Class::Pred);
                ins!(self.code; Setp.Lt.U32 pr, idx, int(i64::from(len)));
                pr
            });
            return (addr, pred);
        }
        let idx = self.expr(index);
        let idx_r = self.in_reg(&idx);
        match buf {
            BufRef::Param(p) => {
                let (base, len) = self.params[p as usize];
                let len = len.unwrap_or(base);
                let pred = check.then(|| {
                    let pr = self.code.reg(Class::Pred);
                    ins!(self.code; Setp.Lt.U32 pr, idx_r, len);
                    pr
                });
                let off = self.code.reg(Class::Rd);
                let addr = self.code.reg(Class::Rd);
                ins!(self.code; Mul.Wide.U32 off, idx_r, int(i64::from(size)));
                ins!(self.code; Add.S64 addr, base, off);
                (addr, pred)
            }
            BufRef::Shared(i) => {
                self.array_address(Symbol::Shared(i as usize), buf, idx_r, check, size)
            }
            BufRef::Private(i) => {
                self.array_address(Symbol::Private(i as usize), buf, idx_r, check, size)
            }
        }
    }

    /// Address of element `idx` of the shared or private array `sym` (the
    /// symbol of `buf`) and, when `check`, the in-range predicate against
    /// its static length; `size` is the element size in bytes.
    fn array_address(
        &mut self,
        sym: Symbol,
        buf: BufRef,
        idx: Reg,
        check: bool,
        size: u32,
    ) -> (Reg, Option<Reg>) {
        let len = self.program.static_len(buf).unwrap_or(0);
        let pred = check.then(|| {
            let pr = self.code.reg(Class::Pred);
            ins!(self.code; Setp.Lt.U32 pr, idx, int(i64::from(len)));
            pr
        });
        (self.array_addr(sym, idx, size), pred)
    }

    /// The symbol of a shared or private array (`None` for a buffer).
    pub(super) fn array_sym(buf: BufRef) -> Option<Symbol> {
        match buf {
            BufRef::Shared(i) => Some(Symbol::Shared(i as usize)),
            BufRef::Private(i) => Some(Symbol::Private(i as usize)),
            BufRef::Param(_) => None,
        }
    }

    /// The `.b32` address of element `idx` of the array `sym` of `size`-byte
    /// elements (shared and local windows are below 4 GiB).
    pub(super) fn array_addr(&mut self, sym: Symbol, idx: Reg, size: u32) -> Reg {
        let idx = match sym {
            Symbol::Shared(i) => self.physical_index(i, idx),
            _ => idx,
        };
        let base = self.code.reg(Class::R);
        let addr = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 base, sym);
        ins!(self.code; Mad.Lo.U32 addr, idx, int(i64::from(size)), base);
        addr
    }

    /// Index and address of `shared[index]` for a swizzled array `i` when
    /// `index` is `hi + lo` with `hi` a multiple of whole swizzle atoms (8
    /// rows; proven by the alignment analysis): the layout of `lo` alone
    /// (which stays put in a loop over stages, so `ptxas` hoists it) plus
    /// `hi`'s rows. Exact also where `hi + lo` wraps: rows are counted
    /// modulo `2^32 / cols` like the index's own.
    pub(super) fn swizzled_address(&mut self, i: usize, index: &Expr) -> Option<(Reg, Reg)> {
        let a = self.program.shared.get(i)?;
        let SharedLayout::Swizzled { cols } = a.layout else {
            return None;
        };
        let Expr::Binary(crate::ir::BinOp::Add, x, y) = index else {
            return None;
        };
        let atom = cols.checked_mul(SharedLayout::ATOM_ROWS)?;
        let (hi, lo) = if self.align.of(x) >= atom {
            (&**x, &**y)
        } else if self.align.of(y) >= atom {
            (&**y, &**x)
        } else {
            return None;
        };
        let size = a.elem.size_bytes();
        let (rows, panel_cols) = (a.len / cols, SharedLayout::panel_cols(size));
        let log = |x: u32| int(i64::from(x.trailing_zeros()));
        let h = self.expr(hi);
        let h = self.in_reg(&h);
        let l = self.expr(lo);
        let l = self.in_reg(&l);
        let idx = self.code.reg(Class::R);
        ins!(self.code; Add.U32 idx, h, l);
        if cols == panel_cols {
            // One panel: the layout moves bits below the atom only, so
            // `phys(hi + lo) = hi + phys(lo)` (modulo 2^32, like the index).
            let pl = self.physical_index(i, l);
            let phys = self.code.reg(Class::R);
            let base = self.code.reg(Class::R);
            let addr = self.code.reg(Class::R);
            ins!(self.code; Add.U32 phys, pl, h);
            ins!(self.code; Mov.U32 base, Symbol::Shared(i));
            ins!(self.code; Mad.Lo.U32 addr, phys, int(i64::from(size)), base);
            return Some((idx, addr));
        }
        // lo's row and column, and its place in its panel with the chunk
        // swizzled by the row's low bits (which hi does not change).
        let c = self.code.reg(Class::R);
        let lr = self.code.reg(Class::R);
        ins!(self.code; And.B32 c, l, int(i64::from(cols - 1)));
        ins!(self.code; Shr.U32 lr, l, log(cols));
        let fixed = self.panel_place((size, rows, cols), lr, c);
        // The row: hi's rows plus lo's, modulo 2^32 / cols.
        let hr = self.code.reg(Class::R);
        let rs = self.code.reg(Class::R);
        let r = self.code.reg(Class::R);
        let phys = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 hr, h, log(cols));
        ins!(self.code; Add.U32 rs, hr, lr);
        ins!(self.code; And.B32 r, rs, int(i64::from(u32::MAX >> cols.trailing_zeros())));
        ins!(self.code; Mad.Lo.U32 phys, r, int(i64::from(panel_cols)), fixed);
        let base = self.code.reg(Class::R);
        let addr = self.code.reg(Class::R);
        ins!(self.code; Mov.U32 base, Symbol::Shared(i));
        ins!(self.code; Mad.Lo.U32 addr, phys, int(i64::from(size)), base);
        Some((idx, addr))
    }

    /// Where element `idx` (in range) of shared array `i` is stored:
    /// `SharedLayout::physical_index` in instructions (`idx` itself for a
    /// linear array). Row and column are shifts and masks (the row length
    /// is a power of two); the 16-byte chunk is XORed with the row's low
    /// three bits.
    pub(super) fn physical_index(&mut self, i: usize, idx: Reg) -> Reg {
        let Some(a) = self.program.shared.get(i) else {
            return idx;
        };
        let SharedLayout::Swizzled { cols } = a.layout else {
            return idx;
        };
        let size = a.elem.size_bytes();
        let (rows, panel_cols) = (a.len / cols, SharedLayout::panel_cols(size));
        // r = idx / cols; c = idx % cols.
        let r = self.code.reg(Class::R);
        let c = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 r, idx, int(i64::from(cols.trailing_zeros())));
        ins!(self.code; And.B32 c, idx, int(i64::from(cols - 1)));
        let place = self.panel_place((size, rows, cols), r, c);
        let out = self.code.reg(Class::R);
        ins!(self.code; Mad.Lo.U32 out, r, int(i64::from(panel_cols)), place);
        out
    }

    /// Where element `(r, c)` of a swizzled shared array of `rows × cols`
    /// elements of `size` bytes lies, less its row's start within the panel
    /// (`r * P`, `P` the panel's columns): the panel's start
    /// `(c / P) * rows * P` plus the column in the panel with its 16-byte
    /// chunk XORed by `r % 8`. Only `r`'s low three bits matter.
    fn panel_place(&mut self, (size, rows, cols): (u32, u32, u32), r: Reg, c: Reg) -> Reg {
        let panel_cols = SharedLayout::panel_cols(size);
        let chunk = SharedLayout::CHUNK_BYTES / size;
        let log = |x: u32| int(i64::from(x.trailing_zeros()));
        let pc = self.code.reg(Class::R);
        let r7 = self.code.reg(Class::R);
        let x = self.code.reg(Class::R);
        let swz = self.code.reg(Class::R);
        ins!(self.code; And.B32 pc, c, int(i64::from(panel_cols - 1)));
        ins!(self.code; And.B32 r7, r, int(i64::from(SharedLayout::ATOM_ROWS - 1)));
        ins!(self.code; Shl.B32 x, r7, log(chunk));
        ins!(self.code; Xor.B32 swz, pc, x);
        if cols <= panel_cols {
            return swz;
        }
        let panel = self.code.reg(Class::R);
        let place = self.code.reg(Class::R);
        ins!(self.code; Shr.U32 panel, c, log(panel_cols));
        ins!(self.code; Mad.Lo.U32 place, panel, int(i64::from(rows * panel_cols)), swz);
        place
    }

    /// The state space of an access to `buf`.
    pub(super) fn space(&self, buf: BufRef, load: bool) -> Mod {
        match buf {
            BufRef::Shared(_) => Mod::Shared,
            BufRef::Private(_) => Mod::Local,
            BufRef::Param(p) => {
                // `&[T]` cannot alias a `&mut` argument (the launcher's
                // borrows forbid it), so the non-coherent read-only path is
                // safe for the whole launch.
                let ro = self
                    .program
                    .buffer(p)
                    .is_some_and(|b| b.access == Access::Read);
                if load && ro {
                    Mod::GlobalNc
                } else {
                    Mod::Global
                }
            }
        }
    }

    pub(super) fn load(&mut self, buf: BufRef, index: &Expr) -> Val {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        if !self.vec_cache.is_empty()
            && let Some((key, off)) = group_key(buf, index)
            && let Some((.., r)) = self
                .vec_cache
                .iter()
                .find(|(q, k, o, _)| *q == buf && *k == key && *o == off)
        {
            self.bounds.served_by_group(index);
            return Val::reg(*r, ty.register_type());
        }
        if ty.is_narrow() {
            return self.narrow_load(buf, index, ty);
        }
        let (addr, pred) = self.address(buf, index);
        let d = self.code.reg(class_of(ty));
        let space = self.space(buf, true);
        let s = sfx(ty);
        match pred {
            Some(p) => {
                ins!(self.code; Mov.(mov_ty(ty)) d, zero_of(ty));
                ins!(self.code; @p; Ld.(space).(s) d, Addr::reg(addr));
            }
            None => ins!(self.code; Ld.(space).(s) d, Addr::reg(addr)),
        }
        Val::reg(d, ty)
    }

    /// Shape (a): one narrow element of `buf`, widened (0 when out of
    /// range).
    fn narrow_load(&mut self, buf: BufRef, index: &Expr, ty: DataType) -> Val {
        let (addr, pred) = self.address(buf, index);
        let class = narrow::raw_class(ty);
        let raw = self.code.reg(class);
        let space = self.space(buf, true);
        let t = narrow::load_mod(ty);
        match pred {
            Some(p) => {
                let z = if class == Class::H {
                    Mod::B16
                } else {
                    Mod::B32
                };
                ins!(self.code; Mov.(z) raw, int(0));
                ins!(self.code; @p; Ld.(space).(t) raw, Addr::reg(addr));
            }
            None => ins!(self.code; Ld.(space).(t) raw, Addr::reg(addr)),
        }
        let d = self.widen_raw(ty, raw);
        Val::reg(d, ty.register_type())
    }

    pub(super) fn store(&mut self, buf: BufRef, index: &Expr, value: &Expr) {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        if ty.is_narrow() {
            // Shape (c): convert, then store the element's bits.
            let x = self.narrow_operand(ty, value);
            let bits = self.narrow_bits(ty, x);
            let (addr, pred) = self.address(buf, index);
            let space = self.space(buf, false);
            let t = narrow::store_mod(ty, bits.class);
            self.code.push(
                Inst::new(
                    Opcode::St,
                    &[space, t],
                    &[Addr::reg(addr).into(), bits.into()],
                )
                .when_some(pred),
            );
            return;
        }
        let v = self.expr(value);
        let vr = self.in_reg(&v);
        let (addr, pred) = self.address(buf, index);
        let space = self.space(buf, false);
        self.code.push(
            Inst::new(
                Opcode::St,
                &[space, sfx(ty)],
                &[Addr::reg(addr).into(), vr.into()],
            )
            .when_some(pred),
        );
    }

    /// An atomic; `used`: whether the old value is needed (else a `red`).
    pub(super) fn atomic(
        &mut self,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
        used: bool,
    ) -> Val {
        let ty = self.program.elem_type(buf).unwrap_or(DataType::U32);
        let exp = expected.map(|x| {
            let v = self.expr(x);
            self.in_reg(&v)
        });
        let v = self.expr(value);
        let mut vr = self.in_reg(&v);
        let (addr, pred) = self.address(buf, index);
        let space = self.space(buf, false);
        let (name, t) = match op {
            AtomicOp::Add => (
                Mod::Add,
                match ty {
                    DataType::I32 => Mod::S32,
                    // `atom.add.f32` / `red.add.f32` round to nearest even
                    // and keep subnormals (sm_20+).
                    DataType::F32 => Mod::F32,
                    _ => Mod::U32,
                },
            ),
            AtomicOp::Sub => {
                let n = self.code.reg(Class::R);
                ins!(self.code; Neg.S32 n, vr);
                vr = n;
                (Mod::Add, Mod::U32)
            }
            AtomicOp::Min => (Mod::Min, sfx(ty)),
            AtomicOp::Max => (Mod::Max, sfx(ty)),
            AtomicOp::And => (Mod::And, Mod::B32),
            AtomicOp::Or => (Mod::Or, Mod::B32),
            AtomicOp::Xor => (Mod::Xor, Mod::B32),
            AtomicOp::Exchange => (Mod::Exch, Mod::B32),
            AtomicOp::CompareExchange => (Mod::Cas, Mod::B32),
        };
        let mods = [space, name, t];
        let d = self.code.reg(class_of(ty));
        let can_red = !matches!(op, AtomicOp::Exchange | AtomicOp::CompareExchange);
        if !used && can_red {
            self.code.push(
                Inst::new(Opcode::Red, &mods, &[Addr::reg(addr).into(), vr.into()]).when_some(pred),
            );
            return Val::reg(d, ty);
        }
        if pred.is_some() {
            ins!(self.code; Mov.B32 d, int(0));
        }
        let inst = match exp {
            Some(x) => Inst::new(
                Opcode::Atom,
                &mods,
                &[d.into(), Addr::reg(addr).into(), x.into(), vr.into()],
            ),
            None => Inst::new(
                Opcode::Atom,
                &mods,
                &[d.into(), Addr::reg(addr).into(), vr.into()],
            ),
        };
        self.code.push(inst.when_some(pred));
        Val::reg(d, ty)
    }
}
