// How a registered endpoint's ids are shown: the API lists its groups and topic subscriptions by
// id; the pages show names.
import type { Group, Topic } from './api';

/** Group ids as names, in the groups' weight order (`all` first); unknown ids stay as ids, last. */
export function groupNames(ids: string[], groups: Group[] | undefined): { id: string; name: string }[] {
  const byId = new Map((groups ?? []).map((g) => [g.id, g]));
  return ids
    .map((id) => ({ id, group: byId.get(id) }))
    .sort((a, b) => (a.group?.weight ?? Infinity) - (b.group?.weight ?? Infinity))
    .map(({ id, group }) => ({ id, name: group?.name ?? id }));
}

/** The topics a unicast notification may name, the endpoint's subscriptions first, then by name. */
export function subscriptionChoices(topics: Topic[], subscriptions: string[]): { topic: Topic; subscribed: boolean }[] {
  const subscribed = new Set(subscriptions);
  return [...topics]
    .sort((a, b) => Number(subscribed.has(b.id)) - Number(subscribed.has(a.id)) || a.name.localeCompare(b.name))
    .map((topic) => ({ topic, subscribed: subscribed.has(topic.id) }));
}
