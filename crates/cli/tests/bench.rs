//! `stylegan bench --network`: times a given file, refuses what it cannot time.

mod common;
use common::{fails, ok, run, tiny};

#[test]
fn bench_times_a_given_network() {
    let o = run(&[
        "bench",
        "--what",
        "generate",
        "--network",
        &tiny(),
        "--batches",
        "1,2",
        "--iters",
        "1",
    ]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    for batch in [1, 2] {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("| tiny-uncond.safetensors | {batch} |")))
            .unwrap_or_else(|| panic!("no row for batch {batch}: {out}"));
        // images/s, ms/image, GFLOP/image, GFLOP/s and (on Linux) the peak RSS in MiB:
        // positive numbers.
        let cells: Vec<f64> = row
            .split('|')
            .skip(3)
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        let want = if cfg!(target_os = "linux") { 5 } else { 4 };
        assert_eq!(cells.len(), want, "{row}");
        assert!(cells.iter().all(|&v| v > 0.0), "{row}");
    }
}

#[test]
fn bench_refuses_missing_and_conditional_networks() {
    let o = run(&[
        "bench",
        "--what",
        "generate",
        "--network",
        "/no/such/net.safetensors",
    ]);
    fails(&o, &["/no/such/net.safetensors"]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cond.json");
    std::fs::write(
        &cfg,
        r#"{"G": {"z_dim": 8, "w_dim": 8, "c_dim": 3, "img_resolution": 8, "img_channels": 3,
             "mapping_kwargs": {"num_layers": 1}, "channel_base": 64, "channel_max": 8}}"#,
    )
    .unwrap();
    let net = tmp.path().join("cond.safetensors");
    ok(&run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        net.to_str().unwrap(),
    ]));
    let o = run(&[
        "bench",
        "--what",
        "generate",
        "--network",
        net.to_str().unwrap(),
    ]);
    fails(&o, &["cond.safetensors", "conditional"]);
    assert!(o.stdout.is_empty(), "no table for a refused network");
}
