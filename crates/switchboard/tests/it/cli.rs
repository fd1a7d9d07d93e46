//! The binary: configuration errors and `user create`.

use std::process::{Command, Stdio};

pub(crate) fn switchboard() -> Command {
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

#[tokio::test]
async fn a_short_demo_runs_end_to_end_and_leaves_a_populated_database() {
    let dir = std::env::temp_dir().join(switchboard::db::new_id("sbdemo"));
    let out = switchboard()
        .args(["demo", "--calls", "24", "--days", "3", "--exit"])
        .env("SWITCHBOARD_DATA_DIR", &dir)
        .env("SWITCHBOARD_BIND", "127.0.0.1:0")
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("played 24 calls and 2 texts (0 with problems) over 3 days"),
        "{stdout}"
    );
    for login in [
        "admin@demo.switchboard",
        "owner@brightsmiles.demo",
        "frontdesk@brightsmiles.demo",
        "owner@rapidrooter.demo",
        "owner@northside.demo",
    ] {
        assert!(stdout.contains(login), "{login} printed: {stdout}");
    }
    assert!(
        stdout.contains("the AI receptionist answered 5 scripted callers on +15554440001"),
        "{stdout}"
    );
    let db = switchboard::db::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("switchboard.db").display()
    ))
    .await
    .expect("open the demo database");
    use sqlx::Row as _;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT tenant_id) AS tenants,
                SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                SUM(CASE WHEN outcome <> 'answered' THEN 1 ELSE 0 END) AS unanswered
         FROM calls",
    )
    .fetch_one(db.pool())
    .await
    .expect("count");
    // The traffic, and the receptionist line's five scripted callers.
    assert_eq!(row.try_get::<i64, _>("n").expect("n"), 24 + 5);
    assert_eq!(row.try_get::<i64, _>("tenants").expect("tenants"), 3);
    let ai = sqlx::query(
        "SELECT ai_outcome, COUNT(*) AS n FROM calls WHERE ai_outcome IS NOT NULL GROUP BY ai_outcome ORDER BY ai_outcome",
    )
    .fetch_all(db.pool())
    .await
    .expect("receptionist calls");
    let ai: Vec<(String, i64)> = ai
        .iter()
        .map(|r| {
            (
                r.try_get("ai_outcome").expect("o"),
                r.try_get("n").expect("n"),
            )
        })
        .collect();
    assert_eq!(
        ai,
        vec![
            ("ai-booked".to_owned(), 1),
            ("ai-handoff".to_owned(), 2),
            ("ai-resolved".to_owned(), 2)
        ]
    );
    let requested =
        sqlx::query("SELECT COUNT(*) AS n FROM appointments WHERE status = 'requested'")
            .fetch_one(db.pool())
            .await
            .expect("requests");
    assert_eq!(requested.try_get::<i64, _>("n").expect("n"), 1);
    assert!(row.try_get::<i64, _>("answered").expect("answered") > 0);
    assert!(row.try_get::<i64, _>("unanswered").expect("unanswered") > 0);
    let texts = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE direction = 'inbound'")
        .fetch_one(db.pool())
        .await
        .expect("texts");
    assert_eq!(texts.try_get::<i64, _>("n").expect("n"), 2);
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
