//! `credence mcp` as an MCP host uses it: the real binary started as a child process, talked to
//! by the official Rust SDK's client over stdio and over streamable HTTP.
#![cfg(feature = "mcp")]

mod support;

use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Client = RunningService<RoleClient, ()>;

const READS: [&str; 8] =
    ["recall", "history", "subject", "subjects", "search", "audit", "lineage", "pending"];
const WRITES: [&str; 5] = ["remember", "adjudicate", "resolve", "invalidate", "reinstate"];

fn command(store: &str, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_credence"));
    cmd.env_remove("CREDENCE_STORE")
        .env_remove("CREDENCE_MCP_TOKEN")
        .args(["--store", store, "mcp", "--agent", "agent-1"]);
    cmd.args(extra);
    cmd
}

/// A client of a stdio server on `store`.
async fn stdio(store: &str, extra: &[&str]) -> Result<Client, Box<dyn std::error::Error>> {
    let (transport, _) = TokioChildProcess::builder(command(store, extra)).stderr(Stdio::null()).spawn()?;
    Ok(().serve(transport).await?)
}

fn args(v: Value) -> JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, Box<dyn std::error::Error>> {
    Ok(client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments))).await?)
}

/// The structured content of a successful call.
async fn ok(client: &Client, tool: &str, arguments: Value) -> Result<Value, Box<dyn std::error::Error>> {
    let result = call(client, tool, arguments.clone()).await?;
    assert_eq!(result.is_error, Some(false), "{tool} {arguments}: {result:?}");
    assert!(!text(&result).is_empty(), "{tool}: no text for a model to read");
    Ok(result.structured_content.ok_or_else(|| format!("{tool}: no structured content"))?)
}

