//! Text syntax: s-expressions with `;` comments, a parser that never panics and a
//! printer that gives the one canonical form.
//!
//! ```text
//! (mechanism greedy-keep-discard
//!   (init 4 (latin 4))
//!   (propose (perturb (best 1) (rand 1 3) 0.15)))
//! ```
//!
//! Hooks a file leaves out get their defaults; the printer always writes every hook
//! (and `state` when non-empty), so `parse(print(g)) == g` and `print(parse(s))` is
//! canonical. Comments are not part of the genome; [`print_with_comments`] (what `mech
//! fmt` writes) keeps them beside the hooks they belong to.

use std::fmt::Write as _;

use super::ast::{Expr, Genome, Hook, Op, Recommend, Span, StateVar};
use super::prim::Prim;
use crate::diagnostic::Diagnostic;

/// A parsed s-expression.
#[derive(Debug, Clone)]
enum Sexp {
    Atom(String, Span),
    List(Vec<Sexp>, Span),
}

impl Sexp {
    fn span(&self) -> Span {
        match self {
            Sexp::Atom(_, s) | Sexp::List(_, s) => s.clone(),
        }
    }
}

/// Result of parsing: the genome when one could be built, and every problem found.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The genome, absent when the text was too broken to build one.
    pub genome: Option<Genome>,
    /// Problems, in source order. Non-empty means the text is invalid.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parse a genome from text. Never panics; problems come back as diagnostics.
pub fn parse(text: &str) -> Parsed {
    let mut diags = Vec::new();
    let sexps = read_all(text, &mut diags);
    if !diags.is_empty() {
        return Parsed { genome: None, diagnostics: diags };
    }
    let genome = match sexps.as_slice() {
        [] => {
            diags.push(
                Diagnostic::new("the file holds no mechanism", 0..text.len())
                    .with_hint("write `(mechanism NAME (propose EXPR))`"),
            );
            None
        }
        [first, rest @ ..] => {
            let genome = build_genome(first, text, &mut diags);
            // Trailing text only matters once the first form is a mechanism; otherwise
            // it is a consequence of the first error (e.g. a missing `(`).
            if let (Some(_), Some(extra)) = (&genome, rest.first()) {
                diags.push(
                    Diagnostic::new("unexpected text after the mechanism", extra.span())
                        .with_hint("a file holds exactly one `(mechanism ...)` form"),
                );
            }
            genome
        }
    };
    Parsed { genome, diagnostics: diags }
}

/// Deepest nesting of parentheses the reader accepts. Far above any checker depth
/// limit; it only keeps the recursive tree builder and checker off the stack's edge.
pub const MAX_NESTING: usize = 256;

fn read_all(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Sexp> {
    let bytes = text.as_bytes();
    let mut stack: Vec<(usize, Vec<Sexp>)> = Vec::new();
    let mut top = Vec::new();
    // A leading byte-order mark (some editors write one) is not part of the text.
    let mut i = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' if stack.len() >= MAX_NESTING => {
                diags.push(
                    Diagnostic::new(format!("parentheses are nested more than {MAX_NESTING} deep"), i..i + 1)
                        .with_hint("flatten the expression; genomes are checked to a much smaller depth"),
                );
                return top;
            }
            b'(' => stack.push((i, Vec::new())),
            b')' => match stack.pop() {
                Some((start, items)) => {
                    let list = Sexp::List(items, start..i + 1);
                    match stack.last_mut() {
                        Some((_, parent)) => parent.push(list),
                        None => top.push(list),
                    }
                }
                None => {
                    diags
                        .push(Diagnostic::new("unmatched `)`", i..i + 1).with_hint("remove it or add the missing `(`"));
                    return top;
                }
            },
            c if c.is_ascii_whitespace() => {}
            c if is_atom_byte(c) => {
                let start = i;
                while i < bytes.len() && is_atom_byte(bytes[i]) {
                    i += 1;
                }
                let atom = Sexp::Atom(text[start..i].to_string(), start..i);
                match stack.last_mut() {
                    Some((_, parent)) => parent.push(atom),
                    None => top.push(atom),
                }
                continue;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                let end = i + ch.len_utf8();
                diags.push(
                    // Name the code point too: the character may be invisible (e.g. U+00A0).
                    Diagnostic::new(format!("unexpected character `{ch}` (U+{:04X})", u32::from(ch)), i..end)
                        .with_hint("genomes use only parentheses, names, numbers and `;` comments"),
                );
                return top;
            }
        }
        i += 1;
    }
    if let Some((start, _)) = stack.first() {
        diags.push(
            Diagnostic::new("this `(` is never closed", *start..start + 1)
                .with_hint(format!("add {} `)` at the end", stack.len())),
        );
    }
    top
}

