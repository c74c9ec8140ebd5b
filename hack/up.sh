#!/usr/bin/env bash
# Oqto on one machine, from a fresh machine to a working stack in one command:
#   installs what is missing (Podman, podman-compose, the Podman settings this host needs),
#   starts Podman's API socket, builds the images (progress on stderr; cached afterwards),
#   picks the LLM provider from the environment or .env (the demo provider when there is none),
#   starts compose.yaml, waits until it is healthy, and prints the URL and the first admin.
# Running it again is fast and keeps every user, workspace and chat. Stop with hack/down.sh.
#
# Settings (environment or .env in the repository): OQTO_PORT (8080), OQTO_LISTEN (127.0.0.1;
# 0.0.0.0 serves the network: put TLS in front first),
# OQTO_HOME (~/.local/share/oqto: the admin's first password, provider keys),
# OQTO_PROJECT (oqto: names, so a second stack can run beside with its own ports),
# OQTO_DEMO_LLM_PORT (8090), OQTO_LLM_PROXY_PORT (8092), OQTO_OPERATOR_PORT (8081),
# OQTO_GATEWAY_RUNNER_PORT (8083: the gateway's listener for runners' delegation),
# OPENAI_API_KEY [OQTO_LLM_MODEL], ANTHROPIC_API_KEY [OQTO_LLM_MODEL],
# OQTO_LLM_BASE_URL (an OpenAI-compatible endpoint) [OQTO_LLM_API_KEY] [OQTO_LLM_MODEL].
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
started=$(date +%s)
step() { echo "==> [$(( $(date +%s) - started ))s] $*" >&2; }

if [ -f .env ]; then set -a; . ./.env; set +a; fi
export OQTO_HOME="${OQTO_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/oqto}" OQTO_PROJECT="${OQTO_PROJECT:-oqto}"
export OQTO_PORT="${OQTO_PORT:-8080}" OQTO_ADMIN_USER="${OQTO_ADMIN_USER:-admin}"
mkdir -p "$OQTO_HOME/secrets/default"
chmod 700 "$OQTO_HOME"

step "checking tools (Podman, podman-compose, Rust)"
hack/ensure-tools.sh
hack/podman/setup.sh
hack/podman/compose.sh >/dev/null

step "starting Podman's API socket (the operator creates runner containers through it)"
socket="$(hack/podman/service.sh up)"
export OQTO_PODMAN_SOCKET_DIR="$(dirname "$socket")"

step "installing the pinned Pi from npm (cached after the first run)"
hack/pi/install.sh >/dev/null

step "building the web UI (frontend/dist)"
hack/frontend/build.sh

step "building images (cached after the first run)"
hack/images/build.sh >/dev/null

step "choosing the LLM provider (the LLM proxy holds its key; runners get virtual keys)"
# The proxy's catalogue and its keys: $OQTO_HOME/llm-proxy.yaml and llm-proxy.env (mode 0600).
# Nothing else in the stack, and no runner, sees a provider key.
services=(operator gateway llm-proxy)
proxy_port="${OQTO_LLM_PROXY_PORT:-8092}"
catalogue="$OQTO_HOME/llm-proxy.yaml" keys="$OQTO_HOME/llm-proxy.env"
( umask 077; : > "$keys.new" )
# provider_file NAME API BASE_URL KEY_VARIABLE MODEL [REASONING]: one provider, its one model.
provider_file() {
  cat > "$catalogue.new" <<YAML
providers:
  - {name: $1, api: $2, baseUrl: "$3"$( [ -n "$4" ] && echo ", apiKeyEnv: $4" )}
models:
  - {provider: $1, id: "$5", contextWindow: 128000, maxTokens: 16384, reasoning: ${6:-false}}
YAML
}
if [ -n "${OQTO_LLM_BASE_URL:-}" ]; then
  model="${OQTO_LLM_MODEL:?OQTO_LLM_BASE_URL needs OQTO_LLM_MODEL}"
  echo "OQTO_UPSTREAM_LLM_KEY=${OQTO_LLM_API_KEY:-none}" > "$keys.new"
  provider_file custom openai-completions "$OQTO_LLM_BASE_URL" OQTO_UPSTREAM_LLM_KEY "$model"
  provider="the OpenAI-compatible endpoint $OQTO_LLM_BASE_URL, model $model"
elif [ -n "${ANTHROPIC_API_KEY:-}" ]; then
  model="${OQTO_LLM_MODEL:-claude-sonnet-4-5}"
  echo "ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY" > "$keys.new"
  provider_file anthropic anthropic-messages https://api.anthropic.com ANTHROPIC_API_KEY "$model" true
  provider="Anthropic, model $model (ANTHROPIC_API_KEY)"
