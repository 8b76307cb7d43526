//! "StyleGAN of All Trades" (Chong et al. 2021): operations on the intermediate features of a
//! pretrained generator, between synthesis blocks — spatial resizing / padding (wider or taller
//! images), and feature blending with a mask (image mixing).
//!
//! Everything goes through the synthesis network's block interface
//! ([`SynthesisNetwork::run_blocks`](crate::models::SynthesisNetwork::run_blocks)); no forward
//! pass is re-implemented here. Styles stay per block and independent of spatial size, since
//! the network is fully convolutional.
//!
//! One operation per file: [`extend`] (padding modes, `expand`), [`mask`] (α masks),
//! [`blend`] (blending, `transfer`), [`panorama`], [`single_image`] (the Shift operator) and
//! [`translate`] (aligned parent/child models).

pub mod blend;
pub mod extend;
pub mod mask;
pub mod panorama;
pub mod single_image;
pub mod translate;

pub use blend::{blend, blend_many, blend_stylegan3, transfer};
pub use extend::{expand, extend, Extend};
pub use mask::{ImageTensor, Mask};
pub use panorama::{panorama, panorama_stylegan3, Direction};
pub use single_image::{random_shifts, shift_patch, single_image, Patch};
pub use translate::translate;
