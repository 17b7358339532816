//! MSL and HLSL (and WGSL) text of a few kernels, compared with the files
//! under `tests/snapshots/`. `VYRE_BLESS=1` rewrites them. A change in the
//! lowering or a naga update shows up here as a readable diff.

mod naga_common;

use std::path::PathBuf;

use vyre::DispatchConfig;
use vyre::driver::emit_aot_target;

fn check(name: &str, target: &str, ext: &str) {
    let program = naga_common::all()
        .into_iter()
        .map(|c| c.program)
        .chain(naga_common::narrow::programs())
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no test program {name}"));
    let text = String::from_utf8(
        emit_aot_target(target, &program, &DispatchConfig::default())
            .unwrap_or_else(|e| panic!("{name} for {target}: {e}")),
    )
    .unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.{ext}"));
    if std::env::var("VYRE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with VYRE_BLESS=1 to create it",
            path.display()
        )
    });
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(text.lines().count()));
        panic!(
            "{} differs from the emitted {target} at line {}:\n  snapshot: {:?}\n  emitted:  {:?}\nrun with VYRE_BLESS=1 to accept",
            path.display(),
            first + 1,
            want.lines().nth(first).unwrap_or(""),
            text.lines().nth(first).unwrap_or(""),
        );
    }
}

#[test]
fn saxpy_msl() {
    check("saxpy", "msl", "metal");
}

#[test]
fn saxpy_hlsl() {
    check("saxpy", "hlsl", "hlsl");
}

#[test]
fn saxpy_wgsl() {
    check("saxpy", "wgsl", "wgsl");
}

#[test]
fn reduce_msl() {
    check("reduce_sum", "msl", "metal");
}

#[test]
fn reduce_hlsl() {
    check("reduce_sum", "hlsl", "hlsl");
}

#[test]
fn atomics_msl() {
    check("atomics", "msl", "metal");
}

#[test]
fn atomics_hlsl() {
    check("atomics", "hlsl", "hlsl");
}

// A narrow kernel: packed `bf16` words, four aligned loads from two words,
// whole-word atomic stores with the element-wise clear-and-set fallback,
// integer round-to-nearest-even.
#[test]
fn narrow_vector_bf16_wgsl() {
    check("narrow_vector_bf16", "wgsl", "wgsl");
}

#[test]
fn narrow_vector_bf16_msl() {
    check("narrow_vector_bf16", "msl", "metal");
}

#[test]
fn narrow_vector_bf16_hlsl() {
    check("narrow_vector_bf16", "hlsl", "hlsl");
}

// `f16` rounding and widening, and `u8` wrapping, element-wise.
#[test]
fn narrow_casts_f16_wgsl() {
    check("narrow_casts_f16", "wgsl", "wgsl");
}

#[test]
fn narrow_map_u8_wgsl() {
    check("narrow_map_u8", "wgsl", "wgsl");
}
