//! One test per class of error: the message text and its `line:col`.
//! Run: `cargo test -p vyre --features compiler --test lang_errors`.

use proptest::prelude::*;
use vyre::lang::{Diagnostic, parse};

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse("e.vyre", src) {
        Ok(m) => panic!("expected errors, got {} kernel(s)", m.kernels.len()),
        Err(d) => {
            assert!(!d.diagnostics.is_empty());
            d.diagnostics
        }
    }
}

/// Assert some diagnostic sits at `line:col` and contains `needle`.
#[track_caller]
fn expect_at(src: &str, line: usize, col: usize, needle: &str) -> Diagnostic {
    let ds = errors(src);
    match ds
        .iter()
        .find(|d| d.line == line && d.column == col && d.message.contains(needle))
    {
        Some(d) => {
            assert_eq!(d.file, "e.vyre");
            d.clone()
        }
        None => panic!(
            "no diagnostic at {line}:{col} containing {needle:?}; got:\n{}",
            ds.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// A kernel whose body starts on line 3.
fn k(body: &str) -> String {
    format!("#[kernel]\npub fn k(x: &[f32], y: &mut [f32], h: &mut [u32], n: u32) {{\n{body}\n}}\n")
}

#[test]
fn syntax_error() {
    let d = expect_at(
        &k("    let a = ;"),
        3,
        13,
        "syntax error: expected an expression",
    );
    assert_eq!(d.span.len(), 1);
}

#[test]
fn tokenizer_errors() {
    expect_at(
        &k("    let a = (1 + 2;"),
        4,
        1,
        "mismatched closing delimiter `}`",
    );
    expect_at(
        &k("    let s = \"abc;"),
        3,
        13,
        "unterminated string literal",
    );
    expect_at(&k("    let a = 1 § 2;"), 3, 15, "unexpected character `§`");
}

#[test]
fn positions_with_crlf_and_at_end_of_input() {
    expect_at(
        "#[kernel]\r\nfn k(y: &mut [f32]) {\r\n    y[0] = q;\r\n}\r\n",
        3,
        12,
        "cannot find value `q`",
    );
    expect_at("#[kernel] fn k() {", 1, 18, "this `{` is never closed");
    expect_at("fn", 1, 3, "syntax error: unexpected end of input");
    expect_at(
        "#[kernel] fn k() {} /* open",
        1,
        21,
        "unterminated block comment",
    );
}

#[test]
fn unsupported_rust_constructs() {
    expect_at(
        &k("    let f = |z: f32| z;"),
        3,
        13,
        "closures are not supported; write a helper `fn`",
    );
    expect_at(
        &k("    match n { _ => {} }"),
        3,
        5,
        "`match` is not supported; use `if` / `else if`",
    );
    expect_at(
        "struct S { a: u32 }\n",
        1,
        1,
        "`struct` items are not supported",
    );
    expect_at(
        &k("    let t = (1, 2);"),
        3,
        13,
        "a tuple is not a value in vyre",
    );
    expect_at(
        &k("    println!(\"hi\");"),
        3,
        5,
        "macros other than `debug_print!` and `debug_assert!` are not supported",
    );
    // A debug macro is a statement, not a value.
    expect_at(
        &k("    let v = debug_print!(\"hi\");"),
        3,
        13,
        "`debug_print!` and `debug_assert!` are statements",
    );
    expect_at(
        &k("    let r = &n;"),
        3,
        13,
        "references (`&x`) are only allowed",
    );
    expect_at(
        &k("    y[0] = [1.0; 4];"),
        3,
        12,
        "array literals may only initialise a private array",
    );
    expect_at(&k("    if let 1 = n {}"), 3, 8, "`if let` is not supported");
    expect_at(
        &k("    'a: loop { break 'a; }"),
        3,
        5,
        "loop labels are not supported",
    );
    expect_at("use std::f32;\n", 1, 1, "`use` is not needed");
}

#[test]
fn type_errors_point_at_the_expression() {
    expect_at(
        &k("    let b = n + 1.5;"),
        3,
        13,
        "mismatched types: `u32 + f32`",
    );
    let d = expect_at(
        &k("    let a: f32 = 1;"),
        3,
        18,
        "`a` is `f32` but this value is `i32`",
    );
    assert!(
        d.notes.iter().any(|n| n.contains("write `1.0`")),
        "{:?}",
        d.notes
    );
    expect_at(
        &k("    if n { }"),
        3,
        8,
        "this condition is `u32`, but it must be `bool`",
    );
    expect_at(
        &k("    y[0] = n;"),
        3,
        12,
        "`y` holds `f32` but this value is `u32`",
    );
    expect_at(
        &k("    let q = x[1.5];"),
        3,
        15,
        "an index must be `u32` or `i32`",
    );
    expect_at(&k("    let z = -n;"), 3, 13, "cannot negate a `u32`");
    expect_at(&k("    let s = n.sqrt();"), 3, 13, "`sqrt` works on `f32`");
    expect_at(
        &k("    let c = 1.5 as bool;"),
        3,
        13,
        "cannot cast `f32` to `bool`",
    );
    expect_at(
        &k("    let w: usize = 1;"),
        3,
        12,
        "type `usize` is not supported",
    );
    expect_at(
        &k("    let m = if n > 1 { 1.0 } else { 2 };"),
        3,
        13,
        "branches of this `if` are `f32` and `i32`",
    );
    expect_at(
        &k("    let b = 1.0 & 2.0;"),
        3,
        13,
        "`&` is not defined for `f32`",
    );
}

#[test]
fn unknown_builtin_function_and_method() {
    expect_at(
        &k("    let c = thread_id().x;"),
        3,
        13,
        "cannot find function `thread_id`",
    );
    expect_at(
        &k("    let c = frob(1);"),
        3,
        13,
        "cannot find function `frob`",
    );
    expect_at(&k("    let d = x[0].foo();"), 3, 18, "unknown method `foo`");
    expect_at(
        &k("    let d = x[0].powi(2);"),
        3,
        18,
        "unknown method `powi` (use `powf`",
    );
    expect_at(
        &k("    let g = global_id();"),
        3,
        13,
        "read one component: `global_id().x`",
    );
    expect_at(
        &k("    let g = global_id().w;"),
        3,
        25,
        "components `.x`, `.y` and `.z`",
    );
    expect_at(
        &k("    let g = x[0].clamp(1.0);"),
        3,
        13,
        "`clamp` takes 2 argument(s)",
    );
}

#[test]
fn unknown_variable() {
    expect_at(
        &k("    y[0] = q;"),
        3,
        12,
        "cannot find value `q` in this scope",
    );
    expect_at(
        &k("    { let inner = 1.0; }\n    y[0] = inner;"),
        4,
        12,
        "cannot find value `inner`",
    );
    // Helpers do not see the caller's locals.
    expect_at(
        "fn f() -> f32 { outer }\n#[kernel]\nfn k(y: &mut [f32]) { let outer = 1.0; y[0] = f(); }\n",
        1,
        17,
        "cannot find value `outer`",
    );
}

#[test]
fn write_to_read_only_buffer() {
    expect_at(
        &k("    x[0] = 1.0;"),
        3,
        5,
        "cannot write to `x`: it is a read-only buffer (`&[f32]`); declare the parameter as `&mut [f32]`",
    );
    expect_at(
        "#[kernel]\nfn k(c: &[u32]) {\n    c.atomic_add(0, 1);\n}\n",
        3,
        5,
        "cannot write to `c`",
    );
    expect_at(
        "fn w(v: &mut [f32]) { v[0] = 1.0; }\n#[kernel]\nfn k(x: &[f32]) {\n    w(x);\n}\n",
        4,
        7,
        "helper `w` writes to `v`",
    );
    expect_at(
        &k("    let a = 1.0;\n    a = 2.0;"),
        4,
        5,
        "cannot assign twice to immutable variable `a`",
    );
    expect_at(&k("    n = 2;"), 3, 5, "cannot assign to parameter `n`");
}

#[test]
fn recursion_names_the_cycle() {
    let src = "fn a(x: u32) -> u32 { b(x) }\nfn b(x: u32) -> u32 { c(x) + 1 }\nfn c(x: u32) -> u32 { a(x) }\n#[kernel]\nfn k(h: &mut [u32]) { h[0] = a(1); }\n";
    let d = expect_at(
        src,
        3,
        23,
        "recursion is not supported (helpers are inlined): `a` -> `b` -> `c` -> `a`",
    );
    assert!(d.notes[0].contains("loop"));
    expect_at(
        "fn f(x: u32) -> u32 { if x == 0 { 0 } else { f(x - 1) } }\n",
        1,
        46,
        "`f` -> `f`",
    );
}

#[test]
fn atomic_inside_an_expression() {
    expect_at(
        &k("    let v = h.atomic_add(0, 1) + 1;"),
        3,
        13,
        "`atomic_add` may only be a whole statement (`buf.atomic_add(i, v);`), the whole initializer of a `let`",
    );
    expect_at(
        &k("    y[h.atomic_or(0, 1)] = 1.0;"),
        3,
        7,
        "cannot be part of a larger expression",
    );
    expect_at(
        &k("    let f = x.atomic_max(0, 1.0);"),
        3,
        13,
        "`atomic_max` needs `u32` or `i32` elements",
    );
}

#[test]
fn barrier_in_divergent_flow() {
    expect_at(
        &k("    if global_id().x < 5u32 {\n        barrier();\n    }"),
        4,
        9,
        "`barrier()` in control flow that depends on the invocation",
    );
    expect_at(
        &k("    let b = barrier();"),
        3,
        13,
        "`barrier()` is a statement",
    );
}

/// Invocations that leave a loop by a `break` (or `return`) in divergent
/// flow take no part in its later iterations: a barrier anywhere in the
/// body, and a value assigned in it, are divergent, even before the
/// `break`. A divergent `continue` leaves only the rest of its iteration.
#[test]
fn leaving_a_loop_divergently_diverges_its_body() {
    for header in ["for i in 0..n {", "while n > 2 {", "loop {"] {
        expect_at(
            &k(&format!(
                "    {header}\n        barrier();\n        if global_id().x < 5u32 {{\n            break;\n        }}\n    }}"
            )),
            4,
            9,
            "`barrier()` in control flow that depends on the invocation",
        );
    }
    expect_at(
        &k(
            "    for i in 0..n {\n        barrier();\n        if x[i] > 0.0 {\n            return;\n        }\n    }",
        ),
        4,
        9,
        "`barrier()` in control flow that depends on the invocation",
    );
    // A value assigned after the `break`, or before it in an iteration some
    // invocations no longer run, differs between invocations afterwards.
    for body in [
        "if global_id().x < 5u32 {\n            break;\n        }\n        m = 1u32;",
        "m = i;\n        if global_id().x < 5u32 {\n            break;\n        }",
    ] {
        expect_at(
            &k(&format!(
                "    let mut m = 0u32;\n    for i in 0..n {{\n        {body}\n    }}\n    if m == 1u32 {{\n        barrier();\n    }}"
            )),
            11,
            9,
            "`barrier()` in control flow that depends on the invocation",
        );
    }
    // `continue` comes back to the top: the barrier there is uniform.
    let src = k(
        "    for i in 0..n {\n        barrier();\n        if global_id().x < 5u32 {\n            continue;\n        }\n        y[i] = 1.0;\n    }",
    );
    assert!(vyre::lang::parse("e.vyre", &src).is_ok(), "{src}");
}

#[test]
fn shared_array_errors() {
    expect_at(
        &k("    #[shared] let mut t: [f32; 60000];"),
        3,
        5,
        "shared arrays of this kernel take 240000 bytes with `t`; at most 232448 bytes",
    );
    expect_at(
        &k("    if n > 0 {\n        #[shared] let mut t: [f32; 4];\n    }"),
        4,
        9,
        "only be declared in the kernel's top-level block",
    );
    expect_at(
        &k("    #[shared] let mut t: [f32; n];"),
        3,
        32,
        "cannot find value `n`",
    );
    expect_at(
        &k("    #[shared] let mut t: [bool; 4];"),
        3,
        27,
        "shared arrays of `bool` are not supported",
    );
}

#[test]
fn literal_range_and_kernel_shape_errors() {
    expect_at(
        &k("    let a: i32 = 3000000000;"),
        3,
        18,
        "literal `3000000000` out of range for `i32`",
    );
    expect_at(
        &k("    let a: u32 = -1;"),
        3,
        18,
        "literal `-1` out of range for `u32`",
    );
    expect_at(
        &k("    let a = 99999999999999999999;"),
        3,
        13,
        "integer literal is too large",
    );
    expect_at(
        &k("    let a = 1u128;"),
        3,
        13,
        "`u128` literals are not supported",
    );
    expect_at(
        &k("    let a = 1.0f64 % 2.0f64;"),
        3,
        13,
        "`f64 % f64` is not supported",
    );
    expect_at(
        &k("    let a = 1e40;"),
        3,
        13,
        "float literal out of range for `f32`",
    );
    expect_at(
        &k("    for i in 0..=4 {}"),
        3,
        15,
        "inclusive ranges `a..=b` are not supported",
    );
    expect_at(&k("    break;"), 3, 5, "`break` outside of a loop");
    expect_at(
        "#[kernel(workgroup_size = 64, fastmath)]\nfn k() {}\n",
        1,
        31,
        "unknown kernel option `fastmath`",
    );
    expect_at(
        "#[kernel(workgroup_size = (64, 64))]\nfn k() {}\n",
        1,
        1,
        "4096 invocations; at most 1024",
    );
    expect_at(
        "#[kernel]\nfn k(v: Vec<f32>) {}\n",
        2,
        9,
        "type `Vec` is not supported",
    );
    expect_at(
        "#[kernel]\nfn k(v: &[bool]) {}\n",
        2,
        9,
        "buffers of `bool` are not supported",
    );
    expect_at(
        "#[kernel]\nfn k() -> u32 { 1 }\n",
        2,
        11,
        "kernels return nothing",
    );
    expect_at(
        "#[kernel]\nfn k<T>() {}\n",
        2,
        5,
        "the generic kernel `k` needs the instances to build",
    );
    expect_at(
        "fn h<T>(a: f32) -> f32 { a }\n#[kernel]\nfn k() {}\n",
        1,
        5,
        "generic helper functions are not supported",
    );
}

#[test]
fn helper_errors() {
    expect_at(
        "fn h(a: f32) -> f32 { if a > 0.0 { return a; } a }\n#[kernel]\nfn k(y: &mut [f32]) { y[0] = h(1.0); }\n",
        1,
        36,
        "`return` in a helper is only allowed as its last statement",
    );
    let g = "fn g(a: f32) -> f32 { let t = a * 2.0; t + 1.0 }\n#[kernel]\nfn k(x: &[f32], y: &mut [f32]) {\n";
    expect_at(
        &format!("{g}    let mut i = 0u32;\n    while g(x[i]) < 3.0 {{ i += 1; }}\n}}\n"),
        5,
        11,
        "cannot be called in a `while` condition",
    );
    expect_at(
        &format!("{g}    let q = x[0] > 0.0 && g(1.0) > 0.0;\n}}\n"),
        4,
        27,
        "on the right of `&&`",
    );
    expect_at(
        &format!(
            "{g}    while (if x[0] > 0.0 {{ let t = 1.0; t }} else {{ 2.0 }}) < 2.0 {{}}\n}}\n"
        ),
        4,
        12,
        "a block with statements cannot be used in a `while` condition",
    );
    // In a `let`, the same `if` is lowered to statements.
    assert!(
        parse(
            "ok.vyre",
            &format!(
                "{g}    let q = if x[0] > 0.0 {{ 1.0 }} else {{ g(1.0) }};\n    y[0] = q;\n}}\n"
            )
        )
        .is_ok()
    );
    expect_at(
        "fn s(v: &mut [f32]) -> f32 { v[0] = 1.0; 2.0 }\n#[kernel]\nfn k(y: &mut [f32]) {\n    let a = s(y) + 1.0;\n}\n",
        4,
        13,
        "helper `s` writes memory",
    );
    expect_at(
        "fn u(v: &mut [f32]) { v[0] = 1.0; }\n#[kernel]\nfn k(y: &mut [f32]) {\n    let a = u(y);\n}\n",
        4,
        13,
        "helper `u` returns nothing",
    );
    expect_at(
        "fn t(a: f32) -> f32 { a }\n#[kernel]\nfn k(y: &mut [f32]) {\n    y[0] = t(1.0, 2.0);\n}\n",
        4,
        12,
        "helper `t` takes 1 argument(s) but 2 were given",
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "    let a = {}1{};",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    expect_at(
        &k(&deep),
        3,
        140,
        "brackets are nested more than 128 levels deep",
    );
    let chain = format!("    let a = 1{};", " + 1".repeat(5_000));
    expect_at(&k(&chain), 3, 13, "nested more than 128 levels deep");
    let neg = format!("    let a = {}1;", "- ".repeat(1_000));
    expect_at(&k(&neg), 3, 267, "more than 128 operators in a row");
    let long = format!("    let a = 1{};", " + 1".repeat(20_000));
    expect_at(&k(&long), 3, 40_007, "longer than 20000 tokens");
}

#[test]
fn every_error_is_reported_in_source_order() {
    let ds = errors(&k(
        "    let a = q1;\n    let b = 1.0 + 1u32;\n    let c = q3;",
    ));
    let pos: Vec<(usize, usize)> = ds.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(pos, [(3, 13), (4, 13), (5, 13)]);
}

#[test]
fn rendering_looks_like_rustc() {
    let d = parse("e.vyre", &k("    let b = n + 1.5;")).unwrap_err();
    let text = d.render();
    let expected = "error: mismatched types: `u32 + f32`; both operands of `+` must have the same type (convert one with `as`)
  --> e.vyre:3:13
  |
3 |     let b = n + 1.5;
  |             ^^^^^^^
";
    assert!(text.starts_with(expected), "{text}");
    assert_eq!(d.to_string(), text);
    assert_eq!(
        d.diagnostics[0].to_string(),
        "e.vyre:3:13: error: mismatched types: `u32 + f32`; both operands of `+` must have the same type (convert one with `as`)"
    );
    let with_note = parse("e.vyre", &k("    let a: f32 = 1;"))
        .unwrap_err()
        .render();
    assert!(
        with_note.contains("= note: an integer literal is never an `f32`; write `1.0`"),
        "{with_note}"
    );
}

const SAMPLE: &str = r"
const N: u32 = 256;
fn sq(x: f32) -> f32 { x * x }
#[kernel(workgroup_size = N)]
pub fn k(x: &[f32], y: &mut [f32], h: &mut [u32]) {
    #[shared] let mut t: [f32; N];
    let i = global_id().x;
    t[local_id().x] = if i < x.len() { sq(x[i]) } else { 0.0 };
    barrier();
    for j in 0..4u32 { h.atomic_add(j, 1); }
    y[i] = t[0].max(1.0) as f32;
}
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Truncations and byte edits of a valid file never panic, and every
    /// diagnostic lies inside the source.
    #[test]
    fn never_panics_on_mutated_source(cut in 0usize..SAMPLE.len(), at in 0usize..SAMPLE.len(), ins in "[ -~]{0,3}") {
        let mut s: String = SAMPLE[..SAMPLE.floor_char_boundary(cut)].to_string();
        s.push_str(&SAMPLE[SAMPLE.floor_char_boundary(cut)..]);
        let at = s.floor_char_boundary(at.min(s.len()));
        s.insert_str(at, &ins);
        let s2 = &SAMPLE[..SAMPLE.floor_char_boundary(cut)];
        for src in [s.as_str(), s2] {
            if let Err(d) = parse("m.vyre", src) {
                for diag in &d.diagnostics {
                    prop_assert!(diag.span.end <= src.len());
                    prop_assert!(diag.line >= 1 && diag.column >= 1);
                    prop_assert!(!diag.message.contains("internal error"), "{}", diag);
                }
                let _ = d.render();
            }
        }
    }

    /// Arbitrary text never panics either.
    #[test]
    fn never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        if let Err(d) = parse("r.vyre", &src) {
            prop_assert!(!d.render().is_empty());
            prop_assert!(!d.diagnostics.iter().any(|d| d.message.contains("internal error")));
        }
    }
}

#[test]
fn unknown_attributes_on_loops_lets_statements_and_items() {
    expect_at(
        &k("    #[bogus]\n    for i in 0..4u32 { y[i] = 1.0; }"),
        3,
        5,
        "unknown attribute `#[bogus]` on a statement",
    );
    expect_at(
        &k("    #[bogus] let a = 1u32;"),
        3,
        5,
        "unknown attribute `#[bogus]` on `let`",
    );
    expect_at(
        &k("    #[inline] y[0] = 1.0;"),
        3,
        5,
        "unknown attribute `#[inline]` on a statement",
    );
    expect_at(
        &k("    #[unroll] while n > 0 { }"),
        3,
        5,
        "`#[unroll]` applies to `for` loops",
    );
    expect_at(
        &k("    #[unroll(4)] for i in 0..4u32 { y[i] = 1.0; }"),
        3,
        5,
        "`#[unroll]` takes no arguments",
    );
    expect_at(
        "#[bogus]\nconst N: u32 = 4;\n#[kernel]\npub fn k(y: &mut [f32]) { y[0] = 1.0; }\n",
        1,
        1,
        "unknown attribute `#[bogus]` on a `const`",
    );
    expect_at(
        "#[bogus]\nfn h(v: f32) -> f32 { v }\n#[kernel]\npub fn k(y: &mut [f32]) { y[0] = h(1.0); }\n",
        1,
        1,
        "unknown attribute `#[bogus]` on a helper",
    );
    expect_at(
        "#[kernel]\n#[bogus]\npub fn k(y: &mut [f32]) { y[0] = 1.0; }\n",
        2,
        1,
        "unknown attribute `#[bogus]` on a kernel",
    );
    expect_at(
        "#[kernel]\npub fn k(#[bogus] y: &mut [f32]) { y[0] = 1.0; }\n",
        2,
        10,
        "unknown attribute `#[bogus]` on a parameter",
    );
}

#[test]
fn unroll_needs_constant_bounds() {
    expect_at(
        &k("    #[unroll]\n    for i in 0..n { y[i] = 1.0; }"),
        3,
        5,
        "`#[unroll]` needs a range with constant bounds",
    );
    // Constant expressions fold; `break` is rejected by validation, at the loop.
    expect_at(
        &k("    #[unroll]\n    for i in 0..4u32 { if n > i { break; } }"),
        3,
        5,
        "`#[unroll]` loop with `break` or `continue`",
    );
    expect_at(
        &k("    #[unroll]\n    for i in 0..5000u32 { y[i] = 1.0; }"),
        3,
        5,
        "`#[unroll]` of more than 1024 iterations",
    );
}

#[test]
fn step_by_needs_a_positive_constant() {
    expect_at(
        &k("    for i in (0..n).step_by(0) { y[i] = 1.0; }"),
        3,
        29,
        "`step_by(0)`: a loop's step must be at least 1",
    );
    expect_at(
        &k("    for i in (0..16u32).step_by(n) { y[i] = 1.0; }"),
        3,
        33,
        "the step of `step_by` must be a constant",
    );
    expect_at(
        &k("    for i in (0..16i32).step_by(3000000000) { y[i] = 1.0; }"),
        3,
        33,
        "does not fit the `i32` loop variable",
    );
    expect_at(
        &k("    for i in (0..16u32).step_by(1, 2) { y[i] = 1.0; }"),
        3,
        14,
        "`step_by` takes one constant argument",
    );
}

#[test]
fn private_array_errors() {
    expect_at(
        &k("    let mut a = [0.0f32; n];"),
        3,
        26,
        "the length of a private array must be a constant (a literal or a `const`), but `n` is a run-time value",
    );
    expect_at(
        &k("    let mut a: [f32; n];"),
        3,
        22,
        "the length of a private array must be a constant",
    );
    expect_at(
        &k("    let mut a: [f32; 0];"),
        3,
        5,
        "a private array needs at least one element",
    );
    expect_at(
        &k("    let mut a = [true; 4];"),
        3,
        5,
        "private arrays of `bool` are not supported",
    );
    expect_at(
        &k("    let mut a: [f32; 4] = [1.0; 8];"),
        3,
        33,
        "mismatched lengths: `a` is declared with 4 elements but this initializer has 8",
    );
    expect_at(
        &k("    let mut a = [0.0f32; 4];\n    let b = a;"),
        4,
        13,
        "`a` is a private array, not a value",
    );
    expect_at(
        &k("    let a = [0.0f32; 4];\n    a[1] = 2.0;"),
        4,
        5,
        "cannot assign to an element of `a`, which is not mutable",
    );
    expect_at(
        &k("    let mut a = [0u32; 4];\n    a[0] = 1.5;"),
        4,
        12,
        "mismatched types: `a` holds `u32` but this value is `f32`",
    );
    expect_at(
        &k("    let mut a = [0u32; 4];\n    a.atomic_add(0, 1);"),
        4,
        5,
        "`a` is a private array: atomics work on buffers and `#[shared]` arrays only",
    );
    // Far more than an invocation may keep.
    expect_at(
        &k("    let mut a = [0.0f32; 100000];\n    y[0] = a[n];"),
        3,
        5,
        "private arrays take 400000 bytes",
    );
}

#[test]
fn private_arrays_do_not_cross_function_boundaries() {
    let src = "fn h(v: &[f32]) -> f32 { v[0] }\n#[kernel]\npub fn k(y: &mut [f32]) {\n    let a = [1.0f32; 4];\n    y[0] = h(&a);\n}\n";
    expect_at(
        src,
        5,
        14,
        "the private array `a` cannot be passed to helper `h`",
    );
    let src =
        "fn h(v: [f32; 4]) -> f32 { v[0] }\n#[kernel]\npub fn k(y: &mut [f32]) { y[0] = 1.0; }\n";
    expect_at(
        src,
        1,
        9,
        "private arrays cannot be passed to or returned from functions",
    );
    let src =
        "fn h() -> [f32; 4] { [0.0; 4] }\n#[kernel]\npub fn k(y: &mut [f32]) { y[0] = 1.0; }\n";
    expect_at(
        src,
        1,
        11,
        "private arrays cannot be passed to or returned from functions",
    );
}

#[test]
fn vector_access_errors() {
    expect_at(
        &k("    let v = n.load4(0u32);"),
        3,
        13,
        "`n` is not a buffer or an array",
    );
    expect_at(
        &k("    let v = x.load4(0u32, 1u32);"),
        3,
        13,
        "`load4` takes one index",
    );
    expect_at(
        &k("    let v: [f32; 2] = x.load4(0u32);"),
        3,
        12,
        "`load4` reads 4 elements, but `v` is declared with 2",
    );
    expect_at(
        &k("    let v: [u32; 4] = x.load4(0u32);"),
        3,
        12,
        "mismatched types: `load4` reads `f32` elements",
    );
    expect_at(
        &k("    let v = [1.0f32; 8];\n    y.store4(0u32, v);"),
        4,
        20,
        "`store4` stores 4 values, but the private array `v` has 8 elements",
    );
    expect_at(
        &k("    y.store2(0u32, [1.0, 2.0, 3.0]);"),
        3,
        20,
        "`store2` stores 2 values, but this list has 3",
    );
    expect_at(
        &k("    let v = [1.0f32; 4];\n    x.store4(0u32, v);"),
        4,
        5,
        "cannot write to `x`: it is a read-only buffer",
    );
    expect_at(
        &k("    y[0] = x.load4(0u32);"),
        3,
        12,
        "`load4` may only be used as `let v = buf.load4(i);`",
    );
}

#[test]
fn subgroup_call_in_divergent_flow_points_at_the_call() {
    // Line 4: `        let s = subgroup_add(v);`, the call at column 17.
    expect_at(
        &k(
            "    let v = x[0];\n    if global_id().x < n {\n        let s = subgroup_add(v);\n        y[0] = s;\n    }",
        ),
        5,
        17,
        "`subgroup_add` in control flow that depends on the invocation",
    );
    // Inside a larger expression and a store's value.
    expect_at(
        &k(
            "    let i = global_id().x;\n    if x[i] > 0.0 {\n        y[i] = 1.0 + subgroup_max(x[i]);\n    }",
        ),
        5,
        22,
        "`subgroup_max` in control flow",
    );
    // A `while` condition is evaluated again after invocations left.
    expect_at(
        &k("    let mut j = 0u32;\n    while subgroup_any(j < 4) {\n        j += 1;\n    }"),
        4,
        11,
        "`subgroup_any` in a `while` condition",
    );
    // A subgroup result is not uniform: a condition on it diverges.
    expect_at(
        &k(
            "    let v = x[0];\n    if subgroup_any(v > 0.0) {\n        let t = subgroup_add(v);\n        y[0] = t;\n    }",
        ),
        5,
        17,
        "`subgroup_add` in control flow that depends on the invocation",
    );
    // Through a helper with statements: the call inside the helper.
    expect_at(
        "fn h(v: f32) -> f32 {\n    let w = v * 2.0;\n    subgroup_min(w)\n}\n#[kernel]\nfn k(x: &[f32], y: &mut [f32]) {\n    if x[0] > 1.0 {\n        y[0] = h(x[1]);\n    }\n}\n",
        3,
        5,
        "`subgroup_min` in control flow",
    );
    // The lane and the size are not collective: fine anywhere.
    let ok = k(
        "    let i = global_id().x;\n    if i < n {\n        h[i] = subgroup_invocation_id() + subgroup_size();\n    }",
    );
    assert!(parse("ok.vyre", &ok).is_ok());
}

#[test]
fn subgroup_arity_and_type_errors() {
    expect_at(
        &k("    let v = x[0];\n    let a = subgroup_shuffle(v);"),
        4,
        13,
        "`subgroup_shuffle` takes 2 arguments but 1 was given: `subgroup_shuffle(v, src_lane)`",
    );
    expect_at(
        &k("    let a = subgroup_size(1u32);"),
        3,
        13,
        "`subgroup_size` takes no arguments but 1 was given",
    );
    expect_at(
        &k("    let a = subgroup_add();"),
        3,
        13,
        "`subgroup_add` takes 1 argument but 0 were given",
    );
    expect_at(
        &k("    let b = subgroup_ballot(1.0);"),
        3,
        29,
        "`subgroup_ballot` takes a `bool` condition, but this is `f32`",
    );
    expect_at(
        &k("    let b = subgroup_add(n > 1);"),
        3,
        26,
        "`subgroup_add` works on `i32`, `u32` or `f32`, not `bool`",
    );
    expect_at(
        &k("    let b = subgroup_shuffle(x[0], 1i32);"),
        3,
        36,
        "the lane operand of `subgroup_shuffle` must be `u32`, but this is `i32`",
    );
    expect_at(
        &k("    let b = subgroup_shuffle_xor(x[0], 1.0);"),
        3,
        40,
        "the lane operand of `subgroup_shuffle_xor` must be `u32`, but this is `f32`",
    );
    expect_at(
        &k("    let b = subgroup_size().x;"),
        3,
        13,
        "`subgroup_size()` is a scalar and has no fields",
    );
    expect_at(
        "const S: u32 = subgroup_size();\n#[kernel]\nfn k() {}\n",
        1,
        16,
        "subgroup functions cannot be used in a `const`",
    );
    // A mismatched result type is reported at the use, as usual.
    expect_at(
        &k("    let b: f32 = subgroup_ballot(n > 1);"),
        3,
        18,
        "mismatched types: `b` is `f32` but this value is `u32`",
    );
}

#[test]
fn helper_named_like_a_builtin() {
    expect_at(
        "fn subgroup_add(v: f32) -> f32 { v }\n#[kernel]\nfn k(y: &mut [f32]) { y[0] = subgroup_add(1.0); }\n",
        1,
        4,
        "`subgroup_add` is a builtin function; a helper cannot have its name",
    );
    expect_at(
        "fn barrier() {}\n#[kernel]\nfn k() { barrier(); }\n",
        1,
        4,
        "`barrier` is a builtin function",
    );
    expect_at(
        "fn global_id() -> u32 { 0 }\n#[kernel]\nfn k() {}\n",
        1,
        4,
        "`global_id` is a builtin function",
    );
}

#[test]
fn tuple_errors() {
    let three = "fn three() -> (f32, f32, f32) { (1.0, 2.0, 3.0) }\nfn one() -> f32 { 1.0 }\n#[kernel]\nfn k(y: &mut [f32]) {\n";
    let t = |body: &str| format!("{three}{body}\n}}\n");
    expect_at(
        &t("    let (a, b) = three();"),
        5,
        9,
        "mismatched types: this pattern has 2 elements, but the value is a tuple of 3",
    );
    expect_at(
        &t("    let v = three();"),
        5,
        13,
        "helper `three` returns a tuple `(f32, f32, f32)`, which is not a value; destructure it in a `let`: `let (v0, v1, v2) = three(..);`",
    );
    expect_at(
        &t("    y[0] = three() + 1.0;"),
        5,
        12,
        "returns a tuple `(f32, f32, f32)`, which is not a value",
    );
    expect_at(
        &t("    let (a, b) = one();"),
        5,
        18,
        "helper `one` returns `f32`, not a tuple",
    );
    expect_at(
        &t("    let t = (1.0, 2.0);"),
        5,
        13,
        "a tuple is not a value in vyre",
    );
    expect_at(
        &t("    let (a, b, c) = three();\n    y[0] = (a, b).0;"),
        6,
        12,
        "tuple fields (`.0`) are not supported",
    );
    expect_at(
        &t("    let (a, a, c) = three();"),
        5,
        13,
        "`a` is bound more than once in this pattern",
    );
    expect_at(
        &t("    let (a, (b, c)) = three();"),
        5,
        13,
        "nested tuple patterns are not supported",
    );
    expect_at(
        &t("    let (a, b, c) = three();\n    (a, b, c) = three();"),
        6,
        6,
        "cannot assign twice to immutable variable `a`",
    );
    expect_at(
        &t("    let (mut a, mut b) = (1.0, 2.0);\n    (a, y[0]) = (b, a);"),
        6,
        9,
        "only local variables and `_` can be assigned from a tuple",
    );
    expect_at(
        &t("    let (a, b): (f32, u32) = (1.0, 2.0);"),
        5,
        36,
        "mismatched types: `b` is `u32` but this value is `f32`",
    );
    // Tuple types outside a helper's return type.
    expect_at(
        "fn f(p: (f32, f32)) -> f32 { 1.0 }\n#[kernel]\nfn k() {}\n",
        1,
        9,
        "a tuple type is only allowed as a helper's return type",
    );
    expect_at(
        "fn f() -> (f32, (f32, u32)) { (1.0, (2.0, 3)) }\n#[kernel]\nfn k() {}\n",
        1,
        17,
        "nested tuples are not supported",
    );
    expect_at(
        "fn f() -> (f32,) { (1.0,) }\n#[kernel]\nfn k() {}\n",
        1,
        11,
        "a one-element tuple is not supported",
    );
    expect_at(
        "fn f() -> (u32, u32, u32, u32, u32, u32, u32, u32, u32) { (0, 0, 0, 0, 0, 0, 0, 0, 0) }\n#[kernel]\nfn k() {}\n",
        1,
        11,
        "a helper returns at most 8 values, but this tuple has 9",
    );
    // The helper's tail must be a tuple of the declared length.
    expect_at(
        "fn f() -> (f32, f32) { (1.0, 2.0, 3.0) }\n#[kernel]\nfn k(y: &mut [f32]) { let (a, b) = f(); y[0] = a + b; }\n",
        1,
        24,
        "helper `f` returns `(f32, f32)` (2 values), but this tuple has 3",
    );
    expect_at(
        "fn f() -> (f32, f32) { 1.0 }\n#[kernel]\nfn k(y: &mut [f32]) { let (a, b) = f(); y[0] = a + b; }\n",
        1,
        24,
        "expected a tuple",
    );
    expect_at(
        "fn f() -> (f32, u32) { (1.0, 2.0) }\n#[kernel]\nfn k(y: &mut [f32]) { let (a, b) = f(); y[0] = a; }\n",
        1,
        30,
        "mismatched types: helper `f` returns `u32`, but this value is `f32`",
    );
    expect_at(
        "fn g() -> u32 { 1.0 }\n#[kernel]\nfn k(y: &mut [u32]) { y[0] = g(); }\n",
        1,
        17,
        "mismatched types: helper `g` returns `u32`, but this value is `f32`",
    );
}

/// A kernel with narrow parameters whose body starts on line 3.
fn narrow(body: &str) -> String {
    format!(
        "#[kernel]\npub fn k(x: &mut [f32], b: &mut [u8], h: f16, w: &mut [bf16]) {{\n{body}\n}}\n"
    )
}

#[test]
fn narrow_literal_errors() {
    expect_at(
        &narrow("    let a: u8 = 256;"),
        3,
        17,
        "literal `256` out of range for `u8` (whose range is 0..=255)",
    );
    expect_at(
        &narrow("    let c = -129i8;"),
        3,
        13,
        "literal `-129` out of range for `i8` (whose range is -128..=127)",
    );
    expect_at(
        &narrow("    let t: i16 = 40000;"),
        3,
        18,
        "literal `40000` out of range for `i16` (whose range is -32768..=32767)",
    );
    expect_at(
        &narrow("    let t = 65536u16;"),
        3,
        13,
        "literal `65536` out of range for `u16`",
    );
    // The type comes from a later use, the error points at the literal.
    expect_at(
        &narrow("    let s = 300;\n    b[1] = s;"),
        3,
        13,
        "literal `300` out of range for `u8`",
    );
    expect_at(
        &narrow("    let d = 70000.0f16;"),
        3,
        13,
        "float literal out of range for `f16`; write `f16::INFINITY` or `f16::from_bits(0x7c00)` for infinity",
    );
    expect_at(
        &narrow("    let e: f16 = 1e5;"),
        3,
        18,
        "float literal out of range for `f16`",
    );
    expect_at(
        &narrow("    w[0] = 1e39;"),
        3,
        12,
        "float literal out of range for `bf16`; write `bf16::INFINITY` or `bf16::from_bits(0x7f80)`",
    );
    expect_at(
        &narrow("    let l = 1.5u8;"),
        3,
        13,
        "a number with a fractional part or an exponent cannot be a `u8`",
    );
    expect_at(
        &narrow("    let n = f16::from_bits(0x10000);"),
        3,
        28,
        "literal `65536` out of range for `u16`",
    );
    expect_at(
        &narrow("    let q = 1isize;"),
        3,
        13,
        "`isize` literals are not supported; use no suffix or one of the suffixes `i32 u32 f32 f16 bf16 u8 i8 u16 i16 u64 i64 f64`",
    );
}

#[test]
fn narrow_type_errors() {
    let d = expect_at(
        &narrow("    let f = h + 1;"),
        3,
        13,
        "mismatched types: `f16 + i32`",
    );
    assert_eq!(
        d.notes,
        ["an integer literal is never an `f16`; write `1.0`"]
    );
    expect_at(
        &narrow("    let m = h.sqrt() + 1.0bf16;"),
        3,
        13,
        "mismatched types: `f16 + bf16`",
    );
    expect_at(&narrow("    let g = -b[0];"), 3, 13, "cannot negate a `u8`");
    expect_at(
        &narrow("    let q = !h;"),
        3,
        13,
        "`!` works on `bool` and integers, not `f16`",
    );
    expect_at(
        &narrow("    let p = h.min(2);"),
        3,
        13,
        "`min` needs all operands of the same type, got `f16`, `i32`",
    );
    expect_at(
        &narrow("    let s = b[0].sqrt();"),
        3,
        13,
        "`sqrt` works on `f32` (or `f16`, `bf16`",
    );
    expect_at(
        &narrow("    let h2: f16 = h as f32;"),
        3,
        19,
        "`h2` is `f16` but this value is `f32`",
    );
    expect_at(
        &narrow("    w[0] = h;"),
        3,
        12,
        "`w` holds `bf16` but this value is `f16`",
    );
}

#[test]
fn narrow_indices_loops_and_atomics_stay_32_bit() {
    expect_at(
        &narrow("    let i = 3u8;\n    x[i] = 1.0;"),
        4,
        7,
        "an index must be `u32` or `i32`, but this is `u8`",
    );
    expect_at(
        &narrow("    b.atomic_add(0, 1);"),
        3,
        5,
        "`atomic_add` needs `u32`, `i32` or (buffers) `f32` elements, but `b` holds `u8`",
    );
    expect_at(
        &narrow("    for j in 0u8..4 {}"),
        3,
        14,
        "a `for` range must be over `u32` or `i32`, but this bound is `u8`",
    );
}

#[test]
fn load8_and_store8_need_narrow_elements() {
    expect_at(
        &narrow("    x.store8(0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);"),
        3,
        5,
        "`store8` works on 16- and 8-bit elements (`f16 bf16 u16 i16 u8 i8`), but `x` holds `f32`; use two `store4`s",
    );
    // A private array's element type is known only after inference.
    expect_at(
        &narrow("    let arr = [0; 8];\n    let r = arr.load8(0);"),
        4,
        13,
        "`load8` works on 16- and 8-bit elements (`f16 bf16 u16 i16 u8 i8`), but `arr` holds `i32`; use two `load4`s",
    );
    expect_at(
        &narrow("    let v = b.load8(0);\n    let s = v.load8(0) + 1;"),
        4,
        13,
        "`load8` may only be used as `let v = buf.load8(i);`",
    );
    expect_at(
        &narrow("    let v: [u8; 4] = b.load8(0);"),
        3,
        12,
        "`load8` reads 8 elements, but `v` is declared with 4",
    );
    expect_at(
        &narrow("    w.store8(0, [h, h]);"),
        3,
        17,
        "`store8` stores 8 values, but this list has 2",
    );
}

#[test]
fn generic_kernel_errors() {
    expect_at(
        "#[kernel(workgroup_size = 64)]\npub fn k<T>(x: &[T]) {}\n",
        2,
        9,
        "the generic kernel `k` needs the instances to build: add `instances(...)` to its `#[kernel(...)]` attribute",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32)))]\npub fn k(x: &[f32]) {}\n",
        1,
        10,
        "`instances(...)` is for generic kernels (`pub fn k<T>(..)` or `pub fn k<const N: u32>(..)`), but `k` has no generic parameters",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32), b = (U = f32)))]\npub fn k<T>() {}\n",
        1,
        40,
        "`U` is not a parameter of the generic kernel `k`, whose parameters are `T`",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32), b = ()))]\npub fn k<T>() {}\n",
        1,
        35,
        "the instance `b` of `k` gives no value for `T`; write `b = (T = ..)`",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32, N = 1)))]\npub fn k<T, const N: u32, const M: u32>() {}\n",
        1,
        20,
        "the instance `a` of `k` gives no value for `M`",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32, T = u8)))]\npub fn k<T>() {}\n",
        1,
        34,
        "the instance `a` gives `T` twice",
    );
    expect_at(
        "#[kernel(instances(a = (T = 4)))]\npub fn k<T>() {}\n",
        1,
        29,
        "`T` is a type parameter: give it a scalar type (`T = f32`), not a value",
    );
    expect_at(
        "#[kernel(instances(a = (T = foo)))]\npub fn k<T>() {}\n",
        1,
        29,
        "`T` is a type parameter, but `foo` is not a type",
    );
    expect_at(
        "#[kernel(instances(a = (N = f32)))]\npub fn k<const N: u32>() {}\n",
        1,
        29,
        "`N` is a const parameter of type `u32`: give it a value (`N = 16`, or a `const`), not the type `f32`",
    );
    expect_at(
        "#[kernel(instances(a = (N = 1.5)))]\npub fn k<const N: u32>() {}\n",
        1,
        29,
        "`N` is a `u32`, but this is a float",
    );
    expect_at(
        "#[kernel(instances(a = (N = 300)))]\npub fn k<const N: u8>() {}\n",
        1,
        29,
        "the value of `N` is out of range for `u8` (whose range is 0..=255)",
    );
    expect_at(
        "#[kernel(instances(a = (N = -1)))]\npub fn k<const N: u32>() {}\n",
        1,
        29,
        "the value of `N` is out of range for `u32`",
    );
    expect_at(
        "#[kernel(instances(a = (N = 4i32)))]\npub fn k<const N: u32>() {}\n",
        1,
        29,
        "`N` is a `u32`, but this literal is a `i32`",
    );
    expect_at(
        "const X: i32 = 3;\n#[kernel(instances(a = (N = X)))]\npub fn k<const N: u32>() {}\n",
        2,
        29,
        "`N` is a `u32`, but this value is `i32`",
    );
    expect_at(
        "#[kernel(instances(a = (N = Y)))]\npub fn k<const N: u32>() {}\n",
        1,
        29,
        "cannot find the constant `Y`",
    );
    expect_at(
        "#[kernel(instances(a = (N = 1)))]\npub fn k<const N: bool>() {}\n",
        1,
        29,
        "`N` is a `bool`, but this is an integer",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32), a = (T = u8)))]\npub fn k<T>() {}\n",
        1,
        35,
        "the instance `a` of `k` is listed twice",
    );
    expect_at(
        "#[kernel(instances())]\npub fn k<T>() {}\n",
        1,
        10,
        "`instances(...)` lists no instance",
    );
    expect_at(
        "#[kernel(instances(a = T = f32))]\npub fn k<T>() {}\n",
        1,
        24,
        "malformed `instances(...)`: expected parentheses",
    );
    expect_at(
        "#[kernel(instances(a = (N = 1)), instances(b = (N = 2)))]\npub fn k<const N: u32>() {}\n",
        1,
        34,
        "`instances(...)` is given twice",
    );
}

