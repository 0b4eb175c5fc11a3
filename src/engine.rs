//! The engine: one per pack, built once (charges compiled, scripts compiled
//! to ASTs), then `decide` is a pure function of (decision, case, options).

use crate::case::{Case, Fact, Facts, FieldId, Schema};
use crate::charges::{self, Charge};
use crate::dates::{Period, parse_date};
use crate::determination::{Borrow, Determination, Keep, Recorder};
use crate::error::{Error, ErrorKind, Location, MissingFigure, Result};
use crate::pack::{DecisionSource, Pack};
use crate::params::Override;
use crate::script;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The date the determination is made as of; defaults to the case's
    /// `as_of`, then to the decision's default date (a bill: the period end).
    pub as_of: Option<NaiveDate>,
    /// Record the explanation trace (on by default; off costs nothing).
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            as_of: None,
            trace: true,
        }
    }
}

/// A determination's amounts alone (see `Engine::amounts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Amounts {
    pub total: Option<Decimal>,
    /// Each column's line amount (`LineColumns`), `None` where the decision
    /// has no such line: a charge's parts summed; a formula line's exact
    /// value, rounded when it is written.
    pub lines: smallvec::SmallVec<[Option<Decimal>; 8]>,
    /// The first text the decision echoes (an account id).
    pub id: Option<String>,
}

/// A declarative decision, compiled.
#[derive(Debug)]
pub struct Declarative {
    pub title: String,
    pub schema: Schema,
    pub period: FieldId,
    pub as_of: AsOf,
    pub charges: Vec<Charge>,
    pub cite: Option<Arc<str>>,
    /// Text inputs copied into the outputs, by path.
    pub echo: Vec<(Arc<str>, FieldId)>,
}

/// Where a declarative decision's default as-of date comes from.
#[derive(Debug, Clone, Copy)]
pub enum AsOf {
    PeriodEnd(FieldId),
    PeriodStart(FieldId),
    Date(FieldId),
    Required,
}

enum Compiled {
    Declarative(Arc<Declarative>),
    /// Named formulas over inputs and parameters (an imported rate file).
    Formulas(Arc<crate::formulas::Formulas>),
    /// A rhai script; with a definition, its case is checked against the
    /// inputs and the script gets typed facts.
    Script {
        file: String,
        ast: rhai::AST,
        schema: Option<(Schema, Option<FieldId>)>,
    },
}

/// The declarative decisions of a pack, by name: what a rule may evaluate
/// (a bill under corrected facts).
pub type Declaratives = BTreeMap<String, Arc<Declarative>>;

/// An engine for one pack.
pub struct Engine {
    pack: Arc<Pack>,
    rhai: rhai::Engine,
    decisions: BTreeMap<String, (Arc<str>, Compiled)>,
    declaratives: Arc<Declaratives>,
    /// Figures supplied for this engine (`--set`), as `PARAM[KEY]@DATE=VALUE`.
    overrides: Arc<[String]>,
    /// The figures as known on this date (`--known-at`), if not the latest.
    known_at: Option<NaiveDate>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pack", &self.pack.ident).finish()
    }
}

