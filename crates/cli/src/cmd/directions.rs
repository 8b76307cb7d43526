//! `stylegan directions`: compute edit directions and save them as a small safetensors file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use stylegan::edit::sefa::sefa;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    method: Method,
}

#[derive(Subcommand)]
enum Method {
    /// SeFa: closed-form factorisation of the style affines of the conv layers.
    Sefa {
        #[command(flatten)]
        net: crate::args::NetworkArgs,
        /// Output `.safetensors` (tensors `directions [K, w_dim]`, `values [K]`).
        #[arg(long)]
        out: PathBuf,
        /// Conv-layer indices to factorise (0 = b4.conv1, 1 = b8.conv0, …); all by default.
        #[arg(long)]
        layers: Option<String>,
    },
    /// InterFaceGAN: the normal of a linear boundary in w for an attribute, from samples
    /// labelled by `stylegan classifier label`; optionally orthogonal to other attributes.
    Interfacegan {
        /// Labelled samples (`stylegan classifier label`).
        #[arg(long)]
        samples: PathBuf,
        /// The attribute, e.g. `glasses`.
        #[arg(long)]
        attribute: String,
        /// Attributes to keep unchanged (comma-separated), e.g. `male`.
        #[arg(long, value_delimiter = ',')]
        condition: Vec<String>,
        /// Fraction of most confident samples used on each side.
        #[arg(long, default_value_t = 0.2)]
        ratio: f64,
        /// Output `.safetensors`.
        #[arg(long)]
        out: PathBuf,
    },
    /// GANSpace: principal components of w (or StyleSpace) over sampled latents; values are
    /// standard deviations, so edit strengths are in σ.
    Ganspace {
        #[command(flatten)]
        net: crate::args::NetworkArgs,
        /// Output `.safetensors`.
        #[arg(long)]
        out: PathBuf,
        /// Space: w or s.
        #[arg(long, value_enum, default_value_t = crate::args::SpaceArg::W)]
        space: crate::args::SpaceArg,
        /// Number of sampled latents.
        #[arg(long, default_value_t = 10000)]
        samples: usize,
        /// Number of components kept.
        #[arg(long, default_value_t = 20)]
        components: usize,
        /// Seed of the sampled z.
        #[arg(long, default_value_t = 0)]
        seed: u32,
    },
}

/// `--out`: a `.safetensors` path that can be written, checked before any work.
fn check_out(out: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    stylegan::io::check_output(out, stylegan::io::OutputKind::Safetensors).context("--out")?;
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    match a.method {
        Method::Sefa { net, out, layers } => {
            let layers = crate::args::parse_indices(layers.as_deref(), "--layers")?;
            check_out(&out)?;
            let g = net.generator()?;
            let dirs = sefa(&g, layers.as_deref())?;
            dirs.save(&out)?;
            let top: Vec<String> = dirs
                .values
                .iter()
                .take(5)
                .map(|v| format!("{v:.3}"))
                .collect();
            eprintln!(
                "wrote {} directions to {} (layers {:?}; top singular values {})",
                dirs.directions.len(),
                out.display(),
                dirs.layers,
                top.join(", ")
            );
            Ok(())
        }
        Method::Interfacegan {
            samples,
            attribute,
            condition,
            ratio,
            out,
        } => {
            if !(ratio > 0.0 && ratio <= 0.5) {
                anyhow::bail!("--ratio must be in (0, 0.5], got {ratio}");
            }
            check_out(&out)?;
            let s = stylegan::attributes::LabelledSamples::load(&samples)?;
            let dirs =
                stylegan::edit::interfacegan::interfacegan(&s, &attribute, &condition, ratio)?;
            dirs.save(&out)?;
            eprintln!(
                "wrote the InterFaceGAN direction for '{attribute}'{} to {} (validation accuracy {:.1}%)",
                if condition.is_empty() { String::new() } else { format!(" orthogonal to {}", condition.join(", ")) },
                out.display(),
                100.0 * dirs.values[0]
            );
            Ok(())
        }
        Method::Ganspace {
            net,
            out,
            space,
            samples,
            components,
            seed,
        } => {
            let space: stylegan::latent::Space = space.into();
            crate::args::count("--samples", samples, 2, 100_000)?;
            crate::args::count("--components", components, 1, 10_000)?;
            check_out(&out)?;
            let g = net.generator()?;
            let pb = super::progress(samples, "sampling latents");
            let dirs = stylegan::edit::ganspace::ganspace_with_progress(
                &g,
                space,
                samples,
                components,
                seed,
                &mut |done, _| pb.set_position(done as u64),
            )?;
            pb.finish_and_clear();
            dirs.save(&out)?;
            let top: Vec<String> = dirs
                .values
                .iter()
                .take(5)
                .map(|v| format!("{v:.3}"))
                .collect();
            eprintln!(
                "wrote {} GANSpace directions in {} to {} (top standard deviations {})",
                dirs.directions.len(),
                dirs.space,
                out.display(),
                top.join(", ")
            );
            Ok(())
        }
    }
}
