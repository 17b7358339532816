//! Comparing a target's outputs with the reference's, and the outcome of a
//! case on a target.

use std::fmt;

use vyre::ir::{DataType, Expr, MathFn, Param, Program};

use super::run::{
    DeviceRunOptions, DeviceTarget, Outputs, reference_subgroup_size, run_on_device,
    run_reference_at,
};
use crate::compare::Tolerance;
use crate::generator::Case;

/// One element that differs beyond its tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Parameter name.
    pub param: String,
    /// Element index.
    pub index: usize,
    /// Reference bits (zero-extended).
    pub want: u64,
    /// Target bits (zero-extended).
    pub got: u64,
    /// The tolerance that rejected it.
    pub tolerance: Tolerance,
    /// Element type.
    pub elem: DataType,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |b: u64| match self.elem {
            DataType::F32 => format!("{:?} ({b:#010x})", f32::from_bits(b as u32)),
            DataType::F16 | DataType::BF16 => {
                format!(
                    "{:?} ({b:#06x})",
                    f32::from_bits(widened_bits(self.elem, b as u32))
                )
            }
            DataType::F64 => format!("{:?} ({b:#018x})", f64::from_bits(b)),
            DataType::I32 => format!("{} ({b:#010x})", (b as u32).cast_signed()),
            DataType::I8 => format!("{} ({b:#04x})", b as u8 as i8),
            DataType::I16 => format!("{} ({b:#06x})", b as u16 as i16),
            DataType::I64 => format!("{} ({b:#018x})", b.cast_signed()),
            DataType::U64 => format!("{b} ({b:#018x})"),
            _ => format!("{b} ({b:#010x})"),
        };
        write!(
            f,
            "{}[{}]: reference {}, target {} (tolerance {:?})",
            self.param,
            self.index,
            show(self.want),
            show(self.got),
            self.tolerance
        )
    }
}

/// The `f32` bits equal to the `f16`/`bf16` element `bits` (a NaN to a
/// NaN); other types' bits unchanged.
#[must_use]
pub fn widened_bits(elem: DataType, bits: u32) -> u32 {
    match elem {
        DataType::F16 => vyre::half::f16::from_bits(bits as u16).to_f32().to_bits(),
        DataType::BF16 => (bits & 0xffff) << 16,
        _ => bits,
    }
}

/// Compare a target's outputs with the reference's; every differing
/// element, in order (at most 16).
#[must_use]
pub fn compare(case: &Case, want: &Outputs, got: &Outputs) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (i, ((w, g), check)) in want.iter().zip(got).zip(&case.checks).enumerate() {
        let (Some(w), Some(g), Some(check)) = (w, g, check) else {
            continue;
        };
        let elem = match &case.program.params[i] {
            Param::Buffer(b) => b.elem,
            Param::Scalar { ty, .. } => *ty,
        };
        if w.len() != g.len() {
            out.push(Mismatch {
                param: case.program.params[i].name().to_string(),
                index: w.len().min(g.len()),
                want: w.len() as u64,
                got: g.len() as u64,
                tolerance: Tolerance::Bits,
                elem: DataType::U32,
            });
            continue;
        }
        for (k, (&a, &b)) in w.iter().zip(g).enumerate() {
            let t = check.tolerance(k);
            // `f16`/`bf16` elements compare as the `f32`s they equal (any
            // NaN equals any NaN), `f64` ones as `f64`s, integers
            // bit-exactly.
            let accepted = if elem == DataType::F64 {
                t.accepts_f64(a, b)
            } else if elem.is_wide() {
                a == b
            } else if a >> 32 != 0 || b >> 32 != 0 {
                // Bits above a narrower element's width: never equal.
                false
            } else if matches!(elem, DataType::F16 | DataType::BF16) && t != Tolerance::Bits {
                a == b || t.accepts(widened_bits(elem, a as u32), widened_bits(elem, b as u32))
            } else {
                t.accepts(a as u32, b as u32)
            };
            if !accepted && out.len() < 16 {
                out.push(Mismatch {
                    param: case.program.params[i].name().to_string(),
                    index: k,
                    want: a,
                    got: b,
                    tolerance: t,
                    elem,
                });
            }
        }
    }
    out
}

