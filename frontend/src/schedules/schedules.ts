/** Schedules as the workspace page shows and creates them: cron in words, the form's checks, the
 * runs table. No I/O; the clock is a parameter. */
import type { ConcurrencyPolicy, RunOutcome, Schedule, ScheduleSpec, Session } from "../api/rest";
import { span } from "../account/keys";

/** The cadences offered in the form; each label is what `cronInWords` says of its cron. */
export const PRESETS: { label: string; cron: string }[] = [
  { label: "every hour", cron: "0 * * * *" },
  { label: "every day at 09:00", cron: "0 9 * * *" },
  { label: "every weekday at 09:00", cron: "0 9 * * 1-5" },
  { label: "every Monday at 09:00", cron: "0 9 * * 1" },
  { label: "on the 1st of every month at 09:00", cron: "0 9 1 * *" },
];
export const DEFAULT_CRON = "0 9 * * *";

export const POLICIES: { value: ConcurrencyPolicy; label: string }[] = [
  { value: "Forbid", label: "skip the new run" },
  { value: "Replace", label: "stop the earlier run" },
  { value: "Allow", label: "run both" },
];

/** Bounds of the Schedule resource (operator/api/src/schedule.rs). */
export const MAX_PROMPT_CHARS = 16_384;
export const MAX_CRON_CHARS = 128;
/** The name is also the value of the `oqto.dev/schedule` label on the runs' sessions, and a
 * label value has at most 63 characters (the gateway itself takes longer names). */
export const MAX_NAME_CHARS = 63;

/** A DNS-1123 name, as the gateway checks it. */
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const int = (field: string, min: number, max: number): number | null => {
  if (!/^\d{1,2}$/.test(field)) return null;
  const n = Number(field);
  return n >= min && n <= max ? n : null;
};
const clock = (hour: number, minute: number) => `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
const ordinal = (n: number) => {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
};
/** "Monday", "Monday and Friday", "Monday, Wednesday and Friday". */
const and = (words: string[]) => (words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`);
const weekday = (field: string): number | null => {
  const named = DAY_NAMES.indexOf(field.toUpperCase());
  if (named >= 0) return named;
  const n = int(field, 0, 7);
  return n === null ? null : n % 7;
};

/** A cron expression in words when it is a common one ("every weekday at 09:00"); null when
 * saying it would take more than a phrase (the raw expression is shown anyway). */
