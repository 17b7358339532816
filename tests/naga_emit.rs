//! Every test program emits for all four naga targets: SPIR-V passes
//! `spirv-val` (required when `VYRE_REQUIRE_VULKAN=1`), WGSL parses back
//! through naga's front end and validates, MSL and HLSL are produced from a
//! validated module and match snapshots for a few kernels.

mod naga_common;

use vyre::DispatchConfig;
use vyre::driver::emit_aot_target;
use vyre_testkit::corpus::{require_vulkan, spirv_val, validate_spirv};

/// Every test program: the shared cases and those with private arrays and
/// strided loops.
fn cases() -> Vec<naga_common::Case> {
    let mut all = naga_common::all();
    all.extend(naga_common::private_and_stepped());
    all
}

#[test]
fn all_targets_emit_for_every_program() {
    let config = DispatchConfig::default();
    for case in cases() {
        let p = &case.program;
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            let bytes = emit_aot_target(target, p, &config)
                .unwrap_or_else(|e| panic!("{} for {target}: {e}", p.name));
            assert!(!bytes.is_empty(), "{} for {target}: empty", p.name);
            // Writers can leave a failed entry point out; make sure it is there.
            let text = String::from_utf8_lossy(&bytes);
            let [x, y, z] = p.workgroup_size;
            match target {
                "msl" => assert!(
                    text.contains(&format!("kernel void {}(", p.name)),
                    "{}: no MSL kernel",
                    p.name
                ),
                "hlsl" => assert!(
                    text.contains(&format!("[numthreads({x}, {y}, {z})]")),
                    "{}: no HLSL entry",
                    p.name
                ),
                "wgsl" => assert!(
                    text.contains(&format!("@workgroup_size({x}, {y}, {z})")),
                    "{}: no WGSL entry",
                    p.name
                ),
                _ => {}
            }
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
    for case in cases() {
        let p = &case.program;
        let bytes = emit_aot_target("spirv", p, &config).unwrap();
        let path = dir.join(format!("{}.spv", p.name));
        if let Err(e) = validate_spirv(&val, &path, &bytes, "vulkan1.0") {
            failures.push(format!("{}: {e}", p.name));
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
    for case in cases() {
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
    let narrow = naga_common::narrow::programs();
    for p in cases().iter().map(|c| &c.program).chain(&narrow) {
        if p.name == name {
            let bytes = emit_aot_target(&target, p, &DispatchConfig::default()).unwrap();
            println!("{}", String::from_utf8_lossy(&bytes));
        }
    }
}

/// How often the WGSL uses buffer length `field` (loaded once, at the top,
/// as `let _eN = params.field;`): the guard and every remaining check.
fn len_uses(text: &str, field: &str) -> usize {
    let def = format!(" = params.{field};");
    let Some(name) = text
        .lines()
        .find(|l| l.trim_end().ends_with(&def))
        .and_then(|l| l.trim().strip_prefix("let "))
        .and_then(|l| l.split(' ').next())
    else {
        return 0;
    };
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|tok| *tok == name)
        .count()
        - 1
}

fn wgsl_of(p: &vyre::ir::Program, config: &DispatchConfig) -> String {
    String::from_utf8(emit_aot_target("wgsl", p, config).unwrap()).unwrap()
}

/// saxpy's guard `i < y.len()` proves `y[i]` (load and store) in range, not
/// `x[i]`: exactly one checked load remains.
#[test]
fn dominating_guard_elides_checks() {
    let p = naga_common::saxpy().program;
    let text = wgsl_of(&p, &DispatchConfig::default());
    assert_eq!(len_uses(&text, "x_len"), 1, "{text}"); // one check
    assert_eq!(len_uses(&text, "y_len"), 1, "{text}"); // the guard
    assert!(text.contains("y[_e"), "{text}");
}

#[test]
fn unchecked_kernels_have_no_checks_and_always_forces_them() {
    let mut p = naga_common::saxpy().program;
    let forced = wgsl_of(
        &p,
        &DispatchConfig::default().with_bounds_checks(vyre::driver::BoundsChecks::Always),
    );
    // The guard, the y load check and the y store check.
    assert_eq!(len_uses(&forced, "y_len"), 3, "{forced}");
    p.unchecked = true;
    let text = wgsl_of(&p, &DispatchConfig::default());
    assert_eq!(len_uses(&text, "x_len"), 0, "{text}");
    assert!(!text.contains("select("), "{text}");
}

#[test]
fn early_return_guard_elides_checks() {
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("early", [64, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).ge(Expr::len(out)), |t| {
            t.return_();
        });
        blk.store(
            BufRef::Param(out),
            Expr::local(i),
            Expr::load(BufRef::Param(out), Expr::local(i)).add(Expr::u32(1)),
        );
    });
    let text = wgsl_of(&b.finish(), &DispatchConfig::default());
    assert_eq!(len_uses(&text, "out_len"), 1, "{text}");
    assert!(!text.contains("select("), "{text}");
}

#[test]
fn guard_on_a_reassigned_local_does_not_elide() {
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("reassigned", [64, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            t.assign(i, Expr::local(i).add(Expr::u32(1)));
            t.store(BufRef::Param(out), Expr::local(i), Expr::u32(1));
        });
    });
    let text = wgsl_of(&b.finish(), &DispatchConfig::default());
    assert_eq!(len_uses(&text, "out_len"), 2, "{text}");
}

