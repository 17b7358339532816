//! Tile copies ([`AsyncOp::Tile`]) for targets without a copy engine.
//!
//! Hopper's PTX issues a tile copy as TMA copies on a tensor map the
//! launcher builds; every other target (naga's SPIR-V/WGSL/MSL/HLSL, PTX
//! before `sm_90a`, the reference interpreter) runs [`lower_tile_copies`]'s
//! rewrite instead: the statement becomes a loop in which the workgroup's
//! invocations share the box's elements, each copied by a checked load and
//! store with the statement's meaning (0 outside the source matrix, dropped
//! past the tile's end). The copy then completes at once; its group's
//! `async_commit`/`async_wait` have nothing left to wait for, and the
//! `barrier()` a kernel places after its wait makes the elements visible to
//! the other invocations, as for [`AsyncOp::Copy`].
//!
//! The same loop is what Hopper runs when a copy cannot go to the copy
//! engine at run time ([`tma_guard`]): a destination that is not a whole
//! number of swizzle atoms inside the tile, a source row length that is not
//! a multiple of 16 bytes (a tensor map's row stride), an empty source
//! matrix, or a box that does not start on a 16-byte boundary of its row.

use std::borrow::Cow;

use crate::ir::{
    AsyncOp, Axis, BinOp, BufRef, Builtin, DataType, Expr, LocalDecl, LocalId, MathFn, Node,
    Program, SharedLayout, TileDim,
};

/// `program` with every tile copy rewritten into its loop of element copies
/// when `hardware` is false; when true, each becomes `if guard { copy }
/// else { loop }` with [`tma_guard`]. `workgroup_size` is the size the
/// kernel is launched with (the configuration's override, if any).
#[must_use]
pub fn lower_tile_copies(
    program: &Program,
    workgroup_size: [u32; 3],
    hardware: bool,
) -> Cow<'_, Program> {
    if !program.has_tile_copies() {
        return Cow::Borrowed(program);
    }
    let mut p = program.clone();
    let body = std::mem::take(&mut p.body);
    // On Hopper: whether each tensor map is usable, once at entry.
    let mut entry = Vec::new();
    let mut maps = Vec::new();
    if hardware {
        for (k, m) in tensor_maps(program).into_iter().enumerate() {
            let Some(elem) = program.elem_type(BufRef::Param(m.src)) else {
                continue;
            };
            let local = p.locals.len() as LocalId;
            p.locals.push(LocalDecl {
                name: format!("__tile_map{k}"),
                ty: DataType::Bool,
                mutable: false,
            });
            entry.push(Node::Let {
                local,
                value: map_usable(&m, elem),
            });
            maps.push((m, local));
        }
    }
    let mut lower = Lower {
        locals: &mut p.locals,
        program,
        workgroup_size,
        hardware,
        maps,
        next: 0,
    };
    entry.extend(lower.block(body));
    p.body = entry;
    Cow::Owned(p)
}

/// [`lower_tile_copies`] for a kernel emitted under `config` (whose
/// workgroup size override, if any, is the launched size).
#[must_use]
pub fn lower_for<'p>(
    program: &'p Program,
    config: &crate::DispatchConfig,
    hardware: bool,
) -> Cow<'p, Program> {
    let size = config.workgroup_size.unwrap_or(program.workgroup_size);
    lower_tile_copies(program, size, hardware)
}

