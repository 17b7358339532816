//! The tensor-core GEMM kernels of `bench/kernels/gemm.vyre` and
//! `bench/kernels/gemm_wg.vyre` on the
//! reference interpreter: every entry of C equals a plain Rust loop that
//! sums the same products in the order of k in f32 and rounds once to the
//! output type (the reference defines `matrix_mma` as exactly that order,
//! and the kernel walks k in order), for tile-aligned sizes and for edges
//! of m, n and k (partial tiles, `k` not a multiple of the 8-element
//! copies, clipped stores).

mod matrix_support;

use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre::half::{bf16, f16};
use vyre::ir::{GridRule, Literal, Program};

/// Every kernel of the two files, with its `grid = (..)` rule if it has
/// one (those of `gemm.vyre` have none).
fn kernels() -> Vec<(Program, Option<GridRule>)> {
    let files = [
        ("gemm.vyre", include_str!("../bench/kernels/gemm.vyre")),
        (
            "gemm_wg.vyre",
            include_str!("../bench/kernels/gemm_wg.vyre"),
        ),
    ];
    let mut out = Vec::new();
    for (name, src) in files {
        match vyre::lang::parse(name, src) {
            Ok(mut m) => out.extend(m.kernels.into_iter().map(|p| {
                let rule = m.grids.remove(&p.name);
                (p, rule)
            })),
            Err(d) => panic!("{d}"),
        }
    }
    out
}

fn kernel(name: &str) -> (Program, Option<GridRule>) {
    kernels()
        .into_iter()
        .find(|(p, _)| p.name == name)
        .unwrap_or_else(|| panic!("no kernel {name}"))
}

/// Inputs: small multiples of 1/16, exact in both half types.
fn value(i: usize, p: usize, q: usize) -> f32 {
    ((i * p) % q) as f32 / 16.0 - 0.5
}

/// Run `name` on (m, n, k) with the element type given by `to_bits` /
/// `from_f32`, and compare with the sequential f32 sum.
fn check(name: &str, m: u32, n: u32, k: u32, from_f32: fn(f32) -> u16, to_f32: fn(u16) -> f32) {
    check_in(name, None, (m, n, k), from_f32, to_f32);
}

/// [`check`] in `workers` workgroups instead of the kernel's grid, when
/// given.
fn check_in(
    name: &str,
    workers: Option<u32>,
    (m, n, k): (u32, u32, u32),
    from_f32: fn(f32) -> u16,
    to_f32: fn(u16) -> f32,
) {
    let (p, rule) = kernel(name);
    let grid = match rule {
        Some(rule) => matrix_support::gemm_grid(&rule, m, n, k),
        // `gemm.vyre`: tiles of BN x 128, BN in the instance's name.
        None => {
            let bn = if name.contains("n256") { 256 } else { 128 };
            [n.div_ceil(bn), m.div_ceil(128), 1]
        }
    };
    let grid = workers.map_or(grid, |w| [w, 1, 1]);
    let (mu, nu, ku) = (m as usize, n as usize, k as usize);
    let a: Vec<u16> = (0..mu * ku).map(|i| from_f32(value(i, 7, 13))).collect();
    let b: Vec<u16> = (0..ku * nu).map(|i| from_f32(value(i, 5, 11))).collect();
    let mut a32: Vec<u32> = a.iter().map(|&x| u32::from(x)).collect();
    let mut b32: Vec<u32> = b.iter().map(|&x| u32::from(x)).collect();
    // NaN in both half types: an entry no workgroup stores fails.
    let mut c32 = vec![0xffffu32; mu * nu];
    let opts = RunOptions {
        subgroup_size: 32,
        ..RunOptions::default()
    };
    run_with(
        &p,
        grid,
        &mut [
            RefArg::Scalar(Literal::U32(m)),
            RefArg::Scalar(Literal::U32(n)),
            RefArg::Scalar(Literal::U32(k)),
            RefArg::Buffer(&mut a32),
            RefArg::Buffer(&mut b32),
            RefArg::Buffer(&mut c32),
        ],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{name} {m}x{n}x{k}: {e}"));
    let mut bad = 0;
    for r in 0..mu {
        for c in 0..nu {
            let mut acc = 0.0f32;
            for kk in 0..ku {
                acc += to_f32(a[r * ku + kk]) * to_f32(b[kk * nu + c]);
            }
            let want = from_f32(acc);
            let got = c32[r * nu + c];
            if got != u32::from(want) {
                bad += 1;
                assert!(
                    bad < 5,
                    "{name} {m}x{n}x{k}: C[{r}][{c}] = {:#x}, want {want:#x} ({acc})",
                    got
                );
            }
        }
    }
    assert_eq!(bad, 0, "{name} {m}x{n}x{k}: {bad} entries differ");
}

fn bf16_bits(x: f32) -> u16 {
    bf16::from_f32(x).to_bits()
}
fn bf16_value(x: u16) -> f32 {
    bf16::from_bits(x).to_f32()
}
fn f16_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}
fn f16_value(x: u16) -> f32 {
    f16::from_bits(x).to_f32()
}

