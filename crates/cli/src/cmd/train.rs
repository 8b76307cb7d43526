//! `stylegan train`: train a StyleGAN2 or StyleGAN3 from a data set, like the official `train.py`.

use std::path::{Path, PathBuf};

use crate::args::AugArg;
use anyhow::{bail, Context, Result};
use serde_json::json;
use stylegan::data::Dataset;
use stylegan::train::{
    start_run, AugMode, Begun, NetworkOptions, Observer, RunOptions, Start, Started, StepStats,
    TrainConfig, TrainOptions, TrainingRun,
};

#[derive(clap::Args)]
pub struct Args {
    /// Training data: a data set ZIP (or folder) made by `stylegan dataset`.
    #[arg(long)]
    data: PathBuf,
    /// Where run directories are created (`NNNNN-desc`).
    #[arg(long)]
    outdir: PathBuf,
    /// Base configuration: stylegan2, stylegan3-t or stylegan3-r (official `train.py --cfg`).
    #[arg(long, value_enum, default_value_t = crate::args::CfgArg::Stylegan2)]
    cfg: crate::args::CfgArg,
    /// Total batch size.
    #[arg(long)]
    batch: usize,
    /// R1 regularisation weight.
    #[arg(long)]
    gamma: f64,
    /// Total training length in thousands of images (counted across resumes).
    #[arg(long, default_value_t = 25000.0)]
    kimg: f64,
    /// Thousands of images per tick (progress log line).
    #[arg(long, default_value_t = 4.0)]
    tick: f64,
    /// Snapshot every N ticks (and at the end).
    #[arg(long, default_value_t = 50)]
    snap: usize,
    /// Also train on x-flipped images.
    #[arg(long)]
    mirror: bool,
    /// Train a conditional model on the data set's labels.
    #[arg(long)]
    cond: bool,
    /// Augmentation: ada, noaug or fixed (with --p).
    #[arg(long, value_enum, default_value_t = crate::args::AugArg::Ada)]
    aug: crate::args::AugArg,
    /// Augmentation probability for --aug fixed.
    #[arg(long, default_value_t = 0.2)]
    p: f64,
    /// ADA target value r_t.
    #[arg(long, default_value_t = 0.6)]
    target: f64,
    /// ADA: thousands of images for p to go from 0 to 1 (official 500).
    #[arg(long, default_value_t = 500.0)]
    ada_kimg: f64,
    /// Resume: a training snapshot (continues it exactly), a run directory (its latest
    /// snapshot), or a network file with G and D to fine-tune from (a new run).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Freeze the first N discriminator blocks (from the image side).
    #[arg(long, default_value_t = 0)]
    freeze_d: usize,
    /// Keep the parent's mapping network (aligned fine-tuning).
    #[arg(long)]
    freeze_mapping: bool,
    /// Keep the parent's style affines (aligned fine-tuning).
    #[arg(long)]
    freeze_affine: bool,
    /// Capacity multiplier (channel_base).
    #[arg(long, default_value_t = 32768)]
    cbase: usize,
    /// Max feature maps per layer.
    #[arg(long, default_value_t = 512)]
    cmax: usize,
    /// Mapping network depth (default 8 for stylegan2, 2 for stylegan3).
    #[arg(long)]
    map: Option<usize>,
    /// z and w dimensionality.
    #[arg(long, default_value_t = 512)]
    latent_dim: usize,
    /// Minibatch-std group size.
    #[arg(long, default_value_t = 4)]
    mbstd_group: usize,
    /// G learning rate.
    #[arg(long, default_value_t = 0.0025)]
    glr: f64,
    /// D learning rate (default 0.0025 for stylegan2, 0.002 for stylegan3 as `train.py`).
    #[arg(long)]
    dlr: Option<f64>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Fakes grid COLSxROWS.
    #[arg(long, default_value = "8x4")]
    grid: String,
    /// Extra text for the run directory name.
    #[arg(long)]
    desc: Option<String>,
    /// cpu or gpu.
    #[arg(long, value_enum, default_value_t = crate::args::DeviceArg::Cpu)]
    device: crate::args::DeviceArg,
}

struct Bar {
    pb: indicatif::ProgressBar,
}

impl Observer for Bar {
    fn step(&self, cur: u64, total: u64, st: &StepStats) {
        self.pb.set_length(total);
        self.pb.set_position(cur);
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.3}")
            } else {
                "-".into()
            }
        };
        self.pb.set_message(format!(
            "G {} D {}/{} p {:.3}",
            f(st.loss_g),
            f(st.loss_d_real),
            f(st.loss_d_gen),
            st.ada_p
        ));
    }
    fn tick(&self, line: &serde_json::Value) {
        let g = |k: &str| line.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        self.say(format!(
            "tick {:<4} kimg {:<8.2} sec/kimg {:<8.1} G {:.3} Dreal {:.3} Dgen {:.3} r1 {:.3} pl {:.3} p {:.3}",
            g("tick"),
            g("kimg"),
            g("sec_per_kimg"),
            g("loss_g"),
            g("loss_d_real"),
            g("loss_d_gen"),
            g("r1_penalty"),
            g("pl_penalty"),
            g("ada_p")
        ));
    }
    fn snapshot(&self, path: &Path) {
        self.say(format!("snapshot {}", path.display()));
    }
}

