//! Print what one target emits for every kernel of a `.vyre` file (PTX,
//! WGSL, MSL and HLSL as text; binary targets as a byte count), or with an
//! output folder write each as `<kernel>.<target>` there (e.g. for
//! `spirv-val` / `spirv-dis`).
//!
//! `cargo run -p vyre-testkit --example emit -- ptx kernel.vyre [out-dir]`
use vyre::DispatchConfig;
use vyre::driver::emit_aot_target;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: emit <target> <file.vyre> [out-dir]");
        std::process::exit(2);
    };
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    });
    let module = vyre::lang::parse(&path, &source).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let out_dir = args.next().map(std::path::PathBuf::from);
    for kernel in &module.kernels {
        match emit_aot_target(&target, kernel, &DispatchConfig::default()) {
            Ok(bytes) if out_dir.is_some() => {
                let dir = out_dir.as_deref().unwrap_or(std::path::Path::new("."));
                let file = dir.join(format!("{}.{target}", kernel.name));
                if let Err(e) = std::fs::write(&file, &bytes) {
                    eprintln!("{}: {e}", file.display());
                    std::process::exit(1);
                }
                println!("{}", file.display());
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => println!("// {} ({target})\n{text}", kernel.name),
                Err(e) => println!(
                    "// {} ({target}): {} bytes",
                    kernel.name,
                    e.into_bytes().len()
                ),
            },
            Err(e) => {
                eprintln!("{}: {e}", kernel.name);
                std::process::exit(1);
            }
        }
    }
}
