//! Throughput benchmarks of vyre kernels launched through the generated
//! launchers. Prints one JSON object per line (the format of the CUDA C
//! peers in `shared/peers/`), so both can be compared in one run.
//!
//! ```sh
//! cargo run --release -p vyre-bench --features cuda -- --device cuda
//! cargo run --release -p vyre-bench --features wgpu -- --device wgpu --log2n 24
//! # the same with device features left off (any of subgroups,int64,f64,timestamps):
//! cargo run --release -p vyre-bench --features wgpu -- --device wgpu --wgpu-off int64,f64
//! cargo run --release -p vyre-bench -- --device cpu --log2n 20 --gemm 256
//! # time the tunable kernels' instances, record the winners:
//! cargo run --release -p vyre-bench --features cuda -- --device cuda --tune bench/kernels/vyre-tune.toml
//! ```

use std::time::Instant;

use vyre::{Buffer, Device, Grid};

mod kernels {
    vyre::include_kernels!();
}

struct Options {
    device: String,
    log2n: u32,
    gemm: u32,
    iters: usize,
    only: Option<String>,
    /// `--tune TABLE`: time the instances of the tunable kernels and add
    /// the records to TABLE instead of benchmarking.
    tune: Option<String>,
    /// `--wgpu-off LIST`: wgpu device features to leave off (comma
    /// separated: `subgroups`, `int64`, `f64`, `timestamps`).
    wgpu_off: String,
}

fn parse_args() -> Options {
    let mut o = Options {
        device: "best".into(),
        log2n: 28,
        gemm: 4096,
        iters: 20,
        only: None,
        tune: None,
        wgpu_off: String::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--device" => o.device = value,
            "--log2n" => o.log2n = value.parse().expect("--log2n takes an integer"),
            "--gemm" => o.gemm = value.parse().expect("--gemm takes an integer"),
            "--iters" => o.iters = value.parse().expect("--iters takes an integer"),
            "--only" => o.only = Some(value),
            "--tune" => o.tune = Some(value),
            "--wgpu-off" => o.wgpu_off = value,
            other => panic!("unknown argument {other}; see the module docs"),
        }
        i += 2;
    }
    o
}

fn open(o: &Options) -> vyre::Result<Device> {
    match o.device.as_str() {
        "cpu" => Ok(Device::cpu()),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => {
            let mut options = vyre::WgpuOptions::from_env();
            for off in o.wgpu_off.split(',').filter(|s| !s.is_empty()) {
                options = match off {
                    "subgroups" => options.with_no_subgroups(true),
                    "int64" => options.with_no_int64(true),
                    "f64" => options.with_no_f64(true),
                    "timestamps" => options.with_no_timestamps(true),
                    other => panic!("--wgpu-off: unknown feature `{other}`"),
                };
            }
            Device::wgpu_with(&options)
        }
        "best" => Ok(Device::best()),
        other => panic!("device `{other}` is not compiled in (features: cuda, wgpu)"),
    }
}

/// Median seconds per launch of `f`: after two warm-ups, `iters` timed
/// batches of `batch` back-to-back launches, each batch synchronised.
fn median_secs(device: &Device, iters: usize, batch: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    device.synchronize().expect("synchronize");
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            device.synchronize().expect("synchronize");
            t.elapsed().as_secs_f64() / batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn report(kernel: &str, device: &Device, secs: f64, bytes: f64) {
    println!(
        "{{\"kernel\":\"{kernel}\",\"device\":\"{}\",\"ms\":{:.4},\"GBps\":{:.1}}}",
        device.name(),
        secs * 1e3,
        bytes / secs / 1e9
    );
}

fn check_close(what: &str, got: f32, want: f32, rel: f32) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

fn stream(device: &Device, o: &Options) -> vyre::Result<()> {
    let n = 1usize << o.log2n;
    let bytes = (n * 4) as f64;
    let host_x: Vec<f32> = (0..n).map(|i| (i % 1024) as f32 * 0.25).collect();
    let x = device.upload(&host_x)?;
    let mut y: Buffer<f32> = device.upload(&vec![1.0f32; n])?;
    let want = |k: usize| 2.0 * host_x[k] + 1.0;

    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if run("saxpy") {
        kernels::stream::saxpy(device, Grid::threads(n), 2.0, &x, &mut y)?;
        let got = device.download(&y)?;
        for k in [0, 1, n / 3, n - 1] {
            check_close("saxpy", got[k], want(k), 1e-6);
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::stream::saxpy(device, Grid::threads(n), 2.0, &x, &mut y).expect("saxpy");
        });
        report("saxpy_vyre", device, s, 3.0 * bytes);

        device.write(&mut y, &vec![1.0f32; n])?;
        kernels::stream::saxpy4(device, Grid::threads(n.div_ceil(4)), 2.0, &x, &mut y)?;
        let got = device.download(&y)?;
        for k in [0, 1, 2, 3, n / 3, n - 1] {
            check_close("saxpy4", got[k], want(k), 1e-6);
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::stream::saxpy4(device, Grid::threads(n.div_ceil(4)), 2.0, &x, &mut y)
                .expect("saxpy4");
        });
        report("saxpy_vec4_vyre", device, s, 3.0 * bytes);
    }
    if run("memcpy") {
        // The device's own copy (cuMemcpyDtoD, copy_buffer_to_buffer): the
        // bandwidth ceiling the kernels are compared with, on each device.
        device.copy(&x, &mut y)?;
        let got = device.download(&y)?;
        for k in [0, n / 2, n - 1] {
            check_close("memcpy", got[k], host_x[k], 0.0);
        }
        let s = median_secs(device, o.iters, 10, || {
            device.copy(&x, &mut y).expect("memcpy");
        });
        report("memcpy_device", device, s, 2.0 * bytes);
    }
    if run("copy") {
        kernels::stream::copy(device, Grid::threads(n), &x, &mut y)?;
        let got = device.download(&y)?;
        for k in [0, n / 2, n - 1] {
            check_close("copy", got[k], host_x[k], 0.0);
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::stream::copy(device, Grid::threads(n), &x, &mut y).expect("copy");
        });
        report("copy_vyre", device, s, 2.0 * bytes);

        device.write(&mut y, &vec![0.0f32; n])?;
        kernels::stream::copy4(device, Grid::threads(n.div_ceil(4)), &x, &mut y)?;
        let got = device.download(&y)?;
        for k in [0, 1, 2, 3, n / 2, n - 1] {
            check_close("copy4", got[k], host_x[k], 0.0);
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::stream::copy4(device, Grid::threads(n.div_ceil(4)), &x, &mut y)
                .expect("copy4");
        });
        report("copy_vec4_vyre", device, s, 2.0 * bytes);
    }
    if run("sum") {
        let groups = 132 * 8;
        let mut partials: Buffer<f32> = device.zeros(groups)?;
        let mut out: Buffer<f32> = device.zeros(1)?;
        let sum = |partials: &mut Buffer<f32>, out: &mut Buffer<f32>| -> vyre::Result<()> {
            kernels::stream::sum_partials(device, Grid::workgroups(groups as u32), &x, partials)?;
            kernels::stream::sum_final(device, Grid::workgroups(1), partials, out)
        };
        sum(&mut partials, &mut out)?;
        let got = device.download(&out)?[0];
        let want: f64 = host_x.iter().map(|&v| f64::from(v)).sum();
        check_close("sum", got, want as f32, 1e-4);
        let s = median_secs(device, o.iters, 10, || {
            sum(&mut partials, &mut out).expect("sum");
        });
        report("sum_vyre", device, s, bytes);

        // One launch: subgroup sums and one `f32` atomic per workgroup,
        // into a result zeroed by a device-to-device copy.
        let zero: Buffer<f32> = device.zeros(1)?;
        let sum1 = |out: &mut Buffer<f32>| -> vyre::Result<()> {
            device.copy(&zero, out)?;
            kernels::stream::sum_subgroup(device, Grid::workgroups(groups as u32), &x, out)
        };
        sum1(&mut out)?;
        let got = device.download(&out)?[0];
        check_close("sum_subgroup", got, want as f32, 1e-4);
        let s = median_secs(device, o.iters, 10, || {
            sum1(&mut out).expect("sum_subgroup");
        });
        report("sum_subgroup_vyre", device, s, bytes);
    }
    Ok(())
}

