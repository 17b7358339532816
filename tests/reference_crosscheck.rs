//! The bytecode interpreter against an independent, naive tree-walking
//! evaluator of the IR written from the semantics in `docs/architecture.md`,
//! on a thousand random programs from `vyre-testkit`'s generator (shared
//! memory, barriers, atomics, wild indices, floats). Both run workgroups and
//! invocations in the same sequential order, so every result must agree bit
//! for bit; this catches compilation bugs (register allocation, jump
//! patching, fused instructions) that comparing the interpreter with itself
//! through the CPU device cannot.

use std::sync::{Condvar, Mutex, MutexGuard};
use vyre::backend::reference::{RefArg, RunError, RunOptions, run_with};
use vyre::ir::validate::type_of;
use vyre::ir::{
    AtomicOp, BinOp, BufRef, Builtin, DataType, Expr, Literal, MathFn, Node, Param, Program, UnOp,
};

use vyre_testkit::{GenConfig, Value, generate};

enum Flow {
    Normal,
    Break,
    Continue,
    Return,
}

/// Everything invocations share, behind one lock: memory and the baton
/// that lets exactly one invocation run at a time.
struct World {
    bufs: Vec<Vec<u32>>,
    /// Buffer slot per parameter (None for scalars).
    slot: Vec<Option<usize>>,
    scalars: Vec<u32>,
    shared: Vec<Vec<u32>>,
    /// Index of the invocation allowed to run.
    turn: usize,
    /// Per invocation: 0 runnable this phase, 1 waiting at a barrier,
    /// 2 finished.
    state: Vec<u8>,
    /// Set when the workgroup must stop (divergence or a skip).
    abort: Option<&'static str>,
    fuel: u64,
}

impl World {
    /// Hand the baton to the next runnable invocation after `me`, or end the
    /// phase: release everyone waiting at the barrier, or detect divergence.
    fn pass(&mut self, me: usize) {
        if let Some(next) = (me + 1..self.state.len()).find(|&j| self.state[j] == 0) {
            self.turn = next;
            return;
        }
        let waiting = self.state.iter().filter(|&&s| s == 1).count();
        let finished = self.state.iter().filter(|&&s| s == 2).count();
        if waiting == 0 {
            self.turn = usize::MAX;
        } else if finished > 0 {
            self.abort = Some("divergence");
        } else {
            self.state.iter_mut().for_each(|s| *s = 0);
            self.turn = 0;
        }
    }
}

struct Walker<'p, 'g> {
    p: &'p Program,
    world: Option<MutexGuard<'g, World>>,
    /// One condition variable per invocation: only the next baton holder
    /// is woken.
    cvs: &'g [Condvar],
    me: usize,
}

struct Inv {
    locals: Vec<u32>,
    ids: [[u32; 3]; 4],
}

fn bits(l: Literal) -> u32 {
    match l {
        Literal::Bool(b) => u32::from(b),
        Literal::I32(v) => v as u32,
        Literal::U32(v) | Literal::F32(v) => v,
    }
}

fn f(x: u32) -> f32 {
    f32::from_bits(x)
}

impl Walker<'_, '_> {
    fn w(&mut self) -> &mut World {
        self.world.as_mut().expect("holding the world")
    }

    fn mem(&mut self, b: BufRef) -> &mut Vec<u32> {
        let w = self.w();
        match b {
            BufRef::Param(id) => &mut w.bufs[w.slot[id as usize].expect("buffer")],
            BufRef::Shared(id) => &mut w.shared[id as usize],
            BufRef::Private(_) => unimplemented!("TEMP: private arrays"),
        }
    }

