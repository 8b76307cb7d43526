//! TorchScript archives (`torch.jit.save`, FORMATS.md §19.2–§19.3): the module tree that
//! `data.pkl` pickles — each module an object of a `__torch__.…` class whose state is a dict of
//! its attributes (children, tensors, ints, int lists) — read as inert data. The archive's
//! `code/` (TorchScript source) is never read, let alone run: networks are rebuilt from their
//! known architecture and checked against the module tree.
//!
//! Only these globals are accepted: `__torch__.*` module classes, `torch._utils
//! _rebuild_tensor_v2` (tensors), `collections OrderedDict` (their empty hook dicts) and
//! `torch.jit._pickle build_intlist` / `build_floatlist` / `build_boollist` (typed lists);
//! anything else is refused with its name and where it was found.

use std::collections::BTreeMap;
use std::path::Path;

use stylegan_pickle::Value;

use super::torch_zip::TorchZip;
use crate::error::{Error, Result};
use crate::weights::RawTensor;

/// One attribute of a scripted module.
#[derive(Clone, Debug)]
pub enum Attr {
    Module(ScriptModule),
    Tensor(RawTensor),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    None,
}

/// A scripted module: its qualified class (`__torch__.inceptionv3.Conv2dLayer`) and its
/// attributes in declaration order.
#[derive(Clone, Debug)]
pub struct ScriptModule {
    pub class: String,
    pub attrs: Vec<(String, Attr)>,
}

impl ScriptModule {
    /// The class name without its module path and TorchScript's `___torch_mangle_N` prefix
    /// (`Conv2dLayer`).
    pub fn short_class(&self) -> &str {
        self.class.rsplit('.').next().unwrap_or(&self.class)
    }

    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, a)| a)
    }

    /// The child module `name`.
    pub fn child(&self, name: &str) -> Option<&ScriptModule> {
        match self.attr(name) {
            Some(Attr::Module(m)) => Some(m),
            _ => None,
        }
    }

    /// The child modules, in declaration order.
    pub fn children(&self) -> impl Iterator<Item = (&str, &ScriptModule)> {
        self.attrs.iter().filter_map(|(k, a)| match a {
            Attr::Module(m) => Some((k.as_str(), m)),
            _ => None,
        })
    }

    /// The module at a dotted path (`net.layers.mixed_4`).
    pub fn at(&self, path: &str) -> Option<&ScriptModule> {
        path.split('.').try_fold(self, |m, p| m.child(p))
    }

    /// Every tensor in the tree under its dotted path (`net.layers.conv.weight`).
    pub fn tensors(&self) -> BTreeMap<String, RawTensor> {
        let mut out = BTreeMap::new();
        self.collect(String::new(), &mut out);
        out
    }

    fn collect(&self, prefix: String, out: &mut BTreeMap<String, RawTensor>) {
        for (k, a) in &self.attrs {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match a {
                Attr::Module(m) => m.collect(name, out),
                Attr::Tensor(t) => {
                    out.insert(name, t.clone());
                }
                _ => {}
            }
        }
    }
}

/// Read the root module of a TorchScript archive.
pub fn read(path: &Path, bytes: &[u8]) -> Result<ScriptModule> {
    let tz = TorchZip::read(path, bytes)?;
    let root = match module(&tz, &tz.top, "the root", 0)? {
        Attr::Module(m) => m,
        _ => {
            return Err(Error::format(
                path,
                "data.pkl does not hold a scripted module: not a TorchScript archive",
            ))
        }
    };
    Ok(root)
}

/// How deep module trees may nest (Inception: 5 levels).
const MAX_DEPTH: usize = 32;

fn module(tz: &TorchZip, v: &Value, at: &str, depth: usize) -> Result<Attr> {
    let bad = |m: String| Error::Config(format!("TorchScript archive, {at}: {m}"));
    if depth > MAX_DEPTH {
        return Err(bad("modules nest too deeply".into()));
    }
    let ints = |items: Vec<Value>| -> Result<Vec<i64>> {
        items
            .iter()
            .map(|x| {
                x.as_int()
                    .ok_or_else(|| bad("a List[int] holds a non-integer".into()))
            })
            .collect()
    };
    Ok(match v {
        Value::None => Attr::None,
        Value::Bool(b) => Attr::Bool(*b),
        Value::Int(i) => Attr::Int(*i),
        Value::Float(f) => Attr::Float(*f),
        Value::Str(s) => Attr::Str(s.to_string()),
        Value::Object(o) => {
            let (m, n) = (o.borrow().module.clone(), o.borrow().name.clone());
            match (m.as_str(), n.as_str()) {
                (m, _) if m.starts_with("__torch__") => {
                    let state = o.borrow().state.clone();
                    let items = state
                        .as_ref()
                        .and_then(|s| s.dict_items())
                        .ok_or_else(|| bad(format!("module {m}.{n} has no attribute dict")))?;
                    let mut attrs = Vec::with_capacity(items.len());
                    for (k, x) in items {
                        let k = k
                            .as_str()
                            .ok_or_else(|| {
                                bad(format!("module {m}.{n}: an attribute name is not a string"))
                            })?
                            .to_string();
                        let child_at = if at == "the root" {
                            k.clone()
                        } else {
                            format!("{at}.{k}")
                        };
                        attrs.push((k, module(tz, &x, &child_at, depth + 1)?));
                    }
                    Attr::Module(ScriptModule {
                        class: format!("{m}.{n}"),
                        attrs,
                    })
                }
                ("torch._utils", "_rebuild_tensor_v2") => {
                    let t = tz.tensor(v, at)?;
                    Attr::Tensor(RawTensor {
                        shape: t.shape,
                        data: t.data,
                    })
                }
                ("collections", "OrderedDict") => Attr::None,
                ("torch.jit._pickle", "build_intlist") => {
                    let list = o.borrow().args.first().and_then(|a| a.as_seq());
                    Attr::Ints(ints(
                        list.ok_or_else(|| bad("build_intlist without a list".into()))?,
                    )?)
                }
                ("torch.jit._pickle", "build_boollist") => {
                    let list = o.borrow().args.first().and_then(|a| a.as_seq());
                    let list = list.ok_or_else(|| bad("build_boollist without a list".into()))?;
                    Attr::Ints(
                        list.iter()
                            .map(|x| match x {
                                Value::Bool(b) => Ok(*b as i64),
                                _ => Err(bad("a List[bool] holds a non-boolean".into())),
                            })
                            .collect::<Result<_>>()?,
                    )
                }
                ("torch.jit._pickle", "build_floatlist") => {
                    let list = o.borrow().args.first().and_then(|a| a.as_seq());
                    let list = list.ok_or_else(|| bad("build_floatlist without a list".into()))?;
                    Attr::Floats(
                        list.iter()
                            .map(|x| {
                                x.as_float()
                                    .ok_or_else(|| bad("a List[float] holds a non-number".into()))
                            })
                            .collect::<Result<_>>()?,
                    )
                }
                (m, n) => {
                    return Err(bad(format!(
                        "unsupported object {m}.{n} (only scripted modules, tensors and typed \
                         lists are read)"
                    )))
                }
            }
        }
        Value::Global(g) => {
            return Err(bad(format!("unsupported global {}.{}", g.0, g.1)));
        }
        _ => {
            return Err(bad(
                "unsupported value (containers other than typed lists are not module attributes)"
                    .into(),
            ))
        }
    })
}