fn gemm(device: &Device, o: &Options) -> vyre::Result<()> {
    let m = o.gemm as usize;
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if !run("sgemm") {
        return Ok(());
    }
    let host_a: Vec<f32> = (0..m * m).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
    let host_b: Vec<f32> = (0..m * m).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
    let a = device.upload(&host_a)?;
    let b = device.upload(&host_b)?;
    let mut c: Buffer<f32> = device.zeros(m * m)?;
    let flops = 2.0 * (m as f64).powi(3);
    // Spot-check a few entries against the CPU (small integers: exact).
    let expect = |r: usize, col: usize| -> f32 {
        (0..m)
            .map(|k| host_a[r * m + k] * host_b[k * m + col])
            .sum()
    };
    let check = |device: &Device, c: &Buffer<f32>, name: &str| -> vyre::Result<()> {
        let got = device.download(c)?;
        for (r, col) in [(0, 0), (1, m - 1), (m / 2, m / 3), (m - 1, m - 1)] {
            check_close(name, got[r * m + col], expect(r, col), 0.0);
        }
        Ok(())
    };
    let tflops = |name: &str, secs: f64| {
        println!(
            "{{\"kernel\":\"{name}\",\"device\":\"{}\",\"ms\":{:.3},\"TFLOPs\":{:.2}}}",
            device.name(),
            secs * 1e3,
            flops / secs / 1e12
        );
    };
    let grid32 = Grid::threads_2d(o.gemm, o.gemm);
    let grid128 = Grid::Workgroups([o.gemm.div_ceil(128), o.gemm.div_ceil(128), 1]);
    let iters = o.iters.min(5);

    kernels::sgemm::sgemm_tiled32(device, grid32, o.gemm, &a, &b, &mut c)?;
    check(device, &c, "sgemm_tiled32")?;
    let s = median_secs(device, iters, 1, || {
        kernels::sgemm::sgemm_tiled32(device, grid32, o.gemm, &a, &b, &mut c).expect("tiled32");
    });
    tflops("sgemm_tiled32_vyre", s);

    kernels::sgemm::sgemm_blocked(device, grid128, o.gemm, &a, &b, &mut c)?;
    check(device, &c, "sgemm_blocked")?;
    let s = median_secs(device, iters, 1, || {
        kernels::sgemm::sgemm_blocked(device, grid128, o.gemm, &a, &b, &mut c).expect("blocked");
    });
    tflops("sgemm_blocked_vyre", s);

    if m.is_multiple_of(128) {
        // SAFETY: n is a multiple of 128 and every buffer holds n * n elements.
        unsafe {
            kernels::sgemm::sgemm_blocked_unchecked(device, grid128, o.gemm, &a, &b, &mut c)?
        };
        check(device, &c, "sgemm_blocked_unchecked")?;
        let s = median_secs(device, iters, 1, || {
            // SAFETY: as above.
            unsafe {
                kernels::sgemm::sgemm_blocked_unchecked(device, grid128, o.gemm, &a, &b, &mut c)
                    .expect("blocked unchecked");
            }
        });
        tflops("sgemm_blocked_unchecked_vyre", s);
    }

    // The unchecked kernel's body behind a safe launcher (an `unsafe` block
    // after the kernel's own test; any n).
    kernels::sgemm::sgemm_blocked_vouched(device, grid128, o.gemm, &a, &b, &mut c)?;
    check(device, &c, "sgemm_blocked_vouched")?;
    let s = median_secs(device, iters, 1, || {
        kernels::sgemm::sgemm_blocked_vouched(device, grid128, o.gemm, &a, &b, &mut c)
            .expect("blocked vouched");
    });
    tflops("sgemm_blocked_vouched_vyre", s);
    Ok(())
}

