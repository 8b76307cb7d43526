//! The attribute classifier learns a visible attribute; InterFaceGAN recovers a known linear
//! boundary and its conditional variant is orthogonal to the condition; labelled-sample files
//! round-trip.

use stylegan::attributes::{
    train_classifier, AttributeClassifier, ClassifierOptions, LabelledSamples,
};
use stylegan::edit::interfacegan::interfacegan;
use stylegan::latent::RandomState;
use stylegan::train::InMemoryData;

#[test]
fn classifier_learns_a_visible_attribute() {
    // 8×8 images: attribute 0 = a bright square in the top-left, attribute 1 = reddish tint.
    let mut rng = RandomState::new(1);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..200 {
        let (sq, red) = (i % 2 == 0, (i / 2) % 2 == 0);
        let mut img = vec![0u8; 3 * 64];
        for c in 0..3 {
            for p in 0..64 {
                let base = 60.0 + 40.0 * rng.random_sample();
                let tint = if red && c == 0 { 90.0 } else { 0.0 };
                let (y, x) = (p / 8, p % 8);
                let on = sq && y < 4 && x < 4;
                img[c * 64 + p] = (base + tint + if on { 100.0 } else { 0.0 }).min(255.0) as u8;
            }
        }
        images.push(img);
        labels.push(vec![sq as u8 as f32, red as u8 as f32]);
    }
    let data = InMemoryData {
        resolution: 8,
        channels: 3,
        images,
        labels: Some(labels),
    };
    let names = vec!["square".to_string(), "red".to_string()];
    let opts = ClassifierOptions {
        width: 8,
        batch: 16,
        steps: 150,
        lr: 3e-3,
        holdout: 0.2,
        seed: 0,
    };
    let (entry, acc) = train_classifier(&data, &names, &opts, &|_, _| {}).unwrap();
    for (n, a) in &acc {
        assert!(*a >= 0.9, "{n}: held-out accuracy {a}");
    }
    // Saved and loaded, it gives probabilities in [0, 1] of the right shape.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("clf.safetensors");
    stylegan::attributes::save_classifier(&p, &entry).unwrap();
    let c = AttributeClassifier::load(&p, &stylegan::backend::cpu()).unwrap();
    assert_eq!(c.label_names, names);
    let x = burn::tensor::Tensor::<4>::zeros([3, 3, 8, 8], &stylegan::backend::cpu());
    let pr = c.predict(x).unwrap();
    assert_eq!(pr.len(), 3);
    assert!(pr.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    let bad = burn::tensor::Tensor::<4>::zeros([1, 3, 16, 16], &stylegan::backend::cpu());
    assert!(c
        .predict(bad)
        .unwrap_err()
        .to_string()
        .contains("[N, 3, 8, 8]"));
    // Without labels: a clear error.
    let nolab = InMemoryData {
        resolution: 8,
        channels: 3,
        images: data.images.clone(),
        labels: None,
    };
    let err = train_classifier(&nolab, &[], &opts, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no labels"), "{err}");
}

/// Samples whose attribute scores are sigmoids of known linear functions of w.
fn synthetic(n: usize, d: usize) -> (LabelledSamples, Vec<f64>, Vec<f64>) {
    let mut rng = RandomState::new(3);
    let a: Vec<f64> = rng.randn(d);
    let mut b: Vec<f64> = rng.randn(d);
    // Make b correlated with a so the conditional direction differs from the plain one.
    b.iter_mut()
        .zip(&a)
        .for_each(|(x, y)| *x = 0.6 * y + 0.8 * *x);
    let mut w = Vec::new();
    let mut scores = Vec::new();
    for _ in 0..n {
        let v: Vec<f64> = rng.randn(d);
        let s = |u: &[f64]| {
            1.0 / (1.0 + (-3.0 * u.iter().zip(&v).map(|(p, q)| p * q).sum::<f64>()).exp())
        };
        scores.push(vec![s(&a) as f32, s(&b) as f32]);
        w.push(v.iter().map(|&x| x as f32).collect());
    }
    let samples = LabelledSamples {
        seeds: (0..n as u32).collect(),
        w,
        scores,
        label_names: vec!["a".into(), "b".into()],
    };
    (samples, a, b)
}

fn unit(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn cos(x: &[f32], y: &[f64]) -> f64 {
    let y = unit(y);
    x.iter().zip(&y).map(|(p, q)| *p as f64 * q).sum()
}

#[test]
fn interfacegan_recovers_a_linear_boundary() {
    let (s, a, b) = synthetic(2000, 16);
    let d = interfacegan(&s, "a", &[], 0.25).unwrap();
    assert_eq!((d.method.as_str(), d.space.as_str()), ("interfacegan", "w"));
    let c = cos(&d.directions[0], &a);
    assert!(c > 0.95, "cos to the true normal {c}");
    assert!(d.values[0] > 0.95, "validation accuracy {}", d.values[0]);

    // Conditional: orthogonal to b's boundary, still mostly along a.
    let dc = interfacegan(&s, "a", &["b".into()], 0.25).unwrap();
    let nb = interfacegan(&s, "b", &[], 0.25).unwrap();
    let dot: f32 = dc.directions[0]
        .iter()
        .zip(&nb.directions[0])
        .map(|(x, y)| x * y)
        .sum();
    assert!(dot.abs() < 1e-5, "not orthogonal to the condition: {dot}");
    assert!(cos(&dc.directions[0], &a) > 0.5);
    // ... whereas the plain direction is not (a and b are correlated by construction).
    assert!(cos(&d.directions[0], &b).abs() > 0.2);

    // Round trip of the samples file and clear errors.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.safetensors");
    s.save(&p).unwrap();
    let back = LabelledSamples::load(&p).unwrap();
    assert_eq!(
        (back.w, back.scores, back.seeds, back.label_names),
        (
            s.w.clone(),
            s.scores.clone(),
            s.seeds.clone(),
            s.label_names.clone()
        )
    );
    let err = interfacegan(&s, "glasses", &[], 0.25)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown attribute 'glasses'") && err.contains("a, b"),
        "{err}"
    );
    let err = interfacegan(&s, "a", &["a".into()], 0.25)
        .unwrap_err()
        .to_string();
    assert!(err.contains("both"), "{err}");
}
