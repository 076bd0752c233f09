//! GPT trials: gradients reach every parameter, fused ops match the reference path,
//! trials are deterministic across thread counts, divergence is a status, the cache and
//! the table answer like the trials they store.

use candle_core::{DType, Device, Tensor, Var};
use outerloop::objective::gpt::cache::{TrialCache, TrialKey};
use outerloop::objective::gpt::design::TableSpec;
use outerloop::objective::gpt::fused::FusedStep;
use outerloop::objective::gpt::suite::shipped_table;
use outerloop::objective::gpt::table::{BuildPlan, GptTable, Table, build};
use outerloop::objective::gpt::train::{Trainer, run_trial_keep};
use outerloop::objective::gpt::{
    Corpus, Gpt, GptObjective, ModelConfig, OpPath, OptimConfig, Skill, TrainSettings, TrialSpec, ops, run_trial,
};
use outerloop::objective::{Objective, TrialStatus};
use std::sync::Arc;

fn corpus() -> Corpus {
    Corpus::synthetic(Skill::ALL, 6000, 1)
}

fn spec() -> TrialSpec {
    TrialSpec { model: ModelConfig::tiny(), optim: OptimConfig { batch_tokens: 64, ..OptimConfig::default() } }
}

fn settings(path: OpPath) -> TrainSettings {
    TrainSettings { budget_gflop: 0.05, eval_tokens: 256, path, ..TrainSettings::default() }
}

/// Deterministic pseudo-random tensor.
fn rand_tensor(dims: &[usize], seed: u64, scale: f32) -> Tensor {
    let n: usize = dims.iter().product();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Compare an op's fused and reference paths: values, and gradients of a random
/// projection of the output with respect to every input.
fn check_op(inputs: &[Tensor], fused: impl Fn(&[Tensor]) -> Tensor, slow: impl Fn(&[Tensor]) -> Tensor, tol: f32) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let yf = fused(&ts);
    let ys = slow(&ts);
    assert!(max_diff(&yf, &ys) < tol, "values differ by {}", max_diff(&yf, &ys));
    let w = rand_tensor(yf.dims(), 99, 1.0);
    let gf = (&yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = (&ys * &w).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let a = gf.get(v.as_tensor()).unwrap_or_else(|| panic!("fused: no gradient for input {i}"));
        let b = gs.get(v.as_tensor()).unwrap_or_else(|| panic!("reference: no gradient for input {i}"));
        let d = max_diff(a, b);
        assert!(d < tol, "gradient of input {i} differs by {d}");
    }
}

#[test]
fn fused_ops_match_reference_in_value_and_gradient() {
    let x = rand_tensor(&[6, 24], 1, 2.0);
    let g = (rand_tensor(&[24], 2, 0.5) + 1.0).unwrap();
    let b = rand_tensor(&[24], 3, 0.5);
    check_op(
        &[x.clone(), g, b],
        |t| ops::layer_norm(&t[0], &t[1], &t[2]).unwrap(),
        |t| ops::layer_norm_slow(&t[0], &t[1], &t[2]).unwrap(),
        1e-4,
    );
    let w = rand_tensor(&[25, 16], 3, 0.5);
    check_op(
        &[x.clone(), w.clone()],
        |t| ops::linear(&t[0], &t[1]).unwrap(),
        |t| ops::linear_slow(&t[0], &t[1]).unwrap(),
        1e-4,
    );
    check_op(
        &[x.clone(), w.clone()],
        |t| ops::linear_gelu(&t[0], &t[1]).unwrap(),
        |t| ops::linear_gelu_slow(&t[0], &t[1]).unwrap(),
        1e-4,
    );
    let r = rand_tensor(&[6, 16], 4, 1.0);
    check_op(
        &[r, x, w],
        |t| ops::linear_residual(&t[0], &t[1], &t[2]).unwrap(),
        |t| ops::linear_residual_slow(&t[0], &t[1], &t[2]).unwrap(),
        1e-4,
    );
    let token = rand_tensor(&[256, 8], 7, 1.0);
    let position = rand_tensor(&[5, 8], 8, 1.0);
    let ids = Tensor::from_vec(vec![3u32, 250, 3, 7, 0, 9, 3, 3], (2, 4), &Device::Cpu).unwrap();
    check_op(
        &[token, position],
        |t| ops::embed(&t[0], &t[1], &ids).unwrap(),
        |t| ops::embed_slow(&t[0], &t[1], &ids).unwrap(),
        1e-6,
    );
    let qkv = rand_tensor(&[3 * 7, 3 * 8], 5, 1.5);
    check_op(
        &[qkv],
        |t| ops::causal_attention(&t[0], 2, 3).unwrap(),
        |t| ops::causal_attention_slow(&t[0], 2, 3).unwrap(),
        1e-5,
    );
    // Longer than one query block of the causal attention (32), with a partial last block.
    let qkv = rand_tensor(&[2 * 70, 3 * 8], 9, 1.5);
    check_op(
        &[qkv],
        |t| ops::causal_attention(&t[0], 2, 2).unwrap(),
        |t| ops::causal_attention_slow(&t[0], 2, 2).unwrap(),
        1e-5,
    );
    let logits = rand_tensor(&[10, 256], 6, 3.0);
    let targets = Tensor::from_vec((0..10u32).map(|i| i * 25).collect::<Vec<_>>(), 10, &Device::Cpu).unwrap();
    let lv = Var::from_tensor(&logits).unwrap();
    let lf = ops::cross_entropy(lv.as_tensor(), &targets).unwrap();
    let ls = ops::cross_entropy_slow(lv.as_tensor(), &targets).unwrap();
    assert!(max_diff(&lf, &ls) < 1e-5);
    let gf = lf.backward().unwrap();
    let gs = ls.backward().unwrap();
    assert!(max_diff(gf.get(lv.as_tensor()).unwrap(), gs.get(lv.as_tensor()).unwrap()) < 1e-6);
}

