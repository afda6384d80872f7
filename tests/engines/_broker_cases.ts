/**
 * The cases every broker engine of this family must pass against its real
 * server, run by minion processes spawned from the CLI: none lost among
 * three minions, retries then a recorded failure, SIGTERM give-back, kill -9
 * redelivery after the lease, malformed JSON, dry runs, and a clear error
 * when the server is unreachable.
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { runMinion } from "../../core/minion.ts";
import { ENGINES } from "../../core/registry.ts";
import { ROOT, type RunningService, waitUntil } from "../services/harness.ts";

/** An engine and its server, as the cases see them. */
export interface BrokerUnderTest {
  /** The engine's registry name. */
  engine: string;
  /** Whether its server is installed. */
  available(): boolean;
  /** Starts its server. */
  start(): Promise<RunningService>;
  /** Variables naming a queue of its own for one case. */
  scope(tag: string): Record<string, string>;
  /** The variable choosing the decoder, e.g. `REDIS_DECODER`. */
  decoderVariable: string;
  /** The texts of the params recorded failed (dead-lettered). */
  failed(env: Record<string, string>): Promise<string[]>;
  /** Variables pointing at a server that does not answer. */
  unreachable: Record<string, string>;
  /** Whether a SIGTERM give-back keeps the attempt count. */
  releaseKeepsAttempt: boolean;
  /** Cuts every client connection to the server, when it can. */
  dropConnections?(env: Record<string, string>): Promise<void>;
}

const decoder = new TextDecoder();

/** Puts `params` onto the engine's queue through its `publish`. */
export async function publish(
  engine: string,
  env: Record<string, string>,
  params: JsonValue[],
): Promise<void> {
  const plugin = await ENGINES[engine]!();
  async function* each() {
    yield* params;
  }
  await plugin.publish!(each(), { env, create: true });
}

/** A minion process running `program` with `args`. */
function minion(
  env: Record<string, string>,
  options: string[],
  program: string[],
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, ...options, "--", ...program],
    env,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l);
  } catch {
    return [];
  }
}

