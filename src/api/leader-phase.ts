// Where a process that campaigns for leadership stands, as its HTTP surface needs to know it:
// a standby (the leader is elsewhere, or unknown), or elected and still recovering its state.
// Once recovered it serves as the leader and no longer asks.

export type LeaderPhase =
  /** Another instance leads (host:port), or none is known (undefined). */
  | { phase: 'standby'; leader: () => string | undefined }
  /** This instance was elected and recovers its state. */
  | { phase: 'recovering' }
