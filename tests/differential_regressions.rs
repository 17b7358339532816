//! Every saved regression kernel (`tests/kernels/regress_*.vyre`, written
//! by the differential test when a target disagreed with the reference)
//! runs on every available target and must now agree. Findings not fixed
//! yet live in `tests/kernels/open/` and run only with `VYRE_DIFF_OPEN=1`
//! (move a file up one folder once its bug is fixed).

mod differential_support;

use std::path::Path;

use vyre_testkit::harness::{DeviceRunOptions, check_target, load_regression};

#[test]
fn regression_kernels_agree_on_every_target() {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    if std::env::var("VYRE_DIFF_OPEN").is_ok_and(|v| v == "1") {
        dir = dir.join("open");
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("regress_") && n.ends_with(".vyre"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let targets = differential_support::targets();
    let mut failures = Vec::new();
    for f in &files {
        let case = match load_regression(f) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for t in &targets {
            let o = check_target(&case, t, DeviceRunOptions { guard_elems: 16 });
            if o.is_skipped() {
                // A target that cannot express the case (WGSL and the
                // 64-bit types) says so; that is not a disagreement.
                println!("{} on {}: {o}", f.display(), t.label);
                continue;
            }
            if !o.is_match() {
                failures.push(format!("{} on {}: {o}", f.display(), t.label));
            }
        }
    }
    println!(
        "{} regression kernels on {} targets",
        files.len(),
        targets.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
