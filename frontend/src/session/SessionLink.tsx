import type { MouseEvent, ReactNode } from "react";
import { navigate, routePath } from "../ui/router";

/** A link to a session's chat: a real address (open in a new tab works), followed in the page. */
export function SessionLink({
  workspace,
  session,
  label,
  className,
  children,
}: {
  workspace: string;
  session: string;
  /** The accessible name, when the visible text says less (it should contain that text). */
  label?: string;
  className?: string;
  children: ReactNode;
}) {
  const route = { page: "session", workspace, session, tab: "chat" } as const;
  const open = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(route);
  };
  return (
    <a href={routePath(route)} className={className} aria-label={label} title={session} onClick={open}>
      {children}
    </a>
  );
}
