// Reading the audit log (GET /audit): the entry shape, the filters the page offers, and how an
// entry is shown.
import type { Role } from './api';

export interface AuditEntry {
  id: string;
  at_ms: number;
  user_id?: string | null;
  username?: string | null;
  role?: Role | null;
  tenant_id?: string | null;
  action: string;
  method: string;
  path: string;
  status: number;
  entity_id?: string | null;
  address?: string | null;
}

/** The actions the API records, in the order the filter offers them. */
export const AUDIT_ACTIONS: { value: string; label: string }[] = [
  { value: 'login', label: 'Login' },
  { value: 'login_failed', label: 'Failed login' },
  { value: 'logout', label: 'Logout' },
  { value: 'password_change', label: 'Password change' },
  { value: 'change', label: 'Change' },
];

export interface AuditFilter {
  action?: string | null;
  /** KAA_ADMIN only: one tenant's entries. */
  tenantId?: string | null;
  userId?: string | null;
}

/** The API path of one page of the audit log with `filter` (empty filters left out). */
export function auditPath(filter: AuditFilter, offset: number, limit: number): string {
  const query = new URLSearchParams();
  if (filter.tenantId) query.set('tenant_id', filter.tenantId);
  if (filter.userId) query.set('user_id', filter.userId);
  if (filter.action) query.set('action', filter.action);
  query.set('offset', String(offset));
  query.set('limit', String(limit));
  return `/audit?${query.toString()}`;
}

/** Who an entry names: the user, or that the login named no user. */
export function auditWho(entry: AuditEntry): string {
  if (entry.username) return entry.username;
  return entry.action === 'login_failed' ? 'unknown user name' : '—';
}

/** The label of an entry's action. */
export function auditActionLabel(action: string): string {
  return AUDIT_ACTIONS.find((a) => a.value === action)?.label ?? action;
}

/** Whether the request the entry records was refused or failed. */
export function auditFailed(entry: AuditEntry): boolean {
  return entry.status >= 400;
}
