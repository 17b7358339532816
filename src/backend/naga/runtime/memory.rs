//! Device memory: buffers, writes, copies and readback.

use super::graph::Recorded;
use std::sync::{Arc, mpsc};

use super::binding::SharedBindGroups;
use super::{BACKEND, WgpuBackend, backend_err, pop_scope};
use crate::runtime::{DeviceBackend as _, DeviceMemory, Result, downcast_memory};

/// A wgpu storage buffer. Its allocation is at least 8 bytes (wgpu cannot
/// bind an empty buffer, and a checked load from an empty buffer reads its
/// element 0, which may be a 64-bit one) and a multiple of 4 (buffers of
/// 8- and 16-bit elements are bound as `u32` words); `len` is the logical
/// size, the only bytes read back.
#[derive(Debug)]
pub struct WgpuMemory {
    pub(super) buffer: wgpu::Buffer,
    pub(super) len: usize,
    /// For memory vyre allocated: drops the cached bind groups that bind
    /// it when it is dropped, so that the cache never keeps it alive.
    _forget: Option<ForgetBindGroups>,
}

/// Drops, when dropped, the cached bind groups that bind `buffer`.
#[derive(Debug)]
struct ForgetBindGroups {
    cache: SharedBindGroups,
    buffer: wgpu::Buffer,
}

impl Drop for ForgetBindGroups {
    fn drop(&mut self) {
        self.cache.forget(&self.buffer);
    }
}

impl WgpuMemory {
    /// The underlying wgpu buffer.
    #[must_use]
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Adopt an application's `buffer` (zero-copy interop), of which the
    /// first `bytes` bytes are the data; adopt it with
    /// [`crate::Device::adopt`]. The buffer is shared, not moved: wgpu
    /// buffers are handles, and the application may keep its own.
    ///
    /// # Errors
    /// A buffer without `STORAGE | COPY_SRC | COPY_DST` usage (vyre binds it
    /// as storage and reads and writes it by copies), or one smaller than
    /// `bytes` rounded up to whole 4-byte words and at least 8 bytes.
    pub fn from_buffer(buffer: wgpu::Buffer, bytes: usize) -> Result<Self> {
        let need = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        if !buffer.usage().contains(need) {
            return Err(backend_err(format!(
                "an adopted buffer needs usage {need:?}; it has {:?}",
                buffer.usage()
            )));
        }
        if buffer.size() < padded(bytes) {
            return Err(backend_err(format!(
                "an adopted buffer of {} bytes cannot hold {bytes} bytes (rounded up to whole 4-byte words, at least 8: {})",
                buffer.size(),
                padded(bytes)
            )));
        }
        Ok(Self {
            buffer,
            len: bytes,
            // The application's buffer: a cached bind group may hold it
            // until it is evicted (at most 64 are kept).
            _forget: None,
        })
    }

    /// The buffer, handed back to the application.
    #[must_use]
    pub fn into_buffer(self) -> wgpu::Buffer {
        let Self { buffer, .. } = self;
        buffer
    }
}

impl DeviceMemory for WgpuMemory {
    fn len_bytes(&self) -> usize {
        self.len
    }
}

/// Allocation size for `bytes` logical bytes: at least 8 (one element of
/// any type, which a checked load of an empty buffer reads and discards),
/// a multiple of 4.
fn padded(bytes: usize) -> u64 {
    (bytes.max(8).div_ceil(4) * 4) as u64
}

