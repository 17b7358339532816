//! Matrix statements and asynchronous copies through the naga targets
//! (per-invocation emulation, see `src/backend/naga/lower/matrix.rs`).
//!
//! Every kernel here is built with `ProgramBuilder`; its expected outputs
//! are computed on the host by a literal transcription of the semantics
//! (element `(r, c)` at `offset + r * stride + c` or `offset + c * stride +
//! r` in 64 bits, out of range reads 0 and drops stores; `acc = c[i][j]`
//! then `acc = acc + a[i][k] * b[k][j]` in `f32` for `k = 0, 1, ..`; stores
//! rounded to nearest even). The emulation sums in the same order, so
//! results must match **bit for bit**; the reference interpreter is
//! compared with the same expectations. Clipped loads and stores (some
//! cases clip A's load and the store) read 0 / write nothing outside the
//! clip.
//!
//! The emission tests (every naga target, `spirv-val`, WGSL re-parse) run
//! everywhere; the launches need the `wgpu` feature and an adapter
//! (lavapipe in CI) and print `skipped: no wgpu adapter` without one,
//! unless `VYRE_REQUIRE_VULKAN=1`.

mod matrix_support;
mod naga_common;

use matrix_support::warpgroup::WgCase;

use naga_common::narrow::{narrow, widen};
use naga_common::{Arg, Case, Data};
use vyre::DispatchConfig;
use vyre::driver::{BoundsChecks, emit_aot_target};
use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, MatrixClip, MatrixLayout, MatrixOp, MatrixRole,
    MatrixShape, Program, ProgramBuilder,
};
use vyre_testkit::Tolerance;
use vyre_testkit::corpus::{require_vulkan, spirv_val, validate_spirv};

// ---------------------------------------------------------------------------
// Host semantics.

/// A buffer as the host sees it: element type and the bits of each element.
#[derive(Clone)]
struct HostBuf {
    elem: DataType,
    bits: Vec<u32>,
}

impl HostBuf {
    /// Element `idx` (a 64-bit index) widened to `f32`, or 0 out of range.
    fn read(&self, idx: u64) -> f32 {
        usize::try_from(idx)
            .ok()
            .and_then(|i| self.bits.get(i))
            .map_or(0.0, |b| f32::from_bits(widen(self.elem, *b)))
    }

    /// Store `v` rounded to the element type; dropped out of range.
    fn write(&mut self, idx: u64, v: f32) {
        let elem = self.elem;
        if let Some(b) = usize::try_from(idx).ok().and_then(|i| self.bits.get_mut(i)) {
            *b = narrow(elem, v.to_bits());
        }
    }

    fn data(&self) -> Data {
        match self.elem {
            DataType::F32 => Data::F32(self.bits.iter().map(|b| f32::from_bits(*b)).collect()),
            DataType::U32 => Data::U32(self.bits.clone()),
            t => Data::Narrow(t, self.bits.clone()),
        }
    }
}

/// Where a tile lies: offset, stride and layout.
#[derive(Clone, Copy)]
struct Place {
    offset: u32,
    stride: u32,
    layout: MatrixLayout,
}

fn host_load(buf: &HostBuf, at: Place, (rows, cols): (u32, u32)) -> Vec<f32> {
    let mut v = Vec::with_capacity((rows * cols) as usize);
    for r in 0..rows {
        for c in 0..cols {
            v.push(buf.read(u64::from(at.offset) + at.layout.index(r, c, at.stride)));
        }
    }
    v
}

fn host_store(buf: &mut HostBuf, at: Place, (rows, cols): (u32, u32), m: &[f32]) {
    for r in 0..rows {
        for c in 0..cols {
            let idx = u64::from(at.offset) + at.layout.index(r, c, at.stride);
            buf.write(idx, m[(r * cols + c) as usize]);
        }
    }
}

/// `a * b + c` in the reference's order.
fn host_mma(s: MatrixShape, a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    let mut d = vec![0.0f32; (s.m * s.n) as usize];
    for i in 0..s.m {
        for j in 0..s.n {
            let mut acc = c[(i * s.n + j) as usize];
            for k in 0..s.k {
                acc += a[(i * s.k + k) as usize] * b[(k * s.n + j) as usize];
            }
            d[(i * s.n + j) as usize] = acc;
        }
    }
    d
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// Bits of an `f16`/`bf16` operand: mostly normal numbers of both
    /// signs with full mantissas over a few binades (their products and
    /// sums round in `f32`), some zeros, and for `f16` some subnormals.
    fn operand(&mut self, t: DataType) -> u32 {
        let r = self.next();
        let sign = (r & 1) << 15;
        let pick = (r >> 1) % 16;
        let e = (r >> 5) % 8; // binades 2^-4 .. 2^3
        let man = r >> 8;
        match (t, pick) {
            (_, 0) => sign,
            (DataType::F16, 1) => sign | (man & 0x3ff),
            (DataType::F16, _) => sign | ((11 + e) << 10) | (man & 0x3ff),
            (_, _) => sign | ((123 + e) << 7) | (man & 0x7f),
        }
    }

    /// An `f32` with a full mantissa, magnitude up to 2^6.
    fn f32(&mut self) -> f32 {
        let r = self.next();
        let sign = (r & 1) << 31;
        let e = 120 + (r >> 1) % 12;
        f32::from_bits(sign | (e << 23) | (self.next() & 0x7f_ffff))
    }
}

