//! The case list for the lifecycle areas. Add a case here and it reaches every backend.

/// Calls `$crate::$callback!` with the lifecycle areas and their cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_lifecycle {
    ($callback:ident) => {
        $crate::$callback! {
            adjudication {
                conflict_with_oracle_is_queued_for_adjudication,
                queue_writes_pending_row_and_requested_entry_in_same_unit,
                queue_with_ttl_sets_expires_at_to_queued_at_plus_ttl,
                queue_without_ttl_has_no_expiry,
                queued_challenger_makes_belief_contested,
                conflict_without_oracle_queues_nothing,
                affirm_supersedes_incumbent_and_commits_challenger,
                affirm_supersedes_every_live_incumbent,
                affirm_records_resolved_entries_with_evidence_provenance,
                affirm_as_of_before_verdict_still_contested,
                deny_supersedes_challenger_and_incumbent_holds,
                unknown_verdict_contests_both_and_closes_row,
                verdict_after_expiry_returns_handle_expired_and_contests,
                verdict_exactly_at_expires_at_is_expired,
                verdict_just_before_expiry_is_applied,
                submit_to_expired_handle_is_already_closed,
                submit_unknown_handle_is_not_found_and_writes_nothing,
                submit_handle_of_other_agent_is_not_found,
                submit_to_resolved_handle_is_already_closed_and_writes_nothing,
                sweep_expires_overdue_rows_and_reports_count,
                sweep_at_exactly_expires_at_expires_row,
                sweep_before_expiry_writes_nothing,
                sweep_twice_is_idempotent,
                sweep_without_ttl_never_expires,
                sweep_expires_rows_of_every_agent,
                failed_oracle_leaves_row_unnotified_and_claim_queued,
                sweep_renotifies_once_oracle_recovers,
                sweep_renotify_consumes_no_seq,
                verdict_on_unnotified_row_is_applied,
                pending_lists_open_rows_oldest_first_across_agents,
                pending_excludes_closed_rows,
            }
        }
    };
}
