import { useState } from "react";
import type { Account, User } from "../api/rest";
import { ConfirmButton } from "../ui/ConfirmButton";
import { navigate } from "../ui/router";
import { ResetPasswordForm } from "./ResetPasswordForm";
import { lastAdminProblem } from "./users";

export interface RowActions {
  setRole: (role: User["role"]) => void;
  setDisabled: (disabled: boolean) => void;
  resetPassword: (password: string) => Promise<void>;
  remove: () => void;
}

/** One user: role, state and what an admin can do to them. The admin's own row offers nothing:
 * they change their password on the account page, and another admin changes the rest. */
export function UserRow({ user, me, users, actions }: { user: Account; me: User; users: Account[]; actions: RowActions }) {
  const [resetting, setResetting] = useState(false);
  const self = user.username === me.username;
  const demoteProblem = lastAdminProblem(users, user, { role: "user" });
  return (
    <li className={user.disabled ? "item account-row disabled" : "item account-row"}>
      <strong className="account-name">{user.username}</strong>
      <span className={`badge role-${user.role}`}>{user.role}</span>
      {user.disabled && <span className="badge state-disabled">disabled</span>}
      {self && <span className="badge">you</span>}
      <span className="muted small">since {new Date(user.created_at).toLocaleDateString()}</span>
      <span className="spacer" />
      {self ? (
        <a
          href="/account"
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "account" });
          }}
        >
          Your account
        </a>
      ) : (
        <div className="row account-actions">
          <select
            aria-label={`role of ${user.username}`}
            value={user.role}
            title={demoteProblem ?? undefined}
            onChange={(e) => actions.setRole(e.target.value as User["role"])}
          >
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
          {user.disabled ? (
            <button type="button" className="ghost" onClick={() => actions.setDisabled(false)}>
              Enable
            </button>
          ) : (
            <ConfirmButton
              label="Disable"
              question={`Disable ${user.username}? They cannot log in, and their sessions and API keys are refused until enabled again.`}
              confirmLabel="Disable user"
              onConfirm={() => actions.setDisabled(true)}
            />
          )}
          <button type="button" className="ghost" aria-expanded={resetting} onClick={() => setResetting(!resetting)}>
            Reset password
          </button>
          <ConfirmButton
            label="Delete"
            question={`Delete ${user.username} and their API keys? Their workspaces are not deleted.`}
            confirmLabel="Delete user"
            onConfirm={actions.remove}
          />
        </div>
      )}
      {resetting && (
        <ResetPasswordForm
          username={user.username}
          onCancel={() => setResetting(false)}
          onReset={(password) => actions.resetPassword(password).then(() => setResetting(false))}
        />
      )}
    </li>
  );
}
