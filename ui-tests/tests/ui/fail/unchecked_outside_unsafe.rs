use ui_tests::kernels::unchecked::copy_unchecked;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let src = device.upload(&[1u32; 64])?;
    let mut dst = device.zeros::<u32>(64)?;
    copy_unchecked(&device, vyre::Grid::threads(64), &src, &mut dst)
}
