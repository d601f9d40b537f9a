//! The case list for the fault-injection area. Add a case here and it reaches every backend.

/// Calls `$crate::$callback!` with the fault-injection area and its cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_faults {
    ($callback:ident) => {
        $crate::$callback! {
            faults {
                write_failing_unavailable_is_retryable_and_persists_nothing,
                write_failing_backend_error_is_not_retryable_and_creates_no_agent,
                commit_failure_after_unit_ran_persists_nothing_and_consumes_no_seq,
                every_write_operation_fails_when_its_commit_fails,
                failed_verdict_leaves_adjudication_pending_and_retry_applies,
                read_failure_surfaces_as_error,
                failure_at_any_view_call_fails_the_operation_and_writes_nothing,
                mark_notified_failure_leaves_row_unnotified_until_sweep,
                sweep_carries_on_past_a_failing_agent,
            }
        }
    };
}
