//! Malformed genome files through the real binary: each must exit with code 2 and one
//! clear error naming the file, the `line:col` of the offending span, the specific
//! message and a hint, without a panic. Also `mech fmt --write` and `mech run` errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use outerloop::genome::syntax::{parse, print};

const BIN: &str = env!("CARGO_BIN_EXE_outerloop");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A report shortened for assertion messages (some quote very long source lines).
fn short(report: &str) -> String {
    let lines: Vec<String> = report.lines().map(|l| l.chars().take(160).collect()).collect();
    lines.join("\n")
}

/// Number of `error` headings in a report.
fn error_headings(report: &str) -> usize {
    report.lines().filter(|l| l.starts_with("error")).count()
}

/// Write `contents` to `name` in a fresh directory and return the path.
fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file written");
    path
}

/// Assert a bad-input report: exit code 2, exactly one error heading, no panic, each
/// needle present.
fn assert_bad_input(out: &Output, needles: &[&str], what: &str) {
    let full = stderr(out);
    let err = short(&full);
    assert_eq!(out.status.code(), Some(2), "{what}: exit status {:?}\n{err}", out.status);
    assert!(!full.contains("panicked"), "{what}: panic\n{err}");
    assert_eq!(error_headings(&full), 1, "{what}: expected one error, got\n{err}");
    assert!(full.contains("hint:"), "{what}: no hint\n{err}");
    for n in needles {
        assert!(full.contains(n), "{what}: `{n}` not in\n{err}");
    }
}

