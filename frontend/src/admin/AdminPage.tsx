import { useState } from "react";
import { accountsApi, type Account, type User } from "../api/rest";
import { usePoll } from "../ui/usePoll";
import { CreateUserForm } from "./CreateUserForm";
import { UserRow, type RowActions } from "./UserRow";
import { filterUsers, sortUsers } from "./users";

type Status = { kind: "notice" | "error"; text: string } | null;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Admins' page: the platform's users (create, role, disable or enable, reset password, delete). */
export function AdminPage({ user }: { user: User }) {
  if (user.role !== "admin") {
    return (
      <main className="page">
        <p className="error">Only admins see this page.</p>
      </main>
    );
  }
  return <Users me={user} />;
}

function Users({ me }: { me: User }) {
  const { data, error, refresh } = usePoll(accountsApi.users, 10000);
  const [status, setStatus] = useState<Status>(null);
  const [query, setQuery] = useState("");
  /** Runs an action, then says how it went and reloads the list. */
  const act = (what: string, run: () => Promise<unknown>, done: string) => {
    setStatus(null);
    return run().then(
      () => {
        setStatus({ kind: "notice", text: done });
        refresh();
      },
      (e: unknown) => {
        setStatus({ kind: "error", text: `${what} failed: ${message(e)}` });
        refresh();
      },
    );
  };
  const actionsFor = (u: Account): RowActions => ({
    setRole: (role) => void act(`Changing the role of ${u.username}`, () => accountsApi.updateUser(u.username, { role }), `${u.username} is now ${role === "admin" ? "an admin" : "a user"}.`),
    setDisabled: (disabled) =>
      void act(
        `${disabled ? "Disabling" : "Enabling"} ${u.username}`,
        () => accountsApi.updateUser(u.username, { disabled }),
        disabled ? `${u.username} is disabled: their logins, sessions and keys are refused.` : `${u.username} is enabled again.`,
      ),
    resetPassword: (password) => act(`Resetting the password of ${u.username}`, () => accountsApi.resetPassword(u.username, password), `The password of ${u.username} is reset; their sessions were logged out.`),
    remove: () => void act(`Deleting ${u.username}`, () => accountsApi.deleteUser(u.username), `${u.username} is deleted.`),
  });
  const users = data ?? [];
  const shown = sortUsers(filterUsers(users, query));
  return (
    <main className="page admin">
      <h1>Users</h1>
      <CreateUserForm
        onCreated={(u) => {
          setStatus({ kind: "notice", text: `${u.username} is created (${u.role}).` });
          refresh();
        }}
      />
      {status && (
        <p className={status.kind} role={status.kind === "error" ? "alert" : "status"}>
          {status.text}
        </p>
      )}
      {error && <p className="error" role="alert">Could not load the users: {error}</p>}
      {users.length > 5 && (
        <label className="inline find-user">
          Find
          <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="part of a username" />
        </label>
      )}
      <ul className="list" aria-label="users">
        {shown.map((u) => (
          <UserRow key={u.id} user={u} me={me} users={users} actions={actionsFor(u)} />
        ))}
      </ul>
      {data && shown.length === 0 && <p className="muted">No user matches “{query}”.</p>}
    </main>
  );
}
