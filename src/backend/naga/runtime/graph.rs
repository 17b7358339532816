//! Graphs on wgpu: [`crate::Device::capture`] records each launch's
//! prepared dispatch (pipeline, buffers, uniform bytes, grid) instead of
//! recording it into a command buffer; a replay records them all, back to
//! back, into the pending command buffer, which is submitted once. The
//! recorded `wgpu::Buffer` handles keep the memory alive.

use std::sync::PoisonError;

use super::launch::Dispatch;
use super::{WgpuBackend, backend_err};
use crate::runtime::{DeviceGraph, Error, Result};

/// One captured command.
#[derive(Debug)]
pub(super) enum Recorded {
    /// A kernel launch.
    Dispatch(Dispatch<'static>),
    /// A device-to-device copy of `bytes` bytes.
    Copy {
        src: wgpu::Buffer,
        dst: wgpu::Buffer,
        bytes: u64,
    },
}

/// The commands of a captured graph, and the device they belong to.
#[derive(Debug)]
struct WgpuGraph {
    device: wgpu::Device,
    commands: Vec<Recorded>,
}

impl DeviceGraph for WgpuGraph {
    fn len(&self) -> usize {
        self.commands.len()
    }
}

impl WgpuBackend {
    /// Whether a graph is being captured.
    pub(super) fn is_capturing(&self) -> bool {
        self.capture
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Add `command` to the graph being captured.
    pub(super) fn keep(&self, command: Recorded) {
        if let Some(commands) = self
            .capture
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            commands.push(command);
        }
    }

    /// [`Error::WhileCapturing`] for `what` while a graph is being
    /// captured.
    pub(super) fn refuse_while_capturing(&self, what: &str) -> Result<()> {
        if self.is_capturing() {
            return Err(Error::WhileCapturing {
                what: what.to_string(),
            });
        }
        Ok(())
    }

    pub(super) fn begin_graph(&self) -> Result<()> {
        let mut capture = self.capture.lock().unwrap_or_else(PoisonError::into_inner);
        if capture.is_some() {
            return Err(Error::WhileCapturing {
                what: "starting another capture".to_string(),
            });
        }
        *capture = Some(Vec::new());
        Ok(())
    }

    pub(super) fn end_graph(&self) -> Result<Box<dyn DeviceGraph>> {
        let commands = self
            .capture
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| backend_err("no graph is being captured".to_string()))?;
        Ok(Box::new(WgpuGraph {
            device: self.device.clone(),
            commands,
        }))
    }

    pub(super) fn replay_graph(&self, graph: &dyn DeviceGraph) -> Result<()> {
        let graph = (graph as &dyn std::any::Any)
            .downcast_ref::<WgpuGraph>()
            .filter(|g| g.device == self.device)
            .ok_or_else(|| backend_err("replaying a graph of another device".to_string()))?;
        self.refuse_while_capturing("replaying a graph")?;
        for command in &graph.commands {
            self.replay_one(command)?;
        }
        Ok(())
    }

    /// Record one command into the pending command buffer.
    pub(super) fn replay_one(&self, command: &Recorded) -> Result<()> {
        match command {
            Recorded::Dispatch(dispatch) => self.dispatch(dispatch),
            Recorded::Copy { src, dst, bytes } => self.record("a buffer copy", |enc| {
                enc.copy_buffer_to_buffer(src, 0, dst, 0, *bytes);
            }),
        }
    }
}
