//! Helpers shared by the PTX tests: sample programs and `ptxas` checks.
#![allow(dead_code)]

use vyre::DispatchConfig;
use vyre::backend::ptx;
use vyre::ir::{Access, BufRef, DataType, Expr, Program, ProgramBuilder};

/// Architectures every program is assembled for.
pub const ARCHES: [&str; 3] = ["sm_70", "sm_80", "sm_90"];

/// `ptxas`, or `None` after printing the skip line. Panics when
/// `VYRE_REQUIRE_PTXAS=1` and none is found.
pub fn ptxas() -> Option<std::path::PathBuf> {
    if let Some(p) = ptx::find_ptxas() {
        return Some(p);
    }
    // Local convenience: the pip package's binary, if the interpreter has it.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import nvidia.cuda_nvcc, os; print(os.path.join(list(nvidia.cuda_nvcc.__path__)[0], 'bin', 'ptxas'))",
        ])
        .output()
        .ok();
    if let Some(out) = out
        && out.status.success()
    {
        let p = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_file() {
            return Some(p);
        }
    }
    assert!(
        std::env::var("VYRE_REQUIRE_PTXAS").as_deref() != Ok("1"),
        "VYRE_REQUIRE_PTXAS=1 but ptxas was not found (set VYRE_PTXAS)"
    );
    println!("skipped: ptxas not found");
    None
}

/// Lines of `text` whose instruction starts with `prefix` (after an
/// optional guard).
pub fn count(text: &str, prefix: &str) -> usize {
    text.lines()
        .map(|l| {
            let l = l.trim();
            match l.strip_prefix('@') {
                Some(rest) => rest.split_once(' ').map_or("", |(_, i)| i),
                None => l,
            }
        })
        .filter(|l| l.starts_with(prefix))
        .count()
}

/// Emit PTX for `program` on `arch`, panicking with the message on error.
pub fn emit(program: &Program, arch: &str) -> String {
    ptx::emit_ptx(program, &DispatchConfig::default().with_target_arch(arch))
        .unwrap_or_else(|e| panic!("emit {}: {e}", program.name))
}

/// Emit PTX for `program` as written, without the middle layer's
/// preparation (`mid::prepare`: unrolling, private arrays with constant
/// indices to registers), to test how the emitter itself lowers a construct.
pub fn emit_unprepared(program: &Program, arch: &str) -> String {
    let config = DispatchConfig::default().with_target_arch(arch);
    let analysis = vyre::mid::Analysis::new(program, &config)
        .unwrap_or_else(|e| panic!("analyse {}: {e}", program.name));
    ptx::emit_ptx_analysed(&analysis, &config)
        .unwrap_or_else(|e| panic!("emit {}: {e}", program.name))
}

/// Assemble `program` for every arch in [`ARCHES`] (when ptxas exists).
pub fn assemble_all(program: &Program, config: &DispatchConfig) {
    let Some(ptxas) = ptxas() else { return };
    for arch in ARCHES {
        let cfg = config.clone().with_target_arch(arch);
        let text = ptx::emit_ptx(program, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let cubin = ptx::assemble(&ptxas, &text, arch)
            .unwrap_or_else(|e| panic!("{} on {arch}: {e}\n--- PTX ---\n{text}", program.name));
        assert!(cubin.starts_with(b"\x7fELF"), "cubin is not an ELF file");
    }
}

/// y = a * x + y
pub fn saxpy() -> Program {
    vyre_testkit::programs::saxpy(256)
}

use vyre::ir::{AtomicOp, BinOp, MathFn, Node, UnOp};

/// out[i] = op(a[i], b[i]) for every binary operator and type: one program
/// per (op, type), each with `n` elements guarded by `i < out.len()`.
pub fn binop_program(op: BinOp, ty: DataType) -> Program {
    let name = format!("bin_{:?}_{}", op, ty.name()).to_lowercase();
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let out_ty = if op.is_comparison() || ty == DataType::Bool {
        DataType::U32
    } else {
        ty
    };
    let storage = if ty == DataType::Bool {
        DataType::U32
    } else {
        ty
    };
    let xa = b.buffer("a", storage, Access::Read);
    let xb = b.buffer("b", storage, Access::Read);
    let out = b.buffer("out", out_ty, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let mut la = Expr::load(BufRef::Param(xa), Expr::local(i));
            let mut lb = Expr::load(BufRef::Param(xb), Expr::local(i));
            if ty == DataType::Bool {
                la = la.ne(Expr::u32(0));
                lb = lb.ne(Expr::u32(0));
            }
            let mut v = Expr::Binary(op, Box::new(la), Box::new(lb));
            if op.is_comparison() || ty == DataType::Bool {
                v = v.cast(DataType::U32);
            }
            t.store(BufRef::Param(out), Expr::local(i), v);
        });
    });
    b.finish()
}

