//! The binding layout shared by the emitted shaders and the wgpu runtime.
//!
//! Everything lives in bind group [`BIND_GROUP`]:
//!
//! - buffer parameter number `k` (counting buffer parameters only, in
//!   declaration order) is a storage buffer at binding `k`, holding a
//!   runtime-sized `array<T>` (`read` for `&[T]`, `read_write` for
//!   `&mut [T]`; `array<atomic<T>>` when the kernel uses it atomically). A
//!   buffer of an 8- or 16-bit element type (`f16 bf16 u8 i8 u16 i16`)
//!   holds its elements packed little endian in `u32` words: `array<u32>`
//!   read-only, `array<atomic<u32>>` read-write (see `lower::narrow`); its
//!   allocation is rounded up to whole words. A buffer of a 64-bit type
//!   (`u64 i64 f64`) is an `array<T>` of 8-byte elements;
//! - one uniform buffer at binding `buffer_count` (the parameter block)
//!   holds one field per scalar parameter in declaration order (`bool` as a
//!   `u32` 0/1), then the element count (not words) of every buffer
//!   parameter in order, then the four grid fields `grid_x`, `grid_y`,
//!   `grid_z` (the logical workgroup counts) and `grid_fold` (how many
//!   physical y rows one logical x row is folded into; see
//!   docs/targets.md, "Large grids on wgpu"). Every field is 4 bytes at the
//!   next multiple of 4, except a scalar of a 64-bit type (`u64 i64 f64`),
//!   which is 8 bytes at the next multiple of 8 (the uniform layout rules of
//!   Vulkan, Metal and D3D), leaving 4 bytes of padding before it when
//!   needed. A kernel without 64-bit scalars has field `k` at byte `4 * k`.
//!   The size is rounded up to 16 bytes. It always exists.
//!
//! Lengths are passed explicitly instead of using `arrayLength` so that an
//! empty buffer works: wgpu cannot bind a zero-sized buffer, so the runtime
//! binds a small one (8 bytes, room for one element of any type) and passes
//! length 0.

use crate::ir::DataType;

/// The bind group of every resource.
pub const BIND_GROUP: u32 = 0;

/// What one parameter is, as far as the layout cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A buffer parameter.
    Buffer,
    /// A scalar parameter of this type.
    Scalar(DataType),
}

/// Where each parameter lives.
///
/// Uniform fields are numbered in order (`scalar_field`, `len_field`,
/// `grid_field`): field `f` is member `f` of the parameter block's struct,
/// at byte [`Layout::field_offset`]`(f)`, [`Layout::field_size`]`(f)`
/// bytes wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Per parameter: the binding of a buffer, `None` for a scalar.
    pub buffer_binding: Vec<Option<u32>>,
    /// Per parameter: the uniform field index of a scalar, `None` for a buffer.
    pub scalar_field: Vec<Option<u32>>,
    /// Per parameter: the uniform field index holding a buffer's length.
    pub len_field: Vec<Option<u32>>,
    /// Number of buffer parameters.
    pub buffer_count: u32,
    /// Number of uniform fields (0: no uniform buffer).
    pub uniform_fields: u32,
    /// Field index of `grid_x`; `grid_y`, `grid_z` and `grid_fold` follow.
    pub grid_field: u32,
    /// Per uniform field: its byte offset and size (4, or 8 for a 64-bit
    /// scalar).
    fields: Vec<(u32, u32)>,
}

/// Number of grid fields at the end of the uniform block.
pub const GRID_FIELDS: u32 = 4;

/// The size in bytes of a scalar parameter's uniform field: 8 for the
/// 64-bit types, 4 for every other (`bool` travels as a `u32`, the narrow
/// types widened to their 32-bit register type).
#[must_use]
pub fn scalar_field_size(ty: DataType) -> u32 {
    if ty.is_wide() { 8 } else { 4 }
}

