/**
 * `minionize [OPTIONS] PROGRAM [ARGS...]`: turns this process into a minion
 * that runs PROGRAM once per param.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { ProcessCallback } from "../callbacks/process.ts";
import { formatOptions, type OptionSpec, parseArgs } from "./_args.ts";
import { readSettings, type Settings } from "../runner/config.ts";
import type { Callback, Env } from "../core/contracts.ts";
import { denial, explain, PERMISSIONS_HINT } from "../core/denied.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { stderrSink, writeStderr } from "../runner/stderr.ts";
import { launch } from "../runner/launch.ts";
import { absolutePath, findExecutable } from "../core/path.ts";
import { shebangProblem } from "../core/spawn_error.ts";
import { PROJECT_FILE, readProject } from "../runner/project.ts";
import { ENGINES, REPORTERS } from "../runner/registry.ts";
import type { SlotPlan } from "../core/slots.ts";
import { VERSION } from "../core/version.ts";
import { RUN_OPTIONS } from "../core/options.ts";

/** The options, with the registered engines and reporters named in help. */
function withNames(options: readonly OptionSpec[]): OptionSpec[] {
  return options.map((option) => ({
    ...option,
    help: option.help
      .replace("{engines}", Object.keys(ENGINES).join(", "))
      .replace("{reporters}", Object.keys(REPORTERS).join(", ")),
  }));
}

export { RUN_OPTIONS };

/** The help text of the run command. */
export function runHelp(): string {
  return `Usage: minionize [OPTIONS] [--] [PROGRAM [ARGS...]]
       minionize [OPTIONS] --container IMAGE [--] [PROGRAM [ARGS...]]
       minionize COMMAND ...   (status, sweep, publish, top, init, submit,
                               permissions; see minionize COMMAND --help)

Takes params from a queue and runs PROGRAM once per param. The param is
appended to ARGS (a string param split into words by shell rules, never run
by a shell), or put in place of {} / {name} / {0} placeholders; {%} is the
task's slot (1 to -j, also MINION_SLOT). Exit 0 acks the param; anything
else fails it.

Without PROGRAM, the command of .minionize.yml runs (see minionize init).

Options (each also read from the variable in brackets, then from .env, then
from .minionize.yml):
${formatOptions(withNames(RUN_OPTIONS))}

Exit status: 0 when every param run succeeded, 1 when one failed, 2 on bad
settings, 130/143 after SIGINT/SIGTERM (in-flight params are given back).`;
}

/** Creates the results directory, when one is asked for. */
async function prepareResults(settings: Settings): Promise<void> {
  if (settings.results === undefined) return;
  try {
    await Deno.mkdir(settings.results, { recursive: true });
  } catch (error) {
    throw new ConfigError(
      "MINION_RESULTS",
      `Cannot use MINION_RESULTS (--results) '${settings.results}': ${
        explain(error, "give a writable directory")
      }`,
      { cause: error },
    );
  }
}

/**
 * Where `program` is, as `findExecutable` says; a search Deno refused is
 * reported as that, not as a missing program.
 */
async function lookFor(program: string, env: Env): Promise<string | undefined> {
  try {
    return await findExecutable(program, env.PATH);
  } catch (error) {
    const refused = denial(error);
    if (!refused) throw error;
    const where = program.includes("/")
      ? absolutePath(program)
      : `$(command -v ${program})`;
    throw new ConfigError(
      "PROGRAM",
      `Cannot look for '${program}'${
        program.includes("/") ? "" : " on PATH"
      }: Deno denied read access to '${refused.target}': run with read access to the program, e.g. --allow-read=${where} (${PERMISSIONS_HINT})`,
      { cause: error },
    );
  }
}

/**
 * Asks for the permission to run `program` now (Deno prompts on a
 * terminal), rather than failing every param when the first one starts.
 *
 * @throws {ConfigError} when Deno denies it
 */
function askToRun(program: string): void {
  if (/[{}]/.test(program)) return; // chosen per param
  const { state } = Deno.permissions.requestSync({
    name: "run",
    command: program,
  });
  if (state === "granted") return;
  const flag = `--allow-run=${
    program.includes("/") ? absolutePath(program) : program
  }`;
  throw new ConfigError(
    "PROGRAM",
    `Cannot run '${program}': Deno denied run access to it: run with ${flag} (${PERMISSIONS_HINT})`,
  );
}

