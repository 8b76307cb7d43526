//! "StyleGAN of All Trades" (Chong et al. 2021): operations on the intermediate features of a
//! pretrained generator, between synthesis blocks — spatial resizing / padding (wider or taller
//! images), and feature blending with a mask (image mixing).
//!
//! Everything goes through the synthesis network's block interface
//! ([`SynthesisNetwork::run_blocks`](crate::models::SynthesisNetwork::run_blocks)); no forward
//! pass is re-implemented here. Styles stay per block and independent of spatial size, since
//! the network is fully convolutional.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::models::{BlockStyles, Features, Generator, NoiseMode};

/// How features are extended to a larger size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extend {
    /// Mirror at the border, excluding the edge (`[3 2 | 1 2 3 4]`).
    Reflect,
    /// Repeat the edge value.
    Replicate,
    /// Wrap around (the features tile).
    Circular,
    /// Resize the features (bilinear), no padding.
    Stretch,
}

impl std::str::FromStr for Extend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "reflect" => Ok(Self::Reflect),
            "replicate" => Ok(Self::Replicate),
            "circular" => Ok(Self::Circular),
            "stretch" => Ok(Self::Stretch),
            o => Err(Error::InvalidArgument(format!(
                "unknown mode '{o}' (expected reflect, replicate, circular or stretch)"
            ))),
        }
    }
}

/// Pad one spatial axis (`axis` 2 = height, 3 = width) by `before`/`after`.
fn pad_axis(x: Tensor<4>, axis: usize, before: usize, after: usize, mode: Extend) -> Tensor<4> {
    if before == 0 && after == 0 {
        return x;
    }
    let n = x.dims()[axis];
    match mode {
        Extend::Circular => {
            // Wrap as many times as needed.
            let mut parts = Vec::new();
            let mut b = before;
            while b > 0 {
                let take = b.min(n);
                parts.push(x.clone().narrow(axis, n - take, take));
                b -= take;
            }
            parts.reverse();
            parts.push(x.clone());
            let mut a = after;
            while a > 0 {
                let take = a.min(n);
                parts.push(x.clone().narrow(axis, 0, take));
                a -= take;
            }
            Tensor::cat(parts, axis)
        }
        Extend::Reflect | Extend::Replicate => {
            let pm = if mode == Extend::Reflect {
                PadMode::Reflect
            } else {
                PadMode::Edge
            };
            // Reflect pads at most n − 1 at a time; repeat on the growing tensor.
            let (mut x, mut b, mut a) = (x, before, after);
            while b > 0 || a > 0 {
                let cur = x.dims()[axis];
                let lim = if mode == Extend::Reflect {
                    cur - 1
                } else {
                    usize::MAX
                };
                let (pb, pa) = (b.min(lim), a.min(lim));
                let pads = if axis == 3 {
                    vec![(0, 0), (pb, pa)]
                } else {
                    vec![(pb, pa), (0, 0)]
                };
                x = x.pad(pads, pm);
                b -= pb;
                a -= pa;
            }
            x
        }
        Extend::Stretch => unreachable!("handled by resize"),
    }
}

/// Extend `x` `[N, C, H, W]` to `[N, C, h, w]` (centred padding, or a resize for `Stretch`).
pub fn extend(x: Tensor<4>, h: usize, w: usize, mode: Extend) -> Result<Tensor<4>> {
    let [_, _, h0, w0] = x.dims();
    if mode == Extend::Stretch {
        if (h, w) == (h0, w0) {
            return Ok(x);
        }
        return Ok(interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
        ));
    }
    if h < h0 || w < w0 {
        return Err(Error::InvalidArgument(format!(
            "padding cannot shrink features from {h0}x{w0} to {h}x{w}; crop instead"
        )));
    }
    let (ph, pw) = (h - h0, w - w0);
    let x = pad_axis(x, 3, pw / 2, pw - pw / 2, mode);
    Ok(pad_axis(x, 2, ph / 2, ph - ph / 2, mode))
}

