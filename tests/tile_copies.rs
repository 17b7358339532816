//! Tile copies (`async_copy_tile`): a box of a row-major source matrix into
//! a swizzled shared tile, 0 outside the matrix and dropped past the tile.
//! The language accepts, prints and encodes them; the validator keeps them
//! collective; and every device of this machine (the reference, wgpu, CUDA
//! with TMA on Hopper) gives the result a plain host model of the
//! documented meaning computes, at the edges of the source and the tile,
//! for destinations TMA cannot take and for row lengths it cannot stride.

#![cfg(feature = "compiler")]

mod device_support;
mod lang_support;
mod ptx_support;

use device_support::{devices, spec_for_every_target};
use lang_support::{error, kernel};
use vyre::ir::{AsyncOp, Node, TileDim};
use vyre::runtime::LaunchArg;
use vyre::{DispatchConfig, Grid};

/// Tile rows and columns of the probe, and its box.
const TILE_ROWS: usize = 32;
const TILE_COLS: usize = 128;
const BOX_ROWS: usize = 16;
const BOX_COLS: usize = 128;
/// What the probe writes into the tile before the copy: elements the copy
/// leaves alone keep it.
const SENTINEL: u16 = 0xAAAA;

/// Copies one box of `src` (a `rows x cols` matrix) from `(row, col)` into
/// its tile at `dst`, then writes the whole tile (logical order) to `out`.
const PROBE: &str = "#[kernel(workgroup_size = 128)]
pub fn probe(rows: u32, cols: u32, row: u32, col: u32, dst: u32, src: &[u16], out: &mut [u16]) {
    #[shared(swizzled, cols = 128)]
    let mut t: [u16; 4096];
    let tid = local_id().x;
    for i in 0..32 {
        t[i * 128 + tid] = 43690u16;
    }
    barrier();
    async_copy_tile(&mut t, dst, &src, rows, cols, row, col, 16, 128);
    async_commit();
    async_wait(0);
    barrier();
    for i in 0..32 {
        out[i * 128 + tid] = t[i * 128 + tid];
    }
}";

/// The probe with a source matrix of constant width 200 and every row the
/// buffer holds (`src.len() / 200`): shapes the launcher knows without a
/// parameter of their own.
fn probe_fill() -> String {
    let (signature, call) = (
        "pub fn probe(rows: u32, cols: u32, row: u32,",
        "&src, rows, cols, row,",
    );
    assert!(PROBE.contains(signature) && PROBE.contains(call));
    PROBE
        .replace(signature, "pub fn probe_fill(row: u32,")
        .replace(call, "&src, src.len() / FILL_COLS, FILL_COLS, row,")
        + "\nconst FILL_COLS: u32 = 200;"
}

/// The documented meaning, element by element, in exact arithmetic.
fn model(src: &[u16], rows: u32, cols: u32, row: u32, col: u32, dst: u32) -> Vec<u16> {
    let mut t = vec![SENTINEL; TILE_ROWS * TILE_COLS];
    let cols64 = u64::from(cols);
    let have_rows = if cols == 0 {
        0
    } else {
        u64::from(rows).min(src.len() as u64 / cols64)
    };
    for r in 0..BOX_ROWS as u64 {
        for c in 0..BOX_COLS as u64 {
            let i = u64::from(dst) + r * TILE_COLS as u64 + c;
            if i >= t.len() as u64 {
                continue;
            }
            let (sr, sc) = (u64::from(row) + r, u64::from(col) + c);
            t[i as usize] = if sr < have_rows && sc < cols64 {
                src[(sr * cols64 + sc) as usize]
            } else {
                0
            };
        }
    }
    t
}

