//! rosinality/stylegan2-pytorch checkpoints (`torch.save` zips, FORMATS.md §8): the `train.py`
//! layout (`g`, `d`, `g_ema`, optimisers, `args`, `ada_aug_p`) and the `convert_weight.py`
//! layout (`g_ema`, `latent_avg`), mapped to the official names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::json;
use stylegan_pickle::{torch, Value};

use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};
use crate::models::discriminator::DISCRIMINATOR_CLASS;
use crate::models::generator::GENERATOR_CLASS;
use crate::models::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

type Tensors = HashMap<String, torch::Tensor>;

/// Read a `torch.save` zip ([`super::torch_zip`]: bounded members, one budget for all
/// tensors) and map the networks it holds.
pub(crate) fn read(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let bad = |m: String| Error::format(path, m);
    let tz = super::torch_zip::TorchZip::read(path, bytes)?;
    let top = tz.top.clone();
    let state_dict = |v: &Value, what: &str| -> Result<Tensors> {
        let mut out = HashMap::new();
        for (k, t) in v
            .dict_items()
            .ok_or_else(|| bad(format!("'{what}' is not a state dict")))?
        {
            if let Some(k) = k.as_str() {
                out.insert(k.to_string(), tz.tensor(&t, &format!("{what}.{k}"))?);
            }
        }
        Ok(out)
    };
    if top.get("g_ema").is_none() {
        return Err(bad(
            "the torch file has no 'g_ema': it is not a rosinality StyleGAN2 checkpoint".into(),
        ));
    }
    let latent_avg = match top.get("latent_avg") {
        Some(v) if !v.is_none() => Some(tz.tensor(&v, "latent_avg")?),
        _ => None,
    };
    let mut networks = BTreeMap::new();
    let device = crate::backend::cpu();
    for (key, name) in [("g_ema", "G_ema"), ("g", "G")] {
        if let Some(v) = top.get(key).filter(|v| !v.is_none()) {
            let sd = state_dict(&v, key)?;
            networks.insert(
                name.to_string(),
                generator(&sd, latent_avg.as_ref(), &device)
                    .map_err(|e| bad(format!("'{key}': {e}")))?,
            );
        }
    }
    if let Some(v) = top.get("d").filter(|v| !v.is_none()) {
        let sd = state_dict(&v, "d")?;
        networks.insert(
            "D".to_string(),
            discriminator(&sd, &device).map_err(|e| bad(format!("'d': {e}")))?,
        );
    }
    let mut extra_metadata = super::pickle::source_metadata("rosinality checkpoint", path);
    if latent_avg.is_none() {
        extra_metadata.insert("stylegan_rs.w_avg".into(), "no latent_avg in the checkpoint: w_avg is the mean w of RandomState(0).randn(4096, z_dim)".into());
    }
    if let Some(p) = top.get("ada_aug_p").and_then(|p| p.as_float()) {
        extra_metadata.insert("ada_aug_p".into(), p.to_string());
    }
    Ok(Checkpoint {
        path: path.to_path_buf(),
        networks,
        extra_metadata,
        extra_tensors: Default::default(),
    })
}

/// Dimension `i` of tensor `name`.
fn dim(sd: &Tensors, name: &str, i: usize) -> Result<usize> {
    let s = shape(sd, name)?;
    s.get(i)
        .copied()
        .ok_or_else(|| Error::Config(format!("tensor '{name}' has shape {s:?}: no dimension {i}")))
}

fn shape(sd: &Tensors, name: &str) -> Result<Vec<usize>> {
    sd.get(name)
        .map(|t| t.shape.clone())
        .ok_or_else(|| Error::Config(format!("missing tensor '{name}'")))
}

/// `(channel_base, channel_max)` reproducing the channel count per resolution.
fn channel_layout(ch: &[(usize, usize)]) -> Result<(usize, usize)> {
    let max = ch.iter().map(|c| c.1).max().unwrap_or(0);
    let base = ch
        .iter()
        .filter(|c| c.1 < max)
        .map(|c| c.0 * c.1)
        .min()
        .unwrap_or(max * ch.iter().map(|c| c.0).max().unwrap_or(1));
    if ch.iter().any(|&(r, c)| (base / r).min(max) != c) {
        return Err(Error::Config(format!(
            "channel counts {ch:?} follow no min(channel_base/res, channel_max) rule"
        )));
    }
    Ok((base, max))
}

