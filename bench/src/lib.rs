//! The benchmark harness shared by the `credence-bench` and `history` binaries: opening the
//! store under test, the raw-driver baselines (one row; an ingest's rows by hand), and
//! workloads written once against the engine.
//! Unpublished; the binaries print the tables.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Rates and percentiles are floating-point summaries of counts; precision loss is irrelevant.
#![allow(missing_docs)]
// The harness's items are named for what they measure; the binaries' docs say what is printed.

pub mod baseline;
pub mod history;
pub mod rows;
pub mod store;
pub mod workloads;

use std::process::ExitCode;

use store::Target;

/// The `main` of a bench binary named `name`: `args` parsed and checked, the scratch area of
/// its store made, `run` measured in it and its report printed, the scratch area removed
/// whatever happened. Exit 2 for bad arguments, 1 for a failed run.
pub fn main_with<A>(
    name: &str,
    args: Result<A, String>,
    store: impl Fn(&A) -> &str,
    run: impl FnOnce(&A, &Target) -> Result<String, String>,
) -> ExitCode {
    let args = match args {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{name}: {e} (--help lists the options)");
            return ExitCode::from(2);
        }
    };
    let target = match Target::from_url(store(&args)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let result = run(&args, &target);
    if let Err(e) = target.cleanup() {
        eprintln!("{name}: cleaning up: {e}");
    }
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
