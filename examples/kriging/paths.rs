//! Checks on the files a run reads and writes, made before any work: an output may not be an
//! input nor the other output, and must be writable where it is going.

use std::path::{Path, PathBuf};

use crate::cli::Args;
use crate::Failure;

/// A flag and the file it names.
type File<'a> = (&'static str, &'a Path);

/// The files given among `list`.
fn given<'a>(list: &[(&'static str, &'a Option<PathBuf>)]) -> Vec<File<'a>> {
    list.iter()
        .filter_map(|&(flag, p)| p.as_deref().map(|p| (flag, p)))
        .collect()
}

/// The flag and path of every file given: inputs, then outputs.
fn files(args: &Args) -> (Vec<File<'_>>, Vec<File<'_>>) {
    let inputs = given(&[("--x", &args.x), ("--b", &args.b), ("--t", &args.t)]);
    let outputs = given(&[
        ("--save-a", &args.save_a),
        ("--save-pred", &args.save_pred),
        ("--save-var", &args.save_var),
    ]);
    (inputs, outputs)
}

/// The path as the file system resolves it: canonical when it exists, its canonical folder and
/// its name when only the folder does, as given otherwise.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => p.to_path_buf(),
    }
}

/// Refuses outputs that would overwrite an input or each other, and outputs that cannot be
/// written (no such folder, a folder in the way, read-only).
pub fn check(args: &Args) -> Result<(), Failure> {
    let (inputs, outputs) = files(args);
    for (i, &(out_flag, out)) in outputs.iter().enumerate() {
        let target = resolved(out);
        let earlier = outputs[..i].iter().chain(&inputs);
        if let Some((flag, p)) = earlier.into_iter().find(|(_, p)| resolved(p) == target) {
            return Err(Failure::Input(format!(
                "{out_flag} {} is the same file as {flag} {}: it would be overwritten; give \
                 each output its own path",
                out.display(),
                p.display()
            )));
        }
        writable(out_flag, out)?;
    }
    Ok(())
}

/// Catches a mistyped or read-only output folder before the solve rather than after it.
fn writable(flag: &str, p: &Path) -> Result<(), Failure> {
    let fail = |why: String| Err(Failure::Input(format!("{flag} {}: {why}", p.display())));
    if p.is_dir() {
        return fail("is a folder; give a file name".into());
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match dir.metadata() {
        Err(_) => fail(format!("no folder {}", dir.display())),
        Ok(m) if !m.is_dir() => fail(format!("{} is not a folder", dir.display())),
        Ok(m) if m.permissions().readonly() => {
            fail(format!("folder {} is read-only", dir.display()))
        }
        Ok(_) => match p.metadata() {
            Ok(m) if m.permissions().readonly() => fail("the file is read-only".into()),
            _ => Ok(()),
        },
    }
}
