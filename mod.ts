/**
 * minionize turns a process into a *minion*: it takes the next param from a
 * queue, runs a program or a function with it, acknowledges it on success
 * and lets the queue hand it to another minion when things go wrong. Run as
 * many minions as you like, on as many nodes: the queue is the only shared
 * state.
 *
 * The `minionize` command (`cli.ts`) wraps a program; this module is the
 * library: run a TypeScript function as a minion, or assemble a minion from
 * an engine, a callback and a reporter of your own.
 *
 * @example Run a function over the lines of a file
 * ```ts
 * import { minionize } from "./mod.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "1\n2\n3\n");
 * let sum = 0;
 * const summary = await minionize((param) => {
 *   sum += Number(param);
 * }, { env: { MINION_ENGINE: "file", FILE_PATH: path }, handleSignals: false });
 * console.log(summary.done, sum); // 3 6
 * ```
 *
 * @module
 */

export type {
  Callback,
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  EventBase,
  JsonValue,
  LineFormat,
  MinionEvent,
  MinionEventMap,
  Outcome,
  PhaseTimings,
  PublishOptions,
  QueueCensus,
  Reporter,
  ReporterOptions,
  ReporterPlugin,
  SchedulerJob,
  StopCause,
  StopReason,
  TaskContext,
} from "./core/contracts.ts";
export { ConfigError, TaskFailure, TaskStop } from "./core/errors.ts";
export {
  type MinionOptions,
  type MinionSummary,
  newMinionId,
  runMinion,
} from "./core/minion.ts";
export { type Clock, type ClockTimer, systemClock } from "./core/clock.ts";
export { readSettings, type Settings } from "./runner/config.ts";
export { stderrSink, type TextSink } from "./runner/stderr.ts";
export {
  type InFlight,
  MinionStats,
  type PhaseSummary,
  type StatsIdentity,
  type StatsSnapshot,
} from "./core/stats.ts";
export type { StatsAddress } from "./runner/stats_server.ts";
export type { MinionStatus } from "./core/reports.ts";
export { buildArgv, formatArgv, paramWords } from "./core/template.ts";
export type { GpuVendor } from "./core/gpus.ts";
export {
  type PlanOptions,
  planSlots,
  type SlotPlan,
  type SlotResources,
} from "./core/slots.ts";
export {
  canonicalJson,
  decode,
  type Decoded,
  type Decoder,
} from "./core/param.ts";
export {
  ProcessCallback,
  type ProcessCallbackOptions,
} from "./callbacks/process.ts";
export {
  CONTAINER_RUNTIMES,
  ContainerCallback,
  type ContainerCallbackOptions,
  type ContainerCommand,
  type ContainerRuntime,
  type ContainerTask,
  MINION_LABEL,
  readContainerOptions,
} from "./callbacks/container.ts";
export { FunctionCallback, type TaskFunction } from "./callbacks/function.ts";
export {
  minionize,
  type MinionizeOptions,
  minionizer,
} from "./runner/minionize.ts";

if (import.meta.main) {
  // Run as a program (`deno run -A mod.ts`, `deno run -A jsr:@minionize/cli`),
  // this module is the minionize command; imported, only the library.
  const { main } = await import("./cli.ts");
  Deno.exit(await main(Deno.args));
}