/// Check a malformed genome: `mech check FILE` reports `FILE:line:col: message` once.
fn check(kind: &str, text: impl AsRef<[u8]>, line: usize, col: usize, message: &str, hint: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_file(dir.path(), &format!("{kind}.mech"), text.as_ref());
    let p = path.display().to_string();
    let out = run(&["mech", "check", &p]);
    let located = format!("{p}:{line}:{col}: {message}");
    assert_bad_input(&out, &[&located, hint], kind);
    assert!(out.stdout.is_empty(), "{kind}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
}

// Reader errors: characters and parentheses.

#[test]
fn empty_file() {
    check("empty", "", 1, 1, "the file holds no mechanism", "hint: write `(mechanism NAME (propose EXPR))`");
}

#[test]
fn only_comments() {
    check("comments", "; nothing here\n; at all\n", 1, 1, "the file holds no mechanism", "(mechanism NAME");
}

#[test]
fn unclosed_paren() {
    check(
        "unclosed",
        "; comment\n(mechanism m\n  (propose (uniform))\n",
        2,
        1,
        "this `(` is never closed",
        "add 1 `)` at the end",
    );
}

#[test]
fn stray_close_paren() {
    check("stray", "(mechanism m\n  (propose (uniform))))\n", 2, 23, "unmatched `)`", "remove it");
}

#[test]
fn invalid_character() {
    check(
        "badchar",
        "(mechanism m\n  (propose (perturb (best 1) 1 #0.1)))",
        2,
        32,
        "unexpected character `#` (U+0023)",
        "only parentheses, names, numbers",
    );
}

#[test]
fn invalid_multibyte_character_is_located_by_character() {
    check(
        "unicode",
        "(mechanism m (propose (perturb (best 1) 1 σ)))",
        1,
        43,
        "unexpected character `σ` (U+03C3)",
        "hint:",
    );
}

#[test]
fn invisible_character_is_named_by_code_point() {
    check(
        "nbsp",
        "(mechanism m\n  (propose\u{a0}(uniform)))",
        2,
        11,
        "unexpected character `\u{a0}` (U+00A0)",
        "only parentheses",
    );
}

#[test]
fn byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "bom.mech", "\u{feff}(mechanism m (propose (uniform)))\n".as_bytes());
    let out = run(&["mech", "check", &path.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn absurdly_deep_nesting_is_one_error_not_a_stack_overflow() {
    let n = 3_000; // within the 64 KiB genome size limit, still far past the nesting limit
    let text = format!("(mechanism m (propose {}(uniform){}))", "(perturb ".repeat(n), " 1 0.1)".repeat(n));
    check("abyss", text, 1, 1 + 22 + 9 * 254, "parentheses are nested more than 256 deep", "flatten");
}

// The mechanism form.

#[test]
fn not_starting_with_mechanism() {
    check(
        "notmech",
        "(mechansim m (propose (uniform)))",
        1,
        1,
        "a genome file must start with `(mechanism NAME ...)`",
        "first word",
    );
}

#[test]
fn mechanism_without_parentheses() {
    check("bareform", "mechanism m (propose (uniform))", 1, 1, "expected `(mechanism NAME ...)`", "wrap");
}

#[test]
fn missing_name() {
    check("noname", "(mechanism\n  (propose (uniform)))", 2, 3, "the mechanism needs a name", "names use letters");
}

#[test]
fn missing_name_at_end() {
    check("noname2", "(mechanism)", 1, 1, "the mechanism needs a name", "write `(mechanism my-name ...)`");
}

#[test]
fn invalid_name() {
    check(
        "badname",
        "(mechanism 3-way (propose (uniform)))",
        1,
        12,
        "the mechanism needs a name",
        "starting with a letter",
    );
}

#[test]
fn two_mechanisms() {
    check(
        "two",
        "(mechanism a (propose (uniform)))\n(mechanism b (propose (best 1)))\n",
        2,
        1,
        "unexpected text after the mechanism",
        "exactly one `(mechanism ...)`",
    );
}

#[test]
fn trailing_text() {
    check(
        "trailing",
        "(mechanism a (propose (uniform))) oops",
        1,
        35,
        "unexpected text after the mechanism",
        "exactly one",
    );
}

// Hooks.

#[test]
fn unknown_hook() {
    check(
        "unkhook",
        "(mechanism m\n  (propose (uniform))\n  (filtre true))",
        3,
        4,
        "unknown hook `filtre`",
        "did you mean `filter`?",
    );
}

#[test]
fn misspelt_propose_is_one_error() {
    // Without the `propose` hook the genome is also incomplete; that must not cascade.
    check("propse", "(mechanism m (propse (uniform)))", 1, 15, "unknown hook `propse`", "did you mean `propose`?");
}

#[test]
fn hook_without_parentheses() {
    check(
        "barehook",
        "(mechanism m propose (uniform))",
        1,
        14,
        "expected a hook such as `(propose ...)`",
        "a hook is written in parentheses: `(propose ...)`",
    );
}

#[test]
fn duplicate_hook() {
    check(
        "duphook",
        "(mechanism m\n  (propose (uniform))\n  (propose (best 1)))",
        3,
        4,
        "hook `propose` is given twice",
        "merge it with the one at line 2, column 3",
    );
}

#[test]
fn missing_propose() {
    check(
        "nopropose",
        "(mechanism m\n  (filter true))",
        1,
        1,
        "the mechanism has no `propose` hook",
        "add `(propose EXPR)`",
    );
}

#[test]
fn propose_with_two_expressions() {
    check(
        "propose2",
        "(mechanism m (propose (uniform) (best 1)))",
        1,
        14,
        "`propose` takes exactly one expression, found 2",
        "`if` or `choose-ucb`",
    );
}

// Expressions.

#[test]
fn unknown_primitive_with_suggestion() {
    check(
        "unkprim",
        "(mechanism m\n  (propose (perturb (best 1) 1 0.1))\n  (filter (> (nearest-dst (cand) 10) 0.1)))",
        3,
        15,
        "unknown primitive `nearest-dst`",
        "did you mean `nearest-dist`?",
    );
}

#[test]
fn bad_number() {
    check("badnum", "(mechanism m (propose (perturb (best 1) 1 0.1.5)))", 1, 43, "`0.1.5` is not a number", "1e-3");
}

#[test]
fn non_finite_number() {
    check(
        "inf",
        "(mechanism m (propose (perturb (best 1) 1 1e999)))",
        1,
        43,
        "`1e999` is not a finite number",
        "±1e308",
    );
}

#[test]
fn bare_primitive_name() {
    check(
        "bare",
        "(mechanism m (propose (perturb best 1 0.1)))",
        1,
        32,
        "`best` is not a value",
        "primitives are applied in parentheses: `(best ...)`",
    );
}

#[test]
fn empty_parentheses() {
    check("emptyparen", "(mechanism m (propose ()))", 1, 23, "empty parentheses", "`(uniform)`");
}

#[test]
fn list_in_head_position() {
    check(
        "headlist",
        "(mechanism m (propose ((uniform))))",
        1,
        24,
        "expected a primitive name after `(`",
        "(NAME ARGS...)",
    );
}

#[test]
fn get_without_variable() {
    check(
        "getnoname",
        "(mechanism m (propose (perturb (best 1) 1 (get))))",
        1,
        43,
        "`get` needs a state variable name",
        "(get sigma)",
    );
}

// The checker.

#[test]
fn wrong_arity() {
    check(
        "arity",
        "(mechanism m\n  (propose (perturb (best 1) 2)))",
        2,
        12,
        "`perturb` takes 3 argument(s), found 2",
        "`(perturb point real real) -> point`",
    );
}

#[test]
fn type_mismatch() {
    check(
        "type",
        "(mechanism m (propose (uniform)) (filter (+ 1 2)))",
        1,
        42,
        "expected a bool here, found a real",
        "produces a bool",
    );
}

#[test]
fn unknown_state_variable() {
    check(
        "unkvar",
        "(mechanism m (propose (perturb (best 1) 1 (get sigma))))",
        1,
        43,
        "unknown state variable `sigma`",
        "declare it: `(state (sigma 0))`",
    );
}

#[test]
fn duplicate_state_variable() {
    check(
        "dupvar",
        "(mechanism m (state (s 1) (s 2)) (propose (perturb (best 1) 1 (get s))))",
        1,
        28,
        "state variable `s` is declared twice",
        "keep one declaration",
    );
}

#[test]
fn primitive_as_state_variable() {
    check(
        "stateprim",
        "(mechanism m (state (best 1)) (propose (uniform)))",
        1,
        22,
        "`best` cannot name a state variable",
        "not a primitive",
    );
}

#[test]
fn bad_init_count() {
    check(
        "badinit",
        "(mechanism m (init 2.5 (latin 4)) (propose (uniform)))",
        1,
        20,
        "`2.5` is not a whole number of trials",
        "non-negative integer",
    );
}

#[test]
fn init_without_count() {
    check(
        "init1",
        "(mechanism m (init (latin 4)) (propose (uniform)))",
        1,
        14,
        "`init` takes a count and a point expression",
        "(init 8 (latin 8))",
    );
}

#[test]
fn init_count_over_the_limit() {
    check(
        "biginit",
        "(mechanism m (init 5000 (latin 4)) (propose (uniform)))",
        1,
        25,
        "init count 5000 exceeds the limit of 1000",
        "smaller initial design",
    );
}

#[test]
fn size_limit_exceeded() {
    // 1 + 40 * 5 nodes in propose: the report points at the largest hook.
    let arms = vec!["(perturb (best 1) 1 0.1)"; 40].join("\n    ");
    let text = format!("(mechanism big\n  (propose (choose-ucb 1\n    {arms})))\n");
    check("big", text, 2, 12, "the genome has 205 nodes, more than the limit of 160", "simplify it");
}

#[test]
fn depth_limit_exceeded() {
    let n = 14;
    let text = format!("(mechanism deep\n  (propose {}(uniform){}))", "(perturb ".repeat(n), " 1 0.1)".repeat(n));
    check("deep", text, 2, 12, "`propose` is nested 15 deep, more than the limit of 12", "flatten the expression");
}

// Whole-file problems: no span, but the file, the problem and a hint.

#[test]
fn non_utf8_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "latin1.mech", b"(mechanism caf\xe9 (propose (uniform)))");
    let p = path.display().to_string();
    let out = run(&["mech", "check", &p]);
    assert_bad_input(&out, &[&format!("{p}: not valid UTF-8 text (byte 14)"), "hint: save the file as UTF-8"], "utf8");
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("absent.mech").display().to_string();
    let out = run(&["mech", "check", &p]);
    assert_bad_input(&out, &[&format!("{p}: no such file"), "lib:NAME"], "missing");
}

