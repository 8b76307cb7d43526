//! The TensorFlow 1 building blocks that StyleGAN v1 (`stylegan1.rs`) and PGGAN (`pggan.rs`)
//! share (FORMATS.md §13–§15): equalised-learning-rate dense and conv layers on TF weight
//! layouts, pixel norm, instance norm, nearest up- and average downscaling, the [1,2,1] blur,
//! minibatch standard deviation, the `nf` channel schedule, the constructor keyword arguments
//! with their official defaults, and the `lod` (level of detail) of progressive growing.
//!
//! Weights keep the official TF variable names and layouts (conv `[kh, kw, in, out]`, dense
//! `[in, out]`): a native checkpoint of these families holds exactly what the TF pickle held.
//! The equalised-learning-rate coefficient is applied at run time, as the official code does.

use burn::tensor::{activation, Tensor};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::nn::{Init, Params, StateDict};
use crate::ops::conv2d_resample::conv2d_padded;
use crate::ops::upfirdn2d::{upfirdn2d, Filter};

/// The constructor keyword arguments of a TF1 network (`static_kwargs`) with the official
/// defaults for the ones absent.
#[derive(Clone, Debug)]
pub struct Kwargs {
    /// Which network they configure, for error messages (`G_style`, `D_paper`, ...).
    pub what: String,
    pub map: Map<String, Value>,
}

impl Kwargs {
    pub fn new(what: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Self {
                what: what.into(),
                map: map.clone(),
            }),
            Value::Null => Ok(Self {
                what: what.into(),
                map: Map::new(),
            }),
            other => Err(Error::Config(format!(
                "{what}: static_kwargs must be a dict, found {other}"
            ))),
        }
    }

    fn bad(&self, key: &str, expected: &str) -> Error {
        Error::Config(format!(
            "{}: static kwarg '{key}' = {} is not {expected}",
            self.what, self.map[key]
        ))
    }

    /// A non-negative integer no larger than `max`.
    pub fn usize(&self, key: &str, default: usize, max: usize) -> Result<usize> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&n| n as u128 <= max as u128)
                .map(|n| n as usize)
                .ok_or_else(|| self.bad(key, &format!("an integer in 0..={max}"))),
        }
    }

    /// An optional non-negative integer (`None` when absent or null).
    pub fn opt_usize(&self, key: &str, max: usize) -> Result<Option<usize>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.usize(key, 0, max).map(Some),
        }
    }

    /// A finite number.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.bad(key, "a finite number")),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            // Python code sometimes passes 0/1.
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => {
                Ok(n.as_u64() == Some(1))
            }
            Some(_) => Err(self.bad(key, "a bool")),
        }
    }

    /// A string, or `default` when absent/null.
    pub fn str(&self, key: &str, default: &str) -> Result<String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default.into()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(key, "a string")),
        }
    }

    /// One of `allowed`.
    pub fn choice(&self, key: &str, default: &str, allowed: &[&str]) -> Result<String> {
        let s = self.str(key, default)?;
        if allowed.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(Error::Config(format!(
                "{}: {key} = '{s}' is not supported (expected one of {})",
                self.what,
                allowed.join(", ")
            )))
        }
    }

    /// `fused_scale`: True / False / 'auto' (SG1's default).
    pub fn fused_scale(&self, default: FusedScale) -> Result<FusedScale> {
        match self.map.get("fused_scale") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(true)) => Ok(FusedScale::Always),
            Some(Value::Bool(false)) => Ok(FusedScale::Never),
            Some(Value::String(s)) if s == "auto" => Ok(FusedScale::Auto),
            Some(_) => Err(self.bad("fused_scale", "True, False or 'auto'")),
        }
    }

    /// `dtype`: only float32 is supported.
    pub fn check_float32(&self) -> Result<()> {
        let d = self.str("dtype", "float32")?;
        if d != "float32" {
            return Err(Error::Config(format!(
                "{}: dtype '{d}' is not supported (float32 only)",
                self.what
            )));
        }
        Ok(())
    }

    /// `structure`: 'auto', 'recursive' and 'linear' compute the same images (FORMATS.md §13).
    pub fn check_structure(&self) -> Result<()> {
        self.choice(
            "structure",
            "auto",
            &["auto", "recursive", "linear", "fixed"],
        )
        .and_then(|s| {
            if s == "fixed" {
                Err(Error::Config(format!(
                    "{}: structure 'fixed' (no progressive growing) is not supported",
                    self.what
                )))
            } else {
                Ok(())
            }
        })
    }
}

