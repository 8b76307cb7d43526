//! Equalised-learning-rate layers (FORMATS.md §2.1): weights are stored unscaled and multiplied
//! by their gains at run time, exactly like the official `FullyConnectedLayer` and `Conv2dLayer`.

use burn::tensor::Tensor;

use super::params::{Init, Params, StateDict};
use crate::error::Result;
use crate::ops::{bias_act, conv2d_resample, Activation, Filter};

/// `FullyConnectedLayer(in, out, bias, activation, lr_multiplier, bias_init)`.
#[derive(Clone, Debug)]
pub struct FullyConnected {
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
    pub activation: Activation,
    pub weight_gain: f64,
    pub bias_gain: f64,
}

impl FullyConnected {
    pub fn new(
        p: &mut Params,
        in_features: usize,
        out_features: usize,
        bias: bool,
        activation: Activation,
        lr_multiplier: f64,
        bias_init: f64,
    ) -> Result<Self> {
        Self::with_init(
            p,
            in_features,
            out_features,
            activation,
            lr_multiplier,
            Init::Randn(1.0 / lr_multiplier),
            bias.then_some(Init::Const(bias_init)),
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

/// `Conv2dLayer(in, out, kernel_size, bias, activation, up, down, resample_filter, conv_clamp)`.
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &mut Params,
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        bias: bool,
        activation: Activation,
        up: usize,
        down: usize,
        resample_filter: &Filter,
        conv_clamp: Option<f64>,
    ) -> Result<Self> {
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
