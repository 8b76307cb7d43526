//! R1 and path-length regularisation with first-order autodiff only.
//!
//! burn has no second-order gradients, and both penalties are norms of a gradient. Their
//! parameter gradients are nevertheless directional derivatives, which central differences give
//! with first-order backward passes:
//!
//! * **R1.** With `F(X) = Σᵢ D(xᵢ)` over the minibatch and `g = ∇ₓF` (held constant),
//!   `∇θ ½‖g‖² = ∇θ (gᵀ ∇ₓF) = ∇θ [‖g‖ · (F(X + εĝ) − F(X − εĝ)) / 2ε] + O(ε²)`.
//! * **Path length.** With `H(W) = Σ G(W) · Y` and `v = ∇_W H` (held constant), any loss
//!   `Σᵢ φ(vᵢ)` has `∇θ = ∇θ (uᵀ ∇_W H)` with `uᵢ = ∂φ/∂vᵢ`, again a directional derivative
//!   along `u`, differenced the same way. `W` stays attached to the mapping network, so the
//!   gradient reaches it as it does through official double backprop.
//!
//! * **Gradient penalty** (PGGAN's WGAN-GP): `Σᵢ (‖∇ₓᵢF‖ − target)²` is a function of the
//!   same gradient as R1, so its parameter gradient is again a directional derivative of
//!   `∇ₓF`, along `uᵢ = ∂loss/∂(∇ₓᵢF)`.
//!
//! Each function returns a *surrogate* scalar whose parameter gradient equals that of the
//! official loss term (`loss.mean() · gain`, see `training/loss.py`), plus the penalty values
//! for logging. The step ε is relative to the size of the point (`eps_rel · ‖X‖`), so the
//! difference neither drowns in f32 rounding nor leaves the region where D is near-linear.
//! `tests/regularizers.rs` checks both against a finite difference of the penalty itself, in f64.

use burn::tensor::Tensor;

use crate::error::{Error, Result};

/// Default relative step of the central differences.
pub const DEFAULT_EPS_REL: f64 = 1e-2;

/// ‖t‖₂ over all elements, as f64.
fn norm<const D: usize>(t: &Tensor<D>) -> Result<f64> {
    let v = crate::backend::to_vec(&t.clone().reshape([-1]).square().sum())?;
    Ok((v[0] as f64).sqrt())
}

/// The R1 term for one minibatch.
pub struct R1 {
    /// Parameter gradient = that of `mean_i(γ/2 · ‖∇ₓᵢ F‖²) · gain`.
    pub surrogate: Tensor<1>,
    /// Per-sample `‖∇ₓᵢ F‖²` (the official `r1_penalty`).
    pub penalty: Vec<f64>,
}

/// R1 for `logits = d(x)` (`[N, 1]`). `d` must build D afresh from parameter leaves that keep
/// their gradients on every call (burn cannot backward twice through one graph); it is called
/// three times (gradient, then `x ± εĝ`). `x` carries no graph.
pub fn r1(
    d: &dyn Fn(Tensor<4>) -> Result<Tensor<2>>,
    x: Tensor<4>,
    gamma: f64,
    gain: f64,
    eps_rel: f64,
) -> Result<R1> {
    let [n, _, _, _] = x.dims();
    let x = x.without_autodiff();
    // g = ∇ₓ Σ D(x): a first backward with x as the leaf.
    let leaf = x.clone().autodiff().require_grad();
    let logits = d(leaf.clone())?;
    let grads = logits.sum().backward();
    let g = leaf
        .grad(&grads)
        .ok_or_else(|| Error::Config("R1: D's output does not depend on its input".into()))?;
    drop(grads);
    let penalty: Vec<f64> =
        crate::backend::to_vec(&g.clone().reshape([n as i32, -1]).square().sum_dim(1))?
            .into_iter()
            .map(f64::from)
            .collect();
    let g_norm = penalty.iter().sum::<f64>().sqrt();
    if g_norm == 0.0 {
        // A flat D: the penalty and its gradient are zero.
        return Ok(R1 {
            surrogate: logits_zero(&x),
            penalty,
        });
    }
    let eps = eps_rel * norm(&x)?.max(1e-3);
    let step = g.div_scalar(g_norm as f32).mul_scalar(eps as f32);
    let f_plus = d(x.clone() + step.clone())?.sum();
    let f_minus = d(x - step)?.sum();
    // ∇θ mean_i(γ/2 ‖gᵢ‖²)·gain = γ·gain/N · ∇θ(gᵀ∇ₓF), and gᵀ∇ₓF ≈ ‖g‖ (F₊ − F₋) / 2ε.
    let coeff = gamma * gain / n as f64 * g_norm / (2.0 * eps);
    Ok(R1 {
        surrogate: (f_plus - f_minus).mul_scalar(coeff as f32),
        penalty,
    })
}

