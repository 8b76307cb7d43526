//! Network architectures. Each StyleGAN concept has one file: `mapping`, `synthesis`
//! (StyleGAN2), `generator` (every family, see its doc for the family API), `discriminator`,
//! and their `config`; StyleGAN3 is its own folder, `stylegan3/`; StyleGAN v1 (`stylegan1`) and
//! PGGAN (`pggan`) share the TF1-era layers of `tf1`.

pub mod config;
pub mod discriminator;
pub mod generator;
pub mod mapping;
pub mod pggan;
pub mod stylegan1;
pub mod stylegan3;
pub mod synthesis;
pub mod tf1;

pub use config::{
    Architecture, DiscriminatorConfig, Family, GeneratorConfig, MappingConfig, Sg2Config,
    SynthesisConfig,
};
pub use discriminator::Discriminator;
pub use generator::{Generator, Synthesis};
pub use mapping::MappingNetwork;
pub use synthesis::{BlockStyles, Features, NoiseMode, SynthesisNetwork};
