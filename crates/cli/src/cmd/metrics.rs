//! `stylegan metrics` (like the official `calc_metrics.py`) and `stylegan fid` / `stylegan kid`
//! (two image sets).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use stylegan::data::Dataset;
use stylegan::metrics::assets;
use stylegan::metrics::calc::{calc_metric, Evaluation, Metric, MetricResult};
use stylegan::metrics::features::StatsCache;
use stylegan::metrics::stats::{frechet_distance, kid};

use super::Bar;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  stylegan metrics --network run/network-snapshot-000100.safetensors --data faces.zip --metrics fid50k_full\n  stylegan metrics --data faces.zip --metrics fid2k_full,kid2k_full,pr2k3_full\n  stylegan metrics --network models/faces32-sg3t.safetensors --metrics eqt50k_int,eqt50k_frac,eqr50k\n  stylegan metrics --metrics ppl2_wend,ls --num 10000\n\nThe first use downloads the Inception network (`stylegan assets inception`)."
)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// The real images: a data set (ZIP or folder in the official layout) at the network's
    /// resolution (needed by FID, KID and PR; PPL, LS and equivariance use the network alone).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Metrics, comma-separated: fid50k_full, kid50k_full, pr50k3_full, fid50k, kid50k, pr50k3,
    /// or other counts (fid10k_full, kid2k, ...); ppl2_wend, ppl_zfull, ppl_wfull, ppl_zend,
    /// ppl_wend (LPIPS); ls (linear separability, with --classifier); eqt50k_int, eqt50k_frac,
    /// eqr50k (StyleGAN3 equivariance, PSNR in dB).
    #[arg(long, default_value = "fid50k_full")]
    metrics: String,
    /// Generated images per metric (replaces the count in the names: fid50k_full --num 2000
    /// reports fid2k_full).
    #[arg(long)]
    num: Option<usize>,
    /// The non-_full metrics append x-flipped reals (the data set's --mirror).
    #[arg(long)]
    mirror: bool,
    /// Truncation psi of the generated images.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Seed of the generated latents.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Where `metric-<name>.jsonl` lines are appended (default: the network's folder, as the
    /// official tool does for a run directory).
    #[arg(long)]
    outdir: Option<PathBuf>,
    /// The attribute classifier of linear separability (`ls`; default: the bundled
    /// faces32-attributes.safetensors; made by `stylegan classifier train`).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Do not read or write the cached statistics of the reals.
    #[arg(long)]
    no_cache: bool,
    /// Evaluate every snapshot of a training run (its G_ema) instead of --network; the lines
    /// go to the run directory, with a plot `metric-<name>.png` of each metric against kimg.
    #[arg(long, conflicts_with = "network")]
    run: Option<PathBuf>,
}

/// The official `metric-<name>.jsonl` line.
fn jsonl(r: &MetricResult, snapshot: &str) -> serde_json::Value {
    let results: serde_json::Map<String, serde_json::Value> = r
        .results
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    json!({
        "results": results,
        "metric": r.name,
        "total_time": r.total_time,
        "total_time_str": format!("{:.0}s", r.total_time),
        "num_gpus": 1,
        "snapshot_pkl": snapshot,
        "timestamp": now,
    })
}

/// Compute one metric of the network file `snapshot` (its name goes in the line) and append its
/// official line to `outdir/metric-<name>.jsonl`.
pub(crate) fn calc_and_record(
    e: &Evaluation,
    m: &Metric,
    outdir: &Path,
    snapshot: &str,
    progress: &dyn stylegan::data::Progress,
) -> Result<MetricResult> {
    let r = calc_metric(e, m, progress)?;
    append_line(
        &outdir.join(format!("metric-{}.jsonl", r.name)),
        &jsonl(&r, snapshot).to_string(),
    )?;
    Ok(r)
}

/// The file name of a network path, as the `snapshot_pkl` field gives it.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Append one line to `path`: read, extend, write atomically.
fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    text.push_str(line);
    text.push('\n');
    stylegan::io::atomic_write(path, text.as_bytes())?;
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    crate::args::finite("--trunc", a.trunc)?;
    let mut metrics: Vec<Metric> = a
        .metrics
        .split(',')
        .map(|m| m.trim().parse::<Metric>())
        .collect::<Result<_, _>>()
        .context("--metrics")?;
    if let Some(n) = a.num {
        crate::args::count("--num", n, 2, 10_000_000)?;
        for m in &mut metrics {
            m.num_gen = n;
        }
    }
    let networks: Vec<PathBuf> = match &a.run {
        Some(dir) => {
            let snaps = stylegan::train::snapshots(dir)
                .with_context(|| format!("--run {}", dir.display()))?;
            if snaps.is_empty() {
                bail!("--run {}: no network-snapshot-*.safetensors", dir.display());
            }
            snaps.into_iter().map(|(_, p)| p).collect()
        }
        None => vec![a.net.path()?],
    };
    // The Inception network and the reals only when a metric compares with real images.
    let (net, sha, data) = if metrics.iter().any(Metric::needs_reals) {
        let Some(path) = &a.data else {
            let names: Vec<String> = metrics
                .iter()
                .filter(|m| m.needs_reals())
                .map(Metric::name)
                .collect();
            bail!(
                "{} compare generated images with real ones: give the real images with --data \
                 (PPL and eqt/eqr need no data set)",
                names.join(", ")
            );
        };
        let (net, sha) = assets::load_inception_with_hash(&stylegan::backend::cpu())?;
        let bar = Bar::new();
        let data = Dataset::open_with_progress(path, &bar);
        bar.finish();
        (Some(net), sha, Some(data?))
    } else {
        (None, String::new(), None)
    };
    let classifier = if metrics
        .iter()
        .any(|m| m.kind == stylegan::metrics::calc::Kind::Ls)
    {
        Some(super::classifier(&a.classifier)?)
    } else {
        None
    };
    let device = a.net.device()?;
    // One cache for every snapshot: the reals' statistics are read or computed once.
    let cache = if a.no_cache {
        StatsCache::in_memory()
    } else {
        StatsCache::on_disk(StatsCache::default_dir())
    };
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for path in &networks {
        let g = stylegan::models::Generator::load(path, &device)?;
        if networks.len() > 1 {
            eprintln!("{}", path.display());
        }
        evaluate(
            &a,
            &metrics,
            path,
            &g,
            net.as_ref(),
            &sha,
            data.as_ref(),
            classifier.as_ref(),
            &cache,
            &mut rows,
            &mut names,
        )?;
    }
    println!("| network | metric | value | time |");
    println!("|---|---|---|---|");
    for (n, k, v, t) in rows {
        println!("| {n} | {k} | {v:.6} | {t:.0} s |");
    }
    if let Some(dir) = &a.run {
        for (name, keys) in names {
            for key in keys {
                if let Some(p) = stylegan::metrics::calc::plot_history(dir, &name, &key)? {
                    eprintln!("wrote {}", p.display());
                }
            }
        }
    }
    Ok(())
}

