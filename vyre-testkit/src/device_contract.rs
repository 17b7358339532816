//! Behaviour every `Device` must show whatever its backend, checked the same
//! way on the CPU, CUDA and wgpu by the tests of each.

use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
use vyre::{Device, Error, Grid};

use crate::harness::owned_spec;

/// `Device::copy` and `Device::write` run in order with the launches before
/// and after them (whatever a backend batches), a copy copies every
/// element, and both refuse buffers of another length or device. `targets`
/// are the artifacts to build the incrementing kernel for (those the device
/// runs).
///
/// # Errors
///
/// What differs from the contract.
pub fn check_ordering(device: &Device, targets: &[&str]) -> Result<(), String> {
    // a[i] += 1 for every i < a.len().
    let mut b = ProgramBuilder::new("increment", [64, 1, 1]);
    let a = b.buffer("a", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(a)), |then| {
            let v = Expr::load(BufRef::Param(a), Expr::local(i)).add(Expr::u32(1));
            then.store(BufRef::Param(a), Expr::local(i), v);
        });
    });
    let spec = owned_spec(&b.finish(), targets)?;
    let fail = |what: &str, e: Error| format!("{what}: {e}");

    // Odd length and large enough that a copy racing a launch shows.
    let n = (1 << 20) + 3;
    let start: Vec<u32> = (0..n as u32)
        .map(|k| k.wrapping_mul(2_654_435_761))
        .collect();
    let mut src = device.upload(&start).map_err(|e| fail("upload", e))?;
    let mut dst = device.zeros::<u32>(n).map_err(|e| fail("zeros", e))?;
    let bump = |buf: &mut vyre::Buffer<u32>| {
        spec.launch(device, Grid::threads(n), &mut [buf.arg_mut()])
            .map_err(|e| fail("launch", e))
    };
    bump(&mut src)?;
    device.copy(&src, &mut dst).map_err(|e| fail("copy", e))?;
    bump(&mut src)?;
    bump(&mut dst)?;
    bump(&mut dst)?;
    let got_src = device.download(&src).map_err(|e| fail("download", e))?;
    let got_dst = device.download(&dst).map_err(|e| fail("download", e))?;
    for k in 0..n {
        let (s, d) = (start[k].wrapping_add(2), start[k].wrapping_add(3));
        if got_src[k] != s || got_dst[k] != d {
            return Err(format!(
                "element {k}: source {} (want {s}), destination {} (want {d}): \
                 the copy is not ordered with the launches around it",
                got_src[k], got_dst[k]
            ));
        }
    }

    // A host write between launches: the launches before it work on the old
    // contents (and are overwritten), the one after it on the new ones. Two
    // launches before it, so that one is still pending where a backend
    // submits the first at once and batches the rest.
    let fresh: Vec<u32> = (0..n as u32).map(|k| k ^ 0x5a5a_5a5a).collect();
    bump(&mut dst)?;
    bump(&mut dst)?;
    device
        .write(&mut dst, &fresh)
        .map_err(|e| fail("write", e))?;
    bump(&mut dst)?;
    let got = device.download(&dst).map_err(|e| fail("download", e))?;
    if let Some(k) = (0..n).find(|&k| got[k] != fresh[k].wrapping_add(1)) {
        return Err(format!(
            "element {k} after launch, write, launch: {} (want {}): the write is \
             not ordered with the launches around it",
            got[k],
            fresh[k].wrapping_add(1)
        ));
    }

    let mut short = device.zeros::<u32>(n - 1).map_err(|e| fail("zeros", e))?;
    match device.copy(&src, &mut short) {
        Err(Error::CopyLengthMismatch { src: s, dst: d }) if s == n && d == n - 1 => {}
        other => return Err(format!("copy into a shorter buffer gave {other:?}")),
    }
    let foreign = Device::cpu();
    let mut elsewhere = foreign.zeros::<u32>(n).map_err(|e| fail("zeros", e))?;
    match device.copy(&src, &mut elsewhere) {
        Err(Error::WrongDevice { .. }) => {}
        other => return Err(format!("copy into another device's buffer gave {other:?}")),
    }
    let empty = device.zeros::<u32>(0).map_err(|e| fail("zeros", e))?;
    let mut empty2 = device.zeros::<u32>(0).map_err(|e| fail("zeros", e))?;
    device
        .copy(&empty, &mut empty2)
        .map_err(|e| fail("empty copy", e))?;
    Ok(())
}
