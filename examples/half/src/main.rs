//! 16- and 8-bit types through the typed launchers `vyre-build` generated
//! from `kernels/scale.vyre`: the generic kernel `scale<T>` is called as
//! `scale::<f32>` and `scale::<bf16>` (and through its instance launcher
//! `scale_bf16`), `dequant` mixes bf16, u8, f16 and f32; every result is
//! checked bit for bit against plain Rust (`half` rounds to nearest even,
//! as the kernels do).

use std::process::ExitCode;

use vyre::half::{bf16, f16};
use vyre::{Device, Grid};

mod kernels {
    vyre::include_kernels!();
}

use kernels::scale::{dequant, scale, scale_bf16};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How many of `got` differ from `want` (as bit patterns).
fn mismatches<T: vyre::Element>(got: &[T], want: &[T]) -> usize {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .filter(|(g, w)| g.to_bits() != w.to_bits())
        .count()
}

fn check<T: vyre::Element>(what: &str, got: &[T], want: &[T]) -> Result<(), String> {
    let bad = mismatches(got, want);
    println!("{what}: [0..4] = {:?}", &got[..4]);
    if bad > 0 {
        return Err(format!(
            "{what}: {bad} of {} elements differ from plain Rust",
            got.len()
        ));
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::best();
    println!("device: {}", device.name());

    let n = 10_000;
    let a = 1.7f32;
    let xf: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.37 - 150.0).collect();

    // f32: the instance `scale_f32`, through the generic entry.
    let b = 0.5f32;
    let x = device.upload(&xf)?;
    let mut y = device.zeros::<f32>(n)?;
    scale::<f32>(&device, Grid::threads(n), a, b, &x, &mut y)?;
    let want: Vec<f32> = xf.iter().map(|&x| a * x + b).collect();
    check("scale::<f32>", &device.download(&y)?, &want)?;

    // bf16: packed 2-byte elements, an f32 computation rounded to bf16.
    let b = bf16::from_f32(-3.25);
    let xh: Vec<bf16> = xf.iter().copied().map(bf16::from_f32).collect();
    let x = device.upload(&xh)?;
    let mut y = device.zeros::<bf16>(n)?;
    scale::<bf16>(&device, Grid::threads(n), a, b, &x, &mut y)?;
    let want: Vec<bf16> = xh
        .iter()
        .map(|x| bf16::from_f32(a * x.to_f32() + b.to_f32()))
        .collect();
    let got = device.download(&y)?;
    check("scale::<bf16>", &got, &want)?;
    // The instance launcher is the same kernel.
    let mut y2 = device.zeros::<bf16>(n)?;
    scale_bf16(&device, Grid::threads(n), a, b, &x, &mut y2)?;
    check("scale_bf16", &device.download(&y2)?, &got)?;

    // Mixed: bf16 and u8 buffers, an f16 scalar, an f32 result.
    let w: Vec<u8> = (0..=255).step_by(17).collect();
    let bias = f16::from_f32(0.1);
    let wd = device.upload(&w)?;
    let mut out = device.zeros::<f32>(n)?;
    dequant(&device, Grid::threads(n), &x, &wd, bias, &mut out)?;
    let want: Vec<f32> = xh
        .iter()
        .enumerate()
        .map(|(i, x)| x.to_f32() * f32::from(w[i % w.len()]) + bias.to_f32())
        .collect();
    check("dequant", &device.download(&out)?, &want)?;

    println!("ok: matches plain Rust");
    Ok(())
}
