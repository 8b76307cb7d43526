//! `stylegan classifier train | label`: a small attribute classifier trained on a labelled data
//! set, and generated samples labelled with it (for `stylegan directions interfacegan`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use stylegan::attributes::{
    classifier_bytes_per_image, save_classifier, train_classifier, AttributeClassifier,
    ClassifierOptions, LabelledSamples, MAX_BATCH, MAX_WIDTH,
};
use stylegan::data::Dataset;
use stylegan::io::{check_output, OutputKind};
use stylegan::latent::Latent;
use stylegan::models::NoiseMode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Train on a data set with attribute labels (e.g. `stylegan dataset faces`).
    Train {
        /// Labelled data set ZIP.
        #[arg(long)]
        data: PathBuf,
        /// Output classifier `.safetensors`.
        #[arg(long)]
        out: PathBuf,
        /// Training steps.
        #[arg(long, default_value_t = 1500)]
        steps: usize,
        /// Minibatch size.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Feature maps per layer.
        #[arg(long, default_value_t = 32)]
        width: usize,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u32,
    },
    /// Generate samples, record their w and the classifier's attribute probabilities.
    Label {
        #[command(flatten)]
        net: crate::args::NetworkArgs,
        /// Classifier file.
        #[arg(long)]
        classifier: PathBuf,
        /// Seeds of the samples, e.g. `0-1999`.
        #[arg(long, default_value = "0-1999")]
        seeds: String,
        /// Truncation psi of the samples.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        trunc: f64,
        /// Output samples `.safetensors` (`w`, `scores`, `seeds`).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.action {
        Action::Train {
            data,
            out,
            steps,
            batch,
            width,
            seed,
        } => {
            crate::args::count("--steps", steps, 1, 1_000_000)?;
            check_output(&out, OutputKind::Safetensors).context("--out")?;
            crate::args::count("--batch", batch, 1, MAX_BATCH)?;
            crate::args::count("--width", width, 1, MAX_WIDTH)?;
            let ds = Dataset::open(&data).with_context(|| format!("reading {}", data.display()))?;
            if !ds.has_labels() {
                bail!("{} has no labels to learn", data.display());
            }
            let per_image = classifier_bytes_per_image(ds.resolution(), ds.channels(), width);
            if let Some(avail) = stylegan::train::available_memory() {
                let need = per_image.saturating_mul(batch as u64);
                if need > avail {
                    bail!(
                        "--batch {batch}: a classifier of width {width} on {r}x{r} images needs at \
                         least {:.1} GiB for the activations, but {:.1} GiB of memory are \
                         available; lower --batch (or --width)",
                        need as f64 / (1u64 << 30) as f64,
                        avail as f64 / (1u64 << 30) as f64,
                        r = ds.resolution()
                    );
                }
            }
            let names: Vec<String> = match ds.label_names() {
                Some(n) => n.to_vec(),
                None => (0..ds.label_dim()).map(|i| format!("class{i}")).collect(),
            };
            let pb = super::progress(steps, "training classifier");
            let opts = ClassifierOptions {
                width,
                batch,
                steps,
                seed,
                ..ClassifierOptions::default()
            };
            let (entry, acc) = train_classifier(&ds, &names, &opts, &|_, loss| {
                pb.set_message(format!("loss {loss:.4}"));
                pb.inc(1);
            })?;
            pb.finish_and_clear();
            save_classifier(&out, &entry)?;
            eprintln!("wrote {}; held-out accuracy:", out.display());
            for (n, a) in acc {
                eprintln!("  {n:<16} {:.1}%", 100.0 * a);
            }
            Ok(())
        }
        Action::Label {
            net,
            classifier,
            seeds,
            trunc,
            out,
        } => {
            let seeds = crate::args::parse_seeds(&seeds).context("--seeds")?;
            crate::args::finite("--trunc", trunc)?;
            check_output(&out, OutputKind::Safetensors).context("--out")?;
            let g = net.generator()?;
            let c = AttributeClassifier::load(&classifier, g.device())?;
            if c.resolution != g.config.img_resolution || c.channels != g.config.img_channels {
                bail!(
                    "the classifier takes {}-channel {}x{} images, the network makes {}-channel {}x{}",
                    c.channels, c.resolution, c.resolution, g.config.img_channels, g.config.img_resolution, g.config.img_resolution
                );
            }
            if g.config.c_dim > 0 {
                bail!("labelling samples of conditional networks is not supported");
            }
            let pb = super::progress(seeds.len(), "labelling");
            let mut samples = LabelledSamples {
                seeds: vec![],
                w: vec![],
                scores: vec![],
                label_names: c.label_names.clone(),
            };
            for chunk in seeds.chunks(32) {
                let z = Latent::from_seeds(&g, chunk, None)?;
                let w = z.clone().w_rows(&g)?;
                let img = z
                    .truncate(&g, trunc, None)?
                    .generate(&g, NoiseMode::Const)?;
                let scores = c.predict(img)?;
                samples.seeds.extend_from_slice(chunk);
                samples.w.extend(
                    w.into_iter()
                        .map(|r| r.into_iter().map(|v| v as f32).collect::<Vec<f32>>()),
                );
                samples.scores.extend(scores);
                pb.inc(chunk.len() as u64);
            }
            pb.finish_and_clear();
            samples.save(&out)?;
            eprintln!(
                "wrote {} labelled samples to {}",
                samples.seeds.len(),
                out.display()
            );
            for (k, n) in samples.label_names.iter().enumerate() {
                let m = samples.scores.iter().map(|s| s[k] as f64).sum::<f64>()
                    / samples.scores.len() as f64;
                eprintln!("  {n:<16} mean probability {m:.3}");
            }
            Ok(())
        }
    }
}