#[test]
fn generic_parameter_errors() {
    expect_at(
        "#[kernel(instances(a = (T = f32)))]\npub fn k<T: Copy>() {}\n",
        2,
        10,
        "a kernel's type parameters take no bounds, defaults or attributes",
    );
    expect_at(
        "#[kernel(instances(a = (N = 4)))]\npub fn k<const N: f32>() {}\n",
        2,
        19,
        "a const parameter is an integer or `bool`, not `f32`",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32)))]\npub fn k<'a, T>() {}\n",
        2,
        10,
        "lifetime parameters are not supported",
    );
    expect_at(
        "#[kernel(instances(a = (f32 = f32)))]\npub fn k<f32>() {}\n",
        2,
        10,
        "a type parameter cannot be named `f32`, like a scalar type",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32)))]\npub fn k<T, T>() {}\n",
        2,
        13,
        "the generic parameter `T` is declared twice",
    );
    expect_at(
        "#[kernel(instances(a = (T = f32)))]\npub fn k<T>() where T: Copy {}\n",
        2,
        15,
        "`where` clauses are not supported",
    );
}

#[test]
fn instance_names_must_not_collide() {
    expect_at(
        "#[kernel(instances(x = (T = f32)))]\npub fn other<T>() {}\nfn other_x() {}\n",
        1,
        20,
        "the instance `x` of `other` is the kernel `other_x`, but a function of this file has that name; rename the instance",
    );
    expect_at(
        "#[kernel]\npub fn k_a() {}\n#[kernel(instances(a = (T = f32)))]\npub fn k<T>() {}\n",
        3,
        20,
        "the instance `a` of `k` is the kernel `k_a`, but a function of this file has that name",
    );
    expect_at(
        "#[kernel(instances(b_c = (T = f32)))]\npub fn a<T>() {}\n#[kernel(instances(c = (T = f32)))]\npub fn a_b<T>() {}\n",
        3,
        20,
        "the instance `c` of `a_b` is the kernel `a_b_c`, but an instance of another generic kernel has that name",
    );
}

