//! A training run on disk, as the official `training_loop.py` lays it out: a run directory
//! `{outdir}/{NNNNN}-{desc}` with `training_options.json`, `reals.png`, `fakes_init.png`, and
//! every `snap` ticks `network-snapshot-{tag}.safetensors` + `fakes{tag}.png`, plus a
//! JSON-lines log of each tick (`log.jsonl`, the counterpart of `stats.jsonl`).
//!
//! The tag is the image count: `{kimg:06}` (official) when it is a whole number of kimg, else
//! `{kimg:06}.{rest:03}` (e.g. `000000.016` after 16 images), so two snapshots of one run never
//! share a name, and a snapshot is never overwritten (writing over one is refused).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use serde_json::{json, Value};

use super::data::TrainingData;
use super::trainer::{StepStats, Trainer};
use crate::error::{Error, Result};
use crate::io::image::{grid, Image8};
use crate::latent::RandomState;
use crate::models::NoiseMode;

/// Length and bookkeeping of a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Stop when this many thousand reals have been shown (in total, across resumes).
    pub kimg: f64,
    /// Thousands of images per tick (official 4).
    pub tick_kimg: f64,
    /// Snapshot every this many ticks (official 50).
    pub snap_ticks: usize,
    /// Fakes grid size (columns, rows).
    pub grid: (usize, usize),
}

/// What a run reports while it goes (the CLI draws it).
pub trait Observer {
    /// After every minibatch.
    fn step(&self, _cur_nimg: u64, _total_nimg: u64, _stats: &StepStats) {}
    /// After every tick, with its log line.
    fn tick(&self, _line: &Value) {}
    /// After a snapshot is written.
    fn snapshot(&self, _path: &Path) {}
}

/// The next free `{NNNNN}-{desc}` directory under `outdir` (created).
pub fn new_run_dir(outdir: &Path, desc: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(outdir).map_err(|e| Error::io(outdir, e))?;
    let mut next = 0;
    for entry in std::fs::read_dir(outdir)
        .map_err(|e| Error::io(outdir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(n) = name.split('-').next().and_then(|s| s.parse::<usize>().ok()) {
            next = next.max(n + 1);
        }
    }
    let dir = outdir.join(format!("{next:05}-{desc}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// The tag of a snapshot after `nimg` images: `{kimg:06}`, or `{kimg:06}.{rest:03}` when
/// `nimg` is not a whole number of kimg (unique per image count).
pub fn snapshot_tag(nimg: u64) -> String {
    match nimg % 1000 {
        0 => format!("{:06}", nimg / 1000),
        rest => format!("{:06}.{rest:03}", nimg / 1000),
    }
}

/// The image count of a snapshot file name written with [`snapshot_tag`]
/// (`network-snapshot-{tag}.safetensors`); `None` for other names.
pub fn snapshot_nimg(file_name: &str) -> Option<u64> {
    let tag = file_name
        .strip_prefix("network-snapshot-")?
        .strip_suffix(".safetensors")?;
    let (kimg, rest) = match tag.split_once('.') {
        Some((k, r)) if r.len() == 3 => (k, r.parse::<u64>().ok()?),
        Some(_) => return None,
        None => (tag, 0),
    };
    if kimg.is_empty() || !kimg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    kimg.parse::<u64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(rest)
}

/// Every `network-snapshot-*.safetensors` in `dir` with its image count, by image count.
pub fn snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .filter_map(|e| {
            let n = snapshot_nimg(&e.file_name().to_string_lossy())?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The latest `network-snapshot-*.safetensors` in `dir` (by the image count in its name).
pub fn latest_snapshot(dir: &Path) -> Result<PathBuf> {
    snapshots(dir)?.pop().map(|(_, p)| p).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: no network-snapshot-*.safetensors to resume from",
            dir.display()
        ))
    })
}

/// Drop the lines of `dir/log.jsonl` past `nimg` images (ticks logged after the snapshot a run
/// resumes from, and a line cut short by a kill), so the resumed run's ticks follow on in order.
/// Returns how many lines were dropped.
pub fn trim_log(dir: &Path, nimg: u64) -> Result<usize> {
    let path = dir.join("log.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut kept = String::new();
    let mut dropped = 0;
    for line in text.lines() {
        let line_nimg = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("kimg").and_then(Value::as_f64))
            .map(|k| (k * 1000.0).round() as u64);
        match line_nimg {
            Some(n) if n <= nimg => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => dropped += 1,
        }
    }
    if dropped > 0 {
        crate::io::atomic_write(&path, kept.as_bytes())?;
    }
    Ok(dropped)
}

/// A fingerprint of a data set's contents (count, shape, every image byte and label):
/// FNV-1a 64 as hex. Snapshots record it so a resume on other data is caught.
pub fn data_fingerprint(data: &dyn TrainingData) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for v in [
        data.len(),
        data.resolution(),
        data.channels(),
        data.label_dim(),
    ] {
        eat(&(v as u64).to_le_bytes());
    }
    for i in 0..data.len() {
        eat(data.image(i));
        if data.label_dim() > 0 {
            for l in data.label(i) {
                eat(&l.to_le_bytes());
            }
        }
    }
    format!(
        "{}x{}x{}x{}:{h:016x}",
        data.len(),
        data.channels(),
        data.resolution(),
        data.resolution()
    )
}

/// Metadata key of the data fingerprint in a snapshot.
pub const DATA_KEY: &str = "train.data_fingerprint";

/// Memory the system can still give this process (Linux `MemAvailable` + `SwapFree`, bytes);
/// `None` where it cannot be read.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("MemAvailable:")? + field("SwapFree:").unwrap_or(0)) * 1024)
}

