//! The `vyre` command; everything lives in the `vyre_cli` library.

fn main() -> std::process::ExitCode {
    vyre_cli::run(std::env::args_os())
}
