//! The portal in a real headless Chromium, driven over WebDriver (chromedriver),
//! against the real server with the simulator playing Twilio.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the tests say so
//! and skip — unless `SWITCHBOARD_REQUIRE_BROWSER` is set (CI sets it), when a
//! missing browser is a failure. Every page visited is saved as a screenshot at
//! desktop and phone width under `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use twilio_sim::{Press, Scenario, Speaker, Staff};

use crate::calls::{CallWorld, TRACKING, call_world_with};
use crate::common::PASSWORD;

const DESKTOP: (u32, u32) = (1280, 1200);
const PHONE: (u32, u32) = (390, 1800);

struct Browser {
    client: Client,
    base: String,
    /// axe-core's source, when found: every page is audited with it.
    axe: Option<String>,
    _driver: tokio::process::Child,
    _profile: PathBuf,
}

fn locate(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// axe-core (npm `axe-core`, which `.ci/run` installs under `target/a11y`), or `None`
/// with a line saying why — a failure when `SWITCHBOARD_REQUIRE_BROWSER` is set.
fn axe_source() -> Option<String> {
    let default = screenshot_dir()
        .parent()
        .map(|t| t.join("a11y/node_modules/axe-core/axe.min.js"))
        .unwrap_or_default();
    let path = std::env::var_os("SWITCHBOARD_AXE").map_or(default, PathBuf::from);
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                std::env::var_os("SWITCHBOARD_REQUIRE_BROWSER").is_none(),
                "SWITCHBOARD_REQUIRE_BROWSER is set but axe-core is missing at {} ({e}); \
                 npm install --prefix target/a11y axe-core",
                path.display()
            );
            eprintln!(
                "accessibility audit skipped: no axe-core at {} (npm install --prefix target/a11y axe-core)",
                path.display()
            );
            None
        }
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

