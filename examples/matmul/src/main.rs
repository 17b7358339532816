//! Tiled matrix multiplication, checked against a plain Rust triple loop.

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

    // Sizes that are not multiples of the tile, to exercise the edges.
    let (m, n, k) = (70usize, 45usize, 53usize);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 37) % 17) as f32 - 8.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 11) % 13) as f32 * 0.25).collect();

    let ad = device.upload(&a)?;
    let bd = device.upload(&b)?;
    let mut cd = device.zeros::<f32>(m * n)?;
    kernels::matmul::matmul(
        &device,
        vyre::Grid::threads_2d(n as u32, m as u32),
        m as u32,
        n as u32,
        k as u32,
        &ad,
        &bd,
        &mut cd,
    )?;
    let c = device.download(&cd)?;

    // Same summation order as the kernel (ascending k), so results are
    // exact: all products and partial sums are small multiples of 1/4.
    let mut expected = vec![0.0f32; m * n];
    for r in 0..m {
        for col in 0..n {
            let mut acc = 0.0f32;
            for e in 0..k {
                acc += a[r * k + e] * b[e * n + col];
            }
            expected[r * n + col] = acc;
        }
    }
    println!("matmul {m}x{k} * {k}x{n}: c[0][0..4] = {:?}", &c[..4]);
    let bad = c.iter().zip(&expected).filter(|(g, w)| g != w).count();
    if bad > 0 {
        return Err(format!("{bad} of {} elements differ from plain Rust", m * n).into());
    }
    println!("ok: matches plain Rust");
    Ok(())
}
