//! Formula decisions: a determination computed from named formulas over the
//! case's inputs and the pack's parameters, one set of formulas per value
//! of a selecting input (a customer class). This is how rate structures
//! written as formulas (imported OWRS files) run natively: no script.
//!
//! The language: decimal numbers, `"text"`, names, `+ - * / ^`, parentheses,
//! lists `[a, b]`, table lookups `param[key, ...]` (keys joined with `|`,
//! numbers written as R writes them), and the functions `round_even(x)`
//! (to an integer, ties to even), `min(...)`, `max(...)`,
//! `tiered(quantity, starts, prices)` (a tier starting at s holds units from
//! s; the first tier starts at 0) and `budget_tiered(quantity, starts,
//! prices)` (a tier "starting" at s holds units up to s from the previous).
//! A name is, in this order: a formula of the set, an input, a parameter.
//! A formula named like an optional input is used only when the case does
//! not give that input. Every parameter read is traced with its source.

use crate::case::{Case, Fact, Facts, FieldId, Schema};
use crate::determination::{Event, Line, LineText, Recorder, Share, Shared, display_quantity, line_amount};
use crate::error::{Error, Location, Result};
use crate::pack::Pack;
use crate::pack::format::{RawDecision, RawFormulas};
use crate::params::{ParamId, ParamStore};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// A compiled formula decision.
#[derive(Debug)]
pub struct Formulas {
    pub title: String,
    pub schema: Schema,
    select: Option<FieldId>,
    sets: Vec<(Arc<str>, Set)>,
    effective: Option<NaiveDate>,
    cite: Arc<str>,
    constants: std::sync::RwLock<HashMap<(usize, NaiveDate), Arc<Constants>>>,
}

#[derive(Debug)]
struct Set {
    /// In evaluation order (each after the formulas it uses).
    formulas: Vec<Formula>,
    total: Option<usize>,
}

#[derive(Debug)]
struct Formula {
    name: Arc<str>,
    expr: Arc<str>,
    node: Node,
    /// An optional input of the same name that overrides the formula.
    input: Option<FieldId>,
    line: Option<Arc<LineText>>,
    /// The total or a line depends on it: if it cannot be evaluated the
    /// determination fails. Other formulas are shown when they evaluate
    /// and left out, with a note, when they do not.
    needed: bool,
    /// It reads no input (only parameters and other such formulas): its
    /// value on a date is the same for every case, and is kept.
    constant: bool,
    /// The line texts of a tiered line formula's first tiers, made once.
    tier_lines: Vec<Arc<LineText>>,
}

/// Tiers whose line texts are made when the pack is compiled.
const PREPARED_TIERS: usize = 12;

fn tier_line_text(text: &LineText, i: usize) -> Arc<LineText> {
    Arc::new(LineText {
        id: Arc::from(format!("{}.tier{}", text.id, i + 1).as_str()),
        label: Arc::from(format!("{}, tier {}", text.label, i + 1).as_str()),
        unit: text.unit.clone(),
        cite: text.cite.clone(),
    })
}

/// The constant formulas of a set evaluated on a date (for runs without a
/// trace), with the warnings their figures gave.
#[derive(Debug)]
struct Constants {
    values: Vec<Option<Val>>,
    warnings: Vec<crate::determination::Warning>,
}

/// Constants by (set, date); emptied when it grows past this many.
const MAX_CONSTANTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    RoundEven,
    Min,
    Max,
    Tiered,
    BudgetTiered,
    /// `if_present(table[key])`: the figure, or nothing (an empty list)
    /// when the table has no such key; for lists that differ in length by key.
    IfPresent,
    /// `error("why")`: a value that is not defined; using it fails with why.
    Error,
    /// `size_key(text)`: a meter size spelled one way (see `size_key`).
    SizeKey,
}

/// Parsed, names unresolved.
#[derive(Debug, Clone, PartialEq)]
enum Ast {
    Num(Decimal),
    Text(String),
    Name(String),
    Index(String, Vec<Ast>),
    Call(String, Vec<Ast>),
    List(Vec<Ast>),
    Neg(Box<Ast>),
    Bin(Op, Box<Ast>, Box<Ast>),
}

/// Compiled, names resolved.
#[derive(Debug)]
enum Node {
    Num(Decimal),
    Text(Arc<str>),
    /// Index into the set's values (evaluation order).
    Formula(usize),
    Input(FieldId, Arc<str>),
    Param(ParamId),
    Table(ParamId, Vec<Node>),
    Call(Func, Vec<Node>),
    List(Vec<Node>),
    Neg(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
}

/// A value while evaluating.
#[derive(Debug, Clone)]
enum Val {
    Num(Decimal),
    Text(Arc<str>),
    List(Arc<[Decimal]>),
    /// A formula that could not be evaluated (and that nothing needed).
    Undefined(Arc<str>),
}

// ---------------------------------------------------------------- parsing

/// Parses a formula; the error is a message about the text.
fn parse(text: &str) -> std::result::Result<Ast, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let ast = p.expr()?;
    match p.peek() {
        None => Ok(ast),
        Some(t) => Err(format!("unexpected `{}` after a complete expression", t.show())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Decimal),
    Text(String),
    Name(String),
    Sym(char),
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Num(d) => d.to_string(),
            Tok::Text(t) => format!("\"{t}\""),
            Tok::Name(n) => n.clone(),
            Tok::Sym(c) => c.to_string(),
        }
    }
}

