// An endpoint group: its profile filters, configurations and attached topics, one tab each.
import { Breadcrumbs, Stack, Tabs, Text, Title } from '@mantine/core';
import { enc, type Application, type Group as EpGroup } from '../api';
import { useApp } from '../context';
import { navigate } from '../router';
import { ErrorAlert, Link, Loading, useLoad } from '../ui';
import { FiltersTab } from './group/Filters';
import { ConfigurationsTab } from './group/Configurations';
import { GroupTopicsTab } from './group/Topics';

export const GROUP_TABS = ['filters', 'configurations', 'topics'] as const;
export type GroupTab = (typeof GROUP_TABS)[number];

export function GroupPage({ appId, groupId, tab }: { appId: string; groupId: string; tab?: GroupTab }) {
  const { client } = useApp();
  const base = `/applications/${enc(appId)}`;
  const head = useLoad(
    () => Promise.all([client.get<Application>(base), client.get<EpGroup>(`${base}/groups/${enc(groupId)}`)]),
    [client, appId, groupId],
  );
  if (head.error) return <ErrorAlert error={head.error} />;
  if (!head.data) return <Loading />;
  const [app, group] = head.data;
  const isAll = group.weight === 0;
  // The group `all` takes no filter: it opens on its configurations.
  const current: GroupTab = tab ?? (isAll ? 'configurations' : 'filters');
  const groupPath = `${base}/groups/${enc(groupId)}`;

  return (
    <Stack>
      <Breadcrumbs>
        <Link to="/applications">Applications</Link>
        <Link to={`${base}/groups`}>{app.name}</Link>
        <Text>{group.name}</Text>
      </Breadcrumbs>
      <Title order={1} size="h2">
        Group {group.name}
      </Title>
      <Text c="dimmed" size="sm">
        Weight {group.weight}
        {group.description ? ` · ${group.description}` : ''}
      </Text>
      <Tabs value={current} onChange={(v) => v && navigate(`${groupPath}/${v}`)} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="filters">Profile filters</Tabs.Tab>
          <Tabs.Tab value="configurations">Configurations</Tabs.Tab>
          <Tabs.Tab value="topics">Topics</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="filters" pt="md">
          <FiltersTab appId={appId} group={group} />
        </Tabs.Panel>
        <Tabs.Panel value="configurations" pt="md">
          <ConfigurationsTab appId={appId} groupId={groupId} />
        </Tabs.Panel>
        <Tabs.Panel value="topics" pt="md">
          <GroupTopicsTab appId={appId} groupId={groupId} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
