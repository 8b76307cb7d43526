//! Argument syntax shared by the subcommands (the official scripts' `--seeds 0,1,4-6` etc.)
//! and the one layer that validates numeric flags before any work starts: every error names
//! the flag and what it accepts.

use anyhow::{bail, Context, Result};

/// The most pixels one output picture (an image, a grid, a video frame) may hold: 2^28, a
/// 16384 × 16384 image (768 MiB as RGB bytes, several times that while it is made).
pub const MAX_PICTURE_PIXELS: usize = stylegan::io::image::MAX_IMAGE_PIXELS;

/// The most bytes the frames of one video may take in memory before they are encoded (4 GiB).
pub const MAX_VIDEO_BYTES: usize = 4 << 30;

/// The most cells (seeds × strengths and the like) one picture grid is made of.
pub const MAX_CELLS: usize = 10_000;

/// The most images one forward pass may hold (`--batch`).
pub const MAX_BATCH: usize = 1024;

/// `v` must be a finite number.
pub fn finite(flag: &str, v: f64) -> Result<f64> {
    if !v.is_finite() {
        bail!("{flag} must be a finite number, got {v}");
    }
    Ok(v)
}

/// `v` must be finite and within `lo..=hi`.
pub fn within(flag: &str, v: f64, lo: f64, hi: f64) -> Result<f64> {
    range(flag, v, lo, false, hi)
}

/// `v` must be finite and within `lo..=hi`, `lo` itself excluded when `lo_open` (a rate
/// that must be positive); `hi` may be infinite (no upper bound).
pub fn range(flag: &str, v: f64, lo: f64, lo_open: bool, hi: f64) -> Result<f64> {
    let ok = v.is_finite() && (if lo_open { v > lo } else { v >= lo }) && v <= hi;
    if !ok {
        let open = if lo_open { "(" } else { "[" };
        let close = if hi.is_finite() {
            format!("{hi}]")
        } else {
            "inf)".into()
        };
        bail!("{flag} must be a finite number in {open}{lo}, {close}, got {v}");
    }
    Ok(v)
}

/// `v` must be a count within `lo..=hi`.
pub fn count(flag: &str, v: usize, lo: usize, hi: usize) -> Result<usize> {
    if v < lo || v > hi {
        bail!("{flag} must be in {lo}..={hi}, got {v}");
    }
    Ok(v)
}

/// A picture of `w × h` pixels made from what `flags` ask for must stay within
/// [`MAX_PICTURE_PIXELS`].
pub fn picture(flags: &str, w: usize, h: usize) -> Result<()> {
    match w.checked_mul(h) {
        Some(p) if p <= MAX_PICTURE_PIXELS => Ok(()),
        _ => bail!(
            "{flags}: the picture would be {w}x{h} pixels, more than the limit of {MAX_PICTURE_PIXELS} \
             (16384x16384)"
        ),
    }
}

/// A `cols × rows` grid of `cell`-pixel square images must stay within the picture limits.
pub fn grid_fits(flags: &str, cols: usize, rows: usize, cell: usize) -> Result<()> {
    if cols.saturating_mul(rows) > MAX_CELLS {
        bail!(
            "{flags}: a {cols}x{rows} grid has more than {MAX_CELLS} cells (a limit of this \
             program)"
        );
    }
    picture(flags, cols.saturating_mul(cell), rows.saturating_mul(cell))
}

/// Parse `0,1,4-6` into seeds (inclusive ranges), each in `0..=2^32-1`.
pub fn parse_seeds(s: &str) -> Result<Vec<u32>> {
    parse_list(s, "seed")
}

/// `0,1,4-6` with `what` ("seed", "index") in the errors.
fn parse_list(s: &str, what: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            bail!("malformed {what} list '{s}': empty item");
        }
        let seed = |t: &str| -> Result<u32> {
            let v: i128 = t
                .trim()
                .parse()
                .with_context(|| format!("malformed {what} '{t}' in '{s}'"))?;
            u32::try_from(v)
                .map_err(|_| anyhow::anyhow!("{what} {v} is out of range 0..=4294967295"))
        };
        match part.split_once('-') {
            Some((a, b)) if !a.trim().is_empty() => {
                let (a, b) = (seed(a)?, seed(b)?);
                if a > b {
                    bail!("malformed {what} range '{part}': start is after end");
                }
                if (b - a) as u64 >= 1_000_000 {
                    bail!("{what} range '{part}' holds more than a million values");
                }
                out.extend(a..=b);
            }
            _ => out.push(seed(part)?),
        }
        if out.len() > 1_000_000 {
            bail!("'{s}' lists more than a million {what}s");
        }
    }
    Ok(out)
}

