//! Resource allocation by chain priority: the cgroup weights (`cpu.weight`
//! and `io.weight`, systemd's `CPUWeight=`/`IOWeight=`) each chain's
//! services get, as a pure function of the priorities and, in dynamic mode,
//! of how busy each chain has been.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A chain's priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    /// Weight 100 (systemd's default).
    Low,
    /// Weight 200.
    Medium,
    /// Weight 400.
    High,
}

impl Priority {
    /// The static weight.
    pub fn weight(self) -> u32 {
        match self {
            Priority::Low => 100,
            Priority::Medium => 200,
            Priority::High => 400,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        })
    }
}

/// The fleet's allocation policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Priority by chain; chains not listed are left alone.
    pub priorities: BTreeMap<String, Priority>,
    /// Whether observed activity shifts the weights.
    pub dynamic: bool,
}

/// The lowest and highest weight cgroup v2 accepts.
pub const WEIGHT_RANGE: (u32, u32) = (1, 10_000);

/// Reads `ethereum=high,arbitrum=medium`.
pub fn parse_priorities(text: &str) -> Result<BTreeMap<String, Priority>, String> {
    let mut priorities = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (chain, level) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}`: expected chain=high|medium|low"))?;
        let level = match level.trim() {
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            other => {
                return Err(format!(
                    "`{item}`: unknown priority `{other}` (high, medium or low)"
                ))
            }
        };
        if priorities.insert(chain.trim().to_owned(), level).is_some() {
            return Err(format!("`{}` is given twice", chain.trim()));
        }
    }
    if priorities.is_empty() {
        return Err("no priorities: expected e.g. ethereum=high,arbitrum=medium".into());
    }
    Ok(priorities)
}

/// Each prioritised chain's weight. In dynamic mode a chain's weight grows
/// with its share of the observed `activity` (up to twice its static
/// weight for a chain that had all of it).
pub fn weights(allocation: &Allocation, activity: &BTreeMap<String, u64>) -> BTreeMap<String, u32> {
    let total: u64 = allocation
        .priorities
        .keys()
        .filter_map(|chain| activity.get(chain))
        .sum();
    allocation
        .priorities
        .iter()
        .map(|(chain, priority)| {
            let base = f64::from(priority.weight());
            let share = if allocation.dynamic && total > 0 {
                activity.get(chain).copied().unwrap_or(0) as f64 / total as f64
            } else {
                0.0
            };
            let weight = (base * (1.0 + share)).round() as u32;
            (chain.clone(), weight.clamp(WEIGHT_RANGE.0, WEIGHT_RANGE.1))
        })
        .collect()
}

/// Whether moving from `applied` to `wanted` is worth doing: changes under
/// 10 % are not re-applied.
pub fn worth_applying(applied: Option<u32>, wanted: u32) -> bool {
    match applied {
        None => true,
        Some(applied) => {
            let change = (f64::from(wanted) - f64::from(applied)).abs();
            change >= f64::from(applied.max(1)) * 0.10
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocation(text: &str, dynamic: bool) -> Allocation {
        Allocation {
            priorities: parse_priorities(text).unwrap_or_default(),
            dynamic,
        }
    }

    #[test]
    fn weights_follow_priorities_and_in_dynamic_mode_activity() {
        let busy: BTreeMap<String, u64> =
            [("ethereum".to_owned(), 30), ("arbitrum".to_owned(), 10)].into();
        let none = BTreeMap::new();
        // (priorities, dynamic, activity, expected weights)
        type Case<'a> = (
            &'a str,
            bool,
            &'a BTreeMap<String, u64>,
            &'a [(&'a str, u32)],
        );
        let cases: [Case; 5] = [
            (
                "ethereum=high,arbitrum=medium,base=medium",
                false,
                &busy,
                &[("arbitrum", 200), ("base", 200), ("ethereum", 400)],
            ),
            (
                "ethereum=high,arbitrum=medium,base=medium",
                true,
                &busy,
                &[("arbitrum", 250), ("base", 200), ("ethereum", 700)],
            ),
            (
                "ethereum=high,arbitrum=medium",
                true,
                &none,
                &[("arbitrum", 200), ("ethereum", 400)],
            ),
            ("ethereum=low", true, &busy, &[("ethereum", 200)]),
            ("polygon=low", true, &busy, &[("polygon", 100)]),
        ];
        for (priorities, dynamic, activity, expected) in cases {
            let got = weights(&allocation(priorities, dynamic), activity);
            let expected: BTreeMap<String, u32> = expected
                .iter()
                .map(|(c, w)| ((*c).to_owned(), *w))
                .collect();
            assert_eq!(got, expected, "{priorities} dynamic={dynamic}");
        }
    }

    #[test]
    fn priorities_read_and_bad_ones_say_why() {
        assert_eq!(
            parse_priorities("ethereum=high, base=low").map(|p| p.len()),
            Ok(2)
        );
        for (bad, why) in [
            ("ethereum", "expected chain=high|medium|low"),
            ("ethereum=urgent", "unknown priority `urgent`"),
            ("ethereum=high,ethereum=low", "given twice"),
            ("", "no priorities"),
        ] {
            let err = parse_priorities(bad).map(|p| format!("{p:?}"));
            assert!(
                err.as_ref().is_err_and(|e| e.contains(why)),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn changes_under_ten_percent_are_not_reapplied() {
        assert!(worth_applying(None, 100));
        assert!(!worth_applying(Some(400), 430));
        assert!(worth_applying(Some(400), 440));
        assert!(worth_applying(Some(400), 200));
        assert!(!worth_applying(Some(200), 200));
    }
}
