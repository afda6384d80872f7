/**
 * The schedulers `minionize submit` knows, by the name `--scheduler` takes,
 * each loaded only when chosen. Apart from `scheduler.ts`, whose contract
 * and helpers the adapters import, so that no module imports itself back.
 *
 * @module
 */

import type { Scheduler } from "./scheduler.ts";

/** Schedulers by the name `--scheduler` takes, loaded when chosen. */
export const SCHEDULERS: Readonly<
  Record<string, () => Promise<Scheduler>>
> = {
  slurm: async () => (await import("./slurm.ts")).slurm,
  oar: async () => (await import("./oar.ts")).oar,
};
