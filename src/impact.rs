//! Impact of a proposed change over a portfolio: every account decided under
//! the base pack and the proposal (in parallel, streamed), then who pays
//! more or less, revenue by class and by assistance status, the distribution
//! of bill changes, eligibility flips, and the largest changes with their
//! cause (the lines and figures that moved). Reports as markdown, JSON and a
//! self-contained HTML page with SVG charts.

use crate::batch::{CHUNK, Direct, RawRow, RowFacts, RowName, Rows, Source};
use crate::case::{Case, FieldId, Schema};
use crate::determination::{Determination, Recorder};
use crate::engine::{Engine, Options, Reuse};
use crate::money::money_text;
use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::BufRead;

/// One account under both packs. Its texts borrow from the packs where
/// they can (a class is one of the decision's values), so that a million
/// accounts are not a million small strings.
#[derive(Debug, Clone)]
struct Account<'a> {
    id: Option<String>,
    class: Cow<'a, str>,
    assistance: Cow<'a, str>,
    base: Option<Decimal>,
    proposed: Option<Decimal>,
    base_outcome: Cow<'a, str>,
    proposed_outcome: Cow<'a, str>,
    error: Option<String>,
    row: usize,
    case: Option<Case>,
}

/// Revenue and counts for a group of accounts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    pub accounts: usize,
    pub affected: usize,
    pub base: Decimal,
    pub proposed: Decimal,
    pub difference: Decimal,
}

impl Group {
    /// Adds an account; `changed` when its amount or its outcome differs.
    /// The difference is set once the group is complete (`close`).
    fn add(&mut self, b: Decimal, p: Decimal, changed: bool) {
        self.accounts += 1;
        if changed {
            self.affected += 1;
        }
        self.base += b;
        self.proposed += p;
    }

    /// Sets the difference of a complete group.
    fn close(&mut self) {
        self.difference = self.proposed - self.base;
    }

    /// Adds a complete group to this one.
    fn merge(&mut self, g: &Group) {
        self.accounts += g.accounts;
        self.affected += g.affected;
        self.base += g.base;
        self.proposed += g.proposed;
    }
}

/// One of the largest changes, with what caused it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    pub class: String,
    pub base: Decimal,
    pub proposed: Decimal,
    pub difference: Decimal,
    /// The outcome under each pack, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Lines whose amounts changed (`line: base -> proposed`) and
    /// requirements met under one pack and not the other.
    pub lines: Vec<String>,
    /// Figures read by both with another value now.
    pub figures: Vec<String>,
}

impl Change {
    /// The lines and figures behind the change, for a markdown table cell.
    fn cause(&self) -> String {
        self.lines
            .iter()
            .chain(self.figures.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
            .replace('|', "\\|")
    }
}

/// The impact report.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub decision: String,
    pub base_pack: String,
    pub proposed_pack: String,
    pub accounts: usize,
    pub errors: usize,
    pub total: Group,
    pub by_class: BTreeMap<String, Group>,
    pub by_assistance: BTreeMap<String, Group>,
    pub pay_more: usize,
    pub pay_less: usize,
    pub unchanged: usize,
    /// Bill change percentiles (proposed minus base): p0 (min), p1, p5, p25, p50, p75, p95, p99, p100 (max).
    pub percentiles: Vec<(u8, Decimal)>,
    /// Outcomes that changed: `base -> proposed` and how many.
    pub flips: BTreeMap<String, usize>,
    /// The first accounts whose outcome changed, with the cause.
    pub flipped: Vec<Change>,
    pub largest: Vec<Change>,
    /// Changes by class, for the histogram (not in the JSON).
    #[serde(skip)]
    pub changes_by_class: BTreeMap<String, Vec<Decimal>>,
    /// The first rows that could not be decided: row, id, reason.
    pub error_rows: Vec<(usize, String, String)>,
}

fn total_of(d: &Determination) -> Decimal {
    d.total.unwrap_or_default()
}

