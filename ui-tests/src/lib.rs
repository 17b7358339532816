//! Kernels for the trybuild cases in `tests/ui/`: the cases call
//! `ui_tests::kernels::<file>::<kernel>(...)`.

/// The generated launchers of `kernels/*.vyre`.
pub mod kernels {
    vyre::include_kernels!();
}

include!(concat!(env!("OUT_DIR"), "/skew_macro.rs"));
