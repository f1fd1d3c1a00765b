//! docs/tutorial.md, executed: every command block runs in order and its output is checked, so
//! the tutorial never goes stale.

use tests::docker::ensure_engine;
use tests::tools::{default_outputs_lock, project_root};
use tests::tutorial::{parse, run};

#[test]
fn tutorial_runs_as_written() {
    ensure_engine();
    let _guard = default_outputs_lock();
    let root = project_root();
    let file = root.join("docs/tutorial.md");
    let markdown = std::fs::read_to_string(&file).unwrap();
    let steps = parse(&markdown);
    assert!(steps.len() > 20, "the tutorial lost its commands");
    // A reader's shell: the default target folder, as the tutorial's paths assume.
    let env = vec![(
        "CARGO_TARGET_DIR".to_owned(),
        root.join("target").display().to_string(),
    )];
    let result = run(&steps, &file, &root, &env);
    // Whatever happened, do not leave the tutorial's registry running.
    let _ = tests::tools::xtask().args(["registry", "--stop"]).output();
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
