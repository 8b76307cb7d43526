//! Hostile files (issue 22): memory bombs in torch zips and data sets, non-finite weights and
//! latents, deltas that name other files, and the messages of damaged files. Each crafted
//! file is made here; memory is measured in this process (VmHWM of /proc/self/status, reset
//! through /proc/self/clear_refs), so the tests run one at a time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::tensor::{Tensor, TensorData};
use proptest::prelude::*;
use stylegan::data::labels::{parse_dataset_json, MAX_CLASSES};
use stylegan::data::reader::Dataset;
use stylegan::invert::projection::Projection;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::latent::Latent;
use stylegan::models::Generator;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// One test at a time: the memory measurements are per process.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// How far this process's peak resident memory rose above its resident memory at the start
/// while `f` ran (KiB; `VmHWM` reset through `clear_refs` 5), and `f`'s result. Memory freed
/// earlier but kept by the allocator is in the starting figure, not in the rise.
fn peak_kib<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let field = |name: &str| -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = field("VmRSS:");
    let out = f();
    let kib = field("VmHWM:").saturating_sub(before);
    (kib, out)
}

/// Peak memory a load may reach (the test binary itself takes some tens of MB).
const PEAK_KIB: u64 = 400 << 10;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures")
}

// ---- torch zips ------------------------------------------------------------------------

fn p_global(b: &mut Vec<u8>, module: &str, name: &str) {
    b.push(b'c');
    b.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}
