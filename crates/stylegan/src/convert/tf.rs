//! Official TensorFlow StyleGAN2 pickles (`(G, D, Gs)` of `dnnlib.tflib.network.Network`,
//! FORMATS.md §7), converted with the same name and layout mapping as the official `legacy.py`:
//! HWIO → OIHW, flipped up-conv kernels, FC weights transposed, modulation bias + 1.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::Device;
use serde_json::{json, Value as Json};
use stylegan_pickle::{numpy, Budget, Value};

use crate::error::{Error, Result};
use crate::io::checkpoint::{NetworkEntry, RawTensor};
use crate::models::discriminator::DISCRIMINATOR_CLASS;
use crate::models::generator::GENERATOR_CLASS;
use crate::models::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

/// Whether `v` is a TF `Network` object.
pub fn is_network(v: &Value) -> bool {
    v.object_class()
        .is_some_and(|(m, n)| m == "dnnlib.tflib.network" && n == "Network")
}

/// The `(name, array)` pairs of a network state's own `variables` list; 0-d variables (`lod`,
/// `noise_strength`) may be 0-d arrays or numpy scalars. `prefix` names them in errors.
pub(super) fn own_variables(
    st: &Value,
    prefix: &str,
    budget: &Budget,
) -> Result<Vec<(String, numpy::Array)>> {
    let mut out = Vec::new();
    for item in st
        .get("variables")
        .and_then(|v| v.as_seq())
        .unwrap_or_default()
    {
        let pair = item.as_seq().unwrap_or_default();
        let (Some(name), Some(arr)) = (pair.first().and_then(|n| n.as_str()), pair.get(1)) else {
            return Err(Error::Config(
                "TF variable entry is not (name, array)".into(),
            ));
        };
        let a = numpy::array_within(arr, budget)
            .or_else(|e| {
                let v = numpy::scalar(arr).map_err(|_| e)?;
                Ok(numpy::Array {
                    shape: vec![],
                    data: vec![v],
                    dtype: "f4".into(),
                })
            })
            .map_err(|e: stylegan_pickle::Error| {
                Error::Config(format!("TF variable '{prefix}{name}': {e}"))
            })?;
        out.push((name.to_string(), a));
    }
    Ok(out)
}

pub(super) fn state(net: &Value) -> Result<Value> {
    let Value::Object(o) = net else {
        return Err(Error::Config("not a TF network".into()));
    };
    o.borrow()
        .state
        .clone()
        .ok_or_else(|| Error::Config("TF network without state".into()))
}

/// All variables of a network and its components, `component/name` → array.
fn variables(
    net: &Value,
    prefix: &str,
    out: &mut HashMap<String, numpy::Array>,
    depth: usize,
    budget: &Budget,
) -> Result<()> {
    if depth > 8 {
        return Err(Error::Config("TF networks nested too deep".into()));
    }
    let st = state(net)?;
    for (name, a) in own_variables(&st, prefix, budget)? {
        out.insert(format!("{prefix}{name}"), a);
    }
    for (k, c) in st
        .get("components")
        .and_then(|c| c.dict_items())
        .unwrap_or_default()
    {
        if let Some(k) = k.as_str() {
            variables(&c, &format!("{prefix}{k}/"), out, depth + 1, budget)?;
        }
    }
    Ok(())
}

/// `static_kwargs` → JSON map, refusing keywords legacy.py does not know.
fn kwargs(net: &Value, known: &[&str]) -> Result<serde_json::Map<String, Json>> {
    let st = state(net)?;
    let mut out = serde_json::Map::new();
    for (k, v) in st
        .get("static_kwargs")
        .and_then(|d| d.dict_items())
        .unwrap_or_default()
    {
        let Some(k) = k.as_str() else { continue };
        if !known.contains(&k) {
            return Err(Error::Config(format!("unknown TensorFlow kwarg '{k}'")));
        }
        out.insert(k.to_string(), super::pickle::to_json(&v, 0));
    }
    Ok(out)
}