/// Every binary operator with every type it accepts.
pub fn all_binops() -> Vec<(BinOp, DataType)> {
    use BinOp::*;
    let mut v = Vec::new();
    for op in [
        Add, Sub, Mul, Div, Rem, BitAnd, BitOr, BitXor, Shl, Shr, Eq, Ne, Lt, Le, Gt, Ge, And, Or,
    ] {
        for ty in [DataType::I32, DataType::U32, DataType::F32, DataType::Bool] {
            if vyre::ir::validate::binary_type(op, ty, ty).is_some() {
                v.push((op, ty));
            }
        }
    }
    v
}

/// out[i] = f(x[i], y[i], z[i]) for a math function over `ty`.
pub fn math_program(f: MathFn, ty: DataType, fast: bool) -> Program {
    let name = format!(
        "math_{}_{}{}",
        f.name(),
        ty.name(),
        if fast { "_fast" } else { "" }
    );
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let x = b.buffer("x", ty, Access::Read);
    let y = b.buffer("y", ty, Access::Read);
    let z = b.buffer("z", ty, Access::Read);
    let out = b.buffer("out", ty, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.fast_math(fast);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let args: Vec<Expr> = [x, y, z]
                .iter()
                .take(f.arity())
                .map(|&p| Expr::load(BufRef::Param(p), Expr::local(i)))
                .collect();
            t.store(BufRef::Param(out), Expr::local(i), Expr::Math(f, args));
        });
    });
    b.finish()
}

/// out[i] = x[i] as `to`.
pub fn cast_program(from: DataType, to: DataType) -> Program {
    let name = format!("cast_{}_{}", from.name(), to.name());
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let storage = |t: DataType| {
        if t == DataType::Bool {
            DataType::U32
        } else {
            t
        }
    };
    let x = b.buffer("x", storage(from), Access::Read);
    let out = b.buffer("out", storage(to), Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let mut v = Expr::load(BufRef::Param(x), Expr::local(i));
            if from == DataType::Bool {
                v = v.ne(Expr::u32(0));
            }
            let mut c = v.cast(to);
            if to == DataType::Bool {
                c = c.cast(DataType::U32);
            }
            t.store(BufRef::Param(out), Expr::local(i), c);
        });
    });
    b.finish()
}

/// Workgroup sum with a shared array, barriers, a strided `while` loop
/// and one global atomic add per workgroup (result in `out[0]`).
pub fn reduce_sum_u32() -> Program {
    let mut b = ProgramBuilder::new("reduce_sum_u32", [256, 1, 1]);
    let x = b.buffer("x", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::U32, 256);
    let lid = b.local("lid", DataType::U32, false);
    let gid = b.local("gid", DataType::U32, false);
    let stride = b.local("stride", DataType::U32, true);
    b.body(|blk| {
        blk.let_(
            lid,
            Expr::Builtin(vyre::ir::Builtin::LocalId, vyre::ir::Axis::X),
        );
        blk.let_(gid, Expr::global_id_x());
        blk.store(
            BufRef::Shared(tile),
            Expr::local(lid),
            Expr::load(BufRef::Param(x), Expr::local(gid)),
        );
        blk.barrier();
        blk.let_(stride, Expr::u32(128));
        blk.while_(Expr::local(stride).gt(Expr::u32(0)), |w| {
            w.if_(Expr::local(lid).lt(Expr::local(stride)), |t| {
                let s = Expr::load(BufRef::Shared(tile), Expr::local(lid)).add(Expr::load(
                    BufRef::Shared(tile),
                    Expr::local(lid).add(Expr::local(stride)),
                ));
                t.store(BufRef::Shared(tile), Expr::local(lid), s);
            });
            w.barrier();
            w.assign(stride, Expr::local(stride).shr(Expr::u32(1)));
        });
        blk.if_(Expr::local(lid).eq(Expr::u32(0)), |t| {
            t.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(out),
                Expr::u32(0),
                Expr::load(BufRef::Shared(tile), Expr::u32(0)),
            ));
        });
    });
    b.finish()
}