fn decide_both(
    base: &Engine,
    proposed: &Engine,
    decision: &str,
    as_of: Option<chrono::NaiveDate>,
    row: usize,
    case: Result<Case, Box<crate::Error>>,
) -> Account<'static> {
    let options = Options { as_of, trace: false };
    let mut a = Account::at(row);
    let case = match case {
        Ok(c) => c,
        Err(e) => {
            a.error = Some(e.message.clone());
            return a;
        }
    };
    let text = |p: &str| case.get(p).and_then(|v| v.as_str()).map(str::to_string);
    a.id = text("account.id");
    a.class = CLASS_FIELDS
        .iter()
        .find_map(|p| text(p))
        .map_or(Cow::Borrowed("-"), Cow::Owned);
    a.assistance = match case.get("account.low_income_tier") {
        Some(t) => Cow::Owned(format!(
            "low-income tier {}",
            t.as_str().map(str::to_string).unwrap_or_else(|| t.to_string())
        )),
        None => Cow::Borrowed(NO_ASSISTANCE),
    };
    match (
        base.decide(decision, &case, &options),
        proposed.decide(decision, &case, &options),
    ) {
        (Ok(b), Ok(p)) => {
            a.base = Some(total_of(&b));
            a.proposed = Some(total_of(&p));
            a.base_outcome = b.outcome;
            a.proposed_outcome = p.outcome;
            a.case = Some(case);
        }
        (Err(e), _) => a.error = Some(format!("base: {}", e.message)),
        (_, Err(e)) => a.error = Some(format!("proposed: {}", e.message)),
    }
    a
}

/// The case fields that name an account's class (Portland's, an OWRS file's).
const CLASS_FIELDS: [&str; 2] = ["account.class", "cust_class"];

/// The assistance status of an account with no low-income tier.
const NO_ASSISTANCE: &str = "none";

/// The outcome of a decision whose amounts alone were computed.
const COMPUTED: &str = "computed";

/// Where a decision's facts hold what the report groups accounts by.
struct Keys {
    id: Option<FieldId>,
    class: Option<FieldId>,
    tier: Option<FieldId>,
}

impl Keys {
    fn of(schema: &Schema) -> Keys {
        Keys {
            id: schema.field("account.id"),
            class: CLASS_FIELDS.iter().find_map(|p| schema.field(p)),
            tier: schema.field("account.low_income_tier"),
        }
    }
}

/// An account under both packs from a CSV record read straight into facts
/// for each pack's decision (their amounts alone; the case is made later
/// only for the accounts whose change is explained). `None` when a pack
/// needs the case itself (a scripted decision).
#[allow(clippy::too_many_arguments)]
fn amounts_both<'a>(
    (base, proposed): (&Engine, &Engine),
    decision: &str,
    as_of: Option<chrono::NaiveDate>,
    source: &Source,
    direct: &'a Both,
    (buf_base, buf_proposed): &mut (RowFacts, Option<RowFacts>),
    r: &RawRow,
) -> Option<Account<'a>> {
    let (row, id, fb) = source.facts(&direct.base, r, buf_base)?;
    // The proposal's facts, when its decision takes other inputs.
    let own = match (&direct.proposed, buf_proposed) {
        (Some(dp), Some(buf)) => Some(source.facts(dp, r, buf)?.2),
        _ => None,
    };
    let mut a = Account::at(row);
    let (fb, fp) = match (&fb, &own) {
        (Ok(b), None) => (b, b),
        (Ok(b), Some(Ok(p))) => (b, p),
        (Err(e), _) | (_, Some(Err(e))) => {
            a.error = Some(e.message.clone());
            return Some(a);
        }
    };
    let db = &direct.base;
    let keys = &direct.keys;
    a.id = keys.id.and_then(|f| db.text(fb, f)).or(id).map(Cow::into_owned);
    a.class = keys.class.and_then(|f| db.text(fb, f)).unwrap_or(Cow::Borrowed("-"));
    a.assistance = match keys.tier.and_then(|f| db.text(fb, f)) {
        Some(t) => Cow::Owned(format!("low-income tier {t}")),
        None => Cow::Borrowed(NO_ASSISTANCE),
    };
    let name = RowName(source.name(), row);
    let mut base_run = Recorder::for_amounts();
    let b = base.total(decision, &name, fb, as_of, &mut base_run, None)?;
    let reuse = match (&b, &direct.same) {
        (Ok(_), Some(same)) => Some(Reuse { same, base: &base_run }),
        _ => None,
    };
    let p = proposed.total(decision, &name, fp, as_of, &mut Recorder::for_amounts(), reuse)?;
    match (b, p) {
        (Ok(b), Ok(p)) => {
            a.base = Some(b.unwrap_or_default());
            a.proposed = Some(p.unwrap_or_default());
            a.base_outcome = Cow::Borrowed(COMPUTED);
            a.proposed_outcome = Cow::Borrowed(COMPUTED);
        }
        (Err(e), _) => a.error = Some(format!("base: {}", e.message)),
        (_, Err(e)) => a.error = Some(format!("proposed: {}", e.message)),
    }
    Some(a)
}

