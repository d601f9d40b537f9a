//! The benchmark harness shared by the `credence-bench` and `history` binaries: opening the
//! store under test, the raw-driver baselines, and workloads written once against the engine.
//! Unpublished; the binaries print the tables.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Rates and percentiles are floating-point summaries of counts; precision loss is irrelevant.
#![allow(missing_docs)]
// The harness's items are named for what they measure; the binaries' docs say what is printed.

pub mod baseline;
pub mod history;
pub mod store;
pub mod workloads;