/// Every atomic op on a global buffer (old values recorded) and on a
/// shared array, used and unused, on `ty`.
pub fn atomics_program(ty: DataType) -> Program {
    let mut b = ProgramBuilder::new(format!("atomics_{}", ty.name()), [64, 1, 1]);
    let acc = b.buffer("acc", ty, Access::ReadWrite);
    let olds = b.buffer("olds", ty, Access::ReadWrite);
    let sh = b.shared("sh", ty, 16);
    let i = b.local("i", DataType::U32, false);
    let o = b.local("o", ty, true);
    let val = |i: LocalIdx| Expr::local(i).cast(ty);
    let l = b.local("l", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(o, Expr::Lit(zero(ty)));
        // Shared arrays start unspecified: zero them before the atomics
        // (the reference and a device would otherwise start from different
        // contents).
        blk.let_(
            l,
            Expr::Builtin(vyre::ir::Builtin::LocalId, vyre::ir::Axis::X),
        );
        blk.if_(Expr::local(l).lt(Expr::u32(16)), |t| {
            t.store(BufRef::Shared(sh), Expr::local(l), Expr::Lit(zero(ty)));
        });
        blk.barrier();
        for (k, op) in AtomicOp::ALL.iter().enumerate() {
            let idx = Expr::u32(k as u32);
            let e = if *op == AtomicOp::CompareExchange {
                Expr::atomic_compare_exchange(
                    BufRef::Param(acc),
                    idx.clone(),
                    val(i),
                    val(i).add(Expr::Lit(one(ty))),
                )
            } else {
                Expr::atomic(*op, BufRef::Param(acc), idx.clone(), val(i))
            };
            blk.assign(o, e);
            blk.store(
                BufRef::Param(olds),
                Expr::local(i).mul(Expr::u32(9)).add(Expr::u32(k as u32)),
                Expr::local(o),
            );
            // Unused result: lowered to `red` where PTX has one.
            let se = if *op == AtomicOp::CompareExchange {
                Expr::atomic_compare_exchange(
                    BufRef::Shared(sh),
                    Expr::u32(k as u32),
                    Expr::Lit(zero(ty)),
                    val(i),
                )
            } else {
                Expr::atomic(*op, BufRef::Shared(sh), Expr::u32(k as u32), val(i))
            };
            blk.eval(se);
        }
        blk.barrier();
        blk.if_(Expr::local(i).lt(Expr::u32(9)), |t| {
            t.store(
                BufRef::Param(acc),
                Expr::local(i).add(Expr::u32(16)),
                Expr::load(BufRef::Shared(sh), Expr::local(i)),
            );
        });
    });
    b.finish()
}

type LocalIdx = vyre::ir::LocalId;

fn zero(ty: DataType) -> vyre::ir::Literal {
    if ty == DataType::I32 {
        vyre::ir::Literal::I32(0)
    } else {
        vyre::ir::Literal::U32(0)
    }
}

fn one(ty: DataType) -> vyre::ir::Literal {
    if ty == DataType::I32 {
        vyre::ir::Literal::I32(1)
    } else {
        vyre::ir::Literal::U32(1)
    }
}

