//! Validation and the four writers, registered as AOT targets with their
//! launcher codegen.

use std::fmt::Write as _;

use naga::back::{hlsl, msl, spv, wgsl};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

use super::layout::{BIND_GROUP, Layout};
use super::lower::{lower, lower_with_vector_views, slot_kinds};
use crate::DispatchConfig;
use crate::driver::{
    AotLauncherFiles, AotLauncherRequest, CompileError, CompileResult, KernelLauncherCodegen,
};
use crate::ir::{Access, DataType, Expr, MathFn, Param, Program};

/// A failure of one of naga's passes (validator or writer) for `target`.
fn naga_failed(
    program: &Program,
    tool: &str,
    target: &str,
    e: &dyn std::error::Error,
) -> CompileError {
    CompileError::ToolFailed {
        kernel: program.name.clone(),
        tool: format!("naga's {tool}"),
        target: target.into(),
        output: chain(e),
    }
}

/// An error and its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let _ = write!(s, ": {c}");
        cur = c.source();
    }
    s
}

/// `` `u64`, `i64` and `f64` `` (the types of `tys`, quoted).
fn type_list(tys: &[DataType]) -> String {
    let names: Vec<String> = tys.iter().map(|t| format!("`{t}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The 64-bit types `target` cannot express, as an
/// [`CompileError::Unsupported`]: WGSL has no 64-bit types at all (naga's
/// writer would print `i64`/`u64`/`f64` and `li`/`lu`/`lf` literals, which
/// only naga's own front end reads, not the WGSL of browsers or Tint),
/// Metal has no `double` (its `long`/`ulong` are fine), and HLSL has no
/// `double` `sqrt`, `floor` or `ceil` (DXIL defines them for 16- and 32-bit
/// floats only; DXC would silently compute them in `float`).
fn check_wide_types(program: &Program, target: &str) -> CompileResult<()> {
    if target == "hlsl" {
        return check_hlsl_f64_math(program);
    }
    let wide = program.wide_types();
    let missing: Vec<DataType> = match target {
        "wgsl" => wide,
        "msl" => wide.into_iter().filter(|t| *t == DataType::F64).collect(),
        _ => return Ok(()),
    };
    if missing.is_empty() {
        return Ok(());
    }
    let (language, instead) = if target == "wgsl" {
        (
            "WGSL has no 64-bit types",
            "it runs on wgpu through the `spirv` target (SPIR-V passthrough on Vulkan)",
        )
    } else {
        (
            "Metal has no 64-bit float type",
            "`u64` and `i64` are fine on Metal",
        )
    };
    Err(CompileError::Unsupported {
        kernel: program.name.clone(),
        construct: format!(
            "the kernel uses {}, which this target cannot express ({language}; {instead}; `ptx`, `hlsl` and `reference` have them too)",
            type_list(&missing)
        ),
        target: target.into(),
    })
}

/// HLSL's `f64` math: `abs min max clamp mul_add` exist in DXIL for
/// `double`, `sqrt floor ceil` do not.
fn check_hlsl_f64_math(program: &Program) -> CompileResult<()> {
    let mut missing: Option<MathFn> = None;
    program.any_expr(&mut |e| {
        if let Expr::Math(f @ (MathFn::Sqrt | MathFn::Floor | MathFn::Ceil), args) = e
            && args.first().and_then(|a| program.type_of(a)) == Some(DataType::F64)
        {
            missing = Some(*f);
        }
        missing.is_some()
    });
    match missing {
        None => Ok(()),
        Some(f) => Err(CompileError::Unsupported {
            kernel: program.name.clone(),
            construct: format!(
                "`f64` `{}`, which HLSL cannot express (DXIL has `sqrt`, `floor` and `ceil` for 16- and 32-bit floats only; `spirv`, `ptx` and `reference` have them)",
                f.name()
            ),
            target: "hlsl".into(),
        }),
    }
}

/// The naga capabilities a kernel's module needs beyond the base ones:
/// `SUBGROUP` for subgroup operations, `SHADER_INT64` for any 64-bit type
/// (an `f64` kernel tests NaN and converts through `u64` bits too),
/// `FLOAT64` for `f64` and `SHADER_FLOAT32_ATOMIC` for `f32` atomics.
pub fn capabilities(program: &Program) -> Capabilities {
    let mut caps = Capabilities::empty();
    if program.uses_subgroups() {
        caps |= Capabilities::SUBGROUP;
    }
    let wide = program.wide_types();
    if !wide.is_empty() {
        caps |= Capabilities::SHADER_INT64;
    }
    if wide.contains(&DataType::F64) {
        caps |= Capabilities::FLOAT64;
    }
    if program.uses_float_atomics() {
        caps |= Capabilities::SHADER_FLOAT32_ATOMIC;
    }
    caps
}

/// `atomic_add` on `f32` elements where `target` has no float atomics:
/// HLSL (DXIL's atomic add is integer-only; `spirv`, `msl`, `wgsl` through
/// wgpu's `SHADER_FLOAT32_ATOMIC`, `ptx` and `reference` have it).
fn check_float_atomics(program: &Program, target: &str) -> CompileResult<()> {
    if target != "hlsl" || !program.uses_float_atomics() {
        return Ok(());
    }
    Err(CompileError::Unsupported {
        kernel: program.name.clone(),
        construct: "`atomic_add` on `f32` elements, which HLSL cannot express (DXIL's atomic add takes integers only; `spirv`, `msl`, `wgsl`, `ptx` and `reference` have it)".into(),
        target: target.into(),
    })
}

/// Lower `program` and run naga's validator over the module.
///
/// # Errors
///
/// The lowering's message, or the validator's, naming the kernel and
/// `target`; [`CompileError::Unsupported`] for 64-bit types `target`
/// cannot express (any in `wgsl`, `f64` in `msl`, `f64` `sqrt`, `floor` and
/// `ceil` in `hlsl`).
pub fn lower_and_validate(
    program: &Program,
    config: &DispatchConfig,
    target: &str,
) -> CompileResult<(naga::Module, ModuleInfo)> {
    // SPIR-V alone may alias a binding (the 16-byte views of
    // `lower_with_vector_views`); the other languages cannot.
    let (module, flags) = if target == "spirv" {
        (
            lower_with_vector_views(program, config),
            ValidationFlags::all() - ValidationFlags::BINDINGS,
        )
    } else {
        (lower(program, config), ValidationFlags::all())
    };
    let module = module.map_err(|e| e.for_target(target))?;
    // After lowering, which validates the kernel: an invalid one is
    // reported as such first.
    check_wide_types(program, target)?;
    check_float_atomics(program, target)?;
    // Subgroup and 64-bit kernels need their capabilities (`SUBGROUP`
    // allows every subgroup operation in compute shaders); the others are
    // validated without them.
    let info = Validator::new(flags, capabilities(program))
        .validate(&module)
        .map_err(|e| naga_failed(program, "validator", target, e.as_inner()))?;
    Ok((module, info))
}

/// SPIR-V words for `program` (SPIR-V 1.0, Vulkan 1.0 environment; SPIR-V
/// 1.3, Vulkan 1.1, for kernels with subgroup operations, whose
/// `GroupNonUniform` instructions are core from 1.3 on).
///
/// # Errors
///
/// Lowering, validation or writer failure.
pub fn spirv_words(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u32>> {
    let (module, info) = lower_and_validate(program, config, "spirv")?;
    let options = spv::Options {
        lang_version: if program.uses_subgroups() {
            (1, 3)
        } else {
            (1, 0)
        },
        // Names only: deterministic, and the same in debug and release.
        flags: spv::WriterFlags::DEBUG,
        // Descriptor set and binding come straight from the module's
        // `ResourceBinding`s; the map would only add binding-array sizes.
        fake_missing_bindings: true,
        // The lowering emits vyre's own checks; naga's would be redundant.
        bounds_check_policies: naga::proc::BoundsCheckPolicies::default(),
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::Polyfill,
        // Divisors are never 0 nor `i32::MIN / -1` after lowering.
        emit_int_div_checks: false,
        ..spv::Options::default()
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: program.name.clone(),
    };
    let words = spv::write_vec(&module, &info, &options, Some(&pipeline))
        .map_err(|e| naga_failed(program, "SPIR-V writer", "spirv", &e))?;
    if program.fast_math {
        return Ok(words);
    }
    no_contraction(&words)
        .and_then(|w| preserve_inf_nan(&w))
        .map_err(|e| CompileError::Internal {
            kernel: program.name.clone(),
            target: "spirv".into(),
            what: format!("malformed SPIR-V from naga: {e}"),
        })
}

/// `(word offset, word count, opcode)` of every instruction after the
/// header, or what makes the stream malformed.
fn instructions(words: &[u32]) -> Result<Vec<(usize, usize, u16)>, String> {
    if words.len() < 5 {
        return Err("shorter than a SPIR-V header".into());
    }
    let mut out = Vec::new();
    let mut at = 5;
    while at < words.len() {
        let count = (words[at] >> 16) as usize;
        if count == 0 || at + count > words.len() {
            return Err(format!("bad instruction length at word {at}"));
        }
        out.push((at, count, (words[at] & 0xffff) as u16));
        at += count;
    }
    Ok(out)
}

/// Declare the `SignedZeroInfNanPreserve` execution mode for 32-bit floats
/// (and 64-bit ones in a module declaring the `Float64` capability).
///
/// Without it a Vulkan driver may assume that no float is NaN or infinite
/// and fold accordingly: on the H100, NVIDIA's turned `0.0 / (x * 0.0)`
/// into `0.0` and `28.0 != NaN` into `false`, where vyre promises IEEE
/// results. The mode comes from `SPV_KHR_float_controls`, core in Vulkan
/// 1.2 (lavapipe and NVIDIA support it for 32-bit floats); the patch adds
/// the capability, the extension and one `OpExecutionMode` per entry point
/// and float width.
fn preserve_inf_nan(words: &[u32]) -> Result<Vec<u32>, String> {
    const OP_EXTENSION: u16 = 10;
    const OP_ENTRY_POINT: u16 = 15;
    const OP_EXECUTION_MODE: u16 = 16;
    const OP_CAPABILITY: u16 = 17;
    const CAP_FLOAT64: u32 = 10;
    const CAP_SIGNED_ZERO_INF_NAN_PRESERVE: u32 = 4466;
    const MODE_SIGNED_ZERO_INF_NAN_PRESERVE: u32 = 4461;
    let insts = instructions(words)?;
    let widths: &[u32] = if insts
        .iter()
        .any(|&(at, count, op)| op == OP_CAPABILITY && count == 2 && words[at + 1] == CAP_FLOAT64)
    {
        &[32, 64]
    } else {
        &[32]
    };
    let end_of = |ops: &[u16]| {
        insts
            .iter()
            .filter(|(_, _, op)| ops.contains(op))
            .map(|(at, count, _)| at + count)
            .max()
    };
    let cap_at = end_of(&[OP_CAPABILITY]).ok_or("no OpCapability")?;
    let ext_at = end_of(&[OP_EXTENSION]).unwrap_or(cap_at).max(cap_at);
    let mode_at = end_of(&[OP_ENTRY_POINT, OP_EXECUTION_MODE]).ok_or("no OpEntryPoint")?;
    let entry_points: Vec<u32> = insts
        .iter()
        .filter(|(_, count, op)| *op == OP_ENTRY_POINT && *count >= 3)
        .map(|(at, ..)| words[at + 2])
        .collect();
    // A literal string: UTF-8, NUL-terminated, padded to whole words.
    let mut name = b"SPV_KHR_float_controls".to_vec();
    name.resize((name.len() / 4 + 1) * 4, 0);
    let name_words: Vec<u32> = name
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut out = Vec::with_capacity(words.len() + 10 + 4 * entry_points.len() * widths.len());
    out.extend_from_slice(&words[..cap_at]);
    out.extend_from_slice(&[
        (2 << 16) | u32::from(OP_CAPABILITY),
        CAP_SIGNED_ZERO_INF_NAN_PRESERVE,
    ]);
    out.extend_from_slice(&words[cap_at..ext_at]);
    out.push(((1 + name_words.len() as u32) << 16) | u32::from(OP_EXTENSION));
    out.extend_from_slice(&name_words);
    out.extend_from_slice(&words[ext_at..mode_at]);
    for id in entry_points {
        for &width in widths {
            out.extend_from_slice(&[
                (4 << 16) | u32::from(OP_EXECUTION_MODE),
                id,
                MODE_SIGNED_ZERO_INF_NAN_PRESERVE,
                width,
            ]);
        }
    }
    out.extend_from_slice(&words[mode_at..]);
    Ok(out)
}

/// Decorate every float arithmetic result `NoContraction`.
///
/// SPIR-V lets a driver contract `a * b + c` into one FMA (NVIDIA's does),
/// which rounds once where Rust and the reference round twice. vyre
/// promises IEEE `f32` with one rounding per operation unless the kernel is
/// `fast_math`; naga has no option for this, so the words are patched: one
/// `OpDecorate %id NoContraction` (core SPIR-V, valid on every device) per
/// float arithmetic or extended-instruction result, added at the end of the
/// annotation section.
fn no_contraction(words: &[u32]) -> Result<Vec<u32>, String> {
    const OP_EXT_INST: u16 = 12;
    const OP_FUNCTION: u16 = 54;
    const OP_DECORATE: u16 = 71;
    const NO_CONTRACTION: u32 = 42;
    // OpFNegate, OpFAdd, OpFSub, OpFMul, OpFDiv, OpFRem, OpFMod.
    const FLOAT_ARITH: [u16; 7] = [127, 129, 131, 133, 136, 140, 141];
    // OpDecorate .. OpGroupMemberDecorate, OpDecorateId, OpDecorateString,
    // OpMemberDecorateString.
    let is_annotation = |op: u16| (71..=75).contains(&op) || op == 332 || op == 5632 || op == 5633;
    let mut ids = Vec::new();
    let mut insert_at = None;
    let mut seen_function = false;
    for (at, count, op) in instructions(words)? {
        if op == OP_FUNCTION {
            seen_function = true;
        }
        if !seen_function && is_annotation(op) {
            insert_at = Some(at + count);
        }
        // [op, result type, result id, ...]
        if (FLOAT_ARITH.contains(&op) || op == OP_EXT_INST) && count >= 3 {
            ids.push(words[at + 2]);
        }
    }
    let Some(insert_at) = insert_at else {
        return Err("no annotation section".into());
    };
    let mut out = Vec::with_capacity(words.len() + ids.len() * 3);
    out.extend_from_slice(&words[..insert_at]);
    for id in ids {
        out.extend_from_slice(&[(3 << 16) | u32::from(OP_DECORATE), id, NO_CONTRACTION]);
    }
    out.extend_from_slice(&words[insert_at..]);
    Ok(out)
}

/// The `spirv` emitter: SPIR-V words as little-endian bytes.
///
/// # Errors
///
/// See [`spirv_words`].
pub fn emit_spirv(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    Ok(spirv_words(program, config)?
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect())
}

/// WGSL source for `program`.
///
/// # Errors
///
/// Lowering, validation or writer failure.
pub fn wgsl_source(program: &Program, config: &DispatchConfig) -> CompileResult<String> {
    let (module, info) = lower_and_validate(program, config, "wgsl")?;
    wgsl::write_string(&module, &info, wgsl::WriterFlags::empty())
        .map_err(|e| naga_failed(program, "WGSL writer", "wgsl", &e))
}

/// The `wgsl` emitter.
///
/// # Errors
///
/// See [`wgsl_source`].
pub fn emit_wgsl(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    wgsl_source(program, config).map(String::into_bytes)
}

/// MSL source for `program` (Metal 2.0; 2.3 for kernels with `u64` or
/// `i64`, which Metal has from 2.3 on; `f64`, which Metal lacks, is
/// [`CompileError::Unsupported`]). Binding `b` of group 0 is
/// `[[buffer(b)]]` (buffer parameters, then the parameter block); naga's
/// buffer-sizes block follows at the next slot (it must be bound, but vyre's
/// code never reads it: lengths come from the parameter block).
///
/// # Errors
///
/// Lowering, validation or writer failure, or more buffers than Metal's 31
/// argument slots.
pub fn msl_source(program: &Program, config: &DispatchConfig) -> CompileResult<String> {
    let (module, info) = lower_and_validate(program, config, "msl")?;
    let layout = Layout::new(&slot_kinds(program));
    let mut resources = msl::EntryPointResources::default();
    // Buffers, the parameter block, and naga's buffer-sizes block (which
    // naga requires with runtime-sized arrays; vyre's code never reads it).
    let sizes_slot = layout.buffer_count + u32::from(layout.uniform_binding().is_some());
    if sizes_slot >= 31 {
        return Err(CompileError::Unsupported {
            kernel: program.name.clone(),
            construct: format!(
                "{} buffer parameters plus the parameter and sizes blocks need {} buffer slots; Metal has 31",
                layout.buffer_count,
                sizes_slot + 1
            ),
            target: "msl".into(),
        });
    }
    resources.sizes_buffer = Some(sizes_slot as u8);
    for (i, param) in program.params.iter().enumerate() {
        if let (Param::Buffer(decl), Some(binding)) = (param, layout.buffer_binding[i]) {
            resources.resources.insert(
                naga::ResourceBinding {
                    group: BIND_GROUP,
                    binding,
                },
                msl::BindTarget {
                    buffer: Some(binding as u8),
                    mutable: decl.access == Access::ReadWrite,
                    ..msl::BindTarget::default()
                },
            );
        }
    }
    if let Some(binding) = layout.uniform_binding() {
        resources.resources.insert(
            naga::ResourceBinding {
                group: BIND_GROUP,
                binding,
            },
            msl::BindTarget {
                buffer: Some(binding as u8),
                ..msl::BindTarget::default()
            },
        );
    }
    let mut options = msl::Options {
        // 64-bit integers need Metal 2.3 (where wgpu offers
        // `SHADER_INT64`); `f64` was refused above.
        lang_version: if program.wide_types().is_empty() {
            (2, 0)
        } else {
            (2, 3)
        },
        fake_missing_bindings: false,
        zero_initialize_workgroup_memory: true,
        emit_int_div_checks: false,
        ..msl::Options::default()
    };
    options
        .per_entry_point_map
        .insert(program.name.clone(), resources);
    let pipeline = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, program.name.clone())),
        ..msl::PipelineOptions::default()
    };
    let (text, translation) = msl::write_string(&module, &info, &options, &pipeline)
        .map_err(|e| naga_failed(program, "MSL writer", "msl", &e))?;
    // The writer reports a failed entry point here and just leaves it out.
    let name = match translation.entry_point_names.into_iter().next() {
        Some(Ok(name)) => name,
        Some(Err(e)) => return Err(naga_failed(program, "MSL writer", "msl", &e)),
        None => {
            return Err(CompileError::Internal {
                kernel: program.name.clone(),
                target: "msl".into(),
                what: "naga's MSL writer wrote no entry point".into(),
            });
        }
    };
    Ok(with_entry_header(program, &name, &text))
}

/// naga's namer may respell the entry point in MSL and HLSL (a kernel name
/// ending in a digit gets a `_`, keywords are escaped); the first line
/// says what to look up.
fn with_entry_header(program: &Program, entry: &str, text: &str) -> String {
    format!(
        "// vyre kernel `{}`: entry point `{entry}`\n{text}",
        program.name
    )
}

/// The `msl` emitter.
///
/// # Errors
///
/// See [`msl_source`].
pub fn emit_msl(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    msl_source(program, config).map(String::into_bytes)
}

/// HLSL source for `program` (shader model 5.1; 6.0, which has the wave
/// intrinsics, `int64_t` and the templated `ByteAddressBuffer` loads naga
/// writes for 8-byte elements, for kernels with subgroup operations or
/// 64-bit types; `f64` `sqrt`, `floor` and `ceil`, which DXIL lacks, are
/// [`CompileError::Unsupported`]; `f64` division needs D3D's extended
/// doubles option on the device). Binding `b` of group 0 is
/// register `b` of space 0 in its class (`t` for `&[T]`, `u` for `&mut [T]`,
/// `b` for the parameter block). HLSL has no `num_workgroups` builtin: every
/// kernel reads the physical workgroup counts (to rebuild the logical grid,
/// see docs/targets.md) from naga's special constant buffer at
/// `b(buffer_count + 1)`, which the runtime fills with the physical
/// workgroup counts (as wgpu's DX12 backend does).
///
/// # Errors
///
/// Lowering, validation or writer failure.
pub fn hlsl_source(program: &Program, config: &DispatchConfig) -> CompileResult<String> {
    let (module, info) = lower_and_validate(program, config, "hlsl")?;
    let layout = Layout::new(&slot_kinds(program));
    let options = hlsl::Options {
        shader_model: if program.uses_subgroups() || !program.wide_types().is_empty() {
            hlsl::ShaderModel::V6_0
        } else {
            hlsl::ShaderModel::V5_1
        },
        special_constants_binding: Some(hlsl::BindTarget {
            space: BIND_GROUP as u8,
            register: layout.buffer_count + 1,
            binding_array_size: None,
            dynamic_storage_buffer_offsets_index: None,
            restrict_indexing: false,
        }),
        zero_initialize_workgroup_memory: true,
        ..hlsl::Options::default()
    };
    let pipeline = hlsl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, program.name.clone())),
    };
    let mut text = String::new();
    let reflection = hlsl::Writer::new(&mut text, &options, &pipeline)
        .write(&module, &info, None)
        .map_err(|e| naga_failed(program, "HLSL writer", "hlsl", &e))?;
    match reflection.entry_point_names.into_iter().next() {
        Some(Ok(name)) => Ok(with_entry_header(program, &name, &text)),
        Some(Err(e)) => Err(naga_failed(program, "HLSL writer", "hlsl", &e)),
        None => Err(CompileError::Internal {
            kernel: program.name.clone(),
            target: "hlsl".into(),
            what: "naga's HLSL writer wrote no entry point".into(),
        }),
    }
}

