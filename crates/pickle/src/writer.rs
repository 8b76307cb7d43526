//! A small pickle writer (protocol 2) for what `torch.load` needs from a zip checkpoint:
//! dicts, `OrderedDict`s, strings, numbers and tensors whose storages are persistent ids.
//! Hand-written for the same reason as the reader: no crate writes torch's object model.

/// A value to write.
#[derive(Clone, Debug)]
pub enum Out {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Dict(Vec<(Out, Out)>),
    OrderedDict(Vec<(Out, Out)>),
    /// A float32 tensor stored in zip entry `data/<key>`.
    Tensor {
        key: String,
        shape: Vec<usize>,
    },
}

/// Serialise `v` as a protocol-2 pickle the way `torch.save` lays out `data.pkl`.
pub fn dumps(v: &Out) -> Vec<u8> {
    let mut b = vec![0x80, 2];
    write(&mut b, v);
    b.push(b'.');
    b
}

fn global(b: &mut Vec<u8>, module: &str, name: &str) {
    b.push(b'c');
    b.extend_from_slice(module.as_bytes());
    b.push(b'\n');
    b.extend_from_slice(name.as_bytes());
    b.push(b'\n');
}

fn str_(b: &mut Vec<u8>, s: &str) {
    b.push(b'X');
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn int(b: &mut Vec<u8>, i: i64) {
    if let Ok(v) = i32::try_from(i) {
        b.push(b'J');
        b.extend_from_slice(&v.to_le_bytes());
    } else {
        b.push(0x8a);
        b.push(8);
        b.extend_from_slice(&i.to_le_bytes());
    }
}

fn tuple(b: &mut Vec<u8>, items: impl FnOnce(&mut Vec<u8>)) {
    b.push(b'(');
    items(b);
    b.push(b't');
}

fn items(b: &mut Vec<u8>, pairs: &[(Out, Out)]) {
    for chunk in pairs.chunks(1000) {
        b.push(b'(');
        for (k, v) in chunk {
            write(b, k);
            write(b, v);
        }
        b.push(b'u');
    }
}

fn write(b: &mut Vec<u8>, v: &Out) {
    match v {
        Out::None => b.push(b'N'),
        Out::Bool(t) => b.push(if *t { 0x88 } else { 0x89 }),
        Out::Int(i) => int(b, *i),
        Out::Float(f) => {
            b.push(b'G');
            b.extend_from_slice(&f.to_be_bytes());
        }
        Out::Str(s) => str_(b, s),
        Out::Dict(pairs) => {
            b.push(b'}');
            items(b, pairs);
        }
        Out::OrderedDict(pairs) => {
            global(b, "collections", "OrderedDict");
            b.push(b')');
            b.push(b'R');
            items(b, pairs);
        }
        Out::Tensor { key, shape } => {
            global(b, "torch._utils", "_rebuild_tensor_v2");
            let numel: usize = shape.iter().product();
            tuple(b, |b| {
                // The storage, as a persistent id.
                tuple(b, |b| {
                    str_(b, "storage");
                    global(b, "torch", "FloatStorage");
                    str_(b, key);
                    str_(b, "cpu");
                    int(b, numel as i64);
                });
                b.push(b'Q');
                int(b, 0);
                tuple(b, |b| shape.iter().for_each(|&d| int(b, d as i64)));
                let mut stride = vec![1usize; shape.len()];
                for i in (0..shape.len().saturating_sub(1)).rev() {
                    stride[i] = stride[i + 1] * shape[i + 1];
                }
                tuple(b, |b| stride.iter().for_each(|&s| int(b, s as i64)));
                b.push(0x89);
                global(b, "collections", "OrderedDict");
                b.push(b')');
                b.push(b'R');
            });
            b.push(b'R');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{torch, unpickle, Value};

    #[test]
    fn written_tensors_read_back() {
        let v = Out::Dict(vec![
            (
                Out::Str("sd".into()),
                Out::OrderedDict(vec![(
                    Out::Str("w".into()),
                    Out::Tensor {
                        key: "0".into(),
                        shape: vec![2, 3],
                    },
                )]),
            ),
            (Out::Str("p".into()), Out::Float(0.25)),
        ]);
        let (top, used) = unpickle(&dumps(&v)).unwrap();
        assert_eq!(used, dumps(&v).len());
        assert_eq!(top.get("p").and_then(|p| p.as_float()), Some(0.25));
        let w = top.get("sd").unwrap().get("w").unwrap();
        let bytes: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let storage = torch::Storage {
            dtype: torch::DType::F32,
            bytes: std::rc::Rc::new(bytes),
        };
        let t = torch::tensor(&w, &|pid: &Value| {
            assert_eq!(torch::parse_storage_pid(pid)?.1, "0");
            Ok(storage.clone())
        })
        .unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