/// Every metric of one network: `metric-*.jsonl` lines and table rows.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    a: &Args,
    metrics: &[Metric],
    path: &Path,
    g: &stylegan::models::Generator,
    net: Option<&stylegan::metrics::inception::Inception>,
    sha: &str,
    data: Option<&Dataset>,
    classifier: Option<&stylegan::attributes::AttributeClassifier>,
    cache: &StatsCache,
    rows: &mut Vec<(String, String, f64, f64)>,
    names: &mut Vec<(String, Vec<String>)>,
) -> Result<()> {
    let generated = StatsCache::in_memory();
    let e = Evaluation {
        net,
        detector_sha256: sha.to_string(),
        generator: g,
        data,
        classifier,
        mirror: a.mirror,
        psi: a.trunc,
        seed: a.seed,
        cache: Some(cache),
        generated: Some(&generated),
    };
    let outdir = match a.outdir.as_ref().or(a.run.as_ref()) {
        Some(d) => d.clone(),
        None => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    std::fs::create_dir_all(&outdir).with_context(|| format!("{}", outdir.display()))?;
    let snapshot = file_name(path);
    for m in metrics {
        let bar = Bar::new();
        let r = calc_and_record(&e, m, &outdir, &snapshot, &bar);
        bar.finish();
        let r = r?;
        for (k, v) in &r.results {
            eprintln!("{k} = {v:.6}  ({:.1} s)", r.total_time);
            rows.push((snapshot.clone(), k.clone(), *v, r.total_time));
        }
        if !names.iter().any(|(n, _)| *n == r.name) {
            names.push((
                r.name.clone(),
                r.results.iter().map(|(k, _)| k.clone()).collect(),
            ));
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// First image set: a folder (searched recursively) or ZIP of PNG/JPEG images of any sizes
    /// (the "real" side).
    a: PathBuf,
    /// Second image set, the same way (the "generated" side).
    b: PathBuf,
    /// Do not read or write cached statistics.
    #[arg(long)]
    no_cache: bool,
}

/// `stylegan fid A B` / `stylegan kid A B`.
pub fn run_compare(a: CompareArgs, want_kid: bool) -> Result<()> {
    let (net, sha) = assets::load_inception_with_hash(&stylegan::backend::cpu())?;
    let cache = if a.no_cache {
        StatsCache::in_memory()
    } else {
        StatsCache::on_disk(StatsCache::default_dir())
    };
    let device = stylegan::backend::cpu();
    let stats = |p: &Path| -> Result<stylegan::metrics::stats::FeatureStats> {
        let bar = Bar::new();
        let r = stylegan::metrics::features::image_files_stats(
            &net,
            &sha,
            p,
            want_kid,
            Some(&cache),
            &bar,
            &device,
        );
        bar.finish();
        let (s, cached) = r?;
        if cached {
            eprintln!(
                "{}: statistics from the cache ({} images)",
                p.display(),
                s.count
            );
        }
        Ok(s)
    };
    let r = stats(&a.a).and_then(|sa| Ok((sa, stats(&a.b)?)));
    let (sa, sb) = r?;
    if want_kid {
        let (fa, fb) = (sa.features.as_deref(), sb.features.as_deref());
        let (Some(fa), Some(fb)) = (fa, fb) else {
            bail!("the statistics hold no feature rows");
        };
        let mut rng = stylegan::rng::RandomState::new(0);
        let v = kid(fb, fa, sa.dim, 100, 1000, &mut rng)?;
        println!("KID {v:.6}  ({} vs {} images)", sa.count, sb.count);
    } else {
        let (mu_a, s_a) = sa.mean_cov()?;
        let (mu_b, s_b) = sb.mean_cov()?;
        let v = frechet_distance(&mu_b, &s_b, &mu_a, &s_a)?;
        println!("FID {v:.6}  ({} vs {} images)", sa.count, sb.count);
    }
    Ok(())
}
