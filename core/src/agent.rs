//! The agent id: validated input naming whose memory a row belongs to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::{self, RejectReason};

/// The id of one agent: 1–256 bytes of UTF-8, no NUL, no control characters.
///
/// Serialises as a plain string. Construct with [`AgentId::new`], which validates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// Validates `id` against SPEC §1.1.
    pub fn new(id: impl Into<String>) -> Result<AgentId, RejectReason> {
        let id = id.into();
        validate::agent_id(&id)?;
        Ok(AgentId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AgentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AgentId::new(s).map_err(serde::de::Error::custom)
    }
}

impl FromStr for AgentId {
    type Err = RejectReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentId::new(s)
    }
}