impl WgpuBackend {
    /// A buffer must fit one storage binding (and so one allocation).
    pub(super) fn check_size(&self, bytes: usize) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if padded(bytes) > max {
            return Err(backend_err(format!(
                "a buffer of {bytes} bytes exceeds the largest storage buffer {} binds ({max} bytes)",
                self.info.name
            )));
        }
        Ok(())
    }

    pub(super) fn mem<'m>(&self, mem: &'m dyn DeviceMemory) -> Result<&'m WgpuMemory> {
        downcast_memory(mem, BACKEND)
    }

    pub(super) fn alloc_zeroed_buffer(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>> {
        self.check_size(bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: padded(bytes),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            // wgpu zero-initializes new buffers.
            mapped_at_creation: false,
        });
        pop_scope(scope, format_args!("allocating {bytes} bytes"))?;
        Ok(Box::new(self.owned_memory(buffer, bytes)))
    }

    pub(super) fn upload_buffer(&self, data: &[u8]) -> Result<Box<dyn DeviceMemory>> {
        // Any length: buffers of 8- and 16-bit elements need not be whole
        // words; the allocation is padded with zeros.
        self.check_size(data.len())?;
        let mut contents = data.to_vec();
        contents.resize(padded(data.len()) as usize, 0);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        // Not `create_buffer_init`: on a lost device its mapping panics; a
        // queued write (ordered before any later submission) does not.
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: contents.len() as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, &contents);
        pop_scope(scope, format_args!("allocating {} bytes", data.len()))?;
        Ok(Box::new(self.owned_memory(buffer, data.len())))
    }

    /// Memory vyre allocated: forgotten by the bind-group cache when
    /// dropped.
    fn owned_memory(&self, buffer: wgpu::Buffer, len: usize) -> WgpuMemory {
        WgpuMemory {
            _forget: Some(ForgetBindGroups {
                cache: Arc::clone(&self.bind_groups),
                buffer: buffer.clone(),
            }),
            buffer,
            len,
        }
    }

    pub(super) fn write_buffer(&self, mem: &mut dyn DeviceMemory, data: &[u8]) -> Result<()> {
        let m = self.mem(mem)?;
        if data.len() != m.len {
            return Err(backend_err(format!(
                "write of {} bytes into a buffer of {} bytes",
                data.len(),
                m.len
            )));
        }
        if !data.is_empty() {
            // `write_buffer` lands before the next submission: the launches
            // recorded so far must be submitted first, to see the old data.
            self.flush()?;
            if data.len().is_multiple_of(4) {
                self.queue.write_buffer(&m.buffer, 0, data);
            } else {
                // wgpu writes whole words: the last one is completed with
                // zeros (padding no kernel or readback sees).
                let mut padded_data = data.to_vec();
                padded_data.resize(padded(data.len()) as usize, 0);
                self.queue.write_buffer(&m.buffer, 0, &padded_data);
            }
        }
        Ok(())
    }

    pub(super) fn read_buffer(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let m = self.mem(mem)?;
        if out.len() != m.len {
            return Err(backend_err(format!(
                "read of {} bytes from a buffer of {} bytes",
                out.len(),
                m.len
            )));
        }
        if out.is_empty() {
            return self.synchronize();
        }
        let size = padded(m.len);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vyre readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.record("reading a buffer back", |enc| {
            enc.copy_buffer_to_buffer(&m.buffer, 0, &staging, 0, size);
        })?;
        self.flush()?;
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        pop_scope(scope, "reading a buffer back")?;
        self.wait()?;
        self.take_uncaptured()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(backend_err(format!("mapping the readback buffer: {e}"))),
            Err(_) => return Err(backend_err("the readback mapping never completed")),
        }
        {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| backend_err(format!("reading the mapped buffer: {e}")))?;
            out.copy_from_slice(&view[..out.len()]);
        }
        staging.unmap();
        Ok(())
    }

    pub(super) fn copy_buffer(
        &self,
        src: &dyn DeviceMemory,
        dst: &mut dyn DeviceMemory,
    ) -> Result<()> {
        let s = self.mem(src)?;
        let d = self.mem(&*dst)?;
        // Both buffers are padded alike (same length), so the padded size
        // is in range of each and a multiple of 4 as wgpu requires.
        let copy = Recorded::Copy {
            src: s.buffer.clone(),
            dst: d.buffer.clone(),
            bytes: padded(s.len),
        };
        if self.is_capturing() {
            self.keep(copy);
            return Ok(());
        }
        self.replay_one(&copy)
    }
}
