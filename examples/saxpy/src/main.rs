//! saxpy through the typed launcher `vyre-build` generated from
//! `kernels/saxpy.vyre`, checked against plain Rust.

use std::process::ExitCode;

mod kernels {
    vyre::include_kernels!();
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let device = vyre::Device::best();
    println!("device: {}", device.name());

    let n = 100_000;
    let a = 2.5f32;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.5).collect();
    let y0: Vec<f32> = (0..n).map(|i| 1.0 - (i % 7) as f32).collect();

    let xd = device.upload(&x)?;
    let mut yd = device.upload(&y0)?;
    kernels::saxpy::saxpy(&device, vyre::Grid::threads(n), a, &xd, &mut yd)?;
    let y = device.download(&yd)?;

    let expected: Vec<f32> = x.iter().zip(&y0).map(|(x, y)| a * x + y).collect();
    let mismatches = y.iter().zip(&expected).filter(|(g, w)| g != w).count();
    println!(
        "saxpy: n = {n}, a = {a}, y[0..4] = {:?}, y[{}] = {}",
        &y[..4],
        n - 1,
        y[n - 1]
    );
    if mismatches > 0 {
        return Err(format!("{mismatches} of {n} elements differ from plain Rust").into());
    }
    println!("ok: matches plain Rust");
    Ok(())
}
