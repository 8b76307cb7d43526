//! `stylegan train`: train a StyleGAN2 or StyleGAN3 from a data set, like the official `train.py`.

use std::path::{Path, PathBuf};

use crate::args::AugArg;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use stylegan::data::Dataset;
use stylegan::train::{
    available_memory, data_fingerprint, inspect_start, start_run, training_bytes_per_image,
    AugMode, Begun, NetworkOptions, Observer, RunOptions, SnapshotState, Start, StartInfo, Started,
    StepStats, TrainConfig, TrainOptions, TrainingRun, MAX_BATCH, MAX_LEARNING_RATE,
};

#[derive(clap::Args)]
pub struct Args {
    /// Training data: a data set ZIP (or folder) made by `stylegan dataset`.
    #[arg(long)]
    data: PathBuf,
    /// Where run directories are created (`NNNNN-desc`).
    #[arg(long)]
    outdir: PathBuf,
    /// Base configuration: stylegan2, stylegan3-t or stylegan3-r (official `train.py --cfg`),
    /// or pggan / stylegan1 (progressive growing from 4x4 / 8x8, the TF recipes).
    #[arg(long, value_enum, default_value_t = crate::args::CfgArg::Stylegan2)]
    cfg: crate::args::CfgArg,
    /// Total batch size (1 to 4096, and what memory allows); required for a new stylegan2/3
    /// run. pggan/stylegan1: the minibatch at every resolution (default: the official table,
    /// 128 at 4-16 px down to 4 at 1024 px). A resume takes the snapshot's.
    #[arg(long)]
    batch: Option<usize>,
    /// R1 regularisation weight (>= 0); required for a new stylegan2/3 run (stylegan1: default
    /// 10; pggan uses WGAN-GP instead). A resume takes the snapshot's.
    #[arg(long, allow_negative_numbers = true)]
    gamma: Option<f64>,
    /// Total training length in thousands of images (counted across resumes).
    #[arg(long, default_value_t = 25000.0, allow_negative_numbers = true)]
    kimg: f64,
    /// Thousands of images per tick (progress log line).
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    tick: f64,
    /// Snapshot every N ticks (and at the end; 0: only at the end).
    #[arg(long, default_value_t = 50)]
    snap: usize,
    /// Also train on x-flipped images.
    #[arg(long)]
    mirror: bool,
    /// Train a conditional model on the data set's labels.
    #[arg(long)]
    cond: bool,
    /// Augmentation: ada (default), noaug or fixed (with --p).
    #[arg(long, value_enum)]
    aug: Option<crate::args::AugArg>,
    /// Augmentation probability for --aug fixed, in [0, 1] (default 0.2).
    #[arg(long, allow_negative_numbers = true)]
    p: Option<f64>,
    /// ADA target value r_t, in [0, 1] (default 0.6).
    #[arg(long, allow_negative_numbers = true)]
    target: Option<f64>,
    /// ADA: thousands of images for p to go from 0 to 1 (> 0; official 500).
    #[arg(long, allow_negative_numbers = true)]
    ada_kimg: Option<f64>,
    /// Resume: a training snapshot (continues it exactly), a run directory (its latest
    /// snapshot), or a network file with G and D to fine-tune from (a new run). A resume takes
    /// the snapshot's options; giving one that differs is refused (see --force).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Resume even with options that differ from the snapshot's (recorded in
    /// training_options.json); the network's shape, seed and data set still must match.
    #[arg(long)]
    force: bool,
    /// Freeze the first N discriminator blocks (from the image side; at most log2(res) - 1).
    #[arg(long)]
    freeze_d: Option<usize>,
    /// Keep the parent's mapping network (aligned fine-tuning).
    #[arg(long)]
    freeze_mapping: bool,
    /// Keep the parent's style affines (aligned fine-tuning).
    #[arg(long)]
    freeze_affine: bool,
    /// Capacity multiplier (channel_base; default 32768, at most 2^24).
    #[arg(long)]
    cbase: Option<usize>,
    /// Max feature maps per layer (default 512, at most 4096).
    #[arg(long)]
    cmax: Option<usize>,
    /// Mapping network depth (default 8 for stylegan2, 2 for stylegan3; at most 64).
    #[arg(long)]
    map: Option<usize>,
    /// z and w dimensionality (default 512, at most 4096).
    #[arg(long)]
    latent_dim: Option<usize>,
    /// Minibatch-std group size (default 4, at most 4096).
    #[arg(long)]
    mbstd_group: Option<usize>,
    /// G learning rate, in (0, 1] (default 0.0025).
    #[arg(long, allow_negative_numbers = true)]
    glr: Option<f64>,
    /// D learning rate, in (0, 1] (default 0.0025 for stylegan2, 0.002 for stylegan3 as `train.py`).
    #[arg(long, allow_negative_numbers = true)]
    dlr: Option<f64>,
    /// Random seed (default 0; a resume keeps the snapshot's).
    #[arg(long)]
    seed: Option<u32>,
    /// Evaluate each snapshot with these metrics (as `stylegan metrics`, e.g. fid2k_full,
    /// ppl2_wend): `metric-*.jsonl` lines and a plot per metric in the run directory.
    #[arg(long)]
    pub(crate) metrics: Option<String>,
    /// Fakes grid COLSxROWS (at most 1024 images and 64 megapixels).
    #[arg(long, default_value = "8x4")]
    grid: String,
    /// Extra text for the run directory name (letters, digits, '-', '_', '.').
    #[arg(long)]
    desc: Option<String>,
    /// pggan/stylegan1: thousands of images per stable phase and per fade-in of progressive
    /// growing (official 600 each).
    #[arg(long, allow_negative_numbers = true)]
    lod_kimg: Option<f64>,
    /// pggan/stylegan1: the resolution growing starts from (official 4 / 8).
    #[arg(long)]
    lod_initial: Option<usize>,
    /// pggan/stylegan1: half-life of Gs (the sampled generator) in thousands of images
    /// (official: PGGAN β 0.999 per minibatch, StyleGAN v1 10 kimg); short runs want a few kimg.
    #[arg(long, allow_negative_numbers = true)]
    ema_kimg: Option<f64>,
    /// cpu or gpu.
    #[arg(long, value_enum, default_value_t = crate::args::DeviceArg::Cpu)]
    device: crate::args::DeviceArg,
}

