//! Programs over the narrow element types (`f16 bf16 u8 i8 u16 i16`), with
//! inputs and expected outputs as packed little-endian bytes (the host
//! layout), computed on the host with `half` and Rust's casts: every
//! operation on a narrow type is done in its register type and rounded
//! (floats, to nearest even) or wrapped back, as the language defines.

use half::{bf16, f16};
use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, Literal, MathFn, Program, ProgramBuilder,
};

/// The six narrow types.
pub const TYPES: [DataType; 6] = [
    DataType::F16,
    DataType::BF16,
    DataType::U8,
    DataType::I8,
    DataType::U16,
    DataType::I16,
];

/// One launch argument.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A buffer's initial bytes (packed elements).
    Buf(Vec<u8>),
    /// A `u32` scalar.
    U32(u32),
    /// An `f32` scalar (also a narrow float parameter, widened by the host).
    F32(f32),
}

/// How an output buffer is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// Bit for bit.
    Bits,
    /// Bit for bit, except that any NaN matches any NaN (float arithmetic
    /// on a NaN may give any NaN).
    AnyNan,
}

/// A program with packed inputs, a grid and expected packed outputs.
pub struct Case {
    /// The kernel (narrow types as written: `mid::widen` runs in lowering).
    pub program: Program,
    /// Arguments in parameter order.
    pub args: Vec<Arg>,
    /// Workgroups to launch.
    pub workgroups: [u32; 3],
    /// Expected final bytes of read-write buffers, by parameter index.
    pub expected: Vec<(usize, Vec<u8>, Cmp)>,
}

// ---------------------------------------------------------------------------
// Host semantics.

/// The register-type bits of the narrow element with bits `b`.
#[must_use]
pub fn widen(t: DataType, b: u32) -> u32 {
    match t {
        DataType::F16 => f16::from_bits(b as u16).to_f32().to_bits(),
        DataType::BF16 => bf16::from_bits(b as u16).to_f32().to_bits(),
        DataType::U8 => b & 0xff,
        DataType::U16 => b & 0xffff,
        DataType::I8 => i32::from(b as u8 as i8).cast_unsigned(),
        DataType::I16 => i32::from(b as u16 as i16).cast_unsigned(),
        _ => b,
    }
}

/// The bits of the register-type value `r` rounded or wrapped to `t`.
#[must_use]
pub fn narrow(t: DataType, r: u32) -> u32 {
    match t {
        DataType::F16 => u32::from(f16::from_f32(f32::from_bits(r)).to_bits()),
        DataType::BF16 => u32::from(bf16::from_f32(f32::from_bits(r)).to_bits()),
        DataType::U8 | DataType::I8 => r & 0xff,
        DataType::U16 | DataType::I16 => r & 0xffff,
        _ => r,
    }
}

/// `a op b` in `t` (bits in, bits out): computed in the register type,
/// then rounded or wrapped.
fn arith(t: DataType, op: char, a: u32, b: u32) -> u32 {
    let (a, b) = (widen(t, a), widen(t, b));
    let r = if t.is_float() {
        let (x, y) = (f32::from_bits(a), f32::from_bits(b));
        match op {
            '+' => x + y,
            '-' => x - y,
            '*' => x * y,
            _ => unreachable!(),
        }
        .to_bits()
    } else {
        match op {
            '+' => a.wrapping_add(b),
            '-' => a.wrapping_sub(b),
            '*' => a.wrapping_mul(b),
            _ => unreachable!(),
        }
    };
    narrow(t, r)
}

/// Elements (bits) packed little endian, `t.size_bytes()` each.
#[must_use]
pub fn pack(t: DataType, bits: &[u32]) -> Vec<u8> {
    let size = t.size_bytes() as usize;
    bits.iter()
        .flat_map(|b| b.to_le_bytes().into_iter().take(size))
        .collect()
}

