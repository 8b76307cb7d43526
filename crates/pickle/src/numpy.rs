//! numpy arrays and scalars inside pickles (`numpy.core.multiarray._reconstruct` + `BUILD`,
//! `numpy.core.multiarray.scalar`, `numpy.dtype`), under both `numpy.core` and `numpy._core`.

use crate::value::Value;
use crate::{Budget, Error, Result};

/// A dense array converted to f64 (float and integer dtypes).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: String,
}

fn is_multiarray(module: &str) -> bool {
    module == "numpy.core.multiarray" || module == "numpy._core.multiarray"
}

/// The dtype string (`'f4'`, `'<f8'`, …) of a pickled `numpy.dtype(...)` object.
fn dtype_of(v: &Value) -> Option<(String, bool)> {
    let (m, n) = v.object_class()?;
    if m != "numpy" || n != "dtype" {
        return None;
    }
    let Value::Object(o) = v else { return None };
    let o = o.borrow();
    let code = o.args.first()?.as_str()?.to_string();
    let big = o
        .state
        .as_ref()
        .and_then(|s| s.as_seq())
        .and_then(|s| s.get(1).and_then(|b| b.as_str().map(|b| b == ">")))
        .unwrap_or(false);
    Some((code, big))
}

fn decode(code: &str, big: bool, raw: &[u8]) -> Result<Vec<f64>> {
    let code = code.trim_start_matches(['<', '>', '=', '|']);
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap();
                    (if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }) as f64
                })
                .collect()
        };
    }
    Ok(match code {
        "f4" => conv!(f32, 4),
        "f8" => conv!(f64, 8),
        "f2" => raw
            .chunks_exact(2)
            .map(|c| {
                f16_bits_to_f64(if big {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                })
            })
            .collect(),
        "i8" => conv!(i64, 8),
        "i4" => conv!(i32, 4),
        "i2" => conv!(i16, 2),
        "i1" => conv!(i8, 1),
        "u8" => conv!(u64, 8),
        "u4" => conv!(u32, 4),
        "u2" => conv!(u16, 2),
        "u1" | "b1" => conv!(u8, 1),
        other => {
            return Err(Error::Structure(format!(
                "unsupported numpy dtype '{other}'"
            )))
        }
    })
}

fn f16_bits_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f64;
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 => {
            if mant == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + mant / 1024.0) * 2f64.powi(e - 15),
    }
}

