//! The fetch family: downloads sources into the raw area of the warehouse.

pub mod download;