#[test]
fn errors_inside_an_instance_name_it() {
    let src = "#[kernel(instances(f32 = (T = f32), bf16 = (T = bf16), u8 = (T = u8)))]\npub fn bad<T>(x: &mut [T]) {\n    x[0] = x[1] * 2.0;\n}\n";
    let d = expect_at(
        src,
        3,
        12,
        "mismatched types: `u8 * f32`; both operands of `*` must have the same type",
    );
    assert_eq!(d.notes, ["in the instance `bad_u8` (T = u8)"]);
    // An error of every instance is reported once, for the first.
    let src = "#[kernel(instances(a = (N = 1), b = (N = 2)))]\npub fn k<const N: u32>(x: &mut [f32]) {\n    x[0] = q;\n}\n";
    let ds = errors(src);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!((ds[0].line, ds[0].column), (3, 12));
    assert_eq!(ds[0].notes, ["in the instance `k_a` (N = 1u32)"]);
}

#[test]
fn helpers_do_not_see_generic_parameters() {
    let d = expect_at(
        "fn h(v: f32) -> f32 { v as T }\n#[kernel(instances(a = (T = f32)))]\npub fn k<T>(y: &mut [f32]) { y[0] = h(1.0); }\n",
        1,
        28,
        "`T` is a type parameter of the kernel `k`; helpers are not generic and cannot use it",
    );
    assert!(
        d.notes
            .contains(&"in the instance `k_a` (T = f32)".to_string())
    );
    expect_at(
        "fn g(v: f32) -> f32 { v * (TILE as f32) }\n#[kernel(instances(a = (TILE = 4)))]\npub fn k<const TILE: u32>(y: &mut [f32]) { y[0] = g(1.0); }\n",
        1,
        28,
        "cannot find value `TILE` in this scope",
    );
    expect_at(
        "fn h<T>(v: T) -> T { v }\n#[kernel]\npub fn k() {}\n",
        1,
        5,
        "generic helper functions are not supported",
    );
}

