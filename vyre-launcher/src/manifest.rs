//! The bundle's `manifest.json`: what `vyre-build` writes and a launcher
//! reads. One definition serves both sides, so the two cannot drift.

use serde::{Deserialize, Serialize};
use vyre::ir::{Access, DataType, GridRule, SizeExpr, SizeOp};

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The version of the manifest format; a launcher refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// A bundle's table of contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// The generator that wrote it (`vyre-build 0.1.0`).
    pub generator: String,
    /// The target whose blobs the bundle holds (`reference`, `ptx`, `spirv`).
    pub target: String,
    /// The launcher crate's name.
    pub crate_name: String,
    /// Architectures of per-architecture blobs (`sm_90`); empty otherwise.
    pub archs: Vec<String>,
    /// Whether the launcher was built with multi-rank collectives.
    pub collectives: bool,
    /// The kernels, in source order.
    pub kernels: Vec<KernelEntry>,
    /// The eval-time training loop's kernels and buffers, when the
    /// launcher has one.
    pub train: Option<TrainEntry>,
}

/// One kernel of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelEntry {
    /// The name the command line uses: `module::kernel` (`::`-joined module
    /// path of its `.vyre` file, then the kernel).
    pub name: String,
    /// The kernel's own name: its entry point in the blobs.
    pub entry: String,
    /// Invocations per workgroup.
    pub workgroup_size: [u32; 3],
    /// Whether its bounds checks were compiled out (`#[kernel(unchecked)]`);
    /// a launcher refuses to run such a kernel on data it did not check.
    pub unchecked: bool,
    /// Parameters in order.
    pub params: Vec<ParamEntry>,
    /// The kernel's `grid = (..)` rule, when it has one.
    pub grid: Option<[SizeTerm; 3]>,
    /// The compiled blobs.
    pub blobs: Vec<BlobEntry>,
    /// The tensor maps of its tile copies (`async_copy_tile`), which a CUDA
    /// launch passes after its parameters; absent when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensor_maps: Vec<TensorMapEntry>,
}

/// A tensor map of a kernel's tile copies: the source buffer parameter,
/// the rows and columns of its matrix, and the rows of a box
/// (`vyre::runtime::TensorMapSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorMapEntry {
    /// The source buffer parameter.
    pub buffer: u32,
    /// The matrix's rows.
    pub rows: TensorDimEntry,
    /// Its columns.
    pub cols: TensorDimEntry,
    /// Rows of a box.
    pub box_rows: u32,
}

/// A dimension of a tile copy's source matrix (`vyre::ir::TileDim`). A
/// bare number is a `u32` parameter's index, the only form the first
/// bundles with tile copies wrote; the others are tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TensorDimEntry {
    /// The value of the `u32` parameter with this index.
    Param(u32),
    /// `{"const": v}` or `"fill"`.
    Tagged(TensorDimTagged),
}

/// The tagged forms of a [`TensorDimEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorDimTagged {
    /// A constant.
    Const(u32),
    /// Every row the buffer holds (`src.len() / cols`).
    Fill,
}

impl From<vyre::ir::TileDim> for TensorDimEntry {
    fn from(d: vyre::ir::TileDim) -> Self {
        use vyre::ir::TileDim;
        match d {
            TileDim::Param(p) => Self::Param(p),
            TileDim::Const(v) => Self::Tagged(TensorDimTagged::Const(v)),
            TileDim::Fill => Self::Tagged(TensorDimTagged::Fill),
        }
    }
}

impl From<TensorDimEntry> for vyre::ir::TileDim {
    fn from(d: TensorDimEntry) -> Self {
        match d {
            TensorDimEntry::Param(p) => Self::Param(p),
            TensorDimEntry::Tagged(TensorDimTagged::Const(v)) => Self::Const(v),
            TensorDimEntry::Tagged(TensorDimTagged::Fill) => Self::Fill,
        }
    }
}

/// A kernel parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamEntry {
    /// Its name.
    pub name: String,
    /// `buffer` or `scalar`.
    pub kind: ParamKind,
    /// Element or scalar type, as spelled in `.vyre` (`f32`, `bf16`).
    #[serde(rename = "type")]
    pub ty: String,
    /// `read` or `read_write` for buffers; absent for scalars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessEntry>,
}

impl ParamEntry {
    /// The parameter's type.
    ///
    /// # Errors
    /// A type name the `vyre` in use does not know.
    pub fn data_type(&self) -> Result<DataType, String> {
        DataType::from_name(&self.ty).ok_or_else(|| {
            format!(
                "parameter `{}` has unknown type `{}` in the manifest",
                self.name, self.ty
            )
        })
    }
}

