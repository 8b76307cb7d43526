//! torch objects inside pickles: tensors (`_rebuild_tensor_v2`), parameters
//! (`_rebuild_parameter[_with_state]`), storages as nested legacy `torch.save` streams
//! (`torch.storage._load_from_bytes`, FORMATS.md §6.3) or as persistent ids resolved by the
//! caller (zip checkpoints, §8).

use std::rc::Rc;

use crate::value::Value;
use crate::vm::unpickle;
use crate::{Budget, Error, Result};

/// A storage: its element type and raw little-endian bytes.
#[derive(Clone, Debug)]
pub struct Storage {
    pub dtype: DType,
    pub bytes: Rc<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    /// From a storage class name (`FloatStorage`, …).
    pub fn from_storage_class(name: &str) -> Result<Self> {
        Ok(match name {
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "DoubleStorage" => DType::F64,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            other => {
                return Err(Error::Structure(format!(
                    "unsupported torch storage type '{other}'"
                )))
            }
        })
    }
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
    fn read(self, b: &[u8]) -> f32 {
        match self {
            DType::F32 => f32::from_le_bytes(b.try_into().unwrap()),
            DType::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
            DType::F16 => crate::numpy_f16(u16::from_le_bytes([b[0], b[1]])),
            DType::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            DType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f32,
            DType::I32 => i32::from_le_bytes(b.try_into().unwrap()) as f32,
            DType::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
            DType::I8 => b[0] as i8 as f32,
            DType::U8 | DType::Bool => b[0] as f32,
        }
    }
}

/// A dense tensor converted to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The persistent id tuple `('storage', storage_class, key, location, numel[, view])`:
/// returns (dtype, key, numel).
pub fn parse_storage_pid(pid: &Value) -> Result<(DType, String, usize)> {
    let t = pid
        .as_seq()
        .ok_or_else(|| Error::Structure("persistent id is not a tuple".into()))?;
    if t.first().and_then(|v| v.as_str()) != Some("storage") || t.len() < 5 {
        return Err(Error::Structure(
            "persistent id is not a torch storage reference".into(),
        ));
    }
    let class = match &t[1] {
        Value::Global(g) => g.1.clone(),
        Value::Object(o) => o.borrow().name.clone(),
        _ => {
            return Err(Error::Structure(
                "storage reference without a storage class".into(),
            ))
        }
    };
    let dtype = DType::from_storage_class(&class)?;
    let key = match &t[2] {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        _ => return Err(Error::Structure("storage key is not a string".into())),
    };
    let numel = t[4]
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::Structure("storage size is not an integer".into()))?;
    Ok((dtype, key, numel))
}

const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Parse `torch.storage._load_from_bytes(b)`: a complete legacy `torch.save` stream of one
/// storage (magic, protocol 1001, sys info, the storage pid, the key list, then per key an
/// int64 element count and the raw bytes).
pub fn load_legacy_storage(b: &[u8]) -> Result<Storage> {
    load_legacy_storage_within(b, &Budget::unlimited())
}

/// [`load_legacy_storage`], charging the copy of the storage's bytes to `budget`.
pub fn load_legacy_storage_within(b: &[u8], budget: &Budget) -> Result<Storage> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value> {
        let (v, used) = unpickle(&b[pos..])
            .map_err(|e| Error::Structure(format!("legacy torch stream, {what}: {e}")))?;
        pos += used;
        Ok(v)
    };
    match next("magic")? {
        Value::BigInt(m) if m.as_slice() == MAGIC => {}
        _ => {
            return Err(Error::Structure(
                "not a legacy torch.save stream (bad magic number)".into(),
            ))
        }
    }
    if next("protocol")?.as_int() != Some(1001) {
        return Err(Error::Structure(
            "legacy torch stream: unsupported protocol version".into(),
        ));
    }
    next("sys info")?;
    let obj = next("object")?;
    let Value::PersId(pid) = obj else {
        return Err(Error::Structure(
            "legacy torch stream does not hold a single storage".into(),
        ));
    };
    let (dtype, _key, numel) = parse_storage_pid(&pid)?;
    let keys = next("keys")?.as_seq().unwrap_or_default();
    if keys.len() != 1 {
        return Err(Error::Structure(format!(
            "legacy torch stream holds {} storages, expected 1",
            keys.len()
        )));
    }
    let rest = &b[pos..];
    if rest.len() < 8 {
        return Err(Error::Structure(
            "legacy torch stream ends before the storage data".into(),
        ));
    }
    let n = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
    let nbytes = n
        .checked_mul(dtype.size())
        .filter(|&nb| nb <= rest.len() - 8)
        .ok_or_else(|| Error::Structure("legacy torch stream: storage data is truncated".into()))?;
    if n != numel {
        return Err(Error::Structure(format!(
            "legacy torch stream: storage has {n} elements, its header says {numel}"
        )));
    }
    budget.charge(nbytes as u64, || {
        format!("a storage of {n} {dtype:?} elements (_load_from_bytes)")
    })?;
    Ok(Storage {
        dtype,
        bytes: Rc::new(rest[8..8 + nbytes].to_vec()),
    })
}