/// How the rows are read into facts for both packs: once, when their
/// decisions take the same inputs (`proposed` is then `None`).
struct Both<'a> {
    base: Direct<'a>,
    proposed: Option<Direct<'a>>,
    keys: Keys,
    /// The charges the proposal works out as the base does (facts read
    /// once): their lines are taken from the base's run, not worked out twice.
    same: Option<Vec<bool>>,
}

impl<'a> Account<'a> {
    fn at(row: usize) -> Account<'a> {
        Account {
            id: None,
            class: Cow::Borrowed(""),
            assistance: Cow::Borrowed(""),
            base: None,
            proposed: None,
            base_outcome: Cow::Borrowed(""),
            proposed_outcome: Cow::Borrowed(""),
            error: None,
            row,
            case: None,
        }
    }

    /// The account's id, or its row when it has none.
    fn id(&self) -> String {
        self.id.clone().unwrap_or_else(|| format!("row {}", self.row))
    }

    /// The account with its case, for explaining its change.
    fn with_case(mut self, source: &Source, r: &RawRow) -> Account<'a> {
        if self.case.is_none() {
            self.case = source.row(r).2.ok();
        }
        self
    }
}

/// Adds to a group's entry, made the first time the group is seen.
fn add_to<T: Default>(groups: &mut BTreeMap<String, T>, name: &str, add: impl FnOnce(&mut T)) {
    match groups.get_mut(name) {
        Some(g) => add(g),
        None => add(groups.entry(name.to_string()).or_default()),
    }
}