#[test]
fn every_parameter_gets_a_gradient_and_paths_agree() {
    let cfg = ModelConfig::tiny();
    let c = corpus();
    let bytes: Vec<u32> = c.train()[..4 * 17].iter().map(|&b| b as u32).collect();
    let x = Tensor::from_vec(
        bytes.iter().enumerate().filter(|(i, _)| i % 17 != 16).map(|(_, &b)| b).collect::<Vec<_>>(),
        (4, 16),
        &Device::Cpu,
    )
    .unwrap();
    let y = Tensor::from_vec(
        bytes.iter().enumerate().filter(|(i, _)| i % 17 != 0).map(|(_, &b)| b).collect::<Vec<_>>(),
        (4, 16),
        &Device::Cpu,
    )
    .unwrap();
    let model = Gpt::new(cfg, 3, OpPath::Fused, &Device::Cpu).unwrap();
    assert_eq!(model.params().iter().map(|(_, v)| v.elem_count()).sum::<usize>(), cfg.param_count());
    let reference = model.clone().with_path(OpPath::Reference);
    let lf = model.loss(&x, &y).unwrap();
    let ls = reference.loss(&x, &y).unwrap();
    assert!(max_diff(&lf, &ls) < 1e-5);
    let gf = lf.backward().unwrap();
    let gs = ls.backward().unwrap();
    for (name, var) in model.params() {
        for (path, grads) in [("fused", &gf), ("reference", &gs)] {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{path}: `{name}` has no gradient"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{path}: `{name}` has gradient norm {norm}");
        }
        let d = max_diff(gf.get(var.as_tensor()).unwrap(), gs.get(var.as_tensor()).unwrap());
        assert!(d < 1e-5, "`{name}`: fused and reference gradients differ by {d}");
    }
}

