//! Interop with wgpu, both ways: a vyre device over the application's
//! `wgpu::Device` and `Queue`, its `wgpu::Buffer`s run by a vyre kernel
//! without a copy and read back by the application itself. Without an
//! adapter the test prints `skipped:` and passes, unless
//! `VYRE_REQUIRE_VULKAN=1`.
#![cfg(feature = "wgpu")]

mod naga_common;

use vyre::backend::naga::runtime::wgpu;
use vyre::runtime::LaunchArg;
use vyre::{Device, Error, Grid};
use vyre_testkit::corpus::require_vulkan;

/// The application's own device, opened the way an application does.
fn app_device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        match pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        {
            Ok(a) => a,
            Err(e) => {
                assert!(
                    !require_vulkan(),
                    "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
                );
                println!("skipped: no wgpu adapter ({e})");
                return None;
            }
        };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application"),
        required_limits: adapter.limits(),
        ..wgpu::DeviceDescriptor::default()
    }))
    .unwrap();
    Some((device, queue))
}

fn storage(device: &wgpu::Device, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("application buffer"),
        size: bytes,
        usage,
        mapped_at_creation: false,
    })
}

/// What the application reads back from `buffer` with its own queue.
fn app_read(device: &wgpu::Device, queue: &wgpu::Queue, buffer: &wgpu::Buffer) -> Vec<f32> {
    let staging = storage(
        device,
        buffer.size(),
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
    );
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    enc.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    queue.submit([enc.finish()]);
    let slice = staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| tx.send(r).unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    rx.recv().unwrap().unwrap();
    let data = slice.get_mapped_range().unwrap();
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn application_buffers_run_through_a_vyre_kernel_without_a_copy() {
    let Some((device, queue)) = app_device() else {
        return;
    };
    let dev = Device::from_wgpu(device.clone(), queue.clone());
    assert!(dev.wgpu_parts().is_some());
    let n = 1000usize;
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 50.0).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 5) as f32).collect();
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let (xw, yw) = (
        storage(&device, 4 * n as u64, usage),
        storage(&device, 4 * n as u64, usage),
    );
    let bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    queue.write_buffer(&xw, 0, &bytes(&x));
    queue.write_buffer(&yw, 0, &bytes(&y));

    let xb = dev.buffer_from_wgpu::<f32>(xw.clone(), n).unwrap();
    let mut yb = dev.buffer_from_wgpu::<f32>(yw.clone(), n).unwrap();
    let spec = naga_common::owned_spec(&vyre_testkit::programs::saxpy(64), "interop");
    spec.with(|spec| {
        dev.launch(
            spec,
            Grid::threads(n),
            &mut [LaunchArg::F32(3.0), xb.arg(), yb.arg_mut()],
        )
    })
    .unwrap();
    // vyre batches its submissions: synchronise before the application reads.
    dev.synchronize().unwrap();
    let want: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 3.0 * x + y).collect();
    assert_eq!(
        app_read(&device, &queue, &yw),
        want,
        "the application sees vyre's result"
    );
    assert_eq!(dev.download(&yb).unwrap(), want);
    assert_eq!(yb.wgpu_buffer().map(wgpu::Buffer::size), Some(4 * n as u64));
    let back = yb.into_wgpu_buffer().expect("a wgpu buffer");
    assert_eq!(app_read(&device, &queue, &back), want);
}

#[test]
fn unusable_buffers_are_refused() {
    let Some((device, queue)) = app_device() else {
        return;
    };
    let dev = Device::from_wgpu(device.clone(), queue);
    let full =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let no_storage = storage(
        &device,
        64,
        wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    );
    let e = dev.buffer_from_wgpu::<f32>(no_storage, 16).unwrap_err();
    assert!(e.to_string().contains("needs usage"), "{e}");
    let e = dev
        .buffer_from_wgpu::<f32>(storage(&device, 64, full), 17)
        .unwrap_err();
    assert!(e.to_string().contains("cannot hold 68 bytes"), "{e}");
    let e = Device::cpu()
        .buffer_from_wgpu::<f32>(storage(&device, 64, full), 16)
        .unwrap_err();
    assert!(matches!(e, Error::ForeignMemory { .. }), "{e}");
    // A CPU buffer is not a wgpu buffer, and stays usable.
    let cpu = Device::cpu();
    let b = cpu.upload(&[1.0f32, 2.0]).unwrap();
    assert!(b.wgpu_buffer().is_none());
    let b = b.into_wgpu_buffer().expect_err("CPU memory");
    assert_eq!(cpu.download(&b).unwrap(), [1.0, 2.0]);
}

/// `Device::time` on wgpu: timestamp queries between launches where the
/// adapter has them (not lavapipe), host timing otherwise; the work runs
/// either way.
#[test]
fn device_time_measures_a_launch() {
    let Some((device, queue)) = app_device() else {
        return;
    };
    drop((device, queue));
    let dev = vyre::Device::wgpu().unwrap();
    let timestamps = dev
        .backend_as::<vyre::backend::naga::runtime::WgpuBackend>()
        .is_some_and(|b| b.timestamps_between_launches());
    println!("{}: timestamps between launches: {timestamps}", dev.name());
    let n = 1 << 16;
    let x = dev.upload(&vec![1.5f32; n]).unwrap();
    let mut y = dev.zeros::<f32>(n).unwrap();
    let spec = naga_common::owned_spec(&vyre_testkit::programs::saxpy(64), "timed");
    let ((), took) = dev
        .time(|d| {
            spec.with(|spec| {
                d.launch(
                    spec,
                    Grid::threads(n),
                    &mut [LaunchArg::F32(2.0), x.arg(), y.arg_mut()],
                )
            })
        })
        .unwrap();
    assert!(took.as_nanos() > 0 && took.as_secs() < 60, "{took:?}");
    assert_eq!(dev.download(&y).unwrap(), vec![3.0f32; n]);
}
