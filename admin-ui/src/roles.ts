// What each role may see and do in the UI, after the role matrix of docs/admin-api.md.
import type { Role } from './api';

export type Capability =
  | 'tenants'
  | 'users'
  | 'applications.read'
  | 'applications.write'
  | 'app.write' // schemas, groups, filters, configurations and the rest inside an application
  | 'app.changes' // an application's change log
  | 'families.read'
  | 'families.write' // create event class families, upload their versions
  | 'sdk.generate' // generate and download an SDK profile's SDK
  | 'cluster' // the cluster page (GET /cluster on the admin port)
  | 'audit'; // the audit log (GET /audit): every entry for a Kaa admin, its tenant's for a tenant admin

const CAPABILITIES: Record<Role, Capability[]> = {
  KAA_ADMIN: ['tenants', 'users', 'cluster', 'audit'],
  TENANT_ADMIN: ['users', 'applications.read', 'applications.write', 'app.changes', 'families.read', 'families.write', 'sdk.generate', 'audit'],
  TENANT_DEVELOPER: ['applications.read', 'app.write', 'app.changes', 'families.read', 'families.write', 'sdk.generate'],
  TENANT_USER: ['applications.read', 'families.read'],
};

export function can(role: Role | undefined, capability: Capability): boolean {
  return !!role && (CAPABILITIES[role] ?? []).includes(capability);
}

/** The cluster page's path: `/cluster` itself is the node's JSON endpoint on the same port. */
export const CLUSTER_PAGE = '/cluster-status';

export interface NavItem {
  label: string;
  path: string;
}

export function navFor(role: Role | undefined): NavItem[] {
  const items: NavItem[] = [];
  if (can(role, 'tenants')) items.push({ label: 'Tenants', path: '/tenants' });
  if (can(role, 'users')) items.push({ label: 'Users', path: '/users' });
  if (can(role, 'applications.read')) items.push({ label: 'Applications', path: '/applications' });
  if (can(role, 'families.read')) items.push({ label: 'Event families', path: '/event-families' });
  if (can(role, 'cluster')) items.push({ label: 'Cluster', path: CLUSTER_PAGE });
  if (can(role, 'audit')) items.push({ label: 'Audit log', path: '/audit' });
  return items;
}

/** The page a role lands on after login. */
export function homeFor(role: Role | undefined): string {
  return navFor(role)[0]?.path ?? '/login';
}

/** The roles a user of `role` may create (POST /users). */
export function creatableRoles(role: Role | undefined): Role[] {
  switch (role) {
    case 'KAA_ADMIN':
      return ['TENANT_ADMIN', 'KAA_ADMIN'];
    case 'TENANT_ADMIN':
      return ['TENANT_ADMIN', 'TENANT_DEVELOPER', 'TENANT_USER'];
    default:
      return [];
  }
}

export const ROLE_LABELS: Record<Role, string> = {
  KAA_ADMIN: 'Kaa admin',
  TENANT_ADMIN: 'Tenant admin',
  TENANT_DEVELOPER: 'Developer',
  TENANT_USER: 'Tenant user',
};