/// Whether up/down-sampling convolutions use the fused (transposed / strided) form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedScale {
    Always,
    Never,
    /// Fused where the larger side of the layer is at least 128 px (StyleGAN v1's default).
    Auto,
}

impl FusedScale {
    /// For a layer whose larger resolution is `res` px.
    pub fn at(self, res: usize) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => res >= 128,
        }
    }
}

/// The channel schedule: `nf(stage) = min(int(fmap_base / 2^(stage·fmap_decay)), fmap_max)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Channels {
    pub fmap_base: usize,
    pub fmap_decay: f64,
    pub fmap_max: usize,
}

impl Channels {
    pub fn from_kwargs(k: &Kwargs) -> Result<Self> {
        let c = Self {
            fmap_base: k.usize("fmap_base", 8192, 1 << 24)?,
            fmap_decay: k.f64("fmap_decay", 1.0)?,
            fmap_max: k.usize("fmap_max", 512, 1 << 14)?,
        };
        if c.fmap_decay < 0.0 {
            return Err(Error::Config(format!(
                "{}: fmap_decay {} is negative",
                k.what, c.fmap_decay
            )));
        }
        Ok(c)
    }

    pub fn nf(&self, stage: usize) -> usize {
        let v = self.fmap_base as f64 / 2f64.powf(stage as f64 * self.fmap_decay);
        (v as usize).min(self.fmap_max)
    }
}

/// `log2(resolution)` for a power-of-two resolution of at least 4 px (`what` names the network).
pub fn resolution_log2(what: &str, resolution: usize) -> Result<usize> {
    if resolution < 4 || !resolution.is_power_of_two() || resolution > super::config::MAX_RESOLUTION
    {
        return Err(Error::Config(format!(
            "{what}: resolution {resolution} is not a power of two in 4..={}",
            super::config::MAX_RESOLUTION
        )));
    }
    Ok(resolution.trailing_zeros() as usize)
}

/// Check a level of detail against a network of `2^log2` px: `0 ≤ lod ≤ log2 − 2`.
pub fn check_lod(what: &str, lod: f64, log2: usize) -> Result<f64> {
    let max = (log2 - 2) as f64;
    if !(lod.is_finite() && (0.0..=max).contains(&lod)) {
        return Err(Error::InvalidArgument(format!(
            "{what}: lod {lod} is out of range (0 = full {} px, up to {max} = 4x4)",
            1usize << log2
        )));
    }
    Ok(lod)
}

/// How a dense or conv weight is scaled at run time (`get_weight`, FORMATS.md §13).
#[derive(Clone, Copy, Debug)]
pub struct Wscale {
    pub gain: f64,
    pub use_wscale: bool,
    pub lrmul: f64,
}

impl Wscale {
    pub fn new(gain: f64, use_wscale: bool) -> Self {
        Self {
            gain,
            use_wscale,
            lrmul: 1.0,
        }
    }

    pub fn lrmul(mut self, lrmul: f64) -> Self {
        self.lrmul = lrmul;
        self
    }

    /// The run-time coefficient for `fan_in` inputs, rounded to float32 once.
    pub fn coef(&self, fan_in: usize) -> f32 {
        if self.use_wscale {
            (self.gain / (fan_in as f64).sqrt() * self.lrmul) as f32
        } else {
            self.lrmul as f32
        }
    }

    /// The initial standard deviation of the stored variable.
    pub fn init_std(&self, fan_in: usize) -> f64 {
        if self.use_wscale {
            1.0 / self.lrmul
        } else {
            self.gain / (fan_in as f64).sqrt() / self.lrmul
        }
    }
}

/// A dense layer `x @ (W·coef) + b·lrmul`, `W [in, out]` (`Dense*`, `StyleMod`).
#[derive(Clone, Debug)]
pub struct Dense {
    pub name: String,
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
    coef: f32,
    lrmul: f32,
}