/** The process callback the settings ask for, its program checked. */
async function processCallback(
  command: readonly string[],
  settings: Settings,
  env: Env,
  slots: SlotPlan | undefined,
): Promise<Callback> {
  const [program] = command;
  if (program === undefined) {
    throw new ConfigError(
      "PROGRAM",
      `no program to run: give one after the options, e.g. 'minionize echo hello', or a command in ${PROJECT_FILE} (see minionize --help)`,
    );
  }
  if (!settings.shell && !/[{}]/.test(program)) {
    const found = await lookFor(program, env);
    if (found === undefined) {
      throw new ConfigError(
        "PROGRAM",
        `Cannot run '${program}': no such program${
          program.includes("/") ? " (or it is not executable)" : " on PATH"
        }; check the name, or give its path`,
      );
    }
    // The system says "no such file" for a missing #! interpreter too.
    const problem = await shebangProblem(found, env.PATH);
    if (problem !== undefined) {
      throw new ConfigError("PROGRAM", `Cannot run '${program}': ${problem}`);
    }
  }
  if (!settings.dryRun) askToRun(settings.shell ? "sh" : program);
  await prepareResults(settings);
  return new ProcessCallback(command, {
    shell: settings.shell,
    graceMs: settings.graceMs,
    ...(settings.results === undefined ? {} : { resultsDir: settings.results }),
    ...(slots ? { slots } : {}),
  });
}

/** The container callback the settings ask for, its runtime found. */
async function containerCallback(
  image: string,
  command: readonly string[],
  settings: Settings,
  env: Env,
  slots: SlotPlan | undefined,
): Promise<Callback> {
  const { ContainerCallback, readContainerOptions } = await import(
    "../callbacks/container.ts"
  );
  const options = await readContainerOptions(env);
  await prepareResults(settings);
  return new ContainerCallback(image, command, {
    ...options,
    shell: settings.shell,
    graceMs: settings.graceMs,
    ...(settings.results === undefined ? {} : { resultsDir: settings.results }),
    ...(slots ? { slots } : {}),
  });
}

/**
 * Splits GPUs and CPUs among slots when asked; `-j` defaults to the slots
 * that fit. How is said on stderr once every setting has passed.
 */
async function planResources(
  settings: Settings,
  env: Env,
): Promise<SlotPlan | undefined> {
  const { gpusPerTask, cpusPerTask } = settings;
  if (gpusPerTask === undefined && cpusPerTask === undefined) return undefined;
  const { planSlots } = await import("../core/slots.ts");
  const plan = await planSlots({
    env,
    gpusPerTask,
    cpusPerTask,
    concurrency: env.MINION_CONCURRENCY?.trim()
      ? settings.concurrency
      : undefined,
  });
  settings.concurrency = plan.concurrency;
  return plan;
}

/**
 * Runs the minion command with `args` and resolves to its exit status.
 *
 * @throws {ConfigError} on bad options, settings or a missing program
 */
export async function run(args: readonly string[]): Promise<number> {
  const { variables, flags, rest } = parseArgs(args, RUN_OPTIONS);
  if (flags.has("--help")) {
    console.log(runHelp());
    return 0;
  }
  // Anywhere among the options, as `--help` is: `minionize -j 2 --version`.
  if (flags.has("--version")) {
    console.log(`minionize ${VERSION}`);
    return 0;
  }
  const env = { ...(await loadEnv()), ...variables };
  const settings = readSettings(env);
  // The command line's program wins over the project file's template.
  const command = rest.length > 0 ? rest : (await readProject())?.command ?? [];
  const image = env.MINION_CONTAINER_IMAGE?.trim();
  const slots = await planResources(settings, env);
  const callback = image
    ? await containerCallback(image, command, settings, env, slots)
    : await processCallback(command, settings, env, slots);
  const summary = await launch(callback, settings, env, {
    callbackName: image ? "container" : "process",
    log: writeStderr,
    stderr: stderrSink,
    // A second signal: the user wants out now.
    onSecondSignal: (code) => Deno.exit(code),
    // Said once nothing can fail as a setting: an error stays one line.
    notices: slots ? [`minionize: ${slots.summary}`] : [],
  });
  return summary.exitCode;
}
