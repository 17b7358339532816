//! `ptxas` accepts the PTX of every corpus kernel (`tests/kernels/`,
//! `bench/kernels/`, `examples/*/kernels/`) and of random programs from
//! vyre-testkit's generator, for sm_70, sm_80 and sm_90; the bench kernels
//! get the accesses their comments promise.

mod ptx_support;

use std::path::Path;

use ptx_support::{ARCHES, ptxas};
use vyre::DispatchConfig;
use vyre::backend::ptx;
use vyre_testkit::corpus::corpus_files;

fn kernels() -> Vec<(String, vyre::ir::Program)> {
    let mut out = Vec::new();
    for file in corpus_files(Path::new(env!("CARGO_MANIFEST_DIR"))) {
        let source = std::fs::read_to_string(&file).unwrap();
        let module = vyre::lang::parse(&file.display().to_string(), &source)
            .unwrap_or_else(|d| panic!("{} does not parse:\n{d}", file.display()));
        for p in module.kernels {
            out.push((format!("{}::{}", file.display(), p.name), p));
        }
    }
    out
}

#[test]
fn corpus_kernels_assemble() {
    let ks = kernels();
    assert!(ks.len() >= 10, "corpus too small: {}", ks.len());
    let Some(ptxas) = ptxas() else {
        // Still check that every kernel emits.
        for (label, p) in &ks {
            ptx::emit_ptx(p, &DispatchConfig::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
        }
        return;
    };
    for (label, p) in &ks {
        for arch in ARCHES {
            let cfg = DispatchConfig::default().with_target_arch(arch);
            let emitted = ptx::emit_ptx(p, &cfg);
            if needs_sm80(p) && arch_number(arch) < 80 {
                // Tensor-core kernels are a clear error below sm_80.
                let e = emitted.expect_err(label).to_string();
                assert!(e.contains("needs sm_80 or later"), "{label} on {arch}: {e}");
                continue;
            }
            let text = emitted.unwrap_or_else(|e| panic!("{label}: {e}"));
            ptx::assemble(&ptxas, &text, arch).unwrap_or_else(|e| panic!("{label} on {arch}: {e}"));
        }
    }
}

/// Kernels with matrix operations or asynchronous copies (`mma.sync`,
/// `cp.async`: sm_80 and later).
fn needs_sm80(p: &vyre::ir::Program) -> bool {
    p.uses_matrices() || p.uses_async_copies()
}

/// `sm_86` -> 86.
fn arch_number(arch: &str) -> u32 {
    arch.trim_start_matches("sm_")
        .trim_end_matches('a')
        .parse()
        .unwrap_or(0)
}

#[test]
fn bench_kernels_get_fast_accesses() {
    let ks = kernels();
    let find = |name: &str| {
        ks.iter()
            .find(|(l, _)| l.contains("bench/kernels") && l.ends_with(&format!("::{name}")))
            .map(|(_, p)| {
                ptx::emit_ptx(p, &DispatchConfig::default().with_target_arch("sm_90")).unwrap()
            })
    };
    if let Some(t) = find("saxpy4") {
        assert!(
            t.contains("ld.global.v4.f32"),
            "saxpy4: y load not vectorized\n{t}"
        );
        assert!(
            t.contains("st.global.v4.f32"),
            "saxpy4: y store not vectorized\n{t}"
        );
        assert!(
            t.contains("ld.global.nc.v4.f32"),
            "saxpy4: x load not vectorized\n{t}"
        );
    }
    if let Some(t) = find("sum_partials") {
        let v4: Vec<&str> = t
            .lines()
            .filter(|l| l.contains("ld.global.nc.v4.f32"))
            .collect();
        assert_eq!(v4.len(), 1, "sum_partials: one proven vector load\n{t}");
        assert!(
            !v4[0].trim().starts_with('@'),
            "sum_partials: vector load should be proven\n{t}"
        );
    }
    // Narrow rows (when the bench has them): 8 bf16 per 16-byte access.
    for name in ["softmax_rows_bf16", "layer_norm_rows_bf16"] {
        if let Some(t) = find(name) {
            assert!(
                t.contains("ld.global.nc.v4.b32"),
                "{name}: x load not vectorized\n{t}"
            );
            assert!(
                t.contains("st.global.v4.b32"),
                "{name}: y store not vectorized\n{t}"
            );
            assert!(
                !t.lines().any(|l| {
                    let l = l.trim();
                    !l.starts_with('@')
                        && (l.starts_with("ld.global.nc.u16") || l.starts_with("st.global.u16"))
                }),
                "{name}: unguarded scalar bf16 accesses\n{t}"
            );
        }
    }
    if let Some(t) = find("sgemm_tiled32") {
        // Shared tiles indexed by local ids and a constant-range loop:
        // no shared access keeps a check.
        let checked_shared = t
            .lines()
            .filter(|l| l.trim().starts_with('@') && l.contains(".shared."))
            .count();
        assert_eq!(checked_shared, 0, "sgemm_tiled32: shared checks left\n{t}");
    }
}

#[test]
fn random_programs_assemble() {
    let Some(ptxas) = ptxas() else { return };
    let cfg = vyre_testkit::GenConfig::default();
    let cases: u64 = std::env::var("VYRE_PTX_RANDOM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    for seed in 0..cases {
        let case = vyre_testkit::generate(0xC0DA + seed, &cfg);
        let arch = ARCHES[(seed % 3) as usize];
        let config = DispatchConfig::default().with_target_arch(arch);
        let text =
            ptx::emit_ptx(&case.program, &config).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        ptx::assemble(&ptxas, &text, arch).unwrap_or_else(|e| panic!("seed {seed} on {arch}: {e}"));
    }
}

#[test]
fn random_programs_emit_without_panics() {
    // Emission only (fast): many more programs than `ptxas` can take.
    let cfg = vyre_testkit::GenConfig::default();
    for seed in 0..3000u64 {
        let case = vyre_testkit::generate(0xBEEF_0000 + seed, &cfg);
        let mut unchecked = case.program.clone();
        unchecked.unchecked = true;
        for p in [&case.program, &unchecked] {
            ptx::emit_ptx(p, &DispatchConfig::default())
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }
}