mod progressive;

/// Longest run: 10^9 kimg (10^12 images) keeps every image count exact in the log and names.
const MAX_KIMG: f64 = 1e9;
/// Largest fakes grid: the official grid is at most 32x32 images ...
const MAX_GRID_IMAGES: usize = 1024;
/// ... and the grid PNG at most 64 megapixels (192 MB of RGB in memory).
const MAX_GRID_PIXELS: usize = 1 << 26;
/// Network shape limits: channel_base, channel_max, mapping depth, latent size, mbstd group.
const MAX_CBASE: usize = 1 << 24;
const MAX_CMAX: usize = 4096;
const MAX_MAP: usize = 64;
const MAX_LATENT: usize = 4096;
const MAX_MBSTD: usize = 4096;

/// `--desc` becomes part of a directory name: letters, digits, '-', '_' and '.', not `.`/`..`.
fn check_desc(d: &str) -> Result<()> {
    let ok = !d.is_empty()
        && d.len() <= 100
        && d != "."
        && d != ".."
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        bail!(
            "--desc must be 1 to 100 letters, digits, '-', '_' or '.' (no path separators, \
             not '.' or '..'), got {d:?}"
        );
    }
    Ok(())
}

/// Every flag that needs no data set: finite and in range, before anything is read or made.
fn check_flags(a: &Args) -> Result<()> {
    if let Some(b) = a.batch {
        crate::args::count("--batch", b, 1, MAX_BATCH)?;
        // D's minibatch-stddev layer splits the batch into groups of min(group, batch).
        let g = a.mbstd_group.unwrap_or(4).min(b);
        if g > 0 && b % g != 0 {
            bail!(
                "--batch {b} is not divisible by the minibatch-std group size {g} (--mbstd-group)"
            );
        }
    }
    crate::args::count("--snap", a.snap, 1, 1_000_000)?;
    if a.outdir.exists() && !a.outdir.is_dir() {
        bail!("--outdir {}: not a folder", a.outdir.display());
    }
    if let Some(g) = a.gamma {
        crate::args::range("--gamma", g, 0.0, false, f64::INFINITY)?;
    }
    crate::args::range("--kimg", a.kimg, 0.0, true, MAX_KIMG)?;
    crate::args::range("--tick", a.tick, 0.0, true, MAX_KIMG)?;
    for (flag, v) in [("--p", a.p), ("--target", a.target)] {
        if let Some(v) = v {
            crate::args::range(flag, v, 0.0, false, 1.0)?;
        }
    }
    if let Some(k) = a.ada_kimg {
        crate::args::range("--ada-kimg", k, 0.0, true, MAX_KIMG)?;
    }
    for (flag, v) in [("--glr", a.glr), ("--dlr", a.dlr)] {
        if let Some(v) = v {
            crate::args::range(flag, v, 0.0, true, MAX_LEARNING_RATE)?;
        }
    }
    let shape = [
        ("--cbase", a.cbase, MAX_CBASE),
        ("--cmax", a.cmax, MAX_CMAX),
        ("--map", a.map, MAX_MAP),
        ("--latent-dim", a.latent_dim, MAX_LATENT),
        ("--mbstd-group", a.mbstd_group, MAX_MBSTD),
    ];
    for (flag, v, hi) in shape {
        if let Some(v) = v {
            crate::args::count(flag, v, 1, hi)?;
        }
    }
    if let Some(d) = &a.desc {
        check_desc(d)?;
    }
    if a.force && a.resume.is_none() {
        bail!("--force only applies to --resume");
    }
    Ok(())
}

