//! Generates the internode Thrift code: runs the Apache compiler (`thrift --gen rs`, Debian's
//! `thrift-compiler`) on every `thrift/*.thrift` into `OUT_DIR/thrift/`, then writes
//! `OUT_DIR/thrift_modules.rs`, which declares one module per IDL file for `src/thrift.rs` to
//! include. The generated files are used exactly as the compiler wrote them.
//!
//! The compiler is `thrift` on `PATH`, or the one the `THRIFT` environment variable names. Its
//! version must match the `thrift` crate's (0.17), or the generated code may not compile.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiler version the `thrift` crate in Cargo.toml expects.
const COMPILER_VERSION: &str = "0.17.";

/// How to get the compiler, for every failure message.
const INSTALL_HINT: &str = "install Debian's `thrift-compiler` package \
    (`deploy/local/build-deps.sh` does it; or `apt-get install thrift-compiler`), \
    or point the THRIFT environment variable at a thrift 0.17 compiler";

fn main() {
    let idl_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("thrift");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let gen_dir = out_dir.join("thrift");
    println!("cargo:rerun-if-changed={}", idl_dir.display());
    println!("cargo:rerun-if-env-changed=THRIFT");

    let compiler = std::env::var("THRIFT").unwrap_or_else(|_| "thrift".into());
    check_compiler(&compiler);

    let mut idl_files: Vec<PathBuf> = std::fs::read_dir(&idl_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", idl_dir.display()))
        .map(|entry| entry.expect("IDL directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "thrift"))
        .collect();
    idl_files.sort();
    assert!(
        !idl_files.is_empty(),
        "no .thrift files in {}",
        idl_dir.display()
    );

    // A fresh directory, so a removed IDL file leaves no stale module behind.
    let _ = std::fs::remove_dir_all(&gen_dir);
    std::fs::create_dir_all(&gen_dir).expect("create OUT_DIR/thrift");
    let mut modules = String::new();
    for idl in &idl_files {
        let output = Command::new(&compiler)
            .args(["--gen", "rs", "-out"])
            .arg(&gen_dir)
            .arg(idl)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{compiler}`: {e}; {INSTALL_HINT}"));
        assert!(
            output.status.success(),
            "`{compiler} --gen rs {}` failed:\n{}{}",
            idl.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        // The compiler names the file after the IDL file, in snake case.
        let stem = idl
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 name");
        let module = stem.replace('-', "_").to_lowercase();
        let file = gen_dir.join(format!("{module}.rs"));
        assert!(
            file.exists(),
            "thrift did not write {} for {}",
            file.display(),
            idl.display()
        );
        // Generated code is never edited: it has no docs, keeps Thrift's names, and was not
        // written for clippy (a newer clippy must not fail the build on it either).
        writeln!(
            modules,
            "#[allow(missing_docs, nonstandard_style, clippy::all)]\n\
             #[path = {:?}]\npub mod {module};",
            file.display().to_string()
        )
        .expect("write to a String");
    }
    std::fs::write(out_dir.join("thrift_modules.rs"), modules).expect("write thrift_modules.rs");
}

/// Fails the build with a clear message if the compiler is missing or of the wrong version.
fn check_compiler(compiler: &str) {
    let output = match Command::new(compiler).arg("--version").output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => panic!(
            "`{compiler} --version` failed ({}): {}; {INSTALL_HINT}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!("the Thrift compiler `{compiler}` was not found ({e}); {INSTALL_HINT}"),
    };
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        version.contains(COMPILER_VERSION),
        "`{compiler}` is {}, but the thrift crate needs compiler {COMPILER_VERSION}x; {INSTALL_HINT}",
        version.trim()
    );
}
