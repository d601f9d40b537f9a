//! The MCP server handler: lists the tools and carries out calls on tokio's blocking threads
//! (the engine's storage calls block).

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::tools;
use crate::ops::Stores;

/// What a model is told about the server when it connects.
const INSTRUCTIONS: &str = "credence is a memory you can trust. Record what you learn with remember: a \
subject (who or what), a predicate (which property), a value, and where it comes from (provenance: user, \
first-hand, recall, model). Nothing is ever overwritten or deleted: a new value that contradicts what is \
believed does not replace it — the line becomes Contested and recall lists every candidate until someone \
settles it with resolve, invalidate or (for queued contradictions) adjudicate. Never pick a Contested value \
silently. Every answer can be asked about the past on two axes: as_of (what the memory knew then, by time or \
by a commit's seq) and valid_at (what was true in the world at a moment; claims may carry valid_from and \
valid_until). Use subjects and search to find what is known when you do not know the exact subject or \
predicate; history and audit show every claim and decision.";

/// The server of one agent's memory. Cheap to clone (the HTTP transport makes one per session).
#[derive(Clone)]
pub struct CredenceServer {
    stores: Arc<Stores>,
    agent: Arc<str>,
    read_only: bool,
}

impl CredenceServer {
    /// Serves `agent` of `stores`, only the reading tools when `read_only`.
    pub fn new(stores: Stores, agent: &crate::AgentId, read_only: bool) -> CredenceServer {
        CredenceServer { stores: Arc::new(stores), agent: agent.as_str().into(), read_only }
    }

    /// Reads the agent's open adjudications, which sets the gauge `credence_open_adjudications`
    /// (see `credence_core::telemetry`): `/metrics` calls it before it answers. A failed read
    /// leaves the gauge as it was.
    pub(super) async fn refresh_gauges(&self) {
        let (stores, agent) = (self.stores.clone(), self.agent.clone());
        let _ = tokio::task::spawn_blocking(move || {
            crate::ClaimEngine::pending(stores.plain.engine(), Some(&agent))
        })
        .await;
    }
}

impl ServerHandler for CredenceServer {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("credence", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult { tools: tools::list(self.read_only), ..ListToolsResult::default() })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = tools::find(&request.name, self.read_only) else {
            let why = if self.read_only && tools::find(&request.name, false).is_some() {
                format!("tool {:?} writes, and this server is read-only", request.name)
            } else {
                format!("unknown tool {:?}", request.name)
            };
            return Err(ErrorData::invalid_params(why, None));
        };
        let (stores, agent) = (self.stores.clone(), self.agent.clone());
        let arguments = request.arguments;
        let result = tokio::task::spawn_blocking(move || tools::call(&stores, &agent, tool, arguments)).await;
        Ok(result
            .unwrap_or_else(|e| {
                CallToolResult::error(vec![ContentBlock::text(format!("the call failed: {e}"))])
            })
            .into())
    }
}
