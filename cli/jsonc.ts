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
    const what = printParseErrorCode(first.error)
      .replace(/(?<!^)([A-Z])/g, " $1")
      .toLowerCase();
    // Only the first: the parser's recovery makes later errors mostly echoes of it.
    throw new SyntaxError(`line ${line} column ${column}: ${what}`);
  }
  return value;
}
