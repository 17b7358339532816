//! Launch overhead of `Device::launch` on CUDA versus a bare
//! `cuLaunchKernel` of the same function (target: at most +1 µs).
#![cfg(feature = "cuda")]

mod ptx_support;

use std::time::Instant;

use ptx_support::*;
use vyre::backend::ptx::runtime::cudarc::driver::{CudaContext, result};
use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
use vyre::{Device, Grid};
use vyre_testkit::programs::{saxpy4, sum_partials};

#[test]
fn launch_overhead_is_small() {
    let Ok(gpu) = Device::cuda(0) else {
        println!("skipped: no CUDA device");
        return;
    };
    // out[0] = a (a tiny kernel: the launch path dominates).
    let mut b = ProgramBuilder::new("tiny", [32, 1, 1]);
    let a = b.scalar("a", DataType::U32);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::param(a));
    });
    let p = b.finish();
    let owned = spec(&p);
    let (params, artifacts) = owned.parts();
    let spec = &owned.spec(&params, &artifacts);
    let mut buf = gpu.zeros::<u32>(1).unwrap();

    // Bare driver launch of the same PTX in the same (primary) context.
    let ctx = CudaContext::new(0).unwrap();
    ctx.bind_to_thread().unwrap();
    let mut ptx = vyre::backend::ptx::emit_ptx(&p, &vyre::DispatchConfig::default())
        .unwrap()
        .into_bytes();
    ptx.push(0);
    let module = unsafe { result::module::load_data(ptx.as_ptr().cast()) }.unwrap();
    let func =
        unsafe { result::module::get_function(module, std::ffi::CString::new("tiny").unwrap()) }
            .unwrap();
    let raw = unsafe { result::malloc_sync(4) }.unwrap();

    const BATCH: usize = 500;
    let mut best_vyre = f64::MAX;
    let mut best_bare = f64::MAX;
    for round in 0..6 {
        gpu.synchronize().unwrap();
        let t = Instant::now();
        for i in 0..BATCH {
            gpu.launch(
                spec,
                Grid::workgroups(1),
                &mut [vyre::runtime::LaunchArg::U32(i as u32), buf.arg_mut()],
            )
            .unwrap();
        }
        let dt = t.elapsed().as_secs_f64() / BATCH as f64;
        gpu.synchronize().unwrap();
        if round > 0 {
            best_vyre = best_vyre.min(dt);
        }

        let mut ptr_val: u64 = raw;
        let mut len_val: u64 = 1;
        let t = Instant::now();
        for i in 0..BATCH {
            let mut a_val = i as u64;
            let mut params = [
                std::ptr::from_mut(&mut a_val).cast(),
                std::ptr::from_mut(&mut ptr_val).cast(),
                std::ptr::from_mut(&mut len_val).cast(),
            ];
            unsafe {
                result::launch_kernel(
                    func,
                    (1, 1, 1),
                    (32, 1, 1),
                    0,
                    std::ptr::null_mut(),
                    &mut params,
                )
            }
            .unwrap();
        }
        let dt = t.elapsed().as_secs_f64() / BATCH as f64;
        result::ctx::synchronize().unwrap();
        if round > 0 {
            best_bare = best_bare.min(dt);
        }
    }
    let last = gpu.download(&buf).unwrap();
    assert_eq!(last, vec![(BATCH - 1) as u32]);
    println!(
        "launch cost per call: vyre Device::launch {:.2} us, bare cuLaunchKernel {:.2} us, overhead {:+.2} us",
        best_vyre * 1e6,
        best_bare * 1e6,
        (best_vyre - best_bare) * 1e6
    );
    unsafe {
        let _ = result::free_sync(raw);
        let _ = result::module::unload(module);
    }
    assert!(best_vyre - best_bare < 2e-6, "launch overhead above 2 us");
}

#[test]
fn bandwidth_report() {
    let Ok(gpu) = Device::cuda(0) else {
        println!("skipped: no CUDA device");
        return;
    };
    let n: usize = 1 << 26;
    let x = gpu.upload(&vec![1.0f32; n]).unwrap();
    let mut y = gpu.upload(&vec![2.0f32; n]).unwrap();
    let cases: [(&str, vyre::ir::Program, usize, f64); 2] = [
        ("saxpy (1 elem/thread)", saxpy(), n, 12.0),
        ("saxpy4 (4 elem/thread, v4)", saxpy4(), n.div_ceil(4), 12.0),
    ];
    for (name, p, threads, bytes_per_elem) in cases {
        let owned = spec(&p);
        let (params, artifacts) = owned.parts();
        let spec = &owned.spec(&params, &artifacts);
        let run = |y: &mut vyre::Buffer<f32>| {
            gpu.launch(
                spec,
                Grid::threads(threads),
                &mut [vyre::runtime::LaunchArg::F32(0.5), x.arg(), y.arg_mut()],
            )
            .unwrap();
        };
        run(&mut y);
        gpu.synchronize().unwrap();
        let iters = 20;
        let t = Instant::now();
        for _ in 0..iters {
            run(&mut y);
        }
        gpu.synchronize().unwrap();
        let dt = t.elapsed().as_secs_f64() / f64::from(iters);
        println!(
            "{name}: {:.0} GB/s ({:.3} ms for 2^26 f32)",
            n as f64 * bytes_per_elem / dt / 1e9,
            dt * 1e3
        );
    }
    let p = sum_partials();
    let owned = spec(&p);
    let (params, artifacts) = owned.parts();
    let spec = &owned.spec(&params, &artifacts);
    let mut partials = gpu.zeros::<f32>(1320).unwrap();
    let run = |partials: &mut vyre::Buffer<f32>| {
        gpu.launch(
            spec,
            Grid::workgroups(1320),
            &mut [x.arg(), partials.arg_mut()],
        )
        .unwrap();
    };
    run(&mut partials);
    gpu.synchronize().unwrap();
    let t = Instant::now();
    for _ in 0..20 {
        run(&mut partials);
    }
    gpu.synchronize().unwrap();
    let dt = t.elapsed().as_secs_f64() / 20.0;
    let s: f32 = gpu.download(&partials).unwrap().iter().sum();
    assert_eq!(s, n as f32);
    println!(
        "sum_partials (v4 grid-stride): {:.0} GB/s",
        n as f64 * 4.0 / dt / 1e9
    );
}

#[test]
fn copies_and_writes_are_ordered_with_launches() {
    let Ok(gpu) = Device::cuda(0) else {
        println!("skipped: no CUDA device");
        return;
    };
    vyre_testkit::device_contract::check_ordering(&gpu, &["ptx"]).unwrap();
}
