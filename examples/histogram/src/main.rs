//! A 256-bin histogram, with global atomics and with shared-memory atomics,
//! checked against plain Rust.

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

    let n = 50_000usize;
    // A skewed distribution, so that bins collide a lot.
    let data: Vec<u32> = (0..n as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) >> (i % 3 * 8))
        .collect();
    let mut expected = vec![0u32; 256];
    for v in &data {
        expected[(v & 255) as usize] += 1;
    }

    let dd = device.upload(&data)?;
    let mut global = device.zeros::<u32>(256)?;
    kernels::histogram::histogram(&device, vyre::Grid::threads(n), &dd, &mut global)?;
    let mut shared = device.zeros::<u32>(256)?;
    kernels::histogram::histogram_shared(&device, vyre::Grid::threads(n), &dd, &mut shared)?;
    let global = device.download(&global)?;
    let shared = device.download(&shared)?;

    let busiest = (0..256).max_by_key(|&b| expected[b]).unwrap_or(0);
    println!(
        "histogram of {n} values: bins[0..8] = {:?}, busiest bin {busiest} with {}",
        &global[..8],
        global[busiest]
    );
    if global != expected {
        return Err("global-atomic histogram differs from plain Rust".into());
    }
    if shared != expected {
        return Err("shared-atomic histogram differs from plain Rust".into());
    }
    println!("ok: both kernels match plain Rust");
    Ok(())
}
