//! Optimisation shared by training, inversion, LPIPS and the attribute classifier: a network's
//! tensors as trainable flat leaves ([`params`]) and torch's Adam ([`adam`]).

pub mod adam;
pub mod params;

pub use adam::{Adam, AdamConfig};
pub use params::{is_buffer, ParamSet};
