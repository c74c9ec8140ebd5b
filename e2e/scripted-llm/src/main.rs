use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use oqto_scripted_llm::{Script, ScriptedLlm};

/// A scripted OpenAI-compatible streaming server (the LLM stand-in of tests and the demo).
#[derive(Debug, Parser)]
#[command(name = "scripted-llm")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The script: JSON `{"rules":[{"when_user_contains", "steps":[...]}]}`.
    #[arg(long)]
    script: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.script)
        .with_context(|| format!("reading {}", args.script.display()))?;
    let script =
        Script::from_json(&text).with_context(|| format!("parsing {}", args.script.display()))?;
    let llm = ScriptedLlm::spawn(script, &args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    // Callers parse this line to learn the port.
    println!("listening on http://{}", llm.addr());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
