//! The genome: a mechanism as a typed expression tree per hook.

use std::ops::Range;

use super::prim::{Prim, Type};

/// Byte range in the source text (empty for nodes created by operators).
pub type Span = Range<usize>;

/// What a node does.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A real literal.
    Num(f64),
    /// A boolean literal (`true`, `false`).
    Flag(bool),
    /// A primitive applied to the node's arguments.
    Prim(Prim),
    /// Read a state variable: `(get name)`.
    Get(String),
    /// Write a state variable: `(set name value)`.
    Set(String),
}

/// One node of an expression tree.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The operation.
    pub op: Op,
    /// The arguments, in order.
    pub args: Vec<Expr>,
    /// Where the node came from in the source text.
    pub span: Span,
}

/// Structural equality: spans are ignored, so a parsed genome equals the genome that
/// was printed to produce it.
impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.args == other.args
    }
}

impl Expr {
    /// A node without a source location.
    pub fn new(op: Op, args: Vec<Expr>) -> Self {
        Expr { op, args, span: 0..0 }
    }

    /// A real literal.
    pub fn num(v: f64) -> Self {
        Expr::new(Op::Num(v), vec![])
    }

    /// A primitive application.
    pub fn prim(p: Prim, args: Vec<Expr>) -> Self {
        Expr::new(Op::Prim(p), args)
    }

    /// Number of nodes in the tree.
    pub fn size(&self) -> usize {
        1 + self.args.iter().map(Expr::size).sum::<usize>()
    }

    /// Depth of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        1 + self.args.iter().map(Expr::depth).max().unwrap_or(0)
    }

    /// Visit every node in preorder.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        for a in &self.args {
            a.walk(f);
        }
    }
}

/// A declared state variable with its initial value.
#[derive(Debug, Clone)]
pub struct StateVar {
    /// Its name.
    pub name: String,
    /// Value at the start of every inner run.
    pub init: f64,
    /// Source location of the declaration.
    pub span: Span,
}

impl PartialEq for StateVar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.init.to_bits() == other.init.to_bits()
    }
}

/// The hooks the inner loop calls, in their fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Point source for the initial design (`init N point`).
    Init,
    /// The next candidate.
    Propose,
    /// Accept or reject a candidate before it costs anything.
    Filter,
    /// Fidelity (fraction of a full trial) for an accepted candidate.
    Fidelity,
    /// State changes after each result.
    Update,
}

impl Hook {
    /// Every hook in canonical order.
    pub const ALL: [Hook; 5] = [Hook::Init, Hook::Propose, Hook::Filter, Hook::Fidelity, Hook::Update];

    /// Keyword in the text syntax.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Init => "init",
            Hook::Propose => "propose",
            Hook::Filter => "filter",
            Hook::Fidelity => "fidelity",
            Hook::Update => "update",
        }
    }

    /// Type of the hook's expressions.
    pub fn ty(self) -> Type {
        match self {
            Hook::Init | Hook::Propose => Type::Point,
            Hook::Filter => Type::Bool,
            Hook::Fidelity => Type::Real,
            Hook::Update => Type::Action,
        }
    }
}

/// How a mechanism names its final answer: the config it recommends when the budget is
/// spent, which is what an episode is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Recommend {
    /// The best single observed trial at the highest fidelity reached (the default).
    #[default]
    Best,
    /// The config with the lowest mean over its repeats at the highest fidelity reached
    /// (a config tried once counts with its one score): robust to a lucky draw.
    Mean,
}

impl Recommend {
    /// Every rule.
    pub const ALL: [Recommend; 2] = [Recommend::Best, Recommend::Mean];

    /// Keyword in `(recommend KEYWORD)`.
    pub fn name(self) -> &'static str {
        match self {
            Recommend::Best => "best",
            Recommend::Mean => "mean",
        }
    }

    /// Parse a keyword.
    pub fn from_name(name: &str) -> Option<Recommend> {
        Recommend::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A mechanism: name, state declarations and one expression tree per hook.
///
/// Every hook is always present (defaults fill the ones a file leaves out) and always
/// called by the inner loop, so no gene can sit unused by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Genome {
    /// The mechanism's name.
    pub name: String,
    /// Declared state variables.
    pub state: Vec<StateVar>,
    /// Number of initial-design trials taken from the `init` expression.
    pub init_count: u32,
    /// Point source for the initial design.
    pub init: Expr,
    /// Candidate source after the initial design.
    pub propose: Expr,
    /// Candidate filter.
    pub filter: Expr,
    /// Fidelity rule.
    pub fidelity: Expr,
    /// Update actions, run in order after every trial.
    pub update: Vec<Expr>,
    /// The recommendation rule (`(recommend mean)`; `best` when absent).
    pub recommend: Recommend,
}