#[test]
fn tile_copies_parse_print_and_round_trip() {
    let p = kernel(PROBE);
    let mut tiles = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Async(op @ AsyncOp::Tile { .. }) = n {
            tiles.push(op.clone());
        }
    });
    assert!(
        matches!(
            tiles.as_slice(),
            [AsyncOp::Tile {
                dst: 0,
                src: 5,
                rows: TileDim::Param(0),
                cols: TileDim::Param(1),
                box_rows: 16,
                box_cols: 128,
                ..
            }]
        ),
        "{tiles:?}"
    );
    let text = vyre::lang::print(&p);
    assert!(
        text.contains("async_copy_tile(&mut t, dst, &src, rows, cols, row, col, 16, 128);"),
        "{text}"
    );
    assert_eq!(kernel(&text), p, "{text}");
    let bytes = vyre::ir::wire::to_wire(&p);
    assert_eq!(vyre::ir::wire::from_wire(&bytes).expect("decode"), p);
    // A constant width and every row of the buffer.
    let p = kernel(&probe_fill());
    let text = vyre::lang::print(&p);
    assert!(
        text.contains(
            "async_copy_tile(&mut t, dst, &src, src.len() / 200, 200, row, col, 16, 128);"
        ),
        "{text}"
    );
    let mut dims = Vec::new();
    vyre::ir::walk_nodes(&p.body, &mut |n| {
        if let Node::Async(AsyncOp::Tile { rows, cols, .. }) = n {
            dims.push((*rows, *cols));
        }
    });
    assert_eq!(dims, [(TileDim::Fill, TileDim::Const(200))]);
    assert_eq!(kernel(&text), p, "{text}");
    let bytes = vyre::ir::wire::to_wire(&p);
    assert_eq!(vyre::ir::wire::from_wire(&bytes).expect("decode"), p);
}

#[test]
fn tile_copies_are_checked_where_they_are_written() {
    let with = |params: &str, tile: &str, call: &str| {
        error(&format!(
            "#[kernel(workgroup_size = 64)]
pub fn k(rows: u32, cols: u32, {params} src: &[u16], out: &mut [u16]) {{
    {tile}
    {call}
    async_commit();
    async_wait(0);
    barrier();
    out[0] = t[0];
}}"
        ))
    };
    let swizzled = "#[shared(swizzled, cols = 64)] let mut t: [u16; 1024];";
    for (params, tile, call, want) in [
        (
            "",
            "#[shared] let mut t: [u16; 1024];",
            "async_copy_tile(&mut t, 0, &src, rows, cols, 0, 0, 8, 64);",
            "copies into a swizzled tile",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows + 1, cols, 0, 0, 8, 64);",
            "or `src.len() / cols`, but this expression reads `rows`",
        ),
        (
            "n: i32,",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, n, cols, 0, 0, 8, 64);",
            "but `n` is not a `u32` scalar",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, src.len() / 64, cols, 0, 0, 8, 64);",
            "must divide by the copy's own cols",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, out.len() / cols, cols, 0, 0, 8, 64);",
            "only for the copy's own source buffer",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows, src.len() / 8, 0, 0, 8, 64);",
            "a constant, but this expression reads `src`",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows, cols, 0, 0, 12, 64);",
            "a box has a multiple of 8 rows",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows, cols, 0, 0, 8, 32);",
            "a multiple of 64 columns",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows, cols, local_id().x, 0, 8, 64);",
            "must be the same in every invocation",
        ),
        (
            "",
            swizzled,
            "if local_id().x < 32 { async_copy_tile(&mut t, 0, &src, rows, cols, 0, 0, 8, 64); }",
            "in control flow that depends on the invocation",
        ),
        (
            "",
            swizzled,
            "async_copy_tile(&mut t, 0, &src, rows, cols, 0, 0, 8, 64); if local_id().x == 0 { async_commit(); }",
            "`async_commit` in control flow that depends on the invocation",
        ),
    ] {
        let e = with(params, tile, call);
        assert!(e.contains(want), "{call}: {e}");
    }
}

/// One launch of a probe: the source matrix's (rows, cols) as the model
/// sees them, and the box's (row, col, dst).
type Case = ((u32, u32), (u32, u32, u32));

