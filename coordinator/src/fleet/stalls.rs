//! The leader's own stalls, so that it does not blame agents for them. A
//! heartbeat that arrives while the leader's service threads cannot run
//! (CPU starvation, a VM pause, a flood of requests) waits in a queue, and
//! the agent looks silent for as long as the leader was deaf. A clock task
//! ticks every [`TICK`]; a tick later than [`STALL_AFTER`] marks the excess
//! as a stall, and an agent's silence is counted without the stalls inside
//! it. A healthy leader ticks on time, so its agents' ages are exact; a
//! leader that keeps falling behind waits longer before it calls an agent
//! lost, by the time it could not listen.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often the clock task ticks.
pub const TICK: Duration = Duration::from_millis(50);

/// A tick later than this after the one before marks the excess as a
/// stall. Well above scheduling jitter, well below the loss limit.
pub const STALL_AFTER: Duration = Duration::from_millis(200);

/// Stalls remembered: an agent silent for longer than all of them together
/// is lost anyway.
const KEPT: usize = 256;

/// The leader's recent stalls.
#[derive(Debug, Default)]
pub struct Stalls {
    last_tick: Option<Instant>,
    /// `(start, end)`, oldest first, not overlapping.
    recent: VecDeque<(Instant, Instant)>,
    total: Duration,
}

impl Stalls {
    /// The clock task ran at `now`.
    pub fn tick(&mut self, now: Instant) {
        if let Some(last) = self.last_tick {
            if now <= last {
                return;
            }
            let start = last + STALL_AFTER;
            if now > start {
                self.recent.push_back((start, now));
                self.total += now - start;
                if self.recent.len() > KEPT {
                    self.recent.pop_front();
                }
            }
        }
        self.last_tick = Some(now);
    }

    /// The time from `since` to `now` during which the leader was not
    /// stalled, a stall still going on at `now` included.
    pub fn listened(&self, since: Instant, now: Instant) -> Duration {
        let mut listened = now.saturating_duration_since(since);
        let ongoing = self
            .last_tick
            .map(|last| (last + STALL_AFTER, now))
            .filter(|(start, end)| start < end);
        let newest_first = ongoing.into_iter().chain(self.recent.iter().rev().copied());
        for (start, end) in newest_first {
            if end <= since {
                break;
            }
            let overlap = end.min(now).saturating_duration_since(start.max(since));
            listened = listened.saturating_sub(overlap);
        }
        listened
    }

    /// All the stall time recorded so far.
    pub fn total(&self) -> Duration {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Ticks every `TICK` from `from` for `length`; returns the last tick.
    fn ticking(stalls: &mut Stalls, from: Instant, length: Duration) -> Instant {
        let mut at = from;
        while at < from + length {
            stalls.tick(at);
            at += TICK;
        }
        stalls.tick(from + length);
        from + length
    }

    #[test]
    fn a_leader_that_ticks_on_time_counts_real_time() {
        let t0 = Instant::now();
        let mut stalls = Stalls::default();
        let now = ticking(&mut stalls, t0, ms(10_000));
        assert_eq!(stalls.listened(t0 + ms(1_000), now), ms(9_000));
        assert_eq!(stalls.total(), Duration::ZERO);
        // Jitter under the threshold is not a stall.
        stalls.tick(now + STALL_AFTER);
        assert_eq!(stalls.total(), Duration::ZERO);
    }

    #[test]
    fn a_stall_is_left_out_of_the_silences_it_falls_in() {
        let t0 = Instant::now();
        let mut stalls = Stalls::default();
        let before = ticking(&mut stalls, t0, ms(1_000));
        // Five seconds without a tick, then on time again.
        let after = before + ms(5_000);
        let now = ticking(&mut stalls, after, ms(1_000));
        let stalled = ms(5_000) - STALL_AFTER;
        assert_eq!(stalls.total(), stalled);
        // Heard before the stall: the stall is not its silence.
        assert_eq!(stalls.listened(t0, now), ms(7_000) - stalled);
        // Heard during it: only the part after.
        assert_eq!(stalls.listened(before + ms(3_000), now), ms(1_000));
        // Heard after it: untouched.
        assert_eq!(stalls.listened(after + ms(500), now), ms(500));
    }

    #[test]
    fn a_stall_still_going_on_counts_too() {
        let t0 = Instant::now();
        let mut stalls = Stalls::default();
        let last = ticking(&mut stalls, t0, ms(1_000));
        let now = last + ms(3_000);
        assert_eq!(
            stalls.listened(t0, now),
            ms(1_000) + STALL_AFTER,
            "three seconds after the last tick, only the first 200 ms count"
        );
    }

    #[test]
    fn before_the_first_tick_time_is_real_and_history_is_bounded() {
        let t0 = Instant::now();
        let mut stalls = Stalls::default();
        assert_eq!(stalls.listened(t0, t0 + ms(4_000)), ms(4_000));
        let mut at = t0;
        for _ in 0..(KEPT + 10) {
            stalls.tick(at);
            at += ms(1_000);
        }
        assert_eq!(stalls.recent.len(), KEPT);
        let each = ms(1_000) - STALL_AFTER;
        assert_eq!(stalls.total(), each * (KEPT as u32 + 9));
    }
}
