/**
 * The actions probes and lifecycle hooks run against a container: `exec` (a command next to the
 * container, with its environment; exit 0 is success), `httpGet` (the host defaults to the pod's
 * IP; 200–399 is success; HTTPS certificates are not verified, as kubelet's prober does not) and
 * `tcpSocket` (a connection is success). Timeouts come from the runtime's clock.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Clock, ContainerPort, ExecAction, HTTPGetAction, IntOrString, TCPSocketAction } from '../../../lib/index.js';

/** The outcome of one probe or hook run. */
export interface ActionResult {
  success: boolean;
  /** What went wrong, or the command's output. */
  output: string;
}

/** What an action needs of the container it targets. */
export interface ActionTarget {
  podIP: string;
  ports: ContainerPort[];
  /** Runs a command next to the container (its supervisor does), with the container's environment. */
  exec(command: string[], timeoutMs: number): Promise<{ exitCode?: number; output: string; timedOut: boolean; error?: string }>;
}

/** kubelet's probes identify themselves so (the minor version is keelson's to choose). */
const USER_AGENT = 'kube-probe/1.33';

/** A probe's or hook's port: a number, or the name of one of the container's ports. */
export function resolvePort(port: IntOrString, ports: ContainerPort[]): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = ports.find((p) => p.name === port);
  if (!named) throw new Error(`couldn't find port ${port} in the container's ports`);
  return named.containerPort;
}

/** Runs whichever handler `action` names. */
export async function runAction(
  action: { exec?: ExecAction; httpGet?: HTTPGetAction; tcpSocket?: TCPSocketAction; grpc?: unknown },
  target: ActionTarget,
  timeoutMs: number,
  clock: Clock,
): Promise<ActionResult> {
  try {
    if (action.exec) return await runExec(action.exec, target, timeoutMs);
    if (action.httpGet) return await withTimeout(clock, timeoutMs, (signal) => runHttpGet(action.httpGet!, target, signal));
    if (action.tcpSocket) return await withTimeout(clock, timeoutMs, (signal) => runTcp(action.tcpSocket!, target, signal));
    if (action.grpc) return { success: false, output: 'grpc probes are not supported by keelson' };
    return { success: false, output: 'missing probe handler' };
  } catch (err) {
    return { success: false, output: err instanceof Error ? err.message : String(err) };
  }
}

async function runExec(action: ExecAction, target: ActionTarget, timeoutMs: number): Promise<ActionResult> {
  const result = await target.exec(action.command ?? [], timeoutMs);
  if (result.error) return { success: false, output: result.error };
  if (result.timedOut) return { success: false, output: `command timed out after ${timeoutMs / 1000}s` };
  return { success: result.exitCode === 0, output: result.output };
}

/** Runs `work` with a signal that aborts after `timeoutMs` by `clock`. */
async function withTimeout(clock: Clock, timeoutMs: number, work: (signal: AbortSignal) => Promise<ActionResult>): Promise<ActionResult> {
  const controller = new AbortController();
  const timer = clock.setTimeout(() => controller.abort(new Error(`timeout after ${timeoutMs / 1000}s`)), timeoutMs);
  try {
    return await work(controller.signal);
  } finally {
    timer.cancel();
  }
}

/** A failed dial as Go's net package words it (what kubelet's probe messages carry). */
export function dialError(host: string, port: number, err: unknown): string {
  const target = `dial tcp ${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
      return `${target}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `${target}: connect: no route to host`;
    case 'ENETUNREACH':
      return `${target}: connect: network is unreachable`;
    case 'EADDRNOTAVAIL':
      return `${target}: connect: cannot assign requested address`;
    case 'ETIMEDOUT':
      return `${target}: i/o timeout`;
    default:
      return `${target}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function runHttpGet(action: HTTPGetAction, target: ActionTarget, signal: AbortSignal): Promise<ActionResult> {
  const port = resolvePort(action.port, target.ports);
  const host = action.host || target.podIP;
  const scheme = (action.scheme ?? 'HTTP').toUpperCase();
  const path = action.path ? (action.path.startsWith('/') ? action.path : `/${action.path}`) : '/';
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: '*/*' };
  for (const header of action.httpHeaders ?? []) headers[header.name] = header.value;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ActionResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const url = `${scheme.toLowerCase()}://${host}:${port}${path}`;
    // Go's http.Client words a probe that took longer than its timeout this way.
    const onAbort = () => finish({ success: false, output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
    signal.addEventListener('abort', onAbort, { once: true });
    // No keep-alive (agent: false), as kubelet's prober: a probe must not hold the server's connections.
    const options = { host, port, path, method: 'GET', headers, signal, agent: false, ...(scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}) };
    const req = (scheme === 'HTTPS' ? httpsRequest : httpRequest)(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 10 * 1024) body += chunk;
      });
      res.on('error', (err) => finish({ success: false, output: `Get "${url}": ${err.message}` }));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const success = code >= 200 && code < 400;
        finish({ success, output: success ? body : `HTTP probe failed with statuscode: ${code}` });
      });
    });
    req.on('error', (err) => {
      // Not connected yet: a failed dial, worded as Go's; after that, what went wrong.
      const output = req.socket?.remoteAddress === undefined || (err as NodeJS.ErrnoException).syscall === 'connect' ? dialError(host, port, err) : err.message;
      finish({ success: false, output: `Get "${url}": ${output}` });
    });
    req.end();
  });
}

function runTcp(action: TCPSocketAction, target: ActionTarget, signal: AbortSignal): Promise<ActionResult> {
  const port = resolvePort(action.port, target.ports);
  const host = action.host || target.podIP;
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: ActionResult) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => done({ success: false, output: `dial tcp ${host}:${port}: i/o timeout` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done({ success: true, output: '' }));
    socket.once('error', (err) => done({ success: false, output: dialError(host, port, err) }));
  });
}
