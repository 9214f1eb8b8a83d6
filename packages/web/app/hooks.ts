import type { LiveUpdate } from '@edgeward/core';
import { createContext, useCallback, useContext, useEffect, useState } from 'react';
import { api } from './api.ts';

/** A request's state: loading, its data, or the error it ended with. */
export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  reload(): void;
}

/**
 * GETs `path` (null: nothing to fetch) and again whenever `path` or one of `deps` changes; keeps the
 * previous data while reloading, so a live refresh does not blank the page.
 */
export function useApi<T>(path: string | null, deps: readonly unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: path !== null,
  });
  const [round, setRound] = useState(0);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's reasons to refetch
  useEffect(() => {
    if (path === null) return;
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    api<T>(path).then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: unknown) =>
        current && setState((previous) => ({ ...previous, error: error as Error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [path, round, ...deps]);
  return { ...state, reload };
}

/** Counters per live topic: a page lists the topics it shows and refetches when theirs move. */
export type LiveCounters = Readonly<Record<LiveUpdate['topic'], number>> & { readonly connected: boolean };

export const LiveContext = createContext<LiveCounters>({
  alerts: 0,
  devices: 0,
  commands: 0,
  fleet: 0,
  connected: false,
});

export function useLive(): LiveCounters {
  return useContext(LiveContext);
}

/** Listens to the manager's server-sent events while signed in; the browser reconnects by itself. */
export function useLiveStream(enabled: boolean): LiveCounters {
  const [counters, setCounters] = useState<LiveCounters>({
    alerts: 0,
    devices: 0,
    commands: 0,
    fleet: 0,
    connected: false,
  });
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource('/api/v1/stream');
    const bump = (topic: LiveUpdate['topic']) => () =>
      setCounters((previous) => ({ ...previous, [topic]: previous[topic] + 1 }));
    for (const topic of ['alerts', 'devices', 'commands', 'fleet'] as const) {
      source.addEventListener(topic, bump(topic));
    }
    source.onopen = () => setCounters((previous) => ({ ...previous, connected: true }));
    source.onerror = () => setCounters((previous) => ({ ...previous, connected: false }));
    return () => source.close();
  }, [enabled]);
  return counters;
}

/** The hash route, `#/devices/dev-1?status=online` → path and query. */
function readRoute(): { path: string; params: URLSearchParams } {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  return { path, params: new URLSearchParams(search) };
}

export function useRoute(): { path: string; params: URLSearchParams } {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const onChange = () => setRoute(readRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function navigate(path: string, params?: URLSearchParams): void {
  const search = params?.toString() ?? '';
  window.location.hash = search === '' ? path : `${path}?${search}`;
}

/**
 * A counter that moves every `intervalMs` while `enabled`: a dependency for `useApi` on pages whose
 * data changes without a live topic of its own (a running rollout is read again while it is shown).
 */
export function usePoll(intervalMs: number, enabled: boolean): number {
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!enabled) return;
    const timer = setInterval(() => setRound((value) => value + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, enabled]);
  return round;
}
