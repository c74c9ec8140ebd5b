/**
 * `browser_*`: tools with which the agent drives the workspace's browser (a headless Chromium
 * in the runner's `browser` sidecar) to look at and try out what it builds: open a page, read
 * its accessibility snapshot, click, type, read the text, take a screenshot.
 *
 * Only when the runner has a browser: pi-bridge's runner gets `OQTO_BROWSER_CDP` (the sidecar's
 * DevTools endpoint, e.g. http://127.0.0.1:9222) when the workspace class enables one. Without
 * it this extension registers nothing, so the agent is not offered tools that cannot work.
 *
 * The agent always works in the FIRST page of the browser's first context: that is the page the
 * user's live view (pi-bridge's screencast) shows. While the user holds control of the browser
 * (pi-bridge's loopback API `GET /browser/control` on $PI_BRIDGE_DELEGATE_LISTEN, with the
 * token $PI_BRIDGE_DELEGATE_TOKEN, says `{"controller":"user"}`) every tool refuses; a bridge without that endpoint (404) lets them run.
 *
 * Elements are named by the refs of the snapshot (`[ref=e5]`, Playwright's "ai" aria snapshot,
 * resolved with `aria-ref=e5`), or by role and accessible name. Every action has a timeout and
 * every result a size bound.
 *
 * No imports: the same file loads in both Pi lines the project supports (see delegate.ts).
 * playwright-core is loaded with a `require` rooted at Pi's own node_modules (/opt/pi/node_modules
 * in the runner image, where hack/pi's lock puts it; $OQTO_PLAYWRIGHT_MODULES overrides it).
 */

const DEFAULT_LISTEN = "127.0.0.1:8081";
const DEFAULT_MODULES = "/opt/pi/node_modules/";
const CONNECT_TIMEOUT_MS = 15_000;
const NAVIGATION_TIMEOUT_MS = 15_000;
const ACTION_TIMEOUT_MS = 5_000;
const SCREENSHOT_TIMEOUT_MS = 10_000;
const CONTROL_TIMEOUT_MS = 3_000;
/** After a click or Enter: how long to wait for a navigation it may have started. */
const SETTLE_TIMEOUT_MS = 3_000;
const MAX_SNAPSHOT_CHARS = 20_000;
const MAX_TEXT_CHARS = 20_000;
const MAX_ERROR_CHARS = 1_500;
const MAX_TYPED_CHARS = 10_000;
const MAX_URL_CHARS = 4_096;
const MAX_TITLE_CHARS = 300;
/** A ref of the "ai" snapshot: `e5`, or `f1e3` inside a frame. */
const REF = /^[A-Za-z0-9]{1,32}$/;
/** ARIA roles as Playwright's getByRole takes them. */
const ROLE = /^[a-z]{1,32}$/;
const USER_HAS_CONTROL = "the user has taken control of the browser; wait until they hand it back";

type Text = { type: "text"; text: string };
type Image = { type: "image"; data: string; mimeType: string };
type Result = { content: (Text | Image)[]; details: Record<string, unknown> };

function env(name: string): string | undefined {
  const value: unknown = (globalThis as any).process?.env?.[name];
  return typeof value === "string" ? value : undefined;
}

function cut(text: string, max: number, what: string): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n[${what} truncated: showing the first ${max} of ${text.length} characters]`;
}

function message(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  return cut(text, MAX_ERROR_CHARS, "error");
}

/** Whether the user holds the browser, from pi-bridge's loopback API. Throws when they do. */
async function checkControl(tool: string): Promise<void> {
  const listen = env("PI_BRIDGE_DELEGATE_LISTEN");
  const address = listen === undefined ? DEFAULT_LISTEN : listen.trim();
  if (address === "") return; // pi-bridge serves no loopback API: nobody can take control.
  let response: Response;
  try {
    const token = env("PI_BRIDGE_DELEGATE_TOKEN")?.trim();
    response = await fetch(`http://${address}/browser/control`, {
      headers: token ? { authorization: `Bearer ${token}` } : undefined,
      signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS),
    });
  } catch (e) {
    throw new Error(`${tool}: cannot ask pi-bridge (${address}) whether the user controls the browser: ${message(e)}`);
  }
  if (response.status === 404) return; // An older bridge: no user control to respect.
  const text = await response.text().catch(() => "");
  if (!response.ok) throw new Error(`${tool}: pi-bridge's /browser/control answered ${response.status}: ${cut(text, 300, "answer")}`);
  let state: any = null;
  try {
    state = JSON.parse(text);
  } catch {
    throw new Error(`${tool}: pi-bridge's /browser/control answered no JSON`);
  }
  if (state?.controller === "user") throw new Error(`${tool}: ${USER_HAS_CONTROL}`);
}

