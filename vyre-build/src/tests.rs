//! Unit tests of the pipeline after parsing, with programs built by
//! `ProgramBuilder` and toy targets registered here (which also shows that a
//! target registered outside `vyre` is picked up).

use super::*;
use std::fs;
use vyre::driver::KernelLauncherCodegen;
use vyre::driver::{ArtifactFile, UNAVAILABLE_PREFIX};
use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};

fn emit_toy(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
    Ok(format!(
        "toy:{}:{}:{}",
        program.name,
        config.target_arch.as_deref().unwrap_or("-"),
        program.body.len()
    )
    .into_bytes())
}

fn emit_missing_tool(_: &Program, _: &DispatchConfig) -> Result<Vec<u8>, String> {
    Err(format!("{UNAVAILABLE_PREFIX}toolc not found (set TOOLC)"))
}

fn emit_broken(program: &Program, _: &DispatchConfig) -> Result<Vec<u8>, String> {
    Err(format!("cannot lower `{}`", program.name))
}

fn toy_artifact(file: &ArtifactFile<'_>) -> Result<String, String> {
    Ok(format!(
        "::vyre::runtime::Artifact {{ target: {:?}, arch: {:?}, bytes: include_bytes!({:?}) }}",
        file.target, file.arch, file.file_name
    ))
}

fn bad_artifact(_: &ArtifactFile<'_>) -> Result<String, String> {
    Ok("this is not { rust".to_string())
}

vyre::register_aot_emitter!("toy", emit_toy);
vyre::register_aot_emitter!("toy-arch", emit_toy);
vyre::register_aot_emitter!("toy-missing", emit_missing_tool);
vyre::register_aot_emitter!("toy-broken", emit_broken);
vyre::register_aot_emitter!("toy-badcode", emit_toy);

vyre::register_launcher_codegen!(KernelLauncherCodegen {
    target: "toy",
    runtime_feature: None,
    extension: "toy",
    per_arch: false,
    optional: false,
    artifact_expr: toy_artifact,
});
vyre::register_launcher_codegen!(KernelLauncherCodegen {
    target: "toy-arch",
    runtime_feature: Some("toyfeature"),
    extension: "bin",
    per_arch: true,
    optional: false,
    artifact_expr: toy_artifact,
});
vyre::register_launcher_codegen!(KernelLauncherCodegen {
    target: "toy-missing",
    runtime_feature: None,
    extension: "bin",
    per_arch: false,
    optional: true,
    artifact_expr: toy_artifact,
});
vyre::register_launcher_codegen!(KernelLauncherCodegen {
    target: "toy-broken",
    runtime_feature: None,
    extension: "bin",
    per_arch: false,
    optional: true,
    artifact_expr: toy_artifact,
});
vyre::register_launcher_codegen!(KernelLauncherCodegen {
    target: "toy-badcode",
    runtime_feature: None,
    extension: "bin",
    per_arch: false,
    optional: false,
    artifact_expr: bad_artifact,
});

fn saxpy() -> Program {
    let mut b = ProgramBuilder::new("saxpy", [256, 1, 1]);
    let a = b.scalar("a", DataType::F32);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.doc(" y = a * x + y");
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
            let v = Expr::param(a)
                .mul(Expr::load(BufRef::Param(x), Expr::local(i)))
                .add(Expr::load(BufRef::Param(y), Expr::local(i)));
            then.store(BufRef::Param(y), Expr::local(i), v);
        });
    });
    b.finish()
}

fn fill(name: &str, value: u32) -> Program {
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let n = b.scalar("device", DataType::U32);
    b.body(|blk| {
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x(),
            Expr::param(n).add(Expr::u32(value)),
        );
    });
    b.unchecked(true);
    b.finish()
}

/// `y[i] = (a * x[i] as f32 + b as f32) as E`, for a narrow float element
/// type `E` and a scalar `b` of type `b_ty`.
fn scale_narrow(name: &str, elem: DataType, b_ty: DataType) -> Program {
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let a = b.scalar("a", DataType::F32);
    let bias = b.scalar("b", b_ty);
    let x = b.buffer("x", elem, Access::Read);
    let y = b.buffer("y", elem, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
            let v = Expr::param(a)
                .mul(Expr::load(BufRef::Param(x), Expr::local(i)).cast(DataType::F32))
                .add(Expr::param(bias).cast(DataType::F32));
            then.store(BufRef::Param(y), Expr::local(i), v.cast(elem));
        });
    });
    b.finish()
}

