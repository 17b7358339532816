//! `unsafe { .. }` blocks: accesses the kernel's author vouches for. The
//! language accepts them as statements, the middle layer leaves their
//! accesses unchecked for every target, the reference interpreter reports
//! an out-of-range access inside one, and in-range kernels give the same
//! results as checked ones on every device of this machine.

#![cfg(feature = "compiler")]

mod device_support;
mod lang_support;
mod ptx_support;

use device_support::{devices, spec_for_every_target};
use lang_support::{error, kernel};
use vyre::backend::reference::{RefArg, RunError, run};
use vyre::driver::BoundsChecks;
use vyre::ir::{Node, Program};
use vyre::mid::Analysis;
use vyre::runtime::LaunchArg;
use vyre::{DispatchConfig, Grid};

/// `y[i] = 2 x[i] + y[i]` for the first `n` elements: the kernel tests the
/// lengths once, then vouches for every access of the block.
const SCALE: &str = "#[kernel(workgroup_size = 64)]
pub fn scale(n: u32, x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if n <= x.len() && n <= y.len() && i < n {
        unsafe {
            let v = x[i];
            y[i] = 2.0 * v + y[i];
        }
    }
}";

/// Whether each access of `p` keeps a check, in program order.
fn decisions(p: &Program, config: &DispatchConfig) -> Vec<bool> {
    Analysis::new(p, config)
        .expect("analysis")
        .checks()
        .decisions()
        .iter()
        .map(|d| d.checked)
        .collect()
}

#[test]
fn unsafe_blocks_parse_print_and_round_trip() {
    let p = kernel(SCALE);
    assert!(!p.unchecked, "an `unsafe` block leaves the launcher safe");
    let mut blocks = 0;
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Unsafe { body } = n {
            blocks += 1;
            assert_eq!(body.len(), 2, "{body:?}");
        }
    });
    assert_eq!(blocks, 1);
    let text = vyre::lang::print(&p);
    assert!(text.contains("unsafe {"), "{text}");
    assert_eq!(kernel(&text), p, "{text}");
    let bytes = vyre::ir::wire::to_wire(&p);
    assert_eq!(vyre::ir::wire::from_wire(&bytes).expect("decode"), p);
}

#[test]
fn accesses_inside_are_unchecked_and_outside_checked() {
    // Three accesses inside; the one outside is not proven (no guard).
    let p = kernel(
        "#[kernel(workgroup_size = 64)]
pub fn k(x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    unsafe {
        y[i] = x[i] + y[i];
    }
    y[i + 1] = 0.0;
}",
    );
    assert_eq!(
        decisions(&p, &DispatchConfig::default()),
        [false, false, false, true]
    );
    // `BoundsChecks::Always` (for debugging emitters) checks them anyway.
    let always = DispatchConfig::default().with_bounds_checks(BoundsChecks::Always);
    assert_eq!(decisions(&p, &always), [true; 4]);
}