/// Starts chromedriver and a headless Chromium session, or `None` (with a line
/// saying why) when they are not installed and not required.
async fn browser(base: &str) -> Option<Browser> {
    let driver = locate("SWITCHBOARD_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = locate("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium");
    if !driver.exists() || !chromium.exists() {
        assert!(
            std::env::var_os("SWITCHBOARD_REQUIRE_BROWSER").is_none(),
            "SWITCHBOARD_REQUIRE_BROWSER is set but {} or {} is missing (apt-get install chromium chromium-driver)",
            driver.display(),
            chromium.display()
        );
        eprintln!(
            "browser tests skipped: {} or {} not found (apt-get install chromium chromium-driver)",
            driver.display(),
            chromium.display()
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = std::env::temp_dir().join(switchboard::db::new_id("sbchrome"));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ]
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Some(Browser {
        client,
        base: base.to_owned(),
        axe: axe_source(),
        _driver: child,
        _profile: profile,
    })
}

impl Browser {
    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn text(&self, css: &str) -> String {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element.text().await.expect("text"),
            Err(e) => panic!("{css} not found on {}: {e}", self.path().await),
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .len()
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Clicks and waits for the next page to replace this one.
    async fn submit(&self, css: &str) {
        let before = self.client.find(Locator::Css("html")).await.expect("html");
        self.click(css).await;
        for _ in 0..200 {
            // The old document's elements go stale once the new page has loaded.
            if before.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("main"))
            .await
            .expect("the next page");
    }

    async fn login(&self, email: &str, password: &str) {
        self.open("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.submit("button[type=submit]").await;
    }

    async fn logout(&self) {
        self.submit("header form[action='/logout'] button").await;
        assert_eq!(self.path().await, "/login");
    }

    /// Runs a script that calls its callback (the last argument) with a result.
    async fn run_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .expect("script")
    }

    /// Saves the page at desktop and phone width, and checks that at neither width
    /// the page scrolls sideways.
    async fn screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(w, h).await.expect("resize");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).expect("save");
            self.audit(name, label).await;
            {
                let overflow = self
                    .client
                    .execute(
                        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                        vec![],
                    )
                    .await
                    .expect("measure");
                assert!(
                    overflow.as_i64().unwrap_or(0) <= 1,
                    "{name} scrolls sideways at {label} width by {overflow}px"
                );
            }
        }
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .expect("resize");
    }

    /// Runs axe-core (WCAG 2.1 A and AA) on the page; any serious or critical violation
    /// fails the test, listing the rule and the first elements it found.
    async fn audit(&self, name: &str, label: &str) {
        let Some(axe) = &self.axe else { return };
        let loaded = self
            .client
            .execute(&format!("{axe}\nreturn typeof window.axe;"), vec![])
            .await
            .expect("inject axe-core");
        assert_eq!(loaded, json!("object"), "axe-core did not load on {name}");
        let found = self
            .run_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                                    resultTypes: ['violations']})
                   .then(r => done(r.violations
                       .filter(v => v.impact === 'serious' || v.impact === 'critical')
                       .map(v => ({rule: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
                   .catch(e => done([{rule: 'axe failed', help: String(e)}]));",
            )
            .await;
        assert_eq!(
            found,
            json!([]),
            "{name} at {label} width has accessibility violations"
        );
    }

    async fn close(self) {
        self.client.close().await.ok();
    }
}

/// A tenant with three calls: answered with a summary, a voicemail, and a missed call.
async fn world_with_calls() -> (CallWorld, String, String, String) {
    let w = call_world_with(true).await;
    let mut answered = Scenario::new("+15550001111", TRACKING);
    answered.caller_name = Some("JANE DOE".into());
    answered.presses = vec![Press::Digits("1".into())];
    answered.staff = Staff::Answers { after_secs: 4 };
    answered.talk_secs = 95;
    answered.script = vec![
        (
            Speaker::Caller,
            "Hi, I'd like to book an appointment for a cleaning.".into(),
        ),
        (Speaker::Staff, "Sure, Tuesday at ten works.".into()),
    ];
    let answered = w.play(&answered).await.call_sid;
    let mut voicemail = Scenario::new("+15550002222", TRACKING);
    voicemail.caller_name = Some("SAM LEE".into());
    voicemail.presses = vec![Press::Digits("2".into())];
    voicemail.staff = Staff::NoAnswer;
    voicemail.voicemail_secs = Some(14);
    let voicemail = w.play(&voicemail).await.call_sid;
    let mut missed = Scenario::new("+15550003333", TRACKING);
    missed.presses = vec![Press::Digits("1".into())];
    missed.staff = Staff::Busy;
    missed.voicemail_secs = None;
    let missed = w.play(&missed).await.call_sid;
    // And a text, as a real number would get.
    w.route_texts();
    let (status, _) = w
        .sim
        .send_sms("+15550002222", TRACKING, "Running 10 minutes late <sorry>")
        .await
        .expect("sms");
    assert_eq!(status, 200);
    // The summary arrives from Voice Intelligence after the call.
    // The summary arrives from Voice Intelligence after the call, and the verdict a
    // moment after that.
    for _ in 0..300 {
        let log = w.log(&answered).await;
        if log["summaryReady"] == true && !log["appointmentBooked"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (w, answered, voicemail, missed)
}

#[tokio::test]
async fn customer_reads_filters_listens_and_exports() {
    let (w, answered, voicemail, missed) = world_with_calls().await;
    let Some(b) = browser(&w.t.base).await else {
        return;
    };

    // Signing in from a deep link returns there; the session cookie is HttpOnly.
    b.open("/call-logs?status=answered").await;
    assert!(b.path().await.starts_with("/login?next="));
    b.screenshot("login").await;
    b.fill("#email", "owner@brightsmiles.test").await;
    b.fill("#password", "not the password").await;
    b.submit("button[type=submit]").await;
    assert!(b.text("#login-error").await.contains("do not match"));
    b.screenshot("login-error").await;
    b.login("owner@brightsmiles.test", PASSWORD).await;
    assert_eq!(b.path().await, "/dashboard");
    let cookies = b
        .client
        .execute("return document.cookie;", vec![])
        .await
        .expect("cookie");
    assert_eq!(
        cookies,
        json!(""),
        "the session cookie is not readable by scripts"
    );

    // Dashboard: unread badges and figures, and the chart.
    assert_eq!(b.text("#card-calls .value").await, "3");
    assert_eq!(b.text("#card-voicemails .value").await, "1");
    let today = "table.figures tbody tr:first-child";
    assert_eq!(b.text(&format!("{today} th")).await, "Today");
    assert_eq!(b.text(&format!("{today} td[data-label=Calls]")).await, "3");
    assert_eq!(
        b.text(&format!("{today} td[data-label=Answered]")).await,
        "1"
    );
    assert_eq!(b.text(&format!("{today} td[data-label=Missed]")).await, "2");
    assert_eq!(
        b.text(&format!("{today} td[data-label=Voicemails]")).await,
        "1"
    );
    assert_eq!(b.count("svg.chart rect.answered").await, 1);
    assert_eq!(b.count("svg.chart rect.voicemail").await, 1);
    assert_eq!(b.count("svg.chart rect.missed").await, 1);
    assert!(b.text("nav .badge").await.contains('3'));
    b.screenshot("dashboard").await;
    // A mistyped link: the portal's not-found page, inside the navigation.
    b.open("/no-such-page").await;
    assert!(b.text("main h1").await.contains("Not found"));
    assert!(
        b.count("nav a[href='/call-logs']").await >= 1,
        "navigation kept"
    );
    b.screenshot("not-found").await;
    b.open("/dashboard").await;

    // Texts: the card and the badge, then the page, which marks them read.
    assert_eq!(b.text("#card-messages .value").await, "1");
    b.click("#card-messages").await;
    let row = b.text("table.messages tbody tr").await;
    assert!(
        row.contains("Running 10 minutes late <sorry>")
            && row.contains("+15550002222")
            && row.contains("Google Ads"),
        "{row}"
    );
    b.screenshot("messages").await;

    // Open the conversation and reply from the portal: the text goes out through the
    // simulator and its status comes back.
    b.click("table.messages tbody tr a").await;
    assert!(b.text("#conversation-title").await.contains("+15550002222"));
    b.fill("#reply-body", "No problem, see you soon!").await;
    b.submit("#send-reply").await;
    assert!(b.text("main .alert.ok").await.contains("on its way"));
    let mut last = String::new();
    for _ in 0..50 {
        b.open("/messages?with=%2B15550002222").await;
        last = b.text("ol.texts li.outbound").await;
        if last.contains("delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        last.contains("No problem, see you soon!") && last.contains("delivered"),
        "{last}"
    );
    b.screenshot("messages-conversation").await;
    b.click("nav a[href='/dashboard']").await;
    assert_eq!(b.text("#card-messages .value").await, "0");

    // Contacts: a bad number is refused next to the field, then the contact is listed.
    b.click("nav a[href='/contacts']").await;
    b.fill("#name", "Jane Q. Doe").await;
    b.fill("#phone", "12").await;
    b.submit("#add-contact").await;
    assert!(
        b.text("#phone-error")
            .await
            .contains("not a valid phone number")
    );
    assert_eq!(
        b.client
            .find(Locator::Css("#name"))
            .await
            .expect("name")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("Jane Q. Doe"),
        "what was typed is kept"
    );
    b.fill("#phone", "(555) 000-1111").await;
    b.submit("#add-contact").await;
    assert_eq!(b.text("main .alert.ok").await, "Contact added.");
    assert!(b.text("#contacts").await.contains("+15550001111"));
    b.screenshot("contacts").await;
    // Edit, then delete (asked first). The contact's page shows its calls and texts.
    b.click("#contacts a").await;
    let timeline = b.text("ol.timeline").await;
    assert!(
        timeline.contains("Call") && timeline.contains("Answered, 1:35 talk"),
        "{timeline}"
    );
    b.fill("#notes", "Prefers mornings").await;
    b.fill("#email", "jane.example.com").await;
    b.submit("#save-contact").await;
    assert!(b.text("#email-error").await.contains("email"));
    assert!(
        b.text("ol.timeline").await.contains("Answered"),
        "the history stays beside a form with errors"
    );
    b.screenshot("contact").await;
    b.fill("#email", "jane@example.com").await;
    b.submit("#save-contact").await;
    assert_eq!(b.text("main .alert.ok").await, "Contact saved.");
    assert!(b.text("#contacts").await.contains("Prefers mornings"));
    b.click("nav a[href='/dashboard']").await;

    // Call logs: opening them marks them read.
    b.click("nav a[href='/call-logs']").await;
    assert_eq!(b.text("#result-count").await, "Showing 1–3 of 3 calls");
    assert_eq!(b.count("nav .badge").await, 0);
    let row = b.text(&format!("#call-{answered}")).await;
    assert!(
        row.contains("Jane Q. Doe")
            && row.contains("Contact")
            && row.contains("Google Ads")
            && row.contains("Answered")
            && row.contains("1:35 talk"),
        "{row}"
    );
    assert!(row.contains("New patient"), "{row}");
    b.screenshot("call-logs").await;

    // The summary opens in place.
    let summary = format!("#notes-{answered} details.summary");
    b.click(&format!("{summary} summary")).await;
    let text = b.text(&format!("{summary} .summary-text")).await;
    assert!(text.contains("book"), "{text}");
    // The verdict, why, and who decided: asked to book, offered a time, never said yes.
    assert_eq!(
        b.text(&format!("#call-{answered} td.appointment .pill"))
            .await,
        "Not booked"
    );
    assert_eq!(
        b.text(&format!("#call-{answered} td.reason")).await,
        "Setup Appointment"
    );
    assert!(
        b.text(&format!("{summary} .classification-source"))
            .await
            .contains("local classifier")
    );
    assert!(b.count(&format!("{summary} .evidence li")).await >= 1);
    b.screenshot("call-logs-summary").await;

    // The front desk knows better: it was booked. The correction wins, and says who.
    b.select(&format!("#booked-{answered}"), "yes").await;
    b.submit(&format!("#notes-{answered} button.correct")).await;
    assert!(b.text("main .alert.ok").await.contains("correction"));
    assert_eq!(
        b.text(&format!("#call-{answered} td.appointment .pill"))
            .await,
        "Booked"
    );
    b.click(&format!("{summary} summary")).await;
    assert!(
        b.text(&format!("{summary} .classification-source"))
            .await
            .contains("corrected by owner@")
    );

    // Now booked: the call offers to put it in the calendar, with the caller filled in.
    let (status, staff) =
        w.t.post(
            "/api/staff-members",
            &w.owner,
            json!({"name": "Dr. Patel", "phone": "+15557650001"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{staff}");
    b.click(&format!("#call-{answered} a.book-link.suggested"))
        .await;
    b.client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#from-call"))
        .await
        .expect("the booking form");
    assert!(
        b.text("#from-call")
            .await
            .contains("sounded like a booking")
    );
    b.select("#staffMemberId", staff["id"].as_str().expect("id"))
        .await;
    b.client
        .execute(
            "document.getElementById('date').value = '2030-03-04'; document.getElementById('time').value = '10:30';",
            vec![],
        )
        .await
        .expect("set the time");
    b.submit("#book-appointment").await;
    assert_eq!(b.text("main .alert.ok").await, "Appointment booked.");
    let week = b.text("table.appointments").await;
    assert!(
        week.contains("10:30 AM–11:00 AM")
            && week.contains("Dr. Patel")
            && week.contains("From a call"),
        "{week}"
    );
    b.screenshot("appointments").await;
    b.click("table.appointments td a").await;
    b.submit("#send-confirmation").await;
    assert_eq!(
        b.text("main .alert.ok").await,
        "Confirmation queued for sending."
    );
    assert!(
        b.text("#confirmation-state")
            .await
            .contains("Confirmation sent")
    );
    b.screenshot("appointment").await;
    b.click("nav a[href='/call-logs']").await;
    b.select("#appointmentBooked", "true").await;
    b.submit("#apply-filters").await;
    assert_eq!(b.text("#result-count").await, "1 call");
    b.submit("a.button[href='/call-logs']").await;

    // Search by name, then by part of a number; Clear shows everything again.
    b.fill("#q", "jane").await;
    b.submit("#apply-filters").await;
    assert_eq!(b.text("#result-count").await, "1 call");
    assert_eq!(b.count(&format!("#call-{answered}")).await, 1);
    b.fill("#q", "0002222").await;
    b.submit("#apply-filters").await;
    assert_eq!(b.text("#result-count").await, "1 call");
    assert_eq!(b.count(&format!("#call-{voicemail}")).await, 1);
    b.submit("a.button[href='/call-logs']").await;
    assert_eq!(b.text("#result-count").await, "Showing 1–3 of 3 calls");

    // Filter to missed calls: the voicemail and the busy call, not the answered one.
    b.select("#status", "missed").await;
    b.submit("#apply-filters").await;
    assert!(
        b.path().await.contains("status=missed"),
        "{}",
        b.path().await
    );
    assert_eq!(b.text("#result-count").await, "Showing 1–2 of 2 calls");
    assert_eq!(b.count(&format!("#call-{answered}")).await, 0);
    assert_eq!(b.count(&format!("#call-{voicemail}")).await, 1);
    assert_eq!(b.count(&format!("#call-{missed}")).await, 1);
    b.screenshot("call-logs-missed").await;

    // The voicemail plays from our proxy, never from Twilio.
    let played = b
        .run_async(&format!(
            r#"const done = arguments[arguments.length - 1];
               const a = document.querySelector('#call-{voicemail} audio.voicemail');
               a.addEventListener('loadedmetadata', () => done({{src: a.currentSrc, duration: a.duration}}), {{once: true}});
               a.addEventListener('error', () => done({{src: a.currentSrc, error: a.error ? a.error.code : -1}}), {{once: true}});
               a.play().catch(() => {{}});"#
        ))
        .await;
    assert_eq!(
        played["src"],
        json!(format!("{}/api/twilio/voicemail/{voicemail}", w.t.base)),
        "{played}"
    );
    assert!(
        played["duration"].as_f64().is_some_and(|d| d > 1.0),
        "{played}"
    );

    // Export the current filter as CSV, with the browser's own session.
    let csv = b
        .run_async(
            r#"const done = arguments[arguments.length - 1];
               fetch(document.getElementById('export-csv').href).then(r => r.text()).then(done);"#,
        )
        .await;
    let csv = csv.as_str().expect("csv text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("Started,Caller,From"));
    assert!(
        csv.contains(&voicemail) && csv.contains(&missed) && !csv.contains(&answered),
        "{csv}"
    );

    // Delete with confirmation.
    b.click(&format!("#call-{missed} a.danger-link")).await;
    assert_eq!(b.text("h1").await, "Delete this call log?");
    b.screenshot("call-logs-delete").await;
    b.submit("#confirm-delete").await;
    assert!(b.text("main .alert.ok").await.contains("deleted"));
    assert_eq!(b.text("#result-count").await, "Showing 1–2 of 2 calls");
    assert_eq!(b.count(&format!("#call-{missed}")).await, 0);

    // Settings: errors next to the field, what was typed kept; secrets masked.
    b.click("nav a[href='/settings']").await;
    // The appointment templates preview as they are typed.
    b.fill("#confirmationMessage", "See you {date}, {name}!")
        .await;
    assert_eq!(
        b.text("#confirmationMessage-preview .preview-text").await,
        "See you Wed, Dec 2, Jordan!"
    );
    b.fill("#confirmationMessage", "Hi {first_name}").await;
    assert!(
        b.text("#confirmationMessage-preview .preview-text")
            .await
            .contains("not a placeholder")
    );
    b.fill("#confirmationMessage", "").await;
    b.screenshot("settings").await;
    b.fill("#forwardNumber", "not a phone").await;
    b.fill("#menuMessage", "Thanks for calling Bright Smiles.")
        .await;
    b.submit("#save-settings").await;
    assert!(
        b.text("#forwardNumber-error")
            .await
            .contains("not a valid phone number")
    );
    let invalid = b
        .client
        .find(Locator::Css("#forwardNumber"))
        .await
        .expect("field")
        .attr("aria-invalid")
        .await
        .expect("attr");
    assert_eq!(invalid.as_deref(), Some("true"));
    assert_eq!(
        b.text("#menuMessage").await,
        "Thanks for calling Bright Smiles."
    );
    b.screenshot("settings-errors").await;
    b.fill("#forwardNumber", "(555) 765-4321").await;
    b.fill("#accountSid", &w.account.sid).await;
    b.fill("#authToken", &w.account.auth_token).await;
    b.submit("#save-settings").await;
    assert_eq!(b.text("main .alert.ok").await, "Settings saved.");
    let page = b.client.source().await.expect("source");
    assert!(
        !page.contains(&w.account.auth_token),
        "the token never comes back"
    );
    assert!(!page.contains(&w.account.sid), "the sid is shown masked");
    assert!(
        b.text("#credentials-status")
            .await
            .contains("auth token saved")
    );
    b.submit("#test-credentials").await;
    let result = b.text("#credentials-result").await;
    assert!(
        result.starts_with("Connected to Twilio account AC…"),
        "{result}"
    );
    b.screenshot("settings-test-credentials").await;

    // Deleting a contact asks first.
    b.click("nav a[href='/contacts']").await;
    b.click("#contacts a").await;
    b.click("#delete-contact").await;
    b.client.accept_alert().await.expect("a confirmation");
    assert_eq!(b.text("main .alert.ok").await, "Contact deleted.");
    assert_eq!(b.count("#contacts").await, 0);

    b.logout().await;
    b.open("/dashboard").await;
    assert!(b.path().await.starts_with("/login"), "signed out");
    b.close().await;
    w.t.stop().await;
}

#[tokio::test]
async fn admin_creates_a_tenant_and_connects_a_number() {
    let w = call_world_with(false).await;
    let spare = "+15551239999";
    w.sim
        .add_number(&w.account.sid, spare, "Spring mailer")
        .expect("number");
    // The number already points at us (an earlier tenant's), so its calls are unrouted.
    w.sim.set_number_webhooks(
        &w.account.sid,
        spare,
        &w.t.url("/api/twilio/voice/incoming"),
        Some(&w.t.url("/api/twilio/voice/status-callback")),
        None,
    );
    w.play(&Scenario::new("+15550004444", spare)).await;
    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login(crate::common::ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(b.path().await, "/admin/tenants");
    b.screenshot("admin-tenants").await;

    // A blank name is refused next to the field.
    b.fill("#name", "   ").await;
    b.submit("#create-tenant").await;
    assert_eq!(b.text("#name-error").await, "This is required.");
    b.screenshot("admin-tenants-error").await;
    b.fill("#name", "Rapid Rooter Plumbing").await;
    b.fill("#timezone", "America/Chicago").await;
    b.submit("#create-tenant").await;
    assert!(b.path().await.starts_with("/admin/tenants/ten_"));
    assert_eq!(b.text("h1").await, "Rapid Rooter Plumbing");
    let tenant_id = b.path().await["/admin/tenants/".len()..]
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    b.screenshot("admin-tenant").await;

    // Its owner.
    b.click("nav a[href='/admin/users']").await;
    b.fill("#email", "owner@rapidrooter.test").await;
    b.fill("#password", "short").await;
    b.select("#tenantId", &tenant_id).await;
    b.submit("#create-user").await;
    assert!(b.text("#password-error").await.contains("at least 8"));
    b.fill("#password", PASSWORD).await;
    b.submit("#create-user").await;
    assert_eq!(b.text("main .alert.ok").await, "User created.");
    b.screenshot("admin-users").await;

    // Connect the spare number; the one another tenant owns is refused.
    b.click("nav a[href='/admin/numbers']").await;
    assert!(
        b.text(&format!("tr[data-number='{spare}']"))
            .await
            .contains("not connected")
    );
    b.screenshot("admin-numbers").await;
    b.fill("#phoneNumber", TRACKING).await;
    b.select("#clinicId", &tenant_id).await;
    b.submit("#connect").await;
    assert!(
        b.text("#numbers-error")
            .await
            .contains("belongs to another tenant")
    );
    b.fill("#phoneNumber", spare).await;
    b.select("#clinicId", &tenant_id).await;
    b.fill("#forwardNumber", "555-888-0000").await;
    b.fill("#friendlyName", "Spring mailer").await;
    b.submit("#connect").await;
    assert!(b.text("main .alert.ok").await.contains("connected"));
    let row = b.text(&format!("tr[data-number='{spare}']")).await;
    assert!(
        row.contains("Rapid Rooter Plumbing") && row.contains("Switchboard"),
        "{row}"
    );
    let on_twilio = w.sim.number(spare).expect("number on the simulator");
    assert_eq!(
        on_twilio.voice_url.as_deref(),
        Some(format!("{}/api/twilio/voice/incoming", w.t.base).as_str())
    );
    b.screenshot("admin-numbers-connected").await;

    // Disconnecting asks first.
    b.click(&format!("tr[data-number='{spare}'] button.disconnect"))
        .await;
    let question = b.client.get_alert_text().await.expect("a confirmation");
    assert!(question.contains(spare), "{question}");
    b.client.dismiss_alert().await.expect("dismiss");
    assert!(
        b.text(&format!("tr[data-number='{spare}']"))
            .await
            .contains("Rapid Rooter")
    );

    // Calls to it now reach the new tenant, whose owner sees them.
    let call = w.play(&Scenario::new("+15550005555", spare)).await.call_sid;
    let owner = w.t.login("owner@rapidrooter.test", PASSWORD).await;
    let (status, body) =
        w.t.get(&format!("/api/twilio/call-logs/{call}"), &owner)
            .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["customerId"], json!(tenant_id));

    // The earlier call is listed as unrouted; health answers.
    b.click("nav a[href='/admin/unrouted']").await;
    assert!(b.text("main table").await.contains(spare));
    b.screenshot("admin-unrouted").await;
    b.click("nav a[href='/admin/health']").await;
    assert!(
        b.text("tr[data-check='twilio']").await.contains("Healthy"),
        "the platform's account answers"
    );
    assert!(
        b.text("tr[data-check='database']")
            .await
            .contains("Healthy")
    );
    b.screenshot("admin-health").await;
    // The job queue's page, audited like every other.
    b.click("nav a[href='/admin/jobs']").await;
    assert!(b.text("main h1").await.contains("Jobs"));
    b.screenshot("admin-jobs").await;

    // Now disconnect it for real: its calls are unrouted again.
    b.click("nav a[href='/admin/numbers']").await;
    b.click(&format!("tr[data-number='{spare}'] button.disconnect"))
        .await;
    b.client.accept_alert().await.expect("accept");
    assert!(b.text("main .alert.ok").await.contains("disconnected"));
    assert!(
        b.text(&format!("tr[data-number='{spare}']"))
            .await
            .contains("not connected")
    );

    // Buy a number for a tenant from a search, then release it (asked first).
    b.fill("#areaCode", "555").await;
    b.fill("#contains", "1007").await;
    b.submit("#search").await;
    let offered = b.text("#offers tbody tr td strong").await;
    assert!(offered.contains("1007"), "{offered}");
    b.screenshot("admin-numbers-search").await;
    b.submit("#offers form.buy button").await;
    assert!(b.text("main .alert.ok").await.contains("bought"));
    let bought_row = b.text(&format!("tr[data-number='{offered}']")).await;
    assert!(bought_row.contains("Switchboard"), "{bought_row}");
    b.click(&format!("tr[data-number='{offered}'] button.release"))
        .await;
    b.client.accept_alert().await.expect("accept");
    assert!(b.text("main .alert.ok").await.contains("released"));
    assert_eq!(b.count(&format!("tr[data-number='{offered}']")).await, 0);

    // An admin has no tenant pages.
    b.open("/call-logs").await;
    assert_eq!(b.text("h1").await, "Not available to your account");
    b.close().await;
    w.t.stop().await;
}

#[tokio::test]
async fn staff_see_only_the_pages_they_were_given() {
    let (w, answered, ..) = world_with_calls().await;
    w.t.user(
        &w.admin,
        "desk@brightsmiles.test",
        "receptionist",
        &w.tenant,
        &["dashboard"],
    )
    .await;
    w.t.user(
        &w.admin,
        "calls@brightsmiles.test",
        "receptionist",
        &w.tenant,
        &["call-logs"],
    )
    .await;
    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login("desk@brightsmiles.test", PASSWORD).await;
    assert_eq!(b.path().await, "/dashboard");
    let nav = b.text("header nav").await;
    assert!(
        !nav.contains("Call logs") && !nav.contains("Settings"),
        "{nav}"
    );
    assert_eq!(
        b.count("#card-calls").await,
        0,
        "no call figures without call logs"
    );
    b.screenshot("receptionist-dashboard").await;
    b.open("/call-logs").await;
    assert_eq!(b.text("h1").await, "Not available to your account");
    assert!(!b.client.source().await.expect("source").contains(&answered));
    assert!(
        b.text("header nav").await.contains("Dashboard"),
        "the way back is there"
    );
    b.screenshot("receptionist-refused").await;
    b.open("/call-logs/export.csv").await;
    assert!(!b.client.source().await.expect("source").contains(&answered));
    b.open("/settings").await;
    assert_eq!(b.text("h1").await, "Not available to your account");
    b.logout().await;

    // Staff with call logs only land there, and cannot delete.
    b.login("calls@brightsmiles.test", PASSWORD).await;
    assert_eq!(b.path().await, "/call-logs");
    assert_eq!(b.count("a.danger-link").await, 0);
    b.screenshot("receptionist-call-logs").await;
    b.close().await;
    w.t.stop().await;
}

#[tokio::test]
async fn another_tenants_customer_never_sees_these_calls() {
    let (w, answered, voicemail, _) = world_with_calls().await;
    let other = w.t.tenant(&w.admin, "Rapid Rooter Plumbing").await;
    w.t.user(&w.admin, "owner@rapidrooter.test", "customer", &other, &[])
        .await;
    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login("owner@rapidrooter.test", PASSWORD).await;
    assert_eq!(b.text("#card-calls .value").await, "0");
    assert_eq!(
        b.text("table.figures tbody tr:first-child td[data-label=Calls]")
            .await,
        "0"
    );
    b.screenshot("other-tenant-dashboard").await;
    b.open("/call-logs").await;
    assert_eq!(b.text("#result-count").await, "No calls match.");
    let page = b.client.source().await.expect("source");
    assert!(!page.contains(&answered) && !page.contains("Jane Doe"));
    b.screenshot("other-tenant-call-logs").await;

    // Their ids lead nowhere: the delete page, the audio, the export.
    b.open(&format!("/call-logs/{answered}/delete")).await;
    assert_eq!(b.text("h1").await, "Not found");
    let fetched = b
        .run_async(&format!(
            r#"const done = arguments[arguments.length - 1];
               Promise.all([
                 fetch('/api/twilio/voicemail/{voicemail}').then(r => r.status),
                 fetch('/call-logs/{answered}/delete', {{method: 'POST'}}).then(r => r.status),
                 fetch('/call-logs/export.csv').then(r => r.text()),
               ]).then(done);"#
        ))
        .await;
    assert_eq!(fetched[0], json!(404), "{fetched}");
    assert_eq!(fetched[1], json!(404), "{fetched}");
    assert_eq!(
        fetched[2].as_str().map(|c| c.lines().count()),
        Some(1),
        "{fetched}"
    );
    // The first tenant's call is still there.
    let (status, _) =
        w.t.get(&format!("/api/twilio/call-logs/{answered}"), &w.owner)
            .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    b.close().await;
    w.t.stop().await;
}

impl Browser {
    /// Waits (up to `secs`) for a script's answer to be a non-empty string, and returns it.
    async fn wait_for(&self, script: &str, secs: u64) -> String {
        for _ in 0..secs * 10 {
            let value = self.client.execute(script, vec![]).await.expect("script");
            if let Some(s) = value.as_str().filter(|s| !s.is_empty()) {
                return s.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("waited {secs} s for `{script}` on {}", self.path().await);
    }
}

#[tokio::test]
async fn staff_call_customers_from_the_calls_page() {
    let sim = twilio_sim::Simulator::start().await.expect("simulator");
    let account = sim.create_account("Platform");
    let (key, secret) = sim.create_api_key(&account.sid).expect("key");
    let app = format!("AP{}", "5".repeat(32));
    let w = crate::calls::call_world_on(
        sim,
        account,
        false,
        &[
            ("TWILIO_API_KEY_SID", key.as_str()),
            ("TWILIO_API_KEY_SECRET", secret.as_str()),
            ("TWILIO_TWIML_APP_SID", app.as_str()),
        ],
    )
    .await;
    w.play(&Scenario::new("+15550001111", TRACKING)).await;
    let customer = "+15557654321";
    let (status, contact) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jordan Lee", "phone": customer}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{contact}");
    w.sim.set_phone(customer, Staff::Answers { after_secs: 2 });
    let (_, me) = w.t.get("/api/auth/me", &w.owner).await;
    let owner_id = me["id"].as_str().expect("id").to_owned();

    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login("owner@brightsmiles.test", PASSWORD).await;
    // Every contact has a call button; it opens the dialer with the number.
    b.open("/contacts").await;
    b.submit("a.call-contact").await;
    assert_eq!(b.path().await, "/calls?to=%2B15557654321");
    assert!(b.text("header nav").await.contains("Calls"));

    // The vendored SDK loads, the page fetches a token and builds the Device; there is
    // no Twilio here, so instead of hanging it says Twilio is unreachable.
    let device = b
        .wait_for(
            "const d = document.getElementById('softphone').dataset.device;
             return d === 'unreachable' || d === 'registered' ? d : '';",
            20,
        )
        .await;
    assert_eq!(device, "unreachable");
    let sdk = b
        .client
        .execute(
            "return typeof (window.Twilio && window.Twilio.Device);",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(sdk, json!("function"), "the SDK is served by us and loaded");
    let identity = b
        .wait_for(
            "return document.getElementById('softphone').dataset.identity || '';",
            5,
        )
        .await;
    assert_eq!(identity, owner_id, "the token is the signed-in user's");
    assert_eq!(
        b.client
            .execute(
                "return document.getElementById('call-state').dataset.state;",
                vec![]
            )
            .await
            .expect("state"),
        json!("error")
    );
    assert!(b.text("#call-state-text").await.contains("unreachable"));
    b.screenshot("calls-unreachable").await;

    // "Ring my phone" needs the staff member's own phone.
    let disabled = b
        .client
        .execute(
            "return document.getElementById('call-phone').disabled;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(disabled, json!(true));
    b.fill("#phone", "(555) 010-2000").await;
    b.submit("#my-phone button[type=submit]").await;
    assert!(b.text("#notice").await.contains("saved"));

    // Click-to-call through the simulator: the staff phone rings, then the customer.
    b.fill("#to", "(555) 765-4321").await;
    b.click("#call-phone").await;
    let placed = b
        .wait_for(
            "return document.getElementById('softphone').dataset.ended || '';",
            30,
        )
        .await;
    assert!(placed.starts_with("CA"), "{placed}");
    let ended = b.text("#call-state-text").await;
    assert!(ended.contains("answered"), "{ended}");
    let report = w
        .sim
        .wait_outbound(&placed, Duration::from_secs(10))
        .await
        .expect("the call at Twilio");
    assert_eq!(report.dialed, vec![customer.to_owned()]);
    b.screenshot("calls-after-click-to-call").await;

    // The history: all, inbound, outbound; who placed it, and a call-back button.
    b.open("/calls").await;
    assert_eq!(b.count("#history tbody tr").await, 2);
    b.submit("nav.tabs a[href='/calls?direction=outbound']")
        .await;
    assert_eq!(b.count("#history tbody tr").await, 1);
    let row = b.text("#history tbody tr").await;
    assert!(row.contains("Jordan Lee"), "{row}");
    assert!(row.contains("owner@brightsmiles.test"), "{row}");
    assert!(row.contains("Answered"), "{row}");
    assert_eq!(
        b.count(&format!(
            "#history tr[data-call-sid='{placed}'] a.call-back"
        ))
        .await,
        1
    );
    b.submit("nav.tabs a[href='/calls?direction=inbound']")
        .await;
    assert_eq!(
        b.count("#history tbody tr[data-direction='inbound']").await,
        1
    );
    assert_eq!(
        b.count("#history tbody tr[data-direction='outbound']")
            .await,
        0
    );
    b.screenshot("calls-inbound").await;
    b.close().await;
    w.t.stop().await;
}

#[tokio::test]
async fn the_receptionists_calls_and_settings_read_well() {
    use crate::receptionist::{knowledge_base, receptionist_world, saying};
    let w = receptionist_world(knowledge_base()).await;
    let booked = w
        .play(&saying(&[
            "I'd like to book a cleaning",
            "tomorrow at ten in the morning",
            "my name is Jane Doe",
            "yes",
            "no thanks",
        ]))
        .await;
    w.play(&saying(&["can I talk to a real person"])).await;
    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login("owner@brightsmiles.test", PASSWORD).await;
    assert_eq!(b.text("#ai-booked").await, "1");
    assert_eq!(b.text("#ai-handed-off").await, "1");
    b.client
        .execute(
            "document.getElementById('receptionist-figures').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("receptionist-dashboard-figures").await;

    b.open("/call-logs").await;
    let row = format!("#notes-{} details", booked.call_sid);
    b.click(&format!("{row} summary")).await;
    let chat = b.text(&format!("{row} .chat")).await;
    assert!(chat.contains("tomorrow at ten in the morning"), "{chat}");
    assert!(chat.contains("appointment request taken"), "{chat}");
    b.client
        .execute(
            &format!("document.querySelector('{row}').scrollIntoView();"),
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("call-logs-receptionist-conversation").await;

    b.open("/settings").await;
    b.fill("#ask", "do you take aetna").await;
    b.submit("#try-receptionist button[type=submit]").await;
    assert!(
        b.text("#try-answer")
            .await
            .starts_with("We take Delta Dental"),
        "the try-it box answers from the saved knowledge base"
    );
    b.screenshot("settings-try-receptionist").await;
    b.client
        .execute(
            "document.getElementById('receptionist').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("settings-receptionist").await;
    b.close().await;
    w.t.stop().await;
}

#[tokio::test]
async fn an_owner_forgets_a_caller_sets_retention_and_reads_the_activity_log() {
    let (w, answered, _, _) = world_with_calls().await;
    let (status, body) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jane Doe", "phone": "+15550001111"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let contact = body["id"].as_str().expect("contact").to_owned();
    let Some(b) = browser(&w.t.base).await else {
        return;
    };
    b.login("owner@brightsmiles.test", PASSWORD).await;

    // Retention in Settings: a bad value is refused at the field, a good one kept.
    b.open("/settings").await;
    b.fill("#retentionDays", "0").await;
    b.submit("#save-settings").await;
    assert!(
        b.text("#retentionDays-error").await.contains("1 to 3650"),
        "{}",
        b.text("main").await
    );
    b.fill("#retentionDays", "90").await;
    b.submit("#save-settings").await;
    assert!(b.text("main").await.contains("Settings saved."));
    let value = b
        .client
        .find(Locator::Css("#retentionDays"))
        .await
        .expect("field")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(value.as_deref(), Some("90"));

    // Forgetting asks for the number again.
    b.open(&format!("/contacts/{contact}")).await;
    b.screenshot("contact-forget").await;
    b.fill("#confirm", "+15550009999").await;
    b.submit("#forget-caller button").await;
    assert!(
        b.text("#confirm-error")
            .await
            .contains("Repeat the phone number"),
        "{}",
        b.text("main").await
    );
    b.fill("#confirm", "555-000-1111").await;
    b.submit("#forget-caller button").await;
    assert_eq!(b.path().await, "/contacts?forgotten=1");
    assert!(b.text("main").await.contains("Caller forgotten"));
    // The recording goes once the job has deleted it at Twilio.
    let mut erased = serde_json::Value::Null;
    for _ in 0..100 {
        erased = w.log(&answered).await;
        if erased["mediaErasedAt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(erased["recordingUrl"].is_null(), "{erased}");

    // The activity log says what happened, and who did it.
    b.open("/settings").await;
    b.submit("a[href='/activity']").await;
    let log = b.text("#audit-entries").await;
    for action in ["caller.forget", "settings.update", "login", "media.erase"] {
        assert!(log.contains(action), "{action} missing: {log}");
    }
    assert!(log.contains("owner@brightsmiles.test"));
    b.fill("#audit-action", "caller").await;
    b.submit("form[action='/activity'] button").await;
    let filtered = b.text("#audit-entries").await;
    assert!(
        filtered.contains("caller.forget") && !filtered.contains("settings.update"),
        "{filtered}"
    );
    b.screenshot("activity").await;
    b.logout().await;

    // The admin's audit log covers every account, with their names.
    b.login(crate::common::ADMIN_EMAIL, PASSWORD).await;
    b.open("/admin/audit").await;
    let all = b.text("#audit-entries").await;
    assert!(
        all.contains("tenant.create") && all.contains("Bright Smiles Dental"),
        "{all}"
    );
    b.select("#audit-tenant", &w.tenant).await;
    b.submit("form[action='/admin/audit'] button").await;
    // Only that account's entries: none of the platform's own (the admin's sign-in).
    let one = b.text("#audit-entries").await;
    assert!(one.contains("tenant.create") && !one.contains("—"), "{one}");
    b.screenshot("admin-audit").await;
    b.close().await;
    w.t.stop().await;
}
