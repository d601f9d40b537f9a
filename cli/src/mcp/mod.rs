//! `credence mcp`: one agent's memory as a Model Context Protocol server (SPEC §9), over stdio
//! (the default: stdout carries only the protocol) or streamable HTTP, on the official Rust SDK
//! (`rmcp`). The agent is fixed by the server's configuration, never by a tool argument.

mod http;
mod server;
mod tools;

use std::net::SocketAddr;
use std::time::Duration;

pub use server::CredenceServer;

use crate::AgentId;
use crate::ops::Stores;

/// How to serve.
#[derive(Clone, Debug)]
pub struct McpOptions {
    /// The agent every tool reads and writes.
    pub agent: AgentId,
    /// List and serve only the tools that read.
    pub read_only: bool,
    /// Serve streamable HTTP on this address instead of stdio.
    pub http: Option<SocketAddr>,
    /// The bearer token HTTP requests must carry (required to bind beyond loopback).
    pub token: Option<String>,
    /// How long a queued contradiction waits for a verdict (the engine's default when `None`).
    pub adjudication_ttl: Option<Duration>,
    /// With `http`: also serve the operations' metrics at `/metrics` (Prometheus text).
    pub metrics: bool,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The options do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// The transport failed.
    #[error("mcp transport: {0}")]
    Transport(String),
}

/// Opens `url` and serves its agent `options.agent` until the client goes away (stdio) or a
/// shutdown signal (HTTP).
///
/// # Errors
/// [`McpError::Usage`] for a non-loopback HTTP address without a token; [`McpError::Store`]
/// when the store cannot be opened; [`McpError::Transport`] when serving fails.
pub fn serve(url: &str, options: McpOptions) -> Result<(), McpError> {
    if options.metrics && options.http.is_none() {
        return Err(McpError::Usage("--metrics needs --http (the metrics are served at /metrics)".into()));
    }
    if let Some(addr) = options.http
        && !addr.ip().is_loopback()
        && options.token.is_none()
    {
        return Err(McpError::Usage(format!(
            "--http {addr} is not a loopback address: give --token (or CREDENCE_MCP_TOKEN) to bind it"
        )));
    }
    let config =
        crate::EngineConfig { adjudication_ttl: options.adjudication_ttl, ..crate::EngineConfig::default() };
    let stores = Stores::open(url, config, None)?;
    let server = CredenceServer::new(stores, &options.agent, options.read_only);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| McpError::Transport(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        match options.http {
            Some(addr) => {
                let metrics = if options.metrics {
                    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
                    Some(
                        recorder.map_err(|e| {
                            McpError::Transport(format!("installing the metrics recorder: {e}"))
                        })?,
                    )
                } else {
                    None
                };
                http::serve(server, addr, options.token, metrics)
                    .await
                    .map_err(|e| McpError::Transport(e.to_string()))
            }
            None => {
                use rmcp::ServiceExt;
                let running = server
                    .serve(rmcp::transport::stdio())
                    .await
                    .map_err(|e| McpError::Transport(e.to_string()))?;
                running.waiting().await.map(|_| ()).map_err(|e| McpError::Transport(e.to_string()))
            }
        }
    })
}
