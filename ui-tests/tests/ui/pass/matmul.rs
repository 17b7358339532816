use ui_tests::kernels::matmul::{MATMUL_WORKGROUP_SIZE, matmul};

fn main() -> vyre::Result<()> {
    assert_eq!(MATMUL_WORKGROUP_SIZE, [16, 16, 1]);
    let device = vyre::Device::cpu();
    // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]
    let a = device.upload(&[1.0f32, 2.0, 3.0, 4.0])?;
    let b = device.upload(&[5.0f32, 6.0, 7.0, 8.0])?;
    let mut c = device.zeros::<f32>(4)?;
    matmul(&device, vyre::Grid::threads_2d(2, 2), 2, 2, 2, &a, &b, &mut c)?;
    assert_eq!(device.download(&c)?, [19.0, 22.0, 43.0, 50.0]);
    Ok(())
}
