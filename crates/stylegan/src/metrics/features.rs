//! Inception feature statistics of image sets, as `metric_utils.py` gathers them: of a data set
//! (file order, the first `max_items`, x-flipped copies appended when asked) and of a
//! generator (uint8 images quantised with `+128` and truncation), in batches, with progress;
//! and a cache for the data-set side keyed by everything that changes the numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::{DMatrix, DVector};

use super::inception::{preprocess, Inception, FEATURES, INPUT_SIZE};
use super::stats::FeatureStats;
use crate::data::{Dataset, Progress};
use crate::error::{Error, Result};
use crate::io::image::quantize;
use crate::models::{Generator, NoiseMode};
use crate::rng::RandomState;

/// Images per Inception batch (the official 64 gives the same features; 32 keeps the
/// activations of a batch near 400 MB).
pub const BATCH: usize = 32;

/// Run the network on `n` uint8 images of `shape` `[C, H, W]` given by `image(i)`, appending
/// the features to `stats`.
pub fn append_features(
    net: &Inception,
    n: usize,
    shape: [usize; 3],
    image: &(dyn Fn(usize) -> Vec<u8> + Sync),
    stats: &mut FeatureStats,
    progress: &dyn Progress,
    device: &Device,
) -> Result<()> {
    let [c, h, w] = shape;
    let mut start = 0;
    while start < n {
        let b = BATCH.min(n - start);
        let mut px = Vec::with_capacity(b * c * h * w);
        for i in start..start + b {
            px.extend(image(i));
        }
        let x = preprocess(&px, [b, c, h, w], device)?;
        let f = net.forward(x)?;
        let f = crate::backend::to_vec(&f)?;
        stats.append(&f)?;
        progress.advance(b);
        start += b;
    }
    Ok(())
}

/// Which reals, as the official `dataset_kwargs` + `max_items` choose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealsOptions {
    /// The first `max_items` images in file order (None: all).
    pub max_items: Option<usize>,
    /// Append x-flipped copies after the originals.
    pub xflip: bool,
    /// Keep the feature rows (KID, precision/recall).
    pub keep_features: bool,
}

/// The statistics of a data set's images.
pub fn dataset_stats(
    net: &Inception,
    data: &Dataset,
    opts: RealsOptions,
    progress: &dyn Progress,
    device: &Device,
) -> Result<FeatureStats> {
    let n = opts.max_items.unwrap_or(usize::MAX).min(data.len());
    let (c, r) = (data.channels(), data.resolution());
    let total = if opts.xflip { 2 * n } else { n };
    let image = |i: usize| -> Vec<u8> {
        let img = data.image_slice(i % n);
        if i < n {
            return img.to_vec();
        }
        let mut out = Vec::with_capacity(img.len());
        for row in img.chunks(r) {
            out.extend(row.iter().rev());
        }
        out
    };
    let mut stats = FeatureStats::new(FEATURES, opts.keep_features);
    progress.start("real images", total);
    append_features(net, total, [c, r, r], &image, &mut stats, progress, device)?;
    Ok(stats)
}

