/**
 * Custom kinds served from CustomResourceDefinition objects, as apiextensions-apiserver serves
 * them: a CRD becomes a served kind with its status kept, custom resources are pruned, defaulted
 * and validated against the version's schema with kube's messages, the status subresource is
 * honoured, names conflict, versions come and go, deleting a CRD deletes its resources first,
 * and a second process sharing the store serves the same kinds. Runs against every backend.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { CustomResourceDefinition } from '../../lib/api/kinds.js';
import type { KubeObject, WatchEvent } from '../../lib/api/meta.js';
import type { JSONSchemaProps } from '../../lib/api/types/apiextensions.js';
import { createRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import { objectKey } from '../../lib/registry/keys.js';
import { SqliteKV } from '../../lib/storage/sqlite.js';
import { kvBackends } from '../harness/backends.js';
import { openTestStore, type TestStore } from '../harness/store.js';
import { collectUntil, waitFor } from '../harness/wait.js';

const NS = 'default';
const V1 = { apiVersion: 'example.com/v1', kind: 'Widget' };
const V2 = { apiVersion: 'example.com/v2', kind: 'Widget' };
const CRD_NAME = 'widgets.example.com';

const WIDGET_SCHEMA: JSONSchemaProps = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'string' },
        replicas: { type: 'integer', format: 'int32', minimum: 0, maximum: 10, default: 1 },
        count: { type: 'integer' },
        mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
        name: { type: 'string', minLength: 3, maxLength: 8, pattern: '^[a-z]+$' },
        port: { 'x-kubernetes-int-or-string': true },
        tags: { type: 'array', maxItems: 3, items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        ratio: { type: 'number', minimum: 0, exclusiveMinimum: true, multipleOf: 0.5 },
        created: { type: 'string', format: 'date-time' },
        template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        items: {
          type: 'array',
          minItems: 1,
          items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, weight: { type: 'integer', default: 5 } } },
        },
        limits: { type: 'object', additionalProperties: { type: 'object', properties: { max: { type: 'integer', default: 100 } } } },
        nickname: { type: 'string', nullable: true },
      },
    },
    status: { type: 'object', properties: { replicas: { type: 'integer' }, selector: { type: 'string' }, phase: { type: 'string' } } },
  },
};

const SCALE = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

function widgetCRD(schema: JSONSchemaProps = WIDGET_SCHEMA): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wd'], categories: ['all'] },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema }, subresources: { status: {}, scale: SCALE } }],
    },
  };
}

/** A custom resource of the kind under test. */
type Widget = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

function widget(name: string, spec: Record<string, unknown> = { size: 'small' }, extra: Record<string, unknown> = {}): Widget {
  return { ...V1, metadata: { name, namespace: NS }, spec, ...extra } as Widget;
}

async function expectApiError(promise: Promise<unknown>, code: number): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(ApiError);
    expect((err as ApiError).code, (err as ApiError).message).to.equal(code);
    return err as ApiError;
  }
  throw new Error(`expected an ApiError ${code}`);
}

function registryOf(store: TestStore): CustomResourceRegistry {
  return store.registry;
}

async function installWidgets(store: TestStore, crd = widgetCRD()): Promise<void> {
  await store.client.create(crd);
  await registryOf(store).crds.waitForKind(V1.apiVersion, V1.kind, 1000);
}

/** The object as stored, below the registry (no defaults, storage apiVersion). */
async function raw(store: TestStore, name: string): Promise<Record<string, unknown>> {
  const info = registryOf(store).resolve(V1);
  const kv = await store.kv.get(objectKey(info, NS, name));
  return JSON.parse(kv!.value) as Record<string, unknown>;
}

interface Row {
  name: string;
  spec: Record<string, unknown>;
  metadataName?: string;
  /** The message after `Widget.example.com "<name>" is invalid: `. */
  message: string;
  causes: { reason: string; field: string }[];
}

