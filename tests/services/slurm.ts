/**
 * A real single-node Slurm for the cluster tests: munged, slurmctld and
 * slurmd from Debian's packages, each in the foreground under this test run,
 * with a slurm.conf, munge key, spool and logs of their own in a fresh
 * directory under `.cache/slurm/`, on free ports. Nothing under /etc is read
 * or written: every Slurm command finds the cluster through `SLURM_CONF`.
 *
 * Runs as root (Slurm's daemons and the jobs run as the user who starts
 * them). Install with `bash tests/services/install.sh slurm`.
 *
 * @module
 */

import {
  CACHE,
  freePort,
  type RunningService,
  type ServerProcess,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

/** The installer's command, for skip messages. */
export const SLURM_INSTALL = "bash tests/services/install.sh slurm";

/** How {@linkcode startSlurm} configures the node. */
export interface SlurmOptions {
  /**
   * CPUs the node claims to have: each array task takes one, so this is how
   * many minions run at once (Slurm is told to trust it over the hardware).
   * @default {8}
   */
  cpus?: number;
}

/** What a Slurm command printed and returned. */
export interface SlurmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running single-node Slurm. */
export interface RunningSlurm extends RunningService {
  /** `{ SLURM_CONF }`: pass it to every Slurm command. */
  env: Record<string, string>;
  /** The directory holding its configuration, spool and logs. */
  dir: string;
  /**
   * Runs a Slurm command (`sbatch`, `squeue`, `scancel`, ...) against it,
   * with `env` over this process's environment (sbatch hands it to jobs).
   */
  run(
    command: string,
    args: string[],
    env?: Record<string, string>,
  ): Promise<SlurmResult>;
}

function shortHostname(): string {
  return Deno.hostname().split(".")[0]!;
}

function slurmConf(dir: string, cpus: number, munge: string): string {
  const host = shortHostname();
  const [ctldPort, slurmdPort] = [freePort(), freePort()];
  return `ClusterName=minionize
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctldPort}
SlurmdPort=${slurmdPort}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${munge},cred_expire=10
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=30
StateSaveLocation=${dir}/spool/slurmctld
SlurmdSpoolDir=${dir}/spool/slurmd
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`;
}

/**
 * Starts munged, slurmctld and slurmd and resolves once `sinfo` shows the
 * node idle. `stop()` cancels every job, waits for them to leave, stops the
 * daemons and removes the directory.
 *
 * @throws {Error} when a daemon does not come up within 60 s (with its log)
 */
export async function startSlurm(
  options: SlurmOptions = {},
): Promise<RunningSlurm> {
  await Deno.mkdir(`${CACHE}/slurm`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${CACHE}/slurm`, prefix: "run-" });
  // munged refuses a socket directory others cannot enter.
  await Deno.chmod(dir, 0o755);
  for (const sub of ["spool/slurmctld", "spool/slurmd", "munge"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const key = `${dir}/munge/munge.key`;
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(1024)), {
    mode: 0o600,
  });
  const socket = `${dir}/munge.socket`;
  const conf = `${dir}/slurm.conf`;
  await Deno.writeTextFile(conf, slurmConf(dir, options.cpus ?? 8, socket));
  const env = { SLURM_CONF: conf };

  const run = async (
    command: string,
    args: string[],
    extra: Record<string, string> = {},
  ) => {
    const output = await new Deno.Command(command, {
      args,
      env: { ...extra, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  };

  const daemons: ServerProcess[] = [];
  const stopAll = async () => {
    for (const daemon of daemons.reverse()) await daemon.stop(5_000);
  };
  try {
    // As root, munged wants --force; it runs as its caller, like the jobs.
    daemons.push(
      await spawnServer("munged", "munged", [
        "--foreground",
        "--force",
        `--socket=${socket}`,
        `--key-file=${key}`,
        `--pid-file=${dir}/munge/munged.pid`,
        `--seed-file=${dir}/munge/munged.seed`,
        `--log-file=${dir}/munge/munged.log`,
      ]),
    );
    await waitUntil("munged", () => exists(socket), 30_000);
    daemons.push(
      await spawnServer("slurmctld", "slurmctld", ["-D", "-f", conf], {
        env,
      }),
    );
    daemons.push(
      await spawnServer("slurmd", "slurmd", ["-D", "-f", conf], { env }),
    );
    await waitUntil("the Slurm node", async () => {
      const { stdout } = await run("sinfo", ["-h", "-o", "%t"]);
      return stdout.trim() === "idle";
    }, 60_000);
  } catch (error) {
    const logs = await Promise.all(
      daemons.map(async (d) => `${d.log}:\n${await tail(d.log)}`),
    );
    await stopAll();
    throw new Error(`${(error as Error).message}\n${logs.join("\n")}`, {
      cause: error,
    });
  }

  return {
    env,
    dir,
    run,
    async stop() {
      await run("scancel", ["--full", "--signal=KILL", "--user=root"]);
      await run("scancel", ["--user=root"]);
      await waitUntil("the jobs to leave", async () => {
        const { stdout } = await run("squeue", ["-h", "-o", "%i"]);
        return stdout.trim() === "";
      }, 30_000).catch(() => {});
      await stopAll();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
