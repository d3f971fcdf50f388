//! Writing certificate and key files: keys with mode 0600, atomically, and
//! never over an existing file unless asked.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::TlsError;

/// Mode of private key files: owner read/write only.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Mode of certificate files: readable by all.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Fails if `path` exists and `force` is not set.
pub(crate) fn refuse_overwrite(path: &Path, force: bool) -> Result<(), TlsError> {
    if !force && path.exists() {
        return Err(TlsError::AlreadyExists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes `contents` to `path` with `mode`, through a temporary file in the
/// same folder and a rename, so a crash never leaves half a key behind.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let io_err = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err)?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(source) = written {
        let _cleanup = fs::remove_file(&tmp);
        return Err(io_err(source));
    }
    Ok(())
}

/// Writes the fleet CA certificate as `ca.pem` (0644) into `dir`, refusing
/// to overwrite it unless `force`. Returns its path.
pub fn write_ca_cert(
    dir: &Path,
    cert_pem: &str,
    force: bool,
) -> Result<std::path::PathBuf, TlsError> {
    let path = dir.join(super::CA_CERT_FILE);
    refuse_overwrite(&path, force)?;
    write_file(&path, cert_pem.as_bytes(), PUBLIC_MODE)?;
    Ok(path)
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}
