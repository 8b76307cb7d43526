//! StyleGAN3's layer design: cutoffs, stopbands, sampling rates, sizes, channel counts, the
//! up/down factors and paddings of each layer, and its low-pass filters — everything
//! `SynthesisNetwork.__init__` / `SynthesisLayer.__init__` derive from the constructor arguments
//! (FORMATS.md §5.3), in float64 as numpy computes it.
//!
//! The filters are `scipy.signal.firwin` (a Kaiser-windowed sinc, normalised to unit DC gain)
//! and, for StyleGAN3-R, the radially symmetric jinc × Kaiser filter. Hand-written: no crate
//! offers scipy's `firwin` with its exact Kaiser-β rule, and the result must equal the buffers
//! stored in official checkpoints.

use std::f64::consts::PI;

use super::config::Sg3Config;

/// The design of one synthesis layer `L{idx}_{out_size}_{out_channels}`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerDesign {
    pub name: String,
    pub is_torgb: bool,
    pub is_critically_sampled: bool,
    pub in_channels: usize,
    pub out_channels: usize,
    pub in_size: usize,
    pub out_size: usize,
    pub in_sampling_rate: usize,
    pub out_sampling_rate: usize,
    pub tmp_sampling_rate: usize,
    pub in_cutoff: f64,
    pub out_cutoff: f64,
    pub in_half_width: f64,
    pub out_half_width: f64,
    pub conv_kernel: usize,
    pub up_factor: usize,
    pub down_factor: usize,
    pub up_taps: usize,
    pub down_taps: usize,
    pub down_radial: bool,
    /// `[x0, x1, y0, y1]`.
    pub padding: [i64; 4],
}

impl LayerDesign {
    /// The `up_filter` buffer (None for one tap).
    pub fn up_filter(&self) -> Option<Vec<f32>> {
        lowpass(
            self.up_taps,
            self.in_cutoff,
            self.in_half_width * 2.0,
            self.tmp_sampling_rate as f64,
            false,
        )
    }

    /// The `down_filter` buffer (None for one tap; `[taps, taps]` row-major when radial).
    pub fn down_filter(&self) -> Option<Vec<f32>> {
        lowpass(
            self.down_taps,
            self.out_cutoff,
            self.out_half_width * 2.0,
            self.tmp_sampling_rate as f64,
            self.down_radial,
        )
    }
}

/// The input layer's design (`SynthesisInput(channels, size, sampling_rate, bandwidth)`).
#[derive(Clone, Debug, PartialEq)]
pub struct InputDesign {
    pub channels: usize,
    pub size: usize,
    pub sampling_rate: f64,
    pub bandwidth: f64,
}

/// The whole network's design.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    pub input: InputDesign,
    pub layers: Vec<LayerDesign>,
}

impl Design {
    pub fn new(cfg: &Sg3Config, img_resolution: usize, img_channels: usize) -> Self {
        let n = cfg.num_layers;
        let r = img_resolution as f64;
        let last_cutoff = r / 2.0;
        let last_stopband = last_cutoff * cfg.last_stopband_rel;
        let exps: Vec<f64> = (0..=n)
            .map(|i| (i as f64 / (n - cfg.num_critical) as f64).min(1.0))
            .collect();
        let cutoffs: Vec<f64> = exps
            .iter()
            .map(|e| cfg.first_cutoff * (last_cutoff / cfg.first_cutoff).powf(*e))
            .collect();
        let stopbands: Vec<f64> = exps
            .iter()
            .map(|e| cfg.first_stopband * (last_stopband / cfg.first_stopband).powf(*e))
            .collect();
        let rates: Vec<f64> = stopbands
            .iter()
            .map(|s| (s * 2.0).min(r).log2().ceil().exp2())
            .collect();
        let half_widths: Vec<f64> = (0..=n)
            .map(|i| stopbands[i].max(rates[i] / 2.0) - cutoffs[i])
            .collect();
        let mut sizes: Vec<f64> = rates
            .iter()
            .map(|s| s + cfg.margin_size as f64 * 2.0)
            .collect();
        sizes[n - 1] = r;
        sizes[n] = r;
        let mut channels: Vec<usize> = cutoffs
            .iter()
            .map(|c| {
                ((cfg.channel_base as f64 / 2.0) / c)
                    .min(cfg.channel_max as f64)
                    .round_ties_even() as usize
            })
            .collect();
        channels[n] = img_channels;
        let input = InputDesign {
            channels: channels[0],
            size: sizes[0] as usize,
            sampling_rate: rates[0],
            bandwidth: cutoffs[0],
        };
        let layers = (0..=n)
            .map(|idx| {
                let prev = idx.saturating_sub(1);
                let is_torgb = idx == n;
                let is_critically_sampled = idx >= n - cfg.num_critical;
                let (in_sr, out_sr) = (rates[prev] as usize, rates[idx] as usize);
                let tmp = in_sr.max(out_sr) * if is_torgb { 1 } else { cfg.lrelu_upsampling };
                let up = (tmp as f64 / in_sr as f64).round_ties_even() as usize;
                let down = (tmp as f64 / out_sr as f64).round_ties_even() as usize;
                let taps = |f: usize| {
                    if f > 1 && !is_torgb {
                        cfg.filter_size * f
                    } else {
                        1
                    }
                };
                let (up_taps, down_taps) = (taps(up), taps(down));
                let k = if is_torgb { 1 } else { cfg.conv_kernel };
                let (in_size, out_size) = (sizes[prev] as i64, sizes[idx] as i64);
                let pad_total = (out_size - 1) * down as i64 + 1
                    - (in_size + k as i64 - 1) * up as i64
                    + up_taps as i64
                    + down_taps as i64
                    - 2;
                let pad_lo = (pad_total + up as i64).div_euclid(2);
                let pad_hi = pad_total - pad_lo;
                LayerDesign {
                    name: format!("L{idx}_{out_size}_{}", channels[idx]),
                    is_torgb,
                    is_critically_sampled,
                    in_channels: channels[prev],
                    out_channels: channels[idx],
                    in_size: in_size as usize,
                    out_size: out_size as usize,
                    in_sampling_rate: in_sr,
                    out_sampling_rate: out_sr,
                    tmp_sampling_rate: tmp,
                    in_cutoff: cutoffs[prev],
                    out_cutoff: cutoffs[idx],
                    in_half_width: half_widths[prev],
                    out_half_width: half_widths[idx],
                    conv_kernel: k,
                    up_factor: up,
                    down_factor: down,
                    up_taps,
                    down_taps,
                    down_radial: cfg.use_radial_filters && !is_critically_sampled,
                    padding: [pad_lo, pad_hi, pad_lo, pad_hi],
                }
            })
            .collect();
        Self { input, layers }
    }
}

