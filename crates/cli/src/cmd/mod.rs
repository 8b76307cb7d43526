pub mod assets;
pub mod bench;
pub mod classifier;
pub mod convert;
pub mod dataset;
pub mod directions;
pub mod edit;
pub mod evaluate;
pub mod features;
pub mod generate;
pub mod info;
pub mod init;
pub mod inspect;
pub mod metrics;
pub mod mix;
pub mod project;
pub mod pti;
pub mod train;
pub mod video;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Result};
use stylegan::{Device, DeviceKind};

/// The bundled demo model's file name (a 32×32 facesjs face generator trained by this
/// project; see README), looked for in [`stylegan::convert::default_base_dirs`]
/// (`$STYLEGAN_MODELS`, beside the executable, then the build checkout's `models/`).
pub const DEMO_MODEL: &str = "faces32.safetensors";
/// The bundled attribute classifier of the demo model's faces (linear separability's default).
pub const DEMO_CLASSIFIER: &str = "faces32-attributes.safetensors";

/// `--classifier`, or the bundled one when it is absent.
pub fn classifier(given: &Option<PathBuf>) -> Result<stylegan::attributes::AttributeClassifier> {
    let path = match given {
        Some(p) => p.clone(),
        None => bundled_model(DEMO_CLASSIFIER)
            .map_err(|e| anyhow::anyhow!("no --classifier given, and {e}"))?,
    };
    Ok(stylegan::attributes::AttributeClassifier::load(
        &path,
        &stylegan::backend::cpu(),
    )?)
}

/// The bundled model `name` (e.g. `faces32.safetensors`): the first of
/// [`stylegan::convert::default_base_dirs`] that holds it, or an error listing where it was
/// looked for.
pub fn bundled_model(name: &str) -> Result<PathBuf> {
    let dirs = stylegan::convert::default_base_dirs();
    if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return Ok(p);
    }
    bail!(
        "the bundled model {name} is not in any of {} (set STYLEGAN_MODELS to the folder that \
         holds it, or pass --network FILE)",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `--network`, or the bundled demo model when it is absent.
pub fn network(given: &Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.clone()),
        None => {
            bundled_model(DEMO_MODEL).map_err(|e| anyhow::anyhow!("no --network given, and {e}"))
        }
    }
}

/// `--device cpu|gpu` → a burn device.
pub fn device(kind: &crate::args::DeviceArg) -> Result<Device> {
    Ok(stylegan::device(DeviceKind::from(*kind))?)
}

/// A progress report for `n` items: an indicatif bar on a terminal; where stderr is a file or
/// a pipe (a logged or backgrounded run), a plain line every [`plain_interval`] and one when
/// the work ends. Jobs of four items or fewer show nothing.
pub fn progress(n: usize, what: &str) -> Progress {
    use std::io::IsTerminal;
    let plain = !std::io::stderr().is_terminal();
    let bar = if n <= 4 || plain {
        indicatif::ProgressBar::hidden()
    } else {
        let pb = indicatif::ProgressBar::new(n as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    };
    Progress {
        bar,
        plain: (plain && n > 4).then(|| {
            std::sync::Mutex::new(Plain {
                what: what.to_string(),
                msg: String::new(),
                pos: 0,
                len: n as u64,
                start: std::time::Instant::now(),
                last: std::time::Instant::now(),
            })
        }),
    }
}

/// How often a plain progress line is printed: `STYLEGAN_PROGRESS_SECS` (default 10 s).
pub fn plain_interval() -> std::time::Duration {
    let secs = std::env::var("STYLEGAN_PROGRESS_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(10.0);
    std::time::Duration::from_secs_f64(secs)
}

/// See [`progress`].
pub struct Progress {
    bar: indicatif::ProgressBar,
    plain: Option<std::sync::Mutex<Plain>>,
}

struct Plain {
    what: String,
    msg: String,
    pos: u64,
    len: u64,
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Plain {
    fn line(&self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let pct = 100.0 * self.pos as f64 / self.len.max(1) as f64;
        let rate = self.pos as f64 / secs.max(1e-9);
        let eta = if self.pos > 0 && self.pos < self.len {
            format!(
                ", eta {:.0} s",
                (self.len.saturating_sub(self.pos)) as f64 / rate
            )
        } else {
            String::new()
        };
        let msg = if self.msg.is_empty() || self.msg == self.what {
            String::new()
        } else {
            format!(" ({})", self.msg)
        };
        format!(
            "{}: {}/{} ({pct:.0}%) after {secs:.0} s{eta}{msg}",
            self.what, self.pos, self.len
        )
    }
}

impl Progress {
    fn update(&self, f: impl FnOnce(&mut Plain)) {
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut p);
            if p.last.elapsed() >= plain_interval() {
                p.last = std::time::Instant::now();
                eprintln!("{}", p.line());
            }
        }
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.update(|p| p.pos += n);
    }

    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.update(|p| p.pos = pos);
    }

    pub fn set_message(&self, msg: String) {
        if let Some(p) = &self.plain {
            p.lock().unwrap_or_else(|e| e.into_inner()).msg = msg.clone();
        }
        self.bar.set_message(msg);
    }

    /// True when no bar is drawn (plain lines or nothing).
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// A line printed above the bar (or plainly).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.bar.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line.as_ref());
        }
    }

    /// The work is over: the bar goes; a plain report prints its last line.
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
        if let Some(p) = &self.plain {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            eprintln!("{}", p.line());
        }
    }
}

