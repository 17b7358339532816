//! `Device::time` on wgpu: a timestamp query written into the pending
//! command buffer between launches, where the device has
//! `TIMESTAMP_QUERY_INSIDE_ENCODERS`; read back by resolving two of them.

use std::sync::mpsc;
use std::time::Duration;

use super::{BACKEND, WgpuBackend, backend_err};
use crate::runtime::{DeviceMark, Error, Result};

/// A timestamp in the device's queue: [`crate::runtime::DeviceBackend::mark`]
/// of the wgpu backend.
#[derive(Debug)]
pub(super) struct WgpuMark {
    query: wgpu::QuerySet,
    device: wgpu::Device,
    queue: wgpu::Queue,
}

impl WgpuBackend {
    /// A timestamp after every recorded launch, submitted at once; `None`
    /// where the device cannot write timestamps between passes.
    pub(super) fn timestamp_mark(&self) -> Result<Option<Box<dyn DeviceMark>>> {
        if !self.timestamps {
            return Ok(None);
        }
        let query = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("vyre timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 1,
        });
        self.record("a timestamp", |encoder| encoder.write_timestamp(&query, 0))?;
        self.flush()?;
        Ok(Some(Box::new(WgpuMark {
            query,
            device: self.device.clone(),
            queue: self.queue.clone(),
        })))
    }
}

/// Where each mark's tick count lands in the resolve buffer (resolves must
/// start on 256-byte boundaries).
const SLOT: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

impl DeviceMark for WgpuMark {
    fn since(&self, earlier: &dyn DeviceMark) -> Result<Duration> {
        let earlier = (earlier as &dyn std::any::Any)
            .downcast_ref::<WgpuMark>()
            .ok_or_else(|| Error::Backend {
                backend: BACKEND.to_string(),
                message: "timing from a mark of another device".to_string(),
            })?;
        let buffer = |usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vyre timer"),
                size: SLOT + 8,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolved = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let staging = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.resolve_query_set(&earlier.query, 0..1, &resolved, 0);
        encoder.resolve_query_set(&self.query, 0..1, &resolved, SLOT);
        encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, SLOT + 8);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| backend_err(format!("waiting for timestamps: {e}")))?;
        rx.recv()
            .map_err(|e| backend_err(format!("timestamps: {e}")))?
            .map_err(|e| backend_err(format!("mapping timestamps: {e}")))?;
        let ticks = {
            let data = slice
                .get_mapped_range()
                .map_err(|e| backend_err(format!("reading timestamps: {e}")))?;
            let at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
            at(SLOT as usize).saturating_sub(at(0))
        };
        staging.unmap();
        let nanos = ticks as f64 * f64::from(self.queue.get_timestamp_period());
        Ok(Duration::from_nanos(nanos as u64))
    }
}
