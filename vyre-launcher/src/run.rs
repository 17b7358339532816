//! Running a bundle's kernels: named device buffers shared by kernels
//! (by parameter name), scalars, and launches built from the manifest.

use std::collections::BTreeMap;
use std::time::Instant;

use vyre::Device;
use vyre::ir::{Access, DataType, Literal};
use vyre::runtime::{AnyBuffer, Artifact, Grid, KernelSpec, LaunchArg, ParamSpec};

use crate::bundle::Bundle;
use crate::error::{LauncherError, Result};
use crate::host::HostArray;
use crate::manifest::{KernelEntry, ParamKind, grid_rule};

/// Device buffers and scalars by name, and the bundle whose kernels use
/// them: a kernel's parameter `x` is the workspace's `x`.
pub struct Workspace<'b> {
    /// The device.
    pub device: Device,
    bundle: &'b Bundle,
    buffers: BTreeMap<String, (AnyBuffer, Vec<u64>)>,
    scalars: BTreeMap<String, Literal>,
}

/// What one launch did, for the log line.
#[derive(Debug, Clone, Copy)]
pub struct Launched {
    /// Workgroups launched.
    pub workgroups: [u32; 3],
    /// Wall time of the launch and its synchronisation, in milliseconds.
    pub ms: f64,
}

impl<'b> Workspace<'b> {
    /// An empty workspace on `device`.
    #[must_use]
    pub fn new(device: Device, bundle: &'b Bundle) -> Self {
        Self {
            device,
            bundle,
            buffers: BTreeMap::new(),
            scalars: BTreeMap::new(),
        }
    }

    /// Whether a buffer `name` exists.
    #[must_use]
    pub fn has_buffer(&self, name: &str) -> bool {
        self.buffers.contains_key(name)
    }

    /// Upload `array` as buffer `name` (replacing any buffer of that name;
    /// one of the same type and length is overwritten in place).
    ///
    /// # Errors
    /// A device failure.
    pub fn put(&mut self, name: &str, array: &HostArray) -> Result<()> {
        if let Some((buf, shape)) = self.buffers.get_mut(name)
            && buf.elem() == array.elem
            && buf.len() == array.len()
        {
            self.device.write_bytes(buf, &array.bytes)?;
            shape.clone_from(&array.shape);
            return Ok(());
        }
        let buf = self.device.upload_bytes(array.elem, &array.bytes)?;
        self.buffers
            .insert(name.to_string(), (buf, array.shape.clone()));
        Ok(())
    }

