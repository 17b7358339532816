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
//!   allocation is rounded up to whole words;
//! - one uniform buffer at binding `buffer_count` holds, as 4-byte fields,
//!   every scalar parameter in declaration order (`bool` as a `u32` 0/1), then
//!   the element count (not words) of every buffer parameter in order, then the four
//!   grid fields `grid_x`, `grid_y`, `grid_z` (the logical workgroup counts)
//!   and `grid_fold` (how many physical y rows one logical x row is folded
//!   into; see docs/targets.md, "Large grids on wgpu"). The size is rounded
//!   up to 16 bytes. It always exists.
//!
//! Lengths are passed explicitly instead of using `arrayLength` so that an
//! empty buffer works: wgpu cannot bind a zero-sized buffer, so the runtime
//! binds a 4-byte one and passes length 0.

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
    /// Number of 4-byte uniform fields (0: no uniform buffer).
    pub uniform_fields: u32,
    /// Field index of `grid_x`; `grid_y`, `grid_z` and `grid_fold` follow.
    pub grid_field: u32,
}

/// Number of grid fields at the end of the uniform block.
pub const GRID_FIELDS: u32 = 4;

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
        };
        let mut next_scalar = 0;
        for p in params {
            match p {
                SlotKind::Buffer => {
                    layout.buffer_binding.push(Some(layout.buffer_count));
                    layout.scalar_field.push(None);
                    layout.len_field.push(Some(scalars + layout.buffer_count));
                    layout.buffer_count += 1;
                }
                SlotKind::Scalar(_) => {
                    layout.buffer_binding.push(None);
                    layout.scalar_field.push(Some(next_scalar));
                    layout.len_field.push(None);
                    next_scalar += 1;
                }
            }
        }
        layout.grid_field = scalars + layout.buffer_count;
        layout.uniform_fields = layout.grid_field + GRID_FIELDS;
        layout
    }

    /// Binding of the uniform buffer, if there is one.
    #[must_use]
    pub fn uniform_binding(&self) -> Option<u32> {
        (self.uniform_fields > 0).then_some(self.buffer_count)
    }

    /// Size in bytes of the uniform buffer (a multiple of 16).
    #[must_use]
    pub fn uniform_size(&self) -> u32 {
        (self.uniform_fields * 4).div_ceil(16) * 16
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
    }
}
