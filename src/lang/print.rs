//! IR to `.vyre` text that parses back to the same program.
//!
//! Literals carry explicit suffixes and every `let` its type, so no
//! inference is involved on the way back. Float values that are not finite
//! print as `f32::from_bits(0x...)` (`f16::from_bits(0x...)`,
//! `bf16::from_bits(0x...)`). When the locals table is not what the
//! parser would build from the text (order, unused or re-defined locals,
//! uses outside lexical scope), the kernel gets a `#[locals(...)]`
//! attribute that fixes the table explicitly. Private arrays and matrices
//! are declared at the top of the body, so their statements are plain
//! stores and assignments wherever they stand.

use std::fmt::Write as _;

use crate::ir::{
    Access, AsyncOp, AtomicResult, BinOp, BufRef, DataType, Expr, Literal, LocalId, MatrixClip,
    MatrixId, MatrixLayout, MatrixOp, MatrixRole, MatrixScope, Node, Param, Program, SharedLayout,
    SharedTile, TileDim, UnOp, WarpgroupOperand,
};

/// Print a program as `.vyre` source that parses back to the same program.
///
/// The round trip `parse(print(p)).kernels[0] == p` holds for every program
/// that passes [`Program::validate`] whose kernel, parameter, shared- and
/// private-array and matrix names are distinct Rust identifiers (local
/// names may be anything) and whose expressions nest at most 128 levels
/// deep.
#[must_use]
pub fn print(program: &Program) -> String {
    let plain = Printer {
        p: program,
        aliases: None,
    };
    let lexical = plain.render(false);
    if let Ok(m) = super::parse("print.vyre", &lexical)
        && m.kernels.len() == 1
        && m.kernels[0] == *program
    {
        return lexical;
    }
    Printer {
        p: program,
        aliases: Some(aliases(program)),
    }
    .render(true)
}

/// Whether `name` can be written as an identifier (`r#` for keywords).
fn usable_ident(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(name, "_" | "self" | "Self" | "super" | "crate")
}

/// The identifier each local is written as under `#[locals(...)]`: its own
/// name where possible, else a fresh `__local{id}` alias (names that are
/// not identifiers, or that a parameter, shared or private array or a
/// matrix also uses).
fn aliases(p: &Program) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = p
        .params
        .iter()
        .map(|q| q.name().to_string())
        .chain(p.shared.iter().map(|s| s.name.clone()))
        .chain(p.private.iter().map(|s| s.name.clone()))
        .chain(p.matrices.iter().map(|m| m.name.clone()))
        .collect();
    let own: Vec<bool> = p
        .locals
        .iter()
        .map(|l| usable_ident(&l.name) && !taken.contains(&l.name))
        .collect();
    for (l, ok) in p.locals.iter().zip(&own) {
        if *ok {
            taken.insert(l.name.clone());
        }
    }
    p.locals
        .iter()
        .zip(own)
        .enumerate()
        .map(|(i, (l, ok))| {
            if ok {
                return l.name.clone();
            }
            let mut alias = format!("__local{i}");
            while !taken.insert(alias.clone()) {
                alias.push('_');
            }
            alias
        })
        .collect()
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// A name as an identifier (`r#` for keywords).
fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// Binding strength, higher binds tighter.
fn prec(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
        BinOp::BitOr => 4,
        BinOp::BitXor => 5,
        BinOp::BitAnd => 6,
        BinOp::Shl | BinOp::Shr => 7,
        BinOp::Add | BinOp::Sub => 8,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 9,
    }
}
const CAST: u8 = 10;
const UNARY: u8 = 11;
const POSTFIX: u8 = 12;