/// The WGAN-GP term for one minibatch.
pub struct GradientPenalty {
    /// Parameter gradient = that of `mean_i((‖∇ₓᵢ F‖ − target)²) · weight`.
    pub surrogate: Tensor<1>,
    /// Per-sample `(‖∇ₓᵢ F‖ − target)²` (PGGAN's `gradient_penalty`).
    pub penalty: Vec<f64>,
}

/// PGGAN's gradient penalty (`D_wgangp_acgan`: `(‖∇ₓ D(x̂)‖ − target)²` at the points `x̂`
/// between reals and fakes, times `wgan_lambda / target²`), from first-order gradients like
/// [`r1`]: with `vᵢ = ∇ₓᵢ F` held constant, the loss's gradient is a directional derivative
/// along `uᵢ = ∂loss/∂vᵢ = weight/N · 2(‖vᵢ‖ − target) · vᵢ/‖vᵢ‖`, differenced along `u`.
pub fn gradient_penalty(
    d: &dyn Fn(Tensor<4>) -> Result<Tensor<2>>,
    x: Tensor<4>,
    target: f64,
    weight: f64,
    eps_rel: f64,
) -> Result<GradientPenalty> {
    let [n, _, _, _] = x.dims();
    let x = x.without_autodiff();
    let leaf = x.clone().autodiff().require_grad();
    let logits = d(leaf.clone())?;
    let grads = logits.sum().backward();
    let v = leaf.grad(&grads).ok_or_else(|| {
        Error::Config("gradient penalty: D's output does not depend on its input".into())
    })?;
    drop(grads);
    let norms: Vec<f64> =
        crate::backend::to_vec(&v.clone().reshape([n as i32, -1]).square().sum_dim(1))?
            .into_iter()
            .map(|s| f64::from(s).sqrt())
            .collect();
    let penalty: Vec<f64> = norms.iter().map(|g| (g - target).powi(2)).collect();
    let coef: Vec<f32> = norms
        .iter()
        .map(|&g| {
            if g > 0.0 {
                (weight / n as f64 * 2.0 * (g - target) / g) as f32
            } else {
                0.0
            }
        })
        .collect();
    let coef = Tensor::<1>::from_data(burn::tensor::TensorData::new(coef, [n]), &v.device())
        .cast(v.dtype())
        .reshape([n, 1, 1, 1]);
    let u = v * coef;
    let u_norm = norm(&u)?;
    if u_norm == 0.0 {
        return Ok(GradientPenalty {
            surrogate: logits_zero(&x),
            penalty,
        });
    }
    let eps = eps_rel * norm(&x)?.max(1e-3);
    let step = u.div_scalar(u_norm as f32).mul_scalar(eps as f32);
    let f_plus = d(x.clone() + step.clone())?.sum();
    let f_minus = d(x - step)?.sum();
    Ok(GradientPenalty {
        surrogate: (f_plus - f_minus).mul_scalar((u_norm / (2.0 * eps)) as f32),
        penalty,
    })
}

fn logits_zero(x: &Tensor<4>) -> Tensor<1> {
    Tensor::zeros([1], &x.device())
}

