//! The cases, one module per area. Each case is a plain public function with a one-line doc
//! saying the behaviour it checks.

pub mod adjudication;
pub mod audit;
pub mod concurrency;
pub mod dependencies;
pub mod errors;
pub mod faults;
pub mod ingest;
pub mod invalidate;
pub mod recall_reentry;
pub mod reinstate;
pub mod resolve;
pub mod scale;
pub mod storage;
pub mod validation;
pub mod dispositions;
pub mod corroboration;
pub mod set_valued;
pub mod succession;
pub mod as_of;
pub mod currency;
pub mod reads;
