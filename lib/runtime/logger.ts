/**
 * Structured logging with pino: one JSON object per line, so logs can be shipped and queried as
 * they are from controller-runtime's zap logger. A manager owns one base logger; each controller
 * gets a child naming it, and each reconcile a child naming the object and a fresh
 * `reconcileID` — the same keys controller-runtime writes, so existing log queries keep working.
 */
import { randomUUID } from 'node:crypto';
import { pino, type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

/** The environment variable that sets the default log level (`trace` … `fatal`, `silent`). */
export const LOG_LEVEL_ENV = 'KEELSON_LOG_LEVEL';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written; default `$KEELSON_LOG_LEVEL`, else `info`. */
  level?: LevelWithSilent;
  /** Written as the `logger` field of every line (e.g. the binary or manager name). */
  name?: string;
  /** Where lines go; default standard output. */
  destination?: DestinationStream;
}

/**
 * Creates a pino logger writing JSON lines. An unknown level in `$KEELSON_LOG_LEVEL` is ignored
 * (`info` is used) rather than failing the process at start-up.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fromEnv = process.env[LOG_LEVEL_ENV]?.trim().toLowerCase();
  const level = options.level ?? (fromEnv && LEVELS.includes(fromEnv) ? (fromEnv as LevelWithSilent) : 'info');
  const logger = options.destination ? pino({ level }, options.destination) : pino({ level });
  // Under `logger`, as zap names loggers: `name` is the reconciled object's name in controller-runtime's keys.
  return options.name ? logger.child({ logger: options.name }) : logger;
}

/** A logger that writes nothing: the default of components used outside a manager, and for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** What a reconcile's log lines say about it (see {@link reconcileLogger}). */
export interface ReconcileLogContext {
  /** The controller's name. */
  controller: string;
  /** The kind the controller is `for`, e.g. `ReplicationController`. */
  kind: string;
  /** The API group of that kind ('' for core). */
  group?: string;
  /** The object's namespace ('' or absent for cluster-scoped kinds). */
  namespace?: string;
  /** The object's name. */
  name: string;
  /** Identifies this one reconcile across its log lines; a fresh UUID when absent. */
  reconcileID?: string;
}

/**
 * The child logger of one reconcile, with controller-runtime's keys: `controller`,
 * `controllerGroup`, `controllerKind`, `<Kind>: { name, namespace }`, `namespace`, `name` and
 * `reconcileID`.
 */
export function reconcileLogger(base: Logger, context: ReconcileLogContext): Logger {
  const namespace = context.namespace ?? '';
  return base.child({
    controller: context.controller,
    controllerGroup: context.group ?? '',
    controllerKind: context.kind,
    [context.kind]: namespace ? { name: context.name, namespace } : { name: context.name },
    namespace,
    name: context.name,
    reconcileID: context.reconcileID ?? randomUUID(),
  });
}