/// The elements (bits) of packed bytes.
#[must_use]
pub fn unpack(t: DataType, bytes: &[u8]) -> Vec<u32> {
    let size = t.size_bytes() as usize;
    bytes
        .chunks(size)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

/// The literal of `t` with bits `b`.
fn lit(t: DataType, b: u32) -> Expr {
    Expr::Lit(Literal::from_bits(t, b))
}

/// The bits of the `t` nearest `v` (a small constant).
fn bits_of(t: DataType, v: f32) -> u32 {
    if t.is_float() {
        narrow(t, v.to_bits())
    } else {
        narrow(t, (v as i32).cast_unsigned())
    }
}

/// Whether the bits `b` of `t` are a NaN.
pub fn is_nan(t: DataType, b: u32) -> bool {
    match t {
        DataType::F16 | DataType::BF16 => f32::from_bits(widen(t, b)).is_nan(),
        DataType::F32 => f32::from_bits(b).is_nan(),
        _ => false,
    }
}

/// Compare packed outputs of `t`; a description of the first mismatches.
pub fn compare(t: DataType, got: &[u8], want: &[u8], cmp: Cmp) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} bytes, want {}", got.len(), want.len()));
    }
    let (g, w) = (unpack(t, got), unpack(t, want));
    let bad: Vec<String> = g
        .iter()
        .zip(&w)
        .enumerate()
        .filter(|&(_, (a, b))| a != b && !(cmp == Cmp::AnyNan && is_nan(t, *a) && is_nan(t, *b)))
        .map(|(k, (a, b))| format!("[{k}] got {a:#x} want {b:#x}"))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} elements differ: {}",
            bad.len(),
            g.len(),
            bad.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// A deterministic xorshift stream.
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed` (nonzero).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 16) as u32
    }
}

fn gid() -> Expr {
    Expr::Builtin(Builtin::GlobalId, Axis::X)
}

fn lid() -> Expr {
    Expr::Builtin(Builtin::LocalId, Axis::X)
}

fn load(p: u32, i: Expr) -> Expr {
    Expr::load(BufRef::Param(p), i)
}

fn groups(threads: usize) -> [u32; 3] {
    [threads.div_ceil(64) as u32, 1, 1]
}

// ---------------------------------------------------------------------------
// Programs.

/// `w[i] = x[i] as R` (past the end of `x`: 0) and, for `i % 3 != 0`,
/// `y[i] = x[i] * c1 + c2` in `t`: neighbouring invocations store into the
/// same word at once, and the elements with `i % 3 == 0` must keep their
/// initial value. Odd lengths leave partial words.
pub fn map(t: DataType) -> Case {
    let r = t.register_type();
    let n = 1001usize;
    let mut b = ProgramBuilder::new(format!("narrow_map_{t}"), [64, 1, 1]);
    let x = b.buffer("x", t, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let w = b.buffer("w", r, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let (c1, c2) = if t.is_float() {
        (bits_of(t, 1.5), bits_of(t, 0.25))
    } else {
        (bits_of(t, 3.0), bits_of(t, 1.0))
    };
    b.body(|blk| {
        blk.let_(i, gid());
        blk.if_(Expr::local(i).lt(Expr::len(w)), |then| {
            then.store(
                BufRef::Param(w),
                Expr::local(i),
                load(x, Expr::local(i)).cast(r),
            );
        });
        let cond = Expr::local(i)
            .lt(Expr::len(y))
            .and(Expr::local(i).rem(Expr::u32(3)).ne(Expr::u32(0)));
        blk.if_(cond, |then| {
            let v = load(x, Expr::local(i)).mul(lit(t, c1)).add(lit(t, c2));
            then.store(BufRef::Param(y), Expr::local(i), v);
        });
    });
    let mut rng = Rng::new(0x5eed_0000 + t as u64);
    let mask = if t.size_bytes() == 1 { 0xff } else { 0xffff };
    let mut xs: Vec<u32> = (0..n).map(|_| rng.next_u32() & mask).collect();
    if t.is_float() {
        // Specials: zeros, infinities, a NaN, subnormals, the largest.
        let specials: &[f32] = &[0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        for (k, v) in specials.iter().enumerate() {
            xs[k] = narrow(t, v.to_bits());
        }
        xs[5] = 1;
        xs[6] = 0x8003;
        xs[7] = if t == DataType::F16 { 0x7bff } else { 0x7f7f };
    }
    let ys0: Vec<u32> = (0..n)
        .map(|k| (k as u32).wrapping_mul(0x9e37) & mask)
        .collect();
    let ys: Vec<u32> = (0..n)
        .map(|k| {
            if k % 3 == 0 {
                ys0[k]
            } else {
                arith(t, '+', arith(t, '*', xs[k], c1), c2)
            }
        })
        .collect();
    let ws: Vec<u32> = (0..n + 5)
        .map(|k| xs.get(k).map_or(0, |&v| widen(t, v)))
        .collect();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(t, &xs)),
            Arg::Buf(pack(t, &ys0)),
            Arg::Buf(pack(r, &vec![0xdead_beef; n + 5])),
        ],
        workgroups: groups(1024),
        expected: vec![(1, pack(t, &ys), Cmp::AnyNan), (2, pack(r, &ws), Cmp::Bits)],
    }
}

/// `w[i] = x[i] as R` for every bit pattern of `t`.
pub fn widen_all(t: DataType) -> Case {
    let r = t.register_type();
    let n = 1usize << t.bits();
    let mut b = ProgramBuilder::new(format!("narrow_widen_{t}"), [64, 1, 1]);
    let x = b.buffer("x", t, Access::Read);
    let w = b.buffer("w", r, Access::ReadWrite);
    b.body(|blk| {
        blk.if_(gid().lt(Expr::len(w)), |then| {
            then.store(BufRef::Param(w), gid(), load(x, gid()).cast(r));
        });
    });
    let xs: Vec<u32> = (0..n as u32).collect();
    let ws: Vec<u32> = xs.iter().map(|&v| widen(t, v)).collect();
    Case {
        program: b.finish(),
        args: vec![Arg::Buf(pack(t, &xs)), Arg::Buf(pack(r, &vec![0; n]))],
        workgroups: groups(n),
        expected: vec![(1, pack(r, &ws), Cmp::Bits)],
    }
}

/// The `f32` inputs that exercise rounding to `t` (`f16` or `bf16`): every
/// value of `t`, the midpoints between neighbours (ties), each of them
/// one `f32` ulp up and down, and random bit patterns.
#[must_use]
pub fn rounding_inputs(t: DataType, random: usize) -> Vec<u32> {
    let mut v = Vec::new();
    for h in 0..=0xffffu32 {
        let a = widen(t, h);
        if f32::from_bits(a).is_nan() {
            v.push(a);
            continue;
        }
        let next = widen(t, h + 1);
        for x in [a, a.wrapping_add(1), a.wrapping_sub(1)] {
            v.push(x);
        }
        // The midpoint to the next value of the same sign (exact in f32).
        if h & 0x7fff < 0x7fff && !f32::from_bits(next).is_nan() && (h & 0x8000) == (h + 1) & 0x8000
        {
            let mid =
                ((f64::from(f32::from_bits(a)) + f64::from(f32::from_bits(next))) / 2.0) as f32;
            let m = mid.to_bits();
            v.extend([m, m.wrapping_add(1), m.wrapping_sub(1)]);
        }
    }
    let mut rng = Rng::new(0xf16_0000 + t as u64);
    v.extend((0..random).map(|_| rng.next_u32()));
    // Around the overflow threshold and the subnormal range of f16.
    for base in [
        0x477f_f000u32,
        0x3880_0000,
        0x3300_0000,
        0x3380_0000,
        0x3000_0000,
    ] {
        for d in 0..64 {
            v.extend([base + d, base - d, base + d * 0x100, base - d * 0x100]);
        }
    }
    let neg: Vec<u32> = v.iter().map(|x| x ^ 0x8000_0000).collect();
    v.extend(neg);
    v
}

/// `let v: t = x[i] as t; y[i] = v; z[i] = v as f32` over `xs` (`f32`
/// bits) for a float `t`.
pub fn round(t: DataType, xs: &[u32]) -> Case {
    let n = xs.len();
    let mut b = ProgramBuilder::new(format!("narrow_round_{t}"), [64, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let z = b.buffer("z", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let v = b.local("v", t, false);
    b.body(|blk| {
        blk.let_(i, gid());
        blk.if_(Expr::local(i).ge(Expr::len(x)), |then| {
            then.return_();
        });
        blk.let_(v, load(x, Expr::local(i)).cast(t));
        blk.store(BufRef::Param(y), Expr::local(i), Expr::local(v));
        blk.store(
            BufRef::Param(z),
            Expr::local(i),
            Expr::local(v).cast(DataType::F32),
        );
    });
    let ys: Vec<u32> = xs.iter().map(|&a| narrow(t, a)).collect();
    let zs: Vec<u32> = ys.iter().map(|&h| widen(t, h)).collect();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(DataType::F32, xs)),
            Arg::Buf(pack(t, &vec![0; n])),
            Arg::Buf(pack(DataType::F32, &vec![0; n])),
        ],
        workgroups: groups(n),
        expected: vec![
            (1, pack(t, &ys), Cmp::Bits),
            (2, pack(DataType::F32, &zs), Cmp::Bits),
        ],
    }
}

/// Casts into `t` from its register type (integers wrap, floats round),
/// from `f32` (integers saturate, NaN to 0) and from `i32` (floats: to
/// `f32` first, then rounded): `y[i] = x[i] as t`, `z[i] = (x[i] as t) as
/// R`, `s[i] = f[i] as t`, `q[i] = k[i] as t`.
pub fn casts(t: DataType) -> Case {
    let r = t.register_type();
    let mut b = ProgramBuilder::new(format!("narrow_casts_{t}"), [64, 1, 1]);
    let x = b.buffer("x", r, Access::Read);
    let f = b.buffer("f", DataType::F32, Access::Read);
    let k = b.buffer("k", DataType::I32, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let z = b.buffer("z", r, Access::ReadWrite);
    let s = b.buffer("s", t, Access::ReadWrite);
    let q = b.buffer("q", t, Access::ReadWrite);
    b.body(|blk| {
        blk.if_(gid().ge(Expr::len(x)), |then| {
            then.return_();
        });
        blk.store(BufRef::Param(y), gid(), load(x, gid()).cast(t));
        blk.store(BufRef::Param(z), gid(), load(x, gid()).cast(t).cast(r));
        blk.store(BufRef::Param(s), gid(), load(f, gid()).cast(t));
        blk.store(BufRef::Param(q), gid(), load(k, gid()).cast(t));
    });
    let mut rng = Rng::new(0xca57 + t as u64);
    let mut xs: Vec<u32> = Vec::new();
    let mut fs: Vec<f32> = vec![
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        0.5,
        -0.5,
        -0.99,
        -1.0,
        127.0,
        127.5,
        127.99,
        128.0,
        -128.0,
        -128.5,
        -129.0,
        255.0,
        255.5,
        256.0,
        32767.5,
        32768.0,
        -32768.5,
        -32769.0,
        65535.5,
        65536.0,
        1e10,
        -1e10,
    ];
    let mut ks: Vec<i32> = vec![
        0,
        1,
        -1,
        2049,
        2051,
        -2051,
        65519,
        65520,
        1 << 24,
        (1 << 24) + 1,
    ];
    ks.extend([i32::MAX, i32::MIN, 0x0100_0003, -0x0100_0003]);
    if t.is_float() {
        for _ in 0..2048 {
            let v = rng.next_u32();
            xs.push(v);
        }
    } else {
        for v in -300i32..300 {
            xs.push(v.cast_unsigned());
        }
        for c in [32768i32, 65536, -32768, -65536, 1 << 20] {
            for d in -3..3 {
                xs.push((c + d).cast_unsigned());
            }
        }
        for _ in 0..1024 {
            xs.push(rng.next_u32());
        }
    }
    let n = xs.len();
    while fs.len() < n {
        let v = (rng.next_u32() % 200_000) as f32 / 1.7 - 60_000.0;
        fs.push(v);
    }
    fs.truncate(n);
    while ks.len() < n {
        ks.push(rng.next_u32().cast_signed() >> (rng.next_u32() % 24));
    }
    ks.truncate(n);
    let ys: Vec<u32> = xs.iter().map(|&v| narrow(t, v)).collect();
    let zs: Vec<u32> = ys.iter().map(|&v| widen(t, v)).collect();
    let ss: Vec<u32> = fs.iter().map(|&v| rust_cast_f32(t, v)).collect();
    let qs: Vec<u32> = ks
        .iter()
        .map(|&v| {
            if t.is_float() {
                narrow(t, (v as f32).to_bits())
            } else {
                narrow(t, v.cast_unsigned())
            }
        })
        .collect();
    let fbits: Vec<u32> = fs.iter().map(|v| v.to_bits()).collect();
    let kbits: Vec<u32> = ks.iter().map(|v| v.cast_unsigned()).collect();
    let cmp = Cmp::Bits;
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(r, &xs)),
            Arg::Buf(pack(DataType::F32, &fbits)),
            Arg::Buf(pack(DataType::I32, &kbits)),
            Arg::Buf(pack(t, &vec![0; n])),
            Arg::Buf(pack(r, &vec![0; n])),
            Arg::Buf(pack(t, &vec![0; n])),
            Arg::Buf(pack(t, &vec![0; n])),
        ],
        workgroups: groups(n),
        expected: vec![
            (3, pack(t, &ys), cmp),
            (4, pack(r, &zs), cmp),
            (5, pack(t, &ss), cmp),
            (6, pack(t, &qs), cmp),
        ],
    }
}

