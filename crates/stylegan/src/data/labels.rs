//! Labels and the official `dataset.json` file.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// One image's label, as stored in `dataset.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    /// An integer class; read back one-hot over `max + 1` classes (official `get_label`).
    Class(u32),
    /// A vector of floats (attributes), read back as is.
    Vector(Vec<f32>),
}

impl Label {
    /// Parse one label value; `None` when it is neither a non-negative integer nor a list of
    /// finite numbers.
    pub fn from_json(v: &Value) -> Option<Label> {
        match v {
            Value::Number(n) => {
                if let Some(i) = n.as_u64() {
                    return u32::try_from(i).ok().map(Label::Class);
                }
                // `3.0` is a class too (numpy would cast it).
                let f = n.as_f64()?;
                (f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64)
                    .then_some(Label::Class(f as u32))
            }
            Value::Array(items) => items
                .iter()
                .map(|x| x.as_f64().filter(|f| f.is_finite()).map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .map(Label::Vector),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Label::Class(c) => Value::from(*c),
            Label::Vector(v) => Value::Array(v.iter().map(|&x| f32_json(x)).collect()),
        }
    }

    /// `class` or `vector of N`, for messages.
    pub fn kind(&self) -> String {
        match self {
            Label::Class(_) => "an integer class".into(),
            Label::Vector(v) => format!("a vector of {} numbers", v.len()),
        }
    }
}

/// The contents of a `dataset.json`.
#[derive(Clone, Debug, Default)]
pub struct LabelFile {
    /// `None` for `{"labels": null}`; otherwise archive (or source) name → label. A name listed
    /// twice keeps its last label, like the official `dict(...)`.
    pub labels: Option<HashMap<String, Label>>,
    /// Our extra key `label_names`, when present.
    pub label_names: Option<Vec<String>>,
}

/// Parse a `dataset.json`; `path` names the file in errors.
pub fn parse_dataset_json(bytes: &[u8], path: &Path) -> Result<LabelFile> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::format(path, format!("not valid JSON: {e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| Error::format(path, "expected a JSON object {\"labels\": ...}"))?;
    let labels = match obj.get("labels") {
        None => return Err(Error::format(
            path,
            "no \"labels\" key (expected {\"labels\": [[name, label], ...]} or {\"labels\": null})",
        )),
        Some(Value::Null) => None,
        Some(Value::Array(entries)) => {
            let mut map = HashMap::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let pair = entry.as_array().filter(|p| p.len() == 2);
                let (name, value) = match pair.and_then(|p| Some((p[0].as_str()?, &p[1]))) {
                    Some(x) => x,
                    None => {
                        return Err(Error::format(
                            path,
                            format!("labels[{i}] is not a [\"name\", label] pair: {entry}"),
                        ))
                    }
                };
                let label = Label::from_json(value).ok_or_else(|| {
                    Error::format(
                        path,
                        format!(
                            "label of '{name}' must be a non-negative integer class or a list \
                             of numbers, got {value}"
                        ),
                    )
                })?;
                map.insert(name.replace('\\', "/"), label);
            }
            Some(map)
        }
        Some(other) => {
            return Err(Error::format(
                path,
                format!("\"labels\" must be a list or null, got {other}"),
            ))
        }
    };
    let label_names = match obj.get("label_names") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::format(path, "\"label_names\" must be a list of strings"))?,
        ),
        Some(_) => {
            return Err(Error::format(
                path,
                "\"label_names\" must be a list of strings",
            ))
        }
    };
    Ok(LabelFile {
        labels,
        label_names,
    })
}

/// A float as JSON with the shortest digits that give back the same `f32` (`0.1`, not
/// `0.10000000149011612`), written like Python's `json.dumps` (`1.0`, `0.25`).
fn f32_json(x: f32) -> Value {
    Value::from(format!("{x}").parse::<f64>().unwrap_or(x as f64))
}

/// Write a `dataset.json` in the official tool's style (`json.dumps`: `", "` and `": "`
/// separators): `{"labels": [["name", label], ...]}` (or `null`), plus `"label_names"` when
/// given.
pub fn dataset_json(labels: Option<&[(String, Label)]>, label_names: Option<&[String]>) -> String {
    let join = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut s = String::from("{\"labels\": ");
    match labels {
        None => s.push_str("null"),
        Some(l) => s.push_str(&join(
            l.iter()
                .map(|(n, lab)| {
                    let lab = match lab {
                        Label::Class(c) => c.to_string(),
                        Label::Vector(v) => {
                            join(v.iter().map(|&x| f32_json(x).to_string()).collect())
                        }
                    };
                    format!("[{}, {lab}]", Value::from(n.as_str()))
                })
                .collect(),
        )),
    }
    if let Some(names) = label_names {
        s.push_str(", \"label_names\": ");
        s.push_str(&join(
            names
                .iter()
                .map(|n| Value::from(n.as_str()).to_string())
                .collect(),
        ));
    }
    s.push('}');
    s
}

/// Check that labels in data set order are all classes or all vectors of one length; `what`
/// names the source in errors. Returns the label dimension (`max + 1` classes, or the vector
/// length).
pub fn check_consistent<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a Label)>,
    what: &Path,
) -> Result<usize> {
    let mut first: Option<(&str, &Label)> = None;
    let mut dim = 0usize;
    for (name, label) in labels {
        match (first, label) {
            (None, _) => first = Some((name, label)),
            (Some((_, Label::Class(_))), Label::Class(_)) => {}
            (Some((_, Label::Vector(a))), Label::Vector(b)) if a.len() == b.len() => {}
            (Some((fname, flabel)), _) => {
                return Err(Error::format(
                    what,
                    format!(
                        "labels are inconsistent: '{fname}' has {} but '{name}' has {}",
                        flabel.kind(),
                        label.kind()
                    ),
                ))
            }
        }
        dim = match label {
            Label::Class(c) => dim.max(*c as usize + 1),
            Label::Vector(v) => v.len(),
        };
    }
    Ok(dim)
}