/// Prints a literal; the second value is its binding strength.
pub(crate) fn literal(l: Literal) -> (String, u8) {
    let s = match l {
        Literal::Bool(b) => b.to_string(),
        Literal::I32(v) => format!("{v}i32"),
        Literal::U8(v) => format!("{v}u8"),
        Literal::U16(v) => format!("{v}u16"),
        Literal::I8(v) => format!("{v}i8"),
        Literal::I16(v) => format!("{v}i16"),
        Literal::U32(v) => format!("{v}u32"),
        Literal::U64(v) => format!("{v}u64"),
        Literal::I64(v) => format!("{v}i64"),
        Literal::F64(bits) => {
            let v = f64::from_bits(bits);
            if !v.is_finite() {
                format!("f64::from_bits({bits:#018x})")
            } else if v.is_sign_negative() {
                format!("-{:?}f64", -v)
            } else {
                format!("{v:?}f64")
            }
        }
        Literal::F32(bits) => float(f32::from_bits(bits), bits, DataType::F32),
        // The value as an `f32` is exact, and reads back as that `f32`,
        // which rounds back to the same `f16`/`bf16` exactly.
        Literal::F16(bits) | Literal::BF16(bits) => {
            float(f32::from_bits(l.widened().bits()), u32::from(bits), l.ty())
        }
    };
    let p = if s.starts_with('-') { UNARY } else { POSTFIX };
    (s, p)
}

/// A float literal of type `ty` whose value is `v` (exactly) and whose
/// bits are `bits`: `1.5f16`, `-0.0f32`, `bf16::from_bits(0x7fc0)`.
fn float(v: f32, bits: u32, ty: DataType) -> String {
    if v.is_finite() {
        // `{:?}` is the shortest text that reads back bit-exactly; the
        // sign is printed separately so `-0.0` survives.
        if v.is_sign_negative() {
            format!("-{:?}{ty}", -v)
        } else {
            format!("{v:?}{ty}")
        }
    } else if ty == DataType::F32 {
        format!("f32::from_bits({bits:#010x})")
    } else {
        format!("{ty}::from_bits({bits:#06x})")
    }
}

struct Printer<'a> {
    p: &'a Program,
    /// Source identifiers of the locals in `#[locals(...)]` mode.
    aliases: Option<Vec<String>>,
}

