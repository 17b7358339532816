//! Every test program emits for all four naga targets: SPIR-V passes
//! `spirv-val` (required when `VYRE_REQUIRE_VULKAN=1`), WGSL parses back
//! through naga's front end and validates, MSL and HLSL are produced from a
//! validated module and match snapshots for a few kernels.

mod naga_common;

use std::path::PathBuf;
use std::process::Command;

use vyre::DispatchConfig;
use vyre::driver::emit_aot_target;

fn require_vulkan() -> bool {
    std::env::var("VYRE_REQUIRE_VULKAN").is_ok_and(|v| v == "1")
}

#[test]
fn all_targets_emit_for_every_program() {
    let config = DispatchConfig::default();
    for case in naga_common::all() {
        let p = &case.program;
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            let bytes = emit_aot_target(target, p, &config)
                .unwrap_or_else(|e| panic!("{} for {target}: {e}", p.name));
            assert!(!bytes.is_empty(), "{} for {target}: empty", p.name);
        }
    }
}

#[test]
fn spirv_is_word_aligned_little_endian_with_magic() {
    let p = naga_common::saxpy().program;
    let bytes = emit_aot_target("spirv", &p, &DispatchConfig::default()).unwrap();
    assert_eq!(bytes.len() % 4, 0);
    assert_eq!(&bytes[..4], &0x0723_0203u32.to_le_bytes());
}

fn spirv_val() -> Option<PathBuf> {
    let candidate = std::env::var_os("VYRE_SPIRV_VAL")
        .map_or_else(|| PathBuf::from("spirv-val"), PathBuf::from);
    Command::new(&candidate)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| candidate)
}

#[test]
fn spirv_passes_spirv_val() {
    let Some(val) = spirv_val() else {
        assert!(
            !require_vulkan(),
            "VYRE_REQUIRE_VULKAN=1 but spirv-val was not found (apt-get install spirv-tools)"
        );
        println!("skipped: spirv-val not found");
        return;
    };
    let dir = std::env::temp_dir().join(format!("vyre-spirv-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = DispatchConfig::default();
    let mut failures = Vec::new();
    for case in naga_common::all() {
        let p = &case.program;
        let bytes = emit_aot_target("spirv", p, &config).unwrap();
        let path = dir.join(format!("{}.spv", p.name));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new(&val)
            .args(["--target-env", "vulkan1.0"])
            .arg(&path)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{}: {}{}",
                p.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "spirv-val failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn wgsl_reparses_and_validates() {
    let config = DispatchConfig::default();
    for case in naga_common::all() {
        let p = &case.program;
        let text = String::from_utf8(emit_aot_target("wgsl", p, &config).unwrap()).unwrap();
        let module = naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: WGSL does not parse: {}\n{text}",
                p.name,
                e.emit_to_string(&text)
            )
        });
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| {
            panic!(
                "{}: re-parsed WGSL does not validate: {e:?}\n{text}",
                p.name
            )
        });
        assert_eq!(module.entry_points.len(), 1);
        assert_eq!(module.entry_points[0].workgroup_size, p.workgroup_size);
    }
}

#[test]
#[ignore = "prints the emitted text; run with --ignored --nocapture"]
fn show() {
    let name = std::env::var("VYRE_SHOW").unwrap_or_else(|_| "saxpy".into());
    let target = std::env::var("VYRE_SHOW_TARGET").unwrap_or_else(|_| "wgsl".into());
    for case in naga_common::all() {
        if case.program.name == name {
            let bytes =
                emit_aot_target(&target, &case.program, &DispatchConfig::default()).unwrap();
            println!("{}", String::from_utf8_lossy(&bytes));
        }
    }
}
