//! The regularisers' parameter gradients (first-order surrogates with central differences)
//! against a finite difference of the penalties themselves, in float64, on small conv nets
//! built from the library's own equalised-lr layers.

use std::collections::BTreeMap;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use stylegan::latent::RandomState;
use stylegan::nn::{Conv2dLayer, Conv2dSpec, FcSpec, FullyConnected, Params};
use stylegan::ops::{Activation, Filter};
use stylegan::train::regularizers;

type Live = BTreeMap<String, (Vec<usize>, Tensor<1>)>;

fn f64_device() -> Device {
    let mut d = Device::flex();
    // All tests in this binary want float64; the first call configures it.
    let _ = d.configure(FloatDType::F64);
    d
}

fn t<const D: usize>(v: Vec<f64>, shape: [usize; D], dev: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn vals<const D: usize>(x: &Tensor<D>) -> Vec<f64> {
    x.clone()
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .unwrap()
}

/// Random f64 parameters for the given names/shapes.
fn random_params(specs: &[(&str, Vec<usize>)], rng: &mut RandomState, dev: &Device) -> Live {
    specs
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let v = if name.ends_with("resample_filter") {
                vec![1.0 / n as f64; n]
            } else {
                rng.randn(n).into_iter().map(|x| x * 0.7).collect()
            };
            (name.to_string(), (shape.clone(), t(v, [n], dev)))
        })
        .collect()
}

/// Leaves keeping gradients (parameters only).
fn leaves(p: &Live) -> Live {
    p.iter()
        .map(|(k, (s, x))| {
            let x = if k.ends_with("resample_filter") {
                x.clone()
            } else {
                x.clone().autodiff().require_grad()
            };
            (k.clone(), (s.clone(), x))
        })
        .collect()
}

/// θ + h·d for a direction d over all parameters.
fn shifted(p: &Live, d: &BTreeMap<String, Vec<f64>>, h: f64, dev: &Device) -> Live {
    p.iter()
        .map(|(k, (s, x))| {
            let x = match d.get(k) {
                Some(dir) => {
                    let v: Vec<f64> = vals(x).iter().zip(dir).map(|(a, b)| a + h * b).collect();
                    let n = v.len();
                    t(v, [n], dev)
                }
                None => x.clone(),
            };
            (k.clone(), (s.clone(), x))
        })
        .collect()
}

fn direction(p: &Live, rng: &mut RandomState) -> BTreeMap<String, Vec<f64>> {
    p.iter()
        .filter(|(k, _)| !k.ends_with("resample_filter"))
        .map(|(k, (s, _))| (k.clone(), rng.randn(s.iter().product())))
        .collect()
}

/// ⟨∇θ, d⟩ from the gradients of the leaves.
fn dot(leaves: &Live, grads: &burn::tensor::Gradients, d: &BTreeMap<String, Vec<f64>>) -> f64 {
    d.iter()
        .map(|(k, dir)| {
            let g = leaves[k]
                .1
                .grad(grads)
                .map(|g| vals(&g))
                .unwrap_or(vec![0.0; dir.len()]);
            g.iter().zip(dir).map(|(a, b)| a * b).sum::<f64>()
        })
        .sum()
}

struct SmallD {
    c0: Conv2dLayer,
    c1: Conv2dLayer,
    fc: FullyConnected,
}

const D_SPECS: &[(&str, &[usize])] = &[
    ("c0.weight", &[4, 3, 3, 3]),
    ("c0.bias", &[4]),
    ("c0.resample_filter", &[4, 4]),
    ("c1.weight", &[4, 4, 3, 3]),
    ("c1.bias", &[4]),
    ("c1.resample_filter", &[4, 4]),
    ("fc.weight", &[1, 4 * 8 * 8]),
    ("fc.bias", &[1]),
];