#[test]
fn bf16_gemm_matches_the_sequential_sum() {
    check("gemm_bf16", 128, 128, 64, bf16_bits, bf16_value);
    check("gemm_bf16", 256, 256, 96, bf16_bits, bf16_value);
}

#[test]
fn f16_gemm_matches_the_sequential_sum() {
    check("gemm_f16", 128, 256, 32, f16_bits, f16_value);
}

#[test]
fn every_tile_configuration_matches() {
    check("gemm_bf16_k16s4", 128, 128, 80, bf16_bits, bf16_value);
    check("gemm_bf16_n256", 256, 256, 48, bf16_bits, bf16_value);
    check("gemm_bf16_k16s4", 130, 128, 21, bf16_bits, bf16_value);
    check("gemm_bf16_n256", 70, 256, 37, bf16_bits, bf16_value);
    // 3 and 4 slices of 32 in flight: 60 KB and 80 KB of shared memory,
    // above the static 48 KiB (dynamic shared memory on CUDA).
    check("gemm_bf16_s3", 130, 128, 72, bf16_bits, bf16_value);
    check("gemm_bf16_s4", 130, 128, 72, bf16_bits, bf16_value);
    check("gemm_bf16_s3", 128, 128, 256, bf16_bits, bf16_value);
    check("gemm_bf16_s4", 128, 128, 256, bf16_bits, bf16_value);
}

#[test]
fn edges_of_m_and_k() {
    // m not a multiple of the tile, k not a multiple of the slice nor of
    // the 8-element copies (the element-wise staging path).
    check("gemm_bf16", 72, 128, 40, bf16_bits, bf16_value);
    check("gemm_bf16", 130, 128, 21, bf16_bits, bf16_value);
}

#[test]
fn edges_of_n_store_clipped() {
    check("gemm_bf16", 64, 200, 32, bf16_bits, bf16_value);
    check("gemm_f16", 129, 70, 40, f16_bits, f16_value);
    check("gemm_bf16_n256", 100, 300, 24, bf16_bits, bf16_value);
}

#[test]
fn warpgroup_gemms_match_the_sequential_sum() {
    // `bench/kernels/gemm_wg.vyre`: warpgroup accumulators over swizzled
    // tiles, 4 (or 3) slices of 64 in flight; whole tiles and every edge.
    check("gemm_wg_bf16", 128, 256, 256, bf16_bits, bf16_value);
    check("gemm_wg_f16", 128, 256, 128, f16_bits, f16_value);
    check("gemm_wg_bf16_n128", 130, 136, 72, bf16_bits, bf16_value);
    check("gemm_wg_bf16_s3", 70, 300, 100, bf16_bits, bf16_value);
    // One multiply left running across the barrier: 3 stages of 4 in use.
    check("gemm_wg_bf16_w1", 130, 300, 328, bf16_bits, bf16_value);
    check("gemm_wg_f16_w1", 128, 256, 64, f16_bits, f16_value);
    // Slices as tile copies (TMA on sm_90a; here the element loop), edges
    // filled with 0 by the copies: whole tiles, then ragged m, n and k.
    check("gemm_wg_bf16_tma", 128, 256, 256, bf16_bits, bf16_value);
    check("gemm_wg_f16_tma", 130, 264, 72, f16_bits, f16_value);
}

#[test]
fn grouped_tile_orders_cover_every_tile_once() {
    // G = 8 rows of tiles per group: a grid of 3 x 2 tiles is one partial
    // group (3 rows), 9 x 2 one whole group and a last one of a single row;
    // every entry of C is written exactly once with the right sum.
    check("gemm_wg_bf16_tma_g8", 130, 300, 72, bf16_bits, bf16_value);
    check("gemm_wg_bf16_w1_g8", 1100, 272, 64, bf16_bits, bf16_value);
    check("gemm_wg_f16_tma_w1_g8", 256, 512, 136, f16_bits, f16_value);
    // 128-wide tiles, three stages: two workgroups fit one SM.
    check(
        "gemm_wg_bf16_tma_n128_s3",
        260,
        136,
        200,
        bf16_bits,
        bf16_value,
    );
}

#[test]
fn persistent_gemms_stream_slices_across_their_tiles() {
    // `gemm_wgp`: each workgroup takes every `workers`-th tile in the
    // grouped order, its slices one stream with the next tile's first
    // copies in flight while the last tile is stored. In the kernel's own
    // grid (fewer tiles than P = 132: one each), then in 2 and 3 workgroups
    // (several tiles each, the last ones partial, and a workgroup with one
    // tile fewer), with ragged m, n, k and k = 0 (C all 0).
    check("gemm_wgp_bf16_p132", 130, 300, 72, bf16_bits, bf16_value);
    for (workers, size) in [
        (2, (260, 520, 136)),
        (3, (390, 300, 200)),
        (3, (130, 260, 0)),
    ] {
        check_in(
            "gemm_wgp_bf16_w1_p132",
            Some(workers),
            size,
            bf16_bits,
            bf16_value,
        );
        check_in(
            "gemm_wgp_bf16_p132",
            Some(workers),
            size,
            bf16_bits,
            bf16_value,
        );
    }
    check_in(
        "gemm_wgp_f16_w1_p132",
        Some(2),
        (256, 512, 192),
        f16_bits,
        f16_value,
    );
}