/// A kernel with one scalar and one buffer of every narrow type.
fn all_narrow() -> Program {
    let mut b = ProgramBuilder::new("all_narrow", [1, 1, 1]);
    let narrow: Vec<DataType> = DataType::ALL
        .into_iter()
        .filter(|t| t.is_narrow())
        .collect();
    let mut scalars = Vec::new();
    let mut bufs = Vec::new();
    for t in &narrow {
        scalars.push(b.scalar(format!("s_{t}"), *t));
        bufs.push(b.buffer(format!("b_{t}"), *t, Access::ReadWrite));
    }
    b.body(|blk| {
        for (s, buf) in scalars.iter().zip(&bufs) {
            blk.store(BufRef::Param(*buf), Expr::u32(0), Expr::param(*s));
        }
    });
    b.finish()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vyre-build-unit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn builder(out: &Path) -> Builder {
    Builder::new()
        .targets(["toy"])
        .out_dir(out)
        .emit_rerun_lines(false)
        .read_metadata(false)
        .stub(false)
}

/// The module proper (the outer file only includes it).
fn inner(out: &Output) -> PathBuf {
    out.module.with_extension("").join("kernels.rs")
}

fn two_files() -> Vec<ProgramModule> {
    vec![
        ProgramModule::new("nn::fill", vec![fill("fill_a", 1), fill("fill_b", 2)]),
        ProgramModule::new("saxpy", vec![saxpy()]),
    ]
}

#[test]
fn generates_the_typed_launcher() {
    let dir = scratch("typed");
    let out = builder(&dir).compile_programs(two_files()).unwrap();
    let outer = fs::read_to_string(&out.module).unwrap();
    assert!(outer.starts_with(GENERATED_HEADER), "{outer}");
    assert!(
        outer.contains("include!(\"vyre_kernels/kernels.rs\");"),
        "{outer}"
    );
    let text = fs::read_to_string(inner(&out)).unwrap();
    assert!(text.starts_with(GENERATED_HEADER), "{text}");
    // Parses as Rust.
    syn::parse_file(&text).unwrap();
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            "pub fn saxpy( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, x: &::vyre::Buffer<f32>, y: &mut ::vyre::Buffer<f32>, ) -> ::vyre::Result<()> { device .launch( &SAXPY_SPEC, grid, &mut [::vyre::runtime::LaunchArg::F32(a), x.arg(), y.arg_mut()], ) }"
        ),
        "{text}"
    );
    assert!(flat.contains("/// y = a * x + y pub fn saxpy"), "{text}");
    assert!(
        flat.contains("pub const SAXPY_WORKGROUP_SIZE: [u32; 3] = [256, 1, 1];"),
        "{text}"
    );
    assert!(
        flat.contains(&format!(
            "const _: () = assert!( ::vyre::LAUNCHER_ABI_VERSION == {},",
            vyre::LAUNCHER_ABI_VERSION
        )),
        "{text}"
    );
    assert!(flat.contains("pub mod nn {"), "{text}");
    assert!(flat.contains("pub mod fill {"), "{text}");
    // Unchecked kernels: `unsafe fn` with a Safety section; a parameter
    // named `device` is renamed in the launcher.
    assert!(flat.contains("/// # Safety"), "{text}");
    assert!(flat.contains("pub unsafe fn fill_a( device: &::vyre::Device, grid: ::vyre::Grid, out: &mut ::vyre::Buffer<u32>, device_: u32, )"), "{text}");
    assert!(flat.contains("unchecked: true"), "{text}");
    assert!(flat.contains("key: \"nn::fill::fill_b#"), "{text}");
    // The artifact is embedded relative to the generated file.
    assert!(
        flat.contains("bytes: include_bytes!(\"saxpy.saxpy.toy.toy\")"),
        "{text}"
    );
    assert_eq!(
        fs::read(dir.join("vyre_kernels/saxpy.saxpy.toy.toy")).unwrap(),
        b"toy:saxpy:-:2"
    );
    assert_eq!(out.kernels, 3);
    assert_eq!(out.emitted.len(), 3);
    assert_eq!(out.generated.len(), 5);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generates_launchers_for_narrow_types() {
    let dir = scratch("narrow");
    let out = builder(&dir)
        .compile_programs(vec![ProgramModule::new(
            "narrow",
            vec![
                scale_narrow("scale_bf16", DataType::BF16, DataType::F16),
                scale_narrow("scale_f16", DataType::F16, DataType::I8),
                all_narrow(),
            ],
        )])
        .unwrap();
    let text = fs::read_to_string(inner(&out)).unwrap();
    syn::parse_file(&text).unwrap();
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            "pub fn scale_bf16( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, b: ::vyre::half::f16, x: &::vyre::Buffer<::vyre::half::bf16>, y: &mut ::vyre::Buffer<::vyre::half::bf16>, ) -> ::vyre::Result<()> { device .launch( &SCALE_BF16_SPEC, grid, &mut [ ::vyre::runtime::LaunchArg::F32(a), ::vyre::runtime::LaunchArg::scalar(b), x.arg(), y.arg_mut(), ], ) }"
        ),
        "{text}"
    );
    assert!(
        flat.contains(
            "::vyre::runtime::ParamSpec::Scalar { name: \"b\", ty: ::vyre::ir::DataType::F16, }"
        ),
        "{text}"
    );
    assert!(
        flat.contains("::vyre::runtime::ParamSpec::Buffer { name: \"x\", elem: ::vyre::ir::DataType::BF16, access: ::vyre::ir::Access::Read, }"),
        "{text}"
    );
    assert!(
        flat.contains("b: i8, x: &::vyre::Buffer<::vyre::half::f16>"),
        "{text}"
    );
    assert!(
        flat.contains("s_f16: ::vyre::half::f16, b_f16: &mut ::vyre::Buffer<::vyre::half::f16>, s_bf16: ::vyre::half::bf16, b_bf16: &mut ::vyre::Buffer<::vyre::half::bf16>, s_u8: u8, b_u8: &mut ::vyre::Buffer<u8>, s_i8: i8, b_i8: &mut ::vyre::Buffer<i8>, s_u16: u16, b_u16: &mut ::vyre::Buffer<u16>, s_i16: i16, b_i16: &mut ::vyre::Buffer<i16>,"),
        "{text}"
    );
    for t in ["F16", "BF16", "U8", "I8", "U16", "I16"] {
        assert!(
            flat.contains(&format!("ty: ::vyre::ir::DataType::{t}, }}")),
            "{t}: {text}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

fn generic(name: &str, instances: &[(&str, DataType)]) -> crate::generic::GenGeneric {
    crate::generic::GenGeneric {
        name: name.to_string(),
        type_params: vec!["T".to_string()],
        const_params: vec![],
        instances: instances
            .iter()
            .map(|(k, t)| crate::generic::GenInstance {
                kernel: (*k).to_string(),
                suffix: k.strip_prefix(&format!("{name}_")).unwrap_or(k).to_string(),
                types: vec![("T".to_string(), *t)],
                consts: vec![],
            })
            .collect(),
        tune: vec![],
    }
}

/// The generated text of one module `m` holding `programs` and `generics`.
fn generate_module(
    programs: &[Program],
    generics: &[crate::generic::GenGeneric],
) -> Result<String, Error> {
    generate_with(programs, generics, &std::collections::BTreeMap::new(), &[])
}

/// [`generate_module`] with the kernels' grid rules and a tuning table.
fn generate_with(
    programs: &[Program],
    generics: &[crate::generic::GenGeneric],
    grids: &std::collections::BTreeMap<String, vyre::lang::GridRule>,
    records: &[vyre::runtime::tune::TuneRecord],
) -> Result<String, Error> {
    let kernels = programs
        .iter()
        .map(|p| codegen::GenKernel {
            program: p,
            workgroup_size: p.workgroup_size,
            key: format!("m::{}#0", p.name),
            artifacts: vec![],
            grid: grids.get(&p.name),
            debug: &[],
        })
        .collect();
    codegen::generate(
        &[codegen::GenFile {
            display: "m.vyre".to_string(),
            module_path: vec!["m".to_string()],
            kernels,
            generics,
        }],
        "vyre",
        1,
        crate::dispatch::Table {
            display: "kernels/vyre-tune.toml",
            records,
        },
    )
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `scale::<T>` over the instances `scale_f32`, `scale_bf16`: a sealed
/// trait implemented for each element type, dispatching to its launcher.
#[test]
fn generic_kernels_get_a_typed_entry() {
    let programs = [
        scale_narrow("scale_f32", DataType::F32, DataType::F32),
        scale_narrow("scale_bf16", DataType::BF16, DataType::BF16),
    ];
    let g = generic(
        "scale",
        &[("scale_f32", DataType::F32), ("scale_bf16", DataType::BF16)],
    );
    let text = generate_module(&programs, std::slice::from_ref(&g)).unwrap();
    syn::parse_file(&text).unwrap();
    let flat = flat(&text);
    // `a` is f32 in every instance; `b`, `x` and `y` are `T`.
    assert!(
        flat.contains("pub fn scale<T: ScaleElem>( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, b: T, x: &::vyre::Buffer<T>, y: &mut ::vyre::Buffer<T>, ) -> ::vyre::Result<()> { <T as __scale_elem::Sealed>::launch(device, grid, a, b, x, y) }"),
        "{text}"
    );
    assert!(
        flat.contains("pub trait ScaleElem: __scale_elem::Sealed {} impl ScaleElem for f32 {} impl ScaleElem for ::vyre::half::bf16 {}"),
        "{text}"
    );
    assert!(flat.contains("mod __scale_elem { /// Implemented for each instance's element type. pub trait Sealed: ::vyre::Element { /// Launch the instance for `Self`. fn launch( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, b: Self, x: &::vyre::Buffer<Self>, y: &mut ::vyre::Buffer<Self>, ) -> ::vyre::Result<()>; }"), "{text}");
    assert!(
        flat.contains("impl Sealed for ::vyre::half::bf16 { /// Launches [`super::scale_bf16`]. fn launch( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, b: Self, x: &::vyre::Buffer<Self>, y: &mut ::vyre::Buffer<Self>, ) -> ::vyre::Result<()> { super::scale_bf16(device, grid, a, b, x, y) } }"),
        "{text}"
    );
    assert!(
        flat.contains("/// Generic over the element type `T`, one of `f32` ([`scale_f32`]), `bf16` ([`scale_bf16`]): calls the /// launcher of `T`'s instance."),
        "{text}"
    );
    // The instances keep their own launchers.
    assert!(flat.contains("pub fn scale_f32("), "{text}");
    assert!(flat.contains("pub fn scale_bf16("), "{text}");
}

/// An unchecked generic kernel's entry is `unsafe` too; a parameter named
/// `device` is renamed as in the launchers.
#[test]
fn unchecked_generic_entry_is_unsafe() {
    let programs = [fill("fill_u32", 1), {
        let mut p = fill("fill_u8", 1);
        if let vyre::ir::Param::Buffer(b) = &mut p.params[0] {
            b.elem = DataType::U8;
        }
        p.body.clear();
        p
    }];
    let g = generic(
        "fill",
        &[("fill_u32", DataType::U32), ("fill_u8", DataType::U8)],
    );
    let text = generate_module(&programs, &[g]).unwrap();
    let flat = flat(&text);
    assert!(
        flat.contains("pub unsafe fn fill<T: FillElem>( device: &::vyre::Device, grid: ::vyre::Grid, out: &mut ::vyre::Buffer<T>, device_: u32, ) -> ::vyre::Result<()> { unsafe { <T as __fill_elem::Sealed>::launch(device, grid, out, device_) } }"),
        "{text}"
    );
    assert!(
        flat.contains("unsafe { super::fill_u8(device, grid, out, device_) }"),
        "{text}"
    );
    assert!(flat.contains("/// # Safety"), "{text}");
}

/// No typed entry without exactly one type parameter, with const
/// parameters, with repeated or `bool` types, or when the instances'
/// signatures differ by more than `T`; an instance that is not a kernel of
/// the file is an error.
#[test]
fn generic_entry_only_for_one_type_parameter_and_distinct_types() {
    let programs = [
        scale_narrow("scale_f32", DataType::F32, DataType::F32),
        scale_narrow("scale_bf16", DataType::BF16, DataType::BF16),
        scale_narrow("scale_f16", DataType::F16, DataType::U8),
        saxpy(),
    ];
    let ok = generic(
        "scale",
        &[("scale_f32", DataType::F32), ("scale_bf16", DataType::BF16)],
    );
    let mut two_params = ok.clone();
    two_params.type_params.push("U".to_string());
    let mut consts = ok.clone();
    consts.const_params.push("N".to_string());
    let repeated = generic(
        "scale",
        &[("scale_f32", DataType::F32), ("scale_bf16", DataType::F32)],
    );
    let boolean = generic("scale", &[("scale_f32", DataType::Bool)]);
    // `b` is f16 in one, u8 in the other: not one signature.
    let mismatch = generic(
        "scale",
        &[("scale_bf16", DataType::BF16), ("scale_f16", DataType::F16)],
    );
    // `saxpy` has no parameter `b`.
    let count = generic(
        "scale",
        &[("saxpy", DataType::F32), ("scale_bf16", DataType::BF16)],
    );
    for g in [two_params, consts, repeated, boolean, mismatch, count] {
        let text = generate_module(&programs, std::slice::from_ref(&g)).unwrap();
        assert!(!text.contains("pub fn scale<"), "{g:?}: {text}");
        assert!(!text.contains("ScaleElem"), "{g:?}: {text}");
    }
    // One instance: every parameter of its type is `T`.
    let single = generic("scale", &[("scale_bf16", DataType::BF16)]);
    let text = generate_module(&programs, &[single]).unwrap();
    assert!(
        flat(&text).contains("pub fn scale<T: ScaleElem>( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, b: T, x: &::vyre::Buffer<T>,"),
        "{text}"
    );
    let missing = generic("scale", &[("scale_f64", DataType::F32)]);
    let err = generate_module(&programs, &[missing])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("instance `scale_f64` of generic kernel `scale` is not a kernel of its file"),
        "{err}"
    );
}

#[test]
fn output_is_deterministic_and_has_no_absolute_paths() {
    let a = scratch("det-a");
    let b = scratch("det-b");
    let out_a = builder(&a).compile_programs(two_files()).unwrap();
    let out_b = builder(&b).compile_programs(two_files()).unwrap();
    let text_a = fs::read(inner(&out_a)).unwrap();
    assert_eq!(text_a, fs::read(inner(&out_b)).unwrap());
    let text = String::from_utf8(text_a).unwrap();
    assert!(!text.contains(&*a.to_string_lossy()), "{text}");
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

#[test]
fn cache_reemits_only_changed_kernels_and_rewrites_nothing_unchanged() {
    let dir = scratch("cache");
    let first = builder(&dir).compile_programs(two_files()).unwrap();
    assert_eq!(first.emitted.len(), 3);
    assert_eq!(first.rewritten.len(), 5);

    // No change: nothing emitted, nothing written.
    let second = builder(&dir).compile_programs(two_files()).unwrap();
    assert!(second.emitted.is_empty(), "{:?}", second.emitted);
    assert!(second.rewritten.is_empty(), "{:?}", second.rewritten);

    // Change one kernel: only it is emitted; the module changes (new key).
    let mut files = two_files();
    files[0].programs[1] = fill("fill_b", 7);
    let third = builder(&dir).compile_programs(files.clone()).unwrap();
    assert_eq!(third.emitted, ["nn::fill::fill_b (toy)"]);
    assert_eq!(third.rewritten.len(), 1, "{:?}", third.rewritten);
    assert_eq!(third.rewritten[0], inner(&third));

    // A truncated blob is never reused.
    let blob = dir.join("vyre_kernels/saxpy.saxpy.toy.toy");
    fs::write(&blob, b"toy").unwrap();
    let fourth = builder(&dir).compile_programs(files.clone()).unwrap();
    assert_eq!(fourth.emitted, ["saxpy::saxpy (toy)"]);
    assert_eq!(fs::read(&blob).unwrap(), b"toy:saxpy:-:2");

    // A removed kernel's blob is deleted.
    files[0].programs.pop();
    let fifth = builder(&dir).compile_programs(files).unwrap();
    assert!(fifth.emitted.is_empty());
    assert!(!dir.join("vyre_kernels/nn.fill.fill_b.toy.toy").exists());
    assert!(dir.join("vyre_kernels/nn.fill.fill_a.toy.toy").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stub_mode_keeps_the_api_and_emits_nothing() {
    let dir = scratch("stub");
    let out = builder(&dir)
        .stub(true)
        .compile_programs(two_files())
        .unwrap();
    assert!(out.stub);
    assert!(out.emitted.is_empty());
    assert_eq!(out.generated, [out.module.clone(), inner(&out)]);
    let files: Vec<_> = fs::read_dir(dir.join("vyre_kernels"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["kernels.rs"]);
    let text = fs::read_to_string(inner(&out)).unwrap();
    assert!(text.contains("artifacts: &[]"), "{text}");
    assert!(text.contains("pub fn saxpy("), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn per_arch_targets_emit_one_blob_per_arch() {
    let dir = scratch("arch");
    let out = builder(&dir)
        .targets(["toy-arch"])
        .cuda_archs(["sm_80", "sm_90"])
        .compile_programs(vec![ProgramModule::new("saxpy", vec![saxpy()])])
        .unwrap();
    assert_eq!(
        out.emitted,
        [
            "saxpy::saxpy (toy-arch/sm_80)",
            "saxpy::saxpy (toy-arch/sm_90)"
        ]
    );
    assert_eq!(
        fs::read(dir.join("vyre_kernels/saxpy.saxpy.toy-arch.sm_90.bin")).unwrap(),
        b"toy:saxpy:sm_90:2"
    );
    let text = fs::read_to_string(inner(&out)).unwrap();
    assert!(text.contains("arch: Some(\"sm_80\")"), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_targets_follow_runtime_features() {
    let dir = scratch("defaults");
    let out = Builder::new()
        .out_dir(&dir)
        .emit_rerun_lines(false)
        .read_metadata(false)
        .stub(true)
        .compile_programs(vec![])
        .unwrap();
    // `toy-arch` needs the (absent) `toyfeature`; the always-available toys
    // are picked; msl/hlsl never are.
    assert!(
        out.targets.contains(&"toy".to_string()),
        "{:?}",
        out.targets
    );
    assert!(
        !out.targets.contains(&"toy-arch".to_string()),
        "{:?}",
        out.targets
    );
    assert!(!out.targets.iter().any(|t| t == "msl" || t == "hlsl"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unavailable_optional_target_is_skipped_with_a_note() {
    let dir = scratch("missing");
    let out = builder(&dir)
        .targets(["toy", "toy-missing"])
        .compile_programs(two_files())
        .unwrap();
    assert_eq!(
        out.warnings,
        ["target `toy-missing` skipped: toolc not found (set TOOLC)"]
    );
    let text = fs::read_to_string(inner(&out)).unwrap();
    assert!(!text.contains("toy-missing"), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn emitter_and_codegen_failures_are_errors() {
    let dir = scratch("fail");
    let err = builder(&dir)
        .targets(["toy-broken"])
        .compile_programs(two_files())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "vyre-build: nn::fill: kernel `fill_a` could not be compiled for `toy-broken`: cannot lower `fill_a`"
    );
    let err = builder(&dir)
        .targets(["toy-badcode"])
        .compile_programs(two_files())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("launcher codegen of target `toy-badcode`"),
        "{err}"
    );
    let err = builder(&dir)
        .targets(["nope"])
        .compile_programs(two_files())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown target `nope`") && err.contains("toy"),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn colliding_kernel_items_are_an_error() {
    let dir = scratch("collide");
    let err = builder(&dir)
        .compile_programs(vec![ProgramModule::new(
            "a",
            vec![fill("go", 1), fill("GO", 2)],
        )])
        .unwrap_err()
        .to_string();
    assert!(err.contains("both generate `a::GO_SPEC`"), "{err}");
    // A kernel named like another's static (rustc: E0428).
    for other in ["FOO_SPEC", "FOO_WORKGROUP_SIZE"] {
        let err = builder(&dir)
            .compile_programs(vec![ProgramModule::new(
                "a",
                vec![fill("foo", 1), fill(other, 2)],
            )])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "kernel `foo` and kernel `{other}` both generate `a::{other}`"
            )),
            "{err}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

const SAXPY_SRC: &str = "/// y = a * x + y\n#[kernel(workgroup_size = 256)]\npub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {\n    let i = global_id().x;\n    if i < y.len() {\n        y[i] = a * x[i] + y[i];\n    }\n}\n";

fn source_builder(root: &Path) -> Builder {
    Builder::new()
        .targets(["reference", "toy"])
        .manifest_dir(root)
        .out_dir(root.join("out"))
        .emit_rerun_lines(false)
        .read_metadata(false)
        .stub(false)
}

#[test]
fn compile_from_source_with_fast_path_and_per_kernel_cache() {
    let root = scratch("source");
    fs::create_dir_all(root.join("kernels/nn")).unwrap();
    fs::write(root.join("kernels/saxpy.vyre"), SAXPY_SRC).unwrap();
    fs::write(
        root.join("kernels/nn/scale-up.vyre"),
        SAXPY_SRC
            .replace("saxpy", "scale")
            .replace("a * x[i] + y[i]", "a * x[i]"),
    )
    .unwrap();

    let first = source_builder(&root).compile("kernels/").unwrap();
    assert!(!first.up_to_date);
    assert_eq!(first.kernels, 2);
    assert_eq!(first.emitted.len(), 4);
    assert_eq!(
        first.tracked,
        [
            root.join("kernels/"),
            root.join("kernels/nn"),
            root.join("kernels/nn/scale-up.vyre"),
            root.join("kernels/saxpy.vyre"),
        ]
    );
    let text = fs::read_to_string(inner(&first)).unwrap();
    assert!(
        text.contains("/// Kernels of `kernels/nn/scale-up.vyre`."),
        "{text}"
    );
    assert!(text.contains("pub mod scale_up {"), "{text}");

    // Same inputs: the fast path parses nothing and writes nothing.
    let second = source_builder(&root).compile("kernels/").unwrap();
    assert!(second.up_to_date);
    assert!(second.rewritten.is_empty() && second.emitted.is_empty());
    assert_eq!(second.generated, first.generated);

    // A different setting (targets) is not up to date.
    let third = source_builder(&root)
        .targets(["reference"])
        .compile("kernels/")
        .unwrap();
    assert!(!third.up_to_date);
    assert!(third.emitted.is_empty(), "{:?}", third.emitted);
    // The blobs of the dropped target were removed.
    assert!(!root.join("out/vyre_kernels/saxpy.saxpy.toy.toy").exists());
    let _ = source_builder(&root).compile("kernels/").unwrap();

    // Editing one kernel re-emits only that kernel.
    fs::write(
        root.join("kernels/saxpy.vyre"),
        SAXPY_SRC.replace("a * x[i]", "x[i] * a"),
    )
    .unwrap();
    let fourth = source_builder(&root).compile("kernels/").unwrap();
    assert!(!fourth.up_to_date);
    assert_eq!(
        fourth.emitted,
        ["saxpy::saxpy (reference)", "saxpy::saxpy (toy)"]
    );

    // A damaged output defeats the fast path and is repaired.
    let blob = root.join("out/vyre_kernels/saxpy.saxpy.reference.vyrebin");
    let good = fs::read(&blob).unwrap();
    fs::write(&blob, &good[..good.len() / 2]).unwrap();
    let fifth = source_builder(&root).compile("kernels/").unwrap();
    assert!(!fifth.up_to_date);
    assert_eq!(fifth.emitted, ["saxpy::saxpy (reference)"]);
    assert_eq!(fs::read(&blob).unwrap(), good);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn broken_kernel_is_a_rendered_diagnostic() {
    let root = scratch("broken");
    fs::create_dir_all(root.join("kernels")).unwrap();
    fs::write(root.join("kernels/ok.vyre"), SAXPY_SRC).unwrap();
    fs::write(
        root.join("kernels/bad.vyre"),
        "#[kernel(workgroup_size = 64)]\npub fn bad(out: &mut [u32]) {\n    let = 3;\n}\n",
    )
    .unwrap();
    let err = source_builder(&root).compile("kernels").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("kernels/bad.vyre:3:"), "{text}");
    assert!(text.contains("let = 3;"), "{text}");
    assert!(text.contains('^'), "{text}");
    let summary = err.summary();
    assert!(summary.starts_with("kernels/bad.vyre:3:"), "{summary}");
    assert!(!summary.contains('\n'), "{summary}");
    // Nothing was written for a failed build.
    assert!(!root.join("out").exists());
    fs::remove_dir_all(&root).unwrap();
}

/// A generic kernel's entry must not clash with a launcher of its module.
#[test]
fn generic_entry_clashing_with_a_launcher_is_an_error() {
    let parsed = |generics| {
        vec![plan::ParsedFile {
            file: plan::KernelFile {
                path: PathBuf::from("m.vyre"),
                display: "m.vyre".to_string(),
                module_path: vec!["m".to_string()],
            },
            programs: vec![saxpy(), fill("scale", 1), fill("scale_u32", 2)],
            generics,
            grids: std::collections::BTreeMap::new(),
            debug: std::collections::BTreeMap::new(),
        }]
    };
    let settings = plan::PlanSettings {
        targets: &[],
        archs: &[],
        config: &DispatchConfig::default(),
        generator: "test",
        stub: true,
    };
    let ok = generic("saxpy_generic", &[("scale_u32", DataType::U32)]);
    assert!(plan::plan(&parsed(vec![ok.clone()]), &settings).is_ok());
    let err = plan::plan(&parsed(vec![ok.clone(), ok]), &settings)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("generic kernel `saxpy_generic` and generic kernel `saxpy_generic` both generate `m::saxpy_generic`"),
        "{err}"
    );
    let clash = generic("scale", &[("scale_u32", DataType::U32)]);
    let err = plan::plan(&parsed(vec![clash]), &settings)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(
            "m.vyre: kernel `scale` and generic kernel `scale` both generate `m::scale`; rename one"
        ),
        "{err}"
    );
}

const SCALE_GENERIC_SRC: &str = "/// y = a * x\n#[kernel(workgroup_size = 64, instances(f32 = (T = f32), bf16 = (T = bf16)))]\npub fn scale<T>(a: f32, x: &[T], y: &mut [T]) {\n    let i = global_id().x;\n    if i < y.len() {\n        y[i] = (a * x[i] as f32) as T;\n    }\n}\n\n#[kernel(workgroup_size = 64, instances(small = (N = 16), big = (N = 32)))]\npub fn tiled<const N: u32>(x: &mut [u32]) {\n    x[global_id().x] = N;\n}\n";

/// A `.vyre` generic kernel: a launcher per instance and, with one type
/// parameter, the typed entry; const-generic kernels get instance
/// launchers only.
#[test]
fn generic_kernels_from_source() {
    let root = scratch("generic-source");
    fs::create_dir_all(root.join("kernels")).unwrap();
    fs::write(root.join("kernels/scale.vyre"), SCALE_GENERIC_SRC).unwrap();
    let out = source_builder(&root).compile("kernels/").unwrap();
    assert_eq!(out.kernels, 4);
    let text = fs::read_to_string(inner(&out)).unwrap();
    syn::parse_file(&text).unwrap();
    let flat = flat(&text);
    for f in ["scale_f32", "scale_bf16", "tiled_small", "tiled_big"] {
        assert!(flat.contains(&format!("pub fn {f}(")), "{f}: {text}");
    }
    assert!(
        flat.contains("/// y = a * x /// /// Generic over the element type `T`, one of `f32` ([`scale_f32`]), `bf16` ([`scale_bf16`]): calls the /// launcher of `T`'s instance. pub fn scale<T: ScaleElem>( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, x: &::vyre::Buffer<T>, y: &mut ::vyre::Buffer<T>, ) -> ::vyre::Result<()>"),
        "{text}"
    );
    assert!(!flat.contains("pub fn tiled<"), "{text}");
    assert!(!flat.contains("TiledElem"), "{text}");
    fs::remove_dir_all(&root).unwrap();
}

/// A zeroed `16x8x16` accumulator stored to a buffer: a kernel with a
/// matrix operation, which needs sm_80.
fn matrix_kernel() -> Program {
    use vyre::ir::{MatrixLayout, MatrixOp, MatrixRole, MatrixShape};
    let mut b = ProgramBuilder::new("tile", [32, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let shape = MatrixShape { m: 16, n: 8, k: 16 };
    let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

/// A zeroed warpgroup accumulator stored to a buffer: a kernel that
/// `wgmma` serves on sm_90a.
fn warpgroup_kernel() -> Program {
    use vyre::ir::{MatrixLayout, MatrixOp};
    let mut b = ProgramBuilder::new("wg_tile", [128, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let c = b.warpgroup_accumulator("c", 8, 16);
    b.body(|blk| {
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

/// Without chosen archs, a per-arch target is built for the architecture
/// each kernel's PTX is emitted for (sm_80 for matrix operations), so the
/// artifact is named for what it runs on, plus sm_90a for warpgroup
/// matrices; chosen archs are kept as given.
#[test]
fn unchosen_archs_follow_each_kernel() {
    let toy_arch = vyre::driver::launcher_codegen("toy-arch").unwrap();
    let parsed = vec![plan::ParsedFile {
        file: plan::KernelFile {
            path: PathBuf::from("m.vyre"),
            display: "m.vyre".to_string(),
            module_path: vec!["m".to_string()],
        },
        programs: vec![saxpy(), matrix_kernel(), warpgroup_kernel()],
        generics: vec![],
        grids: std::collections::BTreeMap::new(),
        debug: std::collections::BTreeMap::new(),
    }];
    let config = DispatchConfig::default();
    let archs_of = |archs: &[String]| {
        let settings = plan::PlanSettings {
            targets: &[toy_arch],
            archs,
            config: &config,
            generator: "test",
            stub: false,
        };
        plan::plan(&parsed, &settings)
            .unwrap()
            .jobs
            .iter()
            .map(|j| j.arch.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(archs_of(&[]), ["sm_70", "sm_80", "sm_80", "sm_90a"]);
    assert_eq!(
        archs_of(&["sm_90".to_string()]),
        ["sm_90", "sm_90", "sm_90"]
    );
}

/// The generated module of one `.vyre` source, with `records` as its
/// tuning table.
fn generate_source(
    src: &str,
    records: &[vyre::runtime::tune::TuneRecord],
) -> Result<String, Error> {
    let module = vyre::lang::parse("m.vyre", src).unwrap();
    let generics: Vec<crate::generic::GenGeneric> = module
        .generics
        .iter()
        .map(crate::generic::GenGeneric::from)
        .collect();
    generate_with(&module.kernels, &generics, &module.grids, records)
}

const TUNED: &str = r#"
#[kernel(grid = n.div_ceil(B), tune(B), instances(small = (B = 64), big = (B = 256)))]
pub fn k<const B: u32>(n: u32, y: &mut [f32]) {}
"#;

fn record(size: &[(&str, u64)], best: &str, line: usize) -> vyre::runtime::tune::TuneRecord {
    vyre::runtime::tune::TuneRecord {
        kernel: "m::k".to_string(),
        arch: "sm_90".to_string(),
        size: size.iter().map(|(n, v)| ((*n).to_string(), *v)).collect(),
        best: best.to_string(),
        times_us: vec![(best.to_string(), 1.0)],
        line,
    }
}

/// A record's choice is compiled in as the index of its instance in the
/// group, under its arch and size; the entry computes the grid.
#[test]
fn table_records_become_choices_of_the_dispatching_entry() {
    let text = generate_source(TUNED, &[record(&[("n", 4096), ("y", 4096)], "big", 3)]).unwrap();
    let flat = flat(&text);
    assert!(
        flat.contains(r#"::vyre::runtime::tune::TuneChoice { arch: "sm_90", size: &[4096u64, 4096u64], instance: 1usize, }"#),
        "{text}"
    );
    assert!(flat.contains("pub fn k( device: &::vyre::Device, n: u32, y: &mut ::vyre::Buffer<f32>, ) -> ::vyre::Result<()>"), "{text}");
    assert!(flat.contains("pub fn k_tune("), "{text}");
    assert!(
        flat.contains("pub fn k_big( device: &::vyre::Device, n: u32, y"),
        "no grid argument: {text}"
    );
    assert!(
        flat.contains(r#"::vyre::runtime::GridArith::new("k_big", "(n.div_ceil(256), 1, 1)")"#),
        "{text}"
    );
}

/// A record measured with another size key (the kernel's parameters
/// changed since) fails the build at the record's line.
#[test]
fn a_record_of_another_size_shape_is_an_error_at_its_line() {
    let err =
        generate_source(TUNED, &[record(&[("m", 4096), ("y", 4096)], "small", 9)]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("vyre-build: kernels/vyre-tune.toml:9: "),
        "{text}"
    );
    assert!(
        text.contains("gives the size as m, y, but the kernel's size key is n, y"),
        "{text}"
    );
    let err = generate_source(TUNED, &[record(&[("n", 1), ("y", 1)], "huge", 4)]).unwrap_err();
    assert!(err.to_string().contains("kernels/vyre-tune.toml:4: `m::k` has no instance `huge` (its instances are `small`, `big`)"), "{err}");
}

/// A kernel named `gen` (a keyword from edition 2024 on, which `syn`
/// accepts) gets a raw launcher name, so that the module compiles there.
#[test]
fn a_kernel_named_gen_gets_a_raw_launcher() {
    let text = generate_module(&[fill("gen", 1)], &[]).unwrap();
    assert!(text.contains("pub unsafe fn r#gen("), "{text}");
    assert!(text.contains("pub static GEN_SPEC"), "{text}");
}

/// Direction controls in a doc comment (rustc refuses them there) are
/// written out as `\u{..}`.
#[test]
fn direction_controls_in_docs_are_escaped() {
    let mut p = fill("k", 1);
    p.doc = "abc \u{202E}def\u{2066} ghi".to_string();
    let text = generate_module(&[p], &[]).unwrap();
    assert!(
        !text.contains('\u{202E}') && !text.contains('\u{2066}'),
        "{text}"
    );
    assert!(text.contains("abc \\u{202e}def\\u{2066} ghi"), "{text}");
}

/// A debug build (`Builder::debug(true)`): launchers and the generic entry
/// keep the user's parameters, the specs gain the two rings and the call
/// sites; a plain build of the same source has neither, and switching
/// rebuilds.
#[test]
fn debug_builds_hide_the_rings_and_list_the_sites() {
    let root = scratch("debug-build");
    fs::create_dir_all(root.join("kernels")).unwrap();
    let src = SCALE_GENERIC_SRC.replace(
        "        y[i] = (a * x[i] as f32) as T;",
        "        debug_assert!(a > 0.0, \"a = {}\", a);\n        y[i] = (a * x[i] as f32) as T;",
    );
    fs::write(root.join("kernels/scale.vyre"), &src).unwrap();
    let plain = source_builder(&root)
        .debug(false)
        .compile("kernels/")
        .unwrap();
    let plain_text = flat(&fs::read_to_string(inner(&plain)).unwrap());
    assert!(!plain_text.contains("__vyre_debug"), "{plain_text}");
    assert!(plain_text.contains("debug: &[],"), "{plain_text}");

    let debug = source_builder(&root)
        .debug(true)
        .compile("kernels/")
        .unwrap();
    assert!(
        !debug.up_to_date,
        "the debug setting is part of the build key"
    );
    let text = fs::read_to_string(inner(&debug)).unwrap();
    syn::parse_file(&text).unwrap();
    let flat = flat(&text);
    // The rings are in the spec, not in any signature.
    assert!(flat.contains("name: \"__vyre_debug\""), "{text}");
    assert!(flat.contains("name: \"__vyre_debug_f32\""), "{text}");
    assert!(
        flat.contains("pub fn scale_f32( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, x: &::vyre::Buffer<f32>, y: &mut ::vyre::Buffer<f32>, ) -> ::vyre::Result<()>"),
        "{text}"
    );
    assert!(
        flat.contains("pub fn scale<T: ScaleElem>( device: &::vyre::Device, grid: ::vyre::Grid, a: f32, x: &::vyre::Buffer<T>, y: &mut ::vyre::Buffer<T>, ) -> ::vyre::Result<()>"),
        "{text}"
    );
    assert!(
        flat.contains("::vyre::runtime::DebugSiteSpec { assert: Some(\"a > 0.0\"), file: \"kernels/scale.vyre\", line: 6u32, column: 9u32, format: \"a = {}\", args: &[::vyre::ir::DataType::F32], }"),
        "{text}"
    );
    // Kernels without debug calls are untouched.
    assert!(flat.contains("pub fn tiled_small( device: &::vyre::Device, grid: ::vyre::Grid, x: &mut ::vyre::Buffer<u32>, )"), "{text}");
    fs::remove_dir_all(&root).unwrap();
}