/// The report's figures as accounts are added, in input order.
struct Tally<'a> {
    impact: Impact,
    changes: Vec<Decimal>,
    /// The largest changes so far, with their cases (kept small).
    top: Vec<(Decimal, Account<'a>)>,
    /// The first accounts whose outcome changed.
    flipped: Vec<(Decimal, Account<'a>)>,
    /// The sum of the magnitudes of every amount added.
    magnitude: Decimal,
}

impl<'a> Tally<'a> {
    fn add(&mut self, accounts: Vec<Account<'a>>, chunk: &[RawRow], source: &Source) {
        let impact = &mut self.impact;
        for (a, r) in accounts.into_iter().zip(chunk) {
            impact.accounts += 1;
            let (Some(b), Some(p)) = (a.base, a.proposed) else {
                impact.errors += 1;
                if impact.error_rows.len() < 20 {
                    impact
                        .error_rows
                        .push((a.row, a.id(), a.error.clone().unwrap_or_default()));
                }
                continue;
            };
            // While the amounts' magnitudes add up within a decimal's 28
            // digits, so do every sum and difference below; an account
            // with absurd amounts that would take them beyond is reported.
            let Some(magnitude) = self.magnitude.checked_add(b.abs()).and_then(|m| m.checked_add(p.abs())) else {
                impact.errors += 1;
                if impact.error_rows.len() < 20 {
                    let why = "its amounts are too large to add up exactly (beyond 28 digits)";
                    impact.error_rows.push((a.row, a.id(), why.to_string()));
                }
                continue;
            };
            self.magnitude = magnitude;
            let d = p - b;
            let flip = a.base_outcome != a.proposed_outcome;
            let changed = flip || !d.is_zero();
            add_to(&mut impact.by_class, &a.class, |g| g.add(b, p, changed));
            add_to(&mut impact.by_assistance, &a.assistance, |g| g.add(b, p, changed));
            match d.cmp(&Decimal::ZERO) {
                std::cmp::Ordering::Greater => impact.pay_more += 1,
                std::cmp::Ordering::Less => impact.pay_less += 1,
                std::cmp::Ordering::Equal => impact.unchanged += 1,
            }
            if flip {
                *impact
                    .flips
                    .entry(format!("{} -> {}", a.base_outcome, a.proposed_outcome))
                    .or_default() += 1;
                if self.flipped.len() < 20 {
                    self.flipped.push((d, a.clone().with_case(source, r)));
                }
            }
            self.changes.push(d);
            add_to(&mut impact.changes_by_class, &a.class, |g| g.push(d));
            let top = &mut self.top;
            if !d.is_zero() && (top.len() < 10 || top.last().is_some_and(|(t, _)| d.abs() > t.abs())) {
                top.push((d, a.with_case(source, r)));
                top.sort_by(|x, y| y.0.abs().cmp(&x.0.abs()).then(x.1.row.cmp(&y.1.row)));
                top.truncate(10);
            }
        }
    }
}

/// Decides every account under both packs and summarises the change.
pub fn run<R: BufRead + Send>(
    base: &Engine,
    proposed: &Engine,
    decision: &str,
    as_of: Option<chrono::NaiveDate>,
    rows: Rows<R>,
) -> Impact {
    let impact = Impact {
        decision: decision.to_string(),
        base_pack: format!("{} {}", base.pack().ident.id, base.pack().ident.version),
        proposed_pack: format!("{} {}", proposed.pack().ident.id, proposed.pack().ident.version),
        accounts: 0,
        errors: 0,
        total: Group::default(),
        by_class: BTreeMap::new(),
        by_assistance: BTreeMap::new(),
        pay_more: 0,
        pay_less: 0,
        unchanged: 0,
        percentiles: Vec::new(),
        flips: BTreeMap::new(),
        flipped: Vec::new(),
        largest: Vec::new(),
        changes_by_class: BTreeMap::new(),
        error_rows: Vec::new(),
    };
    let (source, mut raw) = rows.split();
    let direct = match (base.schema(decision), proposed.schema(decision)) {
        (Some(b), Some(p)) => source.direct(b).zip(source.direct(p)).map(|(db, dp)| Both {
            keys: Keys::of(b),
            same: (b == p).then(|| base.same_charges(proposed, decision)).flatten(),
            proposed: (b != p).then_some(dp),
            base: db,
        }),
        _ => None,
    };
    // Each worker reads rows into its own facts for each pack.
    let buffers = || {
        direct
            .as_ref()
            .map(|d| (d.base.buffer(), d.proposed.as_ref().map(Direct::buffer)))
    };
    let decide = |bufs: &mut Option<(RowFacts, Option<RowFacts>)>, r: &RawRow| {
        direct
            .as_ref()
            .zip(bufs.as_mut())
            .and_then(|(d, b)| amounts_both((base, proposed), decision, as_of, &source, d, b, r))
            .unwrap_or_else(|| {
                let (row, _, case) = source.row(r);
                decide_both(base, proposed, decision, as_of, row, case)
            })
    };
    let mut tally = Tally {
        impact,
        changes: Vec::new(),
        top: Vec::new(),
        flipped: Vec::new(),
        magnitude: Decimal::ZERO,
    };
    // Reading the next chunk (into the buffers of the last one, once it is
    // added up) overlaps deciding this one.
    let mut current = Vec::with_capacity(CHUNK);
    raw.refill(&mut current, CHUNK);
    let mut upcoming: Vec<RawRow> = Vec::with_capacity(CHUNK);
    let mut decided: Option<Vec<Account>> = None;
    while !current.is_empty() {
        let previous = decided.take();
        let ((), accounts) = rayon::join(
            || {
                if let Some(accounts) = previous {
                    tally.add(accounts, &upcoming, &source);
                }
                raw.refill(&mut upcoming, CHUNK);
            },
            || current.par_iter().map_init(buffers, decide).collect::<Vec<_>>(),
        );
        // `upcoming` now holds the rows just decided, `current` the next.
        std::mem::swap(&mut current, &mut upcoming);
        decided = Some(accounts);
    }
    if let Some(accounts) = decided {
        tally.add(accounts, &upcoming, &source);
    }
    let Tally {
        mut impact,
        mut changes,
        top,
        flipped,
        ..
    } = tally;
    // Every decided account is in one class: the total is their sum.
    for g in impact.by_class.values_mut() {
        impact.total.merge(g);
        g.close();
    }
    impact.total.close();
    for g in impact.by_assistance.values_mut() {
        g.close();
    }
    changes.sort();
    impact.percentiles = [0u8, 1, 5, 25, 50, 75, 95, 99, 100]
        .iter()
        .filter_map(|p| {
            let n = changes.len();
            if n == 0 {
                return None;
            }
            let i = ((n - 1) * usize::from(*p)) / 100;
            changes.get(i).map(|v| (*p, *v))
        })
        .collect();
    impact.largest = top
        .into_iter()
        .map(|(d, a)| explain(base, proposed, decision, as_of, d, a))
        .collect();
    impact.flipped = flipped
        .into_iter()
        .map(|(d, a)| explain(base, proposed, decision, as_of, d, a))
        .collect();
    impact
}

/// What changed between a determination and the same case under a
/// proposal, and why: the outcome, the total, each line that moved, each
/// requirement met under one and not the other, and the figures read by
/// both with another value.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub base_pack: String,
    pub proposed_pack: String,
    pub base_outcome: String,
    pub proposed_outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_total: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed_total: Option<Decimal>,
    pub lines: Vec<String>,
    pub requirements: Vec<String>,
    pub figures: Vec<String>,
}