/// The statistics of a folder or ZIP of image files of any sizes (PNG/JPEG, grey or colour;
/// alpha dropped), each resized to 299² by the official preprocessing at its own size; through
/// `cache` when given, keyed by the files' names and bytes and the detector.
pub fn image_files_stats(
    net: &Inception,
    detector_sha256: &str,
    path: &Path,
    keep_features: bool,
    cache: Option<&StatsCache>,
    progress: &dyn Progress,
    device: &Device,
) -> Result<(FeatureStats, bool)> {
    use rayon::prelude::*;
    use sha2::Digest;
    let files = crate::data::reader::read_image_files(path, progress)?;
    let key = {
        let mut h = sha2::Sha256::new();
        h.update(b"stylegan-rs image files stats v1\0");
        h.update(detector_sha256.as_bytes());
        for (name, bytes) in &files {
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        super::assets::hex(&h.finalize())
    };
    if let Some(s) = cache.and_then(|c| c.get(&key, keep_features)) {
        return Ok((s, true));
    }
    let mut stats = FeatureStats::new(FEATURES, keep_features);
    progress.start("images", files.len());
    for chunk in files.chunks(BATCH) {
        // Decode and resize each image at its own size, then one network batch.
        let prepared: Vec<Result<Vec<f32>>> = chunk
            .par_iter()
            .map(|(name, bytes)| {
                let (w, h, c, chw) = crate::data::reader::decode_image_any(bytes)
                    .map_err(|m| Error::format(path, format!("{name}: {m}")))?;
                let x = preprocess(&chw, [1, c, h as usize, w as usize], device)?;
                crate::backend::to_vec(&x)
            })
            .collect();
        let mut batch = Vec::with_capacity(chunk.len() * 3 * INPUT_SIZE * INPUT_SIZE);
        for p in prepared {
            batch.extend(p?);
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(batch, [chunk.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        );
        stats.append(&crate::backend::to_vec(&net.forward(x)?)?)?;
        progress.advance(chunk.len());
    }
    if let Some(c) = cache {
        c.put(&key, &stats)?;
    }
    Ok((stats, false))
}

/// The statistics of `num` generated images: z from `RandomState(seed).randn` in rows, ψ on
/// every layer, random noise drawn from the seed, conditional networks given random classes,
/// quantised as `metric_utils` does (`(x·127.5 + 128).clamp(0, 255)` truncated).
pub fn generator_stats(
    net: &Inception,
    g: &Generator,
    num: usize,
    psi: f64,
    seed: u32,
    keep_features: bool,
    progress: &dyn Progress,
) -> Result<FeatureStats> {
    let device = g.device().clone();
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    let mut rng = RandomState::new(seed);
    let mut stats = FeatureStats::new(FEATURES, keep_features);
    progress.start("generated images", num);
    let mut done = 0;
    while done < num {
        let b = BATCH.min(num - done);
        let rows: Vec<Vec<f64>> = (0..b).map(|_| rng.randn(g.config.z_dim)).collect();
        let z = g.z_tensor(&rows)?;
        let label = if g.config.c_dim > 0 {
            let mut v = vec![0f32; b * g.config.c_dim];
            for i in 0..b {
                v[i * g.config.c_dim + rng.interval(g.config.c_dim as u64 - 1) as usize] = 1.0;
            }
            Some(Tensor::<2>::from_data(
                TensorData::new(v, [b, g.config.c_dim]),
                &device,
            ))
        } else {
            None
        };
        let noise = NoiseMode::Seeded(rng.next_u32() as u64);
        let img = g.generate(z, label, psi, None, noise)?;
        let px: Vec<u8> = crate::backend::to_vec(&img)?
            .into_iter()
            .map(quantize)
            .collect();
        let per = c * r * r;
        let image = |i: usize| px[i * per..(i + 1) * per].to_vec();
        append_features(net, b, [c, r, r], &image, &mut stats, progress, &device)?;
        done += b;
    }
    Ok(stats)
}

/// [`dataset_stats`] through `cache` when given: the cached statistics when they hold what
/// `opts` needs (then `true`), else computed and stored.
pub fn cached_dataset_stats(
    net: &Inception,
    detector_sha256: &str,
    data: &Dataset,
    opts: RealsOptions,
    cache: Option<&StatsCache>,
    progress: &dyn Progress,
    device: &Device,
) -> Result<(FeatureStats, bool)> {
    let Some(cache) = cache else {
        return Ok((dataset_stats(net, data, opts, progress, device)?, false));
    };
    let key = StatsCache::key(data, detector_sha256, opts);
    if let Some(s) = cache.get(&key, opts.keep_features) {
        return Ok((s, true));
    }
    let s = dataset_stats(net, data, opts, progress, device)?;
    cache.put(&key, &s)?;
    Ok((s, false))
}

/// Cached statistics of a data set: in memory for the life of the cache (so evaluating many
/// snapshots reads the reals once), and, with a `dir`, on disk under a SHA-256 over the data
/// set's decoded pixels (and file names), the detector's hash and every option, so a changed
/// data set or option never reuses stale statistics. Written atomically.
pub struct StatsCache {
    dir: Option<PathBuf>,
    memo: std::sync::Mutex<BTreeMap<String, FeatureStats>>,
}

impl StatsCache {
    /// A cache on disk in `dir` (and in memory).
    pub fn on_disk(dir: PathBuf) -> Self {
        Self {
            dir: Some(dir),
            memo: Default::default(),
        }
    }

    /// A cache in memory only (`--no-cache`: nothing read from or written to disk).
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            memo: Default::default(),
        }
    }

    /// `~/.cache/stylegan-rs/metrics` (or under `$STYLEGAN_ASSETS`).
    pub fn default_dir() -> PathBuf {
        crate::perceptual::assets::cache_dir().join("metrics")
    }

    /// The cache key of a data set's statistics.
    pub fn key(data: &Dataset, detector_sha256: &str, opts: RealsOptions) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"stylegan-rs feature stats v2\0");
        h.update(detector_sha256.as_bytes());
        // Whether rows are kept does not change the numbers: not part of the key.
        h.update(format!("max_items {:?} xflip {}\0", opts.max_items, opts.xflip).as_bytes());
        h.update(data.content_sha256().as_bytes());
        super::assets::hex(&h.finalize())
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{key}.safetensors")))
    }

    /// The cached statistics for `key`, if present, readable and holding the feature rows
    /// when `need_features`.
    pub fn get(&self, key: &str, need_features: bool) -> Option<FeatureStats> {
        let usable = |s: &FeatureStats| !need_features || s.features.is_some();
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = memo.get(key).filter(|s| usable(s)) {
            return Some(s.clone());
        }
        let s = read_stats(&self.path(key)?).ok().filter(usable)?;
        memo.insert(key.to_string(), s.clone());
        Some(s)
    }

    pub fn put(&self, key: &str, stats: &FeatureStats) -> Result<()> {
        self.memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), stats.clone());
        if let (Some(dir), Some(path)) = (&self.dir, self.path(key)) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            write_stats(&path, stats)?;
        }
        Ok(())
    }
}