impl Engine {
    /// Compiles every decision of the pack.
    pub fn new(pack: Pack) -> Result<Engine> {
        let rhai = script::engine(&pack.limits);
        let mut decisions = BTreeMap::new();
        let mut declaratives = Declaratives::new();
        for (name, src) in &pack.decisions {
            let compiled = match src {
                DecisionSource {
                    script: Some((file, text)),
                    def,
                } => Compiled::Script {
                    file: file.clone(),
                    ast: script::compile(&rhai, file, text)?,
                    schema: def
                        .as_ref()
                        .map(|(f, d)| compile_script_inputs(&pack, f, d))
                        .transpose()?,
                },
                DecisionSource {
                    script: None,
                    def: Some((file, def)),
                } if def.formulas.is_some() => match &def.formulas {
                    Some(raw) => Compiled::Formulas(Arc::new(crate::formulas::compile(&pack, file, def, raw)?)),
                    None => continue,
                },
                DecisionSource {
                    script: None,
                    def: Some((file, def)),
                } => {
                    let d = Arc::new(compile_declarative(&pack, file, def)?);
                    declaratives.insert(name.clone(), d.clone());
                    Compiled::Declarative(d)
                }
                DecisionSource {
                    script: None,
                    def: None,
                } => continue,
            };
            decisions.insert(name.clone(), (Arc::from(name.as_str()), compiled));
        }
        Ok(Engine {
            pack: Arc::new(pack),
            rhai,
            decisions,
            declaratives: Arc::new(declaratives),
            overrides: Arc::from([]),
            known_at: None,
        })
    }

    /// An engine over the pack with figures supplied for this evaluation
    /// (`--set`); each supplied figure is flagged in determinations.
    pub fn with_overrides(pack: Pack, overrides: &[Override]) -> Result<Engine> {
        let mut pack = pack;
        for o in overrides {
            pack.params.supply(o)?;
        }
        let mut engine = Engine::new(pack)?;
        engine.overrides = overrides.iter().map(|o| o.to_string()).collect();
        Ok(engine)
    }

    /// An engine over the figures of `pack` as known on `date`: values
    /// adopted later (retroactive changes) are set aside, so a determination
    /// made before them can be made again.
    pub fn known_at(pack: Pack, overrides: &[Override], date: NaiveDate) -> Result<Engine> {
        let mut pack = pack;
        pack.params.known_at(date);
        let mut engine = Engine::with_overrides(pack, overrides)?;
        engine.known_at = Some(date);
        Ok(engine)
    }

    /// The figures supplied for this engine (`--set`).
    pub fn overrides(&self) -> &[String] {
        &self.overrides
    }

    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    pub fn decision_names(&self) -> impl Iterator<Item = &str> {
        self.decisions.keys().map(String::as_str)
    }

    /// The declarative form of a decision, if it is one.
    pub fn declarative(&self, name: &str) -> Option<&Declarative> {
        match &self.decisions.get(name)?.1 {
            Compiled::Declarative(d) => Some(d),
            Compiled::Script { .. } | Compiled::Formulas(_) => None,
        }
    }

    /// The formula form of a decision, if it is one.
    pub fn formulas(&self, name: &str) -> Option<&crate::formulas::Formulas> {
        match &self.decisions.get(name)?.1 {
            Compiled::Formulas(f) => Some(f),
            Compiled::Script { .. } | Compiled::Declarative(_) => None,
        }
    }

    /// Checks the pack has the decision; the error names those it has.
    pub fn check_decision_name(&self, decision: &str) -> Result<()> {
        if self.decisions.contains_key(decision) {
            return Ok(());
        }
        Err(self.unknown_decision(decision))
    }

