//! Single-image generation: the Shift operator moves patches of the features.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::models::{BlockStyles, Generator, NoiseMode};

/// A rectangular patch of a feature map: top-left corner and size, in feature pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    pub y: usize,
    pub x: usize,
    pub h: usize,
    pub w: usize,
}

/// The Shift operator: copy `src` of `x` `[N, C, H, W]` to the top-left corner `dst`.
pub fn shift_patch(x: Tensor<4>, src: Patch, dst: (usize, usize)) -> Result<Tensor<4>> {
    let [_, _, h, w] = x.dims();
    if src.y + src.h > h
        || src.x + src.w > w
        || dst.0 + src.h > h
        || dst.1 + src.w > w
        || src.h == 0
        || src.w == 0
    {
        return Err(Error::InvalidArgument(format!(
            "patch {src:?} → {dst:?} does not fit features of {h}x{w}"
        )));
    }
    let patch = x.clone().narrow(2, src.y, src.h).narrow(3, src.x, src.w);
    // Rebuild the rows: above, the patch rows (left | patch | right), below.
    let rows = x.clone().narrow(2, dst.0, src.h);
    let mut cols = Vec::new();
    if dst.1 > 0 {
        cols.push(rows.clone().narrow(3, 0, dst.1));
    }
    cols.push(patch);
    if dst.1 + src.w < w {
        cols.push(rows.narrow(3, dst.1 + src.w, w - dst.1 - src.w));
    }
    let mid = Tensor::cat(cols, 3);
    let mut parts = Vec::new();
    if dst.0 > 0 {
        parts.push(x.clone().narrow(2, 0, dst.0));
    }
    parts.push(mid);
    if dst.0 + src.h < h {
        parts.push(x.narrow(2, dst.0 + src.h, h - dst.0 - src.h));
    }
    Ok(Tensor::cat(parts, 2))
}

/// Single-image generation ("All Trades", SinGAN-like without training): after block `k`,
/// copy each patch to its destination in the features (and the skip image), then finish the
/// image. No shifts is the plain image.
pub fn single_image(
    g: &Generator,
    styles: &[BlockStyles],
    k: usize,
    shifts: &[(Patch, (usize, usize))],
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.num_blocks("single-image")?;
    if k >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {k} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    let mut f = g.synthesis.run_blocks(styles, 0..k + 1, None, noise)?;
    for &(p, d) in shifts {
        f.x = shift_patch(f.x, p, d)?;
        f.img = f.img.map(|i| shift_patch(i, p, d)).transpose()?;
    }
    let f = if k + 1 < n_blocks {
        g.synthesis
            .run_blocks(styles, k + 1..n_blocks, Some(f), noise)?
    } else {
        f
    };
    f.img
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}

/// `count` random shift sets for [`single_image`] at a block of size `h × w`: each moves one
/// patch of half the size to a random place (reproducible from `seed`).
pub fn random_shifts(
    h: usize,
    w: usize,
    count: usize,
    seed: u32,
) -> Vec<Vec<(Patch, (usize, usize))>> {
    let mut rng = crate::latent::RandomState::new(seed);
    let mut pick = |n: usize| ((rng.random_sample() * n as f64) as usize).min(n.saturating_sub(1));
    (0..count)
        .map(|_| {
            let (ph, pw) = ((h / 2).max(1), (w / 2).max(1));
            let p = Patch {
                y: pick(h - ph + 1),
                x: pick(w - pw + 1),
                h: ph,
                w: pw,
            };
            let d = (pick(h - ph + 1), pick(w - pw + 1));
            vec![(p, d)]
        })
        .collect()
}
