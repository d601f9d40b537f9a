//! Identities of rows: claims, assertions, adjudication handles, and the injectable id source.
//! (Agent ids, which are validated input, are in [`crate::agent`].)

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::Timestamp;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// The id of a claim: a time-ordered UUID (v7) minted by the engine.
    ClaimRef
);
uuid_id!(
    /// The id of a validity assertion (Bound / Reopen).
    AssertionRef
);
uuid_id!(
    /// The handle of a pending adjudication, given to the oracle.
    Handle
);

/// Mints ids. Injected so tests and replays are deterministic.
pub trait IdSource: Send + Sync {
    /// A fresh, never-repeated UUID; `at` is the transaction time it is minted for.
    fn next_id(&self, at: Timestamp) -> Uuid;
}

/// UUID v7 ids: the millisecond part comes from `at`, the rest is random, and a counter keeps
/// ids minted in the same millisecond strictly increasing within this source.
#[derive(Debug, Default)]
pub struct V7Ids {
    last: Mutex<u128>,
}

impl IdSource for V7Ids {
    fn next_id(&self, at: Timestamp) -> Uuid {
        let millis = u64::try_from(at.0.div_euclid(1_000)).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            millis / 1_000,
            u32::try_from((millis % 1_000) * 1_000_000).unwrap_or(0),
        );
        let fresh = Uuid::new_v7(ts).as_u128();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Keep ids from one source strictly increasing even within one millisecond.
        let next = if fresh > *last { fresh } else { last.wrapping_add(1) };
        *last = next;
        Uuid::from_u128(next)
    }
}

/// Deterministic ids for tests: v7-shaped, time-ordered, counting up from a seed.
#[derive(Debug)]
pub struct SequentialIds {
    seed: u64,
    counter: AtomicU64,
}

impl SequentialIds {
    /// A source whose ids embed `seed`, so two sources with different seeds never collide.
    pub fn new(seed: u64) -> SequentialIds {
        SequentialIds { seed, counter: AtomicU64::new(0) }
    }
}

impl IdSource for SequentialIds {
    fn next_id(&self, _at: Timestamp) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        // Version 7 and the RFC variant are stamped so the ids look like real ones.
        let hi = (u128::from(n) << 80) | (0x7u128 << 76);
        let lo = (u128::from(self.seed) & 0x3fff_ffff_ffff_ffff) | (0x2u128 << 62);
        Uuid::from_u128(hi | lo)
    }
}

impl<I: IdSource + ?Sized> IdSource for std::sync::Arc<I> {
    fn next_id(&self, at: Timestamp) -> Uuid {
        (**self).next_id(at)
    }
}
