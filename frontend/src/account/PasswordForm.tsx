import { useState, type FormEvent } from "react";
import { accountsApi, api, type User } from "../api/rest";
import { passwordProblem, repeatProblem } from "./rules";

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The caller changes their own password. The gateway ends every session token issued before,
 * this page's too, so the page logs in again with the new password at once. */
export function PasswordForm({ user }: { user: User }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const nextProblem = next ? passwordProblem(next) : null;
  const againProblem = again ? repeatProblem(next, again) : null;
  const ready = current !== "" && next !== "" && again !== "" && !nextProblem && !againProblem;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    setDone(null);
    accountsApi
      .changePassword(current, next)
      .then(() =>
        api.login(user.username, next).then(
          () => setDone("Password changed. Your other sessions were logged out."),
          (e: unknown) => setDone(`Password changed; log in again with it (${message(e)}).`),
        ),
      )
      .then(() => {
        setCurrent("");
        setNext("");
        setAgain("");
      })
      .catch((e: unknown) => setError(message(e)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="form" onSubmit={submit} aria-label="change your password">
      {/* For password managers: whose password this is. */}
      <input type="text" name="username" autoComplete="username" value={user.username} readOnly hidden />
      <div className="fields">
        <label>
          Current password
          <input type="password" name="current-password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
        </label>
        <label>
          New password
          <input type="password" name="new-password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required aria-invalid={!!nextProblem} />
        </label>
        <label>
          Repeat new password
          <input type="password" name="repeat-password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required aria-invalid={!!againProblem} />
        </label>
      </div>
      {nextProblem && <p className="error">New password: {nextProblem}</p>}
      {againProblem && <p className="error">Repeat new password: {againProblem}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      {done && <p className="notice" role="status">{done}</p>}
      <div className="row">
        <button type="submit" disabled={busy || !ready}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </div>
    </form>
  );
}
