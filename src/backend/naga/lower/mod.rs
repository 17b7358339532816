//! IR → `naga::Module`, directly (no WGSL text in between).
//!
//! vyre's semantics are spelled out in the module with explicit code rather
//! than left to naga's or the driver's conventions, since those differ
//! between targets:
//!
//! - bounds checks: an index is compared with the buffer's length (from the
//!   uniform block) or the shared array's length; a load reads a clamped
//!   in-range index and selects 0 when out of range, stores and atomics sit
//!   inside an `if`. Checks that a dominating guard proves redundant
//!   (`if i < buf.len()`, `if i >= buf.len() { return; }`, `for i in
//!   0..buf.len()`, `local_id()` into an array at least as long as the
//!   workgroup) are elided;
//! - integer `/` and `%`: the divisor is replaced by 1 when it is 0 (or for
//!   `i32::MIN / -1`) and the result selected, so no target ever divides by 0;
//! - shift amounts are masked `& 31`;
//! - float → int casts clamp and select (saturating, NaN → 0), NaN tests use
//!   the bit pattern so that no "NaN never happens" assumption applies;
//! - `f32` `min`/`max` ignore a NaN operand like Rust's; `clamp` is
//!   `max(lo).min(hi)`; `i32::abs` wraps;
//! - subgroup shuffles from a missing lane give the own value, subgroup
//!   `f32` min/max ignore NaN (see `subgroup`);
//! - matrix statements and asynchronous copies are emulated: every
//!   invocation keeps a private copy of each matrix and loops over its
//!   elements (see `matrix`);
//! - narrow element types (`f16 bf16 u8 i8 u16 i16`), left by `mid::widen`
//!   in memory only: buffers of them are packed into `u32` words, stores
//!   into read-write ones are atomic clear-and-set so neighbours in a word
//!   never race, and rounding is exact integer code (see `narrow`);
//! - the 64-bit types (`u64 i64 f64`) are naga's 8-byte scalars, in
//!   memory and in registers: 8-byte array elements and parameter-block
//!   fields, the same division guards (`i64::MIN / -1`), shift masks `& 63`
//!   and saturating casts as the 32-bit types. Modules using them need
//!   naga's `SHADER_INT64` capability (and `FLOAT64` for `f64`; an `f64`
//!   NaN test reads the bits as a `u64`), see [`wide_types`].

mod expr;
mod matrix;
mod memory;
mod narrow;
mod stmt;
mod subgroup;
mod vector;

use naga::{
    AddressSpace, ArraySize, BinaryOperator, Binding, Block, BuiltIn, EntryPoint, Expression,
    Function, FunctionArgument, GlobalVariable, Handle, LocalVariable, Module, ResourceBinding,
    Scalar, ShaderStage, Span, Statement, StorageAccess, StructMember, Type, TypeInner,
};

use super::layout::{BIND_GROUP, Layout, SlotKind};
use crate::DispatchConfig;
use crate::driver::{CompileError, CompileResult};
use crate::ir::{Access, BufRef, Builtin, DataType, Node, Param, ParamId, Program};
use crate::mid::align::{Alignment, Key};
use crate::mid::{Analysis, IndexChecks};

/// The slot kinds of a program's parameters, for [`Layout::new`].
#[must_use]
pub fn slot_kinds(program: &Program) -> Vec<SlotKind> {
    program
        .params
        .iter()
        .map(|p| match p {
            Param::Buffer(_) => SlotKind::Buffer,
            Param::Scalar { ty, .. } => SlotKind::Scalar(*ty),
        })
        .collect()
}

/// Lower a validated program to a naga module with one compute entry point
/// named after the kernel.
///
/// # Errors
///
/// A message naming the kernel and the construct when the program is
/// invalid or uses something naga cannot express.
pub fn lower(program: &Program, config: &DispatchConfig) -> CompileResult<Module> {
    let tiled = crate::mid::tile::lower_for(program, config, false);
    let prepared = crate::mid::prepare(&tiled);
    lower_analysed(&Analysis::new(&prepared, config)?, config, false)
}

