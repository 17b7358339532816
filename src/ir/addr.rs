//! Tables keyed by the address of an IR node (an expression of a borrowed
//! program): the middle layer's per-expression facts. Addresses are
//! already unique, so the hash only has to spread them; SipHash's
//! resistance to chosen keys buys nothing here and costs a measurable
//! share of emission time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Expr;

/// The key of `e` in an [`AddrMap`]: its address, stable while the program
/// holding it is borrowed.
#[must_use]
pub fn addr_of(e: &Expr) -> usize {
    std::ptr::from_ref(e) as usize
}

/// Hasher of node addresses: one multiply (Fibonacci hashing).
#[derive(Debug, Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for `usize` keys; correct for any other.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map from node addresses to `V`.
pub type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;
