//! [`PostgresConfig`]: everything a [`PostgresLedger`](crate::PostgresLedger) needs, usually
//! parsed from a store URL (see [`PostgresConfig::from_url`] and the crate docs for options).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the connection is protected, as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP; a server that only accepts TLS refuses the connection.
    Disable,
    /// TLS if the server offers it, plain otherwise; the certificate is not checked.
    #[default]
    Prefer,
    /// TLS required; the certificate is not checked (encryption only).
    Require,
    /// TLS required; the server certificate must chain to a trusted CA (`sslrootcert`, or the
    /// system store). The host name is not checked.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The URL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Parses the URL spelling.
    pub fn parse(s: &str) -> Option<SslMode> {
        [SslMode::Disable, SslMode::Prefer, SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The largest pool [`PoolConfig::max_size`] accepted: r2d2 reserves room for `max_size`
/// connections up front, so an absurd size would exhaust memory, and far fewer connections
/// than this already exceed any PostgreSQL server's `max_connections`.
pub const MAX_POOL_SIZE: u32 = 10_000;

/// The longest [`PoolConfig::connection_timeout`] accepted (one day): r2d2 adds it to the
/// current instant, which would overflow (and panic) for a huge duration.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest [`PostgresConfig::statement_timeout`] accepted: PostgreSQL takes the setting in
/// milliseconds as a 32-bit integer (about 24.8 days).
pub const MAX_STATEMENT_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Connection-pool settings (r2d2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once (`pool_max`, default 10); 1 to [`MAX_POOL_SIZE`]
    /// (10 000).
    pub max_size: u32,
    /// Idle connections kept open (`pool_min_idle`, default 0: connections open on demand;
    /// `None` keeps `max_size` open); at most `max_size`.
    pub min_idle: Option<u32>,
    /// How long a caller waits for a free connection (`pool_timeout`, default 30 s); more
    /// than zero and at most [`MAX_CONNECTION_TIMEOUT`] (one day).
    pub connection_timeout: Duration,
    /// Connections are closed after this age (`pool_max_lifetime`, default 30 min; 0 in a URL
    /// = never, which is `None` here: `Some(Duration::ZERO)` is invalid).
    pub max_lifetime: Option<Duration>,
    /// Idle connections are closed after this long (`pool_idle_timeout`, default 10 min; 0 in a
    /// URL = never, which is `None` here: `Some(Duration::ZERO)` is invalid).
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_size: 10,
            min_idle: Some(0),
            connection_timeout: Duration::from_secs(30),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
        }
    }
}

