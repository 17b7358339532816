use ui_tests::kernels::reduce::block_sum;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let x = device.upload(&vec![1.0f32; 512])?;
    let mut partial = device.zeros::<f32>(2)?;
    block_sum(&device, vyre::Grid::threads(512), &x, &mut partial)?;
    assert_eq!(device.download(&partial)?, [256.0, 256.0]);
    Ok(())
}
