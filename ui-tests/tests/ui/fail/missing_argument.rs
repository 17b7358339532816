use ui_tests::kernels::saxpy::saxpy;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let x = device.upload(&[1.0f32; 4])?;
    let mut y = device.upload(&[1.0f32; 4])?;
    saxpy(&device, vyre::Grid::threads(4), &x, &mut y)
}