/// The result of one case on one target.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every element within tolerance (and guards intact).
    Match,
    /// Elements differ.
    Mismatch(Vec<Mismatch>),
    /// A guard buffer around a parameter was written.
    GuardDamaged(String),
    /// The target could not emit, load or run the case.
    TargetError(String),
    /// The reference interpreter failed (a generator or interpreter bug).
    ReferenceError(String),
    /// Not compared: the case uses subgroup operations and the target's
    /// subgroup size is unknown, so there is no reference to compare with;
    /// or the target cannot express the case's 64-bit types
    /// ([`inexpressible`]).
    Skipped(String),
}

impl Outcome {
    /// Same kind of outcome (for shrinking: keep the failure's kind).
    #[must_use]
    pub fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// Whether the case passed.
    #[must_use]
    pub fn is_match(&self) -> bool {
        matches!(self, Self::Match)
    }

    /// Whether the case was not compared ([`Outcome::Skipped`]).
    #[must_use]
    pub fn is_skipped(&self) -> bool {
        matches!(self, Self::Skipped(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Match => f.write_str("match"),
            Self::Mismatch(m) => {
                write!(f, "{} mismatching element(s)", m.len())?;
                for x in m.iter().take(4) {
                    write!(f, "\n    {x}")?;
                }
                Ok(())
            }
            Self::GuardDamaged(s) => write!(f, "guard damaged: {s}"),
            Self::TargetError(s) => write!(f, "target error: {s}"),
            Self::ReferenceError(s) => write!(f, "reference error: {s}"),
            Self::Skipped(s) => write!(f, "skipped: {s}"),
        }
    }
}

/// Why the artifact target `target` cannot express `program`, when it
/// cannot: WGSL has no 64-bit types, Metal (`msl`) no `f64`, HLSL no `f64`
/// `sqrt`, `floor` or `ceil` (DXIL defines them for 16- and 32-bit floats
/// only) and no `f32` atomics; the naga emitters refuse such kernels as
/// unsupported. `None` otherwise.
#[must_use]
pub fn inexpressible(program: &Program, target: &str) -> Option<String> {
    if target == "hlsl" {
        let mut missing = None;
        program.any_expr(&mut |e| {
            if let Expr::Math(f @ (MathFn::Sqrt | MathFn::Floor | MathFn::Ceil), args) = e
                && args.first().and_then(|a| program.type_of(a)) == Some(DataType::F64)
            {
                missing = Some(*f);
            }
            missing.is_some()
        });
        if let Some(f) = missing {
            return Some(format!("`hlsl` cannot express `f64` `{}`", f.name()));
        }
        return program
            .uses_float_atomics()
            .then(|| "`hlsl` cannot express `atomic_add` on `f32`".to_string());
    }
    let missing: Vec<String> = program
        .wide_types()
        .into_iter()
        .filter(|&t| match target {
            "wgsl" => true,
            "msl" => t == DataType::F64,
            _ => false,
        })
        .map(|t| format!("`{t}`"))
        .collect();
    (!missing.is_empty()).then(|| format!("`{target}` cannot express {}", missing.join(", ")))
}

/// [`Outcome::Skipped`] when one of `target`'s artifacts cannot express
/// `case` ([`inexpressible`]).
fn skip_inexpressible(case: &Case, target: &DeviceTarget) -> Option<Outcome> {
    target
        .artifacts
        .iter()
        .find_map(|a| inexpressible(&case.program, a))
        .map(|why| Outcome::Skipped(format!("{}: {why}", target.label)))
}

/// The reference outputs of one case, run once per subgroup size the
/// targets need (once in all for a case without subgroup operations).
#[derive(Debug)]
pub struct References<'c> {
    case: &'c Case,
    runs: Vec<(u32, Result<Outputs, String>)>,
}