/// The latent named by `--seed…` or `--latent…` (a `stylegan project` output) for `g`
/// ([`stylegan::invert::LatentSource`]), with `what` in the errors.
pub fn pick_latent(
    g: &stylegan::models::Generator,
    seed: Option<u32>,
    latent: Option<&std::path::Path>,
    trunc: f64,
    what: &str,
) -> Result<stylegan::invert::Sourced> {
    use anyhow::Context;
    let source = stylegan::invert::LatentSource::either(seed, latent, what)?;
    source.resolve(g, trunc).with_context(|| match &source {
        stylegan::invert::LatentSource::Projection(p) => {
            format!("{what}: reading the projection {}", p.display())
        }
        stylegan::invert::LatentSource::Seed(s) => format!("{what}: seed {s}"),
    })
}

/// The latent distribution of `g` ([`stylegan::invert::latent_stats`]) with a progress report.
pub fn latent_stats(
    g: &stylegan::models::Generator,
    samples: usize,
    class: Option<usize>,
) -> Result<stylegan::invert::LatentStats> {
    let pb = progress(samples, "measuring the latent distribution");
    let stats = stylegan::invert::latent_stats_with_progress(
        g,
        samples,
        stylegan::invert::stats::STATS_SEED,
        class,
        &mut |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    Ok(stats)
}

/// Warnings printed as they come before the summary takes over.
const WARN_LIMIT: usize = 10;

/// The library's progress reports as an indicatif bar.
pub(crate) struct Bar {
    bar: Mutex<Option<Progress>>,
    warnings: AtomicUsize,
}

impl Bar {
    pub(crate) fn new() -> Self {
        Bar {
            bar: Mutex::new(None),
            warnings: AtomicUsize::new(0),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

impl stylegan::data::Progress for Bar {
    fn start(&self, stage: &str, total: usize) {
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bar.take() {
            b.finish_and_clear();
        }
        *bar = Some(progress(total, stage));
    }

    fn advance(&self, n: usize) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b.inc(n as u64);
        }
    }

    fn note(&self, msg: &str) {
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(b) if !b.is_hidden() => b.println(msg),
            _ => eprintln!("{msg}"),
        }
    }

    fn warn(&self, msg: &str) {
        let k = self.warnings.fetch_add(1, Ordering::Relaxed);
        if k >= WARN_LIMIT {
            return;
        }
        let line = if k + 1 == WARN_LIMIT {
            format!("warning: {msg} (further warnings only in the summary)")
        } else {
            format!("warning: {msg}")
        };
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(b) if !b.is_hidden() => b.println(line),
            _ => eprintln!("{line}"),
        }
    }
}