/// Row softmax and layer norm of a `rows x 4096` f32 matrix (32768 rows by
/// default, fewer when `--log2n` makes the stream size smaller); bytes moved
/// count one read and one write of the matrix.
fn rows(device: &Device, o: &Options) -> vyre::Result<()> {
    const COLS: usize = 4096;
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if !run("softmax") && !run("layer_norm") {
        return Ok(());
    }
    let rows = ((1usize << o.log2n) / COLS).clamp(1, 32768);
    let n = rows * COLS;
    let bytes = 2.0 * (n * 4) as f64;
    let host_x: Vec<f32> = (0..n)
        .map(|i| ((i * 37) % 101) as f32 * 0.05 - 2.5)
        .collect();
    let x = device.upload(&host_x)?;
    let mut y: Buffer<f32> = device.zeros(n)?;
    let grid = Grid::workgroups(rows as u32);
    let probe = [0, rows / 2, rows - 1];
    if run("softmax") {
        kernels::rows::softmax_rows(device, grid, &x, &mut y)?;
        let got = device.download(&y)?;
        for r in probe {
            let row = &host_x[r * COLS..(r + 1) * COLS];
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| f64::from((v - m).exp())).sum();
            for c in [0, 1, 2047, COLS - 1] {
                let want = (f64::from((row[c] - m).exp()) / sum) as f32;
                check_close("softmax_rows", got[r * COLS + c], want, 1e-5);
            }
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::rows::softmax_rows(device, grid, &x, &mut y).expect("softmax");
        });
        report("softmax_rows_f32_vyre", device, s, bytes);
    }
    if run("layer_norm") {
        let host_g: Vec<f32> = (0..COLS).map(|i| 1.0 + (i % 7) as f32 * 0.125).collect();
        let host_b: Vec<f32> = (0..COLS).map(|i| (i % 5) as f32 * 0.25 - 0.5).collect();
        let (g, b) = (device.upload(&host_g)?, device.upload(&host_b)?);
        let eps = 1e-5f32;
        kernels::rows::layer_norm_rows(device, grid, eps, &x, &g, &b, &mut y)?;
        let got = device.download(&y)?;
        for r in probe {
            let row = &host_x[r * COLS..(r + 1) * COLS];
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / COLS as f64;
            let var = row
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / COLS as f64;
            let rstd = 1.0 / (var + f64::from(eps)).sqrt();
            for c in [0, 1, 2047, COLS - 1] {
                let want =
                    (f64::from(row[c]) - mean) * rstd * f64::from(host_g[c]) + f64::from(host_b[c]);
                check_close("layer_norm_rows", got[r * COLS + c], want as f32, 1e-4);
            }
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::rows::layer_norm_rows(device, grid, eps, &x, &g, &b, &mut y)
                .expect("layer norm");
        });
        report("layer_norm_rows_f32_vyre", device, s, bytes);
    }
    Ok(())
}

/// [`rows`] in bf16: bf16 in and out (gamma and beta too), f32 arithmetic;
/// bytes moved count one read and one write of the bf16 matrix.
fn rows_bf16(device: &Device, o: &Options) -> vyre::Result<()> {
    use vyre::half::bf16;
    const COLS: usize = 4096;
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if !run("softmax") && !run("layer_norm") {
        return Ok(());
    }
    let rows = ((1usize << o.log2n) / COLS).clamp(1, 32768);
    let n = rows * COLS;
    let bytes = 2.0 * (n * 2) as f64;
    let host_x: Vec<bf16> = (0..n)
        .map(|i| bf16::from_f32(((i * 37) % 101) as f32 * 0.05 - 2.5))
        .collect();
    let x = device.upload(&host_x)?;
    let mut y: Buffer<bf16> = device.zeros(n)?;
    let grid = Grid::workgroups(rows as u32);
    let probe = [0, rows / 2, rows - 1];
    // bf16 keeps 8 significant bits: rounding the result costs up to 2^-9
    // of it; f32 arithmetic adds next to nothing.
    let check = |what: &str, got: bf16, want: f64| {
        let (got, want) = (f64::from(got.to_f32()), want);
        assert!(
            (got - want).abs() <= want.abs() / 256.0 + 1e-6,
            "{what}: got {got}, want {want}"
        );
    };
    if run("softmax") {
        kernels::rows::softmax_rows_bf16(device, grid, &x, &mut y)?;
        let got = device.download(&y)?;
        for r in probe {
            let row: Vec<f32> = host_x[r * COLS..(r + 1) * COLS]
                .iter()
                .map(|v| v.to_f32())
                .collect();
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| f64::from((v - m).exp())).sum();
            for c in [0, 1, 2047, COLS - 1] {
                check(
                    "softmax_rows_bf16",
                    got[r * COLS + c],
                    f64::from((row[c] - m).exp()) / sum,
                );
            }
        }
        let s = median_secs(device, o.iters, 10, || {
            kernels::rows::softmax_rows_bf16(device, grid, &x, &mut y).expect("softmax bf16");
        });
        report("softmax_rows_bf16_vyre", device, s, bytes);
    }
    if run("layer_norm") {
        let host_g: Vec<bf16> = (0..COLS)
            .map(|i| bf16::from_f32(1.0 + (i % 7) as f32 * 0.125))
            .collect();
        let host_b: Vec<bf16> = (0..COLS)
            .map(|i| bf16::from_f32((i % 5) as f32 * 0.25 - 0.5))
            .collect();
        let (g, b) = (device.upload(&host_g)?, device.upload(&host_b)?);
        let eps = 1e-5f32;
        // The kernel of record, then two shapes measured against it: 128
        // invocations a row, and 128 holding the row as bf16.
        type LayerNorm = fn(
            &Device,
            Grid,
            f32,
            &Buffer<bf16>,
            &Buffer<bf16>,
            &Buffer<bf16>,
            &mut Buffer<bf16>,
        ) -> vyre::Result<()>;
        // (name, kernel, rows per workgroup)
        let variants: [(&str, LayerNorm, usize); 4] = [
            (
                "layer_norm_rows_bf16",
                kernels::rows::layer_norm_rows_bf16,
                1,
            ),
            (
                "layer_norm_rows_bf16_128",
                kernels::rows::layer_norm_rows_bf16_128,
                1,
            ),
            (
                "layer_norm_rows_bf16_packed",
                kernels::rows::layer_norm_rows_bf16_packed,
                1,
            ),
            (
                "layer_norm_rows_bf16_4rows",
                kernels::rows::layer_norm_rows_bf16_4rows,
                4,
            ),
        ];
        for (name, kernel, per) in variants {
            if !rows.is_multiple_of(per) {
                continue;
            }
            let grid = Grid::workgroups((rows / per) as u32);
            device.write(&mut y, &vec![bf16::ZERO; n])?;
            kernel(device, grid, eps, &x, &g, &b, &mut y)?;
            let got = device.download(&y)?;
            for r in probe {
                let row: Vec<f64> = host_x[r * COLS..(r + 1) * COLS]
                    .iter()
                    .map(|v| f64::from(v.to_f32()))
                    .collect();
                let mean = row.iter().sum::<f64>() / COLS as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / COLS as f64;
                let rstd = 1.0 / (var + f64::from(eps)).sqrt();
                for c in [0, 1, 2047, COLS - 1] {
                    let want = (row[c] - mean) * rstd * f64::from(host_g[c].to_f32())
                        + f64::from(host_b[c].to_f32());
                    check(name, got[r * COLS + c], want);
                }
            }
            let s = median_secs(device, o.iters, 10, || {
                kernel(device, grid, eps, &x, &g, &b, &mut y).expect("layer norm bf16");
            });
            report(&format!("{name}_vyre"), device, s, bytes);
        }
    }
    Ok(())
}

