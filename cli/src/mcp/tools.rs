//! The thirteen tools (SPEC §9): their specifications, and each call turned into an engine
//! operation on the server's agent whose answer is the operation's JSON document
//! ([`crate::documents`]) as structured content, with a paragraph a model reads
//! ([`super::summary`]). A call that cannot be carried out — bad arguments, an unknown claim, a
//! store that is down, a rejected write — is a tool error saying why; nothing here panics or
//! stops the server.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{args, summary};
use crate::{
    AsOf, AuditCursor, AuditQuery, ClaimEngine, ClaimRef, Credence, Disposition, Handle, HistoryCursor,
    HistoryQuery, RecallQuery, SearchQuery, SubjectsQuery, Timestamp, WriteOptions, documents, parse_date,
};

/// The engines a server answers with, over one store, and the agent it serves.
pub(crate) struct Memory {
    /// Contradictions between outside sources are Contested.
    pub plain: Credence,
    /// The same store with the command line's queue oracle (`remember` with `queue`).
    pub queued: Credence,
    /// The agent every call reads and writes.
    pub agent: String,
}

/// One tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToolName {
    Remember,
    Recall,
    History,
    Subject,
    Subjects,
    Search,
    Audit,
    Lineage,
    Pending,
    Adjudicate,
    Resolve,
    Invalidate,
    Reinstate,
}

/// Every tool, in the order they are listed.
const ALL: [ToolName; 13] = [
    ToolName::Remember,
    ToolName::Recall,
    ToolName::History,
    ToolName::Subject,
    ToolName::Subjects,
    ToolName::Search,
    ToolName::Audit,
    ToolName::Lineage,
    ToolName::Pending,
    ToolName::Adjudicate,
    ToolName::Resolve,
    ToolName::Invalidate,
    ToolName::Reinstate,
];

impl ToolName {
    fn name(self) -> &'static str {
        match self {
            ToolName::Remember => "remember",
            ToolName::Recall => "recall",
            ToolName::History => "history",
            ToolName::Subject => "subject",
            ToolName::Subjects => "subjects",
            ToolName::Search => "search",
            ToolName::Audit => "audit",
            ToolName::Lineage => "lineage",
            ToolName::Pending => "pending",
            ToolName::Adjudicate => "adjudicate",
            ToolName::Resolve => "resolve",
            ToolName::Invalidate => "invalidate",
            ToolName::Reinstate => "reinstate",
        }
    }

    fn description(self) -> &'static str {
        match self {
            ToolName::Remember => {
                "Record a claim: a value of a subject's predicate, with where it comes from. Nothing is \
                 overwritten; a claim that contradicts what is believed makes the line Contested (or, with \
                 queue, waits for a verdict) instead of replacing it."
            }
            ToolName::Recall => {
                "What to believe about one subject's predicate: the value, or every candidate when the line \
                 is Contested, with provenance and currency. Can read the past: as_of (when the memory \
                 learned it) and valid_at (when it was true in the world)."
            }
            ToolName::History => {
                "Every claim ever recorded on one line, in order, with what became of each (current, \
                 superseded, invalidated, quarantined, pending), a page at a time."
            }
            ToolName::Subject => "The belief of every predicate known about one subject.",
            ToolName::Subjects => {
                "The subjects the memory holds, alphabetically (bytewise), with how many predicates and \
                 believed claims each has; use it to explore when the exact subject is not known."
            }
            ToolName::Search => {
                "Find lines by words of their subject, predicate or current values, newest first, each with \
                 its belief."
            }
            ToolName::Audit => "The audit trail: every decision the memory recorded, with its reason.",
            ToolName::Lineage => "The claims a claim was derived from, and theirs, nearest first.",
            ToolName::Pending => {
                "Contradictions waiting for a verdict (from remember with queue), oldest first."
            }
            ToolName::Adjudicate => {
                "Give the verdict on a queued contradiction: affirm (the newer claim is right), deny, or \
                 unknown (the line stays Contested)."
            }
            ToolName::Resolve => {
                "Settle a Contested line: the named claim is believed and the line's other current claims \
                 are superseded (they stay in history)."
            }
            ToolName::Invalidate => {
                "Stop believing a claim that turned out wrong; it stays in history and can be reinstated."
            }
            ToolName::Reinstate => "Believe a superseded or invalidated claim again.",
        }
    }

    /// True for the tools that only read.
    fn reads(self) -> bool {
        !matches!(
            self,
            ToolName::Remember
                | ToolName::Adjudicate
                | ToolName::Resolve
                | ToolName::Invalidate
                | ToolName::Reinstate
        )
    }

    /// True when calling again with the same arguments changes nothing more: reads; an
    /// invalidation, reinstatement or verdict repeated is refused.
    fn idempotent(self) -> bool {
        !matches!(self, ToolName::Remember | ToolName::Resolve)
    }

    fn input_schema(self) -> Arc<JsonObject> {
        let derived = match self {
            ToolName::Remember => schema_for_type::<args::Remember>(),
            ToolName::Recall => schema_for_type::<args::Recall>(),
            ToolName::History => schema_for_type::<args::History>(),
            ToolName::Subject => schema_for_type::<args::Subject>(),
            ToolName::Subjects => schema_for_type::<args::Subjects>(),
            ToolName::Search => schema_for_type::<args::Search>(),
            ToolName::Audit => schema_for_type::<args::Audit>(),
            ToolName::Lineage => schema_for_type::<args::Lineage>(),
            ToolName::Pending => schema_for_type::<args::Nothing>(),
            ToolName::Adjudicate => schema_for_type::<args::Adjudicate>(),
            ToolName::Resolve => schema_for_type::<args::Resolve>(),
            ToolName::Invalidate => schema_for_type::<args::Invalidate>(),
            ToolName::Reinstate => schema_for_type::<args::Reinstate>(),
        };
        Arc::new(portable((*derived).clone()))
    }

    fn spec(self) -> Tool {
        // Nothing is ever deleted, and the memory is a closed world of its own records.
        let annotations = ToolAnnotations::new()
            .read_only(self.reads())
            .destructive(false)
            .idempotent(self.idempotent())
            .open_world(false);
        Tool::new(self.name(), self.description(), self.input_schema()).with_annotations(annotations)
    }
}

