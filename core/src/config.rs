//! Engine configuration (SPEC §4), validated at construction.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Tunables of the claim engine. Build with `EngineConfig::default()` and adjust fields;
/// [`EngineConfig::validate`] (called by the engine builder) rejects out-of-range values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// A valid-time window is trusted iff its confidence ≥ this (inclusive) and it has a start.
    pub valid_time_confidence_threshold: f32,
    /// External claims below this confidence are `PendingLowConfidence`.
    pub low_confidence_floor: f32,
    /// Re-entries of one claim within `burst_window` at or above this count are quarantined.
    pub quarantine_burst_threshold: u32,
    /// The window for counting recall re-entries.
    pub burst_window: Duration,
    /// A belief confirmed less than this many days ago is `Fresh`.
    pub aging_days: u32,
    /// A belief confirmed less than this many days ago is `AgingUnconfirmed`; older is `Decayed`.
    pub decayed_days: u32,
    /// How long an adjudication may stay pending; `None` = forever.
    pub adjudication_ttl: Option<Duration>,
    /// Largest serialised value, in bytes.
    pub max_value_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            valid_time_confidence_threshold: 0.7,
            low_confidence_floor: 0.3,
            quarantine_burst_threshold: 10,
            burst_window: Duration::from_secs(60),
            aging_days: 30,
            decayed_days: 90,
            adjudication_ttl: None,
            max_value_bytes: 65_536,
        }
    }
}

fn unit_interval(name: &str, v: f32) -> Result<()> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::InvalidConfig { reason: format!("{name} must be a finite number in [0, 1], got {v}") })
    }
}

fn micros(name: &str, d: Duration) -> Result<i64> {
    let m = i64::try_from(d.as_micros())
        .map_err(|_| Error::InvalidConfig { reason: format!("{name} is too long") })?;
    if m == 0 {
        return Err(Error::InvalidConfig { reason: format!("{name} must be at least one microsecond") });
    }
    Ok(m)
}

impl EngineConfig {
    /// Checks every value; the error names the first one out of range.
    pub fn validate(&self) -> Result<()> {
        unit_interval("valid_time_confidence_threshold", self.valid_time_confidence_threshold)?;
        unit_interval("low_confidence_floor", self.low_confidence_floor)?;
        if self.quarantine_burst_threshold == 0 {
            return Err(Error::InvalidConfig {
                reason: "quarantine_burst_threshold must be at least 1".into(),
            });
        }
        micros("burst_window", self.burst_window)?;
        if self.aging_days > self.decayed_days {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "aging_days ({}) must not exceed decayed_days ({})",
                    self.aging_days, self.decayed_days
                ),
            });
        }
        if let Some(ttl) = self.adjudication_ttl {
            micros("adjudication_ttl", ttl)?;
        }
        if self.max_value_bytes == 0 {
            return Err(Error::InvalidConfig { reason: "max_value_bytes must be at least 1".into() });
        }
        Ok(())
    }

    /// `burst_window` in microseconds (valid after `validate`).
    pub(crate) fn burst_window_micros(&self) -> i64 {
        i64::try_from(self.burst_window.as_micros()).unwrap_or(i64::MAX)
    }

    /// `adjudication_ttl` in microseconds (valid after `validate`).
    pub(crate) fn ttl_micros(&self) -> Option<i64> {
        self.adjudication_ttl.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}
