//! Image-to-image translation with an aligned parent/child pair.

use burn::tensor::Tensor;

use super::mask::{mix, Mask};
use crate::error::{Error, Result};
use crate::models::{Features, Generator, NoiseMode};

/// Image-to-image translation with aligned models ("All Trades"): a parent and a child
/// fine-tuned from it with frozen mapping and affines make corresponding images from the same
/// latent. Every block in `layers` (all by default) runs on the blended features so far through
/// the parent and through the child, and the outputs are mixed as `(1−α)·parent + α·child`:
/// a constant α translates continuously, a mask translates locally. On StyleGAN3, `layers`
/// counts the input (0) and the layers, mixed as in [`super::blend_stylegan3`].
pub fn translate(
    parent: &Generator,
    child: &Generator,
    ws: &Tensor<3>,
    mask: &Mask,
    layers: Option<&[usize]>,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    if parent.family() == crate::models::Family::StyleGan3 {
        let same = child.family() == parent.family()
            && parent.config.img_resolution == child.config.img_resolution
            && parent.num_ws() == child.num_ws()
            && parent.config.w_dim == child.config.w_dim
            && parent.synthesis.sg3("")?.layer_names() == child.synthesis.sg3("")?.layer_names();
        if !same {
            return Err(Error::InvalidArgument(
                "parent and child must have the same architecture (the child is fine-tuned from the parent)".into(),
            ));
        }
        // Layer by layer as StyleGAN3 blending, the parent's pass against the child's.
        return super::blend::mix_layers_stylegan3(
            (parent, ws),
            (child, ws),
            mask,
            layers,
            "translation",
        );
    }
    if parent.family() != child.family()
        || parent.config.img_resolution != child.config.img_resolution
        || parent.synthesis.num_blocks("translate")? != child.synthesis.num_blocks("translate")?
        || parent.num_ws() != child.num_ws()
        || parent.config.w_dim != child.config.w_dim
    {
        return Err(Error::InvalidArgument(
            "parent and child must have the same architecture (the child is fine-tuned from the parent)".into(),
        ));
    }
    let n_blocks = parent.synthesis.num_blocks("translate")?;
    if let Some(bad) = layers.and_then(|l| l.iter().find(|&&i| i >= n_blocks)) {
        return Err(Error::InvalidArgument(format!(
            "block {bad} is out of range 0..{}",
            n_blocks - 1
        )));
    }
    let (sp, sc) = (parent.synthesis.styles(ws)?, child.synthesis.styles(ws)?);
    let device = parent.device().clone();
    let mut f: Option<Features> = None;
    for i in 0..n_blocks {
        let fp = parent
            .synthesis
            .run_blocks(&sp, i..i + 1, f.clone(), noise)?;
        f = Some(if layers.is_none_or(|l| l.contains(&i)) {
            let fc = child.synthesis.run_blocks(&sc, i..i + 1, f, noise)?;
            let [_, _, h, w] = fp.x.dims();
            let alpha = mask.at(h, w, &device);
            Features {
                x: mix(fp.x, fc.x, &alpha),
                img: match (fp.img, fc.img) {
                    (Some(a), Some(b)) => {
                        let [_, _, ih, iw] = a.dims();
                        Some(mix(a, b, &mask.at(ih, iw, &device)))
                    }
                    (a, _) => a,
                },
            }
        } else {
            fp
        });
    }
    f.and_then(|f| f.img)
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}
