//! Parsing `postgres://user[:pw]@host[:port]/db?opt=value&…` into a [`PostgresConfig`].

use std::path::PathBuf;
use std::time::Duration;

use credence_core::Error;

use crate::config::{Password, PostgresConfig, SslMode, valid_schema_name};

/// Every option the URL may carry; anything else is an error.
pub const OPTIONS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "schema",
    "application_name",
    "connect_timeout",
    "statement_timeout",
    "pool_max",
    "pool_min_idle",
    "pool_timeout",
    "pool_max_lifetime",
    "pool_idle_timeout",
    "write_retries",
];

/// The URL with every secret replaced by `***`, for error messages and `Debug` output (see
/// [`credence_core::redact::url`]).
pub fn redact(url: &str) -> String {
    credence_core::redact::url(url)
}

struct Parser<'a> {
    url: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::InvalidStoreUrl { url: redact(self.url), reason: reason.into() }
    }

    fn decode(&self, part: &str, what: &str) -> Result<String, Error> {
        percent_decode(part)
            .ok_or_else(|| self.err(format!("{what} has an invalid %-escape or is not UTF-8")))
    }
}

/// Decodes `%XX` escapes; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `30`, `30s`, `500ms`, `5m`, `1h`; a bare number is seconds.
fn parse_duration(v: &str) -> Option<Duration> {
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3_600).map(Duration::from_secs),
        _ => None,
    }
}

impl PostgresConfig {
    /// Parses a `postgres://` or `postgresql://` store URL.
    ///
    /// # Errors
    /// `Error::InvalidStoreUrl` (with the password removed from the URL) naming the part or
    /// option that is wrong; an unknown option is an error, never ignored.
    pub fn from_url(url: &str) -> credence_core::Result<PostgresConfig> {
        parse(url)
    }
}

/// Parses a store URL (see [`PostgresConfig::from_url`]).
pub fn parse(url: &str) -> Result<PostgresConfig, Error> {
    let p = Parser { url };
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| p.err("the scheme must be postgres:// or postgresql://"))?;
    if rest.contains('#') {
        return Err(p.err("a fragment (#...) is not allowed"));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    let mut config = PostgresConfig::default();

    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, pw)) => (u, Some(pw)),
            None => (userinfo, None),
        };
        if user.is_empty() {
            return Err(p.err("the user name is empty"));
        }
        config.user = p.decode(user, "the user name")?;
        if let Some(pw) = password {
            config.password = Some(Password(p.decode(pw, "the password")?));
        }
    }

    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| p.err("an IPv6 host is missing its closing ]"))?;
        let port = match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or_else(|| p.err("unexpected text after the IPv6 host"))?),
        };
        (h.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, port)) => (p.decode(h, "the host")?, Some(port)),
            None => (p.decode(hostport, "the host")?, None),
        }
    };
    if host.contains(',') {
        return Err(p.err("several hosts are not supported"));
    }
    if !host.is_empty() {
        config.host = host;
    }
    if let Some(port) = port {
        config.port = port
            .parse()
            .ok()
            .filter(|&n: &u16| n != 0)
            // The text is not echoed: in a malformed URL it may be part of a password.
            .ok_or_else(|| p.err("the port is not a number in 1-65535 (a password holding '/', '?', '#' or '@' must be %-escaped)"))?;
    }

    if path.contains('/') {
        return Err(p.err("the database name must not contain '/'"));
    }
    config.dbname = if path.is_empty() { config.user.clone() } else { p.decode(path, "the database name")? };

    let mut seen: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| p.err(format!("option {pair:?} has no value (expected {pair}=...)")))?;
        let Some(&key) = OPTIONS.iter().find(|&&o| o == key) else {
            return Err(p.err(format!("unknown option {key:?} (known options: {})", OPTIONS.join(", "))));
        };
        if seen.contains(&key) {
            return Err(p.err(format!("option {key:?} is given more than once")));
        }
        seen.push(key);
        let value = p.decode(raw, &format!("option {key:?}"))?;
        if value.is_empty() {
            return Err(p.err(format!("option {key:?} has an empty value")));
        }
        apply(&p, &mut config, key, &value)?;
    }
    config.validate().map_err(|e| match e {
        Error::InvalidConfig { reason } => p.err(reason),
        other => other,
    })?;
    Ok(config)
}

