//! `stylegan train --cfg pggan|stylegan1`: progressive growing as the official TF1 training
//! loops do it. A run directory like the StyleGAN2 runs' (`training_options.json`,
//! `reals.png`, `fakes_init.png`, `log.jsonl`, `network-snapshot-*.safetensors` +
//! `fakes*.png`), plus `growth.png`: one row of Gs samples at the end of every resolution
//! step (each row at the full size, so the growth is visible top to bottom).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use stylegan::data::Dataset;
use stylegan::io::image::{grid, Image8};
use stylegan::train::progressive::{new_networks, ProgressiveOptions, ProgressiveTrainer, Recipe};
use stylegan::train::{latest_snapshot, new_run_dir, snapshot_nimg, snapshot_tag, trim_log};

use super::Args;

/// The recipe of a progressive run: `--cfg pggan|stylegan1`, or what the snapshot given to
/// `--resume` was trained with; `None` for StyleGAN2/3 runs.
pub(super) fn recipe_of(a: &Args) -> Result<Option<Recipe>> {
    if let Err(r) = a.cfg.kind() {
        return Ok(Some(r));
    }
    let Some(resume) = &a.resume else {
        return Ok(None);
    };
    let snap = if resume.is_dir() {
        match latest_snapshot(resume) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        }
    } else {
        resume.clone()
    };
    // A progressive snapshot names its own recipe; anything else goes the StyleGAN2/3 way.
    Ok(ProgressiveOptions::of_snapshot(&snap)
        .ok()
        .map(|o| o.recipe))
}

