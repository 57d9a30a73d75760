/**
 * A small HTTP server to run as a pod on keelson's node agents: it listens on the pod's own
 * address (`$POD_IP`, which the agent hands to every container) and `$PORT`, and says which pod
 * answered. Its probes can be flipped at run time, to watch Endpoints and restarts follow:
 *
 * - `GET /` — `hello from <pod> (<ip>:<port>)`;
 * - `GET /healthz` — readiness: 200, or 503 after `POST /ready?value=false`;
 * - `GET /livez` — liveness: 200, or 500 after `POST /live?value=false`;
 * - `POST /exit?code=N` — exits with that code (a crash, on demand).
 *
 * Every request is logged to stdout (`kubectl logs`). If the address is taken it says so on
 * stderr and exits 1 — with `terminationMessagePolicy: FallbackToLogsOnError` that line becomes
 * the container's termination message. SIGTERM closes the server and exits 0 — gracefully: it
 * stops accepting, lets the requests in flight finish (answered with `connection: close`) and
 * closes idle keep-alive connections, so a pod scaled away fails no request it accepted. (New
 * connections are refused from then on; `hello.yaml`'s preStop sleep keeps the pod serving
 * until its removal from the Endpoints has reached the service proxies, as kube advises.)
 *
 * Run it with `kubectl apply -f examples/http-server/hello.yaml` against `keelson up` started
 * from the repository's root (the manifest runs `node dist/examples/http-server/server.js`).
 */
import { createServer } from 'node:http';

const host = process.env.POD_IP || '127.0.0.1';
const port = Number(process.env.PORT || 8080);
const name = process.env.POD_NAME || 'hello';
let ready = true;
let live = true;
let terminating = false;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://pod');
  process.stdout.write(`${req.method} ${url.pathname}${url.search} from ${req.socket.remoteAddress}\n`);
  const reply = (status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain', ...(terminating ? { connection: 'close' } : {}) });
    res.end(`${body}\n`);
  };
  if (req.method === 'GET' && url.pathname === '/') return reply(200, `hello from ${name} (${host}:${port})`);
  if (req.method === 'GET' && url.pathname === '/healthz') return reply(ready ? 200 : 503, ready ? 'ready' : 'not ready');
  if (req.method === 'GET' && url.pathname === '/livez') return reply(live ? 200 : 500, live ? 'alive' : 'dead');
  if (req.method === 'POST' && (url.pathname === '/ready' || url.pathname === '/live')) {
    const value = url.searchParams.get('value') !== 'false';
    if (url.pathname === '/ready') ready = value;
    else live = value;
    return reply(200, `${url.pathname.slice(1)}=${value}`);
  }
  if (req.method === 'POST' && url.pathname === '/exit') {
    const code = Number(url.searchParams.get('code') ?? 1);
    reply(200, `exiting with ${code}`);
    process.stdout.write(`exiting with code ${code} on request\n`);
    setImmediate(() => process.exit(code));
    return;
  }
  reply(404, 'not found');
});

server.on('error', (err: NodeJS.ErrnoException) => {
  process.stderr.write(`cannot listen on ${host}:${port}: ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stdout.write(`${name} listening on ${host}:${port}\n`));
process.on('SIGTERM', () => {
  process.stdout.write('SIGTERM: shutting down\n');
  terminating = true;
  // Stops accepting; the callback runs once the connections with a request in flight ended.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
