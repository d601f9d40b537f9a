//! `credence demo`: a short scripted story, printed step by step.

use credence::{AsOf, Belief, ClaimEngine, Credence, Provenance, RecallQuery, WriteReceipt, parse_date};
use serde_json::{Value, json};

use crate::Failure;
use crate::output::{print_json, print_text, show_value};

struct Story {
    json: bool,
    steps: Vec<Value>,
    text: String,
}

impl Story {
    fn say(&mut self, line: &str) {
        if !self.json {
            self.text.push_str(line);
            self.text.push('\n');
            // Print as we go so a long story shows progress.
            let _ = print_text(&std::mem::take(&mut self.text));
        }
    }

    fn step(&mut self, title: &str, action: &str, result: Value, line: String) {
        self.say(&format!("  {action}\n    → {line}"));
        self.steps.push(json!({"step": title, "action": action, "result": result}));
    }

    fn wrote(&mut self, title: &str, action: &str, r: &WriteReceipt) {
        let seq = r.seq.map_or_else(|| "nothing written".to_owned(), |s| format!("seq {s}"));
        let why = r.rationale.as_deref().map(|w| format!(", {w}")).unwrap_or_default();
        self.step(
            title,
            action,
            credence::documents::receipt(r),
            format!("{} ({seq}{why})", r.disposition.as_str()),
        );
    }

    fn believed(&mut self, title: &str, action: &str, b: &Belief) {
        let values: Vec<String> = b.values.iter().map(show_value).collect();
        let line = match b.status {
            credence::BeliefStatus::NoBelief => "NoBelief (nothing live)".to_owned(),
            credence::BeliefStatus::Contested => format!("Contested between {}", values.join(" and ")),
            s => format!("{s:?}: {}", values.join(", ")),
        };
        self.step(title, action, credence::documents::belief(b), line);
    }
}

/// Runs the story on `store`, or on a fresh temporary SQLite directory when none is given.
pub(crate) fn run(store: Option<&str>, json: bool) -> Result<(), Failure> {
    let temp;
    let url = match store {
        Some(u) => u.to_owned(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("credence-demo-")
                .tempdir()
                .map_err(|e| Failure::Store(format!("cannot create a temporary directory: {e}")))?;
            if cfg!(feature = "sqlite") {
                format!("sqlite:{}", temp.path().display())
            } else {
                "memory:".to_owned()
            }
        }
    };
    let c = credence::open(&url)?;
    let existing = c.agents()?;
    let mut agent = "demo".to_owned();
    let mut n = 1;
    while existing.iter().any(|a| a.as_str() == agent) {
        n += 1;
        agent = format!("demo-{n}");
    }
    let mut story = Story { json, steps: Vec::new(), text: String::new() };
    let in_temp = if store.is_none() { " (a temporary directory, removed afterwards)" } else { "" };
    story.say(&format!("credence demo on {}{in_temp}, agent {agent:?}\n", c.url()));
    tell(&c, &agent, &mut story)?;
    if json {
        print_json(&json!({"store": c.url(), "agent": agent, "steps": story.steps}))?;
    }
    Ok(())
}

fn recall(
    c: &Credence,
    agent: &str,
    predicate: &str,
    as_of: AsOf,
    valid_at: Option<&str>,
) -> Result<Belief, Failure> {
    let mut q = RecallQuery::new(agent, "alice", predicate);
    q.as_of = as_of;
    q.valid_at = valid_at.map(parse_date).transpose()?.map(|p| p.0);
    Ok(ClaimEngine::recall(c, &q)?)
}

fn tell(c: &Credence, agent: &str, s: &mut Story) -> Result<(), Failure> {
    s.say("1. A fact. Alice tells the agent where she lives.");
    let lisbon = c.remember(agent, "alice", "city", "Lisbon").provenance(Provenance::USER).commit()?;
    s.wrote("fact", "remember alice city = \"Lisbon\" (provenance: user)", &lisbon);
    let b = recall(c, agent, "city", AsOf::Now, None)?;
    s.believed("fact", "recall alice city", &b);
    s.say("   One value and no valid time: the agent believes it, timing uncertain.\n");

    s.say("2. A contradiction. A CRM lookup says otherwise; nothing can settle it yet.");
    let porto = c.remember(agent, "alice", "city", "Porto").provenance(Provenance::FIRST_HAND).commit()?;
    s.wrote("contradiction", "remember alice city = \"Porto\" (provenance: first-hand tool result)", &porto);
    let b = recall(c, agent, "city", AsOf::Now, None)?;
    s.believed("contradiction", "recall alice city", &b);
    s.say("   Contested, never a silent pick: both candidates are shown.\n");

    s.say("3. A human resolution. Alice confirms she moved to Porto.");
    let winner = porto.claim_ref.ok_or_else(|| Failure::Store("the Porto claim has no claim ref".into()))?;
    let resolved = c.resolve(agent, "alice", "city", winner)?;
    s.wrote("resolution", &format!("resolve alice city in favour of {winner}"), &resolved);
    let b = recall(c, agent, "city", AsOf::Now, None)?;
    s.believed("resolution", "recall alice city", &b);
    s.say("   Lisbon is superseded, not deleted: the history keeps it.\n");

    s.say("4. A valid-time succession. Alice changed employer in March 2022.");
    let acme = c
        .remember(agent, "alice", "employer", "Acme")
        .provenance(Provenance::USER)
        .valid_from("2019")?
        .valid_until("2022-03")?
        .commit()?;
    s.wrote("succession", "remember alice employer = \"Acme\" valid [2019, 2022-03)", &acme);
    let globex = c
        .remember(agent, "alice", "employer", "Globex")
        .provenance(Provenance::USER)
        .valid_from("2022-03")?
        .commit()?;
    s.wrote("succession", "remember alice employer = \"Globex\" valid from 2022-03", &globex);
    let b = recall(c, agent, "employer", AsOf::Now, Some("2020-06"))?;
    s.believed("succession", "recall alice employer --valid-at 2020-06", &b);
    let b = recall(c, agent, "employer", AsOf::Now, Some("2023"))?;
    s.believed("succession", "recall alice employer --valid-at 2023", &b);
    s.say("   Two windows that follow each other never contradict.\n");

    s.say("5. An as-of query into the past: what did the agent believe back then?");
    if let Some(seq) = lisbon.seq {
        let b = recall(c, agent, "city", AsOf::Seq(seq), None)?;
        s.believed("as-of", &format!("recall alice city --as-of-seq {seq}"), &b);
    }
    if let Some(seq) = porto.seq {
        let b = recall(c, agent, "city", AsOf::Seq(seq), None)?;
        s.believed("as-of", &format!("recall alice city --as-of-seq {seq}"), &b);
    }
    s.say("   Nothing is ever updated or deleted, so every past belief can be asked for.\n");
    s.say("Try it yourself: credence --store sqlite:./my-data remember me alice city Lisbon");
    Ok(())
}