fn tokenize(text: &str) -> std::result::Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while at(i).is_some_and(|d| d.is_ascii_digit() || d == '.') {
                i += 1;
            }
            if at(i).is_some_and(|e| e == 'e' || e == 'E') {
                let mut j = i + 1;
                if at(j).is_some_and(|s| s == '+' || s == '-') {
                    j += 1;
                }
                if at(j).is_some_and(|d| d.is_ascii_digit()) {
                    i = j;
                    while at(i).is_some_and(|d| d.is_ascii_digit()) {
                        i += 1;
                    }
                }
            }
            let lit: String = chars.get(start..i).unwrap_or_default().iter().collect();
            let n = Decimal::from_str(&lit)
                .or_else(|_| Decimal::from_scientific(&lit))
                .map_err(|_| format!("`{lit}` is not a number"))?;
            out.push(Tok::Num(n));
        } else if c.is_alphabetic() || c == '_' || c == '.' {
            let start = i;
            while at(i).is_some_and(|d| d.is_alphanumeric() || d == '_' || d == '.') {
                i += 1;
            }
            out.push(Tok::Name(chars.get(start..i).unwrap_or_default().iter().collect()));
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while at(i).is_some_and(|d| d != '"') {
                i += 1;
            }
            if at(i).is_none() {
                return Err("a text in quotes is not closed".into());
            }
            out.push(Tok::Text(chars.get(start..i).unwrap_or_default().iter().collect()));
            i += 1;
        } else if "+-*/^()[],".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(format!(
                "`{c}` is not part of a formula (numbers, names, + - * / ^, parentheses)"
            ));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    at: usize,
    /// How deeply the formula nests so far (bounded: no stack overflow).
    depth: usize,
}

/// The most formulas in one set (which also bounds how deeply they depend
/// on each other).
const MAX_FORMULAS: usize = 1000;

/// The deepest nesting a formula may have (parentheses, lists, arguments,
/// signs).
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> std::result::Result<(), String> {
        match self.next() {
            Some(Tok::Sym(s)) if s == c => Ok(()),
            Some(t) => Err(format!("expected `{c}`, found `{}`", t.show())),
            None => Err(format!("expected `{c}` at the end")),
        }
    }

    fn expr(&mut self) -> std::result::Result<Ast, String> {
        self.nested(|p| p.binary([('+', Op::Add), ('-', Op::Sub)], Parser::term))
    }

    /// Runs one level deeper, refusing a formula nested past `MAX_DEPTH`.
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Parser) -> std::result::Result<Ast, String>,
    ) -> std::result::Result<Ast, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("the formula nests more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn term(&mut self) -> std::result::Result<Ast, String> {
        self.binary([('*', Op::Mul), ('/', Op::Div)], Parser::unary)
    }

    /// One level of left-associative operators over the next level.
    fn binary(
        &mut self,
        ops: [(char, Op); 2],
        next: fn(&mut Parser) -> std::result::Result<Ast, String>,
    ) -> std::result::Result<Ast, String> {
        let mut left = next(self)?;
        while let Some(op) = ops.iter().find(|(c, _)| self.eat(*c)).map(|(_, op)| *op) {
            left = Ast::Bin(op, Box::new(left), Box::new(next(self)?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> std::result::Result<Ast, String> {
        if self.eat('-') {
            return self.nested(|p| Ok(Ast::Neg(Box::new(p.unary()?))));
        }
        if self.eat('+') {
            return self.nested(Parser::unary);
        }
        let base = self.atom()?;
        if self.eat('^') {
            return self.nested(|p| Ok(Ast::Bin(Op::Pow, Box::new(base), Box::new(p.unary()?))));
        }
        Ok(base)
    }

    fn args(&mut self, close: char) -> std::result::Result<Vec<Ast>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn atom(&mut self) -> std::result::Result<Ast, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Ast::Num(n)),
            Some(Tok::Text(t)) => Ok(Ast::Text(t)),
            Some(Tok::Name(n)) => {
                if self.eat('(') {
                    Ok(Ast::Call(n, self.args(')')?))
                } else if self.eat('[') {
                    Ok(Ast::Index(n, self.args(']')?))
                } else {
                    Ok(Ast::Name(n))
                }
            }
            Some(Tok::Sym('(')) => {
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Sym('[')) => Ok(Ast::List(self.args(']')?)),
            Some(t) => Err(format!("unexpected `{}`", t.show())),
            None => Err("the formula ends too early".into()),
        }
    }
}

impl Ast {
    /// Calls `f` on this node and every node below it, in order.
    fn visit(&self, f: &mut impl FnMut(&Ast)) {
        f(self);
        match self {
            Ast::Index(_, xs) | Ast::Call(_, xs) | Ast::List(xs) => xs.iter().for_each(|x| x.visit(f)),
            Ast::Neg(x) => x.visit(f),
            Ast::Bin(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Ast::Name(_) | Ast::Num(_) | Ast::Text(_) => {}
        }
    }

    /// The names it refers to (not functions or tables), in order of first use.
    fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.visit(&mut |a| {
            if let Ast::Name(n) = a
                && !out.contains(n)
            {
                out.push(n.clone());
            }
        });
        out
    }
}

/// The names a formula text refers to (not functions or tables), in order
/// of first use; for importers checking what a formula needs.
pub fn names_in(text: &str) -> std::result::Result<Vec<String>, String> {
    Ok(parse(text)?.names())
}

/// The tables a formula text looks up (`name[...]`).
pub fn tables_in(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    parse(text)?.visit(&mut |a| {
        if let Ast::Index(n, _) = a {
            out.push(n.clone());
        }
    });
    Ok(out)
}

// -------------------------------------------------------------- compiling

