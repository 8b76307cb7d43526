//! The zip form of `torch.save` files and TorchScript archives (`torch.jit.save`): one
//! `<root>/data.pkl` (the pickled object; tensors refer to storages by persistent id) and the
//! storages as members `<root>/data/<key>`. Used by the rosinality reader (a `torch.save` dict)
//! and by the TorchScript reader (module objects, FORMATS.md §19.2–§19.3).
//!
//! Every member goes through the bounded reader ([`crate::data::reader::read_member`]):
//! `data.pkl` within the zip's inflation bound, each storage exactly its declared numel ×
//! itemsize; the tensors made from them share one [`Budget`] sized from what was read, so views
//! cannot multiply a storage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use stylegan_pickle::{torch, unpickle, Budget, Value};

use crate::data::reader::read_member_by_name;
use crate::error::{Error, Result};

/// A read `torch.save` / TorchScript zip: the unpickled `data.pkl` and its storages.
pub(crate) struct TorchZip {
    path: PathBuf,
    /// The object `data.pkl` holds, persistent ids left in place.
    pub top: Value,
    storages: HashMap<String, torch::Storage>,
    budget: Budget,
}

impl TorchZip {
    /// Read `bytes` (the file at `path`, for messages).
    pub fn read(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::format(path, m);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| bad(format!("not a readable zip (truncated or damaged?): {e}")))?;
        let pkl_name = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.to_string()))
            .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
            .ok_or_else(|| bad("zip has no data.pkl: not a torch.save file".into()))?;
        let root = pkl_name.strip_suffix("data.pkl").unwrap_or("").to_string();
        let size = bytes.len() as u64;
        let pkl = read_member_by_name(&mut zip, path, size, &pkl_name, None, u64::MAX)?;
        let mut total = pkl.len() as u64;
        let (top, _) = unpickle(&pkl).map_err(|e| bad(format!("data.pkl: {e}")))?;
        // Storages are separate zip entries; read each once, exactly its declared size.
        let mut storages: HashMap<String, torch::Storage> = HashMap::new();
        let mut pids = Vec::new();
        collect_pids(&top, &mut pids, 0);
        for pid in pids {
            let (dtype, key, numel) =
                torch::parse_storage_pid(&pid).map_err(|e| bad(e.to_string()))?;
            if storages.contains_key(&key) {
                continue;
            }
            let nbytes = (numel as u64)
                .checked_mul(dtype.size() as u64)
                .ok_or_else(|| bad(format!("storage {key}: {numel} elements overflow")))?;
            let name = format!("{root}data/{key}");
            let data = read_member_by_name(&mut zip, path, size, &name, Some(nbytes), u64::MAX)?;
            total += nbytes;
            storages.insert(
                key,
                torch::Storage {
                    dtype,
                    bytes: Rc::new(data),
                },
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            top,
            storages,
            budget: Budget::for_input(total as usize),
        })
    }

    /// The dense tensor a pickled tensor value stands for; errors name `what`.
    pub fn tensor(&self, v: &Value, what: &str) -> Result<torch::Tensor> {
        let resolve = |pid: &Value| -> stylegan_pickle::Result<torch::Storage> {
            let (_, key, numel) = torch::parse_storage_pid(pid)?;
            let s = self.storages.get(&key).cloned().ok_or_else(|| {
                stylegan_pickle::Error::Structure(format!("storage {key} is missing"))
            })?;
            // Two persistent ids may name one key with different sizes: only the first was
            // read.
            if s.bytes.len() != numel.saturating_mul(s.dtype.size()) {
                return Err(stylegan_pickle::Error::Structure(format!(
                    "storage {key} is referenced with {numel} elements but holds {}",
                    s.bytes.len() / s.dtype.size()
                )));
            }
            Ok(s)
        };
        torch::tensor_within(v, &resolve, &self.budget)
            .map_err(|e| Error::format(&self.path, format!("tensor '{what}': {e}")))
    }
}

/// Every persistent id in `v` (depth-limited: a hostile stream nests containers deeply).
fn collect_pids(v: &Value, out: &mut Vec<Value>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::PersId(p) => out.push(p.0.clone()),
        Value::Tuple(_) | Value::List(_) => v
            .as_seq()
            .unwrap_or_default()
            .iter()
            .for_each(|x| collect_pids(x, out, depth + 1)),
        Value::Dict(_) => v
            .dict_items()
            .unwrap_or_default()
            .iter()
            .for_each(|(_, x)| collect_pids(x, out, depth + 1)),
        Value::Object(o) => {
            let o = o.borrow();
            o.args.iter().for_each(|x| collect_pids(x, out, depth + 1));
            o.items
                .iter()
                .for_each(|(_, x)| collect_pids(x, out, depth + 1));
            if let Some(s) = &o.state {
                collect_pids(s, out, depth + 1);
            }
        }
        _ => {}
    }
}