/// Run blocks `0..=layer`, extend the features (and the skip image) by the factors, continue
/// to the image. Factor 1 in both directions is the plain forward pass.
pub fn expand(
    g: &Generator,
    styles: &[BlockStyles],
    layer: usize,
    mode: Extend,
    width_factor: f64,
    height_factor: f64,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.sg2("expand")?.blocks.len();
    if layer >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {layer} is out of range: the network has blocks 0..{} (b4 … b{})",
            n_blocks - 1,
            g.config.img_resolution
        )));
    }
    if !(width_factor >= 1.0
        && height_factor >= 1.0
        && width_factor.is_finite()
        && height_factor.is_finite())
    {
        return Err(Error::InvalidArgument(format!(
            "factors must be finite and >= 1, got width {width_factor}, height {height_factor}"
        )));
    }
    let f = g.synthesis.run_blocks(styles, 0..layer + 1, None, noise)?;
    let [_, _, h0, w0] = f.x.dims();
    let (h, w) = (
        (h0 as f64 * height_factor).round() as usize,
        (w0 as f64 * width_factor).round() as usize,
    );
    let f = Features {
        x: extend(f.x, h, w, mode)?,
        img: f.img.map(|i| extend(i, h, w, mode)).transpose()?,
    };
    let f = if layer + 1 < n_blocks {
        g.synthesis
            .run_blocks(styles, layer + 1..n_blocks, Some(f), noise)?
    } else {
        f
    };
    f.img
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}

/// An image tensor `[1, C, H, W]` in [-1, 1] on its way to a file.
pub struct ImageTensor(pub Tensor<4>);

impl From<Tensor<4>> for ImageTensor {
    fn from(t: Tensor<4>) -> Self {
        Self(t)
    }
}

impl ImageTensor {
    pub fn to_image8(self) -> Result<crate::io::image::Image8> {
        let [n, c, h, w] = self.0.dims();
        if n != 1 {
            return Err(Error::InvalidArgument(format!(
                "expected one image, got {n}"
            )));
        }
        let v: Vec<f32> = self
            .0
            .into_data()
            .try_to_vec()
            .map_err(|e| Error::Config(format!("{e:?}")))?;
        Ok(crate::io::image::Image8::from_chw(&v, c, h, w))
    }
}

/// A blending mask α ∈ [0, 1]: 0 = all A, 1 = all B.
#[derive(Clone, Debug)]
pub enum Mask {
    /// α grows left to right.
    Horizontal,
    /// α grows top to bottom.
    Vertical,
    /// Any mask `[H, W]` (e.g. an image read as pixel/255), resized to each layer (bilinear).
    Image { h: usize, w: usize, alpha: Vec<f32> },
    /// The same α everywhere.
    Constant(f32),
}

impl Mask {
    /// A mask image read as α = grey value / 255 (black = all A, white = all B).
    pub fn from_image_file(path: &std::path::Path) -> Result<Self> {
        let img = image::open(path)
            .map_err(|e| Error::format(path, e.to_string()))?
            .to_luma8();
        let (w, h) = img.dimensions();
        Ok(Mask::Image {
            h: h as usize,
            w: w as usize,
            alpha: img.pixels().map(|p| p.0[0] as f32 / 255.0).collect(),
        })
    }

    /// α at size `h × w`, shaped `[1, 1, h, w]`.
    pub fn at(&self, h: usize, w: usize, device: &burn::tensor::Device) -> Tensor<4> {
        let ramp = |i: usize, n: usize| {
            if n > 1 {
                i as f32 / (n - 1) as f32
            } else {
                0.5
            }
        };
        let v: Vec<f32> = match self {
            Mask::Horizontal => (0..h * w).map(|k| ramp(k % w, w)).collect(),
            Mask::Vertical => (0..h * w).map(|k| ramp(k / w, h)).collect(),
            Mask::Constant(a) => vec![*a; h * w],
            Mask::Image {
                h: mh,
                w: mw,
                alpha,
            } => {
                let t = Tensor::<4>::from_data(
                    TensorData::new(alpha.clone(), [1, 1, *mh, *mw]),
                    device,
                );
                if (*mh, *mw) == (h, w) {
                    return t;
                }
                return interpolate(
                    t,
                    InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
                );
            }
        };
        Tensor::from_data(TensorData::new(v, [1, 1, h, w]), device)
    }
}

fn mix(a: Tensor<4>, b: Tensor<4>, alpha: &Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = a.dims();
    let al = alpha.clone().repeat_dim(1, c);
    a.clone() + (b - a) * al
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

/// Which way a panorama grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Left to right.
    Horizontal,
    /// Top to bottom.
    Vertical,
}

