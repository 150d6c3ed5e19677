//! sluice-ops
