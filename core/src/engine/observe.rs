//! What every engine operation tells an operator (SPEC §10): a `tracing` span named
//! `credence.<operation>` (INFO) with the agent, the backend (`db.system.name`), the operation
//! (`db.operation.name`), its outcome (a disposition, `ok`, or the error's kind) and the `seq` it
//! wrote, closed by an INFO event `done` with the outcome and the time taken; and the `metrics`
//! counter `credence_operations_total{operation, outcome}` and histogram
//! `credence_operation_seconds{operation}`. With no subscriber and no recorder installed, both
//! cost a check of a static flag.

use std::time::Instant;

use crate::api::{AdjudicationOutcome, WriteReceipt};
use crate::error::Result;

/// What an answer says about its outcome: a name and the seq it wrote, if any.
pub(super) trait Outcome {
    fn outcome(&self) -> (&'static str, Option<u64>);
}

impl Outcome for WriteReceipt {
    fn outcome(&self) -> (&'static str, Option<u64>) {
        (self.disposition.as_str(), self.seq)
    }
}

impl Outcome for AdjudicationOutcome {
    fn outcome(&self) -> (&'static str, Option<u64>) {
        ("ok", Some(self.seq))
    }
}

/// A read: its outcome is `ok`.
pub(crate) struct Read<T>(pub T);

impl<T> Outcome for Read<T> {
    fn outcome(&self) -> (&'static str, Option<u64>) {
        ("ok", None)
    }
}

/// Runs `$body` as operation `$op` of `$agent`, inside its span `credence.$op`, and records its
/// outcome and duration ([`finish`]).
macro_rules! observed {
    // A read: its outcome is `ok` (or the error's kind).
    (read $op:ident, $agent:expr, $backend:expr, $body:expr) => {
        $crate::engine::observe::observed!($op, $agent, $backend, $body.map($crate::engine::observe::Read))
            .map(|read| read.0)
    };
    ($op:ident, $agent:expr, $backend:expr, $body:expr) => {{
        let span = tracing::info_span!(
            concat!("credence.", stringify!($op)),
            agent = $agent,
            "db.system.name" = $backend,
            "db.operation.name" = stringify!($op),
            outcome = tracing::field::Empty,
            seq = tracing::field::Empty,
        );
        $crate::engine::observe::finish(&span, stringify!($op), || $body)
    }};
}
pub(crate) use observed;

/// Runs `f` inside `span`, then records its outcome (a disposition, `ok`, or the error's kind)
/// and the seq it wrote on the span, and counts it with its duration.
pub(crate) fn finish<T: Outcome>(
    span: &tracing::Span,
    operation: &'static str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let _entered = span.enter();
    // How long the call took is a measure of this process's work, not a time of the ledger: the
    // monotonic clock, not the engine's injected one (which tests may stop or turn back).
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let result = f();
    let outcome = match &result {
        Ok(answer) => {
            let (outcome, seq) = answer.outcome();
            if let Some(seq) = seq {
                span.record("seq", seq);
            }
            outcome
        }
        Err(e) => e.kind(),
    };
    span.record("outcome", outcome);
    let elapsed = start.elapsed();
    tracing::info!(outcome, elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), "done");
    metrics::counter!("credence_operations_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("credence_operation_seconds", "operation" => operation).record(elapsed.as_secs_f64());
    result
}
