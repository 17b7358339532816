//! The middle layer's bounds analysis serves every target: every access of
//! every corpus, example and bench kernel gets one check decision, and the
//! PTX emitter, the naga lowering (SPIR-V with vector views; WGSL, MSL and
//! HLSL without) and the reference interpreter (which reports an access
//! that goes out of range where the analysis elided the check) each
//! consult it for every access they emit and use the same answer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vyre::DispatchConfig;
use vyre::backend::naga::lower::lower_analysed;
use vyre::backend::ptx::emit_ptx_analysed;
use vyre::backend::reference::{Compiled, RefArg};
use vyre::driver::BoundsChecks;
use vyre::ir::Program;
use vyre::mid::{Analysis, IndexChecks, QueryKind};

/// Every `.vyre` file of the corpus, the examples and the benchmarks.
fn kernel_files() -> Vec<PathBuf> {
    vyre_testkit::corpus::corpus_files(Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn kernels(path: &Path) -> Vec<Program> {
    let source = std::fs::read_to_string(path).expect("read kernel file");
    let name = path.display().to_string();
    vyre::lang::parse(&name, &source)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .kernels
}

/// Per target: access -> (kind of use, answer) of every question asked.
type Uses = HashMap<usize, Vec<(QueryKind, bool)>>;

/// Emit `program` for every target with one analysis, returning what each
/// target asked.
fn uses_per_target(program: &Program, config: &DispatchConfig) -> Vec<(&'static str, Uses)> {
    let analysis = Analysis::new(program, config).expect("valid kernel");
    let checks = analysis.checks();
    let mut out = Vec::new();
    let mut collect = |target: &'static str| {
        let mut uses = Uses::new();
        for q in checks.take_queries() {
            uses.entry(q.access).or_default().push((q.kind, q.checked));
        }
        out.push((target, uses));
    };
    emit_ptx_analysed(&analysis, config).expect("PTX");
    collect("ptx");
    lower_analysed(&analysis, config, true).expect("SPIR-V lowering");
    collect("spirv");
    lower_analysed(&analysis, config, false).expect("WGSL/MSL/HLSL lowering");
    collect("wgsl/msl/hlsl");
    // The reference target runs under the default configuration.
    if *config == DispatchConfig::default() {
        Compiled::analysed(&analysis).expect("reference compile");
        collect("reference");
    }
    out
}

fn assert_same_decisions(program: &Program, config: &DispatchConfig, file: &Path) -> usize {
    let decisions = IndexChecks::analyse(program, config).decisions().to_vec();
    let per_target = uses_per_target(program, config);
    for (target, uses) in &per_target {
        for (access, d) in decisions.iter().enumerate() {
            let Some(used) = uses.get(&access) else {
                assert!(
                    !d.reachable,
                    "{}: kernel `{}`: {target} emitted access #{access} without consulting the bounds analysis",
                    file.display(),
                    program.name
                );
                continue;
            };
            for (kind, checked) in used {
                if *kind != QueryKind::InGroup {
                    assert_eq!(
                        *checked,
                        d.checked,
                        "{}: kernel `{}`: {target} got another answer for access #{access}",
                        file.display(),
                        program.name
                    );
                }
            }
        }
    }
    // Across targets: an access emitted on its own is checked on one
    // target exactly when it is checked on every other.
    for (access, d) in decisions.iter().enumerate() {
        for (target, uses) in &per_target {
            for (kind, checked) in uses.get(&access).into_iter().flatten() {
                if *kind == QueryKind::Scalar {
                    assert_eq!(
                        *checked,
                        d.checked,
                        "{}: `{}` access #{access} on {target}",
                        file.display(),
                        program.name
                    );
                }
            }
        }
    }
    decisions.len()
}

#[test]
fn every_access_of_every_kernel_gets_one_decision_on_every_target() {
    let files = kernel_files();
    assert!(files.len() >= 20, "found only {} kernel files", files.len());
    let mut accesses = 0;
    let mut kernels_seen = 0;
    for config in [
        DispatchConfig::default(),
        DispatchConfig::default().with_bounds_checks(BoundsChecks::Always),
    ] {
        for file in &files {
            for program in kernels(file) {
                // Tile copies reach the targets as the middle layer's loop
                // (every target but Hopper's PTX, whose form keeps the copy
                // beside that loop).
                let program = vyre::mid::lower_tile_copies(&program, program.workgroup_size, false)
                    .into_owned();
                // Targets compile `mid::widen`'s normal form only: a kernel
                // with narrow types goes through `prepare` (which widens)
                // first; one without is its own widened form.
                if matches!(vyre::mid::widen(&program), Cow::Borrowed(_)) {
                    accesses += assert_same_decisions(&program, &config, file);
                }
                kernels_seen += 1;
                // What the device targets analyse: the prepared program
                // (widened, unrolled, private arrays with constant indices
                // as locals).
                if let Cow::Owned(prepared) = vyre::mid::prepare(&program) {
                    accesses += assert_same_decisions(&prepared, &config, file);
                }
            }
        }
    }
    assert!(kernels_seen >= 40, "{kernels_seen} kernels");
    assert!(accesses >= 200, "{accesses} accesses");
}

fn one_kernel(source: &str) -> Program {
    let mut module = vyre::lang::parse("test.vyre", source).expect("parse");
    assert_eq!(module.kernels.len(), 1);
    module.kernels.remove(0)
}

#[test]
fn a_guard_on_key_plus_offset_elides_checks_on_every_target() {
    // `i + 3 < y.len()` with `i` a multiple of 4 proves y[i] .. y[i + 3];
    // x has its own length, so its loads keep their checks.
    let program = one_kernel(
        "#[kernel(workgroup_size = 64)]
         pub fn k(x: &[f32], y: &mut [f32]) {
             let i = global_id().x * 4;
             if i + 3 < y.len() {
                 y[i + 2] = x[i + 2];
                 y[i + 3] = y[i];
             }
         }",
    );
    let config = DispatchConfig::default();
    let checks = IndexChecks::analyse(&program, &config);
    let checked: Vec<bool> = checks.decisions().iter().map(|d| d.checked).collect();
    // Program order: store y[i+2], load x[i+2], store y[i+3], load y[i].
    assert_eq!(checked, [false, true, false, false]);
    for (target, uses) in uses_per_target(&program, &config) {
        for (access, want) in checked.iter().enumerate() {
            assert!(
                uses.get(&access)
                    .is_some_and(|u| u.iter().all(|(_, c)| c == want)),
                "{target}: access #{access}: {uses:?}"
            );
        }
    }
    // Always: every access keeps its check.
    let always = DispatchConfig::default().with_bounds_checks(BoundsChecks::Always);
    let all = IndexChecks::analyse(&program, &always);
    assert!(all.decisions().iter().all(|d| d.checked));
}

#[test]
fn a_while_condition_keeps_its_check_when_the_body_moves_the_index() {
    // The guard `i < x.len()` holds on entry, but the condition is read
    // again after `i = i + 1`: the PTX emitter used to elide this check
    // (it dropped facts about the body's locals only after the condition).
    let program = one_kernel(
        "#[kernel(workgroup_size = 64)]
         pub fn k(x: &[u32], y: &mut [u32]) {
             let mut i = global_id().x;
             if i < x.len() {
                 while x[i] != 0u32 {
                     i = i + 1u32;
                 }
                 y[global_id().x] = i;
             }
         }",
    );
    let config = DispatchConfig::default();
    let checks = IndexChecks::analyse(&program, &config);
    assert!(checks.decisions()[0].checked, "{:?}", checks.decisions());
    let analysis = Analysis::new(&program, &config).expect("valid");
    let ptx = emit_ptx_analysed(&analysis, &config).expect("PTX");
    assert!(
        ptx.lines()
            .any(|l| l.trim_start().starts_with('@') && l.contains("ld.global.nc.u32")),
        "the while condition's load is not predicated:\n{ptx}"
    );
}

#[test]
fn a_shift_by_32_or_more_shifts_by_the_low_bits_only() {
    // `4096 >> 40` is `4096 >> 8 == 16`, one past the end of `sh`: the
    // analysis used to take the amount as is (a bound of 0) and elide the
    // check. Found by the random program generator.
    let program = one_kernel(
        "#[kernel(workgroup_size = 16)]
         pub fn k(y: &mut [u32]) {
             #[shared]
             let mut sh: [u32; 16];
             sh[local_id().x] = 1u32;
             barrier();
             y[global_id().x] = sh[4096u32 >> 40u32];
         }",
    );
    let mut y = vec![7u32; 16];
    vyre::backend::reference::run(&program, [1, 1, 1], &mut [RefArg::Buffer(&mut y)])
        .expect("the out-of-range load is checked and reads 0");
    assert_eq!(y, vec![0; 16]);
}

#[test]
fn code_after_a_jump_is_unreachable_but_still_decided() {
    let program = one_kernel(
        "#[kernel(workgroup_size = 64)]
         pub fn k(y: &mut [u32]) {
             let i = global_id().x;
             if i >= y.len() {
                 return;
             }
             y[i] = 2u32;
             return;
             y[i] = 3u32;
         }",
    );
    let checks = IndexChecks::analyse(&program, &DispatchConfig::default());
    let d = checks.decisions();
    assert_eq!(d.len(), 2);
    assert!(d[0].reachable && !d[1].reachable);
    // After `if i >= y.len() { return; }`, y[i] is in range.
    assert!(!d[0].checked && !d[1].checked);
}