/// A warpgroup kernel whose body starts on line 6: a shared `f32` array
/// `m`, a `bf16` tile `tb` and an accumulator `s`.
fn attn(body: &str) -> String {
    format!(
        "#[kernel(workgroup_size = 128)]\npub fn k(y: &mut [f32]) {{\n    #[shared] let mut m: [f32; 64];\n    #[shared] let mut tb: [bf16; 4096];\n    let mut s = warpgroup_zero::<f32, 64, 64, 64>();\n{body}\n}}\n"
    )
}

/// The attention forms' misuse points at the part at fault: the closure's
/// parameter list, an annotation, an operand, a call in the closure.
#[test]
fn attention_form_errors() {
    let d = expect_at(
        &attn("    s = matrix_map(s, |r, c| r as f32);"),
        6,
        23,
        "`matrix_map`'s closure takes 3 parameters",
    );
    assert_eq!(d.span.len(), "|r, c|".len());
    let d = expect_at(
        &attn("    s = matrix_map(s, |r, c, v: u32| v as f32);"),
        6,
        33,
        "mismatched types: `matrix_map`'s third parameter `v` is the element's value (`f32`), not `u32`",
    );
    assert_eq!(d.span.len(), 3);
    let d = expect_at(
        &attn("    matrix_row_max(&mut y, 0, s);"),
        6,
        20,
        "`matrix_row_max` writes the row values to a `#[shared]` array of `f32`, but `y` is a buffer parameter",
    );
    assert_eq!(d.span.len(), "&mut y".len());
    let d = expect_at(
        &attn("    s = warpgroup_mma(s, &tb, 0, 64, s);"),
        6,
        23,
        "`warpgroup_mma` reads A from `s` and accumulates into it too",
    );
    assert_eq!(d.span.len(), 1);
    let d = expect_at(
        &attn("    s = matrix_map(s, |r, c, v| v + subgroup_max(v));"),
        6,
        37,
        "`subgroup_max` in a `matrix_map` closure",
    );
    assert_eq!(d.span.len(), "subgroup_max(v)".len());
}