impl Dense {
    /// `{name}/weight [fan_in, out]` and, with `bias`, `{name}/bias [out]`.
    pub fn new(
        p: &mut Params,
        name: &str,
        [fan_in, out]: [usize; 2],
        ws: Wscale,
        bias: bool,
    ) -> Result<Self> {
        let weight = p.tensor(
            &format!("{name}/weight"),
            [fan_in, out],
            Init::Randn(ws.init_std(fan_in)),
        )?;
        let bias = if bias {
            Some(p.tensor(&format!("{name}/bias"), [out], Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            name: name.into(),
            weight,
            bias,
            coef: ws.coef(fan_in),
            lrmul: ws.lrmul as f32,
        })
    }

    /// The layer with this bias (PGGAN's 4×4 `Dense` bias is `[channels]`, not `[out]`).
    pub fn with_bias(self, bias: Tensor<1>) -> Self {
        Self {
            bias: Some(bias),
            ..self
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.clone().mul_scalar(self.coef));
        match &self.bias {
            Some(b) => y + self.scaled_bias(b).unsqueeze_dim(0),
            None => y,
        }
    }

    /// Without the bias (PGGAN's 4×4 `Dense` adds it after a reshape).
    pub fn forward_no_bias(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.clone().mul_scalar(self.coef))
    }

    fn scaled_bias(&self, b: &Tensor<1>) -> Tensor<1> {
        if self.lrmul == 1.0 {
            b.clone()
        } else {
            b.clone().mul_scalar(self.lrmul)
        }
    }

    /// The bias times its multiplier.
    pub fn bias(&self) -> Option<Tensor<1>> {
        self.bias.as_ref().map(|b| self.scaled_bias(b))
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add(&format!("{}/weight", self.name), &self.weight);
        if let Some(b) = &self.bias {
            sd.add(&format!("{}/bias", self.name), b);
        }
    }
}

/// How a `[k, k, a, b]` TF conv weight is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// `conv2d`, SAME padding: weight `[k, k, in, out]`, correlation.
    Plain,
    /// The fused up-conv (`upscale2d_conv2d`, a transposed convolution): computed as the nearest
    /// 2× upscale followed by the 3×3 correlation with the kernel rotated by 180° — the same
    /// numbers (FORMATS.md §14.1). `out_in`: the weight is `[k, k, out, in]` (tkarras PGGAN);
    /// otherwise `[k, k, in, out]` (NVlabs/stylegan, its PGGAN port).
    FusedUp { out_in: bool },
    /// The fused down-conv (`conv2d_downscale2d`): the 3×3 correlation with the same weight
    /// followed by the 2×2 mean — the same numbers (FORMATS.md §14.2).
    FusedDown,
}

/// A square conv layer with an equalised learning rate and an optional bias (added by the
/// caller, see [`Conv::bias`], since the official layers add it after resampling).
#[derive(Clone, Debug)]
pub struct Conv {
    pub name: String,
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    pub kind: ConvKind,
    coef: f32,
}

impl Conv {
    /// `{name}/weight` of a `k×k` conv from `cin` to `cout` channels, and `{name}/bias [cout]`.
    pub fn new(
        p: &mut Params,
        name: &str,
        k: usize,
        [cin, cout]: [usize; 2],
        ws: Wscale,
        kind: ConvKind,
    ) -> Result<Self> {
        let shape = match kind {
            ConvKind::FusedUp { out_in: true } => [k, k, cout, cin],
            _ => [k, k, cin, cout],
        };
        let fan_in = k * k * cin;
        let weight = p.tensor(
            &format!("{name}/weight"),
            shape,
            Init::Randn(ws.init_std(fan_in)),
        )?;
        let bias = Some(p.tensor(&format!("{name}/bias"), [cout], Init::Const(0.0))?);
        Ok(Self {
            name: name.into(),
            weight,
            bias,
            kind,
            coef: ws.coef(fan_in),
        })
    }

    /// The scaled weight as a `[out, in, k, k]` correlation kernel for the stride-1 conv this
    /// layer reduces to.
    fn kernel(&self) -> Tensor<4> {
        let w = self.weight.clone().mul_scalar(self.coef);
        match self.kind {
            ConvKind::Plain | ConvKind::FusedDown => w.permute([3, 2, 0, 1]),
            ConvKind::FusedUp { out_in: false } => w.permute([3, 2, 0, 1]).flip([2, 3]),
            ConvKind::FusedUp { out_in: true } => w.permute([2, 3, 0, 1]).flip([2, 3]),
        }
    }

    /// The convolution without the bias.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [k, _, _, _] = self.weight.dims();
        match self.kind {
            ConvKind::Plain => conv2d_padded(x, self.kernel(), k / 2),
            ConvKind::FusedUp { .. } => conv2d_padded(upscale2d(x, 2), self.kernel(), k / 2),
            ConvKind::FusedDown => downscale2d(conv2d_padded(x, self.kernel(), k / 2), 2),
        }
    }

    /// `x + b` per channel.
    pub fn add_bias(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.bias {
            Some(b) => add_channel_bias(x, b.clone()),
            None => x,
        }
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add(&format!("{}/weight", self.name), &self.weight);
        if let Some(b) = &self.bias {
            sd.add(&format!("{}/bias", self.name), b);
        }
    }
}

