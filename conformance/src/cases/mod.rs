//! The cases, one module per area. Each case is a plain public function with a one-line doc
//! saying the behaviour it checks.

pub mod adjudication;
pub mod as_of;
pub mod audit;
pub mod batch;
pub mod concurrency;
pub mod corroboration;
pub mod currency;
pub mod dependencies;
pub mod discovery;
pub mod dispositions;
pub mod errors;
pub mod faults;
pub mod idempotency;
pub mod ingest;
pub mod invalidate;
pub mod reads;
pub mod recall_reentry;
pub mod reinstate;
pub mod resolve;
pub mod scale;
pub mod set_valued;
pub mod storage;
pub mod succession;
mod support;
pub mod transfer;
pub mod validation;
