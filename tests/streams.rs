//! Streams, events and graphs (`Device::new_stream`, `record_event`,
//! `wait_event`, `capture`) on every device this machine has: the CPU
//! interpreter always, wgpu where an adapter exists (lavapipe in CI), CUDA
//! where a GPU exists. A missing GPU device prints `skipped:` (unless
//! `VYRE_REQUIRE_VULKAN=1` / `VYRE_REQUIRE_CUDA=1`).

mod device_support;

use device_support::{devices, spec_for_every_target};
use vyre::runtime::{LaunchArg, ParamSpec};
use vyre::{Buffer, Device, Error, Grid};
use vyre_testkit::harness::OwnedSpec;
use vyre_testkit::programs::saxpy;

/// `saxpy` with an artifact for every target of this build.
fn saxpy_spec() -> OwnedSpec {
    spec_for_every_target(&saxpy(64), "tests::streams::saxpy")
}

fn has_graphs(dev: &Device) -> bool {
    !dev.name().starts_with("cpu")
}

/// `y = a * x + y` on `dev`.
fn launch(
    dev: &Device,
    spec: &OwnedSpec,
    a: f32,
    x: &Buffer<f32>,
    y: &mut Buffer<f32>,
) -> vyre::Result<()> {
    let n = y.len();
    spec.with(|spec| {
        assert!(matches!(spec.params[0], ParamSpec::Scalar { .. }));
        dev.launch(
            spec,
            Grid::threads(n),
            &mut [LaunchArg::F32(a), x.arg(), y.arg_mut()],
        )
    })
}

const N: usize = 1000;

/// Something done inside a capture that cannot be captured.
type Call = Box<dyn Fn(&Device, &mut Buffer<f32>) -> vyre::Result<()>>;

fn inputs() -> (Vec<f32>, Vec<f32>) {
    let x = (0..N).map(|i| (i % 13) as f32 * 0.5).collect();
    let y = (0..N).map(|i| (i % 7) as f32).collect();
    (x, y)
}

/// `steps` saxpys with `a`, on the host, in the order the device runs them.
fn expected(x: &[f32], y: &[f32], a: &[f32], times: usize) -> Vec<f32> {
    let mut y = y.to_vec();
    for _ in 0..times {
        for &a in a {
            for (y, x) in y.iter_mut().zip(x) {
                *y += a * x;
            }
        }
    }
    y
}

