//! Evaluating inversion methods: how well each one reconstructs a set of targets (held-out real
//! images, generated images) — PSNR, LPIPS and the atypicality of the latent it finds, per
//! target and as means per target group, with the reconstructions for pictures.
//!
//! ```text
//! targets ─┬─ project (w, W+, S, S + prior) ──┐
//!          └─ w pivot ── pivotal tuning ───────┴─ PSNR, LPIPS, atypicality → Evaluation
//! ```

use std::collections::BTreeMap;

use super::pti::{pivotal_tuning, PtiConfig};
use super::stats::LatentStats;
use super::target::{from_image8, Target};
use super::{project, Prior, ProjectorConfig};
use crate::error::{Error, Result};
use crate::io::image::psnr;
use crate::io::image::Image8;
use crate::latent::{Latent, Space};
use crate::models::{Generator, NoiseMode};
use crate::perceptual::Lpips;

/// One inversion method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// Projection into w (`projector.py`).
    W,
    /// Projection into W+ (one w per layer).
    WPlus,
    /// Projection into StyleSpace.
    S,
    /// Projection into StyleSpace with the diagonal Gaussian prior.
    SPrior,
    /// Pivotal tuning around the w projection.
    Pti,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::W,
        Method::WPlus,
        Method::S,
        Method::SPrior,
        Method::Pti,
    ];

    /// The name on the command line and in `results.json` (`w`, `wplus`, `s`, `s-prior`, `pti`).
    pub fn name(self) -> &'static str {
        match self {
            Method::W => "w",
            Method::WPlus => "wplus",
            Method::S => "s",
            Method::SPrior => "s-prior",
            Method::Pti => "pti",
        }
    }

    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Method::W => "W",
            Method::WPlus => "W+",
            Method::S => "S",
            Method::SPrior => "S + Gaussian prior",
            Method::Pti => "PTI (W pivot)",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown method '{s}' of inversion (expected one of w, wplus, s, s-prior, pti)"
                ))
            })
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// The methods, in the order of the table and the picture columns.
    pub methods: Vec<Method>,
    /// Projection steps of every projection.
    pub steps: usize,
    /// Pivotal tuning steps.
    pub pti_steps: usize,
    /// Weight of the S prior ([`Method::SPrior`]).
    pub prior_weight: f64,
}

impl EvalConfig {
    fn check(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(Error::InvalidArgument(
                "no inversion method to evaluate".into(),
            ));
        }
        if self.steps == 0 || self.pti_steps == 0 {
            return Err(Error::InvalidArgument(
                "projection and tuning need at least one step each".into(),
            ));
        }
        Ok(())
    }

    /// The projections run per target: every method but PTI, and w for PTI's pivot.
    fn projections(&self) -> Vec<Method> {
        let mut v: Vec<Method> = self
            .methods
            .iter()
            .copied()
            .filter(|m| *m != Method::Pti)
            .collect();
        if self.methods.contains(&Method::Pti) && !v.contains(&Method::W) {
            v.insert(0, Method::W);
        }
        v
    }

    /// Optimisation steps per target (for a progress bar).
    pub fn steps_per_target(&self) -> usize {
        self.projections().len() * self.steps
            + usize::from(self.methods.contains(&Method::Pti)) * self.pti_steps
    }
}

/// One image to reconstruct.
pub struct EvalTarget {
    /// The group it is averaged in (`real`, `generated`).
    pub group: String,
    /// Its name in `results.json`.
    pub name: String,
    pub target: Target,
}

impl EvalTarget {
    /// The network's own image of `seed` (ψ = 1, constant noise), quantised to 8 bits like any
    /// saved image so that real and generated targets are treated alike.
    pub fn generated(g: &Generator, seed: u32) -> Result<Self> {
        let img = Latent::from_seeds(g, &[seed], None)?.generate(g, NoiseMode::Const)?;
        let img = Image8::from_batch(img)?.remove(0);
        Ok(Self {
            group: "generated".into(),
            name: format!("seed{seed:04}"),
            target: from_image8(img, g.device()),
        })
    }
}

/// A method's scores on one target.
#[derive(Clone, Copy, Debug)]
pub struct Score {
    pub psnr: f64,
    pub lpips: f64,
    /// Squared distance of the latent from the mean in units of the samples' spread.
    pub atypicality: f64,
}

/// One target's results.
pub struct TargetResult {
    pub group: String,
    pub name: String,
    /// The target image.
    pub image: Image8,
    /// Per method, in the config's order: its score and reconstruction.
    pub methods: Vec<(Method, Score, Image8)>,
}

/// The results of [`evaluate_inversion`].
pub struct Evaluation {
    pub methods: Vec<Method>,
    pub targets: Vec<TargetResult>,
}

