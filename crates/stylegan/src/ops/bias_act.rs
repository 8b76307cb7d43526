//! `bias_act`: bias, activation, gain, clamp — in that order (FORMATS.md §2.2).

use burn::tensor::{activation, Tensor};

use super::channel_shape;
use crate::error::{Error, Result};

/// The activations `bias_act` knows, with the official default gains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Lrelu,
    Tanh,
    Sigmoid,
    Elu,
    Selu,
    Softplus,
    Swish,
}

impl Activation {
    /// Parse the official name (`'lrelu'`, `'linear'`, ...).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" => Self::Linear,
            "relu" => Self::Relu,
            "lrelu" => Self::Lrelu,
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "elu" => Self::Elu,
            "selu" => Self::Selu,
            "softplus" => Self::Softplus,
            "swish" => Self::Swish,
            other => return Err(Error::Config(format!("unknown activation '{other}'"))),
        })
    }

    /// The official name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Relu => "relu",
            Self::Lrelu => "lrelu",
            Self::Tanh => "tanh",
            Self::Sigmoid => "sigmoid",
            Self::Elu => "elu",
            Self::Selu => "selu",
            Self::Softplus => "softplus",
            Self::Swish => "swish",
        }
    }

    /// `def_gain` of the official activation table.
    pub fn default_gain(self) -> f64 {
        match self {
            Self::Relu | Self::Lrelu | Self::Swish => std::f64::consts::SQRT_2,
            _ => 1.0,
        }
    }

    /// Apply the activation (lrelu slope 0.2, elu alpha 1, as the official defaults).
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Linear => x,
            Self::Relu => activation::relu(x),
            Self::Lrelu => activation::leaky_relu(x, 0.2),
            Self::Tanh => x.tanh(),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Elu => activation::elu(x, 1.0),
            Self::Selu => activation::selu(x),
            Self::Softplus => activation::softplus(x, 1.0),
            Self::Swish => activation::silu(x),
        }
    }
}

/// `x + b` (broadcast on axis 1) → `act` → `× gain` (skipped when 1) → clamp to ±`clamp`.
pub fn bias_act<const D: usize>(
    x: Tensor<D>,
    bias: Option<&Tensor<1>>,
    act: Activation,
    gain: f64,
    clamp: Option<f64>,
) -> Tensor<D> {
    if x.is_autodiff() || bias.is_some_and(|b| b.is_autodiff()) {
        // Training: one operation each way on the CPU (linear and leaky ReLU).
        if let Some(y) = super::train_ops::bias_act(&x, bias, act, gain, clamp) {
            return y;
        }
    }
    let mut x = match bias {
        Some(b) => {
            let c = b.dims()[0];
            x + b.clone().reshape(channel_shape::<D>(c))
        }
        None => x,
    };
    x = act.apply(x);
    if gain != 1.0 {
        x = x.mul_scalar(gain as f32);
    }
    if let Some(c) = clamp {
        x = x.clamp(-c as f32, c as f32);
    }
    x
}