/// Control flow: for/while/loop with break/continue/return, select,
/// bool scalar param, i32 params and unary ops. out[i] = f(i).
pub fn control_flow() -> Program {
    let mut b = ProgramBuilder::new("control_flow", [32, 1, 1]);
    let flag = b.scalar("flag", DataType::Bool);
    let k = b.scalar("k", DataType::I32);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let acc = b.local("acc", DataType::I32, true);
    let j = b.local("j", DataType::I32, false);
    let n = b.local("n", DataType::I32, true);
    let done = b.local("done", DataType::Bool, true);
    let cnt = b.local("cnt", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).ge(Expr::len(out)), |t| {
            t.return_();
        });
        blk.let_(acc, Expr::i32(0));
        blk.for_(j, Expr::i32(0), Expr::local(i).cast(DataType::I32), |f| {
            f.if_(Expr::local(j).rem(Expr::i32(3)).eq(Expr::i32(1)), |t| {
                t.continue_();
            });
            f.assign(acc, Expr::local(acc).add(Expr::local(j)));
            f.if_(Expr::local(j).gt(Expr::i32(20)), |t| {
                t.break_();
            });
        });
        blk.let_(n, Expr::local(i).cast(DataType::I32));
        blk.let_(done, Expr::bool(false));
        blk.while_(Expr::local(done).not(), |w| {
            w.assign(
                acc,
                Expr::local(acc).bitxor(Expr::local(n).shl(Expr::u32(3))),
            );
            w.assign(n, Expr::local(n).shr(Expr::u32(1)));
            w.assign(done, Expr::local(n).eq(Expr::i32(0)));
        });
        blk.let_(cnt, Expr::u32(0));
        // At most 5 iterations: `cnt` grows before any `continue`/`break`.
        blk.loop_(|l| {
            l.assign(
                acc,
                Expr::local(acc).mul(Expr::i32(3)).add(Expr::param(k)).neg(),
            );
            l.assign(cnt, Expr::local(cnt).add(Expr::u32(1)));
            l.if_(Expr::local(cnt).ge(Expr::u32(5)), |t| {
                t.break_();
            });
            l.if_else(
                Expr::param(flag).and(Expr::local(acc).lt(Expr::i32(0))),
                |t| {
                    t.assign(
                        acc,
                        Expr::select(Expr::param(flag), Expr::local(acc).not(), Expr::i32(7)),
                    );
                    t.continue_();
                },
                |e| {
                    e.assign(acc, Expr::local(acc).sub(Expr::i32(1)));
                },
            );
        });
        blk.store(BufRef::Param(out), Expr::local(i), Expr::local(acc));
    });
    b.finish()
}

/// A node that is the whole statement list of `prog` (for structural tests).
pub fn body_len(p: &Program) -> usize {
    let mut n = 0;
    vyre::ir::walk_nodes(&p.body, &mut |_: &Node| n += 1);
    n
}

/// `-x` on i32 and f32, `!x` on u32 (unused helper kept for symmetry).
pub fn unary(e: Expr) -> Expr {
    Expr::Unary(UnOp::Neg, Box::new(e))
}

use vyre::runtime::{KernelSpec, ParamSpec};
use vyre_testkit::harness::OwnedSpec;

/// A spec of `program` with `reference` and `ptx` artifacts (and a cubin
/// for each arch in `cubin_arches` when ptxas is available), as a generated
/// launcher would embed them, under a key unique to this call.
pub fn spec_with(
    program: &Program,
    config: &DispatchConfig,
    cubin_arches: &[&str],
    with_ptx: bool,
) -> OwnedSpec {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut spec = OwnedSpec::new(program, format!("test::{}#{n}", program.name));
    spec.workgroup_size = config.effective_workgroup_size(program);
    let reference = vyre::backend::reference::emit(program, config).expect("reference emit");
    spec.push_artifact("reference", None, reference);
    if with_ptx {
        let text = ptx::emit_ptx(program, config).unwrap_or_else(|e| panic!("{e}"));
        spec.push_artifact("ptx", None, text.into_bytes());
    }
    for arch in cubin_arches {
        let cfg = config.clone().with_target_arch(*arch);
        if let Ok(bytes) = ptx::emit_cubin(program, &cfg) {
            spec.push_artifact("cubin", Some(arch), bytes);
        }
    }
    spec
}

/// [`spec_with`] with the default config and PTX only.
pub fn spec(program: &Program) -> OwnedSpec {
    spec_with(program, &DispatchConfig::default(), &[], true)
}

/// Deterministic xorshift generator for test inputs.
pub struct Rng(pub u64);

impl Rng {
    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }
}

use vyre::{Device, Grid};