/// `x + b` with `b [C]` broadcast over `[N, C, H, W]`.
pub fn add_channel_bias(x: Tensor<4>, b: Tensor<1>) -> Tensor<4> {
    let c = b.dims()[0];
    x + b.reshape([1, c, 1, 1])
}

/// The activation of both families: leaky ReLU with slope 0.2 and no gain, or ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Lrelu,
    Relu,
}

impl Act {
    pub fn from_name(k: &Kwargs, key: &str) -> Result<Self> {
        Ok(match k.choice(key, "lrelu", &["lrelu", "relu"])?.as_str() {
            "relu" => Self::Relu,
            _ => Self::Lrelu,
        })
    }

    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Lrelu => activation::leaky_relu(x, 0.2),
            Self::Relu => activation::relu(x),
        }
    }
}

/// Pixel norm over axis 1 (the channels of `[N, C, H, W]`, the features of `[N, F]`):
/// `x · rsqrt(mean(x²) + ε)`.
pub fn pixel_norm<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    let inv = x
        .clone()
        .square()
        .mean_dim(1)
        .add_scalar(eps)
        .sqrt()
        .recip();
    x * inv
}

/// Instance norm: per sample and channel, centre, then divide by the root mean square
/// (+1e-8).
pub fn instance_norm(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let flat = x.reshape([n, c, h * w]);
    let centred = flat.clone() - flat.mean_dim(2);
    let inv = centred
        .clone()
        .square()
        .mean_dim(2)
        .add_scalar(1e-8)
        .sqrt()
        .recip();
    (centred * inv).reshape([n, c, h, w])
}

/// Nearest-neighbour upscaling: each pixel repeated `f × f` times.
pub fn upscale2d(x: Tensor<4>, f: usize) -> Tensor<4> {
    if f == 1 {
        return x;
    }
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .repeat_dim(3, f)
        .repeat_dim(5, f)
        .reshape([n, c, h * f, w * f])
}

/// The `f × f` mean of non-overlapping blocks (`avg_pool`, and SG1's 2×2 box filter).
pub fn downscale2d(x: Tensor<4>, f: usize) -> Tensor<4> {
    if f == 1 {
        return x;
    }
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / f, f, w / f, f])
        .sum_dim(5)
        .sum_dim(3)
        .reshape([n, c, h / f, w / f])
        .div_scalar((f * f) as f32)
}

/// SG1's `blur2d`: the normalised outer product of a 1-D filter (`[1, 2, 1]`), per channel,
/// zero padding to keep the size.
pub fn blur2d(x: Tensor<4>, f: &Filter) -> Tensor<4> {
    let (p0, p1) = ((f.w as i64 - 1) / 2, f.w as i64 / 2);
    let (q0, q1) = ((f.h as i64 - 1) / 2, f.h as i64 / 2);
    upfirdn2d(x, f, 1, 1, [p0, p1, q0, q1], 1.0)
}

/// TF's `lerp(a, b, t) = a + (b − a)·t`.
pub fn tf_lerp<const D: usize>(a: Tensor<D>, b: Tensor<D>, t: f64) -> Tensor<D> {
    a.clone() + (b - a).mul_scalar(t as f32)
}

/// Minibatch standard deviation with `features` new channels (FORMATS.md §14.2, §15.5):
/// groups of `min(group, N)` samples, sample `n` in group `n mod (N / G)`.
pub fn minibatch_stddev(x: Tensor<4>, group: usize, features: usize) -> Result<Tensor<4>> {
    let [n, c, _, _] = x.dims();
    let g = group.min(n).max(1);
    if n % g != 0 {
        return Err(Error::InvalidArgument(format!(
            "minibatch stddev: a batch of {n} is not divisible into groups of {g}"
        )));
    }
    if features == 0 || c % features != 0 {
        return Err(Error::InvalidArgument(format!(
            "minibatch stddev: {c} channels cannot be split into {features} features"
        )));
    }
    // The same formula as StyleGAN2's layer (groups of the first axis, F features).
    super::discriminator::minibatch_std(x, Some(g), features)
}

/// A scalar variable (`lod`), stored as shape `[]`.
pub fn scalar_var(p: &mut Params, name: &str) -> Result<f64> {
    let t = p.scalar(name, Init::Const(0.0))?;
    let v = crate::backend::to_vec(&t)?;
    Ok(v.first().copied().unwrap_or(0.0) as f64)
}