/// The `hlsl` emitter.
///
/// # Errors
///
/// See [`hlsl_source`].
pub fn emit_hlsl(program: &Program, config: &DispatchConfig) -> CompileResult<Vec<u8>> {
    hlsl_source(program, config).map(String::into_bytes)
}

crate::register_typed_aot_emitter!("spirv", emit_spirv);
crate::register_typed_aot_emitter!("wgsl", emit_wgsl);
crate::register_typed_aot_emitter!("msl", emit_msl);
crate::register_typed_aot_emitter!("hlsl", emit_hlsl);

/// The standalone launcher crate of the `spirv` target (wgpu). wgpu has no
/// collective library, so `include_collectives` is refused.
fn launcher(request: &AotLauncherRequest<'_>) -> Result<AotLauncherFiles, String> {
    const WGPU: &str = concat!(
        "{ version = \"",
        env!("CARGO_PKG_VERSION"),
        "\", features = [\"wgpu\"] }"
    );
    if request.include_collectives {
        return Err(format!(
            "{}include_collectives (wgpu has no collective library; use `ptx` with NCCL or `reference`)",
            crate::driver::UNSUPPORTED_PREFIX
        ));
    }
    Ok(crate::driver::standard_launcher_files(
        request, WGPU, "Wgpu",
    ))
}

crate::register_aot_launcher_emitter!("spirv", launcher);

// All four are embedded only when the downstream crate enables `vyre/wgpu`:
// wgpu runs `spirv` (passthrough) or `wgsl`; `msl` and `hlsl` have no vyre
// runtime of their own yet and ride along for users who load them elsewhere.
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "spirv",
    runtime_feature: Some("wgpu"),
    extension: "spv",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "wgsl",
    runtime_feature: Some("wgpu"),
    extension: "wgsl",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "msl",
    runtime_feature: Some("wgpu"),
    extension: "metal",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "hlsl",
    runtime_feature: Some("wgpu"),
    extension: "hlsl",
    per_arch: false,
    optional: false,
    artifact_expr: crate::driver::include_bytes_artifact,
});
