//! Schema management: refinery migrations on a dedicated connection under a session advisory
//! lock, so any number of processes opening the same schema at once converge.

use crate::error::{BACKEND, PgError, PgResult};
use crate::lock::{MIGRATION_LOCK, MIGRATION_UNLOCK, migration_lock_key};
use crate::pool::PgConnection;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The table refinery records applied migrations in (inside the credence schema).
pub const HISTORY_TABLE: &str = "credence_schema_history";

/// The newest schema version this build knows.
pub fn supported_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Creates `schema` if needed and brings it to the newest version, holding the schema's
/// migration lock for the whole time. The connection's `search_path` is `schema`.
///
/// # Errors
/// `SchemaTooNew` when the schema records a version newer than this build's.
pub(crate) fn migrate(conn: &mut PgConnection, schema: &str) -> PgResult<()> {
    let key = migration_lock_key(schema);
    conn.raw().execute(MIGRATION_LOCK, &[&key])?;
    let result = migrate_locked(conn, schema);
    let unlocked = conn.raw().execute(MIGRATION_UNLOCK, &[&key]);
    result?;
    unlocked?;
    Ok(())
}

fn migrate_locked(conn: &mut PgConnection, schema: &str) -> PgResult<()> {
    let supported = supported_version();
    // A schema already at this build's version needs nothing written: a role that may only
    // read (SELECT privileges, a standby) opens it without CREATE rights.
    let found = applied_version(conn)?;
    if found == supported {
        return finish_rebuilds(conn);
    }
    if found > supported {
        return Err(PgError::SchemaTooNew { found, supported });
    }
    let started = std::time::Instant::now();
    // The name was validated to be a plain lower-case identifier.
    conn.raw().batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))?;
    embedded::migrations::runner().set_migration_table_name(HISTORY_TABLE).run(conn.raw())?;
    finish_rebuilds(conn)?;
    credence_core::telemetry::migrated(BACKEND, schema, found, supported, started.elapsed());
    Ok(())
}

/// Builds what a migration left to build in Rust (`credence_rebuild`, see `rebuild`), in one
/// transaction that also clears the request; still under the migration lock, so no opener
/// reads the schema before it is done. A crash before the commit leaves the request for the
/// next opener.
fn finish_rebuilds(conn: &mut PgConnection) -> PgResult<()> {
    let pending: bool = conn
        .raw()
        .query_one(
            "SELECT to_regclass('credence_rebuild') IS NOT NULL AND EXISTS (SELECT 1 FROM credence_rebuild)",
            &[],
        )?
        .try_get(0)?;
    if !pending {
        return Ok(());
    }
    let mut tx = conn.raw().transaction()?;
    crate::rebuild::rebuild(&mut tx)?;
    tx.batch_execute("DELETE FROM credence_rebuild")?;
    tx.commit()?;
    Ok(())
}

/// The newest applied version, 0 for a fresh schema.
pub(crate) fn applied_version(conn: &mut PgConnection) -> PgResult<i64> {
    let exists = conn
        .raw()
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE])?
        .try_get::<_, bool>(0)?;
    if !exists {
        return Ok(0);
    }
    let row = conn.raw().query_one(&format!("SELECT max(version)::bigint FROM {HISTORY_TABLE}"), &[])?;
    let v: Option<i64> = row.try_get(0).map_err(|e| PgError::Corrupt(format!("{HISTORY_TABLE}: {e}")))?;
    Ok(v.unwrap_or(0))
}
