// The JS API of the wasm module (pkg-node/, built by build.sh), checked
// against the native `ratebook` binary: the same bytes for every pack test
// case, structured errors, packs from files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const require = createRequire(import.meta.url);
const { RulePack } = require("../pkg-node/ratebook_wasm.js");
const target = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const native = (...args) => execFileSync(join(target, "debug", "ratebook"), args, { cwd: root, maxBuffer: 1 << 28 }).toString();
const example = (name) => readFileSync(join(root, "examples", "cases", name), "utf8");
const pack = RulePack.portland();

test("the embedded pack names itself and its decisions", () => {
  const info = pack.info();
  assert.equal(info.id, "portland");
  assert.match(info.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(info.decisions.includes("bill") && info.decisions.includes("leak_adjustment"));
});

test("a bill is the same JSON as the CLI's, to the byte", () => {
  const text = example("bill-fy2324.yaml");
  const det = pack.decide("bill", text);
  assert.equal(det.total, "423.15");
  assert.equal(det.lines.find((l) => l.id === "water.volume").amount, "105.09");
  assert.equal(pack.decideJson("bill", text), native("decide", "bill", "examples/cases/bill-fy2324.yaml", "--format", "json"));
});

test("every pack test case gives the same bytes in wasm as natively", () => {
  const wasm = pack.testDeterminations();
  const cli = JSON.parse(native("test", "--format", "determinations"));
  assert.equal(wasm.length, cli.length);
  assert.ok(wasm.length >= 150, `${wasm.length} cases`);
  for (let i = 0; i < cli.length; i++) {
    assert.equal(wasm[i].name, cli[i].name);
    assert.equal(wasm[i].output, cli[i].output, `${cli[i].file}: ${cli[i].name}`);
  }
});

test("explanations: text, markdown and a letter with citations", () => {
  const text = example("leak-adjustment-pending.yaml");
  const letter = pack.explain("leak_adjustment", text, "letter");
  assert.match(letter, /The repair is completed by 2025-09-19\./);
  assert.match(letter, /Rules and policies cited:/);
  assert.match(pack.explain("bill", example("bill-fy2324.yaml"), "markdown"), /\| Water volume \|/);
  assert.throws(() => pack.explain("bill", example("bill-fy2324.yaml"), "pdf"), (e) => e.code === "ratebook::wasm::bad_argument");
});

test("errors are thrown as objects with a code, a message and where", () => {
  assert.throws(
    () => pack.decide("bill", "account: { class: residental, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\n"),
    (e) => {
      assert.equal(typeof e, "object");
      assert.equal(e.code, "ratebook::case::bad_value");
      assert.match(e.message, /did you mean `residential`/);
      assert.equal(e.locations[0].field, "account.class");
      return true;
    },
  );
  assert.throws(
    () => pack.decide("bill", example("bill-2024-summer.yaml")),
    (e) => e.code === "ratebook::params::unknown_value" && e.missing.length === 2 && e.missing[0].param === "water.base_per_day",
  );
  assert.throws(() => pack.decide("bill", "x: 1", { asof: "2024-01-01" }), (e) => e.code === "ratebook::wasm::bad_argument");
});

test("options: an as-of date and supplied figures, flagged", () => {
  const det = pack.decide("bill", example("bill-2024-summer.yaml"), {
    set: ["water.base_per_day[quarterly]@2024-07-01=0.7500", "harbor.volume_rate@2024-07-01=0.10"],
  });
  assert.equal(det.lines.filter((l) => l.id === "water.volume").length, 2);
  assert.ok(det.warnings.some((w) => w.code === "ratebook::params::supplied_value"));
  assert.deepEqual(det.set, ["water.base_per_day[quarterly]@2024-07-01=0.7500", "harbor.volume_rate@2024-07-01=0.10"]);
});

test("the pack's own tests run in wasm", () => {
  const report = pack.test();
  assert.ok(report.results.length >= 150);
  assert.deepEqual(report.results.filter((r) => !r.passed), []);
  assert.equal(pack.test("leak - theft").results.length, 1);
});

test("the rate sheet in force on a date", () => {
  const rows = pack.params("2023-09-01", "water.volume");
  assert.equal(rows.length, 1);
  assert.equal(JSON.stringify(rows[0]).includes("7.006"), true);
});

test("a pack from a map of files: an overlay on the embedded pack", () => {
  const dir = join(root, "tests", "packs", "corrected");
  const files = {};
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else files[relative(dir, p)] = readFileSync(p, "utf8");
    }
  };
  walk(dir);
  const corrected = RulePack.fromFiles(files);
  assert.equal(corrected.info().id, "portland-corrected");
  assert.equal(corrected.decide("bill", example("bill-fy2324.yaml")).total, "424.65");
  assert.throws(() => RulePack.fromFiles({ "pack.yaml": "id: [" }), (e) => e.code === "ratebook::pack::yaml" && e.locations.length > 0);
});

test("a pack imported from an OWRS file bills as the CLI does", () => {
  const file = join(root, "tests", "data", "owrs", "full_utility_rates", "California", "Santa Monica City of - 2581", "Older", "smc-2016-03-01.owrs");
  const smc = RulePack.fromOwrs("smc-2016-03-01.owrs", readFileSync(file, "utf8"));
  assert.equal(smc.info().id, "owrs-city-of-santa-monica-2016-03-01");
  const bill = smc.decide("bill", JSON.stringify({ cust_class: "RESIDENTIAL_SINGLE", usage_ccf: 27.3 }));
  assert.equal(bill.total, "97.24");
  assert.deepEqual(bill.lines.map((l) => l.amount), ["40.18", "57.06"]);
  assert.ok(Object.keys(smc.files()).includes("params/owrs.yaml"));
  assert.throws(() => RulePack.fromOwrs("bad.owrs", "rate_structure: ["), (e) => e.code === "ratebook::owrs::yaml");
});

test("a staff claim is reviewed", () => {
  const r = pack.review("bill", example("bill-fy2324.yaml"), "lines: [ { id: sewer.volume, amount: \"194.40\" } ]");
  assert.equal(r.verdict, "disagree");
  assert.equal(r.differences[0].cause.code, "winter_average_not_applied");
});
