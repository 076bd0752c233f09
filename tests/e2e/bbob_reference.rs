//! The BBOB functions against values computed by COCO itself.
//!
//! `tests/fixtures/bbob_reference.csv` was written by `tests/fixtures/gen_bbob_reference.py`
//! (coco-experiment 2.8.2): every function f1..f24 on instances 1, 2, 7 in dimensions 2, 5,
//! 10, at random points, near the optimum and at the optimum. Each row must match to a
//! relative 1e-8 (absolute 1e-8 for values near zero).

use outerloop::objective::bbob::BbobFunction;

const FIXTURE: &str = include_str!("../fixtures/bbob_reference.csv");

struct Row {
    line: usize,
    function: u8,
    instance: u32,
    dim: usize,
    x: Vec<f64>,
    value: f64,
}

fn parse(line: usize, text: &str) -> Row {
    let fields: Vec<&str> = text.split(',').collect();
    assert_eq!(fields.len(), 5, "line {line}: {text}");
    let num = |s: &str| s.parse::<f64>().unwrap_or_else(|e| panic!("line {line}: `{s}`: {e}"));
    Row {
        line,
        function: fields[0].parse().unwrap(),
        instance: fields[1].parse().unwrap(),
        dim: fields[2].parse().unwrap(),
        x: fields[3].split(';').map(num).collect(),
        value: num(fields[4]),
    }
}

fn rows() -> Vec<Row> {
    let mut lines = FIXTURE.lines().enumerate();
    let (_, header) = lines.next().expect("fixture is empty");
    assert_eq!(header, "function,instance,dim,x,value");
    lines.map(|(i, text)| parse(i + 1, text)).collect()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-8 * want.abs().max(1.0)
}

#[test]
fn every_function_matches_coco() {
    let rows = rows();
    assert!(rows.len() >= 24 * 3 * 3 * 2, "fixture has only {} rows", rows.len());
    let mut failures = Vec::new();
    let mut current: Option<BbobFunction> = None;
    for row in &rows {
        assert_eq!(row.x.len(), row.dim, "line {}", row.line);
        let same = current
            .as_ref()
            .is_some_and(|f| (f.function(), f.instance(), f.dim()) == (row.function, row.instance, row.dim));
        if !same {
            current = Some(BbobFunction::new(row.function, row.instance, row.dim).unwrap());
        }
        let f = current.as_ref().unwrap();
        let got = f.eval(&row.x);
        if !close(got, row.value) {
            failures.push(format!(
                "line {}: f{} i{} d{}: got {got:e}, COCO {:e}",
                row.line, row.function, row.instance, row.dim, row.value
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[test]
fn the_optimum_matches_coco() {
    // The last row of each (function, instance, dim) block is COCO's xopt.
    let rows = rows();
    for (i, row) in rows.iter().enumerate() {
        let last = rows
            .get(i + 1)
            .is_none_or(|next| (next.function, next.instance, next.dim) != (row.function, row.instance, row.dim));
        if !last {
            continue;
        }
        let f = BbobFunction::new(row.function, row.instance, row.dim).unwrap();
        for (a, b) in f.xopt().iter().zip(&row.x) {
            assert!((a - b).abs() <= 1e-9, "line {}: xopt {:?} vs COCO {:?}", row.line, f.xopt(), row.x);
        }
        assert!(close(f.fopt(), row.value), "line {}: fopt {} vs COCO {}", row.line, f.fopt(), row.value);
    }
}
