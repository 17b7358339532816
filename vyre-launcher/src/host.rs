//! Host data: `.npy` files (any other extension is raw little-endian
//! elements), scalars from the command line, and outputs written whole or
//! not at all.

use std::io::Cursor;
use std::path::Path;

use npyz::{DType, NpyFile, TypeChar, WriterBuilder};
use vyre::ir::{DataType, Literal};

use crate::error::{LauncherError, Result};

/// An array on the host: little-endian elements of `elem` and a shape
/// (`[len]` for raw files).
#[derive(Debug, Clone, PartialEq)]
pub struct HostArray {
    /// Element type.
    pub elem: DataType,
    /// Shape, slowest axis first; its product is the element count.
    pub shape: Vec<u64>,
    /// The elements, little-endian.
    pub bytes: Vec<u8>,
}

impl HostArray {
    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len() / self.elem.size_bytes() as usize
    }

    /// Whether it holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The elements as `f32`s, when `elem` is `f32`.
    #[must_use]
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.elem == DataType::F32).then(|| {
            self.bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }
}

/// The `.npy` type character and size of `elem` (bf16 travels as its
/// `uint16` bit patterns: NumPy has no bfloat16).
fn npy_kind(elem: DataType) -> Option<(TypeChar, u64)> {
    Some(match elem {
        DataType::F32 => (TypeChar::Float, 4),
        DataType::F16 => (TypeChar::Float, 2),
        DataType::U32 => (TypeChar::Uint, 4),
        DataType::I32 => (TypeChar::Int, 4),
        DataType::BF16 | DataType::U16 => (TypeChar::Uint, 2),
        DataType::I16 => (TypeChar::Int, 2),
        DataType::U8 => (TypeChar::Uint, 1),
        DataType::I8 => (TypeChar::Int, 1),
        DataType::F64 => (TypeChar::Float, 8),
        DataType::U64 => (TypeChar::Uint, 8),
        DataType::I64 => (TypeChar::Int, 8),
        _ => return None,
    })
}

/// The `.npy` descriptor written for `elem` (`<f4`, `|u1`).
fn npy_descr(elem: DataType) -> Option<String> {
    let (ty, size) = npy_kind(elem)?;
    let order = if size == 1 { '|' } else { '<' };
    Some(format!("{order}{ty}{size}"))
}

/// Whether `path` names a `.npy` file.
fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Read `path` as elements of `elem` for parameter `param`: a `.npy`
/// file must hold that dtype (C order, either byte order); any other file
/// is raw little-endian elements.
///
/// # Errors
/// A missing file, another dtype, Fortran order, a byte count that is not
/// a whole number of elements.
pub fn read_input(path: &Path, elem: DataType, param: &str) -> Result<HostArray> {
    let raw = std::fs::read(path).map_err(|e| LauncherError::file(path, e.to_string()))?;
    let size = u64::from(elem.size_bytes());
    if !is_npy(path) {
        if !(raw.len() as u64).is_multiple_of(size) {
            return Err(LauncherError::file(
                path,
                format!(
                    "{} bytes are not a whole number of `{}` elements for `{param}` ({size} bytes each)",
                    raw.len(),
                    elem.name()
                ),
            ));
        }
        return Ok(HostArray {
            elem,
            shape: vec![raw.len() as u64 / size],
            bytes: raw,
        });
    }
    let mut cursor = Cursor::new(raw.as_slice());
    let npy = NpyFile::new(&mut cursor)
        .map_err(|e| LauncherError::file(path, format!("not a valid .npy file: {e}")))?;
    let want = npy_descr(elem).ok_or_else(|| {
        LauncherError::file(path, format!("`{}` cannot be read from .npy", elem.name()))
    })?;
    let ts = match npy.dtype() {
        DType::Plain(ts) => ts,
        other => {
            return Err(LauncherError::file(
                path,
                format!(
                    "holds a structured dtype `{}`, `{param}` is `{}` ({want})",
                    other.descr(),
                    elem.name()
                ),
            ));
        }
    };
    let (ty, want_size) = npy_kind(elem).unwrap_or((TypeChar::Float, 4));
    if ts.type_char() != ty || ts.size_field() != want_size {
        return Err(LauncherError::file(
            path,
            format!(
                "holds dtype `{ts}`, `{param}` is `{}` ({want})",
                elem.name()
            ),
        ));
    }
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        return Err(LauncherError::file(
            path,
            "is in Fortran order; save it in C order (np.ascontiguousarray)",
        ));
    }
    let shape = npy.shape().to_vec();
    let count = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| LauncherError::file(path, "shape overflows"))?;
    let start = cursor.position() as usize;
    let data = &raw[start..];
    if data.len() as u64 != count {
        return Err(LauncherError::file(
            path,
            format!(
                "holds {} data bytes, its shape {shape:?} needs {count} (truncated?)",
                data.len()
            ),
        ));
    }
    let mut bytes = data.to_vec();
    if ts.endianness() == npyz::Endianness::Big && size > 1 {
        for element in bytes.chunks_exact_mut(size as usize) {
            element.reverse();
        }
    }
    Ok(HostArray { elem, shape, bytes })
}

