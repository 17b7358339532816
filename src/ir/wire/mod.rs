//! The versioned binary encoding of a [`Program`] (the `reference` target's
//! blob).
//!
//! # Layout (version 12)
//!
//! ```text
//! magic    b"VYRE"
//! version  u16, little endian
//! payload  program
//! ```
//!
//! Inside the payload every integer is an unsigned LEB128 varint of at most
//! five bytes (`uN`), tags are single bytes, and a string is `len: uN`
//! followed by that many UTF-8 bytes. `i32` values and `f32` bit patterns are
//! encoded as the varint of their `u32` bit pattern.
//!
//! ```text
//! program  = name:str doc:str flags:u8 (bit 0 unchecked, bit 1 fast_math)
//!            wg_x:uN wg_y:uN wg_z:uN
//!            n:uN param*n  n:uN shared*n  n:uN private*n  n:uN matrix*n
//!            n:uN local*n  block
//! param    = 0 name:str elem:type access:u8 (0 read, 1 read-write)
//!          | 1 name:str ty:type
//! shared   = name:str elem:type len:uN shared_layout
//! shared_layout = 0 (linear) | 1 (swizzled) cols:uN
//! private  = name:str elem:type len:uN
//! matrix   = name:str role:u8 (0 a, 1 b, 2 accumulator) elem:type m:uN n:uN k:uN
//!            scope:u8 (0 subgroup, 1 warpgroup)
//! local    = name:str ty:type mutable:u8
//! type     = u8: 0 bool, 1 i32, 2 u32, 3 f32, 4 f16, 5 bf16, 6 u8, 7 i8,
//!            8 u16, 9 i16, 10 u64, 11 i64, 12 f64
//! block    = n:uN node*n
//! node     = 0 let local:uN rhs       | 1 assign local:uN rhs
//!          | 2 store buf expr expr    | 3 eval atomic
//!          | 4 if expr block block    | 5 while expr block
//!          | 6 for var:uN expr expr step:uN unroll:u8 block | 7 loop block
//!          | 8 break | 9 continue | 10 return | 11 barrier
//!          | 12 matrix_fill matrix:uN expr
//!          | 13 matrix_load matrix:uN buf offset:expr stride:expr layout:u8 clip
//!          | 14 matrix_store matrix:uN buf offset:expr stride:expr layout:u8 clip
//!          | 15 matrix_mma d:uN a:uN b:uN c:uN
//!          | 16 async_copy shared:uN dst:expr param:uN src:expr count:uN
//!          | 17 async_commit | 18 async_wait pending:uN
//!          | 19 warpgroup_mma d:uN a:operand b:tile c:uN
//!          | 20 warpgroup_mma_async d:uN a:operand b:tile c:uN
//!          | 21 warpgroup_wait pending:uint
//!          | 22 matrix_map d:uN src:uN row:uN col:uN value:uN expr
//!          | 23 matrix_row_reduce op:u8 (0 max, 1 sum) src:uN shared:uN offset:expr
//!          | 24 unsafe block
//!          | 25 async_copy_tile shared:uN dst:expr param:uN rows:dim cols:dim
//!               row:expr col:expr box_rows:uN box_cols:uN
//!          | 26 warpgroup_barrier
//! dim      = 0 param:uN | 1 const:uN | 2 (every row of the buffer)
//! operand  = 0 tile | 1 accumulator matrix:uN
//! tile     = shared:uN offset:expr stride:expr layout:u8
//! layout   = u8: 0 row-major, 1 column-major
//! clip     = 0 (whole tile) | 1 rows:expr cols:expr
//! buf      = 0 param:uN | 1 shared:uN | 2 private:uN
//! expr     = 0 lit   (type, value: u8 for bool, low:uN high:uN for the
//!                    64-bit types, uN bits otherwise)
//!          | 1 local:uN | 2 param:uN | 3 builtin:u8 axis:u8 | 4 len param:uN
//!          | 5 load buf expr | 6 unary op:u8 expr | 7 binary op:u8 expr expr
//!          | 8 cast type expr | 9 math fn:u8 n:uN expr*n
//!          | 10 select expr expr expr | 12 subgroup op:u8 n:uN expr*n
//! rhs      = expr | atomic
//! atomic   = 11 op:u8 buf index:expr has_expected:u8 [expected:expr] value:expr
//! ```
//!
//! A [`Node::Atomic`] is encoded by its [`AtomicResult`]: `Let(x)` as
//! `let x atomic`, `Assign(x)` as `assign x atomic`, `Discard` as
//! `eval atomic`. An atomic anywhere else (inside an expression, as an
//! index or a condition) and an `eval` of anything but an atomic are decode
//! errors.
//!
//! Operator, builtin, axis, math and atomic codes are the variants'
//! declaration order in [`super`] (starting at 0).
//!
//! # Guarantees of [`from_wire`]
//!
//! Any byte string yields `Ok` or a [`WireError`], never a panic. Every
//! length is checked against the remaining input before anything is
//! allocated (each element takes at least one byte), nesting of blocks and
//! expressions is limited to [`MAX_DEPTH`], trailing bytes are rejected, and
//! the decoded program is validated: a decoded program is always valid.

mod decode;
mod encode;

pub use decode::from_wire;
pub use encode::to_wire;

#[cfg(doc)]
use super::{AtomicResult, Node, Program};
use super::{BinOp, ValidationError};

/// The magic bytes every encoding starts with.
pub const MAGIC: [u8; 4] = *b"VYRE";

/// The format version this build writes and reads.
pub const VERSION: u16 = 12;

/// Deepest nesting of blocks and expressions the decoder accepts.
pub const MAX_DEPTH: u32 = 256;

/// Why a byte string is not a valid encoded program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with the vyre magic.
    #[error("not a vyre program: bad magic bytes")]
    BadMagic,
    /// Encoded by an incompatible version.
    #[error(
        "wire format version {found} is not supported (this build reads version {supported}); rebuild the kernels with a matching vyre"
    )]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The payload is malformed.
    #[error("malformed program encoding at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The payload decodes, but the program it holds fails validation.
    #[error("encoded program `{name}` is invalid: {}", first_error(.errors))]
    InvalidProgram {
        /// The kernel's name.
        name: String,
        /// Every validation problem.
        errors: Vec<ValidationError>,
    },
}

fn first_error(errors: &[ValidationError]) -> String {
    match errors {
        [] => "no details".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

/// The code of an atomic, which may only start the right-hand side of
/// `let`, `assign` or `eval`.
const ATOMIC: u8 = 11;

/// Binary operators in declaration order (their wire codes).
const BINOPS: [BinOp; 18] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::Rem,
    BinOp::BitAnd,
    BinOp::BitOr,
    BinOp::BitXor,
    BinOp::Shl,
    BinOp::Shr,
    BinOp::Eq,
    BinOp::Ne,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::And,
    BinOp::Or,
];

#[cfg(test)]
mod tests {
    use super::BINOPS;
    use crate::ir::{AtomicOp, MathFn};

    #[test]
    fn codes_match_declaration_order() {
        for (i, op) in BINOPS.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        for (i, f) in MathFn::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        for (i, op) in AtomicOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
    }
}