/// Half-precision GEMM on the tensor cores (`kernels/gemm.vyre`): n x n x n
/// for n = `--gemm` and twice that, bf16 and f16 in and out, f32
/// accumulation. A few entries are checked against an f64 sum of the same
/// rounded inputs.
fn gemm_half(device: &Device, o: &Options) -> vyre::Result<()> {
    use vyre::half::{bf16, f16};
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    macro_rules! one {
        // An instance launched with an explicit grid of 128 x $bn tiles.
        ($t:ty, $name:literal, $launch:path, $bn:literal) => {
            one!(@ $t, $name, |m: u32, a: &Buffer<$t>, b: &Buffer<$t>, c: &mut Buffer<$t>| {
                let grid = Grid::Workgroups([m.div_ceil($bn), m.div_ceil(128), 1]);
                $launch(device, grid, m, m, m, a, b, c)
            });
        };
        // A launcher that computes its grid (`grid = ..` in the kernel).
        ($t:ty, $name:literal, $launch:expr) => {
            one!(@ $t, $name, |m: u32, a: &Buffer<$t>, b: &Buffer<$t>, c: &mut Buffer<$t>| {
                $launch(device, m, m, m, a, b, c)
            });
        };
        (@ $t:ty, $name:literal, $launch:expr) => {
            if run($name) {
                let launch = $launch;
                for m in [o.gemm, o.gemm * 2] {
                    let mu = m as usize;
                    let value = |i: usize, p: usize, q: usize| ((i * p) % q) as f32 / q as f32 - 0.5;
                    let host_a: Vec<$t> = (0..mu * mu).map(|i| <$t>::from_f32(value(i, 7, 13))).collect();
                    let host_b: Vec<$t> = (0..mu * mu).map(|i| <$t>::from_f32(value(i, 5, 11))).collect();
                    let a = device.upload(&host_a)?;
                    let b = device.upload(&host_b)?;
                    let mut c: Buffer<$t> = device.zeros(mu * mu)?;
                    launch(m, &a, &b, &mut c)?;
                    let got = device.download(&c)?;
                    for (r, col) in [(0, 0), (1, mu - 1), (mu / 2, mu / 3), (mu - 1, mu - 1)] {
                        let (mut want, mut mag) = (0.0f64, 0.0f64);
                        for k in 0..mu {
                            let p = f64::from(host_a[r * mu + k].to_f32())
                                * f64::from(host_b[k * mu + col].to_f32());
                            want += p;
                            mag += p.abs();
                        }
                        let g = f64::from(got[r * mu + col].to_f32());
                        // Output rounding (2^-8 of the value for bf16) plus
                        // f32 accumulation over k terms.
                        let tol = want.abs() / 128.0 + mag * mu as f64 * 2f64.powi(-22) + 1e-3;
                        assert!((g - want).abs() <= tol, "{}: C[{r}][{col}] = {g}, want {want}", $name);
                    }
                    let s = median_secs(device, o.iters.min(10), 3, || {
                        launch(m, &a, &b, &mut c).expect($name);
                    });
                    println!(
                        "{{\"kernel\":\"{}_vyre\",\"device\":\"{}\",\"m\":{m},\"ms\":{:.3},\"TFLOPs\":{:.1}}}",
                        $name,
                        device.name(),
                        s * 1e3,
                        2.0 * f64::from(m).powi(3) / s / 1e12
                    );
                }
            }
        };
    }
    one!(bf16, "gemm_bf16", kernels::gemm::gemm_bf16, 128);
    one!(f16, "gemm_f16", kernels::gemm::gemm_f16, 128);
    one!(bf16, "gemm_bf16_k16s4", kernels::gemm::gemm_bf16_k16s4, 128);
    one!(bf16, "gemm_bf16_n256", kernels::gemm::gemm_bf16_n256, 256);
    one!(bf16, "gemm_bf16_s3", kernels::gemm::gemm_bf16_s3, 128);
    one!(bf16, "gemm_bf16_s4", kernels::gemm::gemm_bf16_s4, 128);
    // Warpgroup GEMMs (`kernels/gemm_wg.vyre`): `wgmma` on sm_90a. Their
    // launchers compute the grid; `gemm_wg::<T>` picks the instance.
    use kernels::gemm_wg as wg;
    one!(bf16, "gemm_wg_bf16", wg::gemm_wg_bf16);
    one!(f16, "gemm_wg_f16", wg::gemm_wg_f16);
    one!(bf16, "gemm_wg_bf16_n128", wg::gemm_wg_bf16_n128);
    one!(bf16, "gemm_wg_bf16_s3", wg::gemm_wg_bf16_s3);
    one!(bf16, "gemm_wg_bf16_w1", wg::gemm_wg_bf16_w1);
    one!(f16, "gemm_wg_f16_w1", wg::gemm_wg_f16_w1);
    one!(bf16, "gemm_wg_bf16_tma", wg::gemm_wg_bf16_tma);
    one!(f16, "gemm_wg_f16_tma", wg::gemm_wg_f16_tma);
    one!(bf16, "gemm_wg_bf16_w1_g8", wg::gemm_wg_bf16_w1_g8);
    one!(f16, "gemm_wg_f16_g8", wg::gemm_wg_f16_g8);
    one!(bf16, "gemm_wg_bf16_tma_g8", wg::gemm_wg_bf16_tma_g8);
    one!(f16, "gemm_wg_f16_tma_g8", wg::gemm_wg_f16_tma_g8);
    one!(bf16, "gemm_wg_bf16_tma_w1", wg::gemm_wg_bf16_tma_w1);
    one!(bf16, "gemm_wg_bf16_tma_w1_g8", wg::gemm_wg_bf16_tma_w1_g8);
    one!(f16, "gemm_wg_f16_tma_w1_g8", wg::gemm_wg_f16_tma_w1_g8);
    one!(
        bf16,
        "gemm_wg_bf16_tma_n128_s3",
        wg::gemm_wg_bf16_tma_n128_s3
    );
    // Persistent (one workgroup per SM), TMA.
    one!(bf16, "gemm_wgp_bf16_p132", wg::gemm_wgp_bf16_p132);
    one!(bf16, "gemm_wgp_bf16_w1_p132", wg::gemm_wgp_bf16_w1_p132);
    one!(f16, "gemm_wgp_f16_w1_p132", wg::gemm_wgp_f16_w1_p132);
    one!(bf16, "gemm_wg_bf16_tuned", wg::gemm_wg::<bf16>);
    one!(f16, "gemm_wg_f16_tuned", wg::gemm_wg::<f16>);
    Ok(())
}

