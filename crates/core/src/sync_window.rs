//! `spec.syncWindows`: whether a periodic refresh may happen now, with ESO's semantics, and when to look again
//! while it may not.
//!
//! Each window opens at a firing of its schedule (5-field cron in UTC, a descriptor such as `@daily`, or
//! `@every <duration>`) and stays open for `duration`. ESO asks its cron library for the first firing strictly
//! after `at − duration − 1s`; the window is active when that firing is not after `at` and `at` is not after
//! firing + `duration`. `deny` blocks periodic refreshes while any window is active; `allow` permits them only
//! then. A window whose schedule or duration does not parse is inactive (ESO ignores it too, so that a typo does
//! not block syncs forever). Only periodic refreshes are gated: a spec change or a missing target still syncs.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use external_secrets_api::{ExternalSecretSyncWindowEntry, ExternalSecretSyncWindowKind, ExternalSecretSyncWindows};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use crate::duration::parse_go_duration;

/// Whether periodic refreshes are allowed at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncWindow {
    /// No window, or the windows allow a periodic refresh now.
    Open,
    /// The windows block periodic refreshes now; they may allow one after `reopens_after` (`None`: no window
    /// will change that, as far as the schedules tell).
    Closed { reopens_after: Option<Duration> },
}

/// A schedule: cron (with descriptors), or `@every` (robfig's constant delay, whole seconds, at least 1 s).
enum Schedule {
    Cron(Box<Cron>),
    Every(SignedDuration),
}

impl Schedule {
    fn parse(text: &str) -> Option<Schedule> {
        let text = text.trim();
        if let Some(every) = text.strip_prefix("@every ") {
            let delay = parse_go_duration(every.trim()).ok()?.to_std()?;
            let seconds = i64::try_from(delay.as_secs()).ok()?.max(1);
            return Some(Schedule::Every(SignedDuration::from_secs(seconds)));
        }
        let text = if text.eq_ignore_ascii_case("@midnight") { "@daily" } else { text };
        let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
        parser.parse(text).ok().map(|cron| Schedule::Cron(Box::new(cron)))
    }

    /// The first firing strictly after `t` (robfig's `Next`).
    fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(delay) => {
                // robfig: t + delay, with t's sub-second part dropped.
                let whole = Timestamp::from_second(t.as_second()).ok()?;
                whole.checked_add(*delay).ok()
            }
            Schedule::Cron(cron) => {
                let zoned = Zoned::new(t, TimeZone::UTC);
                cron.find_next_occurrence(&zoned, false).ok().map(|z| z.timestamp())
            }
        }
    }
}

/// One window, parsed.
struct Window {
    schedule: Schedule,
    duration: SignedDuration,
}

impl Window {
    fn parse(entry: &ExternalSecretSyncWindowEntry) -> Option<Window> {
        let duration = parse_go_duration(&entry.duration).ok()?.to_std()?;
        Some(Window { schedule: Schedule::parse(&entry.schedule)?, duration: SignedDuration::try_from(duration).ok()? })
    }

    /// The firing whose window contains `at`, if any.
    fn active_since(&self, at: Timestamp) -> Option<Timestamp> {
        let from = at.checked_sub(self.duration).ok()?.checked_sub(SignedDuration::from_secs(1)).ok()?;
        let opened = self.schedule.next_after(from)?;
        let closes = opened.checked_add(self.duration).ok()?;
        (opened <= at && at <= closes).then_some(opened)
    }
}

