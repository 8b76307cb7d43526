//! The StyleGAN2 `Discriminator` (FORMATS.md §4): blocks b{R} … b8, then the b4 epilogue with
//! minibatch standard deviation and, for conditional networks, the projection onto `cmap`.

use burn::tensor::{Device, Tensor};
use serde_json::Value;

use super::config::{Architecture, DiscriminatorConfig};
use super::mapping::MappingNetwork;
use crate::error::{Error, Result};
use crate::nn::layers::load_filter;
use crate::nn::{Conv2dLayer, Conv2dSpec, FcSpec, FullyConnected, Params, StateDict};
use crate::ops::{downsample2d, Filter};
use crate::weights::NetworkEntry;

pub const DISCRIMINATOR_CLASS: &str = "training.networks_stylegan2.Discriminator";

#[derive(Clone, Debug)]
pub struct DiscriminatorBlock {
    pub resolution: usize,
    pub architecture: Architecture,
    pub fromrgb: Option<Conv2dLayer>,
    pub conv0: Conv2dLayer,
    pub conv1: Conv2dLayer,
    pub skip: Option<Conv2dLayer>,
    pub filter: Filter,
}

impl DiscriminatorBlock {
    fn new(
        p: &mut Params,
        cfg: &DiscriminatorConfig,
        in_ch: usize,
        tmp: usize,
        out: usize,
        res: usize,
        f: &Filter,
    ) -> Result<Self> {
        let filter = load_filter(p, f)?;
        let act = cfg.activation;
        let clamp = cfg.conv_clamp;
        let fromrgb = if in_ch == 0 || cfg.architecture == Architecture::Skip {
            Some(p.scope("fromrgb", |p| {
                Conv2dLayer::new(
                    p,
                    Conv2dSpec::new(cfg.img_channels, tmp, 1, &filter)
                        .activation(act)
                        .conv_clamp(clamp),
                )
            })?)
        } else {
            None
        };
        let conv0 = p.scope("conv0", |p| {
            Conv2dLayer::new(
                p,
                Conv2dSpec::new(tmp, tmp, 3, &filter)
                    .activation(act)
                    .conv_clamp(clamp),
            )
        })?;
        let conv1 = p.scope("conv1", |p| {
            Conv2dLayer::new(
                p,
                Conv2dSpec::new(tmp, out, 3, &filter)
                    .activation(act)
                    .down(2)
                    .conv_clamp(clamp),
            )
        })?;
        let skip = if cfg.architecture == Architecture::Resnet {
            Some(p.scope("skip", |p| {
                Conv2dLayer::new(p, Conv2dSpec::new(tmp, out, 1, &filter).down(2).no_bias())
            })?)
        } else {
            None
        };
        Ok(Self {
            resolution: res,
            architecture: cfg.architecture,
            fromrgb,
            conv0,
            conv1,
            skip,
            filter,
        })
    }

    fn forward(
        &self,
        x: Option<Tensor<4>>,
        img: Option<Tensor<4>>,
    ) -> (Tensor<4>, Option<Tensor<4>>) {
        let mut x = x;
        let mut img = img;
        if let Some(fromrgb) = &self.fromrgb {
            let im = img.take().expect("image input");
            let y = fromrgb.forward(im.clone(), 1.0);
            x = Some(match x {
                Some(x) => x + y,
                None => y,
            });
            img = (self.architecture == Architecture::Skip).then(|| downsample2d(im, &self.filter));
        }
        let x = x.expect("features or image");
        let x = match &self.skip {
            Some(skip) => {
                let y = skip.forward(x.clone(), 0.5f64.sqrt());
                let x = self.conv0.forward(x, 1.0);
                y + self.conv1.forward(x, 0.5f64.sqrt())
            }
            None => self.conv1.forward(self.conv0.forward(x, 1.0), 1.0),
        };
        (x, img)
    }

    fn state_dict(&self, sd: &mut StateDict) {
        sd.add_data(
            "resample_filter",
            vec![self.filter.h, self.filter.w],
            self.filter.taps.clone(),
        );
        if let Some(l) = &self.fromrgb {
            sd.scope("fromrgb", |sd| l.state_dict(sd));
        }
        sd.scope("conv0", |sd| self.conv0.state_dict(sd));
        sd.scope("conv1", |sd| self.conv1.state_dict(sd));
        if let Some(l) = &self.skip {
            sd.scope("skip", |sd| l.state_dict(sd));
        }
    }
}

