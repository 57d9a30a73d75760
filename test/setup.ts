/**
 * Loaded by mocha before any test (`.mocharc.json` `require`). reflect-metadata must be loaded
 * once before decorated classes are evaluated; nock is imported and immediately restored so
 * that it cannot intercept etcd3's HTTP/2 traffic (see TOOLCHAIN.md) — suites that fake a
 * cluster call `nock.activate()` themselves.
 */
import 'reflect-metadata';
import nock from 'nock';

nock.restore();
