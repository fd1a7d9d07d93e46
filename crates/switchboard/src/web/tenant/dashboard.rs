//! The dashboard: unread counts, figures for today, 7 and 30 days, calls per day.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::calls::{self, CallFilter, DayStats, Scope, Stats};
use crate::numbers::PhoneNumber;
use crate::state::AppState;
use crate::web::{Chrome, PageResult, PageUser, chart, mmss};

use super::*;

pub(super) struct Figures {
    label: &'static str,
    stats: Stats,
}

impl Figures {
    /// Average talk time as `m:ss`.
    fn avg_talk(&self) -> String {
        mmss(self.stats.avg_duration.round() as i64)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub(super) struct DashboardPage {
    chrome: Chrome,
    unread_calls: i64,
    unread_voicemails: i64,
    unread_messages: i64,
    show_calls: bool,
    show_messages: bool,
    figures: Vec<Figures>,
    chart: String,
    booked_30: i64,
    /// What the AI receptionist did in the last 30 days (shown once it answered a call).
    receptionist: Option<calls::ReceptionistStats>,
    recent: Vec<CallRow>,
    numbers: Vec<PhoneNumber>,
}

pub(super) fn days_ago(today: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    today
        .checked_sub(jiff::Span::new().days(n))
        .unwrap_or(today)
}

/// One entry per day from `first` to `last`, zeros where nothing happened.
pub(super) fn fill_days(
    by_day: &[DayStats],
    first: jiff::civil::Date,
    last: jiff::civil::Date,
) -> Vec<DayStats> {
    let mut out = Vec::new();
    let mut d = first;
    while d <= last {
        let date = d.to_string();
        out.push(
            by_day
                .iter()
                .find(|s| s.date == date)
                .cloned()
                .unwrap_or(DayStats {
                    date,
                    total: 0,
                    answered: 0,
                    missed: 0,
                    voicemails: 0,
                }),
        );
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    out
}

pub(super) async fn dashboard(State(state): State<AppState>, user: PageUser) -> PageResult {
    let tenant = user.tenant_for(&state, "dashboard").await?;
    let chrome = Chrome::for_user(&state, &user, "Dashboard", "/dashboard").await?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let names: Vec<(String, Option<String>)> = numbers
        .iter()
        .map(|n| (n.phone_number.clone(), n.friendly_name.clone()))
        .collect();
    let scope = Scope::One(tenant.clone());
    let mut figures = Vec::new();
    for (label, days) in [("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)] {
        let filter = CallFilter {
            start_date: Some(days_ago(today, days - 1).to_string()),
            ..CallFilter::default()
        };
        let stats = calls::stats(&state.db, &scope, &filter, &tz, &names).await?;
        figures.push(Figures { label, stats });
    }
    let month = &figures[2].stats;
    let chart = chart::calls_per_day(&fill_days(&month.by_day, days_ago(today, 29), today));
    let booked_30 = month.appointments_booked;
    let month_start = days_ago(today, 29)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    let receptionist =
        calls::receptionist_stats(&state.db, &tenant, month_start, crate::db::now_ms() + 1).await?;
    let receptionist =
        (receptionist != calls::ReceptionistStats::default()).then_some(receptionist);

    let u = &user.0.user;
    let counts = chrome.unread.clone();
    let show_calls = u.may_open("call-logs");
    let recent = if show_calls {
        let filter = CallFilter {
            limit: Some(5),
            ..CallFilter::default()
        };
        let (logs, ..) = calls::list(&state.db, &scope, &filter, &tz).await?;
        let contacts = contact_names(&state, &tenant, &logs).await?;
        logs.into_iter()
            .map(|c| CallRow::new(c, &tz, &numbers, &contacts))
            .collect()
    } else {
        Vec::new()
    };
    Ok(DashboardPage {
        chrome,
        unread_calls: if show_calls { counts.call_logs } else { 0 },
        unread_voicemails: if show_calls { counts.voicemails } else { 0 },
        unread_messages: if u.may_open("messages") {
            counts.messages
        } else {
            0
        },
        show_messages: u.may_open("messages"),
        show_calls,
        figures,
        chart,
        booked_30,
        receptionist,
        recent,
        numbers,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::DayStats;

    #[test]
    fn days_are_filled_in() {
        let first: jiff::civil::Date = "2026-11-01".parse().expect("date");
        let last: jiff::civil::Date = "2026-11-03".parse().expect("date");
        let filled = fill_days(
            &[DayStats {
                date: "2026-11-02".into(),
                total: 4,
                answered: 3,
                missed: 1,
                voicemails: 1,
            }],
            first,
            last,
        );
        let totals: Vec<i64> = filled.iter().map(|d| d.total).collect();
        assert_eq!(totals, vec![0, 4, 0]);
    }
}