/// The path-length term for one minibatch.
pub struct PathLength {
    /// Parameter gradient = that of `mean_i(pl_weight · (Lᵢ − pl_mean)²) · gain`.
    pub surrogate: Tensor<1>,
    /// Per-sample path lengths `Lᵢ`.
    pub lengths: Vec<f64>,
    /// The updated running mean (`pl_mean.lerp(mean L, decay)`).
    pub pl_mean: f64,
}

/// Path-length regularisation for `img = synth(ws)`, `ws` `[N, num_ws, w_dim]` attached to the
/// mapping network's graph. `synth` must build the synthesis network afresh on every call and be
/// deterministic (fixed noise) across its three calls.
/// `y` is the `pl_noise` (`randn / √(H·W)`), `pl_mean` the running mean before this batch.
#[allow(clippy::too_many_arguments)]
pub fn path_length(
    synth: &dyn Fn(Tensor<3>) -> Result<Tensor<4>>,
    ws: Tensor<3>,
    y: Tensor<4>,
    pl_mean: f64,
    decay: f64,
    weight: f64,
    gain: f64,
    eps_rel: f64,
) -> Result<PathLength> {
    let [n, num_ws, w_dim] = ws.dims();
    let y = y.without_autodiff();
    // v = ∇_W Σ G(W)·Y
    let leaf = ws.clone().without_autodiff().autodiff().require_grad();
    let h = (synth(leaf.clone())? * y.clone()).sum();
    let grads = h.backward();
    let v = leaf
        .grad(&grads)
        .ok_or_else(|| Error::Config("path length: the image does not depend on ws".into()))?;
    drop(grads);
    // Lᵢ = √(mean_l Σ_d vᵢₗd²)
    let sq: Vec<f64> = crate::backend::to_vec(
        &v.clone()
            .square()
            .sum_dim(2)
            .reshape([n, num_ws])
            .mean_dim(1),
    )?
    .into_iter()
    .map(f64::from)
    .collect();
    let lengths: Vec<f64> = sq.iter().map(|s| s.sqrt()).collect();
    let mean_len = lengths.iter().sum::<f64>() / n as f64;
    // pl_mean = pl_mean.lerp(mean L, decay), not detached in the official loss: its share of
    // the gradient is the `− 2·decay/N · Σ(Lᵢ − a)` term below.
    let a = pl_mean + decay * (mean_len - pl_mean);
    let dev_sum: f64 = lengths.iter().map(|l| l - a).sum();
    // loss = weight·gain/N · Σᵢ (Lᵢ − a)²;  ∂loss/∂Lⱼ = weight·gain/N · (2(Lⱼ − a) − 2·decay/N·Σᵢ(Lᵢ − a))
    // ∂Lⱼ/∂vⱼ = vⱼ / (num_ws · Lⱼ)
    let coef: Vec<f64> = lengths
        .iter()
        .map(|&l| {
            let dl = weight * gain / n as f64 * (2.0 * (l - a) - 2.0 * decay / n as f64 * dev_sum);
            if l > 0.0 {
                dl / (num_ws as f64 * l)
            } else {
                0.0
            }
        })
        .collect();
    let coef = Tensor::<1>::from_data(burn::tensor::TensorData::new(coef, [n]), &v.device())
        .cast(v.dtype())
        .reshape([n, 1, 1]);
    let u = v * coef;
    let u_norm = norm(&u)?;
    if u_norm == 0.0 {
        return Ok(PathLength {
            surrogate: Tensor::zeros([1], &y.device()),
            lengths,
            pl_mean: a,
        });
    }
    let eps = eps_rel * norm(&ws)?.max(1e-3);
    let step = u
        .div_scalar(u_norm as f32)
        .mul_scalar(eps as f32)
        .reshape([n, num_ws, w_dim]);
    let h_plus = (synth(ws.clone() + step.clone())? * y.clone()).sum();
    let h_minus = (synth(ws - step)? * y).sum();
    let coeff = u_norm / (2.0 * eps);
    Ok(PathLength {
        surrogate: (h_plus - h_minus).mul_scalar(coeff as f32),
        lengths,
        pl_mean: a,
    })
}
