//! Type inference of pass 1: types that may still be variables of
//! unsuffixed integer or float literals, and the union-find that resolves
//! them.

use crate::ir::DataType;

/// A type during inference: known, a literal variable (integer or float,
/// see [`Vars`]), or the type of an expression that already produced an
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    K(DataType),
    V(u32),
    Err,
}

/// Union-find over literal type variables. An integer-literal variable
/// binds to an integer type (`i32` when nothing decides, `u32` for an
/// index), a float-literal variable to a float type (`f32` when nothing
/// decides); the two kinds never merge (pass 2 reports the mismatch).
#[derive(Default, Debug)]
pub(crate) struct Vars {
    parent: Vec<u32>,
    bound: Vec<Option<DataType>>,
    prefer_u32: Vec<bool>,
    float: Vec<bool>,
}

impl Vars {
    /// A variable of an unsuffixed integer literal.
    pub(crate) fn fresh(&mut self) -> Ty {
        self.fresh_kind(false)
    }

    /// A variable of an unsuffixed float literal.
    pub(crate) fn fresh_float(&mut self) -> Ty {
        self.fresh_kind(true)
    }

    fn fresh_kind(&mut self, float: bool) -> Ty {
        let id = self.parent.len() as u32;
        self.parent.push(id);
        self.bound.push(None);
        self.prefer_u32.push(false);
        self.float.push(float);
        Ty::V(id)
    }

    /// Whether `t` is a float-literal variable.
    pub(crate) fn is_float_var(&mut self, t: Ty) -> bool {
        match t {
            Ty::V(x) => {
                let x = self.find(x);
                self.float[x as usize]
            }
            _ => false,
        }
    }

    fn find(&mut self, mut v: u32) -> u32 {
        let mut root = v;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        while self.parent[v as usize] != root {
            let next = self.parent[v as usize];
            self.parent[v as usize] = root;
            v = next;
        }
        root
    }

    /// Record that `a` and `b` must be equal. Conflicts between known types
    /// are left for pass 2, which reports them with positions.
    pub(crate) fn unify(&mut self, a: Ty, b: Ty) {
        match (a, b) {
            (Ty::V(x), Ty::V(y)) => {
                let (x, y) = (self.find(x), self.find(y));
                if x != y && self.float[x as usize] == self.float[y as usize] {
                    self.parent[x as usize] = y;
                    if self.bound[y as usize].is_none() {
                        self.bound[y as usize] = self.bound[x as usize];
                    }
                    self.prefer_u32[y as usize] |= self.prefer_u32[x as usize];
                }
            }
            (Ty::V(x), Ty::K(t)) | (Ty::K(t), Ty::V(x)) => {
                let x = self.find(x);
                let fits = if self.float[x as usize] {
                    t.is_float()
                } else {
                    t.is_integer()
                };
                if fits && self.bound[x as usize].is_none() {
                    self.bound[x as usize] = Some(t);
                }
            }
            _ => {}
        }
    }

    /// An index prefers `u32` when nothing else decides.
    pub(crate) fn prefer_u32(&mut self, t: Ty) {
        if let Ty::V(x) = t {
            let x = self.find(x);
            self.prefer_u32[x as usize] = true;
        }
    }

    /// The type `t` stands for once inference is complete.
    pub(crate) fn resolve(&mut self, t: Ty) -> Option<DataType> {
        match t {
            Ty::K(t) => Some(t),
            Ty::Err => None,
            Ty::V(x) => {
                let x = self.find(x);
                let default = if self.float[x as usize] {
                    DataType::F32
                } else if self.prefer_u32[x as usize] {
                    DataType::U32
                } else {
                    DataType::I32
                };
                Some(self.bound[x as usize].unwrap_or(default))
            }
        }
    }
}