/// As [`lower`], and group four loads `buf[k]` .. `buf[k + 3]` of a
/// read-only buffer, `k` a multiple of 4, into one 16-byte load through a
/// second `array<vec4<T>>` variable on the buffer's binding. Vulkan lets
/// two variables share a binding; WGSL, MSL and HLSL do not, so only the
/// `spirv` target uses this (and validates without naga's binding-collision
/// check).
///
/// # Errors
/// As [`lower`].
pub fn lower_with_vector_views(
    program: &Program,
    config: &DispatchConfig,
) -> CompileResult<Module> {
    let tiled = crate::mid::tile::lower_for(program, config, false);
    let prepared = crate::mid::prepare(&tiled);
    lower_analysed(&Analysis::new(&prepared, config)?, config, true)
}

/// Lower a kernel the middle layer analysed (validation included) under
/// the same `config`, with 16-byte vector views when `vectorize` (see
/// [`lower_with_vector_views`]).
///
/// # Errors
/// As [`lower`], less validation.
pub fn lower_analysed(
    analysis: &Analysis<'_>,
    config: &DispatchConfig,
    vectorize: bool,
) -> CompileResult<Module> {
    let program = analysis.program();
    let mut cx = Lowerer::new(program, config, analysis)?;
    cx.vectorize = vectorize;
    let mut body = Block::new();
    cx.hoist_uniform_loads(&mut body)?;
    cx.logical_builtins(&mut body)?;
    cx.block(&program.body, &mut body)?;
    cx.func.body = body;
    let workgroup_size = config.effective_workgroup_size(program);
    if workgroup_size.contains(&0) {
        return Err(CompileError::InvalidKernel {
            kernel: program.name.clone(),
            errors: vec![format!(
                "workgroup size {workgroup_size:?}: every dimension must be at least 1"
            )],
        });
    }
    let Lowerer {
        mut module, func, ..
    } = cx;
    module.entry_points.push(EntryPoint {
        name: program.name.clone(),
        stage: ShaderStage::Compute,
        early_depth_test: None,
        workgroup_size,
        workgroup_size_overrides: None,
        function: func,
        mesh_info: None,
        task_payload: None,
        incoming_ray_payload: None,
    });
    Ok(module)
}

/// A buffer, shared or private array as declared in the module.
#[derive(Clone, Copy)]
struct ArrayInfo {
    /// `GlobalVariable` (buffers, shared arrays) or `LocalVariable`
    /// (private arrays) expression: a pointer to the array.
    global: Handle<Expression>,
    /// Element type.
    elem: DataType,
    /// Length: a uniform field (buffers) or a constant (shared and private
    /// arrays).
    len: ArrayLen,
    /// A buffer of a narrow element type, bound as `array<u32>` words
    /// (`array<atomic<u32>>` when read-write) holding the elements packed
    /// (see `narrow`). Narrow shared and private arrays are not packed:
    /// they hold the widened 32-bit values.
    packed: bool,
}

#[derive(Clone, Copy)]
enum ArrayLen {
    Field(u32),
    Const(u32),
}

struct Types {
    bool_: Handle<Type>,
    u32_: Handle<Type>,
    i32_: Handle<Type>,
    f32_: Handle<Type>,
    uvec3: Handle<Type>,
    /// The 64-bit types, declared only in modules that use them (a
    /// declared `i64` alone makes SPIR-V require `Int64`): `u64` and `i64`
    /// when the kernel uses any 64-bit type (`f64` NaN tests and casts go
    /// through `u64` bits), `f64` when it uses `f64`.
    u64_: Option<Handle<Type>>,
    i64_: Option<Handle<Type>>,
    f64_: Option<Handle<Type>>,
}

