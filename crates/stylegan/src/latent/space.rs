//! One value type over the latent spaces: z, w, W+ (`ws`, one w per layer) and StyleSpace S
//! (every layer's style vector after its affine). Conversions go one way, z → w → W+ → S, and
//! an image can be made from any of them. Truncation and edits are operations on these values,
//! not special cases inside the generator.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::models::{BlockStyles, Generator, NoiseMode};

/// The latent spaces, in conversion order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    Z,
    W,
    WPlus,
    S,
}

impl std::str::FromStr for Space {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "z" => Ok(Self::Z),
            "w" => Ok(Self::W),
            "wplus" | "w+" => Ok(Self::WPlus),
            "s" => Ok(Self::S),
            o => Err(Error::InvalidArgument(format!(
                "unknown latent space '{o}' (expected z, w, wplus or s)"
            ))),
        }
    }
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Self::Z => "z",
            Self::W => "w",
            Self::WPlus => "wplus",
            Self::S => "s",
        }
    }
}

/// A batch of latents in one space.
#[derive(Clone, Debug)]
pub enum Latent {
    /// `[N, z_dim]` with the class labels the mapping needs (conditional networks).
    Z { z: Tensor<2>, c: Option<Tensor<2>> },
    /// `[N, w_dim]`.
    W(Tensor<2>),
    /// `[N, num_ws, w_dim]`.
    WPlus(Tensor<3>),
    /// Per block, per layer `[N, channels]`.
    S(Vec<BlockStyles>),
}

/// One StyleSpace layer: (block index, which layer) in synthesis order — per block conv0,
/// conv1, torgb, skipping those the block does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StyleSlot {
    Conv0,
    Conv1,
    ToRgb,
}

/// The StyleSpace layers of `styles` in order, with their sizes.
pub fn s_layers(styles: &[BlockStyles]) -> Vec<(usize, StyleSlot, usize)> {
    let mut out = Vec::new();
    for (b, s) in styles.iter().enumerate() {
        if let Some(t) = &s.conv0 {
            out.push((b, StyleSlot::Conv0, t.dims()[1]));
        }
        out.push((b, StyleSlot::Conv1, s.conv1.dims()[1]));
        if let Some(t) = &s.torgb {
            out.push((b, StyleSlot::ToRgb, t.dims()[1]));
        }
    }
    out
}

fn slot(styles: &mut [BlockStyles], b: usize, s: StyleSlot) -> &mut Tensor<2> {
    match s {
        StyleSlot::Conv0 => styles[b].conv0.as_mut().expect("listed by s_layers"),
        StyleSlot::Conv1 => &mut styles[b].conv1,
        StyleSlot::ToRgb => styles[b].torgb.as_mut().expect("listed by s_layers"),
    }
}

/// All styles flattened to `[N, dim_S]` (layers in [`s_layers`] order).
pub fn s_flatten(styles: &[BlockStyles]) -> Tensor<2> {
    let mut parts = Vec::new();
    for s in styles {
        parts.extend(s.conv0.iter().cloned());
        parts.push(s.conv1.clone());
        parts.extend(s.torgb.iter().cloned());
    }
    Tensor::cat(parts, 1)
}

/// Inverse of [`s_flatten`], shaped like `like`.
pub fn s_unflatten(flat: Tensor<2>, like: &[BlockStyles]) -> Result<Vec<BlockStyles>> {
    let total: usize = s_layers(like).iter().map(|l| l.2).sum();
    let [_, d] = flat.dims();
    if d != total {
        return Err(Error::InvalidArgument(format!(
            "StyleSpace vector has {d} values, the network's S has {total}"
        )));
    }
    let mut out = like.to_vec();
    let mut at = 0;
    for (b, s, n) in s_layers(like) {
        *slot(&mut out, b, s) = flat.clone().narrow(1, at, n);
        at += n;
    }
    Ok(out)
}

/// Add `delta` to channel `channel` of StyleSpace layer `layer` (index into [`s_layers`]).
pub fn s_channel_add(
    styles: &mut [BlockStyles],
    layer: usize,
    channel: usize,
    delta: f64,
) -> Result<()> {
    let layers = s_layers(styles);
    let &(b, s, n) = layers.get(layer).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "StyleSpace layer {layer} is out of range 0..{}",
            layers.len() - 1
        ))
    })?;
    if channel >= n {
        return Err(Error::InvalidArgument(format!(
            "StyleSpace layer {layer} has {n} channels, channel {channel} is out of range"
        )));
    }
    let t = slot(styles, b, s);
    let [batch, _] = t.dims();
    let mut v = vec![0f32; n];
    v[channel] = delta as f32;
    let d = Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [n]), &t.device())
        .reshape([1, n])
        .repeat_dim(0, batch);
    *t = t.clone() + d;
    Ok(())
}