/// A test argument: a buffer's contents as bit patterns, or a scalar.
#[derive(Debug, Clone)]
pub enum Arg {
    /// Buffer contents (element bits; the type comes from the spec, and
    /// is at most 32 bits wide).
    Buf(Vec<u32>),
    /// Buffer contents of any element type, one zero-extended `u64` of
    /// bits per element (a `u64`, `i64` or `f64` buffer; read back with
    /// [`run_on_wide`]).
    Buf64(Vec<u64>),
    /// u32 scalar.
    U32(u32),
    /// i32 scalar.
    I32(i32),
    /// f32 scalar.
    F32(f32),
    /// bool scalar.
    Bool(bool),
    /// A scalar of any type (`u64`, `i64`, `f64`, the narrow ones).
    Lit(vyre::ir::Literal),
}

/// Run `spec` on `device` and return every buffer's final contents (bits),
/// in parameter order (through [`vyre_testkit::harness::launch_values`];
/// each buffer's element type comes from `spec`). Every buffer must have
/// elements of at most 32 bits ([`run_on_wide`] reads any).
pub fn run_on(
    device: &Device,
    spec: &KernelSpec<'_>,
    grid: Grid,
    args: &[Arg],
) -> vyre::Result<Vec<Vec<u32>>> {
    Ok(run_on_wide(device, spec, grid, args)?
        .into_iter()
        .map(|b| {
            b.into_iter()
                .map(|w| {
                    u32::try_from(w).unwrap_or_else(|_| {
                        panic!("{}: a 64-bit buffer; use `run_on_wide`", spec.name)
                    })
                })
                .collect()
        })
        .collect())
}

/// [`run_on`] with every buffer's elements as zero-extended `u64` bits
/// (the testkit's `Outputs` convention), for buffers of any element type.
pub fn run_on_wide(
    device: &Device,
    spec: &KernelSpec<'_>,
    grid: Grid,
    args: &[Arg],
) -> vyre::Result<Vec<Vec<u64>>> {
    use vyre::ir::Literal;
    use vyre_testkit::Value;
    let inputs: Vec<Value> = args
        .iter()
        .zip(spec.params)
        .map(|(a, p)| match (a, p) {
            (Arg::Buf(bits), ParamSpec::Buffer { elem, .. }) => Value::Buffer {
                elem: *elem,
                data: bits.iter().map(|&b| u64::from(b)).collect(),
            },
            (Arg::Buf64(bits), ParamSpec::Buffer { elem, .. }) => Value::Buffer {
                elem: *elem,
                data: bits.clone(),
            },
            (Arg::Buf(_) | Arg::Buf64(_), ParamSpec::Scalar { name, .. }) => {
                panic!("{}: buffer passed for scalar `{name}`", spec.name)
            }
            (Arg::U32(v), _) => Value::Scalar(Literal::U32(*v)),
            (Arg::I32(v), _) => Value::Scalar(Literal::I32(*v)),
            (Arg::F32(v), _) => Value::Scalar(Literal::f32(*v)),
            (Arg::Bool(v), _) => Value::Scalar(Literal::Bool(*v)),
            (Arg::Lit(l), _) => Value::Scalar(*l),
        })
        .collect();
    let outputs = vyre_testkit::harness::launch_values(device, spec, grid, &inputs)?;
    Ok(outputs.into_iter().flatten().collect())
}

// ---- Subgroup operations ----

use vyre::ir::{Axis, Builtin, SubgroupOp};

/// How a shuffle's lane operand is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneOperand {
    /// Loaded from the `lanes` buffer (a run-time value).
    Loaded,
    /// A constant.
    Const(u32),
}

/// The value types `op` takes (its first operand; `U32` for the lane and
/// the size, which take none).
pub fn subgroup_types(op: SubgroupOp) -> Vec<DataType> {
    if op.arity() == 0 {
        return vec![DataType::U32];
    }
    [DataType::I32, DataType::U32, DataType::F32, DataType::Bool]
        .into_iter()
        .filter(|&ty| {
            let args = [ty, DataType::U32];
            vyre::ir::validate::subgroup_type(op, &args[..op.arity()]).is_some()
        })
        .collect()
}