impl Comparison {
    pub fn of(b: &Determination, p: &Determination) -> Comparison {
        let sums = |det: &Determination| {
            let mut m: BTreeMap<String, Decimal> = BTreeMap::new();
            for l in &det.lines {
                *m.entry(l.id().to_string()).or_default() += l.amount;
            }
            m
        };
        let (sb, sp) = (sums(b), sums(p));
        let mut lines = Vec::new();
        for id in sb.keys().chain(sp.keys().filter(|k| !sb.contains_key(*k))) {
            let (x, y) = (
                sb.get(id).copied().unwrap_or_default(),
                sp.get(id).copied().unwrap_or_default(),
            );
            if x != y {
                lines.push(format!("{id}: {} -> {}", money_text(x), money_text(y)));
            }
        }
        let mut requirements = Vec::new();
        for r in &b.reasons {
            if let Some(q) = p.reasons.iter().find(|q| q.rule == r.rule)
                && q.passed != r.passed
            {
                let word = |passed: bool| if passed { "met" } else { "not met" };
                requirements.push(format!("{}: {} -> {}", r.rule, word(r.passed), word(q.passed)));
            }
        }
        let bv = serde_json::to_value(b).unwrap_or_default();
        let pv = serde_json::to_value(p).unwrap_or_default();
        Comparison {
            base_pack: format!("{} {}", b.pack.id, b.pack.version),
            proposed_pack: format!("{} {}", p.pack.id, p.pack.version),
            base_outcome: b.outcome.to_string(),
            proposed_outcome: p.outcome.to_string(),
            base_total: b.total,
            proposed_total: p.total,
            lines,
            requirements,
            figures: crate::replay::changed_figures(&bv, &pv),
        }
    }