/// Compiles a formula decision's definition against the pack.
pub fn compile(pack: &Pack, file: &str, def: &RawDecision, raw: &RawFormulas) -> Result<Formulas> {
    let bad = |m: String| Error::pack("ratebook::pack::bad_formula", format!("{file}: {m}")).at(Location::file(file));
    if def.period.is_some() || !def.charges.is_empty() {
        return Err(bad(
            "a formula decision takes `inputs` and `formulas`; `period` and `charges` are for charge decisions".into(),
        ));
    }
    let schema = Schema::compile(file, &def.inputs)?;
    let select = match &raw.select {
        Some(path) => {
            let f = schema
                .field(path)
                .ok_or_else(|| bad(format!("`select: {path}` is not an input")))?;
            let values = schema
                .values(f)
                .filter(|_| !schema.is_set(f))
                .ok_or_else(|| bad(format!("`select: {path}` must be an enum input")))?;
            for v in values {
                if !raw.sets.contains_key(&**v) {
                    return Err(bad(format!("`{path}` can be `{v}` but `formulas.sets` has no `{v}`")));
                }
            }
            for k in raw.sets.keys() {
                if !values.iter().any(|v| &**v == k) {
                    return Err(bad(format!("set `{k}` is not a value of `{path}`")));
                }
            }
            Some(f)
        }
        None => {
            if raw.sets.len() != 1 || !raw.sets.contains_key("all") {
                return Err(bad("without `select`, `formulas.sets` has one set named `all`".into()));
            }
            None
        }
    };
    let effective = raw
        .effective
        .as_deref()
        .map(|d| crate::dates::parse_date(d).ok_or_else(|| bad(format!("`effective: {d}` is not a date (YYYY-MM-DD)"))))
        .transpose()?;
    let cite = def.cite.clone().unwrap_or_default();
    let check_cite = |c: &str| {
        if pack.citations.contains_key(c) {
            Ok(())
        } else {
            Err(bad(format!("citation `{c}` is not in citations.yaml")))
        }
    };
    if !cite.is_empty() {
        check_cite(&cite)?;
    }
    let mut sets = Vec::new();
    for (set_name, list) in &raw.sets {
        if list.len() > MAX_FORMULAS {
            return Err(bad(format!(
                "set `{set_name}` has {} formulas; a set has at most {MAX_FORMULAS}",
                list.len()
            )));
        }
        let mut asts = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for f in list {
            let ast = parse(&f.expr)
                .map_err(|m| bad(format!("set `{set_name}`, formula `{}` = `{}`: {m}", f.name, f.expr)))?;
            if index.insert(f.name.as_str(), asts.len()).is_some() {
                return Err(bad(format!("set `{set_name}` defines `{}` twice", f.name)));
            }
            if let Some(c) = &f.cite {
                check_cite(c)?;
            }
            asts.push(ast);
        }
        let order =
            evaluation_order(list.iter().map(|f| f.name.as_str()).collect(), &asts, &index).map_err(|cycle| {
                bad(format!(
                    "set `{set_name}`: the formulas {cycle} use each other in a circle"
                ))
            })?;
        let slot: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .filter_map(|(slot, i)| Some((list.get(*i)?.name.as_str(), slot)))
            .collect();
        let mut formulas = Vec::new();
        for i in order {
            let (Some(f), Some(ast)) = (list.get(i), asts.get(i)) else {
                continue;
            };
            let ctx = Ctx {
                pack,
                schema: &schema,
                slots: &slot,
            };
            let node = ctx
                .node(ast)
                .map_err(|m| bad(format!("set `{set_name}`, formula `{}` = `{}`: {m}", f.name, f.expr)))?;
            let input = schema.field(&f.name);
            let line = f.line.as_ref().map(|label| {
                Arc::new(LineText {
                    id: Arc::from(f.name.as_str()),
                    label: Arc::from(label.as_str()),
                    unit: Arc::from(f.unit.as_deref().unwrap_or("")),
                    cite: Arc::from(f.cite.as_deref().unwrap_or(&cite)),
                })
            });
            formulas.push(Formula {
                name: Arc::from(f.name.as_str()),
                expr: Arc::from(
                    f.source
                        .as_deref()
                        .map_or(f.expr.clone(), |s| format!("{} ({s})", f.expr))
                        .as_str(),
                ),
                node,
                input,
                line,
                needed: false,
                constant: false,
                tier_lines: Vec::new(),
            });
        }
        let total = raw.total.as_deref().and_then(|t| slot.get(t).copied());
        mark_needed(&mut formulas, total);
        mark_constant(&mut formulas);
        for f in &mut formulas {
            if let Some(text) = &f.line
                && matches!(f.node, Node::Call(Func::Tiered | Func::BudgetTiered, _))
            {
                f.tier_lines = (0..PREPARED_TIERS).map(|i| tier_line_text(text, i)).collect();
            }
        }
        sets.push((Arc::from(set_name.as_str()), Set { formulas, total }));
    }
    Ok(Formulas {
        title: def.title.clone(),
        schema,
        select,
        sets,
        effective,
        cite: Arc::from(cite.as_str()),
        constants: Default::default(),
    })
}