struct Lowerer<'a> {
    p: &'a Program,
    module: Module,
    func: Function,
    /// The middle layer's bounds-check decision of every access.
    bounds: &'a IndexChecks<'a>,
    /// The middle layer's analysis: expression types, uniformity.
    analysis: &'a Analysis<'a>,
    workgroup_size: [u32; 3],
    ty: Types,
    /// Per parameter: the buffer's array, for buffer parameters.
    buffers: Vec<Option<ArrayInfo>>,
    /// Per shared array: its workgroup global.
    shared: Vec<ArrayInfo>,
    /// Per private array: its function-local `array<T, N>` variable.
    private: Vec<ArrayInfo>,
    /// Per matrix: its function-local `array<f32, rows * cols>` variable
    /// (see `matrix`).
    matrices: Vec<Handle<Expression>>,
    /// Whether the kernel is bounds-checked at all: matrix and copy
    /// statements access many elements and check them one by one, outside
    /// the middle layer's per-access decisions.
    checks_bounds: bool,
    /// Per parameter: uniform field of a scalar.
    scalar_field: Vec<Option<u32>>,
    /// `GlobalVariable` expression of the uniform block.
    uniform: Option<Handle<Expression>>,
    /// Per local: its `LocalVariable` expression.
    locals: Vec<Handle<Expression>>,
    /// Per builtin (`Builtin as usize`): its `FunctionArgument` expression.
    builtins: [Option<Handle<Expression>>; 4],
    /// The subgroup lane (1D workgroups only) and size arguments, declared
    /// only for kernels that use subgroups (they need the target's
    /// subgroup capability).
    subgroup: Option<(Option<Handle<Expression>>, Handle<Expression>)>,
    /// `u32` (`u64`) variables holding the bits of non-finite `f32`
    /// (`f64`) constants, keyed by (width in bytes, bits).
    nonfinite: Vec<((u32, u64), Handle<Expression>)>,
    /// Variables holding literals, keyed by (type tag, bits); see
    /// [`Lowerer::break_constness`].
    opaque_vars: Vec<((u8, u64), Handle<Expression>)>,
    /// Per uniform field: its value, loaded once at the top.
    uniform_vals: Vec<Option<Handle<Expression>>>,
    /// Whether read-only buffer loads are grouped into 16-byte loads.
    vectorize: bool,
    /// Alignment of each integer local at the point being lowered.
    align: Alignment<'a>,
    /// Per buffer parameter: its binding.
    buffer_binding: Vec<Option<u32>>,
    /// Per buffer parameter: its `array<vec4<T>>` view, once declared.
    vec_views: Vec<Option<Handle<Expression>>>,
    /// Loads of the current straight-line run served by a 16-byte load:
    /// `(param, key, base, vec4 variable)` covers `param[key + base + 0..4]`.
    vec_cache: Vec<(ParamId, Key, u32, Handle<Expression>)>,
}

fn scalar_of(ty: DataType) -> Scalar {
    match ty.register_type() {
        DataType::Bool => Scalar::BOOL,
        DataType::I32 => Scalar::I32,
        DataType::U32 => Scalar::U32,
        DataType::F32 => Scalar::F32,
        DataType::U64 => Scalar::U64,
        DataType::I64 => Scalar::I64,
        DataType::F64 => Scalar::F64,
        narrow => unreachable!("`{narrow}` has no register of its own"),
    }
}

/// The stride of an array of `ty` held unpacked (one register value per
/// element): 8 bytes for the 64-bit types, 4 for every other.
fn stride_of(ty: DataType) -> u32 {
    if ty.is_wide() { 8 } else { 4 }
}

fn builtin_index(b: Builtin) -> usize {
    match b {
        Builtin::GlobalId => 0,
        Builtin::LocalId => 1,
        Builtin::WorkgroupId => 2,
        Builtin::NumWorkgroups => 3,
    }
}

