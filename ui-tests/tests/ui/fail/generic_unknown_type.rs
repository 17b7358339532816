use ui_tests::kernels::narrow::scale;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    // `scale` has no `u32` instance.
    let x = device.upload(&[1u32])?;
    let mut y = device.zeros::<u32>(1)?;
    scale::<u32>(&device, vyre::Grid::threads(1), 2.0, 1, &x, &mut y)
}