const rows: Row[] = [
  {
    name: 'a string where an integer is expected',
    spec: { size: 's', count: '3' },
    message: 'spec.count: Invalid value: "string": spec.count in body must be of type integer: "string"',
    causes: [{ reason: 'FieldValueTypeInvalid', field: 'spec.count' }],
  },
  {
    name: 'a string as the scale replica count (schema and scale subresource)',
    spec: { size: 's', replicas: '3' },
    message:
      '[spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string", .spec.replicas: Invalid value: 0: .spec.replicas accessor error: 3 is of the type string, expected int64]',
    causes: [
      { reason: 'FieldValueTypeInvalid', field: 'spec.replicas' },
      { reason: 'FieldValueInvalid', field: '.spec.replicas' },
    ],
  },
  { name: 'a required field missing', spec: { replicas: 2 }, message: 'spec.size: Required value', causes: [{ reason: 'FieldValueRequired', field: 'spec.size' }] },
  {
    name: 'a value outside the enum',
    spec: { size: 's', mode: 'x' },
    message: 'spec.mode: Unsupported value: "x": supported values: "a", "b"',
    causes: [{ reason: 'FieldValueNotSupported', field: 'spec.mode' }],
  },
  {
    name: 'a number above the maximum',
    spec: { size: 's', replicas: 11 },
    message: 'spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10',
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas' }],
  },
  {
    name: 'a negative scale replica count (schema and scale subresource)',
    spec: { size: 's', replicas: -1 },
    message:
      '[spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, .spec.replicas: Invalid value: -1: should be a non-negative integer]',
    causes: [
      { reason: 'FieldValueInvalid', field: 'spec.replicas' },
      { reason: 'FieldValueInvalid', field: '.spec.replicas' },
    ],
  },
  {
    name: 'a fraction where an int32 is expected',
    spec: { size: 's', replicas: 1.5 },
    message:
      '[spec.replicas: Invalid value: "float64": spec.replicas in body must be of type int32: "float64", .spec.replicas: Invalid value: 0: .spec.replicas accessor error: 1.5 is of the type float64, expected int64]',
    causes: [
      { reason: 'FieldValueTypeInvalid', field: 'spec.replicas' },
      { reason: 'FieldValueInvalid', field: '.spec.replicas' },
    ],
  },
  {
    name: 'a string shorter than minLength',
    spec: { size: 's', name: 'ab' },
    message: 'spec.name: Invalid value: "ab": spec.name in body should be at least 3 chars long',
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.name' }],
  },
  {
    name: 'a string longer than maxLength',
    spec: { size: 's', name: 'abcdefghij' },
    message: 'spec.name: Too long: may not be more than 8 bytes',
    causes: [{ reason: 'FieldValueTooLong', field: 'spec.name' }],
  },
  {
    name: 'a string not matching the pattern',
    spec: { size: 's', name: 'ABC' },
    message: "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'",
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.name' }],
  },
  {
    name: 'more items than maxItems',
    spec: { size: 's', tags: ['a', 'b', 'c', 'd'] },
    message: 'spec.tags: Too many: 4: must have at most 3 items',
    causes: [{ reason: 'FieldValueTooMany', field: 'spec.tags' }],
  },
  {
    name: 'fewer items than minItems',
    spec: { size: 's', items: [] },
    message: 'spec.items: Invalid value: 0: spec.items in body should have at least 1 items',
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.items' }],
  },
  {
    name: 'a duplicate in a set list',
    spec: { size: 's', tags: ['a', 'a'] },
    message: 'spec.tags[1]: Duplicate value: "a"',
    causes: [{ reason: 'FieldValueDuplicate', field: 'spec.tags[1]' }],
  },
  {
    name: 'a boolean where int-or-string is expected',
    spec: { size: 's', port: true },
    message: 'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
    causes: [{ reason: 'FieldValueTypeInvalid', field: 'spec.port' }],
  },
  {
    name: 'a number at an exclusive minimum',
    spec: { size: 's', ratio: 0 },
    message: 'spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0',
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.ratio' }],
  },
  {
    name: 'a number that is not a multiple',
    spec: { size: 's', ratio: 0.7 },
    message: 'spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5',
    causes: [{ reason: 'FieldValueInvalid', field: 'spec.ratio' }],
  },
  {
    name: 'a malformed date-time',
    spec: { size: 's', created: 'yesterday' },
    message: 'spec.created: Invalid value: "yesterday": spec.created in body must be of type date-time: "yesterday"',
    causes: [{ reason: 'FieldValueTypeInvalid', field: 'spec.created' }],
  },
  {
    name: 'an embedded resource without kind',
    spec: { size: 's', template: { apiVersion: 'v1', metadata: { name: 'x' } } },
    message: 'spec.template.kind: Required value: must not be empty',
    causes: [{ reason: 'FieldValueRequired', field: 'spec.template.kind' }],
  },
  {
    name: 'a wrong type in additionalProperties',
    spec: { size: 's', labels: { team: 7 } },
    message: 'spec.labels.team: Invalid value: "integer": spec.labels.team in body must be of type string: "integer"',
    causes: [{ reason: 'FieldValueTypeInvalid', field: 'spec.labels.team' }],
  },
  {
    name: 'a required field missing inside an array item',
    spec: { size: 's', items: [{ name: 'a' }, { weight: 1 }] },
    message: 'spec.items[1].name: Required value',
    causes: [{ reason: 'FieldValueRequired', field: 'spec.items[1].name' }],
  },
  {
    name: 'a name that is not a DNS subdomain',
    spec: { size: 's' },
    metadataName: 'Bad_Name',
    message:
      "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }],
  },
];

