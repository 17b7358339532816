use ui_tests::kernels::narrow::scale_bf16;
use vyre::half::{bf16, f16};

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    // `x` must be a buffer of `bf16`, not of `f16`.
    let x = device.upload(&[f16::ONE])?;
    let mut y = device.zeros::<bf16>(1)?;
    scale_bf16(&device, vyre::Grid::threads(1), 2.0, bf16::ONE, &x, &mut y)
}
