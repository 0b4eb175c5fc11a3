//! The `ratebook` command: argument parsing, reading files and stdin,
//! printing, and exit codes. Every operation is a call into the library.

/// mimalloc: the server and batch runs allocate many small, short-lived
/// buffers on several threads, where it is measurably faster than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use ratebook::api::{self, DecideRequest};
use ratebook::dates::parse_date;
use ratebook::error::{Error, Location};
use ratebook::pack::{FolderLoader, Pack};
use ratebook::render::Format;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ratebook",
    version,
    about = "Water, sewer and stormwater determinations with their reasons, citations and sources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a determination (a bill, ...) for one case.
    Decide {
        /// The decision to make (`bill`, `due_dates`, ...).
        decision: String,
        /// The case file (YAML or JSON); `-` or nothing reads stdin.
        case: Option<String>,
        #[command(flatten)]
        eval: EvalArgs,
        /// Also decide under a proposed pack and explain what changed and why.
        #[arg(long, value_name = "PACK")]
        compare: Option<String>,
        /// Output format.
        #[arg(long, default_value = "text", value_parser = ["json", "text", "markdown", "letter"])]
        format: String,
    },
    /// Decide every case of a file (CSV or JSON Lines), in parallel, to JSON
    /// Lines in input order: a determination or an error record per row.
    Batch {
        /// The cases: CSV (dotted case paths as headers) or JSON Lines (one case per line).
        #[arg(long)]
        accounts: String,
        /// How the CSV's own columns become case fields (YAML: case path ->
        /// column, or `{ column, values }`); see `benches/bench-columns.yaml`.
        #[arg(long, value_name = "FILE")]
        columns: Option<String>,
        #[arg(long)]
        decision: String,
        /// Where to write the JSON Lines (default: stdout).
        #[arg(long)]
        out: Option<String>,
        #[command(flatten)]
        eval: EvalArgs,
        /// Keep each determination's full explanation trace.
        #[arg(long)]
        trace: bool,
        /// `jsonl` (determinations) or `csv` (one row per account: row, id,
        /// outcome, each line's amount, total, error).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        /// Worker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// A synthetic Portland portfolio (CSV for batch and impact), seeded;
    /// prints on stderr where its shares and distributions are guesses.
    Synth {
        /// How many accounts.
        #[arg(long)]
        accounts: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the CSV (default: stdout).
        #[arg(long)]
        out: Option<String>,
    },
    /// The impact of a proposed pack over a portfolio: who pays more or
    /// less, revenue by class and assistance status, the distribution of
    /// changes, outcome flips and the largest changes with their cause.
    Impact {
        /// The base pack folder (default: the embedded Portland pack).
        #[arg(long)]
        base: Option<String>,
        /// The proposed pack folder (often `extends:` the base).
        #[arg(long)]
        proposed: String,
        /// The accounts: CSV or JSON Lines, as `batch` reads them.
        #[arg(long)]
        accounts: String,
        /// How the CSV's own columns become case fields, as for `batch`.
        #[arg(long, value_name = "FILE")]
        columns: Option<String>,
        #[arg(long, default_value = "bill")]
        decision: String,
        #[arg(long, value_parser = date_arg)]
        as_of: Option<NaiveDate>,
        /// Also write a self-contained HTML report with SVG charts here.
        #[arg(long)]
        report: Option<String>,
        #[arg(long, default_value = "markdown", value_parser = ["markdown", "json"])]
        format: String,
    },
    /// Import a rate structure from another format as a pack.
    Import {
        /// The format: `owrs` (Open Water Rate Specification).
        #[arg(value_parser = ["owrs"])]
        format: String,
        /// The file to import.
        file: String,
        /// The pack folder to write (created; refused if it holds files, unless --force).
        #[arg(long)]
        out: String,
        /// Replace the files of an existing folder.
        #[arg(long)]
        force: bool,
    },
    /// Validate a pack: every problem at once, each with a code and where
    /// it is (exit 1 when there is an error).
    Check {
        /// The pack folder; without it the embedded Portland pack.
        pack: Option<String>,
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Semantic diff of two packs: parameters by date with old and new
    /// values, charges, decisions and citations (`portland` is the embedded pack).
    Diff {
        base: String,
        proposed: String,
        #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
        format: String,
    },
    /// Run a pack's own tests (rules/<pack>/tests/*.yaml).
    Test {
        /// The pack folder; without it the embedded Portland pack.
        pack: Option<String>,
        /// Only the tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Also report what the tests exercised: City Code sections
        /// (citations), dated parameter values, requirements met and not
        /// met, and lines, and what they never did.
        #[arg(long)]
        coverage: bool,
        /// `determinations`: every test case's determination as `decide
        /// --format json` writes it (to compare builds, such as wasm).
        #[arg(long, default_value = "text", value_parser = ["json", "text", "determinations"])]
        format: String,
    },
    /// Check a staff determination: agree, or each differing figure with
    /// where it parts from the rules and the likely cause (exit 1).
    Review {
        /// The case file (YAML or JSON); `-` reads stdin. Not with --batch.
        case: Option<String>,
        /// What staff determined (YAML or JSON): outcome, total, amount, lines, outputs.
        #[arg(long)]
        claimed: Option<String>,
        /// A day's batch: JSON Lines ({id, decision, case, claimed}) or CSV
        /// (dotted case columns, `claimed.` columns).
        #[arg(long, conflicts_with_all = ["case", "claimed"])]
        batch: Option<String>,
        /// The decision (default: the claim's `decision:`).
        #[arg(long)]
        decision: Option<String>,
        #[command(flatten)]
        eval: EvalArgs,
        /// Money differences up to this much are agreement (default: exact to the cent).
        #[arg(long, default_value = "0")]
        tolerance: String,
        #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
        format: String,
    },
    /// Make a recorded determination (`decide --format json`) again and
    /// confirm it is byte-identical, or say what differs and why (exit 1).
    Replay {
        /// The determination's JSON file; `-` reads stdin.
        #[arg(conflicts_with = "audit_log")]
        determination: Option<String>,
        /// Replay the determinations of a decision log (`ratebook serve`)
        /// instead: every one, or those given with --entry.
        #[arg(long, value_name = "FILE")]
        audit_log: Option<String>,
        /// The `seq` of a log entry to replay (repeat for several).
        #[arg(long = "entry", value_name = "SEQ", requires = "audit_log")]
        entries: Vec<u64>,
        /// The pack to replay with; without it the embedded Portland pack.
        #[arg(long)]
        pack: Option<String>,
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Serve the HTTP API (OpenAPI at /openapi.json), logging every
    /// determination served to the decision log. Stops on SIGINT/SIGTERM
    /// after the requests in flight; SIGHUP reloads the packs.
    Serve {
        /// A pack folder to serve (repeat for several); without any, the
        /// embedded Portland pack.
        #[arg(long = "pack", value_name = "DIR")]
        packs: Vec<String>,
        /// The address to listen on; beyond loopback, --tokens is required.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The decision log (JSON Lines), appended to.
        #[arg(long, default_value = "ratebook-audit.jsonl", value_name = "FILE")]
        audit_log: std::path::PathBuf,
        /// Bearer tokens, one `PRINCIPAL TOKEN` per line: every request
        /// but health then needs one, and the log names its holder.
        #[arg(long, value_name = "FILE")]
        tokens: Option<std::path::PathBuf>,
        /// Largest request body, in bytes.
        #[arg(long, default_value_t = ratebook::serve::Limits::default().max_body)]
        max_body: usize,
        /// Most cases in one batch request.
        #[arg(long, default_value_t = ratebook::serve::Limits::default().max_batch)]
        max_batch: usize,
        /// Wall-clock limit of one request's evaluation, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        time_limit_ms: u64,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Print the OpenAPI document and exit.
        #[arg(long)]
        openapi: bool,
    },
    /// The rate sheet in force on a date, with the source of every figure.
    Params {
        /// `[PACK] [NAME]`: a pack folder (default: the embedded Portland
        /// pack) and the start of parameter names to show.
        #[arg(num_args = 0..=2, value_name = "PACK] [NAME")]
        args: Vec<String>,
        /// The date (YYYY-MM-DD); without it, every dated value is listed.
        #[arg(long, value_parser = date_arg)]
        at: Option<NaiveDate>,
        #[arg(long, default_value = "text", value_parser = ["json", "text"])]
        format: String,
    },
}

/// What every evaluating command takes: the pack, the as-of date and
/// supplied figures.
#[derive(clap::Args)]
struct EvalArgs {
    /// A pack folder; without it the embedded Portland pack is used.
    #[arg(long)]
    pack: Option<String>,
    /// The date the determination is made as of (YYYY-MM-DD).
    #[arg(long, value_parser = date_arg)]
    as_of: Option<NaiveDate>,
    /// Supply or override a figure: PARAM=VALUE, PARAM[KEY]=VALUE, PARAM[KEY]@DATE=VALUE.
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    set: Vec<String>,
    /// Use the figures as known on this date: values adopted later (retroactive changes) are set aside.
    #[arg(long, value_parser = date_arg)]
    known_at: Option<NaiveDate>,
}

impl EvalArgs {
    /// The engine over the pack with the supplied figures.
    fn engine(&self) -> Result<ratebook::Engine, Error> {
        self.engine_for(self.pack.as_deref())
    }

    /// The engine over another pack (a proposal) with the same options.
    fn engine_for(&self, dir: Option<&str>) -> Result<ratebook::Engine, Error> {
        let overrides = self
            .set
            .iter()
            .map(|s| ratebook::engine::parse_override(s))
            .collect::<Result<Vec<_>, _>>()?;
        let pack = load_pack(dir)?;
        match self.known_at {
            Some(date) => ratebook::Engine::known_at(pack, &overrides, date),
            None => ratebook::Engine::with_overrides(pack, &overrides),
        }
    }
}

fn date_arg(s: &str) -> Result<NaiveDate, String> {
    parse_date(s).ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

/// `ratebook import owrs FILE --out DIR`: writes the pack, prints what was
/// imported and every diagnostic, and checks the pack loads.
fn import_owrs(file: &str, dir: &str, force: bool) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::input("ratebook::io", format!("cannot {what}: {e}"));
    let text = std::fs::read_to_string(file).map_err(|e| io(&format!("read {file}"), e))?;
    let name = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| file.to_string());
    let imported = ratebook::owrs::import(&name, &text)?;
    let root = std::path::Path::new(dir);
    if root.read_dir().is_ok_and(|mut d| d.next().is_some()) && !force {
        return Err(Error::input(
            "ratebook::io",
            format!("{dir} already holds files; choose an empty folder or pass --force"),
        ));
    }
    for (path, content) in &imported.files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(&format!("create {}", parent.display()), e))?;
        }
        std::fs::write(&target, content).map_err(|e| io(&format!("write {}", target.display()), e))?;
    }
    let pack = load_pack(Some(dir))?;
    ratebook::engine::Engine::new(pack)?;
    eprintln!(
        "imported {name} into {dir}: {} class(es) ({}){}",
        imported.classes.len(),
        imported.classes.join(", "),
        if imported.skipped.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", imported.skipped.join(", "))
        }
    );
    for d in &imported.diagnostics {
        eprintln!("  {d}");
    }
    Ok(())
}

