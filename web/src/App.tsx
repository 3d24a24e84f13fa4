import { lazy, Suspense, useEffect, useRef } from 'react';
import { Anchor, AppShell, Burger, Group, Menu, NavLink, SegmentedControl, Text, Title, UnstyledButton, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { NavLink as RouterLink, Route, Routes, useLocation } from 'react-router-dom';
import { useI18n, type Lang, type MessageKey } from './i18n';
import { SessionProvider, useSession, useSessionQuery } from './session';
import { ErrorAlert, Loading } from './components/states';
import { LoginPage } from './pages/LoginPage';

// Charts weigh the most: the dashboard and segment pages load them on first visit.
const DashboardPage = lazy(() => import('./pages/DashboardPage'));
const CustomersPage = lazy(() => import('./pages/CustomersPage'));
const CustomerProfilePage = lazy(() => import('./pages/CustomerProfilePage'));
const SegmentsPage = lazy(() => import('./pages/SegmentsPage'));
const SegmentPage = lazy(() => import('./pages/SegmentPage'));
const SettingsPage = lazy(() => import('./pages/SettingsPage'));
const DuplicatesPage = lazy(() => import('./pages/DuplicatesPage'));
const AuditPage = lazy(() => import('./pages/AuditPage'));
const ImportsPage = lazy(() => import('./pages/ImportsPage'));
const CampaignsPage = lazy(() => import('./pages/CampaignsPage'));
const JourneysPage = lazy(() => import('./pages/JourneysPage'));

export function App() {
  const session = useSessionQuery();
  if (session.isPending) return <Loading />;
  if (session.error) return <ErrorAlert error={session.error} onRetry={() => void session.refetch()} />;
  if (!session.data) return <LoginPage />;
  return (
    <SessionProvider me={session.data.me} tenant={session.data.tenant}>
      <Shell />
    </SessionProvider>
  );
}

const NAV: { to: string; label: MessageKey; end?: boolean; adminOnly?: boolean }[] = [
  { to: '/', label: 'nav.dashboard', end: true },
  { to: '/customers', label: 'nav.customers' },
  { to: '/segments', label: 'nav.segments' },
  { to: '/campaigns', label: 'nav.campaigns' },
  { to: '/journeys', label: 'nav.journeys' },
  { to: '/duplicates', label: 'nav.duplicates' },
  { to: '/imports', label: 'nav.imports' },
  { to: '/audit', label: 'nav.audit', adminOnly: true },
  { to: '/settings', label: 'nav.settings' },
];

export function LanguageSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <SegmentedControl
      size="xs"
      aria-label={t('lang.label')}
      value={lang}
      onChange={(v) => setLang(v as Lang)}
      data={[
        { value: 'en', label: 'EN' },
        { value: 'ro', label: 'RO' },
      ]}
    />
  );
}

function Shell() {
  const [opened, { toggle, close }] = useDisclosure();
  const { t } = useI18n();
  const { me, tenant, logout, can } = useSession();
  const location = useLocation();
  const who = me.user?.name || me.user?.email || me.actor;
  // Client-side navigation does not move focus like a page load would: send it to the new page's content.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: false });
  }, [location.pathname]);
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <Anchor href="#main" className="skip-link">
        {t('app.skip')}
      </Anchor>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t('nav.toggle')} />
            <Title order={1} size="h4" style={{ whiteSpace: 'nowrap' }}>
              {t('app.name')}
            </Title>
            <Text size="sm" c="dimmed" visibleFrom="md">
              {tenant.name}
            </Text>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <LanguageSwitch />
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <UnstyledButton aria-label={t('user.menu')} style={{ padding: '4px 8px', borderRadius: 6 }}>
                  <Text size="sm" fw={500} truncate maw={{ base: 90, sm: 200 }}>
                    {who}
                  </Text>
                  <VisuallyHidden>{t(`user.role.${me.role}`)}</VisuallyHidden>
                </UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>{t(`user.role.${me.role}`)}</Menu.Label>
                <Menu.Item onClick={logout}>{t('user.logout')}</Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label={t('nav.main')}>
        {NAV.filter((item) => !item.adminOnly || can.admin).map((item) => (
          <NavLink
            key={item.to}
            component={RouterLink}
            to={item.to}
            end={item.end}
            label={t(item.label)}
            active={item.end ? location.pathname === item.to : location.pathname.startsWith(item.to)}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main" tabIndex={-1}>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/" element={<DashboardPage />} />
            <Route path="/customers" element={<CustomersPage />} />
            <Route path="/customers/:id" element={<CustomerProfilePage />} />
            <Route path="/segments" element={<SegmentsPage />} />
            <Route path="/segments/new" element={<SegmentPage />} />
            <Route path="/segments/:id" element={<SegmentPage />} />
            <Route path="/duplicates" element={<DuplicatesPage />} />
            <Route path="/audit" element={<AuditPage />} />
            <Route path="/imports" element={<ImportsPage />} />
            <Route path="/campaigns" element={<CampaignsPage />} />
            <Route path="/journeys" element={<JourneysPage />} />
            <Route path="/settings" element={<SettingsPage />} />
            <Route path="*" element={<Text>{t('err.page')}</Text>} />
          </Routes>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