/// Write `array` to `path` (`.npy` with its shape and dtype, otherwise raw
/// little-endian), through a temporary file renamed into place: a failure
/// leaves no truncated file.
///
/// # Errors
/// The file cannot be written.
pub fn write_output(path: &Path, array: &HostArray) -> Result<()> {
    let bytes = if is_npy(path) {
        npy_bytes(array).map_err(|e| LauncherError::file(path, e))?
    } else {
        array.bytes.clone()
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(LauncherError::file(path, format!("cannot be written: {e}")));
    }
    Ok(())
}

/// The `.npy` file of `array`, written by npyz with the element's
/// default dtype (`bf16` as `<u2` bit patterns).
fn npy_bytes(array: &HostArray) -> Result<Vec<u8>, String> {
    macro_rules! npy_of {
        ($t:ty, $n:literal) => {{
            let mut out = Vec::new();
            let mut writer = npyz::WriteOptions::<$t>::new()
                .default_dtype()
                .shape(&array.shape)
                .writer(&mut out)
                .begin_nd()
                .map_err(|e| e.to_string())?;
            writer
                .extend(array.bytes.chunks_exact($n).map(|c| {
                    let mut le = [0u8; $n];
                    le.copy_from_slice(c);
                    <$t>::from_le_bytes(le)
                }))
                .map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())?;
            out
        }};
    }
    Ok(match array.elem {
        DataType::F32 => npy_of!(f32, 4),
        DataType::F16 => npy_of!(vyre::half::f16, 2),
        DataType::U32 => npy_of!(u32, 4),
        DataType::I32 => npy_of!(i32, 4),
        DataType::BF16 | DataType::U16 => npy_of!(u16, 2),
        DataType::I16 => npy_of!(i16, 2),
        DataType::U8 => npy_of!(u8, 1),
        DataType::I8 => npy_of!(i8, 1),
        DataType::F64 => npy_of!(f64, 8),
        DataType::U64 => npy_of!(u64, 8),
        DataType::I64 => npy_of!(i64, 8),
        other => return Err(format!("`{}` cannot be written as .npy", other.name())),
    })
}