/// Every device (and on Hopper the `sm_90a` PTX and cubin, TMA on tensor
/// maps, in specs of their own; the default `ptx` artifact, for sm_80, runs
/// the element loop) gives the model's tile for each case of probe `p`,
/// launched with `scalars(case)` and then `src` and the output.
fn check_on_every_device(
    p: &vyre::ir::Program,
    src: &[u16],
    cases: &[Case],
    scalars: &dyn Fn(&Case) -> Vec<u32>,
) {
    let key = format!("tests::tile_copies::{}", p.name);
    let spec = spec_for_every_target(p, &key);
    let mut hopper = vyre_testkit::harness::OwnedSpec::new(p, format!("{key}_tma"));
    let mut config = DispatchConfig::default();
    config.target_arch = Some("sm_90a".into());
    let ptx = vyre::driver::emit_aot_target("ptx", p, &config).expect("sm_90a PTX");
    let text = String::from_utf8_lossy(&ptx);
    assert!(
        text.contains("cp.async.bulk.tensor.2d")
            && text.contains(".param .align 64 .b8 vyre_tmap0[128]"),
        "{text}"
    );
    hopper.push_artifact("ptx", Some("sm_90a"), ptx);
    // The same assembled by ptxas, where one is found (a build embeds the
    // cubin; the PTX is what the driver compiles without one).
    let cubin = vyre::driver::emit_aot_target("cubin", p, &config)
        .ok()
        .filter(|b| b.starts_with(b"\x7fELF"))
        .map(|bytes| {
            let mut s = vyre_testkit::harness::OwnedSpec::new(p, format!("{key}_tma_cubin"));
            s.push_artifact("cubin", Some("sm_90a"), bytes);
            s
        });
    let mut runs = Vec::new();
    for dev in devices() {
        #[cfg(feature = "cuda")]
        if dev
            .backend_as::<vyre::backend::ptx::runtime::CudaBackend>()
            .is_some_and(|c| c.arch() == "sm_90")
        {
            runs.push((dev.clone(), &hopper, "sm_90a PTX"));
            match &cubin {
                Some(c) => runs.push((dev.clone(), c, "sm_90a cubin")),
                None => println!("skipped: the sm_90a cubin (no ptxas)"),
            }
        }
        runs.push((dev, &spec, "default"));
    }
    for (dev, spec, form) in runs {
        let srcb = dev.upload(src).unwrap();
        for case in cases {
            let ((rows, cols), (row, col, dst)) = *case;
            let what = format!(
                "{} {} ({form}; rows {rows}, cols {cols}, row {row}, col {col}, dst {dst})",
                dev.name(),
                p.name
            );
            let want = model(src, rows, cols, row, col, dst);
            let mut outb = dev.zeros::<u16>(TILE_ROWS * TILE_COLS).unwrap();
            let mut args: Vec<LaunchArg> = scalars(case).into_iter().map(LaunchArg::U32).collect();
            args.push(srcb.arg());
            args.push(outb.arg_mut());
            spec.with(|s| dev.launch(s, Grid::workgroups(1), &mut args))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            drop(args);
            let got = dev
                .download(&outb)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let bad = (0..want.len()).find(|&i| got[i] != want[i]);
            assert!(
                bad.is_none(),
                "{what}: element {:?}: got {:#x}, want {:#x}",
                bad,
                bad.map_or(0, |i| got[i]),
                bad.map_or(0, |i| want[i]),
            );
        }
    }
}

/// Every device gives the model's tile, for boxes inside the matrix, over
/// its edges (zero fill), past the tile's end (dropped), at destinations
/// that are not whole swizzle atoms, and for row lengths TMA cannot stride.
#[test]
fn tile_copies_match_the_model_on_every_device() {
    let (m, n) = (40u32, 200u32);
    let src: Vec<u16> = (0..m * n + 37).map(|i| (i * 7 + 1) as u16).collect();
    let tile = (TILE_COLS * 8) as u32;
    let cases: [Case; 17] = [
        ((m, n), (0, 0, 0)),              // inside
        ((m, n), (8, 64, tile)),          // inside, second atom row
        ((m, n), (32, 0, 0)),             // rows 40.. are past `rows`: zero
        ((m, n), (0, 128, 0)),            // columns 200.. past `cols`: zero
        ((m, n), (36, 150, tile * 2)),    // both edges
        ((m, n), (8, 4, 0)),              // a column off the 16-byte grid
        ((m, n), (200, 300, 0)),          // wholly outside: all zero
        ((m, n), (0, 0, tile * 3)),       // half the box past the tile: dropped
        ((m, n), (0, 0, 8)),              // not a whole swizzle atom
        ((m, n), (0, 0, 128)),            // atom row 1: not whole atoms
        ((m, 196), (0, 0, 0)),            // 196 * 2 bytes: not a 16-byte stride
        ((1000, n), (0, 0, 0)),           // `rows` past the buffer: len / cols
        ((0, n), (0, 0, 0)),              // no rows
        ((m, 0), (0, 0, 0)),              // no columns
        ((m, n), (u32::MAX - 3, 0, 0)),   // rows that would wrap
        ((m, n), (0, u32::MAX - 70, 0)),  // columns that would wrap
        ((m, n), (0, 0, u32::MAX - 100)), // a destination that would wrap
    ];
    let scalars = |&((rows, cols), (row, col, dst)): &Case| vec![rows, cols, row, col, dst];
    check_on_every_device(&kernel(PROBE), &src, &cases, &scalars);
}