#[test]
fn unknown_library_name() {
    let out = run(&["mech", "check", "lib:tpe"]);
    assert_bad_input(&out, &["no library mechanism named `tpe`", "tpe-density-ratio"], "lib");
}

#[test]
fn every_library_mechanism_checks() {
    let out = run(&["mech", "check", "lib:uniform-random", "lib:tpe-density-ratio", "lib:successive-halving"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(": ok (")).count(), 3);
}

// `mech fmt --write` and `mech run`.

#[test]
fn fmt_write_rewrites_atomically_to_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "; a comment that formatting keeps\n(mechanism  es (state (sigma 0.20))\n   (update (set sigma (* (get sigma) 0.9)))\n (propose (perturb (best 1)   (dims) (get sigma))))\n";
    let path = write_file(dir.path(), "es.mech", messy.as_bytes());
    let p = path.display().to_string();
    let canonical = format!("; a comment that formatting keeps\n{}", print(&parse(messy).genome.unwrap()));

    let shown = run(&["mech", "fmt", &p]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(String::from_utf8_lossy(&shown.stdout), canonical);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), messy, "fmt without --write leaves the file alone");

    let out = run(&["mech", "fmt", "--write", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("formatted"));
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, canonical);
    assert!(
        written.starts_with(
            "; a comment that formatting keeps\n(mechanism es\n  (state (sigma 0.2))\n  (init 0 (uniform))\n  (propose"
        ),
        "{written}"
    );
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["es.mech".to_string()], "no temporary file is left behind");

    // Formatting is idempotent, and the result still checks.
    assert!(run(&["mech", "fmt", "--write", &p]).status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), canonical);
    assert!(run(&["mech", "check", &p]).status.success());
}