#[test]
fn whole_model_fused_step_matches_autograd_in_loss_and_every_gradient() {
    // Three heads, noisy gains and biases, full context (as trials use); context 100 and
    // 5 sequences give blocks in chunks of 2, 2 and 1 sequences (256 rows a chunk) and
    // attention in query blocks of 32, 32, 32 and 4 rows.
    let cfg = ModelConfig { context: 100, depth: 2, width: 24, heads: 3, init_scale: 4.0 };
    let c = corpus();
    let (batch, t) = (5, cfg.context);
    let bytes: Vec<u32> = c.train()[..batch * (t + 1)].iter().map(|&b| b as u32).collect();
    let ids: Vec<u32> = bytes.iter().enumerate().filter(|(i, _)| i % (t + 1) != t).map(|(_, &b)| b).collect();
    let targets: Vec<u32> = bytes.iter().enumerate().filter(|(i, _)| i % (t + 1) != 0).map(|(_, &b)| b).collect();
    let model = Gpt::new(cfg, 11, OpPath::Reference, &Device::Cpu).unwrap();
    for (i, (_, var)) in model.params().iter().enumerate() {
        let noise = rand_tensor(var.dims(), 100 + i as u64, 0.2);
        var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
    }
    let mut step = FusedStep::new(&model, batch).unwrap();
    let mut grads: Vec<Vec<f32>> = model.params().iter().map(|(_, v)| vec![f32::NAN; v.elem_count()]).collect();
    // Twice, so reused buffers are checked too.
    for _ in 0..2 {
        let loss = step.forward(&model, &ids, &targets).unwrap();
        step.backward(&model, &ids, &targets, &mut grads).unwrap();
        let x = Tensor::from_vec(ids.clone(), (batch, t), &Device::Cpu).unwrap();
        let y = Tensor::from_vec(targets.clone(), (batch, t), &Device::Cpu).unwrap();
        for path in [OpPath::Reference, OpPath::Fused] {
            let reference = model.clone().with_path(path);
            let l = reference.loss(&x, &y).unwrap();
            let lv = l.to_scalar::<f32>().unwrap();
            assert!((loss - lv).abs() < 1e-5, "{path:?}: loss {loss} vs {lv}");
            let store = l.backward().unwrap();
            for ((name, var), g) in model.params().iter().zip(&grads) {
                let r = store.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let scale = r.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = r.iter().zip(g).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(scale > 0.0 && d <= 1e-5 + 1e-4 * scale, "{path:?}: `{name}` differs by {d} (scale {scale})");
            }
        }
    }
    // Fewer sequences than the capacity: a forward pass (evaluation) works, backward after
    // it is an error; more sequences, or a partial one, are errors too, not panics.
    let one = step.forward(&model, &ids[..t], &targets[..t]).unwrap();
    let x = Tensor::from_vec(ids[..t].to_vec(), (1, t), &Device::Cpu).unwrap();
    let y = Tensor::from_vec(targets[..t].to_vec(), (1, t), &Device::Cpu).unwrap();
    let reference = model.loss(&x, &y).unwrap().to_scalar::<f32>().unwrap();
    assert!((one - reference).abs() < 1e-5, "one sequence: {one} vs {reference}");
    assert!(step.backward(&model, &ids[..t], &targets[..t], &mut grads).is_err());
    assert!(step.backward(&model, &ids, &targets, &mut grads).is_err());
    let more: Vec<u32> = ids.iter().chain(&ids[..t]).copied().collect();
    assert!(step.forward(&model, &more, &more).is_err());
    assert!(step.forward(&model, &ids[..t + 1], &targets[..t + 1]).is_err());
}

#[test]
fn same_seed_same_init_and_different_seed_different_init() {
    let a = Gpt::new(ModelConfig::tiny(), 5, OpPath::Fused, &Device::Cpu).unwrap();
    let b = Gpt::new(ModelConfig::tiny(), 5, OpPath::Fused, &Device::Cpu).unwrap();
    let c = Gpt::new(ModelConfig::tiny(), 6, OpPath::Fused, &Device::Cpu).unwrap();
    assert_eq!(max_diff(a.params()[0].1.as_tensor(), b.params()[0].1.as_tensor()), 0.0);
    assert!(max_diff(a.params()[0].1.as_tensor(), c.params()[0].1.as_tensor()) > 0.0);
}

fn weights(model: &Gpt) -> Vec<u32> {
    model
        .params()
        .iter()
        .flat_map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .map(f32::to_bits)
        .collect()
}

#[test]
fn trials_are_bit_identical_on_one_and_two_threads() {
    let c = corpus();
    // Bigger than `tiny` so the matmuls are large enough for gemm to split them.
    let spec = TrialSpec {
        model: ModelConfig { context: 32, depth: 1, width: 64, heads: 4, init_scale: 1.0 },
        optim: OptimConfig { batch_tokens: 256, ..OptimConfig::default() },
    };
    let s = TrainSettings { budget_gflop: 0.5, eval_tokens: 256, ..TrainSettings::default() };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run_trial_keep(&spec, &c, &s, 1.0, 7).unwrap())
    };
    let (o1, m1) = run(1);
    let (o2, m2) = run(2);
    assert_eq!(o1.curve, o2.curve);
    assert_eq!(o1.status, TrialStatus::Ok);
    assert_eq!(weights(&m1), weights(&m2));
    // A different seed gives a different trial.
    let o3 = run_trial(&spec, &c, &s, 1.0, 8).unwrap();
    assert_ne!(o1.curve, o3.curve);
}

#[test]
fn low_fidelity_curve_is_a_prefix_of_the_full_curve() {
    let c = corpus();
    let full = run_trial(&spec(), &c, &settings(OpPath::Fused), 1.0, 2).unwrap();
    let half = run_trial(&spec(), &c, &settings(OpPath::Fused), 0.3, 2).unwrap();
    assert_eq!(half.curve.len(), 3);
    assert_eq!(&full.curve[..3], &half.curve[..]);
    assert!(full.score() < 8.0);
}