/// Flash-attention forward (`kernels/attention.vyre`), bf16, on the shapes
/// of `peers_ml.py`'s SDPA runs: (batch, heads, seq, head dim) =
/// (4, 32, 4096, 128) and (8, 16, 2048, 64), causal and not (the CPU
/// device: one small shape). A few query rows are checked against an f64
/// softmax of the same bf16 inputs; FLOPs are counted as by the peer
/// (`4 b h s² d`, halved when causal).
fn attention(device: &Device, o: &Options) -> vyre::Result<()> {
    use vyre::half::bf16;
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    type Launch = fn(
        &Device,
        u32,
        f32,
        &Buffer<bf16>,
        &Buffer<bf16>,
        &Buffer<bf16>,
        &mut Buffer<bf16>,
    ) -> vyre::Result<()>;
    if device.name().starts_with("wgpu") {
        // naga emulates warpgroup accumulators with a private copy of the
        // whole tile per invocation: llvmpipe had not finished compiling
        // the d = 64 kernel after 12 minutes.
        if run("attention") {
            println!(
                "{{\"kernel\":\"attention_bf16_vyre\",\"device\":\"{}\",\"skipped\":\"warpgroup accumulators are emulated per invocation on wgpu\"}}",
                device.name()
            );
        }
        return Ok(());
    }
    let shapes: &[(u32, u32, u32, u32)] = if device.name().starts_with("cuda") {
        &[(4, 32, 4096, 128), (8, 16, 2048, 64)]
    } else {
        &[(1, 2, 256, 64), (1, 1, 200, 128)]
    };
    use kernels::attention as at;
    let kernels: [(&str, u32, bool, Launch); 16] = [
        (
            "attention_bf16_d128_causal_k128",
            128,
            true,
            at::attention_bf16_d128_causal_k128,
        ),
        (
            "attention_bf16_d64_k128",
            64,
            false,
            at::attention_bf16_d64_k128,
        ),
        (
            "attention_bf16_d64_causal_k128",
            64,
            true,
            at::attention_bf16_d64_causal_k128,
        ),
        (
            "attention_bf16_d128_k128",
            128,
            false,
            at::attention_bf16_d128_k128,
        ),
        ("attention_bf16_d64", 64, false, at::attention_bf16_d64),
        (
            "attention_bf16_d64_causal",
            64,
            true,
            at::attention_bf16_d64_causal,
        ),
        ("attention_bf16_d128", 128, false, at::attention_bf16_d128),
        (
            "attention_bf16_d128_causal",
            128,
            true,
            at::attention_bf16_d128_causal,
        ),
        // Tiles staged by tile copies (TMA on sm_90a).
        (
            "attention_bf16_d64_tma",
            64,
            false,
            at::attention_bf16_d64_tma,
        ),
        (
            "attention_bf16_d64_causal_tma",
            64,
            true,
            at::attention_bf16_d64_causal_tma,
        ),
        (
            "attention_bf16_d128_k128_tma",
            128,
            false,
            at::attention_bf16_d128_k128_tma,
        ),
        (
            "attention_bf16_d128_causal_k128_tma",
            128,
            true,
            at::attention_bf16_d128_causal_k128_tma,
        ),
        // The dispatching launcher: the instance `vyre-tune.toml` names.
        (
            "attention_bf16_d64_tuned",
            64,
            false,
            at::attention::<bf16, 64, 0>,
        ),
        (
            "attention_bf16_d64_causal_tuned",
            64,
            true,
            at::attention::<bf16, 64, 1>,
        ),
        (
            "attention_bf16_d128_tuned",
            128,
            false,
            at::attention::<bf16, 128, 0>,
        ),
        (
            "attention_bf16_d128_causal_tuned",
            128,
            true,
            at::attention::<bf16, 128, 1>,
        ),
    ];
    for &(b, h, seq, d) in shapes {
        for &(name, kd, causal, launch) in &kernels {
            if kd != d {
                continue;
            }
            if !run(name) {
                continue;
            }
            let (heads, s, du) = ((b * h) as usize, seq as usize, d as usize);
            let len = heads * s * du;
            let value = |i: usize, p: usize, q: usize| ((i * p) % q) as f32 / q as f32 - 0.5;
            let host_q: Vec<bf16> = (0..len)
                .map(|i| bf16::from_f32(2.0 * value(i, 7, 13)))
                .collect();
            let host_k: Vec<bf16> = (0..len)
                .map(|i| bf16::from_f32(2.0 * value(i, 5, 11)))
                .collect();
            let host_v: Vec<bf16> = (0..len).map(|i| bf16::from_f32(value(i, 3, 17))).collect();
            let (q, k, v) = (
                device.upload(&host_q)?,
                device.upload(&host_k)?,
                device.upload(&host_v)?,
            );
            let mut out: Buffer<bf16> = device.zeros(len)?;
            let scale = 1.0 / (d as f32).sqrt();
            launch(device, seq, scale, &q, &k, &v, &mut out)?;
            let got = device.download(&out)?;
            let f = |x: bf16| f64::from(x.to_f32());
            for (hd, row) in [
                (0, 0),
                (heads / 2, s / 3),
                (heads - 1, s - 1),
                (heads.min(2) - 1, 129),
            ] {
                let base = hd * s * du;
                let keys = if causal { row + 1 } else { s };
                let scores: Vec<f64> = (0..keys)
                    .map(|j| {
                        (0..du)
                            .map(|x| f(host_q[base + row * du + x]) * f(host_k[base + j * du + x]))
                            .sum::<f64>()
                            * f64::from(scale)
                    })
                    .collect();
                let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let p: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
                let l: f64 = p.iter().sum();
                for x in [0, du / 2, du - 1] {
                    let want = (0..keys)
                        .map(|j| p[j] * f(host_v[base + j * du + x]))
                        .sum::<f64>()
                        / l;
                    let g = f(got[base + row * du + x]);
                    // bf16 output (2^-8 relative) and p rounded to bf16.
                    let tol = want.abs() / 128.0 + 2e-3;
                    assert!(
                        (g - want).abs() <= tol,
                        "{name} {b}x{h}x{seq}: o[{hd}][{row}][{x}] = {g}, want {want}"
                    );
                }
            }
            let secs = median_secs(device, o.iters.min(10), 3, || {
                launch(device, seq, scale, &q, &k, &v, &mut out).expect(name);
            });
            let flops = 4.0
                * f64::from(b * h)
                * f64::from(seq).powi(2)
                * f64::from(d)
                * if causal { 0.5 } else { 1.0 };
            println!(
                "{{\"kernel\":\"{name}_vyre\",\"device\":\"{}\",\"b\":{b},\"h\":{h},\"s\":{seq},\"d\":{d},\"causal\":{causal},\"ms\":{:.3},\"TFLOPs\":{:.1}}}",
                device.name(),
                secs * 1e3,
                flops / secs / 1e12
            );
        }
    }
    Ok(())
}