/// Rust's `v as t` for an `f32` `v`, as bits of `t`.
fn rust_cast_f32(t: DataType, v: f32) -> u32 {
    match t {
        DataType::F16 => u32::from(f16::from_f32(v).to_bits()),
        DataType::BF16 => u32::from(bf16::from_f32(v).to_bits()),
        DataType::U8 => u32::from(v as u8),
        DataType::I8 => u32::from(v as i8 as u8),
        DataType::U16 => u32::from(v as u16),
        DataType::I16 => u32::from(v as i16 as u16),
        _ => unreachable!(),
    }
}

/// Shared and private arrays of `t`: `s[l] = x[i]`, a barrier, `v =
/// s[(l + 1) % 64]`, a private array with run-time indices (`p[l % 4] = v;
/// p[(l + 1) % 4] = x[i]; y[i] = p[l % 4] + p[(l + 1) % 4]`) and one with
/// constant indices (`q[0] = v; q[1] = x[i]; z[i] = q[0] * q[1]`).
pub fn memory(t: DataType) -> Case {
    let wg = 64u32;
    let n = (wg * 16) as usize;
    let mut b = ProgramBuilder::new(format!("narrow_memory_{t}"), [wg, 1, 1]);
    let x = b.buffer("x", t, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let z = b.buffer("z", t, Access::ReadWrite);
    let s = b.shared("s", t, wg);
    let p = b.private("p", t, 4);
    let q = b.private("q", t, 2);
    let l = b.local("l", DataType::U32, false);
    let v = b.local("v", t, false);
    b.body(|blk| {
        blk.let_(l, lid());
        blk.store(BufRef::Shared(s), Expr::local(l), load(x, gid()));
        blk.barrier();
        blk.let_(
            v,
            Expr::load(
                BufRef::Shared(s),
                Expr::local(l).add(Expr::u32(1)).rem(Expr::u32(wg)),
            ),
        );
        let pl = || Expr::local(l).rem(Expr::u32(4));
        let pl1 = || Expr::local(l).add(Expr::u32(1)).rem(Expr::u32(4));
        blk.store(BufRef::Private(p), pl(), Expr::local(v));
        blk.store(BufRef::Private(p), pl1(), load(x, gid()));
        blk.store(
            BufRef::Param(y),
            gid(),
            Expr::load(BufRef::Private(p), pl()).add(Expr::load(BufRef::Private(p), pl1())),
        );
        blk.store(BufRef::Private(q), Expr::u32(0), Expr::local(v));
        blk.store(BufRef::Private(q), Expr::u32(1), load(x, gid()));
        blk.store(
            BufRef::Param(z),
            gid(),
            Expr::load(BufRef::Private(q), Expr::u32(0))
                .mul(Expr::load(BufRef::Private(q), Expr::u32(1))),
        );
    });
    let mut rng = Rng::new(0x3e3 + t as u64);
    let xs: Vec<u32> = (0..n)
        .map(|_| {
            if t.is_float() {
                // Finite values of moderate size.
                narrow(
                    t,
                    ((rng.next_u32() % 20_000) as f32 / 64.0 - 150.0).to_bits(),
                )
            } else {
                rng.next_u32() & if t.size_bytes() == 1 { 0xff } else { 0xffff }
            }
        })
        .collect();
    let nb = |k: usize| {
        let base = k - k % wg as usize;
        xs[base + (k % wg as usize + 1) % wg as usize]
    };
    let ys: Vec<u32> = (0..n).map(|k| arith(t, '+', nb(k), xs[k])).collect();
    let zs: Vec<u32> = (0..n).map(|k| arith(t, '*', nb(k), xs[k])).collect();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(t, &xs)),
            Arg::Buf(pack(t, &vec![0; n])),
            Arg::Buf(pack(t, &vec![0; n])),
        ],
        workgroups: groups(n),
        expected: vec![(1, pack(t, &ys), Cmp::Bits), (2, pack(t, &zs), Cmp::Bits)],
    }
}