    /// A zero-filled buffer `name` of `shape`.
    ///
    /// # Errors
    /// A shape too large, a device failure.
    pub fn zeros(&mut self, name: &str, elem: DataType, shape: Vec<u64>) -> Result<()> {
        let len = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                LauncherError::Usage(format!("buffer `{name}`: {shape:?} is too large"))
            })?;
        let buf = self.device.zeros_any(elem, len)?;
        self.buffers.insert(name.to_string(), (buf, shape));
        Ok(())
    }

    /// Download buffer `name`.
    ///
    /// # Errors
    /// No such buffer, a device failure.
    pub fn get(&self, name: &str) -> Result<HostArray> {
        let (buf, shape) = self
            .buffers
            .get(name)
            .ok_or_else(|| LauncherError::Usage(format!("no buffer `{name}`")))?;
        Ok(HostArray {
            elem: buf.elem(),
            shape: shape.clone(),
            bytes: self.device.download_bytes(buf)?,
        })
    }

    /// Buffer `name`, for in-place work on the device (an all-reduce).
    #[must_use]
    pub fn buffer_mut(&mut self, name: &str) -> Option<&mut AnyBuffer> {
        self.buffers.get_mut(name).map(|(b, _)| b)
    }

    /// Set scalar `name`.
    pub fn set_scalar(&mut self, name: &str, value: Literal) {
        self.scalars.insert(name.to_string(), value);
    }

    /// Launch `kernel` on the workspace's buffers and scalars, with
    /// `grid` or, without one, the kernel's grid rule or one invocation
    /// per element of its longest buffer; waits for it to finish.
    ///
    /// # Errors
    /// A missing or mistyped buffer or scalar, an `unchecked` kernel, a
    /// grid rule without a value, a device failure.
    pub fn launch(&mut self, kernel: &KernelEntry, grid: Option<Grid>) -> Result<Launched> {
        if kernel.unchecked {
            return Err(LauncherError::Usage(format!(
                "`{}` is `#[kernel(unchecked)]`: its accesses are not bounds-checked, and a launcher runs only checked kernels",
                kernel.name
            )));
        }
        let mut params = Vec::with_capacity(kernel.params.len());
        for p in &kernel.params {
            let ty = p.data_type().map_err(LauncherError::Usage)?;
            params.push(match p.kind {
                ParamKind::Buffer => ParamSpec::Buffer {
                    name: &p.name,
                    elem: ty,
                    access: p.access.map_or(Access::Read, Access::from),
                },
                ParamKind::Scalar => ParamSpec::Scalar { name: &p.name, ty },
            });
        }
        let mut artifacts = Vec::with_capacity(kernel.blobs.len());
        for blob in &kernel.blobs {
            let bytes = self.bundle.blob(&blob.file).ok_or_else(|| {
                LauncherError::Usage(format!("blob `{}` is not in the bundle", blob.file))
            })?;
            artifacts.push(Artifact {
                target: &blob.target,
                arch: blob.arch.as_deref(),
                bytes,
            });
        }
        let key = format!(
            "bundle:{}#{}",
            kernel.name,
            kernel.blobs.first().map_or("", |b| &b.sha256)
        );
        let tensor_maps: Vec<vyre::runtime::TensorMapSpec> = kernel
            .tensor_maps
            .iter()
            .map(|m| vyre::runtime::TensorMapSpec {
                buffer: m.buffer,
                rows: m.rows.into(),
                cols: m.cols.into(),
                box_rows: m.box_rows,
            })
            .collect();
        let spec = KernelSpec {
            name: &kernel.entry,
            key: &key,
            params: &params,
            workgroup_size: kernel.workgroup_size,
            unchecked: false,
            artifacts: &artifacts,
            // Bundles are built without `debug_print!`/`debug_assert!`.
            debug: &[],
            tensor_maps: &tensor_maps,
        };
        let grid = match grid {
            Some(g) => g,
            None => self.default_grid(kernel)?,
        };
        // Take the kernel's buffers out of the map so that each can be
        // borrowed mutably or not as its parameter says, then put them back.
        let mut taken: Vec<(String, (AnyBuffer, Vec<u64>))> = Vec::new();
        for p in kernel.params.iter().filter(|p| p.kind == ParamKind::Buffer) {
            let entry = self.buffers.remove(&p.name);
            match entry {
                Some(e) => taken.push((p.name.clone(), e)),
                None => {
                    self.buffers.extend(taken);
                    return Err(LauncherError::Usage(format!(
                        "`{}` needs buffer `{}`",
                        kernel.name, p.name
                    )));
                }
            }
        }
        let result = self.launch_with(kernel, &spec, grid, &mut taken);
        self.buffers.extend(taken);
        result
    }

    fn launch_with(
        &self,
        kernel: &KernelEntry,
        spec: &KernelSpec<'_>,
        grid: Grid,
        taken: &mut [(String, (AnyBuffer, Vec<u64>))],
    ) -> Result<Launched> {
        let mut buffers = taken.iter_mut();
        let mut args = Vec::with_capacity(kernel.params.len());
        for p in &kernel.params {
            match p.kind {
                ParamKind::Buffer => {
                    let (_, (buf, _)) = buffers.next().expect("one taken buffer per parameter");
                    args.push(
                        if p.access == Some(crate::manifest::AccessEntry::ReadWrite) {
                            buf.arg_mut()
                        } else {
                            buf.arg()
                        },
                    );
                }
                ParamKind::Scalar => {
                    let v = self.scalars.get(&p.name).ok_or_else(|| {
                        LauncherError::Usage(format!(
                            "`{}` needs scalar `{}` (--scalar {}=VALUE)",
                            kernel.name, p.name, p.name
                        ))
                    })?;
                    args.push(LaunchArg::Scalar(*v));
                }
            }
        }
        let workgroups = grid.workgroup_count(kernel.workgroup_size);
        let start = Instant::now();
        self.device.launch(spec, grid, &mut args)?;
        self.device.synchronize()?;
        Ok(Launched {
            workgroups,
            ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The kernel's grid rule evaluated on the workspace, or one invocation
    /// per element of its longest buffer.
    fn default_grid(&self, kernel: &KernelEntry) -> Result<Grid> {
        if let Some(terms) = &kernel.grid {
            let scalar = |n: &str| match self.scalars.get(n)? {
                Literal::U32(v) => Some(u64::from(*v)),
                Literal::I32(v) => u64::try_from(*v).ok(),
                _ => None,
            };
            let len = |n: &str| self.buffers.get(n).map(|(b, _)| b.len() as u64);
            let rule_error =
                |e: String| LauncherError::Usage(format!("`{}`'s grid rule: {e}", kernel.name));
            let counts = grid_rule(terms)
                .and_then(|rule| rule.eval(&scalar, &len))
                .map_err(rule_error)?;
            let mut workgroups = [1u32; 3];
            for (w, v) in workgroups.iter_mut().zip(counts) {
                *w = u32::try_from(v).map_err(|_| {
                    LauncherError::Usage(format!(
                        "`{}`'s grid rule gives {v} workgroups, more than a launch can have",
                        kernel.name
                    ))
                })?;
            }
            return Ok(Grid::Workgroups(workgroups));
        }
        let longest = kernel
            .params
            .iter()
            .filter_map(|p| self.buffers.get(&p.name))
            .map(|(b, _)| b.len())
            .max()
            .unwrap_or(0);
        Ok(Grid::threads(longest))
    }
}