/// A kernel with `opts` in `#[kernel(..)]` on line 1 and a signature
/// giving integer, float and buffer parameters.
fn grid_kernel(opts: &str) -> String {
    format!("#[kernel({opts})]\npub fn k(n: u32, a: f32, x: &[f32], y: &mut [f32]) {{}}\n")
}

#[test]
fn grid_rule_errors() {
    // Column 10 is where the options start.
    expect_at(&grid_kernel("grid = a"), 1, 17, "`a` is a `f32` parameter");
    expect_at(
        &grid_kernel("grid = x"),
        1,
        17,
        "a grid uses its length, `x.len()`",
    );
    expect_at(&grid_kernel("grid = m"), 1, 17, "cannot find `m`");
    expect_at(
        &grid_kernel("grid = n.abs()"),
        1,
        19,
        "`abs` is not a grid method",
    );
    expect_at(
        &grid_kernel("grid = n << 2"),
        1,
        19,
        "a grid dimension is an integer expression",
    );
    expect_at(
        &grid_kernel("grid = n.len()"),
        1,
        17,
        "`.len()` is the length of a buffer parameter",
    );
    expect_at(
        &grid_kernel("grid = n.div_ceil(2, 3)"),
        1,
        19,
        "takes one argument",
    );
    expect_at(
        &grid_kernel("grid = (n, 1, 1, 1)"),
        1,
        17,
        "`grid` takes 1 to 3 dimensions",
    );
    expect_at(
        &grid_kernel("grid = n / (4 - 4)"),
        1,
        17,
        "this grid dimension divides by zero",
    );
    expect_at(
        &grid_kernel("grid = n / (4 / 0)"),
        1,
        22,
        "has no value: `4 / 0` divides by zero",
    );
    expect_at(
        &grid_kernel("grid = (n, 1 - 2)"),
        1,
        21,
        "`1 - 2` is negative",
    );
    expect_at(
        &grid_kernel("grid = n, grid = n"),
        1,
        20,
        "`grid` is given twice",
    );
    expect_at(
        &grid_kernel("grid = -1"),
        1,
        17,
        "expected a non-negative integer",
    );
    expect_at(
        &grid_kernel("grid = 2.5"),
        1,
        17,
        "a grid dimension is an integer expression",
    );
}