/// `out[g] = op(x[g], lane)` at the flat global index `g` (the flat local
/// index plus the workgroup's offset, so any workgroup shape numbers the
/// invocations `0..`), where `lane` is `lanes[g]` or a constant. A `bool`
/// operand is `x[g] != 0` (`x` holds `u32`), a `bool` result is stored as
/// 0/1. Before it, a branch on the loaded data stores to `out` (later
/// overwritten), so the warp has diverged and must reconverge for the
/// collective. Loads past the end read 0; the store is guarded.
pub fn subgroup_program(op: SubgroupOp, ty: DataType, wg: [u32; 3], lane: LaneOperand) -> Program {
    let lane_name = match lane {
        LaneOperand::Loaded => String::new(),
        LaneOperand::Const(c) => format!("_c{c}"),
    };
    let name = format!(
        "sg_{}_{}_{}x{}x{}{lane_name}",
        op.name(),
        ty.name(),
        wg[0],
        wg[1],
        wg[2]
    );
    let storage = if ty == DataType::Bool {
        DataType::U32
    } else {
        ty
    };
    let args = [ty, DataType::U32];
    let result = vyre::ir::validate::subgroup_type(op, &args[..op.arity()])
        .unwrap_or_else(|| panic!("{} does not take {ty}", op.name()));
    let out_ty = if result == DataType::Bool {
        DataType::U32
    } else {
        result
    };
    let mut b = ProgramBuilder::new(name, wg);
    let x = b.buffer("x", storage, Access::Read);
    let lanes = b.buffer("lanes", DataType::U32, Access::Read);
    let out = b.buffer("out", out_ty, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    let r = b.local("r", result, false);
    let id = |a| Expr::Builtin(Builtin::LocalId, a);
    let flat = id(Axis::X)
        .add(id(Axis::Y).mul(Expr::u32(wg[0])))
        .add(id(Axis::Z).mul(Expr::u32(wg[0] * wg[1])));
    let group = Expr::Builtin(Builtin::WorkgroupId, Axis::X);
    b.body(|blk| {
        blk.let_(g, group.mul(Expr::u32(wg.iter().product())).add(flat));
        let xg = Expr::load(BufRef::Param(x), Expr::local(g));
        blk.if_(
            Expr::load(BufRef::Param(lanes), Expr::local(g))
                .bitand(Expr::u32(1))
                .eq(Expr::u32(1))
                .and(Expr::local(g).lt(Expr::len(out))),
            |t| {
                let zero = match out_ty {
                    DataType::F32 => Expr::f32(0.0),
                    DataType::I32 => Expr::i32(0),
                    _ => Expr::u32(0),
                };
                t.store(BufRef::Param(out), Expr::local(g), zero);
            },
        );
        let v = if ty == DataType::Bool {
            xg.ne(Expr::u32(0))
        } else {
            xg
        };
        let lane_op = match lane {
            LaneOperand::Loaded => Expr::load(BufRef::Param(lanes), Expr::local(g)),
            LaneOperand::Const(c) => Expr::u32(c),
        };
        let operands = [v, lane_op];
        blk.let_(r, Expr::Subgroup(op, operands[..op.arity()].to_vec()));
        let stored = if result == DataType::Bool {
            Expr::local(r).cast(DataType::U32)
        } else {
            Expr::local(r)
        };
        blk.if_(Expr::local(g).lt(Expr::len(out)), |t| {
            t.store(BufRef::Param(out), Expr::local(g), stored);
        });
    });
    b.finish()
}

// ---- Narrow element types ----

/// The 16- and 8-bit types, which live in memory only (values are computed
/// in their register type, see `vyre::mid::widen`).
pub const NARROW: [DataType; 6] = [
    DataType::F16,
    DataType::BF16,
    DataType::U8,
    DataType::I8,
    DataType::U16,
    DataType::I16,
];

/// `v` (of narrow type `n`) doubled in its register type and converted
/// back: `(v as f32 * 2.0) as n` for floats, `(v as R + v as R) as n`
/// (wrapping) for integers.
pub fn narrow_double(n: DataType, v: Expr) -> Expr {
    let r = n.register_type();
    let w = v.cast(r);
    let d = if n.is_float() {
        w.mul(Expr::f32(2.0))
    } else {
        w.clone().add(w)
    };
    d.cast(n)
}

/// `y[i] = (a * x[i] as R) as N` (`R` the register type of `n`; integers
/// wrap), guarded by `i < y.len()` (so `x[i]` keeps its check).
pub fn narrow_scale(n: DataType) -> Program {
    let r = n.register_type();
    let mut b = ProgramBuilder::new(format!("scale_{}", n.name()), [64, 1, 1]);
    let a = b.scalar("a", r);
    let x = b.buffer("x", n, Access::Read);
    let y = b.buffer("y", n, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |t| {
            let xi = Expr::load(BufRef::Param(x), Expr::local(i)).cast(r);
            t.store(
                BufRef::Param(y),
                Expr::local(i),
                Expr::param(a).mul(xi).cast(n),
            );
        });
    });
    b.finish()
}

