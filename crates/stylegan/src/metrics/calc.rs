//! The official metrics by name (`metric_main.py`): `fid50k_full`, `kid50k_full`,
//! `pr50k3_full` and their counted variants (`fid10k`, `kid2k_full`, `pr5k3`, …), computed from
//! the Inception features of a data set and of a generator.
//!
//! `_full` metrics use every real image (KID: up to 1,000,000; PR: 200,000) without x-flips;
//! the others the first N reals in file order with the data set's x-flip setting. Precision
//! and recall officially run on NVIDIA's VGG16 features, which cannot be obtained here: they run
//! on the Inception features, and the reported name says so (`pr50k3_full_inception`).

use std::str::FromStr;
use std::time::Instant;

use super::features::{cached_dataset_stats, generator_stats, RealsOptions, StatsCache};
use super::inception::Inception;
use super::stats::{frechet_distance, kid, precision_recall, FeatureStats};
use crate::data::{Dataset, Progress};
use crate::error::{Error, Result};
use crate::models::Generator;
use crate::rng::RandomState;

/// What a metric measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Fid,
    Kid,
    /// Precision and recall with `nhood` nearest neighbours.
    Pr {
        nhood: usize,
    },
    /// Perceptual path length (`num_gen` samples).
    Ppl(super::ppl::PplOptions),
    /// StyleGAN3 equivariance (`num_gen` samples).
    Eq(super::equivariance::Transform),
    /// Linear separability (`num_gen` samples, half kept).
    Ls,
}

/// A metric as its official name defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub kind: Kind,
    /// Generated images.
    pub num_gen: usize,
    /// `_full`: all reals (up to the kind's cap), no x-flips.
    pub full: bool,
}

/// The metric names `stylegan metrics` knows.
pub const KNOWN: &str = "fid50k_full, kid50k_full, pr50k3_full, fid50k, kid50k, pr50k3 (and \
     other counts: fid10k_full, kid2k, pr5k3_full, ...), ppl2_wend, ppl_zfull, ppl_wfull, \
     ppl_zend, ppl_wend, ls (and ls_10k, ...), eqt50k_int, eqt50k_frac, eqr50k (and other counts: \
     eqt2k_int, eqr500)";

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument(format!("unknown metric '{s}' (known: {KNOWN})"));
        // PPL: the official names (50,000 samples), or with a count as `name()` writes it
        // (`ppl2_wend_2k`, `ppl_zfull_500`).
        let (base, count) = match s.rsplit_once('_') {
            Some((b, c)) if c.starts_with(|ch: char| ch.is_ascii_digit()) => {
                let n = match c.strip_suffix('k') {
                    Some(k) => k.parse::<usize>().ok().map(|k| k * 1000),
                    None => c.parse::<usize>().ok(),
                };
                (b, Some(n.filter(|&n| n > 0).ok_or_else(bad)?))
            }
            _ => (s, None),
        };
        if base == "ls" {
            return Ok(Self {
                kind: Kind::Ls,
                num_gen: count.unwrap_or(200_000),
                full: false,
            });
        }
        if let Some(p) = super::ppl::PplOptions::official(base) {
            return Ok(Self {
                kind: Kind::Ppl(p),
                num_gen: count.unwrap_or(p.num_samples),
                full: false,
            });
        }
        if s.starts_with("ppl") {
            return Err(bad());
        }
        // Equivariance: eqt<count>_int, eqt<count>_frac, eqr<count>.
        use super::equivariance::Transform;
        let eq = if let Some(r) = s.strip_prefix("eqr") {
            Some((Transform::Rotation, r))
        } else if let Some(r) = s.strip_prefix("eqt").and_then(|r| r.strip_suffix("_int")) {
            Some((Transform::IntTranslation, r))
        } else if let Some(r) = s.strip_prefix("eqt").and_then(|r| r.strip_suffix("_frac")) {
            Some((Transform::FracTranslation, r))
        } else if s.starts_with("eq") {
            return Err(bad());
        } else {
            None
        };
        if let Some((t, count)) = eq {
            let n = match count.strip_suffix('k') {
                Some(k) => k.parse::<usize>().ok().map(|k| k * 1000),
                None => count.parse::<usize>().ok(),
            };
            return Ok(Self {
                kind: Kind::Eq(t),
                num_gen: n.filter(|&n| n > 0).ok_or_else(bad)?,
                full: false,
            });
        }
        let (body, full) = match s.strip_suffix("_full") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let (kind, rest) = if let Some(r) = body.strip_prefix("fid") {
            (Kind::Fid, r)
        } else if let Some(r) = body.strip_prefix("kid") {
            (Kind::Kid, r)
        } else if let Some(r) = body.strip_prefix("pr") {
            (Kind::Pr { nhood: 0 }, r)
        } else {
            return Err(bad());
        };
        // `50k` (thousands) or a plain count (`fid2500_full`, as `name()` writes it).
        let (count, tail, unit) = match rest.split_once('k') {
            Some((c, t)) => (c, t, 1000),
            None if kind != (Kind::Pr { nhood: 0 }) => (rest, "", 1),
            None => return Err(bad()),
        };
        let num_gen = count
            .parse::<usize>()
            .ok()
            .filter(|&k| k > 0)
            .ok_or_else(bad)?
            * unit;
        let kind = match kind {
            Kind::Pr { .. } => Kind::Pr {
                nhood: tail.parse().ok().filter(|&k| k > 0).ok_or_else(bad)?,
            },
            k if tail.is_empty() => k,
            _ => return Err(bad()),
        };
        Ok(Self {
            kind,
            num_gen,
            full,
        })
    }
}

