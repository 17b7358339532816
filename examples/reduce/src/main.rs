//! A two-pass sum: `block_sum` reduces blocks of 256 elements in shared
//! memory, then runs again over the partial sums; checked against plain
//! Rust summing in the same tree order.

use std::process::ExitCode;

mod kernels {
    vyre::include_kernels!();
}

const BLOCK: usize = kernels::reduce::BLOCK_SUM_WORKGROUP_SIZE[0] as usize;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one `block_sum` launch computes, in the kernel's order.
fn block_sums(x: &[f32]) -> Vec<f32> {
    x.chunks(BLOCK)
        .map(|chunk| {
            let mut tile = vec![0.0f32; BLOCK];
            tile[..chunk.len()].copy_from_slice(chunk);
            let mut stride = BLOCK / 2;
            while stride > 0 {
                for i in 0..stride {
                    tile[i] += tile[i + stride];
                }
                stride /= 2;
            }
            tile[0]
        })
        .collect()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let device = vyre::Device::best();
    println!("device: {}", device.name());

    let n = BLOCK * BLOCK; // two passes reduce it to one value
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();

    let xd = device.upload(&x)?;
    let mut partial = device.zeros::<f32>(n / BLOCK)?;
    kernels::reduce::block_sum(&device, vyre::Grid::threads(n), &xd, &mut partial)?;
    let mut total = device.zeros::<f32>(1)?;
    kernels::reduce::block_sum(
        &device,
        vyre::Grid::threads(n / BLOCK),
        &partial,
        &mut total,
    )?;
    let got = device.download(&total)?[0];

    let expected = block_sums(&block_sums(&x))[0];
    let naive: f64 = x.iter().map(|&v| f64::from(v)).sum();
    println!("sum of {n} elements: {got} (plain Rust, same order: {expected}; f64: {naive})");
    if got != expected {
        return Err(format!("device sum {got} != plain Rust {expected}").into());
    }
    println!("ok: matches plain Rust");
    Ok(())
}
