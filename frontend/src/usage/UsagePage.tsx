import { useState } from "react";
import { api, type RateLimit, type User, type UsageLine, type BudgetState, type UserTotal } from "../api/rest";
import { usePoll } from "../ui/usePoll";
import { cost, percent, tokens } from "./format";

type Period = "month" | "day";

/** The caller's LLM usage by Workspace and Session, their budgets, and (admins) every user's. */
export function UsagePage({ user }: { user: User }) {
  const [period, setPeriod] = useState<Period>("month");
  const mine = usePoll(() => api.usage(period), 10000);
  return (
    <main className="page">
      <h1>LLM usage</h1>
      <div className="tabs" role="tablist" aria-label="period">
        {(["month", "day"] as const).map((p) => (
          <button key={p} type="button" role="tab" aria-selected={period === p} className={period === p ? "tab active" : "tab"} onClick={() => setPeriod(p)}>
            This {p}
          </button>
        ))}
      </div>
      {mine.error && <Unavailable error={mine.error} />}
      {mine.data && (
        <>
          <Budgets budgets={mine.data.budgets} />
          <UsageTable lines={mine.data.lines} since={mine.data.since} />
        </>
      )}
      {user.role === "admin" && <AllUsers period={period} />}
    </main>
  );
}

function Unavailable({ error }: { error: string }) {
  return <p className={error.includes("no LLM proxy") ? "muted" : "error"} role="alert">{error}</p>;
}

function Budgets({ budgets }: { budgets: BudgetState[] }) {
  if (budgets.length === 0) return <p className="muted">No budget limits your usage.</p>;
  return (
    <section className="card" aria-label="budgets">
      <h2>Budgets</h2>
      <ul className="list">
        {budgets.map((b, i) => {
          const used = b.costUsd !== undefined ? percent(b.spentCost, b.costUsd) : percent(b.spentTokens, b.tokens ?? 0);
          const limit = b.costUsd !== undefined ? `${cost(b.spentCost)} of ${cost(b.costUsd)}` : `${tokens(b.spentTokens)} of ${tokens(b.tokens ?? 0)} tokens`;
          return (
            <li key={i} className="item budget">
              <span>per {b.period}</span>
              <meter min={0} max={100} value={Math.min(used, 100)} high={80} optimum={0} aria-label={`budget per ${b.period}`} />
              <span className={used >= 100 ? "error" : "muted"}>
                {limit} ({used}%) · starts again {new Date(b.resets).toLocaleString()}
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function UsageTable({ lines, since }: { lines: UsageLine[]; since: string }) {
  if (lines.length === 0) return <p className="muted">Nothing used since {new Date(since).toLocaleString()}.</p>;
  const total = lines.reduce((sum, l) => ({ tokens: sum.tokens + l.tokens, cost: sum.cost + l.cost, requests: sum.requests + l.requests }), { tokens: 0, cost: 0, requests: 0 });
  return (
    <table className="usage" aria-label="usage by session">
      <thead>
        <tr>
          <th>Workspace</th>
          <th>Session</th>
          <th className="num">Requests</th>
          <th className="num">Tokens</th>
          <th className="num">Cost</th>
        </tr>
      </thead>
      <tbody>
        {lines.map((l) => (
          <tr key={`${l.namespace}/${l.workspace}/${l.session}`}>
            <td>{l.workspace}</td>
            <td>{l.session}</td>
            <td className="num">{l.requests}</td>
            <td className="num">{tokens(l.tokens)}</td>
            <td className="num">{cost(l.cost)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th colSpan={2}>Since {new Date(since).toLocaleDateString()}</th>
          <th className="num">{total.requests}</th>
          <th className="num">{tokens(total.tokens)}</th>
          <th className="num">{cost(total.cost)}</th>
        </tr>
      </tfoot>
    </table>
  );
}

function AllUsers({ period }: { period: Period }) {
  const all = usePoll(() => api.allUsage(period), 10000);
  return (
    <section aria-label="every user's usage">
      <h2>All users</h2>
      {all.error && <Unavailable error={all.error} />}
      {all.data && all.data.users.length === 0 && <p className="muted">Nobody used a model this {period}.</p>}
      {all.data && all.data.users.length > 0 && (
        <table className="usage" aria-label="usage by user">
          <thead>
            <tr>
              <th>User</th>
              <th className="num">Requests</th>
              <th className="num">Tokens</th>
              <th className="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {all.data.users.map((u: UserTotal) => (
              <tr key={u.user}>
                <td>{u.user}</td>
                <td className="num">{u.requests}</td>
                <td className="num">{tokens(u.tokens)}</td>
                <td className="num">{cost(u.cost)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {all.data && <RateLimits limits={all.data.rateLimits ?? []} />}
    </section>
  );
}

function RateLimits({ limits }: { limits: RateLimit[] }) {
  if (limits.length === 0) return <p className="muted">No provider has reported its rate limits yet.</p>;
  return (
    <table className="usage" aria-label="provider rate limits">
      <thead>
        <tr>
          <th>Provider</th>
          <th>Limit</th>
          <th className="num">Remaining</th>
          <th>Seen</th>
        </tr>
      </thead>
      <tbody>
        {limits.map((l) => (
          <tr key={`${l.provider}/${l.limit}`}>
            <td>{l.provider}</td>
            <td>{l.limit}</td>
            <td className="num">{tokens(l.remaining)}</td>
            <td>{new Date(l.seen).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