/// The `--grid` size, within the limits for `res`² images.
fn check_grid(grid: &str, res: usize) -> Result<(usize, usize)> {
    let (cols, rows) = crate::args::parse_grid(grid).context("--grid")?;
    let images = cols.saturating_mul(rows);
    let pixels = images.saturating_mul(res * res);
    if images > MAX_GRID_IMAGES || pixels > MAX_GRID_PIXELS {
        bail!(
            "--grid {grid}: {images} images of {res}x{res} ({:.1} megapixels); the fakes grid is \
             limited to {MAX_GRID_IMAGES} images and {} megapixels",
            pixels as f64 / 1e6,
            MAX_GRID_PIXELS >> 20
        );
    }
    Ok((cols, rows))
}

/// The flag that sets a training option (for errors about options that differ on resume).
fn flag_of(field: &str) -> &'static str {
    match field {
        "batch" | "ema_kimg" | "blur_fade_kimg" => "--batch",
        "r1_gamma" => "--gamma",
        "glr" => "--glr",
        "dlr" => "--dlr",
        "mirror" => "--mirror",
        "aug" => "--aug/--p/--target",
        "ada_kimg" => "--ada-kimg",
        "cond" => "--cond",
        "freeze_d" => "--freeze-d",
        "freeze_mapping" => "--freeze-mapping",
        "freeze_affine" => "--freeze-affine",
        "seed" => "--seed",
        _ => "--cfg",
    }
}

/// What the network being resumed or fine-tuned has, against the shape flags given.
fn check_network_flags(a: &Args, info: &StartInfo) -> Result<()> {
    let g = &info.g_kwargs;
    let d = info.d_kwargs.as_ref();
    let num = |v: Option<&Value>| v.and_then(Value::as_u64).map(|v| v as usize);
    let has = [
        (
            "--cbase",
            a.cbase,
            d.and_then(|d| num(d.get("channel_base"))),
            "channel_base",
        ),
        (
            "--cmax",
            a.cmax,
            d.and_then(|d| num(d.get("channel_max"))),
            "channel_max",
        ),
        (
            "--map",
            a.map,
            num(g.pointer("/mapping_kwargs/num_layers")),
            "mapping layers",
        ),
        ("--latent-dim", a.latent_dim, num(g.get("z_dim")), "z_dim"),
        (
            "--mbstd-group",
            a.mbstd_group,
            d.and_then(|d| num(d.pointer("/epilogue_kwargs/mbstd_group_size"))),
            "mbstd_group_size",
        ),
    ];
    for (flag, given, found, what) in has {
        if let (Some(v), Some(f)) = (given, found) {
            if v != f {
                bail!(
                    "{flag} {v} does not match {}, whose {what} is {f}: a network's shape cannot \
                     change when it is resumed or fine-tuned (omit {flag})",
                    info.file.display()
                );
            }
        }
    }
    Ok(())
}

