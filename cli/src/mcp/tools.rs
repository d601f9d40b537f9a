//! The thirteen tools (SPEC §9): one per operation of [`crate::ops`], its input schema derived
//! from the operation's arguments, honest annotations, and each call's answer as a tool result
//! — the operation's JSON document as structured content with its paragraph as text. A call
//! that cannot be carried out (bad arguments, an unknown claim, a store that is down) or a
//! rejected write is a tool error saying why; nothing here panics or stops the server.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

use crate::Disposition;
use crate::ops::{self, Operation, Stores, args};

fn description(op: Operation) -> &'static str {
    match op {
        Operation::Remember => {
            "Record a claim: a value of a subject's predicate, with where it comes from. Nothing is \
             overwritten; a claim that contradicts what is believed makes the line Contested (or, with \
             queue, waits for a verdict) instead of replacing it."
        }
        Operation::Recall => {
            "What to believe about one subject's predicate: the value, or every candidate when the line \
             is Contested, with provenance and currency. Can read the past: as_of (when the memory \
             learned it) and valid_at (when it was true in the world)."
        }
        Operation::History => {
            "Every claim ever recorded on one line, in order, with what became of each (current, \
             superseded, invalidated, quarantined, pending), a page at a time."
        }
        Operation::Subject => "The belief of every predicate known about one subject.",
        Operation::Subjects => {
            "The subjects the memory holds, alphabetically (bytewise), with how many predicates and \
             believed claims each has; use it to explore when the exact subject is not known."
        }
        Operation::Search => {
            "Find lines by words of their subject, predicate or current values, newest first, each with \
             its belief."
        }
        Operation::Audit => "The audit trail: every decision the memory recorded, with its reason.",
        Operation::Lineage => "The claims a claim was derived from, and theirs, nearest first.",
        Operation::Pending => {
            "Contradictions waiting for a verdict (from remember with queue), oldest first."
        }
        Operation::Adjudicate => {
            "Give the verdict on a queued contradiction: affirm (the newer claim is right), deny, or \
             unknown (the line stays Contested)."
        }
        Operation::Resolve => {
            "Settle a Contested line: the named claim is believed and the line's other current claims \
             are superseded (they stay in history)."
        }
        Operation::Invalidate => {
            "Stop believing a claim that turned out wrong; it stays in history and can be reinstated."
        }
        Operation::Reinstate => "Believe a superseded or invalidated claim again.",
    }
}

/// True when calling again with the same arguments changes nothing more: reads; an
/// invalidation, reinstatement or verdict repeated is refused.
fn idempotent(op: Operation) -> bool {
    !matches!(op, Operation::Remember | Operation::Resolve)
}

fn input_schema(op: Operation) -> Arc<JsonObject> {
    let derived = match op {
        Operation::Remember => schema_for_type::<args::Remember>(),
        Operation::Recall => schema_for_type::<args::Recall>(),
        Operation::History => schema_for_type::<args::History>(),
        Operation::Subject => schema_for_type::<args::Subject>(),
        Operation::Subjects => schema_for_type::<args::Subjects>(),
        Operation::Search => schema_for_type::<args::Search>(),
        Operation::Audit => schema_for_type::<args::Audit>(),
        Operation::Lineage => schema_for_type::<args::Lineage>(),
        Operation::Pending => schema_for_type::<args::Nothing>(),
        Operation::Adjudicate => schema_for_type::<args::Adjudicate>(),
        Operation::Resolve => schema_for_type::<args::Resolve>(),
        Operation::Invalidate => schema_for_type::<args::Invalidate>(),
        Operation::Reinstate => schema_for_type::<args::Reinstate>(),
    };
    Arc::new(portable((*derived).clone()))
}

fn spec(op: Operation) -> Tool {
    // Nothing is ever deleted, and the memory is a closed world of its own records.
    let annotations = ToolAnnotations::new()
        .read_only(op.reads())
        .destructive(false)
        .idempotent(idempotent(op))
        .open_world(false);
    Tool::new(op.name(), description(op), input_schema(op)).with_annotations(annotations)
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
    Operation::ALL.iter().filter(|op| !read_only || op.reads()).map(|op| spec(*op)).collect()
}

/// The tool a call names, if the server serves it.
pub(crate) fn find(name: &str, read_only: bool) -> Option<Operation> {
    Operation::named(name).filter(|op| !read_only || op.reads())
}

/// Carries out one call for `agent`.
pub(crate) fn call(
    stores: &Stores,
    agent: &str,
    op: Operation,
    arguments: Option<JsonObject>,
) -> CallToolResult {
    match ops::run(stores, agent, op, Value::Object(arguments.unwrap_or_default())) {
        Ok(answer) => {
            let rejected = answer.document.get("disposition").and_then(Value::as_str)
                == Some(Disposition::Rejected.as_str());
            let text = vec![ContentBlock::text(answer.summary)];
            let mut result =
                if rejected { CallToolResult::error(text) } else { CallToolResult::success(text) };
            result.structured_content = Some(answer.document);
            result
        }
        Err(why) => CallToolResult::error(vec![ContentBlock::text(why.to_string())]),
    }
}
