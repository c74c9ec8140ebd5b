import { useState, type FormEvent } from "react";
import { passwordProblem } from "../account/rules";

/** An admin sets another user's password (inline under the user's row). */
export function ResetPasswordForm({ username, onReset, onCancel }: { username: string; onReset: (password: string) => Promise<void>; onCancel: () => void }) {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const problem = password ? passwordProblem(password) : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!password || problem) return;
    setBusy(true);
    onReset(password).finally(() => setBusy(false));
  };
  return (
    <form className="reset-password" onSubmit={submit} aria-label={`reset the password of ${username}`}>
      <label className="inline">
        New password for {username}
        <input type="password" name="reset-password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required autoFocus aria-invalid={!!problem} />
      </label>
      <button type="submit" disabled={busy || !password || !!problem}>
        {busy ? "Saving…" : "Save password"}
      </button>
      <button type="button" className="ghost" onClick={onCancel}>
        Cancel
      </button>
      {problem && <p className="error">New password: {problem}</p>}
    </form>
  );
}
