//! The rules of matrix operations and asynchronous copies.

use super::Validator;
use crate::ir::{
    AsyncOp, BufRef, Builtin, DataType, Expr, LocalId, MAX_PENDING_WARPGROUP_MULTIPLIES, MatrixId,
    MatrixLayout, MatrixOp, MatrixRole, MatrixScope, MatrixShape, Param, SharedLayout, SharedTile,
    TileDim, WarpgroupOperand,
};

/// Subgroups are at most this wide on the targets that have matrix
/// operations (NVIDIA warps, Vulkan cooperative matrices at subgroup scope),
/// and a workgroup of a multiple of it has no partial subgroup.
const MATRIX_SUBGROUP: u64 = 32;

impl Validator<'_> {
    /// The declarations of `Program::matrices`.
    pub(super) fn matrix_declarations(&mut self) {
        let p = self.program;
        for m in &p.matrices {
            let at = format!("matrix `{}`", m.name);
            let s = m.shape;
            if m.scope == MatrixScope::Warpgroup {
                if m.role != MatrixRole::Accumulator {
                    self.err(
                        &at,
                        format!(
                            "only accumulators are held by a warpgroup; {} is held by a subgroup (a warpgroup multiply reads A and B from shared arrays)",
                            m.role.described()
                        ),
                    );
                } else if !m.scope.supports(s) {
                    self.err(
                        &at,
                        format!(
                            "a warpgroup accumulator has shape m = 64, n a multiple of 8 up to {}, k a multiple of 16 up to {} (Hopper's wgmma.m64nNk16); this one has m = {}, n = {}, k = {}",
                            MatrixScope::WARPGROUP_MAX_N,
                            MatrixScope::WARPGROUP_MAX_K,
                            s.m,
                            s.n,
                            s.k
                        ),
                    );
                }
            } else if !s.is_supported() {
                self.err(
                    &at,
                    format!(
                        "shape m = {}, n = {}, k = {} is not supported: m must be a multiple of 16, n of 8 and k of 16 (tiles of the hardware's m16n8k16), with at most {} elements in each of A (m x k), B (k x n) and the accumulator (m x n)",
                        s.m,
                        s.n,
                        s.k,
                        crate::ir::MatrixShape::MAX_ELEMENTS
                    ),
                );
            }
            let ok = match m.role {
                MatrixRole::A | MatrixRole::B => matches!(m.elem, DataType::F16 | DataType::BF16),
                MatrixRole::Accumulator => m.elem == DataType::F32,
            };
            if !ok {
                self.err(
                    &at,
                    format!(
                        "{} cannot hold `{}`: the operands A and B are `f16` or `bf16`, accumulators `f32`",
                        m.role.described(),
                        m.elem
                    ),
                );
            }
        }
        if !p.matrices.is_empty()
            && !p
                .invocations_per_workgroup()
                .is_multiple_of(MATRIX_SUBGROUP)
        {
            self.err(
                "workgroup_size",
                format!(
                    "a kernel with matrix operations needs a workgroup of a multiple of {MATRIX_SUBGROUP} invocations (whole subgroups); {:?} has {}",
                    p.workgroup_size,
                    p.invocations_per_workgroup()
                ),
            );
        }
        let warpgroup = u64::from(MatrixScope::WARPGROUP);
        if p.uses_warpgroup_matrices() && !p.invocations_per_workgroup().is_multiple_of(warpgroup) {
            self.err(
                "workgroup_size",
                format!(
                    "a kernel with warpgroup matrices needs a workgroup of a multiple of {warpgroup} invocations (whole warpgroups); {:?} has {}",
                    p.workgroup_size,
                    p.invocations_per_workgroup()
                ),
            );
        }
        for a in &p.shared {
            if let Some(problem) = a.layout.problem(a.elem.size_bytes(), a.len) {
                self.err(format!("shared array `{}`", a.name), problem);
            }
        }
    }

    /// Report a matrix statement other than a warpgroup multiply that names
    /// a warpgroup matrix.
    fn subgroup_statement(&mut self, ids: &[MatrixId], what: &str, path: &str) {
        for id in ids {
            if let Some(m) = self.program.matrices.get(*id as usize)
                && m.scope == MatrixScope::Warpgroup
            {
                let name = m.name.clone();
                self.err(
                    path,
                    format!(
                        "`{what}` works on subgroup matrices, and `{name}` is held by a warpgroup (use `warpgroup_mma`)"
                    ),
                );
            }
        }
    }

    /// An operand tile of a warpgroup multiply: a shared array of `f16` or
    /// `bf16`, `u32` offset and stride; returns its element type.
    fn shared_tile(&mut self, tile: &SharedTile, what: &str, path: &str) -> Option<DataType> {
        let array = self.program.shared.get(tile.array as usize).cloned();
        for (part, e) in [("offset", &tile.offset), ("stride", &tile.stride)] {
            if let Some(t) = self.expr(e, path)
                && t != DataType::U32
            {
                self.err(
                    path,
                    format!("the {part} of `warpgroup_mma`'s {what} must be `u32`, not `{t}`"),
                );
            }
        }
        let Some(array) = array else {
            self.err(path, format!("unknown shared array #{}", tile.array));
            return None;
        };
        if !matches!(array.elem, DataType::F16 | DataType::BF16) {
            self.err(
                path,
                format!(
                    "`warpgroup_mma` reads {what} from `f16` or `bf16` elements, and `{}` has `{}`",
                    array.name, array.elem
                ),
            );
            return None;
        }
        Some(array.elem)
    }

    /// A matrix statement.
    pub(super) fn matrix_op(&mut self, op: &MatrixOp, path: &str) {
        match op {
            MatrixOp::Fill { matrix, value } => {
                self.matrix_of(*matrix, Some(MatrixRole::Accumulator), path);
                if let Some(t) = self.expr(value, path)
                    && t != DataType::F32
                {
                    self.err(
                        path,
                        format!("an accumulator is filled with an `f32`, not a `{t}`"),
                    );
                }
            }
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                clip,
                ..
            } => {
                self.matrix_memory(*buf, offset, stride, clip.as_ref(), path);
                self.subgroup_statement(&[*matrix], "matrix_load", path);
                let m = self.matrix_of(*matrix, None, path);
                if let (Some(m), Some(et)) = (m, self.program.elem_type(*buf))
                    && m.1 != et
                {
                    self.err(
                        path,
                        format!(
                            "loading a matrix of `{}` from `{}`, whose elements are `{et}`",
                            m.1,
                            self.program.buf_name(*buf).unwrap_or("?")
                        ),
                    );
                }
            }
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                clip,
                ..
            } => {
                self.matrix_memory(*buf, offset, stride, clip.as_ref(), path);
                self.writable(*buf, path);
                self.matrix_of(*matrix, Some(MatrixRole::Accumulator), path);
                if let Some(et) = self.program.elem_type(*buf)
                    && !matches!(et, DataType::F32 | DataType::F16 | DataType::BF16)
                {
                    self.err(
                        path,
                        format!(
                            "an accumulator is stored into `f32`, `f16` or `bf16` elements, and `{}` has `{et}`",
                            self.program.buf_name(*buf).unwrap_or("?")
                        ),
                    );
                }
            }
            MatrixOp::WarpgroupWait { pending } => {
                if *pending > MAX_PENDING_WARPGROUP_MULTIPLIES {
                    self.err(
                        path,
                        format!(
                            "`warpgroup_wait({pending})` leaves more multiplies running than targets track; at most {MAX_PENDING_WARPGROUP_MULTIPLIES}"
                        ),
                    );
                }
            }
            MatrixOp::WarpgroupMultiplyAdd { d, a, b, c, .. } => {
                let accs = [*d, *c].map(|id| self.warpgroup_accumulator(id, "warpgroup_mma", path));
                if let [Some(dm), Some(cm)] = accs
                    && dm != cm
                {
                    let names = [d, c].map(|id| self.matrix_name(*id));
                    self.err(
                        path,
                        format!(
                            "`warpgroup_mma` of accumulators of different shapes: `{}` {:?}, `{}` {:?}",
                            names[0], dm, names[1], cm
                        ),
                    );
                }
                let tb = self.shared_tile(b, "B", path);
                let ta = match a {
                    WarpgroupOperand::Shared(t) => {
                        if t.layout != MatrixLayout::RowMajor {
                            self.err(
                                path,
                                "`warpgroup_mma` reads A row-major (only B may be transposed, by `warpgroup_mma_t`)",
                            );
                        }
                        self.shared_tile(t, "A", path)
                    }
                    WarpgroupOperand::Accumulator(p) => {
                        self.accumulator_operand(*p, [*d, *c], accs[0], path);
                        tb
                    }
                };
                if let (Some(ta), Some(tb)) = (ta, tb)
                    && ta != tb
                {
                    self.err(
                        path,
                        format!("`warpgroup_mma` of A of `{ta}` and B of `{tb}`: A and B must have one element type"),
                    );
                }
            }
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => {
                let shapes =
                    [*d, *src].map(|id| self.warpgroup_accumulator(id, "matrix_map", path));
                if let [Some(ds), Some(ss)] = shapes
                    && ds.dims(MatrixRole::Accumulator) != ss.dims(MatrixRole::Accumulator)
                {
                    let names = [d, src].map(|id| self.matrix_name(*id));
                    self.err(
                        path,
                        format!(
                            "`matrix_map` into `{}` ({}x{}) of `{}` ({}x{}): the accumulators must have one size",
                            names[0], ds.m, ds.n, names[1], ss.m, ss.n
                        ),
                    );
                }
                if row == col || row == value || col == value {
                    self.err(
                        path,
                        "`matrix_map`'s row, column and value are three different locals (one local cannot hold two of them)",
                    );
                }
                for (id, ty) in [
                    (*row, DataType::U32),
                    (*col, DataType::U32),
                    (*value, DataType::F32),
                ] {
                    self.map_variable(id, ty, path);
                }
                self.map_body(expr, path);
                if let Some(t) = self.expr(expr, path)
                    && t != DataType::F32
                {
                    self.err(
                        path,
                        format!("`matrix_map`'s closure returns an `f32`, not a `{t}`"),
                    );
                }
            }
            MatrixOp::RowReduce {
                op,
                src,
                dst,
                offset,
            } => {
                self.warpgroup_accumulator(*src, op.name(), path);
                match self.program.shared.get(*dst as usize) {
                    None => self.err(path, format!("unknown shared array #{dst}")),
                    Some(a) if a.elem != DataType::F32 => {
                        let (name, elem) = (a.name.clone(), a.elem);
                        self.err(
                            path,
                            format!(
                                "`{}` writes `f32` row values, and `{name}` has `{elem}`",
                                op.name()
                            ),
                        );
                    }
                    Some(_) => {}
                }
                if let Some(t) = self.expr(offset, path)
                    && t != DataType::U32
                {
                    self.err(
                        path,
                        format!("the offset of `{}` must be `u32`, not `{t}`", op.name()),
                    );
                }
            }
            MatrixOp::MultiplyAdd { d, a, b, c } => {
                self.subgroup_statement(&[*d, *a, *b, *c], "matrix_mma", path);
                let ms = [
                    (*d, MatrixRole::Accumulator),
                    (*a, MatrixRole::A),
                    (*b, MatrixRole::B),
                    (*c, MatrixRole::Accumulator),
                ]
                .map(|(id, role)| self.matrix_of(id, Some(role), path));
                let names = [d, a, b, c].map(|id| self.matrix_name(*id));
                if let [Some(d), Some(a), Some(b), Some(c)] = ms {
                    if a.1 != b.1 {
                        self.err(
                            path,
                            format!(
                                "`matrix_mma` of `{}` ({}) and `{}` ({}): A and B must have one element type",
                                names[1], a.1, names[2], b.1
                            ),
                        );
                    }
                    if [a.0, b.0, c.0].iter().any(|s| *s != d.0) {
                        self.err(
                            path,
                            format!(
                                "`matrix_mma` of matrices of different shapes: `{}` {:?}, `{}` {:?}, `{}` {:?}, `{}` {:?}",
                                names[0], d.0, names[1], a.0, names[2], b.0, names[3], c.0
                            ),
                        );
                    }
                }
            }
        }
    }

    /// An asynchronous copy statement.
    pub(super) fn async_op(&mut self, op: &AsyncOp, path: &str) {
        if let AsyncOp::Tile { .. } = op {
            self.tile_copy(op, path);
            return;
        }
        let AsyncOp::Copy {
            dst,
            dst_index,
            src,
            src_index,
            count,
        } = op
        else {
            return;
        };
        self.exists(BufRef::Shared(*dst), path);
        self.exists(BufRef::Param(*src), path);
        for (what, e) in [("destination", dst_index), ("source", src_index)] {
            if let Some(t) = self.expr(e, path)
                && t != DataType::U32
            {
                self.err(
                    path,
                    format!("the {what} index of `async_copy` must be `u32`, not `{t}`"),
                );
            }
        }
        let (de, se) = (
            self.program.shared.get(*dst as usize).map(|s| s.elem),
            self.program.elem_type(BufRef::Param(*src)),
        );
        if let (Some(de), Some(se)) = (de, se) {
            if de != se {
                self.err(
                    path,
                    format!("`async_copy` from `{se}` elements into `{de}` elements; the types must match"),
                );
            } else if de.is_wide() {
                self.err(
                    path,
                    format!("`async_copy` of `{de}` elements is not supported; copy 64-bit values with plain loads and stores"),
                );
            } else if !AsyncOp::is_copy_size(de, *count) {
                self.err(
                    path,
                    format!(
                        "`async_copy` of {count} `{de}` elements: a copy moves 4, 8 or 16 bytes (a power-of-two count)"
                    ),
                );
            }
        }
    }

    /// A tile copy ([`AsyncOp::Tile`]).
    fn tile_copy(&mut self, op: &AsyncOp, path: &str) {
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
            return;
        };
        self.exists(BufRef::Shared(*dst), path);
        self.exists(BufRef::Param(*src), path);
        for (what, e) in [
            ("destination index", dst_index),
            ("row", row),
            ("column", col),
        ] {
            if let Some(t) = self.expr(e, path)
                && t != DataType::U32
            {
                self.err(
                    path,
                    format!("the {what} of `async_copy_tile` must be `u32`, not `{t}`"),
                );
            }
        }
        if *cols == TileDim::Fill {
            self.err(
                path,
                "the cols of `async_copy_tile` must be a `u32` parameter or a constant; only the rows may be `src.len() / cols`",
            );
        }
        for (what, dim) in [("rows", rows), ("cols", cols)] {
            let TileDim::Param(p) = *dim else {
                continue;
            };
            match self.program.params.get(p as usize) {
                Some(Param::Scalar {
                    ty: DataType::U32, ..
                }) => {}
                Some(other) => self.err(
                    path,
                    format!(
                        "the {what} of `async_copy_tile` must be a `u32` scalar parameter (the launcher builds the copy's tensor map from it), but `{}` is not",
                        other.name()
                    ),
                ),
                None => self.err(path, format!("parameter {p} does not exist")),
            }
        }
        let Some(tile) = self.program.shared.get(*dst as usize) else {
            return;
        };
        let se = self.program.elem_type(BufRef::Param(*src));
        if se.is_some_and(|se| se != tile.elem) {
            self.err(
                path,
                format!(
                    "`async_copy_tile` from `{}` elements into `{}` elements; the types must match",
                    se.unwrap_or(tile.elem),
                    tile.elem
                ),
            );
            return;
        }
        let SharedLayout::Swizzled { cols: tile_cols } = tile.layout else {
            self.err(
                path,
                format!(
                    "`async_copy_tile` copies into a swizzled tile (`#[shared(swizzled, cols = C)]`), and `{}` is not one",
                    tile.name
                ),
            );
            return;
        };
        let panel = SharedLayout::panel_cols(tile.elem.size_bytes());
        if *box_rows == 0
            || !box_rows.is_multiple_of(SharedLayout::ATOM_ROWS)
            || *box_rows > AsyncOp::MAX_TILE_ROWS
        {
            self.err(
                path,
                format!(
                    "`async_copy_tile` of {box_rows} rows: a box has a multiple of {} rows, at most {}",
                    SharedLayout::ATOM_ROWS,
                    AsyncOp::MAX_TILE_ROWS
                ),
            );
        }
        if *box_cols == 0 || !box_cols.is_multiple_of(panel) || *box_cols > tile_cols {
            self.err(
                path,
                format!(
                    "`async_copy_tile` of {box_cols} columns into `{}` ({tile_cols} columns of `{}`): a box has a multiple of {panel} columns (128 bytes), at most the tile's",
                    tile.name, tile.elem
                ),
            );
        }
    }

    /// The shape of warpgroup accumulator `id`, reporting any other
    /// matrix.
    fn warpgroup_accumulator(
        &mut self,
        id: MatrixId,
        what: &str,
        path: &str,
    ) -> Option<MatrixShape> {
        let m = self.matrix_of(id, Some(MatrixRole::Accumulator), path)?;
        if self.program.matrices[id as usize].scope != MatrixScope::Warpgroup {
            let name = self.matrix_name(id);
            self.err(
                path,
                format!("`{what}` works on warpgroup accumulators (`WarpgroupAcc<f32, 64, N, K>`), and `{name}` is held by a subgroup"),
            );
            return None;
        }
        Some(m.0)
    }

    /// A warpgroup multiply's `A` held in accumulator `p`: `64 × k` for
    /// the multiply's `k`, and neither `d` nor `c`.
    fn accumulator_operand(
        &mut self,
        p: MatrixId,
        written: [MatrixId; 2],
        d_shape: Option<MatrixShape>,
        path: &str,
    ) {
        let Some(ps) = self.warpgroup_accumulator(p, "warpgroup_mma", path) else {
            return;
        };
        let name = self.matrix_name(p);
        if written.contains(&p) {
            self.err(
                path,
                format!("`warpgroup_mma` reads A from `{name}` and writes or accumulates it too; A must be another accumulator"),
            );
        }
        if let Some(ds) = d_shape
            && ps.n != ds.k
        {
            self.err(
                path,
                format!(
                    "`warpgroup_mma` of A `{name}` (64x{}) with an accumulator of k = {}: A must be 64 x k",
                    ps.n, ds.k
                ),
            );
        }
    }

    /// A local a `matrix_map` defines: of type `ty`, immutable.
    fn map_variable(&mut self, id: LocalId, ty: DataType, path: &str) {
        if let Some(decl) = self.program.locals.get(id as usize)
            && decl.mutable
        {
            let name = decl.name.clone();
            self.err(path, format!("`matrix_map`'s `{name}` is immutable"));
        }
        self.define(id, Some(ty), path);
    }

    /// What a `matrix_map` closure may not use: subgroup operations and
    /// the builtins that differ between invocations (the closure runs
    /// where each element lives, not in one invocation).
    fn map_body(&mut self, expr: &Expr, path: &str) {
        let bad = expr.find_map(&mut |e| match e {
            Expr::Subgroup(op, _) => Some(format!("`{}`", op.name())),
            Expr::Builtin(b @ (Builtin::GlobalId | Builtin::LocalId), _) => {
                Some(format!("`{}`", b.name()))
            }
            Expr::Load {
                buf: BufRef::Private(_),
                ..
            } => Some("a private array".to_string()),
            _ => None,
        });
        if let Some(what) = bad {
            self.err(
                path,
                format!("{what} in a `matrix_map` closure: it is evaluated where each element lives, not by one invocation, so it may use the row, column and value, locals equal across the warpgroup, parameters, loads and `workgroup_id`"),
            );
        }
    }

    fn matrix_name(&self, id: MatrixId) -> String {
        self.program
            .matrices
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), |m| m.name.clone())
    }

    /// The shape and element type of matrix `id`, checking its role.
    fn matrix_of(
        &mut self,
        id: MatrixId,
        role: Option<MatrixRole>,
        path: &str,
    ) -> Option<(crate::ir::MatrixShape, DataType)> {
        let Some(m) = self.program.matrices.get(id as usize) else {
            self.err(path, format!("unknown matrix #{id}"));
            return None;
        };
        if let Some(role) = role
            && m.role != role
        {
            let (name, has) = (m.name.clone(), m.role.described());
            self.err(
                path,
                format!("`{name}` is {has} where {} is needed", role.described()),
            );
            return None;
        }
        Some((m.shape, m.elem))
    }

    /// The memory operand of a matrix load or store: a buffer parameter or
    /// a shared array, `u32` offset and stride.
    fn matrix_memory(
        &mut self,
        buf: BufRef,
        offset: &crate::ir::Expr,
        stride: &crate::ir::Expr,
        clip: Option<&crate::ir::MatrixClip>,
        path: &str,
    ) {
        if let BufRef::Private(_) = buf {
            self.err(
                path,
                "matrices load from and store to buffers and shared arrays, not private arrays",
            );
            return;
        }
        self.exists(buf, path);
        let mut operands = vec![("offset", offset), ("stride", stride)];
        if let Some(clip) = clip {
            operands.push(("clip's row count", &clip.rows));
            operands.push(("clip's column count", &clip.cols));
        }
        for (what, e) in operands {
            if let Some(t) = self.expr(e, path)
                && t != DataType::U32
            {
                self.err(path, format!("a matrix {what} must be `u32`, not `{t}`"));
            }
        }
    }

    /// Report `buf` when it names nothing.
    fn exists(&mut self, buf: BufRef, path: &str) {
        if self.program.elem_type(buf).is_none() {
            self.err(
                path,
                format!("{buf:?} does not name a buffer or shared array"),
            );
        }
    }
}