fn load_pack(dir: Option<&str>) -> Result<Pack, Error> {
    match dir {
        None => Pack::portland(),
        Some(d) => Pack::load(&FolderLoader, d),
    }
}

fn read_case(path: Option<&str>) -> Result<(String, String), Error> {
    match path {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::input("ratebook::io", format!("cannot read the case from stdin: {e}")))?;
            Ok(("<stdin>".into(), s))
        }
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| Error::input("ratebook::io", format!("cannot read {p}: {e}")).at(Location::file(p)))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::input("ratebook::case::not_utf8", format!("{p} is not UTF-8 text")).at(Location::file(p))
            })?;
            Ok((p.to_string(), text))
        }
    }
}

/// Prints a result, or reports its error (as JSON when asked).
fn print_or_report(result: Result<String, Error>, json: bool) -> ExitCode {
    match result {
        Ok(t) => {
            out(&t);
            ExitCode::SUCCESS
        }
        Err(e) => report(&e, json),
    }
}

/// The rows of a CSV or JSON Lines file of cases, streamed.
fn open_rows(
    path: &str,
    columns: Option<&str>,
) -> Result<ratebook::batch::Rows<std::io::BufReader<std::fs::File>>, Error> {
    let read = |p: &str| {
        std::fs::read(p)
            .map_err(|e| Error::input("ratebook::io", format!("cannot read {p}: {e}")).at(Location::file(p)))
    };
    let file = std::fs::File::open(path)
        .map_err(|e| Error::input("ratebook::io", format!("cannot read {path}: {e}")).at(Location::file(path)))?;
    let rows = ratebook::batch::Rows::new(path, std::io::BufReader::with_capacity(1 << 16, file))?;
    match columns {
        None => Ok(rows),
        Some(c) => {
            let text = String::from_utf8_lossy(&read(c)?).into_owned();
            rows.with_columns(&ratebook::batch::Columns::parse(c, &text)?)
        }
    }
}

