//! What several ops need and no op owns: reading archives, downloading over HTTP with
//! retries, directory listings, the layout of a split dataset, sizes
//! and dates as pipeline files write them, Markdown tables. Ops use these modules; an op never
//! imports another op.

pub mod archive;
pub mod dates;
pub mod http;
pub mod listing;
pub mod markdown;
pub mod parts;
pub mod size;