/// `SynthesisLayer.design_lowpass_filter(numtaps, cutoff, width, fs, radial)`.
pub fn lowpass(numtaps: usize, cutoff: f64, width: f64, fs: f64, radial: bool) -> Option<Vec<f32>> {
    if numtaps <= 1 {
        return None;
    }
    let f = if radial {
        radial_lowpass(numtaps, cutoff, width, fs)
    } else {
        firwin(numtaps, cutoff, width, fs)
    };
    Some(f.into_iter().map(|v| v as f32).collect())
}

/// `scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)`: a low-pass Kaiser-windowed sinc
/// scaled to unit gain at DC.
pub fn firwin(numtaps: usize, cutoff: f64, width: f64, fs: f64) -> Vec<f64> {
    let nyq = fs / 2.0;
    let beta = kaiser_beta(kaiser_atten(numtaps, width / nyq));
    let c = cutoff / nyq;
    let alpha = 0.5 * (numtaps as f64 - 1.0);
    let win = kaiser(numtaps, beta);
    let h: Vec<f64> = (0..numtaps)
        .map(|i| c * sinc(c * (i as f64 - alpha)) * win[i])
        .collect();
    let s: f64 = h.iter().sum();
    h.into_iter().map(|v| v / s).collect()
}

/// The radially symmetric jinc-based filter of StyleGAN3-R, `[numtaps, numtaps]` row-major.
pub fn radial_lowpass(numtaps: usize, cutoff: f64, width: f64, fs: f64) -> Vec<f64> {
    let x: Vec<f64> = (0..numtaps)
        .map(|i| (i as f64 - (numtaps as f64 - 1.0) / 2.0) / fs)
        .collect();
    let beta = kaiser_beta(kaiser_atten(numtaps, width / (fs / 2.0)));
    let w = kaiser(numtaps, beta);
    let mut f = Vec::with_capacity(numtaps * numtaps);
    for (i, yi) in x.iter().enumerate() {
        for (j, xj) in x.iter().enumerate() {
            let r = xj.hypot(*yi);
            f.push(bessel_j1(2.0 * cutoff * (PI * r)) / (PI * r) * w[i] * w[j]);
        }
    }
    let s: f64 = f.iter().sum();
    f.into_iter().map(|v| v / s).collect()
}

/// `numpy.sinc`: `sin(πx) / (πx)`, 1 at 0.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// `scipy.signal.kaiser_atten(numtaps, width)` (width as a fraction of Nyquist).
fn kaiser_atten(numtaps: usize, width: f64) -> f64 {
    2.285 * (numtaps as f64 - 1.0) * PI * width + 7.95
}

/// `scipy.signal.kaiser_beta(a)`.
fn kaiser_beta(a: f64) -> f64 {
    if a > 50.0 {
        0.1102 * (a - 8.7)
    } else if a > 21.0 {
        0.5842 * (a - 21.0).powf(0.4) + 0.07886 * (a - 21.0)
    } else {
        0.0
    }
}

/// `numpy.kaiser(m, beta)` (the symmetric window).
fn kaiser(m: usize, beta: f64) -> Vec<f64> {
    if m == 1 {
        return vec![1.0];
    }
    let alpha = (m as f64 - 1.0) / 2.0;
    let i0b = bessel_i0(beta);
    (0..m)
        .map(|n| {
            let t = (n as f64 - alpha) / alpha;
            bessel_i0(beta * (1.0 - t * t).max(0.0).sqrt()) / i0b
        })
        .collect()
}

