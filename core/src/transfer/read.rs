//! Reading an export in bounded memory: lines with a byte cap, and one pass over the input
//! that checks every line — header, units, trailer — and hands each unit that passed on.

use std::io::{BufRead, BufReader, Read};

use super::rules::{Checker, Rule};
use super::{FORMAT, Header, Trailer, TransferError, UnitLine, VERSION};
use crate::agent::AgentId;
use crate::ledger::Append;

/// The longest unit line read, in bytes (64 MiB): a longer line is refused (`line_too_long`)
/// after reading this many bytes, never read whole. Checking a line holds it and its parsed
/// unit, a small multiple of its size, so this also bounds the memory an import needs besides
/// the per-agent ids.
///
/// A unit line holds the rows of one write. An ingest's line is at most a few times the
/// largest value (64 KiB by default) — subject, predicate and value appear once in the claim
/// and once more in an adjudication row. Units whose size grows with the store (a resolve or
/// sweep touching many claims, a dependency cascade) stay far below the cap unless they touch
/// hundreds of thousands of claims; such a store moves with `copy`, which reads no lines.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The longest header line read, in bytes: the header is about 40 bytes, so input that is not
/// an export (a binary file, `/dev/zero`) is refused after a few KiB.
pub const MAX_HEADER_BYTES: usize = 4096;

/// What reading one line found.
enum Next {
    /// A line, now in the buffer without its newline.
    Line,
    /// A line longer than the cap; only the cap (plus one byte) was read.
    TooLong,
    /// The end of the input.
    End,
}

/// Lines of at most a given number of bytes, counted from 1.
struct Lines<R> {
    input: BufReader<R>,
    buf: Vec<u8>,
    number: usize,
}

impl<R: Read> Lines<R> {
    fn new(input: R) -> Self {
        Lines { input: BufReader::new(input), buf: Vec::new(), number: 0 }
    }

    /// Reads the next line into `buf`, reading at most `cap + 1` bytes.
    fn next(&mut self, cap: usize) -> std::io::Result<Next> {
        self.buf.clear();
        let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
        let read = (&mut self.input).take(limit).read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(Next::End);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            Ok(Next::Line)
        } else if self.buf.len() > cap {
            Ok(Next::TooLong)
        } else {
            // The last line, without a newline.
            Ok(Next::Line)
        }
    }
}

fn refuse(line: usize, rule: Rule, reason: impl Into<String>) -> TransferError {
    TransferError::Format { line, rule, reason: reason.into() }
}

/// Reads an export once: checks the header, every unit line with `checker` and the trailer,
/// and calls `on_unit(line, agent, unit)` for each unit as soon as it passed. Unit lines longer
/// than `max_line` bytes are refused. Returns the number of lines read.
///
/// Memory: one line at a time plus what `checker` keeps per agent.
pub(super) fn scan(
    input: impl Read,
    checker: &mut Checker,
    max_line: usize,
    on_unit: &mut dyn FnMut(usize, AgentId, Append) -> Result<(), TransferError>,
) -> Result<usize, TransferError> {
    let mut lines = Lines::new(input);
    let mut saw_header = false;
    let mut trailer: Option<(Trailer, usize)> = None;
    loop {
        let cap = if saw_header { max_line } else { MAX_HEADER_BYTES };
        match lines.next(cap)? {
            Next::End => break,
            Next::TooLong => {
                let what = if saw_header { "unit line" } else { "header line" };
                return Err(refuse(
                    lines.number,
                    Rule::LineTooLong,
                    format!(
                        "the line is longer than {cap} bytes, the longest {what} read; it was not read further"
                    ),
                ));
            }
            Next::Line => {}
        }
        let n = lines.number;
        let text = std::str::from_utf8(&lines.buf)
            .map_err(|e| refuse(n, Rule::Syntax, format!("not UTF-8 text ({e})")))?;
        if text.trim().is_empty() {
            continue;
        }
        if !saw_header {
            check_header(n, text)?;
            saw_header = true;
            continue;
        }
        if let Some((end, _)) = &trailer {
            let end = serde_json::to_string(end).unwrap_or_default();
            return Err(refuse(n, Rule::Trailer, format!("a line follows the trailer {end}")));
        }
        match serde_json::from_str::<UnitLine>(text) {
            Ok(UnitLine { agent, unit }) => {
                checker.check(&agent, &unit).map_err(|v| refuse(n, v.rule, v.reason))?;
                on_unit(n, agent, unit)?;
            }
            Err(e) => {
                if let Ok(t) = serde_json::from_str::<Trailer>(text) {
                    trailer = Some((t, n));
                    continue;
                }
                let hint = if e.is_eof() { " (the line is cut short: is the file truncated?)" } else { "" };
                return Err(refuse(n, Rule::Syntax, format!("not a valid unit line: {e}{hint}")));
            }
        }
    }
    if !saw_header {
        return Err(refuse(
            1,
            Rule::Header,
            format!(
                "the input is empty: expected the header {{\"format\":\"{FORMAT}\",\"version\":{VERSION}}}"
            ),
        ));
    }
    let Some((end, trailer_line)) = trailer else {
        return Err(refuse(
            lines.number + 1,
            Rule::Trailer,
            "the file ends without its trailer line {\"end\":{…}}: it is truncated",
        ));
    };
    let (agents, units) = (checker.agent_count(), checker.units());
    if end.end.units != units || end.end.agents != agents {
        return Err(refuse(
            trailer_line,
            Rule::Trailer,
            format!(
                "the trailer counts {} agent(s) and {} unit(s) but the file holds {agents} and {units}: lines are missing",
                end.end.agents, end.end.units
            ),
        ));
    }
    Ok(lines.number)
}

fn check_header(n: usize, text: &str) -> Result<(), TransferError> {
    let header: Header = serde_json::from_str(text).map_err(|e| {
        refuse(
            n,
            Rule::Header,
            format!("expected the header {{\"format\":\"{FORMAT}\",\"version\":{VERSION}}} ({e})"),
        )
    })?;
    if header.format != FORMAT {
        return Err(refuse(n, Rule::Header, format!("format {:?} is not {FORMAT:?}", header.format)));
    }
    if header.version != VERSION {
        return Err(refuse(
            n,
            Rule::Header,
            format!(
                "export version {} is not supported (this build reads version {VERSION})",
                header.version
            ),
        ));
    }
    Ok(())
}