fn p_int(b: &mut Vec<u8>, i: i64) {
    b.push(0x8a);
    b.push(8);
    b.extend_from_slice(&i.to_le_bytes());
}
fn p_str(b: &mut Vec<u8>, s: &str) {
    b.push(b'X');
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// `data.pkl` of `{'g_ema': {'w': <view (offset, shape, stride) of FloatStorage '0' of
/// numel elements>}}`.
fn view_pickle(numel: i64, offset: i64, shape: &[i64], stride: &[i64]) -> Vec<u8> {
    let mut b = vec![0x80, 2, b'}'];
    p_str(&mut b, "g_ema");
    b.push(b'}');
    p_str(&mut b, "w");
    p_global(&mut b, "torch._utils", "_rebuild_tensor_v2");
    b.extend_from_slice(b"((");
    p_str(&mut b, "storage");
    p_global(&mut b, "torch", "FloatStorage");
    p_str(&mut b, "0");
    p_str(&mut b, "cpu");
    p_int(&mut b, numel);
    b.extend_from_slice(b"tQ");
    p_int(&mut b, offset);
    b.push(b'(');
    shape.iter().for_each(|&d| p_int(&mut b, d));
    b.extend_from_slice(b"t(");
    stride.iter().for_each(|&d| p_int(&mut b, d));
    b.extend_from_slice(b"t\x89tR");
    b.extend_from_slice(b"ss.");
    b
}

/// A `torch.save` zip: `archive/data.pkl` and `archive/data/0` (`storage_bytes` bytes of
/// zeros, written in chunks so that making a large member takes no memory), deflated or stored.
fn torch_zip(pkl: &[u8], storage_bytes: u64, method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(storage_bytes >= 1 << 32);
    zip.start_file("archive/data.pkl", opts).unwrap();
    zip.write_all(pkl).unwrap();
    zip.start_file("archive/data/0", opts).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = storage_bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        zip.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    zip.finish().unwrap().into_inner()
}

fn open_bytes(name: &str, bytes: &[u8]) -> (u64, Result<Checkpoint, String>) {
    peak_kib(|| Checkpoint::open_bytes(Path::new(name), bytes).map_err(|e| e.to_string()))
}

#[test]
fn torch_zip_views_larger_than_their_storage_are_refused() {
    let _s = serial();
    // The 541-byte file: [2^18, 2^18] with strides 0 over one element (256 GB), and
    // [32768, 16384] (2 GiB).
    for shape in [[1i64 << 18, 1 << 18], [32768, 16384]] {
        let z = torch_zip(
            &view_pickle(1, 0, &shape, &[0, 0]),
            4,
            CompressionMethod::Stored,
        );
        assert!(z.len() < 1024, "{} bytes", z.len());
        let (kib, r) = open_bytes("bomb.pt", &z);
        let e = r.unwrap_err();
        assert!(
            e.contains("bomb.pt")
                && e.contains("g_ema.w")
                && e.contains(&format!("{shape:?}"))
                && e.contains("stride [0, 0]"),
            "{e}"
        );
        assert!(kib < PEAK_KIB, "peak {kib} KiB");
    }
}

#[test]
fn torch_zip_members_are_read_within_their_declared_size() {
    let _s = serial();
    // A storage member that inflates to 256 MiB from ~250 KB, declared as such by its tensor:
    // refused by the inflation bound before anything is read.
    let numel = (256i64 << 20) / 4;
    let z = torch_zip(
        &view_pickle(numel, 0, &[numel], &[1]),
        256 << 20,
        CompressionMethod::Deflated,
    );
    assert!(z.len() < 2 << 20, "{} bytes", z.len());
    let (kib, r) = open_bytes("inflate.pt", &z);
    let e = r.unwrap_err();
    assert!(
        e.contains("inflate.pt") && e.contains("archive/data/0") && e.contains("zip bomb"),
        "{e}"
    );
    assert!(kib < 100 << 10, "peak {kib} KiB");
    // The same member behind a tensor of one element: its size must match the storage's.
    let z = torch_zip(
        &view_pickle(1, 0, &[1], &[1]),
        64 << 20,
        CompressionMethod::Deflated,
    );
    let (kib, r) = open_bytes("big.pt", &z);
    let e = r.unwrap_err();
    assert!(
        e.contains("declares 67108864 bytes") && e.contains("exactly 4"),
        "{e}"
    );
    assert!(kib < 100 << 10, "peak {kib} KiB");
    // A member shorter than its storage (stored): refused, not padded or read past.
    let z = torch_zip(
        &view_pickle(16, 0, &[16], &[1]),
        8,
        CompressionMethod::Stored,
    );
    let e = open_bytes("short.pt", &z).1.unwrap_err();
    assert!(
        e.contains("declares 8 bytes") && e.contains("exactly 64"),
        "{e}"
    );
}

/// Make every header of member `name` in zip `z` claim `compressed` / `size` bytes.
fn patch_sizes(z: &mut [u8], name: &str, compressed: u32, size: u32) -> usize {
    let mut patched = 0;
    for i in 0..z.len().saturating_sub(46) {
        let (sig, at) = match &z[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => (30, 18), // local header: name at 30, sizes at 18
            [0x50, 0x4b, 0x01, 0x02] => (46, 20), // central directory: name at 46, sizes at 20
            _ => continue,
        };
        if z.get(i + sig..i + sig + name.len()) == Some(name.as_bytes()) {
            z[i + at..i + at + 4].copy_from_slice(&compressed.to_le_bytes());
            z[i + at + 4..i + at + 8].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    patched
}

#[test]
fn torch_zip_headers_cannot_claim_more_than_the_archive() {
    let _s = serial();
    // 64 MiB of zeros deflated to ~64 KB, whose headers claim 4 GB compressed: the inflation
    // bound computed from that claim would let the whole member through.
    let numel = (64i64 << 20) / 4;
    let mut z = torch_zip(
        &view_pickle(numel, 0, &[numel], &[1]),
        64 << 20,
        CompressionMethod::Deflated,
    );
    assert_eq!(
        patch_sizes(&mut z, "archive/data/0", 0xffff_fff0, 64 << 20),
        2
    );
    let (kib, r) = open_bytes("claims.pt", &z);
    let e = r.unwrap_err();
    assert!(
        e.contains("claims.pt") && e.contains("archive/data/0"),
        "{e}"
    );
    assert!(kib < 32 << 10, "peak {kib} KiB: {e}");
}

#[test]
fn many_views_of_one_torch_storage_share_one_budget() {
    let _s = serial();
    // 400 tensors over one 1 MiB storage: 400 MiB of floats from a 1 MiB file.
    let numel = 1i64 << 18;
    let mut b = vec![0x80, 2, b'}'];
    p_str(&mut b, "g_ema");
    b.push(b'}');
    for i in 0..400 {
        p_str(&mut b, &format!("w{i}"));
        p_global(&mut b, "torch._utils", "_rebuild_tensor_v2");
        b.extend_from_slice(b"((");
        p_str(&mut b, "storage");
        p_global(&mut b, "torch", "FloatStorage");
        p_str(&mut b, "0");
        p_str(&mut b, "cpu");
        p_int(&mut b, numel);
        b.extend_from_slice(b"tQ");
        p_int(&mut b, 0);
        b.push(b'(');
        p_int(&mut b, numel);
        b.extend_from_slice(b"t(");
        p_int(&mut b, 1);
        b.extend_from_slice(b"t\x89tRs");
    }
    b.extend_from_slice(b"s.");
    let z = torch_zip(&b, numel as u64 * 4, CompressionMethod::Stored);
    let (kib, r) = open_bytes("views.pt", &z);
    let e = r.unwrap_err();
    assert!(e.contains("views.pt") && e.contains("may only take"), "{e}");
    assert!(kib < 200 << 10, "peak {kib} KiB");
}

#[test]
fn rosinality_names_cannot_describe_a_bigger_network_than_the_file_holds() {
    let _s = serial();
    // 20 one-channel synthesis convs (a 4096x4096 generator, ~200 MB of noise maps in its
    // template), all views of one 9-element storage.
    let mut b = vec![0x80, 2, b'}'];
    p_str(&mut b, "g_ema");
    b.push(b'}');
    let mut names: Vec<(String, Vec<i64>)> = vec![
        ("style.1.weight".into(), vec![1, 1]),
        ("conv1.conv.weight".into(), vec![1, 1, 1, 3, 3]),
        ("to_rgb1.conv.weight".into(), vec![1, 3, 1, 1, 1]),
    ];
    for i in 0..20 {
        names.push((format!("convs.{i}.conv.weight"), vec![1, 1, 1, 3, 3]));
    }
    for (name, shape) in &names {
        p_str(&mut b, name);
        p_global(&mut b, "torch._utils", "_rebuild_tensor_v2");
        b.extend_from_slice(b"((");
        p_str(&mut b, "storage");
        p_global(&mut b, "torch", "FloatStorage");
        p_str(&mut b, "0");
        p_str(&mut b, "cpu");
        p_int(&mut b, 9);
        b.extend_from_slice(b"tQ");
        p_int(&mut b, 0);
        b.push(b'(');
        shape.iter().for_each(|&d| p_int(&mut b, d));
        b.extend_from_slice(b"t(");
        let mut stride = vec![1i64; shape.len()];
        for i in (0..shape.len() - 1).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        stride.iter().for_each(|&d| p_int(&mut b, d));
        b.extend_from_slice(b"t\x89tRs");
    }
    b.extend_from_slice(b"s.");
    let z = torch_zip(&b, 36, CompressionMethod::Stored);
    let (kib, r) = open_bytes("names.pt", &z);
    let e = r.unwrap_err();
    assert!(
        e.contains("names.pt") && e.contains("4096x4096") && e.contains("holds only"),
        "{e}"
    );
    assert!(kib < 100 << 10, "peak {kib} KiB");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Crafted torch zips (any view of any storage, member sizes that agree or not, stored or
    /// deflated): a network or an error, with memory near the file's size.
    #[test]
    fn crafted_torch_zips_stay_bounded(
        numel in 0i64..1 << 20,
        member in 0u64..16 << 20,
        deflate in any::<bool>(),
        offset in 0i64..1 << 20,
        dims in proptest::collection::vec((0i64..1 << 20, 0i64..1 << 20), 0..4),
    ) {
        let _s = serial();
        let shape: Vec<i64> = dims.iter().map(|d| d.0).collect();
        let stride: Vec<i64> = dims.iter().map(|d| d.1).collect();
        let method = if deflate { CompressionMethod::Deflated } else { CompressionMethod::Stored };
        let z = torch_zip(&view_pickle(numel, offset, &shape, &stride), member, method);
        let (kib, _) = open_bytes("crafted.pt", &z);
        let allowed = PEAK_KIB.max(z.len() as u64 / 1024 * 40);
        prop_assert!(kib < allowed, "peak {} KiB for a {}-byte file", kib, z.len());
    }
}

#[test]
fn tf_kwargs_larger_than_the_stored_variables_are_refused() {
    let _s = serial();
    // tiny-tf.pkl with its `resolution` kwarg (16) changed to 4096 (the largest a config
    // accepts) and `fmap_base` to 2^20: the generator template alone would take hundreds of MB
    // of noise maps and weights that the 585 KB file does not hold.
    let mut bad = std::fs::read(fixtures().join("tiny-tf.pkl")).unwrap();
    // `key: K <byte>` → `key: J <i32>` (lengths are not framed: the reader skips FRAME).
    let set_kwarg = |bytes: &mut Vec<u8>, key: &[u8], value: i32| {
        let mut from = key.to_vec();
        from.extend_from_slice(b"\x94K");
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_slice())
            .expect("the fixture's kwarg");
        let end = at + from.len();
        let mut with = b"J".to_vec();
        with.extend_from_slice(&value.to_le_bytes());
        bytes.splice(end - 1..end + 1, with);
    };
    set_kwarg(&mut bad, b"resolution", 4096);
    set_kwarg(&mut bad, b"fmap_base", 1 << 20);
    let (kib, r) = open_bytes("huge-kwargs.pkl", &bad);
    let e = r.unwrap_err();
    assert!(
        e.contains("huge-kwargs.pkl") && e.contains("last noise map") && e.contains("holds only"),
        "{e}"
    );
    assert!(kib < 100 << 10, "peak {kib} KiB");
}

// ---- non-finite values -----------------------------------------------------------------

/// Replace every occurrence of the 4 bytes `from` in `bytes` with `to`; how many.
fn replace_all(bytes: &mut [u8], from: [u8; 4], to: [u8; 4]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if bytes[i..i + 4] == from {
            bytes[i..i + 4].copy_from_slice(&to);
            n += 1;
            i += 4;
        } else {
            i += 1;
        }
    }
    n
}

#[test]
fn non_finite_weights_are_refused_in_every_format() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    // Native: a NaN weight, and an infinite w_avg.
    let native = fixtures().join("tiny-uncond.safetensors");
    let ck = Checkpoint::read(&native).unwrap();
    for (tensor, bad) in [
        ("mapping.fc0.weight", f32::NAN),
        ("mapping.w_avg", f32::INFINITY),
    ] {
        let mut c = ck.clone();
        c.networks
            .get_mut("G_ema")
            .unwrap()
            .tensors
            .get_mut(tensor)
            .unwrap()
            .data[3] = bad;
        let nets: Vec<(&str, &_)> = c.networks.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let out = tmp.path().join("nan.safetensors");
        Checkpoint::write(&out, &nets, &c.extra_metadata).unwrap();
        let e = Checkpoint::open(&out).unwrap_err().to_string();
        assert!(
            e.contains("nan.safetensors")
                && e.contains(&format!("G_ema.{tensor}"))
                && e.contains("non-finite"),
            "{e}"
        );
        let e = Generator::load(&out, &stylegan::backend::cpu())
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-finite"), "{e}");
    }
    // Official pickles, TF pickles, rosinality files: one stored weight made NaN in place.
    for file in [
        "tiny-proto4.pkl",
        "tiny-tf.pkl",
        "tiny-rosinality-convert.pt",
    ] {
        let path = fixtures().join(file);
        let good = Checkpoint::open(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // A weight value that occurs in the file as stored float32 bytes.
        let hit = good
            .networks
            .values()
            .flat_map(|e| e.tensors.iter())
            .filter(|(k, _)| k.ends_with("weight"))
            .flat_map(|(_, t)| t.data.iter().take(4))
            .find(|v| {
                v.abs() > 1e-3 && replace_all(&mut bytes.clone(), v.to_le_bytes(), [0; 4]) > 0
            })
            .copied()
            .unwrap_or_else(|| panic!("{file}: no weight found in the bytes"));
        if file.ends_with(".pt") {
            // Inside the zip's members, which are then written again (with their CRCs).
            let mut zin = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
            let mut zout = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for i in 0..zin.len() {
                let mut m = zin.by_index(i).unwrap();
                let name = m.name().unwrap().to_string();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut m, &mut data).unwrap();
                replace_all(&mut data, hit.to_le_bytes(), f32::NAN.to_le_bytes());
                let opts =
                    SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
                zout.start_file(name, opts).unwrap();
                zout.write_all(&data).unwrap();
            }
            bytes = zout.finish().unwrap().into_inner();
        } else {
            replace_all(&mut bytes, hit.to_le_bytes(), f32::NAN.to_le_bytes());
        }
        let out = tmp.path().join(file);
        std::fs::write(&out, &bytes).unwrap();
        let e = Checkpoint::open(&out).unwrap_err().to_string();
        assert!(
            e.contains(file) && e.contains("non-finite") && e.contains("weight'"),
            "{file}: {e}"
        );
    }
}

#[test]
fn non_finite_latents_and_arrays_are_refused() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let npy = tmp.path().join("w.npy");
    stylegan::io::npy::write_f32(&npy, &[1, 3], &[0.0, f32::NAN, 1.0]).unwrap();
    let e = stylegan::io::npy::read(&npy).unwrap_err().to_string();
    assert!(e.contains("w.npy") && e.contains("non-finite"), "{e}");
    // A .npy whose header declares more data than it holds.
    stylegan::io::npy::write_f32(&npy, &[1, 3], &[0.0, 0.5, 1.0]).unwrap();
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..bytes.len() - 4]).unwrap();
    let e = stylegan::io::npy::read(&npy).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");

    let dev = stylegan::backend::cpu();
    let g = Generator::load(fixtures().join("tiny-uncond.safetensors"), &dev).unwrap();
    let w_dim = g.config.w_dim;
    let mut w = vec![0.1f32; w_dim];
    w[2] = f32::NEG_INFINITY;
    let proj = Projection {
        latent: Latent::W(Tensor::from_data(TensorData::new(w, [1, w_dim]), &dev)),
        noise: g.synthesis.noise_maps(),
        history: vec![],
        frames: vec![],
    };
    let path = tmp.path().join("projected.safetensors");
    proj.save(&path, &g, &Default::default()).unwrap();
    let e = Projection::load(&path, &g).unwrap_err().to_string();
    assert!(
        e.contains("projected.safetensors") && e.contains("'latent'") && e.contains("non-finite"),
        "{e}"
    );
}

