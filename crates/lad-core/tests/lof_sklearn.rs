//! LOF agrees with scikit-learn's `LocalOutlierFactor(novelty=True)` on data without
//! duplicates. The expected values come from `fixtures/lof_sklearn.py`.

use lad_core::lof::{Lof, LofParams};
use ndarray::Array2;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    k: usize,
    train: Vec<Vec<f64>>,
    queries: Vec<Vec<f64>>,
    expected: Vec<f64>,
}

#[test]
fn lof_matches_scikit_learn() {
    let fixture: Fixture = serde_json::from_str(include_str!("fixtures/lof_sklearn.json"))
        .expect("fixture is valid JSON");
    assert!(!fixture.cases.is_empty());
    for case in fixture.cases {
        let dim = case.train[0].len();
        let train = Array2::from_shape_vec((case.train.len(), dim), case.train.concat())
            .expect("rectangular training data");
        let params = LofParams { k: case.k }.check().expect("valid k");
        let lof = Lof::fit(train.view(), &params).expect("fit");
        assert_eq!(
            lof.n_points(),
            case.train.len(),
            "{}: no duplicates",
            case.name
        );
        assert_eq!(lof.effective_k(), case.k);
        assert_eq!(case.queries.len(), case.expected.len());
        for (i, (q, e)) in case.queries.iter().zip(&case.expected).enumerate() {
            let got = lof.try_score(q).expect("valid query");
            assert!(
                (got - e).abs() <= 1e-6,
                "{} query {i}: lad {got}, scikit-learn {e}",
                case.name
            );
        }
    }
}