impl Layout {
    /// The layout of a parameter list.
    #[must_use]
    pub fn new(params: &[SlotKind]) -> Self {
        let scalars = params
            .iter()
            .filter(|p| matches!(p, SlotKind::Scalar(_)))
            .count() as u32;
        let mut layout = Self {
            buffer_binding: Vec::with_capacity(params.len()),
            scalar_field: Vec::with_capacity(params.len()),
            len_field: Vec::with_capacity(params.len()),
            buffer_count: 0,
            uniform_fields: 0,
            grid_field: 0,
            fields: Vec::new(),
        };
        let mut next_scalar = 0;
        let mut end = 0u32;
        let mut push = |fields: &mut Vec<(u32, u32)>, size: u32| {
            let offset = end.next_multiple_of(size);
            fields.push((offset, size));
            end = offset + size;
        };
        for p in params {
            match p {
                SlotKind::Buffer => {
                    layout.buffer_binding.push(Some(layout.buffer_count));
                    layout.scalar_field.push(None);
                    layout.len_field.push(Some(scalars + layout.buffer_count));
                    layout.buffer_count += 1;
                }
                SlotKind::Scalar(ty) => {
                    layout.buffer_binding.push(None);
                    layout.scalar_field.push(Some(next_scalar));
                    layout.len_field.push(None);
                    push(&mut layout.fields, scalar_field_size(*ty));
                    next_scalar += 1;
                }
            }
        }
        layout.grid_field = scalars + layout.buffer_count;
        layout.uniform_fields = layout.grid_field + GRID_FIELDS;
        for _ in scalars..layout.uniform_fields {
            push(&mut layout.fields, 4);
        }
        layout
    }

    /// Binding of the uniform buffer, if there is one.
    #[must_use]
    pub fn uniform_binding(&self) -> Option<u32> {
        (self.uniform_fields > 0).then_some(self.buffer_count)
    }

    /// Byte offset of uniform field `field` in the parameter block.
    ///
    /// # Panics
    /// When `field` is not below [`Layout::uniform_fields`].
    #[must_use]
    pub fn field_offset(&self, field: u32) -> u32 {
        self.fields[field as usize].0
    }

    /// Size in bytes of uniform field `field` (4, or 8 for a 64-bit
    /// scalar).
    ///
    /// # Panics
    /// When `field` is not below [`Layout::uniform_fields`].
    #[must_use]
    pub fn field_size(&self, field: u32) -> u32 {
        self.fields[field as usize].1
    }

    /// Size in bytes of the uniform buffer (a multiple of 16).
    #[must_use]
    pub fn uniform_size(&self) -> u32 {
        let end = self
            .fields
            .last()
            .map_or(0, |&(offset, size)| offset + size);
        end.div_ceil(16) * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_then_lengths() {
        let l = Layout::new(&[
            SlotKind::Scalar(DataType::F32),
            SlotKind::Buffer,
            SlotKind::Buffer,
            SlotKind::Scalar(DataType::Bool),
        ]);
        assert_eq!(l.buffer_binding, vec![None, Some(0), Some(1), None]);
        assert_eq!(l.scalar_field, vec![Some(0), None, None, Some(1)]);
        assert_eq!(l.len_field, vec![None, Some(2), Some(3), None]);
        assert_eq!(l.uniform_binding(), Some(2));
        assert_eq!(l.grid_field, 4);
        assert_eq!(l.uniform_size(), 32);
        assert_eq!(Layout::new(&[]).uniform_binding(), Some(0));
        assert_eq!(Layout::new(&[]).uniform_size(), 16);
        // Without 64-bit scalars, field `k` is at byte `4 * k`.
        for f in 0..l.uniform_fields {
            assert_eq!((l.field_offset(f), l.field_size(f)), (4 * f, 4));
        }
    }

    #[test]
    fn wide_scalars_are_eight_byte_aligned() {
        let l = Layout::new(&[
            SlotKind::Scalar(DataType::U32),
            SlotKind::Scalar(DataType::U64),
            SlotKind::Buffer,
            SlotKind::Scalar(DataType::F32),
            SlotKind::Scalar(DataType::F64),
            SlotKind::Scalar(DataType::I64),
        ]);
        assert_eq!(
            l.scalar_field,
            vec![Some(0), Some(1), None, Some(2), Some(3), Some(4)]
        );
        let at: Vec<(u32, u32)> = (0..l.uniform_fields)
            .map(|f| (l.field_offset(f), l.field_size(f)))
            .collect();
        // u32 @0, pad, u64 @8, f32 @16, pad, f64 @24, i64 @32, the length
        // @40, the grid @44..60.
        assert_eq!(
            at,
            vec![
                (0, 4),
                (8, 8),
                (16, 4),
                (24, 8),
                (32, 8),
                (40, 4),
                (44, 4),
                (48, 4),
                (52, 4),
                (56, 4)
            ]
        );
        assert_eq!(l.len_field, vec![None, None, Some(5), None, None, None]);
        assert_eq!(l.grid_field, 6);
        assert_eq!(l.uniform_size(), 64);
    }
}
