//! A safe unpickler: it evaluates pickle streams *symbolically*. Globals are recorded as names,
//! `REDUCE` / `NEWOBJ` / `BUILD` build inert [`Object`]s, and nothing is ever imported or run, so
//! loading a pickle cannot execute code. Readers for the structures StyleGAN checkpoints use
//! (torch tensors and storages, numpy arrays and scalars) interpret those objects by name.
//!
//! Hand-written because the existing crates either execute nothing but do not support the
//! opcodes and object model torch/numpy pickles need (`serde-pickle` refuses `REDUCE` of
//! unknown globals and persistent ids), or are bindings to Python.

pub mod member;
pub mod numpy;
pub mod torch;
mod value;
mod vm;
pub mod writer;

pub use value::{Object, Value};
pub use vm::{unpickle, Limits, Unpickler};

use std::cell::Cell;

/// A cap on the bytes that materialising tensors and arrays out of one untrusted file may
/// allocate in total (dense copies of storages, decoded elements). A file can reference one
/// storage from many tensors (through the memo, or by naming the same zip member), so a bound
/// per tensor is not enough: readers share one `Budget` per file, sized from the file itself
/// ([`Budget::for_input`]), and every copy is charged to it before it is made.
#[derive(Debug)]
pub struct Budget {
    total: u64,
    left: Cell<u64>,
}

impl Budget {
    /// `bytes` in total.
    pub fn new(bytes: u64) -> Self {
        Self {
            total: bytes,
            left: Cell::new(bytes),
        }
    }

    /// No cap across calls (each tensor is still bounded by its own storage).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// The budget for a file of `len` bytes: [`BUDGET_FACTOR`] × `len` + [`BUDGET_FLOOR`]. A
    /// real checkpoint materialises each stored element once (×1 for float32 storages, ×2 for
    /// float16, ×8 for numpy arrays decoded to f64 from f8 data), well inside the factor.
    pub fn for_input(len: usize) -> Self {
        Self::new(
            (len as u64)
                .saturating_mul(BUDGET_FACTOR)
                .saturating_add(BUDGET_FLOOR),
        )
    }

    /// Take `bytes` from the budget, or fail naming `what` and the limit.
    pub fn charge(&self, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
        let left = self.left.get();
        if bytes > left {
            return Err(Error::Limit(format!(
                "{} needs {bytes} more bytes, but the file's tensors may only take {} bytes in \
                 all ({BUDGET_FACTOR}x the file size + {} MiB): the file references more data \
                 than it holds",
                what(),
                self.total,
                BUDGET_FLOOR >> 20
            )));
        }
        self.left.set(left - bytes);
        Ok(())
    }
}

/// See [`Budget::for_input`].
pub const BUDGET_FACTOR: u64 = 8;
/// See [`Budget::for_input`].
pub const BUDGET_FLOOR: u64 = 64 << 20;

/// Everything that can go wrong while reading a pickle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pickle ends early (at byte {0})")]
    Eof(usize),
    #[error("unknown pickle opcode 0x{op:02x} at byte {pos}")]
    UnknownOpcode { op: u8, pos: usize },
    #[error("malformed pickle at byte {pos}: {msg}")]
    Malformed { pos: usize, msg: String },
    #[error("pickle exceeds a safety limit: {0}")]
    Limit(String),
    #[error("refused global '{module}.{name}': it is not on the allow-list")]
    RefusedGlobal { module: String, name: String },
    #[error("{0}")]
    Structure(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// IEEE half → f32 (shared by the torch and numpy readers).
pub(crate) fn numpy_f16(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f32;
    sign * match exp {
        0 => mant * 2f32.powi(-24),
        31 => {
            if mant == 0.0 {
                f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => (1.0 + mant / 1024.0) * 2f32.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn half_floats_decode() {
        assert_eq!(super::numpy_f16(0x3c00), 1.0);
        assert_eq!(super::numpy_f16(0xc000), -2.0);
        assert_eq!(super::numpy_f16(0x0001), 2f32.powi(-24));
        assert!(super::numpy_f16(0x7c00).is_infinite());
    }
}
