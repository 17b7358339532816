//! Comparing a target's outputs with the reference's, and the outcome of a
//! case on a target.

use std::fmt;

use vyre::ir::{DataType, Param};

use super::run::{DeviceRunOptions, DeviceTarget, Outputs, run_on_device, run_reference};
use crate::compare::Tolerance;
use crate::generator::Case;

/// One element that differs beyond its tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Parameter name.
    pub param: String,
    /// Element index.
    pub index: usize,
    /// Reference bits.
    pub want: u32,
    /// Target bits.
    pub got: u32,
    /// The tolerance that rejected it.
    pub tolerance: Tolerance,
    /// Element type.
    pub elem: DataType,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |b: u32| match self.elem {
            DataType::F32 => format!("{:?} ({b:#010x})", f32::from_bits(b)),
            DataType::I32 => format!("{} ({b:#010x})", b.cast_signed()),
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
                want: w.len() as u32,
                got: g.len() as u32,
                tolerance: Tolerance::Bits,
                elem: DataType::U32,
            });
            continue;
        }
        for (k, (&a, &b)) in w.iter().zip(g).enumerate() {
            let t = check.tolerance(k);
            if !t.accepts(a, b) && out.len() < 16 {
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
        }
    }
}

/// Run `case` on the reference and on one target, and compare.
#[must_use]
pub fn check_target(case: &Case, target: &DeviceTarget, opts: DeviceRunOptions) -> Outcome {
    let want = match run_reference(case) {
        Ok(w) => w,
        Err(e) => return Outcome::ReferenceError(e),
    };
    check_against(case, &want, target, opts)
}

/// Run `case` on one target and compare with the reference outputs
/// `want` (from [`run_reference`]).
#[must_use]
pub fn check_against(
    case: &Case,
    want: &Outputs,
    target: &DeviceTarget,
    opts: DeviceRunOptions,
) -> Outcome {
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

/// Run `case` on the reference once and on every target; one outcome per
/// target, in order.
#[must_use]
pub fn run_case(case: &Case, targets: &[DeviceTarget]) -> Vec<(String, Outcome)> {
    let want = match run_reference(case) {
        Ok(w) => w,
        Err(e) => {
            return targets
                .iter()
                .map(|t| (t.label.clone(), Outcome::ReferenceError(e.clone())))
                .collect();
        }
    };
    targets
        .iter()
        .map(|t| {
            (
                t.label.clone(),
                check_against(case, &want, t, DeviceRunOptions::default()),
            )
        })
        .collect()
}
