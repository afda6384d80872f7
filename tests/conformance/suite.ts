/**
 * The engine conformance suite: one set of cases every engine that can take
 * part must pass, run end to end through the `minionize` command against
 * the engine's real server. An engine joins with a few lines:
 *
 * ```ts ignore
 * import { conformance } from "./suite.ts";
 * conformance({ engine: "redis", available, start, queue });
 * ```
 *
 * Params are published with `minionize publish`; minions are separate
 * processes running `sh`. Delivery order is never assumed, and nothing is
 * asserted about speed: only about what ran and how it was recorded.
 *
 * @module
 */

import type { RunningService } from "../services/harness.ts";
import { waitUntil } from "../services/harness.ts";
import { cliCommand } from "../_cli.ts";

/** A fresh, empty queue of one engine, for one case. */
export interface ConformanceQueue {
  /** Variables pointing minions and `minionize publish` at it (text params). */
  env: Record<string, string>;
  /** How long a killed minion's claim lasts, in ms (kept short for tests). */
  leaseMs: number;
  /** The params that reached the dead-letter place, when the queue has one. */
  deadLetters?(): Promise<string[]>;
  /**
   * Variables for the n-th minion of a case (from 0), over `env`: for a queue
   * that minions reach by different paths, e.g. a sweep directory seen
   * through several filesystem clients.
   */
  minionEnv?(n: number): Record<string, string>;
  /** Releases what the queue holds (clients, files). */
  close(): Promise<void>;
}

/** An engine and its server, as the suite drives them. */
export interface ConformanceTarget {
  /** The engine's name, as `--engine` takes it. */
  engine: string;
  /** Names the test. @default {"ENGINE engine"} */
  title?: string;
  /**
   * Variables that make its minions decode params as JSON. Absent for an
   * engine whose params are never text, where no message can be malformed
   * (the malformed case is then reported ignored).
   */
  jsonDecoder?: Record<string, string>;
  /** Whether its server can run here (under CI, throws when it cannot). */
  available(): boolean;
  /** Starts its server once for the whole suite. */
  start(): Promise<RunningService>;
  /** Creates a fresh queue on the running server for the case `name`. */
  queue(service: RunningService, name: string): Promise<ConformanceQueue>;
}

interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

interface Minion {
  pid: number;
  finished: Promise<Finished>;
}

const decoder = new TextDecoder();

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

function spawn(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  input = "",
): Minion {
  const child = cliCommand(args, { env, cwd, stdin: input }).spawn();
  const finished = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const output = await child.output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  })();
  return { pid: child.pid, finished };
}

/** Publishes `lines` as text params with `minionize publish --create`. */
async function publish(
  queue: ConformanceQueue,
  engine: string,
  cwd: string,
  lines: string[],
): Promise<void> {
  const result = await spawn(
    // --create: a queue that needs creating on first publish gets it.
    ["publish", "--engine", engine, "--lines", "--create"],
    queue.env,
    cwd,
    lines.map((line) => `${line}\n`).join(""),
  ).finished;
  same(result.code, 0, `publish exit status (${result.stderr.trim()})`);
}

/** The lines of `path`, or none when it does not exist. */
async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

interface FinishedEvent {
  type: string;
  param: unknown;
  attempt: number;
  outcome: string;
}

/** Every event the json reporter wrote under `directory`. */
async function events(directory: string): Promise<FinishedEvent[]> {
  const all: FinishedEvent[] = [];
  for await (const entry of Deno.readDir(directory)) {
    for (const line of await lines(`${directory}/${entry.name}`)) {
      all.push(JSON.parse(line));
    }
  }
  return all;
}

