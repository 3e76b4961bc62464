"""The stage event loop (ipc/loop.py): timers fire without busy waiting."""
import time

import zmq

from petcd.ipc.loop import Loop


def test_an_idle_loop_sleeps_until_its_timer_instead_of_spinning():
    ctx = zmq.Context()
    quiet = ctx.socket(zmq.PULL)   # a stage always polls its pipes; with none, poll never waits
    quiet.bind("inproc://quiet")
    loop = Loop()
    loop.on_readable(quiet, lambda: None)
    polls = []
    real_poll = loop.poller.poll

    def counting_poll(timeout):
        polls.append(timeout)
        return real_poll(timeout)

    loop.poller.poll = counting_poll
    fired = []

    def tick():
        fired.append(time.monotonic())
        if len(fired) == 10:
            loop.stop()

    loop.every(0.01, tick)
    try:
        loop.run()
    finally:
        quiet.close(0)
        ctx.term()
    # pyzmq truncates a float timeout to whole ms; a loop that passed 0.7 ms through polled
    # with 0 over and over in the last millisecond before each timer. Rounded up, a due
    # timer costs one or two polls (a wakeup a little early on a busy machine is fine).
    assert all(isinstance(t, int) for t in polls)
    assert len(polls) <= 3 * len(fired)