fn operand_buf(rng: &mut Lcg, elem: DataType, len: u32) -> HostBuf {
    HostBuf {
        elem,
        bits: (0..len).map(|_| rng.operand(elem)).collect(),
    }
}

/// An output buffer of `len` elements of `elem`, each a recognisable
/// value (`-3.5`) that stays where nothing is stored.
fn sentinel_buf(elem: DataType, len: u32) -> HostBuf {
    HostBuf {
        elem,
        bits: vec![narrow(elem, (-3.5f32).to_bits()); len as usize],
    }
}

// ---------------------------------------------------------------------------
// One tile multiply: load A and B, take C from a buffer or a fill, multiply,
// store.

/// Where the accumulator's initial value comes from.
#[derive(Clone, Copy)]
enum Init {
    /// `matrix_fill(value)`.
    Fill(f32),
    /// Loaded from the `f32` buffer `c` at this place.
    Load(Place),
}

/// A single-tile multiply-add kernel, its buffers and places.
struct Mma {
    name: &'static str,
    shape: MatrixShape,
    /// `f16` or `bf16`.
    elem: DataType,
    a: (HostBuf, Place),
    b: (HostBuf, Place),
    c: (HostBuf, Init),
    out: (HostBuf, Place),
    /// `d` is a second accumulator (else `d` is `c`).
    separate_d: bool,
    unchecked: bool,
    /// Clips `[rows, cols]` of A's load and of the store, if any.
    clip: Option<[[u32; 2]; 2]>,
}

impl Mma {
    /// A case whose buffers are just large enough for every tile, with
    /// dense strides (plus `pad` elements of slack per row/column).
    fn dense(
        name: &'static str,
        (m, n, k): (u32, u32, u32),
        elem: DataType,
        layouts: [MatrixLayout; 3],
        out_elem: DataType,
        init_from_buffer: bool,
        seed: u64,
    ) -> Self {
        let mut rng = Lcg(seed);
        let shape = MatrixShape { m, n, k };
        let pad = 3;
        let place = |(rows, cols): (u32, u32), layout: MatrixLayout, offset: u32| {
            let stride = match layout {
                MatrixLayout::RowMajor => cols + pad,
                MatrixLayout::ColMajor => rows + pad,
            };
            let outer = match layout {
                MatrixLayout::RowMajor => rows,
                MatrixLayout::ColMajor => cols,
            };
            (
                Place {
                    offset,
                    stride,
                    layout,
                },
                offset + outer * stride,
            )
        };
        let (pa, la) = place((m, k), layouts[0], 5);
        let (pb, lb) = place((k, n), layouts[1], 2);
        let (pc, lc) = place((m, n), MatrixLayout::RowMajor, 1);
        let (po, lo) = place((m, n), layouts[2], 7);
        let a = operand_buf(&mut rng, elem, la);
        let b = operand_buf(&mut rng, elem, lb);
        let c = HostBuf {
            elem: DataType::F32,
            bits: (0..lc).map(|_| rng.f32().to_bits()).collect(),
        };
        let init = if init_from_buffer {
            Init::Load(pc)
        } else {
            Init::Fill(rng.f32())
        };
        Self {
            name,
            shape,
            elem,
            a: (a, pa),
            b: (b, pb),
            c: (c, init),
            out: (sentinel_buf(out_elem, lo + 2), po),
            separate_d: !init_from_buffer,
            unchecked: false,
            clip: None,
        }
    }