/// The training options: the snapshot's on resume (with the flags given over them), else the
/// recipe of `--cfg` with the flags; and the options given that differ from the snapshot's.
fn train_options(
    a: &Args,
    cfg: TrainConfig,
    snap: Option<&SnapshotState>,
) -> Result<(TrainOptions, Vec<(String, Value, Value)>)> {
    let recorded = snap.and_then(|s| s.options.clone());
    let batch = match (a.batch, &recorded, snap) {
        (Some(b), _, _) => b,
        (None, Some(r), _) => r.batch,
        (None, None, Some(s)) => s.batch,
        (None, None, None) => bail!("--batch is required unless resuming a training snapshot"),
    };
    let recipe = TrainOptions::for_cfg(cfg, batch);
    let mut o = match &recorded {
        Some(r) => r.clone(),
        None => TrainOptions {
            r1_gamma: a.gamma.context(
                "--gamma is required: the network or snapshot does not record the run's options",
            )?,
            glr: 0.0025,
            aug: AugMode::Ada { target: 0.6 },
            ada_kimg: 500.0,
            seed: snap.map(|s| s.seed).unwrap_or(0),
            ..recipe.clone()
        },
    };
    if o.batch != batch {
        o.batch = batch;
        o.ema_kimg = recipe.ema_kimg;
        o.blur_fade_kimg = recipe.blur_fade_kimg;
    }
    if let Some(g) = a.gamma {
        o.r1_gamma = g;
    }
    o.glr = a.glr.unwrap_or(o.glr);
    o.dlr = a.dlr.unwrap_or(o.dlr);
    o.ada_kimg = a.ada_kimg.unwrap_or(o.ada_kimg);
    let (old_target, old_p) = match o.aug {
        AugMode::Ada { target } => (target, 0.2),
        AugMode::Fixed { p } => (0.6, p),
        AugMode::NoAug => (0.6, 0.2),
    };
    let kind = match (a.aug, o.aug) {
        (Some(k), _) => k,
        (None, AugMode::Ada { .. }) => AugArg::Ada,
        (None, AugMode::Fixed { .. }) => AugArg::Fixed,
        (None, AugMode::NoAug) => AugArg::Noaug,
    };
    if a.target.is_some() && kind != AugArg::Ada {
        bail!("--target only applies to --aug ada");
    }
    if a.p.is_some() && kind != AugArg::Fixed {
        bail!("--p only applies to --aug fixed");
    }
    o.aug = match kind {
        AugArg::Ada => AugMode::Ada {
            target: a.target.unwrap_or(old_target),
        },
        AugArg::Noaug => AugMode::NoAug,
        AugArg::Fixed => AugMode::Fixed {
            p: a.p.unwrap_or(old_p),
        },
    };
    o.mirror |= a.mirror;
    o.cond |= a.cond;
    o.freeze_mapping |= a.freeze_mapping;
    o.freeze_affine |= a.freeze_affine;
    o.freeze_d = a.freeze_d.unwrap_or(o.freeze_d);
    o.seed = a.seed.unwrap_or(o.seed);
    let mut diffs = match &recorded {
        Some(r) => o.differences(r),
        None => Vec::new(),
    };
    if let Some(s) = snap {
        if recorded.is_none() && s.batch != o.batch {
            diffs.push(("batch".into(), json!(s.batch), json!(o.batch)));
        }
        if s.seed != o.seed {
            bail!(
                "--seed {}: the snapshot was trained with seed {}; a resume keeps its seed (omit --seed)",
                o.seed,
                s.seed
            );
        }
    }
    Ok((o, diffs))
}

struct Bar<'a> {
    pb: indicatif::ProgressBar,
    metrics: Option<SnapshotMetrics<'a>>,
}