impl SmallD {
    fn new(live: Live, dev: &Device) -> Self {
        let mut p = Params::live(live, dev);
        let f = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], dev).unwrap();
        let act = Activation::Swish; // smooth, so finite differences are clean
        let c0 = p
            .scope("c0", |p| {
                Conv2dLayer::new(p, Conv2dSpec::new(3, 4, 3, &f).activation(act))
            })
            .unwrap();
        let c1 = p
            .scope("c1", |p| {
                Conv2dLayer::new(p, Conv2dSpec::new(4, 4, 3, &f).activation(act))
            })
            .unwrap();
        let fc = p
            .scope("fc", |p| FullyConnected::new(p, FcSpec::new(4 * 8 * 8, 1)))
            .unwrap();
        p.finish().unwrap();
        Self { c0, c1, fc }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let n = x.dims()[0];
        let y = self.c1.forward(self.c0.forward(x, 1.0), 1.0);
        self.fc.forward(y.reshape([n, 4 * 8 * 8]))
    }
}

/// The exact R1 loss `mean_i(γ/2 ‖∇ₓᵢ Σ D‖²)·gain` by first-order autodiff.
fn r1_exact(params: &Live, x: &Tensor<4>, gamma: f64, gain: f64, dev: &Device) -> f64 {
    let d = SmallD::new(params.clone(), dev);
    let leaf = x.clone().autodiff().require_grad();
    let grads = d.forward(leaf.clone()).sum().backward();
    let g = vals(&leaf.grad(&grads).unwrap());
    let n = x.dims()[0];
    let per = g.len() / n;
    (0..n)
        .map(|i| g[i * per..(i + 1) * per].iter().map(|v| v * v).sum::<f64>() * gamma / 2.0)
        .sum::<f64>()
        / n as f64
        * gain
}

#[test]
fn r1_parameter_gradient_matches_finite_difference_of_the_penalty() {
    let dev = f64_device();
    let mut rng = RandomState::new(7);
    let specs: Vec<(&str, Vec<usize>)> = D_SPECS.iter().map(|(n, s)| (*n, s.to_vec())).collect();
    let params = random_params(&specs, &mut rng, &dev);
    let x = t(rng.randn(4 * 3 * 8 * 8), [4, 3, 8, 8], &dev);
    let (gamma, gain) = (10.0, 16.0);

    let lv = leaves(&params);
    // Each call builds the net afresh from the leaves (a consumed graph cannot be reused).
    let run = |x: Tensor<4>| Ok(SmallD::new(lv.clone(), &dev).forward(x));
    let r1 = regularizers::r1(&run, x.clone(), gamma, gain, 1e-4).unwrap();
    let grads = r1.surrogate.sum().backward();
    // The reported penalty is the exact one.
    let exact = r1_exact(&params, &x, gamma, gain, &dev);
    let reported = r1.penalty.iter().sum::<f64>() / 4.0 * gamma / 2.0 * gain;
    assert!(
        (reported - exact).abs() <= 1e-6 * exact.abs(),
        "{reported} vs {exact}"
    );

    for k in 0..3 {
        let dir = direction(&params, &mut rng);
        let analytic = dot(&lv, &grads, &dir);
        let h = 1e-5;
        let fd = (r1_exact(&shifted(&params, &dir, h, &dev), &x, gamma, gain, &dev)
            - r1_exact(&shifted(&params, &dir, -h, &dev), &x, gamma, gain, &dev))
            / (2.0 * h);
        let rel = (analytic - fd).abs() / fd.abs().max(1e-12);
        println!(
            "R1 direction {k}: surrogate {analytic:.9e}, finite difference {fd:.9e}, rel {rel:.2e}"
        );
        assert!(
            rel < 1e-5,
            "R1 gradient off: {analytic} vs {fd} (rel {rel})"
        );
    }
}

/// The exact WGAN-GP loss `mean_i((‖∇ₓᵢ Σ D‖ − target)²)·weight` by first-order autodiff.
fn gp_exact(params: &Live, x: &Tensor<4>, target: f64, weight: f64, dev: &Device) -> f64 {
    let d = SmallD::new(params.clone(), dev);
    let leaf = x.clone().autodiff().require_grad();
    let grads = d.forward(leaf.clone()).sum().backward();
    let g = vals(&leaf.grad(&grads).unwrap());
    let n = x.dims()[0];
    let per = g.len() / n;
    (0..n)
        .map(|i| {
            let norm = g[i * per..(i + 1) * per]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt();
            (norm - target).powi(2)
        })
        .sum::<f64>()
        / n as f64
        * weight
}

