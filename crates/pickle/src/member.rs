//! The one bounded reader for members of untrusted archives (`torch.save` zips, data set
//! ZIPs). A member's header declares its size, but nothing makes the data agree: a few MB of
//! deflate can inflate to GBs, and a `torch.save` storage member can hold more or less than
//! its tensor's declared element count. [`read_member`] reads through `take(bound + 1)`, where
//! the bound is the least of
//! - the caller's limit (`max`),
//! - for a compressed member, [`MAX_RATIO`] × its compressed size + [`RATIO_SLACK`] (torch
//!   writes stored members, ratio 1; ordinary data is far below 32:1); for a stored member,
//!   its compressed size,
//!
//! and a member's compressed size must fit in the archive; when the caller knows the exact size (a storage's numel × itemsize), the member must
//! declare and hold exactly that. So the memory an archive can make a reader allocate stays
//! O(its size). It takes the member's header fields and data as plain values (the zip crate
//! stays with the caller).

use std::io::Read;

use crate::{Error, Result};

/// Largest inflation accepted for a compressed member (uncompressed / compressed).
pub const MAX_RATIO: u64 = 32;
/// Inflation allowed on top of [`MAX_RATIO`] (small members compress unusually well).
pub const RATIO_SLACK: u64 = 1 << 20;

/// What an archive's header says about one member.
#[derive(Clone, Copy, Debug)]
pub struct MemberHeader<'a> {
    pub name: &'a str,
    /// Declared uncompressed size.
    pub size: u64,
    pub compressed_size: u64,
    /// Stored (not compressed).
    pub stored: bool,
    /// Size of the whole archive: the member's compressed data must fit in it (the header's
    /// compressed size is itself only a claim).
    pub archive_size: u64,
}

/// Read one member's `data` with the bounds of the module documentation. `expected`: the exact
/// size the member must have; `max`: the caller's limit. Errors name the member.
pub fn read_member(
    header: MemberHeader,
    data: impl Read,
    expected: Option<u64>,
    max: u64,
) -> Result<Vec<u8>> {
    let MemberHeader {
        name,
        size: declared,
        compressed_size: compressed,
        stored,
        archive_size,
    } = header;
    let bad = |msg: String| Error::Structure(format!("member '{name}' {msg}"));
    if compressed > archive_size {
        return Err(bad(format!(
            "declares {compressed} compressed bytes, more than the whole archive \
             ({archive_size} bytes)"
        )));
    }
    let ratio_bound = if stored {
        compressed
    } else {
        compressed
            .saturating_mul(MAX_RATIO)
            .saturating_add(RATIO_SLACK)
    };
    let bound = max.min(ratio_bound);
    if let Some(want) = expected {
        if declared != want {
            return Err(bad(format!(
                "declares {declared} bytes, but the data it holds needs exactly {want}"
            )));
        }
    }
    if declared > bound {
        return Err(bad(if declared > max {
            format!("declares {declared} bytes, more than the {max} accepted here")
        } else if stored {
            format!("declares {declared} bytes but stores {compressed}")
        } else {
            format!(
                "declares {declared} bytes from {compressed} compressed: more than {MAX_RATIO}x \
                 its compressed size + {} MiB is refused as a zip bomb",
                RATIO_SLACK >> 20
            )
        }));
    }
    // Grown as data arrives (at most 64 MiB reserved up front from the declared size).
    let mut buf = Vec::with_capacity(declared.min(64 << 20) as usize);
    data.take(bound.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    let got = buf.len() as u64;
    if got > bound || got != declared {
        return Err(bad(format!(
            "declares {declared} bytes but {} (a damaged or hostile archive)",
            if got > bound {
                format!("inflates to more than {bound}")
            } else {
                format!("holds {got}")
            }
        )));
    }
    Ok(buf)
}