/// Parse `text` as a scalar of `ty` for parameter `param`: decimal for
/// integers (in range), any Rust float spelling for floats (rounded to the
/// type), `true`/`false`.
///
/// # Errors
/// A bad number or one out of the type's range.
pub fn parse_scalar(text: &str, ty: DataType, param: &str) -> Result<Literal> {
    let bad = || {
        LauncherError::Usage(format!(
            "bad number `{text}` for scalar `{param}` (`{}`)",
            ty.name()
        ))
    };
    let int = |lo: i64, hi: i64| -> Result<i64> {
        text.parse::<i64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(bad)
    };
    let float = || text.parse::<f32>().map_err(|_| bad());
    Ok(match ty {
        DataType::Bool => Literal::Bool(text.parse::<bool>().map_err(|_| bad())?),
        DataType::F32 => Literal::f32(float()?),
        DataType::F16 => Literal::F16(
            text.parse::<vyre::half::f16>()
                .map_err(|_| bad())?
                .to_bits(),
        ),
        DataType::BF16 => Literal::BF16(
            text.parse::<vyre::half::bf16>()
                .map_err(|_| bad())?
                .to_bits(),
        ),
        DataType::U32 => Literal::U32(int(0, i64::from(u32::MAX))? as u32),
        DataType::I32 => Literal::I32(int(i64::from(i32::MIN), i64::from(i32::MAX))? as i32),
        DataType::U16 => Literal::U16(int(0, i64::from(u16::MAX))? as u16),
        DataType::I16 => Literal::I16(int(i64::from(i16::MIN), i64::from(i16::MAX))? as i16),
        DataType::U8 => Literal::U8(int(0, i64::from(u8::MAX))? as u8),
        DataType::I8 => Literal::I8(int(i64::from(i8::MIN), i64::from(i8::MAX))? as i8),
        DataType::I64 => Literal::I64(int(i64::MIN, i64::MAX)?),
        DataType::U64 => Literal::U64(text.parse::<u64>().map_err(|_| bad())?),
        DataType::F64 => Literal::f64(text.parse::<f64>().map_err(|_| bad())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn npy_round_trips_through_npyz() {
        let dir = scratch();
        let path = dir.path().join("a.npy");
        let values = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0];
        let array = HostArray {
            elem: DataType::F32,
            shape: vec![2, 3],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        write_output(&path, &array).unwrap();
        // npyz itself reads what we wrote.
        let bytes = std::fs::read(&path).unwrap();
        let npy = NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), values);
        assert_eq!(read_input(&path, DataType::F32, "a").unwrap(), array);
        let wrong = read_input(&path, DataType::I32, "a")
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("holds dtype `<f4`, `a` is `i32` (<i4)"),
            "{wrong}"
        );
    }

    #[test]
    fn npy_written_by_npyz_is_read_in_either_byte_order() {
        let dir = scratch();
        // 0x0201 little-endian, whatever order the file stores it in.
        for descr in ["<i2", ">i2"] {
            let path = dir.path().join("b.npy");
            let mut out = Vec::new();
            let mut w = npyz::WriteOptions::<i16>::new()
                .dtype(DType::parse(&format!("'{descr}'")).unwrap())
                .shape(&[1])
                .writer(&mut out)
                .begin_nd()
                .unwrap();
            w.push(&0x0201).unwrap();
            w.finish().unwrap();
            std::fs::write(&path, &out).unwrap();
            let a = read_input(&path, DataType::I16, "b").unwrap();
            assert_eq!(a.bytes, [1, 2], "{descr}");
        }
    }

    #[test]
    fn raw_files_and_their_errors() {
        let dir = scratch();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, [0u8; 6]).unwrap();
        let e = read_input(&path, DataType::F32, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("6 bytes are not a whole number of `f32`"), "{e}");
        assert_eq!(read_input(&path, DataType::U16, "x").unwrap().len(), 3);
        let missing = read_input(&dir.path().join("nope.npy"), DataType::F32, "x");
        assert!(missing.unwrap_err().to_string().contains("nope.npy"));
        std::fs::write(dir.path().join("t.npy"), b"\x93NUMPY\x01\x00").unwrap();
        let e = read_input(&dir.path().join("t.npy"), DataType::F32, "x").unwrap_err();
        assert!(e.to_string().contains("not a valid .npy file"), "{e}");
    }

    #[test]
    fn scalars_parse_in_range_or_fail_with_the_name() {
        assert_eq!(
            parse_scalar("2.5", DataType::F32, "a").unwrap(),
            Literal::f32(2.5)
        );
        assert_eq!(
            parse_scalar("255", DataType::U8, "n").unwrap(),
            Literal::U8(255)
        );
        for (text, ty) in [
            ("256", DataType::U8),
            ("-1", DataType::U32),
            ("abc", DataType::F32),
            ("1.5", DataType::I32),
        ] {
            let e = parse_scalar(text, ty, "p").unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("bad number `{text}` for scalar `p`")),
                "{e}"
            );
        }
    }
}
