//! A model's reply read as a genome: the mechanism is taken from the last fenced code
//! block that holds one (else the first `(mechanism` to its closing parenthesis, else
//! the whole reply), then parsed and checked like any genome file.

use crate::diagnostic::{Diagnostic, line_col};
use crate::genome::{Genome, Limits, load};

/// Why a reply is not a genome: the text that was read and the checker's diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The genome text taken from the reply.
    pub text: String,
    /// What is wrong with it, located in `text`.
    pub diagnostics: Vec<Diagnostic>,
}

impl Problem {
    /// Each diagnostic on one line: `line L:C: message (hint)`.
    pub fn located(&self) -> Vec<String> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, col) = line_col(&self.text, d.span.start);
                match &d.hint {
                    Some(h) => format!("line {line}:{col}: {} ({h})", d.message),
                    None => format!("line {line}:{col}: {}", d.message),
                }
            })
            .collect()
    }

    /// The first diagnostic, located (what a fallback records).
    pub fn summary(&self) -> String {
        self.located().into_iter().next().unwrap_or_else(|| "not a genome".into())
    }
}

/// The genome in `reply`, checked.
pub fn parse(reply: &str, limits: &Limits) -> Result<Genome, Problem> {
    let text = genome_text(reply);
    if !text.contains("(mechanism") {
        return Err(Problem {
            diagnostics: vec![
                Diagnostic::new("the reply holds no `(mechanism NAME ...)` form", 0..0)
                    .with_hint("reply with one mechanism in a ```mechanism fenced block"),
            ],
            text,
        });
    }
    load(&text, limits).map_err(|diagnostics| Problem { text, diagnostics })
}

/// The genome's text within a reply.
pub fn genome_text(reply: &str) -> String {
    if let Some(block) = fenced_blocks(reply).into_iter().rev().find(|b| b.contains("(mechanism")) {
        return block.trim().to_string();
    }
    match reply.find("(mechanism") {
        Some(start) => balanced(&reply[start..]).trim().to_string(),
        None => reply.trim().to_string(),
    }
}

/// The bodies of the ```-fenced blocks of `text`, in order (an unclosed last block runs
/// to the end: a reply cut off at its token limit still shows its problem).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // The info string (```mechanism) ends the fence's line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

/// The prefix of `text` (starting with `(`) up to its matching `)`, or all of it.
fn balanced(text: &str) -> &str {
    let mut depth = 0i64;
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        match c {
            '\n' => in_comment = false,
            ';' => in_comment = true,
            '(' if !in_comment => depth += 1,
            ')' if !in_comment => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_genome_is_found_in_fences_prose_or_alone() {
        let g = "(mechanism a (propose (uniform)))";
        assert_eq!(genome_text(&format!("Here:\n```mechanism\n{g}\n```\nDone.")), g);
        assert_eq!(genome_text(&format!("```\n(not it)\n```\n```lisp\n{g}\n```")), g);
        assert_eq!(genome_text(&format!("I propose {g} because it explores.")), g);
        assert_eq!(genome_text(g), g);
        assert_eq!(genome_text("```mechanism\n(mechanism a (propose"), "(mechanism a (propose");
        assert!(parse(&format!("```mechanism\n{g}\n```"), &Limits::default()).is_ok());
    }

    #[test]
    fn problems_are_located_in_the_genome_text() {
        let p = parse("```mechanism\n(mechanism a\n  (propose (no-such-piece)))\n```", &Limits::default()).unwrap_err();
        assert!(p.summary().starts_with("line 2:"), "{}", p.summary());
        let p = parse("I cannot help with that.", &Limits::default()).unwrap_err();
        assert!(p.summary().contains("no `(mechanism"), "{}", p.summary());
    }
}
