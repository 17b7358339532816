//! The `reference` target: the IR's wire encoding as the blob, and a CPU
//! interpreter that defines the language's semantics.

use crate::runtime::{DeviceBackend, DeviceMemory, KernelArg, KernelSpec, Result};

/// The CPU runtime backend, running the reference interpreter.
#[derive(Debug, Default)]
pub struct CpuBackend {}

impl CpuBackend {
    /// A new CPU backend.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl DeviceBackend for CpuBackend {
    fn name(&self) -> String {
        "cpu (vyre reference interpreter)".to_string()
    }
    fn alloc_zeroed(&self, _bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        todo!()
    }
    fn upload(&self, _data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        todo!()
    }
    fn write(&self, _mem: &mut dyn DeviceMemory, _data: &[u8]) -> Result<()> {
        todo!()
    }
    fn read(&self, _mem: &dyn DeviceMemory, _out: &mut [u8]) -> Result<()> {
        todo!()
    }
    fn launch(
        &self,
        _kernel: &'static KernelSpec,
        _workgroups: [u32; 3],
        _args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        todo!()
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
