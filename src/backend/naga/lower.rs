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
//!   `max(lo).min(hi)`; `i32::abs` wraps.

use naga::{
    AddressSpace, ArraySize, AtomicFunction, Barrier, BinaryOperator, Binding, Block, BuiltIn,
    EntryPoint, Expression, Function, FunctionArgument, GlobalVariable, Handle, LocalVariable,
    MathFunction, Module, PredeclaredType, Range, ResourceBinding, Scalar, ScalarKind, ShaderStage,
    Span, Statement, StorageAccess, StructMember, Type, TypeInner, UnaryOperator,
};

use super::layout::{BIND_GROUP, Layout, SlotKind};
use crate::DispatchConfig;
use crate::driver::{CompileError, CompileResult};
use crate::ir::{
    Access, AtomicOp, BinOp, BufRef, Builtin, DataType, Expr, Literal, LocalId, MathFn, Node,
    Param, ParamId, Program, UnOp,
};
use crate::mid::IndexChecks;
use crate::mid::align::{Alignment, Key, first_def, keyed, keyed_loads, load_groups, run_len};

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
    lower_with(program, config, None, false)
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
    lower_with(program, config, None, true)
}

/// Lower with the middle layer's bounds decisions computed by the caller
/// (analysed under the same `config`; `None` analyses here), with 16-byte
/// vector views when `vectorize` (see [`lower_with_vector_views`]).
///
/// # Errors
/// As [`lower`].
pub fn lower_checked(
    program: &Program,
    config: &DispatchConfig,
    checks: Option<&IndexChecks<'_>>,
    vectorize: bool,
) -> CompileResult<Module> {
    lower_with(program, config, checks, vectorize)
}

fn lower_with(
    program: &Program,
    config: &DispatchConfig,
    checks: Option<&IndexChecks<'_>>,
    vectorize: bool,
) -> CompileResult<Module> {
    CompileError::check_valid(program)?;
    let own;
    let checks = match checks {
        Some(c) => c,
        None => {
            own = IndexChecks::analyse(program, config);
            &own
        }
    };
    let mut cx = Lowerer::new(program, config, checks)?;
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

/// A buffer or shared array as declared in the module.
#[derive(Clone, Copy)]
struct ArrayInfo {
    /// `GlobalVariable` expression (a pointer to the array).
    global: Handle<Expression>,
    /// Element type.
    elem: DataType,
    /// Length: a uniform field (buffers) or a constant (shared arrays).
    len: ArrayLen,
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
}

struct Lowerer<'a> {
    p: &'a Program,
    module: Module,
    func: Function,
    /// The middle layer's bounds-check decision of every access.
    bounds: &'a IndexChecks<'a>,
    workgroup_size: [u32; 3],
    ty: Types,
    /// Per parameter: the buffer's array, for buffer parameters.
    buffers: Vec<Option<ArrayInfo>>,
    shared: Vec<ArrayInfo>,
    /// Per parameter: uniform field of a scalar.
    scalar_field: Vec<Option<u32>>,
    /// `GlobalVariable` expression of the uniform block.
    uniform: Option<Handle<Expression>>,
    /// Per local: its `LocalVariable` expression.
    locals: Vec<Handle<Expression>>,
    /// Per builtin (`Builtin as usize`): its `FunctionArgument` expression.
    builtins: [Option<Handle<Expression>>; 4],
    /// `u32` variables holding the bits of non-finite `f32` constants.
    nonfinite: Vec<(u32, Handle<Expression>)>,
    /// Variables holding literals, keyed by (type tag, bits); see
    /// [`Lowerer::break_constness`].
    opaque_vars: Vec<((u8, u32), Handle<Expression>)>,
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
    match ty {
        DataType::Bool => Scalar::BOOL,
        DataType::I32 => Scalar::I32,
        DataType::U32 => Scalar::U32,
        DataType::F32 => Scalar::F32,
    }
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
    let mut mark = |e: &Expr| {
        if let Expr::Atomic { buf, .. } = e {
            match buf {
                BufRef::Param(id) => {
                    if let Some(slot) = params.get_mut(*id as usize) {
                        *slot = true;
                    }
                }
                BufRef::Shared(id) => {
                    if let Some(slot) = shared.get_mut(*id as usize) {
                        *slot = true;
                    }
                }
            }
        }
    };
    crate::ir::walk_nodes(&program.body, &mut |n| match n {
        Node::Let { value, .. } | Node::Assign { value, .. } | Node::Eval(value) => mark(value),
        _ => {}
    });
    (params, shared)
}

