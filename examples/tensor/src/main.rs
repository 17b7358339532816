//! A bf16 matrix multiply on the tensor cores through the launcher
//! `vyre-build` generated from `kernels/matmul.vyre`: shared-memory tiles
//! filled by asynchronous copies, `matrix_load_a/b`, `matrix_mma` and
//! `matrix_store`. On a GPU it runs on the tensor cores (PTX `mma.sync`), on
//! the CPU on the reference interpreter, which defines the result: every
//! product added in order of k in f32 — exactly the plain Rust loop below,
//! so the CPU result matches it bit for bit, and a GPU (which sums in
//! another order) within the bound of `docs/language.md`.

use std::process::ExitCode;

use vyre::half::bf16;
use vyre::{Device, Grid};

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
    let device = Device::best();
    println!("device: {}", device.name());
    // Sizes that leave partial tiles in m, n and k.
    let (m, n, k) = (100usize, 70usize, 72usize);
    let a: Vec<bf16> = (0..m * k)
        .map(|i| bf16::from_f32(((i * 7) % 19) as f32 / 8.0 - 1.0))
        .collect();
    let b: Vec<bf16> = (0..k * n)
        .map(|i| bf16::from_f32(((i * 5) % 17) as f32 / 8.0 - 1.0))
        .collect();
    let (da, db) = (device.upload(&a)?, device.upload(&b)?);
    let mut dc = device.zeros::<f32>(m * n)?;
    let grid = Grid::Workgroups([n.div_ceil(32) as u32, m.div_ceil(32) as u32, 1]);
    kernels::matmul::matmul(
        &device, grid, m as u32, n as u32, k as u32, &da, &db, &mut dc,
    )?;
    let got = device.download(&dc)?;

    let mut worst = 0.0f64;
    for r in 0..m {
        for c in 0..n {
            let (mut want, mut magnitude) = (0.0f32, 0.0f64);
            for i in 0..k {
                let p = a[r * k + i].to_f32() * b[i * n + c].to_f32();
                want += p;
                magnitude += f64::from(p.abs());
            }
            let err = f64::from((got[r * n + c] - want).abs());
            // docs/language.md: |got - ref| <= K * 2^-22 * sum |products|.
            let bound = k as f64 * 2f64.powi(-22) * magnitude;
            if err > bound {
                return Err(format!("C[{r}][{c}] = {}, plain Rust {want}", got[r * n + c]).into());
            }
            worst = worst.max(err);
        }
    }
    println!("C[0][0..4] = {:?}", &got[..4]);
    println!("ok: {m}x{n}x{k} matches plain Rust (largest difference {worst:e})");
    Ok(())
}
