//! # credence-conformance
//!
//! The behaviour contract of credence as executable cases. Every backend — the built-in ones
//! and yours — runs the same cases through one macro call:
//!
//! ```ignore
//! // tests/conformance.rs of your backend crate
//! struct MyFactory;
//! impl credence_conformance::Factory for MyFactory {
//!     fn name(&self) -> String { "mine".into() }
//!     fn capabilities(&self) -> credence_conformance::Capabilities {
//!         credence_conformance::Capabilities::IN_MEMORY
//!     }
//!     fn store(&self) -> Result<credence_conformance::Store, credence_core::Error> {
//!         Ok(credence_conformance::Store::new(std::sync::Arc::new(MyLedger::new())))
//!     }
//! }
//! credence_conformance::conformance_tests!(MyFactory);
//! ```
//!
//! That expands to one `#[test]` per case, named `<area>::<case>`, so a failure names the case
//! and the backend. Cases are plain functions in [`cases`]; [`all_cases`] lists them for
//! runners that are not `cargo test` (the `credence conformance` command).
#![deny(missing_docs)]

pub mod cases;
pub mod faults;
pub mod harness;
mod list_faults;
mod list_lifecycle;
mod list_write;
pub mod model;
pub mod observe;

pub use harness::{
    Capabilities, Case, CaseError, CaseResult, DynLedger, Factory, Fixture, RecordingOracle, Store, require,
    run_case, start_time,
};

/// Instantiates the whole suite for a backend: one `#[test]` per case, grouped in one module
/// per area. `$factory` is an expression building a [`Factory`]; it is evaluated once per case.
///
/// Call it once per module (wrap calls for several backends in their own `mod`).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        #[allow(dead_code)]
        fn __credence_factory() -> impl $crate::Factory {
            $factory
        }
        $crate::__cases_write!(__emit_tests);
        $crate::__cases_lifecycle!(__emit_tests);
        $crate::__cases_faults!(__emit_tests);
        mod model_tests {
            #[test]
            fn model_matches_reference() {
                $crate::model::check_against_model(
                    &super::__credence_factory(),
                    $crate::model::DEFAULT_CASES,
                );
            }

            #[test]
            fn invariants_hold_on_random_operation_sequences() {
                $crate::model::check_invariants(&super::__credence_factory(), $crate::model::DEFAULT_CASES);
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_tests {
    ($($area:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $area {
                $(
                    #[test]
                    fn $case() {
                        $crate::run_case(
                            &super::__credence_factory(),
                            stringify!($area),
                            stringify!($case),
                            $crate::cases::$area::$case,
                        );
                    }
                )*
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_list {
    ($($area:ident { $($case:ident),* $(,)? })*) => {
        &[$($($crate::Case {
            area: stringify!($area),
            name: stringify!($case),
            run: $crate::cases::$area::$case,
        },)*)*]
    };
}

/// Every case of the suite, in list order.
pub fn all_cases() -> Vec<Case> {
    let write: &[Case] = __cases_write!(__emit_list);
    let lifecycle: &[Case] = __cases_lifecycle!(__emit_list);
    let faults: &[Case] = __cases_faults!(__emit_list);
    write.iter().chain(lifecycle).chain(faults).copied().collect()
}