impl<'a> Lowerer<'a> {
    fn new(
        p: &'a Program,
        config: &DispatchConfig,
        bounds: &'a IndexChecks<'a>,
    ) -> CompileResult<Self> {
        let mut module = Module::default();
        let mut add_ty = |inner: TypeInner| {
            module
                .types
                .insert(Type { name: None, inner }, Span::UNDEFINED)
        };
        let ty = Types {
            bool_: add_ty(TypeInner::Scalar(Scalar::BOOL)),
            u32_: add_ty(TypeInner::Scalar(Scalar::U32)),
            i32_: add_ty(TypeInner::Scalar(Scalar::I32)),
            f32_: add_ty(TypeInner::Scalar(Scalar::F32)),
            uvec3: add_ty(TypeInner::Vector {
                size: naga::VectorSize::Tri,
                scalar: Scalar::U32,
            }),
        };
        let mut cx = Self {
            p,
            module,
            func: Function {
                name: Some(p.name.clone()),
                ..Function::default()
            },
            bounds,
            workgroup_size: config.effective_workgroup_size(p),
            ty,
            buffers: vec![None; p.params.len()],
            shared: Vec::new(),
            scalar_field: vec![None; p.params.len()],
            uniform: None,
            locals: Vec::new(),
            builtins: [None; 4],
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
        cx.declare_builtins();
        Ok(cx)
    }

    fn scalar_ty(&self, ty: DataType) -> Handle<Type> {
        match ty {
            DataType::Bool => self.ty.bool_,
            DataType::I32 => self.ty.i32_,
            DataType::U32 => self.ty.u32_,
            DataType::F32 => self.ty.f32_,
        }
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
            let scalar = scalar_of(decl.elem);
            let elem_ty = if atomic_params[i] {
                self.add_type(TypeInner::Atomic(scalar))
            } else {
                self.scalar_ty(decl.elem)
            };
            let array_ty = self.add_type(TypeInner::Array {
                base: elem_ty,
                size: ArraySize::Dynamic,
                stride: 4,
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
                stride: 4,
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
                    offset: field * 4,
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

    // ---- expressions -------------------------------------------------

    /// Append an expression, emitting it into `blk` when naga requires.
    fn add(&mut self, mut e: Expression, blk: &mut Block) -> Handle<Expression> {
        let pre = e.needs_pre_emit();
        if !pre {
            self.break_constness(&mut e, blk);
        }
        let h = self.func.expressions.append(e, Span::UNDEFINED);
        if !pre {
            blk.push(
                Statement::Emit(Range::new_from_bounds(h, h)),
                Span::UNDEFINED,
            );
        }
        h
    }

    /// An operation on literals only is a constant expression to the WGSL
    /// front end, which folds it and rejects what vyre defines at run time
    /// (`sqrt(-1.0)`, `i32::MAX + 1`, a constant index past a shared
    /// array, ...). Such an operation reads its first operand from a
    /// variable instead, which drivers fold back.
    fn break_constness(&mut self, e: &mut Expression, blk: &mut Block) {
        let ops: Vec<&mut Handle<Expression>> = match e {
            Expression::Binary { left, right, .. } => vec![left, right],
            Expression::Unary { expr, .. } | Expression::As { expr, .. } => vec![expr],
            Expression::Select {
                condition,
                accept,
                reject,
            } => vec![condition, accept, reject],
            Expression::Math {
                arg,
                arg1,
                arg2,
                arg3,
                ..
            } => std::iter::once(arg)
                .chain(arg1.as_mut())
                .chain(arg2.as_mut())
                .chain(arg3.as_mut())
                .collect(),
            _ => return,
        };
        let exprs = &self.func.expressions;
        if !ops
            .iter()
            .all(|h| matches!(exprs[**h], Expression::Literal(_)))
        {
            return;
        }
        let mut ops = ops;
        let first = &mut *ops[0];
        *first = self.opaque(*first, blk);
    }

    /// The value of literal `lit`, loaded from a variable initialized to it.
    fn opaque(&mut self, lit: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        let (key, ty) = match self.func.expressions[lit] {
            Expression::Literal(naga::Literal::U32(v)) => ((0u8, v), self.ty.u32_),
            Expression::Literal(naga::Literal::I32(v)) => ((1, v.cast_unsigned()), self.ty.i32_),
            Expression::Literal(naga::Literal::F32(v)) => ((2, v.to_bits()), self.ty.f32_),
            Expression::Literal(naga::Literal::Bool(v)) => ((3, u32::from(v)), self.ty.bool_),
            _ => return lit,
        };
        let pointer = if let Some((_, h)) = self.opaque_vars.iter().find(|(k, _)| *k == key) {
            *h
        } else {
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(format!("k{}_{:x}", key.0, key.1)),
                    ty,
                    init: Some(lit),
                },
                Span::UNDEFINED,
            );
            let h = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.opaque_vars.push((key, h));
            h
        };
        self.add(Expression::Load { pointer }, blk)
    }

    fn lit(&mut self, l: naga::Literal) -> Handle<Expression> {
        self.func
            .expressions
            .append(Expression::Literal(l), Span::UNDEFINED)
    }

    fn u32_lit(&mut self, v: u32) -> Handle<Expression> {
        self.lit(naga::Literal::U32(v))
    }

    fn zero(&mut self, ty: DataType) -> Handle<Expression> {
        self.lit(match ty {
            DataType::Bool => naga::Literal::Bool(false),
            DataType::I32 => naga::Literal::I32(0),
            DataType::U32 => naga::Literal::U32(0),
            DataType::F32 => naga::Literal::F32(0.0),
        })
    }

    fn bin(
        &mut self,
        op: BinaryOperator,
        left: Handle<Expression>,
        right: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(Expression::Binary { op, left, right }, blk)
    }

    fn select(
        &mut self,
        condition: Handle<Expression>,
        accept: Handle<Expression>,
        reject: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Select {
                condition,
                accept,
                reject,
            },
            blk,
        )
    }

    fn math1(
        &mut self,
        fun: MathFunction,
        arg: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::Math {
                fun,
                arg,
                arg1: None,
                arg2: None,
                arg3: None,
            },
            blk,
        )
    }

