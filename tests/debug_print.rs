//! `debug_print!` and `debug_assert!` (issue 14, item 3): compiled in by a
//! debug build, out otherwise; records printed in invocation order on every
//! device this machine has (the CPU interpreter, wgpu where an adapter
//! exists, CUDA where a GPU exists; a missing GPU prints `skipped:`); a
//! failed assert is an `Err` naming kernel, site and invocation.

mod device_support;

use std::sync::{Arc, Mutex};

use device_support::{devices, spec_for_every_target};
use vyre::lang::{ParseOptions, parse_with};
use vyre::runtime::DebugRecord;
use vyre::{Device, Error, Grid};
use vyre_testkit::harness::OwnedSpec;

const SOURCE: &str = r#"
#[kernel(workgroup_size = 64)]
pub fn show(x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        debug_print!("i = {} x = {} neg = {} big = {}", i, x[i], -(i as i32), i > 2);
        y[i] = x[i] * 2.0;
    }
}

#[kernel(workgroup_size = 64)]
pub fn check(x: &[f32], y: &mut [f32]) {
    let i = global_id().x;
    if i < y.len() {
        debug_assert!(x[i] >= 0.0, "x[{}] = {}", i, x[i]);
        debug_assert!(i < 1000);
        y[i] = x[i] + 1.0;
    }
}

#[kernel(workgroup_size = 256)]
pub fn flood(y: &mut [u32]) {
    let i = global_id().x;
    if i < y.len() {
        debug_print!("{} {}", i, i * 2);
        y[i] = i;
    }
}

#[kernel(workgroup_size = 256, unchecked)]
pub fn flood_unchecked(y: &mut [u32]) {
    let i = global_id().x;
    if i < y.len() {
        debug_print!("{} {}", i, i * 2);
        y[i] = i;
    }
}
"#;

/// The kernel `name` of [`SOURCE`], built with or without debugging, with
/// an artifact for every target of this build.
fn kernel(name: &str, debug: bool) -> OwnedSpec {
    let module = parse_with("dbg.vyre", SOURCE, &ParseOptions::default().debug(debug))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let program = module
        .kernels
        .iter()
        .find(|k| k.name == name)
        .expect("kernel");
    let mut spec = spec_for_every_target(program, &format!("tests::debug_print::{name}#{debug}"));
    spec.debug = module.debug.get(name).cloned().unwrap_or_default();
    spec
}

/// Collect what `dev` prints.
fn collect(dev: &Device) -> Arc<Mutex<Vec<DebugRecord>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    dev.on_debug_output(move |r| keep.lock().unwrap().push(r.clone()));
    seen
}

fn run(dev: &Device, spec: &OwnedSpec, x: &[f32]) -> (vyre::Result<()>, Vec<f32>) {
    let xb = dev.upload(x).unwrap();
    let mut yb = dev.zeros::<f32>(x.len()).unwrap();
    let r = spec.with(|s| dev.launch(s, Grid::threads(x.len()), &mut [xb.arg(), yb.arg_mut()]));
    (r, dev.download(&yb).unwrap())
}

#[test]
fn prints_come_in_invocation_order_with_every_argument_type() {
    let spec = kernel("show", true);
    assert_eq!(spec.params.len(), 4, "two hidden rings");
    let x: Vec<f32> = (0..8).map(|i| i as f32 * 0.5).collect();
    for dev in devices() {
        let seen = collect(&dev);
        let (r, y) = run(&dev, &spec, &x);
        r.unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(y, x.iter().map(|v| v * 2.0).collect::<Vec<_>>());
        let lines: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let want: Vec<String> = (0..8)
            .map(|i| {
                format!(
                    "[show dbg.vyre:6:9 ({i}, 0, 0)] i = {i} x = {} neg = {} big = {}",
                    i as f32 * 0.5,
                    -i,
                    i > 2
                )
            })
            .collect();
        assert_eq!(lines, want, "{}", dev.name());
    }
}