#[test]
fn gradient_penalty_matches_finite_difference_of_the_penalty() {
    let dev = f64_device();
    let mut rng = RandomState::new(11);
    let specs: Vec<(&str, Vec<usize>)> = D_SPECS.iter().map(|(n, s)| (*n, s.to_vec())).collect();
    let params = random_params(&specs, &mut rng, &dev);
    let x = t(rng.randn(4 * 3 * 8 * 8), [4, 3, 8, 8], &dev);
    // PGGAN: target 1, weight λ/target² = 10; a second target where the norms sit on both sides.
    for (target, weight) in [(1.0, 10.0), (0.05, 3.0)] {
        let lv = leaves(&params);
        let run = |x: Tensor<4>| Ok(SmallD::new(lv.clone(), &dev).forward(x));
        let gp = regularizers::gradient_penalty(&run, x.clone(), target, weight, 1e-4).unwrap();
        let grads = gp.surrogate.sum().backward();
        let exact = gp_exact(&params, &x, target, weight, &dev);
        let reported = gp.penalty.iter().sum::<f64>() / 4.0 * weight;
        assert!(
            (reported - exact).abs() <= 1e-6 * exact.abs(),
            "{reported} vs {exact}"
        );
        for k in 0..3 {
            let dir = direction(&params, &mut rng);
            let analytic = dot(&lv, &grads, &dir);
            let h = 1e-5;
            let fd = (gp_exact(&shifted(&params, &dir, h, &dev), &x, target, weight, &dev)
                - gp_exact(&shifted(&params, &dir, -h, &dev), &x, target, weight, &dev))
                / (2.0 * h);
            let rel = (analytic - fd).abs() / fd.abs().max(1e-12);
            println!("GP target {target} direction {k}: {analytic:.9e} vs {fd:.9e}, rel {rel:.2e}");
            assert!(
                rel < 1e-5,
                "GP gradient off: {analytic} vs {fd} (rel {rel})"
            );
        }
    }
}

/// A small "generator": z → mapping FC → ws (2 layers) → two FCs → 4×4 map → conv → image.
struct SmallG {
    map: FullyConnected,
    a: FullyConnected,
    b: FullyConnected,
    conv: Conv2dLayer,
}

const G_SPECS: &[(&str, &[usize])] = &[
    ("map.weight", &[4, 4]),
    ("map.bias", &[4]),
    ("a.weight", &[16, 4]),
    ("a.bias", &[16]),
    ("b.weight", &[16, 4]),
    ("b.bias", &[16]),
    ("conv.weight", &[3, 1, 3, 3]),
    ("conv.bias", &[3]),
    ("conv.resample_filter", &[4, 4]),
];

impl SmallG {
    fn new(live: Live, dev: &Device) -> Self {
        let mut p = Params::live(live, dev);
        let f = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], dev).unwrap();
        let map = p
            .scope("map", |p| {
                FullyConnected::new(
                    p,
                    FcSpec::new(4, 4)
                        .activation(Activation::Tanh)
                        .lr_multiplier(0.5),
                )
            })
            .unwrap();
        let a = p
            .scope("a", |p| FullyConnected::new(p, FcSpec::new(4, 16)))
            .unwrap();
        let b = p
            .scope("b", |p| FullyConnected::new(p, FcSpec::new(4, 16)))
            .unwrap();
        let conv = p
            .scope("conv", |p| {
                Conv2dLayer::new(p, Conv2dSpec::new(1, 3, 3, &f).activation(Activation::Tanh))
            })
            .unwrap();
        p.finish().unwrap();
        Self { map, a, b, conv }
    }
    fn ws(&self, z: Tensor<2>) -> Tensor<3> {
        let w = self.map.forward(z);
        let [n, d] = w.dims();
        w.reshape([n, 1, d]).repeat_dim(1, 2)
    }
    fn synth(&self, ws: Tensor<3>) -> Tensor<4> {
        let [n, _, d] = ws.dims();
        let w0 = ws.clone().narrow(1, 0, 1).reshape([n, d]);
        let w1 = ws.narrow(1, 1, 1).reshape([n, d]);
        let x = burn::tensor::activation::tanh(self.a.forward(w0) * self.b.forward(w1));
        self.conv.forward(x.reshape([n, 1, 4, 4]), 1.0)
    }
}

