/**
 * The keelson binary as a user meets it: help for every flag, one clear line and exit code 2
 * for a bad flag, a clear error for a module that cannot be loaded, and `keelson crds`.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, type ProcessRun } from './harness/process.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(dist, '..');

function keelson(args: string[], timeoutMs = 20_000): Promise<ProcessRun> {
  return runProcess(process.execPath, [join(dist, 'bin/keelson.js'), ...args], { cwd: tmpdir(), env: { ...process.env, KUBECONFIG: '' }, timeoutMs });
}

describe('keelson CLI', function () {
  this.timeout(30_000);

  it('documents every flag of run in --help', async () => {
    const { code, stdout } = await keelson(['run', '--help']);
    expect(code).to.equal(0);
    for (const flag of ['--module', '--store', '--kubeconfig', '--context', '--controllers', '--leader-elect', '--metrics-port', '--shutdown-timeout', '--log-level']) {
      expect(stdout).to.contain(flag);
    }
  });

  it('answers a bad flag with one line and exit code 2', async () => {
    for (const args of [['run', '--frobnicate'], ['run', '--module', 'x.js', '--metrics-port', 'abc'], ['run', '--module', 'x.js', '--leader-elect', 'maybe'], ['nonsense'],
      ['up', '--cluster-cidr', '127.64.0.0/33'], ['up', '--service-cluster-ip-range', '127.96.0.0'], ['up', '--service-node-port-range', '32767-30000']]) {
      const { code, stderr } = await keelson(args);
      expect(code, args.join(' ')).to.equal(2);
      expect(stderr.trim().split('\n'), stderr).to.have.length(1);
    }
  });

  it('says clearly when there is no source or the module cannot be loaded', async () => {
    const noSource = await keelson(['run', '--module', 'examples/website/website.js']);
    expect(noSource.code).to.equal(2);
    expect(noSource.stderr).to.contain('no source');
    const pluginAlone = await keelson(['run', '--module', join(dist, 'examples/scheduler-plugin/prefer-label.js'), '--store', 'memory:', '--controllers', 'replication']);
    expect(pluginAlone.code).to.equal(2);
    expect(pluginAlone.stderr.trim()).to.equal('keelson: PreferLabel: scheduler plugins need the built-in scheduler — add --controllers scheduler');
    const missing = await keelson(['run', '--module', join(root, 'nope.js'), '--store', 'memory:']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr.trim()).to.match(/^keelson: cannot load module .*nope\.js: no such file/);
  });

  it('writes one CRD file per @Resource with keelson crds', async () => {
    const out = mkdtempSync(join(tmpdir(), 'keelson-crds-'));
    try {
      const { code, stdout } = await keelson(['crds', '--module', join(dist, 'examples/website/website.js'), '--out', out]);
      expect(code).to.equal(0);
      expect(stdout.trim()).to.equal(join(out, 'websites.example.com.yaml'));
      expect(readdirSync(out)).to.deep.equal(['websites.example.com.yaml']);
      expect(readFileSync(join(out, 'websites.example.com.yaml'), 'utf8')).to.equal(readFileSync(join(root, 'crds/websites.example.com.yaml'), 'utf8'));
      // The built-in VirtualIP's CRD in crds/ is the one its class generates.
      const vip = await keelson(['crds', '--module', join(dist, 'controllers/vip-failover/index.js'), '--out', out]);
      expect(vip.code, vip.stderr).to.equal(0);
      expect(readFileSync(join(out, 'virtualips.keelson.dev.yaml'), 'utf8')).to.equal(readFileSync(join(root, 'crds/virtualips.keelson.dev.yaml'), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
