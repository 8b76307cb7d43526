//! What the trainer needs from a data set, and minibatches of reals.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::latent::RandomState;

/// Images (uint8, CHW) and labels, indexed `0..len()`.
pub trait TrainingData {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn resolution(&self) -> usize;
    fn channels(&self) -> usize;
    /// 0 for unlabelled data.
    fn label_dim(&self) -> usize;
    /// Image `i` as `channels × resolution × resolution` bytes.
    fn image(&self, i: usize) -> &[u8];
    /// Label `i` (`label_dim` values; one-hot for class labels).
    fn label(&self, i: usize) -> Vec<f32>;
}

/// A data set held in memory (tests, small demos).
pub struct InMemoryData {
    pub resolution: usize,
    pub channels: usize,
    pub images: Vec<Vec<u8>>,
    pub labels: Option<Vec<Vec<f32>>>,
}

impl TrainingData for InMemoryData {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn resolution(&self) -> usize {
        self.resolution
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn label_dim(&self) -> usize {
        self.labels
            .as_ref()
            .map_or(0, |l| l.first().map_or(0, Vec::len))
    }
    fn image(&self, i: usize) -> &[u8] {
        &self.images[i]
    }
    fn label(&self, i: usize) -> Vec<f32> {
        self.labels.as_ref().map_or(vec![], |l| l[i].clone())
    }
}

/// Check that `data` fits a network of this resolution / channel count / label size.
pub fn check_compatible(
    data: &dyn TrainingData,
    resolution: usize,
    channels: usize,
    c_dim: usize,
) -> Result<()> {
    if data.is_empty() {
        return Err(Error::InvalidArgument("the data set is empty".into()));
    }
    if data.resolution() != resolution || data.channels() != channels {
        return Err(Error::InvalidArgument(format!(
            "the data set has {}-channel {}x{} images, the network makes {channels}-channel {resolution}x{resolution}",
            data.channels(),
            data.resolution(),
            data.resolution()
        )));
    }
    if c_dim != 0 && data.label_dim() != c_dim {
        return Err(Error::InvalidArgument(format!(
            "the network is conditional with c_dim {c_dim}, the data set has {} label values",
            data.label_dim()
        )));
    }
    Ok(())
}

/// A random minibatch of reals in [-1, 1] (`x / 127.5 − 1`), with x-flips as extra images
/// when `mirror` (the official `--mirror` doubles the data set with flipped copies).
pub fn real_batch(
    data: &dyn TrainingData,
    batch: usize,
    mirror: bool,
    with_labels: bool,
    rng: &mut RandomState,
    device: &Device,
) -> (Tensor<4>, Option<Tensor<2>>) {
    let (c, r) = (data.channels(), data.resolution());
    let n = data.len();
    let range = if mirror { 2 * n } else { n };
    let mut pixels = Vec::with_capacity(batch * c * r * r);
    let mut labels = Vec::new();
    for _ in 0..batch {
        let k = ((rng.random_sample() * range as f64) as usize).min(range - 1);
        let (i, flip) = (k % n, k >= n);
        let img = data.image(i);
        for ch in 0..c {
            for y in 0..r {
                for x in 0..r {
                    let sx = if flip { r - 1 - x } else { x };
                    pixels.push(img[(ch * r + y) * r + sx] as f32 / 127.5 - 1.0);
                }
            }
        }
        if with_labels {
            labels.extend(data.label(i));
        }
    }
    let x = Tensor::from_data(TensorData::new(pixels, [batch, c, r, r]), device);
    let c = with_labels.then(|| {
        let dim = labels.len() / batch;
        Tensor::from_data(TensorData::new(labels, [batch, dim]), device)
    });
    (x, c)
}

/// Labels for generated images: those of random data-set images (official `gen_c`).
pub fn gen_labels(
    data: &dyn TrainingData,
    batch: usize,
    rng: &mut RandomState,
    device: &Device,
) -> Option<Tensor<2>> {
    let dim = data.label_dim();
    if dim == 0 {
        return None;
    }
    let mut v = Vec::with_capacity(batch * dim);
    for _ in 0..batch {
        let i = ((rng.random_sample() * data.len() as f64) as usize).min(data.len() - 1);
        v.extend(data.label(i));
    }
    Some(Tensor::from_data(TensorData::new(v, [batch, dim]), device))
}

impl TrainingData for crate::data::Dataset {
    fn len(&self) -> usize {
        crate::data::Dataset::len(self)
    }
    fn resolution(&self) -> usize {
        crate::data::Dataset::resolution(self)
    }
    fn channels(&self) -> usize {
        crate::data::Dataset::channels(self)
    }
    fn label_dim(&self) -> usize {
        crate::data::Dataset::label_dim(self)
    }
    fn image(&self, i: usize) -> &[u8] {
        self.image_slice(i)
    }
    fn label(&self, i: usize) -> Vec<f32> {
        crate::data::Dataset::label(self, i)
    }
}