    fn program(&self) -> Program {
        let mut b = ProgramBuilder::new(self.name, [32, 1, 1]);
        let pa = b.buffer("a", self.elem, Access::Read);
        let pb = b.buffer("b", self.elem, Access::Read);
        let pc = b.buffer("c", DataType::F32, Access::Read);
        let po = b.buffer("out", self.out.0.elem, Access::ReadWrite);
        let mut scalar = |name: &str| b.scalar(name, DataType::U32);
        let sc = [
            scalar("a_off"),
            scalar("a_stride"),
            scalar("b_off"),
            scalar("b_stride"),
            scalar("c_off"),
            scalar("c_stride"),
            scalar("o_off"),
            scalar("o_stride"),
        ];
        let s = self.shape;
        let ma = b.matrix("ma", MatrixRole::A, self.elem, s);
        let mb = b.matrix("mb", MatrixRole::B, self.elem, s);
        let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, s);
        let d = if self.separate_d {
            b.matrix("d", MatrixRole::Accumulator, DataType::F32, s)
        } else {
            acc
        };
        b.unchecked(self.unchecked);
        let (a_layout, b_layout, o_layout) = (self.a.1.layout, self.b.1.layout, self.out.1.layout);
        let init = self.c.1;
        let clip = |which: usize| {
            self.clip.map(|c| MatrixClip {
                rows: Expr::u32(c[which][0]),
                cols: Expr::u32(c[which][1]),
            })
        };
        b.body(|blk| {
            let load = |blk: &mut vyre::ir::Block, matrix, buf, k: usize, layout, clip| {
                blk.matrix(MatrixOp::Load {
                    matrix,
                    buf: BufRef::Param(buf),
                    offset: Expr::param(sc[k]),
                    stride: Expr::param(sc[k + 1]),
                    layout,
                    clip,
                });
            };
            load(blk, ma, pa, 0, a_layout, clip(0));
            load(blk, mb, pb, 2, b_layout, None);
            match init {
                Init::Fill(v) => {
                    blk.matrix(MatrixOp::Fill {
                        matrix: acc,
                        value: Expr::f32(v),
                    });
                }
                Init::Load(p) => load(blk, acc, pc, 4, p.layout, None),
            }
            blk.matrix(MatrixOp::MultiplyAdd {
                d,
                a: ma,
                b: mb,
                c: acc,
            });
            blk.matrix(MatrixOp::Store {
                matrix: d,
                buf: BufRef::Param(po),
                offset: Expr::param(sc[6]),
                stride: Expr::param(sc[7]),
                layout: o_layout,
                clip: clip(1),
            });
        });
        b.finish()
    }

    fn case(&self) -> Case {
        let s = self.shape;
        let mut a = host_load(&self.a.0, self.a.1, (s.m, s.k));
        if let Some([[rows, cols], _]) = self.clip {
            // Clipped-out elements of A read 0.
            for (e, v) in a.iter_mut().enumerate() {
                let (r, c) = (e as u32 / s.k, e as u32 % s.k);
                if r >= rows || c >= cols {
                    *v = 0.0;
                }
            }
        }
        let bm = host_load(&self.b.0, self.b.1, (s.k, s.n));
        let (c_place, c) = match self.c.1 {
            Init::Fill(v) => (
                Place {
                    offset: 0,
                    stride: 0,
                    layout: MatrixLayout::RowMajor,
                },
                vec![v; (s.m * s.n) as usize],
            ),
            Init::Load(p) => (p, host_load(&self.c.0, p, (s.m, s.n))),
        };
        let d = host_mma(s, &a, &bm, &c);
        let mut out = self.out.0.clone();
        match self.clip {
            // Only the clip's rows and columns are stored.
            Some([_, [rows, cols]]) => {
                host_store(&mut out, self.out.1, (rows.min(s.m), cols.min(s.n)), &{
                    let cols_kept = cols.min(s.n);
                    (0..rows.min(s.m) * cols_kept)
                        .map(|e| d[((e / cols_kept) * s.n + e % cols_kept) as usize])
                        .collect::<Vec<f32>>()
                });
            }
            None => host_store(&mut out, self.out.1, (s.m, s.n), &d),
        }
        let places = [self.a.1, self.b.1, c_place, self.out.1];
        let mut args = vec![
            Arg::Buf(self.a.0.data()),
            Arg::Buf(self.b.0.data()),
            Arg::Buf(self.c.0.data()),
            Arg::Buf(self.out.0.data()),
        ];
        for p in places {
            args.push(Arg::U32(p.offset));
            args.push(Arg::U32(p.stride));
        }
        Case {
            program: self.program(),
            args,
            workgroups: [1, 1, 1],
            expected: vec![(3, out.data())],
            tol: Tolerance::Float { ulp: 0, abs: 0.0 },
        }
    }
}

use MatrixLayout::{ColMajor as Col, RowMajor as Row};

/// Dense single tiles: 16 x 8 x 16 and 32 x 16 x 32, both operand types,
/// every layout of A, B and the store, stores to `f32`, `f16` and `bf16`,
/// `d` equal to `c` or not, checked and unchecked.
fn dense_cases() -> Vec<Case> {
    let (bf, h, f) = (DataType::BF16, DataType::F16, DataType::F32);
    let mut unchecked = Mma::dense(
        "mma16_bf16_unchecked",
        (16, 8, 16),
        bf,
        [Row, Col, Row],
        bf,
        true,
        7,
    );
    unchecked.unchecked = true;
    let mut clipped = Mma::dense(
        "mma32_bf16_clipped",
        (32, 16, 32),
        bf,
        [Row, Col, Col],
        f,
        false,
        11,
    );
    clipped.clip = Some([[27, 19], [21, 11]]);
    let mut clipped_h = Mma::dense(
        "mma16_f16_clipped_to_nothing",
        (16, 8, 16),
        h,
        [Col, Row, Row],
        h,
        true,
        12,
    );
    clipped_h.clip = Some([[0, 16], [16, 0]]);
    [
        clipped,
        clipped_h,
        Mma::dense(
            "mma16_bf16_rrr_f32",
            (16, 8, 16),
            bf,
            [Row, Row, Row],
            f,
            true,
            1,
        ),
        Mma::dense(
            "mma16_f16_ccc_f16",
            (16, 8, 16),
            h,
            [Col, Col, Col],
            h,
            false,
            2,
        ),
        Mma::dense(
            "mma16_bf16_crc_bf16",
            (16, 8, 16),
            bf,
            [Col, Row, Col],
            bf,
            true,
            3,
        ),
        Mma::dense(
            "mma16_f16_rcr_f32",
            (16, 8, 16),
            h,
            [Row, Col, Row],
            f,
            true,
            6,
        ),
        Mma::dense(
            "mma32_bf16_rcr_bf16",
            (32, 16, 32),
            bf,
            [Row, Col, Row],
            bf,
            true,
            4,
        ),
        Mma::dense(
            "mma32_f16_crc_f32",
            (32, 16, 32),
            h,
            [Col, Row, Col],
            f,
            false,
            5,
        ),
        unchecked,
    ]
    .iter()
    .map(Mma::case)
    .collect()
}