    /// Text: why did this result change?
    pub fn text(&self) -> String {
        let mut o = String::new();
        let total = |t: Option<Decimal>| t.map(|t| format!(", total ${}", money_text(t))).unwrap_or_default();
        let _ = writeln!(
            o,
            "under {}: {}{}",
            self.base_pack,
            self.base_outcome,
            total(self.base_total)
        );
        let _ = writeln!(
            o,
            "under {}: {}{}",
            self.proposed_pack,
            self.proposed_outcome,
            total(self.proposed_total)
        );
        if self.lines.is_empty() && self.requirements.is_empty() && self.base_outcome == self.proposed_outcome {
            let _ = writeln!(o, "\nno change");
            return o;
        }
        for (title, list) in [
            ("lines that changed", &self.lines),
            ("requirements that changed", &self.requirements),
            ("because these figures changed", &self.figures),
        ] {
            if !list.is_empty() {
                let _ = writeln!(o, "\n{title}:");
                for l in list {
                    let _ = writeln!(o, "  - {l}");
                }
            }
        }
        o
    }
}

/// Why one account's result changed: its lines and the figures that moved.
fn explain(
    base: &Engine,
    proposed: &Engine,
    decision: &str,
    as_of: Option<chrono::NaiveDate>,
    d: Decimal,
    a: Account,
) -> Change {
    let mut change = Change {
        id: a.id(),
        class: a.class.to_string(),
        base: a.base.unwrap_or_default(),
        proposed: a.proposed.unwrap_or_default(),
        difference: d,
        outcome: (a.base_outcome != a.proposed_outcome)
            .then(|| format!("{} -> {}", a.base_outcome, a.proposed_outcome)),
        lines: Vec::new(),
        figures: Vec::new(),
    };
    let Some(case) = &a.case else { return change };
    let options = Options { as_of, trace: true };
    let (Ok(b), Ok(p)) = (
        base.decide(decision, case, &options),
        proposed.decide(decision, case, &options),
    ) else {
        return change;
    };
    let cmp = Comparison::of(&b, &p);
    change.lines = cmp.lines.into_iter().chain(cmp.requirements).collect();
    change.figures = cmp.figures;
    change
}