fn is_atom_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_+*/<>.!?=".contains(&c)
}

fn build_genome(sexp: &Sexp, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Genome> {
    let items = match sexp {
        Sexp::List(items, _) => items,
        Sexp::Atom(_, span) => {
            diags.push(
                Diagnostic::new("expected `(mechanism NAME ...)`", span.clone())
                    .with_hint("wrap the mechanism in parentheses"),
            );
            return None;
        }
    };
    match items.first() {
        Some(Sexp::Atom(head, _)) if head == "mechanism" => {}
        _ => {
            diags.push(
                Diagnostic::new("a genome file must start with `(mechanism NAME ...)`", sexp.span())
                    .with_hint("the first word inside the outer parentheses is `mechanism`"),
            );
            return None;
        }
    }
    let name = match items.get(1) {
        Some(Sexp::Atom(n, _)) if is_name(n) => n.clone(),
        Some(other) => {
            diags.push(
                Diagnostic::new("the mechanism needs a name", other.span())
                    .with_hint("names use letters, digits, `-` and `_`, starting with a letter"),
            );
            return None;
        }
        None => {
            diags.push(
                Diagnostic::new("the mechanism needs a name", sexp.span()).with_hint("write `(mechanism my-name ...)`"),
            );
            return None;
        }
    };
    let mut genome = Genome::with_propose(&name, Expr::prim(Prim::Uniform, vec![]));
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let mut has_propose = false;
    let errors_before = diags.len();
    let mut skip_next = false;
    for (i, item) in items.iter().enumerate().skip(2) {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        let Sexp::List(parts, span) = item else {
            let hint = match item {
                Sexp::Atom(word, _) if HOOKS.contains(&word.as_str()) => {
                    // `propose (uniform)`: the next item is this hook's body, not a hook.
                    skip_next = matches!(items.get(i + 1), Some(Sexp::List(..)));
                    format!("a hook is written in parentheses: `({word} ...)`")
                }
                _ => "hooks are state, init, propose, filter, fidelity, update and recommend".to_string(),
            };
            diags.push(Diagnostic::new("expected a hook such as `(propose ...)`", item.span()).with_hint(hint));
            continue;
        };
        let Some(Sexp::Atom(key, key_span)) = parts.first() else {
            diags.push(
                Diagnostic::new("expected a hook name", span.clone()).with_hint("for example `(propose (uniform))`"),
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key.as_str()) {
            let (line, col) = crate::diagnostic::line_col(text, first.start);
            diags.push(
                Diagnostic::new(format!("hook `{key}` is given twice"), key_span.clone())
                    .with_hint(format!("merge it with the one at line {line}, column {col}")),
            );
            continue;
        }
        seen.push((key.as_str(), span.clone()));
        let args = &parts[1..];
        match key.as_str() {
            "state" => genome.state = build_state(args, diags),
            "init" => {
                if let Some((count, expr)) = build_init(args, span, diags) {
                    genome.init_count = count;
                    genome.init = expr;
                }
            }
            "propose" | "filter" | "fidelity" => {
                if args.len() != 1 {
                    diags.push(
                        Diagnostic::new(
                            format!("`{key}` takes exactly one expression, found {}", args.len()),
                            span.clone(),
                        )
                        .with_hint("combine alternatives with `if` or `choose-ucb`"),
                    );
                    continue;
                }
                let Some(e) = build_expr(&args[0], diags) else { continue };
                match key.as_str() {
                    "propose" => {
                        has_propose = true;
                        genome.propose = e;
                    }
                    "filter" => genome.filter = e,
                    _ => genome.fidelity = e,
                }
            }
            "update" => genome.update = args.iter().filter_map(|a| build_expr(a, diags)).collect(),
            "recommend" => match args {
                [Sexp::Atom(rule, rule_span)] => match Recommend::from_name(rule) {
                    Some(r) => genome.recommend = r,
                    None => diags.push(
                        Diagnostic::new(format!("unknown recommendation rule `{rule}`"), rule_span.clone())
                            .with_hint("write `(recommend best)` or `(recommend mean)`"),
                    ),
                },
                _ => diags.push(
                    Diagnostic::new("`recommend` takes one rule: `best` or `mean`", span.clone())
                        .with_hint("e.g. `(recommend mean)`: the config with the best mean over its repeats"),
                ),
            },
            other => diags.push(
                Diagnostic::new(format!("unknown hook `{other}`"), key_span.clone()).with_hint(suggest(other, &HOOKS)),
            ),
        }
    }
    // A missing `propose` is only reported when nothing else went wrong: after a
    // misspelt or malformed hook it would just repeat the first error.
    if !has_propose && !seen.iter().any(|(k, _)| *k == "propose") && diags.len() == errors_before {
        diags.push(
            Diagnostic::new("the mechanism has no `propose` hook", sexp.span())
                .with_hint("add `(propose EXPR)`, e.g. `(propose (uniform))`"),
        );
    }
    Some(genome)
}

/// The hook keywords, in canonical order.
const HOOKS: [&str; 7] = ["state", "init", "propose", "filter", "fidelity", "update", "recommend"];

fn build_state(args: &[Sexp], diags: &mut Vec<Diagnostic>) -> Vec<StateVar> {
    let mut vars: Vec<StateVar> = Vec::new();
    for a in args {
        match a {
            Sexp::List(parts, span) if parts.len() == 2 => {
                let (Sexp::Atom(name, name_span), Sexp::Atom(value, value_span)) = (&parts[0], &parts[1]) else {
                    diags.push(
                        Diagnostic::new("expected `(NAME NUMBER)`", span.clone())
                            .with_hint("e.g. `(state (sigma 0.2))`"),
                    );
                    continue;
                };
                if !is_name(name) || Prim::from_name(name).is_some() {
                    diags.push(
                        Diagnostic::new(format!("`{name}` cannot name a state variable"), name_span.clone())
                            .with_hint("use a word that is not a primitive, starting with a letter"),
                    );
                    continue;
                }
                let Some(init) = parse_number(value, value_span, diags) else { continue };
                if vars.iter().any(|v| &v.name == name) {
                    diags.push(
                        Diagnostic::new(format!("state variable `{name}` is declared twice"), name_span.clone())
                            .with_hint("keep one declaration"),
                    );
                    continue;
                }
                vars.push(StateVar { name: name.clone(), init, span: span.clone() });
            }
            other => diags.push(
                Diagnostic::new("expected `(NAME NUMBER)`", other.span())
                    .with_hint("e.g. `(state (sigma 0.2) (temp 1))`"),
            ),
        }
    }
    vars
}

fn build_init(args: &[Sexp], span: &Span, diags: &mut Vec<Diagnostic>) -> Option<(u32, Expr)> {
    if args.len() != 2 {
        diags.push(
            Diagnostic::new("`init` takes a count and a point expression", span.clone())
                .with_hint("e.g. `(init 8 (latin 8))`"),
        );
        return None;
    }
    let count = match &args[0] {
        Sexp::Atom(text, s) => match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                diags.push(
                    Diagnostic::new(format!("`{text}` is not a whole number of trials"), s.clone())
                        .with_hint("the init count is a non-negative integer such as 8"),
                );
                return None;
            }
        },
        other => {
            diags.push(
                Diagnostic::new("the init count must be a number", other.span()).with_hint("e.g. `(init 8 (latin 8))`"),
            );
            return None;
        }
    };
    let expr = build_expr(&args[1], diags)?;
    Some((count, expr))
}

