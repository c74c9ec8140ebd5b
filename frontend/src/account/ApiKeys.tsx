import { useState, type FormEvent } from "react";
import { accountsApi, type CreatedKey } from "../api/rest";
import { ConfirmButton } from "../ui/ConfirmButton";
import { usePoll } from "../ui/usePoll";
import { DEFAULT_EXPIRY_DAYS, EXPIRY_CHOICES, expiryText, keyState, lastUsedText, sortKeys } from "./keys";
import { NewKey } from "./NewKey";
import { keyNameProblem } from "./rules";

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The caller's API keys: create one (shown once), see them all, revoke. */
export function ApiKeys() {
  const { data, error, refresh } = usePoll(accountsApi.keys, 30000);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const now = Date.now();
  const revoke = (id: string, name: string) => {
    setActionError(null);
    accountsApi
      .revokeKey(id)
      .then(() => {
        if (created?.id === id) setCreated(null);
        refresh();
      })
      .catch((e: unknown) => setActionError(`Revoking ${name} failed: ${message(e)}`));
  };
  return (
    <>
      <CreateKey
        onCreated={(key) => {
          setCreated(key);
          refresh();
        }}
      />
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      {error && <p className="error" role="alert">Could not load your keys: {error}</p>}
      {actionError && <p className="error" role="alert">{actionError}</p>}
      {data && data.length === 0 && <p className="muted">No API keys yet.</p>}
      <ul className="list" aria-label="your API keys">
        {data &&
          sortKeys(data, now).map((k) => {
            const state = keyState(k, now);
            return (
              <li key={k.id} className={`item key ${state}`}>
                <strong className="key-name">{k.name}</strong>
                <code className="small">{k.prefix}…</code>
                <span className={`badge key-${state}`}>{state}</span>
                <span className="muted small">
                  created {new Date(k.created_at).toLocaleDateString()} · {lastUsedText(k, now)}
                  {state !== "revoked" && ` · ${expiryText(k, now)}`}
                </span>
                <span className="spacer" />
                {state !== "revoked" && (
                  <ConfirmButton
                    label="Revoke"
                    question={`Revoke the API key ${k.name}? Whatever uses it is refused from now on.`}
                    confirmLabel="Revoke key"
                    onConfirm={() => revoke(k.id, k.name)}
                  />
                )}
              </li>
            );
          })}
      </ul>
    </>
  );
}

function CreateKey({ onCreated }: { onCreated: (key: CreatedKey) => void }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState<string>(String(DEFAULT_EXPIRY_DAYS));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const problem = name ? keyNameProblem(name) : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name || problem) return;
    setBusy(true);
    setError(null);
    accountsApi
      .createKey(name.trim(), days === "never" ? null : Number(days))
      .then((key) => {
        setName("");
        onCreated(key);
      })
      .catch((e: unknown) => setError(message(e)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="form" onSubmit={submit} aria-label="create an API key">
      <div className="fields">
        <label>
          Key name
          <input name="key-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="laptop, ci…" required aria-invalid={!!problem} />
        </label>
        <label>
          Expires after
          <select name="key-expiry" value={days} onChange={(e) => setDays(e.target.value)}>
            {EXPIRY_CHOICES.map((c) => (
              <option key={c.label} value={c.days === null ? "never" : String(c.days)}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {problem && <p className="error">Key name: {problem}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row">
        <button type="submit" disabled={busy || !name || !!problem}>
          {busy ? "Creating…" : "Create key"}
        </button>
      </div>
    </form>
  );
}
