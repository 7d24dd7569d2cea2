// Reading an application's change log, which the API serves in pages of sequence numbers.
import { enc, type Change, type Client } from './api';

/** The API answers at most this many changes per request. */
export const CHANGES_PAGE = 1000;

/** Every change of the application after `since`, oldest first, read in pages. */
export async function loadChanges(client: Client, appId: string, since = 0, max = 10_000): Promise<Change[]> {
  const all: Change[] = [];
  let from = since;
  while (all.length < max) {
    const page = await client.get<Change[]>(`/applications/${enc(appId)}/changes?since=${from}&limit=${CHANGES_PAGE}`);
    all.push(...page);
    if (page.length < CHANGES_PAGE) break;
    from = page[page.length - 1].seq;
  }
  return all;
}