/// Formulas ordered so each comes after those it uses (file order where
/// free); a circle is an error naming its members.
fn evaluation_order(
    names: Vec<&str>,
    asts: &[Ast],
    index: &HashMap<&str, usize>,
) -> std::result::Result<Vec<usize>, String> {
    // 0 = not seen, 1 = in progress, 2 = done
    let mut state = vec![0u8; asts.len()];
    let mut order = Vec::with_capacity(asts.len());
    fn visit(
        i: usize,
        asts: &[Ast],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> std::result::Result<(), Vec<usize>> {
        match state.get(i) {
            Some(2) => return Ok(()),
            Some(1) => {
                let from = path.iter().position(|p| *p == i).unwrap_or(0);
                return Err(path.get(from..).unwrap_or_default().to_vec());
            }
            _ => {}
        }
        if let Some(s) = state.get_mut(i) {
            *s = 1;
        }
        path.push(i);
        let ds: Vec<usize> = asts
            .get(i)
            .map(|a| {
                a.names()
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .collect()
            })
            .unwrap_or_default();
        for d in ds {
            visit(d, asts, index, state, order, path)?;
        }
        path.pop();
        if let Some(s) = state.get_mut(i) {
            *s = 2;
        }
        order.push(i);
        Ok(())
    }
    for i in 0..asts.len() {
        let mut path = Vec::new();
        visit(i, asts, index, &mut state, &mut order, &mut path).map_err(|cycle| {
            cycle
                .iter()
                .filter_map(|c| names.get(*c))
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        })?;
    }
    Ok(order)
}

/// Marks the formulas that read no input, directly or through another
/// formula, and add nothing to a determination but their value (no tiered
/// lines, no error). `formulas` is in evaluation order.
fn mark_constant(formulas: &mut [Formula]) {
    fn pure(n: &Node, done: &[bool]) -> bool {
        match n {
            Node::Num(_) | Node::Text(_) | Node::Param(_) => true,
            Node::Input(..) => false,
            Node::Formula(i) => done.get(*i).copied().unwrap_or(false),
            Node::Call(Func::Tiered | Func::BudgetTiered | Func::Error, _) => false,
            Node::Table(_, xs) | Node::Call(_, xs) | Node::List(xs) => xs.iter().all(|x| pure(x, done)),
            Node::Neg(x) => pure(x, done),
            Node::Bin(_, a, b) => pure(a, done) && pure(b, done),
        }
    }
    let mut done = Vec::with_capacity(formulas.len());
    for f in formulas.iter_mut() {
        f.constant = f.input.is_none() && pure(&f.node, &done);
        done.push(f.constant);
    }
}

/// Marks the formulas the total and the lines depend on.
fn mark_needed(formulas: &mut [Formula], total: Option<usize>) {
    fn refs(n: &Node, out: &mut Vec<usize>) {
        match n {
            Node::Formula(i) => out.push(*i),
            Node::Table(_, xs) | Node::Call(_, xs) | Node::List(xs) => xs.iter().for_each(|x| refs(x, out)),
            Node::Neg(x) => refs(x, out),
            Node::Bin(_, a, b) => {
                refs(a, out);
                refs(b, out);
            }
            Node::Num(_) | Node::Text(_) | Node::Input(..) | Node::Param(_) => {}
        }
    }
    let mut stack: Vec<usize> = formulas
        .iter()
        .enumerate()
        .filter(|(_, f)| f.line.is_some())
        .map(|(i, _)| i)
        .chain(total)
        .collect();
    while let Some(i) = stack.pop() {
        let Some(f) = formulas.get_mut(i) else { continue };
        if f.needed {
            continue;
        }
        f.needed = true;
        refs(&f.node, &mut stack);
    }
}

struct Ctx<'a> {
    pack: &'a Pack,
    schema: &'a Schema,
    slots: &'a HashMap<&'a str, usize>,
}

impl Ctx<'_> {
    fn node(&self, a: &Ast) -> std::result::Result<Node, String> {
        Ok(match a {
            Ast::Num(n) => Node::Num(*n),
            Ast::Text(t) => Node::Text(Arc::from(t.as_str())),
            Ast::Name(n) => {
                if let Some(s) = self.slots.get(n.as_str()) {
                    Node::Formula(*s)
                } else if let Some(f) = self.schema.field(n) {
                    Node::Input(f, Arc::from(n.as_str()))
                } else if let Some(p) = self.pack.params.id(n) {
                    Node::Param(p)
                } else {
                    return Err(format!("`{n}` is not a formula of this set, an input or a parameter"));
                }
            }
            Ast::Index(n, keys) => {
                let p = self
                    .pack
                    .params
                    .id(n)
                    .ok_or_else(|| format!("`{n}[...]` looks up a table, but there is no parameter `{n}`"))?;
                Node::Table(
                    p,
                    keys.iter()
                        .map(|k| self.node(k))
                        .collect::<std::result::Result<_, _>>()?,
                )
            }
            Ast::Call(f, args) => {
                let (func, arity) = match f.as_str() {
                    "round_even" => (Func::RoundEven, Some(1)),
                    "min" => (Func::Min, None),
                    "max" => (Func::Max, None),
                    "tiered" => (Func::Tiered, Some(3)),
                    "budget_tiered" => (Func::BudgetTiered, Some(3)),
                    "if_present" => (Func::IfPresent, Some(1)),
                    "error" => (Func::Error, Some(1)),
                    "size_key" => (Func::SizeKey, Some(1)),
                    other => {
                        return Err(format!(
                            "`{other}(...)` is not a function here (round_even, min, max, tiered, budget_tiered, if_present, error, size_key)"
                        ));
                    }
                };
                if arity.is_some_and(|n| n != args.len()) || args.is_empty() {
                    return Err(format!("`{f}` takes {} arguments", arity.unwrap_or(1)));
                }
                let args: Vec<Node> = args
                    .iter()
                    .map(|x| self.node(x))
                    .collect::<std::result::Result<_, _>>()?;
                match (func, args.first()) {
                    (Func::IfPresent, Some(Node::Table(..))) | (Func::Error, Some(Node::Text(_))) => {}
                    (Func::IfPresent, _) => return Err("`if_present` takes a table lookup, `table[key]`".into()),
                    (Func::Error, _) => return Err("`error` takes a text in quotes".into()),
                    _ => {}
                }
                Node::Call(func, args)
            }
            Ast::List(xs) => Node::List(xs.iter().map(|x| self.node(x)).collect::<std::result::Result<_, _>>()?),
            Ast::Neg(x) => Node::Neg(Box::new(self.node(x)?)),
            Ast::Bin(op, a, b) => Node::Bin(*op, Box::new(self.node(a)?), Box::new(self.node(b)?)),
        })
    }
}

// ------------------------------------------------------------- evaluating

/// The result of evaluating a formula decision.
pub struct Evaluated {
    pub as_of: NaiveDate,
    pub total: Option<Decimal>,
    /// Each line formula's exact value (only when evaluated for amounts).
    pub lines: smallvec::SmallVec<[(Arc<str>, Decimal); 4]>,
}

/// What an evaluation records: the whole determination, or only the
/// amounts (the total and each line formula's value: a batch's CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Determination,
    Amounts,
}

/// A problem evaluating a formula: an input error (a key not in a table,
/// a missing input) or arithmetic that cannot be done.
struct Fail(Error);