/// The text of a failed call.
async fn refused(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<String, Box<dyn std::error::Error>> {
    let result = call(client, tool, arguments.clone()).await?;
    assert_eq!(result.is_error, Some(true), "{tool} {arguments} should fail: {result:?}");
    Ok(text(&result))
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

fn annotated(tool: &Tool) -> (bool, bool, bool) {
    let a = tool.annotations.clone().unwrap_or_default();
    (
        a.read_only_hint.unwrap_or(false),
        a.destructive_hint.unwrap_or(true),
        a.idempotent_hint.unwrap_or(false),
    )
}

/// Every tool's happy path and a bad call each, a Contested line end to end (remember twice,
/// recall lists both candidates, resolve settles it), and a queued contradiction adjudicated.
async fn every_tool(client: &Client) -> TestResult {
    let first = ok(
        client,
        "remember",
        json!({"subject": "alice", "predicate": "home city", "value": "Lisbon",
        "provenance": "user", "valid_from": "2020", "idempotency_key": "k1"}),
    )
    .await?;
    assert_eq!(first["disposition"], "CommittedCheap");
    let again = ok(
        client,
        "remember",
        json!({"subject": "alice", "predicate": "home city", "value": "Lisbon",
        "provenance": "user", "valid_from": "2020", "idempotency_key": "k1"}),
    )
    .await?;
    assert_eq!(again["claim_ref"], first["claim_ref"], "a retry with the same key writes nothing new");
    let second = call(
        client,
        "remember",
        json!({"subject": "alice", "predicate": "home city", "value": "Porto",
        "provenance": "user", "valid_from": "2020"}),
    )
    .await?;
    assert!(text(&second).contains("Contested"), "{}", text(&second));
    let second = second.structured_content.ok_or("no structured content")?;
    let contested = call(client, "recall", json!({"subject": "alice", "predicate": "home city"})).await?;
    let said = text(&contested);
    assert!(said.contains("Contested") && said.contains("Lisbon") && said.contains("Porto"), "{said}");
    assert!(said.contains("resolve"), "the text says how to settle it: {said}");
    let belief = contested.structured_content.ok_or("no structured content")?;
    assert_eq!(belief["status"], "Contested");
    assert_eq!(belief["values"], json!(["Lisbon", "Porto"]));
    let settled = ok(
        client,
        "resolve",
        json!({"subject": "alice", "predicate": "home city",
        "winner": second["claim_ref"]}),
    )
    .await?;
    assert!(settled["seq"].is_u64(), "{settled}");
    let now = ok(client, "recall", json!({"subject": "alice", "predicate": "home city"})).await?;
    assert_eq!(now["value"], "Porto");
    let then =
        ok(client, "recall", json!({"subject": "alice", "predicate": "home city", "as_of_seq": 1})).await?;
    assert_eq!(then["value"], "Lisbon");

    let history =
        ok(client, "history", json!({"subject": "alice", "predicate": "home city", "limit": 1})).await?;
    assert_eq!(history["entries"].as_array().map(Vec::len), Some(1));
    let rest = ok(
        client,
        "history",
        json!({"subject": "alice", "predicate": "home city",
        "after": history["next"], "as_of_seq": history["as_of_seq"]}),
    )
    .await?;
    assert_eq!(rest["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next"], Value::Null);

    let derived = ok(client, "remember", json!({"subject": "alice", "predicate": "country", "value": "Portugal",
        "provenance": "model", "derived_from": [second["claim_ref"]], "criticality": "low", "confidence": 0.9}))
    .await?;
    let lineage = ok(client, "lineage", json!({"claim": derived["claim_ref"]})).await?;
    assert_eq!(lineage["ancestors"][0]["claim_ref"], second["claim_ref"]);
    let subject = ok(client, "subject", json!({"subject": "alice"})).await?;
    assert_eq!(subject["predicates"].as_array().map(Vec::len), Some(2));
    let subjects = ok(client, "subjects", json!({"prefix": "al"})).await?;
    assert_eq!(subjects["subjects"], json!([{"subject": "alice", "lines": 2, "live": 2}]));
    let found = ok(client, "search", json!({"text": "PORTO city"})).await?;
    assert_eq!(found["hits"][0]["predicate"], "home city");
    let audit = ok(client, "audit", json!({"limit": 2, "newest_first": true})).await?;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(2));
    assert!(audit["next"].is_object(), "{audit}");

    let gone = ok(client, "invalidate", json!({"claim": derived["claim_ref"], "reason": "a guess"})).await?;
    assert_eq!(gone["disposition"], "Invalidated");
    let back = ok(client, "reinstate", json!({"claim": derived["claim_ref"]})).await?;
    assert_eq!(back["disposition"], "Reinstated");

    // A contradiction between outside sources, queued for a verdict.
    ok(
        client,
        "remember",
        json!({"subject": "bob", "predicate": "employer", "value": "Acme", "queue": true}),
    )
    .await?;
    let queued = call(
        client,
        "remember",
        json!({"subject": "bob", "predicate": "employer", "value": "Globex",
        "queue": true}),
    )
    .await?;
    assert!(text(&queued).contains("adjudicate"), "the text says how to adjudicate: {}", text(&queued));
    let queued = queued.structured_content.ok_or("no structured content")?;
    assert_eq!(queued["disposition"], "QueuedForAdjudication");
    let pending = ok(client, "pending", json!({})).await?;
    assert_eq!(pending["adjudications"][0]["handle"], queued["handle"]);
    let verdict = ok(client, "adjudicate", json!({"handle": queued["handle"], "verdict": "affirm"})).await?;
    assert_eq!(verdict["verdict"], "Affirm");
    assert_eq!(
        ok(client, "recall", json!({"subject": "bob", "predicate": "employer"})).await?["value"],
        "Globex"
    );

    // Bad calls: tool errors with the reason; the server goes on serving.
    for (tool, arguments, why) in [
        ("remember", json!({"subject": "alice"}), "predicate"),
        ("remember", json!({"subject": "a", "predicate": "p", "value": 1, "colour": "red"}), "colour"),
        ("remember", json!({"subject": "", "predicate": "p", "value": 1}), "subject"),
        (
            "remember",
            json!({"subject": "a", "predicate": "p", "value": 1, "valid_from": "last week"}),
            "valid_from",
        ),
        ("recall", json!({"subject": "a", "predicate": "p", "as_of": "2020", "as_of_seq": 1}), "not both"),
        ("recall", json!({"subject": "a", "predicate": "p", "valid_at": "soon"}), "valid_at"),
        ("history", json!({"subject": "a", "predicate": "p", "limit": 0}), "limit"),
        ("subject", json!({"subject": 7}), "invalid"),
        ("subjects", json!({"limit": 0}), "limit"),
        ("search", json!({"text": "?!"}), "no terms"),
        ("audit", json!({"claim": "not-a-ref"}), "claim"),
        ("lineage", json!({"claim": "00000000-0000-0000-0000-000000000000"}), "not found"),
        ("pending", json!({"extra": 1}), "extra"),
        ("adjudicate", json!({"handle": "nope", "verdict": "affirm"}), "handle"),
        (
            "resolve",
            json!({"subject": "alice", "predicate": "home city", "winner": first["claim_ref"],
            "extra": true}),
            "extra",
        ),
        ("invalidate", json!({"claim": first["claim_ref"]}), "reason"),
        ("reinstate", json!({"claim": "x"}), "claim"),
    ] {
        let said = refused(client, tool, arguments).await?;
        assert!(said.to_lowercase().contains(why), "{tool}: {said:?} should mention {why:?}");
    }
    let unknown = client.call_tool(CallToolRequestParams::new("forget")).await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error: {unknown:?}");
    assert_eq!(
        ok(client, "recall", json!({"subject": "alice", "predicate": "home city"})).await?["value"],
        "Porto"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_lists_thirteen_honest_tools_and_serves_every_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite:{}", dir.path().display());
    let client = stdio(&store, &[]).await?;
    let info = client.peer_info().ok_or("no server info")?;
    assert!(info.instructions.as_deref().is_some_and(|i| i.contains("Contested") && i.contains("as_of")));
    let tools = client.list_all_tools().await?;
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut all: Vec<&str> = READS.iter().chain(WRITES.iter()).copied().collect();
    all.sort_unstable();
    assert_eq!(names, all);
    for tool in &tools {
        let schema = Value::Object((*tool.input_schema).clone());
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
        assert!(tool.description.as_deref().is_some_and(|d| d.len() > 20), "{}", tool.name);
        let (read_only, destructive, idempotent) = annotated(tool);
        assert_eq!(read_only, READS.contains(&tool.name.as_ref()), "{}", tool.name);
        assert!(!destructive, "{} says it destroys", tool.name);
        assert_eq!(idempotent, !["remember", "resolve"].contains(&tool.name.as_ref()), "{}", tool.name);
    }
    let remember = tools.iter().find(|t| t.name == "remember").ok_or("remember")?;
    let props = &remember.input_schema["properties"];
    for option in [
        "subject",
        "predicate",
        "value",
        "provenance",
        "confidence",
        "criticality",
        "set_valued",
        "valid_from",
        "valid_until",
        "valid_confidence",
        "derived_from",
        "depends_on",
        "queue",
        "idempotency_key",
    ] {
        assert!(props.get(option).is_some(), "remember lacks {option}: {props}");
    }
    let recall = tools.iter().find(|t| t.name == "recall").ok_or("recall")?;
    for option in ["as_of", "as_of_seq", "valid_at"] {
        assert!(recall.input_schema["properties"].get(option).is_some(), "recall lacks {option}");
    }
    every_tool(&client).await?;
    client.cancel().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_persists_across_a_restart_of_the_server_on_the_same_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite:{}", dir.path().display());
    let client = stdio(&store, &[]).await?;
    ok(&client, "remember", json!({"subject": "alice", "predicate": "city", "value": "Lisbon"})).await?;
    client.cancel().await?;
    let client = stdio(&store, &[]).await?;
    assert_eq!(
        ok(&client, "recall", json!({"subject": "alice", "predicate": "city"})).await?["value"],
        "Lisbon"
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_serves_the_reading_tools_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite:{}", dir.path().display());
    let writer = stdio(&store, &[]).await?;
    ok(&writer, "remember", json!({"subject": "alice", "predicate": "city", "value": "Lisbon"})).await?;
    writer.cancel().await?;
    let client = stdio(&store, &["--read-only"]).await?;
    let mut names: Vec<String> =
        client.list_all_tools().await?.into_iter().map(|t| t.name.into_owned()).collect();
    names.sort_unstable();
    let mut reads: Vec<&str> = READS.to_vec();
    reads.sort_unstable();
    assert_eq!(names, reads);
    assert_eq!(
        ok(&client, "recall", json!({"subject": "alice", "predicate": "city"})).await?["value"],
        "Lisbon"
    );
    let write = client
        .call_tool(CallToolRequestParams::new("remember").with_arguments(args(json!({"subject": "a",
            "predicate": "p", "value": 1}))))
        .await;
    assert!(write.is_err(), "a write on a read-only server: {write:?}");
    assert_eq!(ok(&client, "subjects", json!({})).await?["subjects"].as_array().map(Vec::len), Some(1));
    client.cancel().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_serves_an_in_memory_sqlite_store() -> TestResult {
    let client = stdio("sqlite::memory:", &[]).await?;
    every_tool(&client).await?;
    client.cancel().await?;
    Ok(())
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_serves_a_postgres_store() -> TestResult {
    let Ok(base) = std::env::var("CREDENCE_TEST_POSTGRES_URL") else {
        let msg = "CREDENCE_TEST_POSTGRES_URL is unset: the MCP test on PostgreSQL did not run";
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg} (CI=true makes this a failure)");
        eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
        return Ok(());
    };
    let schema = format!("credence_cli_mcp_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let client = stdio(&format!("{base}{sep}schema={schema}"), &[]).await?;
    let result = every_tool(&client).await;
    client.cancel().await?;
    // The synchronous client runs a runtime of its own: off this one's threads.
    let dropped = std::thread::spawn(move || -> Result<(), String> {
        let mut admin =
            credence_postgres::postgres::Client::connect(&base, credence_postgres::postgres::NoTls)
                .map_err(|e| e.to_string())?;
        admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the cleanup thread panicked")?;
    result?;
    Ok(dropped?)
}

/// A server started with `--http 127.0.0.1:0 extra…`, and the URL it printed.
struct HttpServer {
    child: tokio::process::Child,
    url: String,
}

impl HttpServer {
    async fn start(store: &str, extra: &[&str]) -> Result<HttpServer, Box<dyn std::error::Error>> {
        let mut cmd = command(store, &["--http", "127.0.0.1:0"]);
        cmd.args(extra).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let line =
            tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await??.ok_or("no address")?;
        let url = line.rsplit(' ').next().ok_or("no address")?.to_owned();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"), "{line}");
        Ok(HttpServer { child, url })
    }

    async fn client(&self, token: Option<&str>) -> Result<Client, Box<dyn std::error::Error>> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        if let Some(t) = token {
            config = config.auth_header(t);
        }
        Ok(().serve(StreamableHttpClientTransport::from_config(config)).await?)
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for a clean exit.
    async fn stop(mut self) -> TestResult {
        let pid = self.child.id().ok_or("already exited")?;
        let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        assert!(status.success(), "the server did not shut down cleanly: {status}");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_serves_every_tool_and_shuts_down_gracefully() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = HttpServer::start(&format!("sqlite:{}", dir.path().display()), &[]).await?;
    let client = server.client(None).await?;
    assert_eq!(client.list_all_tools().await?.len(), 13);
    every_tool(&client).await?;
    client.cancel().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_with_a_token_refuses_requests_without_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server =
        HttpServer::start(&format!("sqlite:{}", dir.path().display()), &["--token", "s3cret"]).await?;
    assert!(server.client(None).await.is_err(), "a client without the token connected");
    assert!(server.client(Some("wrong")).await.is_err(), "a client with a wrong token connected");
    let client = server.client(Some("s3cret")).await?;
    ok(&client, "remember", json!({"subject": "alice", "predicate": "city", "value": "Lisbon"})).await?;
    client.cancel().await?;
    server.stop().await
}

#[test]
fn http_beyond_loopback_without_a_token_is_refused() {
    let out = support::credence(
        &["--store", "memory:", "mcp", "--agent", "a", "--http", "0.0.0.0:0"],
        Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
    let bad = support::credence(&["--store", "memory:", "mcp", "--agent", ""], Stdio::null());
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// A GET of `path` on the server, by hand: the status line and the body.
fn http_get(url: &str, path: &str) -> Result<(String, String), Box<dyn std::error::Error>> {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").split('/').next().ok_or("no host")?;
    let mut stream = std::net::TcpStream::connect(host)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no body")?;
    Ok((head.lines().next().unwrap_or_default().to_owned(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_with_metrics_serves_the_operations_counts_in_prometheus_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = HttpServer::start(&format!("sqlite:{}", dir.path().display()), &["--metrics"]).await?;
    let client = server.client(None).await?;
    ok(&client, "remember", json!({"subject": "alice", "predicate": "city", "value": "Lisbon"})).await?;
    ok(&client, "remember", json!({"subject": "alice", "predicate": "city", "value": "Porto"})).await?;
    ok(&client, "remember", json!({"subject": "bob", "predicate": "city", "value": "Oslo"})).await?;
    ok(&client, "remember", json!({"subject": "bob", "predicate": "city", "value": "Bergen", "queue": true}))
        .await?;
    refused(&client, "search", json!({"text": "?!"})).await?;
    let url = server.url.clone();
    let (status, body) =
        tokio::task::spawn_blocking(move || http_get(&url, "/metrics").map_err(|e| e.to_string())).await??;
    assert!(status.contains("200"), "{status}");
    let samples = prometheus_samples(&body)?;
    for (series, value) in [
        ("credence_operations_total{operation=\"ingest\",outcome=\"CommittedCheap\"}", 2.0),
        ("credence_operations_total{operation=\"ingest\",outcome=\"Contested\"}", 1.0),
        ("credence_operations_total{operation=\"ingest\",outcome=\"QueuedForAdjudication\"}", 1.0),
        ("credence_operations_total{operation=\"search\",outcome=\"InvalidQuery\"}", 1.0),
        // Read from the store when /metrics is asked.
        ("credence_open_adjudications{agent=\"agent-1\"}", 1.0),
    ] {
        assert_eq!(samples.get(series), Some(&value), "{series} in:\n{body}");
    }
    // Every write waited for its agent's lock (SQLite: BEGIN IMMEDIATE), however briefly: the
    // four ingests and the queued one's notification mark.
    let waits = samples.get("credence_lock_wait_seconds_count{backend=\"sqlite\"}");
    assert_eq!(waits, Some(&5.0), "{body}");
    assert!(samples.keys().any(|k| k.starts_with("credence_operation_seconds")), "{body}");
    client.cancel().await?;
    server.stop().await
}

/// The samples of a Prometheus text exposition, series (name and labels) to value; an error
/// for a line that is neither a comment nor `series value`.
fn prometheus_samples(text: &str) -> Result<std::collections::HashMap<String, f64>, String> {
    let mut samples = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| format!("no value in {line:?}"))?;
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            return Err(format!("bad metric name in {line:?}"));
        }
        if name_end < series.len() && !series.ends_with('}') {
            return Err(format!("unclosed labels in {line:?}"));
        }
        let value: f64 = value.parse().map_err(|e| format!("bad value in {line:?}: {e}"))?;
        samples.insert(series.to_owned(), value);
    }
    Ok(samples)
}

#[test]
fn metrics_without_http_is_refused() {
    let out = support::credence(&["--store", "memory:", "mcp", "--agent", "a", "--metrics"], Stdio::null());
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
