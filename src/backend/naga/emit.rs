//! Validation and the four writers, registered as AOT targets with their
//! launcher codegen.

use std::fmt::Write as _;

use naga::back::{hlsl, msl, spv, wgsl};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

use super::layout::{BIND_GROUP, Layout};
use super::lower::{lower, slot_kinds};
use crate::DispatchConfig;
use crate::driver::{ArtifactFile, KernelLauncherCodegen};
use crate::ir::{Access, Param, Program};

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

/// Lower `program` and run naga's validator over the module.
///
/// # Errors
///
/// The lowering's message, or the validator's, naming the kernel and
/// `target`.
pub fn lower_and_validate(
    program: &Program,
    config: &DispatchConfig,
    target: &str,
) -> Result<(naga::Module, ModuleInfo), String> {
    let module = lower(program, config).map_err(|e| format!("{e} (target `{target}`)"))?;
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .map_err(|e| {
            format!(
                "kernel `{}`: naga rejected the module lowered for target `{target}`: {}",
                program.name,
                chain(e.as_inner())
            )
        })?;
    Ok((module, info))
}

/// SPIR-V words for `program` (SPIR-V 1.0, Vulkan 1.0 environment).
///
/// # Errors
///
/// Lowering, validation or writer failure.
pub fn spirv_words(program: &Program, config: &DispatchConfig) -> Result<Vec<u32>, String> {
    let (module, info) = lower_and_validate(program, config, "spirv")?;
    let options = spv::Options {
        lang_version: (1, 0),
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
    spv::write_vec(&module, &info, &options, Some(&pipeline)).map_err(|e| {
        format!(
            "kernel `{}`: the SPIR-V writer failed (target `spirv`): {}",
            program.name,
            chain(&e)
        )
    })
}

/// The `spirv` emitter: SPIR-V words as little-endian bytes.
///
/// # Errors
///
/// See [`spirv_words`].
pub fn emit_spirv(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
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
pub fn wgsl_source(program: &Program, config: &DispatchConfig) -> Result<String, String> {
    let (module, info) = lower_and_validate(program, config, "wgsl")?;
    wgsl::write_string(&module, &info, wgsl::WriterFlags::empty()).map_err(|e| {
        format!(
            "kernel `{}`: the WGSL writer failed (target `wgsl`): {}",
            program.name,
            chain(&e)
        )
    })
}

/// The `wgsl` emitter.
///
/// # Errors
///
/// See [`wgsl_source`].
pub fn emit_wgsl(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
    wgsl_source(program, config).map(String::into_bytes)
}

/// MSL source for `program` (Metal 2.0). Buffer parameter `k` is
/// `[[buffer(k)]]`, the uniform block `[[buffer(buffer_count)]]`.
///
/// # Errors
///
/// Lowering, validation or writer failure, or more buffers than Metal's 31
/// argument slots.
pub fn msl_source(program: &Program, config: &DispatchConfig) -> Result<String, String> {
    let (module, info) = lower_and_validate(program, config, "msl")?;
    let layout = Layout::new(&slot_kinds(program));
    let mut resources = msl::EntryPointResources::default();
    let slots = layout.buffer_count + u32::from(layout.uniform_binding().is_some());
    if slots > 31 {
        return Err(format!(
            "kernel `{}`: {} buffer parameters plus the parameter block need {slots} buffer slots; target `msl` has 31",
            program.name, layout.buffer_count
        ));
    }
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
        lang_version: (2, 0),
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
    msl::write_string(&module, &info, &options, &pipeline)
        .map(|(text, _)| text)
        .map_err(|e| {
            format!(
                "kernel `{}`: the MSL writer failed (target `msl`): {}",
                program.name,
                chain(&e)
            )
        })
}

/// The `msl` emitter.
///
/// # Errors
///
/// See [`msl_source`].
pub fn emit_msl(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
    msl_source(program, config).map(String::into_bytes)
}

/// HLSL source for `program` (shader model 5.1). Binding `k` of group 0 is
/// register `k` of space 0 in its class (`t` for `&[T]`, `u` for `&mut [T]`,
/// `b` for the uniform block); `num_workgroups()` reads naga's special
/// constants at `b(buffer_count + 1)`.
///
/// # Errors
///
/// Lowering, validation or writer failure.
pub fn hlsl_source(program: &Program, config: &DispatchConfig) -> Result<String, String> {
    let (module, info) = lower_and_validate(program, config, "hlsl")?;
    let layout = Layout::new(&slot_kinds(program));
    let options = hlsl::Options {
        shader_model: hlsl::ShaderModel::V5_1,
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
    hlsl::Writer::new(&mut text, &options, &pipeline)
        .write(&module, &info, None)
        .map_err(|e| {
            format!(
                "kernel `{}`: the HLSL writer failed (target `hlsl`): {}",
                program.name,
                chain(&e)
            )
        })?;
    Ok(text)
}

/// The `hlsl` emitter.
///
/// # Errors
///
/// See [`hlsl_source`].
pub fn emit_hlsl(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
    hlsl_source(program, config).map(String::into_bytes)
}

crate::register_aot_emitter!("spirv", emit_spirv);
crate::register_aot_emitter!("wgsl", emit_wgsl);
crate::register_aot_emitter!("msl", emit_msl);
crate::register_aot_emitter!("hlsl", emit_hlsl);

/// `::vyre::runtime::Artifact { .. }` embedding `file` (a file name next to
/// the generated module).
fn artifact_expr(file: &ArtifactFile<'_>) -> Result<String, String> {
    if file.file_name.contains(['/', '\\']) {
        return Err(format!(
            "artifact file name `{}` must not contain a path separator",
            file.file_name
        ));
    }
    Ok(format!(
        "::vyre::runtime::Artifact {{ target: {:?}, arch: None, bytes: include_bytes!({:?}) }}",
        file.target, file.file_name
    ))
}

// All four are embedded only when the downstream crate enables `vyre/wgpu`:
// wgpu runs `spirv` (passthrough) or `wgsl`; `msl` and `hlsl` have no vyre
// runtime of their own yet and ride along for users who load them elsewhere.
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "spirv",
    runtime_feature: Some("wgpu"),
    extension: "spv",
    per_arch: false,
    optional: false,
    artifact_expr,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "wgsl",
    runtime_feature: Some("wgpu"),
    extension: "wgsl",
    per_arch: false,
    optional: false,
    artifact_expr,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "msl",
    runtime_feature: Some("wgpu"),
    extension: "metal",
    per_arch: false,
    optional: false,
    artifact_expr,
});
crate::register_launcher_codegen!(KernelLauncherCodegen {
    target: "hlsl",
    runtime_feature: Some("wgpu"),
    extension: "hlsl",
    per_arch: false,
    optional: false,
    artifact_expr,
});