#[test]
fn unexpressible_programs_are_errors_naming_kernel_and_target() {
    use vyre::ir::{Access, DataType, ProgramBuilder};
    let mut b = ProgramBuilder::new("many_buffers", [1, 1, 1]);
    for k in 0..31 {
        b.buffer(format!("b{k}"), DataType::U32, Access::Read);
    }
    let p = b.finish();
    let err = emit_aot_target("msl", &p, &DispatchConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("many_buffers") && err.contains("msl") && err.contains("31"),
        "{err}"
    );
    // The other targets have no such limit.
    emit_aot_target("spirv", &p, &DispatchConfig::default()).unwrap();

    let mut bad = naga_common::saxpy().program;
    bad.workgroup_size = [0, 1, 1];
    let err = emit_aot_target("spirv", &bad, &DispatchConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("saxpy") && err.contains("spirv") && err.contains("workgroup"),
        "{err}"
    );
}

#[test]
fn launcher_codegen_embeds_the_blob() {
    use vyre::driver::{ArtifactFile, launcher_codegen};
    for (target, ext) in [
        ("spirv", "spv"),
        ("wgsl", "wgsl"),
        ("msl", "metal"),
        ("hlsl", "hlsl"),
    ] {
        let cg = launcher_codegen(target).unwrap();
        assert_eq!(cg.extension, ext);
        assert_eq!(cg.runtime_feature, Some("wgpu"));
        assert!(!cg.per_arch && !cg.optional);
        let file = format!("saxpy.{ext}");
        let expr = (cg.artifact_expr)(&ArtifactFile {
            target,
            arch: None,
            file_name: &file,
        })
        .unwrap();
        assert!(expr.starts_with("::vyre::runtime::Artifact {"), "{expr}");
        assert!(expr.contains(&format!("target: \"{target}\"")), "{expr}");
        assert!(
            expr.contains(&format!("include_bytes!(\"{file}\")")),
            "{expr}"
        );
        assert!(expr.contains("Option::None"), "{expr}");
    }
}

#[test]
fn emission_is_deterministic() {
    let config = DispatchConfig::default();
    for case in cases() {
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            let a = emit_aot_target(target, &case.program, &config).unwrap();
            let b = emit_aot_target(target, &case.program, &config).unwrap();
            assert_eq!(a, b, "{} {target}", case.program.name);
        }
    }
}

/// Float arithmetic is decorated `NoContraction` (no FMA contraction, one
/// rounding per operation) unless the kernel is `fast_math`.
#[test]
fn spirv_float_ops_are_not_contracted() {
    fn no_contraction_count(p: &vyre::ir::Program) -> usize {
        let bytes = emit_aot_target("spirv", p, &DispatchConfig::default()).unwrap();
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (mut at, mut n) = (5, 0);
        while at < words.len() {
            let count = (words[at] >> 16) as usize;
            // OpDecorate %id NoContraction
            if words[at] & 0xffff == 71 && count == 3 && words[at + 2] == 42 {
                n += 1;
            }
            at += count.max(1);
        }
        n
    }
    let mut p = naga_common::saxpy().program;
    // a * x[i] and (..) + y[i].
    assert_eq!(no_contraction_count(&p), 2);
    p.fast_math = true;
    assert_eq!(no_contraction_count(&p), 0);
}

/// The SPIR-V of `source`'s only kernel: its module (as lowered for SPIR-V)
/// and the words.
fn spirv_of(source: &str) -> (naga::Module, Vec<u8>) {
    let module = vyre::lang::parse("k.vyre", source).unwrap_or_else(|e| panic!("{e}"));
    let p = &module.kernels[0];
    let config = DispatchConfig::default();
    let lowered = vyre::backend::naga::lower::lower_with_vector_views(p, &config).unwrap();
    (lowered, emit_aot_target("spirv", p, &config).unwrap())
}

fn global_names(module: &naga::Module) -> Vec<String> {
    module
        .global_variables
        .iter()
        .filter_map(|(_, g)| g.name.clone())
        .collect()
}

