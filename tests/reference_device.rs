//! The CPU device end to end: `KernelSpec` with a `reference` artifact,
//! `Device::cpu()`, upload, launch, download.

use vyre::ir::{Access, BufRef, DataType, Expr, Program, ProgramBuilder, wire};
use vyre::runtime::{Artifact, KernelSpec, LaunchArg, ParamSpec};
use vyre::{Device, Error, Grid};

fn saxpy() -> Program {
    vyre_testkit::programs::saxpy(64)
}

const SAXPY_PARAMS: &[ParamSpec] = &[
    ParamSpec::Scalar {
        name: "a",
        ty: DataType::F32,
    },
    ParamSpec::Buffer {
        name: "x",
        elem: DataType::F32,
        access: Access::Read,
    },
    ParamSpec::Buffer {
        name: "y",
        elem: DataType::F32,
        access: Access::ReadWrite,
    },
];

/// The artifact of `bytes` (a `reference` one, or a stand-in `ptx` one
/// without `with_artifact`).
fn artifact(bytes: &[u8], with_artifact: bool) -> [Artifact<'_>; 1] {
    if with_artifact {
        [Artifact {
            target: "reference",
            arch: None,
            bytes,
        }]
    } else {
        [Artifact {
            target: "ptx",
            arch: None,
            bytes: b"// ptx",
        }]
    }
}

/// The saxpy spec under `key`, with `artifacts`.
fn spec<'a>(key: &'a str, program: &Program, artifacts: &'a [Artifact<'a>]) -> KernelSpec<'a> {
    KernelSpec {
        name: "saxpy",
        key,
        params: SAXPY_PARAMS,
        workgroup_size: program.workgroup_size,
        unchecked: false,
        artifacts,
        debug: &[],
        tensor_maps: &[],
    }
}

#[test]
fn saxpy_through_the_cpu_device() {
    let bytes = wire::to_wire(&saxpy());
    let artifacts = artifact(&bytes, true);
    let spec = &spec("test::saxpy#1", &saxpy(), &artifacts);
    let device = Device::cpu();
    assert!(device.name().contains("cpu"));
    let n = 1000;
    let xs: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let ys: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
    let x = device.upload(&xs).unwrap();
    let mut y = device.upload(&ys).unwrap();
    for round in 1..=2 {
        device
            .launch(
                spec,
                Grid::threads(n),
                &mut [LaunchArg::F32(2.0), x.arg(), y.arg_mut()],
            )
            .unwrap();
        let got = device.download(&y).unwrap();
        for i in 0..n {
            let mut want = ys[i];
            for _ in 0..round {
                want += 2.0 * xs[i];
            }
            assert_eq!(got[i], want, "round {round} element {i}");
        }
    }
    // write + zeros + download_into.
    device.write(&mut y, &ys).unwrap();
    let z = device.zeros::<f32>(n).unwrap();
    assert_eq!(device.download(&z).unwrap(), vec![0.0; n]);
    device
        .launch(
            spec,
            Grid::threads(n),
            &mut [LaunchArg::F32(-1.0), z.arg(), y.arg_mut()],
        )
        .unwrap();
    let mut out = vec![0f32; n];
    device.download_into(&y, &mut out).unwrap();
    assert_eq!(out, ys);
    device.synchronize().unwrap();
}

#[test]
fn read_write_buffer_passed_for_read_only_param() {
    let bytes = wire::to_wire(&saxpy());
    let artifacts = artifact(&bytes, true);
    let spec = &spec("test::saxpy#rw", &saxpy(), &artifacts);
    let device = Device::cpu();
    let mut x = device.upload(&[1.0f32, 2.0]).unwrap();
    let mut y = device.upload(&[10.0f32, 20.0]).unwrap();
    device
        .launch(
            spec,
            Grid::threads(2),
            &mut [LaunchArg::F32(3.0), x.arg_mut(), y.arg_mut()],
        )
        .unwrap();
    assert_eq!(device.download(&y).unwrap(), vec![13.0, 26.0]);
    assert_eq!(device.download(&x).unwrap(), vec![1.0, 2.0]);
}

#[test]
fn missing_artifact_is_target_not_compiled() {
    let artifacts = artifact(&[], false);
    let spec = &spec("test::saxpy#none", &saxpy(), &artifacts);
    let device = Device::cpu();
    let x = device.upload(&[1.0f32]).unwrap();
    let mut y = device.upload(&[1.0f32]).unwrap();
    let e = device
        .launch(
            spec,
            Grid::threads(1),
            &mut [LaunchArg::F32(1.0), x.arg(), y.arg_mut()],
        )
        .unwrap_err();
    assert!(matches!(e, Error::TargetNotCompiled { .. }), "{e:?}");
    assert!(e.to_string().contains("reference"), "{e}");
}

