"""Which bundled scenario catches each bug of the catalogue: ``{bug name: (file under
scenarios/, scenario name)}``, one scenario per bug (the one its test runs; others may catch it
too, as ``tapps scenario strength`` reports)."""

from __future__ import annotations

RETENTION: dict[str, tuple[str, str]] = {
    "dry-run-deletes": (
        "cleanup-tools/usage.tapps.yaml",
        "a dry run deletes nothing while its plan shows what a cleanup would delete and keep",
    ),
    "one-age-for-everything": (
        "cleanup-tools/automated-script.tapps.yaml",
        "the cleanup keeps 40-day-old analytics that the sample script's single --days 30 "
        "cutoff would delete",
    ),
    "retention-at-or-over": (
        "worktrees/prune.tapps.yaml",
        "bulk cleanup removes failed and orphan worktrees only after 7 days of their newest file",
    ),
    "future-timestamp-deleted": (
        "cleanup-tools/safety.tapps.yaml",
        "a file with a modification time in the future is skipped, not deleted",
    ),
    "analytics-pattern-ignored": (
        "cleanup-tools/manual-commands.tapps.yaml",
        "analytics .jsonl files older than 90 days are removed, other files in the folder stay",
    ),
    "follows-symlink": (
        "cleanup-tools/safety.tapps.yaml",
        "a link in analytics history pointing outside the project never costs its target",
    ),
    "tombstone-anyone": (
        "cleanup-tools/tombstone-lookalike.tapps.yaml",
        "a user's file and folder named like a cleanup's tombstone are aged like any other item",
    ),
    "empty-folder-aged-as-ancient": (
        "worktrees/aged-by-newest-file.tapps.yaml",
        "an empty worktree of a failed workflow is aged by its folder's own time and kept",
    ),
    "config-typo-accepted": (
        "retention/config.tapps.yaml",
        "a misspelt category in the retention config is refused with its line and nothing is "
        "deleted",
    ),
    "retention-never-as-zero": (
        "retention/config.tapps.yaml",
        "an age of never in the retention config keeps application logs for good",
    ),
    "context7-cache-expires": (
        "retention/cache.tapps.yaml",
        "a Context7 cache entry never expires, even at 1000 days",
    ),
    "worktree-aged-by-folder-mtime": (
        "worktrees/aged-by-newest-file.tapps.yaml",
        "a failed workflow's worktree in an old folder with a fresh file is kept",
    ),
    "find-deletes-worktrees-folder": (
        "worktrees/aged-by-newest-file.tapps.yaml",
        "the worktrees folder itself is never removed, however old its own time",
    ),
    "completed-worktree-kept": (
        "worktrees/completed-at-once.tapps.yaml",
        "a completed workflow's worktree whose files were written this very second is removed "
        "at once",
    ),
    "running-worktree-removed": (
        "retention/worktrees.tapps.yaml",
        "the worktree of a stuck workflow is never removed automatically, even 1000 days old",
    ),
    "user-branch-deleted": (
        "worktrees/remove.tapps.yaml",
        "removing a worktree deletes its folder, its git registration and only its workflow branch",
    ),
    "cache-verify-skips-hashes": (
        "cache/corruption.tapps.yaml",
        "cache_verify names every kind of corrupted entry with its reason and passes a healthy one",
    ),
    "cache-recover-clears-all": (
        "cache/corruption.tapps.yaml",
        "cache_recover removes only the corrupted entries and keeps the healthy ones",
    ),
    "deletes-locked-file": (
        "cleanup-tools/safety.tapps.yaml",
        "a log a running program holds a lock on is kept however old, and the cleanup says why",
    ),
}

_LIVE_LOCK_REFUSED = (
    "retry-timeout/retry-specific-step.tapps.yaml",
    "retry-step refuses while a live process holds the workflow's lock, leaving the lock and "
    "the failed step as they were",
)
_SKIP = (
    "retry-timeout/skip-failed-step.tapps.yaml",
    "a skipped failed step is not run again and resume continues with the next step",
)
_TIMEOUTS = "retry-timeout/timeout-configuration.tapps.yaml"
_JITTER = "retry-timeout/jitter.tapps.yaml"
_BACKOFF = "retry-timeout/automatic-retries-backoff.tapps.yaml"
_LOCK_TTL = "stuck-failed/lock-heartbeat-ttl.tapps.yaml"
_NON_RECOVERABLE = "agent-failures/non-recoverable-errors.tapps.yaml"