    fn tick(&mut self) -> Result<(), &'static str> {
        let w = self.w();
        w.fuel = w.fuel.checked_sub(1).ok_or("out of fuel")?;
        Ok(())
    }

    /// Wait at a barrier: pass the baton, sleep until it comes back.
    fn barrier(&mut self) -> Result<(), &'static str> {
        let me = self.me;
        let mut g = self.world.take().expect("holding the world");
        g.state[me] = 1;
        g.pass(me);
        wake(self.cvs, &g);
        let g = self.cvs[me]
            .wait_while(g, |w| w.abort.is_none() && w.turn != me)
            .expect("lock");
        let abort = g.abort;
        self.world = Some(g);
        abort.map_or(Ok(()), Err)
    }

    fn eval(&mut self, inv: &mut Inv, e: &Expr) -> u32 {
        let p = self.p;
        let ty = |e: &Expr| type_of(p, e).expect("typed");
        match e {
            Expr::Lit(l) => bits(*l),
            Expr::Local(id) => inv.locals[*id as usize],
            Expr::Param(id) => self.w().scalars[*id as usize],
            Expr::Builtin(b, a) => {
                let k = match b {
                    Builtin::GlobalId => 0,
                    Builtin::LocalId => 1,
                    Builtin::WorkgroupId => 2,
                    Builtin::NumWorkgroups => 3,
                };
                inv.ids[k][a.index()]
            }
            Expr::Len(id) => self.mem(BufRef::Param(*id)).len() as u32,
            Expr::Load { buf, index } => {
                let i = self.eval(inv, index) as usize;
                self.mem(*buf).get(i).copied().unwrap_or(0)
            }
            Expr::Unary(op, a) => {
                let t = ty(a);
                let x = self.eval(inv, a);
                match (op, t) {
                    (UnOp::Neg, DataType::F32) => (-f(x)).to_bits(),
                    (UnOp::Neg, _) => (x as i32).wrapping_neg() as u32,
                    (UnOp::Not, DataType::Bool) => u32::from(x == 0),
                    (UnOp::Not, _) => !x,
                }
            }
            Expr::Binary(op, a, b) => {
                let t = ty(a);
                let x = self.eval(inv, a);
                let y = self.eval(inv, b);
                binary(*op, t, x, y)
            }
            Expr::Cast(to, a) => {
                let from = ty(a);
                let x = self.eval(inv, a);
                match (from, to) {
                    (DataType::F32, DataType::I32) => f(x) as i32 as u32,
                    (DataType::F32, DataType::U32) => f(x) as u32,
                    (DataType::I32, DataType::F32) => (x as i32 as f32).to_bits(),
                    (DataType::U32 | DataType::Bool, DataType::F32) => (x as f32).to_bits(),
                    _ => x,
                }
            }
            Expr::Math(m, args) => {
                let t = ty(&args[0]);
                let v: Vec<u32> = args.iter().map(|a| self.eval(inv, a)).collect();
                math(*m, t, &v)
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.eval(inv, cond);
                let a = self.eval(inv, then);
                let b = self.eval(inv, otherwise);
                if c != 0 { a } else { b }
            }
        }
    }

    /// An atomic statement; returns the old value.
    fn atomic(
        &mut self,
        inv: &mut Inv,
        op: AtomicOp,
        buf: BufRef,
        index: &Expr,
        expected: Option<&Expr>,
        value: &Expr,
    ) -> u32 {
        let signed = self.p.elem_type(buf) == Some(DataType::I32);
        let i = self.eval(inv, index) as usize;
        let x = expected.map(|x| self.eval(inv, x));
        let v = self.eval(inv, value);
        let m = self.mem(buf);
        let Some(old) = m.get(i).copied() else {
            return 0;
        };
        let new = match op {
            AtomicOp::Add => old.wrapping_add(v),
            AtomicOp::Sub => old.wrapping_sub(v),
            AtomicOp::Min if signed => (old as i32).min(v as i32) as u32,
            AtomicOp::Min => old.min(v),
            AtomicOp::Max if signed => (old as i32).max(v as i32) as u32,
            AtomicOp::Max => old.max(v),
            AtomicOp::And => old & v,
            AtomicOp::Or => old | v,
            AtomicOp::Xor => old ^ v,
            AtomicOp::Exchange => v,
            AtomicOp::CompareExchange => {
                if Some(old) == x {
                    v
                } else {
                    old
                }
            }
        };
        m[i] = new;
        old
    }

    fn block(&mut self, inv: &mut Inv, body: &[Node]) -> Result<Flow, &'static str> {
        for n in body {
            self.tick()?;
            match n {
                Node::Let { local, value } | Node::Assign { local, value } => {
                    let v = self.eval(inv, value);
                    inv.locals[*local as usize] = v;
                }
                Node::Store { buf, index, value } => {
                    let i = self.eval(inv, index) as usize;
                    let v = self.eval(inv, value);
                    if let Some(w) = self.mem(*buf).get_mut(i) {
                        *w = v;
                    }
                }
                Node::Atomic {
                    op,
                    buf,
                    index,
                    expected,
                    value,
                    result,
                } => {
                    let old = self.atomic(inv, *op, *buf, index, expected.as_ref(), value);
                    if let Some(local) = result.local() {
                        inv.locals[local as usize] = old;
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = self.eval(inv, cond);
                    let flow = self.block(inv, if c != 0 { then } else { otherwise })?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::While { cond, body } => loop {
                    self.tick()?;
                    if self.eval(inv, cond) == 0 {
                        break;
                    }
                    match self.block(inv, body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Normal | Flow::Continue => {}
                    }
                },
                Node::For {
                    var,
                    start,
                    end,
                    body,
                    ..
                } => {
                    let signed = self.p.locals[*var as usize].ty == DataType::I32;
                    let mut i = self.eval(inv, start);
                    let e = self.eval(inv, end);
                    let lt = |a: u32, b: u32| {
                        if signed {
                            (a as i32) < (b as i32)
                        } else {
                            a < b
                        }
                    };
                    while lt(i, e) {
                        self.tick()?;
                        inv.locals[*var as usize] = i;
                        match self.block(inv, body)? {
                            Flow::Break => break,
                            Flow::Return => return Ok(Flow::Return),
                            Flow::Normal | Flow::Continue => {}
                        }
                        i = i.wrapping_add(1);
                    }
                }
                Node::Loop { body } => loop {
                    self.tick()?;
                    match self.block(inv, body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Normal | Flow::Continue => {}
                    }
                },
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Return => return Ok(Flow::Return),
                Node::Barrier => self.barrier()?,
            }
        }
        Ok(Flow::Normal)
    }
}

