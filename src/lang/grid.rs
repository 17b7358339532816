//! A kernel's launch grid as a function of its arguments: the
//! `grid = (..)` option of `#[kernel(...)]`.
//!
//! ```
//! let src = r#"
//! #[kernel(workgroup_size = 256, grid = n.div_ceil(256))]
//! pub fn fill(n: u32, y: &mut [f32]) {
//!     let i = global_id().x;
//!     if i < n { y[i] = 1.0; }
//! }
//! "#;
//! let module = vyre::lang::parse("fill.vyre", src).unwrap();
//! let rule = &module.grids["fill"];
//! let count = rule.eval(&|name| (name == "n").then_some(1000), &|_| None).unwrap();
//! assert_eq!(count, [4, 1, 1]);
//! ```

use std::fmt;

pub use crate::ir::SizeOp;

/// How many workgroups a kernel launches along x, y and z, computed from
/// its arguments when it is launched (generated launchers evaluate it, so
/// they take no `grid` argument). Constants (file constants, an
/// instance's const parameters) are already folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRule {
    /// Workgroup counts along x, y and z (`1` where the rule gives fewer
    /// dimensions).
    pub dims: [SizeExpr; 3],
}

/// An unsigned integer computed on the host from a kernel's arguments.
/// Arithmetic is on `u64` and checked: overflow, a negative intermediate
/// value or a division by zero is an error, never a wrapped value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeExpr {
    /// A constant.
    Const(u64),
    /// The value of an integer scalar parameter (`u32` or `i32`; a
    /// negative `i32` is an error).
    Scalar(String),
    /// The length in elements of a buffer parameter (`x.len()`).
    Len(String),
    /// `lhs op rhs`.
    Binary(SizeOp, Box<SizeExpr>, Box<SizeExpr>),
}

impl SizeExpr {
    /// The value, given the integer scalar parameters' values (`scalar`,
    /// `None` for a negative one) and the buffers' lengths (`len`).
    ///
    /// # Errors
    /// What [`SizeOp::apply`] reports, or a name that `scalar`/`len` do
    /// not know.
    pub fn eval(
        &self,
        scalar: &dyn Fn(&str) -> Option<u64>,
        len: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<u64, String> {
        match self {
            Self::Const(v) => Ok(*v),
            Self::Scalar(n) => scalar(n).ok_or_else(|| format!("`{n}` is negative or unknown")),
            Self::Len(n) => len(n).ok_or_else(|| format!("`{n}` is not a buffer")),
            Self::Binary(op, a, b) => op.apply(a.eval(scalar, len)?, b.eval(scalar, len)?),
        }
    }
}

impl GridRule {
    /// The workgroup counts; see [`SizeExpr::eval`].
    ///
    /// # Errors
    /// What [`SizeExpr::eval`] reports.
    pub fn eval(
        &self,
        scalar: &dyn Fn(&str) -> Option<u64>,
        len: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<[u64; 3], String> {
        let [x, y, z] = &self.dims;
        Ok([
            x.eval(scalar, len)?,
            y.eval(scalar, len)?,
            z.eval(scalar, len)?,
        ])
    }
}

impl fmt::Display for SizeExpr {
    /// Source form, fully parenthesised: `(n.div_ceil(256))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Const(v) => write!(f, "{v}"),
            Self::Scalar(n) => f.write_str(n),
            Self::Len(n) => write!(f, "{n}.len()"),
            Self::Binary(op, a, b) if op.is_method() => write!(f, "{a}.{}({b})", op.spelling()),
            Self::Binary(op, a, b) => write!(f, "({a} {} {b})", op.spelling()),
        }
    }
}

impl fmt::Display for GridRule {
    /// `(x, y, z)` in source form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [x, y, z] = &self.dims;
        write!(f, "({x}, {y}, {z})")
    }
}
