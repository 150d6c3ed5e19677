//! Seeded random numbers: ChaCha8, whose stream is fixed by its specification, so a seed gives
//! the same model on every machine and version.

use rand::SeedableRng;
pub(crate) use rand::{Rng, seq::SliceRandom};

/// The generator of every random choice.
pub(crate) type Rand = rand_chacha::ChaCha8Rng;

/// A generator for `seed`, on the stream `stream` (one per purpose, so that adding a draw in
/// one place does not change the others).
pub(crate) fn rng(seed: u64, stream: u64) -> Rand {
    let mut r = Rand::seed_from_u64(seed);
    r.set_stream(stream);
    r
}