/// Buffers (`Some(param)`) and shared arrays (`None` param, `Some(shared)`)
/// used atomically anywhere: their elements are declared `atomic<T>`.
fn atomic_arrays(program: &Program) -> (Vec<bool>, Vec<bool>) {
    let mut params = vec![false; program.params.len()];
    let mut shared = vec![false; program.shared.len()];
    crate::ir::walk_nodes(&program.body, &mut |n| {
        let Node::Atomic { buf, .. } = n else {
            return;
        };
        let slot = match buf {
            BufRef::Param(id) => params.get_mut(*id as usize),
            BufRef::Shared(id) => shared.get_mut(*id as usize),
            // Validation rejects atomics on private arrays.
            BufRef::Private(_) => None,
        };
        if let Some(slot) = slot {
            *slot = true;
        }
    });
    (params, shared)
}
impl<'a> Lowerer<'a> {
    fn new(
        p: &'a Program,
        config: &DispatchConfig,
        analysis: &'a Analysis<'a>,
    ) -> CompileResult<Self> {
        let mut module = Module::default();
        let mut add_ty = |inner: TypeInner| {
            module
                .types
                .insert(Type { name: None, inner }, Span::UNDEFINED)
        };
        let wide = p.wide_types();
        let (int64, float64) = (!wide.is_empty(), wide.contains(&DataType::F64));
        let ty = Types {
            bool_: add_ty(TypeInner::Scalar(Scalar::BOOL)),
            u32_: add_ty(TypeInner::Scalar(Scalar::U32)),
            i32_: add_ty(TypeInner::Scalar(Scalar::I32)),
            f32_: add_ty(TypeInner::Scalar(Scalar::F32)),
            uvec3: add_ty(TypeInner::Vector {
                size: naga::VectorSize::Tri,
                scalar: Scalar::U32,
            }),
            u64_: int64.then(|| add_ty(TypeInner::Scalar(Scalar::U64))),
            i64_: int64.then(|| add_ty(TypeInner::Scalar(Scalar::I64))),
            f64_: float64.then(|| add_ty(TypeInner::Scalar(Scalar::F64))),
        };
        let mut cx = Self {
            p,
            module,
            func: Function {
                name: Some(p.name.clone()),
                ..Function::default()
            },
            bounds: analysis.checks(),
            analysis,
            workgroup_size: config.effective_workgroup_size(p),
            ty,
            buffers: vec![None; p.params.len()],
            shared: Vec::new(),
            private: Vec::new(),
            matrices: Vec::new(),
            checks_bounds: config.checks_bounds(p),
            scalar_field: vec![None; p.params.len()],
            uniform: None,
            locals: Vec::new(),
            builtins: [None; 4],
            subgroup: None,
            nonfinite: Vec::new(),
            opaque_vars: Vec::new(),
            uniform_vals: Vec::new(),
            vectorize: false,
            align: Alignment::new(p),
            buffer_binding: vec![None; p.params.len()],
            vec_views: vec![None; p.params.len()],
            vec_cache: Vec::new(),
        };
        cx.declare_globals()?;
        cx.declare_locals();
        cx.declare_private()?;
        cx.declare_matrices()?;
        cx.declare_builtins();
        Ok(cx)
    }

    fn scalar_ty(&self, ty: DataType) -> Handle<Type> {
        let wide = match ty.register_type() {
            DataType::Bool => return self.ty.bool_,
            DataType::I32 => return self.ty.i32_,
            DataType::U32 => return self.ty.u32_,
            DataType::F32 => return self.ty.f32_,
            DataType::U64 => self.ty.u64_,
            DataType::I64 => self.ty.i64_,
            DataType::F64 => self.ty.f64_,
            narrow => unreachable!("`{narrow}` has no register of its own"),
        };
        wide.unwrap_or_else(|| unreachable!("`{ty}` is used but `wide_types` missed it"))
    }

    fn add_type(&mut self, inner: TypeInner) -> Handle<Type> {
        self.module
            .types
            .insert(Type { name: None, inner }, Span::UNDEFINED)
    }

    /// A storage-buffer global of type `ty` on `binding`, as an expression.
    fn storage_global(
        &mut self,
        name: String,
        ty: Handle<Type>,
        binding: u32,
        access: StorageAccess,
    ) -> Handle<Expression> {
        let global = self.module.global_variables.append(
            GlobalVariable {
                name: Some(name),
                space: AddressSpace::Storage { access },
                binding: Some(ResourceBinding {
                    group: BIND_GROUP,
                    binding,
                }),
                ty,
                init: None,
                memory_decorations: naga::MemoryDecorations::empty(),
            },
            Span::UNDEFINED,
        );
        self.func
            .expressions
            .append(Expression::GlobalVariable(global), Span::UNDEFINED)
    }

