//! Network architectures. Each StyleGAN concept has one file: `mapping`, `synthesis`,
//! `generator`, `discriminator`, and their `config`.

pub mod config;
pub mod discriminator;
pub mod generator;
pub mod mapping;
pub mod synthesis;

pub use config::{Architecture, DiscriminatorConfig, GeneratorConfig, MappingConfig};
pub use discriminator::Discriminator;
pub use generator::Generator;
pub use mapping::MappingNetwork;
pub use synthesis::{BlockStyles, Features, NoiseMode, SynthesisNetwork};