/// The shape without parameters (`src.len() / 200` rows of 200): every row
/// the buffer holds, the last partial row not among them.
#[test]
fn tile_copies_of_every_row_match_the_model_on_every_device() {
    let src: Vec<u16> = (0..40 * 200 + 37).map(|i| (i * 5 + 3) as u16).collect();
    let all = (u32::MAX, 200);
    let tile = (TILE_COLS * 8) as u32;
    let cases: [Case; 5] = [
        (all, (0, 0, 0)),        // inside
        (all, (32, 128, tile)),  // the last rows and columns: zero past them
        (all, (40, 0, 0)),       // row 40 is the partial one: zero
        (all, (8, 4, 0)),        // a column off the 16-byte grid
        (all, (0, 0, tile * 3)), // half the box past the tile: dropped
    ];
    let scalars = |&(_, (row, col, dst)): &Case| vec![row, col, dst];
    check_on_every_device(&kernel(&probe_fill()), &src, &cases, &scalars);
}

/// Hopper's form, checked without a GPU: one TMA copy per 128-byte panel,
/// a tensor map parameter per distinct map, the ring of 16 barrier objects,
/// and `ptxas` accepts it; other architectures and the GEMM's instances
/// without tile copies carry none of it.
#[test]
fn hopper_ptx_issues_one_tma_copy_per_panel_and_assembles() {
    let probe = kernel(PROBE);
    let gemm = vyre::lang::parse(
        "gemm_wg.vyre",
        include_str!("../bench/kernels/gemm_wg.vyre"),
    )
    .unwrap_or_else(|e| panic!("{}", e.render()))
    .kernels;
    let attention = vyre::lang::parse(
        "attention.vyre",
        include_str!("../bench/kernels/attention.vyre"),
    )
    .unwrap_or_else(|e| panic!("{}", e.render()))
    .kernels;
    let find = |name: &str| {
        gemm.iter()
            .chain(&attention)
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no kernel `{name}`"))
    };
    let fill = kernel(&probe_fill());
    // (program, arch, TMA copies, tensor maps)
    let cases = [
        (&probe, "sm_90a", 2, 1),
        (&probe, "sm_80", 0, 0),
        (&fill, "sm_90a", 2, 1),
        (find("gemm_wg_bf16_tma"), "sm_90a", 1 + 4, 2),
        (find("gemm_wg_bf16"), "sm_90a", 0, 0),
        (find("gemm_wgp_bf16_w1_p132"), "sm_90a", 1 + 4, 2),
        // q, k and v of 128 columns (two panels), k and v again per tile.
        (
            find("attention_bf16_d128_k128_tma"),
            "sm_90a",
            3 * 2 + 2 * 2,
            3,
        ),
        (find("attention_bf16_d64_causal_tma"), "sm_90a", 3 + 2, 3),
        (find("attention_bf16_d64_causal"), "sm_90a", 0, 0),
    ];
    let ptxas = ptx_support::ptxas();
    for (p, arch, copies, maps) in cases {
        let text = ptx_support::emit(p, arch);
        let what = format!("{} on {arch}", p.name);
        assert_eq!(
            ptx_support::count(&text, "cp.async.bulk.tensor.2d"),
            copies,
            "{what}"
        );
        assert_eq!(
            text.matches(".param .align 64 .b8 vyre_tmap").count(),
            maps,
            "{what}"
        );
        let inits = ptx_support::count(&text, "mbarrier.init.shared::cta.b64");
        assert_eq!(inits, if maps > 0 { 16 } else { 0 }, "{what}");
        if let Some(ptxas) = &ptxas {
            let cubin = vyre::backend::ptx::assemble(ptxas, &text, arch)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(cubin.starts_with(b"\x7fELF"), "{what}");
        }
    }
}
