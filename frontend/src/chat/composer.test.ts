import { describe, expect, it } from "vitest";
import { MAX_IMAGES, MAX_IMAGE_BYTES, dataUrl, promptImages, refusal, type Attachment } from "./attachments";
import { matchCommands, parseCommands, slashWord } from "./commands";

const attachment = (bytes: number): Attachment => ({ id: String(Math.random()), name: "a.png", mediaType: "image/png", data: "AAAA", bytes });

describe("image attachments", () => {
  it("accept the image types the models read, within the size bounds", () => {
    expect(refusal({ name: "a.png", type: "image/png", size: 10 }, [])).toBeNull();
    expect(refusal({ name: "a.svg", type: "image/svg+xml", size: 10 }, [])).toMatch(/only PNG, JPEG, GIF and WebP/);
    expect(refusal({ name: "a.pdf", type: "application/pdf", size: 10 }, [])).toMatch(/a\.pdf/);
    expect(refusal({ name: "big.png", type: "image/png", size: MAX_IMAGE_BYTES + 1 }, [])).toMatch(/larger than 5 MiB/);
    expect(refusal({ name: "e.png", type: "image/png", size: 0 }, [])).toMatch(/empty/);
    const full = Array.from({ length: MAX_IMAGES }, () => attachment(10));
    expect(refusal({ name: "a.png", type: "image/png", size: 10 }, full)).toMatch(/at most 8/);
    const heavy = [attachment(MAX_IMAGE_BYTES), attachment(MAX_IMAGE_BYTES - 10)];
    expect(refusal({ name: "a.png", type: "image/png", size: 100 }, heavy)).toMatch(/10 MiB in all/);
  });

  it("travel as the protocol's images and show only as accepted types", () => {
    expect(promptImages([attachment(3)])).toEqual([{ data: "AAAA", media_type: "image/png" }]);
    expect(dataUrl("image/png", "AAAA")).toBe("data:image/png;base64,AAAA");
    expect(dataUrl("text/html", "AAAA")).toBeNull();
  });
});

describe("slash commands", () => {
  const commands = parseCommands({
    commands: [
      { name: "review", description: "Review the diff", source: "prompt" },
      { name: "compact-notes", source: "extension" },
      { name: "skill:pdf", source: "skill" },
      { name: "bad name" },
      { description: "no name" },
    ],
  });

  it("keep well-formed commands, sorted", () => {
    expect(commands.map((c) => c.name)).toEqual(["compact-notes", "review", "skill:pdf"]);
    expect(parseCommands([{ name: "x" }]).map((c) => c.name)).toEqual(["x"]);
    expect(parseCommands("nonsense")).toEqual([]);
  });

  it("are offered while the first word after / is typed", () => {
    expect(slashWord("/")).toBe("");
    expect(slashWord("/rev")).toBe("rev");
    expect(slashWord("/review now")).toBeNull();
    expect(slashWord("hello /rev")).toBeNull();
    expect(matchCommands(commands, "").length).toBe(3);
    expect(matchCommands(commands, "re").map((c) => c.name)).toEqual(["review"]);
    expect(matchCommands(commands, "pdf").map((c) => c.name)).toEqual(["skill:pdf"]);
  });
});