fn build_expr(sexp: &Sexp, diags: &mut Vec<Diagnostic>) -> Option<Expr> {
    match sexp {
        Sexp::Atom(text, span) => {
            let op = match text.as_str() {
                "true" => Op::Flag(true),
                "false" => Op::Flag(false),
                t if looks_numeric(t) => Op::Num(parse_number(t, span, diags)?),
                t => {
                    let hint = if Prim::from_name(t).is_some() {
                        format!("primitives are applied in parentheses: `({t} ...)`")
                    } else {
                        suggest(t, &prim_names())
                    };
                    diags.push(Diagnostic::new(format!("`{t}` is not a value"), span.clone()).with_hint(hint));
                    return None;
                }
            };
            Some(Expr { op, args: vec![], span: span.clone() })
        }
        Sexp::List(items, span) => {
            let Some(head) = items.first() else {
                diags.push(
                    Diagnostic::new("empty parentheses", span.clone())
                        .with_hint("write an expression such as `(uniform)`"),
                );
                return None;
            };
            let Sexp::Atom(name, name_span) = head else {
                diags.push(
                    Diagnostic::new("expected a primitive name after `(`", head.span())
                        .with_hint("an expression is `(NAME ARGS...)`"),
                );
                return None;
            };
            let (op, rest) = match name.as_str() {
                "get" | "set" => {
                    let Some(Sexp::Atom(var, _)) = items.get(1) else {
                        diags.push(
                            Diagnostic::new(format!("`{name}` needs a state variable name"), span.clone())
                                .with_hint(format!("e.g. `({name} sigma{})`", if name == "set" { " 0.5" } else { "" })),
                        );
                        return None;
                    };
                    let op = if name == "get" { Op::Get(var.clone()) } else { Op::Set(var.clone()) };
                    (op, &items[2..])
                }
                n => match Prim::from_name(n) {
                    Some(p) => (Op::Prim(p), &items[1..]),
                    None => {
                        diags.push(
                            Diagnostic::new(format!("unknown primitive `{n}`"), name_span.clone())
                                .with_hint(suggest(n, &prim_names())),
                        );
                        return None;
                    }
                },
            };
            let mut args = Vec::with_capacity(rest.len());
            let mut ok = true;
            for r in rest {
                match build_expr(r, diags) {
                    Some(e) => args.push(e),
                    None => ok = false,
                }
            }
            ok.then(|| Expr { op, args, span: span.clone() })
        }
    }
}