/// Panorama ("All Trades"): each source's features after block `k` are laid side by side
/// (or one above the other) with `overlap` (a fraction of one image's width or height)
/// cross-faded, then every later block runs with each source's styles and the outputs are mixed
/// with the same weights along the panorama. One source gives the plain image; n sources give a
/// length of `w + (n−1)·(w − overlap·w)`.
pub fn panorama(
    g: &Generator,
    styles: &[&[BlockStyles]],
    k: usize,
    overlap: f64,
    direction: Direction,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.sg2("panorama")?.blocks.len();
    if k >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {k} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    if !(0.0..1.0).contains(&overlap) {
        return Err(Error::InvalidArgument(format!(
            "overlap must be in [0, 1), got {overlap}"
        )));
    }
    if styles.is_empty() {
        return Err(Error::InvalidArgument(
            "a panorama needs at least one seed".into(),
        ));
    }
    let n = styles.len();
    let axis = match direction {
        Direction::Horizontal => 3,
        Direction::Vertical => 2,
    };
    let feats: Vec<Features> = styles
        .iter()
        .map(|s| g.synthesis.run_blocks(s, 0..k + 1, None, noise))
        .collect::<Result<_>>()?;
    let dims = feats[0].x.dims();
    // Along the panorama: one image's length, the overlap, the step and the whole length.
    let w = dims[axis];
    let o = ((overlap * w as f64).round() as usize).min(w - 1);
    let step = w - o;
    let width = w + (n - 1) * step;
    // Weights along the panorama at `cols` samples: a partition of unity with linear
    // cross-fades in the overlaps.
    let weights = |cols: usize| -> Vec<Vec<f32>> {
        let scale = cols as f64 / width as f64;
        let mut wts = vec![vec![0f32; cols]; n];
        for (c, col) in (0..cols).map(|c| (c, (c as f64 + 0.5) / scale - 0.5)) {
            let mut raw: Vec<f64> = (0..n)
                .map(|i| {
                    let (a, b) = ((i * step) as f64, (i * step + w) as f64 - 1.0);
                    if col < a - 0.5 || col > b + 0.5 {
                        return 0.0;
                    }
                    // ramp up over the overlap with the previous image, down over the next.
                    let up = if i > 0 && o > 0 {
                        ((col - a + 0.5) / o as f64).clamp(0.0, 1.0)
                    } else {
                        1.0
                    };
                    let down = if i + 1 < n && o > 0 {
                        ((b + 0.5 - col) / o as f64).clamp(0.0, 1.0)
                    } else {
                        1.0
                    };
                    up.min(down).max(1e-6)
                })
                .collect();
            let sum: f64 = raw.iter().sum();
            raw.iter_mut().for_each(|v| *v /= sum.max(1e-12));
            for i in 0..n {
                wts[i][c] = raw[i] as f32;
            }
        }
        wts
    };
    let device = g.device().clone();
    // Canvas at block k: each source's features placed at its offset, weighted.
    let place = |t: Tensor<4>, i: usize| -> Tensor<4> {
        let mut d = t.dims();
        let len = d[axis];
        let before = i * step * len / w;
        let after = width * len / w - before - len;
        let mut z = |size: usize| {
            d[axis] = size;
            Tensor::<4>::zeros(d, &device)
        };
        let mut parts = Vec::new();
        if before > 0 {
            parts.push(z(before));
        }
        parts.push(t);
        if after > 0 {
            parts.push(z(after));
        }
        Tensor::cat(parts, axis)
    };
    // Source i's weights on a rows × cols canvas.
    let mask_for = |i: usize, rows: usize, cols: usize| -> Mask {
        let alpha = match direction {
            Direction::Horizontal => {
                let wt = weights(cols);
                (0..rows).flat_map(|_| wt[i].clone()).collect()
            }
            Direction::Vertical => {
                let wt = weights(rows);
                (0..rows).flat_map(|r| vec![wt[i][r]; cols]).collect()
            }
        };
        Mask::Image {
            h: rows,
            w: cols,
            alpha,
        }
    };
    let mut canvas: Option<Features> = None;
    for (i, f) in feats.into_iter().enumerate() {
        let weigh = |t: Tensor<4>| {
            let placed = place(t, i);
            let [_, c, rows, cols] = placed.dims();
            placed
                * mask_for(i, rows, cols)
                    .at(rows, cols, &device)
                    .repeat_dim(1, c)
        };
        let (x, img) = (weigh(f.x), f.img.map(weigh));
        canvas = Some(match canvas {
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
    let canvas = canvas.expect("at least one source");
    let f = if k + 1 < n_blocks {
        // The weights at the final resolution; each block gets them resized (bilinear).
        let up = 1usize << (n_blocks - 1 - k);
        let [_, _, rows, cols] = canvas.x.dims();
        let masks: Vec<Mask> = (0..n).map(|i| mask_for(i, rows * up, cols * up)).collect();
        blend_many(g, styles, &masks, k + 1..n_blocks, Some(canvas), noise)?
    } else {
        canvas
    };
    f.img
        .ok_or_else(|| Error::Config("the last block made no image".into()))
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

impl Mask {
    /// α = 1 inside the box `[x0, x1) × [y0, y1)` given as fractions of the width / height.
    pub fn from_box(x0: f64, y0: f64, x1: f64, y1: f64) -> Result<Self> {
        if !(0.0 <= x0 && x0 < x1 && x1 <= 1.0 && 0.0 <= y0 && y0 < y1 && y1 <= 1.0) {
            return Err(Error::InvalidArgument(format!(
                "box ({x0}, {y0}) – ({x1}, {y1}) must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
            )));
        }
        // A 64×64 raster is resized to each block; fine enough for a region mask.
        let n = 64;
        let alpha = (0..n * n)
            .map(|k| {
                let (y, x) = ((k / n) as f64 + 0.5, (k % n) as f64 + 0.5);
                let inside = x >= x0 * n as f64
                    && x < x1 * n as f64
                    && y >= y0 * n as f64
                    && y < y1 * n as f64;
                f32::from(u8::from(inside))
            })
            .collect();
        Ok(Mask::Image { h: n, w: n, alpha })
    }
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
            "--align {align} exceeds the network's {num_ws} ws"
        )));
    }
    let aligned = crate::latent::mix(ws_ref, ws_src, &(0..align).collect::<Vec<_>>())?;
    let s_src = g.synthesis.styles(ws_src)?;
    let s_ref = g.synthesis.styles(&aligned)?;
    blend(g, &s_src, &s_ref, mask, layers, noise)
}

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
    let n_blocks = g.synthesis.sg2("single-image")?.blocks.len();
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