/// Parse `X,Y` (two finite numbers, as `gen_images.py`'s `parse_vec2`).
pub fn parse_vec2(s: &str) -> Result<(f64, f64)> {
    let (a, b) = s
        .split_once(',')
        .with_context(|| format!("malformed vector '{s}' (expected X,Y, e.g. 0.3,1)"))?;
    let num = |t: &str| -> Result<f64> {
        let v: f64 = t
            .trim()
            .parse()
            .with_context(|| format!("malformed number '{t}' in '{s}'"))?;
        if !v.is_finite() {
            bail!("'{s}' holds a non-finite number");
        }
        Ok(v)
    };
    Ok((num(a)?, num(b)?))
}

/// `--translate X,Y --rotate DEG` (StyleGAN3's input transform, as in `gen_images.py`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TransformArgs {
    /// Translate the image by X,Y (StyleGAN3 only; fractions of the image, e.g. 0.3,1).
    #[arg(long, allow_hyphen_values = true)]
    pub translate: Option<String>,
    /// Rotate the image by DEG degrees (StyleGAN3 only).
    #[arg(long, allow_negative_numbers = true)]
    pub rotate: Option<f64>,
}

impl TransformArgs {
    /// Apply to `g`: StyleGAN3 networks always get the transform (identity by default, as
    /// `gen_images.py` sets it); other families are refused only when a flag was given.
    pub fn apply(&self, g: &mut stylegan::models::Generator) -> Result<()> {
        let translate = self
            .translate
            .as_deref()
            .map(parse_vec2)
            .transpose()
            .context("--translate")?;
        let rotate = finite("--rotate", self.rotate.unwrap_or(0.0))?;
        let given = translate.is_some() || self.rotate.is_some();
        if given || g.family() == stylegan::models::Family::StyleGan3 {
            g.set_image_transform(translate.unwrap_or((0.0, 0.0)), rotate)
                .map_err(|e| anyhow::anyhow!("--translate/--rotate: {e}"))?;
        }
        Ok(())
    }
}

/// Parse `CxR` (columns × rows).
pub fn parse_grid(s: &str) -> Result<(usize, usize)> {
    let (c, r) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("malformed grid '{s}' (expected COLSxROWS, e.g. 4x2)"))?;
    let c: usize = c.parse().with_context(|| format!("malformed grid '{s}'"))?;
    let r: usize = r.parse().with_context(|| format!("malformed grid '{s}'"))?;
    if c == 0 || r == 0 {
        bail!("grid '{s}' has zero columns or rows");
    }
    if c.saturating_mul(r) > MAX_CELLS {
        bail!("grid '{s}' has more than {MAX_CELLS} cells (a limit of this program)");
    }
    Ok((c, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_ranges_and_errors() {
        assert_eq!(parse_seeds("0,1,4-6").unwrap(), vec![0, 1, 4, 5, 6]);
        assert_eq!(parse_seeds("4294967295").unwrap(), vec![u32::MAX]);
        assert!(parse_seeds("4294967296")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(parse_seeds("-1").is_err());
        assert!(parse_seeds("1,,2").is_err());
        assert!(parse_seeds("5-3")
            .unwrap_err()
            .to_string()
            .contains("start is after end"));
        assert!(parse_seeds("a").is_err());
    }

    #[test]
    fn grids() {
        assert_eq!(parse_grid("4x2").unwrap(), (4, 2));
        assert!(parse_grid("4").is_err());
        assert!(parse_grid("0x2").is_err());
    }
}

/// Parse an optional index list such as `--layers 0-3,6` (the seeds' syntax); errors name
/// `flag` and say "index", not "seed".
pub fn parse_indices(s: Option<&str>, flag: &str) -> Result<Option<Vec<usize>>> {
    s.map(|l| {
        parse_list(l, "index")
            .with_context(|| format!("{flag} {l}"))
            .map(|v| v.into_iter().map(|x| x as usize).collect())
    })
    .transpose()
}

/// `--network FILE --device cpu|gpu`: the block every command that runs a network shares.
#[derive(clap::Args, Clone, Debug)]
pub struct NetworkArgs {
    /// Network file (any supported format); the bundled demo model when absent.
    #[arg(long)]
    pub network: Option<std::path::PathBuf>,
    /// Where to run it.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

impl NetworkArgs {
    /// The network file: `--network`, or the bundled demo model.
    pub fn path(&self) -> Result<std::path::PathBuf> {
        crate::cmd::network(&self.network)
    }

    /// The burn device of `--device`.
    pub fn device(&self) -> Result<stylegan::Device> {
        crate::cmd::device(&self.device)
    }

    /// The generator of `--network` on `--device`.
    pub fn generator(&self) -> Result<stylegan::models::Generator> {
        Ok(stylegan::models::Generator::load(
            self.path()?,
            &self.device()?,
        )?)
    }
}

/// `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Gpu,
}

impl From<DeviceArg> for stylegan::DeviceKind {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => Self::Cpu,
            DeviceArg::Gpu => Self::Gpu,
        }
    }
}