struct Run<'a, 'p> {
    store: &'a ParamStore,
    schema: &'a Schema,
    facts: &'a Facts,
    as_of: NaiveDate,
    case: &'a dyn std::fmt::Display,
    rec: &'a mut Recorder<'p>,
    values: smallvec::SmallVec<[Val; 12]>,
    record: Record,
}

impl Formulas {
    /// Evaluates the decision for a case into `rec`.
    pub fn run(&self, pack: &Pack, case: &Case, as_of: Option<NaiveDate>, rec: &mut Recorder) -> Result<Evaluated> {
        let mut facts = Facts::default();
        let case_as_of = self.schema.check_into(case, &mut facts)?;
        self.run_facts(pack, &case.name, &facts, as_of.or(case_as_of), rec)
    }

    /// `run` on checked facts.
    pub fn run_facts(
        &self,
        pack: &Pack,
        case_name: &dyn std::fmt::Display,
        facts: &Facts,
        as_of: Option<NaiveDate>,
        rec: &mut Recorder,
    ) -> Result<Evaluated> {
        let record = if rec.amounts_only() {
            Record::Amounts
        } else {
            Record::Determination
        };
        let as_of = as_of.or(self.effective).ok_or_else(|| {
            Error::input(
                "ratebook::case::no_as_of",
                "give the date of the determination with --as-of or `as_of:` in the case",
            )
        })?;
        let set_index = match self.select {
            Some(f) => facts.get(f).enum_index().map_or(usize::MAX, usize::from),
            None => 0,
        };
        let Some((set_name, set)) = self.sets.get(set_index) else {
            return Err(Error::input(
                "ratebook::case::missing_field",
                format!("{case_name}: no formula set applies"),
            ));
        };
        if let Some(f) = self.select
            && record == Record::Determination
        {
            let path = self.schema.path(f);
            let text = format!(
                "{path} is {set_name}: the {set_name} rates and formulas apply ({}).",
                self.title
            );
            rec.reason(
                Arc::from("formulas.select"),
                true,
                Arc::from(text.as_str()),
                self.cite.clone(),
            );
        }
        let cached = if rec.trace_on() {
            None
        } else {
            self.constants(pack, set_index, set, as_of)
        };
        let mut run = Run {
            store: &pack.params,
            schema: &self.schema,
            facts,
            as_of,
            case: case_name,
            rec,
            values: smallvec::SmallVec::with_capacity(set.formulas.len()),
            record,
        };
        let mut lines = smallvec::SmallVec::new();
        for (slot, f) in set.formulas.iter().enumerate() {
            let given = f.input.map(|i| facts.get(i)).filter(|x| x.is_present());
            let kept = match &cached {
                Some(c) if f.constant => c.values.get(slot).cloned().flatten(),
                _ => None,
            };
            let v = match (given, kept) {
                (_, Some(v)) => v,
                (Some(fact), None) => {
                    let v = fact_val(fact, f.input.and_then(|i| self.schema.values(i)));
                    run.rec.event(|| Event::Note {
                        text: format!(
                            "{} = {} (given in the case; the formula `{}` is not used)",
                            f.name,
                            show(&v),
                            f.expr
                        ),
                    });
                    v
                }
                (None, None) => {
                    let v = match run.eval(&f.node, f) {
                        Ok(v) => v,
                        Err(Fail(e)) if !f.needed => {
                            run.rec.event(|| Event::Note {
                                text: format!("{} is left out (the total does not use it): {}", f.name, e.message),
                            });
                            run.values.push(Val::Undefined(Arc::from(e.message.as_str())));
                            continue;
                        }
                        Err(Fail(e)) => return Err(e),
                    };
                    if !run.rec.missing.is_empty() {
                        // Report every missing figure at once, not the first
                        // failed arithmetic on it.
                        run.values.push(Val::Num(Decimal::ZERO));
                        continue;
                    }
                    run.rec.event(|| Event::Note {
                        text: format!("{} = {}    ({})", f.name, show(&v), f.expr),
                    });
                    v
                }
            };
            if let Val::Num(n) = &v
                && record == Record::Amounts
            {
                if f.line.is_some() {
                    lines.push((f.name.clone(), *n));
                }
            } else if let Val::Num(n) = &v {
                run.rec
                    .outputs
                    .insert(f.name.clone(), serde_json::Value::String(n.normalize().to_string()));
                if let Some(text) = &f.line
                    && !matches!(f.node, Node::Call(Func::Tiered | Func::BudgetTiered, _))
                {
                    add_line(run.rec, text, Decimal::ONE, *n, *n, as_of, &f.expr);
                }
            }
            run.values.push(v);
        }
        let Run { values, .. } = run;
        if let Some(c) = &cached {
            for w in &c.warnings {
                if !rec.warnings.contains(w) {
                    rec.warnings.push(w.clone());
                }
            }
        }
        if !rec.missing.is_empty() {
            return Ok(Evaluated {
                as_of,
                total: None,
                lines,
            });
        }
        let total = match set.total.and_then(|t| values.get(t)) {
            Some(Val::Num(n)) => Some(line_amount(settle(*n))),
            Some(other) => {
                return Err(Error::pack(
                    "ratebook::rule::bad_value",
                    format!("the total is {} where a number is needed", show(other)),
                ));
            }
            None => None,
        };
        if let Some(t) = total {
            let sum: Decimal = rec.lines.iter().map(|l| l.amount).sum();
            if sum != t && !rec.lines.is_empty() {
                rec.event(|| Event::Note {
                    text: format!(
                        "the total {t} is the total formula rounded once, half-up to the cent; the lines, each rounded, add to {sum}"
                    ),
                });
            }
        }
        Ok(Evaluated { as_of, total, lines })
    }

