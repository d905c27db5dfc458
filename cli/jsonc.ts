// wrangler.jsonc read as wrangler reads it (jsonc-parser: comments, trailing commas), every syntax error named by line and column.
import { parse, printParseErrorCode, type ParseError } from "jsonc-parser";

/** 1-based line and column of a character offset, as editors count them. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf("\n") + 1;
  return { line: before.split("\n").length, column: offset - lineStart + 1 };
}

/** The parsed value; a SyntaxError naming the first problem ("line 3 column 5: comma expected") for anything that is not JSONC. */
export function parseJsonc(text: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) {
    const { line, column } = lineColumn(text, first.offset);
    // "CommaExpected" → "comma expected": the library's own code names, in words.
    const what = printParseErrorCode(first.error).replace(/(?<!^)([A-Z])/g, " $1").toLowerCase();
    // Only the first: the parser's recovery makes later errors mostly echoes of it.
    throw new SyntaxError(`line ${line} column ${column}: ${what}`);
  }
  return value;
}

/** KEY=value lines as wrangler reads .dev.vars: '#' comments, optional single or double quotes. */
export function parseDotenv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2];
    if (v.length >= 2 && (v[0] === "'" || v[0] === '"') && v.at(-1) === v[0]) {
      v = v.slice(1, -1);
      if (m[2][0] === '"') v = v.replace(/\\n/g, "\n");
    } else v = v.replace(/\s+#.*$/, "");
    vars[m[1]] = v;
  }
  return vars;
}
