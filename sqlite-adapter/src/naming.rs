//! File names of agent databases: an injective, path-safe, case-safe encoding of the agent id.
//!
//! * Ids of at most [`MAX_HEX_ID_BYTES`] bytes: `a-<lowercase hex of the UTF-8 bytes>.sqlite3`.
//!   Only `[0-9a-f-.]` appear, so there is no traversal, no reserved Windows stem (`con`,
//!   `nul`, …; every stem starts with `a-`), and no two ids differ only by case.
//! * Longer ids (up to the 256-byte limit): `h-<128-bit FNV-1a hash in hex>[-<n>].sqlite3`,
//!   keeping the name far below 255 bytes. The original id is stored inside the file; on the
//!   (astronomically unlikely) collision the next free `-<n>` suffix is probed, so the mapping
//!   stays injective.
//!
//! Every file also stores its id, so listing agents returns the original ids.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Ids up to this many bytes are hex-encoded directly (2 × 100 + 12 bytes of name).
pub(crate) const MAX_HEX_ID_BYTES: usize = 100;

/// The file extension of agent databases.
pub(crate) const EXTENSION: &str = "sqlite3";

/// The name of the `n`-th candidate file for `agent` (only hashed names have more than one).
pub(crate) fn candidate(agent: &str, n: u32) -> String {
    if agent.len() <= MAX_HEX_ID_BYTES {
        return format!("a-{}.{EXTENSION}", hex(agent.as_bytes()));
    }
    let hash = hex(&fnv1a_128(agent.as_bytes()).to_be_bytes());
    if n == 0 { format!("h-{hash}.{EXTENSION}") } else { format!("h-{hash}-{n}.{EXTENSION}") }
}

/// True when the id maps to exactly one candidate (no probing needed).
pub(crate) fn is_direct(agent: &str) -> bool {
    agent.len() <= MAX_HEX_ID_BYTES
}

/// What a file name says about its agent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A direct name: this is the id.
    Id(String),
    /// A hashed name: the id is stored inside the file.
    Hashed,
}

/// Decodes a directory entry's file name; `None` for files that are not agent databases
/// (`-wal`, `-shm`, foreign files).
pub(crate) fn decode(file_name: &str) -> Option<Decoded> {
    let stem = file_name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    if let Some(h) = stem.strip_prefix("a-") {
        let bytes = unhex(h)?;
        let id = String::from_utf8(bytes).ok()?;
        return (!id.is_empty() && id.len() <= MAX_HEX_ID_BYTES).then_some(Decoded::Id(id));
    }
    let h = stem.strip_prefix("h-")?;
    let hash = h.split_once('-').map_or(h, |(hash, _)| hash);
    (hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Decoded::Hashed)
}

/// True when `file_name` is a name this store gives the file of `agent`: its direct name, or
/// its hashed name (with any collision suffix). A file whose stored id does not fit its name
/// was renamed, copied or edited: the store would look for that agent elsewhere.
pub fn file_belongs_to(file_name: &str, agent: &str) -> bool {
    if is_direct(agent) {
        return file_name == candidate(agent, 0);
    }
    let plain = candidate(agent, 0);
    let Some(stem) = plain.strip_suffix(&format!(".{EXTENSION}")) else { return false };
    file_name == plain
        || file_name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(&format!(".{EXTENSION}")))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The path of candidate `n` under `dir`.
pub(crate) fn path(dir: &Path, agent: &str, n: u32) -> PathBuf {
    dir.join(candidate(agent, n))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// 128-bit FNV-1a: stable across builds and platforms (unlike `std`'s hasher).
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_short_ids_round_trip_through_decode() {
        for id in ["a", "A", "con", "../x", "a/b", "é✓", "x".repeat(100).as_str()] {
            let name = candidate(id, 0);
            assert_eq!(decode(&name), Some(Decoded::Id(id.to_owned())), "{id:?} → {name}");
            assert!(name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'-' | b'.')));
        }
    }

    #[test]
    fn candidate_long_ids_are_hashed_and_short() {
        let long = "é".repeat(128);
        let name = candidate(&long, 0);
        assert!(name.starts_with("h-") && name.len() < 100, "{name}");
        assert_ne!(candidate(&long, 0), candidate(&long, 1));
        assert_eq!(decode(&name), Some(Decoded::Hashed));
        assert_eq!(decode(&candidate(&long, 3)), Some(Decoded::Hashed));
        assert!(file_belongs_to(&candidate(&long, 0), &long) && file_belongs_to(&candidate(&long, 3), &long));
        assert!(!file_belongs_to(&candidate(&long, 0), &"m".repeat(150)));
        assert!(file_belongs_to(&candidate("ab", 0), "ab") && !file_belongs_to(&candidate("ab", 0), "ac"));
    }

    #[test]
    fn decode_ignores_foreign_files() {
        for name in
            ["a-61.sqlite3-wal", "a-61.sqlite3-shm", "readme", "a-6.sqlite3", "a-zz.sqlite3", "a-.sqlite3"]
        {
            assert_eq!(decode(name), None, "{name}");
        }
    }
}