impl Impact {
    /// Markdown for the analyst's proposal.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "## Impact of {} against {} (`{}`)\n",
            self.proposed_pack, self.base_pack, self.decision
        );
        let _ = writeln!(
            o,
            "- accounts: {} ({} could not be decided)\n- affected: {}\n- pay more: {}, pay less: {}, unchanged: {}\n- revenue: ${} under the base, ${} under the proposal, difference {}\n",
            self.accounts,
            self.errors,
            self.total.affected,
            self.pay_more,
            self.pay_less,
            self.unchanged,
            money_text(self.total.base),
            money_text(self.total.proposed),
            signed(self.total.difference)
        );
        for (title, groups) in [("class", &self.by_class), ("assistance status", &self.by_assistance)] {
            let _ = writeln!(
                o,
                "### Revenue by {title}\n\n| {title} | accounts | affected | base | proposal | difference |\n|---|---:|---:|---:|---:|---:|"
            );
            for (k, g) in groups {
                let _ = writeln!(
                    o,
                    "| {k} | {} | {} | ${} | ${} | {} |",
                    g.accounts,
                    g.affected,
                    money_text(g.base),
                    money_text(g.proposed),
                    signed(g.difference)
                );
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(
            o,
            "### Bill changes (proposal minus base)\n\n| percentile | change |\n|---:|---:|"
        );
        for (p, v) in &self.percentiles {
            let _ = writeln!(o, "| {p} | {} |", signed(*v));
        }
        if !self.flips.is_empty() {
            let _ = writeln!(o, "\n### Outcomes that change\n\n| from -> to | accounts |\n|---|---:|");
            for (k, n) in &self.flips {
                let _ = writeln!(o, "| {k} | {n} |");
            }
        }
        if !self.flipped.is_empty() {
            let _ = writeln!(
                o,
                "\n### Accounts whose outcome changes\n\n| account | class | outcome | cause |\n|---|---|---|---|"
            );
            for c in &self.flipped {
                let cause = c.cause();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    c.id,
                    c.class,
                    c.outcome.as_deref().unwrap_or(""),
                    cause
                );
            }
        }
        if !self.largest.is_empty() {
            let _ = writeln!(
                o,
                "\n### Largest changes\n\n| account | class | base | proposal | change | cause |\n|---|---|---:|---:|---:|---|"
            );
            for c in &self.largest {
                let cause = c.cause();
                let _ = writeln!(
                    o,
                    "| {} | {} | ${} | ${} | {} | {} |",
                    c.id,
                    c.class,
                    money_text(c.base),
                    money_text(c.proposed),
                    signed(c.difference),
                    cause
                );
            }
        }
        if !self.error_rows.is_empty() {
            let _ = writeln!(o, "\n### Could not be decided (first {})\n", self.error_rows.len());
            for (row, id, e) in &self.error_rows {
                let _ = writeln!(o, "- row {row} ({id}): {}", e.replace('\n', " "));
            }
        }
        o
    }

    /// A self-contained HTML report (no network): the markdown's tables and
    /// two SVG charts, the histogram of bill changes by class and revenue by
    /// class under both packs.
    pub fn html(&self) -> String {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let mut o = String::new();
        let _ = write!(
            o,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Impact of {}</title><style>body{{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}table{{border-collapse:collapse;margin:1rem 0}}td,th{{border-bottom:1px solid #ccd;padding:.2rem .5rem;text-align:right}}td:first-child,th:first-child,td:last-child{{text-align:left}}svg text{{font:12px system-ui,sans-serif}}</style></head><body>",
            esc(&self.proposed_pack)
        );
        let _ = write!(
            o,
            "<h1>Impact of {} against {}</h1>",
            esc(&self.proposed_pack),
            esc(&self.base_pack)
        );
        let _ = write!(
            o,
            "<p id=\"summary\">{} accounts ({} not decided); {} affected; {} pay more, {} pay less. Revenue ${} under the base, ${} under the proposal: <strong>{}</strong>.</p>",
            self.accounts,
            self.errors,
            self.total.affected,
            self.pay_more,
            self.pay_less,
            money_text(self.total.base),
            money_text(self.total.proposed),
            signed(self.total.difference)
        );
        o.push_str("<h2>Bill changes by class</h2>");
        o.push_str(&self.histogram());
        o.push_str("<h2>Revenue by class</h2>");
        o.push_str(&self.revenue_chart());
        // The tables, from the markdown.
        o.push_str("<h2>Details</h2>");
        o.push_str(&markdown_tables_to_html(&self.markdown()));
        o.push_str("</body></html>\n");
        o
    }

    fn histogram(&self) -> String {
        let all: Vec<Decimal> = self.changes_by_class.values().flatten().copied().collect();
        let (Some(lo), Some(hi)) = (all.iter().min().copied(), all.iter().max().copied()) else {
            return "<p>No accounts.</p>".into();
        };
        let bins = 20usize;
        let width = if hi > lo {
            (hi - lo) / Decimal::from(bins)
        } else {
            Decimal::ONE
        };
        let colors = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1"];
        let mut counts: Vec<(String, Vec<usize>)> = Vec::new();
        for (class, v) in &self.changes_by_class {
            let mut c = vec![0usize; bins];
            for d in v {
                let i = if width.is_zero() {
                    0
                } else {
                    let bin = ((*d - lo) / width).floor();
                    bin.to_string().parse::<usize>().unwrap_or(0).min(bins - 1)
                };
                if let Some(slot) = c.get_mut(i) {
                    *slot += 1;
                }
            }
            counts.push((class.clone(), c));
        }
        let max = counts
            .iter()
            .flat_map(|(_, c)| c.iter())
            .max()
            .copied()
            .unwrap_or(1)
            .max(1);
        let (w, h, left, bottom) = (720.0, 260.0, 50.0, 40.0);
        let slot = (w - left) / bins as f64;
        let bar = slot / counts.len().max(1) as f64;
        let mut s = format!(
            "<svg id=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"Histogram of bill changes by class\">",
            h + bottom
        );
        for (k, (class, c)) in counts.iter().enumerate() {
            let color = colors.get(k % colors.len()).copied().unwrap_or("#333");
            for (i, n) in c.iter().enumerate() {
                let bh = h * (*n as f64) / max as f64;
                let x = left + i as f64 * slot + k as f64 * bar;
                let _ = write!(
                    s,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{class}: {n}</title></rect>",
                    h - bh,
                    bar.max(1.0) - 0.5
                );
            }
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{class}</text>",
                left + 10.0 + 110.0 * k as f64,
                14
            );
        }
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#333\"/><text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">bill change (USD)</text><text x=\"4\" y=\"20\">{max}</text></svg>",
            h + 16.0,
            signed(lo),
            w,
            h + 16.0,
            signed(hi),
            (w + left) / 2.0,
            h + 34.0
        );
        s
    }

    fn revenue_chart(&self) -> String {
        let max = self
            .by_class
            .values()
            .flat_map(|g| [g.base, g.proposed])
            .max()
            .unwrap_or(Decimal::ONE)
            .max(Decimal::ONE);
        let (w, row_h, left) = (720.0, 28.0, 120.0);
        let h = row_h * 2.0 * self.by_class.len() as f64 + 20.0;
        let mut s = format!(
            "<svg id=\"revenue\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Revenue by class under the base and the proposal\">"
        );
        let to_f = |d: Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
        for (i, (class, g)) in self.by_class.iter().enumerate() {
            let y = i as f64 * row_h * 2.0;
            for (j, (label, v, color)) in [("base", g.base, "#a0aec0"), ("proposal", g.proposed, "#2b6cb0")]
                .iter()
                .enumerate()
            {
                let bw = (w - left - 120.0) * to_f(*v) / to_f(max);
                let yy = y + j as f64 * row_h;
                let _ = write!(
                    s,
                    "<rect class=\"bar\" x=\"{left}\" y=\"{yy:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{class} {label}: ${}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">${}</text>",
                    row_h - 6.0,
                    money_text(*v),
                    left + bw + 4.0,
                    yy + row_h / 2.0 + 2.0,
                    money_text(*v)
                );
            }
            let _ = write!(s, "<text x=\"4\" y=\"{:.1}\">{class}</text>", y + row_h);
        }
        s.push_str("</svg>");
        s
    }
}

fn signed(d: Decimal) -> String {
    if d.is_sign_negative() && !d.is_zero() {
        format!("-${}", money_text(-d))
    } else {
        format!("+${}", money_text(d))
    }
}

/// The markdown report's headings, lists and pipe tables as HTML.
fn markdown_tables_to_html(md: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut o = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            if t.contains("---") {
                continue;
            }
            if !in_table {
                o.push_str("<table>");
                in_table = true;
            }
            o.push_str("<tr>");
            for cell in t.trim_matches('|').split(" | ") {
                let _ = write!(o, "<td>{}</td>", esc(cell.trim().replace("\\|", "|").as_str()));
            }
            o.push_str("</tr>");
            continue;
        }
        if in_table {
            o.push_str("</table>");
            in_table = false;
        }
        if let Some(h) = t.strip_prefix("### ") {
            let _ = write!(o, "<h3>{}</h3>", esc(h));
        } else if let Some(h) = t.strip_prefix("## ") {
            let _ = write!(o, "<h2>{}</h2>", esc(h));
        } else if let Some(li) = t.strip_prefix("- ") {
            let _ = write!(o, "<p>{}</p>", esc(li));
        }
    }
    if in_table {
        o.push_str("</table>");
    }
    o
}
