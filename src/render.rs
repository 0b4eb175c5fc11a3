//! Renders a determination for people: plain text for a terminal, markdown
//! for tickets and reports, and a letter for the customer. JSON is the
//! determination's own serialization (see `determination`). Pure.

use crate::determination::{Determination, Event};
use crate::money::money_text;
use crate::pack::Pack;
use std::fmt::Write;

/// Output formats of `decide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Markdown,
    Letter,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "text" => Some(Format::Text),
            "markdown" | "md" => Some(Format::Markdown),
            "letter" => Some(Format::Letter),
            _ => None,
        }
    }
}

/// Renders in the given format.
pub fn render(d: &Determination, pack: &Pack, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = d.to_json_string();
            s.push('\n');
            s
        }
        Format::Text => text(d, pack),
        Format::Markdown => markdown(d, pack),
        Format::Letter => letter(d, pack),
    }
}

fn cite_text(pack: &Pack, id: &str) -> String {
    match pack.citation(id) {
        Some(c) if !id.is_empty() => format!("{id}: {}", c.title),
        _ => id.to_string(),
    }
}

fn header(d: &Determination) -> String {
    let short = d.pack.digest.get(..19).unwrap_or(&d.pack.digest);
    format!(
        "{} for pack {} {} ({short}…), as of {}: {}",
        d.decision, d.pack.id, d.pack.version, d.as_of, d.outcome
    )
}

/// Sources of the figures used, from the trace (one per parameter value).
fn sources(d: &Determination) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &d.trace {
        if let Event::Param(r) = &s.event {
            let k = r.key_name().map(|k| format!("[{k}]")).unwrap_or_default();
            let (from, source, formula) = match r.dated() {
                Some(d) => (
                    d.from.to_string(),
                    d.source.to_string(),
                    d.formula.as_deref().map(|f| format!("; formula: {f}")),
                ),
                None => (String::new(), String::new(), None),
            };
            let line = format!(
                "{}{k} = {} {} from {from} ({}): {source}{}",
                r.param.name,
                r.value,
                r.param.unit,
                r.status.as_str(),
                formula.unwrap_or_default()
            );
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

/// Plain text: lines with quantities, rates and amounts, then the reasons
/// with citations, warnings and the sources of every figure.
pub fn text(d: &Determination, pack: &Pack) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", header(d));
    if !d.lines.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<36} {:<10}  {:<10} {:>22} {:>9} {:>10}",
            "line", "from", "to", "quantity", "rate", "amount"
        );
        for l in &d.lines {
            let q = format!("{} {}", l.quantity, l.unit());
            let _ = writeln!(
                o,
                "{:<36} {:<10}  {:<10} {:>22} {:>9} {:>10}",
                l.label(),
                l.from,
                l.to,
                q,
                l.rate,
                money_text(l.amount)
            );
            if let Some(b) = &l.basis {
                let _ = writeln!(o, "    basis: {b}");
            }
        }
        if let Some(t) = d.total {
            let _ = writeln!(o, "{:>102}", format!("total {}", money_text(t)));
        }
    }
    if !d.outputs.is_empty() {
        let _ = writeln!(o, "\noutputs");
        for (k, v) in d.outputs.iter() {
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let _ = writeln!(o, "  {k}: {v}");
        }
    }
    if !d.reasons.is_empty() {
        let _ = writeln!(o, "\nreasons");
        for r in &d.reasons {
            let mark = if r.passed { "✓" } else { "✗" };
            let _ = writeln!(o, "  {mark} {}\n      [{}]", r.text, cite_text(pack, &r.cite));
            if let Some(fix) = &r.fix {
                let _ = writeln!(o, "      → would be met by: {fix}");
            }
        }
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(o, "\nwarnings");
        for w in &d.warnings {
            let _ = writeln!(o, "  ! {}", w.message);
        }
    }
    let src = sources(d);
    if !src.is_empty() {
        let _ = writeln!(o, "\nsources");
        for s in src {
            let _ = writeln!(o, "  {s}");
        }
    }
    o
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Markdown: a table of lines, then reasons, warnings and sources.
pub fn markdown(d: &Determination, pack: &Pack) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "### {}\n", md_escape(&header(d)));
    if !d.lines.is_empty() {
        let _ = writeln!(o, "| line | from | to | quantity | rate | amount | citation |");
        let _ = writeln!(o, "|---|---|---|---:|---:|---:|---|");
        for l in &d.lines {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} {} | {} | {} | {} |",
                md_escape(l.label()),
                l.from,
                l.to,
                l.quantity,
                md_escape(l.unit()),
                l.rate,
                money_text(l.amount),
                md_escape(l.cite())
            );
        }
        if let Some(t) = d.total {
            let _ = writeln!(o, "| **total** | | | | | **{}** | |", money_text(t));
        }
    }
    if !d.outputs.is_empty() {
        let _ = writeln!(o, "\n**Outputs**\n");
        for (k, v) in d.outputs.iter() {
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let _ = writeln!(o, "- `{k}`: {}", md_escape(&v));
        }
    }
    if !d.reasons.is_empty() {
        let _ = writeln!(o, "\n**Reasons**\n");
        for r in &d.reasons {
            let mark = if r.passed { "✓" } else { "✗" };
            let _ = writeln!(
                o,
                "- {mark} {} _({})_",
                md_escape(&r.text),
                md_escape(&cite_text(pack, &r.cite))
            );
            if let Some(fix) = &r.fix {
                let _ = writeln!(o, "  - → would be met by: {}", md_escape(fix));
            }
        }
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(o, "\n**Warnings**\n");
        for w in &d.warnings {
            let _ = writeln!(o, "- ⚠ {}", md_escape(&w.message));
        }
    }
    let src = sources(d);
    if !src.is_empty() {
        let _ = writeln!(o, "\n**Sources**\n");
        for s in src {
            let _ = writeln!(o, "- {}", md_escape(&s));
        }
    }
    o
}