impl Evaluation {
    /// The groups present, `real` before `generated`, then any others in order of appearance.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = Vec::new();
        for t in &self.targets {
            if !g.contains(&t.group) {
                g.push(t.group.clone());
            }
        }
        g.sort_by_key(|x| match x.as_str() {
            "real" => 0,
            "generated" => 1,
            _ => 2,
        });
        g
    }

    /// Mean scores of `method` over `group`, or None when the group has no target.
    pub fn mean(&self, group: &str, method: Method) -> Option<Score> {
        let scores: Vec<Score> = self
            .targets
            .iter()
            .filter(|t| t.group == group)
            .filter_map(|t| t.methods.iter().find(|m| m.0 == method).map(|m| m.1))
            .collect();
        if scores.is_empty() {
            return None;
        }
        let n = scores.len() as f64;
        Some(Score {
            psnr: scores.iter().map(|s| s.psnr).sum::<f64>() / n,
            lpips: scores.iter().map(|s| s.lpips).sum::<f64>() / n,
            atypicality: scores.iter().map(|s| s.atypicality).sum::<f64>() / n,
        })
    }

    /// The Markdown table: one row per method, mean PSNR, LPIPS and atypicality per group.
    pub fn markdown_table(&self) -> String {
        let groups = self.groups();
        let mut md = String::from("| method |");
        for grp in &groups {
            md += &format!(" {grp} PSNR (dB) ↑ | {grp} LPIPS ↓ | {grp} atypicality |");
        }
        md += "\n|---|";
        md += &"---:|---:|---:|".repeat(groups.len());
        md += "\n";
        for &m in &self.methods {
            md += &format!("| {} |", m.label());
            for grp in &groups {
                let s = self.mean(grp, m).expect("every target scores every method");
                md += &format!(" {:.2} | {:.4} | {:.2} |", s.psnr, s.lpips, s.atypicality);
            }
            md += "\n";
        }
        md
    }

    /// Per group: the rows of a picture (target, then each method's reconstruction).
    pub fn picture_rows(&self, group: &str) -> Vec<Vec<Image8>> {
        self.targets
            .iter()
            .filter(|t| t.group == group)
            .map(|t| {
                std::iter::once(t.image.clone())
                    .chain(t.methods.iter().map(|m| m.2.clone()))
                    .collect()
            })
            .collect()
    }
}

/// Invert every target with every method of `cfg` and score the reconstructions against the
/// target. `stats` is the latent distribution the projector starts from (and the S prior);
/// `progress` gets the number of optimisation steps done so far.
pub fn evaluate_inversion(
    g: &Generator,
    lpips: &Lpips,
    targets: &[EvalTarget],
    cfg: &EvalConfig,
    stats: &LatentStats,
    progress: &mut dyn FnMut(usize),
) -> Result<Evaluation> {
    cfg.check()?;
    if targets.is_empty() {
        return Err(Error::InvalidArgument("no targets to invert".into()));
    }
    let device = g.device().clone();
    let mut done = 0usize;
    let mut results = Vec::with_capacity(targets.len());
    for t in targets {
        let mut found: BTreeMap<Method, (Score, Image8)> = BTreeMap::new();
        let score = |img: Image8, latent: &Latent| -> Result<(Score, Image8)> {
            let lp: f32 = lpips
                .distance(
                    from_image8(img.clone(), &device).tensor,
                    t.target.tensor.clone(),
                )?
                .into_scalar();
            Ok((
                Score {
                    psnr: psnr(&t.target.image, &img)?,
                    lpips: f64::from(lp),
                    atypicality: stats.atypicality(latent)?,
                },
                img,
            ))
        };
        let mut w_pivot = None;
        for m in cfg.projections() {
            let (space, prior) = match m {
                Method::W => (Space::W, Prior::None),
                Method::WPlus => (Space::WPlus, Prior::None),
                Method::S => (Space::S, Prior::None),
                _ => (
                    Space::S,
                    Prior::GaussianS {
                        weight: cfg.prior_weight,
                    },
                ),
            };
            let pcfg = ProjectorConfig {
                space,
                steps: cfg.steps,
                prior,
                ..ProjectorConfig::default()
            };
            let start = done;
            let proj = project(g, lpips, &t.target.tensor, &pcfg, Some(stats), &mut |s| {
                progress(start + s.step + 1)
            })?;
            done += cfg.steps;
            if cfg.methods.contains(&m) {
                let img = Image8::from_batch(proj.image(g)?)?.remove(0);
                found.insert(m, score(img, &proj.latent)?);
            }
            if m == Method::W {
                w_pivot = Some(proj);
            }
        }
        if cfg.methods.contains(&Method::Pti) {
            let pivot = w_pivot
                .as_ref()
                .ok_or_else(|| Error::Config("PTI needs the w projection as its pivot".into()))?;
            let pti = PtiConfig {
                steps: cfg.pti_steps,
                ..PtiConfig::default()
            };
            let start = done;
            let (tuned, _) =
                pivotal_tuning(g, lpips, &t.target.tensor, pivot, stats, &pti, &mut |s| {
                    progress(start + s.step + 1)
                })?;
            done += cfg.pti_steps;
            let img = pivot.latent.clone().generate(&tuned, NoiseMode::Const)?;
            let img = Image8::from_batch(img)?.remove(0);
            found.insert(Method::Pti, score(img, &pivot.latent)?);
        }
        results.push(TargetResult {
            group: t.group.clone(),
            name: t.name.clone(),
            image: t.target.image.clone(),
            methods: cfg
                .methods
                .iter()
                .map(|m| {
                    let (s, i) = found[m].clone();
                    (*m, s, i)
                })
                .collect(),
        });
    }
    Ok(Evaluation {
        methods: cfg.methods.clone(),
        targets: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_by_name_and_pti_adds_its_w_pivot() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        let e = "zz".parse::<Method>().unwrap_err().to_string();
        assert!(e.contains("unknown method 'zz'"), "{e}");
        let cfg = EvalConfig {
            methods: vec![Method::WPlus, Method::Pti],
            steps: 10,
            pti_steps: 3,
            prior_weight: 1.0,
        };
        // W+ and the w pivot are projected, then PTI tunes.
        assert_eq!(cfg.projections(), vec![Method::W, Method::WPlus]);
        assert_eq!(cfg.steps_per_target(), 2 * 10 + 3);
        assert!(EvalConfig {
            steps: 0,
            ..cfg.clone()
        }
        .check()
        .is_err());
    }
}