/// A password that never shows up in `Debug` output or errors.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Everything needed to open a [`PostgresLedger`](crate::PostgresLedger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Server host name or IP address (default `localhost`).
    pub host: String,
    /// Server port (default 5432).
    pub port: u16,
    /// User name (default `postgres`).
    pub user: String,
    /// Password, if any.
    pub password: Option<Password>,
    /// Database name (default: the user name).
    pub dbname: String,
    /// Schema holding credence's tables, created if missing (`schema`, default `public`).
    /// Lower-case letters, digits and `_`, starting with a letter or `_`, at most 63 bytes.
    pub schema: String,
    /// TLS mode (`sslmode`, default `prefer`).
    pub ssl_mode: SslMode,
    /// PEM file of trusted CA certificates (`sslrootcert`); the system store when absent.
    pub ssl_root_cert: Option<PathBuf>,
    /// PEM client certificate (`sslcert`), for servers that require one.
    pub ssl_cert: Option<PathBuf>,
    /// PEM client private key (`sslkey`).
    pub ssl_key: Option<PathBuf>,
    /// `application_name` reported to the server (default `credence`).
    pub application_name: String,
    /// TCP connect + startup timeout (`connect_timeout`, default 10 s).
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` for every statement (`statement_timeout`, default
    /// 30 s; 0 = none, which is `None` here); at most [`MAX_STATEMENT_TIMEOUT`]. It also
    /// bounds waits for an agent's write lock.
    pub statement_timeout: Option<Duration>,
    /// Pool settings.
    pub pool: PoolConfig,
    /// How many times a write is retried after an OCC failure (unique violation, 40001,
    /// 40P01) before `Error::Conflict` (`write_retries`, default 8).
    pub write_retries: u32,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            host: "localhost".into(),
            port: 5432,
            user: "postgres".into(),
            password: None,
            dbname: "postgres".into(),
            schema: "public".into(),
            ssl_mode: SslMode::default(),
            ssl_root_cert: None,
            ssl_cert: None,
            ssl_key: None,
            application_name: "credence".into(),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            pool: PoolConfig::default(),
            write_retries: 8,
        }
    }
}

impl PostgresConfig {
    /// Checks the values a URL cannot have checked (for configs built by hand), and every
    /// value the pool (r2d2) would panic on or could not cope with.
    ///
    /// # Errors
    /// `Error::InvalidConfig` naming the bad value (and the URL option that sets it).
    pub fn validate(&self) -> credence_core::Result<()> {
        let bad = |reason: String| Err(credence_core::Error::InvalidConfig { reason });
        if !valid_schema_name(&self.schema) {
            return bad(format!(
                "schema {:?} must be 1-63 bytes of a-z, 0-9 and _, not starting with a digit",
                self.schema
            ));
        }
        // Each check below stands for an `assert!` in r2d2 0.8's `Builder`, or (the two upper
        // bounds) for a capacity or `Instant` overflow inside the pool.
        let pool = &self.pool;
        if pool.max_size == 0 {
            return bad("pool max size (`pool_max`) must be at least 1".into());
        }
        if pool.max_size > MAX_POOL_SIZE {
            return bad(format!(
                "pool max size (`pool_max`) {} exceeds the limit of {MAX_POOL_SIZE}",
                pool.max_size
            ));
        }
        if pool.min_idle.is_some_and(|m| m > pool.max_size) {
            return bad("pool min idle (`pool_min_idle`) must not exceed pool max size (`pool_max`)".into());
        }
        if pool.connection_timeout.is_zero() {
            return bad("pool connection timeout (`pool_timeout`) must be positive".into());
        }
        if pool.connection_timeout > MAX_CONNECTION_TIMEOUT {
            return bad(format!(
                "pool connection timeout (`pool_timeout`) {:?} exceeds the limit of {MAX_CONNECTION_TIMEOUT:?}",
                pool.connection_timeout
            ));
        }
        if pool.max_lifetime.is_some_and(|d| d.is_zero()) {
            return bad("pool max lifetime (`pool_max_lifetime`) must be positive (None for never)".into());
        }
        if pool.idle_timeout.is_some_and(|d| d.is_zero()) {
            return bad("pool idle timeout (`pool_idle_timeout`) must be positive (None for never)".into());
        }
        if self.statement_timeout.is_some_and(|d| d.is_zero() || d > MAX_STATEMENT_TIMEOUT) {
            return bad(format!(
                "statement timeout (`statement_timeout`) {:?} must be more than zero and at most \
                 {MAX_STATEMENT_TIMEOUT:?} (None for none)",
                self.statement_timeout.unwrap_or_default()
            ));
        }
        if self.host.is_empty() {
            return bad("host must not be empty".into());
        }
        Ok(())
    }

    /// The server's connection settings for the driver.
    pub(crate) fn driver_config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.ssl_mode {
                SslMode::Disable => postgres::config::SslMode::Disable,
                SslMode::Prefer => postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    postgres::config::SslMode::Require
                }
            });
        if let Some(pw) = &self.password {
            c.password(pw.0.as_bytes());
        }
        let timeout_ms = self.statement_timeout.map_or(0, |d| d.as_millis().max(1));
        c.options(&format!("-c search_path={} -c statement_timeout={timeout_ms}", self.schema));
        c
    }
}

/// True for schema names that need no quoting and cannot inject SQL.
pub(crate) fn valid_schema_name(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok && s.len() <= 63 && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(config: &PostgresConfig) -> String {
        match config.validate() {
            Err(credence_core::Error::InvalidConfig { reason }) => reason,
            other => panic!("expected InvalidConfig for {:?}, got {other:?}", config.pool),
        }
    }

    fn with_pool(edit: impl FnOnce(&mut PoolConfig)) -> PostgresConfig {
        let mut config = PostgresConfig::default();
        edit(&mut config.pool);
        config
    }

    #[test]
    fn validate_default_config_is_ok() {
        assert!(PostgresConfig::default().validate().is_ok());
        let at_limits = with_pool(|p| {
            p.max_size = MAX_POOL_SIZE;
            p.min_idle = Some(MAX_POOL_SIZE);
            p.connection_timeout = MAX_CONNECTION_TIMEOUT;
            p.max_lifetime = None;
            p.idle_timeout = Some(Duration::from_millis(1));
        });
        assert!(at_limits.validate().is_ok());
    }

    #[test]
    fn validate_zero_max_lifetime_is_invalid_config() {
        let config = with_pool(|p| p.max_lifetime = Some(Duration::ZERO));
        assert!(reason(&config).contains("max lifetime"));
        // The ledger checks before it connects or builds the pool (which would panic).
        let err = crate::PostgresLedger::connect(config).expect_err("zero max lifetime");
        assert!(matches!(err, credence_core::Error::InvalidConfig { .. }), "{err}");
    }

    #[test]
    fn validate_zero_idle_timeout_is_invalid_config() {
        let config = with_pool(|p| p.idle_timeout = Some(Duration::ZERO));
        assert!(reason(&config).contains("idle timeout"));
    }

    #[test]
    fn validate_zero_or_huge_connection_timeout_is_invalid_config() {
        let config = with_pool(|p| p.connection_timeout = Duration::ZERO);
        assert!(reason(&config).contains("connection timeout"));
        let config = with_pool(|p| p.connection_timeout = Duration::MAX);
        assert!(reason(&config).contains("connection timeout"));
    }

    #[test]
    fn validate_zero_or_huge_statement_timeout_is_invalid_config() {
        for bad in [Duration::ZERO, MAX_STATEMENT_TIMEOUT + Duration::from_millis(1), Duration::MAX] {
            let config = PostgresConfig { statement_timeout: Some(bad), ..PostgresConfig::default() };
            assert!(reason(&config).contains("`statement_timeout`"), "{bad:?}");
        }
        for good in [None, Some(Duration::from_millis(1)), Some(MAX_STATEMENT_TIMEOUT)] {
            let config = PostgresConfig { statement_timeout: good, ..PostgresConfig::default() };
            assert!(config.validate().is_ok(), "{good:?}");
        }
    }

    #[test]
    fn huge_connect_timeout_is_an_error_not_a_panic() {
        // Nothing listens on port 1: the connection is refused at once, whatever the timeout.
        let config = PostgresConfig {
            host: "127.0.0.1".into(),
            port: 1,
            connect_timeout: Duration::MAX,
            ..PostgresConfig::default()
        };
        assert!(crate::PostgresLedger::connect(config).is_err());
    }

    #[test]
    fn validate_pool_size_out_of_range_is_invalid_config() {
        assert!(reason(&with_pool(|p| p.max_size = 0)).contains("pool max size"));
        assert!(reason(&with_pool(|p| p.max_size = MAX_POOL_SIZE + 1)).contains("pool max size"));
        assert!(reason(&with_pool(|p| p.max_size = u32::MAX)).contains("pool max size"));
        let config = with_pool(|p| {
            p.max_size = 2;
            p.min_idle = Some(3);
        });
        assert!(reason(&config).contains("min idle"));
    }

    /// Every config `validate` accepts builds an r2d2 pool without panicking (the builder's
    /// asserts are the ones `validate` mirrors).
    #[test]
    fn validate_accepted_pool_settings_build_without_panic() {
        #[derive(Debug)]
        struct Never;
        impl r2d2::ManageConnection for Never {
            type Connection = ();
            type Error = std::io::Error;
            fn connect(&self) -> Result<(), std::io::Error> {
                Err(std::io::Error::other("no connections in this test"))
            }
            fn is_valid(&self, _: &mut ()) -> Result<(), std::io::Error> {
                Ok(())
            }
            fn has_broken(&self, _: &mut ()) -> bool {
                false
            }
        }
        let candidates = [
            with_pool(|_| {}),
            with_pool(|p| p.max_lifetime = Some(Duration::ZERO)),
            with_pool(|p| p.idle_timeout = Some(Duration::ZERO)),
            with_pool(|p| p.connection_timeout = Duration::ZERO),
            with_pool(|p| p.max_size = 0),
            with_pool(|p| p.min_idle = Some(11)),
            with_pool(|p| p.min_idle = None),
        ];
        for config in candidates.into_iter().filter(|c| c.validate().is_ok()) {
            let p = &config.pool;
            let pool = r2d2::Pool::builder()
                .max_size(p.max_size)
                .min_idle(p.min_idle)
                .connection_timeout(p.connection_timeout)
                .max_lifetime(p.max_lifetime)
                .idle_timeout(p.idle_timeout)
                .build_unchecked(Never);
            assert_eq!(pool.max_size(), p.max_size);
        }
    }
}
