//! The mapping network z, c → w (FORMATS.md §3.3), and what the official `MappingNetwork`
//! does after its layers: broadcasting w to every layer (W+) and truncation toward `w_avg`.

use burn::tensor::Tensor;

use super::config::MappingConfig;
use crate::error::{Error, Result};
use crate::nn::{FcSpec, FullyConnected, Init, Params, StateDict};
use crate::ops::{lerp, normalize_2nd_moment};

#[derive(Clone, Debug)]
pub struct MappingNetwork {
    pub z_dim: usize,
    pub c_dim: usize,
    pub w_dim: usize,
    pub embed: Option<FullyConnected>,
    pub fcs: Vec<FullyConnected>,
    /// Running mean of w (`w_avg` buffer); present when the network has `num_ws` and a beta.
    pub w_avg: Option<Tensor<1>>,
    pub w_avg_beta: Option<f64>,
}

impl MappingNetwork {
    /// `MappingNetwork(z_dim, c_dim, w_dim, num_ws, **cfg)`; `has_num_ws` is false for the
    /// discriminator's conditioning mapping (no `w_avg`).
    pub fn new(
        p: &mut Params,
        z_dim: usize,
        c_dim: usize,
        w_dim: usize,
        has_num_ws: bool,
        cfg: &MappingConfig,
    ) -> Result<Self> {
        let embed_features = if c_dim == 0 {
            0
        } else {
            cfg.embed_features.unwrap_or(w_dim)
        };
        let layer_features = cfg.layer_features.unwrap_or(w_dim);
        // `[z + embed] + [layer] * (num_layers − 1) + [w]`; with 0 layers the (normalised) input is w.
        let mut features = vec![z_dim + embed_features];
        features.extend(std::iter::repeat_n(
            layer_features,
            cfg.num_layers.saturating_sub(1),
        ));
        features.push(w_dim);
        if cfg.num_layers == 0 && z_dim + embed_features != w_dim {
            return Err(Error::Config(format!(
                "a mapping network with 0 layers needs z_dim + embed_features ({}) == w_dim ({w_dim})",
                z_dim + embed_features
            )));
        }
        let embed = if c_dim > 0 {
            Some(p.scope("embed", |p| {
                FullyConnected::new(p, FcSpec::new(c_dim, embed_features))
            })?)
        } else {
            None
        };
        let fcs = (0..cfg.num_layers)
            .map(|i| {
                p.scope(&format!("fc{i}"), |p| {
                    FullyConnected::new(
                        p,
                        FcSpec::new(features[i], features[i + 1])
                            .activation(cfg.activation)
                            .lr_multiplier(cfg.lr_multiplier),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let w_avg = match (has_num_ws, cfg.w_avg_beta) {
            (true, Some(_)) => Some(p.tensor("w_avg", [w_dim], Init::Const(0.0))?),
            _ => None,
        };
        Ok(Self {
            z_dim,
            c_dim,
            w_dim,
            embed,
            fcs,
            w_avg,
            w_avg_beta: cfg.w_avg_beta,
        })
    }

    /// w `[N, w_dim]` from z `[N, z_dim]` (float32, already cast) and one-hot c `[N, c_dim]`.
    pub fn forward(&self, z: Option<Tensor<2>>, c: Option<Tensor<2>>) -> Result<Tensor<2>> {
        let mut x = match (self.z_dim, z) {
            (0, _) => None,
            (d, Some(z)) => {
                if z.dims()[1] != d {
                    return Err(Error::InvalidArgument(format!(
                        "z has {} dims, the network expects {d}",
                        z.dims()[1]
                    )));
                }
                Some(normalize_2nd_moment(z))
            }
            (d, None) => {
                return Err(Error::InvalidArgument(format!(
                    "the mapping network needs z ({d} dims)"
                )))
            }
        };
        if let Some(embed) = &self.embed {
            let c = c.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the network is conditional: it needs a class label (c_dim {})",
                    self.c_dim
                ))
            })?;
            let y = normalize_2nd_moment(embed.forward(c));
            x = Some(match x {
                Some(x) => Tensor::cat(vec![x, y], 1),
                None => y,
            });
        }
        let mut x = x.expect("z_dim or c_dim is positive");
        for fc in &self.fcs {
            x = fc.forward(x);
        }
        Ok(x)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        if let Some(w) = &self.w_avg {
            sd.add("w_avg", w);
        }
        if let Some(e) = &self.embed {
            sd.scope("embed", |sd| e.state_dict(sd));
        }
        for (i, fc) in self.fcs.iter().enumerate() {
            sd.scope(&format!("fc{i}"), |sd| fc.state_dict(sd));
        }
    }
}

/// w `[N, w_dim]` → ws `[N, num_ws, w_dim]` (the same w for every layer).
pub fn broadcast(w: Tensor<2>, num_ws: usize) -> Tensor<3> {
    let [n, d] = w.dims();
    w.reshape([n, 1, d]).repeat_dim(1, num_ws)
}

/// Truncation toward `w_avg` on the first `cutoff` layers (all when `None`), with the official
/// `w_avg.lerp(w, psi)` formula.
pub fn truncate(
    ws: Tensor<3>,
    w_avg: &Tensor<1>,
    psi: f64,
    cutoff: Option<usize>,
) -> Result<Tensor<3>> {
    if !psi.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "truncation psi must be finite, got {psi}"
        )));
    }
    let [n, num_ws, d] = ws.dims();
    let k = cutoff.unwrap_or(num_ws).min(num_ws);
    if k == 0 || psi == 1.0 {
        return Ok(ws);
    }
    let avg = w_avg
        .clone()
        .reshape([1, 1, d])
        .repeat_dim(0, n)
        .repeat_dim(1, k);
    let head = lerp(avg, ws.clone().narrow(1, 0, k), psi);
    if k == num_ws {
        Ok(head)
    } else {
        Ok(Tensor::cat(vec![head, ws.narrow(1, k, num_ws - k)], 1))
    }
}