/// An input schema whose optional properties each have one type: an optional property is
/// written `{"type": "string"}` (or `{"$ref": …}`) instead of also allowing `null`, which
/// clients that map schemas onto a single-type dialect refuse. Leaving a property out means
/// the same as its default; an explicit `null` is still accepted.
fn portable(mut schema: JsonObject) -> JsonObject {
    let optional = |name: &String, required: &[Value]| !required.iter().any(|r| r.as_str() == Some(name));
    let required = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            let Value::Object(p) = property else { continue };
            if !optional(name, &required) {
                continue;
            }
            if let Some(Value::Array(types)) = p.get("type") {
                let single: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
                if let [one] = single[..] {
                    let one = one.clone();
                    p.insert("type".into(), one);
                }
            }
            if let Some(Value::Array(branches)) = p.get("anyOf") {
                let single: Vec<&Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if let [one] = single[..]
                    && let Value::Object(branch) = one.clone()
                {
                    p.remove("anyOf");
                    p.extend(branch);
                }
            }
        }
    }
    schema
}

/// The tools a server lists: all, or the reading ones.
pub(crate) fn list(read_only: bool) -> Vec<Tool> {
    ALL.iter().filter(|t| !read_only || t.reads()).map(|t| t.spec()).collect()
}

/// The tool a call names, if the server serves it.
pub(crate) fn find(name: &str, read_only: bool) -> Option<ToolName> {
    ALL.into_iter().find(|t| t.name() == name && (!read_only || t.reads()))
}

/// What a call answered: its document and paragraph, or why it failed.
type Answer = Result<(Value, String), String>;

