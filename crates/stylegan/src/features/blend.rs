//! Feature blending of two (or n) sources block by block, and attribute transfer.

use burn::tensor::{Tensor, TensorData};

use super::mask::{mix, Mask};
use crate::error::{Error, Result};
use crate::models::{BlockStyles, Features, Generator, NoiseMode};

/// `acc + (x, img)`: features (and skip images) of several sources summed block by block.
pub(crate) fn add_features(
    acc: Option<Features>,
    x: Tensor<4>,
    img: Option<Tensor<4>>,
) -> Features {
    match acc {
        None => Features { x, img },
        Some(a) => Features {
            x: a.x + x,
            img: match (a.img, img) {
                (Some(p), Some(q)) => Some(p + q),
                (p, q) => p.or(q),
            },
        },
    }
}

/// Blocks `range` run on the features so far with each source's styles, and the outputs mixed
/// with per-source weights (`masks[i]` at each block's resolution, expected to sum to 1).
/// The general form of [`blend`] and [`panorama`].
pub fn blend_many(
    g: &Generator,
    styles: &[&[BlockStyles]],
    masks: &[Mask],
    range: std::ops::Range<usize>,
    input: Option<Features>,
    noise: NoiseMode,
) -> Result<Features> {
    if styles.is_empty() || styles.len() != masks.len() {
        return Err(Error::InvalidArgument(format!(
            "{} style sets for {} masks",
            styles.len(),
            masks.len()
        )));
    }
    let device = g.device().clone();
    let mut f = input;
    for i in range {
        let mut acc: Option<Features> = None;
        for (s, m) in styles.iter().zip(masks) {
            let out = g.synthesis.run_blocks(s, i..i + 1, f.clone(), noise)?;
            let weigh = |t: Tensor<4>| {
                let [_, c, h, w] = t.dims();
                t * m.at(h, w, &device).repeat_dim(1, c)
            };
            acc = Some(add_features(acc, weigh(out.x), out.img.map(weigh)));
        }
        f = acc;
    }
    f.ok_or_else(|| Error::InvalidArgument("empty block range".into()))
}

