//! The case list for the write-path areas. Add a case here and it reaches every backend.

/// Calls `$crate::$callback!` with the write-path areas and their cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_write {
    ($callback:ident) => {
        $crate::$callback! {
            storage {
                empty_agent_reads_as_no_belief,
                write_seq_starts_at_one_and_is_gap_free,
                write_seq_is_per_agent,
                write_clock_standing_still_tx_time_strictly_increases,
                write_clock_going_backwards_tx_time_stays_monotonic,
                write_tx_time_monotonicity_is_per_agent,
                write_unit_rows_share_seq_and_tx_time,
                write_rejected_consumes_no_seq,
                write_append_with_wrong_seq_is_conflict_and_writes_nothing,
                write_unit_returning_none_writes_nothing,
                write_unit_returning_error_writes_nothing,
                read_unknown_agent_creates_nothing,
                agents_sorted_bytewise_with_ids_exactly_as_given,
                agents_case_different_ids_are_separate_agents,
                line_terms_matched_byte_for_byte,
                units_return_exactly_what_was_written,
                read_seq_at_and_tx_time_of_answer_per_unit,
                read_line_rows_respect_max_seq,
                write_times_survive_as_exact_microseconds,
                write_valid_times_survive_exactly,
                write_values_round_trip_structurally,
                write_value_with_nul_character_round_trips,
                write_claim_fields_survive_exactly,
            }
            validation {
                ingest_empty_agent_is_rejected,
                ingest_agent_id_length_limit_is_256_bytes_inclusive,
                ingest_agent_with_nul_is_rejected,
                ingest_agent_with_control_character_is_rejected,
                ingest_empty_subject_or_predicate_is_rejected,
                ingest_term_length_limit_is_1024_bytes_inclusive,
                ingest_term_with_nul_is_rejected,
                ingest_term_with_control_characters_is_accepted,
                ingest_value_size_limit_is_inclusive,
                ingest_value_default_limit_is_64_kib,
                ingest_confidence_out_of_range_is_rejected,
                ingest_confidence_bounds_are_accepted,
                ingest_valid_time_confidence_out_of_range_is_rejected,
                ingest_unknown_derived_from_parent_is_rejected,
                ingest_unknown_depends_on_parent_is_rejected,
                ingest_parent_listed_twice_is_rejected,
                ingest_parent_of_another_agent_is_unknown,
                ingest_rejected_persists_nothing,
                ingest_reject_reason_serialises_with_code,
            }
            ingest {
                first_hand_fact_without_conflict_is_committed_cheap,
            }
        }
    };
}
