use ui_tests::kernels::narrow::{ScaleElem, narrow_scalars, scale, scale_bf16};
use vyre::half::{bf16, f16};

/// Host code generic over the kernel's element types.
fn run_scale<T: ScaleElem>(device: &vyre::Device, b: T, x: &[T]) -> vyre::Result<Vec<T>> {
    let xd = device.upload(x)?;
    let mut y = device.zeros::<T>(x.len())?;
    scale::<T>(device, vyre::Grid::threads(x.len()), 2.0, b, &xd, &mut y)?;
    device.download(&y)
}

fn main() -> vyre::Result<()> {
    let device = vyre::Device::cpu();
    assert_eq!(run_scale(&device, 1.0f32, &[1.0, 2.5])?, [3.0, 6.0]);
    let x = [bf16::from_f32(1.0), bf16::from_f32(2.5)];
    let want = [bf16::from_f32(3.0), bf16::from_f32(6.0)];
    assert_eq!(run_scale(&device, bf16::ONE, &x)?, want);
    let xh = [f16::from_f32(0.5), f16::from_f32(-1.0)];
    let got = run_scale(&device, f16::from_f32(0.25), &xh)?;
    assert_eq!(got, [f16::from_f32(1.25), f16::from_f32(-1.75)]);

    // The instance launcher takes the concrete types.
    let xd = device.upload(&x)?;
    let mut y = device.zeros::<bf16>(2)?;
    scale_bf16(&device, vyre::Grid::threads(2), 2.0, bf16::ONE, &xd, &mut y)?;
    assert_eq!(device.download(&y)?, want);

    let mut out = device.zeros::<i16>(1)?;
    let h = f16::from_f32(1.5);
    let b = bf16::from_f32(-2.0);
    narrow_scalars(&device, vyre::Grid::workgroups(1), h, b, 200u8, -100i8, 1000u16, -3i16, &mut out)?;
    assert_eq!(device.download(&out)?, [1096]);
    Ok(())
}
