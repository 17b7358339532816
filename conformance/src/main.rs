//! Runs the whole corpus on one device and compares every kernel with the
//! CPU reference, printing one JSON line per kernel:
//!
//! ```text
//! vyre-conformance --device cuda|wgpu|cpu [--kernel NAME]
//! {"kernel":"saxpy","device":"cuda","match":true,"max_ulp":0}
//! ```
//!
//! Exits 1 on any mismatch or launch error, 2 on bad usage or a missing
//! device.

use std::process::ExitCode;

use vyre_conformance::{KERNELS, compare, device_names, known_deviation, open_device};

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: vyre-conformance --device {} [--kernel NAME]",
        device_names().join("|")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut device_name = None;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--device" => device_name = it.next().cloned(),
            "--kernel" => only = it.next().cloned(),
            "-h" | "--help" => return usage(),
            _ => return usage(),
        }
    }
    let Some(device_name) = device_name else {
        return usage();
    };
    if let Some(k) = &only
        && !KERNELS.iter().any(|(n, _)| n == k)
    {
        eprintln!("unknown kernel `{k}`");
        return usage();
    }
    let device = match open_device(&device_name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot open device `{device_name}`: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("device: {}", device.name());
    let reference = vyre::Device::cpu();
    let mut ok = true;
    for (name, run) in KERNELS {
        if only.as_deref().is_some_and(|k| k != *name) {
            continue;
        }
        if let Some(reason) = known_deviation(name, &device) {
            println!(
                "{{\"kernel\":{},\"device\":{},\"skipped\":{}}}",
                json_str(name),
                json_str(&device_name),
                json_str(reason)
            );
            continue;
        }
        let result = run(&reference).and_then(|want| {
            let start = std::time::Instant::now();
            let got = run(&device)?;
            Ok((want, got, start.elapsed()))
        });
        match result {
            Ok((want, got, took)) => {
                let c = compare(&want, &got);
                ok &= c.matched();
                let mut line = format!(
                    "{{\"kernel\":{},\"device\":{},\"match\":{},\"max_ulp\":{},\"mismatches\":{},\"ms\":{:.3}",
                    json_str(name),
                    json_str(&device_name),
                    c.matched(),
                    c.max_ulp,
                    c.mismatches,
                    took.as_secs_f64() * 1e3
                );
                if let Some(m) = c.first.first() {
                    line.push_str(&format!(",\"first_mismatch\":{}", json_str(&m.to_string())));
                }
                line.push('}');
                println!("{line}");
            }
            Err(e) => {
                ok = false;
                println!(
                    "{{\"kernel\":{},\"device\":{},\"match\":false,\"error\":{}}}",
                    json_str(name),
                    json_str(&device_name),
                    json_str(&e.to_string())
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
