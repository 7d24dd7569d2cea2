import { describe, expect, it } from 'vitest';
import { can, creatableRoles, homeFor, navFor } from '../../src/roles';
import { match } from '../../src/router';

describe('role-based navigation', () => {
  it('shows each role only what it may use', () => {
    expect(navFor('KAA_ADMIN').map((i) => i.label)).toEqual(['Tenants', 'Users', 'Cluster', 'Audit log']);
    expect(navFor('TENANT_ADMIN').map((i) => i.label)).toEqual(['Users', 'Applications', 'Event families', 'Audit log']);
    expect(navFor('TENANT_DEVELOPER').map((i) => i.label)).toEqual(['Applications', 'Event families']);
    expect(navFor('TENANT_USER').map((i) => i.label)).toEqual(['Applications', 'Event families']);
    expect(navFor(undefined)).toEqual([]);
  });

  it('lands each role on its first page', () => {
    expect(homeFor('KAA_ADMIN')).toBe('/tenants');
    expect(homeFor('TENANT_ADMIN')).toBe('/users');
    expect(homeFor('TENANT_USER')).toBe('/applications');
    expect(homeFor(undefined)).toBe('/login');
  });

  it('grants write actions after the API role matrix', () => {
    expect(can('TENANT_ADMIN', 'applications.write')).toBe(true);
    expect(can('TENANT_DEVELOPER', 'applications.write')).toBe(false);
    expect(can('TENANT_DEVELOPER', 'app.write')).toBe(true);
    expect(can('TENANT_ADMIN', 'app.write')).toBe(false);
    expect(can('TENANT_USER', 'app.write')).toBe(false);
    expect(can('KAA_ADMIN', 'applications.read')).toBe(false);
    expect(can('TENANT_ADMIN', 'families.write')).toBe(true);
    expect(can('TENANT_DEVELOPER', 'families.write')).toBe(true);
    expect(can('TENANT_USER', 'families.write')).toBe(false);
    expect(can('TENANT_USER', 'families.read')).toBe(true);
    expect(can('TENANT_USER', 'app.changes')).toBe(false);
    expect(can('TENANT_DEVELOPER', 'app.changes')).toBe(true);
    expect(can('KAA_ADMIN', 'cluster')).toBe(true);
    expect(can('TENANT_ADMIN', 'cluster')).toBe(false);
    expect(can('KAA_ADMIN', 'audit')).toBe(true);
    expect(can('TENANT_ADMIN', 'audit')).toBe(true);
    expect(can('TENANT_DEVELOPER', 'audit')).toBe(false);
    expect(can('TENANT_USER', 'audit')).toBe(false);
  });

  it('lets tenant admins and developers generate SDKs, as GET …/sdk does', () => {
    expect(can('TENANT_ADMIN', 'sdk.generate')).toBe(true);
    expect(can('TENANT_DEVELOPER', 'sdk.generate')).toBe(true);
    expect(can('TENANT_USER', 'sdk.generate')).toBe(false);
    expect(can('KAA_ADMIN', 'sdk.generate')).toBe(false);
  });

  it('offers only the roles a user may create', () => {
    expect(creatableRoles('KAA_ADMIN')).toEqual(['TENANT_ADMIN', 'KAA_ADMIN']);
    expect(creatableRoles('TENANT_ADMIN')).toEqual(['TENANT_ADMIN', 'TENANT_DEVELOPER', 'TENANT_USER']);
    expect(creatableRoles('TENANT_DEVELOPER')).toEqual([]);
  });
});

describe('router match', () => {
  it('extracts decoded params', () => {
    expect(match('/applications/:app/groups/:group', '/applications/a%201/groups/g')).toEqual({ app: 'a 1', group: 'g' });
    expect(match('/applications/:app', '/applications/x/groups')).toBeNull();
    expect(match('/tenants', '/tenants/')).toEqual({});
    expect(match('/applications/:app/groups/:group/:tab', '/applications/a/groups/g/filters')).toEqual({ app: 'a', group: 'g', tab: 'filters' });
  });
});