/// The run-time condition under which Hopper issues tile copy `op` to the
/// copy engine: its tensor map is usable (`map_ok`, see [`map_usable`]),
/// its destination starts on a swizzle atom (a row multiple of 8 and a
/// column multiple of the 128-byte panel) with the whole box inside the
/// tile, the row and column fit TMA's signed coordinates, and the column
/// is on a 16-byte boundary. `None` for other statements.
#[must_use]
pub fn tma_guard(program: &Program, op: &AsyncOp, map_ok: Expr) -> Option<Expr> {
    let AsyncOp::Tile {
        dst,
        dst_index,
        row,
        col,
        box_rows,
        ..
    } = op
    else {
        return None;
    };
    let tile = program.shared.get(*dst as usize)?;
    let SharedLayout::Swizzled { cols: tile_cols } = tile.layout else {
        return None;
    };
    let atom = tile_cols * SharedLayout::ATOM_ROWS;
    let panel = SharedLayout::panel_cols(tile.elem.size_bytes());
    let box_span = box_rows * tile_cols;
    // `dst_index % (8 * C)` below `C` (the first row of an atom) and a
    // multiple of the panel width: the box's rows then fill whole atoms.
    let within_atom = bin(BinOp::Rem, dst_index.clone(), u32e(atom));
    let atom_aligned = bin(
        BinOp::And,
        bin(BinOp::Lt, within_atom.clone(), u32e(tile_cols)),
        bin(
            BinOp::Eq,
            bin(BinOp::Rem, within_atom, u32e(panel)),
            u32e(0),
        ),
    );
    let inside = if box_span <= tile.len {
        bin(BinOp::Le, dst_index.clone(), u32e(tile.len - box_span))
    } else {
        Expr::bool(false)
    };
    // TMA's coordinates are signed, and a box starts on a 16-byte boundary
    // of its row (an unaligned column faults: seen on the H100 at column
    // 150 of a `u16` matrix).
    let coords_ok = [
        bin(BinOp::Le, row.clone(), u32e(i32::MAX.cast_unsigned())),
        bin(BinOp::Le, col.clone(), u32e(i32::MAX.cast_unsigned())),
        bin(
            BinOp::Eq,
            bin(
                BinOp::Rem,
                col.clone(),
                u32e(16 / tile.elem.size_bytes().max(1)),
            ),
            u32e(0),
        ),
    ]
    .into_iter()
    .reduce(|a, b| bin(BinOp::And, a, b))
    .unwrap_or_else(|| Expr::bool(false));
    Some(
        [atom_aligned, inside, coords_ok]
            .into_iter()
            .fold(map_ok, |a, b| bin(BinOp::And, a, b)),
    )
}

/// Whether the launcher can build `map`'s tensor map (the same test as the
/// CUDA runtime's): the matrix has a row and a column, and a row is a
/// multiple of 16 bytes (a tensor map's stride). Constant for a launch, so
/// computed once at the kernel's entry.
#[must_use]
pub fn map_usable(map: &TileMap, elem: DataType) -> Expr {
    let cols = map.cols.expr(map.src, &u32e(0));
    [
        bin(BinOp::Ne, cols.clone(), u32e(0)),
        bin(BinOp::Ne, map.rows.expr(map.src, &cols), u32e(0)),
        bin(BinOp::Le, cols.clone(), Expr::Len(map.src)),
        bin(
            BinOp::Eq,
            bin(BinOp::Rem, cols, u32e(16 / elem.size_bytes().max(1))),
            u32e(0),
        ),
    ]
    .into_iter()
    .reduce(|a, b| bin(BinOp::And, a, b))
    .unwrap_or_else(|| Expr::bool(false))
}

/// One tensor map a kernel's tile copies read through: the source buffer
/// viewed as a `rows x cols` matrix, copied in boxes of `box_rows` rows and
/// one 128-byte panel of columns. The launcher builds it from the buffer and
/// the two dimensions' values (at most `len / cols` rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileMap {
    /// The source buffer parameter.
    pub src: crate::ir::ParamId,
    /// The matrix's rows.
    pub rows: TileDim,
    /// Its columns.
    pub cols: TileDim,
    /// Rows of a box.
    pub box_rows: u32,
}

impl TileMap {
    /// The map tile copy `op` reads through (`None` for other statements).
    #[must_use]
    pub fn of(op: &AsyncOp) -> Option<Self> {
        match *op {
            AsyncOp::Tile {
                src,
                rows,
                cols,
                box_rows,
                ..
            } => Some(Self {
                src,
                rows,
                cols,
                box_rows,
            }),
            _ => None,
        }
    }
}

/// The distinct tensor maps of `program`'s tile copies, in the order of
/// their first copy: the kernel's extra parameters on Hopper, after its own.
#[must_use]
pub fn tensor_maps(program: &Program) -> Vec<TileMap> {
    let mut maps = Vec::new();
    live_nodes(&program.body, &mut |n| {
        if let Node::Async(op) = n
            && let Some(m) = TileMap::of(op)
            && !maps.contains(&m)
        {
            maps.push(m);
        }
    });
    maps
}

