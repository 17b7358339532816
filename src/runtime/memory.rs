//! Device memory: the [`Element`] types of buffers, the [`DeviceMemory`]
//! trait backends implement, and [`downcast_memory`], the one way a backend
//! gets its own memory type back.

use std::any::Any;
use std::fmt;

use super::{Error, Result};
use crate::ir::{DataType, Literal};

/// A buffer element type: `f32`, `u32`, `i32`, [`half::f16`],
/// [`half::bf16`], `u8`, `i8`, `u16`, `i16`, `u64`, `i64` or `f64`.
///
/// Buffers hold elements densely packed, `TYPE.size_bytes()` bytes each, in
/// the host's byte order (little endian on every supported device).
///
/// # Safety
///
/// Implementors must be plain values of exactly `TYPE.size_bytes()` bytes
/// (so `size_of::<Self>()` equals it), with no padding, an alignment no
/// larger than their size, and valid for every bit pattern; `TYPE` must be
/// a storable [`DataType`] (not `bool`). [`as_bytes`] checks the size at
/// compile time.
pub unsafe trait Element: Copy + Send + Sync + 'static + fmt::Debug {
    /// The element's IR type.
    const TYPE: DataType;
    /// The bit pattern, zero-extended to 64 bits (the convention of
    /// [`Literal::bits64`]): `Element::to_bits(half::bf16::ONE) == 0x3f80`,
    /// `Element::to_bits(-1i8) == 0xff`.
    fn to_bits(self) -> u64;
    /// The element whose bit pattern is the low `TYPE.bits()` bits of
    /// `bits` (higher bits are ignored).
    fn from_bits(bits: u64) -> Self;
    /// The element as a literal of its exact type.
    #[must_use]
    fn to_literal(self) -> Literal {
        Literal::from_bits64(Self::TYPE, self.to_bits())
    }
}

/// `Element` for a plain type, with its conversions to and from the
/// zero-extended bit pattern.
macro_rules! element {
    ($($t:ty => $ty:ident, |$v:ident| $to:expr, |$b:ident| $from:expr;)*) => {$(
        // SAFETY: a primitive number (or `half`'s `repr(transparent)` `u16`
        // wrapper) of `TYPE.size_bytes()` bytes (checked below), with no
        // padding and every bit pattern valid.
        unsafe impl Element for $t {
            const TYPE: DataType = DataType::$ty;
            fn to_bits(self) -> u64 {
                let $v = self;
                $to
            }
            fn from_bits($b: u64) -> Self {
                $from
            }
        }
        const _: () = assert!(
            std::mem::size_of::<$t>() == DataType::$ty.size_bytes() as usize
                && std::mem::align_of::<$t>() <= std::mem::size_of::<$t>()
        );
    )*};
}

element! {
    f32 => F32, |v| u64::from(v.to_bits()), |b| f32::from_bits(b as u32);
    half::f16 => F16, |v| u64::from(v.to_bits()), |b| half::f16::from_bits(b as u16);
    half::bf16 => BF16, |v| u64::from(v.to_bits()), |b| half::bf16::from_bits(b as u16);
    u32 => U32, |v| u64::from(v), |b| b as u32;
    i32 => I32, |v| u64::from(v.cast_unsigned()), |b| (b as u32).cast_signed();
    u8 => U8, |v| u64::from(v), |b| b as u8;
    i8 => I8, |v| u64::from(v.cast_unsigned()), |b| (b as u8).cast_signed();
    u16 => U16, |v| u64::from(v), |b| b as u16;
    i16 => I16, |v| u64::from(v.cast_unsigned()), |b| (b as u16).cast_signed();
    u64 => U64, |v| v, |b| b;
    i64 => I64, |v| v.cast_unsigned(), |b| b.cast_signed();
    f64 => F64, |v| v.to_bits(), |b| f64::from_bits(b);
}

/// View a slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes<T: Element>(data: &[T]) -> &[u8] {
    const { assert!(std::mem::size_of::<T>() == T::TYPE.size_bytes() as usize) };
    // SAFETY: `Element` types are plain values of `TYPE.size_bytes()` bytes
    // with no padding, so every byte is initialised.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

