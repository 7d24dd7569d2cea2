import { lazy, Suspense, useCallback, useMemo, useState, useEffect } from 'react';
import { AppShell, Badge, Burger, Button, Group, NavLink, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { Client, type Session } from './api';
import { AppContext } from './context';
import { CLUSTER_PAGE, homeFor, navFor, ROLE_LABELS } from './roles';
import { match, navigate, usePath } from './router';
import { LoginPage } from './pages/Login';
import { TenantsPage } from './pages/Tenants';
import { UsersPage } from './pages/Users';
import { ApplicationsPage } from './pages/Applications';
import { ApplicationPage, isAppTab } from './pages/Application';
import { GROUP_TABS, GroupPage, type GroupTab } from './pages/Group';
import { EndpointPage } from './pages/Endpoint';
import { EventFamiliesPage, EventFamilyPage } from './pages/EventFamilies';
import { AuditPage } from './pages/Audit';
import { Empty, Loading } from './ui';

// The cluster page brings the chart library: loaded on first visit, in a chunk of its own.
const ClusterPage = lazy(() => import('./pages/Cluster').then((m) => ({ default: m.ClusterPage })));

const KEY = 'kaa.session';

function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && s.token && s.expires_ms > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const path = usePath();
  const [navOpen, { toggle, close }] = useDisclosure(false);

  const endSession = useCallback(() => {
    sessionStorage.removeItem(KEY);
    setSession(null);
    navigate('/login', true);
  }, []);

  const client = useMemo(
    () =>
      new Client({
        token: () => loadSession()?.token ?? null,
        onUnauthorized: endSession,
      }),
    [endSession],
  );

  const onLogin = (s: Session) => {
    sessionStorage.setItem(KEY, JSON.stringify(s));
    setSession(s);
    navigate(homeFor(s.user.role), true);
  };

  const logout = async () => {
    try {
      await client.post('/auth/logout');
    } catch {
      // The session ends locally whatever the server says.
    }
    endSession();
  };

  useEffect(() => {
    if (!session && path !== '/login') navigate('/login', true);
    if (session && (path === '/' || path === '/login')) navigate(homeFor(session.user.role), true);
  }, [session, path]);

  useEffect(close, [path, close]);

  if (!session) return <LoginPage client={client} onLogin={onLogin} />;

  const nav = navFor(session.user.role);
  return (
    <AppContext.Provider value={{ client, session }}>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !navOpen } }}
        padding="md"
      >
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="sm" wrap="nowrap">
              <Burger opened={navOpen} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
              <Title order={3} size="h4">
                Kaa admin
              </Title>
            </Group>
            <Group gap="sm" wrap="nowrap">
              <Text size="sm" visibleFrom="xs" data-testid="whoami">
                {session.user.username}
              </Text>
              <Badge variant="light" visibleFrom="xs">
                {ROLE_LABELS[session.user.role] ?? session.user.role}
              </Badge>
              <Button size="xs" variant="default" onClick={logout}>
                Log out
              </Button>
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs" aria-label="Main">
          {nav.map((item) => (
            <NavLink
              key={item.path}
              href={item.path}
              label={item.label}
              active={path === item.path || path.startsWith(item.path + '/')}
              onClick={(e) => {
                e.preventDefault();
                navigate(item.path);
              }}
            />
          ))}
        </AppShell.Navbar>
        <AppShell.Main>
          <Routes path={path} />
        </AppShell.Main>
      </AppShell>
    </AppContext.Provider>
  );
}

function Routes({ path }: { path: string }) {
  let m: Record<string, string> | null;
  if (match('/tenants', path)) return <TenantsPage />;
  if (match('/users', path)) return <UsersPage />;
  if (match('/applications', path)) return <ApplicationsPage />;
  if ((m = match('/applications/:app', path))) return <ApplicationPage appId={m.app} tab="groups" />;
  if ((m = match('/applications/:app/:tab', path)) && isAppTab(m.tab)) return <ApplicationPage appId={m.app} tab={m.tab} />;
  if ((m = match('/applications/:app/groups/:group', path))) return <GroupPage appId={m.app} groupId={m.group} />;
  if ((m = match('/applications/:app/groups/:group/:tab', path)) && (GROUP_TABS as readonly string[]).includes(m.tab))
    return <GroupPage appId={m.app} groupId={m.group} tab={m.tab as GroupTab} />;
  if ((m = match('/applications/:app/endpoints/:key', path))) return <EndpointPage appId={m.app} keyHash={m.key} />;
  if (match('/event-families', path)) return <EventFamiliesPage />;
  if ((m = match('/event-families/:family', path))) return <EventFamilyPage familyId={m.family} />;
  if (match('/audit', path)) return <AuditPage />;
  if (match(CLUSTER_PAGE, path))
    return (
      <Suspense fallback={<Loading />}>
        <ClusterPage />
      </Suspense>
    );
  return <Empty>No page at {path}.</Empty>;
}
