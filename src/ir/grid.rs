//! Launch sizes computed from a kernel's arguments: the `grid = (..)`
//! rule of `#[kernel(...)]` ([`GridRule`]), its expressions
//! ([`SizeExpr`]) and their checked `u64` arithmetic ([`SizeOp`]). The
//! front end folds constants with it, generated launchers evaluate the rest
//! (`runtime::GridArith`), and a standalone launcher evaluates the rule its
//! manifest carries: all three report alike.
//!
//! ```
//! use vyre::ir::{GridRule, SizeExpr, SizeOp};
//! // grid = n.div_ceil(256)
//! let x = SizeExpr::Binary(
//!     SizeOp::DivCeil,
//!     Box::new(SizeExpr::Scalar("n".into())),
//!     Box::new(SizeExpr::Const(256)),
//! );
//! let rule = GridRule { dims: [x, SizeExpr::Const(1), SizeExpr::Const(1)] };
//! let count = rule.eval(&|name| (name == "n").then_some(1000), &|_| None).unwrap();
//! assert_eq!(count, [4, 1, 1]);
//! assert_eq!(rule.to_string(), "(n.div_ceil(256), 1, 1)");
//! ```

use std::fmt;

/// The operations of a launch-size expression (`vyre::lang::SizeExpr`,
/// the `grid = (..)` rule of a kernel), on `u64`, checked: the front end
/// folds constants with [`SizeOp::apply`] and generated launchers evaluate
/// the rest with it (`runtime::GridArith`), so both report alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeOp {
    /// `a + b`.
    Add,
    /// `a - b` (an error when `b > a`).
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`, rounded down.
    Div,
    /// `a % b`.
    Rem,
    /// `a.div_ceil(b)`: `a / b` rounded up.
    DivCeil,
    /// `a.min(b)`.
    Min,
    /// `a.max(b)`.
    Max,
}

impl SizeOp {
    /// Every operation.
    pub const ALL: [SizeOp; 8] = [
        Self::Add,
        Self::Sub,
        Self::Mul,
        Self::Div,
        Self::Rem,
        Self::DivCeil,
        Self::Min,
        Self::Max,
    ];

    /// The operation spelled `spelling` (see [`SizeOp::spelling`]).
    #[must_use]
    pub fn from_spelling(spelling: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.spelling() == spelling)
    }

    /// The method name (`div_ceil`, `min`, `max`) or operator (`+`).
    #[must_use]
    pub const fn spelling(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
            Self::DivCeil => "div_ceil",
            Self::Min => "min",
            Self::Max => "max",
        }
    }

    /// Whether it is written as a method call (`a.min(b)`).
    #[must_use]
    pub const fn is_method(self) -> bool {
        matches!(self, Self::DivCeil | Self::Min | Self::Max)
    }

    /// `a op b`, or why it has no value.
    ///
    /// # Errors
    /// Overflow, a negative result of `-`, division (or `%`, `div_ceil`)
    /// by zero.
    pub fn apply(self, a: u64, b: u64) -> Result<u64, String> {
        let sym = self.spelling();
        let r = match self {
            Self::Add => a.checked_add(b),
            Self::Sub => a.checked_sub(b),
            Self::Mul => a.checked_mul(b),
            Self::Div => a.checked_div(b),
            Self::Rem => a.checked_rem(b),
            Self::DivCeil => (b != 0).then(|| a.div_ceil(b)),
            Self::Min => Some(a.min(b)),
            Self::Max => Some(a.max(b)),
        };
        r.ok_or_else(|| match self {
            Self::Sub => format!("`{a} - {b}` is negative"),
            Self::Div | Self::Rem | Self::DivCeil if b == 0 => {
                if self.is_method() {
                    format!("`{a}.{sym}(0)` divides by zero")
                } else {
                    format!("`{a} {sym} 0` divides by zero")
                }
            }
            _ => format!("`{a} {sym} {b}` overflows"),
        })
    }
}

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
