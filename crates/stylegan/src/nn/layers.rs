//! Equalised-learning-rate layers (FORMATS.md §2.1): weights are stored unscaled and multiplied
//! by their gains at run time, exactly like the official `FullyConnectedLayer` and `Conv2dLayer`.

use burn::tensor::Tensor;

use super::params::{Init, Params, StateDict};
use crate::error::Result;
use crate::ops::{bias_act, conv2d_resample, Activation, Filter};

/// The arguments of `FullyConnectedLayer(in_features, out_features, bias=True,
/// activation='linear', lr_multiplier=1, bias_init=0)`, with the official defaults; set the
/// others by name: `FcSpec::new(512, 512).activation(Activation::Lrelu).lr_multiplier(0.01)`.
#[derive(Clone, Copy, Debug)]
pub struct FcSpec {
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
    pub activation: Activation,
    pub lr_multiplier: f64,
    pub bias_init: f64,
}

impl FcSpec {
    pub fn new(in_features: usize, out_features: usize) -> Self {
        Self {
            in_features,
            out_features,
            bias: true,
            activation: Activation::Linear,
            lr_multiplier: 1.0,
            bias_init: 0.0,
        }
    }
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    pub fn lr_multiplier(mut self, m: f64) -> Self {
        self.lr_multiplier = m;
        self
    }
    pub fn bias_init(mut self, b: f64) -> Self {
        self.bias_init = b;
        self
    }
    pub fn no_bias(mut self) -> Self {
        self.bias = false;
        self
    }
}

/// `FullyConnectedLayer`: `y = act(x · (w·gain)ᵀ + b·lr_multiplier)`.
#[derive(Clone, Debug)]
pub struct FullyConnected {
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
    pub activation: Activation,
    pub weight_gain: f64,
    pub bias_gain: f64,
}

impl FullyConnected {
    pub fn new(p: &mut Params, s: FcSpec) -> Result<Self> {
        Self::with_init(
            p,
            s.in_features,
            s.out_features,
            s.activation,
            s.lr_multiplier,
            Init::Randn(1.0 / s.lr_multiplier),
            s.bias.then_some(Init::Const(s.bias_init)),
        )
    }

    /// As [`Self::new`], with explicit initialisers for a fresh network (StyleGAN3's
    /// `weight_init` / vector `bias_init`); `bias: None` means no bias.
    pub fn with_init(
        p: &mut Params,
        in_features: usize,
        out_features: usize,
        activation: Activation,
        lr_multiplier: f64,
        weight: Init,
        bias: Option<Init>,
    ) -> Result<Self> {
        let weight = p.tensor("weight", [out_features, in_features], weight)?;
        let bias = match bias {
            Some(init) => Some(p.tensor("bias", [out_features], init)?),
            None => None,
        };
        Ok(Self {
            weight,
            bias,
            activation,
            weight_gain: lr_multiplier / (in_features as f64).sqrt(),
            bias_gain: lr_multiplier,
        })
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let w = self.weight.clone().mul_scalar(self.weight_gain as f32);
        let b = self.bias.as_ref().map(|b| {
            if self.bias_gain != 1.0 {
                b.clone().mul_scalar(self.bias_gain as f32)
            } else {
                b.clone()
            }
        });
        let y = x.matmul(w.transpose());
        bias_act(
            y,
            b.as_ref(),
            self.activation,
            self.activation.default_gain(),
            None,
        )
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        if let Some(b) = &self.bias {
            sd.add("bias", b);
        }
    }
}

/// The arguments of `Conv2dLayer(in_channels, out_channels, kernel_size, bias=True,
/// activation='linear', up=1, down=1, resample_filter, conv_clamp=None)`, with the official
/// defaults; set the others by name:
/// `Conv2dSpec::new(64, 128, 3, &filter).activation(Activation::Lrelu).down(2)`.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dSpec<'a> {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub bias: bool,
    pub activation: Activation,
    pub up: usize,
    pub down: usize,
    pub resample_filter: &'a Filter,
    pub conv_clamp: Option<f64>,
}

impl<'a> Conv2dSpec<'a> {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        resample_filter: &'a Filter,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel_size,
            bias: true,
            activation: Activation::Linear,
            up: 1,
            down: 1,
            resample_filter,
            conv_clamp: None,
        }
    }
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    pub fn up(mut self, f: usize) -> Self {
        self.up = f;
        self
    }
    pub fn down(mut self, f: usize) -> Self {
        self.down = f;
        self
    }
    pub fn no_bias(mut self) -> Self {
        self.bias = false;
        self
    }
    pub fn conv_clamp(mut self, c: Option<f64>) -> Self {
        self.conv_clamp = c;
        self
    }
}

/// `Conv2dLayer`: equalised-lr conv with optional resampling, bias, activation and clamp.
#[derive(Clone, Debug)]
pub struct Conv2dLayer {
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    pub filter: Filter,
    pub activation: Activation,
    pub up: usize,
    pub down: usize,
    pub padding: usize,
    pub weight_gain: f64,
    pub conv_clamp: Option<f64>,
}

impl Conv2dLayer {
    pub fn new(p: &mut Params, s: Conv2dSpec) -> Result<Self> {
        let Conv2dSpec {
            in_channels,
            out_channels,
            kernel_size,
            bias,
            activation,
            up,
            down,
            resample_filter,
            conv_clamp,
        } = s;
        let weight = p.tensor(
            "weight",
            [out_channels, in_channels, kernel_size, kernel_size],
            Init::Randn(1.0),
        )?;
        let bias = if bias {
            Some(p.tensor("bias", [out_channels], Init::Const(0.0))?)
        } else {
            None
        };
        let filter = load_filter(p, resample_filter)?;
        Ok(Self {
            weight,
            bias,
            filter,
            activation,
            up,
            down,
            padding: kernel_size / 2,
            weight_gain: 1.0 / ((in_channels * kernel_size * kernel_size) as f64).sqrt(),
            conv_clamp,
        })
    }

    /// `forward(x, gain)`: conv2d_resample → bias_act(gain = def_gain·gain, clamp = conv_clamp·gain).
    pub fn forward(&self, x: Tensor<4>, gain: f64) -> Tensor<4> {
        let w = self.weight.clone().mul_scalar(self.weight_gain as f32);
        let x = conv2d_resample(x, w, &self.filter, self.up, self.down, self.padding);
        let act_gain = self.activation.default_gain() * gain;
        let clamp = self.conv_clamp.map(|c| c * gain);
        bias_act(x, self.bias.as_ref(), self.activation, act_gain, clamp)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        if let Some(b) = &self.bias {
            sd.add("bias", b);
        }
        sd.add_data(
            "resample_filter",
            vec![self.filter.h, self.filter.w],
            self.filter.taps.clone(),
        );
    }
}

/// The `resample_filter` buffer: read from the checkpoint when present, else the config's filter.
pub fn load_filter(p: &mut Params, default: &Filter) -> Result<Filter> {
    let data = p.data(
        "resample_filter",
        &[default.h, default.w],
        Init::Values(default.taps.clone()),
    )?;
    let taps: Vec<f32> = data.try_to_vec().expect("f32 data");
    Ok(Filter::from_2d(taps, default.h, default.w, p.device()))
}
