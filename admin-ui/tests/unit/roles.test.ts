import { describe, expect, it } from 'vitest';
import { can, creatableRoles, homeFor, navFor } from '../../src/roles';
import { match } from '../../src/router';

describe('role-based navigation', () => {
  it('shows each role only what it may use', () => {
    expect(navFor('KAA_ADMIN').map((i) => i.label)).toEqual(['Tenants', 'Users']);
    expect(navFor('TENANT_ADMIN').map((i) => i.label)).toEqual(['Users', 'Applications']);
    expect(navFor('TENANT_DEVELOPER').map((i) => i.label)).toEqual(['Applications']);
    expect(navFor('TENANT_USER').map((i) => i.label)).toEqual(['Applications']);
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
  });
});