    /// The constant formulas of a set on a date, evaluated once and kept;
    /// `None` when one cannot be evaluated (the run then reports why).
    fn constants(&self, pack: &Pack, index: usize, set: &Set, as_of: NaiveDate) -> Option<Arc<Constants>> {
        let key = (index, as_of);
        if let Some(c) = self.constants.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Some(c);
        }
        let facts = Facts::default();
        let mut rec = Recorder::new(false);
        let mut run = Run {
            store: &pack.params,
            schema: &self.schema,
            facts: &facts,
            as_of,
            case: &"",
            rec: &mut rec,
            values: smallvec::SmallVec::with_capacity(set.formulas.len()),
            record: Record::Amounts,
        };
        let mut values = Vec::with_capacity(set.formulas.len());
        for f in &set.formulas {
            if f.constant {
                let v = run.eval(&f.node, f).ok()?;
                run.values.push(v.clone());
                values.push(Some(v));
            } else {
                run.values.push(Val::Undefined(Arc::from("not a constant")));
                values.push(None);
            }
        }
        if !rec.missing.is_empty() {
            return None;
        }
        let kept = Arc::new(Constants {
            values,
            warnings: rec.warnings,
        });
        if let Ok(mut map) = self.constants.write() {
            if map.len() >= MAX_CONSTANTS {
                map.clear();
            }
            map.insert(key, Arc::clone(&kept));
        }
        Some(kept)
    }

    /// The names of the line formulas over every set, in order of first use.
    pub fn line_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, set) in &self.sets {
            for f in &set.formulas {
                if f.line.is_some() && !out.iter().any(|n| **n == *f.name) {
                    out.push(f.name.to_string());
                }
            }
        }
        out
    }
}

fn add_line(
    rec: &mut Recorder<'_>,
    text: &Arc<LineText>,
    qty: Decimal,
    rate: Decimal,
    exact: Decimal,
    on: NaiveDate,
    source: &Arc<str>,
) {
    let line = Line {
        text: Shared::Made(Arc::clone(text)),
        quantity: display_quantity(qty),
        rate,
        amount: line_amount(exact),
        from: on,
        to: on,
        source: Shared::Made(Arc::clone(source)),
        basis: None,
    };
    rec.add_line(line, exact.into());
}

/// The line a formula's figure is read for, as the trace names it.
fn line_of(f: &Formula) -> Option<crate::determination::Text<'static>> {
    f.line.as_ref().map(|l| Shared::Made(Arc::clone(&l.id)))
}

fn fact_val(f: &Fact, enum_values: Option<&[Arc<str>]>) -> Val {
    match f {
        Fact::Number(n) => Val::Num(*n),
        Fact::Text(t) => Val::Text(t.clone()),
        Fact::Enum(i) => Val::Text(
            enum_values
                .and_then(|vs| vs.get(*i as usize))
                .cloned()
                .unwrap_or_else(|| Arc::from("")),
        ),
        Fact::Bool(b) => Val::Text(Arc::from(if *b { "TRUE" } else { "FALSE" })),
        other => Val::Text(Arc::from(format!("{other:?}").as_str())),
    }
}

