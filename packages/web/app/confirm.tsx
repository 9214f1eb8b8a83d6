import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';

/**
 * An action that asks first: the button opens a modal dialog (the browser's own <dialog>, so focus is
 * trapped and Escape cancels) that names the consequence and takes a reason, recorded with the action.
 */
export function ConfirmAction(props: {
  label: string;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  reasonRequired?: boolean;
  onConfirm: (reason: string) => Promise<void>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) dialog.current?.showModal();
    else dialog.current?.close();
  }, [open]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm(reason);
      setOpen(false);
      setReason('');
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const id = props.label.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return (
    <>
      <button type="button" className={props.danger ? 'danger' : ''} onClick={() => setOpen(true)}>
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={`${id}-title`} onClose={() => setOpen(false)}>
        <form onSubmit={submit} className="confirm">
          <h2 id={`${id}-title`}>{props.title}</h2>
          <div>{props.children}</div>
          <label htmlFor={`${id}-reason`}>Reason (recorded in the audit chain)</label>
          <input
            id={`${id}-reason`}
            value={reason}
            required={props.reasonRequired ?? true}
            maxLength={500}
            onChange={(event) => setReason(event.target.value)}
          />
          {error !== undefined && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
            <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={busy}>
              {props.confirmLabel}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