fn take(sd: &Tensors, name: &str, want: &[usize]) -> Result<RawTensor> {
    let t = sd
        .get(name)
        .ok_or_else(|| Error::Config(format!("missing tensor '{name}'")))?;
    // rosinality keeps leading singleton dims ([1,O,I,k,k], [1,3,1,1], noise [1,1,r,r], [1]).
    if t.data.len() != want.iter().product::<usize>() {
        return Err(Error::Config(format!(
            "tensor '{name}' has shape {:?}, expected {want:?}",
            t.shape
        )));
    }
    Ok(RawTensor {
        shape: want.to_vec(),
        data: t.data.clone(),
    })
}

fn generator(
    sd: &Tensors,
    latent_avg: Option<&torch::Tensor>,
    device: &crate::Device,
) -> Result<NetworkEntry> {
    let n_mlp = (1..)
        .take_while(|i| sd.contains_key(&format!("style.{i}.weight")))
        .count();
    let w_dim = *shape(sd, "style.1.weight")?.first().unwrap_or(&0);
    let n_convs = (0..)
        .take_while(|i| sd.contains_key(&format!("convs.{i}.conv.weight")))
        .count();
    if n_convs / 2 > 12 {
        return Err(Error::Config(format!(
            "{n_convs} synthesis convs: more than a 16384-pixel generator"
        )));
    }
    let resolution = 4usize << (n_convs / 2);
    // The template below is allocated before it is filled: the layers the names describe must
    // not take more than the state dict holds (it stores the last noise map, resolution²).
    let held: usize = sd.values().map(|t| t.data.len()).sum();
    if resolution * resolution > held {
        return Err(Error::Config(format!(
            "{n_convs} synthesis convs make a {resolution}x{resolution} generator, whose noise \
             maps alone take {} numbers, but the state dict holds only {held} (damaged or \
             crafted)",
            resolution * resolution
        )));
    }
    let img_channels = dim(sd, "to_rgb1.conv.weight", 1)?;
    let mut ch = vec![(4, dim(sd, "conv1.conv.weight", 1)?)];
    for k in 0..n_convs / 2 {
        ch.push((
            8 << k,
            dim(sd, &format!("convs.{}.conv.weight", 2 * k + 1), 1)?,
        ));
    }
    let (channel_base, channel_max) = channel_layout(&ch)?;
    let init = json!({"z_dim": w_dim, "c_dim": 0, "w_dim": w_dim, "img_resolution": resolution, "img_channels": img_channels,
        "mapping_kwargs": {"num_layers": n_mlp, "lr_multiplier": 0.01}, "channel_base": channel_base, "channel_max": channel_max,
        "num_fp16_res": 0, "conv_clamp": null, "architecture": "skip"});
    let cfg = GeneratorConfig::from_init_kwargs(GENERATOR_CLASS, &init)?;
    // rosinality stores its blur kernels with the upsampling gain folded in (×4); only the
    // default [1,3,3,1] filter maps onto the official config.
    for (name, t) in sd
        .iter()
        .filter(|(n, _)| n.ends_with("blur.kernel") || n.ends_with("upsample.kernel"))
    {
        let want: Vec<f32> = [1.0f32, 3.0, 3.0, 1.0]
            .iter()
            .flat_map(|a| [1.0f32, 3.0, 3.0, 1.0].map(|b| a * b / 64.0 * 4.0))
            .collect();
        if t.data.len() != want.len() || t.data.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-6)
        {
            return Err(Error::Config(format!("'{name}' is not the default [1,3,3,1] blur kernel; other kernels are not supported")));
        }
    }
    let template = Generator::template(&cfg, device)?;
    let mut tensors = BTreeMap::new();
    for (name, t) in &template.tensors {
        let src = |s: &str| take(sd, s, &t.shape);
        let p: Vec<&str> = name.split('.').collect();
        let value = match p[..] {
            [_, "resample_filter"] | [_, _, "resample_filter"] | [_, _, _, "resample_filter"] => {
                t.clone()
            }
            ["mapping", "w_avg"] => match latent_avg {
                Some(a) => RawTensor {
                    shape: t.shape.clone(),
                    data: a.data.clone(),
                },
                None => t.clone(), // filled in below from the mapping network
            },
            ["mapping", fc, w] => src(&format!(
                "style.{}.{w}",
                fc[2..]
                    .parse::<usize>()
                    .map_err(|_| Error::Config(name.clone()))?
                    + 1
            ))?,
            ["synthesis", "b4", "const"] => src("input.input")?,
            ["synthesis", b, layer, ref rest @ ..] => {
                let r: usize = b[1..].parse().map_err(|_| Error::Config(name.clone()))?;
                let k = r.trailing_zeros() as usize; // log2
                let (ros, noise_idx) = match (r, layer) {
                    (4, "conv1") => ("conv1".to_string(), 0),
                    (4, "torgb") => ("to_rgb1".to_string(), 0),
                    (_, "conv0") => (format!("convs.{}", 2 * (k - 3)), 2 * (k - 3) + 1),
                    (_, "conv1") => (format!("convs.{}", 2 * (k - 3) + 1), 2 * (k - 3) + 2),
                    (_, "torgb") => (format!("to_rgbs.{}", k - 3), 0),
                    _ => return Err(Error::Config(format!("no rosinality source for '{name}'"))),
                };
                match *rest {
                    ["weight"] => src(&format!("{ros}.conv.weight"))?,
                    ["bias"] if layer == "torgb" => src(&format!("{ros}.bias"))?,
                    ["bias"] => src(&format!("{ros}.activate.bias"))?,
                    ["noise_strength"] => src(&format!("{ros}.noise.weight"))?,
                    ["noise_const"] => src(&format!("noises.noise_{noise_idx}"))?,
                    ["affine", w] => src(&format!("{ros}.conv.modulation.{w}"))?,
                    _ => return Err(Error::Config(format!("no rosinality source for '{name}'"))),
                }
            }
            _ => return Err(Error::Config(format!("no rosinality source for '{name}'"))),
        };
        tensors.insert(name.clone(), value);
    }
    let mut entry = NetworkEntry {
        class_name: GENERATOR_CLASS.into(),
        init_kwargs: cfg.to_init_kwargs(),
        tensors,
    };
    if latent_avg.is_none() {
        // rosinality's generate.py uses g_ema.mean_latent(4096) (torch RNG); we use numpy's.
        let g = Generator::from_entry("rosinality", &entry, device)?;
        let mut rs = crate::rng::RandomState::new(0);
        let zs: Vec<Vec<f64>> = (0..4096).map(|_| rs.randn(cfg.z_dim)).collect();
        let w = g.map(g.z_tensor(&zs)?, None)?.mean_dim(0);
        let data = crate::backend::to_vec(&w)?;
        entry.tensors.insert(
            "mapping.w_avg".into(),
            RawTensor {
                shape: vec![cfg.w_dim],
                data,
            },
        );
    }
    Ok(entry)
}