/// Flags of the StyleGAN2/3 recipe that progressive growing does not have.
fn refuse_flags(a: &Args) -> Result<()> {
    let given = [
        ("--cond", a.cond),
        ("--aug", a.aug.is_some()),
        ("--p", a.p.is_some()),
        ("--target", a.target.is_some()),
        ("--ada-kimg", a.ada_kimg.is_some()),
        ("--freeze-d", a.freeze_d.is_some()),
        ("--freeze-mapping", a.freeze_mapping),
        ("--freeze-affine", a.freeze_affine),
        ("--force", a.force),
        ("--metrics", a.metrics.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        bail!("{flag} is not part of progressive growing (--cfg pggan|stylegan1)");
    }
    if a.device != crate::args::DeviceArg::Cpu {
        bail!("progressive growing runs on the CPU (--device cpu)");
    }
    Ok(())
}

/// The options of a new run: the recipe's official values and the flags.
fn new_options(a: &Args, recipe: Recipe, resolution: usize) -> Result<ProgressiveOptions> {
    let mut o = ProgressiveOptions::official(recipe);
    if a.mirror {
        o.mirror = true;
    }
    o.seed = a.seed.unwrap_or(0);
    if let Some(b) = a.batch {
        crate::args::count("--batch", b, 1, stylegan::train::MAX_BATCH)?;
        let g = a.mbstd_group.unwrap_or(4).min(b);
        if g > 0 && b % g != 0 {
            bail!("--batch {b} is not divisible by the minibatch-std group size {g}");
        }
        o.schedule.minibatch_base = b;
        o.schedule.minibatch_dict.clear();
    }
    if let Some(g) = a.gamma {
        if recipe == Recipe::Pggan {
            bail!("--gamma: PGGAN trains with WGAN-GP (lambda 10), not R1");
        }
        crate::args::range("--gamma", g, 0.0, false, f64::INFINITY)?;
        o.r1_gamma = g;
    }
    if let Some(lr) = a.glr {
        crate::args::range("--glr", lr, 0.0, true, stylegan::train::MAX_LEARNING_RATE)?;
        o.schedule.g_lrate_base = lr;
        o.schedule.g_lrate_dict.clear();
    }
    if let Some(lr) = a.dlr {
        crate::args::range("--dlr", lr, 0.0, true, stylegan::train::MAX_LEARNING_RATE)?;
        o.schedule.d_lrate_base = lr;
        o.schedule.d_lrate_dict.clear();
    }
    if let Some(k) = a.lod_kimg {
        crate::args::range("--lod-kimg", k, 0.0, false, 1e9)?;
        o.schedule.lod_training_kimg = k;
        o.schedule.lod_transition_kimg = k;
    }
    if let Some(r) = a.lod_initial {
        o.schedule.lod_initial_resolution = r;
    }
    if let Some(k) = a.ema_kimg {
        crate::args::range("--ema-kimg", k, 0.0, true, 1e9)?;
        o.ema_kimg = Some(k);
    }
    o.schedule
        .check(resolution)
        .context("--lod-initial / the data set's resolution")?;
    Ok(o)
}

/// The networks' static kwargs of a new run from the data set and the flags (official
/// defaults otherwise: fmap_base 8192, fmap_max 512, 512-d latents, 8 mapping layers).
fn new_kwargs(a: &Args, recipe: Recipe, data: &Dataset) -> Result<Value> {
    let mut k = json!({
        "resolution": data.resolution(),
        "num_channels": data.channels(),
        "label_size": 0,
        "fmap_base": a.cbase.unwrap_or(8192),
        "fmap_max": a.cmax.unwrap_or(512),
    });
    if let Some(g) = a.mbstd_group {
        k["mbstd_group_size"] = json!(g);
    }
    match recipe {
        Recipe::StyleGan1 => {
            if let Some(d) = a.latent_dim {
                k["latent_size"] = json!(d);
                k["dlatent_size"] = json!(d);
                k["mapping_fmaps"] = json!(d);
            }
            if let Some(m) = a.map {
                k["mapping_layers"] = json!(m);
            }
        }
        Recipe::Pggan => {
            if a.map.is_some() {
                bail!("--map: PGGAN has no mapping network");
            }
            if let Some(d) = a.latent_dim {
                k["latent_size"] = json!(d);
            }
        }
    }
    Ok(k)
}

/// Gs samples of the grid seeds at the current lod, each image `size` px.
fn samples(t: &ProgressiveTrainer, n: usize) -> Result<Vec<Image8>> {
    let gs = t.gs()?;
    let seeds: Vec<u32> = (0..n as u32).collect();
    Ok(gs.render(&seeds, 1.0, None)?)
}

fn save_png(img: &Image8, path: &Path) -> Result<()> {
    img.save_png(path)
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn run(a: Args, recipe: Recipe) -> Result<()> {
    refuse_flags(&a)?;
    crate::args::range("--kimg", a.kimg, 0.0, true, 1e9)?;
    crate::args::range("--tick", a.tick, 0.0, true, 1e9)?;
    crate::args::count("--snap", a.snap, 1, 1_000_000)?;
    let (cols, rows) = crate::args::parse_grid(&a.grid).context("--grid")?;
    crate::args::count("--grid", cols * rows, 1, 1024)?;
    let device = crate::cmd::device(&a.device)?;
    eprintln!("loading {}", a.data.display());
    let data = Dataset::open(&a.data)
        .with_context(|| format!("reading the data set {}", a.data.display()))?;
    let name = match recipe {
        Recipe::Pggan => "pggan",
        Recipe::StyleGan1 => "stylegan1",
    };
    // Resume (a snapshot or a run directory: continue in place) or start.
    let (mut trainer, dir) = match &a.resume {
        Some(r) => {
            let snap = if r.is_dir() {
                latest_snapshot(r)?
            } else {
                r.clone()
            };
            let opts = ProgressiveOptions::of_snapshot(&snap)?;
            let t = ProgressiveTrainer::resume(&snap, opts, &device)
                .with_context(|| format!("--resume {}", snap.display()))?;
            let dir: PathBuf = snap
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            if snapshot_nimg(&snap.file_name().unwrap_or_default().to_string_lossy()).is_some() {
                trim_log(&dir, t.cur_nimg)?;
            }
            eprintln!(
                "resuming {} at {:.3} kimg (lod {:.3})",
                snap.display(),
                t.cur_nimg as f64 / 1000.0,
                t.point().lod
            );
            (t, dir)
        }
        None => {
            if data.has_labels() && a.cond {
                bail!("--cond: progressive growing of conditional networks is not supported yet");
            }
            let opts = new_options(&a, recipe, data.resolution())?;
            let kwargs = new_kwargs(&a, recipe, &data)?;
            let (g, d) = new_networks(recipe, &kwargs, opts.seed, &device)?;
            let t = ProgressiveTrainer::new(opts, &g, &d, &device)?;
            let stem = a
                .data
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data".into());
            let mut desc = format!("{stem}-{name}");
            if let Some(d) = &a.desc {
                desc = format!("{desc}-{d}");
            }
            let dir = new_run_dir(&a.outdir, &desc)?;
            eprintln!("new run in {}", dir.display());
            (t, dir)
        }
    };
    let res = data.resolution();
    if trainer
        .g
        .init_kwargs
        .get("resolution")
        .and_then(Value::as_u64)
        != Some(res as u64)
    {
        bail!(
            "the data set is {res}x{res}, the network {}",
            trainer.g.init_kwargs["resolution"]
        );
    }
    let options_path = dir.join("training_options.json");
    if !options_path.exists() {
        let options = json!({
            "data": a.data.display().to_string(), "cfg": name, "kimg": a.kimg, "tick": a.tick,
            "snap": a.snap, "G_kwargs": trainer.g.init_kwargs, "D_kwargs": trainer.d.init_kwargs,
            "options": trainer.opts.record(),
        });
        stylegan::io::atomic_write(
            &options_path,
            serde_json::to_string_pretty(&options)?.as_bytes(),
        )?;
        let reals: Vec<Image8> = (0..(cols * rows).min(data.len()))
            .map(|i| Image8 {
                width: res,
                height: res,
                channels: data.channels(),
                pixels: chw_to_hwc(data.image_slice(i), data.channels(), res),
            })
            .collect();
        save_png(&grid(&reals, cols, rows)?, &dir.join("reals.png"))?;
        save_png(
            &grid(&samples(&trainer, cols * rows)?, cols, rows)?,
            &dir.join("fakes_init.png"),
        )?;
    }
    let total = (a.kimg * 1000.0).round() as u64;
    let tick_nimg = ((a.tick * 1000.0).round() as u64).max(1);
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "train [{bar:30}] {pos}/{len} img ({per_sec}, eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_position(trainer.cur_nimg);
    let mut growth: Vec<Vec<Image8>> = Vec::new();
    let mut tick_start = trainer.cur_nimg;
    let mut tick_time = Instant::now();
    let mut ticks = 0usize;
    let mut last_snapshot = None;
    while trainer.cur_nimg < total {
        let before = trainer.point();
        let st = trainer.round(&data)?;
        pb.set_position(trainer.cur_nimg.min(total));
        pb.set_message(format!("lod {:.2} ({} px)", st.lod, st.resolution));
        let after = trainer.point();
        if after.resolution != before.resolution || after.lod.floor() != before.lod.floor() {
            // A resolution step is complete: a row of the growth picture at the old level.
            growth.push(samples(&trainer, cols)?);
        }
        let done = trainer.cur_nimg >= total;
        if trainer.cur_nimg >= tick_start + tick_nimg || done {
            ticks += 1;
            let secs = tick_time.elapsed().as_secs_f64();
            let kimg_done = (trainer.cur_nimg - tick_start) as f64 / 1000.0;
            let line = json!({
                "tick": ticks, "kimg": trainer.cur_nimg as f64 / 1000.0, "lod": st.lod,
                "resolution": st.resolution, "minibatch": st.minibatch,
                "loss_g": st.loss_g, "loss_d": st.loss_d, "d_real": st.d_real,
                "d_fake": st.d_fake, "fake_rms": st.fake_rms,
                (if recipe == Recipe::Pggan { "gradient_penalty" } else { "r1_penalty" }): st.penalty,
                "sec_per_kimg": secs / kimg_done.max(1e-9),
            });
            say(&pb, format!(
                "tick {ticks:<4} kimg {:<8.2} lod {:<5.2} {:>4} px  sec/kimg {:<7.1} G {:.3} D {:.3} {} {:.3}  D(real) {:.2} D(fake) {:.2} fake rms {:.2}",
                trainer.cur_nimg as f64 / 1000.0,
                st.lod,
                st.resolution,
                secs / kimg_done.max(1e-9),
                st.loss_g,
                st.loss_d,
                if recipe == Recipe::Pggan { "gp" } else { "r1" },
                st.penalty,
                st.d_real,
                st.d_fake,
                st.fake_rms
            ));
            append_log(&dir, &line)?;
            if ticks.is_multiple_of(a.snap) || done {
                let tag = snapshot_tag(trainer.cur_nimg);
                let path = dir.join(format!("network-snapshot-{tag}.safetensors"));
                let meta = BTreeMap::from([(
                    "stylegan_rs.source".to_string(),
                    format!("train --cfg {name}"),
                )]);
                trainer.save(&path, &meta)?;
                save_png(
                    &grid(&samples(&trainer, cols * rows)?, cols, rows)?,
                    &dir.join(format!("fakes{tag}.png")),
                )?;
                say(&pb, format!("snapshot {}", path.display()));
                last_snapshot = Some(path);
            }
            tick_start = trainer.cur_nimg;
            tick_time = Instant::now();
        }
    }
    pb.finish_and_clear();
    growth.push(samples(&trainer, cols)?);
    let rows_n = growth.len();
    let flat: Vec<Image8> = growth.into_iter().flatten().collect();
    save_png(&grid(&flat, cols, rows_n)?, &dir.join("growth.png"))?;
    eprintln!(
        "done: {:.3} kimg in {}{}",
        trainer.cur_nimg as f64 / 1000.0,
        dir.display(),
        last_snapshot.map_or(String::new(), |p| format!(
            " (last snapshot {})",
            p.display()
        ))
    );
    Ok(())
}

/// A line above the progress bar, or on stderr when the bar is hidden (not a terminal).
fn say(pb: &indicatif::ProgressBar, line: String) {
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

fn chw_to_hwc(chw: &[u8], c: usize, r: usize) -> Vec<u8> {
    let mut out = vec![0u8; chw.len()];
    for ch in 0..c {
        for p in 0..r * r {
            out[p * c + ch] = chw[ch * r * r + p];
        }
    }
    out
}

fn append_log(dir: &Path, line: &Value) -> Result<()> {
    use std::io::Write;
    let path = dir.join("log.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