#[test]
fn a_diverging_config_is_reported_not_panicked() {
    let c = corpus();
    let mut spec = spec();
    spec.optim.lr = 50.0;
    spec.optim.grad_clip = 0.0;
    spec.model.init_scale = 4.0;
    let o = run_trial(&spec, &c, &settings(OpPath::Fused), 1.0, 0).unwrap();
    assert_eq!(o.status, TrialStatus::Diverged);
    assert!(o.score().is_finite());
    assert_eq!(o.curve.len(), 4);
    // Through the objective too: a defined finite score.
    let obj = GptObjective::new(Arc::new(c), settings(OpPath::Fused), 16);
    let r = obj.run_spec(&spec, 1.0, 0);
    assert_eq!(r.status, TrialStatus::Diverged);
    assert!(r.score.is_finite());
}

#[test]
fn invalid_configs_are_reported() {
    let c = corpus();
    let mut spec = spec();
    spec.model.heads = 3;
    let obj = GptObjective::new(Arc::new(c), settings(OpPath::Fused), 16);
    let r = obj.run_spec(&spec, 1.0, 0);
    assert_eq!(r.status, TrialStatus::Invalid);
    assert!(r.score.is_finite());
}

#[test]
fn cache_hits_return_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let c = Arc::new(corpus());
    let s = settings(OpPath::Fused);
    let obj = GptObjective::new(c.clone(), s.clone(), 16).with_cache(TrialCache::open(dir.path()).unwrap());
    let space = obj.space().clone();
    let mut config = outerloop::objective::gpt::default_config(&space);
    outerloop::objective::gpt::apply_sets(
        &space,
        &mut config,
        &["depth=1".into(), "width=16".into(), "batch_tokens=64".into()],
    )
    .unwrap();
    let first = obj.score(&config, 1.0, 4);
    let key = TrialKey::new(&obj.spec(&config), 4, &s, c.hash());
    let cache = TrialCache::open(dir.path()).unwrap();
    assert!(cache.get(&key, 3).is_some());
    let again = obj.score(&config, 1.0, 4);
    assert_eq!(first, again);
    // A lower fidelity is answered from the full entry and equals a fresh run.
    let low = obj.score(&config, 0.25, 4);
    let fresh = GptObjective::new(c, s, 16).score(&config, 0.25, 4);
    assert_eq!(low, fresh);
    assert!((low.cost - 0.25 * obj.full_cost()).abs() < 1e-12);
}

#[test]
fn weights_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus();
    let (_, model) = run_trial_keep(&spec(), &c, &settings(OpPath::Fused), 0.125, 1).unwrap();
    let path = dir.path().join("w.safetensors");
    model.save(&path).unwrap();
    let loaded = Gpt::load(*model.config(), &path, OpPath::Fused, &Device::Cpu).unwrap();
    assert_eq!(weights(&model), weights(&loaded));
    assert!(Gpt::load(ModelConfig { width: 32, ..*model.config() }, &path, OpPath::Fused, &Device::Cpu).is_err());
}

#[test]
fn trainer_batches_are_seeded() {
    let c = corpus();
    let s = settings(OpPath::Fused);
    let a = Trainer::new(spec(), &c, &s, 1).unwrap();
    let b = Trainer::new(spec(), &c, &s, 1).unwrap();
    let (xa, _) = a.batch(3).unwrap();
    let (xb, _) = b.batch(3).unwrap();
    assert_eq!(max_diff(&xa.to_dtype(DType::F32).unwrap(), &xb.to_dtype(DType::F32).unwrap()), 0.0);
}