/// `--metrics`: what each snapshot is evaluated with.
struct SnapshotMetrics<'a> {
    metrics: Vec<stylegan::metrics::calc::Metric>,
    classifier: Option<stylegan::attributes::AttributeClassifier>,
    /// The reals' statistics, on disk and kept in memory between snapshots.
    cache: stylegan::metrics::features::StatsCache,
    net: stylegan::metrics::inception::Inception,
    sha: String,
    data: &'a Dataset,
    mirror: bool,
    dir: PathBuf,
}

impl SnapshotMetrics<'_> {
    /// Evaluate the snapshot's G_ema: `metric-*.jsonl` lines and plots in the run directory.
    fn evaluate(&self, path: &Path, say: &dyn Fn(String)) -> Result<()> {
        use stylegan::metrics::calc::{plot_history, Evaluation};
        let g = stylegan::models::Generator::load(path, &stylegan::backend::cpu())?;
        let generated = stylegan::metrics::features::StatsCache::in_memory();
        let e = Evaluation {
            net: Some(&self.net),
            detector_sha256: self.sha.clone(),
            generator: &g,
            data: Some(self.data),
            classifier: self.classifier.as_ref(),
            mirror: self.mirror,
            psi: 1.0,
            seed: 0,
            cache: Some(&self.cache),
            generated: Some(&generated),
        };
        let snapshot = super::metrics::file_name(path);
        for m in &self.metrics {
            let r = super::metrics::calc_and_record(
                &e,
                m,
                &self.dir,
                &snapshot,
                &stylegan::data::NoProgress,
            )?;
            for (k, v) in &r.results {
                say(format!("{k} {v:.4} ({:.0} s)", r.total_time));
                plot_history(&self.dir, &r.name, k)?;
            }
        }
        Ok(())
    }
}

impl Observer for Bar<'_> {
    fn step(&self, cur: u64, total: u64, st: &StepStats) {
        // The last minibatch may pass the --kimg total (as in the official loop): the bar
        // grows with it instead of showing more images than its length.
        self.pb.set_length(total.max(cur));
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
        if let Some(m) = &self.metrics {
            // A failed evaluation is reported; the training goes on.
            if let Err(e) = m.evaluate(path, &|line| self.say(line)) {
                self.say(format!("metrics of {}: {e:#}", path.display()));
            }
        }
    }
}

