/**
 * Where the runtime keeps its files, modelled on kubelet's `/var/log/pods`:
 *
 * ```
 * <dataDir>/pods/<namespace>_<name>_<uid>/pod.json            when the pod's sandbox was set up
 * <dataDir>/pods/<namespace>_<name>_<uid>/<container>/<n>.log  instance n's output (CRI log lines)
 * <dataDir>/pods/<namespace>_<name>_<uid>/<container>/<n>.json instance n's record (start, exit)
 * ```
 *
 * Instance n of a container is its n-th run (n = its restartCount then), so the files of a pod
 * outlive the runtime: a runtime started later continues the numbering and finds the logs of the
 * previous instances.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the runtime remembers of a pod across restarts. */
export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  /** When its sandbox was first set up (ms since the epoch, by the runtime's clock). */
  startTimeMs: number;
}

/** Paths in a runtime's data dir. */
export class RuntimeLayout {
  /** Every pod's folder lives here. */
  readonly podsDir: string;

  constructor(readonly dataDir: string) {
    this.podsDir = join(dataDir, 'pods');
  }

  /** The folder of a pod. */
  podDir(namespace: string, name: string, uid: string): string {
    return join(this.podsDir, `${namespace}_${name}_${uid}`);
  }

  /** The folder of the pod with `uid`, whatever its name, if there is one. */
  findPodDir(uid: string): string | undefined {
    const entry = this.listPodDirs().find((name) => name.endsWith(`_${uid}`));
    return entry === undefined ? undefined : join(this.podsDir, entry);
  }

  /** The names of every pod folder. */
  listPodDirs(): string[] {
    try {
      return readdirSync(this.podsDir);
    } catch {
      return [];
    }
  }

  /** The folder of one container of a pod (created on demand by {@link ensureContainerDir}). */
  containerDir(podDir: string, container: string): string {
    return join(podDir, container);
  }

  /** Creates a container's folder. */
  ensureContainerDir(podDir: string, container: string): string {
    const dir = this.containerDir(podDir, container);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** The log of instance `index`. */
  logPath(containerDir: string, index: number): string {
    return join(containerDir, `${index}.log`);
  }

  /** The record of instance `index`. */
  recordPath(containerDir: string, index: number): string {
    return join(containerDir, `${index}.json`);
  }

  /** The instance numbers found in a container's folder, ascending. */
  instances(containerDir: string): number[] {
    let names: string[];
    try {
      names = readdirSync(containerDir);
    } catch {
      return [];
    }
    const found = new Set<number>();
    for (const name of names) {
      const match = /^(\d+)\.(log|json)$/.exec(name);
      if (match) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }

  /** Reads a pod's record, if it has one. */
  readPodRecord(podDir: string): PodRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(podDir, 'pod.json'), 'utf8')) as PodRecord;
    } catch {
      return undefined;
    }
  }

  /** Writes a pod's record (atomically), creating its folder. */
  writePodRecord(podDir: string, record: PodRecord): void {
    mkdirSync(podDir, { recursive: true });
    const path = join(podDir, 'pod.json');
    writeFileSync(`${path}.tmp`, JSON.stringify(record));
    renameSync(`${path}.tmp`, path);
  }
}
