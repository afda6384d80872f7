/**
 * A stand-in for `nvidia-smi` on machines without a GPU, for tests of our
 * own splitting of GPUs among slots: a script that prints what the real one
 * prints for `-L`.
 *
 * @module
 */

/** How the fake `nvidia-smi` behaves. */
export interface FakeNvidiaSmiOptions {
  /** Fail with this message and exit code 9 instead of listing GPUs. */
  fail?: string;
}

/**
 * Writes an executable `nvidia-smi` into `dir` that lists `count` GPUs (with
 * a MIG device under the first, as the real one indents them), and
 * resolves to `dir`, to put on PATH.
 */
export async function fakeNvidiaSmi(
  dir: string,
  count: number,
  options: FakeNvidiaSmiOptions = {},
): Promise<string> {
  const lines = Array.from(
    { length: count },
    (_, i) =>
      `GPU ${i}: NVIDIA A100-SXM4-40GB (UUID: GPU-00000000-0000-0000-0000-00000000000${i})`,
  );
  if (count > 0) {
    lines.splice(
      1,
      0,
      "  MIG 1g.5gb     Device  0: (UUID: MIG-00000000-0000-0000-0000-000000000000)",
    );
  }
  const body = options.fail === undefined
    ? `cat <<'EOF'\n${lines.join("\n")}\nEOF\n`
    : `cat >&2 <<'EOF'\n${options.fail}\nEOF\nexit 9\n`;
  await Deno.writeTextFile(`${dir}/nvidia-smi`, `#!/bin/sh\n${body}`);
  await Deno.chmod(`${dir}/nvidia-smi`, 0o755);
  return dir;
}