fn launch_overhead(device: &Device, o: &Options) -> vyre::Result<()> {
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if !run("launch") {
        return Ok(());
    }
    let mut x: Buffer<u32> = device.zeros(1)?;
    let launches = 20_000;
    let s = median_secs(device, 5, launches, || {
        kernels::stream::empty(device, Grid::workgroups(1), &mut x).expect("empty");
    });
    println!(
        "{{\"kernel\":\"launch_empty_vyre\",\"device\":\"{}\",\"us_per_launch\":{:.3}}}",
        device.name(),
        s * 1e6
    );
    // Host cost alone: enqueue 1,000 launches (below the driver's queue
    // depth) without waiting for them.
    device.synchronize()?;
    let t = Instant::now();
    for _ in 0..1000 {
        kernels::stream::empty(device, Grid::workgroups(1), &mut x)?;
    }
    let enqueue = t.elapsed().as_secs_f64() / 1000.0;
    device.synchronize()?;
    println!(
        "{{\"kernel\":\"enqueue_empty_vyre\",\"device\":\"{}\",\"us_per_launch\":{:.3}}}",
        device.name(),
        enqueue * 1e6
    );
    #[cfg(feature = "cuda")]
    if device.name().starts_with("cuda") {
        bare_cuda::launch_overhead(launches).map_err(|message| vyre::Error::Backend {
            backend: "cuda".into(),
            message,
        })?;
    }
    Ok(())
}

/// Launches in one chain of the `graph` figure.
const CHAIN: usize = 1000;
/// Elements each launch of the chain updates (4 workgroups of 256).
const CHAIN_N: usize = 1024;

