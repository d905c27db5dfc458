// A strict OpenMetrics text parser for tests: it throws on anything the format does not allow, so a scrape that parses is a valid one.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  type: string;
  unit?: string;
  help?: string;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = ["counter", "gauge", "stateset", "info", "histogram", "gaugehistogram", "summary", "unknown"];
/** Sample name suffixes each type allows. */
const SUFFIXES: Record<string, string[]> = { counter: ["_total", "_created"], gauge: [""], stateset: [""], info: ["_info"], unknown: [""] };

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    const key = text.slice(i, eq);
    if (eq < 0 || !NAME.test(key) || text[eq + 1] !== '"') throw new Error(`bad label in: ${line}`);
    let j = eq + 2;
    let value = "";
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`bad escape in: ${line}`);
      } else if (text[j] === "\n") throw new Error(`raw newline in a label: ${line}`);
      else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    if (key in labels) throw new Error(`label ${key} twice in: ${line}`);
    labels[key] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (i < text.length) throw new Error(`expected ',' between labels in: ${line}`);
  }
  return labels;
}

export function parseOpenMetrics(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith("# EOF\n")) throw new Error("does not end with '# EOF' and a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.filter((l) => l === "# EOF").length !== 1 || lines.at(-1) !== "# EOF") throw new Error("'# EOF' must appear once, last");
  const families = new Map<string, ParsedFamily>();
  let current: string | undefined;
  for (const line of lines.slice(0, -1)) {
    if (line === "") throw new Error("blank lines are not allowed");
    const meta = /^# (TYPE|UNIT|HELP) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      if (kind === "TYPE") {
        if (families.has(name)) throw new Error(`family ${name} declared twice (samples of a family must be contiguous)`);
        if (!TYPES.includes(rest)) throw new Error(`unknown type ${rest}`);
        families.set(name, { type: rest, samples: [] });
        current = name;
        continue;
      }
      if (name !== current) throw new Error(`${kind} for ${name} outside its family`);
      const fam = families.get(name)!;
      if (kind === "UNIT") {
        if (!name.endsWith(`_${rest}`)) throw new Error(`family ${name} has unit ${rest} but its name does not end in _${rest}`);
        fam.unit = rest;
      } else fam.help = rest;
      continue;
    }
    if (line.startsWith("#")) throw new Error(`unexpected comment: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, sampleName, , labelText, valueText] = m;
    if (!current || !sampleName.startsWith(current)) throw new Error(`sample ${sampleName} outside its family (current: ${current})`);
    const fam = families.get(current)!;
    const suffix = sampleName.slice(current.length);
    if (!(SUFFIXES[fam.type] ?? [""]).includes(suffix)) throw new Error(`sample ${sampleName} has a suffix a ${fam.type} does not allow`);
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?Inf$|^NaN$/.test(valueText)) throw new Error(`bad value ${valueText}`);
    const labels = labelText ? parseLabels(labelText, line) : {};
    if (fam.type === "stateset") {
      if (!(current in labels)) throw new Error(`stateset sample without its ${current} label: ${line}`);
      if (valueText !== "0" && valueText !== "1") throw new Error(`stateset value must be 0 or 1: ${line}`);
    }
    if (fam.type === "counter" && suffix === "_total" && Number(valueText) < 0) throw new Error(`negative counter: ${line}`);
    fam.samples.push({ name: sampleName, labels, value: Number(valueText) });
  }
  return families;
}
