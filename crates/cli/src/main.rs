//! `stylegan`: the command line. Thin: argument parsing and progress bars here, all the work in
//! the `stylegan` library.

mod args;
mod cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The allocator of the command line (see Cargo.toml): the library leaves this choice to the
/// program that uses it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's `mi_option_set` (the `mimalloc` crate binds it only with its `extended`
    /// feature, and no crate names the option below).
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in the mimalloc v3 sources that libmimalloc-sys =0.1.49 builds.
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Keep freed pages instead of handing them back to the OS 10 ms later (mimalloc's default).
/// Each layer frees and re-allocates activations of tens of MB; with purging, the kernel zeroes
/// every re-faulted page again (`clear_page`: 16% of a StyleGAN3 training step, which then runs
/// ~25% faster without it). The process keeps its peak footprint, which it reaches every step.
fn keep_freed_pages() {
    // SAFETY: sets an integer option; mimalloc reads it at each purge decision.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[derive(Parser)]
#[command(
    name = "stylegan",
    version,
    about = "StyleGAN networks faithful to NVIDIA's code, in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate images from seeds (like the official gen_images.py).
    Generate(cmd::generate::Args),
    /// Print a network's config, resolution, num_ws and parameter counts.
    Info(cmd::info::Args),
    /// Create a randomly initialised network from a config file.
    Init(cmd::init::Args),
    /// Measure generator throughput (images/s, GFLOP/s).
    Bench(cmd::bench::Args),
    /// Style-mixing grid (like the official style_mixing.py).
    Mix(cmd::mix::Args),
    /// Compute latent edit directions (SeFa, GANSpace, InterFaceGAN).
    Directions(cmd::directions::Args),
    /// Convert a network file (official PyTorch or TensorFlow pickle, rosinality .pt, native) to a
    /// native checkpoint or a rosinality .pt.
    Convert(cmd::convert::Args),
    /// Show the format, networks, config and tensors of a network file.
    Inspect(cmd::inspect::Args),
    /// Build a data set ZIP (official layout) from a folder/ZIP of images, or facesjs faces.
    Dataset(cmd::dataset::Args),
    /// Edit grid: seeds × strengths along a direction or a StyleSpace channel.
    Edit(cmd::edit::Args),
    /// Looping interpolation video (GIF, or MP4 with ffmpeg), like the official gen_video.py.
    Video(cmd::video::Args),
    /// Attribute classifier: train on a labelled data set, label generated samples.
    Classifier(cmd::classifier::Args),
    /// Wider/taller images by extending features at a block ("StyleGAN of All Trades").
    Expand(cmd::features::ExpandArgs),
    /// Blend two images' features with a mask at every block ("StyleGAN of All Trades").
    Blend(cmd::features::BlendArgs),
    /// Panorama: seeds side by side with their features cross-faded ("All Trades").
    Panorama(cmd::features::PanoramaArgs),
    /// Attribute transfer: a region of a reference into a source, pose-aligned ("All Trades").
    Transfer(cmd::features::TransferArgs),
    /// Single-image variations by shifting feature patches ("All Trades").
    SingleImage(cmd::features::SingleImageArgs),
    /// Image-to-image translation between a parent and its aligned fine-tuned child ("All Trades").
    Translate(cmd::features::TranslateArgs),
    /// Project a real image into w, W+ or S (like the official projector.py).
    Project(cmd::project::Args),
    /// Pivotal tuning: fine-tune the generator around a projected latent (PTI).
    Pti(cmd::pti::Args),
    /// Measure inversion quality (PSNR, LPIPS) of W, W+, S + prior and PTI on held-out images.
    EvaluateInversion(cmd::evaluate::Args),
    /// Fetch and convert pretrained weights (LPIPS, the FID Inception network) into the cache.
    Assets(cmd::assets::Args),
    /// Quality metrics of a generator (like the official calc_metrics.py): FID, KID,
    /// precision/recall against a data set; perceptual path length, linear separability,
    /// StyleGAN3 equivariance.
    Metrics(cmd::metrics::Args),
    /// FID between two image sets (ZIPs or folders of images of any sizes).
    Fid(cmd::metrics::CompareArgs),
    /// KID between two image sets (ZIPs or folders of images of any sizes).
    Kid(cmd::metrics::CompareArgs),
    /// Train a StyleGAN2 on a data set (like the official train.py), resume or fine-tune.
    Train(cmd::train::Args),
}

/// Every flag that takes a value accepts a negative number as that value (`--seeds -1`,
/// `--noise-reg -1`), so that our own validation names the flag and the accepted range instead
/// of clap answering "unexpected argument '-1'".
fn negative_values_allowed(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    })
    .mut_subcommands(negative_values_allowed)
}

/// Runs `f` on one of rayon's worker threads (the caller waits). The library's kernels split
/// their work with `rayon::join`/parallel iterators: from a worker thread the other half is
/// queued locally and the caller works on its own half, where from the main thread every such
/// call is handed to the pool through its global queue and the caller sleeps until it is done
/// (two thread wake-ups per call, which training makes thousands of per step).
fn on_worker<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    // The main thread's stack size rather than std's 2 MiB for spawned threads. Fails only if
    // the pool already exists, which it cannot before this first use.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global();
    let mut out = None;
    rayon::scope(|_| out = Some(f()));
    out.expect("rayon::scope ran the closure")
}

fn main() {
    keep_freed_pages();
    // Exit quietly when the reader of our output goes away (`stylegan inspect F | head`),
    // instead of panicking in `println!`.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = match Cli::from_arg_matches(&negative_values_allowed(Cli::command()).get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = on_worker(move || match cli.command {
        Command::Generate(a) => cmd::generate::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Mix(a) => cmd::mix::run(a),
        Command::Directions(a) => cmd::directions::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Dataset(a) => cmd::dataset::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Assets(a) => cmd::assets::run(a),
        Command::Metrics(a) => cmd::metrics::run(a),
        Command::Fid(a) => cmd::metrics::run_compare(a, false),
        Command::Kid(a) => cmd::metrics::run_compare(a, true),
        Command::Project(a) => cmd::project::run(a),
        Command::Pti(a) => cmd::pti::run(a),
        Command::EvaluateInversion(a) => cmd::evaluate::run(a),
        Command::Translate(a) => cmd::features::run_translate(a),
        Command::Panorama(a) => cmd::features::run_panorama(a),
        Command::Transfer(a) => cmd::features::run_transfer(a),
        Command::SingleImage(a) => cmd::features::run_single_image(a),
        Command::Expand(a) => cmd::features::run_expand(a),
        Command::Blend(a) => cmd::features::run_blend(a),
        Command::Classifier(a) => cmd::classifier::run(a),
        Command::Edit(a) => cmd::edit::run(a),
        Command::Video(a) => cmd::video::run(a),
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
