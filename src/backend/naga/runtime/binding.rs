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
#[derive(Debug)]
pub(super) struct UniformRing {
    /// The buffer, bound at a dynamic offset.
    pub buffer: wgpu::Buffer,
    /// Bytes per slot: the device's uniform offset alignment, at least the
    /// largest uniform block asked for so far (slots are re-sized by
    /// [`UniformRing::slot_for`] when a kernel needs more).
    slot: u64,
    /// The next free slot.
    next: u64,
}

/// Where a launch's uniforms went, and whether the pending command buffer
/// must be submitted before they are written (the ring wrapped around: its
/// earliest slots may still be waiting for their launches).
pub(super) struct Slot {
    pub offset: u32,
    pub flush_first: bool,
}

impl UniformRing {
    /// A ring of [`RING_SLOTS`] slots of `alignment` bytes.
    pub(super) fn new(device: &wgpu::Device, alignment: u32) -> Self {
        let slot = u64::from(alignment.max(256));
        Self {
            buffer: Self::make(device, slot),
            slot,
            next: 0,
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

    /// A slot for `bytes` bytes of uniforms. A block larger than a slot
    /// (hundreds of parameters) gets a new ring of larger slots, after the
    /// pending work is submitted.
    pub(super) fn slot_for(&mut self, device: &wgpu::Device, bytes: u64) -> Slot {
        let mut flush_first = false;
        if bytes > self.slot {
            self.slot = bytes.next_multiple_of(self.slot);
            self.buffer = Self::make(device, self.slot);
            self.next = 0;
            flush_first = true;
        }
        if self.next == RING_SLOTS {
            self.next = 0;
            flush_first = true;
        }
        let offset = self.next * self.slot;
        self.next += 1;
        Slot {
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            flush_first,
        }
    }
}

/// A shared handle to a backend's bind groups, for memory to forget itself
/// when dropped.
pub(super) type SharedBindGroups = Arc<BindGroups>;