/// A lower bound of the memory one training image needs: the activations
/// `Σ_r min(channel_base / r, channel_max) · r²` of the StyleGAN2 layout from 4² to the
/// resolution, as float32, times 8 (each layer's input and output in G's and D's forward passes
/// and their gradients, all held for the backward pass). Batches above
/// `available_memory() / training_bytes_per_image(..)` cannot fit.
pub fn training_bytes_per_image(resolution: usize, channel_base: usize, channel_max: usize) -> u64 {
    let mut floats: u64 = 0;
    let mut r = 4usize;
    while r <= resolution.max(4) && r != 0 {
        let c = (channel_base / r).min(channel_max).max(1) as u64;
        floats = floats.saturating_add(c.saturating_mul((r * r) as u64));
        r = r.saturating_mul(2);
    }
    floats.saturating_mul(4 * 8)
}

/// Images `[N, C, R, R]` in [-1, 1] → a `cols × rows` grid.
fn tensor_grid(x: Tensor<4>, cols: usize, rows: usize) -> Result<Image8> {
    grid(&Image8::from_batch(x)?, cols, rows)
}

/// A training run: the trainer, its directory and schedule.
pub struct TrainingRun {
    pub dir: PathBuf,
    pub trainer: Trainer,
    pub opts: RunOptions,
    grid_z: Vec<Vec<f64>>,
    fingerprint: std::cell::OnceCell<String>,
}

impl TrainingRun {
    pub fn new(dir: PathBuf, trainer: Trainer, opts: RunOptions) -> Result<Self> {
        let (cols, rows) = opts.grid;
        if cols == 0 || rows == 0 {
            return Err(Error::InvalidArgument(
                "the fakes grid needs at least 1x1 images".into(),
            ));
        }
        let g = trainer.g_ema()?;
        // Fixed latents for every fakes grid of the run (official: seeded by random_seed).
        let mut rng = RandomState::new(trainer.opts.seed);
        let grid_z = (0..cols * rows)
            .map(|_| rng.randn(g.config.z_dim))
            .collect();
        Ok(Self {
            dir,
            trainer,
            opts,
            grid_z,
            fingerprint: std::cell::OnceCell::new(),
        })
    }

    /// G_ema on the fixed grid latents (const noise, no truncation; the first class when
    /// conditional... labels come from the data set as the official grid does).
    pub fn fakes(&self, data: &dyn TrainingData) -> Result<Image8> {
        let g = self.trainer.g_ema()?;
        let (cols, rows) = self.opts.grid;
        let mut imgs = Vec::new();
        // Batches of 8 keep memory small at any grid size.
        for (k, chunk) in self.grid_z.chunks(8).enumerate() {
            let z = g.z_tensor(chunk)?;
            let c = (g.config.c_dim > 0).then(|| {
                let v: Vec<f32> = (0..chunk.len())
                    .flat_map(|i| data.label((k * 8 + i) * 7919 % data.len()))
                    .collect();
                Tensor::<2>::from_data(
                    TensorData::new(v, [chunk.len(), g.config.c_dim]),
                    g.device(),
                )
            });
            imgs.push(g.generate(z, c, 1.0, None, NoiseMode::Const)?);
        }
        tensor_grid(Tensor::cat(imgs, 0), cols, rows)
    }

