import type { User } from "../api/rest";
import { ApiKeys } from "./ApiKeys";
import { PasswordForm } from "./PasswordForm";

/** The signed-in user's own account: password and API keys. */
export function AccountPage({ user }: { user: User }) {
  return (
    <main className="page account">
      <h1>Account</h1>
      <p className="muted">
        Signed in as <strong>{user.username}</strong> ({user.role}).
      </p>
      <section className="card" aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <PasswordForm user={user} />
      </section>
      <section className="card" aria-labelledby="keys-title">
        <h2 id="keys-title">API keys</h2>
        <p className="muted small">For oqtoctl and scripts: a key acts as you until it expires or you revoke it.</p>
        <ApiKeys />
      </section>
    </main>
  );
}