/// Carries out one call.
pub(crate) fn call(memory: &Memory, tool: ToolName, arguments: Option<JsonObject>) -> CallToolResult {
    let arguments = Value::Object(arguments.unwrap_or_default());
    let answer = match tool {
        ToolName::Remember => parse(tool, arguments).and_then(|a| remember(memory, a)),
        ToolName::Recall => parse(tool, arguments).and_then(|a| recall(memory, a)),
        ToolName::History => parse(tool, arguments).and_then(|a| history(memory, a)),
        ToolName::Subject => parse(tool, arguments).and_then(|a| subject(memory, a)),
        ToolName::Subjects => parse(tool, arguments).and_then(|a| subjects(memory, a)),
        ToolName::Search => parse(tool, arguments).and_then(|a| search(memory, a)),
        ToolName::Audit => parse(tool, arguments).and_then(|a| audit(memory, a)),
        ToolName::Lineage => parse(tool, arguments).and_then(|a| lineage(memory, a)),
        ToolName::Pending => parse::<args::Nothing>(tool, arguments).and_then(|_| pending(memory)),
        ToolName::Adjudicate => parse(tool, arguments).and_then(|a| adjudicate(memory, a)),
        ToolName::Resolve => parse(tool, arguments).and_then(|a| resolve(memory, a)),
        ToolName::Invalidate => parse(tool, arguments).and_then(|a| invalidate(memory, a)),
        ToolName::Reinstate => parse(tool, arguments).and_then(|a| reinstate(memory, a)),
    };
    match answer {
        Ok((doc, text)) => {
            let failed =
                doc.get("disposition").and_then(Value::as_str) == Some(Disposition::Rejected.as_str());
            let mut result = if failed {
                CallToolResult::error(vec![ContentBlock::text(text)])
            } else {
                CallToolResult::success(vec![ContentBlock::text(text)])
            };
            result.structured_content = Some(doc);
            result
        }
        Err(why) => CallToolResult::error(vec![ContentBlock::text(why)]),
    }
}

fn parse<T: DeserializeOwned + JsonSchema>(tool: ToolName, arguments: Value) -> Result<T, String> {
    serde_json::from_value(arguments).map_err(|e| format!("invalid arguments for {}: {e}", tool.name()))
}

fn failed(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn claim_ref(what: &str, s: &str) -> Result<ClaimRef, String> {
    s.trim().parse().map_err(|e| format!("{what} {s:?} is not a claim ref: {e}"))
}

fn date(what: &str, s: &str) -> Result<Timestamp, String> {
    parse_date(s).map(|d| d.0).map_err(|e| format!("{what}: {e}"))
}

fn as_of(time: Option<&str>, seq: Option<u64>) -> Result<AsOf, String> {
    match (time, seq) {
        (Some(_), Some(_)) => Err("give as_of or as_of_seq, not both".into()),
        (Some(t), None) => Ok(AsOf::Time(date("as_of", t)?)),
        (None, Some(n)) => Ok(AsOf::Seq(n)),
        (None, None) => Ok(AsOf::Now),
    }
}

fn limit(given: Option<usize>, default: usize) -> Result<usize, String> {
    match given.unwrap_or(default) {
        0 => Err("limit must be at least 1".into()),
        n => Ok(n),
    }
}

fn remember(memory: &Memory, a: args::Remember) -> Answer {
    if a.valid_confidence.is_some() && a.valid_from.is_none() && a.valid_until.is_none() {
        return Err("valid_confidence needs valid_from or valid_until".into());
    }
    let store = if a.queue { &memory.queued } else { &memory.plain };
    let mut builder = store.remember(&memory.agent, &a.subject, &a.predicate, a.value);
    if let Some(p) = a.provenance {
        builder = builder.provenance(p.into());
    }
    if let Some(c) = a.confidence {
        builder = builder.confidence(c);
    }
    if let Some(c) = a.criticality {
        builder = builder.criticality(c.into());
    }
    if a.set_valued {
        builder = builder.set_valued();
    }
    if let Some(d) = &a.valid_from {
        builder = builder.valid_from(d).map_err(|e| format!("valid_from: {e}"))?;
    }
    if let Some(d) = &a.valid_until {
        builder = builder.valid_until(d).map_err(|e| format!("valid_until: {e}"))?;
    }
    if let Some(c) = a.valid_confidence {
        builder = builder.valid_confidence(c);
    }
    for p in &a.derived_from {
        builder = builder.derived_from(claim_ref("derived_from", p)?);
    }
    for p in &a.depends_on {
        builder = builder.depends_on(claim_ref("depends_on", p)?);
    }
    if let Some(key) = a.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    let receipt = builder.commit().map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn recall(memory: &Memory, a: args::Recall) -> Answer {
    let query = RecallQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        valid_at: a.valid_at.as_deref().map(|t| date("valid_at", t)).transpose()?,
        ..RecallQuery::new(&memory.agent, &a.subject, &a.predicate)
    };
    let belief = memory.plain.engine().recall(&query).map_err(failed)?;
    let label = format!("{} · {}", a.subject, a.predicate);
    Ok((documents::belief(&belief), summary::belief(&label, &belief)))
}

fn history(memory: &Memory, a: args::History) -> Answer {
    let after = match a.after {
        Some(c) => Some(HistoryCursor {
            key: Timestamp(c.key),
            tx_time: Timestamp(c.tx_time),
            seq: c.seq,
            claim_ref: claim_ref("after.claim_ref", &c.claim_ref)?,
        }),
        None => None,
    };
    let query = HistoryQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        after,
        ..HistoryQuery::new(&memory.agent, &a.subject, &a.predicate, limit(a.limit, 100)?)
    };
    let page = memory.plain.engine().history_page(&query).map_err(failed)?;
    let line = (a.subject.as_str(), a.predicate.as_str());
    Ok((documents::history_page(&memory.agent, line, &page), summary::history(line, &page)))
}