fn show(v: &Val) -> String {
    match v {
        Val::Num(n) => n.normalize().to_string(),
        Val::Text(t) => format!("\"{t}\""),
        Val::Undefined(why) => format!("(not defined: {why})"),
        Val::List(xs) => format!(
            "[{}]",
            xs.iter()
                .map(|x| x.normalize().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Run<'_, '_> {
    fn fail(&self, f: &Formula, msg: String) -> Fail {
        Fail(
            Error::input(
                "ratebook::rule::bad_value",
                format!("{}: `{}` = `{}`: {msg}", self.case, f.name, f.expr),
            )
            .at(Location::file(self.case.to_string())),
        )
    }

    /// A table key: the keys' values as text, joined with `|`.
    fn key(&mut self, keys: &[Node], f: &Formula) -> std::result::Result<String, Fail> {
        let mut key = String::new();
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                key.push('|');
            }
            match self.eval(k, f)? {
                Val::Num(d) => key.push_str(&r_text(d)),
                Val::Text(t) => key.push_str(&t),
                Val::List(_) | Val::Undefined(_) => return Err(self.fail(f, "a table key is a list".into())),
            }
        }
        Ok(key)
    }

    fn num(&mut self, n: &Node, f: &Formula) -> std::result::Result<Decimal, Fail> {
        match self.eval(n, f)? {
            Val::Num(d) => Ok(d),
            other => Err(self.fail(f, format!("{} is not a number", show(&other)))),
        }
    }

    fn list(&mut self, n: &Node, f: &Formula) -> std::result::Result<Arc<[Decimal]>, Fail> {
        match self.eval(n, f)? {
            Val::List(xs) => Ok(xs),
            Val::Num(d) => Ok(Arc::from([d])),
            other => Err(self.fail(f, format!("{} is not a list of numbers", show(&other)))),
        }
    }

    fn eval(&mut self, n: &Node, f: &Formula) -> std::result::Result<Val, Fail> {
        Ok(match n {
            Node::Num(d) => Val::Num(*d),
            Node::Text(t) => Val::Text(t.clone()),
            Node::Formula(i) => match self.values.get(*i) {
                Some(Val::Undefined(why)) => {
                    return Err(self.fail(f, format!("it uses a value that is not defined: {why}")));
                }
                Some(v) => v.clone(),
                None => Val::Num(Decimal::ZERO),
            },
            Node::Input(id, name) => {
                let fact = self.facts.get(*id);
                if !fact.is_present() {
                    return Err(Fail(
                        Error::input(
                            "ratebook::case::missing_field",
                            format!(
                                "{}: `{name}` is required: the formula `{}` = `{}` uses it",
                                self.case, f.name, f.expr
                            ),
                        )
                        .at(Location::field(self.case.to_string(), name.to_string())),
                    ));
                }
                fact_val(fact, self.schema.values(*id))
            }
            Node::Param(p) => match self
                .rec
                .param::<Share>(self.store, *p, None, self.as_of, line_of(f).as_ref())
            {
                Some(r) => Val::Num(r.value),
                None => Val::Num(Decimal::ZERO),
            },
            Node::Table(p, keys) => {
                let key = self.key(keys, f)?;
                let Some(param) = self.store.get(*p) else {
                    return Ok(Val::Num(Decimal::ZERO));
                };
                let Some(k) = param.key_index(&key) else {
                    let known = param
                        .keys
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(Fail(
                        Error::input(
                            "ratebook::case::unknown_key",
                            format!(
                                "{}: `{key}` is not a key of `{}` (used by `{}`)",
                                self.case, param.name, f.name
                            ),
                        )
                        .at(Location::file(self.case.to_string()))
                        .with_help(format!("keys: {known}")),
                    ));
                };
                match self
                    .rec
                    .param::<Share>(self.store, *p, Some(k), self.as_of, line_of(f).as_ref())
                {
                    Some(r) => Val::Num(r.value),
                    None => Val::Num(Decimal::ZERO),
                }
            }
            Node::List(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    out.extend_from_slice(&self.list(x, f)?);
                }
                Val::List(Arc::from(out))
            }
            Node::Neg(x) => Val::Num(-self.num(x, f)?),
            Node::Bin(op, a, b) => {
                let (x, y) = (self.num(a, f)?, self.num(b, f)?);
                let r = match op {
                    Op::Add => x.checked_add(y),
                    Op::Sub => x.checked_sub(y),
                    Op::Mul => x.checked_mul(y),
                    Op::Div if y.is_zero() => return Err(self.fail(f, format!("{x} / 0"))),
                    Op::Div => x.checked_div(y),
                    Op::Pow => power(x, y),
                };
                Val::Num(r.ok_or_else(|| self.fail(f, format!("{x} {op:?} {y} is out of range")))?)
            }
            Node::Call(func, args) => self.call(*func, args, f)?,
        })
    }

    fn call(&mut self, func: Func, args: &[Node], f: &Formula) -> std::result::Result<Val, Fail> {
        Ok(match func {
            Func::SizeKey => match args.first().map(|a| self.eval(a, f)).transpose()? {
                Some(Val::Text(t)) => Val::Text(Arc::from(size_key(&t).as_str())),
                Some(Val::Num(n)) => Val::Text(Arc::from(size_key(&r_text(n)).as_str())),
                _ => return Err(self.fail(f, "`size_key` takes a text".into())),
            },
            Func::IfPresent => match args.first() {
                Some(table @ Node::Table(p, keys)) => {
                    let key = self.key(keys, f)?;
                    let has = self.store.get(*p).is_some_and(|param| param.key_index(&key).is_some());
                    if has {
                        self.eval(table, f)?
                    } else {
                        Val::List(Arc::from([]))
                    }
                }
                _ => Val::List(Arc::from([])),
            },
            Func::Error => {
                let why = match args.first() {
                    Some(Node::Text(t)) => t.to_string(),
                    _ => String::new(),
                };
                return Err(Fail(
                    Error::pack(
                        "ratebook::rule::undefined",
                        format!("{}: `{}` is not defined: {why}", self.case, f.name),
                    )
                    .at(Location::file(self.case.to_string())),
                ));
            }
            Func::RoundEven => {
                let x = match args.first() {
                    Some(a) => self.num(a, f)?,
                    None => Decimal::ZERO,
                };
                Val::Num(settle(x).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven))
            }
            Func::Min | Func::Max => {
                let mut best: Option<Decimal> = None;
                for a in args {
                    for &x in self.list(a, f)?.iter() {
                        best = Some(match best {
                            None => x,
                            Some(b) if func == Func::Min => b.min(x),
                            Some(b) => b.max(x),
                        });
                    }
                }
                Val::Num(best.unwrap_or_default())
            }
            Func::Tiered | Func::BudgetTiered => {
                let [q, s, p] = args else {
                    return Err(self.fail(f, "tiered takes (quantity, starts, prices)".into()));
                };
                let q = self.num(q, f)?;
                let starts = self.list(s, f)?;
                let prices = self.list(p, f)?;
                if starts.len() != prices.len() {
                    return Err(self.fail(
                        f,
                        format!("{} tier starts but {} tier prices", starts.len(), prices.len()),
                    ));
                }
                let gap = if func == Func::Tiered {
                    Decimal::ONE
                } else {
                    Decimal::ZERO
                };
                let parts = fill_tiers(q, &starts, gap);
                let mut total = Decimal::ZERO;
                let n = parts.len();
                for (i, (x, &price)) in parts.into_iter().zip(prices.iter()).enumerate() {
                    let amount = x * price;
                    total += amount;
                    self.rec.event(|| Event::Note {
                        text: format!(
                            "{} tier {} of {n} (from {}): {} x {} = {}",
                            f.name,
                            i + 1,
                            if i == 0 {
                                Decimal::ZERO
                            } else {
                                starts.get(i).copied().unwrap_or_default()
                            },
                            x.normalize(),
                            price.normalize(),
                            amount.normalize()
                        ),
                    });
                    if let Some(text) = &f.line
                        && !x.is_zero()
                        && self.record == Record::Determination
                    {
                        let tier_text = f.tier_lines.get(i).cloned().unwrap_or_else(|| tier_line_text(text, i));
                        add_line(self.rec, &tier_text, x, price, amount, self.as_of, &f.expr);
                    }
                }
                Val::Num(total)
            }
        })
    }
}

/// Splits a quantity into tiers: tier i holds up to its cap c_i = s_{i+1} - gap
/// (cumulative), the last tier the rest. The first start is ignored (the
/// first tier begins at 0); a negative quantity fills nothing.
fn fill_tiers(q: Decimal, starts: &[Decimal], gap: Decimal) -> smallvec::SmallVec<[Decimal; 8]> {
    let n = starts.len();
    let mut out = smallvec::SmallVec::with_capacity(n);
    let mut below = Decimal::ZERO;
    for i in 0..n {
        let x = match starts.get(i + 1) {
            Some(next) => (q.min(*next - gap) - below).max(Decimal::ZERO),
            None => (q - below).max(Decimal::ZERO),
        };
        below += x;
        out.push(x);
    }
    out
}

