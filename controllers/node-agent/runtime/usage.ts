/**
 * CPU and memory of process groups, read from /proc — keelson's cAdvisor. A container is its
 * process group (the supervisor starts it as a group leader), so its usage is the sum over the
 * processes whose `pgrp` is the container's pid: `utime + stime` (plus `cutime + cstime`, the time
 * of children they already reaped, as a cgroup counts it) in clock ticks, and the resident set
 * (`rss`, the same page count as statm's second field) in pages.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Usage of one process group. */
export interface GroupUsage {
  /** Cumulative CPU seconds (user + system) of the group's live processes. */
  cpuSeconds: number;
  /** Resident set size, bytes. */
  memoryBytes: number;
  /** The group's live processes. */
  pids: number[];
}

let systemConstants: { clockTicks: number; pageSize: number } | undefined;

/** `getconf CLK_TCK` and `getconf PAGESIZE`, read once (100 and 4096 when getconf is missing). */
function constants(): { clockTicks: number; pageSize: number } {
  if (!systemConstants) systemConstants = { clockTicks: getconf('CLK_TCK', 100), pageSize: getconf('PAGESIZE', 4096) };
  return systemConstants;
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

/** One process as /proc/<pid>/stat describes it. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime, clock ticks. */
  ticks: number;
  /** Resident pages. */
  rssPages: number;
  /** When the process started, clock ticks after boot. */
  startTicks: number;
}

/** Parses /proc/<pid>/stat (the command name may hold spaces and parentheses: fields follow the last `)`). */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  // fields[0] is field 3 (state); field n of proc(5) is fields[n - 3].
  const field = (n: number) => Number(fields[n - 3]);
  const stat = { pid, ppid: field(4), pgrp: field(5), ticks: field(14) + field(15) + field(16) + field(17), rssPages: field(24), startTicks: field(22) };
  return Number.isFinite(stat.pgrp) && Number.isFinite(stat.ticks) ? stat : undefined;
}

/** Every live process, from /proc (processes that vanish while being read are skipped). */
export function listProcesses(procRoot = '/proc'): ProcStat[] {
  const result: ProcStat[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(Number(entry), readFileSync(`${procRoot}/${entry}/stat`, 'utf8'));
      if (stat) result.push(stat);
    } catch {
      // The process exited between readdir and read.
    }
  }
  return result;
}

/** When a process started (ms since the epoch), from its stat and the boot time in /proc/stat. */
export function processStartMs(stat: ProcStat, procRoot = '/proc'): number | undefined {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync(`${procRoot}/stat`, 'utf8'));
    return btime ? (Number(btime[1]) + stat.startTicks / constants().clockTicks) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Usage of each of `pgids` (a group without live processes has zero usage and no pids). */
export function sampleGroups(pgids: Iterable<number>, procRoot = '/proc'): Map<number, GroupUsage> {
  const { clockTicks, pageSize } = constants();
  const usage = new Map<number, GroupUsage>();
  for (const pgid of pgids) usage.set(pgid, { cpuSeconds: 0, memoryBytes: 0, pids: [] });
  if (usage.size === 0) return usage;
  for (const stat of listProcesses(procRoot)) {
    const group = usage.get(stat.pgrp);
    if (!group) continue;
    group.cpuSeconds += stat.ticks / clockTicks;
    group.memoryBytes += stat.rssPages * pageSize;
    group.pids.push(stat.pid);
  }
  return usage;
}