// ---- deltas ----------------------------------------------------------------------------

fn delta_of(dir: &Path, base: &Path) -> PathBuf {
    let ck = Checkpoint::read(base).unwrap();
    let (_, e) = ck.generator().unwrap();
    let mut tuned = e.clone();
    tuned
        .tensors
        .get_mut("synthesis.b4.conv1.bias")
        .unwrap()
        .data[0] += 1.0;
    let delta = dir.join("tuned.safetensors");
    Checkpoint::write_delta(&delta, "G_ema", &tuned, base, e).unwrap();
    delta
}

/// Rewrite the `delta.base` metadata of a delta.
fn set_delta_base(delta: &Path, base: &str) {
    let ck = Checkpoint::read(delta).unwrap();
    let mut meta = ck.extra_metadata.clone();
    meta.insert("delta.base".into(), base.into());
    let nets: Vec<(&str, &_)> = ck.networks.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Checkpoint::write(delta, &nets, &meta).unwrap();
}

#[test]
fn a_delta_cannot_read_files_it_names() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, other) = (tmp.path().join("d"), tmp.path().join("secret"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let base = dir.join("base.safetensors");
    std::fs::copy(fixtures().join("tiny-uncond.safetensors"), &base).unwrap();
    let delta = delta_of(&dir, &base);
    // Recorded as a file name only; resolved next to the delta.
    let ck = Checkpoint::open_unresolved(&delta).unwrap();
    assert_eq!(ck.delta_base(), Some("base.safetensors"));
    Generator::load(&delta, &stylegan::backend::cpu()).unwrap();

    // A crafted delta naming a file elsewhere by absolute path: never opened, no checksum.
    let secret = other.join("shadow");
    std::fs::write(&secret, b"root:secret").unwrap();
    let crc = format!("{:08x}", crc32fast::hash(b"root:secret"));
    set_delta_base(&delta, &secret.display().to_string());
    let e = Checkpoint::open(&delta).unwrap_err().to_string();
    assert!(e.contains("missing") && e.contains("'shadow'"), "{e}");
    assert!(!e.contains(&crc) && !e.contains("secret"), "{e}");
    assert!(!e.contains("  "), "stray spaces: {e:?}");
    for sneaky in ["../secret/shadow", "..", ""] {
        set_delta_base(&delta, sneaky);
        let e = Checkpoint::open(&delta).unwrap_err().to_string();
        assert!(!e.contains(&crc), "{e}");
    }
    // A file of that name next to the delta is only compared, its checksum never shown.
    std::fs::copy(&secret, dir.join("shadow")).unwrap();
    set_delta_base(&delta, "/etc/shadow");
    let e = Checkpoint::open(&delta).unwrap_err().to_string();
    assert!(
        e.contains("not the file it was made from") && !e.contains(&crc),
        "{e}"
    );
    assert!(!e.contains("  "), "stray spaces: {e:?}");

    // A base elsewhere is found through the caller's folders (and $STYLEGAN_MODELS).
    let far = tmp.path().join("models");
    std::fs::create_dir_all(&far).unwrap();
    std::fs::rename(&base, far.join("base.safetensors")).unwrap();
    set_delta_base(&delta, "base.safetensors");
    let e = Checkpoint::open(&delta).unwrap_err().to_string();
    assert!(
        e.contains("missing") && e.contains("'base.safetensors'"),
        "{e}"
    );
    let ck = Checkpoint::open_with_base_dirs(&delta, std::slice::from_ref(&far)).unwrap();
    assert!(
        ck.delta_base().is_none(),
        "a resolved delta is a whole network"
    );
}

// ---- damaged files name what they are ---------------------------------------------------

#[test]
fn damaged_files_are_named_for_what_they_are() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.pkl");
    std::fs::write(&broken, b"this is not a pickle").unwrap();
    let e = Checkpoint::open(&broken).unwrap_err().to_string();
    assert!(e.contains("pickle") && !e.contains("safetensors"), "{e}");
    std::fs::write(&broken, b"").unwrap();
    let e = Checkpoint::open(&broken).unwrap_err().to_string();
    assert!(e.contains("pickle") && e.contains("empty"), "{e}");
    let pt = tmp.path().join("broken.pt");
    std::fs::write(&pt, b"garbage").unwrap();
    let e = Checkpoint::open(&pt).unwrap_err().to_string();
    assert!(
        e.contains("torch.save") && !e.contains("safetensors"),
        "{e}"
    );

    let st = std::fs::read(fixtures().join("tiny-uncond.safetensors")).unwrap();
    let cut = tmp.path().join("cut.safetensors");
    for keep in [st.len() - 100, st.len() / 2, 40] {
        std::fs::write(&cut, &st[..keep]).unwrap();
        let e = Checkpoint::open(&cut).unwrap_err().to_string();
        assert!(
            e.contains("cut.safetensors") && e.contains("truncated"),
            "{keep}: {e}"
        );
    }
}