/// Parse a whole legacy (pre-1.6, non-zip) `torch.save` file: the saved object (persistent ids
/// left in place) and its storages by key. The storage data follows the key list in key order,
/// each as an int64 element count and the raw bytes; the dtype comes from the first persistent
/// id that names the key.
pub fn load_legacy_file(b: &[u8]) -> Result<(Value, std::collections::HashMap<String, Storage>)> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value> {
        let (v, used) = unpickle(&b[pos..])
            .map_err(|e| Error::Structure(format!("legacy torch file, {what}: {e}")))?;
        pos += used;
        Ok(v)
    };
    match next("magic")? {
        Value::BigInt(m) if m.as_slice() == MAGIC => {}
        _ => {
            return Err(Error::Structure(
                "not a legacy torch.save file (bad magic number)".into(),
            ))
        }
    }
    if next("protocol")?.as_int() != Some(1001) {
        return Err(Error::Structure(
            "legacy torch file: unsupported protocol version".into(),
        ));
    }
    next("sys info")?;
    let obj = next("object")?;
    let keys: Vec<String> = next("keys")?
        .as_seq()
        .unwrap_or_default()
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.to_string()),
            Value::Int(i) => Ok(i.to_string()),
            _ => Err(Error::Structure("storage key is not a string".into())),
        })
        .collect::<Result<_>>()?;
    // dtypes of the keys, from the persistent ids inside the object.
    let mut dtypes = std::collections::HashMap::new();
    // Depth-limited: a hostile stream nests containers millions deep in a few bytes a level.
    fn walk(v: &Value, out: &mut std::collections::HashMap<String, DType>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let walk =
            |v: &Value, out: &mut std::collections::HashMap<String, DType>| walk(v, out, depth + 1);
        match v {
            Value::PersId(p) => {
                if let Ok((d, k, _)) = parse_storage_pid(&p.0) {
                    out.entry(k).or_insert(d);
                }
            }
            Value::Object(o) => {
                let o = o.borrow();
                for a in &o.args {
                    walk(a, out);
                }
                if let Some(s) = &o.state {
                    walk(s, out);
                }
            }
            _ => {
                if let Some(items) = v.dict_items() {
                    for (k, x) in items {
                        walk(&k, out);
                        walk(&x, out);
                    }
                } else if let Some(seq) = v.as_seq() {
                    for x in seq {
                        walk(&x, out);
                    }
                }
            }
        }
    }
    walk(&obj, &mut dtypes, 0);
    let mut storages = std::collections::HashMap::new();
    for k in keys {
        let dtype = *dtypes.get(&k).ok_or_else(|| {
            Error::Structure(format!(
                "legacy torch file: storage '{k}' is never referenced"
            ))
        })?;
        let rest = &b[pos..];
        if rest.len() < 8 {
            return Err(Error::Structure(
                "legacy torch file ends before the storage data".into(),
            ));
        }
        let n = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        let nbytes = n
            .checked_mul(dtype.size())
            .filter(|&nb| nb <= rest.len() - 8)
            .ok_or_else(|| {
                Error::Structure("legacy torch file: storage data is truncated".into())
            })?;
        storages.insert(
            k,
            Storage {
                dtype,
                bytes: Rc::new(rest[8..8 + nbytes].to_vec()),
            },
        );
        pos += 8 + nbytes;
    }
    Ok((obj, storages))
}

/// How deep the readers walk nested values (a state dict is a few levels deep).
const MAX_DEPTH: usize = 64;

/// Resolve a tensor-like value (`_rebuild_tensor_v2`, `_rebuild_parameter…`) to a dense tensor.
/// `resolve_pid` maps persistent ids (zip checkpoints) to storages. The view is checked against
/// its storage before anything is allocated ([`check_view`]), so one tensor never takes more
/// than its storage's element count; readers of whole files use [`tensor_within`] to bound all
/// their tensors together.
pub fn tensor(v: &Value, resolve_pid: &dyn Fn(&Value) -> Result<Storage>) -> Result<Tensor> {
    tensor_within(v, resolve_pid, &Budget::unlimited())
}