/// The largest accumulator, `64 x 64` (16 KiB of private memory per
/// invocation in this emulation), with `64 x 16` and `16 x 64` operands.
fn big_case() -> Case {
    Mma::dense(
        "mma64_bf16_rcr_f32",
        (64, 64, 16),
        DataType::BF16,
        [Row, Col, Row],
        DataType::F32,
        true,
        8,
    )
    .case()
}

/// Tiles partly or wholly out of range: short buffers (0 reads, dropped
/// stores), and indices past `u32::MAX` that wrap in 32 bits (they are out
/// of range: the index is computed in 64 bits).
fn edge_cases() -> Vec<Case> {
    let (bf, h, f) = (DataType::BF16, DataType::F16, DataType::F32);
    let mut out = Vec::new();
    // Short buffers: the last rows of A, the last columns of B, part of C
    // and of the output lie past the ends.
    let mut m = Mma::dense(
        "mma_edge_short",
        (16, 8, 16),
        bf,
        [Row, Col, Row],
        h,
        true,
        11,
    );
    m.a.0.bits.truncate(m.a.0.bits.len() - 40);
    m.b.0.bits.truncate(m.b.0.bits.len() - 25);
    m.c.0.bits.truncate(m.c.0.bits.len() - 30);
    m.out.0.bits.truncate(m.out.0.bits.len() - 50);
    out.push(m.case());
    // Column-major store past the end of an `f32` output, `f16` operands.
    let mut m = Mma::dense(
        "mma_edge_colstore",
        (16, 8, 16),
        h,
        [Col, Col, Col],
        f,
        false,
        12,
    );
    m.out.0.bits.truncate(100);
    out.push(m.case());
    // Strides of 2^31: row 1 is out of range and row 2 would wrap to row 0
    // in 32 bits. B starts 3 below `u32::MAX`: every element is out of
    // range (0) even though `offset + i` wraps to small indices. The store
    // keeps row 0 only.
    let mut m = Mma::dense(
        "mma_edge_wrap",
        (16, 8, 16),
        bf,
        [Row, Row, Row],
        bf,
        true,
        13,
    );
    m.a.1.stride = 0x8000_0000;
    m.a.1.offset = 0;
    m.b.1.offset = u32::MAX - 3;
    m.out.1.stride = 0x8000_0000;
    m.out.1.offset = 1;
    out.push(m.case());
    out
}

// ---------------------------------------------------------------------------
// Several subgroups, each with its own tile.

/// A workgroup of 64 invocations (two subgroups of 32, or more smaller
/// ones) in two workgroups: tile `t = workgroup_id.x * 2 + local_id.x / 32`
/// takes its own rows of A (`t * m` ..) and writes its own output tile.
/// The operands differ between the two halves of a workgroup; control flow
/// is uniform. On a device whose subgroups are narrower than 32, every
/// subgroup still holds equal operands (the halves are whole subgroups).
fn multi_subgroup_case() -> Case {
    let (m, n, k) = (16u32, 8u32, 16u32);
    let tiles = 4u32;
    let elem = DataType::BF16;
    let shape = MatrixShape { m, n, k };
    let mut rng = Lcg(21);
    let a = operand_buf(&mut rng, elem, tiles * m * k);
    let bbuf = operand_buf(&mut rng, elem, k * n);
    let out = sentinel_buf(DataType::F32, tiles * m * n + 5);

    let mut b = ProgramBuilder::new("mma_multi_subgroup", [64, 1, 1]);
    let pa = b.buffer("a", elem, Access::Read);
    let pb = b.buffer("b", elem, Access::Read);
    let po = b.buffer("out", DataType::F32, Access::ReadWrite);
    let t = b.local("t", DataType::U32, false);
    let ma = b.matrix("ma", MatrixRole::A, elem, shape);
    let mb = b.matrix("mb", MatrixRole::B, elem, shape);
    let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.let_(
            t,
            Expr::Builtin(Builtin::WorkgroupId, Axis::X)
                .mul(Expr::u32(2))
                .add(Expr::Builtin(Builtin::LocalId, Axis::X).div(Expr::u32(32))),
        );
        blk.matrix(MatrixOp::Load {
            matrix: ma,
            buf: BufRef::Param(pa),
            offset: Expr::local(t).mul(Expr::u32(m * k)),
            stride: Expr::u32(k),
            layout: Row,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: mb,
            buf: BufRef::Param(pb),
            offset: Expr::u32(0),
            stride: Expr::u32(k),
            layout: Col,
            clip: None,
        });
        blk.matrix(MatrixOp::Fill {
            matrix: acc,
            value: Expr::local(t).cast(DataType::F32).mul(Expr::f32(0.375)),
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: acc,
            a: ma,
            b: mb,
            c: acc,
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(po),
            offset: Expr::local(t).mul(Expr::u32(m * n)),
            stride: Expr::u32(n),
            layout: Row,
            clip: None,
        });
    });

    let mut want = out.clone();
    let bm = host_load(
        &bbuf,
        Place {
            offset: 0,
            stride: k,
            layout: Col,
        },
        (k, n),
    );
    for tile in 0..tiles {
        let am = host_load(
            &a,
            Place {
                offset: tile * m * k,
                stride: k,
                layout: Row,
            },
            (m, k),
        );
        let c = vec![tile as f32 * 0.375; (m * n) as usize];
        let d = host_mma(shape, &am, &bm, &c);
        host_store(
            &mut want,
            Place {
                offset: tile * m * n,
                stride: n,
                layout: Row,
            },
            (m, n),
            &d,
        );
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(a.data()),
            Arg::Buf(bbuf.data()),
            Arg::Buf(out.data()),
        ],
        workgroups: [2, 1, 1],
        expected: vec![(2, want.data())],
        tol: Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

