//! TF1-era network pickles (FORMATS.md §16): StyleGAN v1 (`dnnlib.tflib.network.Network`,
//! state versions 2–3: `G_style` with its `G_mapping` / `G_synthesis` components, `D_basic`)
//! and PGGAN (tkarras' `tfutil.Network`, state version 2: `G_paper`, `D_paper`; also the port
//! in NVlabs/stylegan, a dnnlib pickle). `(G, D, Gs)` become the checkpoint entries `G`, `D`,
//! `G_ema` under the official TF variable names and static kwargs; the pickled source text
//! (`build_module_src`) is never run — only `static_kwargs` and `variables` are read.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use stylegan_pickle::{Budget, Value};

use super::tf::{own_variables, state};

use crate::error::{Error, Result};
use crate::models::{pggan, stylegan1, Generator};
use crate::nn::Params;
use crate::weights::{NetworkEntry, RawTensor};

/// Whether `v` is a tkarras `tfutil.Network`.
pub fn is_tfutil_network(v: &Value) -> bool {
    v.object_class()
        .is_some_and(|(m, n)| m == "tfutil" && n == "Network")
}

/// The build function of a pickled network, if it is one of the TF1 families' top-level
/// networks (`G_style`, `G_paper`, `D_basic`, `D_paper`).
pub fn tf1_function(v: &Value) -> Option<String> {
    let st = state(v).ok()?;
    let f = st.get("build_func_name")?.as_str()?.to_string();
    ["G_style", "G_paper", "D_basic", "D_paper"]
        .contains(&f.as_str())
        .then_some(f)
}

fn text(st: &Value, key: &str) -> Option<String> {
    st.get(key).and_then(|v| v.as_str().map(str::to_string))
}

/// Every variable of `net` and its components (`<component name>/<variable>`, as the
/// official `Network.vars`), as float32 tensors; 0-d variables (`lod`) have shape `[]`.
fn variables(
    net: &Value,
    prefix: &str,
    out: &mut BTreeMap<String, RawTensor>,
    depth: usize,
    budget: &Budget,
) -> Result<()> {
    if depth > 4 {
        return Err(Error::Config("TF networks nested too deep".into()));
    }
    let st = state(net)?;
    for (name, a) in own_variables(&st, prefix, budget)? {
        let full = format!("{prefix}{name}");
        if out.contains_key(&full) {
            return Err(Error::Config(format!("TF variable '{full}' appears twice")));
        }
        let data = a.data.into_iter().map(|v| v as f32).collect();
        out.insert(
            full,
            RawTensor {
                shape: a.shape,
                data,
            },
        );
    }
    for (key, c) in st
        .get("components")
        .and_then(|c| c.dict_items())
        .unwrap_or_default()
    {
        let cst = state(&c)?;
        let name = text(&cst, "name")
            .or_else(|| key.as_str().map(str::to_string))
            .ok_or_else(|| Error::Config("a TF component without a name".into()))?;
        variables(&c, &format!("{prefix}{name}/"), out, depth + 1, budget)?;
    }
    Ok(())
}

/// One network of the tuple as a checkpoint entry; `what` names it in errors.
fn entry(net: &Value, what: &str, budget: &Budget) -> Result<NetworkEntry> {
    let st = state(net).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    let func = text(&st, "build_func_name").unwrap_or_default();
    let version = st.get("version").and_then(|v| v.as_int()).unwrap_or(0);
    let tfutil = is_tfutil_network(net);
    let class = match (func.as_str(), tfutil) {
        ("G_style", false) => stylegan1::G_CLASS,
        ("D_basic", false) => stylegan1::D_CLASS,
        ("G_paper", true) => pggan::G_CLASS,
        ("D_paper", true) => pggan::D_CLASS,
        ("G_paper", false) => pggan::G_CLASS_PORT,
        ("D_paper", false) => pggan::D_CLASS_PORT,
        (f, _) => {
            return Err(Error::Config(format!(
                "{what}: unknown build function '{f}' (a TF1 pickle holds G_style/D_basic or \
                 G_paper/D_paper)"
            )))
        }
    };
    let versions: &[i64] = if tfutil { &[2] } else { &[2, 3] };
    if !versions.contains(&version) {
        return Err(Error::Config(format!(
            "{what}: network state version {version} is not one this {} pickle format has \
             ({versions:?})",
            if tfutil { "tfutil" } else { "dnnlib" }
        )));
    }
    let kwargs = match st.get("static_kwargs") {
        Some(k) if !k.is_none() => super::pickle::to_json(&k, 0),
        _ => Json::Object(Default::default()),
    };
    if !kwargs.is_object() {
        return Err(Error::Config(format!(
            "{what}: static_kwargs is not a dict"
        )));
    }
    let mut tensors = BTreeMap::new();
    variables(net, "", &mut tensors, 0, budget)
        .map_err(|e| Error::Config(format!("{what}: {e}")))?;
    Ok(NetworkEntry {
        class_name: class.into(),
        init_kwargs: kwargs,
        tensors,
    })
}

/// Build the network an entry describes (names, shapes and kwargs checked, every variable
/// used), so that a bad file is refused when it is converted.
pub fn validate(file: &str, e: &NetworkEntry) -> Result<()> {
    let device = crate::backend::cpu();
    match e.short_class() {
        "G_style" | "G_paper" => {
            Generator::from_entry(file, e, &device)?;
        }
        "D_basic" => {
            let mut p = Params::from_tensors(file, e.tensors.clone(), &device);
            stylegan1::Sg1Discriminator::new(&mut p, &e.init_kwargs)?;
            p.finish()?;
        }
        "D_paper" => {
            let mut p = Params::from_tensors(file, e.tensors.clone(), &device);
            pggan::PgganDiscriminator::new(&mut p, &e.init_kwargs)?;
            p.finish()?;
        }
        other => {
            return Err(Error::Config(format!(
                "unknown TF1 network class '{other}'"
            )))
        }
    }
    Ok(())
}

/// Convert `(G, D, Gs)` to the entries `G`, `D`, `G_ema`, each checked by building it.
pub fn convert(nets: &[Value], budget: &Budget) -> Result<BTreeMap<String, NetworkEntry>> {
    if nets.len() != 3 {
        return Err(Error::Config(format!(
            "a TF network pickle holds (G, D, Gs); this one holds {} objects",
            nets.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (key, i, what) in [("G", 0, "G"), ("D", 1, "D"), ("G_ema", 2, "Gs")] {
        let e = entry(&nets[i], what, budget)?;
        validate(what, &e)?;
        out.insert(key.to_string(), e);
    }
    Ok(out)
}