impl Printer<'_> {
    fn render(&self, with_locals: bool) -> String {
        let mut body = String::new();
        for s in &self.p.shared {
            let attr = match s.layout {
                SharedLayout::Linear => "#[shared]".to_string(),
                SharedLayout::Swizzled { cols } => format!("#[shared(swizzled, cols = {cols})]"),
            };
            let _ = writeln!(
                body,
                "    {attr}\n    let mut {}: [{}; {}];",
                ident(&s.name),
                s.elem,
                s.len
            );
        }
        // Private arrays are declared without a value (all zeros, as every
        // invocation starts); their `let`'s initial stores are ordinary
        // statements of the body.
        for s in &self.p.private {
            let _ = writeln!(
                body,
                "    let mut {}: [{}; {}];",
                ident(&s.name),
                s.elem,
                s.len
            );
        }
        // Matrices likewise (all zeros when the kernel starts), `mut` so
        // that every statement writing one is an assignment: then the text
        // reads back to the same program wherever the first write stands.
        for m in &self.p.matrices {
            let kind = match (m.role, m.scope) {
                (MatrixRole::Accumulator, MatrixScope::Warpgroup) => "WarpgroupAcc",
                (MatrixRole::A, _) => "MatrixA",
                (MatrixRole::B, _) => "MatrixB",
                (MatrixRole::Accumulator, MatrixScope::Subgroup) => "MatrixAcc",
            };
            let s = m.shape;
            let _ = writeln!(
                body,
                "    let mut {}: {kind}<{}, {}, {}, {}>;",
                ident(&m.name),
                m.elem,
                s.m,
                s.n,
                s.k
            );
        }
        for n in &self.p.body {
            self.node(n, 1, &mut body);
        }
        self.header(with_locals) + &body + "}\n"
    }

    fn header(&self, with_locals: bool) -> String {
        let p = self.p;
        let mut out = String::new();
        if !p.doc.is_empty() {
            for line in p.doc.split('\n') {
                if line.chars().any(|c| c.is_control() && c != '\t') {
                    let _ = writeln!(out, "#[doc = {:?}]", format!(" {line}"));
                } else if line.is_empty() {
                    out.push_str("///\n");
                } else {
                    let _ = writeln!(out, "/// {line}");
                }
            }
        }
        let [x, y, z] = p.workgroup_size;
        let mut opts = if y == 1 && z == 1 {
            format!("workgroup_size = {x}")
        } else {
            format!("workgroup_size = ({x}, {y}, {z})")
        };
        if p.unchecked {
            opts.push_str(", unchecked");
        }
        if p.fast_math {
            opts.push_str(", fast_math");
        }
        let _ = writeln!(out, "#[kernel({opts})]");
        if with_locals {
            let list: Vec<String> = p
                .locals
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let src = self.local(i as u32);
                    let name = if src == ident(&l.name) {
                        String::new()
                    } else {
                        format!(" = {:?}", l.name)
                    };
                    format!(
                        "{}{src}{name}: {}",
                        if l.mutable { "mut " } else { "" },
                        l.ty
                    )
                })
                .collect();
            let _ = writeln!(out, "#[locals({})]", list.join(", "));
        }
        let params: Vec<String> = p
            .params
            .iter()
            .map(|q| match q {
                Param::Buffer(b) => format!(
                    "{}: &{}[{}]",
                    ident(&b.name),
                    if b.access == Access::ReadWrite {
                        "mut "
                    } else {
                        ""
                    },
                    b.elem
                ),
                Param::Scalar { name, ty } => format!("{}: {ty}", ident(name)),
            })
            .collect();
        let _ = writeln!(out, "pub fn {}({}) {{", ident(&p.name), params.join(", "));
        out
    }

    fn local(&self, id: u32) -> String {
        if let Some(a) = self.aliases.as_ref().and_then(|a| a.get(id as usize)) {
            return ident(a);
        }
        self.p
            .locals
            .get(id as usize)
            .map_or_else(|| format!("__invalid_local_{id}"), |l| ident(&l.name))
    }

    /// A tile copy's matrix dimension as the language writes it, for a
    /// copy from `src` with `cols` columns.
    fn tile_dim(&self, d: TileDim, src: u32, cols: TileDim) -> String {
        match d {
            TileDim::Param(p) => self.param(p),
            TileDim::Const(v) => count_text(v),
            TileDim::Fill => {
                let cols = match cols {
                    TileDim::Fill => "0".to_string(),
                    c => self.tile_dim(c, src, cols),
                };
                format!("{}.len() / {cols}", self.param(src))
            }
        }
    }

    fn param(&self, id: u32) -> String {
        self.p
            .params
            .get(id as usize)
            .map_or_else(|| format!("__invalid_param_{id}"), |q| ident(q.name()))
    }

    fn buf(&self, b: BufRef) -> String {
        self.p.buf_name(b).map_or_else(
            || match b {
                BufRef::Param(i) => format!("__invalid_param_{i}"),
                BufRef::Shared(i) => format!("__invalid_shared_{i}"),
                BufRef::Private(i) => format!("__invalid_private_{i}"),
            },
            ident,
        )
    }

    /// `let [mut] name: ty = value;`
    fn let_(&self, local: LocalId, value: &str, ind: &str, out: &mut String) {
        let (m, ty) = self
            .p
            .locals
            .get(local as usize)
            .map_or((false, DataType::I32), |l| (l.mutable, l.ty));
        let _ = writeln!(
            out,
            "{ind}let {}{}: {ty} = {value};",
            if m { "mut " } else { "" },
            self.local(local),
        );
    }

    fn node(&self, n: &Node, depth: usize, out: &mut String) {
        let ind = "    ".repeat(depth);
        match n {
            Node::Let { local, value } => self.let_(*local, &self.expr(value, 0), &ind, out),
            Node::Assign { local, value } => {
                let _ = writeln!(
                    out,
                    "{ind}{} = {};",
                    self.local(*local),
                    self.expr(value, 0)
                );
            }
            Node::Atomic {
                op,
                buf,
                index,
                expected,
                value,
                result,
            } => {
                let mut args = vec![self.expr(index, 0)];
                if let Some(x) = expected {
                    args.push(self.expr(x, 0));
                }
                args.push(self.expr(value, 0));
                let call = format!("{}.{}({})", self.buf(*buf), op.name(), args.join(", "));
                match *result {
                    AtomicResult::Discard => {
                        let _ = writeln!(out, "{ind}{call};");
                    }
                    AtomicResult::Let(local) => self.let_(local, &call, &ind, out),
                    AtomicResult::Assign(local) => {
                        let _ = writeln!(out, "{ind}{} = {call};", self.local(local));
                    }
                }
            }
            Node::Store { buf, index, value } => {
                let _ = writeln!(
                    out,
                    "{ind}{}[{}] = {};",
                    self.buf(*buf),
                    self.expr(index, 0),
                    self.expr(value, 0)
                );
            }
            Node::If { .. } => {
                out.push_str(&ind);
                self.if_chain(n, depth, out);
                out.push('\n');
            }
            Node::While { cond, body } => {
                let _ = writeln!(out, "{ind}while {} {{", self.expr(cond, 1));
                self.body(body, depth, out);
                let _ = writeln!(out, "{ind}}}");
            }
            Node::For {
                var,
                start,
                end,
                step,
                unroll,
                body,
            } => {
                if *unroll {
                    let _ = writeln!(out, "{ind}#[unroll]");
                }
                let range = format!("{}..{}", self.expr(start, 1), self.expr(end, 1));
                let range = if *step == 1 {
                    range
                } else {
                    format!("({range}).step_by({step})")
                };
                let _ = writeln!(out, "{ind}for {} in {range} {{", self.local(*var));
                self.body(body, depth, out);
                let _ = writeln!(out, "{ind}}}");
            }
            Node::Loop { body } => {
                let _ = writeln!(out, "{ind}loop {{");
                self.body(body, depth, out);
                let _ = writeln!(out, "{ind}}}");
            }
            Node::Unsafe { body } => {
                let _ = writeln!(out, "{ind}unsafe {{");
                self.body(body, depth, out);
                let _ = writeln!(out, "{ind}}}");
            }
            Node::Break => {
                let _ = writeln!(out, "{ind}break;");
            }
            Node::Continue => {
                let _ = writeln!(out, "{ind}continue;");
            }
            Node::Return => {
                let _ = writeln!(out, "{ind}return;");
            }
            Node::Barrier => {
                let _ = writeln!(out, "{ind}barrier();");
            }
            Node::WarpgroupBarrier => {
                let _ = writeln!(out, "{ind}warpgroup_barrier();");
            }
            Node::Matrix(op) => {
                let _ = writeln!(out, "{ind}{};", self.matrix_op(op));
            }
            Node::Async(op) => {
                let s = match op {
                    AsyncOp::Copy {
                        dst,
                        dst_index,
                        src,
                        src_index,
                        count,
                    } => format!(
                        "async_copy(&mut {}, {}, &{}, {}, {})",
                        self.buf(BufRef::Shared(*dst)),
                        self.expr(dst_index, 0),
                        self.param(*src),
                        self.expr(src_index, 0),
                        count_text(*count)
                    ),
                    AsyncOp::Tile {
                        dst,
                        dst_index,
                        src,
                        rows,
                        cols,
                        row,
                        col,
                        box_rows,
                        box_cols,
                    } => format!(
                        "async_copy_tile(&mut {}, {}, &{}, {}, {}, {}, {}, {}, {})",
                        self.buf(BufRef::Shared(*dst)),
                        self.expr(dst_index, 0),
                        self.param(*src),
                        self.tile_dim(*rows, *src, *cols),
                        self.tile_dim(*cols, *src, *cols),
                        self.expr(row, 0),
                        self.expr(col, 0),
                        count_text(*box_rows),
                        count_text(*box_cols)
                    ),
                    AsyncOp::Commit => "async_commit()".to_string(),
                    AsyncOp::Wait { pending } => format!("async_wait({})", count_text(*pending)),
                };
                let _ = writeln!(out, "{ind}{s};");
            }
        }
    }

    fn matrix(&self, id: MatrixId) -> String {
        self.p
            .matrices
            .get(id as usize)
            .map_or_else(|| format!("__invalid_matrix_{id}"), |m| ident(&m.name))
    }

    /// The trailing `, rows, cols` of a clipped load or store (empty when
    /// the whole tile takes part).
    fn clip(&self, clip: Option<&MatrixClip>) -> String {
        clip.map_or_else(String::new, |c| {
            format!(", {}, {}", self.expr(&c.rows, 0), self.expr(&c.cols, 0))
        })
    }

    /// A matrix statement without its `;`. Every matrix is declared with
    /// its type at the top of the body, so calls need no generic arguments.
    fn matrix_op(&self, op: &MatrixOp) -> String {
        let major = |l: MatrixLayout| match l {
            MatrixLayout::RowMajor => "",
            MatrixLayout::ColMajor => "_col_major",
        };
        // A warpgroup accumulator is filled by `warpgroup_zero/fill`.
        let fill = |id: MatrixId| match self.p.matrices.get(id as usize).map(|m| m.scope) {
            Some(MatrixScope::Warpgroup) => "warpgroup",
            _ => "matrix",
        };
        match op {
            // `matrix_zero()` is exactly a fill with `+0.0`.
            MatrixOp::Fill {
                matrix,
                value: Expr::Lit(Literal::F32(0)),
            } => format!("{} = {}_zero()", self.matrix(*matrix), fill(*matrix)),
            MatrixOp::Fill { matrix, value } => {
                format!(
                    "{} = {}_fill({})",
                    self.matrix(*matrix),
                    fill(*matrix),
                    self.expr(value, 0)
                )
            }
            MatrixOp::Load {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => {
                let role = match self.p.matrices.get(*matrix as usize).map(|m| m.role) {
                    Some(MatrixRole::A) => "a",
                    Some(MatrixRole::B) => "b",
                    _ => "acc",
                };
                format!(
                    "{} = matrix_load_{role}{}(&{}, {}, {}{})",
                    self.matrix(*matrix),
                    major(*layout),
                    self.buf(*buf),
                    self.expr(offset, 0),
                    self.expr(stride, 0),
                    self.clip(clip.as_ref())
                )
            }
            MatrixOp::Store {
                matrix,
                buf,
                offset,
                stride,
                layout,
                clip,
            } => format!(
                "matrix_store{}(&mut {}, {}, {}, {}{})",
                major(*layout),
                self.buf(*buf),
                self.expr(offset, 0),
                self.expr(stride, 0),
                self.matrix(*matrix),
                self.clip(clip.as_ref())
            ),
            MatrixOp::MultiplyAdd { d, a, b, c } => format!(
                "{} = matrix_mma({}, {}, {})",
                self.matrix(*d),
                self.matrix(*a),
                self.matrix(*b),
                self.matrix(*c)
            ),
            MatrixOp::WarpgroupMultiplyAdd {
                d,
                a,
                b,
                c,
                asynchronous,
            } => format!(
                "{} = warpgroup_mma{}{}({}, {}, {})",
                self.matrix(*d),
                if b.layout == MatrixLayout::ColMajor {
                    "_t"
                } else {
                    ""
                },
                if *asynchronous { "_async" } else { "" },
                match a {
                    WarpgroupOperand::Shared(t) => self.tile(t),
                    WarpgroupOperand::Accumulator(p) => self.matrix(*p),
                },
                self.tile(b),
                self.matrix(*c)
            ),
            MatrixOp::WarpgroupWait { pending: 0 } => "warpgroup_wait()".to_string(),
            MatrixOp::WarpgroupWait { pending } => format!("warpgroup_wait({pending})"),
            MatrixOp::Map {
                d,
                src,
                row,
                col,
                value,
                expr,
            } => format!(
                "{} = matrix_map({}, |{}, {}, {}| {})",
                self.matrix(*d),
                self.matrix(*src),
                self.local(*row),
                self.local(*col),
                self.local(*value),
                self.expr(expr, 0)
            ),
            MatrixOp::RowReduce {
                op,
                src,
                dst,
                offset,
            } => format!(
                "{}(&mut {}, {}, {})",
                op.name(),
                self.buf(BufRef::Shared(*dst)),
                self.expr(offset, 0),
                self.matrix(*src)
            ),
        }
    }

    /// `&array, offset, stride` of a warpgroup multiply's operand tile.
    fn tile(&self, t: &SharedTile) -> String {
        format!(
            "&{}, {}, {}",
            self.buf(BufRef::Shared(t.array)),
            self.expr(&t.offset, 0),
            self.expr(&t.stride, 0)
        )
    }

    fn body(&self, body: &[Node], depth: usize, out: &mut String) {
        for n in body {
            self.node(n, depth + 1, out);
        }
    }

    /// `if c { .. } else if d { .. } else { .. }` without the final newline.
    fn if_chain(&self, n: &Node, depth: usize, out: &mut String) {
        let Node::If {
            cond,
            then,
            otherwise,
        } = n
        else {
            return;
        };
        let ind = "    ".repeat(depth);
        let _ = writeln!(out, "if {} {{", self.expr(cond, 1));
        self.body(then, depth, out);
        let _ = write!(out, "{ind}}}");
        match otherwise.as_slice() {
            [] => {}
            [inner @ Node::If { .. }] => {
                out.push_str(" else ");
                self.if_chain(inner, depth, out);
            }
            nodes => {
                out.push_str(" else {\n");
                self.body(nodes, depth, out);
                let _ = write!(out, "{ind}}}");
            }
        }
    }

    /// Print `e`, in parentheses if it binds looser than `min`.
    fn expr(&self, e: &Expr, min: u8) -> String {
        let (s, p) = self.expr_p(e);
        if p < min { format!("({s})") } else { s }
    }

    fn expr_p(&self, e: &Expr) -> (String, u8) {
        match e {
            Expr::Lit(l) => literal(*l),
            Expr::Local(id) => (self.local(*id), POSTFIX),
            Expr::Param(id) => (self.param(*id), POSTFIX),
            Expr::Builtin(b, a) => (
                format!("{}().{}", b.name(), ["x", "y", "z"][a.index()]),
                POSTFIX,
            ),
            Expr::Len(id) => (format!("{}.len()", self.param(*id)), POSTFIX),
            Expr::Load { buf, index } => (
                format!("{}[{}]", self.buf(*buf), self.expr(index, 0)),
                POSTFIX,
            ),
            Expr::Unary(op, a) => {
                let sym = match op {
                    UnOp::Neg => "-",
                    UnOp::Not => "!",
                };
                // `-5i32` would read back as the literal -5, so keep the
                // negation of a literal visible with parentheses.
                let inner = if matches!(**a, Expr::Lit(_)) && *op == UnOp::Neg {
                    format!("({})", literal_of(a))
                } else {
                    let s = self.expr(a, UNARY);
                    if s.starts_with('-') && *op == UnOp::Neg {
                        format!(" {s}")
                    } else {
                        s
                    }
                };
                (format!("{sym}{inner}"), UNARY)
            }
            Expr::Binary(op, a, b) => {
                let p = prec(*op);
                let cmp = op.is_comparison();
                // `x as u32 < y` (or `<<`) reads `<` as generic arguments, also
                // when the cast ends a longer left operand: parenthesize casts
                // that are operands.
                let operand = |e: &Expr, min: u8| {
                    if matches!(e, Expr::Cast(..)) {
                        format!("({})", self.expr(e, 0))
                    } else {
                        self.expr(e, min)
                    }
                };
                let l = operand(a, if cmp { p + 1 } else { p });
                let r = operand(b, p + 1);
                (format!("{l} {} {r}", op.symbol()), p)
            }
            Expr::Cast(t, a) => (format!("{} as {t}", self.expr(a, CAST)), CAST),
            Expr::Subgroup(op, args) => {
                let args: Vec<String> = args.iter().map(|a| self.expr(a, 0)).collect();
                (format!("{}({})", op.name(), args.join(", ")), POSTFIX)
            }
            Expr::Math(f, args) => {
                let recv = args
                    .first()
                    .map_or_else(|| "__missing".to_string(), |a| self.expr(a, POSTFIX));
                let rest: Vec<String> = args.iter().skip(1).map(|a| self.expr(a, 0)).collect();
                (format!("{recv}.{}({})", f.name(), rest.join(", ")), POSTFIX)
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => (
                format!(
                    "if {} {{ {} }} else {{ {} }}",
                    self.expr(cond, 1),
                    self.expr(then, 0),
                    self.expr(otherwise, 0)
                ),
                0,
            ),
        }
    }
}

/// A constant count as written in a call (`8`): without a suffix, which
/// reads back as an `i32` constant, unless it does not fit one.
fn count_text(v: u32) -> String {
    if i32::try_from(v).is_ok() {
        v.to_string()
    } else {
        format!("{v}u32")
    }
}

fn literal_of(e: &Expr) -> String {
    match e {
        Expr::Lit(l) => literal(*l).0,
        _ => String::new(),
    }
}