#[test]
fn tune_option_errors() {
    let generic = |opts: &str| {
        format!("#[kernel({opts})]\npub fn k<T, const B: u32>(n: u32, x: &[T]) {{}}\n")
    };
    expect_at(
        &grid_kernel("grid = n, tune(B)"),
        1,
        20,
        "`tune(...)` names const parameters of a generic kernel, but `k` has no generic parameters",
    );
    expect_at(
        &generic("instances(a = (T = f32, B = 1)), tune(B)"),
        1,
        43,
        "it must also compute the instance's grid: add `grid = (..)`",
    );
    expect_at(
        &generic("grid = n, instances(a = (T = f32, B = 1)), tune(T)"),
        1,
        58,
        "`T` is not a const parameter of `k`",
    );
    expect_at(
        &generic("grid = n, instances(a = (T = f32, B = 1)), tune(B, B)"),
        1,
        61,
        "`B` is named twice in `tune(...)`",
    );
    expect_at(
        &generic("grid = n, instances(a = (T = f32, B = 1)), tune()"),
        1,
        53,
        "`tune(...)` names no parameter",
    );
    expect_at(
        &generic("grid = n, instances(a = (T = f32, B = 1)), tune(B), tune(B)"),
        1,
        62,
        "`tune(...)` is given twice",
    );
}

