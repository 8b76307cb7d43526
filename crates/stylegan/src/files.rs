//! Where outputs go: the one writer every file of the library passes through, the checks a
//! program runs on an output path *before* its work starts, and the clean-up of what killed
//! writers left behind. (Below `io` and `data` in the layers, so both write through it; `io`
//! re-exports it.)
//!
//! - A regular file (or a path that does not exist yet) is written atomically: a temporary file
//!   `.NAME.tmpPID` beside the final target, fsync, rename. A killed process never leaves a
//!   half-written file under the final name.
//! - A symbolic link is followed: the file it points to is replaced (atomically, beside that
//!   file), the link itself stays a link.
//! - A character device or a FIFO (`/dev/stdout`, a named pipe) is written to directly: that is
//!   what a user who names one means. It is never replaced by a regular file.
//! - Anything else (a directory, a block device, a socket) is refused with an error naming it.
//! - Missing parent folders are created.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Check that `path` names a regular file (after links) that can be read whole: a device, a
/// FIFO or a directory given as an input (`/dev/zero`, `/dev/stdin`) is refused instead of
/// being read without end.
pub fn check_input(path: &Path) -> Result<()> {
    input_metadata(path).map(|_| ())
}

/// [`check_input`], returning the file's metadata.
fn input_metadata(path: &Path) -> Result<fs::Metadata> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        return Ok(meta);
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file (a device, FIFO or socket)"
    };
    Err(Error::InvalidArgument(format!(
        "{}: cannot read this input: it is {what}",
        path.display()
    )))
}

/// Read an input file whole, after [`check_input`]: the one reader of network, latent,
/// direction and array files.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    check_input(path)?;
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// [`read_input`] of a file that may hold at most `max` bytes (a `dataset.json`, a config, an
/// image of a data set): a larger one is refused before it is read, and reading stops at
/// `max + 1` bytes should the file grow meanwhile.
pub fn read_input_at_most(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let too_large = || {
        Error::format(
            path,
            format!("is larger than the {max} bytes accepted for this file"),
        )
    };
    if input_metadata(path)?.len() > max {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut buf))
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(too_large());
    }
    Ok(buf)
}

/// How many symbolic links are followed before giving up (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// What an existing (or missing) output path is, after following symbolic links.
enum Target {
    /// A regular file or nothing yet: written atomically at this (resolved) path.
    Replace(PathBuf),
    /// A character device or FIFO: written to in place.
    Stream(PathBuf),
}

