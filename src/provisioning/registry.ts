/*
 * Which connector serves which target, built from config.targets. This is the one place that
 * knows which connectors exist: a target names its connector by name, and the registry maps the
 * name to a factory. A target the configuration does not name has no connector: its operations
 * stay pending (never attempted, never dead) until one is configured.
 */
import type { Config } from '../config/index.js';
import { createGithubConnector } from '../../connectors/github/index.js';
import { createLdapConnector } from '../../connectors/ldap/index.js';
import { createMemoryConnector } from '../../connectors/memory/index.js';
import { createNoopConnector } from '../../connectors/noop/index.js';
import { createSlackConnector } from '../../connectors/slack/index.js';
import type { Connector } from './connector.js';

/** Builds a connector for a target from its settings (the target's config entry). */
export type ConnectorFactory = (target: string, settings: Record<string, unknown>) => Connector;

/** The connectors this build knows, by the name config.targets.<name>.connector uses. */
export const CONNECTOR_FACTORIES: Readonly<Record<string, ConnectorFactory>> = {
  github: createGithubConnector,
  ldap: createLdapConnector,
  memory: createMemoryConnector,
  noop: createNoopConnector,
  slack: createSlackConnector,
};

/** A connected target: its connector and the limits workers respect on it. */
export interface ConnectedTarget {
  connector: Connector;
  /** operations run at once on this target, per worker */
  concurrency: number;
  /** operations started per second on this target, per worker; 0 is unlimited */
  ratePerSecond: number;
  /** how reconciliation treats accounts that belong to nobody here; unset: orphans are fixed, nothing is ignored */
  reconcile?: OrphanPolicy;
}

/** targets.<name>.reconcile */
export interface OrphanPolicy {
  fixOrphans: boolean;
  /** account keys or correlation values left out of reconciliation, without case */
  ignore: readonly string[];
}

/** Raised when config.targets names a connector this build does not have. */
export class ConnectorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectorConfigError';
  }
}

export class ConnectorRegistry {
  private readonly byTarget = new Map<string, ConnectedTarget>();

  constructor(targets: Iterable<ConnectedTarget> = []) {
    for (const t of targets) this.byTarget.set(t.connector.target, t);
  }

  /** The registry config.targets describes; an unknown connector name stops the start with the names that exist. */
  static fromConfig(targets: Config['targets'], factories: Readonly<Record<string, ConnectorFactory>> = CONNECTOR_FACTORIES): ConnectorRegistry {
    const connected: ConnectedTarget[] = [];
    for (const [name, entry] of Object.entries(targets)) {
      const factory = factories[entry.connector];
      if (!factory) {
        throw new ConnectorConfigError(`target ${name} names connector "${entry.connector}", which does not exist (known: ${Object.keys(factories).sort().join(', ')})`);
      }
      connected.push({ connector: factory(name, entry), concurrency: entry.concurrency, ratePerSecond: entry.ratePerSecond, reconcile: entry.reconcile });
    }
    return new ConnectorRegistry(connected);
  }

  /** The connected target of this name, or undefined when none is configured. */
  get(target: string): ConnectedTarget | undefined {
    return this.byTarget.get(target);
  }

  /** The names of the connected targets. */
  targets(): string[] {
    return [...this.byTarget.keys()].sort();
  }

  /** Closes every connector that holds resources. */
  async close(): Promise<void> {
    await Promise.all([...this.byTarget.values()].map((t) => t.connector.close?.()));
  }
}
