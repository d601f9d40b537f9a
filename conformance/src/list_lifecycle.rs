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
            resolve {
                resolve_contested_line_supersedes_losers_and_commits_winner,
                resolve_three_values_supersedes_all_others,
                resolve_supersedes_other_supporters_of_winning_value,
                resolve_closes_open_pending_rows_of_the_line,
                resolve_uncontested_line_keeps_winner,
                resolve_as_of_before_resolution_still_contested,
                resolve_unknown_claim_is_rejected_and_writes_nothing,
                resolve_claim_of_other_agent_is_rejected_unknown_claim,
                resolve_winner_on_other_line_is_rejected_wrong_line,
                resolve_winner_with_other_subject_is_rejected_wrong_line,
                resolve_superseded_winner_is_rejected_not_live,
                resolve_pending_winner_is_rejected_not_live,
            }
            invalidate {
                invalidate_live_claim_is_invalidated_and_kept_in_history,
                invalidate_writes_bound_assertion_and_entry_with_reason,
                invalidate_one_supporter_keeps_value_held_by_other,
                invalidate_one_side_of_contested_line_uncontests_it,
                invalidate_as_of_before_still_live,
                invalidate_unknown_claim_is_rejected_unknown_claim,
                invalidate_claim_of_other_agent_is_rejected_unknown_claim,
                invalidate_twice_is_rejected_not_live,
                invalidate_superseded_claim_is_rejected_not_live,
                invalidate_pending_claim_is_rejected_not_live,
                invalidate_queued_challenger_removes_it_from_belief,
            }
            reinstate {
                reinstate_invalidated_claim_is_live_again,
                reinstate_writes_reopen_assertion_and_entry,
                reinstate_superseded_claim_makes_line_contested,
                reinstate_adjudication_loser_is_live_again,
                reinstate_claim_equal_to_live_value_is_not_contested,
                reinstate_then_invalidate_again_is_invalidated,
                reinstate_live_claim_is_rejected_not_reinstatable,
                reinstate_twice_is_rejected_not_reinstatable,
                reinstate_queued_claim_is_rejected_not_reinstatable,
                reinstate_pending_claim_is_rejected_not_reinstatable,
                reinstate_pending_conflict_claim_is_rejected_not_reinstatable,
                reinstate_quarantined_claim_is_rejected_not_reinstatable,
                reinstate_unknown_claim_is_rejected_unknown_claim,
            }
            dependencies {
                invalidate_parent_flags_dependent_pending_review,
                cascade_entries_share_the_invalidation_unit,
                cascade_flags_grandchildren_in_same_unit,
                cascade_diamond_flags_each_dependent_once,
                cascade_depth_limit_is_sixty_four,
                cascade_leaves_unrelated_claims_unflagged,
                cascade_flag_is_bitemporal,
                cascade_flags_dependent_when_one_of_two_parents_stops,
                resolve_superseding_parent_flags_dependent,
                affirm_superseding_parent_flags_dependent,
                deny_superseding_challenger_flags_its_dependents,
                unknown_verdict_flags_nothing,
                cascade_flags_dependent_on_same_line,
            }
            recall_reentry {
                reentry_equal_to_live_claim_is_committed_cheap_with_target_ref,
                reentry_via_derived_from_targets_that_parent,
                reentry_derived_from_parent_with_other_value_is_pending_low_confidence,
                reentry_repeated_808_times_keeps_one_row_and_belief_unchanged,
                reentry_does_not_refresh_currency,
                reentry_burst_eleventh_within_window_is_quarantined,
                reentry_after_burst_window_passes_is_committed_cheap_again,
                reentry_burst_is_counted_per_target,
                reentry_burst_threshold_is_configurable,
                reentry_matching_nothing_is_pending_low_confidence_and_tainted,
                reentry_with_other_value_never_contests_belief,
                reentry_of_superseded_value_is_pending_low_confidence,
                external_after_unmatched_reentry_is_cheap_path,
            }
            audit {
                audit_entries_in_seq_order_and_newest_first_reversed,
                audit_entries_carry_unit_seq_time_and_rationale,
                audit_pages_twenty_thousand_entries_completely,
                audit_filter_by_claim_ref_returns_only_its_entries,
                audit_limit_zero_is_invalid_query,
                audit_of_unknown_agent_is_empty,
                audit_after_last_entry_is_empty,
                audit_is_isolated_per_agent,
                audit_rejected_writes_leave_no_entries,
            }
            concurrency {
                eight_threads_two_hundred_writes_one_agent_lose_nothing,
                two_conflicting_writers_yield_one_cheap_one_contested,
                concurrent_equal_writes_one_cheap_path_rest_corroborate,
                concurrent_writes_to_different_agents_all_commit,
                readers_during_write_storm_never_error,
                concurrent_verdicts_on_one_handle_apply_once,
                concurrent_invalidations_of_one_claim_succeed_once,
                concurrent_reentries_quarantine_exactly_past_threshold,
                concurrent_sweeps_expire_each_row_once,
            }
            scale {
                ten_thousand_entries_no_caps_and_superseded_stays_superseded,
                set_valued_line_with_twelve_hundred_members_lists_all,
                eleven_hundred_corroborations_count_exactly,
                subject_with_fifteen_hundred_predicates_lists_all,
                six_hundred_pending_adjudications_all_listed_and_swept,
                three_hundred_agents_all_listed,
            }
            errors {
                handle_errors_from_engine_are_not_retryable,
                lineage_of_unknown_claim_is_not_found,
                lineage_of_other_agents_claim_is_not_found,
                lineage_with_invalid_agent_is_not_found,
                invalid_agent_in_writes_is_rejected_not_error,
                submit_with_invalid_agent_is_handle_not_found,
                reads_with_invalid_agent_are_empty_not_errors,
                engine_with_invalid_config_is_invalid_config_error,
                error_messages_name_the_problem,
            }
        }
    };
}