// `any`: Pi's ExtensionAPI type lives in a package whose name differs between the lines, and
// playwright-core's types are not imported (see above).
export default function browser(pi: any) {
  const cdp = env("OQTO_BROWSER_CDP")?.trim();
  if (!cdp) return; // No browser in this runner: no tools.

  let connection: Promise<any> | null = null;
  /** One action at a time: the tools share one page. */
  let queue: Promise<unknown> = Promise.resolve();

  function playwright(): any {
    const modules = env("OQTO_PLAYWRIGHT_MODULES")?.trim() || DEFAULT_MODULES;
    const dir = modules.endsWith("/") ? modules : `${modules}/`;
    const { createRequire } = (globalThis as any).process.getBuiltinModule("node:module");
    try {
      return createRequire(dir)("playwright-core");
    } catch (e) {
      throw new Error(`playwright-core is not installed in ${dir} (${message(e)})`);
    }
  }

  /** The browser, connected once and again after a disconnect. */
  async function connected(): Promise<any> {
    if (connection === null) {
      const attempt = (async () => {
        const browser = await playwright().chromium.connectOverCDP(cdp, { timeout: CONNECT_TIMEOUT_MS });
        browser.on("disconnected", () => {
          if (connection === attempt) connection = null;
        });
        return browser;
      })();
      connection = attempt;
      attempt.catch(() => {
        if (connection === attempt) connection = null;
      });
    }
    try {
      return await connection;
    } catch (e) {
      throw new Error(`the browser at ${cdp} does not answer: ${message(e)}`);
    }
  }

  /** The first page of the first context: the one the user's live view shows. */
  async function page(): Promise<any> {
    const browser = await connected();
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    return page;
  }

  /** The page's title, as long as a title should be: the page chooses it. */
  async function title(page: any): Promise<string> {
    try {
      return cut(await page.title(), MAX_TITLE_CHARS, "title");
    } catch {
      return "";
    }
  }

  /** The page's address, bounded: a page can make it as long as it likes (a fragment). */
  function where(page: any): string {
    return cut(String(page.url()), MAX_URL_CHARS, "URL");
  }

  async function snapshot(page: any): Promise<string> {
    const aria: string = await page.ariaSnapshot({ mode: "ai", timeout: ACTION_TIMEOUT_MS });
    return cut(aria, MAX_SNAPSHOT_CHARS, "snapshot");
  }

  /** The page's title, URL and snapshot: what the agent sees after each step. */
  async function seen(page: any, first: string): Promise<Text> {
    const lines = [first, `Title: ${await title(page)}`, `URL: ${where(page)}`, "", await snapshot(page)];
    return { type: "text", text: lines.join("\n") };
  }

  /** Waits briefly for a navigation an action may have started; none is fine. */
  async function settle(page: any): Promise<void> {
    await page.waitForLoadState("domcontentloaded", { timeout: SETTLE_TIMEOUT_MS }).catch(() => undefined);
  }

  /** The element `params` names: `ref` from the snapshot, or `role` (and `name`). */
  function target(tool: string, page: any, params: any): { locator: any; label: string } {
    const ref = typeof params?.ref === "string" ? params.ref.trim().replace(/^ref=/, "") : "";
    const role = typeof params?.role === "string" ? params.role.trim().toLowerCase() : "";
    const name = typeof params?.name === "string" ? params.name : undefined;
    if (ref && role) throw new Error(`${tool}: give either \`ref\` or \`role\`, not both`);
    if (ref) {
      if (!REF.test(ref)) throw new Error(`${tool}: \`ref\` must be a ref of the snapshot such as e5, not ${JSON.stringify(ref)}`);
      return { locator: page.locator(`aria-ref=${ref}`), label: `[ref=${ref}]` };
    }
    if (role) {
      if (!ROLE.test(role)) throw new Error(`${tool}: \`role\` must be an ARIA role such as button or link, not ${JSON.stringify(role)}`);
      const options = name === undefined ? {} : { name, exact: true };
      return { locator: page.getByRole(role, options), label: name === undefined ? role : `${role} ${JSON.stringify(name)}` };
    }
    throw new Error(`${tool}: \`ref\` (from browser_snapshot) or \`role\` (with \`name\`) is required`);
  }

  /** Runs one tool: after the control check, alone, with errors named by the tool. */
  function run(tool: string, signal: AbortSignal | undefined, body: (page: any) => Promise<Result>): Promise<Result> {
    const next = queue.then(async () => {
      if (signal?.aborted) throw new Error(`${tool}: stopped`);
      await checkControl(tool);
      try {
        return await body(await page());
      } catch (e) {
        const text = message(e);
        throw new Error(text.startsWith(`${tool}: `) ? text : `${tool}: ${text}`);
      }
    });
    queue = next.catch(() => undefined);
    return next;
  }

  const refParams = {
    ref: { type: "string", description: "The element's ref from the latest snapshot, e.g. e5 (from `[ref=e5]`)." },
    role: { type: "string", description: "Instead of `ref`: the element's ARIA role, e.g. button, link, textbox." },
    name: { type: "string", description: "With `role`: the element's accessible name (exact), e.g. the button's label." },
  };

  pi.registerTool({
    name: "browser_open",
    label: "Open a page in the browser",
    description:
      "Open an http(s) URL in the workspace's browser (the user watches it live; servers you start in " +
      "the workspace are reachable on 127.0.0.1). Returns the page's title, final URL and its " +
      "accessibility snapshot, whose elements carry refs like [ref=e5] for browser_click and browser_type.",
    parameters: {
      type: "object",
      properties: { url: { type: "string", description: "The http:// or https:// URL to open." } },
      required: ["url"],
      additionalProperties: false,
    },
    async execute(_id: string, params: any, signal: AbortSignal | undefined) {
      const raw = typeof params?.url === "string" ? params.url.trim() : "";
      if (!raw) throw new Error("browser_open: `url` must not be empty");
      if (raw.length > MAX_URL_CHARS) throw new Error(`browser_open: \`url\` is longer than ${MAX_URL_CHARS} characters`);
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new Error(`browser_open: \`url\` is not a URL: ${JSON.stringify(raw)}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:")
        throw new Error(`browser_open: \`url\` must be http:// or https://, not ${url.protocol}`);
      return run("browser_open", signal, async (page) => {
        const response = await page.goto(url.href, { waitUntil: "domcontentloaded", timeout: NAVIGATION_TIMEOUT_MS });
        await page.waitForLoadState("load", { timeout: SETTLE_TIMEOUT_MS }).catch(() => undefined);
        const status = response ? ` (HTTP ${response.status()})` : "";
        return { content: [await seen(page, `Opened ${url.href}${status}.`)], details: { url: where(page) } };
      });
    },
  });

  pi.registerTool({
    name: "browser_snapshot",
    label: "Look at the browser's page",
    description:
      "The accessibility snapshot of the page open in the workspace's browser (title, URL, and the " +
      "elements with refs like [ref=e5] for browser_click and browser_type). Refs hold until the next snapshot.",
    parameters: { type: "object", properties: {}, additionalProperties: false },
    async execute(_id: string, _params: any, signal: AbortSignal | undefined) {
      return run("browser_snapshot", signal, async (page) => ({
        content: [await seen(page, "The browser's page:")],
        details: { url: where(page) },
      }));
    },
  });

  pi.registerTool({
    name: "browser_click",
    label: "Click in the browser",
    description:
      "Click an element of the browser's page, named by its `ref` from the latest snapshot (e.g. e5), " +
      "or by `role` and `name` (e.g. role button, name \"Save\"). Returns the page's new snapshot.",
    parameters: { type: "object", properties: refParams, additionalProperties: false },
    async execute(_id: string, params: any, signal: AbortSignal | undefined) {
      return run("browser_click", signal, async (page) => {
        const { locator, label } = target("browser_click", page, params);
        await locator.click({ timeout: ACTION_TIMEOUT_MS });
        await settle(page);
        return { content: [await seen(page, `Clicked ${label}.`)], details: { url: where(page) } };
      });
    },
  });

  pi.registerTool({
    name: "browser_type",
    label: "Type in the browser",
    description:
      "Fill a text field of the browser's page with `text` (replacing what it holds), the field named " +
      "by its `ref` from the latest snapshot or by `role` and `name`; with `submit` press Enter after. " +
      "Returns the page's new snapshot.",
    parameters: {
      type: "object",
      properties: {
        ...refParams,
        text: { type: "string", description: "The text to put into the field." },
        submit: { type: "boolean", description: "Press Enter afterwards (submits most forms)." },
      },
      required: ["text"],
      additionalProperties: false,
    },
    async execute(_id: string, params: any, signal: AbortSignal | undefined) {
      if (typeof params?.text !== "string") throw new Error("browser_type: `text` must be a string");
      if (params.text.length > MAX_TYPED_CHARS) throw new Error(`browser_type: \`text\` is longer than ${MAX_TYPED_CHARS} characters`);
      return run("browser_type", signal, async (page) => {
        const { locator, label } = target("browser_type", page, params);
        await locator.fill(params.text, { timeout: ACTION_TIMEOUT_MS });
        if (params.submit === true) {
          await locator.press("Enter", { timeout: ACTION_TIMEOUT_MS });
          await settle(page);
        }
        const did = `Typed ${params.text.length} characters into ${label}${params.submit === true ? " and pressed Enter" : ""}.`;
        return { content: [await seen(page, did)], details: { url: where(page) } };
      });
    },
  });

  pi.registerTool({
    name: "browser_read_text",
    label: "Read the browser's page",
    description: "The visible text of the page open in the workspace's browser (its body's innerText), with its title and URL.",
    parameters: { type: "object", properties: {}, additionalProperties: false },
    async execute(_id: string, _params: any, signal: AbortSignal | undefined) {
      return run("browser_read_text", signal, async (page) => {
        const text: string = await page.locator("body").innerText({ timeout: ACTION_TIMEOUT_MS });
        const header = `Title: ${await title(page)}\nURL: ${where(page)}\n\n`;
        return { content: [{ type: "text", text: header + cut(text, MAX_TEXT_CHARS, "text") }], details: { url: where(page) } };
      });
    },
  });

  pi.registerTool({
    name: "browser_screenshot",
    label: "Screenshot the browser",
    description: "A JPEG screenshot of the visible part of the page open in the workspace's browser.",
    parameters: { type: "object", properties: {}, additionalProperties: false },
    async execute(_id: string, _params: any, signal: AbortSignal | undefined) {
      return run("browser_screenshot", signal, async (page) => {
        const jpeg = await page.screenshot({ type: "jpeg", quality: 60, timeout: SCREENSHOT_TIMEOUT_MS });
        const size = page.viewportSize();
        const dims = size ? `, ${size.width}x${size.height}` : "";
        const text = `Screenshot of ${JSON.stringify(await title(page))} (${where(page)}${dims}).`;
        return {
          content: [
            { type: "text", text },
            { type: "image", data: jpeg.toString("base64"), mimeType: "image/jpeg" },
          ],
          details: { url: where(page), bytes: jpeg.length },
        };
      });
    },
  });
}
