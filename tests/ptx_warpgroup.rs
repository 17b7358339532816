//! PTX of warpgroup matrices: `wgmma.mma_async` on sm_90a when both tiles
//! are swizzled, `mma.sync` by warps otherwise (and on every other
//! architecture), and swizzled shared arrays. `ptxas` assembles every
//! variant when it exists (`skipped: ptxas not found` otherwise;
//! `VYRE_REQUIRE_PTXAS=1` makes that a failure).

mod matrix_support;
mod ptx_support;
mod warpgroup_support;

use ptx_support::{count, emit, ptxas};
use vyre::backend::ptx;
use vyre::ir::{DataType, SharedLayout};
use warpgroup_support::warpgroup_gemm;

fn assemble(text: &str, arch: &str, name: &str) {
    if let Some(ptxas) = ptxas() {
        let cubin = ptx::assemble(&ptxas, text, arch)
            .unwrap_or_else(|e| panic!("{name} on {arch}: {e}\n--- PTX ---\n{text}"));
        assert!(cubin.starts_with(b"\x7fELF"), "cubin is not an ELF file");
    }
}

#[test]
fn swizzled_tiles_on_sm90a_take_wgmma_with_the_mma_sync_path_behind_one_test() {
    for elem in [DataType::BF16, DataType::F16] {
        let p = warpgroup_gemm(elem, true);
        p.validate().unwrap();
        let text = emit(&p, "sm_90a");
        assemble(&text, "sm_90a", &p.name);
        let ty = if elem == DataType::BF16 {
            "bf16"
        } else {
            "f16"
        };
        // k = 64: four m64n128k16 multiplies, one batch.
        let shape = format!("wgmma.mma_async.sync.aligned.m64n128k16.f32.{ty}.{ty}");
        assert_eq!(count(&text, &shape), 4, "{text}");
        assert_eq!(count(&text, "wgmma.fence.sync.aligned"), 1);
        assert_eq!(count(&text, "wgmma.commit_group.sync.aligned"), 1);
        // One after the batch (a synchronous multiply), one before the
        // `mma.sync` path (an earlier asynchronous batch may be running).
        assert_eq!(count(&text, "wgmma.wait_group.sync.aligned 0"), 2);
        assert_eq!(count(&text, "fence.proxy.async.shared::cta"), 1);
        // The fallback: each warp's 16 rows by mma.sync (4 k-steps x 16
        // n8 tiles).
        assert_eq!(count(&text, "mma.sync.aligned.m16n8k16"), 64);
        assert!(text.contains(".shared .align 1024 .b8"), "{text}");
    }
}

#[test]
fn other_architectures_and_linear_tiles_multiply_by_warps() {
    for (arch, swizzled) in [("sm_80", true), ("sm_90", true), ("sm_90a", false)] {
        let p = warpgroup_gemm(DataType::BF16, swizzled);
        let text = emit(&p, arch);
        assemble(&text, arch, &p.name);
        assert_eq!(count(&text, "wgmma"), 0, "{arch}: {text}");
        assert_eq!(count(&text, "mma.sync.aligned.m16n8k16"), 64, "{arch}");
    }
}

#[test]
fn every_access_to_a_swizzled_array_assembles() {
    let p = warpgroup_support::swizzled_accesses();
    p.validate().unwrap();
    for arch in ["sm_80", "sm_90a"] {
        let text = emit(&p, arch);
        assemble(&text, arch, &p.name);
        // Both arrays on whole swizzle atoms; the A tile, proven aligned,
        // by `ldmatrix` (each lane's row through the layout); the B tile's
        // offset is odd, so its `ldmatrix` sits behind the run-time test
        // beside the element-wise path (which this launch takes).
        assert_eq!(text.matches(".shared .align 1024").count(), 2, "{text}");
        assert_eq!(count(&text, "ldmatrix"), 2);
        // Indices of whole atoms plus a rest: for the two-panel f16 array
        // the rows are counted modulo 2^32 / cols.
        let mask = u32::MAX >> 7;
        assert!(text.contains(&format!(", {mask};")), "{mask}: {text}");
        assert_eq!(count(&text, "cp.async.cg.shared.global"), 1);
    }
}

