//! The checker: types, arity, variable names and size limits.
//!
//! The interpreter only runs genomes that passed the checker, so the interpreter never
//! meets an ill-typed node. Every diagnostic points at the offending span.

use super::ast::{Expr, Genome, Hook, Op};
use super::prim::{Params, Prim, Type};
use crate::diagnostic::Diagnostic;

/// Bounds that keep every genome cheap to run and store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of a genome's source text in bytes (checked before parsing, so
    /// no text is too long or too repetitive to check quickly).
    pub max_source_bytes: usize,
    /// Maximum number of nodes over all hooks.
    pub max_nodes: usize,
    /// Maximum depth of any hook's expression.
    pub max_depth: usize,
    /// Maximum number of state variables.
    pub max_state: usize,
    /// Maximum number of update actions.
    pub max_updates: usize,
    /// Maximum init count.
    pub max_init: u32,
    /// Fuel for one hook call before any trial (one unit per node evaluation, more for
    /// heavy primitives: in proportion to the points built, the trials scanned and the
    /// floating-point work of the models).
    pub fuel_per_call: u64,
    /// Fuel a hook call gains per trial in the history: reading the history (a density
    /// ratio, a model's predictions) costs in proportion to its length, so the allowance
    /// grows with it while a call on a short history stays cheap.
    pub fuel_per_trial: u64,
    /// Fuel for all hook calls of one inner episode. Once spent, every later hook call
    /// fails at once and is healed (the trace records when), so no genome can make an
    /// episode's interpreter work unbounded, whatever the budget.
    pub fuel_per_episode: u64,
    /// How many times `propose` is retried when `filter` rejects, before the last
    /// candidate is taken anyway (a recorded fallback).
    pub max_filter_retries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_source_bytes: crate::input::MAX_GENOME_BYTES as usize,
            max_nodes: 160,
            max_depth: 12,
            max_state: 8,
            max_updates: 8,
            max_init: 1000,
            fuel_per_call: 50_000,
            fuel_per_trial: 500,
            fuel_per_episode: 20_000_000,
            max_filter_retries: 16,
        }
    }
}

impl Limits {
    /// Fuel of one hook call on a history of `trials` trials.
    pub fn call_fuel(&self, trials: usize) -> u64 {
        self.fuel_per_call.saturating_add(self.fuel_per_trial.saturating_mul(trials as u64))
    }
}

/// Check a genome. An empty result means it is well-typed and within limits.
pub fn check(genome: &Genome, limits: &Limits) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let size = genome.size();
    if size > limits.max_nodes {
        // Point at the largest hook expression: that is where the nodes are.
        let span = genome.roots().into_iter().map(|(_, e)| e).max_by_key(|e| e.size()).map(|e| e.span.clone());
        diags.push(
            Diagnostic::new(
                format!("the genome has {size} nodes, more than the limit of {}", limits.max_nodes),
                span.unwrap_or(0..0),
            )
            .with_hint("simplify it or split alternatives more economically"),
        );
    }
    if genome.state.len() > limits.max_state {
        let span = genome.state[limits.max_state].span.clone();
        diags.push(
            Diagnostic::new(format!("more than {} state variables", limits.max_state), span)
                .with_hint("remove unused ones"),
        );
    }
    if genome.update.len() > limits.max_updates {
        diags.push(
            Diagnostic::new(
                format!("more than {} update actions", limits.max_updates),
                genome.update[limits.max_updates].span.clone(),
            )
            .with_hint("combine actions with `if`"),
        );
    }
    if genome.init_count > limits.max_init {
        diags.push(
            Diagnostic::new(
                format!("init count {} exceeds the limit of {}", genome.init_count, limits.max_init),
                genome.init.span.clone(),
            )
            .with_hint("use a smaller initial design"),
        );
    }
    for (root, e) in genome.roots() {
        let depth = e.depth();
        if depth > limits.max_depth {
            diags.push(
                Diagnostic::new(
                    format!(
                        "`{}` is nested {depth} deep, more than the limit of {}",
                        root.hook.name(),
                        limits.max_depth
                    ),
                    e.span.clone(),
                )
                .with_hint("flatten the expression"),
            );
        }
        check_expr(e, root.hook.ty(), genome, &mut diags);
    }
    debug_assert!(Hook::ALL.len() == 5);
    diags
}

