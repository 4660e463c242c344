//! File downloads from the image-files directory (`[FILES] IMAGE_FILES`):
//! kernels, initrds, image tarballs and torrents.
//!
//! A name is one plain file name: no `/`, no `..`, no NUL, not hidden, and the
//! resolved path (symlinks followed) must still lie inside the directory. Files
//! are streamed with their length, never read whole into memory. Image and
//! torrent files need a token (a node's provisioning token will do); kernels and
//! initrds do not, since iPXE fetches them before any token exists.

use std::path::PathBuf;

use serde_json::json;

use super::{ApiError, Ctx, Reply};

/// Extensions that need a token: upstream's list.
const PROTECTED_EXTENSIONS: &[&str] = &["gz", "tar", "bz", "bz2", "zst", "xz", "torrent"];

fn protected(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| PROTECTED_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name != ".."
}

/// Resolves a file name inside the directory, refusing anything that escapes it.
fn resolve(ctx: &Ctx, name: &str) -> Result<PathBuf, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::bad(format!(
            "invalid file name '{}'",
            name.escape_default()
        )));
    }
    let dir = ctx
        .app
        .config
        .image_files
        .canonicalize()
        .map_err(|e| ApiError::Unavailable(format!("image files directory: {e}")))?;
    // The spec answers a file that cannot be served with 503 (it lists no 404).
    let absent = || ApiError::Unavailable(format!("file '{name}' cannot be served: not present"));
    let path = dir.join(name).canonicalize().map_err(|_| absent())?;
    if !path.starts_with(&dir) || !path.is_file() {
        return Err(absent());
    }
    Ok(path)
}

/// `GET /files`: the names of the downloadable files.
pub fn list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let dir = &ctx.app.config.image_files;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ApiError::Unavailable(format!("image files directory: {e}")))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_name(n))
        .collect();
    if names.is_empty() {
        return Err(ApiError::Unavailable(
            "no files are available for download".into(),
        ));
    }
    names.sort();
    Reply::ok(json!(names))
}

/// `GET /files/{name}`
pub fn download(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    if protected(&name) && ctx.token.is_none() {
        return Err(ApiError::Unauthorized(format!(
            "a valid token is needed for '{name}'"
        )));
    }
    let path = resolve(ctx, &name)?;
    let file = std::fs::File::open(&path)
        .map_err(|e| ApiError::Unavailable(format!("file '{name}': {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| ApiError::Unavailable(format!("file '{name}': {e}")))?
        .len();
    Ok(Reply::File(file, len))
}

/// `GET /filesauth`: an auth subrequest for a web server in front of the files
/// (nginx `auth_request`), deciding on the `X-Original-URI` header.
pub fn auth(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let uri = ctx
        .req
        .header("X-Original-URI")
        .ok_or_else(|| ApiError::Unauthorized("missing X-Original-URI header".into()))?;
    let name = uri
        .split('?')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    if protected(name) && ctx.token.is_none() {
        return Err(ApiError::Unauthorized(format!(
            "a valid token is needed for '{name}'"
        )));
    }
    Ok(Reply::Json(200, json!({ "message": "Go" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions() {
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "../etc/passwd",
            "/etc/passwd",
            "a\0b",
            "a\\b",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("compute-vmlinuz-5.14.0"));
        assert!(protected("compute.tar.bz2") && protected("x.TORRENT") && protected("y.gz"));
        // Every compressor packing may choose (zstdmt: .tar.zst).
        assert!(protected("compute-1.tar.zst") && protected("c.tar.xz"));
        assert!(!protected("vmlinuz") && !protected("initrd.img"));
    }
}
