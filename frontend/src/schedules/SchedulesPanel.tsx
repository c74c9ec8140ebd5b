import { useMemo, useRef, useState, type FormEvent } from "react";
import { ApiError, schedulesApi, type ConcurrencyPolicy, type Schedule, type Session } from "../api/rest";
import { ConfirmButton } from "../ui/ConfirmButton";
import { navigate, routePath } from "../ui/router";
import { usePoll } from "../ui/usePoll";
import {
  DEFAULT_CRON,
  POLICIES,
  PRESETS,
  browserTimeZone,
  createBody,
  cronInWords,
  draftProblems,
  lastOutcome,
  localTime,
  readyProblem,
  runRows,
  sortSchedules,
  splitError,
  targetChoices,
  untilText,
  type DraftField,
  type ScheduleDraft,
} from "./schedules";

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A workspace's schedules: list, create, pause and resume, delete, and each one's runs. Runs
 * change in the background, so the list is loaded again every 5 s while the panel shows. */
export function SchedulesPanel({ workspace, sessions }: { workspace: string; sessions: Session[] | undefined }) {
  const { data, error, refresh } = usePoll(() => schedulesApi.list(workspace), 5000);
  const [creating, setCreating] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [pending, setPending] = useState<string | null>(null);
  const now = Date.now();
  const act = (name: string, what: string, action: () => Promise<unknown>) => {
    setActionError(null);
    setPending(name);
    action()
      .then(refresh)
      .catch((e: unknown) => setActionError(`${what} ${name} failed: ${message(e)}`))
      .finally(() => setPending(null));
  };
  return (
    <section className="schedules" aria-labelledby="schedules-title">
      <div className="row">
        <h2 id="schedules-title">Schedules</h2>
        <span className="spacer" />
        <button type="button" className="ghost" aria-expanded={creating} aria-controls="new-schedule" onClick={() => setCreating(!creating)}>
          New schedule
        </button>
      </div>
      {creating && (
        <CreateSchedule
          workspace={workspace}
          sessions={sessions ?? []}
          onCancel={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            refresh();
          }}
        />
      )}
      {error && (
        <p className="error" role="alert">
          Could not load the schedules: {error}
        </p>
      )}
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}
      {data && data.length === 0 && !creating && <p className="muted">No schedules yet: a schedule sends a prompt to an agent at set times.</p>}
      <ul className="list" aria-label="schedules">
        {data &&
          sortSchedules(data).map((s) => (
            <ScheduleItem
              key={s.metadata.name}
              workspace={workspace}
              schedule={s}
              now={now}
              busy={pending === s.metadata.name}
              onSuspend={(suspend) =>
                act(s.metadata.name, suspend ? "Pausing" : "Resuming", () => schedulesApi.update(workspace, s.metadata.name, { suspend }))
              }
              onDelete={() => act(s.metadata.name, "Deleting", () => schedulesApi.remove(workspace, s.metadata.name))}
            />
          ))}
      </ul>
    </section>
  );
}

function ScheduleItem({
  workspace,
  schedule,
  now,
  busy,
  onSuspend,
  onDelete,
}: {
  workspace: string;
  schedule: Schedule;
  now: number;
  busy: boolean;
  onSuspend: (suspend: boolean) => void;
  onDelete: () => void;
}) {
  const [open, setOpen] = useState(false);
  const { metadata, spec, status } = schedule;
  const name = metadata.name;
  const words = cronInWords(spec.schedule);
  const last = lastOutcome(schedule);
  const active = status?.active?.length ?? 0;
  const runs = active + (status?.runs?.length ?? 0);
  const problem = readyProblem(schedule);
  const next = status?.nextScheduleTime;
  const runsId = `schedule-runs-${name}`;
  const target = spec.target.sessionRef?.name;
  return (
    <li className="item schedule">
      <strong className="schedule-name">{name}</strong>
      {spec.suspend && <span className="badge schedule-paused">Paused</span>}
      {active > 0 && <span className="badge outcome-running">running</span>}
      {last && (
        <span className={`badge outcome-${last.toLowerCase()}`} title="how the last run ended">
          last run: {last.toLowerCase()}
        </span>
      )}
      <span className="spacer" />
      <span className="row schedule-actions">
        <button type="button" className="ghost" aria-expanded={open} aria-controls={runsId} onClick={() => setOpen(!open)}>
          Runs ({runs})
        </button>
        <button type="button" className="ghost" disabled={busy} onClick={() => onSuspend(!spec.suspend)}>
          {spec.suspend ? "Resume" : "Pause"}
        </button>
        <ConfirmButton label="Delete" question={`Delete schedule ${name}? No more runs start.`} confirmLabel="Delete schedule" onConfirm={onDelete} />
      </span>
      <p className="schedule-line small">
        {words && <>{words} · </>}
        <code>{spec.schedule}</code> · {spec.timeZone || "UTC"}
      </p>
      <p className="schedule-line small muted" data-testid="schedule-next">
        {spec.suspend
          ? "Paused: no new runs start."
          : next
            ? `next run ${localTime(next)} (${untilText(next, now)})`
            : problem
              ? "no next run"
              : "next run not planned yet"}
      </p>
      <p className="schedule-line schedule-prompt" title={spec.prompt}>
        {spec.prompt}
      </p>
      <p className="schedule-line small muted">
        {target ? (
          <>
            each run prompts session <SessionLink workspace={workspace} session={target} />
          </>
        ) : (
          "each run in a new session"
        )}
        {" · "}
        {POLICIES.find((p) => p.value === (spec.concurrencyPolicy ?? "Forbid"))?.label ?? spec.concurrencyPolicy} while one is in progress
      </p>
      {problem && (
        <p className="schedule-line error small" role="status">
          {problem}
        </p>
      )}
      {open && <RunsTable id={runsId} workspace={workspace} schedule={schedule} now={now} />}
    </li>
  );
}