fn apply(p: &Parser<'_>, c: &mut PostgresConfig, key: &str, value: &str) -> Result<(), Error> {
    let bad = |expected: &str| p.err(format!("option {key:?} has value {value:?}; expected {expected}"));
    let duration = || parse_duration(value).ok_or_else(|| bad("a duration such as 30, 30s, 500ms, 5m or 1h"));
    let optional = |d: Duration| (!d.is_zero()).then_some(d);
    let count = || value.parse::<u32>().map_err(|_| bad("a whole number"));
    match key {
        "sslmode" => {
            c.ssl_mode = SslMode::parse(value)
                .ok_or_else(|| bad("disable, prefer, require, verify-ca or verify-full"))?;
        }
        "sslrootcert" => c.ssl_root_cert = Some(PathBuf::from(value)),
        "sslcert" => c.ssl_cert = Some(PathBuf::from(value)),
        "sslkey" => c.ssl_key = Some(PathBuf::from(value)),
        "schema" => {
            if !valid_schema_name(value) {
                return Err(bad("1-63 bytes of a-z, 0-9 and _, not starting with a digit"));
            }
            c.schema = value.to_owned();
        }
        "application_name" => c.application_name = value.to_owned(),
        "connect_timeout" => c.connect_timeout = duration()?,
        "statement_timeout" => c.statement_timeout = optional(duration()?),
        "pool_max" => c.pool.max_size = count()?,
        "pool_min_idle" => c.pool.min_idle = Some(count()?),
        "pool_timeout" => c.pool.connection_timeout = duration()?,
        "pool_max_lifetime" => c.pool.max_lifetime = optional(duration()?),
        "pool_idle_timeout" => c.pool.idle_timeout = optional(duration()?),
        "write_retries" => c.write_retries = count()?,
        _ => return Err(p.err(format!("unknown option {key:?}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        match parse(url) {
            Err(Error::InvalidStoreUrl { reason, url: shown }) => {
                assert!(!shown.contains("secret"), "password leaked in {shown}");
                reason
            }
            other => panic!("expected InvalidStoreUrl for {url}, got {other:?}"),
        }
    }

    #[test]
    fn parse_full_url_reads_every_part() {
        let c = parse(
            "postgres://bob:p%40ss@db.example:6543/claims?sslmode=verify-full&sslrootcert=/ca.pem\
             &schema=tenant_1&pool_max=4&pool_min_idle=1&pool_timeout=500ms&pool_max_lifetime=0\
             &pool_idle_timeout=2m&statement_timeout=5s&application_name=svc&connect_timeout=3\
             &write_retries=2",
        )
        .expect("valid URL");
        assert_eq!((c.user.as_str(), c.password.as_ref().map(|p| p.0.as_str())), ("bob", Some("p@ss")));
        assert_eq!((c.host.as_str(), c.port, c.dbname.as_str()), ("db.example", 6543, "claims"));
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.ssl_root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(c.schema, "tenant_1");
        assert_eq!(c.pool.max_size, 4);
        assert_eq!(c.pool.min_idle, Some(1));
        assert_eq!(c.pool.connection_timeout, Duration::from_millis(500));
        assert_eq!(c.pool.max_lifetime, None);
        assert_eq!(c.pool.idle_timeout, Some(Duration::from_secs(120)));
        assert_eq!(c.statement_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.application_name, "svc");
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.write_retries, 2);
    }

    #[test]
    fn parse_postgresql_scheme_and_defaults_are_accepted() {
        let c = parse("postgresql://alice@127.0.0.1").expect("valid URL");
        assert_eq!((c.host.as_str(), c.port, c.dbname.as_str()), ("127.0.0.1", 5432, "alice"));
        assert_eq!(c.schema, "public");
        assert_eq!(c.ssl_mode, SslMode::Prefer);
        let c = parse("postgres://u@[::1]:5433/d").expect("valid URL");
        assert_eq!((c.host.as_str(), c.port), ("::1", 5433));
    }

    #[test]
    fn parse_unknown_option_is_invalid_store_url_naming_it() {
        assert!(reason("postgres://u:secret@h/d?sslmod=require").contains("\"sslmod\""));
    }

    #[test]
    fn parse_malformed_options_are_invalid_store_url_naming_them() {
        assert!(reason("postgres://u:secret@h/d?sslmode=maybe").contains("sslmode"));
        assert!(reason("postgres://u:secret@h/d?pool_max=0").contains("pool max"));
        assert!(reason("postgres://u:secret@h/d?pool_max=x").contains("pool_max"));
        assert!(reason("postgres://u:secret@h/d?pool_timeout=5q").contains("pool_timeout"));
        assert!(reason("postgres://u:secret@h/d?schema=Bad-Name").contains("schema"));
        assert!(reason("postgres://u:secret@h/d?schema=a&schema=b").contains("more than once"));
        assert!(reason("postgres://u:secret@h/d?schema").contains("schema"));
        assert!(reason("postgres://u:secret@h/d?schema=").contains("schema"));
        assert!(reason("postgres://u:secret@h:99999/d").contains("port"));
        assert!(reason("postgres://u:secret@h:/d").contains("port"));
        assert!(reason("postgres://u:secret@h/d%zz").contains("%-escape"));
        assert!(reason("mysql://u:secret@h/d").contains("scheme"));
        assert!(reason("postgres://u:secret@[::1/d").contains("IPv6"));
    }

    #[test]
    fn parse_pool_values_the_pool_cannot_take_are_invalid_store_url() {
        assert!(reason("postgres://u:secret@h/d?pool_max=4294967295").contains("`pool_max`"));
        assert!(reason("postgres://u:secret@h/d?pool_max=0").contains("`pool_max`"));
        assert!(reason("postgres://u:secret@h/d?statement_timeout=600h").contains("`statement_timeout`"));
        assert!(reason("postgres://u:secret@h/d?pool_max=10001").contains("pool max size"));
        assert!(reason("postgres://u:secret@h/d?pool_max=2&pool_min_idle=3").contains("min idle"));
        assert!(reason("postgres://u:secret@h/d?pool_timeout=0").contains("connection timeout"));
        assert!(
            reason("postgres://u:secret@h/d?pool_timeout=18446744073709551615")
                .contains("connection timeout")
        );
        assert!(reason("postgres://u:secret@h/d?pool_timeout=25h").contains("connection timeout"));
        let c = parse("postgres://u@h/d?pool_max=10000&pool_timeout=24h").expect("valid URL");
        assert_eq!((c.pool.max_size, c.pool.connection_timeout), (10_000, Duration::from_secs(86_400)));
    }

    #[test]
    fn parse_arbitrary_bytes_never_panics() {
        for s in [
            "postgres://",
            "postgres://@",
            "postgres://:@:/?&=",
            "postgres://%",
            "postgres://[",
            "postgres://a@b@c",
        ] {
            let _ = parse(s);
        }
    }
}