fn discriminator(sd: &Tensors, device: &crate::Device) -> Result<NetworkEntry> {
    let n_blocks = (1..)
        .take_while(|j| sd.contains_key(&format!("convs.{j}.conv1.0.weight")))
        .count();
    if n_blocks > 12 {
        return Err(Error::Config(format!(
            "{n_blocks} discriminator blocks: more than a 16384-pixel network"
        )));
    }
    let resolution = 4usize << n_blocks;
    let img_channels = dim(sd, "convs.0.0.weight", 1)?;
    let mut ch = vec![(resolution, dim(sd, "convs.0.0.weight", 0)?)];
    for j in 1..=n_blocks {
        ch.push((
            resolution >> j,
            dim(sd, &format!("convs.{j}.conv2.1.weight"), 0)?,
        ));
    }
    let (channel_base, channel_max) = channel_layout(&ch)?;
    let init = json!({"c_dim": 0, "img_resolution": resolution, "img_channels": img_channels, "architecture": "resnet",
        "channel_base": channel_base, "channel_max": channel_max, "num_fp16_res": 0, "conv_clamp": null,
        "epilogue_kwargs": {"mbstd_group_size": 4, "mbstd_num_channels": 1}});
    let cfg = DiscriminatorConfig::from_init_kwargs(DISCRIMINATOR_CLASS, &init)?;
    let template = Discriminator::template(&cfg, device)?;
    let mut tensors = BTreeMap::new();
    for (name, t) in &template.tensors {
        let src = |s: &str| take(sd, s, &t.shape);
        let p: Vec<&str> = name.split('.').collect();
        let value = match p[..] {
            [.., "resample_filter"] => t.clone(),
            ["b4", "conv", "weight"] => src("final_conv.0.weight")?,
            ["b4", "conv", "bias"] => src("final_conv.1.bias")?,
            ["b4", "fc", w] => src(&format!("final_linear.0.{w}"))?,
            ["b4", "out", w] => src(&format!("final_linear.1.{w}"))?,
            [_, "fromrgb", "weight"] => src("convs.0.0.weight")?,
            [_, "fromrgb", "bias"] => src("convs.0.1.bias")?,
            [b, layer, w] => {
                let r: usize = b[1..].parse().map_err(|_| Error::Config(name.clone()))?;
                let j = (resolution / r).trailing_zeros() as usize + 1;
                match (layer, w) {
                    ("conv0", "weight") => src(&format!("convs.{j}.conv1.0.weight"))?,
                    ("conv0", "bias") => src(&format!("convs.{j}.conv1.1.bias"))?,
                    ("conv1", "weight") => src(&format!("convs.{j}.conv2.1.weight"))?,
                    ("conv1", "bias") => src(&format!("convs.{j}.conv2.2.bias"))?,
                    ("skip", "weight") => src(&format!("convs.{j}.skip.1.weight"))?,
                    _ => return Err(Error::Config(format!("no rosinality source for '{name}'"))),
                }
            }
            _ => return Err(Error::Config(format!("no rosinality source for '{name}'"))),
        };
        tensors.insert(name.clone(), value);
    }
    Ok(NetworkEntry {
        class_name: DISCRIMINATOR_CLASS.into(),
        init_kwargs: cfg.to_init_kwargs(),
        tensors,
    })
}

