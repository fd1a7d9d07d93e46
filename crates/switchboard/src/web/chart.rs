//! The calls-per-day chart: stacked bars (answered, voicemail, missed without one)
//! drawn as SVG by hand, so it needs no fonts, no JavaScript and no chart crate.

use std::fmt::Write as _;

use crate::calls::DayStats;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// A "nice" top of the scale at or above `max` (1, 2, 5 × 10ⁿ), so the grid lines
/// land on round numbers.
fn nice_ceiling(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step *= 10;
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG for `days` (oldest first, one entry per day, zeros included).
pub fn calls_per_day(days: &[DayStats]) -> String {
    let total: i64 = days.iter().map(|d| d.total).sum();
    let top = nice_ceiling(days.iter().map(|d| d.total).max().unwrap_or(0));
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = if days.is_empty() {
        0.0
    } else {
        (WIDTH - LEFT) / days.len() as f64
    };
    let bar_w = (slot * 0.7).max(1.0);
    let y_of = |v: i64| TOP + plot_h - (v as f64 / top as f64) * plot_h;

    let label = format!(
        "Calls per day over the last {} days: {total} calls in all",
        days.len()
    );
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"#,
        escape(&label)
    );
    // Grid: zero, the middle when it is a whole number, and the top of the scale.
    let ticks = if top % 2 == 0 {
        vec![0, top / 2, top]
    } else {
        vec![0, top]
    };
    for v in ticks {
        let y = y_of(v);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{v}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let missed_only = (d.missed - d.voicemails).max(0);
        let mut base = 0;
        for (class, value) in [
            ("answered", d.answered),
            ("voicemail", d.voicemails),
            ("missed", missed_only),
        ] {
            if value == 0 {
                continue;
            }
            let y_top = y_of(base + value);
            let h = y_of(base) - y_top;
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x:.1}" y="{y_top:.1}" width="{bar_w:.1}" height="{h:.1}"><title>{}: {value} {class}</title></rect>"#,
                escape(&d.date)
            );
            base += value;
        }
        // A date under the first bar and then every seventh.
        if i % 7 == 0 || i + 1 == days.len() && days.len() < 8 {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                HEIGHT - 6.0,
                escape(d.date.get(5..).unwrap_or(&d.date))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, answered: i64, voicemails: i64, missed: i64) -> DayStats {
        DayStats {
            date: date.into(),
            total: answered + missed,
            answered,
            missed,
            voicemails,
        }
    }

    #[test]
    fn scale_tops_are_round() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(480), 500);
    }

    #[test]
    fn stacked_bars_snapshot() {
        let days = vec![
            day("2026-11-20", 3, 1, 2),
            day("2026-11-21", 0, 0, 0),
            day("2026-11-22", 5, 0, 1),
        ];
        insta::assert_snapshot!(calls_per_day(&days));
    }

    #[test]
    fn bars_never_exceed_the_plot() {
        let days: Vec<DayStats> = (0..30)
            .map(|i| day(&format!("2026-11-{:02}", i % 28 + 1), i, i / 3, i / 2))
            .collect();
        let svg = calls_per_day(&days);
        for part in svg.split("<rect ").skip(1) {
            let y: f64 = part
                .split("y=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .expect("y");
            assert!(y >= TOP - 0.05, "{y}");
        }
        assert!(svg.contains("role=\"img\""));
    }
}