fn subject(memory: &Memory, a: args::Subject) -> Answer {
    let at = as_of(a.as_of.as_deref(), a.as_of_seq)?;
    let valid_at = a.valid_at.as_deref().map(|t| date("valid_at", t)).transpose()?;
    let beliefs = memory.plain.engine().subject(&memory.agent, &a.subject, at, valid_at).map_err(failed)?;
    Ok((documents::subject(&memory.agent, &a.subject, &beliefs), summary::subject(&a.subject, &beliefs)))
}

fn subjects(memory: &Memory, a: args::Subjects) -> Answer {
    let query = SubjectsQuery {
        prefix: a.prefix,
        after: a.after,
        ..SubjectsQuery::new(&memory.agent, limit(a.limit, 100)?)
    };
    let page = memory.plain.engine().subjects(&query).map_err(failed)?;
    Ok((documents::subjects(&memory.agent, &page.subjects, page.next.as_deref()), summary::subjects(&page)))
}

fn search(memory: &Memory, a: args::Search) -> Answer {
    let query = SearchQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        ..SearchQuery::new(&memory.agent, &a.text, limit(a.limit, 20)?)
    };
    let results = memory.plain.engine().search(&query).map_err(failed)?;
    Ok((documents::search(&memory.agent, &a.text, &results), summary::search(&a.text, &results)))
}

fn audit(memory: &Memory, a: args::Audit) -> Answer {
    let query = AuditQuery {
        claim_ref: a.claim.as_deref().map(|c| claim_ref("claim", c)).transpose()?,
        after: a.after.map(|c| AuditCursor { seq: c.seq, index: c.index }),
        limit: limit(a.limit, 100)?,
        newest_first: a.newest_first,
    };
    let page = memory.plain.engine().audit(&memory.agent, &query).map_err(failed)?;
    Ok((documents::audit(&memory.agent, &page.entries, page.next), summary::audit(&page)))
}

fn lineage(memory: &Memory, a: args::Lineage) -> Answer {
    let claim = claim_ref("claim", &a.claim)?;
    let steps = memory.plain.engine().lineage(&memory.agent, claim).map_err(failed)?;
    Ok((documents::lineage(claim, &steps), summary::lineage(claim, &steps)))
}

fn pending(memory: &Memory) -> Answer {
    let open = memory.plain.engine().pending(Some(&memory.agent)).map_err(failed)?;
    Ok((documents::pending(&open, &[]), summary::pending(&open)))
}

fn adjudicate(memory: &Memory, a: args::Adjudicate) -> Answer {
    let handle: Handle = a
        .handle
        .trim()
        .parse()
        .map_err(|e| format!("handle {:?} is not an adjudication handle: {e}", a.handle))?;
    let evidence = a.evidence.unwrap_or(args::ProvenanceArg::User).into();
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let outcome = memory
        .queued
        .engine()
        .submit_adjudication_with(&memory.agent, handle, a.verdict.into(), evidence, &options)
        .map_err(failed)?;
    Ok((documents::adjudication_outcome(&outcome), summary::adjudication(&outcome)))
}

fn resolve(memory: &Memory, a: args::Resolve) -> Answer {
    let winner = claim_ref("winner", &a.winner)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt = memory
        .plain
        .engine()
        .resolve_with(&memory.agent, &a.subject, &a.predicate, winner, &options)
        .map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn invalidate(memory: &Memory, a: args::Invalidate) -> Answer {
    let claim = claim_ref("claim", &a.claim)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt =
        memory.plain.engine().invalidate_with(&memory.agent, claim, &a.reason, &options).map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn reinstate(memory: &Memory, a: args::Reinstate) -> Answer {
    let claim = claim_ref("claim", &a.claim)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt = memory.plain.engine().reinstate_with(&memory.agent, claim, &options).map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}