/// Plain-language text a supervisor can put in a letter to the customer:
/// the result (a rule's own `summary` output where it gives one), the
/// amounts and any payment schedule, what was checked and what was not met
/// (for a bill: what applies and what does not), what would change the
/// result, figures not yet confirmed, and the rules cited with where to read
/// them. The same shape for every decision.
pub fn letter(d: &Determination, pack: &Pack) -> String {
    let mut o = String::new();
    let who = pack.jurisdiction.as_deref().unwrap_or(&pack.title);
    let title = pack
        .decision_title(&d.decision)
        .map(str::to_string)
        .unwrap_or_else(|| d.decision.replace('_', " "));
    let subject = title.to_lowercase();
    let is_bill = d.outcome == "computed";
    let _ = writeln!(o, "{title}, as of {}\n", d.as_of);
    match &*d.outcome {
        "eligible" => {
            let _ = writeln!(o, "We have reviewed your request for a {subject}, and it qualifies.");
        }
        "ineligible" => {
            let _ = writeln!(
                o,
                "We have reviewed your request for a {subject}, and we are unable to approve it at this time."
            );
        }
        _ => {}
    }
    if let Some(summary) = d.outputs.get("summary").and_then(|v| v.as_str()) {
        let _ = writeln!(o, "{summary}");
    } else if !is_bill && !matches!(&*d.outcome, "eligible" | "ineligible") {
        let _ = writeln!(o, "Result: {}.", d.outcome.replace('_', " "));
    }
    if let (Some(total), Some(first), Some(last)) = (
        d.total,
        d.lines.iter().map(|l| l.from).min(),
        d.lines.iter().map(|l| l.to).max(),
    ) {
        if is_bill {
            let _ = writeln!(
                o,
                "Your charges for service from {first} to {last} come to ${}.",
                money_text(total)
            );
        } else if total.is_sign_negative() {
            let _ = writeln!(
                o,
                "A credit of ${} will be applied to your account.",
                money_text(-total)
            );
        } else {
            let _ = writeln!(o, "A charge of ${} will be added to your account.", money_text(total));
        }
        let _ = writeln!(o, "\nHow the amount is calculated:");
        for l in &d.lines {
            let _ = writeln!(
                o,
                "  - {}, {} to {}: {} {} at ${} = ${}",
                l.label(),
                l.from,
                l.to,
                l.quantity,
                l.unit(),
                l.rate,
                money_text(l.amount)
            );
        }
    }
    if let Some(plan) = d.outputs.get("payment_plan").and_then(|v| v.as_array()) {
        let _ = writeln!(o, "\nYou may pay this in installments:");
        for p in plan {
            let text = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let _ = writeln!(o, "  - ${} due {}", text("amount"), text("due"));
        }
    }
    if let Some(steps) = d.outputs.get("timeline").and_then(|v| v.as_array())
        && !steps.is_empty()
    {
        let _ = writeln!(o, "\nIf the balance is not paid:");
        for s in steps {
            let text = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let when = match text("date") {
                d if d.is_empty() => "later".to_string(),
                d => format!("from {d}"),
            };
            let fee = match text("fee") {
                f if f.is_empty() => String::new(),
                f => format!(", ${f}"),
            };
            let _ = writeln!(o, "  - {when}: {}{fee} ({})", text("what"), text("cite"));
        }
    }
    let (met, unmet): (Vec<_>, Vec<_>) = d.reasons.iter().partition(|r| r.passed);
    let (met_heading, unmet_heading) = if is_bill {
        ("What applies:", "What does not apply to this account:")
    } else if !matches!(&*d.outcome, "eligible" | "ineligible") {
        ("What we found:", "What is not met:")
    } else if unmet.is_empty() {
        ("The rules that apply:", "")
    } else {
        ("What was met:", "What was not met:")
    };
    if !unmet.is_empty() && !is_bill {
        let _ = writeln!(o, "\n{unmet_heading}");
        for r in &unmet {
            let _ = writeln!(o, "  - {} ({})", r.text, r.cite);
        }
    }
    if !met.is_empty() {
        let _ = writeln!(o, "\n{met_heading}");
        for r in &met {
            let _ = writeln!(o, "  - {} ({})", r.text, r.cite);
        }
    }
    if !unmet.is_empty() && is_bill {
        let _ = writeln!(o, "\n{unmet_heading}");
        for r in &unmet {
            let _ = writeln!(o, "  - {} ({})", r.text, r.cite);
        }
    }
    let fixes: Vec<_> = unmet.iter().filter_map(|r| r.fix.as_deref()).collect();
    if !fixes.is_empty() {
        let _ = writeln!(o, "\nWhat would change this decision:");
        for f in fixes {
            let _ = writeln!(o, "  - {}", sentence(f));
        }
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(
            o,
            "\nPlease note: some figures used are not official published figures and are being confirmed:"
        );
        for w in &d.warnings {
            let _ = writeln!(o, "  - {}", w.message);
        }
    }
    let mut cited: Vec<&str> = Vec::new();
    for c in d
        .reasons
        .iter()
        .map(|r| &*r.cite)
        .chain(d.lines.iter().map(|l| l.cite()))
    {
        if !c.is_empty() && !cited.contains(&c) {
            cited.push(c);
        }
    }
    if !cited.is_empty() {
        let _ = writeln!(o, "\nRules and policies cited:");
        for c in cited {
            match pack.citation(c) {
                Some(x) => {
                    let url = x.url.as_deref().map(|u| format!(", {u}")).unwrap_or_default();
                    let _ = writeln!(o, "  - {c}: {}{url}", x.title);
                }
                None => {
                    let _ = writeln!(o, "  - {c}");
                }
            }
        }
    }
    if d.outcome == "ineligible" {
        let _ = writeln!(
            o,
            "\nYou may ask a supervisor to review this decision, and then appeal it in writing to the Administrative Review Committee (ADM-14.02)."
        );
    }
    let _ = writeln!(
        o,
        "\n{who}. Determination made with rule pack {} version {} ({}).",
        d.pack.id, d.pack.version, d.pack.digest
    );
    o
}

/// A fix as a sentence: capitalized, ending with a full stop.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = c.next().map(|f| f.to_uppercase().collect()).unwrap_or_default();
    out.push_str(c.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
