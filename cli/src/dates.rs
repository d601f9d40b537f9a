//! Lenient dates: `2020`, `2020-03`, `2020-03-15` and RFC 3339 instants.
//!
//! A date names a period; [`parse_date`] returns the period's first instant (UTC) and its
//! [`Granularity`], which is kept for display only. Used as the *end* of a valid-time
//! window, a partial date is the start of that period, exclusive: `valid_until("2022-03")`
//! ends the window at 2022-03-01T00:00:00Z.

use credence_core::time::MICROS_PER_SECOND;
use credence_core::{Granularity, Timestamp};

/// The forms [`parse_date`] accepts, for error messages.
pub const ACCEPTED_FORMS: &str =
    "YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 time such as 2020-03-15T10:30:00Z or 2020-03-15T10:30:00+02:00";

/// Why a date was refused. Every message names the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// The text is not in any accepted form.
    #[error("cannot read {input:?} as a date: expected {ACCEPTED_FORMS}")]
    Unparsable {
        /// The text given.
        input: String,
    },
    /// The text has an accepted form but names no real date or time (month 13, February 30, …).
    #[error("{input:?} is not a real date or time ({reason}); expected {ACCEPTED_FORMS}")]
    Impossible {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The window's start lies after its end.
    #[error(
        "valid time starts at {start} but ends before it at {end} (the end is exclusive; a partial end date \
         means the start of that period); dates are {ACCEPTED_FORMS}"
    )]
    Incoherent {
        /// The start as given.
        start: String,
        /// The end as given.
        end: String,
    },
}

/// Parses a lenient date into the first instant of the period it names and its granularity.
///
/// ```
/// use credence::{Granularity, Timestamp, parse_date};
///
/// assert_eq!(parse_date("2020-03")?, (Timestamp::from_ymd(2020, 3, 1).unwrap(), Granularity::Month));
/// assert_eq!(parse_date("2020-03-15T12:00:00+02:00")?.0, Timestamp::from_ymd_hms(2020, 3, 15, 10, 0, 0).unwrap());
/// assert!(parse_date("2021-02-30").is_err());
/// # Ok::<(), credence::DateError>(())
/// ```
///
/// # Errors
/// [`DateError::Unparsable`] for text in no accepted form, [`DateError::Impossible`] for a
/// date or time that does not exist.
pub fn parse_date(input: &str) -> Result<(Timestamp, Granularity), DateError> {
    let unparsable = || DateError::Unparsable { input: input.to_owned() };
    let impossible =
        |reason: &str| DateError::Impossible { input: input.to_owned(), reason: reason.to_owned() };
    let s = input.trim();
    let b = s.as_bytes();
    let (date, rest) = match b.len() {
        4 => (s, ""),
        7 => (s, ""),
        10 => (s, ""),
        n if n > 10 => (s.get(..10).ok_or_else(unparsable)?, s.get(10..).ok_or_else(unparsable)?),
        _ => return Err(unparsable()),
    };
    let year = digits(date.get(..4)).ok_or_else(unparsable)?;
    let year = i32::try_from(year).map_err(|_| unparsable())?;
    if date.len() == 4 {
        let t = Timestamp::from_ymd(year, 1, 1).ok_or_else(|| impossible("year out of range"))?;
        return Ok((t, Granularity::Year));
    }
    if date.as_bytes().get(4) != Some(&b'-') {
        return Err(unparsable());
    }
    let month = digits(date.get(5..7)).ok_or_else(unparsable)?;
    if !(1..=12).contains(&month) {
        return Err(impossible(&format!("there is no month {month}")));
    }
    if date.len() == 7 {
        let t = Timestamp::from_ymd(year, month, 1).ok_or_else(|| impossible("date out of range"))?;
        return Ok((t, Granularity::Month));
    }
    if date.as_bytes().get(7) != Some(&b'-') {
        return Err(unparsable());
    }
    let day = digits(date.get(8..10)).ok_or_else(unparsable)?;
    let Some(midnight) = Timestamp::from_ymd(year, month, day) else {
        return Err(impossible(&format!("{year:04}-{month:02} has no day {day}")));
    };
    if rest.is_empty() {
        return Ok((midnight, Granularity::Day));
    }
    // RFC 3339 time part: `T` (or `t` or a space) HH:MM:SS[.fraction] then `Z` or ±HH:MM.
    let rest_b = rest.as_bytes();
    if !matches!(rest_b.first(), Some(b'T' | b't' | b' ')) || rest_b.len() < 10 {
        return Err(unparsable());
    }
    let hms = rest.get(1..9).ok_or_else(unparsable)?;
    if hms.as_bytes().get(2) != Some(&b':') || hms.as_bytes().get(5) != Some(&b':') {
        return Err(unparsable());
    }
    let part =
        |r: std::ops::Range<usize>| -> Result<u32, DateError> { digits(hms.get(r)).ok_or_else(unparsable) };
    let (hour, minute, second) = (part(0..2)?, part(3..5)?, part(6..8)?);
    let Some(local) = Timestamp::from_ymd_hms(year, month, day, hour, minute, second) else {
        return Err(impossible(&format!("there is no time {hour:02}:{minute:02}:{second:02}")));
    };
    let mut tail = rest.get(9..).ok_or_else(unparsable)?;
    let mut micros: i64 = 0;
    if let Some(frac) = tail.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(unparsable());
        }
        let fdigits = frac.get(..n).ok_or_else(unparsable)?;
        // Keep microseconds; finer digits are truncated.
        for (i, c) in fdigits.bytes().take(6).enumerate() {
            let scale = 10_i64.pow(u32::try_from(5 - i).unwrap_or(0));
            micros += i64::from(c - b'0') * scale;
        }
        tail = frac.get(n..).ok_or_else(unparsable)?;
    }
    let offset_secs: i64 = match tail.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hh = digits(std::str::from_utf8(&[*h1, *h2]).ok()).ok_or_else(unparsable)?;
            let mm = digits(std::str::from_utf8(&[*m1, *m2]).ok()).ok_or_else(unparsable)?;
            if hh > 23 || mm > 59 {
                return Err(impossible("offset out of range"));
            }
            let secs = i64::from(hh) * 3_600 + i64::from(mm) * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return Err(unparsable()),
    };
    let t = local.micros() + micros - offset_secs * MICROS_PER_SECOND;
    Ok((Timestamp(t), Granularity::Instant))
}

