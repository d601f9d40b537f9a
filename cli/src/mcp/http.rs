//! Streamable HTTP: the server at `/mcp`, loopback unless a bearer token guards it, stopped
//! gracefully by SIGINT or SIGTERM.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::server::CredenceServer;

/// Serves `server` on `addr` until a shutdown signal; prints the address it listens on (the
/// port chosen when `addr` names port 0) to stderr.
pub(super) async fn serve(
    server: CredenceServer,
    addr: SocketAddr,
    token: Option<String>,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<()> {
    let mut config = StreamableHttpServerConfig::default();
    if !addr.ip().is_loopback() {
        // Reached by other hosts' names: the token, not the Host header, is the guard.
        config = config.disable_allowed_hosts();
    }
    let stop = config.cancellation_token.clone();
    let gauges = server.clone();
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), LocalSessionManager::default().into(), config);
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(handle) = metrics {
        router = router.route(
            "/metrics",
            axum::routing::get(move || {
                let (handle, gauges) = (handle.clone(), gauges.clone());
                async move {
                    gauges.refresh_gauges().await;
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
                }
            }),
        );
    }
    if let Some(token) = token {
        router = router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let token = token.clone();
            async move { authorize(&token, request, next).await }
        }));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("credence mcp: listening on http://{}/mcp", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await
}

/// Lets a request through only with `Authorization: Bearer <token>`.
async fn authorize(token: &str, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_secret(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required\n",
        )
            .into_response()
    }
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    std::hint::black_box(diff) == 0
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3crets", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
