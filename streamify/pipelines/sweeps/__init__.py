"""What guards uploads and runs, inside each API process: the sweeper of overdue uploads and the
recovery of stalled videos (started again, or FAILED after too many runs)."""
