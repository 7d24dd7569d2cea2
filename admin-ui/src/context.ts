import { createContext, useContext } from 'react';
import type { Client, Session } from './api';

export interface Ctx {
  client: Client;
  session: Session;
}
export const AppContext = createContext<Ctx | null>(null);

export function useApp(): Ctx {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside a session');
  return ctx;
}
