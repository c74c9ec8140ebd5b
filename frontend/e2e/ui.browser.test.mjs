// The web UI in real Chromium (Debian's), driven by playwright-core, against the real
// single-node stack with the demo provider (hack/up.sh). One user's path through the product,
// step by step, with a screenshot of each step in $OQTO_SCREENSHOTS.
//
//   OQTO_UI_URL=http://127.0.0.1:8080 OQTO_UI_PASSWORD=... \
//   OQTO_GATEWAY_CONTAINER=oqto-gateway node --test frontend/e2e/ui.browser.test.mjs
//
// The gateway is stopped and started with podman (or with the shell commands
// $OQTO_GATEWAY_STOP_CMD and $OQTO_GATEWAY_START_CMD, for a gateway that is not a container): the
// UI must notice and reconnect by itself. With $OQTO_GATEWAY_KILL_CMD (two gateways behind an
// ingress), the gateway holding the page's WebSocket is killed mid-answer as well.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, execSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.OQTO_UI_URL ?? "http://127.0.0.1:8080";
const user = process.env.OQTO_UI_USER ?? "admin";
const password = process.env.OQTO_UI_PASSWORD;
const gateway = process.env.OQTO_GATEWAY_CONTAINER ?? "oqto-gateway";
const shots = process.env.OQTO_SCREENSHOTS ?? join(process.cwd(), "test-results", "screenshots");
const browserPath = process.env.OQTO_CHROMIUM ?? "/usr/bin/chromium";
const stopGateway = () =>
  process.env.OQTO_GATEWAY_STOP_CMD
    ? execSync(process.env.OQTO_GATEWAY_STOP_CMD, { stdio: "ignore" })
    : execFileSync("podman", ["stop", "--time", "2", gateway], { stdio: "ignore" });
const startGateway = () =>
  process.env.OQTO_GATEWAY_START_CMD
    ? execSync(process.env.OQTO_GATEWAY_START_CMD, { stdio: "ignore" })
    : execFileSync("podman", ["start", gateway], { stdio: "ignore" });
/** A runner's cold start, a turn of the demo model: generous bounds on hangs, not speed tests. */
const LONG = 120_000;
/** The stack's Running warm spare Sessions (a command that prints their names), when it keeps them. */
const runningSpares = () =>
  process.env.OQTO_SPARES_CMD
    ? execSync(process.env.OQTO_SPARES_CMD, { encoding: "utf8" }).split("\n").filter(Boolean)
    : null;

assert.ok(password, "OQTO_UI_PASSWORD: the admin's password (hack/up.sh keeps it in $OQTO_HOME/admin-password)");

