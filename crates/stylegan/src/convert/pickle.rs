//! Official network pickles (stylegan2-ada-pytorch / stylegan3 `network-snapshot-*.pkl`,
//! FORMATS.md §6), read with the project's safe unpickler: nothing in the file is executed —
//! the embedded `module_src` is data — and the networks come out as checkpoint entries under
//! their official `state_dict()` names.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json};
use stylegan_pickle::{numpy, torch, unpickle, Budget, Value};

use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};

/// Read any supported network file into a checkpoint (native files directly, official pickles
/// by conversion). Used by [`Checkpoint::open`].
pub(crate) fn read_any(path: &Path) -> Result<Checkpoint> {
    let bytes = crate::files::read_input(path)?;
    read_any_bytes(path, &bytes)
}

/// [`read_any`] on bytes already in memory; `path` names the file in errors. The format comes
/// from the content (`PK` zip: `torch.save`; `0x80`: a pickle; else safetensors), and from the
/// extension when the content is too damaged to tell (a broken `.pkl` is reported as a
/// pickle, a broken `.pt` as a torch file). Every network that comes out has only finite
/// values ([`Checkpoint::check_finite`]; native files are checked in
/// [`Checkpoint::from_bytes`]).
pub(crate) fn read_any_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let converted = if bytes.starts_with(b"PK\x03\x04") {
        super::rosinality::read(path, bytes)?
    } else if bytes.first() == Some(&0x80) || ext == "pkl" || ext == "pickle" {
        from_pickle(path, bytes)?
    } else if ext == "pt" || ext == "pth" {
        return Err(Error::format(
            path,
            format!(
                "not a torch.save checkpoint: {}",
                if bytes.is_empty() {
                    "the file is empty".to_string()
                } else {
                    "it does not start with a zip header ('PK'), so it is damaged or in \
                     another format"
                        .to_string()
                }
            ),
        ));
    } else {
        return Checkpoint::from_bytes(path, bytes);
    };
    converted.check_finite()?;
    Ok(converted)
}

/// Metadata recording where a converted checkpoint came from (`stylegan_rs.source`).
pub(crate) fn source_metadata(kind: &str, path: &Path) -> BTreeMap<String, String> {
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    BTreeMap::from([("stylegan_rs.source".to_string(), format!("{kind} {name}"))])
}

fn from_pickle(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let bad = |msg: String| Error::format(path, msg);
    let (top, _) = unpickle(bytes).map_err(|e| {
        bad(format!(
            "not a readable pickle ({}): {e}",
            if bytes.is_empty() {
                "the file is empty"
            } else if matches!(e, stylegan_pickle::Error::Eof(_)) {
                "truncated"
            } else {
                "damaged or not a pickle"
            }
        ))
    })?;
    // Everything materialised from the pickle shares one budget sized from the file.
    let budget = Budget::for_input(bytes.len());
    if let Some(items) = top.as_seq() {
        if items
            .iter()
            .any(|v| super::tf::is_network(v) || super::tf1::is_tfutil_network(v))
        {
            let networks = super::tf::convert(&items, &budget)
                .map_err(|e| bad(format!("TensorFlow pickle: {e}")))?;
            let extra_metadata = source_metadata("official TensorFlow pickle", path);
            return Ok(Checkpoint {
                path: path.to_path_buf(),
                networks,
                extra_metadata,
                extra_tensors: Default::default(),
            });
        }
    }
    if top.get("G_ema").is_none() && top.get("G").is_none() {
        return Err(bad(
            "the pickle holds no 'G_ema' or 'G' network: it is not an official network pickle"
                .into(),
        ));
    }
    let mut networks = BTreeMap::new();
    for key in ["G_ema", "G", "D"] {
        let Some(node) = top.get(key) else { continue };
        if node.is_none() {
            continue;
        }
        let entry = network(&node, &budget).map_err(|e| bad(format!("network '{key}': {e}")))?;
        networks.insert(key.to_string(), entry);
    }
    // One code base wrote the whole pickle: if its generator is ADA's (nested
    // synthesis_kwargs), so is its discriminator, whose defaults differ too (§6.6).
    let ada = networks
        .values()
        .any(|e: &NetworkEntry| e.class_name.starts_with("training.networks."));
    if ada {
        for e in networks.values_mut() {
            if let Some(class) = e.class_name.strip_prefix("training.networks_stylegan2.") {
                e.class_name = format!("training.networks.{class}");
            }
        }
    }
    let mut extra_metadata = source_metadata("official PyTorch pickle", path);
    if let Some(t) = top.get("training_set_kwargs").filter(|v| !v.is_none()) {
        extra_metadata.insert("training_set_kwargs".into(), to_json(&t, 0).to_string());
    }
    Ok(Checkpoint {
        path: path.to_path_buf(),
        networks,
        extra_metadata,
        extra_tensors: Default::default(),
    })
}

/// `(class_name, state)` of a persistent-class node (`_reconstruct_persistent_obj(meta)`).
fn persistent(node: &Value) -> Result<(String, Value)> {
    match node.object_class() {
        Some((m, n)) if m == "torch_utils.persistence" && n == "_reconstruct_persistent_obj" => {}
        Some((m, n)) => {
            return Err(Error::Config(format!(
                "expected a persistent network object, found {m}.{n}"
            )))
        }
        None => return Err(Error::Config("expected a persistent network object".into())),
    }
    let Value::Object(o) = node else {
        unreachable!()
    };
    let meta = o
        .borrow()
        .args
        .first()
        .cloned()
        .ok_or_else(|| Error::Config("persistent object without meta".into()))?;
    let class = meta
        .get("class_name")
        .and_then(|c| c.as_str().map(str::to_string))
        .ok_or_else(|| Error::Config("persistent object without class_name".into()))?;
    let state = meta
        .get("state")
        .ok_or_else(|| Error::Config(format!("{class}: no state")))?;
    Ok((class, state))
}

