//! `atomic_add` on `f32` buffer elements: the language's rules, what each
//! target emits, and the sums on every device of this machine (the CPU
//! interpreter, wgpu where an adapter with `SHADER_FLOAT32_ATOMIC` exists,
//! CUDA where a GPU exists).

#![cfg(feature = "compiler")]

mod device_support;
mod lang_support;

use device_support::{devices, spec_for_every_target};
use lang_support::{error, kernel};
use vyre::driver::CompileError;
use vyre::{DispatchConfig, Grid};

/// Each workgroup adds its 256 values into `out[0]` with one atomic per
/// subgroup, and every invocation adds 1 to `out[1]` and records the old
/// value of `out[2]` after adding 0.5.
const SUM: &str = "#[kernel(workgroup_size = 256)]
pub fn sum(x: &[f32], out: &mut [f32], seen: &mut [f32]) {
    let i = global_id().x;
    let v = if i < x.len() { x[i] } else { 0.0 };
    let s = subgroup_add(v);
    if subgroup_invocation_id() == 0 {
        out.atomic_add(0, s);
    }
    out.atomic_add(1, 1.0);
    let old = out.atomic_add(2, 0.5);
    if i < seen.len() {
        seen[i] = old;
    }
}";

#[test]
fn float_atomic_add_is_accepted_on_buffers_only() {
    let p = kernel(SUM);
    assert!(p.uses_float_atomics());
    for (src, want) in [
        (
            "#[kernel(workgroup_size = 32)]\npub fn k(x: &mut [f32]) {\n    #[shared]\n    let mut t: [f32; 32];\n    t.atomic_add(0, 1.0);\n    x[0] = t[0];\n}\n",
            "`atomic_add` of `f32` works on buffer elements only",
        ),
        (
            "#[kernel(workgroup_size = 32)]\npub fn k(x: &mut [f32]) {\n    x.atomic_max(0, 1.0);\n}\n",
            "`atomic_max` needs `u32` or `i32` elements, but `x` holds `f32`",
        ),
        (
            "#[kernel(workgroup_size = 32)]\npub fn k(x: &mut [f64]) {\n    x.atomic_add(0, 1.0);\n}\n",
            "`atomic_add` needs `u32`, `i32` or (buffers) `f32` elements, but `x` holds `f64`",
        ),
    ] {
        let err = error(src);
        assert!(err.contains(want), "{err}");
        assert!(err.contains("t.vyre:"), "{err}");
    }
}

#[test]
fn each_target_emits_a_float_atomic_or_says_it_cannot() {
    let p = kernel(SUM);
    let config = DispatchConfig::default();
    let ptx = vyre::driver::emit_aot_target("ptx", &p, &config).expect("ptx");
    let ptx = String::from_utf8(ptx).expect("utf-8");
    // The discarded sums are reductions, the kept old value an `atom`.
    assert_eq!(ptx.matches("red.global.add.f32").count(), 2, "{ptx}");
    assert_eq!(ptx.matches("atom.global.add.f32").count(), 1, "{ptx}");
    let wgsl = vyre::driver::emit_aot_target("wgsl", &p, &config).expect("wgsl");
    let wgsl = String::from_utf8(wgsl).expect("utf-8");
    assert!(wgsl.contains("atomic<f32>"), "{wgsl}");
    assert_eq!(wgsl.matches("atomicAdd(").count(), 3, "{wgsl}");
    vyre::driver::emit_aot_target("spirv", &p, &config).expect("spirv");
    vyre::driver::emit_aot_target("msl", &p, &config).expect("msl");
    match vyre::backend::naga::emit::hlsl_source(&p, &config) {
        Err(CompileError::Unsupported { construct, .. }) => {
            assert!(construct.contains("`atomic_add` on `f32`"), "{construct}");
        }
        other => panic!("hlsl: {other:?}"),
    }
}

#[test]
fn float_atomic_sums_are_exact_on_every_device() {
    let p = kernel(SUM);
    let spec = spec_for_every_target(&p, "tests::float_atomics::sum");
    // Integers and halves: every order of the additions is exact.
    let n = 10_000usize;
    let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 - 40.5).collect();
    let want: f64 = x.iter().map(|&v| f64::from(v)).sum();
    let groups = n.div_ceil(256);
    let threads = groups * 256;
    for dev in devices() {
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.upload(&[0.0f32; 3]).unwrap();
        let mut seen = dev.zeros::<f32>(threads).unwrap();
        let r = spec.with(|s| {
            dev.launch(
                s,
                Grid::threads(n),
                &mut [xb.arg(), out.arg_mut(), seen.arg_mut()],
            )
        });
        if let Err(vyre::Error::Unsupported { what, .. }) = &r {
            assert!(what.contains("SHADER_FLOAT32_ATOMIC"), "{what}");
            println!("skipped: {}: {what}", dev.name());
            continue;
        }
        r.unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        let got = dev.download(&out).unwrap();
        assert_eq!(f64::from(got[0]), want, "{}", dev.name());
        assert_eq!(got[1], threads as f32, "{}", dev.name());
        assert_eq!(got[2], threads as f32 * 0.5, "{}", dev.name());
        // Each invocation saw a distinct old value: 0, 0.5, 1, ...
        let mut seen = dev.download(&seen).unwrap();
        seen.sort_by(f32::total_cmp);
        for (k, v) in seen.iter().enumerate() {
            assert_eq!(*v, k as f32 * 0.5, "{}", dev.name());
        }
    }
}