impl Metric {
    /// The official name for this metric with `num_gen` generated images
    /// (`fid50k_full`, `kid2500_full` when not a whole thousand).
    pub fn name(&self) -> String {
        let n = if self.num_gen.is_multiple_of(1000) {
            format!("{}k", self.num_gen / 1000)
        } else {
            self.num_gen.to_string()
        };
        let full = if self.full { "_full" } else { "" };
        match self.kind {
            Kind::Fid => format!("fid{n}{full}"),
            Kind::Kid => format!("kid{n}{full}"),
            // Inception features, not the official VGG16: the name says so.
            Kind::Pr { nhood } if self.num_gen.is_multiple_of(1000) => {
                format!("pr{n}{nhood}{full}_inception")
            }
            Kind::Pr { nhood } => format!("pr{n}nhood{nhood}{full}_inception"),
            Kind::Ppl(p) => {
                let base = match (p.crop, p.space, p.full) {
                    (false, _, _) => "ppl2_wend",
                    (true, super::ppl::Space::Z, true) => "ppl_zfull",
                    (true, super::ppl::Space::W, true) => "ppl_wfull",
                    (true, super::ppl::Space::Z, false) => "ppl_zend",
                    (true, super::ppl::Space::W, false) => "ppl_wend",
                };
                // The official names mean 50,000 samples; other counts are named.
                if self.num_gen == 50_000 {
                    base.to_string()
                } else {
                    format!("{base}_{n}")
                }
            }
            Kind::Ls if self.num_gen == 200_000 => "ls".to_string(),
            Kind::Ls => format!("ls_{n}"),
            Kind::Eq(t) => match t {
                super::equivariance::Transform::IntTranslation => format!("eqt{n}_int"),
                super::equivariance::Transform::FracTranslation => format!("eqt{n}_frac"),
                super::equivariance::Transform::Rotation => format!("eqr{n}"),
            },
        }
    }

    /// Which reals the metric reads (`mirror`: the data set's x-flip option, used by the
    /// non-`_full` variants).
    pub fn reals(&self, mirror: bool) -> RealsOptions {
        let cap = match (self.kind, self.full) {
            (Kind::Ppl(_) | Kind::Eq(_) | Kind::Ls, _) => Some(0),
            (Kind::Fid, true) => None,
            (Kind::Kid, true) => Some(1_000_000),
            (Kind::Pr { .. }, true) => Some(200_000),
            (_, false) => Some(self.num_gen),
        };
        RealsOptions {
            max_items: cap,
            xflip: mirror && !self.full,
            keep_features: matches!(self.kind, Kind::Kid | Kind::Pr { .. }),
        }
    }