// ---- data sets -------------------------------------------------------------------------

fn png(side: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(side, side, image::Rgb([10, 20, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A data set ZIP of `n` 4×4 images and `dataset.json` = `json`.
fn dataset_zip(path: &Path, n: usize, json: &[u8], method: CompressionMethod) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = SimpleFileOptions::default().compression_method(method);
    for i in 0..n {
        zip.start_file(format!("00000/img{i:08}.png"), opts)
            .unwrap();
        zip.write_all(&png(4)).unwrap();
    }
    zip.start_file("dataset.json", opts).unwrap();
    zip.write_all(json).unwrap();
    zip.finish().unwrap();
}

fn open_dataset(path: &Path) -> (u64, Result<Dataset, String>) {
    peak_kib(|| Dataset::open(path).map_err(|e| e.to_string()))
}

#[test]
fn data_set_labels_are_bounded_and_checked() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("ds.zip");
    let cases: &[(&str, &[&str])] = &[
        (
            "1000000000",
            &[
                "labels[0]",
                "00000/img00000000.png",
                "1000000000",
                "out of range",
            ],
        ),
        ("-1", &["labels[0]", "negative"]),
        ("2.5", &["labels[0]", "not an integer"]),
        ("[0.5, \"x\"]", &["labels[0]", "element 1"]),
        ("\"cat\"", &["labels[0]", "neither"]),
    ];
    for (label, want) in cases {
        let json = format!("{{\"labels\": [[\"00000/img00000000.png\", {label}]]}}");
        dataset_zip(&zip, 1, json.as_bytes(), CompressionMethod::Stored);
        let (kib, r) = open_dataset(&zip);
        let e = r.err().unwrap_or_else(|| panic!("{label} was accepted"));
        assert!(e.contains("dataset.json"), "{e}");
        for w in *want {
            assert!(e.contains(w), "{label}: {e}");
        }
        assert!(kib < 100 << 10, "peak {kib} KiB");
    }
    // The largest class accepted still reads.
    let json = format!(
        "{{\"labels\": [[\"00000/img00000000.png\", {}]]}}",
        MAX_CLASSES - 1
    );
    dataset_zip(&zip, 1, json.as_bytes(), CompressionMethod::Stored);
    assert_eq!(Dataset::open(&zip).unwrap().label_dim(), MAX_CLASSES);
    // The same check when a data set is built from labels (`parse_dataset_json`).
    let e = parse_dataset_json(
        b"{\"labels\": [[\"a.png\", 1000000000]]}",
        Path::new("labels.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("labels.json") && e.contains("'a.png'"), "{e}");

    // A dataset.json far larger than its images warrant (a deflate bomb of 200 MB of
    // whitespace): refused before it is parsed.
    let mut json = b"{\"labels\": null".to_vec();
    json.extend(std::iter::repeat_n(b' ', 200 << 20));
    json.push(b'}');
    dataset_zip(&zip, 2, &json, CompressionMethod::Deflated);
    drop(json);
    let (kib, r) = open_dataset(&zip);
    let e = r
        .err()
        .expect("a 200 MB dataset.json for 2 images was accepted");
    assert!(e.contains("dataset.json"), "{e}");
    assert!(kib < 100 << 10, "peak {kib} KiB");
}

#[test]
fn data_set_images_with_huge_headers_are_refused() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    // A PNG whose header says 60000×60000 (10 GB of RGB), holding a few bytes.
    let mut p = png(4);
    p[16..20].copy_from_slice(&60000u32.to_be_bytes());
    p[20..24].copy_from_slice(&60000u32.to_be_bytes());
    let crc = crc32fast::hash(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    let dir = tmp.path().join("folder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.png"), &p).unwrap();
    let (kib, r) = open_dataset(&dir);
    let e = r.err().expect("a 60000x60000 image was decoded");
    assert!(
        e.contains("a.png") && e.contains("larger than accepted"),
        "{e}"
    );
    assert!(kib < 100 << 10, "peak {kib} KiB");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Arbitrary labels (classes up to 2^32, negative, fractional, vectors with junk): read
    /// with a bounded label dimension, or refused; memory stays small.
    #[test]
    fn arbitrary_labels_stay_bounded(
        labels in proptest::collection::vec(
            prop_oneof![
                any::<u32>().prop_map(|c| c.to_string()),
                (-1e12f64..1e12).prop_map(|f| format!("{f}")),
                proptest::collection::vec(-1e3f32..1e3, 0..8)
                    .prop_map(|v| format!("{v:?}")),
                Just("[1, null]".to_string()),
            ],
            1..4,
        ),
        extra in 0usize..3,
    ) {
        let _s = serial();
        let tmp = tempfile::tempdir().unwrap();
        let n = labels.len();
        let mut entries: Vec<String> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("[\"00000/img{i:08}.png\", {l}]"))
            .collect();
        for i in 0..extra {
            entries.push(format!("[\"99999/img{i:08}.png\", 0]"));
        }
        let json = format!("{{\"labels\": [{}]}}", entries.join(", "));
        let zip = tmp.path().join("ds.zip");
        dataset_zip(&zip, n, json.as_bytes(), CompressionMethod::Stored);
        let (kib, r) = open_dataset(&zip);
        if let Ok(ds) = r {
            prop_assert!(ds.label_dim() <= MAX_CLASSES);
            prop_assert_eq!(extra, 0);
        }
        prop_assert!(kib < 100 << 10, "peak {} KiB", kib);
    }
}

/// Labels given in code (the facesjs builder, a library user) pass the same bounds as those
/// read from `dataset.json`.
#[test]
fn labels_added_in_code_are_bounded_too() {
    use stylegan::data::labels::Label;
    use stylegan::data::writer::DatasetWriter;
    let dir = tempfile::tempdir().unwrap();
    let img = image::DynamicImage::new_rgb8(8, 8);
    let mut w = DatasetWriter::create(&dir.path().join("d.zip")).unwrap();
    let e = w
        .add_image(&img, Some(Label::Class(MAX_CLASSES as u32)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
    let e = w
        .add_image(&img, Some(Label::Vector(vec![0.5, f32::NAN])))
        .unwrap_err()
        .to_string();
    assert!(!e.is_empty());
    w.add_image(&img, Some(Label::Class(3))).unwrap();
    assert_eq!(w.finish().unwrap(), 1);
}