/** A shell program that appends its param and attempt to `out`. */
function recorder(out: string, then = ""): string[] {
  return ["sh", "-c", `echo "$1 $MINION_ATTEMPT" >> '${out}'; ${then}`, "sh"];
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * Registers one test per engine with a step per case, all against one
 * server started for the test.
 */
export function brokerCases(broker: BrokerUnderTest): void {
  const ok = broker.available();
  const name = broker.engine;
  Deno.test({
    name: `${name} engine passes the broker cases against its real server`,
    ignore: !ok,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const service = await broker.start();
      const dir = await Deno.makeTempDir({ prefix: `minionize-${name}-` });
      let cases = 0;
      const scoped = (extra: Record<string, string> = {}) => ({
        ...Deno.env.toObject(),
        ...service.env,
        ...broker.scope(`case${++cases}_${crypto.randomUUID().slice(0, 6)}`),
        MINION_ENGINE: name,
        ...extra,
      });
      try {
        await t.step(
          `${name} engine hands 500 params to 3 minion processes and loses none`,
          async () => {
            const env = scoped();
            const params = Array.from({ length: 500 }, (_, i) => `p${i}`);
            await publish(name, env, params);
            const out = `${dir}/many.txt`;
            const results = await Promise.all(
              [0, 1, 2].map(() =>
                finish(
                  minion(env, ["-j", "4", "--idle-exit", "3"], recorder(out)),
                )
              ),
            );
            for (const result of results) {
              assert(
                result.code === 0,
                `a minion exited ${result.code}: ${result.stderr}`,
              );
            }
            const seen = new Set(
              (await lines(out)).map((l) => l.split(" ")[0]),
            );
            const lost = params.filter((p) => !seen.has(p));
            assert(
              lost.length === 0,
              `lost ${lost.length} params: ${lost.slice(0, 5)}`,
            );
          },
        );

        await t.step(
          `${name} engine runs a failing param 3 times with --retries 2, then records it failed`,
          async () => {
            const env = scoped({ MINION_LEASE: "5" });
            await publish(name, env, ["doomed"]);
            const out = `${dir}/retries.txt`;
            const result = await finish(
              minion(
                env,
                ["--retries", "2", "--idle-exit", "3"],
                recorder(out, "exit 3"),
              ),
            );
            assert(result.code === 1, `exit ${result.code}: ${result.stderr}`);
            const runs = await lines(out);
            assert(
              runs.join(",") === "doomed 1,doomed 2,doomed 3",
              `runs: ${runs.join(",")}`,
            );
            const failed = await broker.failed(env);
            assert(
              failed.join(",") === "doomed",
              `recorded failed: ${failed.join(",")}`,
            );
          },
        );

        await t.step(
          `${name} engine gives a param back on SIGTERM and another minion runs it`,
          async () => {
            const env = scoped({ MINION_LEASE: "60" });
            await publish(name, env, ["long"]);
            const started = `${dir}/sigterm-started.txt`;
            const first = minion(env, [], recorder(started, "sleep 60"));
            await waitUntil(
              "the first run",
              async () => (await lines(started)).length > 0,
              60_000,
            );
            first.kill("SIGTERM");
            const stopped = await finish(first);
            assert(
              stopped.code === 143,
              `first exit ${stopped.code}: ${stopped.stderr}`,
            );
            const out = `${dir}/sigterm-done.txt`;
            const t0 = Date.now();
            const second = await finish(
              minion(env, ["--idle-exit", "3"], recorder(out)),
            );
            assert(
              second.code === 0,
              `second exit ${second.code}: ${second.stderr}`,
            );
            const runs = await lines(out);
            const attempt = broker.releaseKeepsAttempt ? "1" : "2";
            assert(
              runs.join(",") === `long ${attempt}`,
              `second minion ran: ${runs.join(",")}`,
            );
            // Taken at once, not after the 60 s lease.
            assert(Date.now() - t0 < 30_000, "the param came back too late");
          },
        );

        await t.step(
          `${name} engine gives a killed minion's param to another after MINION_LEASE`,
          async () => {
            const env = scoped({ MINION_LEASE: "2" });
            await publish(name, env, ["orphan"]);
            const started = `${dir}/kill-started.txt`;
            const pids = `${dir}/kill-pids.txt`;
            const first = minion(
              env,
              [],
              recorder(started, `echo $$ >> '${pids}'; exec sleep 60`),
            );
            await waitUntil(
              "the first run",
              async () => (await lines(pids)).length > 0,
              60_000,
            );
            first.kill("SIGKILL");
            // Its orphaned task holds the minion's output pipes open.
            for (const pid of await lines(pids)) {
              try {
                Deno.kill(Number(pid), "SIGKILL");
              } catch {
                // already gone
              }
            }
            await finish(first);
            const out = `${dir}/kill-done.txt`;
            const second = await finish(
              minion(env, ["--idle-exit", "6"], recorder(out)),
            );
            assert(
              second.code === 0,
              `second exit ${second.code}: ${second.stderr}`,
            );
            const runs = await lines(out);
            assert(
              runs.length === 1 && runs[0]!.startsWith("orphan "),
              `second minion ran: ${runs.join(",")}`,
            );
          },
        );

        await t.step(
          `${name} engine records a malformed JSON message failed without running it`,
          async () => {
            const env = scoped();
            await publish(name, env, ["{not json", "[1]"]);
            const out = `${dir}/malformed.txt`;
            const result = await finish(
              minion(
                { ...env, [broker.decoderVariable]: "json" },
                ["--idle-exit", "3"],
                recorder(out),
              ),
            );
            assert(result.code === 1, `exit ${result.code}: ${result.stderr}`);
            const runs = await lines(out);
            assert(runs.join(",") === "1 1", `ran: ${runs.join(",")}`);
            const failed = await broker.failed(env);
            assert(
              failed.join(",") === "{not json",
              `recorded failed: ${failed.join(",")}`,
            );
          },
        );

        await t.step(
          `${name} engine consumes nothing in a dry run`,
          async () => {
            const env = scoped();
            await publish(name, env, ["a", "b", "c"]);
            const dry = await finish(
              minion(env, ["--dry-run", "--idle-exit", "2"], ["echo", "run"]),
            );
            assert(dry.code === 0, `dry exit ${dry.code}: ${dry.stderr}`);
            const printed = dry.stdout.split("\n").filter((l) => l).sort();
            assert(
              printed.join(",") === "echo run a,echo run b,echo run c",
              `dry run printed: ${printed.join(",")}`,
            );
            const out = `${dir}/dry.txt`;
            const real = await finish(
              minion(env, ["--idle-exit", "3"], recorder(out)),
            );
            assert(real.code === 0, `exit ${real.code}: ${real.stderr}`);
            const runs = (await lines(out)).sort();
            assert(runs.join(",") === "a 1,b 1,c 1", `ran: ${runs.join(",")}`);
          },
        );

        await t.step(
          `${name} engine counts the params that remain`,
          async () => {
            const env = scoped();
            await publish(name, env, ["a", "b", "c"]);
            const plugin = await ENGINES[name]!();
            const engine = await plugin.open({
              env,
              concurrency: 1,
              dryRun: false,
            });
            try {
              const before = await engine.remaining?.();
              assert(before === 3, `remaining before: ${before}`);
              const delivery = await engine.next(new AbortController().signal);
              assert(delivery, "nothing handed out");
              await delivery.ack();
              await waitUntil(
                "the ack",
                async () => await engine.remaining?.() === 2,
                10_000,
              );
            } finally {
              await engine.close();
            }
          },
        );

        if (broker.dropConnections) {
          await t.step(
            `${name} engine reconnects when its connections are cut mid-run`,
            async () => {
              const env = scoped();
              const params = Array.from({ length: 200 }, (_, i) => `r${i}`);
              await publish(name, env, params);
              const plugin = await ENGINES[name]!();
              const engine = await plugin.open({
                env,
                concurrency: 4,
                dryRun: false,
              });
              const seen = new Set<string>();
              let atCut = -1;
              const cut = setTimeout(() => {
                atCut = seen.size;
                broker.dropConnections!(env);
              }, 300);
              try {
                const summary = await runMinion({
                  engine,
                  concurrency: 4,
                  idleExitMs: 3_000,
                  callback: {
                    process: async (param) => {
                      seen.add(String(param));
                      await new Promise((r) => setTimeout(r, 20));
                    },
                  },
                });
                assert(summary.failed === 0, `${summary.failed} failed`);
              } finally {
                clearTimeout(cut);
                await engine.close();
              }
              assert(
                atCut >= 0 && atCut < params.length,
                `the cut came at ${atCut} of ${params.length} params, not mid-run`,
              );
              const lost = params.filter((p) => !seen.has(p));
              assert(lost.length === 0, `lost ${lost.length} params`);
            },
          );
        }

        await t.step(
          `${name} engine says in one line which server it cannot reach`,
          async () => {
            const env = { ...scoped(), ...broker.unreachable };
            const result = await finish(minion(env, [], ["true"]));
            assert(result.code === 2, `exit ${result.code}: ${result.stderr}`);
            const text = result.stderr.trim();
            assert(!text.includes("\n"), `more than one line: ${text}`);
            const url = Object.values(broker.unreachable)[0]!;
            assert(
              text.startsWith("minionize: error: ") && text.includes(url),
              `message: ${text}`,
            );
          },
        );
      } finally {
        await service.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  });
}
