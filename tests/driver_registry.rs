//! The seed's registry API: lookup, unknown targets, emitter failures,
//! duplicate registrations and deterministic listing.

use vyre::driver::{
    AotLauncherEmitter, AotLauncherFiles, AotLauncherRequest, BackendError, LauncherDependency,
    emit_aot_launcher_target, emit_aot_target, registered_aot_emitters,
    registered_aot_launcher_emitters,
};
use vyre::ir::{Program, ProgramBuilder};
use vyre::{DispatchConfig, inventory};

fn emit_name(program: &Program, config: &DispatchConfig) -> Result<Vec<u8>, String> {
    let label = config.label.clone().unwrap_or_default();
    Ok(format!("{}:{label}", program.name).into_bytes())
}

fn emit_fail(_: &Program, _: &DispatchConfig) -> Result<Vec<u8>, String> {
    Err("toy emitter rejects everything".to_string())
}

fn emit_dup_a(_: &Program, _: &DispatchConfig) -> Result<Vec<u8>, String> {
    Ok(b"a".to_vec())
}

fn emit_dup_b(_: &Program, _: &DispatchConfig) -> Result<Vec<u8>, String> {
    Ok(b"b".to_vec())
}

vyre::register_aot_emitter!("test-name", emit_name);
vyre::register_aot_emitter!("test-fail", emit_fail);
vyre::register_aot_emitter!("test-dup", emit_dup_a);
mod second_crate {
    vyre::register_aot_emitter!("test-dup", super::emit_dup_b);
}

fn launcher(request: &AotLauncherRequest<'_>) -> Result<AotLauncherFiles, String> {
    if request.include_collectives {
        return Err("toy launcher has no collectives".to_string());
    }
    let mut files = AotLauncherFiles::default();
    files.dependencies.push(LauncherDependency {
        name: "toy-runtime",
        spec: "{ version = \"1\" }",
    });
    files
        .files
        .insert("src/lib.rs".into(), format!("// {}\n", request.crate_name));
    Ok(files)
}

inventory::submit! { AotLauncherEmitter { target: "test-launcher", emit: launcher } }

fn program() -> Program {
    ProgramBuilder::new("k", [64, 1, 1]).finish()
}

#[test]
fn emit_dispatches_to_the_named_target() {
    let config = DispatchConfig::default().with_label("L");
    let bytes = emit_aot_target("test-name", &program(), &config).unwrap();
    assert_eq!(bytes, b"k:L");
}

#[test]
fn unknown_target_is_unsupported_feature() {
    let err =
        emit_aot_target("no-such-target", &program(), &DispatchConfig::default()).unwrap_err();
    match &err {
        BackendError::UnsupportedFeature { name, backend } => {
            assert_eq!(name, "aot target `no-such-target`");
            assert_eq!(backend, "vyre-driver");
        }
        other => panic!("expected UnsupportedFeature, got {other:?}"),
    }
    assert!(err.to_string().contains("link a crate that registers it"));
}

#[test]
fn emitter_failure_is_kernel_compile_failed() {
    let err = emit_aot_target("test-fail", &program(), &DispatchConfig::default()).unwrap_err();
    assert_eq!(
        err,
        BackendError::KernelCompileFailed {
            backend: "test-fail".to_string(),
            compiler_message: "toy emitter rejects everything".to_string(),
        }
    );
}

#[test]
fn duplicate_registration_names_both_sites() {
    let err = emit_aot_target("test-dup", &program(), &DispatchConfig::default()).unwrap_err();
    let BackendError::DuplicateRegistration {
        target,
        first,
        second,
        ..
    } = &err
    else {
        panic!("expected DuplicateRegistration, got {err:?}");
    };
    assert_eq!(target, "test-dup");
    let mut sites = [first.as_str(), second.as_str()];
    sites.sort_unstable();
    assert_eq!(
        sites,
        ["`driver_registry::second_crate`", "`driver_registry`"]
    );
    assert!(err.to_string().contains("registered more than once"));
}

#[test]
fn emitter_lists_are_sorted_and_stable() {
    let a: Vec<_> = registered_aot_emitters().iter().map(|e| e.target).collect();
    let b: Vec<_> = registered_aot_emitters().iter().map(|e| e.target).collect();
    assert_eq!(a, b);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(a, sorted);
    for t in ["test-name", "test-fail", "test-dup"] {
        assert!(a.contains(&t), "{t} missing from {a:?}");
    }
    let launchers: Vec<_> = registered_aot_launcher_emitters()
        .iter()
        .map(|e| e.target)
        .collect();
    assert!(launchers.contains(&"test-launcher"));
}

#[test]
fn launcher_lookup_and_failure() {
    let request = AotLauncherRequest {
        target: "test-launcher",
        crate_name: "toy-launch",
        include_collectives: false,
        include_ttt_loop: false,
    };
    let files = emit_aot_launcher_target("test-launcher", &request).unwrap();
    assert_eq!(files.dependencies[0].name, "toy-runtime");
    assert_eq!(
        files.files[std::path::Path::new("src/lib.rs")],
        "// toy-launch\n"
    );

    let err = emit_aot_launcher_target(
        "test-launcher",
        &AotLauncherRequest {
            include_collectives: true,
            ..request
        },
    )
    .unwrap_err();
    assert!(matches!(err, BackendError::KernelCompileFailed { .. }));

    let err = emit_aot_launcher_target("nope", &request).unwrap_err();
    assert!(matches!(err, BackendError::UnsupportedFeature { .. }));
}
