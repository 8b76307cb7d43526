//! SeFa directions against the fixtures' `torch.svd` of the concatenated conv affine weights
//! (columns = directions, compared up to sign; tolerances from the manifest).

mod common;

use stylegan::edit::{sefa::sefa, Directions};
use stylegan::models::Generator;

#[test]
fn sefa_matches_official_svd() {
    let dev = stylegan::backend::cpu();
    for cfg in ["sg2_32", "sg2c_32"] {
        let Some(dir) = common::fixture_dir(cfg) else {
            return;
        };
        let g = Generator::load(dir.join("G_ema.safetensors"), &dev).unwrap();
        let got = sefa(&g, None).unwrap();
        let vecs = common::npy(&dir.join("sefa_eigvec.npy")); // [w_dim, K], columns = directions
        let sv = common::npy(&dir.join("sefa_sv.npy"));
        let (d, k) = (vecs.shape[0], vecs.shape[1]);
        for i in 0..5 {
            let rel = ((got.values[i] as f64) - sv.data[i]).abs() / sv.data[i];
            assert!(rel <= 1e-4, "{cfg}: singular value {i} off by {rel}");
            let dot: f64 = (0..d)
                .map(|r| got.directions[i][r] as f64 * vecs.data[r * k + i])
                .sum();
            assert!(
                dot.abs() >= 0.9999,
                "{cfg}: direction {i} |dot| {}",
                dot.abs()
            );
        }
        // Unit rows, strongest first, and the file format round trips.
        assert!(got.values.windows(2).all(|w| w[0] >= w[1]));
        let norm: f32 = got.directions[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("sefa.safetensors");
        got.save(&p).unwrap();
        assert_eq!(Directions::load(&p).unwrap(), got);
        assert!(sefa(&g, Some(&[99]))
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }
}
