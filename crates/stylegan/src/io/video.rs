//! Animations: animated GIF (pure Rust, always available) or MP4 through an installed `ffmpeg`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

use super::image::Image8;
use crate::error::{Error, Result};

/// Write `frames` (all the same size, RGB or grey) at `fps` to `path`: `.gif`, or `.mp4` when
/// `ffmpeg` is on the PATH. Written atomically.
pub fn write_video(path: &Path, frames: &[Image8], fps: u32) -> Result<()> {
    let first = frames
        .first()
        .ok_or_else(|| Error::InvalidArgument("a video needs at least one frame".into()))?;
    if frames
        .iter()
        .any(|f| f.width != first.width || f.height != first.height)
    {
        return Err(Error::InvalidArgument(
            "all frames of a video must have the same size".into(),
        ));
    }
    let mut ext = crate::files::extension(path);
    if ext.is_empty() && crate::files::is_stream(path) {
        ext = "gif".into();
    }
    match ext.as_str() {
        "gif" => {
            let mut bytes = Vec::new();
            {
                let mut enc = GifEncoder::new_with_speed(&mut bytes, 10);
                enc.set_repeat(Repeat::Infinite)
                    .map_err(|e| Error::format(path, e.to_string()))?;
                let delay = Delay::from_numer_denom_ms(1000, fps.max(1));
                for f in frames {
                    let rgba = RgbaImage::from_fn(f.width as u32, f.height as u32, |x, y| {
                        let i = (y as usize * f.width + x as usize) * f.channels;
                        let p = &f.pixels[i..i + f.channels];
                        if f.channels == 1 {
                            image::Rgba([p[0], p[0], p[0], 255])
                        } else {
                            image::Rgba([p[0], p[1], p[2], 255])
                        }
                    });
                    enc.encode_frame(Frame::from_parts(rgba, 0, 0, delay))
                        .map_err(|e| Error::format(path, e.to_string()))?;
                }
            }
            super::atomic_write(path, &bytes)
        }
        "mp4" => write_mp4(path, frames, fps),
        o => Err(Error::InvalidArgument(format!(
            "{}: unknown video type '.{o}' (use .gif, or .mp4 with ffmpeg installed)",
            path.display()
        ))),
    }
}

/// Check a video output path before any work: its extension (`.gif`, `.mp4`), the path itself
/// ([`super::check_output`]) and, for MP4, that `ffmpeg` runs.
pub fn check_video_output(path: &Path) -> Result<()> {
    super::check_output(path, super::OutputKind::Video)?;
    if crate::files::extension(path) == "mp4"
        && !Command::new("ffmpeg")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        return Err(Error::InvalidArgument(format!(
            "{}: writing MP4 needs ffmpeg on the PATH (Debian: apt install ffmpeg); write a .gif \
             instead",
            path.display()
        )));
    }
    Ok(())
}

fn write_mp4(path: &Path, frames: &[Image8], fps: u32) -> Result<()> {
    let f0 = &frames[0];
    // ffmpeg writes into the system's temporary folder; the result then goes through the one
    // writer (atomic, never replacing a link or device at `path`).
    let tmp = std::env::temp_dir().join(format!("stylegan-video-{}.mp4", std::process::id()));
    let child = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt"])
        .arg(if f0.channels == 1 { "gray" } else { "rgb24" })
        .args([
            "-s",
            &format!("{}x{}", f0.width, f0.height),
            "-r",
            &fps.to_string(),
            "-i",
            "-",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "16"])
        // x264 needs even sizes.
        .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-f", "mp4"])
        .arg(&tmp)
        .stdin(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InvalidArgument(format!(
                "{}: writing MP4 needs ffmpeg on the PATH (Debian: apt install ffmpeg); write a .gif instead",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    {
        let stdin = child.stdin.as_mut().expect("piped");
        for f in frames {
            stdin.write_all(&f.pixels).map_err(|e| Error::io(path, e))?;
        }
    }
    let status = child.wait().map_err(|e| Error::io(path, e))?;
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::format(path, format!("ffmpeg failed ({status})")));
    }
    let bytes = std::fs::read(&tmp).map_err(|e| Error::io(&tmp, e));
    let _ = std::fs::remove_file(&tmp);
    super::atomic_write(path, &bytes?)
}