    /// Whether the metric compares with real images (FID, KID, PR: a data set and the
    /// Inception network); PPL, LS and equivariance use the generator alone.
    pub fn needs_reals(&self) -> bool {
        matches!(self.kind, Kind::Fid | Kind::Kid | Kind::Pr { .. })
    }
}

/// One metric's result: the reported name, its values by key (the official `results` dict)
/// and the seconds it took.
#[derive(Clone, Debug)]
pub struct MetricResult {
    pub name: String,
    pub results: Vec<(String, f64)>,
    pub total_time: f64,
}

/// What [`calc_metric`] evaluates.
pub struct Evaluation<'a> {
    /// The Inception network (needed by the metrics on real images only).
    pub net: Option<&'a Inception>,
    /// The detector file's SHA-256 (part of the statistics cache key).
    pub detector_sha256: String,
    pub generator: &'a Generator,
    /// The real images (needed by the metrics on real images only).
    pub data: Option<&'a Dataset>,
    /// The attribute classifier of linear separability.
    pub classifier: Option<&'a crate::attributes::AttributeClassifier>,
    pub mirror: bool,
    pub psi: f64,
    /// Seed of the generated latents.
    pub seed: u32,
    pub cache: Option<&'a StatsCache>,
    /// The generated images' statistics of this generator (in memory), shared by its metrics.
    pub generated: Option<&'a StatsCache>,
}

/// The reals' statistics, from the cache when it holds them.
fn real_stats(
    e: &Evaluation,
    net: &Inception,
    data: &Dataset,
    m: &Metric,
    progress: &dyn Progress,
) -> Result<FeatureStats> {
    let (s, cached) = cached_dataset_stats(
        net,
        &e.detector_sha256,
        data,
        m.reals(e.mirror),
        e.cache,
        progress,
        e.generator.device(),
    )?;
    if cached {
        progress.note(&format!(
            "{}: real statistics from the cache ({} images)",
            m.name(),
            s.count
        ));
    }
    Ok(s)
}