/// A parameter's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A buffer.
    Buffer,
    /// A scalar.
    Scalar,
}

/// A buffer parameter's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessEntry {
    /// Read only.
    Read,
    /// Read and written.
    ReadWrite,
}

impl From<Access> for AccessEntry {
    fn from(access: Access) -> Self {
        match access {
            Access::Read => Self::Read,
            Access::ReadWrite => Self::ReadWrite,
        }
    }
}

impl From<AccessEntry> for Access {
    fn from(access: AccessEntry) -> Self {
        match access {
            AccessEntry::Read => Self::Read,
            AccessEntry::ReadWrite => Self::ReadWrite,
        }
    }
}

/// One term of a grid rule (`vyre::lang::SizeExpr` as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeTerm {
    /// A constant.
    Const(u64),
    /// An integer scalar parameter's value.
    Scalar(String),
    /// A buffer parameter's length in elements.
    Len(String),
    /// `a op b`, `op` spelled as [`SizeOp::spelling`] (`+`, `div_ceil`).
    Op {
        /// The operation.
        op: String,
        /// Left operand.
        a: Box<SizeTerm>,
        /// Right operand.
        b: Box<SizeTerm>,
    },
}

impl SizeTerm {
    /// The expression this term writes down.
    ///
    /// # Errors
    /// An operation no [`SizeOp`] spells.
    pub fn to_expr(&self) -> Result<SizeExpr, String> {
        Ok(match self {
            Self::Const(v) => SizeExpr::Const(*v),
            Self::Scalar(n) => SizeExpr::Scalar(n.clone()),
            Self::Len(n) => SizeExpr::Len(n.clone()),
            Self::Op { op, a, b } => SizeExpr::Binary(
                SizeOp::from_spelling(op)
                    .ok_or_else(|| format!("unknown grid operation `{op}`"))?,
                Box::new(a.to_expr()?),
                Box::new(b.to_expr()?),
            ),
        })
    }
}

impl From<&SizeExpr> for SizeTerm {
    fn from(e: &SizeExpr) -> Self {
        match e {
            SizeExpr::Const(v) => Self::Const(*v),
            SizeExpr::Scalar(n) => Self::Scalar(n.clone()),
            SizeExpr::Len(n) => Self::Len(n.clone()),
            SizeExpr::Binary(op, a, b) => Self::Op {
                op: op.spelling().to_string(),
                a: Box::new(Self::from(&**a)),
                b: Box::new(Self::from(&**b)),
            },
        }
    }
}

/// A kernel's grid rule as manifest data.
#[must_use]
pub fn grid_terms(rule: &GridRule) -> [SizeTerm; 3] {
    rule.dims.each_ref().map(SizeTerm::from)
}

/// The grid rule that manifest data writes down.
///
/// # Errors
/// An operation no [`SizeOp`] spells.
pub fn grid_rule(terms: &[SizeTerm; 3]) -> Result<GridRule, String> {
    let [x, y, z] = terms;
    Ok(GridRule {
        dims: [x.to_expr()?, y.to_expr()?, z.to_expr()?],
    })
}

/// A compiled blob of a kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobEntry {
    /// Target id (`reference`, `ptx`, `cubin`, `spirv`).
    pub target: String,
    /// Architecture, for per-architecture targets.
    pub arch: Option<String>,
    /// File name, relative to the bundle directory (no directories).
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// The eval-time training loop: which kernels run, in what order, on which
/// buffers. Kernels share buffers by parameter name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainEntry {
    /// Kernels of one training step, in order (forward, backward, ...).
    pub step: Vec<String>,
    /// Kernels run after the step's gradients are all-reduced (the
    /// optimizer update); with one rank they simply follow `step`.
    pub update: Vec<String>,
    /// Kernels run on each chunk after its training steps.
    pub eval: Vec<String>,
    /// The `f32` buffer holding the step's loss: its mean is the loss.
    pub loss: String,
    /// Buffers split into chunks along their first axis (the data); the
    /// rest persist across chunks (parameters, optimizer state).
    pub data: Vec<String>,
    /// Buffers all-reduced across ranks between `step` and `update`.
    pub allreduce: Vec<AllReduceEntry>,
}

/// A buffer all-reduced across ranks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllReduceEntry {
    /// The buffer's name.
    pub buffer: String,
    /// `sum` or `avg`.
    pub op: ReduceOp,
}

/// A reduction across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceOp {
    /// The sum over ranks.
    Sum,
    /// The mean over ranks.
    Avg,
}

impl ReduceOp {
    /// `sum` or `avg`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
        }
    }

    /// The op spelled `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sum, Self::Avg]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

