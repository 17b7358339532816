//! Where the generator's decisions come from.
//!
//! Every decision is one draw of a raw `u32`, reduced modulo the number of
//! options, and option 0 is always the simplest. A seeded run records its
//! raw draws; replaying a (possibly edited) draw list gives a program again,
//! and a draw list that runs out yields zeros, i.e. the simplest choices.
//! This is how shrinking works (Hypothesis-style): shortening the list or
//! lowering its values simplifies the program while keeping it valid.

/// A stream of decisions.
pub trait Source {
    /// A raw draw.
    fn raw(&mut self) -> u32;

    /// A value in `0..bound` (`bound == 0` counts as 1).
    fn below(&mut self, bound: u32) -> u32 {
        self.raw() % bound.max(1)
    }

    /// `true` with probability about `num/den` (0 draws give `false`).
    fn chance(&mut self, num: u32, den: u32) -> bool {
        self.below(den) >= den - num.min(den)
    }
}

/// SplitMix64: a small, fast, well-mixed generator; recorded draws allow
/// replay and shrinking.
#[derive(Debug, Clone)]
pub struct RngSource {
    state: u64,
    /// Every raw draw made so far.
    pub log: Vec<u32>,
}

impl RngSource {
    /// A generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x5EED_0F7E_5700_u64,
            log: Vec::new(),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Source for RngSource {
    fn raw(&mut self) -> u32 {
        // The high half has the best mixing.
        let v = (self.next_u64() >> 32) as u32;
        self.log.push(v);
        v
    }
}

/// Replays recorded draws; past the end every draw is 0.
#[derive(Debug, Clone)]
pub struct ReplaySource<'a> {
    draws: &'a [u32],
    pos: usize,
}

impl<'a> ReplaySource<'a> {
    /// Replay `draws` from the start.
    #[must_use]
    pub fn new(draws: &'a [u32]) -> Self {
        Self { draws, pos: 0 }
    }

    /// How many draws were consumed (may exceed the list's length).
    #[must_use]
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl Source for ReplaySource<'_> {
    fn raw(&mut self) -> u32 {
        let v = self.draws.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }
}