/// Compute one metric.
pub fn calc_metric(e: &Evaluation, m: &Metric, progress: &dyn Progress) -> Result<MetricResult> {
    let t0 = Instant::now();
    let g = e.generator;
    let done = |v: f64| MetricResult {
        name: m.name(),
        results: vec![(m.name(), v)],
        total_time: t0.elapsed().as_secs_f64(),
    };
    match m.kind {
        Kind::Ppl(p) => {
            let lpips = crate::perceptual::assets::load_lpips(g.device())?;
            let opts = super::ppl::PplOptions {
                num_samples: m.num_gen,
                seed: e.seed,
                ..p
            };
            return Ok(done(super::ppl::ppl(g, &lpips, &opts, progress)?));
        }
        Kind::Eq(t) => {
            let opts = super::equivariance::EqOptions {
                num_samples: m.num_gen,
                seed: e.seed,
                ..super::equivariance::EqOptions::official(t)
            };
            return Ok(done(super::equivariance::equivariance(g, &opts, progress)?));
        }
        Kind::Ls => {
            let classifier = e.classifier.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} needs an attribute classifier to judge the images",
                    m.name()
                ))
            })?;
            let opts = super::separability::LsOptions {
                seed: e.seed,
                ..super::separability::LsOptions::with_samples(m.num_gen)
            };
            let r = super::separability::separability(g, classifier, &opts, progress)?;
            for (attr, hz, hw) in &r.entropies {
                progress.note(&format!(
                    "{}: {attr}: H(label | SVM) {hz:.4} bits in Z, {hw:.4} in W",
                    m.name()
                ));
            }
            return Ok(MetricResult {
                name: m.name(),
                results: vec![
                    (format!("{}_z", m.name()), r.z),
                    (format!("{}_w", m.name()), r.w),
                ],
                total_time: t0.elapsed().as_secs_f64(),
            });
        }
        _ => {}
    }
    let (Some(net), Some(data)) = (e.net, e.data) else {
        return Err(Error::InvalidArgument(format!(
            "{} compares generated images with real ones: it needs a data set of real images",
            m.name()
        )));
    };
    if (g.config.img_channels, g.config.img_resolution) != (data.channels(), data.resolution()) {
        return Err(Error::InvalidArgument(format!(
            "the data set has {}×{}² images, the generator makes {}×{}²",
            data.channels(),
            data.resolution(),
            g.config.img_channels,
            g.config.img_resolution
        )));
    }
    if !m.full && data.len() < m.num_gen {
        return Err(Error::InvalidArgument(format!(
            "{} compares the first {} real images with as many generated ones, but {} holds \
             only {} images (use --num or a _full metric)",
            m.name(),
            m.num_gen,
            data.path().display(),
            data.len()
        )));
    }
    let real = real_stats(e, net, data, m, progress)?;
    let keep = !matches!(m.kind, Kind::Fid);
    // The generated side once per (count, ψ, seed) for this generator: KID then FID of one
    // count read the same images.
    let key = format!("generated {} {} {}", m.num_gen, e.psi, e.seed);
    let gen = match e.generated.and_then(|c| c.get(&key, keep)) {
        Some(s) => {
            progress.note(&format!(
                "{}: generated statistics shared with an earlier metric ({} images)",
                m.name(),
                s.count
            ));
            s
        }
        None => {
            let s = generator_stats(net, g, m.num_gen, e.psi, e.seed, keep, progress)?;
            if let Some(c) = e.generated {
                c.put(&key, &s)?;
            }
            s
        }
    };
    let name = m.name();
    let results = match m.kind {
        Kind::Fid => {
            let (mu_r, s_r) = real.mean_cov()?;
            let (mu_g, s_g) = gen.mean_cov()?;
            vec![(name.clone(), frechet_distance(&mu_g, &s_g, &mu_r, &s_r)?)]
        }
        Kind::Kid => {
            let (gf, rf) = (rows(&gen)?, rows(&real)?);
            // The official code draws the subsets from numpy's unseeded global generator;
            // a fixed seed makes ours repeatable.
            let mut rng = RandomState::new(0);
            let v = kid(gf, rf, real.dim, 100, 1000, &mut rng)?;
            vec![(name.clone(), v)]
        }
        Kind::Ppl(_) | Kind::Eq(_) | Kind::Ls => {
            unreachable!("PPL, LS and equivariance returned above")
        }
        Kind::Pr { nhood } => {
            let (p, r) = precision_recall(rows(&gen)?, rows(&real)?, real.dim, nhood)?;
            vec![
                (format!("{name}_precision"), p),
                (format!("{name}_recall"), r),
            ]
        }
    };
    Ok(MetricResult {
        name,
        results,
        total_time: t0.elapsed().as_secs_f64(),
    })
}

fn rows(s: &FeatureStats) -> Result<&[f32]> {
    s.features
        .as_deref()
        .ok_or_else(|| Error::InvalidArgument("the statistics hold no feature rows".into()))
}

/// The history of one metric in a run directory: `(kimg, value)` of every line of
/// `metric-<name>.jsonl` whose `snapshot_pkl` is a snapshot name (the last line per snapshot
/// wins), by kimg, for the result key `key`.
pub fn history(dir: &std::path::Path, name: &str, key: &str) -> Result<Vec<(f64, f64)>> {
    let path = dir.join(format!("metric-{name}.jsonl"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut by_nimg = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::format(&path, format!("not a JSON line: {e}")))?;
        let Some(nimg) = v["snapshot_pkl"]
            .as_str()
            .and_then(crate::train::snapshot_nimg)
        else {
            continue;
        };
        if let Some(x) = v["results"][key].as_f64() {
            by_nimg.insert(nimg, x);
        }
    }
    Ok(by_nimg
        .into_iter()
        .map(|(n, x)| (n as f64 / 1000.0, x))
        .collect())
}

