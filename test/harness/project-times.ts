// Vitest reporter: after a run, one line per project (node, each node-pg<N> of the matrix, workers) with its files, tests and summed time.
import type { Reporter, TestModule } from "vitest/node";

export default class ProjectTimes implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const byProject = new Map<string, { files: number; tests: number; ms: number }>();
    for (const m of modules) {
      const p = byProject.get(m.project.name) ?? { files: 0, tests: 0, ms: 0 };
      p.files++;
      p.tests += [...m.children.allTests()].length;
      p.ms += m.diagnostic().duration;
      byProject.set(m.project.name, p);
    }
    // Files run in parallel, so the sums add up to more than the wall-clock time: they show where it goes.
    const lines = [...byProject].map(([name, p]) => `  ${name.padEnd(12)} ${String(p.files).padStart(3)} files ${String(p.tests).padStart(4)} tests ${(p.ms / 1000).toFixed(1).padStart(7)} s`);
    process.stdout.write(`\nTime per project (sum of its files' durations):\n${lines.join("\n")}\n`);
  }
}
