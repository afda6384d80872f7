/**
 * `minionize sweep status` and `minionize sweep list`: what a sweep holds,
 * read without changing anything (no lock taken, a Python execo sweep not
 * imported, a torn record left for the next minion to void).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { noOperands } from "./_args.ts";
import type { Env, JsonValue } from "../core/contracts.ts";
import { paramText } from "../core/param.ts";
import {
  CLAIMED,
  DONE,
  FAILED,
  STATUS_NAMES,
  TODO,
} from "../engines/execo/param_state.ts";
import type { SweepState } from "../engines/execo/state.ts";
import { idsWithStatus, viewSweep } from "../engines/execo/sweep.ts";

/**
 * Reads the sweep in `dir` without changing anything (a Python execo sweep
 * is not imported, a torn record is not voided, no lock is taken).
 */
async function withView<T>(
  dir: string,
  env: Env,
  use: (state: SweepState) => Promise<T>,
): Promise<T> {
  const { state, torn } = await viewSweep(dir, env);
  if (torn > 0) {
    console.error(
      `minionize: warning: the last ${torn} bytes of ${dir}'s journal are a record torn by a crash (or being written now); the next minion voids them`,
    );
  }
  return await use(state);
}

/** Seconds as `1h02m`, `3m05s` or `12s`. */
function duration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Held params listed in text before "and N more". */
const SHOWN = 50;

/** `minionize sweep status [--json]`: the counts and the params held. */
export async function status(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
): Promise<number> {
  noOperands(rest, "sweep");
  return await withView(dir, env, (state) => {
    const now = Date.now();
    const held = [...state.claims].sort((a, b) => a[1].since - b[1].since);
    if (flags.has("--json")) {
      console.log(JSON.stringify({
        dir,
        params: state.size,
        todo: state.counts.todo,
        inProgress: state.counts.claimed,
        done: state.counts.done,
        failed: state.counts.failed,
        held: held.map(([id, claim]) => ({
          param: JSON.parse(state.texts[id]!) as JsonValue,
          host: claim.host,
          pid: claim.pid,
          since: new Date(claim.since).toISOString(),
          ...(claim.external ? { python: true } : {
            leaseEnds: new Date(claim.expires).toISOString(),
            expired: claim.expires < now,
          }),
          attempt: state.attempts[id]! + 1,
        })),
      }));
      return Promise.resolve(0);
    }
    const { counts } = state;
    console.log(
      `${dir}: ${state.size} params: ${counts.todo} todo, ${counts.claimed} in progress, ${counts.done} done, ${counts.failed} failed`,
    );
    for (const [id, claim] of held.slice(0, SHOWN)) {
      if (claim.external) {
        console.log(
          `  ${
            paramText(JSON.parse(state.texts[id]!))
          }  held by a Python minion (in execo's inprogress; no lease: execo never gives it back if that minion dies)`,
        );
        continue;
      }
      const lease = claim.expires < now
        ? `lease ran out ${duration(now - claim.expires)} ago`
        : `lease ends in ${duration(claim.expires - now)}`;
      console.log(
        `  ${
          paramText(JSON.parse(state.texts[id]!))
        }  held by ${claim.host} pid ${claim.pid} since ${
          new Date(claim.since).toISOString()
        } (${duration(now - claim.since)}), ${lease}, attempt ${
          state.attempts[id]! + 1
        }`,
      );
    }
    if (held.length > SHOWN) {
      console.log(`  ... and ${held.length - SHOWN} more (see --json)`);
    }
    return Promise.resolve(0);
  });
}

const STATUS_FLAGS: Record<string, number> = {
  "--todo": TODO,
  "--in-progress": CLAIMED,
  "--done": DONE,
  "--failed": FAILED,
};

/** `minionize sweep list [--todo] [--in-progress] [--done] [--failed]`: the params, one per line. */
export async function list(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
): Promise<number> {
  noOperands(rest, "sweep");
  const wanted = new Set(
    Object.entries(STATUS_FLAGS).filter(([flag]) => flags.has(flag)).map((
      [, status],
    ) => status),
  );
  if (wanted.size === 0) {
    STATUS_NAMES.forEach((_, status) => wanted.add(status));
  }
  return await withView(dir, env, async (state) => {
    const encoder = new TextEncoder();
    const writer = Deno.stdout.writable.getWriter();
    try {
      let chunk: string[] = [];
      for (const id of idsWithStatus(state, wanted)) {
        chunk.push(state.texts[id]!);
        if (chunk.length >= 4096) {
          await writer.write(encoder.encode(chunk.join("\n") + "\n"));
          chunk = [];
        }
      }
      if (chunk.length > 0) {
        await writer.write(encoder.encode(chunk.join("\n") + "\n"));
      }
    } finally {
      writer.releaseLock();
    }
    return 0;
  });
}