/// `metric-<key>.png` in `dir`: the metric against kimg, from its jsonl history; None when
/// there is no snapshot result to plot.
pub fn plot_history(
    dir: &std::path::Path,
    name: &str,
    key: &str,
) -> Result<Option<std::path::PathBuf>> {
    let points = history(dir, name, key)?;
    if points.is_empty() {
        return Ok(None);
    }
    let out = dir.join(format!("metric-{key}.png"));
    crate::io::plot::line_plot(&points, &out)?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_names_parse() {
        let m: Metric = "fid50k_full".parse().unwrap();
        assert_eq!((m.kind, m.num_gen, m.full), (Kind::Fid, 50_000, true));
        assert_eq!(m.name(), "fid50k_full");
        assert_eq!(m.reals(true).max_items, None);
        assert!(!m.reals(true).xflip);
        let m: Metric = "kid10k".parse().unwrap();
        assert_eq!((m.kind, m.num_gen, m.full), (Kind::Kid, 10_000, false));
        assert_eq!(m.reals(true).max_items, Some(10_000));
        assert!(m.reals(true).xflip);
        let m: Metric = "pr50k3_full".parse().unwrap();
        assert_eq!(m.kind, Kind::Pr { nhood: 3 });
        assert_eq!(m.name(), "pr50k3_full_inception");
        assert_eq!(m.reals(false).max_items, Some(200_000));
        let mut m: Metric = "fid50k_full".parse().unwrap();
        m.num_gen = 2500;
        assert_eq!(m.name(), "fid2500_full");
        assert_eq!("fid2500_full".parse::<Metric>().unwrap(), m);
        let m = Metric {
            kind: Kind::Pr { nhood: 3 },
            num_gen: 64,
            full: true,
        };
        assert_eq!(m.name(), "pr64nhood3_full_inception");
        let m: Metric = "ppl2_wend".parse().unwrap();
        assert_eq!(m.name(), "ppl2_wend");
        let m = Metric { num_gen: 2000, ..m };
        assert_eq!(m.name(), "ppl2_wend_2k");
        assert_eq!("ppl2_wend_2k".parse::<Metric>().unwrap(), m);
        assert_eq!("ppl_zfull_500".parse::<Metric>().unwrap().num_gen, 500);
        use crate::metrics::equivariance::Transform;
        for (name, t, n) in [
            ("eqt50k_int", Transform::IntTranslation, 50_000),
            ("eqt50k_frac", Transform::FracTranslation, 50_000),
            ("eqr50k", Transform::Rotation, 50_000),
            ("eqr500", Transform::Rotation, 500),
            ("eqt2k_frac", Transform::FracTranslation, 2000),
        ] {
            let m: Metric = name.parse().unwrap();
            assert_eq!((m.kind, m.num_gen), (Kind::Eq(t), n), "{name}");
            assert_eq!(m.name(), name);
            assert!(!m.needs_reals());
        }
        assert!("fid2k".parse::<Metric>().unwrap().needs_reals());
        let m: Metric = "ls".parse().unwrap();
        assert_eq!(
            (m.kind, m.num_gen, m.name()),
            (Kind::Ls, 200_000, "ls".into())
        );
        let m: Metric = "ls_2k".parse().unwrap();
        assert_eq!(
            (m.kind, m.num_gen, m.name()),
            (Kind::Ls, 2000, "ls_2k".into())
        );
        assert!(!m.needs_reals());
        for bad in [
            "fid",
            "fidk_full",
            "ppl2_zend",
            "fid50kfull",
            "pr50k_full",
            "kid0k",
            "eqt50k",
            "eqr0k",
            "eqt50k_half",
            "ls_0",
            "lsx",
        ] {
            let e = bad.parse::<Metric>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("known"), "{bad}: {e}");
        }
    }
}
