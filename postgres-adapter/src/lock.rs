//! Advisory locks: the 64-bit keys (a stable, namespaced hash of the agent id) and every
//! statement that takes one.
//!
//! The key must be the same in every process and every build (two processes writing one agent
//! must take the same lock), so it is FNV-1a 64 over
//! `"credence:agent:" + schema + "/" + id bytes`, implemented here and pinned by known-answer
//! tests. The schema is part of the namespace because advisory locks are per database: stores
//! in different schemas of one database hold different data and must not wait for each other.
//! std's `DefaultHasher` is not stable across releases and must not be used.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The namespace every agent lock key is hashed under.
pub const AGENT_NAMESPACE: &str = "credence:agent:";
/// The namespace of the migration lock key (hashed with the schema name).
pub const MIGRATION_NAMESPACE: &str = "credence:migrate:";

/// FNV-1a 64 of the concatenation of `parts`.
pub fn fnv1a_64(parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

/// Reinterprets the 64 hash bits as the signed key `pg_advisory_xact_lock(bigint)` takes.
fn as_key(hash: u64) -> i64 {
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// The `pg_advisory_xact_lock` key serialising `agent_id`'s writes in `schema`.
pub fn agent_lock_key(schema: &str, agent_id: &str) -> i64 {
    as_key(fnv1a_64(&[AGENT_NAMESPACE.as_bytes(), schema.as_bytes(), b"/", agent_id.as_bytes()]))
}

/// The session advisory-lock key serialising migrations of `schema`.
pub fn migration_lock_key(schema: &str) -> i64 {
    as_key(fnv1a_64(&[MIGRATION_NAMESPACE.as_bytes(), schema.as_bytes()]))
}

/// How a write transaction takes an agent's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Wait for it (`pg_advisory_xact_lock`): the lock of a lone write.
    Wait,
    /// Only try it (`pg_try_advisory_xact_lock`): a held lock fails the statement with
    /// `error::refusal::LOCK_BUSY`.
    Try,
}

/// The isolation every write transaction runs at: each statement after the lock sees every
/// unit committed before it.
const BEGIN_WRITE: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

/// The column in which a waited-for lock answers how long it waited, in microseconds.
const WAITED_COLUMN: &str = "credence_lock_waited_us";

/// The statement taking the transaction-scoped lock `key` as `how` says. A waited-for lock
/// answers how long it waited ([`WAITED_COLUMN`]): the time since the server received the
/// round trip (`statement_timestamp()`), in which only `BEGIN` runs before it. The lock is
/// taken in a materialized CTE, so the clock is read after it was granted.
pub(crate) fn lock_sql(key: i64, how: Lock) -> String {
    match how {
        Lock::Wait => format!(
            "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock({key})) SELECT (extract(epoch FROM \
             clock_timestamp() - statement_timestamp()) * 1000000)::bigint AS {WAITED_COLUMN} FROM l"
        ),
        Lock::Try => format!(
            "SELECT credence_check(pg_try_advisory_xact_lock({key}), '{}', 'the agent is being written by another \
             transaction')",
            crate::error::refusal::LOCK_BUSY
        ),
    }
}

/// `BEGIN` of a write transaction and its lock `key`, as one simple-query batch (statements of
/// a batch run in order, so the lock is held before anything after it runs).
pub(crate) fn begin_locked(key: i64, how: Lock) -> String {
    format!("{BEGIN_WRITE}; {}", lock_sql(key, how))
}

/// `BEGIN` of a transaction shared by several agents' units, and one statement trying every
/// lock of `keys` that records the keys it got in the transaction-local setting `setting`
/// (a comma-separated list; see `write::convoy`).
pub(crate) fn begin_trying_all(keys: &[i64], setting: &str) -> String {
    let keys: Vec<String> = keys.iter().map(i64::to_string).collect();
    format!(
        "{BEGIN_WRITE}; SELECT set_config('{setting}', coalesce((SELECT string_agg(k::text, ',') \
         FROM unnest(ARRAY[{}]::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)), ''), true)",
        keys.join(", ")
    )
}

/// How long the lock taken by a round trip that begins a transaction was waited for, from its
/// messages: the first row, when it is a waited-for lock's (see [`lock_sql`]).
pub(crate) fn waited(messages: &[postgres::SimpleQueryMessage]) -> Option<std::time::Duration> {
    let row = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })?;
    if row.columns().first()?.name() != WAITED_COLUMN {
        return None;
    }
    let micros: u64 = row.get(0)?.parse().ok()?;
    Some(std::time::Duration::from_micros(micros))
}

/// The session lock serialising migrations of a schema (taken and released by `schema`).
pub(crate) const MIGRATION_LOCK: &str = "SELECT pg_advisory_lock($1)";
/// Releases [`MIGRATION_LOCK`].
pub(crate) const MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock($1)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_matches_published_test_vectors() {
        // From the FNV reference test suite (http://www.isthe.com/chongo/src/fnv/test_fnv.c).
        assert_eq!(fnv1a_64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(&[b"foobar"]), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a_64(&[b"foo", b"bar"]), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn agent_lock_key_known_answers_are_pinned() {
        // Changing these breaks cross-version serialisation: old and new processes would take
        // different locks for the same agent.
        assert_eq!(agent_lock_key("public", "alice"), KNOWN_ALICE);
        assert_eq!(agent_lock_key("public", "bob"), KNOWN_BOB);
        assert_eq!(agent_lock_key("public", "agent-ü"), KNOWN_UNICODE);
        assert_eq!(agent_lock_key("tenant_1", "alice"), KNOWN_TENANT_ALICE);
    }

    #[test]
    fn agent_lock_key_is_namespaced() {
        assert_ne!(agent_lock_key("public", "alice"), as_key(fnv1a_64(&[b"alice"])));
        assert_ne!(agent_lock_key("public", "alice"), agent_lock_key("other", "alice"));
        // The separator keeps (schema, id) pairs apart.
        assert_ne!(agent_lock_key("ab", "c"), agent_lock_key("a", "bc"));
        assert_ne!(agent_lock_key("public", "x"), migration_lock_key("x"));
    }

    // Computed independently (a Python FNV-1a 64 over the same bytes, as signed 64-bit).
    const KNOWN_ALICE: i64 = -5_540_037_261_550_284_265;
    const KNOWN_BOB: i64 = -2_044_286_213_612_495_452;
    const KNOWN_UNICODE: i64 = 3_374_353_414_815_797_422;
    const KNOWN_TENANT_ALICE: i64 = 6_973_326_766_693_654_246;
}