#[test]
fn aligned_groups_of_four_loads_become_one_vector_load_in_spirv_only() {
    // `i` is a multiple of 4 in the loop (start and step are), so the four
    // loads of `x` read one 16-byte vector; `y` is read-write: scalar.
    let aligned = "#[kernel(workgroup_size = 64)]
        pub fn k(x: &[f32], y: &mut [f32]) {
            let mut i = global_id().x * 4;
            let mut acc = 0.0;
            while i + 3 < x.len() {
                acc += x[i] + x[i + 1] + x[i + 2] + x[i + 3];
                i += num_workgroups().x * 256;
            }
            y[global_id().x] = acc + y[i] + y[i + 1] + y[i + 2] + y[i + 3];
        }";
    let (module, words) = spirv_of(aligned);
    let names = global_names(&module);
    assert!(names.contains(&"x_v4".to_string()), "{names:?}");
    assert!(!names.contains(&"y_v4".to_string()), "{names:?}");
    let x_binding = |name: &str| {
        module
            .global_variables
            .iter()
            .find(|(_, g)| g.name.as_deref() == Some(name))
            .and_then(|(_, g)| g.binding)
    };
    assert_eq!(
        x_binding("x"),
        x_binding("x_v4"),
        "the view aliases x's binding"
    );
    assert!(
        words.windows(4).any(|w| w == b"x_v4"),
        "the emitted SPIR-V names the view"
    );
    // The portable languages cannot alias a binding: no view there.
    let p = &vyre::lang::parse("k.vyre", aligned).unwrap().kernels[0];
    let wgsl = wgsl_of(p, &DispatchConfig::default());
    assert!(
        !wgsl.contains("x_v4") && !wgsl.contains("vec4<f32>"),
        "{wgsl}"
    );

    // Not provably a multiple of 4 (`i` steps by 1), a gap in the four, or
    // `i` redefined between the loads: scalar loads.
    for body in [
        "let mut i = global_id().x * 4; while i + 3 < x.len() { acc += x[i] + x[i + 1] + x[i + 2] + x[i + 3]; i += 1; }",
        "let i = global_id().x * 4; acc = x[i] + x[i + 1] + x[i + 3];",
        "let mut i = global_id().x * 4; acc = x[i] + x[i + 1]; i = i + 4; acc += x[i + 2] + x[i + 3];",
    ] {
        let source = format!(
            "#[kernel(workgroup_size = 64)]
            pub fn k(x: &[f32], y: &mut [f32]) {{ let mut acc = 0.0; {body} y[global_id().x] = acc; }}"
        );
        let (module, _) = spirv_of(&source);
        assert!(
            !global_names(&module).contains(&"x_v4".to_string()),
            "{body}"
        );
    }
}

/// Shared-array indices with a static bound below the length (`local_id()`
/// arithmetic through immutable locals, as in the blocked SGEMM) need no
/// check; one that can reach the length keeps it.
#[test]
fn statically_bounded_shared_indices_elide_checks() {
    let kernel = |last: u32| {
        format!(
            "#[kernel(workgroup_size = 256)]
            pub fn k(out: &mut [f32]) {{
                #[shared]
                let mut t: [f32; 1024];
                let tid = local_id().x;
                let ty = tid / 16;
                let tx = tid % 16;
                t[ty * 64 + tx * 4 + {last}] = 1.0;
                barrier();
                let v = t[ty * 4 + 67];
                if tid < out.len() {{
                    out[tid] = v;
                }}
            }}"
        )
    };
    let wgsl = |source: &str| {
        let p = &vyre::lang::parse("k.vyre", source).unwrap().kernels[0];
        wgsl_of(p, &DispatchConfig::default())
    };
    // 15 * 64 + 15 * 4 + 3 = 1023 and 15 * 4 + 67 = 127: both in range.
    let proven = wgsl(&kernel(3));
    assert!(!proven.contains("1024u"), "{proven}");
    // + 4 reaches 1024: that store keeps its check.
    let unproven = wgsl(&kernel(4));
    assert!(unproven.contains("< 1024u"), "{unproven}");
}

/// A kernel with one private `[u32; 8]` array `p`: `p[k] = k` for `k` in
/// `0..end`, then `out[i] = p[2] + p[i % 8]`.
fn private_kernel(end: vyre::ir::Expr) -> vyre::ir::Program {
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("priv", [64, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let _n = b.scalar("n", DataType::U32);
    let p = BufRef::Private(b.private("p", DataType::U32, 8));
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.for_(k, Expr::u32(0), end, |l| {
            l.store(p, Expr::local(k), Expr::local(k));
        });
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            t.store(
                BufRef::Param(out),
                Expr::local(i),
                Expr::load(p, Expr::u32(2)).add(Expr::load(p, Expr::local(i).rem(Expr::u32(8)))),
            );
        });
    });
    b.finish()
}

