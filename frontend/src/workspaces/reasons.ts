/** Whether a session's Ready message is shown beside it, not only as the badge's title: when
 * it failed, and while the operator cannot reach its runtime (the Kubernetes API, Podman), so
 * a user waiting for a start sees why nothing happens. */
export function shownReason(phase?: string, reason?: string): boolean {
  return phase === "Failed" || reason === "RuntimeUnreachable";
}
