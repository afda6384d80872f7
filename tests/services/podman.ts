/**
 * podman for tests, with the settings that work on these hosts (runc, the
 * cgroupfs manager, no network; `install/podman.sh` drops the default
 * ulimits), and test images built from local files, since no registry is
 * reachable.
 *
 * @module
 */

import { available } from "./harness.ts";

/** Whether podman is here (under CI: throws when it is not). */
export function podmanAvailable(): boolean {
  return available("podman", "bash tests/services/install.sh podman");
}

/**
 * Global podman options that work here (crun fails on hybrid cgroups), as
 * `MINION_CONTAINER_RUNTIME_OPTS` takes them.
 */
export const RUNTIME_OPTS =
  "--runtime /usr/sbin/runc --cgroup-manager=cgroupfs";

/** `run` options every test container gets, as `MINION_CONTAINER_OPTS` takes them. */
export const RUN_OPTS = "--network none";

/** What a podman command printed. */
export interface PodmanOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman with the global options of this host. */
export async function podman(
  args: string[],
  options: { cwd?: string } = {},
): Promise<PodmanOutput> {
  const output = await new Deno.Command("podman", {
    args: [...RUNTIME_OPTS.split(" "), ...args],
    stdin: "null",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs podman and throws with its output when it fails. */
export async function podmanOk(
  args: string[],
  options: { cwd?: string } = {},
): Promise<string> {
  const output = await podman(args, options);
  if (output.code !== 0) {
    throw new Error(
      `podman ${args.join(" ")} exited with ${output.code}: ${output.stderr}`,
    );
  }
  return output.stdout;
}

/** Names of the containers (running or not) carrying `label`. */
export async function containersLabelled(label: string): Promise<string[]> {
  const out = await podmanOk([
    "ps",
    "-a",
    "--filter",
    `label=${label}`,
    "--format",
    "{{.Names}}",
  ]);
  return out.split("\n").filter((line) => line.trim() !== "");
}

/** The label of every image the tests build, so old builds can be pruned. */
export const TEST_IMAGE_LABEL = "minionize.test-image=1";

/**
 * Removes the test images that a newer build left untagged, so that test
 * runs do not pile images up.
 */
export async function pruneTestImages(): Promise<void> {
  await podman([
    "image",
    "prune",
    "--force",
    "--filter",
    `label=${TEST_IMAGE_LABEL}`,
  ]);
}

const BUSYBOX_LINKS = ["sh", "echo", "sleep", "env", "cat", "true", "false"];

async function copyFile(from: string, to: string): Promise<void> {
  await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(from, to);
  await Deno.chmod(to, (await Deno.stat(from)).mode! & 0o7777);
}

// The shared libraries `binary` loads, as ldd resolves them on this host.
async function sharedLibraries(binary: string): Promise<string[]> {
  const output = await new Deno.Command("ldd", { args: [binary] }).output();
  const text = new TextDecoder().decode(output.stdout);
  return [...text.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]!);
}

/**
 * Imports a rootfs holding a static busybox (with `sh`, `echo`, `sleep`,
 * `env`, `cat` links) plus `files` (host path → path in the image) as
 * `name`, and resolves to `name`.
 */
async function importRootfs(
  name: string,
  files: Record<string, string>,
): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "minionize-rootfs-" });
  try {
    await copyFile("/bin/busybox", `${root}/bin/busybox`);
    for (const link of BUSYBOX_LINKS) {
      await Deno.symlink("busybox", `${root}/bin/${link}`);
    }
    await Deno.mkdir(`${root}/tmp`, { mode: 0o1777 });
    await Deno.chmod(`${root}/tmp`, 0o1777);
    for (const [from, to] of Object.entries(files)) {
      await copyFile(from, `${root}${to}`);
    }
    const tar = `${root}.tar`;
    const made = await new Deno.Command("tar", {
      args: ["-C", root, "-cf", tar, "."],
    }).output();
    if (!made.success) throw new Error(`tar failed for ${root}`);
    try {
      await podmanOk([
        "import",
        "--quiet",
        "--change",
        `LABEL ${TEST_IMAGE_LABEL}`,
        tar,
        name,
      ]);
    } finally {
      await Deno.remove(tar);
    }
    await pruneTestImages();
    return name;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

let busybox: Promise<string> | undefined;

/** A tiny image with a static busybox, imported once per test run. */
export function busyboxImage(): Promise<string> {
  busybox ??= importRootfs("localhost/minionize-test-busybox:latest", {});
  return busybox;
}

let glibc: Promise<string> | undefined;

/**
 * A base image holding busybox and the shared libraries the Deno binary at
 * `denoPath` needs, at the paths it looks for them: what a registry's
 * Debian image would give, built from this host's files.
 */
export function glibcBaseImage(denoPath: string): Promise<string> {
  glibc ??= (async () => {
    const files: Record<string, string> = {};
    for (const library of await sharedLibraries(denoPath)) {
      files[await Deno.realPath(library)] = library;
    }
    return await importRootfs("localhost/minionize-test-glibc:latest", files);
  })();
  return glibc;
}
