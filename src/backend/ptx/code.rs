//! The code sink: a kernel body under construction, as typed instructions.
//!
//! [`Code`] allocates virtual registers and labels and collects
//! [`Inst`]s; the emitter owns one and the math library writes into it
//! (depending on nothing else), so the layering is
//! `emit -> math -> code -> isa`. [`ins!`] spells an instruction almost as
//! PTX does: `ins!(c; Setp.Lt.U32 p, i, n)`.

use std::fmt::Write as _;

use super::isa::{Addr, AddrBase, Class, Inst, Label, Operand, Reg, Symbol};

/// A body line.
#[derive(Debug, Clone)]
enum Line {
    Inst(Inst),
    Label(Label),
}

/// A kernel body: its instructions, labels and register counts.
#[derive(Debug, Default)]
pub(super) struct Code {
    /// Registers allocated per class (indexed by [`Class::index`]).
    counts: [u32; 6],
    /// Labels allocated.
    labels: u32,
    lines: Vec<Line>,
    /// Whether the 2/pi table of the sin/cos reduction is referenced.
    two_over_pi: bool,
}

impl Code {
    /// An empty body.
    #[must_use]
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A fresh register of `class`.
    pub(super) fn reg(&mut self, class: Class) -> Reg {
        let n = &mut self.counts[class.index()];
        let r = Reg { class, n: *n };
        *n += 1;
        r
    }

    /// How many registers of `class` were allocated.
    #[must_use]
    pub(super) fn count(&self, class: Class) -> u32 {
        self.counts[class.index()]
    }

    /// Append an instruction.
    pub(super) fn push(&mut self, inst: Inst) {
        self.lines.push(Line::Inst(inst));
    }

    /// A fresh label (not yet placed).
    pub(super) fn label(&mut self, what: &'static str) -> Label {
        self.labels += 1;
        Label {
            what,
            n: self.labels,
        }
    }

    /// Place `l` here.
    pub(super) fn place(&mut self, l: Label) {
        self.lines.push(Line::Label(l));
    }

    /// Record that the 2/pi table is referenced (it is declared at module
    /// scope).
    pub(super) fn use_two_over_pi(&mut self) {
        self.two_over_pi = true;
    }

    /// Whether the 2/pi table is referenced.
    #[must_use]
    pub(super) fn uses_two_over_pi(&self) -> bool {
        self.two_over_pi
    }