#[test]
fn table_build_resumes_and_answers_with_seed_noise() {
    let dir = tempfile::tempdir().unwrap();
    let grid_path = dir.path().join("grid.toml");
    let text = "context = 16\neval_tokens = 128\n[grid]\nlr = [0.003, 0.01]\nwidth = [16]\ndepth = [1]\n";
    let spec = TableSpec::parse(&grid_path, text).unwrap();
    assert_eq!(spec.configs.len(), 2);
    let out = dir.path().join("t.tsv");
    let plan = BuildPlan { spec, budget: 0.02, seeds: 2, jobs: 2, out: out.clone(), limit: None };
    let c = corpus();
    let first = build(&plan, &c, &outerloop::exec::Executor::local(), &|_, _, _| {}).unwrap();
    assert_eq!((first.existing, first.ran, first.total), (0, 4, 4));
    // Interrupt: cut the last line in half; the rebuild reruns only that trial.
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&out, &text[..text.len() - 10]).unwrap();
    let second = build(&plan, &c, &outerloop::exec::Executor::local(), &|_, _, _| {}).unwrap();
    assert_eq!((second.existing, second.ran), (3, 1));
    let table = Table::load(&out).unwrap();
    assert_eq!(table.rows.len(), 4);
    let obj = GptTable::new("t", table.clone());
    let space = obj.space().clone();
    let config = space.decode(&[0.9, 0.5, 0.5]);
    let r0 = obj.score(&config, 1.0, 0);
    let r1 = obj.score(&config, 1.0, 1);
    let r2 = obj.score(&config, 1.0, 2);
    assert_eq!(r0, r2);
    assert_ne!(r0.score, r1.score);
    let row = table.rows.iter().find(|r| r.config == 1 && r.seed == 0).unwrap();
    assert!((r0.score - row.curve[3]).abs() < 1e-4);
    // Real trials agree with the table.
    let spec = outerloop::objective::gpt::spec_from_config(
        &outerloop::objective::gpt::gpt_space(),
        &{
            let s = outerloop::objective::gpt::gpt_space();
            let mut cfg = outerloop::objective::gpt::default_config(&s);
            outerloop::objective::gpt::apply_sets(
                &s,
                &mut cfg,
                &["lr=0.01".into(), "width=16".into(), "depth=1".into()],
            )
            .unwrap();
            cfg
        },
        16,
    );
    let s = TrainSettings { budget_gflop: 0.02, eval_tokens: 128, ..TrainSettings::default() };
    let live = run_trial(&spec, &c, &s, 1.0, 0).unwrap();
    assert!((live.score() - r0.score).abs() < 1e-4);
    // Low fidelity reads the curve prefix.
    assert_eq!(obj.score(&config, 0.125, 0).curve.len(), 1);
}

#[test]
fn cli_rejects_unknown_knobs_with_exit_code_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["trial", "--set", "nope=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown knob"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["trial", "--corpus", "/nonexistent/file.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Flags that used to be accepted (a NaN fidelity, zero jobs) or to abort on allocation
/// (a billion seeds, a config too large for memory) are exit 2 before any trial starts,
/// and nothing is written.
#[test]
fn out_of_range_trial_and_table_flags_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t.tsv");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/tables/gpt-synthetic.grid.toml");
    let o = out.to_str().unwrap();
    let folder = tmp.path().to_str().unwrap();
    let nowhere = tmp.path().join("no/such/model.safetensors");
    let largest = [
        "trial",
        "--context",
        "4096",
        "--set",
        "depth=6",
        "--set",
        "width=256",
        "--set",
        "heads=8",
        "--set",
        "batch_tokens=4096",
    ];
    let cases: [(&[&str], &str); 8] = [
        // The largest in-range config needs 3.9 GB: refused by its memory estimate.
        (&largest, "needs about 4.2 GiB of memory"),
        (&["trial", "--save", folder], "is a folder"),
        (&["trial", "--save", nowhere.to_str().unwrap()], "is in a folder that does not exist"),
        (&["trial", "--fidelity", "nan"], "--fidelity NaN must be a fraction"),
        (&["trial", "--fidelity", "0"], "must be a fraction"),
        (&["table", "build", "--spec", spec, "--out", o, "--budget", "1", "--jobs", "0"], "--jobs 0 is not from 1"),
        (
            &["table", "build", "--spec", spec, "--out", o, "--budget", "1", "--seeds", "1000000000"],
            "--seeds from 1 to 1000",
        ),
        (&["table", "build", "--spec", spec, "--out", o, "--budget", "1e308"], "at most 100000"),
    ];
    for (args, needle) in cases {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_outerloop")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote the table");
    }
}

#[test]
fn the_shipped_table_is_complete_and_answers() {
    let obj = shipped_table("synthetic").unwrap();
    let table = obj.table();
    assert!(table.tabulated() >= 500);
    assert_eq!(table.fidelities, vec![0.125, 0.25, 0.5, 1.0]);
    assert_eq!(table.rows.len(), table.tabulated() * 3, "every config has 3 seeds");
    assert!(table.rows.iter().all(|r| r.curve.len() == 4 && r.curve.iter().all(|s| s.is_finite())));
    let space = obj.space().clone();
    let config = space.decode(&vec![0.5; space.dim()]);
    let r = obj.score(&config, 0.5, 1);
    assert_eq!(r.curve.len(), 3);
    assert!(r.score < 8.0 && r.cost > 0.0);
}
