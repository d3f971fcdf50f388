//! Routine automation, as a pure function: inside a maintenance window
//! (UTC), hosts over the disk threshold get the disk-cleanup action and
//! scheduled jobs (log rotation, database optimisation) run when their
//! period has passed; a disk over the emergency threshold is cleaned at
//! once, window or not. What already ran is read from the command history
//! (commands issued by `routine`), so a new leader repeats nothing.

use mevfleet_common::command::{CommandSpec, Target};
use mevfleet_common::wire::fleet::AgentView;

use crate::config::{RoutineConfig, RoutineJob};
use crate::state::CommandRecord;

/// The issuer name of routine commands.
pub const ROUTINE: &str = "routine";

const DAY_MS: u64 = 86_400_000;

/// How long a routine command may wait for an offline host.
const EXPIRY_MS: u64 = 3_600_000;

/// A window `HH:MM-HH:MM` (UTC) as minutes of the day; it may cross
/// midnight, and `24:00` ends a day.
pub fn parse_window(text: &str) -> Result<(u32, u32), String> {
    let minutes = |part: &str| -> Option<u32> {
        let (h, m) = part.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = text
        .split_once('-')
        .and_then(|(s, e)| Some((minutes(s)?, minutes(e)?)))
        .ok_or_else(|| {
            format!("`{text}` is not a window: expected HH:MM-HH:MM (UTC), e.g. 00:00-02:00")
        })?;
    if start == end {
        return Err(format!("`{text}` is an empty window"));
    }
    Ok((start, end))
}

/// Whether `now_ms` (Unix, UTC) falls inside a window.
pub fn in_window((start, end): (u32, u32), now_ms: u64) -> bool {
    let minute = ((now_ms % DAY_MS) / 60_000) as u32;
    if start < end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
    }
}

/// The last time `routine` issued `action` (to `host`, if given).
fn last_run(history: &[&CommandRecord], action: &str, host: Option<&str>) -> Option<u64> {
    history
        .iter()
        .filter(|c| c.issued_by == ROUTINE && c.spec.action == action)
        .filter(|c| host.is_none_or(|h| c.is_for(h)))
        .map(|c| c.issued_at_ms)
        .max()
}

fn spec(target: Target, action: &str) -> CommandSpec {
    CommandSpec {
        target,
        action: action.to_owned(),
        args: Vec::new(),
        timeout_ms: None,
        expires_in_ms: EXPIRY_MS,
    }
}

/// The routine commands due at `now_ms`. `windows` are parsed windows,
/// `disk_percent` the cleanup threshold.
pub fn due(
    config: &RoutineConfig,
    windows: &[(u32, u32)],
    disk_percent: u8,
    agents: &[AgentView],
    history: &[&CommandRecord],
    now_ms: u64,
) -> Vec<CommandSpec> {
    let open = windows.iter().any(|w| in_window(*w, now_ms));
    let mut due = Vec::new();
    for agent in agents.iter().filter(|a| a.connected) {
        let fullest = agent
            .host
            .as_ref()
            .and_then(|h| h.disks.iter().map(|d| d.used_percent).max())
            .unwrap_or(0);
        let emergency = fullest >= config.emergency_disk_percent;
        if !(emergency || (open && fullest >= disk_percent)) {
            continue;
        }
        // Once per host per window (or per hour in an emergency).
        let since = now_ms.saturating_sub(if emergency { EXPIRY_MS } else { DAY_MS / 2 });
        if last_run(history, &config.disk_action, Some(&agent.id)).is_some_and(|at| at >= since) {
            continue;
        }
        due.push(spec(
            Target::Agents(vec![agent.id.clone()]),
            &config.disk_action,
        ));
    }
    if open {
        for RoutineJob {
            action,
            every_h,
            target,
        } in &config.jobs
        {
            let period = every_h.saturating_mul(3_600_000);
            if last_run(history, action, None).is_some_and(|at| now_ms.saturating_sub(at) < period)
            {
                continue;
            }
            let target = Target::parse(target).unwrap_or(Target::All);
            due.push(spec(target, action));
        }
    }
    due
}

#[cfg(test)]
#[path = "routine_tests.rs"]
mod tests;
