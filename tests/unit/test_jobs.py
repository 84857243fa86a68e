from __future__ import annotations

import pytest

from whisperq.jobs import ALLOWED_TRANSITIONS, InvalidTransition, JobParams, JobState, check_transition


@pytest.mark.parametrize("terminal", [JobState.DONE, JobState.ERROR, JobState.CANCELLED])
@pytest.mark.parametrize("target", list(JobState))
def test_terminal_states_are_final(terminal: JobState, target: JobState):
    with pytest.raises(InvalidTransition):
        check_transition(terminal, target)


def test_lifecycle_of_design_is_allowed():
    check_transition(JobState.QUEUED, JobState.PROCESSING)
    check_transition(JobState.PROCESSING, JobState.PROCESSING)  # a new attempt after a runner died
    check_transition(JobState.PROCESSING, JobState.DONE)
    check_transition(JobState.QUEUED, JobState.CANCELLED)


def test_queued_cannot_jump_to_done():
    with pytest.raises(InvalidTransition, match="queued to done"):
        check_transition(JobState.QUEUED, JobState.DONE)
    assert JobState.DONE not in ALLOWED_TRANSITIONS[JobState.QUEUED]


@pytest.mark.parametrize("speed", [0, -1, 0.2, 4.5])
def test_params_refuse_up_speed_out_of_range(speed: float):
    with pytest.raises(ValueError):
        JobParams(up_speed=speed)


def test_params_default_to_the_seeds_defaults():
    params = JobParams()
    assert (params.model_name, params.up_speed, params.upgrade_transcribation) == ("base", 1.0, False)


def test_a_finished_refinement_can_only_be_requested_again():
    from whisperq.jobs import RefineStatus, check_refine_transition

    check_refine_transition(None, RefineStatus.PENDING)
    check_refine_transition(RefineStatus.PENDING, RefineStatus.RUNNING)
    check_refine_transition(RefineStatus.RUNNING, RefineStatus.TIMEOUT)
    check_refine_transition(RefineStatus.TIMEOUT, RefineStatus.PENDING)
    with pytest.raises(ValueError, match="ok to running"):
        check_refine_transition(RefineStatus.OK, RefineStatus.RUNNING)
    with pytest.raises(ValueError, match="not requested to ok"):
        check_refine_transition(None, RefineStatus.OK)