/// `out[i] = (x[i] as N) as R` (`R` the register type of `n`): one rounding
/// (floats) or wrapping (integers) per element.
pub fn narrow_round_program(n: DataType) -> Program {
    let r = n.register_type();
    let mut b = ProgramBuilder::new(format!("round_{}", n.name()), [64, 1, 1]);
    let x = b.buffer("x", r, Access::Read);
    let out = b.buffer("out", r, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let v = Expr::load(BufRef::Param(x), Expr::local(i));
            t.store(BufRef::Param(out), Expr::local(i), v.cast(n).cast(r));
        });
    });
    b.finish()
}

/// `width` consecutive elements at `i = global_id().x * mult` read into
/// locals (as `load8` does), then `y[i + k] = double(v_k)` (see
/// [`narrow_double`]). `proven`: guarded by `i + width - 1` below both
/// lengths (no checks); else by `i < y.len()` only (vector accesses keep
/// per-element fallbacks at a partial tail).
pub fn narrow_vector_program(n: DataType, width: u32, mult: u32, proven: bool) -> Program {
    let name = format!(
        "vec{width}_{}_m{mult}{}",
        n.name(),
        if proven { "" } else { "_checked" }
    );
    let mut b = ProgramBuilder::new(name, [64, 1, 1]);
    let x = b.buffer("x", n, Access::Read);
    let y = b.buffer("y", n, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let vs: Vec<_> = (0..width)
        .map(|k| b.local(format!("v{k}"), n, false))
        .collect();
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x().mul(Expr::u32(mult)));
        let at = |k: u32| Expr::local(i).add(Expr::u32(k));
        let cond = if proven {
            at(width - 1)
                .lt(Expr::len(x))
                .and(at(width - 1).lt(Expr::len(y)))
        } else {
            Expr::local(i).lt(Expr::len(y))
        };
        blk.if_(cond, |t| {
            for (k, v) in (0..).zip(&vs) {
                t.let_(*v, Expr::load(BufRef::Param(x), at(k)));
            }
            for (k, v) in (0..).zip(&vs) {
                t.store(BufRef::Param(y), at(k), narrow_double(n, Expr::local(*v)));
            }
        });
    });
    b.finish()
}

/// Narrow shared and private arrays indexed at run time:
/// `sh: [bf16; 64]` holds each thread's `x[i]` rounded to `bf16`;
/// `bytes: [u8; 10]` gets `(j * 97 + l * 5) as u8` at `(l + j) % 10` for
/// `j` in `0..10` (`l = local_id().x`); then
/// `out[i] = sh[(l + 1) % 64] as f32 + bytes[(l + 3) % 10] as f32`
/// (the second term is `(291 + 5 * l) % 256`).
pub fn narrow_arrays_program() -> Program {
    let mut b = ProgramBuilder::new("narrow_arrays", [64, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::BF16, 64);
    let bytes = b.private("bytes", DataType::U8, 10);
    let i = b.local("i", DataType::U32, false);
    let l = b.local("l", DataType::U32, false);
    let j = b.local("j", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(l, Expr::Builtin(Builtin::LocalId, Axis::X));
        blk.store(
            BufRef::Shared(sh),
            Expr::local(l),
            Expr::load(BufRef::Param(x), Expr::local(i)).cast(DataType::BF16),
        );
        blk.barrier();
        blk.for_(j, Expr::u32(0), Expr::u32(10), |f| {
            f.store(
                BufRef::Private(bytes),
                Expr::local(l).add(Expr::local(j)).rem(Expr::u32(10)),
                Expr::local(j)
                    .mul(Expr::u32(97))
                    .add(Expr::local(l).mul(Expr::u32(5)))
                    .cast(DataType::U8),
            );
        });
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let s = Expr::load(
                BufRef::Shared(sh),
                Expr::local(l).add(Expr::u32(1)).rem(Expr::u32(64)),
            )
            .cast(DataType::F32);
            let c = Expr::load(
                BufRef::Private(bytes),
                Expr::local(l).add(Expr::u32(3)).rem(Expr::u32(10)),
            )
            .cast(DataType::F32);
            t.store(BufRef::Param(out), Expr::local(i), s.add(c));
        });
    });
    b.finish()
}

