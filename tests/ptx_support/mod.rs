//! Helpers shared by the PTX tests: sample programs and `ptxas` checks.
#![allow(dead_code)]

use vyre::DispatchConfig;
use vyre::backend::ptx;
use vyre::ir::{Access, BufRef, DataType, Expr, Program, ProgramBuilder};

/// Architectures every program is assembled for.
pub const ARCHES: [&str; 3] = ["sm_70", "sm_80", "sm_90"];

/// `ptxas`, or `None` after printing the skip line. Panics when
/// `VYRE_REQUIRE_PTXAS=1` and none is found.
pub fn ptxas() -> Option<std::path::PathBuf> {
    if let Some(p) = ptx::find_ptxas() {
        return Some(p);
    }
    // Local convenience: the pip package's binary, if the interpreter has it.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import nvidia.cuda_nvcc, os; print(os.path.join(list(nvidia.cuda_nvcc.__path__)[0], 'bin', 'ptxas'))",
        ])
        .output()
        .ok();
    if let Some(out) = out
        && out.status.success()
    {
        let p = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_file() {
            return Some(p);
        }
    }
    assert!(
        std::env::var("VYRE_REQUIRE_PTXAS").as_deref() != Ok("1"),
        "VYRE_REQUIRE_PTXAS=1 but ptxas was not found (set VYRE_PTXAS)"
    );
    println!("skipped: ptxas not found");
    None
}

/// Emit PTX for `program` on `arch`, panicking with the message on error.
pub fn emit(program: &Program, arch: &str) -> String {
    ptx::emit_ptx(program, &DispatchConfig::default().with_target_arch(arch))
        .unwrap_or_else(|e| panic!("emit {}: {e}", program.name))
}

/// Assemble `program` for every arch in [`ARCHES`] (when ptxas exists).
pub fn assemble_all(program: &Program, config: &DispatchConfig) {
    let Some(ptxas) = ptxas() else { return };
    for arch in ARCHES {
        let cfg = config.clone().with_target_arch(arch);
        let text = ptx::emit_ptx(program, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let cubin = ptx::assemble(&ptxas, &text, arch)
            .unwrap_or_else(|e| panic!("{} on {arch}: {e}\n--- PTX ---\n{text}", program.name));
        assert!(cubin.starts_with(b"\x7fELF"), "cubin is not an ELF file");
    }
}

/// y = a * x + y
pub fn saxpy() -> Program {
    let mut b = ProgramBuilder::new("saxpy", [256, 1, 1]);
    let a = b.scalar("a", DataType::F32);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
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
