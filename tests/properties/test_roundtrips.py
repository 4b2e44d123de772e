"""Round trips of error envelopes and workflow states: through every JSON form the core writes,
and through the state store, in the runbook layout and in the tapps-agents 3.7 layout.

The core writes only the runbook form (the real package's files are read, never written:
docs/state-formats.md); in the 3.7 layout, which has no ``current_state.json``, the store
writes it to ``workflow-state/history/<workflow_id>.json``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import (
    RUNBOOK,
    TAPPS_AGENTS_3_7,
    ErrorEnvelope,
    Layout,
    LayoutProfile,
    StateFileError,
    StateStore,
    WorkflowState,
)
from pytest_tapps.core._store import dump_json, read_json_object
from pytest_tapps.harness import project
from pytest_tapps.strategies import error_envelopes, workflow_states
from tests.properties._support import without_fsync


def json_forms(model: ErrorEnvelope | WorkflowState) -> list[bytes | str]:
    """``model`` as each writer writes it: pydantic's JSON (compact and indented), the project's
    file form (``dump_json``: indented, UTF-8, not ASCII-escaped) and ASCII-escaped ``json``."""
    data: dict[str, Any] = model.model_dump(mode="json")
    return [
        model.model_dump_json(),
        model.model_dump_json(indent=2),
        dump_json(data),
        json.dumps(data),
    ]


@given(error_envelopes())
def test_error_envelopes_survive_every_json_form_unchanged(envelope: ErrorEnvelope) -> None:
    """Envelopes read back equal from every JSON form the core writes, and re-dump identically."""
    for text in json_forms(envelope):
        assert ErrorEnvelope.model_validate_json(text) == envelope
        assert ErrorEnvelope.model_validate(json.loads(text)) == envelope
    again = ErrorEnvelope.model_validate_json(envelope.model_dump_json())
    assert again.model_dump_json() == envelope.model_dump_json()


@given(workflow_states())
def test_workflow_states_survive_every_json_form_unchanged(state: WorkflowState) -> None:
    """States read back equal from every JSON form the core writes, and re-dump identically."""
    for text in json_forms(state):
        assert WorkflowState.model_validate_json(text) == state
        assert WorkflowState.model_validate(json.loads(text)) == state
    assert WorkflowState.model_validate(state.to_json_dict()) == state
    again = WorkflowState.model_validate_json(state.model_dump_json())
    assert again.model_dump_json() == state.model_dump_json()


def distinct_states() -> st.SearchStrategy[list[WorkflowState]]:
    return st.lists(workflow_states(), min_size=1, max_size=3, unique_by=lambda s: s.workflow_id)


@given(distinct_states(), st.sampled_from([RUNBOOK, TAPPS_AGENTS_3_7]))
def test_the_readers_accept_every_state_the_store_writes(
    states: list[WorkflowState], profile: LayoutProfile
) -> None:
    """Every state StateStore.save writes reads back equal by every reader, in both layouts."""
    with without_fsync(), project() as built:
        store = StateStore(Layout(built.root, profile), clock=built.clock)
        paths = {state.workflow_id: store.save(state) for state in states}
        for state in states:
            path = paths[state.workflow_id]
            assert store.read(path) == state
            assert read_json_object(path) == state.to_json_dict()
            assert store.locate(state.workflow_id) == path
            assert store.load(state.workflow_id) == state
        listed: dict[str, WorkflowState] = {}
        for path, found in store.iter_states():
            assert not isinstance(found, StateFileError), found
            assert found.workflow_id not in listed
            assert paths[found.workflow_id] == path
            listed[found.workflow_id] = found
        assert listed == {state.workflow_id: state for state in states}
        if profile is RUNBOOK:  # current_state.json: the first workflow saved
            assert store.load() == states[0]


@given(workflow_states(), st.sampled_from([RUNBOOK, TAPPS_AGENTS_3_7]))
def test_saving_a_state_read_back_rewrites_the_same_bytes(
    state: WorkflowState, profile: LayoutProfile
) -> None:
    """Saving a state read back rewrites its file byte for byte; its backup holds those bytes."""
    with without_fsync(), project() as built:
        store = StateStore(Layout(built.root, profile), clock=built.clock)
        path = store.save(state)
        written = path.read_bytes()
        backup = store.backup(path)
        assert store.save(store.read(path), path) == path
        assert path.read_bytes() == written
        assert backup.read_bytes() == written
        assert store.read(backup) == state
