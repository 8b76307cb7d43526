//! Where a tool's latent comes from: a seed (z mapped, truncated) or a projection file
//! (`stylegan project` output), whose noise maps reproduce its image.

use std::path::{Path, PathBuf};

use super::projection::Projection;
use crate::error::{Error, Result};
use crate::latent::Latent;
use crate::models::Generator;

/// A seed or a projection file.
#[derive(Clone, Debug, PartialEq)]
pub enum LatentSource {
    Seed(u32),
    Projection(PathBuf),
}

/// A resolved source: the latent and, for a projection, the projection itself.
pub struct Sourced {
    pub latent: Latent,
    pub projection: Option<Projection>,
}

impl LatentSource {
    /// At most one of `seed` and `projection` (e.g. two optional arguments); `what` names the
    /// image in the error ("image A", "the source").
    pub fn either(seed: Option<u32>, projection: Option<&Path>, what: &str) -> Result<Self> {
        match (seed, projection) {
            (Some(s), None) => Ok(Self::Seed(s)),
            (None, Some(p)) => Ok(Self::Projection(p.to_path_buf())),
            (Some(_), Some(_)) => Err(Error::InvalidArgument(format!(
                "{what}: give a seed or a projection file, not both"
            ))),
            (None, None) => Err(Error::InvalidArgument(format!(
                "{what}: give a seed or a projection file (`stylegan project`)"
            ))),
        }
    }

    /// The latent for `g`: a seed's z mapped and truncated with `psi`; a projection's latent
    /// (truncated too when `psi` ≠ 1 and it is w / W+), with the projection.
    pub fn resolve(&self, g: &Generator, psi: f64) -> Result<Sourced> {
        match self {
            Self::Seed(s) => Ok(Sourced {
                latent: Latent::from_seeds(g, &[*s], None)?.truncate(g, psi, None)?,
                projection: None,
            }),
            Self::Projection(p) => {
                let proj = Projection::load(p, g)?;
                Ok(Sourced {
                    latent: proj.latent.clone().truncate(g, psi, None)?,
                    projection: Some(proj),
                })
            }
        }
    }
}

/// `g` with the noise maps of the first projection among `sources` (feature operations run
/// every source through one network, so one set of noise maps serves them all); `g` itself
/// when none is a projection.
pub fn with_noise_of(g: Generator, sources: &[&Sourced]) -> Result<Generator> {
    match sources.iter().find_map(|s| s.projection.as_ref()) {
        Some(p) => p.generator(&g),
        None => Ok(g),
    }
}
