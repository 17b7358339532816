//! [`SizeOp`]: checked `u64` arithmetic of launch sizes.

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
