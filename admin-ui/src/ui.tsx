// Small shared pieces: loading hook, error and empty states, confirmation, links, schema versions,
// saving a downloaded file.
import { forwardRef, useCallback, useEffect, useState, type ReactNode } from 'react';
import {
  Alert, Anchor, Button, Code, CopyButton, Group, Loader, Modal, Select, Stack, Text, Textarea, type TextareaProps,
} from '@mantine/core';
import { errorText, type Schema } from './api';
import { navigate } from './router';

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  useEffect(() => {
    let live = true;
    setLoading(true);
    run().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [run, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/**
 * A write action's state: `run(fn)` clears the last error, marks the action busy, and keeps the
 * error `fn` throws (shown at its field or above the form). Resolves to whether `fn` succeeded.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(undefined), []);
  return { busy, error, run, clear, setError };
}

/** A monospace, autosizing text area for JSON documents and filter expressions. */
export const CodeArea = forwardRef<HTMLTextAreaElement, TextareaProps>(function CodeArea(props, ref) {
  return (
    <Textarea
      ref={ref}
      autosize
      minRows={4}
      maxRows={24}
      spellCheck={false}
      autoCapitalize="off"
      autoComplete="off"
      styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
      {...props}
    />
  );
});

export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <Alert color="red" title={title ?? 'Error'} role="alert" variant="light">
      {errorText(error)}
    </Alert>
  );
}

export function Loading() {
  return (
    <Group justify="center" p="md">
      <Loader size="sm" aria-label="Loading" />
    </Group>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text c="dimmed" ta="center" py="lg" data-testid="empty">
      {children}
    </Text>
  );
}

/** A link that navigates inside the app (and still opens in a new tab on ctrl/middle click). */
export function Link({ to, children }: { to: string; children: ReactNode }) {
  return (
    <Anchor
      href={to}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </Anchor>
  );
}

/** A button that asks before doing something destructive. */
export function ConfirmButton(props: {
  label: string;
  title: string;
  message: ReactNode;
  confirmLabel?: string;
  onConfirm: () => Promise<unknown>;
  onDone?: () => void;
  ariaLabel?: string;
  color?: string;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
      setOpen(false);
      props.onDone?.();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button size="xs" color={props.color ?? 'red'} variant="light" onClick={() => setOpen(true)} aria-label={props.ariaLabel}>
        {props.label}
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={props.title} centered>
        <Stack>
          <Text>{props.message}</Text>
          <ErrorAlert error={error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button color={props.color ?? 'red'} loading={busy} onClick={confirm}>
              {props.confirmLabel ?? 'Delete'}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

/**
 * Hands `blob` to the browser as a download named `fileName`. Returns its object URL, for a
 * "save again" link; revoke it (URL.revokeObjectURL) once it is no longer shown.
 */
export function saveFile(blob: Blob, fileName: string): string {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  return url;
}

export function formatTime(ms?: number | null): string {
  if (!ms) return '—';
  return new Date(ms).toLocaleString();
}

/** A schema version for display: `null`/0 as "—" (not pinned, or any). */
export function versionText(v?: number | null, none = '—'): string {
  return v ? `v${v}` : none;
}

/** A token (application, SDK, verifier) with a copy button; `display` shows a shortened form. */
export function Token({ value, label, display }: { value: string; label: string; display?: string }) {
  return (
    <Group gap={4} wrap="nowrap">
      <Code title={display ? value : undefined} style={{ wordBreak: 'break-all' }}>
        {display ?? value}
      </Code>
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <Button size="compact-xs" variant="subtle" onClick={copy} aria-label={`Copy ${label}`}>
            {copied ? 'Copied' : 'Copy'}
          </Button>
        )}
      </CopyButton>
    </Group>
  );
}

/** Previous/next for an API list read a page at a time (`?offset=&limit=`, `next_offset`). */
export function Pager(props: {
  offset: number;
  /** Items on this page. */
  shown: number;
  next: number | null;
  pageSize: number;
  onChange: (offset: number) => void;
  noun: string;
}) {
  const { offset, shown, next, pageSize } = props;
  if (offset === 0 && next === null) return null;
  return (
    <Group justify="space-between" wrap="wrap" aria-label={`Pages of ${props.noun}`} role="navigation">
      <Text size="sm" c="dimmed">
        {shown ? `${props.noun} ${offset + 1}–${offset + shown}` : `no ${props.noun} from ${offset + 1} on`}
      </Text>
      <Group gap="xs">
        <Button size="xs" variant="default" disabled={offset === 0} onClick={() => props.onChange(Math.max(0, offset - pageSize))}>
          Previous page
        </Button>
        <Button size="xs" variant="default" disabled={next === null} onClick={() => next !== null && props.onChange(next)}>
          Next page
        </Button>
      </Group>
    </Group>
  );
}

/** A choice among an application's schema versions of one kind ("v2 — name"); the value is the
 *  version number as text. */
export function SchemaVersionSelect(props: {
  label: string;
  schemas: Schema[];
  value: string;
  onChange: (version: string) => void;
  error?: string;
  disabled?: boolean;
  description?: string;
}) {
  return (
    <Select
      label={props.label}
      data={props.schemas.map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` }))}
      value={props.value}
      onChange={(v) => v && props.onChange(v)}
      error={props.error}
      allowDeselect={false}
      disabled={props.disabled}
      description={props.description}
      maw={320}
    />
  );
}