/// Writes results to stdout; a reader that has gone away (`| head`) is not
/// an error worth a message.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn report(e: &Error, json: bool) -> ExitCode {
    if json {
        eprintln!("{}", api::error_json(e));
    } else {
        let color = std::io::stderr().is_terminal();
        let handler = miette::GraphicalReportHandler::new_themed(if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        });
        let mut out = String::new();
        if handler.render_report(&mut out, e).is_ok() {
            eprint!("{out}");
        } else {
            eprintln!("error[{}]: {}", e.code, e.message);
        }
    }
    ExitCode::from(e.exit_code() as u8)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Decide {
            decision,
            case,
            eval,
            compare: Some(proposed),
            format,
        } => {
            let json = format == "json";
            let run = || -> Result<String, Error> {
                let base = eval.engine()?;
                let other = eval.engine_for(Some(&proposed))?;
                let (name, text) = read_case(case.as_deref())?;
                let c = ratebook::Case::parse(&name, &text)?;
                let options = ratebook::Options {
                    as_of: eval.as_of,
                    trace: true,
                };
                let b = base.decide(&decision, &c, &options)?;
                let p = other.decide(&decision, &c, &options)?;
                let cmp = ratebook::impact::Comparison::of(&b, &p);
                Ok(if json {
                    serde_json::to_string_pretty(&cmp).unwrap_or_default() + "\n"
                } else {
                    cmp.text()
                })
            };
            print_or_report(run(), json)
        }
        Command::Decide {
            decision,
            case,
            eval,
            compare: None,
            format,
        } => {
            let json = format == "json";
            let run = || -> Result<String, Error> {
                let engine = eval.engine()?;
                let (name, text) = read_case(case.as_deref())?;
                let req = DecideRequest {
                    decision: &decision,
                    case_text: &text,
                    case_name: &name,
                    as_of: eval.as_of,
                    set: &[],
                };
                api::decide(&engine, &req, Format::parse(&format).unwrap_or(Format::Text))
            };
            match run() {
                Ok(out_text) => {
                    out(&out_text);
                    ExitCode::SUCCESS
                }
                Err(e) => report(&e, json),
            }
        }
        Command::Batch {
            accounts,
            columns,
            decision,
            out: out_path,
            eval,
            trace,
            format,
            threads,
        } => {
            let run = || -> Result<Option<ratebook::batch::Summary>, Error> {
                let engine = eval.engine()?;
                let csv_lines = match format.as_str() {
                    "csv" => Some(ratebook::batch::csv_columns(&engine, &decision)?),
                    _ => None,
                };
                // The first row would say so; say it once, up front.
                engine.check_decision_name(&decision)?;
                let rows = open_rows(&accounts, columns.as_deref())?;
                let io_err = |e: std::io::Error| Error::input("ratebook::io", format!("cannot write the output: {e}"));
                let mut sink: Box<dyn std::io::Write + Send> = match &out_path {
                    Some(p) => Box::new(std::io::BufWriter::with_capacity(
                        1 << 16,
                        std::fs::File::create(p).map_err(|e| {
                            Error::input("ratebook::io", format!("cannot create {p}: {e}")).at(Location::file(p))
                        })?,
                    )),
                    None => Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
                };
                let bar = if std::io::stderr().is_terminal() {
                    indicatif::ProgressBar::new_spinner()
                } else {
                    indicatif::ProgressBar::hidden()
                };
                if let Some(lines) = &csv_lines {
                    sink.write_all(ratebook::batch::csv_header(lines).as_bytes())
                        .map_err(|e| Error::input("ratebook::io", format!("cannot write the output: {e}")))?;
                }
                let opts = ratebook::batch::BatchOptions {
                    decision: decision.clone(),
                    as_of: eval.as_of,
                    trace,
                    csv_lines,
                };
                let start = std::time::Instant::now();
                let work = || {
                    ratebook::batch::run(&engine, rows, &mut sink, &opts, &|n| {
                        bar.set_message(format!("{n} rows"))
                    })
                };
                let summary = match threads {
                    Some(n) => rayon::ThreadPoolBuilder::new()
                        .num_threads(n.max(1))
                        .build()
                        .map_err(|e| Error::input("ratebook::batch::threads", e.to_string()))?
                        .install(work),
                    None => work(),
                };
                let summary = match summary {
                    // The reader has gone away (`| head`): not an error worth a message.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(None),
                    other => other.map_err(io_err)?,
                };
                bar.finish_and_clear();
                eprintln!(
                    "{} rows: {} decided, {} errors, in {:.2} s",
                    summary.rows,
                    summary.decided,
                    summary.errors,
                    start.elapsed().as_secs_f64()
                );
                Ok(Some(summary))
            };
            match run() {
                Ok(None) => ExitCode::SUCCESS,
                Ok(Some(s)) if s.errors == 0 => ExitCode::SUCCESS,
                Ok(Some(_)) => ExitCode::from(2),
                Err(e) => report(&e, false),
            }
        }
        Command::Import {
            format: _,
            file,
            out: dir,
            force,
        } => match import_owrs(&file, &dir, force) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report(&e, false),
        },
        Command::Check { pack, format } => {
            let findings = match &pack {
                Some(dir) => ratebook::check::check(&FolderLoader, dir),
                None => ratebook::check::check(
                    &ratebook::pack::MemoryLoader::new(ratebook::pack::embedded_portland()),
                    ".",
                ),
            };
            let errors = findings.iter().filter(|f| f.severity == "error").count();
            let warnings = findings.iter().filter(|f| f.severity == "warning").count();
            if format == "json" {
                let v = serde_json::json!({ "errors": errors, "warnings": warnings, "findings": findings });
                out(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
            } else {
                let color = std::io::stdout().is_terminal();
                let handler = miette::GraphicalReportHandler::new_themed(if color {
                    miette::GraphicalTheme::unicode()
                } else {
                    miette::GraphicalTheme::unicode_nocolor()
                });
                let mut text = String::new();
                for f in &findings {
                    let mut r = String::new();
                    if f.severity == "note" || handler.render_report(&mut r, &f.source).is_err() {
                        r = format!("{}: {}\n", f.source.code, f.source.message);
                    }
                    text.push_str(&format!("{}: {r}\n", f.severity));
                }
                text.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
                out(&text);
            }
            if errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Diff { base, proposed, format } => {
            let json = format == "json";
            match load_pack(Some(&base)).and_then(|b| Ok((b, load_pack(Some(&proposed))?))) {
                Ok((b, p)) => {
                    let d = ratebook::diff::diff(&b, &p);
                    out(&if json {
                        serde_json::to_string_pretty(&d).unwrap_or_default() + "\n"
                    } else {
                        d.render(format == "markdown")
                    });
                    ExitCode::SUCCESS
                }
                Err(e) => report(&e, json),
            }
        }
        Command::Synth {
            accounts,
            seed,
            out: path,
        } => {
            let run = || -> Result<(), Error> {
                let io = |e: std::io::Error| Error::input("ratebook::io", format!("cannot write the portfolio: {e}"));
                let mut sink: Box<dyn std::io::Write> = match &path {
                    Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(io)?)),
                    None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                };
                ratebook::synth::write(accounts, seed, &mut sink).map_err(io)?;
                eprintln!("{accounts} synthetic accounts (seed {seed}). Where the portfolio guesses:");
                for g in ratebook::synth::GUESSES {
                    eprintln!("  - {g}");
                }
                Ok(())
            };
            match run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => report(&e, false),
            }
        }
        Command::Impact {
            base,
            proposed,
            accounts,
            columns,
            decision,
            as_of,
            report: html,
            format,
        } => {
            let json = format == "json";
            let run = || -> Result<String, Error> {
                let base = ratebook::Engine::new(load_pack(base.as_deref())?)?;
                let proposed = ratebook::Engine::new(load_pack(Some(&proposed))?)?;
                let rows = open_rows(&accounts, columns.as_deref())?;
                let impact = ratebook::impact::run(&base, &proposed, &decision, as_of, rows);
                if let Some(p) = &html {
                    std::fs::write(p, impact.html()).map_err(|e| {
                        Error::input("ratebook::io", format!("cannot write {p}: {e}")).at(Location::file(p))
                    })?;
                }
                Ok(if json {
                    serde_json::to_string_pretty(&impact).unwrap_or_default() + "\n"
                } else {
                    impact.markdown()
                })
            };
            print_or_report(run(), json)
        }
        Command::Test {
            pack, filter, format, ..
        } if format == "determinations" => {
            match load_pack(pack.as_deref()).and_then(|p| ratebook::testing::determinations(&p)) {
                Ok(d) => {
                    let _ = &filter;
                    out(&(serde_json::to_string(&d).unwrap_or_default() + "\n"));
                    ExitCode::SUCCESS
                }
                Err(e) => report(&e, true),
            }
        }
        Command::Test {
            pack,
            filter,
            format,
            coverage,
        } => {
            let json = format == "json";
            let run = || -> Result<(ratebook::testing::Report, Option<ratebook::testing::Coverage>), Error> {
                let pack = load_pack(pack.as_deref())?;
                let report = ratebook::testing::run(&pack, filter.as_deref())?;
                let cov = coverage.then(|| ratebook::testing::coverage(&pack, &report));
                Ok((report, cov))
            };
            match run() {
                Ok((r, cov)) => {
                    if json {
                        let v = match &cov {
                            Some(c) => serde_json::json!({ "results": r.results, "coverage": c }),
                            None => serde_json::to_value(&r).unwrap_or_default(),
                        };
                        out(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
                    } else {
                        let mut text = String::new();
                        for c in &r.results {
                            let mark = if c.passed { "ok  " } else { "FAIL" };
                            text.push_str(&format!("{mark} {} ({})\n", c.name, c.file));
                            for d in &c.differences {
                                text.push_str(&format!("       {d}\n"));
                            }
                        }
                        text.push_str(&format!("\n{} passed, {} failed\n", r.passed(), r.failed()));
                        if let Some(c) = &cov {
                            text.push_str("\ncoverage\n");
                            for (what, k) in [
                                ("citations (City Code sections and policies)", &c.citations),
                                ("dated parameter values", &c.parameter_values),
                                ("requirements met", &c.requirements_met),
                                ("requirements not met", &c.requirements_not_met),
                                ("charges (lines)", &c.lines),
                            ] {
                                text.push_str(&format!("  {what}: {} of {}\n", k.exercised, k.total));
                                for n in &k.never {
                                    text.push_str(&format!("      never: {n}\n"));
                                }
                            }
                        }
                        out(&text);
                    }
                    if r.failed() == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => report(&e, json),
            }
        }
        Command::Review {
            case,
            claimed,
            batch,
            decision,
            eval,
            tolerance,
            format,
        } => {
            let json = format == "json";
            let run = || -> Result<(String, bool), Error> {
                let tolerance = ratebook::money::parse_decimal(&tolerance)
                    .filter(|t| !t.is_sign_negative())
                    .ok_or_else(|| {
                        Error::input(
                            "ratebook::cli::bad_tolerance",
                            format!("`--tolerance {tolerance}` is not an amount"),
                        )
                    })?;
                let engine = eval.engine()?;
                let options = ratebook::Options {
                    as_of: eval.as_of,
                    trace: true,
                };
                match batch {
                    Some(path) => {
                        let (name, text) = read_case(Some(&path))?;
                        let report = review_batch(&engine, &name, &text, decision.as_deref(), &options, tolerance);
                        let all_agree = report.agree == report.rows;
                        let shown = if json {
                            serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
                        } else {
                            report.markdown()
                        };
                        Ok((shown, all_agree))
                    }
                    None => {
                        let claim_path = claimed.as_deref().ok_or_else(|| {
                            Error::input(
                                "ratebook::cli::no_claim",
                                "give what staff determined with --claimed FILE (or a batch with --batch FILE)",
                            )
                        })?;
                        let (claim_name, claim_text) = read_case(Some(claim_path))?;
                        let claim = ratebook::review::Claim::parse(&claim_name, &claim_text)?;
                        let (case_name, case_text) = read_case(case.as_deref())?;
                        let decision = decision.or_else(|| claim.decision.clone()).ok_or_else(|| {
                            Error::input(
                                "ratebook::cli::no_decision",
                                "name the decision with --decision D or `decision:` in the claim",
                            )
                        })?;
                        let c = ratebook::Case::parse(&case_name, &case_text)?;
                        let det = engine.decide(&decision, &c, &options)?;
                        let review = ratebook::review::review(&det, &claim, tolerance);
                        let agrees = review.agrees();
                        let shown = match format.as_str() {
                            "json" => serde_json::to_string_pretty(&review).unwrap_or_default() + "\n",
                            "markdown" => ratebook::review::BatchReport::new(vec![ratebook::review::BatchRow {
                                row: 1,
                                id: Some(case_name.clone()),
                                review: Some(review),
                                error: None,
                            }])
                            .markdown(),
                            _ => ratebook::review::text(&review, &case_name),
                        };
                        Ok((shown, agrees))
                    }
                }
            };
            match run() {
                Ok((text, agrees)) => {
                    out(&text);
                    if agrees { ExitCode::SUCCESS } else { ExitCode::from(1) }
                }
                Err(e) => report(&e, json),
            }
        }
        Command::Replay {
            audit_log: Some(log),
            entries,
            pack,
            format,
            ..
        } => replay_log(&log, &entries, pack.as_deref(), format == "json"),
        Command::Replay {
            determination,
            pack,
            format,
            ..
        } => {
            let json = format == "json";
            let run = || -> Result<ratebook::replay::Replay, Error> {
                let (name, text) = read_case(determination.as_deref())?;
                let recorded = ratebook::replay::Recorded::parse(&name, &text)?;
                ratebook::replay::replay(load_pack(pack.as_deref())?, &recorded)
            };
            match run() {
                Ok(r) => {
                    if json {
                        out(&(serde_json::to_string_pretty(&r).unwrap_or_default() + "\n"));
                    } else {
                        let mut t = match r.verdict {
                            "identical" => format!(
                                "identical: the determination made again with pack {} {} is the same to the byte\n",
                                r.replayed_pack.id, r.replayed_pack.version
                            ),
                            "same_content" => {
                                "the same determination, laid out differently (not byte-identical)\n".to_string()
                            }
                            _ => "DIFFERS: the determination made again is not the same\n".to_string(),
                        };
                        for e in &r.explanations {
                            t.push_str(&format!("  - {e}\n"));
                        }
                        if !r.differences.is_empty() {
                            t.push_str("\ndifferences:\n");
                            for d in &r.differences {
                                t.push_str(&format!("  {d}\n"));
                            }
                        }
                        out(&t);
                    }
                    if r.same() { ExitCode::SUCCESS } else { ExitCode::from(1) }
                }
                Err(e) => report(&e, json),
            }
        }
        Command::Serve {
            packs,
            addr,
            audit_log,
            tokens,
            max_body,
            max_batch,
            time_limit_ms,
            threads,
            openapi,
        } => {
            if openapi {
                out(&(ratebook::serve::openapi().to_pretty_json().unwrap_or_default() + "\n"));
                return ExitCode::SUCCESS;
            }
            let run = || -> Result<(), Error> {
                let config = ratebook::serve::Config {
                    addr,
                    packs: if packs.is_empty() {
                        vec![ratebook::serve::PackSource::Embedded]
                    } else {
                        packs
                            .iter()
                            .map(|p| ratebook::serve::PackSource::Folder(p.into()))
                            .collect()
                    },
                    audit_log,
                    tokens: match &tokens {
                        Some(path) => ratebook::serve::read_tokens(path)?,
                        None => Vec::new(),
                    },
                    limits: ratebook::serve::Limits {
                        max_body,
                        max_batch,
                        time_limit: std::time::Duration::from_millis(time_limit_ms),
                    },
                };
                let mut runtime = tokio::runtime::Builder::new_multi_thread();
                if let Some(n) = threads {
                    runtime.worker_threads(n.max(1));
                }
                let runtime = runtime
                    .enable_all()
                    .build()
                    .map_err(|e| Error::input("ratebook::serve::runtime", format!("cannot start: {e}")))?;
                runtime.block_on(ratebook::serve::run(config, |addr, log, served| {
                    let packs: Vec<String> = served
                        .engines
                        .values()
                        .map(|e| format!("{} {} ({})", e.pack().ident.id, e.pack().ident.version, e.pack().ident.digest))
                        .collect();
                    eprintln!("ratebook serve: packs {}", packs.join(", "));
                    if log.cut_bytes > 0 {
                        eprintln!(
                            "ratebook serve: the decision log ended in a torn entry ({} bytes, never acknowledged); cut off",
                            log.cut_bytes
                        );
                    }
                    eprintln!("ratebook serve: decision log next entry {}", log.next_seq);
                    eprintln!("ratebook serve: listening on http://{addr} (OpenAPI at http://{addr}/openapi.json)");
                }))
            };
            match run() {
                Ok(()) => {
                    eprintln!("ratebook serve: stopped; the decision log is committed");
                    ExitCode::SUCCESS
                }
                Err(e) => report(&e, false),
            }
        }
        Command::Params { args, at, format } => {
            let (pack, name) = pack_and_name(&args);
            match load_pack(pack) {
                Ok(p) => {
                    let rows = api::rate_sheet(&p, at, name);
                    if format == "json" {
                        out(&(serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"));
                    } else {
                        out(&api::rate_sheet_text(&p, at, &rows));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => report(&e, format == "json"),
            }
        }
    }
}

/// `replay --audit-log`: makes each logged determination again; exit 1 if
/// any differs.
fn replay_log(log: &str, wanted: &[u64], pack: Option<&str>, json: bool) -> ExitCode {
    use ratebook::replay::{LogEntry, replay};
    #[derive(serde::Serialize)]
    struct Replayed {
        seq: u64,
        #[serde(flatten)]
        replay: ratebook::replay::Replay,
    }
    let run = || -> Result<(Vec<Replayed>, usize, Vec<u64>), Error> {
        let pack = load_pack(pack)?;
        let file = std::fs::File::open(log)
            .map_err(|e| Error::input("ratebook::io", format!("cannot read {log}: {e}")).at(Location::file(log)))?;
        let mut replayed = Vec::new();
        let mut errors = 0;
        let mut found = Vec::new();
        for (i, line) in std::io::BufRead::lines(std::io::BufReader::new(file)).enumerate() {
            let line = line.map_err(|e| Error::input("ratebook::io", format!("cannot read {log}: {e}")))?;
            let entry = LogEntry::parse(&format!("{log}:{}", i + 1), &line)?;
            if !wanted.is_empty() && !wanted.contains(&entry.seq) {
                continue;
            }
            found.push(entry.seq);
            match &entry.recorded {
                Some(rec) => replayed.push(Replayed {
                    seq: entry.seq,
                    replay: replay(pack.clone(), rec)?,
                }),
                None => errors += 1,
            }
        }
        let missing = wanted.iter().copied().filter(|s| !found.contains(s)).collect();
        Ok((replayed, errors, missing))
    };
    match run() {
        Ok((replayed, errors, missing)) => {
            let differ: Vec<&Replayed> = replayed.iter().filter(|r| !r.replay.same()).collect();
            if json {
                out(&(serde_json::to_string_pretty(&serde_json::json!({
                    "replayed": replayed.len(), "identical": replayed.len() - differ.len(),
                    "differ": differ, "errors_skipped": errors, "not_found": missing,
                }))
                .unwrap_or_default()
                    + "\n"));
            } else {
                let mut t = format!(
                    "{} determination(s) replayed from {log}: {} identical, {} differ",
                    replayed.len(),
                    replayed.len() - differ.len(),
                    differ.len()
                );
                if errors > 0 {
                    t.push_str(&format!("; {errors} of the entries recorded an error and were skipped"));
                }
                t.push('\n');
                for r in &differ {
                    t.push_str(&format!("\nentry {} DIFFERS:\n", r.seq));
                    for e in r.replay.explanations.iter().chain(&r.replay.differences) {
                        t.push_str(&format!("  - {e}\n"));
                    }
                }
                if !missing.is_empty() {
                    t.push_str(&format!("\nno entry with seq {missing:?} in {log}\n"));
                }
                out(&t);
            }
            if differ.is_empty() && missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => report(&e, json),
    }
}

/// `params [PACK] [NAME]`: one argument is a pack if it is a pack folder,
/// otherwise a name.
fn pack_and_name(args: &[String]) -> (Option<&str>, Option<&str>) {
    match args {
        [pack, name, ..] => (Some(pack.as_str()), Some(name.as_str())),
        [one] if std::path::Path::new(one).join("pack.yaml").is_file() => (Some(one.as_str()), None),
        [one] => (None, Some(one.as_str())),
        [] => (None, None),
    }
}

/// Reviews every row of a batch; a row that cannot be read or decided is an
/// error row with its reason, and the others go on.
fn review_batch(
    engine: &ratebook::Engine,
    name: &str,
    text: &str,
    decision: Option<&str>,
    options: &ratebook::Options,
    tolerance: rust_decimal::Decimal,
) -> ratebook::review::BatchReport {
    use ratebook::review::{BatchRow, Claim, parse_batch, review};
    let rows = parse_batch(name, text)
        .into_iter()
        .map(|r| {
            let (row, id) = match &r {
                Ok(i) => (i.row, i.id.clone()),
                Err((row, _)) => (*row, None),
            };
            let result = r.map_err(|(_, e)| *e).and_then(|input| {
                let where_ = format!("{name} row {row}");
                let claim = Claim::from_value(&format!("{where_} claimed"), &input.claimed)?;
                let decision = input
                    .decision
                    .clone()
                    .or_else(|| claim.decision.clone())
                    .or_else(|| decision.map(str::to_string))
                    .ok_or_else(|| {
                        Error::input(
                            "ratebook::review::no_decision",
                            format!("{where_}: no decision (a `decision` column, the claim's, or --decision)"),
                        )
                    })?;
                let case = ratebook::Case::from_value(&where_, input.case);
                let det = engine.decide(&decision, &case, options)?;
                Ok(review(&det, &claim, tolerance))
            });
            match result {
                Ok(rv) => BatchRow {
                    row,
                    id,
                    review: Some(rv),
                    error: None,
                },
                Err(e) => BatchRow {
                    row,
                    id,
                    review: None,
                    error: e.to_json().get("error").cloned(),
                },
            }
        })
        .collect();
    ratebook::review::BatchReport::new(rows)
}
