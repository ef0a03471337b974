"""`ListenState`: a loop sleeps long only while its LISTEN connection is up."""

from counseling_shared.wakeups import ListenState


def test_a_loop_polls_short_until_its_listen_is_up_and_long_while_it_is() -> None:
    state = ListenState()
    assert state.poll(1.0, 10.0) == 1.0
    state.up = True
    assert state.poll(1.0, 10.0) == 10.0
    assert state.poll(1.0, 0.5) == 1.0  # never shorter than the short poll
    state.up = False
    assert state.poll(1.0, 10.0) == 1.0