    fn declare_globals(&mut self) -> CompileResult<()> {
        let layout = Layout::new(&slot_kinds(self.p));
        let (atomic_params, atomic_shared) = atomic_arrays(self.p);
        for (i, param) in self.p.params.iter().enumerate() {
            let Param::Buffer(decl) = param else { continue };
            let (Some(binding), Some(len_field)) = (layout.buffer_binding[i], layout.len_field[i])
            else {
                continue;
            };
            // A narrow element type is packed into `u32` words; a
            // read-write one is atomic, so that a store of one element
            // cannot race with stores of the other elements of its word.
            let packed = decl.elem.is_narrow();
            let atomic = atomic_params[i] || (packed && decl.access == Access::ReadWrite);
            let scalar = if packed {
                Scalar::U32
            } else {
                scalar_of(decl.elem)
            };
            let elem_ty = if atomic {
                self.add_type(TypeInner::Atomic(scalar))
            } else if packed {
                self.ty.u32_
            } else {
                self.scalar_ty(decl.elem)
            };
            let array_ty = self.add_type(TypeInner::Array {
                base: elem_ty,
                size: ArraySize::Dynamic,
                // Narrow elements are packed into `u32` words.
                stride: if packed { 4 } else { stride_of(decl.elem) },
            });
            let access = match decl.access {
                Access::Read => StorageAccess::LOAD,
                Access::ReadWrite => StorageAccess::LOAD | StorageAccess::STORE,
            };
            let expr = self.storage_global(decl.name.clone(), array_ty, binding, access);
            self.buffer_binding[i] = Some(binding);
            self.buffers[i] = Some(ArrayInfo {
                global: expr,
                elem: decl.elem,
                len: ArrayLen::Field(len_field),
                packed,
            });
        }
        for (i, decl) in self.p.shared.iter().enumerate() {
            let Some(len) = std::num::NonZeroU32::new(decl.len) else {
                return Err(self.unsupported(&format!(
                    "shared array `{}` has length 0, which naga cannot declare; give it at least one element",
                    decl.name
                )));
            };
            let scalar = scalar_of(decl.elem);
            let elem_ty = if atomic_shared[i] {
                self.add_type(TypeInner::Atomic(scalar))
            } else {
                self.scalar_ty(decl.elem)
            };
            let array_ty = self.add_type(TypeInner::Array {
                base: elem_ty,
                size: ArraySize::Constant(len),
                stride: stride_of(decl.elem),
            });
            let global = self.module.global_variables.append(
                GlobalVariable {
                    name: Some(decl.name.clone()),
                    space: AddressSpace::WorkGroup,
                    binding: None,
                    ty: array_ty,
                    init: None,
                    memory_decorations: naga::MemoryDecorations::empty(),
                },
                Span::UNDEFINED,
            );
            let expr = self
                .func
                .expressions
                .append(Expression::GlobalVariable(global), Span::UNDEFINED);
            self.shared.push(ArrayInfo {
                global: expr,
                elem: decl.elem,
                len: ArrayLen::Const(decl.len),
                packed: false,
            });
        }
        if let Some(binding) = layout.uniform_binding() {
            let mut members = Vec::new();
            for (i, param) in self.p.params.iter().enumerate() {
                if let (Param::Scalar { name, ty }, Some(field)) = (param, layout.scalar_field[i]) {
                    // Uniform blocks cannot hold `bool`: it travels as a u32.
                    let ty = if *ty == DataType::Bool {
                        DataType::U32
                    } else {
                        *ty
                    };
                    members.push((field, name.clone(), self.scalar_ty(ty)));
                    self.scalar_field[i] = Some(field);
                }
            }
            for (i, param) in self.p.params.iter().enumerate() {
                if let (Param::Buffer(decl), Some(field)) = (param, layout.len_field[i]) {
                    members.push((field, format!("{}_len", decl.name), self.ty.u32_));
                }
            }
            for (k, name) in ["grid_x", "grid_y", "grid_z", "grid_fold"]
                .into_iter()
                .enumerate()
            {
                members.push((layout.grid_field + k as u32, name.to_string(), self.ty.u32_));
            }
            members.sort_by_key(|m| m.0);
            let members = members
                .into_iter()
                .map(|(field, name, ty)| StructMember {
                    name: Some(name),
                    ty,
                    binding: None,
                    offset: layout.field_offset(field),
                })
                .collect();
            let struct_ty = self.module.types.insert(
                Type {
                    name: Some(format!("{}Params", self.p.name)),
                    inner: TypeInner::Struct {
                        members,
                        span: layout.uniform_size(),
                    },
                },
                Span::UNDEFINED,
            );
            let global = self.module.global_variables.append(
                GlobalVariable {
                    name: Some("params".to_string()),
                    space: AddressSpace::Uniform,
                    binding: Some(ResourceBinding {
                        group: BIND_GROUP,
                        binding,
                    }),
                    ty: struct_ty,
                    init: None,
                    memory_decorations: naga::MemoryDecorations::empty(),
                },
                Span::UNDEFINED,
            );
            self.uniform = Some(
                self.func
                    .expressions
                    .append(Expression::GlobalVariable(global), Span::UNDEFINED),
            );
        }
        Ok(())
    }

