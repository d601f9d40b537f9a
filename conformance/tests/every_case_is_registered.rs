//! Every case is a `pub fn` in `src/cases/` and reaches every backend only through the lists in
//! `src/list_*.rs`: a case written but not listed would never run. This test reads both.

use std::collections::BTreeSet;
use std::path::Path;

fn read_dir_sources(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("the crate's sources are readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("a source file reads")))
        .collect();
    out.sort();
    out
}

#[test]
fn every_public_case_function_is_in_a_case_list() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let listed: BTreeSet<String> = read_dir_sources(&src, |n| n.starts_with("list_"))
        .iter()
        .flat_map(|(_, text)| text.lines().map(str::trim).map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|line| line.strip_suffix(',').map(str::to_owned))
        .filter(|name| {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    let mut missing = Vec::new();
    for (file, text) in read_dir_sources(&src.join("cases"), |n| n != "mod.rs") {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("pub fn ") else { continue };
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !listed.contains(&name) {
                missing.push(format!("{name} ({file})"));
            }
        }
    }
    assert!(missing.is_empty(), "cases no list registers (they never run): {missing:#?}");
    assert!(listed.len() > 300, "the lists were not read: {} names", listed.len());
}
