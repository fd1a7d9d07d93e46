//! Days and times as callers say them — "tomorrow at nine", "next Tuesday at 10:30",
//! "Friday afternoon at two", "December 8th at noon" — read in the tenant's time zone.

use jiff::civil::{Date, DateTime, Time, Weekday};

use super::words::number_at;
use crate::intelligence::classifier::MONTHS;

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// What part of the day the caller named, when they did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    Morning,
    Afternoon,
}

/// A weekday named in the words ("saturday", "saturdays").
pub fn weekday_in(text: &str) -> Option<Weekday> {
    text.split(' ').find_map(|w| {
        let w = w.trim_end_matches('s');
        WEEKDAYS
            .iter()
            .find(|(name, _)| *name == w)
            .map(|(_, d)| *d)
    })
}

/// The day the caller means, relative to `today`.
pub fn day_in(text: &str, today: Date) -> Option<Date> {
    let words: Vec<&str> = text.split(' ').collect();
    if text.contains("day after tomorrow") {
        return today.checked_add(jiff::Span::new().days(2)).ok();
    }
    if words.contains(&"tomorrow") {
        return today.tomorrow().ok();
    }
    if words.contains(&"today") || words.contains(&"tonight") {
        return Some(today);
    }
    for (i, w) in words.iter().enumerate() {
        if let Some(m) = MONTHS.iter().position(|m| m == w) {
            // "december 8th" or "the 8th of december".
            let day = number_at(&words, i + 1).map(|(n, _)| n).or_else(|| {
                let back = if i >= 2 && words[i - 1] == "of" {
                    i - 2
                } else {
                    i.checked_sub(1)?
                };
                number_at(&words, back).map(|(n, _)| n)
            })?;
            let month = i8::try_from(m + 1).ok()?;
            let day = i8::try_from(day).ok()?;
            let this_year = Date::new(today.year(), month, day).ok()?;
            return if this_year >= today {
                Some(this_year)
            } else {
                Date::new(today.year() + 1, month, day).ok()
            };
        }
    }
    let wanted = weekday_in(text)?;
    let ahead = i64::from(
        (wanted.to_monday_zero_offset() - today.weekday().to_monday_zero_offset()).rem_euclid(7),
    );
    // "Tuesday" said on a Tuesday means next week's; so does "next Tuesday".
    let ahead = if ahead == 0 { 7 } else { ahead };
    today.checked_add(jiff::Span::new().days(ahead)).ok()
}

/// The time of day the caller means. An hour without am or pm is taken inside the usual
/// working day (7 to 11 in the morning, 12 to 6 in the afternoon).
pub fn time_in(text: &str) -> Option<Time> {
    let words: Vec<&str> = text.split(' ').collect();
    let half = if text.contains("morning") {
        Some(Half::Morning)
    } else if text.contains("afternoon") || text.contains("evening") || text.contains("tonight") {
        Some(Half::Afternoon)
    } else {
        None
    };
    if words.contains(&"noon") || words.contains(&"midday") {
        return Time::new(12, 0, 0, 0).ok();
    }
    for i in 0..words.len() {
        let w = words[i];
        let (hour, minute, used) = if let Some((h, m)) = w.split_once(':') {
            match (h.parse::<u32>(), m.parse::<u32>()) {
                (Ok(h), Ok(m)) => (h, m, 1),
                _ => continue,
            }
        } else {
            // A bare number counts as a time only beside "at", am/pm or o'clock, so
            // "the 8th" or "two people" is not read as a time.
            let Some((h, used)) = number_at(&words, i) else {
                continue;
            };
            if w.ends_with("th") || w.ends_with("st") || w.ends_with("nd") || w.ends_with("rd") {
                continue;
            }
            let (m, used) = match number_at(&words, i + used) {
                Some((m, more)) if (10..60).contains(&m) => (m, used + more),
                _ => (0, used),
            };
            (h, m, used)
        };
        let after: Vec<&str> = words.iter().skip(i + used).take(2).copied().collect();
        let meridiem = match after.first().copied() {
            Some("am") => Some(Half::Morning),
            Some("pm") => Some(Half::Afternoon),
            Some("a") if after.get(1) == Some(&"m") => Some(Half::Morning),
            Some("p") if after.get(1) == Some(&"m") => Some(Half::Afternoon),
            _ => None,
        };
        let anchored = meridiem.is_some()
            || w.contains(':')
            || after.first() == Some(&"oclock")
            || (i > 0 && matches!(words[i - 1], "at" | "around" | "about" | "by"))
            || half.is_some();
        if !anchored || !(1..=12).contains(&hour) && !(13..=23).contains(&hour) || minute > 59 {
            continue;
        }
        let hour = match (meridiem.or(half), hour) {
            (_, h) if h > 12 => h,
            (Some(Half::Morning), 12) => 0,
            (Some(Half::Morning), h) => h,
            (Some(Half::Afternoon), 12) => 12,
            (Some(Half::Afternoon), h) => h + 12,
            (None, h) if (7..=11).contains(&h) => h,
            (None, 12) => 12,
            (None, h) => h + 12,
        };
        return Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok();
    }
    None
}

