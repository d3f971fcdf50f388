//! `mevfleet`: the admin CLI.

use std::process::ExitCode;

use clap::Parser;
use mevfleet_common::telemetry::{self, LogFormat};
use mevfleet_coordinator::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(LogFormat::Text, "warn");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

fn report(err: &CliError) -> ExitCode {
    eprintln!("error: {err}");
    err.exit_code()
}
