/**
 * Dependency-injection tokens. Each is `Symbol.for('keelson.<Name>')`, so a user module that
 * loads its own copy of keelson still resolves the same bindings as the CLI's container. The
 * token and the type share one name: `@inject(Client) private readonly client: Client`.
 */
import type { Logger as PinoLogger } from 'pino';
import type { Client as ClientType } from '../client/client.js';
import type { Clock as ClockType } from '../util/clock.js';

/** The manager's Client: reads of watched kinds come from the informer cache, writes go to the source. */
export const Client: unique symbol = Symbol.for('keelson.Client') as never;
/** The Client's interface (see lib/client). */
export type Client = ClientType;

/** A Client that always reads from the source, bypassing caches (controller-runtime's APIReader). */
export const ApiReader: unique symbol = Symbol.for('keelson.ApiReader') as never;
/** The uncached reader's interface: a full Client whose reads are never cached. */
export type ApiReader = ClientType;

/** The time source (a FakeClock in tests). */
export const Clock: unique symbol = Symbol.for('keelson.Clock') as never;
/** The Clock's interface (see lib/util/clock). */
export type Clock = ClockType;

/** A structured logger (pino). Controllers get a child logger naming the controller. */
export const Logger: unique symbol = Symbol.for('keelson.Logger') as never;
/** The Logger's interface: pino's. */
export type Logger = PinoLogger;

/** The EventRecorder token (the type lives with its implementation in events.ts). */
export const EventRecorderToken: unique symbol = Symbol.for('keelson.EventRecorder') as never;

/** The Metrics token (the class lives in metrics.ts). */
export const MetricsToken: unique symbol = Symbol.for('keelson.Metrics') as never;

/** The Manager itself, for runnables that need it. */
export const ManagerToken: unique symbol = Symbol.for('keelson.Manager') as never;

/** Every controller class the manager runs is bound (multi-binding) under this token. */
export const ControllerToken: unique symbol = Symbol.for('keelson.Controller') as never;