// ---------------------------------------------------------------------------
// Shared tiles filled by asynchronous copies.

/// `C = A x B` with `A` `16 x 64` and `B` `64 x 8` (row-major, `bf16`),
/// over four `k` steps of 16: each step copies the A and B tiles into
/// shared arrays with `async_copy` (16 and 8 bytes per invocation),
/// commits, waits, synchronises, loads the matrices from the shared tiles
/// and accumulates. The result goes to a shared `bf16` tile (rounded),
/// then every invocation copies part of it to the output. A is two rows
/// short: those copies read 0.
fn shared_tile_case() -> Case {
    let (m, n, kt, steps) = (16u32, 8u32, 16u32, 4u32);
    let kk = kt * steps;
    let elem = DataType::BF16;
    let shape = MatrixShape { m, n, k: kt };
    let mut rng = Lcg(31);
    let a = operand_buf(&mut rng, elem, m * kk - 2 * kk);
    let bbuf = operand_buf(&mut rng, elem, kk * n);
    let out = sentinel_buf(elem, m * n);

    let mut b = ProgramBuilder::new("mma_shared_async", [32, 1, 1]);
    let pa = b.buffer("a", elem, Access::Read);
    let pb = b.buffer("b", elem, Access::Read);
    let po = b.buffer("out", elem, Access::ReadWrite);
    let ta = b.shared("ta", elem, m * kt);
    let tb = b.shared("tb", elem, kt * n);
    let tc = b.shared("tc", elem, m * n);
    let step = b.local("step", DataType::U32, true);
    let l = b.local("l", DataType::U32, false);
    let e = b.local("e", DataType::U32, true);
    let ma = b.matrix("ma", MatrixRole::A, elem, shape);
    let mb = b.matrix("mb", MatrixRole::B, elem, shape);
    let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.let_(l, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.matrix(MatrixOp::Fill {
            matrix: acc,
            value: Expr::f32(0.0),
        });
        blk.for_(step, Expr::u32(0), Expr::u32(steps), |body| {
            let lid = || Expr::local(l);
            // A tile: 16 x 16, invocation l copies row l / 2, columns
            // (l % 2) * 8 .. + 8.
            let row = lid().div(Expr::u32(2));
            let col = lid().rem(Expr::u32(2)).mul(Expr::u32(8));
            body.async_copy(
                ta,
                row.clone().mul(Expr::u32(kt)).add(col.clone()),
                pa,
                row.mul(Expr::u32(kk))
                    .add(Expr::local(step).mul(Expr::u32(kt)))
                    .add(col),
                8,
            );
            // B tile: 16 x 8, invocation l copies row l / 2, columns
            // (l % 2) * 4 .. + 4.
            let row = lid().div(Expr::u32(2));
            let col = lid().rem(Expr::u32(2)).mul(Expr::u32(4));
            body.async_copy(
                tb,
                row.clone().mul(Expr::u32(n)).add(col.clone()),
                pb,
                Expr::local(step)
                    .mul(Expr::u32(kt))
                    .add(row)
                    .mul(Expr::u32(n))
                    .add(col),
                4,
            );
            body.async_commit();
            body.async_wait(0);
            body.barrier();
            body.matrix(MatrixOp::Load {
                matrix: ma,
                buf: BufRef::Shared(ta),
                offset: Expr::u32(0),
                stride: Expr::u32(kt),
                layout: Row,
                clip: None,
            });
            body.matrix(MatrixOp::Load {
                matrix: mb,
                buf: BufRef::Shared(tb),
                offset: Expr::u32(0),
                stride: Expr::u32(n),
                layout: Row,
                clip: None,
            });
            body.matrix(MatrixOp::MultiplyAdd {
                d: acc,
                a: ma,
                b: mb,
                c: acc,
            });
            // Nobody overwrites the tiles before everyone has loaded them.
            body.barrier();
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Shared(tc),
            offset: Expr::u32(0),
            stride: Expr::u32(n),
            layout: Row,
            clip: None,
        });
        blk.barrier();
        blk.for_step(e, Expr::local(l), Expr::u32(m * n), 32, false, |body| {
            body.store(
                BufRef::Param(po),
                Expr::local(e),
                Expr::load(BufRef::Shared(tc), Expr::local(e)),
            );
        });
    });

    let mut acc_h = vec![0.0f32; (m * n) as usize];
    for s in 0..steps {
        let am = host_load(
            &a,
            Place {
                offset: s * kt,
                stride: kk,
                layout: Row,
            },
            (m, kt),
        );
        let bm = host_load(
            &bbuf,
            Place {
                offset: s * kt * n,
                stride: n,
                layout: Row,
            },
            (kt, n),
        );
        acc_h = host_mma(shape, &am, &bm, &acc_h);
    }
    let mut want = out.clone();
    host_store(
        &mut want,
        Place {
            offset: 0,
            stride: n,
            layout: Row,
        },
        (m, n),
        &acc_h,
    );
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(a.data()),
            Arg::Buf(bbuf.data()),
            Arg::Buf(out.data()),
        ],
        workgroups: [1, 1, 1],
        expected: vec![(2, want.data())],
        tol: Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