test("a user works with an agent in the browser", { timeout: 600_000 }, async (t) => {
  rmSync(shots, { recursive: true, force: true });
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  }); // playwright gives every launch a fresh, empty profile

  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  let shot = 0;
  const screenshot = async (name, of = page) => {
    shot += 1;
    const file = join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
    await of.screenshot({ path: file, fullPage: true });
  };
  /** A second tab on the same session, to see what another viewer sees. */
  let watcher;
  /** A REST call with the page's own login (its cookie). */
  const api = (of, method, path, body) =>
    of.evaluate(
      async ([method, path, body]) => {
        const r = await fetch(`/api${path}`, {
          method,
          credentials: "same-origin",
          headers: body ? { "content-type": "application/json" } : {},
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: r.status, body: await r.text() };
      },
      [method, path, body],
    );
  const workspace = `ui-${Date.now().toString(36)}`;
  const connection = page.getByTestId("connection");
  // Each step needs the ones before it: after a failure the rest are skipped, not timed out.
  let failed = false;
  const step = (name, fn) =>
    t.test(name, { skip: failed ? "an earlier step failed" : false }, async () => {
      try {
        await fn();
      } catch (error) {
        failed = true;
        await screenshot(`failed-${name.replace(/[^a-z0-9]+/gi, "-")}`).catch(() => {});
        throw error;
      }
    });

  try {
    await step("logs in with the keyboard alone", async () => {
      await page.goto(url);
      await page.getByLabel("Username").waitFor();
      await screenshot("login");
      await page.keyboard.type(user); // the username field has the focus
      await page.keyboard.press("Tab");
      await page.keyboard.type(password);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Workspaces" }).waitFor();
      await connection.filter({ hasText: "connected" }).waitFor();
      await screenshot("workspaces");
    });

    await step("refuses a bad workspace name where it is typed", async () => {
      await page.getByLabel("Name").fill("Not_A_Name");
      await page.getByText("Name: lowercase letters").waitFor();
      assert.equal(await page.getByRole("button", { name: "Create workspace" }).isDisabled(), true);
    });

    await step("creates a workspace and a session", async () => {
      await page.getByLabel("Name").fill(workspace);
      await page.getByLabel("When deleted").selectOption("Delete");
      await page.getByRole("button", { name: "Create workspace" }).click();
      await page.getByRole("heading", { name: "Sessions" }).waitFor();
      await page.getByRole("button", { name: "New session", exact: true }).click();
      await page.getByRole("tab", { name: "Chat" }).waitFor();
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      // The model picker lists what get_models returned, the demo marked as such.
      await page.getByLabel("model").locator("option", { hasText: "demo, not a real LLM" }).first().waitFor({ state: "attached" });
      await screenshot("session-ready");
    });

    await step("shows the session's files in a second tab", async () => {
      watcher = await context.newPage();
      watcher.on("pageerror", (e) => consoleErrors.push(String(e)));
      await watcher.goto(`${page.url().replace(/\/(files|terminal)$/, "")}/files`);
      await watcher.getByText("No files yet.").or(watcher.locator(".tree-item").first()).waitFor({ timeout: LONG });
      assert.equal(await watcher.getByRole("button", { name: "hello-from-oqto.md" }).count(), 0);
    });

    await step("streams the reply to a prompt and shows the tool call as a card", async () => {
      // Seen while streaming: an assistant message that is still busy and already has text.
      await page.evaluate(() => {
        window.__sawPartialReply = false;
        new MutationObserver(() => {
          const busy = document.querySelector('[data-testid="message-assistant"][aria-busy="true"] .markdown');
          if (busy && busy.textContent.trim().length > 0) window.__sawPartialReply = true;
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      const box = page.getByLabel("message to the agent");
      await box.fill("please write a file");
      await box.press("Enter");
      await page.getByTestId("agent-phase").filter({ hasText: /generating|running|thinking/ }).first().waitFor({ timeout: LONG });
      const card = page.getByTestId("tool-card").filter({ hasText: "write" });
      await card.waitFor({ timeout: LONG });
      await page.getByText("I wrote").waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await card.filter({ hasText: "done" }).waitFor();
      assert.equal(await page.evaluate(() => window.__sawPartialReply), true, "the reply was shown while it streamed");
      assert.match(await card.innerText(), /hello-from-oqto\.md/);
      // Thinking is there, collapsed.
      const thinking = page.locator("details.thinking").first();
      assert.equal(await thinking.getAttribute("open"), null);
      await screenshot("chat-reply");
    });

    // --- agent questions (issue 18.4) ---
    await step("asks the user a question in the chat and takes the answer from another tab", async () => {
      // The demo's "ask me" calls `ask_user`, the runner image's Pi extension (runner-image/pi-extensions).
      const box = page.getByLabel("message to the agent");
      await box.fill("please ask me something");
      await box.press("Enter");
      const question = page.getByTestId("question").filter({ hasText: "Which greeting should the demo model use?" });
      await question.waitFor({ timeout: LONG });
      // ask_user waits ten minutes at most, and the card says how long is left.
      assert.match(await question.getByRole("timer").innerText(), /^answer within (10:00|[0-9]:[0-5][0-9])$/);
      await screenshot("question");
      // A tab opened after the question came still shows it (get_state), and answers it for both.
      const other = await context.newPage();
      other.on("pageerror", (e) => consoleErrors.push(String(e)));
      await other.goto(page.url().replace(/\/(files|terminal)$/, ""));
      const there = other.getByTestId("question").filter({ hasText: "Which greeting should the demo model use?" });
      await there.getByRole("button", { name: "Hallo", exact: true }).click({ timeout: LONG });
      await question.waitFor({ state: "detached", timeout: 30_000 });
      await there.waitFor({ state: "detached", timeout: 30_000 });
      await other.close();
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      const asked = page.getByTestId("tool-card").filter({ hasText: "ask_user" });
      assert.match(await asked.last().textContent(), /The user answered: Hallo/);
    });

    await step("cancels a question and the agent goes on without an answer", async () => {
      const box = page.getByLabel("message to the agent");
      await box.fill("ask me again");
      await box.press("Enter");
      const question = page.getByTestId("question");
      await question.waitFor({ timeout: LONG });
      await question.getByRole("button", { name: "Cancel" }).click();
      await question.waitFor({ state: "detached", timeout: 30_000 });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      const asked = page.getByTestId("tool-card").filter({ hasText: "ask_user" });
      assert.match(await asked.last().textContent(), /The user did not answer/);
      await screenshot("question-cancelled");
    });

    // --- interfaces the agent lays out in the chat: A2UI (issue 20.2) ---
    await step("shows a form the agent lays out, and the agent acts on what the user submits", async () => {
      // The demo's "show me a form" calls `show_ui`, the runner image's A2UI extension.
      const box = page.getByLabel("message to the agent");
      await box.fill("show me a form");
      await box.press("Enter");
      const form = page.getByTestId("a2ui-surface").filter({ hasText: "Sign up" });
      await form.waitFor({ timeout: LONG });
      await page.getByText("and press Submit.").waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      const submit = form.getByRole("button", { name: "Submit", exact: true });
      assert.equal(await submit.isDisabled(), true, "the name is required before Submit");
      assert.equal(await form.getByLabel("Green", { exact: true }).isChecked(), true, "the agent's data model chose green");
      assert.match(await form.innerText(), /From the agent/, "marked as the agent's");
      await form.getByLabel("Name", { exact: true }).fill("Ada");
      await form.getByLabel("Blue", { exact: true }).check();
      await form.getByLabel("I accept the terms", { exact: true }).check();
      assert.equal(await form.getByLabel("Green", { exact: true }).isChecked(), false, "one colour only");
      await screenshot("a2ui-form");
      await submit.click();
      // The demo model says this only when the name arrived in the action's message.
      await page.getByText("Welcome, Ada: you are signed up.").waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      const sent = page.getByTestId("message-user").filter({ hasText: "[a2ui action]" }).last();
      const action = JSON.parse((await sent.innerText()).replace(/^[^{]*/, ""));
      assert.deepEqual(action.action.context, { name: "Ada", colour: ["blue"], accepted: true });
      assert.equal(action.action.name, "submit_signup");
      await screenshot("a2ui-submitted");
      // Stored with the turn: a reload shows it again, as the agent laid it out.
      await page.reload();
      await page.getByRole("tab", { name: "Chat" }).click();
      const again = page.getByTestId("a2ui-surface").filter({ hasText: "Sign up" });
      await again.waitFor({ timeout: LONG });
      assert.equal(await again.getByLabel("Green", { exact: true }).isChecked(), true);
    });

    await step("shows the tokens of each answer and of the session", async () => {
      // The demo provider reports usage as a real one does (scripted, through the LLM proxy).
      const perMessage = page.getByTestId("message-usage").first();
      await perMessage.waitFor({ timeout: LONG });
      assert.match(await perMessage.innerText(), /^\d[\d.kM]* in · \d[\d.kM]* out/);
      assert.match(await page.getByTestId("session-usage").innerText(), /^\d[\d.kM]* in · \d[\d.kM]* out/);
    });

    await step("lists the file the agent wrote in the other tab by itself", async () => {
      // No reload and no click on Refresh: the tab follows the agent's tool runs.
      await watcher.getByRole("button", { name: "hello-from-oqto.md" }).waitFor({ timeout: 30_000 });
      await screenshot("files-live-refresh", watcher);
      await watcher.close();
    });

    await step("opens the file the tool wrote", async () => {
      await page.getByRole("tab", { name: "Files" }).click();
      await page.getByRole("button", { name: "hello-from-oqto.md" }).click();
      const editor = page.getByLabel("contents of hello-from-oqto.md");
      await editor.waitFor();
      assert.match(await editor.inputValue(), /# Hello from Oqto/);
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download" }).click(),
      ]);
      assert.equal(download.suggestedFilename(), "hello-from-oqto.md");
      assert.match(readFileSync(await download.path(), "utf8"), /^# Hello from Oqto/);
      await screenshot("files");
    });

    await step("uploads a file, edits and saves it", async () => {
      await page.getByLabel("upload files").setInputFiles({
        name: "notes.txt",
        mimeType: "text/plain",
        buffer: Buffer.from("uploaded from the browser\n"),
      });
      await page.getByRole("button", { name: "notes.txt" }).click();
      const editor = page.getByLabel("contents of notes.txt");
      await editor.waitFor();
      assert.equal(await editor.inputValue(), "uploaded from the browser\n");
      await editor.fill("edited in the browser\n");
      await page.getByRole("button", { name: "Save" }).click();
      await page.getByText("Saved notes.txt").waitFor();
      await screenshot("files-saved");
    });

    // --- file operations (issue 18.7) ---
    // notes.txt stays where it is: the terminal step below reads it.
    /** The actions panel of one entry of the tree, opened with its "⋯" button. */
    const entryActions = async (name) => {
      const row = page.locator(".tree-row").filter({ has: page.getByRole("button", { name, exact: true }) });
      await row.getByRole("button", { name: "actions" }).click();
      return page.locator(".entry-actions");
    };
    /** A one-page PDF with a correct cross-reference table, made here rather than kept as a file. */
    const minimalPdf = (text) => {
      const stream = `BT /F1 24 Tf 24 60 Td (${text}) Tj ET`;
      const objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 320 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      ];
      let pdf = "%PDF-1.4\n";
      const offsets = objects.map((body, i) => {
        const at = pdf.length;
        pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
        return at;
      });
      const xref = pdf.length;
      pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
      for (const at of offsets) pdf += `${String(at).padStart(10, "0")} 00000 n \n`;
      return `${pdf}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
    };
    /** A 24×24 checkerboard PNG. */
    const PNG_BASE64 =
      "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAALklEQVR42mPQj7+Ahv4fYUBDxKhhGDWIjgaRpw1TzahB9DRoNGWP5rVRg+hiEACuzIVOCLR7PAAAAABJRU5ErkJggg==";
    /** What the page's Content-Security-Policy blocked (a PDF frame, say). */
    const blocked = [];
    page.on("console", (m) => {
      if (m.text().includes("Content Security Policy")) blocked.push(m.text());
    });

    await step("creates a folder, refusing bad names before sending them", async () => {
      await page.getByRole("button", { name: "New folder" }).click();
      const name = page.getByLabel("New folder in /");
      const create = page.getByRole("button", { name: "Create", exact: true });
      for (const [bad, why] of [
        ["a/b", "A name cannot contain “/”"],
        ["..", "“..” is not a name"],
      ]) {
        await name.fill(bad);
        await page.getByText(why).waitFor();
        assert.equal(await create.isDisabled(), true, `${bad} could be sent`);
      }
      await name.fill("docs");
      await create.click();
      await page.getByText("Created the folder docs").waitFor();
      await page.getByRole("button", { name: "▸ docs/" }).waitFor();
      await screenshot("files-new-folder");
    });

    await step("moves a file into the folder and renames it there", async () => {
      await page.getByLabel("upload files").setInputFiles({ name: "draft.txt", mimeType: "text/plain", buffer: Buffer.from("a plan\n") });
      await page.getByText("Uploaded draft.txt").waitFor();
      let panel = await entryActions("draft.txt");
      const newName = panel.getByLabel("New name");
      await newName.fill("../plan.txt");
      await panel.getByText("A name cannot contain “/”").waitFor();
      // What the bridge refuses is shown in the panel, which keeps what was typed.
      await newName.fill("notes.txt");
      await panel.getByRole("button", { name: "Rename", exact: true }).click();
      await panel.getByText(/Renaming failed: .*notes\.txt.* already exists/).waitFor();
      assert.equal(await newName.inputValue(), "notes.txt");
      await newName.fill("plan.txt");
      await panel.getByLabel("Move to").selectOption("docs");
      await panel.getByRole("button", { name: "Move", exact: true }).click();
      await page.getByText("Moved draft.txt to docs/plan.txt").waitFor();
      // The folder it went to is opened to show it.
      await page.getByRole("button", { name: "▾ docs/" }).waitFor();
      await page.getByRole("button", { name: "plan.txt", exact: true }).waitFor();
      assert.equal(await page.getByRole("button", { name: "draft.txt", exact: true }).count(), 0);
      panel = await entryActions("plan.txt");
      await panel.getByLabel("New name").fill("plan-v2.txt");
      await panel.getByRole("button", { name: "Rename", exact: true }).click();
      await page.getByText("Renamed docs/plan.txt to docs/plan-v2.txt").waitFor();
      await page.getByRole("button", { name: "plan-v2.txt", exact: true }).click();
      assert.equal(await page.getByLabel("contents of docs/plan-v2.txt").inputValue(), "a plan\n");
      await screenshot("files-renamed");
    });

    await step("previews the Markdown file the agent wrote", async () => {
      await page.getByRole("button", { name: "hello-from-oqto.md", exact: true }).click();
      await page.getByLabel("contents of hello-from-oqto.md").waitFor();
      await page.getByRole("button", { name: "Preview", exact: true }).click();
      const preview = page.getByRole("region", { name: "preview of hello-from-oqto.md" });
      await preview.getByRole("heading", { name: "Hello from Oqto" }).waitFor();
      await preview.locator("code", { hasText: "write" }).waitFor();
      assert.equal(await page.getByLabel("contents of hello-from-oqto.md").count(), 0);
      await screenshot("files-markdown-preview");
      await page.getByRole("button", { name: "Edit", exact: true }).click();
      await page.getByLabel("contents of hello-from-oqto.md").waitFor();
    });

    await step("previews an uploaded image and an uploaded PDF", async () => {
      await page.getByLabel("upload files").setInputFiles([
        { name: "checker.png", mimeType: "image/png", buffer: Buffer.from(PNG_BASE64, "base64") },
        { name: "paper.pdf", mimeType: "application/pdf", buffer: Buffer.from(minimalPdf("Hello from a PDF")) },
      ]);
      await page.getByRole("button", { name: "checker.png", exact: true }).click();
      const image = page.getByRole("img", { name: "checker.png" });
      await image.waitFor();
      await page.waitForFunction((img) => img.complete, await image.elementHandle());
      assert.equal(await image.evaluate((img) => img.naturalWidth), 24, "the PNG was decoded");
      await screenshot("files-image-preview");
      await page.getByRole("button", { name: "paper.pdf", exact: true }).click();
      const frame = page.getByTitle("preview of paper.pdf");
      await frame.waitFor();
      assert.match(await frame.getAttribute("src"), /^blob:/);
      // A frame the CSP refused shows an error page (chrome-error://) instead of the blob.
      const inner = await (await frame.elementHandle()).contentFrame();
      for (let i = 0; i < 100 && !/^(blob|chrome-error):/.test(inner.url()); i += 1) await page.waitForTimeout(100);
      assert.match(inner.url(), /^blob:/, "the PDF's frame was refused");
      // For the screenshot: the browser's PDF viewer (a frame of its own inside) draws the page.
      const viewer = () => inner.childFrames().length > 0;
      for (let i = 0; i < 100 && !viewer(); i += 1) await page.waitForTimeout(100);
      await page.waitForTimeout(1500);
      assert.deepEqual(blocked, [], "nothing blocked by the Content-Security-Policy");
      await screenshot("files-pdf-preview");
    });

    await step("deletes a file and then its folder, each after confirming", async () => {
      let panel = await entryActions("plan-v2.txt");
      await panel.getByRole("button", { name: "Delete", exact: true }).click();
      let dialog = page.getByRole("dialog");
      await dialog.getByText("Delete docs/plan-v2.txt? This cannot be undone.").waitFor();
      await dialog.getByRole("button", { name: "Cancel" }).click();
      assert.equal(await page.getByRole("button", { name: "plan-v2.txt", exact: true }).count(), 1, "cancelled, kept");
      await panel.getByRole("button", { name: "Delete", exact: true }).click();
      await screenshot("files-delete-confirm");
      await dialog.getByRole("button", { name: "Delete", exact: true }).click();
      await page.getByText("Deleted docs/plan-v2.txt").waitFor();
      await page.getByRole("button", { name: "plan-v2.txt", exact: true }).waitFor({ state: "detached" });
      panel = await entryActions("▾ docs/");
      await panel.getByRole("button", { name: "Delete", exact: true }).click();
      dialog = page.getByRole("dialog");
      await dialog.getByText("Delete the folder docs and everything in it?").waitFor();
      await dialog.getByRole("button", { name: "Delete", exact: true }).click();
      await page.getByText("Deleted docs", { exact: true }).waitFor();
      await page.getByRole("button", { name: /docs\/$/ }).waitFor({ state: "detached" });
      await screenshot("files-deleted");
    });

    await step("runs echo in the terminal", async () => {
      await page.getByRole("tab", { name: "Terminal" }).click();
      const terminal = page.getByTestId("terminal");
      await terminal.locator(".xterm-rows").waitFor();
      await page.getByText("opening a shell").waitFor({ state: "detached", timeout: LONG });
      await terminal.click();
      await page.keyboard.type("echo oqto-$((6*7))\n");
      await terminal.locator(".xterm-rows").filter({ hasText: "oqto-42" }).waitFor({ timeout: 30_000 });
      // What the editor saved is what the workspace holds.
      await page.keyboard.type("cat notes.txt\n");
      await terminal.locator(".xterm-rows").filter({ hasText: "edited in the browser" }).waitFor({ timeout: 30_000 });
      await screenshot("terminal");
    });

    await step("resizes the terminal's shell with its pane", async () => {
      const terminal = page.getByTestId("terminal");
      // `stty size` is what the shell's pty says: "rows cols".
      const ptySize = async (marker) => {
        await page.keyboard.type(`echo ${marker}=$(stty size | tr ' ' x)\n`);
        const rows = terminal.locator(".xterm-rows");
        const pattern = new RegExp(`${marker}=(\\d+)x(\\d+)`);
        await rows.filter({ hasText: pattern }).waitFor({ timeout: 30_000 });
        const [, r, c] = (await rows.innerText()).match(pattern);
        return { rows: Number(r), cols: Number(c) };
      };
      const wide = await ptySize("wide");
      await page.setViewportSize({ width: 760, height: 620 });
      // The pane shrinks, xterm refits, the resize frame reaches the pty.
      let narrow = await ptySize("narrow");
      for (let i = 0; narrow.cols >= wide.cols && i < 10; i += 1) {
        await page.waitForTimeout(300);
        narrow = await ptySize(`narrow${i}`);
      }
      assert.ok(narrow.cols < wide.cols, `the shell kept ${narrow.cols} columns (was ${wide.cols}) after the pane shrank`);
      assert.ok(narrow.rows < wide.rows, `the shell kept ${narrow.rows} rows (was ${wide.rows}) after the pane shrank`);
      await screenshot("terminal-resized");
      await page.setViewportSize({ width: 1280, height: 820 });
    });

    await step("finds the conversation intact after a reload", async () => {
      await page.reload();
      await page.getByRole("tab", { name: "Chat" }).click();
      // In the conversation (the sidebar and the header show the same words as the title).
      await page.getByRole("log", { name: "conversation" }).getByText("please write a file").waitFor({ timeout: LONG });
      await page.getByText("I wrote").waitFor({ timeout: LONG });
      await page.getByTestId("tool-card").filter({ hasText: "write" }).filter({ hasText: "done" }).waitFor();
      await screenshot("after-reload");
    });

    await step("shows a turn that was streaming when the page reloaded, and its end", async () => {
      const box = page.getByLabel("message to the agent");
      await box.fill("a story while I reload");
      await box.press("Enter");
      await page.getByText("a small agent lived").waitFor({ timeout: LONG });
      await page.reload();
      // The turn so far comes with the history (the prompt and the answer up to now), not
      // only what streams after the reload; then its end.
      await page.getByRole("log", { name: "conversation" }).getByText("a story while I reload").waitFor({ timeout: LONG });
      await page.getByText("Once upon a time").waitFor({ timeout: LONG });
      const streaming = page.locator('[data-testid="message-assistant"][aria-busy="true"]');
      await streaming.waitFor({ timeout: LONG });
      await screenshot("reloaded-mid-turn");
      await page.getByText("The end.").waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      assert.equal(await page.getByRole("log", { name: "conversation" }).getByText("a story while I reload").count(), 1, "the prompt shown once");
      assert.match(await page.getByRole("log").innerText(), /Once upon a time, a small agent[\s\S]*The end\./);
    });

    // --- sessions at hand and history search (issue 18.1, 18.3) ---
    const sidebar = page.getByRole("navigation", { name: "sessions" });
    const mine = sidebar.getByRole("region", { name: `workspace ${workspace}` });
    await step("lists the session in the sidebar under its first prompt, and renames it", async () => {
      await mine.getByTestId("sidebar-session").filter({ hasText: "please write a file" }).waitFor({ timeout: LONG });
      assert.equal(await page.getByTestId("session-title").innerText(), "please write a file");
      await page.getByRole("button", { name: "rename the session" }).click();
      const title = page.getByLabel("session title");
      await title.fill("Demo chat");
      await title.press("Enter");
      await mine.getByTestId("sidebar-session").filter({ hasText: "Demo chat" }).waitFor();
      assert.equal(await page.getByTestId("session-title").innerText(), "Demo chat");
      // The current session is marked.
      assert.equal(await mine.locator('[aria-current="page"]').innerText().then((t) => t.includes("Demo chat")), true);
      await screenshot("sidebar-renamed");
    });

    await step("finds a chat by its words and opens the session at that message", async () => {
      const find = page.getByLabel("find a session");
      await find.fill("upon");
      await page.getByRole("button", { name: /Search the chats for/ }).click();
      const hit = page.getByTestId("search-hit").filter({ hasText: workspace }).filter({ hasText: "upon" }).first();
      await hit.waitFor({ timeout: LONG });
      assert.match(await hit.locator("mark").first().innerText(), /upon/i);
      await screenshot("search-results");
      await hit.click();
      const located = page.locator('article[aria-current="true"]');
      await located.waitFor({ timeout: LONG });
      assert.match(await located.innerText(), /Once upon a time/);
      await screenshot("search-opened");
      await find.fill("");
    });

    await step("starts and switches sessions from the sidebar and the keyboard", async () => {
      // The session's own address (the search left ?m= on it).
      const first = page.url().split("?")[0];
      await page.goto(first);
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await page.locator("body").click({ position: { x: 600, y: 5 } });
      await page.keyboard.press("?");
      const help = page.getByRole("dialog", { name: "keyboard shortcuts" });
      await help.waitFor();
      await screenshot("shortcuts");
      await page.keyboard.press("Escape");
      await help.waitFor({ state: "hidden" });
      // With warm spares the new session is the spare the operator started beside the first.
      let spare = null;
      if (runningSpares()) {
        const deadline = Date.now() + LONG;
        const mineSpare = () => runningSpares().find((name) => name.startsWith(`${workspace}-`));
        while (!(spare = mineSpare()) && Date.now() < deadline) await page.waitForTimeout(500);
        assert.ok(spare, "no warm spare Running beside the first session");
      }
      await mine.getByRole("button", { name: `new session in ${workspace}` }).click();
      await page.waitForURL((u) => u.href !== first && /\/s\//.test(u.pathname), { timeout: LONG });
      const second = page.url();
      if (spare) assert.ok(second.includes(`/${spare}`), `the new session ${second} did not claim the spare ${spare}`);
      await mine.getByTestId("sidebar-session").nth(1).waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await page.keyboard.press("Alt+ArrowDown");
      await page.waitForURL((u) => u.href !== second, { timeout: LONG });
      // Back to the first by its title, then the second goes, after asking.
      await mine.getByTestId("sidebar-session").filter({ hasText: "Demo chat" }).click();
      await page.waitForURL(first);
      await page.goto(second);
      await page.getByRole("button", { name: "Delete", exact: true }).first().click();
      await page.getByRole("button", { name: "Delete session" }).click();
      await page.getByRole("heading", { name: "Sessions" }).waitFor();
      // The sidebar follows the delete on its next listing (a claimed spare was deleted before
      // that listing came with two gateways): wait for it, bounded.
      const deadline = Date.now() + LONG;
      while ((await mine.getByTestId("sidebar-session").count()) !== 1 && Date.now() < deadline) {
        await page.waitForTimeout(200);
      }
      assert.equal(await mine.getByTestId("sidebar-session").count(), 1, "the deleted session left the sidebar");
      await page.goto(first);
      await page.getByText("Once upon a time").first().waitFor({ timeout: LONG });
    });

    // --- delegation (issue 19.1) ---
    await step("delegates a task to a sub-agent and opens the sub-agent's session", async () => {
      // The demo's "delegate" calls `delegate`, the runner image's Pi extension: a child Session of
      // this one (same workspace, same demo model) made through the gateway, whose answer the
      // parent's next words quote.
      const parent = page.url().split("?")[0];
      const box = page.getByLabel("message to the agent");
      await box.fill("please delegate a task");
      await box.press("Enter");
      const card = page.getByTestId("delegation-card").last();
      await card.waitFor({ timeout: LONG });
      const answered = page.locator('[data-testid="delegation-card"][data-status="done"]').last();
      await answered.waitFor({ timeout: LONG });
      assert.match(await answered.innerText(), /Red, green and blue\./);
      await page.getByText("My sub-agent answered:").last().waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await screenshot("delegation");
      // The sidebar lists the child under its parent, folded behind a count.
      await mine.getByRole("button", { name: /^(show|hide) the 1 sub-agent session of / }).waitFor({ timeout: LONG });
      // The card's link opens the child (woken: it was suspended when its turn ended), which
      // names its parent and shows the task it was given and its answer.
      await answered.getByRole("link", { name: /open the sub-agent's session/ }).click();
      await page.waitForURL((u) => u.href.split("?")[0] !== parent && /\/s\//.test(u.pathname), { timeout: LONG });
      const of = page.getByTestId("sub-agent-of");
      await of.waitFor({ timeout: LONG });
      await page.getByText("sub-agent task: name the three primary colours of light.").first().waitFor({ timeout: LONG });
      await page.getByText("Red, green and blue.").first().waitFor({ timeout: LONG });
      await screenshot("delegation-child");
      await of.getByRole("link").click();
      await page.waitForURL((u) => u.href.split("?")[0] === parent, { timeout: LONG });
    });

    await step("sends a prompt with an image and keeps the image in the chat", async () => {
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await page.getByLabel("image files").setInputFiles({ name: "checker.png", mimeType: "image/png", buffer: Buffer.from(PNG_BASE64, "base64") });
      // A file that is no image is refused where it was attached.
      await page.getByLabel("image files").setInputFiles({ name: "notes.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4") });
      await page.getByText("notes.pdf: only PNG, JPEG, GIF and WebP images can be attached").waitFor();
      await page.getByRole("list", { name: "attached images" }).getByRole("img", { name: "checker.png" }).waitFor();
      await screenshot("image-attached");
      const box = page.getByLabel("message to the agent");
      const ends = page.getByText("The end.");
      const before = await ends.count();
      await box.fill("a story about this picture");
      await box.press("Enter");
      const sent = page.getByTestId("message-user").filter({ hasText: "a story about this picture" });
      await sent.locator("img.message-image").waitFor({ timeout: LONG });
      assert.equal(await page.getByRole("list", { name: "attached images" }).count(), 0, "the composer is empty again");
      await ends.nth(before).waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      await page.reload();
      // From the stored history: the image came back with the message.
      const stored = page.getByTestId("message-user").filter({ hasText: "a story about this picture" }).locator("img.message-image");
      await stored.waitFor({ timeout: LONG });
      assert.equal(await stored.evaluate((img) => img.naturalWidth), 24, "the stored image decodes");
      await screenshot("image-in-history");
    });

    await step("offers the agent's commands after a slash and compacts the context", async () => {
      const box = page.getByLabel("message to the agent");
      await box.fill("/");
      // The menu lists what Pi's get_commands answered (the runner image's Pi brings some).
      const menu = page.getByRole("listbox", { name: "commands" });
      await menu.waitFor({ timeout: LONG });
      const first = (await menu.getByRole("option").first().innerText()).split(/\s/)[0];
      await screenshot("slash-commands");
      await box.press("Enter");
      await menu.waitFor({ state: "hidden" });
      assert.equal(await box.inputValue(), `${first} `, "Enter takes the highlighted command");
      await box.fill("");
      await page.getByRole("button", { name: "Compact" }).click();
      // Pi compacts, or says why not (a short chat has nothing to compact); either way the
      // agent is idle again and the page says which.
      const refused = page.getByText(/^Compacting the context failed: /);
      await page.getByTestId("agent-phase").filter({ hasText: "compacting the context" }).or(refused).first().waitFor({ timeout: LONG });
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      if ((await refused.count()) > 0) assert.equal(await refused.count(), 1, "the refusal, shown once");
      await screenshot("compacted");
    });

    await step("reconnects by itself after the gateway restarts", async () => {
      stopGateway();
      await connection.filter({ hasText: /offline|reconnecting/ }).waitFor({ timeout: 40_000 });
      await screenshot("gateway-down");
      startGateway();
      await connection.filter({ hasText: /^connected$/ }).waitFor({ timeout: LONG });
      // Re-attached: the agent answers again on the same page.
      await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
      const box = page.getByLabel("message to the agent");
      await box.fill("hello");
      await box.press("Enter");
      await page.getByText("I just ran").waitFor({ timeout: LONG });
      await screenshot("reconnected");
    });

    if (process.env.OQTO_GATEWAY_KILL_CMD) {
      // Two gateways behind an ingress (hack/k8s/release.sh): the one holding this page's
      // WebSocket dies mid-answer; the page carries on through the other, the answer whole, once.
      await step("carries on through the other gateway when its own dies mid-answer", async () => {
        // A prompt sent while the last answer still streams would steer it instead.
        await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
        const box = page.getByLabel("message to the agent");
        // An earlier step told a story too: this one is the next.
        const stories = page.getByText("Once upon a time");
        const before = await stories.count();
        await box.fill("tell me a story");
        await box.press("Enter");
        await stories.nth(before).waitFor({ timeout: LONG });
        execSync(process.env.OQTO_GATEWAY_KILL_CMD, { stdio: "inherit" });
        await page.getByText("The end.").nth(before).waitFor({ timeout: LONG });
        await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
        await connection.filter({ hasText: /^connected$/ }).waitFor({ timeout: LONG });
        assert.equal(await stories.count(), before + 1, "the answer, shown once");
        const story = stories.nth(before);
        assert.match(
          await story.innerText(),
          /^Once upon a time, a small agent .* in the middle of the story, and the agent, who ran elsewhere, simply went on writing\. The browser .* nobody lost a word\. The end\.$/,
          "the part streamed while the gateway died is there",
        );
        await screenshot("gateway-killed-mid-answer");
      });
    }

    await step("fits a 375 px wide screen", async () => {
      await page.setViewportSize({ width: 375, height: 740 });
      await page.getByText("I just ran").waitFor();
      // The user's own messages too (a rule for the header's username once hid them here).
      assert.equal(await page.getByTestId("message-user").last().isVisible(), true, "the user's messages show on a phone");
      // The sessions are one tap away, over the page.
      await page.getByRole("navigation", { name: "sessions" }).waitFor({ state: "hidden" });
      await page.getByRole("button", { name: "show the sessions" }).click();
      await page.getByRole("navigation", { name: "sessions" }).getByTestId("sidebar-session").first().waitFor();
      await page.waitForFunction(() => document.querySelector("nav.sidebar")?.getBoundingClientRect().left === 0);
      await screenshot("narrow-sidebar");
      await page.getByRole("button", { name: "hide the sessions" }).click();
      await page.getByRole("navigation", { name: "sessions" }).waitFor({ state: "hidden" });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      await screenshot("narrow");
      await page.setViewportSize({ width: 1280, height: 820 });
    });

    await step("switches to the dark theme and keeps it", async () => {
      const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const light = await background();
      const toggle = page.getByRole("button", { name: /^theme:/ });
      while ((await page.evaluate(() => document.documentElement.dataset.theme)) !== "dark") await toggle.click();
      assert.notEqual(await background(), light);
      await page.reload();
      await page.getByText("I just ran").waitFor({ timeout: LONG });
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
      await screenshot("dark");
    });

    await step("shows what the chat used on the usage page", async () => {
      await page.getByRole("link", { name: "Usage" }).click();
      const mine = page.getByRole("table", { name: "usage by session" });
      await mine.getByRole("cell", { name: workspace, exact: true }).first().waitFor({ timeout: LONG });
      // The admin also sees every user's sums.
      await page.getByRole("table", { name: "usage by user" }).getByRole("cell", { name: user, exact: true }).waitFor({ timeout: LONG });
      // What the (scripted) provider's rate-limit headers said, for admins.
      await page.getByRole("table", { name: "provider rate limits" }).getByRole("cell", { name: "requests", exact: true }).first().waitFor({ timeout: LONG });
      await screenshot("usage");
    });

    await step("schedules a prompt in the workspace, pauses, resumes and deletes it", async () => {
      await page.goto(`${url}/w/${encodeURIComponent(workspace)}`);
      await page.getByRole("heading", { name: "Sessions" }).waitFor();
      const schedules = page.getByRole("region", { name: "Schedules" });
      await schedules.getByRole("button", { name: "New schedule" }).click();
      const form = page.getByRole("form", { name: "create a schedule" });
      // Refused before sending: no prompt, a cron of four fields.
      await form.getByLabel("Cron schedule").fill("0 9 * *");
      await form.getByRole("button", { name: "Create schedule" }).click();
      await form.getByText("Prompt: required").waitFor();
      await form.getByText("Cron schedule: five fields").waitFor();
      const name = `${workspace}-daily`;
      await form.getByLabel("Name (optional)").fill(name);
      await form.getByLabel("Repeat").selectOption({ label: "every weekday at 09:00" });
      assert.equal(await form.getByLabel("Cron schedule").inputValue(), "0 9 * * 1-5");
      assert.equal(
        await form.getByLabel("Time zone").inputValue(),
        await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone),
      );
      await form.getByLabel("Prompt").fill("please write a file");
      await form.getByLabel("Runs go to").selectOption({ label: "a new session each run" });
      await form.getByLabel("While a run is in progress").selectOption({ label: "skip the new run" });
      await form.getByRole("button", { name: "Create schedule" }).click();
      await form.waitFor({ state: "detached" });
      const row = schedules.getByRole("list", { name: "schedules" }).getByRole("listitem").filter({ hasText: name });
      await row.getByText("every weekday at 09:00").waitFor();
      // The operator computes nextScheduleTime.
      await row
        .getByTestId("schedule-next")
        .filter({ hasText: /^next run .+ \(in \d+ (minutes?|hours?|days?)\)$/ })
        .waitFor({ timeout: LONG });
      await screenshot("schedule-created");
      await row.getByRole("button", { name: "Pause" }).click();
      await row.getByText("Paused", { exact: true }).waitFor();
      await row.getByTestId("schedule-next").filter({ hasText: "Paused: no new runs start." }).waitFor({ timeout: LONG });
      await screenshot("schedule-paused");
      await row.getByRole("button", { name: "Resume" }).click();
      await row.getByText("Paused", { exact: true }).waitFor({ state: "detached" });
      await row.getByTestId("schedule-next").filter({ hasText: /^next run / }).waitFor({ timeout: LONG });
      await row.getByRole("button", { name: "Delete", exact: true }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete schedule" }).click();
      await row.waitFor({ state: "detached", timeout: 30_000 });
    });

    await step("deletes the workspace after asking", async () => {
      await page.getByRole("link", { name: "Oqto" }).click();
      const row = page.getByRole("listitem").filter({ hasText: workspace });
      await row.getByRole("button", { name: "Delete" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete workspace" }).click();
      await row.waitFor({ state: "detached", timeout: 30_000 });
      await screenshot("deleted");
    });

    await step("lets the agent check a web app in its own browser, and the user watch and take over", async () => {
      // An admin turns the browser sidecar on for one Workspace (admins may write spec.runner;
      // the rest, tolerations, LLM and storage on the chart's node, comes from the default class).
      const webWorkspace = `${workspace}-web`;
      try {
        const made = await api(page, "POST", "/workspaces", { name: webWorkspace, spec: { runner: { browser: { enabled: true, resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "1Gi" } } } }, storage: { reclaimPolicy: "Delete" } } });
        assert.equal(made.status, 201, made.body);
        await page.goto(`${url}/w/${webWorkspace}`);
        await page.getByRole("button", { name: "New session", exact: true }).click();
        await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
        // The demo's "check my web app in the browser": the agent writes a page, serves it from
        // the workspace with a dev server it starts, opens it in its browser, clicks "Say hello"
        // and reads the page back to the user.
        const box = page.getByLabel("message to the agent");
        await box.fill("check my web app in the browser");
        await box.press("Enter");
        const answer = page.getByTestId("message-assistant").filter({ hasText: "The page now reads:" });
        await answer.waitFor({ timeout: LONG });
        await page.getByTestId("agent-phase").filter({ hasText: "idle" }).waitFor({ timeout: LONG });
        // The page builds its greeting in script: the words show only if the click ran it.
        assert.match(await answer.innerText(), /Hello from the app/);
        await screenshot("browser-agent-answer");

        // The Browser tab shows the agent's page live.
        await page.getByRole("tab", { name: "Browser" }).click();
        const frame = page.getByTestId("browser-frame");
        await frame.waitFor({ timeout: LONG });
        const where = page.getByTestId("browser-url");
        await where.filter({ hasText: "Oqto test app" }).waitFor({ timeout: LONG });
        assert.match(await where.innerText(), /127\.0\.0\.1:8765\/#hello-1/, "the agent's click is on the page");
        assert.equal(await page.getByTestId("browser-controller").innerText(), "agent");
        const size = await frame.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
        assert.ok(size[0] > 200 && size[1] > 100, `a real picture of the page: ${size}`);
        await screenshot("browser-live");

        // The user takes over: the page's big button fills its lower half, so a click on the
        // lower middle of the picture lands on it; the page counts it in its address.
        await page.getByRole("button", { name: "Take control" }).click();
        await page.getByTestId("browser-controller").filter({ hasText: "you" }).waitFor();
        const at = await frame.boundingBox();
        assert.ok(at, "the picture is on screen");
        await page.mouse.click(at.x + at.width / 2, at.y + at.height * 0.75);
        await where.filter({ hasText: "#hello-2" }).waitFor({ timeout: 30_000 });
        // Typed addresses go too, http(s) only.
        await page.getByLabel("address").fill("javascript:alert(1)");
        await page.getByRole("button", { name: "Go" }).click();
        await page.getByRole("alert").filter({ hasText: "only http and https" }).waitFor();
        await page.getByLabel("address").fill("127.0.0.1:8765/?typed=1");
        await page.getByRole("button", { name: "Go" }).click();
        await where.filter({ hasText: "typed=1" }).waitFor({ timeout: 30_000 });
        await screenshot("browser-user-control");
        await page.getByRole("button", { name: "Hand back to the agent" }).click();
        await page.getByTestId("browser-controller").filter({ hasText: "agent" }).waitFor();
      } finally {
        await api(page, "DELETE", `/workspaces/${webWorkspace}`);
      }
    });

    await step("offers a user only the workspace classes open to her", async () => {
      // The admin (this page's cookie) defines two classes and a user allowed only one.
      const call = api;
      const alice = `ui-alice-${Date.now().toString(36)}`;
      const alicePassword = "alice-password-for-ui";
      const classes = [
        ["ui-standard", { displayName: "UI standard", users: [alice], network: { egress: "Restricted" } }],
        ["ui-open-egress", { displayName: "UI open egress", users: ["someone-else"], network: { egress: "Open" } }],
      ];
      for (const [name, spec] of classes) {
        const r = await call(page, "POST", "/apply", { apiVersion: "oqto.dev/v1alpha1", kind: "WorkspaceClass", metadata: { name }, spec });
        assert.equal(r.status, 200, r.body);
      }
      const made = await call(page, "POST", "/users", { username: alice, password: alicePassword });
      assert.equal(made.status, 201, made.body);
      const theirs = await browser.newContext({ viewport: { width: 1280, height: 820 } });
      try {
        const other = await theirs.newPage();
        other.on("pageerror", (e) => consoleErrors.push(String(e)));
        await other.goto(url);
        await other.getByLabel("Username").fill(alice);
        await other.getByLabel("Password").fill(alicePassword);
        await other.keyboard.press("Enter");
        await other.getByRole("heading", { name: "Workspaces" }).waitFor();
        const offered = other.getByLabel("Class").locator("option");
        await offered.first().waitFor({ state: "attached" });
        // Hers, and the classes open to everyone (the chart's `standard` on a cluster); not the other.
        const names = await offered.allTextContents();
        assert.ok(names.includes("UI standard (restricted egress)"), names.join(", "));
        assert.ok(!names.some((n) => n.startsWith("UI open egress")), names.join(", "));
        await screenshot("classes-offered", other);
        // Sent by hand from her session, the other class is refused with the field's name.
        const forced = await call(other, "POST", "/workspaces", { name: "escape", spec: { workspaceClassName: "ui-open-egress" } });
        assert.equal(forced.status, 403, forced.body);
        assert.match(forced.body, /spec\.workspaceClassName: workspace class \\"ui-open-egress\\" does not exist or is not open/);
      } finally {
        await theirs.close();
        for (const [name] of classes) await call(page, "DELETE", `/workspaceclasses/${name}`);
        await call(page, "DELETE", `/users/${alice}`);
      }
    });

    // --- accounts (issue 18.8) ---
    // The admin manages carol on the admin page; carol, in a browser of her own, manages her
    // API keys and her password on her account page. The admin's password is left as it is.
    const suffix = Date.now().toString(36);
    const carol = `carol-${suffix}`;
    const carolPasswords = { first: `first-${suffix}-pw`, reset: `reset-${suffix}-pw`, own: `own-${suffix}-pw` };
    const carolRow = page.getByRole("list", { name: "users" }).getByRole("listitem").filter({ hasText: carol });
    const adminStatus = (text) => page.getByRole("status").filter({ hasText: text });
    const carolContext = await browser.newContext({
      viewport: { width: 1280, height: 820 },
      permissions: ["clipboard-read", "clipboard-write"],
    });
    const carolPage = await carolContext.newPage();
    carolPage.on("pageerror", (e) => consoleErrors.push(String(e)));
    const logIn = async (of, name, secret) => {
      await of.goto(url);
      await of.getByLabel("Username").fill(name);
      await of.getByLabel("Password").fill(secret);
      await of.getByRole("button", { name: "Log in" }).click();
    };
    /** The status of `GET /api/auth/me` with an API key alone (no cookie). */
    const withKey = (key) =>
      carolPage.evaluate(async (k) => (await fetch("/api/auth/me", { credentials: "omit", headers: { "x-api-key": k } })).status, key);

    try {
      await step("creates a user on the admin page", async () => {
        await page.getByRole("link", { name: "Admin", exact: true }).click();
        await page.getByRole("heading", { name: "Users" }).waitFor();
        const form = page.getByRole("form", { name: "create a user" });
        await form.getByLabel("Username").fill("Carol!");
        await form.getByText("Username: lowercase letters").waitFor();
        assert.equal(await form.getByRole("button", { name: "Create user" }).isDisabled(), true);
        await form.getByLabel("Username").fill(carol);
        await form.getByLabel("Password").fill(carolPasswords.first);
        await form.getByRole("button", { name: "Create user" }).click();
        await adminStatus(`${carol} is created (user)`).waitFor();
        await carolRow.waitFor();
        await screenshot("admin-user-created");
      });

      await step("changes her role and resets her password", async () => {
        const role = carolRow.getByLabel(`role of ${carol}`);
        await role.selectOption("admin");
        await adminStatus(`${carol} is now an admin`).waitFor();
        await carolRow.locator(".badge", { hasText: /^admin$/ }).waitFor();
        await role.selectOption("user");
        await adminStatus(`${carol} is now a user`).waitFor();
        await carolRow.getByRole("button", { name: "Reset password" }).click();
        await carolRow.getByLabel(`New password for ${carol}`).fill(carolPasswords.reset);
        await screenshot("admin-reset-password");
        await carolRow.getByRole("button", { name: "Save password", exact: true }).click();
        await adminStatus(`The password of ${carol} is reset`).waitFor();
        assert.equal(await role.inputValue(), "user");
      });

      await step("disables her: her login is refused until she is enabled again", async () => {
        await carolRow.getByRole("button", { name: "Disable" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Disable user" }).click();
        await adminStatus(`${carol} is disabled`).waitFor();
        await carolRow.locator(".badge", { hasText: "disabled" }).waitFor();
        await screenshot("admin-user-disabled");
        await logIn(carolPage, carol, carolPasswords.reset);
        await carolPage.getByRole("alert").filter({ hasText: "this account is disabled" }).waitFor();
        await screenshot("disabled-login-refused", carolPage);
        await carolRow.getByRole("button", { name: "Enable" }).click();
        await adminStatus(`${carol} is enabled again`).waitFor();
        await logIn(carolPage, carol, carolPasswords.reset);
        await carolPage.getByRole("heading", { name: "Workspaces" }).waitFor();
      });

      await step("shows her new API key once, copies it and revokes it", async () => {
        await carolPage.getByRole("link", { name: carol, exact: true }).click();
        await carolPage.getByRole("heading", { name: "Account" }).waitFor();
        const form = carolPage.getByRole("form", { name: "create an API key" });
        const name = `laptop-${suffix}`;
        await form.getByLabel("Key name").fill(name);
        await form.getByLabel("Expires after").selectOption({ label: "30 days" });
        await form.getByRole("button", { name: "Create key" }).click();
        const shown = carolPage.getByLabel("the new API key");
        await shown.waitFor();
        const key = await shown.inputValue();
        assert.match(key, /^octo_sk_[A-Za-z0-9_-]{43}$/);
        await carolPage.getByRole("region", { name: "new API key" }).getByRole("button", { name: "Copy" }).click();
        await carolPage.getByText("Copied to the clipboard.").waitFor();
        assert.equal(await carolPage.evaluate(() => navigator.clipboard.readText()), key);
        const row = carolPage.getByRole("list", { name: "your API keys" }).getByRole("listitem").filter({ hasText: name });
        await row.filter({ hasText: "expires in 30 days" }).waitFor();
        await screenshot("account-new-key", carolPage);
        await carolPage.setViewportSize({ width: 375, height: 740 });
        const overflow = await carolPage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `the account page with a new key is ${overflow}px wider than the screen`);
        await carolPage.getByRole("region", { name: "new API key" }).scrollIntoViewIfNeeded();
        await carolPage.waitForTimeout(300); // the sidebar slides away on a narrow screen (0.15 s)
        await screenshot("narrow-account-new-key", carolPage);
        await carolPage.setViewportSize({ width: 1280, height: 820 });
        assert.equal(await withKey(key), 200, "the key acts as carol");
        // Gone from the page once dismissed, and never listed again.
        await carolPage.getByRole("button", { name: "Done" }).click();
        await carolPage.reload();
        await row.waitFor();
        assert.equal((await carolPage.content()).includes(key), false, "the key is shown only once");
        await row.getByRole("button", { name: "Revoke" }).click();
        await carolPage.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
        await row.locator(".badge", { hasText: "revoked" }).waitFor();
        assert.equal(await withKey(key), 401, "a revoked key is refused");
        await screenshot("account-key-revoked", carolPage);
      });

      await step("changes her own password and logs in with it", async () => {
        const form = carolPage.getByRole("form", { name: "change your password" });
        await form.getByLabel("Current password").fill(carolPasswords.reset);
        await form.getByLabel("New password", { exact: true }).fill("short");
        await form.getByText("New password: at least 8 characters").waitFor();
        await form.getByLabel("New password", { exact: true }).fill(carolPasswords.own);
        await form.getByLabel("Repeat new password").fill(carolPasswords.own);
        await form.getByRole("button", { name: "Change password" }).click();
        await carolPage.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
        await screenshot("account-password-changed", carolPage);
        // The page logged in again with the new password by itself: a reload stays logged in.
        await carolPage.reload();
        await carolPage.getByRole("heading", { name: "Account" }).waitFor();
        await carolPage.getByRole("button", { name: "Log out" }).click();
        await logIn(carolPage, carol, carolPasswords.reset);
        await carolPage.getByRole("alert").filter({ hasText: "wrong username or password" }).waitFor();
        await logIn(carolPage, carol, carolPasswords.own);
        await carolPage.getByRole("heading", { name: "Workspaces" }).waitFor();
      });

      await step("fits the admin and account pages on a 375 px screen", async () => {
        await page.setViewportSize({ width: 375, height: 740 });
        for (const [link, heading] of [["Admin", "Users"], [user, "Account"]]) {
          await page.getByRole("link", { name: link, exact: true }).click();
          await page.getByRole("heading", { name: heading }).waitFor();
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `the ${heading} page is ${overflow}px wider than the screen`);
          await screenshot(`narrow-${heading.toLowerCase()}`);
        }
        await page.setViewportSize({ width: 1280, height: 820 });
        await page.getByRole("link", { name: "Admin", exact: true }).click();
        await carolRow.waitFor();
      });

      await step("deletes her, and her open page is logged out", async () => {
        await carolRow.getByRole("button", { name: "Delete" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Delete user" }).click();
        await adminStatus(`${carol} is deleted`).waitFor();
        await carolRow.waitFor({ state: "detached" });
        await carolPage.reload();
        await carolPage.getByLabel("Username").waitFor();
        await screenshot("admin-user-deleted");
      });
    } finally {
      await carolContext.close();
    }

    assert.deepEqual(consoleErrors, [], "no uncaught errors in the page");
  } finally {
    await browser.close();
  }
});