#[test]
fn targets_emit_no_checks_for_the_block() {
    let checked = kernel(&SCALE.replace("unsafe {", "{"));
    let vouched = kernel(SCALE);
    let config = DispatchConfig::default();
    let ptx = |p: &Program| {
        String::from_utf8(vyre::driver::emit_aot_target("ptx", p, &config).expect("ptx"))
            .expect("utf-8")
    };
    // The checked kernel compares each of its three indices with its
    // buffer's length and predicates the access (the analysis cannot chain
    // `i < n` and `n <= x.len()`); the vouched one keeps only the tests of
    // its own `if`, and its loads and stores are unpredicated.
    let compares = |src: &str| src.matches("setp.").count();
    let (c, v) = (ptx(&checked), ptx(&vouched));
    assert_eq!(
        compares(&c),
        compares(&v) + 3,
        "checked:\n{c}\nunsafe:\n{v}"
    );
    assert_eq!(c.matches("@%p").count(), v.matches("@%p").count() + 3);
    if let Some(ptxas) = ptx_support::ptxas() {
        let cubin = vyre::backend::ptx::assemble(&ptxas, &v, "sm_70").expect("ptxas");
        assert!(cubin.starts_with(b"\x7fELF"));
    }
    // naga: a checked load reads a clamped index and selects 0 past the
    // end; the vouched one indexes directly.
    let wgsl = |p: &Program| {
        String::from_utf8(vyre::driver::emit_aot_target("wgsl", p, &config).expect("wgsl"))
            .expect("utf-8")
    };
    let (c, v) = (wgsl(&checked), wgsl(&vouched));
    assert!(
        v.matches("select(").count() < c.matches("select(").count(),
        "checked:\n{c}\nunsafe:\n{v}"
    );
    vyre::driver::emit_aot_target("spirv", &vouched, &config).expect("spirv");
    vyre::driver::emit_aot_target("msl", &vouched, &config).expect("msl");
    vyre::driver::emit_aot_target("hlsl", &vouched, &config).expect("hlsl");
}

#[test]
fn in_range_blocks_match_plain_rust_on_every_device() {
    let p = kernel(SCALE);
    let spec = spec_for_every_target(&p, "tests::unsafe_blocks::scale");
    let n = 1000usize;
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let y0: Vec<f32> = (0..n + 7).map(|i| 1.0 - i as f32).collect();
    let want: Vec<f32> = (0..n + 7)
        .map(|i| if i < n { 2.0 * x[i] + y0[i] } else { y0[i] })
        .collect();
    for dev in devices() {
        let xb = dev.upload(&x).unwrap();
        let mut yb = dev.upload(&y0).unwrap();
        spec.with(|s| {
            dev.launch(
                s,
                Grid::threads(n + 100),
                &mut [LaunchArg::U32(n as u32), xb.arg(), yb.arg_mut()],
            )
        })
        .unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(dev.download(&yb).unwrap(), want, "{}", dev.name());
    }
}

/// Runs `src` on the reference interpreter with `x` of `nx` elements and
/// `y` of `ny`, one workgroup.
fn run_reference(src: &str, nx: usize, ny: usize) -> Result<(), RunError> {
    run_xy(&kernel(src), &mut vec![0; nx], &mut vec![0; ny])
}

/// Runs `p` (parameters `x`, `y`) on the reference interpreter, one
/// workgroup, with the elements' bits in `x` and `y`.
fn run_xy(p: &Program, x: &mut [u32], y: &mut [u32]) -> Result<(), RunError> {
    run(p, [1, 1, 1], &mut [RefArg::Buffer(x), RefArg::Buffer(y)])
}

#[test]
fn the_reference_reports_out_of_range_inside_a_block() {
    // A load, a store and an atomic one past the end, each inside `unsafe`.
    for (body, buffer, index, len) in [
        ("let v = x[i + 1]; y[i] = v;", "x", 32, 32),
        ("y[i + 1] = x[i];", "y", 32, 32),
        ("y.atomic_add(i + 1, 1u32);", "y", 32, 32),
    ] {
        let src = format!(
            "#[kernel(workgroup_size = 32)]
pub fn k(x: &[u32], y: &mut [u32]) {{
    let i = local_id().x;
    unsafe {{
        {body}
    }}
}}"
        );
        let e = run_reference(&src, 32, 32).unwrap_err();
        assert!(
            matches!(&e, RunError::OutOfBoundsInUnsafe { buffer: b, index: i, len: l, .. }
                if b == buffer && *i == index && *l == len),
            "{body}: {e:?}"
        );
        assert!(e.to_string().contains("inside an `unsafe` block"), "{e}");
        // The same access outside the block has the language's meaning.
        run_reference(&src.replace("unsafe {", "{"), 32, 32).expect("checked");
    }
}

