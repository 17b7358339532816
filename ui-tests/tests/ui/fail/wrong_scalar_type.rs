use ui_tests::kernels::scalars::scalars;

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    let mut out = device.zeros::<f32>(1)?;
    // `y` is a `u32`; a negative `i32` is not accepted.
    scalars(&device, vyre::Grid::workgroups(1), 1, -2i32, 1.0, true, &mut out)
}