elif [ -n "${OPENAI_API_KEY:-}" ]; then
  model="${OQTO_LLM_MODEL:-gpt-4.1-mini}"
  echo "OPENAI_API_KEY=$OPENAI_API_KEY" > "$keys.new"
  provider_file openai openai-completions https://api.openai.com/v1 OPENAI_API_KEY "$model"
  provider="OpenAI, model $model (OPENAI_API_KEY)"
else
  port="${OQTO_DEMO_LLM_PORT:-8090}"
  model=demo-not-a-real-llm
  # The demo provider answers only this stack's key, as a real provider would (kept over
  # restarts, so a cluster release using the same demo provider keeps working).
  demo_key="$(sed -n 's/^SCRIPTED_LLM_API_KEY=//p' "$keys" 2>/dev/null || true)"
  [ -n "$demo_key" ] || demo_key="demo-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
  echo "SCRIPTED_LLM_API_KEY=$demo_key" > "$keys.new"
  # The same script in both API shapes (scripted-llm serves /v1/chat/completions and
  # /v1/messages): a model for each.
  cat > "$catalogue.new" <<YAML
providers:
  - {name: oqto-demo, api: openai-completions, baseUrl: "http://127.0.0.1:$port/v1", apiKeyEnv: SCRIPTED_LLM_API_KEY}
  - {name: oqto-demo-anthropic, api: anthropic-messages, baseUrl: "http://127.0.0.1:$port", apiKeyEnv: SCRIPTED_LLM_API_KEY}
models:
  - {provider: oqto-demo, id: "$model", contextWindow: 128000, maxTokens: 16384, reasoning: true}
  - {provider: oqto-demo-anthropic, id: "$model-anthropic", contextWindow: 200000, maxTokens: 16384, reasoning: true}
YAML
  services+=(demo-llm)
  provider="the DEMO provider (scripted answers, not a real LLM): set OPENAI_API_KEY, ANTHROPIC_API_KEY or OQTO_LLM_BASE_URL for a real one"
fi
mv "$keys.new" "$keys"
mv "$catalogue.new" "$catalogue"
export OQTO_DEFAULT_LLM_PROVIDER=oqto OQTO_DEFAULT_LLM_MODEL="$model"
echo "    sessions use $provider" >&2

step "restricting runners' egress (the network of Restricted runners and its firewall rules)"
# Restricted runners reach one port of this host: the LLM proxy's. A provider on this host or a
# private network is reached by the proxy, not by runners.
OQTO_EGRESS_HOST_PORTS="${OQTO_EGRESS_HOST_PORTS:-} $proxy_port ${OQTO_GATEWAY_RUNNER_PORT:-8083}" hack/podman/egress.sh >&2

if [ ! -s "$OQTO_HOME/admin-password" ]; then
  ( umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$OQTO_HOME/admin-password" )
fi
OQTO_ADMIN_PASSWORD="$(cat "$OQTO_HOME/admin-password")"
export OQTO_ADMIN_PASSWORD

step "starting the stack (compose.yaml)"
compose=("$(hack/podman/compose.sh)" -p "$OQTO_PROJECT" -f "$repo/compose.yaml")
# Containers are stateless (the data is in volumes): recreate them so new images and settings
# apply. Runner containers are not part of the project and keep running.
"${compose[@]}" down >/dev/null 2>&1 || true
"${compose[@]}" up -d "${services[@]}" >/dev/null

step "waiting for the gateway and the operator"
url="http://127.0.0.1:$OQTO_PORT"
for _ in $(seq 1 120); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1 \
    && [ "$(podman inspect --format '{{.State.Running}}' "$OQTO_PROJECT-operator" 2>/dev/null)" = true ]; then
    break
  fi
  for c in "$OQTO_PROJECT-gateway" "$OQTO_PROJECT-operator"; do
    if [ "$(podman inspect --format '{{.State.Status}}' "$c" 2>/dev/null)" = exited ]; then
      echo "$c exited; its log:" >&2; podman logs --tail 30 "$c" >&2; exit 1
    fi
  done
  sleep 0.5
done
curl -fsS "$url/readyz" >/dev/null || { echo "the gateway did not become ready at $url" >&2; podman logs --tail 30 "$OQTO_PROJECT-gateway" >&2; exit 1; }

host="$(hostname -f 2>/dev/null || hostname)"
if [ "${OQTO_LISTEN:-127.0.0.1}" = 127.0.0.1 ]; then
  where="$url  (this machine only; OQTO_LISTEN=0.0.0.0 serves the network)"
else
  where="http://$host:$OQTO_PORT  (on this machine: $url)"
fi
cat <<MSG

Oqto is up ($(( $(date +%s) - started ))s).
  URL:      $where
  admin:    $OQTO_ADMIN_USER
  password: $OQTO_ADMIN_PASSWORD   (the first admin's; kept in $OQTO_HOME/admin-password)
  LLM:      $provider
  CLI:      $repo/target/release/oqtoctl --server $url login --username $OQTO_ADMIN_USER
Stop it with hack/down.sh (data is kept).
MSG