#[test]
fn the_reference_reports_copies_and_matrices_out_of_range_inside_a_block() {
    // An asynchronous copy reading past `x`.
    let copy = "#[kernel(workgroup_size = 32)]
pub fn k(x: &[u32], y: &mut [u32]) {
    #[shared]
    let mut t: [u32; 64];
    unsafe {
        async_copy(&mut t, 0, &x, 60, 4);
    }
    async_commit();
    async_wait(0);
    barrier();
    let i = local_id().x;
    y[i] = t[i];
}";
    let e = run_reference(copy, 62, 32).unwrap_err();
    assert!(
        matches!(&e, RunError::OutOfBoundsInUnsafe { buffer, index: 62, len: 62, .. } if buffer == "x"),
        "{e:?}"
    );
    run_reference(&copy.replace("unsafe {", "{"), 62, 32).expect("checked");
    // A matrix load of a 16 x 16 tile whose last rows lie past `x`.
    let matrix = "#[kernel(workgroup_size = 32)]
pub fn k(x: &[f16], y: &mut [f32]) {
    let mut c = matrix_zero::<f32, 16, 16, 16>();
    let a = matrix_load_a::<f16, 16, 16, 16>(&x, 0, 16);
    let b = matrix_load_b::<f16, 16, 16, 16>(&x, 0, 16);
    c = matrix_mma(a, b, c);
    unsafe {
        matrix_store(&mut y, 8, 16, c);
    }
}";
    let p = kernel(matrix);
    let mut x = vec![0u32; 256];
    let mut y = vec![0u32; 256];
    let e = run_xy(&p, &mut x, &mut y).unwrap_err();
    assert!(
        matches!(&e, RunError::OutOfBoundsInUnsafe { buffer, len: 256, .. } if buffer == "y"),
        "{e:?}"
    );
}

#[test]
fn jumps_inside_a_block_leave_the_enclosing_loop_or_kernel() {
    // `continue` and `return` inside `unsafe` act on the loop and the
    // kernel around it; the statements after the block still run.
    let p = kernel(
        "#[kernel(workgroup_size = 8)]
pub fn k(x: &[u32], y: &mut [u32]) {
    let i = local_id().x;
    let mut s = 0u32;
    for j in 0u32..8u32 {
        unsafe {
            if j == i {
                continue;
            }
            s = s + x[j];
        }
        s = s + 100u32;
    }
    unsafe {
        if i == 7u32 {
            return;
        }
        y[i] = s;
    }
    y[i] = y[i] + 1u32;
}",
    );
    let mut x: Vec<u32> = (1..=8).collect();
    let mut y = vec![0u32; 8];
    run_xy(&p, &mut x, &mut y).expect("run");
    let want: Vec<u32> = (0..8u32)
        .map(|i| {
            if i == 7 {
                0
            } else {
                36 - (i + 1) + 7 * 100 + 1
            }
        })
        .collect();
    assert_eq!(y, want);
    let spec = spec_for_every_target(&p, "tests::unsafe_blocks::jumps");
    for dev in devices() {
        let xb = dev.upload(&(1..=8).collect::<Vec<u32>>()).unwrap();
        let mut yb = dev.zeros::<u32>(8).unwrap();
        spec.with(|s| dev.launch(s, Grid::threads(8), &mut [xb.arg(), yb.arg_mut()]))
            .unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(dev.download(&yb).unwrap(), want, "{}", dev.name());
    }
}

