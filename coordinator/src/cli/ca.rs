//! `mevfleet ca init|issue`: the fleet CA and the certificates it issues.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mevfleet_common::identity::{PeerIdentity, Role};
use mevfleet_common::tls::{FleetCa, TlsError, Validity, CA_CERT_FILE, CA_KEY_FILE};
use serde::Serialize;

use super::output::{print_json, OutputFormat};
use super::CliError;

/// `mevfleet ca ...`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a new fleet CA (ca.pem, and ca.key with mode 0600) in --dir.
    Init {
        /// The CA folder.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Replace an existing CA (every certificate it issued stops working).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate for a coordinator, an agent or a person.
    Issue(IssueArgs),
}

/// `mevfleet ca issue` arguments.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The holder's role: coordinator, agent, admin, operator or viewer.
    #[arg(long, value_name = "ROLE")]
    role: Role,
    /// The holder's name (an agent's agent_id, a coordinator's or a person's name).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The CA folder (ca.pem and ca.key).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Where to write <name>.pem, <name>.key and a copy of ca.pem (default: --dir).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Validity in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
    /// Replace existing files of the same name.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Serialize)]
struct Written {
    files: Vec<PathBuf>,
}

/// Runs a `ca` command.
pub fn run(command: &CaCommand, output: OutputFormat) -> Result<(), CliError> {
    let written = match command {
        CaCommand::Init { dir, force } => {
            FleetCa::init_dir(dir, *force).map_err(tls_error)?;
            Written {
                files: vec![dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE)],
            }
        }
        CaCommand::Issue(args) => issue(args)?,
    };
    match output {
        OutputFormat::Json => print_json(&written),
        OutputFormat::Table => {
            for file in &written.files {
                println!("wrote {}", file.display());
            }
            Ok(())
        }
    }
}

fn issue(args: &IssueArgs) -> Result<Written, CliError> {
    let identity = PeerIdentity::new(args.role, args.name.clone())
        .map_err(|err| CliError::Usage(format!("--name: {err}")))?;
    let ca = FleetCa::load_dir(&args.dir).map_err(tls_error)?;
    let out = args.out.clone().unwrap_or_else(|| args.dir.clone());
    let issued = ca
        .issue(&identity, Validity::days(args.days))
        .map_err(tls_error)?;
    let (cert, key) = issued.write_to_dir(&out, args.force).map_err(tls_error)?;
    let mut files = vec![cert, key];
    if let Some(copied) = copy_ca(&args.dir, &out, ca.cert_pem(), args.force)? {
        files.push(copied);
    }
    Ok(Written { files })
}

/// Puts the CA certificate beside the issued files, so `--out` is a complete
/// credentials folder to ship to the host.
fn copy_ca(
    ca_dir: &Path,
    out: &Path,
    ca_pem: &str,
    force: bool,
) -> Result<Option<PathBuf>, CliError> {
    let target = out.join(CA_CERT_FILE);
    if same_dir(ca_dir, out) {
        return Ok(None);
    }
    match std::fs::read_to_string(&target) {
        Ok(existing) if existing == ca_pem => return Ok(None),
        Ok(_) if !force => {
            return Err(CliError::Failed(format!(
                "{} holds another CA's certificate: refusing to overwrite it (pass --force)",
                target.display()
            )));
        }
        _ => {}
    }
    std::fs::write(&target, ca_pem)
        .map_err(|err| CliError::Failed(format!("{}: {err}", target.display())))?;
    Ok(Some(target))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn tls_error(err: TlsError) -> CliError {
    match err {
        TlsError::AlreadyExists { .. } | TlsError::BadPem { .. } | TlsError::Io { .. } => {
            CliError::Usage(err.to_string())
        }
        other => CliError::Failed(other.to_string()),
    }
}
