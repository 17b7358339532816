//! 16-byte vector views: four loads of a read-only buffer grouped into
//! one `vec4` load (SPIR-V only); four loads of a read-only buffer of a
//! narrow type grouped into one or two word loads (every target).

use naga::{
    ArraySize, BinaryOperator, Block, Expression, Handle, LocalVariable, Span, Statement,
    StorageAccess, TypeInner,
};

use super::{Lowerer, scalar_of};
use crate::driver::CompileResult;
use crate::ir::{Access, BufRef, DataType, Expr, Literal, Node, Param, ParamId};
use crate::mid::align::{Key, first_def, keyed_loads, load_groups};

impl Lowerer<'_> {
    /// At the start of the straight-line run `run`: one 16-byte load for
    /// every four loads `buf[key + base + 0..4]` of a read-only buffer in
    /// it, `key` a multiple of 4 not redefined before the last of them.
    /// Those loads then read the vector's components ([`Lowerer::load`]).
    pub(super) fn vector_loads(&mut self, run: &[Node], out: &mut Block) -> CompileResult<()> {
        self.vec_cache.clear();
        if run.is_empty() {
            return Ok(());
        }
        for g in load_groups(&keyed_loads(run)) {
            let Some(Param::Buffer(b)) = self.p.params.get(g.buf as usize) else {
                continue;
            };
            // Narrow elements are packed: four of them are one or two
            // words of the buffer's own array, on every target.
            let packed = b.elem.is_narrow();
            let read_only = b.access == Access::Read
                && (packed
                    || (self.vectorize
                        && matches!(b.elem, DataType::U32 | DataType::I32 | DataType::F32)));
            if !read_only
                || g.base + 4 > self.align.key(&g.key)
                || first_def(run, &g.key) <= g.last_use
            {
                continue;
            }
            let var = if packed {
                self.packed_vector_load(g.buf, &g.key, g.base, g.last, out)?
            } else {
                self.vector_load(g.buf, &g.key, g.base, g.last, out)?
            };
            self.vec_cache.push((g.buf, g.key, g.base, var));
        }
        Ok(())
    }

    /// The `array<vec4<T>>` view of buffer parameter `p`, on its binding.
    pub(super) fn vec_view(
        &mut self,
        p: ParamId,
        elem: DataType,
    ) -> CompileResult<Handle<Expression>> {
        if let Some(h) = self.vec_views[p as usize] {
            return Ok(h);
        }
        let (Some(binding), Some(Param::Buffer(decl))) = (
            self.buffer_binding[p as usize],
            self.p.params.get(p as usize),
        ) else {
            return Err(self.internal(&format!("parameter {p} is not a buffer")));
        };
        let name = format!("{}_v4", decl.name);
        let vec_ty = self.add_type(TypeInner::Vector {
            size: naga::VectorSize::Quad,
            scalar: scalar_of(elem),
        });
        let array_ty = self.add_type(TypeInner::Array {
            base: vec_ty,
            size: ArraySize::Dynamic,
            stride: 16,
        });
        let h = self.storage_global(name, array_ty, binding, StorageAccess::LOAD);
        self.vec_views[p as usize] = Some(h);
        Ok(h)
    }

    /// Load `param[key + base + 0..4]` into a new `vec4` variable: one
    /// 16-byte load when all four are in range, else four checked loads;
    /// `last` is the index expression of a load of `key + base + 3`.
    pub(super) fn vector_load(
        &mut self,
        p: ParamId,
        key: &Key,
        base: u32,
        last: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let info = self.array(BufRef::Param(p))?;
        let view = self.vec_view(p, info.elem)?;
        let vec_ty = self.add_type(TypeInner::Vector {
            size: naga::VectorSize::Quad,
            scalar: scalar_of(info.elem),
        });
        let var = self.func.local_variables.append(
            LocalVariable {
                name: Some(format!("v4_{}", self.vec_cache.len())),
                ty: vec_ty,
                init: None,
            },
            Span::UNDEFINED,
        );
        let var = self
            .func
            .expressions
            .append(Expression::LocalVariable(var), Span::UNDEFINED);
        let key_value = match key {
            Key::Local(id) => Expr::Local(*id),
            Key::Builtin(b, axis) => Expr::Builtin(*b, *axis),
            Key::Const(c) => Expr::Lit(Literal::U32(*c)),
        };
        let mut first = self.index(&key_value, blk)?;
        if base != 0 {
            let b = self.u32_lit(base);
            first = self.bin(BinaryOperator::Add, first, b, blk);
        }
        // The key is a multiple of 4 and base + 4 at most that: the element
        // index is 16-byte aligned and `first + 3` does not wrap around.
        let mut fast = Block::new();
        let two = self.u32_lit(2);
        let slot = self.bin(BinaryOperator::ShiftRight, first, two, &mut fast);
        let ptr = self.add(
            Expression::Access {
                base: view,
                index: slot,
            },
            &mut fast,
        );
        let v = self.add(Expression::Load { pointer: ptr }, &mut fast);
        fast.push(
            Statement::Store {
                pointer: var,
                value: v,
            },
            Span::UNDEFINED,
        );
        if !self.bounds.group_needs_check(last) {
            blk.push(Statement::Block(fast), Span::UNDEFINED);
            return Ok(var);
        }
        let len = self.array_len(info, blk)?;
        let three = self.u32_lit(3);
        let last = self.bin(BinaryOperator::Add, first, three, blk);
        let all_in = self.bin(BinaryOperator::Less, last, len, blk);
        let mut slow = Block::new();
        let mut components = Vec::with_capacity(4);
        for j in 0..4 {
            let off = self.u32_lit(j);
            let idx = self.bin(BinaryOperator::Add, first, off, &mut slow);
            let in_range = self.bin(BinaryOperator::Less, idx, len, &mut slow);
            let zero_idx = self.u32_lit(0);
            let safe = self.select(in_range, idx, zero_idx, &mut slow);
            let ptr = self.add(
                Expression::Access {
                    base: info.global,
                    index: safe,
                },
                &mut slow,
            );
            let v = self.add(Expression::Load { pointer: ptr }, &mut slow);
            let zero = self.zero(info.elem);
            components.push(self.select(in_range, v, zero, &mut slow));
        }
        let composed = self.add(
            Expression::Compose {
                ty: vec_ty,
                components,
            },
            &mut slow,
        );
        slow.push(
            Statement::Store {
                pointer: var,
                value: composed,
            },
            Span::UNDEFINED,
        );
        blk.push(
            Statement::If {
                condition: all_in,
                accept: fast,
                reject: slow,
            },
            Span::UNDEFINED,
        );
        Ok(var)
    }
}
