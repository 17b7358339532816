//! Shared memory above the static 48 KiB on PTX: one `.extern .shared`
//! array holds every shared array at a 16-byte-aligned offset and the module
//! declares `vyre_dyn_shared_bytes` (read by the CUDA runtime at load);
//! `ptxas` accepts it for sm_80 and sm_90. At or below 48 KiB the text keeps
//! its static `.shared` arrays. Without `ptxas` the assembly checks print
//! `skipped: ptxas not found` (`VYRE_REQUIRE_PTXAS=1` makes that a failure).

mod ptx_support;

use ptx_support::{emit, ptxas};
use vyre::backend::ptx;
use vyre::ir::Program;

/// A kernel with shared arrays `[f32; a]` and `[u32; b]`, each written by
/// every invocation, then read back crosswise after a barrier.
fn kernel(a: u32, b: u32) -> Program {
    let src = format!(
        "#[kernel(workgroup_size = 256)]
pub fn big_shared(out: &mut [u32]) {{
    #[shared] let mut xs: [f32; {a}];
    #[shared] let mut ys: [u32; {b}];
    let lid = local_id().x;
    let mut i = lid;
    while i < {a}u32 {{
        xs[i] = (i as f32) * 0.5;
        i = i + 256u32;
    }}
    let mut j = lid;
    while j < {b}u32 {{
        ys[j] = j * 3u32;
        j = j + 256u32;
    }}
    barrier();
    let g = global_id().x;
    if g < out.len() {{
        out[g] = ys[{b}u32 - 1u32 - lid] + (xs[{a}u32 - 1u32 - lid] as u32);
    }}
}}
"
    );
    let module = vyre::lang::parse("big_shared.vyre", &src)
        .unwrap_or_else(|d| panic!("does not parse:\n{d}"));
    module.kernels.into_iter().next().expect("one kernel")
}

#[test]
fn above_48_kib_uses_dynamic_shared_memory() {
    // 32 KiB + 32 KiB = 64 KiB.
    let p = kernel(8192, 8192);
    assert_eq!(p.shared_bytes(), 64 * 1024);
    p.validate().unwrap_or_else(|e| panic!("invalid: {e:?}"));
    for arch in ["sm_80", "sm_90"] {
        let text = emit(&p, arch);
        assert!(
            text.contains(".extern .shared .align 16 .b8 vyre_dyn[];"),
            "{text}"
        );
        assert!(
            text.contains(".global .align 4 .u32 vyre_dyn_shared_bytes = 65536;"),
            "{text}"
        );
        assert!(
            !text.contains("vyre_s0") && !text.contains("vyre_s1"),
            "{text}"
        );
        // The second array sits 32 KiB into the dynamic memory.
        assert!(text.contains("vyre_dyn+32768"), "{text}");
        if let Some(ptxas) = ptxas() {
            let cubin = ptx::assemble(&ptxas, &text, arch)
                .unwrap_or_else(|e| panic!("{arch}: {e}\n--- PTX ---\n{text}"));
            assert!(cubin.starts_with(b"\x7fELF"), "cubin is not an ELF file");
        }
    }
}

#[test]
fn dynamic_offsets_are_16_byte_aligned() {
    // 49155 bytes of f32 + u32 arrays whose first is not a multiple of 16.
    let p = kernel(12289, 3);
    let text = emit(&p, "sm_80");
    // 12289 * 4 = 49156 bytes, rounded up to 49168.
    assert!(text.contains("vyre_dyn+49168"), "{text}");
    assert!(
        text.contains(".u32 vyre_dyn_shared_bytes = 49184;"),
        "{text}"
    );
    if let Some(ptxas) = ptxas() {
        ptx::assemble(&ptxas, &text, "sm_80").unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

#[test]
fn at_most_48_kib_stays_static() {
    // 20 KiB + 20 KiB = 40 KiB.
    let p = kernel(5120, 5120);
    let text = emit(&p, "sm_80");
    assert!(
        text.contains(".shared .align 16 .b32 vyre_s0[5120];"),
        "{text}"
    );
    assert!(
        text.contains(".shared .align 16 .b32 vyre_s1[5120];"),
        "{text}"
    );
    assert!(!text.contains("vyre_dyn"), "{text}");
    // Exactly 48 KiB is still static.
    let p = kernel(6144, 6144);
    let text = emit(&p, "sm_80");
    assert!(!text.contains("vyre_dyn"), "{text}");
    if let Some(ptxas) = ptxas() {
        ptx::assemble(&ptxas, &text, "sm_80").unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

#[test]
fn the_language_limit_is_227_kib() {
    assert_eq!(vyre::ir::validate::MAX_SHARED_BYTES, 227 * 1024);
    assert_eq!(vyre::ir::validate::PORTABLE_SHARED_BYTES, 48 * 1024);
    // 227 KiB exactly is accepted and assembles for sm_90.
    let p = kernel(29056, 29056);
    assert_eq!(p.shared_bytes(), 227 * 1024);
    p.validate().unwrap_or_else(|e| panic!("invalid: {e:?}"));
    if let Some(ptxas) = ptxas() {
        let text = emit(&p, "sm_90");
        ptx::assemble(&ptxas, &text, "sm_90").unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    // One more element is not.
    let src = "#[kernel(workgroup_size = 64)]
pub fn too_big(out: &mut [u32]) {
    #[shared] let mut xs: [u32; 58113];
    xs[0] = 1u32;
    barrier();
    out[0] = xs[0];
}
";
    let e = vyre::lang::parse("too_big.vyre", src).expect_err("too much shared memory");
    let e = e.to_string();
    assert!(e.contains("at most 232448 bytes per workgroup"), "{e}");
}