fn describe(net: &Value) -> (i64, String) {
    let st = state(net).ok();
    let version = st
        .as_ref()
        .and_then(|s| s.get("version"))
        .and_then(|v| v.as_int())
        .unwrap_or(0);
    let func = st
        .as_ref()
        .and_then(|s| s.get("build_func_name"))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    (version, func)
}

/// The template a config's kwargs describe is allocated (zeros) before the file's variables
/// fill it, so the kwargs must not describe more than the file holds: every legitimate network
/// stores its 4×4 3×3 convolution (`min(channel_base/4, channel_max)`² × 9 weights), and a
/// generator its last noise map (`resolution`²) and its first mapping layer (`z_dim × w_dim`).
/// Refuses kwargs that describe any of these larger than all the file's variables together.
fn check_declared_sizes(
    init: &Json,
    vars: &HashMap<String, numpy::Array>,
    generator: bool,
) -> Result<()> {
    let held: u128 = vars.values().map(|a| a.data.len() as u128).sum();
    let n = |k: &str| init.get(k).and_then(Json::as_u64).unwrap_or(0) as u128;
    let ch = (n("channel_base") / 4).min(n("channel_max"));
    let mut parts = vec![("the 4x4 convolution", ch * ch * 9)];
    if generator {
        parts.push((
            "the last noise map",
            n("img_resolution") * n("img_resolution"),
        ));
        parts.push(("the first mapping layer", n("z_dim") * n("w_dim")));
    }
    for (what, size) in parts {
        if size > held {
            return Err(Error::Config(format!(
                "the TF kwargs describe {what} of {size} weights, but the file holds only \
                 {held} numbers in all (damaged or crafted kwargs)"
            )));
        }
    }
    Ok(())
}

/// Convert `(G, D, Gs)` to checkpoint entries `G`, `D`, `G_ema`; the arrays decoded from the
/// pickle are charged to `budget` (one per file).
pub fn convert(nets: &[Value], budget: &Budget) -> Result<BTreeMap<String, NetworkEntry>> {
    if nets.len() != 3 {
        return Err(Error::Config(format!(
            "a TF network pickle holds (G, D, Gs); this one holds {} objects",
            nets.len()
        )));
    }
    let (version, func) = describe(&nets[2]);
    if super::tf1::is_tfutil_network(&nets[2]) || super::tf1::tf1_function(&nets[2]).is_some() {
        return super::tf1::convert(nets, budget);
    }
    if version < 4 {
        return Err(Error::Config(format!("a TensorFlow pickle with build function '{func}' and state version {version}: neither StyleGAN2 (version 4) nor StyleGAN v1 / PGGAN")));
    }
    let device = crate::backend::cpu();
    let mut out = BTreeMap::new();
    out.insert("G".to_string(), generator(&nets[0], &device, budget)?);
    out.insert("D".to_string(), discriminator(&nets[1], &device, budget)?);
    out.insert("G_ema".to_string(), generator(&nets[2], &device, budget)?);
    Ok(out)
}

const G_KNOWN: &[&str] = &[
    "latent_size",
    "label_size",
    "dlatent_size",
    "resolution",
    "num_channels",
    "architecture",
    "fmap_base",
    "fmap_max",
    "num_fp16_res",
    "conv_clamp",
    "mapping_layers",
    "label_fmaps",
    "mapping_fmaps",
    "mapping_nonlinearity",
    "mapping_lrmul",
    "w_avg_beta",
    "resample_kernel",
    "use_noise",
    "nonlinearity",
    "truncation_psi",
    "truncation_cutoff",
    "style_mixing_prob",
    "structure",
    "conditioning",
    "fused_modconv",
];

