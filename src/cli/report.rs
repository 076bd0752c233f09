//! The one error-reporting path: render errors for humans and choose the exit code.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use std::process::ExitCode;

use crate::diagnostic::{InputError, line_col};
use crate::store::run_dir::RunError;

/// Exit code for bad input (files, flags, values).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for internal failures.
pub const EXIT_FAILURE: u8 = 1;

/// Exit code of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// A command stopped by Ctrl-C after saving its work; the message says how to go on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Render an error to standard error and return the exit code it deserves.
pub fn exit_with(err: &anyhow::Error) -> ExitCode {
    if let Some(Interrupted(message)) = err.downcast_ref::<Interrupted>() {
        eprintln!("{message}");
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    eprint!("{}", render(err));
    match input_error(err) {
        Some(_) => ExitCode::from(EXIT_BAD_INPUT),
        None => ExitCode::from(EXIT_FAILURE),
    }
}

/// Render an error as text: diagnostics with file, line:column, span and hint.
pub fn render(err: &anyhow::Error) -> String {
    match input_error(err) {
        Some(input) => render_input(input),
        None => format!("error: {err:#}\n"),
    }
}

/// The bad input behind an error, whether it came directly or through a run-folder
/// operation (`run`, `resume`, `inspect`).
fn input_error(err: &anyhow::Error) -> Option<&InputError> {
    match err.downcast_ref::<RunError>() {
        Some(RunError::Input(input)) => Some(input),
        _ => err.downcast_ref::<InputError>(),
    }
}

/// At most this many diagnostics of one file are printed (then a count of the rest):
/// a damaged or generated file can have thousands, each quoting a long line.
pub const MAX_REPORTED: usize = 20;

/// Render an input error.
pub fn render_input(err: &InputError) -> String {
    match err {
        InputError::Source { path, text, diagnostics } => {
            let name = path.display().to_string();
            let file = SimpleFile::new(name.as_str(), text.as_str());
            let config = term::Config::default();
            let mut out = String::new();
            for d in diagnostics.iter().take(MAX_REPORTED) {
                let (line, col) = line_col(text, d.span.start);
                let mut report = Report::error()
                    .with_message(format!("{name}:{line}:{col}: {}", d.message))
                    .with_labels(vec![Label::primary((), d.span.clone())]);
                if let Some(hint) = &d.hint {
                    report = report.with_notes(vec![format!("hint: {hint}")]);
                }
                match term::emit_into_string(&config, &file, &report) {
                    Ok(s) => out.push_str(&s),
                    Err(_) => out.push_str(&format!("error: {name}:{line}:{col}: {}\n", d.message)),
                }
            }
            if diagnostics.len() > MAX_REPORTED {
                out.push_str(&format!(
                    "note: {} more problem(s) in {name} not shown; fix these first\n",
                    diagnostics.len() - MAX_REPORTED
                ));
            }
            out
        }
        InputError::File { path, message, hint } => with_hint(&format!("error: {}: {message}", path.display()), hint),
        InputError::Usage { message, hint } => with_hint(&format!("error: {message}"), hint),
    }
}

fn with_hint(head: &str, hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("{head}\n  hint: {h}\n"),
        None => format!("{head}\n"),
    }
}