/// Write a scalar variable back (shape `[]`).
pub fn add_scalar_var(sd: &mut StateDict, name: &str, v: f64) {
    sd.add_data(name, vec![], vec![v as f32]);
}

/// The progressive-growing blend of the generators (FORMATS.md §14.3, §15.3): given the
/// output of level `res` (`to_rgb(res, y)`), the one of level `res − 1` and the `lod` distance,
/// `upscale2d(lerp(rgb, upscale2d(rgb_prev, 2), t), 2^lod)`.
pub fn blend_up(rgb: Tensor<4>, rgb_prev: Tensor<4>, t: f64, scale: usize) -> Tensor<4> {
    upscale2d(tf_lerp(rgb, upscale2d(rgb_prev, 2), t), scale)
}

/// How the discriminators of both families differ (everything else is shared, see
/// [`DBody`]).
pub struct DBodySpec<'a> {
    /// Which network, for errors (`D_basic`, `D_paper`).
    pub what: &'a str,
    pub resolution: usize,
    pub num_channels: usize,
    pub channels: Channels,
    pub use_wscale: bool,
    pub act: Act,
    /// StyleGAN v1: the [1,2,1] blur before each down-conv.
    pub blur: Option<Filter>,
    /// PGGAN with `fused_scale=False`: `Conv1` + the 2×2 average pool after the activation;
    /// otherwise `Conv1_down` (the conv and the 2×2 mean, then bias and activation).
    pub unfused_pool: bool,
    pub mbstd_group: usize,
    pub mbstd_features: usize,
    /// Outputs of `4x4/Dense1`.
    pub outputs: usize,
}

/// The discriminator of both TF1 families (`D_basic`, `D_paper`, FORMATS.md §14.2, §15.5):
/// `FromRGB_lod{L−res}` per level, per resolution `Conv0` and the down-conv, and the 4×4 head
/// (minibatch stddev, `Conv`, `Dense0`, `Dense1`), grown by `lod` (§14.3).
#[derive(Clone, Debug)]
pub struct DBody {
    pub resolution: usize,
    pub log2: usize,
    pub num_channels: usize,
    what: String,
    /// Index res − 2.
    from_rgb: Vec<Conv>,
    /// Index res − 3: `Conv0`, `Conv1_down` (or `Conv1`).
    blocks: Vec<(Conv, Conv)>,
    conv4: Conv,
    dense0: Dense,
    dense1: Dense,
    act: Act,
    blur: Option<Filter>,
    unfused_pool: bool,
    mbstd: (usize, usize),
}

impl DBody {
    pub fn new(p: &mut Params, s: DBodySpec) -> Result<Self> {
        let log2 = resolution_log2(s.what, s.resolution)?;
        let ch = s.channels;
        let ws = Wscale::new(std::f64::consts::SQRT_2, s.use_wscale);
        let mut from_rgb = Vec::new();
        for res in 2..=log2 {
            from_rgb.push(Conv::new(
                p,
                &format!("FromRGB_lod{}", log2 - res),
                1,
                [s.num_channels, ch.nf(res - 1)],
                ws,
                ConvKind::Plain,
            )?);
        }
        let (down_name, down_kind) = if s.unfused_pool {
            ("Conv1", ConvKind::Plain)
        } else {
            ("Conv1_down", ConvKind::FusedDown)
        };
        let mut blocks = Vec::new();
        for res in 3..=log2 {
            let px = 1usize << res;
            let (c, c_out) = (ch.nf(res - 1), ch.nf(res - 2));
            let c0 = Conv::new(
                p,
                &format!("{px}x{px}/Conv0"),
                3,
                [c, c],
                ws,
                ConvKind::Plain,
            )?;
            let name = format!("{px}x{px}/{down_name}");
            blocks.push((c0, Conv::new(p, &name, 3, [c, c_out], ws, down_kind)?));
        }
        let extra = if s.mbstd_group > 1 {
            s.mbstd_features
        } else {
            0
        };
        let conv4 = Conv::new(
            p,
            "4x4/Conv",
            3,
            [ch.nf(1) + extra, ch.nf(1)],
            ws,
            ConvKind::Plain,
        )?;
        let dense0 = Dense::new(p, "4x4/Dense0", [ch.nf(1) * 16, ch.nf(0)], ws, true)?;
        let gain1 = Wscale::new(1.0, s.use_wscale);
        let dense1 = Dense::new(p, "4x4/Dense1", [ch.nf(0), s.outputs], gain1, true)?;
        Ok(Self {
            resolution: s.resolution,
            log2,
            num_channels: s.num_channels,
            what: s.what.into(),
            from_rgb,
            blocks,
            conv4,
            dense0,
            dense1,
            act: s.act,
            blur: s.blur,
            unfused_pool: s.unfused_pool,
            mbstd: (s.mbstd_group, s.mbstd_features),
        })
    }

