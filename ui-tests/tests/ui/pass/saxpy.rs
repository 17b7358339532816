use ui_tests::kernels::saxpy::{SAXPY_WORKGROUP_SIZE, saxpy};

fn main() -> vyre::Result<()> {
    assert_eq!(SAXPY_WORKGROUP_SIZE, [256, 1, 1]);
    let device = vyre::Device::cpu();
    let x = device.upload(&[1.0f32, 2.0, 3.0])?;
    let mut y = device.upload(&[10.0f32, 20.0, 30.0])?;
    saxpy(&device, vyre::Grid::threads(3), 2.0, &x, &mut y)?;
    assert_eq!(device.download(&y)?, [12.0, 24.0, 36.0]);
    Ok(())
}