impl Bar<'_> {
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
    if let Some(recipe) = progressive::recipe_of(&a)? {
        return progressive::run(a, recipe);
    }
    let Ok(cfg) = a.cfg.kind() else {
        bail!(
            "--cfg {}: not a StyleGAN2/3 configuration",
            crate::args::value_name(&a.cfg)
        );
    };
    let cfg_name = crate::args::value_name(&a.cfg);
    if a.resume.is_none() && (a.batch.is_none() || a.gamma.is_none()) {
        bail!(
            "a new {cfg_name} run needs --batch (the total batch size) and --gamma (the R1 weight)"
        );
    }
    if a.lod_kimg.is_some() || a.lod_initial.is_some() || a.ema_kimg.is_some() {
        bail!(
            "--lod-kimg, --lod-initial and --ema-kimg apply to progressive growing (--cfg \
             pggan|stylegan1)"
        );
    }
    check_flags(&a)?;
    let info = match &a.resume {
        Some(r) => Some(inspect_start(r).with_context(|| format!("--resume {}", r.display()))?),
        None => None,
    };
    if let Some(info) = &info {
        check_network_flags(&a, info)?;
    }
    let snap = info.as_ref().and_then(|i| i.snapshot.as_ref());
    let device = crate::cmd::device(&a.device)?;
    eprintln!("loading {}", a.data.display());
    let data = Dataset::open(&a.data)
        .with_context(|| format!("reading the data set {}", a.data.display()))?;
    let (opts, mut diffs) = train_options(&a, cfg, snap)?;
    if opts.cond && !data.has_labels() {
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
    let res = data.resolution();
    let blocks = res.trailing_zeros() as usize - 1;
    if opts.freeze_d > blocks {
        bail!(
            "--freeze-d {}: a {res}x{res} discriminator has {blocks} blocks (b{res} down to b4); \
             freeze at most {blocks}",
            opts.freeze_d
        );
    }
    let (cols, rows) = check_grid(&a.grid, res)?;
    // The network's width: the resumed one's, else the flags'.
    let d_num = |k: &str| {
        info.as_ref()
            .and_then(|i| i.d_kwargs.as_ref())
            .and_then(|d| d.get(k))
            .and_then(Value::as_u64)
            .map(|v| v as usize)
    };
    let cbase = a.cbase.or(d_num("channel_base")).unwrap_or(32768);
    let cmax = a.cmax.or(d_num("channel_max")).unwrap_or(512);
    if let Some(avail) = available_memory() {
        let need = training_bytes_per_image(res, cbase, cmax).saturating_mul(opts.batch as u64);
        if need > avail {
            bail!(
                "--batch {}: training {res}x{res} images (channel_base {cbase}, channel_max {cmax}) \
                 needs at least {:.1} GiB for the activations, but {:.1} GiB of memory are \
                 available; lower --batch",
                opts.batch,
                need as f64 / GIB,
                avail as f64 / GIB
            );
        }
    }
    if let Some(fp) = snap.and_then(|s| s.data_fingerprint.as_ref()) {
        let here = data_fingerprint(&data);
        if &here != fp {
            diffs.push(("data".into(), json!(fp), json!(here)));
        }
    }
    if !diffs.is_empty() {
        let flag = |f: &str| if f == "data" { "--data" } else { flag_of(f) };
        let lines: Vec<String> = diffs
            .iter()
            .map(|(f, old, new)| {
                format!("  {} ({f}): the snapshot has {old}, given {new}", flag(f))
            })
            .collect();
        if !a.force {
            bail!(
                "--resume: these options differ from the snapshot's, so the run would not continue \
                 exactly:\n{}\nrepeat the run's values (or omit them: a resume takes the \
                 snapshot's), or pass --force to continue with the given ones (recorded in \
                 training_options.json)",
                lines.join("\n")
            );
        }
        eprintln!(
            "--force: continuing with options that differ from the snapshot's:\n{}",
            lines.join("\n")
        );
    }
    let batch = opts.batch;
    let gamma = opts.r1_gamma;
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
        "{stem}-{}-gpus1-batch{batch}-gamma{gamma}{}",
        cfg_name,
        a.desc.as_ref().map(|d| format!("-{d}")).unwrap_or_default()
    );

    let network = match &a.resume {
        Some(_) => None,
        None => {
            let mut net = NetworkOptions::for_cfg(
                cfg,
                res,
                data.channels(),
                if opts.cond { data.label_dim() } else { 0 },
                batch,
            );
            net.channel_base = cbase;
            net.channel_max = cmax;
            net.map_layers = a.map.unwrap_or(cfg.default_map());
            net.latent_dim = a.latent_dim.unwrap_or(512);
            net.mbstd_group = a.mbstd_group.unwrap_or(4);
            Some(net)
        }
    };
    let start = match (&a.resume, &network) {
        (Some(r), _) => Start::From(r),
        (None, Some(net)) => Start::New {
            network: net,
            seed: opts.seed,
        },
        (None, None) => unreachable!("a network is built when there is nothing to resume"),
    };
    let Started {
        trainer,
        dir,
        begun,
        notes,
    } = start_run(start, cfg, opts.clone(), &data, &a.outdir, &desc, &device).with_context(
        || match &a.resume {
            Some(r) => format!("--resume {} with --cfg {cfg_name}", r.display()),
            None => format!("--cfg {cfg_name}"),
        },
    )?;
    for n in &notes {
        eprintln!("{n}");
    }
    let in_place = match &begun {
        Begun::Resumed { snapshot } => {
            eprintln!(
                "resuming {} at {:.3} kimg in {}",
                snapshot.display(),
                trainer.cur_nimg as f64 / 1000.0,
                dir.display()
            );
            snapshot.parent().and_then(|p| p.canonicalize().ok()) == dir.canonicalize().ok()
        }
        Begun::FineTuned { network } => {
            eprintln!(
                "fine-tuning from {} in {}",
                network.display(),
                dir.display()
            );
            false
        }
        Begun::New => {
            eprintln!("new run in {}", dir.display());
            false
        }
    };
    let o = &trainer.opts;
    let aug_name = match o.aug {
        AugMode::Ada { .. } => "ada",
        AugMode::Fixed { .. } => "fixed",
        AugMode::NoAug => "noaug",
    };
    let (p, target) = match o.aug {
        AugMode::Ada { target } => (None, Some(target)),
        AugMode::Fixed { p } => (Some(p), None),
        AugMode::NoAug => (None, None),
    };
    let forced: serde_json::Map<String, Value> = diffs
        .iter()
        .map(|(f, old, new)| (f.clone(), json!({"snapshot": old, "given": new})))
        .collect();
    let options_path = dir.join("training_options.json");
    let earlier: Option<Value> = in_place
        .then(|| std::fs::read_to_string(&options_path).ok())
        .flatten()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(Value::is_object);
    let options = match earlier {
        // Resuming in place: the run's options stay; the resume is appended to its record.
        Some(mut earlier) => {
            let entry = json!({
                "snapshot": begun_path(&begun), "at_kimg": trainer.cur_nimg as f64 / 1000.0,
                "kimg": a.kimg, "tick": a.tick, "snap": a.snap,
                "forced": (!forced.is_empty()).then_some(&forced),
            });
            match earlier.get_mut("resumes").and_then(Value::as_array_mut) {
                Some(list) => list.push(entry),
                None => earlier["resumes"] = json!([entry]),
            }
            earlier
        }
        None => json!({
            "data": a.data.display().to_string(),
            "cfg": cfg_name, "batch": o.batch, "gamma": o.r1_gamma, "kimg": a.kimg, "tick": a.tick,
            "snap": a.snap, "mirror": o.mirror, "cond": o.cond, "aug": aug_name, "p": p,
            "target": target, "ada_kimg": o.ada_kimg, "freeze_d": o.freeze_d,
            "freeze_mapping": o.freeze_mapping, "freeze_affine": o.freeze_affine,
            "glr": o.glr, "dlr": o.dlr, "seed": o.seed,
            "resume": a.resume.as_ref().map(|p| p.display().to_string()),
            "resumed_from": begun_path(&begun),
            "forced": (!forced.is_empty()).then_some(&forced),
            "G_kwargs": trainer.g.init_kwargs, "D_kwargs": trainer.d.init_kwargs,
            "options": o.record(),
        }),
    };
    stylegan::io::atomic_write(
        &options_path,
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
    let metrics = match &a.metrics {
        None => None,
        Some(list) => {
            let metrics = list
                .split(',')
                .map(|m| m.trim().parse::<stylegan::metrics::calc::Metric>())
                .collect::<Result<Vec<_>, _>>()
                .context("--metrics")?;
            let (net, sha) =
                stylegan::metrics::assets::load_inception_with_hash(&stylegan::backend::cpu())?;
            // Linear separability judges with the bundled attribute classifier.
            let classifier = if metrics
                .iter()
                .any(|m| m.kind == stylegan::metrics::calc::Kind::Ls)
            {
                Some(super::classifier(&None)?)
            } else {
                None
            };
            Some(SnapshotMetrics {
                metrics,
                net,
                classifier,
                cache: stylegan::metrics::features::StatsCache::on_disk(
                    stylegan::metrics::features::StatsCache::default_dir(),
                ),
                sha,
                data: &data,
                mirror: run.trainer.opts.mirror,
                dir: run.dir.clone(),
            })
        }
    };
    let result = run.run(
        &data,
        &Bar {
            pb: pb.clone(),
            metrics,
        },
    );
    pb.finish_and_clear();
    result?;
    eprintln!(
        "done: {:.3} kimg in {}",
        run.trainer.cur_nimg as f64 / 1000.0,
        run.dir.display()
    );
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// The snapshot or network a run began from, as text (`None` for a new network).
fn begun_path(b: &Begun) -> Option<String> {
    match b {
        Begun::Resumed { snapshot } => Some(snapshot.display().to_string()),
        Begun::FineTuned { network } => Some(network.display().to_string()),
        Begun::New => None,
    }
}
