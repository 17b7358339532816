//! CUDA collectives through NCCL (loaded at run time, like the driver):
//! rank 0's `ncclUniqueId` travels through the rendezvous, then every
//! all-reduce runs in place on the device buffers.

use std::time::Duration;

use cudarc::nccl::{result, sys};
use vyre::backend::ptx::runtime::CudaMemory;
use vyre::ir::DataType;
use vyre::runtime::{AnyBuffer, downcast_memory_mut};

use crate::error::{LauncherError, Result};
use crate::manifest::ReduceOp;
use crate::ranks::{Hub, ID_BYTES, Ranks, Rendezvous, share_id_by_file};

/// One NCCL communicator of this rank.
pub(crate) struct Nccl {
    comm: sys::ncclComm_t,
    device: vyre::Device,
}

fn nccl_err(what: &str, e: impl std::fmt::Debug) -> LauncherError {
    LauncherError::Environment(format!("NCCL {what}: {e:?}"))
}

impl Nccl {
    /// Join the communicator of `ranks` on `device` (the rank's GPU, already
    /// opened); `rendezvous` is `None` for a single rank.
    pub(crate) fn open(
        ranks: Ranks,
        rendezvous: Option<&Rendezvous>,
        limit: Duration,
        device: &vyre::Device,
    ) -> Result<Self> {
        // SAFETY: only tries to dlopen the library.
        if !unsafe { sys::is_culib_present() } {
            return Err(LauncherError::Environment(
                "the NCCL library (libnccl.so.2) was not found; install NCCL or put it on LD_LIBRARY_PATH".to_string(),
            ));
        }
        let mut id = [0u8; ID_BYTES];
        if ranks.rank == 0 {
            let unique = std::panic::catch_unwind(result::get_uniqueid)
                .map_err(|_| nccl_err("ncclGetUniqueId", "the library lacks the symbol"))?
                .map_err(|e| nccl_err("ncclGetUniqueId", e))?;
            for (b, c) in id.iter_mut().zip(unique.internal) {
                *b = c as u8;
            }
        }
        let id = match rendezvous {
            None => id,
            Some(Rendezvous::Tcp { addr }) => Hub::connect(ranks, addr, id, limit)?.1,
            Some(Rendezvous::File(path)) => share_id_by_file(ranks, path, id, limit)?,
        };
        let mut unique = sys::ncclUniqueId {
            internal: [0; ID_BYTES],
        };
        for (c, b) in unique.internal.iter_mut().zip(id) {
            *c = b as _;
        }
        // Make the device's context current on this thread (NCCL binds the
        // communicator to the current device).
        device.synchronize()?;
        let mut comm = std::ptr::null_mut();
        // SAFETY: `comm` is a valid out-pointer; the id is rank 0's.
        unsafe { result::comm_init_rank(&mut comm, ranks.size as i32, unique, ranks.rank as i32) }
            .map_err(|e| nccl_err("ncclCommInitRank", e))?;
        Ok(Self {
            comm,
            device: device.clone(),
        })
    }

    /// All-reduce `buf` in place.
    pub(crate) fn all_reduce(&self, buf: &mut AnyBuffer, op: ReduceOp) -> Result<()> {
        self.device.synchronize()?;
        let datatype = match buf.elem() {
            DataType::F32 => sys::ncclDataType_t::ncclFloat32,
            DataType::F16 => sys::ncclDataType_t::ncclFloat16,
            DataType::BF16 => sys::ncclDataType_t::ncclBfloat16,
            DataType::I32 => sys::ncclDataType_t::ncclInt32,
            DataType::U32 => sys::ncclDataType_t::ncclUint32,
            DataType::I8 => sys::ncclDataType_t::ncclInt8,
            DataType::U8 => sys::ncclDataType_t::ncclUint8,
            other => {
                return Err(LauncherError::Usage(format!(
                    "all-reduce: NCCL has no `{}`",
                    other.name()
                )));
            }
        };
        let count = buf.len();
        let mem = downcast_memory_mut::<CudaMemory>(buf.memory_mut(), "cuda")?;
        let ptr = mem.device_ptr() as *mut std::ffi::c_void;
        let op = match op {
            ReduceOp::Sum => sys::ncclRedOp_t::ncclSum,
            ReduceOp::Avg => sys::ncclRedOp_t::ncclAvg,
        };
        // SAFETY: `ptr` is this device's allocation of `count` elements of
        // `datatype`; in place is allowed; the null stream orders it after
        // earlier launches, and the synchronisation below waits for it.
        unsafe {
            result::all_reduce(
                ptr,
                ptr,
                count,
                datatype,
                op,
                self.comm,
                std::ptr::null_mut(),
            )
        }
        .map_err(|e| nccl_err("ncclAllReduce", e))?;
        self.device.synchronize()?;
        Ok(())
    }

    /// The mean of `value` over the ranks.
    pub(crate) fn mean(&self, value: f64) -> Result<f64> {
        let mut scratch = self
            .device
            .upload_bytes(DataType::F32, &(value as f32).to_le_bytes())?;
        self.all_reduce(&mut scratch, ReduceOp::Avg)?;
        let bytes = self.device.download_bytes(&scratch)?;
        Ok(f64::from(f32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ])))
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        // SAFETY: the communicator was initialised once and is destroyed once.
        let _ = unsafe { result::comm_destroy(self.comm) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A communicator of one rank on GPU 0: the all-reduce and the mean
    /// run through NCCL and leave the values as they are.
    #[test]
    fn one_rank_reduces_through_nccl() {
        let required = std::env::var_os("VYRE_REQUIRE_CUDA").is_some_and(|v| v == "1");
        let device = match vyre::Device::cuda(0) {
            Ok(d) => d,
            Err(e) if !required => {
                println!("skipped: no CUDA device ({e})");
                return;
            }
            Err(e) => panic!("VYRE_REQUIRE_CUDA=1 but {e}"),
        };
        let nccl = match Nccl::open(Ranks::SINGLE, None, Duration::from_secs(10), &device) {
            Ok(n) => n,
            Err(e) if !required => {
                println!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let values = [1.5f32, -2.0, 3.25];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut buf = device.upload_bytes(DataType::F32, &bytes).unwrap();
        nccl.all_reduce(&mut buf, ReduceOp::Sum).unwrap();
        nccl.all_reduce(&mut buf, ReduceOp::Avg).unwrap();
        assert_eq!(device.download_bytes(&buf).unwrap(), bytes);
        assert_eq!(nccl.mean(0.25).unwrap(), 0.25);
        let mut u16s = device.upload_bytes(DataType::U16, &[0, 0]).unwrap();
        let e = nccl.all_reduce(&mut u16s, ReduceOp::Sum).unwrap_err();
        assert!(e.to_string().contains("NCCL has no `u16`"), "{e}");
    }
}