/// The value of a condition that is a constant (an instance's `if TMA ==
/// 1`), if it is one.
fn constant_branch(cond: &Expr) -> Option<bool> {
    match crate::ir::consts::eval(cond) {
        Ok(crate::ir::Literal::Bool(b)) => Some(b),
        _ => None,
    }
}

/// [`crate::ir::walk_nodes`] skipping the arms of `if`s with a constant
/// condition that are never taken.
fn live_nodes<'a>(body: &'a [Node], f: &mut dyn FnMut(&'a Node)) {
    for n in body {
        f(n);
        match n {
            Node::If {
                cond,
                then,
                otherwise,
            } => match constant_branch(cond) {
                Some(true) => live_nodes(then, f),
                Some(false) => live_nodes(otherwise, f),
                None => {
                    live_nodes(then, f);
                    live_nodes(otherwise, f);
                }
            },
            Node::While { body, .. }
            | Node::For { body, .. }
            | Node::Loop { body }
            | Node::Unsafe { body } => live_nodes(body, f),
            _ => {}
        }
    }
}

struct Lower<'a> {
    locals: &'a mut Vec<LocalDecl>,
    program: &'a Program,
    workgroup_size: [u32; 3],
    hardware: bool,
    /// Each tensor map with the `bool` local saying it is usable.
    maps: Vec<(TileMap, LocalId)>,
    next: u32,
}