    fn unknown_decision(&self, decision: &str) -> Error {
        let known: Vec<&str> = self.decision_names().collect();
        let near = known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, decision), *k))
            .filter(|(s, _)| *s > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!("did you mean `{k}`? "))
            .unwrap_or_default();
        Error::input(
            "ratebook::decision::unknown",
            format!("the pack `{}` has no decision `{decision}`", self.pack.ident.id),
        )
        .at(Location::field("<arguments>", "decision"))
        .with_help(format!("{near}decisions in this pack: {}", known.join(", ")))
    }

    /// The input schema of a decision made without a script (charges or
    /// formulas): what `amounts` takes.
    pub fn schema(&self, decision: &str) -> Option<&Schema> {
        match &self.decisions.get(decision)?.1 {
            Compiled::Declarative(d) => Some(&d.schema),
            Compiled::Formulas(f) => Some(&f.schema),
            Compiled::Script { .. } => None,
        }
    }

    /// The amounts of a determination from facts checked against
    /// `schema(decision)` (a batch row read straight into facts): the total
    /// and each line's amount, for a CSV. The same evaluation as `decide`,
    /// recording nothing else (no trace, reasons or warnings). `None` for
    /// a scripted decision, which needs the case itself.
    pub fn amounts(
        &self,
        decision: &str,
        case_name: &dyn std::fmt::Display,
        facts: &Facts,
        as_of: Option<NaiveDate>,
        columns: &LineColumns,
    ) -> Option<Result<Amounts>> {
        let mut rec = Recorder::for_amounts();
        let run = self.run_facts(decision, case_name, facts, as_of, &mut rec, None)?;
        Some(run.and_then(|formulas| {
            let mut lines: smallvec::SmallVec<[Option<Decimal>; 8]> = smallvec::smallvec![None; columns.ids.len()];
            let mut fits = true;
            let mut add = |column: Option<usize>, amount: Decimal| {
                if let Some(slot) = column.and_then(|c| lines.get_mut(c)) {
                    // A column's first amount is taken as it is (most
                    // have one); later parts of a split add to it.
                    *slot = match *slot {
                        None if fits => Some(amount),
                        other => other.and_then(|s| s.checked_add(amount)),
                    };
                    fits &= slot.is_some();
                }
            };
            let total = match formulas {
                Some(f) => {
                    for (id, amount) in f.lines {
                        add(columns.ids.iter().position(|x| **x == *id), amount);
                    }
                    f.total
                }
                None => Some(rec.total().ok_or_else(|| too_large(case_name))?),
            };
            for t in &rec.tallied {
                add(columns.by_charge.get(t.charge).copied().flatten(), t.amount);
            }
            for l in &rec.lines {
                add(columns.ids.iter().position(|x| **x == *l.text.id), l.amount);
            }
            if !fits {
                return Err(too_large(case_name));
            }
            let id = rec.outputs.iter().find_map(|(_, v)| v.as_str().map(str::to_string));
            Ok(Amounts { total, lines, id })
        }))
    }

    /// Where `decision`'s lines go among the columns `ids` (line ids), for
    /// `amounts`: found once for a run, not by name for every row.
    pub fn line_columns(&self, decision: &str, ids: &[String]) -> LineColumns {
        let by_charge = match self.decisions.get(decision) {
            Some((_, Compiled::Declarative(d))) => d
                .charges
                .iter()
                .map(|c| ids.iter().position(|x| **x == *c.id))
                .collect(),
            _ => Vec::new(),
        };
        LineColumns {
            ids: ids.to_vec(),
            by_charge,
        }
    }

    /// The total alone of `amounts` (an impact run's), without gathering
    /// each line's amount, into an amounts recorder (which the caller may
    /// keep for a proposal's run to `reuse`).
    #[cfg(feature = "batch")]
    pub(crate) fn total<'e>(
        &'e self,
        decision: &str,
        case_name: &dyn std::fmt::Display,
        facts: &Facts,
        as_of: Option<NaiveDate>,
        rec: &mut Recorder<'e>,
        reuse: Option<Reuse>,
    ) -> Option<Result<Option<Decimal>>> {
        let run = self.run_facts(decision, case_name, facts, as_of, rec, reuse)?;
        Some(run.and_then(|formulas| match formulas {
            Some(f) => Ok(f.total),
            None => rec.total().map(Some).ok_or_else(|| too_large(case_name)),
        }))
    }

    /// For each charge of `decision`, whether `other` (a proposal's engine)
    /// works it out exactly as this one does from the same facts: the same
    /// definition and inputs, reading the same figures, and for a charge on
    /// earlier lines, those lines' charges the same too. `None` unless both
    /// decide by the same list of charges.
    #[cfg(feature = "batch")]
    pub(crate) fn same_charges(&self, other: &Engine, decision: &str) -> Option<Vec<bool>> {
        let (Some((_, Compiled::Declarative(a))), Some((_, Compiled::Declarative(b)))) =
            (self.decisions.get(decision), other.decisions.get(decision))
        else {
            return None;
        };
        let ids = |d: &Declarative| d.charges.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        if a.schema != b.schema || ids(a) != ids(b) {
            return None;
        }
        fn figures<'e>(c: &Charge, e: &'e Engine) -> Vec<Option<&'e crate::params::Parameter>> {
            charges::reads(c).into_iter().map(|id| e.pack.params.get(id)).collect()
        }
        let mut same: Vec<bool> = Vec::with_capacity(a.charges.len());
        for (x, y) in a.charges.iter().zip(&b.charges) {
            let (fx, fy) = (figures(x, self), figures(y, other));
            let earlier = match &x.quantity {
                charges::Qty::Lines(_, at) => at.iter().all(|i| same.get(*i) == Some(&true)),
                _ => true,
            };
            same.push(
                earlier
                    && self.pack.charges.get(&*x.id).map(|r| &r.1) == other.pack.charges.get(&*y.id).map(|r| &r.1)
                    && fx.len() == fy.len()
                    && fx.iter().zip(&fy).all(|(p, q)| match (p, q) {
                        (Some(p), Some(q)) => p.same_figures(q),
                        _ => false,
                    }),
            );
        }
        Some(same)
    }

    /// Runs a decision on checked facts into an amounts recorder: a formula
    /// decision's run, or `None` for charges, whose lines are in the
    /// recorder. A figure the facts miss is an error. `None` for a
    /// scripted decision, which needs the case itself.
    fn run_facts<'e>(
        &'e self,
        decision: &str,
        case_name: &dyn std::fmt::Display,
        facts: &Facts,
        as_of: Option<NaiveDate>,
        rec: &mut Recorder<'e>,
        reuse: Option<Reuse>,
    ) -> Option<Result<Option<crate::formulas::Evaluated>>> {
        let (name, compiled) = self.decisions.get(decision)?;
        let run = match compiled {
            Compiled::Declarative(d) => {
                run_declarative_facts::<Borrow>(&self.pack, d, case_name, facts, as_of, rec, reuse).map(|_| None)
            }
            Compiled::Formulas(f) => f.run_facts(&self.pack, case_name, facts, as_of, rec).map(Some),
            Compiled::Script { .. } => return None,
        };
        Some(run.and_then(|r| match rec.missing.is_empty() {
            true => Ok(r),
            false => Err(missing_error(name, std::mem::take(&mut rec.missing))),
        }))
    }

    /// Makes a determination.
    pub fn decide(&self, decision: &str, case: &Case, options: &Options) -> Result<Determination<'_>> {
        let Some((name, compiled)) = self.decisions.get(decision) else {
            return Err(self.unknown_decision(decision));
        };
        let mut det = match compiled {
            Compiled::Declarative(d) => self.decide_declarative(name, d, case, options),
            Compiled::Formulas(f) => self.decide_formulas(name, f, case, options),
            Compiled::Script { file, ast, schema } => {
                self.decide_script(name, file, ast, schema.as_ref(), case, options)
            }
        }?;
        det.case = Some(Arc::clone(&case.value));
        det.known_at = self.known_at;
        Ok(det)
    }

    fn decide_declarative<'e>(
        &'e self,
        name: &'e Arc<str>,
        d: &'e Declarative,
        case: &Case,
        options: &Options,
    ) -> Result<Determination<'e>> {
        let mut rec = Recorder::new(options.trace);
        let as_of = run_declarative::<Borrow>(&self.pack, d, case, options.as_of, &mut rec)?;
        if !rec.missing.is_empty() {
            return Err(missing_error(name, rec.missing));
        }
        let total = rec.total().ok_or_else(|| too_large(&case.name))?;
        Ok(rec.finish(name, &self.pack.ident, as_of, Some(total), &self.overrides))
    }

    fn decide_formulas<'e>(
        &'e self,
        name: &'e Arc<str>,
        f: &crate::formulas::Formulas,
        case: &Case,
        options: &Options,
    ) -> Result<Determination<'e>> {
        let mut rec = Recorder::new(options.trace);
        let run = f.run(&self.pack, case, options.as_of, &mut rec)?;
        if !rec.missing.is_empty() {
            return Err(missing_error(name, rec.missing));
        }
        Ok(rec.finish(name, &self.pack.ident, run.as_of, run.total, &self.overrides))
    }

    fn decide_script<'e>(
        &'e self,
        name: &'e Arc<str>,
        file: &str,
        ast: &rhai::AST,
        schema: Option<&(Schema, Option<FieldId>)>,
        case: &Case,
        options: &Options,
    ) -> Result<Determination<'e>> {
        let (facts, case_as_of, default_as_of) = match schema {
            Some((schema, as_of_field)) => {
                let mut checked = Facts::default();
                let case_as_of = schema.check_into(case, &mut checked)?;
                let default = as_of_field.and_then(|f| match checked.get(f) {
                    Fact::Date(d) => Some(*d),
                    _ => None,
                });
                (script::facts_value(schema, &checked), case_as_of, default)
            }
            None => {
                // No schema checks the case: its `as_of` is checked here.
                let case_as_of = case.as_of();
                if let Some(v) = case.value.get("as_of")
                    && case_as_of.is_none()
                {
                    return Err(Error::input(
                        "ratebook::case::bad_date",
                        format!("{}: `as_of: {v}` is not a real date (YYYY-MM-DD)", case.name),
                    )
                    .at(Location::field(case.name.clone(), "as_of")));
                }
                (script::from_json(&case.value), case_as_of, None)
            }
        };
        let as_of = options.as_of.or(case_as_of).or(default_as_of).ok_or_else(|| {
            Error::input(
                "ratebook::case::no_as_of",
                "give the date of the determination with --as-of or `as_of:` in the case",
            )
        })?;
        let state = script::ScriptState {
            pack: self.pack.clone(),
            declaratives: self.declaratives.clone(),
            as_of,
            rec: Recorder::new(options.trace),
        };
        let (rec, result) = script::run(&self.rhai, ast, file, facts, state);
        if !rec.missing.is_empty() {
            return Err(missing_error(name, rec.missing));
        }
        result?;
        if rec.outcome.is_none() {
            return Err(Error::pack(
                "ratebook::rule::no_outcome",
                format!("{file}: the decision ended without calling outcome(...)"),
            )
            .at(Location::file(file)));
        }
        let total = match rec.lines.is_empty() {
            true => None,
            false => Some(rec.total().ok_or_else(|| too_large(&case.name))?),
        };
        Ok(rec.finish(name, &self.pack.ident, as_of, total, &self.overrides))
    }
}

