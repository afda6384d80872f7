/**
 * What the broker engines (redis, postgres, nats, rabbitmq, kafka) must do
 * beyond the shared conformance suite (`tests/conformance/`), against their
 * real servers: a SIGTERM give-back that does not use up an attempt where
 * the server allows, counting what remains, reconnecting when connections
 * are cut (or the server restarts) mid-run, and a one-line error naming the
 * server it cannot reach.
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { runMinion } from "../../core/minion.ts";
import { ENGINES } from "../../runner/registry.ts";
import { ROOT, type RunningService, waitUntil } from "../services/harness.ts";

/** An engine and its server, as the cases see them. */
export interface BrokerUnderTest<S extends RunningService = RunningService> {
  /** The engine's registry name. */
  engine: string;
  /** Whether its server is installed. */
  available(): boolean;
  /** Starts its server. */
  start(): Promise<S>;
  /** Variables naming a queue of its own for one case. */
  scope(tag: string): Record<string, string>;
  /** Variables pointing at a server that does not answer. */
  unreachable: Record<string, string>;
  /** Whether a SIGTERM give-back keeps the attempt count. */
  releaseKeepsAttempt: boolean;
  /**
   * Whether `remaining()` counts the params not yet acked, so that the
   * count case applies.
   * @default {true}
   */
  countsRemaining?: boolean;
  /**
   * How long a minion that finds nothing waits before it exits, in
   * seconds: longer where joining a consumer group takes a while.
   * @default {3}
   */
  idleExitSeconds?: number;
  /** Cuts every client connection to the server, when it can. */
  dropConnections?(env: Record<string, string>, service: S): Promise<void>;
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
export function brokerCases<S extends RunningService>(
  broker: BrokerUnderTest<S>,
): void {
  Deno.test({
    name:
      `${broker.engine} engine passes the broker cases against its real server`,
    ignore: !broker.available(),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const service = await broker.start();
      try {
        await brokerSteps(t, broker, service);
      } finally {
        await service.stop();
      }
    },
  });
}

/**
 * Runs the cases as steps of test `t` against `service`, a server the test
 * started (for engine tests that have more steps of their own on it).
 */
export async function brokerSteps<S extends RunningService>(
  t: Deno.TestContext,
  broker: Omit<BrokerUnderTest<S>, "available" | "start">,
  service: S,
): Promise<void> {
  const name = broker.engine;
  const idleExit = broker.idleExitSeconds ?? 3;
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
          minion(env, ["--idle-exit", String(idleExit)], recorder(out)),
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

    if (broker.countsRemaining !== false) {
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
    }

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
            broker.dropConnections!(env, service);
          }, 300);
          try {
            const summary = await runMinion({
              engine,
              concurrency: 4,
              idleExitMs: idleExit * 1_000,
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
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
