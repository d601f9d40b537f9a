//! Building one commit unit: seq and tx_time allocation, row stamping.

use serde_json::{Value, json};

use crate::api::WriteReceipt;
use crate::error::Result;
use crate::ids::{AssertionRef, ClaimRef, Handle, IdSource};
use crate::ledger::{Append, LedgerRead};
use crate::record::{Assertion, AssertionKind, Disposition, Edge, EdgeKind, Event, LedgerEntry};
use crate::time::{Clock, Timestamp};

/// Accumulates the rows of one commit unit, all stamped with its `seq` and `tx_time`.
pub(super) struct UnitBuilder<'a> {
    append: Append,
    ids: &'a dyn IdSource,
}

impl<'a> UnitBuilder<'a> {
    /// Starts the unit after the agent's head: `seq = head + 1`,
    /// `tx_time = max(now, head tx_time + 1 µs)` (SPEC §1.5).
    pub(super) fn begin(view: &dyn LedgerRead, clock: &dyn Clock, ids: &'a dyn IdSource) -> Result<Self> {
        let now = clock.now();
        let (seq, tx_time) = match view.head()? {
            Some(head) => (head.seq + 1, now.max(head.tx_time.plus_micros(1))),
            None => (1, now),
        };
        Ok(UnitBuilder { append: Append::new(seq, tx_time), ids })
    }

    pub(super) fn seq(&self) -> u64 {
        self.append.seq
    }

    pub(super) fn tx_time(&self) -> Timestamp {
        self.append.tx_time
    }

    pub(super) fn new_claim_ref(&self) -> ClaimRef {
        ClaimRef(self.ids.next_id(self.append.tx_time))
    }

    pub(super) fn new_id(&self) -> uuid::Uuid {
        self.ids.next_id(self.append.tx_time)
    }

    pub(super) fn append_mut(&mut self) -> &mut Append {
        &mut self.append
    }

    /// Appends a ledger entry; `rationale` is the code, `details` extra JSON fields.
    pub(super) fn entry(
        &mut self,
        claim_ref: ClaimRef,
        event: Event,
        disposition: Disposition,
        rationale: &str,
        details: Value,
    ) {
        let mut body = json!({ "rationale": rationale });
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), details) {
            map.extend(extra);
        }
        let index = u32::try_from(self.append.entries.len()).unwrap_or(u32::MAX);
        self.append.entries.push(LedgerEntry {
            seq: self.append.seq,
            index,
            claim_ref,
            event,
            disposition,
            rationale: body,
            recorded_at: self.append.tx_time,
        });
    }

    /// Appends a Bound or Reopen assertion plus its ValidityAsserted entry carrying the
    /// resulting `disposition`.
    pub(super) fn assert(
        &mut self,
        target: ClaimRef,
        kind: AssertionKind,
        disposition: Disposition,
        rationale: &str,
    ) {
        let assertion_ref = AssertionRef(self.new_id());
        self.append.assertions.push(Assertion {
            assertion_ref,
            target,
            kind,
            at: self.append.tx_time,
            seq: self.append.seq,
        });
        self.entry(
            target,
            Event::ValidityAsserted,
            disposition,
            rationale,
            json!({ "assertion_ref": assertion_ref, "kind": kind }),
        );
    }

    pub(super) fn edge(&mut self, from: ClaimRef, to: ClaimRef, kind: EdgeKind) {
        self.append.edges.push(Edge { from, to, kind, seq: self.append.seq });
    }

    /// The receipt for a write that committed in this unit.
    pub(super) fn receipt(
        &self,
        claim_ref: ClaimRef,
        disposition: Disposition,
        rationale: &str,
        contested_with: Vec<ClaimRef>,
        handle: Option<Handle>,
    ) -> WriteReceipt {
        WriteReceipt {
            claim_ref: Some(claim_ref),
            disposition,
            reason: None,
            contested_with,
            seq: Some(self.append.seq),
            tx_time: Some(self.append.tx_time),
            handle,
            rationale: Some(rationale.to_owned()),
        }
    }

    pub(super) fn finish(self) -> Append {
        self.append
    }
}
