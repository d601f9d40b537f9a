//! The library API: `credence::open`, the `remember` builder, `recall`, and transfer.

use credence::transfer::{self, TransferError};
use credence::{BeliefStatus, DateError, Disposition, Error, Granularity, Provenance, Timestamp};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn open_every_compiled_in_url_form_gives_a_working_engine() -> TestResult {
    let dir = tempfile::tempdir()?;
    let urls =
        ["memory:".to_owned(), "sqlite::memory:".to_owned(), format!("sqlite:{}", dir.path().display())];
    for url in urls {
        let c = credence::open(&url)?;
        let r = c.remember("a", "alice", "city", "Lisbon").commit()?;
        assert_eq!(r.disposition, Disposition::CommittedCheap, "{url}");
        assert_eq!(c.recall("a", "alice", "city")?.value(), Some(&"Lisbon".into()), "{url}");
    }
    Ok(())
}

#[test]
fn open_malformed_url_is_invalid_store_url_with_a_reason() {
    for url in ["", "mysql://x", "sqlite:", "memory:extra", "./relative/dir"] {
        match credence::open(url) {
            Err(Error::InvalidStoreUrl { reason, .. }) => assert!(!reason.is_empty(), "{url:?}"),
            other => panic!("{url:?}: expected InvalidStoreUrl, got {other:?}"),
        }
    }
}

#[test]
fn remember_builder_sets_every_field_of_the_claim() -> TestResult {
    let c = credence::open("memory:")?;
    let parent = c.remember("a", "alice", "employer", "Acme").commit()?.claim();
    let b = c
        .remember("a", "alice", "title", "CTO")
        .provenance(Provenance::USER)
        .confidence(0.9)
        .criticality(credence::Criticality::High)
        .valid_from("2020-03")?
        .valid_until("2021")?
        .valid_confidence(0.8)
        .derived_from(parent)
        .depends_on(parent);
    let request = b.request();
    let window = request.valid_time.ok_or("a window")?;
    assert_eq!(window.start, Timestamp::from_ymd(2020, 3, 1));
    assert_eq!(window.end, Timestamp::from_ymd(2021, 1, 1), "a partial end is the start of that period");
    assert_eq!(
        (window.start_granularity, window.end_granularity),
        (Some(Granularity::Month), Some(Granularity::Year))
    );
    assert!((window.confidence - 0.8).abs() < f32::EPSILON);
    assert_eq!(request.derived_from, vec![parent]);
    assert_eq!(request.depends_on, vec![parent]);
    let receipt = b.commit()?;
    assert_eq!(receipt.disposition, Disposition::CommittedCheap);
    let history = credence::ClaimEngine::history(&c, "a", "alice", "title", credence::AsOf::Now)?;
    let claim = &history.entries[0].claim;
    assert_eq!(claim.provenance, Provenance::USER);
    assert_eq!(claim.criticality, credence::Criticality::High);
    Ok(())
}

#[test]
fn remember_end_before_start_is_an_incoherent_date_error() -> TestResult {
    let c = credence::open("memory:")?;
    let err =
        c.remember("a", "s", "p", 1).valid_until("2020")?.valid_from("2021-06").err().ok_or("must fail")?;
    assert!(matches!(err, DateError::Incoherent { .. }), "{err}");
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    let err = c.remember("a", "s", "p", 1).valid_from("2021-02-29").err().ok_or("must fail")?;
    assert!(matches!(err, DateError::Impossible { .. }), "{err}");
    // Nothing was written.
    assert!(credence::ClaimEngine::agents(&c)?.is_empty());
    Ok(())
}

#[test]
fn recall_reports_contested_candidates_and_past_points() -> TestResult {
    let c = credence::open("memory:")?;
    c.remember("a", "alice", "city", "Lisbon").commit()?;
    c.remember("a", "alice", "city", "Porto").commit()?;
    let now = c.recall("a", "alice", "city")?;
    assert!(now.is_contested() && !now.is_empty());
    assert_eq!(now.value(), None);
    assert_eq!(now.candidates().len(), 2);
    let then = c.recall_at("a", "alice", "city").as_of_seq(1).get()?;
    assert_eq!(then.status(), BeliefStatus::TimingUncertain);
    assert_eq!(then.values(), ["Lisbon"]);
    let before = c.recall_at("a", "alice", "city").as_of("1999")?.get()?;
    assert!(before.is_empty());
    assert!(c.recall_at("a", "alice", "city").valid_at("someday").is_err());
    Ok(())
}

#[test]
fn export_import_round_trip_between_backends_verifies_equal() -> TestResult {
    let from = credence::open("memory:")?;
    from.remember("a", "alice", "city", "Lisbon").commit()?;
    from.remember("a", "alice", "city", "Porto").commit()?;
    from.remember("b", "bob", "age", 41).valid_from("2020")?.commit()?;
    let mut buf = Vec::new();
    let stats = transfer::export(from.ledger().as_ref(), None, &mut buf)?;
    assert_eq!((stats.agents, stats.units), (2, 3));
    let to = credence::open("sqlite::memory:")?;
    let plan = transfer::check_import(buf.as_slice(), &transfer::ImportOptions::default())?;
    let mut calls = 0;
    transfer::import(to.ledger().as_ref(), &plan, buf.as_slice(), &mut |_, _| calls += 1)?;
    assert_eq!(calls, 3);
    let agents = credence::ClaimEngine::agents(&from)?;
    transfer::verify(from.ledger().as_ref(), to.ledger().as_ref(), &agents)?;
    // A third store differing by one claim does not verify.
    let other = credence::open("memory:")?;
    transfer::import(other.ledger().as_ref(), &plan, buf.as_slice(), &mut |_, _| {})?;
    other.remember("a", "alice", "city", "Faro").commit()?;
    let err =
        transfer::verify(from.ledger().as_ref(), other.ledger().as_ref(), &agents).err().ok_or("differs")?;
    assert!(matches!(err, TransferError::Mismatch(_)), "{err}");
    Ok(())
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn async_wrapper_runs_concurrent_calls_on_blocking_threads() -> TestResult {
    use credence::tokio::AsyncCredence;

    let c = AsyncCredence::open("sqlite::memory:").await?;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.ingest(credence::IngestRequest::new("a", format!("s{i}"), "p", i)).await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await??.seq.ok_or("a seq")?);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>(), "one agent's writes get gap-free seqs");
    assert_eq!(c.recall("a", "s3", "p").await?.value(), Some(&3.into()));
    assert_eq!(c.agents().await?.len(), 1);
    assert!(matches!(AsyncCredence::open("nope:").await, Err(Error::InvalidStoreUrl { .. })));
    Ok(())
}
