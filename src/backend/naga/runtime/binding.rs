//! What a launch binds, made cheap (issue 14, item 7): the scalar
//! parameters go into one ring of uniform slots bound at a dynamic offset
//! (no buffer created per launch), and bind groups are cached by pipeline
//! and buffers (none created when a kernel runs again on the same
//! buffers), so that the hot path of a launch records a compute pass and
//! writes a few bytes.

use std::sync::{Arc, Mutex, PoisonError};

/// Bind groups kept, most recent first; an older one is rebuilt on demand.
const CACHED_BIND_GROUPS: usize = 64;

/// Uniform slots in the ring (each `min_uniform_buffer_offset_alignment`
/// bytes, 256 on most devices): the ring is 256 KiB there.
const RING_SLOTS: u64 = 1024;

/// Which bind group: the pipeline (by its serial number) and the buffer
/// bound at each binding, in binding order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BindKey {
    pub pipeline: u64,
    pub buffers: Vec<(u32, wgpu::Buffer)>,
}

/// The most recently used bind groups.
#[derive(Debug, Default)]
pub(super) struct BindGroups {
    entries: Mutex<Vec<(BindKey, wgpu::BindGroup)>>,
}

impl BindGroups {
    /// The bind group of `key`, made by `make` when it is not cached.
    pub(super) fn get_or_make<E>(
        &self,
        key: BindKey,
        make: impl FnOnce(&BindKey) -> Result<wgpu::BindGroup, E>,
    ) -> Result<wgpu::BindGroup, E> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = entries.iter().position(|(k, _)| *k == key) {
            let hit = entries.remove(at);
            let group = hit.1.clone();
            entries.insert(0, hit);
            return Ok(group);
        }
        let group = make(&key)?;
        entries.insert(0, (key, group.clone()));
        entries.truncate(CACHED_BIND_GROUPS);
        Ok(group)
    }

    /// Drop every bind group that binds `buffer` (it is being freed: a
    /// cached group must not keep its memory alive).
    pub(super) fn forget(&self, buffer: &wgpu::Buffer) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(k, _)| !k.buffers.iter().any(|(_, b)| b == buffer));
    }
}

/// The ring of uniform slots the scalar parameters of launches go into.
/// A launch stages its bytes on the host; the slots of a command buffer
/// are written with one `write_buffer` just before it is submitted
/// ([`UniformRing::take_staged`]): wgpu stages every `write_buffer` in a
/// buffer of its own, which costs more than the launch.
#[derive(Debug)]
pub(super) struct UniformRing {
    /// The buffer, bound at a dynamic offset.
    pub buffer: wgpu::Buffer,
    /// Bytes per slot: the device's uniform offset alignment, or more when
    /// a kernel's uniform block is larger.
    slot: u64,
    /// The next free slot.
    next: u64,
    /// Slots staged since the last submission, from byte `staged_from`.
    staged: Vec<u8>,
    staged_from: u64,
}

impl UniformRing {
    /// A ring of [`RING_SLOTS`] slots of `alignment` bytes.
    pub(super) fn new(device: &wgpu::Device, alignment: u32) -> Self {
        let slot = u64::from(alignment.max(256));
        Self {
            buffer: Self::make(device, slot),
            slot,
            next: 0,
            staged: Vec::new(),
            staged_from: 0,
        }
    }

    fn make(device: &wgpu::Device, slot: u64) -> wgpu::Buffer {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vyre params ring"),
            size: slot * RING_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Stage `bytes` in the next slot: its offset, and the ring buffer it
    /// is in; `None` when the staged slots must be submitted first (the
    /// ring wraps around, or needs larger slots for `bytes`), after which a
    /// new call succeeds.
    pub(super) fn stage(
        &mut self,
        device: &wgpu::Device,
        bytes: &[u8],
    ) -> Option<(u32, wgpu::Buffer)> {
        let len = bytes.len() as u64;
        if len > self.slot || self.next == RING_SLOTS {
            if !self.staged.is_empty() {
                return None;
            }
            if len > self.slot {
                self.slot = len.next_multiple_of(self.slot);
                self.buffer = Self::make(device, self.slot);
            }
            self.next = 0;
        }
        let offset = self.next * self.slot;
        self.next += 1;
        if self.staged.is_empty() {
            self.staged_from = offset;
        }
        let at = (offset - self.staged_from) as usize;
        self.staged.resize(at + self.slot as usize, 0);
        self.staged[at..at + bytes.len()].copy_from_slice(bytes);
        Some((u32::try_from(offset).ok()?, self.buffer.clone()))
    }

    /// Write the staged slots (before the command buffer that reads them
    /// is submitted).
    pub(super) fn write_staged(&mut self, queue: &wgpu::Queue) {
        if !self.staged.is_empty() {
            queue.write_buffer(&self.buffer, self.staged_from, &self.staged);
            self.staged.clear();
        }
    }
}

/// A shared handle to a backend's bind groups, for memory to forget itself
/// when dropped.
pub(super) type SharedBindGroups = Arc<BindGroups>;