    /// Rewrite every reference to shared array `i` into one to
    /// `vyre_dyn+offsets[i]`, the array's place in dynamic shared memory.
    pub(super) fn place_shared_dynamically(&mut self, offsets: &[u32]) {
        let at = |i: usize| Symbol::Dyn(offsets.get(i).copied().unwrap_or(0));
        for line in &mut self.lines {
            let Line::Inst(inst) = line else { continue };
            for arg in &mut inst.args {
                match arg {
                    Operand::Sym(Symbol::Shared(i)) => *arg = Operand::Sym(at(*i)),
                    Operand::Addr(Addr {
                        base: AddrBase::Sym(Symbol::Shared(i)),
                        off,
                    }) => {
                        *arg = Operand::Addr(Addr {
                            base: AddrBase::Sym(at(*i)),
                            off: *off,
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Write the body as PTX text: one tab-indented instruction per line,
    /// labels unindented.
    pub(super) fn write(&self, out: &mut String) {
        for line in &self.lines {
            let _ = match line {
                Line::Inst(i) => writeln!(out, "\t{i}"),
                Line::Label(l) => writeln!(out, "{l}:"),
            };
        }
    }
}

/// Push one instruction into a [`Code`], written almost as in PTX:
///
/// `ins!(c; Add.Rn.F32 d, a, b)`, `ins!(c; @p; Ld.(space).(ty) d, addr)`,
/// `ins!(c; @!p; Bra l)`. Opcode and modifiers are [`Opcode`] and [`Mod`]
/// variant names, or any expression in parentheses; operands are anything
/// with `Into<Operand>`.
///
/// [`Opcode`]: super::isa::Opcode
/// [`Mod`]: super::isa::Mod
macro_rules! ins {
    (@inst $op:tt $(. $m:tt)* $($a:expr),*) => {
        $crate::backend::ptx::isa::Inst::new(
            $crate::backend::ptx::code::ins!(@op $op),
            &[$($crate::backend::ptx::code::ins!(@mod $m)),*],
            &[$($crate::backend::ptx::isa::Operand::from($a)),*],
        )
    };
    (@op ($e:expr)) => { $e };
    (@op $i:ident) => { $crate::backend::ptx::isa::Opcode::$i };
    (@mod ($e:expr)) => { $e };
    (@mod $i:ident) => { $crate::backend::ptx::isa::Mod::$i };
    ($c:expr; @! $g:expr; $($rest:tt)+) => {
        $c.push($crate::backend::ptx::code::ins!(@inst $($rest)+).unless($g))
    };
    ($c:expr; @ $g:expr; $($rest:tt)+) => {
        $c.push($crate::backend::ptx::code::ins!(@inst $($rest)+).when($g))
    };
    ($c:expr; $($rest:tt)+) => {
        $c.push($crate::backend::ptx::code::ins!(@inst $($rest)+))
    };
}
pub(super) use ins;

#[cfg(test)]
mod tests {
    use super::super::isa::{Addr, Class, Imm, Mod, Special, Symbol, int};
    use super::Code;

    fn text(c: &Code) -> String {
        let mut s = String::new();
        c.write(&mut s);
        s
    }

    #[test]
    fn registers_number_per_class() {
        let mut c = Code::new();
        let r0 = c.reg(Class::R);
        let p0 = c.reg(Class::Pred);
        let r1 = c.reg(Class::R);
        let fd0 = c.reg(Class::Fd);
        assert_eq!(
            [r0, p0, r1, fd0].map(|r| r.to_string()),
            ["%r0", "%p0", "%r1", "%fd0"]
        );
        assert_eq!(c.count(Class::R), 2);
        assert_eq!(c.count(Class::F), 0);
    }

    #[test]
    fn instructions_format_as_ptx() {
        let mut c = Code::new();
        let [a, b, d] = [(); 3].map(|()| c.reg(Class::F));
        let p = c.reg(Class::Pred);
        let rd = c.reg(Class::Rd);
        let r = c.reg(Class::R);
        let l = c.label("else");
        ins!(c; Add.Rn.F32 d, a, b);
        ins!(c; Setp.Lt.F32 p, a, Imm::f32(0.0));
        ins!(c; @!p; Bra l);
        c.place(l);
        ins!(c; @p; Ld.(Mod::GlobalNc).V4.F32 [a, b, d, a], Addr::reg(rd));
        ins!(c; St.Global.F32 Addr::reg_off(rd, 0), a);
        ins!(c; Ld.Param.U64 rd, Addr::sym(Symbol::ParamPtr(2)));
        ins!(c; Mov.U32 r, Special::Ctaid(1));
        ins!(c; And.B32 r, r, int(-2_147_483_648));
        ins!(c; Mov.F64 rd, Imm::f64(1.0));
        ins!(c; Barrier.Sync int(0));
        ins!(c; Ret);
        assert_eq!(
            text(&c),
            "\tadd.rn.f32 %f2, %f0, %f1;\n\
             \tsetp.lt.f32 %p0, %f0, 0f00000000;\n\
             \t@!%p0 bra $L_else_1;\n\
             $L_else_1:\n\
             \t@%p0 ld.global.nc.v4.f32 {%f0, %f1, %f2, %f0}, [%rd0];\n\
             \tst.global.f32 [%rd0+0], %f0;\n\
             \tld.param.u64 %rd0, [vyre_p2_ptr];\n\
             \tmov.u32 %r0, %ctaid.y;\n\
             \tand.b32 %r0, %r0, -2147483648;\n\
             \tmov.f64 %rd0, 0d3FF0000000000000;\n\
             \tbarrier.sync 0;\n\
             \tret;\n"
        );
    }

    #[test]
    fn matrix_and_copy_instructions_format_as_ptx() {
        let mut c = Code::new();
        let a = [(); 4].map(|()| c.reg(Class::R));
        let b = [c.reg(Class::R), c.reg(Class::R)];
        let acc = [(); 4].map(|()| c.reg(Class::F));
        let s = c.reg(Class::R);
        let g = c.reg(Class::Rd);
        let n = c.reg(Class::R);
        ins!(c; Ldmatrix.Sync.Aligned.M8n8.X4.Shared.B16 a, Addr::reg_off(s, 32));
        ins!(c; Ldmatrix.Sync.Aligned.M8n8.X2.Trans.Shared.B16 b, Addr::reg(s));
        ins!(c; Mma.Sync.Aligned.M16n8k16.Row.Col.F32.Bf16.Bf16.F32 acc, a, b, acc);
        ins!(c; Cp.Async.Cg.Shared.Global Addr::reg(s), Addr::reg(g), int(16), n);
        ins!(c; Cp.Async.Ca.Shared.Global Addr::reg(s), Addr::reg(g), int(8));
        ins!(c; Cp.Async.CommitGroup);
        ins!(c; Cp.Async.WaitGroup int(1));
        assert_eq!(
            text(&c),
            "\tldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r0, %r1, %r2, %r3}, [%r6+32];\n\
             \tldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%r4, %r5}, [%r6];\n\
             \tmma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%f0, %f1, %f2, %f3}, {%r0, %r1, %r2, %r3}, {%r4, %r5}, {%f0, %f1, %f2, %f3};\n\
             \tcp.async.cg.shared.global [%r6], [%rd0], 16, %r7;\n\
             \tcp.async.ca.shared.global [%r6], [%rd0], 8;\n\
             \tcp.async.commit_group;\n\
             \tcp.async.wait_group 1;\n"
        );
    }
}
