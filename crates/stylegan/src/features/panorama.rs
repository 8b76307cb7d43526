//! Panoramas: several sources' features laid side by side and cross-faded.

use burn::tensor::{Tensor, TensorData};

use super::blend::{add_features, blend_many};
use super::mask::Mask;
use crate::error::{Error, Result};
use crate::models::{BlockStyles, Features, Generator, NoiseMode};

/// Which way a panorama grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Left to right.
    Horizontal,
    /// Top to bottom.
    Vertical,
}

/// The weights of `n` sources of length `w`, one every `w − o` pixels with overlaps `o`, at
/// position `col` of the panorama (pixels from its start): a partition of unity with linear
/// cross-fades in the overlaps. Positions beyond the ends take the end's weights.
fn partition(col: f64, n: usize, w: usize, o: usize) -> Vec<f64> {
    let step = w - o;
    let width = w + (n - 1) * step;
    let col = col.clamp(0.0, width as f64 - 1.0);
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
    raw
}

fn check_sources(count: usize, overlap: f64) -> Result<()> {
    if !(0.0..1.0).contains(&overlap) {
        return Err(Error::InvalidArgument(format!(
            "overlap must be in [0, 1), got {overlap}"
        )));
    }
    if count == 0 {
        return Err(Error::InvalidArgument(
            "a panorama needs at least one seed".into(),
        ));
    }
    Ok(())
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
    let n_blocks = g.synthesis.num_blocks("panorama")?;
    if k >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {k} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    check_sources(styles.len(), overlap)?;
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
        for c in 0..cols {
            let raw = partition((c as f64 + 0.5) / scale - 0.5, n, w, o);
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
        canvas = Some(add_features(canvas, weigh(f.x), f.img.map(weigh)));
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

/// A StyleGAN3 panorama on the Fourier input (no block to choose): one canvas as wide as the
/// panorama, where source `i` sees the Fourier-feature plane translated so that its own image
/// is centred at its place along the panorama. The input and every layer run with each source's
/// ws on the blended features so far, and the outputs are mixed with the panorama's weights at
/// that layer's sampling rate (a partition of unity with cross-fades in the overlaps). Since
/// StyleGAN3 is equivariant to translation, each source is its own image near its centre; one
/// source gives the plain image. `ws[i]` is `[1, num_ws, w_dim]`.
pub fn panorama_stylegan3(
    g: &Generator,
    ws: &[Tensor<3>],
    overlap: f64,
    direction: Direction,
) -> Result<Tensor<4>> {
    let s3 = g.synthesis.sg3("a Fourier-input panorama")?;
    check_sources(ws.len(), overlap)?;
    for w in ws {
        s3.check_ws(w)?;
        if w.dims()[0] != 1 {
            return Err(Error::InvalidArgument(format!(
                "each panorama source is one latent, got a batch of {}",
                w.dims()[0]
            )));
        }
    }
    let n = ws.len();
    let res = g.config.img_resolution;
    let o = ((overlap * res as f64).round() as usize).min(res - 1);
    let step = res - o;
    let width = res + (n - 1) * step;
    // Input samples added on each side so that the output covers the panorama.
    let px_per_sample = res as f64 / s3.input.design.sampling_rate;
    let extra = ((width - res) as f64 / 2.0 / px_per_sample).ceil() as usize;
    let size = s3.input.design.size;
    let axis = match direction {
        Direction::Horizontal => 3,
        Direction::Vertical => 2,
    };
    let grid = match direction {
        Direction::Horizontal => [size, size + 2 * extra],
        Direction::Vertical => [size + 2 * extra, size],
    };
    let device = g.device().clone();
    // Source i's centre, in image widths from the canvas centre.
    let centre = |i: usize| (i as f64 * step as f64 - (width - res) as f64 / 2.0) / res as f64;
    // Source i's weights on features of `len` samples at `rate` along the axis (centred).
    let mask = |i: usize, dims: [usize; 4], rate: f64| -> Tensor<4> {
        let len = dims[axis];
        let wt: Vec<f32> = (0..len)
            .map(|c| {
                // Image widths from the canvas centre → pixels from the panorama's start.
                let x = super::mask::sample_position(c, len, rate);
                let col = x * res as f64 + width as f64 / 2.0 - 0.5;
                partition(col, n, res, o)[i] as f32
            })
            .collect();
        let shape = match direction {
            Direction::Horizontal => [1, 1, 1, len],
            Direction::Vertical => [1, 1, len, 1],
        };
        Tensor::<4>::from_data(TensorData::new(wt, shape), &device)
    };
    let mix = |outs: Vec<Tensor<4>>, rate: f64| -> Tensor<4> {
        let mut acc: Option<Tensor<4>> = None;
        for (i, t) in outs.into_iter().enumerate() {
            let m = mask(i, t.dims(), rate);
            let weighed = t * m;
            acc = Some(match acc {
                None => weighed,
                Some(a) => a + weighed,
            });
        }
        acc.expect("at least one source")
    };
    let [_, _, d] = ws[0].dims();
    let w_at = |i: usize, k: usize| ws[i].clone().narrow(1, k, 1).reshape([1, d]);
    let inputs: Vec<Tensor<4>> = (0..n)
        .map(|i| {
            let c = centre(i);
            let at = match direction {
                Direction::Horizontal => [c, 0.0],
                Direction::Vertical => [0.0, c],
            };
            // The plane is sampled at `centre + offset`: source i's image at offset `centre`.
            s3.input.forward_view(w_at(i, 0), grid, at.map(|v| -v))
        })
        .collect();
    let mut x = mix(inputs, s3.input.design.sampling_rate);
    for (k, layer) in s3.layers.iter().enumerate() {
        let outs: Vec<Tensor<4>> = (0..n)
            .map(|i| layer.forward(x.clone(), w_at(i, k + 1)))
            .collect();
        x = mix(outs, layer.design.out_sampling_rate as f64);
    }
    // Crop the canvas to the panorama's length (centred).
    let len = x.dims()[axis];
    let cut = len.saturating_sub(width) / 2;
    let x = x.narrow(axis, cut, width.min(len));
    Ok(s3.scale_output(x))
}
