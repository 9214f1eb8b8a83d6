import { type FormEvent, useEffect, useState } from 'react';
import { ApiError, api, onSignedOut } from './api.ts';
import { LiveContext, useLiveStream, useRoute } from './hooks.ts';
import { AlertsPage } from './pages/alerts.tsx';
import { AuditPage } from './pages/audit.tsx';
import { DevicePage } from './pages/device.tsx';
import { DevicesPage } from './pages/devices.tsx';
import { IncidentsPage } from './pages/incidents.tsx';
import { OptionalFeaturePage, useOptionalFeatures } from './pages/optional.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { PolicyPage } from './pages/policy.tsx';
import { RolloutsPage } from './pages/rollouts.tsx';
import { type Operator, OperatorContext } from './session.ts';

type SessionState =
  | { kind: 'checking' }
  | { kind: 'signed-out'; message?: string }
  | { kind: 'signed-in'; operator: Operator };

export function App() {
  const [session, setSession] = useState<SessionState>({ kind: 'checking' });
  useEffect(() => {
    api<Operator>('/api/v1/whoami').then(
      (operator) => setSession({ kind: 'signed-in', operator }),
      () => setSession({ kind: 'signed-out' }),
    );
    return onSignedOut(() =>
      setSession({ kind: 'signed-out', message: 'Your session ended; sign in again.' }),
    );
  }, []);
  if (session.kind === 'checking') return <p className="center muted">Loading…</p>;
  if (session.kind === 'signed-out') {
    return (
      <Login
        message={session.message}
        onSignedIn={(operator) => setSession({ kind: 'signed-in', operator })}
      />
    );
  }
  return (
    <OperatorContext.Provider value={session.operator}>
      <Shell operator={session.operator} onSignOut={() => setSession({ kind: 'signed-out' })} />
    </OperatorContext.Provider>
  );
}

function Login(props: { message: string | undefined; onSignedIn: (operator: Operator) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(props.message);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const session = await api<{ operator: Operator }>('/api/v1/session', {
        method: 'POST',
        body: { token },
      });
      props.onSignedIn(session.operator);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'That token is unknown or revoked.'
          : String((failure as Error).message),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <h1>Edgeward</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label htmlFor="token">Operator token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          placeholder="ewo_…"
          required
          value={token}
          onChange={(event) => setToken(event.target.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <p className="hint muted">
          The token is exchanged for a session cookie and not kept by the page.{' '}
          <code>npx edgeward operators create</code> makes one; the first admin token is in{' '}
          <code>.edgeward/admin.token</code>.
        </p>
        {error !== undefined && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

const pages = [
  { path: '/', title: 'Overview' },
  { path: '/devices', title: 'Devices' },
  { path: '/alerts', title: 'Alerts' },
  { path: '/policy', title: 'Policy' },
  { path: '/audit', title: 'Audit' },
] as const;

function Shell(props: { operator: Operator; onSignOut: () => void }) {
  const route = useRoute();
  const live = useLiveStream(true);
  const optional = useOptionalFeatures();
  const signOut = async () => {
    await api('/api/v1/session', { method: 'DELETE' }).catch(() => {});
    props.onSignOut();
  };
  const section = `/${route.path.split('/')[1] ?? ''}`;
  const nav = [
    ...pages,
    ...optional
      .filter((feature) => feature.available)
      .map((feature) => ({ path: feature.path, title: feature.title })),
  ];
  return (
    <LiveContext.Provider value={live}>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Edgeward</span>
        <nav aria-label="Main">
          {nav.map((page) => (
            <a
              key={page.path}
              href={`#${page.path}`}
              aria-current={section === page.path ? 'page' : undefined}
            >
              {page.title}
            </a>
          ))}
        </nav>
        <span className="who">
          <span
            className={live.connected ? 'live on' : 'live'}
            title={live.connected ? 'Live updates on' : 'Live updates reconnecting'}
          >
            <span className="sr-only">
              {live.connected ? 'Live updates on' : 'Live updates reconnecting'}
            </span>
          </span>
          <span data-testid="operator">
            {props.operator.name} ({props.operator.role})
          </span>
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={route.path} params={route.params} optional={optional} />
      </main>
    </LiveContext.Provider>
  );
}

function Page(props: {
  path: string;
  params: URLSearchParams;
  optional: ReturnType<typeof useOptionalFeatures>;
}) {
  const parts = props.path.split('/').filter((part) => part !== '');
  switch (parts[0]) {
    case undefined:
      return <OverviewPage />;
    case 'devices':
      return parts[1] === undefined ? (
        <DevicesPage params={props.params} />
      ) : (
        <DevicePage id={decodeURIComponent(parts[1])} />
      );
    case 'alerts':
      return <AlertsPage params={props.params} />;
    case 'policy':
      return <PolicyPage />;
    case 'audit':
      return <AuditPage />;
    case 'rollouts':
    case 'incidents': {
      const feature = props.optional.find((candidate) => candidate.path === `/${parts[0]}`);
      const id = parts[1] === undefined ? undefined : decodeURIComponent(parts[1]);
      return (
        <OptionalFeaturePage feature={feature}>
          {parts[0] === 'rollouts' ? (
            <RolloutsPage id={id} />
          ) : (
            <IncidentsPage id={id} params={props.params} />
          )}
        </OptionalFeaturePage>
      );
    }
    default: {
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page here. <a href="#/">Back to the overview</a>.
          </p>
        </section>
      );
    }
  }
}
