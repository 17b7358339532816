//! Type inference of pass 1: types that may still be variables of
//! unsuffixed integer literals, and the union-find that resolves them.

use crate::ir::DataType;

/// A type during inference: known, an integer-literal variable, or the
/// type of an expression that already produced an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    K(DataType),
    V(u32),
    Err,
}

/// Union-find over integer-literal type variables.
#[derive(Default, Debug)]
pub(crate) struct Vars {
    parent: Vec<u32>,
    bound: Vec<Option<DataType>>,
    prefer_u32: Vec<bool>,
}

impl Vars {
    pub(crate) fn fresh(&mut self) -> Ty {
        let id = self.parent.len() as u32;
        self.parent.push(id);
        self.bound.push(None);
        self.prefer_u32.push(false);
        Ty::V(id)
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
                if x != y {
                    self.parent[x as usize] = y;
                    if self.bound[y as usize].is_none() {
                        self.bound[y as usize] = self.bound[x as usize];
                    }
                    self.prefer_u32[y as usize] |= self.prefer_u32[x as usize];
                }
            }
            (Ty::V(x), Ty::K(t)) | (Ty::K(t), Ty::V(x)) => {
                let x = self.find(x);
                if t.is_integer() && self.bound[x as usize].is_none() {
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
                Some(
                    self.bound[x as usize].unwrap_or(if self.prefer_u32[x as usize] {
                        DataType::U32
                    } else {
                        DataType::I32
                    }),
                )
            }
        }
    }
}