fn generator(net: &Value, device: &Device, budget: &Budget) -> Result<NetworkEntry> {
    let kw = kwargs(net, G_KNOWN)?;
    let get = |k: &str, d: Json| kw.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
    let init = json!({
        "z_dim": get("latent_size", json!(512)), "c_dim": get("label_size", json!(0)), "w_dim": get("dlatent_size", json!(512)),
        "img_resolution": get("resolution", json!(1024)), "img_channels": get("num_channels", json!(3)),
        "architecture": get("architecture", json!("skip")),
        "channel_base": get("fmap_base", json!(16384)).as_u64().unwrap_or(16384) * 2, "channel_max": get("fmap_max", json!(512)),
        "num_fp16_res": get("num_fp16_res", json!(0)), "conv_clamp": get("conv_clamp", Json::Null),
        "resample_filter": get("resample_kernel", json!([1, 3, 3, 1])), "use_noise": get("use_noise", json!(true)),
        "activation": get("nonlinearity", json!("lrelu")),
        "mapping_kwargs": {
            "num_layers": get("mapping_layers", json!(8)), "embed_features": get("label_fmaps", Json::Null),
            "layer_features": get("mapping_fmaps", Json::Null), "activation": get("mapping_nonlinearity", json!("lrelu")),
            "lr_multiplier": get("mapping_lrmul", json!(0.01)), "w_avg_beta": get("w_avg_beta", json!(0.995)),
        },
    });
    if kw.keys().any(|k| k.starts_with("ToRGB_lod")) {
        return Err(Error::Config(
            "TF generators with ToRGB_lod layers (configs a-d) are not supported".into(),
        ));
    }
    let cfg = GeneratorConfig::from_init_kwargs(GENERATOR_CLASS, &init)?;
    let mut vars = HashMap::new();
    variables(net, "", &mut vars, 0, budget)?;
    if vars.keys().any(|k| k.contains("ToRGB_lod")) {
        return Err(Error::Config("TF generators with ToRGB_lod layers (configs a-d) are not supported (neither are they by legacy.py)".into()));
    }
    check_declared_sizes(&init, &vars, true)?;
    let template = Generator::template(&cfg, device)?;
    let tensors = fill(template, &vars, g_source, "generator")?;
    Ok(NetworkEntry {
        class_name: GENERATOR_CLASS.into(),
        init_kwargs: cfg.to_init_kwargs(),
        tensors,
    })
}

/// The official tensors of `template` (names, shapes, buffer values of the config) taken from
/// the TF variables that `source` names; only the resample filters keep the template's values.
fn fill(
    template: NetworkEntry,
    vars: &HashMap<String, numpy::Array>,
    source: fn(&str) -> Result<(String, Fx)>,
    what: &str,
) -> Result<BTreeMap<String, RawTensor>> {
    let mut tensors = BTreeMap::new();
    for (name, t) in template.tensors {
        if name.ends_with("resample_filter") {
            tensors.insert(name, t);
            continue;
        }
        let (var, f) = source(&name)?;
        let a = vars.get(&var).ok_or_else(|| {
            Error::Config(format!("TF {what} lacks variable '{var}' (for '{name}')"))
        })?;
        let data = f.apply(a)?;
        if data.shape != t.shape {
            return Err(Error::Config(format!(
                "TF variable '{var}' gives {name} of shape {:?}, expected {:?}",
                data.shape, t.shape
            )));
        }
        tensors.insert(name, data);
    }
    Ok(tensors)
}

/// How a TF array becomes an official tensor.
#[derive(Clone, Copy)]
enum Fx {
    Same,
    /// `.T` of a 2-D array.
    T,
    /// HWIO → OIHW.
    Conv,
    /// Flipped spatially, then HWIO → OIHW.
    FlipConv,
    /// `[0]` (drop a leading 1).
    First,
    /// `[0, 0]`.
    FirstTwo,
    /// `+ 1` (the modulation bias: TF adds the 1 at run time).
    PlusOne,
}

