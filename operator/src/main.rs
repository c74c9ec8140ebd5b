//! The Oqto operator binary. For now it prints or writes the CRDs; reconciliation arrives with
//! the operator issue.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "oqto-operator", version, about = "Oqto's Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD.
    Crd {
        /// Write `<crd-name>.yaml` files into this directory instead of printing to stdout.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { write } => crd(write),
    }
}

fn crd(write: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in oqto_api::crds() {
        let yaml = oqto_api::crd_yaml(&crd)?;
        match &write {
            Some(dir) => {
                let path = dir.join(oqto_api::crd_file_name(&crd));
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
