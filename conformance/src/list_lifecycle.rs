//! The case list for the lifecycle areas. Add a case here and it reaches every backend.

/// Calls `$crate::$callback!` with the lifecycle areas and their cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_lifecycle {
    ($callback:ident) => {
        $crate::$callback! {
            adjudication {
                conflict_with_oracle_is_queued_for_adjudication,
            }
        }
    };
}
