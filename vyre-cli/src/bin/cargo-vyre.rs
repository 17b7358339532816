//! `cargo vyre ...`: cargo runs `cargo-vyre vyre ...`; the arguments after
//! that leading `vyre` are those of the `vyre` command.

fn main() -> std::process::ExitCode {
    vyre_cli::run_cargo(std::env::args_os())
}
