import { describe, expect, it } from "vitest";
import { printable } from "./printable.js";

describe("printable", () => {
  it("neutralises terminal escape sequences and keeps text, newlines and tabs", () => {
    expect(printable("title\u001b]0;pwned\u0007 ok")).toBe("title\\u001b]0;pwned\\u0007 ok");
    expect(printable("\u001b[2J\u009bcafé\n\tü")).toBe("\\u001b[2J\\u009bcafé\n\tü");
    expect(printable("\r")).toBe("\\u000d");
  });
});
