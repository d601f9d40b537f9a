//! The case list for the write-path areas. Add a case here and it reaches every backend.

/// Calls `$crate::$callback!` with the write-path areas and their cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_write {
    ($callback:ident) => {
        $crate::$callback! {
            storage {
                empty_agent_reads_as_no_belief,
            }
            ingest {
                first_hand_fact_without_conflict_is_committed_cheap,
            }
        }
    };
}
