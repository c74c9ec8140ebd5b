import { useState, type FormEvent } from "react";
import { accountsApi, type Account, type User } from "../api/rest";
import { passwordProblem, usernameProblem } from "../account/rules";

/** An admin creates a user with a first password and a role. */
export function CreateUserForm({ onCreated }: { onCreated: (user: Account) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<User["role"]>("user");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const nameProblem = username ? usernameProblem(username) : null;
  const pwProblem = password ? passwordProblem(password) : null;
  const ready = username !== "" && password !== "" && !nameProblem && !pwProblem;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    accountsApi
      .createUser(username, password, role)
      .then((user) => {
        setUsername("");
        setPassword("");
        setRole("user");
        onCreated(user);
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="create a user">
      <div className="fields">
        <label>
          Username
          <input name="new-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value.trim())} placeholder="carol" required aria-invalid={!!nameProblem} />
        </label>
        <label>
          Password
          <input name="new-user-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required aria-invalid={!!pwProblem} />
        </label>
        <label>
          Role
          <select name="new-user-role" value={role} onChange={(e) => setRole(e.target.value as User["role"])}>
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </label>
      </div>
      {nameProblem && <p className="error">Username: {nameProblem}</p>}
      {pwProblem && <p className="error">Password: {pwProblem}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row">
        <button type="submit" disabled={busy || !ready}>
          {busy ? "Creating…" : "Create user"}
        </button>
      </div>
    </form>
  );
}