for (const backend of kvBackends) {
  describe(`CustomResourceDefinitions [${backend.name}]`, function () {
    this.timeout(30_000);
    let store: TestStore;

    before(async () => backend.setup());
    after(async () => backend.teardown());
    beforeEach(async () => {
      store = await openTestStore(backend);
      await registryOf(store).crds.waitForSync();
    });
    afterEach(async () => store.close());

    it(`serves a CRD's kind within a second and keeps its status [${backend.name}]`, async () => {
      const started = Date.now();
      await installWidgets(store);
      const servedMs = Date.now() - started;
      console.log(`      (CRD created → kind served: ${servedMs} ms; goal < 1000 ms)`);
      // Generous on a shared machine; the measured time is printed against the goal.
      expect(servedMs).to.be.lessThan(5000);

      const crd = await store.client.get(CustomResourceDefinition, CRD_NAME);
      expect(crd.status?.acceptedNames).to.deep.equal(crd.spec?.names);
      expect(crd.status?.storedVersions).to.deep.equal(['v1']);
      const conditions = (crd.status?.conditions ?? []).map(({ lastTransitionTime, ...rest }) => {
        expect(lastTransitionTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        return rest;
      });
      expect(conditions).to.deep.equal([
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
      ]);
      expect(crd.metadata?.finalizers, 'the cleanup finalizer comes with the delete, as in kube').to.equal(undefined);
      expect(crd.metadata?.generation).to.equal(1);
      // Once the status is right the controller writes nothing more.
      const settled = await store.kv.revision();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await store.kv.revision()).to.equal(settled);

      const info = registryOf(store).resolve(V1);
      expect(info).to.include({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList', namespaced: true });
      expect(info.shortNames).to.deep.equal(['wd']);
      expect(info.categories).to.deep.equal(['all']);
      expect(info.subresources).to.deep.equal({ status: true, scale: SCALE });

      const events = store.client.watch(V1, { namespace: NS });
      const created = await store.client.create(widget('w1'));
      expect(created).to.include({ apiVersion: 'example.com/v1', kind: 'Widget' });
      expect(created.metadata?.generation).to.equal(1);
      expect(await store.client.get(V1, 'w1', { namespace: NS })).to.deep.equal(created);
      const list = await store.client.list(V1, { namespace: NS });
      expect(list.items.map((w) => w.metadata?.name)).to.deep.equal(['w1']);
      const seen = await collectUntil(events, (items: WatchEvent[]) => items.length >= 1);
      expect(seen[0]?.type).to.equal('ADDED');
      expect(seen[0]?.object).to.deep.equal(created);
      await events.return?.();
    });

    describe(`schema validation [${backend.name}]`, () => {
      beforeEach(async () => installWidgets(store));

      for (const row of rows) {
        it(`refuses ${row.name} with kube's message, storing nothing [${backend.name}]`, async () => {
          const name = row.metadataName ?? 'w1';
          const before = await store.kv.revision();
          const err = await expectApiError(store.client.create(widget(name, row.spec)), 422);
          expect(err.reason).to.equal('Invalid');
          expect(err.message).to.equal(`Widget.example.com "${name}" is invalid: ${row.message}`);
          expect(err.details?.causes?.map((c) => ({ reason: c.reason, field: c.field }))).to.deep.equal(row.causes);
          expect(await store.kv.revision()).to.equal(before);

          // The same content as an update of a valid object is refused too, the object unchanged.
          if (row.metadataName) return;
          const valid = await store.client.create(widget(name));
          const err2 = await expectApiError(store.client.update({ ...valid, spec: row.spec }), 422);
          expect(err2.message).to.equal(err.message);
          expect(await store.client.get(V1, name, { namespace: NS })).to.deep.equal(valid);
        });
      }

      it(`ratchets: an unchanged invalid value does not block other changes [${backend.name}]`, async () => {
        await store.client.create(widget('w1', { size: 's', replicas: 8 }));
        const crd = await store.client.get(CustomResourceDefinition, CRD_NAME);
        const tightened = structuredClone(WIDGET_SCHEMA);
        tightened.properties!.spec!.properties!.replicas!.maximum = 5;
        crd.spec!.versions[0]!.schema = { openAPIV3Schema: tightened };
        await store.client.update(crd);
        const current = await waitFor(async () => {
          const w = await store.client.get<Widget>(V1, 'w1', { namespace: NS });
          const err = await store.client.update({ ...w, spec: { ...w.spec, replicas: 9 } }, { dryRun: true }).then(
            () => undefined,
            (e: unknown) => e as ApiError,
          );
          return err?.code === 422 ? w : undefined;
        }, { timeoutMs: 5000, what: 'the tightened schema' });
        expect((current.spec as { replicas: number }).replicas).to.equal(8);
        const updated = await store.client.update({ ...current, spec: { ...current.spec, mode: 'b' } });
        expect(updated.spec).to.include({ replicas: 8, mode: 'b' });
      });
    });

    it(`prunes unknown fields, keeping x-kubernetes-preserve-unknown-fields subtrees [${backend.name}]`, async () => {
      await installWidgets(store);
      const created = await store.client.create(
        widget(
          'w1',
          { size: 's', unknown: 1, extra: { anything: { deep: [1, { x: 2 }] } }, template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { any: true } } },
          { junk: 'x', status: { phase: 'Ready' } },
        ),
      );
      expect(created).to.not.have.property('junk');
      expect(created).to.not.have.property('status');
      expect(created.spec).to.not.have.property('unknown');
      expect(created.spec?.extra).to.deep.equal({ anything: { deep: [1, { x: 2 }] } });
      expect(created.spec?.template).to.deep.equal({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { any: true } });
      expect(await raw(store, 'w1')).to.not.have.property('junk');
    });

    it(`applies schema defaults on create, in array items and additionalProperties [${backend.name}]`, async () => {
      await installWidgets(store);
      const created = await store.client.create(
        widget('w1', { size: 's', replicas: null, nickname: null, items: [{ name: 'a' }, { name: 'b', weight: 2 }], limits: { cpu: {}, mem: { max: 1 } } }),
      );
      expect(created.spec).to.deep.equal({
        size: 's',
        replicas: 1,
        mode: 'a',
        nickname: null,
        items: [
          { name: 'a', weight: 5 },
          { name: 'b', weight: 2 },
        ],
        limits: { cpu: { max: 100 }, mem: { max: 1 } },
      });
      expect((await raw(store, 'w1')).spec).to.deep.equal(created.spec);
    });

    it(`applies a default added later when reading an object stored before [${backend.name}]`, async () => {
      await installWidgets(store);
      await store.client.create(widget('w1'));
      const events = store.client.watch(V1, { namespace: NS });
      const crd = await store.client.get(CustomResourceDefinition, CRD_NAME);
      const withColor = structuredClone(WIDGET_SCHEMA);
      withColor.properties!.spec!.properties!.color = { type: 'string', default: 'blue' };
      crd.spec!.versions[0]!.schema = { openAPIV3Schema: withColor };
      await store.client.update(crd);

      const got = await waitFor(async () => {
        const w = await store.client.get<Widget>(V1, 'w1', { namespace: NS });
        return w.spec?.color === 'blue' ? w : undefined;
      }, { timeoutMs: 2000, what: 'the default on read' });
      expect(got.spec).to.deep.equal({ size: 'small', replicas: 1, mode: 'a', color: 'blue' });
      expect((await raw(store, 'w1')).spec).to.deep.equal({ size: 'small', replicas: 1, mode: 'a' });
      expect((await store.client.list<Widget>(V1, { namespace: NS })).items[0]?.spec).to.deep.equal(got.spec);
      await store.client.patch(V1, 'w1', { metadata: { labels: { touched: 'yes' } } }, { namespace: NS });
      const seen = await collectUntil(events, (items: WatchEvent[]) => items.some((e) => e.type === 'MODIFIED'));
      expect((seen.find((e) => e.type === 'MODIFIED')?.object as Widget | undefined)?.spec).to.deep.equal(got.spec);
      await events.return?.();
    });

    it(`honours the status subresource [${backend.name}]`, async () => {
      await installWidgets(store);
      const created = await store.client.create(widget('w1', { size: 's' }, { status: { phase: 'Ignored' } }));
      expect(created).to.not.have.property('status');

      const withStatus = await store.client.updateStatus({ ...created, spec: { size: 'changed' }, status: { phase: 'Ready', replicas: 1 } });
      expect(withStatus.status).to.deep.equal({ phase: 'Ready', replicas: 1 });
      expect(withStatus.spec).to.deep.equal(created.spec);
      expect(withStatus.metadata?.generation).to.equal(1);

      const updated = await store.client.update({ ...withStatus, spec: { ...withStatus.spec, size: 'large' }, status: { phase: 'Overwritten' } });
      expect(updated.status).to.deep.equal({ phase: 'Ready', replicas: 1 });
      expect(updated.spec).to.include({ size: 'large' });
      expect(updated.metadata?.generation).to.equal(2);

      const err = await expectApiError(store.client.updateStatus({ ...updated, status: { replicas: 'many' } }), 422);
      expect(err.message).to.contain('status.replicas: Invalid value: "string": status.replicas in body must be of type integer: "string"');
    });

    it(`refuses a CRD whose kind or plural another CRD of the group has [${backend.name}]`, async () => {
      await installWidgets(store);
      const sameKind = widgetCRD();
      sameKind.metadata = { name: 'gizmos.example.com' };
      sameKind.spec!.names = { plural: 'gizmos', singular: 'gizmo', kind: 'Widget', listKind: 'GizmoList' };
      await store.client.create(sameKind);
      const samePlural = widgetCRD();
      samePlural.metadata = { name: 'wd.example.com' };
      samePlural.spec!.names = { plural: 'wd', singular: 'wdx', kind: 'Wd', listKind: 'WdList' };
      await store.client.create(samePlural);

      const conditionsOf = async (name: string) => {
        const crd = await store.client.get(CustomResourceDefinition, name);
        return (crd.status?.conditions ?? []).map(({ lastTransitionTime: _t, ...rest }) => rest);
      };
      const gizmo = await waitFor(async () => ((await conditionsOf('gizmos.example.com')).length > 0 ? conditionsOf('gizmos.example.com') : undefined));
      expect(gizmo).to.deep.equal([
        { type: 'NamesAccepted', status: 'False', reason: 'KindConflict', message: '"Widget" is already in use' },
        { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' },
      ]);
      const wd = await waitFor(async () => ((await conditionsOf('wd.example.com')).length > 0 ? conditionsOf('wd.example.com') : undefined));
      expect(wd[0]).to.deep.equal({ type: 'NamesAccepted', status: 'False', reason: 'PluralConflict', message: '"wd" is already in use' });
      const types = registryOf(store).types;
      expect(types.forResource('example.com', 'v1', 'gizmos')).to.equal(undefined);
      expect(types.forResource('example.com', 'v1', 'wd')).to.equal(undefined);
      expect(types.forKind(V1.apiVersion, 'Widget')?.plural).to.equal('widgets');

      // Once the first CRD is gone, its names are free: the waiting CRD is accepted and served.
      await store.client.delete(CustomResourceDefinition, CRD_NAME);
      await waitFor(() => types.forResource('example.com', 'v1', 'gizmos'), { timeoutMs: 5000, what: 'gizmos to be served' });
      expect(types.forKind(V1.apiVersion, 'Widget')?.plural).to.equal('gizmos');
    });

    it(`serves a version added to the CRD, storing objects in the storage version [${backend.name}]`, async () => {
      await installWidgets(store);
      const crd = await store.client.get(CustomResourceDefinition, CRD_NAME);
      crd.spec!.versions.push({ name: 'v2', served: true, storage: false, schema: { openAPIV3Schema: WIDGET_SCHEMA }, subresources: { status: {} } });
      await store.client.update(crd);
      const v2 = await registryOf(store).crds.waitForKind(V2.apiVersion, V2.kind, 1000);
      expect(v2.subresources).to.deep.equal({ status: true });

      const created = await store.client.create({ ...V2, metadata: { name: 'w2', namespace: NS }, spec: { size: 's' } });
      expect(created.apiVersion).to.equal('example.com/v2');
      expect((await raw(store, 'w2')).apiVersion).to.equal('example.com/v1');
      expect((await store.client.get(V1, 'w2', { namespace: NS })).apiVersion).to.equal('example.com/v1');
      expect((await store.client.list(V2, { namespace: NS })).items.map((w) => w.apiVersion)).to.deep.equal(['example.com/v2']);
      const updated = await store.client.update({ ...created, spec: { size: 'l' } });
      expect(updated.apiVersion).to.equal('example.com/v2');
      expect((await raw(store, 'w2')).apiVersion).to.equal('example.com/v1');

      const current = await store.client.get(CustomResourceDefinition, CRD_NAME);
      current.spec!.versions[1]!.served = false;
      await store.client.update(current);
      await waitFor(() => !registryOf(store).types.forKind(V2.apiVersion, V2.kind), { timeoutMs: 2000, what: 'v2 to stop being served' });
      expect(registryOf(store).types.forKind(V1.apiVersion, V1.kind)).to.not.equal(undefined);
    });

    it(`deletes a CRD's custom resources before the CRD itself [${backend.name}]`, async () => {
      await installWidgets(store);
      await store.client.create(widget('free'));
      await store.client.create({ ...widget('held'), metadata: { name: 'held', namespace: NS, finalizers: ['example.com/hold'] } });

      await store.client.delete(CustomResourceDefinition, CRD_NAME);
      const terminating = await waitFor(async () => {
        const crd = await store.client.get(CustomResourceDefinition, CRD_NAME);
        return crd.status?.conditions?.find((c) => c.type === 'Terminating') ? crd : undefined;
      }, { timeoutMs: 5000, what: 'the Terminating condition' });
      expect(terminating.metadata?.deletionTimestamp).to.be.a('string');
      const refused = await expectApiError(store.client.create(widget('late')), 405);
      expect(refused.reason).to.equal('MethodNotAllowed');
      expect(refused.message).to.equal('create not allowed while custom resource definition is terminating');

      await waitFor(async () => (await store.client.get(V1, 'free', { namespace: NS }).catch(() => undefined)) === undefined, { timeoutMs: 5000, what: 'free to go' });
      const held = await waitFor(async () => {
        const w = await store.client.get(V1, 'held', { namespace: NS });
        return w.metadata?.deletionTimestamp ? w : undefined;
      }, { timeoutMs: 5000, what: 'held to be deleting' });
      const waiting = await store.client.get(CustomResourceDefinition, CRD_NAME);
      expect(waiting.metadata?.finalizers).to.include('customresourcecleanup.apiextensions.k8s.io');

      await store.client.update({ ...held, metadata: { ...held.metadata, finalizers: [] } });
      await waitFor(async () => (await store.client.get(CustomResourceDefinition, CRD_NAME).catch(() => undefined)) === undefined, {
        timeoutMs: 5000,
        what: 'the CRD to be deleted',
      });
      await waitFor(() => !registryOf(store).types.forKind(V1.apiVersion, V1.kind), { timeoutMs: 2000, what: 'the kind to be unregistered' });
      await expectApiError(store.client.list(V1, { namespace: NS }), 404);
    });
  });
}

describe('CustomResourceDefinitions across processes sharing one SQLite file', function () {
  this.timeout(30_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keelson-crds-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('serves in one registry a CRD created through another', async () => {
    const path = join(dir, 'shared.db');
    const kvA = await SqliteKV.open(path);
    const kvB = await SqliteKV.open(path);
    const a = new StoreClient(createRegistry(kvA), () => kvA.close());
    const registryB = createRegistry(kvB);
    const b = new StoreClient(registryB, () => kvB.close());
    try {
      await registryB.crds.waitForSync();
      await a.create(widgetCRD());
      await registryB.crds.waitForKind(V1.apiVersion, V1.kind, 2000);
      const created = await b.create(widget('shared', { size: 's', replicas: 3 }));
      expect((await a.get(V1, 'shared', { namespace: NS })).metadata?.uid).to.equal(created.metadata?.uid);
      const err = await expectApiError(b.create(widget('bad', { size: 's', replicas: 99 })), 422);
      expect(err.message).to.contain('spec.replicas in body should be less than or equal to 10');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
