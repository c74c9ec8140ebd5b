#!/usr/bin/env bash
# The dependency audit (hack/test.sh runs it after clippy). cargo-deny checks the Rust tree against
# deny.toml: licenses, bans and sources need only Cargo.lock and crates.io; advisories need the
# RustSec database, which lives on github.com. npm audit asks the npm registry about the
# frontend's production packages. A check that cannot reach its data is reported as not run and
# does not fail the audit (these machines reach package registries only); a finding does.
#
#   OQTO_ADVISORY_DB=/path/to/advisory-db   a local clone of RustSec's advisory-db, used when
#                                           github.com cannot be reached
#
# cargo-deny is built from crates.io once into a cache outside the checkout, keyed by version.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

version=0.20.2
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
root="$cache_root/tools/cargo-deny-$version"
deny="$root/bin/cargo-deny"
# Where cargo-deny keeps the database of its default URL (github.com/RustSec/advisory-db).
db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"

if [ ! -x "$deny" ]; then
  echo "cargo-deny $version: building from crates.io into $root (cold: 6-12 min on 2 cores, once per machine)" >&2
  start=$(date +%s)
  tmp="$root.tmp.$$"
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  CARGO_TARGET_DIR="$tmp/target" cargo install --quiet --locked --version "$version" --root "$tmp" cargo-deny
  rm -rf "$tmp/target"
  rm -rf "$root" && mv "$tmp" "$root"
  echo "cargo-deny $version: built in $(( $(date +%s) - start ))s" >&2
fi

ran=()
not_run=()
failed=()

# Licenses, bans, sources: Cargo.lock and the crates' manifests, nothing else.
if "$deny" --locked check licenses bans sources; then
  ran+=("cargo-deny licenses, bans, sources")
else
  failed+=("cargo-deny licenses, bans, sources")
fi

# Advisories: a fresh database if github.com answers, else a local clone if one was named, else
# the copy an earlier run left (its date is printed: it may be old).
# (`cargo deny fetch db` exits 0 without fetching when it has a copy, so ask github.com first.)
db_note=""
if timeout 20 git ls-remote --quiet https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1 &&
  timeout 300 "$deny" fetch db; then
  db_note="fetched now"
elif [ -n "${OQTO_ADVISORY_DB:-}" ]; then
  rm -rf "$db_dir" && mkdir -p "$(dirname "$db_dir")"
  git clone --quiet "$OQTO_ADVISORY_DB" "$db_dir"
  db_note="from OQTO_ADVISORY_DB=$OQTO_ADVISORY_DB"
elif git -C "$db_dir" rev-parse --verify --quiet HEAD >/dev/null 2>&1; then
  db_note="github.com not reached: the copy an earlier run left"
fi
if [ -n "$db_note" ]; then
  db_date="$(git -C "$db_dir" log -1 --format=%cs)"
  name="cargo-deny advisories (RustSec database of $db_date, $db_note)"
  if "$deny" --offline --locked check advisories; then
    ran+=("$name")
  else
    failed+=("$name")
  fi
else
  not_run+=("cargo-deny advisories: the RustSec database is on github.com, which this machine cannot reach, and no OQTO_ADVISORY_DB clone was given")
fi

# npm audit: the registry's bulk advisory endpoint; a mirror may not serve it.
report="$(cd frontend && npm audit --omit=dev --json 2>/dev/null || true)"
verdict="$(node -e '
  let r; try { r = JSON.parse(process.argv[1]); } catch { r = {}; }
  if (r.auditReportVersion) console.log(`total ${r.metadata.vulnerabilities.total}`);
  else console.log(`error ${r.message || r.error?.summary || "no answer"}`);
' "$report")"
case "$verdict" in
  "total 0") ran+=("npm audit --omit=dev (frontend)") ;;
  total*)
    (cd frontend && npm audit --omit=dev) || true
    failed+=("npm audit --omit=dev (frontend): ${verdict#total } vulnerable packages")
    ;;
  *) not_run+=("npm audit: the registry did not answer the audit request (${verdict#error })") ;;
esac

echo "==> audit summary"
for c in "${ran[@]}"; do echo "  ran, clean:  $c"; done
for c in "${not_run[@]}"; do echo "  not run:     $c"; done
for c in "${failed[@]}"; do echo "  FAILED:      $c"; done
[ "${#failed[@]}" = 0 ]
