//! Streams, events and graphs: [`Device::new_stream`],
//! [`Device::record_event`] / [`Device::wait_event`], and
//! [`Device::capture`] with its [`Graph`].
//!
//! A stream is a [`Device`] handle whose launches go into a queue of their
//! own; buffers belong to the device, so any of its streams can use them.
//! On CUDA each stream is a CUDA stream, and a graph is a CUDA graph. On
//! wgpu every handle shares the device's one in-order queue (so an event
//! orders nothing that is not already ordered), and a graph is the list of
//! recorded dispatches, replayed into one command buffer. The CPU
//! interpreter runs each launch to completion and has no graphs.

use std::time::Duration;

use super::backend::{DeviceGraph, DeviceMark};
use super::{Device, Error, Result};

/// A point in one stream's queue of work ([`Device::record_event`]): work
/// queued on any stream of the same device after
/// [`Device::wait_event`] runs after everything queued before the event.
#[derive(Debug)]
pub struct Event {
    /// `None` where the device has no marks of its own (one in-order
    /// queue: nothing needs waiting for).
    mark: Option<Box<dyn DeviceMark>>,
    device: u64,
}

impl Event {
    /// The device time from `earlier` to this event, waiting for the work
    /// before this one to finish; `None` where the device has no timer.
    ///
    /// # Errors
    /// Events of different devices, or the device fails.
    pub fn elapsed_since(&self, earlier: &Event) -> Result<Option<Duration>> {
        if self.device != earlier.device {
            return Err(Error::WrongDevice {
                kernel: "Event::elapsed_since".to_string(),
                param: "earlier".to_string(),
            });
        }
        match (&self.mark, &earlier.mark) {
            (Some(late), Some(early)) => late.since(&**early).map(Some),
            _ => Ok(None),
        }
    }
}

/// Launches recorded by [`Device::capture`], replayed with one call.
///
/// The graph keeps the memory of every buffer it uses alive, so dropping a
/// buffer while a graph still uses it is safe (the memory is freed with
/// the graph). Scalars are fixed at capture; the buffers' contents are
/// read and written anew by every replay.
#[derive(Debug)]
pub struct Graph {
    graph: Box<dyn DeviceGraph>,
    device: Device,
}

impl Graph {
    /// Queue the recorded work once more on the stream that captured it;
    /// returns before it finishes, like a launch.
    ///
    /// # Errors
    /// The device fails.
    pub fn replay(&self) -> Result<()> {
        self.device.backend.replay(&*self.graph)
    }

    /// Queue the recorded work on `stream`, another stream of the same
    /// device.
    ///
    /// # Errors
    /// A stream of another device, or the device fails.
    pub fn replay_on(&self, stream: &Device) -> Result<()> {
        if stream.id != self.device.id {
            return Err(Error::WrongDevice {
                kernel: "Graph::replay_on".to_string(),
                param: "stream".to_string(),
            });
        }
        stream.backend.replay(&*self.graph)
    }

    /// How many launches (and device copies) one replay runs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// Whether a replay runs nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }
}

impl Device {
    /// A handle to this device whose launches go into a new queue that
    /// runs independently of this handle's (a CUDA stream). Buffers of the
    /// device work on every stream. Work on two streams is ordered only by
    /// events ([`Device::record_event`], [`Device::wait_event`]); uploads,
    /// downloads, writes and [`Device::synchronize`] wait for the work of
    /// every stream. Where the device has one queue (wgpu, the CPU), the
    /// handle shares it.
    ///
    /// ```
    /// let device = vyre::Device::cpu();
    /// let side = device.new_stream()?;
    /// let x = side.upload(&[1u32, 2, 3])?;
    /// let done = side.record_event()?;
    /// device.wait_event(&done)?;
    /// assert_eq!(device.download(&x)?, [1, 2, 3]);
    /// # Ok::<(), vyre::Error>(())
    /// ```
    ///
    /// # Errors
    /// The driver cannot create a stream.
    pub fn new_stream(&self) -> Result<Device> {
        let backend = match self.backend.new_stream()? {
            Some(backend) => backend,
            None => std::sync::Arc::clone(&self.backend),
        };
        Ok(Device {
            backend,
            id: self.id,
            tune_arch: std::sync::Arc::clone(&self.tune_arch),
            debug: std::sync::Arc::clone(&self.debug),
        })
    }

    /// An event after everything queued on this stream so far.
    ///
    /// # Errors
    /// The driver fails, or a graph is being captured.
    pub fn record_event(&self) -> Result<Event> {
        Ok(Event {
            mark: self.backend.mark()?,
            device: self.id,
        })
    }

    /// Make the work queued on this stream from now on wait for `event`
    /// (recorded on any stream of this device), without blocking the host.
    ///
    /// # Errors
    /// An event of another device, or the driver fails.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        if event.device != self.id {
            return Err(Error::WrongDevice {
                kernel: "Device::wait_event".to_string(),
                param: "event".to_string(),
            });
        }
        match &event.mark {
            Some(mark) => self.backend.wait_for(&**mark),
            None => Ok(()),
        }
    }

    /// Record the launches `work` makes on this stream into a [`Graph`]
    /// instead of running them; [`Graph::replay`] then runs them all with
    /// one call. Inside `work`, only launches and [`Device::copy`] can be
    /// queued: uploads, downloads, writes, synchronisation and events are
    /// [`Error::WhileCapturing`]. Allocate the buffers first.
    ///
    /// ```
    /// // The CPU interpreter has no graphs: a clear error, not a panic.
    /// let device = vyre::Device::cpu();
    /// let err = device.capture(|_| Ok(())).unwrap_err();
    /// assert!(matches!(err, vyre::Error::Unsupported { .. }), "{err}");
    /// ```
    ///
    /// # Errors
    /// What `work` returns (the capture is then dropped), a device without
    /// graphs ([`Error::Unsupported`]), or the driver fails.
    pub fn capture(&self, work: impl FnOnce(&Device) -> Result<()>) -> Result<Graph> {
        self.backend.begin_capture()?;
        let worked = work(self);
        let ended = self.backend.end_capture();
        worked?;
        Ok(Graph {
            graph: ended?,
            device: self.clone(),
        })
    }
}
