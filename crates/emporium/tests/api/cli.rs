//! The binary itself: help text, and `seed` reporting counts, rejections
//! and whole-file failures.

use std::process::Command;

fn emporium(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap()
}

#[test]
fn help_explains_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "serve", "migrate", "seed", "keys", "admin", "paysim", "bench",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--addr") && text.contains("--data-dir"));
}

#[test]
fn seed_rejects_bad_records_with_line_numbers_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"sku":"A-1","name":"Alpha Lamp","category":["Home","Lamps"],"price":{"amount":1999,"currency":"USD"}}"#,
            r#"{"sku":"A-2","name":"","category":["Home"],"price":{"amount":1,"currency":"USD"}}"#,
            r#"{"sku":"A-3","name":"Gamma Lamp","category":["Home","Lamps"],"price":{"amount":2999,"currency":"USD"}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = emporium(&["seed", "--file", file.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout.contains("imported 2, updated 0, unchanged 0, rejected 1"),
        "{stdout}"
    );
    assert!(stderr.contains("rejected line 2: name"), "{stderr}");

    let again = emporium(&["seed", "--file", file.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8(again.stdout).unwrap();
    assert!(
        stdout.contains("imported 0, updated 0, unchanged 2, rejected 1"),
        "{stdout}"
    );
}

#[test]
fn a_file_that_is_not_json_lines_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, r#"{"sku":"A-1","name":"Alpha Lamp","category":["Home"],"price":{"amount":1999,"currency":"USD"}}"#).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "{\"sku\":\"B-1\",\"name\":\"Beta\",\"category\":[\"Home\"],\"price\":{\"amount\":1,\"currency\":\"USD\"}}\nsku,name,price\nx,y,1\n").unwrap();
    let out = emporium(&["seed", "--file", bad.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 2") && stderr.contains("not JSON Lines"),
        "{stderr}"
    );
    // Nothing from the bad file landed: seeding a good file imports exactly one.
    let out = emporium(&["seed", "--file", good.to_str().unwrap()], dir.path());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("imported 1,"));
}

#[test]
fn migrate_creates_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = emporium(&["migrate"], dir.path());
    assert!(out.status.success());
    assert!(dir.path().join("catalog.db").exists());
}