#[test]
fn warpgroup_wait_takes_a_small_constant() {
    expect_at(
        &k("    warpgroup_wait(n);"),
        3,
        20,
        "the argument of `warpgroup_wait` (how many of the latest asynchronous multiplies may still run)",
    );
    expect_at(
        &k("    warpgroup_wait(8);"),
        3,
        20,
        "`warpgroup_wait(8)`: at most 7 multiplies may be left running",
    );
    expect_at(
        &k("    warpgroup_wait(1, 2);"),
        3,
        5,
        "`warpgroup_wait` takes 0 or 1",
    );
}

#[test]
fn kernel_options_given_twice_are_errors() {
    expect_at(
        "#[kernel(workgroup_size = 64, workgroup_size = 128)]\npub fn k(y: &mut [f32]) {}\n",
        1,
        31,
        "`workgroup_size` is given twice",
    );
    expect_at(
        "#[kernel(workgroup_size = 64)]\n#[kernel(workgroup_size = 128)]\npub fn k(y: &mut [f32]) {}\n",
        2,
        1,
        "`#[kernel]` is given twice",
    );
}

#[test]
fn constant_arithmetic_that_overflows_is_an_error() {
    expect_at(
        "const N: u32 = 65536;\n#[kernel]\npub fn k(y: &mut [f32]) {\n    let a = [0.0f32; N * N];\n    y[0] = a[0];\n}\n",
        4,
        22,
        "`65536 * 65536` overflows `u32` in a constant",
    );
    expect_at(
        "const M: u32 = u32::MAX + 65;\n#[kernel]\npub fn k(y: &mut [f32]) {}\n",
        1,
        16,
        "`4294967295 + 65` overflows `u32` in a constant",
    );
    expect_at(
        "const M: i32 = -2147483647 - 2;\n#[kernel]\npub fn k(y: &mut [f32]) {}\n",
        1,
        16,
        "overflows `i32` in a constant",
    );
    // A bare length is a `u32` (too large here, but not "out of range for i32").
    expect_at(
        "#[kernel]\npub fn k(y: &mut [f32]) {\n    let a = [0.0f32; 4294967295];\n    y[0] = a[0];\n}\n",
        3,
        5,
        "private arrays take 17179869180 bytes",
    );
}