#[test]
fn the_swizzle_is_a_permutation_of_whole_16_byte_chunks() {
    for (size, cols, rows) in [(2, 64, 16), (2, 256, 24), (4, 32, 8), (1, 512, 8)] {
        let layout = SharedLayout::Swizzled { cols };
        assert_eq!(layout.problem(size, cols * rows), None);
        let len = cols * rows;
        let chunk = 16 / size;
        let mut seen = vec![false; len as usize];
        for i in 0..len {
            let p = layout.physical_index(size, len, i);
            assert!(p < len && !seen[p as usize], "{size} {cols}: {i} -> {p}");
            seen[p as usize] = true;
            // Chunks stay whole and in order.
            assert_eq!(p % chunk, i % chunk);
            if i % chunk != 0 {
                assert_eq!(p, layout.physical_index(size, len, i - 1) + 1);
            }
        }
        // Row r's chunk j lands at chunk j ^ (r % 8) of the row's panel.
        let r = 3;
        let p = layout.physical_index(size, len, r * cols + chunk);
        let panel_cols = 128 / size;
        assert_eq!(p, r * panel_cols + (1 ^ 3) * chunk);
    }
    // One panel: the layout moves only bits below a whole atom, so whole
    // atoms can be added after mapping the rest (the emitter's split).
    let one_panel = SharedLayout::Swizzled { cols: 64 };
    for (hi, lo) in [(0, 5), (512, 77), (1536, 511), (4096, 300)] {
        let len = 8192;
        assert_eq!(
            one_panel.physical_index(2, len, hi + lo),
            hi + one_panel.physical_index(2, len, lo)
        );
    }
    assert!(
        SharedLayout::Swizzled { cols: 48 }
            .problem(2, 48 * 8)
            .is_some()
    );
    assert!(
        SharedLayout::Swizzled { cols: 32 }
            .problem(2, 32 * 8)
            .is_some()
    );
    assert!(
        SharedLayout::Swizzled { cols: 64 }
            .problem(2, 64 * 4)
            .is_some()
    );
}

/// `cargo test --test ptx_warpgroup -- --ignored --nocapture` prints the
/// sm_90a PTX of the bench's `gemm_wg_bf16`, to read or to feed `ptxas -v`.
#[test]
#[ignore = "prints PTX for reading"]
fn print_warpgroup_gemm_ptx() {
    let src = include_str!("../bench/kernels/gemm_wg.vyre");
    let module = vyre::lang::parse("gemm_wg.vyre", src).unwrap_or_else(|d| panic!("{d}"));
    let p = module
        .kernels
        .iter()
        .find(|p| p.name == "gemm_wg_bf16")
        .expect("gemm_wg_bf16");
    println!("{}", emit(p, "sm_90a"));
}

#[test]
fn an_attention_step_keeps_scores_in_registers() {
    use warpgroup_support::attention_step;
    for (dim, swizzled) in [(64, true), (128, true), (64, false)] {
        let p = attention_step(DataType::BF16, dim, swizzled);
        p.validate().unwrap();
        for arch in ["sm_80", "sm_90a"] {
            let text = emit(&p, arch);
            assemble(&text, arch, &p.name);
            let wgmma = arch == "sm_90a" && swizzled;
            // s = q · kᵀ: k = dim in steps of 16, n = 64 keys; o = p · v:
            // k = 64 keys, n = dim.
            let s_shape = "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16";
            let o_shape = format!("wgmma.mma_async.sync.aligned.m64n{dim}k16.f32.bf16.bf16");
            let (s_n, o_n) = if wgmma {
                (dim as usize / 16, 4)
            } else {
                (0, 0)
            };
            if dim == 64 {
                assert_eq!(count(&text, s_shape), s_n + o_n, "{arch}");
            } else {
                assert_eq!(count(&text, s_shape), s_n, "{arch}");
                assert_eq!(count(&text, &o_shape), o_n, "{arch}");
            }
            if wgmma {
                // p · v takes A from registers: `{%r.., ..}` right after
                // the accumulator, and no `imm-trans-a`; q · kᵀ reads a
                // K-major B (imm-trans-b 0).
                let from_regs = text
                    .lines()
                    .filter(|l| l.contains("wgmma.mma_async") && l.contains("}, {%r"))
                    .count();
                assert_eq!(from_regs, 4, "{text}");
                assert!(
                    text.lines()
                        .filter(|l| l.contains(s_shape) && !l.contains("}, {%r"))
                        .all(|l| l.trim_end().ends_with("1, 1, 0, 0;")),
                    "{text}"
                );
            }
            // p in bf16 pairs: four conversions per 16 keys (4 steps).
            assert_eq!(
                count(&text, "cvt.rn.bf16x2.f32"),
                16 * if wgmma { 2 } else { 1 },
                "{arch}"
            );
            // Two row reductions: two rows per thread, two butterfly steps
            // each, one warp barrier after the stores.
            assert_eq!(count(&text, "shfl.sync.bfly.b32"), 8, "{arch}");
            assert_eq!(count(&text, "bar.warp.sync"), 2, "{arch}");
        }
    }
}

