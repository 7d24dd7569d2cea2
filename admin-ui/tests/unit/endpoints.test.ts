import { describe, expect, it } from 'vitest';
import type { Group, Topic } from '../../src/api';
import { groupNames, subscriptionChoices } from '../../src/endpoints';

const group = (id: string, name: string, weight: number): Group => ({ id, app_id: 'a', name, weight, description: '', created_ms: 0 });
const topic = (id: string, name: string, kind = 'mandatory'): Topic => ({ id, app_id: 'a', name, kind, created_ms: 0 });

describe('groupNames', () => {
  it('names an endpoint’s groups in weight order, unknown ids last as they are', () => {
    const groups = [group('g-all', 'all', 0), group('g-beta', 'beta', 10), group('g-eu', 'europe', 5)];
    expect(groupNames(['g-beta', 'gone', 'g-all', 'g-eu'], groups)).toEqual([
      { id: 'g-all', name: 'all' },
      { id: 'g-eu', name: 'europe' },
      { id: 'g-beta', name: 'beta' },
      { id: 'gone', name: 'gone' },
    ]);
  });
  it('shows ids while the groups are loading', () => {
    expect(groupNames(['g1'], undefined)).toEqual([{ id: 'g1', name: 'g1' }]);
  });
});

describe('subscriptionChoices', () => {
  it('offers the endpoint’s subscriptions first, then the other topics, by name', () => {
    const topics = [topic('t1', 'promotions', 'optional'), topic('t2', 'alerts'), topic('t3', 'firmware')];
    expect(subscriptionChoices(topics, ['t3']).map((c) => [c.topic.name, c.subscribed])).toEqual([
      ['firmware', true],
      ['alerts', false],
      ['promotions', false],
    ]);
  });
});