/// `let v = unsafe { .. };`: the block's value is computed inside it (a
/// local assigned at its end), so the tail's own accesses are vouched for
/// too; the text round trips.
#[test]
fn unsafe_blocks_have_values() {
    let src = "#[kernel(workgroup_size = 32)]
pub fn k(x: &[u32], y: &mut [u32]) {
    let i = local_id().x;
    let v = unsafe {
        let w = x[i] * 2u32;
        w + x[i + 1]
    };
    let old = unsafe { y.atomic_add(i, v) };
    y[i + 32] = old + 1u32;
}";
    let p = kernel(src);
    // Inside: both loads of `x` and the atomic; outside: the last store.
    assert_eq!(
        decisions(&p, &DispatchConfig::default()),
        [false, false, false, true]
    );
    assert_eq!(kernel(&vyre::lang::print(&p)), p);
    let mut x: Vec<u32> = (0..33).collect();
    let mut y = vec![1u32; 64];
    run_xy(&p, &mut x, &mut y).expect("in range");
    for i in 0..32u32 {
        let v = 2 * i + i + 1;
        assert_eq!(y[i as usize], 1 + v, "{i}");
        assert_eq!(y[i as usize + 32], 2, "{i}");
    }
    // One element short: the tail's `x[i + 1]` is out of range inside.
    let e = run_reference(src, 32, 64).unwrap_err();
    assert!(
        matches!(&e, RunError::OutOfBoundsInUnsafe { buffer, index: 32, len: 32, .. } if buffer == "x"),
        "{e:?}"
    );
}

#[test]
fn misplaced_unsafe_blocks_are_clear_errors() {
    let cond = error(
        "#[kernel(workgroup_size = 32)]
pub fn k(x: &[f32], y: &mut [f32]) {
    while unsafe { x[0] } > 1.0 {
        y[0] = 0.0;
    }
}",
    );
    assert!(
        cond.contains("an `unsafe` block cannot be used in a `while` condition"),
        "{cond}"
    );
    assert!(cond.contains("t.vyre:3:11"), "{cond}");
    let jump = error(
        "#[kernel(workgroup_size = 32)]
pub fn k(y: &mut [f32]) {
    unsafe {
        break;
    }
}",
    );
    assert!(jump.contains("`break` outside of a loop"), "{jump}");
    assert!(jump.contains("t.vyre:4:9"), "{jump}");
}

/// `bench/kernels/sgemm.vyre`'s `sgemm_blocked_vouched`: the unchecked
/// kernel's body behind the kernel's own test. Whole tiles take the
/// `unsafe` path, other sizes and workgroups past C the checked one; both
/// give the exact product (small integers) on every device, and the
/// reference would stop on an access the test let through out of range.
#[test]
fn the_vouched_sgemm_is_exact_for_any_size_and_grid() {
    let module = vyre::lang::parse("sgemm.vyre", include_str!("../bench/kernels/sgemm.vyre"))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let p = module
        .kernels
        .into_iter()
        .find(|k| k.name == "sgemm_blocked_vouched")
        .expect("sgemm_blocked_vouched");
    assert!(!p.unchecked);
    let spec = spec_for_every_target(&p, "tests::unsafe_blocks::sgemm_vouched");
    // n = 128 on a 2 x 2 grid: one whole tile, three past C; n = 40: the
    // checked body. (Not on wgpu: lavapipe takes most of a minute to compile
    // the two unrolled bodies; `unsafe` on wgpu is covered above.)
    for (n, grid) in [(128usize, 2u32), (40, 1)] {
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let want: Vec<f32> = (0..n * n)
            .map(|i| {
                let (r, col) = (i / n, i % n);
                (0..n).map(|k| a[r * n + k] * b[k * n + col]).sum()
            })
            .collect();
        for dev in devices()
            .into_iter()
            .filter(|d| !d.name().starts_with("wgpu"))
        {
            let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
            let mut cb = dev.zeros::<f32>(n * n).unwrap();
            spec.with(|s| {
                dev.launch(
                    s,
                    Grid::Workgroups([grid, grid, 1]),
                    &mut [LaunchArg::U32(n as u32), ab.arg(), bb.arg(), cb.arg_mut()],
                )
            })
            .unwrap_or_else(|e| panic!("{} n = {n}: {e}", dev.name()));
            assert_eq!(dev.download(&cb).unwrap(), want, "{} n = {n}", dev.name());
        }
    }
}