/// A timestamp shown at a granularity: `2020`, `2020-03`, `2020-03-15` or the full instant.
pub fn format_date(t: Timestamp, granularity: Option<Granularity>) -> String {
    let full = t.to_string();
    let keep = match granularity {
        Some(Granularity::Year) => 4,
        Some(Granularity::Month) => 7,
        Some(Granularity::Day) => 10,
        Some(Granularity::Instant) | None => return full,
    };
    full.get(..keep).map_or(full.clone(), str::to_owned)
}

fn digits(s: Option<&str>) -> Option<u32> {
    let s = s?;
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> Timestamp {
        Timestamp::from_ymd(y, m, d).expect("valid test date")
    }

    #[test]
    fn parse_date_year_is_start_of_year_with_year_granularity() {
        assert_eq!(parse_date("2020"), Ok((ymd(2020, 1, 1), Granularity::Year)));
    }

    #[test]
    fn parse_date_month_is_start_of_month_with_month_granularity() {
        assert_eq!(parse_date("2020-03"), Ok((ymd(2020, 3, 1), Granularity::Month)));
    }

    #[test]
    fn parse_date_day_is_midnight_utc_with_day_granularity() {
        assert_eq!(parse_date("2020-03-15"), Ok((ymd(2020, 3, 15), Granularity::Day)));
    }

    #[test]
    fn parse_date_rfc3339_with_offset_is_converted_to_utc() {
        let expected = Timestamp::from_ymd_hms(2020, 3, 15, 8, 30, 0).expect("valid");
        assert_eq!(parse_date("2020-03-15T10:30:00+02:00"), Ok((expected, Granularity::Instant)));
        let west = Timestamp::from_ymd_hms(2020, 3, 16, 1, 0, 0).expect("valid");
        assert_eq!(parse_date("2020-03-15T20:00:00-05:00").map(|p| p.0), Ok(west));
    }

    #[test]
    fn parse_date_rfc3339_keeps_microseconds_and_accepts_z() {
        let base = Timestamp::from_ymd_hms(2020, 3, 15, 10, 30, 0).expect("valid");
        assert_eq!(parse_date("2020-03-15T10:30:00.123456Z").map(|p| p.0), Ok(base.plus_micros(123_456)));
        assert_eq!(parse_date("2020-03-15T10:30:00.5Z").map(|p| p.0), Ok(base.plus_micros(500_000)));
        assert_eq!(parse_date("2020-03-15t10:30:00.123456789z").map(|p| p.0), Ok(base.plus_micros(123_456)));
    }

    #[test]
    fn parse_date_february_30_is_impossible() {
        assert!(matches!(parse_date("2021-02-30"), Err(DateError::Impossible { .. })));
        assert!(matches!(parse_date("2021-02-29"), Err(DateError::Impossible { .. })));
        assert!(parse_date("2020-02-29").is_ok());
        assert!(matches!(parse_date("2020-13"), Err(DateError::Impossible { .. })));
        assert!(matches!(parse_date("2020-00-10"), Err(DateError::Impossible { .. })));
        assert!(matches!(parse_date("2020-01-01T24:00:00Z"), Err(DateError::Impossible { .. })));
    }

    #[test]
    fn parse_date_bad_forms_are_unparsable_and_name_the_accepted_forms() {
        for bad in [
            "",
            "20",
            "2020-3",
            "2020/03/01",
            "March 2020",
            "2020-03-15T10:30Z",
            "2020-03-15T10:30:00",
            "2020-03-15T10:30:00+0200",
            "2020-03-15T10:30:00.Z",
            "yesterday",
            "+2020",
            "2020-03-15X",
        ] {
            let err = parse_date(bad).expect_err(bad);
            assert!(matches!(err, DateError::Unparsable { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        }
    }

    #[test]
    fn format_date_shows_the_granularity() {
        let t = ymd(2020, 3, 1);
        assert_eq!(format_date(t, Some(Granularity::Year)), "2020");
        assert_eq!(format_date(t, Some(Granularity::Month)), "2020-03");
        assert_eq!(format_date(t, Some(Granularity::Day)), "2020-03-01");
        assert_eq!(format_date(t, None), "2020-03-01T00:00:00.000000Z");
    }
}