    /// A grid of reals (first images of the data set).
    pub fn reals(&self, data: &dyn TrainingData) -> Result<Image8> {
        let (cols, rows) = self.opts.grid;
        let (c, r) = (data.channels(), data.resolution());
        let imgs: Vec<Image8> = (0..cols * rows)
            .map(|i| {
                let px: Vec<f32> = data
                    .image(i % data.len())
                    .iter()
                    .map(|&u| u as f32 / 127.5 - 1.0)
                    .collect();
                Image8::from_chw(&px, c, r, r)
            })
            .collect();
        grid(&imgs, cols, rows)
    }

    /// Snapshot + fakes grid now, named by the image count ([`snapshot_tag`]). An existing
    /// snapshot of that name is never overwritten (an error).
    pub fn snapshot(&self, data: &dyn TrainingData, observer: &dyn Observer) -> Result<PathBuf> {
        let tag = snapshot_tag(self.trainer.cur_nimg);
        let path = self.dir.join(format!("network-snapshot-{tag}.safetensors"));
        if path.exists() {
            return Err(Error::InvalidArgument(format!(
                "{}: a snapshot of this run at {} images exists already; not overwriting it",
                path.display(),
                self.trainer.cur_nimg
            )));
        }
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("train.data".into(), format!("{} images", data.len()));
        meta.insert(
            DATA_KEY.into(),
            self.fingerprint
                .get_or_init(|| data_fingerprint(data))
                .clone(),
        );
        self.trainer.save(&path, &meta)?;
        self.fakes(data)?
            .save_png(&self.dir.join(format!("fakes{tag}.png")))?;
        observer.snapshot(&path);
        Ok(path)
    }

    fn log(&self, line: &Value) -> Result<()> {
        let path = self.dir.join("log.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        writeln!(f, "{line}").map_err(|e| Error::io(&path, e))
    }

    /// Train until `kimg`, logging every tick and snapshotting every `snap_ticks` ticks and at
    /// the end. Writes `reals.png` / `fakes_init.png` when the run is fresh.
    pub fn run(&mut self, data: &dyn TrainingData, observer: &dyn Observer) -> Result<()> {
        if self.trainer.cur_nimg == 0 {
            self.reals(data)?.save_png(&self.dir.join("reals.png"))?;
            self.fakes(data)?
                .save_png(&self.dir.join("fakes_init.png"))?;
        }
        let total = (self.opts.kimg * 1000.0).round() as u64;
        let tick_nimg = ((self.opts.tick_kimg * 1000.0).round() as u64).max(1);
        let mut tick = self.trainer.cur_nimg / tick_nimg;
        let mut tick_start = (Instant::now(), self.trainer.cur_nimg);
        let mut sums: Vec<(f64, usize)> = vec![(0.0, 0); 5];
        while self.trainer.cur_nimg < total {
            let st = self.trainer.step(data)?;
            for (s, v) in sums.iter_mut().zip([
                st.loss_g,
                st.loss_d_real,
                st.loss_d_gen,
                st.r1_penalty,
                st.pl_penalty,
            ]) {
                if v.is_finite() {
                    s.0 += v;
                    s.1 += 1;
                }
            }
            observer.step(self.trainer.cur_nimg, total, &st);
            let done = self.trainer.cur_nimg >= total;
            if self.trainer.cur_nimg / tick_nimg > tick || done {
                tick = self.trainer.cur_nimg / tick_nimg;
                let secs = tick_start.0.elapsed().as_secs_f64();
                let shown = (self.trainer.cur_nimg - tick_start.1) as f64;
                let mean = |i: usize| (sums[i].1 > 0).then(|| sums[i].0 / sums[i].1 as f64);
                let line = json!({
                    "tick": tick,
                    "kimg": self.trainer.cur_nimg as f64 / 1000.0,
                    "sec_per_tick": secs,
                    "sec_per_kimg": secs / (shown / 1000.0).max(1e-9),
                    "loss_g": mean(0), "loss_d_real": mean(1), "loss_d_gen": mean(2),
                    "r1_penalty": mean(3), "pl_penalty": mean(4),
                    "pl_mean": self.trainer.pl_mean, "ada_p": self.trainer.ada_p,
                    "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                });
                self.log(&line)?;
                observer.tick(&line);
                if done
                    || (self.opts.snap_ticks > 0
                        && tick.is_multiple_of(self.opts.snap_ticks as u64))
                {
                    self.snapshot(data, observer)?;
                }
                tick_start = (Instant::now(), self.trainer.cur_nimg);
                sums = vec![(0.0, 0); 5];
            }
        }
        Ok(())
    }
}