fn binary(op: BinOp, t: DataType, x: u32, y: u32) -> u32 {
    use DataType::{F32, I32};
    let b = u32::from;
    let (xi, yi) = (x as i32, y as i32);
    match op {
        BinOp::Add if t == F32 => (f(x) + f(y)).to_bits(),
        BinOp::Sub if t == F32 => (f(x) - f(y)).to_bits(),
        BinOp::Mul if t == F32 => (f(x) * f(y)).to_bits(),
        BinOp::Div if t == F32 => (f(x) / f(y)).to_bits(),
        BinOp::Rem if t == F32 => (f(x) % f(y)).to_bits(),
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div if y == 0 => 0,
        BinOp::Rem if y == 0 => 0,
        BinOp::Div if t == I32 => xi.wrapping_div(yi) as u32,
        BinOp::Rem if t == I32 => xi.wrapping_rem(yi) as u32,
        BinOp::Div => x / y,
        BinOp::Rem => x % y,
        BinOp::BitAnd | BinOp::And => x & y,
        BinOp::BitOr | BinOp::Or => x | y,
        BinOp::BitXor => x ^ y,
        BinOp::Shl => x << (y & 31),
        BinOp::Shr if t == I32 => (xi >> (y & 31)) as u32,
        BinOp::Shr => x >> (y & 31),
        BinOp::Eq if t == F32 => b(f(x) == f(y)),
        BinOp::Ne if t == F32 => b(f(x) != f(y)),
        BinOp::Eq => b(x == y),
        BinOp::Ne => b(x != y),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ord = match t {
                F32 => f(x).partial_cmp(&f(y)),
                I32 => Some(xi.cmp(&yi)),
                _ => Some(x.cmp(&y)),
            };
            let Some(o) = ord else { return 0 };
            b(match op {
                BinOp::Lt => o.is_lt(),
                BinOp::Le => o.is_le(),
                BinOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

fn math(m: MathFn, t: DataType, v: &[u32]) -> u32 {
    use DataType::{F32, I32};
    let fl = |g: fn(f32) -> f32| g(f(v[0])).to_bits();
    match (m, t) {
        (MathFn::Sqrt, _) => fl(f32::sqrt),
        (MathFn::Exp, _) => fl(f32::exp),
        (MathFn::Ln, _) => fl(f32::ln),
        (MathFn::Sin, _) => fl(f32::sin),
        (MathFn::Cos, _) => fl(f32::cos),
        (MathFn::Tanh, _) => fl(f32::tanh),
        (MathFn::Floor, _) => fl(f32::floor),
        (MathFn::Ceil, _) => fl(f32::ceil),
        (MathFn::Abs, F32) => fl(f32::abs),
        (MathFn::Abs, _) => (v[0] as i32).wrapping_abs() as u32,
        (MathFn::Powf, _) => f(v[0]).powf(f(v[1])).to_bits(),
        (MathFn::MulAdd, _) => f(v[0]).mul_add(f(v[1]), f(v[2])).to_bits(),
        (MathFn::Min, F32) => f(v[0]).min(f(v[1])).to_bits(),
        (MathFn::Max, F32) => f(v[0]).max(f(v[1])).to_bits(),
        (MathFn::Min, I32) => (v[0] as i32).min(v[1] as i32) as u32,
        (MathFn::Max, I32) => (v[0] as i32).max(v[1] as i32) as u32,
        (MathFn::Min, _) => v[0].min(v[1]),
        (MathFn::Max, _) => v[0].max(v[1]),
        (MathFn::Clamp, F32) => f(v[0]).max(f(v[1])).min(f(v[2])).to_bits(),
        (MathFn::Clamp, I32) => (v[0] as i32).max(v[1] as i32).min(v[2] as i32) as u32,
        (MathFn::Clamp, _) => v[0].max(v[1]).min(v[2]),
    }
}

/// Wake whoever may run now: the baton holder, or everyone on abort.
fn wake(cvs: &[Condvar], w: &World) {
    if w.abort.is_some() {
        cvs.iter().for_each(Condvar::notify_all);
    } else if let Some(cv) = cvs.get(w.turn) {
        cv.notify_all();
    }
}

/// What the walker concluded.
enum Walked {
    Done(Vec<Vec<u32>>),
    Divergence,
    Skipped(&'static str),
}

/// Run like the reference: workgroups in order; within one, invocations in
/// order, each until it finishes or reaches a barrier (one OS thread per
/// invocation, but only the holder of the baton runs).
fn walk(p: &Program, inputs: &[Value], grid: [u32; 3]) -> Walked {
    let mut world = World {
        bufs: Vec::new(),
        slot: Vec::new(),
        scalars: Vec::new(),
        shared: Vec::new(),
        turn: 0,
        state: Vec::new(),
        abort: None,
        fuel: 5_000_000,
    };
    for v in inputs {
        match v {
            Value::Buffer { data, .. } => {
                world.slot.push(Some(world.bufs.len()));
                world.bufs.push(data.clone());
                world.scalars.push(0);
            }
            Value::Scalar(l) => {
                world.slot.push(None);
                world.scalars.push(bits(*l));
            }
        }
    }
    let mut has_barrier = false;
    vyre::ir::walk_nodes(&p.body, &mut |n| has_barrier |= matches!(n, Node::Barrier));
    let ws = p.workgroup_size;
    let n = ws.iter().product::<u32>() as usize;
    let world = Mutex::new(world);
    let cvs: Vec<Condvar> = (0..n).map(|_| Condvar::new()).collect();
    for wz in 0..grid[2] {
        for wy in 0..grid[1] {
            for wx in 0..grid[0] {
                let wid = [wx, wy, wz];
                {
                    let mut w = world.lock().expect("lock");
                    w.shared = p.shared.iter().map(|s| vec![0; s.len as usize]).collect();
                    w.state = vec![0; n];
                    w.turn = 0;
                }
                let inv = |k: usize| {
                    let k = k as u32;
                    let lid = [k % ws[0], (k / ws[0]) % ws[1], k / (ws[0] * ws[1])];
                    let gid = std::array::from_fn(|a| wid[a] * ws[a] + lid[a]);
                    Inv {
                        locals: vec![0; p.locals.len()],
                        ids: [gid, lid, wid, grid],
                    }
                };
                let run_one = |me: usize| {
                    let g = cvs[me]
                        .wait_while(world.lock().expect("lock"), |w| {
                            w.abort.is_none() && w.turn != me
                        })
                        .expect("lock");
                    if g.abort.is_some() {
                        return;
                    }
                    let mut walker = Walker {
                        p,
                        world: Some(g),
                        cvs: &cvs,
                        me,
                    };
                    let mut state = inv(me);
                    let result = walker.block(&mut state, &p.body);
                    let mut g = walker.world.take().expect("holding the world");
                    match result {
                        Ok(_) => {
                            g.state[me] = 2;
                            g.pass(me);
                        }
                        Err(why) => {
                            if g.abort.is_none() {
                                g.abort = Some(why);
                            }
                        }
                    }
                    wake(&cvs, &g);
                    drop(g);
                };
                if has_barrier {
                    std::thread::scope(|scope| {
                        for me in 0..n {
                            scope.spawn(move || run_one(me));
                        }
                    });
                } else {
                    (0..n).for_each(run_one);
                }
                let w = world.lock().expect("lock");
                match w.abort {
                    Some("divergence") => return Walked::Divergence,
                    Some(why) => return Walked::Skipped(why),
                    None => {}
                }
            }
        }
    }
    Walked::Done(world.into_inner().expect("lock").bufs)
}

fn bytecode(p: &Program, inputs: &[Value], grid: [u32; 3]) -> Result<Vec<Vec<u32>>, RunError> {
    let mut bufs: Vec<Vec<u32>> = inputs
        .iter()
        .filter_map(|v| match v {
            Value::Buffer { data, .. } => Some(data.clone()),
            Value::Scalar(_) => None,
        })
        .collect();
    {
        let mut it = bufs.iter_mut();
        let mut args: Vec<RefArg<'_>> = inputs
            .iter()
            .map(|v| match v {
                Value::Buffer { .. } => RefArg::Buffer(it.next().expect("buffer")),
                Value::Scalar(l) => RefArg::Scalar(*l),
            })
            .collect();
        let opts = RunOptions {
            max_steps_per_invocation: Some(50_000_000),
            threads: Some(1),
        };
        run_with(p, grid, &mut args, &opts)?;
    }
    Ok(bufs)
}

#[test]
fn bytecode_agrees_with_a_tree_walker() {
    let configs = [
        GenConfig::default(),
        GenConfig {
            shared: false,
            max_expr_depth: 5,
            ..GenConfig::default()
        },
        GenConfig {
            max_depth: 5,
            max_stmts: 8,
            max_total_stmts: 80,
            ..GenConfig::default()
        },
    ];
    let (mut checked, mut skipped, mut diverged) = (0, 0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    for (c, cfg) in configs.iter().enumerate() {
        for seed in 0..350u64 {
            let case = generate(seed * 7 + c as u64, cfg);
            let want = walk(&case.program, &case.inputs, case.grid);
            let got = bytecode(&case.program, &case.inputs, case.grid);
            match (want, got) {
                (Walked::Skipped(why), _) => {
                    skipped += 1;
                    *reasons.entry((c, why)).or_insert(0) += 1;
                }
                (Walked::Divergence, Err(RunError::BarrierDivergence { .. })) => diverged += 1,
                (Walked::Done(w), Ok(g)) => {
                    assert_eq!(
                        w,
                        g,
                        "seed {seed}, config {c}: results differ for\n{}",
                        vyre::lang::print(&case.program)
                    );
                    checked += 1;
                }
                (Walked::Divergence, other) => panic!(
                    "seed {seed}, config {c}: walker saw barrier divergence, bytecode {other:?}"
                ),
                (Walked::Done(_), Err(e)) => {
                    panic!("seed {seed}, config {c}: bytecode failed: {e}")
                }
            }
        }
    }
    println!("checked {checked}, divergent {diverged}, skipped {skipped}: {reasons:?}");
    assert!(
        checked + diverged >= 1000,
        "only {checked} cases compared ({skipped} skipped)"
    );
}

/// Parameters are where the walker expects them.
#[test]
fn walker_handles_all_param_kinds() {
    let case = generate(1, &GenConfig::default());
    assert!(
        case.program
            .params
            .iter()
            .any(|p| matches!(p, Param::Buffer(_)))
    );
    assert!(matches!(
        walk(&case.program, &case.inputs, case.grid),
        Walked::Done(_) | Walked::Divergence
    ));
}

/// Both implementations flag the same barrier divergence.
#[test]
fn both_detect_barrier_divergence() {
    let p = vyre_testkit::programs::divergent_barrier();
    let inputs = [Value::Buffer {
        elem: DataType::U32,
        data: vec![0],
    }];
    assert!(matches!(walk(&p, &inputs, [2, 1, 1]), Walked::Divergence));
    assert!(matches!(
        bytecode(&p, &inputs, [2, 1, 1]),
        Err(RunError::BarrierDivergence { .. })
    ));
}
