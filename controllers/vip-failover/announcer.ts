/**
 * What holding an address means on the network, behind one interface: an {@link Announcer}
 * makes a VirtualIP's address reachable at this node while the election says this node holds
 * it, and stops at once when told to — or by itself when its hold runs out.
 *
 * The election calls `hold` after winning the Lease, `extend` after every renewal and `release`
 * when it steps down, loses the Lease or fences itself. Each `hold`/`extend` names how long the
 * announcer may serve without another extension (`holdForMs`): an announcer that is not
 * extended in time stops on its own — the second line of self-fencing, after the election's
 * own timer. Tokens are the holding's fencing token: a call with a lower token than the
 * announcer has seen is stale and ignored.
 */

/** Makes one address reachable while held (see the file header). */
export interface Announcer {
  /** What it announces, for logs: `198.51.100.100 on eth0 (arp)`. */
  readonly description: string;
  /** True from a successful `hold` until `release` (or the hold ran out). */
  readonly holding: boolean;
  /** Starts serving for holding `token`; resolves once the address is reachable. */
  hold(token: number, holdForMs: number): Promise<void>;
  /** Serves `holdForMs` more from now (after a renewal of holding `token`). */
  extend(token: number, holdForMs: number): void;
  /** Stops serving; resolves once the address is no longer reachable here. Never rejects. */
  release(): Promise<void>;
  /** Releases and frees everything the announcer owns. */
  close(): Promise<void>;
}