/// A value settled to 20 decimal places before it is rounded: a quotient
/// such as 1/1200 carries 28 digits, so 9000 x (1/1200) is
/// 7.4999...97 rather than 7.5; settling first rounds the exact 7.5.
fn settle(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(20, RoundingStrategy::MidpointNearestEven)
}

fn power(x: Decimal, y: Decimal) -> Option<Decimal> {
    if y.fract().is_zero() && y.abs() <= Decimal::from(64) {
        let n = y.abs().to_u32()?;
        let mut r = Decimal::ONE;
        for _ in 0..n {
            r = r.checked_mul(x)?;
        }
        if y.is_sign_negative() {
            return Decimal::ONE.checked_div(r);
        }
        return Some(r);
    }
    None
}

/// A meter size spelled one way: `1 1/2"`, `1_1/2"`, `1|1/2"`, `1-1/2 "`
/// and `1 1/2` are all `1 1/2"` (whole and fraction apart by one space,
/// one inch mark at the end).
pub fn size_key(text: &str) -> String {
    let t = text
        .trim()
        .trim_end_matches(['"', '\'', '\u{201d}', '\u{2033}'])
        .trim_end();
    let mut out = String::with_capacity(t.len() + 1);
    let mut gap = false;
    for c in t.chars() {
        if matches!(c, ' ' | '_' | '|' | '-') {
            gap = !out.is_empty();
            continue;
        }
        if gap {
            out.push(' ');
            gap = false;
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A number as R writes it (15 significant digits, no trailing zeros, and
/// scientific notation where that is shorter: 100000 -> `1e+05`): how
/// table keys made from numbers are spelled.
pub fn r_text(d: Decimal) -> String {
    let d = d.round_sf(15).unwrap_or(d).normalize();
    let fixed = d.to_string();
    if d.is_zero() {
        return "0".into();
    }
    let digits: String = fixed.chars().filter(|c| c.is_ascii_digit()).collect();
    let sig = digits.trim_start_matches('0');
    let mantissa_digits = sig.trim_end_matches('0');
    // exponent: position of the first significant digit
    let int_part = fixed.trim_start_matches('-').split('.').next().unwrap_or("");
    let exp: i64 = if int_part != "0" {
        int_part.len() as i64 - 1
    } else {
        let frac = fixed.split('.').nth(1).unwrap_or("");
        -((frac.len() - frac.trim_start_matches('0').len()) as i64 + 1)
    };
    let mut sci = String::new();
    if d.is_sign_negative() {
        sci.push('-');
    }
    let mut m = mantissa_digits.chars();
    if let Some(first) = m.next() {
        sci.push(first);
    }
    let rest: String = m.collect();
    if !rest.is_empty() {
        sci.push('.');
        sci.push_str(&rest);
    }
    sci.push_str(&format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()));
    if fixed.len() <= sci.len() { fixed } else { sci }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn r_text_writes_numbers_as_r_does() {
        assert_eq!(r_text(d("1")), "1");
        assert_eq!(r_text(d("2.50")), "2.5");
        assert_eq!(r_text(d("100000")), "1e+05");
        assert_eq!(r_text(d("1000")), "1000");
        assert_eq!(r_text(d("0.0001")), "1e-04");
        assert_eq!(r_text(d("123456")), "123456");
    }

    #[test]
    fn meter_sizes_are_spelled_one_way() {
        for s in ["1 1/2\"", "1_1/2\"", "1|1/2\"", "1-1/2 \"", " 1 1/2", "1  1/2''"] {
            assert_eq!(size_key(s), "1 1/2\"", "{s}");
        }
        assert_eq!(size_key("5/8\""), "5/8\"");
        assert_eq!(size_key("10"), "10\"");
    }

    #[test]
    fn tiers_fill_as_rateparser_does() {
        let s = [d("0"), d("15"), d("21"), d("26")];
        let x = fill_tiers(d("27.3"), &s, Decimal::ONE).to_vec();
        assert_eq!(x, vec![d("14"), d("6"), d("5"), d("2.3")]);
        let b = [d("0"), d("7"), d("11"), d("14")];
        assert_eq!(
            fill_tiers(d("27.3"), &b, Decimal::ZERO).to_vec(),
            vec![d("7"), d("4"), d("3"), d("13.3")]
        );
        // non-increasing starts are applied literally
        let odd = [d("0"), d("20"), d("10"), d("30")];
        assert_eq!(
            fill_tiers(d("25"), &odd, Decimal::ONE).to_vec(),
            vec![d("19"), d("0"), d("6"), d("0")]
        );
        assert_eq!(fill_tiers(d("-3"), &s, Decimal::ONE).to_vec(), vec![d("0"); 4]);
    }

    #[test]
    fn parses_precedence_and_names() {
        assert_eq!(
            names_in("a + b * (c - d.e) / f[g]").ok(),
            Some(vec!["a".into(), "b".into(), "c".into(), "d.e".into(), "g".into()])
        );
        assert!(parse("flat_rate*usage_ccf flat_rate").is_err());
        assert!(parse("1 +").is_err());
        assert_eq!(
            parse("-2^2").ok(),
            Some(Ast::Neg(Box::new(Ast::Bin(
                Op::Pow,
                Box::new(Ast::Num(d("2"))),
                Box::new(Ast::Num(d("2")))
            ))))
        );
        assert_eq!(parse("1e3").ok(), Some(Ast::Num(d("1000"))));
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err_and(|m| m.contains("nests more than")));
        assert!(parse(&"-".repeat(10_000)).is_err());
        assert!(parse(&vec!["2"; 10_000].join("^")).is_err());
        assert!(parse(&format!("{}1{}", "(".repeat(30), ")".repeat(30))).is_ok());
    }
}