/// Private arrays are function-local `array<T, N>` variables with an
/// explicit zero initialiser (so no target leaves them undefined), in the
/// module and in each language.
#[test]
fn private_arrays_are_zero_initialised_locals() {
    let p = private_kernel(vyre::ir::Expr::u32(8));
    let config = DispatchConfig::default();
    let module = vyre::backend::naga::lower::lower(&p, &config).unwrap();
    let func = &module.entry_points[0].function;
    let (_, var) = func
        .local_variables
        .iter()
        .find(|(_, v)| v.name.as_deref() == Some("p"))
        .expect("a local variable `p`");
    assert!(
        matches!(
            module.types[var.ty].inner,
            naga::TypeInner::Array {
                size: naga::ArraySize::Constant(n),
                ..
            } if n.get() == 8
        ),
        "{:?}",
        module.types[var.ty]
    );
    let init = var.init.expect("an initialiser");
    assert!(
        matches!(func.expressions[init], naga::Expression::ZeroValue(ty) if ty == var.ty),
        "{:?}",
        func.expressions[init]
    );
    // No workgroup or private-space global stands for it.
    assert!(
        module
            .global_variables
            .iter()
            .all(|(_, g)| g.name.as_deref() != Some("p")),
        "{:?}",
        module.global_variables
    );
    let text = |target| String::from_utf8(emit_aot_target(target, &p, &config).unwrap()).unwrap();
    let wgsl = text("wgsl");
    assert!(
        wgsl.contains("var p: array<u32, 8> = array<u32, 8>();"),
        "{wgsl}"
    );
    let hlsl = text("hlsl");
    assert!(
        hlsl.contains("uint p[8] = ZeroValuearray8_uint_();"),
        "{hlsl}"
    );
    let msl = text("msl");
    assert!(
        msl.lines()
            .any(|l| l.contains(" p = ") && l.trim_end().ends_with("{};")),
        "{msl}"
    );
}

/// A private array's checks are the bounds analysis's: `k < 8` over an
/// 8-element array needs none, `k < n` keeps one; `BoundsChecks::Always`
/// forces it and an unchecked kernel drops it. A constant index in range
/// is a plain constant subscript.
#[test]
fn private_array_checks_follow_the_bounds_analysis() {
    use vyre::ir::Expr;
    let config = DispatchConfig::default();
    let proven = private_kernel(Expr::u32(8));
    let text = wgsl_of(&proven, &config);
    assert!(!text.contains("< 8u"), "{text}");
    assert!(text.contains("p[2]"), "{text}");
    assert!(text.contains("p[(_e"), "{text}");
    let forced = wgsl_of(
        &proven,
        &DispatchConfig::default().with_bounds_checks(vyre::driver::BoundsChecks::Always),
    );
    // The loop's store, the constant load and the run-time load.
    assert_eq!(forced.matches("< 8u").count(), 3, "{forced}");
    let mut unproven = private_kernel(Expr::param(1));
    let text = wgsl_of(&unproven, &config);
    assert_eq!(text.matches("< 8u").count(), 1, "{text}");
    unproven.unchecked = true;
    let text = wgsl_of(&unproven, &config);
    assert!(!text.contains("< 8u"), "{text}");
}

/// The `Loop` statements of a function body, outermost first.
fn loops(block: &naga::Block) -> Vec<&naga::Statement> {
    let mut out = Vec::new();
    for s in block.iter() {
        match s {
            naga::Statement::Loop { body, .. } => {
                out.push(s);
                out.extend(loops(body));
            }
            naga::Statement::If { accept, reject, .. } => {
                out.extend(loops(accept));
                out.extend(loops(reject));
            }
            naga::Statement::Block(b) => out.extend(loops(b)),
            _ => {}
        }
    }
    out
}