/// Feature blending: every block in `layers` runs on the blended features so far with A's and
/// with B's styles, and its outputs (features and skip image) are mixed as `(1−α)·A + α·B` with
/// the mask at that block's resolution; blocks not in `layers` run with A's styles.
/// α = 0 everywhere gives A's image and α = 1 (with all layers) gives B's.
pub fn blend(
    g: &Generator,
    styles_a: &[BlockStyles],
    styles_b: &[BlockStyles],
    mask: &Mask,
    layers: Option<&[usize]>,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.num_blocks("blend")?;
    if let Some(bad) = layers.and_then(|l| l.iter().find(|&&i| i >= n_blocks)) {
        return Err(Error::InvalidArgument(format!(
            "block {bad} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    let (ba, bb) = (styles_a[0].conv1.dims()[0], styles_b[0].conv1.dims()[0]);
    if ba != bb {
        return Err(Error::InvalidArgument(format!(
            "A has {ba} latents, B has {bb}"
        )));
    }
    let device = g.device().clone();
    let mut f: Option<Features> = None;
    for i in 0..n_blocks {
        let fa = g
            .synthesis
            .run_blocks(styles_a, i..i + 1, f.clone(), noise)?;
        let blended = layers.is_none_or(|l| l.contains(&i));
        f = Some(if blended {
            let fb = g.synthesis.run_blocks(styles_b, i..i + 1, f, noise)?;
            let [_, _, h, w] = fa.x.dims();
            let alpha = mask.at(h, w, &device);
            Features {
                x: mix(fa.x, fb.x, &alpha),
                img: match (fa.img, fb.img) {
                    (Some(a), Some(b)) => {
                        let [_, _, ih, iw] = a.dims();
                        let al = if (ih, iw) == (h, w) {
                            alpha
                        } else {
                            mask.at(ih, iw, &device)
                        };
                        Some(mix(a, b, &al))
                    }
                    (a, _) => a,
                },
            }
        } else {
            fa
        });
    }
    f.and_then(|f| f.img)
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}

/// Attribute transfer ("All Trades"): the region of the reference selected by `mask` (α = 1) is
/// blended into the source, after pose alignment — the reference's first `align` ws are replaced
/// by the source's (the coarse layers that set pose; 4 for 512-dim w is the paper's 2048 dims).
pub fn transfer(
    g: &Generator,
    ws_src: &Tensor<3>,
    ws_ref: &Tensor<3>,
    mask: &Mask,
    align: usize,
    layers: Option<&[usize]>,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let num_ws = g.num_ws();
    if align > num_ws {
        return Err(Error::InvalidArgument(format!(
            "align {align} exceeds the network's {num_ws} ws"
        )));
    }
    let aligned = crate::latent::mix(ws_ref, ws_src, &(0..align).collect::<Vec<_>>())?;
    if g.family() == crate::models::Family::StyleGan3 {
        return blend_stylegan3(g, ws_src, &aligned, mask, layers);
    }
    let s_src = g.synthesis.styles(ws_src)?;
    let s_ref = g.synthesis.styles(&aligned)?;
    blend(g, &s_src, &s_ref, mask, layers, noise)
}

/// `mask`'s α on features `[N, C, H, W]` sampled at `rate` per image width (StyleGAN3 layers
/// carry margins beyond the image: their samples take the α of the nearest image edge).
/// Bilinear in the mask drawn at `res × res`.
pub(crate) fn mask_on_plane(
    mask: &Mask,
    dims: [usize; 4],
    rate: f64,
    res: usize,
    device: &burn::tensor::Device,
) -> Result<Tensor<4>> {
    let alpha = crate::backend::to_vec(&mask.at(res, res, device))?;
    let [_, _, h, w] = dims;
    let pixel = |c: usize, len: usize| -> f64 {
        let x = super::mask::sample_position(c, len, rate);
        ((x + 0.5) * res as f64 - 0.5).clamp(0.0, res as f64 - 1.0)
    };
    let at = |r: usize, c: usize| alpha[r * res + c] as f64;
    let mut v = Vec::with_capacity(h * w);
    for r in 0..h {
        let y = pixel(r, h);
        let (y0, fy) = (y.floor() as usize, y - y.floor());
        let y1 = (y0 + 1).min(res - 1);
        for c in 0..w {
            let x = pixel(c, w);
            let (x0, fx) = (x.floor() as usize, x - x.floor());
            let x1 = (x0 + 1).min(res - 1);
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            v.push((top * (1.0 - fy) + bottom * fy) as f32);
        }
    }
    Ok(Tensor::from_data(TensorData::new(v, [1, 1, h, w]), device))
}

/// Feature blending for StyleGAN3: the input and every layer in `layers` (indices into
/// [`layer_names`](crate::models::stylegan3::SynthesisNetwork::layer_names): 0 = `input`,
/// 1 = the first layer, …; all by default) run on the blended features so far with A's and
/// with B's ws, and the outputs are mixed as `(1−α)·A + α·B` with the mask at that layer's
/// sampling rate, margins included; other layers run with A's ws. α = 0 gives A's image, α = 1
/// with all layers B's. `ws_*` are `[N, num_ws, w_dim]`.
pub fn blend_stylegan3(
    g: &Generator,
    ws_a: &Tensor<3>,
    ws_b: &Tensor<3>,
    mask: &Mask,
    layers: Option<&[usize]>,
) -> Result<Tensor<4>> {
    mix_layers_stylegan3((g, ws_a), (g, ws_b), mask, layers, "StyleGAN3 blending")
}

/// The layer-by-layer mix of two StyleGAN3 passes, `a = (network, ws)` and `b` (one network
/// with two latents for blending, a parent and its child with one latent for translation).
pub(crate) fn mix_layers_stylegan3(
    (ga, ws_a): (&Generator, &Tensor<3>),
    (gb, ws_b): (&Generator, &Tensor<3>),
    mask: &Mask,
    layers: Option<&[usize]>,
    what: &str,
) -> Result<Tensor<4>> {
    let sa = ga.synthesis.sg3(what)?;
    let sb = gb.synthesis.sg3(what)?;
    sa.check_ws(ws_a)?;
    sb.check_ws(ws_b)?;
    let count = sa.layers.len() + 1;
    if let Some(bad) = layers.and_then(|l| l.iter().find(|&&i| i >= count)) {
        return Err(Error::InvalidArgument(format!(
            "layer {bad} is out of range 0..{} (0 = input, then {} … {})",
            count - 1,
            sa.layers[0].design.name,
            sa.layers[count - 2].design.name
        )));
    }
    let (na, nb) = (ws_a.dims()[0], ws_b.dims()[0]);
    if na != nb {
        return Err(Error::InvalidArgument(format!(
            "A has {na} latents, B has {nb}"
        )));
    }
    let res = ga.config.img_resolution;
    let device = ga.device().clone();
    let [_, _, d] = ws_a.dims();
    let w = |ws: &Tensor<3>, k: usize| ws.clone().narrow(1, k, 1).reshape([na, d]);
    let blended = |i: usize| layers.is_none_or(|l| l.contains(&i));
    let mix_at = |a: Tensor<4>, b: Tensor<4>, rate: f64| -> Result<Tensor<4>> {
        let alpha = mask_on_plane(mask, a.dims(), rate, res, &device)?;
        Ok(mix(a, b, &alpha))
    };
    let rate = sa.input.design.sampling_rate;
    let mut x = sa.input.forward(w(ws_a, 0));
    if blended(0) {
        x = mix_at(x, sb.input.forward(w(ws_b, 0)), rate)?;
    }
    for (k, (la, lb)) in sa.layers.iter().zip(&sb.layers).enumerate() {
        let a = la.forward(x.clone(), w(ws_a, k + 1));
        x = if blended(k + 1) {
            let b = lb.forward(x, w(ws_b, k + 1));
            mix_at(a, b, la.design.out_sampling_rate as f64)?
        } else {
            a
        };
    }
    Ok(sa.scale_output(x))
}
