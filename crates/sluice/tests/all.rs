//! Every black-box test of the `sluice` binary, in one test binary: each file of this folder
//! is a module (one link of the whole stack instead of one per file; services a file starts
//! once are still started once).

mod common;

mod backfill;
mod chunk;
mod cli;
mod datasets;
mod dbt;
mod documents;
mod embed;
mod export;
mod fetch;
mod golden;
mod layers;
mod lineage;
mod link;
mod load_postgres;
mod mediatech;
mod ml;
mod mlflow;
mod publish;
mod search;
mod security;
mod serve;
mod split;
mod ui;