/// Evaluates a declarative decision into `rec`: checks the case, resolves
/// the as-of date (returned), adds every charge's lines and reasons. Missing
/// figures are left in `rec.missing` for the caller to report.
///
/// `K` says how the determination keeps the pack's texts (borrowed, or
/// shared for a rule script's recorder).
pub fn run_declarative<'s, 'p, K: Keep<'s, 'p>>(
    pack: &'s Pack,
    d: &'s Declarative,
    case: &Case,
    as_of: Option<NaiveDate>,
    rec: &mut Recorder<'p>,
) -> Result<NaiveDate> {
    let mut facts = Facts::default();
    let case_as_of = d.schema.check_into(case, &mut facts)?;
    run_declarative_facts::<K>(pack, d, &case.name.as_str(), &facts, as_of.or(case_as_of), rec, None)
}

/// The line columns of a batch's CSV (`Engine::line_columns`): their ids,
/// and the column of each of a declarative decision's charges.
pub struct LineColumns {
    ids: Vec<String>,
    by_charge: Vec<Option<usize>>,
}

impl LineColumns {
    /// How many columns.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The error for a total beyond a decimal's 28 digits (absurd figures).
fn too_large(case_name: &dyn std::fmt::Display) -> Error {
    Error::input(
        "ratebook::case::out_of_range",
        format!(
            "{case_name}: the total of the lines is too large to compute exactly (beyond 28 digits); check the figures and quantities it uses"
        ),
    )
}

/// Lines a proposal's amounts take from the base's (an impact run, the
/// same facts): the charges both work out alike (`Engine::same_charges`)
/// and the base's recorder, which holds their amounts.
#[derive(Clone, Copy)]
pub(crate) struct Reuse<'a> {
    pub same: &'a [bool],
    pub base: &'a Recorder<'a>,
}

