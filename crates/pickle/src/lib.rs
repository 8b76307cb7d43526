//! A safe unpickler: it evaluates pickle streams *symbolically*. Globals are recorded as names,
//! `REDUCE` / `NEWOBJ` / `BUILD` build inert [`Object`]s, and nothing is ever imported or run, so
//! loading a pickle cannot execute code. Readers for the structures StyleGAN checkpoints use
//! (torch tensors and storages, numpy arrays and scalars) interpret those objects by name.
//!
//! Hand-written because the existing crates either execute nothing but do not support the
//! opcodes and object model torch/numpy pickles need (`serde-pickle` refuses `REDUCE` of
//! unknown globals and persistent ids), or are bindings to Python.

pub mod numpy;
pub mod torch;
mod value;
mod vm;
pub mod writer;

pub use value::{Object, Value};
pub use vm::{unpickle, Limits, Unpickler};

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
