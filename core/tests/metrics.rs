//! SPEC §10: every engine operation is counted by kind and outcome and timed, as `metrics`.

use credence_core::{ClaimEngine, Engine, IngestRequest, MemoryLedger, RecallQuery};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn operations_are_counted_by_kind_and_outcome_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let engine = Engine::new(MemoryLedger::new());
        engine.ingest(IngestRequest::new("a", "alice", "city", "Lisbon")).expect("ingest");
        engine.ingest(IngestRequest::new("a", "alice", "city", "Porto")).expect("ingest");
        engine.recall(&RecallQuery::new("a", "alice", "city")).expect("recall");
        let refused = engine.search(&credence_core::SearchQuery::new("a", "?!", 5));
        assert!(refused.is_err());
    });
    let mut counts = std::collections::BTreeMap::new();
    let mut timed = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        match (key.key().name(), value) {
            ("credence_operations_total", DebugValue::Counter(n)) => {
                counts.insert(labels.join(","), n);
            }
            ("credence_operation_seconds", DebugValue::Histogram(samples)) => timed += samples.len(),
            _ => {}
        }
    }
    assert_eq!(counts.get("operation=ingest,outcome=CommittedCheap"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("operation=ingest,outcome=Contested"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("operation=recall,outcome=ok"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("operation=search,outcome=InvalidQuery"), Some(&1), "{counts:?}");
    assert_eq!(timed, 4);
}
