//! Feature blending of two (or n) sources block by block, and attribute transfer.

use burn::tensor::Tensor;

use super::mask::{mix, Mask};
use crate::error::{Error, Result};
use crate::models::{BlockStyles, Features, Generator, NoiseMode};

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
            let (x, img) = (weigh(out.x), out.img.map(weigh));
            acc = Some(match acc {
                None => Features { x, img },
                Some(a) => Features {
                    x: a.x + x,
                    img: match (a.img, img) {
                        (Some(p), Some(q)) => Some(p + q),
                        (p, q) => p.or(q),
                    },
                },
            });
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
    let n_blocks = g.synthesis.sg2("blend")?.blocks.len();
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
    let s_src = g.synthesis.styles(ws_src)?;
    let s_ref = g.synthesis.styles(&aligned)?;
    blend(g, &s_src, &s_ref, mask, layers, noise)
}
