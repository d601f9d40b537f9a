//! SPEC §10: every engine operation is a `tracing` span with its agent, backend, outcome and
//! seq; a group commit is an event. (Alone in its test binary: `tracing` caches per call site
//! whether anyone listens, and a test running the engine beside it with no subscriber would race
//! that cache.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use credence_core::{ClaimEngine, Engine, IngestRequest, MemoryLedger, RecallQuery};
use tracing_subscriber::fmt::format::FmtSpan;

/// A writer into a shared buffer, for a capturing subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

#[test]
fn an_ingest_is_a_span_with_its_agent_backend_outcome_and_seq() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let engine = Engine::new(MemoryLedger::new());
        engine.ingest(IngestRequest::new("agent-7", "alice", "city", "Lisbon")).expect("first ingest");
        engine.ingest(IngestRequest::new("agent-7", "alice", "city", "Porto")).expect("second ingest");
        engine.recall(&RecallQuery::new("agent-7", "alice", "city")).expect("recall");
        engine.history("agent-7", "alice", "city", credence_core::AsOf::Now).expect("history");
    });
    let log = captured.text();
    let closes: Vec<&str> = log.lines().filter(|l| l.contains("close")).collect();
    let ingest: Vec<&&str> = closes.iter().filter(|l| l.contains("credence.ingest")).collect();
    assert_eq!(ingest.len(), 2, "{log}");
    for line in &ingest {
        assert!(line.contains("agent=\"agent-7\"") || line.contains("agent=agent-7"), "{line}");
        assert!(
            line.contains("db.system.name=\"memory\"") || line.contains("db.system.name=memory"),
            "{line}"
        );
    }
    assert!(ingest[0].contains("CommittedCheap") && ingest[0].contains("seq=1"), "{}", ingest[0]);
    assert!(ingest[1].contains("Contested") && ingest[1].contains("seq=2"), "{}", ingest[1]);
    assert!(closes.iter().any(|l| l.contains("credence.recall") && l.contains("ok")), "{log}");
    assert!(closes.iter().any(|l| l.contains("credence.history")), "{log}");
    assert!(log.contains("group commit") && log.contains("units=1"), "{log}");
}