impl Fx {
    fn apply(self, a: &numpy::Array) -> Result<RawTensor> {
        let data: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
        let s = &a.shape;
        let bad = || Error::Config(format!("TF variable of shape {s:?} has an unexpected rank"));
        Ok(match self {
            Fx::Same => RawTensor {
                shape: s.clone(),
                data,
            },
            Fx::PlusOne => RawTensor {
                shape: s.clone(),
                data: data.iter().map(|v| v + 1.0).collect(),
            },
            Fx::T => {
                let [r, c] = s[..] else { return Err(bad()) };
                let mut out = vec![0f32; r * c];
                for i in 0..r {
                    for j in 0..c {
                        out[j * r + i] = data[i * c + j];
                    }
                }
                RawTensor {
                    shape: vec![c, r],
                    data: out,
                }
            }
            Fx::Conv | Fx::FlipConv => {
                let [kh, kw, ci, co] = s[..] else {
                    return Err(bad());
                };
                let flip = matches!(self, Fx::FlipConv);
                let mut out = vec![0f32; kh * kw * ci * co];
                for y in 0..kh {
                    for x in 0..kw {
                        let (sy, sx) = if flip {
                            (kh - 1 - y, kw - 1 - x)
                        } else {
                            (y, x)
                        };
                        for i in 0..ci {
                            for o in 0..co {
                                out[((o * ci + i) * kh + y) * kw + x] =
                                    data[((sy * kw + sx) * ci + i) * co + o];
                            }
                        }
                    }
                }
                RawTensor {
                    shape: vec![co, ci, kh, kw],
                    data: out,
                }
            }
            Fx::First => {
                if s.first() != Some(&1) {
                    return Err(bad());
                }
                RawTensor {
                    shape: s[1..].to_vec(),
                    data,
                }
            }
            Fx::FirstTwo => {
                if s.len() < 2 || s[0] != 1 || s[1] != 1 {
                    return Err(bad());
                }
                RawTensor {
                    shape: s[2..].to_vec(),
                    data,
                }
            }
        })
    }
}

/// legacy.py's `convert_tf_generator` table: official name → (TF variable, transform).
fn g_source(name: &str) -> Result<(String, Fx)> {
    let parts: Vec<&str> = name.split('.').collect();
    let unknown = || Error::Config(format!("no TF source for generator tensor '{name}'"));
    let log2 = |r: &str| {
        r.parse::<usize>()
            .map(|r| r.trailing_zeros() as usize)
            .map_err(|_| unknown())
    };
    Ok(match parts[..] {
        ["mapping", "w_avg"] => ("dlatent_avg".into(), Fx::Same),
        ["mapping", "embed", p] => (
            format!("mapping/LabelEmbed/{p}"),
            if p == "weight" { Fx::T } else { Fx::Same },
        ),
        ["mapping", fc, p] if fc.starts_with("fc") => (
            format!("mapping/Dense{}/{p}", &fc[2..]),
            if p == "weight" { Fx::T } else { Fx::Same },
        ),
        ["synthesis", "b4", "const"] => ("synthesis/4x4/Const/const".into(), Fx::First),
        ["synthesis", b, layer, ref rest @ ..] => {
            let r = &b[1..];
            let tf_layer = match (r, layer) {
                ("4", "conv1") => "Conv",
                (_, "conv0") => "Conv0_up",
                (_, "conv1") => "Conv1",
                (_, "torgb") => "ToRGB",
                (_, "skip") => "Skip",
                _ => return Err(unknown()),
            };
            let base = format!("synthesis/{r}x{r}/{tf_layer}");
            match *rest {
                ["weight"] if layer == "conv0" || layer == "skip" => {
                    (format!("{base}/weight"), Fx::FlipConv)
                }
                ["weight"] => (format!("{base}/weight"), Fx::Conv),
                ["bias"] => (format!("{base}/bias"), Fx::Same),
                ["noise_strength"] => (format!("{base}/noise_strength"), Fx::Same),
                ["affine", "weight"] => (format!("{base}/mod_weight"), Fx::T),
                ["affine", "bias"] => (format!("{base}/mod_bias"), Fx::PlusOne),
                ["noise_const"] => {
                    let k = match (r, layer) {
                        ("4", _) => 0,
                        (_, "conv0") => 2 * log2(r)? - 5,
                        _ => 2 * log2(r)? - 4,
                    };
                    (format!("synthesis/noise{k}"), Fx::FirstTwo)
                }
                _ => return Err(unknown()),
            }
        }
        _ => return Err(unknown()),
    })
}