/// Export a generator (and optionally a discriminator) as a rosinality `convert_weight.py`-style
/// checkpoint: `{'g_ema': state_dict, 'latent_avg': w_avg[, 'd': state_dict]}` in a
/// `torch.save` zip, so rosinality-based tools (StyleCLIP, e4e, pSp, SOAT) can load it.
pub fn write(path: &Path, g: &NetworkEntry, d: Option<&NetworkEntry>) -> Result<()> {
    let cfg = GeneratorConfig::from_init_kwargs(&g.class_name, &g.init_kwargs)?;
    let refuse = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "cannot export to rosinality: {why}"
        )))
    };
    let s = cfg.sg2("export to rosinality")?;
    if s.architecture != crate::models::Architecture::Skip {
        return refuse("rosinality's generator is the 'skip' architecture only");
    }
    if cfg.c_dim != 0 {
        return refuse("rosinality's generator is unconditional");
    }
    if s.conv_clamp.is_some() {
        return refuse("rosinality has no conv_clamp; this network clamps its activations");
    }
    if cfg.z_dim != cfg.w_dim || s.resample_filter != [1.0, 3.0, 3.0, 1.0] || !s.use_noise {
        return refuse("rosinality needs z_dim == w_dim, the [1,3,3,1] filter and noise inputs");
    }
    let mut storages: Vec<Vec<f32>> = Vec::new();
    let mut tensor = |shape: Vec<usize>, data: Vec<f32>| {
        storages.push(data);
        stylegan_pickle::writer::Out::Tensor {
            key: (storages.len() - 1).to_string(),
            shape,
        }
    };
    use stylegan_pickle::writer::Out;
    let mut g_sd = Vec::new();
    let mut latent_avg = None;
    for (name, t) in &g.tensors {
        for (ros, shape, data) in g_to_rosinality(name, t)? {
            if ros == "latent_avg" {
                latent_avg = Some(tensor(shape, data));
            } else {
                g_sd.push((Out::Str(ros), tensor(shape, data)));
            }
        }
    }
    let mut top = vec![(Out::Str("g_ema".into()), Out::OrderedDict(g_sd))];
    if let Some(l) = latent_avg {
        top.push((Out::Str("latent_avg".into()), l));
    }
    if let Some(d) = d {
        let dcfg = DiscriminatorConfig::from_init_kwargs(&d.class_name, &d.init_kwargs)?;
        if dcfg.architecture != crate::models::Architecture::Resnet
            || dcfg.c_dim != 0
            || dcfg.conv_clamp.is_some()
        {
            return refuse("rosinality's discriminator is an unconditional, unclamped resnet");
        }
        let mut d_sd = Vec::new();
        for (name, t) in &d.tensors {
            for (ros, shape, data) in d_to_rosinality(name, t, dcfg.img_resolution)? {
                d_sd.push((Out::Str(ros), tensor(shape, data)));
            }
        }
        top.push((Out::Str("d".into()), Out::OrderedDict(d_sd)));
    }
    let pkl = stylegan_pickle::writer::dumps(&Out::Dict(top));
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .with_alignment(64);
        let err = |e: zip::result::ZipError| Error::format(path, format!("writing the zip: {e}"));
        let ioerr = |e: std::io::Error| Error::io(path, e);
        z.start_file("archive/data.pkl", opts).map_err(err)?;
        z.write_all(&pkl).map_err(ioerr)?;
        z.start_file("archive/byteorder", opts).map_err(err)?;
        z.write_all(b"little").map_err(ioerr)?;
        for (i, s) in storages.iter().enumerate() {
            z.start_file(format!("archive/data/{i}"), opts)
                .map_err(err)?;
            let bytes: Vec<u8> = s.iter().flat_map(|v| v.to_le_bytes()).collect();
            z.write_all(&bytes).map_err(ioerr)?;
        }
        z.start_file("archive/version", opts).map_err(err)?;
        z.write_all(b"3\n").map_err(ioerr)?;
        z.finish().map_err(err)?;
    }
    crate::io::atomic_write(path, buf.get_ref())
}

