use ui_tests::kernels::narrow::narrow_scalars;
use vyre::half::bf16;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let mut out = device.zeros::<i16>(1)?;
    // `h` is an `f16`: an `f32` is not accepted.
    narrow_scalars(&device, vyre::Grid::workgroups(1), 1.5f32, bf16::ONE, 1, 1, 1, 1, &mut out)
}
