//! Dimensions decided when data is bound: the macro describes the formula's dimension classes
//! (sets of operands that must share a dimension) and this module fills them from the data.

use crate::KeopsError;

/// Largest dimension a vector operand may have (keops-abi's).
pub use keops_abi::MAX_DIM;

/// One dimension class of a formula, as the macro inferred it.
#[derive(Debug, Clone, Copy)]
pub struct ClassSpec {
    /// Fixed at compile time (an annotation such as `x_i: 3`, or `concat` of fixed classes).
    pub fixed: Option<usize>,
    /// `concat(a, b)`: the dimension is `dim(a) + dim(b)` (`None` operand = scalar, dimension 1).
    pub concat: Option<(Option<usize>, Option<usize>)>,
    /// How the class is shown in messages, e.g. "concat(x_i, y_j)".
    pub label: &'static str,
}

/// A variable or parameter and its class (`None`: scalar).
#[derive(Debug, Clone, Copy)]
pub struct OperandSpec {
    /// Its name in the formula.
    pub name: &'static str,
    /// Its dimension class (`None`: a scalar).
    pub class: Option<usize>,
}

/// An `elem(f, index)` (or `extract(f, M, D)`) whose operand is in `class`.
#[derive(Debug, Clone, Copy)]
pub struct ElemSpec {
    /// The dimension class of the operand.
    pub class: usize,
    /// The largest index read.
    pub index: usize,
    /// `extract(f, M, D)`: `Some((M, D))`, and `index = M + D - 1`; `None` for `elem`.
    pub extract: Option<(usize, usize)>,
}

/// Everything the runtime needs to know about a formula's dimensions.
#[derive(Debug, Clone, Copy)]
pub struct DimSpec {
    /// The dimension classes.
    pub classes: &'static [ClassSpec],
    /// The variables, in the formula's order.
    pub vars: &'static [OperandSpec],
    /// The parameters, in the formula's order.
    pub params: &'static [OperandSpec],
    /// The `elem` and `extract` reads, whose indices the dimensions must cover.
    pub elems: &'static [ElemSpec],
}

fn mismatch(var: &str, expected: usize, found: usize, hint: &str) -> KeopsError {
    KeopsError::DimensionMismatch {
        var: var.to_string(),
        expected,
        found,
        hint: hint.to_string(),
    }
}

impl DimSpec {
    /// Dimension of every class, from the data's dimensions (`var_dims`, in `vars` order) and the
    /// parameters' (`param_dims`). A scalar operand must have dimension 1; a parameter in a vector
    /// class is a scalar (broadcast) or has the class's dimension.
    pub fn resolve(
        &self,
        var_dims: &[usize],
        param_dims: &[usize],
    ) -> Result<Vec<usize>, KeopsError> {
        let mut dims: Vec<Option<usize>> = self.classes.iter().map(|c| c.fixed).collect();
        // What fixed each class's dimension, for messages.
        let mut source: Vec<String> = self
            .classes
            .iter()
            .map(|c| match c.fixed {
                Some(n) => format!(
                    "the dimension {n} that the formula fixes (by an annotation, or by a \
                     dimension given to `onehot`, `extract`, `zero`...)"
                ),
                None => String::new(),
            })
            .collect();
        self.bind_vars(var_dims, &mut dims, &mut source)?;
        self.bind_concats(&mut dims, &mut source)?;
        self.check_params(param_dims, &dims, &source)?;
        let dims: Vec<usize> = dims.into_iter().map(|d| d.unwrap_or(1)).collect();
        self.check_elems(&dims)?;
        Ok(dims)
    }

