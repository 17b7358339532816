//! Every kernel of the `.vyre` corpus (`tests/kernels/`, `bench/kernels/`,
//! `examples/*/kernels/`) emits for all four naga targets: SPIR-V passes
//! `spirv-val` (required when `VYRE_REQUIRE_VULKAN=1`), WGSL parses back and
//! validates, MSL and HLSL contain their entry point.

use std::path::Path;

use vyre::DispatchConfig;
use vyre::driver::{BackendError, emit_aot_target};
use vyre_testkit::corpus::{corpus_files, require_vulkan, spirv_val, validate_spirv};
use vyre_testkit::harness::inexpressible;

#[test]
fn corpus_kernels_emit_and_validate_for_naga_targets() {
    let files = corpus_files(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(!files.is_empty(), "no .vyre files found");
    let val = spirv_val();
    if val.is_none() {
        assert!(
            !require_vulkan(),
            "VYRE_REQUIRE_VULKAN=1 but spirv-val was not found"
        );
        println!("skipped: spirv-val not found (SPIR-V is still emitted and naga-validated)");
    }
    let dir = std::env::temp_dir().join(format!("vyre-naga-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = DispatchConfig::default();
    let mut failures = Vec::new();
    let mut kernels = 0;
    let mut lacks = 0;
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let module = match vyre::lang::parse(&file.display().to_string(), &source) {
            Ok(m) => m,
            Err(d) => {
                failures.push(format!(
                    "{}: does not parse: {:?}",
                    file.display(),
                    d.diagnostics
                ));
                continue;
            }
        };
        for p in &module.kernels {
            kernels += 1;
            let label = format!("{}::{}", file.display(), p.name);
            for target in ["spirv", "wgsl", "msl", "hlsl"] {
                let bytes = match emit_aot_target(target, p, &config) {
                    Ok(b) => b,
                    // A kernel the target cannot express (the 64-bit types
                    // on WGSL, `f64` on MSL, `f64` `floor` or `f32` atomics
                    // on HLSL: `inexpressible`) is reported, not emitted;
                    // vyre-build records it as a placeholder. Only those.
                    Err(BackendError::TargetLacks { .. }) if inexpressible(p, target).is_some() => {
                        lacks += 1;
                        continue;
                    }
                    Err(e) => {
                        failures.push(format!("{label} for {target}: {e}"));
                        continue;
                    }
                };
                let text = String::from_utf8_lossy(&bytes);
                match target {
                    "spirv" => {
                        if let Some(val) = &val {
                            let path = dir.join(format!("{}.spv", p.name));
                            // Subgroup kernels are SPIR-V 1.3 (Vulkan 1.1).
                            let env = if p.uses_subgroups() {
                                "vulkan1.1"
                            } else {
                                "vulkan1.0"
                            };
                            if let Err(e) = validate_spirv(val, &path, &bytes, env) {
                                failures.push(format!("{label}: spirv-val: {e}"));
                            }
                        }
                    }
                    "wgsl" => match naga::front::wgsl::parse_str(&text) {
                        Err(e) => failures.push(format!(
                            "{label}: WGSL does not parse: {}",
                            e.emit_to_string(&text)
                        )),
                        Ok(m) => {
                            // What the kernel's module was validated with.
                            let caps = vyre::backend::naga::emit::capabilities(p);
                            if let Err(e) = naga::valid::Validator::new(
                                naga::valid::ValidationFlags::all(),
                                caps,
                            )
                            .validate(&m)
                            {
                                failures.push(format!(
                                    "{label}: WGSL does not validate: {}",
                                    e.emit_to_string(&text)
                                ));
                            }
                        }
                    },
                    _ => {
                        // `// vyre kernel `k`: entry point `e``, then `e` defined.
                        let entry = text
                            .lines()
                            .next()
                            .and_then(|l| l.rsplit('`').nth(1))
                            .unwrap_or_default();
                        let def = if target == "msl" {
                            format!("kernel void {entry}(")
                        } else {
                            format!("void {entry}(")
                        };
                        if entry.is_empty() || !text.contains(&def) {
                            failures.push(format!("{label}: no {target} entry point `{entry}`"));
                        }
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{kernels} kernels from {} files; {lacks} (kernel, target) pairs the target cannot express",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
