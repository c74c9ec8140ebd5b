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
    #[arg(long, required_unless_present = "demo", conflicts_with = "demo")]
    script: Option<PathBuf>,
    /// Serve the built-in demo script (the single-node stack's demo provider).
    #[arg(long)]
    demo: bool,
    /// Answer only requests that present this key, as a real provider does (the single-node
    /// stack gives its demo provider one that only the LLM proxy holds).
    #[arg(long, env = "SCRIPTED_LLM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut script = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Script::from_json(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => Script::from_json(oqto_scripted_llm::DEMO_SCRIPT).context("the demo script")?,
    };
    if let Some(key) = args.api_key.filter(|k| !k.is_empty()) {
        script.api_key = Some(key);
    }
    let llm = ScriptedLlm::spawn(script, &args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    // Callers parse this line to learn the port.
    println!("listening on http://{}", llm.addr());
    // Ctrl-C, or SIGTERM from `podman stop` (through tini).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
