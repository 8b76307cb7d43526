//! Target images for inversion, prepared as the official `projector.py` does: the centred
//! square crop, a Lanczos resize to the network's resolution, values in [-1, 1].

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::{imageops::FilterType, DynamicImage};

use crate::error::{Error, Result};
use crate::io::image::Image8;

/// A target at the network's resolution.
#[derive(Clone, Debug)]
pub struct Target {
    /// The prepared image (what the reconstruction is compared with).
    pub image: Image8,
    /// `[1, C, R, R]` in [-1, 1].
    pub tensor: Tensor<4>,
    /// What was done to fit the image to the network (crop, resize), for the user.
    pub notes: Vec<String>,
}

/// Read `path` and fit it to a `resolution`² network with `channels` colour channels.
///
/// Images that would need a guess are refused with the reason: grayscale for an RGB network,
/// transparent pixels, a shorter side under a quarter of the resolution (or 8 px), unreadable
/// files.
pub fn load_target(
    path: &Path,
    resolution: usize,
    channels: usize,
    device: &Device,
) -> Result<Target> {
    crate::files::check_input(path)?;
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::format(path, format!("cannot decode the image: {e}")))?;
    from_image(img, path, resolution, channels, device)
}

/// [`load_target`] on a decoded image; `path` names it in messages.
pub fn from_image(
    img: DynamicImage,
    path: &Path,
    resolution: usize,
    channels: usize,
    device: &Device,
) -> Result<Target> {
    let color = img.color();
    let has_color = color.has_color();
    if channels == 3 && !has_color {
        return Err(Error::format(
            path,
            format!(
                "is a grayscale image ({color:?}); the network makes RGB images — convert it to RGB first"
            ),
        ));
    }
    if channels != 3 && channels != 1 {
        return Err(Error::InvalidArgument(format!(
            "inversion supports RGB or grayscale networks, this one has {channels} channels"
        )));
    }
    if color.has_alpha() && img.to_rgba8().pixels().any(|p| p.0[3] != 255) {
        return Err(Error::format(
            path,
            "has transparent pixels; flatten it onto a background first (the network makes opaque images)",
        ));
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let min_side = (resolution / 4).max(8);
    if w.min(h) < min_side {
        return Err(Error::format(
            path,
            format!(
                "is {w}x{h}: too small to invert into a {resolution}x{resolution} network \
                 (at least {min_side} px on the shorter side)"
            ),
        ));
    }
    let mut notes = Vec::new();
    let side = w.min(h);
    let img = if w != h {
        notes.push(format!(
            "cropped {w}x{h} to the centred {side}x{side} square"
        ));
        img.crop_imm(
            ((w - side) / 2) as u32,
            ((h - side) / 2) as u32,
            side as u32,
            side as u32,
        )
    } else {
        img
    };
    let img = if side != resolution {
        notes.push(format!(
            "resized {side}x{side} to the network's {resolution}x{resolution} (Lanczos)"
        ));
        img.resize_exact(resolution as u32, resolution as u32, FilterType::Lanczos3)
    } else {
        img
    };
    let pixels: Vec<u8> = if channels == 3 {
        img.to_rgb8().into_raw()
    } else {
        img.to_luma8().into_raw()
    };
    let r = resolution;
    let mut t = from_image8(
        Image8 {
            width: r,
            height: r,
            channels,
            pixels,
        },
        device,
    );
    t.notes = notes;
    Ok(t)
}

/// A target from an 8-bit image already at the network's size.
pub fn from_image8(image: Image8, device: &Device) -> Target {
    let (c, h, w) = (image.channels, image.height, image.width);
    let mut chw = vec![0f32; c * h * w];
    for (i, &p) in image.pixels.iter().enumerate() {
        chw[(i % c) * h * w + i / c] = p as f32 / 127.5 - 1.0;
    }
    Target {
        tensor: Tensor::from_data(TensorData::new(chw, [1, c, h, w]), device),
        image,
        notes: Vec::new(),
    }
}

/// A target from CHW uint8 pixels already at the network's size (data set images).
pub fn from_chw_u8(
    chw: &[u8],
    channels: usize,
    resolution: usize,
    device: &Device,
) -> Result<Target> {
    let r = resolution;
    if chw.len() != channels * r * r {
        return Err(Error::InvalidArgument(format!(
            "{} pixel values for a {channels}x{r}x{r} target",
            chw.len()
        )));
    }
    let mut pixels = vec![0u8; chw.len()];
    for c in 0..channels {
        for i in 0..r * r {
            pixels[i * channels + c] = chw[c * r * r + i];
        }
    }
    Ok(from_image8(
        Image8 {
            width: r,
            height: r,
            channels,
            pixels,
        },
        device,
    ))
}