/// The modified Bessel function I0 by its power series (converges fast for the β ≤ ~20 of
/// Kaiser windows; every term is positive, so there is no cancellation).
pub fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 1..500 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The Bessel function J1: the power series for |x| ≤ 12, Hankel's asymptotic expansion above
/// (both accurate to ~1e-12 there).
pub fn bessel_j1(x: f64) -> f64 {
    let ax = x.abs();
    let v = if ax <= 12.0 {
        let q = -x * x / 4.0;
        let (mut term, mut sum) = (x / 2.0, x / 2.0);
        for k in 1..200 {
            term *= q / (k as f64 * (k + 1) as f64);
            sum += term;
            if term.abs() < 1e-18 * sum.abs().max(1e-300) {
                break;
            }
        }
        return sum;
    } else {
        // J1(x) = sqrt(2/(πx)) (P cos χ − Q sin χ), χ = x − 3π/4, μ = 4.
        let mu = 4.0;
        let (mut p, mut q) = (1.0f64, 0.0f64);
        let mut term = 1.0f64;
        for k in 1..40 {
            let kf = k as f64;
            let next = term * (mu - (2.0 * kf - 1.0).powi(2)) / (kf * 8.0 * ax);
            // An asymptotic series: stop at its smallest term.
            if next.abs() >= term.abs() || next.abs() < 1e-17 {
                break;
            }
            term = next;
            if k % 2 == 1 {
                q += if (k / 2) % 2 == 0 { term } else { -term };
            } else {
                p += if (k / 2) % 2 == 1 { -term } else { term };
            }
        }
        let chi = ax - 0.75 * PI;
        (2.0 / (PI * ax)).sqrt() * (p * chi.cos() - q * chi.sin())
    };
    if x < 0.0 {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_functions_match_tabulated_values() {
        // Abramowitz & Stegun tables.
        for (x, want) in [
            (0.5, 0.242_268_457_674_873_9),
            (1.0, 0.440_050_585_744_933_5),
            (5.0, -0.327_579_137_591_465_2),
            (10.0, 0.043_472_746_168_861_44),
            (15.0, 0.205_104_038_613_522_8),
            (20.0, 0.066_833_124_175_850_05),
            (40.0, 0.126_038_318_037_585),
        ] {
            let got = bessel_j1(x);
            assert!((got - want).abs() < 1e-10, "J1({x}) = {got}, want {want}");
        }
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-14);
        assert!((bessel_i0(10.0) - 2_815.716_628_466_254).abs() < 1e-9);
    }

    #[test]
    fn firwin_is_a_symmetric_unit_gain_lowpass() {
        let f = firwin(12, 2.0, 2.0 * 2.0, 32.0);
        assert_eq!(f.len(), 12);
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..6 {
            assert!((f[i] - f[11 - i]).abs() < 1e-15);
        }
        // Centre taps largest.
        assert!(f[5] > f[4] && f[4] > f[3]);
    }

    /// Reference taps computed with scipy 1.x (`scipy.signal.firwin`, and the official
    /// `design_lowpass_filter(radial=True)` with `scipy.special.j1`), as float32.
    #[test]
    fn filters_equal_scipy() {
        let f = lowpass(12, 2.0, 4.0, 32.0, false).unwrap();
        let want = [
            0.026157383f32,
            0.04821653,
            0.074_087_4,
            0.09965272,
            0.12021078,
            0.13167518,
        ];
        for (i, w) in want.iter().enumerate() {
            assert!(
                (f[i] - w).abs() < 1e-7 && (f[11 - i] - w).abs() < 1e-7,
                "tap {i}"
            );
        }
        let r = lowpass(12, 4.0, 8.0, 32.0, true).unwrap();
        assert_eq!(r.len(), 144);
        let rows = [
            (
                0,
                [
                    -2.222_788e-5_f32,
                    -1.0140203e-04,
                    -2.1676904e-04,
                    -3.0518873e-04,
                    -3.2770392e-04,
                    -3.1310253e-04,
                ],
            ),
            (
                5,
                [
                    -3.1310253e-04,
                    7.4554625e-04,
                    6.8071014e-03,
                    1.9991163e-02,
                    3.692_302e-2,
                    4.911_507e-2,
                ],
            ),
        ];
        for (row, want) in rows {
            for (j, w) in want.iter().enumerate() {
                let got = r[row * 12 + j];
                assert!((got - w).abs() < 1e-7, "radial [{row},{j}]: {got} vs {w}");
            }
        }
        let r = lowpass(24, 90.5, 74.0, 512.0, true).unwrap();
        for ((i, j), w) in [
            ((0, 0), -2.0062794e-06f32),
            ((11, 11), 0.090064086),
            ((3, 17), -0.00047586346),
            ((23, 5), 3.8199043e-05),
        ] {
            let got = r[i * 24 + j];
            assert!(
                (got - w).abs() < 1e-7 + 1e-5 * w.abs(),
                "radial24 [{i},{j}]: {got} vs {w}"
            );
        }
    }
}