impl Manifest {
    /// The manifest as the pretty JSON text a bundle holds (newline-ended).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The kernel the command line names: its full `module::kernel` name,
    /// or its last segment when only one kernel has it.
    ///
    /// # Errors
    /// No such kernel, or an ambiguous short name (the message lists the
    /// kernels).
    pub fn kernel(&self, name: &str) -> Result<&KernelEntry, String> {
        if let Some(k) = self.kernels.iter().find(|k| k.name == name) {
            return Ok(k);
        }
        let short: Vec<&KernelEntry> = self
            .kernels
            .iter()
            .filter(|k| k.name.rsplit("::").next() == Some(name))
            .collect();
        match short.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "unknown kernel `{name}`; the bundle has {}",
                self.kernel_list()
            )),
            many => Err(format!(
                "`{name}` names several kernels ({}); use the full name",
                many.iter()
                    .map(|k| format!("`{}`", k.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The kernels' names, quoted and comma-separated.
    #[must_use]
    pub fn kernel_list(&self) -> String {
        self.kernels
            .iter()
            .map(|k| format!("`{}`", k.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(name: &str) -> KernelEntry {
        KernelEntry {
            name: name.to_string(),
            entry: name.rsplit("::").next().unwrap_or(name).to_string(),
            workgroup_size: [64, 1, 1],
            unchecked: false,
            params: vec![],
            grid: None,
            blobs: vec![],
            tensor_maps: vec![],
        }
    }

    #[test]
    fn kernels_are_found_by_full_or_unique_short_name() {
        let m = Manifest {
            format: FORMAT_VERSION,
            generator: "g".into(),
            target: "reference".into(),
            crate_name: "c".into(),
            archs: vec![],
            collectives: false,
            kernels: vec![kernel("a::scale"), kernel("b::scale"), kernel("a::add")],
            train: None,
        };
        assert_eq!(m.kernel("add").unwrap().name, "a::add");
        assert_eq!(m.kernel("b::scale").unwrap().name, "b::scale");
        assert!(m.kernel("scale").unwrap_err().contains("several"));
        assert!(m.kernel("nope").unwrap_err().contains("`a::add`"));
        let back: Manifest = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn grid_terms_round_trip_and_refuse_unknown_operations() {
        let rule = GridRule {
            dims: [
                SizeExpr::Binary(
                    SizeOp::DivCeil,
                    Box::new(SizeExpr::Len("x".into())),
                    Box::new(SizeExpr::Const(256)),
                ),
                SizeExpr::Scalar("n".into()),
                SizeExpr::Const(1),
            ],
        };
        let terms = grid_terms(&rule);
        let text = serde_json::to_string(&terms).unwrap();
        assert_eq!(
            text,
            r#"[{"op":{"op":"div_ceil","a":{"len":"x"},"b":{"const":256}}},{"scalar":"n"},{"const":1}]"#
        );
        let back: [SizeTerm; 3] = serde_json::from_str(&text).unwrap();
        assert_eq!(grid_rule(&back).unwrap(), rule);
        let bad = SizeTerm::Op {
            op: "**".into(),
            a: Box::new(SizeTerm::Const(1)),
            b: Box::new(SizeTerm::Const(1)),
        };
        assert!(
            bad.to_expr()
                .unwrap_err()
                .contains("unknown grid operation `**`")
        );
    }

    #[test]
    fn tensor_map_dimensions_are_tagged_and_bare_numbers_still_read() {
        use vyre::ir::TileDim;
        let entry = |rows: TileDim, cols: TileDim| TensorMapEntry {
            buffer: 2,
            rows: rows.into(),
            cols: cols.into(),
            box_rows: 64,
        };
        for (rows, cols, text) in [
            (
                TileDim::Param(0),
                TileDim::Param(1),
                r#"{"buffer":2,"rows":0,"cols":1,"box_rows":64}"#,
            ),
            (
                TileDim::Fill,
                TileDim::Const(128),
                r#"{"buffer":2,"rows":"fill","cols":{"const":128},"box_rows":64}"#,
            ),
        ] {
            let e = entry(rows, cols);
            assert_eq!(serde_json::to_string(&e).unwrap(), text);
            let back: TensorMapEntry = serde_json::from_str(text).unwrap();
            assert_eq!(back, e);
            assert_eq!(
                (TileDim::from(back.rows), TileDim::from(back.cols)),
                (rows, cols)
            );
        }
        assert!(
            serde_json::from_str::<TensorMapEntry>(
                r#"{"buffer":2,"rows":"all","cols":1,"box_rows":64}"#
            )
            .is_err()
        );
    }
}