/// `--noise-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NoiseArg {
    Const,
    Random,
    None,
}

impl From<NoiseArg> for stylegan::models::NoiseMode {
    fn from(n: NoiseArg) -> Self {
        match n {
            NoiseArg::Const => Self::Const,
            NoiseArg::Random => Self::Random,
            NoiseArg::None => Self::None,
        }
    }
}

/// `--space`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpaceArg {
    W,
    Wplus,
    S,
}

impl From<SpaceArg> for stylegan::latent::Space {
    fn from(s: SpaceArg) -> Self {
        match s {
            SpaceArg::W => Self::W,
            SpaceArg::Wplus => Self::WPlus,
            SpaceArg::S => Self::S,
        }
    }
}

/// `--mode` of `expand`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExtendArg {
    Reflect,
    Replicate,
    Circular,
    Stretch,
}

impl From<ExtendArg> for stylegan::features::Extend {
    fn from(e: ExtendArg) -> Self {
        match e {
            ExtendArg::Reflect => Self::Reflect,
            ExtendArg::Replicate => Self::Replicate,
            ExtendArg::Circular => Self::Circular,
            ExtendArg::Stretch => Self::Stretch,
        }
    }
}

/// `--cfg` of `train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CfgArg {
    Stylegan2,
    #[value(name = "stylegan3-t")]
    Stylegan3T,
    #[value(name = "stylegan3-r")]
    Stylegan3R,
    /// PGGAN by progressive growing (tkarras' recipe).
    Pggan,
    /// StyleGAN v1 by progressive growing (NVlabs/stylegan's recipe).
    Stylegan1,
}

impl CfgArg {
    /// The StyleGAN2/3 configuration, or the progressive-growing recipe.
    pub fn kind(
        self,
    ) -> Result<stylegan::train::TrainConfig, stylegan::train::progressive::Recipe> {
        use stylegan::train::progressive::Recipe;
        use stylegan::train::TrainConfig;
        match self {
            CfgArg::Stylegan2 => Ok(TrainConfig::StyleGan2),
            CfgArg::Stylegan3T => Ok(TrainConfig::StyleGan3T),
            CfgArg::Stylegan3R => Ok(TrainConfig::StyleGan3R),
            CfgArg::Pggan => Err(Recipe::Pggan),
            CfgArg::Stylegan1 => Err(Recipe::StyleGan1),
        }
    }
}

/// `--aug` of `train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AugArg {
    Ada,
    Noaug,
    Fixed,
}

/// `--prior` of `project`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PriorArg {
    None,
    GaussianS,
}

/// The command-line spelling of a flag value (`stylegan3-t`, `gaussian-s`).
pub fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// `--space` of `video`: where the keyframes are interpolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpSpace {
    Z,
    W,
}

/// `--kind` of `video`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpKind {
    Cubic,
    Linear,
}

impl From<InterpKind> for stylegan::latent::interp::Kind {
    fn from(k: InterpKind) -> Self {
        match k {
            InterpKind::Cubic => Self::Cubic,
            InterpKind::Linear => Self::Linear,
        }
    }
}