/// Follow `path`'s symbolic links and classify the final target. An existing target is asked
/// of the system (which also follows `/proc`'s links, as `/dev/stdout` → a pipe); a missing one
/// is found by following the links by hand (relative targets against the link's folder), so
/// that a dangling link gets its file created where it points.
fn resolve(path: &Path) -> Result<Target> {
    match fs::metadata(path) {
        Ok(meta) => {
            let ft = meta.file_type();
            if ft.is_file() {
                let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
                return Ok(Target::Replace(if is_link {
                    fs::canonicalize(path).map_err(|e| Error::io(path, e))?
                } else {
                    path.to_path_buf()
                }));
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileTypeExt;
                if ft.is_char_device() || ft.is_fifo() {
                    return Ok(Target::Stream(path.to_path_buf()));
                }
            }
            let what = if ft.is_dir() {
                "a directory"
            } else {
                "not a regular file (a block device or socket)"
            };
            Err(Error::InvalidArgument(format!(
                "{}: cannot write the output there: it is {what}",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing_target(path),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Where a file at `path`, which does not exist yet, is created: `path` itself, or the end of
/// the chain of (dangling) links that starts there.
fn missing_target(path: &Path) -> Result<Target> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p).map_err(|e| Error::io(&p, e))?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return resolve(&p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::Replace(p)),
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Err(Error::InvalidArgument(format!(
        "{}: more than {MAX_LINKS} symbolic links to follow",
        path.display()
    )))
}

/// The folder a file at `path` lives in (`.` for a bare name).
fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary name `atomic_write` uses beside `path` (and the pattern stale-file cleanups
/// look for): `.NAME.tmpPID`.
pub fn temp_name(path: &Path, pid: u32) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{}: not a file path", path.display())))?;
    Ok(folder(path).join(format!(".{}.tmp{pid}", name.to_string_lossy())))
}

/// The file a temporary `.NAME.tmpPID` belongs to and the writing process: `(NAME, PID)`.
fn temporary_of(file_name: &str) -> Option<(&str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(".tmp")?;
    let pid = &rest[at + 4..];
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&rest[..at], pid.parse().ok()?))
}

/// Remove the temporary files `.NAME.tmpPID` in `dir` whose process is gone (no `/proc/PID`):
/// what a killed write leaves behind. With `name`, only temporaries of that file. Files of
/// live processes (a run writing right now) are kept; where `/proc` is absent nothing is
/// removed, since no process can be told dead. Returns the removed paths.
pub fn remove_stale_temporaries(dir: &Path, name: Option<&str>) -> Result<Vec<PathBuf>> {
    let proc_fs = Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return Ok(Vec::new());
    }
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some((of, pid)) = temporary_of(&file_name) else {
            continue;
        };
        if pid == own || name.is_some_and(|n| n != of) || proc_fs.join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Write `bytes` to `path` as described in the module doc: atomically for regular files
/// (through symbolic links), in place for character devices and FIFOs, creating missing parent
/// folders; anything else is refused.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    match resolve(path)? {
        Target::Stream(p) => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| Error::io(&p, e))?;
            f.write_all(bytes)
                .and_then(|_| f.flush())
                .map_err(|e| Error::io(&p, e))
        }
        Target::Replace(p) => {
            create_parent(&p)?;
            let tmp = temp_name(&p, std::process::id())?;
            // A leftover of an earlier process with our pid (or anything planted there) goes;
            // `create_new` then never follows a link someone put at the temporary name.
            let _ = fs::remove_file(&tmp);
            let result = (|| {
                let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                f.write_all(bytes)?;
                // Keep the permissions of the file being replaced.
                if let Ok(old) = fs::metadata(&p) {
                    f.set_permissions(old.permissions())?;
                }
                f.sync_all()?;
                fs::rename(&tmp, &p)
            })();
            if let Err(e) = result {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(&p, e));
            }
            Ok(())
        }
    }
}

/// For a writer that streams a large file (a data set ZIP): where to write the temporary —
/// beside the file `path` names (after links), or in the system's temporary folder when
/// `path` is a device or FIFO. Directories and the like are refused. Pair with
/// [`finish_staged`].
pub fn staged_temp(path: &Path) -> Result<PathBuf> {
    match resolve(path)? {
        Target::Replace(p) => {
            create_parent(&p)?;
            temp_name(&p, std::process::id())
        }
        Target::Stream(p) => temp_name(
            &std::env::temp_dir().join(p.file_name().unwrap_or_default()),
            std::process::id(),
        ),
    }
}