fn until(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// Whether `windows` allow a periodic refresh at `at`, and if not, when that may change.
pub fn evaluate(windows: Option<&ExternalSecretSyncWindows>, at: Timestamp) -> SyncWindow {
    let Some(windows) = windows.filter(|w| !w.windows.is_empty()) else { return SyncWindow::Open };
    let parsed: Vec<Window> = windows.windows.iter().filter_map(Window::parse).collect();
    let active: Vec<(&Window, Timestamp)> =
        parsed.iter().filter_map(|w| w.active_since(at).map(|opened| (w, opened))).collect();
    match windows.kind {
        ExternalSecretSyncWindowKind::Deny if active.is_empty() => SyncWindow::Open,
        ExternalSecretSyncWindowKind::Deny => {
            // Open again once every active window has closed (a second after, to be past its last instant).
            let closes = active.iter().filter_map(|(w, opened)| opened.checked_add(w.duration).ok()).max();
            SyncWindow::Closed { reopens_after: closes.map(|c| until(at, c) + Duration::from_secs(1)) }
        }
        ExternalSecretSyncWindowKind::Allow if !active.is_empty() => SyncWindow::Open,
        ExternalSecretSyncWindowKind::Allow => {
            let opens = parsed.iter().filter_map(|w| w.schedule.next_after(at)).min();
            SyncWindow::Closed { reopens_after: opens.map(|o| until(at, o)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(kind: ExternalSecretSyncWindowKind, entries: &[(&str, &str)]) -> ExternalSecretSyncWindows {
        ExternalSecretSyncWindows {
            kind,
            windows: entries
                .iter()
                .map(|(schedule, duration)| ExternalSecretSyncWindowEntry {
                    schedule: (*schedule).to_owned(),
                    duration: (*duration).to_owned(),
                })
                .collect(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn no_windows_are_always_open() {
        assert_eq!(evaluate(None, at("2026-01-05T12:00:00Z")), SyncWindow::Open);
    }

    #[test]
    fn a_deny_window_blocks_from_its_start_until_its_end_inclusive() {
        // Every weekday at 22:00 UTC for 8 hours; 2026-01-05 is a Monday.
        let deny = windows(ExternalSecretSyncWindowKind::Deny, &[("0 22 * * 1-5", "8h")]);
        assert_eq!(evaluate(Some(&deny), at("2026-01-05T21:59:59Z")), SyncWindow::Open);
        assert_eq!(
            evaluate(Some(&deny), at("2026-01-05T22:00:00Z")),
            SyncWindow::Closed { reopens_after: Some(Duration::from_secs(8 * 3600 + 1)) }
        );
        assert_eq!(
            evaluate(Some(&deny), at("2026-01-06T05:00:00Z")),
            SyncWindow::Closed { reopens_after: Some(Duration::from_secs(3601)) }
        );
        assert!(
            matches!(evaluate(Some(&deny), at("2026-01-06T06:00:00Z")), SyncWindow::Closed { .. }),
            "end inclusive"
        );
        assert_eq!(evaluate(Some(&deny), at("2026-01-06T06:00:01Z")), SyncWindow::Open);
        // Saturday 22:00 is not a firing.
        assert_eq!(evaluate(Some(&deny), at("2026-01-10T23:00:00Z")), SyncWindow::Open);
    }

    #[test]
    fn an_allow_window_opens_only_while_active_and_says_when_the_next_one_starts() {
        let allow = windows(ExternalSecretSyncWindowKind::Allow, &[("@daily", "1h")]);
        assert_eq!(evaluate(Some(&allow), at("2026-01-05T00:30:00Z")), SyncWindow::Open);
        assert_eq!(
            evaluate(Some(&allow), at("2026-01-05T12:00:00Z")),
            SyncWindow::Closed { reopens_after: Some(Duration::from_secs(12 * 3600)) }
        );
    }

    #[test]
    fn any_active_window_of_the_list_counts() {
        let allow = windows(ExternalSecretSyncWindowKind::Allow, &[("0 1 * * *", "1h"), ("0 13 * * *", "30m")]);
        assert_eq!(evaluate(Some(&allow), at("2026-01-05T13:10:00Z")), SyncWindow::Open);
        assert_eq!(
            evaluate(Some(&allow), at("2026-01-05T14:00:00Z")),
            SyncWindow::Closed { reopens_after: Some(Duration::from_secs(11 * 3600)) }
        );
    }

    #[test]
    fn every_follows_robfigs_constant_delay() {
        // ESO's check asks for the first firing after at − duration − 1s, which for @every is that instant plus the
        // delay: active exactly when the delay is at most duration + 1s.
        let short = windows(ExternalSecretSyncWindowKind::Deny, &[("@every 1m", "1m")]);
        assert!(matches!(evaluate(Some(&short), at("2026-01-05T12:00:00Z")), SyncWindow::Closed { .. }));
        let long = windows(ExternalSecretSyncWindowKind::Deny, &[("@every 1h", "10m")]);
        assert_eq!(evaluate(Some(&long), at("2026-01-05T12:00:00Z")), SyncWindow::Open);
    }

    #[test]
    fn unparseable_windows_are_inactive() {
        let deny = windows(ExternalSecretSyncWindowKind::Deny, &[("not a cron", "1h"), ("0 * * * *", "soon")]);
        assert_eq!(evaluate(Some(&deny), at("2026-01-05T12:00:00Z")), SyncWindow::Open);
        let allow = windows(ExternalSecretSyncWindowKind::Allow, &[("61 * * * *", "1h")]);
        assert_eq!(evaluate(Some(&allow), at("2026-01-05T12:00:00Z")), SyncWindow::Closed { reopens_after: None });
    }

    #[test]
    fn descriptors_and_names_parse_as_in_robfig_cron() {
        for schedule in
            ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "0 0 * JAN MON"]
        {
            assert!(Schedule::parse(schedule).is_some(), "{schedule}");
        }
        assert!(Schedule::parse("0 0 0 * * *").is_none(), "six fields (seconds) are not ESO's format");
    }
}