/// Issue 14, item 2: 1,000 small dependent launches (`saxpy` on 1,024
/// elements, each reading what the previous wrote), eager and replayed
/// from a captured graph; on CUDA also through cudarc alone, in the same
/// run. Prints microseconds per launch, each the median of 5 chains
/// (after a warm-up chain), synchronised at the end of each.
fn graph(device: &Device, o: &Options) -> vyre::Result<()> {
    let run = |name: &str| o.only.as_deref().is_none_or(|f| name.contains(f));
    if !run("graph") {
        return Ok(());
    }
    let x: Buffer<f32> = device.upload(&vec![1.0f32; CHAIN_N])?;
    let mut y: Buffer<f32> = device.zeros(CHAIN_N)?;
    let grid = Grid::threads(CHAIN_N);
    let report = |what: &str, per_launch: f64| {
        println!(
            "{{\"kernel\":\"{what}\",\"device\":\"{}\",\"launches\":{CHAIN},\"us_per_launch\":{:.3}}}",
            device.name(),
            per_launch * 1e6
        );
    };
    let eager = median_secs(device, 5, 1, || {
        for _ in 0..CHAIN {
            kernels::stream::saxpy(device, grid, 0.5, &x, &mut y).expect("saxpy");
        }
    });
    report("chain_eager_vyre", eager / CHAIN as f64);
    if let Err(e) = device.capture(|_| Ok(())) {
        println!(
            "{{\"kernel\":\"chain_graph_vyre\",\"device\":\"{}\",\"skipped\":\"{e}\"}}",
            device.name()
        );
        return Ok(());
    }
    let t = Instant::now();
    let graph = device.capture(|d| {
        for _ in 0..CHAIN {
            kernels::stream::saxpy(d, grid, 0.5, &x, &mut y)?;
        }
        Ok(())
    })?;
    let capture = t.elapsed().as_secs_f64();
    println!(
        "{{\"kernel\":\"chain_capture_vyre\",\"device\":\"{}\",\"launches\":{CHAIN},\"ms\":{:.3}}}",
        device.name(),
        capture * 1e3
    );
    let replay = median_secs(device, 5, 1, || graph.replay().expect("replay"));
    report("chain_graph_vyre", replay / CHAIN as f64);
    // Every launch of every chain (two warm-ups and five timed, eager and
    // replayed) adds 0.5: the graph ran them all.
    let runs = (2 * (2 + 5)) as f32 * CHAIN as f32;
    check_close("chain", device.download(&y)?[CHAIN_N - 1], 0.5 * runs, 1e-6);
    #[cfg(feature = "cuda")]
    if device.name().starts_with("cuda") {
        cudarc_chain::run().map_err(|message| vyre::Error::Backend {
            backend: "cuda".into(),
            message,
        })?;
    }
    Ok(())
}

/// The same `empty` kernel (its embedded cubin) launched with a bare
/// `cuLaunchKernel`, measured exactly like the generated launcher.
#[cfg(feature = "cuda")]
mod bare_cuda {
    use std::ffi::{CString, c_void};
    use std::time::Instant;

    use cudarc::driver::{CudaContext, result};

    pub fn launch_overhead(launches: usize) -> Result<(), String> {
        let err = |e: cudarc::driver::DriverError| format!("{e:?}");
        let ctx = CudaContext::new(0).map_err(err)?;
        ctx.bind_to_thread().map_err(err)?;
        let spec = &super::kernels::stream::EMPTY_SPEC;
        let cubin = spec
            .artifact("cubin", Some("sm_90"))
            .ok_or("no sm_90 cubin embedded")?;
        let name = CString::new(spec.name).map_err(|e| e.to_string())?;
        // SAFETY: a cubin image and a live, bound context.
        let f = unsafe {
            let module = result::module::load_data(cubin.bytes.as_ptr().cast()).map_err(err)?;
            result::module::get_function(module, name).map_err(err)?
        };
        // SAFETY: plain allocation in the bound context.
        let mut ptr = unsafe { result::malloc_sync(4) }.map_err(err)?;
        let mut len: u32 = 1;
        let mut launch = || {
            let mut params = [
                std::ptr::from_mut(&mut ptr).cast::<c_void>(),
                std::ptr::from_mut(&mut len).cast::<c_void>(),
            ];
            // SAFETY: parameters follow the PTX emitter's layout (u64
            // pointer, u32 length) and point at live values.
            unsafe {
                result::launch_kernel(
                    f,
                    (1, 1, 1),
                    (32, 1, 1),
                    0,
                    std::ptr::null_mut(),
                    &mut params,
                )
            }
            .expect("cuLaunchKernel");
        };
        let sync = || result::ctx::synchronize().expect("synchronize");
        launch();
        sync();
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..launches {
                    launch();
                }
                sync();
                t.elapsed().as_secs_f64() / launches as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"kernel\":\"launch_empty_bare_culaunch\",\"us_per_launch\":{:.3}}}",
            times[2] * 1e6
        );
        let t = Instant::now();
        for _ in 0..1000 {
            launch();
        }
        let enqueue = t.elapsed().as_secs_f64() / 1000.0;
        sync();
        println!(
            "{{\"kernel\":\"enqueue_empty_bare_culaunch\",\"us_per_launch\":{:.3}}}",
            enqueue * 1e6
        );
        Ok(())
    }
}

/// [`super::graph`]'s chain through cudarc's own API (module from the
/// same cubin, `launch_builder`, stream capture into a `CudaGraph`), on a
/// stream of its own with cudarc's per-slice event tracking off (one
/// stream needs none).
#[cfg(feature = "cuda")]
mod cudarc_chain {
    use std::time::Instant;

