import { describe, expect, it } from "vitest";
import type { Schedule, Session } from "../api/rest";
import {
  DEFAULT_CRON,
  PRESETS,
  createBody,
  cronInWords,
  cronProblem,
  draftProblems,
  durationText,
  isTimeZone,
  lastOutcome,
  readyProblem,
  runRows,
  sortSchedules,
  splitError,
  targetChoices,
  untilText,
  type ScheduleDraft,
} from "./schedules";

const NOW = Date.parse("2026-12-04T10:00:00Z");
const draft = (fields: Partial<ScheduleDraft> = {}): ScheduleDraft => ({
  name: "",
  schedule: DEFAULT_CRON,
  timeZone: "Europe/Berlin",
  prompt: "Summarise the day",
  target: "",
  concurrencyPolicy: "Forbid",
  ...fields,
});
const schedule = (name: string, fields: Partial<Schedule> = {}): Schedule => ({
  metadata: { name },
  spec: { schedule: "0 9 * * *", prompt: "hi", target: { newSession: { workspaceRef: { name: "dev" } } } },
  ...fields,
});
const session = (name: string, displayName?: string, labels?: Record<string, string>): Session => ({
  metadata: { name, labels },
  spec: { workspaceRef: { name: "dev" }, displayName },
});

describe("cron in words", () => {
  it("says each preset as its label", () => {
    for (const preset of PRESETS) expect(cronInWords(preset.cron)).toBe(preset.label);
    expect(PRESETS.some((p) => p.cron === DEFAULT_CRON)).toBe(true);
  });
  it("says the macros and the common shapes", () => {
    expect(cronInWords("@hourly")).toBe("every hour");
    expect(cronInWords(" @daily ")).toBe("every day at 00:00");
    expect(cronInWords("@weekly")).toBe("every Sunday at 00:00");
    expect(cronInWords("* * * * *")).toBe("every minute");
    expect(cronInWords("*/15 * * * *")).toBe("every 15 minutes");
    expect(cronInWords("30 * * * *")).toBe("every hour at minute 30");
    expect(cronInWords("0 */6 * * *")).toBe("every 6 hours");
    expect(cronInWords("30  8,17 * * *")).toBe("every day at 08:30 and 17:30");
    expect(cronInWords("0 9 * * MON-FRI")).toBe("every weekday at 09:00");
    expect(cronInWords("0 9 * * 1,3,5")).toBe("every Monday, Wednesday and Friday at 09:00");
    expect(cronInWords("0 9 * * 7")).toBe("every Sunday at 09:00");
    expect(cronInWords("0 9 * * sat,sun")).toBe("every Saturday and Sunday at 09:00");
    expect(cronInWords("0 0 2 * *")).toBe("on the 2nd of every month at 00:00");
    expect(cronInWords("0 0 23 * *")).toBe("on the 23rd of every month at 00:00");
    expect(cronInWords("0 0 11 * *")).toBe("on the 11th of every month at 00:00");
  });
  it("gives up on what takes more than a phrase", () => {
    for (const cron of ["0 9 1 1 *", "0 9 1 * 1", "0 9-17 * * *", "5,10 9 * * *", "0 9 * * 8", "0 24 * * *", "0 9 * *", "@reboot", "", "*/0 * * * *"]) {
      expect(cronInWords(cron)).toBeNull();
    }
  });
});