fn elem_size(code: &str) -> usize {
    code.trim_start_matches(['<', '>', '=', '|'])
        .get(1..)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// A pickled `numpy.ndarray` (`_reconstruct(ndarray, (0,), b'b')` with `BUILD (ver, shape,
/// dtype, is_fortran, rawdata)`). The declared shape must match the data bytes present before
/// anything is decoded, so one array takes at most 8 bytes per data byte; readers of whole
/// files use [`array_within`] to bound all their arrays together.
pub fn array(v: &Value) -> Result<Array> {
    array_within(v, &Budget::unlimited())
}

/// [`array`], charging the decoded f64 elements (and a Fortran-order reordering) to `budget`.
pub fn array_within(v: &Value, budget: &Budget) -> Result<Array> {
    let (m, n) = v
        .object_class()
        .ok_or_else(|| Error::Structure("not a numpy array".into()))?;
    if (m == "numpy._core.numeric" || m == "numpy.core.numeric") && n == "_frombuffer" {
        return frombuffer(v, budget);
    }
    if !is_multiarray(&m) || n != "_reconstruct" {
        return Err(Error::Structure(format!(
            "expected a numpy array, found {m}.{n}"
        )));
    }
    let Value::Object(o) = v else { unreachable!() };
    let o = o.borrow();
    let state = o
        .state
        .as_ref()
        .and_then(|s| s.as_seq())
        .ok_or_else(|| Error::Structure("numpy array without BUILD state".into()))?;
    if state.len() < 5 {
        return Err(Error::Structure("numpy array state is too short".into()));
    }
    let shape: Vec<usize> = state[1]
        .as_seq()
        .ok_or_else(|| Error::Structure("numpy shape is not a tuple".into()))?
        .iter()
        .map(|d| d.as_int().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Structure("numpy shape holds a non-integer".into()))?;
    let (code, big) = dtype_of(&state[2])
        .ok_or_else(|| Error::Structure("numpy array without a dtype".into()))?;
    let fortran = matches!(state[3], Value::Bool(true));
    let raw = match &state[4] {
        Value::Bytes(b) => b.clone(),
        Value::Str(s) => {
            // Python 2 pickles: the data as a latin-1 string, copied to bytes here.
            budget.charge(s.len() as u64, || {
                "numpy array data (a latin-1 string)".into()
            })?;
            std::rc::Rc::new(s.chars().map(|c| c as u32 as u8).collect())
        }
        _ => {
            return Err(Error::Structure(
                "numpy array data is not bytes (object arrays are not supported)".into(),
            ))
        }
    };
    decode_array(shape, code, big, fortran, &raw, budget)
}

/// numpy ≥ 2 with protocol 5: `_frombuffer(buffer, dtype, shape, order)` =
/// `frombuffer(buffer, dtype).reshape(shape, order=order)`.
fn frombuffer(v: &Value, budget: &Budget) -> Result<Array> {
    let Value::Object(o) = v else { unreachable!() };
    let o = o.borrow();
    let raw = o
        .args
        .first()
        .and_then(|b| b.as_bytes())
        .ok_or_else(|| Error::Structure("numpy _frombuffer without a buffer".into()))?;
    let (code, big) = o
        .args
        .get(1)
        .and_then(dtype_of)
        .ok_or_else(|| Error::Structure("numpy _frombuffer without a dtype".into()))?;
    let shape: Vec<usize> = o
        .args
        .get(2)
        .and_then(|s| s.as_seq())
        .ok_or_else(|| Error::Structure("numpy _frombuffer without a shape".into()))?
        .iter()
        .map(|d| d.as_int().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Structure("numpy shape holds a non-integer".into()))?;
    let fortran = o.args.get(3).and_then(|s| s.as_str()) == Some("F");
    decode_array(shape, code, big, fortran, &raw, budget)
}

/// The array of `shape` from its raw bytes, once their count is checked against the shape,
/// with the decoded elements (and a Fortran-order reordering) charged to `budget`.
fn decode_array(
    shape: Vec<usize>,
    code: String,
    big: bool,
    fortran: bool,
    raw: &[u8],
    budget: &Budget,
) -> Result<Array> {
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Structure(format!("numpy shape {shape:?} overflows")))?;
    if Some(raw.len()) != numel.checked_mul(elem_size(&code)) {
        return Err(Error::Structure(format!(
            "numpy array of shape {shape:?} and dtype {code} has {} data bytes",
            raw.len()
        )));
    }
    let copies = if fortran && shape.len() > 1 { 2 } else { 1 };
    budget.charge(numel as u64 * 8 * copies, || {
        format!("a numpy array of shape {shape:?} ({code})")
    })?;
    let mut data = decode(&code, big, raw)?;
    if fortran && shape.len() > 1 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(Array {
        shape,
        data,
        dtype: code,
    })
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut idx = vec![0usize; shape.len()];
    for (c_pos, o) in out.iter_mut().enumerate() {
        let mut rem = c_pos;
        for d in (0..shape.len()).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        let mut f_pos = 0;
        for d in (0..shape.len()).rev() {
            f_pos = f_pos * shape[d] + idx[d];
        }
        *o = data[f_pos];
    }
    out
}

/// A pickled numpy scalar (`scalar(dtype, bytes)`) as f64.
pub fn scalar(v: &Value) -> Result<f64> {
    let (m, n) = v
        .object_class()
        .ok_or_else(|| Error::Structure("not a numpy scalar".into()))?;
    if !is_multiarray(&m) || n != "scalar" {
        return Err(Error::Structure(format!(
            "expected a numpy scalar, found {m}.{n}"
        )));
    }
    let Value::Object(o) = v else { unreachable!() };
    let o = o.borrow();
    let (code, big) = o
        .args
        .first()
        .and_then(dtype_of)
        .ok_or_else(|| Error::Structure("numpy scalar without a dtype".into()))?;
    let raw = o
        .args
        .get(1)
        .and_then(|b| b.as_bytes())
        .ok_or_else(|| Error::Structure("numpy scalar without data".into()))?;
    decode(&code, big, &raw)?
        .first()
        .copied()
        .ok_or_else(|| Error::Structure("empty numpy scalar".into()))
}

/// A number that may be a Python int/float, a numpy scalar or a 0-d array.
pub fn number(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| scalar(v).ok()).or_else(|| {
        array(v)
            .ok()
            .filter(|a| a.data.len() == 1)
            .map(|a| a.data[0])
    })
}