/// `run_declarative` on checked facts.
fn run_declarative_facts<'s, 'p, K: Keep<'s, 'p>>(
    pack: &'s Pack,
    d: &'s Declarative,
    case_name: &dyn std::fmt::Display,
    facts: &Facts,
    as_of: Option<NaiveDate>,
    rec: &mut Recorder<'p>,
    reuse: Option<Reuse>,
) -> Result<NaiveDate> {
    let Fact::Period(period) = *facts.get(d.period) else {
        return Err(Error::input(
            "ratebook::case::missing_field",
            format!("{case_name}: the service period is required"),
        ));
    };
    let as_of = as_of.or(match d.as_of {
        AsOf::PeriodEnd(_) => Some(period.to),
        AsOf::PeriodStart(_) => Some(period.from),
        AsOf::Date(f) => match facts.get(f) {
            Fact::Date(x) => Some(*x),
            _ => None,
        },
        AsOf::Required => None,
    });
    let as_of = as_of.ok_or_else(|| {
        Error::input(
            "ratebook::case::no_as_of",
            "give the date of the determination with --as-of or `as_of:` in the case",
        )
    })?;
    for c in &d.charges {
        match reuse {
            Some(r) if rec.amounts_only() && r.same.get(c.index) == Some(&true) => {
                let lines = r.base.tallied.iter().filter(|t| t.charge == c.index);
                rec.tallied.extend(lines.copied());
            }
            _ => charges::evaluate::<K>(c, facts, period, &pack.params, rec),
        }
    }
    if !rec.overflow.is_empty() {
        return Err(Error::input(
            "ratebook::case::out_of_range",
            format!("{case_name}: {}", rec.overflow.join("; ")),
        )
        .at(Location::file(case_name.to_string())));
    }
    if !rec.absent.is_empty() {
        return Err(Error::input(
            "ratebook::case::missing_field",
            format!("{case_name}: {}", rec.absent.join("; ")),
        )
        .at(Location::file(case_name.to_string())));
    }
    if rec.missing.is_empty() && !rec.amounts_only() {
        proration_reason(d, period, rec);
        for (path, f) in &d.echo {
            if let Some(t) = facts.get(*f).text() {
                rec.outputs
                    .insert(path.clone(), serde_json::Value::String(t.to_string()));
            }
        }
    }
    Ok(as_of)
}