describe("the create form's checks", () => {
  it("takes five fields or a macro", () => {
    expect(cronProblem("0 9 * * 1-5")).toBeNull();
    expect(cronProblem("  0   9 * * *  ")).toBeNull();
    expect(cronProblem("@daily")).toBeNull();
    expect(cronProblem("")).toMatch(/^required/);
    expect(cronProblem("0 0 9 * * *")).toMatch(/not six/);
    expect(cronProblem("0 9 * *")).toMatch(/not 4/);
    expect(cronProblem("@every 5m")).toMatch(/one word/);
    expect(cronProblem(`${"1,".repeat(70)}1 * * * *`)).toMatch(/at most 128/);
  });
  it("wants a prompt, a fitting name and a known time zone", () => {
    expect(draftProblems(draft())).toEqual({});
    expect(draftProblems(draft({ timeZone: "" }))).toEqual({}); // UTC
    expect(Object.keys(draftProblems(draft({ prompt: "  \n " })))).toEqual(["prompt"]);
    expect(draftProblems(draft({ prompt: "x".repeat(16_385) })).prompt).toMatch(/at most 16384/);
    expect(draftProblems(draft({ name: "Daily_Report" })).name).toMatch(/lowercase/);
    expect(draftProblems(draft({ name: "a".repeat(64) })).name).toMatch(/at most 63/);
    expect(draftProblems(draft({ name: "daily-report" }))).toEqual({});
    expect(draftProblems(draft({ name: "daily.report" }))).toEqual({});
    expect(draftProblems(draft({ name: "-daily" })).name).toMatch(/starting and ending/);
    expect(draftProblems(draft({ timeZone: "Mars/Olympus" })).timeZone).toMatch(/not a time zone/);
    expect(draftProblems(draft({ schedule: "often" })).schedule).toMatch(/five fields/);
    // The zone check is the engine's; a stand-in decides here.
    expect(draftProblems(draft({ timeZone: "Europe/Berlin" }), () => false).timeZone).toBeDefined();
  });
  it("knows IANA zones", () => {
    expect(isTimeZone("UTC")).toBe(true);
    expect(isTimeZone("America/New_York")).toBe(true);
    expect(isTimeZone("Nowhere/Land")).toBe(false);
  });
});

describe("the body sent", () => {
  it("targets a new session in the workspace by default, without a name when none is given", () => {
    expect(createBody(draft({ schedule: " 0  9 * * 1-5 ", prompt: " go \n" }), "dev")).toEqual({
      spec: {
        schedule: "0 9 * * 1-5",
        timeZone: "Europe/Berlin",
        prompt: "go",
        target: { newSession: { workspaceRef: { name: "dev" } } },
        concurrencyPolicy: "Forbid",
      },
    });
  });
  it("names an existing session, and leaves out an empty time zone", () => {
    const body = createBody(draft({ name: "nightly", timeZone: "", target: "dev-x1", concurrencyPolicy: "Replace" }), "dev");
    expect(body.name).toBe("nightly");
    expect(body.spec.target).toEqual({ sessionRef: { name: "dev-x1" } });
    expect(body.spec.concurrencyPolicy).toBe("Replace");
    expect("timeZone" in body.spec).toBe(false);
  });
  it("finds the field a gateway error names", () => {
    expect(splitError('spec.schedule: "x" is not a cron schedule')).toEqual({ field: "schedule", text: '"x" is not a cron schedule' });
    expect(splitError("spec.timeZone: bad")).toEqual({ field: "timeZone", text: "bad" });
    expect(splitError('spec.target.sessionRef.name: session "dev-x9" not found')).toEqual({ field: "target", text: 'session "dev-x9" not found' });
    expect(splitError('name: "A" must be a lowercase DNS-1123 name')).toEqual({ field: "name", text: '"A" must be a lowercase DNS-1123 name' });
    expect(splitError("metadata.name: taken").field).toBe("name");
    expect(splitError("spec.prompt: must be 1 to 16384 characters of text").field).toBe("prompt");
    for (const other of ['workspace "dev" not found', "spec.schedules: nope", "spec.runTimeout: too long", "spec.prompt"]) {
      expect(splitError(other)).toEqual({ field: null, text: other });
    }
  });
});