/// Neighbouring invocations store into the same words over and over:
/// `for k in 0..16 { y[i] = (i + k) as t; }`, with an odd length. A store
/// that read, modified and wrote back the whole word would lose
/// neighbours' elements; the atomic clear-and-set keeps every one.
pub fn neighbours(t: DataType) -> Case {
    let n = 4099usize;
    let mut b = ProgramBuilder::new(format!("narrow_neighbours_{t}"), [64, 1, 1]);
    let y = b.buffer("y", t, Access::ReadWrite);
    let k = b.local("k", DataType::U32, true);
    b.body(|blk| {
        blk.if_(gid().ge(Expr::len(y)), |then| {
            then.return_();
        });
        blk.for_(k, Expr::u32(0), Expr::u32(16), |body| {
            body.store(BufRef::Param(y), gid(), gid().add(Expr::local(k)).cast(t));
        });
    });
    let ys: Vec<u32> = (0..n as u32)
        .map(|i| {
            if t.is_float() {
                narrow(t, ((i + 15) as f32).to_bits())
            } else {
                narrow(t, i + 15)
            }
        })
        .collect();
    Case {
        program: b.finish(),
        args: vec![Arg::Buf(pack(t, &vec![0x5a5a; n]))],
        workgroups: groups(n),
        expected: vec![(0, pack(t, &ys), Cmp::Bits)],
    }
}

