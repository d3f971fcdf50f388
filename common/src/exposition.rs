//! Writing the Prometheus text exposition format (what `promtool check
//! metrics` accepts): one `# HELP` and `# TYPE` line per family, then its
//! samples, with label values escaped.

use std::fmt::Write;

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its help and type (`gauge`, `counter`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample; `labels` is `key="value",...` (values from [`label`]).
    pub fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.text, "{name} {value}");
        } else {
            let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
        }
    }

    /// A family with one unlabelled gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, "gauge", help);
        self.sample(name, "", value);
    }

    /// A gauge family with one sample per `(labels, value)`.
    pub fn gauges<V: std::fmt::Display>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (String, V)>,
    ) {
        self.family(name, "gauge", help);
        for (labels, value) in samples {
            self.sample(name, &labels, value);
        }
    }

    /// The page.
    pub fn finish(self) -> String {
        self.text
    }
}

/// `key="value"` with the value escaped as the format requires.
pub fn label(key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{key}=\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_family_takes_one_sample_per_label_set() {
        let mut page = Exposition::new();
        page.gauges(
            "rate",
            "Rate.",
            [(label("chain", "a"), 1.5), (label("chain", "b"), 2.0)],
        );
        assert_eq!(
            page.finish(),
            "# HELP rate Rate.\n# TYPE rate gauge\nrate{chain=\"a\"} 1.5\nrate{chain=\"b\"} 2\n"
        );
    }

    #[test]
    fn writes_families_and_escapes_label_values() {
        let mut page = Exposition::new();
        page.gauge("up", "Whether it is up.", 1);
        page.family("disk", "gauge", "Disk use.");
        page.sample("disk", &label("path", "/a\"b\\c"), 0.5);
        assert_eq!(
            page.finish(),
            "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n# HELP disk Disk use.\n# TYPE disk gauge\ndisk{path=\"/a\\\"b\\\\c\"} 0.5\n"
        );
    }
}
