import type { Logger } from 'pino';
import type { RoutingHooks } from './hooks.js';
import type { ProxyObserver } from './observer.js';

/**
 * Runs the routing hooks (Kamailio's route blocks) for the proxy: sync or async, with one answer
 * to a hook that throws or rejects (counted, logged, then `onFailed`). Nothing here lets an error
 * escape as an unhandled rejection: what runs after an async hook is guarded too.
 */
export class HookRunner {
  constructor(
    readonly hooks: RoutingHooks,
    private readonly observer: ProxyObserver,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `hook(ctx)`, then `then`. When the hook fails, `onFailed` runs instead. When `then`
   * throws after an async hook (no caller left to catch it), `onFault` gets the error.
   */
  run<C>(
    name: keyof RoutingHooks,
    hook: (ctx: C) => void | Promise<void>,
    ctx: C,
    handlers: { then: () => void; onFailed: () => void; onFault: (err: unknown) => void },
  ): void {
    let result: void | Promise<void>;
    try {
      result = hook(ctx);
    } catch (err) {
      this.failed(name, err, handlers.onFailed);
      return;
    }
    if (!(result instanceof Promise)) {
      handlers.then();
      return;
    }
    result
      .then(handlers.then, (err: unknown) => this.failed(name, err, handlers.onFailed))
      .catch(handlers.onFault);
  }

  /** A hook threw or rejected: counted, logged, then `onFailed` (a closure only for async hooks). */
  private failed(name: keyof RoutingHooks, err: unknown, onFailed: () => void): void {
    this.observer.hookError(name);
    this.log.error({ err, hook: name }, 'routing hook failed');
    onFailed();
  }
}