/// `VYRE`, this build's wire version, then one byte of a payload.
const CURRENT_HEADER_TRUNCATED: [u8; 7] = {
    let v = vyre::ir::wire::VERSION.to_le_bytes();
    [b'V', b'Y', b'R', b'E', v[0], v[1], 0xff]
};

#[test]
fn corrupt_artifact_is_a_backend_error() {
    let bad = &KernelSpec {
        name: "saxpy",
        key: "test::saxpy#corrupt",
        params: SAXPY_PARAMS,
        workgroup_size: [64, 1, 1],
        unchecked: false,
        artifacts: &[Artifact {
            target: "reference",
            arch: None,
            // A current header over a truncated payload.
            bytes: &CURRENT_HEADER_TRUNCATED,
        }],
        debug: &[],
        tensor_maps: &[],
    };
    let device = Device::cpu();
    let x = device.upload(&[1.0f32]).unwrap();
    let mut y = device.upload(&[1.0f32]).unwrap();
    let e = device
        .launch(
            bad,
            Grid::threads(1),
            &mut [LaunchArg::F32(1.0), x.arg(), y.arg_mut()],
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Backend { message, .. } if message.contains("malformed")),
        "{e:?}"
    );
}

#[test]
fn runtime_errors_map_to_device_errors() {
    // A kernel whose spec claims `x` is read-write while the program reads
    // it only is fine; the reverse (program writes a buffer passed
    // read-only) is refused.
    let mut b = ProgramBuilder::new("w", [1, 1, 1]);
    let o = b.buffer("o", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(o), Expr::u32(0), Expr::u32(5));
    });
    let p = b.finish();
    let bytes = wire::to_wire(&p);
    let artifacts = [Artifact {
        target: "reference",
        arch: None,
        bytes: &bytes,
    }];
    let lying = &KernelSpec {
        name: "w",
        key: "test::w#lying",
        params: &[ParamSpec::Buffer {
            name: "o",
            elem: DataType::U32,
            access: Access::Read,
        }],
        workgroup_size: [1, 1, 1],
        unchecked: false,
        artifacts: &artifacts,
        debug: &[],
        tensor_maps: &[],
    };
    let device = Device::cpu();
    let buf = device.upload(&[0u32]).unwrap();
    let e = device
        .launch(lying, Grid::workgroups(1), &mut [buf.arg()])
        .unwrap_err();
    assert!(matches!(e, Error::BadArguments { .. }), "{e:?}");
    assert_eq!(device.download(&buf).unwrap(), vec![0]);
}

#[test]
fn copies_and_writes_are_ordered_with_launches() {
    vyre_testkit::device_contract::check_ordering(&Device::cpu(), &["reference"]).unwrap();
}

/// Narrow buffers through the CPU device: packed host buffers of `bf16`,
/// `u8` and `i16` (an odd number of elements), a narrow scalar as
/// `LaunchArg::scalar`.
#[test]
fn narrow_buffers_and_scalars_through_the_cpu_device() {
    use vyre::half::{bf16, f16};
    // y[i] = (x[i] as f32 * a as f32) as bf16; c[i] = c[i] + 1 (wraps);
    // s[i] = -s[i] (wraps at -32768).
    let mut b = ProgramBuilder::new("narrow", [4, 1, 1]);
    let a = b.scalar("a", DataType::F16);
    let x = b.buffer("x", DataType::BF16, Access::Read);
    let y = b.buffer("y", DataType::BF16, Access::ReadWrite);
    let c = b.buffer("c", DataType::U8, Access::ReadWrite);
    let s = b.buffer("s", DataType::I16, Access::ReadWrite);
    b.body(|blk| {
        let i = Expr::global_id_x();
        let v = Expr::load(BufRef::Param(x), i.clone())
            .cast(DataType::F32)
            .mul(Expr::param(a).cast(DataType::F32));
        blk.store(BufRef::Param(y), i.clone(), v.cast(DataType::BF16));
        let w = Expr::load(BufRef::Param(c), i.clone()).add(Expr::Lit(vyre::ir::Literal::U8(1)));
        blk.store(BufRef::Param(c), i.clone(), w);
        let n = Expr::load(BufRef::Param(s), i.clone()).neg();
        blk.store(BufRef::Param(s), i, n);
    });
    let p = b.finish();
    let bytes = wire::to_wire(&p);
    let artifacts = artifact(&bytes, true);
    let params = [
        ParamSpec::Scalar {
            name: "a",
            ty: DataType::F16,
        },
        ParamSpec::Buffer {
            name: "x",
            elem: DataType::BF16,
            access: Access::Read,
        },
        ParamSpec::Buffer {
            name: "y",
            elem: DataType::BF16,
            access: Access::ReadWrite,
        },
        ParamSpec::Buffer {
            name: "c",
            elem: DataType::U8,
            access: Access::ReadWrite,
        },
        ParamSpec::Buffer {
            name: "s",
            elem: DataType::I16,
            access: Access::ReadWrite,
        },
    ];
    let spec = &KernelSpec {
        name: "narrow",
        key: "test::narrow#1",
        params: &params,
        workgroup_size: p.workgroup_size,
        unchecked: false,
        artifacts: &artifacts,
        debug: &[],
        tensor_maps: &[],
    };
    let device = Device::cpu();
    let xs = [1.5f32, -3.0, 3.0e38].map(bf16::from_f32);
    let x = device.upload(&xs).unwrap();
    let mut y = device.zeros::<bf16>(3).unwrap();
    let mut c = device.upload(&[0u8, 254, 255]).unwrap();
    let mut s = device.upload(&[1i16, -32768, 7]).unwrap();
    device
        .launch(
            spec,
            Grid::workgroups(1),
            &mut [
                LaunchArg::scalar(f16::from_f32(2.0)),
                x.arg(),
                y.arg_mut(),
                c.arg_mut(),
                s.arg_mut(),
            ],
        )
        .unwrap();
    // 3.0, -6.0 and 6e38 (infinity in bf16).
    let want = [0x4040u16, 0xc0c0, 0x7f80];
    let got: Vec<u16> = device
        .download(&y)
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(got, want);
    assert_eq!(device.download(&c).unwrap(), [1, 255, 0]);
    assert_eq!(device.download(&s).unwrap(), [-1, -32768, -7]);
}

