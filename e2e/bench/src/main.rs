//! `oqto-bench`: what `hack/bench.sh` calls to turn the benches' records into a run (JSON, table,
//! plots), and to compare two runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use oqto_bench::{Machine, Run, compare, plot, table};

#[derive(Parser)]
#[command(about = "The report of hack/bench.sh: one table, the run as JSON, plots, comparisons")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collects the figures the benches recorded into one run: writes RUN (JSON) and its plots
    /// beside it, and prints the table.
    Collect {
        /// The figures, one JSON line each ($OQTO_BENCH_RECORD of the benches).
        #[arg(long)]
        records: PathBuf,
        /// Where the run's JSON goes; its plots go beside it (RUN without `.json`, then `-NAME.svg`).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        commit: String,
        /// UTC, as `date -u +%FT%TZ` gives it.
        #[arg(long)]
        date: String,
        #[arg(long)]
        quick: bool,
        /// A bench that did not finish, with why (repeatable).
        #[arg(long = "failed")]
        failed: Vec<String>,
    },
    /// Prints a saved run's table.
    Table { run: PathBuf },
    /// Prints the change per figure from run A to run B.
    Compare { a: PathBuf, b: PathBuf },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Collect {
            records,
            out,
            commit,
            date,
            quick,
            failed,
        } => {
            let run = Run {
                commit,
                date,
                machine: Machine::this(),
                quick,
                failed,
                figures: Run::figures_from(&records)?,
            };
            run.save(&out)?;
            let plots_dir = out.with_extension("");
            std::fs::create_dir_all(&plots_dir)?;
            let plots = plot::draw(&run, &plots_dir)?;
            print!("{}", table::render(&run));
            println!("\nrun: {}", out.display());
            for plot in plots {
                println!("plot: {}", plot.display());
            }
        }
        Command::Table { run } => print!("{}", table::render(&Run::load(&run)?)),
        Command::Compare { a, b } => {
            print!("{}", compare::render(&Run::load(&a)?, &Run::load(&b)?))
        }
    }
    Ok(())
}