#: Each bug's name, and the bundled scenario (file under scenarios/, name) that catches it.
WORKFLOW: dict[str, tuple[str, str]] = {
    "resume-from-first-step": (
        "retry-timeout/resume-workflow.tapps.yaml",
        "resume continues the same workflow from the failed step and never re-runs completed steps",
    ),
    "resume-under-new-id": (
        _NON_RECOVERABLE,
        "restarting from the beginning after a reset runs every step again under the same "
        "workflow id",
    ),
    "skipped-step-run-again": _SKIP,
    "hand-edits-reverted": _SKIP,
    "non-recoverable-retried": (
        _NON_RECOVERABLE,
        "a non-recoverable failure is tried exactly once despite max_attempts 3 and lands in "
        "the DLQ",
    ),
    "max-attempts-off-by-one": (
        _BACKOFF,
        "linear backoff waits initial_delay times the retry number",
    ),
    "no-jitter": (
        _JITTER,
        "full jitter draws each wait from zero to the backoff delay, so the waits fall short "
        "of the bare backoff",
    ),
    "equal-jitter-as-full": (
        _JITTER,
        "equal jitter waits at least half of each backoff delay and at most all of it",
    ),
    "decorrelated-jitter-uncapped": (
        _JITTER,
        "decorrelated jitter never waits less than initial_delay nor more than max_delay",
    ),
    "no-delay-cap": (
        "retry-timeout/cap-delays-at-max-delay.tapps.yaml",
        "exponential waits double until they reach max_delay and then stay there",
    ),
    "backoff-applied-twice": (
        _BACKOFF,
        "the runbook's critical-step that times out twice waits 5 s then 10 s and completes on "
        "the third attempt",
    ),
    "step-timeout-ignored": (
        "retry-timeout/per-step-timeout-in-metadata-with-unit.tapps.yaml",
        "a per-step timeout written with a unit in the step metadata holds on the first run and "
        "on resume",
    ),
    "workflow-timeout-cuts-nothing": (
        _TIMEOUTS,
        "a workflow timeout shorter than the step timeout cuts the running attempt at the "
        "workflow deadline",
    ),
    "retry-past-workflow-deadline": (
        _TIMEOUTS,
        "a workflow timeout stops retries that could not finish before it and records the step "
        "as timed out",
    ),
    "envelope-message-lost": (
        "agent-failures/non-recoverable-error-message-recorded.tapps.yaml",
        "the failing agent's own error message is recorded in the step's envelope",
    ),
    "retry-dry-run-writes": (
        "retry-timeout/retry-step-dry-run.tapps.yaml",
        "retry-step --dry-run shows the change it would make and writes nothing",
    ),
    "no-backup-before-edit": (
        "retry-timeout/retry-specific-step.tapps.yaml",
        "retry-step marks the failed step not completed, keeps its attempt history and backs "
        "the state up first",
    ),
    "edit-ignores-live-lock": _LIVE_LOCK_REFUSED,
    "edit-reports-no-op-changes": (
        "stuck-failed/reset-nothing-to-reset.tapps.yaml",
        "reset of a workflow already reset changes nothing and writes no backup",
    ),
    "dlq-retry-marks-non-recoverable": (
        "dlq/dlq-batch-processing.tapps.yaml",
        "a batch retry of one category marks its recoverable failures in every workflow and "
        "leaves the rest",
    ),
    "lock-stale-by-age": (
        _LOCK_TTL,
        "an executor that keeps beating keeps its lock however long ago it took it",
    ),
    "stale-lock-on-wall-clock": _LIVE_LOCK_REFUSED,
    "heartbeat-boundary": (
        _LOCK_TTL,
        "a hung executor's lock whose heartbeat is exactly its TTL old still blocks retry-step",
    ),
    "force-cleanup-removes-live-lock": (
        "stuck-failed/recovery.tapps.yaml",
        "force cleanup never removes a live executor's lock",
    ),
    "dead-holder-not-stuck": (
        "stuck-failed/symptoms.tapps.yaml",
        "a running workflow whose lock holder died is stuck with a stale lock",
    ),
    "logs-without-workflow-id": (
        "logging/standard-fields.tapps.yaml",
        "every record of a workflow run carries workflow_id, and step records name their step "
        "and agent",
    ),
    "trace-id-not-logged": (
        "logging/trace-id.tapps.yaml",
        "a run given a trace id logs it on every record, beside the workflow, step and agent",
    ),
    "envelope-without-trace-id": (
        "logging/trace-id.tapps.yaml",
        "a step timeout's envelope carries the run's trace id",
    ),
}


#: Every bug's catching scenario.
CATCHING = {**RETENTION, **WORKFLOW}
