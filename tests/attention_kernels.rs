//! The flash-attention kernels of `bench/kernels/attention.vyre` on the
//! reference interpreter: every output row against an `f64` softmax of the
//! same bf16 inputs, causal and not, head dimensions 64 and 128, several
//! key tiles (the online rescaling) and heads.

mod warpgroup_support;

use vyre::backend::reference::{RefArg, RunOptions, run_with};
use vyre::ir::{Literal, Program};

fn kernel(name: &str) -> Program {
    let src = include_str!("../bench/kernels/attention.vyre");
    let module = vyre::lang::parse("attention.vyre", src).unwrap_or_else(|d| panic!("{d}"));
    module
        .kernels
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no kernel {name}"))
}

fn check(name: &str, heads: usize, seq: usize, dim: usize, causal: bool) {
    let p = kernel(name);
    let [q, k, v] = warpgroup_support::attention_inputs(heads, seq, dim);
    let (mut q2, mut k2, mut v2) = (q.clone(), k.clone(), v.clone());
    let mut o = vec![0u32; heads * seq * dim];
    let scale = 1.0 / (dim as f32).sqrt();
    let opts = RunOptions {
        subgroup_size: 32,
        ..RunOptions::default()
    };
    run_with(
        &p,
        [seq.div_ceil(128) as u32, heads as u32, 1],
        &mut [
            RefArg::Scalar(Literal::U32(seq as u32)),
            RefArg::Scalar(Literal::F32(scale.to_bits())),
            RefArg::Buffer(&mut q2),
            RefArg::Buffer(&mut k2),
            RefArg::Buffer(&mut v2),
            RefArg::Buffer(&mut o),
        ],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    warpgroup_support::check_attention(name, [&q, &k, &v], &o, (heads, seq, dim), causal);
}

#[test]
fn head_dim_64_matches_softmax_attention() {
    check("attention_bf16_d64", 2, 256, 64, false);
    check("attention_bf16_d64_causal", 2, 256, 64, true);
}

#[test]
fn any_sequence_length_masks_and_clips() {
    // The last key tile partial (masked past `seq`), the last query block
    // partial (rows past `seq` not stored, the next head untouched).
    check("attention_bf16_d64", 3, 200, 64, false);
    check("attention_bf16_d64_causal", 2, 131, 64, true);
    check("attention_bf16_d128_k128", 1, 77, 128, false);
}

#[test]
fn head_dim_128_matches_softmax_attention() {
    check("attention_bf16_d128", 1, 256, 128, false);
    check("attention_bf16_d128_causal", 1, 384, 128, true);
}

#[test]
fn tile_copy_instances_match_softmax_attention() {
    // q, k and v staged by `async_copy_tile` (TMA on sm_90a; here the
    // element loop) from the [heads * seq, D] matrices: several key tiles
    // and heads, a partial last tile and query block (the last head's rows
    // past the buffer come in as 0, masked), causal and not.
    check("attention_bf16_d64_tma", 2, 256, 64, false);
    check("attention_bf16_d64_causal_tma", 3, 200, 64, true);
    check("attention_bf16_d128_k128_tma", 2, 77, 128, false);
    check("attention_bf16_d128_causal_k128_tma", 1, 384, 128, true);
}