#[test]
fn a_graph_replays_its_launches_in_order_with_the_scalars_of_the_capture() {
    let spec = saxpy_spec();
    for dev in devices().into_iter().filter(has_graphs) {
        let (x, y) = inputs();
        let xb = dev.upload(&x).unwrap();
        let mut yb = dev.upload(&y).unwrap();
        let graph = dev
            .capture(|d| {
                launch(d, &spec, 2.0, &xb, &mut yb)?;
                launch(d, &spec, -0.5, &xb, &mut yb)?;
                launch(d, &spec, 0.25, &xb, &mut yb)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(graph.len(), 3, "{}", dev.name());
        // Capturing ran nothing.
        assert_eq!(dev.download(&yb).unwrap(), y, "{}", dev.name());
        for _ in 0..5 {
            graph.replay().unwrap();
        }
        let got = dev.download(&yb).unwrap();
        assert_eq!(
            got,
            expected(&x, &y, &[2.0, -0.5, 0.25], 5),
            "{}",
            dev.name()
        );
        // Buffers can be written between replays; the graph reads them anew.
        dev.write(&mut yb, &y).unwrap();
        graph.replay().unwrap();
        assert_eq!(
            dev.download(&yb).unwrap(),
            expected(&x, &y, &[2.0, -0.5, 0.25], 1),
            "{}",
            dev.name()
        );
    }
}

#[test]
fn a_graph_keeps_the_memory_of_dropped_buffers_alive() {
    let spec = saxpy_spec();
    for dev in devices().into_iter().filter(has_graphs) {
        let (x, y) = inputs();
        let xb = dev.upload(&x).unwrap();
        let mut yb = dev.upload(&y).unwrap();
        let mut out = dev.zeros::<f32>(N).unwrap();
        let graph = dev
            .capture(|d| {
                launch(d, &spec, 3.0, &xb, &mut yb)?;
                d.copy(&yb, &mut out)
            })
            .unwrap();
        assert_eq!(graph.len(), 2, "{}", dev.name());
        // Neither input of the launch is reachable any more; the graph
        // still uses their memory.
        drop(xb);
        drop(yb);
        graph.replay().unwrap();
        graph.replay().unwrap();
        assert_eq!(
            dev.download(&out).unwrap(),
            expected(&x, &y, &[3.0], 2),
            "{}",
            dev.name()
        );
    }
}

#[test]
fn what_cannot_be_captured_is_an_error_and_the_device_stays_usable() {
    let spec = saxpy_spec();
    for dev in devices().into_iter().filter(has_graphs) {
        let (x, y) = inputs();
        let xb = dev.upload(&x).unwrap();
        let mut yb = dev.upload(&y).unwrap();
        let name = dev.name();
        let cases: [(&str, Call); 5] = [
            ("download", Box::new(|d, y| d.download(y).map(drop))),
            ("write", Box::new(|d, y| d.write(y, &[0.0; N]))),
            ("upload", Box::new(|d, _| d.upload(&[1.0f32]).map(drop))),
            ("synchronize", Box::new(|d, _| d.synchronize())),
            (
                "nested capture",
                Box::new(|d, _| d.capture(|_| Ok(())).map(drop)),
            ),
        ];
        for (what, call) in &cases {
            let err = dev
                .capture(|d| {
                    launch(d, &spec, 2.0, &xb, &mut yb)?;
                    call(d, &mut yb)
                })
                .unwrap_err();
            assert!(
                matches!(err, Error::WhileCapturing { .. }),
                "{name}: {what}: {err}"
            );
        }
        // The closure's own error comes back, and nothing was run.
        let err = dev
            .capture(|_| {
                Err(Error::InvalidBuffer {
                    reason: "mine".into(),
                })
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid buffer: mine", "{name}");
        // After all that, eager launches still work and nothing captured ran.
        launch(&dev, &spec, 2.0, &xb, &mut yb).unwrap();
        assert_eq!(
            dev.download(&yb).unwrap(),
            expected(&x, &y, &[2.0], 1),
            "{name}"
        );
    }
}

#[test]
fn streams_share_buffers_and_events_order_them() {
    let spec = saxpy_spec();
    for dev in devices() {
        let name = dev.name();
        let (x, y) = inputs();
        let xb = dev.upload(&x).unwrap();
        let mut yb = dev.upload(&y).unwrap();
        let side = dev.new_stream().unwrap();
        assert_eq!(side.name(), name);
        // 50 launches on the side stream, then 50 on the main one that
        // must run after them: the event orders them.
        for _ in 0..50 {
            launch(&side, &spec, 1.0, &xb, &mut yb).unwrap();
        }
        let done = side.record_event().unwrap();
        dev.wait_event(&done).unwrap();
        for _ in 0..50 {
            launch(&dev, &spec, 2.0, &xb, &mut yb).unwrap();
        }
        let want = {
            let half = expected(&x, &y, &[1.0], 50);
            expected(&x, &half, &[2.0], 50)
        };
        // f32 sums in a different order would differ: check exactly.
        assert_eq!(dev.download(&yb).unwrap(), want, "{name}");
        // Events of another device are refused.
        let other = Device::cpu().record_event().unwrap();
        let err = dev.wait_event(&other).unwrap_err();
        assert!(matches!(err, Error::WrongDevice { .. }), "{name}: {err}");
        // A graph captured on one stream replays on another.
        if has_graphs(&dev) {
            dev.write(&mut yb, &y).unwrap();
            let graph = dev
                .capture(|d| launch(d, &spec, 4.0, &xb, &mut yb))
                .unwrap();
            graph.replay_on(&side).unwrap();
            let e = side.record_event().unwrap();
            dev.wait_event(&e).unwrap();
            graph.replay().unwrap();
            assert_eq!(
                dev.download(&yb).unwrap(),
                expected(&x, &y, &[4.0], 2),
                "{name}"
            );
            let err = graph.replay_on(&Device::cpu()).unwrap_err();
            assert!(matches!(err, Error::WrongDevice { .. }), "{name}: {err}");
        }
    }
}

#[test]
fn the_cpu_has_no_graphs() {
    let err = Device::cpu().capture(|_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("graphs"), "{err}");
}