/// Write statistics (count, Σx and XᵀX in float64, the rows when kept) as safetensors.
pub fn write_stats(path: &Path, s: &FeatureStats) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let fmt = |e: safetensors::SafeTensorError| Error::format(path, e.to_string());
    let (sum, xtx) = s.raw();
    let f64s = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (b_sum, b_xtx) = (f64s(sum.as_slice()), f64s(xtx.as_slice()));
    let b_feat: Option<Vec<u8>> = s
        .features
        .as_ref()
        .map(|f| f.iter().flat_map(|x| x.to_le_bytes()).collect());
    let mut views = vec![
        (
            "sum".to_string(),
            TensorView::new(Dtype::F64, vec![s.dim], &b_sum).map_err(fmt)?,
        ),
        (
            "xtx".to_string(),
            TensorView::new(Dtype::F64, vec![s.dim, s.dim], &b_xtx).map_err(fmt)?,
        ),
    ];
    if let Some(b) = &b_feat {
        views.push((
            "features".to_string(),
            TensorView::new(Dtype::F32, vec![s.count, s.dim], b).map_err(fmt)?,
        ));
    }
    let meta = std::collections::HashMap::from([("count".to_string(), s.count.to_string())]);
    let out = safetensors::serialize(views, Some(meta)).map_err(fmt)?;
    crate::files::atomic_write(path, &out)
}

/// Read statistics written by [`write_stats`].
pub fn read_stats(path: &Path) -> Result<FeatureStats> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |m: &str| Error::format(path, m.to_string());
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(&e.to_string()))?;
    let count: usize = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("count"))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no image count"))?;
    let f64s = |name: &str| -> Result<(Vec<usize>, Vec<f64>)> {
        let t = st.tensor(name).map_err(|_| bad(&format!("no '{name}'")))?;
        if t.dtype() != safetensors::tensor::Dtype::F64 {
            return Err(bad(&format!("'{name}' is not float64")));
        }
        let v = t
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok((t.shape().to_vec(), v))
    };
    let (sh, sum) = f64s("sum")?;
    let dim = sh.first().copied().ok_or_else(|| bad("empty 'sum'"))?;
    let (sh2, xtx) = f64s("xtx")?;
    if sh2 != [dim, dim] {
        return Err(bad("'xtx' does not match 'sum'"));
    }
    let features = match st.tensor("features") {
        Ok(t) => Some(
            t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect::<Vec<f32>>(),
        ),
        Err(_) => None,
    };
    if features.as_ref().is_some_and(|f| f.len() != count * dim) {
        return Err(bad("'features' does not hold count rows"));
    }
    Ok(FeatureStats::from_raw(
        dim,
        count,
        DVector::from_vec(sum),
        DMatrix::from_vec(dim, dim, xtx),
        features,
    ))
}