type Named = Vec<(String, Vec<usize>, Vec<f32>)>;

fn with_leading(shape: &[usize], lead: usize) -> Vec<usize> {
    let mut s = vec![1; lead];
    s.extend_from_slice(shape);
    s
}

/// Official generator tensor → rosinality tensor(s) (the inverse of the reader's table).
fn g_to_rosinality(name: &str, t: &RawTensor) -> Result<Named> {
    let p: Vec<&str> = name.split('.').collect();
    let one = |n: String, shape: Vec<usize>| Ok(vec![(n, shape, t.data.clone())]);
    let unknown = || {
        Err(Error::InvalidArgument(format!(
            "cannot export tensor '{name}' to rosinality"
        )))
    };
    match p[..] {
        ["mapping", "w_avg"] => one("latent_avg".into(), t.shape.clone()),
        ["mapping", fc, w] if fc.starts_with("fc") => one(
            format!("style.{}.{w}", fc[2..].parse::<usize>().unwrap_or(0) + 1),
            t.shape.clone(),
        ),
        ["synthesis", "b4", "const"] => one("input.input".into(), with_leading(&t.shape, 1)),
        ["synthesis", b, "resample_filter"] => {
            // The block filter is the ToRGB upsampler (b4 has none); rosinality folds in gain 4.
            let r: usize = b[1..].parse().unwrap_or(4);
            if r == 4 {
                return Ok(vec![]);
            }
            let k = r.trailing_zeros() as usize - 3;
            Ok(vec![(
                format!("to_rgbs.{k}.upsample.kernel"),
                t.shape.clone(),
                t.data.iter().map(|v| v * 4.0).collect(),
            )])
        }
        ["synthesis", b, layer, ref rest @ ..] => {
            let r: usize = b[1..].parse().unwrap_or(0);
            let k = r.trailing_zeros() as usize;
            let (ros, noise_idx) = match (r, layer) {
                (4, "conv1") => ("conv1".to_string(), 0),
                (4, "torgb") => ("to_rgb1".to_string(), 0),
                (_, "conv0") => (format!("convs.{}", 2 * (k - 3)), 2 * (k - 3) + 1),
                (_, "conv1") => (format!("convs.{}", 2 * (k - 3) + 1), 2 * (k - 3) + 2),
                (_, "torgb") => (format!("to_rgbs.{}", k - 3), 0),
                _ => return unknown(),
            };
            match *rest {
                ["weight"] => one(format!("{ros}.conv.weight"), with_leading(&t.shape, 1)),
                ["bias"] if layer == "torgb" => {
                    one(format!("{ros}.bias"), vec![1, t.shape[0], 1, 1])
                }
                ["bias"] => one(format!("{ros}.activate.bias"), t.shape.clone()),
                ["noise_strength"] => one(format!("{ros}.noise.weight"), vec![1]),
                ["noise_const"] => one(
                    format!("noises.noise_{noise_idx}"),
                    with_leading(&t.shape, 2),
                ),
                ["affine", w] => one(format!("{ros}.conv.modulation.{w}"), t.shape.clone()),
                ["resample_filter"] if layer == "conv0" => Ok(vec![(
                    format!("{ros}.conv.blur.kernel"),
                    t.shape.clone(),
                    t.data.iter().map(|v| v * 4.0).collect(),
                )]),
                ["resample_filter"] => Ok(vec![]),
                _ => unknown(),
            }
        }
        _ => unknown(),
    }
}