/// Image-to-image translation with aligned models ("All Trades"): a parent and a child
/// fine-tuned from it with frozen mapping and affines make corresponding images from the same
/// latent. Every block in `layers` (all by default) runs on the blended features so far through
/// the parent and through the child, and the outputs are mixed as `(1−α)·parent + α·child`:
/// a constant α translates continuously, a mask translates locally.
pub fn translate(
    parent: &Generator,
    child: &Generator,
    ws: &Tensor<3>,
    mask: &Mask,
    layers: Option<&[usize]>,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    if parent.config.img_resolution != child.config.img_resolution
        || parent.synthesis.sg2("translate")?.blocks.len()
            != child.synthesis.sg2("translate")?.blocks.len()
        || parent.num_ws() != child.num_ws()
        || parent.config.w_dim != child.config.w_dim
    {
        return Err(Error::InvalidArgument(
            "parent and child must have the same architecture (the child is fine-tuned from the parent)".into(),
        ));
    }
    let n_blocks = parent.synthesis.sg2("translate")?.blocks.len();
    if let Some(bad) = layers.and_then(|l| l.iter().find(|&&i| i >= n_blocks)) {
        return Err(Error::InvalidArgument(format!(
            "block {bad} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    let (sp, sc) = (parent.synthesis.styles(ws)?, child.synthesis.styles(ws)?);
    let device = parent.device().clone();
    let mut f: Option<Features> = None;
    for i in 0..n_blocks {
        let fp = parent
            .synthesis
            .run_blocks(&sp, i..i + 1, f.clone(), noise)?;
        f = Some(if layers.is_none_or(|l| l.contains(&i)) {
            let fc = child.synthesis.run_blocks(&sc, i..i + 1, f, noise)?;
            let [_, _, h, w] = fp.x.dims();
            let alpha = mask.at(h, w, &device);
            Features {
                x: mix(fp.x, fc.x, &alpha),
                img: match (fp.img, fc.img) {
                    (Some(a), Some(b)) => {
                        let [_, _, ih, iw] = a.dims();
                        Some(mix(a, b, &mask.at(ih, iw, &device)))
                    }
                    (a, _) => a,
                },
            }
        } else {
            fp
        });
    }
    f.and_then(|f| f.img)
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}
