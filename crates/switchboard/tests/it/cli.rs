//! The binary: configuration errors and `user create`.

use std::process::{Command, Stdio};

fn switchboard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_")
            || k.starts_with("TWILIO_")
            || k == "DATABASE_URL"
            || k == "PUBLIC_URL"
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn a_bad_variable_stops_the_start_with_one_line_naming_it() {
    let out = switchboard()
        .arg("serve")
        .env("SWITCHBOARD_BIND", "not-an-address")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SWITCHBOARD_BIND"), "{stderr}");
}

#[test]
fn user_create_from_stdin_then_duplicate_fails() {
    let dir = std::env::temp_dir().join(switchboard::db::new_id("sbcli"));
    let run = |email: &str| {
        let mut child = switchboard()
            .args([
                "user",
                "create",
                "--email",
                email,
                "--role",
                "admin",
                "--password-stdin",
            ])
            .env("SWITCHBOARD_DATA_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"a long password\n")
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let first = run("ops@example.test");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("created admin ops@example.test"));
    assert!(
        dir.join("switchboard.db").exists(),
        "SQLite created in the data dir"
    );
    assert!(
        dir.join("secret.key").exists(),
        "key file created in the data dir"
    );
    let again = run("OPS@example.test");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let _ = std::fs::remove_dir_all(&dir);
}
