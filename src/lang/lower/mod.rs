//! Source text to IR, in two passes.
//!
//! Pass 1 walks the `syn` tree, resolves names, inlines helpers and folds
//! constants, producing front-end trees (`FExpr`, `FStmt`) whose types
//! may still be inference variables for unsuffixed integer literals. Pass 2
//! (`finish`) resolves every variable, type-checks with source positions
//! and emits `ir` nodes.
//!
//! - `parse`: tokenizing, size limits, `syn` parsing, the big-stack thread;
//! - `tree`: the front-end trees and the expression context `Cx`;
//! - `infer`: inference types and the union-find over literal variables;
//! - `file`: file level: constants, helper signatures, recursion, effects,
//!   and the type syntax;
//! - `kernel`: kernel signatures and attributes;
//! - `generic`: generic kernels, their `instances(...)` and `tune(...)`;
//! - `grid`: the `grid = (..)` option (launch grids from the arguments);
//! - `stmt`: the per-kernel context `Kx` and statements;
//! - `array`: private arrays, `load4`/`store4`, `#[unroll]` and `step_by`;
//! - `matrix`: matrix (tensor-core) operations and asynchronous copies;
//! - `shared`: the `#[shared(..)]` attribute (swizzled shared arrays);
//! - `expr`, `method`, `inline`: expressions (pass 1);
//! - `finish`: pass 2.

mod array;
mod debug;
mod expr;
mod file;
mod finish;
mod generic;
mod grid;
mod infer;
mod inline;
mod kernel;
mod matrix;
mod method;
mod parse;
mod shared;
mod stmt;
mod tree;

use super::diag::{Raw, Sp};

pub(crate) use parse::parse_on_big_stack;

/// Workgroup size of a kernel whose attribute does not give one.
pub(crate) const DEFAULT_WORKGROUP_SIZE: u32 = 64;
/// Deepest nesting of expressions and blocks the lowering accepts.
pub(crate) const MAX_NESTING: u32 = 128;
/// Deepest nesting of brackets the tokenizer check accepts.
const MAX_GROUP_DEPTH: usize = 128;
/// Most tokens in one statement (between `;`/`,` at one bracket level).
const MAX_STATEMENT_TOKENS: usize = 20_000;
/// Most consecutive operator tokens (`- - - - x`).
const MAX_OPERATOR_RUN: usize = 128;
/// Most helper calls inlined into one kernel.
const MAX_INLINES: u32 = 10_000;
/// Most expression nodes duplicated by substituting helper arguments.
const MAX_SUBST_NODES: usize = 200_000;
/// Most elements of a tuple returned by a helper.
const MAX_TUPLE: usize = 8;
/// Stack of the parsing thread: deep (but bounded) input stays safe.
const PARSE_STACK_BYTES: usize = 256 << 20;

fn raw(sp: Sp, message: impl Into<String>) -> Raw {
    Raw {
        sp,
        message: message.into(),
        notes: Vec::new(),
    }
}