#[test]
fn a_failed_assert_is_an_error_naming_kernel_site_and_invocation() {
    let spec = kernel("check", true);
    let mut x: Vec<f32> = (0..100).map(|i| i as f32).collect();
    x[70] = -1.0;
    x[9] = -2.5;
    for dev in devices() {
        let name = dev.name();
        let seen = collect(&dev);
        let (r, y) = run(&dev, &spec, &x);
        let err = r.expect_err("two asserts fail");
        match &err {
            Error::KernelAssert {
                kernel,
                site,
                invocation,
                condition,
                message,
                more,
            } => {
                assert_eq!(kernel, "check", "{name}");
                assert_eq!(site, "dbg.vyre:15:9", "{name}");
                assert_eq!(
                    *invocation,
                    [9, 0, 0],
                    "{name}: the first in invocation order"
                );
                assert_eq!(condition, "x[i] >= 0.0", "{name}");
                assert_eq!(message, "x[9] = -2.5", "{name}");
                assert_eq!(*more, 1, "{name}");
            }
            other => panic!("{name}: {other}"),
        }
        assert_eq!(
            err.to_string(),
            "kernel `check`: assertion failed at dbg.vyre:15:9 in invocation (9, 0, 0): x[i] >= 0.0: x[9] = -2.5 (and 1 more failures)"
        );
        // The failures were printed too, and the kernel went on.
        assert_eq!(seen.lock().unwrap().len(), 2, "{name}");
        assert_eq!(y[70], 0.0, "{name}");
        assert_eq!(y[71], 72.0, "{name}");
        // A passing launch is Ok and prints nothing.
        let ok: Vec<f32> = (0..100).map(|i| i as f32).collect();
        seen.lock().unwrap().clear();
        run(&dev, &spec, &ok).0.unwrap();
        assert!(seen.lock().unwrap().is_empty(), "{name}");
    }
}

#[test]
fn without_debugging_the_calls_are_checked_then_removed() {
    let plain = parse_with("dbg.vyre", SOURCE, &ParseOptions::default()).unwrap();
    assert!(plain.debug.is_empty());
    let stripped = SOURCE
        .lines()
        .filter(|l| !l.contains("debug_"))
        .collect::<Vec<_>>()
        .join("\n");
    let without = vyre::lang::parse("dbg.vyre", &stripped).unwrap();
    // The same programs as a source that never had the calls.
    assert_eq!(plain.kernels, without.kernels);
    let spec = kernel("check", false);
    let mut x = vec![1.0f32; 10];
    x[3] = -1.0;
    for dev in devices() {
        let seen = collect(&dev);
        let (r, y) = run(&dev, &spec, &x);
        r.unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(y[3], 0.0);
        assert!(seen.lock().unwrap().is_empty());
    }
}

#[test]
fn a_full_ring_drops_records_and_says_how_many() {
    // 20,000 records of 6 words: 120,000 words for a 65,536-word ring. An
    // `unchecked` kernel has no bounds checks to drop the overflow: its
    // records are guarded by the lowering itself.
    for name in ["flood", "flood_unchecked"] {
        full_ring(name);
    }
}

fn full_ring(name: &str) {
    let spec = kernel(name, true);
    let n = 20_000usize;
    for dev in devices() {
        let seen = collect(&dev);
        let mut y = dev.zeros::<u32>(n).unwrap();
        spec.with(|s| {
            // SAFETY: `flood_unchecked` indexes `y` below its length only;
            // its debug records check the ring's length themselves.
            unsafe { dev.launch_unchecked(s, Grid::threads(n), &mut [y.arg_mut()]) }
        })
        .unwrap_or_else(|e| panic!("{name} on {}: {e}", dev.name()));
        let seen = seen.lock().unwrap();
        let kept = (vyre::runtime::DEBUG_RING_WORDS - 1) / 6;
        assert_eq!(seen.len(), kept + 1, "{}", dev.name());
        let note = seen.last().unwrap().to_string();
        let lost = n * 6 - kept * 6;
        assert!(
            note.contains(&format!("{lost} words of records did not fit")),
            "{}: {note}",
            dev.name()
        );
        // Every kept record is whole and right.
        for r in &seen[..kept] {
            let i = r.invocation[0];
            assert_eq!(r.message, format!("{i} {}", i * 2), "{}", dev.name());
        }
        assert_eq!(dev.download(&y).unwrap()[n - 1], (n - 1) as u32);
    }
}

#[test]
fn bad_calls_are_diagnosed_at_their_position() {
    let cases = [
        (
            "debug_print!(\"{} {}\", i);",
            "the format string has 2 `{}` but 1 argument follows",
        ),
        ("debug_print!(i);", "must be a string literal"),
        ("debug_print!(\"{:?}\", i);", "only `{}` placeholders"),
        ("debug_print!(\"}\");", "unmatched `}`"),
        ("debug_assert!();", "needs a condition"),
        ("debug_print!();", "needs a format string"),
        ("debug_print!(\"{}\", nope);", "nope"),
        ("println!(\"{}\", i);", "macros other than `debug_print!`"),
    ];
    for (line, want) in cases {
        let src = format!(
            "#[kernel(workgroup_size = 64)]\npub fn k(y: &mut [u32]) {{\n    let i = global_id().x;\n    {line}\n}}\n"
        );
        for debug in [false, true] {
            let err = parse_with("bad.vyre", &src, &ParseOptions::default().debug(debug))
                .expect_err(line);
            let d = &err.diagnostics[0];
            assert!(d.message.contains(want), "{line}: {}", d.message);
            assert_eq!(d.line, 4, "{line}: {}", err.render());
        }
    }
}