    use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg, sys};
    use cudarc::nvrtc::Ptx;

    use super::{CHAIN, CHAIN_N};

    pub fn run() -> Result<(), String> {
        let err = |e: cudarc::driver::DriverError| format!("{e:?}");
        let ctx = CudaContext::new(0).map_err(err)?;
        // SAFETY: no slice is shared between streams in this benchmark.
        unsafe { ctx.disable_event_tracking() };
        let spec = &super::kernels::stream::SAXPY_SPEC;
        let cubin = spec
            .artifact("cubin", Some("sm_90"))
            .ok_or("no sm_90 cubin embedded")?;
        let module = ctx
            .load_module(Ptx::from_binary(cubin.bytes.to_vec()))
            .map_err(err)?;
        let f = module.load_function(spec.name).map_err(err)?;
        let stream = ctx.new_stream().map_err(err)?;
        let x = stream.clone_htod(&vec![1.0f32; CHAIN_N]).map_err(err)?;
        let mut y = stream.alloc_zeros::<f32>(CHAIN_N).map_err(err)?;
        let (a, len) = (0.5f32, CHAIN_N as u32);
        let cfg = LaunchConfig {
            grid_dim: ((CHAIN_N / 256) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut chain = || -> Result<(), String> {
            for _ in 0..CHAIN {
                let mut launch = stream.launch_builder(&f);
                // The PTX emitter's parameters: a, then (pointer, length)
                // per buffer.
                launch.arg(&a).arg(&x).arg(&len).arg(&mut y).arg(&len);
                // SAFETY: arguments in the kernel's parameter layout.
                unsafe { launch.launch(cfg) }.map_err(err)?;
            }
            Ok(())
        };
        let median = |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
            f()?;
            stream.synchronize().map_err(err)?;
            let mut times = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                f()?;
                stream.synchronize().map_err(err)?;
                times.push(t.elapsed().as_secs_f64() / CHAIN as f64);
            }
            times.sort_by(f64::total_cmp);
            Ok(times[2])
        };
        let eager = median(&mut chain)?;
        println!(
            "{{\"kernel\":\"chain_eager_cudarc\",\"launches\":{CHAIN},\"us_per_launch\":{:.3}}}",
            eager * 1e6
        );
        stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(err)?;
        chain()?;
        let graph = stream
            .end_capture(sys::CUgraphInstantiate_flags(0))
            .map_err(err)?
            .ok_or("empty capture")?;
        let replay = median(&mut || graph.launch().map_err(err))?;
        println!(
            "{{\"kernel\":\"chain_graph_cudarc\",\"launches\":{CHAIN},\"us_per_launch\":{:.3}}}",
            replay * 1e6
        );
        let got = stream.clone_dtoh(&y).map_err(err)?;
        let want = 0.5 * (1 + 5 + 1 + 5) as f32 * CHAIN as f32;
        if got[CHAIN_N - 1] != want {
            return Err(format!(
                "cudarc chain: y = {} instead of {want}",
                got[CHAIN_N - 1]
            ));
        }
        Ok(())
    }
}

/// `--tune TABLE`: time every instance of `gemm_wg` (n³ for n = `--gemm`
/// and twice that) and of `attention` (the bench's shapes) through their
/// generated `*_tune` functions, and add the records to TABLE (the
/// crate's `kernels/vyre-tune.toml`, read by the next build).
fn tune(device: &Device, o: &Options, path: &str) -> vyre::Result<()> {
    use vyre::half::{bf16, f16};
    use vyre::runtime::tune::{TuneRecord, TuneTable};
    let mut table = TuneTable::load(path)?;
    let mut add = |record: TuneRecord| {
        println!(
            "{{\"tuned\":\"{}\",\"arch\":\"{}\",\"size\":{:?},\"best\":\"{}\",\"times_us\":{:?}}}",
            record.kernel, record.arch, record.size, record.best, record.times_us
        );
        table.insert(record);
    };
    for m in [o.gemm, o.gemm * 2] {
        let len = (m as usize).pow(2);
        macro_rules! gemm {
            ($t:ty) => {{
                let a: Buffer<$t> = device.upload(&vec![<$t>::from_f32(0.5); len])?;
                let b: Buffer<$t> = device.upload(&vec![<$t>::from_f32(0.25); len])?;
                let mut c: Buffer<$t> = device.zeros(len)?;
                add(kernels::gemm_wg::gemm_wg_tune::<$t>(
                    device, m, m, m, &a, &b, &mut c,
                )?);
            }};
        }
        gemm!(bf16);
        gemm!(f16);
    }
    let shapes: &[(u32, u32, u32)] = if device.name().starts_with("cuda") {
        &[(4 * 32, 4096, 128), (8 * 16, 2048, 64)]
    } else {
        &[(2, 256, 64), (1, 200, 128)]
    };
    for &(heads, seq, d) in shapes {
        let len = (heads * seq * d) as usize;
        let x: Buffer<bf16> = device.upload(&vec![bf16::from_f32(0.1); len])?;
        let mut out: Buffer<bf16> = device.zeros(len)?;
        let scale = 1.0 / (d as f32).sqrt();
        use kernels::attention::attention_tune as at;
        let records = if d == 64 {
            [
                at::<bf16, 64, 0>(device, seq, scale, &x, &x, &x, &mut out)?,
                at::<bf16, 64, 1>(device, seq, scale, &x, &x, &x, &mut out)?,
            ]
        } else {
            [
                at::<bf16, 128, 0>(device, seq, scale, &x, &x, &x, &mut out)?,
                at::<bf16, 128, 1>(device, seq, scale, &x, &x, &x, &mut out)?,
            ]
        };
        records.into_iter().for_each(&mut add);
    }
    table.save(path)?;
    Ok(())
}

fn main() -> vyre::Result<()> {
    let start = Instant::now();
    let o = parse_args();
    let device = open(&o)?;
    if let Some(path) = &o.tune {
        return tune(&device, &o, path);
    }
    // Time to the first completed launch (module load included: cubin, or
    // PTX JIT when the cubin is absent or VYRE_CUDA_PREFER_PTX=1).
    let mut probe: Buffer<u32> = device.zeros(1)?;
    kernels::stream::empty(&device, Grid::workgroups(1), &mut probe)?;
    device.synchronize()?;
    println!(
        "{{\"kernel\":\"first_launch\",\"device\":\"{}\",\"ms_since_start\":{:.2}}}",
        device.name(),
        start.elapsed().as_secs_f64() * 1e3
    );
    launch_overhead(&device, &o)?;
    graph(&device, &o)?;
    stream(&device, &o)?;
    rows(&device, &o)?;
    rows_bf16(&device, &o)?;
    gemm(&device, &o)?;
    gemm_half(&device, &o)?;
    attention(&device, &o)?;
    Ok(())
}
