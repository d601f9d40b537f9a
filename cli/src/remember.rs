//! The ergonomic write builder ([`Remember`]) and read answer ([`Recollection`]).

use std::ops::Deref;

use credence_core::{
    Belief, BeliefStatus, Candidate, ClaimEngine, ClaimRef, Criticality, Granularity, IngestRequest,
    Provenance, Result, Timestamp, ValidTime, WriteReceipt,
};
use serde_json::Value;

use crate::Credence;
use crate::dates::{DateError, format_date, parse_date};

/// A claim being built by [`Credence::remember`]; [`commit`](Remember::commit) records it.
///
/// Defaults: first-hand provenance, confidence 1.0, Medium criticality, Functional, no valid
/// time (window confidence 1.0 once a bound is given), no parents.
#[must_use = "nothing is recorded until `commit` is called"]
pub struct Remember<'c> {
    credence: &'c Credence,
    request: IngestRequest,
    start: Option<(Timestamp, Granularity)>,
    end: Option<(Timestamp, Granularity)>,
    window_confidence: f32,
}

impl<'c> Remember<'c> {
    pub(crate) fn new(credence: &'c Credence, request: IngestRequest) -> Remember<'c> {
        Remember { credence, request, start: None, end: None, window_confidence: 1.0 }
    }

    /// Where the claim came from.
    pub fn provenance(mut self, provenance: Provenance) -> Self {
        self.request.provenance = provenance;
        self
    }

    /// Value confidence in [0, 1] (checked by the engine: out of range is `Rejected`).
    pub fn confidence(mut self, confidence: f32) -> Self {
        self.request.confidence = confidence;
        self
    }

    /// How much the claim matters.
    pub fn criticality(mut self, criticality: Criticality) -> Self {
        self.request.criticality = criticality;
        self
    }

    /// Makes the claim SetValued: its value joins the others instead of contradicting them.
    pub fn set_valued(mut self) -> Self {
        self.request = self.request.set_valued();
        self
    }

    /// The valid-time start: a lenient date (`2020`, `2020-03`, `2020-03-15`, RFC 3339),
    /// meaning the first instant of that period.
    ///
    /// # Errors
    /// [`DateError`] for an unparsable or impossible date, or a start after the end.
    pub fn valid_from(mut self, date: &str) -> std::result::Result<Self, DateError> {
        self.start = Some(parse_date(date)?);
        self.check_window()?;
        Ok(self)
    }

    /// The valid-time end, exclusive: a partial date means the start of that period
    /// (`valid_until("2022-03")` ends at 2022-03-01T00:00:00Z).
    ///
    /// # Errors
    /// As [`valid_from`](Remember::valid_from).
    pub fn valid_until(mut self, date: &str) -> std::result::Result<Self, DateError> {
        self.end = Some(parse_date(date)?);
        self.check_window()?;
        Ok(self)
    }

    /// The valid-time start as a timestamp and display granularity.
    ///
    /// # Errors
    /// [`DateError::Incoherent`] when it lies after the end.
    pub fn valid_from_time(
        mut self,
        t: Timestamp,
        granularity: Granularity,
    ) -> std::result::Result<Self, DateError> {
        self.start = Some((t, granularity));
        self.check_window()?;
        Ok(self)
    }

    /// The valid-time end (exclusive) as a timestamp and display granularity.
    ///
    /// # Errors
    /// [`DateError::Incoherent`] when it lies before the start.
    pub fn valid_until_time(
        mut self,
        t: Timestamp,
        granularity: Granularity,
    ) -> std::result::Result<Self, DateError> {
        self.end = Some((t, granularity));
        self.check_window()?;
        Ok(self)
    }

    /// Confidence in the valid-time window itself (default 1.0; below the engine's
    /// threshold, 0.7 by default, the window is untrusted).
    pub fn valid_confidence(mut self, confidence: f32) -> Self {
        self.window_confidence = confidence;
        self
    }

    /// Adds a `derived_from` parent.
    pub fn derived_from(mut self, parent: ClaimRef) -> Self {
        self.request.derived_from.push(parent);
        self
    }

    /// Adds a `depends_on` parent.
    pub fn depends_on(mut self, parent: ClaimRef) -> Self {
        self.request.depends_on.push(parent);
        self
    }

    /// Sets the idempotency key (1–128 bytes, SPEC §2.4): a retry of the same claim with the
    /// same key writes nothing and returns the first receipt — retry with it after an error
    /// that says the outcome is unknown.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.request.idempotency_key = Some(key.into());
        self
    }

    /// The request as it would be sent.
    pub fn request(&self) -> IngestRequest {
        let mut request = self.request.clone();
        if self.start.is_some() || self.end.is_some() {
            request.valid_time = Some(ValidTime {
                start: self.start.map(|s| s.0),
                end: self.end.map(|e| e.0),
                confidence: self.window_confidence,
                start_granularity: self.start.map(|s| s.1),
                end_granularity: self.end.map(|e| e.1),
            });
        }
        request
    }

    /// Records the claim and returns its disposition (`Rejected` with a reason for bad input).
    ///
    /// # Errors
    /// Store errors only.
    pub fn commit(self) -> Result<WriteReceipt> {
        self.credence.ingest(self.request())
    }

    fn check_window(&self) -> std::result::Result<(), DateError> {
        match (self.start, self.end) {
            (Some((s, sg)), Some((e, eg))) if s > e => {
                Err(DateError::Incoherent { start: format_date(s, Some(sg)), end: format_date(e, Some(eg)) })
            }
            _ => Ok(()),
        }
    }
}

/// The answer of [`Credence::recall`]: a [`Belief`] with convenience accessors.
#[derive(Clone, Debug, PartialEq)]
pub struct Recollection(pub Belief);

impl Recollection {
    /// The single value, when the line is Resolved or TimingUncertain (and Functional).
    pub fn value(&self) -> Option<&Value> {
        self.0.value.as_ref()
    }

    /// Every distinct live value, in canonical order.
    pub fn values(&self) -> &[Value] {
        &self.0.values
    }

    /// The candidates (one per distinct live value) with their supporting claims.
    pub fn candidates(&self) -> &[Candidate] {
        &self.0.candidates
    }

    /// True when two or more values contradict each other.
    pub fn is_contested(&self) -> bool {
        self.0.is_contested()
    }

    /// True when nothing is live.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status.
    pub fn status(&self) -> BeliefStatus {
        self.0.status
    }

    /// The belief itself.
    pub fn into_belief(self) -> Belief {
        self.0
    }
}

impl Deref for Recollection {
    type Target = Belief;
    fn deref(&self) -> &Belief {
        &self.0
    }
}