const D_KNOWN: &[&str] = &[
    "label_size",
    "resolution",
    "num_channels",
    "architecture",
    "fmap_base",
    "fmap_max",
    "num_fp16_res",
    "conv_clamp",
    "mapping_fmaps",
    "nonlinearity",
    "resample_kernel",
    "freeze_layers",
    "mapping_layers",
    "mapping_lrmul",
    "mbstd_group_size",
    "mbstd_num_features",
    "structure",
    "conditioning",
];

fn discriminator(net: &Value, device: &Device, budget: &Budget) -> Result<NetworkEntry> {
    let kw = kwargs(net, D_KNOWN)?;
    let get = |k: &str, d: Json| kw.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
    let act = get("nonlinearity", json!("lrelu"));
    let init = json!({
        "c_dim": get("label_size", json!(0)), "img_resolution": get("resolution", json!(1024)), "img_channels": get("num_channels", json!(3)),
        "architecture": get("architecture", json!("resnet")),
        "channel_base": get("fmap_base", json!(16384)).as_u64().unwrap_or(16384) * 2, "channel_max": get("fmap_max", json!(512)),
        "num_fp16_res": get("num_fp16_res", json!(0)), "conv_clamp": get("conv_clamp", Json::Null), "cmap_dim": get("mapping_fmaps", Json::Null),
        "block_kwargs": {"activation": act, "resample_filter": get("resample_kernel", json!([1, 3, 3, 1])), "freeze_layers": get("freeze_layers", json!(0))},
        "mapping_kwargs": {"num_layers": get("mapping_layers", json!(0)), "embed_features": get("mapping_fmaps", Json::Null),
            "layer_features": get("mapping_fmaps", Json::Null), "activation": act, "lr_multiplier": get("mapping_lrmul", json!(0.1))},
        "epilogue_kwargs": {"mbstd_group_size": get("mbstd_group_size", Json::Null), "mbstd_num_channels": get("mbstd_num_features", json!(1)), "activation": act},
    });
    let cfg = DiscriminatorConfig::from_init_kwargs(DISCRIMINATOR_CLASS, &init)?;
    let mut vars = HashMap::new();
    variables(net, "", &mut vars, 0, budget)?;
    check_declared_sizes(&init, &vars, false)?;
    let template = Discriminator::template(&cfg, device)?;
    let tensors = fill(template, &vars, d_source, "discriminator")?;
    Ok(NetworkEntry {
        class_name: DISCRIMINATOR_CLASS.into(),
        init_kwargs: cfg.to_init_kwargs(),
        tensors,
    })
}

/// legacy.py's `convert_tf_discriminator` table.
fn d_source(name: &str) -> Result<(String, Fx)> {
    let parts: Vec<&str> = name.split('.').collect();
    let unknown = || Error::Config(format!("no TF source for discriminator tensor '{name}'"));
    let wt = |p: &str, conv: bool| {
        if p == "weight" {
            if conv {
                Fx::Conv
            } else {
                Fx::T
            }
        } else {
            Fx::Same
        }
    };
    Ok(match parts[..] {
        ["b4", "conv", p] => (format!("4x4/Conv/{p}"), wt(p, true)),
        ["b4", "fc", p] => (format!("4x4/Dense0/{p}"), wt(p, false)),
        ["b4", "out", p] => (format!("Output/{p}"), wt(p, false)),
        ["b4", "fromrgb", p] => (format!("4x4/FromRGB/{p}"), wt(p, true)),
        ["mapping", "embed", p] => (format!("LabelEmbed/{p}"), wt(p, false)),
        ["mapping", fc, p] if fc.starts_with("fc") => {
            (format!("Mapping{}/{p}", &fc[2..]), wt(p, false))
        }
        [b, layer, p] if b.starts_with('b') => {
            let r = &b[1..];
            let tf = match layer {
                "fromrgb" => "FromRGB",
                "conv0" => "Conv0",
                "conv1" => "Conv1_down",
                "skip" => "Skip",
                _ => return Err(unknown()),
            };
            (format!("{r}x{r}/{tf}/{p}"), wt(p, true))
        }
        _ => return Err(unknown()),
    })
}
