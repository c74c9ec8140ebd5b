import type { User } from "../api/rest";

/** Admins' page: the platform's users. */
export function AdminPage({ user }: { user: User }) {
  if (user.role !== "admin") return <main className="page"><p className="error">Only admins see this page.</p></main>;
  return (
    <main className="page">
      <h1>Users</h1>
    </main>
  );
}