    fn fromrgb(&self, images: &Tensor<4>, res: usize, level: usize) -> Tensor<4> {
        let l = &self.from_rgb[res - 2];
        let x = downscale2d(images.clone(), 1 << level);
        self.act.apply(l.add_bias(l.forward(x)))
    }

    fn down_block(&self, x: Tensor<4>, res: usize) -> Tensor<4> {
        let (c0, c1) = &self.blocks[res - 3];
        let x = self.act.apply(c0.add_bias(c0.forward(x)));
        let x = match &self.blur {
            Some(f) => blur2d(x, f),
            None => x,
        };
        if self.unfused_pool {
            downscale2d(self.act.apply(c1.add_bias(c1.forward(x))), 2)
        } else {
            self.act.apply(c1.add_bias(c1.forward(x)))
        }
    }

    /// The features entering the 4×4 block.
    fn grow(&self, images: &Tensor<4>, res: usize, level: usize, lod: f64) -> Tensor<4> {
        let l = level as f64;
        let x = if level > 0 && lod < l {
            self.grow(images, res + 1, level - 1, lod)
        } else {
            self.fromrgb(images, res, level)
        };
        if res == 2 {
            return x;
        }
        let x = self.down_block(x, res);
        if lod > l {
            return tf_lerp(x, self.fromrgb(images, res - 1, level + 1), lod - l);
        }
        x
    }

    /// `4x4/Dense1`'s outputs `[N, outputs]` for images `[N, C, R, R]` at `lod`.
    pub fn forward(&self, images: &Tensor<4>, lod: f64) -> Result<Tensor<2>> {
        let [n, c, h, w] = images.dims();
        if c != self.num_channels || h != self.resolution || w != self.resolution {
            return Err(Error::InvalidArgument(format!(
                "{}: images [{n}, {c}, {h}, {w}], expected [N, {}, {r}, {r}]",
                self.what,
                self.num_channels,
                r = self.resolution
            )));
        }
        let lod = check_lod(&self.what, lod, self.log2)?;
        let x = self.grow(images, 2, self.log2 - 2, lod);
        let (group, features) = self.mbstd;
        let x = if group > 1 {
            minibatch_stddev(x, group, features)?
        } else {
            x
        };
        let x = self.act.apply(self.conv4.add_bias(self.conv4.forward(x)));
        let [n, c, h, w] = x.dims();
        let x = self
            .act
            .apply(self.dense0.forward(x.reshape([n, c * h * w])));
        Ok(self.dense1.forward(x))
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        for l in &self.from_rgb {
            l.state_dict(sd);
        }
        for (c0, c1) in &self.blocks {
            c0.state_dict(sd);
            c1.state_dict(sd);
        }
        self.conv4.state_dict(sd);
        self.dense0.state_dict(sd);
        self.dense1.state_dict(sd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// The gradients of the resampling helpers are their adjoints: upscale's sums each block,
    /// downscale's spreads a quarter (f = 2) to each pixel.
    #[test]
    fn resampling_gradients_are_adjoints() {
        let dev = crate::backend::cpu();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &dev,
        )
        .autodiff()
        .require_grad();
        let w: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let w = Tensor::<4>::from_data(TensorData::new(w, [1, 1, 4, 4]), &dev);
        let grads = (upscale2d(x.clone(), 2) * w).sum().backward();
        let g = crate::backend::to_vec(&x.grad(&grads).unwrap()).unwrap();
        // Blocks of the 4×4 weights 0..15: [0,1,4,5], [2,3,6,7], [8,9,12,13], [10,11,14,15].
        assert_eq!(g, vec![10.0, 18.0, 42.0, 50.0]);
        let y = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
            &dev,
        )
        .autodiff()
        .require_grad();
        let grads = downscale2d(y.clone(), 2).sum().backward();
        let g = crate::backend::to_vec(&y.grad(&grads).unwrap()).unwrap();
        assert_eq!(g, vec![0.25; 16]);
    }
}
