/**
 * Reading a container instance's log file — CRI log lines written by its supervisor — the way
 * `kubectl logs` wants it: the last N lines, only lines newer than some seconds, with or without
 * their timestamps, and following new lines until the instance ends or the reader stops.
 */
import { open, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogOptions } from './types.js';
import { parseLogRecord, type LogRecord } from './supervisor-protocol.js';

/** One instance's log: its file, and whether lines may still be appended to it. */
export interface LogSource {
  path: string;
  /** True while the instance runs (its supervisor may still write). */
  isLive(): boolean;
}

/** How often a follower looks for new lines. */
const FOLLOW_POLL_MS = 100;

/**
 * The log of one instance as text chunks (each a run of whole lines). `nowMs` is the reader's
 * notion of now for `sinceSeconds`. With `follow`, keeps reading until the instance has ended and
 * its last line is out, or `options.signal` aborts (the iterator then just ends).
 */
export async function* readInstanceLog(source: LogSource, options: LogOptions, nowMs: number): AsyncGenerator<string> {
  const { signal } = options;
  const sinceMs = options.sinceSeconds !== undefined ? nowMs - options.sinceSeconds * 1000 : undefined;
  let data: Buffer;
  try {
    data = await readFile(source.path);
  } catch {
    data = Buffer.alloc(0);
  }
  let offset = lastNewline(data) + 1;
  let records = parseLines(data.subarray(0, offset));
  if (options.tailLines !== undefined) records = options.tailLines <= 0 ? [] : records.slice(-options.tailLines);
  if (sinceMs !== undefined) records = records.filter((r) => r.timeMs >= sinceMs);
  const first = formatRecords(records, options.timestamps ?? false);
  if (first) yield first;
  if (!options.follow) return;
  while (!signal?.aborted) {
    const live = source.isLive(); // before reading: whatever was written before the end is read below
    const fresh = await readFrom(source.path, offset);
    const complete = lastNewline(fresh) + 1;
    if (complete > 0) {
      offset += complete;
      const text = formatRecords(parseLines(fresh.subarray(0, complete)), options.timestamps ?? false);
      if (text) yield text;
      continue;
    }
    if (!live) return;
    try {
      await sleep(FOLLOW_POLL_MS, undefined, signal ? { signal } : {});
    } catch {
      return; // aborted
    }
  }
}

/** The last `maxLines` lines of a log (at most `maxBytes` of content), for FallbackToLogsOnError. */
export async function tailOfLog(path: string, maxLines: number, maxBytes: number): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch {
    return '';
  }
  const text = formatRecords(parseLines(data).slice(-maxLines), false);
  const bytes = Buffer.from(text);
  return bytes.length <= maxBytes ? text : bytes.subarray(bytes.length - maxBytes).toString('utf8');
}

function lastNewline(data: Buffer): number {
  return data.lastIndexOf(0x0a);
}

async function readFrom(path: string, offset: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size - offset);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function parseLines(data: Buffer): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of data.toString('utf8').split('\n')) {
    const record = line ? parseLogRecord(line) : undefined;
    if (record) records.push(record);
  }
  return records;
}

function formatRecords(records: LogRecord[], timestamps: boolean): string {
  let out = '';
  for (const record of records) out += `${timestamps ? `${record.timestamp} ` : ''}${record.content}${record.full ? '\n' : ''}`;
  return out;
}
