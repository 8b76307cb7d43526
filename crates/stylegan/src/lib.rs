//! stylegan-rs: StyleGAN networks faithful to NVIDIA's code, their checkpoints, and the tools
//! built on them. This crate is the library; the `stylegan` command line lives in `crates/cli`.
//!
//! The data path, top-down (each step names the module that owns it):
//!
//! ```text
//! file ─[io: native .safetensors | convert: pickles, TF, rosinality]→ weights::NetworkEntry
//!      ─[models]→ Generator (family: StyleGAN2 | StyleGAN3)
//! seed ─[rng]→ z ─[models::mapping]→ w ─ broadcast, truncation ─→ ws (W+) ─[latent]→ S (StyleGAN2)
//!      ─[models: synthesis blocks / layers, built from nn and ops]→ features f_i ─→ image
//! tools on that path: latent, edit (directions), features (All Trades), invert (projection,
//! PTI), perceptual (LPIPS), metrics, attributes, train (with optim)
//! ```
//!
//! Modules depend one way, bottom to top, as listed here; `tests::layering` enforces it.

// The bottom: errors, the compute backend, numpy's RNG, plain weight types.
pub mod backend;
pub mod error;
pub mod files;
pub mod rng;
pub mod weights;
// Kernels, files, data sets.
pub mod data;
pub mod io;
pub mod ops;
// Network building blocks and the networks of every family.
pub mod models;
pub mod nn;
// Foreign formats, latents, optimisation, perceptual distances.
pub mod convert;
pub mod latent;
pub mod metrics;
pub mod optim;
pub mod perceptual;
// The tools.
pub mod attributes;
pub mod edit;
pub mod features;
pub mod invert;
pub mod train;

pub use backend::{device, Device, DeviceKind};
pub use error::{Error, Result};

/// The names most programs need: `use stylegan::prelude::*;`.
pub mod prelude {
    pub use crate::edit::{Directions, Edit};
    pub use crate::io::checkpoint::Checkpoint;
    pub use crate::io::image::Image8;
    pub use crate::latent::{Latent, Space};
    pub use crate::models::{Discriminator, Family, Generator, NoiseMode};
    pub use crate::{Error, Result};
}

#[cfg(test)]
mod tests {
    /// The allowed layers, bottom (0) to top: a module may use modules of a lower layer, never
    /// of its own or a higher one (except itself).
    const LAYERS: &[&[&str]] = &[
        &["error"],
        &["backend", "rng", "weights", "files"],
        &["ops", "io", "data"],
        &["nn"],
        &["models"],
        &["convert", "latent", "optim", "perceptual"],
        &["features", "invert", "train"],
        &["attributes"],
        &["metrics"],
        &["edit"],
    ];

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// Every `crate::X` a source file names (in `use` lines, `use crate::{X::…}` groups and
    /// paths in code), with the line it is on.
    fn crate_refs(src: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(p) = rest.find("crate::") {
                rest = &rest[p + 7..];
                if let Some(group) = rest.strip_prefix('{') {
                    // `use crate::{a::x, b::{y, z}}` (on one line).
                    for part in group.split(',') {
                        let name: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            out.push((name, i + 1));
                        }
                    }
                    continue;
                }
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((name, i + 1));
                }
            }
        }
        out
    }

    /// One violation per import against the table: `file:line: a -> b`.
    fn violations(root: &std::path::Path) -> Vec<String> {
        let mut bad = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") {
                    continue;
                }
                let rel = p.strip_prefix(root).unwrap();
                let first = rel.iter().next().unwrap().to_string_lossy();
                let module = first.trim_end_matches(".rs").to_string();
                if module == "lib" {
                    continue;
                }
                let Some(own) = layer_of(&module) else {
                    bad.push(format!(
                        "{}: module '{module}' is not in the layering table",
                        rel.display()
                    ));
                    continue;
                };
                let src = std::fs::read_to_string(&p).unwrap();
                for (dep, line) in crate_refs(&src) {
                    if dep == module || matches!(dep.as_str(), "Result" | "Error" | "Device") {
                        continue;
                    }
                    match layer_of(&dep) {
                        Some(l) if l < own => {}
                        Some(_) => bad.push(format!(
                            "{}:{line}: '{module}' (layer {own}) uses '{dep}', which is not below it",
                            rel.display()
                        )),
                        None => bad.push(format!(
                            "{}:{line}: uses 'crate::{dep}', which is not in the layering table",
                            rel.display()
                        )),
                    }
                }
            }
        }
        bad.sort();
        bad
    }

    #[test]
    fn layering() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let bad = violations(&root);
        assert!(
            bad.is_empty(),
            "imports against the layers:\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn layering_check_catches_an_upward_import() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ops")).unwrap();
        std::fs::write(
            dir.path().join("ops/x.rs"),
            "use crate::models::Generator;\nuse crate::{error::Result, backend::cpu};\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("io.rs"),
            "fn f() { crate::io::x(); crate::data::y(); }\n",
        )
        .unwrap();
        let bad = violations(dir.path());
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("'io' (layer 2) uses 'data'"), "{bad:?}");
        assert!(
            bad[1].contains("ops/x.rs:1: 'ops' (layer 2) uses 'models'"),
            "{bad:?}"
        );
    }
    /// `--flag`s inside string literals of one source (comments skipped): the library's
    /// messages describe the problem, the command line adds its own flag names.
    fn cli_flags_in_strings(src: &str) -> Vec<(usize, String)> {
        // Cargo's flag, in the message that says how to build with the GPU backend.
        const TOOL_ARGS: &[&str] = &["--features"];
        let mut out = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("//") {
                continue;
            }
            // The quoted parts of the line (a string continued over lines counts per line).
            for (k, part) in line.split('"').enumerate() {
                let quoted = k % 2 == 1 || (k == 0 && !line.contains('"') && t.ends_with('\\'));
                // A literal that is one word is an argument the library passes to a program it
                // runs (pip, npm, the faces builder), not a message.
                if !quoted || (part.starts_with("--") && !part.contains(' ')) {
                    continue;
                }
                let mut rest = part;
                while let Some(p) = rest.find("--") {
                    let flag: String = rest[p..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    rest = &rest[p + 2..];
                    let named = flag.len() > 2 && flag.as_bytes()[2].is_ascii_lowercase();
                    if named && !TOOL_ARGS.iter().any(|a| flag.starts_with(a)) {
                        out.push((i + 1, flag));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn library_messages_name_no_cli_flags() {
        let mut bad = Vec::new();
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("lib.rs") {
                    let src = std::fs::read_to_string(&p).unwrap();
                    // Test modules may drive the CLI-shaped tools (`--count` of the faces builder).
                    let body = src.split("#[cfg(test)]").next().unwrap();
                    for (line, flag) in cli_flags_in_strings(body) {
                        bad.push(format!("{}:{line}: {flag}", p.display()));
                    }
                }
            }
        }
        assert!(
            bad.is_empty(),
            "CLI flags in library strings:\n{}",
            bad.join("\n")
        );
        assert_eq!(
            cli_flags_in_strings("let e = \"use --space s\"; // --not-this\n"),
            vec![(1, "--space".to_string())]
        );
    }
}
