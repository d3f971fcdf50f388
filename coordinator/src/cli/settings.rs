//! `mevfleet settings [set KEY VALUE | unset KEY]`: replicated key-value
//! cluster settings. Listing reads through the leader, so it shows every
//! write acknowledged before it.

use clap::Subcommand;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};

use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::{written, CliError};

/// `mevfleet settings ...`
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// List every setting.
    List,
    /// Set a setting (admin).
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove a setting (admin).
    Unset {
        /// The key.
        key: String,
    },
}

/// Runs a `settings` command.
pub async fn run(
    command: &SettingsCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let ask = match command {
        SettingsCommand::List => AdminRequest::GetSettings,
        SettingsCommand::Set { key, value } => AdminRequest::SetSetting {
            key: key.clone(),
            value: value.clone(),
        },
        SettingsCommand::Unset { key } => AdminRequest::DeleteSetting { key: key.clone() },
    };
    match request(target, &ask).await? {
        AdminResponse::Settings(settings) => match output {
            OutputFormat::Json => print_json(&settings),
            OutputFormat::Table => {
                let rows: Vec<Vec<String>> =
                    settings.into_iter().map(|(k, v)| vec![k, v]).collect();
                println!("{}", render_table(&["KEY", "VALUE"], &rows));
                Ok(())
            }
        },
        AdminResponse::Written(receipt) => written(&receipt, output),
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}
