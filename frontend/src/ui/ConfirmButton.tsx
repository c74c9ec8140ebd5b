import { useRef, useState, type ReactNode } from "react";

/** A button that asks first, in a modal dialog (focus stays in it; Escape cancels). */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  className = "danger",
}: {
  label: ReactNode;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  className?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const show = () => {
    setOpen(true);
    dialog.current?.showModal();
  };
  const close = () => {
    setOpen(false);
    dialog.current?.close();
  };
  return (
    <>
      <button type="button" className={className} onClick={show}>
        {label}
      </button>
      <dialog ref={dialog} onClose={() => setOpen(false)} aria-label={question}>
        {open && (
          <form method="dialog" className="confirm">
            <p>{question}</p>
            <div className="row end">
              <button type="button" className="ghost" onClick={close} autoFocus>
                Cancel
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  close();
                  onConfirm();
                }}
              >
                {confirmLabel}
              </button>
            </div>
          </form>
        )}
      </dialog>
    </>
  );
}
