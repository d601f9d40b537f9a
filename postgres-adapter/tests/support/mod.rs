//! Test support shared by the PostgreSQL test binaries: where the server comes from, fresh
//! schemas per test, and throwaway local servers.
//!
//! * `CREDENCE_TEST_POSTGRES_URL` set → that server (e.g.
//!   `postgres://postgres@127.0.0.1:5432/test`). The URL must not carry a `schema` option.
//! * otherwise → a throwaway server from local PostgreSQL binaries (`initdb` on PATH or in
//!   `/usr/lib/postgresql/*/bin`) in a temp dir on a free port, stopped when the test process
//!   exits (a watchdog process stops it even if the tests are killed).
//! * neither → the test is skipped with a loud message, except under `CI=true`, where that is
//!   a failure.
#![allow(dead_code)]

pub mod proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The base URL of the test server, or `None` (after printing why) when there is none.
pub fn base_url() -> Option<String> {
    static BASE: OnceLock<Option<String>> = OnceLock::new();
    BASE.get_or_init(|| {
        if let Ok(url) = std::env::var("CREDENCE_TEST_POSTGRES_URL")
            && !url.is_empty()
        {
            return Some(url);
        }
        match LocalServer::start(&[]) {
            Ok(server) => {
                let url = server.url("postgres");
                // Kept for the life of the process; the watchdog stops it afterwards.
                std::mem::forget(server);
                Some(url)
            }
            Err(why) => {
                let msg = format!(
                    "no PostgreSQL for the credence-postgres tests: CREDENCE_TEST_POSTGRES_URL is unset and \
                     no throwaway server could be started ({why})"
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{msg} (CI=true makes this a failure)");
                }
                // Straight to the stderr handle: `eprintln!` is captured by the test harness and
                // hidden for passing (skipped) tests, and this message must always be seen.
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
                None
            }
        }
    })
    .clone()
}

/// Skips the calling test (returning early) when there is no server.
#[macro_export]
macro_rules! require_server {
    () => {
        match support::base_url() {
            Some(url) => url,
            None => return Ok(()),
        }
    };
}

/// `url` with `options` appended (`a=b&c=d`).
pub fn with_options(url: &str, options: &str) -> String {
    if options.is_empty() {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{options}")
}

/// A schema name no other test (in any process) uses.
pub fn unique_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("credence_t_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Drops its schema (CASCADE) when dropped. Never `public`.
#[derive(Debug)]
pub struct SchemaGuard {
    base: String,
    /// The schema's name.
    pub schema: String,
}

impl SchemaGuard {
    /// A fresh schema name on the server at `base` (created by the ledger when it connects).
    pub fn new(base: &str) -> SchemaGuard {
        SchemaGuard { base: base.to_owned(), schema: unique_schema() }
    }

    /// The store URL for this schema with extra `options`.
    pub fn url(&self, options: &str) -> String {
        let url = with_options(&self.base, &format!("schema={}", self.schema));
        with_options(&url, options)
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        assert_ne!(self.schema, "public", "never drop the public schema");
        if let Ok(mut client) = admin_client(&self.base) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema));
        }
    }
}

/// A plain driver connection to the server at `base` (no credence options).
pub fn admin_client(base: &str) -> Result<postgres::Client, String> {
    let config = credence_postgres::PostgresConfig::from_url(base).map_err(|e| e.to_string())?;
    let mut c = postgres::Config::new();
    c.host(&config.host).port(config.port).user(&config.user).dbname(&config.dbname);
    if let Some(pw) = &config.password {
        c.password(&pw.0);
    }
    c.connect(postgres::NoTls).map_err(|e| e.to_string())
}

/// Removes `path` once this process has exited (for temp dirs kept in statics).
pub fn remove_when_process_exits(path: &Path) {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; rm -rf '{}'",
        std::process::id(),
        path.display()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// A throwaway PostgreSQL server in a temp dir.
pub struct LocalServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    run_as: Option<String>,
}

/// Finds `initdb`, `pg_ctl` and `postgres`: PATH, then `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return Some(std::fs::canonicalize(dir.join("initdb")).ok()?.parent()?.to_path_buf());
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl LocalServer {
    /// Starts a server; `conf` lines are appended to postgresql.conf, and when `hba` is given
    /// it replaces pg_hba.conf.
    pub fn start(conf: &[&str]) -> Result<LocalServer, String> {
        LocalServer::start_with(conf, None, |_| Ok(()))
    }

    /// As [`LocalServer::start`], with a custom pg_hba.conf and a hook run on the data
    /// directory before the server starts (to place certificates).
    pub fn start_with(
        conf: &[&str],
        hba: Option<&str>,
        prepare: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<LocalServer, String> {
        let bin = find_bin_dir().ok_or("no initdb found on PATH or in /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::Builder::new().prefix("credence-pg-").tempdir().map_err(|e| e.to_string())?;
        let run_as = is_root().then(|| "postgres".to_owned());
        let data = dir.path().join("data");
        if let Some(user) = &run_as {
            let ok =
                Command::new("chown").arg("-R").arg(user).arg(dir.path()).status().is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("cannot chown the temp dir to {user}"));
            }
        }
        let server = LocalServer { dir, port: free_port()?, bin, run_as };
        server.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", &data.to_string_lossy()],
        )?;
        let mut lines = vec![
            format!("port = {}", server.port),
            "listen_addresses = '127.0.0.1'".to_owned(),
            format!("unix_socket_directories = '{}'", server.dir.path().display()),
            "max_connections = 200".to_owned(),
            "fsync = off".to_owned(),
        ];
        lines.extend(conf.iter().map(|s| (*s).to_owned()));
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).map_err(|e| e.to_string())?;
        text.push('\n');
        text.push_str(&lines.join("\n"));
        text.push('\n');
        std::fs::write(&conf_path, text).map_err(|e| e.to_string())?;
        if let Some(hba) = hba {
            std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| e.to_string())?;
        }
        prepare(&data)?;
        if let Some(user) = &server.run_as {
            let _ = Command::new("chown").arg("-R").arg(user).arg(server.dir.path()).status();
        }
        let log = server.dir.path().join("log");
        server.run(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-l", &log.to_string_lossy(), "-w", "-t", "60", "start"],
        )?;
        server.watchdog();
        server.wait_ready()?;
        Ok(server)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stops the server when this process is gone, even if it is killed.
    fn watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.dir.path().join("data");
        let prefix = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {prefix}'{}' -D '{}' -m immediate stop >/dev/null 2>&1; \
             rm -rf '{}'",
            pg_ctl.display(),
            data.display(),
            self.dir.path().display(),
            pid = std::process::id(),
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Through the unix socket: TCP may be hostssl-only.
            let ok = postgres::Config::new()
                .host_path(self.dir.path())
                .port(self.port)
                .user("postgres")
                .dbname("postgres")
                .connect(postgres::NoTls)
                .is_ok();
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not accept connections in time:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A URL for database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Restarts the server with `pg_ctl restart -m <mode>` (`fast`: connections are ended and a
    /// checkpoint written; `immediate`: every process is killed and the server recovers from its
    /// WAL on start) and waits until it accepts connections again.
    pub fn restart(&self, mode: &str) -> Result<(), String> {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "restart",
            ],
        )?;
        self.wait_ready()
    }

    /// Stops the server now.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let _ = self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}