/// The exact path-length loss `mean_i(w·(Lᵢ − a)²)·gain`, `a = pl_mean.lerp(mean L, decay)`.
fn pl_exact(params: &Live, z: &Tensor<2>, y: &Tensor<4>, pl_mean: f64, dev: &Device) -> f64 {
    let g = SmallG::new(params.clone(), dev);
    let ws = g.ws(z.clone());
    let leaf = ws.autodiff().require_grad();
    let grads = (g.synth(leaf.clone()) * y.clone()).sum().backward();
    let v = vals(&leaf.grad(&grads).unwrap());
    let n = z.dims()[0];
    let lengths: Vec<f64> = (0..n)
        .map(|i| (v[i * 8..(i + 1) * 8].iter().map(|x| x * x).sum::<f64>() / 2.0).sqrt())
        .collect();
    let mean = lengths.iter().sum::<f64>() / n as f64;
    let a = pl_mean + 0.01 * (mean - pl_mean);
    lengths.iter().map(|l| 2.0 * (l - a).powi(2)).sum::<f64>() / n as f64 * 4.0
}

#[test]
fn path_length_parameter_gradient_matches_finite_difference_of_the_penalty() {
    let dev = f64_device();
    let mut rng = RandomState::new(11);
    let specs: Vec<(&str, Vec<usize>)> = G_SPECS.iter().map(|(n, s)| (*n, s.to_vec())).collect();
    let params = random_params(&specs, &mut rng, &dev);
    let z = t(rng.randn(3 * 4), [3, 4], &dev);
    let y = t(
        rng.randn(3 * 3 * 16).into_iter().map(|v| v / 4.0).collect(),
        [3, 3, 4, 4],
        &dev,
    );
    let pl_mean = 0.3;

    let lv = leaves(&params);
    let g = SmallG::new(lv.clone(), &dev);
    let synth = |ws: Tensor<3>| Ok(SmallG::new(lv.clone(), &dev).synth(ws));
    let pl = regularizers::path_length(
        &synth,
        g.ws(z.clone()),
        y.clone(),
        pl_mean,
        0.01,
        2.0,
        4.0,
        1e-4,
    )
    .unwrap();
    let grads = pl.surrogate.sum().backward();
    assert!(pl.lengths.iter().all(|l| *l > 0.0));

    for k in 0..3 {
        let dir = direction(&params, &mut rng);
        let analytic = dot(&lv, &grads, &dir);
        let h = 1e-5;
        let fd = (pl_exact(&shifted(&params, &dir, h, &dev), &z, &y, pl_mean, &dev)
            - pl_exact(&shifted(&params, &dir, -h, &dev), &z, &y, pl_mean, &dev))
            / (2.0 * h);
        let rel = (analytic - fd).abs() / fd.abs().max(1e-12);
        println!(
            "PL direction {k}: surrogate {analytic:.9e}, finite difference {fd:.9e}, rel {rel:.2e}"
        );
        assert!(
            rel < 1e-5,
            "path-length gradient off: {analytic} vs {fd} (rel {rel})"
        );
    }
    // The gradient must reach the mapping network through ws, as double backprop does.
    let map_grad = lv["map.weight"].1.grad(&grads).map(|g| vals(&g));
    assert!(map_grad.is_some_and(|g| g.iter().any(|v| v.abs() > 1e-9)));
}