/// A stepped loop advances by its step in the continuing block; when the
/// sum wraps (`next < var`, compared in the loop's type: signed for `i32`)
/// the variable takes the bound instead, so the test at the head ends the
/// loop (no `break if`, which the NVIDIA Vulkan driver mishandled with a
/// `break` in the body); a step of 1 cannot wrap and keeps the plain loop.
#[test]
fn stepped_loops_leave_when_the_next_value_wraps() {
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("steps", [64, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let u = b.local("u", DataType::U32, false);
    let s = b.local("s", DataType::I32, false);
    let one = b.local("one", DataType::U32, false);
    b.body(|blk| {
        let bump = |l: &mut vyre::ir::Block| {
            l.store(BufRef::Param(out), Expr::u32(0), Expr::u32(1));
        };
        blk.for_step(u, Expr::u32(0), Expr::len(out), 4, false, bump);
        blk.for_step(s, Expr::i32(-9), Expr::i32(100), 3, false, bump);
        blk.for_(one, Expr::u32(0), Expr::len(out), bump);
    });
    let p = b.finish();
    let module = vyre::backend::naga::lower::lower(&p, &DispatchConfig::default()).unwrap();
    let func = &module.entry_points[0].function;
    let found = loops(&func.body);
    assert_eq!(found.len(), 3);
    let expected = [
        Some(naga::Literal::U32(4)),
        Some(naga::Literal::I32(3)),
        None,
    ];
    for (stmt, step) in found.into_iter().zip(expected) {
        let naga::Statement::Loop {
            continuing,
            break_if,
            ..
        } = stmt
        else {
            unreachable!()
        };
        assert!(break_if.is_none());
        // The continuing block stores `var + step` (or, on a wrap, the
        // bound) back into `var`.
        let stored = continuing.iter().find_map(|s| match s {
            naga::Statement::Store { value, .. } => Some(*value),
            _ => None,
        });
        let stored = stored.expect("the continuing block advances the variable");
        let sum = match (step, &func.expressions[stored]) {
            (None, _) => stored,
            (
                Some(_),
                naga::Expression::Select {
                    condition,
                    accept,
                    reject,
                },
            ) => {
                assert!(
                    matches!(func.expressions[*accept], naga::Expression::Load { .. }),
                    "on a wrap the variable takes the bound"
                );
                let naga::Expression::Binary {
                    op: naga::BinaryOperator::Less,
                    left,
                    right,
                } = func.expressions[*condition]
                else {
                    panic!("{:?}", func.expressions[*condition]);
                };
                assert_eq!(left, *reject, "the wrap test compares the sum ...");
                let naga::Expression::Binary { left: cur, .. } = func.expressions[*reject] else {
                    panic!("{:?}", func.expressions[*reject]);
                };
                assert_eq!(right, cur, "... with the current value");
                *reject
            }
            (Some(_), other) => panic!("{other:?}"),
        };
        let naga::Expression::Binary {
            op: naga::BinaryOperator::Add,
            right,
            ..
        } = func.expressions[sum]
        else {
            panic!("{:?}", func.expressions[sum]);
        };
        let naga::Expression::Literal(lit) = func.expressions[right] else {
            panic!("{:?}", func.expressions[right]);
        };
        assert_eq!(lit, step.unwrap_or(naga::Literal::U32(1)));
    }
    let text = wgsl_of(&p, &DispatchConfig::default());
    assert_eq!(text.matches("break if").count(), 0, "{text}");
}

/// The subgroup cases (their expectations assume a subgroup size; the
/// emitted code does not depend on it).
fn subgroup_programs() -> Vec<vyre::ir::Program> {
    naga_common::subgroup_cases(32)
        .into_iter()
        .map(|c| c.program)
        .collect()
}

/// Every `SubgroupOp` the programs use.
fn subgroup_ops_in(p: &vyre::ir::Program) -> Vec<vyre::ir::SubgroupOp> {
    fn walk(e: &vyre::ir::Expr, out: &mut Vec<vyre::ir::SubgroupOp>) {
        use vyre::ir::Expr as E;
        match e {
            E::Subgroup(op, args) => {
                out.push(*op);
                args.iter().for_each(|a| walk(a, out));
            }
            E::Load { index, .. } => walk(index, out),
            E::Unary(_, a) | E::Cast(_, a) => walk(a, out),
            E::Binary(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            E::Math(_, args) => args.iter().for_each(|a| walk(a, out)),
            E::Select {
                cond,
                then,
                otherwise,
            } => {
                walk(cond, out);
                walk(then, out);
                walk(otherwise, out);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| match n {
        vyre::ir::Node::Let { value, .. } | vyre::ir::Node::Assign { value, .. } => {
            walk(value, &mut out);
        }
        vyre::ir::Node::Store { index, value, .. } => {
            walk(index, &mut out);
            walk(value, &mut out);
        }
        _ => {}
    });
    out
}

/// Every subgroup operation lowers, validates with naga's `SUBGROUP`
/// capability and is written for all four targets; the SPIR-V (1.3) passes
/// `spirv-val` for Vulkan 1.1 and the WGSL parses back and validates.
#[test]
fn every_subgroup_op_emits_for_every_target() {
    let programs = subgroup_programs();
    let used: Vec<_> = programs.iter().flat_map(subgroup_ops_in).collect();
    for op in vyre::ir::SubgroupOp::ALL {
        assert!(used.contains(&op), "{} is not exercised", op.name());
    }
    let config = DispatchConfig::default();
    let val = spirv_val();
    if val.is_none() {
        assert!(
            !require_vulkan(),
            "VYRE_REQUIRE_VULKAN=1 but spirv-val was not found (apt-get install spirv-tools)"
        );
    }
    let dir = std::env::temp_dir().join(format!("vyre-subgroup-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for p in &programs {
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            let bytes = emit_aot_target(target, p, &config)
                .unwrap_or_else(|e| panic!("{} for {target}: {e}", p.name));
            assert!(!bytes.is_empty(), "{} for {target}", p.name);
        }
        let spv = emit_aot_target("spirv", p, &config).unwrap();
        // SPIR-V 1.3: `GroupNonUniform*` is core from there on.
        assert_eq!(&spv[4..8], &0x0001_0300u32.to_le_bytes(), "{}", p.name);
        if let Some(val) = &val {
            let path = dir.join(format!("{}.spv", p.name));
            if let Err(e) = validate_spirv(val, &path, &spv, "vulkan1.1") {
                failures.push(format!("{}: {e}", p.name));
            }
        }
        let text = wgsl_of(p, &config);
        let module = naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: WGSL does not parse: {}\n{text}",
                p.name,
                e.emit_to_string(&text)
            )
        });
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::SUBGROUP,
        )
        .validate(&module)
        .unwrap_or_else(|e| {
            panic!(
                "{}: re-parsed WGSL does not validate: {e:?}\n{text}",
                p.name
            )
        });
        // Without the capability, naga's validator refuses the module.
        assert!(
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .is_err(),
            "{}",
            p.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "spirv-val failed:\n{}",
        failures.join("\n")
    );
    // Kernels without subgroup operations stay SPIR-V 1.0.
    let plain = emit_aot_target("spirv", &naga_common::saxpy().program, &config).unwrap();
    assert_eq!(&plain[4..8], &0x0001_0000u32.to_le_bytes());
}

/// Every statement of `block`, nested ones included.
fn statements(block: &naga::Block) -> Vec<&naga::Statement> {
    let mut out = Vec::new();
    for s in block.iter() {
        out.push(s);
        match s {
            naga::Statement::Block(b) => out.extend(statements(b)),
            naga::Statement::If { accept, reject, .. } => {
                out.extend(statements(accept));
                out.extend(statements(reject));
            }
            naga::Statement::Loop {
                body, continuing, ..
            } => {
                out.extend(statements(body));
                out.extend(statements(continuing));
            }
            _ => {}
        }
    }
    out
}

/// Shuffles reach the target only as general `Shuffle`s of a checked lane
/// (WGSL wants the mask of `subgroupShuffleXor` and the delta of
/// `subgroupShuffleDown` subgroup-uniform; the checked lane is not), each
/// behind a select between the source lane and the own lane.
#[test]
fn shuffles_lower_to_checked_general_shuffles() {
    let p = naga_common::subgroup_shuffles(32).program;
    let module = vyre::backend::naga::lower::lower(&p, &DispatchConfig::default()).unwrap();
    let f = &module.entry_points[0].function;
    let mut shuffles = 0;
    for s in statements(&f.body) {
        if let naga::Statement::SubgroupGather { mode, .. } = s {
            let naga::GatherMode::Shuffle(lane) = *mode else {
                panic!("unexpected gather {mode:?}");
            };
            assert!(
                matches!(f.expressions[lane], naga::Expression::Select { .. }),
                "unchecked shuffle lane {:?}",
                f.expressions[lane]
            );
            shuffles += 1;
        }
    }
    assert_eq!(shuffles, 12);
}

/// Collective subgroup operations in a 2D workgroup whose x size is not a
/// multiple of 128 are refused (drivers split such rows into subgroups of
/// their own); the lane and the size lower anywhere.
#[test]
fn collectives_in_ragged_2d_workgroups_are_errors() {
    use vyre::ir::{Access, DataType, Expr, ProgramBuilder, SubgroupOp};
    let kernel = |op: SubgroupOp, args: Vec<Expr>| {
        let mut b = ProgramBuilder::new("ragged", [12, 3, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        b.body(|blk| {
            blk.store(
                vyre::ir::BufRef::Param(out),
                Expr::global_id_x(),
                Expr::Subgroup(op, args),
            );
        });
        b.finish()
    };
    let config = DispatchConfig::default();
    let err = emit_aot_target(
        "wgsl",
        &kernel(SubgroupOp::Add, vec![Expr::u32(1)]),
        &config,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("ragged") && err.contains("subgroup_add") && err.contains("12 x 3 x 1"),
        "{err}"
    );
    for op in [SubgroupOp::InvocationId, SubgroupOp::Size] {
        for target in ["spirv", "wgsl"] {
            emit_aot_target(target, &kernel(op, vec![]), &config)
                .unwrap_or_else(|e| panic!("{} for {target}: {e}", op.name()));
        }
    }
}

// ---------------------------------------------------------------------------
// Narrow element types (`f16 bf16 u8 i8 u16 i16`).

/// Every narrow program emits for all four targets from a module naga
/// validates; the WGSL re-parses and validates without the `f16`
/// extension; the SPIR-V passes `spirv-val` and declares no 8- or 16-bit
/// types (one packed mechanism, no device feature needed).
#[test]
fn narrow_programs_emit_for_every_target() {
    let config = DispatchConfig::default();
    let val = spirv_val();
    let dir = std::env::temp_dir().join(format!("vyre-narrow-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let always = DispatchConfig::default().with_bounds_checks(vyre::driver::BoundsChecks::Always);
    for p in naga_common::narrow::programs() {
        let mut unchecked = p.clone();
        unchecked.unchecked = true;
        for target in ["spirv", "wgsl", "msl", "hlsl"] {
            let bytes = emit_aot_target(target, &p, &config)
                .unwrap_or_else(|e| panic!("{} for {target}: {e}", p.name));
            assert!(!bytes.is_empty(), "{} for {target}: empty", p.name);
            // Every access checked, and none.
            emit_aot_target(target, &p, &always)
                .unwrap_or_else(|e| panic!("{} for {target}, all checked: {e}", p.name));
            emit_aot_target(target, &unchecked, &config)
                .unwrap_or_else(|e| panic!("{} for {target}, unchecked: {e}", p.name));
        }
        let text = wgsl_of(&p, &config);
        assert!(
            !["enable", ": f16", "<f16", " f16(", "(f16("]
                .iter()
                .any(|t| text.contains(t)),
            "{}: no 8- or 16-bit types expected\n{text}",
            p.name
        );
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
        let bytes = emit_aot_target("spirv", &p, &config).unwrap();
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        // No `OpTypeInt 8/16` nor `OpTypeFloat 16`.
        let mut k = 5;
        while k < words.len() {
            let (count, op) = ((words[k] >> 16) as usize, words[k] & 0xffff);
            if matches!(op, 21 | 22) && words[k + 2] < 32 {
                failures.push(format!("{}: a {}-bit SPIR-V type", p.name, words[k + 2]));
            }
            k += count.max(1);
        }
        if let Some(val) = &val {
            let path = dir.join(format!("{}.spv", p.name));
            if let Err(e) = validate_spirv(val, &path, &bytes, "vulkan1.0") {
                failures.push(format!("{}: {e}", p.name));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A read-only narrow buffer is a plain `array<u32>`; a read-write one is
/// `array<atomic<u32>>`, stored into with `atomicAnd` + `atomicOr` (so
/// neighbours in one word never race) and read with `atomicLoad`; the
/// element length stays the bounds.
#[test]
fn narrow_buffers_are_packed_words() {
    use vyre::ir::DataType;
    let p = naga_common::narrow::map(DataType::BF16).program;
    let text = wgsl_of(&p, &DispatchConfig::default());
    assert!(text.contains("var<storage> x: array<u32>;"), "{text}");
    assert!(
        text.contains("var<storage, read_write> y: array<atomic<u32>>;"),
        "{text}"
    );
    assert!(
        text.contains("var<storage, read_write> w: array<f32>;"),
        "{text}"
    );
    assert!(text.contains("atomicAnd((&y["), "{text}");
    assert!(text.contains("atomicOr((&y["), "{text}");
    assert!(!text.contains("atomicStore"), "{text}");
    assert!(!text.contains("quantizeToF16"), "{text}");
    // Both loads of `x[i]` are checked against x's element count (the
    // guards prove nothing about `x`).
    assert_eq!(len_uses(&text, "x_len"), 2, "{text}");
}

/// Stores that fill whole words at an index proven a multiple of the
/// elements per word become one `atomicStore` per word (with a per-element
/// fallback for a word at the end of the buffer); stores that start inside
/// a word stay element-wise clear-and-set.
#[test]
fn whole_word_narrow_stores_are_single_stores() {
    use vyre::ir::DataType;
    for t in [DataType::BF16, DataType::U8] {
        let p = naga_common::narrow::vector(t).program;
        let text = wgsl_of(&p, &DispatchConfig::default());
        let words = if t == DataType::U8 { 1 } else { 2 };
        assert_eq!(
            text.matches("atomicStore((&y[").count(),
            words,
            "{t}: one store per word of y\n{text}"
        );
        // The fallback of each y word: one clear-and-set per element.
        assert_eq!(text.matches("atomicAnd((&y[").count(), 4, "{text}");
        assert!(!text.contains("atomicStore((&z["), "{text}");
        assert_eq!(text.matches("atomicAnd((&z[").count(), 2, "{text}");
    }
}

/// Four loads of a read-only narrow buffer at an index proven a multiple
/// of 4 read their word (8-bit) or two words (16-bit) once, on every
/// target, with four checked element loads as the fallback at the end of
/// the buffer.
#[test]
fn aligned_narrow_loads_share_their_words() {
    use vyre::ir::DataType;
    for (t, words) in [(DataType::U8, 1), (DataType::BF16, 2), (DataType::I16, 2)] {
        let p = naga_common::narrow::vector(t).program;
        let text = wgsl_of(&p, &DispatchConfig::default());
        assert_eq!(text.matches(" = x[").count(), words + 4, "{t}\n{text}");
        assert_eq!(len_uses(&text, "x_len"), 5, "{t}\n{text}");
    }
}

/// Signed `i32` min/max are unsigned ones on sign-flipped operands on the
/// naga targets too: NVIDIA's Vulkan compiler loses an `i32` negation
/// folded into a three-operand signed min/max, as ptxas does
/// (`tests/kernels/regress_ptx_signed_min3_negation.vyre` gave 7 for 10 on
/// an H100 through SPIR-V and WGSL).
#[test]
fn signed_min_max_are_unsigned_on_sign_flipped_operands() {
    let src = "#[kernel(workgroup_size = 32)]\npub fn m(a: &[i32], out: &mut [i32]) {\n    let i = global_id().x;\n    if i < out.len() {\n        out[i] = a[i].min(-a[i + 1]).max(a[i + 2]);\n    }\n}\n";
    let module = vyre::lang::parse("m.vyre", src).unwrap_or_else(|e| panic!("{}", e.render()));
    let bytes = emit_aot_target("wgsl", &module.kernels[0], &DispatchConfig::default()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches("^ 2147483648u").count(), 6, "{text}");
    assert_eq!(text.matches("bitcast<u32>(").count(), 4, "{text}");
}

#[test]
fn float_clamp_selects_a_nan_x_and_huge_divisors_are_scaled() {
    // The NVIDIA Vulkan driver reorders a clamp's max/min pair for a NaN
    // `x`, and flushes the reciprocal of a divisor above 2^126
    // (docs/targets.md, naga "Semantics"): the lowering selects a NaN `x`
    // on its bits and scales such divisors by 1/4 around the division.
    let p = vyre::lang::parse(
        "t.vyre",
        "#[kernel(workgroup_size = 32)]
pub fn k(x: &[f32], y: &mut [f32]) {
    y[0] = x[0].clamp(-3.0, 3.0);
    y[1] = x[1] / x[2];
}",
    )
    .expect("parses")
    .kernels
    .remove(0);
    let text = wgsl_of(&p, &DispatchConfig::default());
    // The division: |y| > 2^126 picks 0.25 as the scale, applied twice.
    assert!(
        text.contains("select(1f, 0.25f, (abs(")
            && text.contains("> 85070590000000000000000000000000000000f))"),
        "{text}"
    );
    // The clamp: the NaN test of `x` (its bits against the exponent mask)
    // besides those of the max, the min and the NaN-`x` bound `lo.min(hi)`.
    assert_eq!(text.matches("2139095040u").count(), 4, "{text}");
}

#[test]
fn f32_add_and_sub_lower_to_fma_with_an_exact_product() {
    // NVIDIA's Vulkan compiler, like ptxas, folds an `f32` add or subtract
    // of known operands whose exact result is a tie toward zero (seeds
    // 0x319a34, 0x31cc3c). `a + b` is `fma(a, 1, b)` and `a - b` is
    // `fma(b, -1, a)`: one rounding, fused or not, as the product is exact.
    // `fast_math` keeps the plain operators.
    let src = |attrs: &str| {
        format!(
            "#[kernel(workgroup_size = 32{attrs})]
pub fn k(x: &[f32], y: &mut [f32], z: &mut [i32]) {{
    y[0] = x[0] + x[1];
    y[1] = x[2] - x[3];
    z[0] = z[1] + z[2] - z[3];
}}"
        )
    };
    let kernel = |attrs: &str| {
        vyre::lang::parse("t.vyre", &src(attrs))
            .expect("parses")
            .kernels
            .remove(0)
    };
    let text = wgsl_of(&kernel(""), &DispatchConfig::default());
    assert_eq!(text.matches("fma(").count(), 2, "{text}");
    assert_eq!(text.matches(", 1f, ").count(), 1, "{text}");
    assert_eq!(text.matches(", -1f, ").count(), 1, "{text}");
    // Integer arithmetic is untouched.
    assert!(text.contains(" + ") && text.contains(" - "), "{text}");
    let fast = wgsl_of(&kernel(", fast_math"), &DispatchConfig::default());
    assert_eq!(fast.matches("fma(").count(), 0, "{fast}");
}