/// `async_copy` on its own: invocation `l < 4` copies `count` elements from
/// `src[base + l * count ..]` into `tile[l * count ..]`; the tile is shorter
/// than `4 * count` (the last elements are dropped) and `src` ends before
/// the last copy's end (those elements read 0); `base` is not a multiple
/// of `count` (the unaligned fallback). After a barrier, invocations copy
/// the tile to `out`. For `u32` and for packed `f16` elements.
fn async_copy_case(elem: DataType, count: u32) -> Case {
    let tile_len = 4 * count - 2;
    let base = 1u32;
    let src_len = base + 4 * count - 3;
    let mut rng = Lcg(41 + u64::from(count));
    let src = HostBuf {
        elem,
        bits: (0..src_len)
            .map(|_| match elem {
                DataType::U32 => rng.next(),
                t => rng.operand(t),
            })
            .collect(),
    };
    let out = sentinel_buf(elem, tile_len + 2);
    let name = format!("async_copy_{elem}");
    let mut b = ProgramBuilder::new(name, [8, 1, 1]);
    let ps = b.buffer("src", elem, Access::Read);
    let po = b.buffer("out", elem, Access::ReadWrite);
    let tile = b.shared("tile", elem, tile_len);
    let l = b.local("l", DataType::U32, false);
    let e = b.local("e", DataType::U32, true);
    b.body(|blk| {
        blk.let_(l, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.if_(Expr::local(l).lt(Expr::u32(4)), |t| {
            t.async_copy(
                tile,
                Expr::local(l).mul(Expr::u32(count)),
                ps,
                Expr::local(l).mul(Expr::u32(count)).add(Expr::u32(base)),
                count,
            );
            t.async_commit();
            t.async_wait(0);
        });
        blk.barrier();
        blk.for_step(e, Expr::local(l), Expr::u32(tile_len), 8, false, |body| {
            body.store(
                BufRef::Param(po),
                Expr::local(e),
                Expr::load(BufRef::Shared(tile), Expr::local(e)),
            );
        });
    });
    let p = b.finish();

    let mut want = out.clone();
    for i in 0..tile_len {
        // Element i of the tile came from src[base + i] (0 past the end).
        let v = src
            .bits
            .get((base + i) as usize)
            .copied()
            .unwrap_or_else(|| narrow(elem, 0));
        want.bits[i as usize] = v;
    }
    Case {
        program: p,
        args: vec![Arg::Buf(src.data()), Arg::Buf(out.data())],
        workgroups: [1, 1, 1],
        expected: vec![(1, want.data())],
        tol: Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

/// Every case of this file.
fn cases() -> Vec<Case> {
    let mut all = dense_cases();
    all.extend(edge_cases());
    all.push(multi_subgroup_case());
    all.push(shared_tile_case());
    all.push(async_copy_case(DataType::U32, 4));
    all.push(async_copy_case(DataType::F16, 8));
    all.push(async_copy_case(DataType::BF16, 2));
    all.extend(warpgroup_cases());
    all.extend(attention_cases());
    all.push(warpgroup_barrier_case());
    all
}

/// `warpgroup_barrier()` (a workgroup barrier on naga's targets) ordering
/// an exchange inside each warpgroup, two workgroups.
fn warpgroup_barrier_case() -> Case {
    use matrix_support::warpgroup::{barrier_exchange, barrier_exchange_expected};
    let want = barrier_exchange_expected(2);
    Case {
        program: barrier_exchange(),
        args: vec![Arg::Buf(Data::U32(vec![0; want.len()]))],
        workgroups: [2, 1, 1],
        expected: vec![(0, Data::U32(want))],
        tol: Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

/// The attention block of `matrix_support::attention` (`warpgroup_mma_t`,
/// a masking `matrix_map`, `matrix_row_max`, a `matrix_map` reading the
/// maxima, `matrix_row_sum`, `warpgroup_mma` with `A` from the accumulator
/// `P`, a `matrix_map` reading the sums), in its exact variant (no `exp`
/// or `/`, whose GPU versions are approximate), for `f16` and `bf16`, two
/// workgroups: bit for bit against the host transcription and the
/// reference interpreter.
fn attention_cases() -> Vec<Case> {
    use matrix_support::attention::{Attention, SCALE};
    [DataType::F16, DataType::BF16]
        .into_iter()
        .map(|elem| {
            let att = Attention {
                elem,
                kv: 16,
                d: 16,
                exp: false,
                workgroups: 2,
            };
            let [q, k, v] = att.inputs(5);
            let want = att.expected(&[q.clone(), k.clone(), v.clone()]);
            Case {
                program: att.program(),
                args: vec![
                    Arg::Buf(Data::Narrow(elem, q)),
                    Arg::Buf(Data::Narrow(elem, k)),
                    Arg::Buf(Data::Narrow(elem, v)),
                    Arg::Buf(Data::F32(vec![0.0; want.len()])),
                    Arg::F32(SCALE),
                ],
                workgroups: [att.workgroups, 1, 1],
                expected: vec![(3, Data::F32(want))],
                tol: Tolerance::Float { ulp: 0, abs: 0.0 },
            }
        })
        .collect()
}

/// Warpgroup multiplies (`WarpgroupMultiplyAdd` on `64 x n` warpgroup
/// accumulators, emulated per invocation like every matrix), small enough
/// for lavapipe: `64 x 8 x 16` with strides past the row, tiles past the
/// end of their arrays and `d != c`; `64 x 16 x 32` of `bf16` from
/// *swizzled* shared arrays (naga ignores the layout: the result is the
/// linear one); two warpgroups of a workgroup with their own operands;
/// three, of which the middle one skips its multiply in a branch on
/// `local_id().x / 128`. Expectations from the plain loop of
/// `matrix_support::warpgroup`.
fn warpgroup_cases() -> Vec<Case> {
    let base = WgCase {
        n: 8,
        k: 16,
        elem: DataType::F16,
        layout: vyre::ir::SharedLayout::Linear,
        a_len: 64 * 17 - 40,
        b_len: 16 * 9 - 5,
        a_off: 3,
        a_stride: 17,
        b_off: 1,
        b_stride: 9,
        warpgroups: 1,
        per_warpgroup: 0,
        skip_odd: false,
    };
    let cases = [
        base,
        WgCase {
            n: 16,
            k: 32,
            elem: DataType::BF16,
            layout: vyre::ir::SharedLayout::Swizzled { cols: 64 },
            a_len: 2048,
            b_len: 512,
            a_off: 0,
            a_stride: 32,
            b_off: 0,
            b_stride: 16,
            ..base
        },
        WgCase {
            warpgroups: 2,
            per_warpgroup: 200,
            a_len: 64 * 17 + 200,
            b_len: 16 * 9 + 200,
            ..base
        },
        // Warpgroup 1 skips its multiply in a branch of its own.
        WgCase {
            warpgroups: 3,
            per_warpgroup: 100,
            a_len: 64 * 17 + 200,
            b_len: 16 * 9 + 200,
            skip_odd: true,
            ..base
        },
    ];
    cases
        .iter()
        .enumerate()
        .map(|(q, c)| {
            let (a, b) = c.inputs(100 + q as u64);
            let want = c.expected(&a, &b).into_iter().map(f32::from_bits).collect();
            let mut program = c.program();
            program.name = format!("warpgroup_mma_{q}");
            Case {
                program,
                args: vec![
                    Arg::Buf(Data::Narrow(c.elem, a)),
                    Arg::Buf(Data::Narrow(c.elem, b)),
                    Arg::Buf(Data::F32(vec![0.0; c.out_len() as usize])),
                ],
                workgroups: [1, 1, 1],
                expected: vec![(2, Data::F32(want))],
                tol: Tolerance::Float { ulp: 0, abs: 0.0 },
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Emission.

/// Every kernel validates and emits for all four naga targets (default,
/// every access checked, and unchecked), the SPIR-V passes `spirv-val`,
/// the WGSL re-parses and validates.
#[test]
fn matrix_kernels_emit_for_every_target() {
    let config = DispatchConfig::default();
    let always = DispatchConfig::default().with_bounds_checks(BoundsChecks::Always);
    let val = spirv_val();
    if val.is_none() {
        assert!(
            !require_vulkan(),
            "VYRE_REQUIRE_VULKAN=1 but spirv-val was not found (apt-get install spirv-tools)"
        );
        println!("spirv-val not found: SPIR-V not validated");
    }
    let dir = std::env::temp_dir().join(format!("vyre-matrix-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let mut all = cases();
    all.push(big_case());
    for case in all {
        let p = &case.program;
        if let Err(e) = p.validate() {
            failures.push(format!("{}: invalid program: {e:?}", p.name));
            continue;
        }
        let mut unchecked = p.clone();
        unchecked.unchecked = true;
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            for (what, prog, cfg) in [
                ("", p, &config),
                (" (all checked)", p, &always),
                (" (unchecked)", &unchecked, &config),
            ] {
                match emit_aot_target(target, prog, cfg) {
                    Ok(bytes) if bytes.is_empty() => {
                        failures.push(format!("{} for {target}{what}: empty", p.name));
                    }
                    Ok(_) => {}
                    Err(e) => failures.push(format!("{} for {target}{what}: {e}", p.name)),
                }
            }
        }
        let text = match emit_aot_target("wgsl", p, &config) {
            Ok(b) => String::from_utf8(b).unwrap(),
            Err(_) => continue,
        };
        match naga::front::wgsl::parse_str(&text) {
            Ok(module) => {
                if let Err(e) = naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::empty(),
                )
                .validate(&module)
                {
                    failures.push(format!(
                        "{}: re-parsed WGSL does not validate: {e:?}",
                        p.name
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{}: WGSL does not parse: {}",
                p.name,
                e.emit_to_string(&text)
            )),
        }
        if let Some(val) = &val {
            for (what, prog, cfg) in [
                ("", p, &config),
                ("-unchecked", &unchecked, &config),
                ("-always", p, &always),
            ] {
                let Ok(bytes) = emit_aot_target("spirv", prog, cfg) else {
                    continue;
                };
                let path = dir.join(format!("{}{what}.spv", p.name));
                if let Err(e) = validate_spirv(val, &path, &bytes, "vulkan1.0") {
                    failures.push(format!("{}{what}: spirv-val: {e}", p.name));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The emulation loops over elements instead of unrolling: a 32 x 16 x 32
/// kernel (2560 multiply-adds per element group) stays a small module, and
/// needs no subgroup capability.
#[test]
fn matrix_statements_are_loops_not_unrolled_code() {
    let case = Mma::dense(
        "mma_size",
        (32, 16, 32),
        DataType::BF16,
        [Row, Col, Row],
        DataType::BF16,
        true,
        9,
    )
    .case();
    let p = &case.program;
    let config = DispatchConfig::default();
    let module = vyre::backend::naga::lower::lower(p, &config).unwrap();
    let f = &module.entry_points[0].function;
    assert!(
        f.expressions.len() < 1500,
        "{} expressions: unrolled?",
        f.expressions.len()
    );
    let spirv = emit_aot_target("spirv", p, &config).unwrap();
    assert!(spirv.len() < 64 * 1024, "{} bytes of SPIR-V", spirv.len());
    let wgsl = String::from_utf8(emit_aot_target("wgsl", p, &config).unwrap()).unwrap();
    assert!(!wgsl.contains("enable"), "{wgsl}");
    assert!(wgsl.contains("loop"), "{wgsl}");
    // Three matrices, zero-initialised private arrays of `f32`.
    for len in [32 * 32, 32 * 16, 32 * 16] {
        assert!(
            wgsl.contains(&format!("array<f32, {len}>")),
            "no array<f32, {len}>:\n{wgsl}"
        );
    }
}

/// The hand-written expectations agree with the reference interpreter.
#[test]
fn expectations_match_the_reference_interpreter() {
    for case in cases() {
        if let Some(oracle) = reference(&case) {
            for ((param, want), (_, refv)) in case.expected.iter().zip(&oracle) {
                naga_common::compare(&case.program.name, *param, refv, want, case.tol)
                    .unwrap_or_else(|e| panic!("reference vs expectation: {e}"));
            }
        }
    }
}

/// The reference interpreter's results (every case runs there).
fn reference(case: &Case) -> Option<Vec<(usize, Data)>> {
    match naga_common::run_reference(case) {
        Ok(v) => Some(v),
        Err(e) => panic!("{}: reference interpreter: {e}", case.program.name),
    }
}

// ---------------------------------------------------------------------------
// Launches.

#[cfg(feature = "wgpu")]
mod launch {
    use super::*;
    use naga_common::{owned_spec, run_case};
    use vyre::Device;
    use vyre::backend::naga::runtime::WgpuOptions;

    fn device(options: &WgpuOptions) -> Option<Device> {
        match Device::wgpu_with(options) {
            Ok(d) => Some(d),
            Err(e) => {
                assert!(
                    !require_vulkan(),
                    "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
                );
                println!("skipped: no wgpu adapter ({e})");
                None
            }
        }
    }

    fn run_all(options: &WgpuOptions, tag: &str, cases: Vec<Case>) {
        let Some(dev) = device(options) else { return };
        println!("device: {}", dev.name());
        let mut failures = Vec::new();
        for case in cases {
            let spec = owned_spec(&case.program, tag);
            let oracle = reference(&case);
            match run_case(&dev, &case, &spec) {
                Ok(got) => {
                    for ((param, g), (_, want)) in got.iter().zip(&case.expected) {
                        let mut wants = vec![want];
                        if let Some(o) = &oracle
                            && let Some((_, r)) = o.iter().find(|(p, _)| p == param)
                        {
                            wants.push(r);
                        }
                        for w in wants {
                            if let Err(e) =
                                naga_common::compare(&case.program.name, *param, g, w, case.tol)
                            {
                                failures.push(e);
                            }
                        }
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", case.program.name)),
            }
        }
        assert!(
            failures.is_empty(),
            "{} on {}:\n{}",
            tag,
            dev.name(),
            failures.join("\n")
        );
    }

    #[test]
    fn matrix_kernels_match_the_host_spirv_path() {
        run_all(&WgpuOptions::from_env(), "spirv", cases());
    }

    #[test]
    fn matrix_kernels_match_the_host_wgsl_path() {
        run_all(
            &WgpuOptions::from_env().with_force_wgsl(true),
            "wgsl",
            cases(),
        );
    }

    /// The `64 x 64` accumulator runs too, but lavapipe (Mesa 22.3) takes
    /// minutes to compile a kernel with 16 KiB private arrays (any large
    /// function-local array, not only matrices: its compile time grows
    /// faster than the array), so it is left to explicit runs.
    #[test]
    #[ignore = "minutes of shader compilation on lavapipe; run with --ignored"]
    fn the_largest_accumulator_runs() {
        run_all(&WgpuOptions::from_env(), "spirv", vec![big_case()]);
    }
}