/// Official discriminator tensor → rosinality tensor(s).
fn d_to_rosinality(name: &str, t: &RawTensor, resolution: usize) -> Result<Named> {
    let p: Vec<&str> = name.split('.').collect();
    let one = |n: String| Ok(vec![(n, t.shape.clone(), t.data.clone())]);
    let unknown = || {
        Err(Error::InvalidArgument(format!(
            "cannot export tensor '{name}' to rosinality"
        )))
    };
    match p[..] {
        ["b4", "conv", "weight"] => one("final_conv.0.weight".into()),
        ["b4", "conv", "bias"] => one("final_conv.1.bias".into()),
        ["b4", "fc", w] => one(format!("final_linear.0.{w}")),
        ["b4", "out", w] => one(format!("final_linear.1.{w}")),
        [.., "resample_filter"] if p.len() == 3 && (p[1] == "conv1" || p[1] == "skip") => {
            let r: usize = p[0][1..].parse().unwrap_or(0);
            let j = (resolution / r.max(1)).trailing_zeros() as usize + 1;
            let part = if p[1] == "conv1" { "conv2" } else { "skip" };
            one(format!("convs.{j}.{part}.0.kernel"))
        }
        [.., "resample_filter"] => Ok(vec![]),
        [_, "fromrgb", "weight"] => one("convs.0.0.weight".into()),
        [_, "fromrgb", "bias"] => one("convs.0.1.bias".into()),
        [b, layer, w] => {
            let r: usize = b[1..].parse().unwrap_or(0);
            let j = (resolution / r.max(1)).trailing_zeros() as usize + 1;
            match (layer, w) {
                ("conv0", "weight") => one(format!("convs.{j}.conv1.0.weight")),
                ("conv0", "bias") => one(format!("convs.{j}.conv1.1.bias")),
                ("conv1", "weight") => one(format!("convs.{j}.conv2.1.weight")),
                ("conv1", "bias") => one(format!("convs.{j}.conv2.2.bias")),
                ("skip", "weight") => one(format!("convs.{j}.skip.1.weight")),
                _ => unknown(),
            }
        }
        _ => unknown(),
    }
}