/// Put the finished temporary `tmp` from [`staged_temp`] in place at `path`: renamed over the
/// file (links followed), or copied into a device or FIFO. The temporary is gone afterwards.
pub fn finish_staged(tmp: &Path, path: &Path) -> Result<()> {
    let result = match resolve(path) {
        Ok(Target::Replace(p)) => fs::rename(tmp, &p).map_err(|e| Error::io(&p, e)),
        Ok(Target::Stream(p)) => (|| {
            let mut from = fs::File::open(tmp)?;
            let mut to = OpenOptions::new().write(true).open(&p)?;
            std::io::copy(&mut from, &mut to)?;
            to.flush()
        })()
        .map_err(|e| Error::io(&p, e)),
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(tmp);
    result
}

fn create_parent(p: &Path) -> Result<()> {
    let dir = folder(p);
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| {
            Error::InvalidArgument(format!(
                "cannot create the output folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// The kinds of file an output path can be asked to hold, each with the extensions it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// A still image: `.png`, `.jpg`/`.jpeg` or `.webp` (see [`crate::io::image::ImageFormat`]);
    /// PNG to a device or FIFO (`/dev/stdout`).
    Image,
    /// An animation: `.gif`, or `.mp4` (needs `ffmpeg`); GIF to a device or FIFO.
    Video,
    /// A native checkpoint or latent file: `.safetensors`.
    Safetensors,
    /// A rosinality checkpoint: `.pt`.
    Torch,
    /// Text or JSON with any name.
    Any,
}

impl OutputKind {
    /// The extensions this kind accepts (lower case; empty: any).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Image => &["png", "jpg", "jpeg", "webp"],
            Self::Video => &["gif", "mp4"],
            Self::Safetensors => &["safetensors"],
            Self::Torch => &["pt", "pth"],
            Self::Any => &[],
        }
    }
}

/// Whether `path` is (or links to) a character device or FIFO, written in place.
pub fn is_stream(path: &Path) -> bool {
    matches!(resolve(path), Ok(Target::Stream(_)))
}

/// The lower-case extension of `path` ("" when it has none).
pub fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `path`'s extension must be one that `kind` takes; the error names the ones it does.
pub fn check_extension(path: &Path, kind: OutputKind) -> Result<()> {
    let exts = kind.extensions();
    let ext = extension(path);
    if exts.is_empty() || exts.contains(&ext.as_str()) {
        return Ok(());
    }
    let found = if ext.is_empty() {
        "no extension".to_string()
    } else {
        format!("'.{ext}'")
    };
    Err(Error::InvalidArgument(format!(
        "{}: cannot write this kind of output with {found} (expected {})",
        path.display(),
        exts.iter()
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Check an output file path before any work: its extension suits `kind`, it is (or links to)
/// a regular file, a character device or a FIFO, or nothing yet, and its folder exists (made
/// here when missing) and takes new files. Errors name the path and what is wrong.
pub fn check_output(path: &Path, kind: OutputKind) -> Result<()> {
    // A device or FIFO takes whatever is written to it (the format's default, see the kinds);
    // a directory and the like are refused here, naming what is there.
    let target = match resolve(path)? {
        Target::Stream(_) => return Ok(()),
        Target::Replace(p) => p,
    };
    check_extension(path, kind)?;
    create_parent(&target)?;
    probe(folder(&target))?;
    remove_stale_temporaries(folder(&target), None)?;
    Ok(())
}

/// Create `dir` (and its parents) when missing and check that new files can be made in it,
/// before any work (an output folder).
pub fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{}: the output folder is a file",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot create the output folder {}: {e}",
            dir.display()
        ))
    })?;
    probe(dir)?;
    remove_stale_temporaries(dir, None)?;
    Ok(())
}

/// Can a new file be made in `dir`? (Creates and removes `.stylegan-probe.tmpPID`.)
fn probe(dir: &Path) -> Result<()> {
    let p = temp_name(&dir.join("stylegan-probe"), std::process::id())?;
    let _ = fs::remove_file(&p);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| {
            Error::InvalidArgument(format!(
                "the output folder {} does not take new files: {e}",
                dir.display()
            ))
        })?;
    let _ = fs::remove_file(&p);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sg-output-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_through_a_symlink_and_keeps_it() {
        let d = tmpdir("link");
        fs::write(d.join("real.png"), b"old").unwrap();
        std::os::unix::fs::symlink("real.png", d.join("link.png")).unwrap();
        atomic_write(&d.join("link.png"), b"new").unwrap();
        assert!(fs::symlink_metadata(d.join("link.png"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(d.join("real.png")).unwrap(), b"new");
        // A dangling link: the file is created where it points.
        std::os::unix::fs::symlink("sub/new.png", d.join("dangling.png")).unwrap();
        atomic_write(&d.join("dangling.png"), b"x").unwrap();
        assert_eq!(fs::read(d.join("sub/new.png")).unwrap(), b"x");
        assert!(fs::symlink_metadata(d.join("dangling.png"))
            .unwrap()
            .file_type()
            .is_symlink());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn streams_to_devices_and_fifos_and_refuses_directories() {
        // /dev/null stays a device.
        atomic_write(Path::new("/dev/null"), b"abc").unwrap();
        let meta = fs::symlink_metadata("/dev/null").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_char_device());
        // /dev/full: the write fails with an error, the device stays.
        if Path::new("/dev/full").exists() {
            let e = atomic_write(Path::new("/dev/full"), b"abc").unwrap_err();
            assert!(e.to_string().contains("/dev/full"), "{e}");
            assert!(fs::symlink_metadata("/dev/full")
                .unwrap()
                .file_type()
                .is_char_device());
        }
        let d = tmpdir("dir");
        // A FIFO: written to in place, read by the other end, still a FIFO afterwards.
        let fifo = d.join("pipe");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            let f2 = fifo.clone();
            let reader = std::thread::spawn(move || fs::read(f2).unwrap());
            atomic_write(&fifo, b"through the pipe").unwrap();
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
            check_output(&fifo, OutputKind::Image).unwrap();
        }
        let e = atomic_write(&d, b"x").unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        let e = check_output(&d.join("sub").join("x.png"), OutputKind::Image);
        assert!(e.is_ok(), "{e:?}");
        assert!(d.join("sub").is_dir(), "missing parent folder made");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn extensions_are_checked() {
        let d = tmpdir("ext");
        let e = check_output(&d.join("x.bmp"), OutputKind::Image)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'.bmp'") && e.contains(".png"), "{e}");
        let e = check_output(&d.join("x"), OutputKind::Video)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no extension") && e.contains(".gif"), "{e}");
        check_output(&d.join("X.JPG"), OutputKind::Image).unwrap();
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_go_live_ones_stay() {
        let d = tmpdir("stale");
        // No pid reaches 4e9 (Linux caps pid_max at 2^22); our own pid is alive.
        let dead = d.join(".data.zip.tmp4000000000");
        let other = d.join(".other.zip.tmp4000000000");
        let live = temp_name(&d.join("data.zip"), std::process::id()).unwrap();
        let plain = d.join("data.zip.tmp1");
        let hidden = d.join(".hidden.tmpfile");
        for p in [&dead, &other, &live, &plain, &hidden] {
            fs::write(p, b"x").unwrap();
        }
        assert_eq!(temporary_of(".a.b.tmp12"), Some(("a.b", 12)));
        assert_eq!(temporary_of(".a.tmp"), None);
        assert_eq!(temporary_of("a.png.tmp12"), None);
        let removed = remove_stale_temporaries(&d, Some("data.zip")).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert!(other.exists() && live.exists() && plain.exists());
        // Preparing an output folder removes every stale temporary in it.
        prepare_dir(&d).unwrap();
        assert!(!other.exists());
        assert!(live.exists() && plain.exists() && hidden.exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn staged_writes_follow_links_and_stream_into_devices() {
        let d = tmpdir("staged");
        fs::write(d.join("real.zip"), b"old").unwrap();
        std::os::unix::fs::symlink("real.zip", d.join("link.zip")).unwrap();
        let tmp = staged_temp(&d.join("link.zip")).unwrap();
        assert_eq!(
            tmp.parent().unwrap(),
            d.as_path(),
            "beside the link's target"
        );
        fs::write(&tmp, b"zip bytes").unwrap();
        finish_staged(&tmp, &d.join("link.zip")).unwrap();
        assert!(fs::symlink_metadata(d.join("link.zip"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(d.join("real.zip")).unwrap(), b"zip bytes");
        assert!(!tmp.exists());
        let tmp = staged_temp(Path::new("/dev/null")).unwrap();
        fs::write(&tmp, b"x").unwrap();
        finish_staged(&tmp, Path::new("/dev/null")).unwrap();
        assert!(!tmp.exists());
        assert!(staged_temp(&d).is_err(), "a directory is refused");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn inputs_must_be_regular_files() {
        let d = tmpdir("input");
        fs::write(d.join("a.bin"), b"abc").unwrap();
        std::os::unix::fs::symlink("a.bin", d.join("link.bin")).unwrap();
        assert_eq!(read_input(&d.join("link.bin")).unwrap(), b"abc");
        let e = read_input(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
        let e = read_input(&d).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        assert!(read_input(&d.join("missing")).is_err());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn keeps_permissions_and_leaves_no_temporary() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir("perm");
        let f = d.join("a.json");
        fs::write(&f, b"1").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        atomic_write(&f, b"2").unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = fs::remove_dir_all(&d);
    }
}