#[test]
fn oversized_buffers_are_errors_not_aborts() {
    let dev = Device::cpu();
    // Bytes past usize: an error, not a wrapped 4-byte buffer.
    let err = dev
        .zeros::<f32>(usize::MAX / 4 + 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflow the address space"), "{err}");
    // More than the host can hold: an error, not an aborted process.
    let err = dev.zeros::<u8>(1 << 62).unwrap_err().to_string();
    assert!(err.contains("cannot allocate"), "{err}");
}

#[test]
fn an_infinite_loop_on_the_cpu_device_is_an_error_not_a_hang() {
    let src = "#[kernel(workgroup_size = 1)]\npub fn spin(y: &mut [u32]) {\n    let mut i = 0u32;\n    loop {\n        i = i + 1;\n        y[0] = i;\n    }\n}\n";
    let p = vyre::lang::parse("spin.vyre", src)
        .unwrap()
        .kernels
        .remove(0);
    let bytes = wire::to_wire(&p);
    let spec = KernelSpec {
        name: "spin",
        key: "spin#test",
        params: &[ParamSpec::Buffer {
            name: "y",
            elem: DataType::U32,
            access: Access::ReadWrite,
        }],
        workgroup_size: [1, 1, 1],
        unchecked: false,
        artifacts: &[Artifact {
            target: "reference",
            arch: None,
            bytes: &bytes,
        }],
        debug: &[],
        tensor_maps: &[],
    };
    let dev = Device::cpu();
    let mut y = dev.zeros::<u32>(1).unwrap();
    let t = std::time::Instant::now();
    let err = dev
        .launch(&spec, Grid::workgroups(1), &mut [y.arg_mut()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exceeded the limit of 268435456 steps"),
        "{err}"
    );
    println!("the step limit stopped the loop after {:?}", t.elapsed());
}

/// An unchecked kernel's spec cannot be launched through the safe
/// `Device::launch` (that would make unchecked accesses reachable from
/// safe code); `launch_unchecked`, an `unsafe fn`, runs it.
#[test]
fn unchecked_specs_need_the_unsafe_launch() {
    let mut p = saxpy();
    p.unchecked = true;
    let bytes = wire::to_wire(&p);
    let artifacts = artifact(&bytes, true);
    let mut spec = spec("test::saxpy_unchecked#1", &p, &artifacts);
    spec.unchecked = true;
    let device = Device::cpu();
    let x = device.upload(&[1.0f32; 64]).unwrap();
    let mut y = device.upload(&[1.0f32; 64]).unwrap();
    let err = device
        .launch(
            &spec,
            Grid::threads(64),
            &mut [LaunchArg::F32(2.0), x.arg(), y.arg_mut()],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::BadArguments { reason, .. } if reason.contains("launch_unchecked")),
        "{err}"
    );
    // SAFETY: 64 invocations over buffers of 64 elements: every index of
    // saxpy is in range.
    unsafe {
        device.launch_unchecked(
            &spec,
            Grid::threads(64),
            &mut [LaunchArg::F32(2.0), x.arg(), y.arg_mut()],
        )
    }
    .unwrap();
    assert_eq!(device.download(&y).unwrap(), vec![3.0f32; 64]);
}
