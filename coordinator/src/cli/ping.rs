//! `mevfleet ping`: asks every coordinator who it is and who it takes us
//! for. It verifies an operator's access and each member's reachability in
//! one command (the runbook's verify-operator-access step).

use std::time::Instant;

use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{call, RpcLimits};
use serde::Serialize;

use super::connect::{dial, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// One coordinator's answer (the JSON shape of `ping -o json`).
#[derive(Debug, Serialize)]
struct PingRow {
    addr: String,
    reachable: bool,
    node_id: Option<u64>,
    server: Option<String>,
    version: Option<String>,
    you: Option<String>,
    handshake_ms: Option<f64>,
    rtt_ms: Option<f64>,
    error: Option<String>,
}

/// Pings every coordinator; exit 0 when all answer, 1 when some do, 3 when none.
pub async fn run(target: &Target, output: OutputFormat) -> Result<(), CliError> {
    let mut rows = Vec::with_capacity(target.coordinators.len());
    for addr in &target.coordinators {
        rows.push(ping_one(target, addr).await);
    }
    match output {
        OutputFormat::Json => print_json(&rows)?,
        OutputFormat::Table => println!("{}", table(&rows)),
    }
    let answered = rows.iter().filter(|row| row.reachable).count();
    match answered {
        n if n == rows.len() => Ok(()),
        0 => Err(CliError::Unreachable(format!(
            "no coordinator reachable ({})",
            rows.iter()
                .map(|r| format!("{}: {}", r.addr, r.error.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        n => Err(CliError::Failed(format!(
            "{n} of {} coordinators answered",
            rows.len()
        ))),
    }
}

async fn ping_one(target: &Target, addr: &mevfleet_common::net::HostPort) -> PingRow {
    let mut row = PingRow {
        addr: addr.to_string(),
        reachable: false,
        node_id: None,
        server: None,
        version: None,
        you: None,
        handshake_ms: None,
        rtt_ms: None,
        error: None,
    };
    let admin = match dial(&target.creds, addr).await {
        Ok(admin) => admin,
        Err(err) => {
            row.error = Some(err);
            return row;
        }
    };
    row.handshake_ms = Some(admin.handshake.as_secs_f64() * 1000.0);
    let started = Instant::now();
    match call::<_, AdminResponse>(&admin.conn, &AdminRequest::Ping, RpcLimits::default()).await {
        Ok(AdminResponse::Pong(info)) => {
            row.rtt_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            row.reachable = true;
            row.node_id = Some(info.node_id);
            row.server = Some(info.server.to_string());
            row.version = Some(info.version);
            row.you = Some(info.you.to_string());
        }
        Ok(other) => row.error = Some(format!("unexpected answer: {other:?}")),
        Err(err) => row.error = Some(err.to_string()),
    }
    admin.conn.close(quinn::VarInt::from_u32(0), b"done");
    admin.endpoint.wait_idle().await;
    row
}

fn table(rows: &[PingRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let opt = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
            let ms = |value: Option<f64>| {
                value
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".into())
            };
            vec![
                row.addr.clone(),
                row.node_id
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                opt(&row.server),
                opt(&row.version),
                ms(row.rtt_ms),
                opt(&row.you),
                opt(&row.error),
            ]
        })
        .collect();
    render_table(
        &[
            "ADDR", "NODE", "SERVER", "VERSION", "RTT_MS", "YOU", "ERROR",
        ],
        &cells,
    )
}