/// The type an expression produces, when it can be told without its context.
pub fn type_of(e: &Expr) -> Option<Type> {
    match &e.op {
        Op::Num(_) | Op::Get(_) => Some(Type::Real),
        Op::Flag(_) => Some(Type::Bool),
        Op::Set(_) => Some(Type::Action),
        Op::Prim(Prim::If) => e.args.get(1).and_then(type_of),
        Op::Prim(p) => p.result(),
    }
}

fn check_expr(e: &Expr, expected: Type, genome: &Genome, diags: &mut Vec<Diagnostic>) {
    let found = match &e.op {
        Op::Num(_) => Type::Real,
        Op::Flag(_) => Type::Bool,
        Op::Get(name) | Op::Set(name) => {
            let is_set = matches!(e.op, Op::Set(_));
            if genome.var_index(name).is_none() {
                diags.push(
                    Diagnostic::new(format!("unknown state variable `{name}`"), e.span.clone())
                        .with_hint(format!("declare it: `(state ({name} 0))`")),
                );
            }
            let want = usize::from(is_set);
            if e.args.len() != want {
                let form = if is_set { "(set NAME VALUE)" } else { "(get NAME)" };
                diags.push(
                    Diagnostic::new(
                        format!("`{form}` takes {want} value argument(s), found {}", e.args.len()),
                        e.span.clone(),
                    )
                    .with_hint(format!("write `{form}`")),
                );
            } else if is_set {
                check_expr(&e.args[0], Type::Real, genome, diags);
            }
            if is_set { Type::Action } else { Type::Real }
        }
        Op::Prim(p) => {
            let n = e.args.len();
            let arity_ok = match p.params() {
                Params::Fixed(ts) => n == ts.len(),
                Params::Variadic(..) => n >= p.min_arity(),
                Params::If => n == 3,
            };
            if !arity_ok {
                let want = match p.params() {
                    Params::Variadic(..) => format!("at least {}", p.min_arity()),
                    _ => p.min_arity().to_string(),
                };
                diags.push(
                    Diagnostic::new(format!("`{}` takes {want} argument(s), found {n}", p.name()), e.span.clone())
                        .with_hint(signature(*p)),
                );
                return;
            }
            let result = p.result().unwrap_or(expected);
            for (i, a) in e.args.iter().enumerate() {
                if let Some(t) = p.param_type(i, result) {
                    check_expr(a, t, genome, diags);
                }
            }
            result
        }
    };
    if found != expected {
        diags.push(
            Diagnostic::new(format!("expected a {expected} here, found a {found}"), e.span.clone())
                .with_hint(format!("use an expression that produces a {expected}")),
        );
    }
}

/// Human-readable signature of a primitive, e.g. `(perturb point real real) -> point`.
pub fn signature(p: Prim) -> String {
    let args = match p.params() {
        Params::Fixed(ts) => ts.iter().map(|t| format!(" {t}")).collect::<String>(),
        Params::Variadic(lead, rest) => {
            lead.iter().map(|t| format!(" {t}")).collect::<String>() + &format!(" {rest}...")
        }
        Params::If => " bool T T".to_string(),
    };
    let ret = p.result().map(|t| t.to_string()).unwrap_or_else(|| "T".to_string());
    format!("`({}{args}) -> {ret}`", p.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::syntax::parse;

    fn errors(text: &str) -> Vec<String> {
        let p = parse(text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        check(&p.genome.unwrap(), &Limits::default()).into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn well_typed_passes() {
        assert!(errors("(mechanism m (propose (if (< (iter) 5) (uniform) (best 1))))").is_empty());
    }

    #[test]
    fn type_mismatch_is_reported() {
        let e = errors("(mechanism m (propose (+ 1 2)))");
        assert_eq!(e, vec!["expected a point here, found a real"]);
    }

    #[test]
    fn arity_and_unknown_vars() {
        let e = errors("(mechanism m (propose (perturb (best 1) 2)) (update (set s 1)))");
        assert_eq!(e.len(), 2, "{e:?}");
    }
}
