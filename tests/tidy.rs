//! Tidy checks, run as ordinary tests: conventions a reviewer would otherwise
//! have to catch by eye.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).expect("read")))
        .collect()
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    for (path, text) in sources() {
        assert!(
            text.starts_with("//!"),
            "{} does not start with a //! module doc",
            path.display()
        );
    }
}

#[test]
fn request_handling_code_never_unwraps() {
    for (path, text) in sources() {
        let non_test = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (idx, line) in non_test.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !code.contains(".unwrap()")
                    && !code.contains("todo!(")
                    && !code.contains("unimplemented!("),
                "{}:{}: {}",
                path.display(),
                idx + 1,
                line.trim()
            );
        }
    }
}
