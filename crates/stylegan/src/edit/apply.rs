//! Applying an edit to a latent: a direction in w (to all layers, or to chosen W+ layers), a
//! direction in StyleSpace, or a single StyleSpace channel.

use burn::tensor::{Tensor, TensorData};

use super::Directions;
use crate::error::{Error, Result};
use crate::latent::space::{s_channel_add, s_flatten, s_unflatten};
use crate::latent::Latent;
use crate::models::Generator;

/// What an edit moves.
#[derive(Clone, Debug)]
pub enum EditKind {
    /// A unit direction in w applied to the W+ layers `layers` (all when `None`).
    W {
        direction: Vec<f32>,
        layers: Option<Vec<usize>>,
    },
    /// A unit direction over the flattened StyleSpace.
    S { direction: Vec<f32> },
    /// One StyleSpace channel (`layer` indexes conv0/conv1/torgb of every block in order).
    SChannel { layer: usize, channel: usize },
}

/// One edit: what it moves and the size of one unit of strength (GANSpace directions step in
/// standard deviations of their component, every other edit in plain units).
#[derive(Clone, Debug)]
pub struct Edit {
    pub kind: EditKind,
    /// The step of strength 1.
    pub unit: f64,
}

impl Edit {
    /// A unit direction in w on the W+ layers `layers` (all when `None`).
    pub fn w(direction: Vec<f32>, layers: Option<Vec<usize>>) -> Self {
        Self::plain(EditKind::W { direction, layers })
    }

    /// A unit direction over the flattened StyleSpace.
    pub fn s(direction: Vec<f32>) -> Self {
        Self::plain(EditKind::S { direction })
    }

    /// One StyleSpace channel.
    pub fn s_channel(layer: usize, channel: usize) -> Self {
        Self::plain(EditKind::SChannel { layer, channel })
    }

    fn plain(kind: EditKind) -> Self {
        Self { kind, unit: 1.0 }
    }

    /// Whether the edit acts in `space`: a w direction on every layer in w or W+, one on chosen
    /// layers in W+, StyleSpace edits in S. The error says what the edit is.
    pub fn check_space(&self, space: crate::latent::Space) -> Result<()> {
        use crate::latent::Space;
        let ok = matches!(
            (&self.kind, space),
            (EditKind::W { layers: None, .. }, Space::W)
                | (EditKind::W { .. }, Space::WPlus)
                | (EditKind::S { .. } | EditKind::SChannel { .. }, Space::S)
        );
        if ok {
            return Ok(());
        }
        let what = match &self.kind {
            EditKind::W { layers: None, .. } => {
                "a w direction on every layer (space w, or wplus with chosen layers)"
            }
            EditKind::W { .. } => "a w direction on chosen layers (space wplus)",
            EditKind::S { .. } => "a StyleSpace direction (space s)",
            EditKind::SChannel { .. } => "a StyleSpace channel (space s)",
        };
        Err(Error::InvalidArgument(format!(
            "space {} does not fit this edit: it is {what}",
            space.name()
        )))
    }

    /// Direction `k` of a directions file. `layers` overrides the W+ layers (for SeFa the
    /// default is the layers it was computed from, as in the SeFa paper; otherwise all).
    /// GANSpace directions are scaled by their standard deviation, so strengths are in σ.
    pub fn from_directions(d: &Directions, k: usize, layers: Option<Vec<usize>>) -> Result<Self> {
        let dir = d.directions.get(k).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "direction index {k} is out of range: the file has {}",
                d.directions.len()
            ))
        })?;
        let unit = if d.method == "ganspace" {
            d.values[k] as f64
        } else {
            1.0
        };
        let kind = match d.space.as_str() {
            "w" => EditKind::W {
                direction: dir.clone(),
                layers: layers.or_else(|| {
                    (d.method == "sefa" && !d.layers.is_empty()).then(|| d.layers.clone())
                }),
            },
            "s" => {
                if layers.is_some() {
                    return Err(Error::InvalidArgument(
                        "a layer range applies to w directions; this direction is in StyleSpace"
                            .into(),
                    ));
                }
                EditKind::S {
                    direction: dir.clone(),
                }
            }
            o => {
                return Err(Error::InvalidArgument(format!(
                    "directions in space '{o}' cannot be applied"
                )))
            }
        };
        Ok(Self { kind, unit })
    }

    /// `latent` moved by `strength` units along this edit; the result is in W+ (w edits) or S.
    pub fn apply(&self, g: &Generator, latent: Latent, strength: f64) -> Result<Latent> {
        g.require_w("an edit along a direction")?;
        let strength = strength * self.unit;
        match &self.kind {
            EditKind::W { direction, layers } => {
                let (num_ws, d) = (g.num_ws(), g.config.w_dim);
                if direction.len() != d {
                    return Err(Error::InvalidArgument(format!(
                        "the direction has {} values, the network's w has {d}",
                        direction.len()
                    )));
                }
                if let Some(bad) = layers
                    .as_ref()
                    .and_then(|ls| ls.iter().find(|&&l| l >= num_ws))
                {
                    return Err(Error::InvalidArgument(format!(
                        "layer {bad} is out of range: the network has {num_ws} ws"
                    )));
                }
                let mut mask = vec![0f32; num_ws * d];
                for l in 0..num_ws {
                    if layers.as_ref().is_none_or(|ls| ls.contains(&l)) {
                        for (j, v) in direction.iter().enumerate() {
                            mask[l * d + j] = v * strength as f32;
                        }
                    }
                }
                let n = latent.batch();
                let delta =
                    Tensor::<3>::from_data(TensorData::new(mask, [1, num_ws, d]), g.device())
                        .repeat_dim(0, n);
                if let Latent::S(styles) = latent {
                    // An S latent (e.g. a StyleSpace projection) has no w to move, but the
                    // affines are linear: the w step maps to the S step A·Δw per layer.
                    let zero = g.synthesis.styles(&delta.zeros_like())?;
                    let moved = g.synthesis.styles(&delta)?;
                    let step = s_flatten(&moved) - s_flatten(&zero);
                    return Ok(Latent::S(s_unflatten(s_flatten(&styles) + step, &styles)?));
                }
                Ok(Latent::WPlus(latent.wplus(g)? + delta))
            }
            EditKind::S { direction } => {
                let styles = latent.styles(g)?;
                let flat = s_flatten(&styles);
                let [n, d] = flat.dims();
                if direction.len() != d {
                    return Err(Error::InvalidArgument(format!(
                        "the direction has {} values, the network's StyleSpace has {d}",
                        direction.len()
                    )));
                }
                let v: Vec<f32> = direction.iter().map(|x| x * strength as f32).collect();
                let delta = Tensor::<2>::from_data(TensorData::new(v, [1, d]), &flat.device())
                    .repeat_dim(0, n);
                Ok(Latent::S(s_unflatten(flat + delta, &styles)?))
            }
            EditKind::SChannel { layer, channel } => {
                let mut styles = latent.styles(g)?;
                s_channel_add(&mut styles, *layer, *channel, strength)?;
                Ok(Latent::S(styles))
            }
        }
    }
}
