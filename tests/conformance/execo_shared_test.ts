import { conformance } from "./suite.ts";
import {
  type SharedFs,
  sharedFsAvailable,
  startSharedFs,
} from "../services/shared_fs.ts";

// The sweep on a GlusterFS volume with its caches off, its minions spread
// over two client mounts, as minions on two nodes see one shared directory.
let fs: SharedFs | undefined;
conformance({
  engine: "execo",
  title: "execo engine over two mounts of a shared filesystem",
  available: () => sharedFsAvailable("coherent"),
  async start() {
    fs = await startSharedFs("coherent", { mounts: 2 });
    return { env: {}, stop: () => fs!.stop() };
  },
  queue(_service, name) {
    const sweep = `sweep-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}-${
      crypto.randomUUID().slice(0, 6)
    }`;
    const at = (n: number) => `${fs!.mounts[n % fs!.mounts.length]}/${sweep}`;
    return Promise.resolve({
      env: { EXECO_PERSISTENCE_DIR: at(0), MINION_LEASE: "2" },
      minionEnv: (n) => ({ EXECO_PERSISTENCE_DIR: at(n + 1) }),
      leaseMs: 2_000,
      close: () => Deno.remove(at(0), { recursive: true }),
    });
  },
});