/// States, once, that the period was split where rates changed.
fn proration_reason(d: &Declarative, period: Period, rec: &mut Recorder) {
    let mut cuts: Vec<NaiveDate> = rec.lines.iter().map(|l| l.from).filter(|f| *f > period.from).collect();
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.is_empty() {
        return;
    }
    let dates = cuts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
    let text = format!(
        "Rates changed on {dates} during the service period {} to {} ({} days); each charge is split by days and each part is charged at the rate in force, usage shared in proportion to days.",
        period.from,
        period.to,
        period.days()
    );
    let cite = d.cite.clone().unwrap_or_else(|| Arc::from(""));
    rec.reason(Arc::from("proration"), true, Arc::from(text.as_str()), cite);
}

/// Checks a scripted decision's definition: inputs, a citation and the date
/// input that is the default as-of date; no charges or period (those belong
/// to declarative decisions).
fn compile_script_inputs(
    pack: &Pack,
    file: &str,
    def: &crate::pack::format::RawDecision,
) -> Result<(Schema, Option<FieldId>)> {
    let bad = |m: String| Error::pack("ratebook::pack::bad_decision", format!("{file}: {m}")).at(Location::file(file));
    if def.period.is_some() || !def.charges.is_empty() || !def.echo.is_empty() {
        return Err(bad(
            "a decision with a rhai script takes `title`, `description`, `inputs` and `cite` here; `period`, `charges` and `echo` are for declarative decisions".into(),
        ));
    }
    if let Some(c) = &def.cite
        && !pack.citations.contains_key(c)
    {
        return Err(bad(format!("citation `{c}` is not in citations.yaml")));
    }
    let schema = Schema::compile(file, &def.inputs)?;
    let as_of = match def.as_of.as_deref() {
        Some(p) => Some(
            schema
                .field(p)
                .filter(|f| schema.is_date(*f) && !schema.is_period(*f))
                .ok_or_else(|| bad(format!("`as_of: {p}` is not a date input")))?,
        ),
        None => None,
    };
    Ok((schema, as_of))
}