    /// The classes of the variables take their data's dimensions (the first variable of a class
    /// fixes it, the others must agree).
    fn bind_vars(
        &self,
        var_dims: &[usize],
        dims: &mut [Option<usize>],
        source: &mut [String],
    ) -> Result<(), KeopsError> {
        for (v, &d) in self.vars.iter().zip(var_dims) {
            match v.class {
                None if d != 1 => {
                    return Err(mismatch(
                        v.name,
                        1,
                        d,
                        " (it is used as a scalar: it was annotated `: 1`)",
                    ))
                }
                None => {}
                Some(c) => match dims[c] {
                    Some(e) if e != d => {
                        let broadcast = if d == 1 {
                            format!(
                                "; to broadcast a scalar variable, annotate it `{}: 1`",
                                v.name
                            )
                        } else {
                            String::new()
                        };
                        return Err(mismatch(
                            v.name,
                            e,
                            d,
                            &format!(" (it must match {}{broadcast})", source[c]),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        if d > crate::MAX_DIM {
                            return Err(KeopsError::DimensionTooLarge {
                                var: v.name.to_string(),
                                dim: d,
                                max: crate::MAX_DIM,
                            });
                        }
                        dims[c] = Some(d);
                        source[c] = format!("`{}`, which has dimension {d}", v.name);
                    }
                },
            }
        }
        Ok(())
    }

    /// `concat` classes: `dim = dim(a) + dim(b)`, to a fixed point.
    fn bind_concats(
        &self,
        dims: &mut [Option<usize>],
        source: &mut [String],
    ) -> Result<(), KeopsError> {
        loop {
            let mut progress = false;
            for (c, spec) in self.classes.iter().enumerate() {
                let Some((a, b)) = spec.concat else { continue };
                let da = a.map_or(Some(1), |a| dims[a]);
                let db = b.map_or(Some(1), |b| dims[b]);
                if let (Some(da), Some(db)) = (da, db) {
                    match dims[c] {
                        Some(e) if e != da + db => {
                            return Err(mismatch(spec.label, e, da + db, ""));
                        }
                        Some(_) => {}
                        None => {
                            if da + db > crate::MAX_DIM {
                                return Err(KeopsError::DimensionTooLarge {
                                    var: spec.label.to_string(),
                                    dim: da + db,
                                    max: crate::MAX_DIM,
                                });
                            }
                            dims[c] = Some(da + db);
                            source[c] =
                                format!("`{}`, which has dimension {}", spec.label, da + db);
                            progress = true;
                        }
                    }
                }
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// A parameter is a scalar, or has its class's dimension.
    fn check_params(
        &self,
        param_dims: &[usize],
        dims: &[Option<usize>],
        source: &[String],
    ) -> Result<(), KeopsError> {
        for (p, &d) in self.params.iter().zip(param_dims) {
            if d == 0 {
                // An empty `Vec` or slice: no value to use, whatever the class.
                return Err(KeopsError::Empty {
                    var: p.name.to_string(),
                });
            }
            match p.class {
                None if d != 1 => {
                    return Err(mismatch(
                        p.name,
                        1,
                        d,
                        &format!(
                            " (it is used as a scalar; to use a vector parameter, annotate it `{}: {d}`)",
                            p.name
                        ),
                    ))
                }
                None => {}
                Some(c) => {
                    let e = dims[c].unwrap_or(1);
                    if d != 1 && d != e {
                        let hint = if source[c].is_empty() {
                            " (a vector parameter must match the operand it is combined with, or be a scalar)".to_string()
                        } else {
                            format!(" (it must match {}, or be a scalar)", source[c])
                        };
                        return Err(mismatch(p.name, e, d, &hint));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every `elem` and `extract` reads within its operand.
    fn check_elems(&self, dims: &[usize]) -> Result<(), KeopsError> {
        for e in self.elems {
            if e.index >= dims[e.class] {
                let var = self.classes[e.class].label.to_string();
                let dim = dims[e.class];
                return Err(match e.extract {
                    Some((start, len)) => KeopsError::ExtractOutOfRange {
                        var,
                        start,
                        len,
                        dim,
                    },
                    None => KeopsError::IndexOutOfRange {
                        var,
                        index: e.index,
                        dim,
                    },
                });
            }
        }
        Ok(())
    }
}