/// Minibatch standard deviation with strided groups: sample n is in group n % (N/G).
pub fn minibatch_std(
    x: Tensor<4>,
    group_size: Option<usize>,
    num_channels: usize,
) -> Result<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    let g = group_size.map_or(n, |g| g.min(n));
    if n % g != 0 {
        return Err(Error::InvalidArgument(format!(
            "batch size {n} is not divisible by the minibatch-std group size {g}"
        )));
    }
    let (m, f) = (n / g, num_channels);
    let y = x.clone().reshape([g, m, f, c / f, h, w]);
    let y = y.clone() - y.mean_dim(0);
    let y = y.square().mean_dim(0).add_scalar(1e-8).sqrt(); // [1, M, F, C/F, H, W]
    let y = y.mean_dim(3).mean_dim(4).mean_dim(5).reshape([m, f, 1, 1]);
    let y = y.repeat_dim(0, g).repeat_dim(2, h).repeat_dim(3, w);
    Ok(Tensor::cat(vec![x, y], 1))
}

#[derive(Clone, Debug)]
pub struct DiscriminatorEpilogue {
    pub fromrgb: Option<Conv2dLayer>,
    pub conv: Conv2dLayer,
    pub fc: FullyConnected,
    pub out: FullyConnected,
    pub mbstd_group_size: Option<usize>,
    pub mbstd_num_channels: usize,
    pub cmap_dim: usize,
}

#[derive(Clone, Debug)]
pub struct Discriminator {
    pub config: DiscriminatorConfig,
    pub class_name: String,
    pub init_kwargs: Value,
    pub blocks: Vec<DiscriminatorBlock>,
    pub mapping: Option<MappingNetwork>,
    pub b4: DiscriminatorEpilogue,
    device: Device,
}

impl Discriminator {
    pub fn new(class_name: &str, init_kwargs: &Value, p: &mut Params) -> Result<Self> {
        let cfg = DiscriminatorConfig::from_init_kwargs(class_name, init_kwargs)?;
        let filter = Filter::from_taps_1d(&cfg.resample_filter, p.device())?;
        let mut blocks = Vec::new();
        for res in cfg.block_resolutions() {
            let in_ch = if res < cfg.img_resolution {
                cfg.channels(res)
            } else {
                0
            };
            let (tmp, out) = (cfg.channels(res), cfg.channels(res / 2));
            blocks.push(p.scope(&format!("b{res}"), |p| {
                DiscriminatorBlock::new(p, &cfg, in_ch, tmp, out, res, &filter)
            })?);
        }
        let cmap_dim = cfg.effective_cmap_dim();
        let mapping = if cfg.c_dim > 0 {
            Some(p.scope("mapping", |p| {
                let mut m = cfg.mapping.clone();
                m.w_avg_beta = None;
                MappingNetwork::new(p, 0, cfg.c_dim, cmap_dim, false, &m)
            })?)
        } else {
            None
        };
        let c4 = cfg.channels(4);
        let b4 = p.scope("b4", |p| {
            let act = cfg.epilogue_activation;
            let fromrgb = if cfg.architecture == Architecture::Skip {
                Some(p.scope("fromrgb", |p| {
                    Conv2dLayer::new(
                        p,
                        Conv2dSpec::new(cfg.img_channels, c4, 1, &filter)
                            .activation(act)
                            .conv_clamp(cfg.conv_clamp),
                    )
                })?)
            } else {
                None
            };
            let conv = p.scope("conv", |p| {
                Conv2dLayer::new(
                    p,
                    Conv2dSpec::new(c4 + cfg.mbstd_num_channels, c4, 3, &filter)
                        .activation(act)
                        .conv_clamp(cfg.conv_clamp),
                )
            })?;
            let fc = p.scope("fc", |p| {
                FullyConnected::new(p, FcSpec::new(c4 * 16, c4).activation(act))
            })?;
            let out = p.scope("out", |p| {
                FullyConnected::new(p, FcSpec::new(c4, if cmap_dim == 0 { 1 } else { cmap_dim }))
            })?;
            Ok(DiscriminatorEpilogue {
                fromrgb,
                conv,
                fc,
                out,
                mbstd_group_size: cfg.mbstd_group_size,
                mbstd_num_channels: cfg.mbstd_num_channels,
                cmap_dim,
            })
        })?;
        p.finish()?;
        Ok(Self {
            config: cfg,
            class_name: class_name.to_string(),
            init_kwargs: init_kwargs.clone(),
            blocks,
            mapping,
            b4,
            device: p.device().clone(),
        })
    }