#[test]
fn fmt_write_leaves_an_invalid_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "(mechanism m (propose (unifrom)))";
    let path = write_file(dir.path(), "bad.mech", bad.as_bytes());
    let p = path.display().to_string();
    let out = run(&["mech", "fmt", "--write", &p]);
    assert_bad_input(&out, &[&format!("{p}:1:24: unknown primitive `unifrom`")], "fmt bad");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
}

#[test]
fn fmt_write_refuses_library_mechanisms() {
    let out = run(&["mech", "fmt", "--write", "lib:uniform-random"]);
    assert_bad_input(&out, &["library mechanisms cannot be rewritten"], "fmt lib");
}

#[test]
fn run_with_unknown_task_exits_2() {
    let out = run(&["mech", "run", "lib:uniform-random", "--task", "bbob-f99-i1-d5", "--budget", "5"]);
    assert_bad_input(&out, &["unknown task `bbob-f99-i1-d5`", "hint: task names:"], "task");
    let out = run(&["mech", "run", "lib:uniform-random", "--task", "sphere", "--budget", "5"]);
    assert_bad_input(&out, &["unknown task `sphere`"], "task2");
}

#[test]
fn run_with_bad_budget_exits_2() {
    let out = run(&["mech", "run", "lib:uniform-random", "--task", "probe", "--budget", "0"]);
    assert_bad_input(&out, &["budget 0 is not a positive number"], "budget");
}

#[test]
fn run_of_a_valid_file_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "g.mech", b"(mechanism g (init 2 (latin 2)) (propose (perturb (best 1) 1 0.1)))");
    let out = run(&["mech", "run", &path.display().to_string(), "--task", "probe", "--budget", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("task probe") && text.contains("live genes"), "{text}");
}

#[test]
fn fmt_write_keeps_comments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "; Why this mechanism exists.\n(mechanism m\n  ; the step size\n  (state (s 0.2))\n  (propose   (perturb (best 1) 1 (get s))) ; one coordinate at a time\n)\n";
    let path = write_file(dir.path(), "commented.mech", text.as_bytes());
    let out = Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["mech", "fmt", "--write", path.to_str().unwrap()])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let formatted = std::fs::read_to_string(&path).expect("readable");
    for c in ["; Why this mechanism exists.", "; the step size", "; one coordinate at a time"] {
        assert!(formatted.contains(c), "`{c}` lost:\n{formatted}");
    }
    assert!(formatted.contains("  (propose (perturb (best 1) 1 (get s)))"), "{formatted}");
    let again = Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["mech", "fmt", path.to_str().unwrap()])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&again.stdout), formatted, "fmt is idempotent");
}
