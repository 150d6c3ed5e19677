//! Built-in ops, one file each. Adding an op: a file here, one line in `specs()`, its tests.

mod noop;
mod sleep;

pub use noop::Noop;
pub use sleep::Sleep;

use crate::registry::{OpSpec, build};

/// The registry's list.
pub(crate) fn specs() -> Vec<OpSpec> {
    vec![
        OpSpec {
            name: "noop",
            summary: "Does nothing and succeeds: a join point, or a stand-in in tests and benchmarks.",
            build: build::<Noop>,
        },
        OpSpec {
            name: "sleep",
            summary: "Waits for `duration` (e.g. `2s`), then succeeds; stops at once when cancelled.",
            build: build::<Sleep>,
        },
    ]
}