/// Where a root expression sits in a genome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootId {
    /// The hook.
    pub hook: Hook,
    /// Index among the hook's expressions (non-zero only for `update`).
    pub index: usize,
}

/// Path to a node: its root, then child indices from the root down.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodePath {
    /// The root the path starts at.
    pub root: RootId,
    /// Child indices from the root.
    pub steps: Vec<usize>,
}

impl Genome {
    /// The default genome pieces: `(init 0 (uniform))`, `(filter true)`, `(fidelity 1)`.
    pub fn with_propose(name: &str, propose: Expr) -> Self {
        Genome {
            name: name.to_string(),
            state: vec![],
            init_count: 0,
            init: Expr::prim(Prim::Uniform, vec![]),
            propose,
            filter: Expr::new(Op::Flag(true), vec![]),
            fidelity: Expr::num(1.0),
            update: vec![],
            recommend: Recommend::Best,
        }
    }

    /// All root expressions in canonical order (init, propose, filter, fidelity, updates).
    pub fn roots(&self) -> Vec<(RootId, &Expr)> {
        let mut out = vec![
            (RootId { hook: Hook::Init, index: 0 }, &self.init),
            (RootId { hook: Hook::Propose, index: 0 }, &self.propose),
            (RootId { hook: Hook::Filter, index: 0 }, &self.filter),
            (RootId { hook: Hook::Fidelity, index: 0 }, &self.fidelity),
        ];
        out.extend(self.update.iter().enumerate().map(|(i, e)| (RootId { hook: Hook::Update, index: i }, e)));
        out
    }

    /// Whether any node reads or writes the state variable `name`.
    pub fn uses_var(&self, name: &str) -> bool {
        let mut used = false;
        for (_, e) in self.roots() {
            e.walk(&mut |n| {
                if let Op::Get(v) | Op::Set(v) = &n.op {
                    used |= v == name;
                }
            });
        }
        used
    }

    /// Remove the state declarations no node uses.
    pub fn drop_unused_state(&mut self) {
        let keep: Vec<bool> = self.state.iter().map(|v| self.uses_var(&v.name)).collect();
        let mut i = 0;
        self.state.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// The root expression with this id.
    pub fn root(&self, id: RootId) -> Option<&Expr> {
        match id.hook {
            Hook::Init => Some(&self.init),
            Hook::Propose => Some(&self.propose),
            Hook::Filter => Some(&self.filter),
            Hook::Fidelity => Some(&self.fidelity),
            Hook::Update => self.update.get(id.index),
        }
    }

    /// Mutable access to a root expression.
    pub fn root_mut(&mut self, id: RootId) -> Option<&mut Expr> {
        match id.hook {
            Hook::Init => Some(&mut self.init),
            Hook::Propose => Some(&mut self.propose),
            Hook::Filter => Some(&mut self.filter),
            Hook::Fidelity => Some(&mut self.fidelity),
            Hook::Update => self.update.get_mut(id.index),
        }
    }

    /// The node at `path`.
    pub fn node(&self, path: &NodePath) -> Option<&Expr> {
        let mut e = self.root(path.root)?;
        for &s in &path.steps {
            e = e.args.get(s)?;
        }
        Some(e)
    }

    /// Mutable access to the node at `path`.
    pub fn node_mut(&mut self, path: &NodePath) -> Option<&mut Expr> {
        let mut e = self.root_mut(path.root)?;
        for &s in &path.steps {
            e = e.args.get_mut(s)?;
        }
        Some(e)
    }

    /// Every node path in canonical preorder (the order of node ids in live-gene reports).
    pub fn paths(&self) -> Vec<NodePath> {
        let mut out = Vec::new();
        for (root, e) in self.roots() {
            collect_paths(e, &mut NodePath { root, steps: vec![] }, &mut out);
        }
        out
    }

    /// Total number of nodes over all hooks.
    pub fn size(&self) -> usize {
        self.roots().iter().map(|(_, e)| e.size()).sum()
    }

    /// Index of a declared state variable.
    pub fn var_index(&self, name: &str) -> Option<usize> {
        self.state.iter().position(|v| v.name == name)
    }
}

fn collect_paths(e: &Expr, path: &mut NodePath, out: &mut Vec<NodePath>) {
    out.push(path.clone());
    for (i, a) in e.args.iter().enumerate() {
        path.steps.push(i);
        collect_paths(a, path, out);
        path.steps.pop();
    }
}