describe("schedules as listed", () => {
  it("offers the workspace's own sessions as targets, by title, not those runs made", () => {
    const choices = targetChoices([
      session("dev-b", "Zed"),
      session("dev-a"),
      session("nightly-29000000", undefined, { "oqto.dev/schedule": "nightly" }),
      session("dev-c", "  Alpha "),
    ]);
    expect(choices).toEqual([
      { name: "dev-c", title: "Alpha" },
      { name: "dev-a", title: "dev-a" },
      { name: "dev-b", title: "Zed" },
    ]);
  });
  it("tells the last outcome and a Ready complaint", () => {
    const s = schedule("a", {
      status: {
        runs: [
          { scheduledAt: "2026-12-04T09:00:00Z", session: "s2", outcome: "Failed" },
          { scheduledAt: "2026-12-03T09:00:00Z", session: "s1", outcome: "Succeeded" },
        ],
        conditions: [{ type: "Ready", status: "False", reason: "SessionNotFound", message: "session dev-x9 does not exist" }],
      },
    });
    expect(lastOutcome(s)).toBe("Failed");
    expect(lastOutcome(schedule("b"))).toBeUndefined();
    expect(readyProblem(s)).toBe("session dev-x9 does not exist");
    expect(readyProblem(schedule("c", { status: { conditions: [{ type: "Ready", status: "True" }] } }))).toBeNull();
    expect(readyProblem(schedule("d", { status: { conditions: [{ type: "Ready", status: "False", reason: "BadSchedule" }] } }))).toBe("BadSchedule");
  });
  it("sorts by name without touching the list given", () => {
    const list = [schedule("b"), schedule("a")];
    expect(sortSchedules(list).map((s) => s.metadata.name)).toEqual(["a", "b"]);
    expect(list[0]?.metadata.name).toBe("b");
  });
  it("says when the next run is due", () => {
    expect(untilText("2026-12-04T13:00:00Z", NOW)).toBe("in 3 hours");
    expect(untilText("2026-12-04T10:00:20Z", NOW)).toBe("in 1 minute");
    expect(untilText("2026-12-04T09:59:00Z", NOW)).toBe("now");
    expect(untilText("garbage", NOW)).toBe("");
  });
});

describe("the runs table", () => {
  it("puts runs in progress first, newest first, then the finished ones as recorded", () => {
    const s = schedule("a", {
      status: {
        active: [
          { scheduledAt: "2026-12-04T09:00:00Z", startedAt: "2026-12-04T09:00:01Z", session: "a-old" },
          { scheduledAt: "2026-12-04T09:30:00Z", startedAt: "2026-12-04T09:30:00Z", session: "a-new" },
        ],
        runs: [
          { scheduledAt: "2026-12-04T08:00:00Z", startedAt: "2026-12-04T08:00:02Z", finishedAt: "2026-12-04T08:03:07Z", session: "a-8", outcome: "Succeeded" },
          // The operator names the Session the run would have made; it was never made.
          { scheduledAt: "2026-12-04T07:00:00Z", session: "a-29939520", outcome: "Skipped", message: "an earlier run was still in progress (concurrencyPolicy)" },
        ],
      },
    });
    const rows = runRows(s, NOW);
    expect(rows.map((r) => [r.session, r.running, r.outcome, r.duration])).toEqual([
      ["a-new", true, undefined, "30 min"],
      ["a-old", true, undefined, "59 min 59 s"],
      ["a-8", false, "Succeeded", "3 min 5 s"],
      ["", false, "Skipped", null],
    ]);
    expect(rows[3]?.message).toMatch(/earlier run/);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
    expect(runRows(schedule("b"), NOW)).toEqual([]);
    // A skipped run of an existing Session's schedule still links to that Session.
    const existing = schedule("c", {
      spec: { schedule: "0 9 * * *", prompt: "hi", target: { sessionRef: { name: "mine" } } },
      status: { runs: [{ scheduledAt: "2026-12-04T07:00:00Z", session: "mine", outcome: "Skipped" }] },
    });
    expect(runRows(existing, NOW).map((r) => r.session)).toEqual(["mine"]);
  });
  it("says durations in whole seconds, minutes and hours", () => {
    expect(durationText(0)).toBe("0 s");
    expect(durationText(44_600)).toBe("45 s");
    expect(durationText(120_000)).toBe("2 min");
    expect(durationText(7_830_000)).toBe("2 h 10 min");
    expect(durationText(3_600_000)).toBe("1 h");
    expect(durationText(-5)).toBe("0 s");
  });
});