/// Groups of four consecutive stores (what `store4` and unrolled loops
/// leave): `y[4g + j] = x[4g + j] * c1 + c2` for `j` in `0..4`, whole words
/// at a multiple of 4 (the last group partly past the end of `y`), and
/// `z[4g + 1] = .., z[4g + 2] = ..`, which fill no word (element-wise
/// stores; the other elements keep their values).
pub fn vector(t: DataType) -> Case {
    let n = 4 * 257 + 3;
    let mut b = ProgramBuilder::new(format!("narrow_vector_{t}"), [64, 1, 1]);
    let x = b.buffer("x", t, Access::Read);
    let y = b.buffer("y", t, Access::ReadWrite);
    let z = b.buffer("z", t, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let (c1, c2) = if t.is_float() {
        (bits_of(t, -2.5), bits_of(t, 0.125))
    } else {
        (bits_of(t, 5.0), bits_of(t, 7.0))
    };
    let f = |k: u32| {
        load(x, Expr::local(i).add(Expr::u32(k)))
            .mul(lit(t, c1))
            .add(lit(t, c2))
    };
    b.body(|blk| {
        blk.let_(i, gid().mul(Expr::u32(4)));
        for k in 0..4 {
            blk.store(BufRef::Param(y), Expr::local(i).add(Expr::u32(k)), f(k));
        }
        for k in 1..3 {
            blk.store(BufRef::Param(z), Expr::local(i).add(Expr::u32(k)), f(k));
        }
    });
    let mut rng = Rng::new(0x7ec + t as u64);
    let mask = if t.size_bytes() == 1 { 0xff } else { 0xffff };
    let xs: Vec<u32> = (0..n)
        .map(|_| {
            if t.is_float() {
                narrow(
                    t,
                    ((rng.next_u32() % 50_000) as f32 / 32.0 - 700.0).to_bits(),
                )
            } else {
                rng.next_u32() & mask
            }
        })
        .collect();
    let init: Vec<u32> = (0..n).map(|k| (k as u32 * 0x1234 + 0x55) & mask).collect();
    let op = |v: u32| arith(t, '+', arith(t, '*', v, c1), c2);
    let ys: Vec<u32> = xs.iter().map(|&v| op(v)).collect();
    let zs: Vec<u32> = (0..n)
        .map(|k| {
            if matches!(k % 4, 1 | 2) {
                op(xs[k])
            } else {
                init[k]
            }
        })
        .collect();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(t, &xs)),
            Arg::Buf(pack(t, &init)),
            Arg::Buf(pack(t, &init)),
        ],
        workgroups: groups(n.div_ceil(4)),
        expected: vec![(1, pack(t, &ys), Cmp::Bits), (2, pack(t, &zs), Cmp::Bits)],
    }
}

