/** A Workspace's or Session's phase as a coloured badge, with the Ready/Running condition's
 * message as its title. */
export function PhaseBadge({ phase, message }: { phase?: string; message?: string }) {
  const value = phase ?? "Pending";
  return (
    <span className={`badge phase-${value.toLowerCase()}`} title={message}>
      {value}
    </span>
  );
}