/// Prints the sm_90a PTX of the `d = 64` attention step (for reading with
/// `ptxas -v`).
#[test]
#[ignore = "prints PTX"]
fn print_attention_step() {
    let p = warpgroup_support::attention_step(DataType::BF16, 64, true);
    println!("{}", emit(&p, "sm_90a"));
}

/// The attention kernels of `bench/kernels/attention.vyre` on sm_90a:
/// every multiply through `wgmma` (the score tile with a K-major `B`, the
/// output with `A` from registers), and `ptxas` keeps the asynchronous
/// multiplies asynchronous (it reports "wgmma ... serialized" otherwise).
#[test]
fn bench_attention_kernels_keep_wgmma_asynchronous() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/kernels/attention.vyre");
    let src = std::fs::read_to_string(path).expect("reads the kernel");
    let module = vyre::lang::parse(path, &src).unwrap_or_else(|d| panic!("{}", d.render()));
    assert!(module.kernels.len() >= 4);
    for p in &module.kernels {
        let text = emit(p, "sm_90a");
        let dim = if p.name.contains("d128") { 128 } else { 64 };
        let keys = if p.name.contains("_k128") { 128 } else { 64 };
        // s = q · kᵀ: one m64n{keys}k16 per 16 of the head dimension; o +=
        // p · v: one m64n{dim}k16 per 16 keys, A from registers.
        let from_regs = text
            .lines()
            .filter(|l| l.contains("wgmma.mma_async") && l.contains("}, {%r"))
            .count();
        assert_eq!(from_regs, keys / 16, "{}", p.name);
        let shape = format!("wgmma.mma_async.sync.aligned.m64n{keys}k16");
        let scores = text
            .lines()
            .filter(|l| l.contains(&shape) && !l.contains("}, {%r"))
            .count();
        assert!(scores >= dim / 16, "{}: {scores}", p.name);
        assert_ptxas_keeps_wgmma_asynchronous(&p.name, &text);
    }
}

