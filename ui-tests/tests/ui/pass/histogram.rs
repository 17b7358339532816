use ui_tests::kernels::histogram::{histogram, histogram_shared};

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let data = device.upload(&[1u32, 1, 2, 257])?;
    let mut bins = device.zeros::<u32>(256)?;
    histogram(&device, vyre::Grid::threads(4), &data, &mut bins)?;
    histogram_shared(&device, vyre::Grid::threads(4), &data, &mut bins)?;
    let bins = device.download(&bins)?;
    assert_eq!(&bins[..3], [0, 6, 2]);
    Ok(())
}
