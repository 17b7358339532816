//! [`Analysis`]: everything the middle layer knows about one kernel,
//! computed once (validation included) and handed to every target: the
//! facts validation established (the type of every expression, uniformity)
//! and the bounds decisions.

use super::IndexChecks;
use crate::DispatchConfig;
use crate::driver::{CompileError, CompileResult};
use crate::ir::validate::{ExprTypes, Uniformity, Validated, ValidationError};
use crate::ir::{DataType, Expr, Program};

/// The analyses of one validated kernel under one [`DispatchConfig`].
#[derive(Debug)]
pub struct Analysis<'p> {
    program: &'p Program,
    validated: Validated,
    types: ExprTypes<'p>,
    checks: IndexChecks<'p>,
}

impl<'p> Analysis<'p> {
    /// Validate `program` and run every analysis on it.
    ///
    /// # Errors
    /// [`CompileError::InvalidKernel`] when the program does not validate.
    pub fn new(program: &'p Program, config: &DispatchConfig) -> CompileResult<Self> {
        Self::try_new(program, config)
            .map_err(|errors| CompileError::invalid_kernel(program, &errors))
    }

    /// As [`Analysis::new`], with the validation errors themselves.
    ///
    /// # Errors
    /// Every [`ValidationError`] of `program`.
    pub fn try_new(
        program: &'p Program,
        config: &DispatchConfig,
    ) -> Result<Self, Vec<ValidationError>> {
        let (validated, types) = program.validate_typed()?;
        Ok(Self {
            program,
            validated,
            types,
            checks: IndexChecks::analyse(program, config),
        })
    }

    /// An analysis whose bounds decisions elide every check, sound or not:
    /// for testing that consumers notice an unsound analysis.
    #[cfg(test)]
    pub(crate) fn assume_in_range(program: &'p Program, config: &DispatchConfig) -> Self {
        let (validated, types) = program.validate_typed().expect("a valid test program");
        Self {
            program,
            validated,
            types,
            checks: IndexChecks::assume_in_range(program, config),
        }
    }

    /// The analysed kernel.
    #[must_use]
    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// The bounds-check decision of every access.
    #[must_use]
    pub fn checks(&self) -> &IndexChecks<'p> {
        &self.checks
    }

    /// The type of `e`: looked up for an expression of the kernel (as
    /// validation computed it), derived for any other (an expression a
    /// target builds, such as a vector group's index).
    #[must_use]
    pub fn type_of(&self, e: &Expr) -> Option<DataType> {
        self.types.get(e).or_else(|| self.program.type_of(e))
    }

    /// Whether `e` (an expression of the kernel) has the same value in
    /// every invocation of a workgroup (conservative).
    #[must_use]
    pub fn is_uniform(&self, e: &Expr) -> bool {
        self.validated.is_uniform(e)
    }

    /// How widely `e` (an expression of the kernel) is shared: across the
    /// workgroup, across each warpgroup, or not known (conservative).
    #[must_use]
    pub fn uniformity(&self, e: &Expr) -> Uniformity {
        self.validated.uniformity(e)
    }

    /// Per local: how widely its value is shared.
    #[must_use]
    pub fn local_uniformity(&self) -> &[Uniformity] {
        &self.validated.local_uniformity
    }
}

#[cfg(test)]
mod tests {
    use super::{Analysis, Uniformity};
    use crate::DispatchConfig;
    use crate::driver::CompileError;
    use crate::ir::{Access, Axis, Builtin, DataType, Expr, ProgramBuilder};

    #[test]
    fn uniformity_comes_from_validation() {
        let mut b = ProgramBuilder::new("k", [256, 1, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        let wg = b.local("wg", DataType::U32, false);
        let tid = b.local("tid", DataType::U32, false);
        let half = b.local("half", DataType::U32, false);
        b.body(|blk| {
            blk.let_(wg, Expr::Builtin(Builtin::WorkgroupId, Axis::X));
            blk.let_(tid, Expr::Builtin(Builtin::LocalId, Axis::X));
            blk.let_(half, Expr::local(tid).div(Expr::u32(128)));
            blk.store(
                crate::ir::BufRef::Param(out),
                Expr::local(tid),
                Expr::local(wg),
            );
        });
        let p = b.finish();
        let a = Analysis::new(&p, &DispatchConfig::default()).expect("valid");
        assert_eq!(
            a.local_uniformity(),
            [
                Uniformity::Workgroup,
                Uniformity::Varying,
                Uniformity::Warpgroup
            ]
        );
        assert!(a.is_uniform(&Expr::local(wg)));
        assert!(!a.is_uniform(&Expr::local(tid)));
        assert!(!a.is_uniform(&Expr::local(half)));
        assert_eq!(a.uniformity(&Expr::local(half)), Uniformity::Warpgroup);
        assert_eq!(a.checks().decisions().len(), 1);
        // Every expression's type was recorded by validation.
        let crate::ir::Node::Store { index, value, .. } = &p.body[3] else {
            panic!("a store");
        };
        assert_eq!(a.type_of(index), Some(DataType::U32));
        assert_eq!(a.type_of(value), Some(DataType::U32));
        assert_eq!(a.types.len(), 7);
    }

    #[test]
    fn an_invalid_kernel_is_an_invalid_kernel_error() {
        let mut p = ProgramBuilder::new("k", [64, 1, 1]).finish();
        p.workgroup_size = [0, 1, 1];
        let e = Analysis::new(&p, &DispatchConfig::default()).unwrap_err();
        assert!(matches!(e, CompileError::InvalidKernel { .. }), "{e:?}");
    }
}
