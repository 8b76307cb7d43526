//! The whole loader (format detection, unpickler, torch/numpy readers, zip, name mapping) on
//! damaged real files: always an error or a network, never a panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stylegan::io::checkpoint::Checkpoint;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../pickle/fixtures")
            .join(name),
    )
    .unwrap()
}

const FILES: [&str; 5] = [
    "tiny-proto4.pkl",
    "tiny-proto3.pkl",
    "tiny-tf.pkl",
    "tiny-rosinality-convert.pt",
    "tiny-uncond.safetensors",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]
    #[test]
    fn damaged_network_files_never_panic(
        file in 0usize..FILES.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = fixture(FILES[file]);
        let n = bytes.len();
        for (pos, val) in flips {
            bytes[pos % n] = val;
        }
        let _ = Checkpoint::open_bytes(Path::new(FILES[file]), &bytes);
        let cut = cut % (n + 1);
        let _ = Checkpoint::open_bytes(Path::new(FILES[file]), &bytes[..cut]);
    }
}

#[test]
fn undamaged_fixtures_load() {
    for f in FILES {
        Checkpoint::open_bytes(Path::new(f), &fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
