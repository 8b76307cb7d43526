//! Labels and the official `dataset.json` file.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Most classes an integer label may name (a class is `0..MAX_CLASSES`): labels are read
/// one-hot, and `c_dim` classes give the conditional networks a `c_dim × 512` embedding and
/// every batch a `c_dim`-wide label, so a class of 10^9 in a small file would ask for
/// terabytes. 65,536 is far above real data sets (ImageNet has 1,000 classes). The same check
/// serves `dataset.json` when a data set is built and when it is read.
pub const MAX_CLASSES: usize = 1 << 16;
/// Longest attribute-vector label (same reasoning as [`MAX_CLASSES`]).
pub const MAX_LABEL_DIM: usize = 1 << 16;
/// Largest `dataset.json` accepted (its parsed form takes several times its size). A
/// million-image data set with six-number labels needs about 80 MB.
pub const MAX_DATASET_JSON_BYTES: u64 = 256 << 20;

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

/// Why `v` is not an acceptable label (the message of [`parse_dataset_json`]'s error), or the
/// label: a class must be an integer in `0..MAX_CLASSES`, a vector at most [`MAX_LABEL_DIM`]
/// finite numbers.
pub fn check_label(v: &Value) -> std::result::Result<Label, String> {
    let label = Label::from_json(v);
    let problem = match (&label, v) {
        (Some(Label::Class(c)), _) if *c as usize >= MAX_CLASSES => format!(
            "class {c} is out of range: classes must be 0..{} (at most {MAX_CLASSES} classes)",
            MAX_CLASSES - 1
        ),
        (Some(Label::Vector(l)), _) if l.len() > MAX_LABEL_DIM => format!(
            "a vector of {} numbers is longer than the {MAX_LABEL_DIM} accepted",
            l.len()
        ),
        (Some(l), _) => return Ok(l.clone()),
        (None, Value::Number(n)) => match n.as_f64() {
            Some(f) if f < 0.0 => format!("class {n} is negative"),
            Some(f) if f.fract() != 0.0 => format!("class {n} is not an integer"),
            _ => format!("class {n} is out of range (0..{})", MAX_CLASSES - 1),
        },
        (None, Value::Array(items)) => {
            let (i, x) = items
                .iter()
                .enumerate()
                .find(|(_, x)| x.as_f64().is_none_or(|f| !f.is_finite()))
                .expect("a rejected vector has a bad element");
            format!("element {i} of the vector is {x}, not a finite number")
        }
        (None, other) => format!("{other} is neither an integer class nor a list of numbers"),
    };
    Err(problem)
}

/// Parse a `dataset.json`; `path` names the file in errors. Refuses files over
/// [`MAX_DATASET_JSON_BYTES`] and every label [`check_label`] refuses, naming the entry.
pub fn parse_dataset_json(bytes: &[u8], path: &Path) -> Result<LabelFile> {
    if bytes.len() as u64 > MAX_DATASET_JSON_BYTES {
        return Err(Error::format(
            path,
            format!(
                "is {} bytes, more than the {} MiB accepted for a dataset.json",
                bytes.len(),
                MAX_DATASET_JSON_BYTES >> 20
            ),
        ));
    }
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
                let label = check_label(value).map_err(|why| {
                    Error::format(
                        path,
                        format!(
                            "labels[{i}] ('{name}'): {why}; a label is an integer class \
                             0..{} or a list of at most {MAX_LABEL_DIM} finite numbers",
                            MAX_CLASSES - 1
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
