use ui_tests::kernels::scalars::scalars;
use ui_tests::kernels::unchecked::copy_unchecked;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let src = device.upload(&[7u32; 64])?;
    let mut dst = device.zeros::<u32>(64)?;
    // SAFETY: 64 invocations index 64-element buffers.
    unsafe { copy_unchecked(&device, vyre::Grid::threads(64), &src, &mut dst)? };
    assert_eq!(device.download(&dst)?, [7u32; 64]);

    let mut out = device.zeros::<f32>(1)?;
    scalars(&device, vyre::Grid::workgroups(1), -3, 5, 0.5, true, &mut out)?;
    assert_eq!(device.download(&out)?, [1.0]);
    Ok(())
}
