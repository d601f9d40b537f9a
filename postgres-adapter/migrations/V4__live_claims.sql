-- credence PostgreSQL schema, version 4: the live claims of each line, a derived index.
--
-- Deciding a write and answering recall "now" need only the claims of a line that are live at
-- the head (SPEC §3.2 step 2), not its whole history: `live_claims` holds exactly those, with
-- the disposition of each one's latest state entry and whether a dependent review flag was
-- raised on it. Every write transaction updates the rows of the claims its units touch, in
-- the same round trip as the units' rows (`credence_live`, see the adapter's `sql.rs`); this
-- migration builds it from the rows already stored: a claim is live when its latest state
-- entry (by seq, index) has a live disposition and its latest assertion (by seq,
-- assertion_ref) is not Bound.
CREATE TABLE live_claims (
    agent_id    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    predicate   TEXT    NOT NULL,
    claim_ref   UUID    NOT NULL,
    disposition TEXT    NOT NULL,
    flagged     BOOLEAN NOT NULL,
    PRIMARY KEY (agent_id, subject, predicate, claim_ref)
);

INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged)
SELECT agent_id, subject, predicate, claim_ref, disposition, flagged FROM (
    SELECT c.agent_id, c.subject, c.predicate, c.claim_ref,
        (SELECT e.disposition FROM entries e
            WHERE e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref
            AND e.event IN ('ClaimCommitted', 'ValidityAsserted', 'AdjudicationResolved',
                'AdjudicationExpired', 'Resolved', 'Invalidated', 'Reinstated')
            ORDER BY e.stream_seq DESC, e.idx DESC LIMIT 1) AS disposition,
        (SELECT a.kind FROM assertions a WHERE a.agent_id = c.agent_id AND a.target = c.claim_ref
            ORDER BY a.stream_seq DESC, a.assertion_ref DESC, a.ord DESC LIMIT 1) AS last_kind,
        EXISTS (SELECT 1 FROM entries e WHERE e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref
            AND e.event = 'DependentFlaggedPendingReview') AS flagged
    FROM claims c) AS states
WHERE disposition IN ('CommittedCheap', 'CommittedInferred', 'QueuedForAdjudication', 'Contested',
    'PendingReview', 'Reinstated')
    AND last_kind IS DISTINCT FROM 'Bound';
