//! A connection's session: the server-side prepared statements and settings every read and
//! write relies on, made once per connection before its first use (`PREPARE` and `SET` outlive
//! transactions and rollbacks), and whether the session's role may write at all.

use crate::error::{PgError, PgResult, is_read_only};
use crate::pool::PgConnection;
use crate::sql::{self, PLAN_EXPECT, PREPARE_EXPECT, PREPARE_HEAD, SESSION_SETTINGS, prepare_append};

/// The read statements' names (see [`ensure_prepared`]).
const READ_NAMES: [&str; 6] = [
    "credence_head",
    "credence_line",
    "credence_line_head",
    "credence_live_read",
    "credence_live_reach",
    "credence_line_summary",
];

/// Prepares the head, line and live-claims queries, both forms of the insert and the guard (planned at
/// once, see [`PLAN_EXPECT`]) on `conn`, and makes the [`SESSION_SETTINGS`], unless already
/// done.
pub(crate) fn ensure_prepared(conn: &mut PgConnection) -> PgResult<()> {
    if conn.simple_prepared() {
        return Ok(());
    }
    let prepare_line = format!("{}; {}", sql::prepare_line(), sql::prepare_live_read());
    // The read statements first: a role that may only read gets them, and the session
    // settings, even though planning the write statements (EXPLAIN checks privileges) fails.
    if let Err(e) = conn.raw().batch_execute(&format!("{PREPARE_HEAD}; {prepare_line}; {SESSION_SETTINGS}")) {
        deallocate(conn, &READ_NAMES);
        return Err(e.into());
    }
    let writes = format!(
        "{}; {}; {}; {}; {PREPARE_EXPECT}; {PLAN_EXPECT}",
        prepare_append(false),
        prepare_append(true),
        sql::prepare_live_update(),
        sql::PREPARE_LIVE_NEW
    );
    if let Err(e) = conn.raw().batch_execute(&writes) {
        // Leave nothing half-prepared behind, nor the sort setting PLAN_EXPECT turns off.
        let _ = conn.raw().batch_execute(sql::RESET_PLAN_SETTING);
        let write_names = [
            "credence_append",
            "credence_append_many",
            "credence_live",
            "credence_live_new",
            "credence_expect",
        ];
        deallocate(conn, &write_names);
        let e = PgError::from(e);
        if !is_read_only(&e) {
            deallocate(conn, &READ_NAMES);
            return Err(e);
        }
        conn.refuse_writes(e.to_string());
    }
    conn.set_simple_prepared();
    Ok(())
}

/// [`ensure_prepared`] for a write: `ReadOnly` on a connection whose role may not write.
pub(crate) fn ensure_writable(conn: &mut PgConnection) -> PgResult<()> {
    ensure_prepared(conn)?;
    match conn.writes_refused() {
        Some(reason) => Err(PgError::ReadOnly(reason.to_owned())),
        None => Ok(()),
    }
}

fn deallocate(conn: &mut PgConnection, names: &[&str]) {
    for name in names {
        let _ = conn.raw().batch_execute(&format!("DEALLOCATE {name}"));
    }
}