function SessionLink({ workspace, session }: { workspace: string; session: string }) {
  const route = { page: "session", workspace, session, tab: "chat" } as const;
  return (
    <a
      href={routePath(route)}
      onClick={(e) => {
        e.preventDefault();
        navigate(route);
      }}
    >
      {session}
    </a>
  );
}

function RunsTable({ id, workspace, schedule, now }: { id: string; workspace: string; schedule: Schedule; now: number }) {
  const rows = runRows(schedule, now);
  return (
    <div className="schedule-runs" id={id}>
      {rows.length === 0 ? (
        <p className="muted small">No runs yet.</p>
      ) : (
        <table className="usage" aria-label={`runs of ${schedule.metadata.name}`}>
          <thead>
            <tr>
              <th scope="col">Due</th>
              <th scope="col">Outcome</th>
              <th scope="col">Duration</th>
              <th scope="col">Session</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key}>
                <td>{localTime(r.scheduledAt)}</td>
                <td>
                  {r.running ? (
                    <span className="badge outcome-running">running</span>
                  ) : (
                    <span className={`badge outcome-${(r.outcome ?? "unknown").toLowerCase()}`}>{r.outcome?.toLowerCase() ?? "unknown"}</span>
                  )}
                </td>
                <td className="num">{r.duration ?? "—"}</td>
                <td>{r.session ? <SessionLink workspace={workspace} session={r.session} /> : "—"}</td>
                <td className="schedule-message">{r.message ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const CUSTOM = "custom";

function CreateSchedule({
  workspace,
  sessions,
  onCreated,
  onCancel,
}: {
  workspace: string;
  sessions: Session[];
  onCreated: (schedule: Schedule) => void;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<ScheduleDraft>(() => ({
    name: "",
    schedule: DEFAULT_CRON,
    timeZone: browserTimeZone(),
    prompt: "",
    target: "",
    concurrencyPolicy: "Forbid",
  }));
  const [edited, setEdited] = useState<Set<DraftField>>(() => new Set());
  const [attempted, setAttempted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [serverError, setServerError] = useState<{ field: DraftField | null; message: string } | null>(null);
  const form = useRef<HTMLFormElement>(null);
  const zones = useMemo(() => {
    try {
      return ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];
    } catch {
      return ["UTC"];
    }
  }, []);
  const choices = targetChoices(sessions);
  if (draft.target && !choices.some((c) => c.name === draft.target)) choices.push({ name: draft.target, title: `${draft.target} (not found)` });

  const problems = draftProblems(draft);
  const shownProblem = (field: DraftField) =>
    (attempted || edited.has(field) ? problems[field] : undefined) ?? (serverError?.field === field ? serverError.message : undefined);
  // A field's problem shows once it was edited (or on submit), as it is typed: not when it loses
  // the focus, which would move the submit button from under the pointer that is clicking it.
  const set = <K extends DraftField>(field: K, value: ScheduleDraft[K]) => {
    setDraft((d) => ({ ...d, [field]: value }));
    setEdited((t) => (t.has(field) ? t : new Set([...t, field])));
    if (serverError?.field === field) setServerError(null);
  };
  /** Props tying a field to its error text. */
  const invalid = (field: DraftField, hint?: string) => {
    const problem = shownProblem(field);
    const ids = [problem ? `new-schedule-${field}-error` : null, hint ?? null].filter(Boolean).join(" ");
    return { "aria-invalid": !!problem, "aria-describedby": ids || undefined };
  };
  const errorFor = (field: DraftField, label: string) => {
    const problem = shownProblem(field);
    return (
      problem && (
        <p className="error field-error" id={`new-schedule-${field}-error`} role={serverError?.field === field ? "alert" : undefined}>
          {label}: {problem}
        </p>
      )
    );
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAttempted(true);
    if (Object.keys(problems).length > 0) {
      requestAnimationFrame(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    setBusy(true);
    setServerError(null);
    schedulesApi
      .create(workspace, createBody(draft, workspace))
      .then(onCreated)
      .catch((err: unknown) => {
        const text = message(err);
        const named = err instanceof ApiError && err.status === 422 ? splitError(text) : { field: null, text };
        setServerError({ field: named.field, message: named.text });
      })
      .finally(() => setBusy(false));
  };

  const preset = PRESETS.find((p) => p.cron === draft.schedule.trim().replace(/\s+/g, " "))?.cron ?? CUSTOM;
  const words = cronInWords(draft.schedule);
  return (
    <form ref={form} id="new-schedule" className="card form schedule-form" onSubmit={submit} aria-label="create a schedule" noValidate>
      <div className="fields">
        <label>
          Name (optional)
          <input
            name="schedule-name"
            value={draft.name}
            onChange={(e) => set("name", e.target.value.trim())}
            placeholder="chosen for you"
            autoComplete="off"
            {...invalid("name")}
          />
        </label>
        <label>
          Repeat
          <select
            name="schedule-preset"
            value={preset}
            onChange={(e) => {
              if (e.target.value !== CUSTOM) set("schedule", e.target.value);
            }}
          >
            {PRESETS.map((p) => (
              <option key={p.cron} value={p.cron}>
                {p.label}
              </option>
            ))}
            <option value={CUSTOM}>custom (cron)</option>
          </select>
        </label>
        <label>
          Cron schedule
          <input
            name="schedule-cron"
            className="schedule-cron"
            value={draft.schedule}
            onChange={(e) => set("schedule", e.target.value)}
            placeholder="0 9 * * 1-5"
            autoComplete="off"
            spellCheck={false}
            {...invalid("schedule", "new-schedule-cron-hint")}
          />
        </label>
        <label>
          Time zone
          <input
            name="schedule-time-zone"
            list="schedule-time-zones"
            value={draft.timeZone}
            onChange={(e) => set("timeZone", e.target.value.trim())}
            placeholder="UTC"
            autoComplete="off"
            {...invalid("timeZone")}
          />
          <datalist id="schedule-time-zones">
            {zones.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
        </label>
      </div>
      <p className="muted small schedule-hint" id="new-schedule-cron-hint">
        {words ? `Runs ${words}.` : "Five fields: minute hour day-of-month month day-of-week (0 or 7 is Sunday), or @hourly, @daily, @weekly, @monthly."}
      </p>
      {errorFor("name", "Name")}
      {errorFor("schedule", "Cron schedule")}
      {errorFor("timeZone", "Time zone")}
      <label>
        Prompt
        <textarea
          name="schedule-prompt"
          rows={3}
          value={draft.prompt}
          onChange={(e) => set("prompt", e.target.value)}
          placeholder="What each run asks the agent, e.g. “Summarise yesterday's commits in NOTES.md”"
          {...invalid("prompt")}
        />
      </label>
      {errorFor("prompt", "Prompt")}
      <div className="fields">
        <label>
          Runs go to
          <select name="schedule-target" value={draft.target} onChange={(e) => set("target", e.target.value)} {...invalid("target")}>
            <option value="">a new session each run</option>
            {choices.map((c) => (
              <option key={c.name} value={c.name}>
                session {c.title}
              </option>
            ))}
          </select>
        </label>
        <label>
          While a run is in progress
          <select
            name="schedule-concurrency"
            value={draft.concurrencyPolicy}
            onChange={(e) => set("concurrencyPolicy", e.target.value as ConcurrencyPolicy)}
            {...invalid("concurrencyPolicy")}
          >
            {POLICIES.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {draft.target && draft.concurrencyPolicy === "Allow" && (
        <p className="muted small schedule-hint">A session runs one turn at a time: runs sent to it do not overlap.</p>
      )}
      {errorFor("target", "Runs go to")}
      {errorFor("concurrencyPolicy", "While a run is in progress")}
      {serverError && serverError.field === null && (
        <p className="error" role="alert">
          {serverError.message}
        </p>
      )}
      <div className="row">
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create schedule"}
        </button>
        <button type="button" className="ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