impl Bar {
    /// A line above the bar, or on stderr when there is no terminal (the bar is hidden, e.g.
    /// a run in the background with its output in a log file).
    fn say(&self, msg: String) {
        if self.pb.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.pb.println(msg);
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let cfg: TrainConfig = a.cfg.into();
    let cfg_name = crate::args::value_name(&a.cfg);
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if !(a.gamma >= 0.0) || !(a.kimg > 0.0) || !(a.tick > 0.0) {
        bail!("--gamma must be >= 0, --kimg and --tick > 0");
    }
    let aug = match a.aug {
        AugArg::Ada => AugMode::Ada { target: a.target },
        AugArg::Noaug => AugMode::NoAug,
        AugArg::Fixed => {
            if !(0.0..=1.0).contains(&a.p) {
                bail!("--p must be in [0, 1], got {}", a.p);
            }
            AugMode::Fixed { p: a.p }
        }
    };
    let (cols, rows) = crate::args::parse_grid(&a.grid)?;
    let device = crate::cmd::device(&a.device)?;
    eprintln!("loading {}", a.data.display());
    let data = Dataset::open(&a.data)
        .with_context(|| format!("reading the data set {}", a.data.display()))?;
    if a.cond && !data.has_labels() {
        bail!(
            "--cond needs labels, but {} has none (dataset.json labels are null)",
            a.data.display()
        );
    }
    eprintln!(
        "{} images, {}x{}, {} channel(s), labels: {}",
        data.len(),
        data.resolution(),
        data.resolution(),
        data.channels(),
        if data.has_labels() {
            format!("{} values", data.label_dim())
        } else {
            "none".into()
        }
    );

    let recipe = TrainOptions::for_cfg(cfg, a.batch);
    let opts = TrainOptions {
        r1_gamma: a.gamma,
        glr: a.glr,
        dlr: a.dlr.unwrap_or(recipe.dlr),
        mirror: a.mirror,
        aug,
        ada_kimg: a.ada_kimg,
        cond: a.cond,
        freeze_d: a.freeze_d,
        freeze_mapping: a.freeze_mapping,
        freeze_affine: a.freeze_affine,
        seed: a.seed,
        ..recipe
    };
    let run_opts = RunOptions {
        kimg: a.kimg,
        tick_kimg: a.tick,
        snap_ticks: a.snap,
        grid: (cols, rows),
    };
    let stem = a
        .data
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let desc = format!(
        "{stem}-{}-gpus1-batch{}-gamma{}{}",
        cfg_name,
        a.batch,
        a.gamma,
        a.desc.as_ref().map(|d| format!("-{d}")).unwrap_or_default()
    );

    let network = match &a.resume {
        Some(_) => None,
        None => {
            let mut net = NetworkOptions::for_cfg(
                cfg,
                data.resolution(),
                data.channels(),
                if a.cond { data.label_dim() } else { 0 },
                a.batch,
            );
            net.channel_base = a.cbase;
            net.channel_max = a.cmax;
            net.map_layers = a.map.unwrap_or(cfg.default_map());
            net.latent_dim = a.latent_dim;
            net.mbstd_group = a.mbstd_group;
            Some(net)
        }
    };
    let start = match (&a.resume, &network) {
        (Some(r), _) => Start::From(r),
        (None, Some(net)) => Start::New {
            network: net,
            seed: a.seed,
        },
        (None, None) => unreachable!("a network is built when there is nothing to resume"),
    };
    let Started {
        trainer,
        dir,
        begun,
    } = start_run(start, cfg, opts, &data, &a.outdir, &desc, &device).with_context(|| match &a
        .resume
    {
        Some(r) => format!("--resume {} with --cfg {cfg_name}", r.display()),
        None => format!("--cfg {cfg_name}"),
    })?;
    match &begun {
        Begun::Resumed { snapshot } => eprintln!(
            "resuming {} at {:.3} kimg in {}",
            snapshot.display(),
            trainer.cur_nimg as f64 / 1000.0,
            dir.display()
        ),
        Begun::FineTuned { network } => {
            eprintln!(
                "fine-tuning from {} in {}",
                network.display(),
                dir.display()
            )
        }
        Begun::New => eprintln!("new run in {}", dir.display()),
    }
    let options = json!({
        "data": a.data.display().to_string(),
        "cfg": cfg_name, "batch": a.batch, "gamma": a.gamma, "kimg": a.kimg, "tick": a.tick,
        "snap": a.snap, "mirror": a.mirror, "cond": a.cond, "aug": crate::args::value_name(&a.aug), "p": a.p,
        "target": a.target, "ada_kimg": a.ada_kimg, "freeze_d": a.freeze_d,
        "freeze_mapping": a.freeze_mapping, "freeze_affine": a.freeze_affine,
        "glr": trainer.opts.glr, "dlr": trainer.opts.dlr, "seed": a.seed,
        "resume": a.resume.as_ref().map(|p| p.display().to_string()),
        "G_kwargs": trainer.g.init_kwargs, "D_kwargs": trainer.d.init_kwargs,
    });
    stylegan::io::atomic_write(
        &dir.join("training_options.json"),
        serde_json::to_string_pretty(&options)?.as_bytes(),
    )?;
    let mut run = TrainingRun::new(dir, trainer, run_opts)?;
    let pb = indicatif::ProgressBar::new((a.kimg * 1000.0) as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "train [{bar:30}] {pos}/{len} img ({per_sec}, eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_position(run.trainer.cur_nimg);
    run.run(&data, &Bar { pb: pb.clone() })?;
    pb.finish_and_clear();
    eprintln!(
        "done: {:.3} kimg in {}",
        run.trainer.cur_nimg as f64 / 1000.0,
        run.dir.display()
    );
    Ok(())
}