/// Where ptxas is installed: `text` (sm_90a PTX of kernel `name`) compiles
/// with every `wgmma` left asynchronous (ptxas says when it serializes
/// them) and no spills.
fn assert_ptxas_keeps_wgmma_asynchronous(name: &str, text: &str) {
    let Some(ptxas) = ptx_support::ptxas() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("vyre_wgmma_{}_{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ptx = dir.join("k.ptx");
    std::fs::write(&ptx, text).expect("writes PTX");
    let out = std::process::Command::new(&ptxas)
        .args(["-arch=sm_90a", "-v", "-o"])
        .arg(dir.join("k.cubin"))
        .arg(&ptx)
        .output()
        .expect("runs ptxas");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {log}");
    assert!(!log.contains("serialized"), "{name}: {log}");
    assert!(log.contains("0 bytes spill stores"), "{name}: {log}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_gemm_keeps_one_multiply_running_across_the_barrier() {
    // `gemm_wg` with W = 1 waits with `wgmma.wait_group 1`: the previous
    // slice's multiply may run while the next is issued; ptxas must keep
    // it asynchronous (no serialization) without spilling.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/kernels/gemm_wg.vyre");
    let src = std::fs::read_to_string(path).expect("reads the kernel");
    let module = vyre::lang::parse(path, &src).unwrap_or_else(|d| panic!("{}", d.render()));
    for p in &module.kernels {
        let text = emit(p, "sm_90a");
        let waits_one = text.contains("wgmma.wait_group.sync.aligned 1;");
        assert_eq!(waits_one, p.name.contains("_w1"), "{}", p.name);
        assert!(
            text.contains("wgmma.wait_group.sync.aligned 0;"),
            "{}",
            p.name
        );
        assert_ptxas_keeps_wgmma_asynchronous(&p.name, &text);
    }
}

/// Line numbers of the lines of `text` that contain `what`.
fn lines_with(text: &str, what: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(what))
        .map(|(i, _)| i)
        .collect()
}

const FENCE: &str = "fence.proxy.async.shared::cta";

#[test]
fn proxy_fences_follow_generic_writes_of_wgmma_tiles() {
    // Tiles filled by plain stores in copy loops: one fence per slice,
    // before the barrier that publishes them, none between it and `wgmma`.
    let p = warpgroup_gemm(DataType::BF16, true);
    let text = emit(&p, "sm_90a");
    let fences = lines_with(&text, FENCE);
    assert_eq!(fences.len(), 1, "{text}");
    let line = |i: usize| text.lines().nth(i).unwrap_or_default();
    assert!(line(fences[0] + 1).contains("barrier.sync"), "{text}");
    let wgmma = lines_with(&text, "wgmma.fence.sync.aligned");
    assert!(fences[0] < wgmma[0], "{text}");

    // Tiles filled by the copy engine: the multiply loop has no fence; the
    // element-by-element fallback of each tile copy fences after its loop,
    // before any barrier or `wgmma` that follows in the text.
    let src = include_str!("../bench/kernels/gemm_wg.vyre");
    let module = vyre::lang::parse("gemm_wg.vyre", src).unwrap_or_else(|d| panic!("{d}"));
    for name in ["gemm_wg_bf16_tma", "gemm_wg_bf16_tma_w1_g8"] {
        let p = module
            .kernels
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no kernel {name}"));
        let text = emit(p, "sm_90a");
        let lines: Vec<&str> = text.lines().collect();
        let first_wgmma = lines_with(&text, "wgmma.fence.sync.aligned")[0];
        let barrier = lines[..first_wgmma]
            .iter()
            .rposition(|l| l.contains("barrier.sync"))
            .expect("a barrier before the multiply");
        assert!(
            !lines[barrier..first_wgmma]
                .iter()
                .any(|l| l.contains(FENCE)),
            "{name}: a fence between the barrier and wgmma"
        );
        let stores = lines_with(&text, "st.shared.b16");
        assert!(!stores.is_empty(), "{name}: no fallback stores");
        for s in stores {
            let next = lines[s..]
                .iter()
                .position(|l| {
                    l.contains(FENCE)
                        || l.contains("barrier.sync")
                        || l.contains("wgmma.fence")
                        || l.contains("ret;")
                })
                .map(|i| lines[s + i]);
            assert!(
                next.is_some_and(|l| l.contains(FENCE)),
                "{name}: the store at line {s} reaches {next:?} unfenced"
            );
        }
        assemble(&text, "sm_90a", name);
    }
}

#[test]
fn a_tile_write_that_leaves_a_loop_by_break_is_fenced_before_wgmma() {
    // The loop's head is clear (its barrier fences every iteration), but
    // the write before `break` reaches the multiply after the loop.
    let src = r#"
#[kernel(workgroup_size = 128)]
pub fn leave(n: u32, a: &[bf16], out: &mut [f32]) {
    #[shared(swizzled, cols = 64)]
    let mut ta: [bf16; 4096];
    #[shared(swizzled, cols = 64)]
    let mut tb: [bf16; 4096];
    let tid = local_id().x;
    for i in 0..n {
        if i == 7 {
            ta[tid] = a[tid];
            break;
        }
        barrier();
    }
    let mut acc = warpgroup_zero::<f32, 64, 64, 64>();
    acc = warpgroup_mma(&ta, 0, 64, &tb, 0, 64, acc);
    matrix_store(&mut out, 0, 64, acc);
}
"#;
    let module = vyre::lang::parse("leave.vyre", src).unwrap_or_else(|d| panic!("{d}"));
    let p = &module.kernels[0];
    let text = emit(p, "sm_90a");
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("$L_endfor"))
        .expect("the loop's exit");
    let wgmma = lines_with(&text, "wgmma.fence.sync.aligned")[0];
    assert!(
        lines[end..wgmma].iter().any(|l| l.contains(FENCE)),
        "no fence between the loop and wgmma:\n{text}"
    );
    // The barrier in the loop fences what the iteration before wrote: none
    // (the write leaves the loop at once), so no fence precedes it.
    let barrier = lines_with(&text, "barrier.sync")[0];
    assert!(!lines[barrier - 1].contains(FENCE), "{text}");
    assemble(&text, "sm_90a", &p.name);
}

/// A warpgroup that skips its `wgmma` in a branch on `local_id().x / 128`:
/// the multiply sits behind a branch on sm_90a and sm_80 alike, and ptxas
/// keeps it asynchronous.
#[test]
fn a_wgmma_in_a_branch_of_one_warpgroup_assembles() {
    let p = matrix_support::warpgroup::wgmma_branch_case().program();
    assert!(p.validate().is_ok(), "{:?}", p.validate());
    let text = emit(&p, "sm_90a");
    let wgmma = lines_with(&text, "wgmma.mma_async");
    assert_eq!(wgmma.len(), 4, "{text}");
    // The `if` on the warpgroup opens between the copies' barrier and the
    // first multiply.
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let barrier = lines_with(&text, "barrier.sync 0;")[0];
    assert!(
        lines[barrier..wgmma[0]]
            .iter()
            .any(|l| l.starts_with("@!%p") && l.contains("bra $L_else_")),
        "{text}"
    );
    assert_ptxas_keeps_wgmma_asynchronous(&p.name, &text);
    assemble(&emit(&p, "sm_80"), "sm_80", &p.name);
}
