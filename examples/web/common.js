// Shared by the pages: loads the module once, renders errors and tables.
import init, { RulePack } from "./pkg/ratebook_wasm.js";

let ready;
/** The embedded Portland pack, loaded once. */
export function portland() {
  ready ??= init().then(() => RulePack.portland());
  return ready;
}

export { RulePack };

/** Shows an error (a structured RatebookError, or anything thrown) in `el`. */
export function showError(el, e) {
  el.hidden = false;
  el.replaceChildren();
  const err = e && typeof e === "object" && "code" in e ? e : { code: "error", message: String(e) };
  const h = document.createElement("strong");
  h.textContent = err.message;
  const code = document.createElement("div");
  code.className = "code";
  code.textContent = err.code;
  el.append(h, code);
  if (err.help) {
    const help = document.createElement("div");
    help.textContent = err.help;
    el.append(help);
  }
  for (const m of err.missing ?? []) {
    const li = document.createElement("div");
    li.className = "missing";
    li.textContent = `missing: ${m.param}${m.key ? `[${m.key}]` : ""} in force on ${m.date} (${m.source})`;
    el.append(li);
  }
  for (const l of err.locations ?? []) {
    const li = document.createElement("div");
    li.className = "location";
    li.textContent = `at ${l.file}${l.line ? `:${l.line}:${l.col}` : ""}${l.field ? ` (${l.field})` : ""}`;
    el.append(li);
  }
}

export function clearError(el) {
  el.hidden = true;
  el.replaceChildren();
}

/** A table of a determination's lines. */
export function linesTable(det) {
  const t = document.createElement("table");
  t.className = "lines";
  t.innerHTML = "<thead><tr><th>line</th><th>from</th><th>to</th><th>quantity</th><th>rate</th><th>amount</th><th>citation</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const l of det.lines) {
    const tr = document.createElement("tr");
    tr.dataset.line = l.id;
    for (const v of [l.label, l.from, l.to, `${l.quantity} ${l.unit}`, l.rate, l.amount, l.cite]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    body.append(tr);
  }
  t.append(body);
  if (det.total !== undefined) {
    const foot = document.createElement("tfoot");
    foot.innerHTML = `<tr><td colspan="5">total</td><td class="total"></td><td></td></tr>`;
    foot.querySelector(".total").textContent = det.total;
    t.append(foot);
  }
  return t;
}

/** A list of reasons with their citations and, for one not met, its fix. */
export function reasonsList(det) {
  const ul = document.createElement("ul");
  ul.className = "reasons";
  for (const r of det.reasons) {
    const li = document.createElement("li");
    li.className = r.passed ? "met" : "not-met";
    li.dataset.rule = r.rule;
    li.textContent = `${r.passed ? "✓" : "✗"} ${r.text} [${r.cite}]`;
    if (r.fix) {
      const fix = document.createElement("div");
      fix.className = "fix";
      fix.textContent = `would be met by: ${r.fix}`;
      li.append(fix);
    }
    ul.append(li);
  }
  return ul;
}