impl<'c> References<'c> {
    /// No run yet.
    #[must_use]
    pub fn new(case: &'c Case) -> Self {
        Self {
            case,
            runs: Vec::new(),
        }
    }

    /// The reference outputs to compare `target` with (run at its
    /// subgroup size, see [`reference_subgroup_size`]), or the outcome
    /// that stands instead: [`Outcome::Skipped`] when the size is unknown
    /// or the target cannot express the case's 64-bit types
    /// ([`inexpressible`]), [`Outcome::ReferenceError`].
    ///
    /// # Errors
    ///
    /// That outcome.
    pub fn for_target(&mut self, target: &DeviceTarget) -> Result<&Outputs, Outcome> {
        if let Some(skip) = skip_inexpressible(self.case, target) {
            return Err(skip);
        }
        let Some(size) = reference_subgroup_size(self.case, target) else {
            return Err(Outcome::Skipped(format!(
                "{} does not report its subgroup size",
                target.label
            )));
        };
        let k = match self.runs.iter().position(|r| r.0 == size) {
            Some(k) => k,
            None => {
                self.runs.push((size, run_reference_at(self.case, size)));
                self.runs.len() - 1
            }
        };
        self.runs[k]
            .1
            .as_ref()
            .map_err(|e| Outcome::ReferenceError(e.clone()))
    }

    /// Run the case on `target` and compare with the reference at the
    /// target's subgroup size.
    #[must_use]
    pub fn check(&mut self, target: &DeviceTarget, opts: DeviceRunOptions) -> Outcome {
        let case = self.case;
        match self.for_target(target) {
            Ok(want) => check_against(case, want, target, opts),
            Err(o) => o,
        }
    }

    /// The subgroup sizes the reference ran at so far.
    #[must_use]
    pub fn sizes(&self) -> Vec<u32> {
        self.runs.iter().map(|r| r.0).collect()
    }
}

/// Run `case` on the reference (at `target`'s subgroup size when the case
/// uses subgroup operations) and on one target, and compare.
#[must_use]
pub fn check_target(case: &Case, target: &DeviceTarget, opts: DeviceRunOptions) -> Outcome {
    References::new(case).check(target, opts)
}

/// Run `case` on one target and compare with the reference outputs
/// `want`, which must come from [`run_reference_at`] at
/// [`reference_subgroup_size`]`(case, target)` ([`References`] keeps
/// track); [`Outcome::Skipped`] when that size is unknown or the target
/// cannot express the case ([`inexpressible`]).
#[must_use]
pub fn check_against(
    case: &Case,
    want: &Outputs,
    target: &DeviceTarget,
    opts: DeviceRunOptions,
) -> Outcome {
    if let Some(skip) = skip_inexpressible(case, target) {
        return skip;
    }
    if reference_subgroup_size(case, target).is_none() {
        return Outcome::Skipped(format!(
            "{} does not report its subgroup size",
            target.label
        ));
    }
    match run_on_device(case, target, opts) {
        Err(e) => Outcome::TargetError(e),
        Ok(run) => {
            if let Some((i, side, k, w)) = run.guard_damage.first() {
                return Outcome::GuardDamaged(format!(
                    "guard {side} `{}` word {k} became {w:#010x} ({} damaged words)",
                    case.program.params[*i].name(),
                    run.guard_damage.len()
                ));
            }
            let m = compare(case, want, &run.outputs);
            if m.is_empty() {
                Outcome::Match
            } else {
                Outcome::Mismatch(m)
            }
        }
    }
}

/// Run `case` on the reference (once per subgroup size needed) and on
/// every target; one outcome per target, in order.
#[must_use]
pub fn run_case(case: &Case, targets: &[DeviceTarget]) -> Vec<(String, Outcome)> {
    let mut refs = References::new(case);
    targets
        .iter()
        .map(|t| (t.label.clone(), refs.check(t, DeviceRunOptions::default())))
        .collect()
}