    fn declare_locals(&mut self) {
        for decl in &self.p.locals {
            let ty = self.scalar_ty(decl.ty);
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(decl.name.clone()),
                    ty,
                    init: None,
                },
                Span::UNDEFINED,
            );
            let expr = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.locals.push(expr);
        }
    }

    /// Declare each private array as a function-local `array<T, N>` of the
    /// entry point, explicitly initialised to zero: vyre promises zeros
    /// when the invocation starts, and an uninitialised `OpVariable` (or an
    /// MSL/HLSL local) holds garbage on some targets, so the initialiser is
    /// spelled out rather than left to each writer's defaults. The entry
    /// point runs once per invocation, so the initialiser runs once too.
    fn declare_private(&mut self) -> CompileResult<()> {
        for decl in &self.p.private {
            let Some(len) = std::num::NonZeroU32::new(decl.len) else {
                return Err(self.unsupported(&format!(
                    "private array `{}` has length 0, which naga cannot declare; give it at least one element",
                    decl.name
                )));
            };
            let elem_ty = self.scalar_ty(decl.elem);
            let array_ty = self.add_type(TypeInner::Array {
                base: elem_ty,
                size: ArraySize::Constant(len),
                stride: stride_of(decl.elem),
            });
            let zero = self
                .func
                .expressions
                .append(Expression::ZeroValue(array_ty), Span::UNDEFINED);
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(decl.name.clone()),
                    ty: array_ty,
                    init: Some(zero),
                },
                Span::UNDEFINED,
            );
            let expr = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.private.push(ArrayInfo {
                global: expr,
                elem: decl.elem,
                len: ArrayLen::Const(decl.len),
                packed: false,
            });
        }
        Ok(())
    }

    /// Declare the physical builtins as entry-point arguments. They are
    /// always declared: the logical ids are rebuilt from them (see
    /// [`Lowerer::logical_builtins`]).
    fn declare_builtins(&mut self) {
        // `global_id` is computed from the logical workgroup id instead.
        let all = [
            (Builtin::LocalId, BuiltIn::LocalInvocationId),
            (Builtin::WorkgroupId, BuiltIn::WorkGroupId),
            (Builtin::NumWorkgroups, BuiltIn::NumWorkGroups),
        ];
        for (ours, theirs) in all {
            let slot = builtin_index(ours);
            let index = self.func.arguments.len() as u32;
            self.func.arguments.push(FunctionArgument {
                name: Some(ours.name().to_string()),
                ty: self.ty.uvec3,
                binding: Some(Binding::BuiltIn(theirs)),
            });
            self.builtins[slot] = Some(
                self.func
                    .expressions
                    .append(Expression::FunctionArgument(index), Span::UNDEFINED),
            );
        }
        if self.p.uses_subgroups() {
            let mut arg = |name: &str, builtin| {
                let index = self.func.arguments.len() as u32;
                self.func.arguments.push(FunctionArgument {
                    name: Some(name.to_string()),
                    ty: self.ty.u32_,
                    binding: Some(Binding::BuiltIn(builtin)),
                });
                self.func
                    .expressions
                    .append(Expression::FunctionArgument(index), Span::UNDEFINED)
            };
            let size = arg("subgroup_size", BuiltIn::SubgroupSize);
            // naga (following D3D, whose lane order in 2D and 3D workgroups
            // is unspecified) refuses the lane builtin unless the workgroup
            // is one-dimensional; elsewhere the lane is computed from the
            // flat local index, which is vyre's definition of it.
            let lane = (self.workgroup_size[1..] == [1, 1])
                .then(|| arg("subgroup_invocation_id", BuiltIn::SubgroupInvocationId));
            self.subgroup = Some((lane, size));
        }
    }

    /// Rebuild the logical workgroup id, workgroup count and global id from
    /// the physical ones, once, at the top of the entry point, and make the
    /// invocations of padding workgroups return at once.
    ///
    /// The runtime dispatches `[px, fold * grid_y, grid_z]` where `px` is
    /// the physical x count and `fold = ceil(grid_x / px)` (1 unless `grid_x`
    /// exceeds the per-dimension limit). Physical `(x, y, z)` is logical
    /// `(y % fold * px + x, y / fold, z)`. A workgroup whose logical x is
    /// `>= grid_x` is padding: the test depends only on the workgroup id and
    /// uniforms, so the whole workgroup returns together and barriers stay
    /// in uniform control flow.
    fn logical_builtins(&mut self, blk: &mut Block) -> CompileResult<()> {
        let gf = Layout::new(&slot_kinds(self.p)).grid_field;
        let grid: Vec<Handle<Expression>> = (0..3)
            .map(|k| self.load_uniform_field(gf + k, blk))
            .collect::<Result<_, _>>()?;
        let fold = self.load_uniform_field(gf + 3, blk)?;
        let phys = |cx: &Self, b: Builtin| {
            cx.builtins[builtin_index(b)].ok_or_else(|| cx.internal("builtin not declared"))
        };
        let wg = phys(self, Builtin::WorkgroupId)?;
        let nwg = phys(self, Builtin::NumWorkgroups)?;
        let local = phys(self, Builtin::LocalId)?;
        let comp = |cx: &mut Self, base, index, blk: &mut Block| {
            cx.add(Expression::AccessIndex { base, index }, blk)
        };
        let wx = comp(self, wg, 0, blk);
        let wy = comp(self, wg, 1, blk);
        let wz = comp(self, wg, 2, blk);
        let px = comp(self, nwg, 0, blk);
        let row = self.bin(BinaryOperator::Modulo, wy, fold, blk);
        let ly = self.bin(BinaryOperator::Divide, wy, fold, blk);
        let off = self.bin(BinaryOperator::Multiply, row, px, blk);
        let lx = self.bin(BinaryOperator::Add, off, wx, blk);
        let pad = self.bin(BinaryOperator::GreaterEqual, lx, grid[0], blk);
        let mut ret = Block::new();
        ret.push(Statement::Return { value: None }, Span::UNDEFINED);
        blk.push(
            Statement::If {
                condition: pad,
                accept: ret,
                reject: Block::new(),
            },
            Span::UNDEFINED,
        );
        let ty = self.ty.uvec3;
        let lwg = self.add(
            Expression::Compose {
                ty,
                components: vec![lx, ly, wz],
            },
            blk,
        );
        let lnwg = self.add(
            Expression::Compose {
                ty,
                components: grid,
            },
            blk,
        );
        let size = self.workgroup_size;
        let mut gid = Vec::with_capacity(3);
        for (k, (w, s)) in [lx, ly, wz].into_iter().zip(size).enumerate() {
            let s = self.u32_lit(s);
            let base = self.bin(BinaryOperator::Multiply, w, s, blk);
            let l = comp(self, local, k as u32, blk);
            gid.push(self.bin(BinaryOperator::Add, base, l, blk));
        }
        let lgid = self.add(
            Expression::Compose {
                ty,
                components: gid,
            },
            blk,
        );
        self.builtins[builtin_index(Builtin::WorkgroupId)] = Some(lwg);
        self.builtins[builtin_index(Builtin::NumWorkgroups)] = Some(lnwg);
        self.builtins[builtin_index(Builtin::GlobalId)] = Some(lgid);
        Ok(())
    }

    /// A broken invariant of the lowering (reported for target `naga`
    /// until [`CompileError::for_target`] names the real one).
    fn internal(&self, what: &str) -> CompileError {
        CompileError::Internal {
            kernel: self.p.name.clone(),
            target: "naga".into(),
            what: what.to_string(),
        }
    }

    /// A construct the naga targets cannot express.
    fn unsupported(&self, construct: &str) -> CompileError {
        CompileError::Unsupported {
            kernel: self.p.name.clone(),
            construct: construct.to_string(),
            target: "naga".into(),
        }
    }
}