fn missing_error(decision: &str, missing: Vec<MissingFigure>) -> Error {
    let list = missing
        .iter()
        .map(|m| format!("  - {m}"))
        .collect::<Vec<_>>()
        .join("\n");
    let example = missing
        .first()
        .map(|m| {
            format!(
                "--set '{}{}@{}=VALUE'",
                m.param,
                m.key.as_ref().map(|k| format!("[{k}]")).unwrap_or_default(),
                m.date
            )
        })
        .unwrap_or_default();
    let mut err = Error::new(
        ErrorKind::MissingFigures,
        "ratebook::params::unknown_value",
        format!("the `{decision}` determination needs {} figure(s) this pack does not have:\n{list}", missing.len()),
    )
    .with_help(format!("supply each figure with {example}, or with an overlay pack (`extends: portland`) that gives the published value"));
    err.missing = missing;
    err
}

/// Compiles one decision of `pack` on its own (for `check`): every problem
/// its definition, charges or script has that the first one would hide.
pub fn check_decision(pack: &Pack, rhai: &rhai::Engine, src: &DecisionSource) -> Result<()> {
    if let Some((file, text)) = &src.script {
        script::compile(rhai, file, text)?;
        if let Some((f, d)) = &src.def {
            compile_script_inputs(pack, f, d)?;
        }
    } else if let Some((file, def)) = &src.def {
        match &def.formulas {
            Some(raw) => {
                crate::formulas::compile(pack, file, def, raw)?;
            }
            None => {
                compile_declarative(pack, file, def)?;
            }
        }
    }
    Ok(())
}

