pub mod bench;
pub mod convert;
pub mod dataset;
pub mod directions;
pub mod generate;
pub mod info;
pub mod init;
pub mod inspect;
pub mod mix;

use anyhow::Result;
use stylegan::{Device, DeviceKind};

/// `--device cpu|gpu` → a burn device.
pub fn device(kind: &str) -> Result<Device> {
    Ok(stylegan::device(kind.parse::<DeviceKind>()?)?)
}

/// A progress bar for `n` items (hidden for small jobs).
pub fn progress(n: usize, what: &str) -> indicatif::ProgressBar {
    if n <= 4 {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}