/// [`tensor`], charging the dense f32 copy (and any storage parsed from `_load_from_bytes`) to
/// `budget`.
pub fn tensor_within(
    v: &Value,
    resolve_pid: &dyn Fn(&Value) -> Result<Storage>,
    budget: &Budget,
) -> Result<Tensor> {
    let (m, n) = v
        .object_class()
        .ok_or_else(|| Error::Structure("expected a tensor".into()))?;
    let Value::Object(o) = v else { unreachable!() };
    let args = o.borrow().args.clone();
    match (m.as_str(), n.as_str()) {
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => tensor_within(
            args.first()
                .ok_or_else(|| Error::Structure("parameter without data".into()))?,
            resolve_pid,
            budget,
        ),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            if args.len() < 4 {
                return Err(Error::Structure(
                    "_rebuild_tensor_v2 with too few arguments".into(),
                ));
            }
            let storage = match &args[0] {
                Value::PersId(pid) => resolve_pid(pid)?,
                s @ Value::Object(_) => match s.object_class() {
                    Some((m, n)) if m == "torch.storage" && n == "_load_from_bytes" => {
                        let Value::Object(so) = s else { unreachable!() };
                        let b = so
                            .borrow()
                            .args
                            .first()
                            .and_then(|b| b.as_bytes())
                            .ok_or_else(|| {
                                Error::Structure("_load_from_bytes without bytes".into())
                            })?;
                        load_legacy_storage_within(&b, budget)?
                    }
                    Some((m, n)) => {
                        return Err(Error::Structure(format!(
                            "unsupported storage constructor {m}.{n}"
                        )))
                    }
                    None => unreachable!(),
                },
                _ => {
                    return Err(Error::Structure(
                        "tensor storage is neither a persistent id nor _load_from_bytes".into(),
                    ))
                }
            };
            let int = |v: &Value| v.as_int().and_then(|i| usize::try_from(i).ok());
            let offset = int(&args[1])
                .ok_or_else(|| Error::Structure("tensor offset is not an integer".into()))?;
            let ints = |v: &Value| -> Result<Vec<usize>> {
                v.as_seq()
                    .ok_or_else(|| Error::Structure("tensor size/stride is not a tuple".into()))?
                    .iter()
                    .map(|d| {
                        int(d).ok_or_else(|| {
                            Error::Structure("tensor size/stride holds a non-integer".into())
                        })
                    })
                    .collect()
            };
            let (shape, stride) = (ints(&args[2])?, ints(&args[3])?);
            if shape.len() != stride.len() {
                return Err(Error::Structure(
                    "tensor size and stride differ in length".into(),
                ));
            }
            check_view(&storage, offset, &shape, &stride)?;
            let numel: usize = shape.iter().product();
            budget.charge(numel as u64 * 4, || format!("a tensor of shape {shape:?}"))?;
            strided(&storage, offset, &shape, &stride)
        }
        _ => Err(Error::Structure(format!(
            "expected a tensor, found {m}.{n}"
        ))),
    }
}

/// Check a view (`offset`, `shape`, `stride`) against its storage before it is materialised:
/// its element count must not overflow nor exceed the storage's (a broadcast or overlapping
/// view larger than its storage — stride 0 over a one-element storage — would let a few bytes
/// of file allocate without bound), and every element it addresses must lie inside the storage.
pub fn check_view(s: &Storage, offset: usize, shape: &[usize], stride: &[usize]) -> Result<()> {
    let esize = s.dtype.size();
    let len = s.bytes.len() / esize;
    let view = || format!("tensor view (offset {offset}, shape {shape:?}, stride {stride:?})");
    if shape.len() != stride.len() {
        return Err(Error::Structure(format!(
            "{}: size and stride differ in length",
            view()
        )));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Structure(format!("{}: element count overflows", view())))?;
    if numel == 0 {
        return Ok(());
    }
    let max_index = shape.iter().zip(stride).try_fold(offset, |a, (&d, &st)| {
        a.checked_add((d - 1).checked_mul(st)?)
    });
    if max_index.is_none_or(|m| m >= len) {
        return Err(Error::Structure(format!(
            "{} exceeds its storage of {len} elements",
            view()
        )));
    }
    if numel > len {
        return Err(Error::Structure(format!(
            "{} has {numel} elements but its {:?} storage holds only {len}: views larger than \
             their storage (broadcast or overlapping strides) are refused",
            view(),
            s.dtype
        )));
    }
    Ok(())
}

/// Copy a strided view of `storage` into a contiguous f32 tensor ([`check_view`] first).
fn strided(s: &Storage, offset: usize, shape: &[usize], stride: &[usize]) -> Result<Tensor> {
    check_view(s, offset, shape, stride)?;
    let esize = s.dtype.size();
    let numel: usize = shape.iter().product();
    if numel == 0 {
        return Ok(Tensor {
            shape: shape.to_vec(),
            data: vec![],
        });
    }
    let mut data = Vec::with_capacity(numel);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..numel {
        let e = offset + idx.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
        data.push(s.dtype.read(&s.bytes[e * esize..(e + 1) * esize]));
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(Tensor {
        shape: shape.to_vec(),
        data,
    })
}
