//! Shared building blocks: equalised-learning-rate layers and the parameter plumbing.

pub mod layers;
pub mod params;

pub use layers::{Conv2dLayer, Conv2dSpec, FcSpec, FullyConnected};
pub use params::{Init, Params, StateDict};
