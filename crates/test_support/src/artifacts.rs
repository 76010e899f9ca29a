//! Where the plugin cdylibs and helper binaries of the workspace are, built once.
//!
//! `cargo test` builds a test's crate as an rlib only, so an end-to-end test that loads plugins
//! needs their cdylibs built separately. A nested `cargo build -p <plugin>` resolves features
//! for that package alone, which gives its dependencies other feature sets than the workspace
//! build and so compiles separate copies of them (minutes, per package, on a warm cache too when
//! the copies were evicted), and relinks the plugin file other test processes load.
//!
//! Here every artifact comes from one build of the whole workspace — the same command
//! `scripts/rust-tests.mjs` (`npm run test:rust`) runs before it starts the test binaries, in
//! the same target directory and profile as the running test. That script sets
//! [`BUILT_ENV`]; then nothing is built here at all. Without it (a plain `cargo test -p …`)
//! the first call in a process runs that build once; cargo's lock on the build directory
//! serialises concurrent test processes, and the later builds find everything fresh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Set by `scripts/rust-tests.mjs` once it built the workspace: the artifacts are in place.
pub const BUILT_ENV: &str = "IGGY_TEST_ARTIFACTS_BUILT";

/// The package the workspace build leaves out (the napi addon links against Node).
const EXCLUDED: &str = "iggy_connectors_binding";

/// The path of the cdylib of workspace crate `lib_name` (its `[lib]` name, e.g.
/// `iggy_connector_postgres_sink` or `engine_test_source`); panics when the build did not make it.
pub fn plugin(lib_name: &str) -> PathBuf {
    let path = built().join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        path.exists(),
        "no plugin {} after the workspace build: is `{lib_name}` a cdylib crate of the workspace?",
        path.display()
    );
    path
}

/// The path of binary `name` of a workspace crate (e.g. `pipeline_runtime` of this crate).
pub fn binary(name: &str) -> PathBuf {
    let path = built().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "no binary {} after the workspace build",
        path.display()
    );
    path
}

/// The profile directory (`<target>/debug`), after the workspace build.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        if std::env::var_os(BUILT_ENV).is_none() {
            build_workspace(&dir);
        }
        dir
    })
}

/// The profile directory of the running executable: test binaries live in
/// `<target>/<profile>/deps`, examples in `<target>/<profile>/examples`, binaries in the
/// profile directory itself. Following the executable (not `CARGO_TARGET_DIR`) keeps a test on
/// the build it belongs to, whatever target directory or profile ran it.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("the executable's directory");
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps" | "examples") => dir.parent().expect("the profile directory").to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

fn build_workspace(profile_dir: &Path) {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The target directory comes from the environment `cargo test` ran this test in, as
    // CARGO_TARGET_DIR or the workspace's `target/`, the same one the test binary was built in.
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--workspace", "--exclude", EXCLUDED, "--profile"])
        .arg(&profile)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "`cargo build --workspace --exclude {EXCLUDED} --profile {profile}` failed"
    );
}