export function cronInWords(cron: string): string | null {
  const text = cron.trim();
  switch (text.toLowerCase()) {
    case "@hourly":
      return "every hour";
    case "@daily":
    case "@midnight":
      return "every day at 00:00";
    case "@weekly":
      return "every Sunday at 00:00";
    case "@monthly":
      return "on the 1st of every month at 00:00";
    case "@yearly":
    case "@annually":
      return "every 1 January at 00:00";
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return null;
  const [min, hour, dom, month, dow] = fields as [string, string, string, string, string];
  if (month !== "*") return null;
  const every = /^\*\/(\d{1,2})$/;
  if (hour === "*" && dom === "*" && dow === "*") {
    if (min === "*") return "every minute";
    const step = every.exec(min);
    if (step) {
      const n = Number(step[1]);
      return n < 1 || n > 59 ? null : n === 1 ? "every minute" : `every ${n} minutes`;
    }
    const m = int(min, 0, 59);
    if (m === null) return null;
    return m === 0 ? "every hour" : `every hour at minute ${m}`;
  }
  const m = int(min, 0, 59);
  if (m === null) return null;
  const hourStep = every.exec(hour);
  if (hourStep && dom === "*" && dow === "*") {
    const n = Number(hourStep[1]);
    if (n < 1 || n > 23) return null;
    const base = n === 1 ? "every hour" : `every ${n} hours`;
    return m === 0 ? base : `${base} at minute ${m}`;
  }
  const hours = hour.split(",").map((h) => int(h, 0, 23));
  if (hours.some((h) => h === null)) return null;
  const at = `at ${and((hours as number[]).map((h) => clock(h, m)))}`;
  if (dom === "*" && dow === "*") return `every day ${at}`;
  if (dom === "*") {
    if (dow === "1-5" || dow.toUpperCase() === "MON-FRI") return `every weekday ${at}`;
    if (["0,6", "6,0", "6,7", "6-7", "SAT,SUN", "SUN,SAT"].includes(dow.toUpperCase())) return `every Saturday and Sunday ${at}`;
    const days = dow.split(",").map(weekday);
    if (days.some((d) => d === null) || new Set(days).size !== days.length) return null;
    return `every ${and((days as number[]).map((d) => DAYS[d]!))} ${at}`;
  }
  if (dow === "*") {
    const day = int(dom, 1, 31);
    return day === null ? null : `on the ${ordinal(day)} of every month ${at}`;
  }
  return null;
}

/** Why a cron expression cannot be right, seen without parsing it; null when it may be. */
export function cronProblem(cron: string): string | null {
  const text = cron.trim();
  if (!text) return "required: five fields (minute hour day-of-month month day-of-week) or a macro such as @daily";
  if (text.length > MAX_CRON_CHARS) return `at most ${MAX_CRON_CHARS} characters`;
  if (text.startsWith("@")) return /^@[a-z]+$/i.test(text) ? null : "a macro is one word: @hourly, @daily, @weekly, @monthly or @yearly";
  const count = text.split(/\s+/).length;
  if (count === 5) return null;
  if (count === 6) return "five fields, not six: runs are whole minutes, there is no seconds field";
  return `five fields (minute hour day-of-month month day-of-week), not ${count}, or a macro such as @daily`;
}

/** Whether this JavaScript engine knows the IANA time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The browser's time zone, the form's default. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** The create form as typed. `target`: "" for a new session each run, else a session's name. */
export interface ScheduleDraft {
  name: string;
  /** The cron expression (`spec.schedule`). */
  schedule: string;
  timeZone: string;
  prompt: string;
  target: string;
  concurrencyPolicy: ConcurrencyPolicy;
}

export type DraftField = keyof ScheduleDraft;
export type DraftProblems = Partial<Record<DraftField, string>>;

/** What is wrong with the draft before it is sent, by field. */
export function draftProblems(draft: ScheduleDraft, knownZone: (zone: string) => boolean = isTimeZone): DraftProblems {
  const problems: DraftProblems = {};
  const name = draft.name.trim();
  if (name && !NAME.test(name)) problems.name = "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";
  else if (name.length > MAX_NAME_CHARS) problems.name = `at most ${MAX_NAME_CHARS} characters`;
  const cron = cronProblem(draft.schedule);
  if (cron) problems.schedule = cron;
  const zone = draft.timeZone.trim();
  if (zone && !knownZone(zone)) problems.timeZone = `"${zone}" is not a time zone: an IANA name such as Europe/Berlin, or UTC`;
  if (!draft.prompt.trim()) problems.prompt = "required: what each run sends to the agent";
  else if (draft.prompt.length > MAX_PROMPT_CHARS) problems.prompt = `at most ${MAX_PROMPT_CHARS} characters, not ${draft.prompt.length}`;
  return problems;
}

/** The body of `POST /api/workspaces/{workspace}/schedules`. */
export function createBody(draft: ScheduleDraft, workspace: string): { name?: string; spec: ScheduleSpec } {
  const name = draft.name.trim();
  const zone = draft.timeZone.trim();
  const spec: ScheduleSpec = {
    schedule: draft.schedule.trim().replace(/\s+/g, " "),
    ...(zone ? { timeZone: zone } : {}),
    prompt: draft.prompt.trim(),
    target: draft.target ? { sessionRef: { name: draft.target } } : { newSession: { workspaceRef: { name: workspace } } },
    concurrencyPolicy: draft.concurrencyPolicy,
  };
  return name ? { name, spec } : { spec };
}

/** The form field a gateway error names ("spec.schedule: … is not a cron schedule"), if any,
 * and the error without that prefix (shown next to the field, under the field's own label). */
export function splitError(message: string): { field: DraftField | null; text: string } {
  const match = /^(?:spec\.|metadata\.)?(name|schedule|timeZone|prompt|target|concurrencyPolicy)\b[\w.]*: /.exec(message.trim());
  if (!match) return { field: null, text: message };
  return { field: match[1] as DraftField, text: message.trim().slice(match[0].length) };
}

/** The sessions a schedule may prompt: the workspace's own, not those runs of a schedule made
 * (they go when the history limits drop their run), by title. */
export function targetChoices(sessions: Session[]): { name: string; title: string }[] {
  return sessions
    .filter((s) => !s.metadata.labels?.["oqto.dev/schedule"])
    .map((s) => ({ name: s.metadata.name, title: s.spec.displayName?.trim() || s.metadata.name }))
    .sort((a, b) => a.title.localeCompare(b.title) || a.name.localeCompare(b.name));
}

/** The outcome of the newest finished run. */
export function lastOutcome(schedule: Schedule): RunOutcome | undefined {
  return schedule.status?.runs?.[0]?.outcome;
}

/** The Ready condition's complaint (a bad schedule, a missing session), when it is not ready. */
export function readyProblem(schedule: Schedule): string | null {
  const ready = schedule.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status !== "False") return null;
  return ready.message || ready.reason || "not ready";
}

/** "in 3 hours", "now" for a time due or past (the operator has yet to start it). */
export function untilText(at: string, now: number): string {
  const ms = Date.parse(at) - now;
  if (Number.isNaN(ms)) return "";
  return ms <= 0 ? "now" : `in ${span(ms, "up")}`;
}

/** "45 s", "3 min 5 s", "2 h 10 min". */
export function durationText(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
}

export interface RunRow {
  key: string;
  running: boolean;
  scheduledAt: string;
  outcome?: RunOutcome;
  /** From the prompt to the end (or to now, while running); null for a run that never started. */
  duration: string | null;
  message?: string;
  session: string;
}

/** The runs table: runs in progress first, then the finished ones newest first. */
export function runRows(schedule: Schedule, now: number): RunRow[] {
  const row = (run: NonNullable<NonNullable<Schedule["status"]>["runs"]>[number], running: boolean): RunRow => {
    const start = run.startedAt ? Date.parse(run.startedAt) : NaN;
    const end = running ? now : run.finishedAt ? Date.parse(run.finishedAt) : NaN;
    return {
      key: `${running ? "active" : "done"}/${run.scheduledAt}/${run.session}`,
      running,
      scheduledAt: run.scheduledAt,
      outcome: running ? undefined : run.outcome,
      duration: Number.isNaN(start) || Number.isNaN(end) ? null : durationText(end - start),
      message: run.message,
      // A skipped run of a new-session schedule never made the Session it names.
      session: !running && run.outcome === "Skipped" && schedule.spec.target.newSession ? "" : run.session,
    };
  };
  const byNewest = (a: { scheduledAt: string }, b: { scheduledAt: string }) => Date.parse(b.scheduledAt) - Date.parse(a.scheduledAt);
  const active = [...(schedule.status?.active ?? [])].sort(byNewest).map((r) => row(r, true));
  return [...active, ...(schedule.status?.runs ?? []).map((r) => row(r, false))];
}

/** Schedules by name. */
export function sortSchedules(schedules: Schedule[]): Schedule[] {
  return [...schedules].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** A time in the browser's zone and language, short. */
export function localTime(at: string): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