impl Lower<'_> {
    fn block(&mut self, body: Vec<Node>) -> Vec<Node> {
        let mut out = Vec::with_capacity(body.len());
        for node in body {
            self.node(node, &mut out);
        }
        out
    }

    fn node(&mut self, node: Node, out: &mut Vec<Node>) {
        let n = match node {
            Node::Async(op @ AsyncOp::Tile { .. }) => {
                let fallback = self.element_loop(&op);
                let map_ok = TileMap::of(&op)
                    .and_then(|m| self.maps.iter().find(|(k, _)| *k == m))
                    .map(|&(_, local)| Expr::local(local));
                if self.hardware
                    && let Some(map_ok) = map_ok
                    && let Some(cond) = tma_guard(self.program, &op, map_ok)
                {
                    out.push(Node::If {
                        cond,
                        then: vec![Node::Async(op)],
                        otherwise: fallback,
                    });
                } else {
                    out.extend(fallback);
                }
                return;
            }
            // An arm a constant condition never takes keeps no tile copy
            // (the other instances of a kernel with `if TMA == 1`).
            Node::If {
                cond,
                then,
                otherwise,
            } => match constant_branch(&cond) {
                Some(taken) => {
                    out.extend(self.block(if taken { then } else { otherwise }));
                    return;
                }
                None => Node::If {
                    cond,
                    then,
                    otherwise,
                }
                .map_blocks(&mut |b| self.block(b)),
            },
            other => other.map_blocks(&mut |b| self.block(b)),
        };
        out.push(n);
    }

    /// A fresh local of the current copy's loop, `__tile<n>_<what>`.
    fn local(&mut self, what: &str, ty: DataType, mutable: bool) -> LocalId {
        let id = self.locals.len() as LocalId;
        self.locals.push(LocalDecl {
            name: format!("__tile{}_{what}", self.next),
            ty,
            mutable,
        });
        id
    }

    /// The loop of element copies the workgroup shares:
    ///
    /// ```text
    /// let R = min(rows, src.len() / cols);   // rows of the source matrix
    /// for e in flat..BOX_ROWS * BOX_COLS step WORKGROUP {
    ///     let r = e / BOX_COLS; let c = e % BOX_COLS;
    ///     let off = r * C + c;                // in the tile, from dst_index
    ///     if dst_index < LEN && off < LEN - dst_index {
    ///         let v = 0;
    ///         if row < R && r < R - row && col < cols && c < cols - col {
    ///             v = src[(row + r) * cols + col + c];
    ///         }
    ///         tile[dst_index + off] = v;
    ///     }
    /// }
    /// ```
    ///
    /// Every comparison is arranged so that nothing wraps.
    fn element_loop(&mut self, op: &AsyncOp) -> Vec<Node> {
        let AsyncOp::Tile {
            dst,
            dst_index,
            src,
            rows,
            cols,
            row,
            col,
            box_rows,
            box_cols,
        } = op
        else {
            return Vec::new();
        };
        let Some(tile) = self.program.shared.get(*dst as usize) else {
            return Vec::new();
        };
        let (len, elem) = (tile.len, tile.elem);
        // Validation admits swizzled tiles only.
        let SharedLayout::Swizzled { cols: tile_cols } = tile.layout else {
            return Vec::new();
        };
        let [wx, wy, wz] = self.workgroup_size;
        let threads = (wx * wy * wz).max(1);
        let flat = {
            let id = |a| Expr::Builtin(Builtin::LocalId, a);
            bin(
                BinOp::Add,
                id(Axis::X),
                bin(
                    BinOp::Mul,
                    bin(
                        BinOp::Add,
                        id(Axis::Y),
                        bin(BinOp::Mul, id(Axis::Z), u32e(wy)),
                    ),
                    u32e(wx),
                ),
            )
        };
        let src_rows = self.local("rows", DataType::U32, false);
        let e = self.local("e", DataType::U32, false);
        let r = self.local("r", DataType::U32, false);
        let c = self.local("c", DataType::U32, false);
        let off = self.local("off", DataType::U32, false);
        let v = self.local("v", elem, true);
        self.next += 1;
        let (lr, le, lc, loff) = (
            Expr::local(r),
            Expr::local(e),
            Expr::local(c),
            Expr::local(off),
        );
        let nrows = Expr::local(src_rows);
        let ncols = cols.expr(*src, &u32e(0));
        let in_source = [
            bin(BinOp::Lt, row.clone(), nrows.clone()),
            bin(
                BinOp::Lt,
                lr.clone(),
                bin(BinOp::Sub, nrows.clone(), row.clone()),
            ),
            bin(BinOp::Lt, col.clone(), ncols.clone()),
            bin(
                BinOp::Lt,
                lc.clone(),
                bin(BinOp::Sub, ncols.clone(), col.clone()),
            ),
        ]
        .into_iter()
        .reduce(|a, b| bin(BinOp::And, a, b))
        .unwrap_or_else(|| Expr::bool(false));
        let src_index = bin(
            BinOp::Add,
            bin(
                BinOp::Mul,
                bin(BinOp::Add, row.clone(), lr.clone()),
                ncols.clone(),
            ),
            bin(BinOp::Add, col.clone(), lc.clone()),
        );
        let in_tile = bin(
            BinOp::And,
            bin(BinOp::Lt, dst_index.clone(), u32e(len)),
            bin(
                BinOp::Lt,
                loff.clone(),
                bin(BinOp::Sub, u32e(len), dst_index.clone()),
            ),
        );
        let zero = Expr::Lit(crate::ir::Literal::zero(elem));
        let body = vec![
            Node::Let {
                local: r,
                value: bin(BinOp::Div, le.clone(), u32e(*box_cols)),
            },
            Node::Let {
                local: c,
                value: bin(BinOp::Rem, le, u32e(*box_cols)),
            },
            Node::Let {
                local: off,
                value: bin(BinOp::Add, bin(BinOp::Mul, lr, u32e(tile_cols)), lc),
            },
            Node::If {
                cond: in_tile,
                then: vec![
                    Node::Let {
                        local: v,
                        value: zero,
                    },
                    Node::If {
                        cond: in_source,
                        then: vec![Node::Assign {
                            local: v,
                            value: Expr::load(BufRef::Param(*src), src_index),
                        }],
                        otherwise: vec![],
                    },
                    Node::Store {
                        buf: BufRef::Shared(*dst),
                        index: bin(BinOp::Add, dst_index.clone(), loff),
                        value: Expr::local(v),
                    },
                ],
                otherwise: vec![],
            },
        ];
        vec![
            Node::Let {
                local: src_rows,
                value: match rows {
                    TileDim::Fill => rows.expr(*src, &ncols),
                    _ => rows
                        .expr(*src, &ncols)
                        .math(MathFn::Min, vec![bin(BinOp::Div, Expr::Len(*src), ncols)]),
                },
            },
            Node::For {
                var: e,
                start: flat,
                end: u32e(box_rows * box_cols),
                step: threads,
                unroll: false,
                body,
            },
        ]
    }
}

fn u32e(v: u32) -> Expr {
    Expr::u32(v)
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