fn compile_declarative(pack: &Pack, file: &str, def: &crate::pack::format::RawDecision) -> Result<Declarative> {
    let schema = Schema::compile(file, &def.inputs)?;
    let bad = |m: String| Error::pack("ratebook::pack::bad_decision", format!("{file}: {m}")).at(Location::file(file));
    let period_path = def.period.as_deref().ok_or_else(|| {
        bad("a declarative decision needs `period:` (the service-period input); a decision with logic has a decisions/<name>.rhai script".into())
    })?;
    let period = schema
        .field(period_path)
        .filter(|f| schema.is_period(*f))
        .ok_or_else(|| bad(format!("`period: {period_path}` is not a period input")))?;
    let as_of = match def.as_of.as_deref() {
        None => AsOf::Required,
        Some(p) => {
            if let Some(base) = p
                .strip_suffix(".to")
                .and_then(|b| schema.field(b))
                .filter(|f| schema.is_period(*f))
            {
                AsOf::PeriodEnd(base)
            } else if let Some(base) = p
                .strip_suffix(".from")
                .and_then(|b| schema.field(b))
                .filter(|f| schema.is_period(*f))
            {
                AsOf::PeriodStart(base)
            } else if let Some(f) = schema.field(p).filter(|f| schema.is_date(*f)) {
                AsOf::Date(f)
            } else {
                return Err(bad(format!("`as_of: {p}` is not a date input or a period's from/to")));
            }
        }
    };
    if let Some(c) = &def.cite
        && !pack.citations.contains_key(c)
    {
        return Err(bad(format!("citation `{c}` is not in citations.yaml")));
    }
    let charges = charges::compile(pack, &schema, file, &def.charges)?;
    let mut echo = Vec::new();
    for path in &def.echo {
        let f = schema
            .field(path)
            .ok_or_else(|| bad(format!("`echo: {path}` is not an input")))?;
        echo.push((Arc::from(path.as_str()), f));
    }
    Ok(Declarative {
        title: def.title.clone(),
        schema,
        period,
        as_of,
        charges,
        cite: def.cite.as_deref().map(Arc::from),
        echo,
    })
}

/// Parses `--set` text: `PARAM=VALUE`, `PARAM[KEY]=VALUE`, `PARAM@DATE=VALUE`.
pub fn parse_override(text: &str) -> Result<Override> {
    let bad = || {
        Error::input(
            "ratebook::cli::bad_set",
            format!("`--set {text}` is not PARAM=VALUE, PARAM[KEY]=VALUE or PARAM[KEY]@DATE=VALUE"),
        )
        .with_help("example: --set 'water.base_per_day[quarterly]@2024-07-01=0.7500'")
    };
    let (lhs, value) = text.split_once('=').ok_or_else(bad)?;
    let value = crate::money::parse_decimal(value).ok_or_else(bad)?;
    let (lhs, from) = match lhs.split_once('@') {
        Some((l, d)) => (l, Some(parse_date(d).ok_or_else(bad)?)),
        None => (lhs, None),
    };
    let (param, key) = match lhs.split_once('[') {
        Some((p, rest)) => (p, Some(rest.strip_suffix(']').ok_or_else(bad)?.to_string())),
        None => (lhs, None),
    };
    if param.is_empty() {
        return Err(bad());
    }
    Ok(Override {
        param: param.to_string(),
        key,
        from,
        value,
    })
}

#[cfg(all(test, feature = "batch"))]
mod tests {
    use super::*;

    fn portland(set: &[&str]) -> Option<Engine> {
        let overrides: Vec<Override> = set.iter().filter_map(|s| parse_override(s).ok()).collect();
        Engine::with_overrides(Pack::portland().ok()?, &overrides).ok()
    }

    /// A charge is the same only when nothing it reads changed; a credit on
    /// a changed line is not, and a pack compared with itself is all same.
    #[test]
    fn same_charges_are_those_nothing_changed_for() {
        let (Some(base), Some(storm)) = (portland(&[]), portland(&["stormwater.rate[residential]@2023-07-01=15"]))
        else {
            panic!("the Portland pack compiles");
        };
        let ids: Vec<String> = base
            .declarative("bill")
            .map(|d| d.charges.iter().map(|c| c.id.to_string()).collect())
            .unwrap_or_default();
        let differing = |other: &Engine| -> Vec<String> {
            let same = base.same_charges(other, "bill").unwrap_or_default();
            ids.iter()
                .zip(same)
                .filter(|(_, s)| !s)
                .map(|(id, _)| id.clone())
                .collect()
        };
        assert!(differing(&base).is_empty());
        assert_eq!(differing(&storm), ["stormwater", "discount.clean_river_rewards"]);
        assert_eq!(base.same_charges(&storm, "due_dates"), None, "a scripted decision");
    }
}
