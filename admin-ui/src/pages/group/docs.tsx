// What profile filters and configurations share: drafts that are edited, activated, deactivated.
import { Badge, Button, Group } from '@mantine/core';
import type { Doc } from '../../api';
import { useApp } from '../../context';
import { ConfirmButton } from '../../ui';

const STATUS_COLORS: Record<string, string> = { draft: 'yellow', active: 'green', deprecated: 'gray' };

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={STATUS_COLORS[status] ?? 'gray'} variant="light">
      {status}
    </Badge>
  );
}

/** A document's write actions: a draft is edited, activated or deleted; an active one deactivated. */
export function DocActions(props: {
  doc: Doc;
  path: string;
  noun: string;
  editing: boolean;
  onEdit: () => void;
  onChanged: () => void;
  onError: (e: unknown) => void;
  deactivateMessage: string;
}) {
  const { client } = useApp();
  const { doc, path, noun } = props;
  const activate = async () => {
    props.onError(undefined);
    try {
      await client.post(`${path}/activate`);
      props.onChanged();
    } catch (e) {
      props.onError(e);
    }
  };
  return (
    <Group gap="xs" wrap="nowrap">
      {doc.status === 'draft' && (
        <>
          <Button size="xs" variant="default" onClick={props.onEdit} disabled={props.editing} aria-label={`Edit ${noun} draft`}>
            {props.editing ? 'Editing' : 'Edit'}
          </Button>
          <Button size="xs" onClick={activate}>
            Activate
          </Button>
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete ${noun} draft`}
            title={`Delete ${noun} draft`}
            message={`Delete this ${noun} draft? This cannot be undone.`}
            onConfirm={() => client.del(path)}
            onDone={props.onChanged}
          />
        </>
      )}
      {doc.status === 'active' && (
        <ConfirmButton
          label="Deactivate"
          ariaLabel={`Deactivate ${noun}`}
          title={`Deactivate ${noun}`}
          message={props.deactivateMessage}
          confirmLabel="Deactivate"
          color="orange"
          onConfirm={() => client.post(`${path}/deactivate`)}
          onDone={props.onChanged}
        />
      )}
    </Group>
  );
}