/// View a mutable slice of elements as bytes (native endianness).
#[must_use]
pub fn as_bytes_mut<T: Element>(data: &mut [T]) -> &mut [u8] {
    const { assert!(std::mem::size_of::<T>() == T::TYPE.size_bytes() as usize) };
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
    use super::{
        DeviceMemory, Element, as_bytes, as_bytes_mut, downcast_memory, downcast_memory_mut,
    };
    use crate::ir::{DataType, Literal};
    use crate::runtime::Error;
    use half::{bf16, f16};

    /// `to_bits` is the zero-extended pattern (`Literal::bits`), `from_bits`
    /// takes the low bits, and the literal has the exact type.
    #[test]
    fn element_bits_follow_the_literal_convention() {
        fn check<T: Element>(v: T, bits: u64, lit: Literal) {
            assert_eq!(v.to_bits(), bits, "{v:?}");
            assert_eq!(lit.bits64(), bits, "{lit:?}");
            assert_eq!(v.to_literal(), lit);
            assert_eq!(lit.ty(), T::TYPE);
            // (Compared as bits: NaN payloads must survive.)
            assert_eq!(T::from_bits(bits).to_bits(), bits);
            // Bits above the type's width are ignored.
            if T::TYPE.bits() < 64 {
                let high = 0xdead_beef_u64 << T::TYPE.bits();
                assert_eq!(T::from_bits(bits | high).to_bits(), bits);
            }
        }
        check(1.5f32, 0x3fc0_0000, Literal::f32(1.5));
        check(-7i32, u64::from((-7i32).cast_unsigned()), Literal::I32(-7));
        check(9u32, 9, Literal::U32(9));
        check(f16::from_f32(-2.0), 0xc000, Literal::F16(0xc000));
        check(bf16::ONE, 0x3f80, Literal::BF16(0x3f80));
        check(bf16::from_bits(0xffc1), 0xffc1, Literal::BF16(0xffc1));
        check(200u8, 200, Literal::U8(200));
        check(-1i8, 0xff, Literal::I8(-1));
        check(-128i8, 0x80, Literal::I8(-128));
        check(0xbeefu16, 0xbeef, Literal::U16(0xbeef));
        check(-2i16, 0xfffe, Literal::I16(-2));
        check(u64::MAX - 1, u64::MAX - 1, Literal::U64(u64::MAX - 1));
        check(-3i64, (-3i64).cast_unsigned(), Literal::I64(-3));
        check(-0.5f64, (-0.5f64).to_bits(), Literal::f64(-0.5));
        let all = [
            f32::TYPE,
            u32::TYPE,
            i32::TYPE,
            f16::TYPE,
            bf16::TYPE,
            u8::TYPE,
            i8::TYPE,
            u16::TYPE,
            i16::TYPE,
            u64::TYPE,
            i64::TYPE,
            f64::TYPE,
        ];
        let storable: Vec<DataType> = DataType::ALL
            .into_iter()
            .filter(|t| t.is_storable())
            .collect();
        assert_eq!(all.len(), storable.len());
        assert!(storable.iter().all(|t| all.contains(t)));
    }

    /// Elements are densely packed, little endian on the hosts we run on.
    #[test]
    fn narrow_elements_view_as_packed_bytes() {
        let v = [bf16::ONE, bf16::from_f32(-2.0), bf16::ZERO];
        assert_eq!(as_bytes(&v).len(), 6);
        let mut w = [0i8, 0, 0];
        as_bytes_mut(&mut w).copy_from_slice(&[0xff, 0x80, 0x7f]);
        assert_eq!(w, [-1, -128, 127]);
        assert_eq!(as_bytes(&[0x0102u16, 0x0304]).len(), 4);
        if cfg!(target_endian = "little") {
            assert_eq!(as_bytes(&v), [0x80, 0x3f, 0x00, 0xc0, 0, 0]);
            assert_eq!(as_bytes(&[0x0102u16, 0x0304]), [2, 1, 4, 3]);
        }
    }

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
