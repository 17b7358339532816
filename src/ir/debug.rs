//! In-kernel debugging (`debug_print!`, `debug_assert!`): the two hidden
//! ring parameters a debug build appends to a kernel that uses them, the
//! description of each call site, and the `{}` format strings both the
//! front end (which checks them) and the runtime (which renders records)
//! read.
//!
//! The front end lowers each call into ordinary IR, once for every target:
//! an atomic add on word 0 of the `u32` ring reserves `4 + args` words, the
//! record is stored after it (`[site, global_id.x, .y, .z, args..]`), each
//! float argument at its index in the `f32` ring and every other argument
//! in the `u32` ring (no bit casts needed). Stores past the end are dropped
//! by the usual bounds checks, so a full ring loses records, never memory;
//! the runtime reads the rings after the launch, prints the records in
//! invocation order and turns a failed assert into an error.

use super::{Access, DataType, Param};

/// Name of the hidden `&mut [u32]` ring: word 0 counts the words reserved,
/// records follow.
pub const DEBUG_WORDS_PARAM: &str = "__vyre_debug";
/// Name of the hidden `&mut [f32]` ring: the float arguments of the
/// records, at the same indices as in the `u32` ring.
pub const DEBUG_FLOATS_PARAM: &str = "__vyre_debug_f32";
/// Words of a record before its arguments: the site and the invocation's
/// `global_id()` x, y and z.
pub const DEBUG_RECORD_HEADER: u32 = 4;

impl Param {
    /// Whether this is one of the hidden rings of a debug build (launchers
    /// do not show them; the runtime passes them).
    #[must_use]
    pub fn is_debug_ring(&self) -> bool {
        matches!(self, Param::Buffer(b) if b.access == Access::ReadWrite
            && (b.name == DEBUG_WORDS_PARAM || b.name == DEBUG_FLOATS_PARAM))
    }
}

/// What a debug call site does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugKind {
    /// `debug_print!(format, args..)`: print a line.
    Print,
    /// `debug_assert!(condition[, format, args..])`: when the condition is
    /// false, record the failure; the launch returns an error.
    Assert {
        /// The condition as written.
        condition: String,
    },
}

/// One `debug_print!` or `debug_assert!` of a kernel, in a debug build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugSite {
    /// Print or assert.
    pub kind: DebugKind,
    /// Source file, as the build names it.
    pub file: String,
    /// 1-based line of the call.
    pub line: u32,
    /// 1-based column of the call.
    pub column: u32,
    /// The format string (`{}` per argument, `{{`/`}}` for braces); empty
    /// for an assert without a message.
    pub format: String,
    /// The argument types, in order (each printed as its value: floats as
    /// `f32`, `bool` as `true`/`false`).
    pub args: Vec<DataType>,
}

/// One piece of a format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatPiece<'s> {
    /// Text printed as is (braces already unescaped where it says so).
    Text(&'s str),
    /// A literal `{` or `}` (from `{{` or `}}`).
    Brace(char),
    /// The next argument (`{}`).
    Arg,
}

/// The pieces of `format`, or the byte offset and description of its first
/// error (a `{` not followed by `}` or `{`, a lone `}`).
///
/// ```
/// use vyre::ir::{FormatPiece, format_pieces};
/// let p = format_pieces("i = {} {{x}}").unwrap();
/// assert_eq!(p, [FormatPiece::Text("i = "), FormatPiece::Arg, FormatPiece::Text(" "),
///     FormatPiece::Brace('{'), FormatPiece::Text("x"), FormatPiece::Brace('}')]);
/// assert!(format_pieces("{:?}").is_err());
/// ```
///
/// # Errors
/// The offset of the bad brace and what is wrong with it.
pub fn format_pieces(format: &str) -> Result<Vec<FormatPiece<'_>>, (usize, String)> {
    let mut out = Vec::new();
    let bytes = format.as_bytes();
    let mut text_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (piece, len) = match (bytes[i], bytes.get(i + 1)) {
            (b'{', Some(b'{')) => (FormatPiece::Brace('{'), 2),
            (b'}', Some(b'}')) => (FormatPiece::Brace('}'), 2),
            (b'{', Some(b'}')) => (FormatPiece::Arg, 2),
            (b'{', _) => {
                return Err((
                    i,
                    "only `{}` placeholders are supported (no names, positions or format specs); write `{{` for a literal brace".to_string(),
                ));
            }
            (b'}', _) => {
                return Err((
                    i,
                    "unmatched `}` in the format string; write `}}` for a literal brace"
                        .to_string(),
                ));
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if text_from < i {
            out.push(FormatPiece::Text(&format[text_from..i]));
        }
        out.push(piece);
        i += len;
        text_from = i;
    }
    if text_from < format.len() {
        out.push(FormatPiece::Text(&format[text_from..]));
    }
    Ok(out)
}

/// Whether `debug_print!` can print a value of type `ty`.
#[must_use]
pub fn printable(ty: DataType) -> bool {
    matches!(
        ty,
        DataType::U32
            | DataType::I32
            | DataType::F32
            | DataType::F16
            | DataType::BF16
            | DataType::Bool
    )
}

/// Whether an argument of type `ty` goes into the `f32` ring.
#[must_use]
pub fn in_float_ring(ty: DataType) -> bool {
    matches!(ty, DataType::F32 | DataType::F16 | DataType::BF16)
}
