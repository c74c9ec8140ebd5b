import type { User } from "../api/rest";

/** The signed-in user's own account: password and API keys. */
export function AccountPage({ user }: { user: User }) {
  return (
    <main className="page">
      <h1>Account</h1>
      <p className="muted">{user.username}</p>
    </main>
  );
}
