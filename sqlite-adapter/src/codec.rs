//! Column encodings: UUIDs as 16-byte BLOBs, seqs as INTEGER, enums as their wire names,
//! JSON as TEXT, `f32` as REAL. Decoding never panics: a bad value is `SqliteError::Decode`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{SqlResult, SqliteError};

/// A seq as an INTEGER column value.
pub(crate) fn seq_to_sql(seq: u64) -> SqlResult<i64> {
    i64::try_from(seq)
        .map_err(|_| SqliteError::Conflict(format!("seq {seq} does not fit in an INTEGER column")))
}

/// A seq bound for `stream_seq <= ?`: values beyond `i64::MAX` mean "everything".
pub(crate) fn seq_bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// An INTEGER column value as a seq.
pub(crate) fn seq_from_sql(v: i64, what: &str) -> SqlResult<u64> {
    u64::try_from(v).map_err(|_| SqliteError::Decode(format!("{what}: negative seq {v}")))
}

/// A UUID from a BLOB column.
pub(crate) fn uuid_from_sql(bytes: &[u8], what: &str) -> SqlResult<Uuid> {
    Uuid::from_slice(bytes)
        .map_err(|_| SqliteError::Decode(format!("{what}: {} bytes is not a UUID", bytes.len())))
}

/// A unit-like enum as its serde wire name (`"Medium"`, `"pending"`, …).
pub(crate) fn enum_to_sql<T: Serialize>(v: &T) -> SqlResult<String> {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Ok(s),
        Ok(other) => Err(SqliteError::Internal(format!("enum serialised as {other}, not a string"))),
        Err(e) => Err(SqliteError::Internal(format!("enum does not serialise: {e}"))),
    }
}

/// A unit-like enum from its wire name (deserialised straight from the borrowed text).
pub(crate) fn enum_from_sql<T: DeserializeOwned>(s: &str, what: &str) -> SqlResult<T> {
    let text = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s);
    T::deserialize(text).map_err(|e| SqliteError::Decode(format!("{what}: {e}")))
}

/// Any serialisable value as JSON text.
pub(crate) fn json_to_sql<T: Serialize + ?Sized>(v: &T) -> SqlResult<String> {
    serde_json::to_string(v).map_err(|e| SqliteError::Internal(format!("value does not serialise: {e}")))
}

/// JSON text back into a value (structural; `1.0` stays a float).
pub(crate) fn json_from_sql<T: DeserializeOwned>(s: &str, what: &str) -> SqlResult<T> {
    serde_json::from_str(s).map_err(|e| SqliteError::Decode(format!("{what}: {e}")))
}

/// A REAL column written from an `f32` back into that `f32`.
#[allow(clippy::cast_possible_truncation)] // checked below: the value must round-trip exactly
pub(crate) fn f32_from_sql(v: f64, what: &str) -> SqlResult<f32> {
    let f = v as f32;
    if f64::from(f).to_bits() == v.to_bits() || (v.is_nan() && f.is_nan()) {
        Ok(f)
    } else {
        Err(SqliteError::Decode(format!("{what}: {v} is not an f32")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_from_sql_round_trips_every_f32_written() {
        for f in [0.0f32, 1.0, 0.3, 0.7, 0.1, f32::MIN_POSITIVE, 0.999_999_9] {
            assert_eq!(f32_from_sql(f64::from(f), "x").ok(), Some(f));
        }
        assert!(f32_from_sql(0.1f64, "x").is_err());
    }
}