impl Latent {
    /// z of `seeds` (numpy-exact) with the one-hot `class` for conditional networks.
    pub fn from_seeds(g: &Generator, seeds: &[u32], class: Option<usize>) -> Result<Self> {
        let zs: Vec<Vec<f64>> = seeds
            .iter()
            .map(|&s| super::z_from_seed(s, g.config.z_dim))
            .collect();
        Ok(Self::Z {
            z: g.z_tensor(&zs)?,
            c: g.label(class, seeds.len())?,
        })
    }

    pub fn space(&self) -> Space {
        match self {
            Self::Z { .. } => Space::Z,
            Self::W(_) => Space::W,
            Self::WPlus(_) => Space::WPlus,
            Self::S(_) => Space::S,
        }
    }

    pub fn batch(&self) -> usize {
        match self {
            Self::Z { z, .. } => z.dims()[0],
            Self::W(w) => w.dims()[0],
            Self::WPlus(ws) => ws.dims()[0],
            Self::S(s) => s.first().map_or(0, |b| b.conv1.dims()[0]),
        }
    }

    /// Convert to `space` (only toward S: z → w → W+ → S).
    pub fn to_space(self, g: &Generator, space: Space) -> Result<Self> {
        let from = self.space();
        if space < from {
            return Err(Error::InvalidArgument(format!(
                "cannot convert a {} latent back to {} (conversions go z → w → wplus → s)",
                from.name(),
                space.name()
            )));
        }
        let mut l = self;
        while l.space() < space {
            l = match l {
                Self::Z { z, c } => Self::W(g.map(z, c)?),
                Self::W(w) => Self::WPlus(super::broadcast(w, g.num_ws())),
                Self::WPlus(ws) => Self::S(g.synthesis.styles(&ws)?),
                Self::S(_) => unreachable!("S is last"),
            };
        }
        Ok(l)
    }

    pub fn wplus(self, g: &Generator) -> Result<Tensor<3>> {
        match self.to_space(g, Space::WPlus)? {
            Self::WPlus(ws) => Ok(ws),
            _ => unreachable!(),
        }
    }

    pub fn styles(self, g: &Generator) -> Result<Vec<BlockStyles>> {
        match self.to_space(g, Space::S)? {
            Self::S(s) => Ok(s),
            _ => unreachable!(),
        }
    }

    /// Truncation toward `w_avg` (ψ, optional cutoff) — a W+ operation: z and w are mapped and
    /// broadcast first; S latents cannot be truncated.
    pub fn truncate(self, g: &Generator, psi: f64, cutoff: Option<usize>) -> Result<Self> {
        if psi == 1.0 {
            return Ok(self);
        }
        if self.space() == Space::S {
            return Err(Error::InvalidArgument(
                "truncation acts on w / wplus, not on StyleSpace latents".into(),
            ));
        }
        Ok(Self::WPlus(g.truncate(self.wplus(g)?, psi, cutoff)?))
    }

    /// The images `[N, C, R, R]` in nominal [-1, 1].
    pub fn generate(self, g: &Generator, noise: NoiseMode) -> Result<Tensor<4>> {
        match self {
            Self::S(styles) => g.synthesis.forward_styles(&styles, noise),
            other => g.synthesis.forward(&other.wplus(g)?, noise),
        }
    }
}

impl Latent {
    /// w rows on the host (z and w latents).
    pub fn w_rows(self, g: &Generator) -> Result<Vec<Vec<f64>>> {
        let w = match self.to_space(g, Space::W)? {
            Self::W(w) => w,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "a {} latent has no single w per image",
                    other.space().name()
                )))
            }
        };
        let d = w.dims()[1];
        let v = crate::backend::to_vec(&w)?;
        Ok(v.chunks(d)
            .map(|r| r.iter().map(|&x| x as f64).collect())
            .collect())
    }

    /// A w latent from host rows.
    pub fn from_w_rows(g: &Generator, rows: &[Vec<f64>]) -> Result<Self> {
        let d = g.config.w_dim;
        if rows.iter().any(|r| r.len() != d) {
            return Err(Error::InvalidArgument(format!(
                "w rows must have {d} values"
            )));
        }
        let v: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
        Ok(Self::W(Tensor::from_data(
            burn::tensor::TensorData::new(v, [rows.len(), d]),
            g.device(),
        )))
    }
}