/// 16-byte groups of narrow shared and private arrays: each thread stores
/// eight `f16` values `x[i] * o` (`o` in `0..8`) at `sh[8 l ..]`, and after
/// a barrier sums its neighbour's eight; a private `[u16; 8]` gets four
/// values `o + 1` at run-time index `4 * (l % 2)` and the constant-index
/// elements 4..8 are read back:
/// `out[i] = sum(sh[8 ((l + 1) % 64) + o]) + sum(acc[4..8])`.
pub fn narrow_array_vectors_program() -> Program {
    let mut b = ProgramBuilder::new("narrow_array_vectors", [64, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::F16, 512);
    let acc = b.private("acc", DataType::U16, 8);
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    let v = b.local("v", DataType::F32, false);
    let r = b.local("r", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(k, lid().mul(Expr::u32(8)));
        blk.let_(v, Expr::load(BufRef::Param(x), Expr::local(i)));
        for o in 0..8 {
            blk.store(
                BufRef::Shared(sh),
                Expr::local(k).add(Expr::u32(o)),
                Expr::local(v).mul(Expr::f32(o as f32)).cast(DataType::F16),
            );
        }
        blk.barrier();
        blk.let_(
            r,
            lid().add(Expr::u32(1)).rem(Expr::u32(64)).mul(Expr::u32(8)),
        );
        blk.let_(j, lid().rem(Expr::u32(2)).mul(Expr::u32(4)));
        for o in 0..4 {
            blk.store(
                BufRef::Private(acc),
                Expr::local(j).add(Expr::u32(o)),
                Expr::Lit(vyre::ir::Literal::U16(o as u16 + 1)),
            );
        }
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let shared = (0..8)
                .map(|o| {
                    Expr::load(BufRef::Shared(sh), Expr::local(r).add(Expr::u32(o)))
                        .cast(DataType::F32)
                })
                .reduce(Expr::add)
                .unwrap();
            let private = (4..8)
                .map(|c| Expr::load(BufRef::Private(acc), Expr::u32(c)).cast(DataType::F32))
                .reduce(Expr::add)
                .unwrap();
            t.store(BufRef::Param(out), Expr::local(i), shared.add(private));
        });
    });
    b.finish()
}

/// `out_t[i] = x[i] as t` for every type `t` but `bool`, from one `from`
/// buffer (`bool` read as `x[i] != 0` from a `u32` buffer).
pub fn casts_from_program(from: DataType) -> Program {
    let mut b = ProgramBuilder::new(format!("casts_from_{}", from.name()), [64, 1, 1]);
    let storage = if from == DataType::Bool {
        DataType::U32
    } else {
        from
    };
    let x = b.buffer("x", storage, Access::Read);
    let tos: Vec<DataType> = DataType::ALL
        .into_iter()
        .filter(|t| *t != DataType::Bool)
        .collect();
    let outs: Vec<_> = tos
        .iter()
        .map(|t| b.buffer(format!("out_{}", t.name()), *t, Access::ReadWrite))
        .collect();
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(x)), |t| {
            for (to, out) in tos.iter().zip(&outs) {
                let mut v = Expr::load(BufRef::Param(x), Expr::local(i));
                if from == DataType::Bool {
                    v = v.ne(Expr::u32(0));
                }
                t.store(BufRef::Param(*out), Expr::local(i), v.cast(*to));
            }
        });
    });
    b.finish()
}

/// Every binary operator with every narrow type it accepts.
pub fn narrow_binops() -> Vec<(BinOp, DataType)> {
    use BinOp::*;
    let mut v = Vec::new();
    for op in [
        Add, Sub, Mul, Div, Rem, BitAnd, BitOr, BitXor, Shl, Shr, Eq, Ne, Lt, Le, Gt, Ge,
    ] {
        for ty in NARROW {
            if vyre::ir::validate::binary_type(op, ty, ty).is_some() {
                v.push((op, ty));
            }
        }
    }
    v
}
