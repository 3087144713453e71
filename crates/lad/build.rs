//! Puts the commit `lad` was built from into `lad --version` (`LAD_COMMIT`): the value of the
//! `LAD_COMMIT` environment variable when set (a package build), else the commit of the
//! enclosing git checkout, else `unknown` (a source tarball).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LAD_COMMIT");
    let commit = match std::env::var("LAD_COMMIT") {
        Ok(commit) if !commit.is_empty() => commit,
        _ => match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(hash) => {
                // Rebuild when HEAD moves: HEAD itself, the branch it names, packed refs.
                if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                    let dir = PathBuf::from(dir);
                    println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
                    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                        let common =
                            git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
                                .map(PathBuf::from)
                                .unwrap_or_else(|| dir.clone());
                        // Only paths that exist: cargo reruns a build script with a missing
                        // rerun-if-changed path on every build, and then rebuilds the crate (a
                        // fresh clone has no packed-refs). A branch kept only in packed-refs
                        // gets a file of its own when it moves: its folder is watched.
                        let branch = common.join(&branch);
                        let watched = if branch.is_file() {
                            Some(branch)
                        } else {
                            branch.parent().map(PathBuf::from)
                        };
                        let packed = common.join("packed-refs");
                        for path in watched.into_iter().chain(Some(packed)) {
                            if path.exists() {
                                println!("cargo:rerun-if-changed={}", path.display());
                            }
                        }
                    }
                }
                hash
            }
            None => "unknown".to_string(),
        },
    };
    println!("cargo:rustc-env=LAD_COMMIT={commit}");
}