/** A script for `sh -c` that appends `$MINION_PARAM` to `file`, then `rest`. */
function record(file: string, rest = ""): string[] {
  return ["sh", "-c", `printf '%s\\n' "$MINION_PARAM" >> '${file}'; ${rest}`];
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      Deno.kill(target, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Registers the suite for `target`: one test whose steps are the cases,
 * sharing one server.
 */
export function conformance(target: ConformanceTarget): void {
  const ok = target.available();
  Deno.test({
    name: `${
      target.title ?? `${target.engine} engine`
    } passes the conformance suite`,
    ignore: !ok,
    async fn(t) {
      const service = await target.start();
      const engine = target.engine;
      try {
        /** Runs `body` with a fresh queue and working directory. */
        const step = (
          name: string,
          body: (queue: ConformanceQueue, dir: string) => Promise<void>,
        ) =>
          t.step(name, async () => {
            const queue = await target.queue(service, name);
            const dir = await Deno.makeTempDir({ prefix: "conformance-" });
            try {
              await body(queue, dir);
            } finally {
              await queue.close();
              await Deno.remove(dir, { recursive: true });
            }
          });
        let spawned = 0;
        const minion = (
          queue: ConformanceQueue,
          dir: string,
          args: string[],
          env: Record<string, string> = {},
        ) =>
          spawn(
            ["--engine", engine, ...args],
            {
              ...queue.env,
              ...queue.minionEnv?.(spawned++),
              REPORTER_JSON_DIRECTORY: `${dir}/report`,
              ...env,
            },
            dir,
          );

        await step(
          "500 params over 3 minions are each processed, none lost",
          async (queue, dir) => {
            const params = Array.from({ length: 500 }, (_, i) => `p${i}`);
            await publish(queue, engine, dir, params);
            const script =
              `printf '%s %s\\n' "$MINION_ID" "$MINION_PARAM" >> '${dir}/done'`;
            const minions = Array.from(
              { length: 3 },
              () =>
                minion(queue, dir, [
                  "-j",
                  "2",
                  "--idle-exit",
                  "5",
                  "sh",
                  "-c",
                  script,
                ]),
            );
            const results = await Promise.all(minions.map((m) => m.finished));
            for (const result of results) {
              same(result.code, 0, `minion exit status (${result.stderr})`);
            }
            const done = await lines(`${dir}/done`);
            const seen = new Set(done.map((l) => JSON.parse(l.split(" ")[1]!)));
            const lost = params.filter((p) => !seen.has(p));
            same(lost, [], "params never processed");
          },
        );

        await step(
          "a task failing with --retries 2 runs 3 times, then is recorded failed",
          async (queue, dir) => {
            await publish(queue, engine, dir, ["doomed"]);
            const result = await minion(queue, dir, [
              "--retries",
              "2",
              "--idle-exit",
              "4",
              "--reporter",
              "json",
              ...record(`${dir}/runs`, "exit 3"),
            ]).finished;
            same(result.code, 1, `minion exit status (${result.stderr})`);
            same(
              await lines(`${dir}/runs`),
              ['"doomed"', '"doomed"', '"doomed"'],
              "runs",
            );
            const finished = (await events(`${dir}/report`))
              .filter((e) => e.type === "param.finished")
              .map((e) => [e.attempt, e.outcome]);
            same(
              finished,
              [[1, "retried"], [2, "retried"], [3, "failed"]],
              "outcomes",
            );
            if (queue.deadLetters) {
              same(await queue.deadLetters(), ["doomed"], "dead letters");
            }
          },
        );

        await step(
          "a param whose minion gets SIGTERM is processed by another minion",
          async (queue, dir) => {
            await publish(queue, engine, dir, ["interrupted"]);
            const first = minion(queue, dir, [
              "--reporter",
              "json",
              ...record(`${dir}/started`, "sleep 60"),
            ]);
            await waitUntil(
              "the first task",
              async () => (await lines(`${dir}/started`)).length > 0,
              60_000,
            );
            Deno.kill(first.pid, "SIGTERM");
            const stopped = await first.finished;
            same(stopped.code, 143, `first minion exit (${stopped.stderr})`);
            const given = (await events(`${dir}/report`))
              .filter((e) => e.type === "param.finished")
              .map((e) => [e.param, e.outcome]);
            same(
              given,
              [["interrupted", "requeued"]],
              "first minion's outcome",
            );
            const second = await minion(queue, dir, [
              "--idle-exit",
              "4",
              ...record(`${dir}/done`),
            ]).finished;
            same(second.code, 0, `second minion exit (${second.stderr})`);
            same(await lines(`${dir}/done`), ['"interrupted"'], "processed");
          },
        );

        await step(
          "a param whose minion is killed comes back after its lease",
          async (queue, dir) => {
            await publish(queue, engine, dir, ["orphaned"]);
            const first = minion(queue, dir, [
              "sh",
              "-c",
              `echo $$ >> '${dir}/pids'; exec sleep 120`,
            ]);
            await waitUntil(
              "the first task",
              async () => (await lines(`${dir}/pids`)).length > 0,
              60_000,
            );
            Deno.kill(first.pid, "SIGKILL");
            // The task outlives its minion (its own process group) and holds
            // its output pipes: end it too, as a lost node would.
            for (const pid of await lines(`${dir}/pids`)) {
              killGroup(Number(pid));
            }
            await first.finished;
            const idle = Math.ceil(queue.leaseMs / 1000) + 6;
            const second = await minion(queue, dir, [
              "--idle-exit",
              String(idle),
              ...record(`${dir}/done`),
            ]).finished;
            same(second.code, 0, `second minion exit (${second.stderr})`);
            same(await lines(`${dir}/done`), ['"orphaned"'], "processed");
          },
        );

        const jsonDecoder = target.jsonDecoder;
        const malformed =
          "a message that is not JSON under the JSON decoder is recorded failed once";
        // Engines without a decoder setting (execo, file) take every param
        // as text: no message of theirs is malformed, so the case is not
        // listed for them rather than listed as ignored.
        if (jsonDecoder) {
          await step(
            malformed,
            async (queue, dir) => {
              await publish(queue, engine, dir, ["not json", '{"n": 1}']);
              const result = await minion(
                queue,
                dir,
                [
                  "--idle-exit",
                  "4",
                  "--reporter",
                  "json",
                  "--retries",
                  "2",
                  ...record(`${dir}/done`),
                ],
                jsonDecoder,
              ).finished;
              same(result.code, 1, `minion exit status (${result.stderr})`);
              same(await lines(`${dir}/done`), ['{"n":1}'], "runs");
              const report = await events(`${dir}/report`);
              const finished = report
                .filter((e) => e.type === "param.finished")
                .map((e) => [e.param, e.outcome])
                .sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
              same(
                finished,
                [["not json", "failed"], [{ n: 1 }, "done"]],
                "outcomes",
              );
              if (queue.deadLetters) {
                same(await queue.deadLetters(), ["not json"], "dead letters");
              }
            },
          );
        }

        await step("a dry run shows every param and consumes none", async (
          queue,
          dir,
        ) => {
          const params = ["alpha", "beta", "gamma"];
          await publish(queue, engine, dir, params);
          const dry = await minion(queue, dir, [
            "--dry-run",
            "--idle-exit",
            "4",
            "echo",
            "run",
          ]).finished;
          same(dry.code, 0, `dry run exit status (${dry.stderr})`);
          for (const param of params) {
            check(
              dry.stdout.includes(`echo run ${param}`),
              `dry run shows ${param}: ${dry.stdout}`,
            );
          }
          const real = await minion(queue, dir, [
            "--idle-exit",
            "4",
            ...record(`${dir}/done`),
          ]).finished;
          same(real.code, 0, `real run exit status (${real.stderr})`);
          same(
            (await lines(`${dir}/done`)).sort(),
            params.map((p) => JSON.stringify(p)),
            "params left for the real run",
          );
        });
      } finally {
        await service.stop();
      }
    },
  });
}
