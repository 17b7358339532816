//! Device memory: the [`Element`] types of buffers, the [`DeviceMemory`]
//! trait backends implement, and [`downcast_memory`], the one way a backend
//! gets its own memory type back.

use std::any::Any;
use std::fmt;

use super::{Error, Result};
use crate::ir::DataType;

/// A buffer element type.
///
/// # Safety
///
/// Implementors must be plain 4-byte values valid for every bit pattern,
/// whose [`DataType`] is `TYPE`.
pub unsafe trait Element: Copy + Send + Sync + 'static + fmt::Debug {
    /// The element's IR type.
    const TYPE: DataType;
    /// Little-endian-independent bit pattern.
    fn to_bits(self) -> u32;
    /// From a bit pattern.
    fn from_bits(bits: u32) -> Self;
}

// SAFETY: 4-byte plain values, every bit pattern valid.
unsafe impl Element for f32 {
    const TYPE: DataType = DataType::F32;
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    fn from_bits(bits: u32) -> Self {
        f32::from_bits(bits)
    }
}
// SAFETY: as above.
unsafe impl Element for u32 {
    const TYPE: DataType = DataType::U32;
    fn to_bits(self) -> u32 {
        self
    }
    fn from_bits(bits: u32) -> Self {
        bits
    }
}
// SAFETY: as above.
unsafe impl Element for i32 {
    const TYPE: DataType = DataType::I32;
    fn to_bits(self) -> u32 {
        self.cast_unsigned()
    }
    fn from_bits(bits: u32) -> Self {
        bits.cast_signed()
    }
}

/// View a slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes<T: Element>(data: &[T]) -> &[u8] {
    // SAFETY: `Element` types are 4-byte plain values with no padding.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

/// View a mutable slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes_mut<T: Element>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`, and every bit pattern is a valid `T`.
    unsafe {
        std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(data))
    }
}

/// Device memory owned by a backend; backends get their own type back with
/// [`downcast_memory`] / [`downcast_memory_mut`].
pub trait DeviceMemory: Any + Send + Sync + fmt::Debug {
    /// Size in bytes.
    fn len_bytes(&self) -> usize;
}

fn foreign<M>(backend: &str) -> Error {
    Error::ForeignMemory {
        backend: backend.to_string(),
        expected: std::any::type_name::<M>().to_string(),
    }
}

/// `mem` as the memory type `M` of the backend named `backend`.
///
/// # Errors
/// [`Error::ForeignMemory`] when `mem` belongs to another backend.
pub fn downcast_memory<'m, M: DeviceMemory>(
    mem: &'m dyn DeviceMemory,
    backend: &str,
) -> Result<&'m M> {
    let any: &dyn Any = mem;
    any.downcast_ref::<M>().ok_or_else(|| foreign::<M>(backend))
}

/// `mem` as the mutable memory type `M` of the backend named `backend`.
///
/// # Errors
/// [`Error::ForeignMemory`] when `mem` belongs to another backend.
pub fn downcast_memory_mut<'m, M: DeviceMemory>(
    mem: &'m mut dyn DeviceMemory,
    backend: &str,
) -> Result<&'m mut M> {
    let any: &mut dyn Any = mem;
    any.downcast_mut::<M>().ok_or_else(|| foreign::<M>(backend))
}

#[cfg(test)]
mod tests {
    use super::{DeviceMemory, downcast_memory, downcast_memory_mut};
    use crate::runtime::Error;

    #[derive(Debug)]
    struct A(usize);
    #[derive(Debug)]
    struct B;
    impl DeviceMemory for A {
        fn len_bytes(&self) -> usize {
            self.0
        }
    }
    impl DeviceMemory for B {
        fn len_bytes(&self) -> usize {
            0
        }
    }

    #[test]
    fn downcasts_to_the_own_type_only() {
        let mut a: Box<dyn DeviceMemory> = Box::new(A(8));
        assert_eq!(downcast_memory::<A>(&*a, "a").unwrap().0, 8);
        downcast_memory_mut::<A>(&mut *a, "a").unwrap().0 = 4;
        assert_eq!(a.len_bytes(), 4);
        let e = downcast_memory::<B>(&*a, "b").unwrap_err();
        assert!(
            matches!(&e, Error::ForeignMemory { backend, expected } if backend == "b" && expected.ends_with("B")),
            "{e:?}"
        );
        assert!(downcast_memory_mut::<B>(&mut *a, "b").is_err());
    }
}
