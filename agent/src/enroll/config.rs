//! The config an enrolled agent starts with: the operator's template (its
//! chains, services and actions, with its comments kept) with the identity
//! parts set by enrollment: `agent_id`, `coordinators`, `[tls]`, and the
//! labels the token gives (which win over the template's on the same key).

use std::collections::BTreeMap;
use std::path::Path;

use mevfleet_common::config_file;
use mevfleet_common::net::HostPort;
use toml_edit::{value, Array, DocumentMut, Item, Table};

use super::EnrollError;
use crate::config::AgentConfig;

/// The enrolled config's text, checked as the agent will check it at start
/// (every key, every cross-field rule). `out` names the file in errors.
pub fn enrolled_config(
    template: Option<&str>,
    agent_id: &str,
    coordinators: &[HostPort],
    creds_dir: &Path,
    labels: &BTreeMap<String, String>,
    out: &Path,
) -> Result<String, EnrollError> {
    let mut doc: DocumentMut = template
        .unwrap_or_default()
        .parse()
        .map_err(|err| EnrollError::Usage(format!("--config-template is not valid TOML: {err}")))?;
    doc["agent_id"] = value(agent_id);
    let mut list = Array::new();
    for coordinator in coordinators {
        list.push(coordinator.to_string());
    }
    doc["coordinators"] = value(list);
    let tls = table(&mut doc, "tls")?;
    let file = |name: String| creds_dir.join(name).display().to_string();
    tls["ca"] = value(file("ca.pem".into()));
    tls["cert"] = value(file(format!("{agent_id}.pem")));
    tls["key"] = value(file(format!("{agent_id}.key")));
    if !labels.is_empty() {
        let table = table(&mut doc, "labels")?;
        for (key, label) in labels {
            table[key.as_str()] = value(label.as_str());
        }
    }
    let text = doc.to_string();
    config_file::parse::<AgentConfig>(out, &text).map_err(|err| {
        EnrollError::Usage(format!("the enrolled config would be invalid: {err}"))
    })?;
    Ok(text)
}

/// The table `key` of `doc`, made if missing; an error if `key` holds
/// something else.
fn table<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut Table, EnrollError> {
    let item = doc.entry(key).or_insert_with(|| Item::Table(Table::new()));
    item.as_table_mut().ok_or_else(|| {
        EnrollError::Usage(format!(
            "--config-template: `{key}` must be a table ([{key}])"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinators() -> Vec<HostPort> {
        vec![
            "10.0.0.1:7400".parse().expect("addr"),
            "10.0.0.2:7400".parse().expect("addr"),
        ]
    }

    #[test]
    fn the_template_keeps_its_chains_and_comments_and_gets_the_identity() {
        let template = "# our erigon host\nagent_id = \"placeholder\"\ndata_dir = \"/srv/agent\"\n\n[labels]\nregion = \"eu\"\nrack = \"r1\"\n\n[[chains]]\nname = \"ethereum\"\nrpc = \"http://127.0.0.1:8545\"\nmempool = false\n";
        let labels = BTreeMap::from([("rack".to_owned(), "r9".to_owned())]);
        let text = enrolled_config(
            Some(template),
            "host-a",
            &coordinators(),
            Path::new("/etc/mevfleet/tls-agent"),
            &labels,
            Path::new("agent.toml"),
        )
        .expect("valid");
        let config = config_file::parse::<AgentConfig>(Path::new("agent.toml"), &text)
            .expect("parses")
            .config;
        assert!(text.contains("# our erigon host"), "{text}");
        assert_eq!(config.agent_id, "host-a");
        assert_eq!(config.coordinators, coordinators());
        assert_eq!(config.data_dir, Path::new("/srv/agent"));
        assert_eq!(config.chains.len(), 1);
        assert_eq!(
            config.tls.key,
            Path::new("/etc/mevfleet/tls-agent/host-a.key")
        );
        assert_eq!(config.labels.get("region").map(String::as_str), Some("eu"));
        assert_eq!(config.labels.get("rack").map(String::as_str), Some("r9"));
    }

    #[test]
    fn a_bad_template_is_refused_before_anything_is_sent() {
        let out = Path::new("agent.toml");
        let dir = Path::new("/d");
        let none = BTreeMap::new();
        for (template, needle) in [
            ("agent_id = ", "not valid TOML"),
            ("tls = 3", "must be a table"),
            ("colour = \"blue\"", "colour"),
            (
                "[[chains]]\nname = \"ethereum\"\nrpc = \"ftp://x\"\n",
                "chains",
            ),
        ] {
            let err = enrolled_config(Some(template), "host-a", &coordinators(), dir, &none, out)
                .expect_err(template)
                .to_string();
            assert!(err.contains(needle), "{template}: {err}");
        }
        // --- no template at all is a config with no chains yet: valid
        enrolled_config(None, "host-a", &coordinators(), dir, &none, out).expect("minimal");
    }
}