/// Every narrow program (small inputs for the rounding ones), for the
/// emission tests.
#[must_use]
pub fn programs() -> Vec<Program> {
    let mut v = Vec::new();
    for t in TYPES {
        v.push(map(t).program);
        v.push(casts(t).program);
        v.push(memory(t).program);
        v.push(neighbours(t).program);
        v.push(vector(t).program);
        if t.is_float() {
            v.push(round(t, &[0]).program);
        }
        if t.size_bytes() == 1 {
            v.push(widen_all(t).program);
        }
    }
    v.push(min_max_select().program);
    v
}

/// Exact operations and selects on `bf16` and `i8` values: `min`, `max`,
/// `abs`, `-x`, a select, and a `bf16` scalar parameter (passed widened,
/// as the runtime passes it to backends).
pub fn min_max_select() -> Case {
    let n = 256usize;
    let mut b = ProgramBuilder::new("narrow_exact", [64, 1, 1]);
    let x = b.buffer("x", DataType::BF16, Access::Read);
    let a = b.buffer("a", DataType::I8, Access::Read);
    let lim = b.scalar("lim", DataType::U32);
    let one = b.scalar("one", DataType::BF16);
    let y = b.buffer("y", DataType::BF16, Access::ReadWrite);
    let c = b.buffer("c", DataType::I8, Access::ReadWrite);
    b.body(|blk| {
        blk.if_(gid().ge(Expr::len(x)), |then| {
            then.return_();
        });
        let xv = || load(x, gid());
        let av = || load(a, gid());
        let big = gid().lt(Expr::param(lim));
        blk.store(
            BufRef::Param(y),
            gid(),
            Expr::select(
                big,
                xv().math(MathFn::Max, vec![Expr::param(one)]),
                xv().neg().math(MathFn::Abs, vec![]),
            ),
        );
        blk.store(
            BufRef::Param(c),
            gid(),
            av().neg()
                .math(MathFn::Min, vec![lit(DataType::I8, 100)])
                .math(MathFn::Abs, vec![]),
        );
    });
    let mut rng = Rng::new(0xe8ac7);
    let xs: Vec<u32> = (0..n)
        .map(|_| {
            narrow(
                DataType::BF16,
                ((rng.next_u32() % 4000) as f32 / 16.0 - 125.0).to_bits(),
            )
        })
        .collect();
    let avs: Vec<u32> = (0..n as u32).collect();
    let limit = 100u32;
    let ys: Vec<u32> = xs
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let f = f32::from_bits(widen(DataType::BF16, v));
            let r = if (k as u32) < limit {
                f.max(1.0)
            } else {
                (-f).abs()
            };
            narrow(DataType::BF16, r.to_bits())
        })
        .collect();
    let cs: Vec<u32> = avs
        .iter()
        .map(|&v| {
            let a = v as u8 as i8;
            let m = a.wrapping_neg().min(100);
            u32::from(m.wrapping_abs() as u8)
        })
        .collect();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(pack(DataType::BF16, &xs)),
            Arg::Buf(pack(DataType::I8, &avs)),
            Arg::U32(limit),
            Arg::F32(1.0),
            Arg::Buf(pack(DataType::BF16, &vec![0; n])),
            Arg::Buf(pack(DataType::I8, &vec![0; n])),
        ],
        workgroups: groups(n),
        expected: vec![
            (4, pack(DataType::BF16, &ys), Cmp::Bits),
            (5, pack(DataType::I8, &cs), Cmp::Bits),
        ],
    }
}

/// Every case to run on a device: the programs of [`programs`] with their
/// data, the exhaustive widening of the 16-bit types and the rounding
/// checks (`random` random `f32` inputs each).
#[must_use]
pub fn cases(random: usize) -> Vec<Case> {
    let mut v = Vec::new();
    for t in TYPES {
        v.push(map(t));
        v.push(casts(t));
        v.push(memory(t));
        v.push(neighbours(t));
        v.push(vector(t));
        v.push(widen_all(t));
        if t.is_float() {
            v.push(round(t, &rounding_inputs(t, random)));
        }
    }
    v.push(min_max_select());
    v
}