/// Thousands of small kernels in one file are not one long statement
/// (the token limit counts per statement, and an item ends at its `}`).
#[test]
fn many_small_kernels_in_one_file_parse() {
    let src: String = (0..3000)
        .map(|i| format!("#[kernel]\npub fn k{i}(y: &mut [f32]) {{}}\n"))
        .collect();
    let t = std::time::Instant::now();
    let m = parse("many.vyre", &src).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(m.kernels.len(), 3000);
    println!("3000 kernels parsed in {:?}", t.elapsed());
}

#[test]
fn identifiers_must_be_in_nfc() {
    // `café` with a combining acute accent (NFD) would be the same item as
    // the precomposed `café` for rustc; both kernels in one file would
    // make a generated module that does not compile.
    let nfd = "cafe\u{301}";
    let src = format!(
        "#[kernel]\nfn caf\u{e9}(y: &mut [f32]) {{ y[0] = 1.0; }}\n#[kernel]\nfn {nfd}(y: &mut [f32]) {{ y[0] = 2.0; }}\n"
    );
    let d = expect_at(&src, 4, 4, "is not in Unicode NFC");
    assert!(
        d.message.contains("write it as `caf\u{e9}`"),
        "{}",
        d.message
    );
    // The precomposed spelling alone is a valid kernel name.
    let ok = parse(
        "e.vyre",
        "#[kernel]\nfn caf\u{e9}(y: &mut [f32]) { y[0] = 1.0; }\n",
    )
    .expect("parses");
    assert_eq!(ok.kernels[0].name, "caf\u{e9}");
}
