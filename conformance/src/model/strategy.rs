//! The proptest strategies: small pools of agents, lines, values, windows and steps, weighted
//! so that conflicts, corroborations, successions, adjudications and re-entry bursts happen.

use credence_core::serde_json::json;
use credence_core::{Criticality, Granularity, Provenance, Verdict};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::ops::{
    AGENTS, AsOfPick, Ingest, Op, PREDICATES, Pick, Probe, SUBJECTS, Scenario, Setup, Step, Window,
};

fn agent() -> impl Strategy<Value = &'static str> {
    prop_oneof![12 => Just(AGENTS[0]), 8 => Just(AGENTS[1]), 1 => Just(AGENTS[2])]
}

/// Mostly one line, so conflicts, corroborations and successions happen.
fn subject() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just(SUBJECTS[0]), 1 => Just(SUBJECTS[1])]
}

fn predicate() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just(PREDICATES[0]), 1 => Just(PREDICATES[1])]
}

fn step() -> impl Strategy<Value = Step> {
    select(vec![Step::Micro, Step::Minute, Step::Hour, Step::Day, Step::TenDays, Step::Month, Step::Quarter])
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        12 => any::<Index>().prop_map(Pick::Own),
        1 => any::<Index>().prop_map(Pick::Any),
        1 => Just(Pick::Unknown),
    ]
}

fn parents() -> impl Strategy<Value = Vec<Pick>> {
    prop_oneof![12 => Just(Vec::new()), 4 => vec(pick(), 1..=1), 1 => vec(pick(), 2..=2)]
}

fn provenance() -> impl Strategy<Value = Provenance> {
    prop_oneof![
        4 => Just(Provenance::USER),
        4 => Just(Provenance::FIRST_HAND),
        2 => Just(Provenance::RecallReEntry),
        2 => Just(Provenance::ModelDerived),
    ]
}

fn window() -> impl Strategy<Value = Window> {
    let slot = (
        select(vec![(2020, Some(2023)), (2023, Some(2025)), (2025, Some(2026)), (2026, None)]),
        select(vec![1.0f32, 0.7]),
    )
        .prop_map(|((start, end), confidence)| Window {
            start: Some(start),
            end,
            confidence,
            granularity: Some(Granularity::Year),
        });
    prop_oneof![2 => slot, 1 => free_window()]
}

fn free_window() -> impl Strategy<Value = Window> {
    let year = select(vec![2020, 2023, 2025, 2026, 2027]);
    let confidence = prop_oneof![8 => select(vec![1.0f32, 0.9, 0.7, 0.69, 0.2]), 1 => Just(1.5f32)];
    let granularity = option::of(select(vec![
        Granularity::Year,
        Granularity::Month,
        Granularity::Day,
        Granularity::Instant,
    ]));
    (option::weighted(0.85, year.clone()), option::weighted(0.5, year), confidence, granularity)
        .prop_map(|(start, end, confidence, granularity)| Window { start, end, confidence, granularity })
}

fn ingest() -> impl Strategy<Value = Op> {
    let value =
        select(vec![json!("a"), json!("b"), json!(1), json!(1.0), json!(true), json!(0.0), json!(-0.0)]);
    let confidence = prop_oneof![
        12 => Just(1.0f32),
        6 => select(vec![0.9f32, 0.5, 0.3]),
        3 => select(vec![0.29f32, 0.0]),
        1 => Just(1.5f32),
    ];
    let criticality =
        select(vec![Criticality::Low, Criticality::Medium, Criticality::High, Criticality::Critical]);
    (
        (agent(), subject(), predicate(), value, provenance()),
        (
            (prop::bool::weighted(0.05), prop::bool::weighted(0.85)),
            confidence,
            criticality,
            option::weighted(0.5, window()),
        ),
        (parents(), parents(), option::weighted(0.2, 0u8..3)),
    )
        .prop_map(
            |(
                (agent, subject, predicate, value, provenance),
                ((set_valued_employer, set_valued_other), confidence, criticality, window),
                (derived_from, depends_on, key),
            )| {
                Op::Ingest(Ingest {
                    agent,
                    subject,
                    predicate,
                    value,
                    provenance,
                    // Mostly one cardinality per line, so SetValued lines really form.
                    set_valued: if predicate == PREDICATES[0] {
                        set_valued_employer
                    } else {
                        set_valued_other
                    },
                    confidence,
                    criticality,
                    window,
                    derived_from,
                    depends_on,
                    key,
                })
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let verdict = select(vec![Verdict::Affirm, Verdict::Deny, Verdict::Unknown]);
    prop_oneof![
        14 => ingest(),
        3 => Just(Op::Again),
        4 => step().prop_map(Op::Advance),
        2 => (agent(), option::weighted(0.2, (subject(), predicate())), pick())
            .prop_map(|(agent, line, winner)| Op::Resolve { agent, line, winner }),
        2 => (agent(), pick()).prop_map(|(agent, target)| Op::Invalidate { agent, target }),
        2 => (agent(), pick()).prop_map(|(agent, target)| Op::Reinstate { agent, target }),
        2 => (agent(), pick(), verdict, provenance())
            .prop_map(|(agent, handle, verdict, evidence)| Op::Adjudicate { agent, handle, verdict, evidence }),
        1 => step().prop_map(|ahead| Op::Sweep { ahead }),
        1 => any::<bool>().prop_map(Op::OracleDown),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    let as_of = prop_oneof![
        1 => Just(AsOfPick::Now),
        3 => any::<Index>().prop_map(AsOfPick::Seq),
        2 => (any::<Index>(), -1i64..=1).prop_map(|(i, s)| AsOfPick::Time(i, s)),
    ];
    (as_of, option::weighted(0.4, select(vec![2019, 2021, 2024, 2025, 2026, 2027])))
        .prop_map(|(as_of, valid_at)| Probe { as_of, valid_at })
}

/// Whole scenarios: settings, 1–59 operations, 3–6 probes and an audit page size.
pub(super) fn scenario() -> impl Strategy<Value = Scenario> {
    let setup = (
        prop::bool::weighted(0.5),
        option::weighted(0.4, select(vec![Step::Hour, Step::Day, Step::Month])),
        select(vec![2u32, 10]),
        1u64..4,
    )
        .prop_map(|(oracle, ttl, burst_threshold, id_seed)| Setup {
            oracle,
            ttl,
            burst_threshold,
            id_seed,
        });
    (setup, vec(op(), 1..60), vec(probe(), 3..=6), select(vec![1usize, 3, 100]))
        .prop_map(|(setup, ops, probes, audit_page)| Scenario { setup, ops, probes, audit_page })
}