/// A local date and time spoken as a receptionist would: "Tuesday, December 8 at 9 AM".
pub fn spoken(at: DateTime) -> String {
    let month = MONTHS
        .get(usize::try_from(at.month() - 1).unwrap_or(0))
        .copied()
        .unwrap_or_default();
    format!(
        "{}, {} {} at {}",
        weekday_name(at.weekday()),
        capitalised(month),
        at.day(),
        clock(at.time())
    )
}

/// "9 AM", "10:30 AM", "12 PM".
pub fn clock(t: Time) -> String {
    let (h, m) = (t.hour(), t.minute());
    let suffix = if h < 12 { "AM" } else { "PM" };
    let h12 = match h % 12 {
        0 => 12,
        h => h,
    };
    if m == 0 {
        format!("{h12} {suffix}")
    } else {
        format!("{h12}:{m:02} {suffix}")
    }
}

/// A day's name with its first letter in capitals.
pub fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The weekday's name ("Monday").
pub fn weekday_name(d: Weekday) -> String {
    capitalised(
        WEEKDAYS
            .iter()
            .find(|(_, w)| *w == d)
            .map(|(n, _)| *n)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::words::normalise;
    use super::*;

    fn today() -> Date {
        // A Tuesday.
        Date::new(2026, 12, 1).expect("date")
    }

    fn day(s: &str) -> Option<Date> {
        day_in(&normalise(s), today())
    }

    fn time(s: &str) -> Option<(i8, i8)> {
        time_in(&normalise(s)).map(|t| (t.hour(), t.minute()))
    }

    #[test]
    fn days() {
        assert_eq!(day("tomorrow at nine"), Date::new(2026, 12, 2).ok());
        assert_eq!(day("next Tuesday"), Date::new(2026, 12, 8).ok());
        assert_eq!(day("Friday please"), Date::new(2026, 12, 4).ok());
        assert_eq!(day("on Monday"), Date::new(2026, 12, 7).ok());
        assert_eq!(day("December 8th"), Date::new(2026, 12, 8).ok());
        assert_eq!(day("the 3rd of January"), Date::new(2027, 1, 3).ok());
        assert_eq!(day("the day after tomorrow"), Date::new(2026, 12, 3).ok());
        assert_eq!(day("whenever"), None);
    }

    #[test]
    fn times() {
        assert_eq!(time("tomorrow at nine"), Some((9, 0)));
        assert_eq!(time("at 9 a.m."), Some((9, 0)));
        assert_eq!(time("10:30"), Some((10, 30)));
        assert_eq!(time("at two in the afternoon"), Some((14, 0)));
        assert_eq!(time("at 2"), Some((14, 0)));
        assert_eq!(time("nine thirty in the morning"), Some((9, 30)));
        assert_eq!(time("at noon"), Some((12, 0)));
        assert_eq!(time("3 pm"), Some((15, 0)));
        assert_eq!(time("four o'clock"), Some((16, 0)));
        assert_eq!(time("December 8th"), None);
        assert_eq!(time("for two people"), None);
    }

    #[test]
    fn speaks_times() {
        let at = Date::new(2026, 12, 8)
            .expect("date")
            .to_datetime(Time::new(9, 0, 0, 0).expect("time"));
        assert_eq!(spoken(at), "Tuesday, December 8 at 9 AM");
        assert_eq!(clock(Time::new(14, 30, 0, 0).expect("t")), "2:30 PM");
        assert_eq!(clock(Time::new(12, 0, 0, 0).expect("t")), "12 PM");
    }
}