fn looks_numeric(t: &str) -> bool {
    let b = t.as_bytes();
    match b {
        [c, ..] if c.is_ascii_digit() => true,
        [b'-' | b'+' | b'.', c, ..] if c.is_ascii_digit() || *c == b'.' => true,
        _ => false,
    }
}

fn parse_number(text: &str, span: &Span, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        Ok(_) => {
            diags.push(
                Diagnostic::new(format!("`{text}` is not a finite number"), span.clone())
                    .with_hint("numbers must lie within about ±1e308"),
            );
            None
        }
        Err(_) => {
            diags.push(
                Diagnostic::new(format!("`{text}` is not a number"), span.clone())
                    .with_hint("write numbers like 3, -0.5 or 1e-3"),
            );
            None
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn prim_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = Prim::ALL.iter().map(|p| p.name()).collect();
    names.extend(["get", "set", "true", "false"]);
    names
}

/// A "did you mean" hint for a misspelt name.
fn suggest(word: &str, candidates: &[&str]) -> String {
    let best = candidates.iter().map(|c| (edit_distance(word, c), *c)).min();
    match best {
        Some((d, c)) if d <= 2.max(word.len() / 3) => format!("did you mean `{c}`?"),
        _ => format!("expected one of: {}", candidates.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Print a genome in canonical form (one hook per line, every hook present).
pub fn print(genome: &Genome) -> String {
    let mut out = format!("(mechanism {}", genome.name);
    for (_, line) in hook_lines(genome) {
        out.push_str("\n  ");
        out.push_str(&line);
    }
    out.push_str(")\n");
    out
}

/// The canonical hook forms in order, each with its keyword.
fn hook_lines(genome: &Genome) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if !genome.state.is_empty() {
        let mut line = String::from("(state");
        for v in &genome.state {
            let _ = write!(line, " ({} {})", v.name, fmt_num(v.init));
        }
        line.push(')');
        lines.push(("state", line));
    }
    lines.push(("init", format!("(init {} {})", genome.init_count, print_expr(&genome.init))));
    for (hook, e) in
        [(Hook::Propose, &genome.propose), (Hook::Filter, &genome.filter), (Hook::Fidelity, &genome.fidelity)]
    {
        lines.push((hook.name(), format!("({} {})", hook.name(), print_expr(e))));
    }
    let mut update = String::from("(update");
    for e in &genome.update {
        update.push(' ');
        update.push_str(&print_expr(e));
    }
    update.push(')');
    lines.push(("update", update));
    // The default rule is not printed, so genomes without the clause keep their text
    // and structural hash.
    if genome.recommend != Recommend::Best {
        lines.push(("recommend", format!("(recommend {})", genome.recommend.name())));
    }
    lines
}

/// Print `genome`, parsed from `source`, in canonical form keeping the source's `;`
/// comments (what `mech fmt` writes): comments before the mechanism stay on top, a
/// comment inside or before a hook goes on its own line above that hook's canonical
/// line, and comments after the last hook follow the form. Formatting the result again
/// gives the same text.
pub fn print_with_comments(genome: &Genome, source: &str) -> String {
    let mut diags = Vec::new();
    let sexps = read_all(source, &mut diags);
    let comments = comments_of(source);
    let Some(Sexp::List(items, form)) = sexps.first() else { return print(genome) };
    // Hook forms in source order: (keyword, end offset).
    let hooks: Vec<(&str, usize)> = items
        .iter()
        .filter_map(|item| match item {
            Sexp::List(parts, span) => match parts.first() {
                Some(Sexp::Atom(word, _)) => Some((word.as_str(), span.end)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let lines = hook_lines(genome);
    let mut header = Vec::new();
    let mut trailer = Vec::new();
    let mut before: Vec<Vec<&str>> = vec![Vec::new(); lines.len()];
    for (at, text) in comments {
        if at < form.start {
            header.push(text);
            continue;
        }
        // The hook the comment belongs to: the first whose form ends after it.
        let owner = hooks.iter().find(|(_, end)| *end > at).map(|(word, _)| *word);
        match owner.and_then(|w| lines.iter().position(|(k, _)| *k == w)) {
            Some(i) => before[i].push(text),
            // After the last hook, or in a hook the canonical form leaves out
            // (`(recommend best)`): after the form.
            None => trailer.push(text),
        }
    }
    let mut out = String::new();
    for c in header {
        out.push_str(c);
        out.push('\n');
    }
    let _ = write!(out, "(mechanism {}", genome.name);
    for ((_, line), comments) in lines.iter().zip(&before) {
        for c in comments {
            out.push_str("\n  ");
            out.push_str(c);
        }
        out.push_str("\n  ");
        out.push_str(line);
    }
    out.push_str(")\n");
    for c in trailer {
        out.push_str(c);
        out.push('\n');
    }
    out
}

/// Every `;` comment of `text` with its offset, trailing whitespace removed.
fn comments_of(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find(';') {
        let start = i + at;
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        out.push((start, text[start..end].trim_end()));
        i = end;
    }
    out
}

/// Print one expression on a single line.
pub fn print_expr(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(e, &mut s);
    s
}

fn write_expr(e: &Expr, out: &mut String) {
    match &e.op {
        Op::Num(v) => out.push_str(&fmt_num(*v)),
        Op::Flag(b) => out.push_str(if *b { "true" } else { "false" }),
        Op::Prim(p) => {
            out.push('(');
            out.push_str(p.name());
            for a in &e.args {
                out.push(' ');
                write_expr(a, out);
            }
            out.push(')');
        }
        Op::Get(v) | Op::Set(v) => {
            out.push_str(if matches!(e.op, Op::Get(_)) { "(get " } else { "(set " });
            out.push_str(v);
            for a in &e.args {
                out.push(' ');
                write_expr(a, out);
            }
            out.push(')');
        }
    }
}

/// Shortest text that parses back to exactly `v`.
pub fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:?}") }
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    #[test]
    fn fmt_keeps_every_comment_and_is_idempotent() {
        let text = "; A header.\n;; Two lines.\n(mechanism m ; after the name\n  (propose (perturb (best 1) ; inside\n     1 0.1))\n  ; before update\n  (update))\n; the end\n";
        let g = parse(text).genome.unwrap();
        let once = print_with_comments(&g, text);
        for c in ["; A header.", ";; Two lines.", "; after the name", "; inside", "; before update", "; the end"] {
            assert!(once.contains(c), "{c} lost:\n{once}");
        }
        let again = print_with_comments(&parse(&once).genome.unwrap(), &once);
        assert_eq!(again, once);
        assert_eq!(print(&parse(&once).genome.unwrap()), print(&g), "comments change nothing else");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let p = parse(text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let g = p.genome.unwrap();
        let printed = print(&g);
        let again = parse(&printed).genome.unwrap();
        assert_eq!(g, again);
        printed
    }

    #[test]
    fn defaults_are_filled_and_printed() {
        let out = roundtrip("(mechanism r (propose (uniform)))");
        assert_eq!(
            out,
            "(mechanism r\n  (init 0 (uniform))\n  (propose (uniform))\n  (filter true)\n  (fidelity 1)\n  (update))\n"
        );
    }

    #[test]
    fn the_recommendation_rule_round_trips_and_is_checked() {
        let out = roundtrip("(mechanism r (recommend mean) (propose (uniform)))");
        assert!(out.ends_with("(update)\n  (recommend mean))\n"), "{out}");
        assert_eq!(parse(&out).genome.unwrap().recommend, Recommend::Mean);
        assert!(!roundtrip("(mechanism r (recommend best) (propose (uniform)))").contains("recommend"));
        for bad in
            ["(mechanism r (recommend luck) (propose (uniform)))", "(mechanism r (recommend) (propose (uniform)))"]
        {
            let p = parse(bad);
            assert_eq!(p.diagnostics.len(), 1, "{bad}");
            assert!(p.diagnostics[0].message.contains("recommend"), "{:?}", p.diagnostics);
        }
    }

    #[test]
    fn numbers_round_trip_exactly() {
        for v in [0.1, -0.5, 1e-7, 3.0, 1.5e20, 0.15, -2.0] {
            assert_eq!(fmt_num(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn comments_and_state_parse() {
        let out = roundtrip(
            "; one-plus-one\n(mechanism es (state (sigma 0.2))\n (propose (perturb (best 1) (dims) (get sigma))) ; step\n (update (set sigma (* (get sigma) 1.1))))",
        );
        assert!(out.contains("(state (sigma 0.2))"));
    }

    #[test]
    fn misspelt_primitive_gets_a_suggestion() {
        let p = parse("(mechanism m (propose (unifrom)))");
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].hint.as_deref(), Some("did you mean `uniform`?"));
        assert_eq!(&"(mechanism m (propose (unifrom)))"[p.diagnostics[0].span.clone()], "unifrom");
    }
}
