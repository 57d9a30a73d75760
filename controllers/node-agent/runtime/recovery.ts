/**
 * What a runtime finds of a previous runtime over the same data dir. The previous runtime's
 * supervisors took their containers down when its process died (their lifeline closed), but
 * that takes up to the orphan grace period: before a pod runs again here, every instance of it
 * that has no exit in its record is waited for — its supervisor recognised in /proc by the
 * record path in its command line — and, past a deadline, killed. Then the instance records say
 * how each instance ended, and the pod's containers continue their numbering (restartCount)
 * and keep their logs.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RECORD_FLAG } from './supervised-process.js';
import type { InstanceRecord } from './supervisor-protocol.js';
import { listProcesses, processStartMs } from './usage.js';

/** Reads an instance record, if it is there and whole. */
export function readInstanceRecord(path: string): InstanceRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as InstanceRecord;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live supervisor of the instance whose record is at `recordPath`. */
function isSupervisorOf(pid: number, recordPath: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const flag = argv.indexOf(RECORD_FLAG);
    return flag >= 0 && argv[flag + 1] === recordPath;
  } catch {
    return false;
  }
}

/** SIGKILLs the instance's process group, if its leader is still the process the record names. */
function killLeftovers(record: InstanceRecord): void {
  if (record.pid === undefined || record.startedAt === undefined) return;
  const leader = listProcesses().find((p) => p.pid === record.pid && p.pgrp === record.pid);
  const startedMs = leader ? processStartMs(leader) : undefined;
  if (startedMs === undefined || Math.abs(startedMs - record.startedAt) > 2000) return; // a reused pid: not ours
  try {
    process.kill(-record.pid, 'SIGKILL');
  } catch {
    // ESRCH: gone meanwhile.
  }
}

/**
 * Waits (at most `timeoutMs`) until the instance at `recordPath` has ended, kills what is left of
 * it after that, and answers its final record: exited as recorded, or — when nobody recorded an
 * exit — `Unknown` with exit code 255, as container runtimes report a lost container.
 */
export async function settleInstance(recordPath: string, timeoutMs: number): Promise<InstanceRecord | undefined> {
  let record = readInstanceRecord(recordPath);
  if (!record || record.finishedAt !== undefined) return record;
  const deadline = Date.now() + timeoutMs;
  while (isSupervisorOf(record.supervisorPid, recordPath) && Date.now() < deadline) {
    await sleep(50);
    record = readInstanceRecord(recordPath) ?? record;
    if (record.finishedAt !== undefined) return record;
  }
  if (isSupervisorOf(record.supervisorPid, recordPath)) {
    try {
      process.kill(record.supervisorPid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  killLeftovers(record);
  record = readInstanceRecord(recordPath) ?? record;
  if (record.finishedAt !== undefined) return record;
  return {
    ...record,
    exitCode: 255,
    reason: 'Unknown',
    message: 'the instance ended with the runtime that started it; its exit status was not recorded',
    finishedAt: Date.now(),
  };
}