    pub fn random(config: &DiscriminatorConfig, seed: u32, device: &Device) -> Result<Self> {
        Self::new(
            DISCRIMINATOR_CLASS,
            &config.to_init_kwargs(),
            &mut Params::random(seed, device),
        )
    }

    /// The checkpoint entry of a zero-weight network of `config` (see `Generator::template`).
    pub fn template(config: &DiscriminatorConfig, device: &Device) -> Result<NetworkEntry> {
        Ok(Self::new(
            DISCRIMINATOR_CLASS,
            &config.to_init_kwargs(),
            &mut Params::zeros(device),
        )?
        .to_entry())
    }

    pub fn from_entry(file: &str, entry: &NetworkEntry, device: &Device) -> Result<Self> {
        let mut p = Params::from_tensors(file, entry.tensors.clone(), device);
        Self::new(&entry.class_name, &entry.init_kwargs, &mut p)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits `[N, 1]` for images `[N, C, R, R]` and (conditional) labels `[N, c_dim]`.
    pub fn forward(&self, img: Tensor<4>, c: Option<Tensor<2>>) -> Result<Tensor<2>> {
        let [n, ch, h, w] = img.dims();
        let r = self.config.img_resolution;
        if ch != self.config.img_channels || h != r || w != r {
            return Err(Error::InvalidArgument(format!(
                "D expects images [N, {}, {r}, {r}], got [{n}, {ch}, {h}, {w}]",
                self.config.img_channels
            )));
        }
        let (mut x, mut im) = (None, Some(img));
        for b in &self.blocks {
            let (nx, nim) = b.forward(x, im);
            x = Some(nx);
            im = nim;
        }
        let mut x = x.expect("at least one block");
        let e = &self.b4;
        if let (Some(fromrgb), Some(im)) = (&e.fromrgb, im) {
            x = x + fromrgb.forward(im, 1.0);
        }
        if e.mbstd_num_channels > 0 {
            x = minibatch_std(x, e.mbstd_group_size, e.mbstd_num_channels)?;
        }
        let x = e.conv.forward(x, 1.0);
        let [n, ch, h, w] = x.dims();
        let x = e.fc.forward(x.reshape([n, ch * h * w]));
        let x = e.out.forward(x);
        match &self.mapping {
            None => Ok(x),
            Some(m) => {
                let c = c.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the discriminator is conditional: it needs labels (c_dim {})",
                        self.config.c_dim
                    ))
                })?;
                let cmap = m.forward(None, Some(c))?;
                Ok((x * cmap)
                    .sum_dim(1)
                    .mul_scalar((1.0 / (e.cmap_dim as f64).sqrt()) as f32))
            }
        }
    }

    pub fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::default();
        for b in &self.blocks {
            sd.scope(&format!("b{}", b.resolution), |sd| b.state_dict(sd));
        }
        if let Some(m) = &self.mapping {
            sd.scope("mapping", |sd| m.state_dict(sd));
        }
        sd.scope("b4", |sd| {
            let e = &self.b4;
            if let Some(l) = &e.fromrgb {
                sd.scope("fromrgb", |sd| l.state_dict(sd));
            }
            sd.scope("conv", |sd| e.conv.state_dict(sd));
            sd.scope("fc", |sd| e.fc.state_dict(sd));
            sd.scope("out", |sd| e.out.state_dict(sd));
        });
        sd
    }

    pub fn to_entry(&self) -> NetworkEntry {
        NetworkEntry {
            class_name: self.class_name.clone(),
            init_kwargs: self.init_kwargs.clone(),
            tensors: self.state_dict().entries.into_iter().collect(),
        }
    }
}