fn network(node: &Value, budget: &Budget) -> Result<NetworkEntry> {
    let (class, state) = persistent(node)?;
    let mut tensors = BTreeMap::new();
    flatten(&state, "", &mut tensors, 0, budget)?;
    let (kwargs, args) = (state.get("_init_kwargs"), state.get("_init_args"));
    let mut init = match &kwargs {
        Some(k) => to_json(k, 0),
        None => Json::Object(Map::new()),
    };
    let positional: &[&str] = match class.as_str() {
        "Generator" => &["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"],
        "Discriminator" => &["c_dim", "img_resolution", "img_channels"],
        other => {
            return Err(Error::Config(format!(
                "unsupported network class '{other}'"
            )))
        }
    };
    if let (Some(args), Some(obj)) = (args.and_then(|a| a.as_seq()), init.as_object_mut()) {
        for (name, v) in positional.iter().zip(args) {
            obj.insert(name.to_string(), to_json(&v, 0));
        }
    }
    // The pickle names the class but not its module (that is in `module_src`, which is never
    // run): StyleGAN3's generator is the one with a Fourier-feature input; ADA's
    // training/networks.py nests the synthesis arguments; the stylegan3 code does not.
    let is_sg3 = tensors.keys().any(|k| k.starts_with("synthesis.input."));
    let module = if is_sg3 {
        "training.networks_stylegan3"
    } else if init.get("synthesis_kwargs").is_some() {
        "training.networks"
    } else {
        "training.networks_stylegan2"
    };
    Ok(NetworkEntry {
        class_name: format!("{module}.{class}"),
        init_kwargs: init,
        tensors,
    })
}

/// `state_dict()`: own parameters, own persistent buffers, then submodules with `name.`.
fn flatten(
    state: &Value,
    prefix: &str,
    out: &mut BTreeMap<String, RawTensor>,
    depth: usize,
    budget: &Budget,
) -> Result<()> {
    if depth > 64 {
        return Err(Error::Config(
            "module tree is nested more than 64 levels deep".into(),
        ));
    }
    let no_pid = |_: &Value| -> stylegan_pickle::Result<torch::Storage> {
        Err(stylegan_pickle::Error::Structure(
            "unexpected persistent id in a network pickle".into(),
        ))
    };
    let non_persistent: Vec<String> = match state.get("_non_persistent_buffers_set") {
        Some(Value::Set(s)) => s
            .borrow()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    for field in ["_parameters", "_buffers"] {
        for (k, v) in state
            .get(field)
            .and_then(|d| d.dict_items())
            .unwrap_or_default()
        {
            let Some(name) = k.as_str() else { continue };
            if v.is_none() || (field == "_buffers" && non_persistent.iter().any(|n| n == name)) {
                continue;
            }
            let t = torch::tensor_within(&v, &no_pid, budget)
                .map_err(|e| Error::Config(format!("tensor '{prefix}{name}': {e}")))?;
            out.insert(
                format!("{prefix}{name}"),
                RawTensor {
                    shape: t.shape,
                    data: t.data,
                },
            );
        }
    }
    for (k, v) in state
        .get("_modules")
        .and_then(|d| d.dict_items())
        .unwrap_or_default()
    {
        let Some(name) = k.as_str() else { continue };
        if v.is_none() {
            continue;
        }
        let (_, child) = persistent(&v).or_else(|_| {
            // Plain torch modules (not persistent classes) pickle their __dict__ as BUILD state.
            match &v {
                Value::Object(o) => o
                    .borrow()
                    .state
                    .clone()
                    .map(|s| (String::new(), s))
                    .ok_or_else(|| {
                        Error::Config(format!("submodule '{prefix}{name}' has no state"))
                    }),
                _ => Err(Error::Config(format!(
                    "submodule '{prefix}{name}' is not a module"
                ))),
            }
        })?;
        flatten(&child, &format!("{prefix}{name}."), out, depth + 1, budget)?;
    }
    Ok(())
}

/// Constructor arguments as JSON: dicts / EasyDicts → objects, tuples / lists → arrays,
/// numpy scalars → numbers.
pub(crate) fn to_json(v: &Value, depth: usize) -> Json {
    if depth > 32 {
        return Json::Null;
    }
    match v {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.to_string()),
        Value::Tuple(_) | Value::List(_) => Json::Array(
            v.as_seq()
                .unwrap_or_default()
                .iter()
                .map(|x| to_json(x, depth + 1))
                .collect(),
        ),
        Value::Dict(_) | Value::Object(_)
            if v.object_class().is_none_or(|(m, n)| {
                (m == "dnnlib.util" && n == "EasyDict")
                    || (m == "collections" && n == "OrderedDict")
            }) =>
        {
            let mut obj = Map::new();
            for (k, x) in v.dict_items().unwrap_or_default() {
                if let Some(k) = k.as_str() {
                    obj.insert(k.to_string(), to_json(&x, depth + 1));
                }
            }
            Json::Object(obj)
        }
        other => match numpy::number(other) {
            // numpy integer scalars (e.g. a resolution) stay integers.
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Json::from(f as i64),
            Some(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
            None => Json::Null,
        },
    }
}