    fn bitcast(
        &mut self,
        e: Handle<Expression>,
        kind: ScalarKind,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::As {
                expr: e,
                kind,
                convert: None,
            },
            blk,
        )
    }

    fn convert(
        &mut self,
        e: Handle<Expression>,
        kind: ScalarKind,
        blk: &mut Block,
    ) -> Handle<Expression> {
        self.add(
            Expression::As {
                expr: e,
                kind,
                convert: Some(4),
            },
            blk,
        )
    }

    /// `x` is NaN, tested on the bit pattern.
    fn is_nan(&mut self, x: Handle<Expression>, blk: &mut Block) -> Handle<Expression> {
        let bits = self.bitcast(x, ScalarKind::Uint, blk);
        let mask = self.u32_lit(0x7fff_ffff);
        let abs = self.bin(BinaryOperator::And, bits, mask, blk);
        let inf = self.u32_lit(0x7f80_0000);
        self.bin(BinaryOperator::Greater, abs, inf, blk)
    }

    fn f32_lit(&mut self, v: f32) -> Handle<Expression> {
        self.lit(naga::Literal::F32(v))
    }

    /// An `f32` constant. naga and WGSL reject non-finite literals (and WGSL
    /// constant-folds `bitcast`), so those are read from a `u32` variable.
    fn f32_const(&mut self, v: f32, blk: &mut Block) -> Handle<Expression> {
        if v.is_finite() {
            return self.f32_lit(v);
        }
        let bits = v.to_bits();
        let pointer = if let Some((_, h)) = self.nonfinite.iter().find(|(b, _)| *b == bits) {
            *h
        } else {
            let init = self.u32_lit(bits);
            let var = self.func.local_variables.append(
                LocalVariable {
                    name: Some(format!("f32_bits_{bits:08x}")),
                    ty: self.ty.u32_,
                    init: Some(init),
                },
                Span::UNDEFINED,
            );
            let h = self
                .func
                .expressions
                .append(Expression::LocalVariable(var), Span::UNDEFINED);
            self.nonfinite.push((bits, h));
            h
        };
        let loaded = self.add(Expression::Load { pointer }, blk);
        self.bitcast(loaded, ScalarKind::Float, blk)
    }

    fn load_uniform_field(
        &mut self,
        field: u32,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        if let Some(h) = self.uniform_vals.get(field as usize).copied().flatten() {
            return Ok(h);
        }
        let Some(base) = self.uniform else {
            return Err(self.internal("no uniform block for a parameter"));
        };
        let ptr = self.add(Expression::AccessIndex { base, index: field }, blk);
        Ok(self.add(Expression::Load { pointer: ptr }, blk))
    }

    /// Load every scalar parameter and buffer length once, at the top of
    /// the entry point (it dominates every use), instead of at each use:
    /// bounds checks in inner loops then cost a compare and a select only.
    fn hoist_uniform_loads(&mut self, body: &mut Block) -> CompileResult<()> {
        let fields = Layout::new(&slot_kinds(self.p)).uniform_fields;
        let mut vals = Vec::with_capacity(fields as usize);
        for field in 0..fields {
            vals.push(Some(self.load_uniform_field(field, body)?));
        }
        self.uniform_vals = vals;
        Ok(())
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

    fn array(&self, buf: BufRef) -> CompileResult<ArrayInfo> {
        let info = match buf {
            BufRef::Param(id) => self.buffers.get(id as usize).copied().flatten(),
            BufRef::Shared(id) => self.shared.get(id as usize).copied(),
        };
        info.ok_or_else(|| self.internal(&format!("{buf:?} is not an array")))
    }

    fn array_len(&mut self, info: ArrayInfo, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        match info.len {
            ArrayLen::Field(f) => self.load_uniform_field(f, blk),
            ArrayLen::Const(n) => Ok(self.u32_lit(n)),
        }
    }

    /// For a checked store or atomic: the `index < len` condition and the
    /// index to use under it. Shared arrays have a fixed size, and naga (or
    /// the WGSL front end, after constant folding) rejects a constant index
    /// past it even in code that never runs, so they get the clamped index.
    fn guarded_index(
        &mut self,
        buf: BufRef,
        info: ArrayInfo,
        idx: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<(Handle<Expression>, Handle<Expression>)> {
        let len = self.array_len(info, blk)?;
        let in_range = self.bin(BinaryOperator::Less, idx, len, blk);
        // A literal index into a buffer is likewise rejected by naga's WGSL
        // front end when it is huge; other buffer indices stay as they are.
        let literal = matches!(self.func.expressions[idx], Expression::Literal(_));
        let index = if matches!(buf, BufRef::Shared(_)) || literal {
            let zero = self.u32_lit(0);
            self.select(in_range, idx, zero, blk)
        } else {
            idx
        };
        Ok((in_range, index))
    }

    /// The `u32` index of an access (an `i32` index is reinterpreted).
    fn index(&mut self, index: &Expr, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        let h = self.expr(index, blk)?;
        if self.p.type_of(index) == Some(DataType::I32) {
            Ok(self.bitcast(h, ScalarKind::Uint, blk))
        } else {
            Ok(h)
        }
    }

    fn expr(&mut self, e: &Expr, blk: &mut Block) -> CompileResult<Handle<Expression>> {
        Ok(match e {
            Expr::Lit(l) => self.lit(match *l {
                Literal::Bool(b) => naga::Literal::Bool(b),
                Literal::I32(v) => naga::Literal::I32(v),
                Literal::U32(v) => naga::Literal::U32(v),
                Literal::F32(bits) => return Ok(self.f32_const(f32::from_bits(bits), blk)),
            }),
            Expr::Local(id) => {
                let pointer = *self
                    .locals
                    .get(*id as usize)
                    .ok_or_else(|| self.internal(&format!("unknown local {id}")))?;
                self.add(Expression::Load { pointer }, blk)
            }
            Expr::Param(id) => {
                let field = self
                    .scalar_field
                    .get(*id as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| self.internal(&format!("parameter {id} is not a scalar")))?;
                let v = self.load_uniform_field(field, blk)?;
                if matches!(
                    self.p.params.get(*id as usize),
                    Some(Param::Scalar {
                        ty: DataType::Bool,
                        ..
                    })
                ) {
                    let zero = self.u32_lit(0);
                    self.bin(BinaryOperator::NotEqual, v, zero, blk)
                } else {
                    v
                }
            }
            Expr::Builtin(b, axis) => {
                let base = self.builtins[builtin_index(*b)]
                    .ok_or_else(|| self.internal("builtin not declared"))?;
                self.add(
                    Expression::AccessIndex {
                        base,
                        index: axis.index() as u32,
                    },
                    blk,
                )
            }
            Expr::Len(id) => {
                let info = self.array(BufRef::Param(*id))?;
                self.array_len(info, blk)?
            }
            Expr::Load { buf, index } => self.load(*buf, index, blk)?,
            Expr::Unary(op, a) => {
                let ty = self.p.type_of(a);
                let v = self.expr(a, blk)?;
                let op = match (op, ty) {
                    (UnOp::Neg, _) => UnaryOperator::Negate,
                    (UnOp::Not, Some(DataType::Bool)) => UnaryOperator::LogicalNot,
                    (UnOp::Not, _) => UnaryOperator::BitwiseNot,
                };
                self.add(Expression::Unary { op, expr: v }, blk)
            }
            Expr::Binary(op, a, b) => self.binary(*op, a, b, blk)?,
            Expr::Cast(to, a) => {
                let from = self
                    .p
                    .type_of(a)
                    .ok_or_else(|| self.internal("untyped cast operand"))?;
                let v = self.expr(a, blk)?;
                self.cast(v, from, *to, blk)?
            }
            Expr::Math(f, args) => self.math(*f, args, blk)?,
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, blk)?;
                let t = self.expr(then, blk)?;
                let o = self.expr(otherwise, blk)?;
                self.select(c, t, o, blk)
            }
            Expr::Atomic { .. } => {
                return Err(self.unsupported(
                    "an atomic may only be the whole right-hand side of `let`, an assignment or an expression statement",
                ));
            }
        })
    }

    fn load(
        &mut self,
        buf: BufRef,
        index: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        if let BufRef::Param(p) = buf
            && let Some((key, d)) = keyed(index)
            && let Some(&(.., base, var)) = self
                .vec_cache
                .iter()
                .find(|(q, k, b, _)| *q == p && *k == key && (*b..*b + 4).contains(&d))
        {
            self.bounds.served_by_group(index);
            let component = self.add(
                Expression::AccessIndex {
                    base: var,
                    index: d - base,
                },
                blk,
            );
            return Ok(self.add(Expression::Load { pointer: component }, blk));
        }
        let info = self.array(buf)?;
        let idx = self.index(index, blk)?;
        if !self.bounds.needs_check(index) {
            let ptr = self.add(
                Expression::Access {
                    base: info.global,
                    index: idx,
                },
                blk,
            );
            return Ok(self.add(Expression::Load { pointer: ptr }, blk));
        }
        // Read a clamped in-range index (index 0 of an empty buffer exists:
        // the runtime binds at least 4 bytes), then select 0 when out of range.
        let len = self.array_len(info, blk)?;
        let in_range = self.bin(BinaryOperator::Less, idx, len, blk);
        let zero_idx = self.u32_lit(0);
        let safe = self.select(in_range, idx, zero_idx, blk);
        let ptr = self.add(
            Expression::Access {
                base: info.global,
                index: safe,
            },
            blk,
        );
        let v = self.add(Expression::Load { pointer: ptr }, blk);
        let zero = self.zero(info.elem);
        Ok(self.select(in_range, v, zero, blk))
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let ty = self
            .p
            .type_of(a)
            .ok_or_else(|| self.internal("untyped operand"))?;
        let l = self.expr(a, blk)?;
        let mut r = self.expr(b, blk)?;
        let is_bool = ty == DataType::Bool;
        let naga_op = match op {
            BinOp::Add => BinaryOperator::Add,
            BinOp::Sub => BinaryOperator::Subtract,
            BinOp::Mul => BinaryOperator::Multiply,
            // A literal divisor other than 0 (and -1, for i32) needs none of
            // the guards, and a plain division by it lets the driver use
            // shifts and multiplies.
            BinOp::Div | BinOp::Rem
                if matches!(b, Expr::Lit(Literal::U32(1..)))
                    || matches!(b, Expr::Lit(Literal::I32(d)) if *d != 0 && *d != -1) =>
            {
                if op == BinOp::Div {
                    BinaryOperator::Divide
                } else {
                    BinaryOperator::Modulo
                }
            }
            BinOp::Div | BinOp::Rem if ty.is_integer() => {
                return Ok(self.int_div(op == BinOp::Div, ty, l, r, blk));
            }
            BinOp::Div => BinaryOperator::Divide,
            BinOp::Rem => BinaryOperator::Modulo,
            BinOp::BitAnd | BinOp::And if is_bool => BinaryOperator::LogicalAnd,
            BinOp::BitOr | BinOp::Or if is_bool => BinaryOperator::LogicalOr,
            BinOp::BitXor if is_bool => BinaryOperator::NotEqual,
            BinOp::BitAnd | BinOp::And => BinaryOperator::And,
            BinOp::BitOr | BinOp::Or => BinaryOperator::InclusiveOr,
            BinOp::BitXor => BinaryOperator::ExclusiveOr,
            BinOp::Shl | BinOp::Shr => {
                // Any integer amount, reinterpreted as u32 and masked.
                if self.p.type_of(b) == Some(DataType::I32) {
                    r = self.bitcast(r, ScalarKind::Uint, blk);
                }
                let mask = self.u32_lit(31);
                r = self.bin(BinaryOperator::And, r, mask, blk);
                if op == BinOp::Shl {
                    BinaryOperator::ShiftLeft
                } else {
                    BinaryOperator::ShiftRight
                }
            }
            BinOp::Eq => BinaryOperator::Equal,
            // naga writes a float `!=` as SPIR-V's ordered `FOrdNotEqual`,
            // false when either side is NaN; IEEE (and Rust) say true.
            // `!(a == b)` is right everywhere.
            BinOp::Ne if ty == DataType::F32 => {
                let eq = self.bin(BinaryOperator::Equal, l, r, blk);
                return Ok(self.add(
                    Expression::Unary {
                        op: UnaryOperator::LogicalNot,
                        expr: eq,
                    },
                    blk,
                ));
            }
            BinOp::Ne => BinaryOperator::NotEqual,
            BinOp::Lt => BinaryOperator::Less,
            BinOp::Le => BinaryOperator::LessEqual,
            BinOp::Gt => BinaryOperator::Greater,
            BinOp::Ge => BinaryOperator::GreaterEqual,
        };
        Ok(self.bin(naga_op, l, r, blk))
    }

    /// Integer `/` or `%` with vyre's semantics: by zero gives 0,
    /// `i32::MIN / -1` wraps to `i32::MIN` and `i32::MIN % -1` is 0. The
    /// divisor is replaced by 1 in those cases, so no target ever sees them.
    fn int_div(
        &mut self,
        div: bool,
        ty: DataType,
        l: Handle<Expression>,
        r: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let zero = self.zero(ty);
        let one = self.lit(if ty == DataType::I32 {
            naga::Literal::I32(1)
        } else {
            naga::Literal::U32(1)
        });
        let by_zero = self.bin(BinaryOperator::Equal, r, zero, blk);
        let mut replace = by_zero;
        if ty == DataType::I32 {
            let min = self.lit(naga::Literal::I32(i32::MIN));
            let minus_one = self.lit(naga::Literal::I32(-1));
            let l_min = self.bin(BinaryOperator::Equal, l, min, blk);
            let r_m1 = self.bin(BinaryOperator::Equal, r, minus_one, blk);
            let overflow = self.bin(BinaryOperator::LogicalAnd, l_min, r_m1, blk);
            replace = self.bin(BinaryOperator::LogicalOr, by_zero, overflow, blk);
        }
        let safe = self.select(replace, one, r, blk);
        let op = if div {
            BinaryOperator::Divide
        } else {
            BinaryOperator::Modulo
        };
        let q = self.bin(op, l, safe, blk);
        self.select(by_zero, zero, q, blk)
    }

    fn cast(
        &mut self,
        v: Handle<Expression>,
        from: DataType,
        to: DataType,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        use DataType as T;
        Ok(match (from, to) {
            (a, b) if a == b => v,
            (T::Bool, t) => {
                let (one, zero) = match t {
                    T::I32 => (naga::Literal::I32(1), naga::Literal::I32(0)),
                    T::U32 => (naga::Literal::U32(1), naga::Literal::U32(0)),
                    T::F32 => (naga::Literal::F32(1.0), naga::Literal::F32(0.0)),
                    T::Bool => (naga::Literal::Bool(true), naga::Literal::Bool(false)),
                };
                let one = self.lit(one);
                let zero = self.lit(zero);
                self.select(v, one, zero, blk)
            }
            (_, T::Bool) => {
                return Err(self.unsupported("casts to `bool` are not part of the language"));
            }
            (T::I32, T::U32) => self.bitcast(v, ScalarKind::Uint, blk),
            (T::U32, T::I32) => self.bitcast(v, ScalarKind::Sint, blk),
            (T::I32 | T::U32, T::F32) => self.convert(v, ScalarKind::Float, blk),
            (T::F32, t) => {
                // Saturate like Rust `as`: clamp into the representable
                // range (the top is the largest f32 below 2^32 or 2^31),
                // convert, then fix the top and NaN with selects.
                let (lo, hi, top, kind, max, zero) = if t == T::U32 {
                    (
                        0.0,
                        4_294_967_040.0,
                        4_294_967_296.0,
                        ScalarKind::Uint,
                        naga::Literal::U32(u32::MAX),
                        naga::Literal::U32(0),
                    )
                } else {
                    (
                        -2_147_483_648.0,
                        2_147_483_520.0,
                        2_147_483_648.0,
                        ScalarKind::Sint,
                        naga::Literal::I32(i32::MAX),
                        naga::Literal::I32(0),
                    )
                };
                let lo_l = self.f32_lit(lo);
                let hi_l = self.f32_lit(hi);
                let below = self.bin(BinaryOperator::Less, v, lo_l, blk);
                let c = self.select(below, lo_l, v, blk);
                let above = self.bin(BinaryOperator::Greater, c, hi_l, blk);
                let c = self.select(above, hi_l, c, blk);
                let nan = self.is_nan(v, blk);
                // A NaN would reach the conversion; feed it 0 instead.
                let zero_f = self.f32_lit(0.0);
                let c = self.select(nan, zero_f, c, blk);
                let converted = self.convert(c, kind, blk);
                let top_l = self.f32_lit(top);
                let at_top = self.bin(BinaryOperator::GreaterEqual, v, top_l, blk);
                let max_l = self.lit(max);
                let r = self.select(at_top, max_l, converted, blk);
                let zero_l = self.lit(zero);
                self.select(nan, zero_l, r, blk)
            }
            (a, b) => {
                return Err(self.internal(&format!("unsupported cast {a} as {b}")));
            }
        })
    }

    /// `f32` min/max ignoring a NaN operand, like Rust.
    fn fminmax(
        &mut self,
        max: bool,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let op = if max {
            BinaryOperator::Greater
        } else {
            BinaryOperator::Less
        };
        // a < b ? a : b — yields b when a is NaN; then b NaN -> a.
        let pick_a = self.bin(op, a, b, blk);
        let m = self.select(pick_a, a, b, blk);
        let b_nan = self.is_nan(b, blk);
        self.select(b_nan, a, m, blk)
    }

    fn minmax(
        &mut self,
        max: bool,
        ty: DataType,
        a: Handle<Expression>,
        b: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        if ty == DataType::F32 {
            self.fminmax(max, a, b, blk)
        } else {
            self.add(
                Expression::Math {
                    fun: if max {
                        MathFunction::Max
                    } else {
                        MathFunction::Min
                    },
                    arg: a,
                    arg1: Some(b),
                    arg2: None,
                    arg3: None,
                },
                blk,
            )
        }
    }

    fn math(
        &mut self,
        f: MathFn,
        args: &[Expr],
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let ty = args
            .first()
            .and_then(|a| self.p.type_of(a))
            .ok_or_else(|| self.internal("untyped math operand"))?;
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.expr(a, blk)?);
        }
        let arg = |i: usize| vals.get(i).copied();
        let need = |i: usize| -> CompileResult<Handle<Expression>> {
            arg(i).ok_or_else(|| {
                self.internal(&format!("`{}` needs {} operands", f.name(), f.arity()))
            })
        };
        let x = need(0)?;
        Ok(match f {
            MathFn::Sqrt => self.math1(MathFunction::Sqrt, x, blk),
            MathFn::Exp => self.math1(MathFunction::Exp, x, blk),
            MathFn::Ln => self.math1(MathFunction::Log, x, blk),
            MathFn::Sin => self.math1(MathFunction::Sin, x, blk),
            MathFn::Cos => self.math1(MathFunction::Cos, x, blk),
            MathFn::Tanh => {
                // Some drivers compute tanh through exp and overflow to NaN
                // for large |x|; tanh(±10) already rounds to ±1 in f32.
                let hi = self.f32_lit(10.0);
                let lo = self.f32_lit(-10.0);
                let above = self.bin(BinaryOperator::Greater, x, hi, blk);
                let c = self.select(above, hi, x, blk);
                let below = self.bin(BinaryOperator::Less, c, lo, blk);
                let c = self.select(below, lo, c, blk);
                self.math1(MathFunction::Tanh, c, blk)
            }
            MathFn::Floor => self.math1(MathFunction::Floor, x, blk),
            MathFn::Ceil => self.math1(MathFunction::Ceil, x, blk),
            MathFn::Abs => match ty {
                DataType::F32 => self.math1(MathFunction::Abs, x, blk),
                DataType::I32 => {
                    // Wrapping: i32::MIN.abs() is i32::MIN.
                    let zero = self.zero(DataType::I32);
                    let neg = self.bin(BinaryOperator::Less, x, zero, blk);
                    let minus = self.add(
                        Expression::Unary {
                            op: UnaryOperator::Negate,
                            expr: x,
                        },
                        blk,
                    );
                    self.select(neg, minus, x, blk)
                }
                _ => x,
            },
            MathFn::Min => {
                let y = need(1)?;
                self.minmax(false, ty, x, y, blk)
            }
            MathFn::Max => {
                let y = need(1)?;
                self.minmax(true, ty, x, y, blk)
            }
            MathFn::Clamp => {
                let lo = need(1)?;
                let hi = need(2)?;
                let m = self.minmax(true, ty, x, lo, blk);
                self.minmax(false, ty, m, hi, blk)
            }
            MathFn::MulAdd => {
                let y = need(1)?;
                let z = need(2)?;
                self.add(
                    Expression::Math {
                        fun: MathFunction::Fma,
                        arg: x,
                        arg1: Some(y),
                        arg2: Some(z),
                        arg3: None,
                    },
                    blk,
                )
            }
            MathFn::Powf => {
                let y = need(1)?;
                self.powf(x, y, blk)
            }
        })
    }

    /// `x.powf(y)` with C `pow`'s special cases that GPU `pow` (defined only
    /// for x > 0) leaves undefined: a negative base with an integer exponent
    /// takes the sign from the exponent's parity, with a non-integer one it
    /// is NaN; `y == 0` and `x == 1` give 1.
    fn powf(
        &mut self,
        x: Handle<Expression>,
        y: Handle<Expression>,
        blk: &mut Block,
    ) -> Handle<Expression> {
        let ax = self.math1(MathFunction::Abs, x, blk);
        let mag = self.add(
            Expression::Math {
                fun: MathFunction::Pow,
                arg: ax,
                arg1: Some(y),
                arg2: None,
                arg3: None,
            },
            blk,
        );
        let zero = self.f32_lit(0.0);
        let one = self.f32_lit(1.0);
        let half = self.f32_lit(0.5);
        let neg = self.bin(BinaryOperator::Less, x, zero, blk);
        let fy = self.math1(MathFunction::Floor, y, blk);
        let y_int = self.bin(BinaryOperator::Equal, fy, y, blk);
        let hy = self.bin(BinaryOperator::Multiply, y, half, blk);
        let fhy = self.math1(MathFunction::Floor, hy, blk);
        let even = self.bin(BinaryOperator::Equal, fhy, hy, blk);
        let odd = self.add(
            Expression::Unary {
                op: UnaryOperator::LogicalNot,
                expr: even,
            },
            blk,
        );
        let odd_int = self.bin(BinaryOperator::LogicalAnd, y_int, odd, blk);
        let negated = self.add(
            Expression::Unary {
                op: UnaryOperator::Negate,
                expr: mag,
            },
            blk,
        );
        let signed = self.select(odd_int, negated, mag, blk);
        let nan = self.f32_const(f32::NAN, blk);
        let neg_val = self.select(y_int, signed, nan, blk);
        let r = self.select(neg, neg_val, mag, blk);
        let y0 = self.bin(BinaryOperator::Equal, y, zero, blk);
        let x1 = self.bin(BinaryOperator::Equal, x, one, blk);
        let trivial = self.bin(BinaryOperator::LogicalOr, y0, x1, blk);
        self.select(trivial, one, r, blk)
    }

    // ---- statements --------------------------------------------------

    fn block(&mut self, nodes: &[Node], out: &mut Block) -> CompileResult<()> {
        let mut run_end = 0;
        for (i, node) in nodes.iter().enumerate() {
            if i >= run_end {
                let len = run_len(&nodes[i..]);
                self.vector_loads(&nodes[i..i + len], out)?;
                run_end = i + len.max(1);
            }
            self.node(node, out)?;
            // Nothing after a jump runs; naga rejects such code.
            if matches!(node, Node::Break | Node::Continue | Node::Return) {
                break;
            }
        }
        self.vec_cache.clear();
        Ok(())
    }

    /// At the start of the straight-line run `run`: one 16-byte load for
    /// every four loads `buf[key + base + 0..4]` of a read-only buffer in
    /// it, `key` a multiple of 4 not redefined before the last of them.
    /// Those loads then read the vector's components ([`Lowerer::load`]).
    fn vector_loads(&mut self, run: &[Node], out: &mut Block) -> CompileResult<()> {
        self.vec_cache.clear();
        if !self.vectorize || run.is_empty() {
            return Ok(());
        }
        for g in load_groups(&keyed_loads(run)) {
            let read_only = matches!(
                self.p.params.get(g.buf as usize),
                Some(Param::Buffer(b)) if b.access == Access::Read
                    && matches!(b.elem, DataType::U32 | DataType::I32 | DataType::F32)
            );
            if !read_only
                || g.base + 4 > self.align.key(&g.key)
                || first_def(run, &g.key) <= g.last_use
            {
                continue;
            }
            let var = self.vector_load(g.buf, &g.key, g.base, g.last, out)?;
            self.vec_cache.push((g.buf, g.key, g.base, var));
        }
        Ok(())
    }

    /// The `array<vec4<T>>` view of buffer parameter `p`, on its binding.
    fn vec_view(&mut self, p: ParamId, elem: DataType) -> CompileResult<Handle<Expression>> {
        if let Some(h) = self.vec_views[p as usize] {
            return Ok(h);
        }
        let (Some(binding), Some(Param::Buffer(decl))) = (
            self.buffer_binding[p as usize],
            self.p.params.get(p as usize),
        ) else {
            return Err(self.internal(&format!("parameter {p} is not a buffer")));
        };
        let name = format!("{}_v4", decl.name);
        let vec_ty = self.add_type(TypeInner::Vector {
            size: naga::VectorSize::Quad,
            scalar: scalar_of(elem),
        });
        let array_ty = self.add_type(TypeInner::Array {
            base: vec_ty,
            size: ArraySize::Dynamic,
            stride: 16,
        });
        let h = self.storage_global(name, array_ty, binding, StorageAccess::LOAD);
        self.vec_views[p as usize] = Some(h);
        Ok(h)
    }

    /// Load `param[key + base + 0..4]` into a new `vec4` variable: one
    /// 16-byte load when all four are in range, else four checked loads;
    /// `last` is the index expression of a load of `key + base + 3`.
    fn vector_load(
        &mut self,
        p: ParamId,
        key: &Key,
        base: u32,
        last: &Expr,
        blk: &mut Block,
    ) -> CompileResult<Handle<Expression>> {
        let info = self.array(BufRef::Param(p))?;
        let view = self.vec_view(p, info.elem)?;
        let vec_ty = self.add_type(TypeInner::Vector {
            size: naga::VectorSize::Quad,
            scalar: scalar_of(info.elem),
        });
        let var = self.func.local_variables.append(
            LocalVariable {
                name: Some(format!("v4_{}", self.vec_cache.len())),
                ty: vec_ty,
                init: None,
            },
            Span::UNDEFINED,
        );
        let var = self
            .func
            .expressions
            .append(Expression::LocalVariable(var), Span::UNDEFINED);
        let key_value = match key {
            Key::Local(id) => Expr::Local(*id),
            Key::Builtin(b, axis) => Expr::Builtin(*b, *axis),
            Key::Const(c) => Expr::Lit(Literal::U32(*c)),
        };
        let mut first = self.index(&key_value, blk)?;
        if base != 0 {
            let b = self.u32_lit(base);
            first = self.bin(BinaryOperator::Add, first, b, blk);
        }
        // The key is a multiple of 4 and base + 4 at most that: the element
        // index is 16-byte aligned and `first + 3` does not wrap around.
        let mut fast = Block::new();
        let two = self.u32_lit(2);
        let slot = self.bin(BinaryOperator::ShiftRight, first, two, &mut fast);
        let ptr = self.add(
            Expression::Access {
                base: view,
                index: slot,
            },
            &mut fast,
        );
        let v = self.add(Expression::Load { pointer: ptr }, &mut fast);
        fast.push(
            Statement::Store {
                pointer: var,
                value: v,
            },
            Span::UNDEFINED,
        );
        if !self.bounds.group_needs_check(last) {
            blk.push(Statement::Block(fast), Span::UNDEFINED);
            return Ok(var);
        }
        let len = self.array_len(info, blk)?;
        let three = self.u32_lit(3);
        let last = self.bin(BinaryOperator::Add, first, three, blk);
        let all_in = self.bin(BinaryOperator::Less, last, len, blk);
        let mut slow = Block::new();
        let mut components = Vec::with_capacity(4);
        for j in 0..4 {
            let off = self.u32_lit(j);
            let idx = self.bin(BinaryOperator::Add, first, off, &mut slow);
            let in_range = self.bin(BinaryOperator::Less, idx, len, &mut slow);
            let zero_idx = self.u32_lit(0);
            let safe = self.select(in_range, idx, zero_idx, &mut slow);
            let ptr = self.add(
                Expression::Access {
                    base: info.global,
                    index: safe,
                },
                &mut slow,
            );
            let v = self.add(Expression::Load { pointer: ptr }, &mut slow);
            let zero = self.zero(info.elem);
            components.push(self.select(in_range, v, zero, &mut slow));
        }
        let composed = self.add(
            Expression::Compose {
                ty: vec_ty,
                components,
            },
            &mut slow,
        );
        slow.push(
            Statement::Store {
                pointer: var,
                value: composed,
            },
            Span::UNDEFINED,
        );
        blk.push(
            Statement::If {
                condition: all_in,
                accept: fast,
                reject: slow,
            },
            Span::UNDEFINED,
        );
        Ok(var)
    }

    fn store_local(
        &mut self,
        local: LocalId,
        value: Handle<Expression>,
        blk: &mut Block,
    ) -> CompileResult<()> {
        let pointer = *self
            .locals
            .get(local as usize)
            .ok_or_else(|| self.internal(&format!("unknown local {local}")))?;
        blk.push(Statement::Store { pointer, value }, Span::UNDEFINED);
        Ok(())
    }

    fn node(&mut self, node: &Node, blk: &mut Block) -> CompileResult<()> {
        match node {
            Node::Let { local, value } | Node::Assign { local, value } => {
                self.align.assign(*local, value);
                if let Expr::Atomic { .. } = value {
                    return self.atomic(value, Some(*local), blk);
                }
                let v = self.expr(value, blk)?;
                self.store_local(*local, v, blk)?;
            }
            Node::Store { buf, index, value } => {
                let info = self.array(*buf)?;
                let idx = self.index(index, blk)?;
                let v = self.expr(value, blk)?;
                if !self.bounds.needs_check(index) {
                    let ptr = self.add(
                        Expression::Access {
                            base: info.global,
                            index: idx,
                        },
                        blk,
                    );
                    blk.push(
                        Statement::Store {
                            pointer: ptr,
                            value: v,
                        },
                        Span::UNDEFINED,
                    );
                } else {
                    let (in_range, index) = self.guarded_index(*buf, info, idx, blk)?;
                    let mut accept = Block::new();
                    let ptr = self.add(
                        Expression::Access {
                            base: info.global,
                            index,
                        },
                        &mut accept,
                    );
                    accept.push(
                        Statement::Store {
                            pointer: ptr,
                            value: v,
                        },
                        Span::UNDEFINED,
                    );
                    blk.push(
                        Statement::If {
                            condition: in_range,
                            accept,
                            reject: Block::new(),
                        },
                        Span::UNDEFINED,
                    );
                }
            }
            Node::Eval(value) => {
                if let Expr::Atomic { .. } = value {
                    return self.atomic(value, None, blk);
                }
                // A pure expression statement has no effect.
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, blk)?;
                let mut accept = Block::new();
                let mut reject = Block::new();
                let before = self.align.clone();
                self.block(then, &mut accept)?;
                let after_then = std::mem::replace(&mut self.align, before);
                self.block(otherwise, &mut reject)?;
                self.align.join(&after_then);
                blk.push(
                    Statement::If {
                        condition: c,
                        accept,
                        reject,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::While { cond, body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                let mut lbody = Block::new();
                let c = self.expr(cond, &mut lbody)?;
                let mut brk = Block::new();
                brk.push(Statement::Break, Span::UNDEFINED);
                lbody.push(
                    Statement::If {
                        condition: c,
                        accept: Block::new(),
                        reject: brk,
                    },
                    Span::UNDEFINED,
                );
                self.block(body, &mut lbody)?;
                self.align = at_head;
                blk.push(
                    Statement::Loop {
                        body: lbody,
                        continuing: Block::new(),
                        break_if: None,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::For {
                var,
                start,
                end,
                body,
            } => {
                let ty = self
                    .p
                    .locals
                    .get(*var as usize)
                    .map(|d| d.ty)
                    .ok_or_else(|| self.internal("unknown loop variable"))?;
                let s = self.expr(start, blk)?;
                self.store_local(*var, s, blk)?;
                // The bound is evaluated once, into a hidden local.
                let e = self.expr(end, blk)?;
                let end_var = self.func.local_variables.append(
                    LocalVariable {
                        name: Some(format!("{}_end", self.p.locals[*var as usize].name)),
                        ty: self.scalar_ty(ty),
                        init: None,
                    },
                    Span::UNDEFINED,
                );
                let end_ptr = self
                    .func
                    .expressions
                    .append(Expression::LocalVariable(end_var), Span::UNDEFINED);
                blk.push(
                    Statement::Store {
                        pointer: end_ptr,
                        value: e,
                    },
                    Span::UNDEFINED,
                );
                let var_ptr = self.locals[*var as usize];
                self.align.set(*var, 1);
                self.align.enter_loop(body);
                let at_head = self.align.clone();

                let mut lbody = Block::new();
                let cur = self.add(Expression::Load { pointer: var_ptr }, &mut lbody);
                let endv = self.add(Expression::Load { pointer: end_ptr }, &mut lbody);
                let go = self.bin(BinaryOperator::Less, cur, endv, &mut lbody);
                let mut brk = Block::new();
                brk.push(Statement::Break, Span::UNDEFINED);
                lbody.push(
                    Statement::If {
                        condition: go,
                        accept: Block::new(),
                        reject: brk,
                    },
                    Span::UNDEFINED,
                );
                self.block(body, &mut lbody)?;
                self.align = at_head;

                let mut continuing = Block::new();
                let cur = self.add(Expression::Load { pointer: var_ptr }, &mut continuing);
                let one = self.lit(if ty == DataType::I32 {
                    naga::Literal::I32(1)
                } else {
                    naga::Literal::U32(1)
                });
                let next = self.bin(BinaryOperator::Add, cur, one, &mut continuing);
                continuing.push(
                    Statement::Store {
                        pointer: var_ptr,
                        value: next,
                    },
                    Span::UNDEFINED,
                );
                blk.push(
                    Statement::Loop {
                        body: lbody,
                        continuing,
                        break_if: None,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::Loop { body } => {
                self.align.enter_loop(body);
                let at_head = self.align.clone();
                let mut lbody = Block::new();
                self.block(body, &mut lbody)?;
                self.align = at_head;
                blk.push(
                    Statement::Loop {
                        body: lbody,
                        continuing: Block::new(),
                        break_if: None,
                    },
                    Span::UNDEFINED,
                );
            }
            Node::Break => blk.push(Statement::Break, Span::UNDEFINED),
            Node::Continue => blk.push(Statement::Continue, Span::UNDEFINED),
            Node::Return => blk.push(Statement::Return { value: None }, Span::UNDEFINED),
            Node::Barrier => blk.push(
                Statement::ControlBarrier(Barrier::STORAGE | Barrier::WORK_GROUP),
                Span::UNDEFINED,
            ),
        }
        Ok(())
    }

    /// An atomic read-modify-write, its old value stored into `target`.
    fn atomic(&mut self, e: &Expr, target: Option<LocalId>, blk: &mut Block) -> CompileResult<()> {
        let Expr::Atomic {
            op,
            buf,
            index,
            expected,
            value,
        } = e
        else {
            return Err(self.internal("not an atomic"));
        };
        let info = self.array(*buf)?;
        let idx = self.index(index, blk)?;
        let val = self.expr(value, blk)?;
        let cmp = match expected {
            Some(x) => Some(self.expr(x, blk)?),
            None => None,
        };
        let fun = match op {
            AtomicOp::Add => AtomicFunction::Add,
            AtomicOp::Sub => AtomicFunction::Subtract,
            AtomicOp::Min => AtomicFunction::Min,
            AtomicOp::Max => AtomicFunction::Max,
            AtomicOp::And => AtomicFunction::And,
            AtomicOp::Or => AtomicFunction::InclusiveOr,
            AtomicOp::Xor => AtomicFunction::ExclusiveOr,
            AtomicOp::Exchange => AtomicFunction::Exchange { compare: None },
            AtomicOp::CompareExchange => {
                let Some(c) = cmp else {
                    return Err(self.internal("atomic_compare_exchange without an expected value"));
                };
                AtomicFunction::Exchange { compare: Some(c) }
            }
        };
        let scalar = scalar_of(info.elem);
        let is_cas = *op == AtomicOp::CompareExchange;
        let result_ty = if is_cas {
            self.module
                .generate_predeclared_type(PredeclaredType::AtomicCompareExchangeWeakResult(scalar))
        } else {
            self.scalar_ty(info.elem)
        };
        let guard = if !self.bounds.needs_check(index) {
            None
        } else {
            Some(self.guarded_index(*buf, info, idx, blk)?)
        };
        let mut inner = Block::new();
        {
            let body = if guard.is_some() {
                &mut inner
            } else {
                &mut *blk
            };
            let pointer = self.add(
                Expression::Access {
                    base: info.global,
                    index: guard.map_or(idx, |g| g.1),
                },
                body,
            );
            let result = self.func.expressions.append(
                Expression::AtomicResult {
                    ty: result_ty,
                    comparison: is_cas,
                },
                Span::UNDEFINED,
            );
            body.push(
                Statement::Atomic {
                    pointer,
                    fun,
                    value: val,
                    result: Some(result),
                },
                Span::UNDEFINED,
            );
            let old = if is_cas {
                self.add(
                    Expression::AccessIndex {
                        base: result,
                        index: 0,
                    },
                    body,
                )
            } else {
                result
            };
            if let Some(t) = target {
                self.store_local(t, old, body)?;
            }
        }
        if let Some((in_range, _)) = guard {
            let mut reject = Block::new();
            if let Some(t) = target {
                let zero = self.zero(info.elem);
                self.store_local(t, zero, &mut reject)?;
            }
            blk.push(
                Statement::If {
                    condition: in_range,
                    accept: inner,
                    reject,
                },
                Span::UNDEFINED,
            );
        }
        Ok(())
    }
}
